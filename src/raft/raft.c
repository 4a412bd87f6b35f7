/*-------------------------------------------------------------------------
 *
 * raft.c
 *	  Creating a node, the public entry points, and Step: the one place
 *	  that handles message terms and role-independent messages before
 *	  handing the rest to the role's step function.
 *
 * The role step functions are plain switches on the message type and hold
 * no term logic: by the time they run, msg->term == node->term (or the
 * message is local).
 *
 * src/raft/raft.c
 *
 *-------------------------------------------------------------------------
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "raft_internal.h"

/* ---- outgoing messages ------------------------------------------------ */

void
raft_message_queue_clear(raft_message_queue *queue)
{
	for (uint32_t i = 0; i < queue->n; i++)
		raft_message_release(&queue->items[i]);
	free(queue->items);
	memset(queue, 0, sizeof(*queue));
}

static bool
is_vote_type(uint8_t type)
{
	return type == RAFT_MSG_VOTE || type == RAFT_MSG_VOTE_RESP ||
		type == RAFT_MSG_PREVOTE || type == RAFT_MSG_PREVOTE_RESP;
}

/*
 * Queues msg for the next ready, taking ownership of what it points at.
 * Vote messages carry the term the caller chose (the campaign's term, or
 * the request's term for a granted answer); every other message carries
 * ours.  On NOMEM the message is dropped, which Raft tolerates as loss.
 */
int
raft_send(raft_node *node, raft_message *msg)
{
	raft_message_queue *queue = &node->msgs;

	if (msg->from == RAFT_NONE)
		msg->from = node->id;
	assert(msg->to != RAFT_NONE && msg->to != node->id);
	if (is_vote_type(msg->type))
		assert(msg->term != 0);
	else
	{
		assert(msg->term == 0);
		msg->term = node->term;
	}
	if (queue->n == queue->capacity)
	{
		uint32_t	capacity = queue->capacity == 0 ? 16 : queue->capacity * 2;
		raft_message *grown = realloc(queue->items,
									  (size_t) capacity * sizeof(raft_message));

		if (grown == NULL)
		{
			raft_message_release(msg);
			return RAFT_ERR_NOMEM;
		}
		queue->items = grown;
		queue->capacity = capacity;
	}
	queue->items[queue->n++] = *msg;
	return RAFT_OK;
}

/* ---- role step functions ---------------------------------------------- */

static int
step_leader_propose(raft_node *node, const raft_message *msg)
{
	raft_entry *entries;
	raft_index	pending_conf_index = node->pending_conf_index;
	int			rc;

	assert(msg->n_entries > 0);
	/* A leader removed from the configuration takes no new proposals. */
	if (raft_tracker_get(&node->tracker, node->id) == NULL)
		return RAFT_ERR_PROPOSAL_DROPPED;
	if (node->lead_transferee != RAFT_NONE)
		return RAFT_ERR_PROPOSAL_DROPPED;
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		if (msg->entries[i].type != RAFT_ENTRY_CONF_CHANGE)
			continue;
		if (node->pending_conf_index > node->log.applied ||
			!raft_committed_entry_in_current_term(node))
			return RAFT_ERR_CONF_CHANGE_PENDING;
		pending_conf_index = raft_log_last_index(&node->log) + i + 1;
	}
	/* The log copies what it keeps; stamp indexes and terms on a copy. */
	rc = raft_entries_copy(msg->entries, msg->n_entries, &entries);
	if (rc != RAFT_OK)
		return rc;
	rc = raft_append_entries_as_leader(node, entries, msg->n_entries);
	free(entries);
	if (rc != RAFT_OK)
		return rc;
	node->pending_conf_index = pending_conf_index;
	return raft_bcast_append(node);
}

static int
step_leader(raft_node *node, const raft_message *msg)
{
	raft_progress *pr;

	/* These need no progress for msg->from. */
	switch (msg->type)
	{
		case RAFT_MSG_BEAT:
			return raft_bcast_heartbeat(node);
		case RAFT_MSG_PROP:
			return step_leader_propose(node, msg);
		default:
			break;
	}

	pr = raft_tracker_get(&node->tracker, msg->from);
	if (pr == NULL)
		return RAFT_OK;			/* not (or no longer) a member */
	switch (msg->type)
	{
		case RAFT_MSG_APP_RESP:
			return raft_handle_append_response(node, pr, msg);
		case RAFT_MSG_HEARTBEAT_RESP:
			return raft_handle_heartbeat_response(node, pr);
		case RAFT_MSG_SNAP_STATUS:
			if (pr->state != RAFT_PROGRESS_SNAPSHOT)
				return RAFT_OK;
			/* On failure, forget the snapshot or we'd probe past it. */
			if (msg->reject)
				pr->pending_snapshot = 0;
			raft_progress_become_probe(pr);
			/* Wait for an APP_RESP, or a heartbeat interval to retry. */
			pr->msg_app_flow_paused = true;
			return RAFT_OK;
		case RAFT_MSG_UNREACHABLE:
			/* An optimistic append was probably lost: probe again. */
			if (pr->state == RAFT_PROGRESS_REPLICATE)
				raft_progress_become_probe(pr);
			return RAFT_OK;
		case RAFT_MSG_TRANSFER_LEADER:
			return raft_handle_transfer_leader(node, pr, msg);
		default:
			return RAFT_OK;
	}
}

/* Shared by pre-candidates and candidates. */
static int
step_candidate(raft_node *node, const raft_message *msg)
{
	uint8_t		my_response = node->role == RAFT_PRECANDIDATE ?
		RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;

	switch (msg->type)
	{
		case RAFT_MSG_PROP:
			return RAFT_ERR_PROPOSAL_DROPPED;
		case RAFT_MSG_TRANSFER_LEADER:
			return RAFT_ERR_PROPOSAL_DROPPED;
		case RAFT_MSG_APP:
			/* A leader of our term exists: "return to follower state". */
			raft_become_follower(node, msg->term, msg->from);
			return raft_handle_append_entries(node, msg);
		case RAFT_MSG_HEARTBEAT:
			raft_become_follower(node, msg->term, msg->from);
			return raft_handle_heartbeat(node, msg);
		case RAFT_MSG_SNAP:
			raft_become_follower(node, msg->term, msg->from);
			return raft_handle_snapshot(node, msg);
		case RAFT_MSG_PREVOTE_RESP:
		case RAFT_MSG_VOTE_RESP:
			/* Stale pre-vote answers may reach a candidate: skip them. */
			if (msg->type != my_response)
				return RAFT_OK;
			return raft_handle_vote_response(node, msg);
		default:
			return RAFT_OK;
	}
}

static int
step_follower(raft_node *node, const raft_message *msg)
{
	raft_message forward;

	switch (msg->type)
	{
		case RAFT_MSG_PROP:
			/* The host routes proposals to the leader itself. */
			return RAFT_ERR_PROPOSAL_DROPPED;
		case RAFT_MSG_APP:
			node->election_elapsed = 0;
			node->leader = msg->from;
			return raft_handle_append_entries(node, msg);
		case RAFT_MSG_HEARTBEAT:
			node->election_elapsed = 0;
			node->leader = msg->from;
			return raft_handle_heartbeat(node, msg);
		case RAFT_MSG_SNAP:
			node->election_elapsed = 0;
			node->leader = msg->from;
			return raft_handle_snapshot(node, msg);
		case RAFT_MSG_TRANSFER_LEADER:
			if (node->leader == RAFT_NONE)
				return RAFT_ERR_PROPOSAL_DROPPED;
			/* Forward to the leader; from stays the transferee. */
			memset(&forward, 0, sizeof(forward));
			forward.type = RAFT_MSG_TRANSFER_LEADER;
			forward.from = msg->from;
			forward.to = node->leader;
			return raft_send(node, &forward);
		case RAFT_MSG_TIMEOUT_NOW:
			/* Leader transfer: campaign now, without pre-vote. */
			return raft_hup(node, RAFT_CAMPAIGN_TRANSFER);
		default:
			return RAFT_OK;
	}
}

/* ---- Step ------------------------------------------------------------- */

/*
 * "If RPC request or response contains term T > currentTerm: set
 * currentTerm = T, convert to follower" (Raft paper, figure 2), with the
 * pre-vote and check-quorum exceptions of etcd.  Returns true if the
 * message should be processed further.
 */
static bool
step_higher_term(raft_node *node, const raft_message *msg)
{
	if (msg->type == RAFT_MSG_VOTE || msg->type == RAFT_MSG_PREVOTE)
	{
		bool		force = msg->context == RAFT_CAMPAIGN_TRANSFER_CONTEXT;
		bool		in_lease = node->check_quorum &&
			node->leader != RAFT_NONE &&
			node->election_elapsed < node->election_tick;

		/*
		 * "If a server receives a RequestVote request within the minimum
		 * election timeout of hearing from a current leader, it does not
		 * update its term or grant its vote" (Raft thesis, 4.2.3).
		 */
		if (!force && in_lease)
			return false;
	}
	if (msg->type == RAFT_MSG_PREVOTE)
		return true;			/* never change term for a pre-vote */
	if (msg->type == RAFT_MSG_PREVOTE_RESP && !msg->reject)
		return true;			/* granted for our future term */
	if (msg->type == RAFT_MSG_APP || msg->type == RAFT_MSG_HEARTBEAT ||
		msg->type == RAFT_MSG_SNAP)
		raft_become_follower(node, msg->term, msg->from);
	else
		raft_become_follower(node, msg->term, RAFT_NONE);
	return true;
}

/*
 * A message from an older term.  Usually ignored; but a leader stuck in an
 * old term (its followers moved on while it was partitioned, and now ignore
 * it because of pre-vote or check-quorum) must learn the new term, so we
 * answer its appends; and an old pre-candidate gets a rejection carrying
 * our term instead of silence, so it cannot deadlock.
 */
static int
step_lower_term(raft_node *node, const raft_message *msg)
{
	raft_message reply;

	memset(&reply, 0, sizeof(reply));
	reply.to = msg->from;
	if ((node->check_quorum || node->pre_vote) &&
		(msg->type == RAFT_MSG_HEARTBEAT || msg->type == RAFT_MSG_APP))
	{
		reply.type = RAFT_MSG_APP_RESP;
		return raft_send(node, &reply);
	}
	if (msg->type == RAFT_MSG_PREVOTE)
	{
		reply.type = RAFT_MSG_PREVOTE_RESP;
		reply.term = node->term;
		reply.reject = true;
		return raft_send(node, &reply);
	}
	return RAFT_OK;
}

int
raft_step_internal(raft_node *node, const raft_message *msg)
{
	assert(node != NULL && msg != NULL);
	assert(msg->type < RAFT_MSG_TYPE_COUNT);

	if (msg->term > node->term)
	{
		if (!step_higher_term(node, msg))
			return RAFT_OK;
	}
	else if (msg->term != 0 && msg->term < node->term)
		return step_lower_term(node, msg);

	switch (msg->type)
	{
		case RAFT_MSG_HUP:
			return raft_hup(node, node->pre_vote ? RAFT_CAMPAIGN_PRE_ELECTION :
							RAFT_CAMPAIGN_ELECTION);
		case RAFT_MSG_VOTE:
		case RAFT_MSG_PREVOTE:
			return raft_handle_vote_request(node, msg);
		default:
			break;
	}
	switch (node->role)
	{
		case RAFT_LEADER:
			return step_leader(node, msg);
		case RAFT_CANDIDATE:
		case RAFT_PRECANDIDATE:
			return step_candidate(node, msg);
		case RAFT_FOLLOWER:
			return step_follower(node, msg);
	}
	assert(!"unknown role");
	return RAFT_ERR_INVALID;
}

/* ---- validating what comes from the network --------------------------- */

static bool
is_local_type(uint8_t type)
{
	return type == RAFT_MSG_HUP || type == RAFT_MSG_BEAT ||
		type == RAFT_MSG_PROP || type == RAFT_MSG_UNREACHABLE ||
		type == RAFT_MSG_SNAP_STATUS;
}

static int
validate_append(const raft_message *msg)
{
	raft_term	previous = msg->log_term;

	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		const raft_entry *e = &msg->entries[i];

		if (e->index != msg->index + 1 + i || e->term < previous ||
			e->term > msg->term || (e->size > 0 && e->data == NULL) ||
			e->type > RAFT_ENTRY_CONF_CHANGE)
			return RAFT_ERR_INVALID;
		previous = e->term;
	}
	return RAFT_OK;
}

static int
validate_peer_message(const raft_node *node, const raft_message *msg)
{
	if (msg->type >= RAFT_MSG_TYPE_COUNT || is_local_type(msg->type))
		return RAFT_ERR_INVALID;
	if (msg->from == RAFT_NONE || msg->from == node->id ||
		msg->to != node->id || msg->term == 0)
		return RAFT_ERR_INVALID;
	if (msg->n_entries > RAFT_WIRE_MAX_ENTRIES)
		return RAFT_ERR_TOO_LARGE;
	if (msg->n_entries > 0 &&
		(msg->type != RAFT_MSG_APP || msg->entries == NULL))
		return RAFT_ERR_INVALID;
	if (msg->type == RAFT_MSG_APP)
		return validate_append(msg);
	if (msg->type == RAFT_MSG_SNAP)
	{
		const raft_snapshot *s = msg->snapshot;

		if (s == NULL || s->meta.index == 0 || s->meta.term == 0 ||
			s->meta.term > msg->term || !raft_config_is_valid(&s->meta.config) ||
			(s->data_size > 0 && s->data == NULL))
			return RAFT_ERR_INVALID;
	}
	return RAFT_OK;
}

/* ---- public API ------------------------------------------------------- */

static int
apply_option_defaults(const raft_options *options, raft_node *node)
{
	node->election_tick = options->election_tick ? options->election_tick :
		RAFT_DEFAULT_ELECTION_TICK;
	node->heartbeat_tick = options->heartbeat_tick ? options->heartbeat_tick :
		RAFT_DEFAULT_HEARTBEAT_TICK;
	node->max_size_per_msg = options->max_size_per_msg ?
		options->max_size_per_msg : RAFT_DEFAULT_MAX_SIZE_PER_MSG;
	node->max_committed_size_per_ready = options->max_committed_size_per_ready ?
		options->max_committed_size_per_ready :
		RAFT_DEFAULT_MAX_COMMITTED_SIZE_PER_READY;
	node->pre_vote = !options->disable_pre_vote;
	node->check_quorum = !options->disable_check_quorum;
	if (node->heartbeat_tick >= node->election_tick ||
		node->election_tick > UINT32_MAX / 2 ||
		node->max_size_per_msg > RAFT_MAX_SIZE_PER_MSG_LIMIT ||
		options->max_inflight_msgs > RAFT_MAX_INFLIGHT_LIMIT)
		return RAFT_ERR_INVALID;
	/* Mix the id in, so that equal seeds still give distinct timeouts. */
	node->prng = options->seed ^ (options->id * UINT64_C(0x9e3779b97f4a7c15));
	return RAFT_OK;
}

/* The configuration to start with: the host's, else its snapshot's. */
static int
initial_config(const raft_options *options, raft_config *config)
{
	const raft_snapshot *snapshot = NULL;
	int			rc;

	*config = options->config;
	if (config->n_voters > 0 || config->n_learners > 0)
		return raft_config_is_valid(config) ? RAFT_OK : RAFT_ERR_INVALID;
	rc = options->storage.snapshot(options->storage.ud, &snapshot);
	if (rc != RAFT_OK)
		return rc;
	if (snapshot != NULL && snapshot->meta.index > 0)
		*config = snapshot->meta.config;
	return raft_config_is_valid(config) ? RAFT_OK : RAFT_ERR_INVALID;
}

int
raft_node_create(const raft_options *options, raft_node **out)
{
	raft_node  *node;
	raft_config config;
	uint32_t	max_inflight;
	int			rc;

	if (options == NULL || out == NULL || options->id == RAFT_NONE ||
		!options->storage.term || !options->storage.entries ||
		!options->storage.first_index || !options->storage.last_index ||
		!options->storage.snapshot)
		return RAFT_ERR_INVALID;
	*out = NULL;
	node = calloc(1, sizeof(*node));
	if (node == NULL)
		return RAFT_ERR_NOMEM;
	node->id = options->id;
	max_inflight = options->max_inflight_msgs ? options->max_inflight_msgs :
		RAFT_DEFAULT_MAX_INFLIGHT_MSGS;
	raft_tracker_init(&node->tracker, max_inflight);

	rc = apply_option_defaults(options, node);
	if (rc == RAFT_OK)
		rc = initial_config(options, &config);
	if (rc == RAFT_OK)
		rc = raft_log_init(&node->log, &options->storage,
						   options->hard_state.commit, options->applied);
	if (rc == RAFT_OK)
		rc = raft_tracker_set_config(&node->tracker, &config,
									 raft_log_last_index(&node->log));
	if (rc != RAFT_OK)
	{
		raft_node_destroy(node);
		return rc;
	}
	node->config_index = node->log.applied;
	node->term = options->hard_state.term;
	node->vote = options->hard_state.vote;
	node->prev_hard_state = options->hard_state;
	raft_become_follower(node, node->term, RAFT_NONE);
	node->prev_role = node->role;
	node->prev_leader = node->leader;
	*out = node;
	return RAFT_OK;
}

void
raft_node_destroy(raft_node *node)
{
	if (node == NULL)
		return;
	raft_release_ready(node);
	raft_message_queue_clear(&node->msgs);
	raft_tracker_destroy(&node->tracker);
	raft_log_destroy(&node->log);
	free(node);
}

void
raft_tick(raft_node *node)
{
	assert(node != NULL);
	if (node->role == RAFT_LEADER)
		raft_tick_heartbeat(node);
	else
		raft_tick_election(node);
}

int
raft_step(raft_node *node, const raft_message *msg)
{
	int			rc;

	if (node == NULL || msg == NULL)
		return RAFT_ERR_INVALID;
	rc = validate_peer_message(node, msg);
	if (rc != RAFT_OK)
		return rc;
	return raft_step_internal(node, msg);
}

static raft_message
local_message(uint8_t type, raft_id from)
{
	raft_message msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	msg.from = from;
	return msg;
}

int
raft_campaign(raft_node *node)
{
	raft_message msg = local_message(RAFT_MSG_HUP, node->id);

	return raft_step_internal(node, &msg);
}

static int
propose_entry(raft_node *node, uint8_t type, const uint8_t *data,
			  uint32_t size)
{
	raft_message msg = local_message(RAFT_MSG_PROP, node->id);
	raft_entry	entry;

	if (size > RAFT_MAX_PROPOSAL_BYTES)
		return RAFT_ERR_TOO_LARGE;
	if (size > 0 && data == NULL)
		return RAFT_ERR_INVALID;
	memset(&entry, 0, sizeof(entry));
	entry.type = type;
	entry.size = size;
	entry.data = (uint8_t *) data;	/* read only: the log copies it */
	msg.n_entries = 1;
	msg.entries = &entry;
	return raft_step_internal(node, &msg);
}

int
raft_propose(raft_node *node, const uint8_t *data, uint32_t size)
{
	assert(node != NULL);
	return propose_entry(node, RAFT_ENTRY_NORMAL, data, size);
}

/*
 * One change at a time: refused while an earlier change is unapplied, or
 * before an entry of this leader's term has committed (the leader may not
 * yet know the latest configuration; Raft thesis 4.1 and etcd).
 */
int
raft_propose_conf_change(raft_node *node, const raft_conf_change *change)
{
	raft_config next;
	uint8_t    *buffer;
	size_t		size;
	size_t		written = 0;
	int			rc;

	assert(node != NULL);
	if (change == NULL)
		return RAFT_ERR_INVALID;
	if (node->role != RAFT_LEADER || node->lead_transferee != RAFT_NONE)
		return RAFT_ERR_PROPOSAL_DROPPED;
	if (node->pending_conf_index > node->log.applied ||
		!raft_committed_entry_in_current_term(node))
		return RAFT_ERR_CONF_CHANGE_PENDING;
	next = node->tracker.config;
	rc = raft_config_apply(&next, change);
	if (rc != RAFT_OK)
		return rc;

	size = raft_conf_change_encoded_size(change);
	if (size == 0 || size > RAFT_MAX_PROPOSAL_BYTES)
		return RAFT_ERR_TOO_LARGE;
	buffer = malloc(size);
	if (buffer == NULL)
		return RAFT_ERR_NOMEM;
	rc = raft_conf_change_encode(change, buffer, size, &written);
	if (rc == RAFT_OK)
		rc = propose_entry(node, RAFT_ENTRY_CONF_CHANGE, buffer,
						   (uint32_t) written);
	free(buffer);
	return rc;
}

int
raft_transfer_leader(raft_node *node, raft_id to)
{
	raft_message msg = local_message(RAFT_MSG_TRANSFER_LEADER, to);

	assert(node != NULL);
	if (to == RAFT_NONE)
		return RAFT_ERR_INVALID;
	if (node->role == RAFT_LEADER &&
		!raft_config_is_member(&node->tracker.config, to))
		return RAFT_ERR_INVALID;
	return raft_step_internal(node, &msg);
}

void
raft_report_unreachable(raft_node *node, raft_id peer)
{
	raft_message msg = local_message(RAFT_MSG_UNREACHABLE, peer);

	assert(node != NULL);
	(void) raft_step_internal(node, &msg);
}

void
raft_report_snapshot(raft_node *node, raft_id peer, bool failed)
{
	raft_message msg = local_message(RAFT_MSG_SNAP_STATUS, peer);

	assert(node != NULL);
	msg.reject = failed;
	(void) raft_step_internal(node, &msg);
}
