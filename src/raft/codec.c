/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  The versioned binary wire format of raft_message and raft_conf_change.
 *
 * Every integer is an unsigned LEB128 varint (7 bits a byte, least
 * significant group first, high bit set on every byte but the last) or a
 * single byte.  Varints must be minimal: the decoder rejects an overlong
 * encoding, so every accepted buffer is the one and only encoding of its
 * message and decode-then-encode gives back the same bytes.
 *
 * Message layout (src/raft/README.md has the same table):
 *
 *	u8      version			RAFT_WIRE_VERSION
 *	u8      type			raft_message_type, < RAFT_MSG_TYPE_COUNT
 *	varint  from, to, term, log_term, index, commit
 *	u8      reject			0 or 1
 *	varint  reject_hint, context
 *	varint  from_incarnation, from_boot
 *	u8      recovery		0 none, 1 recovering, 2 recovered
 *	varint  n_entries		<= RAFT_WIRE_MAX_ENTRIES
 *	n_entries times:
 *	  varint  term, index
 *	  u8      type			raft_entry_type
 *	  varint  size			<= UINT32_MAX
 *	  size bytes of data
 *	u8      has_snapshot	1 iff type == RAFT_MSG_SNAP
 *	if has_snapshot:
 *	  varint  index, term
 *	  varint  n_voters		<= RAFT_MAX_MEMBERS, then n_voters varint ids
 *	  varint  n_learners	<= RAFT_MAX_MEMBERS, then n_learners varint ids
 *	  varint  data_size		<= UINT32_MAX
 *	  data_size bytes of data
 *
 * Conf change layout:
 *
 *	u8      version			CONF_CHANGE_VERSION (1)
 *	u8      type			raft_conf_change_type
 *	varint  node			!= RAFT_NONE
 *	varint  context_size	<= UINT32_MAX
 *	context_size bytes of context
 *
 * Every term and index (term, log_term, index, commit, reject_hint, an
 * entry's term and index, a snapshot's index and term) is below
 * RAFT_NUMBER_LIMIT (2^62): larger ones are refused with
 * RAFT_ERR_TOO_LARGE by the decoder and the encoder alike.
 *
 * Nothing may follow the last field.  A buffer over RAFT_WIRE_MAX_BYTES is
 * refused before it is read.  Every count is checked against the bytes left
 * before anything is allocated, so a hostile count costs no memory.
 *
 * A decoded message owns two allocations at most: its entries array, with
 * every entry's data packed after it, and its snapshot, with the snapshot's
 * data packed after it.  raft_message_free() releases both.
 *
 * src/raft/codec.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/heap.h"

#define VARINT_BYTES_MAX 10 /* 64 bits in 7-bit groups */

/*
 * Conf changes live in the log, on disk: their format has its own version,
 * which must not move with the messages' (a log written before would no
 * longer decode).
 */
#define CONF_CHANGE_VERSION 1
#define ENTRY_BYTES_MIN 4	 /* term, index, type, size: a byte each */
#define MESSAGE_BYTES_MIN 16 /* every field at its shortest */

/* ------------------------------------------------------------------------
 * Writer: bounds were checked by the caller against the exact size.
 * ------------------------------------------------------------------------
 */
typedef struct codec_writer
{
	uint8_t *buf;
	size_t capacity;
	size_t offset;
} codec_writer;

static size_t
varint_size(uint64_t value)
{
	size_t size = 1;

	while (value >= 0x80)
	{
		value >>= 7;
		size++;
	}
	RAFT_ASSERT(size <= VARINT_BYTES_MAX);
	return size;
}

static void
write_u8(codec_writer *w, uint8_t value)
{
	RAFT_ASSERT(w->offset < w->capacity);
	w->buf[w->offset++] = value;
}

static void
write_varint(codec_writer *w, uint64_t value)
{
	size_t start = w->offset;

	while (value >= 0x80)
	{
		write_u8(w, (uint8_t) (value | 0x80));
		value >>= 7;
	}
	write_u8(w, (uint8_t) value);
	RAFT_ASSERT(w->offset - start <= VARINT_BYTES_MAX);
	(void) start; /* only the assertion reads it */
}

static void
write_bytes(codec_writer *w, const uint8_t *data, size_t size)
{
	RAFT_ASSERT(size <= w->capacity - w->offset);
	RAFT_ASSERT(size == 0 || data != NULL);
	if (size > 0)
		memcpy(w->buf + w->offset, data, size);
	w->offset += size;
}

/* ------------------------------------------------------------------------
 * Reader: the first error sticks; every later read returns zeros.
 * ------------------------------------------------------------------------
 */
typedef struct codec_reader
{
	const uint8_t *buf;
	size_t len;
	size_t offset;
	int err;
} codec_reader;

static size_t
reader_left(const codec_reader *r)
{
	RAFT_ASSERT(r->offset <= r->len);
	return r->len - r->offset;
}

static void
reader_fail(codec_reader *r, int err)
{
	RAFT_ASSERT(err < 0);
	if (r->err == RAFT_OK)
		r->err = err;
}

static uint8_t
read_u8(codec_reader *r)
{
	if (r->err != RAFT_OK)
		return 0;
	if (reader_left(r) < 1)
	{
		reader_fail(r, RAFT_ERR_MALFORMED);
		return 0;
	}
	return r->buf[r->offset++];
}

static bool
read_bool(codec_reader *r)
{
	uint8_t byte = read_u8(r);

	if (byte > 1)
		reader_fail(r, RAFT_ERR_MALFORMED);
	return byte == 1;
}

/* A minimal LEB128 varint of at most 64 bits. */
static uint64_t
read_varint(codec_reader *r)
{
	uint64_t value = 0;

	for (unsigned i = 0; i < VARINT_BYTES_MAX; i++)
	{
		uint8_t byte = read_u8(r);

		if (r->err != RAFT_OK)
			return 0;
		if (i == VARINT_BYTES_MAX - 1 && byte > 1)
		{
			reader_fail(r, RAFT_ERR_MALFORMED); /* over 64 bits */
			return 0;
		}
		value |= (uint64_t) (byte & 0x7f) << (7 * i);
		if ((byte & 0x80) == 0)
		{
			if (i > 0 && byte == 0)
			{
				reader_fail(r, RAFT_ERR_MALFORMED); /* overlong */
				return 0;
			}
			return value;
		}
	}
	/* Ten bytes and the last still had its continuation bit: caught above. */
	RAFT_ASSERT(false);
	return 0;
}

/* A term or index: a varint below RAFT_NUMBER_LIMIT. */
static uint64_t
read_number(codec_reader *r)
{
	uint64_t value = read_varint(r);

	if (value >= RAFT_NUMBER_LIMIT)
	{
		reader_fail(r, RAFT_ERR_TOO_LARGE);
		return 0;
	}
	return value;
}

static uint32_t
read_u32_varint(codec_reader *r)
{
	uint64_t value = read_varint(r);

	if (value > UINT32_MAX)
	{
		reader_fail(r, RAFT_ERR_MALFORMED);
		return 0;
	}
	return (uint32_t) value;
}

/* Points at the next size bytes, or returns NULL (and fails) if too few. */
static const uint8_t *
read_bytes(codec_reader *r, size_t size)
{
	const uint8_t *bytes;

	if (r->err != RAFT_OK)
		return NULL;
	if (reader_left(r) < size)
	{
		reader_fail(r, RAFT_ERR_MALFORMED);
		return NULL;
	}
	bytes = r->buf + r->offset;
	r->offset += size;
	return bytes;
}

/* ------------------------------------------------------------------------
 * Validation shared by the encoder and the decoder.
 * ------------------------------------------------------------------------
 */
static bool
config_is_valid(const raft_config *config)
{
	raft_id ids[RAFT_MAX_MEMBERS * 2];
	uint32_t n = 0;

	if (config->n_voters > RAFT_MAX_MEMBERS ||
		config->n_learners > RAFT_MAX_MEMBERS ||
		config->n_voters + config->n_learners > RAFT_MAX_MEMBERS)
		return false;
	for (uint32_t i = 0; i < config->n_voters; i++)
		ids[n++] = config->voters[i];
	for (uint32_t i = 0; i < config->n_learners; i++)
		ids[n++] = config->learners[i];
	/* Nobody is RAFT_NONE, and nobody appears twice. */
	for (uint32_t i = 0; i < n; i++)
	{
		if (ids[i] == RAFT_NONE)
			return false;
		for (uint32_t j = i + 1; j < n; j++)
			if (ids[i] == ids[j])
				return false;
	}
	return true;
}

/*
 * The wire values of the enums, spelled out here and only here: the
 * switches have no default, so the compiler flags a type added to raft.h
 * and not to the wire; reordering an enum cannot change the format.
 */
#define WIRE_INVALID 0xff

static uint8_t
message_type_to_wire(raft_message_type type)
{
	switch (type)
	{
		case RAFT_MSG_HUP:
			return 0;
		case RAFT_MSG_BEAT:
			return 1;
		case RAFT_MSG_PROP:
			return 2;
		case RAFT_MSG_APP:
			return 3;
		case RAFT_MSG_APP_RESP:
			return 4;
		case RAFT_MSG_VOTE:
			return 5;
		case RAFT_MSG_VOTE_RESP:
			return 6;
		case RAFT_MSG_PREVOTE:
			return 7;
		case RAFT_MSG_PREVOTE_RESP:
			return 8;
		case RAFT_MSG_HEARTBEAT:
			return 9;
		case RAFT_MSG_HEARTBEAT_RESP:
			return 10;
		case RAFT_MSG_SNAP:
			return 11;
		case RAFT_MSG_TIMEOUT_NOW:
			return 12;
		case RAFT_MSG_TRANSFER_LEADER:
			return 13;
		case RAFT_MSG_UNREACHABLE:
			return 14;
		case RAFT_MSG_SNAP_STATUS:
			return 15;
		case RAFT_MSG_RECOVER:
			return 16;
		case RAFT_MSG_HELLO:
			return 17;
		case RAFT_MSG_TYPE_COUNT:
			break;
	}
	return WIRE_INVALID;
}

static bool
message_type_from_wire(uint8_t byte, raft_message_type *type)
{
	for (int t = 0; t < RAFT_MSG_TYPE_COUNT; t++)
	{
		if (message_type_to_wire((raft_message_type) t) == byte)
		{
			*type = (raft_message_type) t;
			return true;
		}
	}
	return false;
}

static uint8_t
entry_type_to_wire(raft_entry_type type)
{
	switch (type)
	{
		case RAFT_ENTRY_NORMAL:
			return 0;
		case RAFT_ENTRY_CONF_CHANGE:
			return 1;
	}
	return WIRE_INVALID;
}

static bool
entry_type_from_wire(uint8_t byte, raft_entry_type *type)
{
	switch (byte)
	{
		case 0:
			*type = RAFT_ENTRY_NORMAL;
			return true;
		case 1:
			*type = RAFT_ENTRY_CONF_CHANGE;
			return true;
	}
	return false;
}

static uint8_t
conf_change_type_to_wire(raft_conf_change_type type)
{
	switch (type)
	{
		case RAFT_CONF_ADD_VOTER:
			return 0;
		case RAFT_CONF_ADD_LEARNER:
			return 1;
		case RAFT_CONF_REMOVE:
			return 2;
	}
	return WIRE_INVALID;
}

static bool
conf_change_type_from_wire(uint8_t byte, raft_conf_change_type *type)
{
	switch (byte)
	{
		case 0:
			*type = RAFT_CONF_ADD_VOTER;
			return true;
		case 1:
			*type = RAFT_CONF_ADD_LEARNER;
			return true;
		case 2:
			*type = RAFT_CONF_REMOVE;
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * raft_message
 * ------------------------------------------------------------------------
 */
static size_t
snapshot_encoded_size(const raft_snapshot *snapshot)
{
	const raft_config *config = &snapshot->meta.config;
	size_t size = 0;

	size += varint_size(snapshot->meta.index);
	size += varint_size(snapshot->meta.term);
	size += varint_size(config->n_voters);
	for (uint32_t i = 0; i < config->n_voters && i < RAFT_MAX_MEMBERS; i++)
		size += varint_size(config->voters[i]);
	size += varint_size(config->n_learners);
	for (uint32_t i = 0; i < config->n_learners && i < RAFT_MAX_MEMBERS; i++)
		size += varint_size(config->learners[i]);
	size += varint_size(snapshot->data_size);
	size += snapshot->data_size;
	return size;
}

/*
 * The exact size of raft_message_encode()'s output for a valid message.
 * For a message the encoder would refuse the number is meaningless.
 */
size_t
raft_message_encoded_size(const raft_message *msg)
{
	size_t size = 2; /* version, type */

	RAFT_ASSERT(msg != NULL);
	size += varint_size(msg->from);
	size += varint_size(msg->to);
	size += varint_size(msg->term);
	size += varint_size(msg->log_term);
	size += varint_size(msg->index);
	size += varint_size(msg->commit);
	size += 1; /* reject */
	size += varint_size(msg->reject_hint);
	size += varint_size(msg->context);
	size += varint_size(msg->from_incarnation);
	size += varint_size(msg->from_boot);
	size += 1; /* recovery */
	size += varint_size(msg->n_entries);
	for (uint32_t i = 0; i < msg->n_entries && msg->entries != NULL; i++)
	{
		const raft_entry *entry = &msg->entries[i];

		size += varint_size(entry->term);
		size += varint_size(entry->index);
		size += 1; /* type */
		size += varint_size(entry->size);
		size += entry->size;
	}
	size += 1; /* has_snapshot */
	if (msg->snapshot != NULL)
		size += snapshot_encoded_size(msg->snapshot);
	RAFT_ASSERT(size >= MESSAGE_BYTES_MIN);
	return size;
}

static bool
numbers_in_range(const raft_message *msg)
{
	if (msg->term >= RAFT_NUMBER_LIMIT || msg->log_term >= RAFT_NUMBER_LIMIT ||
		msg->index >= RAFT_NUMBER_LIMIT || msg->commit >= RAFT_NUMBER_LIMIT ||
		msg->reject_hint >= RAFT_NUMBER_LIMIT)
		return false;
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		if (msg->entries[i].term >= RAFT_NUMBER_LIMIT ||
			msg->entries[i].index >= RAFT_NUMBER_LIMIT)
			return false;
	}
	return msg->snapshot == NULL ||
		(msg->snapshot->meta.index < RAFT_NUMBER_LIMIT &&
		 msg->snapshot->meta.term < RAFT_NUMBER_LIMIT);
}

static int
message_check_encodable(const raft_message *msg)
{
	if (message_type_to_wire(msg->type) == WIRE_INVALID)
		return RAFT_ERR_INVALID;
	if (msg->n_entries > RAFT_WIRE_MAX_ENTRIES)
		return RAFT_ERR_TOO_LARGE;
	if (msg->n_entries > 0 && msg->entries == NULL)
		return RAFT_ERR_INVALID;
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		const raft_entry *entry = &msg->entries[i];

		if (entry_type_to_wire(entry->type) == WIRE_INVALID)
			return RAFT_ERR_INVALID;
		if (entry->size > 0 && entry->data == NULL)
			return RAFT_ERR_INVALID;
	}
	/* A snapshot travels with RAFT_MSG_SNAP and with nothing else. */
	if ((msg->type == RAFT_MSG_SNAP) != (msg->snapshot != NULL))
		return RAFT_ERR_INVALID;
	if (msg->recovering && msg->recovered)
		return RAFT_ERR_INVALID;
	if (!numbers_in_range(msg))
		return RAFT_ERR_TOO_LARGE;
	if (msg->snapshot != NULL)
	{
		if (!config_is_valid(&msg->snapshot->meta.config))
			return RAFT_ERR_INVALID;
		if (msg->snapshot->data_size > 0 && msg->snapshot->data == NULL)
			return RAFT_ERR_INVALID;
	}
	return RAFT_OK;
}

int
raft_message_encode(const raft_message *msg, uint8_t *buf, size_t capacity,
					size_t *written)
{
	codec_writer w = { .buf = buf, .capacity = capacity, .offset = 0 };
	size_t size;
	int err;

	RAFT_ASSERT(msg != NULL);
	RAFT_ASSERT(written != NULL);
	RAFT_ASSERT(buf != NULL || capacity == 0);
	*written = 0;

	err = message_check_encodable(msg);
	if (err != RAFT_OK)
		return err;
	size = raft_message_encoded_size(msg);
	if (size > RAFT_WIRE_MAX_BYTES)
		return RAFT_ERR_TOO_LARGE;
	if (size > capacity)
		return RAFT_ERR_INVALID;

	write_u8(&w, RAFT_WIRE_VERSION);
	write_u8(&w, message_type_to_wire(msg->type));
	write_varint(&w, msg->from);
	write_varint(&w, msg->to);
	write_varint(&w, msg->term);
	write_varint(&w, msg->log_term);
	write_varint(&w, msg->index);
	write_varint(&w, msg->commit);
	write_u8(&w, msg->reject ? 1 : 0);
	write_varint(&w, msg->reject_hint);
	write_varint(&w, msg->context);
	write_varint(&w, msg->from_incarnation);
	write_varint(&w, msg->from_boot);
	write_u8(&w, msg->recovering ? 1 : msg->recovered ? 2 : 0);
	write_varint(&w, msg->n_entries);
	for (uint32_t i = 0; i < msg->n_entries; i++)
	{
		const raft_entry *entry = &msg->entries[i];

		write_varint(&w, entry->term);
		write_varint(&w, entry->index);
		write_u8(&w, entry_type_to_wire(entry->type));
		write_varint(&w, entry->size);
		write_bytes(&w, entry->data, entry->size);
	}
	write_u8(&w, msg->snapshot != NULL ? 1 : 0);
	if (msg->snapshot != NULL)
	{
		const raft_snapshot *snapshot = msg->snapshot;
		const raft_config *config = &snapshot->meta.config;

		write_varint(&w, snapshot->meta.index);
		write_varint(&w, snapshot->meta.term);
		write_varint(&w, config->n_voters);
		for (uint32_t i = 0; i < config->n_voters; i++)
			write_varint(&w, config->voters[i]);
		write_varint(&w, config->n_learners);
		for (uint32_t i = 0; i < config->n_learners; i++)
			write_varint(&w, config->learners[i]);
		write_varint(&w, snapshot->data_size);
		write_bytes(&w, snapshot->data, snapshot->data_size);
	}
	RAFT_ASSERT(w.offset == size);
	*written = size;
	return RAFT_OK;
}

/*
 * Entries are read twice: a first pass checks every header and sums the
 * data, so the one allocation is exact; a second pass fills it in.
 */
static int
decode_entries(codec_reader *r, raft_message *msg)
{
	size_t start = r->offset;
	size_t data_total = 0;
	uint32_t n;
	uint8_t *block;
	uint8_t *data;

	n = read_u32_varint(r);
	if (r->err != RAFT_OK)
		return r->err;
	if (n > RAFT_WIRE_MAX_ENTRIES)
		return RAFT_ERR_TOO_LARGE;
	if ((size_t) n * ENTRY_BYTES_MIN > reader_left(r))
		return RAFT_ERR_MALFORMED;
	if (n == 0)
		return RAFT_OK;

	/* Pass 1: validate, and size the data. */
	for (uint32_t i = 0; i < n; i++)
	{
		uint32_t size;
		raft_entry_type type;

		(void) read_number(r); /* term */
		(void) read_number(r); /* index */
		if (!entry_type_from_wire(read_u8(r), &type))
			reader_fail(r, RAFT_ERR_MALFORMED);
		size = read_u32_varint(r);
		(void) read_bytes(r, size);
		if (r->err != RAFT_OK)
			return r->err;
		data_total += size;
		RAFT_ASSERT(data_total <= r->len);
	}

	/* Pass 2: one block holds the array, then every entry's data. */
	block = raft_malloc(sizeof(raft_entry) * n + data_total);
	if (block == NULL)
		return RAFT_ERR_NOMEM;
	msg->entries = (raft_entry *) block;
	msg->n_entries = n;
	data = block + sizeof(raft_entry) * n;
	r->offset = start;
	(void) read_u32_varint(r);
	for (uint32_t i = 0; i < n; i++)
	{
		raft_entry *entry = &msg->entries[i];
		const uint8_t *bytes;

		entry->term = read_number(r);
		entry->index = read_number(r);
		if (!entry_type_from_wire(read_u8(r), &entry->type))
			reader_fail(r, RAFT_ERR_MALFORMED);
		entry->size = read_u32_varint(r);
		bytes = read_bytes(r, entry->size);
		RAFT_ASSERT(r->err == RAFT_OK); /* pass 1 read the same bytes */
		entry->data = NULL;
		if (entry->size > 0)
		{
			memcpy(data, bytes, entry->size);
			entry->data = data;
			data += entry->size;
		}
	}
	RAFT_ASSERT(data == block + sizeof(raft_entry) * n + data_total);
	return RAFT_OK;
}

static int
decode_id_list(codec_reader *r, raft_id *ids, uint32_t *n)
{
	uint32_t count = read_u32_varint(r);

	if (r->err != RAFT_OK)
		return r->err;
	if (count > RAFT_MAX_MEMBERS)
		return RAFT_ERR_TOO_LARGE;
	for (uint32_t i = 0; i < count; i++)
		ids[i] = read_varint(r);
	*n = count;
	return r->err;
}

static int
decode_snapshot(codec_reader *r, raft_message *msg)
{
	raft_snapshot_meta meta;
	const uint8_t *bytes;
	uint32_t data_size;
	raft_snapshot *snapshot;
	int err;

	memset(&meta, 0, sizeof(meta));
	meta.index = read_number(r);
	meta.term = read_number(r);
	err = decode_id_list(r, meta.config.voters, &meta.config.n_voters);
	if (err != RAFT_OK)
		return err;
	err = decode_id_list(r, meta.config.learners, &meta.config.n_learners);
	if (err != RAFT_OK)
		return err;
	if (meta.config.n_voters + meta.config.n_learners > RAFT_MAX_MEMBERS)
		return RAFT_ERR_TOO_LARGE;
	if (!config_is_valid(&meta.config))
		return RAFT_ERR_MALFORMED;
	data_size = read_u32_varint(r);
	bytes = read_bytes(r, data_size);
	if (r->err != RAFT_OK)
		return r->err;

	snapshot = raft_malloc(sizeof(raft_snapshot) + data_size);
	if (snapshot == NULL)
		return RAFT_ERR_NOMEM;
	snapshot->meta = meta;
	snapshot->data_size = data_size;
	snapshot->data = NULL;
	if (data_size > 0)
	{
		snapshot->data = (uint8_t *) (snapshot + 1);
		memcpy(snapshot->data, bytes, data_size);
	}
	msg->snapshot = snapshot;
	return RAFT_OK;
}

static int
decode_message(codec_reader *r, raft_message *msg)
{
	uint8_t version;
	uint8_t type_byte;
	uint8_t recovery;
	bool has_snapshot;
	int err;

	version = read_u8(r);
	if (r->err != RAFT_OK)
		return r->err;
	if (version != RAFT_WIRE_VERSION)
		return RAFT_ERR_VERSION;
	type_byte = read_u8(r);
	if (r->err != RAFT_OK)
		return r->err;
	if (!message_type_from_wire(type_byte, &msg->type))
		return RAFT_ERR_MALFORMED;
	msg->from = read_varint(r);
	msg->to = read_varint(r);
	msg->term = read_number(r);
	msg->log_term = read_number(r);
	msg->index = read_number(r);
	msg->commit = read_number(r);
	msg->reject = read_bool(r);
	msg->reject_hint = read_number(r);
	msg->context = read_varint(r);
	msg->from_incarnation = read_varint(r);
	msg->from_boot = read_varint(r);
	recovery = read_u8(r);
	if (recovery > 2)
		reader_fail(r, RAFT_ERR_MALFORMED);
	msg->recovering = recovery == 1;
	msg->recovered = recovery == 2;
	if (r->err != RAFT_OK)
		return r->err;

	err = decode_entries(r, msg);
	if (err != RAFT_OK)
		return err;

	has_snapshot = read_bool(r);
	if (r->err != RAFT_OK)
		return r->err;
	if (has_snapshot != (msg->type == RAFT_MSG_SNAP))
		return RAFT_ERR_MALFORMED;
	if (has_snapshot)
	{
		err = decode_snapshot(r, msg);
		if (err != RAFT_OK)
			return err;
	}
	if (reader_left(r) != 0)
		return RAFT_ERR_MALFORMED; /* trailing garbage */
	return RAFT_OK;
}

int
raft_message_decode(const uint8_t *buf, size_t len, raft_message *msg)
{
	codec_reader r = { .buf = buf, .len = len, .offset = 0, .err = RAFT_OK };
	int err;

	RAFT_ASSERT(msg != NULL);
	RAFT_ASSERT(buf != NULL || len == 0);
	memset(msg, 0, sizeof(*msg));
	if (len > RAFT_WIRE_MAX_BYTES)
		return RAFT_ERR_TOO_LARGE;

	err = decode_message(&r, msg);
	if (err != RAFT_OK)
	{
		raft_message_free(msg);
		return err;
	}
	RAFT_ASSERT(r.offset == len);
	RAFT_ASSERT(message_type_to_wire(msg->type) != WIRE_INVALID);
	RAFT_ASSERT(msg->n_entries <= RAFT_WIRE_MAX_ENTRIES);
	RAFT_ASSERT((msg->n_entries == 0) == (msg->entries == NULL));
	RAFT_ASSERT((msg->type == RAFT_MSG_SNAP) == (msg->snapshot != NULL));
	return RAFT_OK;
}

/*
 * Frees what raft_message_decode() allocated and zeroes the message.  Only
 * for decoded messages: the core's own messages are freed by the core.
 */
void
raft_message_free(raft_message *msg)
{
	RAFT_ASSERT(msg != NULL);
	raft_free(msg->entries);
	raft_free(msg->snapshot);
	memset(msg, 0, sizeof(*msg));
}

/* ------------------------------------------------------------------------
 * raft_conf_change
 * ------------------------------------------------------------------------
 */
size_t
raft_conf_change_encoded_size(const raft_conf_change *change)
{
	RAFT_ASSERT(change != NULL);
	return 2 + varint_size(change->node) + varint_size(change->context_size) +
		change->context_size;
}

int
raft_conf_change_encode(const raft_conf_change *change, uint8_t *buf,
						size_t capacity, size_t *written)
{
	codec_writer w = { .buf = buf, .capacity = capacity, .offset = 0 };
	size_t size;

	RAFT_ASSERT(change != NULL);
	RAFT_ASSERT(written != NULL);
	RAFT_ASSERT(buf != NULL || capacity == 0);
	*written = 0;

	if (conf_change_type_to_wire(change->type) == WIRE_INVALID ||
		change->node == RAFT_NONE)
		return RAFT_ERR_INVALID;
	if (change->context_size > 0 && change->context == NULL)
		return RAFT_ERR_INVALID;
	size = raft_conf_change_encoded_size(change);
	if (size > RAFT_WIRE_MAX_BYTES)
		return RAFT_ERR_TOO_LARGE;
	if (size > capacity)
		return RAFT_ERR_INVALID;

	write_u8(&w, CONF_CHANGE_VERSION);
	write_u8(&w, conf_change_type_to_wire(change->type));
	write_varint(&w, change->node);
	write_varint(&w, change->context_size);
	write_bytes(&w, change->context, change->context_size);
	RAFT_ASSERT(w.offset == size);
	*written = size;
	return RAFT_OK;
}

int
raft_conf_change_decode(const uint8_t *buf, size_t len, raft_conf_change *change)
{
	codec_reader r = { .buf = buf, .len = len, .offset = 0, .err = RAFT_OK };
	raft_conf_change out;
	uint8_t version;
	uint8_t type_byte;

	RAFT_ASSERT(change != NULL);
	RAFT_ASSERT(buf != NULL || len == 0);
	memset(change, 0, sizeof(*change));
	if (len > RAFT_WIRE_MAX_BYTES)
		return RAFT_ERR_TOO_LARGE;

	memset(&out, 0, sizeof(out));
	version = read_u8(&r);
	if (r.err != RAFT_OK)
		return r.err;
	if (version != CONF_CHANGE_VERSION)
		return RAFT_ERR_VERSION;
	type_byte = read_u8(&r);
	if (r.err == RAFT_OK && !conf_change_type_from_wire(type_byte, &out.type))
		return RAFT_ERR_MALFORMED;
	out.node = read_varint(&r);
	if (r.err == RAFT_OK && out.node == RAFT_NONE)
		return RAFT_ERR_MALFORMED;
	out.context_size = read_u32_varint(&r);
	out.context = read_bytes(&r, out.context_size);
	if (r.err != RAFT_OK)
		return r.err;
	if (out.context_size == 0)
		out.context = NULL;
	if (reader_left(&r) != 0)
		return RAFT_ERR_MALFORMED; /* trailing garbage */

	*change = out;
	RAFT_ASSERT(conf_change_type_to_wire(change->type) != WIRE_INVALID);
	RAFT_ASSERT(change->node != RAFT_NONE);
	return RAFT_OK;
}
