/*
 * purge - remove log, statistics and history files older than purge_days.
 *
 * Only files whose names look like ours are touched (MB*.LOG, S[RPSV]*.CSV,
 * *.eml under HIST-IN / HIST-OUT), so a misconfigured directory cannot cost
 * a user's files.  Only regular files go (never symlinks or directories);
 * names are matched case-sensitively and hidden files never match.  Age is
 * the file's mtime: a file goes when it is more than DAYS * 86400 seconds
 * old.
 */
#ifndef CF_PURGE_H
#define CF_PURGE_H

#include <time.h>

struct cf_config;

/* Remove files in DIR older than DAYS days (DAYS <= 0: keep all) whose
 * names match the shell glob GLOB.  Returns the number removed, -1 when
 * DIR cannot be read. */
int     purge_dir(const char *dir, const char *glob, int days, time_t now);

/* Logs, statistics and history of CFG (missing directories are skipped,
 * history is purged even while disabled).  Returns the number removed. */
int     purge_all(const struct cf_config *cfg, time_t now);

/* For daemons: call often, from any thread; runs purge_all at most once
 * a day (the first call runs it; a clock set back runs it again). */
void    purge_maybe(const struct cf_config *cfg, time_t now);

#endif
