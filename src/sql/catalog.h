/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  What the SQL functions read from and write to the ordering tables,
 *	  through SPI.
 *
 * Every function here but OrderingChannelSettings expects SPI to be
 * connected by its caller, and returns values allocated in the caller's
 * SPI procedure context.
 *
 * src/sql/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_SQL_CATALOG_H
#define ORDERING_SQL_CATALOG_H

#include "executor/spi.h"

#include "common/channel_settings.h"

/*
 * Reads a channel's settings (needs no SPI).  Errors 42704 ("channel ...
 * does not exist") when there is no such channel, 55000 when it is an
 * archive here (no Raft state).
 */
extern void
OrderingChannelSettings(const char *channel, OrderingSettings *settings);
extern bool OrderingChannelExists(const char *channel);
extern int OrderingChannelCount(void);

/* A consenter of a channel: found? and whether it is a learner. */
extern bool
OrderingFindConsenter(const char *channel, const char *node, bool *is_learner);
extern int OrderingConsenterCount(const char *channel, bool voters_only);
/* A consenter's conninfo (palloc'd; own SPI connection), or NULL. */
extern char *OrderingConsenterConninfo(const char *channel, const char *node);

/* Errors 42704 with the contract's message. */
extern void
OrderingReportUnknownChannel(const char *channel) pg_attribute_noreturn();

#endif /* ORDERING_SQL_CATALOG_H */
