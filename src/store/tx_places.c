/*-------------------------------------------------------------------------
 *
 * tx_places.c
 *	  Where transaction ids are ordered on a channel, by probes of the
 *	  hash index on tx_id.
 *
 * A probe per id, made directly rather than through a planned query: with
 * statistics from when the channel was small, a plan walked the primary
 * key and filtered every row of the channel, per id (O(chain)); and even
 * a kept plan cost an executor start, run and end per id.
 *
 * src/store/tx_places.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/tx_places.h"

/* Columns of ordering.transactions (channel 1 and tx_id 4 are the key). */
#define TX_BLOCK_NUMBER_COLUMN 2
#define TX_POSITION_COLUMN 3
#define TX_PAYLOAD_COLUMN 5

static void
check_column(TupleDesc desc, AttrNumber column, Oid type)
{
	if (desc->natts < column || TupleDescAttr(desc, column - 1)->attisdropped ||
		TupleDescAttr(desc, column - 1)->atttypid != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("column %d of ordering.transactions is not of type %s",
						column, format_type_be(type))));
}

void
StoreTxProbeBegin(StoreTxProbe *probe, const char *channel)
{
	TupleDesc desc;

	/* The rows written earlier in this transaction count too. */
	CommandCounterIncrement();
	probe->snapshot = RegisterSnapshot(GetLatestSnapshot());
	StoreKeyedBegin(&probe->keyed, STORE_KEYED_TRANSACTIONS, probe->snapshot);
	desc = RelationGetDescr(probe->keyed.rel);
	check_column(desc, TX_BLOCK_NUMBER_COLUMN, INT8OID);
	check_column(desc, TX_POSITION_COLUMN, INT4OID);
	check_column(desc, TX_PAYLOAD_COLUMN, BYTEAOID);
	probe->channel = CStringGetTextDatum(channel);
}

static Datum
column_value(TupleTableSlot *slot, AttrNumber column)
{
	bool isnull;
	Datum value = slot_getattr(slot, column, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a row of ordering.transactions has a NULL in column %d",
						column)));
	return value;
}

bool
StoreTxProbeLookup(StoreTxProbe *probe, Datum tx_id, const bytea *payload,
				   StoreTxPlace *place)
{
	Datum keys[2] = { probe->channel, tx_id };
	TupleTableSlot *slot = StoreKeyedLookup(&probe->keyed, keys);

	if (slot == NULL)
		return false;
	if (place == NULL)
		return true;
	place->block_number =
		DatumGetInt64(column_value(slot, TX_BLOCK_NUMBER_COLUMN));
	place->position = DatumGetInt32(column_value(slot, TX_POSITION_COLUMN));
	/* byteaeq compares the lengths before it reads (detoasts) a byte. */
	place->same_payload = payload == NULL ||
		DatumGetBool(DirectFunctionCall2(byteaeq,
										 column_value(slot, TX_PAYLOAD_COLUMN),
										 PointerGetDatum(payload)));
	return true;
}

void
StoreTxProbeEnd(StoreTxProbe *probe)
{
	StoreKeyedEnd(&probe->keyed);
	UnregisterSnapshot(probe->snapshot);
	pfree(DatumGetPointer(probe->channel));
}

List *
StoreTxOrderedAmong(const char *channel, List *tx_ids)
{
	StoreTxProbe probe;
	List *ordered = NIL;
	ListCell *lc;

	if (tx_ids == NIL)
		return NIL;
	StoreTxProbeBegin(&probe, channel);
	foreach(lc, tx_ids)
	{
		Datum id = CStringGetTextDatum((const char *) lfirst(lc));

		if (StoreTxProbeLookup(&probe, id, NULL, NULL))
			ordered = lappend(ordered, lfirst(lc));
		pfree(DatumGetPointer(id));
	}
	StoreTxProbeEnd(&probe);
	return ordered;
}
