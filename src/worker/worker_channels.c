/*-------------------------------------------------------------------------
 *
 * worker_channels.c
 *	  The worker's passes over its channels in each loop iteration (ticks,
 *	  readies, status and the next deadline), and the error isolation
 *	  through which it calls any channel.
 *
 * A quiet channel with nothing to do is "settled" (ChannelIsSettled):
 * until its next tick or an input for it, no pass has anything to do for
 * it, so the passes skip it without entering it.  Every call into a
 * channel goes through WorkerGuard, which unsettles it first; the tick and
 * status steps look again afterwards.  With hundreds of idle channels
 * this keeps a wakeup for one peer record from costing a pass over all.
 *
 * src/worker/worker_channels.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lwlock.h"

#include "common/clock.h"
#include "worker/channel.h"
#include "worker/worker_internal.h"

/*
 * Bounds of one iteration, so that no channel starves the others (nor its
 * own heartbeats): readies per channel, and the time spent on them.
 */
#define WORKER_MAX_READIES_PER_CHANNEL 16
#define WORKER_READIES_BUDGET_MS 50

/* ----------------------------------------------------------------
 * Error isolation
 * ----------------------------------------------------------------
 */

/*
 * After a caught ERROR: optionally report it (before cleanup, like
 * PostgresMain's error recovery), abort the transaction if any, and
 * return a copy of the error in cxt.
 */
ErrorData *
WorkerRecover(MemoryContext cxt, bool report)
{
	ErrorData *edata;

	HOLD_INTERRUPTS();
	if (report)
		EmitErrorReport();
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	LWLockReleaseAll();
	MemoryContextSwitchTo(cxt);
	RESUME_INTERRUPTS();
	return edata;
}

/*
 * Runs step(ch, arg) with ch entered (its Raft core may be called),
 * catching an ERROR: the transaction (if any) is aborted, the error
 * logged, and a copy returned (NULL if none).  With break_on_error, or
 * after a failed core assertion (whose node is discarded), the channel is
 * also dropped for a rebuild.  The one place the worker calls a channel.
 */
ErrorData *
WorkerGuard(Channel *ch, ChannelStep step, void *arg, bool break_on_error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData *volatile edata = NULL;
	Channel *previous = ChannelEnter(ch);

	/* Whatever the step does, the passes must look at the channel again. */
	ch->quiet.settled = false;

	PG_TRY();
	{
		step(ch, arg);
	}
	PG_CATCH();
	{
		edata = WorkerRecover(cxt, true);
		if (ChannelDiscardIfAsserted(ch) || break_on_error)
		{
			ChannelBreak(ch, edata->message);
			elog(LOG, "channel \"%s\" will be reloaded after an error",
				 ch->state.name);
		}
		else
			strlcpy(ch->counters.last_error, edata->message,
					sizeof(ch->counters.last_error));
		ch->counters.status_dirty = true;
	}
	PG_END_TRY();
	/* An assertion some catch inside the step swallowed: the same. */
	if (edata == NULL && ChannelDiscardIfAsserted(ch))
		ChannelBreak(ch, "a Raft core assertion failed");
	ChannelLeave(previous);
	return edata;
}

/* ----------------------------------------------------------------
 * The passes
 * ----------------------------------------------------------------
 */

static void
step_load(Channel *ch, void *arg)
{
	ChannelLoad(ch);
}

static void
step_tick(Channel *ch, void *arg)
{
	ChannelTick(ch, *(TimestampTz *) arg);
	ch->quiet.settled = ChannelIsSettled(ch);
}

static void
step_ready(Channel *ch, void *arg)
{
	bool *wrote_blocks = arg;

	TimestampTz until = TimestampTzPlusMilliseconds(OrderingClockNow(),
													WORKER_READIES_BUDGET_MS);

	ChannelDebugBreak(ch);
	for (int i = 0; i < WORKER_MAX_READIES_PER_CHANNEL; i++)
	{
		if (!ChannelIsLive(ch) || !ChannelProcessReady(ch, wrote_blocks) ||
			OrderingClockNow() >= until)
			break;
	}
}

static void
step_flush(Channel *ch, void *arg)
{
	ChannelFlush(ch, *(TimestampTz *) arg);
}

typedef struct PublishArg
{
	TimestampTz now;
	long timeout_ms; /* lowered to the channel's next deadline */
} PublishArg;

static void
step_publish(Channel *ch, void *arg)
{
	PublishArg *a = arg;

	ChannelPublishStatus(ch);
	if (a != NULL)
		a->timeout_ms = Min(a->timeout_ms, ChannelNextTimeoutMs(ch, a->now));
	ch->quiet.settled = ChannelIsSettled(ch);
}

/* A channel new to the worker: load it and publish its status. */
void
WorkerStartChannel(Channel *ch)
{
	WorkerGuard(ch, step_load, NULL, true);
	WorkerGuard(ch, step_publish, NULL, false);
}

/* Rebuilds channels whose backoff has passed; ticks the others. */
void
WorkerTickChannels(Channel **channels, int n_channels, TimestampTz now)
{
	for (int i = 0; i < n_channels; i++)
	{
		Channel *ch = channels[i];

		if (ch == NULL)
			continue;
		if (!ChannelIsLive(ch) && now >= ch->timers.retry_at)
			WorkerGuard(ch, step_load, NULL, true);
		if (ChannelIsLive(ch) &&
			(!ch->quiet.settled || now >= ch->timers.next_tick_at))
			WorkerGuard(ch, step_tick, &now, true);
	}
}

/* Handles each channel's readies and sends what it forwards. */
void
WorkerRunReadies(Channel **channels, int n_channels, TimestampTz now)
{
	bool wrote_blocks = false;

	for (int i = 0; i < n_channels; i++)
	{
		Channel *ch = channels[i];

		if (ch == NULL || !ChannelIsLive(ch) || ch->quiet.settled)
			continue;
		WorkerGuard(ch, step_ready, &wrote_blocks, true);
		WorkerGuard(ch, step_flush, &now, false);
	}
}

/*
 * Publishes each channel's status when it changed; returns timeout_ms
 * lowered to the nearest deadline of a channel.
 */
long
WorkerPublishChannels(Channel **channels, int n_channels, TimestampTz now,
					  long timeout_ms)
{
	PublishArg publish;

	publish.now = now;
	publish.timeout_ms = timeout_ms;
	for (int i = 0; i < n_channels; i++)
	{
		Channel *ch = channels[i];

		if (ch == NULL)
			continue;
		/* Settled: its status is published, its next deadline a tick. */
		if (ch->quiet.settled)
			publish.timeout_ms =
				Min(publish.timeout_ms,
					TimestampDifferenceMilliseconds(now,
													ch->timers.next_tick_at));
		else
			WorkerGuard(ch, step_publish, &publish, false);
	}
	return publish.timeout_ms;
}
