/*-------------------------------------------------------------------------
 *
 * fuzz_step.c
 *	  libFuzzer target for the core's handling of hostile peer input: the
 *	  input is a sequence of length-prefixed wire messages; each that
 *	  decodes is stepped into one node (a follower, or a leader of a 3-node
 *	  group), interleaved with ticks and ready processing.  Whatever a peer
 *	  sends, the core must not crash, assert or leak.  Run with
 *	  `make fuzz FUZZ_TARGET=fuzz_step`.
 *
 * test/raft/fuzz_step.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 64

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drain(raft_node *node, raft_memory_storage *ms)
{
	for (int round = 0; round < 8 && raft_has_ready(node); round++)
	{
		raft_ready	rd;

		if (raft_ready_get(node, &rd) != RAFT_OK)
			abort();
		if (rd.has_snapshot)
			(void) raft_memory_storage_apply_snapshot(ms, &rd.snapshot);
		if (rd.n_entries > 0)
			(void) raft_memory_storage_append(ms, rd.entries, rd.n_entries);
		raft_advance(node, &rd);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	raft_memory_storage *ms = raft_memory_storage_create();
	raft_options o;
	raft_node  *node = NULL;
	size_t		at = 0;

	if (ms == NULL)
		abort();
	memset(&o, 0, sizeof(o));
	o.id = 1;
	o.storage = raft_memory_storage_view(ms);
	o.config.n_voters = 3;
	o.config.voters[0] = 1;
	o.config.voters[1] = 2;
	o.config.voters[2] = 3;
	o.seed = 1;
	if (raft_node_create(&o, &node) != RAFT_OK)
		abort();
	/* The first byte picks the role to attack: follower or leader. */
	if (size > 0 && (data[0] & 1))
	{
		raft_message vote = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1};

		(void) raft_campaign(node);
		drain(node, ms);
		vote.term = 1;
		(void) raft_step(node, &vote);
		drain(node, ms);
	}
	at = size > 0 ? 1 : 0;
	for (int i = 0; i < MAX_MESSAGES && at + 2 <= size; i++)
	{
		size_t		len = (size_t) data[at] | ((size_t) data[at + 1] << 8);
		raft_message msg;

		at += 2;
		if (len > size - at)
			len = size - at;
		if (raft_message_decode(data + at, len, &msg) == RAFT_OK)
		{
			(void) raft_step(node, &msg);
			raft_message_free(&msg);
		}
		at += len;
		if (i % 4 == 3)
			raft_tick(node);
		drain(node, ms);
	}
	raft_node_destroy(node);
	raft_memory_storage_destroy(ms);
	return 0;
}
