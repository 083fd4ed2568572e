/*
 * request - policy protocol parser with hard limits; see request.h.
 */
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

static unsigned name_hash(const char *name)
{
    unsigned h = 2166136261u;

    while (*name) {
	h ^= (unsigned char) *name++;
	h *= 16777619u;
    }
    return h;
}

/* The index of the slot that holds NAME, or of the empty slot where it
 * would go. */
static unsigned find_slot(const struct request *req, const char *name)
{
    unsigned i = name_hash(name) & (REQUEST_HASH_SLOTS - 1);

    while (req->slot[i] != 0 && strcmp(req->attr[req->slot[i] - 1].name, name) != 0)
	i = (i + 1) & (REQUEST_HASH_SLOTS - 1);
    return i;
}

/* Split the NUL-terminated LINE into REQ's next attribute. */
static int parse_line(char *line, size_t len, struct request *req,
		      const char **why)
{
    char   *eq;
    unsigned slot;

    if (memchr(line, '\0', len) != NULL) {
	*why = "NUL byte in request";
	return -1;
    }
    line[len] = '\0';
    if ((eq = strchr(line, '=')) == NULL) {
	*why = "line without '='";
	return -1;
    }
    if (eq == line) {
	*why = "empty attribute name";
	return -1;
    }
    *eq = '\0';
    slot = find_slot(req, line);
    if (req->slot[slot] != 0) {
	*why = "duplicate attribute";
	return -1;
    }
    req->attr[req->n].name = line;
    req->attr[req->n].value = eq + 1;
    req->slot[slot] = (unsigned char) ++req->n;
    return 0;
}

/* The request BUF[0..END) is complete: cut it into attributes. */
static int parse_request(char *buf, size_t end, struct request *req,
			 const char **why)
{
    size_t  start = 0;
    char   *nl;

    req->n = 0;
    memset(req->slot, 0, sizeof(req->slot));
    while (start < end) {
	nl = memchr(buf + start, '\n', end - start);
	if (parse_line(buf + start, (size_t) (nl - (buf + start)), req, why) < 0)
	    return -1;
	start = (size_t) (nl - buf) + 1;
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
	    if (parse_request(buf, scan->line_start, req, why) < 0)
		return REQUEST_INVALID;
	    *used = end + 1;
	    request_scan_init(scan);
	    return REQUEST_COMPLETE;
	}
	if (++scan->lines > REQUEST_MAX_ATTRS) {
	    *why = "too many attributes";
	    return REQUEST_INVALID;
	}
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
    unsigned char i = req->slot[find_slot(req, name)];

    return i ? req->attr[i - 1].value : "";
}
