/*
 * context - connection and message state of the milter; see context.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "context.h"
#include "log.h"
#include "spool.h"

#include "reload.h"

static int in_flight;			/* __atomic: messages being handled */
static int refusing;			/* __atomic: shutting down */

void    msg_refuse_new(void)
{
    __atomic_store_n(&refusing, 1, __ATOMIC_SEQ_CST);
}

int     msg_refusing(void)
{
    return __atomic_load_n(&refusing, __ATOMIC_SEQ_CST);
}

int     msg_in_flight(void)
{
    return __atomic_load_n(&in_flight, __ATOMIC_SEQ_CST);
}

int     ctx_set_string(char **slot, const char *value)
{
    char   *copy = NULL;

    if (value) {
	copy = strndup(value, CTX_MAX_MACRO);
	if (copy == NULL)
	    return -1;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

struct conn_ctx *conn_new(const char *client_name, const char *client_addr)
{
    struct conn_ctx *conn = calloc(1, sizeof(*conn));

    if (conn == NULL)
	return NULL;
    snprintf(conn->client_addr, sizeof(conn->client_addr), "%s",
	     client_addr ? client_addr : "");
    if (ctx_set_string(&conn->client_name, client_name) < 0) {
	free(conn);
	return NULL;
    }
    return conn;
}

void    conn_free(struct conn_ctx *conn)
{
    if (conn == NULL)
	return;
    msg_cleanup(&conn->msg);
    free(conn->client_name);
    free(conn->daemon_name);
    free(conn->helo);
    free(conn->tls_version);
    free(conn->cipher);
    free(conn->cipher_bits);
    free(conn);
}

char   *strip_brackets(const char *addr)
{
    size_t  len;

    while (*addr == ' ' || *addr == '\t')
	addr++;
    len = strnlen(addr, CTX_MAX_MACRO);
    while (len > 0 && (addr[len - 1] == ' ' || addr[len - 1] == '\t'))
	len--;
    if (len >= 2 && addr[0] == '<' && addr[len - 1] == '>') {
	addr++;
	len -= 2;
    }
    return strndup(addr, len);
}

int     msg_begin(struct msg_ctx *msg, struct cf_config *cfg, const char *sender)
{
    msg_cleanup(msg);
    msg->active = 1;
    msg->cfg = cfg;
    __atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
    msg->sender = strip_brackets(sender ? sender : "");
    msg->body = spool_new(cfg->milter.memory_limit, cfg->milter.spool_dir);
    if (msg->sender == NULL || msg->body == NULL) {
	msg_fail(msg, "out of memory");
	return -1;
    }
    return 0;
}

void    msg_fail(struct msg_ctx *msg, const char *why)
{
    if (msg->failed[0] == 0) {
	snprintf(msg->failed, sizeof(msg->failed), "%s", why);
	msg_warn("%s: cannot process message: %s",
		 msg->queue_id ? msg->queue_id : "NOQUEUE", why);
    }
}

/* Grow *V (element size SIZE) so that it holds at least NEED elements. */
static int grow(void **v, size_t *alloc, size_t need, size_t size)
{
    size_t  n = *alloc ? *alloc : 8;
    void   *p;

    if (need <= *alloc)
	return 0;
    while (n < need)
	n *= 2;
    p = reallocarray(*v, n, size);
    if (p == NULL)
	return -1;
    *v = p;
    *alloc = n;
    return 0;
}

int     msg_add_recipient(struct msg_ctx *msg, const char *rcpt)
{
    char   *copy;

    if (msg->nrecipients >= CTX_MAX_RECIPIENTS)
	return -1;
    if (grow((void **) &msg->recipients, &msg->recipients_alloc,
	     msg->nrecipients + 1, sizeof(char *)) < 0
	|| (copy = strip_brackets(rcpt)) == NULL) {
	msg_fail(msg, "out of memory");
	return 0;
    }
    msg->recipients[msg->nrecipients++] = copy;
    return 0;
}

void    msg_add_header(struct msg_ctx *msg, const char *name, const char *value)
{
    size_t  bytes;
    struct engine_header *h;

    if (msg->failed[0])
	return;
    bytes = strlen(name) + strlen(value) + 4;
    if (msg->nheaders >= CTX_MAX_HEADERS
	|| msg->header_bytes + bytes > CTX_MAX_HEADER_BYTES) {
	msg_fail(msg, "too many or too large header fields");
	return;
    }
    if (grow((void **) &msg->headers, &msg->headers_alloc,
	     msg->nheaders + 1, sizeof(*msg->headers)) < 0) {
	msg_fail(msg, "out of memory");
	return;
    }
    h = &msg->headers[msg->nheaders];
    h->name = strdup(name);
    h->value = strdup(value);
    if (h->name == NULL || h->value == NULL) {
	free(h->name);
	free(h->value);
	msg_fail(msg, "out of memory");
	return;
    }
    msg->nheaders++;
    msg->header_bytes += bytes;
}

void    msg_add_body(struct msg_ctx *msg, const void *data, size_t len)
{
    if (msg->failed[0])
	return;
    if (spool_write(msg->body, data, len) < 0)
	msg_fail(msg, "cannot spool the message body");
}

const char *msg_header(const struct msg_ctx *msg, const char *name)
{
    for (size_t i = 0; i < msg->nheaders; i++)
	if (strcasecmp(msg->headers[i].name, name) == 0)
	    return msg->headers[i].value;
    return NULL;
}

void    msg_cleanup(struct msg_ctx *msg)
{
    if (msg->active)
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
    for (size_t i = 0; i < msg->nrecipients; i++)
	free(msg->recipients[i]);
    free(msg->recipients);
    for (size_t i = 0; i < msg->nheaders; i++) {
	free(msg->headers[i].name);
	free(msg->headers[i].value);
    }
    free(msg->headers);
    spool_free(msg->body);
    free(msg->queue_id);
    free(msg->sender);
    free(msg->auth_authen);
    if (msg->cfg)
	reload_release(msg->cfg);
    memset(msg, 0, sizeof(*msg));
}
