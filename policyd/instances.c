/*
 * instances - fixed-size LRU table of per-message recipient counts; see
 * instances.h.  Slots live in one array allocated at creation; a hash of
 * bucket heads finds them and a doubly linked list orders them by last use,
 * so lookup, insert and eviction are O(1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instances.h"
#include "log.h"

#define NONE	((uint32_t) -1)

struct slot {
    uint64_t hash;			/* of the whole key */
    char    key[INSTANCES_KEY_MAX + 1];	/* the first INSTANCES_KEY_MAX bytes */
    long    count;
    time_t  last_used;
    uint32_t prev, next;		/* LRU list, head = most recent */
    uint32_t hnext;			/* bucket chain, or free list */
    int     used;
};

struct instances {
    struct slot *slot;
    size_t  nslots;
    uint32_t *bucket;
    size_t  nbuckets;			/* a power of two */
    uint32_t head, tail, free;
    size_t  used;
    unsigned long evictions;
    int     ttl;
};

static uint64_t key_hash(const char *key)
{
    uint64_t h = 14695981039346656037ULL;

    while (*key) {
	h ^= (unsigned char) *key++;
	h *= 1099511628211ULL;
    }
    return h;
}

struct instances *instances_create(size_t slots, int ttl)
{
    struct instances *tab;
    size_t  i;

    if (slots == 0 || slots >= NONE)
	msg_panic("instances_create: bad size %zu", slots);
    if ((tab = calloc(1, sizeof(*tab))) == NULL
	|| (tab->slot = calloc(slots, sizeof(*tab->slot))) == NULL)
	msg_fatal("out of memory");
    for (tab->nbuckets = 1; tab->nbuckets < 2 * slots; tab->nbuckets <<= 1)
	 /* void */ ;
    if ((tab->bucket = malloc(tab->nbuckets * sizeof(*tab->bucket))) == NULL)
	msg_fatal("out of memory");
    for (i = 0; i < tab->nbuckets; i++)
	tab->bucket[i] = NONE;
    for (i = 0; i < slots; i++)
	tab->slot[i].hnext = (i + 1 < slots) ? (uint32_t) (i + 1) : NONE;
    tab->nslots = slots;
    tab->free = 0;
    tab->head = tab->tail = NONE;
    tab->ttl = ttl;
    return tab;
}

void    instances_free(struct instances *tab)
{
    if (tab == NULL)
	return;
    free(tab->bucket);
    free(tab->slot);
    free(tab);
}

static void lru_unlink(struct instances *tab, uint32_t i)
{
    struct slot *s = &tab->slot[i];

    if (s->prev != NONE)
	tab->slot[s->prev].next = s->next;
    else
	tab->head = s->next;
    if (s->next != NONE)
	tab->slot[s->next].prev = s->prev;
    else
	tab->tail = s->prev;
}

static void lru_push_head(struct instances *tab, uint32_t i)
{
    struct slot *s = &tab->slot[i];

    s->prev = NONE;
    s->next = tab->head;
    if (tab->head != NONE)
	tab->slot[tab->head].prev = i;
    tab->head = i;
    if (tab->tail == NONE)
	tab->tail = i;
}

/* Find KEY; *LINK is set to the chain pointer that points at it. */
static uint32_t lookup(struct instances *tab, const char *key, uint64_t h,
		       uint32_t **link)
{
    uint32_t *p = &tab->bucket[h & (tab->nbuckets - 1)];

    while (*p != NONE) {
	struct slot *s = &tab->slot[*p];

	if (s->hash == h && strncmp(s->key, key, INSTANCES_KEY_MAX) == 0)
	    break;
	p = &s->hnext;
    }
    *link = p;
    return *p;
}

static void remove_slot(struct instances *tab, uint32_t i)
{
    struct slot *s = &tab->slot[i];
    uint32_t *link;

    lookup(tab, s->key, s->hash, &link);
    *link = s->hnext;
    lru_unlink(tab, i);
    s->used = 0;
    s->hnext = tab->free;
    tab->free = i;
    tab->used--;
}

static int expired(const struct instances *tab, const struct slot *s,
		   time_t now)
{
    return now - s->last_used > tab->ttl;
}

long    instances_count(struct instances *tab, const char *key, time_t now)
{
    uint32_t *link;
    uint32_t i = lookup(tab, key, key_hash(key), &link);

    if (i == NONE || expired(tab, &tab->slot[i], now))
	return 0;
    return tab->slot[i].count;
}

long    instances_add(struct instances *tab, const char *key, time_t now)
{
    uint64_t h = key_hash(key);
    uint32_t *link;
    uint32_t i = lookup(tab, key, h, &link);
    struct slot *s;

    if (i != NONE) {
	s = &tab->slot[i];
	if (expired(tab, s, now))
	    s->count = 0;
	lru_unlink(tab, i);
    } else {
	if (tab->free == NONE) {
	    remove_slot(tab, tab->tail);
	    tab->evictions++;
	}
	i = tab->free;
	s = &tab->slot[i];
	tab->free = s->hnext;
	s->hash = h;
	snprintf(s->key, sizeof(s->key), "%s", key);
	s->count = 0;
	s->used = 1;
	/* The eviction may have changed the chain: look the link up again. */
	lookup(tab, key, h, &link);
	s->hnext = NONE;
	*link = i;
	tab->used++;
    }
    s->last_used = now;
    lru_push_head(tab, i);
    return ++s->count;
}

void    instances_forget(struct instances *tab, const char *key)
{
    uint32_t *link;
    uint32_t i = lookup(tab, key, key_hash(key), &link);

    if (i != NONE)
	remove_slot(tab, i);
}

size_t  instances_expire(struct instances *tab, time_t now)
{
    size_t  n = 0;

    while (tab->tail != NONE && expired(tab, &tab->slot[tab->tail], now)) {
	remove_slot(tab, tab->tail);
	n++;
    }
    return n;
}

size_t  instances_used(const struct instances *tab)
{
    return tab->used;
}

unsigned long instances_evictions(const struct instances *tab)
{
    return tab->evictions;
}
