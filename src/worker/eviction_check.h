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

#include "datatype/timestamp.h"

#include "store/state.h"

/*
 * Searches the chains of st's members beyond st's own chain, as own_user,
 * until deadline; when a majority of the voters of st's configuration
 * confirm a block that removed this node, records the removal (its own
 * transaction) and returns true.  Outside any transaction; failures of
 * peers are logged at DEBUG1 and leave nothing recorded.
 */
extern bool
EvictionCheck(ChannelState *st, const char *own_user, TimestampTz deadline);

/* The background worker's entry point (bgw_function_name). */
PGDLLEXPORT void OrderingEvictionMain(Datum main_arg);

#endif /* ORDERING_EVICTION_CHECK_H */
