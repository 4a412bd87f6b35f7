/*-------------------------------------------------------------------------
 *
 * channel_eviction.c
 *	  Eviction detection: how a consenter removed while it was down learns
 *	  it, from the chain itself, as Fabric's orderer does.
 *
 * A node learns its removal only from a committed configuration change.
 * When it was down while the change committed, the others no longer talk
 * to it, and nobody can tell it (a message saying so would be a forgery
 * anybody holding a peer credential could send).  So a consenter that has
 * heard no leader for EVICTION_LEADERLESS_TIMEOUTS election timeouts looks
 * by itself: it pulls the chain beyond its own last block from a member
 * of its last known configuration (ordering.peer_blocks, which lets a
 * former member read up to the block that removed it), verifies every
 * link from its own last block (peer_chain.c), and looks for a
 * configuration block that no longer names it.  Finding one is not enough
 * (one member could lie about its own chain only if the links held, but a
 * majority is what commits): it asks every voter of its last known
 * configuration for that block's hash (ordering.peer_block_hash), and
 * only when a majority of those voters report the same hash does it
 * record its removal.  The pulled blocks are not installed.
 *
 * The search is bounded per attempt (a deadline, pages bounded in blocks
 * and bytes) and resumes where it stopped at the next attempt, as long as
 * the node's own chain has not moved.  Like catch-up, it blocks the
 * worker's loop while it runs.
 *
 * src/worker/channel_eviction.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "common/gucs.h"
#include "common/remote.h"
#include "store/log.h"
#include "store/spi.h"
#include "worker/channel_internal.h"
#include "worker/peer_chain.h"

/* Heard no leader for this many election timeouts: look for a removal. */
#define EVICTION_LEADERLESS_TIMEOUTS 10
/* Bounds of one attempt. */
#define EVICTION_ATTEMPT_MS 20000
#define EVICTION_PAGE_BLOCKS 64

/* A configuration block that removed this node, found in a peer's chain. */
typedef struct EvictionFound
{
	bool found;
	int64 number;
	uint8 hash[ORDERING_HASH_LEN];
} EvictionFound;

/* Whether a configuration document still names this node. */
static bool
eviction_config_names_self(const PulledBlock *block)
{
	Jsonb *doc;
	JsonbValue *consenters;

	doc = DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in,
							CStringGetDatum(
								pnstrdup((const char *) block->row.config,
										 block->row.config_len))));
	consenters = getKeyJsonValueFromContainer(&doc->root, "consenters",
											  strlen("consenters"), NULL);
	if (consenters == NULL || consenters->type != jbvBinary)
		return true; /* not a configuration this node can read: no removal */
	return getKeyJsonValueFromContainer(consenters->val.binary.data,
										ordering_node_name,
										strlen(ordering_node_name),
										NULL) != NULL;
}

/*
 * Reads peer's chain after head (verified from head on, head advanced)
 * until a configuration block without this node, the peer's end, or the
 * deadline.  ERROR on any failure.
 */
static pg_noinline void
eviction_search_peer(Channel *ch, const ChannelMember *peer, ChainHead *head,
					 TimestampTz deadline, EvictionFound *found)
{
	PGconn *volatile conn = NULL;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext page_cxt =
		AllocSetContextCreate(caller_cxt, "ordering eviction page",
							  ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		bool more = true;

		conn = PeerChainConnect(peer->conninfo, ChannelOwnUser(ch), deadline);
		while (more && !found->found && GetCurrentTimestamp() < deadline)
		{
			PulledPage page;

			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(page_cxt);
			PeerChainFetch(conn, peer->node, ch->state.name,
						   head->last_block + 1, EVICTION_PAGE_BLOCKS,
						   deadline, &page);
			more = page.n_blocks == EVICTION_PAGE_BLOCKS;
			for (int i = 0; i < page.n_blocks && !found->found; i++)
			{
				const PulledBlock *block = &page.blocks[i];

				PeerChainVerifyNext(head, block, peer->node);
				if (block->row.config != NULL &&
					!eviction_config_names_self(block))
				{
					found->found = true;
					found->number = block->row.number;
					memcpy(found->hash, block->row.hash, ORDERING_HASH_LEN);
				}
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
eviction_peer_confirms(Channel *ch, const ChannelMember *peer,
					   const EvictionFound *found, TimestampTz deadline)
{
	MemoryContext cxt = CurrentMemoryContext;
	PGconn *volatile conn = NULL;
	volatile bool confirms = false;
	char number_text[32];
	const char *params[2] = { ch->state.name, number_text };

	snprintf(number_text, sizeof(number_text), INT64_FORMAT, found->number);
	PG_TRY();
	{
		PGresult *res;

		StoreBegin();
		conn = PeerChainConnect(peer->conninfo, ChannelOwnUser(ch), deadline);
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
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		OrderingRemoteDisconnect(conn);
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		elog(DEBUG1,
			 "channel \"%s\": node %s did not confirm block " INT64_FORMAT
			 ": %s",
			 ch->state.name, peer->node, found->number, edata->message);
	}
	PG_END_TRY();
	return confirms;
}

/* A majority of the last known configuration's voters report the block. */
static bool
eviction_confirmed(Channel *ch, const EvictionFound *found, TimestampTz deadline)
{
	int confirmations = 0;
	int n_voters = (int) ch->state.config.n_voters;

	for (int v = 0; v < n_voters; v++)
	{
		const ChannelMember *m =
			ChannelMemberById(ch, ch->state.config.voters[v]);

		if (m == NULL || m->id == ch->state.self_id)
			continue;
		if (eviction_peer_confirms(ch, m, found, deadline))
			confirmations++;
	}
	elog(LOG,
		 "channel \"%s\": %d of the %d voters of its last known configuration report block " INT64_FORMAT
		 ", which removes this node",
		 ch->state.name, confirmations, n_voters, found->number);
	return confirmations >= n_voters / 2 + 1;
}

/*
 * Searches one member's chain from the cursor on; what was verified stays
 * verified, whoever sent it, so the cursor moves even after a failure.
 */
static pg_noinline void
eviction_try_peer(Channel *ch, const ChannelMember *m, TimestampTz deadline,
				  EvictionFound *found)
{
	ChannelEviction *ev = &ch->eviction;
	MemoryContext cxt = CurrentMemoryContext;
	ChainHead head = ev->cursor;

	PG_TRY();
	{
		/* A transaction owns what hashing and the connection need. */
		StoreBegin();
		eviction_search_peer(ch, m, &head, deadline, found);
		StoreCommit();
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		elog(DEBUG1, "channel \"%s\": eviction check with node %s: %s",
			 ch->state.name, m->node, edata->message);
	}
	PG_END_TRY();
	/* A removal found but not confirmed is looked for again next time. */
	if (!found->found && head.last_block > ev->cursor.last_block)
		ev->cursor = head;
}

/* Searches the members' chains, resuming where the last attempt stopped. */
static void
eviction_search(Channel *ch, TimestampTz deadline, EvictionFound *found)
{
	ChannelEviction *ev = &ch->eviction;

	if (!ev->cursor_valid || ev->cursor_base != ch->state.chain.last_block)
	{
		ev->cursor = ch->state.chain;
		ev->cursor_base = ch->state.chain.last_block;
		ev->cursor_valid = true;
	}
	for (int i = 0; i < ch->state.n_members && !found->found; i++)
	{
		const ChannelMember *m = &ch->state.members[i];

		if (m->id != ch->state.self_id && GetCurrentTimestamp() < deadline)
			eviction_try_peer(ch, m, deadline, found);
	}
}

static void
eviction_check(Channel *ch)
{
	TimestampTz deadline =
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), EVICTION_ATTEMPT_MS);
	EvictionFound found;

	memset(&found, 0, sizeof(found));
	elog(DEBUG1,
		 "channel \"%s\": no leader for a long time; looking for a removal of this node",
		 ch->state.name);
	eviction_search(ch, deadline, &found);
	SetLatch(MyLatch); /* the waits above may have eaten a wakeup */
	if (!found.found || !eviction_confirmed(ch, &found, deadline))
		return;

	elog(LOG,
		 "channel \"%s\": this node was removed from the consenters by block " INT64_FORMAT
		 " (found by eviction detection)",
		 ch->state.name, found.number);
	StoreBegin();
	StoreSetRemoved(&ch->state, true);
	StoreCommit();
	ChannelSetAddressBook(ch, 0, NULL);
	ChannelLoad(ch);
}

void
ChannelWatchEviction(Channel *ch, TimestampTz now)
{
	ChannelEviction *ev = &ch->eviction;
	int64 wait_ms = EVICTION_LEADERLESS_TIMEOUTS * ChannelElectionTimeoutMs(ch);

	if (ch->raft.node == NULL || ch->state.self_id == RAFT_NONE ||
		ch->raft.leader != RAFT_NONE)
	{
		ev->leaderless_since = 0;
		return;
	}
	if (ev->leaderless_since == 0)
	{
		ev->leaderless_since = now;
		ev->next_check_at = TimestampTzPlusMilliseconds(now, wait_ms);
		return;
	}
	if (now < ev->next_check_at)
		return;
	ev->next_check_at = TimestampTzPlusMilliseconds(now, wait_ms);
	eviction_check(ch);
}
