/*
 * cmd_import - "cryptofilter import [-c FILE] [--alt] [--password-file F]
 * [--force] FILE.p12 ADDRESS": install a PKCS#12 key as
 * cert_dir/priv/<address>.pem (key + certificate + chain, mode 0600) and
 * cert_dir/pub/<address>.pem (certificate), or with --alt as an old key
 * cert_dir/priv/alt/<address>-<serial>.pem.  Files are written atomically
 * (temp file + rename).  The address must be file-name safe and, unless
 * --force, carried by the certificate.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include "addr.h"
#include "certstore.h"
#include "commands.h"
#include "log.h"
#include "toolutil.h"

struct p12 {
    EVP_PKEY *key;
    X509   *cert;
    STACK_OF(X509) *ca;
};

static int usage(void)
{
    fprintf(stderr, "usage: cryptofilter import [-c FILE] [--alt] [--password-file F] "
	    "[--force] FILE.p12 ADDRESS\n");
    return CF_EXIT_USAGE;
}

/* The first line of PATH, without its line end. */
static int read_password(const char *path, char *out, size_t outlen)
{
    FILE   *fp = fopen(path, "r");

    if (fp == 0) {
	fprintf(stderr, "cryptofilter: import: %s: %s\n", path, strerror(errno));
	return -1;
    }
    if (fgets(out, (int) outlen, fp) == 0)
	out[0] = 0;
    fclose(fp);
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

static int parse_p12(const char *path, const char *pass, struct p12 *out)
{
    BIO    *bio = BIO_new_file(path, "rb");
    PKCS12 *p12 = bio ? d2i_PKCS12_bio(bio, 0) : 0;
    int     ok;

    BIO_free(bio);
    if (p12 == 0) {
	fprintf(stderr, "cryptofilter: import: %s: not a PKCS#12 file\n", path);
	log_openssl_errors(path);
	return -1;
    }
    ok = PKCS12_parse(p12, pass, &out->key, &out->cert, &out->ca);
    if (!ok && *pass == 0)		/* "no password" has two encodings */
	ok = PKCS12_parse(p12, 0, &out->key, &out->cert, &out->ca);
    if (!ok) {
	/* Old RC2/40 files need the legacy provider. */
	ERR_clear_error();
	if (OSSL_PROVIDER_load(0, "legacy") && OSSL_PROVIDER_load(0, "default"))
	    ok = PKCS12_parse(p12, pass, &out->key, &out->cert, &out->ca);
    }
    PKCS12_free(p12);
    if (!ok || out->key == 0 || out->cert == 0) {
	fprintf(stderr, "cryptofilter: import: %s: cannot read the key (wrong password?)\n", path);
	log_openssl_errors(path);
	return -1;
    }
    return 0;
}

/* Is chain certificate I the leaf or one written before it? */
static int already_written(const struct p12 *p, int i)
{
    X509   *x = sk_X509_value(p->ca, i);

    if (X509_cmp(x, p->cert) == 0)
	return 1;
    for (int j = 0; j < i; j++)
	if (X509_cmp(x, sk_X509_value(p->ca, j)) == 0)
	    return 1;
    return 0;
}

/* The key (WITH_KEY), certificate and chain into a temp file next to
 * PATH, then rename: readers never see a half-written file. */
static int write_atomic(const char *path, mode_t mode, const struct p12 *p, int with_key)
{
    char    tmp[PATH_MAX];
    int     fd, ok;
    BIO    *bio;

    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int) sizeof(tmp))
	return -1;
    if ((fd = mkstemp(tmp)) < 0) {
	fprintf(stderr, "cryptofilter: import: %s: %s\n", tmp, strerror(errno));
	return -1;
    }
    (void) fchmod(fd, mode);
    if ((bio = BIO_new_fd(fd, BIO_CLOSE)) == 0) {
	close(fd);
	unlink(tmp);
	return -1;
    }
    ok = (!with_key || PEM_write_bio_PrivateKey(bio, p->key, 0, 0, 0, 0, 0))
	&& PEM_write_bio_X509(bio, p->cert);
    for (int i = 0; ok && with_key && i < sk_X509_num(p->ca); i++)
	if (!already_written(p, i))
	    ok = PEM_write_bio_X509(bio, sk_X509_value(p->ca, i));
    ok = ok && BIO_flush(bio) == 1 && fsync(fd) == 0;
    BIO_free(bio);
    if (!ok || rename(tmp, path) < 0) {
	fprintf(stderr, "cryptofilter: import: cannot write %s\n", path);
	log_openssl_errors(path);
	unlink(tmp);
	return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

static int make_dir(const char *dir, const char *sub, mode_t mode, char *out, size_t outlen)
{
    if (snprintf(out, outlen, "%s/%s", dir, sub) >= (int) outlen)
	return -1;
    if (mkdir(out, mode) < 0 && errno != EEXIST) {
	fprintf(stderr, "cryptofilter: import: mkdir %s: %s\n", out, strerror(errno));
	return -1;
    }
    return 0;
}

static int install(const struct cf_config *cfg, const struct p12 *p, const char *name, int alt)
{
    char    dir[PATH_MAX], path[PATH_MAX + 400];

    if (make_dir(cfg->smime.cert_dir, "priv", 0700, dir, sizeof(dir)) < 0)
	return -1;
    if (alt) {
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(p->cert), 0);
	char   *hex = bn ? BN_bn2hex(bn) : 0;
	int     ret = -1;

	if (hex && make_dir(cfg->smime.cert_dir, "priv/alt", 0700, dir, sizeof(dir)) == 0) {
	    snprintf(path, sizeof(path), "%s/%s-%s.pem", dir, name, hex);
	    ret = write_atomic(path, 0600, p, 1);
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return ret;
    }
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    if (write_atomic(path, 0600, p, 1) < 0
	|| make_dir(cfg->smime.cert_dir, "pub", 0755, dir, sizeof(dir)) < 0)
	return -1;
    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    return write_atomic(path, 0644, p, 0);
}

int     cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {
	{"config", required_argument, 0, 'c'},
	{"alt", no_argument, 0, 'a'},
	{"password-file", required_argument, 0, 'p'},
	{"force", no_argument, 0, 'f'},
	{0, 0, 0, 0},
    };
    const char *path = 0, *pwfile = 0, *why = 0;
    char    pass[1024] = "", name[CF_ADDR_MAX + 1];
    int     alt = 0, force = 0, c, status = 1;
    struct p12 p = {0, 0, 0};
    struct cf_config *cfg;

    while ((c = getopt_long(argc, argv, "c:", opts, 0)) != -1) {
	switch (c) {
	case 'c': path = optarg; break;
	case 'a': alt = 1; break;
	case 'p': pwfile = optarg; break;
	case 'f': force = 1; break;
	default: return usage();
	}
    }
    if (argc - optind != 2)
	return usage();
    if (addr_file_name(argv[optind + 1], name, sizeof(name), &why) < 0) {
	fprintf(stderr, "cryptofilter: import: \"%s\" cannot name a key file: %s\n",
		argv[optind + 1], why ? why : "unsafe address");
	return CF_EXIT_USAGE;
    }
    cfg = tool_load_config(path);
    if (pwfile && read_password(pwfile, pass, sizeof(pass)) < 0)
	goto done;
    if (parse_p12(argv[optind], pass, &p) < 0)
	goto done;
    if (!force && !certstore_cert_has_address(p.cert, name)) {
	fprintf(stderr, "cryptofilter: import: the certificate does not carry %s "
		"(use --force to import it anyway)\n", name);
	goto done;
    }
    status = install(cfg, &p, name, alt) < 0 ? 1 : 0;

done:
    OPENSSL_cleanse(pass, sizeof(pass));
    EVP_PKEY_free(p.key);
    X509_free(p.cert);
    sk_X509_pop_free(p.ca, X509_free);
    config_unref(cfg);
    return status;
}
