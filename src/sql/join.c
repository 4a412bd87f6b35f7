/*-------------------------------------------------------------------------
 *
 * join.c
 *	  ordering.join_channel(channel, peer_conninfo): creating a channel here
 *	  from block 0 of a peer that has it.
 *
 * The document's bytes go to StoreInstallGenesis (store/genesis.c), the
 * same code create_channel and the worker's joining use, so block 0 is
 * identical everywhere.
 *
 * join_channel runs in a backend and may block on the peer, bounded by
 * ordering.submit_timeout.
 *
 * src/sql/join.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/names.h"
#include "common/remote.h"
#include "store/spi.h"
#include "sql/backend.h"
#include "sql/validate.h"
#include "store/genesis.h"

PG_FUNCTION_INFO_V1(ordering_join_channel);

/*
 * ordering.join_channel(channel text, peer_conninfo text) RETURNS text:
 * fetches block 0 of the channel from a node that has it and creates the
 * channel here.  peer_conninfo reaches the peer as this node's own role
 * (with this node's credentials, ordering.peer_*), which must be the role
 * of a consenter there (add_consenter first): block 0 is read through
 * ordering.peer_blocks().  The worker then catches up through Raft.
 */
Datum
ordering_join_channel(PG_FUNCTION_ARGS)
{
	int spi;
	char *channel = OrderingTextArg(fcinfo, 0, "channel");
	char *peer_conninfo = OrderingTextArg(fcinfo, 1, "peer_conninfo");
	TimestampTz deadline;
	PGconn *volatile conn = NULL;
	char *volatile document = NULL; /* set inside PG_TRY */
	char *local_document;
	MemoryContext caller_cxt = CurrentMemoryContext;

	OrderingCheckChannelName(channel);
	OrderingCheckConninfo("peer", peer_conninfo);
	OrderingRequireSharedMemory();
	OrderingRequireWorkerDatabase();

	/*
	 * The worker may have joined by itself already (a member pushed the
	 * genesis): then joining again is a no-op, as long as it is the same
	 * channel, i.e. the same block 0.
	 */
	spi = StoreSpiConnect();
	local_document = StoreGenesisDocument(channel, caller_cxt);
	StoreSpiFinish(spi);

	deadline = OrderingSubmitDeadline();
	PG_TRY();
	{
		const char *params[1] = { channel };
		PGresult *res;

		conn =
			OrderingRemoteConnect(peer_conninfo, NULL, "ordering join_channel",
								  ordering_submit_timeout_ms, deadline);
		res = OrderingRemoteExec(conn, "peer",
								 "SELECT convert_from(b.config, 'UTF8')"
								 " FROM ordering.peer_blocks($1, 0, 1) b"
								 " WHERE b.number = 0 AND b.is_config",
								 1, params, false, deadline);
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
			document = pstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	PG_FINALLY();
	{
		OrderingRemoteDisconnect(conn);
	}
	PG_END_TRY();

	if (document == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("channel \"%s\" does not exist on the peer", channel)));
	if (local_document != NULL)
	{
		if (strcmp(local_document, document) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("channel \"%s\" already exists with a different genesis block",
							channel)));
		ereport(NOTICE, (errmsg("channel \"%s\" is already joined", channel)));
		PG_RETURN_TEXT_P(cstring_to_text(channel));
	}

	spi = StoreSpiConnect();
	StoreInstallGenesis(channel, document);
	StoreSpiFinish(spi);
	OrderingReloadChannelsAtCommit();
	PG_RETURN_TEXT_P(cstring_to_text(channel));
}
