/*-------------------------------------------------------------------------
 *
 * channel_ready.c
 *	  Handling a channel's readies: persist, apply, send, acknowledge.
 *
 * A ready is handled in the order raft.h prescribes, with one worker
 * transaction doing the durable part:
 *
 *	0. send the leader's early messages (appends, heartbeats, snapshots);
 *	1. pull the blocks a received snapshot covers (worker/catchup.c), then
 *	   persist snapshot, entries and hard state, and apply the committed
 *	   entries (blocks, consenters, applied index), in one transaction
 *	   committed with synchronous_commit = on;
 *	2. mirror the persisted log into the memory storage the core reads;
 *	3. send the other messages (only now: they may depend on step 1);
 *	4. hand waiting submitters their places (common/submit_waits.c),
 *	   answer admin requests, raft_advance().
 *
 * Applying committed entries in the persisting transaction is safe: a
 * committed entry is durable on a quorum whether or not this node has
 * applied it, and messages still leave only after the commit.
 *
 * src/worker/channel_ready.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/condition_variable.h"

#include "common/clock.h"
#include "common/entry.h"
#include "store/chain.h"
#include "store/direct.h"
#include "store/log.h"
#include "store/snapshot.h"
#include "store/spi.h"
#include "worker/catchup_worker.h"
#include "worker/channel_internal.h"
#include "worker/transport.h"

/*
 * The transactions a ready wrote into blocks, and those it dropped as
 * ordered before, for their waiters.
 */
typedef struct ReadyPlaces
{
	MemoryContext cxt; /* outlives the ready's transaction */
	OrderingPlace *places;
	int n;
	int max;
} ReadyPlaces;

/* Notes txs (EntryTx *) at number from position 0 on, or as BEFORE. */
static void
ready_note_places(ReadyPlaces *done, int64 number, List *txs)
{
	ListCell *lc;
	int position = 0;

	foreach(lc, txs)
	{
		const EntryTx *tx = lfirst(lc);
		OrderingPlace *place;

		if (done->n == done->max)
		{
			done->max = Max(64, done->max * 2);
			done->places = done->places == NULL
				? MemoryContextAlloc(done->cxt, sizeof(OrderingPlace) * done->max)
				: repalloc(done->places, sizeof(OrderingPlace) * done->max);
		}
		place = &done->places[done->n++];
		place->tx_id = MemoryContextStrdup(done->cxt, tx->tx_id);
		/* A dropped id's waiter compares the payload in the table. */
		if (number == ORDERING_PLACE_BEFORE)
			memset(place->payload_hash, 0, ORDERING_HASH_LEN);
		else
			OrderingSha256(tx->payload, tx->payload_len, place->payload_hash);
		place->block_number = number;
		place->position = number == ORDERING_PLACE_BEFORE ? -1 : position++;
	}
}

/*
 * A follower pulls a few blocks inline and hands longer pulls to a
 * background worker, dropping what arrives meanwhile: the leader sends an
 * unanswered snapshot again after this.  A node that installed it in the
 * background answers it then (ChannelAnswerInstalledSnapshot); one whose
 * catch-up failed gets it again this way.
 */
#define CHANNEL_SNAPSHOT_ACK_TIMEOUT_MS (5 * 1000)

static void
channel_soft_state(Channel *ch, raft_role role, raft_id leader, TimestampTz now)
{
	bool was_leader = ChannelIsLeader(ch);
	bool new_leader = (leader != ch->raft.leader && leader != RAFT_NONE);

	if (leader != ch->raft.leader)
	{
		const ChannelMember *m = ChannelPeerById(ch, leader);

		ch->counters.leader_changes++;
		if (leader != RAFT_NONE)
			elog(LOG,
				 "channel \"%s\": leader is now %s (raft id " UINT64_FORMAT ")",
				 ch->state.name, m != NULL ? m->node : "?", (uint64) leader);
	}
	ch->raft.role = role;
	ch->raft.leader = leader;
	ch->counters.status_dirty = true;

	/* A deposed leader hands its pending transactions to the next one. */
	if (was_leader && !ChannelIsLeader(ch))
		ChannelHoldPending(ch);
	if (!was_leader && ChannelIsLeader(ch))
	{
		ChannelClearInflight(ch);
		ch->leading.since = now;
	}
	ChannelRerouteHeld(ch, now);
	/* The old leader may have lost what we sent it. */
	if (new_leader)
		ChannelReroutePending(ch, now, 0);
	ChannelFinishHandoff(ch, now);
}

/*
 * A member given a new conninfo (update_consenter): the connection to it,
 * however well it works, was made to the old one, which may now reach
 * another server or skip a TLS check the new one asks for.  Forgetting
 * the peer closes it; the next message connects with the new conninfo.
 * Only at the change: a working connection is otherwise kept while
 * channels name the node differently (transport.c).
 */
static void
channel_reconnect_if_readdressed(Channel *ch, raft_id id,
								 const char *conninfo_before)
{
	const ChannelMember *m = ChannelMemberById(ch, id);

	if (m == NULL || strcmp(m->conninfo, conninfo_before) == 0)
		return;
	elog(LOG, "channel \"%s\": node %s has a new conninfo; reconnecting to it",
		 ch->state.name, m->node);
	TransportForgetPeer(m->node);
}

/*
 * Applies one committed entry; returns the block it wrote or -1.  Sets
 * *rebuild when the Raft node must be recreated from the tables.
 */
static int64
channel_apply_entry(Channel *ch, const raft_entry *entry, bool *rebuild,
					ReadyPlaces *done)
{
	int64 block = -1;

	if (entry->type == RAFT_ENTRY_CONF_CHANGE)
	{
		raft_conf_change cc;
		bool removes_self = false;
		char *conninfo_before = NULL;

		/*
		 * A node that misses the entry removing it finds it later in its
		 * peers' chain (channel_eviction.c): nothing is sent to it here.
		 */
		if (raft_conf_change_decode(entry->data, entry->size, &cc) == RAFT_OK)
		{
			const ChannelMember *m = ChannelMemberById(ch, cc.node);

			if (cc.type == RAFT_CONF_REMOVE)
				removes_self = m != NULL && cc.node == ch->state.self_id;
			else if (m != NULL && cc.node != ch->state.self_id)
				conninfo_before = pstrdup(m->conninfo);
		}
		block = StoreApplyConfChange(&ch->state, entry);
		ChannelNoteMembersChanged();
		if (conninfo_before != NULL)
			channel_reconnect_if_readdressed(ch, cc.node, conninfo_before);
		if (removes_self)
		{
			/* This node is out: stop running Raft once the ready is done. */
			elog(LOG,
				 "channel \"%s\": this node was removed from the consenters",
				 ch->state.name);
			StoreSetRemoved(&ch->state, true);
			ChannelSetAddressBook(ch, 0, NULL);
			*rebuild = true;
		}
	}
	else
	{
		switch (EntryKindOf(entry->data, entry->size))
		{
			case ENTRY_NOOP:
				break;
			case ENTRY_BATCH:
			{
				List *ids = NIL;
				List *written = NIL;
				List *before = NIL;
				ListCell *lc;

				/* One of this leader's own batches has committed. */
				if (ChannelIsLeader(ch) && entry->term == ch->raft.term)
					CutterNoteApplied(&ch->routing.cutter);
				block =
					StoreApplyBatch(&ch->state, entry, &ids, &written, &before);
				if (block >= 0)
					ready_note_places(done, block, written);
				/* Resubmitted: their submitters find them in the table. */
				ready_note_places(done, ORDERING_PLACE_BEFORE, before);
				if (before != NIL)
					OrderingNoteRepeat(ch->state.name, OrderingClockNow());
				foreach(lc, ids)
				{
					ChannelForgetInflight(ch, (const char *) lfirst(lc));
					ChannelForgetPending(ch, (const char *) lfirst(lc));
				}
				break;
			}
			case ENTRY_SETTINGS:
			{
				int election_tick = ch->state.settings.election_tick;
				int heartbeat_tick = ch->state.settings.heartbeat_tick;

				block = StoreApplySettings(&ch->state, entry);
				/* The core takes its timing at creation: rebuild it. */
				if (ch->state.settings.election_tick != election_tick ||
					ch->state.settings.heartbeat_tick != heartbeat_tick)
					*rebuild = true;
			}
				CutterConfigure(&ch->routing.cutter, &ch->state.settings);
				break;
			case ENTRY_CHAIN_CHECK:
				ChannelApplyChainCheck(ch, entry);
				break;
			case ENTRY_UNKNOWN:
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("channel \"%s\": unknown entry at index " UINT64_FORMAT,
								ch->state.name, (uint64) entry->index)));
		}
	}
	ch->state.log.applied_index = entry->index;
	ch->state.log.applied_term = entry->term;
	return block;
}

/* Remembers a snapshot sent to a peer (see Channel.snapshot_sends). */
static void
channel_note_snapshot_sent(Channel *ch, raft_id to)
{
	TimestampTz now = OrderingClockNow();
	int i;

	for (i = 0; i < ch->leading.n_snapshot_sends; i++)
		if (ch->leading.snapshot_sends[i].to == to)
			break;
	if (i == ch->leading.n_snapshot_sends)
	{
		if (ch->leading.n_snapshot_sends >= RAFT_MAX_MEMBERS)
			return;
		ch->leading.n_snapshot_sends++;
	}
	ch->leading.snapshot_sends[i].to = to;
	ch->leading.snapshot_sends[i].sent_at = now;
}

/*
 * Forgets snapshots whose peer has left the snapshot state, and reports as
 * failed those unanswered for too long.
 */
void
ChannelExpireSnapshotSends(Channel *ch, TimestampTz now)
{
	raft_status *status;
	int kept = 0;

	if (ch->leading.n_snapshot_sends == 0)
		return;
	status = palloc(sizeof(raft_status));
	raft_get_status(ch->raft.node, status);
	for (int i = 0; i < ch->leading.n_snapshot_sends; i++)
	{
		raft_id to = ch->leading.snapshot_sends[i].to;
		bool waiting = false;

		for (uint32 p = 0; p < status->n_progress; p++)
			if (status->progress[p].id == to &&
				status->progress[p].state == RAFT_PROGRESS_SNAPSHOT)
				waiting = true;
		if (!waiting)
			continue;
		if (now - ch->leading.snapshot_sends[i].sent_at >=
			CHANNEL_SNAPSHOT_ACK_TIMEOUT_MS * (int64) 1000)
		{
			const ChannelMember *m = ChannelPeerById(ch, to);

			ereport(LOG,
					(errmsg("channel \"%s\": the snapshot sent to node \"%s\" is unanswered after %d s; it is sent again",
							ch->state.name, m != NULL ? m->node : "?",
							CHANNEL_SNAPSHOT_ACK_TIMEOUT_MS / 1000)));
			raft_report_snapshot(ch->raft.node, to, true);
			continue;
		}
		ch->leading.snapshot_sends[kept++] = ch->leading.snapshot_sends[i];
	}
	ch->leading.n_snapshot_sends = kept;
	pfree(status);
}

/* Sends rd's messages from .. to - 1. */
static void
channel_send_messages(Channel *ch, const raft_ready *rd, uint32 from,
					  uint32 to_end, List **unreachable)
{
	for (uint32 i = from; i < to_end; i++)
	{
		const raft_message *msg = &rd->messages[i];
		const ChannelMember *to = ChannelPeerById(ch, msg->to);
		size_t size = raft_message_encoded_size(msg);
		size_t written;
		uint8 *buf;
		int rc;
		bool sent;

		if (to == NULL || to->id == ch->state.self_id)
			continue;

		/*
		 * Whatever this node sends wakes its receiver, which then ticks
		 * towards an election until it hears this node go quiet again:
		 * so this node wakes too.  A quiet leader that proposed and
		 * committed between two of its ticks stayed quiet, and its woken
		 * followers elected another leader (TAP 098).  (Only when quiet:
		 * waking also restarts the count of idle ticks, which the
		 * heartbeats of a leader about to go quiet must not do.)
		 */
		if (ch->quiet.quiesced)
			ChannelWake(ch);
		if (size > RAFT_WIRE_MAX_BYTES)
		{
			elog(LOG, "channel \"%s\": message to %s too large (%zu bytes)",
				 ch->state.name, to->node, size);
			continue;
		}
		buf = palloc(size);
		rc = raft_message_encode(msg, buf, size, &written);
		if (rc != RAFT_OK)
			elog(ERROR, "could not encode a raft message: %s",
				 raft_strerror(rc));
		sent = ChannelSend(ch, to, ORDERING_RECORD_RAFT, buf, written);
		pfree(buf);
		if (sent && msg->type == RAFT_MSG_SNAP)
			channel_note_snapshot_sent(ch, msg->to);
		else if (!sent)
		{
			/* Reported after raft_advance: the ready belongs to the core. */
			raft_message *report = palloc0(sizeof(raft_message));

			report->type = msg->type == RAFT_MSG_SNAP ? RAFT_MSG_SNAP_STATUS
													  : RAFT_MSG_UNREACHABLE;
			report->to = msg->to;
			report->reject = !sent;
			*unreachable = lappend(*unreachable, report);
		}
	}
}

/* The nodes to ask first for a snapshot's blocks: the leader that sent it. */
static void
channel_snapshot_leaders(Channel *ch, raft_id ready_leader, CatchupPeers *leaders)
{
	const ChannelMember *m;

	memset(leaders, 0, sizeof(*leaders));
	if ((m = ChannelPeerById(ch, ready_leader)) != NULL)
		CatchupAddPeer(leaders, m->node, m->conninfo);
	if ((m = ChannelPeerById(ch, ch->raft.leader)) != NULL)
		CatchupAddPeer(leaders, m->node, m->conninfo);
}

/*
 * A snapshot far ahead of the chain: its blocks are pulled, and it is
 * installed, by a background worker (catchup_worker.c) while this channel
 * is parked and the others run on.  Returns true if it was handed over.
 */
static bool
channel_hand_over_catchup(Channel *ch, const raft_ready *rd)
{
	CatchupPeers leaders;
	int64 to_block;
	BackgroundWorkerHandle *worker;

	StoreBegin();
	to_block = CatchupSnapshotLastBlock(ch->state.name, &rd->snapshot);
	if (to_block - ch->state.chain.last_block <= CATCHUP_INLINE_MAX_BLOCKS)
	{
		StoreCommit();
		return false;
	}
	channel_snapshot_leaders(ch, rd->leader, &leaders);
	CatchupRecordRequest(ch->state.name, ChannelOwnUser(ch), &leaders,
						 &rd->snapshot, ch->state.chain.last_block + 1,
						 to_block);
	StoreCommit();
	worker = CatchupWorkerStart(ch->state.name, ch->top_cxt);
	if (worker == NULL)
		return false;
	ereport(LOG,
			(errmsg("channel \"%s\": a background worker pulls blocks " INT64_FORMAT
					" to " INT64_FORMAT
					" for the snapshot at index " UINT64_FORMAT,
					ch->state.name, ch->state.chain.last_block + 1, to_block,
					(uint64) rd->snapshot.meta.index)));
	ChannelPark(ch, worker, to_block);
	return true;
}

/*
 * Before a received snapshot is installed, the blocks it covers are pulled
 * from a peer into the same transaction: the leader that sent it first,
 * then the consenters the snapshot names, then the other members.
 */
static void
channel_pull_snapshot_blocks(Channel *ch, const raft_snapshot *snapshot)
{
	CatchupPeers leaders;
	CatchupPeers members;

	channel_snapshot_leaders(ch, ch->raft.ready_leader, &leaders);
	memset(&members, 0, sizeof(members));
	for (int i = 0; i < ch->state.n_members; i++)
		CatchupAddPeer(&members, ch->state.members[i].node,
					   ch->state.members[i].conninfo);
	CatchupPullBlocks(ch->state.name, ChannelOwnUser(ch), &leaders, &members,
					  snapshot, &ch->state.chain, CATCHUP_INLINE_TIMEOUT_MS);
	CatchupForgetRequest(ch->state.name); /* one left by a failed hand-over */
}

/*
 * Whether a ready's transaction must reach disk before its messages leave
 * and its waiters wake.  New entries, a snapshot, peer records, and a new
 * term, vote or recovery state must: Raft's promises rest on them.  What
 * is left, a higher commit index and the entries applied up to it, need
 * not: those entries are durable in the log of a majority (this node's
 * included), applying them is deterministic and starts again from the
 * durable applied_index after a crash, giving the same blocks at the same
 * places, and PostgreSQL's WAL never keeps a later commit without an
 * earlier one.  A lone submitter so waits for one flush on the leader,
 * not two.
 */
static bool
channel_ready_must_flush(const Channel *ch, const raft_ready *rd)
{
	const raft_hard_state *was = &ch->raft.durable;
	const raft_hard_state *hs = &rd->hard_state;

	if (rd->has_snapshot || rd->n_entries > 0 || rd->has_peers)
		return true;
	return rd->has_hard_state &&
		(hs->term != was->term || hs->vote != was->vote ||
		 hs->incarnation != was->incarnation || hs->boot != was->boot ||
		 hs->recovering != was->recovering);
}

/*
 * Handles one ready of the channel.  Returns false if there was none; sets
 * *wrote_blocks if blocks were applied (submitters have been woken).
 */
bool
ChannelProcessReady(Channel *ch, bool *wrote_blocks_out)
{
	raft_ready rd;
	int rc;
	bool wrote_blocks = false;
	TimestampTz now;
	List *reports = NIL;
	ListCell *lc;
	StringInfo snapshot_data = NULL;
	raft_storage view;
	raft_index last_index;
	int64 *entry_blocks = NULL;
	bool rebuild = false;
	ReadyPlaces done = { CurrentMemoryContext, NULL, 0, 0 };

	/* Adaptive cutting: what arrived, or gathered while blocks committed. */
	if (ch->raft.node != NULL)
		ChannelCutIfReady(ch);
	if (ch->raft.node == NULL || !raft_has_ready(ch->raft.node))
		return false;
	rc = raft_ready_get(ch->raft.node, &rd);
	if (rc != RAFT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("channel \"%s\": could not get a ready: %s",
						ch->state.name, raft_strerror(rc))));
	now = OrderingClockNow();

	if (rd.has_hard_state)
	{
		ch->raft.term = rd.hard_state.term;
		ch->raft.commit_index = rd.hard_state.commit;
	}

	/*
	 * 0. A leader's appends, heartbeats and snapshots leave before its own
	 * write (Raft thesis 10.2.1): the core counts the leader's entries
	 * toward commit only after raft_advance(), so commit still needs a
	 * quorum of durable copies, and this write runs alongside the
	 * followers' instead of before them.
	 */
	channel_send_messages(ch, &rd, 0, rd.n_early_messages, &reports);
	if (rd.n_early_messages > 0)
		TransportPoll(); /* on the wire now, not after this write */

	/* A long catch-up leaves this ready to a background worker. */
	if (rd.has_snapshot && channel_hand_over_catchup(ch, &rd))
		return false;

	/* 1. Persist, and apply what is committed, in one transaction. */
	if (rd.has_snapshot || rd.n_entries > 0 || rd.has_hard_state ||
		rd.has_peers || rd.n_committed > 0)
	{
		TimestampTz start = OrderingClockNow();
		double elapsed_ms;

		view = raft_memory_storage_view(ch->raft.storage);
		last_index = view.last_index(view.ud);
		if (rd.n_committed > 0)
			entry_blocks = palloc(sizeof(int64) * rd.n_committed);

		ch->raft.ready_leader = rd.leader;
		StoreBegin();
		StoreLockChannel(ch->state.name);
		if (rd.has_snapshot)
		{
			channel_pull_snapshot_blocks(ch, &rd.snapshot);
			StorePersistSnapshot(&ch->state, &rd.snapshot);
			/* Members and settings change with it: reread them. */
			rebuild = true;
		}
		StorePersistEntries(ch->state.name, &ch->state.log, rd.entries,
							rd.n_entries, last_index);
		/* With the applied index below when that is saved too. */
		if (rd.has_hard_state && rd.n_committed == 0 && rd.n_entries == 0)
			StorePersistHardState(ch->state.name, &rd.hard_state);
		if (rd.has_peers)
			StorePersistPeers(ch->state.name, rd.n_peers, rd.peers);
		for (uint32 i = 0; i < rd.n_committed; i++)
		{
			entry_blocks[i] = -1;
			if (rd.committed[i].index <= ch->state.log.applied_index)
				continue;
			entry_blocks[i] =
				channel_apply_entry(ch, &rd.committed[i], &rebuild, &done);
			if (entry_blocks[i] >= 0)
				wrote_blocks = true;
		}
		if (rd.n_committed > 0 || rd.n_entries > 0)
			StoreSaveApplied(&ch->state,
							 rd.has_hard_state ? &rd.hard_state : NULL);
		if (rd.n_committed > 0)
			snapshot_data = StoreMaybeSnapshot(&ch->state);
		if (rd.has_snapshot)
			ChannelForgetOrderedPending(ch);
		if (channel_ready_must_flush(ch, &rd))
			StoreCommit();
		else
			StoreCommitUnflushed();
		if (rd.has_hard_state)
		{
			ch->raft.durable = rd.hard_state;
			ChannelNoteRecovery(ch, rd.hard_state.recovering);
		}

		/* Committed: the waiters may have their places now. */
		OrderingSubmitWaitsComplete(ordering_shared->submit_waits,
									ch->state.name, done.places, done.n);
		if (rd.has_snapshot)
			OrderingSubmitWaitsMarkChannel(ordering_shared->submit_waits,
										   ch->state.name,
										   ORDERING_WAIT_RECHECK);

		elapsed_ms = (double) (OrderingClockNow() - start) / 1000.0;
		ch->counters.data_persist_count++;
		ch->counters.data_persist_total_ms += elapsed_ms;
		ch->counters.data_persist_last_ms = elapsed_ms;

		/* 2. Mirror into the memory storage the core reads. */
		if (rd.has_snapshot)
		{
			rc = raft_memory_storage_apply_snapshot(ch->raft.storage,
													&rd.snapshot);
			if (rc != RAFT_OK)
				elog(ERROR, "could not install a snapshot in memory: %s",
					 raft_strerror(rc));
		}
		if (rd.n_entries > 0)
		{
			rc = raft_memory_storage_append(ch->raft.storage, rd.entries,
											rd.n_entries);
			if (rc != RAFT_OK)
				elog(ERROR, "could not append to the memory log: %s",
					 raft_strerror(rc));
		}
	}

	/* 3. The others leave only now that what they depend on is durable. */
	channel_send_messages(ch, &rd, rd.n_early_messages, rd.n_messages, &reports);

	/* 4. Answer, wake, acknowledge. */
	for (uint32 i = 0; i < rd.n_committed; i++)
		if (ch->leading.n_admin_waits > 0)
			ChannelAnswerApplied(ch, &rd.committed[i], entry_blocks[i]);
	if (wrote_blocks)
	{
		/* Readers waiting for a block (sql/read.c) look when it moved. */
		ch->counters.status_dirty = true;
		ChannelPublishStatus(ch);
		ConditionVariableBroadcast(&ordering_shared->applied_cv);
	}
	{
		bool soft_changed = rd.soft_state_changed ||
			rd.leader != ch->raft.leader || rd.role != ch->raft.role;
		raft_role role = rd.role;
		raft_id leader = rd.leader;
		bool committed = rd.n_committed > 0;

		raft_advance(ch->raft.node, &rd);
		/* Rerouting may propose: only once the ready is acknowledged. */
		if (soft_changed)
			channel_soft_state(ch, role, leader, now);
		/* Entries committed: room for proposals backpressure held back. */
		if (committed && ch->routing.blocked != NIL)
			ChannelRetryBlocked(ch);
		if (wrote_blocks || soft_changed)
			ChannelMaybeProposeChainCheck(ch);
	}

	if (snapshot_data != NULL)
	{
		rc = raft_memory_storage_create_snapshot(ch->raft.storage,
												 ch->state.log.snapshot_index,
												 &ch->state.config,
												 (const uint8_t *)
													 snapshot_data->data,
												 snapshot_data->len);
		if (rc != RAFT_OK)
			elog(ERROR, "could not record a snapshot in memory: %s",
				 raft_strerror(rc));
		elog(DEBUG1, "channel \"%s\": snapshot at index " UINT64_FORMAT,
			 ch->state.name, (uint64) ch->state.log.snapshot_index);
	}

	foreach(lc, reports)
	{
		raft_message *report = lfirst(lc);

		if (report->type == RAFT_MSG_SNAP_STATUS)
			raft_report_snapshot(ch->raft.node, report->to, report->reject);
		else
			raft_report_unreachable(ch->raft.node, report->to);
	}

	/* Everything is durable and acknowledged: safe to start over. */
	if (rebuild)
		ChannelLoad(ch);

	ch->counters.status_dirty = true;
	ch->timers.backoff_ms = CHANNEL_BACKOFF_MIN_MS;
	if (wrote_blocks)
		*wrote_blocks_out = true;
	return true;
}
