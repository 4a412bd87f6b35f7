/*-------------------------------------------------------------------------
 *
 * net.h
 *	  A small in-memory cluster for the Raft core's unit tests: nodes with
 *	  memory storage, a host loop that persists, sends and applies readies
 *	  like a real host, and a FIFO network with cuts and filters.
 *
 * Every message goes through the wire codec (encode, then decode), so the
 * tests also check that what the core emits survives the wire.
 *
 * test/raft/net.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_TEST_NET_H
#define RAFT_TEST_NET_H

#include "raft.h"

#define NET_MAX_NODES 8
#define NET_MAX_ROUNDS 1000 /* bound of every "until quiet" loop */

typedef struct net_applied
{
	raft_index index;
	raft_term term;
	uint8_t type;
	uint32_t size;
	uint8_t first_byte; /* data[0], or 0 */
} net_applied;

typedef struct net_node
{
	raft_id id;
	bool exists;
	bool down; /* crashed: no raft_node, disk kept */
	raft_node *rn;

	/* The "disk". */
	raft_memory_storage *ms;
	raft_hard_state hard_state; /* with incarnation, boot, recovering */
	raft_config config;			/* host's config, in effect at applied */
	raft_index applied;
	uint32_t n_peers; /* peer records, as persisted */
	raft_peer_record peers[RAFT_MAX_MEMBERS];

	/* What the state machine applied, in order. */
	net_applied *log;
	uint32_t n_log;
	uint32_t cap_log;
} net_node;

/* A copy of a node's disk (net_backup / net_restore). */
typedef struct net_disk
{
	raft_memory_storage *ms;
	raft_hard_state hard_state;
	raft_config config;
	raft_index applied;
	uint32_t n_peers;
	raft_peer_record peers[RAFT_MAX_MEMBERS];
	uint32_t n_log;
	net_applied *log;
} net_disk;

/* Return true to drop msg instead of delivering it. */
typedef bool (*net_filter_fn)(const raft_message *msg, void *ud);

typedef struct net
{
	raft_options options;			   /* template for every node */
	bool identity;					   /* hosts take part in recovery (raft.h):
								 * incarnations, boot counters, peers */
	net_node nodes[NET_MAX_NODES + 1]; /* by id */
	bool cut[NET_MAX_NODES + 1][NET_MAX_NODES + 1]; /* from, to */
	net_filter_fn filter;
	void *filter_ud;

	raft_message *queue; /* decoded, in send order */
	uint32_t n_queue;
	uint32_t cap_queue;
	uint64_t delivered;
	uint64_t dropped;
	uint64_t behind; /* deliveries refused with RAFT_ERR_BEHIND */
} net;

/* Options every test starts from: election 10, heartbeat 1. */
extern raft_options net_default_options(void);

/* Creates voters 1..n_voters (all in the config) with options. */
extern void net_init(net *nw, uint32_t n_voters, const raft_options *options);
/* The same, with hosts that keep identities (incarnation, boot, peers). */
extern void
net_init_identity(net *nw, uint32_t n_voters, const raft_options *options);
extern void net_destroy(net *nw);
/* Creates node id with empty storage and the given config. */
extern void net_add(net *nw, raft_id id, const raft_config *config);
/* Creates node id from its disk (after net_crash). */
extern void net_restart(net *nw, raft_id id);
extern void net_crash(net *nw, raft_id id);
/* Replaces id's disk with entries of these terms (1..n) and hard state term. */
extern void net_load(net *nw, raft_id id, const raft_term *terms, uint32_t n,
					 raft_term term);
/*
 * Storage faults.  net_wipe: the disk of a crashed node is replaced by an
 * empty one with a new incarnation and the given configuration, recovering
 * as the host says.  net_backup copies a node's disk; net_restore puts the
 * copy back on a crashed node (the host adds one to its boot counter at the
 * next start, as after any restart).
 */
extern void
net_wipe(net *nw, raft_id id, const raft_config *config, bool recovering);
extern net_disk *net_backup(net *nw, raft_id id);
extern void
net_restore(net *nw, raft_id id, const net_disk *copy, bool recovering);
extern void net_disk_free(net_disk *copy);

/* Term of index in id's stable storage, 0 if absent. */
extern raft_term net_stored_term(net *nw, raft_id id, raft_index index);
extern raft_index net_stored_last(net *nw, raft_id id);

/* Host loop for one node: ready, persist, send, apply, advance. */
extern bool net_process(net *nw, raft_id id);
extern void net_process_all(net *nw);
/* Delivers what is queued now (new messages wait); returns how many. */
extern uint32_t net_deliver(net *nw);
/* Processes and delivers until nothing moves (bounded). */
extern void net_stabilize(net *nw);
extern void net_tick(net *nw, raft_id id, uint32_t ticks);
extern void net_tick_all(net *nw, uint32_t ticks);

/* Elects id (campaign + stabilize); returns true if it became leader. */
extern bool net_elect(net *nw, raft_id id);
extern bool net_propose(net *nw, raft_id id, uint8_t byte);

extern void net_isolate(net *nw, raft_id id);
extern void net_cut(net *nw, raft_id a, raft_id b);
extern void net_heal(net *nw);
extern void net_drop_queue(net *nw);
extern uint32_t net_count(const net *nw, uint8_t type, raft_id from, raft_id to);

extern raft_status net_status(const net *nw, raft_id id);
/* The leader's progress of peer (zeros if none). */
extern raft_progress_status
net_progress(const net *nw, raft_id leader, raft_id peer);
/* A copy of a memory storage: its snapshot and entries. */
extern raft_memory_storage *net_storage_clone(raft_memory_storage *src);
extern raft_node *net_raft(net *nw, raft_id id);
extern raft_config net_config(uint32_t n_voters, uint32_t n_learners);

#endif /* RAFT_TEST_NET_H */
