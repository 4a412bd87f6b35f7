/*-------------------------------------------------------------------------
 *
 * heap.c
 *	  The host's hooks: the heap every allocation of the core goes
 *	  through, and the handler of failed assertions.
 *
 * Both are process-wide, like canonical/raft's raft_heap.  The defaults
 * are libc's malloc family and "print, then abort()".  The wrappers keep
 * the promises raft.h makes to a host's heap: free and realloc never see
 * NULL, realloc never sees a size of zero, calloc never overflows.
 *
 * src/raft/heap.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal/heap.h"

static void *
libc_malloc(void *context, size_t size)
{
	(void) context;
	return malloc(size);
}

static void *
libc_calloc(void *context, size_t count, size_t size)
{
	(void) context;
	return calloc(count, size);
}

static void *
libc_realloc(void *context, void *pointer, size_t size)
{
	(void) context;
	return realloc(pointer, size);
}

static void
libc_free(void *context, void *pointer)
{
	(void) context;
	free(pointer);
}

static const raft_heap libc_heap = {
	.context = NULL,
	.malloc = libc_malloc,
	.calloc = libc_calloc,
	.realloc = libc_realloc,
	.free = libc_free,
};

/* The heap in use: libc_heap, or installed, a copy of the host's. */
static raft_heap installed;
static const raft_heap *heap = &libc_heap;

static raft_assert_handler assert_handler = NULL;

void
raft_heap_set(const raft_heap *next)
{
	if (next == NULL || next->malloc == NULL || next->calloc == NULL ||
		next->realloc == NULL || next->free == NULL)
	{
		heap = &libc_heap;
		return;
	}
	installed = *next;
	heap = &installed;
}

void
raft_heap_get(raft_heap *out)
{
	if (out != NULL)
		*out = *heap;
}

void *
raft_malloc(size_t size)
{
	return heap->malloc(heap->context, size == 0 ? 1 : size);
}

void *
raft_calloc(size_t count, size_t size)
{
	if (count == 0 || size == 0)
		count = size = 1;
	if (count > SIZE_MAX / size)
		return NULL;
	return heap->calloc(heap->context, count, size);
}

void *
raft_realloc(void *pointer, size_t size)
{
	if (size == 0)
		size = 1;
	if (pointer == NULL)
		return heap->malloc(heap->context, size);
	return heap->realloc(heap->context, pointer, size);
}

void
raft_free(void *pointer)
{
	if (pointer != NULL)
		heap->free(heap->context, pointer);
}

void
raft_assert_set_handler(raft_assert_handler handler)
{
	assert_handler = handler;
}

_Noreturn void
raft_assert_fail(const char *expression, const char *file, int line)
{
	if (assert_handler != NULL)
		assert_handler(expression, file, line);
	else
		fprintf(stderr, "raft: assertion failed: %s (%s:%d)\n", expression,
				file, line);
	abort();
}
