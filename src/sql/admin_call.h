/*-------------------------------------------------------------------------
 *
 * admin_call.h
 *	  The backend side of admin requests.
 *
 * src/sql/admin_call.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SQL_ADMIN_CALL_H
#define ORDERING_SQL_ADMIN_CALL_H

#include "common/shmem.h"

/*
 * Hands an admin request to the worker (or, on a follower and when
 * may_route, to the channel's leader) and waits (ordering.submit_timeout)
 * for its answer.  Returns the configuration block written (or -1); a
 * refusal is raised as an ERROR with its SQLSTATE.
 */
extern int64
OrderingAdminCall(OrderingAdminKind kind, const char *channel,
				  const char *node, const char *arg, bool may_route);

#endif /* ORDERING_SQL_ADMIN_CALL_H */
