/*
 * cmd_query - "cryptofilter query -c FILE --from A --to B [--subject S]
 * [--client IP]": which rule of each table applies to a sender/recipient,
 * where it is defined, and for certificate rules which file would be used
 * and whether it exists.  The postmaster's tool to debug rules.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "certstore.h"
#include "commands.h"
#include "rules.h"
#include "toolutil.h"

struct query {
    const struct cf_config *cfg;
    const char *from;
    const char *to;
    const char *subject;
};

/* Which address names the file: the sender signs, the recipient decrypts
 * and is encrypted to. */
static const char *cert_address(const struct query *q, enum cf_rule_kind kind)
{
    return kind == CF_RULE_SMIME_SIGN ? q->from : q->to;
}

/* Where the first file would be, for "missing" lines. */
static void show_missing(const struct query *q, const struct cf_rule *r, const char *label)
{
    const char *sub = r->kind == CF_RULE_SMIME_ENCRYPT ? "pub" : "priv";
    char    name[CF_ADDR_MAX + 1];
    const char *why = NULL;

    if (strcmp(r->certificate, "*") != 0)
	printf("    %s none usable (%s/%s/%s)\n", label, q->cfg->smime.cert_dir, sub,
	       r->certificate);
    else if (addr_file_name(cert_address(q, r->kind), name, sizeof(name), &why) < 0)
	printf("    %s none: address \"%s\" cannot name a file (%s)\n", label,
	       cert_address(q, r->kind), why ? why : "unsafe");
    else
	printf("    %s none usable (%s/%s/%s%s.pem)\n", label, q->cfg->smime.cert_dir, sub,
	       r->kind == CF_RULE_SMIME_ENCRYPT ? "[db-]" : "", name);
}

/* Ask the certificate store exactly what the engine would ask it. */
static void show_certificates(const struct query *q, const struct cf_rule *r)
{
    const struct cf_smime_cfg *sm = &q->cfg->smime;
    const char *addr = cert_address(q, r->kind);
    struct cs_key one, *keys = NULL;
    size_t  nkeys = 0;

    if (rule_is_void(r)) {
	printf("    certificate %s: do nothing, stop here\n", CF_VOID_CERTIFICATE);
	return;
    }
    switch (r->kind) {
    case CF_RULE_SMIME_SIGN:
	if (certstore_sign_key(sm, r->certificate, addr, &one) < 0)
	    return show_missing(q, r, "key:");
	printf("    key: %s (usable)\n", one.path);
	cs_key_release(&one);
	break;
    case CF_RULE_SMIME_ENCRYPT:
	if (certstore_encrypt_cert(sm, r->certificate, addr, &one) < 0)
	    return show_missing(q, r, "certificate:");
	printf("    certificate: %s (usable)\n", one.path);
	cs_key_release(&one);
	break;
    default:
	if (certstore_decrypt_keys(sm, r->certificate, addr, &keys, &nkeys) <= 0)
	    return show_missing(q, r, "key:");
	for (size_t i = 0; i < nkeys; i++)
	    printf("    %s %s (usable)\n", i ? "old key:" : "key:", keys[i].path);
	cs_keys_release(keys, nkeys);
	break;
    }
}

static void show_details(const struct query *q, const struct cf_rule *r)
{
    switch (r->kind) {
    case CF_RULE_TLS_INBOUND:
    case CF_RULE_TLS_OUTBOUND:
	printf("    type %s\n", config_tls_type_name(r->tls_type));
	break;
    case CF_RULE_SMIME_VERIFY:
	printf("    verify %s, remove_signature %s\n", r->verify ? "yes" : "no",
	       r->remove_signature ? "yes" : "no");
	break;
    case CF_RULE_SMIME_INBOUND_POLICY:
    case CF_RULE_SMIME_OUTBOUND_POLICY:
	printf("    action %s\n", config_action_name(r->action));
	break;
    default:
	show_certificates(q, r);
	break;
    }
}

static void show_table(const struct query *q, enum cf_rule_kind kind)
{
    const struct cf_rule *r;

    r = rules_first_match(&q->cfg->rules[kind], q->from, q->to,
			  kind == CF_RULE_TLS_OUTBOUND ? q->subject : NULL);
    if (r == NULL) {
	printf("%-22s no rule\n", config_rule_kind_name(kind));
	return;
    }
    printf("%-22s \"%s\" %s:%d\n", config_rule_kind_name(kind), r->name, r->file, r->line);
    show_details(q, r);
}

static void show_client(const struct cf_config *cfg, const char *client)
{
    int     internal = cidr_match_list(cfg->internal_networks.v,
				       cfg->internal_networks.n, client);

    printf("client %s: %s (%s)\n", client, internal ? "internal" : "external",
	   internal ? "mail from it is outbound" : "mail from it is inbound");
}

static int usage(void)
{
    fprintf(stderr, "usage: cryptofilter query [-c FILE] --from ADDR --to ADDR"
	    " [--subject S] [--client IP]\n");
    return CF_EXIT_USAGE;
}

int     cmd_query(int argc, char **argv)
{
    static const struct option opts[] = {
	{"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 't'},
	{"subject", required_argument, 0, 's'}, {"client", required_argument, 0, 'a'},
	{0, 0, 0, 0},
    };
    struct query q = {NULL, NULL, NULL, ""};
    const char *path = NULL, *client = NULL;
    struct cf_config *cfg;
    int     c;

    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
	switch (c) {
	case 'c': path = optarg; break;
	case 'f': q.from = optarg; break;
	case 't': q.to = optarg; break;
	case 's': q.subject = optarg; break;
	case 'a': client = optarg; break;
	default: return usage();
	}
    }
    if (q.from == NULL || q.to == NULL || optind != argc)
	return usage();
    q.cfg = cfg = tool_load_config(path);
    printf("from <%s> to <%s> (%s recipient)\n", q.from, q.to,
	   config_is_local_domain(cfg, q.to) ? "local" : "remote");
    if (client)
	show_client(cfg, client);
    for (int kind = 0; kind < CF_RULE_KIND_COUNT; kind++)
	show_table(&q, (enum cf_rule_kind) kind);
    config_unref(cfg);
    return 0;
}
