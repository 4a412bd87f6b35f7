/*-------------------------------------------------------------------------
 *
 * raft_assert.c
 *	  The Raft core's assertion hook: an ERROR instead of abort().
 *
 * The core calls the handler when one of its own invariants does not
 * hold (a bug in the core, or a caller breaking its contract; never input
 * from a peer or from storage).  ereport(ERROR) jumps out of the core to
 * the caller's PG_CATCH, or, with none, ends the process as FATAL does:
 * an exit the postmaster handles without restarting the others.
 *
 * src/common/raft_assert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/raft_assert.h"
#include "raft/raft.h"

static const void *caller;
static const char *caller_name;

/* Where the last assertion fired, until its caller takes it. */
static bool fired;
static const void *fired_caller;

static void
ordering_raft_assert_failed(const char *expression, const char *file, int line)
{
	fired = true;
	fired_caller = caller;
	if (caller_name != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("channel \"%s\": the Raft core's assertion \"%s\" failed",
						caller_name, expression),
				 errdetail("At %s:%d.", file, line)));
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("the Raft core's assertion \"%s\" failed", expression),
			 errdetail("At %s:%d.", file, line)));
}

void
OrderingRaftAssertInstall(void)
{
	raft_assert_set_handler(ordering_raft_assert_failed);
}

void
OrderingRaftAssertSetCaller(const void *next, const char *name)
{
	caller = next;
	caller_name = name;
}

bool
OrderingRaftAssertTakeFired(const void *of)
{
	if (!fired || fired_caller != of)
		return false;
	fired = false;
	fired_caller = NULL;
	return true;
}
