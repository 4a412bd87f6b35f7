/*-------------------------------------------------------------------------
 *
 * channel_read.c
 *	  A channel's settings and whether it has Raft state here, read by key.
 *
 * src/store/channel_read.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_trigger_d.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/channel_read.h"
#include "store/keyed.h"

#define CHANNELS_CONFIG_COLUMN 2
#define CHANNEL_COLUMN 1 /* of both tables */

#define CHANGE_TRIGGER "channels_changed"
#define CHANGE_EVENTS                                                         \
	(TRIGGER_TYPE_INSERT | TRIGGER_TYPE_DELETE | TRIGGER_TYPE_UPDATE |        \
	 TRIGGER_TYPE_TRUNCATE)

/* Is trigger's function ordering.channels_changed()? */
static bool
is_change_function(Oid function)
{
	char *name = get_func_name(function);
	bool is = name != NULL && strcmp(name, CHANGE_TRIGGER) == 0 &&
		get_func_namespace(function) == get_namespace_oid("ordering", true);

	if (name != NULL)
		pfree(name);
	return is;
}

/*
 * Does rel carry the extension's change trigger as the extension made it:
 * after every statement that inserts, deletes, truncates or updates (any
 * column if every_column, else at least the channel's), whatever
 * session_replication_role says?  Without it a change would not move the
 * generation.
 */
static bool
has_change_trigger(Relation rel, bool every_column)
{
	TriggerDesc *triggers = rel->trigdesc;

	if (triggers == NULL)
		return false;
	for (int i = 0; i < triggers->numtriggers; i++)
	{
		Trigger *t = &triggers->triggers[i];
		bool channel_updates = t->tgnattr == 0;

		for (int a = 0; a < t->tgnattr && !every_column; a++)
			channel_updates |= t->tgattr[a] == CHANNEL_COLUMN;
		if (strcmp(t->tgname, CHANGE_TRIGGER) == 0 &&
			t->tgenabled == TRIGGER_FIRES_ALWAYS &&
			!TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_AFTER(t->tgtype) &&
			(t->tgtype & CHANGE_EVENTS) == CHANGE_EVENTS && channel_updates &&
			t->tgqual == NULL && is_change_function(t->tgfoid))
			return true;
	}
	return false;
}

bool
StoreReadChannel(const char *channel, Jsonb **config, bool *has_raft_state,
				 bool *watched)
{
	Datum key = CStringGetTextDatum(channel);
	/* As the statement's own reads: a new one in READ COMMITTED. */
	Snapshot snapshot = RegisterSnapshot(GetTransactionSnapshot());
	StoreKeyed keyed;
	TupleTableSlot *slot;
	bool found = false;

	StoreKeyedBegin(&keyed, STORE_KEYED_CHANNELS, snapshot);
	slot = StoreKeyedLookup(&keyed, &key);
	if (slot != NULL)
	{
		TupleDesc desc = RelationGetDescr(keyed.rel);
		Form_pg_attribute column =
			TupleDescAttr(desc, CHANNELS_CONFIG_COLUMN - 1);
		bool isnull;
		Datum value;

		if (desc->natts < CHANNELS_CONFIG_COLUMN || column->attisdropped ||
			column->atttypid != JSONBOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("column %d of ordering.channels is not config jsonb",
							CHANNELS_CONFIG_COLUMN)));
		value = slot_getattr(slot, CHANNELS_CONFIG_COLUMN, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("channel \"%s\" has no config", channel)));
		*config = DatumGetJsonbPCopy(value);
		found = true;
	}
	*watched = has_change_trigger(keyed.rel, true);
	StoreKeyedEnd(&keyed);

	if (found)
	{
		StoreKeyedBegin(&keyed, STORE_KEYED_RAFT_STATE, snapshot);
		*has_raft_state = StoreKeyedLookup(&keyed, &key) != NULL;
		/* Only its existence is read: updates of other columns do not count. */
		*watched = *watched && has_change_trigger(keyed.rel, false);
		StoreKeyedEnd(&keyed);
	}
	UnregisterSnapshot(snapshot);
	pfree(DatumGetPointer(key));
	return found;
}
