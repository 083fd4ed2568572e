/*
 * actions - the engine's result and milter.on_error in milter calls; see
 * actions.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actions.h"
#include "log.h"
#include "rules.h"
#include "spool.h"

static size_t chunk = ACTIONS_CHUNK;

void    actions_set_chunk(size_t n)
{
    chunk = n < ACTIONS_CHUNK_MIN ? ACTIONS_CHUNK_MIN
	: n > ACTIONS_CHUNK ? ACTIONS_CHUNK : n;
}

/* libmilter takes char * for text it never changes. */
static char *mutable(const char *s)
{
    return (char *) (uintptr_t) s;
}

/* Past a leading enhanced status code ("5.7.1 "): we pass our own. */
static const char *skip_status_code(const char *text)
{
    const char *p = text;

    if ((*p == '2' || *p == '4' || *p == '5') && p[1] == '.') {
	for (p += 2; *p >= '0' && *p <= '9'; p++)
	    ;
	if (*p++ == '.' && *p >= '0' && *p <= '9') {
	    while (*p >= '0' && *p <= '9')
		p++;
	    if (*p == ' ')
		return p + 1;
	}
    }
    return text;
}

char   *actions_reply_text(char *buf, size_t len, const char *text,
			   const char *def)
{
    size_t  out = 0;

    if (text)
	text = skip_status_code(text);
    if (text == NULL || *text == 0)
	text = def;
    for (; *text && out + 3 < len; text++) {
	unsigned char c = (unsigned char) *text;

	if (c == '%')
	    buf[out++] = '%';
	buf[out++] = (c >= 0x20 && c < 0x7f) ? (char) c : ' ';
    }
    buf[out] = 0;
    return buf;
}

static int set_reply(SMFICTX *ctx, const char *code, const char *xcode,
		     const char *text, const char *def)
{
    char    clean[300];

    actions_reply_text(clean, sizeof(clean), text, def);
    if (smfi_setreply(ctx, mutable(code), mutable(xcode), clean) != MI_SUCCESS) {
	msg_warn("smfi_setreply %s %s failed", code, xcode);
	return -1;
    }
    return 0;
}

static void outcome(struct outcome *out, sfsistat status, const char *final)
{
    out->status = status;
    snprintf(out->final, sizeof(out->final), "%s", final);
}

int     actions_must_protect(const struct cf_config *cfg, const char *sender,
			     char *const *rcpts, size_t nrcpts)
{
    static const enum cf_rule_kind kinds[] = {CF_RULE_SMIME_SIGN, CF_RULE_SMIME_ENCRYPT};

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
	for (size_t i = 0; i < nrcpts; i++) {
	    const struct cf_rule *rule =
		rules_first_match(&cfg->rules[kinds[k]], sender, rcpts[i], NULL);

	    if (rule && !rule_is_void(rule))
		return 1;
	}
    }
    return 0;
}

/*
 * Remove every X-CryptoFilter-* field we were given, last first so that
 * the indexes of the earlier ones do not move.
 */
static int delete_our_headers(SMFICTX *ctx, const struct msg_ctx *msg)
{
    size_t  plen = strlen(CF_HDR_PREFIX);

    for (size_t i = msg->nheaders; i-- > 0;) {
	const char *name = msg->headers[i].name;
	int     index = 1;

	if (strncasecmp(name, CF_HDR_PREFIX, plen) != 0)
	    continue;
	for (size_t j = 0; j < i; j++)
	    if (strcasecmp(msg->headers[j].name, name) == 0)
		index++;
	if (smfi_chgheader(ctx, mutable(name), index, NULL) != MI_SUCCESS)
	    return -1;
    }
    return 0;
}

/* The "accept" failure action: unprocessed, but nothing forged survives. */
static int pass_unprocessed(SMFICTX *ctx, const struct msg_ctx *msg,
			    const char *why)
{
    char    value[200];

    actions_reply_text(value, sizeof(value), why, "internal error");
    if (delete_our_headers(ctx, msg) < 0)
	return -1;
    return smfi_addheader(ctx, mutable(CF_HDR_PREFIX "Error"), value) == MI_SUCCESS ? 0 : -1;
}

static void tempfail_error(SMFICTX *ctx, struct outcome *out)
{
    (void) set_reply(ctx, "451", "4.3.0", NULL,
		     "Temporary failure in message processing, try again later");
    outcome(out, SMFIS_TEMPFAIL, "tempfail (error)");
}

void    actions_on_error(SMFICTX *ctx, const struct msg_ctx *msg, int outbound,
			 const char *why, struct outcome *out)
{
    enum cf_on_error mode = msg->cfg ? msg->cfg->milter.on_error : CF_ON_ERROR_TEMPFAIL;
    const char *qid = msg->queue_id ? msg->queue_id : "NOQUEUE";

    if (mode == CF_ON_ERROR_ACCEPT && outbound && msg->cfg
	&& actions_must_protect(msg->cfg, msg->sender ? msg->sender : "",
				msg->recipients, msg->nrecipients)) {
	msg_warn("%s: on_error accept refused: a sign or encrypt rule applies", qid);
	mode = CF_ON_ERROR_TEMPFAIL;
    }
    switch (mode) {
    case CF_ON_ERROR_REJECT:
	(void) set_reply(ctx, "554", "5.3.0", NULL, "Message could not be processed");
	outcome(out, SMFIS_REJECT, "reject (error)");
	break;
    case CF_ON_ERROR_ACCEPT:
	if (pass_unprocessed(ctx, msg, why) == 0) {
	    outcome(out, SMFIS_ACCEPT, "accept (error)");
	    break;
	}
	msg_warn("%s: cannot mark the unprocessed message; tempfail instead", qid);
	tempfail_error(ctx, out);
	break;
    case CF_ON_ERROR_TEMPFAIL:
    default:
	tempfail_error(ctx, out);
	break;
    }
}

static int apply_edits(SMFICTX *ctx, const struct engine_result *res)
{
    for (size_t i = 0; i < res->nedits; i++) {
	const struct engine_edit *e = &res->edits[i];
	int     rc;

	switch (e->op) {
	case EE_ADD:
	    rc = smfi_addheader(ctx, e->name, e->value);
	    break;
	case EE_CHANGE:
	    rc = smfi_chgheader(ctx, e->name, e->index, e->value);
	    break;
	case EE_DELETE:
	    rc = smfi_chgheader(ctx, e->name, e->index, NULL);
	    break;
	default:
	    rc = MI_FAILURE;
	    break;
	}
	if (rc != MI_SUCCESS) {
	    msg_warn("header edit %zu (%s) refused by the MTA", i, e->name);
	    return -1;
	}
    }
    return 0;
}

static int replace_body(SMFICTX *ctx, struct spool *body)
{
    unsigned char *buf = malloc(chunk);
    uint64_t since_progress = 0;
    ssize_t n;
    int     rc = 0;

    if (buf == NULL || spool_rewind(body) < 0) {
	free(buf);
	return -1;
    }
    while ((n = spool_read(body, buf, chunk)) > 0) {
	if (smfi_replacebody(ctx, buf, (int) n) != MI_SUCCESS) {
	    msg_warn("smfi_replacebody refused by the MTA");
	    rc = -1;
	    break;
	}
	since_progress += (uint64_t) n;
	if (since_progress >= ACTIONS_PROGRESS_EVERY) {
	    (void) smfi_progress(ctx);
	    since_progress = 0;
	}
    }
    if (n < 0)
	rc = -1;
    free(buf);
    return rc;
}

static int replace_recipients(SMFICTX *ctx, const struct msg_ctx *msg,
			      const struct engine_result *res)
{
    if (res->nnew_recipients == 0) {
	msg_warn("policy replaces the recipients but names none");
	return -1;
    }
    for (size_t i = 0; i < msg->nrecipients; i++) {
	char    rcpt[CTX_MAX_MACRO + 3];

	snprintf(rcpt, sizeof(rcpt), "<%s>", msg->recipients[i]);
	if (smfi_delrcpt(ctx, rcpt) != MI_SUCCESS)
	    return -1;
    }
    for (size_t i = 0; i < res->nnew_recipients; i++) {
	char    rcpt[CTX_MAX_MACRO + 3];

	snprintf(rcpt, sizeof(rcpt), "<%s>", res->new_recipients[i]);
	if (smfi_addrcpt(ctx, rcpt) != MI_SUCCESS)
	    return -1;
    }
    return 0;
}

static int quarantine(SMFICTX *ctx, const struct engine_result *res)
{
    char    reason[300];
    char    def[200];

    snprintf(def, sizeof(def), "cryptofilter policy %s",
	     res->policy_rule ? res->policy_rule->name : "hold");
    actions_reply_text(reason, sizeof(reason), res->reply_text, def);
    return smfi_quarantine(ctx, reason) == MI_SUCCESS ? 0 : -1;
}

/* The actions that pass the message on: edits, body, then the rest. */
static int modify(SMFICTX *ctx, const struct msg_ctx *msg,
		  const struct engine_result *res)
{
    if (apply_edits(ctx, res) < 0)
	return -1;
    if (res->body && replace_body(ctx, res->body) < 0)
	return -1;
    switch (res->action) {
    case CF_ACTION_HOLD:
	return quarantine(ctx, res);
    case CF_ACTION_FORWARD_POSTMASTER:
    case CF_ACTION_ENCAPSULATE_POSTMASTER:
    case CF_ACTION_ENCAPSULATE_RECIPIENT:
    case CF_ACTION_ENCAPSULATE_RECIPIENT_STRIPPED:
	return replace_recipients(ctx, msg, res);
    default:
	return 0;
    }
}

void    actions_apply(SMFICTX *ctx, const struct msg_ctx *msg,
		      const struct engine_result *res, struct outcome *out)
{
    const char *name = config_action_name(res->action);

    switch (res->action) {
    case CF_ACTION_DISCARD:
	outcome(out, SMFIS_DISCARD, name);
	return;
    case CF_ACTION_REJECT:
    case CF_ACTION_NDR:
	(void) set_reply(ctx, "550", "5.7.1", res->reply_text,
			 "Message refused by the S/MIME policy");
	outcome(out, SMFIS_REJECT, name);
	return;
    case CF_ACTION_TEMPFAIL:
	(void) set_reply(ctx, "451", "4.7.1", res->reply_text,
			 "Message deferred by the S/MIME policy");
	outcome(out, SMFIS_TEMPFAIL, name);
	return;
    default:
	break;
    }
    if (modify(ctx, msg, res) < 0) {
	/* Whatever was already changed is void: the MTA drops a
	 * tempfailed message and the client sends it again. */
	msg_warn("%s: the MTA refused a change; tempfail",
		 msg->queue_id ? msg->queue_id : "NOQUEUE");
	tempfail_error(ctx, out);
	return;
    }
    outcome(out, SMFIS_ACCEPT, name ? name : "accept");
}
