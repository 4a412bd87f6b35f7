/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  SPI plumbing of the store: one transaction around a unit of work,
 *	  statements prepared once and kept, small helpers.
 *
 * The worker does its table work in transactions it opens itself
 * (StoreBegin/StoreCommit); backends call store functions inside their own
 * transaction with SPI connected.  Statements that run for every ready
 * are prepared once and kept (SPI_keepplan); the plan cache replans them
 * if the tables are recreated.
 *
 * src/store/spi.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "common/conninfo.h"
#include "store/extension_watch.h"
#include "store/spi.h"

/*
 * The context StoreBegin() was called in: results that outlive the SPI
 * connection go here, and StoreCommit() switches back to it (a commit
 * leaves CurrentMemoryContext at TopMemoryContext).
 */
static MemoryContext store_caller_cxt;

MemoryContext
StoreCallerContext(void)
{
	Assert(store_caller_cxt != NULL);
	return store_caller_cxt;
}

static SPIPlanPtr
store_plan(StorePlan *def)
{
	if (def->plan == NULL)
	{
		SPIPlanPtr plan;

		if (def->custom)
			plan = SPI_prepare_cursor(def->sql, def->nargs, def->argtypes,
									  CURSOR_OPT_CUSTOM_PLAN);
		else
			plan = SPI_prepare(def->sql, def->nargs, def->argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", def->sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		def->plan = plan;
	}
	return def->plan;
}

int
StoreExecPlan(StorePlan *def, Datum *values, const char *nulls, int expected)
{
	int ret;

	ret = SPI_execute_plan(store_plan(def), values, nulls, false, 0);
	if (ret != expected)
	{
		/*
		 * Prepared again next time: a plan that a DO INSTEAD rule rewrote
		 * to nothing depends on no table, so dropping the rule did not
		 * invalidate it, and the channel kept failing until the worker
		 * restarted (found by hostile testing).
		 */
		SPI_freeplan(def->plan);
		def->plan = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"%s\" failed: %s", def->sql,
						SPI_result_code_string(ret)),
				 errhint(
					 "A rule on the table may have rewritten the statement.")));
	}
	return ret;
}

void
StoreQuery(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int ret;

	ret = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
	if (ret != expected)
		elog(ERROR, "\"%s\" failed: %s", sql, SPI_result_code_string(ret));
}

void
StoreQueryChannel(const char *sql, const char *channel, int expected)
{
	Oid type = TEXTOID;
	Datum value = CStringGetTextDatum(channel);

	StoreQuery(sql, 1, &type, &value, expected);
	pfree(DatumGetPointer(value));
}

bytea *
StoreBytea(const void *data, Size len)
{
	bytea *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	if (len > 0)
		memcpy(VARDATA(result), data, len);
	return result;
}

Datum
StoreGetColumn(HeapTuple tuple, TupleDesc desc, int column, Oid type,
			   bool *isnull)
{
	/* A column altered to another type would be read as garbage. */
	if (SPI_gettypeid(desc, column) != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("column \"%s\" read by ordering is of type %s, not %s",
						SPI_fname(desc, column),
						format_type_be(SPI_gettypeid(desc, column)),
						format_type_be(type)),
				 errhint(
					 "Restore the column's type as the extension created it.")));
	return SPI_getbinval(tuple, desc, column, isnull);
}

int64
StoreGetInt64(HeapTuple tuple, TupleDesc desc, int column)
{
	bool isnull;
	Datum d = StoreGetColumn(tuple, desc, column, INT8OID, &isnull);

	if (isnull)
		elog(ERROR, "unexpected NULL in column %d", column);
	return DatumGetInt64(d);
}

/*
 * A GUC nest level of its own, as a function's SET clause does: an ERROR
 * unwinds it with the transaction, StoreSpiFinish pops it.
 */
int
StoreSpiConnect(void)
{
	int nest_level;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", ORDERING_PINNED_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
							 0, false);
	return nest_level;
}

void
StorePinWorkerSession(void)
{
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", ORDERING_PINNED_SEARCH_PATH, PGC_SUSET,
					PGC_S_OVERRIDE);
	/* Its writes are the channel's state: never refused as read-only. */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET,
					PGC_S_OVERRIDE);
	/*
	 * Each of its transactions reads what the last one wrote, so READ
	 * COMMITTED loses nothing; SERIALIZABLE would add predicate locks and
	 * serialization failures against readers of the tables.
	 */
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * "replica" skips foreign-key triggers: the lock a block takes on its
	 * channel's row against drop_channel, and the cascades.
	 */
	SetConfigOption("session_replication_role", "origin", PGC_SUSET,
					PGC_S_OVERRIDE);
	/*
	 * A lock a user holds on the tables is waited for, as in the tests: a
	 * lock_timeout made every write fail and reload the channel meanwhile,
	 * and cost a leader its leadership.
	 */
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * With exit_on_error, one channel's error (a user's trigger refusing its
	 * block, say) became FATAL and took every channel of the node down with
	 * the worker, over and over.
	 */
	SetConfigOption("exit_on_error", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Transaction ids travel in UTF-8 (common/entry.c).  With UTF-8 as its
	 * client encoding a worker converts them with cached functions, which
	 * need no transaction; choosing one needs a transaction.
	 */
	StartTransactionCommand();
	SetConfigOption("client_encoding", "UTF8", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * ALTER DATABASE/ROLE ... SET role made the worker run as that role:
	 * refused on its own schema, the node ran no channel.
	 */
	SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
	CommitTransactionCommand();
}

void
StoreSpiFinish(int guc_nest_level)
{
	AtEOXact_GUC(true, guc_nest_level);
	SPI_finish();
}

void
StoreBegin(void)
{
	store_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	StoreCheckExtension();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
StoreCommit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(store_caller_cxt);
}

void
StoreCommitUnflushed(void)
{
	int saved = synchronous_commit;

	synchronous_commit = SYNCHRONOUS_COMMIT_OFF;
	PG_TRY();
	{
		StoreCommit();
	}
	PG_FINALLY();
	{
		synchronous_commit = saved;
	}
	PG_END_TRY();
}

/*
 * Runs fn(arg) in a subtransaction of the current transaction.  Returns
 * NULL once it is released, or the error fn raised (in the caller's memory
 * context) once it is rolled back; the caller's memory context and
 * resource owner are current again either way.
 */
ErrorData *
StoreInSubtransaction(void (*fn)(void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

bool
StoreExtensionExists(void)
{
	return OidIsValid(get_extension_oid("ordering", true));
}

List *
StoreChannelNames(void)
{
	List *names = NIL;

	StoreQuery("SELECT channel FROM ordering.channels ORDER BY channel", 0,
			   NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *name =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(store_caller_cxt);

		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	return names;
}
