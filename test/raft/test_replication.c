/*-------------------------------------------------------------------------
 *
 * test_replication.c
 *	  Log replication: fast backtracking, flow control (in-flight window,
 *	  bytes per message), heartbeats carrying a safe commit index,
 *	  proposals on followers, unreachable peers.
 *
 * test/raft/test_replication.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

typedef struct counter
{
	uint8_t type;
	raft_id from;
	raft_id to;
	bool only_reject;
	bool drop; /* drop what matches */
	uint32_t count;
	uint32_t max_entries;  /* most entries seen in one match */
	uint32_t with_entries; /* matches carrying entries */
} counter;

static bool
count_filter(const raft_message *m, void *ud)
{
	counter *c = ud;

	if (m->type != c->type || (c->from && m->from != c->from) ||
		(c->to && m->to != c->to) || (c->only_reject && !m->reject))
		return false;
	c->count++;
	if (m->n_entries > c->max_entries)
		c->max_entries = m->n_entries;
	if (m->n_entries > 0)
		c->with_entries++;
	return c->drop;
}

static bool
logs_equal(net *nw, raft_id a, raft_id b)
{
	raft_index last = net_stored_last(nw, a);

	if (net_stored_last(nw, b) != last)
		return false;
	for (raft_index i = 1; i <= last; i++)
	{
		if (net_stored_term(nw, a, i) != net_stored_term(nw, b, i))
			return false;
	}
	return true;
}

/*
 * Leader 1 3 3 3 5 5 5 5 5, follower 1 1 1 1 2 2: the follower's hint
 * (6, term 2) lets the leader skip straight to index 1 (leader-side
 * backtracking), instead of probing nine indexes one by one.
 */
static void
test_fast_backtracking_leader_side(void)
{
	static const raft_term leader[] = { 1, 3, 3, 3, 5, 5, 5, 5, 5 };
	static const raft_term follower[] = { 1, 1, 1, 1, 2, 2 };
	net nw;
	counter c = { .type = RAFT_MSG_APP_RESP, .from = 2, .only_reject = true };

	net_init(&nw, 3, NULL);
	net_load(&nw, 1, leader, 9, 5);
	net_load(&nw, 3, leader, 9, 5);
	net_load(&nw, 2, follower, 6, 5);
	nw.filter = count_filter;
	nw.filter_ud = &c;
	ok(net_elect(&nw, 1), "leader elected");
	ok(logs_equal(&nw, 1, 2), "follower's log repaired");
	ok(c.count <= 2, "at most 2 rejections, not 9 (got %u)", c.count);
	net_destroy(&nw);
}

/*
 * Leader 1 3 3 3 3 3 3 3 7, follower 1 3 3 4 4 5 5 5 6: the follower
 * answers a probe at (8, term 3) with its last entry of term <= 3, index 3
 * (follower-side backtracking).
 */
static void
test_fast_backtracking_follower_side(void)
{
	static const raft_term leader[] = { 1, 3, 3, 3, 3, 3, 3, 3, 7 };
	static const raft_term follower[] = { 1, 3, 3, 4, 4, 5, 5, 5, 6 };
	net nw;
	counter c = { .type = RAFT_MSG_APP_RESP, .from = 2, .only_reject = true };

	net_init(&nw, 3, NULL);
	net_load(&nw, 1, leader, 9, 7);
	net_load(&nw, 3, leader, 9, 7);
	net_load(&nw, 2, follower, 9, 7);
	nw.filter = count_filter;
	nw.filter_ud = &c;
	ok(net_elect(&nw, 1), "leader elected");
	ok(logs_equal(&nw, 1, 2), "follower's divergent tail replaced");
	ok(c.count <= 3, "at most 3 rejections (got %u)", c.count);
	net_destroy(&nw);
}

/* At most max_inflight_msgs appends in flight to a silent follower. */
static void
test_inflight_window(void)
{
	raft_options options = net_default_options();
	net nw;
	counter c = { .type = RAFT_MSG_APP, .from = 1, .to = 2 };
	raft_progress_status pr;

	options.max_inflight_msgs = 3;
	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "leader elected");
	nw.cut[2][1] = true; /* node 2 hears, but is not heard */
	nw.filter = count_filter;
	nw.filter_ud = &c;
	for (uint8_t i = 0; i < 10; i++)
		ok(net_propose(&nw, 1, i), "proposal %u accepted", i);
	is_u64(c.with_entries, 3, "only 3 appends with entries in flight");
	pr = net_progress(&nw, 1, 2);
	is_u64(pr.state, RAFT_PROGRESS_REPLICATE, "peer 2 still replicating");
	is_u64(pr.inflight, 3, "window is full");
	is_u64(net_status(&nw, 3).last_index, 11, "node 3 got everything");

	/* Heal: a heartbeat round trip reopens the flow. */
	net_heal(&nw);
	for (int i = 0; i < 5; i++)
	{
		net_tick(&nw, 1, 1);
		net_stabilize(&nw);
	}
	is_u64(net_status(&nw, 2).last_index, 11, "node 2 catches up after heal");
	is_u64(net_status(&nw, 2).hard_state.commit, 11, "and commits");
	net_destroy(&nw);
}

/* An append carries at most max_size_per_msg bytes (at least one entry). */
static void
test_max_size_per_msg(void)
{
	raft_options options = net_default_options();
	net nw;
	counter c = { .type = RAFT_MSG_APP, .from = 1, .to = 3 };
	uint8_t data[4] = { 1, 2, 3, 4 };

	options.max_size_per_msg = 10;
	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "leader elected");
	net_isolate(&nw, 3);
	for (int i = 0; i < 9; i++)
		raft_propose(net_raft(&nw, 1), data, sizeof(data));
	net_stabilize(&nw);
	is_u64(net_status(&nw, 2).hard_state.commit, 10, "majority commits");
	net_heal(&nw);
	nw.filter = count_filter;
	nw.filter_ud = &c;
	for (int i = 0; i < 20 && net_status(&nw, 3).last_index < 10; i++)
	{
		net_tick(&nw, 1, 1);
		net_stabilize(&nw);
	}
	is_u64(net_status(&nw, 3).last_index, 10, "node 3 catches up");
	is_u64(c.max_entries, 2, "no append carries more than 8 bytes of data");
	ok(c.with_entries >= 5, "9 entries need at least 5 appends (%u)",
	   c.with_entries);
	net_destroy(&nw);
}

/* Heartbeats carry min(commit, match): a lagging peer never over-commits. */
static void
test_heartbeat_commit(void)
{
	raft_options options = net_default_options();
	net nw;
	const raft_message *hb = NULL;

	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "leader elected");
	net_isolate(&nw, 3);
	net_propose(&nw, 1, 1);
	net_propose(&nw, 1, 2);
	is_u64(net_status(&nw, 1).hard_state.commit, 3, "leader committed 3");
	net_drop_queue(&nw);
	net_tick(&nw, 1, 1);
	net_process(&nw, 1);
	for (uint32_t i = 0; i < nw.n_queue; i++)
	{
		if (nw.queue[i].type == RAFT_MSG_HEARTBEAT && nw.queue[i].to == 3)
			hb = &nw.queue[i];
	}
	ok(hb != NULL, "heartbeat to the lagging node");
	ok(hb && hb->commit == 1, "carries its match (1), not the commit (3)");
	for (uint32_t i = 0; i < nw.n_queue; i++)
	{
		if (nw.queue[i].type == RAFT_MSG_HEARTBEAT && nw.queue[i].to == 2)
			hb = &nw.queue[i];
	}
	ok(hb && hb->to == 2 && hb->commit == 3, "an up-to-date peer gets commit 3");
	net_heal(&nw);
	net_deliver(&nw);
	net_stabilize(&nw);
	is_u64(net_status(&nw, 3).hard_state.commit, 3,
		   "lagging node catches up and commits");
	net_destroy(&nw);
}

static void
test_proposals_need_a_leader(void)
{
	net nw;
	uint8_t byte = 1;

	net_init(&nw, 3, NULL);
	is_u64(raft_propose(net_raft(&nw, 1), &byte, 1), RAFT_ERR_PROPOSAL_DROPPED,
		   "no leader: proposal dropped");
	ok(net_elect(&nw, 1), "leader elected");
	is_u64(raft_propose(net_raft(&nw, 2), &byte, 1), RAFT_ERR_PROPOSAL_DROPPED,
		   "follower: proposal dropped (host routes to the leader)");
	is_u64(raft_propose(net_raft(&nw, 1), &byte, 1), RAFT_OK,
		   "leader: proposal accepted");
	net_stabilize(&nw);
	is_u64(nw.nodes[3].applied, 2, "applied everywhere");
	is_u64(nw.nodes[3].log[1].first_byte, 1, "with the proposed data");
	net_destroy(&nw);
}

/* An unreachable peer in replicate falls back to probing. */
static void
test_report_unreachable(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "leader elected");
	net_propose(&nw, 1, 1);
	is_u64(net_progress(&nw, 1, 2).state, RAFT_PROGRESS_REPLICATE,
		   "peer 2 replicating");
	raft_report_unreachable(net_raft(&nw, 1), 2);
	is_u64(net_progress(&nw, 1, 2).state, RAFT_PROGRESS_PROBE,
		   "unreachable: back to probe");
	net_tick(&nw, 1, 1);
	net_stabilize(&nw);
	is_u64(net_progress(&nw, 1, 2).state, RAFT_PROGRESS_REPLICATE,
		   "a heartbeat round trip restores replicate");
	net_destroy(&nw);
}

/* Many proposals, five nodes, everybody applies the same sequence. */
static void
test_many_proposals(void)
{
	net nw;
	bool same = true;

	net_init(&nw, 5, NULL);
	ok(net_elect(&nw, 2), "node 2 elected");
	for (int i = 0; i < 200; i++)
		raft_propose(net_raft(&nw, 2), (uint8_t[]){ (uint8_t) i }, 1);
	net_stabilize(&nw);
	for (raft_id id = 1; id <= 5; id++)
	{
		same = same && nw.nodes[id].n_log == 201;
		for (uint32_t i = 1; same && i < nw.nodes[id].n_log; i++)
			same = nw.nodes[id].log[i].first_byte == (uint8_t) (i - 1);
	}
	ok(same, "all five applied the 200 proposals in order");
	net_destroy(&nw);
}

int
main(void)
{
	test_fast_backtracking_leader_side();
	test_fast_backtracking_follower_side();
	test_inflight_window();
	test_max_size_per_msg();
	test_heartbeat_commit();
	test_proposals_need_a_leader();
	test_report_unreachable();
	test_many_proposals();
	return tap_done();
}
