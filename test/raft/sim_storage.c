/*-------------------------------------------------------------------------
 *
 * sim_storage.c
 *	  The simulator's storage faults: a node whose disk is wiped ("lose
 *	  state") or restored from an older copy of itself ("roll back
 *	  state"), kept within the fault model of src/raft/README.md, section 5.
 *
 * The model, and how the simulator keeps to it:
 *	- One disk failure at a time: a fault strikes only when no node is
 *	  still failed (down since its fault, recovering, or rolled back and
 *	  not yet found out), when every node has applied the latest
 *	  configuration, and membership holds still meanwhile.  With at least
 *	  three voters that is at most f failed nodes.
 *	- A failed node stays down for at least three election timeouts of
 *	  every running node (a disk is not replaced or restored in less), so
 *	  that any leader it was keeping in office has stepped down and any
 *	  candidacy it voted in is over when it comes back.
 *	- It is detected before its messages are used: a wiped node restarts
 *	  with a new incarnation and recovering set, as the worker re-joins; a
 *	  rolled-back node is left to its peers (recovering not set) only when
 *	  every other node has persisted a record of a newer life of it, so its
 *	  first message to anyone is recognised, and it does not crash again
 *	  before its disk says it recovers (each restart raises its boot
 *	  counter, and past the counters its peers saw, a restored disk looks
 *	  like a new life);
 *	  otherwise the host says so, as an operator restoring a backup through
 *	  the documented procedure.
 *
 * A copy of a node's disk (backup) is taken now and then, of a running
 * node or of a stopped one just before it restarts; a rollback restores
 * the latest one, with the boot counter of the copy plus one.
 *
 * test/raft/sim_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"
#include "net.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DOWNTIME_TICKS 30 /* three election timeouts */

/* ---- copies of a disk -------------------------------------------------- */

void
sim_disk_copy_free(sim_disk_copy *copy)
{
	if (copy == NULL)
		return;
	raft_memory_storage_destroy(copy->ms);
	free(copy->log);
	free(copy);
}

/* A copy of a running node's disk, as an operator's backup would be. */
void
sim_event_backup(sim *s)
{
	sim_node *n = sim_random_node(s, true);

	if (n != NULL)
		sim_backup(s, n);
}

/* Copies n's disk, replacing its previous copy. */
void
sim_backup(sim *s, sim_node *n)
{
	sim_disk_copy *copy;

	copy = calloc(1, sizeof(*copy));
	if (copy == NULL)
		abort();
	copy->ms = net_storage_clone(n->ms);
	copy->hard_state = n->hard_state;
	copy->config = n->config;
	copy->applied = n->applied;
	copy->applied_chain = n->applied_chain;
	copy->snap_index = n->snap_index;
	copy->snap_term = n->snap_term;
	copy->snap_chain = n->snap_chain;
	copy->log_len = n->log_len;
	copy->log = malloc((n->log_len + 1) * sizeof(sim_entry));
	if (copy->log == NULL)
		abort();
	if (n->log_len > 0)
		memcpy(copy->log, n->log, n->log_len * sizeof(sim_entry));
	copy->n_peers = n->n_peers;
	memcpy(copy->peers, n->peers, sizeof(copy->peers));
	copy->was_member = n->was_member;
	sim_disk_copy_free(n->backup);
	n->backup = copy;
	sim_trace(s,
			  "backup of node %" PRIu64 " (boot %" PRIu64 ", log (%" PRIu64
			  ", %" PRIu64 "])",
			  n->id, copy->hard_state.boot, copy->snap_index,
			  (uint64_t) (copy->snap_index + copy->log_len));
}

/* ---- the fault model --------------------------------------------------- */

static bool
any_failed(const sim *s)
{
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].storage_failed)
			return true;
	return false;
}

/* The node goes down; the others' clocks start its downtime. */
static void
fail_node(sim *s, sim_node *n, const char *what)
{
	if (n->alive)
		sim_node_stop(s, n, what);
	n->storage_failed = true;
	n->undetected = false;
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		n->fault_ticks[id] = s->nodes[id].ticks;
		n->fault_restarts[id] = s->nodes[id].restarts;
	}
	s->storage_faults++;
}

/* A failed node comes back after three election timeouts of every node. */
bool
sim_may_restart(const sim *s, const sim_node *n)
{
	if (!n->storage_failed)
		return true;
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		const sim_node *other = &s->nodes[id];

		if (id == n->id || !other->alive ||
			other->restarts != n->fault_restarts[id])
			continue;
		if (other->ticks - n->fault_ticks[id] < DOWNTIME_TICKS)
			return false;
	}
	return true;
}

/*
 * Is a membership change under way?  Some node has not applied the latest
 * configuration: the electorate differs from node to node, and a failure
 * then may leave no majority that agrees, in the old configuration or in
 * the new (a known corner of Raft even for plain crashes, which restart;
 * a failed disk waits for a leader).
 */
static bool
membership_settled(const sim *s)
{
	const sim_node *newest = NULL;

	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		const sim_node *n = &s->nodes[id];

		if (n->exists && !n->removed &&
			(newest == NULL || n->applied > newest->applied))
			newest = n;
	}
	for (raft_id id = 1; id <= SIM_MAX_NODES && newest != NULL; id++)
	{
		const sim_node *n = &s->nodes[id];

		if (n->exists && !n->removed &&
			(!sim_config_same(&n->config, &newest->config) ||
			 !sim_config_same(&n->config, &s->newest_config)))
			return false;
	}
	return true;
}

static bool
peers_know_newer(const sim *s, const sim_node *n, const sim_disk_copy *copy);

/*
 * A node to fail, or NULL when the model allows none now.  For a rollback,
 * half the time one whose copy its peers would recognise, if there is one,
 * so that both ways of finding out are exercised.
 */
static sim_node *
storage_victim(sim *s, bool need_backup)
{
	raft_id ids[SIM_MAX_NODES];
	uint32_t count = 0;
	bool recognisable;

	if (any_failed(s) || !membership_settled(s))
		return NULL;
	recognisable = need_backup && (sim_rng_next(s) & 1);
	for (int pass = recognisable ? 0 : 1; pass < 2 && count == 0; pass++)
	{
		for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		{
			const sim_node *n = &s->nodes[id];

			if (n->exists && !n->removed && (!need_backup || n->backup != NULL) &&
				(pass == 1 || peers_know_newer(s, n, n->backup)))
				ids[count++] = id;
		}
	}
	if (count == 0)
		return NULL;
	return &s->nodes[ids[sim_rng_next(s) % count]];
}

/*
 * "Lose state": the disk is wiped.  The node comes back as the worker
 * re-joins a channel: a new incarnation, an empty log, the genesis
 * configuration (or none, when founders share a snapshot), and recovering
 * set, since it may have voted and acknowledged before.
 */
void
sim_event_lose_state(sim *s)
{
	sim_node *n = storage_victim(s, false);

	if (n == NULL)
		return;
	fail_node(s, n, "disk wiped:");
	raft_memory_storage_destroy(n->ms);
	n->ms = raft_memory_storage_create();
	if (n->ms == NULL)
		abort();
	memset(&n->hard_state, 0, sizeof(n->hard_state));
	n->hard_state.incarnation = sim_rng_next(s) | 1;
	n->hard_state.recovering = true;
	n->n_peers = 0;
	memset(&n->config, 0, sizeof(n->config));
	if (s->genesis)
		n->config = s->initial_config;
	n->was_member = false; /* until it applies its membership again */
	n->applied = 0;
	n->applied_chain = 0;
	sim_log_reset(s, n, 0, 0, 0);
	sim_trace(s, "node %" PRIu64 " lost its disk", n->id);
}

/*
 * Would every other node recognise a restored copy at its first message?
 * Each must have persisted a record of a life of this incarnation past the
 * copy's (a later boot, or the same boot counter with another nonce).
 */
static bool
peers_know_newer(const sim *s, const sim_node *n, const sim_disk_copy *copy)
{
	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		const sim_node *p = &s->nodes[id];
		bool known = false;

		if (id == n->id || !p->exists || p->removed)
			continue;
		for (uint32_t i = 0; i < p->n_peers; i++)
			known = known ||
				(p->peers[i].id == n->id &&
				 p->peers[i].incarnation == copy->hard_state.incarnation &&
				 (p->peers[i].boot >> 32) > copy->hard_state.boot);
		if (!known)
			return false;
	}
	return true;
}

/*
 * "Roll back state": the disk is replaced by the node's latest copy, with
 * the copy's boot counter (the host adds one when it starts).
 */
void
sim_event_roll_back(sim *s)
{
	sim_node *n = storage_victim(s, true);
	const sim_disk_copy *copy;
	bool left_to_peers;

	if (n == NULL)
		return;
	copy = n->backup;
	left_to_peers = peers_know_newer(s, n, copy);
	fail_node(s, n, "disk rolled back:");
	raft_memory_storage_destroy(n->ms);
	n->ms = net_storage_clone(copy->ms);
	n->hard_state = copy->hard_state;
	if (!left_to_peers)
		n->hard_state.recovering = true; /* the host knows */
	n->undetected = !n->hard_state.recovering;
	s->peer_detected += n->undetected;
	n->config = copy->config;
	n->applied = copy->applied;
	n->applied_chain = copy->applied_chain;
	n->n_peers = copy->n_peers;
	memcpy(n->peers, copy->peers, sizeof(n->peers));
	n->was_member = copy->was_member;
	sim_log_reset(s, n, copy->snap_index, copy->snap_term, copy->snap_chain);
	if (copy->log_len > 0)
	{
		if (n->log_cap < copy->log_len)
		{
			n->log = realloc(n->log, copy->log_len * sizeof(sim_entry));
			if (n->log == NULL)
				abort();
			n->log_cap = copy->log_len;
		}
		memcpy(n->log, copy->log, copy->log_len * sizeof(sim_entry));
		n->log_len = copy->log_len;
	}
	sim_trace(s,
			  "node %" PRIu64 " rolled back to its copy of boot %" PRIu64
			  " (%s)",
			  n->id, copy->hard_state.boot,
			  n->undetected ? "left to its peers" : "the host knows");
}

/*
 * Each step: a failed node whose downtime is over comes back once the
 * faults have stopped (before, restarts are drawn like any other); a
 * rolled-back node is found out once it says it recovers; a failed node is
 * done once it no longer recovers, on disk.
 */
void
sim_storage_progress(sim *s)
{
	for (raft_id id = 1; id <= SIM_MAX_NODES && !s->failed; id++)
	{
		sim_node *n = &s->nodes[id];
		raft_status st;

		if (!n->storage_failed || n->removed)
		{
			n->storage_failed = false;
			continue;
		}
		if (!n->alive)
		{
			if (s->calm && sim_may_restart(s, n))
			{
				sim_node_start(s, n);
				if (n->alive)
					sim_check_status(s, n);
			}
			continue;
		}
		raft_get_status(n->rn, &st);
		/* Found out once its disk says so: a crash would forget it. */
		if (n->hard_state.recovering)
			n->undetected = false;
		else if (!n->undetected && !st.hard_state.recovering)
		{
			/* Done once its disk, not just its memory, says so. */
			n->storage_failed = false;
			sim_trace(s, "node %" PRIu64 " has recovered", n->id);
		}
	}
}
