/*-------------------------------------------------------------------------
 *
 * blocks.h
 *	  The hash chain: how a block's hashes are computed (README.md, "How
 *	  blocks are hashed and verified").
 *
 *	  previous_hash(0) = 32 zero bytes; previous_hash(N) = hash(N-1)
 *	  data_hash = sha256(sha256(item_1) || ... || sha256(item_n))
 *	  hash      = sha256(int8send(number) || previous_hash || data_hash)
 *
 * The item of a transaction is convert_to(tx_id, 'UTF8') || '\x00' ||
 * payload (id and payload both covered; a text holds no NUL, so the split
 * is unambiguous); the item of a configuration block is its one
 * configuration document.
 *
 * src/common/blocks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_BLOCKS_H
#define ORDERING_BLOCKS_H

#include "utils/jsonb.h"

#include "common/sha256.h"

/* Incremental data_hash over a block's items, in order. */
typedef struct OrderingDataHasher
{
	OrderingSha256State outer; /* over the items' hashes */
	bool active;			   /* between Begin and End */
	int n_items;
} OrderingDataHasher;

extern void OrderingDataHashBegin(OrderingDataHasher *hasher);
extern void
OrderingDataHashAdd(OrderingDataHasher *hasher, const void *item, Size len);
/* Adds the item of one transaction: tx_id, a zero byte, the payload. */
extern void OrderingDataHashAddTx(OrderingDataHasher *hasher, const char *tx_id,
								  const void *payload, Size payload_len);
extern void OrderingDataHashEnd(OrderingDataHasher *hasher,
								uint8 data_hash[ORDERING_HASH_LEN]);

extern void
OrderingBlockHash(int64 number, const uint8 previous_hash[ORDERING_HASH_LEN],
				  const uint8 data_hash[ORDERING_HASH_LEN],
				  uint8 hash[ORDERING_HASH_LEN]);

/* data_hash and hash of block 0 whose configuration document is given. */
extern void OrderingGenesisHashes(const char *document, Size len,
								  uint8 data_hash[ORDERING_HASH_LEN],
								  uint8 hash[ORDERING_HASH_LEN]);

/*
 * The configuration document, the single item of a configuration block:
 *
 *	{"channel": "ch1",
 *	 "consenters": {"n1": {"id": 1, "conninfo": "...", "learner": false}},
 *	 "config": {...every setting...},
 *	 "change": "genesis" | "update_config" | "add_consenter n4" | ...}
 *
 * returned as jsonb's canonical text (palloc'd, NUL-terminated); its bytes
 * are what the block hashes and what ordering.blocks.config stores.
 * consenters is built with OrderingConsentersDocument from the consenter
 * rows (arrays of n_consenters entries); config is the complete settings
 * object as stored in ordering.channels.config.
 */
extern Jsonb *
OrderingConsentersDocument(int n_consenters, const char *const *nodes,
						   const uint64 *raft_ids, const char *const *conninfos,
						   const bool *is_learner);
extern char *OrderingConfigDocument(const char *channel, Jsonb *consenters,
									Jsonb *config, const char *change);

#endif /* ORDERING_BLOCKS_H */
