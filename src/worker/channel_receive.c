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
	if (msg.from != from->id || msg.to != ch->state.self_id)
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
	rc = raft_step(ch->raft.node, &msg);
	if (rc != RAFT_OK)
		elog(DEBUG1, "channel \"%s\": step of a message from \"%s\": %s",
			 ch->state.name, from->node, raft_strerror(rc));
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

void
ChannelReceive(Channel *ch, const char *from_node, const char *session_role,
			   OrderingRecordKind kind, const char *data, Size len,
			   TimestampTz now)
{
	const ChannelMember *from = ChannelAdmit(ch, from_node, session_role);

	if (from == NULL)
		return;
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
