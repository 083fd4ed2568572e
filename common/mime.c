/*
 * mime - header blocks, Content-Type parameters, canonical form and
 * transfer encodings; see mime.h.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "mime.h"


void    mbuf_init(struct mbuf *b, size_t max)
{
    b->data = 0;
    b->len = b->cap = 0;
    b->max = max;
}

static int mbuf_reserve(struct mbuf *b, size_t more)
{
    size_t  need, cap;
    unsigned char *p;

    if (more > SIZE_MAX - b->len - 1)
	return -1;
    need = b->len + more + 1;		/* room for mbuf_terminate */
    if (b->max && need > b->max + 1)
	return -1;
    if (need <= b->cap)
	return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
	if (cap > SIZE_MAX / 2)
	    return -1;
	cap *= 2;
    }
    if ((p = realloc(b->data, cap)) == 0)
	return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int     mbuf_add(struct mbuf *b, const void *data, size_t len)
{
    if (len == 0)
	return 0;
    if (mbuf_reserve(b, len) < 0)
	return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int     mbuf_prepend(struct mbuf *b, const void *data, size_t len)
{
    if (len == 0)
	return 0;
    if (mbuf_reserve(b, len) < 0)
	return -1;
    memmove(b->data + len, b->data, b->len);
    memcpy(b->data, data, len);
    b->len += len;
    return 0;
}

int     mbuf_addstr(struct mbuf *b, const char *s)
{
    return mbuf_add(b, s, strlen(s));
}

int     mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(0, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || mbuf_reserve(b, (size_t) n) < 0)
	return -1;
    va_start(ap, fmt);
    vsnprintf((char *) b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
    return 0;
}

int     mbuf_terminate(struct mbuf *b)
{
    if (mbuf_reserve(b, 0) < 0)
	return -1;
    b->data[b->len] = 0;
    return 0;
}

void    mbuf_free(struct mbuf *b)
{
    if (b->data) {
	explicit_bzero(b->data, b->cap);
	free(b->data);
    }
    b->data = 0;
    b->len = b->cap = 0;
}

/* Length of the line at P (up to END) without its ending; *NEXT gets the
 * start of the next line. */
static size_t line_len(const unsigned char *p, const unsigned char *end,
		       const unsigned char **next)
{
    const unsigned char *e = memchr(p, '\n', (size_t) (end - p));
    size_t  n;

    if (e == 0) {
	*next = end;
	return (size_t) (end - p);
    }
    *next = e + 1;
    n = (size_t) (e - p);
    if (n > 0 && p[n - 1] == '\r')
	n--;
    return n;
}

/* Add one raw field (possibly folded) to OUT, unfolding it. */
static int add_field(struct mime_headers *out, const unsigned char *p, size_t n)
{
    const unsigned char *colon = memchr(p, ':', n);
    struct mime_header *v;
    size_t  nlen, i, o;
    char   *name, *value;

    if (colon == 0 || colon == p)
	return -1;
    nlen = (size_t) (colon - p);
    while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
	nlen--;
    if ((name = strndup((const char *) p, nlen)) == 0)
	return -1;
    if ((value = malloc(n - nlen)) == 0) {
	free(name);
	return -1;
    }
    i = (size_t) (colon - p) + 1;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
	i++;
    for (o = 0; i < n; i++) {
	if (p[i] == '\r' || p[i] == '\n' || p[i] == 0)
	    continue;
	value[o++] = (char) p[i];
    }
    value[o] = 0;
    /* Grow by doubling: a block of thousands of fields stays linear. */
    if (out->n == 0 || (out->n >= 8 && (out->n & (out->n - 1)) == 0)) {
	if ((v = realloc(out->v, (out->n ? out->n * 2 : 8) * sizeof(*v))) == 0) {
	    free(name);
	    free(value);
	    return -1;
	}
	out->v = v;
    }
    v = out->v;
    v[out->n].name = name;
    v[out->n].value = value;
    out->n++;
    return 0;
}

int     mime_is_field_start(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
	if (p[i] == ':')
	    return i > 0;
	if (p[i] <= ' ' || p[i] >= 0x7f)
	    return 0;
    }
    return 0;
}

int     mime_parse_headers(const unsigned char *data, size_t len,
			   struct mime_headers *out, size_t *body_off)
{
    const unsigned char *p = data, *end = data ? data + len : data, *next;
    const unsigned char *field = 0;
    size_t  n;

    out->v = 0;
    out->n = 0;
    *body_off = 0;
    if (data == 0 || len == 0)
	return 0;
    while (p < end) {
	n = line_len(p, end, &next);
	if (n == 0) {			/* the empty line: body follows */
	    if (field && add_field(out, field, (size_t) (p - field)) < 0)
		goto fail;
	    *body_off = (size_t) (next - data);
	    return 0;
	}
	if ((*p == ' ' || *p == '\t') && field) {
	    p = next;			/* continuation */
	    continue;
	}
	if (field && add_field(out, field, (size_t) (p - field)) < 0)
	    goto fail;
	field = 0;
	if (!mime_is_field_start(p, n)) {	/* not a header: body starts here */
	    *body_off = (size_t) (p - data);
	    return 0;
	}
	field = p;
	p = next;
    }
    if (field && add_field(out, field, (size_t) (p - field)) < 0)
	goto fail;
    *body_off = len;
    return 0;

fail:
    mime_headers_free(out);
    return -1;
}

void    mime_headers_free(struct mime_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
	free(h->v[i].name);
	free(h->v[i].value);
    }
    free(h->v);
    h->v = 0;
    h->n = 0;
}

const char *mime_header_get(const struct mime_headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
	if (strcasecmp(h->v[i].name, name) == 0)
	    return h->v[i].value;
    return 0;
}

int     mime_is_content_header(const char *name)
{
    return strncasecmp(name, "Content-", 8) == 0;
}

/* Skip white space and RFC 5322 comments. */
static const char *skip_cfws(const char *p)
{
    for (;;) {
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
	    p++;
	if (*p != '(')
	    return p;
	for (int depth = 0; *p; p++) {
	    if (*p == '\\' && p[1])
		p++;
	    else if (*p == '(')
		depth++;
	    else if (*p == ')' && --depth == 0) {
		p++;
		break;
	    }
	}
    }
}

static int is_token_char(int c)
{
    return c > ' ' && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == 0;
}

void    mime_content_type(const char *value, char *out, size_t outlen)
{
    const char *p;
    size_t  o = 0;
    int     slash = 0;

    snprintf(out, outlen, "text/plain");
    if (value == 0)
	return;
    p = skip_cfws(value);
    for (; *p && (is_token_char(*p) || *p == '/'); p++) {
	if (o + 1 >= outlen)
	    return;
	if (*p == '/')
	    slash++;
	out[o++] = (char) tolower((unsigned char) *p);
    }
    if (slash != 1 || o < 3 || out[0] == '/' || out[o - 1] == '/') {
	snprintf(out, outlen, "text/plain");
	return;
    }
    out[o] = 0;
}

int     mime_param(const char *value, const char *param, char *out, size_t outlen)
{
    const char *p = value;
    size_t  plen = strlen(param);

    if (value == 0 || outlen == 0)
	return -1;
    /* Skip the type, then look at each ";name=value". */
    while ((p = strchr(p, ';')) != 0) {
	const char *name;
	size_t  nlen = 0, o = 0;

	p = skip_cfws(p + 1);
	name = p;
	while (is_token_char(*p))
	    p++, nlen++;
	p = skip_cfws(p);
	if (*p != '=')
	    continue;
	p = skip_cfws(p + 1);
	if (*p == '"') {
	    for (p++; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
		    p++;
		if (o + 1 >= outlen)
		    return -1;
		out[o++] = *p;
	    }
	    if (*p == '"')
		p++;
	} else {
	    for (; is_token_char(*p); p++) {
		if (o + 1 >= outlen)
		    return -1;
		out[o++] = *p;
	    }
	}
	out[o] = 0;
	if (nlen == plen && strncasecmp(name, param, plen) == 0)
	    return 0;
    }
    return -1;
}

int     mime_to_crlf(const unsigned char *in, size_t len, struct mbuf *out)
{
    size_t  start = 0;

    for (size_t i = 0; i < len; i++) {
	if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n') {
	    i++;
	    continue;
	}
	if (in[i] == '\n' || in[i] == '\r') {
	    if (mbuf_add(out, in + start, i - start) < 0
		|| mbuf_add(out, "\r\n", 2) < 0)
		return -1;
	    start = i + 1;
	}
    }
    return mbuf_add(out, in + start, len - start);
}

int     mime_is_canonical(const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len, *q;

    /* memchr() keeps this fast on large texts. */
    for (q = p; q < end && (q = memchr(q, '\n', (size_t) (end - q))) != 0; q++)
	if (q == p || q[-1] != '\r')
	    return 0;
    for (q = p; q < end && (q = memchr(q, '\r', (size_t) (end - q))) != 0; q++)
	if (q + 1 >= end || q[1] != '\n')
	    return 0;
    return 1;
}

int     mime_canonicalize(struct mbuf *b)
{
    struct mbuf c;

    if (b->len == 0 || mime_is_canonical(b->data, b->len))
	return 0;
    mbuf_init(&c, b->max);
    if (mime_to_crlf(b->data, b->len, &c) < 0) {
	mbuf_free(&c);
	return -1;
    }
    mbuf_free(b);
    *b = c;
    return 0;
}

static const char b64[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t  mime_base64_lines(const unsigned char *in, size_t len, char *out)
{
    char   *q = out;
    size_t  full = len / 57 * 57;

    /* Whole lines without a test per byte, then what is left. */
    for (size_t i = 0; i < full; i += 57) {
	for (size_t j = i; j < i + 57; j += 3, q += 4) {
	    uint32_t v = (uint32_t) in[j] << 16 | (uint32_t) in[j + 1] << 8 | in[j + 2];

	    q[0] = b64[v >> 18];
	    q[1] = b64[(v >> 12) & 63];
	    q[2] = b64[(v >> 6) & 63];
	    q[3] = b64[v & 63];
	}
	*q++ = '\r';
	*q++ = '\n';
    }
    in += full;
    len -= full;
    for (size_t i = 0; i < len; i += 3) {
	uint32_t v = (uint32_t) in[i] << 16;

	if (i + 1 < len)
	    v |= (uint32_t) in[i + 1] << 8;
	if (i + 2 < len)
	    v |= in[i + 2];
	q[0] = b64[(v >> 18) & 63];
	q[1] = b64[(v >> 12) & 63];
	q[2] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
	q[3] = i + 2 < len ? b64[v & 63] : '=';
	q += 4;
	/* A line is 57 input bytes. */
	if ((i + 3) % 57 == 0 || i + 3 >= len) {
	    q[0] = '\r';
	    q[1] = '\n';
	    q += 2;
	}
    }
    return (size_t) (q - out);
}

int     mime_base64_encode(const unsigned char *in, size_t len, struct mbuf *out)
{
    char    text[78 * 64];

    /* 64 lines at a time: one mbuf_add per 3.6 KB of input. */
    for (size_t i = 0; i < len; i += 57 * 64) {
	size_t  n = len - i < 57 * 64 ? len - i : 57 * 64;

	if (mbuf_add(out, text, mime_base64_lines(in + i, n, text)) < 0)
	    return -1;
    }
    return 0;
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z')
	return c - 'A';
    if (c >= 'a' && c <= 'z')
	return c - 'a' + 26;
    if (c >= '0' && c <= '9')
	return c - '0' + 52;
    if (c == '+')
	return 62;
    if (c == '/')
	return 63;
    return -1;
}

int     mime_base64_decode(const unsigned char *in, size_t len, struct mbuf *out)
{
    unsigned char quad[4], bytes[3 * 1024];
    size_t  nb = 0;
    int     q = 0, pad = 0;

    for (size_t i = 0; i < len; i++) {
	int     c = in[i], v;

	if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
	    continue;
	if (c == '=') {
	    pad++;
	    v = 0;
	} else if (pad || (v = b64_value(c)) < 0) {
	    return -1;
	}
	quad[q++] = (unsigned char) v;
	if (q == 4) {
	    if (pad > 2)
		return -1;
	    /* Decoded bytes are added a few KB at a time, not 3 by 3. */
	    if (nb + 3 > sizeof(bytes)) {
		if (mbuf_add(out, bytes, nb) < 0)
		    return -1;
		nb = 0;
	    }
	    bytes[nb] = (unsigned char) (quad[0] << 2 | quad[1] >> 4);
	    bytes[nb + 1] = (unsigned char) (quad[1] << 4 | quad[2] >> 2);
	    bytes[nb + 2] = (unsigned char) (quad[2] << 6 | quad[3]);
	    nb += (size_t) (3 - pad);
	    q = 0;
	    if (pad)
		break;			/* anything after the padding is ignored */
	}
    }
    if (mbuf_add(out, bytes, nb) < 0)
	return -1;
    return q == 0 ? 0 : -1;
}

int     mime_qp_encode(const unsigned char *in, size_t len, struct mbuf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char    line[80];
    size_t  o = 0;

    for (size_t i = 0; i < len; i++) {
	int     c = in[i];
	int     eol = c == '\r' && i + 1 < len && in[i + 1] == '\n';
	char    enc[3];
	size_t  n;

	if (eol) {
	    /* Trailing white space would be lost in transport: encode it. */
	    if (o > 0 && (line[o - 1] == ' ' || line[o - 1] == '\t')) {
		int     ws = line[o - 1];

		if (o + 3 > 76 + 3)
		    return -1;
		o--;
		line[o++] = '=';
		line[o++] = hex[ws >> 4];
		line[o++] = hex[ws & 15];
	    }
	    if (mbuf_add(out, line, o) < 0 || mbuf_add(out, "\r\n", 2) < 0)
		return -1;
	    o = 0;
	    i++;
	    continue;
	}
	if ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t') {
	    enc[0] = (char) c;
	    n = 1;
	} else {
	    enc[0] = '=';
	    enc[1] = hex[c >> 4];
	    enc[2] = hex[c & 15];
	    n = 3;
	}
	/* A "." alone at a line start is fine in a body; "From " is not
	 * special either since we always sign the encoded form. */
	if (o + n > 75) {
	    line[o++] = '=';
	    if (mbuf_add(out, line, o) < 0 || mbuf_add(out, "\r\n", 2) < 0)
		return -1;
	    o = 0;
	}
	memcpy(line + o, enc, n);
	o += n;
    }
    if (o > 0 && (line[o - 1] == ' ' || line[o - 1] == '\t')) {
	if (mbuf_add(out, line, o) < 0 || mbuf_add(out, "=\r\n", 3) < 0)
	    return -1;
	return 0;
    }
    return mbuf_add(out, line, o);
}

int     mime_needs_encoding(const unsigned char *in, size_t len)
{
    size_t  col = 0;

    for (size_t i = 0; i < len; i++) {
	if (in[i] == '\n') {
	    col = 0;
	    continue;
	}
	if (in[i] >= 0x80 || in[i] == 0)
	    return 1;
	if (++col > 998)
	    return 1;
    }
    return 0;
}

/* Is the line at BODY[I..] a delimiter "--BOUNDARY" (or the closing one)?
 * Returns 1 delimiter, 2 closing delimiter, 0 neither. */
static int is_delimiter(const unsigned char *p, size_t n, const char *boundary,
			size_t blen)
{
    if (n < blen + 2 || p[0] != '-' || p[1] != '-'
	|| memcmp(p + 2, boundary, blen) != 0)
	return 0;
    p += blen + 2;
    n -= blen + 2;
    if (n >= 2 && p[0] == '-' && p[1] == '-')
	return 2;
    /* Only transport padding may follow. */
    for (size_t i = 0; i < n; i++)
	if (p[i] != ' ' && p[i] != '\t')
	    return 0;
    return 1;
}

int     mime_delimiter(const unsigned char *line, size_t n, const char *boundary)
{
    size_t  blen = strlen(boundary);

    if (blen == 0 || blen > 70)
	return 0;
    return is_delimiter(line, n, boundary, blen);
}

int     mime_multipart_split(const unsigned char *body, size_t len,
			     const char *boundary, struct mime_part *parts,
			     int maxparts)
{
    const unsigned char *p = body, *end = body + len, *next;
    size_t  blen = strlen(boundary);
    int     nparts = 0, in_part = 0;
    size_t  start = 0;

    if (blen == 0 || blen > 70)
	return -1;
    while (p < end) {
	size_t  n = line_len(p, end, &next);
	int     d = is_delimiter(p, n, boundary, blen);

	if (d) {
	    if (in_part && nparts < maxparts) {
		size_t  stop = (size_t) (p - body);

		/* The line break before the delimiter belongs to it. */
		if (stop > start && body[stop - 1] == '\n')
		    stop--;
		if (stop > start && body[stop - 1] == '\r')
		    stop--;
		parts[nparts].off = start;
		parts[nparts].len = stop - start;
		nparts++;
	    }
	    if (d == 2)
		return in_part || nparts ? nparts : -1;
	    in_part = 1;
	    start = (size_t) (next - body);
	}
	p = next;
    }
    return -1;
}

/* The first '<' outside a quoted display name. */
static const char *unquoted_lt(const char *p)
{
    int     quoted = 0;

    for (; *p; p++) {
	if (*p == '\\' && p[1])
	    p++;
	else if (*p == '"')
	    quoted = !quoted;
	else if (*p == '<' && !quoted)
	    return p;
    }
    return 0;
}

int     mime_first_address(const char *value, char *out, size_t outlen)
{
    const char *lt, *start, *stop;
    size_t  n;

    if (value == 0)
	return -1;
    if ((lt = unquoted_lt(value)) != 0) {
	start = lt + 1;
	if ((stop = strchr(start, '>')) == 0)
	    return -1;
    } else {
	start = skip_cfws(value);
	for (stop = start; *stop && *stop != ',' && *stop != ' '
	     && *stop != '\t' && *stop != '('; stop++)
	     /* void */ ;
    }
    n = (size_t) (stop - start);
    if (n == 0 || n >= outlen)
	return -1;
    for (size_t i = 0; i < n; i++)
	out[i] = (char) tolower((unsigned char) start[i]);
    out[n] = 0;
    return strchr(out, '@') ? 0 : -1;
}

void    mime_make_boundary(char *out, size_t outlen)
{
    unsigned char rnd[12];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
	memset(rnd, 0x5a, sizeof(rnd));
    snprintf(out, outlen, "----=_cf_%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x",
	     rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
	     rnd[8], rnd[9], rnd[10], rnd[11]);
}


static int encode_entity(const unsigned char *ent, size_t len, struct mbuf *out, int depth);

/* A leaf: the header fields without Content-Transfer-Encoding, then the
 * body as quoted-printable (text) or base64. */
static int encode_leaf(const struct mime_headers *h, const char *type,
		       const unsigned char *body, size_t blen, struct mbuf *out)
{
    int     text = strncmp(type, "text/", 5) == 0;

    for (size_t i = 0; i < h->n; i++)
	if (strcasecmp(h->v[i].name, "Content-Transfer-Encoding") != 0
	    && mbuf_printf(out, "%s: %s\r\n", h->v[i].name, h->v[i].value) < 0)
	    return -1;
    if (mbuf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
		    text ? "quoted-printable" : "base64") < 0)
	return -1;
    return text ? mime_qp_encode(body, blen, out) : mime_base64_encode(body, blen, out);
}

/* A multipart: the header block as it is, then each part encoded. */
static int encode_multipart(const unsigned char *ent, size_t off, size_t len,
			    const char *boundary, struct mbuf *out, int depth)
{
    struct mime_part *parts = calloc(MIME_MAX_PARTS, sizeof(*parts));
    int     n, ret = -1;

    if (parts == 0)
	return -1;
    n = mime_multipart_split(ent + off, len - off, boundary, parts, MIME_MAX_PARTS);
    if (n <= 0 || n == MIME_MAX_PARTS) {
	ret = mbuf_add(out, ent, len);	/* not ours to repair */
	goto done;
    }
    if (mbuf_add(out, ent, off) < 0
	|| mbuf_printf(out, "This is a multi-part message in MIME format.\r\n") < 0)
	goto done;
    for (int i = 0; i < n; i++)
	if (mbuf_printf(out, "\r\n--%s\r\n", boundary) < 0
	    || encode_entity(ent + off + parts[i].off, parts[i].len, out, depth + 1) < 0)
	    goto done;
    ret = mbuf_printf(out, "\r\n--%s--\r\n", boundary);

done:
    free(parts);
    return ret;
}

static int encode_entity(const unsigned char *ent, size_t len, struct mbuf *out, int depth)
{
    struct mime_headers h;
    size_t  off;
    char    type[128], boundary[128];
    const char *ct, *cte;
    int     ret;

    if (!mime_needs_encoding(ent, len) || depth > MIME_MAX_DEPTH)
	return mbuf_add(out, ent, len);
    if (mime_parse_headers(ent, len, &h, &off) < 0)
	return -1;
    ct = mime_header_get(&h, "Content-Type");
    cte = mime_header_get(&h, "Content-Transfer-Encoding");
    mime_content_type(ct, type, sizeof(type));
    if (strncmp(type, "multipart/", 10) == 0
	&& mime_param(ct, "boundary", boundary, sizeof(boundary)) == 0)
	ret = encode_multipart(ent, off, len, boundary, out, depth);
    else if (strncmp(type, "message/", 8) == 0 || strncmp(type, "multipart/", 10) == 0
	     || (cte && (strncasecmp(cte, "base64", 6) == 0
			 || strncasecmp(cte, "quoted-printable", 16) == 0)))
	ret = mbuf_add(out, ent, len);	/* cannot or need not be encoded */
    else
	ret = encode_leaf(&h, type, ent + off, len - off, out);
    mime_headers_free(&h);
    return ret;
}

int     mime_encode_7bit(const unsigned char *ent, size_t len, struct mbuf *out)
{
    return encode_entity(ent, len, out, 0);
}
