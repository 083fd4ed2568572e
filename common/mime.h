/*
 * mime - the small part of RFC 5322 / 2045 / 2046 the S/MIME engine needs:
 * a growable byte buffer with a hard maximum (mbuf), header blocks,
 * Content-Type parameters, the CRLF canonical form, base64 and
 * quoted-printable, and the parts of a multipart body.
 *
 * Everything here reads untrusted data: every function checks lengths and
 * fails (returns -1) instead of guessing.
 */
#ifndef CF_MIME_H
#define CF_MIME_H

#include <stddef.h>

/* A growable buffer; MAX 0 = no limit beyond memory. */
struct mbuf {
    unsigned char *data;
    size_t  len;
    size_t  cap;
    size_t  max;
};

void    mbuf_init(struct mbuf *b, size_t max);
int     mbuf_add(struct mbuf *b, const void *data, size_t len);
int     mbuf_addstr(struct mbuf *b, const char *s);
/* Insert DATA before the current content. */
int     mbuf_prepend(struct mbuf *b, const void *data, size_t len);
int     mbuf_printf(struct mbuf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Make DATA a C string (a NUL after LEN, not counted).  0 or -1. */
int     mbuf_terminate(struct mbuf *b);
/* Free the memory (wiped first: it may hold decrypted text). */
void    mbuf_free(struct mbuf *b);

/* One header field: NAME without the colon, VALUE unfolded (CRLF/LF
 * before white space removed), leading white space removed. */
struct mime_header {
    char   *name;
    char   *value;
};

struct mime_headers {
    struct mime_header *v;
    size_t  n;
};

/*
 * Parse the header block at the start of DATA (an entity or a message)
 * up to the first empty line.  *BODY_OFF gets the offset of the body
 * (LEN when there is none).  A line without a colon ends the header block
 * (it and what follows are body).  The caller bounds LEN; there is no
 * limit on the number of fields.  0 or -1.
 */
int     mime_parse_headers(const unsigned char *data, size_t len,
			   struct mime_headers *out, size_t *body_off);
void    mime_headers_free(struct mime_headers *h);
/* Does the line P (N bytes) start a header field ("name:")? */
int     mime_is_field_start(const unsigned char *p, size_t n);

/* The value of the first field NAME (case-insensitive), or NULL. */
const char *mime_header_get(const struct mime_headers *h, const char *name);

/* Is NAME a Content-* field (part of the MIME entity)? */
int     mime_is_content_header(const char *name);

/*
 * The "type/subtype" of a Content-Type value, lower case, into OUT.
 * NULL or unparsable values give "text/plain" (RFC 2045 default).
 */
void    mime_content_type(const char *value, char *out, size_t outlen);

/* Parameter PARAM (case-insensitive) of a Content-Type style value,
 * unquoted, into OUT.  0, or -1 when absent or too long. */
int     mime_param(const char *value, const char *param, char *out, size_t outlen);

/* Append IN to OUT with every line ending (LF, CRLF or lone CR) as CRLF. */
int     mime_to_crlf(const unsigned char *in, size_t len, struct mbuf *out);

/* Is every line end of P a CRLF (and every CR part of one)? */
int     mime_is_canonical(const unsigned char *p, size_t len);

/* Make B canonical CRLF in place; no copy when it already is.  0 or -1. */
int     mime_canonicalize(struct mbuf *b);

/* Append IN as base64 in lines of 76 characters, each ended by CRLF. */
int     mime_base64_encode(const unsigned char *in, size_t len, struct mbuf *out);

/* IN as base64 lines of 76 characters (each full 57 bytes of IN), each
 * ended by CRLF, the last one shorter, into OUT, which has room for
 * (LEN + 56) / 57 * 78 bytes.  Returns the bytes written. */
size_t  mime_base64_lines(const unsigned char *in, size_t len, char *out);

/* Append the decoded base64 text IN (white space ignored).  -1 on any
 * other character or a bad length. */
int     mime_base64_decode(const unsigned char *in, size_t len, struct mbuf *out);

/* Append IN (canonical CRLF text) as quoted-printable, lines <= 76. */
int     mime_qp_encode(const unsigned char *in, size_t len, struct mbuf *out);

/* Does IN need a transfer encoding to survive 7bit transport: bytes
 * >= 0x80, NUL, or lines longer than 998 octets? */
int     mime_needs_encoding(const unsigned char *in, size_t len);

/*
 * Append the canonical entity ENT to OUT with every 8bit, binary or
 * long-line leaf given a quoted-printable (text) or base64 transfer
 * encoding, through multiparts (to depth 20), so that a signature over
 * it survives a relay that downgrades to 7bit.  Parts already encoded,
 * message parts and what cannot be parsed are copied as they are.
 */
int     mime_encode_7bit(const unsigned char *ent, size_t len, struct mbuf *out);

/* Limits of mime_encode_7bit: nesting depth, parts per multipart. */
#define MIME_MAX_DEPTH	20
#define MIME_MAX_PARTS	1000

/* Is LINE (N bytes, without its line break) a delimiter of BOUNDARY?
 * 1 delimiter, 2 closing delimiter, 0 neither (also for a boundary
 * that is empty or longer than 70). */
int     mime_delimiter(const unsigned char *line, size_t n, const char *boundary);

/* A part of a multipart body: raw bytes, without the CRLF that precedes
 * the next delimiter. */
struct mime_part {
    size_t  off;
    size_t  len;
};

/*
 * Find up to MAXPARTS parts of the multipart BODY with BOUNDARY.  Returns
 * the number found (>= 0) or -1 when there is no closing delimiter or no
 * part at all.
 */
int     mime_multipart_split(const unsigned char *body, size_t len,
			     const char *boundary, struct mime_part *parts,
			     int maxparts);

/* The first address of an address-list header value (From:), lower
 * case, without <>, into OUT.  0 or -1. */
int     mime_first_address(const char *value, char *out, size_t outlen);

/* A fresh random boundary string into OUT (>= 40 bytes). */
void    mime_make_boundary(char *out, size_t outlen);

#endif
