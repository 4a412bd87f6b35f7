/*-------------------------------------------------------------------------
 *
 * keyed.c
 *	  Rows of the extension's tables read by their key, straight through
 *	  an index.
 *
 * The relations are found by name in schema ordering once per backend and
 * then by OID: a relcache invalidation of a table or index (DROP, RENAME,
 * DROP EXTENSION) forgets its OIDs, and whatever an OID opens is checked
 * against the name and kind expected, so a backend that drops and creates
 * the extension again finds the new tables.  The index is checked before
 * it is trusted: a valid, non-partial index of the expected kind on the
 * expected text columns, in that order (a unique btree on the whole key,
 * or a hash index on the key's last column); a lookup that went through
 * any other index could miss rows or find several.  What a hash index
 * finds is checked against the whole key, and a second row of one key is
 * an error (XX001), not a choice.
 *
 * src/store/keyed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "store/keyed.h"

/*
 * A table's key and the index that finds it.  A unique btree index holds
 * the whole key; a hash index holds one column of it (the last), and the
 * rows it finds are checked against the whole key here.
 */
typedef struct KeyedDef
{
	const char *table;
	const char *index;
	const char *key;		/* for messages */
	const char *index_kind; /* for messages */
	Oid am;
	int nkeys;
	AttrNumber columns[STORE_KEYED_MAX_KEYS]; /* the key, in index order */
} KeyedDef;

static const KeyedDef defs[STORE_KEYED_COUNT] = {
	[STORE_KEYED_CHANNELS] = { "channels",
							   "channels_pkey",
							   "(channel)",
							   "unique btree index on (channel)",
							   BTREE_AM_OID,
							   1,
							   { 1 } },
	[STORE_KEYED_RAFT_STATE] = { "raft_state",
								 "raft_state_pkey",
								 "(channel)",
								 "unique btree index on (channel)",
								 BTREE_AM_OID,
								 1,
								 { 1 } },
	[STORE_KEYED_TRANSACTIONS] = { "transactions",
								   "transactions_tx_id",
								   "(channel, tx_id)",
								   "hash index on (tx_id)",
								   HASH_AM_OID,
								   2,
								   { 1, 4 } },
};

/* The key columns the index holds: all of a btree's, the last of a hash's. */
static int
index_first_key(const KeyedDef *def)
{
	return def->am == HASH_AM_OID ? def->nkeys - 1 : 0;
}

/* Table and index OIDs found by name, or InvalidOid: to look up again. */
static Oid table_oids[STORE_KEYED_COUNT];
static Oid index_oids[STORE_KEYED_COUNT];
static bool callback_registered = false;
/* Invalidations that touched one of the tables, for StoreKeyedChanges. */
static uint64 changes = 0;

static void
forget_oids(Datum arg, Oid relid)
{
	for (int t = 0; t < STORE_KEYED_COUNT; t++)
		if (!OidIsValid(relid) || table_oids[t] == relid ||
			index_oids[t] == relid)
		{
			table_oids[t] = index_oids[t] = InvalidOid;
			changes++;
		}
}

uint64
StoreKeyedChanges(void)
{
	return changes;
}

static void
report_missing(const KeyedDef *def)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("ordering.%s or its %s is missing", def->table,
					def->index_kind)));
}

/*
 * Opens ordering.name under AccessShareLock, by the cached OID if it still
 * names that relation, else by name; NULL when there is none.
 */
static Relation
open_named(Oid *cached, const char *name, Oid namespace)
{
	Relation rel = NULL;

	if (OidIsValid(*cached))
	{
		rel = try_relation_open(*cached, AccessShareLock);
		if (rel != NULL && RelationGetNamespace(rel) == namespace &&
			strcmp(RelationGetRelationName(rel), name) == 0)
			return rel;
		if (rel != NULL)
			relation_close(rel, AccessShareLock);
	}
	*cached = get_relname_relid(name, namespace);
	if (!OidIsValid(*cached))
		return NULL;
	rel = try_relation_open(*cached, AccessShareLock);
	if (rel == NULL)
		*cached = InvalidOid; /* dropped meanwhile */
	return rel;
}

/*
 * Whether index is def's index of rel: of def's access method, on the key
 * columns it holds, valid, not partial, and unique if a btree.
 */
static bool
is_key_index(const KeyedDef *def, Relation rel, Relation index)
{
	Form_pg_index form = index->rd_index;
	TupleDesc desc = RelationGetDescr(rel);
	int first = index_first_key(def);

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		index->rd_rel->relkind != RELKIND_INDEX ||
		form->indrelid != RelationGetRelid(rel) ||
		form->indisunique != (def->am == BTREE_AM_OID) || !form->indisvalid ||
		index->rd_rel->relam != def->am ||
		IndexRelationGetNumberOfKeyAttributes(index) != def->nkeys - first ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	for (int k = 0; k < def->nkeys; k++)
	{
		AttrNumber column = def->columns[k];

		if (k >= first && form->indkey.values[k - first] != column)
			return false;
		if (column > desc->natts ||
			TupleDescAttr(desc, column - 1)->attisdropped ||
			TupleDescAttr(desc, column - 1)->atttypid != TEXTOID)
			return false;
	}
	return true;
}

void
StoreKeyedBegin(StoreKeyed *keyed, StoreKeyedTable table, Snapshot snapshot)
{
	const KeyedDef *def = &defs[table];
	Oid namespace = get_namespace_oid("ordering", true);

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_oids, (Datum) 0);
		callback_registered = true;
	}
	if (!OidIsValid(namespace))
		report_missing(def);
	keyed->rel = open_named(&table_oids[table], def->table, namespace);
	if (keyed->rel == NULL)
		report_missing(def);
	keyed->index = open_named(&index_oids[table], def->index, namespace);
	if (keyed->index == NULL)
		report_missing(def);
	if (!is_key_index(def, keyed->rel, keyed->index))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ordering.%s is not the %s of ordering.%s", def->index,
						def->index_kind, def->table)));
	keyed->table = table;
	keyed->slot = table_slot_create(keyed->rel, NULL);
	/* Only a hash index's lookups go on after a row: see StoreKeyedLookup. */
	keyed->next_slot =
		def->am == HASH_AM_OID ? table_slot_create(keyed->rel, NULL) : NULL;
	keyed->scan = index_beginscan(keyed->rel, keyed->index, snapshot,
								  def->nkeys - index_first_key(def), 0);
}

/* keys as text for a message: "a, b". */
static char *
key_text(const KeyedDef *def, const Datum *keys)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < def->nkeys; k++)
		appendStringInfo(&buf, "%s%s", k > 0 ? ", " : "",
						 TextDatumGetCString(keys[k]));
	return buf.data;
}

/* Whether slot's row has keys in def's key columns (a hash index's rows). */
static bool
row_has_key(const KeyedDef *def, TupleTableSlot *slot, const Datum *keys)
{
	for (int k = 0; k < def->nkeys; k++)
	{
		bool isnull;
		Datum value = slot_getattr(slot, def->columns[k], &isnull);

		if (isnull ||
			!DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
												  value, keys[k])))
			return false;
	}
	return true;
}

TupleTableSlot *
StoreKeyedLookup(StoreKeyed *keyed, const Datum *keys)
{
	const KeyedDef *def = &defs[keyed->table];
	int first = index_first_key(def);
	StrategyNumber equal =
		def->am == HASH_AM_OID ? HTEqualStrategyNumber : BTEqualStrategyNumber;
	TupleTableSlot *found = NULL;

	for (int k = first; k < def->nkeys; k++)
		ScanKeyEntryInitialize(&keyed->keys[k - first], 0, k - first + 1,
							   equal, InvalidOid,
							   keyed->index->rd_indcollation[k - first],
							   F_TEXTEQ, keys[k]);
	index_rescan(keyed->scan, keyed->keys, def->nkeys - first, NULL, 0);
	if (first == 0)
		return index_getnext_slot(keyed->scan, ForwardScanDirection, keyed->slot)
			? keyed->slot
			: NULL;

	/*
	 * A hash index finds the rows whose column hashes alike: each is checked
	 * against the whole key, and the scan goes on to the end, as nothing but
	 * the writer's own checks keeps a key from a second row.
	 */
	while (index_getnext_slot(keyed->scan, ForwardScanDirection,
							  keyed->next_slot))
	{
		TupleTableSlot *swap;

		if (!row_has_key(def, keyed->next_slot, keys))
			continue;
		if (found != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("ordering.%s holds two rows of key %s = (%s)",
							def->table, def->key, key_text(def, keys)),
					 errhint("Run ordering.verify_chain on the channel.")));
		swap = keyed->slot;
		keyed->slot = keyed->next_slot;
		keyed->next_slot = swap;
		found = keyed->slot;
	}
	return found;
}

void
StoreKeyedEnd(StoreKeyed *keyed)
{
	index_endscan(keyed->scan);
	ExecDropSingleTupleTableSlot(keyed->slot);
	if (keyed->next_slot != NULL)
		ExecDropSingleTupleTableSlot(keyed->next_slot);
	/*
	 * The locks this read took go now, not at the transaction's end: a
	 * submitter keeps its transaction while it waits for the worker, and a
	 * lock it held then deadlocked the node against an ACCESS EXCLUSIVE
	 * request queued behind it (VACUUM FULL, CLUSTER): the worker queued
	 * behind that.  A lock the transaction held before stays.
	 */
	relation_close(keyed->index, AccessShareLock);
	relation_close(keyed->rel, AccessShareLock);
}
