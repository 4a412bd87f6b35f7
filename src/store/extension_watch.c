/*-------------------------------------------------------------------------
 *
 * extension_watch.c
 *	  Ends a process whose extension was dropped under it.
 *
 * The worker (and its catch-up and eviction workers) keep channels in
 * memory: terms, logs, chain heads.  DROP EXTENSION removes the tables
 * under them and tells them nothing.  Had the worker gone on after a DROP
 * and a new CREATE EXTENSION, it would have written its old channel's
 * next block after the new block 0 of a channel created again under the
 * same name (seen: block 2 after a new block 0, block 1 missing), or its
 * peers' log entries into the new tables.  So the first transaction a
 * process opens after the drop ends it: the postmaster starts the worker
 * again, which waits for the extension and loads what the tables hold.
 *
 * The check costs a catalog lookup, so it runs only when it may matter:
 * the drop of ordering.channels sends a relcache invalidation, which
 * every transaction takes at its start (as does a reset of all caches).
 *
 * src/store/extension_watch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/extension.h"
#include "postmaster/bgworker.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "store/extension_watch.h"

/* The extension this process found first, and its channels table. */
static Oid watched_extension = InvalidOid;
static Oid watched_channels = InvalidOid;
/* Until the extension is found, every transaction looks. */
static bool check_pending = true;

static void
extension_watch_invalidated(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == watched_channels)
		check_pending = true;
}

static void
extension_watch_start(Oid extension)
{
	Oid schema = get_namespace_oid("ordering", true);

	watched_extension = extension;
	watched_channels =
		OidIsValid(schema) ? get_relname_relid("channels", schema) : InvalidOid;
	CacheRegisterRelcacheCallback(extension_watch_invalidated, (Datum) 0);
}

void
StoreCheckExtension(void)
{
	Oid current;

	if (!check_pending)
		return;
	check_pending = false;
	current = get_extension_oid("ordering", true);
	if (!OidIsValid(watched_extension))
	{
		if (OidIsValid(current))
			extension_watch_start(current);
		else
			check_pending = true;
		return;
	}
	if (current != watched_extension)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("terminating %s: extension \"ordering\" was %s since it started",
						MyBgworkerEntry != NULL ? MyBgworkerEntry->bgw_type
												: "process",
						OidIsValid(current) ? "dropped and created again"
											: "dropped"),
				 errdetail(
					 "What it holds in memory no longer matches the tables.")));
}
