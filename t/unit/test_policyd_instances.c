/*
 * test_policyd_instances - the bounded per-message recipient counter:
 * counting, forgetting, expiry, eviction of the least recently used entry
 * when full, long keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../policyd/instances.c"

static void test_count_and_forget(void **state)
{
    struct instances *t = instances_create(8, 600);

    (void) state;
    assert_int_equal(instances_count(t, "a", 100), 0);
    assert_int_equal(instances_add(t, "a", 100), 1);
    assert_int_equal(instances_add(t, "a", 101), 2);
    assert_int_equal(instances_add(t, "b", 101), 1);
    assert_int_equal(instances_count(t, "a", 102), 2);
    assert_int_equal(instances_used(t), 2);
    instances_forget(t, "a");
    assert_int_equal(instances_count(t, "a", 103), 0);
    assert_int_equal(instances_count(t, "b", 103), 1);
    assert_int_equal(instances_used(t), 1);
    instances_forget(t, "never-seen");
    assert_int_equal(instances_used(t), 1);
    instances_free(t);
}

static void test_ttl(void **state)
{
    struct instances *t = instances_create(8, 600);

    (void) state;
    instances_add(t, "old", 1000);
    instances_add(t, "old", 1000);
    instances_add(t, "new", 1500);
    assert_int_equal(instances_count(t, "old", 1600), 2);
    /* Older than the TTL: counts as a new message. */
    assert_int_equal(instances_count(t, "old", 1601), 0);
    assert_int_equal(instances_expire(t, 1601), 1);
    assert_int_equal(instances_used(t), 1);
    assert_int_equal(instances_add(t, "old", 1601), 1);
    instances_free(t);
}

static void test_eviction_is_lru(void **state)
{
    struct instances *t = instances_create(4, 600);
    char    key[32];
    int     i;

    (void) state;
    instances_add(t, "k0", 10);
    instances_add(t, "k1", 11);
    instances_add(t, "k2", 12);
    instances_add(t, "k3", 13);
    instances_add(t, "k0", 14);		/* k0 used again: k1 is now oldest */
    instances_add(t, "k4", 15);		/* full: evicts k1 */
    assert_int_equal(instances_used(t), 4);
    assert_int_equal(instances_evictions(t), 1);
    assert_int_equal(instances_count(t, "k1", 16), 0);
    assert_int_equal(instances_count(t, "k0", 16), 2);
    assert_int_equal(instances_count(t, "k4", 16), 1);
    /* A flood never grows the table; the chains stay consistent. */
    for (i = 0; i < 100000; i++) {
	snprintf(key, sizeof(key), "flood.%d", i);
	assert_int_equal(instances_add(t, key, 20), 1);
    }
    assert_int_equal(instances_used(t), 4);
    for (i = 100000 - 4; i < 100000; i++) {
	snprintf(key, sizeof(key), "flood.%d", i);
	assert_int_equal(instances_count(t, key, 20), 1);
	instances_forget(t, key);
    }
    assert_int_equal(instances_used(t), 0);
    instances_free(t);
}

static void test_long_keys(void **state)
{
    struct instances *t = instances_create(8, 600);
    char    a[200], b[200];

    (void) state;
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[150] = 'y';			/* differs only after the stored prefix */
    assert_int_equal(instances_add(t, a, 1), 1);
    assert_int_equal(instances_add(t, a, 1), 2);
    assert_int_equal(instances_add(t, b, 1), 1);
    assert_int_equal(instances_count(t, a, 1), 2);
    instances_free(t);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_count_and_forget),
	cmocka_unit_test(test_ttl),
	cmocka_unit_test(test_eviction_is_lru),
	cmocka_unit_test(test_long_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
