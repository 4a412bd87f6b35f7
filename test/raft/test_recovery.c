/*-------------------------------------------------------------------------
 *
 * test_recovery.c
 *	  Lost and rolled-back state (src/raft/README.md, section 5): a wiped
 *	  follower and a follower restored from an older copy of its disk are
 *	  recognised and caught up; a recovering node refuses votes and does
 *	  not campaign; the leader stops probing, and counting, at a match the
 *	  follower no longer has; a heartbeat commits only an entry that is the
 *	  leader's.
 *
 * test/raft/test_recovery.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

#define ROUNDS 300

/* Time passes, a tick at a time, until cond holds or ROUNDS ran out. */
#define RUN_UNTIL(nw, cond)                                                   \
	do                                                                        \
	{                                                                         \
		for (int round_ = 0; round_ < ROUNDS && !(cond); round_++)            \
		{                                                                     \
			net_tick_all((nw), 1);                                            \
			net_stabilize((nw));                                              \
		}                                                                     \
	} while (0)

/* Counts RECOVER messages (notices, or targets) to a node; drops none. */
typedef struct recover_count
{
	raft_id to;
	uint32_t notices;				/* "you are behind" */
	uint32_t targets;				/* with a recovery target */
	const net *nw;					/* to look at the leader's progress */
	raft_progress_status at_notice; /* of the receiver, at the first notice */
} recover_count;

static bool
count_recover(const raft_message *m, void *ud)
{
	recover_count *c = ud;

	if (m->type == RAFT_MSG_RECOVER && m->to == c->to)
	{
		if (m->reject && c->notices == 0 && c->nw != NULL)
			c->at_notice = net_progress(c->nw, m->from, c->to);
		c->notices += m->reject;
		c->targets += m->index > 0;
	}
	return false;
}

static raft_id
leader_of(const net *nw)
{
	for (raft_id id = 1; id <= NET_MAX_NODES; id++)
	{
		if (nw->nodes[id].exists && !nw->nodes[id].down &&
			net_status(nw, id).role == RAFT_LEADER)
			return id;
	}
	return RAFT_NONE;
}

/* Every node applied the same entries, the first `upto` of them. */
static bool
same_history(const net *nw, raft_id a, raft_id b, raft_index upto)
{
	const net_node *x = &nw->nodes[a];
	const net_node *y = &nw->nodes[b];

	if (x->applied < upto || y->applied < upto)
		return false;
	for (raft_index i = 0; i < upto; i++)
	{
		/* a snapshot skips the applied record: compare what both have */
		if (i >= x->n_log || i >= y->n_log)
			continue;
		if (x->log[i].index != y->log[i].index ||
			x->log[i].term != y->log[i].term ||
			x->log[i].first_byte != y->log[i].first_byte)
			return false;
	}
	return true;
}

static void
propose_n(net *nw, raft_id leader, uint8_t from, uint8_t n)
{
	for (uint8_t i = 0; i < n; i++)
		(void) net_propose(nw, leader, (uint8_t) (from + i));
	net_tick(nw, leader, 1);
	net_stabilize(nw);
}

/*
 * The bug of issue 10, on a host that keeps no identities: a follower's
 * disk is wiped; the leader kept probing at its old match, the follower
 * rejected every append, forever.  Now the leader believes the rejection.
 */
static void
test_wiped_follower_without_identities(void)
{
	net nw;
	raft_config config = net_config(3, 0);
	raft_index last;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	propose_n(&nw, 1, 10, 20);
	last = net_status(&nw, 1).last_index;
	is_u64(net_progress(&nw, 1, 3).match, last, "node 3 acknowledged all");
	net_crash(&nw, 3);
	net_wipe(&nw, 3, &config, false);
	net_restart(&nw, 3);
	RUN_UNTIL(&nw, nw.nodes[3].applied >= last);
	is_u64(nw.nodes[3].applied, last, "the wiped follower is caught up again");
	ok(same_history(&nw, 1, 3, last), "with the same entries");
	net_destroy(&nw);
}

/* A wiped follower, flagged recovering by its host, rejoins. */
static void
test_wiped_follower_recovers(bool compacted)
{
	net nw;
	raft_config config = net_config(3, 0);
	raft_index last;
	raft_status st;
	recover_count seen = { .to = 3 };

	net_init_identity(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	propose_n(&nw, 1, 10, 10);
	last = net_status(&nw, 1).last_index;
	if (compacted)
		ok(raft_memory_storage_create_snapshot(nw.nodes[1].ms, last, &config,
											   (const uint8_t *) "s",
											   1) == RAFT_OK,
		   "the leader compacts its log");
	net_crash(&nw, 3);
	net_wipe(&nw, 3, &config, true);
	net_restart(&nw, 3);
	st = net_status(&nw, 3);
	ok(st.hard_state.recovering && st.hard_state.incarnation != 0,
	   "the new disk starts recovering, with a new incarnation");
	nw.filter = count_recover;
	nw.filter_ud = &seen;
	RUN_UNTIL(&nw,
			  nw.nodes[3].applied >= last &&
				  !net_status(&nw, 3).hard_state.recovering);
	ok(seen.targets > 0 && seen.notices == 0,
	   "the leader gave it a target (%u), nobody had to tell it (%u)",
	   seen.targets, seen.notices);
	is_u64(nw.nodes[3].applied, last,
		   compacted ? "caught up from the leader's snapshot"
					 : "caught up from index 1 by entries");
	ok(!net_status(&nw, 3).hard_state.recovering &&
		   !nw.nodes[3].hard_state.recovering,
	   "and no longer recovering, on disk too");
	if (!compacted)
		ok(same_history(&nw, 1, 3, last), "with the same entries");
	propose_n(&nw, 1, 50, 1);
	is_u64(nw.nodes[3].applied, last + 1, "it follows new entries");
	net_destroy(&nw);
}

/*
 * A follower restored from a copy of its stopped disk (a snapshot of a
 * stopped machine), after it had run on and acknowledged more: its peers
 * saw a newer life of it, so its first message gives it away.
 */
static void
test_rolled_back_follower_recovers(void)
{
	net nw;
	net_disk *copy;
	raft_index last;
	raft_index before;

	net_init_identity(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	propose_n(&nw, 1, 10, 3);
	net_crash(&nw, 3);
	copy = net_backup(&nw, 3);
	before = nw.nodes[3].applied;
	net_restart(&nw, 3);
	net_stabilize(&nw);
	propose_n(&nw, 1, 20, 5);
	last = net_status(&nw, 1).last_index;
	is_u64(net_progress(&nw, 1, 3).match, last, "node 3 acknowledged more");
	net_crash(&nw, 3);
	net_restore(&nw, 3, copy, false);
	net_restart(&nw, 3);
	is_u64(net_status(&nw, 3).last_index, before,
		   "restored, its log ends where the copy did");
	ok(!net_status(&nw, 3).hard_state.recovering,
	   "and nobody told it it is behind");
	RUN_UNTIL(&nw, net_status(&nw, 3).hard_state.recovering);
	ok(nw.behind > 0, "its peers refused its messages (%llu)",
	   (unsigned long long) nw.behind);
	ok(net_status(&nw, 3).hard_state.recovering, "it learned it is behind");
	RUN_UNTIL(&nw,
			  !net_status(&nw, 3).hard_state.recovering &&
				  nw.nodes[3].applied >= last);
	is_u64(nw.nodes[3].applied, last, "then caught up");
	ok(!net_status(&nw, 3).hard_state.recovering, "and recovered");
	ok(same_history(&nw, 1, 3, last), "with the same entries");
	net_disk_free(copy);
	net_destroy(&nw);
}

/*
 * A follower restored from a copy of its running disk: it looks like any
 * restart to its peers.  The leader, which still holds its match, sees
 * its log end below what it acknowledged, from a new life, and tells it.
 */
static void
test_rollback_found_by_match(void)
{
	net nw;
	net_disk *copy;
	raft_index last;
	recover_count seen = { .to = 3, .nw = &nw };

	net_init_identity(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	propose_n(&nw, 1, 10, 3);
	copy = net_backup(&nw, 3);
	propose_n(&nw, 1, 20, 5);
	last = net_status(&nw, 1).last_index;
	net_crash(&nw, 3);
	net_restore(&nw, 3, copy, false);
	net_restart(&nw, 3);
	is_u64(net_progress(&nw, 1, 3).match, last, "the leader holds its match");
	nw.filter = count_recover;
	nw.filter_ud = &seen;
	RUN_UNTIL(&nw, seen.notices > 0);
	ok(seen.notices > 0,
	   "it saw the log below that match, from a new life, and told it");
	ok(seen.at_notice.match == 0 && seen.at_notice.recovering,
	   "and had stopped counting the old match when it did");
	RUN_UNTIL(&nw,
			  !net_status(&nw, 3).hard_state.recovering &&
				  nw.nodes[3].applied >= last);
	is_u64(nw.nodes[3].applied, last, "caught up");
	ok(!net_status(&nw, 3).hard_state.recovering, "and recovered");
	net_disk_free(copy);
	net_destroy(&nw);
}

static uint32_t
granted_votes(const net *nw, raft_id from)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < nw->n_queue; i++)
	{
		const raft_message *m = &nw->queue[i];

		if (m->from == from && !m->reject &&
			(m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PREVOTE_RESP))
			n++;
	}
	return n;
}

/* A recovering node grants no vote or pre-vote and does not campaign. */
static void
test_recovering_refuses_votes(void)
{
	raft_options o = net_default_options();
	net nw;
	raft_config config = net_config(3, 0);
	raft_message m;

	o.disable_check_quorum = true;
	net_init_identity(&nw, 3, &o);
	net_crash(&nw, 3);
	net_wipe(&nw, 3, &config, true);
	net_restart(&nw, 3);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_PREVOTE;
	m.from = 2;
	m.to = 3;
	m.term = 1;
	raft_step(net_raft(&nw, 3), &m);
	m.type = RAFT_MSG_VOTE;
	raft_step(net_raft(&nw, 3), &m);
	net_process(&nw, 3);
	is_u64(granted_votes(&nw, 3), 0, "no pre-vote, no vote granted");
	is_u64(nw.nodes[3].hard_state.vote, 0, "and none recorded");
	net_drop_queue(&nw);
	net_crash(&nw, 1);
	net_crash(&nw, 2);
	net_tick(&nw, 3, 100);
	net_process(&nw, 3);
	ok(net_status(&nw, 3).role == RAFT_FOLLOWER && nw.n_queue == 0,
	   "it never campaigns");
	net_destroy(&nw);
}

/*
 * A group whose only way to a quorum is a recovering node waits: safety
 * first.  When the missing node returns, a leader is elected and the
 * recovering node catches up.
 */
static void
test_quorum_through_recovering_waits(void)
{
	net nw;
	raft_config config = net_config(3, 0);
	raft_index last;

	net_init_identity(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	propose_n(&nw, 1, 10, 4);
	last = net_status(&nw, 1).last_index;
	net_crash(&nw, 1);
	net_crash(&nw, 3);
	net_wipe(&nw, 3, &config, true);
	net_restart(&nw, 3);
	RUN_UNTIL(&nw, leader_of(&nw) != RAFT_NONE);
	is_u64(leader_of(&nw), RAFT_NONE,
		   "nodes 2 and 3 (recovering) elect nobody in 300 rounds");
	net_restart(&nw, 1);
	RUN_UNTIL(&nw,
			  leader_of(&nw) != RAFT_NONE &&
				  !net_status(&nw, 3).hard_state.recovering);
	ok(leader_of(&nw) == 1 || leader_of(&nw) == 2,
	   "with node 1 back, a leader is elected");
	ok(!net_status(&nw, 3).hard_state.recovering && nw.nodes[3].applied >= last,
	   "and node 3 recovers");
	net_destroy(&nw);
}

/*
 * A restarted node grants no vote for one election timeout: time for a
 * peer that knows a newer state of it to say so.
 */
static void
test_restart_quiet(void)
{
	raft_options o = net_default_options();
	net nw;
	raft_message m;

	o.disable_check_quorum = true;
	o.disable_pre_vote = true;
	net_init_identity(&nw, 3, &o);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_crash(&nw, 3);
	net_restart(&nw, 3);
	net_drop_queue(&nw);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_VOTE;
	m.from = 2;
	m.to = 3;
	m.term = 5;
	m.index = 10;
	m.log_term = 5;
	m.from_incarnation = nw.nodes[2].hard_state.incarnation;
	raft_step(net_raft(&nw, 3), &m);
	net_process(&nw, 3);
	is_u64(granted_votes(&nw, 3), 0, "just restarted: no vote");
	net_drop_queue(&nw);
	net_tick(&nw, 3, 10);
	m.term = 6;
	raft_step(net_raft(&nw, 3), &m);
	net_process(&nw, 3);
	is_u64(granted_votes(&nw, 3), 1, "an election timeout later: the vote");
	net_destroy(&nw);
}

/*
 * A heartbeat's commit index comes with the leader's term there: a
 * follower whose entry differs (its disk went back to entries the leader
 * replaced, and the leader's match for it is stale) commits nothing.
 */
static void
test_heartbeat_commits_only_the_leaders_entry(void)
{
	net nw;
	raft_message m;
	const raft_term terms[] = { 1, 1, 1 };

	net_init(&nw, 3, NULL);
	net_load(&nw, 2, terms, 3, 2);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_HEARTBEAT;
	m.from = 1;
	m.to = 2;
	m.term = 2;
	m.commit = 3;
	m.log_term = 2;
	raft_step(net_raft(&nw, 2), &m);
	is_u64(net_status(&nw, 2).hard_state.commit, 0,
		   "commit 3 of term 2 over an entry of term 1: not taken");
	m.log_term = 1;
	raft_step(net_raft(&nw, 2), &m);
	is_u64(net_status(&nw, 2).hard_state.commit, 3,
		   "commit 3 of term 1, our entry: taken");
	net_destroy(&nw);
}

/* What the core learns of its peers, and that it recovers, is durable. */
static void
test_recovering_survives_restart(void)
{
	net nw;
	raft_config config = net_config(3, 0);

	net_init_identity(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	ok(nw.nodes[2].n_peers == 1 && nw.nodes[2].peers[0].id == 1 &&
		   nw.nodes[2].peers[0].incarnation == nw.nodes[1].hard_state.incarnation,
	   "node 2 persisted its record of the leader");
	net_crash(&nw, 3);
	net_wipe(&nw, 3, &config, true);
	net_restart(&nw, 3);
	net_isolate(&nw, 3);
	net_tick(&nw, 3, 5);
	net_process(&nw, 3);
	net_crash(&nw, 3);
	net_restart(&nw, 3);
	ok(net_status(&nw, 3).hard_state.recovering,
	   "a restart in the middle of recovering still recovers");
	net_heal(&nw);
	RUN_UNTIL(&nw, !net_status(&nw, 3).hard_state.recovering);
	ok(!net_status(&nw, 3).hard_state.recovering, "then recovers");
	net_destroy(&nw);
}

int
main(void)
{
	test_wiped_follower_without_identities();
	test_wiped_follower_recovers(false);
	test_wiped_follower_recovers(true);
	test_rolled_back_follower_recovers();
	test_rollback_found_by_match();
	test_recovering_refuses_votes();
	test_quorum_through_recovering_waits();
	test_restart_quiet();
	test_heartbeat_commits_only_the_leaders_entry();
	test_recovering_survives_restart();
	return tap_done();
}
