/*
 * engine - what happens to one message: the S/MIME rule tables, sign /
 * encrypt / decrypt / verify, the inbound and outbound policies and the
 * outbound TLS class.  The milter and "cryptofilter process" are both thin
 * adapters over engine_run(): same input shape, same result.
 *
 * Input is the message the way a milter sees it: the header fields in
 * order (name and value, the value unfolded or folded as received, without
 * the leading space after the colon) and the body in a spool.  Output is a
 * list of header edits in milter terms plus, when the body changed, a new
 * body.  engine_render() applies both to write the whole resulting message
 * (used by the offline command and by tests).
 */
#ifndef CF_ENGINE_H
#define CF_ENGINE_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

struct spool;

struct engine_header {
    char   *name;
    char   *value;
};

struct engine_msg {
    int     outbound;			/* direction, decided by the caller */
    const char *queue_id;		/* for logs and statistics; may be "" */
    const char *client_addr;		/* may be "" */
    const char *sender;			/* envelope sender, "" for <> */
    char  **recipients;			/* envelope recipients */
    size_t  nrecipients;
    struct engine_header *headers;	/* in order */
    size_t  nheaders;
    struct spool *body;			/* body only, as received (LF or CRLF) */
    const char *subject;		/* the subject rules see; NULL: the
					 * Subject: header ("cryptofilter
					 * process --subject") */
};

enum engine_verify {
    EV_NONE,				/* no verify rule applied */
    EV_VALID, EV_INVALID, EV_UNTRUSTED, EV_EXPIRED, EV_REVOKED,
    EV_NOT_SIGNED, EV_ERROR,
};

enum engine_decrypt {
    ED_NONE,				/* no decrypt rule applied */
    ED_DECRYPTED, ED_FAILED, ED_NO_KEY, ED_NOT_ENCRYPTED,
};

/* A header edit, in milter terms. */
enum engine_edit_op {
    EE_ADD,				/* smfi_addheader(name, value) */
    EE_CHANGE,				/* smfi_chgheader(name, index, value) */
    EE_DELETE,				/* smfi_chgheader(name, index, NULL) */
};

struct engine_edit {
    enum engine_edit_op op;
    char   *name;
    int     index;			/* 1-based among fields of NAME */
    char   *value;			/* NULL for EE_DELETE */
};

struct engine_result {
    /* What to send on. */
    struct engine_edit *edits;		/* apply in order */
    size_t  nedits;
    struct spool *body;			/* new body (CRLF), NULL = unchanged */

    /* The policy decision: the first matching smime_*_policy rule whose
     * conditions held, or action CF_ACTION_ACCEPT with rule NULL. */
    enum cf_action action;
    const struct cf_rule *policy_rule;
    unsigned conditions;		/* CF_WHEN_* that held */
    char  **new_recipients;		/* forward-/encapsulate-*: replace the
					 * envelope recipients with these */
    size_t  nnew_recipients;
    char    reply_text[256];		/* reject/ndr/tempfail text, no code */

    /* Internal error or a required sign/encrypt that failed: the caller
     * applies milter.on_error (default tempfail) instead of the above. */
    int     error;

    /* For logs, headers and statistics. */
    enum engine_verify verify;
    char    signer[320];		/* signer address, "" if unknown */
    char    verify_reason[128];
    enum engine_decrypt decrypt;
    char    actions[128];		/* e.g. "decrypt,verify" or "sign,encrypt" */
    char    tls_class[32];		/* outbound: none|may|encrypt|verify|secure, "" = no rule */
    char    summary[512];		/* one line: rules matched, actions, statuses */
};

/*
 * Header edits, in order: first every X-CryptoFilter-* field that arrived
 * with the message is removed (EE_DELETE, for each name the highest index
 * first, so the indexes stay right whether the applier counts before or
 * after earlier deletions), then, when the body changes, the old Content-*
 * fields are removed the same way and the new ones added (EE_ADD) with
 * MIME-Version when missing, then the X-CryptoFilter-* status or TLS
 * fields (EE_ADD), then what the policy action changes (Subject: EE_CHANGE
 * index 1, or EE_ADD when there is none; encapsulate-*: Content-Type).
 * New bodies are CRLF; added values are unfolded single lines.
 */

/* Run the whole engine on MSG.  Returns 0 with RES filled (including
 * RES->error for failures the policy turns into a tempfail); -1 only when
 * RES could not be set up (out of memory).  Always call engine_result_free. */
int     engine_run(const struct cf_config *cfg, const struct engine_msg *msg,
		   struct engine_result *res);

void    engine_result_free(struct engine_result *res);

/* Write MSG's headers with RES->edits applied, a blank line and the body
 * (RES->body, or MSG->body when unchanged) to FP.  0 or -1. */
int     engine_render(const struct engine_msg *msg,
		      const struct engine_result *res, FILE *fp);

/* Split a whole message (headers, blank line, body) read from SRC into
 * MSG->headers / MSG->body; the caller sets the envelope fields.  0 or -1. */
int     engine_msg_parse(struct spool *src, size_t memory_limit,
			 const char *spool_dir, struct engine_msg *msg);
void    engine_msg_free(struct engine_msg *msg);

/* The outbound TLS class a tls_outbound RULE asks for: none, may, encrypt,
 * verify or secure (mandatory is raised to verify when it rejects
 * untrusted/self-signed/expired peers, to secure when it rejects a
 * cn-mismatch).  "" for NULL.  Used by the engine and "cryptofilter
 * postconf". */
const char *engine_tls_class_of(const struct cf_rule *rule);

/* Rank of a class name for "strictest wins": none 1 < may 2 < encrypt 3
 * < verify 4 < secure 5; 0 for "" or an unknown name. */
int     engine_tls_class_rank(const char *tls_class);

const char *engine_verify_name(enum engine_verify v);
const char *engine_decrypt_name(enum engine_decrypt d);

/* Names of the status headers the engine adds. */
#define CF_HDR_PREFIX		"X-CryptoFilter-"
#define CF_HDR_VERIFY		"X-CryptoFilter-SMIME-Verify-Status"
#define CF_HDR_DECRYPT		"X-CryptoFilter-SMIME-Decrypt-Status"
#define CF_HDR_TLS		"X-CryptoFilter-TLS"

#endif
