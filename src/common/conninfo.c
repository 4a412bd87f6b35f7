/*-------------------------------------------------------------------------
 *
 * conninfo.c
 *	  The conninfo policy, and the connection parameters to a peer.
 *
 * Every conninfo the extension stores or connects with passes through
 * here: SQL input (create_channel, add_consenter, join_channel), peers'
 * input (genesis documents, address books) and the parameters the
 * transport, catch-up and relayed admin calls connect with.  A stored
 * conninfo that a peer wrote under an older rule is never passed to libpq
 * as it is: only its allowed keywords are, with expand_dbname = 0, so that
 * no dbname is expanded and no local file or secret is named by anybody
 * but this node's own settings.
 *
 * src/common/conninfo.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/string.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"

#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/limits.h"

/*
 * Addressing and TLS verification: nothing that names a secret, a local
 * file of this node's own, or a setting of the remote session.
 */
static const char *const allowed_keywords[] = {
	"host",
	"hostaddr",
	"port",
	"dbname",
	"user",
	"sslmode",
	"sslrootcert",
	"sslcrl",
	"sslcrldir",
	"sslsni",
	"ssl_min_protocol_version",
	"ssl_max_protocol_version",
	"channel_binding",
	"gssencmode",
};

static bool
keyword_is_allowed(const char *keyword)
{
	for (int i = 0; i < lengthof(allowed_keywords); i++)
		if (strcmp(allowed_keywords[i], keyword) == 0)
			return true;
	return false;
}

/*
 * Every element of a host list is a name or an address: not empty, not a
 * socket directory, not an abstract socket.  *bad gets the first that is.
 */
static bool
host_list_is_allowed(const char *hosts, char **bad)
{
	const char *p = hosts;

	for (;;)
	{
		const char *end = strchr(p, ',');
		Size len = end != NULL ? (Size) (end - p) : strlen(p);

		if (len == 0 || p[0] == '/' || p[0] == '@')
		{
			*bad = pnstrdup(p, len);
			return false;
		}
		if (end == NULL)
			return true;
		p = end + 1;
	}
}

/* Each port of a list is empty (libpq's default) or 1 to 65535. */
static bool
port_list_is_allowed(const char *ports)
{
	int value = 0;
	bool digits = false;

	for (const char *c = ports;; c++)
	{
		if (*c == ',' || *c == '\0')
		{
			if (digits && value == 0)
				return false;
			if (*c == '\0')
				return true;
			value = 0;
			digits = false;
			continue;
		}
		if (*c < '0' || *c > '9')
			return false;
		value = value * 10 + (*c - '0');
		digits = true;
		if (value > 65535)
			return false;
	}
}

/*
 * The keywords libpq takes from a fixed set of values, and the set: a
 * value outside it was accepted here and failed only at connect time, on
 * every member.
 */
static const struct
{
	const char *keyword;
	const char *values[7];
} enumerated_keywords[] = {
	{ "sslmode",
	  { "disable", "allow", "prefer", "require", "verify-ca", "verify-full",
		NULL } },
	{ "gssencmode", { "disable", "prefer", "require", NULL } },
	{ "channel_binding", { "disable", "prefer", "require", NULL } },
};

/* NULL if keyword's value is fine, else the values it may take. */
static char *
enumerated_value_refusal(const char *keyword, const char *value)
{
	for (int k = 0; k < lengthof(enumerated_keywords); k++)
	{
		StringInfoData allowed;

		if (strcmp(enumerated_keywords[k].keyword, keyword) != 0)
			continue;
		initStringInfo(&allowed);
		for (int v = 0; enumerated_keywords[k].values[v] != NULL; v++)
		{
			if (strcmp(enumerated_keywords[k].values[v], value) == 0)
			{
				pfree(allowed.data);
				return NULL;
			}
			appendStringInfo(&allowed, "%s%s", v > 0 ? ", " : "",
							 enumerated_keywords[k].values[v]);
		}
		return allowed.data;
	}
	return NULL;
}

static bool
dbname_is_allowed(const char *dbname)
{
	return strchr(dbname, '=') == NULL &&
		strncmp(dbname, "postgres://", strlen("postgres://")) != 0 &&
		strncmp(dbname, "postgresql://", strlen("postgresql://")) != 0;
}

/* libpq's parse of conninfo, or NULL with *error set (palloc'd). */
static PQconninfoOption *
conninfo_parse(const char *conninfo, char **error)
{
	PQconninfoOption *options;
	char *libpq_message = NULL;

	*error = NULL;
	options = PQconninfoParse(conninfo, &libpq_message);
	if (options == NULL)
	{
		*error =
			pstrdup(libpq_message != NULL ? libpq_message : "out of memory");
		if (libpq_message != NULL)
			PQfreemem(libpq_message);
		(void) pg_strip_crlf(*error);
		pg_clean_ascii(*error);
	}
	return options;
}

/* Why a conninfo breaks the policy (palloc'd); message NULL if it does not. */
typedef struct ConninfoRefusal
{
	char *message;
	char *detail;
	char *hint;
} ConninfoRefusal;

static bool
conninfo_check(const char *node, const char *conninfo, ConninfoRefusal *why)
{
	PQconninfoOption *options;
	char *error;
	bool has_user = false;

	memset(why, 0, sizeof(*why));
	if (strlen(conninfo) >= ORDERING_CONNINFO_MAX)
	{
		why->message =
			psprintf("connection string of node \"%s\" is too long", node);
		why->detail = psprintf("A connection string has at most %d bytes.",
							   ORDERING_CONNINFO_MAX - 1);
		return false;
	}
	/*
	 * Conninfos are kept in every node's tables and configuration blocks,
	 * as bytes; nodes' databases may differ in encoding, and a non-ASCII
	 * byte from one was invalid text on another (a LATIN1 leader's "ç" in
	 * a UTF8 node's ordering.consenters).
	 */
	for (const char *c = conninfo; *c != '\0'; c++)
	{
		if (!IS_HIGHBIT_SET(*c))
			continue;
		why->message = psprintf("conninfo of node \"%s\" is not ASCII", node);
		why->detail = pstrdup(
			"A conninfo is kept on every node of the channel, whose databases may differ in encoding: its host names, paths, role and database names must be ASCII.");
		return false;
	}
	options = conninfo_parse(conninfo, &error);
	if (options == NULL)
	{
		why->message =
			psprintf("invalid connection string for node \"%s\"", node);
		why->detail = error;
		return false;
	}

	for (PQconninfoOption *o = options; o->keyword != NULL; o++)
	{
		char *bad;

		if (o->val == NULL)
			continue;
		if (!keyword_is_allowed(o->keyword))
		{
			why->message =
				psprintf("conninfo keyword \"%s\" is not allowed for node \"%s\"",
						 o->keyword, node);
			why->detail = pstrdup(
				"A consenter's conninfo carries addressing and TLS verification only; a node's credentials come from its settings (ordering.peer_passfile, ordering.peer_sslcert, ordering.peer_sslkey).");
			break;
		}
		if (strcmp(o->keyword, "host") == 0 &&
			!host_list_is_allowed(o->val, &bad))
		{
			why->message =
				psprintf("conninfo of node \"%s\" names a Unix socket or an empty host (\"%s\")",
						 node, bad);
			why->detail = pstrdup(
				"Peers are reached over TCP: a socket connection would log in through this server's own operating system user.");
			break;
		}
		if (strcmp(o->keyword, "dbname") == 0 && !dbname_is_allowed(o->val))
		{
			why->message =
				psprintf("conninfo of node \"%s\" has a dbname that is itself a connection string",
						 node);
			why->detail = pstrdup(
				"A dbname containing \"=\" or starting with postgres:// or postgresql:// is not allowed.");
			break;
		}
		if (strcmp(o->keyword, "port") == 0 && !port_list_is_allowed(o->val))
		{
			why->message =
				psprintf("conninfo of node \"%s\" has an invalid port (\"%s\")",
						 node, o->val);
			why->detail = pstrdup("A port is a number from 1 to 65535.");
			break;
		}
		if ((bad = enumerated_value_refusal(o->keyword, o->val)) != NULL)
		{
			why->message =
				psprintf("conninfo of node \"%s\" has an invalid %s (\"%s\")",
						 node, o->keyword, o->val);
			why->detail = psprintf("%s is one of: %s.", o->keyword, bad);
			break;
		}
		if (strcmp(o->keyword, "user") == 0 && o->val[0] != '\0')
			has_user = true;
	}
	PQconninfoFree(options);
	if (why->message == NULL && !has_user)
	{
		why->message =
			psprintf("conninfo of node \"%s\" must name the role that node connects as",
					 node);
		why->hint = pstrdup(
			"Add user=<role>: the role that node logs in as when it calls its peers, e.g. one holding ordering_peer.");
	}
	return why->message == NULL;
}

void
OrderingCheckConninfo(const char *node, const char *conninfo)
{
	ConninfoRefusal why;

	if (conninfo_check(node, conninfo, &why))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_internal("%s", why.message),
			 why.detail ? errdetail_internal("%s", why.detail) : 0,
			 why.hint ? errhint("%s", why.hint) : 0));
}

char *
OrderingConninfoRefusal(const char *node, const char *conninfo)
{
	ConninfoRefusal why;

	if (conninfo_check(node, conninfo, &why))
		return NULL;
	return why.message;
}

char *
OrderingConninfoUser(const char *conninfo)
{
	PQconninfoOption *options;
	char *error;
	char *user = NULL;

	if (conninfo == NULL)
		return NULL;
	options = conninfo_parse(conninfo, &error);
	if (options == NULL)
		return NULL;
	for (PQconninfoOption *o = options; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "user") == 0 && o->val != NULL &&
			o->val[0] != '\0')
			user = pstrdup(o->val);
	PQconninfoFree(options);
	return user;
}

void
OrderingConnParamsSet(OrderingConnParams *params, const char *keyword,
					  const char *value)
{
	int i;

	for (i = 0; i < params->n; i++)
		if (strcmp(params->keywords[i], keyword) == 0)
			break;
	if (i == params->n)
	{
		if (params->n >= ORDERING_CONN_PARAMS_MAX)
			elog(ERROR, "too many connection parameters");
		params->keywords[i] = pstrdup(keyword);
		params->n++;
	}
	params->values[i] = pstrdup(value);
	params->keywords[params->n] = NULL;
	params->values[params->n] = NULL;
}

/* A credential setting is passed only when set. */
static void
conn_params_set_credential(OrderingConnParams *params, const char *keyword,
						   const char *setting)
{
	if (setting != NULL && setting[0] != '\0')
		OrderingConnParamsSet(params, keyword, setting);
}

void
OrderingConnParamsInit(OrderingConnParams *params, const char *peer_conninfo,
					   const char *own_user, const char *application_name,
					   const char *extra_options)
{
	PQconninfoOption *options;
	char *error;
	char *pinned;

	params->n = 0;
	params->keywords[0] = NULL;
	params->values[0] = NULL;

	options = conninfo_parse(peer_conninfo, &error);
	if (options == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection string of a peer"),
				 errdetail_internal("%s", error)));
	for (PQconninfoOption *o = options; o->keyword != NULL; o++)
	{
		if (o->val == NULL || !keyword_is_allowed(o->keyword))
			continue;
		if (own_user != NULL && strcmp(o->keyword, "user") == 0)
			continue;
		OrderingConnParamsSet(params, o->keyword, o->val);
	}
	PQconninfoFree(options);

	if (own_user != NULL)
		OrderingConnParamsSet(params, "user", own_user);
	conn_params_set_credential(params, "passfile", ordering_peer_passfile);
	conn_params_set_credential(params, "sslcert", ordering_peer_sslcert);
	conn_params_set_credential(params, "sslkey", ordering_peer_sslkey);

	/*
	 * libpq splits options at spaces: the path is written without them.  A
	 * role or exit_on_error set on the peer's database or role would make
	 * our session there another role, or end it at its first error.
	 */
	pinned = psprintf("-c search_path=pg_catalog,pg_temp -c role=none"
					  " -c exit_on_error=off%s%s",
					  extra_options != NULL ? " " : "",
					  extra_options != NULL ? extra_options : "");
	OrderingConnParamsSet(params, "options", pinned);
	if (application_name != NULL)
		OrderingConnParamsSet(params, "application_name", application_name);
}
