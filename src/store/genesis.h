/*-------------------------------------------------------------------------
 *
 * genesis.h
 *	  Genesis documents: creating a channel from its block 0, and the
 *	  GENESIS records nodes send each other.
 *
 * src/store/genesis.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_GENESIS_H
#define ORDERING_STORE_GENESIS_H

#include "store/state.h"

/*
 * Inserts the channel's rows (channels, consenters, raft_state) and block 0
 * from the genesis document, whose exact bytes become block 0's item, so
 * block 0 is byte-identical on every node.  The document must be canonical
 * jsonb text of channel with "change": "genesis".  SPI must be connected;
 * works in the caller's transaction.  ERROR 42710 if the channel exists.
 * recovering: NULL for the channel's founder; else why this node may have
 * held the channel before (it then votes only once it has caught up).
 */
extern void
StoreInstallGenesis(const char *channel, const char *genesis_document,
					const char *recovering);

/*
 * Why a joiner recovers: it cannot tell a first join from coming back with
 * a wiped disk, so it votes only once it has caught up, unless the channel
 * had no election yet (README.md, "Lost and rolled-back state").
 */
#define STORE_JOIN_RECOVERING                                                 \
	"joined a channel that already had an election: this node may have held it before and lost its state"
#define STORE_JOIN_CHANNEL_RECOVERING                                         \
	"joined with ordering.join_channel() a channel that already had an election: this node may have held it before and lost its state"

/* Block 0's configuration document, copied into cxt; NULL if none. */
extern char *StoreGenesisDocument(const char *channel, MemoryContext cxt);
/* The hash of the channel's block 0 as stored; false if there is none. */
extern bool StoreBlock0Hash(const char *channel, uint8 hash[ORDERING_HASH_LEN]);

/*
 * Parses a GENESIS record {"genesis": "<document>", "consenters": {...},
 * "term": <the sender's Raft term>}: returns the document and fills book
 * (at most RAFT_MAX_MEMBERS entries), all allocated in cxt;
 * *before_election says the sender was still at term 0.  ERROR on a
 * malformed record.
 */
extern char *StoreParseGenesisRecord(const char *data, Size len, int *n_book,
									 ChannelMember *book,
									 bool *before_election, MemoryContext cxt);

/*
 * The consenters of a configuration document (at most RAFT_MAX_MEMBERS,
 * by raft id), allocated in cxt; returns how many.  ERROR on a malformed
 * document.
 */
extern int StoreDocumentConsenters(const char *document,
								   ChannelMember *members, MemoryContext cxt);

#endif /* ORDERING_STORE_GENESIS_H */
