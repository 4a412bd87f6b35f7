/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  What the SQL functions read from and write to the ordering tables,
 *	  through SPI (a channel's settings excepted: read by key).
 *
 * The statements name every table with its schema, so they do not depend
 * on the caller's search_path.  SPI must be connected by the caller.
 *
 * src/sql/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "sql/catalog.h"
#include "sql/settings_cache.h"
#include "store/channel_read.h"
#include "store/spi.h"

void
OrderingReportUnknownChannel(const char *channel)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("channel \"%s\" does not exist", channel),
			 errhint(
				 "ordering.list_channels() shows the channels of this node.")));
}

/*
 * Read by key (store/channel_read.h), not by a query: every submit reads
 * them, and even a kept plan cost an executor start, run and end per call,
 * more than the rest of the checks.  Then kept while they stay the same
 * (sql/settings_cache.c).
 */
void
OrderingChannelSettings(const char *channel, OrderingSettings *settings)
{
	Jsonb *config;
	bool has_raft_state;
	bool watched;

	if (OrderingSettingsCacheGet(channel, settings))
		return;
	if (!StoreReadChannel(channel, &config, &has_raft_state, &watched))
		OrderingReportUnknownChannel(channel);
	/* Restored from a dump without Raft state: read-only here. */
	if (!has_raft_state)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("channel \"%s\" is an archive on this node", channel),
				 errdetail(
					 "It was restored without Raft state: this node serves its chain read-only and is not a member."),
				 errhint("Submit on a member of the channel.")));
	OrderingSettingsFromJsonb(config, settings);
	pfree(config);
	if (watched)
		OrderingSettingsCachePut(channel, settings);
}

bool
OrderingChannelExists(const char *channel)
{
	StoreQueryChannel("SELECT 1 FROM ordering.channels WHERE channel = $1",
					  channel, SPI_OK_SELECT);
	return SPI_processed > 0;
}

static int64
single_count(const char *sql, int nargs, Oid *types, Datum *values)
{
	bool isnull;
	Datum count;

	StoreQuery(sql, nargs, types, values, SPI_OK_SELECT);
	Assert(SPI_processed == 1);
	count =
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	Assert(!isnull);
	return DatumGetInt64(count);
}

int
OrderingChannelCount(void)
{
	return (int) single_count("SELECT count(*) FROM ordering.channels", 0,
							  NULL, NULL);
}

bool
OrderingFindConsenter(const char *channel, const char *node, bool *is_learner)
{
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2] = { CStringGetTextDatum(channel), CStringGetTextDatum(node) };
	bool isnull;

	StoreQuery("SELECT is_learner FROM ordering.consenters"
			   " WHERE channel = $1 AND node = $2",
			   2, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	*is_learner = DatumGetBool(StoreGetColumn(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1,
											  BOOLOID, &isnull));
	return true;
}

/* A consenter's conninfo (in the caller's context), or NULL. */
char *
OrderingConsenterConninfo(const char *channel, const char *node)
{
	int spi;
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2] = { CStringGetTextDatum(channel), CStringGetTextDatum(node) };
	char *conninfo = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	spi = StoreSpiConnect();
	if (SPI_execute_with_args("SELECT conninfo FROM ordering.consenters"
							  " WHERE channel = $1 AND node = $2",
							  2, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char *value =
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			conninfo = MemoryContextStrdup(cxt, value);
	}
	StoreSpiFinish(spi);
	return conninfo;
}

int
OrderingConsenterCount(const char *channel, bool voters_only)
{
	Oid types[2] = { TEXTOID, BOOLOID };
	Datum values[2] = { CStringGetTextDatum(channel), BoolGetDatum(voters_only) };

	return (int) single_count("SELECT count(*) FROM ordering.consenters"
							  " WHERE channel = $1"
							  " AND (NOT $2 OR NOT is_learner)",
							  2, types, values);
}
