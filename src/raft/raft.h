/*-------------------------------------------------------------------------
 *
 * raft.h
 *	  Public API of the pure Raft core: a deterministic state machine in the
 *	  style of etcd's raft.
 *
 * The core does no I/O, reads no clock and draws randomness only from the
 * seed it is given.  The host drives it:
 *
 *		raft_tick()            on every timer tick
 *		raft_step()            for every message received from a peer
 *		raft_propose*()        for new data
 *		raft_ready_get()       then, in this order:
 *		  0. (optional) send ready.messages[0 .. n_early_messages)
 *		  1. persist ready.snapshot, ready.entries and ready.hard_state
 *		  2. send the other messages (only now: they may depend on step 1)
 *		  3. apply ready.committed in order
 *		raft_advance()         acknowledges the ready: what it persisted
 *		                       is durable (a leader counts its own entries
 *		                       toward commit from here on)
 *
 * Everything a ready points at belongs to the core and stays valid until
 * raft_advance().  The core never calls the host except through the read
 * side of raft_storage.
 *
 * Memory: the core allocates through the heap hooks (raft_heap_set(),
 * libc by default) and checks its invariants through the assertion hook
 * (raft_assert_set_handler(), print and abort() by default).  Every
 * function that can fail returns an int error code (RAFT_OK or a negative
 * RAFT_ERR_*).
 *
 * Configuration changes take effect when the host applies them: at
 * raft_advance() the core applies every RAFT_ENTRY_CONF_CHANGE entry it
 * handed out in ready.committed to its own configuration; the host applies
 * the same change to its own records while applying the entry.
 *
 * This header includes only the C standard library: no PostgreSQL.
 *
 * src/raft/raft.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RAFT_H
#define RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Distinct names for the three kinds of number Raft is made of. */
typedef uint64_t raft_id; /* node id; RAFT_NONE (0) means nobody */
typedef uint64_t raft_term;
typedef uint64_t raft_index;

#define RAFT_NONE ((raft_id) 0)

/* Bounds: everything the core holds or decodes is bounded. */
#define RAFT_MAX_MEMBERS 32 /* voters + learners of one group */
#define RAFT_WIRE_VERSION 2
#define RAFT_WIRE_MAX_BYTES (64u * 1024u * 1024u) /* one encoded message */
#define RAFT_WIRE_MAX_ENTRIES 65536				  /* entries in one message */

/*
 * Every term and index, on the wire and on disk, is below 2^62: far above
 * anything real (a billion elections or entries a second for a century),
 * and low enough that no arithmetic on them overflows.  A message may not
 * raise a node's term by more than RAFT_MAX_TERM_JUMP at once: with
 * PreVote, terms move only with real elections, and a node partitioned
 * from the others for 50 days of one election a millisecond still falls
 * short of 2^32; a peer claiming more is broken or hostile.
 */
#define RAFT_NUMBER_LIMIT (UINT64_C(1) << 62) /* terms, indexes < this */
#define RAFT_MAX_TERM_JUMP (UINT64_C(1) << 32)

/*
 * Error codes.  raft_strerror() names them.
 */
enum
{
	RAFT_OK = 0,
	RAFT_ERR_NOMEM = -1,	   /* malloc failed */
	RAFT_ERR_COMPACTED = -2,   /* storage: index is below the first index */
	RAFT_ERR_UNAVAILABLE = -3, /* storage: index is beyond the last index */
	RAFT_ERR_PROPOSAL_DROPPED = -4,	   /* not leader, no leader, or transfer in
									 * progress */
	RAFT_ERR_CONF_CHANGE_PENDING = -5, /* another change is not yet applied,
										 * or no entry of the leader's term
										 * has committed yet */
	RAFT_ERR_INVALID = -6,	 /* bad argument (unknown node, bad change) */
	RAFT_ERR_MALFORMED = -7, /* decoder: truncated or inconsistent input */
	RAFT_ERR_TOO_LARGE = -8, /* decoder/encoder: over a RAFT_WIRE_* bound */
	RAFT_ERR_VERSION = -9,	 /* decoder: unknown wire version */
	RAFT_ERR_STORAGE = -10,	 /* host storage callback failed */
	RAFT_ERR_SNAPSHOT_OUT_OF_DATE = -11, /* storage: snapshot older than
											 * current */
	RAFT_ERR_OUT_OF_RANGE = -12, /* raft_step: a term or index at or past
									 * RAFT_NUMBER_LIMIT, or a term more than
									 * RAFT_MAX_TERM_JUMP ahead */
	RAFT_ERR_CORRUPT = -13,		 /* raft_node_create: stored state out of
								 * range or inconsistent */
	RAFT_ERR_BUSY = -14,		 /* leader: uncommitted entries exceed
								 * max_uncommitted_bytes; retry later */
	RAFT_ERR_BEHIND = -15		 /* raft_step: the sender's durable state
								 * went back; message dropped, sender told
								 * to recover */
};

/* For the byte limits of raft_options: no limit. */
#define RAFT_UNLIMITED UINT64_MAX

extern const char *raft_strerror(int err);

/*
 * Hooks for an embedding host, process-wide (like canonical/raft's
 * raft_heap): install them before creating nodes, or between calls.
 *
 * The heap: every allocation the core makes (nodes, readies, decoded
 * messages, memory storage) goes through these, with the context given.
 * Allocation failure is a NULL return (the core then returns
 * RAFT_ERR_NOMEM); the core never passes NULL to free or realloc, nor asks
 * realloc for zero bytes.  A host may change the context between calls,
 * e.g. to allocate each group in its own memory context; what one
 * allocation's context was, its free and realloc must still accept.
 */
typedef struct raft_heap
{
	void *context;
	void *(*malloc)(void *context, size_t size);
	void *(*calloc)(void *context, size_t count, size_t size);
	void *(*realloc)(void *context, void *pointer, size_t size);
	void (*free)(void *context, void *pointer);
} raft_heap;

/* Installs heap (copied); NULL restores libc's malloc family. */
extern void raft_heap_set(const raft_heap *heap);
extern void raft_heap_get(raft_heap *heap);

/*
 * The assertion hook: called when an internal invariant of the core does
 * not hold (a bug in the core, or a host breaking the API contract; never
 * input from a peer or from storage, which is refused with an error).  The
 * handler must not return (abort, or longjmp out, as PostgreSQL's
 * elog(ERROR) does); if it returns, the core calls abort().  After it
 * fired, the node it fired in is in an unspecified state: call nothing on
 * it again, not even raft_node_destroy(), and reclaim its memory through
 * the heap (e.g. reset the memory context it was allocated in).  Other
 * nodes are unaffected.  NULL restores the default: print the failed
 * expression and its place to stderr, then abort().
 */
typedef void (*raft_assert_handler)(const char *expression, const char *file,
									int line);

extern void raft_assert_set_handler(raft_assert_handler handler);

typedef enum raft_role
{
	RAFT_FOLLOWER = 0,
	RAFT_PRECANDIDATE = 1,
	RAFT_CANDIDATE = 2,
	RAFT_LEADER = 3
} raft_role;

extern const char *raft_role_name(raft_role role);

typedef enum raft_entry_type
{
	RAFT_ENTRY_NORMAL = 0,	   /* host data (may be empty: the no-op a new
								 * leader appends) */
	RAFT_ENTRY_CONF_CHANGE = 1 /* data is an encoded raft_conf_change */
} raft_entry_type;

typedef struct raft_entry
{
	raft_term term;
	raft_index index;
	raft_entry_type type;
	uint32_t size; /* bytes of data */
	uint8_t *data; /* NULL when size == 0 */
} raft_entry;

/* Who takes part in a group: voters count toward quorum, learners do not. */
typedef struct raft_config
{
	uint32_t n_voters;
	raft_id voters[RAFT_MAX_MEMBERS];
	uint32_t n_learners;
	raft_id learners[RAFT_MAX_MEMBERS];
} raft_config;

typedef enum raft_conf_change_type
{
	RAFT_CONF_ADD_VOTER = 0,   /* add a voter, or promote a learner */
	RAFT_CONF_ADD_LEARNER = 1, /* add a learner (or demote a voter) */
	RAFT_CONF_REMOVE = 2	   /* remove a voter or learner */
} raft_conf_change_type;

typedef struct raft_conf_change
{
	raft_conf_change_type type;
	raft_id node;
	uint32_t context_size; /* host data carried with the change */
	const uint8_t *context;
} raft_conf_change;

/* Durable state: persisted before any message that depends on it is sent. */
typedef struct raft_hard_state
{
	raft_term term;
	raft_id vote;
	raft_index commit;

	/*
	 * Storage-fault recovery (src/raft/README.md, section 5).  All zero: a
	 * host that does not take part; the core then checks nothing.
	 *
	 * incarnation: random and nonzero, chosen by the host when it creates
	 * this node's state for the group, never changed after (a wiped disk
	 * gets a new one).  boot: incremented durably by the host before every
	 * raft_node_create() of this state, starting at 1 (below 2^32); the
	 * core may raise it.  recovering: this node may be behind what it once
	 * acknowledged, so it neither votes nor campaigns until it has caught
	 * up; set by the host (at creation) or by the core, cleared by the
	 * core.
	 */
	uint64_t incarnation;
	uint64_t boot;
	bool recovering;
} raft_hard_state;

/*
 * What a node knows of another member's durable identity, from the last
 * message it accepted from it: the member's incarnation, its life (boot
 * counter << 32 | a random nonce per start), and the highest term it sent
 * (PreVote messages aside).  The host persists these with the hard state
 * (ready.peers) and passes them back at creation (options.peers), so that
 * a member coming back with older state than it once showed is recognised
 * even after this node restarted.
 */
typedef struct raft_peer_record
{
	raft_id id;
	uint64_t incarnation;
	uint64_t boot;
	raft_term term;
} raft_peer_record;

typedef struct raft_snapshot_meta
{
	raft_index index;	/* last index the snapshot covers */
	raft_term term;		/* term of that entry */
	raft_config config; /* configuration in effect at index */
} raft_snapshot_meta;

/* A snapshot: Raft metadata plus host-defined data the core never reads. */
typedef struct raft_snapshot
{
	raft_snapshot_meta meta;
	uint32_t data_size;
	uint8_t *data;
} raft_snapshot;

typedef enum raft_message_type
{
	RAFT_MSG_HUP = 0,  /* local: start an election */
	RAFT_MSG_BEAT = 1, /* local: leader sends heartbeats */
	RAFT_MSG_PROP = 2, /* local: proposal */
	RAFT_MSG_APP = 3,  /* AppendEntries */
	RAFT_MSG_APP_RESP = 4,
	RAFT_MSG_VOTE = 5, /* RequestVote */
	RAFT_MSG_VOTE_RESP = 6,
	RAFT_MSG_PREVOTE = 7,
	RAFT_MSG_PREVOTE_RESP = 8,
	RAFT_MSG_HEARTBEAT = 9,
	RAFT_MSG_HEARTBEAT_RESP = 10,
	RAFT_MSG_SNAP = 11,			   /* InstallSnapshot */
	RAFT_MSG_TIMEOUT_NOW = 12,	   /* leader transfer: campaign at once */
	RAFT_MSG_TRANSFER_LEADER = 13, /* local (or forwarded to the leader) */
	RAFT_MSG_UNREACHABLE = 14,	   /* local: host could not reach a peer */
	RAFT_MSG_SNAP_STATUS = 15,	   /* local: snapshot to a peer failed
								 * (reject) */
	RAFT_MSG_RECOVER = 16,		   /* "your state went back": recover */
	RAFT_MSG_HELLO = 17,		   /* "I (re)started": the sender's identity */
	RAFT_MSG_TYPE_COUNT = 18
} raft_message_type;

/*
 * One message.  Field meaning by type (after the Raft paper's figures):
 *	APP:        index/log_term = prevLogIndex/prevLogTerm, entries, commit
 *	APP_RESP:   index = last index matched (or, if reject, the rejected
 *	            index), reject, reject_hint/log_term = conflict hint
 *	VOTE, PREVOTE: index/log_term = candidate's last log index/term;
 *	            context = 1 when campaigning for a leader transfer
 *	*_RESP:     reject = vote not granted
 *	HEARTBEAT:  commit = min(leader commit, follower match), log_term =
 *	            the leader's term of that entry (the follower commits it
 *	            only if its own entry there has that term)
 *	HEARTBEAT_RESP: reject = the follower lacks that entry: it lost what
 *	            it acknowledged, and the leader probes it again
 *	SNAP:       snapshot
 *	RECOVER:    context = a life of the receiver (its from_boot); reject =
 *	            that life is behind what the sender saw of it (else the
 *	            leader only answers a member that says it recovers);
 *	            commit = the highest boot counter the sender has seen of
 *	            the receiver; index/log_term = the recovery target (from
 *	            the leader; 0 otherwise)
 *	HELLO:      nothing but the sender's identity and durable term: sent
 *	            to every member when a node starts, so that each knows its
 *	            newest life at once (no answer)
 * Every message carries the sender's identity: from_incarnation, from_boot
 * (its life: boot counter << 32 | nonce) and whether it is recovering, or
 * has recovered in this life (never both).
 */
typedef struct raft_message
{
	raft_message_type type;
	raft_id from;
	raft_id to;
	raft_term term; /* sender's term; 0 for local messages */
	raft_term log_term;
	raft_index index;
	raft_index commit;
	bool reject;
	raft_index reject_hint;
	uint64_t context;
	uint64_t from_incarnation; /* 0: the sender checks nothing */
	uint64_t from_boot;
	bool recovering; /* the sender waits to catch up */
	bool recovered;	 /* the sender caught up since it started */
	uint32_t n_entries;
	raft_entry *entries;
	raft_snapshot *snapshot; /* only for RAFT_MSG_SNAP */
} raft_message;

/*
 * Read side of the host's stable storage.  The core never writes storage:
 * the host persists what a ready hands it, then updates the storage it
 * exposes here.  Pointers returned through these callbacks may be used only
 * until the host next changes its storage; the core copies what it keeps.
 */
typedef struct raft_storage
{
	void *ud;

	/* Term of entry i; RAFT_ERR_COMPACTED / RAFT_ERR_UNAVAILABLE. The term
	 * of first_index - 1 (the snapshot's index) must be answered. */
	int (*term)(void *ud, raft_index i, raft_term *term);

	/* Entries [lo, hi), at least one if any, stopping before max_bytes of
	 * data would be exceeded. */
	int (*entries)(void *ud, raft_index lo, raft_index hi, uint64_t max_bytes,
				   const raft_entry **entries, uint32_t *n);

	raft_index (*first_index)(void *ud); /* snapshot index + 1 */
	raft_index (*last_index)(void *ud);	 /* snapshot index if the log is
											 * empty */

	/* The latest snapshot (index 0 when there is none). */
	int (*snapshot)(void *ud, const raft_snapshot **snapshot);
} raft_storage;

typedef struct raft_options
{
	raft_id id;
	raft_storage storage;
	raft_hard_state hard_state; /* as persisted; zeros for a new node */
	raft_config config;			/* configuration in effect at 'applied' */
	raft_index applied;			/* last index the host has applied */
	uint64_t seed;				/* the only source of randomness; a new
								 * one at every start (it also draws the
								 * nonce of this node's life) */
	uint32_t election_tick;		/* default 10: election timeout is random
								 * in [election_tick, 2 * election_tick) */
	uint32_t heartbeat_tick;	/* default 1 */
	uint64_t max_size_per_msg;	/* bytes of entries per APP; default 1 MiB */
	uint32_t max_inflight_msgs; /* APPs in flight per peer; default 256 */
	uint64_t max_committed_size_per_ready; /* default 16 MiB */

	/*
	 * A leader refuses proposals (RAFT_ERR_BUSY) while the data of the
	 * entries it appended in its term and has not seen committed exceed
	 * this, except when none are pending: a proposal is always admitted
	 * then (etcd's MaxUncommittedEntriesSize).  It bounds what a leader
	 * holds when its followers cannot keep up or are gone.  0 means the
	 * default, 64 MiB: two proposals of the largest size the core takes
	 * (RAFT_WIRE_MAX_BYTES / 2), or some sixty blocks of a megabyte in
	 * flight, which no healthy group needs.  RAFT_UNLIMITED turns it off.
	 */
	uint64_t max_uncommitted_bytes;

	/* The peer records persisted from earlier readies (ready.peers). */
	uint32_t n_peers;
	const raft_peer_record *peers;

	bool disable_pre_vote;	   /* tests only: PreVote is on by default */
	bool disable_check_quorum; /* tests only: CheckQuorum is on by
										 * default */
} raft_options;

/* Per-peer replication progress, as the leader sees it. */
typedef enum raft_progress_state
{
	RAFT_PROGRESS_PROBE = 0,
	RAFT_PROGRESS_REPLICATE = 1,
	RAFT_PROGRESS_SNAPSHOT = 2
} raft_progress_state;

typedef struct raft_progress_status
{
	raft_id id;
	bool is_learner;
	raft_index match;
	raft_index next;
	raft_progress_state state;
	bool recent_active;
	uint32_t inflight;
	raft_index pending_snapshot;
	bool recovering; /* caught up to a recovery target yet? */
} raft_progress_status;

typedef struct raft_status
{
	raft_id id;
	raft_role role;
	raft_id leader;
	raft_hard_state hard_state;
	raft_index applied;
	raft_index first_index;
	raft_index last_index;
	raft_id lead_transferee;
	raft_config config;
	uint64_t uncommitted_bytes; /* leader: counted against
									 * max_uncommitted_bytes */
	uint64_t life;				/* boot counter << 32 | nonce; 0 if the
								 * host takes no part in recovery */
	raft_index recovery_target; /* recovering: caught up once this
										 * index is committed (0: waiting
										 * for a leader to give one) */
	uint32_t n_progress;		/* filled on the leader only */
	raft_progress_status progress[RAFT_MAX_MEMBERS * 2];
} raft_status;

typedef struct raft_ready
{
	/* Soft state: always filled; soft_state_changed tells if it moved. */
	bool soft_state_changed;
	raft_role role;
	raft_id leader;

	bool has_hard_state; /* persist hard_state */
	raft_hard_state hard_state;

	bool has_peers; /* persist peers, with hard_state */
	uint32_t n_peers;
	const raft_peer_record *peers;

	bool has_snapshot; /* persist/install before entries */
	raft_snapshot snapshot;

	/* Append to stable storage, replacing any entries from entries[0].index. */
	uint32_t n_entries;
	raft_entry *entries;

	/* Apply in order, after persisting the above. */
	uint32_t n_committed;
	raft_entry *committed;

	/*
	 * Messages.  The first n_early_messages may be sent before the
	 * snapshot, entries and hard state above are persisted: they are a
	 * leader's appends, heartbeats and snapshots (Raft thesis 10.2.1), and
	 * the leader's own entries count toward commit only once the host has
	 * persisted them and called raft_advance().  The others are sent only
	 * after persisting: votes, answers, acknowledgements.  Sending every
	 * message after persisting is always correct too.
	 */
	uint32_t n_messages;
	uint32_t n_early_messages;
	raft_message *messages;
} raft_ready;

typedef struct raft_node raft_node;

extern int raft_node_create(const raft_options *options, raft_node **node);
extern void raft_node_destroy(raft_node *node);

extern void raft_tick(raft_node *node);
extern int raft_step(raft_node *node, const raft_message *msg);
extern int raft_campaign(raft_node *node);
extern int raft_propose(raft_node *node, const uint8_t *data, uint32_t size);
extern int
raft_propose_conf_change(raft_node *node, const raft_conf_change *change);
extern int raft_transfer_leader(raft_node *node, raft_id to);
extern void raft_report_unreachable(raft_node *node, raft_id peer);
extern void raft_report_snapshot(raft_node *node, raft_id peer, bool failed);

extern bool raft_has_ready(const raft_node *node);
extern int raft_ready_get(raft_node *node, raft_ready *ready);
extern void raft_advance(raft_node *node, const raft_ready *ready);

extern void raft_get_status(const raft_node *node, raft_status *status);

/* Configuration helpers (pure). */
extern bool raft_config_is_voter(const raft_config *config, raft_id id);
extern bool raft_config_is_learner(const raft_config *config, raft_id id);
extern int
raft_config_apply(raft_config *config, const raft_conf_change *change);

/* Wire format: codec.c.  See src/raft/README.md for the layout. */
extern size_t raft_message_encoded_size(const raft_message *msg);
extern int raft_message_encode(const raft_message *msg, uint8_t *buf,
							   size_t capacity, size_t *written);
/* Allocates entries/snapshot; release with raft_message_free(). */
extern int
raft_message_decode(const uint8_t *buf, size_t len, raft_message *msg);
extern void raft_message_free(raft_message *msg);

extern size_t raft_conf_change_encoded_size(const raft_conf_change *change);
extern int raft_conf_change_encode(const raft_conf_change *change, uint8_t *buf,
								   size_t capacity, size_t *written);
/* Zero-copy: change->context points into buf. */
extern int raft_conf_change_decode(const uint8_t *buf, size_t len,
								   raft_conf_change *change);

/*
 * An in-memory raft_storage, like etcd's MemoryStorage: the simulator keeps
 * its "disk" in one, and the PostgreSQL worker mirrors its log table into
 * one so the core never waits on SQL.
 */
typedef struct raft_memory_storage raft_memory_storage;

extern raft_memory_storage *raft_memory_storage_create(void);
extern void raft_memory_storage_destroy(raft_memory_storage *ms);
extern raft_storage raft_memory_storage_view(raft_memory_storage *ms);
/* Appends entries, truncating any conflicting suffix first. */
extern int raft_memory_storage_append(raft_memory_storage *ms,
									  const raft_entry *entries, uint32_t n);
/* Replaces everything with the snapshot (a follower installing one). */
extern int raft_memory_storage_apply_snapshot(raft_memory_storage *ms,
											  const raft_snapshot *snapshot);
/* Records a snapshot at index (<= last index) and drops entries <= index. */
extern int
raft_memory_storage_create_snapshot(raft_memory_storage *ms, raft_index index,
									const raft_config *config,
									const uint8_t *data, uint32_t data_size);
/* Drops entries < index without changing the snapshot. */
extern int
raft_memory_storage_compact(raft_memory_storage *ms, raft_index index);
extern uint64_t raft_memory_storage_size_bytes(const raft_memory_storage *ms);

#endif /* RAFT_H */
