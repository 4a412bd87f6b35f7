/*-------------------------------------------------------------------------
 *
 * ready.c
 *	  Handing the host what to persist, send and apply (raft_ready_get),
 *	  taking its acknowledgement (raft_advance), and status.
 *
 * A ready is a deep copy owned by the node until raft_advance(): the host
 * may step the node while it persists, without invalidating the ready.
 * The classic etcd contract holds: the host persists the snapshot, entries
 * and hard state before sending any message of the same ready, so answers
 * that depend on durability (votes, append acknowledgements) are safe.
 *
 * src/raft/ready.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

static raft_hard_state
current_hard_state(const raft_node *node)
{
	raft_hard_state hs;

	hs.term = node->term;
	hs.vote = node->vote;
	hs.commit = node->log.committed;
	hs.incarnation = node->incarnation;
	hs.boot = node->boot;
	hs.recovering = node->recovering;
	return hs;
}

static bool
hard_state_equal(const raft_hard_state *a, const raft_hard_state *b)
{
	return a->term == b->term && a->vote == b->vote &&
		a->commit == b->commit && a->incarnation == b->incarnation &&
		a->boot == b->boot && a->recovering == b->recovering;
}

bool
raft_has_ready(const raft_node *node)
{
	raft_hard_state hs = current_hard_state(node);

	RAFT_ASSERT(node != NULL);
	return node->role != node->prev_role || node->leader != node->prev_leader ||
		!hard_state_equal(&hs, &node->prev_hard_state) ||
		node->log.unstable.has_snapshot || node->log.unstable.n_entries > 0 ||
		node->msgs.n > 0 || node->peers_version != node->peers_persisted ||
		raft_log_has_next_committed(&node->log);
}

void
raft_release_ready(raft_node *node)
{
	raft_message_queue_clear(&node->ready_msgs);
	raft_free(node->ready_entries);
	raft_free(node->ready_committed);
	node->ready_entries = NULL;
	node->ready_committed = NULL;
	raft_snapshot_clear(&node->ready_snapshot);
	node->ready_outstanding = false;
}

/*
 * May msg leave before this ready is persisted?  A leader's appends,
 * heartbeats and snapshots may (Raft thesis 10.2.1; etcd's asynchronous
 * storage writes): they promise nothing about the leader's disk, whose
 * own entries count toward commit only once persisted (raft_self_ack, at
 * raft_advance).  Their term must be durable already, which it always is
 * for a leader (its term was persisted before it asked for votes); the
 * check makes that a rule rather than an argument.  Everything else waits:
 * votes and their answers, acknowledgements, anything that reports state
 * this ready persists.
 */
static bool
may_leave_early(const raft_node *node, const raft_message *msg)
{
	switch (msg->type)
	{
		case RAFT_MSG_APP:
		case RAFT_MSG_HEARTBEAT:
		case RAFT_MSG_SNAP:
			return msg->term <= node->prev_hard_state.term;
		default:
			return false;
	}
}

/*
 * Reorders messages, stably, so that those that may leave early come
 * first; returns how many.  Without memory for the reordering, none is
 * early: sending everything after persisting is always correct.
 */
static uint32_t
early_messages_first(const raft_node *node, raft_message *messages, uint32_t n)
{
	raft_message *sorted;
	uint32_t early = 0;
	uint32_t at = 0;

	for (uint32_t i = 0; i < n; i++)
		early += may_leave_early(node, &messages[i]);
	if (early == 0 || early == n)
		return early;
	sorted = raft_malloc((size_t) n * sizeof(raft_message));
	if (sorted == NULL)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (may_leave_early(node, &messages[i]))
			sorted[at++] = messages[i];
	for (uint32_t i = 0; i < n; i++)
		if (!may_leave_early(node, &messages[i]))
			sorted[at++] = messages[i];
	RAFT_ASSERT(at == n);
	memcpy(messages, sorted, (size_t) n * sizeof(raft_message));
	raft_free(sorted);
	return early;
}

/* Fills the parts of a ready that need copies; on failure, none is kept. */
static int
copy_ready_data(raft_node *node, raft_ready *ready)
{
	const raft_unstable *u = &node->log.unstable;
	int rc;

	if (u->has_snapshot)
	{
		rc = raft_snapshot_copy(&u->snapshot, &node->ready_snapshot);
		if (rc != RAFT_OK)
			return rc;
		ready->has_snapshot = true;
		ready->snapshot = node->ready_snapshot;
	}
	rc = raft_entries_copy(u->entries, u->n_entries, &node->ready_entries);
	if (rc != RAFT_OK)
		return rc;
	ready->n_entries = u->n_entries;
	ready->entries = node->ready_entries;

	rc = raft_log_next_committed(&node->log, node->max_committed_size_per_ready,
								 &node->ready_committed, &ready->n_committed);
	if (rc != RAFT_OK)
		return rc;
	ready->committed = node->ready_committed;
	return RAFT_OK;
}

int
raft_ready_get(raft_node *node, raft_ready *ready)
{
	raft_hard_state hs;
	int rc;

	if (node == NULL || ready == NULL)
		return RAFT_ERR_INVALID;
	/* One ready at a time: advance the previous one first. */
	RAFT_ASSERT(!node->ready_outstanding);
	if (node->ready_outstanding)
		return RAFT_ERR_INVALID;

	memset(ready, 0, sizeof(*ready));
	ready->role = node->role;
	ready->leader = node->leader;
	ready->soft_state_changed =
		node->role != node->prev_role || node->leader != node->prev_leader;
	hs = current_hard_state(node);
	if (!hard_state_equal(&hs, &node->prev_hard_state))
	{
		ready->has_hard_state = true;
		ready->hard_state = hs;
	}
	if (node->peers_version != node->peers_persisted)
	{
		memcpy(node->ready_peers, node->peers,
			   node->n_peers * sizeof(raft_peer_record));
		node->ready_peers_version = node->peers_version;
		ready->has_peers = true;
		ready->n_peers = node->n_peers;
		ready->peers = node->ready_peers;
	}

	rc = copy_ready_data(node, ready);
	if (rc != RAFT_OK)
	{
		raft_release_ready(node);
		memset(ready, 0, sizeof(*ready));
		return rc;
	}

	/* Messages move: from now on they belong to this ready. */
	node->ready_msgs = node->msgs;
	memset(&node->msgs, 0, sizeof(node->msgs));
	ready->n_messages = node->ready_msgs.n;
	ready->messages = node->ready_msgs.items;
	/* Each carries the identity this ready persists (recovery.c). */
	for (uint32_t i = 0; i < ready->n_messages; i++)
		raft_recovery_stamp(node, &ready->messages[i]);
	ready->n_early_messages =
		early_messages_first(node, ready->messages, ready->n_messages);

	/* Invariants of what the host will persist and apply. */
	RAFT_ASSERT(!ready->has_hard_state ||
				ready->hard_state.commit >= node->prev_hard_state.commit);
	RAFT_ASSERT(ready->n_committed == 0 ||
				ready->committed[ready->n_committed - 1].index <= hs.commit);
	node->ready_outstanding = true;
	return RAFT_OK;
}

/*
 * The host persisted, sent and applied the ready.  Drop the persisted
 * prefix of the unstable log, apply configuration changes, move applied,
 * and let a leader count its own now-durable entries.
 */
void
raft_advance(raft_node *node, const raft_ready *ready)
{
	RAFT_ASSERT(node != NULL && ready != NULL);
	RAFT_ASSERT(node->ready_outstanding);
	RAFT_ASSERT(ready->messages == node->ready_msgs.items);

	node->prev_role = ready->role;
	node->prev_leader = ready->leader;
	if (ready->has_hard_state)
		node->prev_hard_state = ready->hard_state;
	if (ready->has_peers)
		node->peers_persisted = node->ready_peers_version;

	if (ready->has_snapshot)
	{
		raft_log_stable_snap_to(&node->log, ready->snapshot.meta.index);
		raft_log_applied_to(&node->log, ready->snapshot.meta.index);
	}
	if (ready->n_entries > 0)
	{
		const raft_entry *last = &ready->entries[ready->n_entries - 1];

		raft_log_stable_to(&node->log, last->index, last->term);
	}
	for (uint32_t i = 0; i < ready->n_committed; i++)
	{
		if (ready->committed[i].type == RAFT_ENTRY_CONF_CHANGE)
			raft_apply_conf_change_entry(node, &ready->committed[i]);
	}
	if (ready->n_committed > 0)
		raft_log_applied_to(&node->log,
							ready->committed[ready->n_committed - 1].index);
	if (node->role == RAFT_LEADER)
		raft_uncommitted_release(node, ready->committed, ready->n_committed);

	raft_release_ready(node);
	if (node->role == RAFT_LEADER)
		(void) raft_self_ack(node);
	raft_assert_invariants(node);
}

void
raft_get_status(const raft_node *node, raft_status *status)
{
	RAFT_ASSERT(node != NULL && status != NULL);
	memset(status, 0, sizeof(*status));
	status->id = node->id;
	status->role = node->role;
	status->leader = node->leader;
	status->hard_state = current_hard_state(node);
	status->applied = node->log.applied;
	status->first_index = raft_log_first_index(&node->log);
	status->last_index = raft_log_last_index(&node->log);
	status->lead_transferee = node->lead_transferee;
	status->config = node->tracker.config;
	status->life = node->life;
	status->recovery_target = node->recovery_target;
	if (node->role != RAFT_LEADER)
		return;
	status->uncommitted_bytes = node->uncommitted_bytes;
	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
	{
		const raft_progress *pr = &node->tracker.progress[i];
		raft_progress_status *out = &status->progress[status->n_progress++];

		out->id = pr->id;
		out->is_learner = pr->is_learner;
		out->match = pr->match;
		out->next = pr->next;
		out->state = pr->state;
		out->recent_active = pr->recent_active;
		out->inflight = pr->inflights.count;
		out->pending_snapshot = pr->pending_snapshot;
		out->recovering = pr->recovering;
	}
}
