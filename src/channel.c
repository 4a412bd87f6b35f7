/*-------------------------------------------------------------------------
 *
 * channel.c
 *	  The worker's runtime of one channel: Raft node, ready handling,
 *	  routing of submitted transactions, admin requests, status.
 *
 * A ready is handled in the order raft.h prescribes, with one worker
 * transaction doing the durable part:
 *
 *	1. persist snapshot, entries and hard state, and apply the committed
 *	   entries (blocks, consenters, applied index), in one transaction
 *	   committed with synchronous_commit = on;
 *	2. mirror the persisted log into the memory storage the core reads;
 *	3. send the messages (only now: they may depend on step 1);
 *	4. answer admin requests, wake waiting submitters, raft_advance().
 *
 * Applying committed entries in the persisting transaction is safe: a
 * committed entry is durable on a quorum whether or not this node has
 * applied it, and messages still leave only after the commit.
 *
 * Any ERROR while handling a channel leaves its Raft node out of step with
 * the tables, so the worker calls ChannelBreak(): the node is dropped and
 * rebuilt from the tables (ChannelLoad) after a backoff.  Other channels
 * are not affected.
 *
 * src/channel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "channel.h"
#include "entry.h"
#include "shmem.h"
#include "storage.h"
#include "transport.h"

/* Bounds of the rebuild backoff after an error. */
#define CHANNEL_BACKOFF_MIN_MS 1000
#define CHANNEL_BACKOFF_MAX_MS 30000

/* Ids in flight older than this are forgotten (a safety net). */
#define INFLIGHT_MAX_AGE_MS (5 * 60 * 1000)
#define INFLIGHT_SWEEP_MS (10 * 1000)
/* A follower's catch-up pull is bounded at 60 s (catchup.c); then some. */
#define CHANNEL_SNAPSHOT_ACK_TIMEOUT_MS (90 * 1000)

/* Byte limits the core is given (raft.h defaults). */
#define CHANNEL_MAX_SIZE_PER_MSG (1024 * 1024)
#define CHANNEL_MAX_INFLIGHT_MSGS 256
#define CHANNEL_MAX_COMMITTED_PER_READY (16 * 1024 * 1024)

typedef struct InflightId
{
	char		tx_id[ORDERING_TX_ID_MAX];	/* hash key */
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
	char		tx_id[ORDERING_TX_ID_MAX];	/* hash key */
	char	   *payload;		/* in the channel's top_cxt */
	uint32		payload_len;
	TimestampTz added_at;
	TimestampTz routed_at;		/* last time it was routed */
} PendingTx;

/* Bounds of the pending map: memory, and age past ordering.submit_timeout. */
#define PENDING_MAX_BYTES (64 * 1024 * 1024)
#define PENDING_GRACE_MS 5000

/*
 * A pending transaction not applied this long after it was last routed is
 * routed again, even without a leader change: the envelope that forwarded
 * it may have been dropped (a full queue, a broken connection).  The
 * leader's inflight ids and apply-time dedupe keep it ordered at most once.
 */
#define PENDING_REROUTE_MS 2000

static void channel_route(Channel *ch, CutterTx *tx, TimestampTz now);
static void channel_reroute_held(Channel *ch, TimestampTz now);
static void channel_note_snapshot_sent(Channel *ch, raft_id to);
static void channel_expire_snapshot_sends(Channel *ch, TimestampTz now);
static bool channel_start_handoff(Channel *ch, int slot, uint64 ticket);
static void channel_finish_handoff(Channel *ch, TimestampTz now);
static char *conf_change_context_json(const char *node, const char *conninfo);
static const ChannelMember *channel_peer_by_node(const Channel *ch,
												 const char *node);
static void channel_request_join(Channel *ch, const char *only_node,
								 TimestampTz now);
static void channel_push_genesis(Channel *ch, TimestampTz now);
static void channel_send_genesis(Channel *ch, const char *node,
								 const char *conninfo);

/* Joining: how often a silent member gets GENESIS, a JOIN_REQUEST repeats. */
#define CHANNEL_GENESIS_INTERVAL_MS 2000
#define CHANNEL_JOIN_REQUEST_INTERVAL_MS 1000
/* A member silent this long may have lost the channel (or never had it). */
#define CHANNEL_SILENT_MS 10000

/* ----------------------------------------------------------------
 * Membership
 * ----------------------------------------------------------------
 */

const ChannelMember *
ChannelMemberById(const Channel *ch, raft_id id)
{
	for (int i = 0; i < ch->n_members; i++)
		if (ch->members[i].id == id)
			return &ch->members[i];
	return NULL;
}

const ChannelMember *
ChannelMemberByNode(const Channel *ch, const char *node)
{
	for (int i = 0; i < ch->n_members; i++)
		if (strcmp(ch->members[i].node, node) == 0)
			return &ch->members[i];
	return NULL;
}

/* A member, or else an entry of the address book a joiner was given. */
const ChannelMember *
ChannelPeerById(const Channel *ch, raft_id id)
{
	const ChannelMember *m = ChannelMemberById(ch, id);

	if (m != NULL || id == RAFT_NONE)
		return m;
	for (int i = 0; i < ch->n_book; i++)
		if (ch->book[i].id == id)
			return &ch->book[i];
	return NULL;
}

static const ChannelMember *
channel_peer_by_node(const Channel *ch, const char *node)
{
	const ChannelMember *m = ChannelMemberByNode(ch, node);

	if (m != NULL)
		return m;
	for (int i = 0; i < ch->n_book; i++)
		if (strcmp(ch->book[i].node, node) == 0)
			return &ch->book[i];
	return NULL;
}

static const char *
channel_leader_name(const Channel *ch)
{
	const ChannelMember *m = ChannelPeerById(ch, ch->leader);

	return m != NULL ? m->node : "";
}

static bool
channel_is_leader(const Channel *ch)
{
	return ch->raft != NULL && ch->role == RAFT_LEADER;
}

/* ----------------------------------------------------------------
 * Creation, loading, breaking
 * ----------------------------------------------------------------
 */

Channel *
ChannelCreate(const char *name, int status_slot, MemoryContext parent)
{
	MemoryContext top_cxt;
	Channel    *ch;
	HASHCTL		ctl;

	top_cxt = AllocSetContextCreate(parent, "ordering channel",
									ALLOCSET_DEFAULT_SIZES);
	ch = MemoryContextAllocZero(top_cxt, sizeof(Channel));
	strlcpy(ch->name, name, sizeof(ch->name));
	ch->status_slot = status_slot;
	ch->top_cxt = top_cxt;
	ch->cxt = AllocSetContextCreate(top_cxt, "ordering channel state",
									ALLOCSET_SMALL_SIZES);
	CutterInit(&ch->cutter, top_cxt);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ORDERING_TX_ID_MAX;
	ctl.entrysize = sizeof(InflightId);
	ctl.hcxt = top_cxt;
	ch->inflight_ids = hash_create("ordering inflight ids", 1024, &ctl,
								   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.entrysize = sizeof(PendingTx);
	ch->pending = hash_create("ordering pending transactions", 1024, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	ch->forward_buf.data = NULL;
	ch->role = RAFT_FOLLOWER;
	ch->leader = RAFT_NONE;
	ch->backoff_ms = CHANNEL_BACKOFF_MIN_MS;
	ch->last_block = -1;
	return ch;
}

static void
channel_drop_raft(Channel *ch)
{
	if (ch->raft != NULL)
		raft_node_destroy(ch->raft);
	if (ch->storage != NULL)
		raft_memory_storage_destroy(ch->storage);
	ch->raft = NULL;
	ch->storage = NULL;
	ch->role = RAFT_FOLLOWER;
	ch->leader = RAFT_NONE;
}

static void
channel_clear_inflight(Channel *ch)
{
	HASH_SEQ_STATUS seq;
	InflightId *entry;

	hash_seq_init(&seq, ch->inflight_ids);
	while ((entry = hash_seq_search(&seq)) != NULL)
		hash_search(ch->inflight_ids, entry->tx_id, HASH_REMOVE, NULL);
}

/* Moves the cutter's pending transactions to the held list. */
static void
channel_hold_pending(Channel *ch)
{
	List	   *pending = CutterTakeAll(&ch->cutter);
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(ch->cutter.cxt);

	foreach(lc, pending)
	{
		CutterTx   *tx = lfirst(lc);

		ch->held = lappend(ch->held, tx);
		ch->held_bytes += tx->payload_len;
	}
	list_free(pending);
	MemoryContextSwitchTo(old);
	channel_clear_inflight(ch);
}

void
ChannelDestroy(Channel *ch)
{
	ChannelFailAdminWaits(ch, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						  "the channel was dropped");
	channel_drop_raft(ch);
	ChannelClearStatus(ch->status_slot);
	hash_destroy(ch->inflight_ids);
	MemoryContextDelete(ch->top_cxt);
}

static uint64
channel_seed(const Channel *ch)
{
	uint64		seed;

	seed = hash_bytes_extended((const unsigned char *) ch->name,
							   strlen(ch->name),
							   (uint64) GetCurrentTimestamp());
	seed ^= hash_bytes_extended((const unsigned char *) ordering_node_name,
								strlen(ordering_node_name), MyProcPid);
	return seed;
}

/*
 * (Re)builds the channel's Raft node from the tables, in its own
 * transaction.  ERROR if the channel is gone from the tables.
 */
void
ChannelLoad(Channel *ch)
{
	StorageRaftState state;
	raft_options options;
	bool		found;
	raft_id		own_id_before = RAFT_NONE;
	int			rc;

	/* A new node starts as a follower: pending work waits for a leader. */
	channel_hold_pending(ch);
	channel_drop_raft(ch);
	MemoryContextReset(ch->cxt);
	ch->settings_json = NULL;
	ch->n_members = 0;
	ch->self_id = RAFT_NONE;

	ch->storage = raft_memory_storage_create();
	if (ch->storage == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	StorageBegin();
	found = StorageLoadChannel(ch, &state);
	if (found && ch->genesis_doc == NULL)
	{
		char	   *doc = StorageGenesisDocument(ch);

		if (doc != NULL)
			ch->genesis_doc = MemoryContextStrdup(ch->top_cxt, doc);
	}
	if (found && ch->self_id == RAFT_NONE)
		own_id_before = StorageMaxOwnRaftId(ch);
	StorageCommit();
	state.snapshot.data = NULL; /* freed with the transaction; copied */
	state.snapshot.data_size = 0;

	if (!found)
	{
		channel_drop_raft(ch);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" does not exist", ch->name)));
	}

	CutterConfigure(&ch->cutter, ch->settings.max_message_count,
					ch->settings.preferred_max_bytes,
					ch->settings.absolute_max_bytes,
					ch->settings.batch_timeout_ms);
	ch->status_dirty = true;

	/*
	 * A joiner added after genesis: its id is in the address book.  An id
	 * this node had before and no longer has was removed: such a book is
	 * stale (a lagging peer's), and a re-added node gets a new id.
	 */
	if (ch->self_id == RAFT_NONE && !ch->removed)
	{
		const ChannelMember *me = channel_peer_by_node(ch, ordering_node_name);

		if (me != NULL && me->id > own_id_before)
			ch->self_id = me->id;
	}
	if (ch->removed)
		ch->self_id = RAFT_NONE;

	if (ch->self_id == RAFT_NONE)
	{
		/*
		 * Not (or no longer) a consenter: nothing to run.  Unless removed,
		 * ask the members for the address book (after a restart a joiner
		 * lost it), and look again later.
		 */
		channel_drop_raft(ch);
		if (!ch->removed)
			channel_request_join(ch, NULL, GetCurrentTimestamp());
		ch->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   CHANNEL_BACKOFF_MAX_MS);
		return;
	}

	memset(&options, 0, sizeof(options));
	options.id = ch->self_id;
	options.storage = raft_memory_storage_view(ch->storage);
	options.hard_state = state.hard_state;
	options.config = ch->config;
	options.applied = state.applied;
	options.seed = channel_seed(ch);
	options.election_tick = ch->settings.election_tick;
	options.heartbeat_tick = ch->settings.heartbeat_tick;
	options.max_size_per_msg = CHANNEL_MAX_SIZE_PER_MSG;
	options.max_inflight_msgs = CHANNEL_MAX_INFLIGHT_MSGS;
	options.max_committed_size_per_ready = CHANNEL_MAX_COMMITTED_PER_READY;

	rc = raft_node_create(&options, &ch->raft);
	if (rc != RAFT_OK)
	{
		ch->raft = NULL;
		channel_drop_raft(ch);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start the raft node of channel \"%s\": %s",
						ch->name, raft_strerror(rc))));
	}
	ch->term = state.hard_state.term;
	ch->commit_index = state.hard_state.commit;
	ch->next_tick_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   ordering_tick_interval_ms);

	/* A lone voter has nobody to wait for. */
	if (ch->config.n_voters == 1 && ch->config.voters[0] == ch->self_id)
	{
		rc = raft_campaign(ch->raft);
		if (rc != RAFT_OK)
			elog(LOG, "channel \"%s\": campaign failed: %s",
				 ch->name, raft_strerror(rc));
	}
	ch->last_error[0] = '\0';
	elog(DEBUG1, "channel \"%s\" loaded: raft id " UINT64_FORMAT ", applied " UINT64_FORMAT ", last block " INT64_FORMAT,
		 ch->name, (uint64) ch->self_id, (uint64) ch->applied_index,
		 ch->last_block);
}

/*
 * After an error: drop the Raft node (it may be ahead of the tables) and
 * schedule a rebuild.  Pending transactions are kept for the next leader.
 */
void
ChannelBreak(Channel *ch, const char *message)
{
	TimestampTz now = GetCurrentTimestamp();

	strlcpy(ch->last_error, message, sizeof(ch->last_error));
	channel_hold_pending(ch);
	channel_drop_raft(ch);
	ChannelFailAdminWaits(ch, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						  psprintf("channel \"%s\" failed: %s", ch->name,
								   message));
	if (ch->forward_buf.data != NULL)
		resetStringInfo(&ch->forward_buf);
	ch->forward_count = 0;
	ch->retry_at = TimestampTzPlusMilliseconds(now, ch->backoff_ms);
	ch->backoff_ms = Min(ch->backoff_ms * 2, CHANNEL_BACKOFF_MAX_MS);
	ch->status_dirty = true;
}

/* ----------------------------------------------------------------
 * Routing submitted transactions
 * ----------------------------------------------------------------
 */

/* Holds a transaction until a leader is known; bounded. */
static void
channel_hold(Channel *ch, CutterTx *tx)
{
	MemoryContext old;

	if (ch->held_bytes + tx->payload_len > (int64) ordering_submit_queue_kb * 1024)
	{
		ch->proposal_failures++;
		ch->status_dirty = true;
		elog(LOG, "channel \"%s\" has no leader and too many held transactions: dropped %s",
			 ch->name, tx->tx_id);
		CutterTxFree(tx);
		return;
	}
	old = MemoryContextSwitchTo(ch->cutter.cxt);
	ch->held = lappend(ch->held, tx);
	MemoryContextSwitchTo(old);
	ch->held_bytes += tx->payload_len;
}

static void
channel_forget_inflight(Channel *ch, const char *tx_id)
{
	char		key[ORDERING_TX_ID_MAX];

	strlcpy(key, tx_id, sizeof(key));
	hash_search(ch->inflight_ids, key, HASH_REMOVE, NULL);
}

/* Proposes one batch; on failure its transactions are held again. */
static void
channel_propose_batch(Channel *ch, List *batch)
{
	StringInfoData buf;
	ListCell   *lc;
	int			rc;

	if (batch == NIL)
		return;
	initStringInfo(&buf);
	EntryBatchBegin(&buf);
	foreach(lc, batch)
	{
		CutterTx   *tx = lfirst(lc);

		EntryBatchAdd(&buf, tx->tx_id, tx->payload, tx->payload_len);
	}
	EntryBatchFinish(&buf, list_length(batch));

	rc = raft_propose(ch->raft, (const uint8_t *) buf.data, buf.len);
	pfree(buf.data);
	if (rc == RAFT_OK)
	{
		CutterBatchFree(batch);
		return;
	}

	ch->proposal_failures++;
	ch->status_dirty = true;
	elog(DEBUG1, "channel \"%s\": proposal of %d transactions failed: %s",
		 ch->name, list_length(batch), raft_strerror(rc));
	foreach(lc, batch)
	{
		CutterTx   *tx = lfirst(lc);

		channel_forget_inflight(ch, tx->tx_id);
		channel_hold(ch, tx);
	}
	list_free(batch);
}

static void
channel_propose_batches(Channel *ch, List *batches)
{
	ListCell   *lc;

	foreach(lc, batches)
		channel_propose_batch(ch, (List *) lfirst(lc));
	list_free(batches);
}

/* Queues a transaction for the leader in this iteration's envelope. */
static void
channel_forward(Channel *ch, CutterTx *tx)
{
	if (ch->forward_buf.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(ch->top_cxt);

		initStringInfo(&ch->forward_buf);
		MemoryContextSwitchTo(old);
	}
	if (ch->forward_count == 0)
		EntryBatchBegin(&ch->forward_buf);
	EntryBatchAdd(&ch->forward_buf, tx->tx_id, tx->payload, tx->payload_len);
	ch->forward_count++;
	CutterTxFree(tx);
}

/*
 * Where a transaction goes: the leader's cutter, the current leader (if
 * that is another node), or the held list while no leader is known.
 * Takes ownership of tx.
 */
static void
channel_route(Channel *ch, CutterTx *tx, TimestampTz now)
{
	if (channel_is_leader(ch))
	{
		InflightId *entry;
		bool		found;
		bool		refused;
		char		key[ORDERING_TX_ID_MAX];

		strlcpy(key, tx->tx_id, sizeof(key));
		entry = hash_search(ch->inflight_ids, key, HASH_ENTER, &found);
		if (found)
		{
			/* Already pending or proposed: ordered at most once anyway. */
			CutterTxFree(tx);
			return;
		}
		entry->added_at = now;
		channel_propose_batches(ch, CutterOrdered(&ch->cutter, tx, now,
												  &refused));
		if (refused)
		{
			hash_search(ch->inflight_ids, key, HASH_REMOVE, NULL);
			ch->proposal_failures++;
			ch->status_dirty = true;
		}
	}
	else if (ch->raft != NULL && ch->leader != RAFT_NONE &&
			 ChannelPeerById(ch, ch->leader) != NULL)
		channel_forward(ch, tx);
	else
		channel_hold(ch, tx);
}

static void
channel_reroute_held(Channel *ch, TimestampTz now)
{
	List	   *held = ch->held;
	ListCell   *lc;

	if (held == NIL)
		return;
	if (ch->raft == NULL || ch->leader == RAFT_NONE)
		return;
	ch->held = NIL;
	ch->held_bytes = 0;
	foreach(lc, held)
		channel_route(ch, (CutterTx *) lfirst(lc), now);
	list_free(held);
}

static void
channel_remember_pending(Channel *ch, const char *tx_id, const char *payload,
						 uint32 payload_len, TimestampTz now)
{
	char		key[ORDERING_TX_ID_MAX];
	PendingTx  *p;
	bool		found;

	if (ch->pending_bytes + payload_len > PENDING_MAX_BYTES)
		return;					/* routed once only; the submitter may retry */
	strlcpy(key, tx_id, sizeof(key));
	p = hash_search(ch->pending, key, HASH_ENTER, &found);
	if (found)
		return;
	p->payload = MemoryContextAlloc(ch->top_cxt, Max(payload_len, 1));
	memcpy(p->payload, payload, payload_len);
	p->payload_len = payload_len;
	p->added_at = now;
	p->routed_at = now;
	ch->pending_bytes += payload_len;
}

static void
channel_forget_pending(Channel *ch, const char *tx_id)
{
	char		key[ORDERING_TX_ID_MAX];
	PendingTx  *p;

	strlcpy(key, tx_id, sizeof(key));
	p = hash_search(ch->pending, key, HASH_FIND, NULL);
	if (p == NULL)
		return;
	ch->pending_bytes -= p->payload_len;
	pfree(p->payload);
	hash_search(ch->pending, key, HASH_REMOVE, NULL);
}

/*
 * Routes pending transactions again: all of them when a new leader is
 * known (older_than_ms 0), else those routed longer ago than older_than_ms.
 */
static void
channel_reroute_pending(Channel *ch, TimestampTz now, int older_than_ms)
{
	HASH_SEQ_STATUS seq;
	PendingTx  *p;
	List	   *txs = NIL;
	ListCell   *lc;
	TimestampTz cutoff = TimestampTzPlusMilliseconds(now, -older_than_ms);

	/* Collect first: routing may propose, which must not see a scan. */
	hash_seq_init(&seq, ch->pending);
	while ((p = hash_seq_search(&seq)) != NULL)
	{
		if (older_than_ms > 0 && p->routed_at > cutoff)
			continue;
		p->routed_at = now;
		txs = lappend(txs, CutterTxMake(&ch->cutter, p->tx_id, p->payload,
										p->payload_len));
	}
	foreach(lc, txs)
		channel_route(ch, (CutterTx *) lfirst(lc), now);
	list_free(txs);
}

/* Drops pending transactions whose submitters have given up long ago. */
static void
channel_sweep_pending(Channel *ch, TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	PendingTx  *p;
	TimestampTz cutoff = TimestampTzPlusMilliseconds(now,
													 -(ordering_submit_timeout_ms + PENDING_GRACE_MS));

	hash_seq_init(&seq, ch->pending);
	while ((p = hash_seq_search(&seq)) != NULL)
		if (p->added_at < cutoff)
		{
			ch->pending_bytes -= p->payload_len;
			pfree(p->payload);
			hash_search(ch->pending, p->tx_id, HASH_REMOVE, NULL);
		}
}

/* A transaction submitted on this node (the submit ring). */
void
ChannelSubmit(Channel *ch, const char *tx_id, const char *payload,
			  uint32 payload_len, TimestampTz now)
{
	channel_remember_pending(ch, tx_id, payload, payload_len, now);
	channel_route(ch, CutterTxMake(&ch->cutter, tx_id, payload, payload_len),
				  now);
}

/* Sends this iteration's forwarded transactions to the leader. */
void
ChannelFlush(Channel *ch, TimestampTz now)
{
	const ChannelMember *leader;

	if (ch->forward_count == 0)
		return;
	EntryBatchFinish(&ch->forward_buf, ch->forward_count);
	leader = ChannelPeerById(ch, ch->leader);
	if (leader == NULL ||
		!TransportSend(leader->node, leader->conninfo, ch->name,
					   ORDERING_RECORD_FORWARD_TX, ch->forward_buf.data,
					   ch->forward_buf.len))
	{
		ch->proposal_failures += ch->forward_count;
		ch->status_dirty = true;
	}
	resetStringInfo(&ch->forward_buf);
	ch->forward_count = 0;
	/* Keep a huge forward from pinning memory for the channel's lifetime. */
	if (ch->forward_buf.maxlen > 1024 * 1024)
	{
		pfree(ch->forward_buf.data);
		ch->forward_buf.data = NULL;
	}
}

static void
channel_sweep_inflight(Channel *ch, TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	InflightId *entry;
	TimestampTz cutoff = TimestampTzPlusMilliseconds(now, -INFLIGHT_MAX_AGE_MS);

	hash_seq_init(&seq, ch->inflight_ids);
	while ((entry = hash_seq_search(&seq)) != NULL)
		if (entry->added_at < cutoff)
			hash_search(ch->inflight_ids, entry->tx_id, HASH_REMOVE, NULL);
	ch->last_sweep_at = now;
}

/* ----------------------------------------------------------------
 * Time
 * ----------------------------------------------------------------
 */

/*
 * Leader: a learner whose log has caught up with the commit index becomes
 * a voter ("promote n4").  One change at a time: the core refuses while
 * another is pending, and we simply try again on a later tick.
 */
static void
channel_maybe_promote(Channel *ch)
{
	raft_status *status;

	if (!channel_is_leader(ch) || ch->config.n_learners == 0)
		return;
	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft, status);
	for (uint32 i = 0; i < status->n_progress; i++)
	{
		const raft_progress_status *p = &status->progress[i];
		const ChannelMember *m = ChannelMemberById(ch, p->id);
		raft_conf_change cc;
		char	   *context;
		int			rc;

		if (!p->is_learner || m == NULL || p->match < status->hard_state.commit)
			continue;
		memset(&cc, 0, sizeof(cc));
		cc.type = RAFT_CONF_ADD_VOTER;
		cc.node = p->id;
		context = conf_change_context_json(m->node, m->conninfo);
		cc.context = (const uint8_t *) context;
		cc.context_size = strlen(context);
		rc = raft_propose_conf_change(ch->raft, &cc);
		if (rc == RAFT_OK)
			elog(LOG, "channel \"%s\": promoting learner %s to voter",
				 ch->name, m->node);
		break;
	}
	pfree(status);
}

void
ChannelTick(Channel *ch, TimestampTz now)
{
	if (ch->raft == NULL)
		return;
	if (now >= ch->next_tick_at)
	{
		raft_tick(ch->raft);
		ch->next_tick_at = TimestampTzPlusMilliseconds(now,
													   ordering_tick_interval_ms);
		if (ch->held != NIL)
			channel_reroute_held(ch, now);
		if (now - ch->last_sweep_at >= INFLIGHT_SWEEP_MS * (int64) 1000)
		{
			channel_sweep_inflight(ch, now);
			channel_sweep_pending(ch, now);
		}
		if (now - ch->last_reroute_at >= 1000 * (int64) 1000 &&
			ch->leader != RAFT_NONE)
		{
			channel_reroute_pending(ch, now, PENDING_REROUTE_MS);
			ch->last_reroute_at = now;
		}
		channel_maybe_promote(ch);
		channel_push_genesis(ch, now);
		channel_expire_snapshot_sends(ch, now);
		channel_finish_handoff(ch, now);
	}
	if (channel_is_leader(ch) && CutterTimedOut(&ch->cutter, now))
		channel_propose_batch(ch, CutterCut(&ch->cutter));
}

long
ChannelNextTimeoutMs(const Channel *ch, TimestampTz now)
{
	long		timeout;

	if (ch->raft == NULL)
		return Max(TimestampDifferenceMilliseconds(now, ch->retry_at), 0);
	if (raft_has_ready(ch->raft) || ch->forward_count > 0)
		return 0;
	timeout = TimestampDifferenceMilliseconds(now, ch->next_tick_at);
	if (channel_is_leader(ch))
	{
		long		batch = CutterTimeoutMs(&ch->cutter, now);

		if (batch >= 0 && batch < timeout)
			timeout = batch;
	}
	return Max(timeout, 0);
}

/* ----------------------------------------------------------------
 * Messages from peers
 * ----------------------------------------------------------------
 */

/* ----------------------------------------------------------------
 * Joining
 * ----------------------------------------------------------------
 */

bool
ChannelBookHasSelf(int n_book, const ChannelMember *book)
{
	for (int i = 0; i < n_book; i++)
		if (strcmp(book[i].node, ordering_node_name) == 0)
			return true;
	return false;
}

/* Keeps a copy of the consenters a GENESIS record named. */
void
ChannelSetAddressBook(Channel *ch, int n_book, const ChannelMember *book)
{
	for (int i = 0; i < ch->n_book; i++)
		pfree(ch->book[i].conninfo);
	ch->n_book = 0;
	for (int i = 0; i < n_book && i < RAFT_MAX_MEMBERS; i++)
	{
		ch->book[i] = book[i];
		ch->book[i].conninfo = MemoryContextStrdup(ch->top_cxt,
												   book[i].conninfo);
		ch->n_book++;
	}
}

static void
channel_note_heard(Channel *ch, raft_id id, TimestampTz now)
{
	for (int i = 0; i < ch->n_heard; i++)
		if (ch->heard[i] == id)
		{
			ch->heard_at[i] = now;
			return;
		}
	if (ch->n_heard < lengthof(ch->heard))
	{
		ch->heard[ch->n_heard] = id;
		ch->heard_at[ch->n_heard] = now;
		ch->n_heard++;
	}
}

/* Heard from id on this channel within CHANNEL_SILENT_MS? */
static bool
channel_heard_from(const Channel *ch, raft_id id, TimestampTz now)
{
	for (int i = 0; i < ch->n_heard; i++)
		if (ch->heard[i] == id)
			return now - ch->heard_at[i] < CHANNEL_SILENT_MS * (int64) 1000;
	return false;
}

/*
 * GENESIS: {"genesis": "<block 0's document>", "consenters": {current
 * consenters}}; the receiver creates the channel from the document and
 * keeps the consenters as its address book.
 */
static void
channel_send_genesis(Channel *ch, const char *node, const char *conninfo)
{
	StringInfoData buf;

	if (ch->genesis_doc == NULL)
		return;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"genesis\": ");
	escape_json(&buf, ch->genesis_doc);
	appendStringInfoString(&buf, ", \"consenters\": {");
	for (int i = 0; i < ch->n_members; i++)
	{
		const ChannelMember *m = &ch->members[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, m->node);
		appendStringInfo(&buf, ": {\"id\": " UINT64_FORMAT ", \"conninfo\": ",
						 (uint64) m->id);
		escape_json(&buf, m->conninfo);
		appendStringInfo(&buf, ", \"learner\": %s}",
						 m->is_learner ? "true" : "false");
	}
	appendStringInfoString(&buf, "}}");
	(void) TransportSend(node, conninfo, ch->name, ORDERING_RECORD_GENESIS,
						 buf.data, buf.len);
	pfree(buf.data);
}

/*
 * Asks for the channel's genesis and address book: from only_node if
 * given, else from every member (at most once a second).
 */
static void
channel_request_join(Channel *ch, const char *only_node, TimestampTz now)
{
	if (now < ch->next_join_request_at)
		return;
	ch->next_join_request_at =
		TimestampTzPlusMilliseconds(now, CHANNEL_JOIN_REQUEST_INTERVAL_MS);
	for (int i = 0; i < ch->n_members; i++)
	{
		const ChannelMember *m = &ch->members[i];

		if (strcmp(m->node, ordering_node_name) == 0 ||
			(only_node != NULL && strcmp(m->node, only_node) != 0))
			continue;
		(void) TransportSend(m->node, m->conninfo, ch->name,
							 ORDERING_RECORD_JOIN_REQUEST, NULL, 0);
	}
}

/*
 * A node that may have to bring the others in (the leader, or anybody
 * while there is none, e.g. right after create_channel) pushes GENESIS to
 * the members it has not heard from on this channel lately: they may not
 * have the channel (new, or dropped) and may not even know our conninfo
 * to ask.  A node that has the channel ignores it.
 */
static void
channel_push_genesis(Channel *ch, TimestampTz now)
{
	if (now < ch->next_genesis_at ||
		(ch->leader != RAFT_NONE && !channel_is_leader(ch)))
		return;
	ch->next_genesis_at = TimestampTzPlusMilliseconds(now,
													  CHANNEL_GENESIS_INTERVAL_MS);
	for (int i = 0; i < ch->n_members; i++)
	{
		const ChannelMember *m = &ch->members[i];

		if (m->id == ch->self_id || channel_heard_from(ch, m->id, now))
			continue;
		channel_send_genesis(ch, m->node, m->conninfo);
	}
}

/* Takes a GENESIS record for this existing channel. */
static void
channel_receive_genesis(Channel *ch, const char *from_node, const char *data,
						Size len)
{
	ChannelMember *book = palloc0(sizeof(ChannelMember) * RAFT_MAX_MEMBERS);
	int			n_book = 0;
	MemoryContext cxt = CurrentMemoryContext;	/* outlives the transaction */

	StorageBegin();
	(void) StorageParseGenesisRecord(data, len, &n_book, book, cxt);
	StorageCommit();

	if (!ChannelBookHasSelf(n_book, book))
	{
		/*
		 * Our leader tells us its configuration no longer has us: we were
		 * removed but will never get the entry that says so.  Stop.
		 */
		if (ch->raft != NULL && ch->leader != RAFT_NONE &&
			strcmp(channel_leader_name(ch), from_node) == 0)
		{
			elog(LOG, "channel \"%s\": node %s says this node is no longer a consenter",
				 ch->name, from_node);
			StorageBegin();
			StorageSetRemoved(ch, true);
			StorageCommit();
			ChannelLoad(ch);
		}
		return;
	}
	if (ch->removed)
	{
		/* Added again. */
		StorageBegin();
		StorageSetRemoved(ch, false);
		StorageCommit();
	}
	ChannelSetAddressBook(ch, n_book, book);
	/*
	 * Only a node waiting for its address book starts over now; a broken
	 * channel keeps its backoff.
	 */
	if (ch->raft == NULL && ch->self_id == RAFT_NONE)
	{
		elog(LOG, "channel \"%s\": joining with the consenters known to node %s",
			 ch->name, from_node);
		ChannelLoad(ch);
	}
}

void
ChannelReceive(Channel *ch, const char *from_node, int kind,
			   const char *data, Size len, TimestampTz now)
{
	switch (kind)
	{
		case ORDERING_RECORD_RAFT:
			{
				raft_message msg;
				int			rc;

				if (ch->raft == NULL)
				{
					/* Somebody runs the channel with us: ask to join. */
					if (!ch->removed)
						channel_request_join(ch, from_node, now);
					return;
				}
				rc = raft_message_decode((const uint8_t *) data, len, &msg);
				if (rc != RAFT_OK)
				{
					elog(LOG, "channel \"%s\": malformed raft message from node \"%s\": %s",
						 ch->name, from_node, raft_strerror(rc));
					return;
				}
				if (msg.to == ch->self_id)
				{
					channel_note_heard(ch, msg.from, now);
					rc = raft_step(ch->raft, &msg);
					if (rc != RAFT_OK)
						elog(DEBUG1, "channel \"%s\": step of a message from \"%s\": %s",
							 ch->name, from_node, raft_strerror(rc));
				}
				raft_message_free(&msg);
				break;
			}
		case ORDERING_RECORD_FORWARD_TX:
			{
				uint32		n_txs;
				EntryTx    *txs;

				txs = EntryBatchDecode((const uint8 *) data, len, &n_txs);
				/* The forwarding node keeps them pending, not us. */
				for (uint32 i = 0; i < n_txs; i++)
					channel_route(ch, CutterTxMake(&ch->cutter, txs[i].tx_id,
												   txs[i].payload,
												   txs[i].payload_len),
								  now);
				break;
			}
		case ORDERING_RECORD_JOIN_REQUEST:
			{
				const ChannelMember *m = ChannelMemberByNode(ch, from_node);

				/* Only consenters (voters or learners) get the channel. */
				if (m != NULL && ch->raft != NULL && m->id != ch->self_id)
					channel_send_genesis(ch, m->node, m->conninfo);
				break;
			}
		case ORDERING_RECORD_GENESIS:
			channel_receive_genesis(ch, from_node, data, len);
			break;
		default:
			elog(DEBUG1, "channel \"%s\": ignored a record of kind %d from node \"%s\"",
				 ch->name, kind, from_node);
			break;
	}
}

/* ----------------------------------------------------------------
 * Admin requests
 * ----------------------------------------------------------------
 */

void
ChannelAnswerAdmin(int slot, uint64 ticket, int sqlstate, const char *message,
				   int64 block)
{
	OrderingAdminRequest *req = &ordering_shared->admin[slot];

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	/* A backend that gave up sets ticket to 0: drop the answer then. */
	if (req->ticket == ticket && req->state == ORDERING_ADMIN_WORKING)
	{
		req->result_sqlstate = sqlstate;
		strlcpy(req->result_message, message ? message : "",
				sizeof(req->result_message));
		req->result_block = block;
		req->state = ORDERING_ADMIN_DONE;
	}
	LWLockRelease(&ordering_shared->lock);
	ConditionVariableBroadcast(&ordering_shared->admin_cv);
}

void
ChannelFailAdminWaits(Channel *ch, int sqlstate, const char *message)
{
	for (int i = 0; i < ch->n_admin_waits; i++)
		ChannelAnswerAdmin(ch->admin_waits[i].slot, ch->admin_waits[i].ticket,
						   sqlstate, message, -1);
	ch->n_admin_waits = 0;
	if (ch->handoff_pending)
		ChannelAnswerAdmin(ch->handoff_slot, ch->handoff_ticket,
						   sqlstate, message, -1);
	ch->handoff_pending = false;
}

/* Answers the admin request (if any) waiting for entry. */
static void
channel_answer_applied(Channel *ch, const raft_entry *entry, int64 block)
{
	for (int i = 0; i < ch->n_admin_waits; i++)
	{
		ChannelAdminWait *w = &ch->admin_waits[i];

		if (w->index != entry->index)
			continue;
		if (w->term == entry->term)
			ChannelAnswerAdmin(w->slot, w->ticket, 0, NULL, block);
		else
			ChannelAnswerAdmin(w->slot, w->ticket,
							   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							   "the leader changed before the change was committed; retry",
							   -1);
		ch->admin_waits[i] = ch->admin_waits[--ch->n_admin_waits];
		i--;
	}
}

static char *
conf_change_context_json(const char *node, const char *conninfo)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"node\": ");
	escape_json(&buf, node);
	appendStringInfoString(&buf, ", \"conninfo\": ");
	escape_json(&buf, conninfo);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static raft_id
channel_new_raft_id(Channel *ch)
{
	raft_id		max_id;

	StorageBegin();
	max_id = StorageMaxRaftIdEver(ch);
	StorageCommit();
	return max_id + 1;
}

/*
 * Leader: why a membership change cannot be proposed now, or NULL.  One
 * change at a time: a learner not yet promoted is still part of the last
 * change (the core refuses a second unapplied change itself); only its
 * own removal is allowed, for a learner that never catches up.  A removal
 * must leave a quorum of voters that were recently active (the leader
 * counts itself), or the channel would stop.
 */
static char *
channel_check_membership_change(Channel *ch, int kind,
								const ChannelMember *target)
{
	raft_status *status;
	int			remaining = 0;
	int			active = 0;

	for (int i = 0; i < ch->n_members; i++)
		if (ch->members[i].is_learner &&
			!(kind == ORDERING_ADMIN_REMOVE_CONSENTER &&
			  target->id == ch->members[i].id))
			return psprintf("a membership change is already in progress on channel %s: node %s is a learner not yet promoted",
							ch->name, ch->members[i].node);
	if (kind != ORDERING_ADMIN_REMOVE_CONSENTER)
		return NULL;

	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft, status);
	for (uint32 v = 0; v < status->config.n_voters; v++)
	{
		raft_id		id = status->config.voters[v];

		if (id == target->id)
			continue;
		remaining++;
		if (id == ch->self_id)
		{
			active++;
			continue;
		}
		for (uint32 i = 0; i < status->n_progress; i++)
			if (status->progress[i].id == id && status->progress[i].recent_active)
			{
				active++;
				break;
			}
	}
	pfree(status);
	if (remaining == 0)
		return psprintf("cannot remove node %s: it is the last voter of channel %s",
						target->node, ch->name);
	if (active < remaining / 2 + 1)
		return psprintf("cannot remove node %s: only %d of the %d remaining voters of channel %s are active, fewer than a quorum",
						target->node, active, remaining, ch->name);
	return NULL;
}

/*
 * Takes an admin request (its slot is WORKING) and proposes it, or answers
 * it at once when it cannot be proposed here.
 */
void
ChannelTakeAdminRequest(Channel *ch, int slot,
						const OrderingAdminRequest *req)
{
	const ChannelMember *m = NULL;
	raft_status status;
	int			rc = RAFT_OK;

	if (!channel_is_leader(ch))
	{
		char	   *message;

		if (ch->raft != NULL && ch->leader != RAFT_NONE)
			message = psprintf("node %s is not the leader of channel %s; the leader is %s",
							   ordering_node_name, ch->name,
							   channel_leader_name(ch));
		else
			message = psprintf("channel %s has no leader", ch->name);
		ChannelAnswerAdmin(slot, req->ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   message, -1);
		return;
	}
	if (req->kind != ORDERING_ADMIN_UPDATE_CONFIG)
	{
		m = ChannelMemberByNode(ch, req->node);
		if (m == NULL && req->kind != ORDERING_ADMIN_ADD_CONSENTER)
		{
			ChannelAnswerAdmin(slot, req->ticket, ERRCODE_UNDEFINED_OBJECT,
							   psprintf("node %s is not a consenter of channel %s",
										req->node, ch->name), -1);
			return;
		}
		if (m != NULL && req->kind == ORDERING_ADMIN_ADD_CONSENTER)
		{
			ChannelAnswerAdmin(slot, req->ticket, ERRCODE_DUPLICATE_OBJECT,
							   psprintf("node %s is already a consenter of channel %s",
										req->node, ch->name), -1);
			return;
		}
	}
	if (req->kind == ORDERING_ADMIN_ADD_CONSENTER ||
		req->kind == ORDERING_ADMIN_REMOVE_CONSENTER)
	{
		char	   *refusal = channel_check_membership_change(ch, req->kind, m);

		if (refusal != NULL)
		{
			ChannelAnswerAdmin(slot, req->ticket,
							   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							   refusal, -1);
			return;
		}
	}
	if (req->kind != ORDERING_ADMIN_TRANSFER_LEADER &&
		ch->n_admin_waits >= CHANNEL_MAX_ADMIN_WAITS)
	{
		ChannelAnswerAdmin(slot, req->ticket, ERRCODE_INSUFFICIENT_RESOURCES,
						   "too many pending admin requests", -1);
		return;
	}

	if (req->kind == ORDERING_ADMIN_REMOVE_CONSENTER &&
		m->id == ch->self_id && channel_start_handoff(ch, slot, req->ticket))
		return;

	switch (req->kind)
	{
		case ORDERING_ADMIN_UPDATE_CONFIG:
			{
				char	   *merged;
				StringInfoData buf;

				StorageBegin();
				merged = StorageMergeSettings(ch->settings_json, req->arg);
				StorageCommit();
				initStringInfo(&buf);
				EntrySettingsEncode(&buf, merged);
				rc = raft_propose(ch->raft, (const uint8_t *) buf.data, buf.len);
				break;
			}
		case ORDERING_ADMIN_ADD_CONSENTER:
		case ORDERING_ADMIN_REMOVE_CONSENTER:
			{
				raft_conf_change cc;
				char	   *context;

				memset(&cc, 0, sizeof(cc));
				if (req->kind == ORDERING_ADMIN_ADD_CONSENTER)
				{
					/* A new node catches up as a learner first. */
					cc.type = RAFT_CONF_ADD_LEARNER;
					cc.node = channel_new_raft_id(ch);
					context = conf_change_context_json(req->node, req->arg);
				}
				else
				{
					cc.type = RAFT_CONF_REMOVE;
					cc.node = m->id;
					context = conf_change_context_json(m->node, m->conninfo);
				}
				cc.context = (const uint8_t *) context;
				cc.context_size = strlen(context);
				rc = raft_propose_conf_change(ch->raft, &cc);
				break;
			}
		case ORDERING_ADMIN_TRANSFER_LEADER:
			rc = raft_transfer_leader(ch->raft, m->id);
			ChannelAnswerAdmin(slot, req->ticket,
							   rc == RAFT_OK ? 0 : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							   rc == RAFT_OK ? NULL :
							   psprintf("could not transfer leadership: %s",
										raft_strerror(rc)), -1);
			return;
		default:
			ChannelAnswerAdmin(slot, req->ticket, ERRCODE_FEATURE_NOT_SUPPORTED,
							   psprintf("unknown admin request kind %d",
										req->kind), -1);
			return;
	}

	if (rc != RAFT_OK)
	{
		ch->proposal_failures++;
		ch->status_dirty = true;
		ChannelAnswerAdmin(slot, req->ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   rc == RAFT_ERR_CONF_CHANGE_PENDING ?
						   psprintf("a membership change is already in progress on channel %s",
									ch->name) :
						   psprintf("could not propose the change: %s",
									raft_strerror(rc)), -1);
		return;
	}

	/* The proposal is the leader's last entry: answer when it applies. */
	raft_get_status(ch->raft, &status);
	ch->admin_waits[ch->n_admin_waits].slot = slot;
	ch->admin_waits[ch->n_admin_waits].ticket = req->ticket;
	ch->admin_waits[ch->n_admin_waits].index = status.last_index;
	ch->admin_waits[ch->n_admin_waits].term = status.hard_state.term;
	ch->n_admin_waits++;
}

/* ----------------------------------------------------------------
 * Ready handling
 * ----------------------------------------------------------------
 */

/*
 * Leader removing itself: hand leadership to the voter with the longest
 * matching log first, so that the channel is not left without a leader
 * for an election timeout.  Returns false when there is nobody to hand it
 * to (or the core refuses); the caller then proposes the removal itself,
 * and the leader steps down once it applies.
 */
static bool
channel_start_handoff(Channel *ch, int slot, uint64 ticket)
{
	raft_status *status;
	raft_id		target = RAFT_NONE;
	raft_index	best_match = 0;

	if (ch->handoff_pending)
	{
		ChannelAnswerAdmin(slot, ticket, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   psprintf("a membership change is already in progress on channel %s",
									ch->name), -1);
		return true;
	}
	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft, status);
	for (uint32 i = 0; i < status->n_progress; i++)
	{
		const raft_progress_status *p = &status->progress[i];

		if (p->id == ch->self_id || p->is_learner || !p->recent_active)
			continue;
		if (target == RAFT_NONE || p->match > best_match)
		{
			target = p->id;
			best_match = p->match;
		}
	}
	pfree(status);
	if (target == RAFT_NONE || raft_transfer_leader(ch->raft, target) != RAFT_OK)
		return false;
	elog(LOG, "channel \"%s\": handing leadership to raft id " UINT64_FORMAT " before removing this node",
		 ch->name, (uint64) target);
	ch->handoff_pending = true;
	ch->handoff_slot = slot;
	ch->handoff_ticket = ticket;
	ch->handoff_started_at = GetCurrentTimestamp();
	return true;
}

/*
 * Ends a pending handoff: once another node leads, the request is answered
 * "not the leader" (status published first, so that the backend finds the
 * new leader); if leadership has not moved within two election timeouts,
 * the request fails and may be retried.
 */
static void
channel_finish_handoff(Channel *ch, TimestampTz now)
{
	int64		limit_ms = 2 * (int64) ch->settings.election_tick *
		ordering_tick_interval_ms;

	if (!ch->handoff_pending)
		return;
	if (ch->leader != RAFT_NONE && ch->leader != ch->self_id)
	{
		ChannelPublishStatus(ch);
		ChannelAnswerAdmin(ch->handoff_slot, ch->handoff_ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   psprintf("node %s is not the leader of channel %s; the leader is %s",
									ordering_node_name, ch->name,
									channel_leader_name(ch)), -1);
		ch->handoff_pending = false;
	}
	else if (now - ch->handoff_started_at >= limit_ms * 1000)
	{
		ChannelAnswerAdmin(ch->handoff_slot, ch->handoff_ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   psprintf("could not hand leadership of channel %s to another voter before removing node %s; try again",
									ch->name, ordering_node_name), -1);
		ch->handoff_pending = false;
	}
}

static void
channel_soft_state(Channel *ch, raft_role role, raft_id leader,
				   TimestampTz now)
{
	bool		was_leader = channel_is_leader(ch);
	bool		new_leader = (leader != ch->leader && leader != RAFT_NONE);

	if (leader != ch->leader)
	{
		const ChannelMember *m = ChannelPeerById(ch, leader);

		ch->leader_changes++;
		if (leader != RAFT_NONE)
			elog(LOG, "channel \"%s\": leader is now %s (raft id " UINT64_FORMAT ")",
				 ch->name, m != NULL ? m->node : "?", (uint64) leader);
	}
	ch->role = role;
	ch->leader = leader;
	ch->status_dirty = true;

	/* A deposed leader hands its pending transactions to the next one. */
	if (was_leader && !channel_is_leader(ch))
		channel_hold_pending(ch);
	if (!was_leader && channel_is_leader(ch))
		channel_clear_inflight(ch);
	channel_reroute_held(ch, now);
	/* The old leader may have lost what we sent it. */
	if (new_leader)
		channel_reroute_pending(ch, now, 0);
	channel_finish_handoff(ch, now);
}

/*
 * Applies one committed entry; returns the block it wrote or -1.  Sets
 * *rebuild when the Raft node must be recreated from the tables.
 */
static int64
channel_apply_entry(Channel *ch, const raft_entry *entry, bool *rebuild)
{
	int64		block = -1;

	if (entry->type == RAFT_ENTRY_CONF_CHANGE)
	{
		raft_conf_change cc;
		const ChannelMember *m = NULL;
		char	   *gone_node = NULL;
		char	   *gone_conninfo = NULL;

		if (raft_conf_change_decode(entry->data, entry->size, &cc) == RAFT_OK &&
			cc.type == RAFT_CONF_REMOVE)
			m = ChannelMemberById(ch, cc.node);
		if (m != NULL)
		{
			gone_node = pstrdup(m->node);
			gone_conninfo = pstrdup(m->conninfo);
		}
		block = StorageApplyConfChange(ch, entry);
		if (m != NULL && cc.node == ch->self_id)
		{
			/* This node is out: stop running Raft once the ready is done. */
			elog(LOG, "channel \"%s\": this node was removed from the consenters",
				 ch->name);
			StorageSetRemoved(ch, true);
			ChannelSetAddressBook(ch, 0, NULL);
			*rebuild = true;
		}
		else if (m != NULL && channel_is_leader(ch))
		{
			/*
			 * The removed node may never learn that the entry committed:
			 * tell it (a GENESIS without it), so it stops too.
			 */
			channel_send_genesis(ch, gone_node, gone_conninfo);
		}
	}
	else
	{
		switch (EntryKindOf(entry->data, entry->size))
		{
			case ENTRY_NOOP:
				break;
			case ENTRY_BATCH:
				{
					List	   *ids = NIL;
					ListCell   *lc;

					block = StorageApplyBatch(ch, entry, &ids);
					foreach(lc, ids)
					{
						channel_forget_inflight(ch, (const char *) lfirst(lc));
						channel_forget_pending(ch, (const char *) lfirst(lc));
					}
					break;
				}
			case ENTRY_SETTINGS:
				{
					int			election_tick = ch->settings.election_tick;
					int			heartbeat_tick = ch->settings.heartbeat_tick;

					block = StorageApplySettings(ch, entry);
					/* The core takes its timing at creation: rebuild it. */
					if (ch->settings.election_tick != election_tick ||
						ch->settings.heartbeat_tick != heartbeat_tick)
						*rebuild = true;
				}
				CutterConfigure(&ch->cutter, ch->settings.max_message_count,
								ch->settings.preferred_max_bytes,
								ch->settings.absolute_max_bytes,
								ch->settings.batch_timeout_ms);
				break;
			case ENTRY_UNKNOWN:
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("channel \"%s\": unknown entry at index " UINT64_FORMAT,
								ch->name, (uint64) entry->index)));
		}
	}
	ch->applied_index = entry->index;
	ch->applied_term = entry->term;
	return block;
}

/* Remembers a snapshot sent to a peer (see Channel.snapshot_sends). */
static void
channel_note_snapshot_sent(Channel *ch, raft_id to)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	for (i = 0; i < ch->n_snapshot_sends; i++)
		if (ch->snapshot_sends[i].to == to)
			break;
	if (i == ch->n_snapshot_sends)
	{
		if (ch->n_snapshot_sends >= RAFT_MAX_MEMBERS)
			return;
		ch->n_snapshot_sends++;
	}
	ch->snapshot_sends[i].to = to;
	ch->snapshot_sends[i].sent_at = now;
}

/*
 * Forgets snapshots whose peer has left the snapshot state, and reports as
 * failed those unanswered for too long.
 */
static void
channel_expire_snapshot_sends(Channel *ch, TimestampTz now)
{
	raft_status *status;
	int			kept = 0;

	if (ch->n_snapshot_sends == 0)
		return;
	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft, status);
	for (int i = 0; i < ch->n_snapshot_sends; i++)
	{
		raft_id		to = ch->snapshot_sends[i].to;
		bool		waiting = false;

		for (uint32 p = 0; p < status->n_progress; p++)
			if (status->progress[p].id == to &&
				status->progress[p].state == RAFT_PROGRESS_SNAPSHOT)
				waiting = true;
		if (!waiting)
			continue;
		if (now - ch->snapshot_sends[i].sent_at >=
			CHANNEL_SNAPSHOT_ACK_TIMEOUT_MS * (int64) 1000)
		{
			raft_report_snapshot(ch->raft, to, true);
			continue;
		}
		ch->snapshot_sends[kept++] = ch->snapshot_sends[i];
	}
	ch->n_snapshot_sends = kept;
	pfree(status);
}

static void
channel_send_messages(Channel *ch, const raft_ready *rd, List **unreachable)
{
	for (uint32 i = 0; i < rd->n_messages; i++)
	{
		const raft_message *msg = &rd->messages[i];
		const ChannelMember *to = ChannelPeerById(ch, msg->to);
		size_t		size = raft_message_encoded_size(msg);
		size_t		written;
		uint8	   *buf;
		int			rc;
		bool		sent;

		if (to == NULL || to->id == ch->self_id)
			continue;
		if (size > RAFT_WIRE_MAX_BYTES)
		{
			elog(LOG, "channel \"%s\": message to %s too large (%zu bytes)",
				 ch->name, to->node, size);
			continue;
		}
		buf = palloc(size);
		rc = raft_message_encode(msg, buf, size, &written);
		if (rc != RAFT_OK)
			elog(ERROR, "could not encode a raft message: %s",
				 raft_strerror(rc));
		sent = TransportSend(to->node, to->conninfo, ch->name,
							 ORDERING_RECORD_RAFT, buf, written);
		pfree(buf);
		if (sent && msg->type == RAFT_MSG_SNAP)
			channel_note_snapshot_sent(ch, msg->to);
		else if (!sent)
		{
			/* Reported after raft_advance: the ready belongs to the core. */
			raft_message *report = palloc0(sizeof(raft_message));

			report->type = msg->type == RAFT_MSG_SNAP ?
				RAFT_MSG_SNAP_STATUS : RAFT_MSG_UNREACHABLE;
			report->to = msg->to;
			report->reject = !sent;
			*unreachable = lappend(*unreachable, report);
		}
	}
}

/*
 * Handles one ready of the channel.  Returns false if there was none; sets
 * *wrote_blocks if blocks were applied (submitters have been woken).
 */
bool
ChannelProcessReady(Channel *ch, bool *wrote_blocks_out)
{
	raft_ready	rd;
	int			rc;
	bool		wrote_blocks = false;
	TimestampTz now;
	List	   *reports = NIL;
	ListCell   *lc;
	StringInfo	snapshot_data = NULL;
	raft_storage view;
	raft_index	last_index;
	int64	   *entry_blocks = NULL;
	bool		rebuild = false;

	if (ch->raft == NULL || !raft_has_ready(ch->raft))
		return false;
	rc = raft_ready_get(ch->raft, &rd);
	if (rc != RAFT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("channel \"%s\": could not get a ready: %s",
						ch->name, raft_strerror(rc))));
	now = GetCurrentTimestamp();

	if (rd.has_hard_state)
	{
		ch->term = rd.hard_state.term;
		ch->commit_index = rd.hard_state.commit;
	}

	/* 1. Persist, and apply what is committed, in one transaction. */
	if (rd.has_snapshot || rd.n_entries > 0 || rd.has_hard_state ||
		rd.n_committed > 0)
	{
		TimestampTz start = GetCurrentTimestamp();
		double		elapsed_ms;

		view = raft_memory_storage_view(ch->storage);
		last_index = view.last_index(view.ud);
		if (rd.n_committed > 0)
			entry_blocks = palloc(sizeof(int64) * rd.n_committed);

		ch->ready_leader = rd.leader;
		StorageBegin();
		StorageLockChannel(ch);
		if (rd.has_snapshot)
		{
			StoragePersistSnapshot(ch, &rd.snapshot);
			/* Members and settings change with it: reread them. */
			rebuild = true;
		}
		StoragePersistEntries(ch, rd.entries, rd.n_entries, last_index);
		if (rd.has_hard_state)
			StoragePersistHardState(ch, &rd.hard_state);
		for (uint32 i = 0; i < rd.n_committed; i++)
		{
			entry_blocks[i] = -1;
			if (rd.committed[i].index <= ch->applied_index)
				continue;
			entry_blocks[i] = channel_apply_entry(ch, &rd.committed[i],
												  &rebuild);
			if (entry_blocks[i] >= 0)
				wrote_blocks = true;
		}
		if (rd.n_committed > 0 || rd.n_entries > 0)
			StorageSaveApplied(ch);
		if (rd.n_committed > 0)
			snapshot_data = StorageMaybeSnapshot(ch);
		StorageCommit();

		elapsed_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
		ch->data_persist_count++;
		ch->data_persist_total_ms += elapsed_ms;
		ch->data_persist_last_ms = elapsed_ms;

		/* 2. Mirror into the memory storage the core reads. */
		if (rd.has_snapshot)
		{
			rc = raft_memory_storage_apply_snapshot(ch->storage, &rd.snapshot);
			if (rc != RAFT_OK)
				elog(ERROR, "could not install a snapshot in memory: %s",
					 raft_strerror(rc));
		}
		if (rd.n_entries > 0)
		{
			rc = raft_memory_storage_append(ch->storage, rd.entries,
											rd.n_entries);
			if (rc != RAFT_OK)
				elog(ERROR, "could not append to the memory log: %s",
					 raft_strerror(rc));
		}
	}

	/* 3. Messages leave only now that what they depend on is durable. */
	channel_send_messages(ch, &rd, &reports);

	/* 4. Answer, wake, acknowledge. */
	for (uint32 i = 0; i < rd.n_committed; i++)
		if (ch->n_admin_waits > 0)
			channel_answer_applied(ch, &rd.committed[i], entry_blocks[i]);
	if (wrote_blocks)
	{
		/*
		 * perf: publish the new last block before waking the submitters:
		 * they look in the table only when it moved (sql_submit.c).
		 */
		ch->status_dirty = true;
		ChannelPublishStatus(ch);
		ConditionVariableBroadcast(&ordering_shared->applied_cv);
	}
	{
		bool		soft_changed = rd.soft_state_changed ||
			rd.leader != ch->leader || rd.role != ch->role;
		raft_role	role = rd.role;
		raft_id		leader = rd.leader;

		raft_advance(ch->raft, &rd);
		/* Rerouting may propose: only once the ready is acknowledged. */
		if (soft_changed)
			channel_soft_state(ch, role, leader, now);
	}

	if (snapshot_data != NULL)
	{
		rc = raft_memory_storage_create_snapshot(ch->storage,
												 ch->snapshot_index,
												 &ch->config,
												 (const uint8_t *) snapshot_data->data,
												 snapshot_data->len);
		if (rc != RAFT_OK)
			elog(ERROR, "could not record a snapshot in memory: %s",
				 raft_strerror(rc));
		elog(DEBUG1, "channel \"%s\": snapshot at index " UINT64_FORMAT,
			 ch->name, (uint64) ch->snapshot_index);
	}

	foreach(lc, reports)
	{
		raft_message *report = lfirst(lc);

		if (report->type == RAFT_MSG_SNAP_STATUS)
			raft_report_snapshot(ch->raft, report->to, report->reject);
		else
			raft_report_unreachable(ch->raft, report->to);
	}

	/* Everything is durable and acknowledged: safe to start over. */
	if (rebuild)
		ChannelLoad(ch);

	ch->status_dirty = true;
	ch->backoff_ms = CHANNEL_BACKOFF_MIN_MS;
	if (wrote_blocks)
		*wrote_blocks_out = true;
	return true;
}

/* ----------------------------------------------------------------
 * Status
 * ----------------------------------------------------------------
 */

void
ChannelClearStatus(int status_slot)
{
	OrderingChannelStatus *st = &ordering_shared->status[status_slot];

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	memset(st, 0, sizeof(*st));
	LWLockRelease(&ordering_shared->lock);
}

void
ChannelPublishStatus(Channel *ch)
{
	OrderingChannelStatus *st = &ordering_shared->status[ch->status_slot];
	raft_status rs;
	const char *membership = "none";

	if (!ch->status_dirty)
		return;
	if (ch->raft != NULL)
		raft_get_status(ch->raft, &rs);
	else
		memset(&rs, 0, sizeof(rs));
	if (ch->self_id != RAFT_NONE)
	{
		/* A joiner whose log has not reached its own addition: a learner. */
		membership = raft_config_is_voter(&ch->config, ch->self_id) ?
			"consenter" : "learner";
	}

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	st->in_use = true;
	strlcpy(st->channel, ch->name, sizeof(st->channel));
	strlcpy(st->membership, membership, sizeof(st->membership));
	strlcpy(st->role, ch->raft != NULL ? raft_role_name(ch->role) : "stopped",
			sizeof(st->role));
	st->raft_id = ch->self_id;
	st->term = ch->raft != NULL ? rs.hard_state.term : ch->term;
	strlcpy(st->leader, channel_leader_name(ch), sizeof(st->leader));
	st->commit_index = ch->raft != NULL ? rs.hard_state.commit : ch->commit_index;
	st->applied_index = ch->applied_index;
	st->snapshot_index = ch->snapshot_index;
	st->last_block = ch->last_block;
	st->leader_changes = ch->leader_changes;
	st->proposal_failures = ch->proposal_failures;
	st->committed_block_number = ch->last_block;
	st->data_persist_count = ch->data_persist_count;
	st->data_persist_total_ms = ch->data_persist_total_ms;
	st->data_persist_last_ms = ch->data_persist_last_ms;
	st->updated_at = GetCurrentTimestamp();
	strlcpy(st->last_error, ch->last_error, sizeof(st->last_error));
	st->n_peers = 0;
	if (ch->raft != NULL && ch->role == RAFT_LEADER)
	{
		for (uint32 i = 0; i < rs.n_progress && st->n_peers < ORDERING_MAX_PEERS; i++)
		{
			const raft_progress_status *p = &rs.progress[i];
			const ChannelMember *m = ChannelMemberById(ch, p->id);
			OrderingPeerStatus *ps = &st->peers[st->n_peers++];

			strlcpy(ps->node, m != NULL ? m->node : "", sizeof(ps->node));
			ps->raft_id = p->id;
			ps->is_learner = p->is_learner;
			ps->match_index = p->match;
			ps->next_index = p->next;
			ps->progress_state = p->state;
			ps->recent_active = p->recent_active;
			ps->inflight = p->inflight;
			ps->last_contact = (m != NULL && p->id != ch->self_id) ?
				TransportLastContact(m->node) : 0;
		}
	}
	LWLockRelease(&ordering_shared->lock);
	ch->status_dirty = false;
}
