/*-------------------------------------------------------------------------
 *
 * log.c
 *	  Index arithmetic over stable storage plus the unstable tail, after
 *	  etcd's raftLog and unstable.
 *
 * The core never writes storage.  New entries land in the unstable tail,
 * the host persists what a ready hands it, and raft_advance() calls
 * raft_log_stable_to() to drop the persisted prefix of the tail.
 *
 * src/raft/log.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

/* ---- the unstable tail ------------------------------------------------ */

static bool
unstable_maybe_first_index(const raft_unstable *u, raft_index *index)
{
	if (!u->has_snapshot)
		return false;
	*index = u->snapshot.meta.index + 1;
	return true;
}

static bool
unstable_maybe_last_index(const raft_unstable *u, raft_index *index)
{
	if (u->n_entries > 0)
	{
		*index = u->offset + u->n_entries - 1;
		return true;
	}
	if (u->has_snapshot)
	{
		*index = u->snapshot.meta.index;
		return true;
	}
	return false;
}

static bool
unstable_maybe_term(const raft_unstable *u, raft_index index, raft_term *term)
{
	raft_index last;

	if (index < u->offset)
	{
		if (u->has_snapshot && u->snapshot.meta.index == index)
		{
			*term = u->snapshot.meta.term;
			return true;
		}
		return false;
	}
	if (!unstable_maybe_last_index(u, &last) || index > last)
		return false;
	RAFT_ASSERT(u->n_entries > 0);
	*term = u->entries[index - u->offset].term;
	RAFT_ASSERT(u->entries[index - u->offset].index == index);
	return true;
}

static void
unstable_free_range(raft_unstable *u, uint32_t from, uint32_t to)
{
	RAFT_ASSERT(from <= to && to <= u->n_entries);
	for (uint32_t i = from; i < to; i++)
		raft_free(u->entries[i].data);
}

static int
unstable_reserve(raft_unstable *u, uint32_t needed)
{
	uint32_t capacity;
	raft_entry *grown;

	if (needed <= u->capacity)
		return RAFT_OK;
	capacity = u->capacity < 16 ? 16 : u->capacity;
	while (capacity < needed)
		capacity *= 2;
	grown = raft_realloc(u->entries, (size_t) capacity * sizeof(raft_entry));
	if (grown == NULL)
		return RAFT_ERR_NOMEM;
	u->entries = grown;
	u->capacity = capacity;
	return RAFT_OK;
}

/*
 * Appends copies of entries, first dropping any suffix of the tail they
 * replace.  Copies are made before anything changes, so on failure the
 * tail is untouched.
 */
static int
unstable_truncate_and_append(raft_unstable *u, const raft_entry *entries,
							 uint32_t n)
{
	raft_index after = entries[0].index;
	raft_entry *copies;
	uint32_t keep;
	int rc;

	RAFT_ASSERT(n > 0);
	copies = raft_malloc((size_t) n * sizeof(raft_entry));
	if (copies == NULL)
		return RAFT_ERR_NOMEM;
	for (uint32_t i = 0; i < n; i++)
	{
		rc = raft_entry_copy(&entries[i], &copies[i]);
		if (rc != RAFT_OK)
		{
			for (uint32_t j = 0; j < i; j++)
				raft_free(copies[j].data);
			raft_free(copies);
			return rc;
		}
	}

	if (after <= u->offset)
		keep = 0; /* replaces the whole tail (and maybe more) */
	else
	{
		RAFT_ASSERT(after <= u->offset + u->n_entries); /* no gap */
		keep = (uint32_t) (after - u->offset);
	}
	rc = unstable_reserve(u, keep + n);
	if (rc != RAFT_OK)
	{
		for (uint32_t j = 0; j < n; j++)
			raft_free(copies[j].data);
		raft_free(copies);
		return rc;
	}
	unstable_free_range(u, keep, u->n_entries);
	if (keep == 0)
		u->offset = after;
	memcpy(&u->entries[keep], copies, (size_t) n * sizeof(raft_entry));
	u->n_entries = keep + n;
	raft_free(copies);
	RAFT_ASSERT(u->entries[0].index == u->offset);
	return RAFT_OK;
}

static void
unstable_destroy(raft_unstable *u)
{
	unstable_free_range(u, 0, u->n_entries);
	raft_free(u->entries);
	if (u->has_snapshot)
		raft_snapshot_clear(&u->snapshot);
	memset(u, 0, sizeof(*u));
}

/* ---- the whole log ---------------------------------------------------- */

int
raft_log_init(raft_log *log, const raft_storage *storage, raft_index committed,
			  raft_index applied)
{
	raft_index first;
	raft_index last;

	RAFT_ASSERT(log != NULL && storage != NULL);
	RAFT_ASSERT(storage->term && storage->entries && storage->first_index &&
				storage->last_index && storage->snapshot);
	memset(log, 0, sizeof(*log));
	log->storage = *storage;
	first = storage->first_index(storage->ud);
	last = storage->last_index(storage->ud);
	if (first == 0 || last + 1 < first)
		return RAFT_ERR_CORRUPT;
	/* The snapshot's index is committed and applied by definition. */
	if (committed < first - 1)
		committed = first - 1;
	if (applied < first - 1)
		applied = first - 1;
	if (committed > last || applied > committed)
		return RAFT_ERR_CORRUPT;
	log->unstable.offset = last + 1;
	log->committed = committed;
	log->applied = applied;
	return RAFT_OK;
}

void
raft_log_destroy(raft_log *log)
{
	unstable_destroy(&log->unstable);
}

raft_index
raft_log_first_index(const raft_log *log)
{
	raft_index index;

	if (unstable_maybe_first_index(&log->unstable, &index))
		return index;
	return log->storage.first_index(log->storage.ud);
}

raft_index
raft_log_last_index(const raft_log *log)
{
	raft_index index;

	if (unstable_maybe_last_index(&log->unstable, &index))
		return index;
	return log->storage.last_index(log->storage.ud);
}

/*
 * Term of entry index.  The valid range is [first_index - 1, last_index]:
 * the entry just before first_index is compacted, but its term is kept for
 * matching appends against it.
 */
int
raft_log_term(const raft_log *log, raft_index index, raft_term *term)
{
	int rc;

	RAFT_ASSERT(term != NULL);
	if (unstable_maybe_term(&log->unstable, index, term))
		return RAFT_OK;
	if (index + 1 < raft_log_first_index(log))
		return RAFT_ERR_COMPACTED;
	if (index > raft_log_last_index(log))
		return RAFT_ERR_UNAVAILABLE;
	rc = log->storage.term(log->storage.ud, index, term);
	RAFT_ASSERT(rc <= RAFT_OK);
	return rc;
}

raft_term
raft_log_term_or_zero(const raft_log *log, raft_index index)
{
	raft_term term = 0;

	if (raft_log_term(log, index, &term) != RAFT_OK)
		return 0;
	return term;
}

raft_term
raft_log_last_term(const raft_log *log)
{
	return raft_log_term_or_zero(log, raft_log_last_index(log));
}

bool
raft_log_match_term(const raft_log *log, raft_index index, raft_term term)
{
	raft_term ours;

	if (raft_log_term(log, index, &ours) != RAFT_OK)
		return false;
	return ours == term;
}

/*
 * "If the logs have last entries with different terms, then the log with
 * the later term is more up-to-date.  If the logs end with the same term,
 * then whichever log is longer is more up-to-date." (Raft paper, 5.4.1)
 */
bool
raft_log_is_up_to_date(const raft_log *log, raft_index index, raft_term term)
{
	raft_term last_term = raft_log_last_term(log);

	return term > last_term ||
		(term == last_term && index >= raft_log_last_index(log));
}

/*
 * The last index the host has durably stored and that still belongs to
 * our log: everything below the unstable tail.
 */
raft_index
raft_log_durable_last(const raft_log *log)
{
	RAFT_ASSERT(!log->unstable.has_snapshot);
	if (log->unstable.n_entries > 0)
		return log->unstable.offset - 1;
	return raft_log_last_index(log);
}

/*
 * The largest (index, term) at or below index whose term is <= term: the
 * hint for fast log backtracking.  Every entry above it has a larger term
 * than the probe's, so cannot match it ("log term only goes up").
 */
void
raft_log_find_conflict_by_term(const raft_log *log, raft_index index,
							   raft_term term, raft_index *hint_index,
							   raft_term *hint_term)
{
	for (; index > 0; index--)
	{
		raft_term ours;

		if (raft_log_term(log, index, &ours) != RAFT_OK)
		{
			/* Compacted or unavailable: no better hint than index. */
			*hint_index = index;
			*hint_term = 0;
			return;
		}
		if (ours <= term)
		{
			*hint_index = index;
			*hint_term = ours;
			return;
		}
	}
	*hint_index = 0;
	*hint_term = 0;
}

/*
 * The index of the first entry that conflicts with (or is missing from)
 * our log, or 0 if all entries are already there with matching terms.
 */
static raft_index
find_conflict(const raft_log *log, const raft_entry *entries, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
	{
		if (!raft_log_match_term(log, entries[i].index, entries[i].term))
			return entries[i].index;
	}
	return 0;
}

/*
 * AppendEntries receiver rules (Raft paper, figure 2):
 *  2. Reply false if log doesn't contain an entry at prevLogIndex whose
 *     term matches prevLogTerm.
 *  3. If an existing entry conflicts with a new one (same index but
 *     different terms), delete the existing entry and all that follow it.
 *  4. Append any new entries not already in the log.
 *  5. If leaderCommit > commitIndex, set commitIndex =
 *     min(leaderCommit, index of last new entry).
 */
int
raft_log_maybe_append(raft_log *log, raft_index prev_index, raft_term prev_term,
					  raft_index commit, const raft_entry *entries, uint32_t n,
					  bool *accepted, raft_index *last_new)
{
	raft_index conflict;
	int rc;

	*accepted = false;
	*last_new = 0;
	if (!raft_log_match_term(log, prev_index, prev_term))
		return RAFT_OK;

	conflict = find_conflict(log, entries, n);
	if (conflict != 0)
	{
		uint32_t skip;

		/* Committed entries never change: a leader asking so is broken. */
		if (conflict <= log->committed)
			return RAFT_ERR_INVALID;
		RAFT_ASSERT(conflict > prev_index);
		skip = (uint32_t) (conflict - (prev_index + 1));
		RAFT_ASSERT(skip < n);
		rc = raft_log_append(log, entries + skip, n - skip);
		if (rc != RAFT_OK)
			return rc;
	}
	*accepted = true;
	*last_new = prev_index + n;
	raft_log_commit_to(log, commit < *last_new ? commit : *last_new);
	return RAFT_OK;
}

/* Appends entries (which may replace an uncommitted suffix). */
int
raft_log_append(raft_log *log, const raft_entry *entries, uint32_t n)
{
	if (n == 0)
		return RAFT_OK;
	RAFT_ASSERT(entries[0].index > log->committed);
	RAFT_ASSERT(entries[0].index <= raft_log_last_index(log) + 1);
	for (uint32_t i = 1; i < n; i++)
	{
		RAFT_ASSERT(entries[i].index == entries[i - 1].index + 1);
		RAFT_ASSERT(entries[i].term >= entries[i - 1].term);
	}
	return unstable_truncate_and_append(&log->unstable, entries, n);
}

void
raft_log_commit_to(raft_log *log, raft_index index)
{
	/* The commit index never decreases. */
	if (index <= log->committed)
		return;
	RAFT_ASSERT(index <= raft_log_last_index(log));
	log->committed = index;
}

/*
 * "A leader ... commits an entry from its current term once that entry is
 * stored on a majority; entries from previous terms are never committed by
 * counting replicas" (Raft paper, 5.4.2, figure 8).
 */
bool
raft_log_maybe_commit(raft_log *log, raft_index index, raft_term term)
{
	if (index <= log->committed || raft_log_term_or_zero(log, index) != term)
		return false;
	raft_log_commit_to(log, index);
	return true;
}

void
raft_log_applied_to(raft_log *log, raft_index index)
{
	if (index <= log->applied)
		return;
	RAFT_ASSERT(index <= log->committed);
	log->applied = index;
}

/* The host persisted entries up to (index, term): drop them from the tail. */
void
raft_log_stable_to(raft_log *log, raft_index index, raft_term term)
{
	raft_unstable *u = &log->unstable;
	raft_term ours;
	uint32_t count;

	if (!unstable_maybe_term(u, index, &ours))
		return;
	/* Below offset is the snapshot, or it was overwritten since. */
	if (index < u->offset || ours != term)
		return;
	count = (uint32_t) (index + 1 - u->offset);
	RAFT_ASSERT(count <= u->n_entries);
	unstable_free_range(u, 0, count);
	memmove(u->entries, u->entries + count,
			(size_t) (u->n_entries - count) * sizeof(raft_entry));
	u->n_entries -= count;
	u->offset = index + 1;
}

void
raft_log_stable_snap_to(raft_log *log, raft_index index)
{
	raft_unstable *u = &log->unstable;

	if (u->has_snapshot && u->snapshot.meta.index == index)
	{
		raft_snapshot_clear(&u->snapshot);
		u->has_snapshot = false;
	}
}

/*
 * Replaces the whole log with a snapshot received from the leader, taking
 * ownership of *snapshot (a deep copy the caller made).  Cannot fail, so
 * that the caller can prepare everything else first.
 */
void
raft_log_restore(raft_log *log, raft_snapshot *snapshot)
{
	raft_unstable *u = &log->unstable;

	RAFT_ASSERT(snapshot->meta.index > log->committed);
	unstable_free_range(u, 0, u->n_entries);
	u->n_entries = 0;
	if (u->has_snapshot)
		raft_snapshot_clear(&u->snapshot);
	u->snapshot = *snapshot;
	u->has_snapshot = true;
	u->offset = snapshot->meta.index + 1;
	log->committed = snapshot->meta.index;
	memset(snapshot, 0, sizeof(*snapshot));
}

int
raft_log_snapshot(const raft_log *log, const raft_snapshot **snapshot)
{
	if (log->unstable.has_snapshot)
	{
		*snapshot = &log->unstable.snapshot;
		return RAFT_OK;
	}
	return log->storage.snapshot(log->storage.ud, snapshot);
}

/* ---- reading a range -------------------------------------------------- */

typedef struct entry_gather
{
	raft_entry *items; /* shallow: data points into the sources */
	uint32_t n;
	uint32_t capacity;
	uint64_t bytes;
	uint64_t max_bytes;
	bool full;
} entry_gather;

/* Adds one entry if the size bound allows: the first entry always fits. */
static int
gather_add(entry_gather *g, const raft_entry *entry)
{
	if (g->n > 0 &&
		(g->bytes + entry->size > g->max_bytes || g->n >= RAFT_WIRE_MAX_ENTRIES))
	{
		g->full = true;
		return RAFT_OK;
	}
	if (g->n == g->capacity)
	{
		uint32_t capacity = g->capacity == 0 ? 16 : g->capacity * 2;
		raft_entry *grown =
			raft_realloc(g->items, (size_t) capacity * sizeof(raft_entry));

		if (grown == NULL)
			return RAFT_ERR_NOMEM;
		g->items = grown;
		g->capacity = capacity;
	}
	g->items[g->n++] = *entry;
	g->bytes += entry->size;
	return RAFT_OK;
}

static int
gather_from_storage(const raft_log *log, entry_gather *g, raft_index lo,
					raft_index hi)
{
	const raft_entry *stored = NULL;
	uint32_t n = 0;
	int rc;

	rc = log->storage.entries(log->storage.ud, lo, hi, g->max_bytes, &stored,
							  &n);
	if (rc != RAFT_OK)
		return rc;
	RAFT_ASSERT(n <= hi - lo);
	for (uint32_t i = 0; i < n && !g->full; i++)
	{
		RAFT_ASSERT(stored[i].index == lo + i);
		rc = gather_add(g, &stored[i]);
		if (rc != RAFT_OK)
			return rc;
	}
	/* Storage stopped early at its size bound: so do we. */
	if (n < hi - lo)
		g->full = true;
	return RAFT_OK;
}

/*
 * Deep copies of entries [lo, hi), at least one if lo < hi, stopping
 * before max_bytes of data or RAFT_WIRE_MAX_ENTRIES entries.
 */
int
raft_log_slice(const raft_log *log, raft_index lo, raft_index hi,
			   uint64_t max_bytes, raft_entry **entries, uint32_t *n)
{
	const raft_unstable *u = &log->unstable;
	entry_gather g = { 0 };
	int rc = RAFT_OK;

	*entries = NULL;
	*n = 0;
	RAFT_ASSERT(lo <= hi);
	if (lo < raft_log_first_index(log))
		return RAFT_ERR_COMPACTED;
	if (hi > raft_log_last_index(log) + 1)
		return RAFT_ERR_UNAVAILABLE;
	if (lo == hi)
		return RAFT_OK;

	g.max_bytes = max_bytes;
	if (lo < u->offset)
		rc = gather_from_storage(log, &g, lo, hi < u->offset ? hi : u->offset);
	for (raft_index i = lo > u->offset ? lo : u->offset;
		 rc == RAFT_OK && !g.full && i < hi; i++)
		rc = gather_add(&g, &u->entries[i - u->offset]);

	if (rc == RAFT_OK)
		rc = raft_entries_copy(g.items, g.n, entries);
	if (rc == RAFT_OK)
		*n = g.n;
	raft_free(g.items);
	RAFT_ASSERT(rc != RAFT_OK || *n > 0);
	return rc;
}

/* Committed entries are not handed out while a snapshot is unstable. */
bool
raft_log_has_next_committed(const raft_log *log)
{
	if (log->unstable.has_snapshot)
		return false;
	return log->committed > log->applied;
}

int
raft_log_next_committed(const raft_log *log, uint64_t max_bytes,
						raft_entry **entries, uint32_t *n)
{
	*entries = NULL;
	*n = 0;
	if (!raft_log_has_next_committed(log))
		return RAFT_OK;
	RAFT_ASSERT(log->applied + 1 >= raft_log_first_index(log));
	return raft_log_slice(log, log->applied + 1, log->committed + 1, max_bytes,
						  entries, n);
}
