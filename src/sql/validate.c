/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks of what users hand to the SQL functions: arguments and
 *	  consenter documents.
 *
 * These are pure checks: they read their arguments and raise an ERROR
 * with an SQLSTATE, so a bad call changes nothing.  Names, connection
 * strings and channel settings have their rules in src/common.
 *
 * src/sql/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "common/conninfo.h"
#include "common/names.h"
#include "raft/raft.h"
#include "sql/validate.h"

char *
OrderingTextArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	OrderingRequireArg(fcinfo, argno, name);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

void
OrderingRequireArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

static int
consenter_compare(const void *a, const void *b)
{
	return strcmp(((const OrderingConsenter *) a)->node,
				  ((const OrderingConsenter *) b)->node);
}

OrderingConsenter *
OrderingParseConsenters(Jsonb *consenters, int *n_consenters)
{
	OrderingConsenter *result;
	JsonbIterator *iterator;
	JsonbIteratorToken token;
	JsonbValue value;
	int count;
	int n = 0;

	if (!JB_ROOT_IS_OBJECT(consenters) || JB_ROOT_IS_SCALAR(consenters))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("consenters must be a JSON object mapping node names to connection strings"),
				 errhint(
					 "For example: {\"n1\": \"host=10.0.0.1 port=5432 dbname=postgres user=orderer_n1\"}.")));

	count = JB_ROOT_COUNT(consenters);
	if (count < 1 || count > RAFT_MAX_MEMBERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a channel has 1 to %d consenters, not %d",
						RAFT_MAX_MEMBERS, count)));

	result = palloc0(sizeof(OrderingConsenter) * count);
	iterator = JsonbIteratorInit(&consenters->root);
	while ((token = JsonbIteratorNext(&iterator, &value, true)) != WJB_DONE)
	{
		char *node;

		if (token != WJB_KEY)
			continue;
		node = pnstrdup(value.val.string.val, value.val.string.len);
		OrderingCheckNodeName(node);
		token = JsonbIteratorNext(&iterator, &value, true);
		Assert(token == WJB_VALUE);
		if (value.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("connection string of node \"%s\" must be a JSON string",
							node)));
		Assert(n < count);
		result[n].node = node;
		result[n].conninfo =
			pnstrdup(value.val.string.val, value.val.string.len);
		OrderingCheckConninfo(node, result[n].conninfo);
		n++;
	}
	Assert(n == count);

	qsort(result, n, sizeof(OrderingConsenter), consenter_compare);
	for (int i = 0; i < n; i++)
		result[i].raft_id = (uint64) (i + 1);
	*n_consenters = n;
	return result;
}
