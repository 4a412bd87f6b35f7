/*-------------------------------------------------------------------------
 *
 * channel_bgworker.h
 *	  Background workers that do one channel's long job (a catch-up, an
 *	  eviction check) away from the worker's loop; and the settings all of
 *	  this library's background workers share.
 *
 * src/worker/channel_bgworker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CHANNEL_BGWORKER_H
#define ORDERING_CHANNEL_BGWORKER_H

#include "postmaster/bgworker.h"

#include "common/limits.h"

/*
 * Fills worker for function (exported by this library) as a background
 * worker of type, with a database connection, started once recovery is
 * done; the caller sets what differs (restart time, arguments).
 */
extern void OrderingBgWorkerInit(BackgroundWorker *worker,
								 const char *function, const char *type);

/* In each of them, before it connects: its signal handlers (why: the .c). */
extern void OrderingBgWorkerSignals(void);

/*
 * Starts function (exported by this library) as a background worker of
 * type for channel, in this database, passing it arg; its handle is
 * allocated in cxt and its exit sets our latch.  NULL when no background
 * worker slot is free.
 */
extern BackgroundWorkerHandle *
ChannelBgWorkerStart(const char *function, const char *type,
					 const char *channel, uint64 arg, MemoryContext cxt);
/* False once the worker has stopped; then the handle is freed. */
extern bool ChannelBgWorkerRunning(BackgroundWorkerHandle *handle);

/*
 * In the background worker: connects to the database it was started for,
 * as appname, and returns the channel it is for (ERROR if invalid) and,
 * unless arg is NULL, the argument it was started with.
 */
extern void ChannelBgWorkerAttach(Datum main_arg, const char *appname,
								  char channel[ORDERING_NAME_MAX], uint64 *arg);

#endif /* ORDERING_CHANNEL_BGWORKER_H */
