/*-------------------------------------------------------------------------
 *
 * leader_call.h
 *	  Admin requests made on a follower are carried out by calling the
 *	  same SQL function on the channel's leader, over libpq, from the
 *	  backend.
 *
 * src/sql/leader_call.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_LEADER_CALL_H
#define ORDERING_LEADER_CALL_H

#include "common/shmem.h"

/*
 * If this node is not the channel's leader and knows who is, runs the
 * request on the leader and returns true with *block set (-1 for
 * transfer_leadership); a remote error is raised with the remote
 * SQLSTATE.  Returns false when the request should go to the local worker
 * (this node leads, no leader is known, or the call itself was routed).
 */
extern bool
OrderingAdminRouteToLeader(OrderingAdminKind kind, const char *channel,
						   const char *node, const char *arg, int64 *block);

/* The name of a request kind in ordering.relay_admin(), and back. */
extern const char *OrderingAdminKindName(OrderingAdminKind kind);
extern bool OrderingAdminKindFromName(const char *name, OrderingAdminKind *kind);

#endif /* ORDERING_LEADER_CALL_H */
