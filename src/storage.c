/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  The worker's SPI access to the ordering.* tables.
 *
 * Raft's durable state (ordering.raft_state), its log (ordering.log) and
 * the state machine (ordering.blocks, ordering.transactions, channels,
 * consenters) are written here, always inside a worker transaction that
 * commits with synchronous_commit = on before anything depending on it is
 * sent.  Statements that run for every ready are prepared once and kept
 * (SPI_keepplan); the plan cache replans them if the tables are recreated.
 *
 * Applying is deterministic: every node applies the same entries to the
 * same tables and computes the same blocks and hashes.
 *
 * src/storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "blocks.h"
#include "catchup.h"
#include "entry.h"
#include "storage.h"

/* Rows fetched at a time while loading a channel's log. */
#define LOG_LOAD_FETCH 1024

/* NOTIFY channel of new blocks; payload "channel:number". */
#define BLOCKS_NOTIFY_CHANNEL "ordering_blocks"

/* Prepared statements kept across transactions. */
typedef enum StoragePlanId
{
	PLAN_LOG_DELETE_FROM,
	PLAN_LOG_INSERT,
	PLAN_LOG_DELETE_THROUGH,
	PLAN_HARD_STATE,
	PLAN_LOCK_CHANNEL,
	PLAN_APPLIED,
	PLAN_TX_EXISTING,
	PLAN_BLOCK_INSERT,
	PLAN_TX_INSERT,
	PLAN_COUNT
} StoragePlanId;

typedef struct StoragePlanDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[10];
} StoragePlanDef;

static const StoragePlanDef plan_defs[PLAN_COUNT] = {
	[PLAN_LOG_DELETE_FROM] = {
		"DELETE FROM ordering.log WHERE channel = $1 AND index >= $2",
		2, {TEXTOID, INT8OID}
	},
	[PLAN_LOG_INSERT] = {
		"INSERT INTO ordering.log (channel, index, term, kind, data)"
		" VALUES ($1, $2, $3, $4, $5)",
		5, {TEXTOID, INT8OID, INT8OID, INT2OID, BYTEAOID}
	},
	[PLAN_LOG_DELETE_THROUGH] = {
		"DELETE FROM ordering.log WHERE channel = $1 AND index <= $2",
		2, {TEXTOID, INT8OID}
	},
	[PLAN_HARD_STATE] = {
		"UPDATE ordering.raft_state SET term = $2, vote = $3,"
		" commit_index = $4 WHERE channel = $1",
		4, {TEXTOID, INT8OID, INT8OID, INT8OID}
	},
	/*
	 * Taken first in a ready's transaction.  drop_channel deletes the
	 * channels row, then (cascading) raft_state, log and blocks; the worker
	 * updates raft_state and inserts rows whose foreign keys lock the
	 * channels row.  Locking the channels row first puts both in one order:
	 * without it they deadlocked.
	 */
	[PLAN_LOCK_CHANNEL] = {
		"SELECT 1 FROM ordering.channels WHERE channel = $1 FOR KEY SHARE",
		1, {TEXTOID}
	},
	[PLAN_APPLIED] = {
		"UPDATE ordering.raft_state SET applied_index = $2,"
		" log_bytes_since_snapshot = $3 WHERE channel = $1",
		3, {TEXTOID, INT8OID, INT8OID}
	},
	/*
	 * One probe of the unique (channel, tx_id) index per id: the LATERAL
	 * ... LIMIT 1 leaves the planner no plan but a nested loop of index
	 * probes.  "tx_id = ANY ($2)" let it scan the whole channel with a
	 * filter whenever the table looked small (never analyzed, or a generic
	 * plan made while it was empty): O(chain) per block.
	 */
	[PLAN_TX_EXISTING] = {
		"SELECT u.tx_id FROM unnest($2::text[]) AS u(tx_id),"
		" LATERAL (SELECT 1 FROM ordering.transactions t"
		" WHERE t.channel = $1 AND t.tx_id = u.tx_id LIMIT 1) AS found",
		2, {TEXTOID, TEXTARRAYOID}
	},
	[PLAN_BLOCK_INSERT] = {
		"INSERT INTO ordering.blocks (channel, number, previous_hash,"
		" data_hash, hash, tx_count, is_config, config, raft_index, raft_term)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		10, {TEXTOID, INT8OID, BYTEAOID, BYTEAOID, BYTEAOID, INT4OID,
		BOOLOID, BYTEAOID, INT8OID, INT8OID}
	},
	[PLAN_TX_INSERT] = {
		"INSERT INTO ordering.transactions"
		" (channel, block_number, position, tx_id, payload)"
		" SELECT $1, $2, (u.ord - 1)::int, u.tx_id, u.payload"
		" FROM unnest($3::text[], $4::bytea[]) WITH ORDINALITY"
		" AS u(tx_id, payload, ord)",
		4, {TEXTOID, INT8OID, TEXTARRAYOID, BYTEAARRAYOID}
	},
};

static SPIPlanPtr plans[PLAN_COUNT];

/*
 * The context StorageBegin() was called in: results that outlive the SPI
 * connection go here, and StorageCommit() switches back to it (a commit
 * leaves CurrentMemoryContext at TopMemoryContext).
 */
static MemoryContext storage_caller_cxt;

static SPIPlanPtr
storage_plan(StoragePlanId id)
{
	if (plans[id] == NULL)
	{
		SPIPlanPtr	plan;

		/*
		 * perf: the dedupe probe is planned for each call (with the number
		 * of ids and the table's current size), never a generic plan made
		 * while the table was empty.
		 */
		if (id == PLAN_TX_EXISTING)
			plan = SPI_prepare_cursor(plan_defs[id].sql, plan_defs[id].nargs,
									  (Oid *) plan_defs[id].argtypes,
									  CURSOR_OPT_CUSTOM_PLAN);
		else
			plan = SPI_prepare(plan_defs[id].sql, plan_defs[id].nargs,
							   (Oid *) plan_defs[id].argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 plan_defs[id].sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plans[id] = plan;
	}
	return plans[id];
}

static int
storage_exec(StoragePlanId id, Datum *values, const char *nulls,
			 int expected)
{
	int			ret;

	ret = SPI_execute_plan(storage_plan(id), values, nulls, false, 0);
	if (ret != expected)
		elog(ERROR, "\"%s\" failed: %s", plan_defs[id].sql,
			 SPI_result_code_string(ret));
	return ret;
}

/* One-off queries (loading): not worth keeping a plan. */
static void
storage_query(const char *sql, int nargs, Oid *types, Datum *values,
			  int expected)
{
	int			ret;

	ret = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
	if (ret != expected)
		elog(ERROR, "\"%s\" failed: %s", sql, SPI_result_code_string(ret));
}

bytea *
StorageBytea(const void *data, Size len)
{
	bytea	   *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	if (len > 0)
		memcpy(VARDATA(result), data, len);
	return result;
}

static int64
get_int64(HeapTuple tuple, TupleDesc desc, int column)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, column, &isnull);

	if (isnull)
		elog(ERROR, "unexpected NULL in column %d", column);
	return DatumGetInt64(d);
}

static char *
hex_string(const uint8 *bytes, int len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *out = palloc(len * 2 + 1);

	for (int i = 0; i < len; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[len * 2] = '\0';
	return out;
}

/* ----------------------------------------------------------------
 * Transactions
 * ----------------------------------------------------------------
 */

void
StorageBegin(void)
{
	storage_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
}

void
StorageCommit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(storage_caller_cxt);
}

bool
StorageExtensionExists(void)
{
	return OidIsValid(get_extension_oid("ordering", true));
}

List *
StorageChannelNames(void)
{
	List	   *names = NIL;

	storage_query("SELECT channel FROM ordering.channels ORDER BY channel",
				  0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(storage_caller_cxt);

		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	return names;
}

/* ----------------------------------------------------------------
 * Settings
 * ----------------------------------------------------------------
 */

static int64
settings_get(Jsonb *jb, const char *key, int64 default_value,
			 int64 min_value, int64 max_value)
{
	JsonbValue	k;
	JsonbValue *v;
	int64		result;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL)
		return default_value;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel setting \"%s\" is not a number", key)));
	result = DatumGetInt64(DirectFunctionCall1(numeric_int8,
											   NumericGetDatum(v->val.numeric)));
	if (result < min_value || result > max_value)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel setting \"%s\" is out of range: " INT64_FORMAT,
						key, result)));
	return result;
}

void
StorageParseSettings(const char *json, ChannelSettings *settings)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														CStringGetDatum(json)));

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel settings are not a JSON object")));
	settings->max_message_count =
		settings_get(jb, "max_message_count",
					 ORDERING_DEFAULT_MAX_MESSAGE_COUNT, 1, 100000);
	settings->absolute_max_bytes =
		settings_get(jb, "absolute_max_bytes",
					 ORDERING_DEFAULT_ABSOLUTE_MAX_BYTES, 1, 64 * 1024 * 1024);
	settings->preferred_max_bytes =
		settings_get(jb, "preferred_max_bytes",
					 ORDERING_DEFAULT_PREFERRED_MAX_BYTES, 1,
					 settings->absolute_max_bytes);
	settings->batch_timeout_ms =
		settings_get(jb, "batch_timeout",
					 ORDERING_DEFAULT_BATCH_TIMEOUT_MS, 1, 600000);
	settings->snapshot_interval_bytes =
		settings_get(jb, "snapshot_interval_bytes",
					 ORDERING_DEFAULT_SNAPSHOT_INTERVAL_BYTES, 1024,
					 PG_INT64_MAX);
	settings->heartbeat_tick =
		settings_get(jb, "heartbeat_tick",
					 ORDERING_DEFAULT_HEARTBEAT_TICK, 1, 1000000);
	settings->election_tick =
		settings_get(jb, "election_tick",
					 ORDERING_DEFAULT_ELECTION_TICK, 2, 1000000);
}

/* ----------------------------------------------------------------
 * Loading a channel
 * ----------------------------------------------------------------
 */

static void
load_settings(Channel *ch, Datum name)
{
	Oid			types[1] = {TEXTOID};

	storage_query("SELECT config::text FROM ordering.channels"
				  " WHERE channel = $1", 1, types, &name, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return;
	ch->settings_json = MemoryContextStrdup(ch->cxt,
											SPI_getvalue(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc,
														 1));
	StorageParseSettings(ch->settings_json, &ch->settings);
}

static void
load_consenters(Channel *ch, Datum name)
{
	Oid			types[1] = {TEXTOID};

	storage_query("SELECT node, raft_id, conninfo, is_learner"
				  " FROM ordering.consenters WHERE channel = $1"
				  " ORDER BY raft_id", 1, types, &name, SPI_OK_SELECT);
	if (SPI_processed > RAFT_MAX_MEMBERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("channel \"%s\" has more than %d consenters",
						ch->name, RAFT_MAX_MEMBERS)));

	memset(&ch->config, 0, sizeof(ch->config));
	ch->n_members = 0;
	ch->self_id = RAFT_NONE;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ChannelMember *m = &ch->members[ch->n_members++];
		bool		isnull;

		strlcpy(m->node, SPI_getvalue(tuple, desc, 1), sizeof(m->node));
		m->id = (raft_id) get_int64(tuple, desc, 2);
		m->conninfo = MemoryContextStrdup(ch->cxt,
										  SPI_getvalue(tuple, desc, 3));
		m->is_learner = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
		if (m->is_learner)
			ch->config.learners[ch->config.n_learners++] = m->id;
		else
			ch->config.voters[ch->config.n_voters++] = m->id;
		if (strcmp(m->node, ordering_node_name) == 0)
			ch->self_id = m->id;
	}
}

/* The raft_config in a configuration document (snapshot data). */
static void
config_from_snapshot_data(const uint8 *data, uint32 size, raft_config *config)
{
	Oid			types[1] = {TEXTOID};
	Datum		value = PointerGetDatum(cstring_to_text_with_len((const char *) data,
																 size));

	storage_query("SELECT (value->>'id')::bigint, (value->>'learner')::boolean"
				  " FROM jsonb_each($1::jsonb->'config'->'consenters')"
				  " ORDER BY 1", 1, types, &value, SPI_OK_SELECT);
	memset(config, 0, sizeof(*config));
	for (uint64 i = 0; i < SPI_processed && i < RAFT_MAX_MEMBERS; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;
		raft_id		id = (raft_id) get_int64(tuple, SPI_tuptable->tupdesc, 1);

		if (DatumGetBool(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2,
									   &isnull)))
			config->learners[config->n_learners++] = id;
		else
			config->voters[config->n_voters++] = id;
	}
}

static void
load_last_block(Channel *ch, Datum name)
{
	Oid			types[1] = {TEXTOID};
	bool		isnull;
	bytea	   *hash;

	storage_query("SELECT number, hash FROM ordering.blocks"
				  " WHERE channel = $1 ORDER BY number DESC LIMIT 1",
				  1, types, &name, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\" has no genesis block", ch->name)));
	ch->last_block = get_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 2, &isnull));
	if (VARSIZE_ANY_EXHDR(hash) != ORDERING_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block " INT64_FORMAT " of channel \"%s\" has a bad hash",
						ch->last_block, ch->name)));
	memcpy(ch->last_hash, VARDATA_ANY(hash), ORDERING_HASH_LEN);
}

/*
 * A snapshot may be ahead of the blocks this node has (until they are
 * pulled from a peer): the chain continues from the snapshot's last block.
 */
static void
chain_head_from_snapshot(Channel *ch, const uint8 *data, uint32 size)
{
	Oid			types[1] = {TEXTOID};
	Datum		value = PointerGetDatum(cstring_to_text_with_len((const char *) data,
																 size));
	bool		isnull;
	int64		last_block;
	bytea	   *hash;

	storage_query("SELECT ($1::jsonb->>'last_block')::bigint,"
				  " decode($1::jsonb->>'last_hash', 'hex')",
				  1, types, &value, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return;
	SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return;
	last_block = get_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull || VARSIZE_ANY_EXHDR(hash) != ORDERING_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("snapshot of channel \"%s\" has no valid last_hash",
						ch->name)));

	/*
	 * The blocks a snapshot covers are pulled (catchup.c) in the transaction
	 * that installs it, so the chain always reaches the snapshot's block.
	 */
	if (last_block > ch->last_block)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\": blocks " INT64_FORMAT " to " INT64_FORMAT " covered by the snapshot are missing",
						ch->name, ch->last_block + 1, last_block)));
	if (last_block == ch->last_block &&
		memcmp(ch->last_hash, VARDATA_ANY(hash), ORDERING_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\": block " INT64_FORMAT " differs from the snapshot's",
						ch->name, last_block)));
}

static void
load_raft_state(Channel *ch, Datum name, StorageRaftState *state)
{
	Oid			types[1] = {TEXTOID};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		snapshot_data;

	storage_query("SELECT term, vote, commit_index, applied_index,"
				  " snapshot_index, snapshot_term, snapshot_data,"
				  " log_bytes_since_snapshot, removed"
				  " FROM ordering.raft_state WHERE channel = $1",
				  1, types, &name, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\" has no raft state", ch->name)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	memset(state, 0, sizeof(*state));
	state->hard_state.term = get_int64(tuple, desc, 1);
	state->hard_state.vote = get_int64(tuple, desc, 2);
	state->hard_state.commit = get_int64(tuple, desc, 3);
	state->applied = get_int64(tuple, desc, 4);
	ch->snapshot_index = get_int64(tuple, desc, 5);
	ch->snapshot_term = get_int64(tuple, desc, 6);
	snapshot_data = SPI_getbinval(tuple, desc, 7, &isnull);
	ch->log_bytes_since_snapshot = get_int64(tuple, desc, 8);
	ch->removed = DatumGetBool(SPI_getbinval(tuple, desc, 9, &isnull));

	state->snapshot.meta.index = ch->snapshot_index;
	state->snapshot.meta.term = ch->snapshot_term;
	if (!isnull && ch->snapshot_index > 0)
	{
		bytea	   *b = DatumGetByteaPCopy(snapshot_data);

		state->snapshot.data_size = VARSIZE_ANY_EXHDR(b);
		state->snapshot.data = (uint8 *) VARDATA_ANY(b);
		config_from_snapshot_data(state->snapshot.data,
								  state->snapshot.data_size,
								  &state->snapshot.meta.config);
	}
	/* The commit index is persisted with every apply; never behind it. */
	if (state->hard_state.commit < state->applied)
		state->hard_state.commit = state->applied;
	ch->applied_index = state->applied;
}

/*
 * Records whether this node was removed from the channel (see
 * ordering.raft_state.removed), so that a restart does not run Raft for a
 * channel the node is no longer in.  Needs a transaction (StorageBegin).
 */
void
StorageSetRemoved(Channel *ch, bool removed)
{
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2] = {CStringGetTextDatum(ch->name), BoolGetDatum(removed)};

	storage_query("UPDATE ordering.raft_state SET removed = $2 WHERE channel = $1",
				  2, types, values, SPI_OK_UPDATE);
	ch->removed = removed;
}

/* Mirrors ordering.log (after the snapshot) into the memory storage. */
static void
load_log(Channel *ch, Datum name)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {name, Int64GetDatum((int64) ch->snapshot_index)};
	SPIPlanPtr	plan;
	Portal		portal;
	raft_index	expected = ch->snapshot_index + 1;

	plan = SPI_prepare("SELECT index, term, kind, data FROM ordering.log"
					   " WHERE channel = $1 AND index > $2 ORDER BY index",
					   2, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s",
			 SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, values, NULL, true);
	for (;;)
	{
		raft_entry *entries;
		int			rc;

		SPI_cursor_fetch(portal, true, LOG_LOAD_FETCH);
		if (SPI_processed == 0)
			break;
		entries = palloc(sizeof(raft_entry) * SPI_processed);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			bytea	   *data;

			entries[i].index = get_int64(tuple, desc, 1);
			entries[i].term = get_int64(tuple, desc, 2);
			entries[i].type = DatumGetInt16(SPI_getbinval(tuple, desc, 3,
														  &isnull));
			data = DatumGetByteaPP(SPI_getbinval(tuple, desc, 4, &isnull));
			entries[i].size = VARSIZE_ANY_EXHDR(data);
			entries[i].data = entries[i].size > 0 ?
				(uint8 *) VARDATA_ANY(data) : NULL;
			if (entries[i].index != expected)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("log of channel \"%s\" has a gap at index " UINT64_FORMAT,
								ch->name, (uint64) expected)));
			expected++;
		}
		rc = raft_memory_storage_append(ch->storage, entries,
										(uint32) SPI_processed);
		if (rc != RAFT_OK)
			elog(ERROR, "could not load the log of channel \"%s\": %s",
				 ch->name, raft_strerror(rc));
		pfree(entries);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
}

bool
StorageLoadChannel(Channel *ch, StorageRaftState *state)
{
	Datum		name = CStringGetTextDatum(ch->name);
	raft_storage view;
	raft_term	term = 0;

	load_settings(ch, name);
	if (ch->settings_json == NULL)
		return false;
	load_consenters(ch, name);
	load_raft_state(ch, name, state);
	load_last_block(ch, name);
	if (state->snapshot.data_size > 0)
		chain_head_from_snapshot(ch, state->snapshot.data,
								 state->snapshot.data_size);

	if (state->snapshot.meta.index > 0)
	{
		int			rc = raft_memory_storage_apply_snapshot(ch->storage,
															&state->snapshot);

		if (rc != RAFT_OK)
			elog(ERROR, "could not load the snapshot of channel \"%s\": %s",
				 ch->name, raft_strerror(rc));
	}
	load_log(ch, name);

	view = raft_memory_storage_view(ch->storage);
	if (view.term(view.ud, ch->applied_index, &term) != RAFT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("log of channel \"%s\" lacks its applied index " UINT64_FORMAT,
						ch->name, (uint64) ch->applied_index)));
	ch->applied_term = term;
	return true;
}

/* ----------------------------------------------------------------
 * Persisting a ready
 * ----------------------------------------------------------------
 */

void
StoragePersistEntries(Channel *ch, const raft_entry *entries,
					  uint32 n_entries, raft_index last_index)
{
	Datum		name = CStringGetTextDatum(ch->name);

	if (n_entries == 0)
		return;

	/* Replace any conflicting suffix (Raft's log matching rule). */
	if (entries[0].index <= last_index)
	{
		Datum		values[2] = {name, Int64GetDatum((int64) entries[0].index)};

		storage_exec(PLAN_LOG_DELETE_FROM, values, NULL, SPI_OK_DELETE);
	}

	for (uint32 i = 0; i < n_entries; i++)
	{
		Datum		values[5];

		Assert(i == 0 || entries[i].index == entries[i - 1].index + 1);
		values[0] = name;
		values[1] = Int64GetDatum((int64) entries[i].index);
		values[2] = Int64GetDatum((int64) entries[i].term);
		values[3] = Int16GetDatum((int16) entries[i].type);
		values[4] = PointerGetDatum(StorageBytea(entries[i].data,
												   entries[i].size));
		storage_exec(PLAN_LOG_INSERT, values, NULL, SPI_OK_INSERT);
		pfree(DatumGetPointer(values[4]));
		ch->log_bytes_since_snapshot += entries[i].size;
	}
}

void
StorageLockChannel(Channel *ch)
{
	Datum		values[1];

	values[0] = CStringGetTextDatum(ch->name);
	storage_exec(PLAN_LOCK_CHANNEL, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" was dropped", ch->name)));
}

void
StoragePersistHardState(Channel *ch, const raft_hard_state *hs)
{
	Datum		values[4];

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) hs->term);
	values[2] = Int64GetDatum((int64) hs->vote);
	values[3] = Int64GetDatum((int64) hs->commit);
	storage_exec(PLAN_HARD_STATE, values, NULL, SPI_OK_UPDATE);
}

/*
 * A follower installs the leader's snapshot: first the blocks it covers are
 * pulled from a peer and verified (catchup.c), then the log is replaced and
 * the consenters and settings become the snapshot's, all in the caller's
 * transaction: on any failure nothing of it stays.
 */
void
StoragePersistSnapshot(Channel *ch, const raft_snapshot *snapshot)
{
	Oid			types[5] = {TEXTOID, INT8OID, INT8OID, BYTEAOID, TEXTOID};
	Datum		values[5];

	CatchupPullBlocks(ch, snapshot);

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) snapshot->meta.index);
	values[2] = Int64GetDatum((int64) snapshot->meta.term);
	values[3] = PointerGetDatum(StorageBytea(snapshot->data,
											   snapshot->data_size));
	storage_query("UPDATE ordering.raft_state SET snapshot_index = $2,"
				  " snapshot_term = $3, snapshot_data = $4,"
				  " applied_index = $2, commit_index = greatest(commit_index, $2),"
				  " log_bytes_since_snapshot = 0 WHERE channel = $1",
				  4, types, values, SPI_OK_UPDATE);
	storage_query("DELETE FROM ordering.log WHERE channel = $1",
				  1, types, values, SPI_OK_DELETE);

	/* Consenters and settings as of the snapshot. */
	values[4] = PointerGetDatum(cstring_to_text_with_len((const char *) snapshot->data,
														 snapshot->data_size));
	types[1] = TEXTOID;
	values[1] = values[4];
	storage_query("DELETE FROM ordering.consenters WHERE channel = $1",
				  1, types, values, SPI_OK_DELETE);
	storage_query("INSERT INTO ordering.consenters"
				  " (channel, node, raft_id, conninfo, is_learner)"
				  " SELECT $1, key, (value->>'id')::bigint, value->>'conninfo',"
				  " (value->>'learner')::boolean"
				  " FROM jsonb_each($2::jsonb->'config'->'consenters')",
				  2, types, values, SPI_OK_INSERT);
	storage_query("UPDATE ordering.channels"
				  " SET config = $2::jsonb->'config'->'config'"
				  " WHERE channel = $1", 2, types, values, SPI_OK_UPDATE);
	chain_head_from_snapshot(ch, snapshot->data, snapshot->data_size);

	ch->snapshot_index = snapshot->meta.index;
	ch->snapshot_term = snapshot->meta.term;
	ch->applied_index = snapshot->meta.index;
	ch->applied_term = snapshot->meta.term;
	ch->log_bytes_since_snapshot = 0;
	ch->config = snapshot->meta.config;
}

/* ----------------------------------------------------------------
 * Applying committed entries
 * ----------------------------------------------------------------
 */

static void
notify_block(Channel *ch, int64 number)
{
	char	   *payload = psprintf("%s:" INT64_FORMAT, ch->name, number);

	Async_Notify(BLOCKS_NOTIFY_CHANNEL, payload);
	pfree(payload);
}

/* Inserts block last_block + 1 and advances the chain. */
static int64
write_block(Channel *ch, const uint8 data_hash[ORDERING_HASH_LEN],
			int tx_count, const char *config_doc, const raft_entry *entry)
{
	int64		number = ch->last_block + 1;
	uint8		hash[ORDERING_HASH_LEN];
	Datum		values[10];
	char		nulls[10];

	OrderingBlockHash(number, ch->last_hash, data_hash, hash);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum(number);
	values[2] = PointerGetDatum(StorageBytea(ch->last_hash, ORDERING_HASH_LEN));
	values[3] = PointerGetDatum(StorageBytea(data_hash, ORDERING_HASH_LEN));
	values[4] = PointerGetDatum(StorageBytea(hash, ORDERING_HASH_LEN));
	values[5] = Int32GetDatum(tx_count);
	values[6] = BoolGetDatum(config_doc != NULL);
	if (config_doc != NULL)
		values[7] = PointerGetDatum(StorageBytea(config_doc,
												   strlen(config_doc)));
	else
	{
		values[7] = (Datum) 0;
		nulls[7] = 'n';
	}
	values[8] = Int64GetDatum((int64) entry->index);
	values[9] = Int64GetDatum((int64) entry->term);
	storage_exec(PLAN_BLOCK_INSERT, values, nulls, SPI_OK_INSERT);

	ch->last_block = number;
	memcpy(ch->last_hash, hash, ORDERING_HASH_LEN);
	notify_block(ch, number);
	return number;
}

/*
 * Applies a batch: drops transactions already ordered on the channel and
 * repeats within the batch, then writes the rest as the next block.  The
 * ids of every transaction in the batch go to *applied_ids (so the caller
 * forgets them as in flight).
 */
int64
StorageApplyBatch(Channel *ch, const raft_entry *entry, List **applied_ids)
{
	uint32		n_txs;
	EntryTx    *txs;
	Datum	   *id_datums;
	HTAB	   *seen;
	HASHCTL		ctl;
	Datum		values[4];
	Datum	   *keep_ids;
	Datum	   *keep_payloads;
	int			n_keep = 0;
	OrderingDataHasher hasher;
	uint8		data_hash[ORDERING_HASH_LEN];
	int64		number;

	txs = EntryBatchDecode(entry->data, entry->size, &n_txs);
	if (n_txs == 0)
		return -1;

	/* Which of these ids are already on the channel? */
	id_datums = palloc(sizeof(Datum) * n_txs);
	for (uint32 i = 0; i < n_txs; i++)
	{
		id_datums[i] = CStringGetTextDatum(txs[i].tx_id);
		*applied_ids = lappend(*applied_ids, txs[i].tx_id);
	}
	values[0] = CStringGetTextDatum(ch->name);
	values[1] = PointerGetDatum(construct_array(id_datums, n_txs, TEXTOID,
												-1, false, TYPALIGN_INT));
	storage_exec(PLAN_TX_EXISTING, values, NULL, SPI_OK_SELECT);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ORDERING_TX_ID_MAX;
	ctl.entrysize = ORDERING_TX_ID_MAX;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("ordering batch ids", n_txs + SPI_processed, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char		key[ORDERING_TX_ID_MAX];

		strlcpy(key, SPI_getvalue(SPI_tuptable->vals[i],
								  SPI_tuptable->tupdesc, 1), sizeof(key));
		hash_search(seen, key, HASH_ENTER, NULL);
	}

	keep_ids = palloc(sizeof(Datum) * n_txs);
	keep_payloads = palloc(sizeof(Datum) * n_txs);
	OrderingDataHashBegin(&hasher);
	for (uint32 i = 0; i < n_txs; i++)
	{
		char		key[ORDERING_TX_ID_MAX];
		bool		found;

		strlcpy(key, txs[i].tx_id, sizeof(key));
		hash_search(seen, key, HASH_ENTER, &found);
		if (found)
			continue;			/* ordered before, or repeated in the batch */
		keep_ids[n_keep] = id_datums[i];
		keep_payloads[n_keep] =
			PointerGetDatum(StorageBytea(txs[i].payload, txs[i].payload_len));
		OrderingDataHashAdd(&hasher, txs[i].payload, txs[i].payload_len);
		n_keep++;
	}
	hash_destroy(seen);

	if (n_keep == 0)
	{
		uint8		unused[ORDERING_HASH_LEN];

		OrderingDataHashEnd(&hasher, unused);
		return -1;
	}
	OrderingDataHashEnd(&hasher, data_hash);

	number = write_block(ch, data_hash, n_keep, NULL, entry);

	values[1] = Int64GetDatum(number);
	values[2] = PointerGetDatum(construct_array(keep_ids, n_keep, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(keep_payloads, n_keep,
												BYTEAOID, -1, false,
												TYPALIGN_INT));
	storage_exec(PLAN_TX_INSERT, values, NULL, SPI_OK_INSERT);
	if (SPI_processed != (uint64) n_keep)
		elog(ERROR, "inserted " UINT64_FORMAT " transactions of %d",
			 (uint64) SPI_processed, n_keep);
	return number;
}

/* Writes a configuration block with the channel's current document. */
static int64
write_config_block(Channel *ch, const char *change, const raft_entry *entry)
{
	const char *nodes[RAFT_MAX_MEMBERS];
	uint64		ids[RAFT_MAX_MEMBERS];
	const char *conninfos[RAFT_MAX_MEMBERS];
	bool		learners[RAFT_MAX_MEMBERS];
	Jsonb	   *consenters;
	Jsonb	   *settings;
	char	   *doc;
	OrderingDataHasher hasher;
	uint8		data_hash[ORDERING_HASH_LEN];

	for (int i = 0; i < ch->n_members; i++)
	{
		nodes[i] = ch->members[i].node;
		ids[i] = ch->members[i].id;
		conninfos[i] = ch->members[i].conninfo;
		learners[i] = ch->members[i].is_learner;
	}
	consenters = OrderingConsentersDocument(ch->n_members, nodes, ids,
											conninfos, learners);
	settings = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												  CStringGetDatum(ch->settings_json)));
	doc = OrderingConfigDocument(ch->name, consenters, settings, change);

	OrderingDataHashBegin(&hasher);
	OrderingDataHashAdd(&hasher, doc, strlen(doc));
	OrderingDataHashEnd(&hasher, data_hash);
	return write_block(ch, data_hash, 0, doc, entry);
}

int64
StorageApplySettings(Channel *ch, const raft_entry *entry)
{
	char	   *json = EntrySettingsDecode(entry->data, entry->size);
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	ChannelSettings settings;

	/* Refuse a bad document before touching anything. */
	StorageParseSettings(json, &settings);

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = CStringGetTextDatum(json);
	storage_query("UPDATE ordering.channels SET config = $2::jsonb"
				  " WHERE channel = $1 RETURNING config::text",
				  2, types, values, SPI_OK_UPDATE_RETURNING);
	if (SPI_processed != 1)
		elog(ERROR, "channel \"%s\" vanished", ch->name);
	ch->settings_json = MemoryContextStrdup(ch->cxt,
											SPI_getvalue(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc,
														 1));
	ch->settings = settings;
	return write_config_block(ch, "update_config", entry);
}

/* The settings after an update: current || update (jsonb's ||). */
char *
StorageMergeSettings(const char *current, const char *update)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	char	   *merged;
	ChannelSettings settings;

	values[0] = CStringGetTextDatum(current);
	values[1] = CStringGetTextDatum(update);
	storage_query("SELECT ($1::jsonb || $2::jsonb)::text", 2, types, values,
				  SPI_OK_SELECT);
	merged = MemoryContextStrdup(storage_caller_cxt,
								 SPI_getvalue(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1));
	StorageParseSettings(merged, &settings);
	return merged;
}

char *
StorageGenesisDocument(Channel *ch)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(ch->name)};
	bool		isnull;
	Datum		d;

	storage_query("SELECT convert_from(config, 'UTF8') FROM ordering.blocks"
				  " WHERE channel = $1 AND number = 0 AND is_config",
				  1, types, values, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return MemoryContextStrdup(storage_caller_cxt, TextDatumGetCString(d));
}

char *
StorageParseGenesisRecord(const char *data, Size len, int *n_book,
						  ChannelMember *book, MemoryContext cxt)
{
	Oid			types[1] = {TEXTOID};
	Datum		value = PointerGetDatum(cstring_to_text_with_len(data, len));
	bool		isnull;
	Datum		d;
	char	   *genesis;

	storage_query("SELECT $1::jsonb->>'genesis'", 1, types, &value,
				  SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("GENESIS record without a genesis document")));
	genesis = MemoryContextStrdup(storage_caller_cxt, TextDatumGetCString(d));

	storage_query("SELECT key, (value->>'id')::bigint, value->>'conninfo',"
				  " coalesce((value->>'learner')::boolean, false)"
				  " FROM jsonb_each($1::jsonb->'consenters') ORDER BY 2",
				  1, types, &value, SPI_OK_SELECT);
	*n_book = 0;
	for (uint64 i = 0; i < SPI_processed && i < RAFT_MAX_MEMBERS; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ChannelMember *m = &book[(*n_book)++];
		char	   *conninfo = SPI_getvalue(tuple, desc, 3);

		strlcpy(m->node, SPI_getvalue(tuple, desc, 1), sizeof(m->node));
		m->id = (raft_id) get_int64(tuple, desc, 2);
		m->conninfo = MemoryContextStrdup(cxt, conninfo ? conninfo : "");
		m->is_learner = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
	}
	return genesis;
}

/*
 * The largest raft id this node has had in any configuration block of the
 * channel here (0 if none).  A node that is not a consenter now but had
 * that id was removed: an address book naming it with that id is stale.
 */
raft_id
StorageMaxOwnRaftId(Channel *ch)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	Datum		d;

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = CStringGetTextDatum(ordering_node_name);
	storage_query("SELECT max((convert_from(config, 'UTF8')::jsonb->'consenters'->$2->>'id')::bigint)"
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
StorageMaxRaftIdEver(Channel *ch)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		d;
	raft_id		max_id = 0;

	values[0] = CStringGetTextDatum(ch->name);
	storage_query("SELECT max((c.value->>'id')::bigint)"
				  " FROM ordering.blocks b,"
				  " jsonb_each(convert_from(b.config, 'UTF8')::jsonb->'consenters') c"
				  " WHERE b.channel = $1 AND b.is_config",
				  1, types, values, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		max_id = (raft_id) DatumGetInt64(d);
	for (int i = 0; i < ch->n_members; i++)
		max_id = Max(max_id, ch->members[i].id);
	return max_id;
}

/* Context of a conf change: {"node": "n4", "conninfo": "..."}. */
static void
conf_change_context(const raft_conf_change *cc, char **node, char **conninfo)
{
	Oid			types[1] = {TEXTOID};
	Datum		value;
	bool		isnull;

	*node = NULL;
	*conninfo = NULL;
	if (cc->context_size == 0)
		return;
	value = PointerGetDatum(cstring_to_text_with_len((const char *) cc->context,
													 cc->context_size));
	storage_query("SELECT $1::jsonb->>'node', $1::jsonb->>'conninfo'",
				  1, types, &value, SPI_OK_SELECT);
	Assert(SPI_processed == 1);
	SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		*node = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		*conninfo = SPI_getvalue(SPI_tuptable->vals[0],
								 SPI_tuptable->tupdesc, 2);
}

static int
member_index(Channel *ch, raft_id id)
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
StorageApplyConfChange(Channel *ch, const raft_entry *entry)
{
	raft_conf_change cc;
	char	   *node;
	char	   *conninfo;
	int			rc;
	int			at;
	const char *verb;
	Oid			types[5] = {TEXTOID, INT8OID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[5];

	rc = raft_conf_change_decode(entry->data, entry->size, &cc);
	if (rc != RAFT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("malformed configuration change at index " UINT64_FORMAT ": %s",
						(uint64) entry->index, raft_strerror(rc))));
	conf_change_context(&cc, &node, &conninfo);
	at = member_index(ch, cc.node);

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) cc.node);

	if (cc.type == RAFT_CONF_REMOVE)
	{
		if (at < 0)
			return -1;			/* nothing to remove: no block */
		node = pstrdup(ch->members[at].node);
		storage_query("DELETE FROM ordering.consenters"
					  " WHERE channel = $1 AND raft_id = $2",
					  2, types, values, SPI_OK_DELETE);
		ch->members[at] = ch->members[ch->n_members - 1];
		ch->n_members--;
		verb = "remove_consenter";
	}
	else if (at >= 0)
	{
		bool		learner = (cc.type == RAFT_CONF_ADD_LEARNER);

		node = pstrdup(ch->members[at].node);
		values[4] = BoolGetDatum(learner);
		types[2] = BOOLOID;
		values[2] = values[4];
		storage_query("UPDATE ordering.consenters SET is_learner = $3"
					  " WHERE channel = $1 AND raft_id = $2",
					  3, types, values, SPI_OK_UPDATE);
		ch->members[at].is_learner = learner;
		verb = learner ? "demote" : "promote";
	}
	else
	{
		ChannelMember *m;

		if (node == NULL || conninfo == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("configuration change at index " UINT64_FORMAT " adds a node without a name or conninfo",
							(uint64) entry->index)));
		if (ch->n_members >= RAFT_MAX_MEMBERS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("channel \"%s\" cannot have more than %d consenters",
							ch->name, RAFT_MAX_MEMBERS)));
		values[2] = CStringGetTextDatum(node);
		values[3] = CStringGetTextDatum(conninfo);
		values[4] = BoolGetDatum(cc.type == RAFT_CONF_ADD_LEARNER);
		storage_query("INSERT INTO ordering.consenters"
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

void
StorageSaveApplied(Channel *ch)
{
	Datum		values[3];

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) ch->applied_index);
	values[2] = Int64GetDatum(ch->log_bytes_since_snapshot);
	storage_exec(PLAN_APPLIED, values, NULL, SPI_OK_UPDATE);
}

/* ----------------------------------------------------------------
 * Snapshots
 * ----------------------------------------------------------------
 */

StringInfo
StorageMaybeSnapshot(Channel *ch)
{
	Oid			types[4] = {TEXTOID, INT8OID, INT8OID, BYTEAOID};
	Datum		values[4];
	bool		isnull;
	Datum		doc;
	char	   *doc_text;
	char	   *json;
	Jsonb	   *jb;
	StringInfo	data;
	MemoryContext old;

	if (ch->log_bytes_since_snapshot < ch->settings.snapshot_interval_bytes ||
		ch->applied_index <= ch->snapshot_index)
		return NULL;

	/* The configuration in effect: the last configuration block's item. */
	values[0] = CStringGetTextDatum(ch->name);
	storage_query("SELECT config FROM ordering.blocks"
				  " WHERE channel = $1 AND is_config"
				  " ORDER BY number DESC LIMIT 1",
				  1, types, values, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\" has no configuration block", ch->name)));
	doc = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						&isnull);
	doc_text = text_to_cstring((text *) DatumGetByteaPP(doc));

	json = psprintf("{\"last_block\": " INT64_FORMAT ", \"last_hash\": \"%s\", \"config\": %s}",
					ch->last_block, hex_string(ch->last_hash, ORDERING_HASH_LEN),
					doc_text);
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	json = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	/* The caller installs it in the memory storage after the commit. */
	old = MemoryContextSwitchTo(storage_caller_cxt);
	data = makeStringInfo();
	appendStringInfoString(data, json);
	MemoryContextSwitchTo(old);

	values[1] = Int64GetDatum((int64) ch->applied_index);
	values[2] = Int64GetDatum((int64) ch->applied_term);
	values[3] = PointerGetDatum(StorageBytea(data->data, data->len));
	storage_query("UPDATE ordering.raft_state SET snapshot_index = $2,"
				  " snapshot_term = $3, snapshot_data = $4,"
				  " log_bytes_since_snapshot = 0 WHERE channel = $1",
				  4, types, values, SPI_OK_UPDATE);
	storage_exec(PLAN_LOG_DELETE_THROUGH, values, NULL, SPI_OK_DELETE);

	ch->snapshot_index = ch->applied_index;
	ch->snapshot_term = ch->applied_term;
	ch->log_bytes_since_snapshot = 0;
	return data;
}
