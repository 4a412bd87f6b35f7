/*-------------------------------------------------------------------------
 *
 * conninfo.c
 *	  Checks of a consenter's connection string.
 *
 * src/common/conninfo.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/string.h"
#include "libpq-fe.h"

#include "common/conninfo.h"
#include "common/limits.h"

/* A connection string must parse the way libpq will read it. */
void
OrderingCheckConninfo(const char *node, const char *conninfo)
{
	PQconninfoOption *options;
	char *libpq_message = NULL;

	if (strlen(conninfo) >= ORDERING_CONNINFO_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection string of node \"%s\" is too long", node),
				 errdetail("A connection string has at most %d bytes.",
						   ORDERING_CONNINFO_MAX - 1)));

	options = PQconninfoParse(conninfo, &libpq_message);
	if (options == NULL)
	{
		char *detail =
			pstrdup(libpq_message != NULL ? libpq_message : "out of memory");

		if (libpq_message != NULL)
			PQfreemem(libpq_message);
		(void) pg_strip_crlf(detail);
		pg_clean_ascii(detail);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection string for node \"%s\"", node),
				 errdetail_internal("%s", detail)));
	}
	PQconninfoFree(options);
}
