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

#include "catalog/pg_type_d.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/channel_read.h"
#include "store/keyed.h"

#define CHANNELS_CONFIG_COLUMN 2

bool
StoreReadChannel(const char *channel, Jsonb **config, bool *has_raft_state)
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
	StoreKeyedEnd(&keyed);

	if (found)
	{
		StoreKeyedBegin(&keyed, STORE_KEYED_RAFT_STATE, snapshot);
		*has_raft_state = StoreKeyedLookup(&keyed, &key) != NULL;
		StoreKeyedEnd(&keyed);
	}
	UnregisterSnapshot(snapshot);
	pfree(DatumGetPointer(key));
	return found;
}
