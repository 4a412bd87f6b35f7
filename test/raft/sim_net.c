/*-------------------------------------------------------------------------
 *
 * sim_net.c
 *	  The simulator's network: every message is encoded (src/raft/codec.c),
 *	  then dropped, duplicated, delayed or queued; links may be cut; a due
 *	  message is decoded and stepped into its receiver.  Persisting before
 *	  sending is checked as each message leaves.
 *
 * test/raft/sim_net.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (!s->calm && sim_rng_chance(s, s->options->delay) &&
		s->options->max_delay > 0)
		msg->due_step += 1 + sim_rng_below(s, s->options->max_delay);
	msg->size = (uint32_t) size;
	msg->bytes = (uint8_t *) (msg + 1);
	memcpy(msg->bytes, bytes, size);
	s->net[s->net_len++] = msg;
	return true;
}

void
sim_net_free(sim *s)
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

/*
 * Sends one message of a ready: encoded, then dropped, duplicated or
 * queued.
 */
send_result
sim_net_send(sim *s, sim_node *n, const raft_message *m)
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
	else if (sim_rng_chance(s, s->calm ? 0.0 : s->options->drop))
		trace_message(s, "drop", m);
	else if (net_push(s, m, bytes, size))
	{
		trace_message(s, "send", m);
		result = SEND_QUEUED;
		if (!s->calm && sim_rng_chance(s, s->options->dup))
			(void) net_push(s, m, bytes, size);
	}
	if (bytes != stack)
		free(bytes);
	return result;
}

/* Index in net[] of the message to deliver next, or -1 if none is due. */
int
sim_net_pick(sim *s)
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
		return (int) due[sim_rng_below(s, n_due)];
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

sim_node *
sim_event_deliver(sim *s, int at)
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
	sim_check_result(s, "raft_step", to->id, err);
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
