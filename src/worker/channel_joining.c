/*-------------------------------------------------------------------------
 *
 * channel_joining.c
 *	  Joining: bringing nodes into a channel and keeping the address
 *	  book a joiner needs.
 *
 * A node that may have to bring the others in pushes GENESIS to members it
 * has not heard from; a node that lacks its own raft id asks members with
 * JOIN_REQUEST.  GENESIS carries block 0's document and the consenters as
 * the sender knows them; the receiver keeps the consenters as its address
 * book until its log reaches the change that added it.
 *
 * A GENESIS record is only an invitation: it never removes this node from
 * a channel.  A node learns its removal from a committed configuration
 * change only (channel_ready.c applies it; channel_eviction.c finds it in
 * its peers' chain when it missed it).
 *
 * src/worker/channel_joining.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/json.h"

#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/names.h"
#include "store/genesis.h"
#include "store/log.h"
#include "store/spi.h"
#include "worker/channel_internal.h"
#include "worker/transport.h"

/* Joining: how often a silent member gets GENESIS, a JOIN_REQUEST repeats. */
#define CHANNEL_GENESIS_INTERVAL_MS 2000
#define CHANNEL_JOIN_REQUEST_INTERVAL_MS 1000
/* A member silent this long may have lost the channel (or never had it). */
#define CHANNEL_SILENT_MS 10000

raft_id
ChannelBookIdOf(int n_book, const ChannelMember *book, const char *node)
{
	for (int i = 0; i < n_book; i++)
		if (strcmp(book[i].node, node) == 0)
			return book[i].id;
	return RAFT_NONE;
}

/* Why a list of consenters may not be taken from a peer, or NULL. */
static char *
channel_conninfos_refusal(int n, const ChannelMember *members)
{
	for (int i = 0; i < n; i++)
	{
		char *refusal;

		if (!OrderingNodeNameIsValid(members[i].node))
			return pstrdup("invalid node name in consenters");
		refusal = OrderingConninfoRefusal(members[i].node, members[i].conninfo);
		if (refusal != NULL)
			return refusal;
	}
	return NULL;
}

char *
ChannelGenesisRefusal(const char *from_node, const char *session_role,
					  int n_book, const ChannelMember *book, int n_genesis,
					  const ChannelMember *genesis_members)
{
	char *refusal;
	bool names_sender = false;

	refusal = channel_conninfos_refusal(n_book, book);
	if (refusal == NULL)
		refusal = channel_conninfos_refusal(n_genesis, genesis_members);
	if (refusal != NULL)
		return psprintf("Its consenters break the conninfo policy: %s", refusal);
	for (int i = 0; i < n_book; i++)
	{
		const char *role = ChannelRoleOf(book[i].conninfo);

		if (strcmp(book[i].node, from_node) == 0 && role != NULL &&
			strcmp(role, session_role) == 0)
			names_sender = true;
	}
	if (!names_sender)
		return psprintf("Its consenters do not name node \"%s\" with role \"%s\".",
						from_node, session_role);
	if (ChannelBookIdOf(n_book, book, ordering_node_name) == RAFT_NONE)
		return pstrdup("Its consenters do not name this node.");
	return NULL;
}

/* Keeps a copy of the consenters a GENESIS record named. */
void
ChannelSetAddressBook(Channel *ch, int n_book, const ChannelMember *book)
{
	for (int i = 0; i < ch->joining.n_book; i++)
		pfree(ch->joining.book[i].conninfo);
	ch->joining.n_book = 0;
	for (int i = 0; i < n_book && i < RAFT_MAX_MEMBERS; i++)
	{
		ch->joining.book[i] = book[i];
		ch->joining.book[i].conninfo =
			MemoryContextStrdup(ch->top_cxt, book[i].conninfo);
		ch->joining.n_book++;
	}
	ChannelNoteMembersChanged();
}

void
ChannelNoteHeard(Channel *ch, raft_id id, TimestampTz now)
{
	for (int i = 0; i < ch->joining.n_heard; i++)
		if (ch->joining.heard[i] == id)
		{
			ch->joining.heard_at[i] = now;
			return;
		}
	if (ch->joining.n_heard < lengthof(ch->joining.heard))
	{
		ch->joining.heard[ch->joining.n_heard] = id;
		ch->joining.heard_at[ch->joining.n_heard] = now;
		ch->joining.n_heard++;
	}
}

/* Heard from id on this channel within CHANNEL_SILENT_MS? */
static bool
channel_heard_from(const Channel *ch, raft_id id, TimestampTz now)
{
	for (int i = 0; i < ch->joining.n_heard; i++)
		if (ch->joining.heard[i] == id)
			return now - ch->joining.heard_at[i] <
				CHANNEL_SILENT_MS * (int64) 1000;
	return false;
}

/*
 * GENESIS: {"genesis": "<block 0's document>", "consenters": {current
 * consenters}}; the receiver creates the channel from the document and
 * keeps the consenters as its address book.
 */
void
ChannelSendGenesis(Channel *ch, const ChannelMember *to)
{
	StringInfoData buf;

	if (ch->joining.genesis_doc == NULL)
		return;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"genesis\": ");
	escape_json(&buf, ch->joining.genesis_doc);
	appendStringInfoString(&buf, ", \"consenters\": {");
	for (int i = 0; i < ch->state.n_members; i++)
	{
		const ChannelMember *m = &ch->state.members[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, m->node);
		appendStringInfo(&buf, ": {\"id\": " UINT64_FORMAT ", \"conninfo\": ",
						 (uint64) m->id);
		escape_json(&buf, m->conninfo);
		appendStringInfo(&buf, ", \"learner\": %s}",
						 m->is_learner ? "true" : "false");
	}
	/* A joiner at term 0 lost nothing: nobody has voted yet. */
	appendStringInfo(&buf, "}, \"term\": " UINT64_FORMAT "}",
					 (uint64) ch->raft.term);
	(void) ChannelSend(ch, to, ORDERING_RECORD_GENESIS, buf.data, buf.len);
	pfree(buf.data);
}

/*
 * Asks for the channel's genesis and address book: from only_node if
 * given, else from every member (at most once a second).
 */
void
ChannelRequestJoin(Channel *ch, const char *only_node, TimestampTz now)
{
	if (now < ch->joining.next_join_request_at || ch->state.archived)
		return;
	ch->joining.next_join_request_at =
		TimestampTzPlusMilliseconds(now, CHANNEL_JOIN_REQUEST_INTERVAL_MS);
	for (int i = 0; i < ch->state.n_members; i++)
	{
		const ChannelMember *m = &ch->state.members[i];

		if (strcmp(m->node, ordering_node_name) == 0 ||
			(only_node != NULL && strcmp(m->node, only_node) != 0))
			continue;
		(void) ChannelSend(ch, m, ORDERING_RECORD_JOIN_REQUEST, NULL, 0);
	}
}

/*
 * A node that may have to bring the others in (the leader, or anybody
 * while there is none, e.g. right after create_channel) pushes GENESIS to
 * the members it has not heard from on this channel lately: they may not
 * have the channel (new, or dropped) and may not even know our conninfo
 * to ask.  A node that has the channel ignores it.
 */
void
ChannelPushGenesis(Channel *ch, TimestampTz now)
{
	if (now < ch->joining.next_genesis_at ||
		(ch->raft.leader != RAFT_NONE && !ChannelIsLeader(ch)))
		return;
	ch->joining.next_genesis_at =
		TimestampTzPlusMilliseconds(now, CHANNEL_GENESIS_INTERVAL_MS);
	for (int i = 0; i < ch->state.n_members; i++)
	{
		const ChannelMember *m = &ch->state.members[i];

		if (m->id == ch->state.self_id || channel_heard_from(ch, m->id, now))
			continue;
		ChannelSendGenesis(ch, m);
	}
}

/*
 * Takes a GENESIS record for this existing channel from a member (admitted
 * by the caller): a joiner's address book, or this node added again after
 * a removal.  A member that runs the channel has no use for one.  Anything
 * that breaks the rules a new channel's genesis must pass is dropped.
 */
void
ChannelReceiveGenesis(Channel *ch, const char *from_node,
					  const char *session_role, const char *data, Size len)
{
	ChannelMember *book = palloc0(sizeof(ChannelMember) * RAFT_MAX_MEMBERS);
	ChannelMember *genesis_members =
		palloc0(sizeof(ChannelMember) * RAFT_MAX_MEMBERS);
	int n_book = 0;
	int n_genesis = 0;
	MemoryContext cxt = CurrentMemoryContext; /* outlives the transaction */
	char *genesis;
	char *refusal;
	bool before_election;
	bool running;

	if (ch->state.archived)
		return;
	running = ch->raft.node != NULL && ch->state.self_id != RAFT_NONE &&
		ChannelMemberById(ch, ch->state.self_id) != NULL;
	StoreBegin();
	genesis = StoreParseGenesisRecord(data, len, &n_book, book,
									  &before_election, cxt);
	n_genesis = StoreDocumentConsenters(genesis, genesis_members, cxt);
	StoreCommit();

	refusal = ChannelGenesisRefusal(from_node, session_role, n_book, book,
									n_genesis, genesis_members);
	if (refusal != NULL)
	{
		/* Not naming this node is no news: it never means "removed". */
		if (ChannelBookIdOf(n_book, book, ordering_node_name) != RAFT_NONE)
			ChannelReject(ch, from_node, "GENESIS refused", refusal);
		return;
	}
	if (ch->joining.genesis_doc != NULL &&
		strcmp(ch->joining.genesis_doc, genesis) != 0)
	{
		ChannelReject(ch, from_node, "GENESIS with another block 0", NULL);
		return;
	}
	/*
	 * A member that runs the channel keeps its id and its configuration;
	 * from the book it only learns the newer ids of members removed and
	 * added again since its last configuration, so that it hears them
	 * (channel_receive.c).  It was pushed because the sender heard nothing
	 * from it: perhaps because it dropped that sender's messages.
	 */
	if (running)
	{
		ChannelSetAddressBook(ch, n_book, book);
		return;
	}
	if (ch->state.removed)
	{
		/*
		 * Added again.  Its tables may still name it with the id that was
		 * removed (eviction detection found the removal): the book's newer
		 * id is its own now (channel.c).
		 */
		StoreBegin();
		StoreSetRemoved(&ch->state, false);
		StoreCommit();
		ch->joining.readded = true;
	}
	ChannelSetAddressBook(ch, n_book, book);
	/*
	 * Only a node waiting for its address book starts over now; a broken
	 * channel keeps its backoff.
	 */
	if (ch->raft.node == NULL && ch->state.self_id == RAFT_NONE)
	{
		elog(LOG, "channel \"%s\": joining with the consenters known to node %s",
			 ch->state.name, from_node);
		ChannelLoad(ch);
	}
}
