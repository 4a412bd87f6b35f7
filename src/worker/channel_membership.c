/*-------------------------------------------------------------------------
 *
 * channel_membership.c
 *	  Membership changes as the leader drives them: promoting learners,
 *	  refusing a change that would stop the channel, handing leadership
 *	  off before removing itself.
 *
 * src/worker/channel_membership.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/json.h"

#include "common/clock.h"
#include "common/gucs.h"
#include "worker/channel_internal.h"

/*
 * Leader: a learner whose log has caught up with the commit index becomes
 * a voter ("promote n4").  One change at a time: the core refuses while
 * another is pending, and we simply try again on a later tick.
 */
void
ChannelMaybePromote(Channel *ch)
{
	raft_status *status;

	if (!ChannelIsLeader(ch) || ch->state.config.n_learners == 0)
		return;
	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft.node, status);
	for (uint32 i = 0; i < status->n_progress; i++)
	{
		const raft_progress_status *p = &status->progress[i];
		const ChannelMember *m = ChannelMemberById(ch, p->id);
		int rc;

		if (!p->is_learner || m == NULL || p->match < status->hard_state.commit)
			continue;
		rc = ChannelProposeConfChange(ch, RAFT_CONF_ADD_VOTER, p->id, m->node,
									  m->conninfo);
		if (rc == RAFT_OK)
			elog(LOG, "channel \"%s\": promoting learner %s to voter",
				 ch->state.name, m->node);
		break;
	}
	pfree(status);
}

/*
 * Proposes a membership change of raft id node; its context names the
 * node and its conninfo, {"node": "n4", "conninfo": "..."}, which every
 * member applies to ordering.consenters.
 */
int
ChannelProposeConfChange(Channel *ch, raft_conf_change_type type, raft_id node,
						 const char *node_name, const char *conninfo)
{
	raft_conf_change cc;
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"node\": ");
	escape_json(&buf, node_name);
	appendStringInfoString(&buf, ", \"conninfo\": ");
	escape_json(&buf, conninfo);
	appendStringInfoChar(&buf, '}');

	memset(&cc, 0, sizeof(cc));
	cc.type = type;
	cc.node = node;
	cc.context = (const uint8_t *) buf.data;
	cc.context_size = buf.len;
	return raft_propose_conf_change(ch->raft.node, &cc);
}

/*
 * Leader: why a membership change cannot be proposed now, or NULL.  One
 * change at a time: a learner not yet promoted is still part of the last
 * change (the core refuses a second unapplied change itself); only its
 * own removal or new address is allowed, for a learner that never
 * catches up (given a wrong conninfo, say).  A removal must leave a
 * quorum of voters that were recently active (the leader counts itself),
 * or the channel would stop; *too_few_heard says when that is the refusal.
 */
char *
ChannelCheckMembershipChange(Channel *ch, int kind,
							 const ChannelMember *target, bool *too_few_heard)
{
	raft_status *status;
	int remaining = 0;
	int active = 0;

	*too_few_heard = false;
	for (int i = 0; i < ch->state.n_members; i++)
		if (ch->state.members[i].is_learner &&
			!((kind == ORDERING_ADMIN_REMOVE_CONSENTER ||
			   kind == ORDERING_ADMIN_UPDATE_CONSENTER) &&
			  target->id == ch->state.members[i].id))
			return psprintf("a membership change is already in progress on channel %s: node %s is a learner not yet promoted",
							ch->state.name, ch->state.members[i].node);
	if (kind != ORDERING_ADMIN_REMOVE_CONSENTER)
		return NULL;

	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft.node, status);
	for (uint32 v = 0; v < status->config.n_voters; v++)
	{
		raft_id id = status->config.voters[v];

		if (id == target->id)
			continue;
		remaining++;
		if (id == ch->state.self_id)
		{
			active++;
			continue;
		}
		for (uint32 i = 0; i < status->n_progress; i++)
			if (status->progress[i].id == id && status->progress[i].recent_active)
			{
				active++;
				break;
			}
	}
	pfree(status);
	if (remaining == 0)
		return psprintf("cannot remove node %s: it is the last voter of channel %s",
						target->node, ch->state.name);
	*too_few_heard = active < remaining / 2 + 1;
	if (*too_few_heard)
		return psprintf("cannot remove node %s: only %d of the %d remaining voters of channel %s are active, fewer than a quorum",
						target->node, active, remaining, ch->state.name);
	return NULL;
}

/*
 * Leader removing itself: hand leadership to the voter with the longest
 * matching log first, so that the channel is not left without a leader
 * for an election timeout.  Returns false when there is nobody to hand it
 * to (or the core refuses); the caller then proposes the removal itself,
 * and the leader steps down once it applies.
 */
bool
ChannelStartHandoff(Channel *ch, int slot, uint64 ticket)
{
	raft_status *status;
	raft_id target = RAFT_NONE;
	raft_index best_match = 0;

	if (ch->leading.handoff_pending)
	{
		ChannelAnswerAdmin(slot, ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   psprintf("a membership change is already in progress on channel %s",
									ch->state.name),
						   -1);
		return true;
	}
	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft.node, status);
	for (uint32 i = 0; i < status->n_progress; i++)
	{
		const raft_progress_status *p = &status->progress[i];

		if (p->id == ch->state.self_id || p->is_learner || !p->recent_active)
			continue;
		if (target == RAFT_NONE || p->match > best_match)
		{
			target = p->id;
			best_match = p->match;
		}
	}
	pfree(status);
	if (target == RAFT_NONE ||
		raft_transfer_leader(ch->raft.node, target) != RAFT_OK)
		return false;
	elog(LOG,
		 "channel \"%s\": handing leadership to raft id " UINT64_FORMAT
		 " before removing this node",
		 ch->state.name, (uint64) target);
	ch->leading.handoff_pending = true;
	ch->leading.handoff_slot = slot;
	ch->leading.handoff_ticket = ticket;
	ch->leading.handoff_started_at = OrderingClockNow();
	return true;
}

/*
 * Ends a pending handoff: once another node leads, the request is answered
 * "not the leader" (status published first, so that the backend finds the
 * new leader); if leadership has not moved within two election timeouts,
 * the request fails and may be retried.
 */
void
ChannelFinishHandoff(Channel *ch, TimestampTz now)
{
	int64 limit_ms = 2 * ChannelElectionTimeoutMs(ch);

	if (!ch->leading.handoff_pending)
		return;
	if (ch->raft.leader != RAFT_NONE && ch->raft.leader != ch->state.self_id)
	{
		ChannelPublishStatus(ch);
		ChannelAnswerAdmin(ch->leading.handoff_slot, ch->leading.handoff_ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   psprintf("node %s is not the leader of channel %s; the leader is %s",
									ordering_node_name, ch->state.name,
									ChannelLeaderName(ch)),
						   -1);
		ch->leading.handoff_pending = false;
	}
	else if (now - ch->leading.handoff_started_at >= limit_ms * 1000)
	{
		ChannelAnswerAdmin(ch->leading.handoff_slot, ch->leading.handoff_ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   psprintf("could not hand leadership of channel %s to another voter before removing node %s; try again",
									ch->state.name, ordering_node_name),
						   -1);
		ch->leading.handoff_pending = false;
	}
}
