/*-------------------------------------------------------------------------
 *
 * cutter.c
 *	  Fabric's block cutter, run by a channel's leader.
 *
 * The rules are Fabric's (orderer/common/blockcutter/blockcutter.go):
 *	- a transaction larger than preferred_max_bytes is isolated: whatever
 *	  is pending is cut first, then the transaction alone is a batch;
 *	- if adding a transaction would take the pending batch over
 *	  preferred_max_bytes, the pending batch is cut first;
 *	- when the pending batch reaches max_message_count it is cut;
 *	- the batch timer (batch_timeout) starts with the first pending
 *	  transaction; when it fires, the pending batch is cut.
 * absolute_max_bytes is also enforced here, in case a peer forwards
 * something the local submit path would have refused.
 *
 * batch_mode 'adaptive' (the default) adds group commit: the leader cuts
 * what is pending at once while fewer than max_inflight_blocks of its
 * blocks are proposed and not yet applied, so a lone transaction never
 * waits for the timer, and under load transactions gather while the
 * previous block commits.  The size rules and the batch_timeout cap stay.
 * batch_mode 'timeout' is Fabric's cutter alone.
 *
 * src/worker/cutter.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "common/entry.h"
#include "worker/cutter.h"

/* Bytes a transaction takes in a batch entry (Fabric counts the envelope). */
static int64
cutter_tx_size(const CutterTx *tx)
{
	return (int64) EntryBatchTxSize(strlen(tx->tx_id), tx->payload_len);
}

void
CutterInit(Cutter *cutter, MemoryContext parent)
{
	OrderingSettings defaults;

	memset(cutter, 0, sizeof(*cutter));
	/* Empty on most channels (idle ones, followers' cutters). */
	cutter->cxt = AllocSetContextCreate(parent, "ordering cutter",
										ALLOCSET_START_SMALL_SIZES);
	cutter->pending = NIL;
	OrderingSettingsDefaults(&defaults);
	CutterConfigure(cutter, &defaults);
}

void
CutterConfigure(Cutter *cutter, const OrderingSettings *settings)
{
	Assert(settings->max_message_count >= 1);
	Assert(settings->preferred_max_bytes >= 1 &&
		   settings->absolute_max_bytes >= 1);
	cutter->max_message_count = settings->max_message_count;
	cutter->preferred_max_bytes = settings->preferred_max_bytes;
	cutter->absolute_max_bytes = settings->absolute_max_bytes;
	cutter->batch_timeout_ms = (int) Max(settings->batch_timeout, 1);
	cutter->batch_mode = (int) settings->batch_mode;
	cutter->max_inflight_blocks = (int) Max(settings->max_inflight_blocks, 1);
}

bool
CutterShouldCut(const Cutter *cutter)
{
	return cutter->batch_mode == ORDERING_BATCH_ADAPTIVE &&
		cutter->pending != NIL &&
		cutter->inflight_blocks < cutter->max_inflight_blocks;
}

void
CutterNoteProposed(Cutter *cutter)
{
	cutter->inflight_blocks++;
}

/* Clamped: the count only steers batching, the timer bounds any error. */
void
CutterNoteApplied(Cutter *cutter)
{
	if (cutter->inflight_blocks > 0)
		cutter->inflight_blocks--;
}

void
CutterResetInflight(Cutter *cutter)
{
	cutter->inflight_blocks = 0;
}

CutterTx *
CutterTxMake(Cutter *cutter, const char *tx_id, const char *payload,
			 uint32 payload_len)
{
	MemoryContext old = MemoryContextSwitchTo(cutter->cxt);
	CutterTx *tx = palloc(sizeof(CutterTx));

	tx->tx_id = pstrdup(tx_id);
	tx->payload = palloc(Max(payload_len, 1));
	memcpy(tx->payload, payload, payload_len);
	tx->payload_len = payload_len;
	MemoryContextSwitchTo(old);
	return tx;
}

void
CutterTxFree(CutterTx *tx)
{
	pfree(tx->tx_id);
	pfree(tx->payload);
	pfree(tx);
}

List *
CutterCut(Cutter *cutter)
{
	List *batch = cutter->pending;

	cutter->pending = NIL;
	cutter->pending_bytes = 0;
	cutter->pending_since = 0;
	return batch;
}

static List *
cutter_append_batch(Cutter *cutter, List *batches, List *batch)
{
	MemoryContext old;

	if (batch == NIL)
		return batches;
	old = MemoryContextSwitchTo(cutter->cxt);
	batches = lappend(batches, batch);
	MemoryContextSwitchTo(old);
	return batches;
}

List *
CutterOrdered(Cutter *cutter, CutterTx *tx, TimestampTz now, bool *refused)
{
	int64 size = cutter_tx_size(tx);
	List *batches = NIL;
	MemoryContext old;

	*refused = false;
	if (tx->payload_len > cutter->absolute_max_bytes)
	{
		CutterTxFree(tx);
		*refused = true;
		return NIL;
	}

	if (size > cutter->preferred_max_bytes)
	{
		/* Isolate it: cut what is pending, then it alone. */
		batches = cutter_append_batch(cutter, batches, CutterCut(cutter));
		old = MemoryContextSwitchTo(cutter->cxt);
		batches = cutter_append_batch(cutter, batches, list_make1(tx));
		MemoryContextSwitchTo(old);
		return batches;
	}

	if (cutter->pending != NIL &&
		cutter->pending_bytes + size > cutter->preferred_max_bytes)
		batches = cutter_append_batch(cutter, batches, CutterCut(cutter));

	old = MemoryContextSwitchTo(cutter->cxt);
	cutter->pending = lappend(cutter->pending, tx);
	MemoryContextSwitchTo(old);
	if (cutter->pending_bytes == 0 && list_length(cutter->pending) == 1)
		cutter->pending_since = now;
	cutter->pending_bytes += size;

	if (list_length(cutter->pending) >= cutter->max_message_count)
		batches = cutter_append_batch(cutter, batches, CutterCut(cutter));

	Assert(list_length(batches) <= 2);
	return batches;
}

bool
CutterTimedOut(const Cutter *cutter, TimestampTz now)
{
	if (cutter->pending == NIL)
		return false;
	return now >= TimestampTzPlusMilliseconds(cutter->pending_since,
											  cutter->batch_timeout_ms);
}

long
CutterTimeoutMs(const Cutter *cutter, TimestampTz now)
{
	TimestampTz deadline;

	if (cutter->pending == NIL)
		return -1;
	deadline = TimestampTzPlusMilliseconds(cutter->pending_since,
										   cutter->batch_timeout_ms);
	return TimestampDifferenceMilliseconds(now, deadline);
}

void
CutterBatchFree(List *batch)
{
	ListCell *lc;

	foreach(lc, batch)
		CutterTxFree((CutterTx *) lfirst(lc));
	list_free(batch);
}

List *
CutterTakeAll(Cutter *cutter)
{
	return CutterCut(cutter);
}
