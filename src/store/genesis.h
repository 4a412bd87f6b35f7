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
 */
extern void
StoreInstallGenesis(const char *channel, const char *genesis_document);

/* Block 0's configuration document, copied into cxt; NULL if none. */
extern char *StoreGenesisDocument(const char *channel, MemoryContext cxt);

/*
 * Parses a GENESIS record {"genesis": "<document>", "consenters": {...}}:
 * returns the document and fills book (at most RAFT_MAX_MEMBERS entries),
 * all allocated in cxt.  ERROR on a malformed record.
 */
extern char *StoreParseGenesisRecord(const char *data, Size len, int *n_book,
									 ChannelMember *book, MemoryContext cxt);

/*
 * The consenters of a configuration document (at most RAFT_MAX_MEMBERS,
 * by raft id), allocated in cxt; returns how many.  ERROR on a malformed
 * document.
 */
extern int StoreDocumentConsenters(const char *document,
								   ChannelMember *members, MemoryContext cxt);

#endif /* ORDERING_STORE_GENESIS_H */
