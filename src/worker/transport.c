/*-------------------------------------------------------------------------
 *
 * transport.c
 *	  Messages between ordering workers over non-blocking libpq connections
 *	  (see README.md, "How the transport works").
 *
 * This file holds the table of peers (one entry per node name, in this
 * module's own memory context for the life of the worker), their queues,
 * the envelopes built from them and the receiving side;
 * transport_connection.c drives each peer's connection, a small state
 * machine (IDLE, CONNECTING, READY, BUSY, BACKOFF).  An entry's connection
 * fields are valid only while conn != NULL and are reset on each
 * reconnect, like contrib/postgres_fdw/connection.c.
 *
 * Records queued for a peer wait in a bounded list (ordering.
 * peer_buffer_size); when the peer is READY every queued record, up to
 * ORDERING_ENVELOPE_TARGET_BYTES, goes into one envelope and one call.
 * Records queued while a call is in flight wait for the next call.  A call
 * that fails remotely drops its envelope, and the next call waits for the
 * backoff delay; a connection that fails drops the call and the queue.
 * Raft retries whatever was lost, so nothing here ever retries a message
 * or blocks.
 *
 * The worker owns the WaitEventSet.  This module says when the set must be
 * rebuilt (a socket came or went, or the events a socket waits for
 * changed) and adds its sockets when asked.  WL_SOCKET_WRITEABLE is only
 * wanted while connecting or flushing, so an idle socket never makes the
 * worker spin.
 *
 * The receiving side: ordering.deliver() (sql/deliver.c) pushes each
 * envelope into the inbox ring; TransportReceive() pops and decodes them.
 *
 * Host names in conninfo strings are resolved by libpq synchronously while
 * connecting; use hostaddr (or IP addresses) to keep the worker from ever
 * waiting on DNS.
 *
 * src/worker/transport.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "common/clock.h"
#include "common/envelope.h"
#include "common/gucs.h"
#include "common/shmem.h"
#include "worker/transport_internal.h"

/* Bound on the peer table, including nodes we only heard from. */
#define TRANSPORT_MAX_PEERS 1024

/*
 * The inbox buffer is given back when a large envelope made it grow: kept
 * at up to two full envelopes (16 MiB), it stayed with the worker for good
 * after one burst of large transactions (TAP 095).  Growing it again costs
 * a copy per doubling, little next to applying what such envelopes carry.
 */
#define TRANSPORT_INBOX_BUFFER_KEEP_BYTES (1024 * 1024)

static MemoryContext transport_context = NULL;
static MemoryContext transport_scratch_context = NULL;
static HTAB *transport_peers = NULL;
static StringInfoData transport_inbox_buffer;

/* Whether the worker must rebuild its wait set (transport_internal.h). */
bool transport_wait_changed = true;

/* Frees every queued record. */
void
TransportPeerClearQueue(TransportPeer *peer)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &peer->queue)
	{
		TransportRecord *record =
			dlist_container(TransportRecord, node, iter.cur);

		dlist_delete(&record->node);
		pfree(record);
	}
	peer->dropped_records += peer->queued_records;
	peer->queued_bytes = 0;
	peer->queued_records = 0;
	Assert(dlist_is_empty(&peer->queue));
}

/*
 * Sends one call with every queued record that fits in one envelope.
 */
void
TransportPeerSend(TransportPeer *peer, TimestampTz now)
{
	MemoryContext old_context;
	StringInfoData envelope;
	int count = 0;

	Assert(peer->state == TRANSPORT_PEER_READY && peer->conn != NULL);
	Assert(peer->queued_records > 0);

	old_context = MemoryContextSwitchTo(transport_scratch_context);
	initStringInfo(&envelope);
	EnvelopeBegin(&envelope, ordering_node_name);
	while (!dlist_is_empty(&peer->queue) && count < ORDERING_ENVELOPE_MAX_RECORDS)
	{
		TransportRecord *record =
			dlist_head_element(TransportRecord, node, &peer->queue);

		/* The first record goes whatever its size; the rest must fit. */
		if (count > 0 &&
			envelope.len + record->envelope_bytes >
				ORDERING_ENVELOPE_TARGET_BYTES)
			break;

		EnvelopeAddRecord(&envelope, record->channel, record->kind,
						  record->has_block0 ? record->block0 : NULL,
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

	MemoryContextSwitchTo(old_context);
	TransportPeerStartCall(peer, envelope.data, envelope.len, count, now);
	MemoryContextReset(transport_scratch_context);
}

/*
 * Finds a peer, optionally creating it.  Returns NULL when it does not exist
 * (or the table is full).
 */
static TransportPeer *
transport_peer_lookup(const char *node, bool create)
{
	TransportPeer *peer;
	bool found;

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
		peer->own_user = NULL;
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
		peer->prepare = TRANSPORT_PREPARE_NONE;
		peer->deadline = 0;
		peer->backoff_ms = 0;
		peer->retry_at = 0;
		peer->early_retry_at = 0;
		peer->event_pos = -1;
		peer->event_sock = PGINVALID_SOCKET;
		peer->event_mask = 0;
		peer->last_error[0] = '\0';
		peer->last_contact = 0;
		peer->last_queued = 0;
	}
	return peer;
}

/*
 * The latest conninfo (and own role) given for a node wins, from the next
 * connection on.  A working connection is kept, and so is an attempt under
 * way: it ends within the connect timeout, and if it fails the next one
 * uses the new conninfo.  Closing an attempt at each change would never
 * connect while two channels name the node differently (one of them not
 * yet given update_consenter): a leader of both sends for each on every
 * tick, faster than an attempt completes.  A connection whose calls fail
 * is closed, and the next attempt comes as soon as the current backoff
 * delay allows.  Neither the delay nor the failure last logged is reset,
 * so that such channels make it neither reconnect nor log on every
 * message.
 */
static void
transport_peer_set_conninfo(TransportPeer *peer, const char *conninfo,
							const char *own_user)
{
	bool working;

	working = (peer->state == TRANSPORT_PEER_READY ||
			   peer->state == TRANSPORT_PEER_BUSY) &&
		peer->last_error[0] == '\0';

	if (peer->conninfo != NULL)
	{
		pfree(peer->conninfo);
		ereport(DEBUG1,
				(errmsg_internal("conninfo of ordering node \"%s\" changed%s",
								 peer->node,
								 working ? "; keeping the working connection"
										 : "")));
	}
	peer->conninfo = MemoryContextStrdup(transport_context, conninfo);
	if (peer->own_user != NULL)
		pfree(peer->own_user);
	peer->own_user = own_user != NULL
		? MemoryContextStrdup(transport_context, own_user)
		: NULL;
	if (working || peer->state == TRANSPORT_PEER_IDLE ||
		peer->state == TRANSPORT_PEER_CONNECTING ||
		peer->state == TRANSPORT_PEER_BACKOFF)
		return;

	/* BACKOFF ends at retry_at, which is in the past unless calls failed. */
	TransportPeerDisconnect(peer);
	peer->state = TRANSPORT_PEER_BACKOFF;
	TransportPeerCheckWait(peer);
}

void
TransportInit(void)
{
	HASHCTL ctl;

	if (transport_peers != NULL)
		return;

	transport_context =
		AllocSetContextCreate(TopMemoryContext, "ordering transport",
							  ALLOCSET_DEFAULT_SIZES);
	transport_scratch_context =
		AllocSetContextCreate(transport_context, "ordering transport envelope",
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
		TransportPeerDisconnect(peer);

	/* Queues, conninfo strings and the table all live in the context. */
	MemoryContextDelete(transport_context);
	transport_context = NULL;
	transport_scratch_context = NULL;
	transport_peers = NULL;
	transport_inbox_buffer.data = NULL;
	transport_wait_changed = true;
}

/* Whether a and b, either of which may be NULL, differ. */
static bool
transport_strings_differ(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

bool
TransportSend(const char *node, const char *conninfo, const char *own_user,
			  const char *channel, const uint8 *block0,
			  OrderingRecordKind kind, const void *data, Size len)
{
	TransportPeer *peer;
	TransportRecord *record;
	Size envelope_bytes;
	Size limit_bytes;

	Assert(transport_peers != NULL);
	Assert(kind >= 1 && kind <= ORDERING_RECORD_KIND_MAX);
	Assert(len == 0 || data != NULL);

	if (channel == NULL || channel[0] == '\0' || strlen(channel) >= NAMEDATALEN)
		elog(ERROR, "invalid ordering channel name for node \"%s\"", node);

	peer = transport_peer_lookup(node, true);
	if (peer == NULL)
		return false;

	if (conninfo != NULL &&
		(transport_strings_differ(peer->conninfo, conninfo) ||
		 transport_strings_differ(peer->own_user, own_user)))
		transport_peer_set_conninfo(peer, conninfo, own_user);

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
									 peer->node, TransportStateName(peer->state),
									 peer->queued_records)));
		}
		return false;
	}

	record =
		(TransportRecord *) MemoryContextAlloc(transport_context,
											   offsetof(TransportRecord, data) +
												   len);
	strlcpy(record->channel, channel, sizeof(record->channel));
	record->kind = kind;
	record->has_block0 = block0 != NULL;
	if (block0 != NULL)
		memcpy(record->block0, block0, sizeof(record->block0));
	record->envelope_bytes = envelope_bytes;
	record->len = len;
	if (len > 0)
		memcpy(record->data, data, len);
	dlist_push_tail(&peer->queue, &record->node);
	peer->queued_bytes += envelope_bytes;
	peer->queued_records++;
	peer->last_queued = OrderingClockNow();
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

	TransportPeerDisconnect(peer);
	TransportPeerClearQueue(peer);
	if (peer->conninfo != NULL)
		pfree(peer->conninfo);
	if (peer->own_user != NULL)
		pfree(peer->own_user);
	peer->conninfo = NULL;
	peer->own_user = NULL;
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
	now = OrderingClockNow();

	hash_seq_init(&status, transport_peers);
	while ((peer = (TransportPeer *) hash_seq_search(&status)) != NULL)
		TransportPeerDrive(peer, 0, now);
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
		uint32 mask = TransportPeerWantedEvents(peer);

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
		TransportPeerDrive(target, event->events, OrderingClockNow());
}

long
TransportNextTimeoutMs(void)
{
	HASH_SEQ_STATUS status;
	TransportPeer *peer;
	TimestampTz now;
	long timeout_ms = -1;

	if (transport_peers == NULL)
		return -1;
	now = OrderingClockNow();

	hash_seq_init(&status, transport_peers);
	while ((peer = (TransportPeer *) hash_seq_search(&status)) != NULL)
	{
		long peer_ms = -1;

		switch (peer->state)
		{
			case TRANSPORT_PEER_IDLE:
				if (peer->conninfo != NULL && peer->queued_records > 0)
					peer_ms = 0;
				break;
			case TRANSPORT_PEER_READY:
				if (peer->queued_records > 0)
					peer_ms =
						TimestampDifferenceMilliseconds(now, peer->retry_at);
				break;
			case TRANSPORT_PEER_BACKOFF:
				if (peer->queued_records > 0)
					peer_ms =
						TimestampDifferenceMilliseconds(now, peer->retry_at);
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
 * Decodes one inbox record (the sender's name, NUL, the session user's
 * name, NUL, the envelope) and hands out its records.  A malformed one is
 * logged and dropped.
 */
static void
transport_receive_one(const char *data, Size len,
					  TransportRecordCallback callback, void *arg)
{
	const char *from_node = data;
	const char *from_end = memchr(data, '\0', Min(len, NAMEDATALEN));
	const char *role;
	const char *role_end = NULL;
	const char *envelope;
	Size envelope_len;
	OrderingEnvelopeReader reader;
	OrderingEnvelopeRecord record;
	const char *error = NULL;
	TransportPeer *peer;

	if (from_end != NULL && from_end != data)
	{
		role = from_end + 1;
		role_end = memchr(role, '\0', Min(len - (role - data), NAMEDATALEN));
	}
	if (role_end == NULL || role_end == role)
	{
		ereport(LOG,
				(errmsg(
					"dropped an ordering inbox record without a sender or role name")));
		return;
	}
	envelope = role_end + 1;
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

	/* Only a node some channel already needs has a peer entry. */
	peer = transport_peer_lookup(from_node, false);
	if (peer != NULL)
	{
		peer->last_contact = OrderingClockNow();

		/*
		 * It talks to us, so it is up again: reconnect now rather than
		 * after the rest of the backoff, once per ordering.reconnect_max
		 * at most, the backoff kept.  A peer that is up and refuses our
		 * login (a changed password, a dropped role) talks to us all the
		 * same: resetting the backoff at each of its envelopes made ten
		 * attempts a second, each a backend and a FATAL in its log.
		 */
		if (peer->state == TRANSPORT_PEER_BACKOFF &&
			peer->last_contact - peer->early_retry_at >=
				(int64) Max(ordering_reconnect_max_ms, ordering_reconnect_min_ms) *
					1000)
		{
			peer->early_retry_at = peer->last_contact;
			peer->retry_at = peer->last_contact;
		}
	}

	/* The callback may send or forget peers: hold no peer pointer now. */
	while (EnvelopeNext(&reader, &record, &error))
		callback(arg, from_node, role, record.channel, record.kind,
				 record.block0, record.data, record.len);
	Assert(error == NULL);
}

void
TransportReceive(TransportRecordCallback callback, void *arg)
{
	OrderingRing *inbox;
	Size budget_bytes;
	Size consumed_bytes = 0;
	bool more = false;

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

/* A known peer, or NULL (also before TransportInit). */
static const TransportPeer *
transport_known_peer(const char *node)
{
	return transport_peers != NULL ? transport_peer_lookup(node, false) : NULL;
}

TimestampTz
TransportLastContact(const char *node)
{
	const TransportPeer *peer = transport_known_peer(node);

	return peer != NULL ? peer->last_contact : 0;
}

const char *
TransportLinkError(const char *node)
{
	const TransportPeer *peer = transport_known_peer(node);

	return peer != NULL ? peer->last_error : "";
}

TimestampTz
TransportLastQueued(const char *node)
{
	const TransportPeer *peer = transport_known_peer(node);

	return peer != NULL ? peer->last_queued : 0;
}
