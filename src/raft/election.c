/*-------------------------------------------------------------------------
 *
 * election.c
 *	  Campaigning (with the optional pre-vote round), answering vote
 *	  requests, and counting answers.
 *
 * src/raft/election.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

static int campaign(raft_node *node, raft_campaign_type type);

static int
won_election(raft_node *node, raft_campaign_type type)
{
	int rc;

	if (type == RAFT_CAMPAIGN_PRE_ELECTION)
		return campaign(node, RAFT_CAMPAIGN_ELECTION);
	rc = raft_become_leader(node);
	if (rc != RAFT_OK)
		return rc;
	return raft_bcast_append(node);
}

/*
 * "To begin an election, a follower increments its current term and
 * transitions to candidate state.  It then votes for itself and issues
 * RequestVote RPCs in parallel to each of the other servers" (Raft paper,
 * 5.2).  A pre-election asks the same question for term + 1 without
 * changing anything.
 */
static int
campaign(raft_node *node, raft_campaign_type type)
{
	raft_message_type request;
	raft_term term;
	uint32_t granted;
	uint32_t rejected;
	int rc = RAFT_OK;

	if (type == RAFT_CAMPAIGN_PRE_ELECTION)
	{
		raft_become_pre_candidate(node);
		request = RAFT_MSG_PREVOTE;
		term = node->term + 1;
	}
	else
	{
		raft_become_candidate(node);
		request = RAFT_MSG_VOTE;
		term = node->term;
	}

	raft_tracker_record_vote(&node->tracker, node->id, true);
	if (raft_tracker_tally(&node->tracker, &granted, &rejected) == RAFT_VOTE_WON)
		return won_election(node, type);

	for (uint32_t i = 0; i < node->tracker.config.n_voters; i++)
	{
		raft_id to = node->tracker.config.voters[i];
		raft_message msg;
		int sent;

		if (to == node->id)
			continue;
		memset(&msg, 0, sizeof(msg));
		msg.type = request;
		msg.to = to;
		msg.term = term;
		msg.index = raft_log_last_index(&node->log);
		msg.log_term = raft_log_last_term(&node->log);
		if (type == RAFT_CAMPAIGN_TRANSFER)
			msg.context = RAFT_CAMPAIGN_TRANSFER_CONTEXT;
		sent = raft_send(node, &msg);
		if (rc == RAFT_OK)
			rc = sent;
	}
	return rc;
}

/*
 * A committed configuration change that is not applied yet may change who
 * votes: do not campaign until the host has applied it.  Nor past the
 * bound of terms and indexes: a node there stays a follower.
 */
int
raft_hup(raft_node *node, raft_campaign_type type)
{
	if (node->role == RAFT_LEADER)
		return RAFT_OK;
	/* Saturate: a term or log at the bound goes no further. */
	if (node->term + 1 >= RAFT_NUMBER_LIMIT ||
		raft_log_last_index(&node->log) + 1 >= RAFT_NUMBER_LIMIT)
		return RAFT_ERR_OUT_OF_RANGE;
	if (!raft_promotable(node))
		return RAFT_OK;
	if (raft_has_unapplied_conf_changes(node))
		return RAFT_OK;
	return campaign(node, type);
}

/*
 * RequestVote receiver rules (Raft paper, figure 2): grant if votedFor is
 * null or candidateId, and the candidate's log is at least as up-to-date
 * as ours.  A pre-vote is granted for a future term without recording a
 * vote, and only when we have not heard from a leader within the election
 * timeout (Raft thesis, 9.6).
 *
 * Learners answer too: a learner promoted to voter may not know it yet,
 * and the candidate only counts answers of voters in its configuration.
 * A recovering node, or one in its first election timeout after a restart,
 * grants nothing.
 */
int
raft_handle_vote_request(raft_node *node, const raft_message *msg)
{
	bool is_pre = msg->type == RAFT_MSG_PREVOTE;
	bool can_vote;
	raft_message reply;

	can_vote = node->vote == msg->from ||
		(node->vote == RAFT_NONE && node->leader == RAFT_NONE) ||
		(is_pre && msg->term > node->term);
	if (is_pre && node->leader != RAFT_NONE &&
		node->election_elapsed < node->election_tick)
		can_vote = false;
	/* Behind what it promised, or just restarted: no vote (recovery.c). */
	if (!raft_recovery_may_vote(node))
		can_vote = false;

	memset(&reply, 0, sizeof(reply));
	reply.type = is_pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
	reply.to = msg->from;
	if (can_vote && raft_log_is_up_to_date(&node->log, msg->index, msg->log_term))
	{
		/*
		 * Answer with the request's term, not ours: for a pre-vote ours
		 * may be older, and the pre-candidate ignores old-term answers.
		 */
		reply.term = msg->term;
		if (!is_pre)
		{
			node->election_elapsed = 0;
			node->vote = msg->from;
		}
	}
	else
	{
		/* A node still at term 0 has nothing to teach: stay silent. */
		if (node->term == 0)
			return RAFT_OK;
		reply.term = node->term;
		reply.reject = true;
	}
	return raft_send(node, &reply);
}

int
raft_handle_vote_response(raft_node *node, const raft_message *msg)
{
	uint32_t granted;
	uint32_t rejected;

	RAFT_ASSERT(node->role == RAFT_PRECANDIDATE || node->role == RAFT_CANDIDATE);
	raft_tracker_record_vote(&node->tracker, msg->from, !msg->reject);
	switch ((raft_vote_result) raft_tracker_tally(&node->tracker, &granted,
												  &rejected))
	{
		case RAFT_VOTE_WON:
			return won_election(node,
								node->role == RAFT_PRECANDIDATE
									? RAFT_CAMPAIGN_PRE_ELECTION
									: RAFT_CAMPAIGN_ELECTION);
		case RAFT_VOTE_LOST:
			/* A pre-vote answer may carry term + 1: keep our own. */
			raft_become_follower(node, node->term, RAFT_NONE);
			return RAFT_OK;
		case RAFT_VOTE_PENDING:
			return RAFT_OK;
	}
	return RAFT_OK;
}
