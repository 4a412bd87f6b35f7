/*-------------------------------------------------------------------------
 *
 * replication.c
 *	  Log replication: what the leader sends (appends, snapshots,
 *	  heartbeats), how followers answer, and how the leader advances its
 *	  commit index from the answers.
 *
 * src/raft/replication.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

/* ---- leader: appending and sending ------------------------------------ */

/*
 * Stamps entries with our term and the next indexes and appends them.  The
 * leader counts itself toward commit only once the host has persisted them
 * (raft_self_ack, at raft_advance).
 */
int
raft_append_entries_as_leader(raft_node *node, raft_entry *entries, uint32_t n)
{
	raft_index last = raft_log_last_index(&node->log);

	RAFT_ASSERT(node->role == RAFT_LEADER);
	for (uint32_t i = 0; i < n; i++)
	{
		entries[i].term = node->term;
		entries[i].index = last + 1 + i;
	}
	return raft_log_append(&node->log, entries, n);
}

/*
 * etcd's MaxUncommittedEntriesSize: admit a proposal of bytes unless the
 * entries of our term not yet seen committed would then exceed the cap;
 * with none pending, always (a proposal larger than the cap must pass
 * some time), and an empty one always.
 */
bool
raft_uncommitted_admits(const raft_node *node, uint64_t bytes)
{
	if (bytes == 0 || node->uncommitted_bytes == 0 ||
		node->max_uncommitted_bytes == RAFT_UNLIMITED)
		return true;
	return node->uncommitted_bytes + bytes <= node->max_uncommitted_bytes;
}

/*
 * Committed entries handed to the host: those of our term were counted
 * when proposed.  (A new leader starts from zero: become_leader.)
 */
void
raft_uncommitted_release(raft_node *node, const raft_entry *committed, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
	{
		uint64_t size = committed[i].size;

		if (committed[i].term != node->term)
			continue;
		node->uncommitted_bytes =
			node->uncommitted_bytes > size ? node->uncommitted_bytes - size : 0;
	}
}

/*
 * The peer needs entries we no longer have: send the latest snapshot,
 * but only to a peer we recently heard from (it is expensive).
 */
static int
send_snapshot(raft_node *node, raft_progress *pr, bool *sent)
{
	const raft_snapshot *snapshot = NULL;
	raft_message msg;
	int rc;

	if (!pr->recent_active)
		return RAFT_OK;
	rc = raft_log_snapshot(&node->log, &snapshot);
	if (rc != RAFT_OK)
		return rc;
	if (snapshot == NULL || snapshot->meta.index == 0)
		return RAFT_OK; /* temporarily unavailable */
	memset(&msg, 0, sizeof(msg));
	msg.type = RAFT_MSG_SNAP;
	msg.to = pr->id;
	rc = raft_snapshot_copy_block(snapshot, &msg.snapshot);
	if (rc != RAFT_OK)
		return rc;
	raft_progress_become_snapshot(pr, snapshot->meta.index);
	rc = raft_send(node, &msg);
	*sent = rc == RAFT_OK;
	return rc;
}

/*
 * Sends an append with the entries from pr->next (as many as
 * max_size_per_msg allows) and our commit index.  A paused peer gets
 * nothing; a full window gets an empty append, so that a lost window still
 * draws an answer.  Empty appends are sent only when send_if_empty.
 */
int
raft_send_append(raft_node *node, raft_id to, bool send_if_empty, bool *sent)
{
	raft_progress *pr = raft_tracker_get(&node->tracker, to);
	raft_index prev_index;
	raft_term prev_term = 0;
	raft_message msg;
	int rc;

	*sent = false;
	RAFT_ASSERT(pr != NULL && to != node->id);
	if (raft_progress_is_paused(pr))
		return RAFT_OK;

	memset(&msg, 0, sizeof(msg));
	prev_index = pr->next - 1;
	rc = raft_log_term(&node->log, prev_index, &prev_term);
	if (rc == RAFT_ERR_COMPACTED)
		return send_snapshot(node, pr, sent);
	if (rc != RAFT_OK)
		return rc;

	if (pr->state != RAFT_PROGRESS_REPLICATE ||
		!raft_inflights_full(&pr->inflights))
	{
		raft_index last = raft_log_last_index(&node->log);

		if (pr->next <= last)
		{
			rc = raft_log_slice(&node->log, pr->next, last + 1,
								node->max_size_per_msg, &msg.entries,
								&msg.n_entries);
			if (rc == RAFT_ERR_COMPACTED)
				return send_snapshot(node, pr, sent);
			if (rc != RAFT_OK)
				return rc;
		}
	}
	if (msg.n_entries == 0 && !send_if_empty)
		return RAFT_OK;

	msg.type = RAFT_MSG_APP;
	msg.to = to;
	msg.index = prev_index;
	msg.log_term = prev_term;
	msg.commit = node->log.committed;
	raft_progress_sent_entries(pr, msg.n_entries);
	if (pr->sent_commit < msg.commit)
		pr->sent_commit = msg.commit;
	rc = raft_send(node, &msg);
	*sent = rc == RAFT_OK;
	return rc;
}

/* Appends to every other member (learners too) that needs them. */
int
raft_bcast_append(raft_node *node)
{
	int rc = RAFT_OK;

	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
	{
		raft_id to = node->tracker.progress[i].id;
		bool sent;
		int one;

		if (to == node->id)
			continue;
		one = raft_send_append(node, to, true, &sent);
		if (rc == RAFT_OK)
			rc = one;
	}
	return rc;
}

/*
 * A heartbeat carries commit = min(our commit, the peer's match): the peer
 * may not have the entries up to our commit, and must never commit an
 * index it has not matched with us.  It also carries the term of our entry
 * there: the peer commits only if its entry has that term, so the same
 * prefix (Log Matching).  A match we hold can be stale, when the peer's
 * disk went back since it acknowledged (recovery.c): without the term it
 * would commit entries it kept from before, that are not ours.
 */
static int
send_heartbeat(raft_node *node, raft_progress *pr)
{
	raft_message msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = RAFT_MSG_HEARTBEAT;
	msg.to = pr->id;
	msg.commit =
		pr->match < node->log.committed ? pr->match : node->log.committed;
	msg.log_term = raft_log_term_or_zero(&node->log, msg.commit);
	if (pr->sent_commit < msg.commit)
		pr->sent_commit = msg.commit;
	return raft_send(node, &msg);
}

int
raft_bcast_heartbeat(raft_node *node)
{
	int rc = RAFT_OK;

	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
	{
		raft_progress *pr = &node->tracker.progress[i];
		int one;

		if (pr->id == node->id)
			continue;
		one = send_heartbeat(node, pr);
		if (rc == RAFT_OK)
			rc = one;
	}
	return rc;
}

/*
 * "If there exists an N such that N > commitIndex, a majority of
 * matchIndex[i] >= N, and log[N].term == currentTerm: set commitIndex = N"
 * (Raft paper, figure 2).
 */
bool
raft_maybe_commit(raft_node *node)
{
	RAFT_ASSERT(node->role == RAFT_LEADER);
	return raft_log_maybe_commit(&node->log,
								 raft_tracker_committed(&node->tracker),
								 node->term);
}

/* After persistence: the leader's own entries now count toward commit. */
int
raft_self_ack(raft_node *node)
{
	raft_progress *self;

	RAFT_ASSERT(node->role == RAFT_LEADER);
	self = raft_tracker_get(&node->tracker, node->id);
	if (self == NULL)
		return RAFT_OK;
	if (!raft_progress_maybe_update(self, raft_log_durable_last(&node->log)))
		return RAFT_OK;
	if (raft_maybe_commit(node))
		return raft_bcast_append(node);
	return RAFT_OK;
}

/* ---- leader: answers -------------------------------------------------- */

/*
 * A rejection names the index the peer could not match and a hint: the
 * largest (index, term) of its log with term <= the probe's.  If the peer
 * has a term there, every index of ours above the last entry with that
 * term (or older) cannot match either: skip them (etcd's fast
 * backtracking; at most one probe per term in our log).
 */
static int
handle_append_rejection(raft_node *node, raft_progress *pr,
						const raft_message *msg)
{
	raft_index next_probe = msg->reject_hint;
	bool sent;

	/* Below what it acknowledged: it lost state; probe from where it is. */
	if (raft_recovery_lost_entries(node, pr, msg))
		return raft_send_append(node, pr->id, true, &sent);
	if (msg->log_term > 0)
	{
		raft_term unused;

		raft_log_find_conflict_by_term(&node->log, msg->reject_hint,
									   msg->log_term, &next_probe, &unused);
	}
	if (!raft_progress_maybe_decr_to(pr, msg->index, next_probe))
		return RAFT_OK;
	if (pr->state == RAFT_PROGRESS_REPLICATE)
		raft_progress_become_probe(pr);
	return raft_send_append(node, pr->id, true, &sent);
}

/* Sends what the window allows now that it opened (no empty appends). */
static int
send_window(raft_node *node, raft_progress *pr)
{
	bool sent = true;
	int rc = RAFT_OK;

	/* Each append fills a window slot or pauses the peer: bounded. */
	for (uint32_t i = 0; sent && rc == RAFT_OK; i++)
	{
		RAFT_ASSERT(i <= node->tracker.max_inflight + 1);
		rc = raft_send_append(node, pr->id, false, &sent);
	}
	return rc;
}

int
raft_handle_append_response(raft_node *node, raft_progress *pr,
							const raft_message *msg)
{
	int rc = RAFT_OK;

	pr->recent_active = true;
	if (msg->reject)
		return handle_append_rejection(node, pr, msg);
	/* Nobody can have matched entries we do not have: a bogus answer. */
	if (msg->index > raft_log_last_index(&node->log))
		return RAFT_ERR_INVALID;

	if (raft_progress_maybe_update(pr, msg->index))
		pr->match_life = msg->from_boot;
	else if (!(pr->match == msg->index && pr->state == RAFT_PROGRESS_PROBE))
		return RAFT_OK;

	switch (pr->state)
	{
		case RAFT_PROGRESS_PROBE:
			raft_progress_become_replicate(pr);
			break;
		case RAFT_PROGRESS_SNAPSHOT:
			if (pr->match + 1 >= raft_log_first_index(&node->log))
			{
				/* Caught up past our first index: replicate from the log. */
				raft_progress_become_probe(pr);
				raft_progress_become_replicate(pr);
			}
			else if (pr->match >= pr->pending_snapshot)
			{
				/* Installed, but we compacted further: send the newer one. */
				raft_progress_become_probe(pr);
			}
			break;
		case RAFT_PROGRESS_REPLICATE:
			raft_inflights_free_le(&pr->inflights, msg->index);
			break;
	}

	if (raft_maybe_commit(node))
		rc = raft_bcast_append(node);
	else if (node->log.committed > pr->sent_commit &&
			 pr->sent_commit + 1 < pr->next)
	{
		bool sent;

		/*
		 * The peer may lack our commit index: tell it now, not at the
		 * next heartbeat.
		 */
		rc = raft_send_append(node, pr->id, true, &sent);
	}
	if (rc == RAFT_OK)
		rc = send_window(node, pr);
	if (rc == RAFT_OK && pr->id == node->lead_transferee &&
		pr->match == raft_log_last_index(&node->log))
		rc = raft_send_timeout_now(node, pr->id);
	return rc;
}

/*
 * A heartbeat answer proves the peer is alive: unpause it, and if it is
 * behind (or still probing), send an append.
 */
int
raft_handle_heartbeat_response(raft_node *node, raft_progress *pr,
							   const raft_message *msg)
{
	bool sent;

	pr->recent_active = true;
	pr->msg_app_flow_paused = false;
	/*
	 * It does not hold the entry at the commit index we sent, which is at
	 * or below its match: it lost what it acknowledged.  Probe from its
	 * match: its rejection tells where it really is (recovery.c).
	 */
	if (msg->reject && pr->state != RAFT_PROGRESS_PROBE)
		raft_progress_become_probe(pr);
	if (pr->match < raft_log_last_index(&node->log) ||
		pr->state == RAFT_PROGRESS_PROBE)
		return raft_send_append(node, pr->id, true, &sent);
	return RAFT_OK;
}

/* ---- followers -------------------------------------------------------- */

int
raft_handle_append_entries(raft_node *node, const raft_message *msg)
{
	raft_message reply;
	raft_index last_new = 0;
	bool accepted = false;
	int rc;

	memset(&reply, 0, sizeof(reply));
	reply.type = RAFT_MSG_APP_RESP;
	reply.to = msg->from;
	/* Everything up to our commit is known to match already. */
	if (msg->index < node->log.committed)
	{
		reply.index = node->log.committed;
		return raft_send(node, &reply);
	}
	rc = raft_log_maybe_append(&node->log, msg->index, msg->log_term,
							   msg->commit, msg->entries, msg->n_entries,
							   &accepted, &last_new);
	if (rc != RAFT_OK)
		return rc;
	if (accepted)
	{
		reply.index = last_new;
		return raft_send(node, &reply);
	}

	/* Reject, with a hint at where our logs may match. */
	reply.index = msg->index;
	reply.reject = true;
	raft_log_find_conflict_by_term(&node->log,
								   msg->index < raft_log_last_index(&node->log)
									   ? msg->index
									   : raft_log_last_index(&node->log),
								   msg->log_term, &reply.reject_hint,
								   &reply.log_term);
	return raft_send(node, &reply);
}

/*
 * Commit only an index where our entry is the leader's (or that we know
 * committed already): the leader's view of our match may predate a disk of
 * ours that went back.  If we lack that entry we lost what we acknowledged:
 * say so, and the leader probes again.  A leader that no longer knows the
 * term there (compacted) gets neither.
 */
int
raft_handle_heartbeat(raft_node *node, const raft_message *msg)
{
	raft_message reply;
	bool ours;

	ours = msg->commit <= node->log.committed ||
		(msg->commit <= raft_log_last_index(&node->log) &&
		 raft_log_match_term(&node->log, msg->commit, msg->log_term));
	if (ours)
		raft_log_commit_to(&node->log, msg->commit);
	memset(&reply, 0, sizeof(reply));
	reply.type = RAFT_MSG_HEARTBEAT_RESP;
	reply.to = msg->from;
	reply.reject = !ours && msg->log_term > 0;
	return raft_send(node, &reply);
}

/*
 * InstallSnapshot: restore unless we already have it.  Returns true in
 * *restored if the log was replaced by the snapshot.
 */
static int
restore(raft_node *node, const raft_snapshot *snapshot, bool *restored)
{
	const raft_snapshot_meta *meta = &snapshot->meta;
	raft_snapshot copy;
	int rc;

	*restored = false;
	RAFT_ASSERT(node->role == RAFT_FOLLOWER);
	if (meta->index <= node->log.committed)
		return RAFT_OK;

	/*
	 * Unlike etcd, a snapshot whose configuration does not list us is
	 * installed too: a node joining the group catches up from the
	 * leader's latest snapshot even when that predates its addition, then
	 * learns the addition from the log (test/raft/FINDINGS.md, 1).  The
	 * snapshot is committed state sent by the leader of our term, so this
	 * is safe; until we apply our addition we are not promotable.
	 */
	/* We have the entry: the snapshot only tells us it is committed. */
	if (raft_log_match_term(&node->log, meta->index, meta->term))
	{
		raft_log_commit_to(&node->log, meta->index);
		return RAFT_OK;
	}
	/* Allocate first, so that a failure changes nothing. */
	rc = raft_snapshot_copy(snapshot, &copy);
	if (rc != RAFT_OK)
		return rc;
	rc = raft_switch_to_config(node, &meta->config);
	if (rc != RAFT_OK)
	{
		raft_snapshot_clear(&copy);
		return rc;
	}
	raft_log_restore(&node->log, &copy);
	node->config_index = meta->index;
	*restored = true;
	return RAFT_OK;
}

int
raft_handle_snapshot(raft_node *node, const raft_message *msg)
{
	raft_message reply;
	bool restored;
	int rc;

	RAFT_ASSERT(msg->snapshot != NULL);
	rc = restore(node, msg->snapshot, &restored);
	if (rc != RAFT_OK)
		return rc;
	memset(&reply, 0, sizeof(reply));
	reply.type = RAFT_MSG_APP_RESP;
	reply.to = msg->from;
	reply.index =
		restored ? raft_log_last_index(&node->log) : node->log.committed;
	return raft_send(node, &reply);
}
