/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  The clock every deadline of the extension is computed on.
 *
 * src/common/clock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CLOCK_H
#define ORDERING_CLOCK_H

#include "datatype/timestamp.h"

/*
 * Now, as a timestamptz: the wall clock when this process first asked,
 * advanced by a monotonic clock since (why: clock.c).  Use it for every
 * deadline, timer and elapsed time, not GetCurrentTimestamp().
 */
extern TimestampTz OrderingClockNow(void);

#endif /* ORDERING_CLOCK_H */
