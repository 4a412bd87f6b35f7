/*-------------------------------------------------------------------------
 *
 * channel_bgworker.c
 *	  Background workers that do one channel's long job (a catch-up, an
 *	  eviction check) away from the worker's loop.
 *
 * Whatever blocks the worker's loop stops every channel of the server:
 * their ticks, their replies, their elections.  A job that waits on peers
 * for seconds runs in a dynamic background worker of its own instead,
 * never restarted, with the channel's name (and one number for the job) in
 * bgw_extra; the worker polls its handle and looks at what it left in the
 * tables once it stopped.
 *
 * src/worker/channel_bgworker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"

#include "common/names.h"
#include "common/shmem.h"
#include "store/spi.h"
#include "worker/channel_bgworker.h"

void
OrderingBgWorkerInit(BackgroundWorker *worker, const char *function,
					 const char *type)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags =
		BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker->bgw_library_name, "ordering", BGW_MAXLEN);
	strlcpy(worker->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker->bgw_name, type, BGW_MAXLEN);
	strlcpy(worker->bgw_type, type, BGW_MAXLEN);
}

/*
 * SIGTERM ends the process (the postmaster or its worker starts another).
 * A query cancel is ignored: these processes run no client's statement, and
 * the ERROR it raises ended the worker, taking its node out of every channel
 * until bgw_restart_time had passed; "cancel every active query" scripts
 * sent it (pg_stat_activity shows the worker active).
 */
void
OrderingBgWorkerSignals(void)
{
	ordering_own_process = true;
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGINT, SIG_IGN);
	BackgroundWorkerUnblockSignals();
}

BackgroundWorkerHandle *
ChannelBgWorkerStart(const char *function, const char *type,
					 const char *channel, uint64 arg, MemoryContext cxt)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle = NULL;
	MemoryContext old;
	bool started;

	OrderingBgWorkerInit(&worker, function, type);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s of %s", type, channel);
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	StaticAssertStmt(ORDERING_NAME_MAX <= BGW_EXTRALEN,
					 "a channel name must fit in bgw_extra");
	strlcpy(worker.bgw_extra, channel, ORDERING_NAME_MAX);
	StaticAssertStmt(ORDERING_NAME_MAX + sizeof(uint64) <= BGW_EXTRALEN,
					 "a channel name and an argument must fit in bgw_extra");
	memcpy(worker.bgw_extra + ORDERING_NAME_MAX, &arg, sizeof(arg));
	worker.bgw_notify_pid = MyProcPid; /* its exit sets our latch */

	old = MemoryContextSwitchTo(cxt);
	started = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	return started ? handle : NULL;
}

bool
ChannelBgWorkerRunning(BackgroundWorkerHandle *handle)
{
	pid_t pid;

	switch (GetBackgroundWorkerPid(handle, &pid))
	{
		case BGWH_STARTED:
		case BGWH_NOT_YET_STARTED:
			return true;
		default:
			pfree(handle);
			return false;
	}
}

void
ChannelBgWorkerAttach(Datum main_arg, const char *appname,
					  char channel[ORDERING_NAME_MAX], uint64 *arg)
{
	OrderingBgWorkerSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg),
											  InvalidOid, 0);
	pgstat_report_appname(appname);
	StorePinWorkerSession();

	memcpy(channel, MyBgworkerEntry->bgw_extra, ORDERING_NAME_MAX);
	channel[ORDERING_NAME_MAX - 1] = '\0';
	if (arg != NULL)
		memcpy(arg, MyBgworkerEntry->bgw_extra + ORDERING_NAME_MAX,
			   sizeof(*arg));
	if (!OrderingChannelNameIsValid(channel))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s started for an invalid channel name", appname)));
}
