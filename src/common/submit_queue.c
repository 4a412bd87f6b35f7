/*-------------------------------------------------------------------------
 *
 * submit_queue.c
 *	  The submit ring with fair shares.
 *
 * Every submitted transaction waits in one ring for the worker.  Without
 * shares, one busy channel (or one backend looping over submit_tx_async)
 * could fill it and make every other submitter wait behind it.  So a push
 * is admitted only while its channel holds at most half of the ring and
 * SUBMIT_CHANNEL_MAX_RECORDS, and its backend at most a quarter and half
 * as many records, counting the new record; a channel or a backend that
 * holds nothing is always admitted if the record fits, so a transaction
 * larger than a share still gets in on its own.  A refused submitter
 * waits, as for a full ring, while the others still get in.
 *
 * The record cap keeps submitters from running far ahead of the worker,
 * whose work is per transaction.  A backlog of more than a pass or two
 * adds latency, not throughput; and while it lasts, submit_tx_async
 * callers never sleep: 64 of them looping on one server (100,000 small
 * transactions fit in half the default ring) took the CPU from the worker
 * and from the backends that carry the peers' messages, and the other
 * nodes, hearing nothing for an election timeout, elected new leaders for
 * the busy node's quiet channels (TAP 097).  Capped, they wait on
 * queue_cv most of the time, as waiting submitters do.
 *
 * Each record names its channel's share slot and its backend, so popping
 * it gives the bytes back to exactly the shares it took, also when the
 * backend has exited in the meantime.  A backend id is reused by the next
 * backend that gets it, which then shares what is still queued under it
 * until the worker has taken it.
 *
 * Record: a SubmitRecordHeader (share slots, the submitter's give-up
 * time), "channel\0tx_id\0", then the payload, whose length is what
 * remains of the record.
 *
 * src/common/submit_queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/submit_queue.h"

typedef struct SubmitRecordHeader
{
	uint32 channel_slot;
	uint32 backend_slot;
	TimestampTz give_up_at;
} SubmitRecordHeader;

/*
 * Most records one channel may hold: about what one pass of the worker
 * takes (WORKER_MAX_SUBMITS_PER_ITERATION).  A backend may hold half.
 */
#define SUBMIT_CHANNEL_MAX_RECORDS 2048

#define SUBMIT_HEADER_MAX_BYTES                                               \
	(sizeof(SubmitRecordHeader) + ORDERING_NAME_MAX + ORDERING_TX_ID_MAX)

Size
OrderingSubmitQueueShmemSize(Size capacity, int n_channel_slots,
							 int n_backend_slots)
{
	Size size = MAXALIGN(sizeof(OrderingSubmitQueue));

	size = add_size(size,
					MAXALIGN(mul_size(n_channel_slots,
									  sizeof(SubmitChannelShare))));
	size = add_size(size,
					MAXALIGN(mul_size(n_backend_slots, sizeof(SubmitShare))));
	return add_size(size, OrderingRingShmemSize(capacity));
}

OrderingSubmitQueue *
OrderingSubmitQueueInit(void *place, Size capacity, int n_channel_slots,
						int n_backend_slots, int tranche_id)
{
	OrderingSubmitQueue *queue = place;
	char *cursor = (char *) place + MAXALIGN(sizeof(OrderingSubmitQueue));

	Assert(n_channel_slots > 0 && n_backend_slots > 0);
	queue->channel_share.bytes = capacity / 2;
	queue->channel_share.records = SUBMIT_CHANNEL_MAX_RECORDS;
	queue->backend_share.bytes = capacity / 4;
	queue->backend_share.records = SUBMIT_CHANNEL_MAX_RECORDS / 2;
	queue->n_channel_slots = n_channel_slots;
	queue->n_backend_slots = n_backend_slots;
	queue->channels = (SubmitChannelShare *) cursor;
	memset(queue->channels, 0, n_channel_slots * sizeof(SubmitChannelShare));
	cursor += MAXALIGN(n_channel_slots * sizeof(SubmitChannelShare));
	queue->backends = (SubmitShare *) cursor;
	memset(queue->backends, 0, n_backend_slots * sizeof(SubmitShare));
	cursor += MAXALIGN(n_backend_slots * sizeof(SubmitShare));
	queue->ring = (OrderingRing *) cursor;
	OrderingRingInit(queue->ring, capacity, tranche_id);
	return queue;
}

Size
OrderingSubmitRecordBytes(const char *channel, const char *tx_id,
						  Size payload_len)
{
	return OrderingRingRecordBytes(sizeof(SubmitRecordHeader) + strlen(channel) +
								   1 + strlen(tx_id) + 1 + payload_len);
}

/*
 * The channel's slot (ring lock held): the one holding its records, else a
 * free one; -1 when every slot holds another channel's records.
 */
static int
submit_channel_slot(const OrderingSubmitQueue *queue, const char *channel)
{
	int free_slot = -1;

	for (int i = 0; i < queue->n_channel_slots; i++)
	{
		const SubmitChannelShare *share = &queue->channels[i];

		if (share->channel[0] == '\0')
		{
			if (free_slot < 0)
				free_slot = i;
		}
		else if (strcmp(share->channel, channel) == 0)
			return i;
	}
	return free_slot;
}

/* May an owner holding used of a share of limit take a record of needed? */
static bool
submit_share_admits(const SubmitShare *used, Size needed,
					const SubmitShare *limit)
{
	return used->records == 0 ||
		(used->bytes + needed <= limit->bytes && used->records < limit->records);
}

/* Takes (sign 1) or gives back (sign -1) one record of bytes. */
static void
submit_share_count(SubmitShare *share, Size bytes, int sign)
{
	if (sign > 0)
	{
		share->bytes += bytes;
		share->records++;
		return;
	}
	Assert(share->bytes >= bytes && share->records > 0);
	share->bytes -= Min(share->bytes, bytes);
	share->records -= Min(share->records, 1);
}

/* Processes without a BackendId, and ids out of range, share the last slot. */
static int
submit_backend_slot(const OrderingSubmitQueue *queue, int backend_id)
{
	if (backend_id < 1 || backend_id >= queue->n_backend_slots)
		return queue->n_backend_slots - 1;
	return backend_id - 1;
}

bool
OrderingSubmitQueuePush(OrderingSubmitQueue *queue, int backend_id,
						const SubmitRecord *record)
{
	const char *channel = record->channel;
	const char *tx_id = record->tx_id;
	Size channel_len = strlen(channel);
	Size tx_id_len = strlen(tx_id);
	char header[SUBMIT_HEADER_MAX_BYTES];
	Size header_len =
		sizeof(SubmitRecordHeader) + channel_len + 1 + tx_id_len + 1;
	Size needed = OrderingSubmitRecordBytes(channel, tx_id, record->payload_len);
	SubmitRecordHeader fixed;
	SubmitChannelShare *share;
	int channel_slot;
	bool pushed = false;

	Assert(channel_len > 0 && channel_len < ORDERING_NAME_MAX);
	Assert(tx_id_len > 0 && tx_id_len < ORDERING_TX_ID_MAX);
	Assert(header_len <= sizeof(header));

	fixed.backend_slot = (uint32) submit_backend_slot(queue, backend_id);
	fixed.give_up_at = record->give_up_at;
	LWLockAcquire(&queue->ring->lock, LW_EXCLUSIVE);
	channel_slot = submit_channel_slot(queue, channel);
	if (channel_slot >= 0)
	{
		share = &queue->channels[channel_slot];
		if (submit_share_admits(&share->used, needed, &queue->channel_share) &&
			submit_share_admits(&queue->backends[fixed.backend_slot], needed,
								&queue->backend_share))
		{
			fixed.channel_slot = (uint32) channel_slot;
			memcpy(header, &fixed, sizeof(fixed));
			memcpy(header + sizeof(fixed), channel, channel_len + 1);
			memcpy(header + sizeof(fixed) + channel_len + 1, tx_id,
				   tx_id_len + 1);
			pushed =
				OrderingRingPushLocked(queue->ring, header, header_len,
									   record->payload, record->payload_len);
		}
		if (pushed)
		{
			if (share->used.records == 0)
				strlcpy(share->channel, channel, sizeof(share->channel));
			submit_share_count(&share->used, needed, 1);
			submit_share_count(&queue->backends[fixed.backend_slot], needed, 1);
		}
	}
	LWLockRelease(&queue->ring->lock);
	return pushed;
}

/* Gives a popped record back to its shares (ring lock held). */
static void
submit_release_shares(OrderingSubmitQueue *queue,
					  const SubmitRecordHeader *fixed, Size bytes)
{
	SubmitChannelShare *share;

	if (fixed->channel_slot >= (uint32) queue->n_channel_slots ||
		fixed->backend_slot >= (uint32) queue->n_backend_slots)
		elog(ERROR, "submit queue record with share slots %u/%u out of range",
			 fixed->channel_slot, fixed->backend_slot);
	share = &queue->channels[fixed->channel_slot];
	submit_share_count(&share->used, bytes, -1);
	if (share->used.records == 0)
		share->channel[0] = '\0';
	submit_share_count(&queue->backends[fixed->backend_slot], bytes, -1);
}

bool
OrderingSubmitQueuePop(OrderingSubmitQueue *queue, StringInfo buf,
					   SubmitRecord *record)
{
	SubmitRecordHeader fixed;
	const char *end;
	const char *names;
	const char *channel_end;
	const char *tx_id_end;

	/* Only OrderingSubmitQueuePush writes records; checked all the same. */
	LWLockAcquire(&queue->ring->lock, LW_EXCLUSIVE);
	if (!OrderingRingPopLocked(queue->ring, buf))
	{
		LWLockRelease(&queue->ring->lock);
		return false;
	}
	if (buf->len < (int) sizeof(fixed))
		elog(ERROR, "malformed submit record of %d bytes", buf->len);
	memcpy(&fixed, buf->data, sizeof(fixed));
	submit_release_shares(queue, &fixed, OrderingRingRecordBytes(buf->len));
	LWLockRelease(&queue->ring->lock);

	end = buf->data + buf->len;
	names = buf->data + sizeof(fixed);
	channel_end = memchr(names, '\0', end - names);
	if (channel_end == NULL)
		elog(ERROR, "malformed submit record: no channel terminator");
	tx_id_end = memchr(channel_end + 1, '\0', end - (channel_end + 1));
	if (tx_id_end == NULL)
		elog(ERROR, "malformed submit record: no transaction id terminator");

	record->channel = names;
	record->tx_id = channel_end + 1;
	record->payload = tx_id_end + 1;
	record->payload_len = end - (tx_id_end + 1);
	record->give_up_at = fixed.give_up_at;
	return true;
}
