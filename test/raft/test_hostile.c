/*-------------------------------------------------------------------------
 *
 * test_hostile.c
 *	  Input from peers and from the host's disk can be refused, never crash
 *	  or poison a node.  One test per hole closed: the heartbeat of term
 *	  2^64-1 that was adopted, spread to every node, tripped an assertion
 *	  in term arithmetic and was reloaded after each restart; the same on
 *	  the wire; terms that jump too far; snapshots and appends at absurd
 *	  indexes; stored state out of range or inconsistent.
 *
 * An assertion reached from input is a failed test, not a crash: the
 * handler jumps back here and the test reports it.
 *
 * test/raft/test_hostile.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <setjmp.h>
#include <string.h>

#define BOUND (UINT64_C(1) << 62)

static jmp_buf escape;
static char assertion[256];

static void
escape_handler(const char *expression, const char *file, int line)
{
	snprintf(assertion, sizeof(assertion), "%s (%s:%d)", expression, file, line);
	longjmp(escape, 1);
}

/* Runs body; a reached assertion fails the test instead of aborting. */
#define GUARDED(name, body)                                                   \
	do                                                                        \
	{                                                                         \
		assertion[0] = '\0';                                                  \
		if (setjmp(escape) == 0)                                              \
		{                                                                     \
			body;                                                             \
		}                                                                     \
		else                                                                  \
			ok(false, "%s: assertion reached from input: %s", (name),         \
			   assertion);                                                    \
	} while (0)

static raft_message
heartbeat(raft_id from, raft_id to, raft_term term)
{
	raft_message m;

	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_HEARTBEAT;
	m.from = from;
	m.to = to;
	m.term = term;
	return m;
}

/* The group still elects, commits and agrees after the attack. */
static void
check_group_works(net *nw, const char *name)
{
	raft_index before = nw->nodes[2].applied;
	raft_id leader = RAFT_NONE;

	/* Time passes, one tick at a time, until a leader is there. */
	for (int round = 0; round < 200 && leader == RAFT_NONE; round++)
	{
		net_tick_all(nw, 1);
		net_stabilize(nw);
		for (raft_id id = 1; id <= 3; id++)
			if (net_status(nw, id).role == RAFT_LEADER)
				leader = id;
	}
	ok(leader != RAFT_NONE && net_propose(nw, leader, 9),
	   "%s: a leader takes proposals", name);
	net_tick_all(nw, 1);
	net_stabilize(nw);
	ok(nw->nodes[2].applied > before &&
		   nw->nodes[1].applied == nw->nodes[2].applied &&
		   nw->nodes[3].applied == nw->nodes[2].applied,
	   "%s: every node applies new entries (%llu)", name,
	   (unsigned long long) nw->nodes[2].applied);
	for (raft_id id = 1; id <= 3; id++)
		ok(net_status(nw, id).hard_state.term < 100,
		   "%s: node %llu's term stays sane (%llu)", name,
		   (unsigned long long) id,
		   (unsigned long long) net_status(nw, id).hard_state.term);
}

/* The attack as found: a heartbeat of term 2^64-1 from a member. */
static void
test_heartbeat_of_max_term(void)
{
	net nw;
	raft_message m;

	net_init(&nw, 3, NULL);
	GUARDED("max term", {
		ok(net_elect(&nw, 1), "node 1 elected");
		m = heartbeat(3, 2, UINT64_MAX);
		is_u64(raft_step(net_raft(&nw, 2), &m), RAFT_ERR_OUT_OF_RANGE,
			   "a heartbeat of term 2^64-1 is refused");
		is_u64(net_status(&nw, 2).hard_state.term, 1, "the term is not adopted");
		net_stabilize(&nw);
		net_crash(&nw, 2);
		net_restart(&nw, 2);
		is_u64(net_status(&nw, 2).hard_state.term, 1,
			   "and not reloaded after a restart");
		check_group_works(&nw, "max term");
	});
	net_destroy(&nw);
}

/* The same bytes on the wire: the decoder refuses them. */
static void
test_max_term_on_the_wire(void)
{
	raft_message m = heartbeat(3, 2, 1);
	raft_message out;
	uint8_t buf[128];
	uint8_t forged[128];
	size_t len = 0;
	size_t at = 0;

	ok(raft_message_encode(&m, buf, sizeof(buf), &len) == RAFT_OK,
	   "a heartbeat of term 1 encodes");
	/* version, type, from, to: one byte each; then the term's varint. */
	memcpy(forged, buf, 4);
	at = 4;
	for (int i = 0; i < 9; i++)
		forged[at++] = 0xff;
	forged[at++] = 0x01; /* 2^64 - 1 */
	memcpy(forged + at, buf + 5, len - 5);
	at += len - 5;
	is_u64(raft_message_decode(forged, at, &out), RAFT_ERR_TOO_LARGE,
		   "a term of 2^64-1 does not decode");
	m.term = BOUND;
	is_u64(raft_message_encode(&m, buf, sizeof(buf), &len), RAFT_ERR_TOO_LARGE,
		   "nor encode at 2^62");
	m.term = BOUND - 1;
	ok(raft_message_encode(&m, buf, sizeof(buf), &len) == RAFT_OK &&
		   raft_message_decode(buf, len, &out) == RAFT_OK &&
		   out.term == BOUND - 1,
	   "2^62 - 1 is the largest term on the wire");
	m.term = 1;
	m.commit = BOUND;
	is_u64(raft_message_encode(&m, buf, sizeof(buf), &len), RAFT_ERR_TOO_LARGE,
		   "an index at 2^62 does not encode either");
}

/* A term far ahead of ours is refused; a large legitimate jump is not. */
static void
test_term_jump(void)
{
	net nw;
	raft_message m;

	net_init(&nw, 3, NULL);
	GUARDED("term jump", {
		m = heartbeat(3, 2, 1 + RAFT_MAX_TERM_JUMP + 1);
		is_u64(raft_step(net_raft(&nw, 2), &m), RAFT_ERR_OUT_OF_RANGE,
			   "a term more than RAFT_MAX_TERM_JUMP ahead is refused");
		is_u64(net_status(&nw, 2).hard_state.term, 0, "and not adopted");
		m = heartbeat(3, 2, RAFT_MAX_TERM_JUMP);
		is_u64(raft_step(net_raft(&nw, 2), &m), RAFT_OK,
			   "a jump of RAFT_MAX_TERM_JUMP is taken");
		is_u64(net_status(&nw, 2).hard_state.term, RAFT_MAX_TERM_JUMP,
			   "and adopted");
	});
	net_destroy(&nw);
}

/* Snapshots and appends at indexes past 2^62, built in memory. */
static void
test_absurd_indexes(void)
{
	net nw;
	raft_message m;
	raft_snapshot snapshot;
	raft_entry entry;

	net_init(&nw, 3, NULL);
	GUARDED("absurd indexes", {
		ok(net_elect(&nw, 1), "node 1 elected");
		memset(&snapshot, 0, sizeof(snapshot));
		snapshot.meta.index = UINT64_MAX - 1;
		snapshot.meta.term = 1;
		snapshot.meta.config = net_config(3, 0);
		m = heartbeat(1, 2, 1);
		m.type = RAFT_MSG_SNAP;
		m.snapshot = &snapshot;
		is_u64(raft_step(net_raft(&nw, 2), &m), RAFT_ERR_OUT_OF_RANGE,
			   "a snapshot at index 2^64-2 is refused");
		snapshot.meta.index = 5;
		snapshot.meta.term = UINT64_MAX;
		is_u64(raft_step(net_raft(&nw, 2), &m), RAFT_ERR_OUT_OF_RANGE,
			   "a snapshot of term 2^64-1 is refused");

		memset(&entry, 0, sizeof(entry));
		m = heartbeat(1, 2, 1);
		m.type = RAFT_MSG_APP;
		m.index = BOUND - 1;
		m.log_term = 1;
		entry.index = BOUND;
		entry.term = 1;
		m.entries = &entry;
		m.n_entries = 1;
		is_u64(raft_step(net_raft(&nw, 2), &m), RAFT_ERR_OUT_OF_RANGE,
			   "an entry at index 2^62 is refused");
		m = heartbeat(1, 2, 1);
		m.commit = UINT64_MAX;
		is_u64(raft_step(net_raft(&nw, 2), &m), RAFT_ERR_OUT_OF_RANGE,
			   "a commit index of 2^64-1 is refused");
		m = heartbeat(2, 1, 1);
		m.type = RAFT_MSG_APP_RESP;
		m.reject = true;
		m.index = 1;
		m.reject_hint = UINT64_MAX;
		is_u64(raft_step(net_raft(&nw, 1), &m), RAFT_ERR_OUT_OF_RANGE,
			   "a rejection hint of 2^64-1 is refused");
		net_stabilize(&nw);
		check_group_works(&nw, "absurd indexes");
	});
	net_destroy(&nw);
}

static int
create_from(raft_memory_storage *ms, raft_hard_state hs, raft_index applied)
{
	raft_options o = net_default_options();
	raft_node *node = NULL;
	int rc;

	o.id = 1;
	o.storage = raft_memory_storage_view(ms);
	o.hard_state = hs;
	o.config = net_config(3, 0);
	o.applied = applied;
	rc = raft_node_create(&o, &node);
	raft_node_destroy(node);
	return rc;
}

/* What the host stored is checked before it is used. */
static void
test_stored_state(void)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_entry entries[2];
	raft_hard_state hs;

	memset(entries, 0, sizeof(entries));
	entries[0].index = 1;
	entries[0].term = 1;
	entries[1].index = 2;
	entries[1].term = 2;
	ok(raft_memory_storage_append(ms, entries, 2) == RAFT_OK, "log of 2");
	GUARDED("stored state", {
		memset(&hs, 0, sizeof(hs));
		hs.term = 2;
		is_u64(create_from(ms, hs, 0), RAFT_OK, "a sane state loads");
		hs.term = UINT64_MAX;
		is_u64(create_from(ms, hs, 0), RAFT_ERR_CORRUPT,
			   "a stored term of 2^64-1 is refused");
		hs.term = BOUND;
		is_u64(create_from(ms, hs, 0), RAFT_ERR_CORRUPT,
			   "a stored term of 2^62 is refused");
		hs.term = 1;
		is_u64(create_from(ms, hs, 0), RAFT_ERR_CORRUPT,
			   "a log entry newer than the stored term is refused");
		hs.term = 0;
		hs.vote = 2;
		is_u64(create_from(ms, hs, 0), RAFT_ERR_CORRUPT,
			   "a vote without a term is refused");
		hs.term = 2;
		hs.vote = 0;
		hs.commit = 3;
		is_u64(create_from(ms, hs, 0), RAFT_ERR_CORRUPT,
			   "a commit beyond the log is refused");
		hs.commit = 1;
		is_u64(create_from(ms, hs, 2), RAFT_ERR_CORRUPT,
			   "applied beyond commit is refused");
	});
	entries[0].index = 3;
	entries[0].term = BOUND;
	is_u64(raft_memory_storage_append(ms, entries, 1), RAFT_ERR_INVALID,
		   "the memory storage refuses an entry of term 2^62");
	entries[0].term = 2;
	entries[0].index = BOUND;
	is_u64(raft_memory_storage_append(ms, entries, 1), RAFT_ERR_INVALID,
		   "and an entry at index 2^62");
	raft_memory_storage_destroy(ms);
}

/* A term at the bound is as far as a node goes: it stops campaigning. */
static void
test_term_saturates(void)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_options o = net_default_options();
	raft_node *node = NULL;
	raft_status st;

	o.id = 1;
	o.storage = raft_memory_storage_view(ms);
	o.hard_state.term = BOUND - 1;
	o.config = net_config(3, 0);
	GUARDED("saturation", {
		ok(raft_node_create(&o, &node) == RAFT_OK,
		   "a node at term 2^62-1 loads");
		(void) raft_campaign(node);
		for (int i = 0; i < 50; i++)
			raft_tick(node);
		raft_get_status(node, &st);
		ok(st.hard_state.term == BOUND - 1 && st.role == RAFT_FOLLOWER,
		   "it does not campaign past the bound");
	});
	raft_node_destroy(node);
	raft_memory_storage_destroy(ms);
}

int
main(void)
{
	raft_assert_set_handler(escape_handler);
	test_heartbeat_of_max_term();
	test_max_term_on_the_wire();
	test_term_jump();
	test_absurd_indexes();
	test_stored_state();
	test_term_saturates();
	return tap_done();
}
