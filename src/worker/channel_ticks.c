/*-------------------------------------------------------------------------
 *
 * channel_ticks.c
 *	  Time in a channel's runtime: Raft ticks, the work done on each
 *	  tick, and when the loop must come back.
 *
 * src/worker/channel_ticks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/gucs.h"
#include "worker/channel_internal.h"

/*
 * The next tick on a grid shared by every channel: ticks due at the same
 * time are handled by one wakeup of the loop, instead of one wakeup per
 * channel's own phase (with hundreds of idle channels, most of the cost of
 * an idle worker is passing over all channels on each wakeup).
 */
static TimestampTz
channel_next_tick_at(TimestampTz now)
{
	int64 interval = (int64) ordering_tick_interval_ms * 1000;

	return now - now % interval + interval;
}

void
ChannelTick(Channel *ch, TimestampTz now)
{
	if (ch->raft.node == NULL)
	{
		/* Held when this node was removed: their submitters are told. */
		if (ch->state.removed && ch->routing.held != NIL)
			ChannelRerouteHeld(ch, now);
		return;
	}
	if (now >= ch->timers.next_tick_at)
	{
		if (!ChannelQuiescentTick(ch, now))
			raft_tick(ch->raft.node);
		ch->timers.next_tick_at = channel_next_tick_at(now);
		ChannelRoutingTick(ch, now);
		ChannelMaybePromote(ch);
		/*
		 * A quiet channel's members all hold every entry, so all run it;
		 * they send nothing on it while quiet, which would otherwise look
		 * like members lacking the channel and cost a genesis push to each
		 * of them every few seconds.
		 */
		if (!ch->quiet.quiesced)
			ChannelPushGenesis(ch, now);
		ChannelExpireSnapshotSends(ch, now);
		ChannelFinishHandoff(ch, now);
		ChannelWatchEviction(ch, now);
		ChannelWatchLeaderLink(ch);
	}
	if (ChannelIsLeader(ch) && CutterTimedOut(&ch->routing.cutter, now))
		ChannelProposeBatch(ch, CutterCut(&ch->routing.cutter));
}

long
ChannelNextTimeoutMs(const Channel *ch, TimestampTz now)
{
	long timeout;

	if (ch->raft.node == NULL)
		return Max(TimestampDifferenceMilliseconds(now, ch->timers.retry_at), 0);
	if (raft_has_ready(ch->raft.node) || ch->routing.forward_count > 0)
		return 0;
	if (ChannelIsLeader(ch) && ch->routing.blocked == NIL &&
		CutterShouldCut(&ch->routing.cutter))
		return 0;
	timeout = TimestampDifferenceMilliseconds(now, ch->timers.next_tick_at);
	if (ChannelIsLeader(ch))
	{
		long batch = CutterTimeoutMs(&ch->routing.cutter, now);

		if (batch >= 0 && batch < timeout)
			timeout = batch;
	}
	return Max(timeout, 0);
}
