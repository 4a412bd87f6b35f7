/*-------------------------------------------------------------------------
 *
 * keyed.c
 *	  Rows of the extension's tables read by their unique key, straight
 *	  through the index.
 *
 * The relations are found by name in schema ordering once per backend and
 * then by OID: a relcache invalidation of a table or index (DROP, RENAME,
 * DROP EXTENSION) forgets its OIDs, and whatever an OID opens is checked
 * against the name and kind expected, so a backend that drops and creates
 * the extension again finds the new tables.  The index is checked before
 * it is trusted: a unique, valid, non-partial btree index on the key's
 * text columns, in that order; a lookup that went through any other index
 * could miss rows or find several.
 *
 * src/store/keyed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class_d.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "store/keyed.h"

typedef struct KeyedDef
{
	const char *table;
	const char *index;
	const char *key; /* for messages */
	int nkeys;
	AttrNumber columns[STORE_KEYED_MAX_KEYS]; /* the key, in index order */
} KeyedDef;

static const KeyedDef defs[STORE_KEYED_COUNT] = {
	[STORE_KEYED_CHANNELS] = { "channels", "channels_pkey", "(channel)", 1, { 1 } },
	[STORE_KEYED_RAFT_STATE] = { "raft_state",
								 "raft_state_pkey",
								 "(channel)",
								 1,
								 { 1 } },
	[STORE_KEYED_TRANSACTIONS] = { "transactions",
								   "transactions_channel_tx_id_key",
								   "(channel, tx_id)",
								   2,
								   { 1, 4 } },
};

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
			 errmsg("ordering.%s or its unique %s index is missing",
					def->table, def->key)));
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

/* Whether index is the unique btree index on def's key of rel. */
static bool
is_key_index(const KeyedDef *def, Relation rel, Relation index)
{
	Form_pg_index form = index->rd_index;
	TupleDesc desc = RelationGetDescr(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		index->rd_rel->relkind != RELKIND_INDEX ||
		form->indrelid != RelationGetRelid(rel) || !form->indisunique ||
		!form->indisvalid || index->rd_rel->relam != BTREE_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(index) != def->nkeys ||
		!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		return false;
	for (int k = 0; k < def->nkeys; k++)
	{
		AttrNumber column = def->columns[k];

		if (form->indkey.values[k] != column || column > desc->natts ||
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
				 errmsg("ordering.%s is not the unique %s index", def->index,
						def->key)));
	keyed->nkeys = def->nkeys;
	keyed->slot = table_slot_create(keyed->rel, NULL);
	keyed->scan =
		index_beginscan(keyed->rel, keyed->index, snapshot, keyed->nkeys, 0);
}

TupleTableSlot *
StoreKeyedLookup(StoreKeyed *keyed, const Datum *keys)
{
	for (int k = 0; k < keyed->nkeys; k++)
		ScanKeyEntryInitialize(&keyed->keys[k], 0, k + 1, BTEqualStrategyNumber,
							   InvalidOid, keyed->index->rd_indcollation[k],
							   F_TEXTEQ, keys[k]);
	index_rescan(keyed->scan, keyed->keys, keyed->nkeys, NULL, 0);
	if (index_getnext_slot(keyed->scan, ForwardScanDirection, keyed->slot))
		return keyed->slot;
	return NULL;
}

void
StoreKeyedEnd(StoreKeyed *keyed)
{
	index_endscan(keyed->scan);
	ExecDropSingleTupleTableSlot(keyed->slot);
	relation_close(keyed->index, NoLock);
	relation_close(keyed->rel, NoLock);
}
