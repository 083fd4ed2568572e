/*
 * smime - OpenSSL CMS sign / encrypt / decrypt / verify of one MIME
 * entity; see smime.h.
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "smime.h"
#include "spool.h"

/* Hard cap on a CMS structure we parse from outside (DER bytes). */
#define SMIME_MAX_DER	(512u * 1024 * 1024)

enum smime_kind smime_classify(const char *content_type)
{
    char    type[128], param[64];

    if (content_type == 0)
	return SMIME_PLAIN;
    mime_content_type(content_type, type, sizeof(type));
    if (strcmp(type, "multipart/signed") == 0) {
	if (mime_param(content_type, "protocol", param, sizeof(param)) == 0
	    && (strcasecmp(param, "application/pkcs7-signature") == 0
		|| strcasecmp(param, "application/x-pkcs7-signature") == 0))
	    return SMIME_SIGNED_DETACHED;
	return SMIME_PLAIN;
    }
    if (strcmp(type, "application/pkcs7-mime") != 0
	&& strcmp(type, "application/x-pkcs7-mime") != 0)
	return SMIME_PLAIN;
    if (mime_param(content_type, "smime-type", param, sizeof(param)) == 0) {
	if (strcasecmp(param, "signed-data") == 0)
	    return SMIME_SIGNED_OPAQUE;
	if (strcasecmp(param, "enveloped-data") == 0
	    || strcasecmp(param, "authEnveloped-data") == 0)
	    return SMIME_ENVELOPED;
	return SMIME_OTHER;
    }
    /* Old clients leave smime-type out: the CMS type decides later. */
    return SMIME_OTHER;
}

static const EVP_MD *digest_md(enum cf_digest d)
{
    switch (d) {
    case CF_DIGEST_SHA384:
	return EVP_sha384();
    case CF_DIGEST_SHA512:
	return EVP_sha512();
    default:
	return EVP_sha256();
    }
}

static const char *digest_micalg(enum cf_digest d)
{
    switch (d) {
    case CF_DIGEST_SHA384:
	return "sha-384";
    case CF_DIGEST_SHA512:
	return "sha-512";
    default:
	return "sha-256";
    }
}

/* Ciphers fetched from the provider once: OpenSSL 3 would otherwise look
 * each one up again for every message. */
static EVP_CIPHER *fetched_ciphers[CF_CIPHER_DES_EDE3_CBC + 1];
static pthread_once_t ciphers_once = PTHREAD_ONCE_INIT;

static const EVP_CIPHER *legacy_cipher(enum cf_cipher c);

static void ciphers_init(void)
{
    for (int c = 0; c <= CF_CIPHER_DES_EDE3_CBC; c++)
	fetched_ciphers[c] = EVP_CIPHER_fetch(0, EVP_CIPHER_get0_name(legacy_cipher(c)), 0);
    ERR_clear_error();
}

static const EVP_CIPHER *cipher_of(enum cf_cipher c)
{
    pthread_once(&ciphers_once, ciphers_init);
    if ((unsigned) c <= CF_CIPHER_DES_EDE3_CBC && fetched_ciphers[c])
	return fetched_ciphers[c];
    return legacy_cipher(c);
}

static const EVP_CIPHER *legacy_cipher(enum cf_cipher c)
{
    switch (c) {
    case CF_CIPHER_AES_128_CBC:
	return EVP_aes_128_cbc();
    case CF_CIPHER_AES_192_CBC:
	return EVP_aes_192_cbc();
    case CF_CIPHER_AES_128_GCM:
	return EVP_aes_128_gcm();
    case CF_CIPHER_AES_256_GCM:
	return EVP_aes_256_gcm();
    case CF_CIPHER_DES_EDE3_CBC:
	return EVP_des_ede3_cbc();
    default:
	return EVP_aes_256_cbc();
    }
}


/*
 * A sink BIO that appends to an mbuf, optionally as base64 in 76-column
 * CRLF lines.  OpenSSL streams the CMS output (encrypted content, DER)
 * straight into it, so the message is not held twice more in memory.
 */
struct sink {
    struct mbuf *out;			/* one of these two */
    struct spool *sp;
    int     b64;
    unsigned char carry[3];		/* bytes of an incomplete group */
    int     ncarry;
    int     col;
    int     failed;
    char    text[8192];			/* encoded text waiting for the mbuf */
    size_t  ntext;
};

static BIO_METHOD *sink_method;
static pthread_once_t sink_once = PTHREAD_ONCE_INIT;

/* Append to the mbuf or the spool. */
static int sink_put(struct sink *k, const void *data, size_t len)
{
    return k->sp ? spool_write(k->sp, data, len) : mbuf_add(k->out, data, len);
}

static int sink_drain(struct sink *k)
{
    if (k->ntext && sink_put(k, k->text, k->ntext) < 0)
	return -1;
    k->ntext = 0;
    return 0;
}

/* Encode one group of N (1..3) bytes, breaking lines at 76 columns. */
static int sink_b64_group(struct sink *k, const unsigned char *g, int n)
{
    static const char tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t v = (uint32_t) g[0] << 16 | (n > 1 ? (uint32_t) g[1] << 8 : 0) | (n > 2 ? g[2] : 0);
    char   *q;

    if (k->ntext + 6 > sizeof(k->text) && sink_drain(k) < 0)
	return -1;
    q = k->text + k->ntext;
    q[0] = tab[(v >> 18) & 63];
    q[1] = tab[(v >> 12) & 63];
    q[2] = n > 1 ? tab[(v >> 6) & 63] : '=';
    q[3] = n > 2 ? tab[v & 63] : '=';
    k->ntext += 4;
    if ((k->col += 4) >= 76) {
	q[4] = '\r';
	q[5] = '\n';
	k->ntext += 2;
	k->col = 0;
    }
    return 0;
}

static int sink_write(BIO *b, const char *data, int len)
{
    struct sink *k = BIO_get_data(b);
    const unsigned char *p = (const unsigned char *) data;
    int     i = 0;

    if (k == 0 || k->failed || len < 0)
	return -1;
    if (!k->b64) {
	if (sink_put(k, data, (size_t) len) < 0)
	    return k->failed = 1, -1;
	return len;
    }
    while (k->ncarry > 0 && k->ncarry < 3 && i < len)
	k->carry[k->ncarry++] = p[i++];
    if (k->ncarry == 3) {
	if (sink_b64_group(k, k->carry, 3) < 0)
	    return k->failed = 1, -1;
	k->ncarry = 0;
    }
    /* Up to a line start group by group, then whole lines at once. */
    for (; len - i >= 3 && k->col != 0; i += 3)
	if (sink_b64_group(k, p + i, 3) < 0)
	    return k->failed = 1, -1;
    while (len - i >= 57) {
	size_t  lines = (size_t) (len - i) / 57;

	if (lines > (sizeof(k->text) - k->ntext) / 78) {
	    if (sink_drain(k) < 0)
		return k->failed = 1, -1;
	    if (lines > sizeof(k->text) / 78)
		lines = sizeof(k->text) / 78;
	}
	k->ntext += mime_base64_lines(p + i, lines * 57, k->text + k->ntext);
	i += (int) (lines * 57);
    }
    for (; len - i >= 3; i += 3)
	if (sink_b64_group(k, p + i, 3) < 0)
	    return k->failed = 1, -1;
    while (i < len)
	k->carry[k->ncarry++] = p[i++];
    return len;
}

static long sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct sink *k = BIO_get_data(b);

    (void) num;
    (void) ptr;
    if (cmd != BIO_CTRL_FLUSH)
	return 0;
    if (k == 0 || k->failed)
	return 0;
    if (k->b64 && k->ncarry) {
	if (sink_b64_group(k, k->carry, k->ncarry) < 0)
	    return 0;
	k->ncarry = 0;
    }
    if (k->b64 && k->col) {
	if (k->ntext + 2 > sizeof(k->text) && sink_drain(k) < 0)
	    return 0;
	k->text[k->ntext++] = '\r';
	k->text[k->ntext++] = '\n';
	k->col = 0;
    }
    return sink_drain(k) < 0 ? 0 : 1;
}

static void sink_init(void)
{
    if ((sink_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				    "cryptofilter mbuf sink")) != 0) {
	BIO_meth_set_write(sink_method, sink_write);
	BIO_meth_set_ctrl(sink_method, sink_ctrl);
    }
}

/* A BIO writing into OUT or SP through K (which must outlive the BIO). */
static BIO *sink_bio(struct sink *k, struct mbuf *out, struct spool *sp, int b64)
{
    BIO    *b;

    pthread_once(&sink_once, sink_init);
    memset(k, 0, sizeof(*k));
    k->out = out;
    k->sp = sp;
    k->b64 = b64;
    if (sink_method == 0 || (b = BIO_new(sink_method)) == 0)
	return 0;
    BIO_set_data(b, k);
    BIO_set_init(b, 1);
    return b;
}

/*
 * A source BIO reading an entity too large for memory: its header block
 * (in memory) and then its body (a spool, usually a file).  OpenSSL pulls
 * the content through it in small pieces while signing or encrypting.
 */
struct source {
    const unsigned char *head;
    size_t  hlen;
    size_t  hpos;
    struct spool *body;
    int     failed;
};

static BIO_METHOD *source_method;
static pthread_once_t source_once = PTHREAD_ONCE_INIT;

static int source_read(BIO *b, char *buf, int len)
{
    struct source *s = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (s == 0 || s->failed || len <= 0)
	return s && s->failed ? -1 : 0;
    if (s->hpos < s->hlen) {
	size_t  k = s->hlen - s->hpos < (size_t) len ? s->hlen - s->hpos : (size_t) len;

	memcpy(buf, s->head + s->hpos, k);
	s->hpos += k;
	return (int) k;
    }
    if (s->body == 0)
	return 0;
    if ((n = spool_read(s->body, buf, (size_t) len)) < 0) {
	s->failed = 1;
	return -1;
    }
    return (int) n;
}

static long source_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void) b;
    (void) num;
    (void) ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static void source_init(void)
{
    if ((source_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
				      "cryptofilter spool source")) != 0) {
	BIO_meth_set_read(source_method, source_read);
	BIO_meth_set_ctrl(source_method, source_ctrl);
    }
}

/* Read the entity again from its start. */
static int source_restart(struct source *s)
{
    s->hpos = 0;
    return s->failed || (s->body && spool_rewind(s->body) < 0) ? -1 : 0;
}

/* A BIO reading HEAD, then BODY from its start, through S (which must
 * outlive the BIO). */
static BIO *source_bio(struct source *s, const unsigned char *head, size_t hlen,
		       struct spool *body)
{
    BIO    *b;

    pthread_once(&source_once, source_init);
    memset(s, 0, sizeof(*s));
    s->head = head;
    s->hlen = hlen;
    s->body = body;
    if (source_method == 0 || (body && spool_rewind(body) < 0)
	|| (b = BIO_new(source_method)) == 0)
	return 0;
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    return b;
}

/* DER of CMS appended to OUT (or SP) as base64, streaming the content
 * from IN when CMS was made with CMS_STREAM. */
static int cms_stream_base64(CMS_ContentInfo *cms, BIO *in, unsigned flags,
			     struct mbuf *out, struct spool *sp)
{
    struct sink k;
    BIO    *b = sink_bio(&k, out, sp, 1);
    int     ok;

    if (b == 0)
	return -1;
    ok = i2d_CMS_bio_stream(b, cms, in, (int) flags) == 1 && BIO_flush(b) == 1 && !k.failed;
    if (!ok)
	log_openssl_errors("smime: encode");
    BIO_free(b);
    return ok ? 0 : -1;
}

static int p7m_headers(struct mbuf *out, const char *smime_type, const char *name)
{
    return mbuf_printf(out, "Content-Type: application/pkcs7-mime; smime-type=%s; name=%s\r\n"
		       "Content-Transfer-Encoding: base64\r\n"
		       "Content-Disposition: attachment; filename=%s\r\n\r\n",
		       smime_type, name, name);
}

/* The SMIMECapabilities attribute OpenSSL would add to every signature,
 * encoded once instead of for each message. */
static unsigned char *smimecap;
static int smimecap_len;
static pthread_once_t smimecap_once = PTHREAD_ONCE_INIT;

static void smimecap_init(void)
{
    STACK_OF(X509_ALGOR) *caps = 0;

    if (CMS_add_standard_smimecap(&caps) == 1)
	smimecap_len = i2d_X509_ALGORS(caps, &smimecap);
    if (smimecap_len <= 0)
	smimecap = 0;
    sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
    ERR_clear_error();
}

static const unsigned char *smimecap_der(int *len)
{
    pthread_once(&smimecap_once, smimecap_init);
    *len = smimecap_len;
    return smimecap;
}

/* A CMS SignedData over ENTITY: detached, or opaque made for streaming. */
static CMS_ContentInfo *sign_cms(BIO *in, const struct cs_key *signer, enum cf_digest digest,
				 int opaque, unsigned *flags)
{
    CMS_ContentInfo *cms;

    CMS_SignerInfo *si = 0;
    const unsigned char *caps;
    int     ncaps;

    *flags = CMS_PARTIAL | CMS_BINARY | (opaque ? CMS_STREAM : CMS_DETACHED);
    if ((cms = CMS_sign(0, 0, signer->chain, in, *flags)) == 0
	|| (si = CMS_add1_signer(cms, signer->cert, signer->key, digest_md(digest),
				 CMS_NOSMIMECAP)) == 0
	|| ((caps = smimecap_der(&ncaps)) != 0
	    && CMS_signed_add1_attr_by_NID(si, NID_SMIMECapabilities, V_ASN1_SEQUENCE,
					   caps, ncaps) != 1)
	|| (!opaque && CMS_final(cms, in, 0, *flags) != 1)) {
	log_openssl_errors("smime: sign");
	msg_warn("smime: signing with %s failed", signer->path);
	CMS_ContentInfo_free(cms);
	return 0;
    }
    return cms;
}

/*
 * A detached SignedData for an RSA signer, encoded directly (RFC 5652):
 * the same structure OpenSSL's CMS code makes (version 1, issuer and
 * serial, contentType / signingTime / messageDigest / SMIMECapabilities
 * signed attributes, rsaEncryption, the certificates of the key file),
 * without building and copying the ASN.1 object tree for every message.
 * Other key types go through CMS_sign.
 */

/* Append the DER length N. */
static int der_len(struct mbuf *o, size_t n)
{
    unsigned char b[9];
    int     k = 0;

    if (n < 128)
	return mbuf_add(o, (unsigned char[]) {(unsigned char) n}, 1);
    for (size_t v = n; v; v >>= 8)
	k++;
    b[0] = (unsigned char) (0x80 | k);
    for (int i = 0; i < k; i++)
	b[1 + i] = (unsigned char) (n >> (8 * (k - 1 - i)));
    return mbuf_add(o, b, (size_t) k + 1);
}

/* Append TAG, length and the content V. */
static int der_tlv(struct mbuf *o, unsigned char tag, const void *v, size_t n)
{
    return mbuf_add(o, &tag, 1) < 0 || der_len(o, n) < 0 || mbuf_add(o, v, n) < 0 ? -1 : 0;
}

/* Append the DER of X made by the i2d function F; 0 or -1. */
#define DER_ADD(o, f, x) __extension__ ({ \
	unsigned char *der_ = 0; \
	int     n_ = f((x), &der_); \
	int     r_ = n_ > 0 ? mbuf_add((o), der_, (size_t) n_) : -1; \
	OPENSSL_free(der_); \
	r_; })

/* One Attribute: SEQUENCE { OID NID, SET { VALUE (a whole TLV) } }. */
static int der_attr(struct mbuf *o, int nid, const unsigned char *value, size_t n)
{
    struct mbuf a, set;
    int     ret;

    mbuf_init(&a, 0);
    mbuf_init(&set, 0);
    ret = DER_ADD(&a, i2d_ASN1_OBJECT, OBJ_nid2obj(nid)) < 0
	|| der_tlv(&set, 0x31, value, n) < 0 || mbuf_add(&a, set.data, set.len) < 0
	|| der_tlv(o, 0x30, a.data, a.len) < 0 ? -1 : 0;
    mbuf_free(&a);
    mbuf_free(&set);
    return ret;
}

/* ContentInfo ::= SEQUENCE { contentType NID, [0] EXPLICIT SEQUENCE
 * { BODY } }, appended to OUT; BODY is the content's fields. */
static int der_content_info(struct mbuf *out, int nid, const struct mbuf *body)
{
    struct mbuf seq, ci;
    int     ret;

    mbuf_init(&seq, 0);
    mbuf_init(&ci, 0);
    ret = der_tlv(&seq, 0x30, body->data, body->len) < 0
	|| DER_ADD(&ci, i2d_ASN1_OBJECT, OBJ_nid2obj(nid)) < 0
	|| der_tlv(&ci, 0xa0, seq.data, seq.len) < 0
	|| der_tlv(out, 0x30, ci.data, ci.len) < 0 ? -1 : 0;
    mbuf_free(&seq);
    mbuf_free(&ci);
    return ret;
}

/* DER SET OF order: encodings compared as octet strings. */
static int der_cmp(const void *a, const void *b)
{
    const struct mbuf *x = a, *y = b;
    size_t  n = x->len < y->len ? x->len : y->len;
    int     c = memcmp(x->data, y->data, n);

    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The signed attributes as a SET (what is signed); 0 or -1. */
static int signed_attrs(const unsigned char *md, unsigned mdlen, struct mbuf *set)
{
    struct mbuf attr[4], body, val;
    unsigned char utc[15];
    char    stamp[64];
    time_t  now = time(0);
    struct tm tm;
    const unsigned char *caps;
    int     ncaps, n = 0, ret = -1;

    mbuf_init(&body, 0);
    mbuf_init(&val, 0);
    for (int i = 0; i < 4; i++)
	mbuf_init(&attr[i], 0);
    gmtime_r(&now, &tm);
    if (tm.tm_year + 1900 >= 2050)	/* GeneralizedTime from 2050: leave it to OpenSSL */
	goto done;
    utc[0] = 0x17;			/* UTCTime YYMMDDHHMMSSZ */
    utc[1] = 13;
    snprintf(stamp, sizeof(stamp), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
	     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (strlen(stamp) != 13)
	goto done;
    memcpy(utc + 2, stamp, 13);
    if (DER_ADD(&val, i2d_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data)) < 0
	|| der_attr(&attr[n++], NID_pkcs9_contentType, val.data, val.len) < 0
	|| der_attr(&attr[n++], NID_pkcs9_signingTime, utc, 15) < 0)
	goto done;
    val.len = 0;
    if (der_tlv(&val, 0x04, md, mdlen) < 0
	|| der_attr(&attr[n++], NID_pkcs9_messageDigest, val.data, val.len) < 0)
	goto done;
    if ((caps = smimecap_der(&ncaps)) != 0
	&& der_attr(&attr[n++], NID_SMIMECapabilities, caps, (size_t) ncaps) < 0)
	goto done;
    qsort(attr, (size_t) n, sizeof(attr[0]), der_cmp);
    for (int i = 0; i < n; i++)
	if (mbuf_add(&body, attr[i].data, attr[i].len) < 0)
	    goto done;
    ret = der_tlv(set, 0x31, body.data, body.len);

done:
    for (int i = 0; i < 4; i++)
	mbuf_free(&attr[i]);
    mbuf_free(&body);
    mbuf_free(&val);
    return ret;
}

/* AlgorithmIdentifier of MD (no parameters, as OpenSSL writes it) and of
 * rsaEncryption (NULL parameters). */
static int der_alg(struct mbuf *o, int nid, int null_param)
{
    struct mbuf a;
    int     ret;

    mbuf_init(&a, 0);
    ret = DER_ADD(&a, i2d_ASN1_OBJECT, OBJ_nid2obj(nid)) < 0
	|| (null_param && mbuf_add(&a, "\x05\x00", 2) < 0)
	|| der_tlv(o, 0x30, a.data, a.len) < 0 ? -1 : 0;
    mbuf_free(&a);
    return ret;
}

/* The SignerInfo for SIGNER over the content digest MD. */
static int signer_info(const struct cs_key *signer, const EVP_MD *evp, const unsigned char *md,
		       unsigned mdlen, struct mbuf *out)
{
    struct mbuf si, ias, set, sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t  siglen = 0;
    int     ret = -1;

    mbuf_init(&si, 0);
    mbuf_init(&ias, 0);
    mbuf_init(&set, 0);
    mbuf_init(&sig, 0);
    if (ctx == 0 || signed_attrs(md, mdlen, &set) < 0
	|| EVP_DigestSignInit(ctx, 0, evp, 0, signer->key) != 1
	|| EVP_DigestSign(ctx, 0, &siglen, set.data, set.len) != 1
	|| mbuf_add(&sig, 0, 0) < 0 || siglen > 4096)
	goto done;
    {
	unsigned char buf[4096];

	if (EVP_DigestSign(ctx, buf, &siglen, set.data, set.len) != 1
	    || mbuf_add(&sig, buf, siglen) < 0)
	    goto done;
    }
    /* [0] IMPLICIT: the SET tag becomes context tag 0, constructed. */
    set.data[0] = 0xa0;
    if (mbuf_add(&si, "\x02\x01\x01", 3) < 0
	|| DER_ADD(&ias, i2d_X509_NAME, X509_get_issuer_name(signer->cert)) < 0
	|| DER_ADD(&ias, i2d_ASN1_INTEGER, X509_get0_serialNumber(signer->cert)) < 0
	|| der_tlv(&si, 0x30, ias.data, ias.len) < 0
	|| der_alg(&si, EVP_MD_get_type(evp), 0) < 0
	|| mbuf_add(&si, set.data, set.len) < 0
	|| der_alg(&si, NID_rsaEncryption, 1) < 0
	|| der_tlv(&si, 0x04, sig.data, sig.len) < 0
	|| der_tlv(out, 0x30, si.data, si.len) < 0)
	goto done;
    ret = 0;

done:
    if (ret < 0)
	log_openssl_errors("smime: sign");
    EVP_MD_CTX_free(ctx);
    mbuf_free(&si);
    mbuf_free(&ias);
    mbuf_free(&set);
    mbuf_free(&sig);
    return ret;
}

/* The digest of everything IN gives. */
static int digest_bio(BIO *in, const EVP_MD *evp, unsigned char *md, unsigned *mdlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char    buf[16384];
    int     n, ret = -1;

    if (ctx == 0 || EVP_DigestInit_ex(ctx, evp, 0) != 1)
	goto done;
    while ((n = BIO_read(in, buf, sizeof(buf))) > 0)
	if (EVP_DigestUpdate(ctx, buf, (size_t) n) != 1)
	    goto done;
    if (n < 0 || EVP_DigestFinal_ex(ctx, md, mdlen) != 1)
	goto done;
    ret = 0;

done:
    EVP_MD_CTX_free(ctx);
    return ret;
}

/* The signer's certificate and chain, DER, in SET OF order, into OUT. */
static int sorted_certs(const struct cs_key *signer, struct mbuf *out)
{
    int     n = 1 + sk_X509_num(signer->chain), ret = -1, made = 0;
    struct mbuf *v = calloc((size_t) n, sizeof(*v));

    if (v == 0)
	return -1;
    for (; made < n; made++) {
	mbuf_init(&v[made], 0);
	if (DER_ADD(&v[made], i2d_X509, made == 0 ? signer->cert
		    : sk_X509_value(signer->chain, made - 1)) < 0)
	    goto done;
    }
    qsort(v, (size_t) n, sizeof(*v), der_cmp);
    for (int i = 0; i < n; i++)
	if (mbuf_add(out, v[i].data, v[i].len) < 0)
	    goto done;
    ret = 0;

done:
    for (int i = 0; i < made && i < n; i++)
	mbuf_free(&v[i]);
    if (made < n)
	mbuf_free(&v[made]);
    free(v);
    return ret;
}

/* Detached SignedData DER over IN into OUT for an RSA signer; 1 when
 * made, 0 when this signer needs CMS_sign (nothing read), -1 error. */
static int rsa_signed_data(BIO *in, const struct cs_key *signer, enum cf_digest digest,
			   struct mbuf *out)
{
    const EVP_MD *evp = digest_md(digest);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen;
    struct mbuf sd, certs, sis, tmp;
    time_t  now = time(0);
    struct tm tm;
    int     ret = -1;

    if (signer->key == 0 || EVP_PKEY_get_base_id(signer->key) != EVP_PKEY_RSA
	|| gmtime_r(&now, &tm) == 0 || tm.tm_year + 1900 >= 2049)
	return 0;
    mbuf_init(&sd, 0);
    mbuf_init(&certs, 0);
    mbuf_init(&sis, 0);
    mbuf_init(&tmp, 0);
    if (digest_bio(in, evp, md, &mdlen) < 0 || signer_info(signer, evp, md, mdlen, &sis) < 0)
	goto done;
    if (sorted_certs(signer, &certs) < 0)
	goto done;
    /* SignedData: version, digestAlgorithms, encapContentInfo (data, no
     * content), [0] certificates, signerInfos. */
    if (mbuf_add(&sd, "\x02\x01\x01", 3) < 0
	|| der_alg(&tmp, EVP_MD_get_type(evp), 0) < 0
	|| der_tlv(&sd, 0x31, tmp.data, tmp.len) < 0)
	goto done;
    tmp.len = 0;
    if (DER_ADD(&tmp, i2d_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data)) < 0
	|| der_tlv(&sd, 0x30, tmp.data, tmp.len) < 0
	|| der_tlv(&sd, 0xa0, certs.data, certs.len) < 0
	|| der_tlv(&sd, 0x31, sis.data, sis.len) < 0)
	goto done;
    if (der_content_info(out, NID_pkcs7_signed, &sd) < 0)
	goto done;
    ret = 1;

done:
    if (ret < 0)
	msg_warn("smime: signing with %s failed", signer->path);
    mbuf_free(&sd);
    mbuf_free(&certs);
    mbuf_free(&sis);
    mbuf_free(&tmp);
    return ret;
}

/* The DER of a detached signature over IN, into OUT.  0 or -1. */
static int detached_signature(BIO *in, const struct cs_key *signer, enum cf_digest digest,
			      struct mbuf *out)
{
    CMS_ContentInfo *cms;
    unsigned flags;
    unsigned char *der = 0;
    int     n, ret;

    if ((ret = rsa_signed_data(in, signer, digest, out)) != 0)
	return ret < 0 ? -1 : 0;
    if ((cms = sign_cms(in, signer, digest, 0, &flags)) == 0)
	return -1;
    if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
	log_openssl_errors("smime: encode");
	ret = -1;
    } else {
	ret = mbuf_add(out, der, (size_t) n);
    }
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    return ret;
}

/* What goes before and after the entity in a multipart/signed. */
static int detached_parts(const struct mbuf *der, enum cf_digest digest,
			  struct mbuf *head, struct mbuf *tail)
{
    char    boundary[64];

    mime_make_boundary(boundary, sizeof(boundary));
    if (mbuf_printf(head, "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";"
		    "\r\n\tmicalg=%s; boundary=\"%s\"\r\n\r\n"
		    "This is an S/MIME signed message\r\n\r\n--%s\r\n",
		    digest_micalg(digest), boundary, boundary) < 0
	|| mbuf_printf(tail, "\r\n--%s\r\n"
		       "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
		       "Content-Transfer-Encoding: base64\r\n"
		       "Content-Disposition: attachment; filename=smime.p7s\r\n\r\n",
		       boundary) < 0
	|| mime_base64_encode(der->data, der->len, tail) < 0
	|| mbuf_printf(tail, "\r\n--%s--\r\n", boundary) < 0)
	return -1;
    return 0;
}

int     smime_sign(const unsigned char *entity, size_t len, const struct cs_key *signer,
		   enum cf_digest digest, int opaque, struct mbuf *out)
{
    BIO    *in = len <= INT_MAX ? BIO_new_mem_buf(entity, (int) len) : 0;
    CMS_ContentInfo *cms = 0;
    struct mbuf head, tail;
    unsigned flags;
    int     ret = -1;

    struct mbuf der;

    mbuf_init(&head, 0);
    mbuf_init(&tail, 0);
    mbuf_init(&der, 0);
    if (in == 0)
	goto done;
    if (opaque) {
	/* The content is streamed into the output, not copied first. */
	if ((cms = sign_cms(in, signer, digest, 1, &flags)) == 0
	    || p7m_headers(out, "signed-data", "smime.p7m") < 0
	    || cms_stream_base64(cms, in, flags, out, 0) < 0)
	    goto done;
    } else if (detached_signature(in, signer, digest, &der) < 0
	       || detached_parts(&der, digest, &head, &tail) < 0
	       || mbuf_add(out, head.data, head.len) < 0
	       || mbuf_add(out, entity, len) < 0
	       || mbuf_add(out, tail.data, tail.len) < 0)
	goto done;
    ret = 0;

done:
    mbuf_free(&head);
    mbuf_free(&tail);
    mbuf_free(&der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return ret;
}

int     smime_sign_entity(struct mbuf *entity, const struct cs_key *signer,
			  enum cf_digest digest, int opaque)
{
    BIO    *in;
    struct mbuf head, tail, der;
    int     ret = -1;

    if (opaque) {
	struct mbuf out;

	mbuf_init(&out, 0);
	if (smime_sign(entity->data, entity->len, signer, digest, 1, &out) < 0) {
	    mbuf_free(&out);
	    return -1;
	}
	mbuf_free(entity);
	*entity = out;
	return 0;
    }
    if (entity->len > INT_MAX || (in = BIO_new_mem_buf(entity->data, (int) entity->len)) == 0)
	return -1;
    mbuf_init(&head, 0);
    mbuf_init(&tail, 0);
    mbuf_init(&der, 0);
    /* The signed entity stays where it is; the rest is put around it. */
    if (detached_signature(in, signer, digest, &der) == 0
	&& detached_parts(&der, digest, &head, &tail) == 0
	&& mbuf_add(entity, tail.data, tail.len) == 0
	&& mbuf_prepend(entity, head.data, head.len) == 0)
	ret = 0;
    mbuf_free(&head);
    mbuf_free(&tail);
    mbuf_free(&der);
    BIO_free(in);
    return ret;
}

/* Add one recipient; RSA with OAEP when asked (SHA-256 for OAEP and MGF1). */
static int add_recipient(CMS_ContentInfo *cms, X509 *cert, enum cf_key_transport kt)
{
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    int     oaep = kt == CF_KEY_TRANSPORT_OAEP && pub && EVP_PKEY_is_a(pub, "RSA");
    CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert, oaep ? CMS_KEY_PARAM : 0);
    EVP_PKEY_CTX *pctx;

    if (ri == 0)
	return -1;
    if (!oaep)
	return 0;
    if ((pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) == 0
	|| EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0
	|| EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0
	|| EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
	return -1;
    return 0;
}

/* Finish CMS over the content IN at once, then append its DER to OUT (or
 * SP) as base64: for contents in memory this is cheaper than the chain
 * of streaming BIOs. */
static int cms_final_base64(CMS_ContentInfo *cms, BIO *in, unsigned flags,
			    struct mbuf *out, struct spool *sp)
{
    unsigned char *der = 0;
    int     n;
    struct mbuf text;
    int     ret;

    if (CMS_final(cms, in, 0, flags) != 1 || (n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
	log_openssl_errors("smime: encode");
	return -1;
    }
    if (out) {
	ret = mime_base64_encode(der, (size_t) n, out);
    } else {
	mbuf_init(&text, 0);
	ret = mime_base64_encode(der, (size_t) n, &text) < 0
	    || spool_write(sp, text.data, text.len) < 0 ? -1 : 0;
	mbuf_free(&text);
    }
    OPENSSL_free(der);
    return ret;
}

/* Encrypt what IN gives into OUT (headers + body) or, with SP, only the
 * base64 body into SP; *SMIME_TYPE gets the smime-type.  STREAM: IN is
 * large, encrypt it while it is written out. */
static int encrypt_bio(BIO *in, int stream, X509 *const *certs, size_t ncerts,
		       enum cf_cipher cipher, enum cf_key_transport kt, struct mbuf *out,
		       struct spool *sp, const char **smime_type)
{
    unsigned flags = CMS_PARTIAL | CMS_BINARY;
    const EVP_CIPHER *ciph = cipher_of(cipher);
    int     aead = (EVP_CIPHER_get_flags(ciph) & EVP_CIPH_FLAG_AEAD_CIPHER) != 0;
    CMS_ContentInfo *cms = 0;
    int     ret = -1;

    *smime_type = aead ? "authEnveloped-data" : "enveloped-data";
    if (in == 0 || ncerts == 0)
	goto done;
    /* CMS_encrypt makes AuthEnvelopedData for an AEAD cipher (RFC 5083);
     * with CMS_STREAM the content is encrypted while it is written out. */
    if ((cms = CMS_encrypt(0, in, ciph, flags | CMS_STREAM)) == 0) {
	log_openssl_errors("smime: encrypt");
	goto done;
    }
    for (size_t i = 0; i < ncerts; i++)
	if (add_recipient(cms, certs[i], kt) < 0) {
	    log_openssl_errors("smime: encrypt: recipient");
	    goto done;
	}
    if (out && p7m_headers(out, *smime_type, "smime.p7m") < 0)
	goto done;
    if (stream ? cms_stream_base64(cms, in, flags | CMS_STREAM, out, sp) < 0
	: cms_final_base64(cms, in, flags, out, sp) < 0)
	goto done;
    ret = 0;

done:
    CMS_ContentInfo_free(cms);
    return ret;
}

/*
 * EnvelopedData for RSA recipients with PKCS #1 v1.5 key transport and a
 * CBC cipher, encoded directly (RFC 5652): version 0, one
 * KeyTransRecipientInfo (issuer and serial, rsaEncryption) per recipient,
 * the content encrypted at once.  The same structure CMS_encrypt makes,
 * without its object tree and BIO chain per message; anything else
 * (OAEP, GCM, EC recipients) goes through CMS_encrypt.
 */

/* One KeyTransRecipientInfo: KEY encrypted to CERT. */
static int ktri(X509 *cert, const unsigned char *key, size_t keylen, struct mbuf *out)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(0, X509_get0_pubkey(cert), 0);
    unsigned char ek[1024];
    size_t  eklen = sizeof(ek);
    struct mbuf ri, ias;
    int     ret = -1;

    mbuf_init(&ri, 0);
    mbuf_init(&ias, 0);
    if (ctx == 0 || EVP_PKEY_encrypt_init(ctx) != 1
	|| EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0
	|| EVP_PKEY_encrypt(ctx, 0, &eklen, key, keylen) != 1 || eklen > sizeof(ek)
	|| EVP_PKEY_encrypt(ctx, ek, &eklen, key, keylen) != 1)
	goto done;
    if (mbuf_add(&ri, "\x02\x01\x00", 3) < 0
	|| DER_ADD(&ias, i2d_X509_NAME, X509_get_issuer_name(cert)) < 0
	|| DER_ADD(&ias, i2d_ASN1_INTEGER, X509_get0_serialNumber(cert)) < 0
	|| der_tlv(&ri, 0x30, ias.data, ias.len) < 0
	|| der_alg(&ri, NID_rsaEncryption, 1) < 0
	|| der_tlv(&ri, 0x04, ek, eklen) < 0
	|| der_tlv(out, 0x30, ri.data, ri.len) < 0)
	goto done;
    ret = 0;

done:
    EVP_PKEY_CTX_free(ctx);
    mbuf_free(&ri);
    mbuf_free(&ias);
    return ret;
}

/* The EncryptedContentInfo of ENTITY under a fresh KEY (KEYLEN bytes). */
static int encrypted_content(const EVP_CIPHER *ciph, const unsigned char *entity, size_t len,
			     unsigned char *key, struct mbuf *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char iv[EVP_MAX_IV_LENGTH];
    int     ivlen = EVP_CIPHER_get_iv_length(ciph), n1 = 0, n2 = 0;
    struct mbuf eci, alg, enc;
    int     ret = -1;

    mbuf_init(&eci, 0);
    mbuf_init(&alg, 0);
    mbuf_init(&enc, 0);
    if (ctx == 0 || ivlen <= 0 || ivlen > (int) sizeof(iv) || len > INT_MAX - 64
	|| RAND_bytes(iv, ivlen) != 1
	|| EVP_EncryptInit_ex(ctx, ciph, 0, key, iv) != 1
	|| mbuf_add(&enc, 0, 0) < 0)
	goto done;
    {
	/* Room for the ciphertext: the content plus one block of padding. */
	unsigned char *ct = OPENSSL_malloc(len + 64);

	if (ct == 0)
	    goto done;
	if (EVP_EncryptUpdate(ctx, ct, &n1, entity, (int) len) != 1
	    || EVP_EncryptFinal_ex(ctx, ct + n1, &n2) != 1
	    || der_tlv(&enc, 0x80, ct, (size_t) n1 + (size_t) n2) < 0) {
	    OPENSSL_clear_free(ct, len + 64);
	    goto done;
	}
	OPENSSL_clear_free(ct, len + 64);
    }
    if (DER_ADD(&eci, i2d_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data)) < 0
	|| DER_ADD(&alg, i2d_ASN1_OBJECT, OBJ_nid2obj(EVP_CIPHER_get_type(ciph))) < 0
	|| der_tlv(&alg, 0x04, iv, (size_t) ivlen) < 0
	|| der_tlv(&eci, 0x30, alg.data, alg.len) < 0
	|| mbuf_add(&eci, enc.data, enc.len) < 0
	|| der_tlv(out, 0x30, eci.data, eci.len) < 0)
	goto done;
    ret = 0;

done:
    EVP_CIPHER_CTX_free(ctx);
    mbuf_free(&eci);
    mbuf_free(&alg);
    mbuf_free(&enc);
    return ret;
}

/* EnvelopedData DER of ENTITY into OUT; 1 made, 0 not for this case
 * (use CMS_encrypt), -1 error. */
static int rsa_enveloped_data(const unsigned char *entity, size_t len, X509 *const *certs,
			      size_t ncerts, enum cf_cipher cipher, enum cf_key_transport kt,
			      struct mbuf *out)
{
    const EVP_CIPHER *ciph = cipher_of(cipher);
    unsigned char key[EVP_MAX_KEY_LENGTH];
    int     keylen = EVP_CIPHER_get_key_length(ciph);
    struct mbuf ed, ris;
    int     ret = -1;

    if (kt != CF_KEY_TRANSPORT_PKCS1 || ncerts == 0
	|| EVP_CIPHER_get_mode(ciph) != EVP_CIPH_CBC_MODE
	|| keylen <= 0 || keylen > (int) sizeof(key))
	return 0;
    for (size_t i = 0; i < ncerts; i++) {
	EVP_PKEY *pub = X509_get0_pubkey(certs[i]);

	if (pub == 0 || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA)
	    return 0;
    }
    mbuf_init(&ed, 0);
    mbuf_init(&ris, 0);
    if (RAND_priv_bytes(key, keylen) != 1)
	goto done;
    {
	/* RecipientInfos is a SET OF: DER order. */
	struct mbuf *v = calloc(ncerts, sizeof(*v));
	size_t  made = 0;
	int     bad = v == 0;

	for (; !bad && made < ncerts; made++) {
	    mbuf_init(&v[made], 0);
	    bad = ktri(certs[made], key, (size_t) keylen, &v[made]) < 0;
	}
	if (!bad) {
	    qsort(v, ncerts, sizeof(*v), der_cmp);
	    for (size_t i = 0; i < ncerts && !bad; i++)
		bad = mbuf_add(&ris, v[i].data, v[i].len) < 0;
	}
	for (size_t i = 0; v && i < made; i++)
	    mbuf_free(&v[i]);
	free(v);
	if (bad)
	    goto done;
    }
    if (mbuf_add(&ed, "\x02\x01\x00", 3) < 0
	|| der_tlv(&ed, 0x31, ris.data, ris.len) < 0
	|| encrypted_content(ciph, entity, len, key, &ed) < 0
	|| der_content_info(out, NID_pkcs7_enveloped, &ed) < 0)
	goto done;
    ret = 1;

done:
    if (ret < 0)
	log_openssl_errors("smime: encrypt");
    OPENSSL_cleanse(key, sizeof(key));
    mbuf_free(&ed);
    mbuf_free(&ris);
    return ret;
}

static int encrypt_to(const unsigned char *entity, size_t len, X509 *const *certs,
		      size_t ncerts, enum cf_cipher cipher, enum cf_key_transport kt,
		      struct mbuf *out, struct spool *sp, const char **smime_type)
{
    BIO    *in;
    struct mbuf der, text;
    int     ret;

    mbuf_init(&der, 0);
    if ((ret = rsa_enveloped_data(entity, len, certs, ncerts, cipher, kt, &der)) != 0) {
	*smime_type = "enveloped-data";
	if (ret > 0 && out)
	    ret = p7m_headers(out, *smime_type, "smime.p7m") < 0
		|| mime_base64_encode(der.data, der.len, out) < 0 ? -1 : 0;
	else if (ret > 0) {
	    mbuf_init(&text, 0);
	    ret = mime_base64_encode(der.data, der.len, &text) < 0
		|| spool_write(sp, text.data, text.len) < 0 ? -1 : 0;
	    mbuf_free(&text);
	}
	mbuf_free(&der);
	return ret;
    }
    in = len <= INT_MAX ? BIO_new_mem_buf(entity, (int) len) : 0;
    ret = encrypt_bio(in, 0, certs, ncerts, cipher, kt, out, sp, smime_type);
    BIO_free(in);
    return ret;
}

int     smime_encrypt(const unsigned char *entity, size_t len, X509 *const *certs,
		      size_t ncerts, enum cf_cipher cipher, enum cf_key_transport kt,
		      struct mbuf *out)
{
    const char *type;

    return encrypt_to(entity, len, certs, ncerts, cipher, kt, out, 0, &type);
}

int     smime_encrypt_body(const unsigned char *entity, size_t len, X509 *const *certs,
			   size_t ncerts, enum cf_cipher cipher, enum cf_key_transport kt,
			   struct spool *body, const char **smime_type)
{
    return encrypt_to(entity, len, certs, ncerts, cipher, kt, 0, body, smime_type);
}

int     smime_encrypt_spool(const unsigned char *head, size_t hlen, struct spool *body,
			    X509 *const *certs, size_t ncerts, enum cf_cipher cipher,
			    enum cf_key_transport kt, struct spool *out,
			    const char **smime_type)
{
    struct source s;
    BIO    *in = source_bio(&s, head, hlen, body);
    int     ret = encrypt_bio(in, 1, certs, ncerts, cipher, kt, 0, out, smime_type);

    if (s.failed)
	ret = -1;
    BIO_free(in);
    return ret;
}

/* Copy the rest of what IN gives into SP. */
static int bio_to_spool(BIO *in, struct spool *sp)
{
    char    buf[65536];
    int     n;

    while ((n = BIO_read(in, buf, sizeof(buf))) > 0)
	if (spool_write(sp, buf, (size_t) n) < 0)
	    return -1;
    return n < 0 ? -1 : 0;
}

int     smime_sign_spool(const unsigned char *head, size_t hlen, struct spool *body,
			 const struct cs_key *signer, enum cf_digest digest, int opaque,
			 struct mbuf *out_head, struct spool *out)
{
    struct source s;
    BIO    *in = source_bio(&s, head, hlen, body);
    CMS_ContentInfo *cms = 0;
    struct mbuf top, tail;
    unsigned flags;
    const unsigned char *sep;
    size_t  hl;
    int     ret = -1;

    struct mbuf der;

    mbuf_init(&top, 0);
    mbuf_init(&tail, 0);
    mbuf_init(&der, 0);
    if (in == 0)
	goto done;
    if (opaque) {
	/* The content is read a second time while it is encoded. */
	if ((cms = sign_cms(in, signer, digest, 1, &flags)) == 0 || s.failed
	    || p7m_headers(out_head, "signed-data", "smime.p7m") < 0
	    || source_restart(&s) < 0
	    || cms_stream_base64(cms, in, flags, 0, out) < 0 || s.failed)
	    goto done;
	ret = 0;
	goto done;
    }
    /* The header block of TOP is the new entity's; the rest is body. */
    if (detached_signature(in, signer, digest, &der) < 0 || s.failed
	|| detached_parts(&der, digest, &top, &tail) < 0
	|| (sep = memmem(top.data, top.len, "\r\n\r\n", 4)) == 0)
	goto done;
    hl = (size_t) (sep - top.data) + 4;
    if (mbuf_add(out_head, top.data, hl) < 0
	|| spool_write(out, top.data + hl, top.len - hl) < 0
	|| source_restart(&s) < 0
	|| bio_to_spool(in, out) < 0 || s.failed
	|| spool_write(out, tail.data, tail.len) < 0)
	goto done;
    ret = 0;

done:
    mbuf_free(&der);
    mbuf_free(&top);
    mbuf_free(&tail);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    return ret;
}

/* Parse the body of ENTITY (base64 or binary) as DER CMS.  NULL when it
 * is not one (errors drained). */
static CMS_ContentInfo *entity_cms_release(const unsigned char *entity, size_t len,
					   struct mbuf *release)
{
    struct mime_headers h;
    size_t  off;
    struct mbuf der;
    const char *cte;
    const unsigned char *p;
    long    n;
    CMS_ContentInfo *cms = 0;

    if (mime_parse_headers(entity, len, &h, &off) < 0)
	return 0;
    cte = mime_header_get(&h, "Content-Transfer-Encoding");
    mbuf_init(&der, SMIME_MAX_DER);
    if (cte && strncasecmp(cte, "base64", 6) == 0) {
	if (mime_base64_decode(entity + off, len - off, &der) < 0) {
	    msg_warn("smime: bad base64 in a CMS body");
	    goto done;
	}
	p = der.data;
	n = der.len > LONG_MAX ? 0 : (long) der.len;
	if (release) {			/* the text is not needed any more */
	    mbuf_free(release);
	    release = 0;
	}
    } else {
	p = entity + off;		/* binary: parse in place */
	n = len - off > LONG_MAX ? 0 : (long) (len - off);
    }
    if (n <= 0 || (cms = d2i_CMS_ContentInfo(0, &p, n)) == 0)
	log_openssl_errors("smime: parse CMS");

done:
    mbuf_free(&der);
    mime_headers_free(&h);
    if (release)
	mbuf_free(release);
    return cms;
}

static CMS_ContentInfo *entity_cms(const unsigned char *entity, size_t len)
{
    return entity_cms_release(entity, len, 0);
}

/* Does a RecipientInfo of CMS name CERT (issuer and serial or key id)?
 * This is the match that saves trying every key on every message. */
static int has_recipient(CMS_ContentInfo *cms, X509 *cert)
{
    STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);

    for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
	CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);

	if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS
	    && CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
	    return 1;
	if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
	    STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);

	    for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
		if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, j),
						       cert) == 0)
		    return 1;
	}
    }
    return 0;
}

static enum engine_decrypt decrypt_cms(CMS_ContentInfo *cms, const struct cs_key *keys,
				       size_t nkeys, struct mbuf *out, char *why,
				       size_t whylen);

enum engine_decrypt smime_decrypt(const unsigned char *entity, size_t len,
				  const struct cs_key *keys, size_t nkeys,
				  struct mbuf *out, char *why, size_t whylen)
{
    return decrypt_cms(entity_cms(entity, len), keys, nkeys, out, why, whylen);
}

enum engine_decrypt smime_decrypt_entity(struct mbuf *entity, const struct cs_key *keys,
					 size_t nkeys, struct mbuf *out, char *why,
					 size_t whylen)
{
    return decrypt_cms(entity_cms_release(entity->data, entity->len, entity),
		       keys, nkeys, out, why, whylen);
}

/* Decrypt CMS (NULL: unparsable) and free it. */
static enum engine_decrypt decrypt_cms(CMS_ContentInfo *cms, const struct cs_key *keys,
				       size_t nkeys, struct mbuf *out, char *why,
				       size_t whylen)
{
    enum engine_decrypt ret = ED_NO_KEY;
    int     type;
    BIO    *plain = 0;
    struct sink k;

    snprintf(why, whylen, "no key matches a recipient");
    if (cms == 0) {
	snprintf(why, whylen, "unparsable CMS");
	return ED_FAILED;
    }
    type = OBJ_obj2nid(CMS_get0_type(cms));
    if (type != NID_pkcs7_enveloped && type != NID_id_smime_ct_authEnvelopedData) {
	snprintf(why, whylen, "not enveloped data");
	ret = ED_NOT_ENCRYPTED;
	goto done;
    }
    for (size_t i = 0; i < nkeys; i++) {
	if (keys[i].key == 0 || keys[i].cert == 0)
	    continue;
	if (!has_recipient(cms, keys[i].cert))
	    continue;
	if (CMS_decrypt_set1_pkey_and_peer(cms, keys[i].key, keys[i].cert, 0) != 1) {
	    log_openssl_errors(keys[i].path);
	    snprintf(why, whylen, "key transport failed");
	    ret = ED_FAILED;
	    continue;
	}
	if ((plain = sink_bio(&k, out, 0, 0)) == 0)
	    goto done;
	if (CMS_decrypt(cms, 0, 0, 0, plain, CMS_BINARY) != 1) {
	    log_openssl_errors("smime: decrypt");
	    snprintf(why, whylen, "content decryption failed");
	    ret = ED_FAILED;
	    goto done;
	}
	if (k.failed) {
	    snprintf(why, whylen, "out of memory");
	    ret = ED_FAILED;
	    goto done;
	}
	snprintf(why, whylen, "with %s", keys[i].path);
	ret = ED_DECRYPTED;
	goto done;
    }

done:
    BIO_free(plain);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    return ret;
}

const unsigned char *smime_verify_content(const struct smime_verify_result *res, size_t *len)
{
    if (res->content_ref) {
	*len = res->content_ref_len;
	return res->content_ref;
    }
    *len = res->content.len;
    return res->content.data;
}

void    smime_verify_result_free(struct smime_verify_result *res)
{
    X509_free(res->signer_cert);
    res->signer_cert = 0;
    mbuf_free(&res->content);
}

static void set_status(struct smime_verify_result *res, enum engine_verify st,
		       const char *reason)
{
    res->status = st;
    snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

/* Check the chain of the signer certificate; map the error to a status. */
static void check_chain(CMS_ContentInfo *cms, X509 *signer, X509_STORE *store,
			struct smime_verify_result *res)
{
    X509_STORE_CTX *ctx;
    STACK_OF(X509) *untrusted;
    int     err;

    if (store == 0) {
	set_status(res, EV_UNTRUSTED, "no trusted CA configured");
	return;
    }
    if ((ctx = X509_STORE_CTX_new()) == 0) {
	set_status(res, EV_ERROR, "out of memory");
	return;
    }
    untrusted = CMS_get1_certs(cms);
    if (X509_STORE_CTX_init(ctx, store, signer, untrusted) != 1
	|| X509_STORE_CTX_set_default(ctx, "smime_sign") != 1) {
	set_status(res, EV_ERROR, "cannot set up chain check");
    } else if (X509_verify_cert(ctx) == 1) {
	set_status(res, EV_VALID, "signature verified");
    } else {
	err = X509_STORE_CTX_get_error(ctx);
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	    set_status(res, EV_EXPIRED, X509_verify_cert_error_string(err));
	    break;
	case X509_V_ERR_CERT_REVOKED:
	    set_status(res, EV_REVOKED, "certificate revoked");
	    break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_INVALID_PURPOSE:
	    set_status(res, EV_INVALID, X509_verify_cert_error_string(err));
	    break;
	default:			/* self-signed, unknown issuer, ... */
	    set_status(res, EV_UNTRUSTED, X509_verify_cert_error_string(err));
	    break;
	}
    }
    ERR_clear_error();
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_CTX_free(ctx);
}

/* The signature part of a detached signature, and the canonical content. */
static CMS_ContentInfo *split_detached(const unsigned char *entity, size_t len,
				       struct smime_verify_result *res)
{
    struct mime_headers h;
    struct mime_part parts[2];
    char    boundary[128];
    size_t  off;
    CMS_ContentInfo *cms = 0;
    const unsigned char *body;

    if (mime_parse_headers(entity, len, &h, &off) < 0) {
	set_status(res, EV_ERROR, "unparsable headers");
	return 0;
    }
    body = entity + off;
    if (mime_param(mime_header_get(&h, "Content-Type"), "boundary",
		   boundary, sizeof(boundary)) < 0) {
	set_status(res, EV_ERROR, "multipart/signed without boundary");
	goto done;
    }
    if (mime_multipart_split(body, len - off, boundary, parts, 2) != 2) {
	set_status(res, EV_ERROR, "multipart/signed without two parts");
	goto done;
    }
    if (mime_is_canonical(body + parts[0].off, parts[0].len)) {
	/* Verified where it is: no copy of a large signed message. */
	res->content_ref = body + parts[0].off;
	res->content_ref_len = parts[0].len;
    } else if (mime_to_crlf(body + parts[0].off, parts[0].len, &res->content) < 0) {
	set_status(res, EV_ERROR, "out of memory");
	goto done;
    }
    if ((cms = entity_cms(body + parts[1].off, parts[1].len)) == 0)
	set_status(res, EV_ERROR, "unparsable signature");

done:
    mime_headers_free(&h);
    return cms;
}

/* Why CMS_verify failed, as a status. */
static void signature_failure(struct smime_verify_result *res)
{
    unsigned long e = ERR_peek_last_error();
    int     reason = ERR_GET_REASON(e);

    if (ERR_GET_LIB(e) == ERR_LIB_CMS && reason == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND)
	set_status(res, EV_UNTRUSTED, "signer certificate not included");
    else if (ERR_GET_LIB(e) == ERR_LIB_CMS && reason == CMS_R_VERIFICATION_FAILURE)
	set_status(res, EV_INVALID, "signature does not match the content");
    else if (ERR_GET_LIB(e) == ERR_LIB_CMS && reason == CMS_R_CONTENT_VERIFY_ERROR)
	set_status(res, EV_INVALID, "message digest mismatch");
    else
	set_status(res, EV_INVALID, "signature verification failed");
    log_openssl_errors("smime: verify");
}

void    smime_verify(const unsigned char *entity, size_t len, X509_STORE *store,
		     struct smime_verify_result *res)
{
    struct mime_headers h;
    size_t  off;
    enum smime_kind kind;
    CMS_ContentInfo *cms = 0;
    BIO    *content = 0, *out = 0;
    STACK_OF(X509) *signers = 0;
    unsigned flags = CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY;
    int     sig_ok;
    struct sink k;

    memset(res, 0, sizeof(*res));
    mbuf_init(&res->content, 0);
    set_status(res, EV_ERROR, "unparsable");
    if (mime_parse_headers(entity, len, &h, &off) < 0)
	return;
    kind = smime_classify(mime_header_get(&h, "Content-Type"));
    mime_headers_free(&h);
    if (kind == SMIME_SIGNED_DETACHED) {
	if ((cms = split_detached(entity, len, res)) == 0)
	    goto done;
	{
	    size_t  clen;
	    const unsigned char *c = smime_verify_content(res, &clen);

	    content = clen <= INT_MAX ? BIO_new_mem_buf(c, (int) clen) : 0;
	}
    } else if (kind == SMIME_SIGNED_OPAQUE || kind == SMIME_OTHER) {
	if ((cms = entity_cms(entity, len)) == 0) {
	    set_status(res, EV_ERROR, "unparsable CMS");
	    goto done;
	}
	out = sink_bio(&k, &res->content, 0, 0);
    } else {
	set_status(res, EV_NOT_SIGNED, "not signed");
	goto done;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
	set_status(res, kind == SMIME_OTHER ? EV_NOT_SIGNED : EV_ERROR, "not signed data");
	goto done;
    }
    if ((kind == SMIME_SIGNED_DETACHED && content == 0)
	|| (kind != SMIME_SIGNED_DETACHED && out == 0)) {
	set_status(res, EV_ERROR, "out of memory");
	goto done;
    }
    /* First the signature itself, then the chain: two distinct statuses. */
    sig_ok = CMS_verify(cms, 0, 0, content, out, flags) == 1;
    if (!sig_ok)
	signature_failure(res);
    if (out && sig_ok && k.failed) {
	set_status(res, EV_ERROR, "out of memory");
	goto done;
    }
    if (out && !sig_ok) {
	mbuf_free(&res->content);
	ASN1_OCTET_STRING **pos = CMS_get0_content(cms);

	if (pos && *pos)
	    (void) mbuf_add(&res->content, ASN1_STRING_get0_data(*pos),
			    (size_t) ASN1_STRING_length(*pos));
    }
    if ((signers = CMS_get0_signers(cms)) != 0 && sk_X509_num(signers) > 0) {
	X509   *x = sk_X509_value(signers, 0);

	if (X509_up_ref(x))
	    res->signer_cert = x;
	if (certstore_cert_address(x, res->signer, sizeof(res->signer)) < 0)
	    res->signer[0] = 0;
	if (sig_ok)
	    check_chain(cms, x, store, res);
    } else if (sig_ok) {
	set_status(res, EV_UNTRUSTED, "no signer certificate");
    }
    sk_X509_free(signers);

done:
    ERR_clear_error();
    BIO_free(content);
    BIO_free(out);
    CMS_ContentInfo_free(cms);
}
