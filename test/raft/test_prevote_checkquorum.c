/*-------------------------------------------------------------------------
 *
 * test_prevote_checkquorum.c
 *	  PreVote (a partitioned node does not disrupt the group when it comes
 *	  back) and CheckQuorum (a leader without a quorum steps down; followers
 *	  in a leader lease ignore vote requests).
 *
 * test/raft/test_prevote_checkquorum.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

static const raft_message *
find(const net *nw, uint8_t type, raft_id from, raft_id to)
{
	for (uint32_t i = 0; i < nw->n_queue; i++)
	{
		const raft_message *m = &nw->queue[i];

		if (m->type == type && m->from == from && m->to == to)
			return m;
	}
	return NULL;
}

static raft_message
message(uint8_t type, raft_id from, raft_id to, raft_term term)
{
	raft_message m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = to;
	m.term = term;
	return m;
}

/* Ticks every node and stabilizes, rounds times. */
static void
run(net *nw, uint32_t rounds)
{
	for (uint32_t i = 0; i < rounds; i++)
	{
		net_tick_all(nw, 1);
		net_stabilize(nw);
	}
}

/*
 * "The Pre-Vote algorithm solves the issue of a partitioned server
 * disrupting the cluster when it rejoins" (Raft thesis, 9.6).
 */
static void
test_partitioned_node_rejoins(void)
{
	net nw;
	raft_term term;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	term = net_status(&nw, 1).hard_state.term;
	net_isolate(&nw, 3);
	run(&nw, 100); /* ten election timeouts */
	is_u64(net_status(&nw, 3).hard_state.term, term,
		   "isolated node pre-campaigns without raising its term");
	ok(net_status(&nw, 3).role != RAFT_LEADER, "and never leads");
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "leader undisturbed meanwhile");
	net_heal(&nw);
	run(&nw, 30);
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "after the heal: same leader");
	is_u64(net_status(&nw, 1).hard_state.term, term, "same term");
	is_u64(net_status(&nw, 3).leader, 1, "rejoined node follows it");
	net_destroy(&nw);
}

/* A pre-vote request changes nobody's term, granted or not. */
static void
test_prevote_keeps_terms(void)
{
	net nw;
	raft_message m;
	const raft_message *resp;

	net_init(&nw, 3, NULL);
	m = message(RAFT_MSG_PREVOTE, 3, 1, 5);
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	resp = find(&nw, RAFT_MSG_PREVOTE_RESP, 1, 3);
	ok(resp && !resp->reject && resp->term == 5,
	   "pre-vote granted for term 5, answered with term 5");
	is_u64(net_status(&nw, 1).hard_state.term, 0, "but our term stays 0");
	is_u64(net_status(&nw, 1).hard_state.vote, RAFT_NONE,
		   "and no vote recorded");
	net_destroy(&nw);
}

/* A pre-candidate that loses stays in its term; it wins only with a quorum. */
static void
test_prevote_needs_quorum(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	net_isolate(&nw, 1);
	raft_campaign(net_raft(&nw, 1));
	net_stabilize(&nw);
	is_u64(net_status(&nw, 1).role, RAFT_PRECANDIDATE, "node 1 pre-campaigns");
	is_u64(net_status(&nw, 1).hard_state.term, 0, "at term 0");
	net_heal(&nw);
	raft_campaign(net_raft(&nw, 1));
	net_stabilize(&nw);
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "with a quorum it wins");
	is_u64(net_status(&nw, 1).hard_state.term, 1, "in term 1");
	net_destroy(&nw);
}

/* Pre-votes are refused while the voter hears from a leader. */
static void
test_prevote_refused_with_live_leader(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_message m;
	const raft_message *resp;

	options.disable_check_quorum = true; /* the pre-vote rule alone */
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "node 1 elected");
	m = message(RAFT_MSG_PREVOTE, 3, 2, 2);
	m.index = 5;
	m.log_term = 1;
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	resp = find(&nw, RAFT_MSG_PREVOTE_RESP, 2, 3);
	ok(resp && resp->reject, "follower with a live leader refuses a pre-vote");
	net_drop_queue(&nw);
	net_tick(&nw, 2, 10); /* election timeout without the leader */
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	resp = find(&nw, RAFT_MSG_PREVOTE_RESP, 2, 3);
	ok(resp && !resp->reject, "after an election timeout of silence: granted");
	net_destroy(&nw);
}

/* "A leader steps down if it cannot reach a quorum" (thesis 6.2). */
static void
test_check_quorum_steps_down(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_isolate(&nw, 1);
	net_tick(&nw, 1, 10);
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "one timeout: still leader");
	net_tick(&nw, 1, 10);
	is_u64(net_status(&nw, 1).role, RAFT_FOLLOWER,
		   "no quorum heard for a full timeout: steps down");
	net_destroy(&nw);
}

static void
test_check_quorum_keeps_healthy_leader(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_isolate(&nw, 3); /* one of three lost: still a quorum */
	for (int i = 0; i < 50; i++)
	{
		net_tick(&nw, 1, 1);
		net_tick(&nw, 2, 1);
		net_stabilize(&nw);
	}
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "leader with a quorum stays");
	net_destroy(&nw);
}

static void
test_check_quorum_disabled(void)
{
	raft_options options = net_default_options();
	net nw;

	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_isolate(&nw, 1);
	net_tick(&nw, 1, 50);
	is_u64(net_status(&nw, 1).role, RAFT_LEADER,
		   "without check-quorum an isolated leader stays leader");
	net_destroy(&nw);
}

/*
 * Lease: a follower that heard from the leader within the election
 * timeout ignores vote requests of a higher term, unless they are part of
 * a leader transfer.
 */
static void
test_lease_ignores_votes(void)
{
	net nw;
	raft_message m;
	raft_term term;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	term = net_status(&nw, 2).hard_state.term;
	m = message(RAFT_MSG_VOTE, 3, 2, term + 1);
	m.index = 100;
	m.log_term = term;
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	ok(find(&nw, RAFT_MSG_VOTE_RESP, 2, 3) == NULL, "in lease: no answer");
	is_u64(net_status(&nw, 2).hard_state.term, term, "in lease: term unchanged");

	m.context = 1; /* leader-transfer campaign */
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	ok(find(&nw, RAFT_MSG_VOTE_RESP, 2, 3) != NULL &&
		   !find(&nw, RAFT_MSG_VOTE_RESP, 2, 3)->reject,
	   "transfer campaign bypasses the lease and is granted");
	is_u64(net_status(&nw, 2).hard_state.term, term + 1, "term moved");
	net_destroy(&nw);
}

/*
 * A stale leader's append gets an answer carrying the newer term, so that
 * it steps down instead of being ignored forever.
 */
static void
test_lower_term_append_answered(void)
{
	net nw;
	raft_message m;
	const raft_message *resp;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	/* Node 2 moves to term 4 (a transfer vote bypasses its lease). */
	m = message(RAFT_MSG_VOTE, 3, 2, 4);
	m.context = 1;
	m.index = 1;
	m.log_term = 1;
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	net_drop_queue(&nw);
	m = message(RAFT_MSG_HEARTBEAT, 1, 2, 1);
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	resp = find(&nw, RAFT_MSG_APP_RESP, 2, 1);
	ok(resp && resp->term == 4, "old leader's heartbeat answered with term 4");
	m = message(RAFT_MSG_PREVOTE, 3, 2, 2);
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	resp = find(&nw, RAFT_MSG_PREVOTE_RESP, 2, 3);
	ok(resp && resp->reject && resp->term == 4,
	   "old pre-vote rejected with our term");
	net_deliver(&nw);
	is_u64(net_status(&nw, 1).role, RAFT_FOLLOWER,
		   "the stale leader learns term 4 and steps down");
	net_destroy(&nw);
}

static bool
drop_answers_to_appends(const raft_message *m, void *ud)
{
	(void) ud;
	return m->type == RAFT_MSG_APP_RESP || m->type == RAFT_MSG_HEARTBEAT_RESP;
}

/*
 * A new leader counts the voters that elected it as active, before any of
 * them answered its appends; one that did not vote is not.  Before, every
 * peer started inactive, and a removal asked of a leader just elected was
 * refused for want of a quorum of active voters.
 */
static void
test_new_leader_counts_its_voters_active(void)
{
	net nw;
	bool stepped_down;
	raft_message late;

	net_init(&nw, 3, NULL);
	nw.filter = drop_answers_to_appends;
	net_isolate(&nw, 3);
	raft_campaign(net_raft(&nw, 1));
	net_stabilize(&nw);
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "node 1 is elected by node 2");
	ok(net_progress(&nw, 1, 2).recent_active,
	   "node 2, which voted, is active before it answered an append");
	ok(!net_progress(&nw, 1, 3).recent_active, "node 3, cut off, is not");
	/* Its vote, come late, counts as well. */
	late = message(RAFT_MSG_VOTE_RESP, 3, 1, net_status(&nw, 1).hard_state.term);
	raft_step(net_raft(&nw, 1), &late);
	ok(net_progress(&nw, 1, 3).recent_active,
	   "node 3's vote, come after the election, marks it active");
	/* Votes count once: a later check-quorum needs answers since. */
	stepped_down = false;
	for (int i = 0; i < 30 && !stepped_down; i++)
	{
		run(&nw, 1);
		stepped_down = net_status(&nw, 1).role != RAFT_LEADER;
	}
	ok(stepped_down,
	   "with no answers to its appends, it steps down at a check-quorum");
	net_destroy(&nw);
}

int
main(void)
{
	test_partitioned_node_rejoins();
	test_prevote_keeps_terms();
	test_prevote_needs_quorum();
	test_prevote_refused_with_live_leader();
	test_check_quorum_steps_down();
	test_check_quorum_keeps_healthy_leader();
	test_check_quorum_disabled();
	test_lease_ignores_votes();
	test_lower_term_append_answered();
	test_new_leader_counts_its_voters_active();
	return tap_done();
}
