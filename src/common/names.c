/*-------------------------------------------------------------------------
 *
 * names.c
 *	  The rules for channel names, node names and transaction ids.
 *
 * One rule each, used by the SQL functions (which raise an ERROR with
 * SQLSTATE 22023 before anything changes) and, for node names, by the
 * check hook of ordering.node_name too.
 *
 * src/common/names.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "common/limits.h"
#include "common/names.h"

/* Fabric's channel name rule: ^[a-z][a-z0-9.-]{0,62}$ */
bool
OrderingChannelNameIsValid(const char *channel)
{
	size_t len = strlen(channel);
	bool valid = len >= 1 && len < ORDERING_NAME_MAX && channel[0] >= 'a' &&
		channel[0] <= 'z';

	for (size_t i = 1; valid && i < len; i++)
	{
		char c = channel[i];

		valid = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			c == '-';
	}
	return valid;
}

void
OrderingCheckChannelName(const char *channel)
{
	if (!OrderingChannelNameIsValid(channel))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid channel name \"%s\"", channel),
				 errdetail(
					 "A channel name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits, '.' or '-'.")));
}

/* Node names: ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ (ordering.consenters). */
bool
OrderingNodeNameIsValid(const char *node)
{
	size_t len = strlen(node);
	bool valid = len >= 1 && len < ORDERING_NAME_MAX;

	for (size_t i = 0; valid && i < len; i++)
	{
		char c = node[i];

		valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') ||
			(i > 0 && (c == '.' || c == '_' || c == '-'));
	}
	return valid;
}

void
OrderingCheckNodeName(const char *node)
{
	if (!OrderingNodeNameIsValid(node))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid node name \"%s\"", node),
				 errdetail("%s", ORDERING_NODE_NAME_RULE)));
}

/*
 * Ids travel between nodes in UTF-8 (common/entry.c): in a database of
 * another encoding an id must have a UTF-8 form, and that form must fit
 * too.  SQL_ASCII has no conversion: its bytes must be UTF-8 already.
 */
static bool
tx_id_fits_in_utf8(const char *tx_id, Size len)
{
	int encoding = GetDatabaseEncoding();
	char *utf8;
	bool fits;

	if (encoding == PG_UTF8)
		return true;
	if (encoding == PG_SQL_ASCII)
		return pg_verify_mbstr(PG_UTF8, tx_id, (int) len, true);
	utf8 = pg_server_to_any(tx_id, (int) len, PG_UTF8);
	fits = strlen(utf8) < ORDERING_TX_ID_MAX;
	if (utf8 != tx_id)
		pfree(utf8);
	return fits;
}

/*
 * A transaction id: 1 .. ORDERING_TX_ID_MAX - 1 bytes of text valid in
 * the database's encoding (UTF-8 by default), without NUL bytes, and as
 * many at most in UTF-8.  What a peer forwards or a catch-up source sends
 * must pass the same rule as a local submit.
 */
bool
OrderingTxIdIsValid(const char *tx_id, Size len)
{
	return len >= 1 && len < ORDERING_TX_ID_MAX &&
		memchr(tx_id, '\0', len) == NULL &&
		pg_verifymbstr(tx_id, (int) len, true) &&
		tx_id_fits_in_utf8(tx_id, len);
}

void
OrderingCheckTxId(const char *tx_id)
{
	size_t len = strlen(tx_id);

	if (len >= 1 && len < ORDERING_TX_ID_MAX &&
		GetDatabaseEncoding() == PG_SQL_ASCII &&
		!pg_verify_mbstr(PG_UTF8, tx_id, (int) len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid transaction id"),
				 errdetail(
					 "In a SQL_ASCII database a transaction id must be valid UTF-8, the form ids take between nodes.")));
	if (len < 1 || len >= ORDERING_TX_ID_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid transaction id"),
				 errdetail("A transaction id has 1 to %d bytes; this one has %zu.",
						   ORDERING_TX_ID_MAX - 1, len)));
	if (!OrderingTxIdIsValid(tx_id, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid transaction id"),
				 errdetail("Its UTF-8 form, the form ids take between nodes, has more than %d bytes.",
						   ORDERING_TX_ID_MAX - 1)));
}
