/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Per-peer replication progress and the tracker of all members, after
 *	  etcd's tracker package.
 *
 * src/raft/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

/* ---- inflights -------------------------------------------------------- */

void
raft_inflights_init(raft_inflights *in, raft_index *buffer, uint32_t capacity)
{
	RAFT_ASSERT(buffer != NULL && capacity > 0);
	in->buffer = buffer;
	in->start = 0;
	in->count = 0;
	in->capacity = capacity;
}

bool
raft_inflights_full(const raft_inflights *in)
{
	RAFT_ASSERT(in->count <= in->capacity);
	return in->count == in->capacity;
}

/* Records an append whose last entry is index; indexes only grow. */
void
raft_inflights_add(raft_inflights *in, raft_index index)
{
	RAFT_ASSERT(!raft_inflights_full(in));
	RAFT_ASSERT(in->count == 0 ||
				in->buffer[(in->start + in->count - 1) % in->capacity] < index);
	in->buffer[(in->start + in->count) % in->capacity] = index;
	in->count++;
}

/* The peer acknowledged up to index: every append at or below it landed. */
void
raft_inflights_free_le(raft_inflights *in, raft_index index)
{
	while (in->count > 0 && in->buffer[in->start] <= index)
	{
		in->start = (in->start + 1) % in->capacity;
		in->count--;
	}
	if (in->count == 0)
		in->start = 0;
}

void
raft_inflights_reset(raft_inflights *in)
{
	in->start = 0;
	in->count = 0;
}

/* ---- one peer's progress ---------------------------------------------- */

static void
progress_reset_state(raft_progress *pr, raft_progress_state state)
{
	pr->msg_app_flow_paused = false;
	pr->pending_snapshot = 0;
	pr->state = state;
	raft_inflights_reset(&pr->inflights);
}

/* A new term (or a new leader): nothing is known about the peer. */
void
raft_progress_reset(raft_progress *pr, raft_index last_index)
{
	progress_reset_state(pr, RAFT_PROGRESS_PROBE);
	pr->match = 0;
	pr->next = last_index + 1;
	pr->sent_commit = 0;
	pr->recent_active = false;
	pr->vote = RAFT_VOTE_NONE;
	pr->match_life = 0;
	pr->recovering = false;
	pr->recovery_life = 0;
	pr->recovery_target = 0;
}

/*
 * The peer lost what it had acknowledged: nothing it said before counts
 * (match 0), and we probe from next, where it really is.
 */
void
raft_progress_forget(raft_progress *pr, raft_index next)
{
	RAFT_ASSERT(next > 0);
	progress_reset_state(pr, RAFT_PROGRESS_PROBE);
	pr->match = 0;
	pr->next = next;
	pr->sent_commit = 0;
}

/*
 * The peer says its log ends at match, below what it acknowledged: believe
 * it and probe from just after (counting less never commits more).
 */
void
raft_progress_lower_match(raft_progress *pr, raft_index match)
{
	RAFT_ASSERT(match < pr->match);
	progress_reset_state(pr, RAFT_PROGRESS_PROBE);
	pr->match = match;
	pr->next = match + 1;
	if (pr->sent_commit > match)
		pr->sent_commit = match;
}

/*
 * Probe from just after what the peer has: after a snapshot, from just
 * after the snapshot if the peer is not yet known to have more.
 */
void
raft_progress_become_probe(raft_progress *pr)
{
	if (pr->state == RAFT_PROGRESS_SNAPSHOT)
	{
		raft_index pending = pr->pending_snapshot;

		progress_reset_state(pr, RAFT_PROGRESS_PROBE);
		pr->next = (pr->match + 1 > pending + 1) ? pr->match + 1 : pending + 1;
	}
	else
	{
		progress_reset_state(pr, RAFT_PROGRESS_PROBE);
		pr->next = pr->match + 1;
	}
	RAFT_ASSERT(pr->match < pr->next);
}

void
raft_progress_become_replicate(raft_progress *pr)
{
	progress_reset_state(pr, RAFT_PROGRESS_REPLICATE);
	pr->next = pr->match + 1;
}

void
raft_progress_become_snapshot(raft_progress *pr, raft_index snapshot_index)
{
	progress_reset_state(pr, RAFT_PROGRESS_SNAPSHOT);
	pr->pending_snapshot = snapshot_index;
}

/* An acknowledgement up to index; true if it moved match forward. */
bool
raft_progress_maybe_update(raft_progress *pr, raft_index index)
{
	bool updated = false;

	if (pr->match < index)
	{
		pr->match = index;
		updated = true;
		pr->msg_app_flow_paused = false;
	}
	if (pr->next < index + 1)
		pr->next = index + 1;
	RAFT_ASSERT(pr->match < pr->next);
	return updated;
}

/*
 * A rejection of the append after index rejected, with the peer's hint.
 * Returns false for a stale rejection (one we already moved past).
 */
bool
raft_progress_maybe_decr_to(raft_progress *pr, raft_index rejected,
							raft_index match_hint)
{
	raft_index next;

	if (pr->state == RAFT_PROGRESS_REPLICATE)
	{
		if (rejected <= pr->match)
			return false;
		/* Pipelined: fall back to probing right after the known match. */
		pr->next = pr->match + 1;
		return true;
	}
	/* Probing: only the rejection of our latest probe counts. */
	if (pr->next - 1 != rejected)
		return false;
	next = rejected < match_hint + 1 ? rejected : match_hint + 1;
	if (next < pr->match + 1)
		next = pr->match + 1;
	pr->next = next;
	pr->msg_app_flow_paused = false;
	RAFT_ASSERT(pr->match < pr->next);
	return true;
}

/* Bookkeeping after sending an append carrying n_entries entries. */
void
raft_progress_sent_entries(raft_progress *pr, uint32_t n_entries)
{
	switch (pr->state)
	{
		case RAFT_PROGRESS_REPLICATE:
			if (n_entries > 0)
			{
				pr->next += n_entries;
				raft_inflights_add(&pr->inflights, pr->next - 1);
			}
			pr->msg_app_flow_paused = raft_inflights_full(&pr->inflights);
			break;
		case RAFT_PROGRESS_PROBE:
			/* One probe per heartbeat interval, until the peer answers. */
			pr->msg_app_flow_paused = true;
			break;
		default:
			RAFT_ASSERT(!"append sent to a peer in snapshot state");
	}
}

bool
raft_progress_is_paused(const raft_progress *pr)
{
	switch (pr->state)
	{
		case RAFT_PROGRESS_PROBE:
		case RAFT_PROGRESS_REPLICATE:
			return pr->msg_app_flow_paused;
		case RAFT_PROGRESS_SNAPSHOT:
			return true;
	}
	RAFT_ASSERT(!"unknown progress state");
	return true;
}

/* ---- the tracker ------------------------------------------------------ */

int
raft_tracker_init(raft_tracker *tracker, uint32_t max_inflight)
{
	RAFT_ASSERT(max_inflight > 0);
	memset(tracker, 0, sizeof(*tracker));
	tracker->max_inflight = max_inflight;
	tracker->pool = raft_malloc((size_t) RAFT_MAX_MEMBERS * max_inflight *
								sizeof(raft_index));
	if (tracker->pool == NULL)
		return RAFT_ERR_NOMEM;
	return RAFT_OK;
}

void
raft_tracker_destroy(raft_tracker *tracker)
{
	raft_free(tracker->pool);
	memset(tracker, 0, sizeof(*tracker));
}

raft_progress *
raft_tracker_get(raft_tracker *tracker, raft_id id)
{
	for (uint32_t i = 0; i < tracker->n_progress; i++)
	{
		if (tracker->progress[i].id == id)
			return &tracker->progress[i];
	}
	return NULL;
}

const raft_progress *
raft_tracker_get_const(const raft_tracker *tracker, raft_id id)
{
	return raft_tracker_get((raft_tracker *) tracker, id);
}

static uint32_t
take_slot(raft_tracker *tracker)
{
	for (uint32_t slot = 0; slot < RAFT_MAX_MEMBERS; slot++)
	{
		if (!tracker->slot_used[slot])
		{
			tracker->slot_used[slot] = true;
			return slot;
		}
	}
	RAFT_ASSERT(!"no free inflight slot: more than RAFT_MAX_MEMBERS members");
	return 0;
}

/*
 * Switches to config, keeping the progress of members that stay.  A new
 * member starts probing at last_index + 1 and counts as recently active,
 * so that check-quorum does not depose the leader before it had a chance
 * to hear from it.  Never fails: buffers come from the pool.
 */
void
raft_tracker_set_config(raft_tracker *tracker, const raft_config *config,
						raft_index last_index)
{
	raft_progress next[RAFT_MAX_MEMBERS];
	bool kept[RAFT_MAX_MEMBERS] = { false };
	uint32_t n = 0;
	uint32_t total = config->n_voters + config->n_learners;

	RAFT_ASSERT(raft_config_is_valid(config));
	RAFT_ASSERT(total <= RAFT_MAX_MEMBERS);
	for (uint32_t i = 0; i < total; i++)
	{
		bool learner = i >= config->n_voters;
		raft_id id = learner ? config->learners[i - config->n_voters]
							 : config->voters[i];
		raft_progress *old = raft_tracker_get(tracker, id);

		if (old != NULL)
		{
			next[n] = *old;
			kept[old - tracker->progress] = true;
		}
		else
		{
			memset(&next[n], 0, sizeof(next[n]));
			next[n].id = id;
			next[n].slot = UINT32_MAX; /* assigned below */
			raft_progress_reset(&next[n], last_index);
			next[n].recent_active = true;
		}
		next[n].is_learner = learner;
		n++;
	}
	/* Free the slots of members that left, then give new ones theirs. */
	for (uint32_t i = 0; i < tracker->n_progress; i++)
	{
		if (!kept[i])
			tracker->slot_used[tracker->progress[i].slot] = false;
	}
	for (uint32_t i = 0; i < n; i++)
	{
		if (next[i].slot != UINT32_MAX)
			continue;
		next[i].slot = take_slot(tracker);
		raft_inflights_init(&next[i].inflights,
							tracker->pool +
								(size_t) next[i].slot * tracker->max_inflight,
							tracker->max_inflight);
	}
	memcpy(tracker->progress, next, (size_t) n * sizeof(raft_progress));
	tracker->n_progress = n;
	tracker->config = *config;
}

/* The largest index matched by a quorum of voters (learners don't count). */
raft_index
raft_tracker_committed(const raft_tracker *tracker)
{
	raft_index match[RAFT_MAX_MEMBERS];
	uint32_t n = 0;

	for (uint32_t i = 0; i < tracker->n_progress; i++)
	{
		if (!tracker->progress[i].is_learner)
			match[n++] = tracker->progress[i].match;
	}
	RAFT_ASSERT(n == tracker->config.n_voters);
	return raft_quorum_committed_index(match, n);
}

/* Has a quorum of voters been heard from since the last check? */
bool
raft_tracker_quorum_active(const raft_tracker *tracker)
{
	uint32_t active = 0;
	uint32_t inactive = 0;

	for (uint32_t i = 0; i < tracker->n_progress; i++)
	{
		if (tracker->progress[i].is_learner)
			continue;
		if (tracker->progress[i].recent_active)
			active++;
		else
			inactive++;
	}
	return raft_quorum_vote_result(active + inactive, active, inactive) ==
		RAFT_VOTE_WON;
}

void
raft_tracker_reset_votes(raft_tracker *tracker)
{
	for (uint32_t i = 0; i < tracker->n_progress; i++)
		tracker->progress[i].vote = RAFT_VOTE_NONE;
}

/* Records the first answer of a voter in this election; others ignored. */
void
raft_tracker_record_vote(raft_tracker *tracker, raft_id id, bool granted)
{
	raft_progress *pr = raft_tracker_get(tracker, id);

	if (pr == NULL || pr->is_learner || pr->vote != RAFT_VOTE_NONE)
		return;
	pr->vote = granted ? RAFT_VOTE_GRANTED : RAFT_VOTE_REJECTED;
}

int
raft_tracker_tally(const raft_tracker *tracker, uint32_t *granted,
				   uint32_t *rejected)
{
	*granted = 0;
	*rejected = 0;
	for (uint32_t i = 0; i < tracker->n_progress; i++)
	{
		const raft_progress *pr = &tracker->progress[i];

		if (pr->is_learner)
			continue;
		if (pr->vote == RAFT_VOTE_GRANTED)
			(*granted)++;
		else if (pr->vote == RAFT_VOTE_REJECTED)
			(*rejected)++;
	}
	return (int) raft_quorum_vote_result(tracker->config.n_voters, *granted,
										 *rejected);
}
