/*-------------------------------------------------------------------------
 *
 * test_early_send.c
 *	  The leader may send before it persists (Raft thesis 10.2.1): a
 *	  ready's first n_early_messages (appends, heartbeats, snapshots) may
 *	  leave before its entries are on disk; the leader's own entries count
 *	  toward commit only once persisted.  So a 3-node group commits with the
 *	  two followers' acknowledgements while the leader's write is pending,
 *	  and a leader that crashes before persisting loses only its own copy of
 *	  the tail: nothing committed is lost.
 *
 * The leader's host loop is written out here, step by step; the
 * followers use the ordinary loop of net.c.
 *
 * test/raft/test_early_send.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

/* Hands one message of the leader's ready to a follower, like the wire. */
static void
deliver_to_follower(net *nw, const raft_message *m)
{
	raft_step(net_raft(nw, m->to), m);
	net_process(nw, m->to);
}

/* The followers' answers reach the leader without its ready advancing. */
static uint32_t
deliver_to_leader(net *nw, raft_id leader)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < nw->n_queue; i++)
	{
		if (nw->queue[i].to != leader)
			continue;
		raft_step(net_raft(nw, leader), &nw->queue[i]);
		n++;
	}
	net_drop_queue(nw);
	return n;
}

static bool
is_early_type(raft_message_type type)
{
	return type == RAFT_MSG_APP || type == RAFT_MSG_HEARTBEAT ||
		type == RAFT_MSG_SNAP;
}

static void
test_commit_while_leader_write_pending(void)
{
	net nw;
	raft_node *leader;
	raft_ready rd;
	uint8_t byte = 42;
	raft_index index;
	uint32_t early_apps = 0;
	uint32_t late_apps = 0;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	leader = net_raft(&nw, 1);
	ok(raft_propose(leader, &byte, 1) == RAFT_OK, "proposal taken");
	index = net_status(&nw, 1).last_index;
	ok(raft_ready_get(leader, &rd) == RAFT_OK, "the leader's ready");
	ok(rd.n_entries == 1 && rd.entries[0].index == index,
	   "it holds the new entry to persist");
	for (uint32_t i = 0; i < rd.n_early_messages; i++)
		early_apps += rd.messages[i].type == RAFT_MSG_APP &&
			rd.messages[i].n_entries == 1;
	is_u64(early_apps, 2,
		   "both appends may leave before the entry is persisted");

	/* Send early; the followers persist and answer; the leader waits. */
	for (uint32_t i = 0; i < rd.n_early_messages; i++)
		deliver_to_follower(&nw, &rd.messages[i]);
	ok(deliver_to_leader(&nw, 1) >= 2, "both followers acknowledge");
	ok(net_stored_last(&nw, 1) < index, "the leader has not written the entry");
	is_u64(net_status(&nw, 1).hard_state.commit, index,
		   "yet the entry is committed, by the two followers");

	/* The leader's write completes; only then does it apply. */
	ok(raft_memory_storage_append(nw.nodes[1].ms, rd.entries, rd.n_entries) ==
		   RAFT_OK,
	   "leader persists");
	for (uint32_t i = rd.n_early_messages; i < rd.n_messages; i++)
		late_apps += rd.messages[i].type == RAFT_MSG_APP;
	is_u64(late_apps, 0, "no append waits for the write");
	raft_advance(leader, &rd);
	ok(raft_ready_get(leader, &rd) == RAFT_OK && rd.n_committed == 1 &&
		   rd.committed[0].index == index && rd.committed[0].data[0] == 42,
	   "the next ready hands the committed entry out to apply");
	raft_advance(leader, &rd);
	net_destroy(&nw);
}

static void
test_crash_before_persist(void)
{
	net nw;
	raft_node *leader;
	raft_ready rd;
	uint8_t byte = 77;
	raft_index index;
	bool same = true;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	leader = net_raft(&nw, 1);
	ok(raft_propose(leader, &byte, 1) == RAFT_OK, "proposal taken");
	index = net_status(&nw, 1).last_index;
	ok(raft_ready_get(leader, &rd) == RAFT_OK, "the leader's ready");
	for (uint32_t i = 0; i < rd.n_early_messages; i++)
		deliver_to_follower(&nw, &rd.messages[i]);
	(void) deliver_to_leader(&nw, 1);
	is_u64(net_status(&nw, 1).hard_state.commit, index,
		   "committed by the followers");

	/* The leader dies before its write: its copy of the tail is gone. */
	net_crash(&nw, 1);
	net_restart(&nw, 1);
	ok(net_stored_last(&nw, 1) < index && net_status(&nw, 1).last_index < index,
	   "after the restart the leader's log ends before the entry");

	/* The group goes on without losing it. */
	for (int round = 0; round < 200 && nw.nodes[1].applied < index; round++)
	{
		net_tick_all(&nw, 1);
		net_stabilize(&nw);
	}
	for (raft_id id = 1; id <= 3; id++)
	{
		const net_node *n = &nw.nodes[id];

		same = same && n->applied >= index && n->n_log >= index &&
			n->log[index - 1].index == index &&
			n->log[index - 1].first_byte == 77;
	}
	ok(same, "every node, the old leader too, applies the entry at %llu",
	   (unsigned long long) index);
	ok(net_status(&nw, 1).role != RAFT_LEADER ||
		   net_status(&nw, 1).hard_state.term > 1,
	   "the old leader leads no more in its old term");
	net_destroy(&nw);
}

/* Answers that promise durable state never leave early. */
static void
test_what_waits(void)
{
	raft_options o = net_default_options();
	net nw;
	raft_ready rd;
	raft_message vote;
	uint32_t early_answers = 0;

	o.disable_pre_vote = true;
	net_init(&nw, 3, &o);
	memset(&vote, 0, sizeof(vote));
	vote.type = RAFT_MSG_VOTE;
	vote.from = 2;
	vote.to = 1;
	vote.term = 1;
	raft_step(net_raft(&nw, 1), &vote);
	ok(raft_ready_get(net_raft(&nw, 1), &rd) == RAFT_OK && rd.has_hard_state &&
		   rd.hard_state.vote == 2,
	   "a vote to persist");
	ok(rd.n_messages == 1 && rd.messages[0].type == RAFT_MSG_VOTE_RESP &&
		   rd.n_early_messages == 0,
	   "its answer waits for the write");
	raft_advance(net_raft(&nw, 1), &rd);

	(void) raft_campaign(net_raft(&nw, 3));
	ok(raft_ready_get(net_raft(&nw, 3), &rd) == RAFT_OK &&
		   rd.n_early_messages == 0 && rd.n_messages == 2,
	   "a candidate's requests wait for its new term to be written");
	raft_advance(net_raft(&nw, 3), &rd);
	net_drop_queue(&nw);

	net_heal(&nw);
	ok(net_elect(&nw, 2), "node 2 elected");
	(void) raft_propose(net_raft(&nw, 2), (const uint8_t *) "x", 1);
	ok(raft_ready_get(net_raft(&nw, 2), &rd) == RAFT_OK, "leader's ready");
	for (uint32_t i = 0; i < rd.n_messages; i++)
		early_answers +=
			i < rd.n_early_messages && !is_early_type(rd.messages[i].type);
	is_u64(early_answers, 0, "only appends, heartbeats and snapshots are early");
	ok(raft_memory_storage_append(nw.nodes[2].ms, rd.entries, rd.n_entries) ==
		   RAFT_OK,
	   "leader persists");
	raft_advance(net_raft(&nw, 2), &rd);
	net_destroy(&nw);
}

int
main(void)
{
	test_commit_while_leader_write_pending();
	test_crash_before_persist();
	test_what_waits();
	return tap_done();
}
