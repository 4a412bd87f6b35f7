/*-------------------------------------------------------------------------
 *
 * settings_cache.h
 *	  Each backend's copy of the settings of the channels it submits to,
 *	  kept while ordering.channels and ordering.raft_state do not change.
 *
 * src/sql/settings_cache.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SQL_SETTINGS_CACHE_H
#define ORDERING_SQL_SETTINGS_CACHE_H

#include "common/channel_settings.h"

/*
 * The kept copy of channel's settings, if there is one still current: true
 * and *settings filled.  Else false, and the caller reads them (with a
 * snapshot taken after this call) and may hand them to Put.
 */
extern bool
OrderingSettingsCacheGet(const char *channel, OrderingSettings *settings);

/*
 * Keeps what the caller read after a Get that returned false, for a
 * channel that exists here with Raft state; only when the tables were
 * watched (StoreReadChannel's *watched).
 */
extern void
OrderingSettingsCachePut(const char *channel, const OrderingSettings *settings);

#endif /* ORDERING_SQL_SETTINGS_CACHE_H */
