/*-------------------------------------------------------------------------
 *
 * eviction_check.c
 *	  Looking in the members' chains for the block that removed this node
 *	  from a channel, and recording the removal once a majority confirms.
 *
 * Why and when a node looks is channel_eviction.c's.  The look waits on
 * peers (connections, pages of their chains, their answers), for up to
 * EVICTION_CHECK_MS: a member that is down or partitioned away hangs a
 * connection until then.  So it runs in a background worker of its own
 * (OrderingEvictionMain), which reads the channel from the tables.
 *
 * What the look trusts: a peer's chain is verified link by link from this
 * node's own last block (peer_chain.c), and a configuration block that no
 * longer names this node counts only once a majority of the voters of its
 * last known configuration report that block's hash
 * (ordering.peer_block_hash).  The pulled blocks are not installed.
 *
 * src/worker/eviction_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "common/clock.h"
#include "common/gucs.h"
#include "common/remote.h"
#include "store/chain.h"
#include "store/log.h"
#include "store/spi.h"
#include "worker/channel.h"
#include "worker/channel_bgworker.h"
#include "worker/eviction_check.h"
#include "worker/peer_chain.h"

/* Blocks of a peer's chain asked for at a time. */
#define EVICTION_PAGE_BLOCKS 64
/* How long one look may take (a background worker's). */
#define EVICTION_CHECK_MS 60000

/* A configuration block that removed this node, found in a peer's chain. */
typedef struct EvictionFound
{
	bool found;
	int64 number;
	uint8 hash[ORDERING_HASH_LEN];
} EvictionFound;

/*
 * One look: the channel as stored, with the raft id the channel runs as;
 * the peers' chain verified so far, and whether the configuration there
 * names this node with that id.  A node added again after a removal runs
 * under a new id, which its chain may not name yet: the old removal is
 * behind its head, and only a configuration that names it with its id
 * and a later one that does not are its removal.
 */
typedef struct EvictionJob
{
	const ChannelState *st;
	const char *own_user; /* this node's role in its own conninfo */
	ChainHead cursor;
	bool named;
} EvictionJob;

static const ChannelMember *
eviction_member(const ChannelState *st, raft_id id)
{
	for (int i = 0; i < st->n_members; i++)
		if (st->members[i].id == id)
			return &st->members[i];
	return NULL;
}

static const ChannelMember *
eviction_member_by_node(const ChannelState *st, const char *node)
{
	for (int i = 0; i < st->n_members; i++)
		if (strcmp(st->members[i].node, node) == 0)
			return &st->members[i];
	return NULL;
}

/*
 * In PG_CATCH of a step with one peer: the error's message, in cxt, with
 * the error, the connection (if any) and the transaction dropped.  A peer
 * that fails is one peer less, never the look's end.
 */
static const char *
eviction_caught(MemoryContext cxt, PGconn *conn)
{
	ErrorData *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	OrderingRemoteDisconnect(conn);
	AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
	return edata->message;
}

/*
 * Whether a configuration block names this node with raft id self_id (1)
 * or not (0); -1 for a document this node cannot read (no change).
 */
static int
eviction_config_names_self(const PulledBlock *block, raft_id self_id)
{
	Jsonb *doc;
	JsonbValue *consenters;
	JsonbValue *me;
	JsonbValue *id;

	doc = DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in,
							CStringGetDatum(
								pnstrdup((const char *) block->row.config,
										 block->row.config_len))));
	consenters = getKeyJsonValueFromContainer(&doc->root, "consenters",
											  strlen("consenters"), NULL);
	if (consenters == NULL || consenters->type != jbvBinary)
		return -1;
	me = getKeyJsonValueFromContainer(consenters->val.binary.data,
									  ordering_node_name,
									  strlen(ordering_node_name), NULL);
	if (me == NULL)
		return 0;
	if (me->type != jbvBinary)
		return -1;
	id = getKeyJsonValueFromContainer(me->val.binary.data, "id", strlen("id"),
									  NULL);
	if (id == NULL || id->type != jbvNumeric)
		return -1;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(id->val.numeric))) ==
		(int64) self_id;
}

/*
 * Reads peer's chain after head (verified from head on, head advanced,
 * named kept up to date) until a configuration block that removes this
 * node, the peer's end, or the deadline.  ERROR on any failure.
 */
static pg_noinline void
eviction_search_peer(const EvictionJob *job, const ChannelMember *peer,
					 ChainHead *head, bool *named, TimestampTz deadline,
					 EvictionFound *found)
{
	PGconn *volatile conn = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext page_cxt =
		AllocSetContextCreate(caller_cxt, "ordering eviction page",
							  ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		bool more = true;

		conn = PeerChainConnect(peer->conninfo, job->own_user, deadline);
		while (more && !found->found && OrderingClockNow() < deadline)
		{
			PulledPage page;

			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(page_cxt);
			PeerChainFetch(conn, peer->node, job->st->name, head->last_block + 1,
						   EVICTION_PAGE_BLOCKS, deadline, &page);
			more = page.n_blocks == EVICTION_PAGE_BLOCKS;
			for (int i = 0; i < page.n_blocks && !found->found; i++)
			{
				const PulledBlock *block = &page.blocks[i];
				int names;

				PeerChainVerifyNext(head, block, peer->node);
				if (block->row.config == NULL)
					continue;
				names = eviction_config_names_self(block, job->st->self_id);
				if (names == 0 && *named)
				{
					found->found = true;
					found->number = block->row.number;
					memcpy(found->hash, block->row.hash, ORDERING_HASH_LEN);
				}
				else if (names >= 0)
					*named = names == 1;
			}
			MemoryContextSwitchTo(caller_cxt);
			MemoryContextReset(page_cxt);
		}
	}
	PG_FINALLY();
	{
		MemoryContextSwitchTo(caller_cxt);
		OrderingRemoteDisconnect(conn);
		MemoryContextDelete(page_cxt);
	}
	PG_END_TRY();
}

/* Whether peer reports hash for block number; false on any failure. */
static pg_noinline bool
eviction_peer_confirms(const EvictionJob *job, const ChannelMember *peer,
					   const EvictionFound *found, TimestampTz deadline)
{
	MemoryContext cxt = CurrentMemoryContext;
	PGconn *volatile conn = NULL;
	volatile bool confirms = false;
	char number_text[32];
	const char *params[2] = { job->st->name, number_text };

	snprintf(number_text, sizeof(number_text), INT64_FORMAT, found->number);
	PG_TRY();
	{
		PGresult *res;

		StoreBegin();
		conn = PeerChainConnect(peer->conninfo, job->own_user, deadline);
		res = OrderingRemoteExec(conn, peer->node,
								 "SELECT ordering.peer_block_hash($1, $2)", 2,
								 params, true, deadline);
		confirms = PQntuples(res) == 1 && PQnfields(res) == 1 &&
			!PQgetisnull(res, 0, 0) &&
			PQgetlength(res, 0, 0) == ORDERING_HASH_LEN &&
			memcmp(PQgetvalue(res, 0, 0), found->hash, ORDERING_HASH_LEN) == 0;
		PQclear(res);
		OrderingRemoteDisconnect(conn);
		conn = NULL;
		StoreCommit();
	}
	PG_CATCH();
	{
		const char *message = eviction_caught(cxt, conn);

		elog(DEBUG1,
			 "channel \"%s\": node %s did not confirm block " INT64_FORMAT
			 ": %s",
			 job->st->name, peer->node, found->number, message);
	}
	PG_END_TRY();
	return confirms;
}

/* A majority of the last known configuration's voters report the block. */
static bool
eviction_confirmed(const EvictionJob *job, const EvictionFound *found,
				   TimestampTz deadline)
{
	const ChannelState *st = job->st;
	int confirmations = 0;
	int n_voters = (int) st->config.n_voters;

	for (int v = 0; v < n_voters; v++)
	{
		const ChannelMember *m = eviction_member(st, st->config.voters[v]);

		/* This node, under the id it runs as or an older one. */
		if (m == NULL || strcmp(m->node, ordering_node_name) == 0)
			continue;
		if (eviction_peer_confirms(job, m, found, deadline))
			confirmations++;
	}
	elog(LOG,
		 "channel \"%s\": %d of the %d voters of its last known configuration report block " INT64_FORMAT
		 ", which removes this node",
		 st->name, confirmations, n_voters, found->number);
	return confirmations >= n_voters / 2 + 1;
}

/*
 * Searches one member's chain from the cursor on; what was verified stays
 * verified, whoever sent it, so the cursor moves even after a failure.
 */
static pg_noinline void
eviction_try_peer(EvictionJob *job, const ChannelMember *m,
				  TimestampTz deadline, EvictionFound *found)
{
	MemoryContext cxt = CurrentMemoryContext;
	ChainHead head = job->cursor;
	bool named = job->named;

	PG_TRY();
	{
		/* A transaction owns what hashing and the connection need. */
		StoreBegin();
		eviction_search_peer(job, m, &head, &named, deadline, found);
		StoreCommit();
	}
	PG_CATCH();
	{
		const char *message = eviction_caught(cxt, NULL);

		elog(DEBUG1, "channel \"%s\": eviction check with node %s: %s",
			 job->st->name, m->node, message);
	}
	PG_END_TRY();
	/* What was verified stays verified: the next member goes on from it. */
	if (!found->found && head.last_block > job->cursor.last_block)
	{
		job->cursor = head;
		job->named = named;
	}
}

/* Whether some member's chain holds a removal a majority confirms. */
static bool
eviction_search(EvictionJob *job, TimestampTz deadline)
{
	const ChannelState *st = job->st;
	EvictionFound found;

	memset(&found, 0, sizeof(found));
	for (int i = 0; i < st->n_members && !found.found; i++)
	{
		const ChannelMember *m = &st->members[i];

		if (strcmp(m->node, ordering_node_name) != 0 &&
			OrderingClockNow() < deadline)
			eviction_try_peer(job, m, deadline, &found);
	}
	if (!found.found || !eviction_confirmed(job, &found, deadline))
		return false;
	elog(LOG,
		 "channel \"%s\": this node was removed from the consenters by block " INT64_FORMAT
		 " (found by eviction detection)",
		 st->name, found.number);
	return true;
}

/*
 * Searches as own_user until deadline; records the removal (its own
 * transaction) once a majority confirms it.  Failures of peers are logged
 * at DEBUG1 and leave nothing recorded.
 */
static void
eviction_check(ChannelState *st, const char *own_user, TimestampTz deadline)
{
	EvictionJob job;

	job.st = st;
	job.own_user = own_user;
	job.cursor = st->chain;
	job.named = eviction_member(st, st->self_id) != NULL;
	elog(DEBUG1,
		 "channel \"%s\": no leader for a long time; looking for a removal of this node",
		 st->name);
	if (!eviction_search(&job, deadline))
		return;
	StoreBegin();
	StoreSetRemoved(st, true);
	StoreCommit();
}

/*
 * The background worker: the channel as stored now (a node already
 * removed, or no longer a member, has nothing to look for), then the look.
 */
void
OrderingEvictionMain(Datum main_arg)
{
	char channel[ORDERING_NAME_MAX];
	uint64 running_id;
	ChannelState st;
	StoreRaftState stored;
	const ChannelMember *self;

	ChannelBgWorkerAttach(main_arg, "ordering eviction check", channel,
						  &running_id);
	MemoryContextSwitchTo(AllocSetContextCreate(TopMemoryContext,
												"ordering eviction check",
												ALLOCSET_DEFAULT_SIZES));
	memset(&st, 0, sizeof(st));
	strlcpy(st.name, channel, sizeof(st.name));
	st.cxt = CurrentMemoryContext;
	StoreBegin();
	StoreLoadConsenters(&st);
	StoreLoadRaftState(&st, &stored);
	StoreLoadChainHead(&st, NULL);
	StoreCommit();
	/* The id the channel runs as, which its tables may not name (above). */
	st.self_id = (raft_id) running_id;
	if (st.archived || st.removed || st.self_id == RAFT_NONE)
		proc_exit(0);
	self = eviction_member_by_node(&st, ordering_node_name);
	eviction_check(&st, self != NULL ? ChannelRoleOf(self->conninfo) : NULL,
				   TimestampTzPlusMilliseconds(OrderingClockNow(),
											   EVICTION_CHECK_MS));
	proc_exit(0);
}
