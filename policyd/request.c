/*
 * request - policy protocol parser with hard limits; see request.h.
 */
#include <stdint.h>
#include <string.h>

#include "request.h"

/* Half empty at most, so a probe always ends at an empty slot. */
_Static_assert(REQUEST_HASH_SLOTS >= 2 * REQUEST_MAX_ATTRS && REQUEST_MAX_ATTRS < 255,
	       "request hash size");

void    request_scan_init(struct request_scan *scan)
{
    scan->pos = 0;
    scan->line_start = 0;
    scan->lines = 0;
}

/* Line ends are stored in an unsigned short. */
_Static_assert(REQUEST_MAX_SIZE <= 65536, "request size");

/*
 * A hash of the LEN bytes of NAME, eight at a time: it runs for every
 * attribute of every request.  Not a defence against chosen collisions,
 * which cost a string compare per probe among at most REQUEST_MAX_ATTRS
 * names of a request whose size is capped.
 */
static unsigned name_hash(const char *name, size_t len)
{
    uint64_t h = (uint64_t) len * 0x9e3779b97f4a7c15ULL;
    uint64_t w = 0;
    size_t  i;

#define MIX(h, w) ((h) = ((h) ^ (w)) * 0xbf58476d1ce4e5b9ULL, (h) ^= (h) >> 31)
    if (len < 8) {
	for (i = 0; i < len; i++)
	    w = w << 8 | (unsigned char) name[i];
	MIX(h, w);
    } else {
	for (i = 0; i + 8 <= len; i += 8) {
	    memcpy(&w, name + i, 8);
	    MIX(h, w);
	}
	if (i < len) {			/* the tail, overlapping the last word */
	    memcpy(&w, name + len - 8, 8);
	    MIX(h, w);
	}
    }
#undef MIX
    return (unsigned) (h ^ (h >> 32));
}

/* The index of the slot that holds NAME (whose hash is H), or of the empty
 * slot where it would go.  The stored hash spares most string compares. */
static unsigned find_slot(const struct request *req, const char *name, unsigned h)
{
    unsigned i = h & (REQUEST_HASH_SLOTS - 1);
    unsigned char a;

    while ((a = req->slot[i]) != 0
	   && (req->hash[a - 1] != h || strcmp(req->attr[a - 1].name, name) != 0))
	i = (i + 1) & (REQUEST_HASH_SLOTS - 1);
    return i;
}

/* Split LINE[0..LEN) (LINE[LEN] is the newline) into REQ's next attribute,
 * NUL-terminating name and value in place.  NUL is the request's first NUL
 * byte, or NULL. */
static int parse_line(char *line, size_t len, const char *nul,
		      struct request *req, const char **why)
{
    char   *eq;
    unsigned h, slot;

    if (nul != NULL && nul < line + len) {
	*why = "NUL byte in request";
	return -1;
    }
    if ((eq = memchr(line, '=', len)) == NULL) {
	*why = "line without '='";
	return -1;
    }
    if (eq == line) {
	*why = "empty attribute name";
	return -1;
    }
    *eq = '\0';
    line[len] = '\0';
    h = name_hash(line, (size_t) (eq - line));
    slot = find_slot(req, line, h);
    if (req->slot[slot] != 0) {
	*why = "duplicate attribute";
	return -1;
    }
    req->attr[req->n].name = line;
    req->attr[req->n].value = eq + 1;
    req->hash[req->n] = h;
    req->slot[slot] = (unsigned char) ++req->n;
    return 0;
}

/* The request in BUF is complete: cut its SCAN->lines lines into
 * attributes.  One look for NUL bytes covers them all. */
static int parse_request(const struct request_scan *scan, char *buf,
			 struct request *req, const char **why)
{
    size_t  i, start = 0;
    const char *nul = memchr(buf, '\0', scan->line_start);

    req->n = 0;
    memset(req->slot, 0, sizeof(req->slot));
    for (i = 0; i < scan->lines; i++) {
	if (parse_line(buf + start, scan->end[i] - start, nul, req, why) < 0)
	    return -1;
	start = (size_t) scan->end[i] + 1;
    }
    return 0;
}

enum request_status request_scan(struct request_scan *scan, char *buf,
				 size_t len, struct request *req,
				 size_t *used, const char **why)
{
    char   *nl;
    size_t  end;

    while (scan->pos < len) {
	nl = memchr(buf + scan->pos, '\n', len - scan->pos);
	if (nl == NULL) {
	    scan->pos = len;
	    break;
	}
	end = (size_t) (nl - buf);
	if (end + 1 > REQUEST_MAX_SIZE) {
	    *why = "request too large";
	    return REQUEST_INVALID;
	}
	if (end + 1 - scan->line_start > REQUEST_MAX_LINE) {
	    *why = "line too long";
	    return REQUEST_INVALID;
	}
	if (end == scan->line_start) {
	    /* The empty line: the request ends here. */
	    if (scan->lines == 0) {
		*why = "empty request";
		return REQUEST_INVALID;
	    }
	    if (parse_request(scan, buf, req, why) < 0)
		return REQUEST_INVALID;
	    *used = end + 1;
	    request_scan_init(scan);
	    return REQUEST_COMPLETE;
	}
	if (scan->lines == REQUEST_MAX_ATTRS) {
	    *why = "too many attributes";
	    return REQUEST_INVALID;
	}
	scan->end[scan->lines++] = (unsigned short) end;
	scan->line_start = end + 1;
	scan->pos = end + 1;
    }
    if (len - scan->line_start >= REQUEST_MAX_LINE) {
	*why = "line too long";
	return REQUEST_INVALID;
    }
    if (len >= REQUEST_MAX_SIZE) {
	*why = "request too large";
	return REQUEST_INVALID;
    }
    return REQUEST_INCOMPLETE;
}

const char *request_get(const struct request *req, const char *name)
{
    unsigned char i = req->slot[find_slot(req, name, name_hash(name, strlen(name)))];

    return i ? req->attr[i - 1].value : "";
}
