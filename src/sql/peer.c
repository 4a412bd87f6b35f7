/*-------------------------------------------------------------------------
 *
 * peer.c
 *	  What one node may ask of another besides deliver(), with no privilege
 *	  beyond ordering_peer: ordering.peer_blocks() and
 *	  ordering.peer_block_hash() (catch-up and eviction detection read the
 *	  chain through them, never the tables), ordering.peer_term() (whether
 *	  a channel had an election here, for join_channel),
 *	  ordering.relay_admin() (an admin call its own admins made, carried
 *	  out here on the leader), and ordering.transport_stats().
 *
 * The peer functions are SECURITY DEFINER with a pinned search_path and
 * EXECUTE for ordering_peer only.  Each checks who calls: the session user
 * (the role PostgreSQL authenticated, whatever SET ROLE says) must be the
 * role of a member of the channel, the user of that member's conninfo;
 * relay_admin also requires it to be the role of the node it relays for,
 * a current member.  Otherwise 42501.  A former member may still read the
 * chain up to the configuration block that removed it, and no further:
 * that is how a node removed while it was down learns it (eviction
 * detection), without reading what was ordered after it left.
 *
 * src/sql/peer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/limits.h"
#include "common/node_roles.h"
#include "common/shmem.h"
#include "sql/backend.h"
#include "sql/catalog.h"
#include "sql/channels.h"
#include "sql/leader_call.h"
#include "sql/validate.h"
#include "store/spi.h"

PG_FUNCTION_INFO_V1(ordering_peer_blocks);
PG_FUNCTION_INFO_V1(ordering_peer_block_hash);
PG_FUNCTION_INFO_V1(ordering_peer_term);
PG_FUNCTION_INFO_V1(ordering_relay_admin);
PG_FUNCTION_INFO_V1(ordering_transport_stats);

#define PEER_BLOCKS_COLUMNS 11
#define TRANSPORT_STATS_COLUMNS 3

/* The session user's name: the role PostgreSQL authenticated. */
static char *
peer_session_role(void)
{
	return GetUserNameFromId(GetSessionUserId(), false);
}

/*
 * The member of channel whose role the session user is, or NULL; only_node
 * (when not NULL) must be that member.  SPI connected.
 */
static char *
peer_member_of_session(const char *channel, const char *only_node)
{
	const char *role = peer_session_role();

	StoreQueryChannel("SELECT node, conninfo FROM ordering.consenters"
					  " WHERE channel = $1 ORDER BY raft_id",
					  channel, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *node =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *user = OrderingConninfoUser(
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));

		if (only_node != NULL && strcmp(node, only_node) != 0)
			continue;
		if (user != NULL && strcmp(user, role) == 0)
			return node;
	}
	return NULL;
}

/*
 * For a role that is not a current member's: the configuration block that
 * removed the last node it was the role of, or -1 if it never was one.
 * SPI connected.
 */
static int64
peer_former_member_limit(const char *channel, const char *role)
{
	int64 limit = -1;
	bool member_before = false;

	StoreQueryChannel("SELECT b.number, array_agg(c.value->>'conninfo')"
					  " FROM ordering.blocks b,"
					  " jsonb_each(convert_from(b.config, 'UTF8')::jsonb->'consenters') c"
					  " WHERE b.channel = $1 AND b.is_config"
					  " GROUP BY b.number ORDER BY b.number",
					  channel, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool isnull;
		Datum conninfos = SPI_getbinval(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 2, &isnull);
		Datum *elements;
		bool *element_nulls;
		int n;
		bool member = false;

		if (isnull)
			continue;
		deconstruct_array(DatumGetArrayTypeP(conninfos), TEXTOID, -1, false,
						  TYPALIGN_INT, &elements, &element_nulls, &n);
		for (int e = 0; e < n && !member; e++)
		{
			char *user;

			if (element_nulls[e])
				continue;
			user = OrderingConninfoUser(TextDatumGetCString(elements[e]));
			member = user != NULL && strcmp(user, role) == 0;
		}
		if (member_before && !member)
			limit =
				StoreGetInt64(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		member_before = member;
	}
	return member_before ? -1 : limit;
}

/*
 * 42704 for an unknown channel; 42501 unless a member's role calls.
 * Returns the last block the caller may read: a former member reads up to
 * the configuration block that removed it.
 */
static int64
peer_require_member(const char *channel)
{
	int64 limit;

	if (!OrderingChannelExists(channel))
		OrderingReportUnknownChannel(channel);
	if (peer_member_of_session(channel, NULL) != NULL)
		return PG_INT64_MAX;
	limit = peer_former_member_limit(channel, peer_session_role());
	if (limit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not the role of a member of channel \"%s\"",
						peer_session_role(), channel),
				 errdetail(
					 "Only the consenters of a channel read its chain through the peer functions.")));
	return limit;
}

/* Bytes a row of peer_blocks adds to a page. */
static Size
peer_row_bytes(const Datum *values, const bool *nulls)
{
	const int varlena_columns[] = { 6, 9, 10 }; /* config, tx_ids, payloads */
	Size bytes = 128; /* fixed-width columns and hashes */

	for (int i = 0; i < lengthof(varlena_columns); i++)
		if (!nulls[varlena_columns[i]])
			bytes += toast_raw_datum_size(values[varlena_columns[i]]);
	return bytes;
}

/*
 * ordering.peer_blocks(channel text, from_number bigint, max_blocks int)
 * RETURNS TABLE (number, previous_hash, data_hash, hash, tx_count,
 * is_config, config, raft_index, raft_term, tx_ids text[], payloads
 * bytea[]): blocks from from_number on, in order, each with its
 * transactions by position; at most max_blocks (1 ..
 * ORDERING_PEER_PAGE_BLOCKS) and, after the first, no block that starts
 * past ORDERING_PEER_PAGE_BYTES.
 */
Datum
ordering_peer_blocks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	int64 from_number;
	int32 max_blocks;
	Oid types[3] = { TEXTOID, INT8OID, INT4OID };
	Datum args[3];
	Portal portal;
	Size page_bytes = 0;
	int64 limit;
	int spi;

	OrderingRequireArg(fcinfo, 1, "from_number");
	OrderingRequireArg(fcinfo, 2, "max_blocks");
	from_number = PG_GETARG_INT64(1);
	max_blocks = PG_GETARG_INT32(2);
	if (from_number < 0 || max_blocks < 1 ||
		max_blocks > ORDERING_PEER_PAGE_BLOCKS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_number must not be negative and max_blocks must be 1 to %d",
						ORDERING_PEER_PAGE_BLOCKS)));

	InitMaterializedSRF(fcinfo, 0);
	spi = StoreSpiConnect();
	limit = peer_require_member(channel);
	if (limit < PG_INT64_MAX)
		max_blocks = (int32) Max(Min(limit - from_number + 1, max_blocks), 0);

	args[0] = CStringGetTextDatum(channel);
	args[1] = Int64GetDatum(from_number);
	args[2] = Int32GetDatum(max_blocks);
	portal =
		SPI_cursor_open_with_args(NULL,
								  "SELECT b.number, b.previous_hash, b.data_hash, b.hash,"
								  " b.tx_count, b.is_config, b.config, b.raft_index,"
								  " b.raft_term,"
								  " coalesce(t.tx_ids, '{}'), coalesce(t.payloads, '{}')"
								  " FROM ordering.blocks b"
								  " LEFT JOIN LATERAL (SELECT"
								  "  array_agg(x.tx_id ORDER BY x.position) AS tx_ids,"
								  "  array_agg(x.payload ORDER BY x.position) AS payloads"
								  "  FROM ordering.transactions x"
								  "  WHERE x.channel = b.channel"
								  "  AND x.block_number = b.number) t ON true"
								  " WHERE b.channel = $1 AND b.number >= $2"
								  " ORDER BY b.number LIMIT $3",
								  3, types, args, NULL, true, 0);
	while (page_bytes < ORDERING_PEER_PAGE_BYTES)
	{
		Datum values[PEER_BLOCKS_COLUMNS];
		bool nulls[PEER_BLOCKS_COLUMNS];

		SPI_cursor_fetch(portal, true, 1);
		if (SPI_processed == 0)
			break;
		heap_deform_tuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, values,
						  nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		page_bytes += peer_row_bytes(values, nulls);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	StoreSpiFinish(spi);
	return (Datum) 0;
}

/*
 * ordering.peer_term(channel text) RETURNS bigint: this node's Raft term of
 * the channel as stored, NULL for an archive (no Raft state); for current
 * members only (a former one has no vote to ask about).  join_channel asks
 * it as the worker's genesis push states it: at term 0 the channel had no
 * election this node took part in, so the joiner cannot have voted in one
 * and may vote at once.
 */
Datum
ordering_peer_term(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	bool isnull = true;
	int64 term = 0;
	int spi;

	spi = StoreSpiConnect();
	if (peer_require_member(channel) != PG_INT64_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not the role of a current member of channel \"%s\"",
						peer_session_role(), channel)));
	StoreQueryChannel("SELECT term FROM ordering.raft_state WHERE channel = $1",
					  channel, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		Datum d = StoreGetColumn(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 1, INT8OID, &isnull);

		if (!isnull)
			term = DatumGetInt64(d);
	}
	StoreSpiFinish(spi);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_INT64(term);
}

/* ordering.peer_block_hash(channel text, number bigint) RETURNS bytea */
Datum
ordering_peer_block_hash(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	Oid types[2] = { TEXTOID, INT8OID };
	Datum args[2];
	bytea *hash = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	int spi;

	OrderingRequireArg(fcinfo, 1, "number");
	spi = StoreSpiConnect();
	if (PG_GETARG_INT64(1) > peer_require_member(channel))
	{
		StoreSpiFinish(spi);
		PG_RETURN_NULL();
	}
	args[0] = CStringGetTextDatum(channel);
	args[1] = PG_GETARG_DATUM(1);
	StoreQuery("SELECT hash FROM ordering.blocks"
			   " WHERE channel = $1 AND number = $2",
			   2, types, args, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool isnull;
		Datum d = StoreGetColumn(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 1, BYTEAOID, &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			hash = DatumGetByteaPCopy(d);
			MemoryContextSwitchTo(old);
		}
	}
	StoreSpiFinish(spi);
	if (hash == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(hash);
}

/*
 * ordering.relay_admin(from_node text, channel text, request text,
 * node text, arg text) RETURNS bigint: an admin request made on member
 * from_node, whose backend checked its caller's ordering_admin there; run
 * here with the checks of its SQL function, never relayed again.  Returns
 * the configuration block (NULL for transfer_leadership).
 */
Datum
ordering_relay_admin(PG_FUNCTION_ARGS)
{
	char *from_node = OrderingTextArg(fcinfo, 0, "from_node");
	char *channel = OrderingTextArg(fcinfo, 1, "channel");
	char *request = OrderingTextArg(fcinfo, 2, "request");
	char *node = PG_ARGISNULL(3) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(3));
	char *arg = PG_ARGISNULL(4) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	OrderingAdminKind kind;
	bool allowed;
	int64 block;
	int spi;

	if (!ordering_accept_relayed_admin)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("node \"%s\" takes no relayed admin requests",
						ordering_node_name),
				 errdetail("ordering.accept_relayed_admin is off there."),
				 errhint(
					 "Make the call on the leader itself; ordering.status shows which node leads.")));
	if (!OrderingAdminKindFromName(request, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown admin request \"%s\"", request)));
	spi = StoreSpiConnect();
	if (!OrderingChannelExists(channel))
		OrderingReportUnknownChannel(channel);
	allowed = peer_member_of_session(channel, from_node) != NULL;
	StoreSpiFinish(spi);
	if (!allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not relay admin requests of node \"%s\" on channel \"%s\"",
						peer_session_role(), from_node, channel),
				 errdetail(
					 "Only a current member of the channel relays, logged in as its own role.")));
	if (strlen(arg) >= ORDERING_ADMIN_ARG_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("admin request argument of %zu bytes is too long",
						strlen(arg))));

	block = OrderingRunAdminRequest(kind, channel, node, arg);
	if (block < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(block);
}

/*
 * ordering.transport_stats() RETURNS TABLE (unknown_channel_records bigint,
 * refused_deliveries bigint, inbox_dropped bigint): records dropped by the
 * worker because no channel here has them, deliver() calls refused for
 * claiming another node, envelopes dropped because the inbox was full.
 */
Datum
ordering_transport_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum values[TRANSPORT_STATS_COLUMNS];
	bool nulls[TRANSPORT_STATS_COLUMNS] = { 0 };
	uint64 inbox_dropped = 0;

	OrderingRequireSharedMemory();
	LWLockAcquire(&ordering_shared->inbox_ring->lock, LW_SHARED);
	inbox_dropped = ordering_shared->inbox_ring->dropped;
	LWLockRelease(&ordering_shared->inbox_ring->lock);

	InitMaterializedSRF(fcinfo, 0);
	values[0] = Int64GetDatum((int64) OrderingTransportCounterValue(
		ORDERING_COUNT_UNKNOWN_CHANNEL_RECORDS));
	values[1] = Int64GetDatum((int64) OrderingTransportCounterValue(
		ORDERING_COUNT_REFUSED_DELIVERIES));
	values[2] = Int64GetDatum((int64) inbox_dropped);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
