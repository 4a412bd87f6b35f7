/*-------------------------------------------------------------------------
 *
 * load.h
 *	  Reading a channel back from the tables.
 *
 * src/store/load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_LOAD_H
#define ORDERING_STORE_LOAD_H

#include "store/log.h"
#include "store/state.h"

/*
 * Reads the channel's settings, consenters, Raft state and chain head into
 * ch, and its snapshot and log into storage.  Returns false if the channel
 * no longer exists.  Inside StoreBegin/StoreCommit.
 */
extern bool StoreLoadChannel(ChannelState *ch, StoreRaftState *state,
							 raft_memory_storage *storage);

#endif /* ORDERING_STORE_LOAD_H */
