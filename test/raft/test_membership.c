/*-------------------------------------------------------------------------
 *
 * test_membership.c
 *	  Configuration changes: learners (receive entries, never vote, never
 *	  count), one change at a time, no change before an entry of the
 *	  leader's term commits, adding and removing voters, a removed leader
 *	  steps down, and a shrinking quorum commits at once.
 *
 * test/raft/test_membership.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

static int
propose_change(net *nw, raft_id leader, uint8_t type, raft_id node)
{
	raft_conf_change change;

	memset(&change, 0, sizeof(change));
	change.type = type;
	change.node = node;
	return raft_propose_conf_change(net_raft(nw, leader), &change);
}

static int
change_and_settle(net *nw, raft_id leader, uint8_t type, raft_id node)
{
	int rc = propose_change(nw, leader, type, node);

	net_stabilize(nw);
	net_tick(nw, leader, 1); /* a heartbeat spreads the commit index */
	net_stabilize(nw);
	return rc;
}

/*
 * A node joining the group starts with empty storage and the group's
 * initial configuration (in effect at index 0): replaying the log's
 * configuration changes, or a snapshot, brings it up to date.
 */
static raft_config initial3;

static void
test_learner(void)
{
	net nw;
	raft_status s;
	raft_index commit;
	raft_term term;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_add(&nw, 4, &initial3);
	is_u64(change_and_settle(&nw, 1, RAFT_CONF_ADD_LEARNER, 4), RAFT_OK,
		   "add learner 4");
	s = net_status(&nw, 1);
	ok(raft_config_is_learner(&s.config, 4), "leader's config has learner 4");
	ok(raft_config_is_learner(&nw.nodes[4].config, 4),
	   "learner applied its own addition");
	is_u64(nw.nodes[4].applied, 2, "learner received and applied the log");
	ok(net_propose(&nw, 1, 5), "proposal");
	is_u64(nw.nodes[4].applied, 3, "learner gets new entries");

	/* Learners do not count for commit. */
	net_isolate(&nw, 2);
	net_isolate(&nw, 3);
	commit = net_status(&nw, 1).hard_state.commit;
	ok(net_propose(&nw, 1, 6), "proposal with only the learner reachable");
	is_u64(net_status(&nw, 4).last_index, 4, "learner stores it");
	is_u64(net_status(&nw, 1).hard_state.commit, commit,
		   "but leader + learner are no quorum");

	/* Learners never campaign. */
	term = net_status(&nw, 4).hard_state.term;
	net_isolate(&nw, 4);
	net_tick(&nw, 4, 100);
	net_stabilize(&nw);
	is_u64(net_status(&nw, 4).role, RAFT_FOLLOWER, "learner never campaigns");
	is_u64(net_status(&nw, 4).hard_state.term, term, "nor raises its term");
	raft_campaign(net_raft(&nw, 4));
	is_u64(net_status(&nw, 4).role, RAFT_FOLLOWER, "not even when asked");

	/* Learners are not asked for votes, so cannot elect anyone. */
	net_heal(&nw);
	net_isolate(&nw, 2);
	net_isolate(&nw, 3);
	net_crash(&nw, 1);
	net_restart(&nw, 1);
	raft_campaign(net_raft(&nw, 1));
	net_stabilize(&nw);
	ok(net_status(&nw, 1).role != RAFT_LEADER,
	   "voter + learner cannot win an election");
	is_u64(net_count(&nw, RAFT_MSG_PREVOTE, 1, 4), 0,
		   "no request to the learner");
	{
		raft_message grant;

		memset(&grant, 0, sizeof(grant));
		grant.type = RAFT_MSG_PREVOTE_RESP;
		grant.from = 4;
		grant.to = 1;
		grant.term = net_status(&nw, 1).hard_state.term + 1;
		raft_campaign(net_raft(&nw, 1));
		raft_step(net_raft(&nw, 1), &grant);
		is_u64(net_status(&nw, 1).role, RAFT_PRECANDIDATE,
			   "a learner's grant does not count");
	}
	net_destroy(&nw);
}

static void
test_promote_learner(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_add(&nw, 4, &initial3);
	is_u64(change_and_settle(&nw, 1, RAFT_CONF_ADD_LEARNER, 4), RAFT_OK,
		   "add learner 4");
	is_u64(change_and_settle(&nw, 1, RAFT_CONF_ADD_VOTER, 4), RAFT_OK,
		   "promote 4");
	{
		raft_status s2 = net_status(&nw, 2);

		ok(raft_config_is_voter(&s2.config, 4), "4 is a voter");
	}
	is_u64(net_status(&nw, 2).config.n_learners, 0, "no learners left");
	/* Four voters: quorum 3.  1 and 4 alone cannot commit. */
	net_isolate(&nw, 2);
	net_isolate(&nw, 3);
	net_propose(&nw, 1, 1);
	ok(net_status(&nw, 1).hard_state.commit < net_status(&nw, 1).last_index,
	   "2 of 4 voters: no commit");
	net_heal(&nw);
	net_tick(&nw, 1, 1);
	net_stabilize(&nw);
	is_u64(net_status(&nw, 1).hard_state.commit, net_status(&nw, 1).last_index,
		   "healed: commits");
	net_destroy(&nw);
}

static void
test_one_change_at_a_time(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_add(&nw, 4, &initial3);
	net_add(&nw, 5, &initial3);
	is_u64(propose_change(&nw, 1, RAFT_CONF_ADD_VOTER, 4), RAFT_OK,
		   "first change accepted");
	is_u64(propose_change(&nw, 1, RAFT_CONF_ADD_VOTER, 5),
		   RAFT_ERR_CONF_CHANGE_PENDING,
		   "second refused while the first is unapplied");
	net_stabilize(&nw);
	is_u64(propose_change(&nw, 1, RAFT_CONF_ADD_VOTER, 5), RAFT_OK,
		   "accepted once the first is applied");
	net_stabilize(&nw);
	is_u64(net_status(&nw, 1).config.n_voters, 5, "five voters");
	is_u64(propose_change(&nw, 2, RAFT_CONF_REMOVE, 5),
		   RAFT_ERR_PROPOSAL_DROPPED, "followers refuse changes");
	is_u64(propose_change(&nw, 1, RAFT_CONF_ADD_VOTER, RAFT_NONE),
		   RAFT_ERR_INVALID, "node 0 is invalid");
	net_destroy(&nw);
}

/* No change before an entry of the leader's own term has committed. */
static void
test_change_waits_for_own_term_commit(void)
{
	net nw;

	net_init(&nw, 1, NULL);
	raft_campaign(net_raft(&nw, 1));
	is_u64(net_status(&nw, 1).role, RAFT_LEADER, "single voter leads at once");
	is_u64(propose_change(&nw, 1, RAFT_CONF_ADD_LEARNER, 2),
		   RAFT_ERR_CONF_CHANGE_PENDING,
		   "empty entry not committed yet: refused");
	net_process(&nw, 1); /* persisted: commits its empty entry */
	is_u64(net_status(&nw, 1).hard_state.commit, 1, "empty entry committed");
	is_u64(propose_change(&nw, 1, RAFT_CONF_ADD_LEARNER, 2), RAFT_OK,
		   "now accepted");
	net_destroy(&nw);
}

static void
test_remove_follower(void)
{
	net nw;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	is_u64(change_and_settle(&nw, 1, RAFT_CONF_REMOVE, 3), RAFT_OK, "remove 3");
	is_u64(net_status(&nw, 1).config.n_voters, 2, "two voters left");
	ok(!raft_config_is_voter(&nw.nodes[3].config, 3), "3 applied its removal");
	net_isolate(&nw, 3);
	ok(net_propose(&nw, 1, 1), "proposal without 3");
	is_u64(net_status(&nw, 2).hard_state.commit, net_status(&nw, 1).last_index,
		   "1 and 2 commit alone");
	net_tick(&nw, 3, 100);
	is_u64(net_status(&nw, 3).role, RAFT_FOLLOWER,
		   "removed node never campaigns");
	net_destroy(&nw);
}

static void
test_remove_leader(void)
{
	net nw;
	raft_id leader = RAFT_NONE;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	is_u64(change_and_settle(&nw, 1, RAFT_CONF_REMOVE, 1), RAFT_OK,
		   "leader proposes its own removal");
	is_u64(net_status(&nw, 1).role, RAFT_FOLLOWER,
		   "removed leader steps down once it applied the removal");
	{
		raft_status s1 = net_status(&nw, 1);

		ok(!raft_config_is_voter(&s1.config, 1) &&
			   !raft_config_is_learner(&s1.config, 1),
		   "it is not in its configuration");
	}
	for (int i = 0; i < 60 && leader == RAFT_NONE; i++)
	{
		net_tick_all(&nw, 1);
		net_stabilize(&nw);
		for (raft_id id = 2; id <= 3; id++)
			if (net_status(&nw, id).role == RAFT_LEADER)
				leader = id;
	}
	ok(leader == 2 || leader == 3, "2 or 3 takes over");
	ok(net_status(&nw, 1).role != RAFT_LEADER, "1 never leads again");
	if (leader != RAFT_NONE)
	{
		ok(net_propose(&nw, leader, 9), "new leader takes proposals");
		is_u64(net_status(&nw, 5 - leader).hard_state.commit,
			   net_status(&nw, leader).last_index, "two voters commit");
	}
	net_destroy(&nw);
}

/*
 * Two voters {1, 2}: the leader proposes removing 2, then an entry B that
 * 2 never acknowledges.  Applying the removal shrinks the quorum to the
 * leader alone, which must commit B right away (maybeCommit after a
 * configuration change).
 */
static void
test_shrinking_quorum_commits(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_index b_index;
	uint8_t byte = 42;

	options.disable_check_quorum = true;
	net_init(&nw, 2, &options);
	ok(net_elect(&nw, 1), "node 1 elected");
	is_u64(propose_change(&nw, 1, RAFT_CONF_REMOVE, 2), RAFT_OK, "remove 2");
	net_process(&nw, 1); /* APP(removal) to 2 queued */
	net_deliver(&nw);	 /* 2 stores it; its APP_RESP queued */
	is_u64(raft_propose(net_raft(&nw, 1), &byte, 1), RAFT_OK, "propose B");
	b_index = net_status(&nw, 1).last_index;
	net_process(&nw, 1); /* B persisted on 1 */
	nw.cut[1][2] = true; /* 2 never gets B */
	net_deliver(&nw);	 /* the removal commits, is applied */
	net_process_all(&nw);
	is_u64(net_status(&nw, 1).config.n_voters, 1, "removal applied");
	is_u64(net_status(&nw, 1).hard_state.commit, b_index,
		   "B committed by the shrunk quorum");
	is_u64(nw.nodes[1].applied, b_index, "and applied");
	net_destroy(&nw);
}

static void
test_config_helpers(void)
{
	raft_config c = net_config(1, 0);
	raft_conf_change ch = { .type = RAFT_CONF_ADD_LEARNER, .node = 2 };

	is_u64(raft_config_apply(&c, &ch), RAFT_OK, "add learner");
	ok(raft_config_is_learner(&c, 2) && !raft_config_is_voter(&c, 2), "learner");
	ch.type = RAFT_CONF_ADD_VOTER;
	is_u64(raft_config_apply(&c, &ch), RAFT_OK, "promote");
	ok(raft_config_is_voter(&c, 2) && c.n_learners == 0, "voter, not learner");
	is_u64(raft_config_apply(&c, &ch), RAFT_OK, "adding twice is a no-op");
	is_u64(c.n_voters, 2, "still two voters");
	ch.type = RAFT_CONF_REMOVE;
	ch.node = 7;
	is_u64(raft_config_apply(&c, &ch), RAFT_OK, "removing a stranger: no-op");
	ch.node = 1;
	is_u64(raft_config_apply(&c, &ch), RAFT_OK, "remove 1");
	ch.node = 2;
	is_u64(raft_config_apply(&c, &ch), RAFT_ERR_INVALID,
		   "removing the last voter is refused");
	is_u64(c.n_voters, 1, "config unchanged by a refused change");
	ch.type = 9;
	is_u64(raft_config_apply(&c, &ch), RAFT_ERR_INVALID, "unknown type refused");
	c = net_config(RAFT_MAX_MEMBERS, 0);
	ch.type = RAFT_CONF_ADD_LEARNER;
	ch.node = 1000;
	is_u64(raft_config_apply(&c, &ch), RAFT_ERR_INVALID,
		   "more than RAFT_MAX_MEMBERS refused");
}

int
main(void)
{
	initial3 = net_config(3, 0);
	test_learner();
	test_promote_learner();
	test_one_change_at_a_time();
	test_change_waits_for_own_term_commit();
	test_remove_follower();
	test_remove_leader();
	test_shrinking_quorum_commits();
	test_config_helpers();
	return tap_done();
}
