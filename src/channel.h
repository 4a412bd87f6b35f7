/*-------------------------------------------------------------------------
 *
 * channel.h
 *	  The worker's runtime of one channel: its Raft node, the in-memory
 *	  mirror of its log, its block cutter and its routing.
 *
 * Everything here lives in the worker process only.  The raft node and its
 * memory storage are malloc'd by the core; the rest is in the channel's own
 * memory context, a child of the worker's long-lived context.
 *
 * src/channel.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CHANNEL_H
#define ORDERING_CHANNEL_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "blocks.h"
#include "cutter.h"
#include "ordering.h"
#include "raft.h"
#include "shmem.h"

/* A consenter of the channel as of the applied index. */
typedef struct ChannelMember
{
	raft_id		id;
	char		node[ORDERING_NAME_MAX];
	char	   *conninfo;		/* in the channel's context */
	bool		is_learner;
} ChannelMember;

/* The channel's settings (ordering.channels.config). */
typedef struct ChannelSettings
{
	int			max_message_count;
	int64		absolute_max_bytes;
	int64		preferred_max_bytes;
	int			batch_timeout_ms;
	int64		snapshot_interval_bytes;
	int			election_tick;
	int			heartbeat_tick;
} ChannelSettings;

/* An admin request proposed by this node, answered when applied. */
typedef struct ChannelAdminWait
{
	int			slot;			/* index in ordering_shared->admin */
	uint64		ticket;
	raft_index	index;			/* the entry carrying the request */
	raft_term	term;
} ChannelAdminWait;

#define CHANNEL_MAX_ADMIN_WAITS ORDERING_MAX_ADMIN_REQUESTS

typedef struct Channel
{
	char		name[ORDERING_NAME_MAX];
	int			status_slot;	/* index in ordering_shared->status */
	MemoryContext top_cxt;		/* the Channel, cutter, ids: its lifetime */
	MemoryContext cxt;			/* host state below; reset by ChannelLoad */

	/* Raft; NULL while the channel is broken and waiting to be rebuilt. */
	raft_node  *raft;
	raft_memory_storage *storage;
	raft_id		self_id;		/* RAFT_NONE if this node is not a member */
	raft_role	role;
	raft_id		leader;
	raft_term	term;
	raft_index	commit_index;

	/* Host state as of applied_index (what ordering.* tables say). */
	char	   *settings_json;	/* canonical jsonb text */
	ChannelSettings settings;
	int			n_members;
	ChannelMember members[RAFT_MAX_MEMBERS];
	raft_config config;
	raft_index	applied_index;
	raft_term	applied_term;	/* term of the entry at applied_index */
	raft_index	snapshot_index;
	raft_term	snapshot_term;
	int64		log_bytes_since_snapshot;
	int64		last_block;
	uint8		last_hash[ORDERING_HASH_LEN];

	/* Leader: cutter and the ids pending or proposed but not yet applied. */
	Cutter		cutter;
	HTAB	   *inflight_ids;
	/* No leader known: transactions held until one is (bounded). */
	List	   *held;			/* CutterTx * */
	int64		held_bytes;
	/* Submitted here, not yet applied: routed again on a leader change. */
	HTAB	   *pending;
	int64		pending_bytes;
	/* Follower: transactions to forward to the leader this iteration. */
	StringInfoData forward_buf;
	uint32		forward_count;

	/*
	 * Joining: the consenters as the node that sent us GENESIS knew them
	 * (conninfo in top_cxt).  A node added after genesis finds its own raft
	 * id here until its log reaches the change that added it.  Kept in
	 * memory only: after a restart, a JOIN_REQUEST fetches it again.
	 */
	int			n_book;
	ChannelMember book[RAFT_MAX_MEMBERS];
	TimestampTz next_join_request_at;

	/* Raft ids heard from on this channel, and when: silent ones get GENESIS. */
	int			n_heard;
	raft_id		heard[RAFT_MAX_MEMBERS * 2];
	TimestampTz heard_at[RAFT_MAX_MEMBERS * 2];
	TimestampTz next_genesis_at;
	char	   *genesis_doc;	/* block 0's item, in top_cxt; NULL: unread */

	/* The leader named by the ready being persisted (catch-up asks it first). */
	raft_id		ready_leader;

	/* An applied change removed this node: stop once the ready is done. */
	bool		removed;

	ChannelAdminWait admin_waits[CHANNEL_MAX_ADMIN_WAITS];
	int			n_admin_waits;

	/*
	 * Leader: snapshots sent and not yet acknowledged.  Success is never
	 * reported at send time (the leader would probe at once, find the log
	 * compacted and send the snapshot again: test/raft/FINDINGS.md §3); the
	 * follower's answer after installing moves its progress on.  A snapshot
	 * still unanswered after CHANNEL_SNAPSHOT_ACK_TIMEOUT_MS is reported as
	 * failed, so that a follower whose install failed gets another one.
	 */
	struct
	{
		raft_id		to;
		TimestampTz sent_at;
	}			snapshot_sends[RAFT_MAX_MEMBERS];
	int			n_snapshot_sends;

	/*
	 * Leader asked to remove itself: it first hands leadership to the most
	 * caught-up voter, then answers the request "not the leader", which
	 * makes the backend carry the removal to the new leader (sql_admin.c).
	 */
	bool		handoff_pending;
	int			handoff_slot;
	uint64		handoff_ticket;
	TimestampTz handoff_started_at;

	/* Timing. */
	TimestampTz next_tick_at;
	TimestampTz retry_at;		/* broken: rebuild after this */
	int			backoff_ms;
	TimestampTz last_sweep_at;	/* of stale inflight_ids */
	TimestampTz last_reroute_at;	/* of pending transactions */

	/* Status counters (ordering.status). */
	bool		status_dirty;
	int64		leader_changes;
	int64		proposal_failures;
	int64		data_persist_count;
	double		data_persist_total_ms;
	double		data_persist_last_ms;
	char		last_error[ORDERING_ERROR_MESSAGE_MAX];

	/* Seen by the worker's reload pass; unseen channels are dropped. */
	bool		seen;
} Channel;

/* Creation and teardown (channel.c). */
extern Channel *ChannelCreate(const char *name, int status_slot,
							  MemoryContext parent);
extern void ChannelDestroy(Channel *ch);
/* (Re)builds the Raft node from storage; in its own transaction. */
extern void ChannelLoad(Channel *ch);
/* Drops the Raft node after an error; ChannelLoad again after backoff. */
extern void ChannelBreak(Channel *ch, const char *message);
static inline bool
ChannelIsLive(const Channel *ch)
{
	return ch->raft != NULL;
}

/* The event loop's steps (channel.c). */
extern void ChannelTick(Channel *ch, TimestampTz now);
extern void ChannelSubmit(Channel *ch, const char *tx_id,
						  const char *payload, uint32 payload_len,
						  TimestampTz now);
extern void ChannelReceive(Channel *ch, const char *from_node, int kind,
						   const char *data, Size len, TimestampTz now);
extern void ChannelTakeAdminRequest(Channel *ch, int slot,
									const OrderingAdminRequest *request);
extern void ChannelFlush(Channel *ch, TimestampTz now);
extern bool ChannelProcessReady(Channel *ch, bool *wrote_blocks);
extern long ChannelNextTimeoutMs(const Channel *ch, TimestampTz now);
extern void ChannelPublishStatus(Channel *ch);
extern void ChannelClearStatus(int status_slot);
extern void ChannelFailAdminWaits(Channel *ch, int sqlstate,
								  const char *message);

/* Membership lookups; ChannelPeerById also looks in the address book. */
extern const ChannelMember *ChannelMemberById(const Channel *ch, raft_id id);
extern const ChannelMember *ChannelPeerById(const Channel *ch, raft_id id);
extern const ChannelMember *ChannelMemberByNode(const Channel *ch,
												const char *node);

/* Joining (channel.c): the address book from a GENESIS record. */
extern void ChannelSetAddressBook(Channel *ch, int n_book,
								  const ChannelMember *book);
extern bool ChannelBookHasSelf(int n_book, const ChannelMember *book);

/* Answers an admin slot (worker side); broadcasts admin_cv. */
extern void ChannelAnswerAdmin(int slot, uint64 ticket, int sqlstate,
							   const char *message, int64 block);

#endif							/* ORDERING_CHANNEL_H */
