/*-------------------------------------------------------------------------
 *
 * sim_events.c
 *	  The simulator's steps: each fires one event, drawn by the rates of
 *	  sim_options (crash, restart, partition, conf change, leader
 *	  transfer, storage faults, proposal, snapshot) or else a routine one
 *	  (a host's ready, a delivery, a tick); and the end of the fault phase.
 *
 * test/raft/sim_events.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <inttypes.h>
#include <string.h>

sim_node *
sim_random_node(sim *s, bool alive)
{
	raft_id ids[SIM_MAX_NODES];
	uint32_t n = 0;

	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
	{
		const sim_node *node = &s->nodes[id];

		if (node->exists && !node->removed && node->alive == alive)
			ids[n++] = id;
	}
	return n == 0 ? NULL : &s->nodes[ids[sim_rng_below(s, n)]];
}

/* The running node that believes it leads the highest term, if any. */
sim_node *
sim_find_leader(sim *s, raft_status *st)
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

static void
event_crash(sim *s)
{
	sim_node *n = sim_random_node(s, true);

	/* A restored disk left to its peers talks before it restarts again. */
	if (n == NULL || n->undetected)
		return;
	s->crashes++;
	sim_node_stop(s, n, "crash");
}

static sim_node *
event_restart(sim *s)
{
	sim_node *n = sim_random_node(s, false);

	if (n == NULL || !sim_may_restart(s, n))
		return NULL;
	sim_node_start(s, n);
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
	if (any && sim_rng_chance(s, 0.5))
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
	switch (sim_rng_below(s, 4))
	{
		case 0: /* symmetric split */
		{
			bool side[SIM_MAX_NODES + 1] = { false };

			for (uint32_t i = 0; i < n; i++)
				side[ids[i]] = sim_rng_chance(s, 0.5);
			for (uint32_t i = 0; i < n; i++)
				for (uint32_t j = 0; j < n; j++)
					if (side[ids[i]] != side[ids[j]])
						s->blocked[ids[i]][ids[j]] = true;
			sim_trace(s, "partition: symmetric split");
			break;
		}
		case 1: /* one node hears but is not heard */
		{
			raft_id x = ids[sim_rng_below(s, n)];

			for (uint32_t i = 0; i < n; i++)
				if (ids[i] != x)
					s->blocked[x][ids[i]] = true;
			sim_trace(s, "partition: node %" PRIu64 " cannot send", x);
			break;
		}
		case 2: /* one node is heard but does not hear */
		{
			raft_id x = ids[sim_rng_below(s, n)];

			for (uint32_t i = 0; i < n; i++)
				if (ids[i] != x)
					s->blocked[ids[i]][x] = true;
			sim_trace(s, "partition: node %" PRIu64 " cannot receive", x);
			break;
		}
		default: /* one link, one way */
		{
			raft_id a = ids[sim_rng_below(s, n)];
			raft_id b = ids[sim_rng_below(s, n)];

			if (a != b)
				s->blocked[a][b] = true;
			sim_trace(s, "partition: link %" PRIu64 "->%" PRIu64 " cut", a, b);
			break;
		}
	}
}

sim_node *
sim_event_propose(sim *s, bool marker)
{
	raft_status st;
	sim_node *n = sim_find_leader(s, &st);
	uint8_t data[64];
	uint32_t size;
	int err;

	/* Now and then at any node: a follower must refuse cleanly. */
	if (!marker && (n == NULL || sim_rng_chance(s, 0.1)))
		n = sim_random_node(s, true);
	if (n == NULL)
		return NULL;
	if (marker)
	{
		memcpy(data, "LIVE", 4);
		sim_put_u64(data + 4, s->marker_next++);
		size = 12;
	}
	else
	{
		sim_put_u64(data, s->proposals);
		size = 8 + (uint32_t) sim_rng_below(s, sizeof(data) - 8);
		for (uint32_t i = 8; i < size; i++)
			data[i] = (uint8_t) sim_rng_next(s);
	}
	err = raft_propose(n->rn, data, size);
	sim_check_result(s, "raft_propose", n->id, err);
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
	sim_node *n = sim_find_leader(s, &st);
	raft_conf_change cc;
	uint8_t context[16];
	uint8_t bytes[64];
	size_t size = 0;
	raft_id fresh = RAFT_NONE;
	int err;
	uint64_t choice = sim_rng_below(s, 10);

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
		cc.node = st.config.learners[sim_rng_below(s, st.config.n_learners)];
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
		cc.type =
			sim_rng_chance(s, 0.2) ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_REMOVE;
		cc.node = st.config.voters[sim_rng_below(s, st.config.n_voters)];
	}
	else if (st.config.n_learners > 0)
	{
		cc.type = RAFT_CONF_REMOVE;
		cc.node = st.config.learners[sim_rng_below(s, st.config.n_learners)];
	}
	else
		return NULL;
	cc.context_size = (uint32_t) sim_rng_below(s, sizeof(context) + 1);
	for (uint32_t i = 0; i < cc.context_size; i++)
		context[i] = (uint8_t) sim_rng_next(s);
	cc.context = cc.context_size > 0 ? context : NULL;
	if (raft_conf_change_encode(&cc, bytes, sizeof(bytes), &size) != RAFT_OK)
	{
		sim_fail(s, "conf change does not encode");
		return NULL;
	}
	err = raft_propose_conf_change(n->rn, &cc);
	sim_check_result(s, "raft_propose_conf_change", n->id, err);
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
			(void) sim_node_create(s, fresh, false);
		}
	}
	return n;
}

static sim_node *
event_transfer(sim *s)
{
	raft_status st;
	sim_node *n = sim_find_leader(s, &st);
	raft_id to;
	int err;

	if (n == NULL || st.config.n_voters < 2)
		return NULL;
	to = st.config.voters[sim_rng_below(s, st.config.n_voters)];
	err = raft_transfer_leader(n->rn, to);
	sim_check_result(s, "raft_transfer_leader", n->id, err);
	sim_trace(s, "transfer leadership %" PRIu64 " -> %" PRIu64 ": %d", n->id,
			  to, err);
	return n;
}

static void
event_snapshot(sim *s)
{
	sim_node *n = sim_random_node(s, true);

	if (n != NULL)
		sim_host_snapshot(s, n);
}

/* The end of the fault phase: everything heals. */
void
sim_calm_down(sim *s)
{
	s->calm = true;
	memset(s->blocked, 0, sizeof(s->blocked));
	sim_trace(s, "calm: partitions healed, crashed nodes restart");
	for (raft_id id = 1; id <= SIM_MAX_NODES && !s->failed; id++)
	{
		sim_node *n = &s->nodes[id];

		if (n->exists && !n->removed && !n->alive && sim_may_restart(s, n))
		{
			sim_node_start(s, n);
			if (n->alive)
				sim_check_status(s, n);
		}
	}
}

/* Fires one routine event: host, deliver or tick.  Returns the node. */
sim_node *
sim_routine_event(sim *s)
{
	raft_id with_ready[SIM_MAX_NODES];
	uint32_t n_ready = 0;
	int msg_at = sim_net_pick(s);
	uint64_t w_host;
	uint64_t w_deliver;
	uint64_t r;

	for (raft_id id = 1; id <= SIM_MAX_NODES; id++)
		if (s->nodes[id].alive &&
			(s->nodes[id].stage > 0 || raft_has_ready(s->nodes[id].rn)))
			with_ready[n_ready++] = id;
	w_host = n_ready > 0 ? 4 : 0;
	w_deliver = msg_at >= 0 ? 4 : 0;
	r = sim_rng_below(s, w_host + w_deliver + 1);
	if (r < w_host)
	{
		sim_node *n = &s->nodes[with_ready[sim_rng_below(s, n_ready)]];

		sim_event_host(s, n);
		return n->alive ? n : NULL;
	}
	if (r < w_host + w_deliver)
		return sim_event_deliver(s, msg_at);
	{
		sim_node *n = sim_random_node(s, true);

		if (n != NULL)
			event_tick(s, n);
		return n;
	}
}

sim_node *
sim_one_step(sim *s)
{
	const sim_options *o = s->options;
	double u = sim_rng_unit(s);
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
		return sim_event_propose(s, false);
	if (u < (edge += o->snapshot_rate))
	{
		event_snapshot(s);
		return NULL;
	}
	return sim_routine_event(s);
}
