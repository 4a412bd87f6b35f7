/*-------------------------------------------------------------------------
 *
 * entry.c
 *	  Encode and decode the data of the worker's Raft log entries.
 *
 * Every node applies the same entries, so decoding must be strict: a
 * malformed entry is an error, never a guess.  Every length is checked
 * against the bytes that remain before it is used.
 *
 * Transaction ids travel in UTF-8, the form the hashes take them in
 * (common/blocks.c), and each node keeps them in its database's encoding.
 * Raw bytes made one id two on nodes whose encodings differed: a LATIN1
 * node stored "café" from a UTF-8 leader as "cafÃ©", and its chain's
 * hashes parted from the others' with nothing said.  An id that a node's
 * encoding cannot hold is now an error there (22P05).
 *
 * src/common/entry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "port/pg_bswap.h"

#include "common/entry.h"
#include "common/limits.h"

/* Bytes of the tag and the count in front of a batch. */
#define BATCH_HEADER_LEN (1 + sizeof(uint32))

EntryKind
EntryKindOf(const uint8 *data, Size len)
{
	if (len == 0)
		return ENTRY_NOOP;
	switch (data[0])
	{
		case ENTRY_TAG_BATCH:
			return ENTRY_BATCH;
		case ENTRY_TAG_SETTINGS:
			return ENTRY_SETTINGS;
		case ENTRY_TAG_CHAIN_CHECK:
			return ENTRY_CHAIN_CHECK;
		default:
			return ENTRY_UNKNOWN;
	}
}

void
EntryBatchBegin(StringInfo buf)
{
	uint32 zero = 0;

	resetStringInfo(buf);
	appendStringInfoChar(buf, ENTRY_TAG_BATCH);
	appendBinaryStringInfo(buf, (const char *) &zero, sizeof(zero));
}

Size
EntryBatchTxSize(Size id_len, Size payload_len)
{
	return sizeof(uint16) + id_len + sizeof(uint32) + payload_len;
}

void
EntryBatchAdd(StringInfo buf, const char *tx_id, const char *payload,
			  uint32 payload_len)
{
	/* The same pointer in a UTF-8 database; valid ids fit (common/names.c). */
	Size server_len = strlen(tx_id);
	char *wire_id = pg_server_to_any(tx_id, (int) server_len, PG_UTF8);
	Size id_len = wire_id == tx_id ? server_len : strlen(wire_id);
	uint16 id_len_be;
	uint32 payload_len_be;

	Assert(buf->len >= BATCH_HEADER_LEN && buf->data[0] == ENTRY_TAG_BATCH);
	Assert(id_len > 0 && id_len < ORDERING_TX_ID_MAX);

	id_len_be = pg_hton16((uint16) id_len);
	payload_len_be = pg_hton32(payload_len);
	appendBinaryStringInfo(buf, (const char *) &id_len_be, sizeof(id_len_be));
	appendBinaryStringInfo(buf, wire_id, id_len);
	if (wire_id != tx_id)
		pfree(wire_id);
	appendBinaryStringInfo(buf, (const char *) &payload_len_be,
						   sizeof(payload_len_be));
	if (payload_len > 0)
		appendBinaryStringInfo(buf, payload, payload_len);
}

void
EntryBatchFinish(StringInfo buf, uint32 n_txs)
{
	uint32 n_be = pg_hton32(n_txs);

	Assert(buf->len >= BATCH_HEADER_LEN && buf->data[0] == ENTRY_TAG_BATCH);
	memcpy(buf->data + 1, &n_be, sizeof(n_be));
}

static void
batch_malformed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("malformed batch entry: %s", what)));
}

/*
 * An id from the wire in this database's encoding: ERROR (22021) unless it
 * is valid UTF-8, or (22P05) if the encoding has no such character.
 */
static char *
entry_id_from_wire(const char *id, uint16 id_len)
{
	char *server_id = pg_any_to_server(id, id_len, PG_UTF8);

	/* Unconverted (validated only): not NUL-terminated yet. */
	return server_id == id ? pnstrdup(id, id_len) : server_id;
}

EntryTx *
EntryBatchDecode(const uint8 *data, Size len, uint32 *n_txs)
{
	Size pos = BATCH_HEADER_LEN;
	uint32 n;
	EntryTx *txs;

	if (len < BATCH_HEADER_LEN || data[0] != ENTRY_TAG_BATCH)
		batch_malformed("missing header");
	memcpy(&n, data + 1, sizeof(n));
	n = pg_ntoh32(n);

	/* Each transaction takes at least 7 bytes: refuse an absurd count. */
	if (n > (len - BATCH_HEADER_LEN) / (sizeof(uint16) + 1 + sizeof(uint32)))
		batch_malformed("count exceeds the data");

	txs = palloc(sizeof(EntryTx) * Max(n, 1));
	for (uint32 i = 0; i < n; i++)
	{
		uint16 id_len;
		uint32 payload_len;

		if (len - pos < sizeof(uint16))
			batch_malformed("truncated id length");
		memcpy(&id_len, data + pos, sizeof(id_len));
		id_len = pg_ntoh16(id_len);
		pos += sizeof(uint16);
		if (id_len == 0 || id_len >= ORDERING_TX_ID_MAX)
			batch_malformed("bad id length");
		if (len - pos < id_len)
			batch_malformed("truncated id");
		if (memchr(data + pos, '\0', id_len) != NULL)
			batch_malformed("id contains a zero byte");
		txs[i].tx_id = entry_id_from_wire((const char *) data + pos, id_len);
		pos += id_len;

		if (len - pos < sizeof(uint32))
			batch_malformed("truncated payload length");
		memcpy(&payload_len, data + pos, sizeof(payload_len));
		payload_len = pg_ntoh32(payload_len);
		pos += sizeof(uint32);
		if (len - pos < payload_len)
			batch_malformed("truncated payload");
		txs[i].payload = palloc(Max(payload_len, 1));
		memcpy(txs[i].payload, data + pos, payload_len);
		txs[i].payload_len = payload_len;
		pos += payload_len;
	}
	if (pos != len)
		batch_malformed("trailing bytes");

	*n_txs = n;
	return txs;
}

void
EntrySettingsEncode(StringInfo buf, const char *settings_json)
{
	resetStringInfo(buf);
	appendStringInfoChar(buf, ENTRY_TAG_SETTINGS);
	appendStringInfoString(buf, settings_json);
}

char *
EntrySettingsDecode(const uint8 *data, Size len)
{
	if (len < 2 || data[0] != ENTRY_TAG_SETTINGS)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed settings entry")));
	if (memchr(data + 1, '\0', len - 1) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed settings entry: zero byte")));
	return pnstrdup((const char *) data + 1, len - 1);
}

/* Tag, applied index, block number, hash. */
#define CHAIN_CHECK_LEN                                                       \
	(1 + sizeof(uint64) + sizeof(int64) + ORDERING_HASH_LEN)

void
EntryChainCheckEncode(StringInfo buf, const EntryChainCheck *check)
{
	uint64 index_be = pg_hton64(check->applied_index);
	uint64 block_be = pg_hton64((uint64) check->block);

	resetStringInfo(buf);
	appendStringInfoChar(buf, ENTRY_TAG_CHAIN_CHECK);
	appendBinaryStringInfo(buf, (const char *) &index_be, sizeof(index_be));
	appendBinaryStringInfo(buf, (const char *) &block_be, sizeof(block_be));
	appendBinaryStringInfo(buf, (const char *) check->hash, sizeof(check->hash));
}

bool
EntryChainCheckDecode(const uint8 *data, Size len, EntryChainCheck *check)
{
	uint64 index_be;
	uint64 block_be;

	if (len != CHAIN_CHECK_LEN || data[0] != ENTRY_TAG_CHAIN_CHECK)
		return false;
	memcpy(&index_be, data + 1, sizeof(index_be));
	memcpy(&block_be, data + 1 + sizeof(index_be), sizeof(block_be));
	check->applied_index = pg_ntoh64(index_be);
	check->block = (int64) pg_ntoh64(block_be);
	memcpy(check->hash, data + 1 + sizeof(index_be) + sizeof(block_be),
		   sizeof(check->hash));
	return check->block >= 0;
}
