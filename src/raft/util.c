/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small leaf helpers of the Raft core: error and role names, the seeded
 *	  PRNG, and deep copies of entries, snapshots and messages.
 *
 * Everything here is pure.  Copies are made in one block per array so that
 * whoever owns a copy releases it with a single raft_free().
 *
 * src/raft/util.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

const char *
raft_strerror(int err)
{
	switch (err)
	{
		case RAFT_OK:
			return "ok";
		case RAFT_ERR_NOMEM:
			return "out of memory";
		case RAFT_ERR_COMPACTED:
			return "requested index is compacted";
		case RAFT_ERR_UNAVAILABLE:
			return "requested index is unavailable";
		case RAFT_ERR_PROPOSAL_DROPPED:
			return "proposal dropped";
		case RAFT_ERR_CONF_CHANGE_PENDING:
			return "configuration change pending";
		case RAFT_ERR_INVALID:
			return "invalid argument";
		case RAFT_ERR_MALFORMED:
			return "malformed input";
		case RAFT_ERR_TOO_LARGE:
			return "too large";
		case RAFT_ERR_VERSION:
			return "unknown wire version";
		case RAFT_ERR_STORAGE:
			return "storage failure";
		case RAFT_ERR_SNAPSHOT_OUT_OF_DATE:
			return "snapshot out of date";
		case RAFT_ERR_OUT_OF_RANGE:
			return "term or index out of range";
		case RAFT_ERR_CORRUPT:
			return "stored state out of range or inconsistent";
		case RAFT_ERR_BUSY:
			return "too many uncommitted bytes: retry later";
		case RAFT_ERR_BEHIND:
			return "sender's state went back: told to recover";
	}
	return "unknown error";
}

const char *
raft_role_name(raft_role role)
{
	switch (role)
	{
		case RAFT_FOLLOWER:
			return "follower";
		case RAFT_PRECANDIDATE:
			return "pre-candidate";
		case RAFT_CANDIDATE:
			return "candidate";
		case RAFT_LEADER:
			return "leader";
	}
	return "unknown";
}

/*
 * splitmix64: tiny, fast, and good enough to spread election timeouts.
 * The state is the only input, so a seed replays exactly.
 */
uint64_t
raft_prng_next(uint64_t *state)
{
	uint64_t z;

	RAFT_ASSERT(state != NULL);
	*state += UINT64_C(0x9e3779b97f4a7c15);
	z = *state;
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A number in [0, bound); bound > 0.  Modulo bias is irrelevant here. */
uint64_t
raft_prng_below(uint64_t *state, uint64_t bound)
{
	RAFT_ASSERT(bound > 0);
	return raft_prng_next(state) % bound;
}

uint64_t
raft_entries_size_bytes(const raft_entry *entries, uint32_t n)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < n; i++)
		total += entries[i].size;
	return total;
}

/*
 * Deep-copies n entries into one block: the array followed by all data.
 * *out is NULL when n == 0.  Release with raft_free(*out).
 */
int
raft_entries_copy(const raft_entry *src, uint32_t n, raft_entry **out)
{
	uint64_t data_bytes;
	size_t array_bytes;
	raft_entry *copy;
	uint8_t *cursor;

	RAFT_ASSERT(out != NULL);
	RAFT_ASSERT(n == 0 || src != NULL);
	*out = NULL;
	if (n == 0)
		return RAFT_OK;

	data_bytes = raft_entries_size_bytes(src, n);
	array_bytes = (size_t) n * sizeof(raft_entry);
	if (data_bytes > SIZE_MAX - array_bytes)
		return RAFT_ERR_TOO_LARGE;
	copy = raft_malloc(array_bytes + (size_t) data_bytes);
	if (copy == NULL)
		return RAFT_ERR_NOMEM;

	cursor = (uint8_t *) copy + array_bytes;
	for (uint32_t i = 0; i < n; i++)
	{
		RAFT_ASSERT(src[i].size == 0 || src[i].data != NULL);
		copy[i] = src[i];
		if (src[i].size == 0)
		{
			copy[i].data = NULL;
			continue;
		}
		memcpy(cursor, src[i].data, src[i].size);
		copy[i].data = cursor;
		cursor += src[i].size;
	}
	RAFT_ASSERT(cursor == (uint8_t *) copy + array_bytes + data_bytes);
	*out = copy;
	return RAFT_OK;
}

/* Copies one entry with its own data allocation (for the unstable log). */
int
raft_entry_copy(const raft_entry *src, raft_entry *dst)
{
	RAFT_ASSERT(src != NULL && dst != NULL);
	RAFT_ASSERT(src->size == 0 || src->data != NULL);
	*dst = *src;
	dst->data = NULL;
	if (src->size == 0)
		return RAFT_OK;
	dst->data = raft_malloc(src->size);
	if (dst->data == NULL)
		return RAFT_ERR_NOMEM;
	memcpy(dst->data, src->data, src->size);
	return RAFT_OK;
}

/* Deep-copies a snapshot into dst; dst->data is its own allocation. */
int
raft_snapshot_copy(const raft_snapshot *src, raft_snapshot *dst)
{
	RAFT_ASSERT(src != NULL && dst != NULL);
	RAFT_ASSERT(src->data_size == 0 || src->data != NULL);
	*dst = *src;
	dst->data = NULL;
	if (src->data_size == 0)
		return RAFT_OK;
	dst->data = raft_malloc(src->data_size);
	if (dst->data == NULL)
		return RAFT_ERR_NOMEM;
	memcpy(dst->data, src->data, src->data_size);
	return RAFT_OK;
}

void
raft_snapshot_clear(raft_snapshot *snapshot)
{
	RAFT_ASSERT(snapshot != NULL);
	raft_free(snapshot->data);
	memset(snapshot, 0, sizeof(*snapshot));
}

/*
 * A snapshot for a message: the struct and its data in one block, so the
 * message releases it with raft_free(msg->snapshot).
 */
int
raft_snapshot_copy_block(const raft_snapshot *src, raft_snapshot **out)
{
	raft_snapshot *copy;

	RAFT_ASSERT(src != NULL && out != NULL);
	copy = raft_malloc(sizeof(raft_snapshot) + src->data_size);
	if (copy == NULL)
		return RAFT_ERR_NOMEM;
	*copy = *src;
	copy->data = NULL;
	if (src->data_size > 0)
	{
		copy->data = (uint8_t *) (copy + 1);
		memcpy(copy->data, src->data, src->data_size);
	}
	*out = copy;
	return RAFT_OK;
}

/* Releases what a message built by the core owns (never decoder output). */
void
raft_message_release(raft_message *msg)
{
	RAFT_ASSERT(msg != NULL);
	raft_free(msg->entries);
	raft_free(msg->snapshot);
	msg->entries = NULL;
	msg->n_entries = 0;
	msg->snapshot = NULL;
}
