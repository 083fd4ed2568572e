/*
 * config - the parsed /etc/cryptofilter.conf.
 *
 * config_load() reads the file with libconfuse, validates every value and
 * copies the result into the plain structures below, so that no other module
 * depends on libconfuse.  Errors are printed as "FILE:LINE: message", all of
 * them; the caller exits with EX_CONFIG (78) when config_load() fails.
 *
 * A loaded configuration is immutable and reference counted: a daemon that
 * reloads on SIGHUP keeps using the old one for messages in flight
 * (config_ref / config_unref).
 */
#ifndef CF_CONFIG_H
#define CF_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define CF_DEFAULT_CONFIG	"/etc/cryptofilter.conf"
#define CF_EX_CONFIG		78
#define CF_VOID_CERTIFICATE	"!!void-certificate!!"

struct cf_strlist {
    char  **v;
    size_t  n;
};

/* What a milter does when it cannot process a message. */
enum cf_on_error {
    CF_ON_ERROR_TEMPFAIL,	/* 451 4.3.0 (default) */
    CF_ON_ERROR_ACCEPT,		/* pass unprocessed, status header says error */
    CF_ON_ERROR_REJECT,		/* 554 5.3.0 */
};

/* tls_inbound / tls_outbound "type". */
enum cf_tls_type {
    CF_TLS_NONE,		/* "none", "disabled": no TLS checks / no TLS */
    CF_TLS_MAY,			/* "may", "opportunistic" */
    CF_TLS_MANDATORY,		/* "mandatory", "encrypt" */
    CF_TLS_VERIFY,		/* "verify": mandatory + trusted chain */
    CF_TLS_SECURE,		/* "secure": verify + name match */
};

/* tls_* "reject" conditions, a bit mask. */
#define CF_TLSREJ_UNTRUSTED	(1u << 0)
#define CF_TLSREJ_SELF_SIGNED	(1u << 1)
#define CF_TLSREJ_EXPIRED	(1u << 2)
#define CF_TLSREJ_REVOKED	(1u << 3)
#define CF_TLSREJ_CN_MISMATCH	(1u << 4)
#define CF_TLSREJ_TOFU_MISMATCH	(1u << 5)
#define CF_TLSREJ_WEAK_KEY	(1u << 6)
#define CF_TLSREJ_WEAK_CIPHER	(1u << 7)
#define CF_TLSREJ_NO_PFS	(1u << 8)

/* smime_*_policy "when" conditions, a bit mask. */
#define CF_WHEN_NOT_SIGNED		(1u << 0)
#define CF_WHEN_NOT_ENCRYPTED		(1u << 1)
#define CF_WHEN_BAD_SIGNATURE		(1u << 2)
#define CF_WHEN_UNTRUSTED_SIGNATURE	(1u << 3)
#define CF_WHEN_DECRYPT_FAILED		(1u << 4)
#define CF_WHEN_NO_CERTIFICATE		(1u << 5)
#define CF_WHEN_PARTIAL			(1u << 6)

/* smime_*_policy "action". */
enum cf_action {
    CF_ACTION_ACCEPT,
    CF_ACTION_MARK_SUBJECT,
    CF_ACTION_DISCARD,
    CF_ACTION_REJECT,
    CF_ACTION_NDR,
    CF_ACTION_TEMPFAIL,
    CF_ACTION_HOLD,
    CF_ACTION_FORWARD_POSTMASTER,
    CF_ACTION_ENCAPSULATE_POSTMASTER,
    CF_ACTION_ENCAPSULATE_RECIPIENT,
    CF_ACTION_ENCAPSULATE_RECIPIENT_STRIPPED,
};

/* The kinds of rule table, in the order "cryptofilter query" prints them. */
enum cf_rule_kind {
    CF_RULE_TLS_INBOUND,
    CF_RULE_TLS_OUTBOUND,
    CF_RULE_SMIME_VERIFY,
    CF_RULE_SMIME_DECRYPT,
    CF_RULE_SMIME_SIGN,
    CF_RULE_SMIME_ENCRYPT,
    CF_RULE_SMIME_INBOUND_POLICY,
    CF_RULE_SMIME_OUTBOUND_POLICY,
    CF_RULE_KIND_COUNT
};

/*
 * One rule: a titled section such as  smime_sign "ours" { ... }.  Patterns
 * are never NULL ("*" when not given).  Only the fields of the rule's kind
 * are meaningful.
 */
struct cf_rule {
    enum cf_rule_kind kind;
    char   *name;			/* the section title */
    char   *file;			/* where it was defined, for messages */
    int     line;
    char   *from;			/* sender pattern */
    char   *to;				/* recipient pattern */
    char   *subject;		/* subject pattern (tls_outbound) */
    /* tls_inbound, tls_outbound */
    enum cf_tls_type tls_type;
    unsigned tls_reject;		/* CF_TLSREJ_* */
    /* smime_verify, smime_decrypt, smime_sign, smime_encrypt */
    char   *certificate;		/* "*", a file name, or CF_VOID_CERTIFICATE */
    int     verify;			/* smime_verify */
    int     remove_signature;		/* smime_verify */
    /* smime_inbound_policy, smime_outbound_policy */
    unsigned when;			/* CF_WHEN_* */
    enum cf_action action;
    char   *subject_tag;		/* mark-subject text, default "[smime]" */
};

struct cf_rule_table {
    struct cf_rule *v;			/* in file order */
    size_t  n;
};

struct cf_milter_cfg {
    char   *socket;
    char   *user;
    char   *spool_dir;
    size_t  memory_limit;		/* bytes */
    enum cf_on_error on_error;
};

struct cf_policyd_cfg {
    char   *listen;
    char   *user;
};

struct cf_log_cfg {
    int     file;			/* also write DIR/MBYYMMDD.LOG */
    char   *directory;
    int     purge_days;			/* 0 = keep forever */
    int     verbose;
    int     message_transfer;
    int     message_header;
};

struct cf_history_cfg {
    int     enabled;
    char   *directory;
    int     purge_days;
};

struct cf_stats_cfg {
    int     enabled;
    char   *directory;
    int     purge_days;
    int     smtp_blocking;		/* write SP files */
    int     send;			/* write SS files */
    int     virus;			/* write SV files */
    int     long_date;			/* yyyy-mm-dd instead of yy-mm-dd */
};

struct cf_limits_cfg {
    long    max_recipients;		/* 0 = unlimited */
    uint64_t inbound_size;		/* bytes, 0 = unlimited */
    uint64_t outbound_size;
};

struct cf_relay_cfg {
    int     allow_all;
    int     allow_reserved;
    struct cf_strlist hosts;		/* client host name suffixes */
    struct cf_strlist networks;		/* CIDR, validated */
    int     allow_authenticated;
};

struct cf_next_hop_cfg {
    char   *host;
    int     port;
    int     refuse_when_down;
    int     check_interval;		/* seconds between probes */
};

/* smime { cipher = ... } */
enum cf_cipher {
    CF_CIPHER_AES_128_CBC,
    CF_CIPHER_AES_192_CBC,
    CF_CIPHER_AES_256_CBC,
    CF_CIPHER_AES_128_GCM,
    CF_CIPHER_AES_256_GCM,
    CF_CIPHER_DES_EDE3_CBC,		/* accepted for old partners only */
};

enum cf_digest { CF_DIGEST_SHA256, CF_DIGEST_SHA384, CF_DIGEST_SHA512 };
enum cf_signature { CF_SIGNATURE_DETACHED, CF_SIGNATURE_OPAQUE };
enum cf_key_transport { CF_KEY_TRANSPORT_PKCS1, CF_KEY_TRANSPORT_OAEP };

struct cf_smime_cfg {
    char   *cert_dir;
    char   *ca_file;			/* absolute: made so at load time */
    int     collect_sender_certs;
    int     detailed_log;
    enum cf_cipher cipher;
    enum cf_digest digest;
    enum cf_signature signature;
    enum cf_key_transport key_transport;
};

struct cf_config {
    int     refcount;
    char   *path;			/* the file it was loaded from */
    char   *postmaster;
    struct cf_strlist local_domains;
    struct cf_strlist internal_networks;
    struct cf_strlist outbound_daemons;
    struct cf_milter_cfg milter;
    struct cf_policyd_cfg policyd;
    struct cf_log_cfg log;
    struct cf_history_cfg history;
    struct cf_stats_cfg statistics;
    struct cf_limits_cfg limits;
    struct cf_relay_cfg relay;
    struct cf_next_hop_cfg next_hop;
    struct cf_smime_cfg smime;
    struct cf_rule_table rules[CF_RULE_KIND_COUNT];
};

/*
 * Load and validate PATH.  On success returns 0 and *out holds a config with
 * refcount 1.  On failure prints every error to ERRS as "FILE:LINE: message"
 * and returns the number of errors (> 0); *out is NULL.
 */
int     config_load(const char *path, FILE *errs, struct cf_config **out);

/* The same from a string; NAME stands in for the file name in messages. */
int     config_load_string(const char *text, const char *name, FILE *errs,
			   struct cf_config **out);

struct cf_config *config_ref(struct cf_config *cfg);
void    config_unref(struct cf_config *cfg);

/* Names for enums, as written in the config file. */
const char *config_rule_kind_name(enum cf_rule_kind kind);
const char *config_action_name(enum cf_action action);
const char *config_tls_type_name(enum cf_tls_type type);
const char *config_cipher_name(enum cf_cipher cipher);
const char *config_digest_name(enum cf_digest digest);

/* Parse "123", "10K", "1M", "2G" (powers of 1024).  Returns 0 or -1. */
int     config_parse_size(const char *text, uint64_t *out);

/* Is ADDR's domain one of local_domains (case-insensitive)? */
int     config_is_local_domain(const struct cf_config *cfg, const char *addr);

#endif
