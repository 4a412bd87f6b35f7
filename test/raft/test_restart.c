/*-------------------------------------------------------------------------
 *
 * test_restart.c
 *	  Restarting from persisted state (hard state, storage, applied), and
 *	  the ready/advance contract: what a ready holds and when.
 *
 * test/raft/test_restart.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

static void
test_restart_resumes(void)
{
	net nw;
	raft_status before;
	raft_status after;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	for (uint8_t i = 0; i < 5; i++)
		net_propose(&nw, 1, i);
	net_tick(&nw, 1, 1);
	net_stabilize(&nw);
	before = net_status(&nw, 2);
	net_crash(&nw, 2);
	net_restart(&nw, 2);
	after = net_status(&nw, 2);
	is_u64(after.hard_state.term, before.hard_state.term, "term restored");
	is_u64(after.hard_state.vote, before.hard_state.vote, "vote restored");
	is_u64(after.hard_state.commit, before.hard_state.commit, "commit restored");
	is_u64(after.last_index, before.last_index, "log restored");
	is_u64(after.applied, before.applied, "applied restored");
	is_u64(after.role, RAFT_FOLLOWER, "restarts as follower");
	ok(!raft_has_ready(net_raft(&nw, 2)), "nothing to do after a clean restart");
	net_destroy(&nw);
}

/* Committed but unapplied entries are handed out again after a restart. */
static void
test_restart_reapplies(void)
{
	net nw;
	raft_index commit;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	for (uint8_t i = 0; i < 5; i++)
		net_propose(&nw, 1, i);
	net_tick(&nw, 1, 1);
	net_stabilize(&nw);
	commit = nw.nodes[2].hard_state.commit;
	is_u64(commit, 6, "node 2 committed 6");
	/* Pretend the host crashed after persisting but before applying 3..6. */
	net_crash(&nw, 2);
	nw.nodes[2].applied = 2;
	nw.nodes[2].n_log = 2;
	net_restart(&nw, 2);
	ok(raft_has_ready(net_raft(&nw, 2)), "restart has a ready");
	net_process(&nw, 2);
	is_u64(nw.nodes[2].applied, 6, "entries 3..6 applied again");
	is_u64(nw.nodes[2].log[5].first_byte, 4, "with their data");
	net_destroy(&nw);
}

/* A restarted node remembers its vote: no second vote in the same term. */
static void
test_restart_keeps_vote(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_message m;
	bool rejected = false;

	options.disable_pre_vote = true;
	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_VOTE;
	m.from = 2;
	m.to = 1;
	m.term = 3;
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	net_drop_queue(&nw);
	net_crash(&nw, 1);
	net_restart(&nw, 1);
	m.from = 3;
	raft_step(net_raft(&nw, 1), &m);
	net_process(&nw, 1);
	for (uint32_t i = 0; i < nw.n_queue; i++)
		rejected = rejected ||
			(nw.queue[i].type == RAFT_MSG_VOTE_RESP && nw.queue[i].to == 3 &&
			 nw.queue[i].reject);
	ok(rejected, "vote of term 3 for 2 survives the restart");
	net_destroy(&nw);
}

static void
test_ready_contents(void)
{
	net nw;
	raft_ready ready;
	raft_node *rn;
	uint8_t byte = 5;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	rn = net_raft(&nw, 2);
	ok(!raft_has_ready(rn), "settled follower: no ready");
	net_tick(&nw, 2, 3);
	ok(!raft_has_ready(rn), "ticks alone change nothing on a follower");

	rn = net_raft(&nw, 1);
	raft_propose(rn, &byte, 1);
	raft_ready_get(rn, &ready);
	ok(!ready.has_hard_state, "proposal: no hard state change yet");
	ok(ready.n_entries == 1 && ready.entries[0].index == 2 &&
		   ready.entries[0].size == 1 && ready.entries[0].data[0] == 5,
	   "the new entry, to persist");
	is_u64(ready.n_committed, 0, "not committed before persisting");
	is_u64(ready.n_messages, 2, "appends to both followers");
	ok(!ready.soft_state_changed, "soft state unchanged");
	raft_propose(rn, &byte, 1); /* stepping while the ready is out is fine */
	raft_memory_storage_append(nw.nodes[1].ms, ready.entries, ready.n_entries);
	raft_advance(rn, &ready); /* the appends are lost: heartbeats repair */
	raft_ready_get(rn, &ready);
	ok(ready.n_entries == 1 && ready.entries[0].index == 3,
	   "entry proposed during the ready comes next");
	raft_memory_storage_append(nw.nodes[1].ms, ready.entries, ready.n_entries);
	raft_advance(rn, &ready);
	net_tick(&nw, 1, 1);
	net_stabilize(&nw);
	is_u64(nw.nodes[1].applied, 3, "all applied");

	/* Soft state: a role change is reported once. */
	net_isolate(&nw, 1);
	net_tick(&nw, 1, 20);
	raft_ready_get(rn, &ready);
	ok(ready.soft_state_changed && ready.role == RAFT_FOLLOWER,
	   "step-down reported in soft state");
	raft_advance(rn, &ready);
	ok(!raft_has_ready(rn), "and only once");
	net_destroy(&nw);
}

/* ready.committed respects max_committed_size_per_ready (at least one). */
static void
test_committed_bounded(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_ready ready;
	raft_node *rn;
	uint8_t data[4] = { 1, 2, 3, 4 };
	uint32_t readies = 0;
	uint32_t most = 0;

	options.max_committed_size_per_ready = 8;
	net_init(&nw, 1, &options);
	ok(net_elect(&nw, 1), "node 1 elected");
	rn = net_raft(&nw, 1);
	for (int i = 0; i < 6; i++)
		raft_propose(rn, data, 4);
	raft_ready_get(rn, &ready);
	raft_memory_storage_append(nw.nodes[1].ms, ready.entries, ready.n_entries);
	raft_advance(rn, &ready);
	while (raft_has_ready(rn) && readies < 20)
	{
		raft_ready_get(rn, &ready);
		if (ready.n_committed > most)
			most = ready.n_committed;
		raft_advance(rn, &ready);
		readies++;
	}
	is_u64(most, 2, "at most 8 bytes (two entries) per ready");
	is_u64(net_status(&nw, 1).applied, 7, "all 6 applied over several readies");
	ok(readies >= 3, "in at least 3 readies (%u)", readies);
	net_destroy(&nw);
}

/* A snapshot and entries after it in one ready: snapshot first. */
static void
test_snapshot_then_entries(void)
{
	net nw;
	raft_snapshot snap;
	raft_message m;
	raft_entry e;
	raft_ready ready;
	raft_node *rn;

	net_init(&nw, 3, NULL);
	rn = net_raft(&nw, 2);
	memset(&snap, 0, sizeof(snap));
	snap.meta.index = 5;
	snap.meta.term = 2;
	snap.meta.config = net_config(3, 0);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAP;
	m.from = 1;
	m.to = 2;
	m.term = 2;
	m.snapshot = &snap;
	raft_step(rn, &m);
	memset(&e, 0, sizeof(e));
	e.index = 6;
	e.term = 2;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APP;
	m.from = 1;
	m.to = 2;
	m.term = 2;
	m.index = 5;
	m.log_term = 2;
	m.commit = 6;
	m.n_entries = 1;
	m.entries = &e;
	raft_step(rn, &m);
	raft_ready_get(rn, &ready);
	ok(ready.has_snapshot && ready.snapshot.meta.index == 5,
	   "snapshot in ready");
	ok(ready.n_entries == 1 && ready.entries[0].index == 6,
	   "entry after it in the same ready");
	is_u64(ready.n_committed, 0, "nothing applied before the snapshot is in");
	ok(ready.has_hard_state && ready.hard_state.commit == 6,
	   "commit 6 persisted");
	ok(ready.n_messages == 2 && ready.messages[0].index == 5 &&
		   ready.messages[1].index == 6,
	   "acks for the snapshot and the entry");
	raft_memory_storage_apply_snapshot(nw.nodes[2].ms, &ready.snapshot);
	raft_memory_storage_append(nw.nodes[2].ms, ready.entries, ready.n_entries);
	raft_advance(rn, &ready);
	raft_ready_get(rn, &ready);
	ok(ready.n_committed == 1 && ready.committed[0].index == 6,
	   "then entry 6 is applied");
	raft_advance(rn, &ready);
	is_u64(net_status(&nw, 2).applied, 6, "applied 6");
	net_destroy(&nw);
}

static void
test_bad_input(void)
{
	net nw;
	raft_message m;
	raft_options options = net_default_options();
	raft_node *rn = NULL;

	net_init(&nw, 3, NULL);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_HUP;
	m.from = 2;
	m.to = 1;
	m.term = 1;
	is_u64(raft_step(net_raft(&nw, 1), &m), RAFT_ERR_INVALID,
		   "local message types refused from peers");
	m.type = RAFT_MSG_APP;
	m.to = 3;
	is_u64(raft_step(net_raft(&nw, 1), &m), RAFT_ERR_INVALID,
		   "message for another node refused");
	m.to = 1;
	m.term = 0;
	is_u64(raft_step(net_raft(&nw, 1), &m), RAFT_ERR_INVALID, "term 0 refused");
	m.type = 77;
	m.term = 1;
	is_u64(raft_step(net_raft(&nw, 1), &m), RAFT_ERR_INVALID,
		   "unknown type refused");
	m.type = RAFT_MSG_SNAP;
	is_u64(raft_step(net_raft(&nw, 1), &m), RAFT_ERR_INVALID,
		   "snapshot message without a snapshot refused");
	is_u64(raft_node_create(&options, &rn), RAFT_ERR_INVALID,
		   "node without id or storage refused");
	is_u64(net_status(&nw, 1).hard_state.term, 0, "nothing changed");
	net_destroy(&nw);
}

int
main(void)
{
	test_restart_resumes();
	test_restart_reapplies();
	test_restart_keeps_vote();
	test_ready_contents();
	test_committed_bounded();
	test_snapshot_then_entries();
	test_bad_input();
	return tap_done();
}
