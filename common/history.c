/*
 * history - HIST-IN / HIST-OUT copies of messages; see history.h.
 *
 * The queue id comes from Postfix but is still reduced to [A-Za-z0-9], so
 * no value can steer the name out of the directory.  Files are created
 * with O_EXCL | O_NOFOLLOW: a planted symlink or an existing file is never
 * written through.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "history.h"
#include "log.h"

#define QUEUE_ID_MAX	32		/* Postfix long ids are < 20 */

static unsigned long name_counter;

/* Copy the [A-Za-z0-9] characters of QUEUE_ID, "NOQUEUE" when none. */
static void queue_id_clean(char *out, size_t outlen, const char *queue_id)
{
    size_t  n = 0;

    for (; queue_id && *queue_id && n + 1 < outlen; queue_id++) {
	int     c = (unsigned char) *queue_id;

	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
	    || (c >= '0' && c <= '9'))
	    out[n++] = (char) c;
    }
    out[n] = 0;
    if (n == 0)
	snprintf(out, outlen, "NOQUEUE");
}

/* PATH must be a real directory, not a symlink planted to redirect us. */
static int dir_check(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
	return (-1);
    if (!S_ISDIR(st.st_mode)) {
	errno = ENOTDIR;
	return (-1);
    }
    return (0);
}

/* DIR, then DIR/SUB, mode 0700 when they are missing. */
static int dir_make(const char *dir, const char *sub, char *path,
		    size_t pathlen)
{
    if (snprintf(path, pathlen, "%s/%s", dir, sub) >= (int) pathlen) {
	errno = ENAMETOOLONG;
	return (-1);
    }
    if (mkdir(path, 0700) == 0)
	return (0);
    if (errno == EEXIST)
	return (dir_check(path));
    if (errno != ENOENT)
	return (-1);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
	return (-1);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
	return (-1);
    return (dir_check(path));
}

int     history_create(const struct cf_history_cfg *cfg, int outbound,
		       const char *queue_id, char *path, size_t pathlen)
{
    char    dir[PATH_MAX];
    char    file[PATH_MAX];
    char    qid[QUEUE_ID_MAX + 1];
    char    stamp[32];
    struct tm tm;
    time_t  now = time(0);
    int     fd = -1;
    int     tries;

    if (path && pathlen)
	*path = 0;
    if (cfg == 0 || !cfg->enabled || cfg->directory == 0
	|| *cfg->directory == 0) {
	errno = 0;
	return (-1);
    }
    if (dir_make(cfg->directory, outbound ? "HIST-OUT" : "HIST-IN",
		 dir, sizeof(dir)) < 0) {
	msg_error("history: cannot create %s: %m", dir);
	return (-1);
    }
    queue_id_clean(qid, sizeof(qid), queue_id);
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    /* pid + counter is unique unless a stale file of a dead process with
     * the same pid is in the way: then take the next counter. */
    for (tries = 0; tries < 100 && fd < 0; tries++) {
	if (snprintf(file, sizeof(file), "%s/%s-%s-%ldn%lu.eml", dir, stamp,
		     qid, (long) getpid(),
		     __atomic_fetch_add(&name_counter, 1, __ATOMIC_RELAXED))
	    >= (int) sizeof(file)) {
	    errno = ENAMETOOLONG;
	    break;
	}
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0 && errno != EEXIST)
	    break;
    }
    if (fd < 0) {
	msg_error("history: cannot create a file in %s: %m", dir);
	return (-1);
    }
    if (path && pathlen) {
	if (strlen(file) < pathlen)
	    memcpy(path, file, strlen(file) + 1);
    }
    return (fd);
}
