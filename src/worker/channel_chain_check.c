/*-------------------------------------------------------------------------
 *
 * channel_chain_check.c
 *	  Chain checks: the leader's head, ordered through the Raft log, and
 *	  compared by every member with its own chain.
 *
 * Entries carry transactions, not blocks, and each node cuts its blocks
 * from them against its own tables: a batch drops the ids its node has
 * already ordered.  A node whose tables were changed apart from the log
 * (a transaction row deleted by hand) therefore cuts other blocks than its
 * peers from then on, and nothing but verify_chain on that node said so:
 * with the row gone, the id submitted again made a block there and none
 * elsewhere, and every later block had another number and hash.
 *
 * So every CHAIN_CHECK_BLOCKS blocks the leader proposes a chain check
 * entry: its last block once it had applied up to its applied index.
 * Each member applies it after every entry before it, so its own last
 * block written by entries up to that index must be the same block.  If
 * not, the member logs a WARNING naming both blocks and the remedy, and
 * ordering.status shows it (last_error), at every check until the chains
 * agree again.  It does not stop: which of the two chains is wrong the
 * node cannot tell, and a committed check that failed the apply would be
 * applied again at every restart.  Had the leader's tables been changed,
 * its followers would have stopped for good, on an entry in their logs,
 * and the channel with them, even after the leader was dropped.
 * verify_chain on each node tells which chain is wrong; that node's
 * channel is dropped and joins again.  This is etcd's corruption check
 * (an alarm, not a repair) brought into the log, where the order of blocks
 * is already agreed.
 *
 * Cost: one small entry every CHAIN_CHECK_BLOCKS blocks, and on applying
 * it a scan back over the blocks written after its index (a few: the
 * entries between the leader's apply and the check's commit; checks
 * further back than CHAIN_CHECK_MAX_GAP entries are skipped).  A channel
 * that writes no blocks proposes none, so idle channels stay quiet.
 *
 * src/worker/channel_chain_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/entry.h"
#include "store/chain.h"
#include "store/identity.h"
#include "worker/channel_internal.h"

/* A chain check every this many of the leader's blocks. */
#define CHAIN_CHECK_BLOCKS 64
/* Checks of an index further back than this are skipped. */
#define CHAIN_CHECK_MAX_GAP 4096

#define CHAIN_PARTED_DETAIL                                                   \
	"This node's chain and the leader's have parted: one node's tables were changed apart from the Raft log (transactions or blocks deleted or rewritten by hand)."
#define CHAIN_PARTED_HINT                                                     \
	"Run ordering.verify_chain() on this node and on the leader; on the node whose chain is wrong: " STORE_IDENTITY_REMEDY

void
ChannelMaybeProposeChainCheck(Channel *ch)
{
	EntryChainCheck check;
	StringInfoData buf;
	int rc;

	if (!ChannelIsLeader(ch))
	{
		ch->leading.chain_check_armed = false;
		return;
	}
	/* A new leader counts from its head when it took over. */
	if (!ch->leading.chain_check_armed)
	{
		ch->leading.chain_check_armed = true;
		ch->leading.chain_checked_block = ch->state.chain.last_block;
		return;
	}
	if (ch->state.chain.last_block - ch->leading.chain_checked_block <
		CHAIN_CHECK_BLOCKS)
		return;

	/* Called after a ready: the head is the applied index's, committed. */
	check.applied_index = ch->state.log.applied_index;
	check.block = ch->state.chain.last_block;
	memcpy(check.hash, ch->state.chain.last_hash, ORDERING_HASH_LEN);
	ch->leading.chain_checked_block = check.block;

	initStringInfo(&buf);
	EntryChainCheckEncode(&buf, &check);
	rc = raft_propose(ch->raft.node, (const uint8_t *) buf.data, buf.len);
	pfree(buf.data);
	if (rc != RAFT_OK)
		elog(DEBUG1, "channel \"%s\": chain check not proposed: %s",
			 ch->state.name, raft_strerror(rc));
}

void
ChannelApplyChainCheck(Channel *ch, const raft_entry *entry)
{
	EntryChainCheck check;
	ChainHead own;
	bool found;
	char *message;

	/*
	 * A check changes nothing: a malformed one, or one too far back to be
	 * cheap, is skipped (an error would stop the log at it for good).
	 */
	if (!EntryChainCheckDecode(entry->data, entry->size, &check) ||
		check.applied_index >= entry->index)
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("channel \"%s\": malformed chain check at raft index " UINT64_FORMAT
						" skipped",
						ch->state.name, (uint64) entry->index)));
		return;
	}
	if (entry->index - check.applied_index > CHAIN_CHECK_MAX_GAP)
	{
		elog(DEBUG1,
			 "channel \"%s\": chain check at raft index " UINT64_FORMAT
			 " skipped: it names raft index " UINT64_FORMAT,
			 ch->state.name, (uint64) entry->index, check.applied_index);
		return;
	}

	found = StoreBlockAppliedBy(ch->state.name, check.applied_index, &own);
	if (found && own.last_block == check.block &&
		memcmp(own.last_hash, check.hash, ORDERING_HASH_LEN) == 0)
	{
		if (ch->counters.chain_parted)
		{
			elog(LOG,
				 "channel \"%s\": block " INT64_FORMAT
				 " is the leader's: the chains agree again",
				 ch->state.name, own.last_block);
			ch->counters.chain_parted = false;
			ch->counters.last_error[0] = '\0';
			ch->counters.status_dirty = true;
		}
		return;
	}

	if (!found || own.last_block != check.block)
		message = psprintf("channel \"%s\" has block " INT64_FORMAT
						   " where its leader had block " INT64_FORMAT
						   " after raft index " UINT64_FORMAT,
						   ch->state.name, found ? own.last_block : -1,
						   check.block, check.applied_index);
	else
		message =
			psprintf("block " INT64_FORMAT
					 " of channel \"%s\" is not its leader's block " INT64_FORMAT,
					 own.last_block, ch->state.name, check.block);
	ereport(WARNING,
			(errcode(ERRCODE_DATA_CORRUPTED), errmsg_internal("%s", message),
			 errdetail(CHAIN_PARTED_DETAIL), errhint(CHAIN_PARTED_HINT)));
	strlcpy(ch->counters.last_error, message, sizeof(ch->counters.last_error));
	ch->counters.chain_parted = true;
	ch->counters.status_dirty = true;
	pfree(message);
}
