/*-------------------------------------------------------------------------
 *
 * tx_places.h
 *	  Where transaction ids are ordered on a channel: probes of the hash
 *	  index on tx_id of ordering.transactions (store/keyed.h).
 *
 * The worker asks which ids of a batch were ordered before; a submitting
 * backend asks for the places of its ids and whether the payload ordered
 * under each is its own.
 *
 * src/store/tx_places.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_TX_PLACES_H
#define ORDERING_STORE_TX_PLACES_H

#include "store/keyed.h"

typedef struct StoreTxPlace
{
	int64 block_number;
	int32 position;
	bool same_payload; /* the payload stored equals the one asked about */
} StoreTxPlace;

typedef struct StoreTxProbe
{
	StoreKeyed keyed;
	Datum channel;
	Snapshot snapshot; /* registered until StoreTxProbeEnd */
} StoreTxProbe;

/*
 * Begins probes of channel's ids under a snapshot taken now, which sees
 * the blocks applied till now and this transaction's own rows, whatever
 * its isolation level.  Errors as StoreKeyedBegin.
 */
extern void StoreTxProbeBegin(StoreTxProbe *probe, const char *channel);

/*
 * Whether tx_id (a text datum) is ordered on the channel.  If so and place
 * is not NULL, fills it in; with a payload, same_payload compares it with
 * the stored one (bytea equality), else it is true.
 */
extern bool StoreTxProbeLookup(StoreTxProbe *probe, Datum tx_id,
							   const bytea *payload, StoreTxPlace *place);
extern void StoreTxProbeEnd(StoreTxProbe *probe);

/*
 * Which of tx_ids (C strings) are ordered on channel, rows written earlier
 * in this transaction included; the list shares their pointers.
 */
extern List *StoreTxOrderedAmong(const char *channel, List *tx_ids);

#endif /* ORDERING_STORE_TX_PLACES_H */
