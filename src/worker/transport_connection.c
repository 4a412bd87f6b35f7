/*-------------------------------------------------------------------------
 *
 * transport_connection.c
 *	  The state machine of one peer's libpq connection: non-blocking
 *	  connect, one call of ordering.deliver() at a time, failures and
 *	  backoff.
 *
 *	IDLE		no connection; one is started once records are queued
 *	CONNECTING	PQconnectPoll driven by socket readiness, as in
 *				libpq-be-fe-helpers.h, but without ever waiting here
 *	READY		connected, no call in flight
 *	BUSY		one "SELECT ordering.deliver($1, $2)" in flight: flushing
 *				(PQflush returned 1), then reading its result
 *	BACKOFF		the connection failed; retry after a delay that doubles
 *				from ordering.reconnect_min up to ordering.reconnect_max
 *
 * A call or connection attempt that makes no progress for
 * TRANSPORT_CALL_TIMEOUT_MS / TRANSPORT_CONNECT_TIMEOUT_MS fails, so a
 * peer that hangs or is partitioned away (no RST) is noticed.  Failures
 * are logged once per change of what went wrong, not once per message.
 *
 * src/worker/transport_connection.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "libpq-fe.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/timestamp.h"

#include "common/conninfo.h"
#include "common/gucs.h"
#include "worker/transport_internal.h"

/* A connection attempt that has not succeeded after this long fails. */
#define TRANSPORT_CONNECT_TIMEOUT_MS 5000

/* A call that makes no progress (no socket event) for this long fails. */
#define TRANSPORT_CALL_TIMEOUT_MS 5000

#define TRANSPORT_DELIVER_SQL "SELECT ordering.deliver($1, $2)"
#define TRANSPORT_DELIVER_STATEMENT "ordering_deliver"

const char *
TransportStateName(TransportPeerState state)
{
	switch (state)
	{
		case TRANSPORT_PEER_IDLE:
			return "idle";
		case TRANSPORT_PEER_CONNECTING:
			return "connecting";
		case TRANSPORT_PEER_READY:
			return "ready";
		case TRANSPORT_PEER_BUSY:
			return "busy";
		case TRANSPORT_PEER_BACKOFF:
			return "backoff";
	}
	return "unknown";
}

/* Copies a libpq message without its trailing newlines. */
static void
transport_copy_message(char *dst, Size dst_size, const char *message)
{
	size_t len;

	strlcpy(dst, message != NULL ? message : "", dst_size);
	len = strlen(dst);
	while (len > 0 && (dst[len - 1] == '\n' || dst[len - 1] == '\r'))
		dst[--len] = '\0';
}

/*
 * Returns true when this failure differs from the last one logged for the
 * peer, and remembers it: the caller logs only then.
 */
static bool
transport_peer_new_failure(TransportPeer *peer, const char *what,
						   const char *detail)
{
	char key[TRANSPORT_ERROR_MAX];

	snprintf(key, sizeof(key), "%s: %s", what, detail);
	if (strcmp(key, peer->last_error) == 0)
		return false;
	strlcpy(peer->last_error, key, sizeof(peer->last_error));
	return true;
}

/*
 * The wait events the peer's socket needs now, 0 if none.
 */
uint32
TransportPeerWantedEvents(const TransportPeer *peer)
{
	if (peer->conn == NULL || peer->sock == PGINVALID_SOCKET)
		return 0;

	switch (peer->state)
	{
		case TRANSPORT_PEER_CONNECTING:
			return peer->connect_poll == PGRES_POLLING_READING
				? WL_SOCKET_READABLE
				: WL_SOCKET_WRITEABLE;
		case TRANSPORT_PEER_READY:
			/* Notice the peer closing an idle connection. */
			return WL_SOCKET_READABLE;
		case TRANSPORT_PEER_BUSY:
			return peer->flushing ? (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE)
								  : WL_SOCKET_READABLE;
		case TRANSPORT_PEER_IDLE:
		case TRANSPORT_PEER_BACKOFF:
			break;
	}
	return 0;
}

/* Asks for a rebuild when what the set holds for the peer is outdated. */
void
TransportPeerCheckWait(TransportPeer *peer)
{
	uint32 mask = TransportPeerWantedEvents(peer);
	pgsocket sock = mask != 0 ? peer->sock : PGINVALID_SOCKET;

	if (mask != peer->event_mask || sock != peer->event_sock)
		transport_wait_changed = true;
}

/*
 * Closes the connection, if any, and gives back its file descriptor.  The
 * caller sets the next state.
 */
void
TransportPeerDisconnect(TransportPeer *peer)
{
	if (peer->conn != NULL)
	{
		PQfinish(peer->conn);
		ReleaseExternalFD();
		transport_wait_changed = true;
	}
	peer->conn = NULL;
	peer->sock = PGINVALID_SOCKET;
	peer->connect_poll = PGRES_POLLING_WRITING;
	peer->flushing = false;
	peer->call_ok = false;
	peer->dropped_records += peer->call_records;
	peer->call_records = 0;
	peer->deadline = 0;
	peer->prepare = TRANSPORT_PREPARE_NONE;
}

/*
 * Sets retry_at after a failure: the delay doubles from
 * ordering.reconnect_min up to ordering.reconnect_max.
 */
static void
transport_peer_backoff(TransportPeer *peer, TimestampTz now)
{
	int max_ms = Max(ordering_reconnect_max_ms, ordering_reconnect_min_ms);

	if (peer->backoff_ms <= 0)
		peer->backoff_ms = Max(ordering_reconnect_min_ms, 1);
	else if (peer->backoff_ms > max_ms / 2)
		peer->backoff_ms = max_ms;
	else
		peer->backoff_ms *= 2;
	peer->backoff_ms = Min(peer->backoff_ms, max_ms);
	peer->retry_at = TimestampTzPlusMilliseconds(now, peer->backoff_ms);
}

/*
 * The connection failed: log (once per kind of failure), close it, drop
 * what was queued for it and wait before the next attempt.
 */
static void
transport_peer_fail(TransportPeer *peer, TimestampTz now, const char *what,
					const char *detail)
{
	if (transport_peer_new_failure(peer, what, detail))
		ereport(LOG,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("%s ordering node \"%s\"", what, peer->node),
				 errdetail_internal("%s", detail)));

	TransportPeerDisconnect(peer);
	TransportPeerClearQueue(peer);
	transport_peer_backoff(peer, now);
	peer->state = TRANSPORT_PEER_BACKOFF;
}

/* As transport_peer_fail, with the connection's libpq error as detail. */
static void
transport_peer_fail_libpq(TransportPeer *peer, TimestampTz now, const char *what)
{
	char detail[TRANSPORT_ERROR_MAX];

	transport_copy_message(detail, sizeof(detail),
						   peer->conn != NULL ? PQerrorMessage(peer->conn)
											  : "out of memory");
	transport_peer_fail(peer, now, what, detail);
}

/* Remote notices (there should be none) only go to the debug log. */
static void
transport_notice_receiver(void *arg, const PGresult *result)
{
	const char *message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);

	ereport(DEBUG1,
			(errmsg_internal("notice from ordering node \"%s\": %s",
							 (const char *) arg,
							 message != NULL ? message : "")));
}

/*
 * The parameters of a connection to the peer (common/conninfo.c): the
 * allowed keywords of its conninfo, this node's role and credentials, the
 * pinned search_path.  False (with *error) when the conninfo does not
 * parse; nothing here may raise an ERROR in the worker's loop.
 */
static bool
transport_peer_params(TransportPeer *peer, OrderingConnParams *params,
					  char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	char application_name[NAMEDATALEN];
	char timeout[32];
	volatile bool ok = false;

	snprintf(application_name, sizeof(application_name), "ordering %s",
			 ordering_node_name);
	snprintf(timeout, sizeof(timeout), "%d",
			 Max(TRANSPORT_CONNECT_TIMEOUT_MS / 1000, 2));
	PG_TRY();
	{
		OrderingConnParamsInit(params, peer->conninfo, peer->own_user,
							   application_name, NULL);
		OrderingConnParamsSet(params, "connect_timeout", timeout);
		ok = true;
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*error = edata->message;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Starts a non-blocking connection: reserve a file descriptor, then
 * PQconnectStartParams with expand_dbname = 0.
 */
static void
transport_peer_start_connect(TransportPeer *peer, TimestampTz now)
{
	OrderingConnParams params;
	char *error = NULL;

	Assert(peer->conn == NULL && peer->conninfo != NULL);

	if (!transport_peer_params(peer, &params, &error))
	{
		transport_peer_fail(peer, now, "could not connect to", error);
		return;
	}
	if (!AcquireExternalFD())
	{
		transport_peer_fail(peer, now, "could not connect to",
							"There are too many open files on the local server.");
		return;
	}

	peer->conn = PQconnectStartParams(params.keywords, params.values, 0);
	if (peer->conn == NULL)
	{
		ReleaseExternalFD();
		transport_peer_fail(peer, now, "could not connect to", "out of memory");
		return;
	}
	PQsetNoticeReceiver(peer->conn, transport_notice_receiver, peer->node);

	/* A bad conninfo fails here, before there is a socket. */
	if (PQstatus(peer->conn) == CONNECTION_BAD)
	{
		transport_peer_fail_libpq(peer, now, "could not connect to");
		return;
	}

	/* Per PQconnectPoll's contract, first wait until writable. */
	peer->sock = PQsocket(peer->conn);
	peer->connect_poll = PGRES_POLLING_WRITING;
	peer->deadline =
		TimestampTzPlusMilliseconds(now, TRANSPORT_CONNECT_TIMEOUT_MS);
	peer->state = TRANSPORT_PEER_CONNECTING;
	transport_wait_changed = true;

	ereport(DEBUG1,
			(errmsg_internal("connecting to ordering node \"%s\"", peer->node)));
}

/* The socket is ready for what PQconnectPoll asked for: advance it. */
static void
transport_peer_continue_connect(TransportPeer *peer, TimestampTz now)
{
	PostgresPollingStatusType status;

	Assert(peer->state == TRANSPORT_PEER_CONNECTING && peer->conn != NULL);

	status = PQconnectPoll(peer->conn);

	/*
	 * libpq may have closed the socket and opened another (next address,
	 * SSL retry), possibly with the same number: the set must be rebuilt
	 * either way, because the old registration died with the old socket.
	 */
	peer->sock = PQsocket(peer->conn);
	transport_wait_changed = true;

	switch (status)
	{
		case PGRES_POLLING_OK:
			if (PQsetnonblocking(peer->conn, 1) != 0)
			{
				transport_peer_fail_libpq(peer, now, "could not connect to");
				return;
			}
			peer->state = TRANSPORT_PEER_READY;
			peer->deadline = 0;
			ereport(DEBUG1,
					(errmsg_internal("connected to ordering node \"%s\"",
									 peer->node)));
			break;
		case PGRES_POLLING_FAILED:
			transport_peer_fail_libpq(peer, now, "could not connect to");
			break;
		case PGRES_POLLING_READING:
		case PGRES_POLLING_WRITING:
			peer->connect_poll = status;
			break;
		default:
			/* PGRES_POLLING_ACTIVE is unused; treat it as "write". */
			peer->connect_poll = PGRES_POLLING_WRITING;
			break;
	}
}

/* One result of a call: remember whether it succeeded; report failures. */
static void
transport_peer_call_result(TransportPeer *peer, PGresult *result)
{
	ExecStatusType status = PQresultStatus(result);
	const char *sqlstate;
	const char *message;
	char detail[TRANSPORT_ERROR_MAX];
	int code;

	if (peer->prepare == TRANSPORT_PREPARE_SENT)
	{
		peer->prepare = status == PGRES_COMMAND_OK ? TRANSPORT_PREPARE_DONE
												   : TRANSPORT_PREPARE_FAILED;
		return;
	}
	if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
	{
		peer->call_ok = true;
		return;
	}

	peer->call_ok = false;
	sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
	message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
	if (message == NULL)
		message = PQresultErrorMessage(result);
	transport_copy_message(detail, sizeof(detail), message);

	if (sqlstate != NULL && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	else
		code = ERRCODE_CONNECTION_FAILURE;

	/* One report per SQLSTATE: messages may differ in sizes or names. */
	if (!transport_peer_new_failure(peer, "ordering.deliver() failed with",
									sqlstate != NULL ? sqlstate : detail))
		return;

	/*
	 * A peer shutting down or restarting (class 57, operator intervention;
	 * class 08, connection exception) is news, not a misconfiguration.
	 */
	ereport(sqlstate != NULL &&
					(strncmp(sqlstate, "57", 2) == 0 ||
					 strncmp(sqlstate, "08", 2) == 0)
				? LOG
				: WARNING,
			(errcode(code),
			 errmsg("ordering.deliver() failed on ordering node \"%s\"; its messages are dropped until it succeeds",
					peer->node),
			 errdetail_internal("%s", detail),
			 code == ERRCODE_INSUFFICIENT_PRIVILEGE
				 ? errhint("Grant role ordering_peer to role \"%s\" on node \"%s\": the role this node logs in as, the user of its own conninfo.",
						   peer->own_user != NULL ? peer->own_user : "",
						   peer->node)
				 : (code == ERRCODE_UNDEFINED_FUNCTION ||
					code == ERRCODE_INVALID_SCHEMA_NAME)
				 ? errhint("Run CREATE EXTENSION ordering in the database that the conninfo of node \"%s\" names.",
						   peer->node)
				 : 0));
}

/*
 * The call finished: the connection is free for the next one at once
 * after a success.  After a failure it is closed, and the next attempt
 * waits the backoff delay (a peer that refuses every call should not get
 * one per message, nor log an error for each in its own server log) and
 * logs in afresh: a session keeps the role it logged in as, and one
 * dropped and created again under the same name was refused on it for
 * good.
 */
static void
transport_peer_call_done(TransportPeer *peer, TimestampTz now)
{
	if (peer->prepare == TRANSPORT_PREPARE_SENT)
		peer->prepare = TRANSPORT_PREPARE_FAILED; /* no result at all */
	else if (peer->call_records == 0)
		; /* the statement was prepared (or not) */
	else if (peer->call_ok)
	{
		if (peer->last_error[0] != '\0')
			ereport(LOG,
					(errmsg("delivering messages to ordering node \"%s\" again",
							peer->node)));
		peer->last_error[0] = '\0';
		peer->backoff_ms = 0;
		peer->retry_at = 0;
		peer->queue_full = false;
	}
	else
	{
		TransportPeerDisconnect(peer);
		transport_peer_backoff(peer, now);
		peer->state = TRANSPORT_PEER_BACKOFF;
		return;
	}

	peer->call_records = 0;
	peer->call_ok = false;
	peer->flushing = false;
	peer->deadline = 0;
	peer->state = TRANSPORT_PEER_READY;
}

/*
 * Advances the call in flight: consume input when readable, flush what is
 * left to send, then collect results without blocking.
 */
static void
transport_peer_progress_call(TransportPeer *peer, uint32 events, TimestampTz now)
{
	PGconn *conn = peer->conn;

	Assert(peer->state == TRANSPORT_PEER_BUSY && conn != NULL);

	/* Any socket event is progress: the timeout is for a silent peer. */
	if (events != 0)
		peer->deadline =
			TimestampTzPlusMilliseconds(now, TRANSPORT_CALL_TIMEOUT_MS);

	if ((events & WL_SOCKET_READABLE) && PQconsumeInput(conn) == 0)
	{
		transport_peer_fail_libpq(peer, now, "lost connection to");
		return;
	}

	if (peer->flushing)
	{
		int rc = PQflush(conn);

		if (rc < 0)
		{
			transport_peer_fail_libpq(peer, now, "lost connection to");
			return;
		}
		peer->flushing = (rc > 0);
		if (peer->flushing)
			return;
	}

	/* Bounded: a call has one result, then NULL. */
	while (!PQisBusy(conn))
	{
		PGresult *result = PQgetResult(conn);

		if (result == NULL)
		{
			transport_peer_call_done(peer, now);
			break;
		}
		transport_peer_call_result(peer, result);
		PQclear(result);
	}

	/* A server going away answers FATAL and closes the socket. */
	if (peer->conn == conn && PQstatus(conn) == CONNECTION_BAD)
		transport_peer_fail_libpq(peer, now, "lost connection to");
}

/*
 * READY and the socket is readable: the peer closed the connection or sent
 * something unsolicited (a notice, a parameter change).
 */
static void
transport_peer_read_idle(TransportPeer *peer, TimestampTz now)
{
	PGresult *result;

	Assert(peer->state == TRANSPORT_PEER_READY && peer->conn != NULL);

	if (PQconsumeInput(peer->conn) == 0 || PQstatus(peer->conn) == CONNECTION_BAD)
	{
		transport_peer_fail_libpq(peer, now, "lost connection to");
		return;
	}
	/* No query is in flight, so there is no result to wait for. */
	while (!PQisBusy(peer->conn) && (result = PQgetResult(peer->conn)) != NULL)
		PQclear(result);
}

/* A fresh session prepares the deliver() statement first. */
static void
transport_peer_start_prepare(TransportPeer *peer, TimestampTz now)
{
	Oid types[2] = { TEXTOID, BYTEAOID };

	Assert(peer->state == TRANSPORT_PEER_READY && peer->conn != NULL);
	if (!PQsendPrepare(peer->conn, TRANSPORT_DELIVER_STATEMENT,
					   TRANSPORT_DELIVER_SQL, 2, types))
	{
		transport_peer_fail_libpq(peer, now, "lost connection to");
		return;
	}
	peer->prepare = TRANSPORT_PREPARE_SENT;
	peer->call_records = 0;
	peer->state = TRANSPORT_PEER_BUSY;
	peer->flushing = true;
	peer->call_ok = false;
	peer->deadline = TimestampTzPlusMilliseconds(now, TRANSPORT_CALL_TIMEOUT_MS);
	transport_peer_progress_call(peer, 0, now);
}

/*
 * Starts a call of ordering.deliver() with one envelope of count records;
 * libpq copies the envelope into its output buffer.
 */
void
TransportPeerStartCall(TransportPeer *peer, const char *envelope,
					   int envelope_len, int count, TimestampTz now)
{
	Oid types[2] = { TEXTOID, BYTEAOID };
	const char *values[2];
	int lengths[2];
	int formats[2] = { 0, 1 };
	int sent;

	Assert(peer->state == TRANSPORT_PEER_READY && peer->conn != NULL);

	values[0] = ordering_node_name;
	lengths[0] = 0;
	values[1] = envelope;
	lengths[1] = envelope_len;
	if (peer->prepare == TRANSPORT_PREPARE_DONE)
		sent = PQsendQueryPrepared(peer->conn, TRANSPORT_DELIVER_STATEMENT, 2,
								   values, lengths, formats, 0);
	else
		sent = PQsendQueryParams(peer->conn, TRANSPORT_DELIVER_SQL, 2, types,
								 values, lengths, formats, 0);

	peer->call_records = count;
	if (!sent)
	{
		transport_peer_fail_libpq(peer, now, "lost connection to");
		return;
	}

	peer->state = TRANSPORT_PEER_BUSY;
	peer->flushing = true;
	peer->call_ok = false;
	peer->deadline = TimestampTzPlusMilliseconds(now, TRANSPORT_CALL_TIMEOUT_MS);
	transport_peer_progress_call(peer, 0, now);
}

/*
 * Advances one peer: first what its socket events allow, then its timers,
 * then new work (connect or send) if records are queued.
 */
void
TransportPeerDrive(TransportPeer *peer, uint32 events, TimestampTz now)
{
	TransportPeerState entry_state = peer->state;

	events &= (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE);

	switch (peer->state)
	{
		case TRANSPORT_PEER_CONNECTING:
			if (events != 0)
				transport_peer_continue_connect(peer, now);
			break;
		case TRANSPORT_PEER_READY:
			if (events & WL_SOCKET_READABLE)
				transport_peer_read_idle(peer, now);
			break;
		case TRANSPORT_PEER_BUSY:
			if (events != 0)
				transport_peer_progress_call(peer, events, now);
			break;
		case TRANSPORT_PEER_IDLE:
		case TRANSPORT_PEER_BACKOFF:
			break;
	}

	/* Timers. */
	if (peer->state == TRANSPORT_PEER_CONNECTING && now >= peer->deadline)
	{
		char detail[TRANSPORT_ERROR_MAX];

		snprintf(detail, sizeof(detail),
				 "The connection attempt did not finish within %d ms.",
				 TRANSPORT_CONNECT_TIMEOUT_MS);
		transport_peer_fail(peer, now, "could not connect to", detail);
	}
	else if (peer->state == TRANSPORT_PEER_BUSY && now >= peer->deadline)
	{
		char detail[TRANSPORT_ERROR_MAX];

		snprintf(detail, sizeof(detail),
				 "No progress on a call of ordering.deliver() for %d ms.",
				 TRANSPORT_CALL_TIMEOUT_MS);
		transport_peer_fail(peer, now, "lost connection to", detail);
	}
	else if (peer->state == TRANSPORT_PEER_BACKOFF && now >= peer->retry_at)
		peer->state = TRANSPORT_PEER_IDLE;

	/* New work.  A failure here leaves the peer in BACKOFF. */
	if (peer->state == TRANSPORT_PEER_IDLE && peer->conninfo != NULL &&
		peer->queued_records > 0)
		transport_peer_start_connect(peer, now);
	if (peer->state == TRANSPORT_PEER_READY &&
		peer->prepare == TRANSPORT_PREPARE_NONE)
		transport_peer_start_prepare(peer, now);
	if (peer->state == TRANSPORT_PEER_READY && peer->queued_records > 0 &&
		now >= peer->retry_at)
		TransportPeerSend(peer, now);

	if (peer->state != entry_state)
		ereport(DEBUG2,
				(errmsg_internal("ordering node \"%s\": %s -> %s", peer->node,
								 TransportStateName(entry_state),
								 TransportStateName(peer->state))));
	TransportPeerCheckWait(peer);
}
