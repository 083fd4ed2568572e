/*
 * purge - remove old log, statistics and history files; see purge.h.
 *
 * Only regular files whose names match our own patterns go; symlinks,
 * directories and anything else a user put there stay.  Entries are
 * examined and removed relative to the opened directory (fstatat,
 * unlinkat), so a directory swapped under us cannot redirect the removal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "purge.h"

#define DAY_SECONDS	86400

int     purge_dir(const char *dir, const char *glob, int days, time_t now)
{
    DIR    *dp;
    struct dirent *de;
    struct stat st;
    time_t  cutoff;
    int     removed = 0;

    if (days <= 0 || dir == 0 || *dir == 0 || glob == 0)
	return (0);
    if ((dp = opendir(dir)) == 0) {
	if (errno != ENOENT)
	    msg_warn("purge: cannot read %s: %m", dir);
	return (-1);
    }
    cutoff = now - (time_t) days * DAY_SECONDS;
    while ((de = readdir(dp)) != 0) {
	if (fnmatch(glob, de->d_name, FNM_PERIOD) != 0)
	    continue;
	if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
	    || !S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
	    continue;
	if (unlinkat(dirfd(dp), de->d_name, 0) < 0) {
	    msg_warn("purge: cannot remove %s/%s: %m", dir, de->d_name);
	    continue;
	}
	msg_verbose("purge: removed %s/%s", dir, de->d_name);
	removed++;
    }
    closedir(dp);
    return (removed);
}

/* purge_dir, with a missing directory counted as nothing to do. */
static int purge_one(const char *dir, const char *glob, int days,
		     time_t now)
{
    int     n = purge_dir(dir, glob, days, now);

    return (n < 0 ? 0 : n);
}

static int purge_history(const char *dir, int days, time_t now)
{
    static const char *const subs[] = {"HIST-IN", "HIST-OUT"};
    char    path[PATH_MAX];
    size_t  i;
    int     removed = 0;

    if (dir == 0 || *dir == 0)
	return (0);
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
	if (snprintf(path, sizeof(path), "%s/%s", dir, subs[i])
	    >= (int) sizeof(path))
	    continue;
	removed += purge_one(path, "*.eml", days, now);
    }
    return (removed);
}

int     purge_all(const struct cf_config *cfg, time_t now)
{
    int     removed = 0;

    if (cfg == 0)
	return (0);
    removed += purge_one(cfg->log.directory, "MB*.LOG", cfg->log.purge_days,
			 now);
    removed += purge_one(cfg->statistics.directory, "S[RPSV]*.CSV",
			 cfg->statistics.purge_days, now);
    removed += purge_history(cfg->history.directory, cfg->history.purge_days,
			     now);
    if (removed > 0)
	msg_info("purge: removed %d old file%s", removed,
		 removed == 1 ? "" : "s");
    return (removed);
}

/* The daemons' threads share one clock: 0 = not run yet. */
static pthread_mutex_t purge_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t purge_last;

void    purge_maybe(const struct cf_config *cfg, time_t now)
{
    int     due;

    /* Another thread purging right now is as good as doing it. */
    if (pthread_mutex_trylock(&purge_lock) != 0)
	return;
    /* A clock set back a long way must not stop purging for good. */
    due = purge_last == 0 || now - purge_last >= DAY_SECONDS
	|| now < purge_last;
    if (due) {
	purge_last = now;
	(void) purge_all(cfg, now);
    }
    pthread_mutex_unlock(&purge_lock);
}
