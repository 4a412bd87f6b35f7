/*-------------------------------------------------------------------------
 *
 * envelope.c
 *	  Encoder and bounds-checked decoder of the envelopes ordering workers
 *	  exchange through ordering.deliver().
 *
 * The format is described in envelope.h.  The decoder trusts nothing: it
 * reads no byte before checking that it is inside the input, rejects
 * names with embedded NUL bytes, unknown record kinds, records beyond the
 * announced count and trailing garbage.  Errors are static strings, so
 * callers choose how to report them (deliver() raises an ERROR, the worker
 * logs and drops).
 *
 * src/common/envelope.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/pg_bswap.h"

#include "common/envelope.h"

/* Fixed bytes of a record besides its channel name and data. */
/* channel_len, kind, block0, len */
#define ENVELOPE_RECORD_OVERHEAD (1 + 1 + ORDERING_ENVELOPE_BLOCK0_LEN + 4)

static void
envelope_put_uint32(StringInfo buf, uint32 value)
{
	uint32 net = pg_hton32(value);

	appendBinaryStringInfo(buf, (const char *) &net, sizeof(net));
}

static uint32
envelope_get_uint32(const char *p)
{
	uint32 net;

	memcpy(&net, p, sizeof(net));
	return pg_ntoh32(net);
}

/* Appends a name as uint8 length + bytes. */
static void
envelope_put_name(StringInfo buf, const char *name)
{
	size_t name_len = strlen(name);

	Assert(name_len > 0 && name_len < NAMEDATALEN);
	appendStringInfoCharMacro(buf, (char) (uint8) name_len);
	appendBinaryStringInfo(buf, name, (int) name_len);
}

/*
 * Reads a name at *pos into out (NUL-terminated).  The name must be
 * 1 .. NAMEDATALEN - 1 bytes, all inside the input and none of them NUL.
 */
static bool
envelope_get_name(const char *data, Size len, Size *pos, char *out,
				  const char **error)
{
	Size name_len;

	if (len - *pos < 1)
	{
		*error = "truncated name length";
		return false;
	}
	name_len = (uint8) data[*pos];
	*pos += 1;
	if (name_len == 0 || name_len >= NAMEDATALEN)
	{
		*error = "name length out of range";
		return false;
	}
	if (len - *pos < name_len)
	{
		*error = "truncated name";
		return false;
	}
	if (memchr(data + *pos, '\0', name_len) != NULL)
	{
		*error = "name contains a NUL byte";
		return false;
	}
	memcpy(out, data + *pos, name_len);
	out[name_len] = '\0';
	*pos += name_len;
	return true;
}

/* Bytes one record takes in an envelope. */
Size
EnvelopeRecordSize(const char *channel, Size len)
{
	return ENVELOPE_RECORD_OVERHEAD + strlen(channel) + len;
}

/* Starts an envelope in buf (reset first); the count is set by Finish. */
void
EnvelopeBegin(StringInfo buf, const char *from_node)
{
	resetStringInfo(buf);
	appendStringInfoCharMacro(buf, (char) ORDERING_ENVELOPE_VERSION);
	envelope_put_name(buf, from_node);
	envelope_put_uint32(buf, 0); /* count, patched by EnvelopeFinish */
}

void
EnvelopeAddRecord(StringInfo buf, const char *channel, OrderingRecordKind kind,
				  const uint8 *block0, const void *data, Size len)
{
	static const uint8 zeros[ORDERING_ENVELOPE_BLOCK0_LEN] = { 0 };

	Assert(kind >= 1 && kind <= ORDERING_RECORD_KIND_MAX);
	Assert(len <= PG_UINT32_MAX);
	Assert(buf->len > 0 && buf->data[0] == ORDERING_ENVELOPE_VERSION);

	envelope_put_name(buf, channel);
	appendStringInfoCharMacro(buf, (char) (uint8) kind);
	appendBinaryStringInfo(buf, (const char *) (block0 != NULL ? block0 : zeros),
						   ORDERING_ENVELOPE_BLOCK0_LEN);
	envelope_put_uint32(buf, (uint32) len);
	if (len > 0)
		appendBinaryStringInfo(buf, data, (int) len);
}

/* Writes the record count into the header. */
void
EnvelopeFinish(StringInfo buf, uint32 count)
{
	Size count_pos;
	uint32 net = pg_hton32(count);

	Assert(buf->len >= 2 && buf->data[0] == ORDERING_ENVELOPE_VERSION);
	count_pos = 2 + (uint8) buf->data[1];
	Assert(count_pos + sizeof(net) <= (Size) buf->len);
	Assert(count >= 1 && count <= ORDERING_ENVELOPE_MAX_RECORDS);
	memcpy(buf->data + count_pos, &net, sizeof(net));
}

/*
 * Reads the header; on success reader is positioned at the first record.
 */
bool
EnvelopeReadHeader(OrderingEnvelopeReader *reader, const char *data, Size len,
				   const char **error)
{
	Size pos = 0;

	memset(reader, 0, sizeof(*reader));
	*error = NULL;

	if (data == NULL || len == 0)
	{
		*error = "empty envelope";
		return false;
	}
	if (len > ORDERING_ENVELOPE_MAX_BYTES)
	{
		*error = "envelope too large";
		return false;
	}
	if ((uint8) data[0] != ORDERING_ENVELOPE_VERSION)
	{
		*error = "unsupported envelope version";
		return false;
	}
	pos = 1;
	if (!envelope_get_name(data, len, &pos, reader->from_node, error))
		return false;
	if (len - pos < 4)
	{
		*error = "truncated record count";
		return false;
	}
	reader->count = envelope_get_uint32(data + pos);
	pos += 4;
	if (reader->count == 0 || reader->count > ORDERING_ENVELOPE_MAX_RECORDS)
	{
		*error = "record count out of range";
		return false;
	}
	/* Each record takes at least its overhead and a 1-byte channel name. */
	if ((len - pos) / (ENVELOPE_RECORD_OVERHEAD + 1) < reader->count)
	{
		*error = "record count exceeds envelope size";
		return false;
	}

	reader->data = data;
	reader->len = len;
	reader->pos = pos;
	reader->next = 0;
	return true;
}

/*
 * Reads the next record.  After the last one, checks that nothing follows
 * and returns false with *error NULL.
 */
bool
EnvelopeNext(OrderingEnvelopeReader *reader, OrderingEnvelopeRecord *record,
			 const char **error)
{
	const char *data = reader->data;
	Size len = reader->len;
	Size pos = reader->pos;
	uint32 record_len;
	uint8 kind;

	*error = NULL;
	Assert(data != NULL && pos <= len);

	if (reader->next >= reader->count)
	{
		if (pos != len)
			*error = "trailing bytes after the last record";
		return false;
	}

	if (!envelope_get_name(data, len, &pos, record->channel, error))
		return false;
	if (len - pos < 1 + ORDERING_ENVELOPE_BLOCK0_LEN + 4)
	{
		*error = "truncated record header";
		return false;
	}
	kind = (uint8) data[pos];
	pos += 1;
	if (kind < 1 || kind > ORDERING_RECORD_KIND_MAX)
	{
		*error = "unknown record kind";
		return false;
	}
	record->block0 = (const uint8 *) (data + pos);
	pos += ORDERING_ENVELOPE_BLOCK0_LEN;
	record_len = envelope_get_uint32(data + pos);
	pos += 4;
	if (len - pos < record_len)
	{
		*error = "truncated record data";
		return false;
	}

	record->kind = kind;
	record->data = data + pos;
	record->len = record_len;
	pos += record_len;

	Assert(pos <= len);
	reader->pos = pos;
	reader->next++;
	return true;
}

/*
 * Checks a whole envelope.  from_node (NAMEDATALEN bytes) and count, when
 * not NULL, receive the header's sender and record count.
 */
bool
EnvelopeValidate(const char *data, Size len, char *from_node, uint32 *count,
				 const char **error)
{
	OrderingEnvelopeReader reader;
	OrderingEnvelopeRecord record;

	if (!EnvelopeReadHeader(&reader, data, len, error))
		return false;
	while (EnvelopeNext(&reader, &record, error))
		;
	if (*error != NULL)
		return false;
	Assert(reader.next == reader.count && reader.pos == reader.len);

	if (from_node != NULL)
		strlcpy(from_node, reader.from_node, NAMEDATALEN);
	if (count != NULL)
		*count = reader.count;
	return true;
}
