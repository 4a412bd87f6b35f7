/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *	  Snapshots: when to take one, what it holds, installing a leader's.
 *
 * src/store/snapshot.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_SNAPSHOT_H
#define ORDERING_STORE_SNAPSHOT_H

#include "lib/stringinfo.h"

#include "store/state.h"

/* Whether data is JSON; if not, *detail says why (palloc'd). */
extern bool StoreSnapshotIsJson(const uint8 *data, uint32 size, char **detail);

/* The raft_config in a snapshot's configuration document. */
extern void
StoreSnapshotConfig(const uint8 *data, uint32 size, raft_config *config);

/*
 * The last block and hash a snapshot names, into head; false when it names
 * no last block.  ERROR (XX001) when it names one that is not a block
 * number with a 32-byte hash.
 */
extern bool StoreSnapshotHead(const char *channel, const uint8 *data,
							  uint32 size, ChainHead *head);

/* ERROR unless the chain reaches the snapshot's last block and hash. */
extern void
StoreCheckSnapshotChain(ChannelState *ch, const uint8 *data, uint32 size);

/*
 * Installs a leader's snapshot (its blocks already pulled into this
 * transaction): replaces the log, consenters and settings.
 */
extern void
StorePersistSnapshot(ChannelState *ch, const raft_snapshot *snapshot);

/*
 * When the log has grown by snapshot_interval_bytes, records a snapshot at
 * the applied index and deletes the log rows it covers.  Returns the
 * snapshot data (in StoreBegin's caller's context) or NULL when no
 * snapshot was due.
 */
extern StringInfo StoreMaybeSnapshot(ChannelState *ch);

#endif /* ORDERING_STORE_SNAPSHOT_H */
