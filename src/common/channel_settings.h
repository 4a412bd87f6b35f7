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

/*
 * How the leader cuts blocks.  adaptive: at once while fewer than
 * max_inflight_blocks of its blocks are uncommitted, else when one commits
 * (group commit); timeout: Fabric's cutter, when batch_timeout passes.
 * Both cut on the size limits, and batch_timeout caps the wait.
 */
typedef enum OrderingBatchMode
{
	ORDERING_BATCH_ADAPTIVE = 0,
	ORDERING_BATCH_TIMEOUT = 1
} OrderingBatchMode;

/* The settings of a channel, all filled in. */
typedef struct OrderingSettings
{
	int64 max_message_count;
	int64 absolute_max_bytes;
	int64 preferred_max_bytes;
	int64 batch_timeout; /* ms */
	int64 batch_mode;	 /* OrderingBatchMode */
	int64 max_inflight_blocks;
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
