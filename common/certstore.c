/*
 * certstore - cached certificate and key lookups under cert_dir; see
 * certstore.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "certstore.h"
#include "log.h"

enum cs_role { CS_PUB, CS_PRIV };

/* One cached file. */
struct cs_entry {
    struct cs_entry *next;
    char   *path;
    dev_t   dev;
    ino_t   ino;
    off_t   size;
    struct timespec mtime;
    X509   *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;
    X509_STORE *store;			/* for the ca_file entry */
    int     pinned;			/* loaded before privileges were dropped */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cs_entry **buckets;
static size_t nbuckets;
static size_t nentries;

static size_t hash_path(const char *s)
{
    size_t  h = 5381;

    while (*s)
	h = h * 33 ^ (unsigned char) *s++;
    return h;
}

static void entry_free(struct cs_entry *e)
{
    X509_free(e->cert);
    EVP_PKEY_free(e->key);
    sk_X509_pop_free(e->chain, X509_free);
    X509_STORE_free(e->store);
    free(e->path);
    free(e);
}

static int same_file(const struct cs_entry *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino
	&& e->size == st->st_size
	&& e->mtime.tv_sec == st->st_mtim.tv_sec
	&& e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Call with cache_lock held. */
static struct cs_entry *cache_find(const char *path)
{
    if (nbuckets == 0)
	return 0;
    for (struct cs_entry *e = buckets[hash_path(path) % nbuckets]; e; e = e->next)
	if (strcmp(e->path, path) == 0)
	    return e;
    return 0;
}

/* Call with cache_lock held.  Keeps chains short as the store grows. */
static int cache_grow(void)
{
    size_t  n = nbuckets ? nbuckets * 2 : 1024;
    struct cs_entry **nb = calloc(n, sizeof(*nb));

    if (nb == 0)
	return -1;
    for (size_t i = 0; i < nbuckets; i++) {
	struct cs_entry *e = buckets[i], *next;

	for (; e; e = next) {
	    next = e->next;
	    e->next = nb[hash_path(e->path) % n];
	    nb[hash_path(e->path) % n] = e;
	}
    }
    free(buckets);
    buckets = nb;
    nbuckets = n;
    return 0;
}

/* Call with cache_lock held: insert E, replacing an entry of the same path. */
static void cache_put(struct cs_entry *e)
{
    struct cs_entry **pp;

    if (nentries >= nbuckets && cache_grow() < 0 && nbuckets == 0) {
	entry_free(e);
	return;
    }
    for (pp = &buckets[hash_path(e->path) % nbuckets]; *pp; pp = &(*pp)->next) {
	if (strcmp((*pp)->path, e->path) == 0) {
	    struct cs_entry *old = *pp;

	    e->pinned |= old->pinned;
	    e->next = old->next;
	    *pp = e;
	    entry_free(old);
	    return;
	}
    }
    e->next = buckets[hash_path(e->path) % nbuckets];
    buckets[hash_path(e->path) % nbuckets] = e;
    nentries++;
}

/* Drop every entry but the pinned keys: after privileges are dropped
 * they may not be readable again (see certstore_preload_keys). */
void    certstore_flush(void)
{
    struct cs_entry *keep = 0;

    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < nbuckets; i++) {
	struct cs_entry *e = buckets[i], *next;

	for (; e; e = next) {
	    next = e->next;
	    if (e->pinned) {
		e->next = keep;
		keep = e;
	    } else {
		entry_free(e);
	    }
	}
    }
    free(buckets);
    buckets = 0;
    nbuckets = nentries = 0;
    for (struct cs_entry *e = keep, *next; e; e = next) {
	next = e->next;
	cache_put(e);
    }
    pthread_mutex_unlock(&cache_lock);
}

size_t  certstore_cached(void)
{
    size_t  n;

    pthread_mutex_lock(&cache_lock);
    n = nentries;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

/* Never prompt for a pass phrase: a daemon has no terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;
    return -1;
}

/* Read every certificate (and, for PRIV, the key) of the PEM file PATH
 * into E.  The leaf is the certificate that matches the key, else the
 * first one. */
static int load_pem(const char *path, enum cs_role role, struct cs_entry *e)
{
    BIO    *bio = BIO_new_file(path, "r");
    STACK_OF(X509) *all = sk_X509_new_null();
    X509   *x;
    int     leaf = 0;

    if (bio == 0 || all == 0) {
	log_openssl_errors(path);
	BIO_free(bio);
	sk_X509_free(all);
	return -1;
    }
    if (role == CS_PRIV) {
	e->key = PEM_read_bio_PrivateKey(bio, 0, no_password, 0);
	if (e->key == 0) {
	    msg_warn("certstore: %s: no usable private key (encrypted keys are not supported)", path);
	    log_openssl_errors(path);
	    goto fail;
	}
	(void) BIO_reset(bio);
    }
    while ((x = PEM_read_bio_X509(bio, 0, no_password, 0)) != 0)
	if (!sk_X509_push(all, x)) {
	    X509_free(x);
	    goto fail;
	}
    ERR_clear_error();			/* the expected "no start line" at EOF */
    if (sk_X509_num(all) == 0) {
	msg_warn("certstore: %s: no certificate", path);
	goto fail;
    }
    if (e->key) {
	for (leaf = 0; leaf < sk_X509_num(all); leaf++)
	    if (X509_check_private_key(sk_X509_value(all, leaf), e->key) == 1)
		break;
	ERR_clear_error();
	if (leaf == sk_X509_num(all)) {
	    msg_warn("certstore: %s: no certificate matches the private key", path);
	    goto fail;
	}
    }
    e->cert = sk_X509_delete(all, leaf);
    e->chain = all;
    BIO_free(bio);
    return 0;

fail:
    BIO_free(bio);
    sk_X509_pop_free(all, X509_free);
    EVP_PKEY_free(e->key);
    e->key = 0;
    return -1;
}

static int load_ca(const char *path, struct cs_entry *e)
{
    if ((e->store = X509_STORE_new()) == 0
	|| X509_STORE_load_file(e->store, path) != 1) {
	msg_warn("certstore: cannot load ca_file %s", path);
	log_openssl_errors(path);
	return -1;
    }
    /* Check revocation only where the CA file brings CRLs. */
    {
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(e->store);

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
	    if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_CRL) {
		X509_STORE_set_flags(e->store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
		break;
	    }
    }
    return 0;
}

/* Copy the references of E into OUT. */
static void hand_out(const struct cs_entry *e, struct cs_key *out)
{
    if (e->cert && X509_up_ref(e->cert))
	out->cert = e->cert;
    if (e->key && EVP_PKEY_up_ref(e->key))
	out->key = e->key;
    if (e->chain)
	out->chain = X509_chain_up_ref(e->chain);
    snprintf(out->path, sizeof(out->path), "%s", e->path);
}

/* A key loaded before privileges were dropped, for a file we may no
 * longer read.  0 handed out, -1 none. */
static int pinned_key(const char *path, struct cs_key *out)
{
    struct cs_entry *e;
    int     ok = -1;

    pthread_mutex_lock(&cache_lock);
    if ((e = cache_find(path)) != 0 && e->pinned && e->key) {
	hand_out(e, out);
	ok = 0;
    }
    pthread_mutex_unlock(&cache_lock);
    return ok;
}

/* Load PATH through the cache.  CA: build an X509_STORE instead of a key. */
static int lookup(const char *path, enum cs_role role, int ca, struct cs_key *out,
		  X509_STORE **store)
{
    struct stat st;
    struct cs_entry *e, *fresh;
    int     ok = -1;

    if (stat(path, &st) < 0) {
	if (errno == EACCES && role == CS_PRIV && !ca && pinned_key(path, out) == 0)
	    return 0;
	if (errno != ENOENT)
	    msg_warn("certstore: %s: %m", path);
	return -1;
    }
    if (!S_ISREG(st.st_mode)) {
	msg_warn("certstore: %s: not a regular file", path);
	return -1;
    }
    if (role == CS_PRIV && (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH))) {
	msg_warn("certstore: refusing private key file %s: readable or writable by group or others (chmod 600 it)", path);
	return -1;
    }
    pthread_mutex_lock(&cache_lock);
    if ((e = cache_find(path)) != 0 && same_file(e, &st)) {
	if (ca) {
	    if (X509_STORE_up_ref(e->store))
		*store = e->store, ok = 0;
	} else {
	    hand_out(e, out);
	    ok = 0;
	}
	pthread_mutex_unlock(&cache_lock);
	return ok;
    }
    pthread_mutex_unlock(&cache_lock);

    /* Load outside the lock: parsing is the slow part. */
    if ((fresh = calloc(1, sizeof(*fresh))) == 0 || (fresh->path = strdup(path)) == 0) {
	free(fresh);
	return -1;
    }
    fresh->dev = st.st_dev;
    fresh->ino = st.st_ino;
    fresh->size = st.st_size;
    fresh->mtime = st.st_mtim;
    if ((ca ? load_ca(path, fresh) : load_pem(path, role, fresh)) < 0) {
	entry_free(fresh);
	/* Changed but unreadable now: keep the key loaded at start. */
	if (role == CS_PRIV && !ca && access(path, R_OK) < 0 && pinned_key(path, out) == 0) {
	    msg_warn("certstore: %s changed but cannot be read any more; using the key"
		     " loaded at start (restart the daemon to load the new one)", path);
	    return 0;
	}
	return -1;
    }
    if (ca) {
	if (X509_STORE_up_ref(fresh->store))
	    *store = fresh->store, ok = 0;
    } else {
	hand_out(fresh, out);
	ok = 0;
    }
    pthread_mutex_lock(&cache_lock);
    cache_put(fresh);
    pthread_mutex_unlock(&cache_lock);
    return ok;
}

void    cs_key_release(struct cs_key *k)
{
    X509_free(k->cert);
    EVP_PKEY_free(k->key);
    sk_X509_pop_free(k->chain, X509_free);
    memset(k, 0, sizeof(*k));
}

void    cs_keys_release(struct cs_key *keys, size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++)
	cs_key_release(&keys[i]);
    free(keys);
}

/* A file name from a rule (certificate = "name"): no path parts. */
static int safe_name(const char *name)
{
    return *name && *name != '.' && strchr(name, '/') == 0
	&& strchr(name, '\\') == 0 && strstr(name, "..") == 0
	&& strlen(name) < 256;
}

static int make_path(char *out, size_t outlen, const struct cf_smime_cfg *cfg,
		     const char *sub, const char *prefix, const char *name,
		     const char *suffix)
{
    return snprintf(out, outlen, "%s/%s/%s%s%s", cfg->cert_dir, sub, prefix, name, suffix)
	< (int) outlen ? 0 : -1;
}

/* Look up a named file: NAME, or NAME.pem, in SUB. */
static int lookup_named(const struct cf_smime_cfg *cfg, const char *sub,
			enum cs_role role, const char *name, struct cs_key *out)
{
    char    path[PATH_MAX];
    size_t  n = strlen(name);

    if (!safe_name(name)) {
	msg_warn("certstore: unsafe certificate name \"%s\" in a rule", name);
	return -1;
    }
    if (make_path(path, sizeof(path), cfg, sub, "", name, "") == 0
	&& lookup(path, role, 0, out, 0) == 0)
	return 0;
    if ((n < 4 || strcasecmp(name + n - 4, ".pem") != 0)
	&& make_path(path, sizeof(path), cfg, sub, "", name, ".pem") == 0
	&& lookup(path, role, 0, out, 0) == 0)
	return 0;
    return -1;
}

/* ADDR as a safe file name into OUT, or -1 (logged). */
static int file_addr(const char *addr, char *out, size_t outlen)
{
    const char *why = "";
    char    clean[CF_ADDR_MAX + 40];

    if (addr_file_name(addr, out, outlen, &why) == 0)
	return 0;
    msg_warn("certstore: no certificate for \"%s\": %s",
	     log_clean(clean, sizeof(clean), addr ? addr : ""), why ? why : "unsafe address");
    return -1;
}

int     certstore_sign_key(const struct cf_smime_cfg *cfg, const char *certificate,
			   const char *sender, struct cs_key *out)
{
    char    name[CF_ADDR_MAX + 1], path[PATH_MAX];

    memset(out, 0, sizeof(*out));
    if (certificate && strcmp(certificate, "*") != 0)
	return lookup_named(cfg, "priv", CS_PRIV, certificate, out);
    if (file_addr(sender, name, sizeof(name)) < 0
	|| make_path(path, sizeof(path), cfg, "priv", "", name, ".pem") < 0)
	return -1;
    return lookup(path, CS_PRIV, 0, out, 0);
}

int     certstore_encrypt_cert(const struct cf_smime_cfg *cfg, const char *certificate,
			       const char *rcpt, struct cs_key *out)
{
    char    name[CF_ADDR_MAX + 1], path[PATH_MAX];

    memset(out, 0, sizeof(*out));
    if (certificate && strcmp(certificate, "*") != 0)
	return lookup_named(cfg, "pub", CS_PUB, certificate, out);
    if (file_addr(rcpt, name, sizeof(name)) < 0)
	return -1;
    if (make_path(path, sizeof(path), cfg, "pub", "", name, ".pem") == 0
	&& lookup(path, CS_PUB, 0, out, 0) == 0)
	return 0;
    if (make_path(path, sizeof(path), cfg, "pub", "db-", name, ".pem") == 0
	&& lookup(path, CS_PUB, 0, out, 0) == 0)
	return 0;
    return -1;
}

static int push_key(struct cs_key **keys, size_t *nkeys, const struct cs_key *k)
{
    struct cs_key *v = realloc(*keys, (*nkeys + 1) * sizeof(*v));

    if (v == 0)
	return -1;
    v[*nkeys] = *k;
    *keys = v;
    (*nkeys)++;
    return 0;
}

/* Names in priv/alt/ that start with BASE followed by '-', '.', '_' or '@'. */
static int alt_matches(const char *file, const char *base)
{
    size_t  n = strlen(base), len = strlen(file);

    return strncmp(file, base, n) == 0 && strchr("-._", file[n]) != 0 && file[n]
	&& len > 4 && strcmp(file + len - 4, ".pem") == 0 && file[0] != '.';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The file names of the pinned keys in DIR whose names match BASE: the
 * ALT keys we loaded at start, for when DIR cannot be read any more. */
static size_t pinned_alt_names(const char *dir, const char *base, char ***names)
{
    size_t  dlen = strlen(dir), n = 0;

    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < nbuckets && n < 1000; i++)
	for (struct cs_entry *e = buckets[i]; e && n < 1000; e = e->next) {
	    const char *name = e->path + dlen + 1;
	    char  **v;

	    if (!e->pinned || strncmp(e->path, dir, dlen) != 0 || e->path[dlen] != '/'
		|| strchr(name, '/') || !alt_matches(name, base))
		continue;
	    if ((v = realloc(*names, (n + 1) * sizeof(*v))) == 0
		|| (v[n] = strdup(name)) == 0) {
		if (v)
		    *names = v;
		goto done;
	    }
	    *names = v;
	    n++;
	}
done:
    pthread_mutex_unlock(&cache_lock);
    return n;
}

/* Add the ALT keys for BASE, newest name last sorted (deterministic order). */
static int add_alt_keys(const struct cf_smime_cfg *cfg, const char *base,
			struct cs_key **keys, size_t *nkeys)
{
    char    dir[PATH_MAX], path[PATH_MAX];
    DIR    *d;
    struct dirent *de;
    char  **names = 0;
    size_t  n = 0;
    int     added = 0;

    if (snprintf(dir, sizeof(dir), "%s/priv/alt", cfg->cert_dir) >= (int) sizeof(dir))
	return 0;
    if ((d = opendir(dir)) == 0) {
	if (errno == EACCES)
	    n = pinned_alt_names(dir, base, &names);
    } else {
	while ((de = readdir(d)) != 0 && n < 1000) {
	    char  **v;

	    if (!alt_matches(de->d_name, base))
		continue;
	    if ((v = realloc(names, (n + 1) * sizeof(*v))) == 0)
		break;
	    names = v;
	    if ((names[n] = strdup(de->d_name)) == 0)
		break;
	    n++;
	}
	closedir(d);
    }
    if (n > 1)
	qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
	struct cs_key k;

	memset(&k, 0, sizeof(k));
	if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < (int) sizeof(path)
	    && lookup(path, CS_PRIV, 0, &k, 0) == 0) {
	    if (push_key(keys, nkeys, &k) < 0)
		cs_key_release(&k);
	    else
		added++;
	}
	free(names[i]);
    }
    free(names);
    return added;
}

int     certstore_decrypt_keys(const struct cf_smime_cfg *cfg, const char *certificate,
			       const char *rcpt, struct cs_key **keys, size_t *nkeys)
{
    char    name[CF_ADDR_MAX + 1], path[PATH_MAX];
    struct cs_key k;
    int     added = 0;
    const char *base;

    memset(&k, 0, sizeof(k));
    if (certificate && strcmp(certificate, "*") != 0) {
	size_t  n;

	if (lookup_named(cfg, "priv", CS_PRIV, certificate, &k) == 0) {
	    if (push_key(keys, nkeys, &k) < 0)
		cs_key_release(&k);
	    else
		added++;
	}
	/* The ALT keys of a named file start with its name without .pem. */
	snprintf(name, sizeof(name), "%s", certificate);
	n = strlen(name);
	if (n > 4 && strcasecmp(name + n - 4, ".pem") == 0)
	    name[n - 4] = 0;
	base = name;
	if (!safe_name(base))
	    return added;
    } else {
	if (file_addr(rcpt, name, sizeof(name)) < 0)
	    return 0;
	if (make_path(path, sizeof(path), cfg, "priv", "", name, ".pem") == 0
	    && lookup(path, CS_PRIV, 0, &k, 0) == 0) {
	    if (push_key(keys, nkeys, &k) < 0)
		cs_key_release(&k);
	    else
		added++;
	}
	base = name;
    }
    return added + add_alt_keys(cfg, base, keys, nkeys);
}

static int ca_path(const struct cf_smime_cfg *cfg, char *out, size_t outlen)
{
    const char *ca = cfg->ca_file && *cfg->ca_file ? cfg->ca_file : "ca.pem";

    if (*ca == '/')
	return snprintf(out, outlen, "%s", ca) < (int) outlen ? 0 : -1;
    return snprintf(out, outlen, "%s/%s", cfg->cert_dir, ca) < (int) outlen ? 0 : -1;
}

X509_STORE *certstore_ca(const struct cf_smime_cfg *cfg)
{
    char    path[PATH_MAX];
    X509_STORE *store = 0;

    if (ca_path(cfg, path, sizeof(path)) < 0)
	return 0;
    if (lookup(path, CS_PUB, 1, 0, &store) < 0) {
	msg_warn("certstore: no usable ca_file %s", path);
	return 0;
    }
    return store;
}

int     certstore_cert_address(X509 *cert, char *out, size_t outlen)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, 0, 0);
    X509_NAME *subj = X509_get_subject_name(cert);
    int     found = -1, i;

    for (i = 0; found < 0 && i < sk_GENERAL_NAME_num(gens); i++) {
	GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

	if (g->type == GEN_EMAIL
	    && addr_normalize((const char *) ASN1_STRING_get0_data(g->d.rfc822Name),
			      out, outlen) == 0
	    && (size_t) ASN1_STRING_length(g->d.rfc822Name) == strlen((const char *) ASN1_STRING_get0_data(g->d.rfc822Name)))
	    found = 0;
    }
    GENERAL_NAMES_free(gens);
    if (found == 0)
	return 0;
    i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, -1);
    if (i >= 0) {
	ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));

	if ((size_t) ASN1_STRING_length(s) == strlen((const char *) ASN1_STRING_get0_data(s))
	    && addr_normalize((const char *) ASN1_STRING_get0_data(s), out, outlen) == 0)
	    return 0;
    }
    return -1;
}

/* Is the ASN.1 string S (no embedded NUL) equal to ADDR, ignoring case? */
static int asn1_is_addr(const ASN1_STRING *s, const char *addr)
{
    const char *d = (const char *) ASN1_STRING_get0_data(s);
    int     n = ASN1_STRING_length(s);

    return n > 0 && (size_t) n == strlen(addr) && strlen(d) == (size_t) n
	&& strncasecmp(d, addr, (size_t) n) == 0;
}

int     certstore_cert_has_address(X509 *cert, const char *addr)
{
    GENERAL_NAMES *gens;
    X509_NAME *subj = X509_get_subject_name(cert);
    char    norm[CF_ADDR_MAX + 1];
    int     i, found = 0;

    if (addr_normalize(addr, norm, sizeof(norm)) < 0 || *norm == 0)
	return 0;
    gens = X509_get_ext_d2i(cert, NID_subject_alt_name, 0, 0);
    for (i = 0; !found && i < sk_GENERAL_NAME_num(gens); i++) {
	GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

	if (g->type == GEN_EMAIL && asn1_is_addr(g->d.rfc822Name, norm))
	    found = 1;
    }
    GENERAL_NAMES_free(gens);
    for (i = -1; !found
	 && (i = X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, i)) >= 0;)
	if (asn1_is_addr(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)), norm))
	    found = 1;
    return found;
}

int     certstore_collect(const struct cf_smime_cfg *cfg, const char *sender, X509 *cert)
{
    char    name[CF_ADDR_MAX + 1], path[PATH_MAX], tmp[PATH_MAX];
    struct cs_key old;
    int     fd;
    FILE   *fp;

    if (!certstore_cert_has_address(cert, sender)) {
	msg_info("certstore: not collecting: the certificate does not carry the sender address");
	return 0;
    }
    if (file_addr(sender, name, sizeof(name)) < 0
	|| make_path(path, sizeof(path), cfg, "pub", "db-", name, ".pem") < 0
	|| make_path(tmp, sizeof(tmp), cfg, "pub", ".db-", name, ".XXXXXX") < 0)
	return -1;
    memset(&old, 0, sizeof(old));
    if (lookup(path, CS_PUB, 0, &old, 0) == 0) {
	int     newer = ASN1_TIME_compare(X509_get0_notBefore(cert),
					  X509_get0_notBefore(old.cert)) > 0;

	cs_key_release(&old);
	if (!newer)
	    return 0;			/* never replace with an older one */
    }
    if ((fd = mkstemp(tmp)) < 0) {
	msg_warn("certstore: cannot create %s: %m", tmp);
	return -1;
    }
    (void) fchmod(fd, 0644);
    if ((fp = fdopen(fd, "w")) == 0) {
	close(fd);
	unlink(tmp);
	return -1;
    }
    if (PEM_write_X509(fp, cert) != 1 || fflush(fp) != 0 || fsync(fd) != 0) {
	log_openssl_errors("certstore: collect");
	fclose(fp);
	unlink(tmp);
	return -1;
    }
    fclose(fp);
    if (rename(tmp, path) < 0) {
	msg_warn("certstore: rename %s: %m", path);
	unlink(tmp);
	return -1;
    }
    msg_info("certstore: collected the certificate of %s as %s", name, path);
    return 1;
}

/* Load every *.pem of DIR as a private key and pin it.  Returns the number
 * loaded; refused files are logged by lookup(). */
static int preload_dir(const char *dir)
{
    char    path[PATH_MAX];
    DIR    *d = opendir(dir);
    struct dirent *de;
    int     loaded = 0;

    if (d == 0)
	return 0;
    while ((de = readdir(d)) != 0) {
	size_t  len = strlen(de->d_name);
	struct cs_key k;
	struct cs_entry *e;

	if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".pem") != 0
	    || snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int) sizeof(path))
	    continue;
	memset(&k, 0, sizeof(k));
	if (lookup(path, CS_PRIV, 0, &k, 0) < 0)
	    continue;
	cs_key_release(&k);
	pthread_mutex_lock(&cache_lock);
	if ((e = cache_find(path)) != 0)
	    e->pinned = 1;
	pthread_mutex_unlock(&cache_lock);
	loaded++;
    }
    closedir(d);
    return loaded;
}

int     certstore_preload_keys(const struct cf_smime_cfg *cfg)
{
    char    dir[PATH_MAX];
    int     loaded = 0;

    if (snprintf(dir, sizeof(dir), "%s/priv", cfg->cert_dir) < (int) sizeof(dir))
	loaded += preload_dir(dir);
    if (snprintf(dir, sizeof(dir), "%s/priv/alt", cfg->cert_dir) < (int) sizeof(dir))
	loaded += preload_dir(dir);
    return loaded;
}
