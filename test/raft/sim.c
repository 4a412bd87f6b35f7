/*-------------------------------------------------------------------------
 *
 * sim.c
 *	  A deterministic simulator of clusters of Raft cores: 3, 5 or 7 nodes
 *	  on a network that drops, delays, duplicates and reorders messages,
 *	  with partitions, crashes, restarts, membership changes, leader
 *	  transfers and snapshots; Raft's safety properties are checked after
 *	  every step (sim_check.c) and liveness once the faults stop.
 *
 * One seed drives one PRNG (xoshiro256**, seeded by splitmix64), the only
 * source of randomness: the same seed and knobs replay the same run.
 *
 * A node is a raft_node plus its "disk": a raft_memory_storage, and the
 * persisted hard state, applied index, configuration at applied, and state
 * machine (a chain hash of every applied entry).  The host loop, one ready
 * at a time, as raft.h asks:
 *		0. a host that sends early (--early-send, half of them by default)
 *		   sends the ready's early messages (a leader's appends, heartbeats
 *		   and snapshots) before anything is persisted;
 *		1. persist the snapshot (and install it in the state machine), the
 *		   entries, and the hard state;
 *		2. encode every message (src/raft/codec.c) onto the network; the
 *		   sender of a SNAP hears raft_report_snapshot() when it arrives or
 *		   is lost, and raft_report_unreachable() for a cut link;
 *		3. apply the committed entries: hash them into the state machine,
 *		   apply conf changes to the configuration;
 *		raft_advance(); a snapshot every snapshot_interval entries.
 * A crash may strike between any two of these, or between two applied
 * entries: what was not done is lost, with the node's volatile state (a
 * leader that sent early and crashed before persisting loses its own copy
 * of the tail it sent).
 * With --interleave each host event does one of these stages, and other
 * events may reach the node in between.
 *
 * Bootstrap (--bootstrap, drawn per seed by default): "genesis", like the
 * worker, starts every node at applied 0 with the genesis configuration;
 * "snapshot" gives founders a snapshot at index 1 and joiners an empty
 * configuration.
 *
 * Steps.  Each step fires exactly one event, chosen like this:
 *	 1. At step = fault_fraction * steps the fault phase ends: partitions
 *		heal, crashed nodes restart, and the network turns reliable and
 *		in order, like TCP: no more drops, duplicates, delays or reordering
 *		(messages already in flight stay).  (No event.)
 *	 2. Draw u in [0, 1) and walk these rows, each taking its rate of the
 *		interval; the row that u falls in fires, if it can:
 *			crash, restart, partition, conf change, transfer   (fault phase)
 *			proposal, snapshot                                  (always)
 *	 3. Otherwise one routine event, by weight among those possible:
 *			host (4): one ready (or ready stage) of a node that has one
 *			deliver (4): one due message (the oldest, or any with reorder)
 *			tick (1): one random running node
 *	After steps, the liveness phase runs calm steps until a marker
 *	proposal has been applied by every voter, or fails after
 *	liveness_steps.
 *
 * test/raft/sim.c
 *
 *-------------------------------------------------------------------------
 */
#define _POSIX_C_SOURCE 200809L

#include "sim.h"

#include <assert.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SNAP_MAGIC 0x53494d534e415031ULL /* "SIMSNAP1" */
#define SNAP_HEADER_BYTES 24
#define MARKER_RETRY_STEPS 400
#define ELECTION_TICK 10

static const char *const message_names[RAFT_MSG_TYPE_COUNT] = { "HUP",
																"BEAT",
																"PROP",
																"APP",
																"APP_RESP",
																"VOTE",
																"VOTE_RESP",
																"PREVOTE",
																"PREVOTE_RESP",
																"HEARTBEAT",
																"HEARTBEAT_RESP",
																"SNAP",
																"TIMEOUT_NOW",
																"TRANSFER_LEADER",
																"UNREACHABLE",
																"SNAP_STATUS",
																"RECOVER",
																"HELLO" };

/* For the signal handler: the seed in flight and the replay command. */
static volatile uint64_t current_seed;
static char replay_prefix[1024];

/* ------------------------------------------------------------------------
 * PRNG: xoshiro256**, seeded through splitmix64
 * ------------------------------------------------------------------------
 */
static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(sim *s)
{
	uint64_t *r = s->rng;
	uint64_t result = rotl(r[1] * 5, 7) * 9;
	uint64_t t = r[1] << 17;

	r[2] ^= r[0];
	r[3] ^= r[1];
	r[1] ^= r[2];
	r[0] ^= r[3];
	r[2] ^= t;
	r[3] = rotl(r[3], 45);
	return result;
}

uint64_t
sim_rng_next(sim *s)
{
	return rng_next(s);
}

/* Uniform in [0, n), n > 0. */
static uint64_t
rng_below(sim *s, uint64_t n)
{
	assert(n > 0);
	return rng_next(s) % n;
}

static double
rng_unit(sim *s)
{
	return (double) (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static bool
rng_chance(sim *s, double p)
{
	return rng_unit(s) < p;
}

/* ------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------
 */
void
sim_fail(sim *s, const char *fmt, ...)
{
	va_list ap;
	int used;

	if (s->failed)
		return; /* the first violation is the one to read */
	s->failed = true;
	used =
		snprintf(s->failure, sizeof(s->failure), "step %" PRIu64 ": ", s->step);
	va_start(ap, fmt);
	vsnprintf(s->failure + used, sizeof(s->failure) - (size_t) used, fmt, ap);
	va_end(ap);
	if (s->options->verbose)
		printf("# VIOLATION %s\n", s->failure);
}

void
sim_trace(const sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->options->verbose)
		return;
	printf("# %6" PRIu64 " ", s->step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void
trace_message(const sim *s, const char *what, const raft_message *m)
{
	char snap[64] = "";

	if (!s->options->verbose)
		return;
	if (m->snapshot != NULL)
		snprintf(snap, sizeof(snap),
				 " snapshot=%" PRIu64 "/t%" PRIu64 "/v%u/l%u",
				 m->snapshot->meta.index, m->snapshot->meta.term,
				 m->snapshot->meta.config.n_voters,
				 m->snapshot->meta.config.n_learners);
	sim_trace(s,
			  "%s %s %" PRIu64 "->%" PRIu64 " term=%" PRIu64
			  " log_term=%" PRIu64 " index=%" PRIu64 " commit=%" PRIu64
			  " reject=%d hint=%" PRIu64 " n=%u%s life=%" PRIx64 "%s",
			  what, m->type < RAFT_MSG_TYPE_COUNT ? message_names[m->type] : "?",
			  m->from, m->to, m->term, m->log_term, m->index, m->commit,
			  m->reject, m->reject_hint, m->n_entries, snap, m->from_boot,
			  m->recovering ? " recovering" : "");
}

/*
 * API results the core may legitimately return to a host call.  Honest
 * peers never send what is out of range, and the simulator's disks are
 * never corrupt.
 */
static void
check_result(sim *s, const char *call, raft_id id, int err)
{
	if (err == RAFT_ERR_NOMEM || err == RAFT_ERR_STORAGE || err > 0 ||
		err == RAFT_ERR_OUT_OF_RANGE || err == RAFT_ERR_CORRUPT ||
		err < RAFT_ERR_BEHIND)
		sim_fail(s, "node %" PRIu64 ": %s returned %d (%s)", id, call, err,
				 raft_strerror(err));
}

/* ------------------------------------------------------------------------
 * The host's snapshot data: the state machine at the snapshot's index
 * ------------------------------------------------------------------------
 */
static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t) p[i] << (8 * i);
	return v;
}

static bool
snapshot_data_read(const raft_snapshot *snapshot, uint64_t *chain)
{
	if (snapshot->data_size < SNAP_HEADER_BYTES ||
		get_u64(snapshot->data) != SNAP_MAGIC ||
		get_u64(snapshot->data + 8) != snapshot->meta.index)
		return false;
	*chain = get_u64(snapshot->data + 16);
	return true;
}

/* ------------------------------------------------------------------------
 * Nodes
 * ------------------------------------------------------------------------
 */
bool
sim_config_same(const raft_config *a, const raft_config *b)
{
	if (a->n_voters != b->n_voters || a->n_learners != b->n_learners)
		return false;
	for (uint32_t i = 0; i < a->n_voters; i++)
		if (!raft_config_is_voter(b, a->voters[i]))
			return false;
	for (uint32_t i = 0; i < a->n_learners; i++)
		if (!raft_config_is_learner(b, a->learners[i]))
			return false;
	return true;
}

/*
 * Starts a node from its disk.  Like the worker, the host increments the
 * boot counter durably first (raft.h), and hands back the peer records.
 */
static void
node_start(sim *s, sim_node *n)
{
	raft_options o;
	int err;

	assert(n->exists && !n->alive && !n->removed);
	/* A copy of a stopped disk, as a snapshot of a stopped machine is. */
	if (s->options->rollback_rate > 0 && n->restarts > 0)
		sim_backup(s, n);
	n->hard_state.boot++;
	memset(&o, 0, sizeof(o));
	o.id = n->id;
	o.n_peers = n->n_peers;
	o.peers = n->peers;
	o.storage = raft_memory_storage_view(n->ms);
	o.hard_state = n->hard_state;
	o.config = n->config;
	o.applied = n->applied;
	o.seed = rng_next(s);
	o.election_tick = ELECTION_TICK;
	o.heartbeat_tick = 1;
	o.max_size_per_msg = s->max_msg_bytes;
	o.max_inflight_msgs = s->max_inflight;
	o.max_committed_size_per_ready = s->max_committed_bytes;
	o.max_uncommitted_bytes = s->max_uncommitted_bytes;
	o.disable_pre_vote = !s->options->pre_vote;
	o.disable_check_quorum = !s->options->check_quorum;
	err = raft_node_create(&o, &n->rn);
	if (err != RAFT_OK)
	{
		sim_fail(s, "node %" PRIu64 ": raft_node_create returned %d", n->id,
				 err);
		n->rn = NULL;
		return;
	}
	n->alive = true;
	n->restarts++;
	n->ticks = 0;
	n->term_seen = 0;
	n->leader_term = 0;
	n->role = RAFT_FOLLOWER;
	sim_trace(s,
			  "start node %" PRIu64 " (term %" PRIu64 ", commit %" PRIu64
			  ", applied %" PRIu64 ", log (%" PRIu64 ", %" PRIu64
			  "], boot %" PRIu64 "%s)",
			  n->id, n->hard_state.term, n->hard_state.commit, n->applied,
			  n->snap_index, (uint64_t) (n->snap_index + n->log_len),
			  n->hard_state.boot,
			  n->hard_state.recovering ? ", recovering" : "");
}

void
sim_node_start(sim *s, sim_node *n)
{
	node_start(s, n);
}

static void
node_stop(sim *s, sim_node *n, const char *why)
{
	assert(n->alive);
	raft_node_destroy(n->rn);
	n->rn = NULL;
	n->alive = false;
	n->stage = 0; /* a ready in progress is lost */
	sim_trace(s, "%s node %" PRIu64, why, n->id);
}

void
sim_node_stop(sim *s, sim_node *n, const char *why)
{
	node_stop(s, n, why);
}

/*
 * A brand-new node: an empty disk.  Two ways to bootstrap a group, drawn
 * per seed (--bootstrap):
 *	snapshot  founders start from a snapshot at index 1 (term 1) holding
 *	          the initial configuration; a joiner starts with an empty
 *	          configuration and is caught up by a snapshot.
 *	genesis   like the PostgreSQL worker: every node, founder or joiner,
 *	          starts at applied 0 with the genesis configuration and an
 *	          empty log; a joiner replays the log from index 1, or takes a
 *	          snapshot when the leader has compacted it.
 */
static sim_node *
node_create(sim *s, raft_id id, bool founder)
{
	sim_node *n = &s->nodes[id];

	assert(id >= 1 && id <= SIM_MAX_NODES && !n->exists);
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->exists = true;
	n->early_send = rng_chance(s, s->options->early_send);
	n->hard_state.incarnation = rng_next(s) | 1; /* a new disk */
	n->ms = raft_memory_storage_create();
	if (n->ms == NULL)
		abort();
	if (s->genesis)
	{
		n->config = s->initial_config;
		n->was_member = founder;
		sim_log_reset(s, n, 0, 0, 0);
	}
	else if (founder)
	{
		raft_snapshot snap;
		uint8_t data[SNAP_HEADER_BYTES];

		memset(&snap, 0, sizeof(snap));
		snap.meta.index = 1;
		snap.meta.term = 1;
		snap.meta.config = s->initial_config;
		put_u64(data, SNAP_MAGIC);
		put_u64(data + 8, 1);
		put_u64(data + 16, s->hist[1].chain);
		snap.data = data;
		snap.data_size = sizeof(data);
		if (raft_memory_storage_apply_snapshot(n->ms, &snap) != RAFT_OK)
			sim_fail(s, "bootstrap snapshot of node %" PRIu64 " refused", id);
		n->hard_state.term = 1;
		n->hard_state.commit = 1;
		n->config = s->initial_config;
		n->applied = 1;
		n->applied_chain = s->hist[1].chain;
		n->was_member = true;
		sim_log_reset(s, n, 1, 1, s->hist[1].chain);
	}
	node_start(s, n);
	return n;
}

static void
node_free(sim_node *n)
{
	if (n->alive)
		raft_node_destroy(n->rn);
	if (n->ms != NULL)
		raft_memory_storage_destroy(n->ms);
	free(n->log);
	sim_disk_copy_free(n->backup);
	memset(n, 0, sizeof(*n));
}

/* ------------------------------------------------------------------------
 * Network
 * ------------------------------------------------------------------------
 */
static bool
link_up(const sim *s, raft_id from, raft_id to)
{
	if (from > SIM_MAX_NODES || to > SIM_MAX_NODES)
		return false;
	return !s->blocked[from][to];
}

static bool
net_push(sim *s, const raft_message *m, const uint8_t *bytes, size_t size)
{
	sim_msg *msg;

	if (s->net_len == SIM_NET_CAPACITY)
		return false; /* a full queue drops, like a full socket */
	msg = malloc(sizeof(*msg) + size);
	if (msg == NULL)
		abort();
	msg->from = m->from;
	msg->to = m->to;
	msg->type = m->type;
	msg->seq = s->net_seq++;
	msg->due_step = s->step;
	if (!s->calm && rng_chance(s, s->options->delay) && s->options->max_delay > 0)
		msg->due_step += 1 + rng_below(s, s->options->max_delay);
	msg->size = (uint32_t) size;
	msg->bytes = (uint8_t *) (msg + 1);
	memcpy(msg->bytes, bytes, size);
	s->net[s->net_len++] = msg;
	return true;
}

static void
net_free(sim *s)
{
	for (uint32_t i = 0; i < s->net_len; i++)
		free(s->net[i]);
	s->net_len = 0;
}

/*
 * Raft's rule that state is persisted before any message that depends on it
 * (Figure 2: "updated on stable storage before responding to RPCs"): the
 * sender's term, a granted vote, and the entries an APP_RESP acknowledges
 * must be on the node's disk when the message leaves.  (One ready may hold
 * messages of several terms: those of earlier terms are covered by the
 * later term persisted.)
 */
static void
check_durable_before_send(sim *s, const sim_node *n, const raft_message *m)
{
	sim_entry acked;

	if (m->type != RAFT_MSG_PREVOTE && m->type != RAFT_MSG_PREVOTE_RESP &&
		m->term > n->hard_state.term)
		sim_fail(s,
				 "node %" PRIu64 " sends %s of term %" PRIu64
				 " with term %" PRIu64 " persisted",
				 n->id, message_names[m->type], m->term, n->hard_state.term);
	/*
	 * A grant or an ack of an earlier term is covered by the later term on
	 * disk: after a crash the node can never act in that term again.
	 */
	if (m->term < n->hard_state.term)
		return;
	if ((m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PREVOTE_RESP) &&
		!m->reject && n->hard_state.recovering)
		sim_fail(s,
				 "node %" PRIu64 " grants a %s to %" PRIu64 " while it "
				 "recovers",
				 n->id, message_names[m->type], m->to);
	if (m->type == RAFT_MSG_VOTE_RESP && !m->reject &&
		n->hard_state.vote != m->to)
		sim_fail(s,
				 "node %" PRIu64 " grants its vote to %" PRIu64 " in term %" PRIu64
				 " but persisted term %" PRIu64 " vote %" PRIu64,
				 n->id, m->to, m->term, n->hard_state.term, n->hard_state.vote);
	if (m->type == RAFT_MSG_APP_RESP && !m->reject &&
		m->index > n->snap_index && !sim_log_lookup(n, m->index, &acked))
		sim_fail(s,
				 "node %" PRIu64 " acknowledges entry %" PRIu64
				 " that it has not persisted (last %" PRIu64 ")",
				 n->id, m->index, (uint64_t) (n->snap_index + n->log_len));
}

typedef enum send_result
{
	SEND_QUEUED, /* on the network (it may still be lost) */
	SEND_CUT,	 /* the link is down: the transport knows */
	SEND_DROPPED /* lost silently */
} send_result;

/*
 * Sends one message of a ready: encoded, then dropped, duplicated or
 * queued.
 */
static send_result
net_send(sim *s, sim_node *n, const raft_message *m)
{
	uint8_t stack[4096];
	uint8_t *bytes = stack;
	size_t need = raft_message_encoded_size(m);
	size_t size = 0;
	int err;
	send_result result = SEND_DROPPED;

	if (m->from != n->id || m->to == RAFT_NONE || m->to == n->id)
	{
		sim_fail(s, "node %" PRIu64 " sends %s from %" PRIu64 " to %" PRIu64,
				 n->id, message_names[m->type % RAFT_MSG_TYPE_COUNT], m->from,
				 m->to);
		return SEND_DROPPED;
	}
	if (m->term == 0 && m->type != RAFT_MSG_PROP &&
		m->type != RAFT_MSG_TRANSFER_LEADER)
		sim_fail(s, "node %" PRIu64 " sends %s with term 0", n->id,
				 message_names[m->type % RAFT_MSG_TYPE_COUNT]);
	check_durable_before_send(s, n, m);
	if (need > sizeof(stack))
	{
		bytes = malloc(need);
		if (bytes == NULL)
			abort();
	}
	err = raft_message_encode(m, bytes, need, &size);
	if (err != RAFT_OK || size != need)
		sim_fail(s, "node %" PRIu64 ": encode of %s failed (%d)", n->id,
				 message_names[m->type % RAFT_MSG_TYPE_COUNT], err);
	else if (!link_up(s, m->from, m->to))
	{
		trace_message(s, "cut", m);
		result = SEND_CUT;
	}
	else if (rng_chance(s, s->calm ? 0.0 : s->options->drop))
		trace_message(s, "drop", m);
	else if (net_push(s, m, bytes, size))
	{
		trace_message(s, "send", m);
		result = SEND_QUEUED;
		if (!s->calm && rng_chance(s, s->options->dup))
			(void) net_push(s, m, bytes, size);
	}
	if (bytes != stack)
		free(bytes);
	return result;
}

/* ------------------------------------------------------------------------
 * The host: one ready, in raft.h's order, with an optional crash point
 * ------------------------------------------------------------------------
 */
static void host_snapshot(sim *s, sim_node *n);

typedef enum crash_point
{
	CRASH_NONE = 0,
	CRASH_BEFORE_PERSIST, /* an early-sending host: after early sends */
	CRASH_BEFORE_SEND,
	CRASH_BEFORE_APPLY,
	CRASH_MID_APPLY
} crash_point;

/* The ready stages, in order; stage 0 is "no ready taken". */
typedef enum host_stage
{
	STAGE_NONE = 0,
	STAGE_SEND_EARLY, /* early-sending hosts only */
	STAGE_PERSIST,
	STAGE_SEND,
	STAGE_APPLY
} host_stage;

static void
host_persist(sim *s, sim_node *n, const raft_ready *rd)
{
	if (rd->has_snapshot)
	{
		uint64_t chain = 0;

		if (!snapshot_data_read(&rd->snapshot, &chain))
		{
			sim_fail(s,
					 "node %" PRIu64 " is handed a snapshot whose data "
					 "the host did not write",
					 n->id);
			return;
		}
		sim_check_snapshot(s, n, &rd->snapshot, chain);
		if (s->failed)
			return;
		if (raft_memory_storage_apply_snapshot(n->ms, &rd->snapshot) != RAFT_OK)
		{
			sim_fail(s, "node %" PRIu64 ": storage refused snapshot %" PRIu64,
					 n->id, rd->snapshot.meta.index);
			return;
		}
		/* The state machine is the snapshot's, atomically with the disk. */
		sim_log_reset(s, n, rd->snapshot.meta.index, rd->snapshot.meta.term,
					  chain);
		n->applied = rd->snapshot.meta.index;
		n->applied_chain = chain;
		n->config = rd->snapshot.meta.config;
		if (n->hard_state.commit < n->applied)
			n->hard_state.commit = n->applied;
		s->snapshots_installed++;
		sim_trace(s,
				  "node %" PRIu64 " installs snapshot %" PRIu64
				  " (term %" PRIu64 ")",
				  n->id, rd->snapshot.meta.index, rd->snapshot.meta.term);
	}
	if (rd->n_entries > 0)
	{
		sim_log_append(s, n, rd->entries, rd->n_entries);
		if (s->failed)
			return;
		if (raft_memory_storage_append(n->ms, rd->entries, rd->n_entries) !=
			RAFT_OK)
		{
			sim_fail(s,
					 "node %" PRIu64 ": storage refused entries from %" PRIu64,
					 n->id, rd->entries[0].index);
			return;
		}
		sim_trace(s,
				  "node %" PRIu64 " persists entries [%" PRIu64 ", %" PRIu64
				  "] (term %" PRIu64 "..%" PRIu64 ")",
				  n->id, rd->entries[0].index,
				  rd->entries[rd->n_entries - 1].index, rd->entries[0].term,
				  rd->entries[rd->n_entries - 1].term);
	}
	if (rd->has_peers)
	{
		n->n_peers = rd->n_peers;
		memcpy(n->peers, rd->peers, rd->n_peers * sizeof(raft_peer_record));
	}
	if (rd->has_hard_state)
	{
		sim_check_hard_state(s, n, &rd->hard_state);
		n->hard_state = rd->hard_state;
		sim_trace(s,
				  "node %" PRIu64 " persists term=%" PRIu64 " vote=%" PRIu64
				  " commit=%" PRIu64,
				  n->id, n->hard_state.term, n->hard_state.vote,
				  n->hard_state.commit);
	}
	sim_check_storage(s, n);
}

/* Applies one committed entry to the state machine and configuration. */
static void
host_apply_entry(sim *s, sim_node *n, const raft_entry *e)
{
	uint64_t chain = sim_chain_next(n->applied_chain, e);

	sim_check_apply(s, n, e, chain);
	if (s->failed)
		return;
	n->applied = e->index;
	n->applied_chain = chain;
	if (e->type == RAFT_ENTRY_CONF_CHANGE)
	{
		raft_conf_change cc;
		int err = raft_conf_change_decode(e->data, e->size, &cc);

		if (err != RAFT_OK)
		{
			sim_fail(s,
					 "node %" PRIu64 ": conf change at %" PRIu64
					 " does not decode (%d)",
					 n->id, e->index, err);
			return;
		}
		err = raft_config_apply(&n->config, &cc);
		n->conf_applied = true;
		sim_trace(s,
				  "node %" PRIu64 " applies conf change %" PRIu64
				  ": %s %" PRIu64 " -> %d voters %d learners (%d)",
				  n->id, e->index,
				  cc.type == RAFT_CONF_ADD_VOTER		 ? "add-voter"
					  : cc.type == RAFT_CONF_ADD_LEARNER ? "add-learner"
														 : "remove",
				  cc.node, n->config.n_voters, n->config.n_learners, err);
	}
	else if (e->size >= 12 && memcmp(e->data, "LIVE", 4) == 0 &&
			 s->marker_index == 0)
		s->marker_index = e->index;
}

/*
 * After applying: a node that applied its own removal stops for good; the
 * core's configuration must be the host's.
 */
static void
host_after_advance(sim *s, sim_node *n)
{
	raft_status st;
	bool comparable;
	bool member = raft_config_is_voter(&n->config, n->id) ||
		raft_config_is_learner(&n->config, n->id);

	if (member)
		n->was_member = true;
	raft_get_status(n->rn, &st);
	/*
	 * Interleaved, the core may already hold a snapshot that the next
	 * ready hands over: compare only when nothing is pending.
	 */
	comparable = !s->options->interleave || !raft_has_ready(n->rn);
	if (comparable && !sim_config_same(&st.config, &n->config))
		sim_fail(s,
				 "node %" PRIu64 ": core config (%u voters, %u learners)"
				 " differs from the applied one (%u, %u)",
				 n->id, st.config.n_voters, st.config.n_learners,
				 n->config.n_voters, n->config.n_learners);
	else if (comparable && st.applied != n->applied)
		sim_fail(s,
				 "node %" PRIu64 ": core says applied %" PRIu64
				 ", host applied %" PRIu64,
				 n->id, st.applied, n->applied);
	if (n->was_member && !member)
	{
		node_stop(s, n, "removed:");
		n->removed = true;
		return;
	}
	/*
	 * Like the worker's snapshot interval, this bounds the log.  With
	 * --snapshot-on-conf the host also snapshots right after applying a
	 * conf change (needed while the core refused snapshots that do not
	 * list the receiver: FINDINGS.md, 1).
	 */
	if (n->applied - n->snap_index >= s->snapshot_interval ||
		(s->options->snapshot_on_conf && n->conf_applied))
		host_snapshot(s, n);
	n->conf_applied = false;
}

/* Stage 1 of a ready: persist, then check the leader's log. */
static void
host_stage_persist(sim *s, sim_node *n, const raft_ready *rd)
{
	host_persist(s, n, rd);
	if (s->failed)
		return;
	sim_check_status(s, n);
	if (n->role == RAFT_LEADER)
	{
		raft_status st;

		raft_get_status(n->rn, &st);
		sim_check_leader_completeness(s, n, st.hard_state.term);
	}
}

/*
 * Sends messages [from, to) of the ready; what the transport learns is
 * reported after advance.
 */
static void
host_send_range(sim *s, sim_node *n, const raft_ready *rd, uint32_t from,
				uint32_t to)
{
	for (uint32_t i = from; i < to && !s->failed; i++)
	{
		const raft_message *m = &rd->messages[i];
		send_result sent = net_send(s, n, m);

		/* A snapshot that left is reported when it arrives (or is lost);
		 * one that never left, now. */
		if (m->type == RAFT_MSG_SNAP && sent != SEND_QUEUED &&
			n->n_snap_failed < SIM_MAX_REPORTS)
			n->snap_failed_to[n->n_snap_failed++] = m->to;
		if (sent == SEND_CUT && n->n_unreachable < SIM_MAX_REPORTS)
			n->unreachable[n->n_unreachable++] = m->to;
	}
}

/*
 * An early-sending host sends the leader's appends, heartbeats and
 * snapshots before it persists (raft.h); the others wait.
 */
static void
host_stage_send_early(sim *s, sim_node *n, const raft_ready *rd)
{
	if (rd->n_early_messages > 0)
		sim_trace(s, "node %" PRIu64 " sends %u early", n->id,
				  rd->n_early_messages);
	host_send_range(s, n, rd, 0, rd->n_early_messages);
}

static void
host_stage_send(sim *s, sim_node *n, const raft_ready *rd)
{
	host_send_range(s, n, rd, n->early_send ? rd->n_early_messages : 0,
					rd->n_messages);
}

/* Stage 3: apply, advance, report.  Returns false if it crashed midway. */
static bool
host_stage_apply(sim *s, sim_node *n, raft_ready *rd, bool crash_midway)
{
	for (uint32_t i = 0; i < rd->n_committed && !s->failed; i++)
	{
		if (crash_midway && rng_chance(s, 0.5))
			return false;
		host_apply_entry(s, n, &rd->committed[i]);
	}
	if (s->failed)
		return true;
	if (rd->n_committed > 0)
		sim_trace(s, "node %" PRIu64 " applies [%" PRIu64 ", %" PRIu64 "]",
				  n->id, rd->committed[0].index,
				  rd->committed[rd->n_committed - 1].index);
	raft_advance(n->rn, rd);
	n->stage = 0;
	for (uint32_t i = 0; i < n->n_snap_failed; i++)
		raft_report_snapshot(n->rn, n->snap_failed_to[i], true);
	for (uint32_t i = 0; i < n->n_unreachable; i++)
		raft_report_unreachable(n->rn, n->unreachable[i]);
	host_after_advance(s, n);
	return true;
}

static bool
host_take_ready(sim *s, sim_node *n)
{
	int err = raft_ready_get(n->rn, &n->ready);
	const raft_ready *rd = &n->ready;

	if (err != RAFT_OK)
	{
		sim_fail(s, "node %" PRIu64 ": raft_ready_get returned %d", n->id, err);
		return false;
	}
	n->stage = n->early_send ? STAGE_SEND_EARLY : STAGE_PERSIST;
	n->n_snap_failed = 0;
	n->n_unreachable = 0;
	sim_trace(s,
			  "host node %" PRIu64 ": ready (hs=%d snap=%d entries=%u "
			  "committed=%u messages=%u early=%u)",
			  n->id, rd->has_hard_state, rd->has_snapshot, rd->n_entries,
			  rd->n_committed, rd->n_messages, rd->n_early_messages);
	return true;
}

static void
host_crash(sim *s, sim_node *n)
{
	if (!n->alive)
		return;
	s->crashes++;
	n->stage = 0;
	node_stop(s, n, "crash (mid-ready):");
}

/*
 * One host event.  By default a whole ready, like the worker, with a crash
 * now and then before persisting, before sending, before applying or
 * between two applied entries.  With --interleave, one stage of a ready
 * (take, persist, send, apply + advance) per event, other events on the
 * node in between, as etcd allows.
 */
static void
event_host(sim *s, sim_node *n)
{
	crash_point crash = CRASH_NONE;

	if (s->options->interleave)
	{
		switch ((host_stage) n->stage)
		{
			case STAGE_NONE:
				(void) host_take_ready(s, n);
				return;
			case STAGE_SEND_EARLY:
				host_stage_send_early(s, n, &n->ready);
				n->stage = STAGE_PERSIST;
				return;
			case STAGE_PERSIST:
				host_stage_persist(s, n, &n->ready);
				n->stage = STAGE_SEND;
				return;
			case STAGE_SEND:
				host_stage_send(s, n, &n->ready);
				n->stage = STAGE_APPLY;
				return;
			case STAGE_APPLY:
				(void) host_stage_apply(s, n, &n->ready, false);
				return;
		}
		return;
	}

	/* Crashes strike mid-ready too, at four times the step rate. */
	if (!s->calm && rng_chance(s, s->options->crash_rate * 4) && !n->undetected)
		crash = (crash_point) (1 + rng_below(s, 4));
	if (!host_take_ready(s, n))
		return;
	if (n->early_send)
		host_stage_send_early(s, n, &n->ready);
	if (s->failed || crash == CRASH_BEFORE_PERSIST)
	{
		host_crash(s, n);
		return;
	}
	host_stage_persist(s, n, &n->ready);
	if (s->failed || crash == CRASH_BEFORE_SEND)
	{
		host_crash(s, n);
		return;
	}
	host_stage_send(s, n, &n->ready);
	if (s->failed || crash == CRASH_BEFORE_APPLY)
	{
		host_crash(s, n);
		return;
	}
	if (!host_stage_apply(s, n, &n->ready, crash == CRASH_MID_APPLY))
		host_crash(s, n);
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------
 */
static sim_node *
random_node(sim *s, bool alive)
{
	raft_id ids[SIM_MAX_NODES];
	uint32_t n = 0;

	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		const sim_node *node = &s->nodes[id];

		if (node->exists && !node->removed && node->alive == alive)
			ids[n++] = id;
	}
	return n == 0 ? NULL : &s->nodes[ids[rng_below(s, n)]];
}

sim_node *
sim_random_node(sim *s, bool alive)
{
	return random_node(s, alive);
}

/* The running node that believes it leads the highest term, if any. */
static sim_node *
find_leader(sim *s, raft_status *st)
{
	sim_node *best = NULL;
	raft_term best_term = 0;

	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		sim_node *n = &s->nodes[id];
		raft_status tmp;

		if (!n->alive)
			continue;
		raft_get_status(n->rn, &tmp);
		if (tmp.role == RAFT_LEADER && tmp.hard_state.term >= best_term)
		{
			best = n;
			best_term = tmp.hard_state.term;
			*st = tmp;
		}
	}
	return best;
}

static void
event_tick(sim *s, sim_node *n)
{
	sim_trace(s, "tick node %" PRIu64, n->id);
	n->ticks++;
	raft_tick(n->rn);
}

/* Index in net[] of the message to deliver next, or -1 if none is due. */
static int
net_pick(sim *s)
{
	uint32_t due[SIM_NET_CAPACITY];
	uint32_t n_due = 0;
	int oldest = -1;

	for (uint32_t i = 0; i < s->net_len; i++)
	{
		if (s->net[i]->due_step > s->step)
			continue;
		due[n_due++] = i;
		if (oldest < 0 || s->net[i]->seq < s->net[oldest]->seq)
			oldest = (int) i;
	}
	if (n_due == 0)
		return -1;
	if (s->options->reorder && !s->calm)
		return (int) due[rng_below(s, n_due)];
	return oldest;
}

/*
 * Like etcd's transport, the sender learns that a snapshot arrived (or
 * could not be delivered) only when the stream to the receiver ends.
 */
static void
report_snapshot_arrival(sim *s, const sim_msg *msg, bool failed)
{
	sim_node *from;

	if (msg->type != RAFT_MSG_SNAP || msg->from > SIM_MAX_NODES)
		return;
	from = &s->nodes[msg->from];
	if (!from->alive)
		return;
	raft_report_snapshot(from->rn, msg->to, failed);
	sim_trace(s, "report snapshot %" PRIu64 "->%" PRIu64 " %s", msg->from,
			  msg->to, failed ? "failed" : "done");
	sim_check_status(s, from);
}

static sim_node *
event_deliver(sim *s, int at)
{
	sim_msg *msg = s->net[at];
	sim_node *to = msg->to <= SIM_MAX_NODES ? &s->nodes[msg->to] : NULL;
	raft_message m;
	int err;

	s->net[at] = s->net[--s->net_len];
	err = raft_message_decode(msg->bytes, msg->size, &m);
	if (err != RAFT_OK)
	{
		sim_fail(s, "a message %" PRIu64 "->%" PRIu64 " does not decode: %d",
				 msg->from, msg->to, err);
		free(msg);
		return NULL;
	}
	if (to == NULL || !to->alive || !link_up(s, msg->from, msg->to))
	{
		trace_message(s, "lost", &m);
		report_snapshot_arrival(s, msg, true);
		raft_message_free(&m);
		free(msg);
		return NULL;
	}
	trace_message(s, "deliver", &m);
	err = raft_step(to->rn, &m);
	check_result(s, "raft_step", to->id, err);
	if (err == RAFT_ERR_BEHIND)
	{
		s->behind++;
		sim_trace(s,
				  "node %" PRIu64 " finds node %" PRIu64 " behind "
				  "(life %" PRIx64 ")",
				  to->id, m.from, m.from_boot);
	}
	report_snapshot_arrival(s, msg, false);
	raft_message_free(&m);
	free(msg);
	s->delivered++;
	return to;
}

static void
event_crash(sim *s)
{
	sim_node *n = random_node(s, true);

	/* A restored disk left to its peers talks before it restarts again. */
	if (n == NULL || n->undetected)
		return;
	s->crashes++;
	node_stop(s, n, "crash");
}

static sim_node *
event_restart(sim *s)
{
	sim_node *n = random_node(s, false);

	if (n == NULL || !sim_may_restart(s, n))
		return NULL;
	node_start(s, n);
	return n->alive ? n : NULL;
}

/* Heals, or cuts: a random split both ways, or one-way links. */
static void
event_partition(sim *s)
{
	raft_id ids[SIM_MAX_NODES];
	uint32_t n = 0;
	bool any = false;

	for (raft_id a = 1; a <= SIM_MAX_NODES; a++)
		for (raft_id b = 1; b <= SIM_MAX_NODES; b++)
			any = any || s->blocked[a][b];
	if (any && rng_chance(s, 0.5))
	{
		memset(s->blocked, 0, sizeof(s->blocked));
		sim_trace(s, "partition: heal all");
		return;
	}
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].exists && !s->nodes[id].removed)
			ids[n++] = id;
	if (n < 2)
		return;
	switch (rng_below(s, 4))
	{
		case 0: /* symmetric split */
		{
			bool side[SIM_MAX_NODES + 1] = { false };

			for (uint32_t i = 0; i < n; i++)
				side[ids[i]] = rng_chance(s, 0.5);
			for (uint32_t i = 0; i < n; i++)
				for (uint32_t j = 0; j < n; j++)
					if (side[ids[i]] != side[ids[j]])
						s->blocked[ids[i]][ids[j]] = true;
			sim_trace(s, "partition: symmetric split");
			break;
		}
		case 1: /* one node hears but is not heard */
		{
			raft_id x = ids[rng_below(s, n)];

			for (uint32_t i = 0; i < n; i++)
				if (ids[i] != x)
					s->blocked[x][ids[i]] = true;
			sim_trace(s, "partition: node %" PRIu64 " cannot send", x);
			break;
		}
		case 2: /* one node is heard but does not hear */
		{
			raft_id x = ids[rng_below(s, n)];

			for (uint32_t i = 0; i < n; i++)
				if (ids[i] != x)
					s->blocked[ids[i]][x] = true;
			sim_trace(s, "partition: node %" PRIu64 " cannot receive", x);
			break;
		}
		default: /* one link, one way */
		{
			raft_id a = ids[rng_below(s, n)];
			raft_id b = ids[rng_below(s, n)];

			if (a != b)
				s->blocked[a][b] = true;
			sim_trace(s, "partition: link %" PRIu64 "->%" PRIu64 " cut", a, b);
			break;
		}
	}
}

static sim_node *
event_propose(sim *s, bool marker)
{
	raft_status st;
	sim_node *n = find_leader(s, &st);
	uint8_t data[64];
	uint32_t size;
	int err;

	/* Now and then at any node: a follower must refuse cleanly. */
	if (!marker && (n == NULL || rng_chance(s, 0.1)))
		n = random_node(s, true);
	if (n == NULL)
		return NULL;
	if (marker)
	{
		memcpy(data, "LIVE", 4);
		put_u64(data + 4, s->marker_next++);
		size = 12;
	}
	else
	{
		put_u64(data, s->proposals);
		size = 8 + (uint32_t) rng_below(s, sizeof(data) - 8);
		for (uint32_t i = 8; i < size; i++)
			data[i] = (uint8_t) rng_next(s);
	}
	err = raft_propose(n->rn, data, size);
	check_result(s, "raft_propose", n->id, err);
	s->proposals += err == RAFT_OK;
	s->busy += err == RAFT_ERR_BUSY;
	sim_trace(s, "propose%s at node %" PRIu64 ": %d", marker ? " marker" : "",
			  n->id, err);
	return n;
}

static uint32_t
members(const raft_config *c)
{
	return c->n_voters + c->n_learners;
}

/* Add a learner, promote one, demote or remove one: at most 7 members and
 * at least 3 voters. */
static sim_node *
event_conf_change(sim *s)
{
	raft_status st;
	sim_node *n = find_leader(s, &st);
	raft_conf_change cc;
	uint8_t context[16];
	uint8_t bytes[64];
	size_t size = 0;
	raft_id fresh = RAFT_NONE;
	int err;
	uint64_t choice = rng_below(s, 10);

	if (n == NULL)
		return NULL;
	/* Membership holds still while a disk failure is being recovered. */
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].storage_failed)
			return NULL;
	memset(&cc, 0, sizeof(cc));
	if (st.config.n_learners > 0 && choice < 5)
	{
		cc.type = RAFT_CONF_ADD_VOTER;
		cc.node = st.config.learners[rng_below(s, st.config.n_learners)];
	}
	else if (members(&st.config) < SIM_MAX_MEMBERS &&
			 s->next_id <= SIM_MAX_NODES && choice < 8)
	{
		cc.type = RAFT_CONF_ADD_LEARNER;
		fresh = s->next_id;
		cc.node = fresh;
	}
	else if (st.config.n_voters > SIM_MIN_VOTERS)
	{
		cc.type = rng_chance(s, 0.2) ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_REMOVE;
		cc.node = st.config.voters[rng_below(s, st.config.n_voters)];
	}
	else if (st.config.n_learners > 0)
	{
		cc.type = RAFT_CONF_REMOVE;
		cc.node = st.config.learners[rng_below(s, st.config.n_learners)];
	}
	else
		return NULL;
	cc.context_size = (uint32_t) rng_below(s, sizeof(context) + 1);
	for (uint32_t i = 0; i < cc.context_size; i++)
		context[i] = (uint8_t) rng_next(s);
	cc.context = cc.context_size > 0 ? context : NULL;
	if (raft_conf_change_encode(&cc, bytes, sizeof(bytes), &size) != RAFT_OK)
	{
		sim_fail(s, "conf change does not encode");
		return NULL;
	}
	err = raft_propose_conf_change(n->rn, &cc);
	check_result(s, "raft_propose_conf_change", n->id, err);
	sim_trace(s, "conf change at leader %" PRIu64 ": %s %" PRIu64 " -> %d",
			  n->id,
			  cc.type == RAFT_CONF_ADD_VOTER		 ? "add-voter"
				  : cc.type == RAFT_CONF_ADD_LEARNER ? "add-learner"
													 : "remove",
			  cc.node, err);
	if (err == RAFT_OK)
	{
		s->newest_config = st.config;
		(void) raft_config_apply(&s->newest_config, &cc);
		s->conf_changes++;
		if (fresh != RAFT_NONE)
		{
			s->next_id++;
			(void) node_create(s, fresh, false);
		}
	}
	return n;
}

static sim_node *
event_transfer(sim *s)
{
	raft_status st;
	sim_node *n = find_leader(s, &st);
	raft_id to;
	int err;

	if (n == NULL || st.config.n_voters < 2)
		return NULL;
	to = st.config.voters[rng_below(s, st.config.n_voters)];
	err = raft_transfer_leader(n->rn, to);
	check_result(s, "raft_transfer_leader", n->id, err);
	sim_trace(s, "transfer leadership %" PRIu64 " -> %" PRIu64 ": %d", n->id,
			  to, err);
	return n;
}

/* The host snapshots its state machine at applied and drops the log. */
static void
host_snapshot(sim *s, sim_node *n)
{
	uint8_t data[SNAP_HEADER_BYTES + 32];
	uint32_t size;
	int err;

	if (n->applied <= n->snap_index || n->stage != 0)
		return;
	size = SNAP_HEADER_BYTES + (uint32_t) rng_below(s, 33);
	put_u64(data, SNAP_MAGIC);
	put_u64(data + 8, n->applied);
	put_u64(data + 16, n->applied_chain);
	for (uint32_t i = SNAP_HEADER_BYTES; i < size; i++)
		data[i] = (uint8_t) rng_next(s);
	err = raft_memory_storage_create_snapshot(n->ms, n->applied, &n->config,
											  data, size);
	if (err != RAFT_OK)
	{
		sim_fail(s,
				 "node %" PRIu64 ": create_snapshot at %" PRIu64 " returned %d",
				 n->id, n->applied, err);
		return;
	}
	sim_log_compact(s, n, n->applied);
	sim_check_storage(s, n);
	s->snapshots_taken++;
	sim_trace(s, "node %" PRIu64 " snapshots at %" PRIu64, n->id, n->applied);
}

static void
event_snapshot(sim *s)
{
	sim_node *n = random_node(s, true);

	if (n != NULL)
		host_snapshot(s, n);
}

/* The end of the fault phase: everything heals. */
static void
calm_down(sim *s)
{
	s->calm = true;
	memset(s->blocked, 0, sizeof(s->blocked));
	sim_trace(s, "calm: partitions healed, crashed nodes restart");
	for (raft_id id = 1; id <= SIM_MAX_NODES && !s->failed; id++)
	{
		sim_node *n = &s->nodes[id];

		if (n->exists && !n->removed && !n->alive && sim_may_restart(s, n))
		{
			node_start(s, n);
			if (n->alive)
				sim_check_status(s, n);
		}
	}
}

/* Fires one routine event: host, deliver or tick.  Returns the node. */
static sim_node *
routine_event(sim *s)
{
	raft_id with_ready[SIM_MAX_NODES];
	uint32_t n_ready = 0;
	int msg_at = net_pick(s);
	uint64_t w_host;
	uint64_t w_deliver;
	uint64_t r;

	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].alive &&
			(s->nodes[id].stage > 0 || raft_has_ready(s->nodes[id].rn)))
			with_ready[n_ready++] = id;
	w_host = n_ready > 0 ? 4 : 0;
	w_deliver = msg_at >= 0 ? 4 : 0;
	r = rng_below(s, w_host + w_deliver + 1);
	if (r < w_host)
	{
		sim_node *n = &s->nodes[with_ready[rng_below(s, n_ready)]];

		event_host(s, n);
		return n->alive ? n : NULL;
	}
	if (r < w_host + w_deliver)
		return event_deliver(s, msg_at);
	{
		sim_node *n = random_node(s, true);

		if (n != NULL)
			event_tick(s, n);
		return n;
	}
}

static sim_node *
one_step(sim *s)
{
	const sim_options *o = s->options;
	double u = rng_unit(s);
	double edge = 0;

	if (!s->calm)
	{
		if (u < (edge += o->crash_rate))
		{
			event_crash(s);
			return NULL;
		}
		if (u < (edge += o->restart_rate))
			return event_restart(s);
		if (u < (edge += o->partition_rate))
		{
			event_partition(s);
			return NULL;
		}
		if (u < (edge += o->conf_rate))
			return event_conf_change(s);
		if (u < (edge += o->transfer_rate))
			return event_transfer(s);
		if (u < (edge += o->lose_rate))
		{
			sim_event_lose_state(s);
			return NULL;
		}
		if (u < (edge += o->rollback_rate))
		{
			sim_event_roll_back(s);
			return NULL;
		}
		if (u < (edge += o->rollback_rate / 2))
		{
			sim_event_backup(s);
			return NULL;
		}
	}
	if (u < (edge += o->propose_rate))
		return event_propose(s, false);
	if (u < (edge += o->snapshot_rate))
	{
		event_snapshot(s);
		return NULL;
	}
	return routine_event(s);
}

/* ------------------------------------------------------------------------
 * Liveness: after the faults, a marker must reach every voter
 * ------------------------------------------------------------------------
 */
static bool
all_voters_have_marker(sim *s)
{
	const sim_node *newest = NULL;

	if (s->marker_index == 0)
		return false;
	/* The configuration of the node that applied the most. */
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		const sim_node *n = &s->nodes[id];

		if (n->exists && n->was_member &&
			(newest == NULL || n->applied > newest->applied))
			newest = n;
	}
	if (newest == NULL)
		return false;
	/* Every member whose disk failed must have recovered too. */
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].storage_failed && !s->nodes[id].removed &&
			(raft_config_is_voter(&newest->config, id) ||
			 raft_config_is_learner(&newest->config, id)))
			return false;
	for (uint32_t i = 0; i < newest->config.n_voters; i++)
	{
		const sim_node *v = &s->nodes[newest->config.voters[i]];

		if (!v->alive || v->applied < s->marker_index)
			return false;
	}
	return true;
}

/* "id:role/term/applied" for every running node, for a liveness failure. */
static void
describe_nodes(sim *s, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (raft_id id = 1; id <= SIM_MAX_NODES && used < cap; id++)
	{
		const sim_node *n = &s->nodes[id];
		raft_status st;
		int w;

		if (!n->exists || n->removed || !n->alive)
			continue;
		raft_get_status(n->rn, &st);
		w = snprintf(out + used, cap - used,
					 "%s%" PRIu64 ":%s/t%" PRIu64 "/a%" PRIu64 "/v%u",
					 used ? " " : "", id, raft_role_name(st.role),
					 st.hard_state.term, n->applied,
					 raft_config_is_voter(&n->config, id));
		if (w < 0)
			break;
		used += (size_t) w;
	}
}

/* ------------------------------------------------------------------------
 * One seed
 * ------------------------------------------------------------------------
 */
typedef struct seed_result
{
	bool failed;
	uint32_t nodes;
	uint64_t liveness_steps;
} seed_result;

static void
step_checks(sim *s, sim_node *touched)
{
	if (s->failed)
		return;
	if (touched != NULL && touched->alive)
		sim_check_status(s, touched);
	sim_storage_progress(s);
}

static seed_result
run_seed(const sim_options *o, uint64_t seed, char *summary, size_t cap)
{
	sim *s = calloc(1, sizeof(sim));
	seed_result result;
	uint64_t x = seed;
	bool coin;
	uint64_t fault_end;
	uint64_t tail = 0;
	uint64_t last_marker = 0;
	raft_entry boot_entry = { .term = 1, .index = 1, .type = RAFT_ENTRY_NORMAL };

	if (s == NULL)
		abort();
	s->options = o;
	s->seed = seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&x);
	s->snapshot_interval = 16 + rng_below(s, 100);
	/* Small batches: a catch-up takes many APPs (1 byte: one entry each). */
	s->max_msg_bytes = rng_chance(s, 0.3) ? 1 : 64 + rng_below(s, 2048);
	s->max_inflight = 1 + (uint32_t) rng_below(s, 16);
	s->max_committed_bytes = rng_chance(s, 0.3) ? 1 : 64 + rng_below(s, 8192);
	/* A tight cap on uncommitted bytes in 30% of seeds: leaders say busy. */
	s->max_uncommitted_bytes = rng_chance(s, 0.3) ? 64 + rng_below(s, 1024) : 0;
	s->n_nodes_initial =
		o->nodes != 0 ? o->nodes : (uint32_t) (3 + 2 * (seed % 3));
	sim_check_init(s);

	/* Snapshot bootstrap: index 1 is history before anything runs. */
	coin = rng_chance(s, 0.5); /* drawn always: modes share the stream */
	s->genesis = o->bootstrap == BOOTSTRAP_GENESIS ||
		(o->bootstrap == BOOTSTRAP_MIXED && coin);
	s->hist_cap = 1024;
	s->hist = calloc(s->hist_cap, sizeof(sim_entry));
	if (s->hist == NULL)
		abort();
	if (!s->genesis)
	{
		s->hist[1].term = 1;
		s->hist[1].committed_by = 1;
		s->hist[1].chain = sim_chain_next(0, &boot_entry);
		s->hist_len = 1;
	}

	memset(&s->initial_config, 0, sizeof(s->initial_config));
	for (uint32_t i = 0; i < s->n_nodes_initial; i++)
		s->initial_config.voters[s->initial_config.n_voters++] = i + 1;
	s->newest_config = s->initial_config;
	s->next_id = s->n_nodes_initial + 1;
	for (raft_id id = 1; id <= s->n_nodes_initial && !s->failed; id++)
		(void) node_create(s, id, true);

	fault_end = (uint64_t) ((double) o->steps * o->fault_fraction);
	for (s->step = 0; s->step < o->steps && !s->failed; s->step++)
	{
		if (s->step == fault_end && !s->calm)
			calm_down(s);
		step_checks(s, one_step(s));
	}

	/* Liveness: calm steps until every voter applied a marker. */
	if (!s->calm && !s->failed)
		calm_down(s);
	for (tail = 0; !s->failed && !all_voters_have_marker(s); tail++, s->step++)
	{
		if (tail >= o->liveness_steps)
		{
			char lag[512];

			describe_nodes(s, lag, sizeof(lag));
			sim_fail(s,
					 "liveness: no marker reached every voter within %" PRIu64
					 " steps after the faults (marker at %" PRIu64 ", %" PRIu64
					 " leaders so far; %s)",
					 o->liveness_steps, s->marker_index, s->n_leaders, lag);
			break;
		}
		if (s->marker_index == 0 &&
			(tail == 0 || tail - last_marker >= MARKER_RETRY_STEPS))
		{
			raft_status st;

			if (find_leader(s, &st) != NULL)
			{
				step_checks(s, event_propose(s, true));
				last_marker = tail;
				continue;
			}
		}
		step_checks(s, routine_event(s));
	}

	result.failed = s->failed;
	result.nodes = s->n_nodes_initial;
	result.liveness_steps = tail;
	if (s->failed)
		snprintf(summary, cap, "%s", s->failure);
	else
		snprintf(summary, cap,
				 "nodes=%u, leaders=%" PRIu64 ", committed=%" PRIu64
				 ", proposals=%" PRIu64 ", busy=%" PRIu64 ", conf=%" PRIu64
				 ", snaps=%" PRIu64 "/%" PRIu64 ", crashes=%" PRIu64
				 ", storage faults=%" PRIu64 " (%" PRIu64 " left to peers)"
				 ", behind=%" PRIu64 ", delivered=%" PRIu64
				 ", liveness=%" PRIu64,
				 s->n_nodes_initial, s->n_leaders, s->hist_len, s->proposals,
				 s->busy, s->conf_changes, s->snapshots_taken,
				 s->snapshots_installed, s->crashes, s->storage_faults,
				 s->peer_detected, s->behind, s->delivered, tail);

	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].exists)
			node_free(&s->nodes[id]);
	net_free(s);
	sim_check_free(s);
	free(s);
	return result;
}

/* ------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------
 */
static void
usage(const char *argv0)
{
	fprintf(stderr,
			"usage: %s --seeds A..B [--steps N] [--nodes 3|5|7]\n"
			"  [--drop P] [--dup P] [--delay P] [--max-delay STEPS]\n"
			"  [--reorder|--no-reorder] [--partition-rate P] [--crash-rate P]\n"
			"  [--restart-rate P] [--propose-rate P] [--conf-rate P]\n"
			"  [--transfer-rate P] [--snapshot-rate P] [--fault-fraction F]\n"
			"  [--liveness-steps N] [--no-pre-vote] [--no-check-quorum]\n"
			"  [--snapshot-on-conf] [--bootstrap snapshot|genesis|mixed]\n"
			"  [--interleave] [--early-send P] [--lose-rate P]\n"
			"  [--rollback-rate P]\n"
			"  [--seconds S] [--verbose] [--quiet]\n"
			"A..B may be open-ended (A..) with --seconds.  Rates are per step,\n"
			"drop/dup/delay per message.  Output is TAP.\n",
			argv0);
	exit(2);
}

static double
parse_double(const char *arg, const char *argv0)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end != '\0' || v < 0)
		usage(argv0);
	return v;
}

static uint64_t
parse_u64(const char *arg, const char *argv0)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);

	if (*end != '\0' || end == arg)
		usage(argv0);
	return (uint64_t) v;
}

static void
parse_seeds(sim_options *o, const char *arg, const char *argv0)
{
	const char *dots = strstr(arg, "..");
	char first[32];

	if (dots == NULL)
	{
		o->seed_first = o->seed_last = parse_u64(arg, argv0);
		return;
	}
	if ((size_t) (dots - arg) >= sizeof(first))
		usage(argv0);
	memcpy(first, arg, (size_t) (dots - arg));
	first[dots - arg] = '\0';
	o->seed_first = parse_u64(first, argv0);
	o->seed_last = dots[2] == '\0' ? UINT64_MAX : parse_u64(dots + 2, argv0);
	if (o->seed_last < o->seed_first)
		usage(argv0);
}

static void
parse_options(sim_options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->seed_first = 1;
	o->seed_last = 100;
	o->steps = 5000;
	o->drop = 0.05;
	o->dup = 0.02;
	o->delay = 0.2;
	o->max_delay = 40;
	o->reorder = true;
	o->partition_rate = 0.002;
	o->crash_rate = 0.001;
	o->restart_rate = 0.004;
	o->propose_rate = 0.03;
	o->conf_rate = 0.002;
	o->transfer_rate = 0.001;
	o->snapshot_rate = 0.004;
	o->fault_fraction = 0.7;
	o->liveness_steps = 200000;
	o->pre_vote = true;
	o->check_quorum = true;
	o->snapshot_on_conf = false;
	o->bootstrap = BOOTSTRAP_MIXED;
	o->interleave = false;
	o->early_send = 0.5;

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define VALUE() (v != NULL ? (i++, v) : (usage(argv[0]), ""))
		if (strcmp(a, "--seeds") == 0)
			parse_seeds(o, VALUE(), argv[0]);
		else if (strcmp(a, "--steps") == 0)
			o->steps = parse_u64(VALUE(), argv[0]);
		else if (strcmp(a, "--nodes") == 0)
		{
			o->nodes = (uint32_t) parse_u64(VALUE(), argv[0]);
			if (o->nodes != 3 && o->nodes != 5 && o->nodes != 7)
				usage(argv[0]);
		}
		else if (strcmp(a, "--drop") == 0)
			o->drop = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--dup") == 0)
			o->dup = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--delay") == 0)
			o->delay = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--max-delay") == 0)
			o->max_delay = (uint32_t) parse_u64(VALUE(), argv[0]);
		else if (strcmp(a, "--reorder") == 0)
			o->reorder = true;
		else if (strcmp(a, "--no-reorder") == 0)
			o->reorder = false;
		else if (strcmp(a, "--partition-rate") == 0)
			o->partition_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--crash-rate") == 0)
			o->crash_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--restart-rate") == 0)
			o->restart_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--propose-rate") == 0)
			o->propose_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--conf-rate") == 0)
			o->conf_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--transfer-rate") == 0)
			o->transfer_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--snapshot-rate") == 0)
			o->snapshot_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--fault-fraction") == 0)
			o->fault_fraction = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--liveness-steps") == 0)
			o->liveness_steps = parse_u64(VALUE(), argv[0]);
		else if (strcmp(a, "--seconds") == 0)
			o->seconds = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--no-pre-vote") == 0)
			o->pre_vote = false;
		else if (strcmp(a, "--no-check-quorum") == 0)
			o->check_quorum = false;
		else if (strcmp(a, "--no-snapshot-on-conf") == 0)
			o->snapshot_on_conf = false;
		else if (strcmp(a, "--snapshot-on-conf") == 0)
			o->snapshot_on_conf = true;
		else if (strcmp(a, "--interleave") == 0)
			o->interleave = true;
		else if (strcmp(a, "--early-send") == 0)
			o->early_send = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--lose-rate") == 0)
			o->lose_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--rollback-rate") == 0)
			o->rollback_rate = parse_double(VALUE(), argv[0]);
		else if (strcmp(a, "--bootstrap") == 0)
		{
			const char *b = VALUE();

			if (strcmp(b, "snapshot") == 0)
				o->bootstrap = BOOTSTRAP_SNAPSHOT;
			else if (strcmp(b, "genesis") == 0)
				o->bootstrap = BOOTSTRAP_GENESIS;
			else if (strcmp(b, "mixed") == 0)
				o->bootstrap = BOOTSTRAP_MIXED;
			else
				usage(argv[0]);
		}
		else if (strcmp(a, "--verbose") == 0)
			o->verbose = true;
		else if (strcmp(a, "--quiet") == 0)
			o->quiet = true;
		else
			usage(argv[0]);
#undef VALUE
	}
	if (o->seed_last == UINT64_MAX && o->seconds <= 0)
		usage(argv[0]);
	if (o->fault_fraction > 1.0 || o->drop > 1.0 || o->dup > 1.0 ||
		o->delay > 1.0 || o->early_send > 1.0)
		usage(argv[0]);
}

/* Every knob, so that the printed command replays the run exactly. */
static void
format_replay(const sim_options *o, const char *argv0)
{
	snprintf(replay_prefix, sizeof(replay_prefix),
			 "%s --steps %" PRIu64 "%s%.0u --drop %g --dup %g --delay %g "
			 "--max-delay %u %s --partition-rate %g --crash-rate %g "
			 "--restart-rate %g --propose-rate %g --conf-rate %g "
			 "--transfer-rate %g --snapshot-rate %g --fault-fraction %g "
			 "--liveness-steps %" PRIu64 " --early-send %g --lose-rate %g "
			 "--rollback-rate %g --bootstrap %s%s%s%s%s",
			 argv0, o->steps, o->nodes ? " --nodes " : "", o->nodes, o->drop,
			 o->dup, o->delay, o->max_delay,
			 o->reorder ? "--reorder" : "--no-reorder", o->partition_rate,
			 o->crash_rate, o->restart_rate, o->propose_rate, o->conf_rate,
			 o->transfer_rate, o->snapshot_rate, o->fault_fraction,
			 o->liveness_steps, o->early_send, o->lose_rate, o->rollback_rate,
			 o->bootstrap == BOOTSTRAP_SNAPSHOT		 ? "snapshot"
				 : o->bootstrap == BOOTSTRAP_GENESIS ? "genesis"
													 : "mixed",
			 o->pre_vote ? "" : " --no-pre-vote",
			 o->check_quorum ? "" : " --no-check-quorum",
			 o->snapshot_on_conf ? " --snapshot-on-conf" : "",
			 o->interleave ? " --interleave" : "");
}

/* An assert in the core aborts the run: name the seed on the way out. */
static void
on_fatal_signal(int sig)
{
	printf("\nnot ok - seed %" PRIu64 " died with signal %d\n"
		   "# replay: %s --seeds %" PRIu64 " --verbose\n",
		   (uint64_t) current_seed, sig, replay_prefix, (uint64_t) current_seed);
	fflush(stdout);
	signal(sig, SIG_DFL);
	raise(sig);
}

static double
seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - start->tv_sec) +
		(double) (now.tv_nsec - start->tv_nsec) / 1e9;
}

int
main(int argc, char **argv)
{
	sim_options o;
	struct timespec start;
	uint64_t seeds = 0;
	uint64_t tap_number = 0;
	uint64_t failures = 0;
	uint64_t longest_liveness = 0;
	char summary[SIM_FAIL_BYTES + 64];

	parse_options(&o, argc, argv);
	format_replay(&o, argv[0]);
	signal(SIGABRT, on_fatal_signal);
	signal(SIGSEGV, on_fatal_signal);
	signal(SIGBUS, on_fatal_signal);
	signal(SIGFPE, on_fatal_signal);
	clock_gettime(CLOCK_MONOTONIC, &start);

	for (uint64_t seed = o.seed_first;; seed++)
	{
		seed_result r;

		if (o.seconds > 0 && seconds_since(&start) >= o.seconds)
			break;
		current_seed = seed;
		if (o.verbose)
			printf("# seed %" PRIu64 "\n", seed);
		r = run_seed(&o, seed, summary, sizeof(summary));
		seeds++;
		if (r.liveness_steps > longest_liveness)
			longest_liveness = r.liveness_steps;
		if (r.failed)
		{
			failures++;
			printf("not ok %" PRIu64 " - seed %" PRIu64 " (nodes=%u): %s\n"
				   "# replay: %s --seeds %" PRIu64 " --verbose\n",
				   ++tap_number, seed, r.nodes, summary, replay_prefix, seed);
		}
		else if (!o.quiet)
			printf("ok %" PRIu64 " - seed %" PRIu64 " (%s)\n", ++tap_number,
				   seed, summary);
		fflush(stdout);
		if (seed == o.seed_last)
			break;
	}
	/* Quiet: the passes are one line, which keeps soak output short. */
	if (o.quiet)
		printf("ok %" PRIu64 " - %" PRIu64 " seeds passed\n", ++tap_number,
			   seeds - failures);
	printf("# %" PRIu64 " seeds, %" PRIu64 " failed, %.1f s, longest "
		   "liveness tail %" PRIu64 " steps\n",
		   seeds, failures, seconds_since(&start), longest_liveness);
	printf("1..%" PRIu64 "\n", tap_number);
	return failures == 0 ? 0 : 1;
}
