/*
 * test_addr - address normalisation, safe file names, host and CIDR matching.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

static void test_normalize(void **state)
{
    static const struct {
	const char *in;
	const char *out;
    } cases[] = {
	{"Alice@Example.COM", "alice@example.com"},
	{"<Alice@Example.COM>", "alice@example.com"},
	{"  <bob@example.com>  ", "bob@example.com"},
	{"< bob@example.com >", "bob@example.com"},
	{"<>", ""},
	{"", ""},
	{"  ", ""},
	{"<<a@b>>", "<a@b>"},		/* only one pair is stripped */
	{"a+tag@example.com", "a+tag@example.com"},
	{"\xc3\x84@example.com", "\xc3\x84@example.com"},	/* 8-bit kept */
    };
    char    out[CF_ADDR_MAX + 1];
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
	assert_int_equal(addr_normalize(cases[i].in, out, sizeof(out)), 0);
	assert_string_equal(out, cases[i].out);
    }
    assert_int_equal(addr_normalize("a@b\r\n", out, sizeof(out)), -1);
    assert_int_equal(addr_normalize("a\x01@b", out, sizeof(out)), -1);
    assert_int_equal(addr_normalize("a\x7f@b", out, sizeof(out)), -1);
    /* Too small an output buffer is an error, never a cut address. */
    assert_int_equal(addr_normalize("abc@d", out, 5), -1);
    assert_int_equal(addr_normalize("abc@d", out, 6), 0);
    assert_string_equal(out, "abc@d");
}

static void test_file_name_good(void **state)
{
    static const struct {
	const char *in;
	const char *out;
    } good[] = {
	{"alice@example.com", "alice@example.com"},
	{"<alice@example.com>", "alice@example.com"},
	{"ALICE@EXAMPLE.COM", "alice@example.com"},
	{" <Bob@Example.Com> ", "bob@example.com"},
	{"bob+tag@example.com", "bob+tag@example.com"},
	{"first.last@sub.example.co.uk", "first.last@sub.example.co.uk"},
	{"o'brien@example.ie", "o'brien@example.ie"},
	{"a_b-c=d@x-y.example", "a_b-c=d@x-y.example"},
	{"1234@123.45.67.89", "1234@123.45.67.89"},
	{"a@b", "a@b"},
	{"x!#$&*=?^`{|}~@example.com", "x!#$&*=?^`{|}~@example.com"},
    };
    char    out[CF_ADDR_MAX + 1];
    const char *why;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
	why = "unset";
	if (addr_file_name(good[i].in, out, sizeof(out), &why) != 0)
	    fail_msg("refused good address '%s': %s", good[i].in, why);
	assert_string_equal(out, good[i].out);
	assert_null(why);
    }
}

static void test_file_name_hostile(void **state)
{
    static const char *const bad[] = {
	"../../etc/passwd@x",
	"a@../x",
	"a@b/c",
	"a/b@c",
	"a\\b@c",
	"a@b\\c",
	"..@example.com",
	"a@..",
	"%2e%2e@example.com",
	"%2e%2e%2fetc@x",
	"a@%2e%2e",
	"\xc3\xa4@example.com",		/* UTF-8 */
	"a@b\xff",			/* 8-bit byte */
	"a b@example.com",
	"\"a b\"@example.com",
	"\"a\"@example.com",
	"a@.b",
	".a@b",
	"a.@b",
	"a..b@c",
	"a@b..c",
	"a@b.",
	"a@-b.com",
	"a@b\r\n",
	"a\r\nX-Evil: 1@b",
	"a\t@b",
	"a\x01@b",
	"a@b\x7f",
	"@b",
	"a@",
	"@",
	"ab",
	"",
	"<>",
	"a@b@c",
	"a@@b",
	".@b",
	"a@b:25",
	"a@[127.0.0.1]",
	"a@b;rm -rf",
	"a@b c",
	"<a@b",
	"a@b>",
	"-a@b%c",
};
    char    out[CF_ADDR_MAX + 1];
    const char *why;
    size_t  i;

    (void) state;
    assert_true(sizeof(bad) / sizeof(bad[0]) >= 30);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
	why = 0;
	strcpy(out, "dirty");
	if (addr_file_name(bad[i], out, sizeof(out), &why) != -1)
	    fail_msg("accepted hostile address #%zu '%s' as '%s'", i, bad[i],
		     out);
	assert_non_null(why);
	assert_string_equal(out, "");
    }
    /* NULL WHY is allowed, NULL address refused. */
    assert_int_equal(addr_file_name("a/b@c", out, sizeof(out), 0), -1);
    assert_int_equal(addr_file_name(0, out, sizeof(out), &why), -1);
}

static void test_file_name_lengths(void **state)
{
    char    addr[100 * 1024];
    char    out[CF_ADDR_MAX + 1];
    const char *why;

    (void) state;
    /* 64-byte local part is fine, 65 is not. */
    memset(addr, 'a', 64);
    strcpy(addr + 64, "@example.com");
    assert_int_equal(addr_file_name(addr, out, sizeof(out), &why), 0);
    memset(addr, 'a', 65);
    strcpy(addr + 65, "@example.com");
    assert_int_equal(addr_file_name(addr, out, sizeof(out), &why), -1);
    /* The whole address at CF_ADDR_FILE_MAX is fine, one more is not. */
    strcpy(addr, "a@");
    memset(addr + 2, 'b', CF_ADDR_FILE_MAX - 2);
    addr[CF_ADDR_FILE_MAX] = 0;
    assert_int_equal(addr_file_name(addr, out, sizeof(out), &why), 0);
    strcpy(addr, "a@");
    memset(addr + 2, 'b', CF_ADDR_FILE_MAX - 1);
    addr[CF_ADDR_FILE_MAX + 1] = 0;
    assert_int_equal(addr_file_name(addr, out, sizeof(out), &why), -1);
    /* Very long hostile input. */
    memset(addr, 'a', sizeof(addr) - 1);
    addr[sizeof(addr) - 1] = 0;
    addr[50] = '@';
    assert_int_equal(addr_file_name(addr, out, sizeof(out), &why), -1);
    assert_string_equal(why, "address too long");
    /* An output buffer that is too small is refused, not overrun. */
    assert_int_equal(addr_file_name("alice@example.com", out, 5, &why), -1);
    assert_string_equal(out, "");
}

static void test_domain(void **state)
{
    (void) state;
    assert_string_equal(addr_domain("a@example.com"), "example.com");
    assert_string_equal(addr_domain("a@b@c"), "c");
    assert_string_equal(addr_domain("nodomain"), "");
    assert_string_equal(addr_domain(""), "");
    assert_string_equal(addr_domain(0), "");
}

static void test_host_matches(void **state)
{
    (void) state;
    assert_true(host_matches("dataenter.com", "dataenter.com"));
    assert_true(host_matches("mail.dataenter.com", "dataenter.com"));
    assert_true(host_matches("a.b.mail.dataenter.com", "dataenter.com"));
    assert_true(host_matches("DATAENTER.COM.", "dataenter.com"));
    assert_true(host_matches("Mail.DataEnter.Com", "DATAENTER.com."));
    assert_false(host_matches("evildataenter.com", "dataenter.com"));
    assert_false(host_matches("dataenter.com.evil.org", "dataenter.com"));
    assert_false(host_matches("dataenter.co", "dataenter.com"));
    assert_false(host_matches("com", "dataenter.com"));
    assert_false(host_matches("", "dataenter.com"));
    assert_false(host_matches("dataenter.com", ""));
    assert_false(host_matches("dataenter.com", "."));
    assert_false(host_matches(0, "dataenter.com"));
    /* Leading dot: subdomains only. */
    assert_true(host_matches("mail.dataenter.com", ".dataenter.com"));
    assert_false(host_matches("dataenter.com", ".dataenter.com"));
    assert_false(host_matches("evildataenter.com", ".dataenter.com"));
}

static void test_cidr_parse(void **state)
{
    static const char *const garbage[] = {
	"", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
	"10.0.0.0/8x", "10.0.0.0/ 8", "10.0.0/8", "10.0.0.256", "10.0.0.0/8/8",
	"::/129", "abc", "1.2.3.4 ", " 1.2.3.4", "2001:db8::/0x20",
	"10.0.0.0/0008", "fe80::1%eth0",
    };
    struct cidr net;
    size_t  i;

    (void) state;
    assert_int_equal(cidr_parse("10.1.2.3/8", &net), 0);
    assert_int_equal(net.bits, 8);
    assert_int_equal(net.addr[0], 10);
    assert_int_equal(net.addr[1], 0);	/* host bits cleared */
    assert_int_equal(cidr_parse("192.168.1.77", &net), 0);
    assert_int_equal(net.bits, 32);
    assert_int_equal(cidr_parse("2001:db8::1/32", &net), 0);
    assert_int_equal(net.bits, 32);
    assert_int_equal(net.addr[15], 0);
    assert_int_equal(cidr_parse("::1", &net), 0);
    assert_int_equal(net.bits, 128);
    assert_int_equal(cidr_parse("172.20.0.1/12", &net), 0);
    assert_int_equal(net.addr[1], 16);
    for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
	if (cidr_parse(garbage[i], &net) == 0)
	    fail_msg("accepted garbage CIDR '%s'", garbage[i]);
    assert_int_equal(cidr_parse(0, &net), -1);
}

static int match(const char *net_text, const char *ip)
{
    struct cidr net;

    assert_int_equal(cidr_parse(net_text, &net), 0);
    return (cidr_match(&net, ip));
}

static void test_cidr_match(void **state)
{
    char   *list[] = {"garbage", "10.10.10.0/24", "2001:db8::/32"};

    (void) state;
    assert_true(match("10.0.0.0/8", "10.1.2.3"));
    assert_false(match("10.0.0.0/8", "11.1.2.3"));
    assert_true(match("0.0.0.0/0", "8.8.8.8"));
    assert_true(match("0.0.0.0/0", "255.255.255.255"));
    assert_false(match("0.0.0.0/0", "2001:db8::1"));	/* family differs */
    assert_true(match("192.0.2.7/32", "192.0.2.7"));
    assert_false(match("192.0.2.7/32", "192.0.2.6"));
    assert_true(match("192.0.2.7", "192.0.2.7"));
    assert_true(match("172.16.0.0/12", "172.31.255.255"));
    assert_false(match("172.16.0.0/12", "172.32.0.0"));
    assert_true(match("192.0.2.128/25", "192.0.2.200"));
    assert_false(match("192.0.2.128/25", "192.0.2.100"));
    /* IPv6 */
    assert_true(match("2001:db8::/32", "2001:db8:1::5"));
    assert_false(match("2001:db8::/32", "2001:db9::5"));
    assert_true(match("::/0", "2a00:1450::1"));
    assert_true(match("2001:db8::5/128", "2001:DB8::5"));
    assert_false(match("2001:db8::5/128", "2001:db8::6"));
    assert_true(match("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(match("2001:db8::/33", "2001:db8:8000::1"));
    /* IPv4-mapped IPv6 against an IPv4 network and the other way round. */
    assert_true(match("10.0.0.0/8", "::ffff:10.1.2.3"));
    assert_false(match("10.0.0.0/8", "::ffff:11.1.2.3"));
    assert_false(match("10.0.0.0/8", "::10.1.2.3"));	/* not mapped */
    assert_true(match("::ffff:10.0.0.0/104", "10.9.9.9"));
    /* Malformed addresses never match, not even /0. */
    assert_false(match("0.0.0.0/0", "garbage"));
    assert_false(match("0.0.0.0/0", ""));
    assert_false(match("0.0.0.0/0", "1.2.3.4/8"));
    assert_false(match("0.0.0.0/0", "1.2.3"));
    assert_false(cidr_match(0, "1.2.3.4"));
    {
	struct cidr net;

	assert_int_equal(cidr_parse("0.0.0.0/0", &net), 0);
	assert_false(cidr_match(&net, 0));
    }
    /* Lists skip unparsable entries. */
    assert_true(cidr_match_list(list, 3, "10.10.10.99"));
    assert_true(cidr_match_list(list, 3, "2001:db8::99"));
    assert_false(cidr_match_list(list, 3, "10.10.11.1"));
    assert_false(cidr_match_list(list, 0, "10.10.10.1"));
}

static void test_reserved(void **state)
{
    static const char *const yes[] = {
	"10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254",
	"192.168.0.1", "192.168.255.255", "169.254.1.1", "224.0.0.1",
	"224.255.255.255", "::ffff:192.168.1.1", "fd00::1", "fc00::1",
	"fe80::1", "::1",
    };
    static const char *const no[] = {
	"172.32.0.1", "172.15.255.255", "8.8.8.8", "192.169.0.1",
	"169.255.0.1", "225.0.0.1", "11.0.0.1", "2001:db8::1",
	"::ffff:8.8.8.8", "garbage", "",
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
	if (!ip_is_reserved(yes[i]))
	    fail_msg("%s should be reserved", yes[i]);
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
	if (ip_is_reserved(no[i]))
	    fail_msg("%s should not be reserved", no[i]);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_normalize),
	cmocka_unit_test(test_file_name_good),
	cmocka_unit_test(test_file_name_hostile),
	cmocka_unit_test(test_file_name_lengths),
	cmocka_unit_test(test_domain),
	cmocka_unit_test(test_host_matches),
	cmocka_unit_test(test_cidr_parse),
	cmocka_unit_test(test_cidr_match),
	cmocka_unit_test(test_reserved),
    };

    return (cmocka_run_group_tests(tests, 0, 0));
}
