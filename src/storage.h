/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  The worker's SPI access to the ordering.* tables: load a channel,
 *	  persist Raft's durable state and log, apply committed entries as
 *	  blocks, take snapshots.
 *
 * Every function runs inside a transaction opened with StorageBegin() and
 * closed with StorageCommit(); an error aborts it, and the caller rebuilds
 * the channel from the tables (ChannelLoad), so functions here may update
 * the Channel's host state as they go.
 *
 * src/storage.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORAGE_H
#define ORDERING_STORAGE_H

#include "postgres.h"

#include "channel.h"
#include "raft.h"

/* What ChannelLoad needs to create the Raft node. */
typedef struct StorageRaftState
{
	raft_hard_state hard_state;
	raft_index	applied;
	raft_snapshot snapshot;		/* index 0: none; data in caller's context */
} StorageRaftState;

/* Transaction + SPI + snapshot around a unit of worker work. */
extern void StorageBegin(void);
extern void StorageCommit(void);

extern bool StorageExtensionExists(void);
/* Names of every channel in ordering.channels (palloc'd strings). */
extern List *StorageChannelNames(void);

/*
 * Reads the channel's settings, consenters, Raft state and last block into
 * ch and fills ch->storage from ordering.log and the snapshot.  Returns
 * false if the channel no longer exists.
 */
extern bool StorageLoadChannel(Channel *ch, StorageRaftState *state);
extern void StorageSetRemoved(Channel *ch, bool removed);
/* A palloc'd bytea holding a copy of len bytes (an SPI parameter). */
extern bytea *StorageBytea(const void *data, Size len);

/* Persisting a ready (before any of its messages leave). */
/* First in a ready's transaction: lock order with drop_channel. */
extern void StorageLockChannel(Channel *ch);
extern void StoragePersistSnapshot(Channel *ch, const raft_snapshot *snapshot);
extern void StoragePersistEntries(Channel *ch, const raft_entry *entries,
								  uint32 n_entries, raft_index last_index);
extern void StoragePersistHardState(Channel *ch, const raft_hard_state *hs);

/* Applying committed entries; each returns the block written or -1. */
extern int64 StorageApplyBatch(Channel *ch, const raft_entry *entry,
							   List **applied_ids);
extern int64 StorageApplySettings(Channel *ch, const raft_entry *entry);
extern int64 StorageApplyConfChange(Channel *ch, const raft_entry *entry);
extern void StorageSaveApplied(Channel *ch);

/*
 * When the log has grown by snapshot_interval_bytes, records a snapshot at
 * the applied index and deletes the log rows it covers.  Returns the
 * snapshot data (palloc'd) or NULL when no snapshot was due.
 */
extern StringInfo StorageMaybeSnapshot(Channel *ch);

/* Block 0's configuration document (palloc'd), or NULL. */
extern char *StorageGenesisDocument(Channel *ch);

/*
 * Parses a GENESIS record {"genesis": "<document>", "consenters": {...}}:
 * returns the document and fills book (conninfo palloc'd in cxt).  ERROR
 * on a malformed record.
 */
extern char *StorageParseGenesisRecord(const char *data, Size len,
									   int *n_book, ChannelMember *book,
									   MemoryContext cxt);

/* The largest raft id this node had in a configuration block, or 0. */
extern raft_id StorageMaxOwnRaftId(Channel *ch);

/* The largest raft id in any configuration of the channel. */
extern raft_id StorageMaxRaftIdEver(Channel *ch);

/* current || update, validated; allocated in StorageBegin's context. */
extern char *StorageMergeSettings(const char *current, const char *update);

/* Parses settings jsonb text into ChannelSettings (defaults filled). */
extern void StorageParseSettings(const char *json, ChannelSettings *settings);

#endif							/* ORDERING_STORAGE_H */
