/* test_certstore - lookups by role, unsafe names, key file modes, ALT
 * keys, the cache (reload on change, threads, 10,000 files), collection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/pem.h>

#include "certstore.h"
#include "log.h"

static char dir[1024], cert_dir[1100];
static struct cf_smime_cfg scfg;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
    char    cmd[8192];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int setup(void **state)
{
    const char *src = getenv("CF_SRCDIR"), *tmp = getenv("CF_TMPDIR");

    (void) state;
    log_init("test_certstore", 1);
    snprintf(dir, sizeof(dir), "%s/cs-pki", tmp ? tmp : "/tmp");
    if (sh("bash -c '. \"%s/t/lib/pki.sh\" && pki_make \"%s\"' >/dev/null 2>&1",
	   src ? src : ".", dir) != 0)
	return -1;
    snprintf(cert_dir, sizeof(cert_dir), "%s/cert", dir);
    scfg.cert_dir = cert_dir;
    scfg.ca_file = "ca.pem";
    return 0;
}

static void test_roles(void **state)
{
    struct cs_key k;

    (void) state;
    assert_int_equal(certstore_sign_key(&scfg, "*", "Alice@Example.com", &k), 0);
    assert_non_null(k.key);
    assert_non_null(k.cert);
    assert_true(certstore_cert_has_address(k.cert, "alice@example.com"));
    assert_false(certstore_cert_has_address(k.cert, "bob@example.com"));
    assert_int_equal(sk_X509_num(k.chain), 1);	/* the CA */
    assert_non_null(strstr(k.path, "/priv/alice@example.com.pem"));
    cs_key_release(&k);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "<dave@partner.com>", &k), 0);
    assert_null(k.key);
    assert_non_null(strstr(k.path, "/pub/dave@partner.com.pem"));
    cs_key_release(&k);
    /* Named files, with and without .pem, by role. */
    assert_int_equal(certstore_encrypt_cert(&scfg, "erin@partner.com", "x@y.z", &k), 0);
    cs_key_release(&k);
    assert_int_equal(certstore_sign_key(&scfg, "bob@example.com.pem", "x@y.z", &k), 0);
    assert_non_null(k.key);
    cs_key_release(&k);
    assert_int_equal(certstore_sign_key(&scfg, "*", "nobody@example.com", &k), -1);
}

static void test_unsafe(void **state)
{
    struct cs_key k;
    struct cs_key *keys = 0;
    size_t  n = 0;

    (void) state;
    /* A file that exists outside pub/ must not be reachable. */
    assert_int_equal(sh("cp %s/cert/pub/bob@example.com.pem %s/cert/outside.pem", dir, dir), 0);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "../outside", &k), -1);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "../outside.pem", &k), -1);
    assert_int_equal(certstore_encrypt_cert(&scfg, "../outside.pem", "a@b.c", &k), -1);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "a/../../outside@x.com", &k), -1);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", ".hidden@x.com", &k), -1);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "", &k), -1);
    assert_int_equal(certstore_decrypt_keys(&scfg, "*", "..@x", &keys, &n), 0);
    assert_int_equal(n, 0);
}

static void test_key_mode(void **state)
{
    struct cs_key k;

    (void) state;
    assert_int_equal(sh("cp -p %s/cert/priv/erin@partner.com.pem %s/cert/priv/open@partner.com.pem"
			" && chmod 644 %s/cert/priv/open@partner.com.pem", dir, dir, dir), 0);
    assert_int_equal(certstore_sign_key(&scfg, "*", "open@partner.com", &k), -1);
    assert_int_equal(sh("chmod 640 %s/cert/priv/open@partner.com.pem", dir), 0);
    assert_int_equal(certstore_sign_key(&scfg, "*", "open@partner.com", &k), -1);
    assert_int_equal(sh("chmod 600 %s/cert/priv/open@partner.com.pem", dir), 0);
    assert_int_equal(certstore_sign_key(&scfg, "*", "open@partner.com", &k), 0);
    cs_key_release(&k);
}

static void test_alt_keys(void **state)
{
    struct cs_key *keys = 0;
    size_t  n = 0;

    (void) state;
    /* A name that merely starts the same is not an ALT key of bob. */
    assert_int_equal(sh("cp -p %s/cert/priv/alt/bob@example.com-old.pem "
			"%s/cert/priv/alt/bob@example.community.pem", dir, dir), 0);
    assert_int_equal(certstore_decrypt_keys(&scfg, "*", "bob@example.com", &keys, &n), 2);
    assert_int_equal(n, 2);
    assert_non_null(strstr(keys[0].path, "/priv/bob@example.com.pem"));
    assert_non_null(strstr(keys[1].path, "/priv/alt/bob@example.com-old.pem"));
    assert_non_null(keys[1].key);
    assert_int_not_equal(X509_cmp(keys[0].cert, keys[1].cert), 0);
    cs_keys_release(keys, n);
}

static void test_reload(void **state)
{
    struct cs_key a, b;
    size_t  before;

    (void) state;
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "swap@partner.com", &a), -1);
    assert_int_equal(sh("cp %s/cert/pub/dave@partner.com.pem %s/cert/pub/swap@partner.com.pem",
			dir, dir), 0);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "swap@partner.com", &a), 0);
    before = certstore_cached();
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "swap@partner.com", &b), 0);
    assert_int_equal(certstore_cached(), before);	/* served from the cache */
    assert_ptr_equal(a.cert, b.cert);
    cs_key_release(&b);
    /* Replaced file (new inode): the new certificate is served. */
    assert_int_equal(sh("cp %s/cert/pub/erin@partner.com.pem %s/cert/pub/swap.tmp && "
			"mv %s/cert/pub/swap.tmp %s/cert/pub/swap@partner.com.pem",
			dir, dir, dir, dir), 0);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "swap@partner.com", &b), 0);
    assert_true(certstore_cert_has_address(b.cert, "erin@partner.com"));
    assert_true(certstore_cert_has_address(a.cert, "dave@partner.com"));	/* still valid */
    cs_key_release(&a);
    cs_key_release(&b);
    /* Gone: nothing. */
    assert_int_equal(sh("rm %s/cert/pub/swap@partner.com.pem", dir), 0);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "swap@partner.com", &a), -1);
}

static void test_ca(void **state)
{
    X509_STORE *s1 = certstore_ca(&scfg), *s2 = certstore_ca(&scfg);
    struct cf_smime_cfg bad = scfg;

    (void) state;
    assert_non_null(s1);
    assert_ptr_equal(s1, s2);
    X509_STORE_free(s1);
    X509_STORE_free(s2);
    bad.ca_file = "/nonexistent/ca.pem";
    assert_null(certstore_ca(&bad));
}

static void *lookup_thread(void *arg)
{
    const char *users[] = {"alice@example.com", "bob@example.com", "carol@example.com",
	"dave@partner.com", "erin@partner.com"};
    long    bad = 0;

    (void) arg;
    for (int i = 0; i < 2000; i++) {
	struct cs_key k;

	if (certstore_encrypt_cert(&scfg, "*", users[i % 5], &k) != 0
	    || !certstore_cert_has_address(k.cert, users[i % 5]))
	    bad++;
	cs_key_release(&k);
	if (i % 100 == 0)
	    certstore_flush();		/* entries vanish under other threads */
    }
    return (void *) bad;
}

static void test_threads(void **state)
{
    pthread_t t[8];
    void   *bad;

    (void) state;
    for (int i = 0; i < 8; i++)
	assert_int_equal(pthread_create(&t[i], 0, lookup_thread, 0), 0);
    for (int i = 0; i < 8; i++) {
	assert_int_equal(pthread_join(t[i], &bad), 0);
	assert_null(bad);
    }
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 10,000 certificates: a cached lookup stays one stat() + hash lookup. */
static void test_many(void **state)
{
    struct cf_smime_cfg big = scfg;
    char    bigdir[1200], addr[64];
    double  t0, per;
    const int n = 10000;

    (void) state;
    snprintf(bigdir, sizeof(bigdir), "%s/big", dir);
    assert_int_equal(sh("mkdir -p %s/pub", bigdir), 0);
    for (int i = 0; i < n; i++) {
	char    src[1300], dst[1300];

	snprintf(src, sizeof(src), "%s/cert/pub/dave@partner.com.pem", dir);
	snprintf(dst, sizeof(dst), "%s/pub/u%d@partner.com.pem", bigdir, i);
	assert_int_equal(link(src, dst), 0);
    }
    big.cert_dir = bigdir;
    for (int i = 0; i < n; i++) {	/* load them all once */
	struct cs_key k;

	snprintf(addr, sizeof(addr), "u%d@partner.com", i);
	assert_int_equal(certstore_encrypt_cert(&big, "*", addr, &k), 0);
	cs_key_release(&k);
    }
    assert_true(certstore_cached() >= (size_t) n);
    t0 = now();
    for (int r = 0; r < 3; r++)
	for (int i = 0; i < n; i++) {
	    struct cs_key k;

	    snprintf(addr, sizeof(addr), "u%d@partner.com", (i * 7919) % n);
	    if (certstore_encrypt_cert(&big, "*", addr, &k) != 0)
		fail();
	    cs_key_release(&k);
	}
    per = (now() - t0) / (3.0 * n) * 1e6;
    printf("certstore: %.2f us per cached lookup among %d certificates\n", per, n);
    /* Generous for ASan builds; typically a few microseconds. */
    assert_true(per < 100.0);
}

static void test_collect(void **state)
{
    struct cs_key expired, fresh, got;
    char    path[1300];
    FILE   *fp;

    (void) state;
    /* A newer certificate for the same address than the 2020 one. */
    assert_int_equal(sh("cd %s/special && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
			"-nodes -keyout new.key -out new.crt -days 30 -subj /CN=expired "
			"-addext subjectAltName=email:expired@example.com >/dev/null 2>&1", dir), 0);
    snprintf(path, sizeof(path), "%s/special/expired@example.com.pem", dir);
    memset(&expired, 0, sizeof(expired));
    fp = fopen(path, "r");
    assert_non_null(fp);
    expired.cert = PEM_read_X509(fp, 0, 0, 0);
    fclose(fp);
    assert_non_null(expired.cert);
    snprintf(path, sizeof(path), "%s/special/new.crt", dir);
    memset(&fresh, 0, sizeof(fresh));
    fp = fopen(path, "r");
    fresh.cert = PEM_read_X509(fp, 0, 0, 0);
    fclose(fp);
    assert_non_null(fresh.cert);

    /* Not the sender's certificate: not collected. */
    assert_int_equal(certstore_collect(&scfg, "other@example.com", fresh.cert), 0);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "other@example.com", &got), -1);
    /* Old first, then the newer one replaces it... */
    assert_int_equal(certstore_collect(&scfg, "expired@example.com", expired.cert), 1);
    assert_int_equal(certstore_collect(&scfg, "Expired@Example.com", fresh.cert), 1);
    /* ...but the older one never replaces the newer one. */
    assert_int_equal(certstore_collect(&scfg, "expired@example.com", expired.cert), 0);
    assert_int_equal(certstore_encrypt_cert(&scfg, "*", "expired@example.com", &got), 0);
    assert_non_null(strstr(got.path, "/pub/db-expired@example.com.pem"));
    assert_int_equal(X509_cmp(got.cert, fresh.cert), 0);
    cs_key_release(&got);
    /* Unsafe sender: nothing written anywhere. */
    assert_int_equal(certstore_collect(&scfg, "../x@example.com", fresh.cert), 0);
    assert_int_equal(sh("test -z \"$(ls -A %s/cert/pub | grep '^\\.')\"", dir), 0);
    X509_free(expired.cert);
    X509_free(fresh.cert);
}

static int teardown(void **state)
{
    (void) state;
    certstore_flush();
    return 0;
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_roles),
	cmocka_unit_test(test_unsafe),
	cmocka_unit_test(test_key_mode),
	cmocka_unit_test(test_alt_keys),
	cmocka_unit_test(test_reload),
	cmocka_unit_test(test_ca),
	cmocka_unit_test(test_threads),
	cmocka_unit_test(test_many),
	cmocka_unit_test(test_collect),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
