/*-------------------------------------------------------------------------
 *
 * settings_cache.c
 *	  Each backend's copy of the settings of the channels it submits to,
 *	  kept while nothing they were read from has changed.
 *
 * Every submit needs its channel's settings; reading them (two index
 * lookups and a jsonb parse) was 8 % of the machine with 64 clients on a
 * one-member channel.  A copy is kept as long as the shared generation
 * (common/shmem.h) stays where it was when the copy was read:
 *
 *	- the trigger ordering.channels_changed() sits on ordering.channels (any
 *	  change) and ordering.raft_state (rows coming or going), enabled
 *	  ALWAYS; it bumps the generation at the statement, so that the
 *	  changing session itself reads again, and once more when the
 *	  transaction or subtransaction ends, so that others read the
 *	  committed rows (the bump comes after the commit is visible) and the
 *	  changing session forgets rows rolled back;
 *	- the generation is read before the snapshot the rows are read with,
 *	  so a copy never predates a change counted in its generation;
 *	- a copy is kept only when both tables carry that trigger as made
 *	  (store/channel_read.c checks), and all copies are dropped when a
 *	  relcache invalidation touches either table (ALTER TABLE ... DISABLE
 *	  TRIGGER, DROP EXTENSION): without the trigger, every submit reads;
 *	- under REPEATABLE READ or SERIALIZABLE, a submit reads under its
 *	  transaction's snapshot and keeps nothing;
 *	- a transaction that changed the tables cannot be prepared (two-phase
 *	  commit): COMMIT PREPARED runs in another session, which would not
 *	  bump the generation.
 *
 * src/sql/settings_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "common/limits.h"
#include "common/shmem.h"
#include "sql/settings_cache.h"
#include "store/keyed.h"

/* More channels than a node may have: the copies are dropped, not grown. */
#define SETTINGS_CACHE_MAX_ENTRIES 4096

typedef struct CachedSettings
{
	char channel[ORDERING_NAME_MAX]; /* hash key */
	OrderingSettings settings;
} CachedSettings;

static HTAB *cache = NULL;
/* What the copies in cache were read under. */
static uint64 cache_generation = 0;
static uint64 cache_table_changes = 0;

/* This transaction changed the tables (the trigger fired). */
static bool changed_here = false;
static bool callbacks_registered = false;

static void
reset_cache(void)
{
	HASHCTL ctl = { 0 };

	if (cache != NULL)
		hash_destroy(cache);
	ctl.keysize = ORDERING_NAME_MAX;
	ctl.entrysize = sizeof(CachedSettings);
	ctl.hcxt = TopMemoryContext;
	cache = hash_create("ordering channel settings", 16, &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

bool
OrderingSettingsCacheGet(const char *channel, OrderingSettings *settings)
{
	uint64 generation = OrderingChannelsGeneration();
	uint64 table_changes = StoreKeyedChanges();
	CachedSettings *entry;

	if (cache == NULL || generation != cache_generation ||
		table_changes != cache_table_changes)
	{
		reset_cache();
		cache_generation = generation;
		cache_table_changes = table_changes;
	}
	if (generation == 0 || IsolationUsesXactSnapshot() ||
		strlen(channel) >= ORDERING_NAME_MAX)
		return false;
	entry = hash_search(cache, channel, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	*settings = entry->settings;
	return true;
}

void
OrderingSettingsCachePut(const char *channel, const OrderingSettings *settings)
{
	CachedSettings *entry;

	/* The definitions it was read under changed meanwhile: keep nothing. */
	if (cache == NULL || cache_generation == 0 ||
		StoreKeyedChanges() != cache_table_changes ||
		IsolationUsesXactSnapshot() || strlen(channel) >= ORDERING_NAME_MAX)
		return;
	if (hash_get_num_entries(cache) >= SETTINGS_CACHE_MAX_ENTRIES)
		reset_cache();
	entry = hash_search(cache, channel, HASH_ENTER, NULL);
	entry->settings = *settings;
}

static void
at_transaction_end(XactEvent event, void *arg)
{
	if (!changed_here)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg(
						 "cannot PREPARE a transaction that changed ordering.channels or ordering.raft_state")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			changed_here = false;
			OrderingBumpChannelsGeneration();
			break;
		default:
			break;
	}
}

static void
at_subtransaction_end(SubXactEvent event, SubTransactionId sub,
					  SubTransactionId parent, void *arg)
{
	/* Rows this session read of its own were rolled back. */
	if (changed_here && event == SUBXACT_EVENT_ABORT_SUB)
		OrderingBumpChannelsGeneration();
}

PG_FUNCTION_INFO_V1(ordering_channels_changed);

/* Trigger: after each statement that changes the tables the copies hold. */
Datum
ordering_channels_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ordering.channels_changed() is a trigger function")));
	if (!callbacks_registered)
	{
		RegisterXactCallback(at_transaction_end, NULL);
		RegisterSubXactCallback(at_subtransaction_end, NULL);
		callbacks_registered = true;
	}
	changed_here = true;
	OrderingBumpChannelsGeneration();
	return PointerGetDatum(NULL);
}
