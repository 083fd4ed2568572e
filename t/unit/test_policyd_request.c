/*
 * test_policyd_request - the policy protocol parser: incremental scanning,
 * exact limits, duplicates, garbage.  Unit tests link only the library, so
 * the parser source is included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../policyd/request.c"

/* Scan TEXT (copied) in one piece. */
static enum request_status scan_all(const char *text, size_t len, struct request *req,
				    char **bufp, size_t *used, const char **why)
{
    struct request_scan scan;
    char   *buf = malloc(len + 1);

    assert_non_null(buf);
    memcpy(buf, text, len);
    buf[len] = '\0';
    *bufp = buf;
    request_scan_init(&scan);
    return request_scan(&scan, buf, len, req, used, why);
}

static void test_complete(void **state)
{
    static const char text[] = "request=smtpd_access_policy\nprotocol_state=RCPT\n"
	"sender=\nrecipient=a=b@example.com\n\nnext=1\n";
    struct request req;
    char   *buf;
    size_t  used = 0;
    const char *why = NULL;

    (void) state;
    assert_int_equal(scan_all(text, sizeof(text) - 1, &req, &buf, &used, &why),
		     REQUEST_COMPLETE);
    assert_int_equal(req.n, 4);
    assert_int_equal(used, strlen(text) - strlen("next=1\n"));
    assert_string_equal(request_get(&req, "request"), "smtpd_access_policy");
    assert_string_equal(request_get(&req, "sender"), "");
    /* Only the first '=' separates name and value. */
    assert_string_equal(request_get(&req, "recipient"), "a=b@example.com");
    assert_string_equal(request_get(&req, "missing"), "");
    assert_string_equal(request_get(&req, "next"), "");	/* not part of it */
    free(buf);
}

/* Feeding one byte at a time gives the same result as all at once. */
static void test_byte_by_byte(void **state)
{
    static const char text[] = "a=1\nbb=22\nccc=333\n\n";
    struct request_scan scan;
    struct request req;
    char    buf[sizeof(text)];
    size_t  len, used = 0;
    const char *why = NULL;
    enum request_status st = REQUEST_INCOMPLETE;

    (void) state;
    request_scan_init(&scan);
    for (len = 1; len <= sizeof(text) - 1; len++) {
	memcpy(buf, text, len);
	st = request_scan(&scan, buf, len, &req, &used, &why);
	if (len < sizeof(text) - 1)
	    assert_int_equal(st, REQUEST_INCOMPLETE);
    }
    assert_int_equal(st, REQUEST_COMPLETE);
    assert_int_equal(used, sizeof(text) - 1);
    assert_int_equal(req.n, 3);
    assert_string_equal(request_get(&req, "ccc"), "333");
    /* The scanner is reset for the next request. */
    assert_int_equal(scan.pos, 0);
    assert_int_equal(scan.lines, 0);
}

static void expect_invalid(const char *text, size_t len, const char *reason)
{
    struct request req;
    char   *buf;
    size_t  used = 0;
    const char *why = NULL;

    assert_int_equal(scan_all(text, len, &req, &buf, &used, &why), REQUEST_INVALID);
    assert_non_null(why);
    assert_string_equal(why, reason);
    free(buf);
}

static void test_invalid(void **state)
{
    (void) state;
    expect_invalid("a=1\na=2\n\n", 10, "duplicate attribute");
    expect_invalid("noequals\n\n", 10, "line without '='");
    expect_invalid("=value\n\n", 8, "empty attribute name");
    expect_invalid("\n", 1, "empty request");
    expect_invalid("a=x\0y\n\n", 7, "NUL byte in request");
}

static char *repeat(char c, size_t n)
{
    char   *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_line_limit(void **state)
{
    struct request req;
    char   *buf, *text;
    size_t  used, n;
    const char *why = NULL;

    (void) state;
    /* A line of exactly REQUEST_MAX_LINE bytes, newline included, is fine. */
    text = repeat('v', REQUEST_MAX_LINE + 10);
    memcpy(text, "a=", 2);
    n = REQUEST_MAX_LINE;
    text[n - 1] = '\n';
    text[n] = '\n';
    assert_int_equal(scan_all(text, n + 1, &req, &buf, &used, &why), REQUEST_COMPLETE);
    assert_int_equal(strlen(request_get(&req, "a")), REQUEST_MAX_LINE - 3);
    free(buf);
    /* One more byte is not. */
    text[n - 1] = 'v';
    text[n] = '\n';
    text[n + 1] = '\n';
    expect_invalid(text, n + 2, "line too long");
    /* Nor is an endless line without a newline, as soon as it is too long. */
    expect_invalid(text, REQUEST_MAX_LINE, "line too long");
    free(text);
}

static void test_attr_and_size_limits(void **state)
{
    char    text[REQUEST_MAX_SIZE * 2];
    size_t  len = 0;
    int     i;
    struct request req;
    char   *buf;
    size_t  used;
    const char *why = NULL;

    (void) state;
    for (i = 0; i < REQUEST_MAX_ATTRS; i++)
	len += (size_t) sprintf(text + len, "n%d=v\n", i);
    text[len++] = '\n';
    assert_int_equal(scan_all(text, len, &req, &buf, &used, &why), REQUEST_COMPLETE);
    assert_int_equal(req.n, REQUEST_MAX_ATTRS);
    assert_string_equal(request_get(&req, "n63"), "v");
    free(buf);
    len--;
    len += (size_t) sprintf(text + len, "n%d=v\n\n", i);
    expect_invalid(text, len, "too many attributes");

    /* 20 lines of about 1000 bytes: over the request size before the end. */
    len = 0;
    for (i = 0; i < 20; i++) {
	len += (size_t) sprintf(text + len, "x%d=", i);
	memset(text + len, 'y', 990);
	len += 990;
	text[len++] = '\n';
    }
    text[len++] = '\n';
    expect_invalid(text, len, "request too large");
}

/* The name hash reads whole words and an overlapping tail: names of every
 * length up to a few words, and names that differ in one byte only, must
 * all be found and none taken for a duplicate. */
static void test_names_of_every_length(void **state)
{
    char    text[REQUEST_MAX_SIZE], name[48], want[64];
    struct request req;
    char   *buf;
    size_t  used, len = 0, n, i;
    const char *why = NULL;

    (void) state;
    for (n = 1; n <= 31; n++) {
	memset(name, 'a', n);
	name[n] = '\0';
	len += (size_t) sprintf(text + len, "%s=%zu\n", name, n);
	/* The same name with its middle byte changed. */
	name[n / 2] = 'b';
	if (n > 1)
	    len += (size_t) sprintf(text + len, "%s=m%zu\n", name, n);
    }
    text[len++] = '\n';
    assert_int_equal(scan_all(text, len, &req, &buf, &used, &why), REQUEST_COMPLETE);
    assert_int_equal(req.n, 61);
    for (n = 1; n <= 31; n++) {
	memset(name, 'a', n);
	name[n] = '\0';
	snprintf(want, sizeof(want), "%zu", n);
	assert_string_equal(request_get(&req, name), want);
	if (n > 1) {
	    name[n / 2] = 'b';
	    snprintf(want, sizeof(want), "m%zu", n);
	    assert_string_equal(request_get(&req, name), want);
	}
    }
    /* One byte longer than the longest name: another name. */
    memset(name, 'a', 32);
    name[32] = '\0';
    assert_string_equal(request_get(&req, name), "");
    for (i = 0; i < req.n; i++)
	assert_ptr_equal(request_get(&req, req.attr[i].name), req.attr[i].value);
    free(buf);

    /* A duplicate is found whatever the name's length. */
    for (n = 1; n <= 24; n++) {
	memset(name, 'q', n);
	name[n] = '\0';
	len = (size_t) sprintf(text, "x=1\n%s=1\ny=2\n%s=2\n\n", name, name);
	expect_invalid(text, len, "duplicate attribute");
    }
}

/* Errors are reported for the first bad line, as a client would expect
 * from reading its request top down. */
static void test_first_error_wins(void **state)
{
    (void) state;
    expect_invalid("a=1\nnoequals\nb=x\0y\n\n", 21, "line without '='");
    expect_invalid("a=1\nb=x\0y\nnoequals\n\n", 21, "NUL byte in request");
    expect_invalid("a=1\n=x\0y\n\n", 11, "NUL byte in request");
    expect_invalid("a=1\n=v\na=2\n\n", 12, "empty attribute name");
}

static void test_garbage_never_crashes(void **state)
{
    char    buf[8192];
    struct request req;
    struct request_scan scan;
    size_t  used, i, round;
    const char *why;
    unsigned seed = 12345;

    (void) state;
    for (round = 0; round < 2000; round++) {
	size_t  len = (seed = seed * 1103515245 + 12345) % sizeof(buf);

	for (i = 0; i < len; i++) {
	    seed = seed * 1103515245 + 12345;
	    /* Mostly printable with many newlines and '='. */
	    buf[i] = "ab=\n\0\xff"[(seed >> 16) % 6];
	}
	request_scan_init(&scan);
	why = NULL;
	if (request_scan(&scan, buf, len, &req, &used, &why) == REQUEST_COMPLETE)
	    assert_true(used <= len && req.n <= REQUEST_MAX_ATTRS);
    }
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_complete),
	cmocka_unit_test(test_byte_by_byte),
	cmocka_unit_test(test_invalid),
	cmocka_unit_test(test_line_limit),
	cmocka_unit_test(test_attr_and_size_limits),
	cmocka_unit_test(test_names_of_every_length),
	cmocka_unit_test(test_first_error_wins),
	cmocka_unit_test(test_garbage_never_crashes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
