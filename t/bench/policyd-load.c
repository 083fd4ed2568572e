/*
 * policyd-load - load generator for Postfix policy servers (benchmark).
 *
 *   policyd-load ADDR CONNS TOTAL REQFILE [RATE]
 *
 * ADDR is unix:/path or inet:HOST:PORT.  CONNS persistent connections
 * each send one request, wait for the "\n\n"-terminated answer, send the
 * next (as smtpd does), cycling through the requests of REQFILE (separated
 * by empty lines; connection i starts at request i * N / CONNS).  Stops after TOTAL
 * answers and prints
 *   requests=N seconds=S rps=R p50_us=A p99_us=B max_us=C ok=... cpu_us=U
 * where U is this generator's own CPU time per answer (user + system): it
 * shares the machine with the server, so the reader can see what it took.
 * Exit 1 on any connection error.
 *
 * Without RATE (or 0) each connection sends its next request as soon as
 * the answer is in: the server's saturation throughput, where latency is
 * mostly queueing (mean = CONNS / rps).  With RATE, the connections
 * together offer RATE requests per second, evenly spread: each sends one
 * request every CONNS / RATE seconds (later if its answer is late, never
 * in a catch-up burst), which measures latency below saturation.
 * Latency is always measured from the moment a request is written.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	1024
#define HIST_US		100000		/* latency histogram, 1 us buckets */

struct req {
    const char *text;
    size_t  len;
};

struct conn {
    int     fd;
    int     busy;			/* a request is out */
    double  due;			/* RATE mode: when to send the next */
    size_t  next;			/* index into the request list */
    char    in[512];
    size_t  inlen;
    struct timespec sent;
};

static struct req *reqs;
static size_t nreqs;
static unsigned long hist[HIST_US + 1];
static unsigned long n_ok, n_reject, n_defer, n_other;

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
	+ ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void load_requests(const char *path)
{
    FILE   *fp = fopen(path, "r");
    char   *text, *p, *end;
    long    size;

    if (fp == NULL || fseek(fp, 0, SEEK_END) < 0 || (size = ftell(fp)) <= 0) {
	perror(path);
	exit(2);
    }
    rewind(fp);
    text = malloc((size_t) size + 1);
    if (text == NULL || fread(text, 1, (size_t) size, fp) != (size_t) size) {
	perror(path);
	exit(2);
    }
    text[size] = '\0';
    fclose(fp);
    for (p = text; (end = strstr(p, "\n\n")) != NULL; p = end + 2) {
	reqs = realloc(reqs, (nreqs + 1) * sizeof(*reqs));
	reqs[nreqs].text = p;
	reqs[nreqs].len = (size_t) (end + 2 - p);
	nreqs++;
    }
    if (nreqs == 0) {
	fprintf(stderr, "%s: no requests\n", path);
	exit(2);
    }
}

static int dial(const char *addr)
{
    int     fd, one = 1;

    if (strncmp(addr, "unix:", 5) == 0) {
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", addr + 5);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0)
	    return -1;
    } else if (strncmp(addr, "inet:", 5) == 0) {
	struct sockaddr_in sin;
	char    host[64];
	const char *colon = strrchr(addr + 5, ':');

	if (colon == NULL || (size_t) (colon - addr - 5) >= sizeof(host))
	    return -1;
	memcpy(host, addr + 5, (size_t) (colon - addr - 5));
	host[colon - addr - 5] = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short) atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
	    return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0)
	    return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    } else {
	return -1;
    }
    return fd;
}

static int send_next(struct conn *c)
{
    const struct req *r = &reqs[c->next++ % nreqs];

    clock_gettime(CLOCK_MONOTONIC, &c->sent);
    /* Requests are small: one blocking write each, as smtpd does. */
    return write(c->fd, r->text, r->len) == (ssize_t) r->len ? 0 : -1;
}

static void count(const char *resp)
{
    if (strncmp(resp, "action=OK", 9) == 0 || strncmp(resp, "action=DUNNO", 12) == 0)
	n_ok++;
    else if (strncmp(resp, "action=5", 8) == 0 || strncmp(resp, "action=REJECT", 13) == 0)
	n_reject++;
    else if (strncmp(resp, "action=4", 8) == 0 || strncmp(resp, "action=DEFER", 12) == 0)
	n_defer++;
    else
	n_other++;
}

static unsigned long percentile(unsigned long total, double q)
{
    unsigned long want = (unsigned long) (total * q), seen = 0;
    size_t  i;

    for (i = 0; i <= HIST_US; i++)
	if ((seen += hist[i]) > want)
	    return i;
    return HIST_US;
}

/* RATE mode: send on every idle connection that is due; returns the
 * seconds until the next one is due (-1: none waiting). */
static double send_due(struct conn *conns, int nconns, double now,
		       unsigned long total, unsigned long *started)
{
    double  wait = -1;
    int     i;

    for (i = 0; i < nconns; i++) {
	struct conn *c = &conns[i];

	if (c->busy || *started >= total)
	    continue;
	if (c->due <= now) {
	    if (send_next(c) < 0) {
		perror("write");
		exit(1);
	    }
	    c->busy = 1;
	    (*started)++;
	} else if (wait < 0 || c->due - now < wait) {
	    wait = c->due - now;
	}
    }
    return wait;
}

int     main(int argc, char **argv)
{
    static struct conn conns[MAX_CONNS];
    struct epoll_event ev, events[64];
    struct timespec tmo;
    unsigned long total, done = 0, started = 0, maxus = 0;
    int     nconns, epfd, i, n;
    double  t0, cpu0, secs, rate = 0, interval = 0, wait, now;

    if (argc != 5 && argc != 6) {
	fprintf(stderr, "usage: policyd-load ADDR CONNS TOTAL REQFILE [RATE]\n");
	return 2;
    }
    nconns = atoi(argv[2]);
    total = strtoul(argv[3], NULL, 10);
    if (argc == 6)
	rate = atof(argv[5]);
    if (nconns < 1 || nconns > MAX_CONNS || total < (unsigned long) nconns
	|| rate < 0) {
	fprintf(stderr, "policyd-load: bad CONNS, TOTAL or RATE\n");
	return 2;
    }
    load_requests(argv[4]);
    epfd = epoll_create1(0);
    for (i = 0; i < nconns; i++) {
	if ((conns[i].fd = dial(argv[1])) < 0) {
	    fprintf(stderr, "policyd-load: connect %s: %s\n", argv[1], strerror(errno));
	    return 1;
	}
	/* Each connection walks its own part of the list, so the requests of
	 * one message (one instance) stay on one connection, in order. */
	conns[i].next = (size_t) i * nreqs / (size_t) nconns;
	ev.events = EPOLLIN;
	ev.data.ptr = &conns[i];
	epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    t0 = now_s();
    cpu0 = cpu_s();
    if (rate > 0) {
	/* Wake when a send is due, not up to 50 us later (the default
	 * timer slack), which would bunch the sends up. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	interval = nconns / rate;
	for (i = 0; i < nconns; i++)
	    conns[i].due = t0 + interval * i / nconns;
    }
    for (i = 0; i < nconns && rate == 0; i++, started++) {
	if (send_next(&conns[i]) < 0) {
	    perror("write");
	    return 1;
	}
	conns[i].busy = 1;
    }
    while (done < total) {
	wait = rate > 0 ? send_due(conns, nconns, now_s(), total, &started) : -1;
	if (wait < 0) {
	    tmo.tv_sec = 10;
	    tmo.tv_nsec = 0;
	} else {
	    tmo.tv_sec = (time_t) wait;
	    tmo.tv_nsec = (long) ((wait - (double) tmo.tv_sec) * 1e9);
	}
	n = epoll_pwait2(epfd, events, 64, &tmo, NULL);
	if (n < 0 && errno == EINTR)
	    continue;
	if (n < 0 || (n == 0 && wait < 0)) {
	    fprintf(stderr, "policyd-load: no answer for 10 s\n");
	    return 1;
	}
	for (i = 0; i < n; i++) {
	    struct conn *c = events[i].data.ptr;
	    ssize_t r = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	    struct timespec ts;
	    unsigned long us;

	    if (r <= 0) {
		fprintf(stderr, "policyd-load: server closed a connection\n");
		return 1;
	    }
	    c->inlen += (size_t) r;
	    c->in[c->inlen] = '\0';
	    if (strstr(c->in, "\n\n") == NULL)
		continue;
	    clock_gettime(CLOCK_MONOTONIC, &ts);
	    us = (unsigned long) ((ts.tv_sec - c->sent.tv_sec) * 1000000L
				  + (ts.tv_nsec - c->sent.tv_nsec) / 1000);
	    hist[us > HIST_US ? HIST_US : us]++;
	    if (us > maxus)
		maxus = us;
	    count(c->in);
	    c->inlen = 0;
	    c->busy = 0;
	    done++;
	    if (rate > 0) {
		now = ts.tv_sec + ts.tv_nsec / 1e9;
		c->due += interval;
		if (c->due < now)
		    c->due = now;	/* late: no catch-up burst */
	    } else if (started < total) {
		started++;
		if (send_next(c) < 0) {
		    perror("write");
		    return 1;
		}
		c->busy = 1;
	    }
	}
    }
    secs = now_s() - t0;
    printf("requests=%lu seconds=%.3f rps=%.0f p50_us=%lu p99_us=%lu max_us=%lu "
	   "ok=%lu reject=%lu defer=%lu other=%lu cpu_us=%.1f\n", done, secs,
	   done / secs, percentile(done, 0.50), percentile(done, 0.99), maxus,
	   n_ok, n_reject, n_defer, n_other, (cpu_s() - cpu0) * 1e6 / done);
    return 0;
}
