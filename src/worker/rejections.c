/*-------------------------------------------------------------------------
 *
 * rejections.c
 *	  Rate-limited logging of the records the worker drops from peers.
 *
 * One entry per (peer, reason) in a hash table of the worker's lifetime,
 * bounded: when it is full it starts over, so a flood of distinct reasons
 * costs at most one log line per reason and minute, never memory.
 *
 * src/worker/rejections.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "common/clock.h"
#include "common/limits.h"
#include "worker/rejections.h"

#define REJECTION_LOG_INTERVAL_MS (60 * 1000)
#define REJECTION_KEYS_MAX 1024
#define REJECTION_KEY_BYTES (ORDERING_NAME_MAX + 256)

typedef struct RejectionEntry
{
	char key[REJECTION_KEY_BYTES]; /* "peer reason", hash key */
	TimestampTz logged_at;
	uint64 suppressed; /* drops not logged since logged_at */
} RejectionEntry;

static HTAB *rejections = NULL;

static void
rejections_reset(void)
{
	HASHCTL ctl;

	if (rejections != NULL)
		hash_destroy(rejections);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = REJECTION_KEY_BYTES;
	ctl.entrysize = sizeof(RejectionEntry);
	ctl.hcxt = TopMemoryContext;
	rejections = hash_create("ordering rejections", 64, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

void
RejectionReport(const char *from_node, const char *channel, const char *reason,
				const char *detail)
{
	char key[REJECTION_KEY_BYTES];
	RejectionEntry *entry;
	TimestampTz now = OrderingClockNow();
	bool found;

	if (rejections == NULL ||
		hash_get_num_entries(rejections) >= REJECTION_KEYS_MAX)
		rejections_reset();
	snprintf(key, sizeof(key), "%s %s", from_node, reason);
	entry = hash_search(rejections, key, HASH_ENTER, &found);
	if (found &&
		now < TimestampTzPlusMilliseconds(entry->logged_at,
										  REJECTION_LOG_INTERVAL_MS))
	{
		entry->suppressed++;
		return;
	}
	ereport(LOG,
			(errmsg("dropped a record of channel \"%s\" from ordering node \"%s\": %s",
					channel, from_node, reason),
			 detail != NULL ? errdetail_internal("%s", detail) : 0,
			 found && entry->suppressed > 0
				 ? errhint("%llu more such records were dropped since the last line.",
						   (unsigned long long) entry->suppressed)
				 : 0));
	entry->logged_at = now;
	entry->suppressed = 0;
}
