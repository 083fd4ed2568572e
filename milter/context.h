/*
 * context - the milter's two levels of state (STYLE.md item 6).
 *
 * A struct conn_ctx is made in xxfi_connect and freed in xxfi_close.  It
 * holds the message state, a struct msg_ctx, which envfrom rebuilds and
 * msg_cleanup() releases; msg_cleanup() is the only place message memory
 * is freed and is safe to call any number of times (eom, abort, close, and
 * the start of the next message).
 *
 * Everything stored here came from outside, so every list has a hard cap;
 * going past a cap marks the message failed (msg_fail) instead of growing.
 */
#ifndef CF_MILTER_CONTEXT_H
#define CF_MILTER_CONTEXT_H

#include <stddef.h>

#include "config.h"
#include "engine.h"

#define CTX_MAX_RECIPIENTS	10000
#define CTX_MAX_HEADERS		10000
#define CTX_MAX_HEADER_BYTES	(4u * 1024 * 1024)	/* names + values */
#define CTX_MAX_MACRO		1024	/* longest macro value kept */

struct msg_ctx {
    int     active;			/* between envfrom and cleanup */
    struct cf_config *cfg;		/* reference held for this message */
    char   *queue_id;
    char   *sender;			/* without <>, "" for the null sender */
    char   *auth_authen;		/* SASL user, NULL if none */
    char  **recipients;
    size_t  nrecipients;
    size_t  recipients_alloc;
    struct engine_header *headers;
    size_t  nheaders;
    size_t  headers_alloc;
    size_t  header_bytes;
    struct spool *body;
    char    failed[160];		/* why the message cannot be processed */
};

struct conn_ctx {
    char    client_addr[64];		/* "" when not IPv4/IPv6 */
    char   *client_name;
    char   *daemon_name;
    char   *helo;
    char   *tls_version;
    char   *cipher;
    char   *cipher_bits;
    struct msg_ctx msg;
};

struct conn_ctx *conn_new(const char *client_name, const char *client_addr);
void    conn_free(struct conn_ctx *conn);

/* Replace *SLOT with a bounded copy of VALUE (NULL clears).  0 or -1. */
int     ctx_set_string(char **slot, const char *value);

/* Start a message with CFG (the reference passes to the context). */
int     msg_begin(struct msg_ctx *msg, struct cf_config *cfg,
		  const char *sender);

/* Record that the message cannot be processed; the first reason wins. */
void    msg_fail(struct msg_ctx *msg, const char *why);

/* Append; past a cap they return -1 (RCPT) or mark the message failed. */
int     msg_add_recipient(struct msg_ctx *msg, const char *rcpt);
void    msg_add_header(struct msg_ctx *msg, const char *name, const char *value);
void    msg_add_body(struct msg_ctx *msg, const void *data, size_t len);

/* The first field NAME (case-insensitive), or NULL. */
const char *msg_header(const struct msg_ctx *msg, const char *name);

/* Free all message state and drop the config reference.  Idempotent. */
void    msg_cleanup(struct msg_ctx *msg);

/* Messages between envfrom and cleanup, over all connections. */
int     msg_in_flight(void);

/* At shutdown: refuse new messages (envfrom tempfails) so that the ones
 * in flight can finish before the listener stops. */
void    msg_refuse_new(void);
int     msg_refusing(void);

/* "<a@b>" -> "a@b", surrounding white space removed, into a new string. */
char   *strip_brackets(const char *addr);

#endif
