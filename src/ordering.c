/*-------------------------------------------------------------------------
 *
 * ordering.c
 *	  Module entry point of the ordering extension: settings, shared
 *	  memory hooks and the background worker's registration.
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

#include "ordering.h"
#include "shmem.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Settings; see _PG_init for what each means. */
char	   *ordering_node_name = NULL;
char	   *ordering_database = NULL;
int			ordering_tick_interval_ms = 100;
int			ordering_submit_timeout_ms = 30000;
int			ordering_max_channels = 64;
int			ordering_submit_queue_kb = 65536;
int			ordering_inbox_kb = 65536;
int			ordering_peer_buffer_kb = 16384;
int			ordering_reconnect_min_ms = 100;
int			ordering_reconnect_max_ms = 5000;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Seconds before the postmaster restarts a worker that exited on error. */
#define ORDERING_WORKER_RESTART_S 5

/* A node name is what ordering.consenters.node accepts. */
static bool
check_node_name(char **newval, void **extra, GucSource source)
{
	const char *name = *newval;
	size_t		len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len >= ORDERING_NAME_MAX ||
		!(isalnum((unsigned char) name[0])))
	{
		GUC_check_errdetail("A node name starts with a letter or digit and has at most %d characters.",
							ORDERING_NAME_MAX - 1);
		return false;
	}
	for (size_t i = 1; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
		{
			GUC_check_errdetail("A node name may contain only letters, digits, \".\", \"_\" and \"-\".");
			return false;
		}
	}
	return true;
}

static void
ordering_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	OrderingShmemRequest();
}

static void
ordering_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	OrderingShmemInit();
}

static void
define_settings(void)
{
	DefineCustomStringVariable("ordering.node_name",
							   "Name of this server in channels' consenter sets.",
							   "Must match the node's key in the consenters of every channel it serves. It cannot change while the server runs.",
							   &ordering_node_name,
							   "n1",
							   PGC_POSTMASTER,
							   0,
							   check_node_name, NULL, NULL);

	DefineCustomStringVariable("ordering.database",
							   "Database in which the ordering worker runs.",
							   "The ordering extension must be created in this database.",
							   &ordering_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.tick_interval",
							"Length of one Raft tick.",
							"Election and heartbeat timeouts of channels are counted in ticks (election_tick, heartbeat_tick).",
							&ordering_tick_interval_ms,
							100, 1, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.submit_timeout",
							"How long submit_tx and admin functions wait for their result.",
							"On timeout they fail; the transaction may still be ordered later, and resubmitting its id is safe.",
							&ordering_submit_timeout_ms,
							30000, 1, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.max_channels",
							"Maximum number of channels this server can serve.",
							NULL,
							&ordering_max_channels,
							64, 1, 10000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.submit_queue_size",
							"Shared memory for transactions submitted but not yet taken by the worker.",
							"When it is full, submitters wait.",
							&ordering_submit_queue_kb,
							65536, 64, INT_MAX / 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.inbox_size",
							"Shared memory for messages received from peers but not yet taken by the worker.",
							"When it is full, messages are dropped (Raft retries them).",
							&ordering_inbox_kb,
							65536, 64, INT_MAX / 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.peer_buffer_size",
							"Memory for messages queued for one peer.",
							"Beyond it, messages to that peer are dropped (Raft retries them).",
							&ordering_peer_buffer_kb,
							16384, 64, INT_MAX / 1024,
							PGC_SIGHUP,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.reconnect_min",
							"First delay before reconnecting to a peer after a failure.",
							"The delay doubles after each failure, up to ordering.reconnect_max.",
							&ordering_reconnect_min_ms,
							100, 1, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.reconnect_max",
							"Longest delay between reconnection attempts to a peer.",
							NULL,
							&ordering_reconnect_max_ms,
							5000, 1, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("ordering");
}

static void
register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = ORDERING_WORKER_RESTART_S;
	strlcpy(worker.bgw_library_name, "ordering", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "OrderingWorkerMain", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "ordering worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "ordering worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

void
_PG_init(void)
{
	define_settings();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ordering_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ordering_shmem_startup;

	register_worker();
}
