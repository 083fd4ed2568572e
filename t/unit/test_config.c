/*
 * test_config - configuration loading: defaults, the shipped sample, every
 * kind of error with its exact FILE:LINE message (golden file), sizes,
 * comments, reference counting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static char *slurp(const char *path)
{
    FILE   *fp = fopen(path, "r");
    char   *buf;
    long    len;

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    rewind(fp);
    buf = calloc(1, (size_t) len + 1);
    assert_int_equal(fread(buf, 1, (size_t) len, fp), (size_t) len);
    fclose(fp);
    return buf;
}

static char *srcpath(const char *rel)
{
    static char path[4096];
    const char *dir = getenv("CF_SRCDIR");

    snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", rel);
    return path;
}

/* Load TEXT, collecting messages in *MSGS (caller frees). */
static int load(const char *text, struct cf_config **cfg, char **msgs)
{
    size_t  len;
    FILE   *fp = open_memstream(msgs, &len);
    int     n = config_load_string(text, "test.conf", fp, cfg);

    fclose(fp);
    return n;
}

static void test_defaults(void **state)
{
    struct cf_config *cfg;
    char   *msgs;

    (void) state;
    assert_int_equal(load("", &cfg, &msgs), 0);
    assert_string_equal(msgs, "");
    assert_string_equal(cfg->postmaster, "postmaster@example.com");
    assert_int_equal(cfg->local_domains.n, 1);
    assert_string_equal(cfg->local_domains.v[0], "example.com");
    assert_string_equal(cfg->outbound_daemons.v[0], "ORIGINATING");
    assert_string_equal(cfg->internal_networks.v[0], "127.0.0.0/8");
    assert_int_equal(cfg->milter.memory_limit, 1 << 20);
    assert_int_equal(cfg->milter.on_error, CF_ON_ERROR_TEMPFAIL);
    assert_string_equal(cfg->milter.socket, "unix:/var/spool/postfix/cryptofilter/milter.sock");
    assert_true(cfg->log.file);
    assert_int_equal(cfg->log.purge_days, 30);
    assert_false(cfg->history.enabled);
    assert_int_equal(cfg->history.purge_days, 14);
    assert_true(cfg->statistics.enabled);
    assert_true(cfg->statistics.long_date);
    assert_int_equal(cfg->statistics.purge_days, 365);
    assert_int_equal(cfg->limits.max_recipients, 0);
    assert_false(cfg->relay.allow_all);
    assert_true(cfg->relay.allow_authenticated);
    assert_int_equal(cfg->next_hop.port, 25);
    assert_int_equal(cfg->smime.cipher, CF_CIPHER_AES_256_CBC);
    assert_int_equal(cfg->smime.digest, CF_DIGEST_SHA256);
    assert_int_equal(cfg->smime.signature, CF_SIGNATURE_DETACHED);
    assert_string_equal(cfg->smime.ca_file, "/etc/cryptofilter/cert/ca.pem");
    for (int k = 0; k < CF_RULE_KIND_COUNT; k++)
	assert_int_equal(cfg->rules[k].n, 0);
    free(msgs);
    config_unref(cfg);
}

/* The shipped etc/cryptofilter.conf passes, with cert_dir pointing at a
 * directory that exists here. */
static void test_sample(void **state)
{
    char   *text = slurp(srcpath("etc/cryptofilter.conf"));
    const char *tmp = getenv("CF_TMPDIR") ? getenv("CF_TMPDIR") : "/tmp";
    char   *at = strstr(text, "\"/etc/cryptofilter/cert\"");
    char   *patched;
    struct cf_config *cfg;
    char   *msgs;
    const struct cf_rule *r;

    (void) state;
    assert_non_null(at);
    *at = 0;
    assert_true(asprintf(&patched, "%s\"%s\"%s", text, tmp,
			 at + strlen("\"/etc/cryptofilter/cert\"")) > 0);
    assert_int_equal(load(patched, &cfg, &msgs), 0);
    assert_int_equal(cfg->rules[CF_RULE_SMIME_SIGN].n, 2);
    r = &cfg->rules[CF_RULE_SMIME_SIGN].v[0];
    assert_string_equal(r->name, "fax");
    assert_string_equal(r->certificate, CF_VOID_CERTIFICATE);
    assert_string_equal(r->from, "*");
    assert_string_equal(cfg->rules[CF_RULE_SMIME_SIGN].v[1].name, "ours");
    /* line numbers point at the section headers */
    {
	int     line = 1;
	for (char *p = patched; p < strstr(patched, "smime_sign \"ours\""); p++)
	    line += *p == '\n';
	assert_int_equal(cfg->rules[CF_RULE_SMIME_SIGN].v[1].line, line);
    }
    r = &cfg->rules[CF_RULE_TLS_INBOUND].v[0];
    assert_int_equal(r->tls_type, CF_TLS_MANDATORY);
    assert_int_equal(r->tls_reject, CF_TLSREJ_WEAK_CIPHER | CF_TLSREJ_NO_PFS);
    r = &cfg->rules[CF_RULE_SMIME_OUTBOUND_POLICY].v[0];
    assert_int_equal(r->action, CF_ACTION_NDR);
    assert_int_equal(r->when, CF_WHEN_NOT_ENCRYPTED | CF_WHEN_NO_CERTIFICATE);
    free(msgs);
    free(text);
    free(patched);
    config_unref(cfg);
}

/* Every error of bad.conf, exactly as in bad.conf.ref, and no config. */
static void test_bad_golden(void **state)
{
    char    path[4096];
    char   *ref = slurp(srcpath("t/unit/data/bad.conf.ref"));
    char   *msgs;
    size_t  len;
    FILE   *fp = open_memstream(&msgs, &len);
    struct cf_config *cfg;
    int     n;

    (void) state;
    /* The reference names the file by its path relative to the source. */
    snprintf(path, sizeof(path), "t/unit/data/bad.conf");
    assert_int_equal(chdir(getenv("CF_SRCDIR") ? getenv("CF_SRCDIR") : "."), 0);
    n = config_load(path, fp, &cfg);
    fclose(fp);
    assert_null(cfg);
    assert_int_equal(n, 21);
    assert_string_equal(msgs, ref);
    free(msgs);
    free(ref);
}

static void test_syntax_error(void **state)
{
    struct cf_config *cfg;
    char   *msgs;

    (void) state;
    assert_true(load("# c\n# d\nmilter {\n  bogus = 1\n}\n", &cfg, &msgs) > 0);
    assert_null(cfg);
    assert_non_null(strstr(msgs, "test.conf:4: no such option 'bogus'"));
    free(msgs);
    assert_true(load("milter {\n socket = \"unix:/x\"\n", &cfg, &msgs) > 0);
    assert_null(cfg);
    assert_non_null(strstr(msgs, "test.conf:1: '{' is never closed"));
    free(msgs);
    assert_true(load("milter { }\n}\n", &cfg, &msgs) > 0);
    assert_null(cfg);
    assert_non_null(strstr(msgs, "test.conf:2: '}' without '{'"));
    free(msgs);
    assert_true(load("smime_sign \"a\" { }\nsmime_sign \"a\" { }\n", &cfg, &msgs) > 0);
    assert_null(cfg);
    free(msgs);
}

static void test_missing_file(void **state)
{
    struct cf_config *cfg;
    char   *msgs;
    size_t  len;
    FILE   *fp = open_memstream(&msgs, &len);

    (void) state;
    assert_int_equal(config_load("/nonexistent/cryptofilter.conf", fp, &cfg), 1);
    fclose(fp);
    assert_null(cfg);
    assert_non_null(strstr(msgs, "/nonexistent/cryptofilter.conf: cannot open"));
    free(msgs);
}

/* '#' is a digit wildcard inside quotes and a comment outside; comments
 * must not shift line numbers. */
static void test_comments_and_hash(void **state)
{
    struct cf_config *cfg;
    char   *msgs;
    const char *text =
	"# one\n# two\n# three\n"
	"tls_outbound \"digits\" {  # trailing\n"
	"    to = \"fax###@example.com\"  # a comment with \"quotes\"\n"
	"    subject = \"*\"\n"
	"}\n"
	"limits { max_recipients = x }\n";

    (void) state;
    assert_int_equal(load(text, &cfg, &msgs), 1);
    assert_string_equal(msgs, "test.conf:8: max_recipients: \"x\" is not a non-negative number\n");
    free(msgs);
    assert_int_equal(load("# c\ntls_outbound \"digits\" {\n to = \"fax###@example.com\" # x\n}\n",
			  &cfg, &msgs), 0);
    assert_string_equal(cfg->rules[CF_RULE_TLS_OUTBOUND].v[0].to, "fax###@example.com");
    assert_int_equal(cfg->rules[CF_RULE_TLS_OUTBOUND].v[0].line, 2);
    free(msgs);
    config_unref(cfg);
}

static void test_sizes(void **state)
{
    static const struct {
	const char *text;
	int     ok;
	uint64_t value;
    } cases[] = {
	{"0", 1, 0}, {"123", 1, 123}, {"10K", 1, 10240}, {"1M", 1, 1048576},
	{"2G", 1, 2147483648ULL}, {"1m", 1, 1048576}, {"5MB", 1, 5242880},
	{"", 0, 0}, {"-1", 0, 0}, {"1T", 0, 0}, {"1MM", 0, 0}, {"M", 0, 0},
	{" 1", 0, 0}, {"99999999999999999999", 0, 0}, {"17179869184G", 0, 0},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
	uint64_t v = 0;
	int     rc = config_parse_size(cases[i].text, &v);

	assert_int_equal(rc == 0, cases[i].ok);
	if (cases[i].ok)
	    assert_true(v == cases[i].value);
    }
}

static void test_policy_and_tls_values(void **state)
{
    struct cf_config *cfg;
    char   *msgs;
    const char *text =
	"internal_networks = {\"10.0.0.0/8\", \"2001:db8::/32\"}\n"
	"limits { inbound_size = 10M  outbound_size = 512K  max_recipients = 50 }\n"
	"tls_outbound \"t\" { to = \"*@x.com\" type = secure reject = {tofu-mismatch, weak-key} }\n"
	"smime_outbound_policy \"q\" { when = {partial} action = encapsulate-recipient-stripped"
	" subject_tag = \"[not encrypted]\" }\n"
	"smime { cipher = aes-128-gcm digest = sha512 signature = opaque key_transport = oaep"
	" ca_file = \"/abs/ca.pem\" }\n";

    (void) state;
    assert_int_equal(load(text, &cfg, &msgs), 0);
    assert_int_equal(cfg->limits.inbound_size, 10 << 20);
    assert_int_equal(cfg->limits.outbound_size, 512 << 10);
    assert_int_equal(cfg->limits.max_recipients, 50);
    assert_int_equal(cfg->internal_networks.n, 2);
    assert_int_equal(cfg->rules[CF_RULE_TLS_OUTBOUND].v[0].tls_type, CF_TLS_SECURE);
    assert_int_equal(cfg->rules[CF_RULE_TLS_OUTBOUND].v[0].tls_reject,
		     CF_TLSREJ_TOFU_MISMATCH | CF_TLSREJ_WEAK_KEY);
    /* accepted, but the postmaster is told they are not enforced */
    assert_non_null(strstr(msgs, "test.conf:3: warning: tls_outbound \"t\": reject tofu-mismatch"
			   " is not enforced yet"));
    assert_non_null(strstr(msgs, "reject weak-key is not enforced yet"));
    assert_int_equal(cfg->rules[CF_RULE_SMIME_OUTBOUND_POLICY].v[0].action,
		     CF_ACTION_ENCAPSULATE_RECIPIENT_STRIPPED);
    assert_string_equal(cfg->rules[CF_RULE_SMIME_OUTBOUND_POLICY].v[0].subject_tag,
			"[not encrypted]");
    assert_int_equal(cfg->smime.cipher, CF_CIPHER_AES_128_GCM);
    assert_int_equal(cfg->smime.digest, CF_DIGEST_SHA512);
    assert_int_equal(cfg->smime.signature, CF_SIGNATURE_OPAQUE);
    assert_int_equal(cfg->smime.key_transport, CF_KEY_TRANSPORT_OAEP);
    assert_string_equal(cfg->smime.ca_file, "/abs/ca.pem");
    assert_string_equal(config_action_name(CF_ACTION_HOLD), "hold");
    assert_string_equal(config_tls_type_name(CF_TLS_MANDATORY), "mandatory");
    assert_string_equal(config_rule_kind_name(CF_RULE_SMIME_DECRYPT), "smime_decrypt");
    free(msgs);
    config_unref(cfg);
}

static void test_refcount_and_local(void **state)
{
    struct cf_config *cfg;
    char   *msgs;

    (void) state;
    assert_int_equal(load("local_domains = {\"example.com\", \"Example.ORG\"}\n", &cfg, &msgs), 0);
    assert_true(config_is_local_domain(cfg, "bob@example.com"));
    assert_true(config_is_local_domain(cfg, "bob@EXAMPLE.org"));
    assert_true(config_is_local_domain(cfg, "bob@example.com."));
    assert_false(config_is_local_domain(cfg, "bob@evilexample.com"));
    assert_false(config_is_local_domain(cfg, "bob@mail.example.com"));
    assert_false(config_is_local_domain(cfg, "example.com"));
    assert_ptr_equal(config_ref(cfg), cfg);
    assert_int_equal(cfg->refcount, 2);
    config_unref(cfg);
    assert_int_equal(cfg->refcount, 1);
    config_unref(cfg);
    free(msgs);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_defaults),
	cmocka_unit_test(test_sample),
	cmocka_unit_test(test_bad_golden),
	cmocka_unit_test(test_syntax_error),
	cmocka_unit_test(test_missing_file),
	cmocka_unit_test(test_comments_and_hash),
	cmocka_unit_test(test_sizes),
	cmocka_unit_test(test_policy_and_tls_values),
	cmocka_unit_test(test_refcount_and_local),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
