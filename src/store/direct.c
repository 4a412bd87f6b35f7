/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  Rows of the extension's tables locked, inserted and updated through
 *	  the table AM (see direct.h for why and when).
 *
 * What an INSERT or UPDATE would do and these do too: CHECK and NOT NULL
 * constraints, unique indexes (23505), index entries of a non-HOT update,
 * TOAST, WAL.  What they skip: the planner and executor, and the foreign
 * key's per-row check, whose lock the caller holds already.
 *
 * src/store/direct.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/direct.h"
#include "store/keyed.h"

/* Concurrent updates of one raft_state row retried before giving up. */
#define DIRECT_UPDATE_ATTEMPTS 3

/* The channel whose ordering.channels row this transaction locked. */
static LocalTransactionId locked_lxid = InvalidLocalTransactionId;
static char locked_channel[NAMEDATALEN];

static Oid
ordering_relid(const char *name)
{
	Oid schema = get_namespace_oid("ordering", true);

	return OidIsValid(schema) ? get_relname_relid(name, schema) : InvalidOid;
}

static void
report_channel_dropped(const char *channel)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("channel \"%s\" was dropped", channel)));
}

void
StoreLockChannel(const char *channel)
{
	Datum key = CStringGetTextDatum(channel);
	Snapshot snapshot = RegisterSnapshot(GetLatestSnapshot());
	StoreKeyed keyed;
	TupleTableSlot *slot;
	TM_FailureData tmfd;
	TM_Result result;

	StoreKeyedBegin(&keyed, STORE_KEYED_CHANNELS, snapshot);
	/* The table lock SELECT ... FOR KEY SHARE takes. */
	LockRelationOid(RelationGetRelid(keyed.rel), RowShareLock);
	slot = StoreKeyedLookup(&keyed, &key);
	if (slot == NULL)
		report_channel_dropped(channel);
	/* A newer version of the row is followed and locked, as in FOR KEY SHARE. */
	result = table_tuple_lock(keyed.rel, &slot->tts_tid, snapshot, slot,
							  GetCurrentCommandId(true), LockTupleKeyShare,
							  LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	if (result == TM_Deleted)
		report_channel_dropped(channel);
	if (result != TM_Ok)
		elog(ERROR, "could not lock the row of channel \"%s\" (result %d)",
			 channel, (int) result);
	StoreKeyedEnd(&keyed);
	UnregisterSnapshot(snapshot);

	/* Only a top-level lock lasts to the commit. */
	if (GetCurrentTransactionNestLevel() == 1 &&
		strlen(channel) < sizeof(locked_channel))
	{
		locked_lxid = MyProc->lxid;
		strlcpy(locked_channel, channel, sizeof(locked_channel));
	}
}

/* Is channel's row of ordering.channels locked by this transaction? */
static bool
channel_locked(const char *channel)
{
	return locked_lxid == MyProc->lxid && strcmp(locked_channel, channel) == 0;
}

/*
 * Would trigger t fire for this write?  An insert (replace NULL) fires the
 * INSERT triggers.  An update fires the UPDATE triggers, except those that
 * name columns (UPDATE OF) of which it replaces none: an UPDATE whose SET
 * list leaves them out does not fire them either.  The trigger that keeps
 * backends' settings caches (channels_changed, UPDATE OF channel on
 * ordering.raft_state) is one; counting it made every raft_state update
 * take the SQL statement, some 60 microseconds of executor a ready (perf).
 */
static bool
trigger_fires(const Trigger *t, int natts, const bool *replace)
{
	if (replace == NULL)
		return TRIGGER_FOR_INSERT(t->tgtype);
	if (!TRIGGER_FOR_UPDATE(t->tgtype))
		return false;
	if (t->tgnattr == 0)
		return true;
	for (int i = 0; i < t->tgnattr; i++)
	{
		int attnum = t->tgattr[i];

		if (attnum < 1 || attnum > natts || replace[attnum - 1])
			return true;
	}
	return false;
}

/*
 * May a direct write skip rel's triggers?  Only if each one that would
 * fire is a per-row check of the foreign key to ordering.channels, and
 * channel's row is locked.  replace: the columns an update replaces, NULL
 * for an insert.
 */
static bool
triggers_skippable(Relation rel, const char *channel, const bool *replace)
{
	TriggerDesc *triggers = rel->trigdesc;
	int natts = RelationGetDescr(rel)->natts;
	Oid channels = InvalidOid;

	if (triggers == NULL)
		return true;
	for (int i = 0; i < triggers->numtriggers; i++)
	{
		Trigger *t = &triggers->triggers[i];

		if (!trigger_fires(t, natts, replace))
			continue;
		if (!OidIsValid(channels))
			channels = ordering_relid("channels");
		if ((t->tgfoid != F_RI_FKEY_CHECK_INS &&
			 t->tgfoid != F_RI_FKEY_CHECK_UPD) ||
			t->tgconstrrelid != channels || !channel_locked(channel))
			return false;
	}
	return true;
}

/*
 * Are rel's columns the ones the extension made, in its order and of its
 * types?  A datum written into a column of another type would be read as
 * that type: garbage, or a crash.
 */
static bool
columns_as_made(Relation rel, const StoreDirectTable *table)
{
	TupleDesc desc = RelationGetDescr(rel);

	if (desc->natts != table->natts)
		return false;
	for (int i = 0; i < table->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped ||
			strcmp(NameStr(att->attname), table->columns[i].name) != 0 ||
			att->atttypid != table->columns[i].type)
			return false;
	}
	return table->columns[0].type == TEXTOID;
}

/*
 * table opened for a direct write of channel's rows, or NULL; replace as
 * for triggers_skippable.
 */
static Relation
open_direct(const StoreDirectTable *table, const char *channel,
			const bool *replace)
{
	Oid relid = ordering_relid(table->name);
	Relation rel;

	if (!OidIsValid(relid))
		return NULL;
	rel = table_open(relid, RowExclusiveLock);
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		!columns_as_made(rel, table) ||
		!triggers_skippable(rel, channel, replace))
	{
		/* The SQL statement takes the same lock; keep it. */
		table_close(rel, NoLock);
		return NULL;
	}
	return rel;
}

/*
 * rel's CHECK constraints ready to evaluate, kept across transactions:
 * preparing them (parse, plan, compile) cost more than the insert into
 * ordering.blocks with its six.  A change to the table's definition
 * invalidates them, and the next use prepares them again.
 */
typedef struct CheckCache
{
	Oid relid;
	bool valid;
	int n_checks;
	ExprState **checks;
	MemoryContext context;
} CheckCache;

#define CHECK_CACHE_SIZE 4

static CheckCache check_cache[CHECK_CACHE_SIZE];
static bool check_cache_callback = false;

static void
check_cache_invalidate(Datum arg, Oid relid)
{
	(void) arg;
	/* No freeing here: a check may be running; the next use frees. */
	for (int i = 0; i < CHECK_CACHE_SIZE; i++)
		if (!OidIsValid(relid) || check_cache[i].relid == relid)
			check_cache[i].valid = false;
}

static bool
is_user_function(Oid funcid, void *context)
{
	(void) context;
	return funcid >= FirstNormalObjectId;
}

static ExprState **
cached_checks(Relation rel)
{
	TupleConstr *constr = rel->rd_att->constr;
	int n_checks = constr != NULL ? constr->num_check : 0;
	CheckCache *entry = NULL;
	MemoryContext old;

	if (n_checks == 0)
		return NULL;
	if (!check_cache_callback)
	{
		CacheRegisterRelcacheCallback(check_cache_invalidate, (Datum) 0);
		check_cache_callback = true;
	}
	for (int i = 0; i < CHECK_CACHE_SIZE && entry == NULL; i++)
		if (check_cache[i].relid == RelationGetRelid(rel) ||
			!OidIsValid(check_cache[i].relid))
			entry = &check_cache[i];
	if (entry == NULL)
		return NULL; /* more tables than slots: ExecConstraints prepares */
	if (entry->valid && entry->n_checks == n_checks)
		return entry->checks;

	if (entry->context != NULL)
		MemoryContextDelete(entry->context);
	entry->relid = RelationGetRelid(rel);
	entry->context =
		AllocSetContextCreate(TopMemoryContext, "ordering direct checks",
							  ALLOCSET_SMALL_SIZES);
	entry->valid = false;
	old = MemoryContextSwitchTo(entry->context);
	entry->checks = palloc(sizeof(ExprState *) * n_checks);
	for (int i = 0; i < n_checks; i++)
	{
		Expr *check = expression_planner(stringToNode(constr->check[i].ccbin));

		/* A user's function may keep state per transaction: not kept. */
		if (check_functions_in_node((Node *) check, is_user_function, NULL))
		{
			MemoryContextSwitchTo(old);
			return NULL;
		}
		entry->checks[i] = ExecInitExpr(check, NULL);
	}
	MemoryContextSwitchTo(old);
	entry->n_checks = n_checks;
	entry->valid = true;
	return entry->checks;
}

/* An executor state with rel's indexes open, for constraints and indexes. */
static ResultRelInfo *
result_rel(Relation rel)
{
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	InitResultRelInfo(rri, rel, 0, NULL, 0);
	/* ExecConstraints prepares them itself when this is NULL. */
	rri->ri_ConstraintExprs = cached_checks(rel);
	ExecOpenIndices(rri, false);
	return rri;
}

bool
StoreDirectInsert(const StoreDirectTable *table, const char *channel,
				  int n_rows, const Datum *values, const bool *nulls)
{
	Relation rel = open_direct(table, channel, NULL);
	int per_row = table->natts - 1;
	Datum channel_datum;
	EState *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;

	if (rel == NULL)
		return false;
	if (n_rows == 0)
	{
		table_close(rel, NoLock);
		return true;
	}
	estate = CreateExecutorState();
	rri = result_rel(rel);
	channel_datum = CStringGetTextDatum(channel);
	slots = palloc(sizeof(TupleTableSlot *) * n_rows);
	for (int r = 0; r < n_rows; r++)
	{
		TupleTableSlot *slot = table_slot_create(rel, NULL);

		ExecClearTuple(slot);
		slot->tts_values[0] = channel_datum;
		slot->tts_isnull[0] = false;
		memcpy(&slot->tts_values[1], &values[r * per_row],
			   sizeof(Datum) * per_row);
		memcpy(&slot->tts_isnull[1], &nulls[r * per_row],
			   sizeof(bool) * per_row);
		ExecStoreVirtualTuple(slot);
		if (rel->rd_att->constr != NULL)
			ExecConstraints(rri, slot, estate);
		slots[r] = slot;
	}
	/* One WAL record per page rather than per row, as COPY writes. */
	table_multi_insert(rel, slots, n_rows, GetCurrentCommandId(true), 0, NULL);
	for (int r = 0; r < n_rows; r++)
	{
		list_free(ExecInsertIndexTuples(rri, slots[r], estate, false, false,
										NULL, NIL));
		ExecDropSingleTupleTableSlot(slots[r]);
	}
	pfree(slots);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	/* What follows in this transaction sees the rows. */
	CommandCounterIncrement();
	return true;
}

/* One attempt at the update; false if another transaction updated first. */
static bool
update_once(Relation rel, StoreKeyedTable key_table, const char *channel,
			const Datum *values, const bool *nulls, const bool *replace,
			StoreDirectAdjust adjust, void *arg)
{
	Datum key = CStringGetTextDatum(channel);
	StoreKeyed keyed;
	TupleDesc desc = RelationGetDescr(rel);
	int natts = desc->natts;
	Snapshot snapshot;
	TupleTableSlot *current;
	TupleTableSlot *next;
	Datum *new_values = palloc(sizeof(Datum) * natts);
	bool *new_nulls = palloc(sizeof(bool) * natts);
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool update_indexes;
	TM_Result result;

	/* The rows this transaction wrote count too. */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	StoreKeyedBegin(&keyed, key_table, snapshot);
	current = StoreKeyedLookup(&keyed, &key);
	if (current == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" has no row in ordering.%s", channel,
						RelationGetRelationName(rel))));
	memcpy(new_values, values, sizeof(Datum) * natts);
	memcpy(new_nulls, nulls, sizeof(bool) * natts);
	if (adjust != NULL)
		adjust(current, new_values, new_nulls, replace, arg);

	slot_getallattrs(current);
	next = table_slot_create(rel, NULL);
	ExecClearTuple(next);
	for (int i = 0; i < natts; i++)
	{
		next->tts_values[i] =
			replace[i] ? new_values[i] : current->tts_values[i];
		next->tts_isnull[i] = replace[i] ? new_nulls[i] : current->tts_isnull[i];
	}
	ExecStoreVirtualTuple(next);

	{
		EState *estate = CreateExecutorState();
		ResultRelInfo *rri = result_rel(rel);

		if (rel->rd_att->constr != NULL)
			ExecConstraints(rri, next, estate);
		result = table_tuple_update(rel, &current->tts_tid, next,
									GetCurrentCommandId(true), snapshot,
									InvalidSnapshot, true, &tmfd, &lockmode,
									&update_indexes);
		if (result == TM_Ok && update_indexes)
			list_free(ExecInsertIndexTuples(rri, next, estate, true, false,
											NULL, NIL));
		ExecCloseIndices(rri);
		FreeExecutorState(estate);
	}
	ExecDropSingleTupleTableSlot(next);
	StoreKeyedEnd(&keyed);
	UnregisterSnapshot(snapshot);
	pfree(new_values);
	pfree(new_nulls);

	if (result == TM_Updated)
		return false;
	if (result == TM_Deleted)
		report_channel_dropped(channel);
	if (result != TM_Ok)
		elog(ERROR,
			 "could not update the row of channel \"%s\" in ordering.%s (result %d)",
			 channel, RelationGetRelationName(rel), (int) result);
	CommandCounterIncrement();
	return true;
}

bool
StoreDirectUpdate(const StoreDirectTable *table, const char *channel,
				  const Datum *values, const bool *nulls, const bool *replace,
				  StoreDirectAdjust adjust, void *arg)
{
	Relation rel;

	Assert(table->key == STORE_KEYED_CHANNELS ||
		   table->key == STORE_KEYED_RAFT_STATE);
	rel = open_direct(table, channel, replace);
	if (rel == NULL)
		return false;
	for (int attempt = 1;; attempt++)
	{
		if (update_once(rel, table->key, channel, values, nulls, replace,
						adjust, arg))
			break;
		if (attempt == DIRECT_UPDATE_ATTEMPTS)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("the row of channel \"%s\" in ordering.%s kept changing under its update",
							channel, RelationGetRelationName(rel))));
	}
	table_close(rel, NoLock);
	return true;
}
