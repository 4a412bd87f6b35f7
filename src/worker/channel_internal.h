/*-------------------------------------------------------------------------
 *
 * channel_internal.h
 *	  What the files of the channel runtime share with each other; the
 *	  worker's loop sees only channel.h.
 *
 * src/worker/channel_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CHANNEL_INTERNAL_H
#define ORDERING_CHANNEL_INTERNAL_H

#include "common/gucs.h"
#include "worker/channel.h"

/*
 * Every call into the core that names a node or a memory storage checks
 * first that it is the entered channel's (ChannelEnter): an ERROR before
 * the call, never memory of one channel allocated in another's context.
 */
extern void ChannelCheckEntered(const void *node_or_storage);

#define CHANNEL_FIRST(x, ...) (x)
#define CHANNEL_ENTERED(f, ...)                                               \
	(ChannelCheckEntered(CHANNEL_FIRST(__VA_ARGS__, 0)), f(__VA_ARGS__))
#define raft_node_destroy(n) CHANNEL_ENTERED(raft_node_destroy, n)
#define raft_tick(n) CHANNEL_ENTERED(raft_tick, n)
#define raft_step(n, ...) CHANNEL_ENTERED(raft_step, n, __VA_ARGS__)
#define raft_campaign(n) CHANNEL_ENTERED(raft_campaign, n)
#define raft_propose(n, ...) CHANNEL_ENTERED(raft_propose, n, __VA_ARGS__)
#define raft_propose_conf_change(n, ...)                                      \
	CHANNEL_ENTERED(raft_propose_conf_change, n, __VA_ARGS__)
#define raft_transfer_leader(n, ...)                                          \
	CHANNEL_ENTERED(raft_transfer_leader, n, __VA_ARGS__)
#define raft_report_unreachable(n, ...)                                       \
	CHANNEL_ENTERED(raft_report_unreachable, n, __VA_ARGS__)
#define raft_report_snapshot(n, ...)                                          \
	CHANNEL_ENTERED(raft_report_snapshot, n, __VA_ARGS__)
#define raft_has_ready(n) CHANNEL_ENTERED(raft_has_ready, n)
#define raft_ready_get(n, ...) CHANNEL_ENTERED(raft_ready_get, n, __VA_ARGS__)
#define raft_advance(n, ...) CHANNEL_ENTERED(raft_advance, n, __VA_ARGS__)
#define raft_get_status(n, ...)                                               \
	CHANNEL_ENTERED(raft_get_status, n, __VA_ARGS__)
#define raft_memory_storage_destroy(s)                                        \
	CHANNEL_ENTERED(raft_memory_storage_destroy, s)
#define raft_memory_storage_view(s)                                           \
	CHANNEL_ENTERED(raft_memory_storage_view, s)
#define raft_memory_storage_append(s, ...)                                    \
	CHANNEL_ENTERED(raft_memory_storage_append, s, __VA_ARGS__)
#define raft_memory_storage_apply_snapshot(s, ...)                            \
	CHANNEL_ENTERED(raft_memory_storage_apply_snapshot, s, __VA_ARGS__)
#define raft_memory_storage_create_snapshot(s, ...)                           \
	CHANNEL_ENTERED(raft_memory_storage_create_snapshot, s, __VA_ARGS__)
#define raft_memory_storage_compact(s, ...)                                   \
	CHANNEL_ENTERED(raft_memory_storage_compact, s, __VA_ARGS__)
#define raft_memory_storage_size_bytes(s)                                     \
	CHANNEL_ENTERED(raft_memory_storage_size_bytes, s)

/* Bounds of the rebuild backoff after an error. */
#define CHANNEL_BACKOFF_MIN_MS 1000
#define CHANNEL_BACKOFF_MAX_MS 30000

static inline bool
ChannelIsLeader(const Channel *ch)
{
	return ch->raft.node != NULL && ch->raft.role == RAFT_LEADER;
}

/* The channel's election timeout (election_tick ticks), in milliseconds. */
static inline int64
ChannelElectionTimeoutMs(const Channel *ch)
{
	return ch->state.settings.election_tick * (int64) ordering_tick_interval_ms;
}

/* Membership lookups (channel.c); ChannelPeer* also read the book. */
extern const ChannelMember *ChannelMemberById(const Channel *ch, raft_id id);
extern const ChannelMember *
ChannelMemberByNode(const Channel *ch, const char *node);
extern const ChannelMember *ChannelPeerById(const Channel *ch, raft_id id);
extern const ChannelMember *
ChannelPeerByNode(const Channel *ch, const char *node);

/* Identity (channel_identity.c). */
/* Queues a record for a member, connecting as ChannelOwnUser(ch). */
extern bool ChannelSend(Channel *ch, const ChannelMember *to,
						OrderingRecordKind kind, const void *data, Size len);
/*
 * The member from_node, when it is one (or in the address book) and
 * session_role is its role; else counts and logs the record as rejected
 * and returns NULL.
 */
extern const ChannelMember *
ChannelAdmit(Channel *ch, const char *from_node, const char *session_role);
/* Counts a dropped record; logs reason (fixed text) and detail, rate-limited. */
extern void ChannelReject(Channel *ch, const char *from_node,
						  const char *reason, const char *detail);
extern void ChannelNoteMembersChanged(void);
/* The leader's node name, "" when unknown. */
extern const char *ChannelLeaderName(const Channel *ch);
/*
 * The leader as this node's peer, where forwards and answers go; NULL when
 * this node leads, runs no Raft node, or knows no leader.
 */
extern const ChannelMember *ChannelLeaderPeer(const Channel *ch);

/* Routing (channel_routing.c). */
extern void ChannelRoutingInit(Channel *ch);
extern void ChannelRoutingTick(Channel *ch, TimestampTz now);
/* Takes ownership of tx: to the cutter, the leader, or the held list. */
extern void ChannelRoute(Channel *ch, CutterTx *tx, TimestampTz now);
extern void ChannelProposeBatch(Channel *ch, List *batch);
/* Proposes the batches the core refused as busy, in order, while it takes them. */
extern void ChannelRetryBlocked(Channel *ch);
extern void ChannelRerouteHeld(Channel *ch, TimestampTz now);
extern void
ChannelReroutePending(Channel *ch, TimestampTz now, int older_than_ms);
extern void ChannelHoldPending(Channel *ch);
extern void ChannelClearInflight(Channel *ch);
extern void ChannelForgetInflight(Channel *ch, const char *tx_id);
extern void ChannelForgetPending(Channel *ch, const char *tx_id);
/* Within the ready's transaction, after blocks came by a snapshot. */
extern void ChannelForgetOrderedPending(Channel *ch);
/* Drops what is waiting to be forwarded (counted as proposal failures). */
extern void ChannelDropForwards(Channel *ch);

/* Joining (channel_joining.c). */
extern void ChannelNoteHeard(Channel *ch, raft_id id, TimestampTz now);
extern void ChannelSendGenesis(Channel *ch, const ChannelMember *to);
extern void
ChannelRequestJoin(Channel *ch, const char *only_node, TimestampTz now);
extern void ChannelPushGenesis(Channel *ch, TimestampTz now);
extern void
ChannelReceiveGenesis(Channel *ch, const char *from_node,
					  const char *session_role, const char *data, Size len);

/* Admin requests (channel_admin.c). */
extern void
ChannelFailAdminWaits(Channel *ch, int sqlstate, const char *message);
extern void
ChannelAnswerApplied(Channel *ch, const raft_entry *entry, int64 block);

/* Membership changes (channel_membership.c). */
extern void ChannelMaybePromote(Channel *ch);
extern int
ChannelProposeConfChange(Channel *ch, raft_conf_change_type type, raft_id node,
						 const char *node_name, const char *conninfo);
extern char *
ChannelCheckMembershipChange(Channel *ch, int kind,
							 const ChannelMember *target, bool *too_few_heard);
extern bool ChannelStartHandoff(Channel *ch, int slot, uint64 ticket);
extern void ChannelFinishHandoff(Channel *ch, TimestampTz now);

/* Eviction detection (channel_eviction.c), on every tick. */
extern void ChannelWatchEviction(Channel *ch, TimestampTz now);
/* On each tick: ordering.status shows why calls to the leader fail. */
extern void ChannelWatchLeaderLink(Channel *ch);
extern void ChannelForgetEviction(Channel *ch);

/* Readies (channel_ready.c). */
extern void ChannelExpireSnapshotSends(Channel *ch, TimestampTz now);

/* Storage-fault recovery and archives (channel_recovery.c). */
/* A channel restored without Raft state: served read-only, never run. */
extern void ChannelLoadArchive(Channel *ch);
/* The stored peer records, bounded, as options.peers. */
extern void
ChannelPeerOptions(Channel *ch, StoreRaftState *stored, raft_options *options);
/* raft_node_create refused the stored state: ERROR naming the remedy. */
extern void
ChannelRefuseStoredState(Channel *ch, int rc) pg_attribute_noreturn();
/* Logs, once, that the node recovers or has caught up. */
extern void ChannelNoteRecovery(Channel *ch, bool recovering);

/* Quiet idle channels (channel_quiescence.c). */
/* On every tick: true while the channel is quiet and must not tick. */
extern bool ChannelQuiescentTick(Channel *ch, TimestampTz now);
/* A rebuild wakes a channel, and so does a Raft message that asks for work. */
extern void ChannelWake(Channel *ch);
extern bool ChannelMessageWakes(const Channel *ch, const raft_message *msg);
/* After a background catch-up: answers the snapshot it installed. */
extern void ChannelAnswerInstalledSnapshot(Channel *ch, raft_index installed);
extern void ChannelReceiveQuiesce(Channel *ch, const ChannelMember *from,
								  const char *data, Size len);

/* Chain checks through the log (channel_chain_check.c). */
/* After a ready, on a leader: propose one every so many blocks. */
extern void ChannelMaybeProposeChainCheck(Channel *ch);
/* Applying one: a WARNING, and last_error, when this node's chain parted. */
extern void ChannelApplyChainCheck(Channel *ch, const raft_entry *entry);

/* Status (channel_status.c). */
extern void ChannelClearStatus(int status_slot);

#endif /* ORDERING_CHANNEL_INTERNAL_H */
