/*-------------------------------------------------------------------------
 *
 * test_codec.c
 *	  Unit tests of the wire format (src/raft/codec.c): every message type
 *	  round-trips exactly, and the decoder refuses truncated, corrupted,
 *	  trailing-garbage and oversized input without reading out of bounds or
 *	  allocating what a hostile count asks for.
 *
 * test/raft/test_codec.c
 *
 *-------------------------------------------------------------------------
 */
#include "raft.h"
#include "tap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define BUF_BYTES (1u << 20)
#define RANDOM_ROUNDS 3000
#define MUTATION_ROUNDS 20000

static uint8_t buf[BUF_BYTES];
static uint8_t buf2[BUF_BYTES];

/* splitmix64: the tests' only randomness, from a fixed seed. */
static uint64_t rng_state = 0x5eed5eed5eedULL;

static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Numbers of every varint width, small ones more often. */
static uint64_t
rng_number(void)
{
	switch (rng_next() % 4)
	{
		case 0:
			return rng_next() % 3;
		case 1:
			return rng_next() % 300;
		case 2:
			return rng_next() >> (rng_next() % 64);
		default:
			return rng_next();
	}
}

static bool
entry_equal(const raft_entry *a, const raft_entry *b)
{
	if (a->term != b->term || a->index != b->index || a->type != b->type ||
		a->size != b->size)
		return false;
	if (a->size == 0)
		return b->data == NULL;
	return memcmp(a->data, b->data, a->size) == 0;
}

static bool
config_equal(const raft_config *a, const raft_config *b)
{
	return a->n_voters == b->n_voters && a->n_learners == b->n_learners &&
		memcmp(a->voters, b->voters, a->n_voters * sizeof(raft_id)) == 0 &&
		memcmp(a->learners, b->learners, a->n_learners * sizeof(raft_id)) == 0;
}

static bool
message_equal(const raft_message *a, const raft_message *b)
{
	if (a->type != b->type || a->from != b->from || a->to != b->to ||
		a->term != b->term || a->log_term != b->log_term ||
		a->index != b->index || a->commit != b->commit ||
		a->reject != b->reject || a->reject_hint != b->reject_hint ||
		a->context != b->context || a->n_entries != b->n_entries ||
		a->from_incarnation != b->from_incarnation ||
		a->from_boot != b->from_boot || a->recovering != b->recovering ||
		a->recovered != b->recovered)
		return false;
	for (uint32_t i = 0; i < a->n_entries; i++)
		if (!entry_equal(&a->entries[i], &b->entries[i]))
			return false;
	if ((a->snapshot == NULL) != (b->snapshot == NULL))
		return false;
	if (a->snapshot != NULL)
	{
		const raft_snapshot *x = a->snapshot;
		const raft_snapshot *y = b->snapshot;

		if (x->meta.index != y->meta.index || x->meta.term != y->meta.term ||
			!config_equal(&x->meta.config, &y->meta.config) ||
			x->data_size != y->data_size)
			return false;
		if (x->data_size > 0 && memcmp(x->data, y->data, x->data_size) != 0)
			return false;
		if (x->data_size == 0 && y->data != NULL)
			return false;
	}
	return true;
}

static bool
message_is_zero(const raft_message *msg)
{
	static const raft_message zero;

	return memcmp(msg, &zero, sizeof(zero)) == 0;
}

/* ------------------------------------------------------------------------
 * Sample messages
 * ------------------------------------------------------------------------
 */
static uint8_t payload_a[] = "first entry";
static uint8_t payload_b[300];
static uint8_t snap_data[] = "applied digest";
static raft_entry sample_entries[3];
static raft_snapshot sample_snapshot;

static void
samples_init(void)
{
	for (size_t i = 0; i < sizeof(payload_b); i++)
		payload_b[i] = (uint8_t) (i * 7);
	sample_entries[0] = (raft_entry){
		.term = 3, .index = 41, .type = RAFT_ENTRY_NORMAL, .size = 0, .data = NULL
	};
	sample_entries[1] = (raft_entry){ .term = 3,
									  .index = 42,
									  .type = RAFT_ENTRY_NORMAL,
									  .size = sizeof(payload_a),
									  .data = payload_a };
	sample_entries[2] = (raft_entry){ .term = 4,
									  .index = 43,
									  .type = RAFT_ENTRY_CONF_CHANGE,
									  .size = sizeof(payload_b),
									  .data = payload_b };
	memset(&sample_snapshot, 0, sizeof(sample_snapshot));
	sample_snapshot.meta.index = 1000000;
	sample_snapshot.meta.term = 17;
	sample_snapshot.meta.config.n_voters = 3;
	sample_snapshot.meta.config.voters[0] = 1;
	sample_snapshot.meta.config.voters[1] = 2;
	sample_snapshot.meta.config.voters[2] = UINT64_MAX;
	sample_snapshot.meta.config.n_learners = 1;
	sample_snapshot.meta.config.learners[0] = 200;
	sample_snapshot.data_size = sizeof(snap_data);
	sample_snapshot.data = snap_data;
}

/* A plausible message of the type: entries on APP, snapshot on SNAP. */
static raft_message
sample_message(uint8_t type)
{
	raft_message msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	msg.from = 1;
	msg.to = 2;
	msg.term = 5 + type;
	msg.log_term = 4;
	msg.index = 40;
	msg.commit = 39;
	msg.reject = (type % 2) == 0;
	msg.reject_hint = type == RAFT_MSG_APP_RESP ? 12 : 0;
	msg.context = type == RAFT_MSG_VOTE ? 1 : 0;
	if (type == RAFT_MSG_APP || type == RAFT_MSG_PROP)
	{
		msg.n_entries = 3;
		msg.entries = sample_entries;
	}
	if (type == RAFT_MSG_SNAP)
		msg.snapshot = &sample_snapshot;
	return msg;
}

/* Encodes into buf; returns the length. */
static size_t
encode_or_die(const raft_message *msg)
{
	size_t written = 0;
	int err = raft_message_encode(msg, buf, sizeof(buf), &written);

	if (err != RAFT_OK)
	{
		printf("Bail out! encode failed: %d\n", err);
		exit(1);
	}
	assert(written == raft_message_encoded_size(msg));
	return written;
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------
 */
static void
test_round_trip_every_type(void)
{
	for (uint8_t type = 0; type < RAFT_MSG_TYPE_COUNT; type++)
	{
		raft_message msg = sample_message(type);
		raft_message out;
		size_t len = encode_or_die(&msg);
		size_t len2 = 0;
		int err = raft_message_decode(buf, len, &out);

		ok(err == RAFT_OK, "type %u decodes", type);
		ok(buf[0] == RAFT_WIRE_VERSION && buf[1] == type,
		   "type %u starts with version and type", type);
		ok(message_equal(&msg, &out), "type %u round-trips", type);
		ok(raft_message_encode(&out, buf2, sizeof(buf2), &len2) == RAFT_OK &&
			   len2 == len && memcmp(buf, buf2, len) == 0,
		   "type %u re-encodes to the same bytes", type);
		raft_message_free(&out);
		ok(message_is_zero(&out), "type %u: free zeroes the message", type);
	}
}

static void
test_extreme_values(void)
{
	raft_message msg = sample_message(RAFT_MSG_APP);
	raft_message out;
	size_t len;

	msg.from = UINT64_MAX;
	msg.to = 0;
	msg.term = RAFT_NUMBER_LIMIT - 1;
	msg.log_term = 127;
	msg.index = 128;
	msg.commit = RAFT_NUMBER_LIMIT - 1;
	msg.reject_hint = 16383;
	msg.context = 16384;
	len = encode_or_die(&msg);
	ok(raft_message_decode(buf, len, &out) == RAFT_OK &&
		   message_equal(&msg, &out),
	   "varint edge values round-trip");
	raft_message_free(&out);

	/* The smallest message: everything zero. */
	memset(&msg, 0, sizeof(msg));
	len = encode_or_die(&msg);
	is_u64(len, 16, "an all-zero HUP is 16 bytes");
	ok(raft_message_decode(buf, len, &out) == RAFT_OK &&
		   message_equal(&msg, &out),
	   "all-zero message round-trips");
	raft_message_free(&out);
}

static void
test_empty_snapshot(void)
{
	raft_snapshot snapshot;
	raft_message msg = sample_message(RAFT_MSG_SNAP);
	raft_message out;
	size_t len;

	memset(&snapshot, 0, sizeof(snapshot));
	snapshot.meta.index = 7;
	snapshot.meta.term = 2;
	msg.snapshot = &snapshot;
	len = encode_or_die(&msg);
	ok(raft_message_decode(buf, len, &out) == RAFT_OK &&
		   message_equal(&msg, &out) && out.snapshot->data == NULL,
	   "snapshot without config or data round-trips");
	raft_message_free(&out);

	/* A full group: RAFT_MAX_MEMBERS between voters and learners. */
	snapshot.meta.config.n_voters = 20;
	snapshot.meta.config.n_learners = RAFT_MAX_MEMBERS - 20;
	for (uint32_t i = 0; i < 20; i++)
		snapshot.meta.config.voters[i] = i + 1;
	for (uint32_t i = 0; i < RAFT_MAX_MEMBERS - 20; i++)
		snapshot.meta.config.learners[i] = 1000 + i;
	len = encode_or_die(&msg);
	ok(raft_message_decode(buf, len, &out) == RAFT_OK &&
		   message_equal(&msg, &out),
	   "a group of RAFT_MAX_MEMBERS round-trips");
	raft_message_free(&out);
}

/* Every proper prefix of a valid encoding is refused, and msg is zeroed. */
static void
test_truncation(void)
{
	for (uint8_t type = 0; type < RAFT_MSG_TYPE_COUNT; type++)
	{
		raft_message msg = sample_message(type);
		size_t len = encode_or_die(&msg);
		bool all_refused = true;

		for (size_t cut = 0; cut < len; cut++)
		{
			raft_message out;
			uint8_t *copy = malloc(cut > 0 ? cut : 1);

			/* A heap copy of exactly cut bytes: ASan sees any overread. */
			memcpy(copy, buf, cut);
			if (raft_message_decode(copy, cut, &out) != RAFT_ERR_MALFORMED ||
				!message_is_zero(&out))
			{
				all_refused = false;
				diag("type %u: prefix of %zu/%zu bytes accepted", type, cut,
					 len);
			}
			free(copy);
		}
		ok(all_refused, "type %u: all %zu truncations refused", type, len);
	}
}

static void
test_trailing_garbage(void)
{
	raft_message msg = sample_message(RAFT_MSG_APP);
	raft_message out;
	size_t len = encode_or_die(&msg);

	buf[len] = 0;
	ok(raft_message_decode(buf, len + 1, &out) == RAFT_ERR_MALFORMED &&
		   message_is_zero(&out),
	   "a trailing byte is refused");
	msg = sample_message(RAFT_MSG_SNAP);
	len = encode_or_die(&msg);
	buf[len] = 1;
	ok(raft_message_decode(buf, len + 1, &out) == RAFT_ERR_MALFORMED &&
		   message_is_zero(&out),
	   "a trailing byte after a snapshot is refused");
}

/* Decodes buf after poking one byte; returns the error. */
static int
decode_poked(size_t len, size_t offset, uint8_t value)
{
	raft_message out;
	uint8_t saved = buf[offset];
	int err;

	buf[offset] = value;
	err = raft_message_decode(buf, len, &out);
	buf[offset] = saved;
	if (err != RAFT_OK && !message_is_zero(&out))
		return 1; /* not a valid error code: fails the test */
	if (err == RAFT_OK)
		raft_message_free(&out);
	return err;
}

static void
test_corrupted_fields(void)
{
	raft_message msg = sample_message(RAFT_MSG_APP);
	size_t len;
	size_t entry0;

	/* An APP whose small fields are each one byte. */
	msg.from = 1;
	msg.to = 2;
	msg.term = 3;
	msg.log_term = 3;
	msg.index = 40;
	msg.commit = 39;
	msg.reject = false;
	msg.reject_hint = 0;
	msg.context = 0;
	len = encode_or_die(&msg);
	/* 0 version, 1 type, 2..7 from..commit, 8 reject, 9 hint, 10 context,
	 * 11 from_incarnation, 12 from_boot, 13 recovery, 14 n_entries,
	 * 15 entry term, 16 entry index, 17 entry type. */
	entry0 = 15;
	is_u64(decode_poked(len, 0, 0), (uint64_t) (int64_t) RAFT_ERR_VERSION,
		   "version 0 is refused as RAFT_ERR_VERSION");
	is_u64(decode_poked(len, 0, 1), (uint64_t) (int64_t) RAFT_ERR_VERSION,
		   "version 1 (before identities) is refused as RAFT_ERR_VERSION");
	is_u64(decode_poked(len, 0, 3), (uint64_t) (int64_t) RAFT_ERR_VERSION,
		   "version 3 is refused as RAFT_ERR_VERSION");
	is_u64(decode_poked(len, 13, 3), (uint64_t) (int64_t) RAFT_ERR_MALFORMED,
		   "recovery = 3 is refused");
	is_u64(decode_poked(len, 13, 1), RAFT_OK,
		   "recovery = 1 (recovering) is "
		   "accepted");
	is_u64(decode_poked(len, 13, 2), RAFT_OK,
		   "recovery = 2 (recovered) is "
		   "accepted");
	is_u64(decode_poked(len, 1, RAFT_MSG_TYPE_COUNT),
		   (uint64_t) (int64_t) RAFT_ERR_MALFORMED,
		   "type RAFT_MSG_TYPE_COUNT is refused");
	is_u64(decode_poked(len, 1, 255), (uint64_t) (int64_t) RAFT_ERR_MALFORMED,
		   "type 255 is refused");
	is_u64(decode_poked(len, 8, 2), (uint64_t) (int64_t) RAFT_ERR_MALFORMED,
		   "reject = 2 is refused");
	is_u64(decode_poked(len, 8, 1), RAFT_OK, "reject = 1 is accepted");
	is_u64(decode_poked(len, entry0 + 2, 2),
		   (uint64_t) (int64_t) RAFT_ERR_MALFORMED, "entry type 2 is refused");
	is_u64(decode_poked(len, len - 1, 2),
		   (uint64_t) (int64_t) RAFT_ERR_MALFORMED,
		   "has_snapshot = 2 is refused");
	is_u64(decode_poked(len, len - 1, 1),
		   (uint64_t) (int64_t) RAFT_ERR_MALFORMED,
		   "a snapshot on an APP is refused");
	is_u64(decode_poked(len, 1, RAFT_MSG_SNAP),
		   (uint64_t) (int64_t) RAFT_ERR_MALFORMED,
		   "a SNAP without a snapshot is refused");

	/* Overlong and over-wide varints. */
	{
		uint8_t overlong[] = { RAFT_WIRE_VERSION,
							   RAFT_MSG_HUP,
							   0x81,
							   0x00,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0,
							   0 };
		uint8_t wide[] = { RAFT_WIRE_VERSION,
						   RAFT_MSG_HUP,
						   0xff,
						   0xff,
						   0xff,
						   0xff,
						   0xff,
						   0xff,
						   0xff,
						   0xff,
						   0xff,
						   0x02,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0,
						   0 };
		uint8_t max[] = { RAFT_WIRE_VERSION,
						  RAFT_MSG_HUP,
						  0xff,
						  0xff,
						  0xff,
						  0xff,
						  0xff,
						  0xff,
						  0xff,
						  0xff,
						  0xff,
						  0x01,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0,
						  0 };
		uint8_t eleven[] = { RAFT_WIRE_VERSION,
							 RAFT_MSG_HUP,
							 0x80,
							 0x80,
							 0x80,
							 0x80,
							 0x80,
							 0x80,
							 0x80,
							 0x80,
							 0x80,
							 0x80,
							 0x00,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0,
							 0 };
		raft_message out;

		ok(raft_message_decode(overlong, sizeof(overlong), &out) ==
			   RAFT_ERR_MALFORMED,
		   "an overlong varint is refused");
		ok(raft_message_decode(wide, sizeof(wide), &out) == RAFT_ERR_MALFORMED,
		   "a varint over 64 bits is refused");
		ok(raft_message_decode(eleven, sizeof(eleven), &out) ==
			   RAFT_ERR_MALFORMED,
		   "an 11-byte varint is refused");
		ok(raft_message_decode(max, sizeof(max), &out) == RAFT_OK &&
			   out.from == UINT64_MAX,
		   "UINT64_MAX in ten bytes is accepted");
		raft_message_free(&out);
	}
}

/* Writes a LEB128 varint at p; returns the bytes written. */
static size_t
put_varint(uint8_t *p, uint64_t value)
{
	size_t n = 0;

	while (value >= 0x80)
	{
		p[n++] = (uint8_t) (value | 0x80);
		value >>= 7;
	}
	p[n++] = (uint8_t) value;
	return n;
}

/* The fixed head of a message, up to (not including) n_entries. */
static size_t
put_head(uint8_t *p, uint8_t type)
{
	size_t n = 0;

	p[n++] = RAFT_WIRE_VERSION;
	p[n++] = type;
	for (int i = 0; i < 6; i++)
		p[n++] = 1; /* from, to, term, log_term, index, commit */
	p[n++] = 0;		/* reject */
	p[n++] = 0;		/* reject_hint */
	p[n++] = 0;		/* context */
	p[n++] = 0;		/* from_incarnation */
	p[n++] = 0;		/* from_boot */
	p[n++] = 0;		/* recovery */
	return n;
}

static void
test_hostile_counts(void)
{
	raft_message out;
	uint8_t p[256];
	size_t n;

	/* More entries than allowed. */
	n = put_head(p, RAFT_MSG_APP);
	n += put_varint(p + n, RAFT_WIRE_MAX_ENTRIES + 1);
	memset(p + n, 0, 8);
	ok(raft_message_decode(p, n + 8, &out) == RAFT_ERR_TOO_LARGE &&
		   message_is_zero(&out),
	   "n_entries over RAFT_WIRE_MAX_ENTRIES: TOO_LARGE");

	/* As many as allowed, but the bytes are not there: nothing allocated. */
	n = put_head(p, RAFT_MSG_APP);
	n += put_varint(p + n, RAFT_WIRE_MAX_ENTRIES);
	memset(p + n, 0, 8);
	ok(raft_message_decode(p, n + 8, &out) == RAFT_ERR_MALFORMED &&
		   message_is_zero(&out),
	   "65536 entries in 8 bytes: MALFORMED");

	/* A count of 2^64-1. */
	n = put_head(p, RAFT_MSG_APP);
	n += put_varint(p + n, UINT64_MAX);
	ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED,
	   "n_entries of 2^64-1: MALFORMED");

	/* One entry claiming 4 GiB of data. */
	n = put_head(p, RAFT_MSG_APP);
	n += put_varint(p + n, 1);
	n += put_varint(p + n, 1); /* term */
	n += put_varint(p + n, 1); /* index */
	p[n++] = RAFT_ENTRY_NORMAL;
	n += put_varint(p + n, UINT32_MAX);
	p[n++] = 0;
	ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED &&
		   message_is_zero(&out),
	   "an entry of 4 GiB in a few bytes: MALFORMED");

	/* An entry size beyond 32 bits. */
	n = put_head(p, RAFT_MSG_APP);
	n += put_varint(p + n, 1);
	n += put_varint(p + n, 1);
	n += put_varint(p + n, 1);
	p[n++] = RAFT_ENTRY_NORMAL;
	n += put_varint(p + n, (uint64_t) UINT32_MAX + 1);
	p[n++] = 0;
	ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED,
	   "an entry size over 32 bits: MALFORMED");

	/* A second entry fails after the first was read: nothing leaks (ASan). */
	n = put_head(p, RAFT_MSG_APP);
	n += put_varint(p + n, 2);
	n += put_varint(p + n, 1);
	n += put_varint(p + n, 1);
	p[n++] = RAFT_ENTRY_NORMAL;
	n += put_varint(p + n, 2);
	p[n++] = 'h';
	p[n++] = 'i';
	n += put_varint(p + n, 1);
	n += put_varint(p + n, 2);
	p[n++] = 7; /* bad type */
	n += put_varint(p + n, 0);
	p[n++] = 0;
	ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED &&
		   message_is_zero(&out),
	   "a bad second entry: MALFORMED");

	/* Snapshots with too many members. */
	{
		size_t head = put_head(p, RAFT_MSG_SNAP);

		n = head;
		n += put_varint(p + n, 0);	/* n_entries */
		p[n++] = 1;					/* has_snapshot */
		n += put_varint(p + n, 10); /* index */
		n += put_varint(p + n, 2);	/* term */
		n += put_varint(p + n, RAFT_MAX_MEMBERS + 1);
		for (uint32_t i = 0; i < RAFT_MAX_MEMBERS + 1; i++)
			n += put_varint(p + n, i + 1);
		n += put_varint(p + n, 0);
		n += put_varint(p + n, 0);
		ok(raft_message_decode(p, n, &out) == RAFT_ERR_TOO_LARGE &&
			   message_is_zero(&out),
		   "33 voters: TOO_LARGE");

		n = head;
		n += put_varint(p + n, 0);
		p[n++] = 1;
		n += put_varint(p + n, 10);
		n += put_varint(p + n, 2);
		n += put_varint(p + n, 20);
		for (uint32_t i = 0; i < 20; i++)
			n += put_varint(p + n, i + 1);
		n += put_varint(p + n, 13);
		for (uint32_t i = 0; i < 13; i++)
			n += put_varint(p + n, 100 + i);
		n += put_varint(p + n, 0);
		ok(raft_message_decode(p, n, &out) == RAFT_ERR_TOO_LARGE,
		   "20 voters + 13 learners: TOO_LARGE");

		n = head;
		n += put_varint(p + n, 0);
		p[n++] = 1;
		n += put_varint(p + n, 10);
		n += put_varint(p + n, 2);
		n += put_varint(p + n, 2);
		n += put_varint(p + n, 5);
		n += put_varint(p + n, 5);
		n += put_varint(p + n, 0);
		n += put_varint(p + n, 0);
		ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED,
		   "a voter listed twice: MALFORMED");

		n = head;
		n += put_varint(p + n, 0);
		p[n++] = 1;
		n += put_varint(p + n, 10);
		n += put_varint(p + n, 2);
		n += put_varint(p + n, 1);
		n += put_varint(p + n, 5);
		n += put_varint(p + n, 1);
		n += put_varint(p + n, 5);
		n += put_varint(p + n, 0);
		ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED,
		   "a node both voter and learner: MALFORMED");

		n = head;
		n += put_varint(p + n, 0);
		p[n++] = 1;
		n += put_varint(p + n, 10);
		n += put_varint(p + n, 2);
		n += put_varint(p + n, 1);
		n += put_varint(p + n, 0);
		n += put_varint(p + n, 0);
		n += put_varint(p + n, 0);
		ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED,
		   "voter RAFT_NONE: MALFORMED");

		n = head;
		n += put_varint(p + n, 0);
		p[n++] = 1;
		n += put_varint(p + n, 10);
		n += put_varint(p + n, 2);
		n += put_varint(p + n, 0);
		n += put_varint(p + n, 0);
		n += put_varint(p + n, UINT32_MAX);
		ok(raft_message_decode(p, n, &out) == RAFT_ERR_MALFORMED,
		   "snapshot data of 4 GiB in no bytes: MALFORMED");
	}

	/* A buffer over the wire bound is refused before it is read. */
	{
		size_t big = (size_t) RAFT_WIRE_MAX_BYTES + 1;
		uint8_t *huge = calloc(1, big);

		if (huge != NULL)
		{
			raft_message msg = sample_message(RAFT_MSG_HUP);
			size_t len = encode_or_die(&msg);

			memcpy(huge, buf, len);
			ok(raft_message_decode(huge, big, &out) == RAFT_ERR_TOO_LARGE &&
				   message_is_zero(&out),
			   "over RAFT_WIRE_MAX_BYTES: TOO_LARGE");
			free(huge);
		}
		else
			ok(1, "# SKIP no memory for a 64 MiB buffer");
	}
}

static void
test_encoder_refusals(void)
{
	raft_message msg;
	raft_entry bad_entry = { .term = 1, .index = 1, .type = 9 };
	size_t written = 99;

	msg = sample_message(RAFT_MSG_APP);
	ok(raft_message_encode(&msg, buf, raft_message_encoded_size(&msg) - 1,
						   &written) == RAFT_ERR_INVALID &&
		   written == 0,
	   "a buffer one byte short is refused");
	msg.type = RAFT_MSG_TYPE_COUNT;
	ok(raft_message_encode(&msg, buf, sizeof(buf), &written) == RAFT_ERR_INVALID,
	   "an unknown type is not encoded");
	msg = sample_message(RAFT_MSG_APP);
	msg.snapshot = &sample_snapshot;
	ok(raft_message_encode(&msg, buf, sizeof(buf), &written) == RAFT_ERR_INVALID,
	   "a snapshot on an APP is not encoded");
	msg = sample_message(RAFT_MSG_SNAP);
	msg.snapshot = NULL;
	ok(raft_message_encode(&msg, buf, sizeof(buf), &written) == RAFT_ERR_INVALID,
	   "a SNAP without a snapshot is not encoded");
	msg = sample_message(RAFT_MSG_APP);
	msg.n_entries = 1;
	msg.entries = &bad_entry;
	ok(raft_message_encode(&msg, buf, sizeof(buf), &written) == RAFT_ERR_INVALID,
	   "an entry of unknown type is not encoded");
	msg.n_entries = RAFT_WIRE_MAX_ENTRIES + 1;
	ok(raft_message_encode(&msg, buf, sizeof(buf), &written) ==
		   RAFT_ERR_TOO_LARGE,
	   "too many entries are not encoded");
	{
		raft_snapshot s = sample_snapshot;

		s.meta.config.n_voters = RAFT_MAX_MEMBERS + 1;
		msg = sample_message(RAFT_MSG_SNAP);
		msg.snapshot = &s;
		ok(raft_message_encode(&msg, buf, sizeof(buf), &written) ==
			   RAFT_ERR_INVALID,
		   "a config over RAFT_MAX_MEMBERS is not encoded");
	}
}

/* A random valid message; entries and snapshot point into static arrays. */
static raft_entry random_entries[64];
static uint8_t random_data[64][40];
static raft_snapshot random_snapshot;
static uint8_t random_snap_data[100];

/* Terms and indexes are below RAFT_NUMBER_LIMIT on the wire. */
static uint64_t
rng_term_or_index(void)
{
	return rng_number() & (RAFT_NUMBER_LIMIT - 1);
}

static raft_message
random_message(void)
{
	raft_message msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = (uint8_t) (rng_next() % RAFT_MSG_TYPE_COUNT);
	msg.from = rng_number();
	msg.to = rng_number();
	msg.term = rng_term_or_index();
	msg.log_term = rng_term_or_index();
	msg.index = rng_term_or_index();
	msg.commit = rng_term_or_index();
	msg.reject = rng_next() % 2;
	msg.reject_hint = rng_term_or_index();
	msg.context = rng_number();
	msg.from_incarnation = rng_number();
	msg.from_boot = rng_number();
	msg.recovering = rng_next() % 3 == 1;
	msg.recovered = !msg.recovering && rng_next() % 2;
	msg.n_entries = (uint32_t) (rng_next() % 5 == 0 ? rng_next() % 64 : 0);
	msg.entries = msg.n_entries > 0 ? random_entries : NULL;
	for (uint32_t i = 0; i < msg.n_entries; i++)
	{
		raft_entry *e = &random_entries[i];

		e->term = rng_term_or_index();
		e->index = rng_term_or_index();
		e->type = (uint8_t) (rng_next() % 2);
		e->size = (uint32_t) (rng_next() % 41);
		e->data = e->size > 0 ? random_data[i] : NULL;
		for (uint32_t j = 0; j < e->size; j++)
			random_data[i][j] = (uint8_t) rng_next();
	}
	if (msg.type == RAFT_MSG_SNAP)
	{
		raft_config *c = &random_snapshot.meta.config;
		uint32_t members = (uint32_t) (rng_next() % (RAFT_MAX_MEMBERS + 1));

		memset(&random_snapshot, 0, sizeof(random_snapshot));
		random_snapshot.meta.index = rng_term_or_index();
		random_snapshot.meta.term = rng_term_or_index();
		c->n_voters = members > 0 ? (uint32_t) (rng_next() % (members + 1)) : 0;
		c->n_learners = members - c->n_voters;
		for (uint32_t i = 0; i < c->n_voters; i++)
			c->voters[i] = 1 + i * 1000003;
		for (uint32_t i = 0; i < c->n_learners; i++)
			c->learners[i] = UINT64_MAX - i;
		random_snapshot.data_size = (uint32_t) (rng_next() % 101);
		random_snapshot.data =
			random_snapshot.data_size ? random_snap_data : NULL;
		for (uint32_t i = 0; i < random_snapshot.data_size; i++)
			random_snap_data[i] = (uint8_t) rng_next();
		msg.snapshot = &random_snapshot;
	}
	return msg;
}

static void
test_random_round_trips(void)
{
	int failures = 0;

	for (int round = 0; round < RANDOM_ROUNDS; round++)
	{
		raft_message msg = random_message();
		raft_message out;
		size_t len = encode_or_die(&msg);
		size_t len2 = 0;

		if (raft_message_decode(buf, len, &out) != RAFT_OK ||
			!message_equal(&msg, &out) ||
			raft_message_encode(&out, buf2, sizeof(buf2), &len2) != RAFT_OK ||
			len2 != len || memcmp(buf, buf2, len) != 0)
			failures++;
		raft_message_free(&out);
	}
	is_u64(failures, 0, "random messages round-trip exactly");
}

/*
 * Flip random bytes of valid encodings: whatever decodes must re-encode to
 * the very same bytes (the encoding is canonical), and every refusal must
 * leave the message zeroed.
 */
static void
test_mutations(void)
{
	int accepted = 0;
	int failures = 0;

	for (int round = 0; round < MUTATION_ROUNDS; round++)
	{
		raft_message msg = random_message();
		raft_message out;
		size_t len = encode_or_die(&msg);
		int flips = 1 + (int) (rng_next() % 3);
		int err;

		for (int i = 0; i < flips; i++)
			buf[rng_next() % len] ^= (uint8_t) (1 + rng_next() % 255);
		err = raft_message_decode(buf, len, &out);
		if (err == RAFT_OK)
		{
			size_t len2 = 0;

			accepted++;
			if (raft_message_encode(&out, buf2, sizeof(buf2), &len2) != RAFT_OK ||
				len2 != len || memcmp(buf, buf2, len) != 0)
				failures++;
			raft_message_free(&out);
		}
		else if (!message_is_zero(&out) ||
				 (err != RAFT_ERR_MALFORMED && err != RAFT_ERR_TOO_LARGE &&
				  err != RAFT_ERR_VERSION))
			failures++;
	}
	diag("%d of %d mutated encodings still decoded", accepted, MUTATION_ROUNDS);
	is_u64(failures, 0, "mutated encodings: canonical or refused cleanly");
}

static void
test_conf_change(void)
{
	static const uint8_t context[] = "node-4 host=10.0.0.4 port=5432";
	raft_conf_change cc = { .type = RAFT_CONF_ADD_LEARNER,
							.node = 4,
							.context_size = sizeof(context),
							.context = context };
	raft_conf_change out;
	size_t len = 0;
	bool all_refused = true;

	ok(raft_conf_change_encode(&cc, buf, sizeof(buf), &len) == RAFT_OK &&
		   len == raft_conf_change_encoded_size(&cc),
	   "conf change encodes");
	/* Conf changes live in logs on disk: their format stays at version 1. */
	ok(buf[0] == 1 && buf[1] == RAFT_CONF_ADD_LEARNER,
	   "conf change starts with version 1 and type");
	{
		const uint8_t stored[] = { 1, RAFT_CONF_ADD_LEARNER, 4, 0 };

		ok(raft_conf_change_decode(stored, sizeof(stored), &out) == RAFT_OK &&
			   out.node == 4 && out.type == RAFT_CONF_ADD_LEARNER,
		   "a conf change stored before messages became version 2 decodes");
	}
	ok(raft_conf_change_decode(buf, len, &out) == RAFT_OK &&
		   out.type == cc.type && out.node == cc.node &&
		   out.context_size == cc.context_size &&
		   memcmp(out.context, context, sizeof(context)) == 0,
	   "conf change round-trips");
	ok(out.context == buf + len - sizeof(context),
	   "conf change decode is zero-copy");

	for (size_t cut = 0; cut < len; cut++)
	{
		uint8_t *copy = malloc(cut > 0 ? cut : 1);

		memcpy(copy, buf, cut);
		if (raft_conf_change_decode(copy, cut, &out) != RAFT_ERR_MALFORMED ||
			out.node != 0 || out.context != NULL)
			all_refused = false;
		free(copy);
	}
	ok(all_refused, "every truncated conf change is refused");

	buf[len] = 0;
	ok(raft_conf_change_decode(buf, len + 1, &out) == RAFT_ERR_MALFORMED,
	   "conf change with a trailing byte is refused");
	buf[0] = 2;
	ok(raft_conf_change_decode(buf, len, &out) == RAFT_ERR_VERSION,
	   "conf change of version 2 is refused");
	buf[0] = 1;
	buf[1] = 3;
	ok(raft_conf_change_decode(buf, len, &out) == RAFT_ERR_MALFORMED,
	   "conf change of type 3 is refused");
	buf[1] = RAFT_CONF_REMOVE;
	buf[2] = 0;
	ok(raft_conf_change_decode(buf, len, &out) == RAFT_ERR_MALFORMED,
	   "conf change of node 0 is refused");

	cc = (raft_conf_change){ .type = RAFT_CONF_REMOVE, .node = UINT64_MAX };
	ok(raft_conf_change_encode(&cc, buf, sizeof(buf), &len) == RAFT_OK &&
		   raft_conf_change_decode(buf, len, &out) == RAFT_OK &&
		   out.node == UINT64_MAX && out.context_size == 0 &&
		   out.context == NULL,
	   "conf change without context round-trips");
	cc.node = RAFT_NONE;
	ok(raft_conf_change_encode(&cc, buf, sizeof(buf), &len) == RAFT_ERR_INVALID,
	   "conf change of RAFT_NONE is not encoded");
	cc.node = 1;
	cc.type = 3;
	ok(raft_conf_change_encode(&cc, buf, sizeof(buf), &len) == RAFT_ERR_INVALID,
	   "conf change of unknown type is not encoded");
	cc.type = RAFT_CONF_ADD_VOTER;
	ok(raft_conf_change_encode(&cc, buf, 3, &len) == RAFT_ERR_INVALID,
	   "conf change into a short buffer is refused");
}

int
main(void)
{
	samples_init();
	test_round_trip_every_type();
	test_extreme_values();
	test_empty_snapshot();
	test_truncation();
	test_trailing_garbage();
	test_corrupted_fields();
	test_hostile_counts();
	test_encoder_refusals();
	test_random_round_trips();
	test_mutations();
	test_conf_change();
	return tap_done();
}
