/*-------------------------------------------------------------------------
 *
 * channel_receive.c
 *	  Records from peers for a channel: Raft messages, forwarded
 *	  transactions, join requests and genesis pushes.
 *
 * A record is hostile until checked: a Raft message that does not decode
 * is logged and dropped, a malformed forwarded batch is an ERROR that the
 * worker catches without breaking the channel.
 *
 * src/worker/channel_receive.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/entry.h"
#include "worker/channel_internal.h"

void
ChannelReceive(Channel *ch, const char *from_node, OrderingRecordKind kind,
			   const char *data, Size len, TimestampTz now)
{
	switch (kind)
	{
		case ORDERING_RECORD_RAFT:
		{
			raft_message msg;
			int rc;

			if (ch->raft.node == NULL)
			{
				/* Somebody runs the channel with us: ask to join. */
				if (!ch->state.removed)
					ChannelRequestJoin(ch, from_node, now);
				return;
			}
			rc = raft_message_decode((const uint8_t *) data, len, &msg);
			if (rc != RAFT_OK)
			{
				elog(LOG,
					 "channel \"%s\": malformed raft message from node \"%s\": %s",
					 ch->state.name, from_node, raft_strerror(rc));
				return;
			}
			if (msg.to == ch->state.self_id)
			{
				ChannelNoteHeard(ch, msg.from, now);
				rc = raft_step(ch->raft.node, &msg);
				if (rc != RAFT_OK)
					elog(DEBUG1,
						 "channel \"%s\": step of a message from \"%s\": %s",
						 ch->state.name, from_node, raft_strerror(rc));
			}
			raft_message_free(&msg);
			break;
		}
		case ORDERING_RECORD_FORWARD_TX:
		{
			uint32 n_txs;
			EntryTx *txs;

			txs = EntryBatchDecode((const uint8 *) data, len, &n_txs);
			/* The forwarding node keeps them pending, not us. */
			for (uint32 i = 0; i < n_txs; i++)
				ChannelRoute(ch,
							 CutterTxMake(&ch->routing.cutter, txs[i].tx_id,
										  txs[i].payload, txs[i].payload_len),
							 now);
			break;
		}
		case ORDERING_RECORD_JOIN_REQUEST:
		{
			const ChannelMember *m = ChannelMemberByNode(ch, from_node);

			/* Only consenters (voters or learners) get the channel. */
			if (m != NULL && ch->raft.node != NULL && m->id != ch->state.self_id)
				ChannelSendGenesis(ch, m->node, m->conninfo);
			break;
		}
		case ORDERING_RECORD_GENESIS:
			ChannelReceiveGenesis(ch, from_node, data, len);
			break;
		default:
			elog(DEBUG1,
				 "channel \"%s\": ignored a record of kind %d from node \"%s\"",
				 ch->state.name, kind, from_node);
			break;
	}
}
