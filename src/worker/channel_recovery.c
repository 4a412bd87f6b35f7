/*-------------------------------------------------------------------------
 *
 * channel_recovery.c
 *	  The worker's side of storage-fault recovery (README.md, "Lost and
 *	  rolled-back state") and of archives (channels restored from a dump).
 *
 * The core decides (src/raft/README.md, section 5); the worker hands it the
 * stored identity and peer records, refuses out-of-range state with an
 * error naming the remedy, and says once in the log when the node starts
 * recovering and when it has caught up.
 *
 * src/worker/channel_recovery.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/clock.h"
#include "store/identity.h"
#include "worker/channel_internal.h"

void
ChannelLoadArchive(Channel *ch)
{
	ch->state.self_id = RAFT_NONE;
	ch->timers.retry_at =
		TimestampTzPlusMilliseconds(OrderingClockNow(), CHANNEL_BACKOFF_MAX_MS);
	ch->counters.status_dirty = true;
	if (!ch->counters.archive_logged)
		ereport(LOG,
				(errmsg("channel \"%s\" has no Raft state on this node: serving it read-only as an archive",
						ch->state.name),
				 errdetail(
					 "A channel restored from pg_dump keeps its chain but not its place in the cluster; this node neither runs Raft for it nor contacts its consenters."),
				 errhint(
					 "To make this node a member again, drop the channel here and let it join: it then recovers from its peers.")));
	ch->counters.archive_logged = true;
}

void
ChannelPeerOptions(Channel *ch, StoreRaftState *stored, raft_options *options)
{
	uint32 kept = 0;

	/* Our own id among them (a stale or edited table) would be refused. */
	for (uint32 i = 0; i < stored->n_peers && i < RAFT_MAX_MEMBERS; i++)
		if (stored->peers[i].id != ch->state.self_id)
			stored->peers[kept++] = stored->peers[i];
	stored->n_peers = kept;
	options->n_peers = kept;
	options->peers = kept > 0 ? stored->peers : NULL;
}

void
ChannelRefuseStoredState(Channel *ch, int rc)
{
	if (rc == RAFT_ERR_CORRUPT || rc == RAFT_ERR_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the stored raft state of channel \"%s\" is out of range: %s",
						ch->state.name, raft_strerror(rc)),
				 errhint(STORE_IDENTITY_REMEDY)));
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not start the raft node of channel \"%s\": %s",
					ch->state.name, raft_strerror(rc))));
}

void
ChannelNoteRecovery(Channel *ch, bool recovering)
{
	if (recovering)
		ch->counters.status_dirty = true; /* the target moves */
	if (recovering == ch->counters.recovering)
		return;
	ch->counters.recovering = recovering;
	ch->counters.status_dirty = true;
	if (recovering)
	{
		if (ch->state.recovery_reason[0] == '\0')
			strlcpy(ch->state.recovery_reason, STORE_PEER_FOUND_BEHIND,
					sizeof(ch->state.recovery_reason));
		ereport(LOG,
				(errmsg("channel \"%s\": this node may hold less than it once acknowledged; it recovers: it neither votes nor campaigns until it has caught up with a leader",
						ch->state.name),
				 errdetail("Why: %s.", ch->state.recovery_reason)));
	}
	else
	{
		ch->state.recovery_reason[0] = '\0';
		ereport(LOG,
				(errmsg("channel \"%s\": this node has caught up and votes again",
						ch->state.name)));
	}
}
