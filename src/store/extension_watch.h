/*-------------------------------------------------------------------------
 *
 * extension_watch.h
 *	  Ends a process whose extension was dropped under it.
 *
 * src/store/extension_watch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERING_STORE_EXTENSION_WATCH_H
#define ORDERING_STORE_EXTENSION_WATCH_H

/*
 * Called at the start of each transaction the process opens itself: the
 * first that finds the extension remembers it; any later one after the
 * extension was dropped (or dropped and created again) ends the process
 * (FATAL).
 */
extern void StoreCheckExtension(void);

#endif /* ORDERING_STORE_EXTENSION_WATCH_H */
