/*-------------------------------------------------------------------------
 *
 * quorum.c
 *	  Pure majority math: the committed index of a set of voters and the
 *	  outcome of an election.
 *
 * A quorum is a majority of the voters: floor(n / 2) + 1.  Learners never
 * appear here; callers pass only voters.
 *
 * src/raft/quorum.c
 *
 *-------------------------------------------------------------------------
 */
#include "internal/core.h"

uint32_t
raft_quorum_size(uint32_t n_voters)
{
	return n_voters / 2 + 1;
}

/*
 * The largest index that a majority of voters has matched: sort the match
 * indexes in decreasing order and take the quorum-th one.  With no voters
 * nothing can commit, so the answer is 0.
 */
raft_index
raft_quorum_committed_index(const raft_index *match, uint32_t n_voters)
{
	raft_index sorted[RAFT_MAX_MEMBERS];
	uint32_t quorum;

	RAFT_ASSERT(n_voters <= RAFT_MAX_MEMBERS);
	if (n_voters == 0)
		return 0;

	/* Insertion sort, decreasing: n is at most RAFT_MAX_MEMBERS. */
	for (uint32_t i = 0; i < n_voters; i++)
	{
		raft_index value = match[i];
		uint32_t j = i;

		while (j > 0 && sorted[j - 1] < value)
		{
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = value;
	}
	quorum = raft_quorum_size(n_voters);
	RAFT_ASSERT(quorum >= 1 && quorum <= n_voters);
	return sorted[quorum - 1];
}

/*
 * "A candidate wins an election if it receives votes from a majority of the
 * servers in the full cluster for the same term" (Raft paper, 5.2).  It has
 * lost once a majority can no longer be reached.
 */
raft_vote_result
raft_quorum_vote_result(uint32_t n_voters, uint32_t granted, uint32_t rejected)
{
	uint32_t quorum = raft_quorum_size(n_voters);
	uint32_t missing;

	RAFT_ASSERT(granted + rejected <= n_voters);
	if (n_voters == 0)
		return RAFT_VOTE_LOST;
	if (granted >= quorum)
		return RAFT_VOTE_WON;
	missing = n_voters - granted - rejected;
	if (granted + missing >= quorum)
		return RAFT_VOTE_PENDING;
	return RAFT_VOTE_LOST;
}
