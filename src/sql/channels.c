/*-------------------------------------------------------------------------
 *
 * channels.c
 *	  SQL entry points that create, drop and change channels:
 *	  create_channel, drop_channel, update_channel_config, add_consenter,
 *	  remove_consenter, update_consenter, transfer_leadership.
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
#include "common/limits.h"
#include "common/names.h"
#include "raft/raft.h"
#include "store/spi.h"
#include "sql/admin_call.h"
#include "sql/backend.h"
#include "sql/catalog.h"
#include "sql/channels.h"
#include "sql/validate.h"
#include "store/genesis.h"

PG_FUNCTION_INFO_V1(ordering_create_channel);
PG_FUNCTION_INFO_V1(ordering_drop_channel);
PG_FUNCTION_INFO_V1(ordering_update_channel_config);
PG_FUNCTION_INFO_V1(ordering_add_consenter);
PG_FUNCTION_INFO_V1(ordering_remove_consenter);
PG_FUNCTION_INFO_V1(ordering_update_consenter);
PG_FUNCTION_INFO_V1(ordering_transfer_leadership);

static void
check_consenters_include_this_node(const char *channel,
								   const OrderingConsenter *consenters,
								   int n_consenters)
{
	OrderingRequireNodeName();
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
	int spi;
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
	OrderingRequireReadWrite("create_channel");

	spi = StoreSpiConnect();
	check_channel_is_new(channel);
	/* The code a joining node runs too (store/genesis.c): one block 0. */
	StoreInstallGenesis(channel,
						genesis_document(channel, settings_jsonb, consenters,
										 n_consenters),
						NULL);
	StoreSpiFinish(spi);

	OrderingReloadChannelsAtCommit();
	PG_RETURN_TEXT_P(cstring_to_text(channel));
}

/* The tables that hold a channel's rows, besides ordering.channels. */
static const char *const channel_tables[] = {
	"transactions", "blocks",	  "log",		"catchups",
	"raft_peers",	"raft_state", "consenters",
};

/*
 * ordering.drop_channel(channel text) RETURNS void: removes every row of
 * the channel on this node; the name can be used again.
 */
Datum
ordering_drop_channel(PG_FUNCTION_ARGS)
{
	int spi;
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	Oid catchup_types[3] = { TEXTOID, INT4OID, INT4OID };
	Datum catchup_values[3];

	OrderingRequireReadWrite("drop_channel");
	spi = StoreSpiConnect();
	/*
	 * A catch-up in its background worker holds the channels row (by the
	 * blocks it inserted) until its transaction ends, up to an hour later:
	 * end it first (it holds the channel's catch-up lock; it exits at once,
	 * and the pulled blocks go with its transaction).  Only a superuser may
	 * signal it, and the function runs as its owner: otherwise the delete
	 * below waits for it as before.
	 */
	catchup_values[0] = CStringGetTextDatum(channel);
	catchup_values[1] = Int32GetDatum(ORDERING_CATCHUP_LOCK_CLASS);
	catchup_values[2] = Int32GetDatum(ORDERING_CATCHUP_LOCK_KIND);
	StoreQuery("SELECT pg_catalog.pg_terminate_backend(l.pid, 10000)"
			   " FROM pg_catalog.pg_locks l"
			   " JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
			   " WHERE a.backend_type = 'ordering catch-up'"
			   " AND l.locktype = 'advisory' AND l.granted"
			   " AND l.database = (SELECT oid FROM pg_catalog.pg_database"
			   "  WHERE datname = pg_catalog.current_database())"
			   " AND l.classid = $2::pg_catalog.oid AND l.objsubid = $3"
			   " AND l.objid = pg_catalog.hashtext($1)::pg_catalog.oid"
			   " AND (SELECT rolsuper FROM pg_catalog.pg_roles"
			   "  WHERE rolname = CURRENT_USER)",
			   3, catchup_types, catchup_values, SPI_OK_SELECT);
	/*
	 * The channels row first: it waits for the worker's ready transaction
	 * (which holds the row FOR KEY SHARE) and keeps the next one out, so
	 * the transactions deleted after it are all there are.
	 */
	StoreQueryChannel("DELETE FROM ordering.channels WHERE channel = $1",
					  channel, SPI_OK_DELETE);
	if (SPI_processed == 0)
		OrderingReportUnknownChannel(channel);

	/*
	 * Every other table by name, not by the cascades: a session with
	 * session_replication_role = replica fires no foreign-key trigger, and
	 * would leave them all behind.  transactions has no foreign key at
	 * all (see the schema).
	 */
	for (int i = 0; i < lengthof(channel_tables); i++)
		StoreQueryChannel(psprintf("DELETE FROM ordering.%s WHERE channel = $1",
								   channel_tables[i]),
						  channel, SPI_OK_DELETE);
	StoreSpiFinish(spi);

	OrderingReloadChannelsAtCommit();
	PG_RETURN_VOID();
}

/*
 * The admin requests: what the backend checks, then the request handed to
 * the worker (or, on a follower and when may_route, relayed to the
 * leader).  The SQL functions below and ordering.relay_admin() on a
 * leader (sql/peer.c) run the same code.
 */

/* The given settings overlay the current ones; the full result is ordered. */
static int64
admin_update_config(const char *channel, Jsonb *config, bool may_route)
{
	int spi;
	OrderingSettings settings;
	char *settings_text;

	spi = StoreSpiConnect();
	OrderingChannelSettings(channel, &settings);
	StoreSpiFinish(spi);

	OrderingSettingsApply(&settings, config);
	settings_text =
		JsonbToCString(NULL, &OrderingSettingsToJsonb(&settings)->root, 0);
	if (strlen(settings_text) >= ORDERING_ADMIN_ARG_MAX)
		elog(ERROR, "settings document of %zu bytes is too long",
			 strlen(settings_text));
	return OrderingAdminCall(ORDERING_ADMIN_UPDATE_CONFIG, channel, "",
							 settings_text, may_route);
}

static int64
admin_add_consenter(const char *channel, const char *node,
					const char *conninfo, bool may_route)
{
	int spi;
	bool is_learner;
	int n_consenters;

	OrderingCheckNodeName(node);
	OrderingCheckConninfo(node, conninfo);

	spi = StoreSpiConnect();
	if (!OrderingChannelExists(channel))
		OrderingReportUnknownChannel(channel);
	if (OrderingFindConsenter(channel, node, &is_learner))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node \"%s\" is already a consenter of channel \"%s\"",
						node, channel)));
	n_consenters = OrderingConsenterCount(channel, false);
	StoreSpiFinish(spi);

	if (n_consenters >= RAFT_MAX_MEMBERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("channel \"%s\" already has the most consenters allowed (%d)",
						channel, RAFT_MAX_MEMBERS)));
	return OrderingAdminCall(ORDERING_ADMIN_ADD_CONSENTER, channel, node,
							 conninfo, may_route);
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

static int64
admin_remove_consenter(const char *channel, const char *node, bool may_route)
{
	int spi;
	bool is_learner;
	int n_voters;

	spi = StoreSpiConnect();
	is_learner = require_consenter(channel, node);
	n_voters = OrderingConsenterCount(channel, true);
	StoreSpiFinish(spi);

	if (!is_learner && n_voters <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot remove \"%s\", the last voting consenter of channel \"%s\"",
						node, channel),
				 errhint(
					 "Use ordering.drop_channel() to remove the channel from this node.")));
	return OrderingAdminCall(ORDERING_ADMIN_REMOVE_CONSENTER, channel, node,
							 "", may_route);
}

/*
 * A consenter's new conninfo keeps the role it names: peers tell the nodes
 * apart by the role they log in as (store/genesis.c), and a node's role is
 * one per server.  A node that should log in as another role is removed
 * and added again.
 */
static int64
admin_update_consenter(const char *channel, const char *node,
					   const char *conninfo, bool may_route)
{
	int spi;
	char *current;
	char *old_role;
	char *new_role;

	OrderingCheckNodeName(node);
	OrderingCheckConninfo(node, conninfo);

	spi = StoreSpiConnect();
	(void) require_consenter(channel, node);
	StoreSpiFinish(spi);

	current = OrderingConsenterConninfo(channel, node);
	old_role = OrderingConninfoUser(current);
	new_role = OrderingConninfoUser(conninfo);
	if (old_role == NULL || new_role == NULL || strcmp(old_role, new_role) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the new conninfo of node \"%s\" must name the role it logs in as, \"%s\"",
						node, old_role ? old_role : ""),
				 errdetail("It names %s%s%s.", new_role ? "\"" : "no role",
						   new_role ? new_role : "", new_role ? "\"" : ""),
				 errhint(
					 "To change the role of a node, remove it and add it again.")));
	return OrderingAdminCall(ORDERING_ADMIN_UPDATE_CONSENTER, channel, node,
							 conninfo, may_route);
}

static void
admin_transfer_leadership(const char *channel, const char *node, bool may_route)
{
	int spi;
	bool is_learner;

	spi = StoreSpiConnect();
	is_learner = require_consenter(channel, node);
	StoreSpiFinish(spi);

	if (is_learner)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is a learner of channel \"%s\" and cannot lead it",
						node, channel)));
	(void) OrderingAdminCall(ORDERING_ADMIN_TRANSFER_LEADER, channel, node, "",
							 may_route);
}

int64
OrderingRunAdminRequest(OrderingAdminKind kind, const char *channel,
						const char *node, const char *arg)
{
	switch (kind)
	{
		case ORDERING_ADMIN_UPDATE_CONFIG:
			return admin_update_config(channel,
									   DatumGetJsonbP(
										   DirectFunctionCall1(jsonb_in,
															   CStringGetDatum(
																   arg))),
									   false);
		case ORDERING_ADMIN_ADD_CONSENTER:
			return admin_add_consenter(channel, node, arg, false);
		case ORDERING_ADMIN_REMOVE_CONSENTER:
			return admin_remove_consenter(channel, node, false);
		case ORDERING_ADMIN_TRANSFER_LEADER:
			admin_transfer_leadership(channel, node, false);
			return -1;
		case ORDERING_ADMIN_UPDATE_CONSENTER:
			return admin_update_consenter(channel, node, arg, false);
	}
	elog(ERROR, "unknown admin request kind %d", (int) kind);
	return -1; /* keep compiler quiet */
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

	OrderingRequireArg(fcinfo, 1, "config");
	PG_RETURN_INT64(admin_update_config(channel, PG_GETARG_JSONB_P(1), true));
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

	PG_RETURN_INT64(admin_add_consenter(channel, node, conninfo, true));
}

/*
 * ordering.update_consenter(channel text, node text, conninfo text)
 * RETURNS bigint: a consenter's new address, ordered as a configuration
 * block; its raft id and role stay.
 */
Datum
ordering_update_consenter(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *node = OrderingTextArg(fcinfo, 1, "node");
	char *conninfo = OrderingTextArg(fcinfo, 2, "conninfo");

	PG_RETURN_INT64(admin_update_consenter(channel, node, conninfo, true));
}

/* ordering.remove_consenter(channel text, node text) RETURNS bigint */
Datum
ordering_remove_consenter(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *node = OrderingTextArg(fcinfo, 1, "node");

	PG_RETURN_INT64(admin_remove_consenter(channel, node, true));
}

/* ordering.transfer_leadership(channel text, node text) RETURNS void */
Datum
ordering_transfer_leadership(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *node = OrderingTextArg(fcinfo, 1, "node");

	admin_transfer_leadership(channel, node, true);
	PG_RETURN_VOID();
}
