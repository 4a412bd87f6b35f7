/*-------------------------------------------------------------------------
 *
 * limits.h
 *	  Fixed bounds shared by every part of the PostgreSQL side of the
 *	  ordering extension.
 *
 * src/common/limits.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_LIMITS_H
#define ORDERING_LIMITS_H

/* Names are PostgreSQL identifiers' length: channel and node names fit. */
#define ORDERING_NAME_MAX NAMEDATALEN

/* Bounds of shared structures. */
#define ORDERING_MAX_PEERS 32 /* = RAFT_MAX_MEMBERS */
#define ORDERING_MAX_ADMIN_REQUESTS 16
#define ORDERING_ADMIN_ARG_MAX 4096
#define ORDERING_ERROR_MESSAGE_MAX 256
#define ORDERING_TX_ID_MAX 256 /* bytes of a transaction id */

/*
 * An advisory lock (class, hashtext(channel), kind), which pg_locks shows
 * with objsubid = kind: held by a channel's catch-up in its background
 * worker for its whole transaction (one pull of a channel at a time;
 * drop_channel finds the worker by it).  No SQL function takes kind 3.
 */
#define ORDERING_CATCHUP_LOCK_CLASS 28525
#define ORDERING_CATCHUP_LOCK_KIND 3

/* Bytes of a consenter's connection string. */
#define ORDERING_CONNINFO_MAX 1024

/*
 * A page of ordering.peer_blocks(): at most this many blocks, and no block
 * after the first that starts once the page holds this many bytes (so a
 * page is at most this plus one block).
 */
#define ORDERING_PEER_PAGE_BLOCKS 1000
#define ORDERING_PEER_PAGE_BYTES (16 * 1024 * 1024)

#endif /* ORDERING_LIMITS_H */
