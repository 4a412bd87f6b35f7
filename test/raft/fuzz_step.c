/*-------------------------------------------------------------------------
 *
 * fuzz_step.c
 *	  libFuzzer target for the core's handling of hostile input: whatever
 *	  peers send and whatever the host loads back from its disk, the core
 *	  must refuse it with an error, never trip an assertion, crash or leak.
 *	  Run with `make fuzz FUZZ_TARGET=fuzz_step`.
 *
 * The input drives one node (node 1 of a 3-voter group; a follower, a
 * candidate or a leader, as the first byte says) through a sequence of
 * events, each introduced by an opcode byte:
 *
 *	decoded   a length-prefixed wire message, decoded by the codec and
 *	          stepped (its from/to rewritten to a member and to us, or not)
 *	built     a message assembled field by field from the input, bypassing
 *	          the decoder: any type, terms and indexes near ours, at the
 *	          2^62 bound or anywhere, entries that may not line up, any
 *	          sender identity (incarnation, life, recovering or not)
 *	tick      one to eight ticks
 *	ready     persist a ready to the memory storage, check that every
 *	          message in it encodes, advance
 *	restart   destroy the node and create it again from what was
 *	          persisted: the load may be refused, never crash
 *	host      a proposal, a snapshot report, an unreachable report, or a
 *	          host snapshot of the applied state
 *
 * The assertion hook traps: an assertion reached from input is a finding.
 *
 * test/raft/fuzz_step.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 96
#define TERM_BOUND (UINT64_C(1) << 62)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input
{
	const uint8_t *data;
	size_t size;
	size_t at;
} input;

typedef struct disk
{
	raft_memory_storage *ms;
	raft_hard_state hard_state;
	raft_config config;
	raft_index applied;
	uint32_t n_peers;
	raft_peer_record peers[RAFT_MAX_MEMBERS];
} disk;

static void
trap_on_assert(const char *expression, const char *file, int line)
{
	fprintf(stderr, "assertion reached from input: %s (%s:%d)\n", expression,
			file, line);
	__builtin_trap();
}

static uint8_t
next_u8(input *in)
{
	return in->at < in->size ? in->data[in->at++] : 0;
}

static uint64_t
next_u64(input *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | next_u8(in);
	return v;
}

/* A number near base, at the 2^62 bound, or anywhere. */
static uint64_t
next_near(input *in, uint64_t base)
{
	uint8_t mode = next_u8(in);
	uint64_t small = mode >> 3;

	switch (mode & 7)
	{
		case 0:
		case 1:
			return base + small;
		case 2:
			return base >= small ? base - small : 0;
		case 3:
			return TERM_BOUND - 1 + (small & 3) - 1;
		case 4:
			return UINT64_MAX - small;
		case 5:
			return base + (UINT64_C(1) << 32) + small - 16;
		case 6:
			return small;
		default:
			return next_u64(in);
	}
}

static void
check(bool condition, const char *what)
{
	if (!condition)
	{
		fprintf(stderr, "broken: %s\n", what);
		__builtin_trap();
	}
}

static void
check_status(raft_node *node, raft_term *last_term)
{
	raft_status st;

	raft_get_status(node, &st);
	check(st.hard_state.term < TERM_BOUND, "term stays below 2^62");
	check(st.hard_state.term >= *last_term, "term never goes back");
	check(st.hard_state.commit <= st.last_index, "commit within the log");
	check(st.applied <= st.hard_state.commit, "applied within commit");
	*last_term = st.hard_state.term;
}

/* Persist, check the messages encode, apply nothing, advance. */
static void
drain(raft_node *node, disk *d)
{
	for (int round = 0; round < 8 && raft_has_ready(node); round++)
	{
		raft_ready rd;

		if (raft_ready_get(node, &rd) != RAFT_OK)
			return;
		if (rd.has_snapshot &&
			raft_memory_storage_apply_snapshot(d->ms, &rd.snapshot) == RAFT_OK)
		{
			d->config = rd.snapshot.meta.config;
			d->applied = rd.snapshot.meta.index;
		}
		if (rd.n_entries > 0)
			(void) raft_memory_storage_append(d->ms, rd.entries, rd.n_entries);
		if (rd.has_hard_state)
			d->hard_state = rd.hard_state;
		if (rd.has_peers)
		{
			d->n_peers = rd.n_peers;
			memcpy(d->peers, rd.peers, rd.n_peers * sizeof(raft_peer_record));
		}
		for (uint32_t i = 0; i < rd.n_messages; i++)
		{
			size_t need = raft_message_encoded_size(&rd.messages[i]);
			uint8_t *buf = malloc(need);
			size_t written = 0;

			check(buf != NULL, "malloc");
			check(raft_message_encode(&rd.messages[i], buf, need, &written) ==
					  RAFT_OK,
				  "every message the core sends encodes");
			free(buf);
		}
		for (uint32_t i = 0; i < rd.n_committed; i++)
		{
			raft_conf_change cc;

			if (rd.committed[i].type == RAFT_ENTRY_CONF_CHANGE &&
				raft_conf_change_decode(rd.committed[i].data,
										rd.committed[i].size, &cc) == RAFT_OK)
				(void) raft_config_apply(&d->config, &cc);
			d->applied = rd.committed[i].index;
		}
		raft_advance(node, &rd);
	}
}

static raft_node *
start(disk *d, uint8_t flags)
{
	raft_options o;
	raft_node *node = NULL;

	memset(&o, 0, sizeof(o));
	if (d->hard_state.incarnation != 0)
		d->hard_state.boot++; /* as a host does at every start */
	o.id = 1;
	o.storage = raft_memory_storage_view(d->ms);
	o.hard_state = d->hard_state;
	o.n_peers = d->n_peers;
	o.peers = d->peers;
	o.config = d->config;
	o.applied = d->applied;
	o.seed = flags;
	o.disable_pre_vote = (flags & 2) != 0;
	o.disable_check_quorum = (flags & 4) != 0;
	o.max_inflight_msgs = 1 + (flags >> 5);
	if (raft_node_create(&o, &node) != RAFT_OK)
		return NULL;
	return node;
}

static raft_message
built_message(input *in, raft_node *node, raft_entry *entries)
{
	raft_status st;
	raft_message m;
	uint8_t shape = next_u8(in);

	raft_get_status(node, &st);
	memset(&m, 0, sizeof(m));
	m.type = (raft_message_type) (next_u8(in) % (RAFT_MSG_TYPE_COUNT + 1));
	m.from = (shape & 1) ? 2 + (shape >> 1 & 1) : next_near(in, 2);
	m.to = (shape & 4) ? 1 : next_near(in, 1);
	m.term = next_near(in, st.hard_state.term);
	m.log_term = next_near(in, st.hard_state.term);
	m.index = next_near(in, st.last_index);
	m.commit = next_near(in, st.hard_state.commit);
	m.reject = (shape & 8) != 0;
	m.reject_hint = next_near(in, st.last_index);
	m.context = (shape & 128) ? next_u64(in) : next_u8(in) & 1;
	/* The sender's identity: a known one, a new life of it, or anything. */
	m.from_incarnation = (next_u8(in) & 3) == 0 ? next_u64(in) : 0xfeed;
	m.from_boot = next_near(in, UINT64_C(2) << 32);
	m.recovering = (next_u8(in) & 3) == 1;
	m.recovered = !m.recovering && (next_u8(in) & 3) == 2;
	m.n_entries = (shape >> 4) & 3;
	for (uint32_t i = 0; i < m.n_entries; i++)
	{
		memset(&entries[i], 0, sizeof(entries[i]));
		entries[i].term = next_near(in, m.log_term);
		entries[i].index =
			(shape & 64) ? m.index + 1 + i : next_near(in, m.index);
		entries[i].type = (raft_entry_type) (next_u8(in) % 3);
		entries[i].size = next_u8(in) & 3;
		entries[i].data = entries[i].size ? (uint8_t *) "data" : NULL;
	}
	m.entries = m.n_entries > 0 ? entries : NULL;
	return m;
}

static void
step_built(input *in, raft_node *node)
{
	raft_entry entries[3];
	raft_snapshot snapshot;
	raft_message m = built_message(in, node, entries);

	if (m.type == RAFT_MSG_SNAP || (next_u8(in) & 7) == 0)
	{
		memset(&snapshot, 0, sizeof(snapshot));
		snapshot.meta.index = next_near(in, m.index);
		snapshot.meta.term = next_near(in, m.log_term);
		snapshot.meta.config.n_voters = 1 + next_u8(in) % 3;
		for (uint32_t i = 0; i < snapshot.meta.config.n_voters; i++)
			snapshot.meta.config.voters[i] = i + 1;
		m.snapshot = &snapshot;
	}
	(void) raft_step(node, &m);
}

static void
step_decoded(input *in, raft_node *node)
{
	size_t len = next_u8(in);
	uint8_t rewrite = next_u8(in);
	raft_message m;

	len |= (size_t) next_u8(in) << 8;
	if (len > in->size - in->at)
		len = in->size - in->at;
	if (raft_message_decode(in->data + in->at, len, &m) == RAFT_OK)
	{
		if (rewrite & 1)
		{
			m.from = 2 + (rewrite >> 1 & 1);
			m.to = 1;
		}
		(void) raft_step(node, &m);
		raft_message_free(&m);
	}
	in->at += len;
}

static void
host_event(input *in, raft_node *node, disk *d)
{
	uint8_t what = next_u8(in);
	uint8_t payload[8] = { 0 };

	switch (what & 3)
	{
		case 0:
			(void) raft_propose(node, payload, what >> 5);
			break;
		case 1:
			raft_report_snapshot(node, 2 + (what >> 2 & 1), (what & 8) != 0);
			break;
		case 2:
			raft_report_unreachable(node, next_near(in, 2));
			break;
		default:
			if (d->applied > 0)
				(void) raft_memory_storage_create_snapshot(d->ms, d->applied,
														   &d->config, payload,
														   8);
			break;
	}
}

/* Makes node 1 a leader of a term, with the votes of node 2. */
static void
become_leader(raft_node *node, disk *d)
{
	raft_status st;
	raft_message vote;

	(void) raft_campaign(node);
	drain(node, d);
	raft_get_status(node, &st);
	memset(&vote, 0, sizeof(vote));
	vote.type = st.role == RAFT_PRECANDIDATE ? RAFT_MSG_PREVOTE_RESP
											 : RAFT_MSG_VOTE_RESP;
	vote.from = 2;
	vote.to = 1;
	vote.term = st.hard_state.term + (st.role == RAFT_PRECANDIDATE);
	(void) raft_step(node, &vote);
	drain(node, d);
	raft_get_status(node, &st);
	if (st.role == RAFT_CANDIDATE)
	{
		vote.type = RAFT_MSG_VOTE_RESP;
		vote.term = st.hard_state.term;
		(void) raft_step(node, &vote);
		drain(node, d);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input in = { .data = data, .size = size, .at = 0 };
	disk d;
	raft_node *node;
	raft_term last_term = 0;
	uint8_t flags = next_u8(&in);

	raft_assert_set_handler(trap_on_assert);
	memset(&d, 0, sizeof(d));
	d.ms = raft_memory_storage_create();
	check(d.ms != NULL, "memory storage");
	/* Half the runs take part in recovery, some starting recovering. */
	if (flags & 16)
	{
		d.hard_state.incarnation = 0xabcdef;
		d.hard_state.recovering = (flags & 8) != 0;
	}
	d.config.n_voters = 3;
	for (uint32_t i = 0; i < 3; i++)
		d.config.voters[i] = i + 1;
	node = start(&d, flags);
	check(node != NULL, "a fresh node starts");
	if (flags & 1)
		become_leader(node, &d);
	else if (flags & 8)
	{
		(void) raft_campaign(node);
		drain(node, &d);
	}

	for (int event = 0; event < MAX_EVENTS && in.at < in.size; event++)
	{
		uint8_t op = next_u8(&in);

		switch (op % 8)
		{
			case 0:
				step_decoded(&in, node);
				break;
			case 1:
			case 2:
			case 3:
				step_built(&in, node);
				break;
			case 4:
				for (int i = 0; i <= (op >> 3) % 8; i++)
					raft_tick(node);
				break;
			case 5:
				drain(node, &d);
				break;
			case 6:
				drain(node, &d);
				raft_node_destroy(node);
				last_term = 0;
				node = start(&d, flags);
				if (node == NULL)
					goto done; /* the load was refused: fine */
				break;
			default:
				host_event(&in, node, &d);
				break;
		}
		check_status(node, &last_term);
	}
	drain(node, &d);
	raft_node_destroy(node);
done:
	raft_memory_storage_destroy(d.ms);
	return 0;
}
