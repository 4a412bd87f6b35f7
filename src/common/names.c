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
 * A transaction id: 1 .. ORDERING_TX_ID_MAX - 1 bytes of text valid in
 * the database's encoding (UTF-8 by default), without NUL bytes.  What a
 * peer forwards or a catch-up source sends must pass the same rule as a
 * local submit.
 */
bool
OrderingTxIdIsValid(const char *tx_id, Size len)
{
	return len >= 1 && len < ORDERING_TX_ID_MAX &&
		memchr(tx_id, '\0', len) == NULL &&
		pg_verifymbstr(tx_id, (int) len, true);
}

void
OrderingCheckTxId(const char *tx_id)
{
	size_t len = strlen(tx_id);

	if (!OrderingTxIdIsValid(tx_id, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid transaction id"),
				 errdetail("A transaction id has 1 to %d bytes; this one has %zu.",
						   ORDERING_TX_ID_MAX - 1, len)));
}
