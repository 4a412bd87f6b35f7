/*-------------------------------------------------------------------------
 *
 * cutter.h
 *	  Fabric's block cutter: groups the leader's pending transactions into
 *	  batches (orderer/common/blockcutter/blockcutter.go), with an adaptive
 *	  mode that cuts as soon as the previous block has committed.
 *
 * src/worker/cutter.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CUTTER_H
#define ORDERING_CUTTER_H

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "common/channel_settings.h"

/* One pending transaction, allocated in the cutter's memory context. */
typedef struct CutterTx
{
	char *tx_id;
	char *payload;
	uint32 payload_len;
} CutterTx;

typedef struct Cutter
{
	MemoryContext cxt; /* owns every CutterTx and batch list */
	int64 max_message_count;
	int64 preferred_max_bytes;
	int64 absolute_max_bytes;
	int batch_timeout_ms;
	int batch_mode;			 /* OrderingBatchMode */
	int max_inflight_blocks; /* adaptive: cut at once below this */
	/* Leader: its batches proposed in its term and not yet applied. */
	int inflight_blocks;

	List *pending; /* CutterTx *, in arrival order */
	int64 pending_bytes;
	TimestampTz pending_since; /* arrival of the first pending tx */
} Cutter;

extern void CutterInit(Cutter *cutter, MemoryContext parent);
extern void CutterConfigure(Cutter *cutter, const OrderingSettings *settings);

/* A transaction copied into the cutter's context (for CutterOrdered). */
extern CutterTx *CutterTxMake(Cutter *cutter, const char *tx_id,
							  const char *payload, uint32 payload_len);
extern void CutterTxFree(CutterTx *tx);

/*
 * Takes one transaction; returns the batches (Lists of CutterTx *) cut by
 * it, 0, 1 or 2 of them, in order.  The caller frees them with
 * CutterBatchFree.  A transaction over absolute_max_bytes is refused:
 * *refused is set and it is freed.
 */
extern List *
CutterOrdered(Cutter *cutter, CutterTx *tx, TimestampTz now, bool *refused);
/* Cuts whatever is pending (NIL when nothing is). */
extern List *CutterCut(Cutter *cutter);
/*
 * Adaptive mode: true when what is pending should be cut now, because
 * fewer than max_inflight_blocks of the leader's blocks are uncommitted.
 */
extern bool CutterShouldCut(const Cutter *cutter);
/* A batch was proposed; one of this leader's batches was applied. */
extern void CutterNoteProposed(Cutter *cutter);
extern void CutterNoteApplied(Cutter *cutter);
/* Leadership changed: nothing of ours is in flight any more. */
extern void CutterResetInflight(Cutter *cutter);
/* True when the pending batch has waited batch_timeout. */
extern bool CutterTimedOut(const Cutter *cutter, TimestampTz now);
/* Milliseconds until the batch timeout; -1 when nothing is pending. */
extern long CutterTimeoutMs(const Cutter *cutter, TimestampTz now);
extern void CutterBatchFree(List *batch);
/* Hands out every pending transaction (for rerouting) and empties it. */
extern List *CutterTakeAll(Cutter *cutter);

#endif /* ORDERING_CUTTER_H */
