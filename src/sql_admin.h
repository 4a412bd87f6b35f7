/*-------------------------------------------------------------------------
 *
 * sql_admin.h
 *	  The backend side of talking to the ordering worker: is it running,
 *	  ask it to reload channels, hand it an admin request and wait.
 *
 * src/sql_admin.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SQL_ADMIN_H
#define ORDERING_SQL_ADMIN_H

#include "postgres.h"

#include "utils/timestamp.h"

#include "shmem.h"

/* Errors 55000 unless ordering is preloaded and this is its database. */
extern void OrderingRequireSharedMemory(void);
extern void OrderingRequireWorkerDatabase(void);
/* Both of the above, and the worker runs and is ready. */
extern void OrderingRequireWorker(void);

/* When the current transaction commits, make the worker reread channels. */
extern void OrderingReloadChannelsAtCommit(void);

/* now + ordering.submit_timeout. */
extern TimestampTz OrderingSubmitDeadline(void);
/* Milliseconds left until deadline, at most cap_ms; 0 when it passed. */
extern long OrderingRemainingMs(TimestampTz deadline, long cap_ms);

/*
 * Hands an admin request to the worker and waits (ordering.submit_timeout)
 * for its answer.  Returns the configuration block written (or -1); the
 * worker's refusal is raised as an ERROR with its SQLSTATE.
 */
extern int64 OrderingAdminCall(OrderingAdminKind kind, const char *channel,
							   const char *node, const char *arg);

#endif							/* ORDERING_SQL_ADMIN_H */
