/*-------------------------------------------------------------------------
 *
 * peer_chain.h
 *	  Reading a peer's chain through ordering.peer_blocks(): pages of
 *	  blocks, every field checked, every link and hash verified.
 *
 * Snapshot catch-up (catchup.c) installs what it reads; eviction
 * detection (channel_eviction.c) only looks at it.
 *
 * src/worker/peer_chain.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_PEER_CHAIN_H
#define ORDERING_PEER_CHAIN_H

#include "libpq-fe.h"
#include "utils/timestamp.h"

#include "store/chain.h"
#include "store/state.h"

/* One block as a peer sent it, checked field by field. */
typedef struct PulledBlock
{
	StoreBlockRow row; /* config points into the page's memory */
	int n_txs;
	Datum *tx_ids;	 /* text, positions 0 .. n_txs - 1 */
	Datum *payloads; /* bytea */
} PulledBlock;

typedef struct PulledPage
{
	int n_blocks;
	PulledBlock *blocks; /* numbers first, first + 1, ... */
} PulledPage;

/* Connects to a peer as own_user (this node's role in the channel). */
extern PGconn *PeerChainConnect(const char *conninfo, const char *own_user,
								TimestampTz deadline);

/*
 * Reads blocks first .. (at most max_blocks of them) of channel from the
 * peer into page, in the current memory context.  Every field is checked
 * as its row arrives (sizes, hash lengths, numbers and positions in
 * sequence, valid transaction ids, payloads within the largest
 * absolute_max_bytes, the page within its bytes) before the next is read:
 * ERROR 08P01 otherwise.  An empty page means the peer has no block first.
 */
extern void PeerChainFetch(PGconn *conn, const char *peer, const char *channel,
						   int64 first, int max_blocks, TimestampTz deadline,
						   PulledPage *page);

/*
 * Checks that block comes right after head (number, previous_hash) and
 * that its data_hash and hash are right; advances head.  ERROR XX001
 * otherwise.
 */
extern void PeerChainVerifyNext(ChainHead *head, const PulledBlock *block,
								const char *peer);

#endif /* ORDERING_PEER_CHAIN_H */
