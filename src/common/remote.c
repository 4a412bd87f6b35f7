/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  Bounded, interruptible libpq calls to a peer node.
 *
 * Used by backends (join_channel, admin requests routed to the leader) and
 * by the worker (pulling blocks after a snapshot).  Nothing here waits
 * without a deadline: connects are driven by PQconnectPoll, statements are
 * sent with PQsendQueryParams, and both wait on the latch and the socket
 * with the time left.  The peer's session also gets statement_timeout, so
 * a slow peer gives up on its side too.  The file descriptor is reserved
 * with AcquireExternalFD, as libpq-be-fe-helpers.h does.
 *
 * src/common/remote.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"

#include "common/clock.h"
#include "common/conninfo.h"
#include "common/remote.h"

/* Milliseconds until deadline; ERROR 57014 when it has passed. */
static long
remote_remaining_ms(TimestampTz deadline, const char *what)
{
	TimestampTz now = OrderingClockNow();
	long ms = TimestampDifferenceMilliseconds(now, deadline);

	if (now >= deadline)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("timed out while %s", what)));
	return Max(ms, 1);
}

/* Waits for the socket (or the latch); ERROR at the deadline. */
static void
remote_wait(PGconn *conn, int io_flag, TimestampTz deadline, const char *what)
{
	long ms = remote_remaining_ms(deadline, what);
	int rc;

	rc = WaitLatchOrSocket(MyLatch,
						   WL_EXIT_ON_PM_DEATH | WL_LATCH_SET | WL_TIMEOUT |
							   io_flag,
						   PQsocket(conn), ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

PGconn *
OrderingRemoteConnect(const char *peer_conninfo, const char *own_user,
					  const char *application_name, int statement_timeout_ms,
					  TimestampTz deadline)
{
	OrderingConnParams params;
	char *timeout_option;
	PGconn *volatile conn;
	PostgresPollingStatusType status;

	timeout_option =
		psprintf("-c statement_timeout=%d", Max(statement_timeout_ms, 1));
	OrderingConnParamsInit(&params, peer_conninfo, own_user, application_name,
						   timeout_option);
	OrderingConnParamsSet(&params, "keepalives", "1");
	/* Text in results arrives in this database's encoding. */
	OrderingConnParamsSet(&params, "client_encoding", GetDatabaseEncodingName());

	if (!AcquireExternalFD())
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("could not establish connection"),
				 errdetail("There are too many open files on the local server.")));
	conn = PQconnectStartParams(params.keywords, params.values, 0);
	if (conn == NULL)
	{
		ReleaseExternalFD();
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}

	PG_TRY();
	{
		status = PGRES_POLLING_WRITING;
		while (PQstatus(conn) != CONNECTION_BAD &&
			   status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
		{
			remote_wait(conn,
						status == PGRES_POLLING_READING ? WL_SOCKET_READABLE
														: WL_SOCKET_WRITEABLE,
						deadline, "connecting to a peer");
			status = PQconnectPoll(conn);
		}
		if (PQstatus(conn) != CONNECTION_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to the peer"),
					 errdetail_internal("%s", pchomp(PQerrorMessage(conn)))));
	}
	PG_CATCH();
	{
		OrderingRemoteDisconnect(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

void
OrderingRemoteDisconnect(PGconn *conn)
{
	if (conn == NULL)
		return;
	PQfinish(conn);
	ReleaseExternalFD();
}

/* Raises a remote error with its SQLSTATE; clears res. */
static void
remote_report(PGresult *res, PGconn *conn, const char *peer)
{
	const char *sqlstate =
		res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary =
		res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail =
		res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint =
		res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	int code = ERRCODE_CONNECTION_FAILURE;
	char *message;
	char *detail_copy;
	char *hint_copy;

	if (sqlstate != NULL && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	message = pstrdup(primary ? primary : pchomp(PQerrorMessage(conn)));
	detail_copy = detail ? pstrdup(detail) : NULL;
	hint_copy = hint ? pstrdup(hint) : NULL;
	PQclear(res);
	ereport(ERROR,
			(errcode(code), errmsg("%s", message),
			 detail_copy
				 ? errdetail_internal("remote (node %s): %s", peer, detail_copy)
				 : errdetail_internal("raised on node %s", peer),
			 hint_copy ? errhint("%s", hint_copy) : 0));
}

/* Waits until a result can be read without blocking. */
static void
remote_wait_result(PGconn *conn, const char *peer, TimestampTz deadline)
{
	while (PQisBusy(conn))
	{
		remote_wait(conn, WL_SOCKET_READABLE, deadline,
					"waiting for a peer's answer");
		if (!PQconsumeInput(conn))
			remote_report(NULL, conn, peer);
	}
}

PGresult *
OrderingRemoteExec(PGconn *conn, const char *peer, const char *sql,
				   int n_params, const char *const *params, bool binary_result,
				   TimestampTz deadline)
{
	PGresult *last = NULL;
	PGresult *res;

	if (!PQsendQueryParams(conn, sql, n_params, NULL, params, NULL, NULL,
						   binary_result ? 1 : 0))
		remote_report(NULL, conn, peer);

	for (;;)
	{
		while (PQisBusy(conn))
		{
			remote_wait(conn, WL_SOCKET_READABLE, deadline,
						"waiting for a peer's answer");
			if (!PQconsumeInput(conn))
			{
				PQclear(last);
				remote_report(NULL, conn, peer);
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (last == NULL ||
		(PQresultStatus(last) != PGRES_TUPLES_OK &&
		 PQresultStatus(last) != PGRES_COMMAND_OK))
		remote_report(last, conn, peer);
	return last;
}

/* Hands one row to the callback; the row is cleared whatever happens. */
static pg_noinline void
remote_hand_row(PGresult *row, OrderingRemoteRowCallback callback, void *arg)
{
	PG_TRY();
	{
		callback(row, arg);
	}
	PG_CATCH();
	{
		PQclear(row);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQclear(row);
}

void
OrderingRemoteExecRows(PGconn *conn, const char *peer, const char *sql,
					   int n_params, const char *const *params,
					   bool binary_result, TimestampTz deadline,
					   OrderingRemoteRowCallback callback, void *arg)
{
	if (!PQsendQueryParams(conn, sql, n_params, NULL, params, NULL, NULL,
						   binary_result ? 1 : 0))
		remote_report(NULL, conn, peer);
	if (!PQsetSingleRowMode(conn))
		elog(ERROR, "could not read the answer of node %s row by row", peer);

	for (;;)
	{
		PGresult *res;

		remote_wait_result(conn, peer, deadline);
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		switch (PQresultStatus(res))
		{
			case PGRES_SINGLE_TUPLE:
				remote_hand_row(res, callback, arg);
				break;
			case PGRES_TUPLES_OK:
			case PGRES_COMMAND_OK:
				PQclear(res);
				break;
			default:
				remote_report(res, conn, peer);
		}
	}
}
