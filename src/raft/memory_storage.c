/*-------------------------------------------------------------------------
 *
 * memory_storage.c
 *	  An in-memory raft_storage, like etcd's MemoryStorage.
 *
 * entries[0] is a dummy standing for the compaction point: it carries the
 * index and term of the last compacted entry (the snapshot's, unless the
 * host compacted further), so that term(first_index - 1) is answered.  The
 * real entries follow it:
 *
 *	  first_index = entries[0].index + 1
 *	  last_index  = entries[0].index + n - 1	(n >= 1)
 *
 * Entries returned by the entries callback point into the array and stay
 * valid until the storage next changes.
 *
 * src/raft/memory_storage.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

struct raft_memory_storage
{
	raft_snapshot snapshot; /* data owned; meta.index 0 if none */
	raft_entry *entries;	/* entries[0] is the dummy; data owned */
	uint32_t n;				/* n >= 1 */
	uint32_t capacity;
	uint64_t data_bytes; /* sum of entry data sizes */
};

static raft_index
ms_offset(const raft_memory_storage *ms)
{
	RAFT_ASSERT(ms->n >= 1);
	return ms->entries[0].index;
}

static raft_index
ms_last(const raft_memory_storage *ms)
{
	return ms_offset(ms) + ms->n - 1;
}

/* Frees the data of entries [from, n) and cuts them off. */
static void
ms_truncate(raft_memory_storage *ms, uint32_t from)
{
	RAFT_ASSERT(from >= 1 && from <= ms->n);
	for (uint32_t i = from; i < ms->n; i++)
	{
		ms->data_bytes -= ms->entries[i].size;
		raft_free(ms->entries[i].data);
	}
	ms->n = from;
}

static int
ms_reserve(raft_memory_storage *ms, uint64_t needed)
{
	uint64_t capacity;
	raft_entry *grown;

	if (needed <= ms->capacity)
		return RAFT_OK;
	if (needed > UINT32_MAX / 2)
		return RAFT_ERR_TOO_LARGE;
	capacity = ms->capacity < 16 ? 16 : ms->capacity;
	while (capacity < needed)
		capacity *= 2;
	grown = raft_realloc(ms->entries, (size_t) capacity * sizeof(raft_entry));
	if (grown == NULL)
		return RAFT_ERR_NOMEM;
	ms->entries = grown;
	ms->capacity = (uint32_t) capacity;
	return RAFT_OK;
}

/* Makes entries[at] the new dummy: drops everything before it. */
static void
ms_compact_to(raft_memory_storage *ms, uint32_t at)
{
	RAFT_ASSERT(at < ms->n);
	for (uint32_t i = 0; i <= at; i++)
	{
		ms->data_bytes -= ms->entries[i].size;
		raft_free(ms->entries[i].data);
	}
	memmove(ms->entries, ms->entries + at,
			(size_t) (ms->n - at) * sizeof(raft_entry));
	ms->n -= at;
	ms->entries[0].data = NULL;
	ms->entries[0].size = 0;
	ms->entries[0].type = RAFT_ENTRY_NORMAL;
}

raft_memory_storage *
raft_memory_storage_create(void)
{
	raft_memory_storage *ms = raft_calloc(1, sizeof(*ms));

	if (ms == NULL)
		return NULL;
	if (ms_reserve(ms, 16) != RAFT_OK)
	{
		raft_free(ms);
		return NULL;
	}
	memset(&ms->entries[0], 0, sizeof(raft_entry));
	ms->n = 1;
	return ms;
}

void
raft_memory_storage_destroy(raft_memory_storage *ms)
{
	if (ms == NULL)
		return;
	ms_truncate(ms, 1);
	raft_free(ms->entries);
	raft_snapshot_clear(&ms->snapshot);
	raft_free(ms);
}

/* ---- the raft_storage callbacks -------------------------------------- */

static int
ms_term(void *ud, raft_index i, raft_term *term)
{
	raft_memory_storage *ms = ud;

	if (i < ms_offset(ms))
		return RAFT_ERR_COMPACTED;
	if (i > ms_last(ms))
		return RAFT_ERR_UNAVAILABLE;
	*term = ms->entries[i - ms_offset(ms)].term;
	return RAFT_OK;
}

static int
ms_entries(void *ud, raft_index lo, raft_index hi, uint64_t max_bytes,
		   const raft_entry **entries, uint32_t *n)
{
	raft_memory_storage *ms = ud;
	uint64_t bytes = 0;
	uint32_t count = 0;
	uint32_t start;

	*entries = NULL;
	*n = 0;
	if (lo <= ms_offset(ms))
		return RAFT_ERR_COMPACTED;
	if (hi > ms_last(ms) + 1 || lo > hi)
		return RAFT_ERR_UNAVAILABLE;
	start = (uint32_t) (lo - ms_offset(ms));
	for (raft_index i = lo; i < hi; i++)
	{
		uint32_t size = ms->entries[start + count].size;

		if (count > 0 && bytes + size > max_bytes)
			break;
		bytes += size;
		count++;
	}
	*entries = count > 0 ? &ms->entries[start] : NULL;
	*n = count;
	return RAFT_OK;
}

static raft_index
ms_first_index(void *ud)
{
	return ms_offset(ud) + 1;
}

static raft_index
ms_last_index(void *ud)
{
	return ms_last(ud);
}

static int
ms_snapshot(void *ud, const raft_snapshot **snapshot)
{
	raft_memory_storage *ms = ud;

	*snapshot = &ms->snapshot;
	return RAFT_OK;
}

raft_storage
raft_memory_storage_view(raft_memory_storage *ms)
{
	raft_storage storage;

	RAFT_ASSERT(ms != NULL);
	storage.ud = ms;
	storage.term = ms_term;
	storage.entries = ms_entries;
	storage.first_index = ms_first_index;
	storage.last_index = ms_last_index;
	storage.snapshot = ms_snapshot;
	return storage;
}

/* ---- the host's writes ----------------------------------------------- */

/*
 * Appends entries, first truncating any suffix they replace; entries below
 * first_index are skipped (already compacted).  A gap is refused.
 */
int
raft_memory_storage_append(raft_memory_storage *ms, const raft_entry *entries,
						   uint32_t n)
{
	raft_index first;
	raft_index position;
	raft_entry *copies;
	int rc = RAFT_OK;

	if (ms == NULL || (n > 0 && entries == NULL))
		return RAFT_ERR_INVALID;
	/* What a host loads from its tables is checked like a peer's input. */
	for (uint32_t i = 0; i < n; i++)
	{
		if (entries[i].index >= RAFT_NUMBER_LIMIT ||
			entries[i].term >= RAFT_NUMBER_LIMIT ||
			(entries[i].size > 0 && entries[i].data == NULL) ||
			(i > 0 &&
			 (entries[i].index != entries[i - 1].index + 1 ||
			  entries[i].term < entries[i - 1].term)))
			return RAFT_ERR_INVALID;
	}
	if (n == 0)
		return RAFT_OK;
	first = ms_offset(ms) + 1;
	if (entries[0].index + n - 1 < first)
		return RAFT_OK; /* all compacted */
	if (entries[0].index < first)
	{
		uint32_t skip = (uint32_t) (first - entries[0].index);

		entries += skip;
		n -= skip;
	}
	position = entries[0].index - ms_offset(ms);
	if (position > ms->n)
		return RAFT_ERR_INVALID; /* gap after the last index */

	copies = raft_calloc(n, sizeof(raft_entry));
	if (copies == NULL)
		return RAFT_ERR_NOMEM;
	for (uint32_t i = 0; i < n; i++)
	{
		rc = raft_entry_copy(&entries[i], &copies[i]);
		if (rc != RAFT_OK)
			break;
	}
	if (rc == RAFT_OK)
		rc = ms_reserve(ms, position + n);
	if (rc != RAFT_OK)
	{
		for (uint32_t i = 0; i < n; i++)
			raft_free(copies[i].data);
		raft_free(copies);
		return rc;
	}
	ms_truncate(ms, (uint32_t) position);
	memcpy(&ms->entries[position], copies, (size_t) n * sizeof(raft_entry));
	ms->n = (uint32_t) position + n;
	ms->data_bytes += raft_entries_size_bytes(copies, n);
	raft_free(copies);
	return RAFT_OK;
}

/* Replaces everything with the snapshot (a follower installing one). */
int
raft_memory_storage_apply_snapshot(raft_memory_storage *ms,
								   const raft_snapshot *snapshot)
{
	raft_snapshot copy;
	int rc;

	if (ms == NULL || snapshot == NULL || snapshot->meta.index == 0 ||
		snapshot->meta.index >= RAFT_NUMBER_LIMIT ||
		snapshot->meta.term >= RAFT_NUMBER_LIMIT ||
		!raft_config_is_valid(&snapshot->meta.config) ||
		(snapshot->data_size > 0 && snapshot->data == NULL))
		return RAFT_ERR_INVALID;
	if (snapshot->meta.index <= ms->snapshot.meta.index)
		return RAFT_ERR_SNAPSHOT_OUT_OF_DATE;
	rc = raft_snapshot_copy(snapshot, &copy);
	if (rc != RAFT_OK)
		return rc;
	ms_truncate(ms, 1);
	raft_snapshot_clear(&ms->snapshot);
	ms->snapshot = copy;
	ms->entries[0].index = snapshot->meta.index;
	ms->entries[0].term = snapshot->meta.term;
	return RAFT_OK;
}

/* Records a snapshot at index (<= last index) and drops entries <= index. */
int
raft_memory_storage_create_snapshot(raft_memory_storage *ms, raft_index index,
									const raft_config *config,
									const uint8_t *data, uint32_t data_size)
{
	raft_snapshot source;
	raft_snapshot copy;
	int rc;

	if (ms == NULL || config == NULL || (data_size > 0 && data == NULL))
		return RAFT_ERR_INVALID;
	if (index <= ms->snapshot.meta.index)
		return RAFT_ERR_SNAPSHOT_OUT_OF_DATE;
	if (index > ms_last(ms))
		return RAFT_ERR_UNAVAILABLE;
	if (index < ms_offset(ms))
		return RAFT_ERR_COMPACTED;

	memset(&source, 0, sizeof(source));
	source.meta.index = index;
	source.meta.term = ms->entries[index - ms_offset(ms)].term;
	source.meta.config = *config;
	source.data_size = data_size;
	source.data = (uint8_t *) data;
	rc = raft_snapshot_copy(&source, &copy);
	if (rc != RAFT_OK)
		return rc;
	raft_snapshot_clear(&ms->snapshot);
	ms->snapshot = copy;
	if (index > ms_offset(ms))
		ms_compact_to(ms, (uint32_t) (index - ms_offset(ms)));
	return RAFT_OK;
}

/*
 * Drops entries < index without changing the snapshot: first_index
 * becomes index, and entry index - 1 stays as the dummy so that its term
 * is still answered.  Compacting past the snapshot leaves peers that are
 * further behind unable to catch up: hosts should compact only what a
 * snapshot covers (raft_memory_storage_create_snapshot already does).
 */
int
raft_memory_storage_compact(raft_memory_storage *ms, raft_index index)
{
	if (ms == NULL || index == 0)
		return RAFT_ERR_INVALID;
	if (index < ms_offset(ms) + 1)
		return RAFT_ERR_COMPACTED;
	if (index > ms_last(ms) + 1)
		return RAFT_ERR_UNAVAILABLE;
	if (index == ms_offset(ms) + 1)
		return RAFT_OK; /* nothing below index left */
	ms_compact_to(ms, (uint32_t) (index - 1 - ms_offset(ms)));
	RAFT_ASSERT(ms_offset(ms) + 1 == index);
	return RAFT_OK;
}

uint64_t
raft_memory_storage_size_bytes(const raft_memory_storage *ms)
{
	if (ms == NULL)
		return 0;
	return ms->data_bytes + (uint64_t) ms->n * sizeof(raft_entry) +
		ms->snapshot.data_size;
}
