/*-------------------------------------------------------------------------
 *
 * test_storage.c
 *	  The in-memory raft_storage: appends truncate conflicting suffixes,
 *	  snapshots and compaction move the first index, and every
 *	  out-of-range request gets its error code.
 *
 * test/raft/test_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"
#include "tap.h"

#include <string.h>

static raft_entry
entry(raft_index index, raft_term term, const char *data)
{
	raft_entry e;

	memset(&e, 0, sizeof(e));
	e.index = index;
	e.term = term;
	if (data)
	{
		e.size = (uint32_t) strlen(data);
		e.data = (uint8_t *) data;
	}
	return e;
}

static raft_term
term_at(raft_storage *st, raft_index i, int *rc)
{
	raft_term t = 0;

	*rc = st->term(st->ud, i, &t);
	return t;
}

static void
test_empty(void)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_storage st = raft_memory_storage_view(ms);
	const raft_snapshot *snap;
	int rc;

	is_u64(st.first_index(st.ud), 1, "empty: first index 1");
	is_u64(st.last_index(st.ud), 0, "empty: last index 0");
	is_u64(term_at(&st, 0, &rc), 0, "term of index 0 is 0");
	is_u64(rc, RAFT_OK, "and answered");
	term_at(&st, 1, &rc);
	is_u64(rc, RAFT_ERR_UNAVAILABLE, "term of index 1 unavailable");
	st.snapshot(st.ud, &snap);
	is_u64(snap->meta.index, 0, "no snapshot: index 0");
	raft_memory_storage_destroy(ms);
}

static void
test_append_and_truncate(void)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_storage st = raft_memory_storage_view(ms);
	raft_entry batch[3] = { entry(1, 1, "a"), entry(2, 1, "bb"),
							entry(3, 2, "ccc") };
	raft_entry conflict[2] = { entry(2, 3, "X"), entry(3, 3, "Y") };
	raft_entry gap = entry(9, 3, NULL);
	const raft_entry *got;
	uint32_t n;
	int rc;

	is_u64(raft_memory_storage_append(ms, batch, 3), RAFT_OK, "append 1..3");
	is_u64(st.last_index(st.ud), 3, "last index 3");
	is_u64(raft_memory_storage_size_bytes(ms) >= 6, 1, "size counts data");
	is_u64(term_at(&st, 3, &rc), 2, "term of 3 is 2");

	is_u64(raft_memory_storage_append(ms, conflict, 2), RAFT_OK,
		   "append conflicting 2..3");
	is_u64(st.last_index(st.ud), 3, "still 3 entries");
	is_u64(term_at(&st, 2, &rc), 3, "entry 2 replaced");
	rc = st.entries(st.ud, 1, 4, UINT64_MAX, &got, &n);
	ok(rc == RAFT_OK && n == 3 && got[0].data[0] == 'a' &&
		   got[1].data[0] == 'X' && got[2].data[0] == 'Y',
	   "entries 1..3 read back");

	is_u64(raft_memory_storage_append(ms, batch, 1), RAFT_OK,
		   "re-append entry 1");
	is_u64(st.last_index(st.ud), 1, "truncates everything after it");
	is_u64(raft_memory_storage_append(ms, &gap, 1), RAFT_ERR_INVALID,
		   "a gap is refused");
	is_u64(st.last_index(st.ud), 1, "and changes nothing");
	raft_memory_storage_destroy(ms);
}

static void
test_entries_bounds(void)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_storage st = raft_memory_storage_view(ms);
	raft_entry batch[4] = { entry(1, 1, "aaaa"), entry(2, 1, "bbbb"),
							entry(3, 1, "cccc"), entry(4, 1, "dddd") };
	const raft_entry *got;
	uint32_t n;

	raft_memory_storage_append(ms, batch, 4);
	st.entries(st.ud, 1, 5, 9, &got, &n);
	is_u64(n, 2, "max_bytes 9: two 4-byte entries");
	st.entries(st.ud, 1, 5, 1, &got, &n);
	is_u64(n, 1, "max_bytes 1: still one entry");
	st.entries(st.ud, 2, 4, UINT64_MAX, &got, &n);
	ok(n == 2 && got[0].index == 2, "range [2, 4)");
	is_u64(st.entries(st.ud, 2, 6, UINT64_MAX, &got, &n), RAFT_ERR_UNAVAILABLE,
		   "beyond last: unavailable");
	raft_memory_storage_destroy(ms);
}

static void
test_snapshot_and_compact(void)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_storage st = raft_memory_storage_view(ms);
	raft_entry batch[5] = { entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 2, "c"),
							entry(4, 2, "d"), entry(5, 3, "e") };
	raft_config config = { .n_voters = 1, .voters = { 1 } };
	const raft_snapshot *snap;
	const raft_entry *got;
	uint32_t n;
	int rc;

	raft_memory_storage_append(ms, batch, 5);
	is_u64(raft_memory_storage_create_snapshot(ms, 3, &config,
											   (const uint8_t *) "S", 1),
		   RAFT_OK, "snapshot at 3");
	is_u64(st.first_index(st.ud), 4, "first index 4");
	is_u64(st.last_index(st.ud), 5, "last index 5");
	is_u64(term_at(&st, 3, &rc), 2, "term of the snapshot index answered");
	term_at(&st, 2, &rc);
	is_u64(rc, RAFT_ERR_COMPACTED, "term below it: compacted");
	is_u64(st.entries(st.ud, 3, 5, UINT64_MAX, &got, &n), RAFT_ERR_COMPACTED,
		   "entries from the snapshot index: compacted");
	st.snapshot(st.ud, &snap);
	ok(snap->meta.index == 3 && snap->meta.term == 2 && snap->data_size == 1 &&
		   snap->meta.config.n_voters == 1,
	   "snapshot metadata and data kept");
	is_u64(raft_memory_storage_create_snapshot(ms, 2, &config, NULL, 0),
		   RAFT_ERR_SNAPSHOT_OUT_OF_DATE, "older snapshot refused");
	is_u64(raft_memory_storage_create_snapshot(ms, 9, &config, NULL, 0),
		   RAFT_ERR_UNAVAILABLE, "snapshot beyond the log refused");

	is_u64(raft_memory_storage_compact(ms, 4), RAFT_OK,
		   "compact to 4: nothing below 4 left, no-op");
	is_u64(st.first_index(st.ud), 4, "first index still 4");
	is_u64(raft_memory_storage_compact(ms, 5), RAFT_OK, "compact to 5");
	is_u64(st.first_index(st.ud), 5, "first index 5: entries < 5 dropped");
	is_u64(term_at(&st, 4, &rc), 2, "term of 4 still answered");
	is_u64(rc, RAFT_OK, "without error");
	ok(st.entries(st.ud, 5, 6, UINT64_MAX, &got, &n) == RAFT_OK && n == 1 &&
		   got[0].data[0] == 'e',
	   "entry 5 kept with its data");
	is_u64(raft_memory_storage_compact(ms, 4), RAFT_ERR_COMPACTED,
		   "compacting below the first index: compacted");
	is_u64(raft_memory_storage_compact(ms, 7), RAFT_ERR_UNAVAILABLE,
		   "compacting beyond the log: unavailable");

	/* Appends below the first index skip what is compacted. */
	is_u64(raft_memory_storage_append(ms, batch, 5), RAFT_OK,
		   "re-append 1..5 over a compacted prefix");
	is_u64(st.last_index(st.ud), 5, "last index 5");
	raft_memory_storage_destroy(ms);
}

static void
test_apply_snapshot(void)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_storage st = raft_memory_storage_view(ms);
	raft_entry batch[2] = { entry(1, 1, "a"), entry(2, 1, "b") };
	raft_snapshot snap;
	int rc;

	raft_memory_storage_append(ms, batch, 2);
	memset(&snap, 0, sizeof(snap));
	snap.meta.index = 10;
	snap.meta.term = 4;
	snap.meta.config.n_voters = 1;
	snap.meta.config.voters[0] = 1;
	is_u64(raft_memory_storage_apply_snapshot(ms, &snap), RAFT_OK,
		   "apply snapshot at 10");
	is_u64(st.first_index(st.ud), 11, "first index 11");
	is_u64(st.last_index(st.ud), 10, "empty log after it");
	is_u64(term_at(&st, 10, &rc), 4, "term of 10 is the snapshot's");
	is_u64(raft_memory_storage_apply_snapshot(ms, &snap),
		   RAFT_ERR_SNAPSHOT_OUT_OF_DATE, "same snapshot again: out of date");
	snap.meta.index = 0;
	is_u64(raft_memory_storage_apply_snapshot(ms, &snap), RAFT_ERR_INVALID,
		   "snapshot at 0 is invalid");
	raft_memory_storage_destroy(ms);
}

int
main(void)
{
	test_empty();
	test_append_and_truncate();
	test_entries_bounds();
	test_snapshot_and_compact();
	test_apply_snapshot();
	return tap_done();
}
