/*-------------------------------------------------------------------------
 *
 * channel_identity.c
 *	  Who a node is in a channel: the role it logs in as (the user of its
 *	  conninfo), the role this node connects to its peers as, and the
 *	  check every record from a peer passes before the channel uses it.
 *
 * PostgreSQL authenticates the caller of ordering.deliver(); the role it
 * authenticated travels with each inbox record.  A record claiming to come
 * from node X is taken only when X is a member of the channel (or in the
 * address book while this node joins) and the role is X's role in this
 * channel; anything else is dropped, counted in the channel's
 * rejected_records and logged at most once a minute per peer and reason.
 *
 * Roles are parsed from conninfo strings once and kept in a small cache
 * keyed by the conninfo, bounded, reset when full.
 *
 * src/worker/channel_identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "common/conninfo.h"
#include "common/gucs.h"
#include "common/node_roles.h"
#include "worker/channel_internal.h"
#include "worker/rejections.h"
#include "worker/transport.h"

#define ROLE_CACHE_MAX 1024

typedef struct RoleCacheEntry
{
	char conninfo[ORDERING_CONNINFO_MAX]; /* hash key */
	bool has_user;
	char user[ORDERING_NAME_MAX];
} RoleCacheEntry;

static HTAB *role_cache = NULL;

/* Set when some channel's members changed: the published table is stale. */
static bool members_changed = true;

const char *
ChannelRoleOf(const char *conninfo)
{
	char key[ORDERING_CONNINFO_MAX];
	RoleCacheEntry *entry;
	bool found;

	if (conninfo == NULL || strlen(conninfo) >= ORDERING_CONNINFO_MAX)
		return NULL;
	if (role_cache == NULL || hash_get_num_entries(role_cache) >= ROLE_CACHE_MAX)
	{
		HASHCTL ctl;

		if (role_cache != NULL)
			hash_destroy(role_cache);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = ORDERING_CONNINFO_MAX;
		ctl.entrysize = sizeof(RoleCacheEntry);
		ctl.hcxt = TopMemoryContext;
		role_cache = hash_create("ordering conninfo roles", 64, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	strlcpy(key, conninfo, sizeof(key));
	entry = hash_search(role_cache, key, HASH_ENTER, &found);
	if (!found)
	{
		char *user = OrderingConninfoUser(conninfo);

		entry->has_user = user != NULL && strlen(user) < ORDERING_NAME_MAX;
		strlcpy(entry->user, entry->has_user ? user : "", sizeof(entry->user));
	}
	return entry->has_user ? entry->user : NULL;
}

const char *
ChannelOwnUser(const Channel *ch)
{
	const ChannelMember *me = ChannelPeerByNode(ch, ordering_node_name);

	return me != NULL ? ChannelRoleOf(me->conninfo) : NULL;
}

bool
ChannelSend(Channel *ch, const ChannelMember *to, OrderingRecordKind kind,
			const void *data, Size len)
{
	return TransportSend(to->node, to->conninfo, ChannelOwnUser(ch),
						 ch->state.name,
						 ch->joining.has_block0 ? ch->joining.block0 : NULL,
						 kind, data, len);
}

void
ChannelReject(Channel *ch, const char *from_node, const char *reason,
			  const char *detail)
{
	ch->counters.rejected_records++;
	ch->counters.status_dirty = true;
	RejectionReport(from_node, ch->state.name, reason, detail);
}

/*
 * The members; while this node is not one of them yet (it joins), the
 * address book a member gave it too.  A stale book never admits a node
 * the channel has removed.
 */
static const ChannelMember *
channel_admissible_member(const Channel *ch, const char *node)
{
	if (ChannelMemberByNode(ch, ordering_node_name) != NULL)
		return ChannelMemberByNode(ch, node);
	return ChannelPeerByNode(ch, node);
}

const ChannelMember *
ChannelAdmit(Channel *ch, const char *from_node, const char *session_role)
{
	const ChannelMember *m = channel_admissible_member(ch, from_node);
	const char *role;

	if (m == NULL || strcmp(from_node, ordering_node_name) == 0)
	{
		ChannelReject(ch, from_node, "the node is not a member of the channel",
					  NULL);
		return NULL;
	}
	role = ChannelRoleOf(m->conninfo);
	if (role == NULL || strcmp(role, session_role) != 0)
	{
		ChannelReject(ch, from_node, "delivered by another role than the node's",
					  psprintf("Delivered by role \"%s\"; the node logs in as \"%s\".",
							   session_role, role != NULL ? role : ""));
		return NULL;
	}
	return m;
}

void
ChannelNoteMembersChanged(void)
{
	members_changed = true;
}

/* Every (node, role) of the channels' members and address books. */
void
ChannelPublishNodeRoles(Channel *const *channels, int n_channels)
{
	OrderingNodeRole *pairs;
	int n = 0;

	if (!members_changed)
		return;
	pairs = palloc(sizeof(OrderingNodeRole) * ORDERING_MAX_NODE_ROLES);
	for (int c = 0; c < n_channels; c++)
	{
		const Channel *ch = channels[c];
		int n_entries;

		if (ch == NULL)
			continue;
		n_entries = ch->state.n_members + ch->joining.n_book;
		for (int i = 0; i < n_entries && n < ORDERING_MAX_NODE_ROLES; i++)
		{
			const ChannelMember *m = i < ch->state.n_members
				? &ch->state.members[i]
				: &ch->joining.book[i - ch->state.n_members];
			const char *role = ChannelRoleOf(m->conninfo);
			bool seen = false;

			if (role == NULL)
				continue;
			for (int j = 0; j < n && !seen; j++)
				seen = strcmp(pairs[j].node, m->node) == 0 &&
					strcmp(pairs[j].role, role) == 0;
			if (seen)
				continue;
			strlcpy(pairs[n].node, m->node, sizeof(pairs[n].node));
			strlcpy(pairs[n].role, role, sizeof(pairs[n].role));
			n++;
		}
	}
	OrderingNodeRolesPublish(n, pairs);
	pfree(pairs);
	members_changed = false;
}
