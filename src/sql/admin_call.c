/*-------------------------------------------------------------------------
 *
 * admin_call.c
 *	  The backend side of admin requests: hand one to the worker and wait
 *	  for its answer, or have the channel's leader run it.
 *
 * Admin requests (membership, settings, leadership) go through the slots
 * of OrderingShared.admin (see shmem.h):
 *
 *	FREE --backend--> PENDING --worker--> WORKING --worker--> DONE
 *	DONE --backend--> FREE
 *
 * A backend that gives up (timeout, cancel) frees its slot if the worker
 * has not taken it yet; if the worker is working on it, the backend sets
 * its ticket to 0, which marks it abandoned: the worker then drops the
 * answer and any backend may reuse the slot.
 *
 * src/sql/admin_call.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/elog.h"

#include "common/gucs.h"
#include "sql/admin_call.h"
#include "sql/backend.h"
#include "sql/leader_call.h"

#define ORDERING_WAIT_SLICE_MS 1000

static bool
admin_slot_reusable(const OrderingAdminRequest *slot)
{
	return slot->state == ORDERING_ADMIN_FREE || slot->ticket == 0;
}

/* Fills a free slot with the request, PENDING; returns its index. */
static int
admin_slot_claim(OrderingAdminKind kind, const char *channel, const char *node,
				 const char *arg, uint64 *ticket)
{
	int found = -1;

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ORDERING_MAX_ADMIN_REQUESTS && found < 0; i++)
	{
		if (admin_slot_reusable(&ordering_shared->admin[i]))
			found = i;
	}
	if (found >= 0)
	{
		OrderingAdminRequest *slot = &ordering_shared->admin[found];

		memset(slot, 0, sizeof(*slot));
		slot->kind = kind;
		slot->ticket = ordering_shared->next_ticket++;
		strlcpy(slot->channel, channel, sizeof(slot->channel));
		strlcpy(slot->node, node, sizeof(slot->node));
		strlcpy(slot->arg, arg, sizeof(slot->arg));
		slot->result_block = -1;
		slot->state = ORDERING_ADMIN_PENDING;
		*ticket = slot->ticket;
	}
	LWLockRelease(&ordering_shared->lock);

	if (found < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("too many administrative requests in progress"),
				 errdetail("At most %d may wait for the ordering worker at once.",
						   ORDERING_MAX_ADMIN_REQUESTS),
				 errhint("Retry when one of them has finished.")));
	return found;
}

/* Gives the slot up: free it if not taken yet, else mark it abandoned. */
static void
admin_slot_abandon(int index, uint64 ticket)
{
	OrderingAdminRequest *slot = &ordering_shared->admin[index];

	if (LWLockHeldByMe(&ordering_shared->lock))
		LWLockRelease(&ordering_shared->lock);
	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	if (slot->ticket == ticket)
	{
		if (slot->state == ORDERING_ADMIN_WORKING)
			slot->ticket = 0;
		else
			slot->state = ORDERING_ADMIN_FREE;
	}
	LWLockRelease(&ordering_shared->lock);
}

/* If the slot is DONE, copies its result, frees it and returns true. */
static bool
admin_slot_take_result(int index, uint64 ticket, int *sqlstate, char *message,
					   int64 *block)
{
	OrderingAdminRequest *slot = &ordering_shared->admin[index];
	bool done;

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	if (slot->ticket != ticket)
	{
		/* Only a restarted worker clears a slot it does not own. */
		LWLockRelease(&ordering_shared->lock);
		*sqlstate = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		strlcpy(message,
				"the ordering worker restarted before answering the request",
				ORDERING_ERROR_MESSAGE_MAX);
		return true;
	}
	done = slot->state == ORDERING_ADMIN_DONE;
	if (done)
	{
		*sqlstate = slot->result_sqlstate;
		strlcpy(message, slot->result_message, ORDERING_ERROR_MESSAGE_MAX);
		*block = slot->result_block;
		slot->state = ORDERING_ADMIN_FREE;
		slot->ticket = 0;
	}
	LWLockRelease(&ordering_shared->lock);
	return done;
}

static pg_noinline int64
admin_wait(int index, uint64 ticket, const char *channel, int *sqlstate,
		   char *message)
{
	TimestampTz deadline = OrderingSubmitDeadline();
	int64 block = -1;

	ConditionVariablePrepareToSleep(&ordering_shared->admin_cv);
	while (!admin_slot_take_result(index, ticket, sqlstate, message, &block))
	{
		long sleep_ms = OrderingRemainingMs(deadline, ORDERING_WAIT_SLICE_MS);

		CHECK_FOR_INTERRUPTS();
		if (sleep_ms <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("request on channel \"%s\" was not answered within %d ms",
							channel, ordering_submit_timeout_ms),
					 errhint(
						 "The change may still be applied; see ordering.blocks and ordering.status.")));
		(void) ConditionVariableTimedSleep(&ordering_shared->admin_cv,
										   sleep_ms, PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	return block;
}

/* admin_wait, giving the slot up if the wait ends in an error. */
static int64
admin_wait_or_abandon(int index, uint64 ticket, const char *channel,
					  int *sqlstate, char *message)
{
	volatile int64 block = -1;

	PG_TRY();
	{
		block = admin_wait(index, ticket, channel, sqlstate, message);
	}
	PG_CATCH();
	{
		admin_slot_abandon(index, ticket);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return block;
}

int64
OrderingAdminCall(OrderingAdminKind kind, const char *channel,
				  const char *node, const char *arg, bool may_route)
{
	uint64 ticket = 0;
	int index;
	int sqlstate = 0;
	char message[ORDERING_ERROR_MESSAGE_MAX];
	int64 block = -1;

	OrderingRequireWorker();
	OrderingRequireNotWorker("an admin function");
	Assert(strlen(arg) < ORDERING_ADMIN_ARG_MAX);

	/* On a follower, the leader does it (sql/leader_call.c). */
	if (may_route && OrderingAdminRouteToLeader(kind, channel, node, arg, &block))
		return block;

	index = admin_slot_claim(kind, channel, node, arg, &ticket);
	OrderingWakeWorker();
	block = admin_wait_or_abandon(index, ticket, channel, &sqlstate, message);
	/* Leadership moved while we asked: ask the new leader. */
	if (may_route && sqlstate == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE &&
		strstr(message, "is not the leader") != NULL &&
		OrderingAdminRouteToLeader(kind, channel, node, arg, &block))
		return block;
	if (sqlstate != 0)
		ereport(ERROR, (errcode(sqlstate), errmsg("%s", message)));
	return block;
}
