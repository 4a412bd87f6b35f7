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
 * The files:
 *	sim.c          the PRNG, failure reports, one seed's run, main()
 *	sim_options.c  the command line and the replay command it prints
 *	sim_host.c     nodes (create, start, stop) and the host's readies
 *	sim_net.c      the network: send, drop, duplicate, delay, deliver
 *	sim_events.c   the step's events: faults, proposals, conf changes,
 *	               transfers, snapshots, and the routine host/deliver/tick
 *	sim_storage.c  storage faults: wiped and rolled-back disks
 *	sim_check.c    the safety checks
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

#define MARKER_RETRY_STEPS 400

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

uint64_t
sim_rng_next(sim *s)
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

/* Uniform in [0, n), n > 0. */
uint64_t
sim_rng_below(sim *s, uint64_t n)
{
	assert(n > 0);
	return sim_rng_next(s) % n;
}

double
sim_rng_unit(sim *s)
{
	return (double) (sim_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

bool
sim_rng_chance(sim *s, double p)
{
	return sim_rng_unit(s) < p;
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

/*
 * API results the core may legitimately return to a host call.  Honest
 * peers never send what is out of range, and the simulator's disks are
 * never corrupt.
 */
void
sim_check_result(sim *s, const char *call, raft_id id, int err)
{
	if (err == RAFT_ERR_NOMEM || err == RAFT_ERR_STORAGE || err > 0 ||
		err == RAFT_ERR_OUT_OF_RANGE || err == RAFT_ERR_CORRUPT ||
		err < RAFT_ERR_BEHIND)
		sim_fail(s, "node %" PRIu64 ": %s returned %d (%s)", id, call, err,
				 raft_strerror(err));
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
	s->snapshot_interval = 16 + sim_rng_below(s, 100);
	/* Small batches: a catch-up takes many APPs (1 byte: one entry each). */
	s->max_msg_bytes = sim_rng_chance(s, 0.3) ? 1 : 64 + sim_rng_below(s, 2048);
	s->max_inflight = 1 + (uint32_t) sim_rng_below(s, 16);
	s->max_committed_bytes =
		sim_rng_chance(s, 0.3) ? 1 : 64 + sim_rng_below(s, 8192);
	/* A tight cap on uncommitted bytes in 30% of seeds: leaders say busy. */
	s->max_uncommitted_bytes =
		sim_rng_chance(s, 0.3) ? 64 + sim_rng_below(s, 1024) : 0;
	s->n_nodes_initial =
		o->nodes != 0 ? o->nodes : (uint32_t) (3 + 2 * (seed % 3));
	sim_check_init(s);

	/* Snapshot bootstrap: index 1 is history before anything runs. */
	coin = sim_rng_chance(s, 0.5); /* drawn always: modes share the stream */
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
		(void) sim_node_create(s, id, true);

	fault_end = (uint64_t) ((double) o->steps * o->fault_fraction);
	for (s->step = 0; s->step < o->steps && !s->failed; s->step++)
	{
		if (s->step == fault_end && !s->calm)
			sim_calm_down(s);
		step_checks(s, sim_one_step(s));
	}

	/* Liveness: calm steps until every voter applied a marker. */
	if (!s->calm && !s->failed)
		sim_calm_down(s);
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

			if (sim_find_leader(s, &st) != NULL)
			{
				step_checks(s, sim_event_propose(s, true));
				last_marker = tail;
				continue;
			}
		}
		step_checks(s, sim_routine_event(s));
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
			sim_node_free(&s->nodes[id]);
	sim_net_free(s);
	sim_check_free(s);
	free(s);
	return result;
}

/* ------------------------------------------------------------------------
 * The run: seeds one after another, as TAP
 * ------------------------------------------------------------------------
 */

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

	sim_parse_options(&o, argc, argv);
	sim_format_replay(&o, argv[0], replay_prefix, sizeof(replay_prefix));
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
