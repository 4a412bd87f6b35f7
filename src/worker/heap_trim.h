/*-------------------------------------------------------------------------
 *
 * heap_trim.h
 *	  Giving the worker's free C heap back to the kernel.
 *
 * src/worker/heap_trim.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_HEAP_TRIM_H
#define ORDERING_HEAP_TRIM_H

#include "datatype/timestamp.h"

/* At most once per interval: returns the heap's free pages to the kernel. */
extern void WorkerTrimHeap(TimestampTz now);

#endif /* ORDERING_HEAP_TRIM_H */
