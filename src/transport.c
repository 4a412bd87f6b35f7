/*-------------------------------------------------------------------------
 *
 * transport.c
 *	  Messages between ordering workers over non-blocking libpq connections
 *	  (design §4).
 *
 * The worker keeps one peer entry per node name, in a hash table that lives
 * in this module's own memory context for the life of the worker.  An
 * entry's connection fields are valid only while conn != NULL and are reset
 * on each reconnect, like contrib/postgres_fdw/connection.c.  Each peer is a
 * small state machine:
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
 * Records queued for a peer wait in a bounded list (ordering.
 * peer_buffer_size); when the peer is READY every queued record, up to
 * ORDERING_ENVELOPE_TARGET_BYTES, goes into one envelope and one call.
 * Records queued while a call is in flight wait for the next call.  A call
 * that fails remotely drops its envelope, and the next call waits for the
 * backoff delay; a connection that fails drops the call and the queue.
 * Raft retries whatever was lost, so nothing here ever retries a message
 * or blocks.  A call or connection attempt that makes no progress for
 * TRANSPORT_CALL_TIMEOUT_MS / TRANSPORT_CONNECT_TIMEOUT_MS fails, so a
 * peer that hangs or is partitioned away (no RST) is noticed.
 *
 * Failures are logged once per change of what went wrong, not once per
 * message: a peer that is down for an hour costs a few log lines.
 *
 * The worker owns the WaitEventSet.  This module says when the set must be
 * rebuilt (a socket came or went, or the events a socket waits for
 * changed) and adds its sockets when asked.  WL_SOCKET_WRITEABLE is only
 * wanted while connecting or flushing, so an idle socket never makes the
 * worker spin.
 *
 * The receiving side: ordering.deliver() (sql_deliver.c) pushes each
 * envelope into the inbox ring; TransportReceive() pops and decodes them.
 *
 * Host names in conninfo strings are resolved by libpq synchronously while
 * connecting; use hostaddr (or IP addresses) to keep the worker from ever
 * waiting on DNS.
 *
 * src/transport.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/ilist.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "envelope.h"
#include "ordering.h"
#include "shmem.h"
#include "transport.h"

/* A connection attempt that has not succeeded after this long fails. */
#define TRANSPORT_CONNECT_TIMEOUT_MS 5000

/* A call that makes no progress (no socket event) for this long fails. */
#define TRANSPORT_CALL_TIMEOUT_MS 5000

/* Bound on the peer table, including nodes we only heard from. */
#define TRANSPORT_MAX_PEERS 1024

/* Bytes of the last reported failure kept to suppress repeats. */
#define TRANSPORT_ERROR_MAX 512

/* The inbox buffer is given back when a large envelope made it grow. */
#define TRANSPORT_INBOX_BUFFER_KEEP_BYTES (ORDERING_ENVELOPE_TARGET_BYTES * 2)

#define TRANSPORT_DELIVER_SQL "SELECT ordering.deliver($1, $2)"

typedef enum TransportPeerState
{
	TRANSPORT_PEER_IDLE,
	TRANSPORT_PEER_CONNECTING,
	TRANSPORT_PEER_READY,
	TRANSPORT_PEER_BUSY,
	TRANSPORT_PEER_BACKOFF
} TransportPeerState;

/* One queued record, in the peer's memory context. */
typedef struct TransportRecord
{
	dlist_node	node;
	char		channel[NAMEDATALEN];
	int			kind;
	Size		envelope_bytes; /* what it adds to an envelope */
	Size		len;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} TransportRecord;

typedef struct TransportPeer
{
	char		node[NAMEDATALEN];	/* hash key */
	char	   *conninfo;		/* NULL: a node we only heard from */
	TransportPeerState state;

	/* Records waiting for the next call, oldest first. */
	dlist_head	queue;
	Size		queued_bytes;	/* sum of envelope_bytes */
	int			queued_records;
	uint64		dropped_records;	/* refused or lost, for debugging */
	bool		queue_full;		/* reported once per episode */

	/* Valid only while conn != NULL. */
	PGconn	   *conn;
	pgsocket	sock;
	PostgresPollingStatusType connect_poll; /* CONNECTING: what to wait for */
	bool		flushing;		/* BUSY: PQflush has more to send */
	bool		call_ok;		/* BUSY: the result seen so far is OK */
	int			call_records;	/* BUSY: records in the envelope */
	TimestampTz deadline;		/* CONNECTING, BUSY: give up at */

	/* Reconnect (or recall) delay: 0 after a successful call. */
	int			backoff_ms;
	TimestampTz retry_at;		/* BACKOFF: become IDLE at; READY: no call
								 * before (after a failed call) */

	/* Where the socket is in the worker's wait set (-1: not there). */
	int			event_pos;
	pgsocket	event_sock;
	uint32		event_mask;

	/* The failure last logged; "" while all is well. */
	char		last_error[TRANSPORT_ERROR_MAX];

	TimestampTz last_contact;	/* last envelope received from it */
} TransportPeer;

static MemoryContext transport_context = NULL;
static MemoryContext transport_scratch_context = NULL;
static HTAB *transport_peers = NULL;
static bool transport_wait_changed = true;
static StringInfoData transport_inbox_buffer;

static TransportPeer *transport_peer_lookup(const char *node, bool create);
static void transport_peer_drive(TransportPeer *peer, uint32 events,
								 TimestampTz now);

static const char *
transport_state_name(TransportPeerState state)
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
	size_t		len;

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
	char		key[TRANSPORT_ERROR_MAX];

	snprintf(key, sizeof(key), "%s: %s", what, detail);
	if (strcmp(key, peer->last_error) == 0)
		return false;
	strlcpy(peer->last_error, key, sizeof(peer->last_error));
	return true;
}

/*
 * The wait events the peer's socket needs now, 0 if none.
 */
static uint32
transport_peer_wanted_events(const TransportPeer *peer)
{
	if (peer->conn == NULL || peer->sock == PGINVALID_SOCKET)
		return 0;

	switch (peer->state)
	{
		case TRANSPORT_PEER_CONNECTING:
			return peer->connect_poll == PGRES_POLLING_READING ?
				WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
		case TRANSPORT_PEER_READY:
			/* Notice the peer closing an idle connection. */
			return WL_SOCKET_READABLE;
		case TRANSPORT_PEER_BUSY:
			return peer->flushing ?
				(WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE) :
				WL_SOCKET_READABLE;
		case TRANSPORT_PEER_IDLE:
		case TRANSPORT_PEER_BACKOFF:
			break;
	}
	return 0;
}

/* Asks for a rebuild when what the set holds for the peer is outdated. */
static void
transport_peer_check_wait(TransportPeer *peer)
{
	uint32		mask = transport_peer_wanted_events(peer);
	pgsocket	sock = mask != 0 ? peer->sock : PGINVALID_SOCKET;

	if (mask != peer->event_mask || sock != peer->event_sock)
		transport_wait_changed = true;
}

/* Frees every queued record. */
static void
transport_peer_clear_queue(TransportPeer *peer)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &peer->queue)
	{
		TransportRecord *record = dlist_container(TransportRecord, node,
												  iter.cur);

		dlist_delete(&record->node);
		pfree(record);
	}
	peer->dropped_records += peer->queued_records;
	peer->queued_bytes = 0;
	peer->queued_records = 0;
	Assert(dlist_is_empty(&peer->queue));
}

/*
 * Closes the connection, if any, and gives back its file descriptor.  The
 * caller sets the next state.
 */
static void
transport_peer_disconnect(TransportPeer *peer)
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
}

/*
 * Sets retry_at after a failure: the delay doubles from
 * ordering.reconnect_min up to ordering.reconnect_max.
 */
static void
transport_peer_backoff(TransportPeer *peer, TimestampTz now)
{
	int			max_ms = Max(ordering_reconnect_max_ms,
							 ordering_reconnect_min_ms);

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

	transport_peer_disconnect(peer);
	transport_peer_clear_queue(peer);
	transport_peer_backoff(peer, now);
	peer->state = TRANSPORT_PEER_BACKOFF;
}

/* As transport_peer_fail, with the connection's libpq error as detail. */
static void
transport_peer_fail_libpq(TransportPeer *peer, TimestampTz now,
						  const char *what)
{
	char		detail[TRANSPORT_ERROR_MAX];

	transport_copy_message(detail, sizeof(detail),
						   peer->conn != NULL ? PQerrorMessage(peer->conn) :
						   "out of memory");
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
 * Starts a non-blocking connection: reserve a file descriptor, then
 * PQconnectStartParams with the peer's conninfo expanded in the middle so
 * that it can override connect_timeout but not application_name.
 */
static void
transport_peer_start_connect(TransportPeer *peer, TimestampTz now)
{
	const char *keywords[4];
	const char *values[4];
	char		timeout[32];
	char		application_name[NAMEDATALEN];

	Assert(peer->conn == NULL && peer->conninfo != NULL);

	if (!AcquireExternalFD())
	{
		transport_peer_fail(peer, now, "could not connect to",
							"There are too many open files on the local server.");
		return;
	}

	snprintf(timeout, sizeof(timeout), "%d",
			 Max(TRANSPORT_CONNECT_TIMEOUT_MS / 1000, 2));
	snprintf(application_name, sizeof(application_name), "ordering %s",
			 ordering_node_name);
	keywords[0] = "connect_timeout";
	values[0] = timeout;
	keywords[1] = "dbname";
	values[1] = peer->conninfo;
	keywords[2] = "application_name";
	values[2] = application_name;
	keywords[3] = NULL;
	values[3] = NULL;

	peer->conn = PQconnectStartParams(keywords, values, 1);
	if (peer->conn == NULL)
	{
		ReleaseExternalFD();
		transport_peer_fail(peer, now, "could not connect to",
							"out of memory");
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
	peer->deadline = TimestampTzPlusMilliseconds(now,
												 TRANSPORT_CONNECT_TIMEOUT_MS);
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
	char		detail[TRANSPORT_ERROR_MAX];
	int			code;

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
			(strncmp(sqlstate, "57", 2) == 0 || strncmp(sqlstate, "08", 2) == 0) ?
			LOG : WARNING,
			(errcode(code),
			 errmsg("ordering.deliver() failed on ordering node \"%s\"; its messages are dropped until it succeeds",
					peer->node),
			 errdetail_internal("%s", detail),
			 code == ERRCODE_INSUFFICIENT_PRIVILEGE ?
			 errhint("Grant role ordering_peer to the user that the conninfo of node \"%s\" names.",
					 peer->node) :
			 (code == ERRCODE_UNDEFINED_FUNCTION ||
			  code == ERRCODE_INVALID_SCHEMA_NAME) ?
			 errhint("Run CREATE EXTENSION ordering in the database that the conninfo of node \"%s\" names.",
					 peer->node) : 0));
}

/*
 * The call finished: the connection is free for the next one, at once
 * after a success, after the backoff delay after a failure (a peer that
 * refuses every call should not get one per message, nor log an error for
 * each in its own server log).
 */
static void
transport_peer_call_done(TransportPeer *peer, TimestampTz now)
{
	if (peer->call_ok)
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
		peer->dropped_records += peer->call_records;
		transport_peer_backoff(peer, now);
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
transport_peer_progress_call(TransportPeer *peer, uint32 events,
							 TimestampTz now)
{
	PGconn	   *conn = peer->conn;

	Assert(peer->state == TRANSPORT_PEER_BUSY && conn != NULL);

	/* Any socket event is progress: the timeout is for a silent peer. */
	if (events != 0)
		peer->deadline = TimestampTzPlusMilliseconds(now,
													 TRANSPORT_CALL_TIMEOUT_MS);

	if ((events & WL_SOCKET_READABLE) && PQconsumeInput(conn) == 0)
	{
		transport_peer_fail_libpq(peer, now, "lost connection to");
		return;
	}

	if (peer->flushing)
	{
		int			rc = PQflush(conn);

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
		PGresult   *result = PQgetResult(conn);

		if (result == NULL)
		{
			transport_peer_call_done(peer, now);
			break;
		}
		transport_peer_call_result(peer, result);
		PQclear(result);
	}

	/* A server going away answers FATAL and closes the socket. */
	if (PQstatus(conn) == CONNECTION_BAD)
		transport_peer_fail_libpq(peer, now, "lost connection to");
}

/*
 * READY and the socket is readable: the peer closed the connection or sent
 * something unsolicited (a notice, a parameter change).
 */
static void
transport_peer_read_idle(TransportPeer *peer, TimestampTz now)
{
	PGresult   *result;

	Assert(peer->state == TRANSPORT_PEER_READY && peer->conn != NULL);

	if (PQconsumeInput(peer->conn) == 0 ||
		PQstatus(peer->conn) == CONNECTION_BAD)
	{
		transport_peer_fail_libpq(peer, now, "lost connection to");
		return;
	}
	/* No query is in flight, so there is no result to wait for. */
	while (!PQisBusy(peer->conn) && (result = PQgetResult(peer->conn)) != NULL)
		PQclear(result);
}

/*
 * Sends one call with every queued record that fits in one envelope.
 */
static void
transport_peer_send(TransportPeer *peer, TimestampTz now)
{
	MemoryContext old_context;
	StringInfoData envelope;
	Oid			types[2] = {TEXTOID, BYTEAOID};
	const char *values[2];
	int			lengths[2];
	int			formats[2] = {0, 1};
	int			count = 0;
	int			sent;

	Assert(peer->state == TRANSPORT_PEER_READY && peer->conn != NULL);
	Assert(peer->queued_records > 0);

	old_context = MemoryContextSwitchTo(transport_scratch_context);
	initStringInfo(&envelope);
	EnvelopeBegin(&envelope, ordering_node_name);
	while (!dlist_is_empty(&peer->queue) &&
		   count < ORDERING_ENVELOPE_MAX_RECORDS)
	{
		TransportRecord *record = dlist_head_element(TransportRecord, node,
													 &peer->queue);

		/* The first record goes whatever its size; the rest must fit. */
		if (count > 0 &&
			envelope.len + record->envelope_bytes >
			ORDERING_ENVELOPE_TARGET_BYTES)
			break;

		EnvelopeAddRecord(&envelope, record->channel, record->kind,
						  record->data, record->len);
		dlist_pop_head_node(&peer->queue);
		Assert(peer->queued_bytes >= record->envelope_bytes);
		peer->queued_bytes -= record->envelope_bytes;
		peer->queued_records--;
		pfree(record);
		count++;
	}
	EnvelopeFinish(&envelope, count);
	Assert(peer->queued_records > 0 || peer->queued_bytes == 0);

	values[0] = ordering_node_name;
	lengths[0] = 0;
	values[1] = envelope.data;
	lengths[1] = envelope.len;

	/* libpq copies the parameters into its output buffer. */
	sent = PQsendQueryParams(peer->conn, TRANSPORT_DELIVER_SQL, 2, types,
							 values, lengths, formats, 0);
	MemoryContextSwitchTo(old_context);
	MemoryContextReset(transport_scratch_context);

	peer->call_records = count;
	if (!sent)
	{
		transport_peer_fail_libpq(peer, now, "lost connection to");
		return;
	}

	peer->state = TRANSPORT_PEER_BUSY;
	peer->flushing = true;
	peer->call_ok = false;
	peer->deadline = TimestampTzPlusMilliseconds(now,
												 TRANSPORT_CALL_TIMEOUT_MS);
	transport_peer_progress_call(peer, 0, now);
}

/*
 * Advances one peer: first what its socket events allow, then its timers,
 * then new work (connect or send) if records are queued.
 */
static void
transport_peer_drive(TransportPeer *peer, uint32 events, TimestampTz now)
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
		char		detail[TRANSPORT_ERROR_MAX];

		snprintf(detail, sizeof(detail),
				 "The connection attempt did not finish within %d ms.",
				 TRANSPORT_CONNECT_TIMEOUT_MS);
		transport_peer_fail(peer, now, "could not connect to", detail);
	}
	else if (peer->state == TRANSPORT_PEER_BUSY && now >= peer->deadline)
	{
		char		detail[TRANSPORT_ERROR_MAX];

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
	if (peer->state == TRANSPORT_PEER_READY && peer->queued_records > 0 &&
		now >= peer->retry_at)
		transport_peer_send(peer, now);

	if (peer->state != entry_state)
		ereport(DEBUG2,
				(errmsg_internal("ordering node \"%s\": %s -> %s", peer->node,
								 transport_state_name(entry_state),
								 transport_state_name(peer->state))));
	transport_peer_check_wait(peer);
}

/*
 * Finds a peer, optionally creating it.  Returns NULL when it does not exist
 * (or the table is full).
 */
static TransportPeer *
transport_peer_lookup(const char *node, bool create)
{
	TransportPeer *peer;
	bool		found;

	Assert(transport_peers != NULL);
	if (node == NULL || node[0] == '\0' || strlen(node) >= NAMEDATALEN)
		return NULL;

	if (!create)
		return (TransportPeer *) hash_search(transport_peers, node, HASH_FIND,
											 NULL);

	if (hash_get_num_entries(transport_peers) >= TRANSPORT_MAX_PEERS)
	{
		peer = (TransportPeer *) hash_search(transport_peers, node, HASH_FIND,
											 NULL);
		if (peer == NULL)
			ereport(LOG,
					(errmsg("ordering transport knows too many nodes; ignoring node \"%s\"",
							node)));
		return peer;
	}

	peer = (TransportPeer *) hash_search(transport_peers, node, HASH_ENTER,
										 &found);
	if (!found)
	{
		/* hash_search copied the key; everything else starts empty. */
		peer->conninfo = NULL;
		peer->state = TRANSPORT_PEER_IDLE;
		dlist_init(&peer->queue);
		peer->queued_bytes = 0;
		peer->queued_records = 0;
		peer->dropped_records = 0;
		peer->queue_full = false;
		peer->conn = NULL;
		peer->sock = PGINVALID_SOCKET;
		peer->connect_poll = PGRES_POLLING_WRITING;
		peer->flushing = false;
		peer->call_ok = false;
		peer->call_records = 0;
		peer->deadline = 0;
		peer->backoff_ms = 0;
		peer->retry_at = 0;
		peer->event_pos = -1;
		peer->event_sock = PGINVALID_SOCKET;
		peer->event_mask = 0;
		peer->last_error[0] = '\0';
		peer->last_contact = 0;
	}
	return peer;
}

/*
 * The latest conninfo given for a node wins.  A working connection is kept
 * and the new conninfo is used from the next connection on; one that is not
 * working (connecting, or its calls fail) is closed and the next attempt,
 * with the new conninfo, comes as soon as the current backoff delay allows.
 * Neither the delay nor the failure last logged is reset, so that two
 * channels spelling the same node's conninfo differently can make it
 * neither reconnect on every message nor log on every message.
 */
static void
transport_peer_set_conninfo(TransportPeer *peer, const char *conninfo)
{
	bool		working;

	working = (peer->state == TRANSPORT_PEER_READY ||
			   peer->state == TRANSPORT_PEER_BUSY) &&
		peer->last_error[0] == '\0';

	if (peer->conninfo != NULL)
	{
		pfree(peer->conninfo);
		ereport(DEBUG1,
				(errmsg_internal("conninfo of ordering node \"%s\" changed%s",
								 peer->node,
								 working ? "; keeping the working connection" : "")));
	}
	peer->conninfo = MemoryContextStrdup(transport_context, conninfo);
	if (working || peer->state == TRANSPORT_PEER_IDLE ||
		peer->state == TRANSPORT_PEER_BACKOFF)
		return;

	/* BACKOFF ends at retry_at, which is in the past unless calls failed. */
	transport_peer_disconnect(peer);
	peer->state = TRANSPORT_PEER_BACKOFF;
	transport_peer_check_wait(peer);
}

void
TransportInit(void)
{
	HASHCTL		ctl;

	if (transport_peers != NULL)
		return;

	transport_context = AllocSetContextCreate(TopMemoryContext,
											  "ordering transport",
											  ALLOCSET_DEFAULT_SIZES);
	transport_scratch_context = AllocSetContextCreate(transport_context,
													  "ordering transport envelope",
													  ALLOCSET_DEFAULT_SIZES);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(TransportPeer);
	ctl.hcxt = transport_context;
	transport_peers = hash_create("ordering transport peers", 64, &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	transport_inbox_buffer.data = NULL;
	transport_wait_changed = true;
}

void
TransportShutdown(void)
{
	HASH_SEQ_STATUS status;
	TransportPeer *peer;

	if (transport_peers == NULL)
		return;

	hash_seq_init(&status, transport_peers);
	while ((peer = (TransportPeer *) hash_seq_search(&status)) != NULL)
		transport_peer_disconnect(peer);

	/* Queues, conninfo strings and the table all live in the context. */
	MemoryContextDelete(transport_context);
	transport_context = NULL;
	transport_scratch_context = NULL;
	transport_peers = NULL;
	transport_inbox_buffer.data = NULL;
	transport_wait_changed = true;
}

bool
TransportSend(const char *node, const char *conninfo, const char *channel,
			  int kind, const void *data, Size len)
{
	TransportPeer *peer;
	TransportRecord *record;
	Size		envelope_bytes;
	Size		limit_bytes;

	Assert(transport_peers != NULL);
	Assert(kind >= 1 && kind <= ORDERING_RECORD_KIND_MAX);
	Assert(len == 0 || data != NULL);

	if (channel == NULL || channel[0] == '\0' ||
		strlen(channel) >= NAMEDATALEN)
		elog(ERROR, "invalid ordering channel name for node \"%s\"", node);

	peer = transport_peer_lookup(node, true);
	if (peer == NULL)
		return false;

	if (conninfo != NULL &&
		(peer->conninfo == NULL || strcmp(peer->conninfo, conninfo) != 0))
		transport_peer_set_conninfo(peer, conninfo);

	envelope_bytes = EnvelopeRecordSize(channel, len);
	limit_bytes = (Size) ordering_peer_buffer_kb * 1024;

	/*
	 * An empty queue takes any record that fits an envelope, so a record
	 * larger than the buffer still gets through; otherwise the buffer bounds
	 * the queue.
	 */
	if (envelope_bytes >
		ORDERING_ENVELOPE_MAX_BYTES - ORDERING_ENVELOPE_HEADER_MAX ||
		(peer->queued_records > 0 &&
		 peer->queued_bytes + envelope_bytes > limit_bytes))
	{
		peer->dropped_records++;
		if (!peer->queue_full)
		{
			peer->queue_full = true;
			ereport(DEBUG1,
					(errmsg_internal("queue for ordering node \"%s\" is full (%s, %d records); dropping messages",
									 peer->node,
									 transport_state_name(peer->state),
									 peer->queued_records)));
		}
		return false;
	}

	record = (TransportRecord *)
		MemoryContextAlloc(transport_context,
						   offsetof(TransportRecord, data) + len);
	strlcpy(record->channel, channel, sizeof(record->channel));
	record->kind = kind;
	record->envelope_bytes = envelope_bytes;
	record->len = len;
	if (len > 0)
		memcpy(record->data, data, len);
	dlist_push_tail(&peer->queue, &record->node);
	peer->queued_bytes += envelope_bytes;
	peer->queued_records++;
	return true;
}

void
TransportForgetPeer(const char *node)
{
	TransportPeer *peer;

	Assert(transport_peers != NULL);
	peer = transport_peer_lookup(node, false);
	if (peer == NULL)
		return;

	transport_peer_disconnect(peer);
	transport_peer_clear_queue(peer);
	if (peer->conninfo != NULL)
		pfree(peer->conninfo);
	peer->conninfo = NULL;
	hash_search(transport_peers, node, HASH_REMOVE, NULL);
	transport_wait_changed = true;
}

void
TransportPoll(void)
{
	HASH_SEQ_STATUS status;
	TransportPeer *peer;
	TimestampTz now;

	Assert(transport_peers != NULL);
	now = GetCurrentTimestamp();

	hash_seq_init(&status, transport_peers);
	while ((peer = (TransportPeer *) hash_seq_search(&status)) != NULL)
		transport_peer_drive(peer, 0, now);
}

int
TransportMaxWaitEvents(void)
{
	if (transport_peers == NULL)
		return 0;
	return (int) hash_get_num_entries(transport_peers);
}

bool
TransportWaitSetChanged(void)
{
	return transport_wait_changed;
}

void
TransportAddWaitEvents(WaitEventSet *set)
{
	HASH_SEQ_STATUS status;
	TransportPeer *peer;

	Assert(transport_peers != NULL);

	hash_seq_init(&status, transport_peers);
	while ((peer = (TransportPeer *) hash_seq_search(&status)) != NULL)
	{
		uint32		mask = transport_peer_wanted_events(peer);

		peer->event_pos = -1;
		peer->event_sock = PGINVALID_SOCKET;
		peer->event_mask = 0;
		if (mask == 0)
			continue;

		peer->event_pos = AddWaitEventToSet(set, mask, peer->sock, NULL, NULL);
		peer->event_sock = peer->sock;
		peer->event_mask = mask;
	}
	transport_wait_changed = false;
}

void
TransportHandleEvent(const WaitEvent *event)
{
	HASH_SEQ_STATUS status;
	TransportPeer *peer;
	TransportPeer *target = NULL;

	Assert(transport_peers != NULL);
	if ((event->events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE)) == 0)
		return;

	/*
	 * Match position and socket: an event from a set built before the
	 * socket changed belongs to nobody.
	 */
	hash_seq_init(&status, transport_peers);
	while ((peer = (TransportPeer *) hash_seq_search(&status)) != NULL)
	{
		if (peer->event_pos == event->pos && peer->event_sock == event->fd &&
			peer->sock == event->fd && peer->conn != NULL)
		{
			target = peer;
			hash_seq_term(&status);
			break;
		}
	}

	if (target != NULL)
		transport_peer_drive(target, event->events, GetCurrentTimestamp());
}

long
TransportNextTimeoutMs(void)
{
	HASH_SEQ_STATUS status;
	TransportPeer *peer;
	TimestampTz now;
	long		timeout_ms = -1;

	if (transport_peers == NULL)
		return -1;
	now = GetCurrentTimestamp();

	hash_seq_init(&status, transport_peers);
	while ((peer = (TransportPeer *) hash_seq_search(&status)) != NULL)
	{
		long		peer_ms = -1;

		switch (peer->state)
		{
			case TRANSPORT_PEER_IDLE:
				if (peer->conninfo != NULL && peer->queued_records > 0)
					peer_ms = 0;
				break;
			case TRANSPORT_PEER_READY:
				if (peer->queued_records > 0)
					peer_ms = TimestampDifferenceMilliseconds(now,
															  peer->retry_at);
				break;
			case TRANSPORT_PEER_BACKOFF:
				if (peer->queued_records > 0)
					peer_ms = TimestampDifferenceMilliseconds(now,
															  peer->retry_at);
				break;
			case TRANSPORT_PEER_CONNECTING:
			case TRANSPORT_PEER_BUSY:
				peer_ms = TimestampDifferenceMilliseconds(now, peer->deadline);
				break;
		}
		if (peer_ms >= 0 && (timeout_ms < 0 || peer_ms < timeout_ms))
			timeout_ms = peer_ms;
	}
	return timeout_ms;
}

/*
 * Decodes one inbox record (the sender's name, NUL, the envelope) and hands
 * out its records.  A malformed one is logged and dropped.
 */
static void
transport_receive_one(const char *data, Size len,
					  TransportRecordCallback callback, void *arg)
{
	const char *nul = memchr(data, '\0', Min(len, NAMEDATALEN));
	const char *from_node = data;
	const char *envelope;
	Size		envelope_len;
	OrderingEnvelopeReader reader;
	OrderingEnvelopeRecord record;
	const char *error = NULL;
	TransportPeer *peer;

	if (nul == NULL || nul == data)
	{
		ereport(LOG,
				(errmsg("dropped an ordering inbox record without a sender name")));
		return;
	}
	envelope = nul + 1;
	envelope_len = len - (envelope - data);

	/* deliver() checked it already; check again rather than trust shmem. */
	if (!EnvelopeValidate(envelope, envelope_len, NULL, NULL, &error) ||
		!EnvelopeReadHeader(&reader, envelope, envelope_len, &error))
	{
		ereport(LOG,
				(errmsg("dropped a malformed ordering envelope from node \"%s\": %s",
						from_node, error)));
		return;
	}
	if (strcmp(reader.from_node, from_node) != 0)
	{
		ereport(LOG,
				(errmsg("dropped an ordering envelope from node \"%s\" delivered as node \"%s\"",
						reader.from_node, from_node)));
		return;
	}

	peer = transport_peer_lookup(from_node, true);
	if (peer != NULL)
	{
		peer->last_contact = GetCurrentTimestamp();

		/*
		 * (worker, issue 4) It talks to us, so it is up again: reconnect
		 * now rather than after the rest of the backoff.
		 */
		if (peer->state == TRANSPORT_PEER_BACKOFF)
		{
			peer->retry_at = peer->last_contact;
			peer->backoff_ms = 0;
		}
	}

	/* The callback may send or forget peers: hold no peer pointer now. */
	while (EnvelopeNext(&reader, &record, &error))
		callback(arg, from_node, record.channel, record.kind, record.data,
				 record.len);
	Assert(error == NULL);
}

void
TransportReceive(TransportRecordCallback callback, void *arg)
{
	OrderingRing *inbox;
	Size		budget_bytes;
	Size		consumed_bytes = 0;
	bool		more = false;

	Assert(transport_peers != NULL);
	if (ordering_shared == NULL || ordering_shared->inbox_ring == NULL)
		return;
	inbox = ordering_shared->inbox_ring;

	if (transport_inbox_buffer.data == NULL)
	{
		MemoryContext old_context = MemoryContextSwitchTo(transport_context);

		initStringInfo(&transport_inbox_buffer);
		MemoryContextSwitchTo(old_context);
	}

	/*
	 * Take at most one ring's worth per call, so that busy senders cannot
	 * keep the worker here; if we stop early, make sure we come back.
	 */
	budget_bytes = inbox->capacity;
	for (;;)
	{
		if (consumed_bytes >= budget_bytes)
		{
			more = true;
			break;
		}
		if (!OrderingRingPop(inbox, &transport_inbox_buffer))
			break;
		consumed_bytes += sizeof(uint32) + transport_inbox_buffer.len;
		transport_receive_one(transport_inbox_buffer.data,
							  transport_inbox_buffer.len, callback, arg);
	}

	if (transport_inbox_buffer.maxlen > TRANSPORT_INBOX_BUFFER_KEEP_BYTES)
	{
		pfree(transport_inbox_buffer.data);
		transport_inbox_buffer.data = NULL;
	}
	if (more)
		SetLatch(MyLatch);
}

TimestampTz
TransportLastContact(const char *node)
{
	TransportPeer *peer;

	if (transport_peers == NULL)
		return 0;
	peer = transport_peer_lookup(node, false);
	return peer != NULL ? peer->last_contact : 0;
}
