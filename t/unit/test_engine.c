/* test_engine - whole messages through engine_run(): outbound sign and
 * encrypt, inbound decrypt and verify of the result, forged status
 * headers, policies (partial, mark-subject, encapsulate), TLS classes,
 * hostile input, and parse/render fidelity. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "certstore.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "mime.h"
#include "spool.h"

static char dir[1024];
static struct cf_config *cfg;

static const char conf_fmt[] =
    "postmaster = \"pm@example.com\"\n"
    "milter { spool_dir = \"%s\" memory_limit = 4K }\n"
    "log { file = false }\n"
    "statistics { enabled = false }\n"
    "smime { cert_dir = \"%s/cert\" ca_file = \"ca.pem\" collect_sender_certs = false }\n"
    "tls_outbound \"partner\" { from = \"*\" to = \"*@partner.com\" subject = \"*\" type = mandatory"
    "  reject = {untrusted} }\n"
    "tls_outbound \"rest\" { from = \"*\" to = \"*\" subject = \"*\" type = may }\n"
    "smime_verify \"all\" { from = \"*\" to = \"*\" verify = true }\n"
    "smime_decrypt \"all\" { from = \"*\" to = \"*\" certificate = \"*\" }\n"
    "smime_sign \"ours\" { from = \"*@example.com\" to = \"*\" certificate = \"*\" }\n"
    "smime_encrypt \"any\" { from = \"*\" to = \"*\" certificate = \"*\" }\n"
    "smime_inbound_policy \"mark\" { from = \"*\" to = \"bob@*\" when = {not-signed, bad-signature}"
    "  action = mark-subject subject_tag = \"[unsigned]\" }\n"
    "smime_inbound_policy \"pm\" { from = \"*\" to = \"carol@*\" when = {not-signed}"
    "  action = encapsulate-postmaster }\n"
    "smime_outbound_policy \"partial\" { from = \"*\" to = \"*\" when = {partial} action = ndr }\n";

static int setup(void **state)
{
    const char *src = getenv("CF_SRCDIR"), *tmp = getenv("CF_TMPDIR");
    char    cmd[4096], *text;

    (void) state;
    log_init("test_engine", 1);
    snprintf(dir, sizeof(dir), "%s/engine-pki", tmp ? tmp : "/tmp");
    snprintf(cmd, sizeof(cmd), "bash -c '. \"%s/t/lib/pki.sh\" && pki_make \"%s\"' >/dev/null 2>&1",
	     src ? src : ".", dir);
    if (system(cmd) != 0)
	return -1;
    if (asprintf(&text, conf_fmt, dir, dir) < 0)
	return -1;
    if (config_load_string(text, "test.conf", stderr, &cfg) != 0) {
	free(text);
	return -1;
    }
    free(text);
    return 0;
}

static int teardown(void **state)
{
    (void) state;
    config_unref(cfg);
    certstore_flush();
    return 0;
}

/* Parse TEXT (LEN bytes) as a whole message with the given envelope. */
static void make_msg_len(struct engine_msg *msg, const char *text, size_t len, int outbound,
			 const char *sender, char **rcpts, size_t nrcpts)
{
    struct spool *sp = spool_new(0, dir);

    assert_int_equal(spool_write(sp, text, len), 0);
    memset(msg, 0, sizeof(*msg));
    assert_int_equal(engine_msg_parse(sp, 4096, dir, msg), 0);
    spool_free(sp);
    msg->outbound = outbound;
    msg->queue_id = "TESTQ";
    msg->client_addr = "127.0.0.1";
    msg->sender = sender;
    msg->recipients = rcpts;
    msg->nrecipients = nrcpts;
}

static void make_msg(struct engine_msg *msg, const char *text, int outbound,
		     const char *sender, char **rcpts, size_t nrcpts)
{
    make_msg_len(msg, text, strlen(text), outbound, sender, rcpts, nrcpts);
}

/* Render into a NUL-terminated heap string. */
static char *render(const struct engine_msg *msg, const struct engine_result *res)
{
    char   *buf = 0;
    size_t  len = 0;
    FILE   *fp = open_memstream(&buf, &len);

    assert_non_null(fp);
    assert_int_equal(engine_render(msg, res, fp), 0);
    fclose(fp);
    return buf;
}

static const struct engine_edit *find_edit(const struct engine_result *res,
					   enum engine_edit_op op, const char *name)
{
    for (size_t i = 0; i < res->nedits; i++)
	if (res->edits[i].op == op && strcasecmp(res->edits[i].name, name) == 0)
	    return &res->edits[i];
    return 0;
}

static void test_tls_class(void **state)
{
    struct cf_rule r;

    (void) state;
    memset(&r, 0, sizeof(r));
    assert_string_equal(engine_tls_class_of(0), "");
    r.tls_type = CF_TLS_NONE;
    assert_string_equal(engine_tls_class_of(&r), "none");
    r.tls_type = CF_TLS_MAY;
    assert_string_equal(engine_tls_class_of(&r), "may");
    r.tls_type = CF_TLS_MANDATORY;
    assert_string_equal(engine_tls_class_of(&r), "encrypt");
    r.tls_reject = CF_TLSREJ_WEAK_CIPHER | CF_TLSREJ_NO_PFS;
    assert_string_equal(engine_tls_class_of(&r), "encrypt");
    r.tls_reject |= CF_TLSREJ_SELF_SIGNED;
    assert_string_equal(engine_tls_class_of(&r), "verify");
    r.tls_reject |= CF_TLSREJ_CN_MISMATCH;
    assert_string_equal(engine_tls_class_of(&r), "secure");
    r.tls_type = CF_TLS_VERIFY;
    r.tls_reject = 0;
    assert_string_equal(engine_tls_class_of(&r), "verify");
    r.tls_type = CF_TLS_SECURE;
    assert_string_equal(engine_tls_class_of(&r), "secure");
    assert_true(engine_tls_class_rank("none") < engine_tls_class_rank("may"));
    assert_true(engine_tls_class_rank("may") < engine_tls_class_rank("encrypt"));
    assert_true(engine_tls_class_rank("encrypt") < engine_tls_class_rank("verify"));
    assert_true(engine_tls_class_rank("verify") < engine_tls_class_rank("secure"));
    assert_int_equal(engine_tls_class_rank("bogus"), 0);
}

static const char plain_msg[] =
    "From: Alice <alice@example.com>\n"
    "To: bob@example.com\n"
    "Subject: quarterly numbers\n"
    "X-CryptoFilter-SMIME-Verify-Status: valid; forged\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "x-cryptofilter-smime-verify-status: valid; forged again\n"
    "\n"
    "Caf\xc3\xa9 numbers are up.\n"
    "Second line with trailing space \n";

static void test_roundtrip(void **state)
{
    char   *to_bob[] = {"bob@example.com"};
    char   *to_two[] = {"bob@example.com", "dave@partner.com"};
    struct engine_msg out, in;
    struct engine_result ro, ri;
    const struct engine_edit *e;
    char   *wire, *final;

    (void) state;
    make_msg(&out, plain_msg, 1, "alice@example.com", to_two, 2);
    assert_int_equal(engine_run(cfg, &out, &ro), 0);
    assert_int_equal(ro.error, 0);
    assert_string_equal(ro.actions, "sign,encrypt");
    assert_int_equal(ro.action, CF_ACTION_ACCEPT);
    assert_non_null(ro.body);
    /* Forged status headers go first, highest index first. */
    assert_int_equal(ro.edits[0].op, EE_DELETE);
    assert_int_equal(ro.edits[0].index, 2);
    assert_int_equal(ro.edits[1].op, EE_DELETE);
    assert_int_equal(ro.edits[1].index, 1);
    /* Strictest TLS class of the two recipients. */
    assert_string_equal(ro.tls_class, "verify");
    e = find_edit(&ro, EE_ADD, CF_HDR_TLS);
    assert_non_null(e);
    assert_string_equal(e->value, "verify");
    e = find_edit(&ro, EE_ADD, "Content-Type");
    assert_non_null(e);
    assert_non_null(strstr(e->value, "smime-type=enveloped-data"));
    wire = render(&out, &ro);
    assert_null(strstr(wire, "forged"));
    assert_null(strstr(wire, "numbers are up"));
    assert_non_null(strstr(wire, "Subject: quarterly numbers\r\n"));

    /* Bob's side: decrypt, verify, status headers. */
    make_msg(&in, wire, 0, "alice@example.com", to_bob, 1);
    assert_int_equal(engine_run(cfg, &in, &ri), 0);
    assert_int_equal(ri.error, 0);
    assert_int_equal(ri.decrypt, ED_DECRYPTED);
    assert_int_equal(ri.verify, EV_VALID);
    assert_string_equal(ri.signer, "alice@example.com");
    assert_string_equal(ri.actions, "decrypt,verify");
    assert_int_equal(ri.action, CF_ACTION_ACCEPT);	/* signed: no mark */
    final = render(&in, &ri);
    assert_non_null(strstr(final, "X-CryptoFilter-SMIME-Verify-Status: valid; signer=alice@example.com"));
    assert_non_null(strstr(final, "X-CryptoFilter-SMIME-Decrypt-Status: decrypted"));
    /* The 8bit text was made quoted-printable before signing. */
    assert_non_null(strstr(final, "Caf=C3=A9 numbers are up."));
    assert_non_null(strstr(final, "trailing space=20"));
    assert_non_null(strstr(final, "multipart/signed"));
    free(final);
    engine_result_free(&ri);
    engine_msg_free(&in);

    /* Dave (not bob): the same, and no bob policy. */
    make_msg(&in, wire, 0, "alice@example.com", (char *[]) {"dave@partner.com"}, 1);
    assert_int_equal(engine_run(cfg, &in, &ri), 0);
    assert_int_equal(ri.decrypt, ED_DECRYPTED);
    assert_int_equal(ri.verify, EV_VALID);
    engine_result_free(&ri);
    engine_msg_free(&in);

    /* Erin is not a recipient: no key, nothing changes in the body. */
    make_msg(&in, wire, 0, "alice@example.com", (char *[]) {"erin@partner.com"}, 1);
    assert_int_equal(engine_run(cfg, &in, &ri), 0);
    assert_int_equal(ri.decrypt, ED_NO_KEY);
    assert_null(ri.body);
    assert_true(ri.conditions & CF_WHEN_DECRYPT_FAILED);
    engine_result_free(&ri);
    engine_msg_free(&in);

    free(wire);
    engine_result_free(&ro);
    engine_msg_free(&out);
}

static void test_partial(void **state)
{
    char   *rcpts[] = {"bob@example.com", "nocert@partner.com"};
    struct engine_msg m;
    struct engine_result r;

    (void) state;
    make_msg(&m, "From: alice@example.com\nSubject: s\n\nhello\n", 1, "alice@example.com", rcpts, 2);
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    assert_int_equal(r.error, 0);
    assert_true(r.conditions & CF_WHEN_PARTIAL);
    assert_true(r.conditions & CF_WHEN_NOT_ENCRYPTED);
    assert_false(r.conditions & CF_WHEN_NOT_SIGNED);
    assert_int_equal(r.action, CF_ACTION_NDR);
    assert_non_null(r.policy_rule);
    assert_string_equal(r.policy_rule->name, "partial");
    assert_string_equal(r.actions, "sign");
    assert_string_equal(r.reply_text, "S/MIME policy \"partial\": 1 of 2 recipients have no certificate");
    engine_result_free(&r);
    engine_msg_free(&m);
}

static void test_mark_subject(void **state)
{
    char   *rcpts[] = {"bob@example.com"};
    struct engine_msg m;
    struct engine_result r;
    const struct engine_edit *e;
    char   *out;

    (void) state;
    make_msg(&m, "From: x@y.org\nSubject: hi\n\nunsigned\n", 0, "x@y.org", rcpts, 1);
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    assert_int_equal(r.verify, EV_NOT_SIGNED);
    assert_int_equal(r.decrypt, ED_NOT_ENCRYPTED);
    assert_int_equal(r.action, CF_ACTION_MARK_SUBJECT);
    e = find_edit(&r, EE_CHANGE, "Subject");
    assert_non_null(e);
    assert_int_equal(e->index, 1);
    assert_string_equal(e->value, "hi [unsigned]");
    out = render(&m, &r);
    assert_string_equal(out, "From: x@y.org\nSubject: hi [unsigned]\n"
			"X-CryptoFilter-SMIME-Verify-Status: not-signed; no signature\n"
			"X-CryptoFilter-SMIME-Decrypt-Status: not-encrypted\n\nunsigned\n");
    free(out);
    engine_result_free(&r);
    engine_msg_free(&m);
    /* No Subject at all: one is added. */
    make_msg(&m, "From: x@y.org\n\nunsigned\n", 0, "x@y.org", rcpts, 1);
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    e = find_edit(&r, EE_ADD, "Subject");
    assert_non_null(e);
    assert_string_equal(e->value, "[unsigned]");
    engine_result_free(&r);
    engine_msg_free(&m);
}

static void test_encapsulate(void **state)
{
    char   *rcpts[] = {"carol@example.com"};
    struct engine_msg m;
    struct engine_result r;
    char   *out;

    (void) state;
    make_msg(&m, "From: x@y.org\nSubject: hi\nContent-Type: text/plain\n\nthe original\n",
	     0, "x@y.org", rcpts, 1);
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    assert_int_equal(r.action, CF_ACTION_ENCAPSULATE_POSTMASTER);
    assert_int_equal(r.nnew_recipients, 1);
    assert_string_equal(r.new_recipients[0], "pm@example.com");
    assert_non_null(r.body);
    out = render(&m, &r);
    assert_non_null(strstr(out, "Content-Type: multipart/mixed; boundary="));
    assert_non_null(strstr(out, "Content-Type: message/rfc822"));
    assert_non_null(strstr(out, "the original"));
    assert_non_null(strstr(out, "not signed"));
    /* The old Content-Type is gone: exactly one left at the top level. */
    {
	char   *end = strstr(out, "\r\n\r\n"), *p = out;
	int     n = 0;

	assert_non_null(end);
	while ((p = strstr(p, "Content-Type:")) != 0 && p < end)
	    n++, p++;
	assert_int_equal(n, 1);
    }
    free(out);
    engine_result_free(&r);
    engine_msg_free(&m);
}

static void test_hostile(void **state)
{
    char   *rcpts[] = {"bob@example.com"};
    const char *bad[] = {
	"From: x@y.org\nSubject: s\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\n"
	    "Content-Transfer-Encoding: base64\n\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n",
	"From: x@y.org\nSubject: s\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
	    " boundary=zz\n\n--zz\nContent-Type: text/plain\n\nx\n--zz\n"
	    "Content-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\n!!!!\n--zz--\n",
	"From: x@y.org\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"\n\nno boundary\n",
	"From: x@y.org\nContent-Type: application/pkcs7-mime\n\n\x30\x82\xff\xff\x06\x09",
	"garbage without headers\n\n\n",
	"",
    };

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
	struct engine_msg m;
	struct engine_result r;
	char   *out;

	make_msg(&m, bad[i], 0, "x@y.org", rcpts, 1);
	assert_int_equal(engine_run(cfg, &m, &r), 0);
	assert_int_equal(r.error, 0);
	assert_null(r.body);		/* kept unchanged */
	if (i == 0)
	    assert_int_equal(r.decrypt, ED_FAILED);
	if (i == 1 || i == 2)
	    assert_int_equal(r.verify, EV_ERROR);
	out = render(&m, &r);
	/* Undecryptable content gets no verify status, everything else one. */
	if (r.decrypt == ED_FAILED)
	    assert_null(strstr(out, CF_HDR_VERIFY));
	else
	    assert_non_null(strstr(out, CF_HDR_VERIFY));
	assert_non_null(strstr(out, CF_HDR_DECRYPT));
	free(out);
	engine_result_free(&r);
	engine_msg_free(&m);
    }
}

/* Without rules that apply, render gives back the input byte for byte,
 * LF or CRLF, and a body larger than memory_limit spills to a file. */
static void test_fidelity(void **state)
{
    struct cf_config *none;
    const char *texts[] = {
	"From: a@b.c\nSubject: x\n  folded\n\nbody\nline\n",
	"From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n",
	"From a@b.c Thu Jan  1 00:00:00 2026\nFrom: a@b.c\n\nmbox line skipped\n",
    };
    const char *expect[] = {
	"From: a@b.c\nSubject: x  folded\n\nbody\nline\n",
	"From: a@b.c\r\nSubject: x\r\n\r\nbody\r\n",
	"From: a@b.c\n\nmbox line skipped\n",
    };
    char   *rcpts[] = {"bob@example.com"};
    char   *big;

    (void) state;
    assert_int_equal(config_load_string("log { file = false }\n", "none.conf", stderr, &none), 0);
    for (size_t i = 0; i < 3; i++) {
	struct engine_msg m;
	struct engine_result r;
	char   *out;

	make_msg(&m, texts[i], 0, "a@b.c", rcpts, 1);
	assert_int_equal(engine_run(none, &m, &r), 0);
	assert_int_equal(r.nedits, 0);
	out = render(&m, &r);
	assert_string_equal(out, expect[i]);
	free(out);
	engine_result_free(&r);
	engine_msg_free(&m);
    }
    big = malloc(100000);
    memset(big, 'a', 99999);
    big[99999] = 0;
    memcpy(big, "From: a@b.c\n\n", 13);
    {
	struct engine_msg m;
	struct engine_result r;
	char   *out;

	make_msg(&m, big, 1, "alice@example.com", rcpts, 1);
	assert_true(spool_in_file(m.body));
	assert_int_equal(engine_run(cfg, &m, &r), 0);
	assert_string_equal(r.actions, "sign,encrypt");
	assert_true(spool_in_file(r.body));
	out = render(&m, &r);
	assert_true(strlen(out) > 100000);
	free(out);
	engine_result_free(&r);
	engine_msg_free(&m);
    }
    free(big);
    config_unref(none);
}

/* A CR that ends one 64 KB read chunk and its LF that starts the next
 * must stay one line break. */
static void test_chunk_boundary(void **state)
{
    char   *rcpts[] = {"bob@example.com"};
    const char *hdr = "From: alice@example.com\r\nSubject: chunks\r\n\r\n";
    size_t  hl = strlen(hdr), pos;
    char   *text = malloc(hl + 70000), *out, *body;
    struct engine_msg m, back;
    struct engine_result r, rb;

    (void) state;
    memcpy(text, hdr, hl);
    pos = hl;
    memset(text + pos, 'z', 15);	/* the first CR lands at body offset 15 + 80k */
    pos += 15;
    while (pos - hl < 69000) {
	memcpy(text + pos, "\r\n", 2);
	memset(text + pos + 2, 'y', 78);
	pos += 80;
    }
    memcpy(text + pos, "\r\n", 3);
    assert_int_equal(text[hl + 65535], '\r');
    make_msg(&m, text, 1, "alice@example.com", rcpts, 1);
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    assert_string_equal(r.actions, "sign,encrypt");
    out = render(&m, &r);
    make_msg(&back, out, 0, "alice@example.com", rcpts, 1);
    assert_int_equal(engine_run(cfg, &back, &rb), 0);
    assert_int_equal(rb.verify, EV_VALID);
    free(out);
    out = render(&back, &rb);
    body = strstr(out, "zzzzzzzzzzzzzzz\r\nyyy");
    assert_non_null(body);
    assert_null(strstr(body, "y\r\n\r\ny"));
    assert_null(strstr(body, "\r\r"));
    free(out);
    engine_result_free(&rb);
    engine_msg_free(&back);
    engine_result_free(&r);
    engine_msg_free(&m);
    free(text);
}

/* remove_signature: the signed content replaces the multipart/signed. */
static void test_remove_signature(void **state)
{
    char   *rcpts[] = {"bob@example.com"};
    struct cf_config *c2;
    struct engine_msg m, back;
    struct engine_result r, rb;
    char   *text, *wire, *out;

    (void) state;
    assert_true(asprintf(&text, "milter { spool_dir = \"%s\" }\nlog { file = false }\n"
			 "smime { cert_dir = \"%s/cert\" collect_sender_certs = false }\n"
			 "smime_verify \"all\" { verify = true remove_signature = true }\n"
			 "smime_sign \"ours\" { from = \"*@example.com\" certificate = \"*\" }\n",
			 dir, dir) > 0);
    assert_int_equal(config_load_string(text, "rs.conf", stderr, &c2), 0);
    free(text);
    make_msg(&m, "From: alice@example.com\nSubject: s\nContent-Type: text/plain\n\nsigned words\n",
	     1, "alice@example.com", rcpts, 1);
    assert_int_equal(engine_run(c2, &m, &r), 0);
    assert_string_equal(r.actions, "sign");
    wire = render(&m, &r);
    assert_non_null(strstr(wire, "multipart/signed"));
    make_msg(&back, wire, 0, "alice@example.com", rcpts, 1);
    assert_int_equal(engine_run(c2, &back, &rb), 0);
    assert_int_equal(rb.verify, EV_VALID);
    out = render(&back, &rb);
    assert_null(strstr(out, "multipart/signed"));
    assert_null(strstr(out, "pkcs7"));
    assert_non_null(strstr(out, "Content-Type: text/plain\r\n"));
    assert_non_null(strstr(out, "\r\n\r\nsigned words\r\n"));
    free(out);
    free(wire);
    engine_result_free(&rb);
    engine_msg_free(&back);
    engine_result_free(&r);
    engine_msg_free(&m);
    config_unref(c2);
}


/* The body of a rendered message (after the first empty line). */
static const char *body_of(const char *wire)
{
    const char *p = strstr(wire, "\r\n\r\n");

    assert_non_null(p);
    return p + 4;
}

/* The first part of the multipart/signed message WIRE. */
static void signed_part(const char *wire, struct mbuf *out)
{
    const char *ct = strstr(wire, "boundary=\""), *body = body_of(wire);
    char    boundary[128];
    struct mime_part parts[2];
    size_t  n;

    assert_non_null(ct);
    ct += 10;
    n = strcspn(ct, "\"");
    assert_true(n < sizeof(boundary));
    memcpy(boundary, ct, n);
    boundary[n] = 0;
    assert_int_equal(mime_multipart_split((const unsigned char *) body, strlen(body), boundary,
					  parts, 2), 2);
    assert_int_equal(mbuf_add(out, body + parts[0].off, parts[0].len), 0);
}

/*
 * A message larger than memory_limit (4K here) goes the streaming way:
 * the entity signed is exactly what the in-memory encoder makes of it
 * (quoted-printable for 8bit text, base64 for binary, pieces cut at the
 * right places), and the result verifies and decrypts.
 */
static void large_case(const char *ctype, const unsigned char *body, size_t blen,
		       const char *needle)
{
    char   *to_nocert[] = {"nocert@nowhere.org"}, *to_bob[] = {"bob@example.com"};
    struct mbuf text, ent, want, got;
    struct engine_msg m, back;
    struct engine_result r, rb;
    char   *wire, *final;

    mbuf_init(&text, 0);
    mbuf_init(&ent, 0);
    mbuf_init(&want, 0);
    mbuf_init(&got, 0);
    assert_int_equal(mbuf_printf(&text, "From: alice@example.com\nTo: x@example.org\n"
				 "Subject: big\n%s\n", ctype), 0);
    assert_int_equal(mbuf_add(&text, body, blen), 0);
    assert_int_equal(mbuf_terminate(&text), 0);
    /* What the in-memory path signs. */
    assert_int_equal(mime_to_crlf((const unsigned char *) ctype, strlen(ctype), &ent), 0);
    assert_int_equal(mbuf_addstr(&ent, "\r\n"), 0);
    assert_int_equal(mime_to_crlf(body, blen, &ent), 0);
    assert_int_equal(mime_encode_7bit(ent.data, ent.len, &want), 0);

    /* Signed only (no certificate for the recipient). */
    make_msg_len(&m, (const char *) text.data, text.len, 1, "alice@example.com", to_nocert, 1);
    assert_true(spool_in_file(m.body));
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    assert_int_equal(r.error, 0);
    assert_string_equal(r.actions, "sign");
    assert_true(spool_in_file(r.body));
    wire = render(&m, &r);
    signed_part(wire, &got);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    if (needle)
	assert_non_null(strstr(wire, needle));
    make_msg(&back, wire, 0, "alice@example.com", to_bob, 1);
    assert_int_equal(engine_run(cfg, &back, &rb), 0);
    assert_int_equal(rb.verify, EV_VALID);
    engine_result_free(&rb);
    engine_msg_free(&back);
    free(wire);
    engine_result_free(&r);
    engine_msg_free(&m);

    /* Signed and encrypted. */
    make_msg_len(&m, (const char *) text.data, text.len, 1, "alice@example.com", to_bob, 1);
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    assert_string_equal(r.actions, "sign,encrypt");
    wire = render(&m, &r);
    assert_non_null(strstr(wire, "smime-type=enveloped-data"));
    /* Base64 in 76-column CRLF lines. */
    assert_int_equal(strcspn(body_of(wire), "\r\n"), 76);
    assert_null(strstr(body_of(wire), "\n\n"));
    make_msg(&back, wire, 0, "alice@example.com", to_bob, 1);
    assert_int_equal(engine_run(cfg, &back, &rb), 0);
    assert_int_equal(rb.decrypt, ED_DECRYPTED);
    assert_int_equal(rb.verify, EV_VALID);
    final = render(&back, &rb);
    mbuf_free(&got);
    mbuf_init(&got, 0);
    signed_part(final, &got);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    free(final);
    engine_result_free(&rb);
    engine_msg_free(&back);
    free(wire);
    engine_result_free(&r);
    engine_msg_free(&m);
    mbuf_free(&text);
    mbuf_free(&ent);
    mbuf_free(&want);
    mbuf_free(&got);
}

static void test_large_streamed(void **state)
{
    static const char text[] = "Caf\xc3\xa9 au lait, line of text with a trailing blank \n";
    size_t  n = 300000, i;
    unsigned char *b = malloc(n);

    (void) state;
    /* 8bit text: lines with an e-acute, trailing blanks, one line of
     * 1500 octets, no line break at the very end. */
    for (i = 0; i < n; i++)
	b[i] = (unsigned char) text[i % (sizeof(text) - 1)];
    memset(b + 100000, 'L', 1500);
    large_case("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n",
	       b, n - 1, "Caf=C3=A9 au lait");
    /* Binary: every byte value. */
    for (i = 0; i < n; i++)
	b[i] = (unsigned char) (i * 7 + i / 251);
    large_case("Content-Type: application/octet-stream\n", b, n, "Content-Transfer-Encoding: base64");
    /* 7bit text: signed as it is. */
    for (i = 0; i < n; i++)
	b[i] = (unsigned char) "plain seven bit text\n"[i % 21];
    large_case("Content-Type: text/plain\n", b, n, 0);
    /* A multipart with an 8bit part (encoded in memory, the same way). */
    memcpy(b, "--XyZ\nContent-Type: text/plain; charset=utf-8\n\n", 47);
    for (i = 47; i < n - 100; i++)
	b[i] = (unsigned char) text[i % (sizeof(text) - 1)];
    memcpy(b + i, "\n--XyZ--\n", 10);
    large_case("Content-Type: multipart/mixed; boundary=\"XyZ\"\n", b, i + 10,
	       "Content-Transfer-Encoding: quoted-printable");
    /* Nested: a preamble, an alternative of 8bit text and 7bit html, a
     * part without header, a base64 attachment, a message/rfc822 part,
     * an 8bit binary part, an epilogue; then the same never closed. */
    {
	struct mbuf t;
	static const char line[] = "Gr\xc3\xbc\xc3\x9f Gott, a line of 8bit text here\n";

	mbuf_init(&t, 0);
	assert_int_equal(mbuf_addstr(&t, "preamble\n--OUT\nContent-Type: multipart/alternative;"
				     " boundary=IN\n\n--IN\nContent-Type: text/plain;"
				     " charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"), 0);
	for (i = 0; i < 4000; i++)
	    assert_int_equal(mbuf_addstr(&t, line), 0);
	assert_int_equal(mbuf_addstr(&t, "--IN\nContent-Type: text/html\n\n<p>hi</p>\n"
				     "--IN--\nepi\n--OUT\n\nno header here \xe9\n"
				     "--OUT\nContent-Type: application/pdf\n"
				     "Content-Transfer-Encoding: base64\n\n"), 0);
	for (i = 0; i < 3000; i++)
	    assert_int_equal(mbuf_addstr(&t, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n"), 0);
	assert_int_equal(mbuf_addstr(&t, "--OUT\nContent-Type: message/rfc822\n\n"
				     "Subject: inner \xe9\n\nbody\n--OUT\n"
				     "Content-Type: application/octet-stream\n\n"), 0);
	/* No NUL: the helpers above treat the rendered text as a string. */
	for (i = 0; i < 5000; i++)
	    assert_int_equal(mbuf_add(&t, (unsigned char[]) {(unsigned char) (i * 37 % 255 + 1),
							     '\n', (unsigned char) (i % 250 + 1)},
				      3), 0);
	assert_int_equal(mbuf_addstr(&t, "\n--OUT--\nepilogue\n"), 0);
	large_case("Content-Type: multipart/mixed; boundary=OUT\n", t.data, t.len,
		   "Gr=C3=BC=C3=9F Gott");
	t.len -= 20;			/* no closing delimiter: kept as it is */
	large_case("Content-Type: multipart/mixed; boundary=OUT\n", t.data, t.len, 0);
	mbuf_free(&t);
    }
    free(b);
}

/* Peak RSS growth, in KB, of signing and encrypting a message of MB
 * megabytes in a child process. */
static long child_peak_growth(size_t mb, int multipart)
{
    char   *rcpts[] = {"bob@example.com"};
    int     fds[2];
    pid_t   pid;
    long    kb = -1;

    assert_int_equal(pipe(fds), 0);
    if ((pid = fork()) == 0) {
	struct spool *src = spool_new(4096, dir);
	struct engine_msg m;
	struct engine_result r;
	struct rusage before, after;
	char    line[] = "The quick brown fox jumps over the lazy dog, 0123456789 again.\n";
	const char *hdr = "From: alice@example.com\nSubject: huge\n\n";
	FILE   *null = fopen("/dev/null", "w");

	close(fds[0]);
	(void) spool_write(src, hdr, strlen(hdr));
	if (multipart) {
	    /* An 8bit text part and a base64 attachment: the text part is
	     * encoded, the rest streamed through as it is. */
	    const char *mp = "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
		"Content-Type: text/plain; charset=utf-8\n\nS\xc3\xa9" "bastien\n--b\n"
		"Content-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n";

	    /* The Content-Type goes into the header block, before "\n\n". */
	    spool_clear(src);
	    (void) spool_write(src, "From: alice@example.com\nSubject: huge\n", 38);
	    (void) spool_write(src, mp, strlen(mp));
	}
	for (size_t i = 0; i < mb * 1024 * 1024 / (sizeof(line) - 1); i++)
	    (void) spool_write(src, line, sizeof(line) - 1);
	if (multipart)
	    (void) spool_write(src, "--b--\n", 6);
	memset(&m, 0, sizeof(m));
	if (engine_msg_parse(src, 4096, dir, &m) < 0)
	    _exit(1);
	spool_free(src);
	m.outbound = 1;
	m.queue_id = "HUGE";
	m.client_addr = "";
	m.sender = "alice@example.com";
	m.recipients = rcpts;
	m.nrecipients = 1;
	getrusage(RUSAGE_SELF, &before);
	if (engine_run(cfg, &m, &r) < 0 || r.error || strcmp(r.actions, "sign,encrypt") != 0
	    || null == 0 || engine_render(&m, &r, null) < 0)
	    _exit(2);
	getrusage(RUSAGE_SELF, &after);
	kb = after.ru_maxrss - before.ru_maxrss;
	(void) write(fds[1], &kb, sizeof(kb));
	_exit(0);
    }
    close(fds[1]);
    assert_true(pid > 0);
    assert_int_equal(read(fds[0], &kb, sizeof(kb)), sizeof(kb));
    close(fds[0]);
    {
	int     st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    return kb;
}

/* A message far above memory_limit is worked on in spool files: the
 * peak grows by a few MB, not by the message size. */
static void test_large_memory(void **state)
{
    long    kb;

    (void) state;
    kb = child_peak_growth(40, 0);
    print_message("peak RSS growth for a 40 MB message: %ld KB\n", kb);
    assert_true(kb >= 0);
    assert_true(kb < 12 * 1024);
    kb = child_peak_growth(40, 1);
    print_message("peak RSS growth for a 40 MB multipart with an 8bit part: %ld KB\n", kb);
    assert_true(kb >= 0);
    assert_true(kb < 12 * 1024);
}

/* An enveloped body sent as binary (or 8bit) DER, not base64, decrypts:
 * its bytes are not taken for lines and canonicalised. */
static void test_binary_cms(void **state)
{
    char   *to_bob[] = {"bob@example.com"};
    static const char *const cte[] = {"binary", "8bit"};
    struct engine_msg m, back;
    struct engine_result r, rb;
    struct mbuf der, text;
    char   *wire;

    (void) state;
    make_msg(&m, plain_msg, 1, "alice@example.com", to_bob, 1);
    assert_int_equal(engine_run(cfg, &m, &r), 0);
    assert_string_equal(r.actions, "sign,encrypt");
    wire = render(&m, &r);
    mbuf_init(&der, 0);
    assert_int_equal(mime_base64_decode((const unsigned char *) body_of(wire),
					strlen(body_of(wire)), &der), 0);
    /* Line-break bytes inside the DER are what used to break it. */
    assert_non_null(memchr(der.data, '\n', der.len));
    for (int i = 0; i < 2; i++) {
	mbuf_init(&text, 0);
	assert_int_equal(mbuf_printf(&text, "From: alice@example.com\r\nTo: bob@example.com\r\n"
				     "Subject: bin\r\nMIME-Version: 1.0\r\n"
				     "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;"
				     " name=smime.p7m\r\nContent-Transfer-Encoding: %s\r\n\r\n",
				     cte[i]), 0);
	assert_int_equal(mbuf_add(&text, der.data, der.len), 0);
	make_msg_len(&back, (const char *) text.data, text.len, 0, "alice@example.com",
		     to_bob, 1);
	assert_int_equal(engine_run(cfg, &back, &rb), 0);
	assert_int_equal(rb.error, 0);
	assert_int_equal(rb.decrypt, ED_DECRYPTED);
	assert_int_equal(rb.verify, EV_VALID);
	engine_result_free(&rb);
	engine_msg_free(&back);
	mbuf_free(&text);
    }
    mbuf_free(&der);
    free(wire);
    engine_result_free(&r);
    engine_msg_free(&m);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_tls_class),
	cmocka_unit_test(test_roundtrip),
	cmocka_unit_test(test_partial),
	cmocka_unit_test(test_mark_subject),
	cmocka_unit_test(test_encapsulate),
	cmocka_unit_test(test_hostile),
	cmocka_unit_test(test_fidelity),
	cmocka_unit_test(test_chunk_boundary),
	cmocka_unit_test(test_remove_signature),
	cmocka_unit_test(test_large_streamed),
	cmocka_unit_test(test_large_memory),
	cmocka_unit_test(test_binary_cms),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
