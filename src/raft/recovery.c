/*-------------------------------------------------------------------------
 *
 * recovery.c
 *	  Lost and rolled-back state: a node that may be behind what it once
 *	  acknowledged recovers before it votes again, and its peers recognise
 *	  it (src/raft/README.md, section 5, has the argument).
 *
 * Identity.  A node's durable state for a group carries an incarnation
 * (random, chosen when the state is created; a wiped disk gets a new one)
 * and a boot counter (incremented by the host at every start).  Each start
 * also draws a random nonce, and every message carries the sender's
 * incarnation and life (boot << 32 | nonce).  Each node keeps, per member,
 * the incarnation and life it last accepted and the highest term that
 * member sent (PreVote messages aside: their term is not the sender's
 * durable one), and the host persists that table.
 *
 * Detection, on every message from a member (check_sender):
 *	- a life of a lower boot counter than one already seen: a message from
 *	  an earlier life, or a node restored from an older copy;
 *	- another life with the same counter: a restored copy started again;
 *	- a new life whose term is below one the member sent before: an honest
 *	  node never persists less than it sent, so its state went back;
 * and, at the leader, a rejection from a new life whose hint is below the
 * member's match: it lost entries it acknowledged.  Such a message is
 * dropped, never used, and answered with RECOVER, naming the life found
 * behind; the member recovers if that is its current life (an earlier
 * life's stray message changes nothing).  None of these can be a false
 * alarm, even from a peer whose own table is stale: a record only ever
 * holds what the member really sent, and an honest member never goes back
 * on a boot counter or a term.  A new incarnation is different: it cannot
 * be told from a stale record, so it only makes the leader forget the
 * member's old match, and the host flags a wiped disk (raft.h).
 *
 * Recovering: grant no vote or pre-vote, do not campaign or lead; keep
 * receiving and acknowledging appends and snapshots.  The leader that
 * learns of it forgets the member's match (so it counts nothing the member
 * said before) and gives it a target, its last index: every entry that
 * could have been committed with the member's lost acknowledgements is at
 * or below it.  The member is caught up once its commit index reaches the
 * target it holds; until a leader gives one, it waits.
 *
 * src/raft/recovery.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "internal/core.h"

#define BOOT_LIMIT (UINT64_C(1) << 32)

static uint64_t
counter_of(uint64_t life)
{
	return life >> 32;
}

static uint64_t
life_of(const raft_node *node)
{
	if (node->incarnation == 0)
		return 0;
	return (node->boot << 32) | node->nonce;
}

/* PreVote messages carry a term the sender does not hold. */
static bool
term_is_senders(const raft_message *msg)
{
	return msg->type != RAFT_MSG_PREVOTE && msg->type != RAFT_MSG_PREVOTE_RESP;
}

/* ---- the table of members' identities --------------------------------- */

static raft_peer_record *
find_record(raft_node *node, raft_id id)
{
	for (uint32_t i = 0; i < node->n_peers; i++)
	{
		if (node->peers[i].id == id)
			return &node->peers[i];
	}
	return NULL;
}

/* Records msg's sender as it describes itself now. */
static void
record_sender(raft_node *node, raft_peer_record *rec, const raft_message *msg)
{
	if (rec == NULL)
	{
		if (node->n_peers == RAFT_MAX_MEMBERS)
			return; /* members only: cannot happen */
		rec = &node->peers[node->n_peers++];
		memset(rec, 0, sizeof(*rec));
		rec->id = msg->from;
	}
	/* A PreVote message says nothing of the sender's term: keep ours. */
	if (term_is_senders(msg))
		rec->term = msg->term;
	else if (rec->incarnation != msg->from_incarnation)
		rec->term = 0;
	rec->incarnation = msg->from_incarnation;
	rec->boot = msg->from_boot;
	node->peers_version++;
}

/* Only members are tracked: the table is bounded by RAFT_MAX_MEMBERS. */
void
raft_recovery_prune_peers(raft_node *node)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < node->n_peers; i++)
	{
		if (raft_config_is_member(&node->tracker.config, node->peers[i].id))
			node->peers[kept++] = node->peers[i];
	}
	if (kept != node->n_peers)
		node->peers_version++;
	node->n_peers = kept;
}

/* ---- creation --------------------------------------------------------- */

static int
load_peers(raft_node *node, const raft_options *options)
{
	if (options->n_peers > 0 && options->peers == NULL)
		return RAFT_ERR_INVALID;
	for (uint32_t i = 0; i < options->n_peers; i++)
	{
		const raft_peer_record *rec = &options->peers[i];

		if (rec->id == RAFT_NONE || rec->id == node->id ||
			rec->term >= RAFT_NUMBER_LIMIT || find_record(node, rec->id))
			return RAFT_ERR_CORRUPT;
		if (!raft_config_is_member(&node->tracker.config, rec->id) ||
			node->n_peers == RAFT_MAX_MEMBERS)
			continue; /* no longer a member: forget it */
		node->peers[node->n_peers++] = *rec;
	}
	return RAFT_OK;
}

/*
 * A restarted node (boot 2 or more) grants no vote for one election
 * timeout: if its disk was rolled back, this gives the peers that know its
 * newer state, the leader first, time to tell it (README, section 5).
 */
int
raft_recovery_init(raft_node *node, const raft_options *options)
{
	const raft_hard_state *hs = &options->hard_state;

	if (hs->boot >= BOOT_LIMIT)
		return RAFT_ERR_CORRUPT;
	node->incarnation = hs->incarnation;
	node->boot = hs->boot;
	node->nonce = (uint32_t) raft_prng_next(&node->prng) | 1;
	node->life = life_of(node);
	node->recovering = hs->recovering;
	if (node->incarnation != 0 && node->boot >= 2)
		node->quiet_ticks = node->election_tick;
	return load_peers(node, options);
}

/* Every message says who sent it, from which life, and if it recovers. */
void
raft_recovery_stamp(const raft_node *node, raft_message *msg)
{
	if (msg->type == RAFT_MSG_TRANSFER_LEADER && msg->from != node->id)
		return; /* forwarded: not ours to sign */
	msg->from_incarnation = node->incarnation;
	msg->from_boot = node->life;
	msg->recovering = node->recovering;
	msg->recovered = node->recovered && !node->recovering;
}

/*
 * At every start, each member hears our new life at once, rather than at
 * the first message that happens to go its way: so every peer's record is
 * fresh, and a restored copy of us is recognised by whichever peer it
 * talks to first.  Nothing to say before our first term.
 */
void
raft_recovery_hello(raft_node *node)
{
	const raft_config *config = &node->tracker.config;

	if (node->incarnation == 0 || node->term == 0)
		return;
	for (uint32_t i = 0; i < config->n_voters + config->n_learners; i++)
	{
		raft_message msg;
		raft_id to = i < config->n_voters
			? config->voters[i]
			: config->learners[i - config->n_voters];

		if (to == node->id)
			continue;
		memset(&msg, 0, sizeof(msg));
		msg.type = RAFT_MSG_HELLO;
		msg.to = to;
		(void) raft_send(node, &msg); /* lost on NOMEM, like on the wire */
	}
}

/* ---- telling a member it is behind ------------------------------------ */

/*
 * RECOVER to id about its life: "you are behind" (behind = true, reject
 * on the wire), or only a target for a member that says it recovers.  The
 * leader adds the target.
 */
static void
send_recover(raft_node *node, raft_id to, uint64_t life, bool behind,
			 uint64_t seen_boot, raft_index target)
{
	raft_message msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = RAFT_MSG_RECOVER;
	msg.to = to;
	msg.context = life;
	msg.reject = behind;
	msg.commit = seen_boot;
	if (node->role == RAFT_LEADER && target > 0)
	{
		msg.index = target;
		msg.log_term = raft_log_term_or_zero(&node->log, target);
	}
	(void) raft_send(node, &msg); /* lost on NOMEM: asked again later */
}

/*
 * The leader learns that pr's member lost state: forget what it said
 * (match 0: its old acknowledgements count toward nothing any more),
 * probe from next, and give it our last index as its target.
 */
static void
leader_forget(raft_node *node, raft_progress *pr, raft_index next)
{
	raft_index last = raft_log_last_index(&node->log);

	if (next == 0 || next > last + 1)
		next = last + 1;
	raft_progress_forget(pr, next);
	pr->match_life = 0;
	pr->recovering = true;
	pr->recovery_life = 0;
	pr->recovery_target = last;
}

/* msg's sender is behind what we saw of it: drop msg, tell the sender. */
static int
sender_behind(raft_node *node, const raft_peer_record *rec,
			  const raft_message *msg)
{
	raft_progress *pr = raft_tracker_get(&node->tracker, msg->from);
	uint64_t seen =
		rec->incarnation == msg->from_incarnation ? counter_of(rec->boot) : 0;

	if (node->role == RAFT_LEADER && pr != NULL)
		leader_forget(node, pr, 0);
	/* A node still at term 0 cannot send anything: the sender asks again. */
	if (node->term > 0)
		send_recover(node, msg->from, msg->from_boot, true, seen,
					 pr != NULL ? pr->recovery_target : 0);
	return RAFT_ERR_BEHIND;
}

/*
 * Checks msg's sender against what we know of it, and records what is
 * new.  RAFT_ERR_BEHIND: the message must not be used.
 */
int
raft_recovery_check_sender(raft_node *node, const raft_message *msg)
{
	raft_peer_record *rec;
	uint64_t counter;
	uint64_t seen;

	/* A forwarded transfer request speaks for another node: no identity. */
	if (msg->from_incarnation == 0 || msg->type == RAFT_MSG_TRANSFER_LEADER ||
		!raft_config_is_member(&node->tracker.config, msg->from))
		return RAFT_OK;
	rec = find_record(node, msg->from);
	if (rec == NULL)
	{
		record_sender(node, NULL, msg);
		return RAFT_OK;
	}
	counter = counter_of(msg->from_boot);
	seen = counter_of(rec->boot);
	if (msg->from_incarnation != rec->incarnation)
	{
		/*
		 * A new disk, or our record is older than one: incarnations have
		 * no order, so the latest word wins.  A leader stops counting what
		 * the old disk acknowledged.  The host flags a new disk as
		 * recovering (raft.h); telling it here could not be trusted: a peer
		 * whose own disk was restored may hold a record older than a disk
		 * that has recovered since.
		 */
		raft_progress *pr = raft_tracker_get(&node->tracker, msg->from);

		if (node->role == RAFT_LEADER && pr != NULL)
			leader_forget(node, pr, 0);
		record_sender(node, rec, msg);
		return RAFT_OK;
	}
	if (counter < seen)
		return sender_behind(node, rec, msg);
	if (msg->recovering || msg->recovered)
	{
		/*
		 * It knows it was behind and catches up, or has caught up since
		 * it started: what it says now is what it has.
		 */
		if (msg->from_boot != rec->boot)
			record_sender(node, rec, msg);
		return RAFT_OK;
	}
	if (counter == seen && msg->from_boot != rec->boot)
		return sender_behind(node, rec, msg);
	if (counter > seen)
	{
		/* A new life opens with a message of the sender's own term. */
		if (!term_is_senders(msg))
			return RAFT_OK;
		if (msg->term < rec->term)
			return sender_behind(node, rec, msg);
		record_sender(node, rec, msg);
		return RAFT_OK;
	}
	if (term_is_senders(msg) && msg->term > rec->term)
	{
		rec->term = msg->term;
		node->peers_version++;
	}
	return RAFT_OK;
}

/* ---- the member that recovers ----------------------------------------- */

/* Votes granted and not yet handed to the host are not ours to give. */
static void
withdraw_grants(raft_node *node)
{
	raft_message_queue *queue = &node->msgs;
	uint32_t kept = 0;

	for (uint32_t i = 0; i < queue->n; i++)
	{
		raft_message *m = &queue->items[i];

		if ((m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PREVOTE_RESP) &&
			!m->reject)
			raft_message_release(m);
		else
			queue->items[kept++] = *m;
	}
	queue->n = kept;
}

/*
 * RECOVER names one of our lives: if it is the current one, we are behind
 * what a peer saw of us.  Whatever the sender's term: a peer of an older
 * term may know our newer state.  We also take a boot counter above any
 * the peer saw, so that our next messages are not taken for stale ones.
 * If we have already caught up in this life (a restored disk the host
 * told us about, recovered before this peer heard from us), the peer's
 * record is older than our recovery: only the counter moves.
 */
void
raft_recovery_notice(raft_node *node, const raft_message *msg)
{
	if (!msg->reject || msg->context != node->life)
		return; /* a target only, or about an earlier life */
	/* Caught up since it started: the peer's record is older than that. */
	if (!node->recovering && !node->recovered)
	{
		node->recovering = true;
		node->recovery_target = 0;
		withdraw_grants(node);
		if (node->role != RAFT_FOLLOWER)
			raft_become_follower(node, node->term, RAFT_NONE);
	}
	if (node->incarnation != 0 && msg->commit >= node->boot &&
		msg->commit + 1 < BOOT_LIMIT)
	{
		node->boot = msg->commit + 1;
		node->life = life_of(node);
	}
}

/*
 * A follower hears from its leader.  A recovering one takes the leader's
 * target, and records its vote for that leader in this term if it has
 * none: it may have voted in this term before it lost its state, and must
 * not vote for anyone else in it now.
 */
void
raft_recovery_follow(raft_node *node, const raft_message *msg)
{
	if (!node->recovering)
		return;
	if (node->vote == RAFT_NONE)
		node->vote = msg->from;
	if (msg->type == RAFT_MSG_RECOVER && msg->index > 0 &&
		msg->context == node->life && node->recovery_target == 0)
	{
		node->recovery_target = msg->index;
		node->recovery_target_term = msg->log_term;
		node->recovery_leader_term = node->term;
	}
}

/*
 * Caught up: the target is committed here, from the leader that gave it.
 * Every entry that could have been committed with what we lost is at or
 * below the target, so we hold it again.
 */
void
raft_recovery_maybe_finish(raft_node *node)
{
	raft_index target = node->recovery_target;
	raft_term term;

	if (!node->recovering || target == 0)
		return;
	if (node->recovery_leader_term != node->term)
	{
		node->recovery_target = 0; /* a new leader gives a new target */
		return;
	}
	if (node->log.committed < target)
		return;
	if (node->recovery_target_term != 0 &&
		raft_log_term(&node->log, target, &term) == RAFT_OK &&
		term != node->recovery_target_term)
		return;
	node->recovering = false;
	node->recovered = true;
	node->recovery_target = 0;
}

bool
raft_recovery_may_vote(const raft_node *node)
{
	return !node->recovering && node->quiet_ticks == 0;
}

void
raft_recovery_tick(raft_node *node)
{
	if (node->quiet_ticks > 0)
		node->quiet_ticks--;
}

/* ---- the leader ------------------------------------------------------- */

/*
 * A message from pr's member, accepted: if it says it recovers and we have
 * not given it a target in this life of it, forget its match and give one
 * now; repeat the target at each heartbeat answer, in case it was lost.
 */
void
raft_recovery_observe(raft_node *node, raft_progress *pr, const raft_message *msg)
{
	if (!msg->recovering)
	{
		pr->recovering = false;
		return;
	}
	/* A delayed word from a life that has recovered since. */
	if (!pr->recovering && pr->recovery_life == msg->from_boot &&
		msg->from_boot != 0)
		return;
	if (pr->recovering && pr->recovery_life == 0)
		pr->recovery_life = msg->from_boot; /* the life we told */
	else if (!pr->recovering || pr->recovery_life != msg->from_boot)
	{
		leader_forget(node, pr, 0);
		pr->recovery_life = msg->from_boot;
	}
	else if (msg->type != RAFT_MSG_HEARTBEAT_RESP)
		return;
	send_recover(node, pr->id, msg->from_boot, false, 0, pr->recovery_target);
}

/*
 * A rejection whose hint is below what the member acknowledged: its log
 * now ends before entries it told us it had.  From another life of it
 * than the one that acknowledged them, it lost state (a wiped or restored
 * disk): forget it and tell it.  Otherwise (the same life, or a member
 * that does not say) it is most likely a rejection delayed in the network,
 * but we cannot be sure, and probing at the old match again would loop
 * forever if it is not: believe the newest word, lower its match to the
 * hint and probe from there.  A stale rejection then costs a resend; a
 * lower match never commits more.
 */
bool
raft_recovery_lost_entries(raft_node *node, raft_progress *pr,
						   const raft_message *msg)
{
	if (msg->reject_hint >= pr->match || msg->index < pr->match)
		return false;
	if (msg->from_boot != 0 && pr->match_life != 0 &&
		msg->from_boot != pr->match_life)
	{
		leader_forget(node, pr, msg->reject_hint + 1);
		send_recover(node, pr->id, msg->from_boot, true, 0, pr->recovery_target);
		return true;
	}
	raft_progress_lower_match(pr, msg->reject_hint);
	return true;
}
