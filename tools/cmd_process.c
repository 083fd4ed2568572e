/*
 * cmd_process - "cryptofilter process -c FILE --direction in|out --from A
 * --to B [--to C ...] [--subject S] [--queue-id ID] [--client IP]
 * < in.eml > out.eml": run one message through the engine offline, exactly
 * as the milter would, and write the result.  One summary line goes to
 * stderr; the exit status tells the policy decision (commands.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "engine.h"
#include "log.h"
#include "spool.h"
#include "toolutil.h"

static int usage(void)
{
    fprintf(stderr, "usage: cryptofilter process [-c FILE] --direction in|out --from ADDR "
	    "--to ADDR [--to ADDR ...] [--subject S] [--queue-id ID] [--client IP] "
	    "< in.eml > out.eml\n");
    return CF_EXIT_USAGE;
}

/* stdin into a spool bounded like the milter's. */
static struct spool *read_input(const struct cf_config *cfg)
{
    struct spool *sp = spool_new(cfg->milter.memory_limit, cfg->milter.spool_dir);
    char    buf[65536];
    ssize_t n;

    if (sp == 0)
	return 0;
    while ((n = read(0, buf, sizeof(buf))) > 0)
	if (spool_write(sp, buf, (size_t) n) < 0)
	    break;
    if (n != 0) {
	spool_free(sp);
	return 0;
    }
    return sp;
}

static int exit_status(const struct engine_result *res, const struct cf_config *cfg)
{
    if (res->error) {
	switch (cfg->milter.on_error) {
	case CF_ON_ERROR_ACCEPT:
	    return CF_EXIT_ACCEPT;
	case CF_ON_ERROR_REJECT:
	    return CF_EXIT_REJECT;
	default:
	    return CF_EXIT_TEMPFAIL;
	}
    }
    switch (res->action) {
    case CF_ACTION_DISCARD:
	return CF_EXIT_DISCARD;
    case CF_ACTION_REJECT:
    case CF_ACTION_NDR:
	return CF_EXIT_REJECT;
    case CF_ACTION_TEMPFAIL:
	return CF_EXIT_TEMPFAIL;
    case CF_ACTION_HOLD:
	return CF_EXIT_HOLD;
    case CF_ACTION_FORWARD_POSTMASTER:
    case CF_ACTION_ENCAPSULATE_POSTMASTER:
    case CF_ACTION_ENCAPSULATE_RECIPIENT:
    case CF_ACTION_ENCAPSULATE_RECIPIENT_STRIPPED:
	return CF_EXIT_REDIRECT;
    default:
	return CF_EXIT_ACCEPT;
    }
}

int     cmd_process(int argc, char **argv)
{
    static const struct option opts[] = {
	{"config", required_argument, 0, 'c'},
	{"direction", required_argument, 0, 'd'},
	{"from", required_argument, 0, 'f'},
	{"to", required_argument, 0, 't'},
	{"subject", required_argument, 0, 's'},
	{"queue-id", required_argument, 0, 'q'},
	{"client", required_argument, 0, 'a'},
	{0, 0, 0, 0},
    };
    const char *path = 0, *direction = 0, *from = 0, *queue_id = "offline", *client = "";
    const char *subject = 0;
    char  **to = calloc((size_t) argc + 1, sizeof(char *));
    size_t  nto = 0;
    struct cf_config *cfg;
    struct spool *in;
    struct engine_msg msg;
    struct engine_result res;
    int     c, status;

    if (to == 0)
	return CF_EXIT_SOFTWARE;
    while ((c = getopt_long(argc, argv, "c:", opts, 0)) != -1) {
	switch (c) {
	case 'c': path = optarg; break;
	case 'd': direction = optarg; break;
	case 'f': from = optarg; break;
	case 't': to[nto++] = optarg; break;
	case 's': subject = optarg; break;
	case 'q': queue_id = optarg; break;
	case 'a': client = optarg; break;
	default: free(to); return usage();
	}
    }
    if (optind != argc || direction == 0 || from == 0 || nto == 0
	|| (strcmp(direction, "in") != 0 && strcmp(direction, "out") != 0)) {
	free(to);
	return usage();
    }
    cfg = tool_load_config(path);
    if ((in = read_input(cfg)) == 0) {
	fprintf(stderr, "cryptofilter: process: cannot read the message from stdin\n");
	config_unref(cfg);
	free(to);
	return CF_EXIT_IOERR;
    }
    memset(&msg, 0, sizeof(msg));
    if (engine_msg_parse(in, cfg->milter.memory_limit, cfg->milter.spool_dir, &msg) < 0) {
	fprintf(stderr, "cryptofilter: process: cannot parse the message\n");
	spool_free(in);
	config_unref(cfg);
	free(to);
	return CF_EXIT_IOERR;
    }
    spool_free(in);
    msg.outbound = strcmp(direction, "out") == 0;
    msg.queue_id = queue_id;
    msg.client_addr = client;
    msg.sender = from;
    msg.recipients = to;
    msg.nrecipients = nto;
    msg.subject = subject;
    if (engine_run(cfg, &msg, &res) < 0) {
	status = CF_EXIT_SOFTWARE;
    } else {
	status = exit_status(&res, cfg);
	if (res.nnew_recipients > 0)
	    for (size_t i = 0; i < res.nnew_recipients; i++)
		fprintf(stderr, "new recipient: %s\n", res.new_recipients[i]);
	if (*res.reply_text && status != CF_EXIT_ACCEPT && status != CF_EXIT_REDIRECT)
	    fprintf(stderr, "reply: %s\n", res.reply_text);
	/* A message the engine failed on is written unchanged. */
	if (engine_render(&msg, res.error ? 0 : &res, stdout) < 0) {
	    fprintf(stderr, "cryptofilter: process: write error\n");
	    status = CF_EXIT_IOERR;
	}
	engine_result_free(&res);
    }
    engine_msg_free(&msg);
    config_unref(cfg);
    free(to);
    return status;
}
