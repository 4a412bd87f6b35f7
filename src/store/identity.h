/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  This node's durable identity in a channel's Raft group: incarnation,
 *	  boot counter, the recovering flag and the PostgreSQL cluster the
 *	  state was written under (README.md, "Lost and rolled-back state").
 *
 * src/store/identity.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_IDENTITY_H
#define ORDERING_STORE_IDENTITY_H

#include "access/htup.h"
#include "access/tupdesc.h"

#include "store/state.h"

/* What to do with a channel whose stored Raft state cannot be used. */
#define STORE_IDENTITY_REMEDY                                                 \
	"Drop the channel on this node with ordering.drop_channel() and let it join again: it then recovers from its peers."

/* Why a node recovers when the core found it behind, not the host. */
#define STORE_PEER_FOUND_BEHIND                                               \
	"a peer found its state older than it had shown before (a restore or a lost write)"

/* Boot counters stay below this (raft.h: below 2^32). */
#define STORE_BOOT_LIMIT ((uint64) UINT32_MAX)

/*
 * A new random, nonzero incarnation (pg_strong_random); ERROR if the
 * system has no strong randomness.
 */
extern uint64 StoreNewIncarnation(void);
/* ERROR: a value of channel's raft_state row, what, is out of range. */
extern void StoreRaftStateCorrupt(const char *channel, const char *what)
	pg_attribute_noreturn();

/*
 * Reads the identity columns of a row of ordering.raft_state, from column
 * first on: incarnation, boot, recovering, recovery_reason,
 * system_identifier, timeline (inside StoreLoadRaftState).  Values out of
 * range are an ERROR naming the remedy.
 */
extern void StoreReadIdentity(ChannelState *ch, StoreRaftState *state,
							  HeapTuple tuple, TupleDesc desc, int first);

/* Reads the peer records of ordering.raft_peers, bounded, into state. */
extern void StoreLoadPeers(ChannelState *ch, StoreRaftState *state);

/*
 * Before the Raft node is created: raises the boot counter, and marks the
 * state recovering when it was written under another PostgreSQL cluster or
 * timeline (a copy or a point-in-time restore of the data directory) or
 * has no incarnation; records the cluster and timeline.  Updates
 * state->hard_state and ch->recovery_reason.  Inside StoreBegin/
 * StoreCommit: the commit makes the new counter durable.
 */
extern void StoreStartNode(ChannelState *ch, StoreRaftState *state);

/* Records why the node recovers ("" clears it). */
extern void StoreSetRecoveryReason(const char *channel, const char *reason);

#endif /* ORDERING_STORE_IDENTITY_H */
