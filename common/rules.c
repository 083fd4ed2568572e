/*
 * rules - address patterns and first-match rule tables; see rules.h.
 *
 * pattern_match() is iterative: on a mismatch it only backtracks to the
 * last '*' seen, so a hostile 100 KB address against a pattern full of
 * '*' costs O(length * pattern length), never exponential time or stack.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "rules.h"

#define PATTERN_MAX	1024

static int fold(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Does the single pattern character P match text character T? */
static int char_matches(int p, int t)
{
    if (p == '?')
	return (1);
    if (p == '#')
	return (t >= '0' && t <= '9');
    return (p != 0 && fold(p) == fold(t));
}

int     pattern_match(const char *pattern, const char *text)
{
    const unsigned char *p = (const unsigned char *) pattern;
    const unsigned char *t = (const unsigned char *) text;
    const unsigned char *star_p = 0;	/* pattern just after the last '*' */
    const unsigned char *star_t = 0;	/* where that '*' started eating */

    if (pattern == 0 || text == 0)
	return (0);
    while (*t) {
	if (*p == '*') {
	    while (*p == '*')
		p++;
	    if (*p == 0)
		return (1);		/* a trailing '*' eats the rest */
	    star_p = p;
	    star_t = t;
	} else if (char_matches(*p, *t)) {
	    p++;
	    t++;
	} else if (star_p != 0) {
	    /* Let the last '*' eat one more character and retry. */
	    p = star_p;
	    t = ++star_t;
	} else {
	    return (0);
	}
    }
    while (*p == '*')
	p++;
    return (*p == 0);
}

int     pattern_check(const char *pattern, const char **why)
{
    const char *reason = 0;
    const unsigned char *cp;

    if (pattern == 0 || *pattern == 0) {
	reason = "empty pattern";
    } else if (strnlen(pattern, PATTERN_MAX + 1) > PATTERN_MAX) {
	reason = "pattern longer than 1024 characters";
    } else {
	for (cp = (const unsigned char *) pattern; *cp; cp++)
	    if (*cp < 0x20 || *cp == 0x7f) {
		reason = "control character in pattern";
		break;
	    }
    }
    if (why)
	*why = reason;
    return (reason ? -1 : 0);
}

/*
 * Normalise an address for matching.  Short ones use BUF; a longer one
 * (hostile, or a very long subject-like value) gets a heap copy in *HEAP.
 * A value addr_normalize() refuses (control characters) is matched as it
 * is: patterns compare case-insensitively anyway, and "*" must still match.
 */
static const char *normalized(const char *addr, char *buf, size_t buflen,
			      char **heap)
{
    size_t  len;

    *heap = 0;
    if (addr == 0)
	return ("");
    len = strlen(addr);
    if (len >= buflen) {
	if ((*heap = malloc(len + 1)) == 0)
	    return (addr);
	buf = *heap;
	buflen = len + 1;
    }
    if (addr_normalize(addr, buf, buflen) < 0)
	return (addr);
    return (buf);
}

static int rule_matches(const struct cf_rule *rule, const char *from,
			const char *to, const char *subject)
{
    return (pattern_match(rule->from ? rule->from : "*", from)
	    && pattern_match(rule->to ? rule->to : "*", to)
	    && (subject == 0
		|| pattern_match(rule->subject ? rule->subject : "*",
				 subject)));
}

const struct cf_rule *rules_first_match(const struct cf_rule_table *table,
					const char *from, const char *to,
					const char *subject)
{
    char    from_buf[CF_ADDR_MAX + 1];
    char    to_buf[CF_ADDR_MAX + 1];
    char   *from_heap;
    char   *to_heap;
    const char *nfrom;
    const char *nto;
    const struct cf_rule *found = 0;
    size_t  i;

    if (table == 0 || table->v == 0)
	return (0);
    nfrom = normalized(from, from_buf, sizeof(from_buf), &from_heap);
    nto = normalized(to, to_buf, sizeof(to_buf), &to_heap);
    for (i = 0; i < table->n; i++) {
	if (rule_matches(&table->v[i], nfrom, nto, subject)) {
	    found = &table->v[i];
	    break;
	}
    }
    free(from_heap);
    free(to_heap);
    return (found);
}

int     rule_is_void(const struct cf_rule *rule)
{
    return (rule != 0 && rule->certificate != 0
	    && strcasecmp(rule->certificate, CF_VOID_CERTIFICATE) == 0);
}
