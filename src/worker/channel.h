/*-------------------------------------------------------------------------
 *
 * channel.h
 *	  The worker's runtime of one channel: its Raft node, the state its
 *	  tables hold, its routing of transactions and its joining.
 *
 * Everything here lives in the worker process only, in the channel's own
 * memory context, a child of the worker's long-lived context; the core
 * allocates the raft node and its memory storage in raft.cxt, a child of
 * it, through the heap hook (channel_raft.c).
 *
 * The runtime is one module in several files, one per concern, sharing
 * channel_internal.h:
 *
 *	channel.c				creation, loading from the tables, breaking
 *	channel_raft.c			the core's heap, entering a channel, discarding
 *							a node after a failed core assertion
 *	channel_routing.c		submitted and forwarded transactions
 *	channel_ticks.c			time: ticks, sweeps, the next deadline
 *	channel_receive.c		records from peers
 *	channel_joining.c		GENESIS, JOIN_REQUEST and the address book
 *	channel_admin.c			admin requests from backends
 *	channel_membership.c	promotion of learners, a leader's handoff
 *	channel_identity.c		who a peer is; the check of every record
 *	channel_eviction.c		when to look for this node's removal (the look
 *							itself: eviction_check.c)
 *	channel_ready.c			persisting, applying and sending a ready
 *	channel_status.c		ordering.status and ordering.peers
 *
 * src/worker/channel.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CHANNEL_H
#define ORDERING_CHANNEL_H

#include "lib/stringinfo.h"
#include "postmaster/bgworker.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "common/envelope.h"
#include "common/limits.h"
#include "common/shmem.h"
#include "raft/raft.h"
#include "store/state.h"
#include "worker/cutter.h"

/* The Raft node and what the runtime last learned from its readies. */
typedef struct ChannelRaft
{
	raft_node *node; /* NULL while broken or not a member */
	raft_memory_storage *storage;
	MemoryContext cxt; /* what the core allocates for node and storage */
	raft_role role;
	raft_id leader;
	raft_term term;
	raft_index commit_index;
	/* The leader named by the ready being persisted (catch-up asks it). */
	raft_id ready_leader;
	/* The hard state as last written (a commit-only change need not flush). */
	raft_hard_state durable;
} ChannelRaft;

/* Transactions submitted here or forwarded to us (channel_routing.c). */
typedef struct ChannelRouting
{
	/* Leader: cutter and the ids pending or proposed but not yet applied. */
	Cutter cutter;
	HTAB *inflight_ids;
	/* No leader known: transactions held until one is (bounded). */
	List *held; /* CutterTx * */
	int64 held_bytes;
	/*
	 * Leader: batches the core refused for backpressure (too many
	 * uncommitted bytes), in order, proposed again as entries commit;
	 * batches cut meanwhile queue behind them (bounded).
	 */
	List *blocked; /* Lists of CutterTx * */
	int64 blocked_bytes;
	/* Submitted here, not yet applied: routed again on a leader change. */
	HTAB *pending;
	int64 pending_bytes;
	int64 pending_seq; /* submission order of the pending transactions */
	/* Follower: transactions to forward to the leader this iteration. */
	StringInfoData forward_buf;
	uint32 forward_count;
	/*
	 * Forwards the leader's queue had no room for yet, in order (at most
	 * FORWARD_CHUNK_MAX_BYTES each, so that each fits it), sent before any
	 * later one.  Bounded in bytes and time.
	 */
	List *forward_queue; /* ForwardChunk * */
	int64 forward_queue_bytes;
	TimestampTz forward_stuck_since; /* 0: not stuck */
	TimestampTz last_sweep_at;		 /* of stale inflight_ids */
	TimestampTz last_reroute_at;	 /* of pending transactions */
} ChannelRouting;

/* Bringing nodes into the channel (channel_joining.c). */
typedef struct ChannelJoining
{
	/*
	 * The consenters as the node that sent us GENESIS knew them (conninfo
	 * in the channel's top context).  A node added after genesis finds its
	 * own raft id here until its log reaches the change that added it.
	 * Kept in memory only: after a restart, a JOIN_REQUEST fetches it
	 * again.
	 */
	int n_book;
	ChannelMember book[RAFT_MAX_MEMBERS];
	TimestampTz next_join_request_at;
	/*
	 * Removed, then pushed the channel by a member: the book's id for this
	 * node, if newer than any its chain gave it, replaces the removed one.
	 */
	bool readded;

	/* Raft ids heard from on this channel, and when: silent ones get GENESIS. */
	int n_heard;
	raft_id heard[RAFT_MAX_MEMBERS * 2];
	TimestampTz heard_at[RAFT_MAX_MEMBERS * 2];
	TimestampTz next_genesis_at;
	char *genesis_doc; /* block 0's item, in top_cxt; NULL: unread */
	/* Block 0's hash, which every record for the channel names. */
	bool has_block0;
	uint8 block0[ORDERING_HASH_LEN];
} ChannelJoining;

/* An admin request proposed by this node, answered when applied. */
typedef struct ChannelAdminWait
{
	int slot; /* index in ordering_shared->admin */
	uint64 ticket;
	raft_index index; /* the entry carrying the request */
	raft_term term;
} ChannelAdminWait;

#define CHANNEL_MAX_ADMIN_WAITS ORDERING_MAX_ADMIN_REQUESTS

/* What only a leader keeps track of (channel_admin.c, channel_ready.c). */
typedef struct ChannelLeading
{
	ChannelAdminWait admin_waits[CHANNEL_MAX_ADMIN_WAITS];
	int n_admin_waits;

	/*
	 * Snapshots sent and not yet acknowledged.  Success is never reported
	 * at send time (the leader would probe at once, find the log compacted
	 * and send the snapshot again: test/raft/FINDINGS.md §3); the
	 * follower's answer after installing moves its progress on.  A
	 * snapshot still unanswered after CHANNEL_SNAPSHOT_ACK_TIMEOUT_MS is
	 * reported as failed, so that a follower whose install failed gets
	 * another one.
	 */
	struct
	{
		raft_id to;
		TimestampTz sent_at;
	} snapshot_sends[RAFT_MAX_MEMBERS];
	int n_snapshot_sends;

	/*
	 * Asked to remove itself: it first hands leadership to the most
	 * caught-up voter, then answers the request "not the leader", which
	 * makes the backend carry the removal to the new leader.
	 */
	bool handoff_pending;
	int handoff_slot;
	uint64 handoff_ticket;
	TimestampTz handoff_started_at;

	/* The last block a chain check named (channel_chain_check.c). */
	bool chain_check_armed;
	int64 chain_checked_block;

	/* When this node last became the leader. */
	TimestampTz since;
} ChannelLeading;

/* Looking for this node's removal while no leader is heard (channel_eviction.c). */
typedef struct ChannelEviction
{
	TimestampTz leaderless_since; /* 0 while a leader is known */
	TimestampTz next_check_at;
	BackgroundWorkerHandle *worker; /* the look running, in ch->top_cxt */
	bool no_slot_logged;			/* said once per leaderless spell */
} ChannelEviction;

/* When the loop must look at the channel again. */
typedef struct ChannelTimers
{
	TimestampTz next_tick_at;
	TimestampTz retry_at; /* broken: rebuild after this */
	int backoff_ms;
} ChannelTimers;

/* What ordering.status shows besides the Raft state (channel_status.c). */
typedef struct ChannelCounters
{
	bool status_dirty;
	int64 leader_changes;
	int64 proposal_failures;
	int64 data_persist_count;
	double data_persist_total_ms;
	double data_persist_last_ms;
	int64 rejected_records; /* from peers, dropped (channel_identity.c) */
	bool recovering;		/* as last logged (channel_recovery.c) */
	bool archive_logged;
	bool chain_parted; /* last_error is a failed chain check's */
	char last_error[ORDERING_ERROR_MESSAGE_MAX];
	/* As published: why calls to the leader fail, "" while they go through. */
	char leader_link_error[ORDERING_ERROR_MESSAGE_MAX];
} ChannelCounters;

/*
 * A snapshot's blocks pulled by a background worker (catchup_worker.c):
 * meanwhile the channel runs no Raft node, and is rebuilt from its tables
 * once the worker has stopped.
 */
typedef struct ChannelCatchup
{
	BackgroundWorkerHandle *worker; /* in top_cxt; NULL when none runs */
	int64 to_block;
	/*
	 * The last snapshot message stepped (as received, in top_cxt): answered
	 * once the snapshot it handed to a catch-up worker is installed.
	 */
	char *snapshot_msg;
	Size snapshot_msg_len;
} ChannelCatchup;

/* Quiet while idle (channel_quiescence.c). */
typedef struct ChannelQuiet
{
	bool quiesced;	/* not ticking: no heartbeats, no elections */
	int idle_ticks; /* leader: ticks idle since it last had work */
	bool settled;	/* worker: quiet, nothing to do until a tick or input */
	TimestampTz asked_for_leader_at; /* recovering without a leader */
} ChannelQuiet;

typedef struct Channel
{
	int status_slot;	   /* index in ordering_shared->status */
	MemoryContext top_cxt; /* the Channel, cutter, ids: its lifetime */

	ChannelRaft raft;
	ChannelState state; /* as of the applied index; state.cxt is
								 * reset by ChannelLoad */
	ChannelRouting routing;
	ChannelJoining joining;
	ChannelLeading leading;
	ChannelEviction eviction;
	ChannelTimers timers;
	ChannelQuiet quiet;
	ChannelCatchup catchup;
	ChannelCounters counters;

	/* Seen by the worker's reload pass; unseen channels are dropped. */
	bool seen;
} Channel;

/* Creation and teardown (channel.c). */
extern Channel *
ChannelCreate(const char *name, int status_slot, MemoryContext parent);
extern void ChannelDestroy(Channel *ch);
/*
 * Dropped here: QUIESCE of no term to the other members, so that those
 * quiet on it wake and elect another leader (channel_quiescence.c).
 */
extern void ChannelTellMembersDropped(Channel *ch);
/* (Re)builds the Raft node from storage; in its own transaction. */
extern void ChannelLoad(Channel *ch);
/* Drops the Raft node after an error; ChannelLoad again after backoff. */
extern void ChannelBreak(Channel *ch, const char *message);
/* Drops the Raft node while worker pulls a snapshot's blocks up to to_block. */
extern void
ChannelPark(Channel *ch, BackgroundWorkerHandle *worker, int64 to_block);
static inline bool
ChannelIsLive(const Channel *ch)
{
	return ch->raft.node != NULL;
}

/*
 * Quiet, with nothing to do until its next tick or an input: the worker's
 * passes may skip it (channel_quiescence.c).  Call with the channel entered.
 */
extern bool ChannelIsSettled(const Channel *ch);

/*
 * The Raft core (channel_raft.c).  Every call into a channel's core is
 * made between ChannelEnter(ch) and ChannelLeave(previous): the core then
 * allocates in ch->raft.cxt, and a failed core assertion is ch's.
 */
extern void ChannelRaftHooksInstall(void);
extern Channel *ChannelEnter(Channel *ch);
extern void ChannelLeave(Channel *previous);
/*
 * After a step in ch, ended by an ERROR or not: if a core assertion failed
 * in ch, forgets its node, reclaims its memory, logs it and returns true;
 * ChannelBreak() then schedules the rebuild.
 */
extern bool ChannelDiscardIfAsserted(Channel *ch);
/* ordering.debug_break_channel (a test aid): may trip an assertion in ch. */
extern void ChannelDebugBreak(Channel *ch);

/* The event loop's steps. */
extern void ChannelTick(Channel *ch, TimestampTz now);
extern void
ChannelSubmit(Channel *ch, const SubmitRecord *record, TimestampTz now);
extern void
ChannelReceive(Channel *ch, const char *from_node, const char *session_role,
			   OrderingRecordKind kind, const uint8 *block0, const char *data,
			   Size len, TimestampTz now);
/* false: not answered yet, to be taken again (it waits for the voters). */
extern bool ChannelTakeAdminRequest(Channel *ch, int slot,
									const OrderingAdminRequest *request);
extern void ChannelCutIfReady(Channel *ch);
extern void ChannelFlush(Channel *ch, TimestampTz now);
extern bool ChannelProcessReady(Channel *ch, bool *wrote_blocks);
extern long ChannelNextTimeoutMs(const Channel *ch, TimestampTz now);
extern void ChannelPublishStatus(Channel *ch);

/* Joining: the address book from a GENESIS record. */
extern void
ChannelSetAddressBook(Channel *ch, int n_book, const ChannelMember *book);
/* A node's raft id in a list of consenters, or RAFT_NONE. */
extern raft_id
ChannelBookIdOf(int n_book, const ChannelMember *book, const char *node);
/*
 * Why a GENESIS record's consenters (book) and genesis document's
 * (genesis_members) may not be taken from from_node logged in as
 * session_role, or NULL: the book must name from_node with that role and
 * this node, and every conninfo must pass the policy.
 */
extern char *
ChannelGenesisRefusal(const char *from_node, const char *session_role,
					  int n_book, const ChannelMember *book, int n_genesis,
					  const ChannelMember *genesis_members);

/* Publishes the (node, role) pairs of every channel's members if changed. */
extern void ChannelPublishNodeRoles(Channel *const *channels, int n_channels);
/*
 * The role a conninfo names, or NULL; cached, and valid only until the
 * next call (a full cache starts over).
 */
extern const char *ChannelRoleOf(const char *conninfo);
/* The role this node logs in to its peers as, in this channel, or NULL. */
extern const char *ChannelOwnUser(const Channel *ch);

/* Answers an admin slot (worker side); broadcasts admin_cv. */
extern void ChannelAnswerAdmin(int slot, uint64 ticket, int sqlstate,
							   const char *message, int64 block);

#endif /* ORDERING_CHANNEL_H */
