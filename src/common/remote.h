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
 * Connects to the peer whose conninfo is peer_conninfo, as own_user (NULL:
 * the conninfo's user) with this node's credentials, before deadline
 * (common/conninfo.h builds the parameters).  The peer's session gets
 * statement_timeout_ms and the pinned search_path.  ERROR (08001) when
 * that fails.
 */
extern PGconn *
OrderingRemoteConnect(const char *peer_conninfo, const char *own_user,
					  const char *application_name, int statement_timeout_ms,
					  TimestampTz deadline);
extern void OrderingRemoteDisconnect(PGconn *conn);

/*
 * Runs sql with text parameters; returns the last result (text format, or
 * binary with binary_result), which the caller PQclear()s.  A failed
 * statement is raised as an ERROR with the remote SQLSTATE (the result is
 * cleared first); a timeout as 57014.
 */
extern PGresult *
OrderingRemoteExec(PGconn *conn, const char *peer, const char *sql,
				   int n_params, const char *const *params, bool binary_result,
				   TimestampTz deadline);

/*
 * Runs sql like OrderingRemoteExec, in single-row mode: callback gets each
 * row as it arrives (a PGresult of one tuple, cleared after the call), so
 * that the caller can check and bound what a peer sends before the next
 * row is read.  An ERROR from the callback ends the call; the connection
 * is then unusable and must be closed.
 */
typedef void (*OrderingRemoteRowCallback)(const PGresult *row, void *arg);

extern void
OrderingRemoteExecRows(PGconn *conn, const char *peer, const char *sql,
					   int n_params, const char *const *params,
					   bool binary_result, TimestampTz deadline,
					   OrderingRemoteRowCallback callback, void *arg);

#endif /* ORDERING_REMOTE_H */
