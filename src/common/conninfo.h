/*-------------------------------------------------------------------------
 *
 * conninfo.h
 *	  Checks of a consenter's connection string.
 *
 * src/common/conninfo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_CONNINFO_H
#define ORDERING_CONNINFO_H

/* ERROR 22023 unless conninfo parses the way libpq will read it. */
extern void OrderingCheckConninfo(const char *node, const char *conninfo);

#endif /* ORDERING_CONNINFO_H */
