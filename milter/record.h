/*
 * record - what the milter keeps about each message: the history copy
 * (exactly as received), the SR/SS statistics rows and the log lines
 * (one summary line, plus transfer and header lines when configured).
 */
#ifndef CF_MILTER_RECORD_H
#define CF_MILTER_RECORD_H

#include "actions.h"
#include "context.h"
#include "engine.h"

#define RECORD_MAX_RCPT_CELL	(64 * 1024)

/* Write the HIST-IN / HIST-OUT copy when history is enabled.  A failure is
 * logged and does not stop the message. */
void    record_history(const struct msg_ctx *msg, int outbound);

/* Size of the message as received: header lines, blank line, body. */
unsigned long long record_size(const struct msg_ctx *msg);

/* Statistics rows and log lines for one finished message.  RES is NULL
 * when the engine did not run (the message failed before). */
void    record_message(const struct conn_ctx *conn, const struct msg_ctx *msg,
		       int outbound, const struct engine_result *res,
		       const struct outcome *out);

#endif
