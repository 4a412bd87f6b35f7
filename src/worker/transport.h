/*-------------------------------------------------------------------------
 *
 * transport.h
 *	  Messages between ordering workers, carried over libpq (see README.md, "How the transport works").
 *
 * Each worker keeps one non-blocking libpq connection per peer node,
 * shared by all channels, and calls ordering.deliver(from_node, messages)
 * on it.  deliver() runs in an ordinary backend on the peer, checks the
 * ordering_peer role, pushes the bytes into the inbox ring and wakes the
 * worker.  Messages are one-way and may be lost: Raft retries.
 *
 * Records queued for one peer are batched into one envelope per call;
 * while a call is in flight, new records wait for the next one.  A peer's
 * queue is bounded (ordering.peer_buffer_size): beyond it records are
 * dropped.  Nothing here blocks.
 *
 * src/worker/transport.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_TRANSPORT_H
#define ORDERING_TRANSPORT_H

#include "datatype/timestamp.h"
#include "storage/latch.h"

#include "common/envelope.h"

/*
 * Called for each record received, by TransportReceive.  from_node is the
 * node the envelope claims to come from, session_role the role that
 * called deliver() (the identity PostgreSQL authenticated); the callback
 * checks one against the other for the record's channel, and block0
 * (ORDERING_ENVELOPE_BLOCK0_LEN bytes) against the channel's block 0.  All pointers
 * are into the envelope being read: valid only during the call.  The
 * callback may call TransportSend and TransportForgetPeer.
 */
typedef void (*TransportRecordCallback)(void *arg, const char *from_node,
										const char *session_role,
										const char *channel,
										OrderingRecordKind kind,
										const uint8 *block0, const char *data,
										Size len);

/* Worker start and exit. */
extern void TransportInit(void);
extern void TransportShutdown(void);

/*
 * Queue one record for node, whose connection string is conninfo, to be
 * delivered logged in as own_user, the role this node connects as (the
 * latest conninfo and role given for a node win; a change closes a
 * connection that does not work and reconnects, within the backoff delay;
 * a working connection is kept and the next one uses the new ones).
 * Callers name only members of their channels, so the peer table never
 * holds a node nobody needs.  Returns false when the record was dropped
 * because the peer's queue is full.  The record is copied.  block0 is the
 * hash of the channel's block 0 here (ORDERING_ENVELOPE_BLOCK0_LEN bytes),
 * or NULL when this node has none.
 */
extern bool
TransportSend(const char *node, const char *conninfo, const char *own_user,
			  const char *channel, const uint8 *block0,
			  OrderingRecordKind kind, const void *data, Size len);

/* Forget a peer no channel needs any more; closes its connection. */
extern void TransportForgetPeer(const char *node);

/*
 * Drive every connection without blocking: start or continue connects
 * (with exponential backoff between ordering.reconnect_min and _max),
 * send queued envelopes, consume results.  Call each loop iteration.
 */
extern void TransportPoll(void);

/*
 * The worker owns one WaitEventSet: the latch, postmaster death, then the
 * transport's sockets.  When TransportWaitSetChanged() is true the worker
 * frees and rebuilds its set, calling TransportAddWaitEvents() for the
 * sockets; TransportHandleEvent() takes each fired socket event.
 */
extern int TransportMaxWaitEvents(void);
extern bool TransportWaitSetChanged(void);
extern void TransportAddWaitEvents(WaitEventSet *set);
extern void TransportHandleEvent(const WaitEvent *event);
/* Milliseconds until the transport needs TransportPoll again; -1: none. */
extern long TransportNextTimeoutMs(void);

/* Pop every envelope from the inbox and hand out its records. */
extern void TransportReceive(TransportRecordCallback callback, void *arg);

/* Last time a message from node was received; 0 if never. */
extern TimestampTz TransportLastContact(const char *node);
/* The failure calls to node last met, "" while they go through. */
extern const char *TransportLinkError(const char *node);
/* Last time a record for node was queued; 0 if never. */
extern TimestampTz TransportLastQueued(const char *node);

#endif /* ORDERING_TRANSPORT_H */
