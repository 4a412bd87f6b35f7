/*-------------------------------------------------------------------------
 *
 * log.h
 *	  The Raft log (ordering.log) and hard state (ordering.raft_state).
 *
 * src/store/log.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_LOG_H
#define ORDERING_STORE_LOG_H

#include "access/htup.h"
#include "access/tupdesc.h"

#include "store/state.h"


/* The chain's head saved with the applied index (raft_state.last_block). */
typedef enum StoreAppliedHead
{
	STORE_HEAD_UNKNOWN,		 /* NULL: nothing applied since the genesis */
	STORE_HEAD_KNOWN,		 /* in *head */
	STORE_HEAD_OUT_OF_RANGE, /* a negative number or a hash not 32 bytes */
} StoreAppliedHead;

/*
 * Reads last_block and last_block_hash from columns first and first + 1 of
 * a raft_state row.
 */
extern StoreAppliedHead StoreReadAppliedHead(HeapTuple tuple, TupleDesc desc,
											 int first, ChainHead *head);

/* Loading (inside StoreLoadChannel). */
extern void StoreLoadRaftState(ChannelState *ch, StoreRaftState *state);
extern void StoreLoadLog(ChannelState *ch, raft_memory_storage *storage);
extern void StoreSetRemoved(ChannelState *ch, bool removed);

/* Persisting a ready (before any of its messages leave). */
extern void StorePersistEntries(const char *channel, LogPosition *log,
								const raft_entry *entries, uint32 n_entries,
								raft_index last_index);
extern void
StorePersistHardState(const char *channel, const raft_hard_state *hs);
extern void StorePersistPeers(const char *channel, uint32 n_peers,
							  const raft_peer_record *peers);
extern void StoreSaveApplied(const ChannelState *ch, const raft_hard_state *hs);
extern void StoreDeleteLogThrough(const char *channel, raft_index index);
/* The bytes of the entries the log table holds for channel. */
extern int64 StoreLogBytes(const char *channel);

#endif /* ORDERING_STORE_LOG_H */
