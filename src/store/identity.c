/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  This node's durable identity in a channel's Raft group, and what it
 *	  knows of the other members' (README.md, "Lost and rolled-back
 *	  state"; src/raft/README.md, section 5).
 *
 * The host's side of storage-fault recovery: an incarnation chosen when the
 * state is created, a boot counter raised and committed before every start,
 * the recovering flag when the host knows the state may have gone back,
 * and the peer records the core hands over in its readies.  Every value is
 * read back from a table, so every one is bounded before the core sees it.
 *
 * src/store/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "store/identity.h"
#include "store/spi.h"

uint64
StoreNewIncarnation(void)
{
	uint64 incarnation = 0;

	/* Positive, so that the bigint column reads as the value. */
	while (incarnation == 0)
	{
		if (!pg_strong_random(&incarnation, sizeof(incarnation)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random incarnation")));
		incarnation &= (uint64) PG_INT64_MAX;
	}
	return incarnation;
}

void
StoreRaftStateCorrupt(const char *channel, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("the raft state of channel \"%s\" is out of range: %s",
					channel, what),
			 errhint(STORE_IDENTITY_REMEDY)));
}

void
StoreLoadPeers(ChannelState *ch, StoreRaftState *state)
{
	Oid types[2] = { TEXTOID, INT4OID };
	Datum values[2] = { CStringGetTextDatum(ch->name),
						Int32GetDatum(RAFT_MAX_MEMBERS + 1) };

	StoreQuery("SELECT raft_id, incarnation, life, term FROM ordering.raft_peers"
			   " WHERE channel = $1 ORDER BY raft_id LIMIT $2",
			   2, types, values, SPI_OK_SELECT);
	if (SPI_processed > RAFT_MAX_MEMBERS)
		StoreRaftStateCorrupt(ch->name, "more peer records than members");
	state->n_peers = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		raft_peer_record *rec = &state->peers[state->n_peers];
		int64 id = StoreGetInt64(tuple, desc, 1);
		int64 term = StoreGetInt64(tuple, desc, 4);

		if (id <= 0 || term < 0 || (uint64) term >= RAFT_NUMBER_LIMIT)
			StoreRaftStateCorrupt(ch->name, "a peer record's raft id or term");
		/* Raw bits: incarnations and lives use all 64. */
		rec->id = (raft_id) id;
		rec->incarnation = (uint64) StoreGetInt64(tuple, desc, 2);
		rec->boot = (uint64) StoreGetInt64(tuple, desc, 3);
		rec->term = (raft_term) term;
		/* Our own id among them would be refused by the core. */
		if (rec->id != ch->self_id)
			state->n_peers++;
	}
}

/* A nullable bigint column as its raw bits; 0 when NULL. */
static uint64
identity_column(HeapTuple tuple, TupleDesc desc, int column)
{
	bool isnull;
	Datum d = StoreGetColumn(tuple, desc, column, INT8OID, &isnull);

	return isnull ? 0 : (uint64) DatumGetInt64(d);
}

void
StoreReadIdentity(ChannelState *ch, StoreRaftState *state, HeapTuple tuple,
				  TupleDesc desc, int first)
{
	bool isnull;
	Datum reason;
	int64 boot = StoreGetInt64(tuple, desc, first + 1);

	if (boot < 0 || (uint64) boot >= STORE_BOOT_LIMIT - 1)
		StoreRaftStateCorrupt(ch->name, "the boot counter");
	state->hard_state.incarnation = (uint64) StoreGetInt64(tuple, desc, first);
	state->hard_state.boot = (uint64) boot;
	state->hard_state.recovering =
		DatumGetBool(StoreGetColumn(tuple, desc, first + 2, BOOLOID, &isnull));
	reason = StoreGetColumn(tuple, desc, first + 3, TEXTOID, &isnull);
	ch->recovery_reason[0] = '\0';
	if (!isnull)
		strlcpy(ch->recovery_reason, TextDatumGetCString(reason),
				sizeof(ch->recovery_reason));
	state->system_identifier = identity_column(tuple, desc, first + 4);
	state->timeline = identity_column(tuple, desc, first + 5);
}

void
StoreSetRecoveryReason(const char *channel, const char *reason)
{
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2] = { CStringGetTextDatum(channel),
						CStringGetTextDatum(reason) };

	StoreQuery("UPDATE ordering.raft_state SET recovery_reason = nullif($2, '')"
			   " WHERE channel = $1",
			   2, types, values, SPI_OK_UPDATE);
}

/*
 * Was the state written under another cluster or timeline than the one
 * running now?  Returns why (palloc'd), or NULL.
 */
static char *
identity_moved(const StoreRaftState *state, uint64 sysid, TimeLineID timeline)
{
	if (state->system_identifier != 0 && state->system_identifier != sysid)
		return psprintf("its state was written by another PostgreSQL cluster (system identifier " UINT64_FORMAT
						", now " UINT64_FORMAT "): a copy of a data directory",
						state->system_identifier, sysid);
	if (state->timeline != 0 && state->timeline != (uint64) timeline)
		return psprintf("PostgreSQL's timeline changed from " UINT64_FORMAT
						" to %u since its state was written: a point-in-time restore or a promoted standby",
						state->timeline, timeline);
	return NULL;
}

void
StoreStartNode(ChannelState *ch, StoreRaftState *state)
{
	raft_hard_state *hs = &state->hard_state;
	uint64 sysid = GetSystemIdentifier();
	TimeLineID timeline;
	char *reason;
	Oid types[6] = { TEXTOID, INT8OID, INT8OID, BOOLOID, INT8OID, INT8OID };
	Datum values[6];

	/* A standby has no timeline of its own to write under, nor may it write. */
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("channel \"%s\" cannot run on a server in recovery",
						ch->name),
				 errhint(
					 "Channels run on a primary; promote this server first.")));
	timeline = GetWALInsertionTimeLine();
	reason = identity_moved(state, sysid, timeline);

	if (hs->incarnation == 0)
	{
		/* State from before incarnations, or the column was cleared. */
		hs->incarnation = StoreNewIncarnation();
		if (reason == NULL && hs->term > 0)
			reason = pstrdup("its state had no incarnation");
	}
	if (hs->boot + 1 >= STORE_BOOT_LIMIT)
		StoreRaftStateCorrupt(ch->name, "the boot counter is exhausted");
	hs->boot++;
	if (reason != NULL)
	{
		hs->recovering = true;
		strlcpy(ch->recovery_reason, reason, sizeof(ch->recovery_reason));
		StoreSetRecoveryReason(ch->name, ch->recovery_reason);
	}

	values[0] = CStringGetTextDatum(ch->name);
	values[1] = Int64GetDatum((int64) hs->incarnation);
	values[2] = Int64GetDatum((int64) hs->boot);
	values[3] = BoolGetDatum(hs->recovering);
	values[4] = Int64GetDatum((int64) sysid);
	values[5] = Int64GetDatum((int64) timeline);
	StoreQuery("UPDATE ordering.raft_state SET incarnation = $2, boot = $3,"
			   " recovering = $4, system_identifier = $5, timeline = $6"
			   " WHERE channel = $1",
			   6, types, values, SPI_OK_UPDATE);
}
