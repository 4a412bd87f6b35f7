/*-------------------------------------------------------------------------
 *
 * read.c
 *	  Reading what the worker publishes and what the chain holds:
 *	  the rows behind ordering.status and ordering.peers, wait_for_block,
 *	  verify_chain.
 *
 * Status is copied out of shared memory under a shared lock and turned
 * into rows afterwards, so the lock is never held while allocating.
 * verify_chain recomputes every hash (README.md, "How blocks are hashed and
 * verified") in one pass over a
 * cursor of the blocks joined with their transactions, so its memory does
 * not grow with the chain.
 *
 * src/sql/read.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "common/blocks.h"
#include "common/clock.h"
#include "common/gucs.h"
#include "common/shmem.h"
#include "raft/raft.h"
#include "store/log.h"
#include "store/spi.h"
#include "sql/backend.h"
#include "sql/catalog.h"
#include "sql/validate.h"

PG_FUNCTION_INFO_V1(ordering_channel_status);
PG_FUNCTION_INFO_V1(ordering_peer_status);
PG_FUNCTION_INFO_V1(ordering_wait_for_block);
PG_FUNCTION_INFO_V1(ordering_verify_chain);

#define STATUS_COLUMNS 23
#define PEER_COLUMNS 10
#define WAIT_SLICE_MS 1000
#define VERIFY_FETCH_ROWS 1000

/*
 * Copies the in-use status slots; *n_slots is how many.  None in another
 * database than the worker's: its channels are not this database's (a
 * dump restored beside the live one named the same channels, and showed
 * the worker's roles for them).
 */
static OrderingChannelStatus *
copy_status_slots(int *n_slots)
{
	OrderingChannelStatus *copy;
	int n = 0;

	OrderingRequireSharedMemory();
	copy = palloc(sizeof(OrderingChannelStatus) *
				  Max(ordering_shared->max_channels, 1));
	*n_slots = 0;
	if (!OrderingInWorkerDatabase())
		return copy;
	LWLockAcquire(&ordering_shared->lock, LW_SHARED);
	for (int i = 0; i < ordering_shared->max_channels; i++)
	{
		if (ordering_shared->status[i].in_use)
			copy[n++] = ordering_shared->status[i];
	}
	LWLockRelease(&ordering_shared->lock);
	*n_slots = n;
	return copy;
}

static Datum
text_or_null(const char *string, bool *isnull)
{
	*isnull = string[0] == '\0';
	return *isnull ? (Datum) 0 : CStringGetTextDatum(string);
}

static Datum
timestamp_or_null(TimestampTz timestamp, bool *isnull)
{
	*isnull = timestamp == 0;
	return TimestampTzGetDatum(timestamp);
}

static void
put_status_row(ReturnSetInfo *rsinfo, const OrderingChannelStatus *status)
{
	Datum values[STATUS_COLUMNS];
	bool nulls[STATUS_COLUMNS] = { 0 };
	int column = 0;

	values[column++] = CStringGetTextDatum(status->channel);
	values[column++] = CStringGetTextDatum(ordering_node_name);
	values[column] = text_or_null(status->membership, &nulls[column]);
	column++;
	values[column] = text_or_null(status->role, &nulls[column]);
	column++;
	values[column++] = Int64GetDatum((int64) status->term);
	values[column] = text_or_null(status->leader, &nulls[column]);
	column++;
	values[column++] = Int64GetDatum((int64) status->commit_index);
	values[column++] = Int64GetDatum((int64) status->applied_index);
	values[column++] = Int64GetDatum((int64) status->snapshot_index);
	values[column++] = Int64GetDatum(status->last_block);
	values[column++] = BoolGetDatum(strcmp(status->role, "leader") == 0);
	values[column++] = Int64GetDatum(status->leader_changes);
	values[column++] = Int64GetDatum(status->proposal_failures);
	values[column++] = Int64GetDatum(status->committed_block_number);
	values[column++] = Int64GetDatum(status->data_persist_count);
	nulls[column] = status->data_persist_count == 0;
	values[column++] = Float8GetDatum(status->data_persist_count == 0
										  ? 0
										  : status->data_persist_total_ms /
											  status->data_persist_count);
	values[column] = timestamp_or_null(status->updated_at, &nulls[column]);
	column++;
	values[column] = text_or_null(status->last_error, &nulls[column]);
	column++;
	values[column++] = Int64GetDatum(status->rejected_records);
	nulls[column] = !status->recovering || status->recovery_target == 0;
	values[column++] = Int64GetDatum((int64) status->recovery_target);
	nulls[column] = !status->recovering;
	values[column] =
		status->recovering ? CStringGetTextDatum(status->recovery) : (Datum) 0;
	column++;
	values[column++] = BoolGetDatum(status->quiesced);
	values[column] = text_or_null(status->leader_link_error, &nulls[column]);
	column++;
	Assert(column == STATUS_COLUMNS);

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* ordering.channel_status(): one row per channel the worker runs. */
Datum
ordering_channel_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int n_slots;
	OrderingChannelStatus *slots = copy_status_slots(&n_slots);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n_slots; i++)
		put_status_row(rsinfo, &slots[i]);
	return (Datum) 0;
}

static const char *
progress_state_name(int state)
{
	switch (state)
	{
		case RAFT_PROGRESS_PROBE:
			return "probe";
		case RAFT_PROGRESS_REPLICATE:
			return "replicate";
		case RAFT_PROGRESS_SNAPSHOT:
			return "snapshot";
	}
	return "unknown";
}

static void
put_peer_row(ReturnSetInfo *rsinfo, const char *channel,
			 const OrderingPeerStatus *peer)
{
	Datum values[PEER_COLUMNS];
	bool nulls[PEER_COLUMNS] = { 0 };
	int column = 0;

	values[column++] = CStringGetTextDatum(channel);
	values[column++] = CStringGetTextDatum(peer->node);
	values[column++] = Int64GetDatum((int64) peer->raft_id);
	values[column++] = BoolGetDatum(peer->is_learner);
	values[column++] = Int64GetDatum((int64) peer->match_index);
	values[column++] = Int64GetDatum((int64) peer->next_index);
	values[column++] =
		CStringGetTextDatum(progress_state_name(peer->progress_state));
	values[column++] = BoolGetDatum(peer->recent_active);
	values[column++] = Int32GetDatum((int32) peer->inflight);
	values[column] = timestamp_or_null(peer->last_contact, &nulls[column]);
	column++;
	Assert(column == PEER_COLUMNS);

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* ordering.peer_status(): one row per peer of each channel led here. */
Datum
ordering_peer_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int n_slots;
	OrderingChannelStatus *slots = copy_status_slots(&n_slots);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < n_slots; i++)
	{
		int n_peers = Min(slots[i].n_peers, ORDERING_MAX_PEERS);

		for (int j = 0; j < n_peers; j++)
			put_peer_row(rsinfo, slots[i].channel, &slots[i].peers[j]);
	}
	return (Datum) 0;
}

/*
 * A REPEATABLE READ or SERIALIZABLE transaction block reads under its own
 * snapshot, in which a block that came later never shows: waiting for one
 * there would be waiting for nothing.
 */
static bool
in_snapshot_transaction_block(void)
{
	return IsolationUsesXactSnapshot() && IsTransactionBlock();
}

/*
 * Whether block number of channel exists: with a fresh snapshot, under
 * any isolation level of a single statement, whose transaction ends with
 * it; with the transaction's (xact_snapshot) in a REPEATABLE READ or
 * SERIALIZABLE block.
 */
static bool
block_exists(const char *channel, int64 number, bool xact_snapshot)
{
	Oid types[2] = { TEXTOID, INT8OID };
	Datum values[2] = { CStringGetTextDatum(channel), Int64GetDatum(number) };
	int rc;
	bool exists;

	PushActiveSnapshot(xact_snapshot ? GetTransactionSnapshot()
									 : GetLatestSnapshot());
	/* read_only: the query runs under the snapshot pushed above */
	rc = SPI_execute_with_args("SELECT 1 FROM ordering.blocks"
							   " WHERE channel = $1 AND number = $2",
							   2, types, values, NULL, true, 1);
	PopActiveSnapshot();
	if (rc != SPI_OK_SELECT)
		elog(ERROR,
			 "SPI_execute_with_args failed (%s) reading block " INT64_FORMAT,
			 SPI_result_code_string(rc), number);
	exists = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	return exists;
}

/*
 * block_exists in a subtransaction rolled back at once, so that the locks
 * its query took go with it.  A waiter kept AccessShareLock on
 * ordering.blocks while it slept: an ACCESS EXCLUSIVE request (VACUUM
 * FULL, ALTER TABLE, DROP EXTENSION) queued behind it, the worker's next
 * lock queued behind that, and the waiter waited for the worker, which no
 * deadlock detector sees: every channel of the node stopped until the
 * waiter was cancelled (found by hostile testing).
 */
static bool
block_exists_unlocked(const char *channel, int64 number, bool xact_snapshot,
					  bool *channel_exists)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool exists = false;
	bool known;

	BeginInternalSubTransaction(NULL);
	known = channel_exists == NULL || OrderingChannelExists(channel);
	if (known)
		exists = block_exists(channel, number, xact_snapshot);
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (channel_exists != NULL)
		*channel_exists = known;
	return exists;
}

/*
 * Sleeps on applied_cv until the block exists; false at the deadline.
 * Every block wakes every waiter: look in the table only when the
 * published last block moved (read before looking, so no block is missed),
 * or after a whole slice without a wake-up (blocks installed by a snapshot
 * catch-up wake nobody).
 */
static bool
wait_for_block(const char *channel, int64 number, bool has_deadline,
			   TimestampTz deadline)
{
	bool exists = false;
	int64 looked_at_block = PG_INT64_MIN;
	bool timed_out = false;

	ConditionVariablePrepareToSleep(&ordering_shared->applied_cv);
	for (;;)
	{
		int64 last_block = OrderingPublishedLastBlock(channel);
		long sleep_ms;

		if (last_block != looked_at_block || last_block < 0 || timed_out)
		{
			looked_at_block = last_block;
			if ((exists = block_exists_unlocked(channel, number, false, NULL)))
				break;
		}
		sleep_ms = has_deadline ? OrderingRemainingMs(deadline, WAIT_SLICE_MS)
								: WAIT_SLICE_MS;

		CHECK_FOR_INTERRUPTS();
		if (sleep_ms <= 0)
			break;
		timed_out = ConditionVariableTimedSleep(&ordering_shared->applied_cv,
												sleep_ms, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return exists;
}

/*
 * ordering.wait_for_block(channel text, number bigint,
 *						   timeout_ms int DEFAULT NULL) RETURNS boolean
 *
 * True once the block exists; false when timeout_ms passed first.  A NULL
 * timeout waits until the block comes (or statement_timeout, or cancel).
 */
Datum
ordering_wait_for_block(PG_FUNCTION_ARGS)
{
	int spi;
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	int64 number;
	bool has_deadline = !PG_ARGISNULL(2);
	TimestampTz deadline = 0;
	bool exists;
	bool channel_exists;
	/* Before any subtransaction, which makes every transaction a block. */
	bool xact_snapshot = in_snapshot_transaction_block();

	OrderingRequireArg(fcinfo, 1, "number");
	number = PG_GETARG_INT64(1);
	if (number < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("block number must not be negative")));
	if (has_deadline && PG_GETARG_INT32(2) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must not be negative")));
	if (has_deadline)
		deadline =
			TimestampTzPlusMilliseconds(OrderingClockNow(), PG_GETARG_INT32(2));
	OrderingRequireNotWorker("wait_for_block()");

	spi = StoreSpiConnect();
	exists =
		block_exists_unlocked(channel, number, xact_snapshot, &channel_exists);
	if (!channel_exists)
		OrderingReportUnknownChannel(channel);
	if (!exists && xact_snapshot)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("wait_for_block cannot wait in a REPEATABLE READ or SERIALIZABLE transaction block"),
				 errdetail(
					 "The transaction's snapshot would not show the block it waited for."),
				 errhint(
					 "Call it outside a transaction block, or use READ COMMITTED.")));
	if (!exists)
	{
		OrderingRequireSharedMemory();
		exists = wait_for_block(channel, number, has_deadline, deadline);
	}
	StoreSpiFinish(spi);
	PG_RETURN_BOOL(exists);
}

/*
 * verify_chain's running state: the block being checked, and the first
 * problem found.
 */
typedef struct ChainCheck
{
	int64 blocks; /* blocks seen */
	int64 expected_number;
	uint8 previous_hash[ORDERING_HASH_LEN]; /* hash of the last block */
	/* the current block */
	int64 number;
	bool is_config;
	int32 tx_count;
	int32 items_seen;
	uint8 stored_previous_hash[ORDERING_HASH_LEN];
	uint8 stored_data_hash[ORDERING_HASH_LEN];
	uint8 stored_hash[ORDERING_HASH_LEN];
	OrderingDataHasher hasher;
	MemoryContext block_context; /* lives across rows: hasher, detail */
	/* the head this node applied up to (raft_state), if known */
	bool has_head;
	ChainHead head;
	/* result */
	bool bad;
	int64 first_bad_block;
	char *detail;
} ChainCheck;

static void
chain_bad(ChainCheck *check, int64 number, const char *detail)
{
	if (check->bad)
		return;
	check->bad = true;
	check->first_bad_block = number;
	check->detail = MemoryContextStrdup(check->block_context, detail);
}

static bool
hash_matches(const uint8 stored[ORDERING_HASH_LEN],
			 const uint8 computed[ORDERING_HASH_LEN])
{
	return memcmp(stored, computed, ORDERING_HASH_LEN) == 0;
}

/* Copies a stored hash column; the table's CHECK makes it 32 bytes. */
static void
read_hash_column(HeapTuple tuple, TupleDesc desc, int column,
				 uint8 hash[ORDERING_HASH_LEN])
{
	bool isnull;
	bytea *stored =
		DatumGetByteaPP(StoreGetColumn(tuple, desc, column, BYTEAOID, &isnull));

	Assert(!isnull);
	memset(hash, 0, ORDERING_HASH_LEN);
	memcpy(hash, VARDATA_ANY(stored),
		   Min(VARSIZE_ANY_EXHDR(stored), ORDERING_HASH_LEN));
}

/* Ends the current block: compare what was computed with what is stored. */
static void
chain_finish_block(ChainCheck *check)
{
	uint8 data_hash[ORDERING_HASH_LEN];
	uint8 hash[ORDERING_HASH_LEN];

	OrderingDataHashEnd(&check->hasher, data_hash);
	if (check->number != check->expected_number)
		chain_bad(check, check->expected_number,
				  psprintf("block " INT64_FORMAT " is missing",
						   check->expected_number));
	else if (!hash_matches(check->stored_previous_hash, check->previous_hash))
		chain_bad(check, check->number,
				  psprintf("previous_hash of block " INT64_FORMAT
						   " is not the hash of the block before it",
						   check->number));
	else if (check->items_seen != (check->is_config ? 1 : check->tx_count) ||
			 (check->is_config && check->tx_count != 0))
		chain_bad(check, check->number,
				  psprintf("tx_count of block " INT64_FORMAT " is %d, not %d",
						   check->number, check->tx_count, check->items_seen));
	else if (!hash_matches(check->stored_data_hash, data_hash))
		chain_bad(check, check->number,
				  psprintf("data_hash of block " INT64_FORMAT
						   " does not match its contents",
						   check->number));
	OrderingBlockHash(check->number, check->previous_hash, data_hash, hash);
	if (!check->bad && !hash_matches(check->stored_hash, hash))
		chain_bad(check, check->number,
				  psprintf("hash of block " INT64_FORMAT
						   " does not match its header",
						   check->number));
	/* Rewritten whole, with no block after it to break the link to. */
	if (check->has_head && check->number == check->head.last_block &&
		!hash_matches(check->stored_hash, check->head.last_hash))
		chain_bad(check, check->number,
				  psprintf("block " INT64_FORMAT
						   " is not the block this node applied",
						   check->number));
	check->blocks++;
	check->expected_number = check->number + 1;
	/* Chain on the stored hash, so one bad block is reported once. */
	memcpy(check->previous_hash, check->stored_hash, ORDERING_HASH_LEN);
}

static void
chain_start_block(ChainCheck *check, HeapTuple tuple, TupleDesc desc)
{
	bool isnull;
	MemoryContext row_context;

	check->number = StoreGetInt64(tuple, desc, 1);
	read_hash_column(tuple, desc, 2, check->stored_previous_hash);
	read_hash_column(tuple, desc, 3, check->stored_data_hash);
	read_hash_column(tuple, desc, 4, check->stored_hash);
	check->tx_count =
		DatumGetInt32(StoreGetColumn(tuple, desc, 5, INT4OID, &isnull));
	check->is_config =
		DatumGetBool(StoreGetColumn(tuple, desc, 6, BOOLOID, &isnull));
	check->items_seen = 0;
	row_context = MemoryContextSwitchTo(check->block_context);
	OrderingDataHashBegin(&check->hasher);
	MemoryContextSwitchTo(row_context);
}

/*
 * One row of the cursor: number, previous_hash, data_hash, hash, tx_count,
 * is_config, item, position, tx_id.  A block's rows are consecutive; item is
 * the configuration document, a transaction payload (hashed with its tx_id),
 * or NULL for a block with no transactions.
 */
static void
chain_check_row(ChainCheck *check, HeapTuple tuple, TupleDesc desc,
				bool *in_block)
{
	bool isnull;
	int64 number = StoreGetInt64(tuple, desc, 1);
	Datum item;
	bytea *item_bytes;
	Datum position;
	bool position_isnull;

	if (!*in_block || number != check->number)
	{
		if (*in_block)
			chain_finish_block(check);
		chain_start_block(check, tuple, desc);
		*in_block = true;
	}

	item = StoreGetColumn(tuple, desc, 7, BYTEAOID, &isnull);
	position = StoreGetColumn(tuple, desc, 8, INT4OID, &position_isnull);
	if (isnull)
		return;
	if (!check->is_config && !position_isnull &&
		DatumGetInt32(position) != check->items_seen)
		chain_bad(check, check->number,
				  psprintf("transaction positions of block " INT64_FORMAT
						   " are not 0, 1, 2, ...",
						   check->number));
	item_bytes = DatumGetByteaPP(item);
	if (check->is_config)
		OrderingDataHashAdd(&check->hasher, VARDATA_ANY(item_bytes),
							VARSIZE_ANY_EXHDR(item_bytes));
	else
	{
		/* tx_id is NOT NULL in the table */
		char *tx_id = TextDatumGetCString(
			StoreGetColumn(tuple, desc, 9, TEXTOID, &isnull));

		OrderingDataHashAddTx(&check->hasher, tx_id, VARDATA_ANY(item_bytes),
							  VARSIZE_ANY_EXHDR(item_bytes));
	}
	check->items_seen++;
}

static void
chain_check_all(const char *channel, ChainCheck *check)
{
	Oid types[1] = { TEXTOID };
	Datum values[1] = { CStringGetTextDatum(channel) };
	Portal portal;
	bool in_block = false;
	MemoryContext row_context =
		AllocSetContextCreate(CurrentMemoryContext, "ordering verify row",
							  ALLOCSET_DEFAULT_SIZES);

	portal =
		SPI_cursor_open_with_args(NULL,
								  "SELECT b.number, b.previous_hash, b.data_hash, b.hash,"
								  "       b.tx_count, b.is_config,"
								  "       CASE WHEN b.is_config THEN b.config ELSE t.payload END,"
								  "       t.position, t.tx_id"
								  " FROM ordering.blocks b"
								  " LEFT JOIN ordering.transactions t"
								  "   ON NOT b.is_config AND t.channel = b.channel"
								  "  AND t.block_number = b.number"
								  " WHERE b.channel = $1"
								  " ORDER BY b.number, t.position",
								  1, types, values, NULL, false, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, VERIFY_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			MemoryContext fetch_context = MemoryContextSwitchTo(row_context);

			chain_check_row(check, SPI_tuptable->vals[row],
							SPI_tuptable->tupdesc, &in_block);
			MemoryContextSwitchTo(fetch_context);
			MemoryContextReset(row_context);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	if (in_block)
		chain_finish_block(check);
	SPI_cursor_close(portal);
}

/*
 * The head saved with the applied index, read before the blocks: they are
 * only appended to, so a later read holds it too.  The blocks are read
 * under a snapshot of their own (not read_only): under the caller's
 * statement snapshot, older than this one, blocks applied in between
 * were reported missing.  None on an archive, or before the first apply.
 */
static void
chain_read_head(const char *channel, ChainCheck *check)
{
	StoreQueryChannel("SELECT last_block, last_block_hash"
					  " FROM ordering.raft_state WHERE channel = $1",
					  channel, SPI_OK_SELECT);
	/* Out of range: the worker reports it; the blocks are checked alone. */
	check->has_head = SPI_processed == 1 &&
		StoreReadAppliedHead(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							 &check->head) == STORE_HEAD_KNOWN;
}

/* The blocks must reach the head this node applied. */
static void
chain_check_head(ChainCheck *check)
{
	if (check->has_head && check->expected_number <= check->head.last_block)
		chain_bad(check, check->expected_number,
				  psprintf("blocks " INT64_FORMAT " to " INT64_FORMAT
						   ", which this node applied, are missing",
						   check->expected_number, check->head.last_block));
}

/*
 * Transactions the walk over the blocks did not see: rows whose block is
 * missing or is a configuration block (no foreign key keeps them out).
 */
static void
chain_check_orphans(const char *channel, ChainCheck *check)
{
	bool isnull;
	Datum d;

	StoreQueryChannel("SELECT min(t.block_number) FROM ordering.transactions t"
					  " WHERE t.channel = $1 AND NOT EXISTS"
					  " (SELECT 1 FROM ordering.blocks b WHERE b.channel = $1"
					  "  AND b.number = t.block_number AND NOT b.is_config)",
					  channel, SPI_OK_SELECT);
	d = StoreGetColumn(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
					   INT8OID, &isnull);
	if (!isnull)
		chain_bad(check, DatumGetInt64(d),
				  psprintf("transactions of block " INT64_FORMAT
						   " have no normal block",
						   DatumGetInt64(d)));
}

/*
 * An id in two rows: the worker drops a repeat before it writes a block
 * (the index on tx_id is not unique, README.md, "Choices that differ"),
 * so a second row was written by hand or by a fault.  Reported at the
 * later of the first two blocks that hold it.
 */
static void
chain_check_repeats(const char *channel, ChainCheck *check)
{
	bool isnull;
	Datum block;
	char *tx_id;

	StoreQueryChannel("SELECT (array_agg(block_number ORDER BY block_number,"
					  "                  position))[2], tx_id"
					  " FROM ordering.transactions WHERE channel = $1"
					  " GROUP BY tx_id HAVING count(*) > 1"
					  " ORDER BY 1 LIMIT 1",
					  channel, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	block = StoreGetColumn(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						   INT8OID, &isnull);
	tx_id = TextDatumGetCString(StoreGetColumn(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 2,
											   TEXTOID, &isnull));
	chain_bad(check, DatumGetInt64(block),
			  psprintf("transaction id \"%s\" is ordered twice", tx_id));
}

/*
 * ordering.verify_chain(channel text)
 * RETURNS TABLE (ok boolean, blocks bigint, first_bad_block bigint,
 *				  detail text)
 */
Datum
ordering_verify_chain(PG_FUNCTION_ARGS)
{
	int spi;
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ChainCheck check = { 0 };
	Datum values[4];
	bool nulls[4] = { false, false, false, false };

	check.block_context = CurrentMemoryContext;
	spi = StoreSpiConnect();
	if (!OrderingChannelExists(channel))
		OrderingReportUnknownChannel(channel);
	chain_read_head(channel, &check);
	chain_check_all(channel, &check);
	chain_check_head(&check);
	chain_check_repeats(channel, &check);
	chain_check_orphans(channel, &check);
	StoreSpiFinish(spi);

	if (check.blocks == 0)
		chain_bad(&check, 0, "the channel has no blocks");

	InitMaterializedSRF(fcinfo, 0);
	values[0] = BoolGetDatum(!check.bad);
	values[1] = Int64GetDatum(check.blocks);
	values[2] = Int64GetDatum(check.first_bad_block);
	nulls[2] = !check.bad || check.blocks == 0;
	values[3] = check.bad ? CStringGetTextDatum(check.detail) : (Datum) 0;
	nulls[3] = !check.bad;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
