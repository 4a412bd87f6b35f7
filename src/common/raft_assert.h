/*-------------------------------------------------------------------------
 *
 * raft_assert.h
 *	  The Raft core's assertion hook, mapped to ereport(ERROR), for every
 *	  process that loads the library.
 *
 * A failed assertion in the core must never abort() a process attached
 * to shared memory: the postmaster would restart every backend.  Instead
 * it raises an ERROR (SQLSTATE XX000) naming the expression and its
 * place, and records that it fired for whoever called into the core; that
 * caller must then discard the node it fired in (raft.h).
 *
 * src/common/raft_assert.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_RAFT_ASSERT_H
#define ORDERING_RAFT_ASSERT_H

/* _PG_init: installs the handler (raft_assert_set_handler). */
extern void OrderingRaftAssertInstall(void);

/*
 * Who calls into the core from now on (the worker: the channel it
 * entered; NULL: nobody in particular), and its name for the message.
 */
extern void OrderingRaftAssertSetCaller(const void *caller, const char *name);

/*
 * Whether an assertion fired while caller was the caller, since the last
 * call for it; clears the mark.
 */
extern bool OrderingRaftAssertTakeFired(const void *caller);

#endif /* ORDERING_RAFT_ASSERT_H */
