/*-------------------------------------------------------------------------
 *
 * net.c
 *	  The unit tests' in-memory cluster (see net.h).
 *
 * test/raft/net.c
 *
 *-------------------------------------------------------------------------
 */
#include "net.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
net_die(const char *what, int rc)
{
	fprintf(stderr, "net: %s: %s\n", what, raft_strerror(rc));
	abort();
}

raft_options
net_default_options(void)
{
	raft_options options;

	memset(&options, 0, sizeof(options));
	options.election_tick = 10;
	options.heartbeat_tick = 1;
	options.seed = 42;
	return options;
}

raft_config
net_config(uint32_t n_voters, uint32_t n_learners)
{
	raft_config config;

	memset(&config, 0, sizeof(config));
	for (uint32_t i = 0; i < n_voters; i++)
		config.voters[config.n_voters++] = i + 1;
	for (uint32_t i = 0; i < n_learners; i++)
		config.learners[config.n_learners++] = n_voters + i + 1;
	return config;
}

/* Like a host: with identities, the boot counter goes up at every start. */
static void
node_start(net *nw, net_node *n)
{
	static uint64_t starts;

	raft_options options = nw->options;
	int rc;

	if (nw->identity)
		n->hard_state.boot++;
	options.n_peers = n->n_peers;
	options.peers = n->peers;
	options.id = n->id;
	options.storage = raft_memory_storage_view(n->ms);
	options.hard_state = n->hard_state;
	options.config = n->config;
	options.applied = n->applied;
	/* A new seed at each start, as raft.h asks: a new nonce, a new life. */
	starts++;
	options.seed = nw->options.seed + n->id * 7919 + starts * 104729;
	rc = raft_node_create(&options, &n->rn);
	if (rc != RAFT_OK)
		net_die("raft_node_create", rc);
	n->down = false;
}

/* Deterministic, distinct, nonzero: what a host draws at random. */
static uint64_t
new_incarnation(raft_id id)
{
	static uint64_t counter;

	counter++;
	return (UINT64_C(0x9e3779b97f4a7c15) * (id * 1000 + counter)) | 1;
}

void
net_add(net *nw, raft_id id, const raft_config *config)
{
	net_node *n = &nw->nodes[id];

	assert(id > 0 && id <= NET_MAX_NODES && !n->exists);
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->exists = true;
	n->ms = raft_memory_storage_create();
	if (n->ms == NULL)
		net_die("raft_memory_storage_create", RAFT_ERR_NOMEM);
	n->config = *config;
	if (nw->identity)
		n->hard_state.incarnation = new_incarnation(id);
	node_start(nw, n);
}

static void
init(net *nw, uint32_t n_voters, const raft_options *options, bool identity)
{
	raft_config config = net_config(n_voters, 0);

	memset(nw, 0, sizeof(*nw));
	nw->options = options ? *options : net_default_options();
	nw->identity = identity;
	for (raft_id id = 1; id <= n_voters; id++)
		net_add(nw, id, &config);
}

void
net_init(net *nw, uint32_t n_voters, const raft_options *options)
{
	init(nw, n_voters, options, false);
}

void
net_init_identity(net *nw, uint32_t n_voters, const raft_options *options)
{
	init(nw, n_voters, options, true);
}

void
net_drop_queue(net *nw)
{
	for (uint32_t i = 0; i < nw->n_queue; i++)
		raft_message_free(&nw->queue[i]);
	nw->n_queue = 0;
}

void
net_destroy(net *nw)
{
	net_drop_queue(nw);
	free(nw->queue);
	for (raft_id id = 1; id <= NET_MAX_NODES; id++)
	{
		net_node *n = &nw->nodes[id];

		if (!n->exists)
			continue;
		raft_node_destroy(n->rn);
		raft_memory_storage_destroy(n->ms);
		free(n->log);
	}
	memset(nw, 0, sizeof(*nw));
}

void
net_crash(net *nw, raft_id id)
{
	net_node *n = &nw->nodes[id];

	assert(n->exists && !n->down);
	raft_node_destroy(n->rn);
	n->rn = NULL;
	n->down = true;
}

void
net_restart(net *nw, raft_id id)
{
	net_node *n = &nw->nodes[id];

	assert(n->exists && n->down);
	node_start(nw, n);
}

void
net_load(net *nw, raft_id id, const raft_term *terms, uint32_t n, raft_term term)
{
	net_node *n_ = &nw->nodes[id];
	raft_entry entry;

	net_crash(nw, id);
	raft_memory_storage_destroy(n_->ms);
	n_->ms = raft_memory_storage_create();
	for (uint32_t i = 0; i < n; i++)
	{
		memset(&entry, 0, sizeof(entry));
		entry.index = i + 1;
		entry.term = terms[i];
		if (raft_memory_storage_append(n_->ms, &entry, 1) != RAFT_OK)
			net_die("net_load append", RAFT_ERR_INVALID);
	}
	memset(&n_->hard_state, 0, sizeof(n_->hard_state));
	n_->hard_state.term = term;
	n_->applied = 0;
	net_restart(nw, id);
}

raft_memory_storage *
net_storage_clone(raft_memory_storage *src)
{
	raft_storage view = raft_memory_storage_view(src);
	raft_memory_storage *copy = raft_memory_storage_create();
	const raft_snapshot *snapshot = NULL;
	raft_index first = view.first_index(view.ud);
	raft_index last = view.last_index(view.ud);

	if (copy == NULL)
		net_die("raft_memory_storage_create", RAFT_ERR_NOMEM);
	if (view.snapshot(view.ud, &snapshot) == RAFT_OK &&
		snapshot->meta.index > 0 &&
		raft_memory_storage_apply_snapshot(copy, snapshot) != RAFT_OK)
		net_die("clone snapshot", RAFT_ERR_INVALID);
	while (first <= last)
	{
		const raft_entry *entries = NULL;
		uint32_t n = 0;

		if (view.entries(view.ud, first, last + 1, UINT64_MAX, &entries, &n) !=
				RAFT_OK ||
			n == 0 || raft_memory_storage_append(copy, entries, n) != RAFT_OK)
			net_die("clone entries", RAFT_ERR_INVALID);
		first += n;
	}
	return copy;
}

void
net_wipe(net *nw, raft_id id, const raft_config *config, bool recovering)
{
	net_node *n = &nw->nodes[id];

	assert(n->exists && n->down);
	raft_memory_storage_destroy(n->ms);
	n->ms = raft_memory_storage_create();
	if (n->ms == NULL)
		net_die("raft_memory_storage_create", RAFT_ERR_NOMEM);
	memset(&n->hard_state, 0, sizeof(n->hard_state));
	if (nw->identity)
		n->hard_state.incarnation = new_incarnation(id);
	n->hard_state.recovering = recovering;
	n->config = *config;
	n->applied = 0;
	n->n_peers = 0;
	n->n_log = 0;
}

net_disk *
net_backup(net *nw, raft_id id)
{
	net_node *n = &nw->nodes[id];
	net_disk *copy = calloc(1, sizeof(*copy));

	if (copy == NULL)
		net_die("calloc", RAFT_ERR_NOMEM);
	copy->ms = net_storage_clone(n->ms);
	copy->hard_state = n->hard_state;
	copy->config = n->config;
	copy->applied = n->applied;
	copy->n_peers = n->n_peers;
	memcpy(copy->peers, n->peers, sizeof(copy->peers));
	copy->n_log = n->n_log;
	copy->log = malloc((n->n_log + 1) * sizeof(net_applied));
	if (copy->log == NULL)
		net_die("malloc", RAFT_ERR_NOMEM);
	if (n->n_log > 0)
		memcpy(copy->log, n->log, n->n_log * sizeof(net_applied));
	return copy;
}

void
net_restore(net *nw, raft_id id, const net_disk *copy, bool recovering)
{
	net_node *n = &nw->nodes[id];

	assert(n->exists && n->down);
	raft_memory_storage_destroy(n->ms);
	n->ms = net_storage_clone(copy->ms);
	n->hard_state = copy->hard_state;
	n->hard_state.recovering = n->hard_state.recovering || recovering;
	n->config = copy->config;
	n->applied = copy->applied;
	n->n_peers = copy->n_peers;
	memcpy(n->peers, copy->peers, sizeof(n->peers));
	if (n->cap_log < copy->n_log + 1)
	{
		n->cap_log = copy->n_log + 1;
		n->log = realloc(n->log, n->cap_log * sizeof(net_applied));
		if (n->log == NULL)
			net_die("realloc", RAFT_ERR_NOMEM);
	}
	if (copy->n_log > 0)
		memcpy(n->log, copy->log, copy->n_log * sizeof(net_applied));
	n->n_log = copy->n_log;
}

void
net_disk_free(net_disk *copy)
{
	if (copy == NULL)
		return;
	raft_memory_storage_destroy(copy->ms);
	free(copy->log);
	free(copy);
}

raft_term
net_stored_term(net *nw, raft_id id, raft_index index)
{
	raft_storage st = raft_memory_storage_view(nw->nodes[id].ms);
	raft_term term = 0;

	if (st.term(st.ud, index, &term) != RAFT_OK)
		return 0;
	return term;
}

raft_index
net_stored_last(net *nw, raft_id id)
{
	raft_storage st = raft_memory_storage_view(nw->nodes[id].ms);

	return st.last_index(st.ud);
}

/* Encodes and decodes msg: what the peer receives. */
static void
enqueue(net *nw, const raft_message *msg)
{
	size_t size = raft_message_encoded_size(msg);
	uint8_t *buffer = malloc(size);
	size_t written = 0;
	int rc;

	if (buffer == NULL)
		net_die("malloc", RAFT_ERR_NOMEM);
	rc = raft_message_encode(msg, buffer, size, &written);
	if (rc != RAFT_OK)
		net_die("raft_message_encode", rc);
	if (nw->n_queue == nw->cap_queue)
	{
		nw->cap_queue = nw->cap_queue ? nw->cap_queue * 2 : 64;
		nw->queue = realloc(nw->queue, nw->cap_queue * sizeof(raft_message));
		if (nw->queue == NULL)
			net_die("realloc", RAFT_ERR_NOMEM);
	}
	rc = raft_message_decode(buffer, written, &nw->queue[nw->n_queue]);
	if (rc != RAFT_OK)
		net_die("raft_message_decode", rc);
	nw->n_queue++;
	free(buffer);
}

static void
apply_entry(net_node *n, const raft_entry *e)
{
	net_applied *a;

	if (e->index != n->applied + 1)
	{
		fprintf(stderr, "net: node %llu applies %llu after %llu\n",
				(unsigned long long) n->id, (unsigned long long) e->index,
				(unsigned long long) n->applied);
		abort();
	}
	if (e->type == RAFT_ENTRY_CONF_CHANGE)
	{
		raft_conf_change change;

		if (raft_conf_change_decode(e->data, e->size, &change) == RAFT_OK)
			(void) raft_config_apply(&n->config, &change);
	}
	if (n->n_log == n->cap_log)
	{
		n->cap_log = n->cap_log ? n->cap_log * 2 : 64;
		n->log = realloc(n->log, n->cap_log * sizeof(net_applied));
		if (n->log == NULL)
			net_die("realloc", RAFT_ERR_NOMEM);
	}
	a = &n->log[n->n_log++];
	a->index = e->index;
	a->term = e->term;
	a->type = e->type;
	a->size = e->size;
	a->first_byte = e->size > 0 ? e->data[0] : 0;
	n->applied = e->index;
}

bool
net_process(net *nw, raft_id id)
{
	net_node *n = &nw->nodes[id];
	raft_ready ready;
	int rc;

	if (!n->exists || n->down || !raft_has_ready(n->rn))
		return false;
	rc = raft_ready_get(n->rn, &ready);
	if (rc != RAFT_OK)
		net_die("raft_ready_get", rc);

	/* 1. persist: snapshot, entries, hard state */
	if (ready.has_snapshot)
	{
		rc = raft_memory_storage_apply_snapshot(n->ms, &ready.snapshot);
		if (rc != RAFT_OK)
			net_die("apply_snapshot", rc);
		n->config = ready.snapshot.meta.config;
		n->applied = ready.snapshot.meta.index;
	}
	if (ready.n_entries > 0)
	{
		rc = raft_memory_storage_append(n->ms, ready.entries, ready.n_entries);
		if (rc != RAFT_OK)
			net_die("storage append", rc);
	}
	if (ready.has_hard_state)
		n->hard_state = ready.hard_state;
	if (ready.has_peers)
	{
		n->n_peers = ready.n_peers;
		memcpy(n->peers, ready.peers, ready.n_peers * sizeof(raft_peer_record));
	}

	/* 2. send */
	for (uint32_t i = 0; i < ready.n_messages; i++)
	{
		assert(ready.messages[i].from == id);
		assert(ready.messages[i].to != id);
		enqueue(nw, &ready.messages[i]);
	}

	/* 3. apply */
	for (uint32_t i = 0; i < ready.n_committed; i++)
		apply_entry(n, &ready.committed[i]);

	raft_advance(n->rn, &ready);
	return true;
}

void
net_process_all(net *nw)
{
	for (uint32_t round = 0; round < NET_MAX_ROUNDS; round++)
	{
		bool any = false;

		for (raft_id id = 1; id <= NET_MAX_NODES; id++)
			any = net_process(nw, id) || any;
		if (!any)
			return;
	}
	fprintf(stderr, "net: readies never settle\n");
	abort();
}

static bool
deliverable(net *nw, const raft_message *msg)
{
	const net_node *to;

	if (msg->to == RAFT_NONE || msg->to > NET_MAX_NODES)
		return false;
	to = &nw->nodes[msg->to];
	if (!to->exists || to->down || nw->cut[msg->from][msg->to])
		return false;
	if (nw->filter && nw->filter(msg, nw->filter_ud))
		return false;
	return true;
}

uint32_t
net_deliver(net *nw)
{
	raft_message *batch = nw->queue;
	uint32_t n = nw->n_queue;
	uint32_t count = 0;

	nw->queue = NULL;
	nw->n_queue = 0;
	nw->cap_queue = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		raft_message *msg = &batch[i];

		if (deliverable(nw, msg))
		{
			if (raft_step(nw->nodes[msg->to].rn, msg) == RAFT_ERR_BEHIND)
				nw->behind++;
			nw->delivered++;
			count++;
			net_process(nw, msg->to);
		}
		else
			nw->dropped++;
		raft_message_free(msg);
	}
	free(batch);
	return count;
}

void
net_stabilize(net *nw)
{
	for (uint32_t round = 0; round < NET_MAX_ROUNDS; round++)
	{
		net_process_all(nw);
		if (nw->n_queue == 0)
			return;
		net_deliver(nw);
	}
	fprintf(stderr, "net: never stabilizes\n");
	abort();
}

void
net_tick(net *nw, raft_id id, uint32_t ticks)
{
	net_node *n = &nw->nodes[id];

	if (!n->exists || n->down)
		return;
	for (uint32_t i = 0; i < ticks; i++)
		raft_tick(n->rn);
}

void
net_tick_all(net *nw, uint32_t ticks)
{
	for (uint32_t i = 0; i < ticks; i++)
	{
		for (raft_id id = 1; id <= NET_MAX_NODES; id++)
			net_tick(nw, id, 1);
	}
}

bool
net_elect(net *nw, raft_id id)
{
	raft_status status;

	(void) raft_campaign(nw->nodes[id].rn);
	net_stabilize(nw);
	status = net_status(nw, id);
	return status.role == RAFT_LEADER;
}

bool
net_propose(net *nw, raft_id id, uint8_t byte)
{
	int rc = raft_propose(nw->nodes[id].rn, &byte, 1);

	net_stabilize(nw);
	return rc == RAFT_OK;
}

void
net_isolate(net *nw, raft_id id)
{
	for (raft_id other = 1; other <= NET_MAX_NODES; other++)
	{
		if (other == id)
			continue;
		nw->cut[id][other] = true;
		nw->cut[other][id] = true;
	}
}

void
net_cut(net *nw, raft_id a, raft_id b)
{
	nw->cut[a][b] = true;
	nw->cut[b][a] = true;
}

void
net_heal(net *nw)
{
	memset(nw->cut, 0, sizeof(nw->cut));
	nw->filter = NULL;
	nw->filter_ud = NULL;
}

uint32_t
net_count(const net *nw, uint8_t type, raft_id from, raft_id to)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < nw->n_queue; i++)
	{
		const raft_message *m = &nw->queue[i];

		if (m->type == type && (from == RAFT_NONE || m->from == from) &&
			(to == RAFT_NONE || m->to == to))
			count++;
	}
	return count;
}

raft_status
net_status(const net *nw, raft_id id)
{
	raft_status status;

	memset(&status, 0, sizeof(status));
	if (nw->nodes[id].exists && !nw->nodes[id].down)
		raft_get_status(nw->nodes[id].rn, &status);
	return status;
}

raft_progress_status
net_progress(const net *nw, raft_id leader, raft_id peer)
{
	raft_status s = net_status(nw, leader);

	for (uint32_t i = 0; i < s.n_progress; i++)
	{
		if (s.progress[i].id == peer)
			return s.progress[i];
	}
	return (raft_progress_status){ 0 };
}

raft_node *
net_raft(net *nw, raft_id id)
{
	return nw->nodes[id].rn;
}
