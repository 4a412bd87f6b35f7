/*-------------------------------------------------------------------------
 *
 * test_uncommitted.c
 *	  The leader's cap on uncommitted bytes (max_uncommitted_bytes, etcd's
 *	  MaxUncommittedEntriesSize): proposals are refused with RAFT_ERR_BUSY
 *	  once the entries of its term that have not committed exceed the cap;
 *	  the first is always admitted; the empty entry of a new term does not
 *	  count; commits make room again.
 *
 * test/raft/test_uncommitted.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"
#include "tap.h"

#include <string.h>

static uint8_t payload[1000];

static int
propose_bytes(net *nw, raft_id id, uint32_t size)
{
	int rc = raft_propose(net_raft(nw, id), payload, size);

	net_process_all(nw);
	return rc;
}

/* Followers cut off: entries pile up until the cap. */
static void
test_cap(void)
{
	raft_options o = net_default_options();
	net nw;

	o.max_uncommitted_bytes = 2500;
	net_init(&nw, 3, &o);
	ok(net_elect(&nw, 1), "node 1 elected");
	is_u64(net_status(&nw, 1).uncommitted_bytes, 0,
		   "the empty entry of the new term does not count");
	net_isolate(&nw, 1);
	is_u64(propose_bytes(&nw, 1, 1000), RAFT_OK, "1000 bytes admitted");
	is_u64(propose_bytes(&nw, 1, 1000), RAFT_OK, "2000 bytes admitted");
	is_u64(net_status(&nw, 1).uncommitted_bytes, 2000, "2000 bytes pending");
	is_u64(propose_bytes(&nw, 1, 1000), RAFT_ERR_BUSY,
		   "3000 bytes would exceed 2500: busy");
	is_u64(propose_bytes(&nw, 1, 500), RAFT_OK, "2500 bytes exactly: admitted");
	is_u64(propose_bytes(&nw, 1, 1), RAFT_ERR_BUSY, "one byte more: busy");
	is_u64(net_status(&nw, 1).last_index, 4,
		   "refused proposals left no entry (empty, 1000, 1000, 500)");

	/* The followers come back: the entries commit and make room. */
	net_heal(&nw);
	net_tick(&nw, 1, 1);
	net_stabilize(&nw);
	is_u64(nw.nodes[2].applied, 4, "the pending entries commit");
	is_u64(net_status(&nw, 1).uncommitted_bytes, 0, "nothing pending now");
	is_u64(propose_bytes(&nw, 1, 1000), RAFT_OK, "room again");
	net_destroy(&nw);
}

/* A proposal larger than the cap passes when nothing is pending. */
static void
test_first_always_admitted(void)
{
	raft_options o = net_default_options();
	net nw;

	o.max_uncommitted_bytes = 100;
	net_init(&nw, 3, &o);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_isolate(&nw, 1);
	is_u64(propose_bytes(&nw, 1, 1000), RAFT_OK,
		   "1000 bytes over a cap of 100: admitted, nothing was pending");
	is_u64(propose_bytes(&nw, 1, 1), RAFT_ERR_BUSY, "then busy");
	is_u64(propose_bytes(&nw, 1, 0), RAFT_OK,
		   "an empty proposal adds nothing and passes");
	net_destroy(&nw);
}

/* Entries of an earlier term are not this leader's to count. */
static void
test_new_leader_starts_empty(void)
{
	raft_options o = net_default_options();
	net nw;

	o.max_uncommitted_bytes = 1500;
	net_init(&nw, 3, &o);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_cut(&nw, 1, 3);
	(void) propose_bytes(&nw, 1, 1000);
	net_stabilize(&nw);
	net_crash(&nw, 1);
	for (int round = 0; round < 100 && net_status(&nw, 2).role != RAFT_LEADER;
		 round++)
	{
		net_tick_all(&nw, 1);
		net_stabilize(&nw);
	}
	ok(net_status(&nw, 2).role == RAFT_LEADER,
	   "node 2, which holds the old leader's entry, takes over");
	is_u64(net_status(&nw, 2).uncommitted_bytes, 0,
		   "the new leader counts nothing inherited");
	is_u64(propose_bytes(&nw, 2, 1000), RAFT_OK, "and takes a proposal");
	net_destroy(&nw);
}

static void
test_unlimited(void)
{
	raft_options o = net_default_options();
	net nw;
	bool all = true;

	o.max_uncommitted_bytes = RAFT_UNLIMITED;
	net_init(&nw, 3, &o);
	ok(net_elect(&nw, 1), "node 1 elected");
	net_isolate(&nw, 1);
	for (int i = 0; i < 200; i++)
		all = all && propose_bytes(&nw, 1, 1000) == RAFT_OK;
	ok(all, "RAFT_UNLIMITED: 200 KB pending, never busy");
	net_destroy(&nw);
}

int
main(void)
{
	memset(payload, 7, sizeof(payload));
	test_cap();
	test_first_always_admitted();
	test_new_leader_starts_empty();
	test_unlimited();
	return tap_done();
}
