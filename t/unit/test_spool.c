/* test_spool - memory-then-file buffer: limits, spill, read back, clear. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/types.h>
#include <cmocka.h>

#include "spool.h"

static const char *tmpdir(void)
{
    const char *d = getenv("CF_TMPDIR");

    return d ? d : "/tmp";
}

static void read_all(struct spool *sp, unsigned char *buf, size_t len)
{
    size_t  got = 0;
    ssize_t n;

    assert_int_equal(spool_rewind(sp), 0);
    while ((n = spool_read(sp, buf + got, len - got > 7 ? 7 : len - got)) > 0)
	got += (size_t) n;
    assert_int_equal(got, len);
    assert_int_equal(spool_read(sp, buf, 1), 0);
}

static void test_memory_only(void **state)
{
    struct spool *sp = spool_new(0, tmpdir());
    unsigned char buf[11];

    (void) state;
    assert_non_null(sp);
    assert_int_equal(spool_write(sp, "hello ", 6), 0);
    assert_int_equal(spool_write(sp, "world", 5), 0);
    assert_int_equal(spool_size(sp), 11);
    assert_false(spool_in_file(sp));
    assert_memory_equal(spool_memory(sp), "hello world", 11);
    read_all(sp, buf, 11);
    assert_memory_equal(buf, "hello world", 11);
    spool_free(sp);
}

static int count_files(const char *dir)
{
    DIR    *d = opendir(dir);
    struct dirent *e;
    int     n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != 0)
	if (strncmp(e->d_name, "cf-spool", 8) == 0)
	    n++;
    closedir(d);
    return n;
}

static void test_spill(void **state)
{
    struct spool *sp = spool_new(100, tmpdir());
    unsigned char data[1000], back[1000];

    (void) state;
    for (size_t i = 0; i < sizeof(data); i++)
	data[i] = (unsigned char) (i * 7);
    assert_int_equal(spool_write(sp, data, 60), 0);
    assert_false(spool_in_file(sp));
    assert_int_equal(spool_write(sp, data + 60, 60), 0);
    assert_true(spool_in_file(sp));
    assert_null(spool_memory(sp));
    /* The file is unlinked at once. */
    assert_int_equal(count_files(tmpdir()), 0);
    assert_int_equal(spool_write(sp, data + 120, 880), 0);
    assert_int_equal(spool_size(sp), 1000);
    read_all(sp, back, 1000);
    assert_memory_equal(back, data, 1000);
    /* Interleaved write then read continues where reading was. */
    assert_int_equal(spool_rewind(sp), 0);
    assert_int_equal(spool_read(sp, back, 10), 10);
    assert_int_equal(spool_write(sp, "x", 1), 0);
    assert_int_equal(spool_read(sp, back + 10, 10), 10);
    assert_memory_equal(back, data, 20);
    spool_clear(sp);
    assert_int_equal(spool_size(sp), 0);
    assert_false(spool_in_file(sp));
    assert_int_equal(spool_write(sp, "ab", 2), 0);
    assert_memory_equal(spool_memory(sp), "ab", 2);
    spool_free(sp);
}

static void test_bad_dir(void **state)
{
    struct spool *sp = spool_new(4, "/nonexistent/dir");

    (void) state;
    assert_int_equal(spool_write(sp, "abc", 3), 0);
    assert_int_equal(spool_write(sp, "defg", 4), -1);
    spool_free(sp);
    spool_free(0);
}

/* spool_append copies all of a file-backed spool into another one. */
static void test_append(void **state)
{
    struct spool *a = spool_new(100, tmpdir()), *b = spool_new(50, tmpdir());
    unsigned char data[300], back[302];

    (void) state;
    for (size_t i = 0; i < sizeof(data); i++)
	data[i] = (unsigned char) (i * 13);
    assert_int_equal(spool_write(a, data, sizeof(data)), 0);
    assert_true(spool_in_file(a));
    assert_int_equal(spool_write(b, "<<", 2), 0);
    assert_int_equal(spool_read(a, back, 5), 5);	/* append rereads from the start */
    assert_int_equal(spool_append(b, a), 0);
    assert_true(spool_in_file(b));
    assert_int_equal(spool_size(b), 302);
    read_all(b, back, 302);
    assert_memory_equal(back, "<<", 2);
    assert_memory_equal(back + 2, data, sizeof(data));
    spool_free(a);
    spool_free(b);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_memory_only),
	cmocka_unit_test(test_spill),
	cmocka_unit_test(test_bad_dir),
	cmocka_unit_test(test_append),
    };

    return cmocka_run_group_tests(tests, 0, 0);
}
