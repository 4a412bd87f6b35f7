/*-------------------------------------------------------------------------
 *
 * direct.h
 *	  The worker's per-ready writes through the table AM, without the
 *	  executor: locking a channel's row, inserting log, block and
 *	  transaction rows, updating its raft_state row.
 *
 * Each SQL statement cost the worker some 50 microseconds of executor
 * start-up, foreign-key checks and shutdown, several per ready on every
 * node (perf); these do the same work in a few.  They write only tables
 * that are as the extension made them: with triggers of their own (a
 * user's) or other columns, a write returns false and the caller's SQL
 * statement serves instead, so triggers fire and defaults apply.
 *
 * src/store/direct.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_DIRECT_H
#define ORDERING_STORE_DIRECT_H

#include "executor/tuptable.h"

#include "store/keyed.h"

/* A column as the extension made it: its name and type. */
typedef struct StoreDirectColumn
{
	const char *name;
	Oid type;
} StoreDirectColumn;

/* A table of schema ordering whose first column is channel (text). */
typedef struct StoreDirectTable
{
	const char *name;
	int natts;
	const StoreDirectColumn *columns; /* natts of them, in order */
	StoreKeyedTable key; /* its unique key (STORE_KEYED_COUNT: none) */
} StoreDirectTable;

/*
 * Locks channel's row of ordering.channels FOR KEY SHARE for the rest of
 * the transaction, as a foreign key check would; ERROR 42704 if the row is
 * gone.  First in a ready's transaction, at its top level: drop_channel
 * deletes that row, then (cascading) the channel's other rows, so taking
 * it first puts the worker's writes and a drop in one order (they
 * deadlocked without it), and the direct writes below rely on it.
 */
extern void StoreLockChannel(const char *channel);

/*
 * Inserts n_rows rows of channel: values and nulls hold, row after row,
 * the columns after the first (which is channel).  CHECK constraints and
 * unique indexes apply as in an INSERT.  False, with nothing written, when
 * the SQL statement must serve.
 *
 * The foreign key to ordering.channels is not checked row by row: these
 * writes require the lock StoreLockChannel took in this transaction,
 * which is the lock the check would take and shows the row is there.
 */
extern bool
StoreDirectInsert(const StoreDirectTable *table, const char *channel,
				  int n_rows, const Datum *values, const bool *nulls);

/*
 * Replaces, in channel's row of a table keyed by channel alone (key), the
 * columns set in replace (indexed by attribute number - 1) with values /
 * nulls.  When adjust is given, it is called first with the row as it
 * is, to adjust the values that replace it (not which columns: triggers
 * are chosen by those).  False when the SQL statement must serve; ERROR
 * 42704 if the row is missing.
 */
typedef void (*StoreDirectAdjust)(TupleTableSlot *current, Datum *values,
								  bool *nulls, const bool *replace, void *arg);
extern bool
StoreDirectUpdate(const StoreDirectTable *table, const char *channel,
				  const Datum *values, const bool *nulls, const bool *replace,
				  StoreDirectAdjust adjust, void *arg);

#endif /* ORDERING_STORE_DIRECT_H */
