/*
 * addr - mail addresses, host names and IP networks; see addr.h.
 *
 * Everything here handles text from outside (envelope addresses, client
 * names and addresses from Postfix), so nothing trusts a length and nothing
 * recurses.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"

/* ASCII only: locale-dependent tolower() could fold 8-bit bytes. */
static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t';
}

int     addr_normalize(const char *in, char *out, size_t outlen)
{
    const char *start;
    const char *end;
    size_t  len;
    size_t  i;

    if (in == 0 || out == 0 || outlen == 0)
	return (-1);
    start = in;
    end = in + strlen(in);
    while (start < end && is_space((unsigned char) *start))
	start++;
    while (end > start && is_space((unsigned char) end[-1]))
	end--;
    if (end - start >= 2 && *start == '<' && end[-1] == '>') {
	start++;
	end--;
	while (start < end && is_space((unsigned char) *start))
	    start++;
	while (end > start && is_space((unsigned char) end[-1]))
	    end--;
    }
    len = (size_t) (end - start);
    if (len >= outlen)
	return (-1);
    for (i = 0; i < len; i++) {
	unsigned char c = (unsigned char) start[i];

	if (c < 0x20 || c == 0x7f)
	    return (-1);
	out[i] = (char) lower(c);
    }
    out[len] = 0;
    return (0);
}

/* Characters a local part may have in a file name: RFC 5322 atext minus
 * '%' (something downstream might URL-decode "%2e%2e%2f"). */
static int local_char_ok(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	|| (c != 0 && strchr(".!#$&'*+=?^_`{|}~-", c) != 0);
}

static int domain_char_ok(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
	|| c == '.' || c == '-';
}

/* A dot-separated run: no leading or trailing '.', no "..".  */
static const char *dots_check(const char *s, size_t len)
{
    if (s[0] == '.')
	return ("leading dot");
    if (s[len - 1] == '.')
	return ("trailing dot");
    if (memmem(s, len, "..", 2) != 0)
	return ("double dot");
    return (0);
}

static const char *file_name_check(const char *addr)
{
    const char *at = strchr(addr, '@');
    size_t  len = strlen(addr);
    size_t  local_len;
    size_t  domain_len;
    size_t  i;
    const char *why;

    if (len == 0)
	return ("empty address");
    if (len > CF_ADDR_FILE_MAX)
	return ("address too long");
    if (at == 0)
	return ("no @ in address");
    if (strchr(at + 1, '@') != 0)
	return ("more than one @ in address");
    local_len = (size_t) (at - addr);
    domain_len = len - local_len - 1;
    if (local_len == 0)
	return ("empty local part");
    if (domain_len == 0)
	return ("empty domain");
    if (local_len > 64)
	return ("local part too long");
    for (i = 0; i < local_len; i++)
	if (!local_char_ok((unsigned char) addr[i]))
	    return ("unsafe character in local part");
    for (i = 0; i < domain_len; i++)
	if (!domain_char_ok((unsigned char) at[1 + i]))
	    return ("unsafe character in domain");
    if ((why = dots_check(addr, local_len)) != 0)
	return (why);
    if ((why = dots_check(at + 1, domain_len)) != 0)
	return (why);
    if (at[1] == '-')
	return ("domain starts with '-'");
    return (0);
}

int     addr_file_name(const char *addr, char *out, size_t outlen,
		       const char **why)
{
    char    norm[CF_ADDR_MAX + 1];
    const char *reason;

    if (addr == 0)
	reason = "no address";
    else if (strnlen(addr, CF_ADDR_MAX + 1) > CF_ADDR_MAX)
	reason = "address too long";
    else if (addr_normalize(addr, norm, sizeof(norm)) < 0)
	reason = "control character in address";
    else if ((reason = file_name_check(norm)) == 0
	     && strlen(norm) >= outlen)
	reason = "output buffer too small";
    if (reason != 0) {
	if (why)
	    *why = reason;
	if (out && outlen)
	    *out = 0;
	return (-1);
    }
    strcpy(out, norm);
    if (why)
	*why = 0;
    return (0);
}

const char *addr_domain(const char *addr)
{
    const char *at;

    if (addr == 0 || (at = strrchr(addr, '@')) == 0)
	return ("");
    return (at + 1);
}

/* Length of NAME without trailing dots (the root label). */
static size_t host_len(const char *name)
{
    size_t  len = strlen(name);

    while (len > 0 && name[len - 1] == '.')
	len--;
    return (len);
}

int     host_matches(const char *host, const char *pattern)
{
    size_t  hlen;
    size_t  plen;
    int     subdomains_only = 0;
    size_t  i;

    if (host == 0 || pattern == 0)
	return (0);
    if (*pattern == '.') {
	subdomains_only = 1;
	pattern++;
    }
    hlen = host_len(host);
    plen = host_len(pattern);
    if (plen == 0 || hlen < plen)
	return (0);
    for (i = 1; i <= plen; i++)
	if (lower((unsigned char) host[hlen - i])
	    != lower((unsigned char) pattern[plen - i]))
	    return (0);
    if (hlen == plen)
	return (!subdomains_only);
    /* A whole label must match: "evildataenter.com" is not ours. */
    return (host[hlen - plen - 1] == '.');
}

/* Parse a bare address into family + 16 bytes.  0 or -1. */
static int ip_parse(const char *ip, int *family, unsigned char addr[16])
{
    char    buf[INET6_ADDRSTRLEN + 1];
    size_t  len;

    if (ip == 0 || (len = strnlen(ip, sizeof(buf))) >= sizeof(buf))
	return (-1);
    memcpy(buf, ip, len + 1);
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, buf, addr) == 1) {
	*family = AF_INET;
	return (0);
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
	*family = AF_INET6;
	return (0);
    }
    return (-1);
}

static const unsigned char v4mapped_prefix[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

int     cidr_parse(const char *text, struct cidr *out)
{
    char    buf[INET6_ADDRSTRLEN + 8];
    char   *slash;
    size_t  len;
    int     max_bits;
    int     bits;
    int     i;

    if (text == 0 || out == 0
	|| (len = strnlen(text, sizeof(buf))) >= sizeof(buf) || len == 0)
	return (-1);
    memcpy(buf, text, len + 1);
    if ((slash = strchr(buf, '/')) != 0)
	*slash++ = 0;
    if (ip_parse(buf, &out->family, out->addr) < 0)
	return (-1);
    max_bits = out->family == AF_INET ? 32 : 128;
    if (slash == 0) {
	bits = max_bits;
    } else {
	/* Digits only: no sign, no spaces, no "0x", at most 3 of them. */
	if (*slash == 0 || strlen(slash) > 3
	    || strspn(slash, "0123456789") != strlen(slash))
	    return (-1);
	bits = atoi(slash);
	if (bits > max_bits)
	    return (-1);
    }
    out->bits = bits;
    for (i = 0; i < 16; i++) {
	int     keep = bits - 8 * i;

	if (keep <= 0)
	    out->addr[i] = 0;
	else if (keep < 8)
	    out->addr[i] &= (unsigned char) (0xff << (8 - keep));
    }
    return (0);
}

static int prefix_equal(const unsigned char *a, const unsigned char *b,
			int bits)
{
    int     full = bits / 8;
    int     rest = bits % 8;
    unsigned char mask;

    if (memcmp(a, b, (size_t) full) != 0)
	return (0);
    if (rest == 0)
	return (1);
    mask = (unsigned char) (0xff << (8 - rest));
    return ((a[full] & mask) == (b[full] & mask));
}

int     cidr_match(const struct cidr *net, const char *ip)
{
    int     family;
    unsigned char addr[16];

    if (net == 0 || ip_parse(ip, &family, addr) < 0)
	return (0);
    if (net->family == AF_INET && family == AF_INET6) {
	if (memcmp(addr, v4mapped_prefix, 12) != 0)
	    return (0);
	memmove(addr, addr + 12, 4);
	family = AF_INET;
    } else if (net->family == AF_INET6 && family == AF_INET) {
	memmove(addr + 12, addr, 4);
	memcpy(addr, v4mapped_prefix, 12);
	family = AF_INET6;
    }
    if (family != net->family)
	return (0);
    return (prefix_equal(addr, net->addr, net->bits));
}

static int match_any(const char *const *list, size_t n, const char *ip)
{
    struct cidr net;
    size_t  i;

    for (i = 0; i < n; i++)
	if (list[i] && cidr_parse(list[i], &net) == 0 && cidr_match(&net, ip))
	    return (1);
    return (0);
}

int     cidr_match_list(char *const *list, size_t n, const char *ip)
{
    return (match_any((const char *const *) list, n, ip));
}

int     ip_is_reserved(const char *ip)
{
    static const char *const reserved[] = {
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
	"224.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128",
    };

    return (match_any(reserved, sizeof(reserved) / sizeof(reserved[0]), ip));
}
