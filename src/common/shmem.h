/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Shared memory of the ordering extension: what backends and the
 *	  background worker exchange.
 *
 * Backends never touch the Raft state.  They hand work to the worker
 * through bounded queues here and read what the worker publishes:
 *
 *	submit ring   backend -> worker: transactions to order (submit_tx*),
 *	              in fair shares per channel and per backend
 *	inbox ring    ordering.deliver() -> worker: encoded peer messages
 *	admin slots   backend <-> worker: membership, settings, leadership
 *	status        worker -> backends: one row per channel (ordering.status)
 *	submit waits  worker -> backends: the places of awaited transactions
 *
 * A full ring refuses the record (the caller waits or the message is
 * dropped); nothing here ever blocks the worker.
 *
 * src/common/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SHMEM_H
#define ORDERING_SHMEM_H

#include "lib/stringinfo.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "common/limits.h"
#include "common/ring.h"
#include "common/submit_queue.h"
#include "common/submit_waits.h"

/* Admin requests: a backend fills a free slot, the worker answers it. */
typedef enum OrderingAdminKind
{
	ORDERING_ADMIN_UPDATE_CONFIG = 1,	 /* arg: jsonb text of settings */
	ORDERING_ADMIN_ADD_CONSENTER = 2,	 /* node, arg: conninfo */
	ORDERING_ADMIN_REMOVE_CONSENTER = 3, /* node */
	ORDERING_ADMIN_TRANSFER_LEADER = 4,	 /* node */
	ORDERING_ADMIN_UPDATE_CONSENTER = 5	 /* node, arg: conninfo */
} OrderingAdminKind;

typedef enum OrderingAdminState
{
	ORDERING_ADMIN_FREE = 0,
	ORDERING_ADMIN_PENDING = 1, /* filled by a backend, not yet taken */
	ORDERING_ADMIN_WORKING = 2, /* taken by the worker */
	ORDERING_ADMIN_DONE = 3		/* result_* filled; the backend frees it */
} OrderingAdminState;

typedef struct OrderingAdminRequest
{
	int state;	   /* OrderingAdminState */
	int kind;	   /* OrderingAdminKind */
	uint64 ticket; /* unique per request, to detect reuse */
	char channel[ORDERING_NAME_MAX];
	char node[ORDERING_NAME_MAX];
	char arg[ORDERING_ADMIN_ARG_MAX];
	/* Result, valid when DONE: sqlstate 0 means success. */
	int result_sqlstate; /* MAKE_SQLSTATE code or 0 */
	char result_message[ORDERING_ERROR_MESSAGE_MAX];
	int64 result_block; /* the configuration block written, or -1 */
} OrderingAdminRequest;

/* One peer as the leader sees it (ordering.peers). */
typedef struct OrderingPeerStatus
{
	char node[ORDERING_NAME_MAX];
	uint64 raft_id;
	bool is_learner;
	uint64 match_index;
	uint64 next_index;
	int progress_state; /* raft_progress_state */
	bool recent_active;
	uint32 inflight;
	TimestampTz last_contact; /* last message from it; 0 if never */
} OrderingPeerStatus;

/* One channel on this node (ordering.status). */
typedef struct OrderingChannelStatus
{
	bool in_use;
	char channel[ORDERING_NAME_MAX];
	char membership[16]; /* consenter, learner, recovering, archive, none */
	char role[16];		 /* follower, precandidate, candidate, leader */
	uint64 raft_id;
	uint64 term;
	char leader[ORDERING_NAME_MAX]; /* "" when unknown */
	uint64 commit_index;
	uint64 applied_index;
	uint64 snapshot_index;
	int64 last_block;
	/* Counters in the spirit of Fabric's etcdraft metrics. */
	int64 leader_changes;
	int64 proposal_failures;
	int64 committed_block_number;
	int64 data_persist_count;
	double data_persist_total_ms;
	double data_persist_last_ms;
	int64 rejected_records; /* records from peers dropped */
	bool quiesced;			/* idle: no ticks, no heartbeats */
	TimestampTz updated_at;
	char last_error[ORDERING_ERROR_MESSAGE_MAX];
	bool recovering;		/* may be behind what it acknowledged */
	uint64 recovery_target; /* 0: waiting for a leader to give one */
	char recovery[ORDERING_ERROR_MESSAGE_MAX];			/* why it recovers */
	char leader_link_error[ORDERING_ERROR_MESSAGE_MAX]; /* "" when none */
	int n_peers;
	OrderingPeerStatus peers[ORDERING_MAX_PEERS];
} OrderingChannelStatus;

/* Buckets of channel names for OrderingNoteRepeat (collisions are safe). */
#define ORDERING_REPEAT_BUCKETS 64

typedef struct OrderingShared
{
	LWLock lock;			  /* guards everything below but the rings */
	pid_t worker_pid;		  /* 0 when no worker runs */
	Latch *worker_latch;	  /* NULL when no worker runs */
	bool worker_ready;		  /* extension found and channels loaded */
	uint64 worker_generation; /* bumped on each worker start */
	pg_atomic_uint32 reload_channels; /* set by create/drop channel */
	/* When the worker last dropped a resubmitted id, per channel bucket. */
	pg_atomic_uint64 repeats_seen_at[ORDERING_REPEAT_BUCKETS];
	/* Bumped whenever ordering.channels or a raft_state row comes or goes. */
	pg_atomic_uint64 channels_generation;
	uint64 next_ticket;

	/* Broadcast by the worker after each commit that applied blocks. */
	ConditionVariable applied_cv;
	/* Broadcast by the worker after it drained the submit ring. */
	ConditionVariable queue_cv;
	/* Broadcast by the worker when an admin request is DONE. */
	ConditionVariable admin_cv;

	OrderingAdminRequest admin[ORDERING_MAX_ADMIN_REQUESTS];

	OrderingSubmitQueue *submit_queue; /* point into this same segment */
	OrderingRing *inbox_ring;
	OrderingSubmitWaits *submit_waits;

	int max_channels;
	OrderingChannelStatus status[FLEXIBLE_ARRAY_MEMBER];
} OrderingShared;

extern OrderingShared *ordering_shared;
/* True in ordering's own background processes (the worker, catch-ups). */
extern bool ordering_own_process;

/* _PG_init: request space and the LWLock tranche; shmem_startup_hook. */
extern void OrderingShmemRequest(void);
extern void OrderingShmemInit(void);

/* Backends: wake the worker (no-op when none runs). */
extern void OrderingWakeWorker(void);

/*
 * Submit ring records: a backend enqueues a transaction for the worker.
 * Returns false when the ring is full or the channel or this backend holds
 * its share of it (common/submit_queue.h).
 */
extern bool OrderingSubmitEnqueue(const SubmitRecord *record);
/* Worker: pops one record; false when empty.  Pointers are into buf. */
extern bool OrderingSubmitDequeue(StringInfo buf, SubmitRecord *record);

/* Backends: the channel's last block as the worker publishes it, or -1. */
extern int64 OrderingPublishedLastBlock(const char *channel);

/*
 * Resubmissions: the worker notes when it dropped an id a block before
 * held (OrderingNoteRepeat); for ORDERING_REPEAT_WINDOW_MS after that,
 * submitters on that channel look for their ids before enqueueing
 * (OrderingRepeatsRecent).
 */
#define ORDERING_REPEAT_WINDOW_MS 10000
extern void OrderingNoteRepeat(const char *channel, TimestampTz now);
extern bool OrderingRepeatsRecent(const char *channel, TimestampTz now);

/*
 * Backends keep the settings of the channels they submit to
 * (sql/settings_cache.c) while this generation stays the same; the
 * tables' change trigger bumps it.  0 when there is no shared memory.
 */
extern uint64 OrderingChannelsGeneration(void);
extern void OrderingBumpChannelsGeneration(void);

#endif /* ORDERING_SHMEM_H */
