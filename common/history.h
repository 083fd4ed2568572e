/*
 * history - HIST-IN / HIST-OUT copies of messages exactly as received.
 *
 * history_create() opens DIR/HIST-IN/ or DIR/HIST-OUT/<name>.eml, mode 0600,
 * created exclusively (never following a symlink); the caller writes the
 * message and closes it.  Name: YYYYMMDD-HHMMSS-<queue id>-<unique>.eml
 * (local time), the queue id reduced to [A-Za-z0-9] and 32 characters
 * ("NOQUEUE" when nothing is left), <unique> = <pid>n<counter>.  DIR and
 * its HIST-* subdirectories are created mode 0700 when missing.
 */
#ifndef CF_HISTORY_H
#define CF_HISTORY_H

#include <stddef.h>

struct cf_history_cfg;

/* Returns an fd open for writing, or -1 (disabled: -1 with errno 0; failure:
 * logged).  PATH (optional) receives the full path ("" when it does not
 * fit in PATHLEN). */
int     history_create(const struct cf_history_cfg *cfg, int outbound,
		       const char *queue_id, char *path, size_t pathlen);

#endif
