/*-------------------------------------------------------------------------
 *
 * channel_receive.c
 *	  Records from peers for a channel: Raft messages, forwarded
 *	  transactions, join requests and genesis pushes.
 *
 * A record is hostile until checked.  It is taken only from a member
 * whose role is the one that called deliver() (channel_identity.c); a
 * Raft message only when its "from" is that member's raft id and its "to"
 * is ours; forwarded transactions only when every id and payload passes
 * the rules of a local submit.  Everything else is dropped, counted and
 * logged (rate-limited), and never breaks the channel.
 *
 * src/worker/channel_receive.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/entry.h"
#include "common/names.h"
#include "worker/channel_internal.h"

/*
 * The largest snapshot message kept.  The document this extension puts in
 * a snapshot holds at most 32 consenters with conninfos of at most 1 kB,
 * and a peer's message could be as large as an envelope (8 MiB) on every
 * channel: a larger one is not kept, and the leader's snapshot timeout
 * serves instead.
 */
#define CHANNEL_KEPT_SNAPSHOT_MSG_MAX (128 * 1024)

/*
 * Keeps a copy of a snapshot message, replacing the last one: a snapshot
 * handed to a catch-up worker is answered only once it is installed.
 */
static void
channel_keep_snapshot_message(Channel *ch, const char *data, Size len)
{
	if (ch->catchup.snapshot_msg != NULL)
		pfree(ch->catchup.snapshot_msg);
	ch->catchup.snapshot_msg = NULL;
	ch->catchup.snapshot_msg_len = 0;
	if (len > CHANNEL_KEPT_SNAPSHOT_MSG_MAX)
		return;
	ch->catchup.snapshot_msg = MemoryContextAlloc(ch->top_cxt, len);
	memcpy(ch->catchup.snapshot_msg, data, len);
	ch->catchup.snapshot_msg_len = len;
}

/*
 * Whether raft id may be the id of member from, whose role delivered the
 * message: its id in this node's configuration, or a newer one a member's
 * book gives it (removed and added again since that configuration; until
 * this node hears the leader, it cannot learn it from its log).  Either
 * way the id is that node's own: no node speaks for another.
 */
static bool
channel_sender_id(const Channel *ch, const ChannelMember *from, raft_id id)
{
	raft_id booked;

	if (id == from->id)
		return true;
	booked = ChannelBookIdOf(ch->joining.n_book, ch->joining.book, from->node);
	return booked > from->id && id == booked;
}

static void
channel_receive_raft(Channel *ch, const ChannelMember *from, const char *data,
					 Size len, TimestampTz now)
{
	raft_message msg;
	int rc;

	if (ch->raft.node == NULL)
	{
		/* Somebody runs the channel with us: ask to join (unless parked). */
		if (!ch->state.removed && ch->catchup.worker == NULL)
			ChannelRequestJoin(ch, from->node, now);
		return;
	}
	rc = raft_message_decode((const uint8 *) data, len, &msg);
	if (rc != RAFT_OK)
	{
		ChannelReject(ch, from->node, "malformed raft message",
					  raft_strerror(rc));
		return;
	}
	if (!channel_sender_id(ch, from, msg.from) || msg.to != ch->state.self_id)
	{
		ChannelReject(ch, from->node,
					  "raft message not from the node's raft id to this node's",
					  NULL);
		raft_message_free(&msg);
		return;
	}
	ChannelNoteHeard(ch, msg.from, now);
	if (ChannelMessageWakes(ch, &msg))
		ChannelWake(ch);
	if (msg.type == RAFT_MSG_SNAP)
		channel_keep_snapshot_message(ch, data, len);
	rc = raft_step(ch->raft.node, &msg);
	if (rc != RAFT_OK)
		elog(DEBUG1, "channel \"%s\": step of a message from \"%s\": %s",
			 ch->state.name, from->node, raft_strerror(rc));
	raft_message_free(&msg);
}

/*
 * After a catch-up in the background: steps the snapshot message that
 * started it again, if the channel now holds that snapshot, so that the
 * core answers the leader (an append response at the snapshot's index,
 * which moves the leader's progress out of its snapshot state).  The
 * answer the core gave the first time was dropped with its ready when the
 * channel was parked; without this one the leader waited for its
 * snapshot timeout (channel_ready.c) before it sent anything more.  The
 * message came from an authenticated member, and an old or repeated
 * message is one Raft copes with; it is still checked against the
 * members as they are now.
 */
void
ChannelAnswerInstalledSnapshot(Channel *ch, raft_index installed)
{
	raft_message msg;
	int rc;

	if (ch->catchup.snapshot_msg == NULL)
		return;
	rc = raft_message_decode((const uint8 *) ch->catchup.snapshot_msg,
							 ch->catchup.snapshot_msg_len, &msg);
	pfree(ch->catchup.snapshot_msg);
	ch->catchup.snapshot_msg = NULL;
	ch->catchup.snapshot_msg_len = 0;
	if (rc != RAFT_OK)
		return;
	if (ch->raft.node != NULL && msg.type == RAFT_MSG_SNAP &&
		msg.snapshot != NULL && msg.snapshot->meta.index == installed &&
		msg.to == ch->state.self_id && ChannelPeerById(ch, msg.from) != NULL)
	{
		rc = raft_step(ch->raft.node, &msg);
		if (rc != RAFT_OK)
			elog(DEBUG1,
				 "channel \"%s\": step of the installed snapshot's message: %s",
				 ch->state.name, raft_strerror(rc));
		else
			ereport(LOG,
					(errmsg("channel \"%s\": answered the snapshot at index " UINT64_FORMAT
							" installed in the background",
							ch->state.name, (uint64) installed)));
	}
	raft_message_free(&msg);
}

/*
 * Why a forwarded batch may not be taken, or NULL: each id is valid as a
 * local submit's and each payload within the channel's absolute_max_bytes.
 */
static char *
channel_forward_refusal(const Channel *ch, const EntryTx *txs, uint32 n_txs)
{
	for (uint32 i = 0; i < n_txs; i++)
	{
		if (!OrderingTxIdIsValid(txs[i].tx_id, strlen(txs[i].tx_id)))
			return pstrdup("forwarded transaction with an invalid id");
		if ((int64) txs[i].payload_len > ch->state.settings.absolute_max_bytes)
			return pstrdup("forwarded transaction above absolute_max_bytes");
	}
	return NULL;
}

/*
 * Decodes a forwarded batch; NULL (with *refusal) when it is malformed.
 * Only the decoder's ERROR is caught: it touches no shared state.
 */
static pg_noinline EntryTx *
channel_decode_forward(const char *data, Size len, uint32 *n_txs, char **refusal)
{
	MemoryContext cxt = CurrentMemoryContext;
	EntryTx *volatile txs = NULL;

	PG_TRY();
	{
		txs = EntryBatchDecode((const uint8 *) data, len, n_txs);
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*refusal = edata->message;
		txs = NULL;
	}
	PG_END_TRY();
	return txs;
}

static void
channel_receive_forward(Channel *ch, const ChannelMember *from,
						const char *data, Size len, TimestampTz now)
{
	EntryTx *txs;
	uint32 n_txs = 0;
	char *refusal = NULL;

	if (ChannelMemberByNode(ch, from->node) == NULL)
	{
		ChannelReject(ch, from->node,
					  "forwarded transactions from a non-member", NULL);
		return;
	}
	txs = channel_decode_forward(data, len, &n_txs, &refusal);
	if (txs != NULL)
		refusal = channel_forward_refusal(ch, txs, n_txs);
	if (refusal != NULL)
	{
		ChannelReject(ch, from->node, "forwarded transactions refused", refusal);
		return;
	}
	/* The forwarding node keeps them pending, not us. */
	for (uint32 i = 0; i < n_txs; i++)
		ChannelRoute(ch,
					 CutterTxMake(&ch->routing.cutter, txs[i].tx_id,
								  txs[i].payload, txs[i].payload_len),
					 now);
}

/*
 * Does a record name the channel's block 0 as this node holds it?  Two
 * nodes that each founded the channel with other settings or consenters
 * run two channels under one name: Raft among them would order the same
 * entries onto two chains, every one of which verifies.  Only a node that
 * lacks the channel leaves it unstated (zeros), to ask for the genesis;
 * an honest member always states it.
 */
static bool
channel_same_block0(const Channel *ch, const uint8 *block0)
{
	static const uint8 zeros[ORDERING_HASH_LEN] = { 0 };

	StaticAssertStmt(ORDERING_ENVELOPE_BLOCK0_LEN == ORDERING_HASH_LEN,
					 "a record's block0 is a block hash");
	return !ch->joining.has_block0 ||
		memcmp(block0, zeros, ORDERING_HASH_LEN) == 0 ||
		memcmp(block0, ch->joining.block0, ORDERING_HASH_LEN) == 0;
}

void
ChannelReceive(Channel *ch, const char *from_node, const char *session_role,
			   OrderingRecordKind kind, const uint8 *block0, const char *data,
			   Size len, TimestampTz now)
{
	const ChannelMember *from = ChannelAdmit(ch, from_node, session_role);

	if (from == NULL)
		return;
	if (!channel_same_block0(ch, block0))
	{
		ChannelReject(ch, from->node,
					  "record for another block 0 of the channel",
					  psprintf("Its block 0 has hash %02x%02x%02x%02x..., this node's %02x%02x%02x%02x...: one of the two nodes founded the channel apart (create_channel with other arguments); drop the channel on the node whose block 0 is not the majority's, and it joins from the genesis the members send.",
							   block0[0], block0[1], block0[2], block0[3],
							   ch->joining.block0[0], ch->joining.block0[1],
							   ch->joining.block0[2], ch->joining.block0[3]));
		return;
	}
	switch (kind)
	{
		case ORDERING_RECORD_RAFT:
			channel_receive_raft(ch, from, data, len, now);
			break;
		case ORDERING_RECORD_FORWARD_TX:
			channel_receive_forward(ch, from, data, len, now);
			break;
		case ORDERING_RECORD_JOIN_REQUEST:
		{
			const ChannelMember *m = ChannelMemberByNode(ch, from->node);

			/* Only consenters (voters or learners) get the channel. */
			if (m != NULL && ch->raft.node != NULL)
				ChannelSendGenesis(ch, m);
			break;
		}
		case ORDERING_RECORD_QUIESCE:
			ChannelReceiveQuiesce(ch, from, data, len);
			break;
		case ORDERING_RECORD_GENESIS:
			/* The address book it may replace holds *from. */
			ChannelReceiveGenesis(ch, from_node, session_role, data, len);
			break;
		default:
			ChannelReject(ch, from->node, "unknown record kind", NULL);
			break;
	}
}
