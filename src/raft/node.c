/*-------------------------------------------------------------------------
 *
 * node.c
 *	  Creating and destroying a node, and the public entry points: each
 *	  checks its arguments and turns the call into one step of a message.
 *
 * Messages from peers and the state the host loads are checked first
 * (validate.c): nothing from outside reaches Step or the log unchecked.
 *
 * src/raft/node.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

/* ---- public API ------------------------------------------------------- */

static int
apply_option_defaults(const raft_options *options, raft_node *node)
{
	node->election_tick = options->election_tick ? options->election_tick
												 : RAFT_DEFAULT_ELECTION_TICK;
	node->heartbeat_tick = options->heartbeat_tick
		? options->heartbeat_tick
		: RAFT_DEFAULT_HEARTBEAT_TICK;
	node->max_size_per_msg = options->max_size_per_msg
		? options->max_size_per_msg
		: RAFT_DEFAULT_MAX_SIZE_PER_MSG;
	node->max_committed_size_per_ready = options->max_committed_size_per_ready
		? options->max_committed_size_per_ready
		: RAFT_DEFAULT_MAX_COMMITTED_SIZE_PER_READY;
	node->max_uncommitted_bytes = options->max_uncommitted_bytes
		? options->max_uncommitted_bytes
		: RAFT_DEFAULT_MAX_UNCOMMITTED_BYTES;
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
	int rc;

	*config = options->config;
	if (config->n_voters > 0 || config->n_learners > 0)
		return raft_config_is_valid(config) ? RAFT_OK : RAFT_ERR_CORRUPT;
	rc = options->storage.snapshot(options->storage.ud, &snapshot);
	if (rc != RAFT_OK)
		return rc;
	if (snapshot != NULL && snapshot->meta.index > 0)
		*config = snapshot->meta.config;
	return raft_config_is_valid(config) ? RAFT_OK : RAFT_ERR_CORRUPT;
}

int
raft_node_create(const raft_options *options, raft_node **out)
{
	raft_node *node;
	raft_config config;
	uint32_t max_inflight;
	int rc;

	if (options == NULL || out == NULL || options->id == RAFT_NONE ||
		!options->storage.term || !options->storage.entries ||
		!options->storage.first_index || !options->storage.last_index ||
		!options->storage.snapshot)
		return RAFT_ERR_INVALID;
	*out = NULL;
	rc = raft_validate_stored_state(options);
	if (rc != RAFT_OK)
		return rc;
	node = raft_calloc(1, sizeof(*node));
	if (node == NULL)
		return RAFT_ERR_NOMEM;
	node->id = options->id;
	max_inflight = options->max_inflight_msgs ? options->max_inflight_msgs
											  : RAFT_DEFAULT_MAX_INFLIGHT_MSGS;
	rc = apply_option_defaults(options, node);
	if (rc == RAFT_OK)
		rc = raft_tracker_init(&node->tracker, max_inflight);
	if (rc == RAFT_OK)
		rc = initial_config(options, &config);
	if (rc == RAFT_OK)
		rc = raft_log_init(&node->log, &options->storage,
						   options->hard_state.commit, options->applied);
	if (rc == RAFT_OK)
		raft_tracker_set_config(&node->tracker, &config,
								raft_log_last_index(&node->log));
	if (rc == RAFT_OK)
		rc = raft_recovery_init(node, options);
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
	raft_recovery_hello(node);
	node->prev_role = node->role;
	node->prev_leader = node->leader;
	raft_assert_invariants(node);
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
	raft_free(node);
}

void
raft_tick(raft_node *node)
{
	RAFT_ASSERT(node != NULL);
	raft_recovery_tick(node);
	if (node->role == RAFT_LEADER)
		raft_tick_heartbeat(node);
	else
		raft_tick_election(node);
	raft_assert_invariants(node);
}

int
raft_step(raft_node *node, const raft_message *msg)
{
	int rc;

	if (node == NULL || msg == NULL)
		return RAFT_ERR_INVALID;
	rc = raft_validate_peer_message(node, msg);
	if (rc != RAFT_OK)
		return rc;
	rc = raft_recovery_check_sender(node, msg);
	/* A HELLO has told who its sender is; that was all it had to say. */
	if (rc == RAFT_OK && msg->type != RAFT_MSG_HELLO)
		rc = raft_step_internal(node, msg);
	raft_recovery_maybe_finish(node);
	raft_assert_invariants(node);
	return rc;
}

static raft_message
local_message(raft_message_type type, raft_id from)
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
	int rc;

	rc = raft_step_internal(node, &msg);
	raft_assert_invariants(node);
	return rc;
}

static int
propose_entry(raft_node *node, raft_entry_type type, const uint8_t *data,
			  uint32_t size)
{
	raft_message msg = local_message(RAFT_MSG_PROP, node->id);
	raft_entry entry;
	int rc;

	if (size > RAFT_MAX_PROPOSAL_BYTES)
		return RAFT_ERR_TOO_LARGE;
	if (size > 0 && data == NULL)
		return RAFT_ERR_INVALID;
	memset(&entry, 0, sizeof(entry));
	entry.type = type;
	entry.size = size;
	entry.data = (uint8_t *) data; /* read only: the log copies it */
	msg.n_entries = 1;
	msg.entries = &entry;
	rc = raft_step_internal(node, &msg);
	raft_assert_invariants(node);
	return rc;
}

int
raft_propose(raft_node *node, const uint8_t *data, uint32_t size)
{
	RAFT_ASSERT(node != NULL);
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
	uint8_t *buffer;
	size_t size;
	size_t written = 0;
	int rc;

	RAFT_ASSERT(node != NULL);
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
	buffer = raft_malloc(size);
	if (buffer == NULL)
		return RAFT_ERR_NOMEM;
	rc = raft_conf_change_encode(change, buffer, size, &written);
	if (rc == RAFT_OK)
		rc = propose_entry(node, RAFT_ENTRY_CONF_CHANGE, buffer,
						   (uint32_t) written);
	raft_free(buffer);
	return rc;
}

int
raft_transfer_leader(raft_node *node, raft_id to)
{
	raft_message msg = local_message(RAFT_MSG_TRANSFER_LEADER, to);
	int rc;

	RAFT_ASSERT(node != NULL);
	if (to == RAFT_NONE)
		return RAFT_ERR_INVALID;
	if (node->role == RAFT_LEADER &&
		!raft_config_is_member(&node->tracker.config, to))
		return RAFT_ERR_INVALID;
	rc = raft_step_internal(node, &msg);
	raft_assert_invariants(node);
	return rc;
}

void
raft_report_unreachable(raft_node *node, raft_id peer)
{
	raft_message msg = local_message(RAFT_MSG_UNREACHABLE, peer);

	RAFT_ASSERT(node != NULL);
	(void) raft_step_internal(node, &msg);
	raft_assert_invariants(node);
}

void
raft_report_snapshot(raft_node *node, raft_id peer, bool failed)
{
	raft_message msg = local_message(RAFT_MSG_SNAP_STATUS, peer);

	RAFT_ASSERT(node != NULL);
	msg.reject = failed;
	(void) raft_step_internal(node, &msg);
	raft_assert_invariants(node);
}
