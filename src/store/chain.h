/*-------------------------------------------------------------------------
 *
 * chain.h
 *	  The chain: blocks, transactions, consenters and settings, and the
 *	  committed entries applied to them.
 *
 * src/store/chain.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_CHAIN_H
#define ORDERING_STORE_CHAIN_H

#include "nodes/pg_list.h"

#include "store/state.h"

/* One row of ordering.blocks. */
typedef struct StoreBlockRow
{
	int64 number;
	uint8 previous_hash[ORDERING_HASH_LEN];
	uint8 data_hash[ORDERING_HASH_LEN];
	uint8 hash[ORDERING_HASH_LEN];
	int tx_count;
	const uint8 *config; /* configuration document, or NULL */
	Size config_len;
	int64 raft_index;
	int64 raft_term;
} StoreBlockRow;

/* Loading (inside StoreLoadChannel). */
extern void StoreLoadSettings(ChannelState *ch);
extern void StoreLoadConsenters(ChannelState *ch);
extern void StoreLoadChainHead(ChannelState *ch, int64 *raft_index);
extern void StoreCheckChainHead(const ChannelState *ch,
								const StoreRaftState *state, int64 raft_index);

/*
 * The last block that entries up to raft index upto wrote, into *head;
 * false if none.  Costs the blocks written after upto (a scan back from
 * the last block).
 */
extern bool
StoreBlockAppliedBy(const char *channel, uint64 upto, ChainHead *head);

/* Writing rows as they are (the caller has checked the hashes). */
extern void
StoreInsertBlock(const char *channel, const StoreBlockRow *row, bool notify);
extern void StoreInsertTransactions(const char *channel, int64 number,
									int n_txs, Datum *tx_ids, Datum *payloads);

/*
 * Applying committed entries; each returns the block written or -1.  The
 * ids of every transaction in a batch go to *applied_ids.
 */
extern int64 StoreApplyBatch(ChannelState *ch, const raft_entry *entry,
							 List **applied_ids, List **written, List **before);
extern int64 StoreApplySettings(ChannelState *ch, const raft_entry *entry);
extern int64 StoreApplyConfChange(ChannelState *ch, const raft_entry *entry);

/* The largest raft id this node had in a configuration block, or 0. */
extern raft_id StoreMaxOwnRaftId(ChannelState *ch);
/* The largest raft id in any configuration of the channel. */
extern raft_id StoreMaxRaftIdEver(ChannelState *ch);

#endif /* ORDERING_STORE_CHAIN_H */
