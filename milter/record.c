/*
 * record - history copies, statistics rows and log lines; see record.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "history.h"
#include "log.h"
#include "record.h"
#include "spool.h"
#include "stats.h"

/* VALUE with each bare LF made CRLF, as on the wire. */
static int put_crlf(FILE *fp, const char *value)
{
    for (const char *p = value; *p; p++) {
	if (*p == '\n' && (p == value || p[-1] != '\r'))
	    putc('\r', fp);
	putc(*p, fp);
    }
    return ferror(fp) ? -1 : 0;
}

static int write_copy(FILE *fp, const struct msg_ctx *msg)
{
    char    buf[64 * 1024];
    ssize_t n;

    for (size_t i = 0; i < msg->nheaders; i++) {
	fprintf(fp, "%s: ", msg->headers[i].name);
	put_crlf(fp, msg->headers[i].value);
	fputs("\r\n", fp);
    }
    fputs("\r\n", fp);
    if (msg->body == NULL || spool_rewind(msg->body) < 0)
	return -1;
    while ((n = spool_read(msg->body, buf, sizeof(buf))) > 0)
	fwrite(buf, 1, (size_t) n, fp);
    return n < 0 || ferror(fp) ? -1 : 0;
}

void    record_history(const struct msg_ctx *msg, int outbound)
{
    char    path[PATH_MAX];
    FILE   *fp;
    int     fd;
    int     rc;

    if (msg->cfg == NULL || !msg->cfg->history.enabled)
	return;
    errno = 0;
    fd = history_create(&msg->cfg->history, outbound,
			msg->queue_id ? msg->queue_id : "", path, sizeof(path));
    if (fd < 0)
	return;				/* disabled, or already logged */
    if ((fp = fdopen(fd, "w")) == NULL) {
	close(fd);
	msg_warn("history %s: %m", path);
	return;
    }
    rc = write_copy(fp, msg);
    if (fclose(fp) != 0 || rc < 0)
	msg_warn("history %s: write failed: %m", path);
}

unsigned long long record_size(const struct msg_ctx *msg)
{
    unsigned long long size = 2;

    for (size_t i = 0; i < msg->nheaders; i++)
	size += strlen(msg->headers[i].name) + 4 + strlen(msg->headers[i].value);
    if (msg->body)
	size += spool_size(msg->body);
    return size;
}

/* Recipients joined by a space, cut (with "...") at RECORD_MAX_RCPT_CELL. */
static char *join_recipients(const struct msg_ctx *msg)
{
    char   *out = malloc(RECORD_MAX_RCPT_CELL);
    size_t  len = 0;

    if (out == NULL)
	return NULL;
    out[0] = 0;
    for (size_t i = 0; i < msg->nrecipients; i++) {
	size_t  n = strlen(msg->recipients[i]);

	if (len + n + 2 + 4 > RECORD_MAX_RCPT_CELL) {
	    memcpy(out + len, "...", 4);
	    break;
	}
	if (len)
	    out[len++] = ' ';
	memcpy(out + len, msg->recipients[i], n + 1);
	len += n;
    }
    return out;
}

/* The message went on to the next hop (or will, after a redirect). */
static int handed_on(const struct outcome *out)
{
    return out->status == SMFIS_ACCEPT && strncmp(out->final, "hold", 4) != 0
	&& strncmp(out->final, "discard", 7) != 0;
}

static void write_stats(const struct msg_ctx *msg, int outbound,
			const struct engine_result *res,
			const struct outcome *out, const char *rcpts,
			const char *subject, const char *client)
{
    char    size[32];
    time_t  now = time(NULL);
    const char *qid = msg->queue_id ? msg->queue_id : "";
    const char *sr[SR_NCOLS] = {0};

    snprintf(size, sizeof(size), "%llu", record_size(msg));
    sr[SR_DIRECTION] = outbound ? "out" : "in";
    sr[SR_QUEUE_ID] = qid;
    sr[SR_CLIENT] = client;
    sr[SR_SENDER] = msg->sender ? msg->sender : "";
    sr[SR_RECIPIENTS] = rcpts;
    sr[SR_SIZE] = size;
    sr[SR_SUBJECT] = subject;
    sr[SR_SMIME_ACTIONS] = res ? res->actions : "";
    sr[SR_VERIFY_STATUS] = res ? engine_verify_name(res->verify) : "";
    sr[SR_DECRYPT_STATUS] = res ? engine_decrypt_name(res->decrypt) : "";
    sr[SR_TLS_CLASS] = res ? res->tls_class : "";
    sr[SR_FINAL_ACTION] = out->final;
    (void) stats_write(&msg->cfg->statistics, STATS_SR, now, sr, SR_NCOLS);

    if (outbound && handed_on(out)) {
	const char *ss[SS_NCOLS] = {0};

	ss[SS_QUEUE_ID] = qid;
	ss[SS_SENDER] = sr[SR_SENDER];
	ss[SS_RECIPIENTS] = rcpts;
	ss[SS_SIZE] = size;
	ss[SS_SUBJECT] = subject;
	ss[SS_SMIME_ACTIONS] = sr[SR_SMIME_ACTIONS];
	ss[SS_TLS_CLASS] = sr[SR_TLS_CLASS];
	(void) stats_write(&msg->cfg->statistics, STATS_SS, now, ss, SS_NCOLS);
    }
}

static void log_lines(const struct conn_ctx *conn, const struct msg_ctx *msg, int outbound,
		      const struct engine_result *res,
		      const struct outcome *out, const char *rcpts,
		      const char *client)
{
    const char *qid = msg->queue_id && *msg->queue_id ? msg->queue_id : "NOQUEUE";
    char    a[512], b[1024], c[256];

    if (log_header_enabled()) {
	for (size_t i = 0; i < msg->nheaders; i++)
	    msg_info("%s: header %s: %s", qid,
		     log_clean(a, sizeof(a), msg->headers[i].name),
		     log_clean(b, sizeof(b), msg->headers[i].value));
    }
    if (log_transfer_enabled()) {
	char    tls[200] = "";

	if (conn->tls_version && *conn->tls_version)
	    snprintf(tls, sizeof(tls), " tls=%.32s cipher=%.100s bits=%.8s",
		     conn->tls_version, conn->cipher ? conn->cipher : "",
		     conn->cipher_bits ? conn->cipher_bits : "");
	msg_info("%s: from=<%s> to=<%s> size=%llu client=%s%s", qid,
		 log_clean(a, sizeof(a), msg->sender ? msg->sender : ""),
		 log_clean(b, sizeof(b), rcpts), record_size(msg), client,
		 log_clean(c, sizeof(c), tls));
    }
    msg_info("%s: %s %s; action=%s", qid, outbound ? "outbound" : "inbound",
	     log_clean(b, sizeof(b), res ? res->summary
		       : (msg->failed[0] ? msg->failed : "not processed")),
	     out->final);
}

void    record_message(const struct conn_ctx *conn, const struct msg_ctx *msg,
		       int outbound, const struct engine_result *res,
		       const struct outcome *out)
{
    char   *rcpts = join_recipients(msg);
    const char *subject = msg_header(msg, "Subject");
    const char *client = conn->client_addr;

    if (msg->cfg == NULL)
	return;
    if (rcpts == NULL) {
	msg_warn("out of memory writing statistics");
	return;
    }
    write_stats(msg, outbound, res, out, rcpts, subject ? subject : "", client);
    log_lines(conn, msg, outbound, res, out, rcpts, client);
    free(rcpts);
}
