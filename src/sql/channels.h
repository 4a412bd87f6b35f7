/*-------------------------------------------------------------------------
 *
 * channels.h
 *	  What the admin functions do, for ordering.relay_admin() too.
 *
 * src/sql/channels.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SQL_CHANNELS_H
#define ORDERING_SQL_CHANNELS_H

#include "common/shmem.h"

/*
 * Runs an admin request with the checks of its SQL function, on this
 * node's worker only (a relayed request is never relayed again): arg is
 * the settings document (jsonb text) of UPDATE_CONFIG, the conninfo of
 * ADD_CONSENTER.  Returns the configuration block, or -1.
 */
extern int64 OrderingRunAdminRequest(OrderingAdminKind kind, const char *channel,
									 const char *node, const char *arg);

#endif /* ORDERING_SQL_CHANNELS_H */
