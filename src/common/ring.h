/*-------------------------------------------------------------------------
 *
 * ring.h
 *	  A bounded ring of length-prefixed records in shared memory.
 *
 * src/common/ring.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_RING_H
#define ORDERING_RING_H

#include "lib/stringinfo.h"
#include "storage/lwlock.h"

/*
 * A ring of length-prefixed records in shared memory, guarded by its own
 * LWLock.  Records are copied in and out whole.
 */
typedef struct OrderingRing
{
	LWLock lock;
	Size capacity;	/* bytes of data[] */
	Size head;		/* next byte to read (mod capacity) */
	Size used;		/* bytes in use */
	uint64 dropped; /* records refused because full */
	char data[FLEXIBLE_ARRAY_MEMBER];
} OrderingRing;

extern Size OrderingRingShmemSize(Size capacity);
extern void OrderingRingInit(OrderingRing *ring, Size capacity, int tranche_id);
/* Pushes one record made of two parts; false (and dropped++) when full. */
extern bool OrderingRingPush(OrderingRing *ring, const void *part1, Size len1,
							 const void *part2, Size len2);
/* Pops one record into out (reset first); false when empty. */
extern bool OrderingRingPop(OrderingRing *ring, StringInfo out);

/*
 * The same, for a caller that holds ring->lock exclusively and keeps its
 * own accounting of the records under it (the submit queue's shares).
 */
extern bool OrderingRingPushLocked(OrderingRing *ring, const void *part1,
								   Size len1, const void *part2, Size len2);
extern bool OrderingRingPopLocked(OrderingRing *ring, StringInfo out);
/* Bytes of the ring a record of record_len bytes takes. */
extern Size OrderingRingRecordBytes(Size record_len);

#endif /* ORDERING_RING_H */
