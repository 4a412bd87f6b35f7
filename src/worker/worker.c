/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The ordering background worker: one event loop running the Raft
 *	  group of every channel this node serves (multi-Raft).
 *
 * The loop is shaped like the logical replication launcher's: check for
 * interrupts, work in a per-iteration memory context that is reset, reload
 * the configuration on SIGHUP, compute the next deadline and wait.  It
 * waits on one long-lived WaitEventSet holding the latch, postmaster death
 * and the transport's peer sockets; the set is rebuilt only when the
 * transport says its sockets changed.
 *
 * Each iteration: tick channels that are due, drain the submit ring into
 * the channels, hand received peer messages to them, take admin requests,
 * handle each channel's readies, drive the transport, publish status.
 *
 * Channels are isolated: an ERROR inside one channel's work is caught,
 * its transaction aborted, and that channel alone is rebuilt from its
 * tables after a backoff.  No transaction is ever open while waiting.
 *
 * src/worker/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "common/clock.h"
#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/names.h"
#include "common/node_roles.h"
#include "common/shmem.h"
#include "store/genesis.h"
#include "store/spi.h"
#include "worker/channel.h"
#include "worker/channel_bgworker.h"
#include "worker/heap_trim.h"
#include "worker/rejections.h"
#include "worker/transport.h"
#include "worker/worker_internal.h"

PGDLLEXPORT void OrderingWorkerMain(Datum main_arg);

/* How often channels are reread even without a reload request. */
#define WORKER_RELOAD_INTERVAL_MS 5000
/* How often the worker looks for the extension while it does not exist. */
#define WORKER_EXTENSION_POLL_MS 5000
/*
 * Bounds of one iteration, so that no source starves the others: a pass
 * that took 100,000 queued transactions ran for over a second without
 * hearing its peers.
 */
#define WORKER_MAX_SUBMITS_PER_ITERATION 2000

typedef struct ChannelSlot
{
	char name[ORDERING_NAME_MAX]; /* hash key */
	Channel *channel;
} ChannelSlot;

static MemoryContext worker_cxt;	/* the worker's lifetime */
static MemoryContext iteration_cxt; /* reset every loop iteration */

/* Channels by status slot, and by name. */
static Channel **channels;
static HTAB *channels_by_name;

static WaitEventSet *wait_set;
static WaitEvent *wait_events;
static int wait_events_max;

/*
 * The peers' sockets alone, looked at without waiting whenever the wait
 * above returned for the latch (worker_wait).  Its first event is a latch
 * nobody sets, so that the sockets sit at the same positions in both sets.
 */
static WaitEventSet *socket_set;
static Latch never_set_latch;

static TimestampTz next_reload_at;

/* ----------------------------------------------------------------
 * Publishing the worker in shared memory
 * ----------------------------------------------------------------
 */

static void
worker_on_exit(int code, Datum arg)
{
	/* An ERROR turned FATAL may have left the lock held. */
	LWLockReleaseAll();
	TransportShutdown();

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	if (ordering_shared->worker_pid == MyProcPid)
	{
		ordering_shared->worker_pid = 0;
		ordering_shared->worker_latch = NULL;
		ordering_shared->worker_ready = false;
		for (int i = 0; i < ordering_shared->max_channels; i++)
			ordering_shared->status[i].in_use = false;
	}
	LWLockRelease(&ordering_shared->lock);

	/* Nobody will answer now: let waiting backends notice. */
	ConditionVariableBroadcast(&ordering_shared->applied_cv);
	ConditionVariableBroadcast(&ordering_shared->queue_cv);
	ConditionVariableBroadcast(&ordering_shared->admin_cv);
}

static void
worker_publish(void)
{
	if (ordering_shared == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ordering shared memory is not initialized")));

	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	if (ordering_shared->worker_pid != 0 &&
		ordering_shared->worker_pid != MyProcPid)
	{
		pid_t other = ordering_shared->worker_pid;

		LWLockRelease(&ordering_shared->lock);
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("another ordering worker is running with PID %d",
						(int) other)));
	}
	ordering_shared->worker_pid = MyProcPid;
	ordering_shared->worker_latch = MyLatch;
	ordering_shared->worker_ready = false;
	ordering_shared->worker_generation++;
	LWLockRelease(&ordering_shared->lock);

	before_shmem_exit(worker_on_exit, (Datum) 0);
}

static void
worker_set_ready(bool ready)
{
	LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
	ordering_shared->worker_ready = ready;
	LWLockRelease(&ordering_shared->lock);
}

static void
step_destroy(Channel *ch, void *arg)
{
	ChannelTellMembersDropped(ch);
	ChannelDestroy(ch);
}

/* ----------------------------------------------------------------
 * The set of channels
 * ----------------------------------------------------------------
 */

static Channel *
worker_find_channel(const char *name)
{
	char key[ORDERING_NAME_MAX];
	ChannelSlot *slot;

	strlcpy(key, name, sizeof(key));
	slot = hash_search(channels_by_name, key, HASH_FIND, NULL);
	return slot != NULL ? slot->channel : NULL;
}

static void
worker_add_channel(const char *name, int n_book, const ChannelMember *book)
{
	int free_slot = -1;
	Channel *ch;
	ChannelSlot *entry;
	char key[ORDERING_NAME_MAX];

	for (int i = 0; i < ordering_max_channels; i++)
		if (channels[i] == NULL)
		{
			free_slot = i;
			break;
		}
	if (free_slot < 0)
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("channel \"%s\" is not served: more than %d channels",
						name, ordering_max_channels),
				 errhint("Raise ordering.max_channels.")));
		return;
	}

	ch = ChannelCreate(name, free_slot, worker_cxt);
	channels[free_slot] = ch;
	strlcpy(key, name, sizeof(key));
	entry = hash_search(channels_by_name, key, HASH_ENTER, NULL);
	entry->channel = ch;
	if (n_book > 0)
		ChannelSetAddressBook(ch, n_book, book);
	WorkerStartChannel(ch);
}

static void
worker_remove_channel(Channel *ch)
{
	char key[ORDERING_NAME_MAX];

	elog(LOG, "channel \"%s\" is no longer served", ch->state.name);
	strlcpy(key, ch->state.name, sizeof(key));
	hash_search(channels_by_name, key, HASH_REMOVE, NULL);
	channels[ch->status_slot] = NULL;
	/* After an ERROR its node is gone or discarded: no core call is left. */
	if (WorkerGuard(ch, step_destroy, NULL, false) != NULL)
		ChannelDestroy(ch);
}

static bool extension_exists;

static void
step_list_channels(Channel *unused, void *arg)
{
	List **names = arg;

	StoreBegin();
	extension_exists = StoreExtensionExists();
	if (extension_exists)
		*names = StoreChannelNames();
	else
		*names = NIL;
	StoreCommit();
}

/* Peer nodes some channel needed at the last reload pass (worker_cxt). */
static List *needed_peers = NIL;

static bool
worker_name_in(List *names, const char *name)
{
	ListCell *lc;

	foreach(lc, names)
		if (strcmp((const char *) lfirst(lc), name) == 0)
			return true;
	return false;
}

static void
worker_need_peer(List **names, const char *node)
{
	if (strcmp(node, ordering_node_name) != 0 && !worker_name_in(*names, node))
		*names = lappend(*names, pstrdup(node));
}

/*
 * Closes the connection of every peer that no channel needs any more
 * (removed from all its channels, or its channels dropped).
 */
static void
worker_forget_unneeded_peers(void)
{
	MemoryContext old = MemoryContextSwitchTo(worker_cxt);
	List *names = NIL;
	ListCell *lc;

	for (int i = 0; i < ordering_max_channels; i++)
	{
		Channel *ch = channels[i];

		/* A node removed from a channel talks to nobody about it. */
		if (ch == NULL || ch->state.removed)
			continue;
		for (int m = 0; m < ch->state.n_members; m++)
			worker_need_peer(&names, ch->state.members[m].node);
		for (int m = 0; m < ch->joining.n_book; m++)
			worker_need_peer(&names, ch->joining.book[m].node);
	}
	foreach(lc, needed_peers)
	{
		const char *node = lfirst(lc);

		if (!worker_name_in(names, node))
		{
			elog(LOG,
				 "no channel needs ordering node \"%s\" any more; closing its connection",
				 node);
			TransportForgetPeer(node);
		}
	}
	list_free_deep(needed_peers);
	needed_peers = names;
	MemoryContextSwitchTo(old);
}

/*
 * Rereads ordering.channels: creates runtimes for new channels, drops
 * those of channels that are gone (all of them if the extension was
 * dropped).  Returns true if the channels were read and the extension
 * exists; nothing is dropped when reading fails.
 */
static bool
worker_reload_channels(void)
{
	List *names = NIL;
	ListCell *lc;
	Channel dummy;
	ErrorData *edata;

	memset(&dummy, 0, sizeof(dummy));
	strlcpy(dummy.state.name, "(channel list)", sizeof(dummy.state.name));
	edata = WorkerGuard(&dummy, step_list_channels, &names, false);
	if (edata != NULL)
		return false;

	for (int i = 0; i < ordering_max_channels; i++)
		if (channels[i] != NULL)
			channels[i]->seen = false;
	foreach(lc, names)
	{
		const char *name = lfirst(lc);
		Channel *ch = worker_find_channel(name);

		if (ch == NULL)
		{
			worker_add_channel(name, 0, NULL);
			ch = worker_find_channel(name);
		}
		if (ch != NULL)
			ch->seen = true;
	}
	for (int i = 0; i < ordering_max_channels; i++)
		if (channels[i] != NULL && !channels[i]->seen)
			worker_remove_channel(channels[i]);
	worker_forget_unneeded_peers();
	return extension_exists;
}

/* ----------------------------------------------------------------
 * Inputs: submissions, peer messages, admin requests
 * ----------------------------------------------------------------
 */

typedef struct SubmitArg
{
	SubmitRecord record;
	TimestampTz now;
} SubmitArg;

static void
step_submit(Channel *ch, void *arg)
{
	SubmitArg *a = arg;

	ChannelSubmit(ch, &a->record, a->now);
}

/* Returns true if the ring may hold more (the budget ran out). */
static bool
worker_drain_submissions(TimestampTz now)
{
	StringInfoData buf;
	SubmitArg a;
	int n = 0;
	bool more = false;

	initStringInfo(&buf);
	a.now = now;
	while (OrderingSubmitDequeue(&buf, &a.record))
	{
		Channel *ch = worker_find_channel(a.record.channel);

		if (ch != NULL)
			WorkerGuard(ch, step_submit, &a, false);
		else
			elog(LOG,
				 "transaction %s submitted to unknown channel \"%s\" was dropped",
				 a.record.tx_id, a.record.channel);
		if (++n >= WORKER_MAX_SUBMITS_PER_ITERATION)
		{
			more = true;
			break;
		}
	}
	if (n > 0)
		ConditionVariableBroadcast(&ordering_shared->queue_cv);
	return more;
}

typedef struct ReceiveArg
{
	const char *from_node;
	const char *session_role;
	OrderingRecordKind kind;
	const uint8 *block0;
	const char *data;
	Size len;
	TimestampTz now;
} ReceiveArg;

static void
step_receive(Channel *ch, void *arg)
{
	ReceiveArg *a = arg;

	ChannelReceive(ch, a->from_node, a->session_role, a->kind, a->block0,
				   a->data, a->len, a->now);
}

/* ----------------------------------------------------------------
 * Joining channels this node does not have yet
 * ----------------------------------------------------------------
 */

/* A record for a channel this node does not serve, dropped. */
static void
worker_reject_unknown(const char *from_node, const char *channel,
					  const char *reason, const char *detail)
{
	OrderingTransportCount(ORDERING_COUNT_UNKNOWN_CHANNEL_RECORDS);
	RejectionReport(from_node,
					OrderingChannelNameIsValid(channel) ? channel
														: "(invalid name)",
					reason, detail);
}

/*
 * The role this node logs in as in the channels it serves, when one of
 * them names another role than role; NULL when none does.
 */
static const char *
worker_own_role_conflict(const char *role)
{
	for (int i = 0; i < ordering_max_channels; i++)
	{
		const char *own;

		if (channels[i] == NULL)
			continue;
		own = ChannelOwnUser(channels[i]);
		if (own != NULL && (role == NULL || strcmp(own, role) != 0))
			return own;
	}
	return NULL;
}

typedef struct GenesisArg
{
	const char *from_node;
	const char *session_role;
	const char *channel;
	const char *data;
	Size len;
	int n_book;
	ChannelMember *book;
	char *refusal;
	bool created;
} GenesisArg;

/*
 * Creates the channel from a GENESIS record when the record may be taken
 * (ChannelGenesisRefusal) and names this node with its one role.
 */
static void
step_join(GenesisArg *a)
{
	ChannelMember *genesis_members =
		palloc0(sizeof(ChannelMember) * RAFT_MAX_MEMBERS);
	int n_genesis;
	char *genesis;
	const char *conflict;
	bool before_election;
	MemoryContext cxt = CurrentMemoryContext; /* outlives the transaction */

	StoreBegin();
	if (!StoreExtensionExists())
	{
		StoreCommit();
		a->refusal = pstrdup("The extension does not exist here.");
		return;
	}
	genesis = StoreParseGenesisRecord(a->data, a->len, &a->n_book, a->book,
									  &before_election, cxt);
	n_genesis = StoreDocumentConsenters(genesis, genesis_members, cxt);
	a->refusal = ChannelGenesisRefusal(a->from_node, a->session_role, a->n_book,
									   a->book, n_genesis, genesis_members);
	for (int i = 0; a->refusal == NULL && i < a->n_book; i++)
	{
		if (strcmp(a->book[i].node, ordering_node_name) != 0)
			continue;
		/* A copy: looking up the other channels' roles may evict it. */
		conflict =
			worker_own_role_conflict(OrderingConninfoUser(a->book[i].conninfo));
		if (conflict != NULL)
			a->refusal =
				psprintf("It names this node with another role than \"%s\", its role in the other channels here.",
						 conflict);
	}
	if (a->refusal == NULL)
	{
		StoreInstallGenesis(a->channel, genesis,
							before_election ? NULL : STORE_JOIN_RECOVERING);
		a->created = true;
	}
	StoreCommit();
}

/*
 * A GENESIS record for a channel this node lacks.  Anybody holding a peer
 * credential can send one, so a failure (malformed, refused) is counted
 * and logged at most once a minute, like any dropped record.
 */
static void
worker_join_channel(const char *from_node, const char *session_role,
					const char *channel, const char *data, Size len)
{
	MemoryContext cxt = CurrentMemoryContext;
	GenesisArg a;

	memset(&a, 0, sizeof(a));
	a.from_node = from_node;
	a.session_role = session_role;
	a.channel = channel;
	a.data = data;
	a.len = len;
	a.book = palloc0(sizeof(ChannelMember) * RAFT_MAX_MEMBERS);
	PG_TRY();
	{
		step_join(&a);
	}
	PG_CATCH();
	{
		/* Not reported: the rejection is, at most once a minute. */
		a.refusal = WorkerRecover(cxt, false)->message;
		a.created = false;
	}
	PG_END_TRY();
	if (!a.created)
	{
		worker_reject_unknown(from_node, channel, "GENESIS refused", a.refusal);
		return;
	}
	ereport(LOG,
			(errmsg("joined channel \"%s\" with its genesis from node \"%s\"",
					channel, from_node)));
	worker_add_channel(channel, a.n_book, a.book);
}

static void
worker_on_record(void *arg, const char *from_node, const char *session_role,
				 const char *channel, OrderingRecordKind kind,
				 const uint8 *block0, const char *data, Size len)
{
	Channel *ch;
	ReceiveArg a;

	if (!OrderingChannelNameIsValid(channel))
	{
		worker_reject_unknown(from_node, channel, "invalid channel name", NULL);
		return;
	}
	ch = worker_find_channel(channel);
	if (ch == NULL)
	{
		/*
		 * A channel this node does not serve (yet): only a genesis push
		 * naming the sender and this node brings it in.
		 */
		if (kind == ORDERING_RECORD_GENESIS)
			worker_join_channel(from_node, session_role, channel, data, len);
		else
			worker_reject_unknown(from_node, channel,
								  "record for a channel this node does not serve",
								  NULL);
		return;
	}
	a.from_node = from_node;
	a.session_role = session_role;
	a.kind = kind;
	a.block0 = block0;
	a.data = data;
	a.len = len;
	a.now = *(TimestampTz *) arg;
	/* A malformed record from a peer must not break the channel. */
	WorkerGuard(ch, step_receive, &a, false);
}

typedef struct AdminArg
{
	int slot;
	OrderingAdminRequest *request;
	bool taken; /* false: to be taken again */
} AdminArg;

static void
step_admin(Channel *ch, void *arg)
{
	AdminArg *a = arg;

	a->taken = ChannelTakeAdminRequest(ch, a->slot, a->request);
}

static void
worker_take_admin_requests(void)
{
	OrderingAdminRequest *req = palloc(sizeof(OrderingAdminRequest));

	for (int slot = 0; slot < ORDERING_MAX_ADMIN_REQUESTS; slot++)
	{
		bool taken = false;
		Channel *ch;
		AdminArg a;
		ErrorData *edata;

		LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
		if (ordering_shared->admin[slot].state == ORDERING_ADMIN_PENDING)
		{
			memcpy(req, &ordering_shared->admin[slot], sizeof(*req));
			ordering_shared->admin[slot].state = ORDERING_ADMIN_WORKING;
			taken = true;
		}
		LWLockRelease(&ordering_shared->lock);
		if (!taken)
			continue;

		req->channel[sizeof(req->channel) - 1] = '\0';
		req->node[sizeof(req->node) - 1] = '\0';
		req->arg[sizeof(req->arg) - 1] = '\0';
		ch = worker_find_channel(req->channel);
		if (ch == NULL)
		{
			ChannelAnswerAdmin(slot, req->ticket, ERRCODE_UNDEFINED_OBJECT,
							   psprintf("channel \"%s\" does not exist",
										req->channel),
							   -1);
			continue;
		}
		a.slot = slot;
		a.request = req;
		a.taken = true;
		edata = WorkerGuard(ch, step_admin, &a, false);
		if (edata != NULL)
			ChannelAnswerAdmin(slot, req->ticket, edata->sqlerrcode,
							   edata->message, -1);
		else if (!a.taken)
		{
			/* Back to PENDING, unless its backend gave up meanwhile. */
			LWLockAcquire(&ordering_shared->lock, LW_EXCLUSIVE);
			if (ordering_shared->admin[slot].ticket == req->ticket &&
				ordering_shared->admin[slot].state == ORDERING_ADMIN_WORKING)
				ordering_shared->admin[slot].state = ORDERING_ADMIN_PENDING;
			LWLockRelease(&ordering_shared->lock);
		}
	}
}

/* ----------------------------------------------------------------
 * Waiting
 * ----------------------------------------------------------------
 */

static void
worker_build_wait_set(void)
{
	if (wait_set != NULL)
		FreeWaitEventSet(wait_set);
	if (socket_set != NULL)
		FreeWaitEventSet(socket_set);
	if (wait_events != NULL)
		pfree(wait_events);
	if (never_set_latch.owner_pid == 0)
		InitLatch(&never_set_latch);

	wait_events_max = 2 + TransportMaxWaitEvents();
	wait_set = CreateWaitEventSet(worker_cxt, wait_events_max);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL,
					  NULL);
	TransportAddWaitEvents(wait_set);
	socket_set = CreateWaitEventSet(worker_cxt, wait_events_max);
	AddWaitEventToSet(socket_set, WL_LATCH_SET, PGINVALID_SOCKET,
					  &never_set_latch, NULL);
	AddWaitEventToSet(socket_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL,
					  NULL);
	TransportAddWaitEvents(socket_set);
	wait_events =
		MemoryContextAlloc(worker_cxt, sizeof(WaitEvent) * wait_events_max);
}

/* Returns whether the latch was among the events. */
static bool
worker_handle_events(int n)
{
	bool latch_set = false;

	for (int i = 0; i < n; i++)
	{
		const WaitEvent *event = &wait_events[i];

		if (event->events & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			latch_set = true;
		}
		else if (event->events & WL_POSTMASTER_DEATH)
			proc_exit(1); /* WL_EXIT_ON_PM_DEATH exits first */
		else
			TransportHandleEvent(event);
	}
	return latch_set;
}

/*
 * Handles whatever the peers' sockets have ready, without waiting.  (Not
 * when events handled since the sets were built changed the peers: their
 * positions are stale then.)
 */
static void
worker_poll_sockets(void)
{
	if (socket_set == NULL || TransportWaitSetChanged() ||
		TransportMaxWaitEvents() == 0)
		return;
	(void) worker_handle_events(WaitEventSetWait(socket_set, 0, wait_events,
												 wait_events_max,
												 PG_WAIT_EXTENSION));
}

static void
worker_wait(long timeout_ms)
{
	int n;

	if (wait_set == NULL || TransportWaitSetChanged())
		worker_build_wait_set();

	n = WaitEventSetWait(wait_set, timeout_ms, wait_events, wait_events_max,
						 PG_WAIT_EXTENSION);

	/*
	 * A set latch makes WaitEventSetWait return at once without looking at
	 * the sockets.  Under load it is nearly always set (every submit sets
	 * it), and the answers of the peers' deliver() calls, without which the
	 * next envelope to them cannot go, waited for a moment without one: up
	 * to 2 s with 64 clients on one channel, long enough for the other
	 * nodes to elect new leaders for this node's quiet channels.  (Not
	 * when the events just handled changed the peers: the sets are stale.)
	 */
	if (worker_handle_events(n))
		worker_poll_sockets();
}

static void
worker_process_config(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* Waits until CREATE EXTENSION ordering has committed in our database. */
static void
worker_wait_for_extension(void)
{
	bool logged = false;

	for (;;)
	{
		bool exists;

		CHECK_FOR_INTERRUPTS();
		worker_process_config();

		StoreBegin();
		exists = StoreExtensionExists();
		StoreCommit();
		if (exists)
			return;

		if (!logged)
		{
			ereport(LOG,
					(errmsg("ordering worker waiting for the extension to be created in database \"%s\"",
							ordering_database)));
			logged = true;
		}
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WORKER_EXTENSION_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Without ordering.node_name this server is nobody: it serves no channel,
 * answers no peer (deliver() refuses) and sends nothing.  The setting
 * takes a restart, so the worker waits for its end.
 */
static void
worker_idle_without_name(void)
{
	if (ordering_node_name[0] != '\0')
		return;
	ereport(WARNING,
			(errmsg("ordering.node_name is not set: this server takes part in no channel"),
			 errhint(ORDERING_NODE_NAME_HINT)));
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		worker_process_config();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ----------------------------------------------------------------
 * The loop
 * ----------------------------------------------------------------
 */

static void
worker_setup(void)
{
	HASHCTL ctl;

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "ordering worker",
									   ALLOCSET_DEFAULT_SIZES);
	iteration_cxt =
		AllocSetContextCreate(worker_cxt, "ordering worker iteration",
							  ALLOCSET_DEFAULT_SIZES);
	channels = MemoryContextAllocZero(worker_cxt,
									  sizeof(Channel *) * ordering_max_channels);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = ORDERING_NAME_MAX;
	ctl.entrysize = sizeof(ChannelSlot);
	ctl.hcxt = worker_cxt;
	channels_by_name =
		hash_create("ordering channels", ordering_max_channels, &ctl,
					HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	TransportInit();
	/* From now on the core allocates in the channel it is called for. */
	ChannelRaftHooksInstall();
}

/* One pass over every input and every channel; returns the wait time. */
static long
worker_iteration(void)
{
	TimestampTz now = OrderingClockNow();
	long timeout_ms;
	bool busy = false;
	long transport_ms;

	/* Channels created or dropped, or simply time to look again. */
	if (pg_atomic_exchange_u32(&ordering_shared->reload_channels, 0) != 0 ||
		now >= next_reload_at)
	{
		worker_set_ready(worker_reload_channels());
		next_reload_at = TimestampTzPlusMilliseconds(OrderingClockNow(),
													 WORKER_RELOAD_INTERVAL_MS);
		now = OrderingClockNow();
	}

	WorkerTickChannels(channels, ordering_max_channels, now);

	busy |= worker_drain_submissions(now);
	TransportReceive(worker_on_record, &now);
	worker_take_admin_requests();

	WorkerRunReadies(channels, ordering_max_channels, now);

	/*
	 * A long pass (a full budget of submissions, many readies) would
	 * otherwise leave the peers' answers unread until the wait after it,
	 * and the next envelope to a peer waits for the last one's answer.
	 */
	worker_poll_sockets();
	TransportPoll();

	/* Publish, and find the next deadline. */
	ChannelPublishNodeRoles(channels, ordering_max_channels);
	now = OrderingClockNow();
	timeout_ms =
		WorkerPublishChannels(channels, ordering_max_channels, now,
							  TimestampDifferenceMilliseconds(now,
															  next_reload_at));
	transport_ms = TransportNextTimeoutMs();
	if (transport_ms >= 0)
		timeout_ms = Min(timeout_ms, transport_ms);
	return busy ? 0 : Max(timeout_ms, 0);
}

void
OrderingWorkerMain(Datum main_arg)
{
	OrderingBgWorkerSignals();

	BackgroundWorkerInitializeConnection(ordering_database, NULL, 0);
	pgstat_report_appname("ordering worker");

	StorePinWorkerSession();

	worker_publish();
	worker_setup();
	worker_wait_for_extension();
	worker_idle_without_name();
	ereport(LOG,
			(errmsg("ordering worker started as node \"%s\" in database \"%s\"",
					ordering_node_name, ordering_database)));

	next_reload_at = 0;
	for (;;)
	{
		long timeout_ms;

		CHECK_FOR_INTERRUPTS();
		worker_process_config();

		MemoryContextReset(iteration_cxt);
		MemoryContextSwitchTo(iteration_cxt);
		pgstat_report_activity(STATE_RUNNING, NULL);
		timeout_ms = worker_iteration();
		pgstat_report_activity(STATE_IDLE, NULL);

		Assert(!IsTransactionState());
		/*
		 * perf: flush our table statistics (rate-limited inside), as
		 * PostgresMain does before going idle.  Without it autovacuum never
		 * saw the worker's inserts and deletes: ordering.* tables were never
		 * analyzed or vacuumed (deleted log rows piled up).
		 */
		(void) pgstat_report_stat(false);
		WorkerTrimHeap(OrderingClockNow());
		worker_wait(timeout_ms);
	}
}
