/*-------------------------------------------------------------------------
 *
 * rejections.h
 *	  Logging the records the worker drops from peers, at most once per
 *	  peer and reason per minute.
 *
 * A hostile or misconfigured peer can send records as fast as deliver()
 * takes them; each dropped record is counted (ordering.status,
 * ordering.transport_stats()), but the server log gets one line per
 * (peer, reason) and minute, with the number left out since the last one.
 * The reason is a fixed text; what a peer chose (names, parse errors)
 * goes only into the detail, so it cannot make every line a new one.
 *
 * src/worker/rejections.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_REJECTIONS_H
#define ORDERING_REJECTIONS_H

/*
 * Logs (rate-limited) that a record of channel from from_node was dropped
 * for reason; detail (may be NULL) is logged with it.
 */
extern void RejectionReport(const char *from_node, const char *channel,
							const char *reason, const char *detail);

#endif /* ORDERING_REJECTIONS_H */
