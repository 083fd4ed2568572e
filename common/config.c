/*
 * config - load, validate and convert /etc/cryptofilter.conf; see config.h.
 *
 * libconfuse does the syntax.  Every value that needs more than syntax
 * (patterns, CIDR, enums, sizes, numbers) is checked in a parse callback,
 * where the line number is still known, and errors are collected rather
 * than stopping at the first.  After parsing, the tree is copied into the
 * plain structures of config.h and libconfuse is freed.
 *
 * Two libconfuse 3.3 quirks are handled here: it counts every '#' comment
 * line three times (so we blank comments out before parsing, keeping the
 * newlines), and it does not remember where a section starts (so we find
 * rule sections by a small scan of the same text).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include <confuse.h>

#include "addr.h"
#include "config.h"
#include "rules.h"

/* The state of one config_load(); libconfuse callbacks have no user
 * pointer, so loads are serialised by a mutex. */
struct load_ctx {
    FILE   *errs;
    const char *file;
    int     nerrors;
    int     nwarnings;
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static struct load_ctx *ctx;

static void report(int warning, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void report(int warning, int line, const char *fmt, va_list ap)
{
    if (warning)
	ctx->nwarnings++;
    else
	ctx->nerrors++;
    if (ctx->errs == NULL)
	return;
    if (line > 0)
	fprintf(ctx->errs, "%s:%d: %s", ctx->file, line, warning ? "warning: " : "");
    else
	fprintf(ctx->errs, "%s: %s", ctx->file, warning ? "warning: " : "");
    vfprintf(ctx->errs, fmt, ap);
    fputc('\n', ctx->errs);
}

static void config_error(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void config_warning(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void config_error(int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(0, line, fmt, ap);
    va_end(ap);
}

static void config_warning(int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    report(1, line, fmt, ap);
    va_end(ap);
}

/* libconfuse's own syntax errors, with the file and line it knows. */
static void confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void confuse_error(cfg_t *cfg, const char *fmt, va_list ap)
{
    report(0, cfg ? cfg->line : 0, fmt, ap);
}

/* ---------------------------------------------------------------- enums */

struct name_value {
    const char *name;
    unsigned value;
};

static const struct name_value on_error_names[] = {
    {"tempfail", CF_ON_ERROR_TEMPFAIL}, {"accept", CF_ON_ERROR_ACCEPT},
    {"reject", CF_ON_ERROR_REJECT}, {0, 0},
};

static const struct name_value tls_type_names[] = {
    {"none", CF_TLS_NONE}, {"disabled", CF_TLS_NONE},
    {"may", CF_TLS_MAY}, {"opportunistic", CF_TLS_MAY},
    {"mandatory", CF_TLS_MANDATORY}, {"encrypt", CF_TLS_MANDATORY},
    {"verify", CF_TLS_VERIFY}, {"secure", CF_TLS_SECURE}, {0, 0},
};

static const struct name_value tls_reject_names[] = {
    {"untrusted", CF_TLSREJ_UNTRUSTED}, {"self-signed", CF_TLSREJ_SELF_SIGNED},
    {"expired", CF_TLSREJ_EXPIRED}, {"revoked", CF_TLSREJ_REVOKED},
    {"cn-mismatch", CF_TLSREJ_CN_MISMATCH},
    {"tofu-mismatch", CF_TLSREJ_TOFU_MISMATCH}, {"weak-key", CF_TLSREJ_WEAK_KEY},
    {"weak-cipher", CF_TLSREJ_WEAK_CIPHER}, {"no-pfs", CF_TLSREJ_NO_PFS}, {0, 0},
};

static const struct name_value when_names[] = {
    {"not-signed", CF_WHEN_NOT_SIGNED}, {"not-encrypted", CF_WHEN_NOT_ENCRYPTED},
    {"bad-signature", CF_WHEN_BAD_SIGNATURE},
    {"untrusted-signature", CF_WHEN_UNTRUSTED_SIGNATURE},
    {"decrypt-failed", CF_WHEN_DECRYPT_FAILED},
    {"no-certificate", CF_WHEN_NO_CERTIFICATE}, {"partial", CF_WHEN_PARTIAL}, {0, 0},
};

static const struct name_value action_names[] = {
    {"accept", CF_ACTION_ACCEPT}, {"mark-subject", CF_ACTION_MARK_SUBJECT},
    {"discard", CF_ACTION_DISCARD}, {"reject", CF_ACTION_REJECT},
    {"ndr", CF_ACTION_NDR}, {"tempfail", CF_ACTION_TEMPFAIL},
    {"hold", CF_ACTION_HOLD}, {"forward-postmaster", CF_ACTION_FORWARD_POSTMASTER},
    {"encapsulate-postmaster", CF_ACTION_ENCAPSULATE_POSTMASTER},
    {"encapsulate-recipient", CF_ACTION_ENCAPSULATE_RECIPIENT},
    {"encapsulate-recipient-stripped", CF_ACTION_ENCAPSULATE_RECIPIENT_STRIPPED},
    {0, 0},
};

static const struct name_value cipher_names[] = {
    {"aes-128-cbc", CF_CIPHER_AES_128_CBC}, {"aes-192-cbc", CF_CIPHER_AES_192_CBC},
    {"aes-256-cbc", CF_CIPHER_AES_256_CBC}, {"aes-128-gcm", CF_CIPHER_AES_128_GCM},
    {"aes-256-gcm", CF_CIPHER_AES_256_GCM}, {"des-ede3-cbc", CF_CIPHER_DES_EDE3_CBC},
    {0, 0},
};

static const struct name_value digest_names[] = {
    {"sha256", CF_DIGEST_SHA256}, {"sha384", CF_DIGEST_SHA384},
    {"sha512", CF_DIGEST_SHA512}, {0, 0},
};

static const struct name_value signature_names[] = {
    {"detached", CF_SIGNATURE_DETACHED}, {"opaque", CF_SIGNATURE_OPAQUE}, {0, 0},
};

static const struct name_value key_transport_names[] = {
    {"pkcs1", CF_KEY_TRANSPORT_PKCS1}, {"oaep", CF_KEY_TRANSPORT_OAEP}, {0, 0},
};

static const struct name_value *enum_lookup(const struct name_value *table,
					    const char *name)
{
    for (; table->name; table++)
	if (strcasecmp(table->name, name) == 0)
	    return table;
    return NULL;
}

static const char *enum_name(const struct name_value *table, unsigned value)
{
    for (; table->name; table++)
	if (table->value == value)
	    return table->name;
    return "?";
}

/* "one of a, b, c" for error messages. */
static void enum_choices(const struct name_value *table, char *buf, size_t len)
{
    size_t  used = 0;
    unsigned last = ~0u;

    buf[0] = 0;
    for (; table->name && used < len; table++) {
	if (table->value == last)
	    continue;			/* an alias: show the main name only */
	last = table->value;
	used += (size_t) snprintf(buf + used, len - used, "%s%s",
				  used ? ", " : "", table->name);
    }
}

/* ------------------------------------------------------- parse callbacks */

/* Hand the value back unchanged: libconfuse copies it itself. */
static int keep_value(const char *value, void *result)
{
    memcpy(result, &value, sizeof(value));
    return 0;
}

static int check_enum(cfg_t *cfg, cfg_opt_t *opt, const char *value,
		      void *result, const struct name_value *table)
{
    char    choices[512];

    if (enum_lookup(table, value) == NULL) {
	enum_choices(table, choices, sizeof(choices));
	config_error(cfg->line, "%s: unknown value \"%s\" (one of: %s)",
		     opt->name, value, choices);
    }
    return keep_value(value, result);
}

#define ENUM_CALLBACK(fn, table) \
    static int fn(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result) \
    { \
	return check_enum(cfg, opt, value, result, table); \
    }

ENUM_CALLBACK(cb_on_error, on_error_names)
ENUM_CALLBACK(cb_tls_type, tls_type_names)
ENUM_CALLBACK(cb_tls_reject, tls_reject_names)
ENUM_CALLBACK(cb_when, when_names)
ENUM_CALLBACK(cb_action, action_names)
ENUM_CALLBACK(cb_cipher, cipher_names)
ENUM_CALLBACK(cb_digest, digest_names)
ENUM_CALLBACK(cb_signature, signature_names)
ENUM_CALLBACK(cb_key_transport, key_transport_names)

static int cb_pattern(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    const char *why = "invalid";

    if (pattern_check(value, &why) < 0)
	config_error(cfg->line, "%s: bad pattern \"%s\": %s", opt->name, value, why);
    return keep_value(value, result);
}

static int cb_cidr(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    struct cidr net;

    if (cidr_parse(value, &net) < 0)
	config_error(cfg->line, "%s: bad network \"%s\" (want e.g. 10.0.0.0/8 or 2001:db8::/32)",
		     opt->name, value);
    return keep_value(value, result);
}

static int cb_size(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    uint64_t size;

    if (config_parse_size(value, &size) < 0)
	config_error(cfg->line, "%s: bad size \"%s\" (want a number with optional K, M or G)",
		     opt->name, value);
    return keep_value(value, result);
}

static int valid_hostname(const char *name)
{
    const unsigned char *p = (const unsigned char *) name;

    if (*p == 0 || strlen(name) > 253)
	return 0;
    for (; *p; p++)
	if (!isalnum(*p) && *p != '-' && *p != '.' && *p != '_')
	    return 0;
    return 1;
}

static int cb_domain(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    if (!valid_hostname(value))
	config_error(cfg->line, "%s: bad domain name \"%s\"", opt->name, value);
    return keep_value(value, result);
}

static int cb_address(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    char    norm[CF_ADDR_MAX + 1];

    if (addr_file_name(value, norm, sizeof(norm), NULL) < 0)
	config_error(cfg->line, "%s: bad mail address \"%s\"", opt->name, value);
    return keep_value(value, result);
}

/* A certificate is "*", the void marker or a plain file name in cert_dir. */
static int cb_certificate(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    if (strcmp(value, "*") != 0 && strcmp(value, CF_VOID_CERTIFICATE) != 0
	&& (*value == 0 || *value == '.' || strchr(value, '/') || strchr(value, '\\')))
	config_error(cfg->line, "%s: \"%s\" must be \"*\", \"%s\" or a file name in cert_dir",
		     opt->name, value, CF_VOID_CERTIFICATE);
    return keep_value(value, result);
}

static int cb_nonneg(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    char   *end;
    long    n;

    errno = 0;
    n = strtol(value, &end, 10);
    if (errno || end == value || *end || n < 0) {
	config_error(cfg->line, "%s: \"%s\" is not a non-negative number", opt->name, value);
	n = 0;
    }
    *(long *) result = n;
    return 0;
}

static int cb_port(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    if (cb_nonneg(cfg, opt, value, result) == 0
	&& (*(long *) result < 1 || *(long *) result > 65535)) {
	config_error(cfg->line, "%s: %s is not a port number (1-65535)", opt->name, value);
	*(long *) result = 25;
    }
    return 0;
}

static int cb_socket(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    if (strncmp(value, "unix:", 5) != 0 && strncmp(value, "inet:", 5) != 0
	&& strncmp(value, "inet6:", 6) != 0)
	config_error(cfg->line, "%s: \"%s\" must start with unix:, inet: or inet6:",
		     opt->name, value);
    return keep_value(value, result);
}

static int cb_abspath(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
    if (value[0] != '/')
	config_error(cfg->line, "%s: \"%s\" must be an absolute path", opt->name, value);
    return keep_value(value, result);
}

/* --------------------------------------------------------------- schema */

#define RULE_PATTERNS \
    CFG_STR_CB("from", "*", CFGF_NONE, cb_pattern), \
    CFG_STR_CB("to", "*", CFGF_NONE, cb_pattern)

static cfg_opt_t tls_inbound_opts[] = {
    RULE_PATTERNS,
    CFG_STR_CB("type", "mandatory", CFGF_NONE, cb_tls_type),
    CFG_STR_LIST_CB("reject", "{}", CFGF_NONE, cb_tls_reject),
    CFG_END()
};

static cfg_opt_t tls_outbound_opts[] = {
    RULE_PATTERNS,
    CFG_STR_CB("subject", "*", CFGF_NONE, cb_pattern),
    CFG_STR_CB("type", "mandatory", CFGF_NONE, cb_tls_type),
    CFG_STR_LIST_CB("reject", "{}", CFGF_NONE, cb_tls_reject),
    CFG_END()
};

static cfg_opt_t smime_verify_opts[] = {
    RULE_PATTERNS,
    CFG_BOOL("verify", cfg_true, CFGF_NONE),
    CFG_BOOL("remove_signature", cfg_false, CFGF_NONE),
    CFG_END()
};

static cfg_opt_t smime_cert_rule_opts[] = {
    RULE_PATTERNS,
    CFG_STR_CB("certificate", "*", CFGF_NONE, cb_certificate),
    CFG_END()
};

static cfg_opt_t smime_policy_opts[] = {
    RULE_PATTERNS,
    CFG_STR_LIST_CB("when", "{}", CFGF_NONE, cb_when),
    CFG_STR_CB("action", "accept", CFGF_NONE, cb_action),
    CFG_STR("subject_tag", "[smime]", CFGF_NONE),
    CFG_END()
};

static cfg_opt_t milter_opts[] = {
    CFG_STR_CB("socket", "unix:/var/spool/postfix/cryptofilter/milter.sock",
	       CFGF_NONE, cb_socket),
    CFG_STR("user", "cryptofilter", CFGF_NONE),
    CFG_STR_CB("spool_dir", "/var/spool/cryptofilter", CFGF_NONE, cb_abspath),
    CFG_STR_CB("memory_limit", "1M", CFGF_NONE, cb_size),
    CFG_STR_CB("on_error", "tempfail", CFGF_NONE, cb_on_error),
    CFG_END()
};

static cfg_opt_t policyd_opts[] = {
    CFG_STR_CB("listen", "unix:/var/spool/postfix/cryptofilter/policy.sock",
	       CFGF_NONE, cb_socket),
    CFG_STR("user", "cryptofilter", CFGF_NONE),
    CFG_END()
};

static cfg_opt_t log_opts[] = {
    CFG_BOOL("file", cfg_true, CFGF_NONE),
    CFG_STR_CB("directory", "/var/log/cryptofilter", CFGF_NONE, cb_abspath),
    CFG_INT_CB("purge_days", 30, CFGF_NONE, cb_nonneg),
    CFG_BOOL("verbose", cfg_false, CFGF_NONE),
    CFG_BOOL("message_transfer", cfg_false, CFGF_NONE),
    CFG_BOOL("message_header", cfg_false, CFGF_NONE),
    CFG_END()
};

static cfg_opt_t history_opts[] = {
    CFG_BOOL("enabled", cfg_false, CFGF_NONE),
    CFG_STR_CB("directory", "/var/spool/cryptofilter/history", CFGF_NONE, cb_abspath),
    CFG_INT_CB("purge_days", 14, CFGF_NONE, cb_nonneg),
    CFG_END()
};

static cfg_opt_t statistics_opts[] = {
    CFG_BOOL("enabled", cfg_true, CFGF_NONE),
    CFG_STR_CB("directory", "/var/lib/cryptofilter/stats", CFGF_NONE, cb_abspath),
    CFG_INT_CB("purge_days", 365, CFGF_NONE, cb_nonneg),
    CFG_BOOL("smtp_blocking", cfg_true, CFGF_NONE),
    CFG_BOOL("send", cfg_true, CFGF_NONE),
    CFG_BOOL("virus", cfg_true, CFGF_NONE),
    CFG_BOOL("long_date", cfg_true, CFGF_NONE),
    CFG_END()
};

static cfg_opt_t limits_opts[] = {
    CFG_INT_CB("max_recipients", 0, CFGF_NONE, cb_nonneg),
    CFG_STR_CB("inbound_size", "0", CFGF_NONE, cb_size),
    CFG_STR_CB("outbound_size", "0", CFGF_NONE, cb_size),
    CFG_END()
};

static cfg_opt_t relay_opts[] = {
    CFG_BOOL("allow_all", cfg_false, CFGF_NONE),
    CFG_BOOL("allow_reserved", cfg_false, CFGF_NONE),
    CFG_STR_LIST_CB("hosts", "{}", CFGF_NONE, cb_domain),
    CFG_STR_LIST_CB("networks", "{}", CFGF_NONE, cb_cidr),
    CFG_BOOL("allow_authenticated", cfg_true, CFGF_NONE),
    CFG_END()
};

static cfg_opt_t next_hop_opts[] = {
    CFG_STR("host", "127.0.0.1", CFGF_NONE),
    CFG_INT_CB("port", 25, CFGF_NONE, cb_port),
    CFG_BOOL("refuse_when_down", cfg_false, CFGF_NONE),
    CFG_INT_CB("check_interval", 10, CFGF_NONE, cb_nonneg),
    CFG_END()
};

static cfg_opt_t smime_opts[] = {
    CFG_STR_CB("cert_dir", "/etc/cryptofilter/cert", CFGF_NONE, cb_abspath),
    CFG_STR("ca_file", "ca.pem", CFGF_NONE),
    CFG_BOOL("collect_sender_certs", cfg_true, CFGF_NONE),
    CFG_BOOL("detailed_log", cfg_false, CFGF_NONE),
    CFG_STR_CB("cipher", "aes-256-cbc", CFGF_NONE, cb_cipher),
    CFG_STR_CB("digest", "sha256", CFGF_NONE, cb_digest),
    CFG_STR_CB("signature", "detached", CFGF_NONE, cb_signature),
    CFG_STR_CB("key_transport", "pkcs1", CFGF_NONE, cb_key_transport),
    CFG_END()
};

#define RULE_SECTION(name, opts) \
    CFG_SEC(name, opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES)

static cfg_opt_t root_opts[] = {
    CFG_STR_CB("postmaster", "postmaster@example.com", CFGF_NONE, cb_address),
    CFG_STR_LIST_CB("local_domains", "{example.com}", CFGF_NONE, cb_domain),
    CFG_STR_LIST_CB("internal_networks", "{127.0.0.0/8, ::1/128}", CFGF_NONE, cb_cidr),
    CFG_STR_LIST("outbound_daemons", "{ORIGINATING}", CFGF_NONE),
    CFG_SEC("milter", milter_opts, CFGF_NONE),
    CFG_SEC("policyd", policyd_opts, CFGF_NONE),
    CFG_SEC("log", log_opts, CFGF_NONE),
    CFG_SEC("history", history_opts, CFGF_NONE),
    CFG_SEC("statistics", statistics_opts, CFGF_NONE),
    CFG_SEC("limits", limits_opts, CFGF_NONE),
    CFG_SEC("relay", relay_opts, CFGF_NONE),
    CFG_SEC("next_hop", next_hop_opts, CFGF_NONE),
    CFG_SEC("smime", smime_opts, CFGF_NONE),
    RULE_SECTION("tls_inbound", tls_inbound_opts),
    RULE_SECTION("tls_outbound", tls_outbound_opts),
    RULE_SECTION("smime_verify", smime_verify_opts),
    RULE_SECTION("smime_decrypt", smime_cert_rule_opts),
    RULE_SECTION("smime_sign", smime_cert_rule_opts),
    RULE_SECTION("smime_encrypt", smime_cert_rule_opts),
    RULE_SECTION("smime_inbound_policy", smime_policy_opts),
    RULE_SECTION("smime_outbound_policy", smime_policy_opts),
    CFG_END()
};

/* Section names of the rule kinds, in enum cf_rule_kind order. */
static const char *const rule_kind_names[CF_RULE_KIND_COUNT] = {
    "tls_inbound", "tls_outbound", "smime_verify", "smime_decrypt",
    "smime_sign", "smime_encrypt", "smime_inbound_policy", "smime_outbound_policy",
};

/* ------------------------------------------------------ text pre-pass */

/*
 * Blank out '#' comments outside quoted strings, keeping every newline, and
 * check that braces balance (libconfuse accepts a section left open at the
 * end of the file).  Returns 0, or -1 after reporting the brace error.
 */
static int strip_comments(char *text)
{
    char    quote = 0;
    int     line = 1, depth = 0, open_line = 0;

    for (char *p = text; *p; p++) {
	if (*p == '\n')
	    line++;
	if (quote) {
	    if (*p == '\\' && p[1] && p[1] != '\n')
		p++;
	    else if (*p == quote)
		quote = 0;
	} else if (*p == '"' || *p == '\'') {
	    quote = *p;
	} else if (*p == '#') {
	    while (p[1] && p[1] != '\n')
		*p++ = ' ';
	    *p = ' ';
	} else if (*p == '{') {
	    if (depth++ == 0)
		open_line = line;
	} else if (*p == '}' && --depth < 0) {
	    config_error(line, "'}' without '{'");
	    return -1;
	}
    }
    if (depth > 0) {
	config_error(open_line, "'{' is never closed");
	return -1;
    }
    return 0;
}

/* The first line whose first word is KEY (a key unique in the schema),
 * for errors found after parsing; 0 when the key is not in the file. */
static int key_line(const char *text, const char *key)
{
    size_t  klen = strlen(key);
    int     line = 1;

    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : p, line++) {
	const char *q = p + strspn(p, " \t\r");

	if (strncmp(q, key, klen) == 0 && strchr(" \t=", q[klen]))
	    return line;
    }
    return 0;
}

/*
 * The line where section KIND "TITLE" starts: the first line whose first
 * word is KIND followed by the quoted or bare TITLE.  0 if not found.
 */
static int section_line(const char *text, const char *kind, const char *title)
{
    size_t  klen = strlen(kind), tlen = strlen(title);
    int     line = 1;

    for (const char *p = text; *p; line++) {
	const char *q = p + strspn(p, " \t\r");

	if (strncmp(q, kind, klen) == 0 && isspace((unsigned char) q[klen])) {
	    q += klen;
	    q += strspn(q, " \t");
	    if (*q == '"' || *q == '\'')
		q++;
	    if (strncmp(q, title, tlen) == 0 && strchr("\"' \t{", q[tlen]))
		return line;
	}
	p = strchr(p, '\n');
	if (p == NULL)
	    break;
	p++;
    }
    return 0;
}

/* ----------------------------------------------------------- conversion */

static char *xstrdup(const char *s)
{
    char   *d = strdup(s ? s : "");

    if (d == NULL) {
	fprintf(stderr, "cryptofilter: out of memory\n");
	abort();
    }
    return d;
}

static void copy_list(cfg_t *sec, const char *name, struct cf_strlist *out)
{
    out->n = cfg_size(sec, name);
    out->v = calloc(out->n + 1, sizeof(char *));
    if (out->v == NULL)
	abort();
    for (size_t i = 0; i < out->n; i++)
	out->v[i] = xstrdup(cfg_getnstr(sec, name, (unsigned) i));
}

static unsigned list_mask(cfg_t *sec, const char *name, const struct name_value *table)
{
    unsigned mask = 0;

    for (unsigned i = 0; i < cfg_size(sec, name); i++) {
	const struct name_value *nv = enum_lookup(table, cfg_getnstr(sec, name, i));

	if (nv)
	    mask |= nv->value;
    }
    return mask;
}

static unsigned enum_value(cfg_t *sec, const char *name, const struct name_value *table)
{
    const struct name_value *nv = enum_lookup(table, cfg_getstr(sec, name));

    return nv ? nv->value : table->value;
}

static uint64_t size_value(cfg_t *sec, const char *name)
{
    uint64_t size = 0;

    (void) config_parse_size(cfg_getstr(sec, name), &size);
    return size;
}

/* Conditions a policy of each direction can see. */
#define INBOUND_WHEN  (CF_WHEN_NOT_SIGNED | CF_WHEN_NOT_ENCRYPTED | CF_WHEN_BAD_SIGNATURE \
		       | CF_WHEN_UNTRUSTED_SIGNATURE | CF_WHEN_DECRYPT_FAILED)
#define OUTBOUND_WHEN (CF_WHEN_NOT_SIGNED | CF_WHEN_NOT_ENCRYPTED \
		       | CF_WHEN_NO_CERTIFICATE | CF_WHEN_PARTIAL)
#define INBOUND_TLSREJ (CF_TLSREJ_WEAK_CIPHER | CF_TLSREJ_NO_PFS)
/* What Postfix's SMTP client cannot check and no socketmap of ours checks
 * yet: accepted, so configurations stay valid, but never silently. */
#define UNENFORCED_TLSREJ (CF_TLSREJ_REVOKED | CF_TLSREJ_TOFU_MISMATCH | CF_TLSREJ_WEAK_KEY)

static void check_rule(const struct cf_rule *r)
{
    unsigned allowed;

    switch (r->kind) {
    case CF_RULE_TLS_INBOUND:
	if (r->tls_reject & ~INBOUND_TLSREJ)
	    config_error(r->line, "tls_inbound \"%s\": reject may only list weak-cipher"
			 " and no-pfs (the others concern certificates of servers we connect to)",
			 r->name);
	break;
    case CF_RULE_TLS_OUTBOUND:
	for (const struct name_value *nv = tls_reject_names; nv->name; nv++)
	    if (r->tls_reject & UNENFORCED_TLSREJ & nv->value)
		config_warning(r->line, "tls_outbound \"%s\": reject %s is not enforced"
			       " yet (Postfix's SMTP client cannot check it)", r->name, nv->name);
	break;
    case CF_RULE_SMIME_INBOUND_POLICY:
    case CF_RULE_SMIME_OUTBOUND_POLICY:
	allowed = r->kind == CF_RULE_SMIME_INBOUND_POLICY ? INBOUND_WHEN : OUTBOUND_WHEN;
	if (r->when & ~allowed) {
	    for (const struct name_value *nv = when_names; nv->name; nv++)
		if (r->when & ~allowed & nv->value)
		    config_error(r->line, "%s \"%s\": condition %s does not apply to %s mail",
				 rule_kind_names[r->kind], r->name, nv->name,
				 r->kind == CF_RULE_SMIME_INBOUND_POLICY ? "inbound" : "outbound");
	}
	if (r->when == 0 && r->action != CF_ACTION_ACCEPT)
	    config_warning(r->line, "%s \"%s\": no \"when\" conditions, the action never runs",
			   rule_kind_names[r->kind], r->name);
	break;
    default:
	break;
    }
}

static void convert_rule(cfg_t *sec, enum cf_rule_kind kind, const char *text,
			 struct cf_rule *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->name = xstrdup(cfg_title(sec));
    r->file = xstrdup(ctx->file);
    r->line = section_line(text, rule_kind_names[kind], r->name);
    r->from = xstrdup(cfg_getstr(sec, "from"));
    r->to = xstrdup(cfg_getstr(sec, "to"));
    r->subject = xstrdup(kind == CF_RULE_TLS_OUTBOUND ? cfg_getstr(sec, "subject") : "*");
    switch (kind) {
    case CF_RULE_TLS_INBOUND:
    case CF_RULE_TLS_OUTBOUND:
	r->tls_type = enum_value(sec, "type", tls_type_names);
	r->tls_reject = list_mask(sec, "reject", tls_reject_names);
	break;
    case CF_RULE_SMIME_VERIFY:
	r->verify = cfg_getbool(sec, "verify");
	r->remove_signature = cfg_getbool(sec, "remove_signature");
	break;
    case CF_RULE_SMIME_DECRYPT:
    case CF_RULE_SMIME_SIGN:
    case CF_RULE_SMIME_ENCRYPT:
	r->certificate = xstrdup(cfg_getstr(sec, "certificate"));
	break;
    case CF_RULE_SMIME_INBOUND_POLICY:
    case CF_RULE_SMIME_OUTBOUND_POLICY:
	r->when = list_mask(sec, "when", when_names);
	r->action = enum_value(sec, "action", action_names);
	r->subject_tag = xstrdup(cfg_getstr(sec, "subject_tag"));
	break;
    default:
	break;
    }
    check_rule(r);
}

static void convert_rules(cfg_t *root, const char *text, struct cf_config *cfg)
{
    for (int kind = 0; kind < CF_RULE_KIND_COUNT; kind++) {
	struct cf_rule_table *t = &cfg->rules[kind];

	t->n = cfg_size(root, rule_kind_names[kind]);
	t->v = calloc(t->n + 1, sizeof(struct cf_rule));
	if (t->v == NULL)
	    abort();
	for (size_t i = 0; i < t->n; i++)
	    convert_rule(cfg_getnsec(root, rule_kind_names[kind], (unsigned) i),
			 (enum cf_rule_kind) kind, text, &t->v[i]);
    }
}

static void convert_sections(cfg_t *root, struct cf_config *cfg)
{
    cfg_t  *s;

    cfg->postmaster = xstrdup(cfg_getstr(root, "postmaster"));
    copy_list(root, "local_domains", &cfg->local_domains);
    copy_list(root, "internal_networks", &cfg->internal_networks);
    copy_list(root, "outbound_daemons", &cfg->outbound_daemons);

    s = cfg_getsec(root, "milter");
    cfg->milter.socket = xstrdup(cfg_getstr(s, "socket"));
    cfg->milter.user = xstrdup(cfg_getstr(s, "user"));
    cfg->milter.spool_dir = xstrdup(cfg_getstr(s, "spool_dir"));
    cfg->milter.memory_limit = (size_t) size_value(s, "memory_limit");
    cfg->milter.on_error = enum_value(s, "on_error", on_error_names);

    s = cfg_getsec(root, "policyd");
    cfg->policyd.listen = xstrdup(cfg_getstr(s, "listen"));
    cfg->policyd.user = xstrdup(cfg_getstr(s, "user"));

    s = cfg_getsec(root, "log");
    cfg->log.file = cfg_getbool(s, "file");
    cfg->log.directory = xstrdup(cfg_getstr(s, "directory"));
    cfg->log.purge_days = (int) cfg_getint(s, "purge_days");
    cfg->log.verbose = cfg_getbool(s, "verbose");
    cfg->log.message_transfer = cfg_getbool(s, "message_transfer");
    cfg->log.message_header = cfg_getbool(s, "message_header");

    s = cfg_getsec(root, "history");
    cfg->history.enabled = cfg_getbool(s, "enabled");
    cfg->history.directory = xstrdup(cfg_getstr(s, "directory"));
    cfg->history.purge_days = (int) cfg_getint(s, "purge_days");

    s = cfg_getsec(root, "statistics");
    cfg->statistics.enabled = cfg_getbool(s, "enabled");
    cfg->statistics.directory = xstrdup(cfg_getstr(s, "directory"));
    cfg->statistics.purge_days = (int) cfg_getint(s, "purge_days");
    cfg->statistics.smtp_blocking = cfg_getbool(s, "smtp_blocking");
    cfg->statistics.send = cfg_getbool(s, "send");
    cfg->statistics.virus = cfg_getbool(s, "virus");
    cfg->statistics.long_date = cfg_getbool(s, "long_date");

    s = cfg_getsec(root, "limits");
    cfg->limits.max_recipients = cfg_getint(s, "max_recipients");
    cfg->limits.inbound_size = size_value(s, "inbound_size");
    cfg->limits.outbound_size = size_value(s, "outbound_size");

    s = cfg_getsec(root, "relay");
    cfg->relay.allow_all = cfg_getbool(s, "allow_all");
    cfg->relay.allow_reserved = cfg_getbool(s, "allow_reserved");
    copy_list(s, "hosts", &cfg->relay.hosts);
    copy_list(s, "networks", &cfg->relay.networks);
    cfg->relay.allow_authenticated = cfg_getbool(s, "allow_authenticated");

    s = cfg_getsec(root, "next_hop");
    cfg->next_hop.host = xstrdup(cfg_getstr(s, "host"));
    cfg->next_hop.port = (int) cfg_getint(s, "port");
    cfg->next_hop.refuse_when_down = cfg_getbool(s, "refuse_when_down");
    cfg->next_hop.check_interval = (int) cfg_getint(s, "check_interval");
    if (cfg->next_hop.check_interval < 1)
	cfg->next_hop.check_interval = 1;

    s = cfg_getsec(root, "smime");
    cfg->smime.cert_dir = xstrdup(cfg_getstr(s, "cert_dir"));
    cfg->smime.collect_sender_certs = cfg_getbool(s, "collect_sender_certs");
    cfg->smime.detailed_log = cfg_getbool(s, "detailed_log");
    cfg->smime.cipher = enum_value(s, "cipher", cipher_names);
    cfg->smime.digest = enum_value(s, "digest", digest_names);
    cfg->smime.signature = enum_value(s, "signature", signature_names);
    cfg->smime.key_transport = enum_value(s, "key_transport", key_transport_names);
    if (cfg_getstr(s, "ca_file")[0] == '/') {
	cfg->smime.ca_file = xstrdup(cfg_getstr(s, "ca_file"));
    } else if (asprintf(&cfg->smime.ca_file, "%s/%s", cfg->smime.cert_dir,
			cfg_getstr(s, "ca_file")) < 0) {
	abort();
    }
}

static int is_directory(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Checks that need the whole configuration. */
static void check_config(const struct cf_config *cfg, const char *text)
{
    int     smime_rules = 0;

    for (int kind = CF_RULE_SMIME_VERIFY; kind <= CF_RULE_SMIME_ENCRYPT; kind++)
	smime_rules += (int) cfg->rules[kind].n;
    if (smime_rules && !is_directory(cfg->smime.cert_dir))
	config_error(key_line(text, "cert_dir"), "smime: cert_dir \"%s\" is not a directory (S/MIME rules need it)",
		     cfg->smime.cert_dir);
    else if (cfg->rules[CF_RULE_SMIME_VERIFY].n && access(cfg->smime.ca_file, R_OK) != 0)
	config_warning(key_line(text, "ca_file"), "smime: ca_file \"%s\" cannot be read: every signature will be"
		       " \"untrusted\"", cfg->smime.ca_file);
    if (cfg->milter.memory_limit > ((size_t) 1 << 31))
	config_error(key_line(text, "memory_limit"), "milter: memory_limit above 2G is not supported");
}

static char *read_file(const char *path, FILE *errs)
{
    FILE   *fp = fopen(path, "r");
    char   *text = NULL;
    size_t  len = 0, cap = 0, n;

    if (fp == NULL) {
	if (errs)
	    fprintf(errs, "%s: cannot open: %s\n", path, strerror(errno));
	return NULL;
    }
    do {
	if (cap - len < 4096) {
	    char   *grown = realloc(text, cap = cap * 2 + 8192);

	    if (grown == NULL) {
		free(text);
		fclose(fp);
		return NULL;
	    }
	    text = grown;
	}
	n = fread(text + len, 1, cap - len - 1, fp);
	len += n;
    } while (n > 0);
    text[len] = 0;
    fclose(fp);
    if (memchr(text, 0, len)) {
	if (errs)
	    fprintf(errs, "%s: contains a NUL byte\n", path);
	free(text);
	return NULL;
    }
    return text;
}

static int load_text(char *text, const char *name, FILE *errs, struct cf_config **out)
{
    struct load_ctx lc = {errs, name, 0, 0};
    struct cf_config *cfg = NULL;
    cfg_t  *root;
    int     rc;

    *out = NULL;
    pthread_mutex_lock(&load_lock);
    ctx = &lc;
    root = NULL;
    if (strip_comments(text) < 0)
	goto done;
    root = cfg_init(root_opts, CFGF_NONE);
    if (root == NULL) {
	config_error(0, "cannot initialise the parser");
	goto done;
    }
    cfg_set_error_function(root, confuse_error);
    free(root->filename);
    root->filename = xstrdup(name);
    rc = cfg_parse_buf(root, text);
    if (rc != CFG_SUCCESS) {
	if (lc.nerrors == 0)
	    config_error(0, "syntax error");
	goto done;
    }
    if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
	abort();
    cfg->refcount = 1;
    cfg->path = xstrdup(name);
    convert_sections(root, cfg);
    convert_rules(root, text, cfg);
    check_config(cfg, text);
done:
    if (root)
	cfg_free(root);
    ctx = NULL;
    pthread_mutex_unlock(&load_lock);
    if (lc.nerrors && cfg) {
	config_unref(cfg);
	cfg = NULL;
    }
    *out = cfg;
    return lc.nerrors;
}

int     config_load(const char *path, FILE *errs, struct cf_config **out)
{
    char   *text = read_file(path, errs);
    int     n;

    *out = NULL;
    if (text == NULL)
	return 1;
    n = load_text(text, path, errs, out);
    free(text);
    return n;
}

int     config_load_string(const char *text, const char *name, FILE *errs,
			   struct cf_config **out)
{
    char   *copy = xstrdup(text);
    int     n = load_text(copy, name, errs, out);

    free(copy);
    return n;
}

struct cf_config *config_ref(struct cf_config *cfg)
{
    __atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_SEQ_CST);
    return cfg;
}

static void free_list(struct cf_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
	free(l->v[i]);
    free(l->v);
}

static void free_rules(struct cf_rule_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
	struct cf_rule *r = &t->v[i];

	free(r->name);
	free(r->file);
	free(r->from);
	free(r->to);
	free(r->subject);
	free(r->certificate);
	free(r->subject_tag);
    }
    free(t->v);
}

void    config_unref(struct cf_config *cfg)
{
    if (cfg == NULL || __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_SEQ_CST) > 0)
	return;
    free(cfg->path);
    free(cfg->postmaster);
    free_list(&cfg->local_domains);
    free_list(&cfg->internal_networks);
    free_list(&cfg->outbound_daemons);
    free(cfg->milter.socket);
    free(cfg->milter.user);
    free(cfg->milter.spool_dir);
    free(cfg->policyd.listen);
    free(cfg->policyd.user);
    free(cfg->log.directory);
    free(cfg->history.directory);
    free(cfg->statistics.directory);
    free_list(&cfg->relay.hosts);
    free_list(&cfg->relay.networks);
    free(cfg->next_hop.host);
    free(cfg->smime.cert_dir);
    free(cfg->smime.ca_file);
    for (int kind = 0; kind < CF_RULE_KIND_COUNT; kind++)
	free_rules(&cfg->rules[kind]);
    free(cfg);
}

const char *config_rule_kind_name(enum cf_rule_kind kind)
{
    return (unsigned) kind < CF_RULE_KIND_COUNT ? rule_kind_names[kind] : "?";
}

const char *config_action_name(enum cf_action action)
{
    return enum_name(action_names, action);
}

const char *config_tls_type_name(enum cf_tls_type type)
{
    return enum_name(tls_type_names, type);
}

const char *config_cipher_name(enum cf_cipher cipher)
{
    return enum_name(cipher_names, cipher);
}

const char *config_digest_name(enum cf_digest digest)
{
    return enum_name(digest_names, digest);
}

int     config_parse_size(const char *text, uint64_t *out)
{
    char   *end;
    unsigned long long n;
    unsigned shift = 0;

    if (!isdigit((unsigned char) *text))
	return -1;
    errno = 0;
    n = strtoull(text, &end, 10);
    if (errno)
	return -1;
    switch (toupper((unsigned char) *end)) {
    case 0:
	break;
    case 'K':
	shift = 10;
	break;
    case 'M':
	shift = 20;
	break;
    case 'G':
	shift = 30;
	break;
    default:
	return -1;
    }
    if (*end && end[1] && !(toupper((unsigned char) end[1]) == 'B' && end[2] == 0))
	return -1;
    if (shift && n > (UINT64_MAX >> shift))
	return -1;
    *out = (uint64_t) n << shift;
    return 0;
}

int     config_is_local_domain(const struct cf_config *cfg, const char *addr)
{
    const char *domain = addr_domain(addr);
    size_t  len = strlen(domain);

    /* A trailing dot is the same domain. */
    if (len && domain[len - 1] == '.')
	len--;
    for (size_t i = 0; i < cfg->local_domains.n; i++)
	if (strlen(cfg->local_domains.v[i]) == len
	    && strncasecmp(cfg->local_domains.v[i], domain, len) == 0)
	    return 1;
    return 0;
}
