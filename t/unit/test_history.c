/*
 * test_history - HIST-IN / HIST-OUT files: disabled, modes, names,
 * hostile queue ids, symlinks, uniqueness.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "history.h"

static char *tmp_dir(const char *name)
{
    const char *base = getenv("CF_TMPDIR");
    char    path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/hist-%s-XXXXXX",
	     base && *base ? base : "/tmp", name);
    assert_non_null(mkdtemp(path));
    return (strdup(path));
}

static struct cf_history_cfg cfg_for(char *dir)
{
    struct cf_history_cfg cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.enabled = 1;
    cfg.directory = dir;
    cfg.purge_days = 14;
    return (cfg);
}

static void test_disabled(void **state)
{
    char   *dir = tmp_dir("off");
    struct cf_history_cfg cfg = cfg_for(dir);
    char    path[PATH_MAX] = "junk";
    char    sub[PATH_MAX];
    struct stat st;

    (void) state;
    cfg.enabled = 0;
    errno = EINVAL;
    assert_int_equal(history_create(&cfg, 0, "ABC", path, sizeof(path)), -1);
    assert_int_equal(errno, 0);
    assert_string_equal(path, "");
    errno = EINVAL;
    assert_int_equal(history_create(0, 1, "ABC", 0, 0), -1);
    assert_int_equal(errno, 0);
    snprintf(sub, sizeof(sub), "%s/HIST-IN", dir);
    assert_int_equal(stat(sub, &st), -1);	/* nothing created */
    free(dir);
}

/* Check the name, the modes, and that the fd writes into the file. */
static void check_file(const char *dir, const char *sub, const char *path,
		       const char *qid_want, int fd)
{
    char    prefix[PATH_MAX];
    char    pattern[256];
    regex_t re;
    struct stat st;
    char    buf[16];
    int     rfd;

    snprintf(prefix, sizeof(prefix), "%s/%s/", dir, sub);
    assert_memory_equal(path, prefix, strlen(prefix));
    snprintf(pattern, sizeof(pattern),
	     "^[0-9]{8}-[0-9]{6}-%s-[0-9]+n[0-9]+\\.eml$", qid_want);
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&re, path + strlen(prefix), 0, 0, 0) != 0)
	fail_msg("bad history name %s (want %s)", path + strlen(prefix),
		 pattern);
    regfree(&re);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    prefix[strlen(prefix) - 1] = 0;
    assert_int_equal(lstat(prefix, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(write(fd, "Subject: x\r\n", 12), 12);
    assert_int_equal(close(fd), 0);
    rfd = open(path, O_RDONLY);
    assert_true(rfd >= 0);
    assert_int_equal(read(rfd, buf, sizeof(buf)), 12);
    close(rfd);
}

static void test_in_out(void **state)
{
    char   *dir = tmp_dir("io");
    struct cf_history_cfg cfg = cfg_for(dir);
    char    path[PATH_MAX];
    int     fd;
    mode_t  old_umask = umask(0);	/* modes must not depend on it */

    (void) state;
    fd = history_create(&cfg, 0, "4F1A2B3C4D", path, sizeof(path));
    assert_true(fd >= 0);
    check_file(dir, "HIST-IN", path, "4F1A2B3C4D", fd);
    fd = history_create(&cfg, 1, "4F1A2B3C4E", path, sizeof(path));
    assert_true(fd >= 0);
    check_file(dir, "HIST-OUT", path, "4F1A2B3C4E", fd);
    umask(old_umask);
    free(dir);
}

static void test_missing_parent(void **state)
{
    char   *base = tmp_dir("mk");
    char    dir[PATH_MAX];
    struct cf_history_cfg cfg;
    char    path[PATH_MAX];
    int     fd;

    (void) state;
    snprintf(dir, sizeof(dir), "%s/history", base);
    cfg = cfg_for(dir);
    fd = history_create(&cfg, 1, "Q1", path, sizeof(path));
    assert_true(fd >= 0);
    check_file(dir, "HIST-OUT", path, "Q1", fd);
    free(base);
}

static void test_hostile_queue_ids(void **state)
{
    static const struct {
	const char *qid;
	const char *clean;
    } cases[] = {
	{"../x", "x"},
	{"../../../../etc/passwd", "etcpasswd"},
	{"/abs/path", "abspath"},
	{"a\\b", "ab"},
	{"..", "NOQUEUE"},
	{"", "NOQUEUE"},
	{0, "NOQUEUE"},
	{"NOQUEUE", "NOQUEUE"},
	{"4F1A.2B-3C_4D", "4F1A2B3C4D"},
	{"a\r\nb\x01\xff", "ab"},
	{"0123456789012345678901234567890123456789", /* cut at 32 */
	 "01234567890123456789012345678901"},
    };
    char   *dir = tmp_dir("qid");
    struct cf_history_cfg cfg = cfg_for(dir);
    char    path[PATH_MAX];
    size_t  i;
    int     fd;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
	fd = history_create(&cfg, (int) (i & 1), cases[i].qid, path,
			    sizeof(path));
	assert_true(fd >= 0);
	check_file(dir, (i & 1) ? "HIST-OUT" : "HIST-IN", path,
		   cases[i].clean, fd);
    }
    free(dir);
}

static void test_unique_and_short_path(void **state)
{
    char   *dir = tmp_dir("uniq");
    struct cf_history_cfg cfg = cfg_for(dir);
    char    a[PATH_MAX];
    char    b[PATH_MAX];
    char    tiny[8] = "junk";
    int     fd1;
    int     fd2;
    int     fd3;

    (void) state;
    fd1 = history_create(&cfg, 0, "SAME", a, sizeof(a));
    fd2 = history_create(&cfg, 0, "SAME", b, sizeof(b));
    assert_true(fd1 >= 0 && fd2 >= 0);
    assert_string_not_equal(a, b);
    /* PATH too small: the fd is still good, PATH is empty, not cut. */
    fd3 = history_create(&cfg, 0, "SAME", tiny, sizeof(tiny));
    assert_true(fd3 >= 0);
    assert_string_equal(tiny, "");
    close(fd1);
    close(fd2);
    close(fd3);
    /* NULL PATH is fine too. */
    fd1 = history_create(&cfg, 0, "SAME", 0, 0);
    assert_true(fd1 >= 0);
    close(fd1);
    free(dir);
}

static void test_symlinked_subdir(void **state)
{
    char   *dir = tmp_dir("sym");
    char   *elsewhere = tmp_dir("elsewhere");
    struct cf_history_cfg cfg = cfg_for(dir);
    char    link_path[PATH_MAX];
    char    path[PATH_MAX];

    (void) state;
    snprintf(link_path, sizeof(link_path), "%s/HIST-IN", dir);
    assert_int_equal(symlink(elsewhere, link_path), 0);
    assert_int_equal(history_create(&cfg, 0, "Q", path, sizeof(path)), -1);
    assert_int_not_equal(errno, 0);		/* a failure, not "disabled" */
    /* A plain file where HIST-OUT should be is refused as well. */
    snprintf(link_path, sizeof(link_path), "%s/HIST-OUT", dir);
    close(open(link_path, O_WRONLY | O_CREAT, 0600));
    assert_int_equal(history_create(&cfg, 1, "Q", path, sizeof(path)), -1);
    free(elsewhere);
    free(dir);
}

/*
 * Symlinks planted at the names history_create() will try next (same
 * second or the next one, the next few counters) are never followed: it
 * skips to a free name and the symlink target is never created.
 */
static void test_planted_symlinks(void **state)
{
    char   *dir = tmp_dir("plant");
    struct cf_history_cfg cfg = cfg_for(dir);
    char    path[PATH_MAX];
    char    victim[PATH_MAX];
    char    planted[PATH_MAX];
    char    stamp[32];
    long    pid;
    unsigned long n;
    int     fd;
    int     s;
    unsigned long k;
    struct stat st;
    struct tm tm;
    time_t  t;

    (void) state;
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    fd = history_create(&cfg, 0, "Q", path, sizeof(path));
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sscanf(strrchr(path, '/') + 1, "%*8d-%*6d-Q-%ldn%lu.eml",
			    &pid, &n), 2);
    assert_int_equal(pid, (long) getpid());
    t = time(0);
    for (s = 0; s <= 2; s++) {
	time_t  when = t + s;

	localtime_r(&when, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (k = n + 1; k <= n + 5; k++) {
	    snprintf(planted, sizeof(planted), "%s/HIST-IN/%s-Q-%ldn%lu.eml",
		     dir, stamp, pid, k);
	    assert_int_equal(symlink(victim, planted), 0);
	}
    }
    fd = history_create(&cfg, 0, "Q", path, sizeof(path));
    assert_true(fd >= 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    assert_int_equal(lstat(victim, &st), -1);
    free(dir);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_disabled),
	cmocka_unit_test(test_in_out),
	cmocka_unit_test(test_missing_parent),
	cmocka_unit_test(test_hostile_queue_ids),
	cmocka_unit_test(test_unique_and_short_path),
	cmocka_unit_test(test_symlinked_subdir),
	cmocka_unit_test(test_planted_symlinks),
    };

    return (cmocka_run_group_tests(tests, 0, 0));
}
