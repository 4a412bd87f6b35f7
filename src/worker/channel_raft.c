/*-------------------------------------------------------------------------
 *
 * channel_raft.c
 *	  Each channel's Raft core in the worker: the heap the core allocates
 *	  from, entering a channel before calling into its core, and
 *	  discarding a node after a failed core assertion.
 *
 * The core's heap hook is process-wide; the worker points it at the
 * channel it entered.  Every call into a channel's core (the node and its
 * memory storage, also from src/store) happens between ChannelEnter(ch)
 * and ChannelLeave(), which the worker's one dispatch point (worker_guard)
 * does; what the core allocates then lives in ch->raft.cxt, a child of
 * the channel's context.  channel_internal.h routes each call that names
 * a node or a storage through ChannelCheckEntered(), which refuses one
 * for a channel that is not the entered one before it reaches the core.
 *
 * A failed core assertion is an ERROR (common/raft_assert.c) marked as
 * the entered channel's.  Its node is then half-way through a call: the
 * worker never calls the core on it again, not even to destroy it, and
 * reclaims its memory by resetting ch->raft.cxt (ChannelDiscardIfAsserted);
 * the channel is rebuilt from its tables like after any other error.
 *
 * src/worker/channel_raft.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "common/gucs.h"
#include "common/raft_assert.h"
#include "worker/channel_internal.h"

/*
 * The core is compiled with the same flags as this file: its assertions
 * must stay live, or a broken invariant would go on unnoticed.
 */
#ifdef NDEBUG
#error "the Raft core's assertions must stay live: do not define NDEBUG"
#endif

/*
 * Each allocation carries its size ahead of it: PostgreSQL 15 has no
 * repalloc that returns NULL on out of memory, so realloc copies, and
 * must know how much.  MAXALIGN keeps the core's data aligned.
 */
#define CHANNEL_RAFT_HEADER MAXALIGN(sizeof(Size))

/* The channel whose core may be called now, or NULL. */
static Channel *entered;

Channel *
ChannelEnter(Channel *ch)
{
	Channel *previous = entered;

	entered = ch;
	OrderingRaftAssertSetCaller(ch, ch != NULL ? ch->state.name : NULL);
	return previous;
}

void
ChannelLeave(Channel *previous)
{
	entered = previous;
	OrderingRaftAssertSetCaller(previous,
								previous != NULL ? previous->state.name : NULL);
}

void
ChannelCheckEntered(const void *node_or_storage)
{
	if (entered != NULL && node_or_storage != NULL &&
		(node_or_storage == entered->raft.node ||
		 node_or_storage == entered->raft.storage))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("call into the Raft core for a channel that was not entered"),
			 entered != NULL
				 ? errdetail("Channel \"%s\" is entered.", entered->state.name)
				 : errdetail("No channel is entered.")));
}

/* ----------------------------------------------------------------
 * The heap
 * ----------------------------------------------------------------
 */

static void *
channel_raft_alloc(MemoryContext cxt, size_t size, int flags)
{
	char *chunk;

	if (size > MaxAllocHugeSize - CHANNEL_RAFT_HEADER)
		return NULL;
	chunk =
		MemoryContextAllocExtended(cxt, CHANNEL_RAFT_HEADER + size,
								   flags | MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (chunk == NULL)
		return NULL;
	*(Size *) chunk = size;
	return chunk + CHANNEL_RAFT_HEADER;
}

/* The entered channel's context; NULL (out of memory for the core) if none. */
static MemoryContext
channel_raft_cxt(void)
{
	if (entered != NULL && entered->raft.cxt != NULL)
		return entered->raft.cxt;
	elog(WARNING, "the Raft core allocates while no channel is entered");
	return NULL;
}

static void *
channel_raft_malloc(void *context, size_t size)
{
	MemoryContext cxt = channel_raft_cxt();

	return cxt != NULL ? channel_raft_alloc(cxt, size, 0) : NULL;
}

static void *
channel_raft_calloc(void *context, size_t count, size_t size)
{
	MemoryContext cxt = channel_raft_cxt();

	/* The core checked count * size for overflow. */
	return cxt != NULL ? channel_raft_alloc(cxt, count * size, MCXT_ALLOC_ZERO)
					   : NULL;
}

/* A chunk of the core's must be the entered channel's. */
static char *
channel_raft_chunk(void *pointer)
{
	char *chunk = (char *) pointer - CHANNEL_RAFT_HEADER;

	Assert(entered != NULL && GetMemoryChunkContext(chunk) == entered->raft.cxt);
	return chunk;
}

/* In the chunk's own context, which is its channel's. */
static void *
channel_raft_realloc(void *context, void *pointer, size_t size)
{
	char *old = channel_raft_chunk(pointer);
	Size old_size = *(Size *) old;
	char *grown;

	grown = channel_raft_alloc(GetMemoryChunkContext(old), size, 0);
	if (grown == NULL)
		return NULL;
	memcpy(grown, pointer, Min(old_size, size));
	pfree(old);
	return grown;
}

static void
channel_raft_free(void *context, void *pointer)
{
	pfree(channel_raft_chunk(pointer));
}

void
ChannelRaftHooksInstall(void)
{
	raft_heap heap = {
		.context = NULL, /* the entered channel's, read at each call */
		.malloc = channel_raft_malloc,
		.calloc = channel_raft_calloc,
		.realloc = channel_raft_realloc,
		.free = channel_raft_free,
	};

	raft_heap_set(&heap);
	OrderingRaftAssertInstall(); /* _PG_init did; it costs nothing */
}

/* ----------------------------------------------------------------
 * After a failed assertion
 * ----------------------------------------------------------------
 */

bool
ChannelDiscardIfAsserted(Channel *ch)
{
	if (!OrderingRaftAssertTakeFired(ch))
		return false;
	/* Never called again, not even raft_node_destroy(): forgotten. */
	ch->raft.node = NULL;
	ch->raft.storage = NULL;
	MemoryContextReset(ch->raft.cxt);
	ereport(WARNING,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("channel \"%s\": discarded its Raft node after a failed assertion in the Raft core",
					ch->state.name),
			 errdetail(
				 "The channel is rebuilt from its tables; the other channels are not affected.")));
	return true;
}

/*
 * ordering.debug_break_channel: once per setting of it, with a ready
 * pending, takes a second ready without raft_advance(), which the core
 * refuses with an assertion.
 */
void
ChannelDebugBreak(Channel *ch)
{
	static char done_for[ORDERING_NAME_MAX];
	const char *target = ordering_debug_break_channel;
	raft_ready rd;

	if (target == NULL || target[0] == '\0')
	{
		done_for[0] = '\0';
		return;
	}
	if (strcmp(target, ch->state.name) != 0 ||
		strcmp(done_for, ch->state.name) == 0 || !ChannelIsLive(ch) ||
		!raft_has_ready(ch->raft.node))
		return;
	strlcpy(done_for, ch->state.name, sizeof(done_for));
	ereport(LOG,
			(errmsg("channel \"%s\": breaking the Raft core's contract, as ordering.debug_break_channel asks",
					ch->state.name)));
	(void) raft_ready_get(ch->raft.node, &rd);
	(void) raft_ready_get(ch->raft.node, &rd);
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("channel \"%s\": the Raft core took a second ready without raft_advance()",
					ch->state.name),
			 errhint("Its assertions are compiled out (NDEBUG).")));
}
