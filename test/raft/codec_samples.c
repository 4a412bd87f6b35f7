/*-------------------------------------------------------------------------
 *
 * codec_samples.c
 *	  What the wire codec's tests share (test_codec.c, test_codec_hostile.c):
 *	  encode buffers, a plausible message of every type, random valid
 *	  messages from a fixed seed, and exact comparison of messages.
 *
 * test/raft/codec_samples.c
 *
 *-------------------------------------------------------------------------
 */
#include "codec_samples.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint8_t codec_buf[CODEC_BUF_BYTES];
uint8_t codec_buf2[CODEC_BUF_BYTES];

/* splitmix64: the tests' only randomness, from a fixed seed. */
static uint64_t rng_state = 0x5eed5eed5eedULL;

uint64_t
codec_rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Numbers of every varint width, small ones more often. */
uint64_t
codec_rng_number(void)
{
	switch (codec_rng_next() % 4)
	{
		case 0:
			return codec_rng_next() % 3;
		case 1:
			return codec_rng_next() % 300;
		case 2:
			return codec_rng_next() >> (codec_rng_next() % 64);
		default:
			return codec_rng_next();
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

bool
codec_message_equal(const raft_message *a, const raft_message *b)
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

bool
codec_message_is_zero(const raft_message *msg)
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
raft_snapshot codec_sample_snapshot;

void
codec_samples_init(void)
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
	memset(&codec_sample_snapshot, 0, sizeof(codec_sample_snapshot));
	codec_sample_snapshot.meta.index = 1000000;
	codec_sample_snapshot.meta.term = 17;
	codec_sample_snapshot.meta.config.n_voters = 3;
	codec_sample_snapshot.meta.config.voters[0] = 1;
	codec_sample_snapshot.meta.config.voters[1] = 2;
	codec_sample_snapshot.meta.config.voters[2] = UINT64_MAX;
	codec_sample_snapshot.meta.config.n_learners = 1;
	codec_sample_snapshot.meta.config.learners[0] = 200;
	codec_sample_snapshot.data_size = sizeof(snap_data);
	codec_sample_snapshot.data = snap_data;
}

/* A plausible message of the type: entries on APP, snapshot on SNAP. */
raft_message
codec_sample_message(uint8_t type)
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
		msg.snapshot = &codec_sample_snapshot;
	return msg;
}

/* Encodes into codec_buf; returns the length. */
size_t
codec_encode_or_die(const raft_message *msg)
{
	size_t written = 0;
	int err = raft_message_encode(msg, codec_buf, sizeof(codec_buf), &written);

	if (err != RAFT_OK)
	{
		printf("Bail out! encode failed: %d\n", err);
		exit(1);
	}
	assert(written == raft_message_encoded_size(msg));
	return written;
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
	return codec_rng_number() & (RAFT_NUMBER_LIMIT - 1);
}

raft_message
codec_random_message(void)
{
	raft_message msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = (uint8_t) (codec_rng_next() % RAFT_MSG_TYPE_COUNT);
	msg.from = codec_rng_number();
	msg.to = codec_rng_number();
	msg.term = rng_term_or_index();
	msg.log_term = rng_term_or_index();
	msg.index = rng_term_or_index();
	msg.commit = rng_term_or_index();
	msg.reject = codec_rng_next() % 2;
	msg.reject_hint = rng_term_or_index();
	msg.context = codec_rng_number();
	msg.from_incarnation = codec_rng_number();
	msg.from_boot = codec_rng_number();
	msg.recovering = codec_rng_next() % 3 == 1;
	msg.recovered = !msg.recovering && codec_rng_next() % 2;
	msg.n_entries =
		(uint32_t) (codec_rng_next() % 5 == 0 ? codec_rng_next() % 64 : 0);
	msg.entries = msg.n_entries > 0 ? random_entries : NULL;
	for (uint32_t i = 0; i < msg.n_entries; i++)
	{
		raft_entry *e = &random_entries[i];

		e->term = rng_term_or_index();
		e->index = rng_term_or_index();
		e->type = (uint8_t) (codec_rng_next() % 2);
		e->size = (uint32_t) (codec_rng_next() % 41);
		e->data = e->size > 0 ? random_data[i] : NULL;
		for (uint32_t j = 0; j < e->size; j++)
			random_data[i][j] = (uint8_t) codec_rng_next();
	}
	if (msg.type == RAFT_MSG_SNAP)
	{
		raft_config *c = &random_snapshot.meta.config;
		uint32_t members =
			(uint32_t) (codec_rng_next() % (RAFT_MAX_MEMBERS + 1));

		memset(&random_snapshot, 0, sizeof(random_snapshot));
		random_snapshot.meta.index = rng_term_or_index();
		random_snapshot.meta.term = rng_term_or_index();
		c->n_voters =
			members > 0 ? (uint32_t) (codec_rng_next() % (members + 1)) : 0;
		c->n_learners = members - c->n_voters;
		for (uint32_t i = 0; i < c->n_voters; i++)
			c->voters[i] = 1 + i * 1000003;
		for (uint32_t i = 0; i < c->n_learners; i++)
			c->learners[i] = UINT64_MAX - i;
		random_snapshot.data_size = (uint32_t) (codec_rng_next() % 101);
		random_snapshot.data =
			random_snapshot.data_size ? random_snap_data : NULL;
		for (uint32_t i = 0; i < random_snapshot.data_size; i++)
			random_snap_data[i] = (uint8_t) codec_rng_next();
		msg.snapshot = &random_snapshot;
	}
	return msg;
}
