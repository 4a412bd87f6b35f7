/*-------------------------------------------------------------------------
 *
 * channel_quiescence.c
 *	  Quiet idle channels: no Raft ticks, heartbeats or answers while
 *	  every member holds every entry and nothing is proposed.
 *
 * An idle channel costs its leader a heartbeat to each follower every
 * tick and each follower an answer: with hundreds of channels that is
 * most of an idle server's work.  As CockroachDB quiesces idle ranges:
 *
 * - The leader stops ticking once every member's match is its last index,
 *   everything is committed and applied, nothing waits to be proposed,
 *   and it has ticked (so sent heartbeats carrying that commit index) for
 *   heartbeat_tick + 1 ticks in that state.  It tells each follower with a
 *   QUIESCE record (its term and commit index).
 * - A follower stops ticking on QUIESCE from the leader it follows, in its
 *   term, when its own log ends at that commit index.
 * - A Raft message for the channel wakes the node before it is stepped,
 *   except, on a leader, a follower's answer that only confirms what it
 *   was sent; a leader also wakes at its next tick once there is anything
 *   to send.
 *   Waking needs no message of its own: whatever wakes the leader sends
 *   appends, which wake the followers.
 * - Quiet nodes keep hearing from each other: the leader sends QUIESCE
 *   again to each follower node, and a follower to the leader's node, when
 *   nothing was queued for it in two ticks (so one record keeps a node
 *   pair alive for all its channels).  A quiet follower that hears nothing
 *   from the leader's node for an election timeout wakes, times out as
 *   usual and campaigns; PreVote and the other members' leases keep that
 *   harmless while the leader is in fact alive (the campaign wakes it).
 *   A quiet leader that hears nothing from a follower's node for an
 *   election timeout wakes, so CheckQuorum runs as if it had never slept:
 *   a leader that lost its quorum steps down.
 * - A node that recovers (it may not campaign) and knows no leader sends
 *   QUIESCE with its own term to every member, once an election timeout;
 *   a quiet follower that follows it in another term wakes on it, and so
 *   does a quiet leader of another term.  Its node staying up kept the
 *   pairs hearing each other, so a leader that dropped the channel and
 *   joined it again, or lost its state while its server ran, was
 *   otherwise followed forever and given no new leader, and such a
 *   follower waited for the channel's next proposal.  A node that drops
 *   the channel sends QUIESCE of no term (0) for the same reason: its
 *   quiet followers elect another leader, whose GENESIS push brings the
 *   node back if it is still a consenter, and a follower's leader sends
 *   it the GENESIS at once (a quiet leader pushes none).
 *
 * Safety does not depend on any of this: Raft's safety never rests on
 * timing, and a quiet node only stops starting elections and sending
 * heartbeats.
 *
 * src/worker/channel_quiescence.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/gucs.h"
#include "port/pg_bswap.h"
#include "worker/channel_internal.h"
#include "worker/transport.h"

/* The QUIESCE record: the leader's term and commit index, big-endian. */
#define QUIESCE_RECORD_BYTES 16

void
ChannelWake(Channel *ch)
{
	if (ch->quiet.quiesced)
		ch->counters.status_dirty = true;
	ch->quiet.quiesced = false;
	ch->quiet.idle_ticks = 0;
}

bool
ChannelIsSettled(const Channel *ch)
{
	return ch->raft.node != NULL && ch->quiet.quiesced &&
		!ch->counters.status_dirty && ch->routing.forward_count == 0 &&
		ch->routing.forward_queue == NIL && ch->routing.cutter.pending == NIL &&
		ch->routing.blocked == NIL && !raft_has_ready(ch->raft.node);
}

/*
 * Any Raft message wakes a follower.  A leader's followers answer its last
 * heartbeats and appends after it went quiet: those answers, when they
 * only confirm, must not wake it (it would tick, send heartbeats and be
 * answered again, forever).  Anything else may need it.
 */
bool
ChannelMessageWakes(const Channel *ch, const raft_message *msg)
{
	if (!ChannelIsLeader(ch))
		return true;
	if (msg->type == RAFT_MSG_HEARTBEAT_RESP || msg->type == RAFT_MSG_APP_RESP)
		return msg->reject || msg->term != ch->raft.term;
	return true;
}

/* A member's node has been silent for an election timeout. */
static bool
channel_node_silent(const Channel *ch, raft_id id, TimestampTz now)
{
	const ChannelMember *m = ChannelPeerById(ch, id);

	return m == NULL ||
		TimestampDifferenceExceeds(TransportLastContact(m->node), now,
								   (int) ChannelElectionTimeoutMs(ch));
}

/* Leader: nothing to send, every member holds every entry and is heard. */
static bool
channel_leader_is_idle(const Channel *ch, const raft_status *rs, TimestampTz now)
{
	if (rs->role != RAFT_LEADER || rs->lead_transferee != RAFT_NONE ||
		rs->hard_state.commit != rs->last_index || rs->applied != rs->last_index)
		return false;
	if (raft_has_ready(ch->raft.node) || ch->routing.cutter.pending != NIL ||
		ch->routing.blocked != NIL || ch->routing.forward_count > 0 ||
		ch->routing.forward_queue != NIL || ch->leading.n_admin_waits > 0 ||
		ch->leading.handoff_pending || ch->leading.n_snapshot_sends > 0)
		return false;
	for (uint32 i = 0; i < rs->n_progress; i++)
	{
		const raft_progress_status *p = &rs->progress[i];

		if (p->id == rs->id)
			continue;
		if (p->match != rs->last_index || p->inflight != 0 || p->recovering ||
			p->state != RAFT_PROGRESS_REPLICATE ||
			channel_node_silent(ch, p->id, now))
			return false;
	}
	return true;
}

/* A keep-alive to a member's node: nothing was queued for it in two ticks. */
static bool
channel_keepalive_due(const ChannelMember *to, TimestampTz now)
{
	return to != NULL &&
		TimestampDifferenceExceeds(TransportLastQueued(to->node), now,
								   2 * ordering_tick_interval_ms);
}

static void
channel_send_quiesce_record(Channel *ch, const ChannelMember *to, uint64 term,
							uint64 commit)
{
	uint64 record[2] = { pg_hton64(term), pg_hton64(commit) };

	(void) ChannelSend(ch, to, ORDERING_RECORD_QUIESCE, record, sizeof(record));
}

/*
 * QUIESCE to a member: always (going quiet), or as a keep-alive only when
 * one is due.
 */
static void
channel_send_quiesce(Channel *ch, const ChannelMember *to,
					 const raft_status *rs, TimestampTz now, bool always)
{
	if (to == NULL || (!always && !channel_keepalive_due(to, now)))
		return;
	channel_send_quiesce_record(ch, to, rs->hard_state.term,
								rs->hard_state.commit);
}

/* QUIESCE (term, commit) to every member but this node. */
static void
channel_quiesce_others(Channel *ch, uint64 term, uint64 commit)
{
	for (int i = 0; i < ch->state.n_members; i++)
		if (ch->state.members[i].id != ch->state.self_id)
			channel_send_quiesce_record(ch, &ch->state.members[i], term, commit);
}

/* A quiet leader: QUIESCE to every follower (all) or as a keep-alive. */
static void
channel_tell_followers(Channel *ch, const raft_status *rs, TimestampTz now,
					   bool all)
{
	for (uint32 i = 0; i < rs->n_progress; i++)
	{
		if (rs->progress[i].id != rs->id)
			channel_send_quiesce(ch, ChannelPeerById(ch, rs->progress[i].id),
								 rs, now, all);
	}
}

/*
 * Recovering without a leader: QUIESCE to every other member, once an
 * election timeout, so that quiet followers still following this node
 * wake and elect one (ChannelReceiveQuiesce).
 */
static void
channel_ask_for_leader(Channel *ch, TimestampTz now)
{
	raft_status rs;

	if (ch->raft.leader != RAFT_NONE ||
		(ch->quiet.asked_for_leader_at != 0 &&
		 !TimestampDifferenceExceeds(ch->quiet.asked_for_leader_at, now,
									 (int) ChannelElectionTimeoutMs(ch))))
		return;
	raft_get_status(ch->raft.node, &rs);
	if (!rs.hard_state.recovering)
		return;
	ch->quiet.asked_for_leader_at = now;
	channel_quiesce_others(ch, rs.hard_state.term, rs.hard_state.commit);
}

void
ChannelTellMembersDropped(Channel *ch)
{
	if (ChannelMemberById(ch, ch->state.self_id) == NULL)
		return; /* not a member (removed): they would reject it */
	channel_quiesce_others(ch, 0, 0); /* no term: no Raft runs here */
}

bool
ChannelQuiescentTick(Channel *ch, TimestampTz now)
{
	raft_status rs;
	const ChannelMember *leader;

	if (ch->raft.role != RAFT_LEADER)
	{
		if (!ch->quiet.quiesced)
		{
			channel_ask_for_leader(ch, now);
			return false;
		}
		if (ch->raft.role != RAFT_FOLLOWER ||
			channel_node_silent(ch, ch->raft.leader, now))
		{
			ChannelWake(ch);
			return false;
		}
		/* Keep the leader's node hearing from this one (rarely needed). */
		leader = ChannelPeerById(ch, ch->raft.leader);
		if (channel_keepalive_due(leader, now))
		{
			raft_get_status(ch->raft.node, &rs);
			channel_send_quiesce(ch, leader, &rs, now, true);
		}
		return true;
	}

	raft_get_status(ch->raft.node, &rs);
	if (!channel_leader_is_idle(ch, &rs, now))
	{
		ChannelWake(ch);
		return false;
	}
	if (ch->quiet.quiesced)
	{
		channel_tell_followers(ch, &rs, now, false);
		return true;
	}
	/* Tick on until heartbeats have carried the commit index. */
	if (++ch->quiet.idle_ticks <= ch->state.settings.heartbeat_tick)
		return false;
	ch->quiet.quiesced = true;
	ch->counters.status_dirty = true;
	channel_tell_followers(ch, &rs, now, true);
	return true;
}

void
ChannelReceiveQuiesce(Channel *ch, const ChannelMember *from, const char *data,
					  Size len)
{
	uint64 record[2];
	raft_status rs;

	if (len != QUIESCE_RECORD_BYTES)
	{
		ChannelReject(ch, from->node, "malformed quiesce record", NULL);
		return;
	}

	if (ch->raft.node == NULL)
		return;
	memcpy(record, data, sizeof(record));

	/*
	 * A member in another term than its leader's: it recovers and asks for
	 * a leader.  The leader wakes, and its heartbeats give it one.  Of no
	 * term (0), the member may have dropped the channel: the GENESIS brings
	 * it back (one that has the channel ignores it).  The usual push goes
	 * only to members silent on the channel for 10 s, and the leader may
	 * be quiet again by then.
	 */
	if (ch->raft.role == RAFT_LEADER)
	{
		if (pg_ntoh64(record[0]) != ch->raft.term)
			ChannelWake(ch);
		if (pg_ntoh64(record[0]) == 0)
			ChannelSendGenesis(ch, from);
		return;
	}

	/*
	 * Otherwise only from the leader this node follows: a follower's
	 * QUIESCE to its leader only keeps the pair of nodes hearing each other.
	 */
	if (ch->raft.role != RAFT_FOLLOWER || ch->raft.leader != from->id)
		return;

	/*
	 * The node it follows is in another term: it no longer leads this one
	 * (it recovers and asks for a leader).  Waking is always safe.
	 */
	if (pg_ntoh64(record[0]) != ch->raft.term)
	{
		ChannelWake(ch);
		return;
	}
	raft_get_status(ch->raft.node, &rs);
	if (pg_ntoh64(record[0]) != rs.hard_state.term ||
		pg_ntoh64(record[1]) != rs.hard_state.commit ||
		rs.last_index != rs.hard_state.commit || rs.hard_state.recovering)
		return;
	if (!ch->quiet.quiesced)
		ch->counters.status_dirty = true;
	ch->quiet.quiesced = true;
}
