/*-------------------------------------------------------------------------
 *
 * test_hooks.c
 *	  The host's hooks: every allocation of the core goes through the
 *	  installed heap, and a failed assertion reaches the installed handler,
 *	  which may leave by longjmp (as PostgreSQL's elog(ERROR) does) and then
 *	  reclaim the node's memory by resetting its arena.
 *
 * test/raft/test_hooks.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <setjmp.h>
#include <stddef.h>
#include <string.h>

/*
 * A tiny arena, like a PostgreSQL memory context: every block is linked
 * in, so that a reset frees whatever is left.
 */
typedef struct arena_block
{
	struct arena_block *prev;
	struct arena_block *next;
	max_align_t align[]; /* the caller's bytes start here */
} arena_block;

typedef struct arena
{
	arena_block head; /* sentinel of a circular list */
	long live;
	long allocations;
} arena;

static void
arena_init(arena *a)
{
	a->head.prev = a->head.next = &a->head;
	a->live = 0;
	a->allocations = 0;
}

static void *
arena_malloc(void *context, size_t size)
{
	arena *a = context;
	arena_block *b = malloc(sizeof(arena_block) + size);

	if (b == NULL)
		return NULL;
	b->next = a->head.next;
	b->prev = &a->head;
	a->head.next->prev = b;
	a->head.next = b;
	a->live++;
	a->allocations++;
	return b->align;
}

static void *
arena_calloc(void *context, size_t count, size_t size)
{
	void *p = arena_malloc(context, count * size);

	if (p != NULL)
		memset(p, 0, count * size);
	return p;
}

static arena_block *
block_of(void *pointer)
{
	return (arena_block *) ((char *) pointer - offsetof(arena_block, align));
}

static void
arena_free(void *context, void *pointer)
{
	arena *a = context;
	arena_block *b = block_of(pointer);

	b->prev->next = b->next;
	b->next->prev = b->prev;
	a->live--;
	free(b);
}

static void *
arena_realloc(void *context, void *pointer, size_t size)
{
	arena_block *old = block_of(pointer);
	arena_block *b = realloc(old, sizeof(arena_block) + size);

	(void) context;
	if (b == NULL)
		return NULL;
	b->prev->next = b;
	b->next->prev = b;
	return b->align;
}

static void
arena_reset(arena *a)
{
	while (a->head.next != &a->head)
		arena_free(a, a->head.next->align);
}

static raft_heap
arena_heap(arena *a)
{
	raft_heap heap = {
		.context = a,
		.malloc = arena_malloc,
		.calloc = arena_calloc,
		.realloc = arena_realloc,
		.free = arena_free,
	};

	return heap;
}

/* A group runs entirely on the host's heap, and gives it all back. */
static void
test_heap_hook(void)
{
	arena a;
	raft_heap heap;
	raft_heap seen;
	net nw;

	arena_init(&a);
	heap = arena_heap(&a);
	raft_heap_set(&heap);
	raft_heap_get(&seen);
	ok(seen.context == &a && seen.malloc == arena_malloc,
	   "raft_heap_get returns the installed heap");
	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "a group elects a leader on the host's heap");
	for (uint8_t i = 0; i < 20; i++)
		(void) net_propose(&nw, 1, i);
	net_tick_all(&nw, 3);
	net_stabilize(&nw);
	is_u64(nw.nodes[3].applied, 21, "follower applied every entry");
	ok(a.allocations > 100, "the core allocated through the hook (%ld)",
	   a.allocations);
	net_destroy(&nw);
	is_u64(a.live, 0, "everything allocated was freed through the hook");
	raft_heap_set(NULL);
	raft_heap_get(&seen);
	ok(seen.context == NULL && seen.malloc != arena_malloc,
	   "raft_heap_set(NULL) restores libc");
}

static jmp_buf escape;
static const char *failed_expression;
static const char *failed_file;
static int failed_line;

static void
escape_handler(const char *expression, const char *file, int line)
{
	failed_expression = expression;
	failed_file = file;
	failed_line = line;
	longjmp(escape, 1);
}

/*
 * A host that breaks the contract (a second ready before advancing the
 * first) trips an assertion: the handler runs and leaves by longjmp; the
 * host then discards the node by resetting its arena, and other nodes
 * carry on.
 */
static void
test_assert_hook(void)
{
#ifdef NDEBUG
	ok(true, "# SKIP assertions are compiled out");
#else
	arena a;
	raft_heap heap;
	raft_memory_storage *volatile ms;
	raft_node *volatile node = NULL;
	raft_options o;
	raft_ready first;
	raft_ready second;

	arena_init(&a);
	heap = arena_heap(&a);
	raft_heap_set(&heap);
	raft_assert_set_handler(escape_handler);
	ms = raft_memory_storage_create();
	memset(&o, 0, sizeof(o));
	o.id = 1;
	o.storage = raft_memory_storage_view(ms);
	o.config = net_config(1, 0);
	if (raft_node_create(&o, (raft_node **) &node) != RAFT_OK)
		abort();
	(void) raft_campaign(node);
	if (setjmp(escape) == 0)
	{
		(void) raft_ready_get(node, &first);
		(void) raft_ready_get(node, &second);
		ok(false, "a second ready before advance must not return");
	}
	else
	{
		ok(failed_expression != NULL &&
			   strstr(failed_expression, "ready_outstanding") != NULL,
		   "the handler got the failed expression (%s)", failed_expression);
		ok(failed_file != NULL && strstr(failed_file, "ready.c") != NULL &&
			   failed_line > 0,
		   "and its place (%s:%d)", failed_file, failed_line);
	}
	ok(a.live > 0, "the discarded node still holds %ld blocks", a.live);
	arena_reset(&a);
	is_u64(a.live, 0, "resetting the arena reclaims them");
	raft_assert_set_handler(NULL);
	raft_heap_set(NULL);

	{
		net nw;

		net_init(&nw, 3, NULL);
		ok(net_elect(&nw, 2), "other groups carry on with the defaults");
		net_destroy(&nw);
	}
#endif
}

int
main(void)
{
	test_heap_hook();
	test_assert_hook();
	return tap_done();
}
