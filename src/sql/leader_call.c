/*-------------------------------------------------------------------------
 *
 * leader_call.c
 *	  Routing admin requests made on a follower to the channel's leader.
 *
 * update_channel_config, add_consenter, remove_consenter and
 * transfer_leadership are proposed by the leader's worker.  Called on a
 * follower, the backend looks up the leader in ordering.status and its
 * conninfo in ordering.consenters, connects to it with libpq and calls the
 * same function there (blocking is fine in a backend; every step is
 * bounded by ordering.submit_timeout and interruptible).  The answer is
 * relayed: the configuration block, or the remote error with its SQLSTATE
 * and the remote text in the detail.
 *
 * A routed call carries application_name ORDERING_REMOTE_ADMIN_APPNAME;
 * it is never routed again, so a leader change during the call gives a
 * "not the leader" error instead of a loop.  The conninfo's user must be
 * allowed to call the function on the leader (ordering_admin).
 *
 * src/sql/leader_call.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "common/gucs.h"
#include "common/remote.h"
#include "sql/backend.h"
#include "sql/leader_call.h"

/* application_name of routed admin calls: such a call is never rerouted. */
#define ORDERING_REMOTE_ADMIN_APPNAME "ordering admin route"

/* Extra time the remote call gets over the leader's own wait. */
#define LEADER_CALL_SLACK_MS 2000

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

static char *
leader_call_conninfo(const char *channel, const char *leader)
{
	Oid types[2] = { TEXTOID, TEXTOID };
	Datum values[2] = { CStringGetTextDatum(channel),
						CStringGetTextDatum(leader) };
	char *conninfo = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	SPI_connect();
	if (SPI_execute_with_args("SELECT conninfo FROM ordering.consenters"
							  " WHERE channel = $1 AND node = $2",
							  2, types, values, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char *value =
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			conninfo = MemoryContextStrdup(cxt, value);
	}
	SPI_finish();
	return conninfo;
}

bool
OrderingAdminRouteToLeader(OrderingAdminKind kind, const char *channel,
						   const char *node, const char *arg, int64 *block)
{
	char leader[ORDERING_NAME_MAX];
	const char *application_name =
		GetConfigOption("application_name", true, false);
	char *conninfo;
	const char *sql;
	const char *params[3];
	int n_params;
	TimestampTz deadline;
	PGconn *volatile conn = NULL;

	*block = -1;
	if (application_name != NULL &&
		strcmp(application_name, ORDERING_REMOTE_ADMIN_APPNAME) == 0)
		return false;
	leader_call_find_leader(channel, leader, sizeof(leader));
	if (leader[0] == '\0')
		return false;
	conninfo = leader_call_conninfo(channel, leader);
	if (conninfo == NULL)
		return false;

	params[0] = channel;
	params[1] = node;
	params[2] = arg;
	switch (kind)
	{
		case ORDERING_ADMIN_UPDATE_CONFIG:
			sql = "SELECT ordering.update_channel_config($1, $2::jsonb)";
			params[1] = arg;
			n_params = 2;
			break;
		case ORDERING_ADMIN_ADD_CONSENTER:
			sql = "SELECT ordering.add_consenter($1, $2, $3)";
			n_params = 3;
			break;
		case ORDERING_ADMIN_REMOVE_CONSENTER:
			sql = "SELECT ordering.remove_consenter($1, $2)";
			n_params = 2;
			break;
		case ORDERING_ADMIN_TRANSFER_LEADER:
			sql = "SELECT ordering.transfer_leadership($1, $2)::text";
			n_params = 2;
			break;
		default:
			return false;
	}

	ereport(DEBUG1,
			(errmsg_internal("routing an admin request of channel \"%s\" to its leader %s",
							 channel, leader)));
	deadline = TimestampTzPlusMilliseconds(OrderingSubmitDeadline(),
										   LEADER_CALL_SLACK_MS);
	PG_TRY();
	{
		PGresult *res;

		conn = OrderingRemoteConnect(conninfo, ORDERING_REMOTE_ADMIN_APPNAME,
									 ordering_submit_timeout_ms +
										 LEADER_CALL_SLACK_MS,
									 deadline);
		res = OrderingRemoteExec(conn, leader, sql, n_params, params, deadline);
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
			kind != ORDERING_ADMIN_TRANSFER_LEADER)
			*block = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	PG_FINALLY();
	{
		OrderingRemoteDisconnect(conn);
	}
	PG_END_TRY();
	return true;
}
