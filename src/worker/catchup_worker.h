/*-------------------------------------------------------------------------
 *
 * catchup_worker.h
 *	  Pulling a snapshot's blocks in a background worker of its own.
 *
 * src/worker/catchup_worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CATCHUP_WORKER_H
#define ORDERING_CATCHUP_WORKER_H

#include "postmaster/bgworker.h"

#include "worker/catchup.h"

/* A snapshot this many blocks ahead of the chain, or fewer, is pulled inline. */
#define CATCHUP_INLINE_MAX_BLOCKS 64

/*
 * In a transaction of the channel's worker: records what the background
 * worker is to do (ordering.catchups): install snapshot, whose blocks
 * from_block .. to_block it pulls as pull_as, asking leaders first.
 */
extern void CatchupRecordRequest(const char *channel, const char *pull_as,
								 const CatchupPeers *leaders,
								 const raft_snapshot *snapshot,
								 int64 from_block, int64 to_block);
/* In a transaction: forgets a request (the pull was done inline). */
extern void CatchupForgetRequest(const char *channel);

/*
 * After the request committed: starts the background worker, its handle
 * allocated in cxt.  NULL (logged) when no background worker slot is free.
 */
extern BackgroundWorkerHandle *
CatchupWorkerStart(const char *channel, MemoryContext cxt);

/* The background worker's entry point (bgw_function_name). */
PGDLLEXPORT void OrderingCatchupMain(Datum main_arg);

#endif /* ORDERING_CATCHUP_WORKER_H */
