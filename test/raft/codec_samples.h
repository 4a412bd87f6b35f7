/*-------------------------------------------------------------------------
 *
 * codec_samples.h
 *	  What the wire codec's tests share (codec_samples.c).
 *
 * test/raft/codec_samples.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_TEST_CODEC_SAMPLES_H
#define RAFT_TEST_CODEC_SAMPLES_H

#include "raft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODEC_BUF_BYTES (1u << 20)

/* Scratch for encodings: codec_encode_or_die() writes into codec_buf. */
extern uint8_t codec_buf[CODEC_BUF_BYTES];
extern uint8_t codec_buf2[CODEC_BUF_BYTES];

/* The snapshot that codec_sample_message(RAFT_MSG_SNAP) carries. */
extern raft_snapshot codec_sample_snapshot;

/* splitmix64 from a fixed seed; numbers of every varint width. */
extern uint64_t codec_rng_next(void);
extern uint64_t codec_rng_number(void);

extern bool codec_message_equal(const raft_message *a, const raft_message *b);
extern bool codec_message_is_zero(const raft_message *msg);

/* Fills the samples; call once before the others. */
extern void codec_samples_init(void);
extern raft_message codec_sample_message(uint8_t type);
extern size_t codec_encode_or_die(const raft_message *msg);
extern raft_message codec_random_message(void);

#endif /* RAFT_TEST_CODEC_SAMPLES_H */
