/*-------------------------------------------------------------------------
 *
 * raft.c
 *	  Step: the one place that handles message terms and role-independent
 *	  messages before handing the rest to the role's step function; and
 *	  the queue of outgoing messages.
 *
 * The role step functions are plain switches on the message type and hold
 * no term logic: by the time they run, msg->term == node->term (or the
 * message is local).
 *
 * src/raft/raft.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

/* ---- outgoing messages ------------------------------------------------ */

void
raft_message_queue_clear(raft_message_queue *queue)
{
	for (uint32_t i = 0; i < queue->n; i++)
		raft_message_release(&queue->items[i]);
	raft_free(queue->items);
	memset(queue, 0, sizeof(*queue));
}

static bool
is_vote_type(raft_message_type type)
{
	return type == RAFT_MSG_VOTE || type == RAFT_MSG_VOTE_RESP ||
		type == RAFT_MSG_PREVOTE || type == RAFT_MSG_PREVOTE_RESP;
}

/*
 * Queues msg for the next ready, taking ownership of what it points at.
 * Vote messages carry the term the caller chose (the campaign's term, or
 * the request's term for a granted answer); every other message carries
 * ours.  On NOMEM the message is dropped, which Raft tolerates as loss.
 */
int
raft_send(raft_node *node, raft_message *msg)
{
	raft_message_queue *queue = &node->msgs;

	if (msg->from == RAFT_NONE)
		msg->from = node->id;
	RAFT_ASSERT(msg->to != RAFT_NONE && msg->to != node->id);
	if (is_vote_type(msg->type))
		RAFT_ASSERT(msg->term != 0);
	else
	{
		RAFT_ASSERT(msg->term == 0);
		msg->term = node->term;
	}
	if (queue->n == queue->capacity)
	{
		uint32_t capacity = queue->capacity == 0 ? 16 : queue->capacity * 2;
		raft_message *grown =
			raft_realloc(queue->items, (size_t) capacity * sizeof(raft_message));

		if (grown == NULL)
		{
			raft_message_release(msg);
			return RAFT_ERR_NOMEM;
		}
		queue->items = grown;
		queue->capacity = capacity;
	}
	queue->items[queue->n++] = *msg;
	return RAFT_OK;
}

/* ---- role step functions ---------------------------------------------- */

static int
step_leader_propose(raft_node *node, const raft_message *msg)
{
	raft_entry *entries;
	raft_index pending_conf_index = node->pending_conf_index;
	uint64_t bytes;
	int rc;

	RAFT_ASSERT(msg->n_entries > 0);
	/* A leader removed from the configuration takes no new proposals. */
	if (raft_tracker_get(&node->tracker, node->id) == NULL)
		return RAFT_ERR_PROPOSAL_DROPPED;
	if (node->lead_transferee != RAFT_NONE)
		return RAFT_ERR_PROPOSAL_DROPPED;
	if (raft_log_last_index(&node->log) + msg->n_entries >= RAFT_NUMBER_LIMIT)
		return RAFT_ERR_OUT_OF_RANGE;
	bytes = raft_entries_size_bytes(msg->entries, msg->n_entries);
	if (!raft_uncommitted_admits(node, bytes))
		return RAFT_ERR_BUSY;
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		if (msg->entries[i].type != RAFT_ENTRY_CONF_CHANGE)
			continue;
		if (node->pending_conf_index > node->log.applied ||
			!raft_committed_entry_in_current_term(node))
			return RAFT_ERR_CONF_CHANGE_PENDING;
		pending_conf_index = raft_log_last_index(&node->log) + i + 1;
	}
	/* The log copies what it keeps; stamp indexes and terms on a copy. */
	rc = raft_entries_copy(msg->entries, msg->n_entries, &entries);
	if (rc != RAFT_OK)
		return rc;
	rc = raft_append_entries_as_leader(node, entries, msg->n_entries);
	raft_free(entries);
	if (rc != RAFT_OK)
		return rc;
	node->uncommitted_bytes += bytes;
	node->pending_conf_index = pending_conf_index;
	return raft_bcast_append(node);
}

static int
step_leader(raft_node *node, const raft_message *msg)
{
	raft_progress *pr;

	/* These need no progress for msg->from. */
	switch (msg->type)
	{
		case RAFT_MSG_BEAT:
			return raft_bcast_heartbeat(node);
		case RAFT_MSG_PROP:
			return step_leader_propose(node, msg);
		default:
			break;
	}

	pr = raft_tracker_get(&node->tracker, msg->from);
	if (pr == NULL)
		return RAFT_OK; /* not (or no longer) a member */
	/* Peer messages say whether their sender recovers (local ones don't). */
	if (msg->term != 0 && msg->type != RAFT_MSG_TRANSFER_LEADER)
		raft_recovery_observe(node, pr, msg);
	switch (msg->type)
	{
		case RAFT_MSG_APP_RESP:
			return raft_handle_append_response(node, pr, msg);
		case RAFT_MSG_HEARTBEAT_RESP:
			return raft_handle_heartbeat_response(node, pr, msg);
		case RAFT_MSG_SNAP_STATUS:
			if (pr->state != RAFT_PROGRESS_SNAPSHOT)
				return RAFT_OK;
			/* On failure, forget the snapshot or we'd probe past it. */
			if (msg->reject)
				pr->pending_snapshot = 0;
			raft_progress_become_probe(pr);
			/* Wait for an APP_RESP, or a heartbeat interval to retry. */
			pr->msg_app_flow_paused = true;
			return RAFT_OK;
		case RAFT_MSG_UNREACHABLE:
			/*
			 * An optimistic append was probably lost: probe again.  So
			 * may a snapshot have been: probing from just after it finds
			 * out (and sends it again if the peer lacks it).
			 */
			if (pr->state != RAFT_PROGRESS_PROBE)
				raft_progress_become_probe(pr);
			return RAFT_OK;
		case RAFT_MSG_TRANSFER_LEADER:
			return raft_handle_transfer_leader(node, pr, msg);
		case RAFT_MSG_VOTE_RESP:
			/*
			 * A vote of this term that came after the quorum's: its sender
			 * is up, as those that elected it (raft_become_leader).
			 */
			if (msg->term == node->term && !msg->reject)
				pr->recent_active = true;
			return RAFT_OK;
		default:
			return RAFT_OK;
	}
}

static int step_follower(raft_node *node, const raft_message *msg);

/* Shared by pre-candidates and candidates. */
static int
step_candidate(raft_node *node, const raft_message *msg)
{
	raft_message_type my_response = node->role == RAFT_PRECANDIDATE
		? RAFT_MSG_PREVOTE_RESP
		: RAFT_MSG_VOTE_RESP;

	switch (msg->type)
	{
		case RAFT_MSG_PROP:
			return RAFT_ERR_PROPOSAL_DROPPED;
		case RAFT_MSG_TRANSFER_LEADER:
			return RAFT_ERR_PROPOSAL_DROPPED;
		case RAFT_MSG_APP:
		case RAFT_MSG_HEARTBEAT:
		case RAFT_MSG_SNAP:
			/* A leader of our term exists: "return to follower state". */
			raft_become_follower(node, msg->term, msg->from);
			return step_follower(node, msg);
		case RAFT_MSG_RECOVER:
			if (msg->index == 0)
				return RAFT_OK;
			raft_become_follower(node, msg->term, msg->from);
			return step_follower(node, msg);
		case RAFT_MSG_PREVOTE_RESP:
		case RAFT_MSG_VOTE_RESP:
			/* Stale pre-vote answers may reach a candidate: skip them. */
			if (msg->type != my_response)
				return RAFT_OK;
			return raft_handle_vote_response(node, msg);
		default:
			return RAFT_OK;
	}
}

static void
heard_from_leader(raft_node *node, const raft_message *msg)
{
	node->election_elapsed = 0;
	node->leader = msg->from;
	raft_recovery_follow(node, msg);
}

static int
step_follower(raft_node *node, const raft_message *msg)
{
	raft_message forward;

	switch (msg->type)
	{
		case RAFT_MSG_PROP:
			/* The host routes proposals to the leader itself. */
			return RAFT_ERR_PROPOSAL_DROPPED;
		case RAFT_MSG_APP:
			heard_from_leader(node, msg);
			return raft_handle_append_entries(node, msg);
		case RAFT_MSG_HEARTBEAT:
			heard_from_leader(node, msg);
			return raft_handle_heartbeat(node, msg);
		case RAFT_MSG_SNAP:
			heard_from_leader(node, msg);
			return raft_handle_snapshot(node, msg);
		case RAFT_MSG_RECOVER:
			/* With a target, from the leader; without, a peer's notice. */
			if (msg->index > 0)
				heard_from_leader(node, msg);
			return RAFT_OK;
		case RAFT_MSG_TRANSFER_LEADER:
			if (node->leader == RAFT_NONE)
				return RAFT_ERR_PROPOSAL_DROPPED;
			/* Forward to the leader; from stays the transferee. */
			memset(&forward, 0, sizeof(forward));
			forward.type = RAFT_MSG_TRANSFER_LEADER;
			forward.from = msg->from;
			forward.to = node->leader;
			return raft_send(node, &forward);
		case RAFT_MSG_TIMEOUT_NOW:
			/* Leader transfer: campaign now, without pre-vote. */
			return raft_hup(node, RAFT_CAMPAIGN_TRANSFER);
		default:
			return RAFT_OK;
	}
}

/* ---- Step ------------------------------------------------------------- */

/*
 * "If RPC request or response contains term T > currentTerm: set
 * currentTerm = T, convert to follower" (Raft paper, figure 2), with the
 * pre-vote and check-quorum exceptions of etcd.  Returns true if the
 * message should be processed further.
 */
static bool
step_higher_term(raft_node *node, const raft_message *msg)
{
	if (msg->type == RAFT_MSG_VOTE || msg->type == RAFT_MSG_PREVOTE)
	{
		bool force = msg->context == RAFT_CAMPAIGN_TRANSFER_CONTEXT;
		bool in_lease = node->check_quorum && node->leader != RAFT_NONE &&
			node->election_elapsed < node->election_tick;

		/*
		 * "If a server receives a RequestVote request within the minimum
		 * election timeout of hearing from a current leader, it does not
		 * update its term or grant its vote" (Raft thesis, 4.2.3).
		 */
		if (!force && in_lease)
			return false;
	}
	if (msg->type == RAFT_MSG_PREVOTE)
		return true; /* never change term for a pre-vote */
	if (msg->type == RAFT_MSG_PREVOTE_RESP && !msg->reject)
		return true; /* granted for our future term */
	if (msg->type == RAFT_MSG_APP || msg->type == RAFT_MSG_HEARTBEAT ||
		msg->type == RAFT_MSG_SNAP ||
		(msg->type == RAFT_MSG_RECOVER && msg->index > 0))
		raft_become_follower(node, msg->term, msg->from);
	else
		raft_become_follower(node, msg->term, RAFT_NONE);
	return true;
}

/*
 * A message from an older term.  Usually ignored; but a leader stuck in an
 * old term (its followers moved on while it was partitioned, and now ignore
 * it because of pre-vote or check-quorum) must learn the new term, so we
 * answer its appends; and an old pre-candidate gets a rejection carrying
 * our term instead of silence, so it cannot deadlock.
 */
static int
step_lower_term(raft_node *node, const raft_message *msg)
{
	raft_message reply;

	memset(&reply, 0, sizeof(reply));
	reply.to = msg->from;
	/*
	 * A recovering node answers too: it does not campaign, so this is the
	 * only way the group learns a term it reached, and the only way it
	 * gets a leader of its own term to give it a target.
	 */
	if ((node->check_quorum || node->pre_vote || node->recovering) &&
		(msg->type == RAFT_MSG_HEARTBEAT || msg->type == RAFT_MSG_APP))
	{
		reply.type = RAFT_MSG_APP_RESP;
		return raft_send(node, &reply);
	}
	if (msg->type == RAFT_MSG_PREVOTE)
	{
		reply.type = RAFT_MSG_PREVOTE_RESP;
		reply.term = node->term;
		reply.reject = true;
		return raft_send(node, &reply);
	}
	return RAFT_OK;
}

int
raft_step_internal(raft_node *node, const raft_message *msg)
{
	RAFT_ASSERT(node != NULL && msg != NULL);
	RAFT_ASSERT(msg->type < RAFT_MSG_TYPE_COUNT);

	/* "You are behind" holds whatever the sender's term. */
	if (msg->type == RAFT_MSG_RECOVER)
		raft_recovery_notice(node, msg);
	if (msg->term > node->term)
	{
		if (!step_higher_term(node, msg))
			return RAFT_OK;
	}
	else if (msg->term != 0 && msg->term < node->term)
		return step_lower_term(node, msg);

	switch (msg->type)
	{
		case RAFT_MSG_HUP:
			return raft_hup(node,
							node->pre_vote ? RAFT_CAMPAIGN_PRE_ELECTION
										   : RAFT_CAMPAIGN_ELECTION);
		case RAFT_MSG_VOTE:
		case RAFT_MSG_PREVOTE:
			return raft_handle_vote_request(node, msg);
		default:
			break;
	}
	switch (node->role)
	{
		case RAFT_LEADER:
			return step_leader(node, msg);
		case RAFT_CANDIDATE:
		case RAFT_PRECANDIDATE:
			return step_candidate(node, msg);
		case RAFT_FOLLOWER:
			return step_follower(node, msg);
	}
	RAFT_ASSERT(!"unknown role");
	return RAFT_ERR_INVALID;
}

/*
 * The invariants every public entry point leaves behind, checked densely
 * in assert-enabled builds (the simulator runs them after every event).
 */
void
raft_assert_invariants(const raft_node *node)
{
#ifndef NDEBUG
	const raft_log *log = &node->log;
	raft_index last = raft_log_last_index(log);

	RAFT_ASSERT(log->applied <= log->committed);
	RAFT_ASSERT(log->committed <= last);
	RAFT_ASSERT(log->committed + 1 >= raft_log_first_index(log));
	RAFT_ASSERT(node->vote == RAFT_NONE || node->term > 0);
	switch (node->role)
	{
		case RAFT_LEADER:
			RAFT_ASSERT(node->leader == node->id);
			RAFT_ASSERT(!log->unstable.has_snapshot);
			RAFT_ASSERT(node->pending_conf_index <= last);
			for (uint32_t i = 0; i < node->tracker.n_progress; i++)
			{
				const raft_progress *pr = &node->tracker.progress[i];

				RAFT_ASSERT(pr->match < pr->next);
				RAFT_ASSERT(pr->id == node->id || pr->next <= last + 1);
				RAFT_ASSERT(pr->inflights.count <= pr->inflights.capacity);
			}
			break;
		case RAFT_CANDIDATE:
			RAFT_ASSERT(node->vote == node->id);
			/* fall through */
		case RAFT_PRECANDIDATE:
			RAFT_ASSERT(node->leader == RAFT_NONE);
			RAFT_ASSERT(node->lead_transferee == RAFT_NONE);
			break;
		case RAFT_FOLLOWER:
			RAFT_ASSERT(node->lead_transferee == RAFT_NONE);
			break;
	}
	RAFT_ASSERT(node->tracker.n_progress ==
				node->tracker.config.n_voters + node->tracker.config.n_learners);
	RAFT_ASSERT(node->randomized_election_timeout >= node->election_tick &&
				node->randomized_election_timeout < 2 * node->election_tick);
#else
	(void) node;
#endif
}
