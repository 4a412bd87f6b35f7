/*-------------------------------------------------------------------------
 *
 * node_roles.c
 *	  The node -> role table the worker publishes for ordering.deliver(),
 *	  and the transport's counters of refused input.
 *
 * A segment of its own ("ordering node roles"), guarded by one lock of its
 * own tranche: deliver() looks a node up under a shared lock in every
 * call, the worker replaces the table when the members of its channels
 * change.  The table is small (bounded by ORDERING_MAX_NODE_ROLES) and
 * scanned linearly.
 *
 * src/common/node_roles.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "common/node_roles.h"

#define NODE_ROLES_SHMEM_NAME "ordering node roles"
#define NODE_ROLES_TRANCHE_NAME "ordering node roles"

typedef struct NodeRolesShared
{
	pg_atomic_uint64 counters[ORDERING_COUNT_MAX];
	int n_pairs; /* guarded by the tranche's lock */
	OrderingNodeRole pairs[ORDERING_MAX_NODE_ROLES];
} NodeRolesShared;

static NodeRolesShared *node_roles = NULL;
static LWLock *node_roles_lock = NULL;

void
OrderingNodeRolesShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(NodeRolesShared)));
	RequestNamedLWLockTranche(NODE_ROLES_TRANCHE_NAME, 1);
}

void
OrderingNodeRolesShmemInit(void)
{
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	node_roles =
		ShmemInitStruct(NODE_ROLES_SHMEM_NAME, sizeof(NodeRolesShared), &found);
	if (!found)
	{
		memset(node_roles, 0, sizeof(NodeRolesShared));
		for (int i = 0; i < ORDERING_COUNT_MAX; i++)
			pg_atomic_init_u64(&node_roles->counters[i], 0);
	}
	node_roles_lock = &GetNamedLWLockTranche(NODE_ROLES_TRANCHE_NAME)[0].lock;
	LWLockRelease(AddinShmemInitLock);
}

void
OrderingNodeRolesPublish(int n, const OrderingNodeRole *pairs)
{
	if (node_roles == NULL)
		return;
	n = Min(n, ORDERING_MAX_NODE_ROLES);
	LWLockAcquire(node_roles_lock, LW_EXCLUSIVE);
	memcpy(node_roles->pairs, pairs, sizeof(OrderingNodeRole) * n);
	node_roles->n_pairs = n;
	LWLockRelease(node_roles_lock);
}

OrderingNodeRoleMatch
OrderingNodeRoleLookup(const char *node, const char *role)
{
	OrderingNodeRoleMatch match = ORDERING_NODE_UNKNOWN;

	if (node_roles == NULL)
		return ORDERING_NODE_UNKNOWN;
	LWLockAcquire(node_roles_lock, LW_SHARED);
	for (int i = 0; i < node_roles->n_pairs; i++)
	{
		const OrderingNodeRole *pair = &node_roles->pairs[i];

		if (strcmp(pair->node, node) != 0)
			continue;
		if (strcmp(pair->role, role) == 0)
		{
			match = ORDERING_NODE_ROLE_MATCH;
			break;
		}
		match = ORDERING_NODE_ROLE_OTHER;
	}
	LWLockRelease(node_roles_lock);
	return match;
}

void
OrderingTransportCount(OrderingTransportCounter counter)
{
	Assert(counter >= 0 && counter < ORDERING_COUNT_MAX);
	if (node_roles != NULL)
		pg_atomic_fetch_add_u64(&node_roles->counters[counter], 1);
}

uint64
OrderingTransportCounterValue(OrderingTransportCounter counter)
{
	Assert(counter >= 0 && counter < ORDERING_COUNT_MAX);
	return node_roles != NULL
		? pg_atomic_read_u64(&node_roles->counters[counter])
		: 0;
}
