/*-------------------------------------------------------------------------
 *
 * names.h
 *	  The rules for channel names, node names and transaction ids.
 *
 * src/common/names.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_NAMES_H
#define ORDERING_NAMES_H

#define ORDERING_NODE_NAME_RULE                                               \
	"A node name is 1 to 63 characters: a letter or digit, then letters, "    \
	"digits, '.', '_' or '-'."

extern bool OrderingNodeNameIsValid(const char *node);
extern bool OrderingChannelNameIsValid(const char *channel);
extern bool OrderingTxIdIsValid(const char *tx_id, Size len);

/* ERROR 22023 unless valid. */
extern void OrderingCheckChannelName(const char *channel);
extern void OrderingCheckNodeName(const char *node);
extern void OrderingCheckTxId(const char *tx_id);

#endif /* ORDERING_NAMES_H */
