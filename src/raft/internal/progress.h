/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  The leader's view of each peer: a small state machine (probe,
 *	  replicate, snapshot) with a bounded window of in-flight appends, and
 *	  the tracker that holds one progress per member plus election votes.
 *
 *	  probe:     one append at a time, until the peer's match is known
 *	  replicate: optimistic pipelining, at most max_inflight_msgs appends
 *	  snapshot:  paused until the peer reports the snapshot installed
 *
 * src/raft/internal/progress.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_INTERNAL_PROGRESS_H
#define RAFT_INTERNAL_PROGRESS_H

#include "../raft.h"

/* A ring of the last index of each append in flight, oldest first. */
typedef struct raft_inflights
{
	raft_index *buffer;
	uint32_t start;
	uint32_t count; /* count <= capacity */
	uint32_t capacity;
} raft_inflights;

typedef enum raft_vote_mark
{
	RAFT_VOTE_NONE = 0,
	RAFT_VOTE_GRANTED = 1,
	RAFT_VOTE_REJECTED = 2
} raft_vote_mark;

typedef struct raft_progress
{
	raft_id id;
	bool is_learner;

	/* Invariant: match < next.  match is what the peer has acknowledged. */
	raft_index match;
	raft_index next; /* next index to send */
	raft_progress_state state;
	raft_index pending_snapshot; /* snapshot index sent, in SNAPSHOT */
	raft_index sent_commit;		 /* highest commit index sent to the peer */

	bool recent_active;		  /* heard from since the last check-quorum */
	bool msg_app_flow_paused; /* probe sent, or window full */
	raft_inflights inflights; /* buffer: the tracker's pool slot */
	uint32_t slot;			  /* which pool slot */

	raft_vote_mark vote; /* in the current election */

	uint64_t match_life; /* the peer's life that acknowledged match */

	/* The peer lost state (recovery.c): caught up once it holds target. */
	bool recovering;
	uint64_t recovery_life; /* its life we gave the target to; 0: not
								 * heard from it since we told it */
	raft_index recovery_target;
} raft_progress;

/*
 * The inflight buffers of all members come from one pool allocated with
 * the tracker, so that a configuration change never allocates (and so
 * cannot fail half-way while the host has already applied it).
 */
typedef struct raft_tracker
{
	raft_config config;
	uint32_t max_inflight;
	raft_index *pool; /* RAFT_MAX_MEMBERS * max_inflight */
	bool slot_used[RAFT_MAX_MEMBERS];
	uint32_t n_progress;
	raft_progress progress[RAFT_MAX_MEMBERS]; /* one per voter/learner */
} raft_tracker;

extern void
raft_inflights_init(raft_inflights *in, raft_index *buffer, uint32_t capacity);
extern bool raft_inflights_full(const raft_inflights *in);
extern void raft_inflights_add(raft_inflights *in, raft_index index);
extern void raft_inflights_free_le(raft_inflights *in, raft_index index);
extern void raft_inflights_reset(raft_inflights *in);

extern void raft_progress_reset(raft_progress *pr, raft_index last_index);
extern void raft_progress_forget(raft_progress *pr, raft_index next);
extern void raft_progress_lower_match(raft_progress *pr, raft_index match);
extern void raft_progress_become_probe(raft_progress *pr);
extern void raft_progress_become_replicate(raft_progress *pr);
extern void
raft_progress_become_snapshot(raft_progress *pr, raft_index snapshot_index);
extern bool raft_progress_maybe_update(raft_progress *pr, raft_index index);
extern bool raft_progress_maybe_decr_to(raft_progress *pr, raft_index rejected,
										raft_index match_hint);
extern void raft_progress_sent_entries(raft_progress *pr, uint32_t n_entries);
extern bool raft_progress_is_paused(const raft_progress *pr);

extern int raft_tracker_init(raft_tracker *tracker, uint32_t max_inflight);
extern void raft_tracker_destroy(raft_tracker *tracker);
extern void
raft_tracker_set_config(raft_tracker *tracker, const raft_config *config,
						raft_index last_index);
extern raft_progress *raft_tracker_get(raft_tracker *tracker, raft_id id);
extern const raft_progress *
raft_tracker_get_const(const raft_tracker *tracker, raft_id id);
extern raft_index raft_tracker_committed(const raft_tracker *tracker);
extern bool raft_tracker_quorum_active(const raft_tracker *tracker);
extern void raft_tracker_reset_votes(raft_tracker *tracker);
extern void
raft_tracker_record_vote(raft_tracker *tracker, raft_id id, bool granted);
extern int raft_tracker_tally(const raft_tracker *tracker, uint32_t *granted,
							  uint32_t *rejected);

#endif /* RAFT_INTERNAL_PROGRESS_H */
