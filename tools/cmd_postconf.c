/*
 * cmd_postconf - "cryptofilter postconf": print the Postfix settings that
 * match the configuration: main.cf and master.cf fragments, the
 * milter_header_checks table that turns the milter's X-CryptoFilter-TLS
 * marker into FILTER cf-tls-<class>:, and the smtp_header_checks table that
 * drops the marker on the way out.
 *
 *   cryptofilter postconf [-c FILE] [--mode split|before-queue]
 *	[--part all|main|master|milter_header_checks|smtp_header_checks]
 *	[--postfix-dir DIR] [--queue-dir DIR] [--submission SERVICE]
 *	[--reinject HOST:PORT] [--chroot]
 *
 * With --part all (the default) every part starts with a line
 * "# ==== NAME ====" so a script can split the output; a single --part
 * prints only that part, ready to append to the file.
 *
 * Socket paths under the Postfix queue directory are printed relative to
 * it: Postfix daemons run there (chrooted or not), so the same line works
 * with chroot = y and n.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "engine.h"
#include "toolutil.h"

enum pc_mode { PC_BEFORE_QUEUE, PC_SPLIT };

#define PC_PART_MAIN	(1u << 0)
#define PC_PART_MASTER	(1u << 1)
#define PC_PART_MHC	(1u << 2)
#define PC_PART_SHC	(1u << 3)
#define PC_PART_ALL	(PC_PART_MAIN | PC_PART_MASTER | PC_PART_MHC | PC_PART_SHC)

/* The TLS classes, weakest first; the index is the class. */
enum { TC_NONE, TC_MAY, TC_ENCRYPT, TC_VERIFY, TC_SECURE, TC_COUNT };
static const char *const tls_class_names[TC_COUNT] = {
    "none", "may", "encrypt", "verify", "secure",
};

/* What the tls_outbound rules of one class ask of its transport. */
struct pc_class {
    int     used;
    int     need_pfs;			/* some rule has reject no-pfs */
    int     need_strong;		/* some rule has reject weak-cipher */
};

struct pc_opts {
    enum pc_mode mode;
    unsigned parts;
    const char *postfix_dir;
    const char *queue_dir;
    const char *submission;		/* master.cf service name (split) */
    const char *reinject;		/* HOST:PORT of the reinjection smtpd */
    int     chroot;
};

/* Postfix socket spellings, derived from the config. */
struct pc_sockets {
    char    milter[1024];		/* for smtpd_milters */
    char    policy[1024];		/* for check_policy_service */
};

/* The class index of a tls_outbound rule, as the engine decides it. */
static int rule_tls_class(const struct cf_rule *r)
{
    int     rank = engine_tls_class_rank(engine_tls_class_of(r));

    /* A rule the engine cannot classify is treated as the strictest. */
    return rank >= 1 && rank <= TC_COUNT ? rank - 1 : TC_SECURE;
}

/* none and may are always there: the milter may name them for any message. */
static void collect_classes(const struct cf_config *cfg, struct pc_class *cls)
{
    const struct cf_rule_table *t = &cfg->rules[CF_RULE_TLS_OUTBOUND];

    memset(cls, 0, sizeof(*cls) * TC_COUNT);
    cls[TC_NONE].used = cls[TC_MAY].used = 1;
    for (size_t i = 0; i < t->n; i++) {
	struct pc_class *c = &cls[rule_tls_class(&t->v[i])];

	c->used = 1;
	if (t->v[i].tls_reject & CF_TLSREJ_NO_PFS)
	    c->need_pfs = 1;
	if (t->v[i].tls_reject & CF_TLSREJ_WEAK_CIPHER)
	    c->need_strong = 1;
    }
}

/* PATH relative to the queue directory when it lies below it. */
static const char *queue_relative(const char *path, const char *queue_dir)
{
    size_t  len = strlen(queue_dir);

    while (len > 1 && queue_dir[len - 1] == '/')
	len--;
    if (strncmp(path, queue_dir, len) == 0 && path[len] == '/' && path[len + 1])
	return path + len + 1;
    return path;
}

/*
 * A libmilter or policyd socket spec in Postfix syntax: unix:/p and
 * local:/p -> unix:p (relative when under the queue directory);
 * libmilter inet:PORT@HOST -> inet:HOST:PORT; inet:HOST:PORT unchanged.
 * Returns 0, or -1 for a spec Postfix cannot reach.
 */
static int postfix_socket(const char *spec, const char *queue_dir,
			  char *buf, size_t len)
{
    const char *at;
    int     n;

    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
	const char *path = strchr(spec, ':') + 1;

	n = snprintf(buf, len, "unix:%s", queue_relative(path, queue_dir));
    } else if (strncmp(spec, "inet:", 5) == 0 && (at = strchr(spec, '@'))) {
	n = snprintf(buf, len, "inet:%s:%.*s", at + 1,
		     (int) (at - spec - 5), spec + 5);
    } else if (strncmp(spec, "inet:", 5) == 0 && strchr(spec + 5, ':')) {
	n = snprintf(buf, len, "%s", spec);
    } else if (strncmp(spec, "inet:", 5) == 0) {
	/* libmilter "inet:PORT" listens on every address. */
	n = snprintf(buf, len, "inet:127.0.0.1:%s", spec + 5);
    } else {
	return -1;
    }
    return n < 0 || (size_t) n >= len ? -1 : 0;
}

static void part_header(const struct pc_opts *o, const char *name)
{
    if (o->parts == PC_PART_ALL)
	printf("# ==== %s ====\n", name);
}

static void print_policy_service(const struct pc_sockets *s)
{
    /* DEFER, not DEFER_IF_PERMIT: the final "reject" would turn a policy
     * daemon that is down into 5xx bounces. */
    printf("    check_policy_service { %s, timeout=10s, default_action=DEFER }",
	   s->policy);
}

static void print_main(const struct cf_config *cfg, const struct pc_opts *o,
		       const struct pc_sockets *s, const struct pc_class *cls)
{
    part_header(o, "main.cf");
    printf("# cryptofilter, %s mode, generated by \"cryptofilter postconf\"\n"
	   "# from %s.\n",
	   o->mode == PC_SPLIT ? "after-queue split" : "before-queue", cfg->path);
    printf("\n# The milter: inbound mail on every smtpd%s.\n"
	   "smtpd_milters = %s\n"
	   "non_smtpd_milters =\n"
	   "# Never accept mail the milter could not look at.\n"
	   "milter_default_action = tempfail\n"
	   "milter_protocol = 6\n"
	   "# Signed mail must reach the recipient byte for byte.\n"
	   "disable_mime_output_conversion = yes\n",
	   o->mode == PC_SPLIT ? " except submission (see master.cf)"
	   : ", outbound mail too", s->milter);
    printf("\n# Relay permission, recipient and size limits, inbound TLS rules.\n"
	   "smtpd_relay_restrictions =\n");
    print_policy_service(s);
    printf(",\n    reject\nsmtpd_end_of_data_restrictions =\n");
    print_policy_service(s);
    printf("\n");
    printf("\n# The milter's X-CryptoFilter-TLS marker picks the cf-tls-* transport.\n"
	   "milter_header_checks = regexp:%s/cryptofilter_milter_header_checks\n",
	   o->postfix_dir);
    printf("# FILTER cf-tls-CLASS: keeps the recipient domain as next hop.  Behind a\n"
	   "# relayhost set it here, or the marked mail goes to the MX directly:\n"
	   "#default_filter_nexthop = $relayhost\n");
    if (cls[TC_VERIFY].used || cls[TC_SECURE].used)
	printf("# The verify and secure classes check the peer against these CAs.\n"
	       "smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt\n");
    if (o->mode == PC_SPLIT)
	printf("\n# Split mode: one recipient per message through the milter, so\n"
	       "# certificates and TLS rules are exact per recipient.\n"
	       "cryptofilter-split_destination_recipient_limit = 1\n");
}

static void print_tls_transport(const struct pc_opts *o, int c,
				const struct pc_class *cl)
{
    const char *name = tls_class_names[c];

    printf("cf-tls-%-8s unix  -       -       %s       -       -       smtp\n",
	   name, o->chroot ? "y" : "n");
    printf("  -o syslog_name=postfix/cf-tls-%s\n", name);
    printf("  -o smtp_tls_security_level=%s\n", name);
    printf("  -o smtp_header_checks=regexp:%s/cryptofilter_smtp_header_checks\n",
	   o->postfix_dir);
    if (c < TC_ENCRYPT)
	return;
    printf("  -o smtp_tls_mandatory_ciphers=high\n");
    if (cl->need_strong)
	printf("  -o smtp_tls_mandatory_protocols=>=TLSv1.2\n");
    if (cl->need_pfs)
	printf("  -o smtp_tls_mandatory_exclude_ciphers=aNULL:kRSA\n"
	       "  -o smtp_tls_exclude_ciphers=aNULL:kRSA\n");
    else
	printf("  -o smtp_tls_mandatory_exclude_ciphers=aNULL\n");
}

static void print_split_services(const struct pc_opts *o)
{
    const char *ch = o->chroot ? "y" : "n";

    printf("\n# Split mode.  Internal clients submit here: no milter, the whole\n"
	   "# message goes to the content filter, one recipient at a time.\n"
	   "%-18s inet  n       -       %s       -       -       smtpd\n"
	   "  -o syslog_name=postfix/submission\n"
	   "  -o smtpd_milters=\n"
	   "  -o content_filter=cryptofilter-split:[%.*s]:%s\n",
	   o->submission, ch, (int) (strrchr(o->reinject, ':') - o->reinject),
	   o->reinject, strrchr(o->reinject, ':') + 1);
    printf("\n# The content filter: plain smtp to the reinjection smtpd.\n"
	   "cryptofilter-split unix  -       -       %s       -       10      smtp\n"
	   "  -o syslog_name=postfix/cryptofilter-split\n"
	   "  -o smtp_tls_security_level=none\n"
	   "  -o smtp_header_checks=\n", ch);
    printf("\n# Reinjection: the milter signs and encrypts (outbound because of\n"
	   "# the daemon name); only 127.0.0.1 may talk to it; no second filter.\n"
	   "%-18s inet  n       -       %s       -       10      smtpd\n"
	   "  -o syslog_name=postfix/cryptofilter-reinject\n"
	   "  -o milter_macro_daemon_name=ORIGINATING\n"
	   "  -o content_filter=\n"
	   "  -o mynetworks=127.0.0.0/8\n"
	   "  -o smtpd_client_restrictions=permit_mynetworks,reject\n"
	   "  -o smtpd_helo_restrictions=\n"
	   "  -o smtpd_sender_restrictions=\n"
	   "  -o smtpd_recipient_restrictions=\n"
	   "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
	   "  -o smtpd_end_of_data_restrictions=\n"
	   "  -o smtpd_data_restrictions=\n"
	   "  -o receive_override_options=no_unknown_recipient_checks,no_address_mappings\n",
	   o->reinject, ch);
}

static void print_master(const struct cf_config *cfg, const struct pc_opts *o,
			 const struct pc_class *cls)
{
    part_header(o, "master.cf");
    printf("# cryptofilter, %s mode, generated by \"cryptofilter postconf\"\n"
	   "# from %s.  Append to master.cf.\n",
	   o->mode == PC_SPLIT ? "after-queue split" : "before-queue", cfg->path);
    if (o->mode == PC_SPLIT)
	print_split_services(o);
    printf("\n# One smtp client per outbound TLS class (tls_outbound rules).\n");
    for (int c = 0; c < TC_COUNT; c++)
	if (cls[c].used)
	    print_tls_transport(o, c, &cls[c]);
}

static void print_milter_header_checks(const struct pc_opts *o,
				       const struct pc_class *cls)
{
    const char *sep = "";

    part_header(o, "milter_header_checks");
    printf("# %s/cryptofilter_milter_header_checks (regexp), from \"cryptofilter postconf\".\n"
	   "# Applies only to headers the milter adds, so nobody outside can set it.\n"
	   "/^X-CryptoFilter-TLS: (", o->postfix_dir);
    for (int c = 0; c < TC_COUNT; c++)
	if (cls[c].used) {
	    printf("%s%s", sep, tls_class_names[c]);
	    sep = "|";
	}
    printf(")$/ FILTER cf-tls-$1:\n"
	   "# A class without a transport here: keep the mail, never downgrade.\n"
	   "/^X-CryptoFilter-TLS:/ HOLD unknown cryptofilter TLS class\n");
}

static void print_smtp_header_checks(const struct pc_opts *o)
{
    part_header(o, "smtp_header_checks");
    printf("# %s/cryptofilter_smtp_header_checks (regexp), from \"cryptofilter postconf\".\n"
	   "# The TLS marker is for this gateway only.\n"
	   "/^X-CryptoFilter-TLS:/ IGNORE\n", o->postfix_dir);
}

static int usage(void)
{
    fprintf(stderr, "usage: cryptofilter postconf [-c FILE] [--mode split|before-queue]\n"
	    "\t[--part all|main|master|milter_header_checks|smtp_header_checks]\n"
	    "\t[--postfix-dir DIR] [--queue-dir DIR] [--submission SERVICE]\n"
	    "\t[--reinject HOST:PORT] [--chroot]\n");
    return CF_EXIT_USAGE;
}

static int parse_part(const char *arg, unsigned *parts)
{
    static const struct {
	const char *name;
	unsigned bits;
    } names[] = {
	{"all", PC_PART_ALL}, {"main", PC_PART_MAIN}, {"main.cf", PC_PART_MAIN},
	{"master", PC_PART_MASTER}, {"master.cf", PC_PART_MASTER},
	{"milter_header_checks", PC_PART_MHC},
	{"smtp_header_checks", PC_PART_SHC},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
	if (strcmp(arg, names[i].name) == 0) {
	    *parts = names[i].bits;
	    return 0;
	}
    return -1;
}

static int parse_args(int argc, char **argv, struct pc_opts *o,
		      const char **config)
{
    static const struct option longopts[] = {
	{"config", required_argument, NULL, 'c'},
	{"mode", required_argument, NULL, 'm'},
	{"part", required_argument, NULL, 'P'},
	{"postfix-dir", required_argument, NULL, 'd'},
	{"queue-dir", required_argument, NULL, 'q'},
	{"submission", required_argument, NULL, 's'},
	{"reinject", required_argument, NULL, 'r'},
	{"chroot", no_argument, NULL, 'C'},
	{NULL, 0, NULL, 0},
    };
    int     ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
	switch (ch) {
	case 'c': *config = optarg; break;
	case 'd': o->postfix_dir = optarg; break;
	case 'q': o->queue_dir = optarg; break;
	case 's': o->submission = optarg; break;
	case 'r': o->reinject = optarg; break;
	case 'C': o->chroot = 1; break;
	case 'm':
	    if (strcmp(optarg, "split") == 0)
		o->mode = PC_SPLIT;
	    else if (strcmp(optarg, "before-queue") == 0)
		o->mode = PC_BEFORE_QUEUE;
	    else
		return -1;
	    break;
	case 'P':
	    if (parse_part(optarg, &o->parts) < 0)
		return -1;
	    break;
	default:
	    return -1;
	}
    }
    if (optind != argc || strrchr(o->reinject, ':') == NULL)
	return -1;
    return 0;
}

int     cmd_postconf(int argc, char **argv)
{
    struct pc_opts o = {
	.mode = PC_BEFORE_QUEUE, .parts = PC_PART_ALL,
	.postfix_dir = "/etc/postfix", .queue_dir = "/var/spool/postfix",
	.submission = "submission", .reinject = "127.0.0.1:10026",
    };
    const char *config = NULL;
    struct cf_config *cfg;
    struct pc_sockets s;
    struct pc_class cls[TC_COUNT];

    if (parse_args(argc, argv, &o, &config) < 0)
	return usage();
    cfg = tool_load_config(config);
    if (postfix_socket(cfg->milter.socket, o.queue_dir, s.milter, sizeof(s.milter)) < 0
	|| postfix_socket(cfg->policyd.listen, o.queue_dir, s.policy, sizeof(s.policy)) < 0) {
	fprintf(stderr, "cryptofilter: postconf: cannot express milter.socket \"%s\" "
		"or policyd.listen \"%s\" for Postfix\n",
		cfg->milter.socket, cfg->policyd.listen);
	config_unref(cfg);
	return CF_EXIT_USAGE;
    }
    collect_classes(cfg, cls);
    if (o.parts & PC_PART_MAIN)
	print_main(cfg, &o, &s, cls);
    if (o.parts & PC_PART_MASTER)
	print_master(cfg, &o, cls);
    if (o.parts & PC_PART_MHC)
	print_milter_header_checks(&o, cls);
    if (o.parts & PC_PART_SHC)
	print_smtp_header_checks(&o);
    config_unref(cfg);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : CF_EXIT_IOERR;
}
