/*-------------------------------------------------------------------------
 *
 * channel_eviction.c
 *	  Eviction detection: how a consenter removed while it was down learns
 *	  it, from the chain itself, as Fabric's orderer does.
 *
 * A node learns its removal only from a committed configuration change.
 * When it was down while the change committed, the others no longer talk
 * to it, and nobody can tell it (a message saying so would be a forgery
 * anybody holding a peer credential could send).  So a consenter that has
 * heard no leader for EVICTION_LEADERLESS_TIMEOUTS election timeouts looks
 * by itself in the chains of the members of its last known configuration
 * (eviction_check.c says how, and what it trusts), and looks again as long
 * as it hears no leader.
 *
 * The look waits on peers, and the peers of a channel without a leader
 * are often down or cut off: their connections hang until a deadline.
 * Done in the worker's loop, each look stopped every channel of the
 * server for up to 20 s, every ten election timeouts, for as long as one
 * channel had no leader (TAP 099).  So it runs in a background worker of
 * its own, EVICTION_MAX_LOOKS at a time, never inline; once that stopped,
 * the channel is rebuilt from its tables if the look recorded the removal.
 *
 * src/worker/channel_eviction.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "store/log.h"
#include "store/spi.h"
#include "worker/channel_bgworker.h"
#include "worker/channel_internal.h"

/* Heard no leader for this many election timeouts: look for a removal. */
#define EVICTION_LEADERLESS_TIMEOUTS 10
/*
 * Looks running at once on this node.  A node cut off from its peers has
 * every channel without a leader, and a look at peers that never answer
 * holds its background worker slot for a minute: more would leave no slot
 * for the catch-ups, which pull inline without one.
 */
#define EVICTION_MAX_LOOKS 2

static int looks_running = 0;

/* Whether the tables say this node was removed (a look recorded it). */
static bool
eviction_recorded(const Channel *ch)
{
	ChannelState st;
	StoreRaftState stored;

	memset(&st, 0, sizeof(st));
	strlcpy(st.name, ch->state.name, sizeof(st.name));
	st.cxt = CurrentMemoryContext;
	StoreBegin();
	StoreLoadRaftState(&st, &stored);
	StoreCommit();
	return st.removed;
}

/* Rebuilds the channel as a removed node once a look recorded it. */
static void
eviction_take(Channel *ch)
{
	ChannelSetAddressBook(ch, 0, NULL);
	ChannelLoad(ch);
}

/* Starts a look; false when none can start now (it is tried again). */
static bool
eviction_look(Channel *ch)
{
	ChannelEviction *ev = &ch->eviction;

	if (looks_running >= EVICTION_MAX_LOOKS)
		return false;
	ev->worker =
		ChannelBgWorkerStart("OrderingEvictionMain", "ordering eviction check",
							 ch->state.name, ch->state.self_id, ch->top_cxt);
	if (ev->worker == NULL)
	{
		/* Not inline: the look would stop every channel of this node. */
		if (!ev->no_slot_logged)
			ereport(LOG,
					(errmsg("channel \"%s\": no background worker slot is free for the eviction check; trying again later",
							ch->state.name),
					 errhint("Raise max_worker_processes.")));
		ev->no_slot_logged = true;
		return false;
	}
	looks_running++;
	return true;
}

/* The channel goes away: its look, if any, no longer counts. */
void
ChannelForgetEviction(Channel *ch)
{
	if (ch->eviction.worker == NULL)
		return;
	TerminateBackgroundWorker(ch->eviction.worker);
	ch->eviction.worker = NULL;
	looks_running--;
}

void
ChannelWatchEviction(Channel *ch, TimestampTz now)
{
	ChannelEviction *ev = &ch->eviction;
	int64 wait_ms = EVICTION_LEADERLESS_TIMEOUTS * ChannelElectionTimeoutMs(ch);

	if (ev->worker != NULL)
	{
		if (ChannelBgWorkerRunning(ev->worker))
			return;
		ev->worker = NULL;
		looks_running--;
		if (eviction_recorded(ch))
			eviction_take(ch);
		return;
	}
	if (ch->raft.node == NULL || ch->state.self_id == RAFT_NONE ||
		ch->raft.leader != RAFT_NONE)
	{
		ev->leaderless_since = 0;
		return;
	}
	if (ev->leaderless_since == 0)
	{
		ev->leaderless_since = now;
		ev->next_check_at = TimestampTzPlusMilliseconds(now, wait_ms);
		ev->no_slot_logged = false;
		return;
	}
	if (now < ev->next_check_at || !eviction_look(ch))
		return;
	ev->next_check_at = TimestampTzPlusMilliseconds(now, wait_ms);
}
