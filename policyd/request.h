/*
 * request - the Postfix SMTP access policy delegation protocol, server side.
 *
 * A request is "name=value" lines ending with an empty line.  The parser
 * works in place on a connection's input buffer, incrementally: call
 * request_scan() after each read with the whole unconsumed buffer; it
 * remembers how far it got in a struct request_scan, so a slow client
 * costs linear time.  Hard limits (line length, attribute count, request
 * size) and duplicate names make a request invalid; the caller then drops
 * the connection.
 */
#ifndef CF_POLICYD_REQUEST_H
#define CF_POLICYD_REQUEST_H

#include <stddef.h>

#define REQUEST_MAX_LINE	4096	/* bytes, newline included */
#define REQUEST_MAX_ATTRS	64
#define REQUEST_MAX_SIZE	16384	/* bytes, terminating empty line included */

struct request_attr {
    const char *name;
    const char *value;
};

#define REQUEST_HASH_SLOTS	128	/* a power of two, >= 2 * REQUEST_MAX_ATTRS */

struct request {
    struct request_attr attr[REQUEST_MAX_ATTRS];
    unsigned hash[REQUEST_MAX_ATTRS];	/* of each name: compared before it */
    size_t  n;
    /* Open-addressing index by name: attr index + 1, 0 = empty.  Makes
     * the duplicate check and request_get() O(1) instead of O(n). */
    unsigned char slot[REQUEST_HASH_SLOTS];
};

/* Where scanning of a partial request stopped. */
struct request_scan {
    size_t  pos;			/* bytes already looked at */
    size_t  line_start;			/* offset of the current line */
    size_t  lines;			/* complete non-empty lines so far */
    /* Offset of each line's newline, so the lines are split without
     * looking for them a second time. */
    unsigned short end[REQUEST_MAX_ATTRS];
};

enum request_status {
    REQUEST_INCOMPLETE = 0,		/* need more bytes */
    REQUEST_COMPLETE = 1,		/* *REQ filled, *USED bytes consumed */
    REQUEST_INVALID = -1,		/* limit broken or bad syntax: *WHY */
};

void    request_scan_init(struct request_scan *scan);

/*
 * Look at BUF[0..LEN) (the start of a request).  On REQUEST_COMPLETE the
 * request's lines are NUL-terminated in place, REQ points into BUF, *USED
 * is the request's length and SCAN is reset for the next one.
 */
enum request_status request_scan(struct request_scan *scan, char *buf,
				 size_t len, struct request *req,
				 size_t *used, const char **why);

/* The value of NAME, or "" when the request does not have it. */
const char *request_get(const struct request *req, const char *name);

#endif
