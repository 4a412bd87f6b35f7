/*-------------------------------------------------------------------------
 *
 * channel_read.h
 *	  A channel's settings and whether it has Raft state here, read by key
 *	  (store/keyed.h): what every submit checks first.
 *
 * src/store/channel_read.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_CHANNEL_READ_H
#define ORDERING_STORE_CHANNEL_READ_H

#include "utils/jsonb.h"

/*
 * The channel's row of ordering.channels, under the transaction snapshot
 * (as a statement of the caller would see it): false if there is none;
 * else its config, copied into the current memory context, and whether
 * ordering.raft_state has a row for the channel.
 *
 * *watched says whether both tables carry the extension's change trigger
 * (ordering.channels_changed(), enabled always): while they do, every
 * change to what was read moves OrderingChannelsGeneration().
 */
extern bool StoreReadChannel(const char *channel, Jsonb **config,
							 bool *has_raft_state, bool *watched);

#endif /* ORDERING_STORE_CHANNEL_READ_H */
