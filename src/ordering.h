/*-------------------------------------------------------------------------
 *
 * ordering.h
 *	  Settings and limits shared by every part of the PostgreSQL side of the
 *	  ordering extension.
 *
 * The GUC variables are defined in ordering.c; each is documented there and
 * in the README.
 *
 * src/ordering.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_H
#define ORDERING_H

#include "postgres.h"

/* Names are PostgreSQL identifiers' length: channel and node names fit. */
#define ORDERING_NAME_MAX NAMEDATALEN

/* Bounds of shared structures. */
#define ORDERING_MAX_PEERS 32	/* = RAFT_MAX_MEMBERS */
#define ORDERING_MAX_ADMIN_REQUESTS 16
#define ORDERING_ADMIN_ARG_MAX 4096
#define ORDERING_ERROR_MESSAGE_MAX 256
#define ORDERING_TX_ID_MAX 256	/* bytes of a transaction id */

/* Settings (ordering.c). */
extern char *ordering_node_name;	/* ordering.node_name */
extern char *ordering_database; /* ordering.database */
extern int	ordering_tick_interval_ms;	/* ordering.tick_interval */
extern int	ordering_submit_timeout_ms; /* ordering.submit_timeout */
extern int	ordering_max_channels;	/* ordering.max_channels */
extern int	ordering_submit_queue_kb;	/* ordering.submit_queue_size */
extern int	ordering_inbox_kb;	/* ordering.inbox_size */
extern int	ordering_peer_buffer_kb;	/* ordering.peer_buffer_size */
extern int	ordering_reconnect_min_ms;	/* ordering.reconnect_min */
extern int	ordering_reconnect_max_ms;	/* ordering.reconnect_max */

/* Channel configuration defaults (keys of create_channel's config). */
#define ORDERING_DEFAULT_MAX_MESSAGE_COUNT 500
#define ORDERING_DEFAULT_ABSOLUTE_MAX_BYTES (10 * 1024 * 1024)
#define ORDERING_DEFAULT_PREFERRED_MAX_BYTES (2 * 1024 * 1024)
#define ORDERING_DEFAULT_BATCH_TIMEOUT_MS 200
#define ORDERING_DEFAULT_SNAPSHOT_INTERVAL_BYTES (16 * 1024 * 1024)
#define ORDERING_DEFAULT_ELECTION_TICK 10
#define ORDERING_DEFAULT_HEARTBEAT_TICK 1

#endif							/* ORDERING_H */
