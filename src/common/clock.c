/*-------------------------------------------------------------------------
 *
 * clock.c
 *	  The clock every deadline of the extension is computed on.
 *
 * Raft's ticks (so heartbeats and election timeouts), the back-offs of
 * reconnections and rebuilds, batch timeouts and the waits for peers are
 * all deadlines computed from "now".  Computed on the wall clock, a clock
 * stepped back (date -s, NTP stepping a large offset) held every one of
 * them for as long as the step: a worker ticked no channel, so its leader
 * sent no heartbeat and its followers never timed out.  etcd's timers run
 * on Go's monotonic clock for the same reason.
 *
 * So a process reads the wall clock once, and advances it by the
 * monotonic clock (CLOCK_MONOTONIC, which NTP slews like the wall clock
 * but never steps).  The values stay timestamptz values near the wall
 * clock, drifting from it only by the steps since the process started.
 *
 * ordering.debug_clock_offset (a test aid) moves the wall clock this
 * process reads, as a step of the system clock would (TAP 018).
 *
 * src/common/clock.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "portability/instr_time.h"
#include "utils/timestamp.h"

#include "common/clock.h"
#include "common/gucs.h"

/* The wall clock as a step would leave it. */
static TimestampTz
wall_clock_now(void)
{
	return GetCurrentTimestamp() +
		(TimestampTz) ordering_debug_clock_offset_ms * 1000;
}

TimestampTz
OrderingClockNow(void)
{
	static bool started = false;
	static TimestampTz wall_at_start;
	static instr_time monotonic_at_start;
	instr_time since;

	INSTR_TIME_SET_CURRENT(since);
	if (!started)
	{
		wall_at_start = wall_clock_now();
		monotonic_at_start = since;
		started = true;
	}
	INSTR_TIME_SUBTRACT(since, monotonic_at_start);
	return wall_at_start + (TimestampTz) INSTR_TIME_GET_MICROSEC(since);
}
