/*-------------------------------------------------------------------------
 *
 * test_log.c
 *	  White-box tests of the core's leaf modules: the log (unstable tail
 *	  over storage), per-peer progress and inflights, and quorum math.
 *
 * test/raft/test_log.c
 *
 *-------------------------------------------------------------------------
 */
#include "internal/core.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

static raft_entry
entry(raft_index index, raft_term term)
{
	raft_entry e;

	memset(&e, 0, sizeof(e));
	e.index = index;
	e.term = term;
	return e;
}

/* A log over storage holding terms[0..n) at 1..n. */
static raft_memory_storage *
stored(const raft_term *terms, uint32_t n)
{
	raft_memory_storage *ms = raft_memory_storage_create();

	for (uint32_t i = 0; i < n; i++)
	{
		raft_entry e = entry(i + 1, terms[i]);

		raft_memory_storage_append(ms, &e, 1);
	}
	return ms;
}

static void
test_unstable_over_stable(void)
{
	static const raft_term terms[] = { 1, 1, 2 };
	raft_memory_storage *ms = stored(terms, 3);
	raft_storage st = raft_memory_storage_view(ms);
	raft_log log;
	raft_entry more[2] = { entry(4, 3), entry(5, 3) };
	raft_entry replace = entry(3, 4);
	raft_entry *got;
	uint32_t n;
	raft_term t;

	is_u64(raft_log_init(&log, &st, 2, 1), RAFT_OK, "init: commit 2 applied 1");
	is_u64(raft_log_last_index(&log), 3, "last index from storage");
	is_u64(raft_log_append(&log, more, 2), RAFT_OK, "append 4..5");
	is_u64(raft_log_last_index(&log), 5, "last index 5");
	is_u64(log.unstable.offset, 4, "unstable from 4");
	is_u64(raft_log_term_or_zero(&log, 5), 3, "term 5 from the tail");
	is_u64(raft_log_term_or_zero(&log, 2), 1, "term 2 from storage");
	is_u64(raft_log_term(&log, 6, &t), RAFT_ERR_UNAVAILABLE, "6 unavailable");

	is_u64(raft_log_slice(&log, 2, 6, UINT64_MAX, &got, &n), RAFT_OK,
		   "slice across storage and tail");
	ok(n == 4 && got[0].index == 2 && got[3].index == 5 && got[3].term == 3,
	   "entries 2..5");
	free(got);

	/* Replacing 3 (in storage) truncates the tail below its offset. */
	is_u64(raft_log_append(&log, &replace, 1), RAFT_OK, "replace entry 3");
	is_u64(raft_log_last_index(&log), 3, "last index 3");
	is_u64(log.unstable.offset, 3, "tail now starts at 3");
	is_u64(raft_log_term_or_zero(&log, 3), 4, "term 4 wins over storage's 2");

	/* The host persists; stable_to drops the tail. */
	raft_memory_storage_append(ms, &replace, 1);
	raft_log_stable_to(&log, 3, 4);
	is_u64(log.unstable.n_entries, 0, "tail empty after stable_to");
	is_u64(log.unstable.offset, 4, "offset moves past it");
	raft_log_stable_to(&log, 3, 9);
	is_u64(log.unstable.offset, 4, "stable_to with a wrong term is ignored");
	raft_log_destroy(&log);
	raft_memory_storage_destroy(ms);
}

static void
test_maybe_append(void)
{
	static const raft_term terms[] = { 1, 2, 3 };
	raft_memory_storage *ms = stored(terms, 3);
	raft_storage st = raft_memory_storage_view(ms);
	raft_log log;
	raft_entry ents[2] = { entry(3, 4), entry(4, 4) };
	bool accepted;
	raft_index last_new;

	raft_log_init(&log, &st, 1, 1);
	raft_log_maybe_append(&log, 2, 9, 3, ents, 2, &accepted, &last_new);
	ok(!accepted, "prev term mismatch: rejected");
	raft_log_maybe_append(&log, 5, 4, 3, ents, 2, &accepted, &last_new);
	ok(!accepted, "prev index beyond our log: rejected");
	raft_log_maybe_append(&log, 2, 2, 3, ents, 2, &accepted, &last_new);
	ok(accepted && last_new == 4, "match at 2: accepted, last new 4");
	is_u64(raft_log_term_or_zero(&log, 3), 4, "conflicting entry 3 replaced");
	is_u64(log.committed, 3, "commit = min(leader commit 3, last new 4)");
	raft_log_maybe_append(&log, 1, 2, 9, NULL, 0, &accepted, &last_new);
	ok(!accepted, "term of 1 is 1, not 2");
	raft_log_maybe_append(&log, 1, 1, 9, NULL, 0, &accepted, &last_new);
	ok(accepted && last_new == 1 && log.committed == 3,
	   "empty append at 1: commit not moved backwards nor past last new");
	{
		raft_entry bad = entry(2, 9);

		is_u64(raft_log_maybe_append(&log, 1, 1, 9, &bad, 1, &accepted,
									 &last_new),
			   RAFT_ERR_INVALID, "a conflict at a committed index is refused");
		is_u64(raft_log_term_or_zero(&log, 2), 2, "committed entry intact");
	}
	raft_log_destroy(&log);
	raft_memory_storage_destroy(ms);
}

static void
test_find_conflict_by_term(void)
{
	static const raft_term terms[] = { 1, 3, 3, 4, 4, 5, 5, 5, 6 };
	raft_memory_storage *ms = stored(terms, 9);
	raft_storage st = raft_memory_storage_view(ms);
	raft_log log;
	raft_index i;
	raft_term t;

	raft_log_init(&log, &st, 0, 0);
	raft_log_find_conflict_by_term(&log, 8, 3, &i, &t);
	ok(i == 3 && t == 3, "(8, term 3) -> (3, 3)");
	raft_log_find_conflict_by_term(&log, 9, 6, &i, &t);
	ok(i == 9 && t == 6, "(9, term 6) -> (9, 6)");
	raft_log_find_conflict_by_term(&log, 5, 2, &i, &t);
	ok(i == 1 && t == 1, "(5, term 2) -> (1, 1)");
	raft_log_find_conflict_by_term(&log, 5, 0, &i, &t);
	ok(i == 0 && t == 0, "(5, term 0) -> (0, 0)");
	raft_log_destroy(&log);
	raft_memory_storage_destroy(ms);
}

static void
test_commit_and_up_to_date(void)
{
	static const raft_term terms[] = { 1, 2, 2 };
	raft_memory_storage *ms = stored(terms, 3);
	raft_storage st = raft_memory_storage_view(ms);
	raft_log log;
	raft_entry *got;
	uint32_t n;

	raft_log_init(&log, &st, 0, 0);
	ok(!raft_log_maybe_commit(&log, 3, 1), "wrong term: no commit");
	ok(raft_log_maybe_commit(&log, 3, 2), "right term: commit 3");
	ok(!raft_log_maybe_commit(&log, 2, 2), "never backwards");
	ok(raft_log_is_up_to_date(&log, 3, 2), "same last entry: up to date");
	ok(raft_log_is_up_to_date(&log, 1, 3), "later term: up to date");
	ok(!raft_log_is_up_to_date(&log, 2, 2), "shorter, same term: not");
	ok(!raft_log_is_up_to_date(&log, 9, 1), "longer, older term: not");
	ok(raft_log_has_next_committed(&log), "committed entries to apply");
	raft_log_next_committed(&log, 0, &got, &n);
	is_u64(n, 3, "max bytes 0: empty entries cost nothing, all three");
	free(got);
	raft_log_applied_to(&log, 3);
	ok(!raft_log_has_next_committed(&log), "all applied");
	is_u64(raft_log_init(&log, &st, 5, 0), RAFT_ERR_CORRUPT,
		   "commit beyond the log refused at init");
	is_u64(raft_log_init(&log, &st, 1, 2), RAFT_ERR_CORRUPT,
		   "applied beyond commit refused at init");
	raft_log_destroy(&log);
	raft_memory_storage_destroy(ms);
}

static void
test_restore(void)
{
	static const raft_term terms[] = { 1, 1 };
	raft_memory_storage *ms = stored(terms, 2);
	raft_storage st = raft_memory_storage_view(ms);
	raft_log log;
	raft_snapshot snap;
	raft_entry e = entry(3, 1);

	raft_log_init(&log, &st, 1, 1);
	raft_log_append(&log, &e, 1);
	memset(&snap, 0, sizeof(snap));
	snap.meta.index = 7;
	snap.meta.term = 3;
	raft_log_restore(&log, &snap);
	is_u64(raft_log_first_index(&log), 8, "first index after the snapshot");
	is_u64(raft_log_last_index(&log), 7, "last index is the snapshot's");
	is_u64(log.committed, 7, "committed to the snapshot");
	is_u64(raft_log_term_or_zero(&log, 7), 3, "term of 7 from the snapshot");
	ok(!raft_log_has_next_committed(&log),
	   "nothing to apply while the snapshot is unstable");
	raft_log_stable_snap_to(&log, 7);
	ok(!log.unstable.has_snapshot, "snapshot stable");
	raft_log_destroy(&log);
	raft_memory_storage_destroy(ms);
}

static void
test_inflights(void)
{
	raft_inflights in;
	raft_index buffer[3];

	raft_inflights_init(&in, buffer, 3);
	raft_inflights_add(&in, 5);
	raft_inflights_add(&in, 7);
	ok(!raft_inflights_full(&in), "2 of 3: not full");
	raft_inflights_add(&in, 9);
	ok(raft_inflights_full(&in), "3 of 3: full");
	raft_inflights_free_le(&in, 6);
	is_u64(in.count, 2, "ack 6 frees the append ending at 5");
	raft_inflights_add(&in, 11); /* wraps around */
	raft_inflights_free_le(&in, 10);
	is_u64(in.count, 1, "ack 10 frees 7 and 9");
	raft_inflights_free_le(&in, 100);
	is_u64(in.count, 0, "ack all");
}

static void
test_progress(void)
{
	raft_progress pr;
	raft_index buffer[2];

	memset(&pr, 0, sizeof(pr));
	raft_inflights_init(&pr.inflights, buffer, 2);
	raft_progress_reset(&pr, 10);
	ok(pr.state == RAFT_PROGRESS_PROBE && pr.next == 11 && pr.match == 0,
	   "reset: probe from last + 1");
	raft_progress_sent_entries(&pr, 1);
	ok(raft_progress_is_paused(&pr), "probe: one append, then paused");
	ok(!raft_progress_maybe_decr_to(&pr, 5, 3), "stale rejection ignored");
	ok(raft_progress_maybe_decr_to(&pr, 10, 3), "rejection of our probe");
	is_u64(pr.next, 4, "next = hint + 1");
	ok(!raft_progress_is_paused(&pr), "and unpaused");
	ok(raft_progress_maybe_update(&pr, 6), "ack 6");
	raft_progress_become_replicate(&pr);
	is_u64(pr.next, 7, "replicate from match + 1");
	raft_progress_sent_entries(&pr, 2);
	raft_progress_sent_entries(&pr, 2);
	is_u64(pr.next, 11, "optimistic next");
	ok(raft_progress_is_paused(&pr), "window of 2 full: paused");
	ok(raft_progress_maybe_update(&pr, 8), "ack 8");
	raft_inflights_free_le(&pr.inflights, 8);
	ok(!raft_inflights_full(&pr.inflights), "window reopened");
	ok(raft_progress_maybe_decr_to(&pr, 9, 0),
	   "replicate: rejection above match");
	is_u64(pr.next, 9, "back to match + 1");
	raft_progress_become_snapshot(&pr, 20);
	ok(raft_progress_is_paused(&pr), "snapshot: paused");
	raft_progress_become_probe(&pr);
	is_u64(pr.next, 21, "probe after the pending snapshot");
}

static void
test_quorum(void)
{
	raft_index m5[5] = { 5, 1, 9, 3, 7 };
	raft_index m4[4] = { 4, 4, 2, 2 };
	raft_index m1[1] = { 6 };

	is_u64(raft_quorum_committed_index(m5, 5), 5, "5 voters: third largest");
	is_u64(raft_quorum_committed_index(m4, 4), 2, "4 voters need 3");
	is_u64(raft_quorum_committed_index(m1, 1), 6, "1 voter: itself");
	is_u64(raft_quorum_committed_index(NULL, 0), 0, "no voters: nothing");
	is_u64(raft_quorum_vote_result(5, 3, 0), RAFT_VOTE_WON, "3 of 5 wins");
	is_u64(raft_quorum_vote_result(5, 2, 2), RAFT_VOTE_PENDING,
		   "2-2 of 5 pending");
	is_u64(raft_quorum_vote_result(5, 2, 3), RAFT_VOTE_LOST,
		   "3 rejections lose");
	is_u64(raft_quorum_vote_result(4, 2, 2), RAFT_VOTE_LOST, "2-2 of 4 lost");
	is_u64(raft_quorum_vote_result(1, 1, 0), RAFT_VOTE_WON, "1 of 1 wins");
}

int
main(void)
{
	test_unstable_over_stable();
	test_maybe_append();
	test_find_conflict_by_term();
	test_commit_and_up_to_date();
	test_restore();
	test_inflights();
	test_progress();
	test_quorum();
	return tap_done();
}
