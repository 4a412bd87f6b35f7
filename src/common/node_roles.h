/*-------------------------------------------------------------------------
 *
 * node_roles.h
 *	  Which role each known node logs in as: what the worker publishes in
 *	  shared memory so that ordering.deliver() can refuse a caller that
 *	  claims to be another node, and the transport's drop counters.
 *
 * The worker publishes one (node, role) pair for every node that is a
 * member (voter, learner, or address-book entry of a joining channel) of
 * any channel on this server; the role is the user of that node's
 * conninfo.  A node may have several roles when channels disagree (written
 * by an older version); each channel's own check is the worker's.
 *
 * src/common/node_roles.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_NODE_ROLES_H
#define ORDERING_NODE_ROLES_H

#include "common/limits.h"

/* Pairs published at most; beyond it nodes are "unknown" to deliver(). */
#define ORDERING_MAX_NODE_ROLES 4096

typedef struct OrderingNodeRole
{
	char node[ORDERING_NAME_MAX];
	char role[ORDERING_NAME_MAX];
} OrderingNodeRole;

typedef enum OrderingNodeRoleMatch
{
	ORDERING_NODE_UNKNOWN,	  /* no channel here has the node */
	ORDERING_NODE_ROLE_MATCH, /* role is one of the node's roles */
	ORDERING_NODE_ROLE_OTHER  /* the node logs in as another role */
} OrderingNodeRoleMatch;

/* Counters of refused input, shown by ordering.transport_stats(). */
typedef enum OrderingTransportCounter
{
	ORDERING_COUNT_UNKNOWN_CHANNEL_RECORDS, /* worker: records dropped */
	ORDERING_COUNT_REFUSED_DELIVERIES,		/* deliver(): 42501 identity */
	ORDERING_COUNT_MAX
} OrderingTransportCounter;

/* _PG_init's shmem hooks. */
extern void OrderingNodeRolesShmemRequest(void);
extern void OrderingNodeRolesShmemInit(void);

/* Worker: replaces the published pairs (duplicates allowed, bounded). */
extern void OrderingNodeRolesPublish(int n, const OrderingNodeRole *pairs);

/* Backends: node's relation to role in what the worker published. */
extern OrderingNodeRoleMatch
OrderingNodeRoleLookup(const char *node, const char *role);

extern void OrderingTransportCount(OrderingTransportCounter counter);
extern uint64 OrderingTransportCounterValue(OrderingTransportCounter counter);

#endif /* ORDERING_NODE_ROLES_H */
