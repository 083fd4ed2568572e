/*
 * fuzz_cms - libFuzzer target for the CMS input path: engine_run() inbound
 * with a verify + decrypt rule on a message that carries the fuzz input
 *   1. base64, as application/pkcs7-mime; smime-type=enveloped-data,
 *   2. base64, as the signature part of a multipart/signed,
 *   3. base64, as opaque signed-data (application/pkcs7-mime; smime-type=
 *      signed-data; the engine does not take Content-Transfer-Encoding:
 *      binary for it, so raw DER would only exercise the base64 decoder),
 * and engine_render() of each result.
 *
 * LLVMFuzzerInitialize makes a small cert_dir under /tmp (removed at exit):
 * a CA, bob@example.com (RSA 2048) and carol@example.com (EC P-256) with
 * keys in priv/ and certificates in pub/.  The keys are fixed (below) and
 * the certificates get fixed names and serial numbers, so seeds made once
 * for these keys (FUZZ_CMS_DUMP=DIR writes the cert_dir to DIR and exits)
 * keep reaching the real decryption and verification code
 * (FUZZ_CMS_VERBOSE=1 prints each result, to check the seeds do).  They are
 * throwaway test keys, used nowhere else.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "mime.h"
#include "spool.h"

static const char ca_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgC3s+k16gvA7uTyPt\n"
    "XubqvDVKv2hmHB6v9oxNVECcfbWhRANCAAQxqm2OO+CjPMuInR+z3EsSd52+NbsQ\n"
    "1qYXUr+01M9M+tP/vpCOut1MOEtLROVkOVXkIAdmXpLFr1a7+K9YMBRs\n"
    "-----END PRIVATE KEY-----\n"
;

static const char bob_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEuwIBADANBgkqhkiG9w0BAQEFAASCBKUwggShAgEAAoIBAQCelCXOsbyfi/wr\n"
    "B72H7Bf+dqgvsQuG6DDwYzfJTtCPYmeRYbtMB1eCEUitFj2TjpquWklS7m2BEnBz\n"
    "LU4W/twoScVc9AJ8qdFv/MYn7NxbW7QUgtEk7XKbFh08Ln329mhnxuzr8ra/wD1W\n"
    "t6gpktc2D/eyr380nYBCWUFJIPKbro52kGdZ3z7Z3El/dtRUBu07rretTBUobAm9\n"
    "DEPq2kxtrGdMM2+Sh9RndEq0uEZXz2unbkvNfR+5ZXaAf+vnd+Ewkue0V3oGOnSe\n"
    "0mg4AgrOoalDUnivnPcOAuHqHk1B/1lnORhxgCmWiGWDNDy86phrhfKL5ROYYMHh\n"
    "4Y8cVJxZAgMBAAECgf8G/IUB9Hb3mWoAx7xpJyFRMz5rJ+TZej7tZlHMpN84m/wk\n"
    "g8KZBvq7ym+V055UOxAqiek9LjDZFTF5Mc0bSBT+ulCW3rfdzxPzXQWLwJN37TGQ\n"
    "gY1a4DDa4/wjhGrCPVI2BGOOJUW3e+6Pw6YyXIvYr7FgNFD3lDNmcZjJKY5r+pje\n"
    "ANOiV0OvuZz4cXN+4rakE/O0Op7YjaDBYAbsnNzOZozyNJlef1PvIeM1uWEUzXIs\n"
    "GB37wQyUwu/aEkeNc5ZT9p6eO0hV/+5i2PvPPh6olPR75v/4x/etxPQvlCPXcyMP\n"
    "3pUTpKg2nUTD8oJflW7dSKgLFqS0Ppx1ROVaGK0CgYEA2FXCNu6/pSHoSPaqcw5A\n"
    "KzlXUt7f/50CegCKD+3CbpBwHPz5Q4hKeEOdQHu3Up4RlPSQNmRVOvkMBySyAvTn\n"
    "bv4VHxB2Nv8QDh4RXpFPSnsdg2ICyCOyZIu3SWcPY5Qod4DmZ80VT855L0gcMQYY\n"
    "+gWEM3lum3k5Dx+MRppYoxMCgYEAu6dyx5yezEDxuA8kYGcf2jGmMhVo5YuluPNS\n"
    "ETAuNZT6CPYiR0/et92LIzPtmJvBrkejAXfSr9w/yY3d5mqcSu+QlvfF7ja8ckwS\n"
    "FNI7htUJs5LnizO5XCRxaEsoCev/6LDgd0F1S+4Na2GOXd8q7nQ5kSPFoGbrzqAC\n"
    "1MdhxGMCgYBXUf5LmADJEa+ly9KvEEB8ce+6ZnW5wlFel1si5NBHOovWV5HxXVDZ\n"
    "zEjr30P22BC2tCSFn+f7Hs1pELm9kcbcuTgjSsy8lCWR3TcbmcGMibc28de3mxkF\n"
    "lpOL0EqY4hOXcPMPUOtaRDgMCqo+a3ynZpSfBlPL85lBbnV7hg9i+wKBgQCNOOpn\n"
    "kNXtL575/uNIbbOJ+L1ziatEvQC+HNgROWo9Rt2Y6utHMbOSOfdhSc4wgF+VMjJZ\n"
    "g3yafq2+mLZ7lpYCyyHMi7F4odbWSat94e2Mfj1r2E3K8+U2k/KJI66BMQuJabuz\n"
    "5B5LQ170BhonSTE8/VjpgrtTCMHD4aXfziEkswKBgF2tRBlgCYPkYyYP2HlNRdR6\n"
    "aqI7EjUmWKuQE/Jj/Lqi58fEguaQPWOWuKYefhhzezr84bKAif7r7Y/kNtWuWt3J\n"
    "Ar6TKdKQnBgwqp42FvZovVMk3C4uHWZdZeZoGNy5sEym2MMqDhVGe8GItwWmt6Jv\n"
    "3CPpF/p/wR+/Wwq3tpjs\n"
    "-----END PRIVATE KEY-----\n"
;

static const char carol_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmlzRNhSFh6lwzO6G\n"
    "Is76vz0PYPEVzkSd0Swy7+8Cu7ehRANCAARXKBZTQW/UKcwZDlH9s9TfAbV6IXWN\n"
    "d84BsiHudpjc4JqCveouwIc3rJAfbwnWTEOcrrvoLKmQannc+r+IXCw+\n"
    "-----END PRIVATE KEY-----\n"
;

int     LLVMFuzzerInitialize(int *argc, char ***argv);
int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char certdir[64];
static struct cf_config *cfg;
static FILE *devnull;
static int verbose;			/* FUZZ_CMS_VERBOSE: print each result */

static EVP_PKEY *load_key(const char *pem)
{
    BIO    *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, 0, 0, 0) : 0;

    BIO_free(bio);
    if (key == 0)
	abort();
    return key;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, 0, 0, 0);
    if ((ext = X509V3_EXT_conf_nid(0, &ctx, nid, value)) == 0 || !X509_add_ext(cert, ext, -1))
	abort();
    X509_EXTENSION_free(ext);
}

/* A certificate for KEY, signed by CAKEY (ISSUER NULL: self-signed CA). */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *cakey, X509 *issuer, const char *cn,
		       const char *email, const char *usage, long serial)
{
    X509   *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    char    san[128];

    if (cert == 0 || name == 0)
	abort();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -86400L);
    X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 86400L);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *) "cryptofilter fuzz", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
    X509_set_subject_name(cert, name);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(cert, key);
    if (issuer == 0) {
	add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(cert, cert, NID_subject_key_identifier, "hash");
    } else {
	snprintf(san, sizeof(san), "email:%s", email);
	add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
	add_ext(cert, issuer, NID_key_usage, usage);
	add_ext(cert, issuer, NID_ext_key_usage, "emailProtection");
	add_ext(cert, issuer, NID_subject_alt_name, san);
	add_ext(cert, issuer, NID_subject_key_identifier, "hash");
	add_ext(cert, issuer, NID_authority_key_identifier, "keyid");
    }
    if (!X509_sign(cert, cakey, EVP_sha256()))
	abort();
    X509_NAME_free(name);
    return cert;
}

/* DIR/SUB/NAME: KEY (may be NULL), CERT, CA (may be NULL), mode 0600. */
static void write_pem(const char *dir, const char *sub, const char *name,
		      EVP_PKEY *key, X509 *cert, X509 *ca)
{
    char    path[256];
    FILE   *fp;

    snprintf(path, sizeof(path), "%s/%s%s", dir, sub, name);
    if ((fp = fopen(path, "w")) == 0 || fchmod(fileno(fp), 0600) < 0)
	abort();
    if (key && !PEM_write_PrivateKey(fp, key, 0, 0, 0, 0, 0))
	abort();
    if (!PEM_write_X509(fp, cert) || (ca && !PEM_write_X509(fp, ca)))
	abort();
    fclose(fp);
}

static void make_certdir(const char *dir)
{
    static const char *subs[] = {"pub", "priv", "priv/alt"};
    EVP_PKEY *cakey = load_key(ca_key_pem);
    EVP_PKEY *bob = load_key(bob_key_pem);
    EVP_PKEY *carol = load_key(carol_key_pem);
    X509   *ca, *bobc, *carolc;
    char    path[256];

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
	snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
	if (mkdir(path, 0700) < 0)
	    abort();
    }
    ca = make_cert(cakey, cakey, 0, "cryptofilter fuzz CA", 0, 0, 1);
    bobc = make_cert(bob, cakey, ca, "bob", "bob@example.com",
		     "critical,digitalSignature,keyEncipherment", 2);
    carolc = make_cert(carol, cakey, ca, "carol", "carol@example.com",
		       "critical,digitalSignature,keyAgreement", 3);
    write_pem(dir, "", "ca.pem", 0, ca, 0);
    write_pem(dir, "priv/", "bob@example.com.pem", bob, bobc, ca);
    write_pem(dir, "priv/", "carol@example.com.pem", carol, carolc, ca);
    write_pem(dir, "pub/", "bob@example.com.pem", 0, bobc, 0);
    write_pem(dir, "pub/", "carol@example.com.pem", 0, carolc, 0);
    X509_free(ca);
    X509_free(bobc);
    X509_free(carolc);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(bob);
    EVP_PKEY_free(carol);
}

/* rm -r of the little tree made above (two levels deep at most). */
static void remove_tree(const char *dir)
{
    DIR    *d = opendir(dir);
    struct dirent *e;
    char    path[512];
    struct stat st;

    if (d == 0)
	return;
    while ((e = readdir(d)) != 0) {
	if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
	    continue;
	snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
	    remove_tree(path);
	else
	    unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void cleanup(void)
{
    config_unref(cfg);
    cfg = 0;
    if (devnull)
	fclose(devnull);
    if (certdir[0])
	remove_tree(certdir);
}

int     LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dump = getenv("FUZZ_CMS_DUMP");
    char    conf[1024];

    (void) argc;
    (void) argv;
    log_init("fuzz_cms", 0);
    verbose = getenv("FUZZ_CMS_VERBOSE") != 0;
    if (dump) {
	if (mkdir(dump, 0700) < 0)
	    abort();
	make_certdir(dump);
	fprintf(stderr, "fuzz_cms: cert_dir written to %s\n", dump);
	exit(0);
    }
    snprintf(certdir, sizeof(certdir), "/tmp/fuzz_cms.XXXXXX");
    if (mkdtemp(certdir) == 0)
	abort();
    atexit(cleanup);
    make_certdir(certdir);
    snprintf(conf, sizeof(conf),
	     "log { file = false  directory = \"/tmp\" }\n"
	     "statistics { enabled = false  directory = \"/tmp\" }\n"
	     "history { enabled = false  directory = \"/tmp\" }\n"
	     "milter { spool_dir = \"/tmp\"  memory_limit = 64K }\n"
	     "smime { cert_dir = \"%s\"  ca_file = \"ca.pem\"  collect_sender_certs = false }\n"
	     "smime_verify \"all\" { from = \"*\"  to = \"*\"  verify = true }\n"
	     "smime_decrypt \"all\" { from = \"*\"  to = \"*\"  certificate = \"*\" }\n",
	     certdir);
    if (config_load_string(conf, "fuzz_cms.conf", stderr, &cfg) != 0)
	abort();
    if ((devnull = fopen("/dev/null", "w")) == 0)
	abort();
    return 0;
}

static char hname[][32] = {"From", "To", "Subject", "MIME-Version", "Content-Type",
    "Content-Transfer-Encoding"};

/* Run the engine on a message with CTYPE / CTE headers and BODY. */
static void run(const char *ctype, const char *cte, const unsigned char *body, size_t len)
{
    char    from[] = "bob@example.com", to1[] = "bob@example.com", to2[] = "carol@example.com";
    char    v_from[] = "Bob <bob@example.com>", v_to[] = "bob@example.com, carol@example.com";
    char    v_subj[] = "fuzz", v_mime[] = "1.0";
    char    v_ctype[256], v_cte[32];
    char   *rcpts[] = {to1, to2};
    struct engine_header h[6];
    struct engine_msg msg;
    struct engine_result res;

    snprintf(v_ctype, sizeof(v_ctype), "%s", ctype);
    snprintf(v_cte, sizeof(v_cte), "%s", cte);
    h[0].value = v_from;
    h[1].value = v_to;
    h[2].value = v_subj;
    h[3].value = v_mime;
    h[4].value = v_ctype;
    h[5].value = v_cte;
    for (int i = 0; i < 6; i++)
	h[i].name = hname[i];
    memset(&msg, 0, sizeof(msg));
    msg.outbound = 0;
    msg.queue_id = "FUZZ";
    msg.client_addr = "192.0.2.1";
    msg.sender = from;
    msg.recipients = rcpts;
    msg.nrecipients = 2;
    msg.headers = h;
    msg.nheaders = 6;
    if ((msg.body = spool_new(64 * 1024, "/tmp")) == 0)
	return;
    if (spool_write(msg.body, body, len) == 0) {
	memset(&res, 0, sizeof(res));
	if (engine_run(cfg, &msg, &res) == 0) {
	    (void) engine_render(&msg, &res, devnull);
	    if (verbose)
		fprintf(stderr, "fuzz_cms: %s: verify=%s (%s) decrypt=%s\n", ctype,
			engine_verify_name(res.verify), res.verify_reason,
			engine_decrypt_name(res.decrypt));
	}
	engine_result_free(&res);
    }
    spool_free(msg.body);
}

int     LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sig_head[] =
	"This is an S/MIME signed message\r\n\r\n--b1\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n\r\nsigned text\r\n--b1\r\n"
	"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\n";
    static const char sig_tail[] = "\r\n--b1--\r\n";
    struct mbuf b64, sig;

    mbuf_init(&b64, 0);
    mbuf_init(&sig, 0);
    if (mime_base64_encode(data, size, &b64) == 0) {
	run("application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m", "base64",
	    b64.data, b64.len);
	if (mbuf_addstr(&sig, sig_head) == 0 && mbuf_add(&sig, b64.data, b64.len) == 0
	    && mbuf_addstr(&sig, sig_tail) == 0)
	    run("multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
		"boundary=\"b1\"", "7bit", sig.data, sig.len);
	run("application/pkcs7-mime; smime-type=signed-data; name=smime.p7m", "base64",
	    b64.data, b64.len);
    }
    mbuf_free(&b64);
    mbuf_free(&sig);
    return 0;
}
