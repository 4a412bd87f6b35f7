/*-------------------------------------------------------------------------
 *
 * state.h
 *	  A channel as the ordering.* tables hold it, as of its applied index:
 *	  the narrow state that the store's functions read and update.
 *
 * The worker keeps one ChannelState per channel inside its runtime
 * (worker/channel.h) and hands it to the store; the store knows nothing
 * of Raft nodes, routing or peers.  Every store function runs inside a
 * transaction opened with StoreBegin() (store/spi.h); an error aborts it,
 * and the worker rebuilds the state from the tables, so functions may
 * update the state as they go.
 *
 * src/store/state.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_STATE_H
#define ORDERING_STORE_STATE_H

#include "common/blocks.h"
#include "common/channel_settings.h"
#include "common/limits.h"
#include "raft/raft.h"

/* A consenter of the channel (a row of ordering.consenters). */
typedef struct ChannelMember
{
	raft_id id;
	char node[ORDERING_NAME_MAX];
	char *conninfo;
	bool is_learner;
} ChannelMember;

/* The chain's head: the last block and its hash. */
typedef struct ChainHead
{
	int64 last_block; /* -1 before block 0 */
	uint8 last_hash[ORDERING_HASH_LEN];
} ChainHead;

/* Where the Raft log stands: applied, and covered by the snapshot. */
typedef struct LogPosition
{
	raft_index applied_index;
	raft_term applied_term; /* term of the entry at applied_index */
	raft_index snapshot_index;
	raft_term snapshot_term;
	int64 bytes_since_snapshot;
} LogPosition;

typedef struct ChannelState
{
	char name[ORDERING_NAME_MAX];
	MemoryContext cxt; /* settings_json and conninfos */

	/* Configuration: ordering.channels.config and ordering.consenters. */
	char *settings_json; /* canonical jsonb text */
	OrderingSettings settings;
	int n_members;
	ChannelMember members[RAFT_MAX_MEMBERS];
	raft_config config;
	raft_id self_id; /* RAFT_NONE if this node is not a member */
	bool removed;	 /* an applied change removed this node */
	bool archived;	 /* no Raft state here (a restored dump): read-only */
	/* Why this node recovers (ordering.raft_state.recovery_reason), or "". */
	char recovery_reason[ORDERING_ERROR_MESSAGE_MAX];

	LogPosition log;
	ChainHead chain;
} ChannelState;

/* What the worker needs from ordering.raft_state to create the node. */
typedef struct StoreRaftState
{
	raft_hard_state hard_state;
	raft_index applied;
	raft_snapshot snapshot; /* index 0: none; data in caller's context */
	/* The PostgreSQL cluster and timeline it last started under; 0: none. */
	uint64 system_identifier;
	uint64 timeline;
	/* The chain's head saved with the applied index, if head_known. */
	bool head_known;
	ChainHead head;
	/* The peer records (ordering.raft_peers), for options.peers. */
	uint32 n_peers;
	raft_peer_record peers[RAFT_MAX_MEMBERS];
} StoreRaftState;

#endif /* ORDERING_STORE_STATE_H */
