/*-------------------------------------------------------------------------
 *
 * submit_queue.h
 *	  The submit ring with fair shares: what backends hand the worker to
 *	  order, of which one channel may hold at most half (and at most
 *	  256 kB) and one backend at most half of its channel's share.
 *
 * src/common/submit_queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SUBMIT_QUEUE_H
#define ORDERING_SUBMIT_QUEUE_H

#include "lib/stringinfo.h"

#include "common/limits.h"
#include "common/ring.h"

/* Bytes of the ring held by the records of one channel. */
typedef struct SubmitChannelShare
{
	char channel[ORDERING_NAME_MAX]; /* "" while the slot is free */
	Size used_bytes;
} SubmitChannelShare;

/*
 * In shared memory; the ring's lock guards the shares as well, so that a
 * record and its accounting always change together.
 */
typedef struct OrderingSubmitQueue
{
	OrderingRing *ring;
	Size channel_share_bytes; /* half of the ring, at most 256 kB */
	Size backend_share_bytes; /* half of channel_share_bytes */
	int n_channel_slots;
	int n_backend_slots;
	SubmitChannelShare *channels; /* n_channel_slots */
	Size *backends;				  /* n_backend_slots: bytes by BackendId */
} OrderingSubmitQueue;

extern Size OrderingSubmitQueueShmemSize(Size capacity, int n_channel_slots,
										 int n_backend_slots);
/* Lays the queue out at place (OrderingSubmitQueueShmemSize bytes). */
extern OrderingSubmitQueue *
OrderingSubmitQueueInit(void *place, Size capacity, int n_channel_slots,
						int n_backend_slots, int tranche_id);

/*
 * Pushes a transaction for the worker as backend backend_id (a BackendId).
 * Returns false when the ring is full, or when the channel or the backend
 * already holds its share; the caller waits and retries, as for a full ring.
 */
extern bool OrderingSubmitQueuePush(OrderingSubmitQueue *queue, int backend_id,
									const char *channel, const char *tx_id,
									const char *payload, Size payload_len);
/* Worker: pops one record; false when empty.  Pointers are into buf. */
extern bool OrderingSubmitQueuePop(OrderingSubmitQueue *queue, StringInfo buf,
								   const char **channel, const char **tx_id,
								   const char **payload, Size *payload_len);
/* Bytes of the ring one transaction takes (at most the whole ring). */
extern Size OrderingSubmitRecordBytes(const char *channel, const char *tx_id,
									  Size payload_len);

#endif /* ORDERING_SUBMIT_QUEUE_H */
