/*-------------------------------------------------------------------------
 *
 * log.c
 *	  The Raft log (ordering.log) and hard state (ordering.raft_state).
 *
 * Written inside a worker transaction that commits with synchronous_commit
 * = on before anything depending on it is sent; loaded into the memory
 * storage the core reads when a channel is (re)built.
 *
 * src/store/log.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "store/direct.h"
#include "store/identity.h"
#include "store/log.h"
#include "store/spi.h"

/* Rows fetched at a time while loading a channel's log. */
#define LOG_LOAD_FETCH 1024

/* Prepared statements kept across transactions. */
typedef enum LogPlanId
{
	PLAN_LOG_DELETE_FROM,
	PLAN_LOG_INSERT,
	PLAN_LOG_DELETE_THROUGH,
	PLAN_HARD_STATE,
	PLAN_HARD_STATE_APPLIED,
	PLAN_PEERS_DELETE,
	PLAN_PEERS_INSERT,
	PLAN_APPLIED,
	PLAN_COUNT
} LogPlanId;

static const StoreDirectColumn log_columns[] = { { "channel", TEXTOID },
												 { "index", INT8OID },
												 { "term", INT8OID },
												 { "kind", INT2OID },
												 { "data", BYTEAOID } };
static const StoreDirectTable log_table = { "log", lengthof(log_columns),
											log_columns, STORE_KEYED_COUNT };

/* ordering.raft_state's columns, in order. */
typedef enum RaftStateColumn
{
	RS_CHANNEL,
	RS_TERM,
	RS_VOTE,
	RS_COMMIT_INDEX,
	RS_APPLIED_INDEX,
	RS_SNAPSHOT_INDEX,
	RS_SNAPSHOT_TERM,
	RS_SNAPSHOT_DATA,
	RS_LOG_BYTES_SINCE_SNAPSHOT,
	RS_REMOVED,
	RS_INCARNATION,
	RS_BOOT,
	RS_RECOVERING,
	RS_RECOVERY_REASON,
	RS_SYSTEM_IDENTIFIER,
	RS_TIMELINE,
	RS_LAST_BLOCK,
	RS_LAST_BLOCK_HASH,
	RS_COUNT
} RaftStateColumn;

static const StoreDirectColumn raft_state_columns[RS_COUNT] = {
	{ "channel", TEXTOID },
	{ "term", INT8OID },
	{ "vote", INT8OID },
	{ "commit_index", INT8OID },
	{ "applied_index", INT8OID },
	{ "snapshot_index", INT8OID },
	{ "snapshot_term", INT8OID },
	{ "snapshot_data", BYTEAOID },
	{ "log_bytes_since_snapshot", INT8OID },
	{ "removed", BOOLOID },
	{ "incarnation", INT8OID },
	{ "boot", INT8OID },
	{ "recovering", BOOLOID },
	{ "recovery_reason", TEXTOID },
	{ "system_identifier", INT8OID },
	{ "timeline", INT8OID },
	{ "last_block", INT8OID },
	{ "last_block_hash", BYTEAOID }
};
static const StoreDirectTable raft_state_table = { "raft_state", RS_COUNT,
												   raft_state_columns,
												   STORE_KEYED_RAFT_STATE };

static StorePlan plans[PLAN_COUNT] = {
	[PLAN_LOG_DELETE_FROM] = { "DELETE FROM ordering.log WHERE channel = $1 AND index >= $2",
							   2,
							   { TEXTOID, INT8OID } },
	[PLAN_LOG_INSERT] = { "INSERT INTO ordering.log (channel, index, term, kind, data)"
						  " VALUES ($1, $2, $3, $4, $5)",
						  5,
						  { TEXTOID, INT8OID, INT8OID, INT2OID, BYTEAOID } },
	[PLAN_LOG_DELETE_THROUGH] = { "DELETE FROM ordering.log WHERE channel = $1 AND index <= $2",
								  2,
								  { TEXTOID, INT8OID } },
	[PLAN_HARD_STATE] = { "UPDATE ordering.raft_state SET term = $2, vote = $3,"
						  " commit_index = $4, boot = $5, recovering = $6,"
						  " recovery_reason = CASE WHEN $6 THEN"
						  " coalesce(recovery_reason, $7) END"
						  " WHERE channel = $1",
						  7,
						  { TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID,
							BOOLOID, TEXTOID } },
	/* Both in one: a second update of the row cost more than the first. */
	[PLAN_HARD_STATE_APPLIED] = { "UPDATE ordering.raft_state SET term = $2, vote = $3,"
								  " commit_index = $4, boot = $5, recovering = $6,"
								  " recovery_reason = CASE WHEN $6 THEN"
								  " coalesce(recovery_reason, $7) END,"
								  " applied_index = $8, log_bytes_since_snapshot = $9,"
								  " last_block = $10, last_block_hash = $11"
								  " WHERE channel = $1",
								  11,
								  { TEXTOID, INT8OID, INT8OID, INT8OID,
									INT8OID, BOOLOID, TEXTOID, INT8OID,
									INT8OID, INT8OID, BYTEAOID } },
	[PLAN_PEERS_DELETE] = { "DELETE FROM ordering.raft_peers WHERE channel = $1",
							1,
							{ TEXTOID } },
	[PLAN_PEERS_INSERT] = { "INSERT INTO ordering.raft_peers"
							" (channel, raft_id, incarnation, life, term)"
							" VALUES ($1, $2, $3, $4, $5)",
							5,
							{ TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID } },
	[PLAN_APPLIED] = { "UPDATE ordering.raft_state SET applied_index = $2,"
					   " log_bytes_since_snapshot = $3, last_block = $4,"
					   " last_block_hash = $5 WHERE channel = $1",
					   5,
					   { TEXTOID, INT8OID, INT8OID, INT8OID, BYTEAOID } },
};

StoreAppliedHead
StoreReadAppliedHead(HeapTuple tuple, TupleDesc desc, int first, ChainHead *head)
{
	bool number_null;
	bool hash_null;
	Datum number = StoreGetColumn(tuple, desc, first, INT8OID, &number_null);
	Datum hash = StoreGetColumn(tuple, desc, first + 1, BYTEAOID, &hash_null);
	bytea *bytes;

	if (number_null || hash_null)
		return STORE_HEAD_UNKNOWN;
	bytes = DatumGetByteaPP(hash);
	if (DatumGetInt64(number) < 0 ||
		VARSIZE_ANY_EXHDR(bytes) != ORDERING_HASH_LEN)
		return STORE_HEAD_OUT_OF_RANGE;
	head->last_block = DatumGetInt64(number);
	memcpy(head->last_hash, VARDATA_ANY(bytes), ORDERING_HASH_LEN);
	return STORE_HEAD_KNOWN;
}

void
StoreLoadRaftState(ChannelState *ch, StoreRaftState *state)
{
	HeapTuple tuple;
	TupleDesc desc;
	bool isnull;
	bool snapshot_isnull;
	Datum snapshot_data;

	StoreQueryChannel("SELECT term, vote, commit_index, applied_index,"
					  " snapshot_index, snapshot_term, snapshot_data,"
					  " log_bytes_since_snapshot, removed, incarnation, boot,"
					  " recovering, recovery_reason, system_identifier, timeline,"
					  " last_block, last_block_hash"
					  " FROM ordering.raft_state WHERE channel = $1",
					  ch->name, SPI_OK_SELECT);
	memset(state, 0, sizeof(*state));
	/* Restored from a dump, which holds no Raft state: an archive. */
	ch->archived = SPI_processed == 0;
	if (ch->archived)
		return;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	state->hard_state.term = StoreGetInt64(tuple, desc, 1);
	state->hard_state.vote = StoreGetInt64(tuple, desc, 2);
	state->hard_state.commit = StoreGetInt64(tuple, desc, 3);
	state->applied = StoreGetInt64(tuple, desc, 4);
	ch->log.snapshot_index = StoreGetInt64(tuple, desc, 5);
	ch->log.snapshot_term = StoreGetInt64(tuple, desc, 6);
	snapshot_data = StoreGetColumn(tuple, desc, 7, BYTEAOID, &snapshot_isnull);
	ch->log.bytes_since_snapshot = StoreGetInt64(tuple, desc, 8);
	ch->removed = DatumGetBool(StoreGetColumn(tuple, desc, 9, BOOLOID, &isnull));
	StoreReadIdentity(ch, state, tuple, desc, 10);

	state->snapshot.meta.index = ch->log.snapshot_index;
	state->snapshot.meta.term = ch->log.snapshot_term;
	if (!snapshot_isnull && ch->log.snapshot_index > 0)
	{
		bytea *b = DatumGetByteaPCopy(snapshot_data);

		state->snapshot.data_size = VARSIZE_ANY_EXHDR(b);
		state->snapshot.data = (uint8 *) VARDATA_ANY(b);
	}
	switch (StoreReadAppliedHead(tuple, desc, 16, &state->head))
	{
		case STORE_HEAD_UNKNOWN:
			break;
		case STORE_HEAD_KNOWN:
			state->head_known = true;
			break;
		case STORE_HEAD_OUT_OF_RANGE:
			StoreRaftStateCorrupt(ch->name, "its last block");
	}
	/* The commit index is persisted with every apply; never behind it. */
	if (state->hard_state.commit < state->applied)
		state->hard_state.commit = state->applied;
	ch->log.applied_index = state->applied;
}

/*
 * Records whether this node was removed from the channel (see
 * ordering.raft_state.removed), so that a restart does not run Raft for a
 * channel the node is no longer in.  Needs a transaction (StoreBegin).
 */
void
StoreSetRemoved(ChannelState *ch, bool removed)
{
	Oid types[2] = { TEXTOID, BOOLOID };
	Datum values[2] = { CStringGetTextDatum(ch->name), BoolGetDatum(removed) };

	StoreQuery("UPDATE ordering.raft_state SET removed = $2 WHERE channel = $1",
			   2, types, values, SPI_OK_UPDATE);
	ch->removed = removed;
}

/* Mirrors ordering.log (after the snapshot) into the memory storage. */
void
StoreLoadLog(ChannelState *ch, raft_memory_storage *storage)
{
	Oid types[2] = { TEXTOID, INT8OID };
	Datum name = CStringGetTextDatum(ch->name);
	Datum values[2] = { name, Int64GetDatum((int64) ch->log.snapshot_index) };
	SPIPlanPtr plan;
	Portal portal;
	raft_index expected = ch->log.snapshot_index + 1;

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
		int rc;

		SPI_cursor_fetch(portal, true, LOG_LOAD_FETCH);
		if (SPI_processed == 0)
			break;
		entries = palloc(sizeof(raft_entry) * SPI_processed);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple tuple = SPI_tuptable->vals[i];
			TupleDesc desc = SPI_tuptable->tupdesc;
			bool isnull;
			bytea *data;

			entries[i].index = StoreGetInt64(tuple, desc, 1);
			entries[i].term = StoreGetInt64(tuple, desc, 2);
			entries[i].type =
				DatumGetInt16(StoreGetColumn(tuple, desc, 3, INT2OID, &isnull));
			data = DatumGetByteaPP(
				StoreGetColumn(tuple, desc, 4, BYTEAOID, &isnull));
			entries[i].size = VARSIZE_ANY_EXHDR(data);
			entries[i].data =
				entries[i].size > 0 ? (uint8 *) VARDATA_ANY(data) : NULL;
			if (entries[i].index != expected)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("log of channel \"%s\" has a gap at index " UINT64_FORMAT,
								ch->name, (uint64) expected),
						 errhint(STORE_IDENTITY_REMEDY)));
			expected++;
		}
		rc = raft_memory_storage_append(storage, entries,
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

/* ----------------------------------------------------------------
 * Persisting a ready
 * ----------------------------------------------------------------
 */

void
StorePersistEntries(const char *channel, LogPosition *log,
					const raft_entry *entries, uint32 n_entries,
					raft_index last_index)
{
	int per_row = log_table.natts - 1;
	Datum name = CStringGetTextDatum(channel);
	Datum *values;
	bool *nulls;

	if (n_entries == 0)
		return;

	/* Replace any conflicting suffix (Raft's log matching rule). */
	if (entries[0].index <= last_index)
	{
		Datum del[2] = { name, Int64GetDatum((int64) entries[0].index) };

		StoreExecPlan(&plans[PLAN_LOG_DELETE_FROM], del, NULL, SPI_OK_DELETE);
	}

	/* Row after row: index, term, kind, data. */
	values = palloc(sizeof(Datum) * per_row * n_entries);
	nulls = palloc0(sizeof(bool) * per_row * n_entries);
	for (uint32 i = 0; i < n_entries; i++)
	{
		Datum *row = &values[i * per_row];

		Assert(i == 0 || entries[i].index == entries[i - 1].index + 1);
		row[0] = Int64GetDatum((int64) entries[i].index);
		row[1] = Int64GetDatum((int64) entries[i].term);
		row[2] = Int16GetDatum((int16) entries[i].type);
		row[3] = PointerGetDatum(StoreBytea(entries[i].data, entries[i].size));
		log->bytes_since_snapshot += entries[i].size;
	}
	if (!StoreDirectInsert(&log_table, channel, n_entries, values, nulls))
	{
		for (uint32 i = 0; i < n_entries; i++)
		{
			Datum args[5] = { name };

			memcpy(&args[1], &values[i * per_row], sizeof(Datum) * per_row);
			StoreExecPlan(&plans[PLAN_LOG_INSERT], args, NULL, SPI_OK_INSERT);
		}
	}
	for (uint32 i = 0; i < n_entries; i++)
		pfree(DatumGetPointer(values[i * per_row + 3]));
	pfree(values);
	pfree(nulls);
}

/* The hard state's parameters of PLAN_HARD_STATE(_APPLIED), $1 to $7. */
static void
hard_state_values(const char *channel, const raft_hard_state *hs, Datum *values)
{
	values[0] = CStringGetTextDatum(channel);
	values[1] = Int64GetDatum((int64) hs->term);
	values[2] = Int64GetDatum((int64) hs->vote);
	values[3] = Int64GetDatum((int64) hs->commit);
	values[4] = Int64GetDatum((int64) hs->boot);
	values[5] = BoolGetDatum(hs->recovering);
	/* Set by the core: a peer found this node behind what it showed. */
	values[6] = CStringGetTextDatum(STORE_PEER_FOUND_BEHIND);
}

/*
 * recovery_reason as the SQL's CASE sets it: kept (or the core's reason if
 * there is none) while recovering, cleared otherwise.  save_raft_state
 * replaces it whenever it replaces recovering.
 */
static void
adjust_recovery_reason(TupleTableSlot *current, Datum *values, bool *nulls,
					   const bool *replace, void *arg)
{
	bool isnull;

	(void) arg;
	if (!replace[RS_RECOVERING])
		return;
	if (!DatumGetBool(values[RS_RECOVERING]))
	{
		nulls[RS_RECOVERY_REASON] = true;
		return;
	}
	values[RS_RECOVERY_REASON] =
		slot_getattr(current, RS_RECOVERY_REASON + 1, &isnull);
	if (isnull)
		values[RS_RECOVERY_REASON] =
			CStringGetTextDatum(STORE_PEER_FOUND_BEHIND);
	nulls[RS_RECOVERY_REASON] = false;
}

/*
 * Writes the hard state (if hs) and the applied position with the chain's
 * head (if applied) into the channel's raft_state row, directly or else by
 * plan.
 */
static void
save_raft_state(const char *channel, const raft_hard_state *hs,
				const ChannelState *applied)
{
	Datum values[RS_COUNT];
	bool nulls[RS_COUNT] = { 0 };
	bool replace[RS_COUNT] = { 0 };
	Datum args[11];

	Assert(hs != NULL || applied != NULL);
	if (hs != NULL)
	{
		values[RS_TERM] = Int64GetDatum((int64) hs->term);
		values[RS_VOTE] = Int64GetDatum((int64) hs->vote);
		values[RS_COMMIT_INDEX] = Int64GetDatum((int64) hs->commit);
		values[RS_BOOT] = Int64GetDatum((int64) hs->boot);
		values[RS_RECOVERING] = BoolGetDatum(hs->recovering);
		replace[RS_TERM] = replace[RS_VOTE] = replace[RS_COMMIT_INDEX] = true;
		replace[RS_BOOT] = replace[RS_RECOVERING] = true;
		replace[RS_RECOVERY_REASON] = true; /* adjust_recovery_reason */
	}
	if (applied != NULL)
	{
		values[RS_APPLIED_INDEX] =
			Int64GetDatum((int64) applied->log.applied_index);
		values[RS_LOG_BYTES_SINCE_SNAPSHOT] =
			Int64GetDatum(applied->log.bytes_since_snapshot);
		values[RS_LAST_BLOCK] = Int64GetDatum(applied->chain.last_block);
		values[RS_LAST_BLOCK_HASH] = PointerGetDatum(
			StoreBytea(applied->chain.last_hash, ORDERING_HASH_LEN));
		replace[RS_APPLIED_INDEX] = replace[RS_LOG_BYTES_SINCE_SNAPSHOT] = true;
		replace[RS_LAST_BLOCK] = replace[RS_LAST_BLOCK_HASH] = true;
	}
	if (StoreDirectUpdate(&raft_state_table, channel, values, nulls, replace,
						  adjust_recovery_reason, NULL))
		return;

	if (hs == NULL)
	{
		args[0] = CStringGetTextDatum(channel);
		args[1] = values[RS_APPLIED_INDEX];
		args[2] = values[RS_LOG_BYTES_SINCE_SNAPSHOT];
		args[3] = values[RS_LAST_BLOCK];
		args[4] = values[RS_LAST_BLOCK_HASH];
		StoreExecPlan(&plans[PLAN_APPLIED], args, NULL, SPI_OK_UPDATE);
		return;
	}
	hard_state_values(channel, hs, args);
	if (applied == NULL)
	{
		StoreExecPlan(&plans[PLAN_HARD_STATE], args, NULL, SPI_OK_UPDATE);
		return;
	}
	args[7] = values[RS_APPLIED_INDEX];
	args[8] = values[RS_LOG_BYTES_SINCE_SNAPSHOT];
	args[9] = values[RS_LAST_BLOCK];
	args[10] = values[RS_LAST_BLOCK_HASH];
	StoreExecPlan(&plans[PLAN_HARD_STATE_APPLIED], args, NULL, SPI_OK_UPDATE);
}

void
StorePersistHardState(const char *channel, const raft_hard_state *hs)
{
	save_raft_state(channel, hs, NULL);
}

/* Replaces the channel's peer records (with the hard state). */
void
StorePersistPeers(const char *channel, uint32 n_peers,
				  const raft_peer_record *peers)
{
	Datum values[5];

	values[0] = CStringGetTextDatum(channel);
	StoreExecPlan(&plans[PLAN_PEERS_DELETE], values, NULL, SPI_OK_DELETE);
	for (uint32 i = 0; i < n_peers; i++)
	{
		/* Raw bits: incarnations and lives use all 64. */
		values[1] = Int64GetDatum((int64) peers[i].id);
		values[2] = Int64GetDatum((int64) peers[i].incarnation);
		values[3] = Int64GetDatum((int64) peers[i].boot);
		values[4] = Int64GetDatum((int64) peers[i].term);
		StoreExecPlan(&plans[PLAN_PEERS_INSERT], values, NULL, SPI_OK_INSERT);
	}
}

/*
 * Saves the applied index and the chain's head, with the hard state if hs
 * is not NULL (one update of the row instead of StorePersistHardState's and
 * this one).
 */
void
StoreSaveApplied(const ChannelState *ch, const raft_hard_state *hs)
{
	save_raft_state(ch->name, hs, ch);
}

/* Deletes the log rows a snapshot at index covers. */
void
StoreDeleteLogThrough(const char *channel, raft_index index)
{
	Datum values[2];

	values[0] = CStringGetTextDatum(channel);
	values[1] = Int64GetDatum((int64) index);
	StoreExecPlan(&plans[PLAN_LOG_DELETE_THROUGH], values, NULL, SPI_OK_DELETE);
}

int64
StoreLogBytes(const char *channel)
{
	/* octet_length reads an out-of-line value's size from its pointer. */
	StoreQueryChannel("SELECT coalesce(sum(octet_length(data)), 0)::bigint"
					  " FROM ordering.log WHERE channel = $1",
					  channel, SPI_OK_SELECT);
	return StoreGetInt64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}
