/*-------------------------------------------------------------------------
 *
 * ordering.c
 *	  Module entry point of the ordering extension: defines the settings,
 *	  installs the Raft core's assertion hook and the shared memory hooks,
 *	  and registers the background worker.
 *
 * The library must be in shared_preload_libraries: the worker and the
 * shared memory exist only then.  Loaded any other way (by CREATE
 * EXTENSION in a backend, say) it only defines its settings, so that SQL
 * functions can report a clear error instead of crashing.
 *
 * src/ordering.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "common/gucs.h"
#include "common/node_roles.h"
#include "common/raft_assert.h"
#include "common/shmem.h"
#include "worker/channel_bgworker.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Seconds before the postmaster restarts a worker that exited on error. */
#define ORDERING_WORKER_RESTART_S 5

static void
ordering_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	OrderingShmemRequest();
	OrderingNodeRolesShmemRequest();
}

static void
ordering_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	OrderingShmemInit();
	OrderingNodeRolesShmemInit();
}

static void
register_worker(void)
{
	BackgroundWorker worker;

	OrderingBgWorkerInit(&worker, "OrderingWorkerMain", "ordering worker");
	worker.bgw_restart_time = ORDERING_WORKER_RESTART_S;
	RegisterBackgroundWorker(&worker);
}

void
_PG_init(void)
{
	OrderingDefineGucs();
	/* Any process may call into the Raft core: none may abort() in it. */
	OrderingRaftAssertInstall();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ordering_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ordering_shmem_startup;

	register_worker();
}
