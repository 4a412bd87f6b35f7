/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  What the core accepts from outside: messages from peers (raft_step)
 *	  and the state a host loads back from its disk (raft_node_create).
 *
 * Everything here returns an error for input the core cannot take, so that
 * no peer and no corrupt table can reach an assertion: the message is
 * dropped (RAFT_ERR_INVALID, RAFT_ERR_TOO_LARGE, RAFT_ERR_OUT_OF_RANGE) or
 * the load refused (RAFT_ERR_CORRUPT).  src/raft/README.md lists what is
 * refused and why.
 *
 * src/raft/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "internal/core.h"

static bool
is_local_type(raft_message_type type)
{
	return type == RAFT_MSG_HUP || type == RAFT_MSG_BEAT ||
		type == RAFT_MSG_PROP || type == RAFT_MSG_UNREACHABLE ||
		type == RAFT_MSG_SNAP_STATUS;
}

static bool
is_entry_type(raft_entry_type type)
{
	return type == RAFT_ENTRY_NORMAL || type == RAFT_ENTRY_CONF_CHANGE;
}

static bool
in_range(uint64_t number)
{
	return number < RAFT_NUMBER_LIMIT;
}

/* Every term and index below RAFT_NUMBER_LIMIT (the decoder's bound). */
static bool
numbers_in_range(const raft_message *msg)
{
	if (!in_range(msg->term) || !in_range(msg->log_term) ||
		!in_range(msg->index) || !in_range(msg->commit) ||
		!in_range(msg->reject_hint))
		return false;
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		if (!in_range(msg->entries[i].term) || !in_range(msg->entries[i].index))
			return false;
	}
	return msg->snapshot == NULL ||
		(in_range(msg->snapshot->meta.index) &&
		 in_range(msg->snapshot->meta.term));
}

/* Entries must follow index, in order, of terms between log_term and term. */
static int
validate_append(const raft_message *msg)
{
	raft_term previous = msg->log_term;

	if (msg->log_term > msg->term)
		return RAFT_ERR_INVALID;
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		const raft_entry *e = &msg->entries[i];

		if (e->index != msg->index + 1 + i || e->term < previous ||
			e->term > msg->term || (e->size > 0 && e->data == NULL) ||
			!is_entry_type(e->type))
			return RAFT_ERR_INVALID;
		previous = e->term;
	}
	return RAFT_OK;
}

static int
validate_snapshot(const raft_message *msg)
{
	const raft_snapshot *s = msg->snapshot;

	if (s == NULL || s->meta.index == 0 || s->meta.term == 0 ||
		s->meta.term > msg->term || !raft_config_is_valid(&s->meta.config) ||
		(s->data_size > 0 && s->data == NULL))
		return RAFT_ERR_INVALID;
	return RAFT_OK;
}

int
raft_validate_peer_message(const raft_node *node, const raft_message *msg)
{
	if ((unsigned) msg->type >= RAFT_MSG_TYPE_COUNT || is_local_type(msg->type))
		return RAFT_ERR_INVALID;
	if (msg->from == RAFT_NONE || msg->from == node->id ||
		msg->to != node->id || msg->term == 0)
		return RAFT_ERR_INVALID;
	if (msg->n_entries > RAFT_WIRE_MAX_ENTRIES)
		return RAFT_ERR_TOO_LARGE;
	if (msg->n_entries > 0 && (msg->type != RAFT_MSG_APP || msg->entries == NULL))
		return RAFT_ERR_INVALID;
	if ((msg->snapshot != NULL) != (msg->type == RAFT_MSG_SNAP))
		return RAFT_ERR_INVALID;
	if (!numbers_in_range(msg))
		return RAFT_ERR_OUT_OF_RANGE;
	/* node->term < RAFT_NUMBER_LIMIT: the sum cannot overflow. */
	if (msg->term > node->term + RAFT_MAX_TERM_JUMP)
		return RAFT_ERR_OUT_OF_RANGE;
	if (msg->type == RAFT_MSG_APP)
		return validate_append(msg);
	if (msg->type == RAFT_MSG_SNAP)
		return validate_snapshot(msg);
	return RAFT_OK;
}

/*
 * The hard state and the log the host stored must be in range and agree:
 * a vote needs a term, no entry is newer than the term, commit and
 * applied are within the log.
 */
int
raft_validate_stored_state(const raft_options *options)
{
	const raft_hard_state *hs = &options->hard_state;
	const raft_storage *storage = &options->storage;
	raft_index first = storage->first_index(storage->ud);
	raft_index last = storage->last_index(storage->ud);
	raft_term last_term = 0;

	if (!in_range(hs->term) || !in_range(hs->commit) ||
		!in_range(options->applied) || !in_range(last))
		return RAFT_ERR_CORRUPT;
	if (hs->vote != RAFT_NONE && hs->term == 0)
		return RAFT_ERR_CORRUPT;
	if (first == 0 || last + 1 < first)
		return RAFT_ERR_CORRUPT;
	if (storage->term(storage->ud, last, &last_term) != RAFT_OK ||
		last_term > hs->term || !in_range(last_term))
		return RAFT_ERR_CORRUPT;
	return RAFT_OK;
}
