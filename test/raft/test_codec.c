/*-------------------------------------------------------------------------
 *
 * test_codec.c
 *	  Unit tests of the wire format (src/raft/codec.c): every message type,
 *	  edge values and random messages round-trip exactly and re-encode to
 *	  the same bytes; conf changes round-trip and refuse what is not one.
 *	  Hostile input to the decoder: test_codec_hostile.c.
 *
 * test/raft/test_codec.c
 *
 *-------------------------------------------------------------------------
 */
#include "codec_samples.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define RANDOM_ROUNDS 3000
static void
test_round_trip_every_type(void)
{
	for (uint8_t type = 0; type < RAFT_MSG_TYPE_COUNT; type++)
	{
		raft_message msg = codec_sample_message(type);
		raft_message out;
		size_t len = codec_encode_or_die(&msg);
		size_t len2 = 0;
		int err = raft_message_decode(codec_buf, len, &out);

		ok(err == RAFT_OK, "type %u decodes", type);
		ok(codec_buf[0] == RAFT_WIRE_VERSION && codec_buf[1] == type,
		   "type %u starts with version and type", type);
		ok(codec_message_equal(&msg, &out), "type %u round-trips", type);
		ok(raft_message_encode(&out, codec_buf2, sizeof(codec_buf2), &len2) ==
				   RAFT_OK &&
			   len2 == len && memcmp(codec_buf, codec_buf2, len) == 0,
		   "type %u re-encodes to the same bytes", type);
		raft_message_free(&out);
		ok(codec_message_is_zero(&out), "type %u: free zeroes the message",
		   type);
	}
}

static void
test_extreme_values(void)
{
	raft_message msg = codec_sample_message(RAFT_MSG_APP);
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
	len = codec_encode_or_die(&msg);
	ok(raft_message_decode(codec_buf, len, &out) == RAFT_OK &&
		   codec_message_equal(&msg, &out),
	   "varint edge values round-trip");
	raft_message_free(&out);

	/* The smallest message: everything zero. */
	memset(&msg, 0, sizeof(msg));
	len = codec_encode_or_die(&msg);
	is_u64(len, 16, "an all-zero HUP is 16 bytes");
	ok(raft_message_decode(codec_buf, len, &out) == RAFT_OK &&
		   codec_message_equal(&msg, &out),
	   "all-zero message round-trips");
	raft_message_free(&out);
}

static void
test_empty_snapshot(void)
{
	raft_snapshot snapshot;
	raft_message msg = codec_sample_message(RAFT_MSG_SNAP);
	raft_message out;
	size_t len;

	memset(&snapshot, 0, sizeof(snapshot));
	snapshot.meta.index = 7;
	snapshot.meta.term = 2;
	msg.snapshot = &snapshot;
	len = codec_encode_or_die(&msg);
	ok(raft_message_decode(codec_buf, len, &out) == RAFT_OK &&
		   codec_message_equal(&msg, &out) && out.snapshot->data == NULL,
	   "snapshot without config or data round-trips");
	raft_message_free(&out);

	/* A full group: RAFT_MAX_MEMBERS between voters and learners. */
	snapshot.meta.config.n_voters = 20;
	snapshot.meta.config.n_learners = RAFT_MAX_MEMBERS - 20;
	for (uint32_t i = 0; i < 20; i++)
		snapshot.meta.config.voters[i] = i + 1;
	for (uint32_t i = 0; i < RAFT_MAX_MEMBERS - 20; i++)
		snapshot.meta.config.learners[i] = 1000 + i;
	len = codec_encode_or_die(&msg);
	ok(raft_message_decode(codec_buf, len, &out) == RAFT_OK &&
		   codec_message_equal(&msg, &out),
	   "a group of RAFT_MAX_MEMBERS round-trips");
	raft_message_free(&out);
}

static void
test_random_round_trips(void)
{
	int failures = 0;

	for (int round = 0; round < RANDOM_ROUNDS; round++)
	{
		raft_message msg = codec_random_message();
		raft_message out;
		size_t len = codec_encode_or_die(&msg);
		size_t len2 = 0;

		if (raft_message_decode(codec_buf, len, &out) != RAFT_OK ||
			!codec_message_equal(&msg, &out) ||
			raft_message_encode(&out, codec_buf2, sizeof(codec_buf2), &len2) !=
				RAFT_OK ||
			len2 != len || memcmp(codec_buf, codec_buf2, len) != 0)
			failures++;
		raft_message_free(&out);
	}
	is_u64(failures, 0, "random messages round-trip exactly");
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

	ok(raft_conf_change_encode(&cc, codec_buf, sizeof(codec_buf), &len) ==
			   RAFT_OK &&
		   len == raft_conf_change_encoded_size(&cc),
	   "conf change encodes");
	/* Conf changes live in logs on disk: their format stays at version 1. */
	ok(codec_buf[0] == 1 && codec_buf[1] == RAFT_CONF_ADD_LEARNER,
	   "conf change starts with version 1 and type");
	{
		const uint8_t stored[] = { 1, RAFT_CONF_ADD_LEARNER, 4, 0 };

		ok(raft_conf_change_decode(stored, sizeof(stored), &out) == RAFT_OK &&
			   out.node == 4 && out.type == RAFT_CONF_ADD_LEARNER,
		   "a conf change stored before messages became version 2 decodes");
	}
	ok(raft_conf_change_decode(codec_buf, len, &out) == RAFT_OK &&
		   out.type == cc.type && out.node == cc.node &&
		   out.context_size == cc.context_size &&
		   memcmp(out.context, context, sizeof(context)) == 0,
	   "conf change round-trips");
	ok(out.context == codec_buf + len - sizeof(context),
	   "conf change decode is zero-copy");

	for (size_t cut = 0; cut < len; cut++)
	{
		uint8_t *copy = malloc(cut > 0 ? cut : 1);

		memcpy(copy, codec_buf, cut);
		if (raft_conf_change_decode(copy, cut, &out) != RAFT_ERR_MALFORMED ||
			out.node != 0 || out.context != NULL)
			all_refused = false;
		free(copy);
	}
	ok(all_refused, "every truncated conf change is refused");

	codec_buf[len] = 0;
	ok(raft_conf_change_decode(codec_buf, len + 1, &out) == RAFT_ERR_MALFORMED,
	   "conf change with a trailing byte is refused");
	codec_buf[0] = 2;
	ok(raft_conf_change_decode(codec_buf, len, &out) == RAFT_ERR_VERSION,
	   "conf change of version 2 is refused");
	codec_buf[0] = 1;
	codec_buf[1] = 3;
	ok(raft_conf_change_decode(codec_buf, len, &out) == RAFT_ERR_MALFORMED,
	   "conf change of type 3 is refused");
	codec_buf[1] = RAFT_CONF_REMOVE;
	codec_buf[2] = 0;
	ok(raft_conf_change_decode(codec_buf, len, &out) == RAFT_ERR_MALFORMED,
	   "conf change of node 0 is refused");

	cc = (raft_conf_change){ .type = RAFT_CONF_REMOVE, .node = UINT64_MAX };
	ok(raft_conf_change_encode(&cc, codec_buf, sizeof(codec_buf), &len) ==
			   RAFT_OK &&
		   raft_conf_change_decode(codec_buf, len, &out) == RAFT_OK &&
		   out.node == UINT64_MAX && out.context_size == 0 &&
		   out.context == NULL,
	   "conf change without context round-trips");
	cc.node = RAFT_NONE;
	ok(raft_conf_change_encode(&cc, codec_buf, sizeof(codec_buf), &len) ==
		   RAFT_ERR_INVALID,
	   "conf change of RAFT_NONE is not encoded");
	cc.node = 1;
	cc.type = 3;
	ok(raft_conf_change_encode(&cc, codec_buf, sizeof(codec_buf), &len) ==
		   RAFT_ERR_INVALID,
	   "conf change of unknown type is not encoded");
	cc.type = RAFT_CONF_ADD_VOTER;
	ok(raft_conf_change_encode(&cc, codec_buf, 3, &len) == RAFT_ERR_INVALID,
	   "conf change into a short buffer is refused");
}

int
main(void)
{
	codec_samples_init();
	test_round_trip_every_type();
	test_extreme_values();
	test_empty_snapshot();
	test_random_round_trips();
	test_conf_change();
	return tap_done();
}
