/*-------------------------------------------------------------------------
 *
 * heap_trim.c
 *	  Giving the worker's free C heap back to the kernel.
 *
 * Memory contexts free their large blocks with free(), but glibc keeps
 * freed heap pages resident unless they sit at the top of the heap, and
 * its mmap threshold rises with every large block freed, so that later
 * large blocks (batch entries, envelopes, catch-up pages) come from the
 * heap too.  The worker's private memory then only grew: over one bench
 * run from 8 MiB to 99 MiB, of which its memory contexts held under 7 MiB
 * (pg_log_backend_memory_contexts), and malloc_trim(0) gave back 60 %
 * of it at once.  So the worker trims its heap once a second: a walk over
 * the free lists, cheap next to a second of work.
 *
 * src/worker/heap_trim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "utils/timestamp.h"

#include "worker/heap_trim.h"

#define WORKER_TRIM_INTERVAL_MS 1000

void
WorkerTrimHeap(TimestampTz now)
{
#ifdef __GLIBC__
	static TimestampTz next_trim_at = 0;

	if (now < next_trim_at)
		return;
	next_trim_at = TimestampTzPlusMilliseconds(now, WORKER_TRIM_INTERVAL_MS);
	(void) malloc_trim(0);
#endif
}
