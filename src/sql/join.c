/*-------------------------------------------------------------------------
 *
 * join.c
 *	  ordering.join_channel(channel, peer_conninfo, expected_genesis_hash):
 *	  creating a channel here from block 0 of a peer that has it.
 *
 * The document's bytes go to StoreInstallGenesis (store/genesis.c), the
 * same code create_channel and the worker's joining use, so block 0 is
 * identical everywhere.
 *
 * join_channel runs in a backend and may block on the peer, bounded by
 * ordering.submit_timeout.  With an expected genesis hash, the hash of
 * block 0 is computed here from the peer's document (never taken from the
 * peer) and must match before anything is written: an operator who got the
 * hash out of band cannot be handed another channel of the same name.
 *
 * src/sql/join.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "common/blocks.h"
#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/names.h"
#include "common/remote.h"
#include "store/spi.h"
#include "sql/backend.h"
#include "sql/validate.h"
#include "store/genesis.h"

PG_FUNCTION_INFO_V1(ordering_join_channel);

/*
 * The expected_genesis_hash argument: NULL, or 32 bytes (22023).  Not
 * inlined into the caller, whose PG_TRY would make its locals volatile.
 */
static pg_noinline bytea *
expected_hash_arg(FunctionCallInfo fcinfo, int argno)
{
	bytea *expected;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	expected = PG_GETARG_BYTEA_PP(argno);
	if (VARSIZE_ANY_EXHDR(expected) != ORDERING_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expected_genesis_hash must be %d bytes, not %zu",
						ORDERING_HASH_LEN, VARSIZE_ANY_EXHDR(expected)),
				 errhint(
					 "Take it from a member: SELECT hash FROM ordering.blocks WHERE channel = '...' AND number = 0.")));
	return expected;
}

/* Errors 22023 unless block 0 made of document has the expected hash. */
static void
check_genesis_hash(const char *channel, const char *document,
				   const bytea *expected)
{
	uint8 data_hash[ORDERING_HASH_LEN];
	uint8 hash[ORDERING_HASH_LEN];
	char hex[ORDERING_HASH_LEN * 2 + 1];

	if (expected == NULL)
		return;
	OrderingGenesisHashes(document, strlen(document), data_hash, hash);
	if (memcmp(hash, VARDATA_ANY(expected), ORDERING_HASH_LEN) == 0)
		return;
	hex[hex_encode((const char *) hash, ORDERING_HASH_LEN, hex)] = '\0';
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("block 0 of channel \"%s\" on the peer does not have the expected hash",
					channel),
			 errdetail("Its hash is \\x%s.", hex)));
}

/*
 * ordering.join_channel(channel text, peer_conninfo text,
 *						 expected_genesis_hash bytea DEFAULT NULL)
 * RETURNS text: fetches block 0 of the channel from a node that has it and
 * creates the channel here.  peer_conninfo reaches the peer as this node's
 * own role (with this node's credentials, ordering.peer_*), which must be
 * the role of a consenter there (add_consenter first): block 0 is read
 * through ordering.peer_blocks(), and the peer's term through
 * ordering.peer_term().  The worker then catches up through Raft.
 */
Datum
ordering_join_channel(PG_FUNCTION_ARGS)
{
	int spi;
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *peer_conninfo = OrderingTextArg(fcinfo, 1, "peer_conninfo");
	bytea *expected_hash = expected_hash_arg(fcinfo, 2);
	TimestampTz deadline;
	PGconn *volatile conn = NULL;
	char *volatile document = NULL; /* set inside PG_TRY */
	volatile bool before_election = false;
	char *local_document;
	MemoryContext caller_cxt = CurrentMemoryContext;

	OrderingCheckChannelName(channel);
	OrderingCheckConninfo("peer", peer_conninfo);
	OrderingRequireSharedMemory();
	OrderingRequireWorkerDatabase();
	OrderingRequireNodeName();
	OrderingRequireReadWrite("join_channel");

	/*
	 * The worker may have joined by itself already (a member pushed the
	 * genesis): then joining again is a no-op, as long as it is the same
	 * channel, i.e. the same block 0.
	 */
	spi = StoreSpiConnect();
	local_document = StoreGenesisDocument(channel, caller_cxt);
	StoreSpiFinish(spi);

	deadline = OrderingSubmitDeadline();
	PG_TRY();
	{
		const char *params[1] = { channel };
		PGresult *res;

		conn =
			OrderingRemoteConnect(peer_conninfo, NULL, "ordering join_channel",
								  ordering_submit_timeout_ms, deadline);
		res = OrderingRemoteExec(conn, "peer",
								 "SELECT convert_from(b.config, 'UTF8'),"
								 " ordering.peer_term($1)"
								 " FROM ordering.peer_blocks($1, 0, 1) b"
								 " WHERE b.number = 0 AND b.is_config",
								 1, params, false, deadline);
		if (PQntuples(res) == 1 && PQnfields(res) == 2 && !PQgetisnull(res, 0, 0))
		{
			document = pstrdup(PQgetvalue(res, 0, 0));
			before_election = !PQgetisnull(res, 0, 1) &&
				strcmp(PQgetvalue(res, 0, 1), "0") == 0;
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
	check_genesis_hash(channel, document, expected_hash);

	/*
	 * The worker may have joined while the peer answered: look again, with
	 * the channels table locked against its insert (an insert under way
	 * commits first and is found here; a later one waits, then fails on
	 * the key, and the worker drops its copy).
	 */
	if (local_document == NULL)
	{
		/*
		 * Locked only here, where it may insert: the lock lasts until the
		 * caller commits and holds the worker up meanwhile, which a call
		 * that joined nothing, left in an open transaction, did (found by
		 * hostile testing).
		 */
		spi = StoreSpiConnect();
		StoreQuery("LOCK TABLE ordering.channels IN SHARE ROW EXCLUSIVE MODE",
				   0, NULL, NULL, SPI_OK_UTILITY);
		local_document = StoreGenesisDocument(channel, caller_cxt);
		if (local_document == NULL)
		{
			/*
			 * As with the worker's genesis push: a channel still at term 0
			 * on the peer had no election there, so this node cannot have
			 * voted in one and need not wait for a leader before it votes.
			 * Were every joiner to recover, a channel founded on one node
			 * and joined on the others would never elect a leader.
			 */
			StoreInstallGenesis(channel, document,
								before_election ? NULL
												: STORE_JOIN_CHANNEL_RECOVERING);
			StoreSpiFinish(spi);
			OrderingReloadChannelsAtCommit();
			PG_RETURN_TEXT_P(cstring_to_text(channel));
		}
		StoreSpiFinish(spi);
	}
	if (strcmp(local_document, document) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("channel \"%s\" already exists with a different genesis block",
						channel)));
	ereport(NOTICE, (errmsg("channel \"%s\" is already joined", channel)));
	PG_RETURN_TEXT_P(cstring_to_text(channel));
}
