/*-------------------------------------------------------------------------
 *
 * membership.c
 *	  Configuration changes as they take effect, and leader transfer.
 *
 * A change is an ordinary log entry; it takes effect when applied (at
 * raft_advance, for the entries the host was handed in ready.committed),
 * one change at a time, so that any two consecutive configurations share a
 * majority (Raft thesis, 4.1).
 *
 * src/raft/membership.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

/*
 * Switches the tracker to config and reacts as a leader must: step down if
 * no longer a voter; otherwise re-check commit (a smaller quorum may
 * commit more) and start probing new members at once.
 */
int
raft_switch_to_config(raft_node *node, const raft_config *config)
{
	int rc;

	raft_tracker_set_config(&node->tracker, config,
							raft_log_last_index(&node->log));
	raft_recovery_prune_peers(node);
	if (node->role != RAFT_LEADER)
		return RAFT_OK;

	if (!raft_config_is_voter(config, node->id))
	{
		raft_become_follower(node, node->term, RAFT_NONE);
		return RAFT_OK;
	}
	if (node->lead_transferee != RAFT_NONE &&
		!raft_config_is_voter(config, node->lead_transferee))
		raft_abort_leader_transfer(node);

	if (raft_maybe_commit(node))
		return raft_bcast_append(node);
	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
	{
		raft_id to = node->tracker.progress[i].id;
		bool sent;

		if (to == node->id)
			continue;
		rc = raft_send_append(node, to, false, &sent);
		if (rc != RAFT_OK)
			return rc;
	}
	return RAFT_OK;
}

/*
 * Applies one committed configuration-change entry the host was handed.
 * Entries at or below config_index are already reflected (the
 * configuration came from a newer snapshot).  A change the host cannot
 * apply either (malformed, or refused by raft_config_apply) is skipped by
 * both, so both stay in agreement.
 */
void
raft_apply_conf_change_entry(raft_node *node, const raft_entry *entry)
{
	raft_conf_change change;
	raft_config next;

	RAFT_ASSERT(entry->type == RAFT_ENTRY_CONF_CHANGE);
	if (entry->index <= node->config_index)
		return;
	node->config_index = entry->index;
	if (raft_conf_change_decode(entry->data, entry->size, &change) != RAFT_OK)
		return;
	next = node->tracker.config;
	if (raft_config_apply(&next, &change) != RAFT_OK)
		return;
	(void) raft_switch_to_config(node, &next);
}

/* Is a configuration change committed but not yet applied? */
bool
raft_has_unapplied_conf_changes(const raft_node *node)
{
	raft_index lo = node->log.applied + 1;
	raft_index hi = node->log.committed + 1;

	while (lo < hi)
	{
		raft_entry *entries;
		uint32_t n;
		bool found = false;

		/* If we cannot tell (no memory), do not campaign. */
		if (raft_log_slice(&node->log, lo, hi, node->max_committed_size_per_ready,
						   &entries, &n) != RAFT_OK)
			return true;
		RAFT_ASSERT(n > 0);
		for (uint32_t i = 0; i < n; i++)
			found = found || entries[i].type == RAFT_ENTRY_CONF_CHANGE;
		lo = entries[n - 1].index + 1;
		raft_free(entries);
		if (found)
			return true;
	}
	return false;
}

bool
raft_committed_entry_in_current_term(const raft_node *node)
{
	return raft_log_term_or_zero(&node->log, node->log.committed) == node->term;
}

/* ---- leader transfer (Raft thesis, 3.10) ------------------------------ */

void
raft_abort_leader_transfer(raft_node *node)
{
	node->lead_transferee = RAFT_NONE;
}

int
raft_send_timeout_now(raft_node *node, raft_id to)
{
	raft_message msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = RAFT_MSG_TIMEOUT_NOW;
	msg.to = to;
	return raft_send(node, &msg);
}

/*
 * "The prior leader sends an AppendEntries to the target to bring its log
 * up to date, then a TimeoutNow request, which causes it to start an
 * election at once."  Meanwhile proposals are refused; the transfer is
 * abandoned after an election timeout (tick_heartbeat).
 */
int
raft_handle_transfer_leader(raft_node *node, raft_progress *pr,
							const raft_message *msg)
{
	raft_id transferee = msg->from;
	bool sent;

	if (pr->is_learner)
		return RAFT_ERR_INVALID;
	if (node->lead_transferee != RAFT_NONE)
	{
		if (node->lead_transferee == transferee)
			return RAFT_OK; /* already under way */
		raft_abort_leader_transfer(node);
	}
	if (transferee == node->id)
		return RAFT_OK;
	node->election_elapsed = 0;
	node->lead_transferee = transferee;
	if (pr->match == raft_log_last_index(&node->log))
		return raft_send_timeout_now(node, transferee);
	return raft_send_append(node, transferee, true, &sent);
}
