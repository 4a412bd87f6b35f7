/*-------------------------------------------------------------------------
 *
 * channel_settings.h
 *	  A channel's settings (ordering.channels.config): Fabric's batch
 *	  size and timeout, the snapshot interval and Raft's timing.
 *
 * src/common/channel_settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CHANNEL_SETTINGS_H
#define ORDERING_CHANNEL_SETTINGS_H

#include "utils/jsonb.h"

/* The settings of a channel, all filled in. */
typedef struct OrderingSettings
{
	int64 max_message_count;
	int64 absolute_max_bytes;
	int64 preferred_max_bytes;
	int64 batch_timeout; /* ms */
	int64 snapshot_interval_bytes;
	int64 election_tick;
	int64 heartbeat_tick;
} OrderingSettings;

extern void OrderingSettingsDefaults(OrderingSettings *settings);

/*
 * The one parser: overlays changes (a JSON object of settings) on
 * settings, then checks the result as a whole.  ERROR 22023 on an unknown
 * key, a value that is not an integer, or a value out of bounds.
 */
extern void OrderingSettingsApply(OrderingSettings *settings, Jsonb *changes);

/* Stored settings: defaults for any key missing, then checked. */
extern void OrderingSettingsFromJsonb(Jsonb *config, OrderingSettings *settings);
extern void
OrderingSettingsFromText(const char *json, OrderingSettings *settings);

/* The complete settings object, every key present. */
extern Jsonb *OrderingSettingsToJsonb(const OrderingSettings *settings);

/* current || update, checked; canonical jsonb text (palloc'd). */
extern char *OrderingSettingsMerge(const char *current, const char *update);

/* The largest value the table allows for a setting (ERROR if unknown). */
extern int64 OrderingMaxPayloadBytes(void);
extern int64 OrderingMaxBlockTransactions(void);

#endif /* ORDERING_CHANNEL_SETTINGS_H */
