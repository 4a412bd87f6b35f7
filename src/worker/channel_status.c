/*-------------------------------------------------------------------------
 *
 * channel_status.c
 *	  What the worker publishes of a channel in shared memory:
 *	  ordering.status and, on a leader, ordering.peers.
 *
 * src/worker/channel_status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"

#include "common/clock.h"
#include "worker/channel_internal.h"
#include "worker/transport.h"

void
ChannelClearStatus(int status_slot)
{
	OrderingChannelStatus *st = &ordering_shared->status[status_slot];

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	memset(st, 0, sizeof(*st));
	LWLockRelease(&ordering_shared->lock);
}

void
ChannelPublishStatus(Channel *ch)
{
	OrderingChannelStatus *st = &ordering_shared->status[ch->status_slot];
	raft_status rs;
	const char *membership = "none";

	if (!ch->counters.status_dirty)
		return;
	if (ch->raft.node != NULL)
		raft_get_status(ch->raft.node, &rs);
	else
		memset(&rs, 0, sizeof(rs));
	if (ch->state.self_id != RAFT_NONE)
	{
		/* A joiner whose log has not reached its own addition: a learner. */
		membership = raft_config_is_voter(&ch->state.config, ch->state.self_id)
			? "consenter"
			: "learner";
	}
	if (ch->raft.node != NULL && rs.hard_state.recovering)
		membership = "recovering";
	if (ch->state.archived)
		membership = "archive";
	if (ch->catchup.worker != NULL)
		membership = "catchup";

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	st->in_use = true;
	strlcpy(st->channel, ch->state.name, sizeof(st->channel));
	strlcpy(st->membership, membership, sizeof(st->membership));
	strlcpy(st->role,
			ch->raft.node != NULL ? raft_role_name(ch->raft.role) : "stopped",
			sizeof(st->role));
	st->raft_id = ch->state.self_id;
	st->term = ch->raft.node != NULL ? rs.hard_state.term : ch->raft.term;
	strlcpy(st->leader, ChannelLeaderName(ch), sizeof(st->leader));
	st->commit_index =
		ch->raft.node != NULL ? rs.hard_state.commit : ch->raft.commit_index;
	st->applied_index = ch->state.log.applied_index;
	st->snapshot_index = ch->state.log.snapshot_index;
	st->last_block = ch->state.chain.last_block;
	st->leader_changes = ch->counters.leader_changes;
	st->proposal_failures = ch->counters.proposal_failures;
	st->committed_block_number = ch->state.chain.last_block;
	st->data_persist_count = ch->counters.data_persist_count;
	st->data_persist_total_ms = ch->counters.data_persist_total_ms;
	st->data_persist_last_ms = ch->counters.data_persist_last_ms;
	st->rejected_records = ch->counters.rejected_records;
	st->quiesced = ch->quiet.quiesced;
	st->updated_at = OrderingClockNow();
	strlcpy(st->last_error, ch->counters.last_error, sizeof(st->last_error));
	strlcpy(st->leader_link_error, ch->counters.leader_link_error,
			sizeof(st->leader_link_error));
	st->recovering = ch->raft.node != NULL && rs.hard_state.recovering;
	st->recovery_target = st->recovering ? rs.recovery_target : 0;
	strlcpy(st->recovery,
			ch->state.recovery_reason[0] != '\0'
				? ch->state.recovery_reason
				: "a peer found this node's state older than it had shown before",
			sizeof(st->recovery));
	st->n_peers = 0;
	if (ch->raft.node != NULL && ch->raft.role == RAFT_LEADER)
	{
		for (uint32 i = 0;
			 i < rs.n_progress && st->n_peers < ORDERING_MAX_PEERS; i++)
		{
			const raft_progress_status *p = &rs.progress[i];
			const ChannelMember *m = ChannelMemberById(ch, p->id);
			OrderingPeerStatus *ps = &st->peers[st->n_peers++];

			strlcpy(ps->node, m != NULL ? m->node : "", sizeof(ps->node));
			ps->raft_id = p->id;
			ps->is_learner = p->is_learner;
			ps->match_index = p->match;
			ps->next_index = p->next;
			ps->progress_state = p->state;
			ps->recent_active = p->recent_active;
			ps->inflight = p->inflight;
			ps->last_contact = (m != NULL && p->id != ch->state.self_id)
				? TransportLastContact(m->node)
				: 0;
		}
	}
	LWLockRelease(&ordering_shared->lock);
	ch->counters.status_dirty = false;
}

/*
 * Notes what calls to this follower's leader last failed with ("" while
 * they go through).  A follower whose calls the leader refuses (its role
 * revoked or dropped there) still hears the leader's heartbeats, and its
 * status looked healthy while its answers and forwards went nowhere; the
 * reason was only in its server log.
 */
void
ChannelWatchLeaderLink(Channel *ch)
{
	const ChannelMember *leader = ChannelLeaderPeer(ch);
	const char *error = "";

	if (leader != NULL)
		error = TransportLinkError(leader->node);
	if (strncmp(error, ch->counters.leader_link_error,
				sizeof(ch->counters.leader_link_error) - 1) != 0)
	{
		strlcpy(ch->counters.leader_link_error, error,
				sizeof(ch->counters.leader_link_error));
		ch->counters.status_dirty = true;
	}
}
