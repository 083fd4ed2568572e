/*
 * certstore - where the S/MIME engine finds certificates and keys.
 *
 * cert_dir holds pub/<addr>.pem (certificates of correspondents),
 * pub/db-<addr>.pem (collected from valid signatures), priv/<addr>.pem
 * (our key + certificate + chain, mode 0600) and priv/alt/<addr>*.pem (old
 * keys, for old mail).  An address becomes a file name only through
 * addr_file_name().  A key file that group or others can read is refused.
 *
 * Loaded files are cached process-wide, keyed by path, and reloaded when
 * the file's inode, size or mtime changes: a lookup is one stat() and a
 * hash lookup.  All functions are thread-safe; what they hand out carries
 * its own references (release with cs_key_release / X509_STORE_free).
 */
#ifndef CF_CERTSTORE_H
#define CF_CERTSTORE_H

#include <stddef.h>

#include <openssl/x509.h>
#include <openssl/evp.h>

#include "config.h"

struct cs_key {
    X509   *cert;
    EVP_PKEY *key;			/* NULL for a certificate from pub/ */
    STACK_OF(X509) *chain;		/* the other certificates of the file */
    char    path[4096];
};

void    cs_key_release(struct cs_key *k);

/* Signing key for SENDER under rule certificate CERTIFICATE ("*" or a
 * file name in priv/).  0, or -1 (none; the reason is logged). */
int     certstore_sign_key(const struct cf_smime_cfg *cfg, const char *certificate,
			   const char *sender, struct cs_key *out);

/* Encryption certificate for RCPT: "*" = pub/<rcpt>.pem, then
 * pub/db-<rcpt>.pem; else the named file in pub/.  0 or -1. */
int     certstore_encrypt_cert(const struct cf_smime_cfg *cfg, const char *certificate,
			       const char *rcpt, struct cs_key *out);

/* Decryption keys for RCPT, best first: priv/<rcpt>.pem (or the named
 * file), then every priv/alt/<rcpt>*.pem.  Appends to *KEYS (grown with
 * realloc, *NKEYS updated).  Returns the number added. */
int     certstore_decrypt_keys(const struct cf_smime_cfg *cfg, const char *certificate,
			       const char *rcpt, struct cs_key **keys, size_t *nkeys);
void    cs_keys_release(struct cs_key *keys, size_t nkeys);

/* The trust store built from ca_file (relative to cert_dir unless
 * absolute), cached like the rest.  NULL when it cannot be loaded.  The
 * caller owns one reference: X509_STORE_free() it. */
X509_STORE *certstore_ca(const struct cf_smime_cfg *cfg);

/* Does CERT carry ADDR (SAN rfc822Name or subject emailAddress)? */
int     certstore_cert_has_address(X509 *cert, const char *addr);

/* The first address CERT carries, lower case, into OUT.  0 or -1. */
int     certstore_cert_address(X509 *cert, char *out, size_t outlen);

/*
 * Store CERT as pub/db-<sender>.pem.  The caller has checked that the
 * signature is valid and chains to ca_file; this checks that CERT carries
 * SENDER and never replaces a certificate with a later notBefore.  Written
 * atomically (temp file + rename).  1 written, 0 kept the old one, -1 error.
 */
int     certstore_collect(const struct cf_smime_cfg *cfg, const char *sender, X509 *cert);

/*
 * Load every private key of priv/ and priv/alt/ now and pin it: a daemon
 * calls this as root, before it drops privileges, so keys readable only by
 * root stay usable.  A pinned key is still re-read when its file changes
 * and can be read; when it cannot (EACCES), the pinned copy is used and the
 * change is logged.  Returns the number of keys loaded.
 */
int     certstore_preload_keys(const struct cf_smime_cfg *cfg);

/* Drop every cached entry except pinned keys (tests, reload). */
void    certstore_flush(void);

/* Number of cached files (tests, benchmarks). */
size_t  certstore_cached(void);

#endif
