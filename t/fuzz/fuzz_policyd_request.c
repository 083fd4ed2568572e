/*
 * fuzz_policyd_request - libFuzzer target for the policy daemon's input
 * path: the bytes are a client's stream on one connection.  They are fed
 * to request_scan() in uneven pieces, the way reads arrive, into a buffer
 * that grows like the server's; every complete request is checked against
 * a plain re-reading of the same bytes and then decided (relay, TLS, size,
 * recipient count) under two fixed configurations loaded once, so
 * decide() and decide_record() see hostile attribute values too.  A
 * protocol error ends the stream, as it ends the connection.
 *
 * The Makefile links only the common sources into fuzzers, so the policyd sources
 * are included here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#include "../../policyd/decide.c"
#include "../../policyd/instances.c"
#include "../../policyd/nexthop.c"
#include "../../policyd/policy.c"
#include "../../policyd/request.c"

int     LLVMFuzzerInitialize(int *argc, char ***argv);
int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Relay by networks and host names, TLS rules, limits. */
static const char strict_conf[] =
    "local_domains = {\"example.com\", \"example.org.\"}\n"
    "internal_networks = {\"192.0.2.0/24\", \"2001:db8::/32\"}\n"
    "log { file = false }\n"
    "statistics { enabled = false }\n"
    "limits { max_recipients = 3  inbound_size = 10K  outbound_size = 20K }\n"
    "relay { networks = {\"198.51.100.0/24\", \"10.1.0.0/16\", \"::ffff:203.0.113.0/120\"}\n"
    "        hosts = {\"dataenter.com\", \".sub.example.net\"}\n"
    "        allow_authenticated = true }\n"
    "tls_inbound \"secure\" { from = \"*@secure.com\"  type = mandatory"
    "  reject = {weak-cipher, no-pfs} }\n"
    "tls_inbound \"may\" { from = \"*@may.#?\"  to = \"*\"  type = may"
    "  reject = {weak-cipher} }\n";

/* Everything open that can be: reserved ranges, no limits, no rules. */
static const char open_conf[] =
    "local_domains = {\"example.com\"}\n"
    "log { file = false }\n"
    "statistics { enabled = false }\n"
    "relay { allow_reserved = true  allow_authenticated = false }\n";

static struct cf_config *strict_cfg, *open_cfg;
static struct policy *strict_policy;
static struct instances *instances;

static struct cf_config *load(const char *text, const char *name)
{
    struct cf_config *cfg = NULL;

    if (config_load_string(text, name, stderr, &cfg) != 0 || cfg == NULL) {
	fprintf(stderr, "fuzz_policyd_request: %s does not load\n", name);
	abort();
    }
    return cfg;
}

int     LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    log_init("fuzz_policyd_request", 0);
    strict_cfg = load(strict_conf, "strict.conf");
    open_cfg = load(open_conf, "open.conf");
    if ((strict_policy = policy_compile(strict_cfg)) == NULL)
	abort();
    /* Small, so a long input also runs eviction. */
    instances = instances_create(16, INSTANCES_TTL);
    return 0;
}

/*
 * REQ came from the USED bytes at ORIG (a copy taken before the parser cut
 * them up): read them again the simplest way and demand the same
 * attributes, in order, each found by name.
 */
static void check_request(const struct request *req, const char *orig, size_t used)
{
    const char *p = orig, *end = orig + used, *nl, *eq;
    size_t  i = 0;

    if (used < 2 || orig[used - 1] != '\n' || (used > 2 && orig[used - 2] != '\n')
	|| req->n == 0 || req->n > REQUEST_MAX_ATTRS || used > REQUEST_MAX_SIZE)
	abort();
    while ((nl = memchr(p, '\n', (size_t) (end - p))) != NULL && nl != p) {
	if (i >= req->n || (size_t) (nl - p) + 1 > REQUEST_MAX_LINE)
	    abort();
	if ((eq = memchr(p, '=', (size_t) (nl - p))) == NULL || eq == p)
	    abort();
	if (strlen(req->attr[i].name) != (size_t) (eq - p)
	    || memcmp(req->attr[i].name, p, (size_t) (eq - p)) != 0
	    || strlen(req->attr[i].value) != (size_t) (nl - eq - 1)
	    || memcmp(req->attr[i].value, eq + 1, (size_t) (nl - eq - 1)) != 0)
	    abort();
	/* Names are unique, so the lookup finds this very value. */
	if (request_get(req, req->attr[i].name) != req->attr[i].value)
	    abort();
	i++;
	p = nl + 1;
    }
    if (i != req->n || p + 1 != end)
	abort();
}

static void decide_one(const struct cf_config *cfg, const struct policy *policy,
		       const struct request *req, time_t now)
{
    struct decide_ctx ctx = {cfg, instances, NULL, now, policy};
    struct decision d;

    d.action = d.reason = NULL;
    decide(&ctx, req, &d);
    if (d.action == NULL || *d.action == '\0' || strlen(d.action) > 200
	|| strchr(d.action, '\n') != NULL)
	abort();
    if (d.reason != NULL)
	decide_record(&ctx, req, &d);
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t piece[] = {1, 5, 64, 700, 3, 4096};
    struct request_scan scan;
    struct request req;
    char   *buf, *orig;
    size_t  cap = 1024, len = 0, off = 0, used, k = 0, n;
    const char *why;
    time_t  now = 1700000000;
    enum request_status st;

    if ((buf = malloc(cap)) == NULL || (orig = malloc(REQUEST_MAX_SIZE)) == NULL)
	abort();
    request_scan_init(&scan);
    while (off < size || len > 0) {
	/* A read: as much of the next piece as the buffer holds. */
	if (len == cap && cap < REQUEST_MAX_SIZE) {
	    cap = cap * 2 > REQUEST_MAX_SIZE ? REQUEST_MAX_SIZE : cap * 2;
	    if ((buf = realloc(buf, cap)) == NULL)
		abort();
	}
	n = piece[k++ % (sizeof(piece) / sizeof(piece[0]))];
	if (n > size - off)
	    n = size - off;
	if (n > cap - len)
	    n = cap - len;
	if (n == 0 && off < size)
	    abort();			/* the parser let the buffer fill up */
	memcpy(buf + len, data + off, n);
	len += n;
	off += n;
	/* Every complete request in the buffer, as the server does. */
	for (;;) {
	    memcpy(orig, buf, len < REQUEST_MAX_SIZE ? len : REQUEST_MAX_SIZE);
	    why = NULL;
	    st = request_scan(&scan, buf, len, &req, &used, &why);
	    if (st == REQUEST_INVALID) {
		if (why == NULL || *why == '\0')
		    abort();
		goto done;
	    }
	    if (st == REQUEST_INCOMPLETE) {
		if (len >= REQUEST_MAX_SIZE || scan.pos > len)
		    abort();
		break;
	    }
	    if (used > len)
		abort();
	    check_request(&req, orig, used);
	    decide_one(strict_cfg, strict_policy, &req, now);
	    decide_one(open_cfg, NULL, &req, now);
	    now += 7;
	    memmove(buf, buf + used, len - used);
	    len -= used;
	}
	if (off == size)
	    break;			/* a partial request at the end of the stream */
    }
done:
    free(orig);
    free(buf);
    return 0;
}
