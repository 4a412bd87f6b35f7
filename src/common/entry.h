/*-------------------------------------------------------------------------
 *
 * entry.h
 *	  The data of the worker's Raft log entries (worker-internal formats).
 *
 * A NORMAL entry is one of:
 *	  empty		the no-op a new leader appends
 *	  'B'		a batch: uint32 n, then n times
 *				  uint16 id_len, id bytes, uint32 payload_len, payload bytes
 *	  'U'		a settings update: the jsonb text of the full new settings
 *	  'H'		a chain check: uint64 raft index, int64 block number, the
 *				block's 32-byte hash: the proposer's last block once it had
 *				applied up to that index (worker/channel_chain_check.c)
 * Integers are big-endian.  A CONF_CHANGE entry is a raft_conf_change whose
 * context is the jsonb text {"node": "n4", "conninfo": "..."}.
 *
 * The 'B' layout also carries transactions forwarded to the leader
 * (ORDERING_RECORD_FORWARD_TX records).
 *
 * src/common/entry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_ENTRY_H
#define ORDERING_ENTRY_H

#include "lib/stringinfo.h"

#include "common/sha256.h"

#define ENTRY_TAG_BATCH 'B'
#define ENTRY_TAG_SETTINGS 'U'
#define ENTRY_TAG_CHAIN_CHECK 'H'

typedef enum EntryKind
{
	ENTRY_NOOP,
	ENTRY_BATCH,
	ENTRY_SETTINGS,
	ENTRY_CHAIN_CHECK,
	ENTRY_UNKNOWN
} EntryKind;

/* One transaction of a decoded batch; both strings are palloc'd copies. */
typedef struct EntryTx
{
	char *tx_id; /* NUL-terminated */
	char *payload;
	uint32 payload_len;
} EntryTx;

extern EntryKind EntryKindOf(const uint8 *data, Size len);

/* Batch encoding: begin, add each transaction, finish (patches the count). */
extern void EntryBatchBegin(StringInfo buf);
extern void EntryBatchAdd(StringInfo buf, const char *tx_id,
						  const char *payload, uint32 payload_len);
extern void EntryBatchFinish(StringInfo buf, uint32 n_txs);
extern Size EntryBatchTxSize(Size id_len, Size payload_len);

/* Decodes a batch; ereport(ERROR) on malformed input. */
extern EntryTx *EntryBatchDecode(const uint8 *data, Size len, uint32 *n_txs);

extern void EntrySettingsEncode(StringInfo buf, const char *settings_json);
/* Returns the palloc'd settings text of a 'U' entry. */
extern char *EntrySettingsDecode(const uint8 *data, Size len);

/* A chain check: the proposer's last block after applying applied_index. */
typedef struct EntryChainCheck
{
	uint64 applied_index;
	int64 block;
	uint8 hash[ORDERING_HASH_LEN];
} EntryChainCheck;

extern void EntryChainCheckEncode(StringInfo buf, const EntryChainCheck *check);
/* Decodes a chain check; false if it is malformed. */
extern bool
EntryChainCheckDecode(const uint8 *data, Size len, EntryChainCheck *check);

#endif /* ORDERING_ENTRY_H */
