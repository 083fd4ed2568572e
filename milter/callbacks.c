/*
 * callbacks - libmilter callbacks; see callbacks.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <libmilter/mfapi.h>

#include "actions.h"
#include "addr.h"
#include "callbacks.h"
#include "context.h"
#include "engine.h"
#include "log.h"
#include "purge.h"
#include "record.h"
#include "reload.h"

#define NEEDED_ACTIONS	(SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY \
			 | SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_QUARANTINE)

static char *mutable(const char *s)
{
    return (char *) (uintptr_t) s;
}

static const char *macro(SMFICTX *ctx, const char *name)
{
    return smfi_getsymval(ctx, mutable(name));
}

static sfsistat tempfail_now(SMFICTX *ctx, const char *why)
{
    msg_warn("%s; tempfail", why);
    smfi_setreply(ctx, "451", "4.3.0", "Temporary failure, try again later");
    return SMFIS_TEMPFAIL;
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
			     unsigned long f2, unsigned long f3,
			     unsigned long *pf0, unsigned long *pf1,
			     unsigned long *pf2, unsigned long *pf3)
{
    (void) f1;
    (void) f2;
    (void) f3;
    if ((f0 & NEEDED_ACTIONS) != NEEDED_ACTIONS) {
	msg_error("the MTA does not offer the milter actions we need "
		  "(offered 0x%lx, need 0x%lx)", f0, (unsigned long) NEEDED_ACTIONS);
	return SMFIS_REJECT;
    }
    *pf0 = NEEDED_ACTIONS | (f0 & SMFIF_SETSYMLIST);
    *pf1 = 0;				/* every step, no SMFIP_NO* */
    *pf2 = 0;
    *pf3 = 0;
    if (f0 & SMFIF_SETSYMLIST) {
	smfi_setsymlist(ctx, SMFIM_CONNECT, "{daemon_name} {client_addr} j");
	smfi_setsymlist(ctx, SMFIM_HELO, "{tls_version} {cipher} {cipher_bits}");
	smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen} {tls_version} {cipher} {cipher_bits}");
	smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
	smfi_setsymlist(ctx, SMFIM_EOH, "i");
	smfi_setsymlist(ctx, SMFIM_EOM, "i");
    }
    return SMFIS_CONTINUE;
}

/* hostaddr as text; "" for anything but IPv4/IPv6 (local, unknown). */
static void address_text(const struct sockaddr *sa, char *buf, size_t len)
{
    buf[0] = 0;
    if (sa == NULL)
	return;
    if (sa->sa_family == AF_INET)
	inet_ntop(AF_INET, &((const struct sockaddr_in *) (const void *) sa)->sin_addr, buf, (socklen_t) len);
    else if (sa->sa_family == AF_INET6)
	inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr, buf, (socklen_t) len);
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    char    addr[64];
    struct conn_ctx *conn;
    const char *daemon;

    address_text(hostaddr, addr, sizeof(addr));
    if (addr[0] == 0 && macro(ctx, "{client_addr}"))
	snprintf(addr, sizeof(addr), "%s", macro(ctx, "{client_addr}"));
    if ((conn = conn_new(hostname, addr)) == NULL)
	return tempfail_now(ctx, "out of memory at connect");
    daemon = macro(ctx, "{daemon_name}");
    if (daemon && ctx_set_string(&conn->daemon_name, daemon) < 0) {
	conn_free(conn);
	return tempfail_now(ctx, "out of memory at connect");
    }
    smfi_setpriv(ctx, conn);
    return SMFIS_CONTINUE;
}

/* The TLS macros arrive after the (second) HELO; keep the latest. */
static void take_tls(SMFICTX *ctx, struct conn_ctx *conn)
{
    const char *v;

    if ((v = macro(ctx, "{tls_version}")) != NULL)
	(void) ctx_set_string(&conn->tls_version, v);
    if ((v = macro(ctx, "{cipher}")) != NULL)
	(void) ctx_set_string(&conn->cipher, v);
    if ((v = macro(ctx, "{cipher_bits}")) != NULL)
	(void) ctx_set_string(&conn->cipher_bits, v);
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);

    if (conn == NULL)
	return tempfail_now(ctx, "no connection context at HELO");
    (void) ctx_set_string(&conn->helo, helo);
    take_tls(ctx, conn);
    return SMFIS_CONTINUE;
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);
    struct cf_config *cfg;
    const char *v;

    if (conn == NULL)
	return tempfail_now(ctx, "no connection context at MAIL");
    if (msg_refusing()) {
	smfi_setreply(ctx, "451", "4.3.2", "Service shutting down, try again later");
	return SMFIS_TEMPFAIL;
    }
    if ((cfg = reload_acquire()) == NULL)
	return tempfail_now(ctx, "no configuration");
    take_tls(ctx, conn);
    if (msg_begin(&conn->msg, cfg, argv[0]) < 0)
	return SMFIS_CONTINUE;		/* failed: on_error at end of message */
    if ((v = macro(ctx, "i")) != NULL)
	(void) ctx_set_string(&conn->msg.queue_id, v);
    if ((v = macro(ctx, "{auth_authen}")) != NULL && *v)
	(void) ctx_set_string(&conn->msg.auth_authen, v);
    return SMFIS_CONTINUE;
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);

    if (conn == NULL || !conn->msg.active)
	return tempfail_now(ctx, "no message context at RCPT");
    if (msg_add_recipient(&conn->msg, argv[0]) < 0) {
	smfi_setreply(ctx, "452", "4.5.3", "Too many recipients");
	return SMFIS_TEMPFAIL;
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);

    if (conn == NULL || !conn->msg.active)
	return tempfail_now(ctx, "no message context at header");
    msg_add_header(&conn->msg, name, value ? value : "");
    return SMFIS_CONTINUE;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);

    if (conn == NULL || !conn->msg.active)
	return tempfail_now(ctx, "no message context at end of headers");
    return SMFIS_CONTINUE;
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);

    if (conn == NULL || !conn->msg.active)
	return tempfail_now(ctx, "no message context at body");
    msg_add_body(&conn->msg, chunk, len);
    return SMFIS_CONTINUE;
}

static int is_outbound(const struct conn_ctx *conn, const struct msg_ctx *msg)
{
    const struct cf_config *cfg = msg->cfg;

    if (conn->daemon_name)
	for (size_t i = 0; i < cfg->outbound_daemons.n; i++)
	    if (strcasecmp(conn->daemon_name, cfg->outbound_daemons.v[i]) == 0)
		return 1;
    if (msg->auth_authen && *msg->auth_authen)
	return 1;
    return conn->client_addr[0]
	&& cidr_match_list(cfg->internal_networks.v, cfg->internal_networks.n,
			   conn->client_addr);
}

/* Run the engine on the collected message and act on its result. */
static void process(SMFICTX *ctx, struct conn_ctx *conn, int outbound,
		    struct outcome *out)
{
    struct msg_ctx *msg = &conn->msg;
    struct engine_msg em;
    struct engine_result res;
    char    why[600];
    int     rc;

    memset(&em, 0, sizeof(em));
    memset(&res, 0, sizeof(res));
    em.outbound = outbound;
    em.queue_id = msg->queue_id ? msg->queue_id : "";
    em.client_addr = conn->client_addr;
    em.sender = msg->sender;
    em.recipients = msg->recipients;
    em.nrecipients = msg->nrecipients;
    em.headers = msg->headers;
    em.nheaders = msg->nheaders;
    em.body = msg->body;

    (void) smfi_progress(ctx);
    rc = engine_run(msg->cfg, &em, &res);
    (void) smfi_progress(ctx);
    if (rc < 0) {
	msg_fail(msg, "engine could not run");
	actions_on_error(ctx, msg, outbound, msg->failed, out);
    } else if (res.error) {
	snprintf(why, sizeof(why), "engine error: %s", res.summary);
	actions_on_error(ctx, msg, outbound, why, out);
    } else {
	actions_apply(ctx, msg, &res, out);
    }
    record_message(conn, msg, outbound, rc < 0 ? NULL : &res, out);
    engine_result_free(&res);
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);
    struct msg_ctx *msg;
    struct outcome out;
    const char *v;
    int     outbound;

    if (conn == NULL || !conn->msg.active)
	return tempfail_now(ctx, "no message context at end of message");
    msg = &conn->msg;
    if ((msg->queue_id == NULL || *msg->queue_id == 0) && (v = macro(ctx, "i")) != NULL)
	(void) ctx_set_string(&msg->queue_id, v);
    outbound = is_outbound(conn, msg);
    memset(&out, 0, sizeof(out));
    if (msg->failed[0]) {
	actions_on_error(ctx, msg, outbound, msg->failed, &out);
	record_message(conn, msg, outbound, NULL, &out);
    } else {
	record_history(msg, outbound);
	process(ctx, conn, outbound, &out);
    }
    purge_maybe(msg->cfg, time(NULL));
    msg_cleanup(msg);
    return out.status;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);

    if (conn)
	msg_cleanup(&conn->msg);
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    struct conn_ctx *conn = smfi_getpriv(ctx);

    smfi_setpriv(ctx, NULL);
    conn_free(conn);
    return SMFIS_CONTINUE;
}

int     callbacks_register(void)
{
    struct smfiDesc desc;

    memset(&desc, 0, sizeof(desc));
    desc.xxfi_name = mutable("cryptofilter");
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = NEEDED_ACTIONS | SMFIF_SETSYMLIST;
    desc.xxfi_connect = cb_connect;
    desc.xxfi_helo = cb_helo;
    desc.xxfi_envfrom = cb_envfrom;
    desc.xxfi_envrcpt = cb_envrcpt;
    desc.xxfi_header = cb_header;
    desc.xxfi_eoh = cb_eoh;
    desc.xxfi_body = cb_body;
    desc.xxfi_eom = cb_eom;
    desc.xxfi_abort = cb_abort;
    desc.xxfi_close = cb_close;
    desc.xxfi_negotiate = cb_negotiate;
    return smfi_register(desc) == MI_SUCCESS ? 0 : -1;
}
