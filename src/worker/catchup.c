/*-------------------------------------------------------------------------
 *
 * catchup.c
 *	  Pulling the blocks a received snapshot covers from a peer.
 *
 * Fabric's follower that receives a snapshot at block 180 while it has
 * block 100 pulls blocks 101..180 from another orderer before it goes on
 * with Raft.  Here, the worker installing a snapshot connects to the
 * leader (or, failing that, another consenter) with libpq and reads
 * ordering.blocks and ordering.transactions page by page with plain
 * SELECTs.  Every block is checked before it is inserted: its number
 * follows, its previous_hash is our last block's hash, its data_hash is
 * recomputed from its items and its hash from the three (README.md, "How
 * blocks are hashed and verified"); the
 * last one must be the snapshot's last_hash.  All of it happens in the
 * transaction that installs the snapshot, so a failure leaves nothing
 * behind: the channel is rebuilt from its tables and the leader sends the
 * snapshot again later.  Each peer is tried in its own subtransaction.
 *
 * This runs inside the worker's event loop and blocks it.  That is
 * acceptable because it is bounded (connect, statement and overall
 * deadlines below; the peer's session gets statement_timeout too), it
 * happens only when a node is far behind (it cannot take part in the
 * channel before it has the blocks anyway), and the waits are on the latch
 * and socket, so SIGTERM and postmaster death are still honoured.  Other
 * channels of this node pause meanwhile; a long pause can cost them their
 * leadership, which Raft tolerates.
 *
 * src/worker/catchup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "common/blocks.h"
#include "common/gucs.h"
#include "common/remote.h"
#include "store/chain.h"
#include "store/spi.h"
#include "worker/catchup.h"

/* Bounds of one pull. */
#define CATCHUP_PAGE_BLOCKS 64
#define CATCHUP_CONNECT_TIMEOUT_MS 5000
#define CATCHUP_STATEMENT_TIMEOUT_MS 15000
#define CATCHUP_TOTAL_TIMEOUT_MS 60000
typedef struct CatchupTarget
{
	int64 last_block;
	uint8 last_hash[ORDERING_HASH_LEN];
} CatchupTarget;

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes hex text into a palloc'd buffer; ERROR on bad input. */
static uint8 *
catchup_unhex(const char *hex, Size *len)
{
	Size hex_len = strlen(hex);
	uint8 *out;

	if (hex_len % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent malformed hex data")));
	out = palloc(hex_len / 2 + 1);
	for (Size i = 0; i < hex_len / 2; i++)
	{
		int hi = hex_value(hex[2 * i]);
		int lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("peer sent malformed hex data")));
		out[i] = (uint8) ((hi << 4) | lo);
	}
	*len = hex_len / 2;
	return out;
}

static void
catchup_hash_field(const char *hex, uint8 out[ORDERING_HASH_LEN])
{
	Size len;
	uint8 *bytes = catchup_unhex(hex, &len);

	if (len != ORDERING_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("peer sent a hash of %zu bytes", len)));
	memcpy(out, bytes, ORDERING_HASH_LEN);
	pfree(bytes);
}

/* The snapshot's last block and hash, and the consenters it names. */
static void
catchup_read_snapshot(const char *channel, const raft_snapshot *snapshot,
					  CatchupTarget *target, CatchupPeers *peers)
{
	Oid types[1] = { TEXTOID };
	Datum value =
		PointerGetDatum(cstring_to_text_with_len((const char *) snapshot->data,
												 snapshot->data_size));
	bool isnull;
	int rc;

	rc = SPI_execute_with_args("SELECT ($1::jsonb->>'last_block')::bigint,"
							   " $1::jsonb->>'last_hash'",
							   1, types, &value, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the snapshot of channel \"%s\"", channel);
	target->last_block = DatumGetInt64(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull ||
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot of channel \"%s\" lacks last_block or last_hash",
						channel)));
	catchup_hash_field(SPI_getvalue(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 2),
					   target->last_hash);

	rc = SPI_execute_with_args("SELECT key, value->>'conninfo'"
							   " FROM jsonb_each($1::jsonb->'config'->'consenters')"
							   " ORDER BY key",
							   1, types, &value, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the consenters of a snapshot");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *node =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *conninfo =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (conninfo != NULL)
			CatchupAddPeer(peers, node, conninfo);
	}
}

/* Adds a peer to ask, unless it is this node or already listed. */
void
CatchupAddPeer(CatchupPeers *peers, const char *node, const char *conninfo)
{
	if (strcmp(node, ordering_node_name) == 0 ||
		peers->n_peers >= CATCHUP_MAX_PEERS)
		return;
	for (int j = 0; j < peers->n_peers; j++)
		if (strcmp(peers->peers[j].node, node) == 0)
			return;
	strlcpy(peers->peers[peers->n_peers].node, node, ORDERING_NAME_MAX);
	peers->peers[peers->n_peers].conninfo = pstrdup(conninfo);
	peers->n_peers++;
}

/*
 * Pulls, verifies and inserts blocks first..last from one page of results
 * (blocks and their transactions, both ordered).  Advances ch's chain head.
 */
static void
catchup_apply_page(const char *channel, ChainHead *head, const char *peer,
				   PGresult *blocks, PGresult *txs)
{
	int n_blocks = PQntuples(blocks);
	int n_txs = PQntuples(txs);
	int t = 0;

	for (int b = 0; b < n_blocks; b++)
	{
		int64 number = strtoi64(PQgetvalue(blocks, b, 0), NULL, 10);
		uint8 previous_hash[ORDERING_HASH_LEN];
		uint8 data_hash[ORDERING_HASH_LEN];
		uint8 hash[ORDERING_HASH_LEN];
		uint8 computed[ORDERING_HASH_LEN];
		int tx_count = atoi(PQgetvalue(blocks, b, 4));
		bool is_config = strcmp(PQgetvalue(blocks, b, 5), "t") == 0;
		int64 raft_index = strtoi64(PQgetvalue(blocks, b, 7), NULL, 10);
		int64 raft_term = strtoi64(PQgetvalue(blocks, b, 8), NULL, 10);
		OrderingDataHasher hasher;
		StoreBlockRow row;
		uint8 *config = NULL;
		Size config_len = 0;
		int first_tx = t;
		int position = 0;

		catchup_hash_field(PQgetvalue(blocks, b, 1), previous_hash);
		catchup_hash_field(PQgetvalue(blocks, b, 2), data_hash);
		catchup_hash_field(PQgetvalue(blocks, b, 3), hash);

		if (number != head->last_block + 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("node %s sent block " INT64_FORMAT
							" where block " INT64_FORMAT " was expected",
							peer, number, head->last_block + 1)));
		if (memcmp(previous_hash, head->last_hash, ORDERING_HASH_LEN) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block " INT64_FORMAT
							" from node %s does not link to block " INT64_FORMAT
							" of this node",
							number, peer, head->last_block)));

		OrderingDataHashBegin(&hasher);
		if (is_config)
		{
			if (PQgetisnull(blocks, b, 6) || tx_count != 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("configuration block " INT64_FORMAT
								" from node %s is malformed",
								number, peer)));
			config = catchup_unhex(PQgetvalue(blocks, b, 6), &config_len);
			OrderingDataHashAdd(&hasher, config, config_len);
		}
		else
		{
			while (t < n_txs &&
				   strtoi64(PQgetvalue(txs, t, 0), NULL, 10) == number)
			{
				Size len;
				uint8 *payload = catchup_unhex(PQgetvalue(txs, t, 3), &len);

				if (atoi(PQgetvalue(txs, t, 1)) != position)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("block " INT64_FORMAT
									" from node %s has a gap in its positions",
									number, peer)));
				OrderingDataHashAddTx(&hasher, PQgetvalue(txs, t, 2), payload,
									  len);
				pfree(payload);
				position++;
				t++;
			}
			if (position == 0 || position != tx_count)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("block " INT64_FORMAT
								" from node %s has %d transactions, tx_count %d",
								number, peer, position, tx_count)));
		}
		OrderingDataHashEnd(&hasher, computed);
		if (memcmp(computed, data_hash, ORDERING_HASH_LEN) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("data_hash of block " INT64_FORMAT
							" from node %s does not match its items",
							number, peer)));
		OrderingBlockHash(number, previous_hash, data_hash, computed);
		if (memcmp(computed, hash, ORDERING_HASH_LEN) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("hash of block " INT64_FORMAT " from node %s is wrong",
							number, peer)));

		/* Verified: insert it, then its transactions. */
		row.number = number;
		memcpy(row.previous_hash, previous_hash, ORDERING_HASH_LEN);
		memcpy(row.data_hash, data_hash, ORDERING_HASH_LEN);
		memcpy(row.hash, hash, ORDERING_HASH_LEN);
		row.tx_count = tx_count;
		row.config = config;
		row.config_len = config_len;
		row.raft_index = raft_index;
		row.raft_term = raft_term;
		StoreInsertBlock(channel, &row, true);
		if (t > first_tx)
		{
			Datum *tx_ids = palloc(sizeof(Datum) * (t - first_tx));
			Datum *payloads = palloc(sizeof(Datum) * (t - first_tx));

			for (int i = first_tx; i < t; i++)
			{
				Size len;
				uint8 *payload = catchup_unhex(PQgetvalue(txs, i, 3), &len);

				tx_ids[i - first_tx] =
					CStringGetTextDatum(PQgetvalue(txs, i, 2));
				payloads[i - first_tx] =
					PointerGetDatum(StoreBytea(payload, len));
				pfree(payload);
			}
			StoreInsertTransactions(channel, number, t - first_tx, tx_ids,
									payloads);
		}
		head->last_block = number;
		memcpy(head->last_hash, hash, ORDERING_HASH_LEN);
	}
	if (t != n_txs)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("node %s sent transactions of blocks it did not send",
						peer)));
}

/* Pulls, verifies and inserts one page of blocks from the peer. */
static pg_noinline void
catchup_one_page(const char *channel, ChainHead *head, PGconn *conn,
				 const CatchupPeer *peer, const CatchupTarget *target,
				 const TimestampTz *overall_deadline)
{
	int64 first = head->last_block + 1;
	int64 last = Min(target->last_block, first + CATCHUP_PAGE_BLOCKS - 1);
	char first_text[32];
	char last_text[32];
	const char *params[3] = { channel, first_text, last_text };
	TimestampTz deadline;
	PGresult *blocks;
	PGresult *volatile txs = NULL;

	snprintf(first_text, sizeof(first_text), INT64_FORMAT, first);
	snprintf(last_text, sizeof(last_text), INT64_FORMAT, last);
	deadline = Min(*overall_deadline,
				   TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
											   CATCHUP_STATEMENT_TIMEOUT_MS));
	blocks =
		OrderingRemoteExec(conn, peer->node,
						   "SELECT number, encode(previous_hash, 'hex'),"
						   " encode(data_hash, 'hex'), encode(hash, 'hex'),"
						   " tx_count, is_config, encode(config, 'hex'),"
						   " raft_index, raft_term FROM ordering.blocks"
						   " WHERE channel = $1 AND number BETWEEN $2 AND $3"
						   " ORDER BY number",
						   3, params, deadline);
	PG_TRY();
	{
		txs = OrderingRemoteExec(conn, peer->node,
								 "SELECT block_number, position, tx_id,"
								 " encode(payload, 'hex')"
								 " FROM ordering.transactions"
								 " WHERE channel = $1"
								 " AND block_number BETWEEN $2 AND $3"
								 " ORDER BY block_number, position",
								 3, params, deadline);
		if (PQntuples(blocks) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("node %s does not have block " INT64_FORMAT
							" of channel \"%s\"",
							peer->node, first, channel)));
		catchup_apply_page(channel, head, peer->node, blocks, txs);
	}
	PG_FINALLY();
	{
		PQclear(blocks);
		PQclear(txs);
	}
	PG_END_TRY();
}

/* Pulls up to target from one peer; ERROR on any failure. */
static pg_noinline void
catchup_from_peer(const char *channel, ChainHead *head, const CatchupPeer *peer,
				  const CatchupTarget *target, TimestampTz deadline_arg)
{
	volatile TimestampTz overall_deadline = deadline_arg;
	PGconn *volatile conn = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext page_cxt;

	page_cxt =
		AllocSetContextCreate(CurrentMemoryContext, "ordering catchup page",
							  ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		conn =
			OrderingRemoteConnect(peer->conninfo, "ordering catchup",
								  CATCHUP_STATEMENT_TIMEOUT_MS,
								  Min(overall_deadline,
									  TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																  CATCHUP_CONNECT_TIMEOUT_MS)));
		while (head->last_block < target->last_block)
		{
			TimestampTz page_deadline = overall_deadline;

			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(page_cxt);
			catchup_one_page(channel, head, conn, peer, target, &page_deadline);
			MemoryContextSwitchTo(caller_cxt);
			MemoryContextReset(page_cxt);
		}
		if (memcmp(head->last_hash, target->last_hash, ORDERING_HASH_LEN) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block " INT64_FORMAT
							" from node %s is not the snapshot's",
							target->last_block, peer->node)));
	}
	PG_FINALLY();
	{
		MemoryContextSwitchTo(caller_cxt);
		OrderingRemoteDisconnect(conn);
		MemoryContextDelete(page_cxt);
	}
	PG_END_TRY();
}

/* One peer in a subtransaction; true when it provided the blocks. */
static bool
catchup_try_peer(const char *channel, ChainHead *head, const CatchupPeer *peer,
				 const CatchupTarget *target, TimestampTz deadline,
				 char **last_error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int64 start_block = head->last_block;
	uint8 start_hash[ORDERING_HASH_LEN];
	volatile bool done = false;

	memcpy(start_hash, head->last_hash, ORDERING_HASH_LEN);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		catchup_from_peer(channel, head, peer, target, deadline);
		ReleaseCurrentSubTransaction();
		done = true;
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		*last_error = edata->message;
		ereport(LOG,
				(errmsg("channel \"%s\": could not pull blocks from node %s: %s",
						channel, peer->node, edata->message)));
		head->last_block = start_block;
		memcpy(head->last_hash, start_hash, ORDERING_HASH_LEN);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return done;
}

void
CatchupPullBlocks(const char *channel, const CatchupPeers *leaders,
				  const CatchupPeers *members, const raft_snapshot *snapshot,
				  ChainHead *head)
{
	CatchupTarget target;
	CatchupPeers *peers = palloc0(sizeof(CatchupPeers));
	int64 start_block = head->last_block;
	TimestampTz deadline;
	char *last_error = NULL;

	if (snapshot->data_size == 0)
		return;

	/* The leader first: it has every block; then the other consenters. */
	for (int i = 0; i < leaders->n_peers; i++)
		CatchupAddPeer(peers, leaders->peers[i].node,
					   leaders->peers[i].conninfo);
	catchup_read_snapshot(channel, snapshot, &target, peers);
	for (int i = 0; i < members->n_peers; i++)
		CatchupAddPeer(peers, members->peers[i].node,
					   members->peers[i].conninfo);

	if (target.last_block <= head->last_block)
		return; /* nothing to pull; the caller checks the hash */

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   CATCHUP_TOTAL_TIMEOUT_MS);
	ereport(LOG,
			(errmsg("channel \"%s\": pulling blocks " INT64_FORMAT
					" to " INT64_FORMAT " covered by a snapshot",
					channel, head->last_block + 1, target.last_block)));

	/* Waiting on the latch below may eat a wakeup: the loop looks again. */
	SetLatch(MyLatch);
	for (int i = 0; i < peers->n_peers && GetCurrentTimestamp() < deadline; i++)
	{
		if (catchup_try_peer(channel, head, &peers->peers[i], &target,
							 deadline, &last_error))
		{
			ereport(LOG,
					(errmsg("channel \"%s\": pulled blocks " INT64_FORMAT
							" to " INT64_FORMAT " from node %s",
							channel, start_block + 1, target.last_block,
							peers->peers[i].node)));
			SetLatch(MyLatch);
			return;
		}
	}
	SetLatch(MyLatch);
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("channel \"%s\": could not pull blocks " INT64_FORMAT
					" to " INT64_FORMAT " from any peer",
					channel, start_block + 1, target.last_block),
			 last_error ? errdetail_internal("%s", last_error) : 0));
}
