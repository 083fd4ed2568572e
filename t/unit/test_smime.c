/* test_smime - CMS sign/encrypt/decrypt/verify of MIME entities, checked
 * against OpenSSL's own CMS API both ways.  Keys come from t/lib/pki.sh,
 * made at test time under CF_TMPDIR. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "certstore.h"
#include "log.h"
#include "smime.h"

static char dir[1024];
static struct cf_smime_cfg scfg;

static const char entity[] = "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    "Hello, this is the signed text.\r\nSecond line.\r\n";

static int setup(void **state)
{
    char    cmd[4096];
    const char *src = getenv("CF_SRCDIR"), *tmp = getenv("CF_TMPDIR");

    (void) state;
    log_init("test_smime", 1);
    snprintf(dir, sizeof(dir), "%s/smime-pki", tmp ? tmp : "/tmp");
    snprintf(cmd, sizeof(cmd), "bash -c '. \"%s/t/lib/pki.sh\" && pki_make \"%s\"' >/dev/null 2>&1",
	     src ? src : ".", dir);
    if (system(cmd) != 0)
	return -1;
    static char cert_dir[1100];
    snprintf(cert_dir, sizeof(cert_dir), "%s/cert", dir);
    scfg.cert_dir = cert_dir;
    scfg.ca_file = "ca.pem";
    return 0;
}

static void key_of(const char *addr, struct cs_key *k)
{
    assert_int_equal(certstore_sign_key(&scfg, "*", addr, k), 0);
}

static void test_classify(void **state)
{
    (void) state;
    assert_int_equal(smime_classify(0), SMIME_PLAIN);
    assert_int_equal(smime_classify("text/plain"), SMIME_PLAIN);
    assert_int_equal(smime_classify("multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=x"), SMIME_SIGNED_DETACHED);
    assert_int_equal(smime_classify("multipart/signed; protocol=\"application/pgp-signature\"; boundary=x"), SMIME_PLAIN);
    assert_int_equal(smime_classify("application/x-pkcs7-mime; smime-type=enveloped-data"), SMIME_ENVELOPED);
    assert_int_equal(smime_classify("application/pkcs7-mime; smime-type=authEnveloped-data"), SMIME_ENVELOPED);
    assert_int_equal(smime_classify("application/pkcs7-mime; smime-type=signed-data"), SMIME_SIGNED_OPAQUE);
    assert_int_equal(smime_classify("application/pkcs7-mime; name=smime.p7m"), SMIME_OTHER);
}

static void verify_ok(const struct mbuf *signed_ent, const char *signer)
{
    struct smime_verify_result v;
    X509_STORE *store = certstore_ca(&scfg);

    assert_non_null(store);
    smime_verify(signed_ent->data, signed_ent->len, store, &v);
    assert_int_equal(v.status, EV_VALID);
    assert_string_equal(v.signer, signer);
    assert_non_null(v.signer_cert);
    {
	size_t  clen;
	const unsigned char *c = smime_verify_content(&v, &clen);

	assert_int_equal(clen, strlen(entity));
	assert_memory_equal(c, entity, clen);
    }
    smime_verify_result_free(&v);
    /* Without a trust store the same signature is untrusted. */
    smime_verify(signed_ent->data, signed_ent->len, 0, &v);
    assert_int_equal(v.status, EV_UNTRUSTED);
    smime_verify_result_free(&v);
    X509_STORE_free(store);
}

/* OpenSSL's SMIME reader + CMS_verify must accept what we make. */
static void openssl_verifies(const struct mbuf *signed_ent)
{
    BIO    *in = BIO_new_mem_buf(signed_ent->data, (int) signed_ent->len);
    BIO    *cont = 0, *out = BIO_new(BIO_s_mem());
    X509_STORE *store = certstore_ca(&scfg);
    CMS_ContentInfo *cms = SMIME_read_CMS(in, &cont);
    char   *data;
    long    n;

    assert_non_null(cms);
    assert_int_equal(CMS_verify(cms, 0, store, cont, out, CMS_BINARY), 1);
    n = BIO_get_mem_data(out, &data);
    assert_true(n > 0 && strstr(entity, "signed text") != 0);
    assert_non_null(memmem(data, (size_t) n, "Hello, this is the signed text.", 31));
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(cont);
    BIO_free(out);
    X509_STORE_free(store);
}

static void test_sign_detached(void **state)
{
    struct cs_key k;
    struct mbuf out;

    (void) state;
    key_of("alice@example.com", &k);
    mbuf_init(&out, 0);
    assert_int_equal(smime_sign((const unsigned char *) entity, strlen(entity), &k,
				CF_DIGEST_SHA256, 0, &out), 0);
    assert_int_equal(mbuf_terminate(&out), 0);
    assert_non_null(strstr((char *) out.data, "multipart/signed; protocol=\"application/pkcs7-signature\""));
    assert_non_null(strstr((char *) out.data, "micalg=sha-256"));
    verify_ok(&out, "alice@example.com");
    openssl_verifies(&out);

    /* One changed byte in the content: invalid, never valid. */
    {
	char   *p = strstr((char *) out.data, "Second line");
	struct smime_verify_result v;
	X509_STORE *store = certstore_ca(&scfg);

	p[0] = 'X';
	smime_verify(out.data, out.len, store, &v);
	assert_int_equal(v.status, EV_INVALID);
	smime_verify_result_free(&v);
	X509_STORE_free(store);
    }
    mbuf_free(&out);
    cs_key_release(&k);
}

static void test_sign_opaque_ec_sha512(void **state)
{
    struct cs_key k;
    struct mbuf out;

    (void) state;
    key_of("carol@example.com", &k);	/* EC P-256 */
    mbuf_init(&out, 0);
    assert_int_equal(smime_sign((const unsigned char *) entity, strlen(entity), &k,
				CF_DIGEST_SHA512, 1, &out), 0);
    assert_int_equal(mbuf_terminate(&out), 0);
    assert_non_null(strstr((char *) out.data, "smime-type=signed-data"));
    verify_ok(&out, "carol@example.com");
    openssl_verifies(&out);
    mbuf_free(&out);
    cs_key_release(&k);
}

/*
 * Detached signatures (RSA: encoded by smime.c itself; EC: by CMS_sign)
 * are canonical DER, exactly what OpenSSL re-encodes them to, and carry
 * the four signed attributes OpenSSL would add.
 */
static void test_signature_der(void **state)
{
    static const struct {
	const char *who;
	enum cf_digest d;
    } cases[] = {
	{"alice@example.com", CF_DIGEST_SHA256}, {"alice@example.com", CF_DIGEST_SHA384},
	{"alice@example.com", CF_DIGEST_SHA512}, {"carol@example.com", CF_DIGEST_SHA256},
    };
    static const int nids[] = {
	NID_pkcs9_contentType, NID_pkcs9_signingTime, NID_pkcs9_messageDigest,
	NID_SMIMECapabilities,
    };

    (void) state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
	struct cs_key k;
	struct mbuf out, der;
	struct mime_part parts[2];
	char    boundary[128], *b;
	const unsigned char *p;
	unsigned char *again = 0;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	int     n;

	key_of(cases[c].who, &k);
	mbuf_init(&out, 0);
	mbuf_init(&der, 0);
	assert_int_equal(smime_sign((const unsigned char *) entity, strlen(entity), &k,
				    cases[c].d, 0, &out), 0);
	assert_int_equal(mbuf_terminate(&out), 0);
	openssl_verifies(&out);
	b = strstr((char *) out.data, "boundary=\"");
	assert_non_null(b);
	n = (int) strcspn(b + 10, "\"");
	snprintf(boundary, sizeof(boundary), "%.*s", n, b + 10);
	b = strstr((char *) out.data, "\r\n\r\n") + 4;
	assert_int_equal(mime_multipart_split((unsigned char *) b, strlen(b), boundary, parts, 2), 2);
	b += parts[1].off;
	b = strstr(b, "\r\n\r\n") + 4;
	assert_int_equal(mime_base64_decode((unsigned char *) b, strcspn(b, "-"), &der), 0);
	p = der.data;
	cms = d2i_CMS_ContentInfo(0, &p, (long) der.len);
	assert_non_null(cms);
	assert_int_equal(p - der.data, (long) der.len);
	n = i2d_CMS_ContentInfo(cms, &again);
	assert_int_equal(n, (int) der.len);
	assert_memory_equal(again, der.data, der.len);
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	assert_non_null(si);
	assert_int_equal(CMS_signed_get_attr_count(si), 4);
	for (int i = 0; i < 4; i++)
	    assert_true(CMS_signed_get_attr_by_NID(si, nids[i], -1) >= 0);
	/* The signer and its CA: the chain of the key file is included. */
	{
	    STACK_OF(X509) *certs = CMS_get1_certs(cms);

	    assert_int_equal(sk_X509_num(certs), 2);
	    sk_X509_pop_free(certs, X509_free);
	}
	OPENSSL_free(again);
	CMS_ContentInfo_free(cms);
	mbuf_free(&der);
	mbuf_free(&out);
	cs_key_release(&k);
    }
}

/* In-place signing gives the same verifiable result, both forms. */
static void test_sign_entity(void **state)
{
    struct cs_key k;
    struct mbuf ent;

    (void) state;
    key_of("alice@example.com", &k);
    for (int opaque = 0; opaque < 2; opaque++) {
	mbuf_init(&ent, 0);
	assert_int_equal(mbuf_addstr(&ent, entity), 0);
	assert_int_equal(smime_sign_entity(&ent, &k, CF_DIGEST_SHA384, opaque), 0);
	assert_true(ent.len > strlen(entity) + 500);
	verify_ok(&ent, "alice@example.com");
	openssl_verifies(&ent);
	mbuf_free(&ent);
    }
    cs_key_release(&k);
}

/*
 * Enveloped data to RSA recipients with a CBC cipher (encoded by smime.c
 * itself): canonical DER, exactly what OpenSSL re-encodes it to, one
 * RecipientInfo per recipient, and OpenSSL decrypts it with each key.
 */
static void test_enveloped_der(void **state)
{
    static const enum cf_cipher ciphers[] = {
	CF_CIPHER_AES_128_CBC, CF_CIPHER_AES_192_CBC, CF_CIPHER_AES_256_CBC,
	CF_CIPHER_DES_EDE3_CBC,
    };
    const char *rcpts[] = {"dave@partner.com", "bob@example.com"};
    struct cs_key pub[2];
    X509   *certs[2];

    (void) state;
    for (int i = 0; i < 2; i++) {
	assert_int_equal(certstore_encrypt_cert(&scfg, "*", rcpts[i], &pub[i]), 0);
	certs[i] = pub[i].cert;
    }
    for (size_t c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++) {
	struct mbuf enc, der;
	const unsigned char *p;
	unsigned char *again = 0;
	CMS_ContentInfo *cms;
	char   *b;
	int     n;

	mbuf_init(&enc, 0);
	mbuf_init(&der, 0);
	assert_int_equal(smime_encrypt((const unsigned char *) entity, strlen(entity), certs, 2,
				       ciphers[c], CF_KEY_TRANSPORT_PKCS1, &enc), 0);
	assert_int_equal(mbuf_terminate(&enc), 0);
	assert_non_null(strstr((char *) enc.data, "smime-type=enveloped-data"));
	b = strstr((char *) enc.data, "\r\n\r\n") + 4;
	assert_int_equal(mime_base64_decode((unsigned char *) b, strlen(b), &der), 0);
	p = der.data;
	cms = d2i_CMS_ContentInfo(0, &p, (long) der.len);
	assert_non_null(cms);
	n = i2d_CMS_ContentInfo(cms, &again);
	assert_int_equal(n, (int) der.len);
	assert_memory_equal(again, der.data, der.len);
	assert_int_equal(sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(cms)), 2);
	for (int i = 0; i < 2; i++) {
	    struct cs_key priv;
	    BIO    *out = BIO_new(BIO_s_mem());
	    char   *data;
	    long    len;

	    key_of(rcpts[i], &priv);
	    assert_int_equal(CMS_decrypt(cms, priv.key, priv.cert, 0, out, CMS_BINARY), 1);
	    len = BIO_get_mem_data(out, &data);
	    assert_int_equal(len, (long) strlen(entity));
	    assert_memory_equal(data, entity, (size_t) len);
	    BIO_free(out);
	    cs_key_release(&priv);
	}
	OPENSSL_free(again);
	CMS_ContentInfo_free(cms);
	mbuf_free(&der);
	mbuf_free(&enc);
    }
    for (int i = 0; i < 2; i++)
	cs_key_release(&pub[i]);
}

static void roundtrip(enum cf_cipher cipher, enum cf_key_transport kt, const char *type)
{
    const char *rcpts[] = {"bob@example.com", "carol@example.com", "dave@partner.com"};
    struct cs_key pub[3], priv;
    X509   *certs[3];
    struct mbuf enc, dec;
    char    why[128];

    for (int i = 0; i < 3; i++) {
	assert_int_equal(certstore_encrypt_cert(&scfg, "*", rcpts[i], &pub[i]), 0);
	certs[i] = pub[i].cert;
    }
    mbuf_init(&enc, 0);
    assert_int_equal(smime_encrypt((const unsigned char *) entity, strlen(entity), certs, 3,
				   cipher, kt, &enc), 0);
    assert_int_equal(mbuf_terminate(&enc), 0);
    assert_non_null(strstr((char *) enc.data, type));
    for (int i = 0; i < 3; i++) {
	key_of(rcpts[i], &priv);
	mbuf_init(&dec, 0);
	assert_int_equal(smime_decrypt(enc.data, enc.len, &priv, 1, &dec, why, sizeof(why)),
			 ED_DECRYPTED);
	assert_int_equal(dec.len, strlen(entity));
	assert_memory_equal(dec.data, entity, dec.len);
	mbuf_free(&dec);
	cs_key_release(&priv);
    }
    /* Not a recipient: no key, and no trial decryption. */
    key_of("alice@example.com", &priv);
    mbuf_init(&dec, 0);
    assert_int_equal(smime_decrypt(enc.data, enc.len, &priv, 1, &dec, why, sizeof(why)), ED_NO_KEY);
    assert_int_equal(dec.len, 0);
    mbuf_free(&dec);
    cs_key_release(&priv);
    /* OpenSSL decrypts it too (bob). */
    {
	BIO    *in = BIO_new_mem_buf(enc.data, (int) enc.len), *out = BIO_new(BIO_s_mem());
	CMS_ContentInfo *cms = SMIME_read_CMS(in, 0);

	key_of("bob@example.com", &priv);
	assert_non_null(cms);
	assert_int_equal(CMS_decrypt(cms, priv.key, priv.cert, 0, out, CMS_BINARY), 1);
	assert_int_equal(BIO_pending(out), (int) strlen(entity));
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	cs_key_release(&priv);
    }
    mbuf_free(&enc);
    for (int i = 0; i < 3; i++)
	cs_key_release(&pub[i]);
}

static void test_encrypt_cbc(void **state)
{
    (void) state;
    roundtrip(CF_CIPHER_AES_256_CBC, CF_KEY_TRANSPORT_PKCS1, "smime-type=enveloped-data");
    roundtrip(CF_CIPHER_AES_128_CBC, CF_KEY_TRANSPORT_OAEP, "smime-type=enveloped-data");
}

static void test_encrypt_gcm(void **state)
{
    (void) state;
    roundtrip(CF_CIPHER_AES_256_GCM, CF_KEY_TRANSPORT_PKCS1, "smime-type=authEnveloped-data");
    roundtrip(CF_CIPHER_AES_128_GCM, CF_KEY_TRANSPORT_OAEP, "smime-type=authEnveloped-data");
}

/* Old mail: 3DES made by OpenSSL, to bob's old key (priv/alt). */
static void test_decrypt_legacy_alt(void **state)
{
    struct cs_key *keys = 0, old;
    size_t  nkeys = 0;
    struct mbuf dec, msg;
    char    why[128], path[1200];
    BIO    *in = BIO_new_mem_buf(entity, (int) strlen(entity)), *out = BIO_new(BIO_s_mem());
    STACK_OF(X509) *to = sk_X509_new_null();
    CMS_ContentInfo *cms;
    char   *data;
    long    n;

    (void) state;
    snprintf(path, sizeof(path), "%s/cert/priv/alt", dir);
    assert_int_equal(certstore_decrypt_keys(&scfg, "*", "bob@example.com", &keys, &nkeys), 2);
    old = keys[1];
    sk_X509_push(to, old.cert);
    cms = CMS_encrypt(to, in, EVP_des_ede3_cbc(), CMS_BINARY);
    assert_non_null(cms);
    assert_int_equal(SMIME_write_CMS(out, cms, 0, CMS_BINARY), 1);
    n = BIO_get_mem_data(out, &data);
    mbuf_init(&msg, 0);
    assert_int_equal(mbuf_add(&msg, data, (size_t) n), 0);
    /* SMIME_write_CMS adds MIME-Version first: entity parsing copes. */
    mbuf_init(&dec, 0);
    assert_int_equal(smime_decrypt(msg.data, msg.len, keys, nkeys, &dec, why, sizeof(why)),
		     ED_DECRYPTED);
    assert_non_null(strstr(why, "alt"));
    assert_int_equal(dec.len, strlen(entity));
    /* Only the new key: no match. */
    mbuf_free(&dec);
    mbuf_init(&dec, 0);
    assert_int_equal(smime_decrypt(msg.data, msg.len, keys, 1, &dec, why, sizeof(why)), ED_NO_KEY);
    mbuf_free(&dec);
    mbuf_free(&msg);
    sk_X509_free(to);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(out);
    cs_keys_release(keys, nkeys);
}

static void test_garbage(void **state)
{
    const char *bad[] = {
	"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nMIIB****\r\n",
	"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nMIIBAAAA\r\n",
	"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: application/pkcs7-signature\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n",
	"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n"
	    "--b\r\nx\r\n",
	"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\n",
	"",
    };
    struct cs_key k;
    struct mbuf out;
    char    why[128];
    struct smime_verify_result v;

    (void) state;
    key_of("bob@example.com", &k);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
	mbuf_init(&out, 0);
	assert_int_equal(smime_decrypt((const unsigned char *) bad[i], strlen(bad[i]), &k, 1,
				       &out, why, sizeof(why)), ED_FAILED);
	mbuf_free(&out);
	smime_verify((const unsigned char *) bad[i], strlen(bad[i]), 0, &v);
	if (i == 0 || i == 1)
	    assert_int_equal(v.status, EV_NOT_SIGNED);
	else if (i == 5)
	    assert_int_equal(v.status, EV_NOT_SIGNED);
	else
	    assert_int_equal(v.status, EV_ERROR);
	smime_verify_result_free(&v);
    }
    cs_key_release(&k);
}

static enum engine_verify verify_with(const char *signer_addr, X509_STORE *store)
{
    struct cs_key k;
    struct mbuf out;
    struct smime_verify_result v;
    enum engine_verify st;

    key_of(signer_addr, &k);
    mbuf_init(&out, 0);
    assert_int_equal(smime_sign((const unsigned char *) entity, strlen(entity), &k,
				CF_DIGEST_SHA256, 0, &out), 0);
    smime_verify(out.data, out.len, store, &v);
    st = v.status;
    smime_verify_result_free(&v);
    mbuf_free(&out);
    cs_key_release(&k);
    return st;
}

/* A ca_file with a CRL that revokes alice: her signatures are "revoked",
 * bob's stay valid. */
static void test_revoked(void **state)
{
    char    path[1300];
    FILE   *fp;
    X509   *ca;
    EVP_PKEY *cakey;
    X509_CRL *crl = X509_CRL_new();
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_TIME *last = ASN1_TIME_set(0, time(0) - 3600), *next = ASN1_TIME_set(0, time(0) + 86400);
    struct cs_key alice;
    struct cf_smime_cfg c2 = scfg;
    X509_STORE *store;

    (void) state;
    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    assert_non_null(fp = fopen(path, "r"));
    assert_non_null(ca = PEM_read_X509(fp, 0, 0, 0));
    fclose(fp);
    snprintf(path, sizeof(path), "%s/ca.key", dir);
    assert_non_null(fp = fopen(path, "r"));
    assert_non_null(cakey = PEM_read_PrivateKey(fp, 0, 0, 0));
    fclose(fp);
    key_of("alice@example.com", &alice);
    assert_int_equal(X509_CRL_set_version(crl, 1), 1);
    assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)), 1);
    assert_int_equal(X509_CRL_set1_lastUpdate(crl, last), 1);
    assert_int_equal(X509_CRL_set1_nextUpdate(crl, next), 1);
    assert_int_equal(X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(alice.cert)), 1);
    assert_int_equal(X509_REVOKED_set_revocationDate(rev, last), 1);
    assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
    assert_int_equal(X509_CRL_sort(crl), 1);
    assert_true(X509_CRL_sign(crl, cakey, EVP_sha256()) > 0);
    snprintf(path, sizeof(path), "%s/ca-with-crl.pem", dir);
    assert_non_null(fp = fopen(path, "w"));
    assert_int_equal(PEM_write_X509(fp, ca), 1);
    assert_int_equal(PEM_write_X509_CRL(fp, crl), 1);
    fclose(fp);
    c2.ca_file = path;
    assert_non_null(store = certstore_ca(&c2));
    assert_int_equal(verify_with("alice@example.com", store), EV_REVOKED);
    assert_int_equal(verify_with("bob@example.com", store), EV_VALID);
    X509_STORE_free(store);
    cs_key_release(&alice);
    X509_CRL_free(crl);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
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
	cmocka_unit_test(test_classify),
	cmocka_unit_test(test_sign_detached),
	cmocka_unit_test(test_sign_opaque_ec_sha512),
	cmocka_unit_test(test_sign_entity),
	cmocka_unit_test(test_signature_der),
	cmocka_unit_test(test_encrypt_cbc),
	cmocka_unit_test(test_enveloped_der),
	cmocka_unit_test(test_encrypt_gcm),
	cmocka_unit_test(test_decrypt_legacy_alt),
	cmocka_unit_test(test_garbage),
	cmocka_unit_test(test_revoked),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
