/*-------------------------------------------------------------------------
 *
 * conninfo.h
 *	  The conninfo policy: what a consenter's connection string may say,
 *	  and the one place where connection parameters to a peer are built.
 *
 * A consenter's conninfo (from SQL, from a peer's genesis document or
 * address book, from a configuration change) carries addressing and TLS
 * verification only, as postgres_fdw and dblink require of non-superusers:
 * the keywords below, a user, no Unix socket host, no dbname that libpq
 * would expand.  A node's own credentials come from its settings
 * (ordering.peer_passfile, ordering.peer_sslcert, ordering.peer_sslkey),
 * never from the replicated chain.
 *
 * src/common/conninfo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CONNINFO_H
#define ORDERING_CONNINFO_H

/* The search_path of every session the extension opens or runs SQL in. */
#define ORDERING_PINNED_SEARCH_PATH "pg_catalog, pg_temp"

/* ERROR 22023 unless conninfo passes the policy. */
extern void OrderingCheckConninfo(const char *node, const char *conninfo);

/* The same check without an ERROR: NULL when allowed, else why. */
extern char *OrderingConninfoRefusal(const char *node, const char *conninfo);

/* The role a conninfo names (palloc'd); NULL when it names none. */
extern char *OrderingConninfoUser(const char *conninfo);

/*
 * Parameters of a connection to a peer, for PQconnectStartParams with
 * expand_dbname = 0: only the allowed keywords of the peer's conninfo
 * (whatever it holds), the role this node connects as, this node's
 * credentials, and options that pin the session's search_path.
 */
#define ORDERING_CONN_PARAMS_MAX 32

typedef struct OrderingConnParams
{
	int n;
	const char *keywords[ORDERING_CONN_PARAMS_MAX + 1];
	const char *values[ORDERING_CONN_PARAMS_MAX + 1];
} OrderingConnParams;

/*
 * peer_conninfo: the peer's conninfo; own_user: the role this node logs in
 * as (NULL: the conninfo's own user); extra_options: appended to options
 * after the pinned search_path (may be NULL).
 */
extern void
OrderingConnParamsInit(OrderingConnParams *params, const char *peer_conninfo,
					   const char *own_user, const char *application_name,
					   const char *extra_options);
/* Sets keyword (replacing an earlier value); keeps the arrays terminated. */
extern void OrderingConnParamsSet(OrderingConnParams *params,
								  const char *keyword, const char *value);

#endif /* ORDERING_CONNINFO_H */
