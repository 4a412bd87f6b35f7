/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Checks of what users hand to the SQL functions: names, connection
 *	  strings, channel settings, consenter documents.
 *
 * These are pure checks: they read their arguments and raise an ERROR with
 * the SQLSTATE of notes/pg_contract.md, so a bad call changes nothing.
 * The bounds of the channel settings live in one table, settings_table,
 * which both validation and the error hints read.
 *
 * src/validate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/string.h"
#include "libpq-fe.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "raft.h"
#include "validate.h"

/* One channel setting: its key, bounds, default and place in the struct. */
typedef struct SettingSpec
{
	const char *key;
	int64		min;
	int64		max;
	int64		default_value;
	size_t		offset;			/* of the int64 field in OrderingSettings */
} SettingSpec;

#define SETTING(key, min, max, default_value) \
	{#key, min, max, default_value, offsetof(OrderingSettings, key)}

static const SettingSpec settings_table[] = {
	SETTING(max_message_count, 1, 100000,
			ORDERING_DEFAULT_MAX_MESSAGE_COUNT),
	SETTING(absolute_max_bytes, 1, 64 * 1024 * 1024,
			ORDERING_DEFAULT_ABSOLUTE_MAX_BYTES),
	SETTING(preferred_max_bytes, 1, 64 * 1024 * 1024,
			ORDERING_DEFAULT_PREFERRED_MAX_BYTES),
	SETTING(batch_timeout, 1, 600000,
			ORDERING_DEFAULT_BATCH_TIMEOUT_MS),
	SETTING(snapshot_interval_bytes, 1024, INT64CONST(1) << 40,
			ORDERING_DEFAULT_SNAPSHOT_INTERVAL_BYTES),
	SETTING(election_tick, 2, 10000,
			ORDERING_DEFAULT_ELECTION_TICK),
	SETTING(heartbeat_tick, 1, 1000,
			ORDERING_DEFAULT_HEARTBEAT_TICK),
};

#define N_SETTINGS lengthof(settings_table)

static int64 *
setting_field(OrderingSettings *settings, const SettingSpec *spec)
{
	return (int64 *) ((char *) settings + spec->offset);
}

char *
OrderingTextArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	OrderingRequireArg(fcinfo, argno, name);
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

void
OrderingRequireArg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/* Fabric's channel name rule: ^[a-z][a-z0-9.-]{0,62}$ */
void
OrderingCheckChannelName(const char *channel)
{
	size_t		len = strlen(channel);
	bool		valid = len >= 1 && len < ORDERING_NAME_MAX &&
		channel[0] >= 'a' && channel[0] <= 'z';

	for (size_t i = 1; valid && i < len; i++)
	{
		char		c = channel[i];

		valid = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '-';
	}
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid channel name \"%s\"", channel),
				 errdetail("A channel name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits, '.' or '-'.")));
}

/* Node names: ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ (ordering.consenters). */
void
OrderingCheckNodeName(const char *node)
{
	size_t		len = strlen(node);
	bool		valid = len >= 1 && len < ORDERING_NAME_MAX;

	for (size_t i = 0; valid && i < len; i++)
	{
		char		c = node[i];

		valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') ||
			(i > 0 && (c == '.' || c == '_' || c == '-'));
	}
	if (!valid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid node name \"%s\"", node),
				 errdetail("A node name is 1 to 63 characters: a letter or digit, then letters, digits, '.', '_' or '-'.")));
}

/* A connection string must parse the way libpq will read it. */
void
OrderingCheckConninfo(const char *node, const char *conninfo)
{
	PQconninfoOption *options;
	char	   *libpq_message = NULL;

	if (strlen(conninfo) >= ORDERING_CONNINFO_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("connection string of node \"%s\" is too long", node),
				 errdetail("A connection string has at most %d bytes.",
						   ORDERING_CONNINFO_MAX - 1)));

	options = PQconninfoParse(conninfo, &libpq_message);
	if (options == NULL)
	{
		char	   *detail = pstrdup(libpq_message != NULL ?
									 libpq_message : "out of memory");

		if (libpq_message != NULL)
			PQfreemem(libpq_message);
		(void) pg_strip_crlf(detail);
		pg_clean_ascii(detail);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid connection string for node \"%s\"", node),
				 errdetail_internal("%s", detail)));
	}
	PQconninfoFree(options);
}

void
OrderingCheckTxId(const char *tx_id)
{
	size_t		len = strlen(tx_id);

	if (len < 1 || len >= ORDERING_TX_ID_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid transaction id"),
				 errdetail("A transaction id has 1 to %d bytes; this one has %zu.",
						   ORDERING_TX_ID_MAX - 1, len)));
}

void
OrderingSettingsDefaults(OrderingSettings *settings)
{
	for (int i = 0; i < N_SETTINGS; i++)
		*setting_field(settings, &settings_table[i]) =
			settings_table[i].default_value;
}

static const SettingSpec *
setting_spec(const char *key, int key_len)
{
	for (int i = 0; i < N_SETTINGS; i++)
	{
		if (strlen(settings_table[i].key) == key_len &&
			strncmp(settings_table[i].key, key, key_len) == 0)
			return &settings_table[i];
	}
	return NULL;
}

static char *
known_settings_list(void)
{
	StringInfoData list;

	initStringInfo(&list);
	for (int i = 0; i < N_SETTINGS; i++)
		appendStringInfo(&list, "%s%s", i > 0 ? ", " : "",
						 settings_table[i].key);
	return list.data;
}

/* A JSON number with no fraction that fits int64; errors otherwise. */
static int64
setting_integer_value(const SettingSpec *spec, const JsonbValue *value)
{
	char	   *text;
	char	   *end;
	int64		result;

	if (value->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"%s\" must be an integer", spec->key)));

	text = numeric_normalize(value->val.numeric);
	errno = 0;
	result = strtoi64(text, &end, 10);
	if (errno != 0 || *end != '\0' || end == text)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"%s\" must be an integer", spec->key),
				 errdetail("The value given is %s.", text)));
	return result;
}

static void
check_settings_bounds(const OrderingSettings *settings)
{
	for (int i = 0; i < N_SETTINGS; i++)
	{
		const SettingSpec *spec = &settings_table[i];
		int64		value = *setting_field((OrderingSettings *) settings, spec);

		if (value < spec->min || value > spec->max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("setting \"%s\" must be between " INT64_FORMAT " and " INT64_FORMAT,
							spec->key, spec->min, spec->max),
					 errdetail("The value given is " INT64_FORMAT ".", value)));
	}
	if (settings->preferred_max_bytes > settings->absolute_max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"preferred_max_bytes\" must not exceed \"absolute_max_bytes\""),
				 errdetail("preferred_max_bytes is " INT64_FORMAT " and absolute_max_bytes is " INT64_FORMAT ".",
						   settings->preferred_max_bytes,
						   settings->absolute_max_bytes)));
	if (settings->election_tick <= settings->heartbeat_tick)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"election_tick\" must be greater than \"heartbeat_tick\""),
				 errdetail("election_tick is " INT64_FORMAT " and heartbeat_tick is " INT64_FORMAT ".",
						   settings->election_tick, settings->heartbeat_tick)));
}

/*
 * Overlays changes, a JSON object of settings, on settings, then checks the
 * result as a whole.  Unknown keys and non-integers are errors.
 */
void
OrderingSettingsApply(OrderingSettings *settings, Jsonb *changes)
{
	JsonbIterator *iterator;
	JsonbIteratorToken token;
	JsonbValue	value;

	if (!JB_ROOT_IS_OBJECT(changes) || JB_ROOT_IS_SCALAR(changes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel configuration must be a JSON object"),
				 errhint("Valid settings are: %s.", known_settings_list())));

	iterator = JsonbIteratorInit(&changes->root);
	while ((token = JsonbIteratorNext(&iterator, &value, true)) != WJB_DONE)
	{
		const SettingSpec *spec;

		if (token != WJB_KEY)
			continue;
		spec = setting_spec(value.val.string.val, value.val.string.len);
		if (spec == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown setting \"%.*s\"",
							value.val.string.len, value.val.string.val),
					 errhint("Valid settings are: %s.", known_settings_list())));
		token = JsonbIteratorNext(&iterator, &value, true);
		Assert(token == WJB_VALUE);
		*setting_field(settings, spec) = setting_integer_value(spec, &value);
	}
	check_settings_bounds(settings);
}

/* Reads stored settings: defaults for any key missing, then checks. */
void
OrderingSettingsFromJsonb(Jsonb *config, OrderingSettings *settings)
{
	OrderingSettingsDefaults(settings);
	OrderingSettingsApply(settings, config);
}

Jsonb *
OrderingSettingsToJsonb(const OrderingSettings *settings)
{
	JsonbParseState *state = NULL;
	JsonbValue	key;
	JsonbValue	value;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < N_SETTINGS; i++)
	{
		const SettingSpec *spec = &settings_table[i];

		key.type = jbvString;
		key.val.string.val = (char *) spec->key;
		key.val.string.len = strlen(spec->key);
		pushJsonbValue(&state, WJB_KEY, &key);
		value.type = jbvNumeric;
		value.val.numeric =
			int64_to_numeric(*setting_field((OrderingSettings *) settings,
											spec));
		pushJsonbValue(&state, WJB_VALUE, &value);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

static int
consenter_compare(const void *a, const void *b)
{
	return strcmp(((const OrderingConsenter *) a)->node,
				  ((const OrderingConsenter *) b)->node);
}

OrderingConsenter *
OrderingParseConsenters(Jsonb *consenters, int *n_consenters)
{
	OrderingConsenter *result;
	JsonbIterator *iterator;
	JsonbIteratorToken token;
	JsonbValue	value;
	int			count;
	int			n = 0;

	if (!JB_ROOT_IS_OBJECT(consenters) || JB_ROOT_IS_SCALAR(consenters))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("consenters must be a JSON object mapping node names to connection strings"),
				 errhint("For example: {\"n1\": \"host=10.0.0.1 port=5432 dbname=postgres\"}.")));

	count = JB_ROOT_COUNT(consenters);
	if (count < 1 || count > RAFT_MAX_MEMBERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a channel has 1 to %d consenters, not %d",
						RAFT_MAX_MEMBERS, count)));

	result = palloc0(sizeof(OrderingConsenter) * count);
	iterator = JsonbIteratorInit(&consenters->root);
	while ((token = JsonbIteratorNext(&iterator, &value, true)) != WJB_DONE)
	{
		char	   *node;

		if (token != WJB_KEY)
			continue;
		node = pnstrdup(value.val.string.val, value.val.string.len);
		OrderingCheckNodeName(node);
		token = JsonbIteratorNext(&iterator, &value, true);
		Assert(token == WJB_VALUE);
		if (value.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("connection string of node \"%s\" must be a JSON string",
							node)));
		Assert(n < count);
		result[n].node = node;
		result[n].conninfo = pnstrdup(value.val.string.val,
									  value.val.string.len);
		OrderingCheckConninfo(node, result[n].conninfo);
		n++;
	}
	Assert(n == count);

	qsort(result, n, sizeof(OrderingConsenter), consenter_compare);
	for (int i = 0; i < n; i++)
		result[i].raft_id = (uint64) (i + 1);
	*n_consenters = n;
	return result;
}
