/*-------------------------------------------------------------------------
 *
 * backend.c
 *	  What every SQL function needs of the ordering worker: is it loaded
 *	  and running in this database, ask it to reload channels at commit,
 *	  and how long to wait for it.
 *
 * Reloads are requested at commit, so the worker finds committed rows.
 *
 * src/sql/backend.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"

#include "common/clock.h"
#include "common/gucs.h"
#include "common/shmem.h"
#include "sql/backend.h"

static bool reload_requested = false;
static bool reload_callback_registered = false;

void
OrderingRequireSharedMemory(void)
{
	if (ordering_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ordering is not loaded by shared_preload_libraries"),
				 errhint(
					 "Add ordering to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* ordering.database is fixed at server start, and so is MyDatabaseId. */
bool
OrderingInWorkerDatabase(void)
{
	static int known = -1;

	if (known < 0)
	{
		char *database = get_database_name(MyDatabaseId);

		known = database != NULL && strcmp(database, ordering_database) == 0;
	}
	return known == 1;
}

/*
 * A standby replays its primary's tables, chain included, and can answer
 * where an ordered transaction is; its worker starts only once it is
 * promoted (BgWorkerStart_RecoveryFinished), so nothing would ever order a
 * submission made here.
 */
static void
require_not_in_recovery(void)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("ordering does not run on a server in recovery"),
				 errdetail(
					 "This server is a standby: it replays its primary's chain, and its ordering worker starts only if it is promoted."),
				 errhint("Submit and manage channels on the primary.")));
}

/*
 * create_channel, join_channel and drop_channel write this node's tables in
 * the calling transaction.  PostgreSQL refuses writes in a read-only
 * transaction in its executor, and genesis rows go in through the table
 * AM: without this check a read-only transaction wrote them, or failed on
 * whichever internal statement came first.  What the worker writes
 * (submissions, configuration changes) is not the caller's write and is
 * not refused here (TAP 015).
 */
void
OrderingRequireReadWrite(const char *function)
{
	require_not_in_recovery();
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s() in a read-only transaction",
						function),
				 errdetail("%s() writes this node's ordering tables in the calling transaction.",
						   function),
				 errhint(
					 "Call it in a read-write transaction (BEGIN READ WRITE, or SET default_transaction_read_only = off).")));
}

void
OrderingRequireWorkerDatabase(void)
{
	require_not_in_recovery();
	if (!OrderingInWorkerDatabase())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the ordering worker works in database \"%s\", not in this one",
						ordering_database),
				 errhint("Connect to database \"%s\", or set ordering.database.",
						 ordering_database)));
}

void
OrderingRequireNodeName(void)
{
	if (ordering_node_name == NULL || ordering_node_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ordering.node_name is not set on this server"),
				 errhint(ORDERING_NODE_NAME_HINT)));
}

bool
OrderingWorkerRunning(void)
{
	bool running;

	OrderingRequireSharedMemory();
	if (!OrderingInWorkerDatabase())
		return false;
	LWLockAcquire(&ordering_shared->lock, LW_SHARED);
	running = ordering_shared->worker_pid != 0 && ordering_shared->worker_ready;
	LWLockRelease(&ordering_shared->lock);
	return running;
}

void
OrderingRequireWorker(void)
{
	OrderingRequireSharedMemory();
	OrderingRequireWorkerDatabase();

	if (!OrderingWorkerRunning())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ordering worker is not running"),
				 errhint(
					 "Check the server log; the worker restarts on its own after a failure.")));
}

void
OrderingRequireNotWorker(const char *function)
{
	if (ordering_own_process)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot wait inside the ordering worker", function),
				 errdetail(
					 "It was called from a trigger or rule on a table the worker writes; the worker would wait for itself, and every channel of this node with it."),
				 errhint(
					 "Use ordering.submit_tx_async() there, or act on the rows after the worker's transaction.")));
}

static void
reload_at_commit_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (reload_requested && ordering_shared != NULL)
			{
				pg_atomic_write_u32(&ordering_shared->reload_channels, 1);
				OrderingWakeWorker();
			}
			reload_requested = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			reload_requested = false;
			break;
		default:
			break;
	}
}

void
OrderingReloadChannelsAtCommit(void)
{
	if (!reload_callback_registered)
	{
		RegisterXactCallback(reload_at_commit_callback, NULL);
		reload_callback_registered = true;
	}
	reload_requested = true;
}

TimestampTz
OrderingSubmitDeadline(void)
{
	return TimestampTzPlusMilliseconds(OrderingClockNow(),
									   ordering_submit_timeout_ms);
}

long
OrderingRemainingMs(TimestampTz deadline, long cap_ms)
{
	long remaining_ms =
		TimestampDifferenceMilliseconds(OrderingClockNow(), deadline);

	return Min(remaining_ms, cap_ms);
}
