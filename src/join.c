/*-------------------------------------------------------------------------
 *
 * join.c
 *	  Creating a channel from its genesis document, and
 *	  ordering.join_channel(channel, peer_conninfo).
 *
 * create_channel builds the genesis document and calls
 * OrderingInstallGenesis; a node that joins gets the same document's bytes
 * from a peer (a GENESIS record to the worker, or join_channel's SELECT)
 * and calls the same function.  The document's bytes are stored as they
 * are, so block 0 (and its hash) is identical everywhere.  The joining
 * node starts with the genesis consenters and Raft state zero; the Raft
 * log (or a snapshot) brings it up to date.
 *
 * join_channel runs in a backend and may block on the peer, bounded by
 * ordering.submit_timeout.
 *
 * src/join.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "blocks.h"
#include "join.h"
#include "ordering.h"
#include "remote.h"
#include "sql_admin.h"
#include "sql_catalog.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(ordering_join_channel);

static bytea *
join_bytea(const void *data, Size len)
{
	bytea	   *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), data, len);
	return result;
}

static void
join_exec(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL,
										   false, 0);

	if (rc != expected)
		elog(ERROR, "SPI_execute_with_args failed (%s) for: %s",
			 SPI_result_code_string(rc), sql);
}

void
OrderingInstallGenesis(const char *channel, const char *document)
{
	Size		len = strlen(document);
	uint8		previous_hash[ORDERING_HASH_LEN] = {0};
	uint8		data_hash[ORDERING_HASH_LEN];
	uint8		hash[ORDERING_HASH_LEN];
	OrderingDataHasher hasher;
	Oid			types[5] = {TEXTOID, TEXTOID, BYTEAOID, BYTEAOID, BYTEAOID};
	Datum		values[6];
	bool		isnull;
	bool		ok;

	/* A document from a peer: it must be what create_channel writes. */
	values[0] = CStringGetTextDatum(channel);
	values[1] = CStringGetTextDatum(document);
	join_exec("SELECT $2::jsonb::text = $2"
			  " AND ($2::jsonb->>'channel') IS NOT DISTINCT FROM $1"
			  " AND ($2::jsonb->>'change') IS NOT DISTINCT FROM 'genesis'"
			  " AND jsonb_typeof($2::jsonb->'consenters') = 'object'"
			  " AND jsonb_typeof($2::jsonb->'config') = 'object'",
			  2, types, values, SPI_OK_SELECT);
	ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || !ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid genesis document for channel \"%s\"", channel)));

	join_exec("SELECT 1 FROM ordering.channels WHERE channel = $1",
			  1, types, values, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("channel \"%s\" already exists", channel)));

	join_exec("INSERT INTO ordering.channels (channel, config)"
			  " SELECT $1, $2::jsonb->'config'",
			  2, types, values, SPI_OK_INSERT);
	join_exec("INSERT INTO ordering.consenters"
			  " (channel, node, raft_id, conninfo, is_learner)"
			  " SELECT $1, key, (value->>'id')::bigint, value->>'conninfo',"
			  " coalesce((value->>'learner')::boolean, false)"
			  " FROM jsonb_each($2::jsonb->'consenters')",
			  2, types, values, SPI_OK_INSERT);
	join_exec("INSERT INTO ordering.raft_state (channel) VALUES ($1)",
			  1, types, values, SPI_OK_INSERT);

	/* Block 0: the document as its one item, raft index 0 (design §3). */
	OrderingDataHashBegin(&hasher);
	OrderingDataHashAdd(&hasher, document, len);
	OrderingDataHashEnd(&hasher, data_hash);
	OrderingBlockHash(0, previous_hash, data_hash, hash);
	values[1] = PointerGetDatum(join_bytea(previous_hash, ORDERING_HASH_LEN));
	values[2] = PointerGetDatum(join_bytea(data_hash, ORDERING_HASH_LEN));
	values[3] = PointerGetDatum(join_bytea(hash, ORDERING_HASH_LEN));
	values[4] = PointerGetDatum(join_bytea(document, len));
	types[1] = BYTEAOID;
	join_exec("INSERT INTO ordering.blocks"
			  " (channel, number, previous_hash, data_hash, hash,"
			  "  tx_count, is_config, config, raft_index, raft_term)"
			  " VALUES ($1, 0, $2, $3, $4, 0, true, $5, 0, 0)",
			  5, types, values, SPI_OK_INSERT);
}

/*
 * Block 0's configuration document of a local channel, or NULL.  Not
 * inlined: its locals must not live in the caller's setjmp frame.
 */
static pg_noinline char *
join_local_genesis(const char *channel)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(channel)};
	MemoryContext cxt = CurrentMemoryContext;
	char	   *document = NULL;

	if (SPI_execute_with_args("SELECT convert_from(config, 'UTF8')"
							  " FROM ordering.blocks"
							  " WHERE channel = $1 AND number = 0",
							  1, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			document = MemoryContextStrdup(cxt, value);
	}
	return document;
}

/*
 * ordering.join_channel(channel text, peer_conninfo text) RETURNS text:
 * fetches block 0 of the channel from a node that has it and creates the
 * channel here.  This node must be a consenter there (add_consenter first);
 * its worker then catches up through Raft.
 */
Datum
ordering_join_channel(PG_FUNCTION_ARGS)
{
	char	   *channel = OrderingTextArg(fcinfo, 0, "channel");
	char	   *peer_conninfo = OrderingTextArg(fcinfo, 1, "peer_conninfo");
	TimestampTz deadline;
	PGconn	   *volatile conn = NULL;
	char	   *volatile document = NULL;	/* set inside PG_TRY */
	char	   *local_document;
	bool		member = false;

	OrderingCheckChannelName(channel);
	OrderingCheckConninfo("peer", peer_conninfo);
	OrderingRequireSharedMemory();
	OrderingRequireWorkerDatabase();

	/*
	 * The worker may have joined by itself already (a member pushed the
	 * genesis): then joining again is a no-op, as long as it is the same
	 * channel, i.e. the same block 0.
	 */
	SPI_connect();
	local_document = join_local_genesis(channel);
	SPI_finish();

	deadline = OrderingSubmitDeadline();
	PG_TRY();
	{
		const char *params[2] = {channel, ordering_node_name};
		PGresult   *res;

		conn = OrderingRemoteConnect(peer_conninfo, "ordering join_channel",
									 ordering_submit_timeout_ms, deadline);
		res = OrderingRemoteExec(conn, "peer",
								 "SELECT convert_from(b.config, 'UTF8'),"
								 " EXISTS (SELECT 1 FROM ordering.consenters c"
								 "  WHERE c.channel = b.channel AND c.node = $2)"
								 " FROM ordering.blocks b"
								 " WHERE b.channel = $1 AND b.number = 0",
								 2, params, deadline);
		if (PQntuples(res) == 1)
		{
			document = pstrdup(PQgetvalue(res, 0, 0));
			member = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		}
		PQclear(res);
	}
	PG_FINALLY();
	{
		OrderingRemoteDisconnect(conn);
	}
	PG_END_TRY();

	if (document == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" does not exist on the peer", channel)));
	if (!member)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is not a consenter of channel \"%s\" on the peer",
						ordering_node_name, channel),
				 errhint("Call ordering.add_consenter on a member of the channel first.")));
	if (local_document != NULL)
	{
		if (strcmp(local_document, document) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("channel \"%s\" already exists with a different genesis block",
							channel)));
		ereport(NOTICE,
				(errmsg("channel \"%s\" is already joined", channel)));
		PG_RETURN_TEXT_P(cstring_to_text(channel));
	}

	SPI_connect();
	OrderingInstallGenesis(channel, document);
	SPI_finish();
	OrderingReloadChannelsAtCommit();
	PG_RETURN_TEXT_P(cstring_to_text(channel));
}
