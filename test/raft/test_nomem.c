/*-------------------------------------------------------------------------
 *
 * test_nomem.c
 *	  Allocation failures: a three-node group runs while one allocation in
 *	  N inside the core fails.  The core must return RAFT_ERR_NOMEM (never
 *	  crash or assert), stay safe (every node applies the same entries at
 *	  the same indexes), recover once memory is back, and leak nothing.
 *
 * The core allocates through a heap hook (raft_heap_set) that fails on
 * demand and counts what is live, so the test also runs under
 * AddressSanitizer.
 *
 * test/raft/test_nomem.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define NODES 3
#define MAX_APPLIED 4096
#define MAX_QUEUE 4096

static bool inject;
static uint32_t fail_one_in;
static uint64_t rng_state = 12345;
static long outstanding;
static uint64_t failures;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool
should_fail(void)
{
	if (!inject || rng_next() % fail_one_in != 0)
		return false;
	failures++;
	return true;
}

static void *
failing_malloc(void *context, size_t size)
{
	void *p;

	(void) context;
	if (should_fail())
		return NULL;
	p = malloc(size);
	if (p)
		outstanding++;
	return p;
}

static void *
failing_calloc(void *context, size_t n, size_t size)
{
	void *p;

	(void) context;
	if (should_fail())
		return NULL;
	p = calloc(n, size);
	if (p)
		outstanding++;
	return p;
}

static void *
failing_realloc(void *context, void *old, size_t size)
{
	(void) context;
	if (should_fail())
		return NULL;
	return realloc(old, size);
}

static void
counting_free(void *context, void *p)
{
	(void) context;
	outstanding--;
	free(p);
}

static const raft_heap failing_heap = {
	.context = NULL,
	.malloc = failing_malloc,
	.calloc = failing_calloc,
	.realloc = failing_realloc,
	.free = counting_free,
};

typedef struct applied
{
	raft_term term;
	uint8_t byte;
	bool set;
} applied;

typedef struct wire
{
	uint8_t *bytes;
	size_t size;
} wire;

static raft_node *nodes[NODES + 1];
static raft_memory_storage *disks[NODES + 1];
static raft_hard_state hard[NODES + 1];
static raft_index applied_to[NODES + 1];
static applied history[NODES + 1][MAX_APPLIED];
static wire queue[MAX_QUEUE];
static uint32_t n_queue;
static bool safe = true;
static uint64_t nomem_returns;

static int
core(int rc)
{
	if (rc == RAFT_ERR_NOMEM)
		nomem_returns++;
	return rc;
}

static void
start(raft_id id)
{
	raft_options o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.id = id;
	o.storage = raft_memory_storage_view(disks[id]);
	o.hard_state = hard[id];
	o.config.n_voters = NODES;
	for (uint32_t i = 0; i < NODES; i++)
		o.config.voters[i] = i + 1;
	o.applied = applied_to[id];
	o.seed = id;
	o.election_tick = 10;
	o.heartbeat_tick = 1;
	do
	{
		inject = true;
		rc = core(raft_node_create(&o, &nodes[id]));
		inject = false;
	} while (rc == RAFT_ERR_NOMEM);
	if (rc != RAFT_OK)
		abort();
}

static void
send(const raft_message *m)
{
	size_t size = raft_message_encoded_size(m);
	size_t written;

	if (n_queue == MAX_QUEUE)
		return;
	queue[n_queue].bytes = malloc(size);
	if (raft_message_encode(m, queue[n_queue].bytes, size, &written) != RAFT_OK)
		abort();
	queue[n_queue].size = written;
	n_queue++;
}

static void
apply(raft_id id, const raft_entry *e)
{
	applied *slot;

	if (e->index != applied_to[id] + 1 || e->index >= MAX_APPLIED)
		abort();
	applied_to[id] = e->index;
	slot = &history[id][e->index];
	slot->term = e->term;
	slot->byte = e->size ? e->data[0] : 0;
	slot->set = true;
	/* State machine safety: same index, same entry, on every node. */
	for (raft_id other = 1; other <= NODES; other++)
	{
		const applied *o = &history[other][e->index];

		if (o->set && (o->term != slot->term || o->byte != slot->byte))
			safe = false;
	}
}

static void
host(raft_id id)
{
	raft_ready rd;
	int rc;

	if (!raft_has_ready(nodes[id]))
		return;
	inject = true;
	rc = core(raft_ready_get(nodes[id], &rd));
	inject = false;
	if (rc != RAFT_OK)
		return;
	if (rd.has_snapshot)
		abort(); /* no compaction in this test */
	if (rd.n_entries &&
		raft_memory_storage_append(disks[id], rd.entries, rd.n_entries) !=
			RAFT_OK)
		abort();
	if (rd.has_hard_state)
		hard[id] = rd.hard_state;
	for (uint32_t i = 0; i < rd.n_messages; i++)
		send(&rd.messages[i]);
	for (uint32_t i = 0; i < rd.n_committed; i++)
		apply(id, &rd.committed[i]);
	inject = true;
	raft_advance(nodes[id], &rd);
	inject = false;
}

static void
deliver(void)
{
	uint32_t n = n_queue;
	wire batch[MAX_QUEUE];

	memcpy(batch, queue, n * sizeof(wire));
	n_queue = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		raft_message m;

		if (raft_message_decode(batch[i].bytes, batch[i].size, &m) == RAFT_OK)
		{
			inject = true;
			core(raft_step(nodes[m.to], &m));
			inject = false;
			raft_message_free(&m);
		}
		free(batch[i].bytes);
	}
}

static void
round_trip(uint32_t round)
{
	for (raft_id id = 1; id <= NODES; id++)
	{
		raft_status s;

		inject = true;
		raft_tick(nodes[id]);
		inject = false;
		raft_get_status(nodes[id], &s);
		if (s.role == RAFT_LEADER && round % 3 == 0)
		{
			uint8_t byte = (uint8_t) round;

			inject = true;
			core(raft_propose(nodes[id], &byte, 1));
			inject = false;
		}
	}
	for (raft_id id = 1; id <= NODES; id++)
		host(id);
	deliver();
	for (raft_id id = 1; id <= NODES; id++)
		host(id);
}

static void
run(uint32_t one_in)
{
	long baseline = outstanding;
	raft_index before;
	raft_index after;
	bool converged = true;

	memset(hard, 0, sizeof(hard));
	memset(applied_to, 0, sizeof(applied_to));
	memset(history, 0, sizeof(history));
	safe = true;
	fail_one_in = one_in;
	for (raft_id id = 1; id <= NODES; id++)
	{
		disks[id] = raft_memory_storage_create();
		start(id);
	}
	for (uint32_t round = 0; round < 600; round++)
	{
		round_trip(round);
		if (round % 150 == 149)
		{
			/* A crash and restart, under pressure too. */
			raft_id id = 1 + round / 150 % NODES;

			raft_node_destroy(nodes[id]);
			start(id);
		}
	}
	ok(safe, "1 in %u allocations failing: all nodes applied the same entries",
	   one_in);

	/* Memory is back: the group must recover and make progress. */
	fail_one_in = UINT32_MAX;
	before = applied_to[1];
	for (uint32_t round = 0; round < 300; round++)
		round_trip(round);
	after = applied_to[1];
	for (raft_id id = 2; id <= NODES; id++)
		converged = converged && applied_to[id] == after;
	ok(after > before, "recovers: applied %llu -> %llu",
	   (unsigned long long) before, (unsigned long long) after);
	ok(converged, "all nodes applied up to %llu", (unsigned long long) after);
	ok(safe, "still safe after recovery");

	for (raft_id id = 1; id <= NODES; id++)
	{
		raft_node_destroy(nodes[id]);
		raft_memory_storage_destroy(disks[id]);
	}
	for (uint32_t i = 0; i < n_queue; i++)
		free(queue[i].bytes);
	n_queue = 0;
	is_u64(outstanding, baseline, "no allocation leaked");
}

int
main(void)
{
	raft_heap_set(&failing_heap);
	diag("allocation failure injection");
	run(50);
	run(10);
	run(4);
	ok(failures > 0 && nomem_returns > 0,
	   "failures injected (%llu) and reported as RAFT_ERR_NOMEM (%llu)",
	   (unsigned long long) failures, (unsigned long long) nomem_returns);
	return tap_done();
}
