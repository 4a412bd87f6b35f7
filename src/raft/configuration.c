/*-------------------------------------------------------------------------
 *
 * configuration.c
 *	  Pure helpers on raft_config: membership tests and applying one
 *	  configuration change.
 *
 * The core and the host apply the same change with the same function, so
 * both reach the same configuration (or both refuse the change).  Changes
 * are single-member ("one change at a time", Raft thesis 4.1): any two
 * consecutive configurations share a majority.
 *
 * src/raft/configuration.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

static int
id_position(const raft_id *ids, uint32_t n, raft_id id)
{
	for (uint32_t i = 0; i < n; i++)
	{
		if (ids[i] == id)
			return (int) i;
	}
	return -1;
}

static void
id_remove_at(raft_id *ids, uint32_t *n, int position)
{
	RAFT_ASSERT(position >= 0 && (uint32_t) position < *n);
	memmove(&ids[position], &ids[position + 1],
			(*n - (uint32_t) position - 1) * sizeof(raft_id));
	(*n)--;
}

bool
raft_config_is_voter(const raft_config *config, raft_id id)
{
	RAFT_ASSERT(config != NULL);
	RAFT_ASSERT(config->n_voters <= RAFT_MAX_MEMBERS);
	return id != RAFT_NONE &&
		id_position(config->voters, config->n_voters, id) >= 0;
}

bool
raft_config_is_learner(const raft_config *config, raft_id id)
{
	RAFT_ASSERT(config != NULL);
	RAFT_ASSERT(config->n_learners <= RAFT_MAX_MEMBERS);
	return id != RAFT_NONE &&
		id_position(config->learners, config->n_learners, id) >= 0;
}

bool
raft_config_is_member(const raft_config *config, raft_id id)
{
	return raft_config_is_voter(config, id) ||
		raft_config_is_learner(config, id);
}

/*
 * A configuration is valid when it has no id 0, no duplicates, no id both
 * voter and learner, and at most RAFT_MAX_MEMBERS members.  An empty
 * configuration is valid (a node waiting to be added by a snapshot).
 */
bool
raft_config_is_valid(const raft_config *config)
{
	RAFT_ASSERT(config != NULL);
	if (config->n_voters > RAFT_MAX_MEMBERS ||
		config->n_learners > RAFT_MAX_MEMBERS ||
		config->n_voters + config->n_learners > RAFT_MAX_MEMBERS)
		return false;
	for (uint32_t i = 0; i < config->n_voters; i++)
	{
		if (config->voters[i] == RAFT_NONE ||
			id_position(config->voters, i, config->voters[i]) >= 0)
			return false;
	}
	for (uint32_t i = 0; i < config->n_learners; i++)
	{
		if (config->learners[i] == RAFT_NONE ||
			id_position(config->learners, i, config->learners[i]) >= 0 ||
			raft_config_is_voter(config, config->learners[i]))
			return false;
	}
	return true;
}

/*
 * Applies one change.  Adding an existing voter, adding an existing learner
 * or removing an absent node is a no-op (RAFT_OK), as in etcd.  A change
 * that would leave no voter, or exceed RAFT_MAX_MEMBERS, is refused with
 * RAFT_ERR_INVALID and leaves config untouched.
 */
int
raft_config_apply(raft_config *config, const raft_conf_change *change)
{
	raft_config next;
	int voter_at;
	int learner_at;

	if (config == NULL || change == NULL || change->node == RAFT_NONE)
		return RAFT_ERR_INVALID;
	if (!raft_config_is_valid(config))
		return RAFT_ERR_INVALID;

	next = *config;
	voter_at = id_position(next.voters, next.n_voters, change->node);
	learner_at = id_position(next.learners, next.n_learners, change->node);
	switch (change->type)
	{
		case RAFT_CONF_ADD_VOTER:
			if (voter_at >= 0)
				return RAFT_OK;
			if (learner_at >= 0)
				id_remove_at(next.learners, &next.n_learners, learner_at);
			if (next.n_voters + next.n_learners >= RAFT_MAX_MEMBERS)
				return RAFT_ERR_INVALID;
			next.voters[next.n_voters++] = change->node;
			break;
		case RAFT_CONF_ADD_LEARNER:
			if (learner_at >= 0)
				return RAFT_OK;
			if (voter_at >= 0)
				id_remove_at(next.voters, &next.n_voters, voter_at);
			if (next.n_voters + next.n_learners >= RAFT_MAX_MEMBERS)
				return RAFT_ERR_INVALID;
			next.learners[next.n_learners++] = change->node;
			break;
		case RAFT_CONF_REMOVE:
			if (voter_at >= 0)
				id_remove_at(next.voters, &next.n_voters, voter_at);
			else if (learner_at >= 0)
				id_remove_at(next.learners, &next.n_learners, learner_at);
			else
				return RAFT_OK;
			break;
		default:
			return RAFT_ERR_INVALID;
	}
	if (next.n_voters == 0)
		return RAFT_ERR_INVALID;
	RAFT_ASSERT(raft_config_is_valid(&next));
	*config = next;
	return RAFT_OK;
}
