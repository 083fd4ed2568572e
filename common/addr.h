/*
 * addr - mail addresses, host names and IP networks.
 *
 * addr_normalize() is the only way an address is compared; addr_file_name()
 * is the only way an address becomes a file name (see DESIGN.md "Rules":
 * a plain local@domain of safe characters, or nothing).
 */
#ifndef CF_ADDR_H
#define CF_ADDR_H

#include <stddef.h>

#define CF_ADDR_MAX	320	/* 64 local + @ + 255 domain */

/* Longest address addr_file_name() accepts: "db-" + address + ".pem" and
 * an ALT key suffix must still fit NAME_MAX (255). */
#define CF_ADDR_FILE_MAX 200

/*
 * Lower-case IN, strip surrounding white space and one pair of <>.
 * "<>" and "" become "" (the null sender).  Returns 0, or -1 when OUT is
 * too small or IN holds a NUL-free but non-printable mess we refuse to
 * compare (control characters).
 */
int     addr_normalize(const char *in, char *out, size_t outlen);

/*
 * Normalise ADDR and check it can safely name a file: exactly one '@',
 * non-empty local part (at most 64 bytes) and domain, only the characters
 * [a-z0-9.!#$&'*+=?^_`{|}~-] in the local part ('%' is refused: something
 * downstream might URL-decode it) and [a-z0-9.-] in the domain, no leading
 * or trailing '.' in either part, no "..", no domain starting with '-', no
 * '/', '\\', NUL, space, 8-bit or control character, at most
 * CF_ADDR_FILE_MAX bytes.  The result may contain '*' and '?': never use
 * it as a glob pattern.  On success writes the normalised address to
 * OUT and returns 0; otherwise returns -1 and, when WHY is not NULL, sets
 * it to a short static reason for the log.
 */
int     addr_file_name(const char *addr, char *out, size_t outlen,
		       const char **why);

/* The domain part of an address (after the last '@'), or "" if none. */
const char *addr_domain(const char *addr);

/*
 * Host name suffix match, compared label-wise right to left and
 * case-insensitively: "dataenter.com" matches "dataenter.com" and
 * "mail.dataenter.com", not "evildataenter.com".  A leading '.' in
 * PATTERN means subdomains only.
 */
int     host_matches(const char *host, const char *pattern);

/* An IPv4 or IPv6 network. */
struct cidr {
    int     family;		/* AF_INET or AF_INET6 */
    unsigned char addr[16];	/* network byte order, host bits cleared */
    int     bits;
};

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (all bits).  0 or -1. */
int     cidr_parse(const char *text, struct cidr *out);

/* Is the textual address IP inside NET?  IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) match IPv4 networks.  A malformed IP never matches. */
int     cidr_match(const struct cidr *net, const char *ip);

/* Does IP match any of the CIDR texts in LIST (unparsable ones skipped)? */
int     cidr_match_list(char *const *list, size_t n, const char *ip);

/* 10/8, 172.16/12, 192.168/16, 169.254/16, 224/8 (and IPv6 ULA fc00::/7,
 * link-local fe80::/10, loopback): the ranges relay.allow_reserved opens. */
int     ip_is_reserved(const char *ip);

#endif
