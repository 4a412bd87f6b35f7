/*-------------------------------------------------------------------------
 *
 * load.c
 *	  Reading a channel back from the tables: its state, the Raft state
 *	  the node starts from, and its log in the memory storage.
 *
 * src/store/load.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "store/chain.h"
#include "store/identity.h"
#include "store/load.h"
#include "store/log.h"
#include "store/snapshot.h"

bool
StoreLoadChannel(ChannelState *ch, StoreRaftState *state,
				 raft_memory_storage *storage)
{
	raft_storage view;
	raft_term term = 0;
	int64 head_raft_index;

	StoreLoadSettings(ch);
	if (ch->settings_json == NULL)
		return false;
	StoreLoadConsenters(ch);
	StoreLoadRaftState(ch, state);
	StoreLoadChainHead(ch, &head_raft_index);
	if (ch->archived)
		return true;
	StoreCheckChainHead(ch, state, head_raft_index);
	StoreLoadPeers(ch, state);
	if (state->snapshot.data_size > 0)
	{
		char *detail;

		/* Written by hand, not by a worker: say what to do about it. */
		if (!StoreSnapshotIsJson(state->snapshot.data,
								 state->snapshot.data_size, &detail))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the stored snapshot of channel \"%s\" is not a JSON document",
							ch->name),
					 errdetail("ordering.raft_state.snapshot_data: %s", detail),
					 errhint(STORE_IDENTITY_REMEDY)));
		StoreCheckSnapshotChain(ch, state->snapshot.data,
								state->snapshot.data_size);
		StoreSnapshotConfig(state->snapshot.data, state->snapshot.data_size,
							&state->snapshot.meta.config);
	}

	if (state->snapshot.meta.index > 0)
	{
		int rc = raft_memory_storage_apply_snapshot(storage, &state->snapshot);

		if (rc != RAFT_OK)
			elog(ERROR, "could not load the snapshot of channel \"%s\": %s",
				 ch->name, raft_strerror(rc));
	}
	StoreLoadLog(ch, storage);

	view = raft_memory_storage_view(storage);
	if (view.term(view.ud, ch->log.applied_index, &term) != RAFT_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("log of channel \"%s\" lacks its applied index " UINT64_FORMAT,
						ch->name, (uint64) ch->log.applied_index)));
	ch->log.applied_term = term;
	return true;
}
