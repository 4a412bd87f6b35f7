/*-------------------------------------------------------------------------
 *
 * heap.h
 *	  The core's allocation and assertion helpers: every allocation and
 *	  every invariant check of the core goes through these, so that a host
 *	  can route them (raft_heap_set, raft_assert_set_handler).
 *
 * RAFT_ASSERT checks what the core alone maintains.  It is compiled out
 * with NDEBUG, like assert().  Nothing a peer sends or a host stores may
 * reach one: such input is refused with an error code instead.
 *
 * src/raft/internal/heap.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_INTERNAL_HEAP_H
#define RAFT_INTERNAL_HEAP_H

#include "../raft.h"

extern void *raft_malloc(size_t size);
extern void *raft_calloc(size_t count, size_t size);
extern void *raft_realloc(void *pointer, size_t size);
extern void raft_free(void *pointer);

extern _Noreturn void
raft_assert_fail(const char *expression, const char *file, int line);

#ifdef NDEBUG
/* sizeof evaluates nothing but keeps assertion-only variables used. */
#define RAFT_ASSERT(expression) ((void) sizeof(expression))
#else
#define RAFT_ASSERT(expression)                                               \
	((expression) ? (void) 0                                                  \
				  : raft_assert_fail(#expression, __FILE__, __LINE__))
#endif

#endif /* RAFT_INTERNAL_HEAP_H */
