/*-------------------------------------------------------------------------
 *
 * submit.c
 *	  submit_tx, submit_tx_async and submit_txs: hand transactions to the
 *	  ordering worker and (except async) wait until they are in a block.
 *
 * A submission is checked in the backend (channel exists, payload size,
 * transaction id), then pushed into the submit ring in shared memory; the
 * worker routes it to the channel's leader.  Submitting is not
 * transactional: like nextval(), a rollback of the caller does not undo it.
 *
 * Waiting: the backend registers the ids it waits for in shared memory
 * (common/submit_waits.c), enqueues them and sleeps on its latch; the
 * worker that applies a block hands each waiter its place and sets that
 * latch.  A transaction id is ordered at most once per channel: a batch
 * that repeats an id an earlier block holds is applied without it, and
 * the worker tells that id's waiters to look in ordering.transactions,
 * where its place is, provided the payload there is the one submitted; an
 * id ordered with another payload is someone else's transaction and fails
 * with 23505 (also when both were in flight at once: the first ordered
 * wins, and the other submitter learns it once it is applied here).  The
 * look uses a fresh snapshot, which only works in READ COMMITTED.  With
 * no worker running the backend looks before anything else, so an id
 * already ordered is still answered; so it does for a while after the
 * worker dropped a resubmitted id on the channel (common/shmem.h); async
 * submits always do.
 *
 * src/sql/submit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"

#include "common/blocks.h"
#include "common/channel_settings.h"
#include "common/clock.h"
#include "common/gucs.h"
#include "common/names.h"
#include "common/shmem.h"
#include "store/tx_places.h"
#include "sql/backend.h"
#include "sql/catalog.h"
#include "sql/validate.h"

PG_FUNCTION_INFO_V1(ordering_submit_tx);
PG_FUNCTION_INFO_V1(ordering_submit_tx_async);
PG_FUNCTION_INFO_V1(ordering_submit_txs);

#define SUBMIT_WAIT_SLICE_MS 1000

/* One transaction of a submission and, once known, its place. */
typedef struct SubmitItem
{
	bytea *payload;
	char *tx_id;
	bool ordered;
	int64 block_number;
	int32 position;
} SubmitItem;

/* tx_id -> place, filled as the transactions show up in blocks. */
typedef struct PlaceEntry
{
	char tx_id[ORDERING_TX_ID_MAX]; /* hash key */
	bool ordered;
	int64 block_number;
	int32 position;
	int wait_slot; /* in the submit waits, or one of these: */
#define PLACE_NOT_REGISTERED (-1)
#define PLACE_REGISTERING (-2)
} PlaceEntry;

/* Frees this backend's wait slots however it exits (FATAL included). */
static bool exit_callback_registered = false;

static void
release_waits_at_exit(int code, Datum arg)
{
	if (ordering_shared != NULL && MyProc != NULL)
		OrderingSubmitWaitsReleaseOwner(ordering_shared->submit_waits,
										MyProc->pgprocno);
}

static char *
payload_tx_id(bytea *payload)
{
	uint8 hash[ORDERING_HASH_LEN];
	char *hex = palloc(ORDERING_HASH_LEN * 2 + 1);

	OrderingSha256(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload), hash);
	hex[hex_encode((const char *) hash, ORDERING_HASH_LEN, hex)] = '\0';
	return hex;
}

/* Errors unless the payload fits the channel's limit and the ring. */
static void
check_payload(const char *channel, const OrderingSettings *settings,
			  const SubmitItem *item)
{
	Size payload_len = VARSIZE_ANY_EXHDR(item->payload);
	Size record_len =
		OrderingSubmitRecordBytes(channel, item->tx_id, payload_len);

	if (payload_len > (Size) settings->absolute_max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("transaction of %zu bytes exceeds the limit of channel \"%s\"",
						payload_len, channel),
				 errdetail("The channel's absolute_max_bytes is " INT64_FORMAT ".",
						   settings->absolute_max_bytes)));
	if (record_len > ordering_shared->submit_queue->ring->capacity)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("transaction of %zu bytes does not fit in the submission queue",
						payload_len),
				 errhint("Raise ordering.submit_queue_size (now %d kB).",
						 ordering_submit_queue_kb)));
}

/* 23505: the id is taken by another transaction; its place is not ours. */
static void
report_id_taken(const char *channel, const char *tx_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("transaction id \"%s\" is already ordered on channel \"%s\" with another payload",
					tx_id, channel),
			 errhint(
				 "Submit this payload under another id; resubmitting the same payload under the same id is safe.")));
}

/* The worker refused items: this node was removed from the channel. */
static void
report_removed(const char *channel, const SubmitItem *items, int n_items)
{
	const char *tx_id = NULL;

	for (int i = 0; i < n_items && tx_id == NULL; i++)
		if (!items[i].ordered)
			tx_id = items[i].tx_id;
	Assert(tx_id != NULL);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("this node is no longer a consenter of channel \"%s\"",
					channel),
			 errdetail("It was removed from the channel and cannot order transaction %s; one that reached the leader before the removal may still be ordered there.",
					   tx_id),
			 errhint(
				 "Submit on a consenter of the channel (ordering.list_channels() shows them); resubmitting the same id there is safe.")));
}

/* The worker dropped the channel while items waited. */
static void
report_dropped(const char *channel, const char *tx_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("channel \"%s\" was dropped on this node while transaction %s waited",
					channel, tx_id),
			 errdetail(
				 "The channel's other consenters, if any, may still order it."),
			 errhint(
				 "Submit it again once the channel is back; resubmitting the same id is safe.")));
}

/*
 * Reads the places of the items not yet known, one probe of the
 * index on tx_id per distinct id still missing (store/tx_places.h);
 * an id ordered with another payload is an error (23505).  With
 * stop_at_missing, stops at the first id not ordered yet: a waiter needs
 * them all, so probing the others before that one is there would be
 * wasted (submit_txs of 10 payloads would run 10 probes on every block
 * instead of 1).
 */
static void
lookup_places(const char *channel, SubmitItem *items, int n_items,
			  HTAB *places, bool stop_at_missing)
{
	StoreTxProbe probe;

	/*
	 * A new snapshot at every look, whatever the isolation level: it sees
	 * the blocks applied till now.  A submission is not transactional
	 * (like nextval), so a REPEATABLE READ or SERIALIZABLE caller gets the
	 * place too, though its own snapshot may not show the block yet.
	 */
	StoreTxProbeBegin(&probe, channel);
	for (int i = 0; i < n_items; i++)
	{
		PlaceEntry *entry;

		if (items[i].ordered)
			continue;
		entry = hash_search(places, items[i].tx_id, HASH_FIND, NULL);
		Assert(entry != NULL);
		if (!entry->ordered)
		{
			Datum tx_id = CStringGetTextDatum(items[i].tx_id);
			StoreTxPlace place;

			if (StoreTxProbeLookup(&probe, tx_id, items[i].payload, &place))
			{
				if (!place.same_payload)
					report_id_taken(channel, items[i].tx_id);
				entry->ordered = true;
				entry->block_number = place.block_number;
				entry->position = place.position;
			}
			pfree(DatumGetPointer(tx_id));
		}
		/* Repeats of an id share its place. */
		items[i].ordered = entry->ordered;
		items[i].block_number = entry->block_number;
		items[i].position = entry->position;
		if (!entry->ordered && stop_at_missing)
			break;
	}
	StoreTxProbeEnd(&probe);
}

static int
count_unordered(const SubmitItem *items, int n_items)
{
	int count = 0;

	for (int i = 0; i < n_items; i++)
		count += items[i].ordered ? 0 : 1;
	return count;
}

/* Pushes one item into the ring, waiting for room until the deadline. */
static void
enqueue_item(const char *channel, const SubmitItem *item, TimestampTz deadline)
{
	SubmitRecord record;

	record.channel = channel;
	record.tx_id = item->tx_id;
	record.payload = VARDATA_ANY(item->payload);
	record.payload_len = VARSIZE_ANY_EXHDR(item->payload);
	record.give_up_at = deadline;
	if (OrderingSubmitEnqueue(&record))
		return;

	ConditionVariablePrepareToSleep(&ordering_shared->queue_cv);
	while (!OrderingSubmitEnqueue(&record))
	{
		long sleep_ms = OrderingRemainingMs(deadline, SUBMIT_WAIT_SLICE_MS);

		CHECK_FOR_INTERRUPTS();
		if (sleep_ms <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("submission queue is full"),
					 errdetail("The ordering worker did not make room within %d ms; one channel may hold at most half of the queue and 2048 transactions, one session a quarter and 1024.",
							   ordering_submit_timeout_ms),
					 errhint(
						 "Retry later, or raise ordering.submit_queue_size.")));
		OrderingWakeWorker();
		(void) ConditionVariableTimedSleep(&ordering_shared->queue_cv,
										   sleep_ms, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

/* Enqueues every item not already ordered, each distinct id once. */
static void
enqueue_unordered(const char *channel, SubmitItem *items, int n_items,
				  HTAB *places, TimestampTz deadline)
{
	HASHCTL ctl = { 0 };
	HTAB *sent;

	ctl.keysize = ORDERING_TX_ID_MAX;
	ctl.entrysize = ORDERING_TX_ID_MAX;
	ctl.hcxt = CurrentMemoryContext;
	sent = hash_create("ordering submitted ids", n_items, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	for (int i = 0; i < n_items; i++)
	{
		bool found;

		if (items[i].ordered)
			continue;
		(void) hash_search(sent, items[i].tx_id, HASH_ENTER, &found);
		if (!found)
			enqueue_item(channel, &items[i], deadline);
	}
	hash_destroy(sent);
	OrderingWakeWorker();
}

/*
 * Registers a wait for every distinct id (PlaceEntry.wait_slot), before
 * the first look in the table, so that no block is missed between the two
 * (common/submit_waits.c).  Errors 53000 when the table is full.
 */
static void
register_waits(const char *channel, HTAB *places, SubmitItem *items,
			   int n_items, int *slots, int *n_slots)
{
	const char **ids = palloc(sizeof(char *) * Max(n_items, 1));
	uint8(*hashes)[ORDERING_HASH_LEN] =
		palloc(sizeof(*hashes) * Max(n_items, 1));
	PlaceEntry **entries = palloc(sizeof(PlaceEntry *) * Max(n_items, 1));
	int n = 0;

	if (!exit_callback_registered)
	{
		before_shmem_exit(release_waits_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	for (int i = 0; i < n_items; i++)
	{
		PlaceEntry *entry = hash_search(places, items[i].tx_id, HASH_FIND, NULL);

		if (entry->wait_slot != PLACE_NOT_REGISTERED)
			continue;
		entry->wait_slot = PLACE_REGISTERING;
		ids[n] = items[i].tx_id;
		OrderingSha256(VARDATA_ANY(items[i].payload),
					   VARSIZE_ANY_EXHDR(items[i].payload), hashes[n]);
		entries[n++] = entry;
	}
	if (!OrderingSubmitWaitsRegister(ordering_shared->submit_waits,
									 MyProc->pgprocno, channel, ids,
									 (const uint8(*)[ORDERING_HASH_LEN]) hashes,
									 n, slots))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("too many transactions are awaited on this server"),
				 errdetail("Waiting for %d more would exceed ordering.max_submit_waits (%d).",
						   n, ordering_max_submit_waits),
				 errhint("Retry later, or raise ordering.max_submit_waits.")));
	for (int i = 0; i < n; i++)
		entries[i]->wait_slot = slots[i];
	*n_slots = n;
	pfree(ids);
	pfree(hashes);
	pfree(entries);
}

/* The worker took no copy of an item: the node holds too much unordered. */
static void
report_busy(const char *channel, const char *tx_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("transaction %s was not taken: this node holds too many unordered transactions of channel \"%s\"",
					tx_id, channel),
			 errdetail("A node keeps a copy of each transaction submitted on it until it is ordered, at most twice ordering.submit_queue_size (%d kB) of payload a channel; this one was not routed.",
					   ordering_submit_queue_kb),
			 errhint(
				 "Retry once earlier transactions are ordered; resubmitting the same id is safe.")));
}

/*
 * Takes the places the worker handed to this backend's slots; true if some
 * slot asks for a look in the table (blocks that came by a snapshot).
 */
static bool
collect_places(const char *channel, SubmitItem *items, int n_items,
			   HTAB *places, bool *refused)
{
	bool recheck = false;

	for (int i = 0; i < n_items; i++)
	{
		PlaceEntry *entry;

		if (items[i].ordered)
			continue;
		entry = hash_search(places, items[i].tx_id, HASH_FIND, NULL);
		if (!entry->ordered && entry->wait_slot >= 0)
		{
			int64 block_number;
			int32 position;

			switch (OrderingSubmitWaitsState(ordering_shared->submit_waits,
											 entry->wait_slot, &block_number,
											 &position))
			{
				case ORDERING_WAIT_ORDERED:
					entry->ordered = true;
					entry->block_number = block_number;
					entry->position = position;
					break;
				case ORDERING_WAIT_TAKEN:
					report_id_taken(channel, items[i].tx_id);
					break;
				case ORDERING_WAIT_RECHECK:
					recheck = true;
					break;
				case ORDERING_WAIT_DROPPED:
					report_dropped(channel, items[i].tx_id);
					break;
				case ORDERING_WAIT_BUSY:
					report_busy(channel, items[i].tx_id);
					break;
				case ORDERING_WAIT_REFUSED:
					/* Ordered before the removal, its place is here. */
					*refused = true;
					recheck = true;
					break;
				default:
					break;
			}
		}
		items[i].ordered = entry->ordered;
		items[i].block_number = entry->block_number;
		items[i].position = entry->position;
	}
	return recheck;
}

/*
 * Waits until every item is ordered; errors 57014 at the deadline.
 *
 * The worker that applies a block hands each registered slot its place
 * and sets this backend's latch: no query on the way.  The table is read
 * again only when the worker says blocks came another way (RECHECK), and
 * once every SUBMIT_WAIT_SLICE_MS without news, a safety net for a worker
 * that died between its commit and handing the places out.
 */
static void
wait_until_ordered(const char *channel, SubmitItem *items, int n_items,
				   HTAB *places, TimestampTz deadline)
{
	MemoryContext poll_context =
		AllocSetContextCreate(CurrentMemoryContext, "ordering submit poll",
							  ALLOCSET_DEFAULT_SIZES);
	bool look = false;
	bool refused = false;

	for (;;)
	{
		int n_unordered;
		long sleep_ms;
		int rc;

		ResetLatch(MyLatch);
		if (collect_places(channel, items, n_items, places, &refused))
			look = true;
		if (look && count_unordered(items, n_items) > 0)
		{
			MemoryContext caller_context = MemoryContextSwitchTo(poll_context);

			lookup_places(channel, items, n_items, places, true);
			MemoryContextSwitchTo(caller_context);
			MemoryContextReset(poll_context);
		}
		look = false;
		n_unordered = count_unordered(items, n_items);
		if (n_unordered == 0)
			break;
		if (refused)
			report_removed(channel, items, n_items);

		CHECK_FOR_INTERRUPTS();
		sleep_ms = OrderingRemainingMs(deadline, SUBMIT_WAIT_SLICE_MS);
		if (sleep_ms <= 0 && n_items == 1)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("transaction %s was not ordered within %d ms",
							items[0].tx_id, ordering_submit_timeout_ms),
					 errhint(
						 "It may still be ordered; resubmitting the same id is safe.")));
		if (sleep_ms <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("%d of %d transactions were not ordered within %d ms",
							n_unordered, n_items, ordering_submit_timeout_ms),
					 errhint(
						 "They may still be ordered; resubmitting the same payloads is safe.")));
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   sleep_ms, PG_WAIT_EXTENSION);
		if (rc & WL_TIMEOUT)
			look = true;
	}
}

static HTAB *
create_places(SubmitItem *items, int n_items)
{
	HASHCTL ctl = { 0 };
	HTAB *places;

	ctl.keysize = ORDERING_TX_ID_MAX;
	ctl.entrysize = sizeof(PlaceEntry);
	ctl.hcxt = CurrentMemoryContext;
	places = hash_create("ordering transaction places", Max(n_items, 1), &ctl,
						 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (int i = 0; i < n_items; i++)
	{
		bool found;
		PlaceEntry *entry =
			hash_search(places, items[i].tx_id, HASH_ENTER, &found);

		if (!found)
		{
			entry->ordered = false;
			entry->wait_slot = PLACE_NOT_REGISTERED;
		}
	}
	return places;
}

/*
 * The whole submission: check every item, then enqueue those not yet
 * ordered and, if wait, wait for all.  Item places are filled in.
 */
static void
submit_items(const char *channel, SubmitItem *items, int n_items, bool wait)
{
	TimestampTz deadline = OrderingSubmitDeadline();
	OrderingSettings settings;
	HTAB *places;
	int *slots;
	int n_slots = 0;

	OrderingRequireSharedMemory();
	OrderingChannelSettings(channel, &settings);
	for (int i = 0; i < n_items; i++)
		check_payload(channel, &settings, &items[i]);

	places = create_places(items, n_items);
	if (!wait)
	{
		/* What is already in a block is answered even without a worker. */
		lookup_places(channel, items, n_items, places, false);
		if (count_unordered(items, n_items) > 0)
		{
			OrderingRequireWorker();
			enqueue_unordered(channel, items, n_items, places, deadline);
		}
		return;
	}

	OrderingRequireNotWorker("submit_tx() and submit_txs()");
	slots = palloc(sizeof(int) * Max(n_items, 1));
	register_waits(channel, places, items, n_items, slots, &n_slots);
	PG_TRY();
	{
		/*
		 * With a worker, ids ordered before need no look here: the worker
		 * drops them when it applies their batch and tells their waiters
		 * to look (a probe per id here took 8 % of the machine's CPU with
		 * 64 clients calling submit_txs of 10).
		 * While resubmissions come, looking first is the cheaper way.
		 */
		bool worker_up = OrderingWorkerRunning();

		if (!worker_up || OrderingRepeatsRecent(channel, OrderingClockNow()))
			lookup_places(channel, items, n_items, places, false);
		if (count_unordered(items, n_items) > 0)
		{
			if (!worker_up)
				OrderingRequireWorker(); /* errors, saying why */
			enqueue_unordered(channel, items, n_items, places, deadline);
			wait_until_ordered(channel, items, n_items, places, deadline);
		}
	}
	PG_FINALLY();
	{
		OrderingSubmitWaitsRelease(ordering_shared->submit_waits, slots,
								   n_slots);
	}
	PG_END_TRY();
}

static SubmitItem
submit_item_from_args(FunctionCallInfo fcinfo)
{
	SubmitItem item = { 0 };

	OrderingRequireArg(fcinfo, 1, "payload");
	item.payload = PG_GETARG_BYTEA_PP(1);
	if (PG_ARGISNULL(2))
		item.tx_id = payload_tx_id(item.payload);
	else
	{
		item.tx_id = text_to_cstring(PG_GETARG_TEXT_PP(2));
		OrderingCheckTxId(item.tx_id);
	}
	return item;
}

static void
return_places(FunctionCallInfo fcinfo, const SubmitItem *items, int n_items)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n_items; i++)
	{
		Datum values[3];
		bool nulls[3] = { false, false, false };

		Assert(items[i].ordered);
		values[0] = CStringGetTextDatum(items[i].tx_id);
		values[1] = Int64GetDatum(items[i].block_number);
		values[2] = Int32GetDatum(items[i].position);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * ordering.submit_tx(channel text, payload bytea, id text DEFAULT NULL)
 * RETURNS TABLE (tx_id text, block_number bigint, position int)
 */
Datum
ordering_submit_tx(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	SubmitItem item = submit_item_from_args(fcinfo);

	submit_items(channel, &item, 1, true);
	return_places(fcinfo, &item, 1);
	return (Datum) 0;
}

/*
 * ordering.submit_tx_async(channel text, payload bytea, id text DEFAULT NULL)
 * RETURNS text: the transaction id, once enqueued.
 */
Datum
ordering_submit_tx_async(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	SubmitItem item = submit_item_from_args(fcinfo);

	submit_items(channel, &item, 1, false);
	PG_RETURN_TEXT_P(cstring_to_text(item.tx_id));
}

/*
 * Each element of payloads, in order; errors 22004 on a NULL element, and
 * 2202E on a multidimensional array, whose order of transactions nobody
 * chose (it was taken flattened).
 */
static SubmitItem *
submit_items_from_array(ArrayType *payloads, int *n_items)
{
	Datum *elements;
	bool *nulls;
	int n;
	SubmitItem *items;

	if (ARR_NDIM(payloads) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("payloads must be a one-dimensional array"),
				 errdetail("It has %d dimensions.", ARR_NDIM(payloads))));
	deconstruct_array(payloads, BYTEAOID, -1, false, TYPALIGN_INT, &elements,
					  &nulls, &n);
	items = palloc0(sizeof(SubmitItem) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("payloads must not contain nulls"),
					 errdetail("Element %d is null.", i + 1)));
		items[i].payload = DatumGetByteaPP(elements[i]);
		items[i].tx_id = payload_tx_id(items[i].payload);
	}
	*n_items = n;
	return items;
}

/*
 * ordering.submit_txs(channel text, payloads bytea[])
 * RETURNS TABLE (tx_id text, block_number bigint, position int)
 */
Datum
ordering_submit_txs(PG_FUNCTION_ARGS)
{
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	SubmitItem *items;
	int n_items;

	OrderingRequireArg(fcinfo, 1, "payloads");
	items = submit_items_from_array(PG_GETARG_ARRAYTYPE_P(1), &n_items);
	submit_items(channel, items, n_items, true);
	return_places(fcinfo, items, n_items);
	return (Datum) 0;
}
