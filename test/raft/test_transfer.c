/*-------------------------------------------------------------------------
 *
 * test_transfer.c
 *	  Leader transfer (Raft thesis, 3.10): the leader catches the target
 *	  up, sends it TIMEOUT_NOW, and the target wins at once; proposals are
 *	  refused meanwhile; a transfer that does not finish within an election
 *	  timeout is abandoned; followers forward requests to the leader.
 *
 * test/raft/test_transfer.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

static void
test_transfer_to_up_to_date(void)
{
	net nw;
	raft_term term;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	term = net_status(&nw, 1).hard_state.term;
	is_u64(raft_transfer_leader(net_raft(&nw, 1), 2), RAFT_OK, "transfer to 2");
	net_stabilize(&nw);
	is_u64(net_status(&nw, 2).role, RAFT_LEADER, "2 leads");
	is_u64(net_status(&nw, 2).hard_state.term, term + 1,
		   "one new term: no pre-vote round, leases bypassed");
	is_u64(net_status(&nw, 1).role, RAFT_FOLLOWER, "1 follows");
	is_u64(net_status(&nw, 1).leader, 2, "1 knows the new leader");
	ok(net_propose(&nw, 2, 3), "new leader takes proposals");
	is_u64(nw.nodes[1].applied, net_status(&nw, 2).last_index,
		   "old leader applies them");
	net_destroy(&nw);
}

static void
test_transfer_to_lagging(void)
{
	net nw;
	uint8_t byte = 1;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	nw.cut[1][3] = true; /* 3 misses the next entries */
	net_propose(&nw, 1, 1);
	net_propose(&nw, 1, 2);
	ok(net_status(&nw, 3).last_index < net_status(&nw, 1).last_index,
	   "3 lags behind");
	is_u64(raft_transfer_leader(net_raft(&nw, 1), 3), RAFT_OK, "transfer to 3");
	is_u64(net_status(&nw, 1).lead_transferee, 3, "transfer recorded");
	is_u64(raft_propose(net_raft(&nw, 1), &byte, 1), RAFT_ERR_PROPOSAL_DROPPED,
		   "proposals refused while transferring");
	net_heal(&nw);
	net_tick(&nw, 1, 1); /* heartbeat: 3 answers, gets caught up */
	net_stabilize(&nw);
	is_u64(net_status(&nw, 3).role, RAFT_LEADER, "caught up, then took over");
	is_u64(net_status(&nw, 1).lead_transferee, RAFT_NONE, "transfer over");
	net_destroy(&nw);
}

static void
test_transfer_aborts_after_timeout(void)
{
	net nw;
	uint8_t byte = 1;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_isolate(&nw, 3);
	is_u64(raft_transfer_leader(net_raft(&nw, 1), 3), RAFT_OK, "transfer to 3");
	for (int i = 0; i < 9; i++)
	{
		net_tick(&nw, 1, 1);
		net_tick(&nw, 2, 1);
		net_stabilize(&nw);
	}
	is_u64(net_status(&nw, 1).lead_transferee, 3, "still trying after 9 ticks");
	net_tick(&nw, 1, 1);
	net_stabilize(&nw);
	is_u64(net_status(&nw, 1).lead_transferee, RAFT_NONE,
		   "abandoned after an election timeout");
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "1 still leads");
	is_u64(raft_propose(net_raft(&nw, 1), &byte, 1), RAFT_OK,
		   "proposals accepted again");
	net_destroy(&nw);
}

static void
test_follower_forwards(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	is_u64(raft_transfer_leader(net_raft(&nw, 3), 3), RAFT_OK,
		   "follower 3 asks for leadership");
	net_process(&nw, 3);
	is_u64(net_count(&nw, RAFT_MSG_TRANSFER_LEADER, 3, 1), 1,
		   "request forwarded to the leader");
	net_stabilize(&nw);
	is_u64(net_status(&nw, 3).role, RAFT_LEADER, "3 became leader");
	net_destroy(&nw);
}

static void
test_transfer_arguments(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	is_u64(raft_transfer_leader(net_raft(&nw, 2), 3),
		   RAFT_ERR_PROPOSAL_DROPPED, "no leader to forward to");
	ok(net_elect(&nw, 1), "node 1 elected");
	is_u64(raft_transfer_leader(net_raft(&nw, 1), 9), RAFT_ERR_INVALID,
		   "unknown node refused");
	is_u64(raft_transfer_leader(net_raft(&nw, 1), RAFT_NONE), RAFT_ERR_INVALID,
		   "node 0 refused");
	is_u64(raft_transfer_leader(net_raft(&nw, 1), 1), RAFT_OK,
		   "transfer to self is a no-op");
	is_u64(net_status(&nw, 1).lead_transferee, RAFT_NONE, "nothing recorded");
	net_stabilize(&nw);
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "still leader");
	net_destroy(&nw);
}

/* TIMEOUT_NOW to a node that is not a voter does nothing. */
static void
test_timeout_now_needs_voter(void)
{
	net nw;
	raft_message m;
	raft_config initial = net_config(3, 0);

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_add(&nw, 4, &initial);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_TIMEOUT_NOW;
	m.from = 1;
	m.to = 4;
	m.term = net_status(&nw, 1).hard_state.term;
	raft_step(net_raft(&nw, 4), &m);
	is_u64(net_status(&nw, 4).role, RAFT_FOLLOWER, "non-voter ignores it");
	net_destroy(&nw);
}

int
main(void)
{
	test_transfer_to_up_to_date();
	test_transfer_to_lagging();
	test_transfer_aborts_after_timeout();
	test_follower_forwards();
	test_transfer_arguments();
	test_timeout_now_needs_voter();
	return tap_done();
}
