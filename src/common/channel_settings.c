/*-------------------------------------------------------------------------
 *
 * channel_settings.c
 *	  The one table of channel settings (ordering.channels.config): names,
 *	  defaults and bounds, the one parser and the canonical document.
 *
 * create_channel and update_channel_config (what users give), the worker
 * (what the tables and the Raft log hold) and a joining node (a peer's
 * genesis document) all read settings here, so they agree on every bound.
 * Unknown keys and values that are not integers are errors.
 *
 * src/common/channel_settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "common/channel_settings.h"

/* One channel setting: its key, bounds, default and place in the struct. */
typedef struct SettingSpec
{
	const char *key;
	int64 min;
	int64 max;
	int64 default_value;
	size_t offset; /* of the int64 field in OrderingSettings */
	/* A setting named by a word: the words, NULL-terminated; else NULL. */
	const char *const *words;
} SettingSpec;

#define SETTING(key, min, max, default_value)                                 \
	{                                                                         \
#key, min, max, default_value, offsetof(OrderingSettings, key), NULL  \
	}
#define WORD_SETTING(key, words, default_value)                               \
	{                                                                         \
#key, 0, lengthof(words) - 2, default_value,                          \
			offsetof(OrderingSettings, key), words                            \
	}

/* batch_mode: the index is the value of OrderingBatchMode. */
static const char *const batch_mode_words[] = { "adaptive", "timeout", NULL };

/*
 * The largest transaction a channel may allow: what one Raft proposal and
 * one envelope between nodes carry comfortably (an envelope holds up to
 * 8 MiB and a larger message travels alone), well below the default inbox
 * (ordering.inbox_size, 64 MB).
 */
#define TRANSACTION_MAX_BYTES (16 * 1024 * 1024)

static const SettingSpec settings_table[] = {
	SETTING(max_message_count, 1, 100000, 500),
	SETTING(absolute_max_bytes, 1, TRANSACTION_MAX_BYTES, 10 * 1024 * 1024),
	SETTING(preferred_max_bytes, 1, TRANSACTION_MAX_BYTES, 2 * 1024 * 1024),
	SETTING(batch_timeout, 1, 600000, 200),
	WORD_SETTING(batch_mode, batch_mode_words, ORDERING_BATCH_ADAPTIVE),
	SETTING(max_inflight_blocks, 1, 100, 1),
	SETTING(snapshot_interval_bytes, 1024, INT64CONST(1) << 40, 16 * 1024 * 1024),
	SETTING(election_tick, 2, 10000, 10),
	SETTING(heartbeat_tick, 1, 1000, 1),
};

#define N_SETTINGS lengthof(settings_table)

static int64 *
setting_field(OrderingSettings *settings, const SettingSpec *spec)
{
	return (int64 *) ((char *) settings + spec->offset);
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

/* A setting this file names itself: always in the table. */
static const SettingSpec *
setting_spec_by_name(const char *key)
{
	const SettingSpec *spec = setting_spec(key, strlen(key));

	if (spec == NULL)
		elog(ERROR, "unknown channel setting \"%s\"", key);
	return spec;
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

/* The index of a word setting's value among its words; errors otherwise. */
static int64
setting_word_value(const SettingSpec *spec, const JsonbValue *value)
{
	StringInfoData list;

	if (value->type == jbvString)
		for (int i = 0; spec->words[i] != NULL; i++)
			if (strlen(spec->words[i]) == value->val.string.len &&
				strncmp(spec->words[i], value->val.string.val,
						value->val.string.len) == 0)
				return i;
	initStringInfo(&list);
	for (int i = 0; spec->words[i] != NULL; i++)
		appendStringInfo(&list, "%s\"%s\"", i > 0 ? ", " : "", spec->words[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("setting \"%s\" must be one of %s", spec->key, list.data)));
	return 0; /* not reached */
}

/* A JSON number with no fraction that fits int64; errors otherwise. */
static int64
setting_integer_value(const SettingSpec *spec, const JsonbValue *value)
{
	char *text;
	char *end;
	int64 result;

	if (spec->words != NULL)
		return setting_word_value(spec, value);
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
		int64 value = *setting_field((OrderingSettings *) settings, spec);

		if (value < spec->min || value > spec->max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("setting \"%s\" must be between " INT64_FORMAT
							" and " INT64_FORMAT,
							spec->key, spec->min, spec->max),
					 errdetail("The value given is " INT64_FORMAT ".", value)));
	}
	if (settings->preferred_max_bytes > settings->absolute_max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"preferred_max_bytes\" must not exceed \"absolute_max_bytes\""),
				 errdetail("preferred_max_bytes is " INT64_FORMAT
						   " and absolute_max_bytes is " INT64_FORMAT ".",
						   settings->preferred_max_bytes,
						   settings->absolute_max_bytes)));
	if (settings->election_tick <= settings->heartbeat_tick)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("setting \"election_tick\" must be greater than \"heartbeat_tick\""),
				 errdetail("election_tick is " INT64_FORMAT
						   " and heartbeat_tick is " INT64_FORMAT ".",
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
	JsonbValue value;

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
					 errmsg("unknown setting \"%.*s\"", value.val.string.len,
							value.val.string.val),
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
	JsonbValue key;
	JsonbValue value;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < N_SETTINGS; i++)
	{
		const SettingSpec *spec = &settings_table[i];

		key.type = jbvString;
		key.val.string.val = (char *) spec->key;
		key.val.string.len = strlen(spec->key);
		pushJsonbValue(&state, WJB_KEY, &key);
		if (spec->words != NULL)
		{
			const char *word =
				spec->words[*setting_field((OrderingSettings *) settings, spec)];

			value.type = jbvString;
			value.val.string.val = (char *) word;
			value.val.string.len = strlen(word);
		}
		else
		{
			value.type = jbvNumeric;
			value.val.numeric = int64_to_numeric(
				*setting_field((OrderingSettings *) settings, spec));
		}
		pushJsonbValue(&state, WJB_VALUE, &value);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}


/* Parses stored settings (jsonb text): defaults for missing keys, checked. */
void
OrderingSettingsFromText(const char *json, OrderingSettings *settings)
{
	Jsonb *config =
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));

	OrderingSettingsFromJsonb(config, settings);
}

/*
 * The settings after an update: current || update (jsonb's ||), checked,
 * as canonical jsonb text (palloc'd).
 */
char *
OrderingSettingsMerge(const char *current, const char *update)
{
	Datum current_jsonb =
		DirectFunctionCall1(jsonb_in, CStringGetDatum(current));
	Datum update_jsonb = DirectFunctionCall1(jsonb_in, CStringGetDatum(update));
	Jsonb *merged = DatumGetJsonbP(
		DirectFunctionCall2(jsonb_concat, current_jsonb, update_jsonb));
	OrderingSettings settings;

	OrderingSettingsFromJsonb(merged, &settings);
	return JsonbToCString(NULL, &merged->root, VARSIZE(merged));
}

/* The largest payload any channel may allow (absolute_max_bytes's bound). */
int64
OrderingMaxPayloadBytes(void)
{
	return setting_spec_by_name("absolute_max_bytes")->max;
}

/* The most transactions a block of any channel may hold. */
int64
OrderingMaxBlockTransactions(void)
{
	return setting_spec_by_name("max_message_count")->max;
}
