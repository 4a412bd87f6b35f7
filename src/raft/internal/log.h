/*-------------------------------------------------------------------------
 *
 * log.h
 *	  The Raft log as the core sees it: the host's stable storage (read
 *	  only) followed by the unstable tail the host has not persisted yet.
 *
 *	  stable storage:   [first_index - 1 (snapshot) | first_index .. ]
 *	  unstable:                       [snapshot?] [offset .. offset + n - 1]
 *
 * The unstable tail wins where the two overlap: entries at or above
 * unstable.offset are read only from the unstable tail, because storage
 * may still hold a suffix that the tail has since replaced.
 *
 * src/raft/internal/log.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_INTERNAL_LOG_H
#define RAFT_INTERNAL_LOG_H

#include "../raft.h"

typedef struct raft_unstable
{
	/* A snapshot received from the leader, not yet persisted by the host. */
	bool has_snapshot;
	raft_snapshot snapshot; /* data owned */

	/*
	 * Entries not yet persisted: entries[i].index == offset + i.  Each
	 * entry's data is its own allocation.  When has_snapshot,
	 * offset == snapshot.meta.index + 1.
	 */
	raft_entry *entries;
	uint32_t n_entries;
	uint32_t capacity;
	raft_index offset;
} raft_unstable;

typedef struct raft_log
{
	raft_storage storage;
	raft_unstable unstable;

	/*
	 * Invariants:  applied <= committed <= last_index
	 *              committed >= first_index - 1
	 * (applied may lag first_index - 1 only while a received snapshot is
	 * unstable: advance() moves applied up to the snapshot.)
	 */
	raft_index committed; /* highest index known committed */
	raft_index applied;	  /* highest index the host has applied */
} raft_log;

extern int raft_log_init(raft_log *log, const raft_storage *storage,
						 raft_index committed, raft_index applied);
extern void raft_log_destroy(raft_log *log);

extern raft_index raft_log_first_index(const raft_log *log);
extern raft_index raft_log_last_index(const raft_log *log);
extern int raft_log_term(const raft_log *log, raft_index index, raft_term *term);
extern raft_term raft_log_term_or_zero(const raft_log *log, raft_index index);
extern raft_term raft_log_last_term(const raft_log *log);
extern bool
raft_log_match_term(const raft_log *log, raft_index index, raft_term term);
extern bool
raft_log_is_up_to_date(const raft_log *log, raft_index index, raft_term term);
extern raft_index raft_log_durable_last(const raft_log *log);

extern void
raft_log_find_conflict_by_term(const raft_log *log, raft_index index,
							   raft_term term, raft_index *hint_index,
							   raft_term *hint_term);
extern int raft_log_maybe_append(raft_log *log, raft_index prev_index,
								 raft_term prev_term, raft_index commit,
								 const raft_entry *entries, uint32_t n,
								 bool *accepted, raft_index *last_new);
extern int raft_log_append(raft_log *log, const raft_entry *entries, uint32_t n);

extern void raft_log_commit_to(raft_log *log, raft_index index);
extern bool
raft_log_maybe_commit(raft_log *log, raft_index index, raft_term term);
extern void raft_log_applied_to(raft_log *log, raft_index index);
extern void raft_log_stable_to(raft_log *log, raft_index index, raft_term term);
extern void raft_log_stable_snap_to(raft_log *log, raft_index index);
extern void raft_log_restore(raft_log *log, raft_snapshot *snapshot);
extern int
raft_log_snapshot(const raft_log *log, const raft_snapshot **snapshot);

extern int raft_log_slice(const raft_log *log, raft_index lo, raft_index hi,
						  uint64_t max_bytes, raft_entry **entries, uint32_t *n);
extern bool raft_log_has_next_committed(const raft_log *log);
extern int raft_log_next_committed(const raft_log *log, uint64_t max_bytes,
								   raft_entry **entries, uint32_t *n);

#endif /* RAFT_INTERNAL_LOG_H */
