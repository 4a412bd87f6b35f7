/*-------------------------------------------------------------------------
 *
 * channel_routing.c
 *	  Routing of transactions: a leader cuts them into batches and
 *	  proposes them, a follower forwards them to the leader, and while no
 *	  leader is known they are held.
 *
 * Every transaction submitted on this node is also kept as pending until
 * it is applied, so that it can be routed again when the leader changes or
 * a forward may have been lost; the leader's in-flight ids and apply-time
 * dedupe keep it ordered at most once.
 *
 * Backpressure: a leader whose uncommitted entries exceed the core's
 * max_uncommitted_bytes is refused new proposals (RAFT_ERR_BUSY).  Such a
 * batch is kept, in order, and proposed again as soon as entries commit;
 * batches cut meanwhile queue behind it, so the order of the cutter is
 * kept.  The queue is bounded: past it the leader takes no new
 * transactions (the nodes they were submitted on route them again, see
 * PENDING_REROUTE_MS), but never drops a batch it has cut.
 *
 * src/worker/channel_routing.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "common/entry.h"
#include "common/gucs.h"
#include "common/shmem.h"
#include "common/submit_waits.h"
#include "store/tx_places.h"
#include "worker/channel_internal.h"
#include "worker/transport.h"

/* Ids in flight older than this are forgotten (a safety net). */
#define INFLIGHT_MAX_AGE_MS (5 * 60 * 1000)
#define INFLIGHT_SWEEP_MS (10 * 1000)
typedef struct InflightId
{
	char tx_id[ORDERING_TX_ID_MAX]; /* hash key */
	TimestampTz added_at;
} InflightId;

/*
 * A transaction submitted on this node, kept until it is applied (or its
 * submitter has surely given up), so that it can be routed again when the
 * leader changes: a leader that crashed may have lost it.  Apply-time
 * dedupe keeps "at most once" whatever is routed twice.
 */
typedef struct PendingTx
{
	char tx_id[ORDERING_TX_ID_MAX]; /* hash key */
	char *payload;					/* in the channel's top_cxt */
	uint32 payload_len;
	int64 seq; /* routed again in this order: the order of submission */
	TimestampTz give_up_at; /* its submitter's, from the submit ring */
	TimestampTz routed_at;	/* last time it was routed */
} PendingTx;

/*
 * Forwards go to the leader in records of at most this many bytes (or one
 * transaction): the leader's peer queue takes a record only while the
 * bytes queued and it fit ordering.peer_buffer_size, so one record of a
 * whole iteration's forwards (tens of MB of large payloads) found no room
 * behind the Raft answers queued before it, was dropped, and its
 * transactions were routed again later, after newer ones.
 */
#define FORWARD_CHUNK_MAX_BYTES (4 * 1024 * 1024)
/* A forward buffer up to this size is kept for the next; larger, freed. */
#define FORWARD_BUF_KEEP_BYTES (64 * 1024)
/*
 * A forward the queue has no room for waits, and every later one behind
 * it, this long at most, and while the queue holds no more than the
 * pending map may (a reroute of all of it must fit); past that all are
 * dropped, and what was submitted here is routed again (pending).
 */
#define FORWARD_HOLD_MS 5000

typedef struct ForwardChunk
{
	char *data; /* a batch entry, in the channel's top_cxt */
	int len;
	uint32 count;
} ForwardChunk;

/*
 * The pending map is kept this long past its submitter's give-up time:
 * one that resubmits the same id at once finds it still routed.
 */
#define PENDING_GRACE_MS 5000

/*
 * A pending transaction not applied this long after it was last routed is
 * routed again, even without a leader change: the envelope that forwarded
 * it may have been dropped (a full queue, a broken connection).  The
 * leader's inflight ids and apply-time dedupe keep it ordered at most once.
 */
#define PENDING_REROUTE_MS 2000

/* Sets up the routing state of a new channel, in its top context. */
void
ChannelRoutingInit(Channel *ch)
{
	HASHCTL ctl;

	CutterInit(&ch->routing.cutter, ch->top_cxt);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ORDERING_TX_ID_MAX;
	ctl.entrysize = sizeof(InflightId);
	ctl.hcxt = ch->top_cxt;
	/*
	 * Sized for a quiet channel: they grow with the load, and sized for
	 * 1,024 entries they cost every one of hundreds of idle channels 24 kB.
	 */
	ch->routing.inflight_ids =
		hash_create("ordering inflight ids", 64, &ctl,
					HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.entrysize = sizeof(PendingTx);
	ch->routing.pending = hash_create("ordering pending transactions", 64, &ctl,
									  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ch->routing.forward_buf.data = NULL;
	ch->routing.forward_queue = NIL;
}

void
ChannelClearInflight(Channel *ch)
{
	HASH_SEQ_STATUS seq;
	InflightId *entry;

	hash_seq_init(&seq, ch->routing.inflight_ids);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(ch->routing.inflight_ids, entry->tx_id, HASH_REMOVE, NULL);
	CutterResetInflight(&ch->routing.cutter);
}

/* Appends the transactions of list to the held list (unbounded) and frees it. */
static void
channel_hold_all(Channel *ch, List *txs)
{
	ListCell *lc;
	MemoryContext old = MemoryContextSwitchTo(ch->routing.cutter.cxt);

	foreach(lc, txs)
	{
		CutterTx *tx = lfirst(lc);

		ch->routing.held = lappend(ch->routing.held, tx);
		ch->routing.held_bytes += tx->payload_len;
	}
	list_free(txs);
	MemoryContextSwitchTo(old);
}

/*
 * Moves what the leader has not proposed, the blocked batches and then the
 * cutter's pending transactions, to the held list, in order.
 */
void
ChannelHoldPending(Channel *ch)
{
	ListCell *lc;

	foreach(lc, ch->routing.blocked)
		channel_hold_all(ch, (List *) lfirst(lc));
	list_free(ch->routing.blocked);
	ch->routing.blocked = NIL;
	ch->routing.blocked_bytes = 0;
	channel_hold_all(ch, CutterTakeAll(&ch->routing.cutter));
	ChannelClearInflight(ch);
}

/* Holds a transaction until a leader is known; bounded. */
static void
channel_hold(Channel *ch, CutterTx *tx)
{
	MemoryContext old;

	if (ch->routing.held_bytes + tx->payload_len >
		(int64) ordering_submit_queue_kb * 1024)
	{
		ch->counters.proposal_failures++;
		ch->counters.status_dirty = true;
		elog(LOG,
			 "channel \"%s\" has no leader and too many held transactions: dropped %s",
			 ch->state.name, tx->tx_id);
		CutterTxFree(tx);
		return;
	}
	old = MemoryContextSwitchTo(ch->routing.cutter.cxt);
	ch->routing.held = lappend(ch->routing.held, tx);
	MemoryContextSwitchTo(old);
	ch->routing.held_bytes += tx->payload_len;
}

void
ChannelForgetInflight(Channel *ch, const char *tx_id)
{
	char key[ORDERING_TX_ID_MAX];

	strlcpy(key, tx_id, sizeof(key));
	hash_search(ch->routing.inflight_ids, key, HASH_REMOVE, NULL);
}

static int64
channel_batch_bytes(List *batch)
{
	ListCell *lc;
	int64 bytes = 0;

	foreach(lc, batch)
		bytes += ((CutterTx *) lfirst(lc))->payload_len;
	return bytes;
}

/* Encodes a batch as a Raft entry and proposes it; the core's answer. */
static int
channel_propose_entry(Channel *ch, List *batch)
{
	StringInfoData buf;
	ListCell *lc;
	int rc;

	initStringInfo(&buf);
	EntryBatchBegin(&buf);
	foreach(lc, batch)
	{
		CutterTx *tx = lfirst(lc);

		EntryBatchAdd(&buf, tx->tx_id, tx->payload, tx->payload_len);
	}
	EntryBatchFinish(&buf, list_length(batch));
	rc = raft_propose(ch->raft.node, (const uint8_t *) buf.data, buf.len);
	pfree(buf.data);
	if (rc == RAFT_OK)
		CutterNoteProposed(&ch->routing.cutter);
	return rc;
}

/* A refused batch (not for backpressure): its transactions are held again. */
static void
channel_proposal_failed(Channel *ch, List *batch, int rc)
{
	ListCell *lc;

	ch->counters.proposal_failures++;
	ch->counters.status_dirty = true;
	elog(DEBUG1, "channel \"%s\": proposal of %d transactions failed: %s",
		 ch->state.name, list_length(batch), raft_strerror(rc));
	foreach(lc, batch)
	{
		CutterTx *tx = lfirst(lc);

		ChannelForgetInflight(ch, tx->tx_id);
		channel_hold(ch, tx);
	}
	list_free(batch);
}

/* Queues a batch behind the blocked ones; it stays in flight. */
static void
channel_block(Channel *ch, List *batch)
{
	MemoryContext old = MemoryContextSwitchTo(ch->routing.cutter.cxt);

	if (ch->routing.blocked == NIL)
		elog(DEBUG1,
			 "channel \"%s\": too many uncommitted bytes, holding proposals",
			 ch->state.name);
	ch->routing.blocked = lappend(ch->routing.blocked, batch);
	ch->routing.blocked_bytes += channel_batch_bytes(batch);
	MemoryContextSwitchTo(old);
}

/*
 * Proposes one batch.  Behind blocked batches, or refused for
 * backpressure, it is blocked (kept in order); refused otherwise, its
 * transactions are held again.
 */
void
ChannelProposeBatch(Channel *ch, List *batch)
{
	int rc;

	if (batch == NIL)
		return;
	if (ch->routing.blocked != NIL)
	{
		channel_block(ch, batch);
		return;
	}
	rc = channel_propose_entry(ch, batch);
	if (rc == RAFT_OK)
		CutterBatchFree(batch);
	else if (rc == RAFT_ERR_BUSY)
		channel_block(ch, batch);
	else
		channel_proposal_failed(ch, batch, rc);
}

void
ChannelRetryBlocked(Channel *ch)
{
	while (ch->routing.blocked != NIL)
	{
		List *batch = (List *) linitial(ch->routing.blocked);
		int rc;

		if (!ChannelIsLeader(ch))
		{
			ChannelHoldPending(ch);
			return;
		}
		rc = channel_propose_entry(ch, batch);
		if (rc == RAFT_ERR_BUSY)
			return;
		ch->routing.blocked = list_delete_first(ch->routing.blocked);
		ch->routing.blocked_bytes -= channel_batch_bytes(batch);
		if (rc == RAFT_OK)
			CutterBatchFree(batch);
		else
			channel_proposal_failed(ch, batch, rc);
	}
	ch->routing.blocked_bytes = 0;
}

static void
channel_propose_batches(Channel *ch, List *batches)
{
	ListCell *lc;

	foreach(lc, batches)
		ChannelProposeBatch(ch, (List *) lfirst(lc));
	list_free(batches);
}

/*
 * Adaptive cutting: proposes what the cutter holds once few enough of this
 * leader's blocks are in flight.  Called after the iteration's submissions
 * and forwards are routed, and after each ready (blocks may have been
 * applied), so one cut takes everything that arrived meanwhile.
 */
void
ChannelCutIfReady(Channel *ch)
{
	if (ChannelIsLeader(ch) && ch->routing.blocked == NIL &&
		CutterShouldCut(&ch->routing.cutter))
		ChannelProposeBatch(ch, CutterCut(&ch->routing.cutter));
}

/*
 * Bytes of payload the pending map of one channel holds at most: twice
 * ordering.submit_queue_size.  A transaction past it is refused at once
 * (ChannelSubmit), never routed without a copy: a lost forward of it was
 * never sent again, and its submitter waited out its timeout (TAP 102:
 * eight payloads of 9 MiB in one call passed a fixed 64 MiB).
 */
static int64
pending_max_bytes(void)
{
	return (int64) ordering_submit_queue_kb * 1024 * 2;
}

static Size
forward_chunk_limit(void)
{
	return Min((Size) FORWARD_CHUNK_MAX_BYTES,
			   (Size) ordering_peer_buffer_kb * 1024 / 4);
}

/* Closes the forward being filled: it joins the queue, in order. */
static void
forward_close_chunk(Channel *ch)
{
	ForwardChunk *chunk;
	MemoryContext old;

	if (ch->routing.forward_count == 0)
		return;
	EntryBatchFinish(&ch->routing.forward_buf, ch->routing.forward_count);
	old = MemoryContextSwitchTo(ch->top_cxt);
	chunk = palloc(sizeof(ForwardChunk));
	chunk->data = ch->routing.forward_buf.data;
	chunk->len = ch->routing.forward_buf.len;
	chunk->count = ch->routing.forward_count;
	ch->routing.forward_queue = lappend(ch->routing.forward_queue, chunk);
	MemoryContextSwitchTo(old);
	ch->routing.forward_queue_bytes += chunk->len;
	ch->routing.forward_buf.data = NULL;
	ch->routing.forward_count = 0;
}

static void
forward_free_first(Channel *ch)
{
	ForwardChunk *chunk = linitial(ch->routing.forward_queue);

	ch->routing.forward_queue_bytes -= chunk->len;
	ch->routing.forward_queue = list_delete_first(ch->routing.forward_queue);
	pfree(chunk->data);
	pfree(chunk);
}

/* Empties the forward queue; returns how many transactions it held. */
static uint32
forward_discard(Channel *ch)
{
	uint32 dropped = 0;

	forward_close_chunk(ch);
	while (ch->routing.forward_queue != NIL)
	{
		dropped += ((ForwardChunk *) linitial(ch->routing.forward_queue))->count;
		forward_free_first(ch);
	}
	ch->routing.forward_stuck_since = 0;
	return dropped;
}

void
ChannelDropForwards(Channel *ch)
{
	uint32 dropped = forward_discard(ch);

	if (dropped > 0)
	{
		ch->counters.proposal_failures += dropped;
		ch->counters.status_dirty = true;
	}
}

/* Queues a transaction for the leader in this iteration's envelope. */
static void
channel_forward(Channel *ch, CutterTx *tx)
{
	if (ch->routing.forward_count > 0 &&
		ch->routing.forward_buf.len +
				EntryBatchTxSize(strlen(tx->tx_id), tx->payload_len) >
			forward_chunk_limit())
		forward_close_chunk(ch);
	if (ch->routing.forward_buf.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(ch->top_cxt);

		initStringInfo(&ch->routing.forward_buf);
		MemoryContextSwitchTo(old);
	}
	if (ch->routing.forward_count == 0)
		EntryBatchBegin(&ch->routing.forward_buf);
	EntryBatchAdd(&ch->routing.forward_buf, tx->tx_id, tx->payload,
				  tx->payload_len);
	ch->routing.forward_count++;
	CutterTxFree(tx);
}

/*
 * Where a transaction goes: the leader's cutter, the current leader (if
 * that is another node), or the held list while no leader is known.
 * Takes ownership of tx.
 */
void
ChannelRoute(Channel *ch, CutterTx *tx, TimestampTz now)
{
	/*
	 * Removed from the channel: no leader will ever take it from here.
	 * Held, its submitter waited for its whole timeout and was told it "may
	 * still be ordered".
	 */
	if (ch->state.removed)
	{
		OrderingSubmitWaitsRefuse(ordering_shared->submit_waits, ch->state.name,
								  tx->tx_id, ORDERING_WAIT_REFUSED);
		/*
		 * Refused is final: kept as pending, it was routed again once the
		 * node was added back, and ordered minutes after its submitter
		 * heard "cannot order".
		 */
		ChannelForgetPending(ch, tx->tx_id);
		/* Counted, not logged: nobody waits for what submit_tx_async left. */
		ch->counters.proposal_failures++;
		ch->counters.status_dirty = true;
		CutterTxFree(tx);
		return;
	}
	if (ChannelIsLeader(ch))
	{
		InflightId *entry;
		bool found;
		bool refused;
		char key[ORDERING_TX_ID_MAX];

		if (ch->routing.blocked_bytes > (int64) ordering_submit_queue_kb * 1024)
		{
			/* Backpressure: where it was submitted, it is routed again. */
			ch->counters.proposal_failures++;
			ch->counters.status_dirty = true;
			CutterTxFree(tx);
			return;
		}
		strlcpy(key, tx->tx_id, sizeof(key));
		entry = hash_search(ch->routing.inflight_ids, key, HASH_ENTER, &found);
		if (found)
		{
			/* Already pending or proposed: ordered at most once anyway. */
			CutterTxFree(tx);
			return;
		}
		entry->added_at = now;
		channel_propose_batches(ch,
								CutterOrdered(&ch->routing.cutter, tx, now,
											  &refused));
		if (refused)
		{
			hash_search(ch->routing.inflight_ids, key, HASH_REMOVE, NULL);
			ch->counters.proposal_failures++;
			ch->counters.status_dirty = true;
		}
	}
	else if (ChannelLeaderPeer(ch) != NULL)
		channel_forward(ch, tx);
	else
		channel_hold(ch, tx);
}

void
ChannelRerouteHeld(Channel *ch, TimestampTz now)
{
	List *held = ch->routing.held;
	ListCell *lc;

	if (held == NIL)
		return;
	if (!ch->state.removed &&
		(ch->raft.node == NULL || ch->raft.leader == RAFT_NONE))
		return;
	ch->routing.held = NIL;
	ch->routing.held_bytes = 0;
	foreach(lc, held)
		ChannelRoute(ch, (CutterTx *) lfirst(lc), now);
	list_free(held);
}

/* Keeps a copy of a submitted transaction; false if it does not fit. */
static bool
channel_remember_pending(Channel *ch, const SubmitRecord *record, TimestampTz now)
{
	char key[ORDERING_TX_ID_MAX];
	PendingTx *p;
	bool found;

	strlcpy(key, record->tx_id, sizeof(key));
	p = hash_search(ch->routing.pending, key, HASH_FIND, NULL);
	if (p != NULL)
	{
		/* The same id again: routed again, kept for the later submitter. */
		p->give_up_at = Max(p->give_up_at, record->give_up_at);
		return true;
	}
	if (ch->routing.pending_bytes + (int64) record->payload_len >
		pending_max_bytes())
		return false;
	p = hash_search(ch->routing.pending, key, HASH_ENTER, &found);
	p->payload = MemoryContextAlloc(ch->top_cxt, Max(record->payload_len, 1));
	memcpy(p->payload, record->payload, record->payload_len);
	p->payload_len = (uint32) record->payload_len;
	p->seq = ch->routing.pending_seq++;
	p->give_up_at = record->give_up_at;
	p->routed_at = now;
	ch->routing.pending_bytes += p->payload_len;
	return true;
}

void
ChannelForgetPending(Channel *ch, const char *tx_id)
{
	char key[ORDERING_TX_ID_MAX];
	PendingTx *p;

	strlcpy(key, tx_id, sizeof(key));
	p = hash_search(ch->routing.pending, key, HASH_FIND, NULL);
	if (p == NULL)
		return;
	ch->routing.pending_bytes -= p->payload_len;
	pfree(p->payload);
	hash_search(ch->routing.pending, key, HASH_REMOVE, NULL);
}

/*
 * Forgets the pending transactions that are on the chain: for blocks that
 * came by a snapshot, whose ids the apply path never saw.  Their copies
 * stayed until their submitters gave up, and filled the bound as if
 * unordered (TAP 102: a follower that caught up refused new payloads).
 */
void
ChannelForgetOrderedPending(Channel *ch)
{
	HASH_SEQ_STATUS seq;
	PendingTx *p;
	List *ids = NIL;
	List *ordered;
	ListCell *lc;

	hash_seq_init(&seq, ch->routing.pending);
	while ((p = hash_seq_search(&seq)) != NULL)
		ids = lappend(ids, pstrdup(p->tx_id));
	ordered = StoreTxOrderedAmong(ch->state.name, ids);
	foreach(lc, ordered)
		ChannelForgetPending(ch, (const char *) lfirst(lc));
	list_free(ordered);
	list_free_deep(ids);
}

static int
pending_seq_cmp(const void *a, const void *b)
{
	int64 x = (*(PendingTx *const *) a)->seq;
	int64 y = (*(PendingTx *const *) b)->seq;

	return (x > y) - (x < y);
}

/*
 * Routes pending transactions again: all of them when a new leader is
 * known (older_than_ms 0), else those routed longer ago than older_than_ms.
 */
void
ChannelReroutePending(Channel *ch, TimestampTz now, int older_than_ms)
{
	HASH_SEQ_STATUS seq;
	PendingTx *p;
	PendingTx **due;
	int n_due = 0;
	List *txs = NIL;
	ListCell *lc;
	TimestampTz cutoff = TimestampTzPlusMilliseconds(now, -older_than_ms);

	/* Collect first: routing may propose, which must not see a scan. */
	due = palloc(sizeof(PendingTx *) *
				 Max(hash_get_num_entries(ch->routing.pending), 1));
	hash_seq_init(&seq, ch->routing.pending);
	while ((p = hash_seq_search(&seq)) != NULL)
	{
		if (older_than_ms > 0 && p->routed_at > cutoff)
			continue;
		p->routed_at = now;
		due[n_due++] = p;
	}
	/* In the order they were submitted, not the hash table's. */
	qsort(due, n_due, sizeof(PendingTx *), pending_seq_cmp);
	/*
	 * All of them go to a new leader: forwards still queued (for the old
	 * one, or relayed for a node that routes its own again too) would only
	 * be sent twice, and could fill the queue past its bound.
	 */
	if (older_than_ms == 0)
		(void) forward_discard(ch);
	for (int i = 0; i < n_due; i++)
		txs = lappend(txs,
					  CutterTxMake(&ch->routing.cutter, due[i]->tx_id,
								   due[i]->payload, due[i]->payload_len));
	pfree(due);
	foreach(lc, txs)
		ChannelRoute(ch, (CutterTx *) lfirst(lc), now);
	list_free(txs);
}

/*
 * Drops pending transactions whose submitters have given up: at their own
 * sessions' submit_timeout, not the worker's (a session that waits a
 * minute on a server whose default is 30 s lost a forward dropped after
 * 35 s for good).
 */
static void
channel_sweep_pending(Channel *ch, TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	PendingTx *p;
	TimestampTz cutoff = TimestampTzPlusMilliseconds(now, -PENDING_GRACE_MS);

	hash_seq_init(&seq, ch->routing.pending);
	while ((p = hash_seq_search(&seq)) != NULL)
		if (p->give_up_at < cutoff)
		{
			ch->routing.pending_bytes -= p->payload_len;
			pfree(p->payload);
			hash_search(ch->routing.pending, p->tx_id, HASH_REMOVE, NULL);
		}
}

/*
 * A transaction submitted on this node (the submit ring): kept as pending
 * and routed, or, when the pending map is full, refused at once (its
 * submitter hears 53000 and may retry).
 */
void
ChannelSubmit(Channel *ch, const SubmitRecord *record, TimestampTz now)
{
	if (!channel_remember_pending(ch, record, now))
	{
		OrderingSubmitWaitsRefuse(ordering_shared->submit_waits, ch->state.name,
								  record->tx_id, ORDERING_WAIT_BUSY);
		ch->counters.proposal_failures++;
		ch->counters.status_dirty = true;
		return;
	}
	ChannelRoute(ch,
				 CutterTxMake(&ch->routing.cutter, record->tx_id,
							  record->payload, (uint32) record->payload_len),
				 now);
}

/*
 * Nothing queued: the open forward goes straight from its buffer, which a
 * small one keeps for the next (no allocation per iteration on a follower
 * that forwards); false if the queue had no room.
 */
static bool
forward_send_open(Channel *ch, const ChannelMember *leader)
{
	StringInfo buf = &ch->routing.forward_buf;

	EntryBatchFinish(buf, ch->routing.forward_count);
	if (!ChannelSend(ch, leader, ORDERING_RECORD_FORWARD_TX, buf->data, buf->len))
		return false;
	ch->routing.forward_count = 0;
	ch->routing.forward_stuck_since = 0;
	if (buf->maxlen > FORWARD_BUF_KEEP_BYTES)
	{
		pfree(buf->data);
		buf->data = NULL;
	}
	return true;
}

/*
 * Sends the forwards to the leader, in order, as long as its queue takes
 * them; the rest wait for the next flush (bounded: FORWARD_HOLD_*).
 */
void
ChannelFlush(Channel *ch, TimestampTz now)
{
	const ChannelMember *leader;

	if (ch->routing.forward_count == 0 && ch->routing.forward_queue == NIL)
		return;
	leader = ChannelLeaderPeer(ch);
	if (leader != NULL && ch->routing.forward_queue == NIL &&
		forward_send_open(ch, leader))
		return;
	forward_close_chunk(ch);
	while (leader != NULL && ch->routing.forward_queue != NIL)
	{
		ForwardChunk *chunk = linitial(ch->routing.forward_queue);

		if (!ChannelSend(ch, leader, ORDERING_RECORD_FORWARD_TX, chunk->data,
						 chunk->len))
			break;
		forward_free_first(ch);
		ch->routing.forward_stuck_since = 0;
	}
	if (ch->routing.forward_queue == NIL)
		return;
	if (ch->routing.forward_stuck_since == 0)
		ch->routing.forward_stuck_since = now;
	if (leader == NULL || ch->routing.forward_queue_bytes > pending_max_bytes() ||
		now - ch->routing.forward_stuck_since >= FORWARD_HOLD_MS * (int64) 1000)
		ChannelDropForwards(ch);
}

static void
channel_sweep_inflight(Channel *ch, TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	InflightId *entry;
	TimestampTz cutoff = TimestampTzPlusMilliseconds(now, -INFLIGHT_MAX_AGE_MS);

	hash_seq_init(&seq, ch->routing.inflight_ids);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->added_at < cutoff)
			hash_search(ch->routing.inflight_ids, entry->tx_id, HASH_REMOVE,
						NULL);
	ch->routing.last_sweep_at = now;
}

/*
 * On each tick: propose what backpressure blocked, route held transactions
 * once a leader is known, forget stale ids, and route again what a lost
 * forward may have dropped.
 */
void
ChannelRoutingTick(Channel *ch, TimestampTz now)
{
	if (ch->routing.blocked != NIL)
		ChannelRetryBlocked(ch);
	if (ch->routing.held != NIL)
		ChannelRerouteHeld(ch, now);
	if (now - ch->routing.last_sweep_at >= INFLIGHT_SWEEP_MS * (int64) 1000)
	{
		channel_sweep_inflight(ch, now);
		channel_sweep_pending(ch, now);
	}
	/*
	 * An empty table is not scanned: idle channels are many.  Not while
	 * forwards wait either: they hold what would be routed again.
	 */
	if (now - ch->routing.last_reroute_at >= 1000 * (int64) 1000 &&
		ch->raft.leader != RAFT_NONE && ch->routing.forward_queue == NIL &&
		hash_get_num_entries(ch->routing.pending) > 0)
	{
		ChannelReroutePending(ch, now, PENDING_REROUTE_MS);
		ch->routing.last_reroute_at = now;
	}
}
