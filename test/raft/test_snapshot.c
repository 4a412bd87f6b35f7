/*-------------------------------------------------------------------------
 *
 * test_snapshot.c
 *	  Snapshots: a leader whose log was compacted sends its snapshot to a
 *	  lagging follower, which restores from it and continues from the log;
 *	  failed sends go back to probing; stale and already-known snapshots
 *	  are not restored.
 *
 * test/raft/test_snapshot.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

typedef struct snap_watch
{
	uint32_t sent;
	bool drop;
	raft_index index;
} snap_watch;

static bool
watch_snap(const raft_message *m, void *ud)
{
	snap_watch *w = ud;

	if (m->type != RAFT_MSG_SNAP)
		return false;
	w->sent++;
	w->index = m->snapshot ? m->snapshot->meta.index : 0;
	return w->drop;
}

/* Leader 1 and follower 2 snapshot at their applied index and compact. */
static void
compact_majority(net *nw)
{
	static const uint8_t data[] = "state@10";

	for (raft_id id = 1; id <= 2; id++)
	{
		net_node *n = &nw->nodes[id];
		int rc;

		rc = raft_memory_storage_create_snapshot(n->ms, n->applied, &n->config,
												 data, sizeof(data));
		is_u64(rc, RAFT_OK, "snapshot created");
	}
}

/* Builds: leader 1, node 3 isolated while 1 and 2 commit 10 and compact. */
static void
lagging_follower(net *nw)
{
	net_init(nw, 3, NULL);
	ok(net_elect(nw, 1), "node 1 elected");
	net_isolate(nw, 3);
	for (uint8_t i = 0; i < 9; i++)
		net_propose(nw, 1, i);
	is_u64(nw->nodes[1].applied, 10, "leader applied 10");
	compact_majority(nw);
	is_u64(net_status(nw, 1).first_index, 11, "leader's log now starts at 11");
	net_propose(nw, 1, 100); /* one entry after the snapshot */
}

static void
heartbeat_rounds(net *nw, uint32_t rounds)
{
	for (uint32_t i = 0; i < rounds; i++)
	{
		net_tick(nw, 1, 1);
		net_stabilize(nw);
	}
}

static void
test_send_and_restore(void)
{
	net nw;
	snap_watch w = { 0 };
	raft_storage st;
	const raft_snapshot *snap = NULL;

	lagging_follower(&nw);
	net_heal(&nw);
	nw.filter = watch_snap;
	nw.filter_ud = &w;
	heartbeat_rounds(&nw, 5);
	is_u64(w.sent, 1, "one snapshot sent to the lagging follower");
	is_u64(w.index, 10, "the leader's snapshot at 10");
	is_u64(nw.nodes[3].applied, 11, "follower installed it and applied 11");
	is_u64(net_status(&nw, 3).hard_state.commit, 11, "follower commits 11");
	is_u64(net_stored_last(&nw, 3), 11, "and stores entry 11");
	st = raft_memory_storage_view(nw.nodes[3].ms);
	st.snapshot(st.ud, &snap);
	ok(snap && snap->meta.index == 10 && snap->data_size == 9 &&
		   memcmp(snap->data, "state@10", 9) == 0,
	   "follower stores the snapshot with the host's data");
	is_u64(nw.nodes[3].config.n_voters, 3, "host config from the snapshot");
	is_u64(net_progress(&nw, 1, 3).state, RAFT_PROGRESS_REPLICATE,
		   "leader replicates to it again");
	is_u64(net_progress(&nw, 1, 3).match, 11, "with match 11");
	ok(net_propose(&nw, 1, 7), "more proposals");
	is_u64(nw.nodes[3].applied, 12, "reach the restored follower");
	net_destroy(&nw);
}

static void
test_report_snapshot_failed(void)
{
	net nw;
	snap_watch w = { .drop = true };
	raft_progress_status pr;

	lagging_follower(&nw);
	net_heal(&nw);
	nw.filter = watch_snap;
	nw.filter_ud = &w;
	heartbeat_rounds(&nw, 3);
	pr = net_progress(&nw, 1, 3);
	is_u64(w.sent, 1, "snapshot sent (and lost)");
	is_u64(pr.state, RAFT_PROGRESS_SNAPSHOT, "peer 3 in snapshot state");
	is_u64(pr.pending_snapshot, 10, "pending snapshot 10");
	heartbeat_rounds(&nw, 3);
	is_u64(w.sent, 1, "paused: no second snapshot while one is pending");

	raft_report_snapshot(net_raft(&nw, 1), 3, true);
	pr = net_progress(&nw, 1, 3);
	is_u64(pr.state, RAFT_PROGRESS_PROBE, "failure reported: back to probe");
	is_u64(pr.pending_snapshot, 0, "pending snapshot forgotten");
	w.drop = false;
	heartbeat_rounds(&nw, 5);
	is_u64(w.sent, 2, "the snapshot is sent again");
	is_u64(nw.nodes[3].applied, 11, "and this time installed");
	net_destroy(&nw);
}

/* A lost snapshot reported as unreachable is retried by probing. */
static void
test_unreachable_during_snapshot(void)
{
	net nw;
	snap_watch w = { .drop = true };

	lagging_follower(&nw);
	net_heal(&nw);
	nw.filter = watch_snap;
	nw.filter_ud = &w;
	heartbeat_rounds(&nw, 3);
	is_u64(net_progress(&nw, 1, 3).state, RAFT_PROGRESS_SNAPSHOT,
		   "snapshot lost: peer 3 in snapshot state");
	raft_report_unreachable(net_raft(&nw, 1), 3);
	is_u64(net_progress(&nw, 1, 3).state, RAFT_PROGRESS_PROBE,
		   "unreachable: probe again");
	w.drop = false;
	heartbeat_rounds(&nw, 5);
	is_u64(w.sent, 2, "probing finds the gap and resends the snapshot");
	is_u64(nw.nodes[3].applied, 11, "installed");
	net_destroy(&nw);
}

/*
 * A node joining after the leader's last snapshot installs it even though
 * its configuration does not list the joiner, then learns its own
 * addition from the log.
 */
static void
test_joiner_installs_older_snapshot(void)
{
	net nw;
	snap_watch w = { 0 };
	raft_conf_change change = { .type = RAFT_CONF_ADD_LEARNER, .node = 4 };
	raft_config empty;

	memset(&empty, 0, sizeof(empty));
	lagging_follower(&nw);
	net_heal(&nw);
	heartbeat_rounds(&nw, 3);
	net_add(&nw, 4, &empty);
	nw.filter = watch_snap;
	nw.filter_ud = &w;
	is_u64(raft_propose_conf_change(net_raft(&nw, 1), &change), RAFT_OK,
		   "add learner 4 after the snapshot at 10");
	heartbeat_rounds(&nw, 5);
	ok(w.sent >= 1 && w.index == 10, "joiner gets the snapshot at 10");
	is_u64(nw.nodes[4].applied, net_status(&nw, 1).last_index,
		   "joiner installed it and applied the rest");
	ok(raft_config_is_learner(&nw.nodes[4].config, 4),
	   "and learned its own addition from the log");
	net_destroy(&nw);
}

static raft_message
snap_message(raft_id from, raft_id to, raft_term term, raft_snapshot *snap)
{
	raft_message m;

	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAP;
	m.from = from;
	m.to = to;
	m.term = term;
	m.snapshot = snap;
	return m;
}

/* Snapshots at or below the commit index are old news. */
static void
test_stale_snapshot_ignored(void)
{
	net nw;
	raft_snapshot snap;
	raft_message m;
	raft_term term;

	net_init(&nw, 3, NULL);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_propose(&nw, 1, 1);
	net_propose(&nw, 1, 2);
	term = net_status(&nw, 2).hard_state.term;
	memset(&snap, 0, sizeof(snap));
	snap.meta.index = 2;
	snap.meta.term = term;
	snap.meta.config = net_config(3, 0);
	m = snap_message(1, 2, term, &snap);
	raft_step(net_raft(&nw, 2), &m);
	ok(raft_has_ready(net_raft(&nw, 2)), "answer pending");
	net_process(&nw, 2);
	ok(nw.n_queue == 1 && nw.queue[0].type == RAFT_MSG_APP_RESP &&
		   nw.queue[0].index == 3,
	   "stale snapshot answered with our commit 3");
	is_u64(nw.nodes[2].applied, 3, "nothing restored");
	is_u64(net_stored_last(&nw, 2), 3, "log kept");
	net_destroy(&nw);
}

/* A snapshot of an entry we already hold only fast-forwards commit. */
static void
test_snapshot_of_known_entry(void)
{
	raft_options options = net_default_options();
	net nw;
	raft_snapshot snap;
	raft_message m;
	raft_term term;

	options.disable_check_quorum = true;
	net_init(&nw, 3, &options);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_isolate(&nw, 1);
	/* Give node 2 entries 2..3 uncommitted, by hand. */
	term = net_status(&nw, 2).hard_state.term;
	{
		raft_entry entries[2];
		raft_message app;

		memset(entries, 0, sizeof(entries));
		entries[0].index = 2;
		entries[0].term = term;
		entries[1].index = 3;
		entries[1].term = term;
		memset(&app, 0, sizeof(app));
		app.type = RAFT_MSG_APP;
		app.from = 1;
		app.to = 2;
		app.term = term;
		app.index = 1;
		app.log_term = term;
		app.commit = 1;
		app.n_entries = 2;
		app.entries = entries;
		is_u64(raft_step(net_raft(&nw, 2), &app), RAFT_OK, "append accepted");
		net_process(&nw, 2);
	}
	is_u64(net_status(&nw, 2).hard_state.commit, 1, "commit 1 before");
	memset(&snap, 0, sizeof(snap));
	snap.meta.index = 3;
	snap.meta.term = term;
	snap.meta.config = net_config(3, 0);
	m = snap_message(1, 2, term, &snap);
	raft_step(net_raft(&nw, 2), &m);
	net_process(&nw, 2);
	is_u64(net_status(&nw, 2).hard_state.commit, 3,
		   "commit fast-forwarded to 3");
	is_u64(net_status(&nw, 2).first_index, 1, "log not replaced");
	is_u64(nw.nodes[2].applied, 3, "entries applied from the log");
	net_destroy(&nw);
}

/* Storage without a snapshot: the leader waits instead of sending one. */
static void
test_restart_follower_from_snapshot(void)
{
	net nw;

	lagging_follower(&nw);
	net_heal(&nw);
	heartbeat_rounds(&nw, 5);
	net_crash(&nw, 3);
	net_restart(&nw, 3);
	is_u64(net_status(&nw, 3).first_index, 11,
		   "restarted from snapshot storage");
	is_u64(net_status(&nw, 3).applied, 11, "applied as the host recorded");
	ok(net_propose(&nw, 1, 5), "proposal after restart");
	heartbeat_rounds(&nw, 2);
	is_u64(nw.nodes[3].applied, 12, "restarted follower keeps up");
	net_destroy(&nw);
}

int
main(void)
{
	test_send_and_restore();
	test_report_snapshot_failed();
	test_unreachable_during_snapshot();
	test_joiner_installs_older_snapshot();
	test_stale_snapshot_ignored();
	test_snapshot_of_known_entry();
	test_restart_follower_from_snapshot();
	return tap_done();
}
