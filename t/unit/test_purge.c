/*
 * test_purge - old files go, new and foreign ones stay; once a day.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "purge.h"

#define DAY	86400
#define NOW	((time_t) 1772600767)

static char *tmp_dir(const char *name)
{
    const char *base = getenv("CF_TMPDIR");
    char    path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/purge-%s-XXXXXX",
	     base && *base ? base : "/tmp", name);
    assert_non_null(mkdtemp(path));
    return (strdup(path));
}

/* Create DIR/NAME with mtime WHEN (a file, or a directory when IS_DIR). */
static void make_at(const char *dir, const char *name, time_t when,
		    int is_dir)
{
    char    path[PATH_MAX];
    struct timeval tv[2];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (is_dir) {
	assert_int_equal(mkdir(path, 0700), 0);
    } else {
	int     fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);
    }
    tv[0].tv_sec = tv[1].tv_sec = when;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    assert_int_equal(utimes(path, tv), 0);
}

static int exists(const char *dir, const char *name)
{
    char    path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return (lstat(path, &st) == 0);
}

static void test_purge_dir(void **state)
{
    char   *dir = tmp_dir("dir");
    char    link_path[PATH_MAX];
    char    victim[PATH_MAX];
    struct timeval tv[2];

    (void) state;
    make_at(dir, "MB260101.LOG", NOW - 40 * DAY, 0);	/* old: goes */
    make_at(dir, "MB260102.LOG", NOW - 31 * DAY, 0);	/* old: goes */
    make_at(dir, "MB260303.LOG", NOW - 1 * DAY, 0);	/* new: stays */
    make_at(dir, "MB260204.LOG", NOW - 29 * DAY, 0);	/* new: stays */
    make_at(dir, "notes.txt", NOW - 400 * DAY, 0);	/* foreign */
    make_at(dir, "mb260101.log", NOW - 400 * DAY, 0);	/* not our case */
    make_at(dir, "MB260101.LOG.bak", NOW - 400 * DAY, 0);
    make_at(dir, "SR260101.CSV", NOW - 400 * DAY, 0);	/* other glob */
    make_at(dir, "MBOLD.LOG", NOW - 400 * DAY, 1);	/* a directory */
    /* A symlink matching the glob is not followed nor removed. */
    snprintf(victim, sizeof(victim), "%s/victim.txt", dir);
    make_at(dir, "victim.txt", NOW - 400 * DAY, 0);
    snprintf(link_path, sizeof(link_path), "%s/MBLINK.LOG", dir);
    assert_int_equal(symlink(victim, link_path), 0);
    tv[0].tv_sec = tv[1].tv_sec = NOW - 400 * DAY;
    tv[0].tv_usec = tv[1].tv_usec = 0;
    assert_int_equal(lutimes(link_path, tv), 0);

    assert_int_equal(purge_dir(dir, "MB*.LOG", 30, NOW), 2);
    assert_false(exists(dir, "MB260101.LOG"));
    assert_false(exists(dir, "MB260102.LOG"));
    assert_true(exists(dir, "MB260303.LOG"));
    assert_true(exists(dir, "MB260204.LOG"));
    assert_true(exists(dir, "notes.txt"));
    assert_true(exists(dir, "mb260101.log"));
    assert_true(exists(dir, "MB260101.LOG.bak"));
    assert_true(exists(dir, "SR260101.CSV"));
    assert_true(exists(dir, "MBOLD.LOG"));
    assert_true(exists(dir, "MBLINK.LOG"));
    assert_true(exists(dir, "victim.txt"));
    /* Nothing left to do the second time. */
    assert_int_equal(purge_dir(dir, "MB*.LOG", 30, NOW), 0);
    /* days <= 0 keeps everything. */
    assert_int_equal(purge_dir(dir, "MB*.LOG", 0, NOW + 1000 * DAY), 0);
    assert_int_equal(purge_dir(dir, "MB*.LOG", -5, NOW + 1000 * DAY), 0);
    assert_true(exists(dir, "MB260303.LOG"));
    /* A directory that cannot be read. */
    assert_int_equal(purge_dir("/nonexistent/cryptofilter", "*", 1, NOW), -1);
    free(dir);
}

/* A config by hand: log, stats, history each in their own directory. */
static void make_config(struct cf_config *cfg, char *log_dir,
			char *stats_dir, char *hist_dir)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->log.directory = log_dir;
    cfg->log.purge_days = 30;
    cfg->statistics.directory = stats_dir;
    cfg->statistics.purge_days = 365;
    cfg->history.directory = hist_dir;
    cfg->history.purge_days = 14;
}

static void populate(const char *log_dir, const char *stats_dir,
		     const char *hist_dir, time_t now)
{
    char    in[PATH_MAX];
    char    out[PATH_MAX];

    snprintf(in, sizeof(in), "%s/HIST-IN", hist_dir);
    snprintf(out, sizeof(out), "%s/HIST-OUT", hist_dir);
    mkdir(in, 0700);
    mkdir(out, 0700);
    make_at(log_dir, "MB250101.LOG", now - 31 * DAY, 0);		/* goes */
    make_at(log_dir, "MB260301.LOG", now - 3 * DAY, 0);
    make_at(stats_dir, "SR250101.CSV", now - 366 * DAY, 0);		/* goes */
    make_at(stats_dir, "SP250101.CSV", now - 366 * DAY, 0);		/* goes */
    make_at(stats_dir, "SS250101.CSV", now - 366 * DAY, 0);		/* goes */
    make_at(stats_dir, "SV250101.CSV", now - 366 * DAY, 0);		/* goes */
    make_at(stats_dir, "SX250101.CSV", now - 366 * DAY, 0);		/* not ours */
    make_at(stats_dir, "SR260101.CSV", now - 60 * DAY, 0);
    make_at(stats_dir, "report.xlsx", now - 999 * DAY, 0);
    make_at(in, "20260101-000000-ABC-1n0.eml", now - 15 * DAY, 0);	/* goes */
    make_at(in, "20260301-000000-ABC-1n1.eml", now - 2 * DAY, 0);
    make_at(in, "keep.txt", now - 999 * DAY, 0);
    make_at(in, ".hidden.eml", now - 999 * DAY, 0);		/* not ours */
    make_at(out, "20260101-000000-DEF-1n2.eml", now - 20 * DAY, 0);	/* goes */
    make_at(out, "old.eml", now - 20 * DAY, 1);			/* a dir */
    make_at(hist_dir, "stray.eml", now - 999 * DAY, 0);	/* not in HIST-* */
}

static void test_purge_all(void **state)
{
    char   *log_dir = tmp_dir("log");
    char   *stats_dir = tmp_dir("stats");
    char   *hist_dir = tmp_dir("hist");
    struct cf_config cfg;

    (void) state;
    make_config(&cfg, log_dir, stats_dir, hist_dir);
    populate(log_dir, stats_dir, hist_dir, NOW);
    assert_int_equal(purge_all(&cfg, NOW), 7);
    assert_false(exists(log_dir, "MB250101.LOG"));
    assert_true(exists(log_dir, "MB260301.LOG"));
    assert_false(exists(stats_dir, "SR250101.CSV"));
    assert_false(exists(stats_dir, "SV250101.CSV"));
    assert_true(exists(stats_dir, "SX250101.CSV"));
    assert_true(exists(stats_dir, "SR260101.CSV"));
    assert_true(exists(stats_dir, "report.xlsx"));
    assert_false(exists(hist_dir, "HIST-IN/20260101-000000-ABC-1n0.eml"));
    assert_true(exists(hist_dir, "HIST-IN/20260301-000000-ABC-1n1.eml"));
    assert_true(exists(hist_dir, "HIST-IN/keep.txt"));
    assert_true(exists(hist_dir, "HIST-IN/.hidden.eml"));
    assert_false(exists(hist_dir, "HIST-OUT/20260101-000000-DEF-1n2.eml"));
    assert_true(exists(hist_dir, "HIST-OUT/old.eml"));
    assert_true(exists(hist_dir, "stray.eml"));
    /* purge_days = 0 everywhere: keep all, even a thousand days later. */
    cfg.log.purge_days = cfg.statistics.purge_days = 0;
    cfg.history.purge_days = 0;
    assert_int_equal(purge_all(&cfg, NOW + 1000 * DAY), 0);
    assert_true(exists(log_dir, "MB260301.LOG"));
    /* Missing or unset directories are not an error. */
    cfg.log.directory = "/nonexistent/cryptofilter/log";
    cfg.statistics.directory = 0;
    cfg.history.directory = "";
    cfg.log.purge_days = 1;
    assert_int_equal(purge_all(&cfg, NOW), 0);
    assert_int_equal(purge_all(0, NOW), 0);
    free(log_dir);
    free(stats_dir);
    free(hist_dir);
}

static void test_purge_maybe_once_a_day(void **state)
{
    char   *log_dir = tmp_dir("mlog");
    char   *stats_dir = tmp_dir("mstats");
    char   *hist_dir = tmp_dir("mhist");
    struct cf_config cfg;

    (void) state;
    make_config(&cfg, log_dir, stats_dir, hist_dir);
    make_at(log_dir, "MB000001.LOG", NOW - 31 * DAY, 0);
    purge_maybe(&cfg, NOW);				/* first call runs */
    assert_false(exists(log_dir, "MB000001.LOG"));
    make_at(log_dir, "MB000002.LOG", NOW - 31 * DAY, 0);
    purge_maybe(&cfg, NOW + 60);
    purge_maybe(&cfg, NOW + DAY - 1);
    assert_true(exists(log_dir, "MB000002.LOG"));	/* not yet */
    purge_maybe(&cfg, NOW + DAY);
    assert_false(exists(log_dir, "MB000002.LOG"));	/* a day later */
    make_at(log_dir, "MB000003.LOG", NOW - 31 * DAY, 0);
    purge_maybe(&cfg, NOW + DAY + 3600);
    assert_true(exists(log_dir, "MB000003.LOG"));
    /* The clock set back: run again rather than never. */
    purge_maybe(&cfg, NOW);
    assert_false(exists(log_dir, "MB000003.LOG"));
    free(log_dir);
    free(stats_dir);
    free(hist_dir);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_purge_dir),
	cmocka_unit_test(test_purge_all),
	cmocka_unit_test(test_purge_maybe_once_a_day),
    };

    return (cmocka_run_group_tests(tests, 0, 0));
}
