/*
 * engine_bench - run one message through engine_run() in a loop, in
 * process, on one core, the way the milter does for each message: parse
 * the message from a spool, run the engine, render the result, free.
 * Built and run by t/bench/engine.sh (the Makefile does not build
 * t/bench/*.c):
 *
 *   engine_bench CONF MSG DIRECTION FROM TO MIN_SECONDS MIN_COUNT
 *
 * Loops until both MIN_SECONDS have passed and MIN_COUNT messages were
 * done, then prints one line: "COUNT SECONDS BYTES_IN BYTES_OUT ACTIONS
 * CPU_SECONDS" (CPU_SECONDS: user + system time of the loop, which other
 * load on the machine does not inflate the way it does wall time).
 * Exits 1 when the engine reports an error or changes nothing (a
 * benchmark of a no-op would be meaningless).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "spool.h"

static double cpu_now(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6
	+ (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* The whole file into a spool with the config's memory limit. */
static struct spool *read_file(const char *path, const struct cf_config *cfg)
{
    struct spool *sp = spool_new(cfg->milter.memory_limit, cfg->milter.spool_dir);
    FILE   *fp = fopen(path, "rb");
    char    buf[65536];
    size_t  n;

    if (sp == 0 || fp == 0) {
	perror(path);
	exit(1);
    }
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
	if (spool_write(sp, buf, n) < 0)
	    exit(1);
    fclose(fp);
    return sp;
}

/* Counts what engine_render writes, without keeping it. */
static ssize_t count_write(void *cookie, const char *buf, size_t len)
{
    (void) buf;
    *(unsigned long long *) cookie += len;
    return (ssize_t) len;
}

/* One message: parse, run, render, free.  Returns bytes rendered. */
static unsigned long long one(const struct cf_config *cfg, struct spool *src, int outbound,
			      char *from, char *to, char *actions, size_t actlen)
{
    struct engine_msg msg;
    struct engine_result res;
    char   *rcpts[1] = {to};
    unsigned long long out = 0;
    cookie_io_functions_t io = {0, count_write, 0, 0};
    FILE   *fp;

    memset(&msg, 0, sizeof(msg));
    if (engine_msg_parse(src, cfg->milter.memory_limit, cfg->milter.spool_dir, &msg) < 0) {
	fprintf(stderr, "engine_bench: cannot parse the message\n");
	exit(1);
    }
    msg.outbound = outbound;
    msg.queue_id = "BENCH";
    msg.client_addr = "127.0.0.1";
    msg.sender = from;
    msg.recipients = rcpts;
    msg.nrecipients = 1;
    memset(&res, 0, sizeof(res));
    if (engine_run(cfg, &msg, &res) < 0 || res.error || res.body == 0) {
	fprintf(stderr, "engine_bench: engine error or no change: %s\n", res.summary);
	exit(1);
    }
    if ((fp = fopencookie(&out, "w", io)) == 0 || engine_render(&msg, &res, fp) < 0)
	exit(1);
    fclose(fp);
    snprintf(actions, actlen, "%s", res.actions[0] ? res.actions : "-");
    engine_result_free(&res);
    engine_msg_free(&msg);
    return out;
}

int     main(int argc, char **argv)
{
    struct cf_config *cfg;
    struct spool *src;
    double  t0, c0, elapsed, min_secs;
    long    count = 0, min_count;
    unsigned long long out = 0;
    char    actions[128] = "-";

    if (argc != 8) {
	fprintf(stderr, "usage: engine_bench CONF MSG in|out FROM TO MIN_SECONDS MIN_COUNT\n");
	return 64;
    }
    log_init("engine_bench", 0);
    if (config_load(argv[1], stderr, &cfg) != 0)
	return 78;
    src = read_file(argv[2], cfg);
    min_secs = atof(argv[6]);
    min_count = atol(argv[7]);
    t0 = now();
    c0 = cpu_now();
    do {
	out += one(cfg, src, strcmp(argv[3], "out") == 0, argv[4], argv[5],
		   actions, sizeof(actions));
	count++;
	elapsed = now() - t0;
    } while (elapsed < min_secs || count < min_count);
    printf("%ld %.6f %llu %llu %s %.6f\n", count, elapsed,
	   (unsigned long long) spool_size(src) * (unsigned long long) count, out, actions,
	   cpu_now() - c0);
    spool_free(src);
    config_unref(cfg);
    return 0;
}
