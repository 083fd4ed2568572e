/*
 * history - HIST-IN / HIST-OUT copies of messages exactly as received.
 *
 * history_create() opens DIR/HIST-IN/ or DIR/HIST-OUT/<name>.eml, mode 0600,
 * created exclusively (never following a symlink); the caller writes the
 * message and closes it.  Name: YYYYMMDD-HHMMSS-<queue id>-<unique>.eml, the
 * queue id reduced to [A-Za-z0-9].
 */
#ifndef CF_HISTORY_H
#define CF_HISTORY_H

#include <stddef.h>

struct cf_history_cfg;

/* Returns an fd open for writing, or -1 (disabled: -1 with errno 0; failure:
 * logged).  PATH (optional) receives the file name. */
int     history_create(const struct cf_history_cfg *cfg, int outbound,
		       const char *queue_id, char *path, size_t pathlen);

#endif
