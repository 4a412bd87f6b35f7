/*-------------------------------------------------------------------------
 *
 * eviction_check.h
 *	  Looking in the members' chains for the block that removed this node
 *	  from a channel, and recording the removal once a majority confirms.
 *
 * src/worker/eviction_check.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_EVICTION_CHECK_H
#define ORDERING_EVICTION_CHECK_H

#include "fmgr.h"

/*
 * The background worker's entry point (bgw_function_name): searches the
 * chains of the channel's members beyond its own chain; when a majority of
 * the voters of its configuration confirm a block that removed this node,
 * records the removal (ordering.raft_state.removed) and exits.
 */
PGDLLEXPORT void OrderingEvictionMain(Datum main_arg);

#endif /* ORDERING_EVICTION_CHECK_H */
