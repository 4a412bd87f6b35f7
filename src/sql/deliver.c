/*-------------------------------------------------------------------------
 *
 * deliver.c
 *	  ordering.deliver(from_node text, messages bytea): the receiving end of
 *	  the transport between ordering workers (README.md, "How the
 *	  transport works").
 *
 * A peer's worker calls this function over an ordinary libpq connection.
 * It runs in a regular backend: it checks that the caller has the
 * privileges of role ordering_peer and that the session user is the role
 * of the node it claims to be (when a channel here knows that node),
 * checks the envelope's structure, copies it with the session user's name
 * into the inbox ring in shared memory, wakes the local worker and
 * returns.  The worker checks every record again against the channel it
 * is for.  It never waits: when the inbox is full the envelope is dropped
 * (and counted by the ring) and the call still succeeds, because Raft
 * retries lost messages.  Only malformed input and impersonation are
 * errors, so that a misconfigured sender learns about it.
 *
 * src/sql/deliver.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "common/envelope.h"
#include "common/gucs.h"
#include "common/node_roles.h"
#include "common/shmem.h"
#include "sql/backend.h"

PG_FUNCTION_INFO_V1(ordering_deliver);

/*
 * Bytes an inbox record takes: the ring's uint32 length prefix, the
 * sender's name and the session user's, each NUL-terminated, and the
 * envelope.
 */
static Size
deliver_record_size(const char *from_node, const char *role, Size envelope_len)
{
	return sizeof(uint32) + strlen(from_node) + 1 + strlen(role) + 1 +
		envelope_len;
}

/* 42501 when a channel here knows from_node and it logs in as another role. */
static void
deliver_check_identity(const char *from_node, const char *role)
{
	if (OrderingNodeRoleLookup(from_node, role) != ORDERING_NODE_ROLE_OTHER)
		return;
	OrderingTransportCount(ORDERING_COUNT_REFUSED_DELIVERIES);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not deliver messages as node \"%s\"",
					role, from_node),
			 errdetail("A node speaks only for itself: the user of node \"%s\"'s conninfo is another role.",
					   from_node)));
}

Datum
ordering_deliver(PG_FUNCTION_ARGS)
{
	Oid peer_role = get_role_oid("ordering_peer", false);
	char *from_node;
	bytea *messages;
	const char *data;
	Size len;
	char envelope_from[NAMEDATALEN];
	uint32 count;
	const char *error;
	OrderingRing *inbox;
	char *role;
	char header[NAMEDATALEN * 2];
	Size header_len;

	if (!has_privs_of_role(GetUserId(), peer_role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to deliver ordering messages"),
				 errdetail("Only roles with privileges of role \"%s\" may call %s.",
						   "ordering_peer", "ordering.deliver()")));

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("arguments of ordering.deliver() must not be null")));

	if (ordering_shared == NULL || ordering_shared->inbox_ring == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ordering is not loaded"),
				 errhint(
					 "Add \"ordering\" to shared_preload_libraries and restart the server.")));
	inbox = ordering_shared->inbox_ring;
	/* A server without a name is no member: nothing is for it. */
	OrderingRequireNodeName();

	from_node = text_to_cstring(PG_GETARG_TEXT_PP(0));
	messages = PG_GETARG_BYTEA_PP(1);
	data = VARDATA_ANY(messages);
	len = VARSIZE_ANY_EXHDR(messages);

	if (strlen(from_node) == 0 || strlen(from_node) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid node name \"%s\"", from_node)));

	/* The authenticated login role, whatever SET ROLE says. */
	role = GetUserNameFromId(GetSessionUserId(), false);
	deliver_check_identity(from_node, role);

	/*
	 * No node delivers to itself: a call in this server's own name, by its
	 * role, comes from another server with the same ordering.node_name (or
	 * over a conninfo that points back here).  Taken, a genesis push would
	 * make this server that member too (TAP 011).  After the identity
	 * check: another node's role claiming this name is an impostor first.
	 */
	if (strcmp(from_node, ordering_node_name) == 0)
	{
		OrderingTransportCount(ORDERING_COUNT_REFUSED_DELIVERIES);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ordering messages from node \"%s\" were delivered to that node's own name",
						from_node),
				 errhint("Another server has ordering.node_name = '%s' too, or a consenter's conninfo points at this server: give each server its own name.",
						 from_node)));
	}

	/* A record the inbox could never hold would be refused forever. */
	if (deliver_record_size(from_node, role, len) > inbox->capacity)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ordering envelope of %zu bytes is too large for the inbox",
						len),
				 errdetail("The inbox of this node holds %zu bytes.",
						   inbox->capacity),
				 errhint("Raise \"ordering.inbox_size\" on node \"%s\".",
						 ordering_node_name)));

	if (!EnvelopeValidate(data, len, envelope_from, &count, &error))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed ordering envelope from node \"%s\": %s",
						from_node, error)));

	if (strcmp(envelope_from, from_node) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ordering envelope is from node \"%s\", not \"%s\"",
						envelope_from, from_node)));

	/*
	 * The worker finds the sender's name and role first, then the
	 * envelope.  Wake it either way: a full inbox is one it has to drain.
	 */
	header_len = strlen(from_node) + 1 + strlen(role) + 1;
	memcpy(header, from_node, strlen(from_node) + 1);
	memcpy(header + strlen(from_node) + 1, role, strlen(role) + 1);
	if (!OrderingRingPush(inbox, header, header_len, data, len))
		ereport(DEBUG1,
				(errmsg_internal("ordering inbox full: dropped %u records from node \"%s\"",
								 count, from_node)));
	OrderingWakeWorker();

	PG_RETURN_VOID();
}
