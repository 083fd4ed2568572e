/*
 * engine - one message through the S/MIME rule tables, the policies and
 * the outbound TLS class; see engine.h.
 *
 * The work happens on the message's MIME entity (Content-* fields + body,
 * canonical CRLF) held in memory: sign, encrypt, decrypt and verify each
 * turn one entity into the next.  When the entity changed, the result is
 * "delete the old Content-* fields, add the new ones" plus a new body.
 *
 * An outbound message larger than milter.memory_limit is never held
 * whole: each entity is its header block in memory and its body in a
 * spool (a 0600 file), canonicalised and transfer-encoded piece by piece,
 * and OpenSSL reads the content from the spool while signing and
 * encrypting.  The body is read only when a rule has work for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "addr.h"
#include "certstore.h"
#include "config.h"
#include "engine.h"
#include "log.h"
#include "mime.h"
#include "rules.h"
#include "smime.h"
#include "spool.h"

/* Hard limits on outside data. */
#define ENGINE_MAX_HEADER_BYTES	(4u * 1024 * 1024)
#define ENGINE_MAX_LAYERS	4	/* signed / encrypted / signed ... */

/* Working state of one engine_run(). */
struct run {
    const struct cf_config *cfg;
    const struct engine_msg *msg;
    struct engine_result *res;
    struct mbuf entity;			/* the current MIME entity (CRLF) */
    int     loaded;			/* entity read from the message */
    int     changed;			/* entity differs from the message's */
    int     emitted;			/* Content-* edits made already */
    char    from_addr[CF_ADDR_MAX + 1];	/* From: header address, or sender */
    const char *subject;		/* Subject: value, or "" */
    unsigned conds;			/* CF_WHEN_* that hold */
    char    why[160];			/* reason text for policies */
};

static void detail(const struct run *r, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

static void detail(const struct run *r, const char *fmt, ...)
{
    char    buf[512];
    va_list ap;

    if (!r->cfg->smime.detailed_log)
	return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    msg_info("%s: smime: %s", *r->msg->queue_id ? r->msg->queue_id : "-", buf);
}

/* ---- names ------------------------------------------------------------ */

const char *engine_verify_name(enum engine_verify v)
{
    static const char *const names[] = {
	"", "valid", "invalid", "untrusted", "expired", "revoked", "not-signed", "error",
    };

    return (unsigned) v < sizeof(names) / sizeof(names[0]) ? names[v] : "error";
}

const char *engine_decrypt_name(enum engine_decrypt d)
{
    static const char *const names[] = {
	"", "decrypted", "failed", "no-key", "not-encrypted",
    };

    return (unsigned) d < sizeof(names) / sizeof(names[0]) ? names[d] : "failed";
}

const char *engine_tls_class_of(const struct cf_rule *rule)
{
    if (rule == 0)
	return "";
    switch (rule->tls_type) {
    case CF_TLS_NONE:
	return "none";
    case CF_TLS_MAY:
	return "may";
    case CF_TLS_MANDATORY:
	if (rule->tls_reject & CF_TLSREJ_CN_MISMATCH)
	    return "secure";
	if (rule->tls_reject & (CF_TLSREJ_UNTRUSTED | CF_TLSREJ_SELF_SIGNED
				| CF_TLSREJ_EXPIRED))
	    return "verify";
	return "encrypt";
    case CF_TLS_VERIFY:
	return "verify";
    case CF_TLS_SECURE:
	return "secure";
    }
    return "";
}

int     engine_tls_class_rank(const char *tls_class)
{
    static const char *const order[] = {"none", "may", "encrypt", "verify", "secure"};

    for (int i = 0; i < 5; i++)
	if (tls_class && strcmp(tls_class, order[i]) == 0)
	    return i + 1;
    return 0;
}

/* ---- result building -------------------------------------------------- */

static int add_edit(struct engine_result *res, enum engine_edit_op op,
		    const char *name, int index, const char *value)
{
    struct engine_edit *v = realloc(res->edits, (res->nedits + 1) * sizeof(*v));

    if (v == 0)
	return -1;
    res->edits = v;
    v[res->nedits].op = op;
    v[res->nedits].index = index;
    v[res->nedits].name = strdup(name);
    v[res->nedits].value = value ? strdup(value) : 0;
    if (v[res->nedits].name == 0 || (value && v[res->nedits].value == 0)) {
	free(v[res->nedits].name);
	free(v[res->nedits].value);
	return -1;
    }
    res->nedits++;
    return 0;
}

/* Index of header I among the fields of its name (1-based). */
static int header_index(const struct engine_msg *msg, size_t i)
{
    int     n = 0;

    for (size_t j = 0; j <= i; j++)
	if (strcasecmp(msg->headers[j].name, msg->headers[i].name) == 0)
	    n++;
    return n;
}

/* Delete every field whose name starts with PREFIX, last one first. */
static int delete_headers(struct run *r, const char *prefix)
{
    const struct engine_msg *msg = r->msg;
    size_t  plen = strlen(prefix);

    for (size_t i = msg->nheaders; i-- > 0;)
	if (strncasecmp(msg->headers[i].name, prefix, plen) == 0
	    && add_edit(r->res, EE_DELETE, msg->headers[i].name,
			header_index(msg, i), 0) < 0)
	    return -1;
    return 0;
}

static const char *msg_header(const struct engine_msg *msg, const char *name)
{
    for (size_t i = 0; i < msg->nheaders; i++)
	if (strcasecmp(msg->headers[i].name, name) == 0)
	    return msg->headers[i].value;
    return 0;
}

static void add_action(struct run *r, const char *what)
{
    size_t  n = strlen(r->res->actions);

    snprintf(r->res->actions + n, sizeof(r->res->actions) - n, "%s%s", n ? "," : "", what);
}

/* Read the whole spool SP into B. */
static int spool_to_mbuf(struct spool *sp, struct mbuf *b)
{
    unsigned char buf[65536];
    ssize_t n;

    if (sp == 0)
	return 0;
    if (spool_rewind(sp) < 0)
	return -1;
    while ((n = spool_read(sp, buf, sizeof(buf))) > 0)
	if (mbuf_add(b, buf, (size_t) n) < 0)
	    return -1;
    return n < 0 ? -1 : 0;
}

/*
 * Read the spool SP in canonical CRLF form, piece by piece (a CR at the end
 * of a piece waits for the next one), and hand each piece to EACH.
 */
static int spool_crlf_pieces(struct spool *sp,
			     int (*each)(void *, const unsigned char *, size_t),
			     void *arg)
{
    unsigned char buf[65536 + 1];
    struct mbuf conv;
    size_t  held = 0;
    ssize_t n;
    int     ret = -1;

    if (sp == 0)
	return 0;
    if (spool_rewind(sp) < 0)
	return -1;
    mbuf_init(&conv, 0);
    while ((n = spool_read(sp, buf + held, sizeof(buf) - 1 - held)) > 0) {
	size_t  len = held + (size_t) n;

	held = buf[len - 1] == '\r';
	conv.len = 0;
	if (mime_to_crlf(buf, len - held, &conv) < 0 || each(arg, conv.data, conv.len) < 0)
	    goto done;
	if (held)
	    buf[0] = '\r';
    }
    if (n < 0 || (held && each(arg, (const unsigned char *) "\r\n", 2) < 0))
	goto done;
    ret = 0;

done:
    mbuf_free(&conv);
    return ret;
}

static int append_piece(void *out, const unsigned char *data, size_t len)
{
    return mbuf_add(out, data, len);
}

/* Append the spool SP to OUT in canonical CRLF form. */
static int spool_to_crlf(struct spool *sp, struct mbuf *out)
{
    return spool_crlf_pieces(sp, append_piece, out);
}

/* The message's Content-* fields (a default Content-Type when there is
 * none) and the empty line, CRLF, appended to OUT. */
static int entity_head(const struct engine_msg *msg, struct mbuf *out)
{
    struct mbuf head;
    int     ret = -1, have_type = 0;

    mbuf_init(&head, 0);
    for (size_t i = 0; i < msg->nheaders; i++) {
	if (!mime_is_content_header(msg->headers[i].name))
	    continue;
	have_type |= strcasecmp(msg->headers[i].name, "Content-Type") == 0;
	if (mbuf_printf(&head, "%s: %s\r\n", msg->headers[i].name, msg->headers[i].value) < 0)
	    goto done;
    }
    if (!have_type && mbuf_addstr(&head, "Content-Type: text/plain; charset=us-ascii\r\n") < 0)
	goto done;
    if (mbuf_addstr(&head, "\r\n") < 0 || mime_to_crlf(head.data, head.len, out) < 0)
	goto done;
    ret = 0;

done:
    mbuf_free(&head);
    return ret;
}

/* A header value with folding line breaks removed, into OUT. */
static void unfolded(const char *value, char *out, size_t outlen)
{
    size_t  o = 0;

    for (; value && *value && o + 1 < outlen; value++)
	if (*value != '\r' && *value != '\n')
	    out[o++] = *value;
    out[o] = 0;
}

/* What the message's own Content-Type says it is. */
static enum smime_kind message_kind(const struct engine_msg *msg)
{
    const char *ct = msg_header(msg, "Content-Type");
    char    value[1024];

    if (ct == 0)
	return SMIME_PLAIN;
    unfolded(ct, value, sizeof(value));
    return smime_classify(value);
}

/* A CMS body sent as binary or 8bit: its bytes are DER, not lines, and
 * must not be canonicalised. */
static int binary_cms(const struct engine_msg *msg)
{
    const char *cte = msg_header(msg, "Content-Transfer-Encoding");
    enum smime_kind kind;

    if (cte == 0)
	return 0;
    while (*cte == ' ' || *cte == '\t')
	cte++;
    if (strncasecmp(cte, "binary", 6) != 0 && strncasecmp(cte, "8bit", 4) != 0)
	return 0;
    kind = message_kind(msg);
    return kind == SMIME_ENVELOPED || kind == SMIME_SIGNED_OPAQUE || kind == SMIME_OTHER;
}

/* The message's MIME entity, canonical CRLF, appended to OUT. */
static int load_entity_into(struct run *r, struct mbuf *out)
{
    if (entity_head(r->msg, out) < 0)
	return -1;
    if (binary_cms(r->msg))
	return spool_to_mbuf(r->msg->body, out);
    return spool_to_crlf(r->msg->body, out);
}

/* Read the message's entity into r->entity, once. */
static int load_entity(struct run *r)
{
    if (r->loaded)
	return 0;
    if (load_entity_into(r, &r->entity) < 0)
	return -1;
    r->loaded = 1;
    return 0;
}

/* ---- large entities: body in a spool ----------------------------------- */

/* mime_needs_encoding() over data that comes in pieces. */
struct enc_scan {
    size_t  col;
    int     needs;
};

static void enc_scan(struct enc_scan *sc, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len && !sc->needs; i++) {
	if (p[i] == '\n')
	    sc->col = 0;
	else if (p[i] >= 0x80 || p[i] == 0 || ++sc->col > 998)
	    sc->needs = 1;
    }
}

struct scan_to_spool {
    struct spool *out;
    struct enc_scan *sc;
};

static int scan_and_write(void *arg, const unsigned char *data, size_t len)
{
    struct scan_to_spool *st = arg;

    enc_scan(st->sc, data, len);
    return spool_write(st->out, data, len);
}

/* The message body, canonical CRLF, into OUT; SC sees the result. */
static int body_to_crlf_spool(struct spool *sp, struct spool *out, struct enc_scan *sc)
{
    struct scan_to_spool st = {out, sc};

    return spool_crlf_pieces(sp, scan_and_write, &st);
}

/* IN (canonical text) as quoted-printable or base64 into OUT, in pieces
 * cut where the encoders start afresh: after a CRLF for quoted-printable
 * (lines longer than the buffer are cut anyway), at a multiple of 57
 * bytes (one 76-column line) for base64.  The result is the same as
 * encoding the whole at once. */
static int encode_spool(struct spool *in, struct spool *out, int qp)
{
    unsigned char buf[65536];
    struct mbuf enc;
    size_t  have = 0, cut;
    ssize_t n = 1;
    int     ret = -1;

    mbuf_init(&enc, 0);
    if (spool_rewind(in) < 0)
	return -1;
    for (;;) {
	while (n > 0 && have < sizeof(buf))
	    if ((n = spool_read(in, buf + have, sizeof(buf) - have)) > 0)
		have += (size_t) n;
	if (n < 0)
	    goto done;
	if (have == 0)
	    break;
	cut = have;
	if (n > 0 && qp) {
	    const unsigned char *lf = memrchr(buf, '\n', have);

	    if (lf)
		cut = (size_t) (lf - buf) + 1;
	    else if (buf[have - 1] == '\r')
		cut--;
	} else if (n > 0) {
	    cut -= have % 57;
	}
	enc.len = 0;
	if ((qp ? mime_qp_encode(buf, cut, &enc) : mime_base64_encode(buf, cut, &enc)) < 0
	    || spool_write(out, enc.data, enc.len) < 0)
	    goto done;
	memmove(buf, buf + cut, have - cut);
	have -= cut;
    }
    ret = 0;

done:
    mbuf_free(&enc);
    return ret;
}

/* HEAD without its Content-Transfer-Encoding, then the new one. */
static int leaf_head(const struct mime_headers *h, int qp, struct mbuf *out)
{
    for (size_t i = 0; i < h->n; i++)
	if (strcasecmp(h->v[i].name, "Content-Transfer-Encoding") != 0
	    && mbuf_printf(out, "%s: %s\r\n", h->v[i].name, h->v[i].value) < 0)
	    return -1;
    return mbuf_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
		       qp ? "quoted-printable" : "base64");
}

/* A spool read line by line: whole lines up to the buffer size, longer
 * ones in pieces (a piece is never taken for a delimiter). */
struct lines {
    struct spool *sp;
    size_t  pos;
    size_t  len;
    int     eof;
    int     mid;			/* the last piece did not end its line */
    unsigned char buf[65536];
};

/* The next piece into *P, *N (with its line break); *WHOLE when it is a
 * whole line.  1, 0 at the end, -1 on a read error. */
static int lines_next(struct lines *l, const unsigned char **p, size_t *n, int *whole)
{
    const unsigned char *lf = l->pos < l->len
	? memchr(l->buf + l->pos, '\n', l->len - l->pos) : 0;

    if (lf == 0 && !l->eof) {
	memmove(l->buf, l->buf + l->pos, l->len - l->pos);
	l->len -= l->pos;
	l->pos = 0;
	while (!l->eof && l->len < sizeof(l->buf)) {
	    ssize_t k = spool_read(l->sp, l->buf + l->len, sizeof(l->buf) - l->len);

	    if (k < 0)
		return -1;
	    if (k == 0)
		l->eof = 1;
	    l->len += (size_t) k;
	}
	lf = l->len ? memchr(l->buf, '\n', l->len) : 0;
    }
    if (l->pos == l->len)
	return 0;
    *p = l->buf + l->pos;
    *n = lf ? (size_t) (lf - *p) + 1 : l->len - l->pos;
    *whole = !l->mid && (lf != 0 || l->eof);
    l->mid = lf == 0;
    l->pos += *n;
    return 1;
}

/* One part of a multipart being split: its header block and its body. */
struct part {
    struct mbuf head;
    struct spool *body;
    struct enc_scan sc;
    int     in_head;			/* still in the header block */
    int     pending;			/* a CRLF held back: it may belong
					 * to the next delimiter */
    int     blank_last;			/* the header block's empty line was
					 * the last line so far */
};

static int part_start(struct run *r, struct part *pt)
{
    mbuf_init(&pt->head, ENGINE_MAX_HEADER_BYTES);
    pt->sc.col = 0;
    pt->sc.needs = 0;
    pt->in_head = 1;
    pt->pending = 0;
    pt->blank_last = 0;
    return (pt->body = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir)) ? 0 : -1;
}

static void part_free(struct part *pt)
{
    mbuf_free(&pt->head);
    spool_free(pt->body);
    pt->body = 0;
}

/* Add the piece P (N bytes) of a part, as mime_parse_headers() would
 * split it into header block and body. */
static int part_add(struct part *pt, const unsigned char *p, size_t n, int whole)
{
    size_t  cn = n;
    int     crlf = n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n';

    if (crlf)
	cn -= 2;
    if (pt->in_head) {
	int     blank = whole && cn == 0 && crlf;

	if (whole && (blank || mime_is_field_start(p, cn)
		      || (pt->head.len > 0 && (p[0] == ' ' || p[0] == '\t')))) {
	    pt->pending = blank ? 0 : crlf;
	    if (blank)
		pt->in_head = 0, pt->blank_last = 1;
	    return mbuf_add(&pt->head, p, n);
	}
	pt->in_head = 0;			/* not a field: the body starts */
	pt->pending = 0;
    }
    pt->blank_last = 0;
    if (pt->pending && (spool_write(pt->body, "\r\n", 2) < 0))
	return -1;
    enc_scan(&pt->sc, (const unsigned char *) "\r\n", pt->pending ? 2 : 0);
    enc_scan(&pt->sc, p, cn);
    pt->pending = crlf;
    return spool_write(pt->body, p, cn);
}

static int multipart_stream(struct run *r, struct spool *body, const char *boundary,
			    int depth, struct spool *out);

/* Write the part PT (finished) to OUT, transfer-encoded where needed, as
 * mime_encode_7bit() does at DEPTH. */
static int part_emit(struct run *r, struct part *pt, int depth, struct spool *out)
{
    struct mime_headers h;
    size_t  off;
    char    type[128], boundary[128];
    const char *ct, *cte;
    struct spool *sub = 0, *enc = 0;
    int     ret = -1, k, qp;

    /* The line break before the delimiter is the delimiter's. */
    if ((pt->in_head && pt->pending) || pt->blank_last)
	pt->head.len -= 2;
    if ((!pt->sc.needs && !mime_needs_encoding(pt->head.data, pt->head.len))
	|| depth > MIME_MAX_DEPTH)
	return spool_write(out, pt->head.data, pt->head.len) < 0
	    || spool_append(out, pt->body) < 0 ? -1 : 0;
    if (mime_parse_headers(pt->head.data, pt->head.len, &h, &off) < 0)
	return -1;
    ct = mime_header_get(&h, "Content-Type");
    cte = mime_header_get(&h, "Content-Transfer-Encoding");
    mime_content_type(ct, type, sizeof(type));
    qp = strncmp(type, "text/", 5) == 0;
    if (strncmp(type, "multipart/", 10) == 0
	&& mime_param(ct, "boundary", boundary, sizeof(boundary)) == 0) {
	if ((sub = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir)) == 0
	    || (k = multipart_stream(r, pt->body, boundary, depth, sub)) < 0)
	    goto done;
	ret = k == 0 ? (spool_write(out, pt->head.data, pt->head.len) < 0
			|| spool_append(out, pt->body) < 0 ? -1 : 0)
	    : (spool_write(out, pt->head.data, off) < 0 || spool_append(out, sub) < 0 ? -1 : 0);
    } else if (strncmp(type, "message/", 8) == 0 || strncmp(type, "multipart/", 10) == 0
	       || (cte && (strncasecmp(cte, "base64", 6) == 0
			   || strncasecmp(cte, "quoted-printable", 16) == 0))) {
	ret = spool_write(out, pt->head.data, pt->head.len) < 0
	    || spool_append(out, pt->body) < 0 ? -1 : 0;
    } else {
	pt->head.len = 0;
	ret = (enc = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir)) == 0
	    || leaf_head(&h, qp, &pt->head) < 0 || encode_spool(pt->body, enc, qp) < 0
	    || spool_write(out, pt->head.data, pt->head.len) < 0
	    || spool_append(out, enc) < 0 ? -1 : 0;
    }

done:
    mime_headers_free(&h);
    spool_free(sub);
    spool_free(enc);
    return ret;
}

/*
 * The body of a multipart (BOUNDARY) with each part transfer-encoded
 * where needed, into OUT, in the layout of mime_encode_7bit(): one
 * preamble line, the parts, the closing delimiter.  Part by part through
 * spools, never the whole in memory.  1 done, 0 when the multipart is not
 * well formed (no closing delimiter, no part, too many parts: the caller
 * keeps it as it is), -1 error.
 */
static int multipart_stream(struct run *r, struct spool *body, const char *boundary,
			    int depth, struct spool *out)
{
    struct lines *l = calloc(1, sizeof(*l));
    struct part pt;
    const unsigned char *p;
    size_t  n, cn;
    int     whole, k, d, in_part = 0, nparts = 0, ret = -1;
    char    delim[128];

    memset(&pt, 0, sizeof(pt));
    if (l == 0 || spool_rewind(body) < 0)
	goto done;
    l->sp = body;
    if (spool_write(out, "This is a multi-part message in MIME format.\r\n", 46) < 0)
	goto done;
    snprintf(delim, sizeof(delim), "\r\n--%s\r\n", boundary);
    while ((k = lines_next(l, &p, &n, &whole)) > 0) {
	cn = n;
	if (cn > 0 && p[cn - 1] == '\n')
	    cn--;
	if (cn > 0 && p[cn - 1] == '\r')
	    cn--;
	if ((d = whole ? mime_delimiter(p, cn, boundary) : 0) == 0) {
	    if (in_part && part_add(&pt, p, n, whole) < 0)
		goto done;
	    continue;
	}
	if (in_part) {
	    if (++nparts >= MIME_MAX_PARTS) {
		ret = 0;
		goto done;
	    }
	    if (spool_write(out, delim, strlen(delim)) < 0
		|| part_emit(r, &pt, depth + 1, out) < 0)
		goto done;
	    part_free(&pt);
	}
	if (d == 2)
	    break;
	if (part_start(r, &pt) < 0)
	    goto done;
	in_part = 1;
    }
    if (k < 0)
	goto done;
    if (k == 0 || nparts == 0) {		/* no closing delimiter or no part */
	ret = 0;
	goto done;
    }
    snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", boundary);
    ret = spool_write(out, delim, strlen(delim)) < 0 ? -1 : 1;

done:
    part_free(&pt);
    free(l);
    return ret;
}

/* Give BODY (with HEAD) a transfer encoding when it needs one to be
 * signed, as mime_encode_7bit() would.  Returns the body to use: BODY
 * itself or a new spool (BODY freed); NULL on error (BODY freed). */
static struct spool *encode_large(struct run *r, struct mbuf *head, struct spool *body)
{
    struct mime_headers h;
    size_t  off;
    char    type[128];
    const char *cte;
    struct spool *out = 0;
    int     qp;

    if (mime_parse_headers(head->data, head->len, &h, &off) < 0) {
	spool_free(body);
	return 0;
    }
    mime_content_type(mime_header_get(&h, "Content-Type"), type, sizeof(type));
    cte = mime_header_get(&h, "Content-Transfer-Encoding");
    qp = strncmp(type, "text/", 5) == 0;
    if (strncmp(type, "multipart/", 10) == 0) {
	char    boundary[128];

	int     k = 0;

	if (mime_param(mime_header_get(&h, "Content-Type"), "boundary", boundary,
		       sizeof(boundary)) == 0
	    && ((out = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir)) == 0
		|| (k = multipart_stream(r, body, boundary, 0, out)) < 0)) {
	    spool_free(out);
	    out = 0;
	} else if (k == 0) {
	    spool_free(out);
	    out = body, body = 0;	/* cannot be encoded: as it is */
	}
    } else if (strncmp(type, "message/", 8) == 0
	       || (cte && (strncasecmp(cte, "base64", 6) == 0
			   || strncasecmp(cte, "quoted-printable", 16) == 0))) {
	out = body, body = 0;
    } else {
	head->len = 0;
	if ((out = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir)) == 0
	    || leaf_head(&h, qp, head) < 0 || encode_spool(body, out, qp) < 0) {
	    spool_free(out);
	    out = 0;
	}
    }
    mime_headers_free(&h);
    spool_free(body);
    return out;
}

/* The message's entity as HEAD (appended) and a canonical body spool;
 * with ENCODE, transfer-encoded for signing.  NULL on error. */
static struct spool *stream_entity(struct run *r, int encode, struct mbuf *head)
{
    struct spool *body = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir);
    struct enc_scan sc = {0, 0};

    if (body == 0 || entity_head(r->msg, head) < 0
	|| body_to_crlf_spool(r->msg->body, body, &sc) < 0) {
	spool_free(body);
	return 0;
    }
    if (!encode || (!sc.needs && !mime_needs_encoding(head->data, head->len)))
	return body;
    return encode_large(r, head, body);
}

/* Replace the current entity with NEXT (taken over). */
static void set_entity(struct run *r, struct mbuf *next)
{
    mbuf_free(&r->entity);
    r->entity = *next;
    mbuf_init(next, 0);
    r->changed = 1;
}

/* Edits that replace the message's Content-* fields with those of H. */
static int replace_content_headers(struct run *r, const struct mime_headers *h)
{
    if (delete_headers(r, "Content-") < 0)
	return -1;
    for (size_t i = 0; i < h->n; i++)
	if (mime_is_content_header(h->v[i].name)
	    && add_edit(r->res, EE_ADD, h->v[i].name, 0, h->v[i].value) < 0)
	    return -1;
    if (msg_header(r->msg, "MIME-Version") == 0
	&& add_edit(r->res, EE_ADD, "MIME-Version", 0, "1.0") < 0)
	return -1;
    r->emitted = 1;
    return 0;
}

static struct spool *new_body(struct run *r)
{
    spool_free(r->res->body);
    return r->res->body = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir);
}

/* Turn the changed entity into header edits and a new body. */
static int emit_entity(struct run *r)
{
    struct mime_headers h;
    size_t  off;
    int     ret = -1;

    if (mime_parse_headers(r->entity.data, r->entity.len, &h, &off) < 0)
	return -1;
    if (replace_content_headers(r, &h) < 0 || new_body(r) == 0
	|| spool_write(r->res->body, r->entity.data + off, r->entity.len - off) < 0)
	goto done;
    ret = 0;

done:
    mime_headers_free(&h);
    return ret;
}

/* Header edits for an enveloped body already written to res->body. */
static int emit_enveloped(struct run *r, const char *smime_type)
{
    struct mime_header v[3];
    struct mime_headers h = {v, 3};
    char    type[128];

    snprintf(type, sizeof(type), "application/pkcs7-mime; smime-type=%s; name=smime.p7m",
	     smime_type);
    v[0].name = "Content-Type";
    v[0].value = type;
    v[1].name = "Content-Transfer-Encoding";
    v[1].value = "base64";
    v[2].name = "Content-Disposition";
    v[2].value = "attachment; filename=smime.p7m";
    return replace_content_headers(r, &h);
}

/* ---- outbound --------------------------------------------------------- */

/* What the outbound rules ask for, with the keys and certificates. */
struct out_plan {
    int     sign;			/* KEY holds the signing key */
    struct cs_key key;
    int     encrypt;			/* CERTS holds every recipient's */
    struct cs_key *keys;
    X509  **certs;
    size_t  ncerts;
};

static void plan_release(struct out_plan *p)
{
    if (p->sign)
	cs_key_release(&p->key);
    if (p->keys)
	for (size_t i = 0; i < p->ncerts; i++)
	    cs_key_release(&p->keys[i]);
    free(p->keys);
    free(p->certs);
}

/* Is there a sign rule, and its key? */
static void plan_sign(struct run *r, struct out_plan *p)
{
    const struct engine_msg *msg = r->msg;
    const struct cf_rule *rule = 0;

    for (size_t i = 0; i < msg->nrecipients && rule == 0; i++)
	rule = rules_first_match(&r->cfg->rules[CF_RULE_SMIME_SIGN], msg->sender,
				 msg->recipients[i], 0);
    if (rule == 0 || rule_is_void(rule))
	return;
    if (certstore_sign_key(&r->cfg->smime, rule->certificate, msg->sender, &p->key) < 0) {
	char    clean[CF_ADDR_MAX + 40];

	msg_warn("%s: sign rule \"%s\": no signing key for %s", msg->queue_id, rule->name,
		 log_clean(clean, sizeof(clean), msg->sender));
	return;
    }
    detail(r, "signing with %s (rule \"%s\")", p->key.path, rule->name);
    p->sign = 1;
}

/* Do encrypt rules apply, and does every recipient have a certificate?
 * 0 (P->encrypt says which; conditions set), -1 out of memory. */
static int plan_encrypt(struct run *r, struct out_plan *p)
{
    const struct engine_msg *msg = r->msg;
    size_t  matched = 0;

    p->keys = calloc(msg->nrecipients + 1, sizeof(*p->keys));
    p->certs = calloc(msg->nrecipients + 1, sizeof(*p->certs));
    if (p->keys == 0 || p->certs == 0)
	return -1;
    for (size_t i = 0; i < msg->nrecipients; i++) {
	const struct cf_rule *rule = rules_first_match(&r->cfg->rules[CF_RULE_SMIME_ENCRYPT],
						       msg->sender, msg->recipients[i], 0);

	if (rule && !rule_is_void(rule))
	    matched++;
	/* A recipient without a rule still needs a certificate to be in
	 * the one envelope. */
	if (certstore_encrypt_cert(&r->cfg->smime, rule && !rule_is_void(rule)
				   ? rule->certificate : "*",
				   msg->recipients[i], &p->keys[p->ncerts]) == 0) {
	    p->certs[p->ncerts] = p->keys[p->ncerts].cert;
	    p->ncerts++;
	}
    }
    if (matched == 0)
	return 0;
    if (p->ncerts < msg->nrecipients) {
	r->conds |= p->ncerts == 0 ? CF_WHEN_NO_CERTIFICATE
	    : CF_WHEN_PARTIAL | CF_WHEN_NO_CERTIFICATE;
	snprintf(r->why, sizeof(r->why), "%zu of %zu recipients have no certificate",
		 msg->nrecipients - p->ncerts, msg->nrecipients);
	detail(r, "not encrypting: %s", r->why);
	return 0;
    }
    p->encrypt = 1;
    return 0;
}

/* Give 8bit or long-line parts a transfer encoding before signing, so
 * the signature survives relays that downgrade to 7bit. */
static int encode_for_signing(struct run *r)
{
    struct mbuf next;

    if (!mime_needs_encoding(r->entity.data, r->entity.len))
	return 0;
    mbuf_init(&next, 0);
    if (mime_encode_7bit(r->entity.data, r->entity.len, &next) < 0) {
	mbuf_free(&next);
	return -1;
    }
    set_entity(r, &next);
    return 0;
}

/* A message that fits in memory: the entity is worked on there. */
static int outbound_small(struct run *r, const struct out_plan *p)
{
    const char *type;

    if (load_entity(r) < 0)
	return -1;
    if (p->sign) {
	if (encode_for_signing(r) < 0
	    || smime_sign_entity(&r->entity, &p->key, r->cfg->smime.digest,
				 r->cfg->smime.signature == CF_SIGNATURE_OPAQUE) < 0)
	    return -1;
	r->changed = 1;
	add_action(r, "sign");
    }
    if (p->encrypt) {
	/* The last step: the result goes straight into the new body spool
	 * (a file past memory_limit), not through another buffer. */
	if (new_body(r) == 0
	    || smime_encrypt_body(r->entity.data, r->entity.len, p->certs, p->ncerts,
				  r->cfg->smime.cipher, r->cfg->smime.key_transport,
				  r->res->body, &type) < 0
	    || emit_enveloped(r, type) < 0)
	    return -1;
	mbuf_free(&r->entity);
	r->changed = 0;			/* emitted already */
	add_action(r, "encrypt");
    }
    return r->changed ? emit_entity(r) : 0;
}

/* A message larger than memory_limit: every intermediate entity is a
 * header block in memory and a body in a spool (a file), and OpenSSL
 * reads the content from there in pieces. */
static int outbound_large(struct run *r, const struct out_plan *p)
{
    struct mbuf head, shead;
    struct spool *body = 0, *next = 0;
    const char *type;
    int     ret = -1;

    mbuf_init(&head, 0);
    mbuf_init(&shead, 0);
    if ((body = stream_entity(r, p->sign, &head)) == 0)
	goto done;
    if (p->sign) {
	if ((next = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir)) == 0
	    || smime_sign_spool(head.data, head.len, body, &p->key, r->cfg->smime.digest,
				r->cfg->smime.signature == CF_SIGNATURE_OPAQUE,
				&shead, next) < 0)
	    goto done;
	spool_free(body);
	body = next;
	next = 0;
	mbuf_free(&head);
	head = shead;
	mbuf_init(&shead, 0);
	add_action(r, "sign");
    }
    if (p->encrypt) {
	if (new_body(r) == 0
	    || smime_encrypt_spool(head.data, head.len, body, p->certs, p->ncerts,
				   r->cfg->smime.cipher, r->cfg->smime.key_transport,
				   r->res->body, &type) < 0
	    || emit_enveloped(r, type) < 0)
	    goto done;
	add_action(r, "encrypt");
    } else {
	struct mime_headers h;
	size_t  off;

	if (mime_parse_headers(head.data, head.len, &h, &off) < 0)
	    goto done;
	ret = replace_content_headers(r, &h);
	mime_headers_free(&h);
	if (ret < 0)
	    goto done;
	ret = -1;
	spool_free(r->res->body);
	r->res->body = body;
	body = 0;
    }
    ret = 0;

done:
    mbuf_free(&head);
    mbuf_free(&shead);
    spool_free(body);
    spool_free(next);
    return ret;
}

/* Too large to work on in memory? */
static int outbound_streams(const struct run *r)
{
    size_t  limit = r->cfg->milter.memory_limit;

    return limit > 0 && r->msg->body
	&& (spool_in_file(r->msg->body) || spool_size(r->msg->body) > limit);
}

/* The strictest tls_outbound class over all recipients. */
static int outbound_tls(struct run *r)
{
    const struct engine_msg *msg = r->msg;
    int     best = 0;

    for (size_t i = 0; i < msg->nrecipients; i++) {
	const struct cf_rule *rule = rules_first_match(&r->cfg->rules[CF_RULE_TLS_OUTBOUND],
						       msg->sender, msg->recipients[i],
						       r->subject);
	const char *cls = engine_tls_class_of(rule);

	if (engine_tls_class_rank(cls) > best) {
	    best = engine_tls_class_rank(cls);
	    snprintf(r->res->tls_class, sizeof(r->res->tls_class), "%s", cls);
	}
    }
    return best ? add_edit(r->res, EE_ADD, CF_HDR_TLS, 0, r->res->tls_class) : 0;
}

static int run_outbound(struct run *r)
{
    struct out_plan p;
    int     ret = -1;

    memset(&p, 0, sizeof(p));
    plan_sign(r, &p);
    if (plan_encrypt(r, &p) < 0)
	goto done;
    /* Nothing to do: the body is not even read. */
    if ((p.sign || p.encrypt)
	&& (outbound_streams(r) ? outbound_large(r, &p) : outbound_small(r, &p)) < 0) {
	msg_error("%s: signing or encryption failed", r->msg->queue_id);
	goto done;
    }
    if (!p.sign)
	r->conds |= CF_WHEN_NOT_SIGNED;
    if (!p.encrypt)
	r->conds |= CF_WHEN_NOT_ENCRYPTED;
    ret = outbound_tls(r);
    if (p.encrypt)
	detail(r, "encrypted to %zu recipient(s) with %s", p.ncerts,
	       config_cipher_name(r->cfg->smime.cipher));

done:
    plan_release(&p);
    return ret;
}

/* ---- inbound ---------------------------------------------------------- */

/* Which decrypt / verify rules apply (first recipient with a non-void rule). */
static const struct cf_rule *inbound_rule(struct run *r, enum cf_rule_kind kind)
{
    for (size_t i = 0; i < r->msg->nrecipients; i++) {
	const struct cf_rule *rule = rules_first_match(&r->cfg->rules[kind], r->msg->sender,
						       r->msg->recipients[i], 0);

	if (rule && !rule_is_void(rule) && (kind != CF_RULE_SMIME_VERIFY || rule->verify))
	    return rule;
	if (rule)
	    return 0;
    }
    return 0;
}

static int inbound_decrypt(struct run *r)
{
    const struct engine_msg *msg = r->msg;
    struct cs_key *keys = 0;
    size_t  nkeys = 0;
    struct mbuf plain;
    char    why[128];
    enum engine_decrypt st;

    /* Keys of every recipient whose decrypt rule applies. */
    for (size_t i = 0; i < msg->nrecipients; i++) {
	const struct cf_rule *rule = rules_first_match(&r->cfg->rules[CF_RULE_SMIME_DECRYPT],
						       msg->sender, msg->recipients[i], 0);

	if (rule && !rule_is_void(rule))
	    (void) certstore_decrypt_keys(&r->cfg->smime, rule->certificate,
					  msg->recipients[i], &keys, &nkeys);
    }
    mbuf_init(&plain, 0);
    if (r->changed) {
	st = smime_decrypt(r->entity.data, r->entity.len, keys, nkeys, &plain, why, sizeof(why));
    } else {
	/* The entity is the message's own: let it go while decrypting and
	 * rebuild it from the message when it is needed after all. */
	st = smime_decrypt_entity(&r->entity, keys, nkeys, &plain, why, sizeof(why));
	if (st != ED_DECRYPTED && load_entity_into(r, &r->entity) < 0) {
	    cs_keys_release(keys, nkeys);
	    mbuf_free(&plain);
	    return -1;
	}
    }
    cs_keys_release(keys, nkeys);
    r->res->decrypt = st;
    detail(r, "decrypt: %s (%s)", engine_decrypt_name(st), why);
    if (st == ED_DECRYPTED) {
	if (mime_canonicalize(&plain) < 0) {
	    mbuf_free(&plain);
	    return -1;
	}
	set_entity(r, &plain);
	add_action(r, "decrypt");
    } else if (st != ED_NOT_ENCRYPTED) {
	r->conds |= CF_WHEN_DECRYPT_FAILED;
	snprintf(r->why, sizeof(r->why), "decryption failed: %s", why);
    }
    mbuf_free(&plain);
    return 0;
}

/* Verify the current (signed) entity; unwrap when asked or when the
 * signed content is itself encrypted.  1 unwrapped, 0 kept, -1 error. */
static int inbound_verify(struct run *r, const struct cf_rule *rule, int have_status)
{
    struct smime_verify_result v;
    X509_STORE *store = certstore_ca(&r->cfg->smime);
    struct mime_headers h;
    size_t  off, clen;
    const unsigned char *content;
    int     unwrap = rule->remove_signature, ret = 0;

    smime_verify(r->entity.data, r->entity.len, store, &v);
    X509_STORE_free(store);
    if (v.status == EV_VALID && v.signer_cert
	&& !certstore_cert_has_address(v.signer_cert, r->from_addr)) {
	v.status = EV_INVALID;
	snprintf(v.reason, sizeof(v.reason), "signer is not the From address");
    }
    detail(r, "verify: %s (%s)", engine_verify_name(v.status), v.reason);
    /* Of several signatures the first bad one is reported. */
    if (!have_status || r->res->verify == EV_VALID) {
	r->res->verify = v.status;
	snprintf(r->res->signer, sizeof(r->res->signer), "%.319s", v.signer);
	snprintf(r->res->verify_reason, sizeof(r->res->verify_reason), "%s", v.reason);
    }
    if (v.status == EV_VALID && r->cfg->smime.collect_sender_certs && v.signer_cert)
	(void) certstore_collect(&r->cfg->smime, r->from_addr, v.signer_cert);
    content = smime_verify_content(&v, &clen);
    if (clen > 0 && mime_parse_headers(content, clen, &h, &off) == 0) {
	if (smime_classify(mime_header_get(&h, "Content-Type")) == SMIME_ENVELOPED)
	    unwrap = 1;
	mime_headers_free(&h);
    }
    add_action(r, "verify");
    if (unwrap && clen > 0) {
	struct mbuf next;

	mbuf_init(&next, 0);
	if (v.content.len > 0) {
	    next = v.content;		/* take it over */
	    mbuf_init(&v.content, 0);
	} else if (mbuf_add(&next, content, clen) < 0)
	    ret = -1;
	if (ret == 0 && mime_canonicalize(&next) < 0)
	    ret = -1;
	if (ret == 0) {
	    set_entity(r, &next);
	    ret = 1;
	}
	mbuf_free(&next);
    }
    smime_verify_result_free(&v);
    return ret;
}

static void inbound_conditions(struct run *r, int signed_seen, int encrypted_seen)
{
    enum engine_verify v = r->res->verify;

    if (!signed_seen && r->res->decrypt != ED_FAILED && r->res->decrypt != ED_NO_KEY)
	r->conds |= CF_WHEN_NOT_SIGNED;
    if (!encrypted_seen)
	r->conds |= CF_WHEN_NOT_ENCRYPTED;
    if (v == EV_INVALID || v == EV_EXPIRED || v == EV_REVOKED || v == EV_ERROR)
	r->conds |= CF_WHEN_BAD_SIGNATURE;
    if (v == EV_UNTRUSTED)
	r->conds |= CF_WHEN_UNTRUSTED_SIGNATURE;
    if (!*r->why && (r->conds & (CF_WHEN_BAD_SIGNATURE | CF_WHEN_UNTRUSTED_SIGNATURE)))
	snprintf(r->why, sizeof(r->why), "signature %s: %s", engine_verify_name(v),
		 r->res->verify_reason);
    if (!*r->why && (r->conds & CF_WHEN_NOT_SIGNED))
	snprintf(r->why, sizeof(r->why), "the message is not signed");
}

static int add_status_headers(struct run *r, const struct cf_rule *vrule,
			      const struct cf_rule *drule)
{
    char    value[600];
    struct engine_result *res = r->res;

    /* Content we could not decrypt may or may not be signed: say nothing. */
    if (vrule && res->verify == EV_NONE && res->decrypt != ED_FAILED
	&& res->decrypt != ED_NO_KEY)
	res->verify = EV_NOT_SIGNED;
    if (drule && res->decrypt == ED_NONE)
	res->decrypt = ED_NOT_ENCRYPTED;
    if (res->verify != EV_NONE) {
	if (res->verify == EV_NOT_SIGNED && !*res->verify_reason)
	    snprintf(res->verify_reason, sizeof(res->verify_reason), "no signature");
	snprintf(value, sizeof(value), "%s%s%s; %s", engine_verify_name(res->verify),
		 *res->signer ? "; signer=" : "", res->signer, res->verify_reason);
	if (add_edit(res, EE_ADD, CF_HDR_VERIFY, 0, value) < 0)
	    return -1;
    }
    if (res->decrypt != ED_NONE
	&& add_edit(res, EE_ADD, CF_HDR_DECRYPT, 0, engine_decrypt_name(res->decrypt)) < 0)
	return -1;
    return 0;
}

static int run_inbound(struct run *r)
{
    const struct cf_rule *drule = inbound_rule(r, CF_RULE_SMIME_DECRYPT);
    const struct cf_rule *vrule = inbound_rule(r, CF_RULE_SMIME_VERIFY);
    int     signed_seen = 0, encrypted_seen = 0, verified = 0;

    for (int layer = 0; layer < ENGINE_MAX_LAYERS; layer++) {
	struct mime_headers h;
	size_t  off;
	enum smime_kind kind;
	int     n;

	/* The body is read only when there is work on it. */
	if (!r->loaded) {
	    kind = message_kind(r->msg);
	} else {
	    if (mime_parse_headers(r->entity.data, r->entity.len, &h, &off) < 0)
		return -1;
	    kind = smime_classify(mime_header_get(&h, "Content-Type"));
	    mime_headers_free(&h);
	}
	if (kind == SMIME_ENVELOPED || (kind == SMIME_OTHER && drule)) {
	    if (kind == SMIME_ENVELOPED)
		encrypted_seen = 1;
	    if (drule == 0)
		break;
	    if (load_entity(r) < 0 || inbound_decrypt(r) < 0)
		return -1;
	    if (r->res->decrypt == ED_NOT_ENCRYPTED && kind == SMIME_OTHER)
		kind = SMIME_SIGNED_OPAQUE;	/* pkcs7-mime without smime-type */
	    else if (r->res->decrypt != ED_DECRYPTED)
		break;
	    else {
		encrypted_seen = 1;
		continue;
	    }
	}
	if (kind != SMIME_SIGNED_DETACHED && kind != SMIME_SIGNED_OPAQUE
	    && kind != SMIME_OTHER)
	    break;
	signed_seen = 1;
	if (vrule == 0)
	    break;
	if (load_entity(r) < 0 || (n = inbound_verify(r, vrule, verified)) < 0)
	    return -1;
	verified = 1;
	if (n == 0)
	    break;
    }
    inbound_conditions(r, signed_seen, encrypted_seen);
    if (r->changed && emit_entity(r) < 0)
	return -1;
    return add_status_headers(r, vrule, drule);
}

/* ---- policies --------------------------------------------------------- */

static int set_recipients(struct engine_result *res, char *const *v, size_t n)
{
    if ((res->new_recipients = calloc(n ? n : 1, sizeof(char *))) == 0)
	return -1;
    for (size_t i = 0; i < n; i++) {
	if ((res->new_recipients[i] = strdup(v[i])) == 0)
	    return -1;
	res->nnew_recipients++;
    }
    return 0;
}

static int mark_subject(struct run *r, const struct cf_rule *rule)
{
    const char *tag = rule->subject_tag && *rule->subject_tag ? rule->subject_tag : "[smime]";
    const char *subj = msg_header(r->msg, "Subject");
    char   *value;
    int     ret;

    if (subj == 0)
	return add_edit(r->res, EE_ADD, "Subject", 0, tag);
    if (asprintf(&value, "%s %s", subj, tag) < 0)
	return -1;
    ret = add_edit(r->res, EE_CHANGE, "Subject", 1, value);
    free(value);
    return ret;
}

/* The first text/plain part of a multipart original (for -stripped). */
static int first_text_part(const unsigned char *ent, size_t len, struct mbuf *out)
{
    struct mime_headers h;
    struct mime_part parts[32];
    char    type[128], boundary[128];
    size_t  off;
    int     n, found = -1;

    if (mime_parse_headers(ent, len, &h, &off) < 0)
	return -1;
    mime_content_type(mime_header_get(&h, "Content-Type"), type, sizeof(type));
    if (strncmp(type, "multipart/", 10) != 0) {
	found = strncmp(type, "text/", 5) == 0 ? mbuf_add(out, ent, len) : -1;
    } else if (mime_param(mime_header_get(&h, "Content-Type"), "boundary", boundary,
			  sizeof(boundary)) == 0
	       && (n = mime_multipart_split(ent + off, len - off, boundary, parts, 32)) > 0) {
	for (int i = 0; i < n && found < 0; i++)
	    found = first_text_part(ent + off + parts[i].off, parts[i].len, out);
    }
    mime_headers_free(&h);
    return found;
}

/* New body: the reason as text, the original attached as message/rfc822. */
static int encapsulate(struct run *r, const struct cf_rule *rule, int stripped)
{
    const struct engine_msg *msg = r->msg;
    struct mbuf body, orig;
    char    boundary[64], clean[600];
    int     ret = -1;

    mbuf_init(&body, 0);
    mbuf_init(&orig, 0);
    mime_make_boundary(boundary, sizeof(boundary));
    if (mbuf_printf(&body, "This is a multi-part message in MIME format.\r\n\r\n--%s\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		    "cryptofilter policy \"%s\" applied: %s.\r\n"
		    "The original message is attached.\r\n\r\n--%s\r\n"
		    "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n",
		    boundary, rule->name, log_clean(clean, sizeof(clean), r->why), boundary) < 0)
	goto done;
    for (size_t i = 0; i < msg->nheaders; i++) {
	if (strncasecmp(msg->headers[i].name, CF_HDR_PREFIX, strlen(CF_HDR_PREFIX)) == 0
	    || (stripped && mime_is_content_header(msg->headers[i].name)))
	    continue;
	if (mbuf_printf(&orig, "%s: %s\r\n", msg->headers[i].name, msg->headers[i].value) < 0)
	    goto done;
    }
    if (stripped) {
	struct mbuf ent;

	mbuf_init(&ent, 0);
	if (load_entity_into(r, &ent) < 0
	    || (first_text_part(ent.data, ent.len, &orig) < 0
		&& mbuf_addstr(&orig, "Content-Type: text/plain\r\n\r\n"
			       "(the attachments were removed)\r\n") < 0)) {
	    mbuf_free(&ent);
	    goto done;
	}
	mbuf_free(&ent);
    } else if (mbuf_addstr(&orig, "\r\n") < 0 || spool_to_mbuf(msg->body, &orig) < 0)
	goto done;
    if (mime_to_crlf(orig.data, orig.len, &body) < 0
	|| mbuf_printf(&body, "\r\n--%s--\r\n", boundary) < 0)
	goto done;
    /* Replace whatever the engine produced before. */
    spool_free(r->res->body);
    if ((r->res->body = spool_new(r->cfg->milter.memory_limit, r->cfg->milter.spool_dir)) == 0
	|| spool_write(r->res->body, body.data, body.len) < 0)
	goto done;
    ret = 0;
    for (size_t i = 0; i < r->res->nedits && ret == 0; i++)
	if (r->res->edits[i].op == EE_ADD && mime_is_content_header(r->res->edits[i].name)) {
	    /* Drop Content-* additions of an earlier step. */
	    free(r->res->edits[i].name);
	    free(r->res->edits[i].value);
	    memmove(&r->res->edits[i], &r->res->edits[i + 1],
		    (r->res->nedits - i - 1) * sizeof(r->res->edits[0]));
	    r->res->nedits--;
	    i--;
	}
    if (!r->emitted)
	ret = delete_headers(r, "Content-");
    if (ret == 0) {
	snprintf(clean, sizeof(clean), "multipart/mixed; boundary=\"%s\"", boundary);
	ret = add_edit(r->res, EE_ADD, "Content-Type", 0, clean);
    }
    if (ret == 0 && !r->emitted && msg_header(msg, "MIME-Version") == 0)
	ret = add_edit(r->res, EE_ADD, "MIME-Version", 0, "1.0");

done:
    mbuf_free(&body);
    mbuf_free(&orig);
    return ret;
}

/* The first policy rule (over the recipients) whose conditions hold. */
static const struct cf_rule *find_policy(struct run *r)
{
    enum cf_rule_kind kind = r->msg->outbound ? CF_RULE_SMIME_OUTBOUND_POLICY
	: CF_RULE_SMIME_INBOUND_POLICY;

    for (size_t i = 0; i < r->msg->nrecipients; i++) {
	const struct cf_rule *rule = rules_first_match(&r->cfg->rules[kind], r->msg->sender,
						       r->msg->recipients[i], r->subject);

	if (rule && (rule->when & r->conds))
	    return rule;
    }
    return 0;
}

static int apply_policy(struct run *r)
{
    const struct cf_rule *rule = find_policy(r);
    struct engine_result *res = r->res;
    char   *pm[1];

    res->conditions = r->conds;
    if (rule == 0)
	return 0;
    res->policy_rule = rule;
    res->action = rule->action;
    if (!*r->why)
	snprintf(r->why, sizeof(r->why), "%s", r->msg->outbound
		 ? "the message is not signed or not encrypted" : "S/MIME policy");
    snprintf(res->reply_text, sizeof(res->reply_text), "S/MIME policy \"%s\": %s",
	     rule->name, r->why);
    pm[0] = r->cfg->postmaster ? r->cfg->postmaster : "postmaster";
    switch (rule->action) {
    case CF_ACTION_MARK_SUBJECT:
	return mark_subject(r, rule);
    case CF_ACTION_FORWARD_POSTMASTER:
	return set_recipients(res, pm, 1);
    case CF_ACTION_ENCAPSULATE_POSTMASTER:
	return encapsulate(r, rule, 0) < 0 ? -1 : set_recipients(res, pm, 1);
    case CF_ACTION_ENCAPSULATE_RECIPIENT:
    case CF_ACTION_ENCAPSULATE_RECIPIENT_STRIPPED:
	if (encapsulate(r, rule, rule->action == CF_ACTION_ENCAPSULATE_RECIPIENT_STRIPPED) < 0)
	    return -1;
	return set_recipients(res, r->msg->recipients, r->msg->nrecipients);
    default:
	return 0;
    }
}

static void make_summary(struct run *r)
{
    struct engine_result *res = r->res;
    char    from[CF_ADDR_MAX + 40], signer[CF_ADDR_MAX + 40];

    snprintf(res->summary, sizeof(res->summary),
	     "%s from=<%s> nrcpt=%zu actions=%s%s%s%s%s%s%s%s%s policy=%s action=%s%s",
	     r->msg->outbound ? "out" : "in",
	     log_clean(from, sizeof(from), r->msg->sender), r->msg->nrecipients,
	     *res->actions ? res->actions : "none",
	     res->verify != EV_NONE ? " verify=" : "", engine_verify_name(res->verify),
	     *res->signer ? " signer=" : "", log_clean(signer, sizeof(signer), res->signer),
	     res->decrypt != ED_NONE ? " decrypt=" : "", engine_decrypt_name(res->decrypt),
	     *res->tls_class ? " tls=" : "", res->tls_class,
	     res->policy_rule ? res->policy_rule->name : "-",
	     config_action_name(res->action), res->error ? " error=1" : "");
}

int     engine_run(const struct cf_config *cfg, const struct engine_msg *msg,
		   struct engine_result *res)
{
    struct run r;
    int     failed;

    memset(res, 0, sizeof(*res));
    res->action = CF_ACTION_ACCEPT;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.msg = msg;
    r.res = res;
    mbuf_init(&r.entity, 0);
    r.subject = msg->subject ? msg->subject : msg_header(msg, "Subject");
    if (r.subject == 0)
	r.subject = "";
    if (mime_first_address(msg_header(msg, "From"), r.from_addr, sizeof(r.from_addr)) < 0)
	(void) addr_normalize(msg->sender ? msg->sender : "", r.from_addr, sizeof(r.from_addr));

    failed = delete_headers(&r, CF_HDR_PREFIX) < 0
	|| (msg->outbound ? run_outbound(&r) : run_inbound(&r)) < 0
	|| apply_policy(&r) < 0;
    if (failed) {
	res->error = 1;
	log_openssl_errors("engine");
    }
    ERR_clear_error();
    make_summary(&r);
    msg_info("%s: %s", *msg->queue_id ? msg->queue_id : "-", res->summary);
    mbuf_free(&r.entity);
    return 0;
}

void    engine_result_free(struct engine_result *res)
{
    for (size_t i = 0; i < res->nedits; i++) {
	free(res->edits[i].name);
	free(res->edits[i].value);
    }
    free(res->edits);
    spool_free(res->body);
    for (size_t i = 0; i < res->nnew_recipients; i++)
	free(res->new_recipients[i]);
    free(res->new_recipients);
    res->edits = 0;
    res->nedits = 0;
    res->body = 0;
    res->new_recipients = 0;
    res->nnew_recipients = 0;
}

/* ---- rendering and parsing -------------------------------------------- */

struct rhdr {
    const char *name;
    const char *value;
    int     deleted;
};

/* Apply EDITS to a copy of the header list.  The returned array may point
 * into MSG and RES; free() it. */
static struct rhdr *apply_edits(const struct engine_msg *msg, const struct engine_result *res,
				size_t *n)
{
    struct rhdr *v = calloc(msg->nheaders + res->nedits + 1, sizeof(*v));

    if (v == 0)
	return 0;
    *n = 0;
    for (size_t i = 0; i < msg->nheaders; i++, (*n)++) {
	v[*n].name = msg->headers[i].name;
	v[*n].value = msg->headers[i].value;
    }
    for (size_t e = 0; e < res->nedits; e++) {
	const struct engine_edit *ed = &res->edits[e];
	int     k = 0;

	if (ed->op == EE_ADD) {
	    v[*n].name = ed->name;
	    v[(*n)++].value = ed->value;
	    continue;
	}
	for (size_t i = 0; i < *n; i++) {
	    if (v[i].deleted || strcasecmp(v[i].name, ed->name) != 0 || ++k != ed->index)
		continue;
	    if (ed->op == EE_DELETE || ed->value == 0)
		v[i].deleted = 1;
	    else
		v[i].value = ed->value;
	    break;
	}
    }
    return v;
}

/* Write TEXT with every line ending as EOL. */
static int put_eol(FILE *fp, const char *text, const char *eol)
{
    for (; *text; text++) {
	if (*text == '\r' && text[1] == '\n')
	    continue;
	if (*text == '\n' ? fputs(eol, fp) < 0 : putc(*text, fp) == EOF)
	    return -1;
    }
    return 0;
}

int     engine_render(const struct engine_msg *msg,
		      const struct engine_result *res, FILE *fp)
{
    struct spool *body = res && res->body ? res->body : msg->body;
    struct engine_result none;
    struct rhdr *v;
    size_t  n;
    const char *eol = "\n";
    unsigned char buf[65536];
    ssize_t got;

    if (res == 0) {
	memset(&none, 0, sizeof(none));
	res = &none;
    }
    /* New bodies are CRLF; keep the input's line ends otherwise. */
    if (res->body || (spool_in_file(msg->body) == 0 && spool_size(msg->body) > 0
		      && memchr(spool_memory(msg->body), '\r',
				(size_t) spool_size(msg->body)) != 0))
	eol = "\r\n";
    if ((v = apply_edits(msg, res, &n)) == 0)
	return -1;
    for (size_t i = 0; i < n; i++) {
	if (v[i].deleted)
	    continue;
	if (fprintf(fp, "%s: ", v[i].name) < 0 || put_eol(fp, v[i].value, eol) < 0
	    || fputs(eol, fp) < 0) {
	    free(v);
	    return -1;
	}
    }
    free(v);
    if (fputs(eol, fp) < 0 || (body && spool_rewind(body) < 0))
	return -1;
    while (body && (got = spool_read(body, buf, sizeof(buf))) > 0)
	if (fwrite(buf, 1, (size_t) got, fp) != (size_t) got)
	    return -1;
    return fflush(fp) == 0 ? 0 : -1;
}

static int push_header(struct engine_msg *msg, const char *name, const char *value)
{
    struct engine_header *v = realloc(msg->headers, (msg->nheaders + 1) * sizeof(*v));

    if (v == 0)
	return -1;
    msg->headers = v;
    if ((v[msg->nheaders].name = strdup(name)) == 0)
	return -1;
    if ((v[msg->nheaders].value = strdup(value)) == 0) {
	free(v[msg->nheaders].name);
	return -1;
    }
    msg->nheaders++;
    return 0;
}

/* Offset just after the empty line that ends the header block, or -1. */
static long header_end(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
	if (p[i] != '\n')
	    continue;
	if (i + 1 < len && p[i + 1] == '\n')
	    return (long) (i + 2);
	if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
	    return (long) (i + 3);
    }
    return -1;
}

int     engine_msg_parse(struct spool *src, size_t memory_limit,
			 const char *spool_dir, struct engine_msg *msg)
{
    struct mbuf head;
    struct mime_headers h;
    unsigned char buf[65536];
    ssize_t n;
    long    end = -1;
    size_t  skip = 0, off;
    int     ret = -1;

    memset(&h, 0, sizeof(h));
    msg->headers = 0;
    msg->nheaders = 0;
    if ((msg->body = spool_new(memory_limit, spool_dir)) == 0)
	return -1;
    mbuf_init(&head, ENGINE_MAX_HEADER_BYTES);
    if (spool_rewind(src) < 0)
	goto done;
    /* Collect the header block (bounded), the rest goes to the body. */
    while (end < 0 && (n = spool_read(src, buf, sizeof(buf))) > 0) {
	if (mbuf_add(&head, buf, (size_t) n) < 0) {
	    msg_warn("message header block larger than %u bytes", ENGINE_MAX_HEADER_BYTES);
	    goto done;
	}
	if (head.len > 0 && (head.data[0] == '\n' || (head.data[0] == '\r' && head.len > 1)))
	    end = head.data[0] == '\n' ? 1 : 2;	/* no header at all */
	else
	    end = header_end(head.data, head.len);
    }
    if (end < 0)
	end = (long) head.len;
    if (mbuf_terminate(&head) < 0)	/* also gives an empty input a buffer */
	goto done;
    /* An mbox "From " line is not a header. */
    if (head.len > 5 && memcmp(head.data, "From ", 5) == 0) {
	const unsigned char *nl = memchr(head.data, '\n', head.len);

	skip = nl ? (size_t) (nl - head.data) + 1 : 0;
    }
    if (mime_parse_headers(head.data + skip, (size_t) end - skip, &h, &off) < 0)
	goto done;
    for (size_t i = 0; i < h.n; i++)
	if (push_header(msg, h.v[i].name, h.v[i].value) < 0)
	    goto done;
    /* Lines that did not parse as headers belong to the body. */
    if (spool_write(msg->body, head.data + skip + off, head.len - skip - off) < 0)
	goto done;
    while ((n = spool_read(src, buf, sizeof(buf))) > 0)
	if (spool_write(msg->body, buf, (size_t) n) < 0)
	    goto done;
    ret = n < 0 ? -1 : 0;

done:
    mime_headers_free(&h);
    mbuf_free(&head);
    if (ret < 0)
	engine_msg_free(msg);
    return ret;
}

void    engine_msg_free(struct engine_msg *msg)
{
    for (size_t i = 0; i < msg->nheaders; i++) {
	free(msg->headers[i].name);
	free(msg->headers[i].value);
    }
    free(msg->headers);
    msg->headers = 0;
    msg->nheaders = 0;
    spool_free(msg->body);
    msg->body = 0;
}
