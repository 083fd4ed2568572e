/*
 * test_log - log file naming, escaping of outside text, the daily file,
 * OpenSSL error draining.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "config.h"
#include "log.h"

static void test_file_name(void **state)
{
    struct tm tm = {0};
    char    buf[32];
    time_t  when;

    (void) state;
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 11;
    tm.tm_mday = 3;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    when = mktime(&tm);
    log_file_name(buf, sizeof(buf), when);
    assert_string_equal(buf, "MB261203.LOG");
    tm.tm_year = 2001 - 1900;
    tm.tm_mon = 0;
    tm.tm_mday = 9;
    when = mktime(&tm);
    log_file_name(buf, sizeof(buf), when);
    assert_string_equal(buf, "MB010109.LOG");
}

static void test_clean(void **state)
{
    char    buf[64];
    char    small[8];

    (void) state;
    assert_string_equal(log_clean(buf, sizeof(buf), "plain@example.com"), "plain@example.com");
    assert_string_equal(log_clean(buf, sizeof(buf), "a\r\nFake: line"), "a\\x0d\\x0aFake: line");
    assert_string_equal(log_clean(buf, sizeof(buf), "tab\there"), "tab\\x09here");
    assert_string_equal(log_clean(buf, sizeof(buf), "bs\\x"), "bs\\x5cx");
    assert_string_equal(log_clean(buf, sizeof(buf), "\xc3\xa9"), "\\xc3\\xa9");
    assert_string_equal(log_clean(buf, sizeof(buf), "\x1b[31m"), "\\x1b[31m");
    assert_string_equal(log_clean(buf, sizeof(buf), ""), "");
    assert_string_equal(log_clean(buf, sizeof(buf), NULL), "");
    /* cut, marked, always terminated */
    assert_string_equal(log_clean(small, sizeof(small), "abcdefghijkl"), "abcd...");
    assert_string_equal(log_clean(small, sizeof(small), "\n\n\n"), "\\x0a...");
}

static char *read_all(const char *path)
{
    FILE   *fp = fopen(path, "r");
    static char buf[65536];
    size_t  n;

    if (fp == NULL)
	return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static void test_day_file(void **state)
{
    const char *tmp = getenv("CF_TMPDIR") ? getenv("CF_TMPDIR") : "/tmp";
    char    dir[4096], path[4200], name[32];
    struct cf_log_cfg cfg = {1, dir, 30, 0, 0, 0};
    char   *text;

    (void) state;
    snprintf(dir, sizeof(dir), "%s/logtest-%ld", tmp, (long) getpid());
    assert_int_equal(mkdir(dir, 0700), 0);
    log_init("test_log", 0);
    log_configure(&cfg);
    errno = EPIPE;
    msg_info("hello %s", "world");
    assert_int_equal(errno, EPIPE);		/* errno survives logging */
    msg_warn("careful");
    msg_verbose("not shown");
    cfg.verbose = 1;
    log_configure(&cfg);
    assert_true(log_verbose_enabled());
    msg_verbose("shown");
    log_file_name(name, sizeof(name), time(NULL));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    text = read_all(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "test_log["));
    assert_non_null(strstr(text, "]: hello world\n"));
    assert_non_null(strstr(text, "]: warning: careful\n"));
    assert_null(strstr(text, "not shown"));
    assert_non_null(strstr(text, "]: shown\n"));
    cfg.file = 0;
    log_configure(&cfg);
    msg_info("only syslog");
    assert_null(strstr(read_all(path), "only syslog"));
    unlink(path);
    rmdir(dir);
}

static void test_openssl_drain(void **state)
{
    const char *tmp = getenv("CF_TMPDIR") ? getenv("CF_TMPDIR") : "/tmp";
    char    dir[4096], path[4200], name[32];
    struct cf_log_cfg cfg = {1, dir, 30, 0, 0, 0};
    BIO    *bio = BIO_new_mem_buf("garbage", -1);

    (void) state;
    snprintf(dir, sizeof(dir), "%s/ssltest-%ld", tmp, (long) getpid());
    assert_int_equal(mkdir(dir, 0700), 0);
    log_configure(&cfg);
    assert_null(PEM_read_bio_X509(bio, NULL, NULL, NULL));
    BIO_free(bio);
    assert_true(log_openssl_errors("reading cert") >= 1);
    assert_int_equal(ERR_peek_error(), 0);	/* queue drained */
    assert_int_equal(log_openssl_errors("nothing"), 0);
    log_file_name(name, sizeof(name), time(NULL));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_non_null(strstr(read_all(path), "warning: reading cert: openssl: error:"));
    cfg.file = 0;
    log_configure(&cfg);
    unlink(path);
    rmdir(dir);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_file_name),
	cmocka_unit_test(test_clean),
	cmocka_unit_test(test_day_file),
	cmocka_unit_test(test_openssl_drain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
