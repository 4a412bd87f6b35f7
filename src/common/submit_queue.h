/*-------------------------------------------------------------------------
 *
 * submit_queue.h
 *	  The submit ring with fair shares: what backends hand the worker to
 *	  order, of which one channel may hold at most half and one backend at
 *	  most a quarter, and at most 2,048 and 1,024 transactions.
 *
 * src/common/submit_queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SUBMIT_QUEUE_H
#define ORDERING_SUBMIT_QUEUE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include "common/limits.h"
#include "common/ring.h"

/* What the records of one owner (a channel, a backend) hold of the ring. */
typedef struct SubmitShare
{
	Size bytes;
	int records;
} SubmitShare;

typedef struct SubmitChannelShare
{
	char channel[ORDERING_NAME_MAX]; /* "" while the slot is free */
	SubmitShare used;
} SubmitChannelShare;

/*
 * In shared memory; the ring's lock guards the shares as well, so that a
 * record and its accounting always change together.
 */
typedef struct OrderingSubmitQueue
{
	OrderingRing *ring;
	SubmitShare channel_share; /* half of the ring, 2,048 records */
	SubmitShare backend_share; /* a quarter of the ring, 1,024 records */
	int n_channel_slots;
	int n_backend_slots;
	SubmitChannelShare *channels; /* n_channel_slots */
	SubmitShare *backends;		  /* n_backend_slots: by BackendId */
} OrderingSubmitQueue;

extern Size OrderingSubmitQueueShmemSize(Size capacity, int n_channel_slots,
										 int n_backend_slots);
/* Lays the queue out at place (OrderingSubmitQueueShmemSize bytes). */
extern OrderingSubmitQueue *
OrderingSubmitQueueInit(void *place, Size capacity, int n_channel_slots,
						int n_backend_slots, int tranche_id);

/*
 * One submitted transaction.  give_up_at is when its submitter stops
 * waiting (its session's ordering.submit_timeout): until then the worker
 * keeps a copy to route again.
 */
typedef struct SubmitRecord
{
	const char *channel;
	const char *tx_id;
	const char *payload;
	Size payload_len;
	TimestampTz give_up_at;
} SubmitRecord;

/*
 * Pushes a transaction for the worker as backend backend_id (a BackendId).
 * Returns false when the ring is full, or when the channel or the backend
 * already holds its share; the caller waits and retries, as for a full ring.
 */
extern bool OrderingSubmitQueuePush(OrderingSubmitQueue *queue, int backend_id,
									const SubmitRecord *record);
/* Worker: pops one record; false when empty.  Pointers are into buf. */
extern bool OrderingSubmitQueuePop(OrderingSubmitQueue *queue, StringInfo buf,
								   SubmitRecord *record);
/* Bytes of the ring one transaction takes (at most the whole ring). */
extern Size OrderingSubmitRecordBytes(const char *channel, const char *tx_id,
									  Size payload_len);

#endif /* ORDERING_SUBMIT_QUEUE_H */
