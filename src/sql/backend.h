/*-------------------------------------------------------------------------
 *
 * backend.h
 *	  What every SQL function needs of the ordering worker.
 *
 * src/sql/backend.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SQL_BACKEND_H
#define ORDERING_SQL_BACKEND_H

#include "utils/timestamp.h"

/* Errors 55000 unless ordering is preloaded and this is its database. */
extern void OrderingRequireSharedMemory(void);
extern void OrderingRequireWorkerDatabase(void);
/* Is this session in the database the worker runs in (ordering.database)? */
extern bool OrderingInWorkerDatabase(void);
/* ERROR 25006 in a read-only transaction (or on a standby). */
extern void OrderingRequireReadWrite(const char *function);
/* ERROR 55000 unless ordering.node_name is set (a server without one is nobody). */
extern void OrderingRequireNodeName(void);
/* Both of the above, and the worker runs and is ready. */
extern void OrderingRequireWorker(void);
/*
 * ERROR 55000 inside ordering's own processes (a user's trigger on its
 * tables): function would wait for the worker, which waits for it.
 */
extern void OrderingRequireNotWorker(const char *function);
/* The same as a test: true when OrderingRequireWorker would pass. */
extern bool OrderingWorkerRunning(void);

/* When the current transaction commits, make the worker reread channels. */
extern void OrderingReloadChannelsAtCommit(void);

/* now + ordering.submit_timeout. */
extern TimestampTz OrderingSubmitDeadline(void);
/* Milliseconds left until deadline, at most cap_ms; 0 when it passed. */
extern long OrderingRemainingMs(TimestampTz deadline, long cap_ms);

#endif /* ORDERING_SQL_BACKEND_H */
