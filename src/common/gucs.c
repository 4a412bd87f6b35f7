/*-------------------------------------------------------------------------
 *
 * gucs.c
 *	  The server settings (GUCs) of the ordering extension: their
 *	  variables, defaults, bounds and descriptions.
 *
 * _PG_init defines them in every process that loads the library, so that
 * SQL functions can read them even where the worker does not run.
 *
 * src/common/gucs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "common/gucs.h"
#include "common/names.h"

/* Settings; see OrderingDefineGucs for what each means. */
char *ordering_node_name = NULL;
char *ordering_database = NULL;
int ordering_tick_interval_ms = 100;
int ordering_submit_timeout_ms = 30000;
int ordering_max_channels = 64;
int ordering_submit_queue_kb = 65536;
int ordering_inbox_kb = 65536;
int ordering_max_submit_waits = 8192;
int ordering_peer_buffer_kb = 16384;
int ordering_reconnect_min_ms = 100;
int ordering_reconnect_max_ms = 5000;
bool ordering_accept_relayed_admin = true;
char *ordering_peer_passfile = NULL;
char *ordering_peer_sslcert = NULL;
char *ordering_peer_sslkey = NULL;
char *ordering_debug_break_channel = NULL;
bool ordering_debug_hold_catchups = false;
int ordering_debug_clock_offset_ms = 0;

/*
 * A node name is what ordering.consenters.node accepts, or empty: not set.
 * There is no default name.  With one ("n1" once), every server whose
 * setting was forgotten had the same name, and a channel's genesis push
 * naming that node made a second server the same member (two Raft nodes
 * with one id).  A server without a name takes part in no channel.
 */
static bool
check_node_name(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && **newval == '\0')
		return true;
	if (*newval == NULL || !OrderingNodeNameIsValid(*newval))
	{
		GUC_check_errdetail("%s", ORDERING_NODE_NAME_RULE);
		return false;
	}
	return true;
}

void
OrderingDefineGucs(void)
{
	DefineCustomStringVariable("ordering.node_name",
							   "Name of this server in channels' consenter sets.",
							   "Must match the node's key in the consenters of every channel it serves. It cannot change while the server runs. Unset (the default), the server takes part in no channel.",
							   &ordering_node_name, "", PGC_POSTMASTER, 0,
							   check_node_name, NULL, NULL);

	DefineCustomStringVariable("ordering.database",
							   "Database in which the ordering worker runs.",
							   "The ordering extension must be created in this database.",
							   &ordering_database, "postgres", PGC_POSTMASTER,
							   0, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.tick_interval", "Length of one Raft tick.",
							"Election and heartbeat timeouts of channels are counted in ticks (election_tick, heartbeat_tick).",
							&ordering_tick_interval_ms, 100, 1, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.submit_timeout",
							"How long submit_tx and admin functions wait for their result.",
							"On timeout they fail; the transaction may still be ordered later, and resubmitting its id is safe.",
							&ordering_submit_timeout_ms, 30000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.max_channels",
							"Maximum number of channels this server can serve.",
							NULL, &ordering_max_channels, 64, 1, 10000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.submit_queue_size",
							"Shared memory for transactions submitted but not yet taken by the worker.",
							"When it is full, submitters wait.",
							&ordering_submit_queue_kb, 65536, 64, INT_MAX / 1024,
							PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.max_submit_waits",
							"Transactions that backends of this server may wait for at once.",
							"submit_tx waits for one, submit_txs for each distinct id; past it they fail.",
							&ordering_max_submit_waits, 8192, 16, 1024 * 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.inbox_size",
							"Shared memory for messages received from peers but not yet taken by the worker.",
							"When it is full, messages are dropped (Raft retries them).",
							&ordering_inbox_kb, 65536, 64, INT_MAX / 1024,
							PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.peer_buffer_size",
							"Memory for messages queued for one peer.",
							"Beyond it, messages to that peer are dropped (Raft retries them).",
							&ordering_peer_buffer_kb, 16384, 64, INT_MAX / 1024,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.reconnect_min",
							"First delay before reconnecting to a peer after a failure.",
							"The delay doubles after each failure, up to ordering.reconnect_max.",
							&ordering_reconnect_min_ms, 100, 1, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.reconnect_max",
							"Longest delay between reconnection attempts to a peer.",
							NULL, &ordering_reconnect_max_ms, 5000, 1, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	/*
	 * A leader cannot tell an admin call a follower relays from one its
	 * peer role makes alone: off, a peer credential carries no admin power.
	 */
	DefineCustomBoolVariable("ordering.accept_relayed_admin",
							 "Whether this node, as a leader, runs the admin calls its followers relay.",
							 "Off: admin calls must be made on the leader.",
							 &ordering_accept_relayed_admin, true, PGC_SIGHUP,
							 0, NULL, NULL, NULL);

	/*
	 * This node's own credentials for its peers: local files, never in the
	 * replicated chain (a consenter's conninfo may not name them).
	 */
	DefineCustomStringVariable("ordering.peer_passfile",
							   "Password file this node uses when it connects to its peers.",
							   "Passed to libpq as passfile on every connection to another node; empty: libpq's default.",
							   &ordering_peer_passfile, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);

	DefineCustomStringVariable("ordering.peer_sslcert",
							   "Client certificate this node presents to its peers.",
							   "Passed to libpq as sslcert on every connection to another node; empty: libpq's default.",
							   &ordering_peer_sslcert, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);

	DefineCustomStringVariable("ordering.peer_sslkey",
							   "Private key of ordering.peer_sslcert.",
							   "Passed to libpq as sslkey on every connection to another node; empty: libpq's default.",
							   &ordering_peer_sslkey, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);

	/*
	 * A test aid: the worker breaks the Raft core's contract once in the
	 * named channel, to show that a failed core assertion costs that
	 * channel a rebuild and nothing else.  Read by the worker only, so
	 * set where it reads it (postgresql.conf, ALTER SYSTEM).
	 */
	DefineCustomStringVariable("ordering.debug_break_channel",
							   "Test aid: trips a Raft core assertion once in the named channel.",
							   "The worker calls the core against its contract once, the channel's node is discarded and the channel rebuilt from its tables. Empty: never.",
							   &ordering_debug_break_channel, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE, NULL,
							   NULL, NULL);

	/*
	 * A test aid: a catch-up in its background worker waits before it
	 * starts while this is on (TAP 061), as it waits for another catch-up
	 * of its channel.  That wait is on a lock no role can take from SQL.
	 */
	DefineCustomBoolVariable("ordering.debug_hold_catchups",
							 "Test aid: background catch-ups wait before they start.",
							 NULL, &ordering_debug_hold_catchups, false,
							 PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("ordering.debug_clock_offset",
							"Test aid: moves the wall clock the extension reads, as a step of the system clock would.",
							"Deadlines run on a monotonic clock; this shows that a step does not hold them. Zero: the wall clock as it is.",
							&ordering_debug_clock_offset_ms, 0,
							-24 * 3600 * 1000, 24 * 3600 * 1000, PGC_SIGHUP,
							GUC_UNIT_MS | GUC_SUPERUSER_ONLY | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("ordering");
}
