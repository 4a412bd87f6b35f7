/*-------------------------------------------------------------------------
 *
 * test_paper_figures.c
 *	  The Raft paper's figures as scenarios: figure 7 (a new leader brings
 *	  followers with all kinds of logs into line) and figure 8 (a leader
 *	  never commits an older term's entry by counting replicas).
 *
 * test/raft/test_paper_figures.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

static const raft_term leader_log[] = { 1, 1, 1, 4, 4, 5, 5, 6, 6, 6 };

typedef struct follower_case
{
	const char *name;
	raft_term terms[12];
	uint32_t n;
} follower_case;

static const follower_case figure7[] = {
	{ "(a) missing one entry", { 1, 1, 1, 4, 4, 5, 5, 6, 6 }, 9 },
	{ "(b) missing many", { 1, 1, 1, 4 }, 4 },
	{ "(c) one extra uncommitted entry", { 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6 }, 11 },
	{ "(d) extra entries of a later term",
	  { 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7 },
	  12 },
	{ "(e) missing and extra", { 1, 1, 1, 4, 4, 4, 4 }, 7 },
	{ "(f) diverged at index 4", { 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3 }, 11 },
};

/*
 * "The leader handles inconsistencies by forcing the followers' logs to
 * duplicate its own" (Raft paper, 5.3, figure 7).  Node 1 holds the
 * leader's log, node 3 a copy (it votes for 1), node 2 the case.
 */
static void
test_figure7(void)
{
	for (size_t c = 0; c < sizeof(figure7) / sizeof(figure7[0]); c++)
	{
		const follower_case *fc = &figure7[c];
		net nw;
		bool same = true;
		raft_index last;

		net_init(&nw, 3, NULL);
		net_load(&nw, 1, leader_log, 10, 7);
		net_load(&nw, 3, leader_log, 10, 7);
		net_load(&nw, 2, fc->terms, fc->n, 7);
		ok(net_elect(&nw, 1), "%s: node 1 elected", fc->name);
		is_u64(net_status(&nw, 1).hard_state.term, 8, "node 1 leads term 8");
		net_tick_all(&nw, 1);
		net_stabilize(&nw);
		last = net_stored_last(&nw, 1);
		is_u64(last, 11, "leader log: 10 entries plus its empty entry");
		is_u64(net_stored_last(&nw, 2), last, "follower has the same length");
		for (raft_index i = 1; i <= last; i++)
			same = same &&
				net_stored_term(&nw, 2, i) == net_stored_term(&nw, 1, i);
		ok(same, "%s: follower's log duplicates the leader's", fc->name);
		is_u64(net_status(&nw, 2).hard_state.commit, 11,
			   "and everything is committed");
		net_destroy(&nw);
	}
}

static raft_message
app_resp(raft_id from, raft_term term, raft_index index)
{
	raft_message m;

	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APP_RESP;
	m.from = from;
	m.to = 1;
	m.term = term;
	m.index = index;
	return m;
}

/*
 * Figure 8: "a leader cannot immediately conclude that an entry from a
 * previous term is committed once it is stored on a majority."  The leader
 * of term 3 holds [1:t1, 2:t2]; a majority storing index 2 commits nothing;
 * only its own empty entry at index 3, once on a majority, commits both.
 */
static void
test_figure8(void)
{
	static const raft_term log12[] = { 1, 2 };
	raft_options options = net_default_options();
	net nw;
	raft_message m;

	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	net_load(&nw, 1, log12, 2, 2);
	net_load(&nw, 2, log12, 2, 2);
	net_load(&nw, 3, log12, 1, 2);
	/* Only votes get through: the appends are held back. */
	raft_campaign(net_raft(&nw, 1));
	for (int round = 0; round < 4; round++)
	{
		net_process_all(&nw);
		for (uint32_t i = 0; i < nw.n_queue; i++)
		{
			if (nw.queue[i].type == RAFT_MSG_APP)
				nw.queue[i].to = RAFT_NONE; /* dropped */
		}
		net_deliver(&nw);
	}
	net_process_all(&nw);
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "node 1 leads");
	is_u64(net_status(&nw, 1).hard_state.term, 3, "in term 3");
	is_u64(net_status(&nw, 1).last_index, 3, "with its empty entry at 3");

	m = app_resp(2, 3, 2);
	raft_step(net_raft(&nw, 1), &m);
	m = app_resp(3, 3, 2);
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	is_u64(net_status(&nw, 1).hard_state.commit, 0,
		   "index 2 (term 2) on all three: not committed by counting");

	m = app_resp(2, 3, 3);
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	is_u64(net_status(&nw, 1).hard_state.commit, 3,
		   "index 3 (term 3) on a majority: commits 1..3");
	is_u64(nw.nodes[1].applied, 3, "leader applies all three");
	net_destroy(&nw);
}

/*
 * Figure 8 (d): S5, whose last entry is of term 3, can win an election
 * against logs ending in term 2 and overwrite the term-2 entry that S1 had
 * spread.  Nobody may have applied that entry: it was never committed.
 */
static void
test_figure8_overwrite(void)
{
	static const raft_term s1[] = { 1, 2 };
	static const raft_term s3[] = { 1 };
	static const raft_term s5[] = { 1, 3 };
	raft_options options = net_default_options();
	net nw;
	bool overwritten = true;
	bool never_applied = true;

	options.disable_check_quorum = true;
	net_init(&nw, 5, &options);
	net_load(&nw, 1, s1, 2, 3);
	net_load(&nw, 2, s1, 2, 3);
	net_load(&nw, 3, s3, 1, 3);
	net_load(&nw, 4, s3, 1, 3);
	net_load(&nw, 5, s5, 2, 3);

	net_isolate(&nw, 1);
	ok(net_elect(&nw, 5), "S5 (last term 3) wins against logs ending in term 2");
	net_heal(&nw);
	net_tick_all(&nw, 1);
	net_stabilize(&nw);
	for (raft_id id = 1; id <= 5; id++)
	{
		const net_node *n = &nw.nodes[id];

		overwritten = overwritten && net_stored_term(&nw, id, 2) == 3;
		for (uint32_t i = 0; i < n->n_log; i++)
			never_applied = never_applied &&
				!(n->log[i].index == 2 && n->log[i].term == 2);
	}
	ok(overwritten, "index 2 holds S5's term-3 entry everywhere");
	ok(never_applied, "the overwritten term-2 entry was never applied");
	is_u64(net_status(&nw, 1).hard_state.commit, 3, "S1 caught up to commit 3");
	net_destroy(&nw);
}

int
main(void)
{
	test_figure7();
	test_figure8();
	test_figure8_overwrite();
	return tap_done();
}
