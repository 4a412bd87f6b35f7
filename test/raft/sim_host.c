/*-------------------------------------------------------------------------
 *
 * sim_host.c
 *	  The simulator's hosts: a node's life (created on an empty disk, started
 *	  from its disk, stopped) and the host loop that takes a ready and
 *	  persists, sends and applies it in raft.h's order, with crashes
 *	  between the stages; and the host's snapshots of its state machine.
 *
 * test/raft/sim_host.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC 0x53494d534e415031ULL /* "SIMSNAP1" */
#define SNAP_HEADER_BYTES 24
#define ELECTION_TICK 10

/* ------------------------------------------------------------------------
 * The host's snapshot data: the state machine at the snapshot's index
 * ------------------------------------------------------------------------
 */
void
sim_put_u64(uint8_t *p, uint64_t v)
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
void
sim_node_start(sim *s, sim_node *n)
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
	o.seed = sim_rng_next(s);
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
sim_node_stop(sim *s, sim_node *n, const char *why)
{
	assert(n->alive);
	raft_node_destroy(n->rn);
	n->rn = NULL;
	n->alive = false;
	n->stage = 0; /* a ready in progress is lost */
	sim_trace(s, "%s node %" PRIu64, why, n->id);
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
sim_node *
sim_node_create(sim *s, raft_id id, bool founder)
{
	sim_node *n = &s->nodes[id];

	assert(id >= 1 && id <= SIM_MAX_NODES && !n->exists);
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->exists = true;
	n->early_send = sim_rng_chance(s, s->options->early_send);
	n->hard_state.incarnation = sim_rng_next(s) | 1; /* a new disk */
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
		sim_put_u64(data, SNAP_MAGIC);
		sim_put_u64(data + 8, 1);
		sim_put_u64(data + 16, s->hist[1].chain);
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
	sim_node_start(s, n);
	return n;
}

void
sim_node_free(sim_node *n)
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
 * The host: one ready, in raft.h's order, with an optional crash point
 * ------------------------------------------------------------------------
 */
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
		sim_node_stop(s, n, "removed:");
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
		sim_host_snapshot(s, n);
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
		send_result sent = sim_net_send(s, n, m);

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
		if (crash_midway && sim_rng_chance(s, 0.5))
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
	sim_node_stop(s, n, "crash (mid-ready):");
}

/*
 * One host event.  By default a whole ready, like the worker, with a crash
 * now and then before persisting, before sending, before applying or
 * between two applied entries.  With --interleave, one stage of a ready
 * (take, persist, send, apply + advance) per event, other events on the
 * node in between, as etcd allows.
 */
void
sim_event_host(sim *s, sim_node *n)
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
	if (!s->calm && sim_rng_chance(s, s->options->crash_rate * 4) &&
		!n->undetected)
		crash = (crash_point) (1 + sim_rng_below(s, 4));
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

/* The host snapshots its state machine at applied and drops the log. */
void
sim_host_snapshot(sim *s, sim_node *n)
{
	uint8_t data[SNAP_HEADER_BYTES + 32];
	uint32_t size;
	int err;

	if (n->applied <= n->snap_index || n->stage != 0)
		return;
	size = SNAP_HEADER_BYTES + (uint32_t) sim_rng_below(s, 33);
	sim_put_u64(data, SNAP_MAGIC);
	sim_put_u64(data + 8, n->applied);
	sim_put_u64(data + 16, n->applied_chain);
	for (uint32_t i = SNAP_HEADER_BYTES; i < size; i++)
		data[i] = (uint8_t) sim_rng_next(s);
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
