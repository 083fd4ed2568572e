/* test_mime - headers, Content-Type parameters, canonical form, encodings,
 * multipart splitting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "mime.h"

#define U(s) ((const unsigned char *) (s))

static void test_headers(void **state)
{
    const char *msg = "From: a@b\r\nSubject: one\r\n  two\r\nX-Empty:\r\n"
	"Content-Type: multipart/signed;\n\tboundary=\"xy z\"; micalg=sha-256\r\n"
	"\r\nbody\r\n";
    struct mime_headers h;
    size_t  off;
    char    buf[64];

    (void) state;
    assert_int_equal(mime_parse_headers(U(msg), strlen(msg), &h, &off), 0);
    assert_int_equal(h.n, 4);
    assert_string_equal(h.v[1].name, "Subject");
    assert_string_equal(h.v[1].value, "one  two");
    assert_string_equal(h.v[2].value, "");
    assert_string_equal(msg + off, "body\r\n");
    mime_content_type(mime_header_get(&h, "content-type"), buf, sizeof(buf));
    assert_string_equal(buf, "multipart/signed");
    assert_int_equal(mime_param(mime_header_get(&h, "Content-Type"), "BOUNDARY", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "xy z");
    assert_int_equal(mime_param(mime_header_get(&h, "Content-Type"), "micalg", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "sha-256");
    assert_int_equal(mime_param(mime_header_get(&h, "Content-Type"), "protocol", buf, sizeof(buf)), -1);
    /* too long for the buffer */
    assert_int_equal(mime_param(mime_header_get(&h, "Content-Type"), "boundary", buf, 3), -1);
    assert_true(mime_is_content_header("content-transfer-encoding"));
    assert_false(mime_is_content_header("Subject"));
    mime_headers_free(&h);

    /* No blank line, a non-header line starts the body. */
    assert_int_equal(mime_parse_headers(U("A: 1\nnot a header\n"), 18, &h, &off), 0);
    assert_int_equal(h.n, 1);
    assert_int_equal(off, 5);
    mime_headers_free(&h);
    mime_content_type(0, buf, sizeof(buf));
    assert_string_equal(buf, "text/plain");
    mime_content_type("garbage", buf, sizeof(buf));
    assert_string_equal(buf, "text/plain");
    mime_content_type(" Application/PKCS7-MIME ; smime-type=x", buf, sizeof(buf));
    assert_string_equal(buf, "application/pkcs7-mime");
}

/* Thousands of fields parse, in order, and the body is found. */
static void test_many_headers(void **state)
{
    struct mbuf b;
    struct mime_headers h;
    size_t  off;
    char    name[32];

    (void) state;
    mbuf_init(&b, 0);
    for (int i = 0; i < 5000; i++)
	assert_int_equal(mbuf_printf(&b, "X-H%d: v%d\r\n", i, i), 0);
    assert_int_equal(mbuf_addstr(&b, "\r\nbody\r\n"), 0);
    assert_int_equal(mime_parse_headers(b.data, b.len, &h, &off), 0);
    assert_int_equal(h.n, 5000);
    for (int i = 0; i < 5000; i += 499) {
	snprintf(name, sizeof(name), "X-H%d", i);
	assert_string_equal(h.v[i].name, name);
    }
    assert_memory_equal(b.data + off, "body\r\n", 6);
    mime_headers_free(&h);
    mbuf_free(&b);
}

static void test_crlf(void **state)
{
    struct mbuf b;

    (void) state;
    mbuf_init(&b, 0);
    assert_int_equal(mime_to_crlf(U("a\nb\r\nc\rd"), 8, &b), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "a\r\nb\r\nc\r\nd", 10);
    /* Already canonical: the same buffer is kept. */
    {
	unsigned char *same = b.data;

	assert_int_equal(mime_canonicalize(&b), 0);
	assert_ptr_equal(b.data, same);
    }
    mbuf_free(&b);
    mbuf_init(&b, 0);
    assert_int_equal(mbuf_add(&b, "x\ny\r", 4), 0);
    assert_int_equal(mime_canonicalize(&b), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "x\r\ny\r\n", 6);
    mbuf_free(&b);
}

static void test_base64(void **state)
{
    struct mbuf e, d;
    unsigned char data[200];

    (void) state;
    for (int i = 0; i < 200; i++)
	data[i] = (unsigned char) (i * 13 + 1);
    for (size_t n = 0; n < 60; n++) {
	mbuf_init(&e, 0);
	mbuf_init(&d, 0);
	assert_int_equal(mime_base64_encode(data, n * 3 + n % 3, &e), 0);
	assert_int_equal(mime_base64_decode(e.data, e.len, &d), 0);
	assert_int_equal(d.len, n * 3 + n % 3);
	if (d.len)
	    assert_memory_equal(d.data, data, d.len);
	mbuf_free(&e);
	mbuf_free(&d);
    }
    mbuf_init(&e, 0);
    assert_int_equal(mime_base64_encode(data, 200, &e), 0);
    /* 76-character lines */
    assert_memory_equal(e.data + 76, "\r\n", 2);
    mbuf_free(&e);
    mbuf_init(&d, 0);
    assert_int_equal(mime_base64_decode(U("aGVsbG8="), 8, &d), 0);
    assert_memory_equal(d.data, "hello", 5);
    mbuf_free(&d);
    mbuf_init(&d, 0);
    assert_int_equal(mime_base64_decode(U("aGV*bG8="), 8, &d), -1);
    mbuf_free(&d);
    mbuf_init(&d, 0);
    assert_int_equal(mime_base64_decode(U("aGVsb"), 5, &d), -1);
    mbuf_free(&d);
}

/* mime_base64_encode against OpenSSL's encoder cut into 76-column CRLF
 * lines, for every length around the line and chunk boundaries, and
 * decoded back. */
static void test_base64_reference(void **state)
{
    static unsigned char data[12000];
    static unsigned char ref[20000], want[20000];
    size_t  lens[420], nl = 0;

    (void) state;
    for (size_t i = 0; i < sizeof(data); i++)
	data[i] = (unsigned char) (i * 131 + i / 7);
    for (size_t n = 0; n < 400; n++)
	lens[nl++] = n;
    lens[nl++] = 57 * 64 - 1;
    lens[nl++] = 57 * 64;
    lens[nl++] = 57 * 64 + 1;
    lens[nl++] = sizeof(data);
    for (size_t k = 0; k < nl; k++) {
	size_t  n = lens[k], rl = (size_t) EVP_EncodeBlock(ref, data, (int) n), wl = 0;
	struct mbuf e;

	for (size_t o = 0; o < rl; o += 76) {
	    size_t  m = rl - o < 76 ? rl - o : 76;

	    memcpy(want + wl, ref + o, m);
	    memcpy(want + wl + m, "\r\n", 2);
	    wl += m + 2;
	}
	mbuf_init(&e, 0);
	assert_int_equal(mime_base64_encode(data, n, &e), 0);
	assert_int_equal(e.len, wl);
	if (wl)
	    assert_memory_equal(e.data, want, wl);
	{
	    struct mbuf d;

	    mbuf_init(&d, 0);
	    assert_int_equal(mime_base64_decode(e.data, e.len, &d), 0);
	    assert_int_equal(d.len, n);
	    if (n)
		assert_memory_equal(d.data, data, n);
	    mbuf_free(&d);
	}
	mbuf_free(&e);
    }
}

static void test_mbuf_max(void **state)
{
    struct mbuf b;

    (void) state;
    mbuf_init(&b, 10);
    assert_int_equal(mbuf_add(&b, "0123456789", 10), 0);
    assert_int_equal(mbuf_add(&b, "x", 1), -1);
    assert_int_equal(mbuf_terminate(&b), 0);
    assert_string_equal((char *) b.data, "0123456789");
    mbuf_free(&b);
    mbuf_init(&b, 0);
    assert_int_equal(mbuf_addstr(&b, "middle"), 0);
    assert_int_equal(mbuf_prepend(&b, "<<", 2), 0);
    assert_int_equal(mbuf_addstr(&b, ">>"), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "<<middle>>", 10);
    mbuf_free(&b);
    mbuf_init(&b, 0);
    assert_int_equal(mbuf_printf(&b, "%s-%d", "a", 42), 0);
    assert_int_equal(mbuf_terminate(&b), 0);
    assert_string_equal((char *) b.data, "a-42");
    mbuf_free(&b);
}

static void test_qp(void **state)
{
    struct mbuf b;
    char    longline[300];

    (void) state;
    mbuf_init(&b, 0);
    assert_int_equal(mime_qp_encode(U("caf\xc3\xa9 = ok \r\nnext"), 17, &b), 0);
    assert_int_equal(mbuf_terminate(&b), 0);
    assert_string_equal((char *) b.data, "caf=C3=A9 =3D ok=20\r\nnext");
    mbuf_free(&b);
    memset(longline, 'a', sizeof(longline));
    mbuf_init(&b, 0);
    assert_int_equal(mime_qp_encode(U(longline), sizeof(longline), &b), 0);
    assert_false(mime_needs_encoding(b.data, b.len));
    assert_memory_equal(b.data + 75, "=\r\n", 3);
    mbuf_free(&b);
    assert_true(mime_needs_encoding(U("caf\xc3\xa9"), 5));
    assert_false(mime_needs_encoding(U("plain\r\ntext"), 11));
}

/* 8bit parts inside a multipart get encoded; 7bit ones stay as they are. */
static void test_encode_7bit(void **state)
{
    const char *ent = "Content-Type: multipart/mixed; boundary=\"bb\"\r\n\r\n"
	"--bb\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
	"caf\xc3\xa9\r\n"
	"--bb\r\nContent-Type: text/plain\r\n\r\nplain ascii\r\n"
	"--bb\r\nContent-Type: application/octet-stream\r\n\r\n\x01\xff\x80\r\n"
	"--bb--\r\n";
    struct mbuf out, dec;
    struct mime_headers h;
    struct mime_part parts[4];
    size_t  off;

    (void) state;
    mbuf_init(&out, 0);
    assert_int_equal(mime_encode_7bit((const unsigned char *) ent, strlen(ent), &out), 0);
    assert_false(mime_needs_encoding(out.data, out.len));
    assert_int_equal(mime_parse_headers(out.data, out.len, &h, &off), 0);
    assert_int_equal(mime_multipart_split(out.data + off, out.len - off, "bb", parts, 4), 3);
    assert_non_null(memmem(out.data + off + parts[0].off, parts[0].len,
			   "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9", 55));
    assert_int_equal(parts[1].len, strlen("Content-Type: text/plain\r\n\r\nplain ascii"));
    assert_non_null(memmem(out.data + off + parts[2].off, parts[2].len,
			   "Content-Transfer-Encoding: base64\r\n\r\nAf+A", 39));
    mbuf_init(&dec, 0);
    assert_int_equal(mime_base64_decode((const unsigned char *) "Af+ADQo=", 8, &dec), 0);
    assert_memory_equal(dec.data, "\x01\xff\x80\r\n", 5);
    mbuf_free(&dec);
    mime_headers_free(&h);
    mbuf_free(&out);
    /* Nothing to do: an exact copy. */
    mbuf_init(&out, 0);
    assert_int_equal(mime_encode_7bit((const unsigned char *) "Content-Type: text/plain\r\n\r\nok\r\n", 32, &out), 0);
    assert_int_equal(out.len, 32);
    mbuf_free(&out);
}

static void test_multipart(void **state)
{
    const char *body = "preamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	"--b1 \r\n\r\nsecond\r\n--b1--\r\nepilogue\r\n";
    struct mime_part p[4];

    (void) state;
    assert_int_equal(mime_multipart_split(U(body), strlen(body), "b1", p, 4), 2);
    assert_int_equal(p[0].len, strlen("Content-Type: text/plain\r\n\r\nhello"));
    assert_memory_equal(body + p[0].off, "Content-Type: text/plain\r\n\r\nhello", p[0].len);
    assert_memory_equal(body + p[1].off, "\r\nsecond", p[1].len);
    /* no closing delimiter */
    assert_int_equal(mime_multipart_split(U("--b1\r\nx\r\n"), 9, "b1", p, 4), -1);
    /* a different boundary that starts the same is not a delimiter */
    assert_int_equal(mime_multipart_split(U("--b12\r\nx\r\n--b12--\r\n"), 19, "b1", p, 4), -1);
}

static void test_address(void **state)
{
    char    buf[64];

    (void) state;
    assert_int_equal(mime_first_address("Alice <Alice@Example.COM>", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "alice@example.com");
    assert_int_equal(mime_first_address(" bob@x.org (Bob)", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "bob@x.org");
    assert_int_equal(mime_first_address("\"Eve <eve@evil.com>\" <alice@example.com>", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "alice@example.com");
    assert_int_equal(mime_first_address("undisclosed", buf, sizeof(buf)), -1);
    assert_int_equal(mime_first_address("<unterminated@x", buf, sizeof(buf)), -1);
    mime_make_boundary(buf, sizeof(buf));
    assert_true(strlen(buf) > 20);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_headers),
	cmocka_unit_test(test_many_headers),
	cmocka_unit_test(test_crlf),
	cmocka_unit_test(test_base64),
	cmocka_unit_test(test_base64_reference),
	cmocka_unit_test(test_mbuf_max),
	cmocka_unit_test(test_qp),
	cmocka_unit_test(test_encode_7bit),
	cmocka_unit_test(test_multipart),
	cmocka_unit_test(test_address),
    };

    return cmocka_run_group_tests(tests, 0, 0);
}
