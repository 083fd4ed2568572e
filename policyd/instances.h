/*
 * instances - recipient counts per Postfix message "instance", bounded.
 *
 * Postfix sends the same "instance" attribute for every request of one
 * message.  The table has a fixed number of slots chosen at creation: a
 * flood of new instances evicts the least recently used entry instead of
 * growing memory, and an entry older than its time to live counts as new.
 * instances_forget() drops a message's entry at END-OF-MESSAGE.
 */
#ifndef CF_POLICYD_INSTANCES_H
#define CF_POLICYD_INSTANCES_H

#include <stddef.h>
#include <time.h>

#define INSTANCES_KEY_MAX	64	/* longer keys are hashed and cut */
#define INSTANCES_TTL		600	/* seconds without a request */

struct instances;

struct instances *instances_create(size_t slots, int ttl);
void    instances_free(struct instances *tab);

/* The number of recipients counted so far for KEY (0 if unknown). */
long    instances_count(struct instances *tab, const char *key, time_t now);

/* Count one more recipient for KEY; returns the new count. */
long    instances_add(struct instances *tab, const char *key, time_t now);

void    instances_forget(struct instances *tab, const char *key);

/* Drop entries older than the time to live; returns how many. */
size_t  instances_expire(struct instances *tab, time_t now);

/* Entries in use, and evictions since creation (for tests and logs). */
size_t  instances_used(const struct instances *tab);
unsigned long instances_evictions(const struct instances *tab);

#endif
