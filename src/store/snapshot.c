/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Snapshots: when to take one, what it holds, installing a leader's.
 *
 * A snapshot's data is a jsonb document: the chain head it covers and the
 * configuration document in effect,
 *
 *	{"last_block": N, "last_hash": "<hex>", "config": {...}}
 *
 * When the log has grown by the channel's snapshot_interval_bytes since
 * the last snapshot, one is recorded at the applied index and the log
 * rows it covers are deleted.
 *
 * src/store/snapshot.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "store/log.h"
#include "store/snapshot.h"
#include "store/spi.h"

static char *
hex_string(const uint8 *bytes, int len)
{
	static const char digits[] = "0123456789abcdef";
	char *out = palloc(len * 2 + 1);

	for (int i = 0; i < len; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[len * 2] = '\0';
	return out;
}

bool
StoreSnapshotIsJson(const uint8 *data, uint32 size, char **detail)
{
	JsonLexContext *lex;
	JsonParseErrorType rc;

	if (size > (uint32) INT_MAX)
	{
		*detail = pstrdup("It is too large.");
		return false;
	}
	lex = makeJsonLexContextCstringLen((char *) data, (int) size,
									   GetDatabaseEncoding(), false);
	rc = pg_parse_json(lex, &nullSemAction);
	if (rc == JSON_SUCCESS)
		return true;
	*detail = json_errdetail(rc, lex);
	return false;
}

/* The raft_config in a configuration document (snapshot data). */
void
StoreSnapshotConfig(const uint8 *data, uint32 size, raft_config *config)
{
	Oid types[1] = { TEXTOID };
	Datum value =
		PointerGetDatum(cstring_to_text_with_len((const char *) data, size));

	StoreQuery("SELECT (value->>'id')::bigint, (value->>'learner')::boolean"
			   " FROM jsonb_each($1::jsonb->'config'->'consenters')"
			   " ORDER BY 1",
			   1, types, &value, SPI_OK_SELECT);
	memset(config, 0, sizeof(*config));
	for (uint64 i = 0; i < SPI_processed && i < RAFT_MAX_MEMBERS; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		bool isnull;
		raft_id id = (raft_id) StoreGetInt64(tuple, SPI_tuptable->tupdesc, 1);

		if (DatumGetBool(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull)))
			config->learners[config->n_learners++] = id;
		else
			config->voters[config->n_voters++] = id;
	}
}

bool
StoreSnapshotHead(const char *channel, const uint8 *data, uint32 size,
				  ChainHead *head)
{
	Oid type = TEXTOID;
	Datum value =
		PointerGetDatum(cstring_to_text_with_len((const char *) data, size));
	bool block_isnull;
	bool hash_isnull;
	Datum block;
	Datum hash;
	char *detail;

	/* A peer's, or one stored here: either may be anything. */
	if (!StoreSnapshotIsJson(data, size, &detail))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot of channel \"%s\" is not a JSON document",
						channel),
				 errdetail("%s", detail)));
	StoreQuery("SELECT ($1::jsonb->>'last_block')::bigint,"
			   " decode($1::jsonb->>'last_hash', 'hex')",
			   1, &type, &value, SPI_OK_SELECT);
	block = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &block_isnull);
	if (block_isnull)
		return false;
	hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
						 &hash_isnull);
	if (DatumGetInt64(block) < 0 || hash_isnull ||
		VARSIZE_ANY_EXHDR(DatumGetByteaPP(hash)) != ORDERING_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot of channel \"%s\" has no valid last_block or last_hash",
						channel)));
	head->last_block = DatumGetInt64(block);
	memcpy(head->last_hash, VARDATA_ANY(DatumGetByteaPP(hash)),
		   ORDERING_HASH_LEN);
	return true;
}

/*
 * The chain must reach the snapshot's last block, with the snapshot's hash
 * there: a snapshot is installed only with the blocks it covers.
 */
void
StoreCheckSnapshotChain(ChannelState *ch, const uint8 *data, uint32 size)
{
	ChainHead named;

	if (!StoreSnapshotHead(ch->name, data, size, &named))
		return;

	/*
	 * The worker pulls the blocks a snapshot covers from a peer in the
	 * transaction that installs it, so the chain always reaches them.
	 */
	if (named.last_block > ch->chain.last_block)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\": blocks " INT64_FORMAT " to " INT64_FORMAT
						" covered by the snapshot are missing",
						ch->name, ch->chain.last_block + 1, named.last_block)));
	if (named.last_block == ch->chain.last_block &&
		memcmp(ch->chain.last_hash, named.last_hash, ORDERING_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\": block " INT64_FORMAT
						" differs from the snapshot's",
						ch->name, named.last_block)));
}

/*
 * A follower installs the leader's snapshot: the log is replaced and the
 * consenters and settings become the snapshot's, in the caller's
 * transaction.  The caller has already pulled the blocks it covers into
 * the same transaction: on any failure nothing of it stays.
 */
void
StorePersistSnapshot(ChannelState *ch, const raft_snapshot *snapshot)
{
	Oid types[6] = { TEXTOID, INT8OID, INT8OID, BYTEAOID, INT8OID, BYTEAOID };
	Datum values[6];

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) snapshot->meta.index);
	values[2] = Int64GetDatum((int64) snapshot->meta.term);
	values[3] = PointerGetDatum(StoreBytea(snapshot->data, snapshot->data_size));
	/* The head the pulled blocks reached, checked below. */
	values[4] = Int64GetDatum(ch->chain.last_block);
	values[5] =
		PointerGetDatum(StoreBytea(ch->chain.last_hash, ORDERING_HASH_LEN));
	StoreQuery("UPDATE ordering.raft_state SET snapshot_index = $2,"
			   " snapshot_term = $3, snapshot_data = $4,"
			   " applied_index = $2, commit_index = greatest(commit_index, $2),"
			   " log_bytes_since_snapshot = 0, last_block = $5,"
			   " last_block_hash = $6 WHERE channel = $1",
			   6, types, values, SPI_OK_UPDATE);
	StoreQueryChannel("DELETE FROM ordering.log WHERE channel = $1", ch->name,
					  SPI_OK_DELETE);

	/* Consenters and settings as of the snapshot. */
	types[1] = TEXTOID;
	values[1] =
		PointerGetDatum(cstring_to_text_with_len((const char *) snapshot->data,
												 snapshot->data_size));
	StoreQueryChannel("DELETE FROM ordering.consenters WHERE channel = $1",
					  ch->name, SPI_OK_DELETE);
	StoreQuery("INSERT INTO ordering.consenters"
			   " (channel, node, raft_id, conninfo, is_learner)"
			   " SELECT $1, key, (value->>'id')::bigint, value->>'conninfo',"
			   " (value->>'learner')::boolean"
			   " FROM jsonb_each($2::jsonb->'config'->'consenters')",
			   2, types, values, SPI_OK_INSERT);
	StoreQuery("UPDATE ordering.channels"
			   " SET config = $2::jsonb->'config'->'config'"
			   " WHERE channel = $1",
			   2, types, values, SPI_OK_UPDATE);
	StoreCheckSnapshotChain(ch, snapshot->data, snapshot->data_size);

	ch->log.snapshot_index = snapshot->meta.index;
	ch->log.snapshot_term = snapshot->meta.term;
	ch->log.applied_index = snapshot->meta.index;
	ch->log.applied_term = snapshot->meta.term;
	ch->log.bytes_since_snapshot = 0;
	ch->config = snapshot->meta.config;
}

/* ----------------------------------------------------------------
 * Taking snapshots
 * ----------------------------------------------------------------
 */

StringInfo
StoreMaybeSnapshot(ChannelState *ch)
{
	Oid types[5] = { TEXTOID, INT8OID, INT8OID, BYTEAOID, INT8OID };
	Datum values[5];
	int64 remaining;
	bool isnull;
	Datum doc;
	char *doc_text;
	char *json;
	Jsonb *jb;
	StringInfo data;
	MemoryContext old;

	if (ch->log.bytes_since_snapshot < ch->settings.snapshot_interval_bytes ||
		ch->log.applied_index <= ch->log.snapshot_index)
		return NULL;

	/* The configuration in effect: the last configuration block's item. */
	StoreQueryChannel("SELECT config FROM ordering.blocks"
					  " WHERE channel = $1 AND is_config"
					  " ORDER BY number DESC LIMIT 1",
					  ch->name, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\" has no configuration block", ch->name)));
	doc = StoreGetColumn(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 BYTEAOID, &isnull);
	doc_text = text_to_cstring((text *) DatumGetByteaPP(doc));

	json =
		psprintf("{\"last_block\": " INT64_FORMAT
				 ", \"last_hash\": \"%s\", \"config\": %s}",
				 ch->chain.last_block,
				 hex_string(ch->chain.last_hash, ORDERING_HASH_LEN), doc_text);
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	json = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	/* The caller installs it in the memory storage after the commit. */
	old = MemoryContextSwitchTo(StoreCallerContext());
	data = makeStringInfo();
	appendStringInfoString(data, json);
	MemoryContextSwitchTo(old);

	/*
	 * Entries already written past the applied index (a leader writes its
	 * own ahead of applying them) are not covered: they count toward the
	 * next snapshot.  Counted as 0, a burst written before its first entry
	 * was applied stayed in the log and in memory until as many bytes
	 * again came (TAP 095).
	 */
	StoreDeleteLogThrough(ch->name, ch->log.applied_index);
	remaining = StoreLogBytes(ch->name);

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) ch->log.applied_index);
	values[2] = Int64GetDatum((int64) ch->log.applied_term);
	values[3] = PointerGetDatum(StoreBytea(data->data, data->len));
	values[4] = Int64GetDatum(remaining);
	StoreQuery("UPDATE ordering.raft_state SET snapshot_index = $2,"
			   " snapshot_term = $3, snapshot_data = $4,"
			   " log_bytes_since_snapshot = $5 WHERE channel = $1",
			   5, types, values, SPI_OK_UPDATE);

	ch->log.snapshot_index = ch->log.applied_index;
	ch->log.snapshot_term = ch->log.applied_term;
	ch->log.bytes_since_snapshot = remaining;
	return data;
}
