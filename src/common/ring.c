/*-------------------------------------------------------------------------
 *
 * ring.c
 *	  A bounded ring of length-prefixed records in shared memory.
 *
 * Each record is a uint32 length followed by that many bytes; both may wrap
 * around the end of data[].  Records are copied in and out whole under the
 * ring's own LWLock, so producers (backends) and the consumer (the worker)
 * never see half a record.  A push that does not fit is refused at once
 * and counted in "dropped": nothing here ever waits for space.
 *
 * src/common/ring.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/ring.h"

#define RING_LENGTH_PREFIX_BYTES sizeof(uint32)

Size
OrderingRingShmemSize(Size capacity)
{
	return add_size(offsetof(OrderingRing, data), capacity);
}

void
OrderingRingInit(OrderingRing *ring, Size capacity, int tranche_id)
{
	Assert(capacity > RING_LENGTH_PREFIX_BYTES);
	LWLockInitialize(&ring->lock, tranche_id);
	ring->capacity = capacity;
	ring->head = 0;
	ring->used = 0;
	ring->dropped = 0;
}

/* Copies len bytes into the ring at offset (mod capacity), wrapping. */
static void
ring_copy_in(OrderingRing *ring, Size offset, const void *src, Size len)
{
	Size start = offset % ring->capacity;
	Size first = Min(len, ring->capacity - start);

	Assert(len <= ring->capacity);
	memcpy(ring->data + start, src, first);
	if (len > first)
		memcpy(ring->data, (const char *) src + first, len - first);
}

/* Copies len bytes out of the ring from offset (mod capacity), wrapping. */
static void
ring_copy_out(const OrderingRing *ring, Size offset, void *dst, Size len)
{
	Size start = offset % ring->capacity;
	Size first = Min(len, ring->capacity - start);

	Assert(len <= ring->capacity);
	memcpy(dst, ring->data + start, first);
	if (len > first)
		memcpy((char *) dst + first, ring->data, len - first);
}

Size
OrderingRingRecordBytes(Size record_len)
{
	return RING_LENGTH_PREFIX_BYTES + record_len;
}

bool
OrderingRingPush(OrderingRing *ring, const void *part1, Size len1,
				 const void *part2, Size len2)
{
	bool pushed;

	LWLockAcquire(&ring->lock, LW_EXCLUSIVE);
	pushed = OrderingRingPushLocked(ring, part1, len1, part2, len2);
	LWLockRelease(&ring->lock);
	return pushed;
}

bool
OrderingRingPushLocked(OrderingRing *ring, const void *part1, Size len1,
					   const void *part2, Size len2)
{
	Size record_len = len1 + len2;
	Size needed = OrderingRingRecordBytes(record_len);
	uint32 prefix;
	Size tail;

	Assert(len1 == 0 || part1 != NULL);
	Assert(len2 == 0 || part2 != NULL);
	Assert(LWLockHeldByMeInMode(&ring->lock, LW_EXCLUSIVE));

	if (record_len > PG_UINT32_MAX || needed > ring->capacity - ring->used)
	{
		ring->dropped++;
		return false;
	}

	prefix = (uint32) record_len;
	tail = ring->head + ring->used;
	ring_copy_in(ring, tail, &prefix, RING_LENGTH_PREFIX_BYTES);
	tail += RING_LENGTH_PREFIX_BYTES;
	if (len1 > 0)
		ring_copy_in(ring, tail, part1, len1);
	tail += len1;
	if (len2 > 0)
		ring_copy_in(ring, tail, part2, len2);
	ring->used += needed;
	Assert(ring->used <= ring->capacity);
	return true;
}

bool
OrderingRingPop(OrderingRing *ring, StringInfo out)
{
	bool popped;

	LWLockAcquire(&ring->lock, LW_EXCLUSIVE);
	popped = OrderingRingPopLocked(ring, out);
	LWLockRelease(&ring->lock);
	return popped;
}

bool
OrderingRingPopLocked(OrderingRing *ring, StringInfo out)
{
	uint32 record_len;

	Assert(LWLockHeldByMeInMode(&ring->lock, LW_EXCLUSIVE));
	resetStringInfo(out);
	if (ring->used == 0)
		return false;

	Assert(ring->used >= RING_LENGTH_PREFIX_BYTES);
	ring_copy_out(ring, ring->head, &record_len, RING_LENGTH_PREFIX_BYTES);
	Assert(RING_LENGTH_PREFIX_BYTES + (Size) record_len <= ring->used);

	/*
	 * Enlarging may palloc and so could fail; the ring is untouched if it
	 * does, because nothing was consumed yet.  enlargeStringInfo's own limit
	 * (MaxAllocSize) is far above any ring's capacity in practice.
	 */
	enlargeStringInfo(out, (int) record_len);
	ring_copy_out(ring, ring->head + RING_LENGTH_PREFIX_BYTES, out->data,
				  record_len);
	out->len = (int) record_len;
	out->data[out->len] = '\0';

	ring->head =
		(ring->head + RING_LENGTH_PREFIX_BYTES + record_len) % ring->capacity;
	ring->used -= RING_LENGTH_PREFIX_BYTES + record_len;
	if (ring->used == 0)
		ring->head = 0;
	return true;
}
