/*-------------------------------------------------------------------------
 *
 * join.h
 *	  Creating a channel from its genesis configuration document: the one
 *	  code path of create_channel, of a worker joining a channel it heard
 *	  of from a peer (GENESIS record), and of ordering.join_channel().
 *
 * src/join.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_JOIN_H
#define ORDERING_JOIN_H

#include "postgres.h"

/*
 * Inserts the channel's rows (channels, consenters, raft_state) and block 0
 * from the genesis document, whose exact bytes become block 0's item, so
 * block 0 is byte-identical on every node.  The document must be canonical
 * jsonb text of channel with "change": "genesis".  SPI must be connected;
 * works in the caller's transaction.  ERROR 42710 if the channel exists.
 */
extern void OrderingInstallGenesis(const char *channel,
								   const char *genesis_document);

#endif							/* ORDERING_JOIN_H */
