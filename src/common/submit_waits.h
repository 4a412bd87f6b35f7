/*-------------------------------------------------------------------------
 *
 * submit_waits.h
 *	  Direct completion of submitters: a table in shared memory where a
 *	  backend waiting for its transactions registers their ids, and where
 *	  the worker that applies a block hands each waiter its place.
 *
 * src/common/submit_waits.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SUBMIT_WAITS_H
#define ORDERING_SUBMIT_WAITS_H

#include "port/atomics.h"
#include "storage/lwlock.h"

#include "common/blocks.h"
#include "common/limits.h"

typedef enum OrderingWaitState
{
	ORDERING_WAIT_FREE = 0,
	ORDERING_WAIT_WAITING = 1,
	ORDERING_WAIT_ORDERED = 2, /* block_number, position are its place */
	ORDERING_WAIT_TAKEN = 3,   /* the id was ordered with another payload */
	ORDERING_WAIT_RECHECK = 4, /* blocks came another way: look in the table */
	ORDERING_WAIT_REFUSED = 5, /* this node was removed: it cannot order it */
	ORDERING_WAIT_DROPPED = 6, /* the channel was dropped on this node */
	ORDERING_WAIT_BUSY = 7 /* not taken: the node holds too much unordered */
} OrderingWaitState;

/* One transaction id a backend waits for. */
typedef struct OrderingWaitSlot
{
	int next;  /* next slot of the bucket, or of the free list; -1 */
	int owner; /* pgprocno of the waiting backend; -1 when free */
	int state; /* OrderingWaitState */
	uint32 key_hash;
	int64 block_number;
	int32 position;
	uint8 payload_hash[ORDERING_HASH_LEN];
	char channel[ORDERING_NAME_MAX];
	char tx_id[ORDERING_TX_ID_MAX];
} OrderingWaitSlot;

typedef struct OrderingSubmitWaits
{
	LWLock lock; /* guards everything below */
	int n_slots;
	int n_buckets; /* a power of two */
	int free_head;
	int n_used;
	int *buckets; /* heads of the chains, -1 when empty */
	OrderingWaitSlot *slots;
} OrderingSubmitWaits;

/*
 * A transaction as the worker applied it: written at block_number and
 * position, or, with block_number ORDERING_PLACE_BEFORE, dropped because a
 * block before this one holds its id (the waiter looks in the table; its
 * payload_hash is then zeros, not the payload's).
 */
typedef struct OrderingPlace
{
	char *tx_id;
	uint8 payload_hash[ORDERING_HASH_LEN];
	int64 block_number;
	int32 position;
} OrderingPlace;

#define ORDERING_PLACE_BEFORE (-1)

extern Size OrderingSubmitWaitsShmemSize(int n_slots);
extern OrderingSubmitWaits *
OrderingSubmitWaitsInit(void *place, int n_slots, int tranche_id);

/*
 * Backend: registers n ids of channel for owner, all or none; false when
 * fewer than n slots are free.  slots_out receives the slot of each.
 */
extern bool
OrderingSubmitWaitsRegister(OrderingSubmitWaits *waits, int owner,
							const char *channel, const char *const *tx_ids,
							const uint8 (*payload_hashes)[ORDERING_HASH_LEN],
							int n, int *slots_out);
/* Backend: the state of a slot and, once ordered, its place. */
extern int OrderingSubmitWaitsState(OrderingSubmitWaits *waits, int slot,
									int64 *block_number, int32 *position);
/* Backend: frees the slots (the caller's own). */
extern void
OrderingSubmitWaitsRelease(OrderingSubmitWaits *waits, const int *slots, int n);
/* Backend exit: frees every slot of owner. */
extern void
OrderingSubmitWaitsReleaseOwner(OrderingSubmitWaits *waits, int owner);

/*
 * Worker, after the commit that applied them: hands every waiter of these
 * transactions of channel its place (or TAKEN, or RECHECK for one ordered
 * before) and sets its latch.
 */
extern void
OrderingSubmitWaitsComplete(OrderingSubmitWaits *waits, const char *channel,
							const OrderingPlace *places, int n);
/*
 * Worker: a transaction of channel that this node does not route, and
 * why: REFUSED (this node was removed from it) or BUSY; its waiters are
 * told and woken.
 */
extern void
OrderingSubmitWaitsRefuse(OrderingSubmitWaits *waits, const char *channel,
						  const char *tx_id, OrderingWaitState why);
/*
 * Worker: every waiter of channel still waiting is told state and woken:
 * RECHECK when blocks arrived outside apply (a snapshot: they look in the
 * table again), DROPPED when the channel was dropped here.
 */
extern void
OrderingSubmitWaitsMarkChannel(OrderingSubmitWaits *waits, const char *channel,
							   OrderingWaitState state);

#endif /* ORDERING_SUBMIT_WAITS_H */
