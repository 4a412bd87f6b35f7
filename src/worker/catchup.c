/*-------------------------------------------------------------------------
 *
 * catchup.c
 *	  Pulling the blocks a received snapshot covers from a peer.
 *
 * Fabric's follower that receives a snapshot at block 180 while it has
 * block 100 pulls blocks 101..180 from another orderer before it goes on
 * with Raft.  Here, the worker installing a snapshot connects to the
 * leader (or, failing that, another consenter) as this node's own role and
 * reads the blocks through ordering.peer_blocks(), page by page
 * (peer_chain.c checks every field and verifies every link and hash from
 * this node's last block on); the last one must be the snapshot's
 * last_hash.  Then the chain's last configuration block at or below the
 * snapshot's last block must hold the snapshot's consenters and settings:
 * a snapshot that disagrees with the chain is refused.  All of it happens
 * in the transaction that installs the snapshot, so a failure leaves
 * nothing behind: the channel is rebuilt from its tables and goes on with
 * what it has, and the leader sends the snapshot again later.  Each peer
 * is tried in its own subtransaction.
 *
 * Up to CATCHUP_INLINE_MAX_BLOCKS this runs inside the worker's event
 * loop, which it holds up for a page's time; longer pulls run in a
 * background worker of their own (catchup_worker.c).  Either way it is
 * bounded (connect, statement and overall deadlines below; the peer's
 * session gets statement_timeout too), and the waits are on the latch and
 * socket, so SIGTERM and postmaster death are still honoured.
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
#include "common/clock.h"
#include "common/gucs.h"
#include "common/remote.h"
#include "store/chain.h"
#include "store/snapshot.h"
#include "store/spi.h"
#include "worker/catchup.h"
#include "worker/peer_chain.h"

/* Bounds of one pull (peer_chain.c bounds each connect and page). */
#define CATCHUP_PAGE_BLOCKS 64
typedef struct CatchupTarget
{
	int64 last_block;
	uint8 last_hash[ORDERING_HASH_LEN];
	raft_index index; /* the snapshot's: no block it covers comes after */
} CatchupTarget;

static Datum
catchup_snapshot_text(const raft_snapshot *snapshot)
{
	return PointerGetDatum(cstring_to_text_with_len((const char *) snapshot->data,
													snapshot->data_size));
}

/*
 * The snapshot's last block and hash.  The snapshot came from the leader;
 * its fields are checked all the same.
 */
static void
catchup_read_target(const char *channel, const raft_snapshot *snapshot,
					CatchupTarget *target)
{
	ChainHead head;

	if (!StoreSnapshotHead(channel, snapshot->data, snapshot->data_size, &head))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot of channel \"%s\" names no last block",
						channel)));
	target->last_block = head.last_block;
	memcpy(target->last_hash, head.last_hash, ORDERING_HASH_LEN);
	target->index = snapshot->meta.index;
}

int64
CatchupSnapshotLastBlock(const char *channel, const raft_snapshot *snapshot)
{
	CatchupTarget target;

	catchup_read_target(channel, snapshot, &target);
	return target.last_block;
}

/* The consenters the snapshot names, as peers to ask. */
static void
catchup_read_consenters(const raft_snapshot *snapshot, CatchupPeers *peers)
{
	Oid types[1] = { TEXTOID };
	Datum value = catchup_snapshot_text(snapshot);

	StoreQuery("SELECT key, value->>'conninfo'"
			   " FROM jsonb_each($1::jsonb->'config'->'consenters')"
			   " ORDER BY key",
			   1, types, &value, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *node =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *conninfo =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (conninfo != NULL && strlen(node) < ORDERING_NAME_MAX)
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

/* Inserts a verified block and its transactions. */
static void
catchup_insert(const char *channel, const PulledBlock *block)
{
	StoreInsertBlock(channel, &block->row, true);
	if (block->n_txs > 0)
		StoreInsertTransactions(channel, block->row.number, block->n_txs,
								block->tx_ids, block->payloads);
}

/* Pulls, verifies and inserts one page of blocks from the peer. */
static void
catchup_one_page(const char *channel, ChainHead *head, PGconn *conn,
				 const CatchupPeer *peer, const CatchupTarget *target,
				 TimestampTz deadline)
{
	int64 first = head->last_block + 1;
	int max_blocks =
		(int) Min(target->last_block - head->last_block, CATCHUP_PAGE_BLOCKS);
	PulledPage page;

	PeerChainFetch(conn, peer->node, channel, first, max_blocks, deadline,
				   &page);
	if (page.n_blocks == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("node %s does not have block " INT64_FORMAT
						" of channel \"%s\"",
						peer->node, first, channel)));
	for (int i = 0; i < page.n_blocks; i++)
	{
		const StoreBlockRow *row = &page.blocks[i].row;

		PeerChainVerifyNext(head, &page.blocks[i], peer->node);
		/*
		 * raft_index is not hashed: bounded here, as a restart compares the
		 * last block's with the applied index (StoreCheckChainHead).
		 */
		if (row->raft_index < 0 || (uint64) row->raft_index > target->index)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("node %s sent block " INT64_FORMAT
							" at raft index " INT64_FORMAT
							", past the snapshot's index " UINT64_FORMAT,
							peer->node, row->number, row->raft_index,
							(uint64) target->index)));
		catchup_insert(channel, &page.blocks[i]);
	}
}

/* Pulls up to target from one peer; ERROR on any failure. */
static pg_noinline void
catchup_from_peer(const char *channel, const char *own_user, ChainHead *head,
				  const CatchupPeer *peer, const CatchupTarget *target,
				  TimestampTz deadline_arg)
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
		conn = PeerChainConnect(peer->conninfo, own_user, overall_deadline);
		while (head->last_block < target->last_block)
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(page_cxt);
			catchup_one_page(channel, head, conn, peer, target,
							 overall_deadline);
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

typedef struct CatchupAttempt
{
	const char *channel;
	const char *own_user;
	ChainHead *head;
	const CatchupPeer *peer;
	const CatchupTarget *target;
	TimestampTz deadline;
} CatchupAttempt;

static void
catchup_attempt(void *arg)
{
	CatchupAttempt *a = arg;

	catchup_from_peer(a->channel, a->own_user, a->head, a->peer, a->target,
					  a->deadline);
}

/* One peer in a subtransaction; true when it provided the blocks. */
static bool
catchup_try_peer(const char *channel, const char *own_user, ChainHead *head,
				 const CatchupPeer *peer, const CatchupTarget *target,
				 TimestampTz deadline, char **last_error)
{
	ChainHead start = *head;
	CatchupAttempt attempt = { channel, own_user, head, peer, target, deadline };
	ErrorData *edata = StoreInSubtransaction(catchup_attempt, &attempt);

	if (edata == NULL)
		return true;
	*last_error = edata->message;
	ereport(LOG,
			(errmsg("channel \"%s\": could not pull blocks from node %s: %s",
					channel, peer->node, edata->message)));
	*head = start;
	return false;
}

/*
 * The snapshot's consenters and settings must be those of the chain's last
 * configuration block at or below its last block: a snapshot is the
 * chain's state, not a way to hand a node another configuration.
 */
static void
catchup_check_configuration(const char *channel, const raft_snapshot *snapshot,
							int64 last_block)
{
	Oid types[3] = { TEXTOID, TEXTOID, INT8OID };
	Datum values[3];
	bool isnull = true;
	Datum agrees = BoolGetDatum(false);

	values[0] = catchup_snapshot_text(snapshot);
	values[1] = CStringGetTextDatum(channel);
	values[2] = Int64GetDatum(last_block);
	StoreQuery("SELECT d.doc->'consenters' = $1::jsonb->'config'->'consenters'"
			   " AND d.doc->'config' = $1::jsonb->'config'->'config'"
			   " FROM (SELECT convert_from(b.config, 'UTF8')::jsonb AS doc"
			   "  FROM ordering.blocks b"
			   "  WHERE b.channel = $2 AND b.is_config AND b.number <= $3"
			   "  ORDER BY b.number DESC LIMIT 1) d",
			   3, types, values, SPI_OK_SELECT);
	if (SPI_processed == 1)
		agrees = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							   &isnull);
	if (isnull || !DatumGetBool(agrees))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\": refused a snapshot whose consenters or settings differ from the chain's configuration at block " INT64_FORMAT,
						channel, last_block)));
}

void
CatchupPullBlocks(const char *channel, const char *own_user,
				  const CatchupPeers *leaders, const CatchupPeers *members,
				  const raft_snapshot *snapshot, ChainHead *head, int timeout_ms)
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
	catchup_read_target(channel, snapshot, &target);
	catchup_read_consenters(snapshot, peers);
	for (int i = 0; i < members->n_peers; i++)
		CatchupAddPeer(peers, members->peers[i].node,
					   members->peers[i].conninfo);

	if (target.last_block <= head->last_block)
	{
		/* Nothing to pull; the caller checks the hash. */
		catchup_check_configuration(channel, snapshot, target.last_block);
		return;
	}

	deadline = TimestampTzPlusMilliseconds(OrderingClockNow(), timeout_ms);
	ereport(LOG,
			(errmsg("channel \"%s\": pulling blocks " INT64_FORMAT
					" to " INT64_FORMAT " covered by a snapshot",
					channel, head->last_block + 1, target.last_block)));

	/* Waiting on the latch below may eat a wakeup: the loop looks again. */
	SetLatch(MyLatch);
	for (int i = 0; i < peers->n_peers && OrderingClockNow() < deadline; i++)
	{
		if (catchup_try_peer(channel, own_user, head, &peers->peers[i],
							 &target, deadline, &last_error))
		{
			ereport(LOG,
					(errmsg("channel \"%s\": pulled blocks " INT64_FORMAT
							" to " INT64_FORMAT " from node %s",
							channel, start_block + 1, target.last_block,
							peers->peers[i].node)));
			SetLatch(MyLatch);
			catchup_check_configuration(channel, snapshot, target.last_block);
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
