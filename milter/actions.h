/*
 * actions - carry out the engine's result on one message in milter terms:
 * header edits in order, the body replaced in chunks, the policy action
 * (reply codes, discard, quarantine, recipient replacement), and the
 * configured failure action (milter.on_error) when the message cannot be
 * processed.  Only called from xxfi_eom.
 */
#ifndef CF_MILTER_ACTIONS_H
#define CF_MILTER_ACTIONS_H

#include <stddef.h>

#include <libmilter/mfapi.h>

#include "context.h"
#include "engine.h"

#define ACTIONS_CHUNK		(64 * 1024)	/* smfi_replacebody piece */
#define ACTIONS_CHUNK_MIN	512
#define ACTIONS_PROGRESS_EVERY	(4u * 1024 * 1024)

/* What the milter finally did, for the log line and statistics. */
struct outcome {
    sfsistat status;			/* returned from xxfi_eom */
    char    final[48];			/* "accept", "reject", "tempfail (error)" ... */
};

/*
 * Use pieces of N bytes for smfi_replacebody (ACTIONS_CHUNK_MIN ..
 * ACTIONS_CHUNK).  Only for tests: miltertest reads every end-of-message
 * packet into a 1 KB stack buffer, so its scripts need small pieces.
 */
void    actions_set_chunk(size_t n);

/* Apply RES to the message.  A modification the MTA refuses turns into a
 * tempfail (the message is never passed half changed). */
void    actions_apply(SMFICTX *ctx, const struct msg_ctx *msg,
		      const struct engine_result *res, struct outcome *out);

/*
 * The message could not be processed (WHY, for the log): apply
 * milter.on_error.  "accept" is refused, and the message tempfailed, when a
 * sign or encrypt rule applies to it: it must never leave unprotected.
 */
void    actions_on_error(SMFICTX *ctx, const struct msg_ctx *msg, int outbound,
			 const char *why, struct outcome *out);

/* Does any non-void smime_sign / smime_encrypt rule match this message? */
int     actions_must_protect(const struct cf_config *cfg, const char *sender,
			     char *const *rcpts, size_t nrcpts);

/* Copy TEXT into BUF as an SMTP reply text: a leading enhanced status
 * code dropped (the caller passes its own), printable ASCII, '%' doubled
 * (libmilter treats it as a format character), DEF when TEXT is empty. */
char   *actions_reply_text(char *buf, size_t len, const char *text,
			   const char *def);

#endif
