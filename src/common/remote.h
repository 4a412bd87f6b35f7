/*-------------------------------------------------------------------------
 *
 * remote.h
 *	  Bounded, interruptible libpq calls to a peer node from a backend or
 *	  from the worker: join_channel, routed admin requests, block pulls.
 *
 * Every call has a deadline: the connect is driven with PQconnectPoll and
 * the statement with PQsendQueryParams, both waiting on the latch and the
 * socket with a timeout, and the peer is told statement_timeout too.  A
 * remote error is raised with the remote SQLSTATE, its message as errmsg
 * and the remote detail in errdetail_internal (like postgres_fdw).
 *
 * src/common/remote.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_REMOTE_H
#define ORDERING_REMOTE_H

#include "libpq-fe.h"
#include "utils/timestamp.h"

/*
 * Connects to conninfo before deadline; statement_timeout_ms is set on the
 * peer's session.  ERROR (08001) when that fails.
 */
extern PGconn *
OrderingRemoteConnect(const char *conninfo, const char *application_name,
					  int statement_timeout_ms, TimestampTz deadline);
extern void OrderingRemoteDisconnect(PGconn *conn);

/*
 * Runs sql with text parameters; returns the last result, which the caller
 * PQclear()s.  A failed statement is raised as an ERROR with the remote
 * SQLSTATE (the result is cleared first); a timeout as 57014.
 */
extern PGresult *
OrderingRemoteExec(PGconn *conn, const char *peer, const char *sql, int n_params,
				   const char *const *params, TimestampTz deadline);

#endif /* ORDERING_REMOTE_H */
