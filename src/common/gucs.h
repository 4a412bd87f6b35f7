/*-------------------------------------------------------------------------
 *
 * gucs.h
 *	  The server settings (GUCs) of the ordering extension.
 *
 * The variables are defined, documented and registered in gucs.c; the
 * README lists them too.
 *
 * src/common/gucs.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_GUCS_H
#define ORDERING_GUCS_H

extern char *ordering_node_name;		   /* ordering.node_name */
extern char *ordering_database;			   /* ordering.database */
extern int ordering_tick_interval_ms;	   /* ordering.tick_interval */
extern int ordering_submit_timeout_ms;	   /* ordering.submit_timeout */
extern int ordering_max_channels;		   /* ordering.max_channels */
extern int ordering_submit_queue_kb;	   /* ordering.submit_queue_size */
extern int ordering_inbox_kb;			   /* ordering.inbox_size */
extern int ordering_max_submit_waits;	   /* ordering.max_submit_waits */
extern int ordering_peer_buffer_kb;		   /* ordering.peer_buffer_size */
extern int ordering_reconnect_min_ms;	   /* ordering.reconnect_min */
extern int ordering_reconnect_max_ms;	   /* ordering.reconnect_max */
extern bool ordering_accept_relayed_admin; /* ordering.accept_relayed_admin */
extern char *ordering_peer_passfile;	   /* ordering.peer_passfile */
extern char *ordering_peer_sslcert;		   /* ordering.peer_sslcert */
extern char *ordering_peer_sslkey;		   /* ordering.peer_sslkey */

/* ordering.debug_break_channel, a test aid */
extern char *ordering_debug_break_channel;
extern bool ordering_debug_hold_catchups; /* test aid: catch-ups wait */
/* ordering.debug_clock_offset, a test aid (common/clock.c) */
extern int ordering_debug_clock_offset_ms;

/* What to do about an unset ordering.node_name (worker log, SQL errors). */
#define ORDERING_NODE_NAME_HINT                                               \
	"Set ordering.node_name in postgresql.conf to this server's name in the channels' consenter sets, and restart the server."

/* _PG_init: defines every ordering.* setting. */
extern void OrderingDefineGucs(void);

#endif /* ORDERING_GUCS_H */
