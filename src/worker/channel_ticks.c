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

void
ChannelTick(Channel *ch, TimestampTz now)
{
	if (ch->raft.node == NULL)
		return;
	if (now >= ch->timers.next_tick_at)
	{
		if (!ChannelQuiescentTick(ch, now))
			raft_tick(ch->raft.node);
		ch->timers.next_tick_at =
			TimestampTzPlusMilliseconds(now, ordering_tick_interval_ms);
		ChannelRoutingTick(ch, now);
		ChannelMaybePromote(ch);
		ChannelPushGenesis(ch, now);
		ChannelExpireSnapshotSends(ch, now);
		ChannelFinishHandoff(ch, now);
		ChannelWatchEviction(ch, now);
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
