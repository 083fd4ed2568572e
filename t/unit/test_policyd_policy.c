/*
 * test_policyd_policy - the configuration compiled for the policy checks:
 * network lists parsed once give the same answers as the config's text
 * lists, IPv6 and IPv4-mapped addresses included, and decide() answers
 * the same with and without the compiled form.  Unit tests link only the
 * library, so the policyd sources are included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../policyd/decide.c"
#include "../../policyd/instances.c"
#include "../../policyd/nexthop.c"
#include "../../policyd/policy.c"
#include "../../policyd/request.c"

static const char conf[] =
    "local_domains = {\"example.com\"}\n"
    "internal_networks = {\"192.0.2.0/24\", \"2001:db8::/32\"}\n"
    "log { file = false }\n"
    "statistics { enabled = false }\n"
    "relay { networks = {\"198.51.100.0/24\", \"10.1.0.0/16\", \"203.0.113.7\"} }\n";

static struct cf_config *load(const char *text)
{
    struct cf_config *cfg = NULL;

    assert_int_equal(config_load_string(text, "test.conf", stderr, &cfg), 0);
    assert_non_null(cfg);
    return cfg;
}

static void test_nets(void **state)
{
    struct cf_config *cfg = load(conf);
    struct policy *p = policy_compile(cfg);

    (void) state;
    assert_non_null(p);
    assert_int_equal(p->internal.n, 2);
    assert_int_equal(p->relay.n, 3);
    assert_true(policy_nets_match(&p->internal, "192.0.2.1"));
    assert_true(policy_nets_match(&p->internal, "192.0.2.255"));
    assert_false(policy_nets_match(&p->internal, "192.0.3.1"));
    assert_true(policy_nets_match(&p->internal, "2001:db8:1::5"));
    assert_false(policy_nets_match(&p->internal, "2001:db9::5"));
    /* An IPv4-mapped IPv6 client is matched against the IPv4 networks. */
    assert_true(policy_nets_match(&p->internal, "::ffff:192.0.2.9"));
    assert_true(policy_nets_match(&p->relay, "10.1.255.255"));
    assert_false(policy_nets_match(&p->relay, "10.2.0.1"));
    /* A bare address is a /32. */
    assert_true(policy_nets_match(&p->relay, "203.0.113.7"));
    assert_false(policy_nets_match(&p->relay, "203.0.113.8"));
    /* What Postfix may send instead of an address never matches. */
    assert_false(policy_nets_match(&p->relay, ""));
    assert_false(policy_nets_match(&p->relay, "unknown"));
    assert_false(policy_nets_match(&p->relay, "198.51.100.1/8"));
    policy_free(p);
    config_unref(cfg);
}

static void test_empty_lists(void **state)
{
    struct cf_config *cfg = load("local_domains = {\"example.com\"}\n"
				 "internal_networks = {}\n"
				 "relay { networks = {} }\n");
    struct policy *p = policy_compile(cfg);

    (void) state;
    assert_non_null(p);
    assert_int_equal(p->internal.n, 0);
    assert_int_equal(p->relay.n, 0);
    assert_false(policy_nets_match(&p->internal, "127.0.0.1"));
    assert_false(policy_nets_match(&p->relay, "127.0.0.1"));
    policy_free(p);
    policy_free(NULL);
    config_unref(cfg);
}

/* Decide the request made of "name=value" pairs in ATTRS. */
static const char *decide_text(const struct cf_config *cfg, const struct policy *p,
			       struct instances *tab, const char *attrs)
{
    static char buf[2048];
    struct request_scan scan;
    struct request req;
    struct decide_ctx ctx = {cfg, tab, NULL, 1700000000, p};
    struct decision d;
    size_t  used;
    const char *why = NULL;

    snprintf(buf, sizeof(buf), "request=smtpd_access_policy\n"
	     "protocol_state=RCPT\nsender=s@outside.org\n%s\n", attrs);
    request_scan_init(&scan);
    assert_int_equal(request_scan(&scan, buf, strlen(buf), &req, &used, &why),
		     REQUEST_COMPLETE);
    decide(&ctx, &req, &d);
    return d.action;
}

static void test_decide_same_answers(void **state)
{
    static const char *const cases[][2] = {
	{"client_address=198.51.100.20\nrecipient=x@partner.com\n", "OK"},
	{"client_address=10.1.2.3\nrecipient=x@partner.com\n", "OK"},
	{"client_address=203.0.113.7\nrecipient=x@partner.com\n", "OK"},
	{"client_address=203.0.113.8\nrecipient=x@partner.com\n", DECIDE_RELAY_DENIED},
	{"client_address=::ffff:198.51.100.1\nrecipient=x@partner.com\n", "OK"},
	{"client_address=192.0.2.5\nrecipient=x@partner.com\n", DECIDE_RELAY_DENIED},
	{"client_address=203.0.113.8\nrecipient=bob@example.com\n", "OK"},
    };
    struct cf_config *cfg = load(conf);
    struct policy *p = policy_compile(cfg);
    struct instances *tab = instances_create(16, INSTANCES_TTL);
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
	assert_string_equal(decide_text(cfg, p, tab, cases[i][0]), cases[i][1]);
	assert_string_equal(decide_text(cfg, NULL, tab, cases[i][0]), cases[i][1]);
    }
    instances_free(tab);
    policy_free(p);
    config_unref(cfg);
}

/* internal_networks makes a client outbound: the outbound size limit. */
static void test_internal_is_outbound(void **state)
{
    struct cf_config *cfg = load("local_domains = {\"example.com\"}\n"
				 "internal_networks = {\"192.0.2.0/24\"}\n"
				 "log { file = false }\n"
				 "statistics { enabled = false }\n"
				 "limits { inbound_size = 1K  outbound_size = 10K }\n");
    struct policy *p = policy_compile(cfg);
    struct instances *tab = instances_create(16, INSTANCES_TTL);

    (void) state;
    assert_string_equal(decide_text(cfg, p, tab, "client_address=192.0.2.5\n"
				    "recipient=bob@example.com\nsize=5000\n"), "OK");
    assert_string_equal(decide_text(cfg, p, tab, "client_address=192.0.3.5\n"
				    "recipient=bob@example.com\nsize=5000\n"),
			DECIDE_TOO_BIG);
    instances_free(tab);
    policy_free(p);
    config_unref(cfg);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_nets),
	cmocka_unit_test(test_empty_lists),
	cmocka_unit_test(test_decide_same_answers),
	cmocka_unit_test(test_internal_is_outbound),
    };

    log_init("test_policyd_policy", 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
