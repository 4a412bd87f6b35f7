/*-------------------------------------------------------------------------
 *
 * role.c
 *	  Role transitions and the tick functions.
 *
 * Every transition calls reset() (the only place per-term state is
 * cleared) or, for a pre-candidate, deliberately keeps the term.  Illegal
 * transitions (leader -> candidate, follower -> leader) abort.
 *
 * Ticks only count: when a timeout is due they step a local HUP or BEAT
 * message, so every state change still goes through Step.  The leader's
 * check-quorum runs at its election-timeout tick.
 *
 * src/raft/role.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

/* "Raft uses randomized election timeouts" in [election_tick, 2x). */
static void
reset_randomized_election_timeout(raft_node *node)
{
	node->randomized_election_timeout = node->election_tick +
		(uint32_t) raft_prng_below(&node->prng, node->election_tick);
	RAFT_ASSERT(node->randomized_election_timeout >= node->election_tick);
	RAFT_ASSERT(node->randomized_election_timeout < 2 * node->election_tick);
}

/* Our own durable match: what we have stored and still belongs to the log. */
static raft_index
self_match(const raft_node *node)
{
	if (node->log.unstable.has_snapshot)
		return 0;
	return raft_log_durable_last(&node->log);
}

static void
reset(raft_node *node, raft_term term)
{
	raft_index last = raft_log_last_index(&node->log);

	RAFT_ASSERT(term >= node->term);
	if (node->term != term)
	{
		node->term = term;
		node->vote = RAFT_NONE;
	}
	node->leader = RAFT_NONE;
	node->election_elapsed = 0;
	node->heartbeat_elapsed = 0;
	reset_randomized_election_timeout(node);
	raft_abort_leader_transfer(node);

	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
	{
		raft_progress *pr = &node->tracker.progress[i];

		raft_progress_reset(pr, last);
		if (pr->id == node->id)
			pr->match = self_match(node);
	}
	node->pending_conf_index = 0;
}

void
raft_become_follower(raft_node *node, raft_term term, raft_id leader)
{
	reset(node, term);
	node->leader = leader;
	node->role = RAFT_FOLLOWER;
}

/*
 * A pre-candidate keeps its term and vote: the pre-vote round asks "would
 * you vote for me?" without disturbing anyone (Raft thesis, 9.6).
 */
void
raft_become_pre_candidate(raft_node *node)
{
	RAFT_ASSERT(node->role != RAFT_LEADER);
	raft_tracker_reset_votes(&node->tracker);
	node->leader = RAFT_NONE;
	node->role = RAFT_PRECANDIDATE;
}

/* "Increment currentTerm, vote for self" (Raft paper, figure 2). */
void
raft_become_candidate(raft_node *node)
{
	RAFT_ASSERT(node->role != RAFT_LEADER);
	reset(node, node->term + 1);
	node->vote = node->id;
	node->role = RAFT_CANDIDATE;
}

/*
 * A new leader appends an empty entry of its term: committing it commits
 * everything before it (figure 8), and tells the leader the latest
 * configuration is known before it accepts a configuration change.
 */
int
raft_become_leader(raft_node *node)
{
	raft_progress *self;
	raft_entry empty;
	bool granted[RAFT_MAX_MEMBERS];

	RAFT_ASSERT(node->role != RAFT_FOLLOWER);
	RAFT_ASSERT(!node->log.unstable.has_snapshot);
	RAFT_ASSERT(!node->recovering);
	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
		granted[i] = node->tracker.progress[i].vote == RAFT_VOTE_GRANTED;
	reset(node, node->term);
	node->leader = node->id;
	node->role = RAFT_LEADER;
	node->uncommitted_bytes = 0;

	/*
	 * The voters that elected it were heard from just now: they count as
	 * active until the first check-quorum.  Otherwise a new leader's view
	 * of who is up starts empty, and the host's own checks against it (a
	 * removal must leave a quorum of active voters) refused everything
	 * until the first answers to its appends came back.
	 */
	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
		node->tracker.progress[i].recent_active = granted[i];

	self = raft_tracker_get(&node->tracker, node->id);
	RAFT_ASSERT(self != NULL);
	raft_progress_become_replicate(self);
	self->recent_active = true;

	/* Conservatively: no conf change until everything so far is applied. */
	node->pending_conf_index = raft_log_last_index(&node->log);

	memset(&empty, 0, sizeof(empty));
	empty.type = RAFT_ENTRY_NORMAL;
	return raft_append_entries_as_leader(node, &empty, 1);
}

/* Only a voter of its own configuration may campaign, and not while it
 * recovers. */
bool
raft_promotable(const raft_node *node)
{
	const raft_progress *self = raft_tracker_get_const(&node->tracker, node->id);

	return self != NULL && !self->is_learner &&
		!node->log.unstable.has_snapshot && !node->recovering;
}

bool
raft_past_election_timeout(const raft_node *node)
{
	return node->election_elapsed >= node->randomized_election_timeout;
}

/* Followers and candidates: campaign when the election timeout elapses. */
void
raft_tick_election(raft_node *node)
{
	raft_message hup;

	RAFT_ASSERT(node->role != RAFT_LEADER);
	if (node->election_elapsed < UINT32_MAX) /* a learner ticks forever */
		node->election_elapsed++;
	if (!raft_promotable(node) || !raft_past_election_timeout(node))
		return;
	node->election_elapsed = 0;
	memset(&hup, 0, sizeof(hup));
	hup.type = RAFT_MSG_HUP;
	hup.from = node->id;
	(void) raft_step_internal(node, &hup);
}

/*
 * Check-quorum: "a leader steps down if an election timeout elapses without
 * a successful round of heartbeats to a majority of its cluster" (Raft
 * thesis, 6.2).  Then everyone but us is marked inactive for the next round.
 */
static void
check_quorum(raft_node *node)
{
	if (!raft_tracker_quorum_active(&node->tracker))
	{
		raft_become_follower(node, node->term, RAFT_NONE);
		return;
	}
	for (uint32_t i = 0; i < node->tracker.n_progress; i++)
	{
		raft_progress *pr = &node->tracker.progress[i];

		if (pr->id != node->id)
			pr->recent_active = false;
	}
}

/* Leaders: heartbeat every heartbeat_tick, check quorum every election_tick. */
void
raft_tick_heartbeat(raft_node *node)
{
	raft_message beat;

	RAFT_ASSERT(node->role == RAFT_LEADER);
	node->heartbeat_elapsed++;
	node->election_elapsed++;
	if (node->election_elapsed >= node->election_tick)
	{
		node->election_elapsed = 0;
		if (node->check_quorum)
			check_quorum(node);
		/* A transfer that did not finish in an election timeout is over. */
		if (node->role == RAFT_LEADER && node->lead_transferee != RAFT_NONE)
			raft_abort_leader_transfer(node);
	}
	if (node->role != RAFT_LEADER)
		return;
	if (node->heartbeat_elapsed >= node->heartbeat_tick)
	{
		node->heartbeat_elapsed = 0;
		memset(&beat, 0, sizeof(beat));
		beat.type = RAFT_MSG_BEAT;
		beat.from = node->id;
		(void) raft_step_internal(node, &beat);
	}
}
