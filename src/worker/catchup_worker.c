/*-------------------------------------------------------------------------
 *
 * catchup_worker.c
 *	  Pulling a snapshot's blocks in a background worker of its own.
 *
 * A node far behind gets a snapshot from the leader and must pull every
 * block it covers before it can install it (catchup.c).  Done inside the
 * channel's worker, a pull of 100,000 blocks stops every other channel of
 * the server for as long as it takes.  So when the snapshot is more than
 * CATCHUP_INLINE_MAX_BLOCKS ahead of the chain, the worker records the
 * request in ordering.catchups, starts a dynamic background worker for it
 * and parks the channel (no Raft node: it neither votes nor answers, as if
 * its server were slow).  The catch-up worker pulls and verifies the
 * blocks and installs the snapshot, all in one transaction, exactly what
 * the channel's worker would have done inline; then it exits and the
 * worker rebuilds the channel from its tables.  The leader, which resends
 * an unanswered snapshot, finds the node at the snapshot's index.
 *
 * The install checks, with the channel's rows locked, that the channel did
 * not apply the snapshot's index meanwhile; a second catch-up of the same
 * channel (after a worker restart) waits on the channel's catch-up lock for
 * the first and then finds the snapshot applied, or the request gone.
 * A failure leaves nothing behind but the request row with its error: the
 * rebuilt channel goes on with what it has and the leader's next snapshot
 * starts over.  With no background worker slot free, the pull is done
 * inline as before.
 *
 * src/worker/catchup_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "common/gucs.h"
#include "store/chain.h"
#include "store/direct.h"
#include "store/log.h"
#include "store/snapshot.h"
#include "store/spi.h"
#include "worker/catchup_worker.h"
#include "worker/channel_bgworker.h"


/* A request as the catch-up worker reads it back. */
typedef struct CatchupRequest
{
	raft_snapshot snapshot;
	char pull_as[ORDERING_NAME_MAX];
	CatchupPeers leaders;
} CatchupRequest;

static Datum
catchup_text_array(const char *const *items, int n)
{
	Datum *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(
		construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

void
CatchupRecordRequest(const char *channel, const char *pull_as,
					 const CatchupPeers *leaders, const raft_snapshot *snapshot,
					 int64 from_block, int64 to_block)
{
	Oid types[9] = { TEXTOID, INT8OID, INT8OID,		 BYTEAOID,	  INT8OID,
					 INT8OID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID };
	Datum values[9];
	const char *nodes[CATCHUP_MAX_PEERS];
	const char *conninfos[CATCHUP_MAX_PEERS];

	for (int i = 0; i < leaders->n_peers; i++)
	{
		nodes[i] = leaders->peers[i].node;
		conninfos[i] = leaders->peers[i].conninfo;
	}
	values[0] = CStringGetTextDatum(channel);
	values[1] = Int64GetDatum((int64) snapshot->meta.index);
	values[2] = Int64GetDatum((int64) snapshot->meta.term);
	values[3] = PointerGetDatum(StoreBytea(snapshot->data, snapshot->data_size));
	values[4] = Int64GetDatum(from_block);
	values[5] = Int64GetDatum(to_block);
	values[6] = CStringGetTextDatum(pull_as);
	values[7] = catchup_text_array(nodes, leaders->n_peers);
	values[8] = catchup_text_array(conninfos, leaders->n_peers);
	StoreQuery("INSERT INTO ordering.catchups AS c (channel, snapshot_index,"
			   " snapshot_term, snapshot_data, from_block, to_block, pull_as,"
			   " leader_nodes, leader_conninfos)"
			   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
			   " ON CONFLICT (channel) DO UPDATE SET"
			   " snapshot_index = $2, snapshot_term = $3, snapshot_data = $4,"
			   " from_block = $5, to_block = $6, pull_as = $7,"
			   " leader_nodes = $8, leader_conninfos = $9,"
			   " requested_at = now(), failed_at = NULL, last_error = NULL",
			   9, types, values, SPI_OK_INSERT);
}

void
CatchupForgetRequest(const char *channel)
{
	StoreQueryChannel("DELETE FROM ordering.catchups WHERE channel = $1",
					  channel, SPI_OK_DELETE);
}

BackgroundWorkerHandle *
CatchupWorkerStart(const char *channel, MemoryContext cxt)
{
	BackgroundWorkerHandle *handle =
		ChannelBgWorkerStart("OrderingCatchupMain", "ordering catch-up",
							 channel, 0, cxt);

	if (handle == NULL)
		ereport(LOG,
				(errmsg("channel \"%s\": no background worker slot is free for the catch-up; pulling inline",
						channel),
				 errhint("Raise max_worker_processes.")));
	return handle;
}

/* ----------------------------------------------------------------
 * The background worker
 * ----------------------------------------------------------------
 */

/* Reads the request back; false if there is none.  Its fields are bounded. */
static bool
catchup_read_request(const char *channel, CatchupRequest *req)
{
	HeapTuple tuple;
	TupleDesc desc;
	bool isnull;
	bytea *data;
	char *pull_as;

	StoreQueryChannel("SELECT snapshot_index, snapshot_term, snapshot_data, pull_as"
					  " FROM ordering.catchups WHERE channel = $1",
					  channel, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	memset(req, 0, sizeof(*req));
	req->snapshot.meta.index = (raft_index) StoreGetInt64(tuple, desc, 1);
	req->snapshot.meta.term = (raft_term) StoreGetInt64(tuple, desc, 2);
	data = DatumGetByteaPP(StoreGetColumn(tuple, desc, 3, BYTEAOID, &isnull));
	pull_as = SPI_getvalue(tuple, desc, 4);
	if (isnull || VARSIZE_ANY_EXHDR(data) > RAFT_WIRE_MAX_BYTES ||
		pull_as == NULL || strlen(pull_as) >= ORDERING_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the catch-up request of channel \"%s\" is malformed",
						channel)));
	req->snapshot.data_size = VARSIZE_ANY_EXHDR(data);
	req->snapshot.data = palloc(Max(req->snapshot.data_size, 1));
	memcpy(req->snapshot.data, VARDATA_ANY(data), req->snapshot.data_size);
	strlcpy(req->pull_as, pull_as, sizeof(req->pull_as));

	StoreQueryChannel("SELECT u.node, u.conninfo FROM ordering.catchups c,"
					  " unnest(c.leader_nodes, c.leader_conninfos) AS u(node, conninfo)"
					  " WHERE c.channel = $1",
					  channel, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *node =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *conninfo =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (node != NULL && conninfo != NULL &&
			strlen(node) < ORDERING_NAME_MAX &&
			strlen(conninfo) < ORDERING_CONNINFO_MAX)
			CatchupAddPeer(&req->leaders, node, conninfo);
	}
	return true;
}

/*
 * With the channel's rows locked: the snapshot must still be ahead of what
 * the channel applied.  Then it is installed as the channel's worker
 * would, and the durable term raised to the snapshot's (a log whose last
 * term is above the hard state's is refused on load; not having voted in
 * that term is true, as this node never reached it).
 */
static void
catchup_install(ChannelState *st, const raft_snapshot *snapshot)
{
	Oid types[2] = { TEXTOID, INT8OID };
	Datum values[2];
	int64 applied;

	values[0] = CStringGetTextDatum(st->name);
	values[1] = Int64GetDatum((int64) snapshot->meta.term);
	StoreLockChannel(st->name);
	StoreQueryChannel("SELECT applied_index FROM ordering.raft_state"
					  " WHERE channel = $1 FOR UPDATE",
					  st->name, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" has no Raft state", st->name)));
	applied = StoreGetInt64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (applied >= (int64) snapshot->meta.index)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("channel \"%s\" applied index " INT64_FORMAT
						" meanwhile: the snapshot at index " UINT64_FORMAT
						" is not needed",
						st->name, applied, (uint64) snapshot->meta.index)));
	StorePersistSnapshot(st, snapshot);
	StoreQuery("UPDATE ordering.raft_state"
			   " SET vote = CASE WHEN term < $2 THEN 0 ELSE vote END,"
			   " term = greatest(term, $2) WHERE channel = $1",
			   2, types, values, SPI_OK_UPDATE);
	CatchupForgetRequest(st->name);
}

/*
 * Takes the channel's catch-up lock until the transaction ends.  An
 * advisory lock tag whose fourth field no SQL function sets (they set 1
 * and 2): pg_advisory_xact_lock(28525, hashtext(channel)) was open to any
 * login role, which could hold it for good and keep the node from ever
 * catching the channel up (found by hostile testing).
 */
static void
catchup_lock(const char *channel)
{
	LOCKTAG tag;
	uint32 hash = DatumGetUInt32(
		hash_any((const unsigned char *) channel, strlen(channel)));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, ORDERING_CATCHUP_LOCK_CLASS, hash,
						 ORDERING_CATCHUP_LOCK_KIND);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* The test aid ordering.debug_hold_catchups: waits while it is on. */
static void
catchup_wait_while_held(void)
{
	while (ordering_debug_hold_catchups)
	{
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

static void
catchup_run(const char *channel)
{
	CatchupRequest req;
	ChannelState st;
	CatchupPeers members;

	catchup_wait_while_held();
	StoreBegin();
	catchup_lock(channel);
	/* A fresh snapshot: a catch-up we waited for may have done the work. */
	PopActiveSnapshot();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!catchup_read_request(channel, &req))
	{
		StoreCommit();
		return;
	}

	memset(&st, 0, sizeof(st));
	strlcpy(st.name, channel, sizeof(st.name));
	st.cxt = CurrentMemoryContext;
	StoreLoadConsenters(&st);
	StoreLoadChainHead(&st, NULL);
	memset(&members, 0, sizeof(members));
	for (int i = 0; i < st.n_members; i++)
		CatchupAddPeer(&members, st.members[i].node, st.members[i].conninfo);

	CatchupPullBlocks(channel, req.pull_as, &req.leaders, &members,
					  &req.snapshot, &st.chain, CATCHUP_BACKGROUND_TIMEOUT_MS);
	catchup_install(&st, &req.snapshot);
	StoreCommit();
	ereport(LOG,
			(errmsg("channel \"%s\": installed the snapshot at index " UINT64_FORMAT
					" (block " INT64_FORMAT ") in the background",
					channel, (uint64) req.snapshot.meta.index,
					st.chain.last_block)));
}

/* After a failure: the request row says why, for ordering.catchups. */
static void
catchup_record_failure(const char *channel, const char *message)
{
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2];

	values[0] = CStringGetTextDatum(channel);
	values[1] = CStringGetTextDatum(message);
	StoreBegin();
	StoreQuery("UPDATE ordering.catchups SET failed_at = now(),"
			   " last_error = $2 WHERE channel = $1",
			   2, types, values, SPI_OK_UPDATE);
	StoreCommit();
}

void
OrderingCatchupMain(Datum main_arg)
{
	char channel[ORDERING_NAME_MAX];
	MemoryContext cxt;

	ChannelBgWorkerAttach(main_arg, "ordering catch-up", channel, NULL);
	cxt = AllocSetContextCreate(TopMemoryContext, "ordering catch-up",
								ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		catchup_run(channel);
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		catchup_record_failure(channel, edata->message);
		proc_exit(1);
	}
	PG_END_TRY();
	proc_exit(0);
}
