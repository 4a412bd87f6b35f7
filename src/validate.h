/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Checks of what users hand to the SQL functions: names, connection
 *	  strings, channel settings, consenter documents.
 *
 * Every check raises a clear ERROR with the SQLSTATE named in
 * notes/pg_contract.md, before anything is changed.
 *
 * src/validate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_VALIDATE_H
#define ORDERING_VALIDATE_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"

#include "ordering.h"

/* Bytes of a consenter's connection string. */
#define ORDERING_CONNINFO_MAX 1024

/* The settings of a channel (ordering.channels.config), all filled in. */
typedef struct OrderingSettings
{
	int64		max_message_count;
	int64		absolute_max_bytes;
	int64		preferred_max_bytes;
	int64		batch_timeout;	/* ms */
	int64		snapshot_interval_bytes;
	int64		election_tick;
	int64		heartbeat_tick;
} OrderingSettings;

/* A consenter as create_channel's document names it. */
typedef struct OrderingConsenter
{
	char	   *node;
	char	   *conninfo;
	uint64		raft_id;		/* 1..n in ascending order of node name */
} OrderingConsenter;

/* Function arguments: error 22004 when NULL. */
extern char *OrderingTextArg(FunctionCallInfo fcinfo, int argno,
							 const char *name);
extern void OrderingRequireArg(FunctionCallInfo fcinfo, int argno,
							   const char *name);

extern void OrderingCheckChannelName(const char *channel);
extern void OrderingCheckNodeName(const char *node);
extern void OrderingCheckConninfo(const char *node, const char *conninfo);
extern void OrderingCheckTxId(const char *tx_id);

/* Settings: defaults, and a base overlaid with a user's changes. */
extern void OrderingSettingsDefaults(OrderingSettings *settings);
extern void OrderingSettingsFromJsonb(Jsonb *config, OrderingSettings *settings);
extern void OrderingSettingsApply(OrderingSettings *settings, Jsonb *changes);
extern Jsonb *OrderingSettingsToJsonb(const OrderingSettings *settings);

/*
 * Parses a consenters document {"node": "conninfo", ...}: 1..RAFT_MAX_MEMBERS
 * valid nodes with valid conninfos, sorted by node name with raft ids 1..n.
 */
extern OrderingConsenter *OrderingParseConsenters(Jsonb *consenters,
												  int *n_consenters);

#endif							/* ORDERING_VALIDATE_H */
