/*-------------------------------------------------------------------------
 *
 * sim_check.c
 *	  The simulator's safety checks: Raft's properties (Figure 3 of the
 *	  paper) and the host contract of raft.h, checked incrementally so that
 *	  checking after every step stays cheap.
 *
 *	Election Safety      leader_of[term] records every (term, leader) ever
 *	                     observed; a second leader in a term fails.
 *	Log Matching         every persisted entry gets a chain hash covering
 *	                     itself and every entry before it; chains[(index,
 *	                     term)] must agree across all nodes and all time,
 *	                     so same index and term means identical prefixes.
 *	Leader Completeness  after a leader persists a ready, every committed
 *	                     entry of an earlier term is in its persisted log
 *	                     with the same term, or under its snapshot.
 *	State Machine Safety the global history hist[] is set by the first node
 *	                     to apply an index; every later application (and
 *	                     every snapshot) must match it, so every node's
 *	                     applied sequence is a prefix of one history.
 *	Durability           no node overwrites an entry at or below its own
 *	                     persisted commit; hard state never goes back (term,
 *	                     vote within a term, commit); hist[] only grows.
 *
 * test/raft/sim_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "sim.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64's finalizer: a bijection that mixes every bit. */
static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
sim_hash_bytes(const uint8_t *data, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then mixed */

	for (size_t i = 0; i < size; i++)
	{
		h ^= data[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h ^ size);
}

uint64_t
sim_chain_next(uint64_t chain, const raft_entry *entry)
{
	uint64_t h = chain;

	h = mix64(h ^ entry->index);
	h = mix64(h ^ entry->term);
	h = mix64(h ^ entry->type);
	h = mix64(h ^ sim_hash_bytes(entry->data, entry->size));
	return h;
}

/* ------------------------------------------------------------------------
 * The (index, term) -> chain map
 * ------------------------------------------------------------------------
 */
static void
chain_map_alloc(sim_chain_map *m, size_t capacity)
{
	m->capacity = capacity;
	m->count = 0;
	m->index = calloc(capacity, sizeof(raft_index));
	m->term = calloc(capacity, sizeof(raft_term));
	m->chain = calloc(capacity, sizeof(uint64_t));
	if (m->index == NULL || m->term == NULL || m->chain == NULL)
		abort();
}

static size_t
chain_map_slot(const sim_chain_map *m, raft_index index, raft_term term)
{
	size_t slot = mix64(index * 31 + mix64(term)) & (m->capacity - 1);

	while (m->index[slot] != 0 &&
		   (m->index[slot] != index || m->term[slot] != term))
		slot = (slot + 1) & (m->capacity - 1);
	return slot;
}

static void chain_map_put(sim_chain_map *m, raft_index index, raft_term term,
						  uint64_t chain);

static void
chain_map_grow(sim_chain_map *m)
{
	sim_chain_map old = *m;

	chain_map_alloc(m, old.capacity * 2);
	for (size_t i = 0; i < old.capacity; i++)
		if (old.index[i] != 0)
			chain_map_put(m, old.index[i], old.term[i], old.chain[i]);
	free(old.index);
	free(old.term);
	free(old.chain);
}

static void
chain_map_put(sim_chain_map *m, raft_index index, raft_term term, uint64_t chain)
{
	size_t slot;

	assert(index != 0);
	if ((m->count + 1) * 2 > m->capacity)
		chain_map_grow(m);
	slot = chain_map_slot(m, index, term);
	if (m->index[slot] == 0)
		m->count++;
	m->index[slot] = index;
	m->term[slot] = term;
	m->chain[slot] = chain;
}

/* Log Matching: one chain per (index, term), ever. */
static void
check_chain(sim *s, const sim_node *n, raft_index index, raft_term term,
			uint64_t chain)
{
	size_t slot = chain_map_slot(&s->chains, index, term);

	if (s->chains.index[slot] == 0)
	{
		chain_map_put(&s->chains, index, term, chain);
		return;
	}
	if (s->chains.chain[slot] != chain)
		sim_fail(s,
				 "log matching: node %llu has entry %llu of term %llu "
				 "with a different prefix than another node had",
				 (unsigned long long) n->id, (unsigned long long) index,
				 (unsigned long long) term);
}

void
sim_check_init(sim *s)
{
	chain_map_alloc(&s->chains, 1024);
	s->hist = NULL;
	s->hist_len = 0;
	s->hist_cap = 0;
	s->leader_of = NULL;
	s->leader_cap = 0;
	s->n_leaders = 0;
}

void
sim_check_free(sim *s)
{
	free(s->chains.index);
	free(s->chains.term);
	free(s->chains.chain);
	memset(&s->chains, 0, sizeof(s->chains));
	free(s->hist);
	s->hist = NULL;
	free(s->leader_of);
	s->leader_of = NULL;
}

/* ------------------------------------------------------------------------
 * Election Safety, and what a status must look like
 * ------------------------------------------------------------------------
 */
static void
record_leader(sim *s, raft_term term, raft_id id)
{
	if (term >= s->leader_cap)
	{
		size_t cap = s->leader_cap ? s->leader_cap : 64;

		while (cap <= term)
			cap *= 2;
		s->leader_of = realloc(s->leader_of, cap * sizeof(raft_id));
		if (s->leader_of == NULL)
			abort();
		memset(s->leader_of + s->leader_cap, 0,
			   (cap - s->leader_cap) * sizeof(raft_id));
		s->leader_cap = cap;
	}
	if (s->leader_of[term] == RAFT_NONE)
	{
		s->leader_of[term] = id;
		s->n_leaders++;
		sim_trace(s, "node %llu is leader of term %llu",
				  (unsigned long long) id, (unsigned long long) term);
	}
	else if (s->leader_of[term] != id)
		sim_fail(s, "election safety: nodes %llu and %llu both lead term %llu",
				 (unsigned long long) s->leader_of[term],
				 (unsigned long long) id, (unsigned long long) term);
}

void
sim_check_status(sim *s, sim_node *n)
{
	raft_status st;

	assert(n->alive && n->rn != NULL);
	raft_get_status(n->rn, &st);
	n->role = st.role;
	if (st.id != n->id)
		sim_fail(s, "status of node %llu names node %llu",
				 (unsigned long long) n->id, (unsigned long long) st.id);
	if (st.hard_state.term < n->term_seen)
		sim_fail(s, "node %llu term went back from %llu to %llu",
				 (unsigned long long) n->id, (unsigned long long) n->term_seen,
				 (unsigned long long) st.hard_state.term);
	n->term_seen = st.hard_state.term;
	if (st.hard_state.term > s->max_term)
		s->max_term = st.hard_state.term;
	if (st.hard_state.term < n->hard_state.term)
		sim_fail(s, "node %llu term %llu is below its persisted term %llu",
				 (unsigned long long) n->id,
				 (unsigned long long) st.hard_state.term,
				 (unsigned long long) n->hard_state.term);
	if (st.applied > st.hard_state.commit)
		sim_fail(s, "node %llu applied %llu beyond commit %llu",
				 (unsigned long long) n->id, (unsigned long long) st.applied,
				 (unsigned long long) st.hard_state.commit);
	if (st.role == RAFT_LEADER)
	{
		if (st.leader != n->id)
			sim_fail(s, "leader %llu names %llu as leader",
					 (unsigned long long) n->id, (unsigned long long) st.leader);
		if (!raft_config_is_voter(&st.config, n->id))
			sim_fail(s, "node %llu leads term %llu but is not a voter",
					 (unsigned long long) n->id,
					 (unsigned long long) st.hard_state.term);
		record_leader(s, st.hard_state.term, n->id);
	}
	if (st.hard_state.recovering && st.role != RAFT_FOLLOWER)
		sim_fail(s, "node %llu is %s while it recovers",
				 (unsigned long long) n->id, raft_role_name(st.role));
	if (st.role == RAFT_CANDIDATE || st.role == RAFT_PRECANDIDATE)
	{
		if (!raft_config_is_voter(&st.config, n->id))
			sim_fail(s, "node %llu campaigns but is not a voter",
					 (unsigned long long) n->id);
	}
}

/* Durability of the hard state: checked before it is persisted. */
void
sim_check_hard_state(sim *s, sim_node *n, const raft_hard_state *next)
{
	const raft_hard_state *prev = &n->hard_state;
	raft_index last = n->snap_index + n->log_len;

	if (next->term < prev->term)
		sim_fail(s, "node %llu persists term %llu below %llu",
				 (unsigned long long) n->id, (unsigned long long) next->term,
				 (unsigned long long) prev->term);
	if (next->term == prev->term && prev->vote != RAFT_NONE &&
		next->vote != prev->vote)
		sim_fail(s, "node %llu votes twice in term %llu: %llu then %llu",
				 (unsigned long long) n->id, (unsigned long long) next->term,
				 (unsigned long long) prev->vote,
				 (unsigned long long) next->vote);
	if (next->commit < prev->commit)
		sim_fail(s, "node %llu persists commit %llu below %llu",
				 (unsigned long long) n->id, (unsigned long long) next->commit,
				 (unsigned long long) prev->commit);
	if (next->commit > last)
		sim_fail(s,
				 "node %llu persists commit %llu beyond its last index "
				 "%llu",
				 (unsigned long long) n->id, (unsigned long long) next->commit,
				 (unsigned long long) last);
}

/* ------------------------------------------------------------------------
 * The shadow log of each node's persisted entries
 * ------------------------------------------------------------------------
 */
bool
sim_log_lookup(const sim_node *n, raft_index index, sim_entry *out)
{
	if (index == n->snap_index)
	{
		out->term = n->snap_term;
		out->chain = n->snap_chain;
		return true;
	}
	if (index < n->snap_index || index > n->snap_index + n->log_len)
		return false;
	*out = n->log[index - n->snap_index - 1];
	return true;
}

void
sim_log_reset(sim *s, sim_node *n, raft_index index, raft_term term,
			  uint64_t chain)
{
	(void) s;
	n->snap_index = index;
	n->snap_term = term;
	n->snap_chain = chain;
	n->log_len = 0;
}

/* Drops the shadow entries up to index, which becomes the snapshot. */
void
sim_log_compact(sim *s, sim_node *n, raft_index index)
{
	sim_entry at;
	size_t drop;

	if (!sim_log_lookup(n, index, &at))
	{
		sim_fail(s, "node %llu compacts at %llu outside its log",
				 (unsigned long long) n->id, (unsigned long long) index);
		return;
	}
	drop = (size_t) (index - n->snap_index);
	memmove(n->log, n->log + drop, (n->log_len - drop) * sizeof(sim_entry));
	n->log_len -= drop;
	n->snap_index = index;
	n->snap_term = at.term;
	n->snap_chain = at.chain;
}

/*
 * Persists entries to the shadow, replacing any suffix from entries[0],
 * and checks Log Matching and that nothing committed is overwritten.
 */
void
sim_log_append(sim *s, sim_node *n, const raft_entry *entries, uint32_t count)
{
	raft_index first = entries[0].index;
	raft_index last = n->snap_index + n->log_len;
	sim_entry prev = { 0, 0, 0 };
	size_t keep;

	if (first <= n->snap_index || first > last + 1)
	{
		sim_fail(s, "node %llu appends at %llu to a log of (%llu, %llu]",
				 (unsigned long long) n->id, (unsigned long long) first,
				 (unsigned long long) n->snap_index, (unsigned long long) last);
		return;
	}
	/* Overwriting a different entry at or below commit loses it. */
	for (uint32_t i = 0; i < count && entries[i].index <= last; i++)
	{
		sim_entry old = { 0, 0, 0 };

		(void) sim_log_lookup(n, entries[i].index, &old);
		if (old.term != entries[i].term &&
			(entries[i].index <= n->hard_state.commit ||
			 entries[i].index <= n->applied))
			sim_fail(s,
					 "node %llu overwrites committed entry %llu (term "
					 "%llu with term %llu; commit %llu)",
					 (unsigned long long) n->id,
					 (unsigned long long) entries[i].index,
					 (unsigned long long) old.term,
					 (unsigned long long) entries[i].term,
					 (unsigned long long) n->hard_state.commit);
	}
	(void) sim_log_lookup(n, first - 1, &prev);
	keep = (size_t) (first - 1 - n->snap_index);
	if (keep + count > n->log_cap)
	{
		size_t cap = n->log_cap ? n->log_cap : 64;

		while (cap < keep + count)
			cap *= 2;
		n->log = realloc(n->log, cap * sizeof(sim_entry));
		if (n->log == NULL)
			abort();
		n->log_cap = cap;
	}
	n->log_len = keep;
	for (uint32_t i = 0; i < count; i++)
	{
		const raft_entry *e = &entries[i];
		sim_entry next;

		if (e->index != first + i)
		{
			sim_fail(s, "node %llu: ready entries not contiguous at %llu",
					 (unsigned long long) n->id, (unsigned long long) e->index);
			return;
		}
		if (e->term < prev.term)
			sim_fail(s,
					 "node %llu: entry %llu has term %llu below the "
					 "previous entry's %llu",
					 (unsigned long long) n->id, (unsigned long long) e->index,
					 (unsigned long long) e->term,
					 (unsigned long long) prev.term);
		if (e->type != RAFT_ENTRY_NORMAL && e->type != RAFT_ENTRY_CONF_CHANGE)
			sim_fail(s, "node %llu: entry %llu of unknown type %u",
					 (unsigned long long) n->id, (unsigned long long) e->index,
					 e->type);
		if ((e->size == 0) != (e->data == NULL))
			sim_fail(s, "node %llu: entry %llu size %u with data %p",
					 (unsigned long long) n->id, (unsigned long long) e->index,
					 e->size, (void *) e->data);
		next.term = e->term;
		next.chain = sim_chain_next(prev.chain, e);
		check_chain(s, n, e->index, e->term, next.chain);
		n->log[n->log_len++] = next;
		prev = next;
	}
}

/* The memory storage must agree with the shadow. */
void
sim_check_storage(sim *s, sim_node *n)
{
	raft_storage st = raft_memory_storage_view(n->ms);
	raft_index first = st.first_index(st.ud);
	raft_index last = st.last_index(st.ud);
	raft_term term = 0;
	int err;

	if (first != n->snap_index + 1 || last != n->snap_index + n->log_len)
	{
		sim_fail(s,
				 "node %llu storage holds [%llu, %llu], expected "
				 "[%llu, %llu]",
				 (unsigned long long) n->id, (unsigned long long) first,
				 (unsigned long long) last,
				 (unsigned long long) n->snap_index + 1,
				 (unsigned long long) (n->snap_index + n->log_len));
		return;
	}
	err = st.term(st.ud, last, &term);
	if (err != RAFT_OK ||
		term != (n->log_len > 0 ? n->log[n->log_len - 1].term : n->snap_term))
		sim_fail(s, "node %llu storage term of %llu is %llu (err %d)",
				 (unsigned long long) n->id, (unsigned long long) last,
				 (unsigned long long) term, err);
}

/* ------------------------------------------------------------------------
 * State Machine Safety and Leader Completeness
 * ------------------------------------------------------------------------
 */
static void
hist_record(sim *s, const sim_node *n, raft_index index, raft_term term,
			uint64_t chain)
{
	if (index <= s->hist_len)
	{
		const sim_entry *h = &s->hist[index];

		if (h->term != term || h->chain != chain)
			sim_fail(s,
					 "state machine safety: node %llu applies entry %llu "
					 "of term %llu, but term %llu was applied there before%s",
					 (unsigned long long) n->id, (unsigned long long) index,
					 (unsigned long long) term, (unsigned long long) h->term,
					 h->term == term ? " (same term, other content)" : "");
		return;
	}
	if (index != s->hist_len + 1)
	{
		sim_fail(s, "node %llu applies %llu past the history's end %llu",
				 (unsigned long long) n->id, (unsigned long long) index,
				 (unsigned long long) s->hist_len);
		return;
	}
	if (index >= s->hist_cap)
	{
		size_t cap = s->hist_cap ? s->hist_cap * 2 : 1024;

		s->hist = realloc(s->hist, cap * sizeof(sim_entry));
		if (s->hist == NULL)
			abort();
		s->hist_cap = cap;
	}
	s->hist[index].term = term;
	s->hist[index].chain = chain;
	s->hist[index].committed_by = s->max_term > term ? s->max_term : term;
	s->hist_len = index;
}

/*
 * Called just before the host applies entry: the next index, committed as
 * persisted, equal to what the node persisted, equal to the history.
 */
void
sim_check_apply(sim *s, sim_node *n, const raft_entry *entry, uint64_t chain)
{
	sim_entry persisted;

	if (entry->index != n->applied + 1)
		sim_fail(s, "node %llu applies %llu after %llu",
				 (unsigned long long) n->id, (unsigned long long) entry->index,
				 (unsigned long long) n->applied);
	if (entry->index > n->hard_state.commit)
		sim_fail(s,
				 "node %llu applies %llu beyond its persisted commit "
				 "%llu",
				 (unsigned long long) n->id, (unsigned long long) entry->index,
				 (unsigned long long) n->hard_state.commit);
	if (!sim_log_lookup(n, entry->index, &persisted) ||
		entry->index == n->snap_index)
		sim_fail(s, "node %llu applies %llu, which it has not persisted",
				 (unsigned long long) n->id, (unsigned long long) entry->index);
	else if (persisted.term != entry->term || persisted.chain != chain)
		sim_fail(s,
				 "node %llu applies %llu of term %llu but persisted term "
				 "%llu%s",
				 (unsigned long long) n->id, (unsigned long long) entry->index,
				 (unsigned long long) entry->term,
				 (unsigned long long) persisted.term,
				 persisted.term == entry->term ? " (other content)" : "");
	if (s->failed)
		return;
	hist_record(s, n, entry->index, entry->term, chain);
}

/*
 * A snapshot to install: it must not take the state machine back, and its
 * digest must be the history's at its index.
 */
void
sim_check_snapshot(sim *s, sim_node *n, const raft_snapshot *snapshot,
				   uint64_t chain)
{
	raft_index index = snapshot->meta.index;

	if (index <= n->applied)
		sim_fail(s,
				 "node %llu is handed snapshot %llu at or below applied "
				 "%llu",
				 (unsigned long long) n->id, (unsigned long long) index,
				 (unsigned long long) n->applied);
	if (index > s->hist_len)
	{
		sim_fail(s,
				 "node %llu is handed snapshot %llu beyond the history "
				 "%llu",
				 (unsigned long long) n->id, (unsigned long long) index,
				 (unsigned long long) s->hist_len);
		return;
	}
	if (s->hist[index].term != snapshot->meta.term ||
		s->hist[index].chain != chain)
		sim_fail(s,
				 "node %llu: snapshot %llu (term %llu) differs from the "
				 "history (term %llu)",
				 (unsigned long long) n->id, (unsigned long long) index,
				 (unsigned long long) snapshot->meta.term,
				 (unsigned long long) s->hist[index].term);
}

/*
 * Leader Completeness, after the leader of term persisted a ready: every
 * entry committed in an earlier term is in its log or under its snapshot.
 * An entry counts as committed in an earlier term when it was first
 * applied while no node had reached term yet (committed_by < term): a stale
 * leader of an old term need not hold what newer terms committed.
 * committed_by only grows along the history, so the check stops at the
 * first entry too new, and a leader never rewrites its own log, so the
 * cursor leader_checked only moves forward within a term.
 */
void
sim_check_leader_completeness(sim *s, sim_node *n, raft_term term)
{
	raft_index from;

	if (n->leader_term != term)
	{
		n->leader_term = term;
		n->leader_checked = 0;
	}
	from = n->leader_checked + 1;
	if (n->snap_index >= from)
	{
		if (n->snap_index <= s->hist_len &&
			s->hist[n->snap_index].chain != n->snap_chain)
		{
			sim_fail(s,
					 "leader completeness: leader %llu of term %llu has "
					 "a snapshot at %llu that differs from the history",
					 (unsigned long long) n->id, (unsigned long long) term,
					 (unsigned long long) n->snap_index);
			return;
		}
		from = n->snap_index + 1;
	}
	for (raft_index i = from; i <= s->hist_len; i++)
	{
		sim_entry mine;

		if (s->hist[i].committed_by >= term)
			return;
		if (!sim_log_lookup(n, i, &mine))
		{
			sim_fail(s,
					 "leader completeness: leader %llu of term %llu "
					 "lacks entry %llu of term %llu, committed by term %llu",
					 (unsigned long long) n->id, (unsigned long long) term,
					 (unsigned long long) i,
					 (unsigned long long) s->hist[i].term,
					 (unsigned long long) s->hist[i].committed_by);
			return;
		}
		if (mine.term != s->hist[i].term || mine.chain != s->hist[i].chain)
		{
			sim_fail(s,
					 "leader completeness: leader %llu of term %llu has "
					 "entry %llu of term %llu, but term %llu was committed "
					 "there by term %llu",
					 (unsigned long long) n->id, (unsigned long long) term,
					 (unsigned long long) i, (unsigned long long) mine.term,
					 (unsigned long long) s->hist[i].term,
					 (unsigned long long) s->hist[i].committed_by);
			return;
		}
		n->leader_checked = i;
	}
}
