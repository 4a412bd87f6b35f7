/*-------------------------------------------------------------------------
 *
 * worker_internal.h
 *	  The worker's passes over its channels and its error isolation,
 *	  shared by worker.c and worker_channels.c.
 *
 * src/worker/worker_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_WORKER_INTERNAL_H
#define ORDERING_WORKER_INTERNAL_H

#include "datatype/timestamp.h"
#include "utils/elog.h"
#include "utils/palloc.h"

#include "worker/channel.h"

typedef void (*ChannelStep)(Channel *ch, void *arg);

/* Error isolation: the one place the worker calls a channel. */
extern ErrorData *WorkerRecover(MemoryContext cxt, bool report);
extern ErrorData *
WorkerGuard(Channel *ch, ChannelStep step, void *arg, bool break_on_error);

/* Passes over every channel of one loop iteration. */
extern void WorkerStartChannel(Channel *ch);
extern void
WorkerTickChannels(Channel **channels, int n_channels, TimestampTz now);
extern void
WorkerRunReadies(Channel **channels, int n_channels, TimestampTz now);
extern long WorkerPublishChannels(Channel **channels, int n_channels,
								  TimestampTz now, long timeout_ms);

#endif /* ORDERING_WORKER_INTERNAL_H */
