/*-------------------------------------------------------------------------
 *
 * channel_admin.c
 *	  Admin requests from backends (update_channel_config, add_consenter,
 *	  remove_consenter, update_consenter, transfer_leadership): proposed
 *	  by the leader, answered when their entry applies.
 *
 * A backend fills a slot of OrderingShared.admin and waits; the worker
 * takes it here, proposes it or refuses it at once, and answers through
 * the slot.
 *
 * src/worker/channel_admin.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/condition_variable.h"
#include "storage/lwlock.h"

#include "common/clock.h"
#include "common/entry.h"
#include "common/gucs.h"
#include "store/chain.h"
#include "store/spi.h"
#include "worker/channel_internal.h"

void
ChannelAnswerAdmin(int slot, uint64 ticket, int sqlstate, const char *message,
				   int64 block)
{
	OrderingAdminRequest *req = &ordering_shared->admin[slot];

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	/* A backend that gave up sets ticket to 0: drop the answer then. */
	if (req->ticket == ticket && req->state == ORDERING_ADMIN_WORKING)
	{
		req->result_sqlstate = sqlstate;
		strlcpy(req->result_message, message ? message : "",
				sizeof(req->result_message));
		req->result_block = block;
		req->state = ORDERING_ADMIN_DONE;
	}
	LWLockRelease(&ordering_shared->lock);
	ConditionVariableBroadcast(&ordering_shared->admin_cv);
}

void
ChannelFailAdminWaits(Channel *ch, int sqlstate, const char *message)
{
	for (int i = 0; i < ch->leading.n_admin_waits; i++)
		ChannelAnswerAdmin(ch->leading.admin_waits[i].slot,
						   ch->leading.admin_waits[i].ticket, sqlstate,
						   message, -1);
	ch->leading.n_admin_waits = 0;
	if (ch->leading.handoff_pending)
		ChannelAnswerAdmin(ch->leading.handoff_slot,
						   ch->leading.handoff_ticket, sqlstate, message, -1);
	ch->leading.handoff_pending = false;
}

/* Answers the admin request (if any) waiting for entry. */
void
ChannelAnswerApplied(Channel *ch, const raft_entry *entry, int64 block)
{
	for (int i = 0; i < ch->leading.n_admin_waits; i++)
	{
		ChannelAdminWait *w = &ch->leading.admin_waits[i];

		if (w->index != entry->index)
			continue;
		if (w->term == entry->term)
			ChannelAnswerAdmin(w->slot, w->ticket, 0, NULL, block);
		else
			ChannelAnswerAdmin(w->slot, w->ticket,
							   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							   "the leader changed before the change was committed; retry",
							   -1);
		ch->leading.admin_waits[i] =
			ch->leading.admin_waits[--ch->leading.n_admin_waits];
		i--;
	}
}

static raft_id
channel_new_raft_id(Channel *ch)
{
	raft_id max_id;

	StoreBegin();
	max_id = StoreMaxRaftIdEver(&ch->state);
	StoreCommit();
	return max_id + 1;
}

/*
 * Takes an admin request (its slot is WORKING) and proposes it, or answers
 * it at once when it cannot be proposed here.  Returns false, unanswered,
 * for a removal that a leader elected less than an election timeout ago
 * cannot judge yet: it has heard from few voters, and the one asking just
 * after the old leader handed its leadership on was refused "fewer than a
 * quorum".  The worker takes it again.
 */
bool
ChannelTakeAdminRequest(Channel *ch, int slot, const OrderingAdminRequest *req)
{
	const ChannelMember *m = NULL;
	raft_status status;
	int rc = RAFT_OK;

	if (!ChannelIsLeader(ch))
	{
		char *message;

		if (ch->state.removed)
			message =
				psprintf("this node is no longer a consenter of channel %s",
						 ch->state.name);
		else if (ch->raft.node != NULL && ch->raft.leader != RAFT_NONE)
			message =
				psprintf("node %s is not the leader of channel %s; the leader is %s",
						 ordering_node_name, ch->state.name,
						 ChannelLeaderName(ch));
		else
			message = psprintf("channel %s has no leader", ch->state.name);
		ChannelAnswerAdmin(slot, req->ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, message,
						   -1);
		return true;
	}
	if (req->kind != ORDERING_ADMIN_UPDATE_CONFIG)
	{
		m = ChannelMemberByNode(ch, req->node);
		if (m == NULL && req->kind != ORDERING_ADMIN_ADD_CONSENTER)
		{
			ChannelAnswerAdmin(slot, req->ticket, ERRCODE_UNDEFINED_OBJECT,
							   psprintf("node %s is not a consenter of channel %s",
										req->node, ch->state.name),
							   -1);
			return true;
		}
		if (m != NULL && req->kind == ORDERING_ADMIN_ADD_CONSENTER)
		{
			ChannelAnswerAdmin(slot, req->ticket, ERRCODE_DUPLICATE_OBJECT,
							   psprintf("node %s is already a consenter of channel %s",
										req->node, ch->state.name),
							   -1);
			return true;
		}
	}
	if (req->kind == ORDERING_ADMIN_ADD_CONSENTER ||
		req->kind == ORDERING_ADMIN_REMOVE_CONSENTER ||
		req->kind == ORDERING_ADMIN_UPDATE_CONSENTER)
	{
		bool too_few_heard;
		char *refusal =
			ChannelCheckMembershipChange(ch, req->kind, m, &too_few_heard);

		if (refusal != NULL && too_few_heard &&
			OrderingClockNow() - ch->leading.since <
				ChannelElectionTimeoutMs(ch) * (int64) 1000)
			return false;
		if (refusal != NULL)
		{
			ChannelAnswerAdmin(slot, req->ticket,
							   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							   refusal, -1);
			return true;
		}
	}
	if (req->kind != ORDERING_ADMIN_TRANSFER_LEADER &&
		ch->leading.n_admin_waits >= CHANNEL_MAX_ADMIN_WAITS)
	{
		ChannelAnswerAdmin(slot, req->ticket, ERRCODE_INSUFFICIENT_RESOURCES,
						   "too many pending admin requests", -1);
		return true;
	}

	if (req->kind == ORDERING_ADMIN_REMOVE_CONSENTER &&
		m->id == ch->state.self_id && ChannelStartHandoff(ch, slot, req->ticket))
		return true;

	switch (req->kind)
	{
		case ORDERING_ADMIN_UPDATE_CONFIG:
		{
			char *merged;
			StringInfoData buf;

			merged = OrderingSettingsMerge(ch->state.settings_json, req->arg);
			initStringInfo(&buf);
			EntrySettingsEncode(&buf, merged);
			rc = raft_propose(ch->raft.node, (const uint8_t *) buf.data,
							  buf.len);
			break;
		}
		case ORDERING_ADMIN_ADD_CONSENTER:
		case ORDERING_ADMIN_REMOVE_CONSENTER:
			if (req->kind == ORDERING_ADMIN_ADD_CONSENTER)
			{
				/* A new node catches up as a learner first. */
				rc = ChannelProposeConfChange(ch, RAFT_CONF_ADD_LEARNER,
											  channel_new_raft_id(ch),
											  req->node, req->arg);
			}
			else
				rc = ChannelProposeConfChange(ch, RAFT_CONF_REMOVE, m->id,
											  m->node, m->conninfo);
			break;
		case ORDERING_ADMIN_UPDATE_CONSENTER:
			/*
			 * A change that keeps the node's kind is no change to the
			 * core's configuration: only its context, the new conninfo,
			 * which every member applies to its consenters.
			 */
			rc = ChannelProposeConfChange(ch,
										  m->is_learner ? RAFT_CONF_ADD_LEARNER
														: RAFT_CONF_ADD_VOTER,
										  m->id, m->node, req->arg);
			break;
		case ORDERING_ADMIN_TRANSFER_LEADER:
			rc = raft_transfer_leader(ch->raft.node, m->id);
			ChannelAnswerAdmin(slot, req->ticket,
							   rc == RAFT_OK
								   ? 0
								   : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
							   rc == RAFT_OK
								   ? NULL
								   : psprintf("could not transfer leadership: %s",
											  raft_strerror(rc)),
							   -1);
			return true;
		default:
			ChannelAnswerAdmin(slot, req->ticket, ERRCODE_FEATURE_NOT_SUPPORTED,
							   psprintf("unknown admin request kind %d",
										req->kind),
							   -1);
			return true;
	}

	if (rc != RAFT_OK)
	{
		ch->counters.proposal_failures++;
		ch->counters.status_dirty = true;
		ChannelAnswerAdmin(slot, req->ticket,
						   ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
						   rc == RAFT_ERR_CONF_CHANGE_PENDING
							   ? psprintf("a membership change is already in progress on channel %s",
										  ch->state.name)
							   : psprintf("could not propose the change: %s",
										  raft_strerror(rc)),
						   -1);
		return true;
	}

	/* The proposal is the leader's last entry: answer when it applies. */
	raft_get_status(ch->raft.node, &status);
	ch->leading.admin_waits[ch->leading.n_admin_waits].slot = slot;
	ch->leading.admin_waits[ch->leading.n_admin_waits].ticket = req->ticket;
	ch->leading.admin_waits[ch->leading.n_admin_waits].index = status.last_index;
	ch->leading.admin_waits[ch->leading.n_admin_waits].term =
		status.hard_state.term;
	ch->leading.n_admin_waits++;
	return true;
}
