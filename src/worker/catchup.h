/*-------------------------------------------------------------------------
 *
 * catchup.h
 *	  Pulling the blocks a received snapshot covers from a peer.
 *
 * src/worker/catchup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CATCHUP_H
#define ORDERING_CATCHUP_H

#include "common/limits.h"
#include "raft/raft.h"
#include "store/state.h"

#define CATCHUP_MAX_PEERS (RAFT_MAX_MEMBERS * 2)

/* The nodes to ask, in order. */
typedef struct CatchupPeer
{
	char node[ORDERING_NAME_MAX];
	char *conninfo;
} CatchupPeer;

typedef struct CatchupPeers
{
	int n_peers;
	CatchupPeer peers[CATCHUP_MAX_PEERS];
} CatchupPeers;

/* Adds a peer to ask, unless it is this node or already listed. */
extern void
CatchupAddPeer(CatchupPeers *peers, const char *node, const char *conninfo);

/* The last block the snapshot covers; ERROR if it names no valid one. */
extern int64
CatchupSnapshotLastBlock(const char *channel, const raft_snapshot *snapshot);

/* Bounds of a whole pull: inside the worker's loop, and in a worker of its own. */
#define CATCHUP_INLINE_TIMEOUT_MS (60 * 1000)
#define CATCHUP_BACKGROUND_TIMEOUT_MS (60 * 60 * 1000)

/*
 * Inside the transaction that installs snapshot: inserts blocks
 * head->last_block + 1 .. the snapshot's last_block (and their
 * transactions), pulled as own_user (this node's role) from the first of
 * leaders, the consenters the snapshot names, then members that provides
 * them within timeout_ms, after checking that they link into the chain
 * head and that every data_hash and hash is right; advances head.  Then
 * checks that the snapshot's configuration is the chain's.  ERROR when no
 * peer could provide a verified chain or the snapshot disagrees with it;
 * the caller's transaction then aborts.
 */
extern void
CatchupPullBlocks(const char *channel, const char *own_user,
				  const CatchupPeers *leaders, const CatchupPeers *members,
				  const raft_snapshot *snapshot, ChainHead *head,
				  int timeout_ms);

#endif /* ORDERING_CATCHUP_H */
