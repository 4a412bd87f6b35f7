/*-------------------------------------------------------------------------
 *
 * sim.h
 *	  The deterministic cluster simulator of the Raft core: the types and
 *	  functions its files share (sim.c lists them and what each does).
 *
 * Everything a run does follows from one seed through one PRNG, so a seed
 * and the command-line knobs replay a run exactly.
 *
 * test/raft/sim.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_SIM_H
#define RAFT_SIM_H

#include "raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_NODES 32	  /* node ids 1..SIM_MAX_NODES over one run */
#define SIM_MAX_MEMBERS 7	  /* voters + learners at any time */
#define SIM_MIN_VOTERS 3	  /* membership changes keep this many */
#define SIM_NET_CAPACITY 4096 /* messages in flight; more are dropped */
#define SIM_FAIL_BYTES 1024
#define SIM_MAX_REPORTS 64 /* transport reports kept per ready */

typedef enum sim_bootstrap
{
	BOOTSTRAP_MIXED = 0, /* drawn per seed */
	BOOTSTRAP_SNAPSHOT,	 /* founders share a snapshot at index 1 */
	BOOTSTRAP_GENESIS	 /* everyone starts at 0 with the genesis
								 * configuration, like the worker */
} sim_bootstrap;

/* Command-line knobs: one run of seeds. */
typedef struct sim_options
{
	uint64_t seed_first;
	uint64_t seed_last; /* UINT64_MAX: open-ended (with seconds) */
	uint64_t steps;		/* fault phase + calm phase */
	uint32_t nodes;		/* 3, 5 or 7; 0 picks from the seed */
	double drop;		/* per message sent */
	double dup;			/* per message sent */
	double delay;		/* per message sent: held max_delay steps */
	uint32_t max_delay;
	bool reorder;			 /* deliver any due message, not the oldest */
	double partition_rate;	 /* per step, fault phase */
	double crash_rate;		 /* per step, fault phase */
	double restart_rate;	 /* per step, fault phase */
	double propose_rate;	 /* per step */
	double conf_rate;		 /* per step, fault phase */
	double transfer_rate;	 /* per step, fault phase */
	double snapshot_rate;	 /* per step */
	double fault_fraction;	 /* faults stop after this share of steps */
	uint64_t liveness_steps; /* bound on the final liveness check */
	double seconds;			 /* stop starting seeds after this long */
	bool pre_vote;
	bool check_quorum;
	bool snapshot_on_conf; /* host snapshots after a conf change */
	sim_bootstrap bootstrap;
	bool interleave;	  /* one ready stage per host event */
	double early_send;	  /* share of hosts that send a leader's
								 * appends before persisting */
	double lose_rate;	  /* per step, fault phase: a wiped disk */
	double rollback_rate; /* per step, fault phase: an older copy */
	bool verbose;
	bool quiet; /* print only failures and a summary */
} sim_options;

/* One committed entry of the global history, or one persisted entry. */
typedef struct sim_entry
{
	raft_term term;
	uint64_t chain;			/* hash of every entry up to this one */
	raft_term committed_by; /* history only: the highest term any node
								 * had when the entry was first applied, so
								 * it was committed in this term or before */
} sim_entry;

/* A copy of a node's disk, for "roll back state" (sim_storage.c). */
typedef struct sim_disk_copy
{
	raft_memory_storage *ms;
	raft_hard_state hard_state;
	raft_config config;
	raft_index applied;
	uint64_t applied_chain;
	raft_index snap_index;
	raft_term snap_term;
	uint64_t snap_chain;
	sim_entry *log;
	size_t log_len;
	uint32_t n_peers;
	raft_peer_record peers[RAFT_MAX_MEMBERS];
	bool was_member;
} sim_disk_copy;

typedef struct sim_node
{
	raft_id id;
	bool exists;	   /* created in this run */
	bool alive;		   /* running (rn != NULL) */
	bool removed;	   /* applied its own removal: stopped */
	bool was_member;   /* its applied config ever held it */
	bool conf_applied; /* this ready applied a conf change */
	bool early_send;   /* this host sends early messages first */
	raft_node *rn;
	uint32_t restarts;

	/* The "disk": what survives a crash. */
	raft_memory_storage *ms;
	raft_hard_state hard_state; /* with incarnation, boot, recovering */
	uint32_t n_peers;			/* the peer records, as persisted */
	raft_peer_record peers[RAFT_MAX_MEMBERS];
	raft_config config; /* in effect at applied */
	raft_index applied;
	uint64_t applied_chain; /* the state machine: a digest of history */

	/* Shadow of the persisted log: entries snap_index+1 .. snap_index+n. */
	raft_index snap_index;
	raft_term snap_term;
	uint64_t snap_chain;
	sim_entry *log;
	size_t log_len;
	size_t log_cap;

	/* Storage faults (sim_storage.c). */
	sim_disk_copy *backup; /* an older copy of the disk, or NULL */
	bool storage_failed;   /* lost or rolled back, not yet recovered */
	bool undetected;	   /* rolled back, the host did not say so */
	uint64_t ticks;		   /* ticks in this life */
	uint64_t fault_ticks[SIM_MAX_NODES + 1];	/* others' ticks and */
	uint32_t fault_restarts[SIM_MAX_NODES + 1]; /* restarts at the fault */

	/* Checks. */
	raft_term term_seen;	   /* highest term observed in this life */
	raft_term leader_term;	   /* term of the leader-completeness cursor */
	raft_index leader_checked; /* committed entries verified up to here */
	raft_role role;

	/* The ready in progress (a host_stage of sim_host.c; 0: none). */
	int stage;
	raft_ready ready;
	raft_id snap_failed_to[SIM_MAX_REPORTS];
	uint32_t n_snap_failed;
	raft_id unreachable[SIM_MAX_REPORTS];
	uint32_t n_unreachable;
} sim_node;

typedef struct sim_msg
{
	raft_id from;
	raft_id to;
	uint8_t type;
	uint64_t seq;
	uint64_t due_step;
	uint32_t size;
	uint8_t *bytes; /* the wire encoding */
} sim_msg;

/* (index, term) -> chain of every persisted entry ever seen. */
typedef struct sim_chain_map
{
	size_t capacity; /* power of two */
	size_t count;
	raft_index *index; /* 0: empty slot */
	raft_term *term;
	uint64_t *chain;
} sim_chain_map;

typedef struct sim
{
	const sim_options *options;
	uint64_t seed;
	uint64_t rng[4]; /* xoshiro256** */
	uint64_t step;
	bool calm; /* fault phase over */
	uint32_t n_nodes_initial;
	uint32_t next_id;
	bool genesis; /* BOOTSTRAP_GENESIS for this seed */
	raft_config initial_config;
	raft_config newest_config;		/* the last one proposed */
	uint64_t snapshot_interval;		/* entries applied between snapshots */
	uint64_t max_msg_bytes;			/* raft_options.max_size_per_msg */
	uint32_t max_inflight;			/* raft_options.max_inflight_msgs */
	uint64_t max_committed_bytes;	/* max_committed_size_per_ready */
	uint64_t max_uncommitted_bytes; /* 0: the core's default */

	sim_node nodes[SIM_MAX_NODES + 1]; /* by id; [0] unused */

	sim_msg *net[SIM_NET_CAPACITY];
	uint32_t net_len;
	uint64_t net_seq;
	bool blocked[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* from, to */

	/* Global history: hist[i] for committed index i, 1 <= i <= hist_len. */
	sim_entry *hist;
	raft_index hist_len;
	size_t hist_cap;
	sim_chain_map chains;

	/* leader_of[t]: the leader seen in term t, RAFT_NONE if none. */
	raft_id *leader_of;
	size_t leader_cap;
	uint64_t n_leaders;
	raft_term max_term; /* highest term any node has had */

	uint64_t proposals;
	uint64_t busy; /* proposals refused: RAFT_ERR_BUSY */
	uint64_t conf_changes;
	uint64_t snapshots_taken;
	uint64_t snapshots_installed;
	uint64_t crashes;
	uint64_t delivered;
	uint64_t storage_faults; /* disks wiped or rolled back */
	uint64_t peer_detected;	 /* rollbacks left to the peers to find */
	uint64_t behind;		 /* messages refused: RAFT_ERR_BEHIND */

	/* Liveness. */
	uint64_t marker_next;
	raft_index marker_index; /* first marker committed, 0 until then */

	bool failed;
	char failure[SIM_FAIL_BYTES];
} sim;

/* What became of one message a host sent (sim_net.c). */
typedef enum send_result
{
	SEND_QUEUED, /* on the network (it may still be lost) */
	SEND_CUT,	 /* the link is down: the transport knows */
	SEND_DROPPED /* lost silently */
} send_result;

/* sim.c: the PRNG (every draw of a run) and failure reports */
extern uint64_t sim_rng_next(sim *s);
extern uint64_t sim_rng_below(sim *s, uint64_t n);
extern double sim_rng_unit(sim *s);
extern bool sim_rng_chance(sim *s, double p);
extern void
sim_fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern void sim_trace(const sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern void sim_check_result(sim *s, const char *call, raft_id id, int err);

/* sim_options.c: the command line */
extern void sim_parse_options(sim_options *o, int argc, char **argv);
extern void sim_format_replay(const sim_options *o, const char *argv0,
							  char *out, size_t cap);

/* sim_host.c: nodes and the host loop */
extern void sim_put_u64(uint8_t *p, uint64_t v);
extern bool sim_config_same(const raft_config *a, const raft_config *b);
extern void sim_node_start(sim *s, sim_node *n);
extern void sim_node_stop(sim *s, sim_node *n, const char *why);
extern sim_node *sim_node_create(sim *s, raft_id id, bool founder);
extern void sim_node_free(sim_node *n);
extern void sim_event_host(sim *s, sim_node *n);
extern void sim_host_snapshot(sim *s, sim_node *n);

/* sim_net.c: the network */
extern send_result sim_net_send(sim *s, sim_node *n, const raft_message *m);
extern void sim_net_free(sim *s);
extern int sim_net_pick(sim *s);
extern sim_node *sim_event_deliver(sim *s, int at);

/* sim_events.c: one step's event */
extern sim_node *sim_random_node(sim *s, bool alive);
extern sim_node *sim_find_leader(sim *s, raft_status *st);
extern sim_node *sim_event_propose(sim *s, bool marker);
extern void sim_calm_down(sim *s);
extern sim_node *sim_routine_event(sim *s);
extern sim_node *sim_one_step(sim *s);

/* sim_storage.c: wiped and rolled-back disks */
extern void sim_event_backup(sim *s);
extern void sim_backup(sim *s, sim_node *n);
extern void sim_event_lose_state(sim *s);
extern void sim_event_roll_back(sim *s);
extern bool sim_may_restart(const sim *s, const sim_node *n);
extern void sim_storage_progress(sim *s);
extern void sim_disk_copy_free(sim_disk_copy *copy);

/* sim_check.c: every check calls sim_fail() and returns on a violation. */
extern uint64_t sim_hash_bytes(const uint8_t *data, size_t size);
extern uint64_t sim_chain_next(uint64_t chain, const raft_entry *entry);
extern void sim_check_init(sim *s);
extern void sim_check_free(sim *s);
extern void sim_check_status(sim *s, sim_node *n);
extern void
sim_check_hard_state(sim *s, sim_node *n, const raft_hard_state *next);
extern void sim_check_snapshot(sim *s, sim_node *n,
							   const raft_snapshot *snapshot, uint64_t chain);
extern void sim_log_reset(sim *s, sim_node *n, raft_index index,
						  raft_term term, uint64_t chain);
extern void
sim_log_append(sim *s, sim_node *n, const raft_entry *entries, uint32_t count);
extern void sim_log_compact(sim *s, sim_node *n, raft_index index);
extern bool sim_log_lookup(const sim_node *n, raft_index index, sim_entry *out);
extern void sim_check_storage(sim *s, sim_node *n);
extern void
sim_check_apply(sim *s, sim_node *n, const raft_entry *entry, uint64_t chain);
extern void sim_check_leader_completeness(sim *s, sim_node *n, raft_term term);

#endif /* RAFT_SIM_H */
