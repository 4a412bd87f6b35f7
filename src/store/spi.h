/*-------------------------------------------------------------------------
 *
 * spi.h
 *	  SPI plumbing of the store.
 *
 * src/store/spi.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_SPI_H
#define ORDERING_STORE_SPI_H

#include "executor/spi.h"
#include "nodes/pg_list.h"

#define STORE_PLAN_MAX_ARGS 11

/* A statement prepared on first use and kept for the process's life. */
typedef struct StorePlan
{
	const char *sql;
	int nargs;
	Oid argtypes[STORE_PLAN_MAX_ARGS];
	bool custom; /* planned for each call's values */
	SPIPlanPtr plan;
} StorePlan;

/*
 * Backends: SPI_connect with search_path pinned to pg_catalog, pg_temp
 * until StoreSpiFinish, whatever the caller's search_path (the worker's
 * session is pinned for good).  Returns what StoreSpiFinish takes.
 */
extern int StoreSpiConnect(void);
extern void StoreSpiFinish(int guc_nest_level);

/*
 * A worker's session, for good: commits are synchronous (persist before
 * send), names resolve in pg_catalog, never public, and the server's or
 * database's defaults for sessions (read-only, serializable, replication
 * role replica) do not reach its writes.
 */
extern void StorePinWorkerSession(void);

/* Transaction + SPI + snapshot around a unit of worker work. */
extern void StoreBegin(void);
extern void StoreCommit(void);
/*
 * StoreCommit without waiting for the WAL flush: for writes that are
 * derived from durable ones and redone after a crash.  WAL keeps no later
 * commit without this one.
 */
extern void StoreCommitUnflushed(void);
extern ErrorData *StoreInSubtransaction(void (*fn)(void *arg), void *arg);
/* Where results that outlive the SPI connection go (StoreBegin's caller). */
extern MemoryContext StoreCallerContext(void);

/* Runs a kept statement; ERROR unless it returns expected. */
extern int
StoreExecPlan(StorePlan *plan, Datum *values, const char *nulls, int expected);
/* Runs a one-off statement; ERROR unless it returns expected. */
extern void
StoreQuery(const char *sql, int nargs, Oid *types, Datum *values, int expected);
/* StoreQuery of a statement whose one parameter, $1, is a channel's name. */
extern void
StoreQueryChannel(const char *sql, const char *channel, int expected);

/* A palloc'd bytea holding a copy of len bytes (an SPI parameter). */
extern bytea *StoreBytea(const void *data, Size len);
/*
 * A column of an SPI result, which must be of type (else ERROR XX001: a
 * table's column altered to another type would be read as garbage, or
 * crash the process).
 */
extern Datum StoreGetColumn(HeapTuple tuple, TupleDesc desc, int column,
							Oid type, bool *isnull);
/* A bigint column of an SPI result; ERROR on NULL or another type. */
extern int64 StoreGetInt64(HeapTuple tuple, TupleDesc desc, int column);

extern bool StoreExtensionExists(void);
/* Names of every channel in ordering.channels (in the caller's context). */
extern List *StoreChannelNames(void);

#endif /* ORDERING_STORE_SPI_H */
