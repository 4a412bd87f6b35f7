/*-------------------------------------------------------------------------
 *
 * envelope.h
 *	  Wire format of the messages one ordering worker delivers to another.
 *
 * One call of ordering.deliver(from_node, messages) carries one envelope:
 * every record queued for that peer since the previous call.  All integers
 * are in network byte order.
 *
 *	uint8	version			ORDERING_ENVELOPE_VERSION
 *	uint8	from_len		1 .. NAMEDATALEN - 1
 *	char	from[from_len]	sending node's name (no NUL bytes)
 *	uint32	count			1 .. ORDERING_ENVELOPE_MAX_RECORDS records
 *	count times:
 *		uint8	channel_len		1 .. NAMEDATALEN - 1
 *		char	channel[channel_len]
 *		uint8	kind			OrderingRecordKind
 *		uint8	block0[32]		the hash of the channel's block 0 as the
 *								sender holds it; zeros: not stated (a node
 *								that lacks the channel asks to join)
 *		uint32	len				<= ORDERING_ENVELOPE_MAX_BYTES
 *		char	data[len]		opaque to the transport
 *
 * Nothing may follow the last record.  The decoder checks every length
 * against what is left of the input before reading, so a malformed
 * envelope is reported and never read beyond its end.
 *
 * This module has no dependencies beyond c.h-level helpers; it never
 * ereports, so it can be used by the worker and by ordering.deliver().
 *
 * src/common/envelope.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_ENVELOPE_H
#define ORDERING_ENVELOPE_H

#include "lib/stringinfo.h"
#include "utils/memutils.h"

/* 2: each record names the channel's block 0 (a channel is its genesis). */
#define ORDERING_ENVELOPE_VERSION 2

/* Bytes of a record's block0 (ORDERING_HASH_LEN, common/blocks.h). */
#define ORDERING_ENVELOPE_BLOCK0_LEN 32

/* What a record carries; the envelope names the channel of each record. */
typedef enum OrderingRecordKind
{
	ORDERING_RECORD_RAFT = 1,		  /* a raft_message, raft codec */
	ORDERING_RECORD_FORWARD_TX = 2,	  /* transactions routed to the leader */
	ORDERING_RECORD_JOIN_REQUEST = 3, /* "send me this channel's genesis" */
	ORDERING_RECORD_GENESIS = 4,	  /* a channel's genesis configuration */
	ORDERING_RECORD_QUIESCE = 5		  /* the leader: "all caught up, sleep" */
} OrderingRecordKind;

#define ORDERING_RECORD_KIND_MAX ORDERING_RECORD_QUIESCE

/* Bytes before the first record, at most (version, from_len, from, count). */
#define ORDERING_ENVELOPE_HEADER_MAX (1 + 1 + (NAMEDATALEN - 1) + 4)

/*
 * The sender closes an envelope once it has this many bytes (but always
 * sends at least one record, however large).
 */
#define ORDERING_ENVELOPE_TARGET_BYTES (8 * 1024 * 1024)

/* Hard limits the decoder enforces: a bytea value is below 1 GB anyway. */
#define ORDERING_ENVELOPE_MAX_BYTES ((Size) MaxAllocSize)
#define ORDERING_ENVELOPE_MAX_RECORDS 1000000

/* One decoded record; pointers are into the envelope being read. */
typedef struct OrderingEnvelopeRecord
{
	char channel[NAMEDATALEN]; /* NUL-terminated copy */
	OrderingRecordKind kind;
	const uint8 *block0; /* ORDERING_ENVELOPE_BLOCK0_LEN bytes */
	const char *data;
	Size len;
} OrderingEnvelopeRecord;

/* Reading state: header fields, then position of the next record. */
typedef struct OrderingEnvelopeReader
{
	const char *data;
	Size len;
	Size pos;					 /* offset of the next record */
	uint32 count;				 /* records announced by the header */
	uint32 next;				 /* records read so far */
	char from_node[NAMEDATALEN]; /* NUL-terminated copy */
} OrderingEnvelopeReader;

/* Encoding. */
extern Size EnvelopeRecordSize(const char *channel, Size len);
extern void EnvelopeBegin(StringInfo buf, const char *from_node);
/* block0: ORDERING_ENVELOPE_BLOCK0_LEN bytes, or NULL for zeros. */
extern void
EnvelopeAddRecord(StringInfo buf, const char *channel, OrderingRecordKind kind,
				  const uint8 *block0, const void *data, Size len);
extern void EnvelopeFinish(StringInfo buf, uint32 count);

/*
 * Decoding.  Each returns false on a malformed envelope and sets *error to
 * a static description; EnvelopeNext also returns false (with *error NULL)
 * after the last record.
 */
extern bool EnvelopeReadHeader(OrderingEnvelopeReader *reader,
							   const char *data, Size len, const char **error);
extern bool EnvelopeNext(OrderingEnvelopeReader *reader,
						 OrderingEnvelopeRecord *record, const char **error);

/* Walks a whole envelope without copying; what deliver() checks. */
extern bool EnvelopeValidate(const char *data, Size len, char *from_node,
							 uint32 *count, const char **error);

#endif /* ORDERING_ENVELOPE_H */
