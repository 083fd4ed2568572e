/*
 * decide - relay, recipient, size, inbound TLS and next hop checks; see
 * decide.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "config.h"
#include "decide.h"
#include "instances.h"
#include "log.h"
#include "nexthop.h"
#include "policy.h"
#include "request.h"
#include "rules.h"
#include "stats.h"

/* Request attributes used more than once. */
struct facts {
    const char *state;
    const char *client_address;
    const char *client_name;
    const char *sender;
    const char *recipient;
    const char *sasl_username;
    const char *instance;
    uint64_t size;
    int     outbound;			/* internal client or SASL user */
};

static uint64_t parse_size(const char *text)
{
    char   *end;
    unsigned long long v;

    if (*text < '0' || *text > '9')
	return 0;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (*end != '\0')
	return 0;
    return errno == ERANGE ? UINT64_MAX : (uint64_t) v;
}

static int internal_client(const struct decide_ctx *ctx, const char *ip)
{
    const struct cf_strlist *nets = &ctx->cfg->internal_networks;

    if (ctx->policy)
	return policy_nets_match(&ctx->policy->internal, ip);
    return cidr_match_list(nets->v, nets->n, ip);
}

static int relay_network(const struct decide_ctx *ctx, const char *ip)
{
    const struct cf_strlist *nets = &ctx->cfg->relay.networks;

    if (ctx->policy)
	return policy_nets_match(&ctx->policy->relay, ip);
    return cidr_match_list(nets->v, nets->n, ip);
}

static void get_facts(const struct decide_ctx *ctx, const struct request *req,
		      struct facts *f)
{
    f->state = request_get(req, "protocol_state");
    f->client_address = request_get(req, "client_address");
    f->client_name = request_get(req, "client_name");
    f->sender = request_get(req, "sender");
    f->recipient = request_get(req, "recipient");
    f->sasl_username = request_get(req, "sasl_username");
    f->instance = request_get(req, "instance");
    f->size = parse_size(request_get(req, "size"));
    f->outbound = *f->sasl_username != '\0'
	|| internal_client(ctx, f->client_address);
}

/*
 * Local means "ours to deliver": the domain is a local domain and the
 * address is not routed through us elsewhere (user%host@, host!user@,
 * quoted "@"), which the next server might still relay.
 */
static int recipient_is_local(const struct cf_config *cfg, const char *rcpt)
{
    char    norm[CF_ADDR_MAX + 1];
    const char *at;

    if (addr_normalize(rcpt, norm, sizeof(norm)) < 0 || *norm == '@')
	return 0;
    if ((at = strchr(norm, '@')) == NULL || strchr(at + 1, '@') != NULL)
	return 0;
    if (memchr(norm, '%', (size_t) (at - norm)) != NULL
	|| memchr(norm, '!', (size_t) (at - norm)) != NULL)
	return 0;
    return config_is_local_domain(cfg, norm);
}

static int relay_allowed(const struct decide_ctx *ctx, const struct facts *f)
{
    const struct cf_relay_cfg *relay = &ctx->cfg->relay;
    size_t  i;

    if (relay->allow_all)
	return 1;
    if (relay->allow_reserved && ip_is_reserved(f->client_address))
	return 1;
    if (relay->allow_authenticated && *f->sasl_username)
	return 1;
    if (relay_network(ctx, f->client_address))
	return 1;
    /* Postfix sends "unknown" when the name was not forward-confirmed. */
    if (*f->client_name && strcmp(f->client_name, "unknown") != 0)
	for (i = 0; i < relay->hosts.n; i++)
	    if (host_matches(f->client_name, relay->hosts.v[i]))
		return 1;
    return 0;
}

int     decide_cipher_is_weak(const char *cipher, long keysize)
{
    if (keysize >= 256)
	return 0;
    return !(strcasestr(cipher, "AES") != NULL && keysize >= 128);
}

int     decide_tls_has_pfs(const char *protocol, const char *cipher)
{
    static const char *const pfs_prefix[] = {
	"ECDHE-", "DHE-", "EDH-", "TLS_ECDHE_", "TLS_DHE_",
	/* TLS 1.3 suites: key exchange is always ephemeral */
	"TLS_AES_", "TLS_CHACHA20_",
    };
    size_t  i;

    if (strncasecmp(protocol, "TLSv1.", 6) == 0 && protocol[6] >= '3'
	&& protocol[6] <= '9')
	return 1;
    for (i = 0; i < sizeof(pfs_prefix) / sizeof(pfs_prefix[0]); i++)
	if (strncasecmp(cipher, pfs_prefix[i], strlen(pfs_prefix[i])) == 0)
	    return 1;
    return 0;
}

/* The tls_inbound rule for this sender, or NULL when TLS is acceptable. */
static const char *check_tls(const struct cf_config *cfg, const struct request *req,
			     const struct facts *f, const char **reason)
{
    const struct cf_rule *rule;
    const char *protocol = request_get(req, "encryption_protocol");
    const char *cipher = request_get(req, "encryption_cipher");
    long    keysize = strtol(request_get(req, "encryption_keysize"), NULL, 10);
    int     tls = *protocol != '\0' || *cipher != '\0';

    rule = rules_first_match(&cfg->rules[CF_RULE_TLS_INBOUND], f->sender,
			     f->recipient, NULL);
    if (rule == NULL || rule->tls_type == CF_TLS_NONE)
	return NULL;
    if (!tls) {
	if (rule->tls_type == CF_TLS_MAY)
	    return NULL;
	*reason = "TLS required";
	return DECIDE_TLS_REQUIRED;
    }
    if ((rule->tls_reject & CF_TLSREJ_WEAK_CIPHER)
	&& decide_cipher_is_weak(cipher, keysize)) {
	*reason = "weak TLS cipher";
	return DECIDE_TLS_WEAK;
    }
    if ((rule->tls_reject & CF_TLSREJ_NO_PFS)
	&& !decide_tls_has_pfs(protocol, cipher)) {
	*reason = "TLS without PFS";
	return DECIDE_TLS_NO_PFS;
    }
    return NULL;
}

static int too_big(const struct cf_config *cfg, const struct facts *f)
{
    uint64_t limit = f->outbound ? cfg->limits.outbound_size
	: cfg->limits.inbound_size;

    return limit > 0 && f->size > limit;
}

static void set(struct decision *out, const char *action, const char *reason)
{
    out->action = action;
    out->reason = reason;
}

static void decide_rcpt(const struct decide_ctx *ctx, const struct request *req,
			const struct facts *f, struct decision *out)
{
    const struct cf_config *cfg = ctx->cfg;
    const char *action, *reason = NULL;
    long    max = cfg->limits.max_recipients;

    if (!recipient_is_local(cfg, f->recipient) && !relay_allowed(ctx, f)) {
	set(out, DECIDE_RELAY_DENIED, "relay access denied");
	return;
    }
    if (!f->outbound && (action = check_tls(cfg, req, f, &reason)) != NULL) {
	set(out, action, reason);
	return;
    }
    if (too_big(cfg, f)) {
	set(out, DECIDE_TOO_BIG, "message size (SIZE=) over limit");
	return;
    }
    if (!f->outbound && ctx->nexthop && !nexthop_up(ctx->nexthop)) {
	set(out, DECIDE_NEXT_HOP_DOWN, "next hop down");
	return;
    }
    if (max > 0 && *f->instance) {
	if (instances_count(ctx->instances, f->instance, ctx->now) >= max) {
	    set(out, DECIDE_TOO_MANY_RCPTS, "too many recipients");
	    return;
	}
	instances_add(ctx->instances, f->instance, ctx->now);
    }
    set(out, "OK", NULL);
}

void    decide(const struct decide_ctx *ctx, const struct request *req,
	       struct decision *out)
{
    struct facts f;

    get_facts(ctx, req, &f);
    if (strcmp(request_get(req, "request"), "smtpd_access_policy") != 0) {
	set(out, "DUNNO", NULL);
	return;
    }
    if (strcasecmp(f.state, "RCPT") == 0) {
	decide_rcpt(ctx, req, &f, out);
    } else if (strcasecmp(f.state, "END-OF-MESSAGE") == 0) {
	if (*f.instance)
	    instances_forget(ctx->instances, f.instance);
	if (too_big(ctx->cfg, &f))
	    set(out, DECIDE_TOO_BIG, "message size over limit");
	else
	    set(out, "DUNNO", NULL);
    } else {
	set(out, "DUNNO", NULL);
    }
}

void    decide_record(const struct decide_ctx *ctx, const struct request *req,
		      const struct decision *d)
{
    char    client[80], name[300], helo[300], sender[CF_ADDR_MAX + 8],
	    rcpt[CF_ADDR_MAX + 8];
    char    code[16], state[32];
    const char *cells[SP_NCOLS];
    size_t  len;

    if (d->reason == NULL)
	return;
    /* The reply code is the action's first two words: "554 5.7.1". */
    len = strcspn(d->action, " ");
    if (d->action[len] == ' ')
	len += 1 + strcspn(d->action + len + 1, " ");
    snprintf(code, sizeof(code), "%.*s", (int) len, d->action);
    log_clean(client, sizeof(client), request_get(req, "client_address"));
    log_clean(name, sizeof(name), request_get(req, "client_name"));
    log_clean(helo, sizeof(helo), request_get(req, "helo_name"));
    log_clean(sender, sizeof(sender), request_get(req, "sender"));
    log_clean(rcpt, sizeof(rcpt), request_get(req, "recipient"));
    log_clean(state, sizeof(state), request_get(req, "protocol_state"));
    msg_info("blocked: %s from %s[%s] helo=<%s> from=<%s> to=<%s>: %s",
	     state, name, client, helo, sender, rcpt, d->action);
    cells[SP_CLIENT_ADDRESS] = client;
    cells[SP_CLIENT_NAME] = name;
    cells[SP_HELO] = helo;
    cells[SP_SENDER] = sender;
    cells[SP_RECIPIENT] = rcpt;
    cells[SP_REASON] = d->reason;
    cells[SP_REPLY_CODE] = code;
    stats_write(&ctx->cfg->statistics, STATS_SP, ctx->now, cells, SP_NCOLS);
}

