/*-------------------------------------------------------------------------
 *
 * keyed.h
 *	  Rows of the extension's tables read by their key, straight through
 *	  an index (index_beginscan): no parser, planner or executor.
 *
 * For the lookups on a hot path (every submit): a kept SPI plan still
 * cost an executor start, run and end per call, more than the lookup.
 *
 * src/store/keyed.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_KEYED_H
#define ORDERING_STORE_KEYED_H

#include "access/genam.h"
#include "access/skey.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* The tables read by key (keyed.c names the index that finds each). */
typedef enum StoreKeyedTable
{
	STORE_KEYED_CHANNELS,	  /* (channel) */
	STORE_KEYED_RAFT_STATE,	  /* (channel) */
	STORE_KEYED_TRANSACTIONS, /* (channel, tx_id) */
	STORE_KEYED_COUNT
} StoreKeyedTable;

#define STORE_KEYED_MAX_KEYS 2

/* A table and its index, open under AccessShareLock, and one scan. */
typedef struct StoreKeyed
{
	StoreKeyedTable table;
	Relation rel;
	Relation index;
	IndexScanDesc scan;
	TupleTableSlot *slot;	   /* the row found */
	TupleTableSlot *next_slot; /* a hash index scan's next row, or NULL */
	ScanKeyData keys[STORE_KEYED_MAX_KEYS];
} StoreKeyed;

/*
 * Opens table and its key's index and begins a scan under snapshot (the
 * caller's, registered until StoreKeyedEnd).  Errors 42P01 when either is
 * missing, XX001 when the index is not the one expected.
 */
extern void
StoreKeyedBegin(StoreKeyed *keyed, StoreKeyedTable table, Snapshot snapshot);

/*
 * The row whose key columns equal keys (text datums, one per key column),
 * or NULL; the slot is valid until the next lookup or StoreKeyedEnd.
 * XX001 if two rows have that key (only a table without a unique index
 * on it can hold them).
 */
extern TupleTableSlot *StoreKeyedLookup(StoreKeyed *keyed, const Datum *keys);

/* Ends the scan and closes both, releasing the locks it took. */
extern void StoreKeyedEnd(StoreKeyed *keyed);

/*
 * A count that moves whenever this backend learns that one of the tables
 * or indexes changed its definition (a relcache invalidation: ALTER,
 * DROP, triggers enabled or disabled, ...): what depends on a definition
 * read before is to be read again.
 */
extern uint64 StoreKeyedChanges(void);

#endif /* ORDERING_STORE_KEYED_H */
