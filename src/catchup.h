/*-------------------------------------------------------------------------
 *
 * catchup.h
 *	  Pulling the blocks a received snapshot covers from a peer, with SQL
 *	  over libpq, and verifying their hash chain before inserting them.
 *
 * src/catchup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CATCHUP_H
#define ORDERING_CATCHUP_H

#include "postgres.h"

#include "channel.h"
#include "raft.h"

/*
 * Inside the worker transaction that installs snapshot: inserts blocks
 * ch->last_block + 1 .. the snapshot's last_block (and their transactions)
 * pulled from the leader or another consenter, after checking that they
 * link into ch->last_block and that every data_hash and hash is right
 * (design §3); advances ch->last_block/last_hash.  ERROR when no peer
 * could provide a verified chain; the caller's transaction then aborts.
 */
extern void CatchupPullBlocks(Channel *ch, const raft_snapshot *snapshot);

#endif							/* ORDERING_CATCHUP_H */
