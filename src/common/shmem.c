/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The ordering extension's shared memory segment: OrderingShared with
 *	  its status slots, followed by the submit ring and the inbox ring.
 *
 * Layout of the one segment (named "ordering"):
 *
 *	OrderingShared (status[ordering.max_channels])
 *	submit queue   (its shares, and a ring of ordering.submit_queue_size kB)
 *	inbox ring     (ordering.inbox_size kB)
 *	submit waits   (ordering.max_submit_waits slots)
 *
 * Every lock in it belongs to the LWLock tranche "ordering", so waits on
 * them show up under that name in pg_stat_activity.  The sizes come from
 * PGC_POSTMASTER settings, so every process computes the same layout.
 *
 * src/common/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "common/gucs.h"
#include "common/shmem.h"

#define ORDERING_SHMEM_NAME "ordering"
#define ORDERING_TRANCHE_NAME "ordering"

OrderingShared *ordering_shared = NULL;
bool ordering_own_process = false;

static Size
shared_struct_size(void)
{
	return MAXALIGN(add_size(offsetof(OrderingShared, status),
							 mul_size(ordering_max_channels,
									  sizeof(OrderingChannelStatus))));
}

static Size
submit_ring_capacity(void)
{
	return mul_size(ordering_submit_queue_kb, 1024);
}

/*
 * Share slots: one per channel the worker can run, one per backend and one
 * more for processes without a BackendId.  MaxBackends is known when
 * PostgreSQL 15 calls the shmem_request_hook.
 */
static Size
submit_queue_size(void)
{
	return OrderingSubmitQueueShmemSize(submit_ring_capacity(),
										ordering_max_channels, MaxBackends + 1);
}

static Size
inbox_ring_capacity(void)
{
	return mul_size(ordering_inbox_kb, 1024);
}

static Size
ordering_shmem_size(void)
{
	Size size = shared_struct_size();

	size = add_size(size, MAXALIGN(submit_queue_size()));
	size =
		add_size(size, MAXALIGN(OrderingRingShmemSize(inbox_ring_capacity())));
	size = add_size(size,
					MAXALIGN(OrderingSubmitWaitsShmemSize(
						ordering_max_submit_waits)));
	return size;
}

/*
 * Called from the shmem_request_hook (PostgreSQL 15): reserve the segment
 * and one lock of the named tranche, whose id every embedded lock reuses.
 */
void
OrderingShmemRequest(void)
{
	RequestAddinShmemSpace(ordering_shmem_size());
	RequestNamedLWLockTranche(ORDERING_TRANCHE_NAME, 1);
}

static void
ordering_shared_init(OrderingShared *shared, int tranche_id)
{
	char *cursor;

	memset(shared, 0, shared_struct_size());
	LWLockInitialize(&shared->lock, tranche_id);
	shared->worker_pid = 0;
	shared->worker_latch = NULL;
	shared->worker_ready = false;
	shared->worker_generation = 0;
	pg_atomic_init_u32(&shared->reload_channels, 0);
	for (int i = 0; i < ORDERING_REPEAT_BUCKETS; i++)
		pg_atomic_init_u64(&shared->repeats_seen_at[i], 0);
	pg_atomic_init_u64(&shared->channels_generation, 1);
	shared->next_ticket = 1;
	ConditionVariableInit(&shared->applied_cv);
	ConditionVariableInit(&shared->queue_cv);
	ConditionVariableInit(&shared->admin_cv);
	for (int i = 0; i < ORDERING_MAX_ADMIN_REQUESTS; i++)
		shared->admin[i].state = ORDERING_ADMIN_FREE;
	shared->max_channels = ordering_max_channels;
	for (int i = 0; i < ordering_max_channels; i++)
		shared->status[i].in_use = false;

	cursor = (char *) shared + shared_struct_size();
	shared->submit_queue =
		OrderingSubmitQueueInit(cursor, submit_ring_capacity(),
								ordering_max_channels, MaxBackends + 1,
								tranche_id);
	cursor += MAXALIGN(submit_queue_size());
	shared->inbox_ring = (OrderingRing *) cursor;
	OrderingRingInit(shared->inbox_ring, inbox_ring_capacity(), tranche_id);
	cursor += MAXALIGN(OrderingRingShmemSize(inbox_ring_capacity()));
	shared->submit_waits =
		OrderingSubmitWaitsInit(cursor, ordering_max_submit_waits, tranche_id);
}

/* Called from the shmem_startup_hook: attach, initializing on first use. */
void
OrderingShmemInit(void)
{
	OrderingShared *shared;
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct(ORDERING_SHMEM_NAME, ordering_shmem_size(), &found);
	if (!found)
	{
		LWLockPadded *named = GetNamedLWLockTranche(ORDERING_TRANCHE_NAME);

		ordering_shared_init(shared, named[0].lock.tranche);
	}
	LWLockRelease(AddinShmemInitLock);
	ordering_shared = shared;
}

/* Sets the worker's latch; a no-op when no worker runs. */
void
OrderingWakeWorker(void)
{
	if (ordering_shared == NULL)
		return;
	LWLockAcquire(&ordering_shared->lock, LW_SHARED);
	if (ordering_shared->worker_latch != NULL)
		SetLatch(ordering_shared->worker_latch);
	LWLockRelease(&ordering_shared->lock);
}

/* Submit ring records, as this backend (MyBackendId). */
bool
OrderingSubmitEnqueue(const SubmitRecord *record)
{
	Assert(ordering_shared != NULL);
	return OrderingSubmitQueuePush(ordering_shared->submit_queue, MyBackendId,
								   record);
}

bool
OrderingSubmitDequeue(StringInfo buf, SubmitRecord *record)
{
	Assert(ordering_shared != NULL);
	return OrderingSubmitQueuePop(ordering_shared->submit_queue, buf, record);
}

/*
 * The channel's last block as the worker publishes it, or -1 when it
 * publishes nothing for it.  The worker publishes before it wakes the
 * waiters on applied_cv, so a waiter that reads this before looking in the
 * table misses no block.
 */
int64
OrderingPublishedLastBlock(const char *channel)
{
	int64 last_block = -1;

	LWLockAcquire(&ordering_shared->lock, LW_SHARED);
	for (int i = 0; i < ordering_shared->max_channels; i++)
	{
		OrderingChannelStatus *st = &ordering_shared->status[i];

		if (st->in_use && strcmp(st->channel, channel) == 0)
		{
			last_block = st->last_block;
			break;
		}
	}
	LWLockRelease(&ordering_shared->lock);
	return last_block;
}

/*
 * A waiting submit does not look for its ids before enqueueing: the worker
 * drops an id a block before held when it applies the batch, and tells the
 * waiters (submit.c).  That is cheap while resubmissions are rare, but each
 * one costs its whole batch a second write on every node, so a client that
 * retries in a loop would slow the channel down; while they come, the
 * submitters look first again, answering resubmissions at once.
 */
static pg_atomic_uint64 *
repeat_bucket(const char *channel)
{
	uint32 hash = hash_bytes((const unsigned char *) channel, strlen(channel));

	return &ordering_shared->repeats_seen_at[hash % ORDERING_REPEAT_BUCKETS];
}

void
OrderingNoteRepeat(const char *channel, TimestampTz now)
{
	pg_atomic_write_u64(repeat_bucket(channel), (uint64) now);
}

bool
OrderingRepeatsRecent(const char *channel, TimestampTz now)
{
	TimestampTz seen_at =
		(TimestampTz) pg_atomic_read_u64(repeat_bucket(channel));

	return seen_at != 0 &&
		now < TimestampTzPlusMilliseconds(seen_at, ORDERING_REPEAT_WINDOW_MS);
}

uint64
OrderingChannelsGeneration(void)
{
	if (ordering_shared == NULL)
		return 0;
	/* A full barrier: reads after it see the changes counted before it. */
	return pg_atomic_fetch_add_u64(&ordering_shared->channels_generation, 0);
}

void
OrderingBumpChannelsGeneration(void)
{
	if (ordering_shared != NULL)
		pg_atomic_fetch_add_u64(&ordering_shared->channels_generation, 1);
}
