/*-------------------------------------------------------------------------
 *
 * chain.c
 *	  The chain: blocks, transactions, consenters and settings, and the
 *	  committed entries applied to them.
 *
 * Applying is deterministic: every node applies the same entries to the
 * same tables and computes the same blocks and hashes.  A batch entry
 * becomes a block of its transactions not ordered before; a settings
 * entry or a membership change becomes a configuration block whose item
 * is the channel's configuration document (common/blocks.h).
 *
 * src/store/chain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "common/entry.h"
#include "common/gucs.h"
#include "store/chain.h"
#include "store/direct.h"
#include "store/identity.h"
#include "store/spi.h"
#include "store/tx_places.h"

/* NOTIFY channel of new blocks; payload "channel:number". */
#define BLOCKS_NOTIFY_CHANNEL "ordering_blocks"

/* Prepared statements kept across transactions. */
typedef enum ChainPlanId
{
	PLAN_BLOCK_INSERT,
	PLAN_TX_INSERT,
	PLAN_COUNT
} ChainPlanId;

static StorePlan plans[PLAN_COUNT] = {
	[PLAN_BLOCK_INSERT] = { "INSERT INTO ordering.blocks (channel, number, previous_hash,"
							" data_hash, hash, tx_count, is_config, config, "
							"raft_index, raft_term)"
							" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
							"$10)",
							10,
							{ TEXTOID, INT8OID, BYTEAOID, BYTEAOID, BYTEAOID,
							  INT4OID, BOOLOID, BYTEAOID, INT8OID, INT8OID } },
	[PLAN_TX_INSERT] = { "INSERT INTO ordering.transactions"
						 " (channel, block_number, position, tx_id, payload)"
						 " SELECT $1, $2, (u.ord - 1)::int, u.tx_id, u.payload"
						 " FROM unnest($3::text[], $4::bytea[]) WITH "
						 "ORDINALITY"
						 " AS u(tx_id, payload, ord)",
						 4,
						 { TEXTOID, INT8OID, TEXTARRAYOID, BYTEAARRAYOID } },
};

/* ----------------------------------------------------------------
 * Loading
 * ----------------------------------------------------------------
 */

void
StoreLoadSettings(ChannelState *ch)
{
	StoreQueryChannel("SELECT config::text FROM ordering.channels"
					  " WHERE channel = $1",
					  ch->name, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return;
	ch->settings_json =
		MemoryContextStrdup(ch->cxt,
							SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1));
	OrderingSettingsFromText(ch->settings_json, &ch->settings);
}

void
StoreLoadConsenters(ChannelState *ch)
{
	StoreQueryChannel("SELECT node, raft_id, conninfo, is_learner"
					  " FROM ordering.consenters WHERE channel = $1"
					  " ORDER BY raft_id",
					  ch->name, SPI_OK_SELECT);
	if (SPI_processed > RAFT_MAX_MEMBERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("channel \"%s\" has more than %d consenters", ch->name,
						RAFT_MAX_MEMBERS)));

	memset(&ch->config, 0, sizeof(ch->config));
	ch->n_members = 0;
	ch->self_id = RAFT_NONE;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		ChannelMember *m = &ch->members[ch->n_members++];
		bool isnull;

		strlcpy(m->node, SPI_getvalue(tuple, desc, 1), sizeof(m->node));
		m->id = (raft_id) StoreGetInt64(tuple, desc, 2);
		m->conninfo = MemoryContextStrdup(ch->cxt, SPI_getvalue(tuple, desc, 3));
		m->is_learner =
			DatumGetBool(StoreGetColumn(tuple, desc, 4, BOOLOID, &isnull));
		if (m->is_learner)
			ch->config.learners[ch->config.n_learners++] = m->id;
		else
			ch->config.voters[ch->config.n_voters++] = m->id;
		if (strcmp(m->node, ordering_node_name) == 0)
			ch->self_id = m->id;
	}
}

/* The number and hash of SPI's first result row, as a head. */
static void
head_from_result(const char *channel, ChainHead *head)
{
	bool isnull;
	bytea *hash;

	head->last_block =
		StoreGetInt64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	hash = DatumGetByteaPP(StoreGetColumn(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, BYTEAOID,
										  &isnull));
	if (VARSIZE_ANY_EXHDR(hash) != ORDERING_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block " INT64_FORMAT " of channel \"%s\" has a bad hash",
						head->last_block, channel)));
	memcpy(head->last_hash, VARDATA_ANY(hash), ORDERING_HASH_LEN);
}

/* The last block; its raft_index too, if raft_index is not NULL. */
void
StoreLoadChainHead(ChannelState *ch, int64 *raft_index)
{
	StoreQueryChannel("SELECT number, hash, raft_index FROM ordering.blocks"
					  " WHERE channel = $1 ORDER BY number DESC LIMIT 1",
					  ch->name, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\" has no genesis block", ch->name)));
	head_from_result(ch->name, &ch->chain);
	if (raft_index != NULL)
		*raft_index =
			StoreGetInt64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
}

bool
StoreBlockAppliedBy(const char *channel, uint64 upto, ChainHead *head)
{
	Oid types[2] = { TEXTOID, INT8OID };
	Datum values[2];

	if (upto > (uint64) PG_INT64_MAX)
		return false;
	values[0] = CStringGetTextDatum(channel);
	values[1] = Int64GetDatum((int64) upto);
	/* Blocks this transaction wrote through the table AM count too. */
	CommandCounterIncrement();
	StoreQuery("SELECT number, hash FROM ordering.blocks"
			   " WHERE channel = $1 AND raft_index <= $2"
			   " ORDER BY number DESC LIMIT 1",
			   2, types, values, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	head_from_result(channel, head);
	return true;
}

/*
 * The chain loaded must end at the head saved with the applied index.
 * Blocks deleted, added or changed by hand, or ordering.blocks restored
 * apart from the Raft state, would otherwise have the next block numbered
 * and linked from the wrong head: a chain parted from its peers' in
 * silence.
 */
void
StoreCheckChainHead(const ChannelState *ch, const StoreRaftState *state,
					int64 raft_index)
{
	const char *detail =
		"ordering.blocks was changed apart from the Raft state: blocks deleted, added or rewritten by hand, or the table restored on its own.";

	/*
	 * The entry of the last block (raft_index) is applied: an applied index
	 * set back would have the entries after it applied again, configuration
	 * changes writing their blocks twice.
	 */
	if (raft_index < 0 || (uint64) raft_index > state->applied)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block " INT64_FORMAT
						" of channel \"%s\" was applied at raft index " INT64_FORMAT
						", past the applied index " UINT64_FORMAT,
						ch->chain.last_block, ch->name, raft_index,
						(uint64) state->applied),
				 errdetail(
					 "ordering.raft_state was set back apart from the blocks."),
				 errhint(STORE_IDENTITY_REMEDY)));

	if (!state->head_known)
		return;
	if (ch->chain.last_block != state->head.last_block)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\" ends at block " INT64_FORMAT
						" where this node applied up to block " INT64_FORMAT,
						ch->name, ch->chain.last_block, state->head.last_block),
				 errdetail_internal("%s", detail),
				 errhint(STORE_IDENTITY_REMEDY)));
	if (memcmp(ch->chain.last_hash, state->head.last_hash, ORDERING_HASH_LEN) !=
		0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block " INT64_FORMAT
						" of channel \"%s\" is not the block this node applied",
						ch->chain.last_block, ch->name),
				 errdetail_internal("%s", detail),
				 errhint(STORE_IDENTITY_REMEDY)));
}

/* ----------------------------------------------------------------
 * Writing blocks
 * ----------------------------------------------------------------
 */

static void
notify_block(const char *channel, int64 number)
{
	char *payload = psprintf("%s:" INT64_FORMAT, channel, number);

	Async_Notify(BLOCKS_NOTIFY_CHANNEL, payload);
	pfree(payload);
}

/*
 * Inserts one block row, as it is: applying an entry, installing a
 * genesis document and pulling blocks from a peer all write blocks here.
 * With notify, NOTIFY ordering_blocks tells listeners at commit.
 */
void
StoreInsertBlock(const char *channel, const StoreBlockRow *row, bool notify)
{
	static const StoreDirectColumn columns[] = { { "channel", TEXTOID },
												 { "number", INT8OID },
												 { "previous_hash", BYTEAOID },
												 { "data_hash", BYTEAOID },
												 { "hash", BYTEAOID },
												 { "tx_count", INT4OID },
												 { "is_config", BOOLOID },
												 { "config", BYTEAOID },
												 { "raft_index", INT8OID },
												 { "raft_term", INT8OID },
												 { "created_at",
												   TIMESTAMPTZOID } };
	static const StoreDirectTable blocks = { "blocks", lengthof(columns),
											 columns, STORE_KEYED_COUNT };
	Datum values[lengthof(columns)];
	bool isnull[lengthof(columns)] = { 0 };

	/* values[0] is the channel, here and in the SQL's parameters. */
	values[0] = CStringGetTextDatum(channel);
	values[1] = Int64GetDatum(row->number);
	values[2] =
		PointerGetDatum(StoreBytea(row->previous_hash, ORDERING_HASH_LEN));
	values[3] = PointerGetDatum(StoreBytea(row->data_hash, ORDERING_HASH_LEN));
	values[4] = PointerGetDatum(StoreBytea(row->hash, ORDERING_HASH_LEN));
	values[5] = Int32GetDatum(row->tx_count);
	values[6] = BoolGetDatum(row->config != NULL);
	if (row->config != NULL)
		values[7] = PointerGetDatum(StoreBytea(row->config, row->config_len));
	else
	{
		values[7] = (Datum) 0;
		isnull[7] = true;
	}
	values[8] = Int64GetDatum(row->raft_index);
	values[9] = Int64GetDatum(row->raft_term);
	/* The column's default, now(). */
	values[10] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	if (!StoreDirectInsert(&blocks, channel, 1, &values[1], &isnull[1]))
	{
		char nulls[lengthof(columns)];

		for (int i = 0; i < lengthof(columns); i++)
			nulls[i] = isnull[i] ? 'n' : ' ';
		StoreExecPlan(&plans[PLAN_BLOCK_INSERT], values, nulls, SPI_OK_INSERT);
	}
	if (notify)
		notify_block(channel, row->number);
}

/*
 * Adds to seen each of the ids already on the channel, and appends its
 * transaction to *before: one probe of the index on tx_id per id
 * (store/tx_places.h).  The workers' probes are what keep an id to one
 * row of its channel: that index is not unique.
 */
static void
probe_ordered_ids(const char *channel, EntryTx *txs, uint32 n_txs, Datum *ids,
				  HTAB *seen, List **before)
{
	StoreTxProbe probe;

	StoreTxProbeBegin(&probe, channel);
	for (uint32 i = 0; i < n_txs; i++)
		if (StoreTxProbeLookup(&probe, ids[i], NULL, NULL))
		{
			char key[ORDERING_TX_ID_MAX];
			bool found;

			strlcpy(key, txs[i].tx_id, sizeof(key));
			hash_search(seen, key, HASH_ENTER, &found);
			if (!found)
				*before = lappend(*before, &txs[i]);
		}
	StoreTxProbeEnd(&probe);
}

/* Inserts the transactions of block number, at positions 0 .. n - 1. */
void
StoreInsertTransactions(const char *channel, int64 number, int n_txs,
						Datum *tx_ids, Datum *payloads)
{
	static const StoreDirectColumn columns[] = { { "channel", TEXTOID },
												 { "block_number", INT8OID },
												 { "position", INT4OID },
												 { "tx_id", TEXTOID },
												 { "payload", BYTEAOID } };
	static const StoreDirectTable transactions = { "transactions",
												   lengthof(columns), columns,
												   STORE_KEYED_TRANSACTIONS };
	int per_row = lengthof(columns) - 1;
	Datum *rows = palloc(sizeof(Datum) * per_row * Max(n_txs, 1));
	bool *nulls = palloc0(sizeof(bool) * per_row * Max(n_txs, 1));
	bool direct;
	Datum values[4];

	for (int i = 0; i < n_txs; i++)
	{
		rows[i * per_row] = Int64GetDatum(number);
		rows[i * per_row + 1] = Int32GetDatum(i);
		rows[i * per_row + 2] = tx_ids[i];
		rows[i * per_row + 3] = payloads[i];
	}
	direct = StoreDirectInsert(&transactions, channel, n_txs, rows, nulls);
	pfree(rows);
	pfree(nulls);
	if (direct)
		return;
	values[0] = CStringGetTextDatum(channel);
	values[1] = Int64GetDatum(number);
	values[2] = PointerGetDatum(
		construct_array(tx_ids, n_txs, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(
		construct_array(payloads, n_txs, BYTEAOID, -1, false, TYPALIGN_INT));
	StoreExecPlan(&plans[PLAN_TX_INSERT], values, NULL, SPI_OK_INSERT);
	if (SPI_processed != (uint64) n_txs)
		elog(ERROR, "inserted " UINT64_FORMAT " transactions of %d",
			 (uint64) SPI_processed, n_txs);
}

/* Inserts block last_block + 1 and advances the chain. */
static int64
write_block(ChannelState *ch, const uint8 data_hash[ORDERING_HASH_LEN],
			int tx_count, const char *config_doc, const raft_entry *entry)
{
	StoreBlockRow row;

	row.number = ch->chain.last_block + 1;
	memcpy(row.previous_hash, ch->chain.last_hash, ORDERING_HASH_LEN);
	memcpy(row.data_hash, data_hash, ORDERING_HASH_LEN);
	OrderingBlockHash(row.number, row.previous_hash, row.data_hash, row.hash);
	row.tx_count = tx_count;
	row.config = (const uint8 *) config_doc;
	row.config_len = config_doc != NULL ? strlen(config_doc) : 0;
	row.raft_index = (int64) entry->index;
	row.raft_term = (int64) entry->term;
	StoreInsertBlock(ch->name, &row, true);

	ch->chain.last_block = row.number;
	memcpy(ch->chain.last_hash, row.hash, ORDERING_HASH_LEN);
	return row.number;
}

/* ----------------------------------------------------------------
 * Applying committed entries
 * ----------------------------------------------------------------
 */

/*
 * A batch's transactions to write: those not in seen (which gains them),
 * in batch order, with their block's data hash.
 */
typedef struct BatchRows
{
	int n;
	Datum *ids;
	Datum *payloads;
	List *written; /* EntryTx *, in block order */
	uint8 data_hash[ORDERING_HASH_LEN];
} BatchRows;

static void
batch_rows(EntryTx *txs, uint32 n_txs, Datum *id_datums, HTAB *seen,
		   BatchRows *rows)
{
	OrderingDataHasher hasher;

	rows->n = 0;
	rows->ids = palloc(sizeof(Datum) * n_txs);
	rows->payloads = palloc(sizeof(Datum) * n_txs);
	rows->written = NIL;
	OrderingDataHashBegin(&hasher);
	for (uint32 i = 0; i < n_txs; i++)
	{
		char key[ORDERING_TX_ID_MAX];
		bool found;

		strlcpy(key, txs[i].tx_id, sizeof(key));
		hash_search(seen, key, HASH_ENTER, &found);
		if (found)
			continue; /* ordered before, or repeated in the batch */
		rows->ids[rows->n] = id_datums[i];
		rows->payloads[rows->n] =
			PointerGetDatum(StoreBytea(txs[i].payload, txs[i].payload_len));
		OrderingDataHashAddTx(&hasher, txs[i].tx_id, txs[i].payload,
							  txs[i].payload_len);
		rows->written = lappend(rows->written, &txs[i]);
		rows->n++;
	}
	OrderingDataHashEnd(&hasher, rows->data_hash);
}

static HTAB *
batch_seen_create(long size)
{
	HASHCTL ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ORDERING_TX_ID_MAX;
	ctl.entrysize = ORDERING_TX_ID_MAX;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("ordering batch ids", size, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* Writes the block of rows and its transactions; returns its number. */
static int64
batch_write(ChannelState *ch, const raft_entry *entry, const BatchRows *rows)
{
	int64 number = write_block(ch, rows->data_hash, rows->n, NULL, entry);

	StoreInsertTransactions(ch->name, number, rows->n, rows->ids,
							rows->payloads);
	return number;
}

/*
 * Applies a batch: drops transactions already ordered on the channel and
 * repeats within the batch, then writes the rest as the next block.  The
 * ids of every transaction in the batch go to *applied_ids (so the caller
 * forgets them as in flight); those written go to *written, in block order,
 * and those dropped because an earlier block holds their id to *before
 * (EntryTx *, valid as long as the current memory context).
 */
int64
StoreApplyBatch(ChannelState *ch, const raft_entry *entry, List **applied_ids,
				List **written, List **before)
{
	uint32 n_txs;
	EntryTx *txs;
	Datum *id_datums;
	HTAB *seen;
	BatchRows rows;
	int64 number;

	txs = EntryBatchDecode(entry->data, entry->size, &n_txs);
	if (n_txs == 0)
		return -1;
	id_datums = palloc(sizeof(Datum) * n_txs);
	for (uint32 i = 0; i < n_txs; i++)
	{
		id_datums[i] = CStringGetTextDatum(txs[i].tx_id);
		*applied_ids = lappend(*applied_ids, txs[i].tx_id);
	}

	/* Which of these ids are already on the channel? */
	seen = batch_seen_create(n_txs * 2);
	probe_ordered_ids(ch->name, txs, n_txs, id_datums, seen, before);
	batch_rows(txs, n_txs, id_datums, seen, &rows);
	hash_destroy(seen);
	if (rows.n == 0)
		return -1;
	number = batch_write(ch, entry, &rows);
	*written = list_concat(*written, rows.written);
	return number;
}

/* Writes a configuration block with the channel's current document. */
static int64
write_config_block(ChannelState *ch, const char *change, const raft_entry *entry)
{
	const char *nodes[RAFT_MAX_MEMBERS];
	uint64 ids[RAFT_MAX_MEMBERS];
	const char *conninfos[RAFT_MAX_MEMBERS];
	bool learners[RAFT_MAX_MEMBERS];
	Jsonb *consenters;
	Jsonb *settings;
	char *doc;
	OrderingDataHasher hasher;
	uint8 data_hash[ORDERING_HASH_LEN];

	for (int i = 0; i < ch->n_members; i++)
	{
		nodes[i] = ch->members[i].node;
		ids[i] = ch->members[i].id;
		conninfos[i] = ch->members[i].conninfo;
		learners[i] = ch->members[i].is_learner;
	}
	consenters = OrderingConsentersDocument(ch->n_members, nodes, ids,
											conninfos, learners);
	settings = DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(ch->settings_json)));
	doc = OrderingConfigDocument(ch->name, consenters, settings, change);

	OrderingDataHashBegin(&hasher);
	OrderingDataHashAdd(&hasher, doc, strlen(doc));
	OrderingDataHashEnd(&hasher, data_hash);
	return write_block(ch, data_hash, 0, doc, entry);
}

int64
StoreApplySettings(ChannelState *ch, const raft_entry *entry)
{
	char *json = EntrySettingsDecode(entry->data, entry->size);
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2];
	OrderingSettings settings;

	/* Refuse a bad document before touching anything. */
	OrderingSettingsFromText(json, &settings);

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = CStringGetTextDatum(json);
	StoreQuery("UPDATE ordering.channels SET config = $2::jsonb"
			   " WHERE channel = $1 RETURNING config::text",
			   2, types, values, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "channel \"%s\" vanished", ch->name);
	ch->settings_json =
		MemoryContextStrdup(ch->cxt,
							SPI_getvalue(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1));
	ch->settings = settings;
	return write_config_block(ch, "update_config", entry);
}

/* Context of a conf change: {"node": "n4", "conninfo": "..."}. */
static void
conf_change_context(const raft_conf_change *cc, char **node, char **conninfo)
{
	Oid types[1] = { TEXTOID };
	Datum value;
	bool isnull;

	*node = NULL;
	*conninfo = NULL;
	if (cc->context_size == 0)
		return;
	value = PointerGetDatum(
		cstring_to_text_with_len((const char *) cc->context, cc->context_size));
	StoreQuery("SELECT $1::jsonb->>'node', $1::jsonb->>'conninfo'", 1, types,
			   &value, SPI_OK_SELECT);
	Assert(SPI_processed == 1);
	SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		*node = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		*conninfo =
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

static int
member_index(ChannelState *ch, raft_id id)
{
	for (int i = 0; i < ch->n_members; i++)
		if (ch->members[i].id == id)
			return i;
	return -1;
}

/*
 * Applies a membership change to ordering.consenters and the channel's
 * members, and writes its configuration block.  The core applies the same
 * change to its own configuration at raft_advance().
 */
int64
StoreApplyConfChange(ChannelState *ch, const raft_entry *entry)
{
	raft_conf_change cc;
	char *node;
	char *conninfo;
	int rc;
	int at;
	const char *verb;
	Oid types[5] = { TEXTOID, INT8OID, TEXTOID, TEXTOID, BOOLOID };
	Datum values[5];

	rc = raft_conf_change_decode(entry->data, entry->size, &cc);
	if (rc != RAFT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed configuration change at index " UINT64_FORMAT
						": %s",
						(uint64) entry->index, raft_strerror(rc))));
	conf_change_context(&cc, &node, &conninfo);
	at = member_index(ch, cc.node);

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) cc.node);

	if (cc.type == RAFT_CONF_REMOVE)
	{
		if (at < 0)
			return -1; /* nothing to remove: no block */
		node = pstrdup(ch->members[at].node);
		StoreQuery("DELETE FROM ordering.consenters"
				   " WHERE channel = $1 AND raft_id = $2",
				   2, types, values, SPI_OK_DELETE);
		ch->members[at] = ch->members[ch->n_members - 1];
		ch->n_members--;
		verb = "remove_consenter";
	}
	else if (at >= 0)
	{
		ChannelMember *m = &ch->members[at];
		bool learner = (cc.type == RAFT_CONF_ADD_LEARNER);

		/*
		 * A member added again in its own kind is update_consenter: its
		 * context carries the new conninfo.  Promotions carry the old one.
		 */
		if (conninfo == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("configuration change at index " UINT64_FORMAT
							" names no conninfo",
							(uint64) entry->index)));
		if (learner != m->is_learner)
			verb = learner ? "demote" : "promote";
		else
			verb = "update_consenter";
		node = pstrdup(m->node);
		values[2] = CStringGetTextDatum(conninfo);
		values[3] = BoolGetDatum(learner);
		types[3] = BOOLOID;
		StoreQuery("UPDATE ordering.consenters SET conninfo = $3, is_learner = $4"
				   " WHERE channel = $1 AND raft_id = $2",
				   4, types, values, SPI_OK_UPDATE);
		m->is_learner = learner;
		if (m->conninfo == NULL || strcmp(m->conninfo, conninfo) != 0)
		{
			if (m->conninfo != NULL)
				pfree(m->conninfo);
			m->conninfo = MemoryContextStrdup(ch->cxt, conninfo);
		}
	}
	else
	{
		ChannelMember *m;

		if (node == NULL || conninfo == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("configuration change at index " UINT64_FORMAT
							" adds a node without a name or conninfo",
							(uint64) entry->index)));
		if (ch->n_members >= RAFT_MAX_MEMBERS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("channel \"%s\" cannot have more than %d consenters",
							ch->name, RAFT_MAX_MEMBERS)));
		values[2] = CStringGetTextDatum(node);
		values[3] = CStringGetTextDatum(conninfo);
		values[4] = BoolGetDatum(cc.type == RAFT_CONF_ADD_LEARNER);
		StoreQuery("INSERT INTO ordering.consenters"
				   " (channel, raft_id, node, conninfo, is_learner)"
				   " VALUES ($1, $2, $3, $4, $5)",
				   5, types, values, SPI_OK_INSERT);
		m = &ch->members[ch->n_members++];
		m->id = cc.node;
		strlcpy(m->node, node, sizeof(m->node));
		m->conninfo = MemoryContextStrdup(ch->cxt, conninfo);
		m->is_learner = (cc.type == RAFT_CONF_ADD_LEARNER);
		if (strcmp(m->node, ordering_node_name) == 0)
			ch->self_id = m->id;
		verb = "add_consenter";
	}

	rc = raft_config_apply(&ch->config, &cc);
	if (rc != RAFT_OK)
		elog(WARNING, "channel \"%s\": configuration change not applicable: %s",
			 ch->name, raft_strerror(rc));
	return write_config_block(ch, psprintf("%s %s", verb, node), entry);
}

/* ----------------------------------------------------------------
 * Raft ids
 * ----------------------------------------------------------------
 */

/*
 * The largest raft id this node has had in any configuration block of the
 * channel here (0 if none).  A node that is not a consenter now but had
 * that id was removed: an address book naming it with that id is stale.
 */
raft_id
StoreMaxOwnRaftId(ChannelState *ch)
{
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2];
	bool isnull;
	Datum d;

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = CStringGetTextDatum(ordering_node_name);
	StoreQuery("SELECT max((convert_from(config, 'UTF8')::jsonb->'consenters'->$2->>'id')::bigint)"
			   " FROM ordering.blocks WHERE channel = $1 AND is_config",
			   2, types, values, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? RAFT_NONE : (raft_id) DatumGetInt64(d);
}

/*
 * The largest raft id the channel has ever used: ids are never reused, so
 * that a removed node's late messages cannot pass for a new node's.
 */
raft_id
StoreMaxRaftIdEver(ChannelState *ch)
{
	bool isnull;
	Datum d;
	raft_id max_id = 0;

	StoreQueryChannel("SELECT max((c.value->>'id')::bigint)"
					  " FROM ordering.blocks b,"
					  " jsonb_each(convert_from(b.config, 'UTF8')::jsonb->'consenters') c"
					  " WHERE b.channel = $1 AND b.is_config",
					  ch->name, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		max_id = (raft_id) DatumGetInt64(d);
	for (int i = 0; i < ch->n_members; i++)
		max_id = Max(max_id, ch->members[i].id);
	return max_id;
}
