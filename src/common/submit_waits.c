/*-------------------------------------------------------------------------
 *
 * submit_waits.c
 *	  Direct completion of submitters (the model is PostgreSQL's
 *	  SyncRepWaitForLSN queue).
 *
 * A backend about to wait for its transactions takes one slot per id,
 * naming itself (its pgprocno) and the SHA-256 of the payload it
 * submitted, then sleeps on its own latch.  The worker, once the commit
 * that applied a block has returned, looks each transaction of the block
 * up in a hash of (channel, tx_id) and, for each slot waiting on it, writes
 * the place (or TAKEN: the id was ordered with another payload) and sets
 * that backend's latch.  Nobody else is woken, and nobody runs a query to
 * learn its place.
 *
 * No wake-up is lost: a backend registers before it first looks in the
 * table, and the worker hands places out only after its commit, so a block
 * is either visible to that first look or handed to the slot.  Blocks that
 * arrive without being applied here (a snapshot's catch-up) mark the
 * channel's slots RECHECK: their owners look in the table once.  A channel
 * dropped here marks them DROPPED: their owners fail at once.
 *
 * The table is bounded (ordering.max_submit_waits); registering is all or
 * nothing.  A backend frees its slots when its wait ends, on error or
 * cancel, and when it exits.
 *
 * src/common/submit_waits.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "storage/latch.h"
#include "storage/proc.h"

#include "common/submit_waits.h"

static int
waits_buckets_for(int n_slots)
{
	int n = 1;

	while (n < n_slots && n < (1 << 30))
		n <<= 1;
	return n;
}

Size
OrderingSubmitWaitsShmemSize(int n_slots)
{
	Size size = MAXALIGN(sizeof(OrderingSubmitWaits));

	size = add_size(size,
					MAXALIGN(mul_size(waits_buckets_for(n_slots), sizeof(int))));
	return add_size(size, mul_size(n_slots, sizeof(OrderingWaitSlot)));
}

OrderingSubmitWaits *
OrderingSubmitWaitsInit(void *place, int n_slots, int tranche_id)
{
	OrderingSubmitWaits *waits = place;
	char *cursor = (char *) place + MAXALIGN(sizeof(OrderingSubmitWaits));

	Assert(n_slots > 0);
	LWLockInitialize(&waits->lock, tranche_id);
	waits->n_slots = n_slots;
	waits->n_buckets = waits_buckets_for(n_slots);
	waits->n_used = 0;
	waits->buckets = (int *) cursor;
	for (int i = 0; i < waits->n_buckets; i++)
		waits->buckets[i] = -1;
	cursor += MAXALIGN(waits->n_buckets * sizeof(int));
	waits->slots = (OrderingWaitSlot *) cursor;
	for (int i = 0; i < n_slots; i++)
	{
		memset(&waits->slots[i], 0, sizeof(OrderingWaitSlot));
		waits->slots[i].owner = -1;
		waits->slots[i].next = i + 1 < n_slots ? i + 1 : -1;
	}
	waits->free_head = 0;
	return waits;
}

static uint32
waits_key_hash(const char *channel, const char *tx_id)
{
	return hash_combine(hash_bytes((const unsigned char *) channel,
								   strlen(channel)),
						hash_bytes((const unsigned char *) tx_id, strlen(tx_id)));
}

/* Whether slot waits for tx_id of channel (whatever its state). */
static bool
waits_slot_is(const OrderingWaitSlot *slot, uint32 key_hash,
			  const char *channel, const char *tx_id)
{
	return slot->key_hash == key_hash && strcmp(slot->tx_id, tx_id) == 0 &&
		strcmp(slot->channel, channel) == 0;
}

static int *
waits_bucket(OrderingSubmitWaits *waits, uint32 key_hash)
{
	return &waits->buckets[key_hash & (waits->n_buckets - 1)];
}

bool
OrderingSubmitWaitsRegister(OrderingSubmitWaits *waits, int owner,
							const char *channel, const char *const *tx_ids,
							const uint8 (*payload_hashes)[ORDERING_HASH_LEN],
							int n, int *slots_out)
{
	LWLockAcquire(&waits->lock, LW_EXCLUSIVE);
	if (waits->n_slots - waits->n_used < n)
	{
		LWLockRelease(&waits->lock);
		return false;
	}
	for (int i = 0; i < n; i++)
	{
		int s = waits->free_head;
		OrderingWaitSlot *slot = &waits->slots[s];
		int *bucket;

		Assert(s >= 0);
		waits->free_head = slot->next;
		slot->owner = owner;
		slot->state = ORDERING_WAIT_WAITING;
		slot->key_hash = waits_key_hash(channel, tx_ids[i]);
		slot->block_number = -1;
		slot->position = -1;
		memcpy(slot->payload_hash, payload_hashes[i], ORDERING_HASH_LEN);
		strlcpy(slot->channel, channel, sizeof(slot->channel));
		strlcpy(slot->tx_id, tx_ids[i], sizeof(slot->tx_id));
		bucket = waits_bucket(waits, slot->key_hash);
		slot->next = *bucket;
		*bucket = s;
		slots_out[i] = s;
	}
	waits->n_used += n;
	LWLockRelease(&waits->lock);
	return true;
}

int
OrderingSubmitWaitsState(OrderingSubmitWaits *waits, int slot,
						 int64 *block_number, int32 *position)
{
	OrderingWaitSlot *s = &waits->slots[slot];
	int state;

	LWLockAcquire(&waits->lock, LW_EXCLUSIVE);
	Assert(s->owner == MyProc->pgprocno);
	state = s->state;
	*block_number = s->block_number;
	*position = s->position;
	/* Seen: the next blocks that come another way flag it again. */
	if (state == ORDERING_WAIT_RECHECK)
		s->state = ORDERING_WAIT_WAITING;
	LWLockRelease(&waits->lock);
	return state;
}

/* Unlinks and frees one slot (lock held). */
static void
waits_free_slot(OrderingSubmitWaits *waits, int s)
{
	OrderingWaitSlot *slot = &waits->slots[s];
	int *link = waits_bucket(waits, slot->key_hash);

	while (*link != -1 && *link != s)
		link = &waits->slots[*link].next;
	if (*link == s)
		*link = slot->next;
	slot->owner = -1;
	slot->state = ORDERING_WAIT_FREE;
	slot->next = waits->free_head;
	waits->free_head = s;
	waits->n_used--;
}

void
OrderingSubmitWaitsRelease(OrderingSubmitWaits *waits, const int *slots, int n)
{
	LWLockAcquire(&waits->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
		if (slots[i] >= 0 && waits->slots[slots[i]].owner != -1)
			waits_free_slot(waits, slots[i]);
	LWLockRelease(&waits->lock);
}

void
OrderingSubmitWaitsReleaseOwner(OrderingSubmitWaits *waits, int owner)
{
	LWLockAcquire(&waits->lock, LW_EXCLUSIVE);
	for (int s = 0; s < waits->n_slots && waits->n_used > 0; s++)
		if (waits->slots[s].owner == owner)
			waits_free_slot(waits, s);
	LWLockRelease(&waits->lock);
}

static int
owner_cmp(const void *a, const void *b)
{
	int x = *(const int *) a;
	int y = *(const int *) b;

	return (x > y) - (x < y);
}

/*
 * Sets the latches of the owners collected (lock released: no need to hold
 * it), once each.  An owner has one slot per transaction it waits on, so a
 * block of ten of its transactions names it ten times; a second SetLatch
 * after it woke and reset its latch would wake it again for nothing, and
 * each wake is a signal the worker sends on its own critical path.
 */
static void
waits_wake(int *owners, int n)
{
	qsort(owners, n, sizeof(int), owner_cmp);
	for (int i = 0; i < n; i++)
		if (i == 0 || owners[i] != owners[i - 1])
			SetLatch(&GetPGProcByNumber(owners[i])->procLatch);
}

void
OrderingSubmitWaitsComplete(OrderingSubmitWaits *waits, const char *channel,
							const OrderingPlace *places, int n)
{
	int *owners;
	int n_owners = 0;
	uint32 channel_hash =
		hash_bytes((const unsigned char *) channel, strlen(channel));

	if (n == 0)
		return;
	owners = palloc(sizeof(int) * waits->n_slots);
	LWLockAcquire(&waits->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n && waits->n_used > 0; i++)
	{
		const OrderingPlace *place = &places[i];
		uint32 key_hash =
			hash_combine(channel_hash,
						 hash_bytes((const unsigned char *) place->tx_id,
									strlen(place->tx_id)));

		for (int s = *waits_bucket(waits, key_hash); s != -1;
			 s = waits->slots[s].next)
		{
			OrderingWaitSlot *slot = &waits->slots[s];

			if (!waits_slot_is(slot, key_hash, channel, place->tx_id) ||
				slot->state == ORDERING_WAIT_ORDERED ||
				slot->state == ORDERING_WAIT_TAKEN)
				continue;
			if (place->block_number == ORDERING_PLACE_BEFORE)
			{
				/* Its place and payload are in the table, not here. */
				if (slot->state != ORDERING_WAIT_WAITING)
					continue;
				slot->state = ORDERING_WAIT_RECHECK;
			}
			else if (memcmp(slot->payload_hash, place->payload_hash,
							ORDERING_HASH_LEN) == 0)
			{
				slot->state = ORDERING_WAIT_ORDERED;
				slot->block_number = place->block_number;
				slot->position = place->position;
			}
			else
				slot->state = ORDERING_WAIT_TAKEN;
			if (n_owners < waits->n_slots)
				owners[n_owners++] = slot->owner;
		}
	}
	LWLockRelease(&waits->lock);
	waits_wake(owners, n_owners);
	pfree(owners);
}

void
OrderingSubmitWaitsRefuse(OrderingSubmitWaits *waits, const char *channel,
						  const char *tx_id, OrderingWaitState why)
{
	int *owners = palloc(sizeof(int) * waits->n_slots);
	int n_owners = 0;
	uint32 key_hash = waits_key_hash(channel, tx_id);

	LWLockAcquire(&waits->lock, LW_EXCLUSIVE);
	for (int s = *waits_bucket(waits, key_hash); s != -1;
		 s = waits->slots[s].next)
	{
		OrderingWaitSlot *slot = &waits->slots[s];

		if (!waits_slot_is(slot, key_hash, channel, tx_id) ||
			(slot->state != ORDERING_WAIT_WAITING &&
			 slot->state != ORDERING_WAIT_RECHECK))
			continue;
		slot->state = why;
		owners[n_owners++] = slot->owner;
	}
	LWLockRelease(&waits->lock);
	waits_wake(owners, n_owners);
	pfree(owners);
}

void
OrderingSubmitWaitsMarkChannel(OrderingSubmitWaits *waits, const char *channel,
							   OrderingWaitState state)
{
	int *owners = palloc(sizeof(int) * waits->n_slots);
	int n_owners = 0;

	LWLockAcquire(&waits->lock, LW_EXCLUSIVE);
	for (int s = 0; s < waits->n_slots && n_owners < waits->n_used; s++)
	{
		OrderingWaitSlot *slot = &waits->slots[s];

		if ((slot->state == ORDERING_WAIT_WAITING ||
			 slot->state == ORDERING_WAIT_RECHECK) &&
			strcmp(slot->channel, channel) == 0)
		{
			slot->state = state;
			owners[n_owners++] = slot->owner;
		}
	}
	LWLockRelease(&waits->lock);
	waits_wake(owners, n_owners);
	pfree(owners);
}
