/*-------------------------------------------------------------------------
 *
 * transport_internal.h
 *	  What transport.c (peers, queues, envelopes) and
 *	  transport_connection.c (each peer's connection) share.
 *
 * src/worker/transport_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_TRANSPORT_INTERNAL_H
#define ORDERING_TRANSPORT_INTERNAL_H

#include "lib/ilist.h"
#include "libpq-fe.h"

#include "worker/transport.h"

/* Bytes of the last reported failure kept to suppress repeats. */
#define TRANSPORT_ERROR_MAX 512

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
	dlist_node node;
	char channel[NAMEDATALEN];
	OrderingRecordKind kind;
	bool has_block0;
	uint8 block0[ORDERING_ENVELOPE_BLOCK0_LEN];
	Size envelope_bytes; /* what it adds to an envelope */
	Size len;
	char data[FLEXIBLE_ARRAY_MEMBER];
} TransportRecord;

/*
 * deliver() is prepared once per session (no parse and plan per call).  A
 * session where preparing failed (no extension there yet, say) calls it
 * unprepared, and reports what that call says.
 */
typedef enum TransportPrepare
{
	TRANSPORT_PREPARE_NONE,
	TRANSPORT_PREPARE_SENT,
	TRANSPORT_PREPARE_DONE,
	TRANSPORT_PREPARE_FAILED
} TransportPrepare;

typedef struct TransportPeer
{
	char node[NAMEDATALEN]; /* hash key */
	char *conninfo;			/* NULL: not yet given */
	char *own_user;			/* the role this node logs in as there */
	TransportPeerState state;

	/* Records waiting for the next call, oldest first. */
	dlist_head queue;
	Size queued_bytes; /* sum of envelope_bytes */
	int queued_records;
	uint64 dropped_records; /* refused or lost, for debugging */
	bool queue_full;		/* reported once per episode */

	/* Valid only while conn != NULL. */
	PGconn *conn;
	pgsocket sock;
	PostgresPollingStatusType connect_poll; /* CONNECTING: what to wait for */
	bool flushing;			  /* BUSY: PQflush has more to send */
	bool call_ok;			  /* BUSY: the result seen so far is OK */
	int call_records;		  /* BUSY: records in the envelope */
	TransportPrepare prepare; /* the deliver() statement on this session */
	TimestampTz deadline;	  /* CONNECTING, BUSY: give up at */

	/* Reconnect (or recall) delay: 0 after a successful call. */
	int backoff_ms;
	TimestampTz retry_at;		/* BACKOFF: become IDLE at; READY: no call
								 * before (after a failed call) */
	TimestampTz early_retry_at; /* the last retry cut short: it called us */

	/* Where the socket is in the worker's wait set (-1: not there). */
	int event_pos;
	pgsocket event_sock;
	uint32 event_mask;

	/* The failure last logged; "" while all is well. */
	char last_error[TRANSPORT_ERROR_MAX];

	TimestampTz last_contact; /* last envelope received from it */
	TimestampTz last_queued;  /* last record queued for it */
} TransportPeer;

/* Set when a socket came or went, or the events it waits for changed. */
extern bool transport_wait_changed;

extern const char *TransportStateName(TransportPeerState state);

/* transport.c */
extern void TransportPeerClearQueue(TransportPeer *peer);
/* READY with records queued: sends one call with what fits an envelope. */
extern void TransportPeerSend(TransportPeer *peer, TimestampTz now);

/* transport_connection.c */
extern uint32 TransportPeerWantedEvents(const TransportPeer *peer);
extern void TransportPeerCheckWait(TransportPeer *peer);
extern void TransportPeerDisconnect(TransportPeer *peer);
extern void TransportPeerStartCall(TransportPeer *peer, const char *envelope,
								   int envelope_len, int count, TimestampTz now);
/*
 * Advances one peer: first what its socket events allow, then its timers,
 * then new work (connect or send) if records are queued.
 */
extern void
TransportPeerDrive(TransportPeer *peer, uint32 events, TimestampTz now);

#endif /* ORDERING_TRANSPORT_INTERNAL_H */
