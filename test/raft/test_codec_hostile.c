/*-------------------------------------------------------------------------
 *
 * test_codec_hostile.c
 *	  The wire decoder (src/raft/codec.c) against hostile input: it refuses
 *	  truncated, corrupted, trailing-garbage and oversized input without
 *	  reading out of bounds or allocating what a hostile count asks for,
 *	  and leaves the message zeroed; whatever a mutated encoding decodes to
 *	  re-encodes to the same bytes.  The encoder refuses what it cannot
 *	  encode.
 *
 * test/raft/test_codec_hostile.c
 *
 *-------------------------------------------------------------------------
 */
#include "codec_samples.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define MUTATION_ROUNDS 20000

/* Every proper prefix of a valid encoding is refused, and msg is zeroed. */
static void
test_truncation(void)
{
	for (uint8_t type = 0; type < RAFT_MSG_TYPE_COUNT; type++)
	{
		raft_message msg = codec_sample_message(type);
		size_t len = codec_encode_or_die(&msg);
		bool all_refused = true;

		for (size_t cut = 0; cut < len; cut++)
		{
			raft_message out;
			uint8_t *copy = malloc(cut > 0 ? cut : 1);

			/* A heap copy of exactly cut bytes: ASan sees any overread. */
			memcpy(copy, codec_buf, cut);
			if (raft_message_decode(copy, cut, &out) != RAFT_ERR_MALFORMED ||
				!codec_message_is_zero(&out))
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
	raft_message msg = codec_sample_message(RAFT_MSG_APP);
	raft_message out;
	size_t len = codec_encode_or_die(&msg);

	codec_buf[len] = 0;
	ok(raft_message_decode(codec_buf, len + 1, &out) == RAFT_ERR_MALFORMED &&
		   codec_message_is_zero(&out),
	   "a trailing byte is refused");
	msg = codec_sample_message(RAFT_MSG_SNAP);
	len = codec_encode_or_die(&msg);
	codec_buf[len] = 1;
	ok(raft_message_decode(codec_buf, len + 1, &out) == RAFT_ERR_MALFORMED &&
		   codec_message_is_zero(&out),
	   "a trailing byte after a snapshot is refused");
}

/* Decodes codec_buf after poking one byte; returns the error. */
static int
decode_poked(size_t len, size_t offset, uint8_t value)
{
	raft_message out;
	uint8_t saved = codec_buf[offset];
	int err;

	codec_buf[offset] = value;
	err = raft_message_decode(codec_buf, len, &out);
	codec_buf[offset] = saved;
	if (err != RAFT_OK && !codec_message_is_zero(&out))
		return 1; /* not a valid error code: fails the test */
	if (err == RAFT_OK)
		raft_message_free(&out);
	return err;
}

static void
test_corrupted_fields(void)
{
	raft_message msg = codec_sample_message(RAFT_MSG_APP);
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
	len = codec_encode_or_die(&msg);
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
		   codec_message_is_zero(&out),
	   "n_entries over RAFT_WIRE_MAX_ENTRIES: TOO_LARGE");

	/* As many as allowed, but the bytes are not there: nothing allocated. */
	n = put_head(p, RAFT_MSG_APP);
	n += put_varint(p + n, RAFT_WIRE_MAX_ENTRIES);
	memset(p + n, 0, 8);
	ok(raft_message_decode(p, n + 8, &out) == RAFT_ERR_MALFORMED &&
		   codec_message_is_zero(&out),
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
		   codec_message_is_zero(&out),
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
		   codec_message_is_zero(&out),
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
			   codec_message_is_zero(&out),
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
			raft_message msg = codec_sample_message(RAFT_MSG_HUP);
			size_t len = codec_encode_or_die(&msg);

			memcpy(huge, codec_buf, len);
			ok(raft_message_decode(huge, big, &out) == RAFT_ERR_TOO_LARGE &&
				   codec_message_is_zero(&out),
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

	msg = codec_sample_message(RAFT_MSG_APP);
	ok(raft_message_encode(&msg, codec_buf, raft_message_encoded_size(&msg) - 1,
						   &written) == RAFT_ERR_INVALID &&
		   written == 0,
	   "a buffer one byte short is refused");
	msg.type = RAFT_MSG_TYPE_COUNT;
	ok(raft_message_encode(&msg, codec_buf, sizeof(codec_buf), &written) ==
		   RAFT_ERR_INVALID,
	   "an unknown type is not encoded");
	msg = codec_sample_message(RAFT_MSG_APP);
	msg.snapshot = &codec_sample_snapshot;
	ok(raft_message_encode(&msg, codec_buf, sizeof(codec_buf), &written) ==
		   RAFT_ERR_INVALID,
	   "a snapshot on an APP is not encoded");
	msg = codec_sample_message(RAFT_MSG_SNAP);
	msg.snapshot = NULL;
	ok(raft_message_encode(&msg, codec_buf, sizeof(codec_buf), &written) ==
		   RAFT_ERR_INVALID,
	   "a SNAP without a snapshot is not encoded");
	msg = codec_sample_message(RAFT_MSG_APP);
	msg.n_entries = 1;
	msg.entries = &bad_entry;
	ok(raft_message_encode(&msg, codec_buf, sizeof(codec_buf), &written) ==
		   RAFT_ERR_INVALID,
	   "an entry of unknown type is not encoded");
	msg.n_entries = RAFT_WIRE_MAX_ENTRIES + 1;
	ok(raft_message_encode(&msg, codec_buf, sizeof(codec_buf), &written) ==
		   RAFT_ERR_TOO_LARGE,
	   "too many entries are not encoded");
	{
		raft_snapshot s = codec_sample_snapshot;

		s.meta.config.n_voters = RAFT_MAX_MEMBERS + 1;
		msg = codec_sample_message(RAFT_MSG_SNAP);
		msg.snapshot = &s;
		ok(raft_message_encode(&msg, codec_buf, sizeof(codec_buf), &written) ==
			   RAFT_ERR_INVALID,
		   "a config over RAFT_MAX_MEMBERS is not encoded");
	}
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
		raft_message msg = codec_random_message();
		raft_message out;
		size_t len = codec_encode_or_die(&msg);
		int flips = 1 + (int) (codec_rng_next() % 3);
		int err;

		for (int i = 0; i < flips; i++)
			codec_buf[codec_rng_next() % len] ^=
				(uint8_t) (1 + codec_rng_next() % 255);
		err = raft_message_decode(codec_buf, len, &out);
		if (err == RAFT_OK)
		{
			size_t len2 = 0;

			accepted++;
			if (raft_message_encode(&out, codec_buf2, sizeof(codec_buf2),
									&len2) != RAFT_OK ||
				len2 != len || memcmp(codec_buf, codec_buf2, len) != 0)
				failures++;
			raft_message_free(&out);
		}
		else if (!codec_message_is_zero(&out) ||
				 (err != RAFT_ERR_MALFORMED && err != RAFT_ERR_TOO_LARGE &&
				  err != RAFT_ERR_VERSION))
			failures++;
	}
	diag("%d of %d mutated encodings still decoded", accepted, MUTATION_ROUNDS);
	is_u64(failures, 0, "mutated encodings: canonical or refused cleanly");
}

int
main(void)
{
	codec_samples_init();
	test_truncation();
	test_trailing_garbage();
	test_corrupted_fields();
	test_hostile_counts();
	test_encoder_refusals();
	test_mutations();
	return tap_done();
}
