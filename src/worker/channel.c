/*-------------------------------------------------------------------------
 *
 * channel.c
 *	  The worker's runtime of one channel: creation, loading from the
 *	  tables, breaking after an error, and membership lookups.
 *
 * A ready is handled in the order raft.h prescribes, with one worker
 * transaction doing the durable part (channel_ready.c).  Any ERROR while
 * handling a channel leaves its Raft node out of step with the tables, so
 * the worker calls ChannelBreak(): the node is dropped and rebuilt from
 * the tables (ChannelLoad) after a backoff.  Other channels are not
 * affected.
 *
 * src/worker/channel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "common/clock.h"
#include "common/gucs.h"
#include "store/chain.h"
#include "store/genesis.h"
#include "store/identity.h"
#include "store/load.h"
#include "store/spi.h"
#include "worker/catchup_worker.h"
#include "worker/channel_bgworker.h"
#include "worker/channel_internal.h"

/* Byte limits the core is given (raft.h defaults). */
#define CHANNEL_MAX_SIZE_PER_MSG (1024 * 1024)
/*
 * Appends in flight to one follower.  Blocks in flight are fewer (the
 * max_inflight_blocks setting, at most 100); appends past it wait and go
 * together.  Fabric gives etcd's raft its MaxInflightBlocks (5) here.  The
 * core keeps 32 members' worth of slots from the start: 64 kB a channel
 * at etcd's 256, 16 kB at 64.
 */
#define CHANNEL_MAX_INFLIGHT_MSGS 64
/* Applied in one transaction: bounded, as a long backlog may be tiny blocks. */
#define CHANNEL_MAX_COMMITTED_PER_READY (1024 * 1024)
/* How often a parked channel looks whether its catch-up worker stopped. */
#define CHANNEL_CATCHUP_POLL_MS 500

/* ----------------------------------------------------------------
 * Membership
 * ----------------------------------------------------------------
 */

const ChannelMember *
ChannelMemberById(const Channel *ch, raft_id id)
{
	for (int i = 0; i < ch->state.n_members; i++)
		if (ch->state.members[i].id == id)
			return &ch->state.members[i];
	return NULL;
}

const ChannelMember *
ChannelMemberByNode(const Channel *ch, const char *node)
{
	for (int i = 0; i < ch->state.n_members; i++)
		if (strcmp(ch->state.members[i].node, node) == 0)
			return &ch->state.members[i];
	return NULL;
}

/* A member, or else an entry of the address book a joiner was given. */
const ChannelMember *
ChannelPeerById(const Channel *ch, raft_id id)
{
	const ChannelMember *m = ChannelMemberById(ch, id);

	if (m != NULL || id == RAFT_NONE)
		return m;
	for (int i = 0; i < ch->joining.n_book; i++)
		if (ch->joining.book[i].id == id)
			return &ch->joining.book[i];
	return NULL;
}

const ChannelMember *
ChannelPeerByNode(const Channel *ch, const char *node)
{
	const ChannelMember *m = ChannelMemberByNode(ch, node);

	if (m != NULL)
		return m;
	for (int i = 0; i < ch->joining.n_book; i++)
		if (strcmp(ch->joining.book[i].node, node) == 0)
			return &ch->joining.book[i];
	return NULL;
}

const ChannelMember *
ChannelLeaderPeer(const Channel *ch)
{
	if (ch->raft.node == NULL || ChannelIsLeader(ch) ||
		ch->raft.leader == RAFT_NONE)
		return NULL;
	return ChannelPeerById(ch, ch->raft.leader);
}

const char *
ChannelLeaderName(const Channel *ch)
{
	const ChannelMember *m = ChannelPeerById(ch, ch->raft.leader);

	return m != NULL ? m->node : "";
}

/* ----------------------------------------------------------------
 * Creation, loading, breaking
 * ----------------------------------------------------------------
 */

Channel *
ChannelCreate(const char *name, int status_slot, MemoryContext parent)
{
	MemoryContext top_cxt;
	Channel *ch;

	top_cxt = AllocSetContextCreate(parent, "ordering channel",
									ALLOCSET_DEFAULT_SIZES);
	ch = MemoryContextAllocZero(top_cxt, sizeof(Channel));
	strlcpy(ch->state.name, name, sizeof(ch->state.name));
	ch->status_slot = status_slot;
	ch->top_cxt = top_cxt;
	ch->state.cxt = AllocSetContextCreate(top_cxt, "ordering channel state",
										  ALLOCSET_SMALL_SIZES);
	/*
	 * Small blocks, so that every chunk over about 1 kB (log entries,
	 * messages) is a malloc of its own, given back to the C heap when
	 * freed.  With the default sizes, chunks up to 8 kB were kept in the
	 * context's free lists, one per power of two: after a snapshot the
	 * bench channel's context held 59 MB of which 45 MB free, and the
	 * worker's private memory peaked at 88 MiB instead of 37 MiB in the
	 * bench's throughput parts, at the same rates.
	 */
	ch->raft.cxt = AllocSetContextCreate(top_cxt, "ordering channel raft",
										 ALLOCSET_SMALL_SIZES);
	ChannelRoutingInit(ch);
	ch->raft.role = RAFT_FOLLOWER;
	ch->raft.leader = RAFT_NONE;
	ch->timers.backoff_ms = CHANNEL_BACKOFF_MIN_MS;
	ch->state.chain.last_block = -1;
	return ch;
}

static void
channel_drop_raft(Channel *ch)
{
	if (ch->raft.node != NULL)
		raft_node_destroy(ch->raft.node);
	if (ch->raft.storage != NULL)
		raft_memory_storage_destroy(ch->raft.storage);
	ch->raft.node = NULL;
	ch->raft.storage = NULL;
	/* Also what a decoded message left behind when an ERROR cut it short. */
	MemoryContextReset(ch->raft.cxt);
	ch->raft.role = RAFT_FOLLOWER;
	ch->raft.leader = RAFT_NONE;
	ChannelWake(ch);
}

void
ChannelDestroy(Channel *ch)
{
	ChannelNoteMembersChanged();
	ChannelFailAdminWaits(ch, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						  "the channel was dropped");
	/* Their transactions have no channel here any more to be ordered in. */
	OrderingSubmitWaitsMarkChannel(ordering_shared->submit_waits,
								   ch->state.name, ORDERING_WAIT_DROPPED);
	channel_drop_raft(ch);
	if (ch->catchup.worker != NULL)
		TerminateBackgroundWorker(ch->catchup.worker);
	ChannelForgetEviction(ch);
	ChannelClearStatus(ch->status_slot);
	hash_destroy(ch->routing.inflight_ids);
	MemoryContextDelete(ch->top_cxt);
}

/*
 * A new seed at every start: the core draws this life's nonce from it, and
 * a reused nonce would hide a restored copy of this node from its peers.
 */
static uint64
channel_seed(const Channel *ch)
{
	uint64 seed;

	if (pg_strong_random(&seed, sizeof(seed)))
		return seed;
	seed = hash_bytes_extended((const unsigned char *) ch->state.name,
							   strlen(ch->state.name),
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
	StoreRaftState stored;
	raft_options options;
	bool found;
	raft_id own_id_before = RAFT_NONE;
	raft_id booked;
	bool newer_booked;
	bool after_catchup = false;
	int rc;

	/* Parked: the catch-up worker owns the channel's tables until it stops. */
	if (ch->catchup.worker != NULL)
	{
		if (ChannelBgWorkerRunning(ch->catchup.worker))
		{
			ch->timers.retry_at =
				TimestampTzPlusMilliseconds(OrderingClockNow(),
											CHANNEL_CATCHUP_POLL_MS);
			return;
		}
		ch->catchup.worker = NULL;
		ch->counters.status_dirty = true;
		after_catchup = true;
	}

	/* A new node starts as a follower: pending work waits for a leader. */
	ChannelHoldPending(ch);
	channel_drop_raft(ch);
	MemoryContextReset(ch->state.cxt);
	ch->state.settings_json = NULL;
	ch->state.n_members = 0;
	ch->state.self_id = RAFT_NONE;

	ch->raft.storage = raft_memory_storage_create();
	if (ch->raft.storage == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	StoreBegin();
	found = StoreLoadChannel(&ch->state, &stored, ch->raft.storage);
	if (found && ch->joining.genesis_doc == NULL)
	{
		ch->joining.genesis_doc =
			StoreGenesisDocument(ch->state.name, ch->top_cxt);
		ch->joining.has_block0 =
			StoreBlock0Hash(ch->state.name, ch->joining.block0);
	}
	booked = ChannelBookIdOf(ch->joining.n_book, ch->joining.book,
							 ordering_node_name);
	if (found && booked != RAFT_NONE && booked != ch->state.self_id)
		own_id_before = StoreMaxOwnRaftId(&ch->state);
	StoreCommit();
	stored.snapshot.data = NULL; /* freed with the transaction; copied */
	stored.snapshot.data_size = 0;

	if (!found)
	{
		channel_drop_raft(ch);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" does not exist", ch->state.name)));
	}
	if (ch->state.archived)
	{
		ChannelLoadArchive(ch);
		return;
	}

	CutterConfigure(&ch->routing.cutter, &ch->state.settings);
	ch->counters.status_dirty = true;
	ChannelNoteMembersChanged();

	/*
	 * A joiner added after genesis: its id is in the address book.  So is
	 * the new id of a node removed and added again, whose tables may still
	 * name it with the old one (its block 0 after a drop or a lost disk, or
	 * the configuration it last applied when it was down meanwhile): it
	 * runs as the removed member, heard by nobody, until eviction detection
	 * has a majority confirm that removal; pushed the channel after that,
	 * it takes the new id.  Never before: one member's push must not make
	 * a running member leave.  Ids are never reused, so only an id above
	 * every one this node's chain gave it counts; a lower one is a stale
	 * book's (a lagging peer's).
	 */
	newer_booked = booked != ch->state.self_id && booked > own_id_before;
	if (!newer_booked)
		ch->joining.readded = false; /* the chain has caught up with it */
	if (newer_booked && !ch->state.removed &&
		(ch->state.self_id == RAFT_NONE || ch->joining.readded))
	{
		if (ch->state.self_id != RAFT_NONE)
			ereport(LOG,
					(errmsg("channel \"%s\": this node was removed and added again; it runs as raft id " UINT64_FORMAT
							", no longer " UINT64_FORMAT,
							ch->state.name, (uint64) booked,
							(uint64) ch->state.self_id)));
		ch->state.self_id = booked;
	}
	if (ch->state.removed)
		ch->state.self_id = RAFT_NONE;

	if (ch->state.self_id == RAFT_NONE)
	{
		/*
		 * Not (or no longer) a consenter: nothing to run.  Unless removed,
		 * ask the members for the address book (after a restart a joiner
		 * lost it), and look again later.
		 */
		channel_drop_raft(ch);
		if (!ch->state.removed)
			ChannelRequestJoin(ch, NULL, OrderingClockNow());
		ch->timers.retry_at =
			TimestampTzPlusMilliseconds(OrderingClockNow(),
										CHANNEL_BACKOFF_MAX_MS);
		return;
	}

	/* A new life: its boot counter is durable before the node exists. */
	StoreBegin();
	StoreStartNode(&ch->state, &stored);
	StoreCommit();

	memset(&options, 0, sizeof(options));
	options.id = ch->state.self_id;
	options.storage = raft_memory_storage_view(ch->raft.storage);
	options.hard_state = stored.hard_state;
	ch->raft.durable = stored.hard_state;
	options.config = ch->state.config;
	options.applied = stored.applied;
	options.seed = channel_seed(ch);
	options.election_tick = (int) ch->state.settings.election_tick;
	options.heartbeat_tick = (int) ch->state.settings.heartbeat_tick;
	options.max_size_per_msg = CHANNEL_MAX_SIZE_PER_MSG;
	options.max_inflight_msgs = CHANNEL_MAX_INFLIGHT_MSGS;
	options.max_committed_size_per_ready = CHANNEL_MAX_COMMITTED_PER_READY;
	ChannelPeerOptions(ch, &stored, &options);

	rc = raft_node_create(&options, &ch->raft.node);
	if (rc != RAFT_OK)
	{
		ch->raft.node = NULL;
		channel_drop_raft(ch);
		ChannelRefuseStoredState(ch, rc);
	}
	ChannelNoteRecovery(ch, stored.hard_state.recovering);
	ch->raft.term = stored.hard_state.term;
	ch->raft.commit_index = stored.hard_state.commit;
	ch->timers.next_tick_at =
		TimestampTzPlusMilliseconds(OrderingClockNow(),
									ordering_tick_interval_ms);

	/* A lone voter has nobody to wait for. */
	if (ch->state.config.n_voters == 1 &&
		ch->state.config.voters[0] == ch->state.self_id)
	{
		rc = raft_campaign(ch->raft.node);
		if (rc != RAFT_OK)
			elog(LOG, "channel \"%s\": campaign failed: %s", ch->state.name,
				 raft_strerror(rc));
	}
	if (after_catchup)
		ChannelAnswerInstalledSnapshot(ch, stored.snapshot.meta.index);
	ch->counters.last_error[0] = '\0';
	ch->counters.chain_parted = false;
	elog(DEBUG1,
		 "channel \"%s\" loaded: raft id " UINT64_FORMAT
		 ", applied " UINT64_FORMAT ", last block " INT64_FORMAT,
		 ch->state.name, (uint64) ch->state.self_id,
		 (uint64) ch->state.log.applied_index, ch->state.chain.last_block);
}

/* Drops the Raft node, keeping pending transactions for the next leader. */
static void
channel_stop(Channel *ch, const char *admin_error)
{
	ChannelHoldPending(ch);
	channel_drop_raft(ch);
	ChannelFailAdminWaits(ch, ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						  admin_error);
	ChannelDropForwards(ch);
	ch->counters.status_dirty = true;
}

/*
 * After an error: drop the Raft node (it may be ahead of the tables) and
 * schedule a rebuild.
 */
void
ChannelBreak(Channel *ch, const char *message)
{
	TimestampTz now = OrderingClockNow();

	strlcpy(ch->counters.last_error, message, sizeof(ch->counters.last_error));
	channel_stop(ch,
				 psprintf("channel \"%s\" failed: %s", ch->state.name, message));
	ch->timers.retry_at =
		TimestampTzPlusMilliseconds(now, ch->timers.backoff_ms);
	ch->timers.backoff_ms =
		Min(ch->timers.backoff_ms * 2, CHANNEL_BACKOFF_MAX_MS);
}

/* ChannelLoad rebuilds the channel once the catch-up worker has stopped. */
void
ChannelPark(Channel *ch, BackgroundWorkerHandle *worker, int64 to_block)
{
	channel_stop(ch, psprintf("channel \"%s\" is catching up", ch->state.name));
	ch->catchup.worker = worker;
	ch->catchup.to_block = to_block;
	ch->timers.retry_at = TimestampTzPlusMilliseconds(OrderingClockNow(),
													  CHANNEL_CATCHUP_POLL_MS);
}
