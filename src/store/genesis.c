/*-------------------------------------------------------------------------
 *
 * genesis.c
 *	  Genesis documents: creating a channel from its block 0, and the
 *	  GENESIS records nodes send each other.
 *
 * create_channel builds the genesis document and calls
 * StoreInstallGenesis; a node that joins gets the same document's bytes
 * from a peer (a GENESIS record to the worker, or join_channel's SELECT)
 * and calls the same function.  The document's bytes are stored as they
 * are, so block 0 (and its hash) is identical everywhere.  The joining
 * node starts with the genesis consenters and Raft state zero; the Raft
 * log (or a snapshot) brings it up to date.
 *
 * src/store/genesis.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "common/blocks.h"
#include "common/conninfo.h"
#include "common/gucs.h"
#include "store/chain.h"
#include "store/genesis.h"
#include "store/identity.h"
#include "store/spi.h"

/*
 * Reads the consenters an SPI result holds (node, id, conninfo, learner),
 * at most RAFT_MAX_MEMBERS; ERROR 22023 on a missing id or name.
 */
static int
genesis_read_members(ChannelMember *members, MemoryContext cxt)
{
	int n = 0;

	for (uint64 i = 0; i < SPI_processed && i < RAFT_MAX_MEMBERS; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		ChannelMember *m = &members[n++];
		char *node = SPI_getvalue(tuple, desc, 1);
		char *conninfo = SPI_getvalue(tuple, desc, 3);
		bool isnull;

		if (node == NULL || strlen(node) >= sizeof(m->node))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid node name in a consenters document")));
		SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("consenter \"%s\" has no raft id", node)));
		strlcpy(m->node, node, sizeof(m->node));
		m->id = (raft_id) StoreGetInt64(tuple, desc, 2);
		m->conninfo = MemoryContextStrdup(cxt, conninfo ? conninfo : "");
		m->is_learner = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
	}
	return n;
}

/*
 * One role per node per server: this node's role in a new channel must be
 * the one it has in every other channel here, so that a peer tells the
 * nodes apart by the role they log in as.  ERROR 22023 otherwise.
 */
static void
genesis_check_own_role(const char *channel, const char *role)
{
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2] = { CStringGetTextDatum(ordering_node_name),
						CStringGetTextDatum(channel) };

	StoreQuery("SELECT channel, conninfo FROM ordering.consenters"
			   " WHERE node = $1 AND channel <> $2 ORDER BY channel",
			   2, types, values, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *other_channel =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *other_role = OrderingConninfoUser(
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));

		if (other_role != NULL && strcmp(other_role, role) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("node \"%s\" connects as role \"%s\" in channel \"%s\" but as \"%s\" in channel \"%s\"",
							ordering_node_name, role, channel, other_role,
							other_channel),
					 errdetail(
						 "A node has one role per server: its peers tell the nodes apart by the role they log in as.")));
	}
}

/*
 * Every consenter of a genesis document passes the conninfo policy, and
 * this node has its one role in it.
 */
static void
genesis_check_consenters(const char *channel, const char *document)
{
	ChannelMember *members = palloc0(sizeof(ChannelMember) * RAFT_MAX_MEMBERS);
	int n = StoreDocumentConsenters(document, members, CurrentMemoryContext);

	for (int i = 0; i < n; i++)
	{
		OrderingCheckConninfo(members[i].node, members[i].conninfo);
		if (strcmp(members[i].node, ordering_node_name) == 0)
			genesis_check_own_role(channel,
								   OrderingConninfoUser(members[i].conninfo));
	}
}

/*
 * This node's Raft state for the channel starts here, under a new
 * incarnation: a node that had the channel before and lost it (a wiped
 * disk, drop_channel) is a new incarnation to its peers.
 */
static void
genesis_insert_raft_state(const char *channel, const char *recovering)
{
	Oid types[4] = { TEXTOID, INT8OID, BOOLOID, TEXTOID };
	Datum values[4];
	char nulls[4] = { ' ', ' ', ' ', recovering == NULL ? 'n' : ' ' };

	values[0] = CStringGetTextDatum(channel);
	values[1] = Int64GetDatum((int64) StoreNewIncarnation());
	values[2] = BoolGetDatum(recovering != NULL);
	values[3] = recovering == NULL ? (Datum) 0 : CStringGetTextDatum(recovering);
	if (SPI_execute_with_args("INSERT INTO ordering.raft_state"
							  " (channel, incarnation, recovering, recovery_reason)"
							  " VALUES ($1, $2, $3, $4)",
							  4, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert the raft state of channel \"%s\"",
			 channel);
}

void
StoreInstallGenesis(const char *channel, const char *document,
					const char *recovering)
{
	Size len = strlen(document);
	StoreBlockRow row;
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2];
	bool isnull;
	bool ok;

	/* A document from a peer: it must be what create_channel writes. */
	values[0] = CStringGetTextDatum(channel);
	values[1] = CStringGetTextDatum(document);
	StoreQuery("SELECT $2::jsonb::text = $2"
			   " AND ($2::jsonb->>'channel') IS NOT DISTINCT FROM $1"
			   " AND ($2::jsonb->>'change') IS NOT DISTINCT FROM 'genesis'"
			   " AND jsonb_typeof($2::jsonb->'consenters') = 'object'"
			   " AND jsonb_typeof($2::jsonb->'config') = 'object'",
			   2, types, values, SPI_OK_SELECT);
	ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull || !ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid genesis document for channel \"%s\"", channel)));

	StoreQueryChannel("SELECT 1 FROM ordering.channels WHERE channel = $1",
					  channel, SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("channel \"%s\" already exists", channel)));
	genesis_check_consenters(channel, document);

	/*
	 * Transactions left by a channel of this name dropped in a transaction
	 * whose snapshot missed some of them (repeatable read).
	 */
	StoreQueryChannel("DELETE FROM ordering.transactions WHERE channel = $1",
					  channel, SPI_OK_DELETE);
	StoreQuery("INSERT INTO ordering.channels (channel, config)"
			   " SELECT $1, $2::jsonb->'config'",
			   2, types, values, SPI_OK_INSERT);
	StoreQuery("INSERT INTO ordering.consenters"
			   " (channel, node, raft_id, conninfo, is_learner)"
			   " SELECT $1, key, (value->>'id')::bigint, value->>'conninfo',"
			   " coalesce((value->>'learner')::boolean, false)"
			   " FROM jsonb_each($2::jsonb->'consenters')",
			   2, types, values, SPI_OK_INSERT);
	genesis_insert_raft_state(channel, recovering);

	/* Block 0: the document as its one item, raft index 0. */
	memset(&row, 0, sizeof(row));
	OrderingGenesisHashes(document, len, row.data_hash, row.hash);
	row.config = (const uint8 *) document;
	row.config_len = len;
	StoreInsertBlock(channel, &row, false);
}

/* Block 0's configuration document (in cxt), or NULL. */
char *
StoreGenesisDocument(const char *channel, MemoryContext cxt)
{
	bool isnull;
	Datum d;

	StoreQueryChannel("SELECT convert_from(config, 'UTF8') FROM ordering.blocks"
					  " WHERE channel = $1 AND number = 0 AND is_config",
					  channel, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/*
 * The hash of the channel's block 0 as stored, into hash; false when there
 * is no block 0 or its hash is not 32 bytes.
 */
bool
StoreBlock0Hash(const char *channel, uint8 hash[ORDERING_HASH_LEN])
{
	bool isnull;
	Datum d;
	bytea *stored;

	StoreQueryChannel("SELECT hash FROM ordering.blocks WHERE channel = $1 AND number = 0",
					  channel, SPI_OK_SELECT);
	if (SPI_processed != 1)
		return false;
	d = StoreGetColumn(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
					   BYTEAOID, &isnull);
	if (isnull)
		return false;
	stored = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(stored) != ORDERING_HASH_LEN)
		return false;
	memcpy(hash, VARDATA_ANY(stored), ORDERING_HASH_LEN);
	return true;
}

int
StoreDocumentConsenters(const char *document, ChannelMember *members,
						MemoryContext cxt)
{
	Oid types[1] = { TEXTOID };
	Datum value = CStringGetTextDatum(document);

	StoreQuery("SELECT key, (value->>'id')::bigint, value->>'conninfo',"
			   " coalesce((value->>'learner')::boolean, false)"
			   " FROM jsonb_each($1::jsonb->'consenters') ORDER BY 2",
			   1, types, &value, SPI_OK_SELECT);
	return genesis_read_members(members, cxt);
}

/*
 * GENESIS: {"genesis": "<block 0's document>", "consenters": {current
 * consenters}}, sent by a member to a node that may lack the channel.
 */
char *
StoreParseGenesisRecord(const char *data, Size len, int *n_book,
						ChannelMember *book, bool *before_election,
						MemoryContext cxt)
{
	Oid types[1] = { TEXTOID };
	Datum value = PointerGetDatum(cstring_to_text_with_len(data, len));
	bool isnull;
	Datum d;
	char *genesis;

	StoreQuery("SELECT $1::jsonb->>'genesis',"
			   " coalesce(jsonb_typeof($1::jsonb->'term') = 'number'"
			   " AND ($1::jsonb->'term')::numeric = 0, false)",
			   1, types, &value, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("GENESIS record without a genesis document")));
	genesis = MemoryContextStrdup(cxt, TextDatumGetCString(d));
	*before_election = DatumGetBool(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	StoreQuery("SELECT key, (value->>'id')::bigint, value->>'conninfo',"
			   " coalesce((value->>'learner')::boolean, false)"
			   " FROM jsonb_each($1::jsonb->'consenters') ORDER BY 2",
			   1, types, &value, SPI_OK_SELECT);
	*n_book = genesis_read_members(book, cxt);
	return genesis;
}
