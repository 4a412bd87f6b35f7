/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Checks of what users hand to the SQL functions: arguments and
 *	  consenter documents.
 *
 * src/sql/validate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SQL_VALIDATE_H
#define ORDERING_SQL_VALIDATE_H

#include "fmgr.h"
#include "utils/jsonb.h"

/* A consenter as create_channel's document names it. */
typedef struct OrderingConsenter
{
	char *node;
	char *conninfo;
	uint64 raft_id; /* 1..n in ascending order of node name */
} OrderingConsenter;

/* Function arguments: error 22004 when NULL. */
extern char *
OrderingTextArg(FunctionCallInfo fcinfo, int argno, const char *name);
extern void
OrderingRequireArg(FunctionCallInfo fcinfo, int argno, const char *name);

/*
 * Parses a consenters document {"node": "conninfo", ...}: 1..RAFT_MAX_MEMBERS
 * valid nodes with valid conninfos, sorted by node name with raft ids 1..n.
 */
extern OrderingConsenter *
OrderingParseConsenters(Jsonb *consenters, int *n_consenters);

#endif /* ORDERING_SQL_VALIDATE_H */
