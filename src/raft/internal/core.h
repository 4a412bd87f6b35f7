/*-------------------------------------------------------------------------
 *
 * core.h
 *	  The raft_node structure and the functions the core's files share.
 *	  Not for the host: the host sees only raft.h.
 *
 * One raft_node is one member of one group.  Every state change is the
 * result of exactly one raft_step_internal() call (ticks step local HUP or
 * BEAT messages), which is what makes a seeded run replay exactly.
 *
 * src/raft/internal/core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_INTERNAL_CORE_H
#define RAFT_INTERNAL_CORE_H

#include "../raft.h"
#include "heap.h"
#include "log.h"
#include "progress.h"

/* Defaults for zero-valued options. */
#define RAFT_DEFAULT_ELECTION_TICK 10
#define RAFT_DEFAULT_HEARTBEAT_TICK 1
#define RAFT_DEFAULT_MAX_SIZE_PER_MSG (1024u * 1024u)
#define RAFT_DEFAULT_MAX_INFLIGHT_MSGS 256
#define RAFT_DEFAULT_MAX_COMMITTED_SIZE_PER_READY (16u * 1024u * 1024u)
#define RAFT_DEFAULT_MAX_UNCOMMITTED_BYTES (64u * 1024u * 1024u)
/* Bounds on options: keep one APP well under RAFT_WIRE_MAX_BYTES. */
#define RAFT_MAX_SIZE_PER_MSG_LIMIT (RAFT_WIRE_MAX_BYTES / 4)
#define RAFT_MAX_INFLIGHT_LIMIT 4096
/* Largest proposal accepted: must fit one message with room to spare. */
#define RAFT_MAX_PROPOSAL_BYTES (RAFT_WIRE_MAX_BYTES / 2)

/* Context of a VOTE/PREVOTE sent by a leader-transfer campaign. */
#define RAFT_CAMPAIGN_TRANSFER_CONTEXT 1

typedef enum raft_campaign_type
{
	RAFT_CAMPAIGN_PRE_ELECTION,
	RAFT_CAMPAIGN_ELECTION,
	RAFT_CAMPAIGN_TRANSFER
} raft_campaign_type;

typedef enum raft_vote_result
{
	RAFT_VOTE_PENDING = 0,
	RAFT_VOTE_LOST = 1,
	RAFT_VOTE_WON = 2
} raft_vote_result;

/* Outgoing messages; each owns its entries and snapshot. */
typedef struct raft_message_queue
{
	raft_message *items;
	uint32_t n;
	uint32_t capacity;
} raft_message_queue;

struct raft_node
{
	raft_id id;

	/* Persistent state (hard state, with log.committed). */
	raft_term term;
	raft_id vote;

	/* Volatile state. */
	raft_role role;
	raft_id leader;
	raft_log log;
	raft_tracker tracker;		   /* configuration and per-peer progress */
	raft_index config_index;	   /* tracker.config is in effect from here */
	raft_index pending_conf_index; /* leader: last conf change proposed */
	raft_id lead_transferee;
	uint64_t uncommitted_bytes; /* leader: data of its term's entries
									 * not yet seen committed */

	/* Time, in ticks. */
	uint32_t election_elapsed;
	uint32_t heartbeat_elapsed;
	uint32_t randomized_election_timeout; /* [election_tick, 2x) */

	/* Options. */
	uint32_t election_tick;
	uint32_t heartbeat_tick;
	uint64_t max_size_per_msg;
	uint64_t max_committed_size_per_ready;
	uint64_t max_uncommitted_bytes;
	bool pre_vote;
	bool check_quorum;
	uint64_t prng;

	raft_message_queue msgs;

	/* Storage-fault recovery (recovery.c). */
	uint64_t incarnation; /* 0: the host takes no part */
	uint64_t boot;		  /* counter, as in the hard state */
	uint32_t nonce;		  /* random, drawn at creation */
	uint64_t life;		  /* boot << 32 | nonce, or 0 */
	bool recovering;
	bool recovered;					/* caught up since this start */
	raft_index recovery_target;		/* 0: none given yet */
	raft_term recovery_target_term; /* term of that entry, or 0 */
	raft_term recovery_leader_term; /* the term it was given in */
	uint32_t quiet_ticks;			/* restarted: no votes while > 0 */
	uint32_t n_peers;
	raft_peer_record peers[RAFT_MAX_MEMBERS];
	uint64_t peers_version;	  /* bumped on every change */
	uint64_t peers_persisted; /* version the host last persisted */

	/* What the last acknowledged ready reported. */
	raft_role prev_role;
	raft_id prev_leader;
	raft_hard_state prev_hard_state;

	/* The ready handed out and not yet advanced: owned here. */
	bool ready_outstanding;
	raft_message_queue ready_msgs;
	raft_entry *ready_entries;
	raft_entry *ready_committed;
	raft_snapshot ready_snapshot;
	raft_peer_record ready_peers[RAFT_MAX_MEMBERS];
	uint64_t ready_peers_version;
};

/* util.c */
extern uint64_t raft_prng_next(uint64_t *state);
extern uint64_t raft_prng_below(uint64_t *state, uint64_t bound);
extern uint64_t raft_entries_size_bytes(const raft_entry *entries, uint32_t n);
extern int
raft_entries_copy(const raft_entry *src, uint32_t n, raft_entry **out);
extern int raft_entry_copy(const raft_entry *src, raft_entry *dst);
extern int raft_snapshot_copy(const raft_snapshot *src, raft_snapshot *dst);
extern int
raft_snapshot_copy_block(const raft_snapshot *src, raft_snapshot **out);
extern void raft_snapshot_clear(raft_snapshot *snapshot);
extern void raft_message_release(raft_message *msg);

/* quorum.c */
extern uint32_t raft_quorum_size(uint32_t n_voters);
extern raft_index
raft_quorum_committed_index(const raft_index *match, uint32_t n_voters);
extern raft_vote_result
raft_quorum_vote_result(uint32_t n_voters, uint32_t granted, uint32_t rejected);

/* configuration.c */
extern bool raft_config_is_member(const raft_config *config, raft_id id);
extern bool raft_config_is_valid(const raft_config *config);

/* validate.c */
extern int
raft_validate_peer_message(const raft_node *node, const raft_message *msg);
extern int raft_validate_stored_state(const raft_options *options);

/* recovery.c */
extern int raft_recovery_init(raft_node *node, const raft_options *options);
extern void raft_recovery_stamp(const raft_node *node, raft_message *msg);
extern void raft_recovery_hello(raft_node *node);
extern int raft_recovery_check_sender(raft_node *node, const raft_message *msg);
extern void raft_recovery_notice(raft_node *node, const raft_message *msg);
extern void raft_recovery_follow(raft_node *node, const raft_message *msg);
extern void raft_recovery_observe(raft_node *node, raft_progress *pr,
								  const raft_message *msg);
extern bool raft_recovery_lost_entries(raft_node *node, raft_progress *pr,
									   const raft_message *msg);
extern void raft_recovery_maybe_finish(raft_node *node);
extern bool raft_recovery_may_vote(const raft_node *node);
extern void raft_recovery_tick(raft_node *node);
extern void raft_recovery_prune_peers(raft_node *node);

/* raft.c: the single entry point of every state change */
extern int raft_step_internal(raft_node *node, const raft_message *msg);
extern int raft_send(raft_node *node, raft_message *msg);
extern void raft_message_queue_clear(raft_message_queue *queue);
extern void raft_assert_invariants(const raft_node *node);

/* role.c: transitions and ticks */
extern void
raft_become_follower(raft_node *node, raft_term term, raft_id leader);
extern void raft_become_pre_candidate(raft_node *node);
extern void raft_become_candidate(raft_node *node);
extern int raft_become_leader(raft_node *node);
extern bool raft_promotable(const raft_node *node);
extern void raft_tick_election(raft_node *node);
extern void raft_tick_heartbeat(raft_node *node);
extern bool raft_past_election_timeout(const raft_node *node);

/* election.c */
extern int raft_hup(raft_node *node, raft_campaign_type type);
extern int raft_handle_vote_request(raft_node *node, const raft_message *msg);
extern int raft_handle_vote_response(raft_node *node, const raft_message *msg);

/* replication.c */
extern int
raft_append_entries_as_leader(raft_node *node, raft_entry *entries, uint32_t n);
extern int
raft_send_append(raft_node *node, raft_id to, bool send_if_empty, bool *sent);
extern int raft_bcast_append(raft_node *node);
extern int raft_bcast_heartbeat(raft_node *node);
extern bool raft_maybe_commit(raft_node *node);
extern int raft_handle_append_entries(raft_node *node, const raft_message *msg);
extern int raft_handle_heartbeat(raft_node *node, const raft_message *msg);
extern int raft_handle_snapshot(raft_node *node, const raft_message *msg);
extern int raft_handle_append_response(raft_node *node, raft_progress *pr,
									   const raft_message *msg);
extern int raft_handle_heartbeat_response(raft_node *node, raft_progress *pr,
										  const raft_message *msg);
extern int raft_self_ack(raft_node *node);
extern bool raft_uncommitted_admits(const raft_node *node, uint64_t bytes);
extern void raft_uncommitted_release(raft_node *node,
									 const raft_entry *committed, uint32_t n);

/* ready.c */
extern void raft_release_ready(raft_node *node);

/* membership.c */
extern int raft_switch_to_config(raft_node *node, const raft_config *config);
extern void
raft_apply_conf_change_entry(raft_node *node, const raft_entry *entry);
extern bool raft_has_unapplied_conf_changes(const raft_node *node);
extern bool raft_committed_entry_in_current_term(const raft_node *node);
extern int raft_handle_transfer_leader(raft_node *node, raft_progress *pr,
									   const raft_message *msg);
extern void raft_abort_leader_transfer(raft_node *node);
extern int raft_send_timeout_now(raft_node *node, raft_id to);

#endif /* RAFT_INTERNAL_CORE_H */
