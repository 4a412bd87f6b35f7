/*-------------------------------------------------------------------------
 *
 * leader_call.c
 *	  Relaying admin requests made on a follower to the channel's leader.
 *
 * update_channel_config, add_consenter, remove_consenter and
 * transfer_leadership are proposed by the leader's worker.  Called on a
 * follower, the backend has checked its caller's ordering_admin already
 * (the SQL function's EXECUTE privilege); it looks up the leader in
 * ordering.status and its conninfo in ordering.consenters, connects to it
 * as this node's own role (the user of this node's conninfo, with this
 * node's credentials, common/conninfo.c) and calls
 * ordering.relay_admin(from_node, ...) there, which ordering_peer may
 * call: the leader trusts this node for what its own admins asked, and
 * the peer role needs no ordering_admin.  Blocking is fine in a backend;
 * every step is bounded by ordering.submit_timeout and interruptible.
 * The answer is relayed: the configuration block, or the remote error
 * with its SQLSTATE and the remote text in the detail.
 *
 * A relayed request is never relayed again, so a leader change during the
 * call gives a "not the leader" error instead of a loop.  The request
 * itself may be what moved it: a leader removing itself hands leadership
 * on first and answers "not the leader", having proposed nothing.  This
 * node then asks the new leader (or its own worker, if it leads now), a
 * few times at most.
 *
 * src/sql/leader_call.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"

#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/remote.h"
#include "sql/backend.h"
#include "sql/catalog.h"
#include "sql/leader_call.h"
#include "store/spi.h"

/* application_name of relayed admin calls, as the leader sees them. */
#define ORDERING_REMOTE_ADMIN_APPNAME "ordering admin relay"

/* Extra time the remote call gets over the leader's own wait. */
#define LEADER_CALL_SLACK_MS 2000

/* Leaders asked in turn while each answers that another one leads now. */
#define LEADER_CALL_ATTEMPTS 3

/* How long this node's worker may take to learn of the new leader. */
#define LEADER_CALL_NEWS_MS 2000
#define LEADER_CALL_POLL_MS 20

/* The leader this node's worker knows for channel ("" if none or self). */
static void
leader_call_find_leader(const char *channel, char *leader, Size size)
{
	leader[0] = '\0';
	LWLockAcquire(&ordering_shared->lock, LW_SHARED);
	for (int i = 0; i < ordering_shared->max_channels; i++)
	{
		OrderingChannelStatus *st = &ordering_shared->status[i];

		if (!st->in_use || strcmp(st->channel, channel) != 0)
			continue;
		if (strcmp(st->role, "leader") != 0 &&
			strcmp(st->leader, ordering_node_name) != 0)
			strlcpy(leader, st->leader, size);
		break;
	}
	LWLockRelease(&ordering_shared->lock);
}

/* Request kinds by the name of their SQL function. */
static const struct
{
	OrderingAdminKind kind;
	const char *name;
} admin_kind_names[] = {
	{ ORDERING_ADMIN_UPDATE_CONFIG, "update_channel_config" },
	{ ORDERING_ADMIN_ADD_CONSENTER, "add_consenter" },
	{ ORDERING_ADMIN_REMOVE_CONSENTER, "remove_consenter" },
	{ ORDERING_ADMIN_TRANSFER_LEADER, "transfer_leadership" },
	{ ORDERING_ADMIN_UPDATE_CONSENTER, "update_consenter" },
};

const char *
OrderingAdminKindName(OrderingAdminKind kind)
{
	for (int i = 0; i < lengthof(admin_kind_names); i++)
		if (admin_kind_names[i].kind == kind)
			return admin_kind_names[i].name;
	elog(ERROR, "unknown admin request kind %d", (int) kind);
	return NULL; /* keep compiler quiet */
}

bool
OrderingAdminKindFromName(const char *name, OrderingAdminKind *kind)
{
	for (int i = 0; i < lengthof(admin_kind_names); i++)
		if (strcmp(admin_kind_names[i].name, name) == 0)
		{
			*kind = admin_kind_names[i].kind;
			return true;
		}
	return false;
}

/*
 * Relays the request to leader.  Returns false, the error dropped, when
 * may_retry and the leader answered that it no longer leads: it handed
 * its leadership on and proposed nothing (see the top of this file).
 */
static bool
leader_call_relay(const char *leader, const char *leader_conninfo,
				  const char *own_user, const char *const *params,
				  TimestampTz deadline, int64 *block, bool may_retry)
{
	MemoryContext cxt = CurrentMemoryContext;
	PGconn *volatile conn = NULL;

	PG_TRY();
	{
		PGresult *res;

		/* In int64: a submit_timeout near INT_MAX wrapped to 1 ms there. */
		conn =
			OrderingRemoteConnect(leader_conninfo, own_user,
								  ORDERING_REMOTE_ADMIN_APPNAME,
								  (int) Min((int64) ordering_submit_timeout_ms +
												LEADER_CALL_SLACK_MS,
											INT_MAX),
								  deadline);
		res =
			OrderingRemoteExec(conn, leader,
							   "SELECT ordering.relay_admin($1, $2, $3, $4, $5)",
							   5, params, false, deadline);
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
			*block = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	PG_CATCH();
	{
		ErrorData *edata;
		bool moved;

		OrderingRemoteDisconnect(conn);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		/* The remote answer: raised by remote.c, nothing else to undo. */
		moved = may_retry &&
			edata->sqlerrcode == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE &&
			strstr(edata->message, "is not the leader") != NULL;
		FreeErrorData(edata);
		if (!moved)
			PG_RE_THROW();
		FlushErrorState();
		return false;
	}
	PG_END_TRY();
	OrderingRemoteDisconnect(conn);
	return true;
}

/* Waits a little for this node's worker to know a leader other than old. */
static void
leader_call_await_news(const char *channel, const char *old)
{
	char leader[ORDERING_NAME_MAX];

	for (int waited = 0; waited < LEADER_CALL_NEWS_MS;
		 waited += LEADER_CALL_POLL_MS)
	{
		leader_call_find_leader(channel, leader, sizeof(leader));
		if (strcmp(leader, old) != 0)
			return;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LEADER_CALL_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

bool
OrderingAdminRouteToLeader(OrderingAdminKind kind, const char *channel,
						   const char *node, const char *arg, int64 *block)
{
	char leader[ORDERING_NAME_MAX];
	char *own_conninfo;
	char *own_user;
	const char *params[5];
	/* One deadline for every leader asked. */
	TimestampTz deadline = TimestampTzPlusMilliseconds(OrderingSubmitDeadline(),
													   LEADER_CALL_SLACK_MS);

	*block = -1;
	params[0] = ordering_node_name;
	params[1] = channel;
	params[2] = OrderingAdminKindName(kind);
	params[3] = node;
	params[4] = arg;
	for (int attempt = 1;; attempt++)
	{
		char *leader_conninfo;

		leader_call_find_leader(channel, leader, sizeof(leader));
		if (leader[0] == '\0')
			return false;
		leader_conninfo = OrderingConsenterConninfo(channel, leader);
		own_conninfo = OrderingConsenterConninfo(channel, ordering_node_name);
		if (leader_conninfo == NULL || own_conninfo == NULL)
			return false;
		own_user = OrderingConninfoUser(own_conninfo);
		if (own_user == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot relay the request to leader %s: the conninfo of this node \"%s\" names no role",
							leader, ordering_node_name)));

		ereport(DEBUG1,
				(errmsg_internal("relaying an admin request of channel \"%s\" to its leader %s",
								 channel, leader)));
		if (leader_call_relay(leader, leader_conninfo, own_user, params,
							  deadline, block, attempt < LEADER_CALL_ATTEMPTS))
			return true;
		ereport(LOG,
				(errmsg("leader %s of channel \"%s\" handed its leadership on; asking the new leader",
						leader, channel)));
		leader_call_await_news(channel, leader);
	}
}
