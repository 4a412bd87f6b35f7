/*-------------------------------------------------------------------------
 *
 * channels.c
 *	  SQL entry points that create, drop and change channels:
 *	  create_channel, drop_channel, update_channel_config, add_consenter,
 *	  remove_consenter, transfer_leadership.
 *
 * create_channel and drop_channel work in the caller's transaction (all or
 * nothing) and make the worker reload at commit.  The other entry points
 * go through the Raft log: they check what the backend can check, then
 * hand an admin request to the worker and wait for the configuration
 * block it writes (see admin_call.c).
 *
 * Every check runs before anything changes, and each bad input gets the
 * SQLSTATE that README.md documents.
 *
 * src/sql/channels.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "common/blocks.h"
#include "common/channel_settings.h"
#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/names.h"
#include "raft/raft.h"
#include "sql/admin_call.h"
#include "sql/backend.h"
#include "sql/catalog.h"
#include "sql/validate.h"
#include "store/genesis.h"

PG_FUNCTION_INFO_V1(ordering_create_channel);
PG_FUNCTION_INFO_V1(ordering_drop_channel);
PG_FUNCTION_INFO_V1(ordering_update_channel_config);
PG_FUNCTION_INFO_V1(ordering_add_consenter);
PG_FUNCTION_INFO_V1(ordering_remove_consenter);
PG_FUNCTION_INFO_V1(ordering_transfer_leadership);

static void
check_consenters_include_this_node(const char *channel,
								   const OrderingConsenter *consenters,
								   int n_consenters)
{
	for (int i = 0; i < n_consenters; i++)
	{
		if (strcmp(consenters[i].node, ordering_node_name) == 0)
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("consenters of channel \"%s\" must include this node \"%s\"",
					channel, ordering_node_name),
			 errhint(
				 "A channel is created on one of its consenters; this node's name is ordering.node_name.")));
}

static void
check_channel_is_new(const char *channel)
{
	if (OrderingChannelExists(channel))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("channel \"%s\" already exists", channel)));
	if (OrderingChannelCount() >= ordering_max_channels)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many channels"),
				 errdetail("This node serves at most %d channels (ordering.max_channels).",
						   ordering_max_channels)));
}

/* The genesis configuration document: every consenter a voter. */
static char *
genesis_document(const char *channel, Jsonb *settings,
				 const OrderingConsenter *consenters, int n_consenters)
{
	const char **nodes = palloc(sizeof(char *) * n_consenters);
	const char **conninfos = palloc(sizeof(char *) * n_consenters);
	uint64 *raft_ids = palloc(sizeof(uint64) * n_consenters);
	bool *is_learner = palloc(sizeof(bool) * n_consenters);

	for (int i = 0; i < n_consenters; i++)
	{
		nodes[i] = consenters[i].node;
		conninfos[i] = consenters[i].conninfo;
		raft_ids[i] = consenters[i].raft_id;
		is_learner[i] = false;
	}
	return OrderingConfigDocument(channel,
								  OrderingConsentersDocument(n_consenters, nodes,
															 raft_ids, conninfos,
															 is_learner),
								  settings, "genesis");
}

/*
 * ordering.create_channel(channel text, consenters jsonb, config jsonb)
 * RETURNS text
 */
Datum
ordering_create_channel(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	OrderingConsenter *consenters;
	int n_consenters;
	OrderingSettings settings;
	Jsonb *settings_jsonb;

	OrderingRequireArg(fcinfo, 1, "consenters");
	OrderingRequireArg(fcinfo, 2, "config");
	OrderingCheckChannelName(channel);
	consenters = OrderingParseConsenters(PG_GETARG_JSONB_P(1), &n_consenters);
	check_consenters_include_this_node(channel, consenters, n_consenters);
	OrderingSettingsDefaults(&settings);
	OrderingSettingsApply(&settings, PG_GETARG_JSONB_P(2));
	settings_jsonb = OrderingSettingsToJsonb(&settings);
	OrderingRequireSharedMemory();
	OrderingRequireWorkerDatabase();

	SPI_connect();
	check_channel_is_new(channel);
	/* The code a joining node runs too (store/genesis.c): one block 0. */
	StoreInstallGenesis(channel,
						genesis_document(channel, settings_jsonb, consenters,
										 n_consenters));
	SPI_finish();

	OrderingReloadChannelsAtCommit();
	PG_RETURN_TEXT_P(cstring_to_text(channel));
}

/*
 * ordering.drop_channel(channel text) RETURNS void: removes every row of
 * the channel on this node; the name can be used again.
 */
Datum
ordering_drop_channel(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	Oid types[1] = { TEXTOID };
	Datum values[1] = { CStringGetTextDatum(channel) };

	SPI_connect();
	OrderingSpiExecute("DELETE FROM ordering.channels WHERE channel = $1", 1,
					   types, values, SPI_OK_DELETE);
	if (SPI_processed == 0)
		OrderingReportUnknownChannel(channel);
	SPI_finish();

	OrderingReloadChannelsAtCommit();
	PG_RETURN_VOID();
}

/*
 * ordering.update_channel_config(channel text, config jsonb) RETURNS bigint:
 * the given settings overlay the current ones; the worker orders the full
 * new settings and returns the configuration block.
 */
Datum
ordering_update_channel_config(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	OrderingSettings settings;
	char *settings_text;

	OrderingRequireArg(fcinfo, 1, "config");
	SPI_connect();
	OrderingChannelSettings(channel, &settings);
	SPI_finish();

	OrderingSettingsApply(&settings, PG_GETARG_JSONB_P(1));
	settings_text =
		JsonbToCString(NULL, &OrderingSettingsToJsonb(&settings)->root, 0);
	if (strlen(settings_text) >= ORDERING_ADMIN_ARG_MAX)
		elog(ERROR, "settings document of %zu bytes is too long",
			 strlen(settings_text));

	PG_RETURN_INT64(OrderingAdminCall(ORDERING_ADMIN_UPDATE_CONFIG, channel,
									  "", settings_text));
}

/*
 * ordering.add_consenter(channel text, node text, conninfo text)
 * RETURNS bigint
 */
Datum
ordering_add_consenter(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *node = OrderingTextArg(fcinfo, 1, "node");
	char *conninfo = OrderingTextArg(fcinfo, 2, "conninfo");
	bool is_learner;
	int n_consenters;

	OrderingCheckNodeName(node);
	OrderingCheckConninfo(node, conninfo);

	SPI_connect();
	if (!OrderingChannelExists(channel))
		OrderingReportUnknownChannel(channel);
	if (OrderingFindConsenter(channel, node, &is_learner))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node \"%s\" is already a consenter of channel \"%s\"",
						node, channel)));
	n_consenters = OrderingConsenterCount(channel, false);
	SPI_finish();

	if (n_consenters >= RAFT_MAX_MEMBERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("channel \"%s\" already has the most consenters allowed (%d)",
						channel, RAFT_MAX_MEMBERS)));

	PG_RETURN_INT64(OrderingAdminCall(ORDERING_ADMIN_ADD_CONSENTER, channel,
									  node, conninfo));
}

/*
 * Looks the consenter up (SPI connected): errors 42704 when the channel or
 * the node is unknown.  Returns whether it is a learner.
 */
static bool
require_consenter(const char *channel, const char *node)
{
	bool is_learner = false;

	if (!OrderingChannelExists(channel))
		OrderingReportUnknownChannel(channel);
	if (!OrderingFindConsenter(channel, node, &is_learner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("node \"%s\" is not a consenter of channel \"%s\"",
						node, channel)));
	return is_learner;
}

/* ordering.remove_consenter(channel text, node text) RETURNS bigint */
Datum
ordering_remove_consenter(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *node = OrderingTextArg(fcinfo, 1, "node");
	bool is_learner;
	int n_voters;

	SPI_connect();
	is_learner = require_consenter(channel, node);
	n_voters = OrderingConsenterCount(channel, true);
	SPI_finish();

	if (!is_learner && n_voters <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot remove \"%s\", the last voting consenter of channel \"%s\"",
						node, channel),
				 errhint(
					 "Use ordering.drop_channel() to remove the channel from this node.")));

	PG_RETURN_INT64(
		OrderingAdminCall(ORDERING_ADMIN_REMOVE_CONSENTER, channel, node, ""));
}

/* ordering.transfer_leadership(channel text, node text) RETURNS void */
Datum
ordering_transfer_leadership(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *node = OrderingTextArg(fcinfo, 1, "node");
	bool is_learner;

	SPI_connect();
	is_learner = require_consenter(channel, node);
	SPI_finish();

	if (is_learner)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is a learner of channel \"%s\" and cannot lead it",
						node, channel)));

	(void) OrderingAdminCall(ORDERING_ADMIN_TRANSFER_LEADER, channel, node, "");
	PG_RETURN_VOID();
}
