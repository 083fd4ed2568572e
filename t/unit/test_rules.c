/*
 * test_rules - patterns, pattern_check and first-match rule tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "rules.h"

static void test_pattern_match(void **state)
{
    static const struct {
	const char *pattern;
	const char *text;
	int     want;
    } cases[] = {
	{"*", "", 1},			/* the null sender */
	{"*", "anything@example.com", 1},
	{"**", "", 1},
	{"", "", 1},
	{"", "a", 0},
	{"a", "", 0},
	{"?", "", 0},
	{"?", "x", 1},
	{"?", "xy", 0},
	{"*@example.com", "alice@example.com", 1},
	{"*@example.com", "ALICE@EXAMPLE.COM", 1},
	{"*@EXAMPLE.com", "alice@example.com", 1},
	{"*@example.com", "alice@example.com.evil.org", 0},
	{"*@example.com", "alice@sub.example.com", 0},
	{"*@*.example.com", "alice@sub.example.com", 1},
	{"*@*example.com", "alice@evilexample.com", 1},
	{"alice@example.com", "alice@example.com", 1},
	{"alice@example.com", "xalice@example.com", 0},
	{"alice@example.com", "alice@example.comx", 0},
	{"a?c", "abc", 1},
	{"a?c", "ac", 0},
	{"fax#@x", "fax7@x", 1},
	{"fax#@x", "faxa@x", 0},
	{"fax#@x", "fax@x", 0},
	{"fax##@x", "fax42@x", 1},
	{"#*", "1abc", 1},
	{"#*", "abc", 0},
	{"*a*b*c*", "xxaxxbxxcxx", 1},
	{"*a*b*c*", "xxaxxcxxbxx", 0},
	{"*ab", "aab", 1},			/* needs backtracking */
	{"*aab", "aaab", 1},
	{"a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaa", 0},
	{"*.pdf", "report.PDF", 1},
	{"[secure]*", "[SECURE] hello", 1},	/* brackets are literal */
	{"[secure]*", "s hello", 0},
	{"\xc3\x84*", "\xc3\x84rger", 1},		/* 8-bit compared as bytes */
    };
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	if (pattern_match(cases[i].pattern, cases[i].text) != cases[i].want)
	    fail_msg("pattern '%s' vs '%s': want %d", cases[i].pattern,
		     cases[i].text, cases[i].want);
    assert_false(pattern_match(0, "a"));
    assert_false(pattern_match("*", 0));
}

/* Many '*' against a 100 KB hostile address must stay fast. */
static void test_pattern_hostile_speed(void **state)
{
    size_t  len = 100 * 1024;
    char   *text = malloc(len + 1);
    char    pattern[1025];
    struct timespec t0;
    struct timespec t1;
    double  secs;
    int     i;

    (void) state;
    assert_non_null(text);
    memset(text, 'a', len);
    text[len] = 0;
    /* "*a*a*a...*b": the classic exponential case for recursive matchers. */
    for (i = 0; i < 1022; i += 2) {
	pattern[i] = '*';
	pattern[i + 1] = 'a';
    }
    pattern[1022] = '*';
    pattern[1023] = 'b';
    pattern[1024] = 0;
    assert_int_equal(pattern_check(pattern, 0), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < 20; i++)
	assert_false(pattern_match(pattern, text));
    assert_false(pattern_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
    assert_true(pattern_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", text));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double) (t1.tv_sec - t0.tv_sec)
	+ (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (secs > 2.0)
	fail_msg("hostile patterns took %.2f s", secs);
    free(text);
}

static void test_pattern_check(void **state)
{
    char    big[1100];
    const char *why;

    (void) state;
    assert_int_equal(pattern_check("*@example.com", &why), 0);
    assert_null(why);
    assert_int_equal(pattern_check("*", &why), 0);
    assert_int_equal(pattern_check("", &why), -1);
    assert_non_null(why);
    assert_int_equal(pattern_check(0, &why), -1);
    assert_int_equal(pattern_check("a\nb", &why), -1);
    assert_non_null(strstr(why, "control"));
    assert_int_equal(pattern_check("a\tb", &why), -1);
    assert_int_equal(pattern_check("a\x7f", &why), -1);
    memset(big, 'a', 1024);
    big[1024] = 0;
    assert_int_equal(pattern_check(big, &why), 0);
    memset(big, 'a', 1025);
    big[1025] = 0;
    assert_int_equal(pattern_check(big, &why), -1);
    assert_non_null(strstr(why, "long"));
    assert_int_equal(pattern_check("", 0), -1);	/* WHY may be NULL */
}

static struct cf_rule rule(const char *name, const char *from,
			   const char *to, const char *subject,
			   const char *certificate)
{
    struct cf_rule r;

    memset(&r, 0, sizeof(r));
    r.kind = CF_RULE_SMIME_SIGN;
    r.name = (char *) (uintptr_t) name;
    r.from = (char *) (uintptr_t) from;
    r.to = (char *) (uintptr_t) to;
    r.subject = (char *) (uintptr_t) subject;
    r.certificate = (char *) (uintptr_t) certificate;
    return (r);
}

static const char *first(const struct cf_rule_table *table, const char *from,
			 const char *to, const char *subject)
{
    const struct cf_rule *r = rules_first_match(table, from, to, subject);

    return (r ? r->name : "(none)");
}

static void test_first_match(void **state)
{
    struct cf_rule v[5];
    struct cf_rule_table table = {v, 5};
    struct cf_rule_table empty = {0, 0};

    (void) state;
    v[0] = rule("fax", "*", "*@freefax.com", "*", CF_VOID_CERTIFICATE);
    v[1] = rule("secret", "*@example.com", "*", "*[secret]*", "*");
    v[2] = rule("ours", "*@example.com", "*", "*", "*");
    v[3] = rule("boss", "boss@example.com", "*", "*", "*");	/* shadowed */
    v[4] = rule("null", "", "*", "*", "*");

    assert_string_equal(first(&table, "alice@example.com", "x@y.org", "hi"),
			"ours");
    /* File order wins: "boss" comes after "ours". */
    assert_string_equal(first(&table, "boss@example.com", "x@y.org", "hi"),
			"ours");
    assert_string_equal(first(&table, "alice@example.com", "x@y.org",
			      "Re: [SECRET] plans"), "secret");
    /* The void rule matches first and stops the search. */
    assert_string_equal(first(&table, "alice@example.com",
			      "123@FreeFax.com", "hi"), "fax");
    assert_true(rule_is_void(rules_first_match(&table, "alice@example.com",
					       "123@freefax.com", "hi")));
    assert_false(rule_is_void(rules_first_match(&table, "alice@example.com",
						"x@y.org", "hi")));
    /* Addresses are normalised before matching. */
    assert_string_equal(first(&table, "<Alice@EXAMPLE.com>", "<x@y.org>",
			      "hi"), "ours");
    assert_string_equal(first(&table, "  <alice@example.com>  ", "x@y.org",
			      "hi"), "ours");
    assert_string_equal(first(&table, "<bob@EXAMPLE.com>",
			      "<12@FREEFAX.COM>", "hi"), "fax");
    /* NULL subject: the subject pattern is ignored. */
    assert_string_equal(first(&table, "alice@example.com", "x@y.org", 0),
			"secret");
    /* The null sender only matches "" (and "*") patterns. */
    assert_string_equal(first(&table, "<>", "x@y.org", "hi"), "null");
    assert_string_equal(first(&table, "", "x@y.org", "hi"), "null");
    assert_string_equal(first(&table, 0, "x@y.org", "hi"), "null");
    assert_string_equal(first(&table, "bob@example.org", "x@y.org", "hi"),
			"(none)");
    assert_string_equal(first(&empty, "alice@example.com", "x", 0), "(none)");
    assert_null(rules_first_match(0, "a", "b", 0));
}

static void test_first_match_defaults_and_hostile(void **state)
{
    struct cf_rule v[2];
    struct cf_rule_table table = {v, 2};
    size_t  len = 100 * 1024;
    char   *big = malloc(len + 1);

    (void) state;
    assert_non_null(big);
    v[0] = rule("partner", "*", "*@partner.com", 0, "*");
    v[1] = rule("all", 0, 0, 0, "*");		/* NULL patterns act as "*" */
    assert_string_equal(first(&table, "a@b", "dave@PARTNER.com", "s"),
			"partner");
    assert_string_equal(first(&table, "a@b", "dave@partner.org", "s"), "all");
    /* A 100 KB address is compared in full, not cut or refused. */
    memset(big, 'x', len);
    memcpy(big + len - strlen("@partner.com"), "@partner.com",
	   strlen("@partner.com"));
    big[len] = 0;
    big[0] = '<';
    big[len - 1] = '>';
    memcpy(big + len - 1 - strlen("@partner.com"), "@PARTNER.COM",
	   strlen("@partner.com"));
    assert_string_equal(first(&table, "a@b", big, 0), "partner");
    /* Control characters: compared as they are, "*" still matches. */
    assert_string_equal(first(&table, "a@b", "dave@partner.com\r\n", 0),
			"all");
    free(big);
}

static void test_rule_is_void(void **state)
{
    struct cf_rule r = rule("x", "*", "*", "*", CF_VOID_CERTIFICATE);

    (void) state;
    assert_true(rule_is_void(&r));
    r.certificate = (char *) (uintptr_t) "*";
    assert_false(rule_is_void(&r));
    r.certificate = 0;
    assert_false(rule_is_void(&r));
    assert_false(rule_is_void(0));
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_pattern_match),
	cmocka_unit_test(test_pattern_hostile_speed),
	cmocka_unit_test(test_pattern_check),
	cmocka_unit_test(test_first_match),
	cmocka_unit_test(test_first_match_defaults_and_hostile),
	cmocka_unit_test(test_rule_is_void),
    };

    return (cmocka_run_group_tests(tests, 0, 0));
}
