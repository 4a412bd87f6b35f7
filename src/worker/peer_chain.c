/*-------------------------------------------------------------------------
 *
 * peer_chain.c
 *	  Reading a peer's chain through ordering.peer_blocks(): pages of
 *	  blocks, every field checked, every link and hash verified.
 *
 * A node's role holds ordering_peer and nothing else, so the chain is read
 * through the SECURITY DEFINER function ordering.peer_blocks(), never from
 * the tables.  Results come in binary, one row per transaction (a
 * configuration block is one row without a transaction), in single-row
 * mode: each row is checked before the next is read, and the page is
 * bounded in blocks and in bytes on this side too, whatever the peer
 * sends.  Nothing a peer sends is used before it is checked; nothing is
 * trusted before its hash chain links into this node's own last block.
 *
 * src/worker/peer_chain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"

#include "common/blocks.h"
#include "common/channel_settings.h"
#include "common/clock.h"
#include "common/limits.h"
#include "common/names.h"
#include "common/remote.h"
#include "store/spi.h"
#include "worker/peer_chain.h"

#define PEER_CHAIN_CONNECT_TIMEOUT_MS 5000
#define PEER_CHAIN_STATEMENT_TIMEOUT_MS 15000
#define PEER_CHAIN_APPLICATION_NAME "ordering catchup"

/* Columns of the page query below, all in binary. */
enum
{
	COL_NUMBER,
	COL_PREVIOUS_HASH,
	COL_DATA_HASH,
	COL_HASH,
	COL_TX_COUNT,
	COL_IS_CONFIG,
	COL_CONFIG,
	COL_RAFT_INDEX,
	COL_RAFT_TERM,
	COL_ORD,
	COL_TX_ID,
	COL_PAYLOAD,
	N_COLUMNS
};

static const Oid column_types[N_COLUMNS] = {
	INT8OID,  BYTEAOID, BYTEAOID, BYTEAOID, INT4OID, BOOLOID,
	BYTEAOID, INT8OID,	INT8OID,  INT8OID,	TEXTOID, BYTEAOID,
};

/* One row per transaction, in order; unnest keeps the arrays' order. */
#define PEER_CHAIN_PAGE_SQL                                                   \
	"SELECT b.number, b.previous_hash, b.data_hash, b.hash, b.tx_count,"      \
	" b.is_config, b.config, b.raft_index, b.raft_term, t.ord, t.tx_id,"      \
	" t.payload"                                                              \
	" FROM ordering.peer_blocks($1, $2, $3) b"                                \
	" LEFT JOIN LATERAL unnest(b.tx_ids, b.payloads) WITH ORDINALITY"         \
	" AS t(tx_id, payload, ord) ON true"                                      \
	" ORDER BY b.number, t.ord"

typedef struct FetchState
{
	const char *peer;
	int64 first;
	int max_blocks;
	Size bytes;
	Size max_bytes;
	int64 max_payload;
	int64 max_txs;
	PulledPage *page;
	int blocks_allocated;
	int txs_allocated; /* of the last block */
} FetchState;

static void
peer_chain_malformed(const FetchState *st, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("node %s sent a malformed page of blocks: %s", st->peer,
					what)));
}

PGconn *
PeerChainConnect(const char *conninfo, const char *own_user, TimestampTz deadline)
{
	TimestampTz connect_deadline =
		Min(deadline,
			TimestampTzPlusMilliseconds(OrderingClockNow(),
										PEER_CHAIN_CONNECT_TIMEOUT_MS));

	return OrderingRemoteConnect(conninfo, own_user, PEER_CHAIN_APPLICATION_NAME,
								 PEER_CHAIN_STATEMENT_TIMEOUT_MS,
								 connect_deadline);
}

/* A fixed-size binary field: NULL is not allowed, the length must match. */
static const char *
fixed_field(const FetchState *st, const PGresult *row, int column, int len)
{
	if (PQgetisnull(row, 0, column) || PQgetlength(row, 0, column) != len)
		peer_chain_malformed(st, "a field has the wrong size");
	return PQgetvalue(row, 0, column);
}

static int64
int8_field(const FetchState *st, const PGresult *row, int column)
{
	uint64 value;
	int64 result;

	memcpy(&value, fixed_field(st, row, column, sizeof(value)), sizeof(value));
	result = (int64) pg_ntoh64(value);
	if (result < 0)
		peer_chain_malformed(st, "a negative number");
	return result;
}

static void
hash_field(const FetchState *st, const PGresult *row, int column,
		   uint8 out[ORDERING_HASH_LEN])
{
	memcpy(out, fixed_field(st, row, column, ORDERING_HASH_LEN),
		   ORDERING_HASH_LEN);
}

/* The block a row starts: its own fields, checked. */
static PulledBlock *
fetch_new_block(FetchState *st, const PGresult *row, int64 number)
{
	PulledPage *page = st->page;
	PulledBlock *block;
	uint32 tx_count;
	const char *is_config;

	if (number != st->first + page->n_blocks)
		peer_chain_malformed(st, "block numbers out of sequence");
	if (page->n_blocks >= st->max_blocks)
		peer_chain_malformed(st, "more blocks than asked for");
	if (page->n_blocks > 0)
	{
		const PulledBlock *last = &page->blocks[page->n_blocks - 1];

		if (last->n_txs != last->row.tx_count)
			peer_chain_malformed(st, "a block without all its transactions");
	}
	if (page->n_blocks == st->blocks_allocated)
	{
		st->blocks_allocated *= 2;
		page->blocks =
			repalloc(page->blocks, sizeof(PulledBlock) * st->blocks_allocated);
	}
	block = &page->blocks[page->n_blocks++];
	memset(block, 0, sizeof(*block));
	block->row.number = number;
	hash_field(st, row, COL_PREVIOUS_HASH, block->row.previous_hash);
	hash_field(st, row, COL_DATA_HASH, block->row.data_hash);
	hash_field(st, row, COL_HASH, block->row.hash);
	memcpy(&tx_count, fixed_field(st, row, COL_TX_COUNT, sizeof(tx_count)),
		   sizeof(tx_count));
	tx_count = pg_ntoh32(tx_count);
	if ((int64) tx_count > st->max_txs)
		peer_chain_malformed(st, "tx_count out of range");
	block->row.tx_count = (int) tx_count;
	is_config = fixed_field(st, row, COL_IS_CONFIG, 1);
	if (*is_config != 0 && *is_config != 1)
		peer_chain_malformed(st, "is_config is not a boolean");
	if ((*is_config == 1) == PQgetisnull(row, 0, COL_CONFIG) ||
		(*is_config == 1 && tx_count != 0) || (*is_config == 0 && tx_count == 0))
		peer_chain_malformed(st,
							 "a configuration block with transactions, or a normal block without");
	if (*is_config == 1)
	{
		Size len = PQgetlength(row, 0, COL_CONFIG);
		uint8 *config = palloc(Max(len, 1));

		memcpy(config, PQgetvalue(row, 0, COL_CONFIG), len);
		block->row.config = config;
		block->row.config_len = len;
	}
	block->row.raft_index = int8_field(st, row, COL_RAFT_INDEX);
	block->row.raft_term = int8_field(st, row, COL_RAFT_TERM);
	st->txs_allocated = 0;
	return block;
}

/* The transaction a row carries, if any, appended to block. */
static void
fetch_transaction(FetchState *st, const PGresult *row, PulledBlock *block)
{
	const char *tx_id;
	int tx_id_len;
	int payload_len;

	if (PQgetisnull(row, 0, COL_ORD))
	{
		if (!PQgetisnull(row, 0, COL_TX_ID) ||
			!PQgetisnull(row, 0, COL_PAYLOAD) || block->row.tx_count != 0 ||
			block->n_txs != 0)
			peer_chain_malformed(st, "a row without a position");
		return;
	}
	if (int8_field(st, row, COL_ORD) != (int64) block->n_txs + 1 ||
		block->n_txs >= block->row.tx_count)
		peer_chain_malformed(st, "transaction positions out of sequence");
	if (PQgetisnull(row, 0, COL_TX_ID) || PQgetisnull(row, 0, COL_PAYLOAD))
		peer_chain_malformed(st, "a transaction without id or payload");
	tx_id = PQgetvalue(row, 0, COL_TX_ID);
	tx_id_len = PQgetlength(row, 0, COL_TX_ID);
	if (!OrderingTxIdIsValid(tx_id, tx_id_len))
		peer_chain_malformed(st, "an invalid transaction id");
	payload_len = PQgetlength(row, 0, COL_PAYLOAD);
	if (payload_len > st->max_payload)
		peer_chain_malformed(st, "a payload larger than any channel allows");

	if (block->n_txs == st->txs_allocated)
	{
		st->txs_allocated = Max(st->txs_allocated * 2, 16);
		block->tx_ids = block->tx_ids == NULL
			? palloc(sizeof(Datum) * st->txs_allocated)
			: repalloc(block->tx_ids, sizeof(Datum) * st->txs_allocated);
		block->payloads = block->payloads == NULL
			? palloc(sizeof(Datum) * st->txs_allocated)
			: repalloc(block->payloads, sizeof(Datum) * st->txs_allocated);
	}
	block->tx_ids[block->n_txs] =
		PointerGetDatum(cstring_to_text_with_len(tx_id, tx_id_len));
	block->payloads[block->n_txs] = PointerGetDatum(
		StoreBytea(PQgetvalue(row, 0, COL_PAYLOAD), payload_len));
	block->n_txs++;
}

static void
fetch_row(const PGresult *row, void *arg)
{
	FetchState *st = arg;
	PulledPage *page = st->page;
	PulledBlock *block;
	int64 number;

	if (PQntuples(row) != 1 || PQnfields(row) != N_COLUMNS)
		peer_chain_malformed(st, "rows of the wrong shape");
	for (int column = 0; column < N_COLUMNS; column++)
	{
		if (PQftype(row, column) != column_types[column] ||
			PQfformat(row, column) != 1)
			peer_chain_malformed(st, "a column of the wrong type");
		st->bytes += PQgetlength(row, 0, column);
	}
	st->bytes += N_COLUMNS * sizeof(int32);
	if (st->bytes > st->max_bytes)
		peer_chain_malformed(st, "a page larger than asked for");

	number = int8_field(st, row, COL_NUMBER);
	if (page->n_blocks > 0 &&
		page->blocks[page->n_blocks - 1].row.number == number)
	{
		block = &page->blocks[page->n_blocks - 1];
		if (block->row.config != NULL)
			peer_chain_malformed(st, "a configuration block in two rows");
	}
	else
		block = fetch_new_block(st, row, number);
	fetch_transaction(st, row, block);
}

void
PeerChainFetch(PGconn *conn, const char *peer, const char *channel, int64 first,
			   int max_blocks, TimestampTz deadline, PulledPage *page)
{
	FetchState st;
	char first_text[32];
	char max_text[32];
	const char *params[3] = { channel, first_text, max_text };

	Assert(max_blocks >= 1 && max_blocks <= ORDERING_PEER_PAGE_BLOCKS);
	snprintf(first_text, sizeof(first_text), INT64_FORMAT, first);
	snprintf(max_text, sizeof(max_text), "%d", max_blocks);

	memset(&st, 0, sizeof(st));
	st.peer = peer;
	st.first = first;
	st.max_blocks = max_blocks;
	st.max_payload = OrderingMaxPayloadBytes();
	st.max_txs = OrderingMaxBlockTransactions();
	/* The peer stops at the page's bytes, after a block of at most this. */
	st.max_bytes = ORDERING_PEER_PAGE_BYTES + 2 * (Size) st.max_payload +
		(Size) st.max_txs * (ORDERING_TX_ID_MAX + 256);
	st.page = page;
	st.blocks_allocated = 16;
	page->n_blocks = 0;
	page->blocks = palloc(sizeof(PulledBlock) * st.blocks_allocated);

	deadline = Min(deadline,
				   TimestampTzPlusMilliseconds(OrderingClockNow(),
											   PEER_CHAIN_STATEMENT_TIMEOUT_MS));
	OrderingRemoteExecRows(conn, peer, PEER_CHAIN_PAGE_SQL, 3, params, true,
						   deadline, fetch_row, &st);
	if (page->n_blocks > 0)
	{
		const PulledBlock *last = &page->blocks[page->n_blocks - 1];

		if (last->n_txs != last->row.tx_count)
			peer_chain_malformed(&st, "a block without all its transactions");
	}
}

/*
 * The item of a transaction in data_hash (common/blocks.h); the id is
 * checked, never hashed, under this definition of the chain.
 */
static void
peer_chain_hash_tx(OrderingDataHasher *hasher, Datum tx_id, Datum payload)
{
	bytea *bytes = DatumGetByteaPP(payload);
	char *id = TextDatumGetCString(tx_id);

	OrderingDataHashAddTx(hasher, id, VARDATA_ANY(bytes),
						  VARSIZE_ANY_EXHDR(bytes));
	pfree(id);
}

void
PeerChainVerifyNext(ChainHead *head, const PulledBlock *block, const char *peer)
{
	const StoreBlockRow *row = &block->row;
	OrderingDataHasher hasher;
	uint8 computed[ORDERING_HASH_LEN];

	if (row->number != head->last_block + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("node %s sent block " INT64_FORMAT
						" where block " INT64_FORMAT " was expected",
						peer, row->number, head->last_block + 1)));
	if (memcmp(row->previous_hash, head->last_hash, ORDERING_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block " INT64_FORMAT
						" from node %s does not link to block " INT64_FORMAT
						" of this node",
						row->number, peer, head->last_block)));

	OrderingDataHashBegin(&hasher);
	if (row->config != NULL)
		OrderingDataHashAdd(&hasher, row->config, row->config_len);
	for (int i = 0; i < block->n_txs; i++)
		peer_chain_hash_tx(&hasher, block->tx_ids[i], block->payloads[i]);
	OrderingDataHashEnd(&hasher, computed);
	if (memcmp(computed, row->data_hash, ORDERING_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("data_hash of block " INT64_FORMAT
						" from node %s does not match its items",
						row->number, peer)));
	OrderingBlockHash(row->number, row->previous_hash, row->data_hash, computed);
	if (memcmp(computed, row->hash, ORDERING_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("hash of block " INT64_FORMAT " from node %s is wrong",
						row->number, peer)));

	head->last_block = row->number;
	memcpy(head->last_hash, row->hash, ORDERING_HASH_LEN);
}
