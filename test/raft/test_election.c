/*-------------------------------------------------------------------------
 *
 * test_election.c
 *	  Leader election: randomized timeouts, one vote per term, the
 *	  up-to-date check, term rules, single-voter groups.
 *
 * test/raft/test_election.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

/* The first message of type in the queue addressed to "to", or NULL. */
static const raft_message *
find(const net *nw, uint8_t type, raft_id to)
{
	for (uint32_t i = 0; i < nw->n_queue; i++)
	{
		if (nw->queue[i].type == type &&
			(to == RAFT_NONE || nw->queue[i].to == to))
			return &nw->queue[i];
	}
	return NULL;
}

static raft_message
vote_request(uint8_t type, raft_id from, raft_id to, raft_term term,
			 raft_index index, raft_term log_term)
{
	raft_message m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = from;
	m.to = to;
	m.term = term;
	m.index = index;
	m.log_term = log_term;
	return m;
}

/* "Followers start an election after an election timeout." */
static void
test_first_election(void)
{
	net nw;
	raft_status s1;

	net_init(&nw, 3, NULL);
	net_tick(&nw, 1, 20); /* at most 2x election_tick */
	net_stabilize(&nw);
	s1 = net_status(&nw, 1);
	is_u64(s1.role, RAFT_LEADER, "node 1 wins the first election");
	is_u64(s1.hard_state.term, 1, "pre-vote then vote: term 1 exactly");
	is_u64(net_status(&nw, 2).leader, 1, "node 2 follows 1");
	is_u64(net_status(&nw, 3).leader, 1, "node 3 follows 1");
	is_u64(net_status(&nw, 2).hard_state.vote, 1, "node 2 voted for 1");
	/* The new leader's empty entry commits everywhere. */
	is_u64(net_status(&nw, 3).hard_state.commit, 1, "empty entry committed");
	is_u64(nw.nodes[3].applied, 1, "empty entry applied on followers");
	net_destroy(&nw);
}

/* Timeouts fall in [election_tick, 2 * election_tick) and vary by seed. */
static void
test_randomized_timeout(void)
{
	uint32_t low = 1000;
	uint32_t high = 0;
	bool all_in_range = true;

	for (uint64_t seed = 1; seed <= 50; seed++)
	{
		raft_options options = net_default_options();
		net nw;
		uint32_t ticks = 0;

		options.seed = seed;
		net_init(&nw, 3, &options);
		while (net_status(&nw, 1).role == RAFT_FOLLOWER && ticks < 100)
		{
			net_tick(&nw, 1, 1);
			ticks++;
		}
		if (ticks < 10 || ticks >= 20)
			all_in_range = false;
		low = ticks < low ? ticks : low;
		high = ticks > high ? ticks : high;
		net_destroy(&nw);
	}
	ok(all_in_range, "campaign after [10, 20) ticks for 50 seeds (%u..%u)",
	   low, high);
	ok(high > low, "timeouts are randomized");
}

/* "Each server will vote for at most one candidate in a given term." */
static void
test_one_vote_per_term(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_message m;
	const raft_message *resp;

	options.disable_pre_vote = true;
	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);

	m = vote_request(RAFT_MSG_VOTE, 2, 1, 1, 0, 0);
	ok(raft_step(net_raft(&nw, 1), &m) == RAFT_OK, "step vote from 2");
	net_process(&nw, 1);
	resp = find(&nw, RAFT_MSG_VOTE_RESP, 2);
	ok(resp && !resp->reject && resp->term == 1, "vote granted to 2");
	is_u64(nw.nodes[1].hard_state.vote, 2, "vote persisted before sending");
	net_drop_queue(&nw);

	m = vote_request(RAFT_MSG_VOTE, 3, 1, 1, 0, 0);
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	resp = find(&nw, RAFT_MSG_VOTE_RESP, 3);
	ok(resp && resp->reject, "second candidate of the same term rejected");
	net_drop_queue(&nw);

	m = vote_request(RAFT_MSG_VOTE, 2, 1, 1, 0, 0);
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	resp = find(&nw, RAFT_MSG_VOTE_RESP, 2);
	ok(resp && !resp->reject, "repeated request of the same candidate granted");
	net_drop_queue(&nw);

	m = vote_request(RAFT_MSG_VOTE, 3, 1, 2, 0, 0);
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	resp = find(&nw, RAFT_MSG_VOTE_RESP, 3);
	ok(resp && !resp->reject && resp->term == 2, "new term: new vote");
	is_u64(net_status(&nw, 1).hard_state.term, 2, "term follows the request");
	net_destroy(&nw);
}

/* "The voter denies its vote if its own log is more up-to-date." */
static void
test_up_to_date(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_message m;
	const raft_message *resp;
	raft_term term;

	options.disable_check_quorum = true;
	options.disable_pre_vote = true;
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "node 1 elected");
	ok(net_propose(&nw, 1, 7), "proposal accepted");
	/* Node 2 now has [1:t1, 2:t1]. */
	term = net_status(&nw, 2).hard_state.term;
	is_u64(net_status(&nw, 2).last_index, 2, "node 2 has two entries");

	m = vote_request(RAFT_MSG_VOTE, 3, 2, term + 1, 1, term);
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	resp = find(&nw, RAFT_MSG_VOTE_RESP, 3);
	ok(resp && resp->reject, "shorter log with the same last term: rejected");
	net_drop_queue(&nw);

	m = vote_request(RAFT_MSG_VOTE, 3, 2, term + 2, 2, term);
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	resp = find(&nw, RAFT_MSG_VOTE_RESP, 3);
	ok(resp && !resp->reject, "equal log: granted");
	net_drop_queue(&nw);

	m = vote_request(RAFT_MSG_VOTE, 1, 2, term + 3, 1, term + 1);
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	resp = find(&nw, RAFT_MSG_VOTE_RESP, 1);
	ok(resp && !resp->reject, "later last term wins over a longer log");
	net_destroy(&nw);
}

/* A lone voter elects itself on its timeout and commits alone. */
static void
test_single_voter(void)
{
	net nw;
	raft_status s;

	net_init(&nw, 1, NULL);
	net_tick(&nw, 1, 20);
	net_stabilize(&nw);
	s = net_status(&nw, 1);
	is_u64(s.role, RAFT_LEADER, "single voter leads after its timeout");
	is_u64(s.hard_state.commit, 1, "and commits its empty entry");
	ok(net_propose(&nw, 1, 9), "single voter accepts a proposal");
	s = net_status(&nw, 1);
	is_u64(s.hard_state.commit, 2, "and commits it once persisted");
	is_u64(nw.nodes[1].applied, 2, "and applies it");
	is_u64(nw.nodes[1].log[1].first_byte, 9, "the applied data is ours");
	net_destroy(&nw);
}

/* A candidate that hears from a leader of its term steps down. */
static void
test_candidate_steps_down(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_message m;

	options.disable_pre_vote = true;
	net_init(&nw, 3, &options);
	raft_campaign(net_raft(&nw, 1));
	is_u64(net_status(&nw, 1).role, RAFT_CANDIDATE, "node 1 campaigns");
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_HEARTBEAT;
	m.from = 2;
	m.to = 1;
	m.term = 1;
	raft_step(net_raft(&nw, 1), &m);
	is_u64(net_status(&nw, 1).role, RAFT_FOLLOWER,
		   "heartbeat of term 1: follower");
	is_u64(net_status(&nw, 1).leader, 2, "and knows the leader");
	net_destroy(&nw);
}

/* A leader that sees a higher term becomes a follower of it. */
static void
test_leader_sees_higher_term(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_message m;

	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "node 1 elected");
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APP_RESP;
	m.from = 2;
	m.to = 1;
	m.term = 5;
	raft_step(net_raft(&nw, 1), &m);
	is_u64(net_status(&nw, 1).role, RAFT_FOLLOWER, "leader steps down");
	is_u64(net_status(&nw, 1).hard_state.term, 5, "at the higher term");
	is_u64(net_status(&nw, 1).leader, RAFT_NONE, "without a leader");
	net_destroy(&nw);
}

/* Split votes resolve: everybody ticking, someone wins eventually. */
static void
test_eventually_one_leader(void)
{
	net nw;
	uint32_t leaders = 0;

	net_init(&nw, 5, NULL);
	for (uint32_t i = 0; i < 100 && leaders == 0; i++)
	{
		net_tick_all(&nw, 1);
		net_stabilize(&nw);
		for (raft_id id = 1; id <= 5; id++)
			leaders += net_status(&nw, id).role == RAFT_LEADER;
	}
	is_u64(leaders, 1, "exactly one leader among five");
	net_destroy(&nw);
}

/* Node outside its configuration never campaigns. */
static void
test_non_member_never_campaigns(void)
{
	net nw;
	raft_config config = net_config(3, 0);

	net_init(&nw, 3, NULL);
	net_add(&nw, 4, &config); /* 4 is not in its own config */
	net_tick(&nw, 4, 100);
	net_process_all(&nw);
	is_u64(net_status(&nw, 4).role, RAFT_FOLLOWER, "non-member stays follower");
	is_u64(net_status(&nw, 4).hard_state.term, 0, "and never bumps its term");
	is_u64(nw.n_queue, 0, "and sends nothing");
	net_destroy(&nw);
}

int
main(void)
{
	test_first_election();
	test_randomized_timeout();
	test_one_vote_per_term();
	test_up_to_date();
	test_single_voter();
	test_candidate_steps_down();
	test_leader_sees_higher_term();
	test_eventually_one_leader();
	test_non_member_never_campaigns();
	return tap_done();
}
