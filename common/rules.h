/*
 * rules - address patterns and first-match rule tables.
 *
 * A pattern matches a whole string, case-insensitively: '*' any run of
 * characters (also none), '?' one character, '#' one digit.  "*" alone
 * matches everything, the empty sender included.
 */
#ifndef CF_RULES_H
#define CF_RULES_H

#include "config.h"

int     pattern_match(const char *pattern, const char *text);

/* Is PATTERN acceptable in a config file?  0, or -1 with *WHY set. */
int     pattern_check(const char *pattern, const char **why);

/*
 * The first rule of TABLE whose from, to and subject patterns all match
 * (SUBJECT NULL: the subject pattern is ignored), or NULL.  FROM and TO are
 * compared after addr_normalize().  A rule whose certificate is
 * CF_VOID_CERTIFICATE is returned like any other: it stops the search and
 * the caller does nothing (see rule_is_void).
 */
const struct cf_rule *rules_first_match(const struct cf_rule_table *table,
					const char *from, const char *to,
					const char *subject);

int     rule_is_void(const struct cf_rule *rule);

#endif
