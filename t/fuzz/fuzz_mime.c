/*
 * fuzz_mime - libFuzzer target for the message and MIME parsers: the input
 * is a whole message as it would come from outside.  It goes through
 * engine_msg_parse() (header block / body split, via a spool that spills
 * to a file past 4 KB so both spool paths run), then the mime.h helpers on
 * what came out: header parsing, Content-Type type and parameters,
 * multipart splitting with the message's own boundary (one level down as
 * well), base64, CRLF canonical form and the From address.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "mime.h"
#include "spool.h"

#define MAXPARTS 64

int     LLVMFuzzerInitialize(int *argc, char ***argv);
int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int     LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    log_init("fuzz_mime", 0);
    return 0;
}

/* Walk one multipart level: split BODY with the boundary of CTYPE, and
 * parse each part's own header block. */
static void walk(const unsigned char *body, size_t len, const char *ctype, int depth)
{
    char    type[128], boundary[256];
    struct mime_part parts[MAXPARTS];
    int     n;

    mime_content_type(ctype, type, sizeof(type));
    if (strncmp(type, "multipart/", 10) != 0 || depth > 2)
	return;
    if (mime_param(ctype, "boundary", boundary, sizeof(boundary)) < 0)
	return;
    n = mime_multipart_split(body, len, boundary, parts, MAXPARTS);
    for (int i = 0; i < n; i++) {
	struct mime_headers h;
	size_t  off = 0;

	if (parts[i].off > len || parts[i].len > len - parts[i].off)
	    abort();			/* a part outside the body: a bug */
	memset(&h, 0, sizeof(h));
	if (mime_parse_headers(body + parts[i].off, parts[i].len, &h, &off) == 0) {
	    const char *ct = mime_header_get(&h, "Content-Type");

	    if (off > parts[i].len)
		abort();
	    if (ct)
		walk(body + parts[i].off + off, parts[i].len - off, ct, depth + 1);
	}
	mime_headers_free(&h);
    }
}

static void helpers(const unsigned char *data, size_t size)
{
    struct mime_headers h;
    struct mbuf b;
    size_t  off = 0;
    char    out[320];

    memset(&h, 0, sizeof(h));
    if (mime_parse_headers(data, size, &h, &off) == 0) {
	const char *ct = mime_header_get(&h, "Content-Type");
	const char *from = mime_header_get(&h, "From");

	if (off > size)
	    abort();
	for (size_t i = 0; i < h.n; i++) {
	    (void) mime_is_content_header(h.v[i].name);
	    mime_content_type(h.v[i].value, out, sizeof(out));
	    (void) mime_param(h.v[i].value, "charset", out, sizeof(out));
	    (void) mime_param(h.v[i].value, "name", out, sizeof(out));
	}
	if (from)
	    (void) mime_first_address(from, out, sizeof(out));
	if (ct)
	    walk(data + off, size - off, ct, 0);
    }
    mime_headers_free(&h);

    mbuf_init(&b, 1 << 20);
    (void) mime_base64_decode(data, size, &b);
    mbuf_free(&b);
    mbuf_init(&b, 1 << 20);
    if (mime_to_crlf(data, size, &b) == 0)
	(void) mime_needs_encoding(b.data, b.len);
    mbuf_free(&b);
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spool *src = spool_new(4096, "/tmp");
    struct engine_msg msg;

    helpers(data, size);
    if (src == 0)
	return 0;
    memset(&msg, 0, sizeof(msg));
    if (spool_write(src, data, size) == 0
	&& engine_msg_parse(src, 4096, "/tmp", &msg) == 0) {
	uint64_t total = spool_size(msg.body);

	for (size_t i = 0; i < msg.nheaders; i++)
	    if (msg.headers[i].name == 0 || msg.headers[i].value == 0)
		abort();
	if (total > size)
	    abort();			/* the body cannot grow */
	engine_msg_free(&msg);
    }
    spool_free(src);
    return 0;
}
