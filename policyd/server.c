/*
 * server - epoll loop, connections, timeouts, reload; see server.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "decide.h"
#include "instances.h"
#include "log.h"
#include "nexthop.h"
#include "policy.h"
#include "purge.h"
#include "request.h"
#include "server.h"

#define CONN_BUF_INITIAL	1024
#define RESPONSE_MAX		256	/* one "action=...\n\n" */
#define OUT_MAX			(8 * RESPONSE_MAX)	/* answers sent in one write */
#define MAX_EVENTS		256
#define ACCEPTS_PER_WAKEUP	64

/* What an epoll event points at. */
enum watch_kind { WATCH_LISTENER, WATCH_NEXTHOP, WATCH_CONN };

struct watch {
    enum watch_kind kind;
};

struct conn {
    struct watch watch;			/* first: epoll data points here */
    int     fd;
    char    peer[64];			/* for the log */
    char   *in;				/* unconsumed input */
    size_t  inlen, incap;
    struct request_scan scan;
    char    out[OUT_MAX];		/* pending responses */
    size_t  outlen, outoff;
    time_t  last_active;		/* last byte read or request answered */
    time_t  request_started;		/* first byte of a pending request, or 0 */
    unsigned long requests;
    struct conn *prev, *next;
};

struct server {
    int     epfd;
    int     lfd;
    struct watch listener_watch;
    struct watch nexthop_watch;
    const char *config_path;
    struct cf_config *cfg;
    struct policy *policy;		/* CFG compiled */
    struct instances *instances;
    struct nexthop *nexthop;
    struct conn *conns;
    size_t  nconns;
    size_t  max_conns;			/* SERVER_MAX_CONNS or what fds allow */
    time_t  now;
    time_t  last_sweep;
    time_t  last_full_warning;
};

static volatile sig_atomic_t got_hup;
static volatile sig_atomic_t got_term;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
	got_hup = 1;
    else
	got_term = 1;
}

void    server_signals_init(void)
{
    struct sigaction sa;
    sigset_t block;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* Delivered only inside epoll_pwait, so the loop never misses a flag. */
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, NULL);
}

static void conn_close(struct server *srv, struct conn *c)
{
    if (c->prev)
	c->prev->next = c->next;
    else
	srv->conns = c->next;
    if (c->next)
	c->next->prev = c->prev;
    srv->nconns--;
    close(c->fd);			/* also leaves the epoll set */
    free(c->in);
    free(c);
}

static void conn_drop(struct server *srv, struct conn *c, const char *why)
{
    msg_warn("dropping policy client %s after %lu requests: %s",
	     c->peer, c->requests, why);
    conn_close(srv, c);
}

static void conn_watch(struct server *srv, struct conn *c, uint32_t events)
{
    struct epoll_event ev;

    ev.events = events;
    ev.data.ptr = &c->watch;
    if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
	msg_warn("epoll_ctl: %m");
}

static void peer_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char    ip[INET6_ADDRSTRLEN];

    snprintf(buf, len, "unix");
    if (getpeername(fd, (struct sockaddr *) &ss, &sl) < 0)
	return;
    if (ss.ss_family == AF_INET) {
	struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

	inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
    } else if (ss.ss_family == AF_INET6) {
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

	inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
	snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
    }
}

static void accept_clients(struct server *srv)
{
    struct epoll_event ev;
    struct conn *c;
    int     fd, i, one = 1;

    for (i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
	fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
	    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
		&& errno != ECONNABORTED)
		msg_warn("accept: %m");
	    return;
	}
	if (srv->nconns >= srv->max_conns) {
	    if (srv->now != srv->last_full_warning) {
		msg_warn("%zu policy clients connected: refusing more",
			 srv->max_conns);
		srv->last_full_warning = srv->now;
	    }
	    close(fd);
	    continue;
	}
	/* Fails harmlessly on UNIX sockets. */
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = calloc(1, sizeof(*c))) == NULL
	    || (c->in = malloc(CONN_BUF_INITIAL)) == NULL) {
	    msg_warn("out of memory: refusing a policy client");
	    free(c);
	    close(fd);
	    continue;
	}
	c->watch.kind = WATCH_CONN;
	c->fd = fd;
	c->incap = CONN_BUF_INITIAL;
	c->last_active = srv->now;
	request_scan_init(&c->scan);
	peer_name(fd, c->peer, sizeof(c->peer));
	ev.events = EPOLLIN;
	ev.data.ptr = &c->watch;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
	    msg_warn("epoll_ctl: %m");
	    free(c->in);
	    free(c);
	    close(fd);
	    continue;
	}
	c->next = srv->conns;
	if (c->next)
	    c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
	msg_verbose("policy client %s connected", c->peer);
    }
}

/* Send what is pending.  0: all sent, 1: the rest must wait, -1: error. */
static int conn_flush(struct conn *c)
{
    ssize_t n;

    while (c->outoff < c->outlen) {
	n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
	if (n < 0) {
	    if (errno == EINTR)
		continue;
	    return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
	}
	c->outoff += (size_t) n;
    }
    c->outlen = c->outoff = 0;
    return 0;
}

/* Decide REQ and append the answer to the pending output, which has room
 * for RESPONSE_MAX more bytes. */
static void answer(struct server *srv, struct conn *c, const struct request *req)
{
    struct decide_ctx ctx = {srv->cfg, srv->instances, srv->nexthop, srv->now,
			     srv->policy};
    struct decision d;
    size_t  len;
    char   *p;

    decide(&ctx, req, &d);
    if (d.reason != NULL)
	decide_record(&ctx, req, &d);
    else if (log_verbose_enabled())
	msg_verbose("policy client %s: %s: action=%s", c->peer,
		    request_get(req, "protocol_state"), d.action);
    len = strlen(d.action);
    if (len + sizeof("action=\n\n") - 1 > RESPONSE_MAX)
	msg_panic("response too long: %s", d.action);
    p = c->out + c->outlen;
    memcpy(p, "action=", 7);
    memcpy(p + 7, d.action, len);
    memcpy(p + 7 + len, "\n\n", 2);
    c->outlen += len + 9;
    c->requests++;
}

/* A buffer grown by one large request goes back to its initial size, so
 * idle connections cost little. */
static void conn_shrink(struct conn *c)
{
    char   *p;

    if (c->incap > CONN_BUF_INITIAL && c->inlen <= CONN_BUF_INITIAL
	&& (p = realloc(c->in, CONN_BUF_INITIAL)) != NULL) {
	c->in = p;
	c->incap = CONN_BUF_INITIAL;
    }
}

/*
 * Answer the complete requests in the input buffer, then send the answers
 * in one write.  A client that pipelines requests gets at most OUT_MAX
 * bytes of answers per round; the rest of its input waits until they are
 * sent, so a client that does not read costs one output buffer, not more.
 * 0 to keep the client.
 */
static int conn_process(struct server *srv, struct conn *c)
{
    struct request req;
    const char *why = "";
    size_t  used, done;
    int     rc, invalid = 0;

    /* Output still pending from a previous round: wait until it is sent. */
    if (c->outlen > 0)
	return 0;
    do {
	done = 0;
	while (c->outlen + RESPONSE_MAX <= sizeof(c->out) && done < c->inlen) {
	    rc = request_scan(&c->scan, c->in + done, c->inlen - done, &req,
			      &used, &why);
	    if (rc == REQUEST_INCOMPLETE)
		break;
	    if (rc == REQUEST_INVALID) {
		invalid = 1;
		break;
	    }
	    answer(srv, c, &req);
	    done += used;
	    c->last_active = srv->now;
	}
	if (done > 0) {
	    memmove(c->in, c->in + done, c->inlen - done);
	    c->inlen -= done;
	    conn_shrink(c);
	    c->request_started = 0;
	}
	if (c->inlen > 0 && c->request_started == 0)
	    c->request_started = srv->now;
	/* Even a client that broke the protocol gets the answers it earned. */
	if ((rc = conn_flush(c)) < 0 || invalid) {
	    conn_drop(srv, c, invalid ? why : "write error");
	    return -1;
	}
	if (rc > 0) {
	    conn_watch(srv, c, EPOLLOUT);
	    return 0;
	}
	/* A full output buffer may have left pipelined requests behind. */
    } while (done > 0 && c->inlen > 0);
    return 0;
}

static void conn_readable(struct server *srv, struct conn *c)
{
    size_t  newcap;
    char   *p;
    ssize_t n;

    if (c->inlen == c->incap) {
	/* request_scan() refuses a request before the buffer exceeds this. */
	newcap = c->incap * 2 > REQUEST_MAX_SIZE ? REQUEST_MAX_SIZE : c->incap * 2;
	if (newcap <= c->incap || (p = realloc(c->in, newcap)) == NULL) {
	    conn_drop(srv, c, "request too large");
	    return;
	}
	c->in = p;
	c->incap = newcap;
    }
    n = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
    if (n < 0) {
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
	    conn_drop(srv, c, strerror(errno));
	return;
    }
    if (n == 0) {
	if (c->inlen > 0)
	    conn_drop(srv, c, "disconnected in the middle of a request");
	else {
	    msg_verbose("policy client %s disconnected after %lu requests",
			c->peer, c->requests);
	    conn_close(srv, c);
	}
	return;
    }
    c->inlen += (size_t) n;
    c->last_active = srv->now;
    conn_process(srv, c);
}

static void conn_writable(struct server *srv, struct conn *c)
{
    int     rc = conn_flush(c);

    if (rc < 0) {
	conn_drop(srv, c, "write error");
	return;
    }
    if (rc > 0)
	return;
    conn_watch(srv, c, EPOLLIN);
    conn_process(srv, c);
}

/* Once a second: timeouts, instance expiry, purge, next hop probe. */
static void sweep(struct server *srv)
{
    struct conn *c, *next;

    for (c = srv->conns; c != NULL; c = next) {
	next = c->next;
	if (c->request_started && srv->now - c->request_started > SERVER_REQUEST_TIMEOUT)
	    conn_drop(srv, c, "request not finished in time");
	else if (srv->now - c->last_active > SERVER_IDLE_TIMEOUT)
	    conn_drop(srv, c, "idle timeout");
    }
    instances_expire(srv->instances, srv->now);
    purge_maybe(srv->cfg, srv->now);
    srv->last_sweep = srv->now;
}

static void watch_nexthop(struct server *srv)
{
    struct epoll_event ev;
    int     fd = nexthop_tick(srv->nexthop, srv->now);

    if (fd < 0)
	return;
    ev.events = EPOLLOUT;
    ev.data.ptr = &srv->nexthop_watch;
    if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
	msg_warn("epoll_ctl: %m");
	nexthop_ready(srv->nexthop, srv->now);
    }
}

/* Log each line of the config errors the loader printed. */
static void log_lines(char *text)
{
    char   *line, *save = NULL;
    char    clean[1024];

    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	msg_error("%s", log_clean(clean, sizeof(clean), line));
}

static void reload(struct server *srv)
{
    struct cf_config *cfg = NULL;
    struct policy *policy;
    char   *errs = NULL;
    size_t  errlen = 0;
    FILE   *fp;
    int     rc;

    if ((fp = open_memstream(&errs, &errlen)) == NULL) {
	msg_error("reload: %m; keeping the old configuration");
	return;
    }
    rc = config_load(srv->config_path, fp, &cfg);
    fclose(fp);
    if (rc != 0 || cfg == NULL) {
	log_lines(errs);
	msg_error("reload of %s failed: keeping the old configuration",
		  srv->config_path);
	free(errs);
	return;
    }
    free(errs);
    if ((policy = policy_compile(cfg)) == NULL) {
	msg_error("reload of %s: out of memory; keeping the old configuration",
		  srv->config_path);
	config_unref(cfg);
	return;
    }
    if (strcmp(cfg->policyd.listen ? cfg->policyd.listen : "",
	       srv->cfg->policyd.listen ? srv->cfg->policyd.listen : "") != 0)
	msg_warn("reload: policyd.listen changed; restart to use it");
    log_configure(&cfg->log);
    config_unref(srv->cfg);
    srv->cfg = cfg;
    policy_free(srv->policy);
    srv->policy = policy;
    /* Freeing the probe closes its socket, which leaves the epoll set. */
    nexthop_free(srv->nexthop);
    srv->nexthop = nexthop_create(&cfg->next_hop);
    msg_info("configuration %s reloaded", srv->config_path);
}

static void dispatch(struct server *srv, struct epoll_event *ev)
{
    struct watch *w = ev->data.ptr;
    struct conn *c;

    switch (w->kind) {
    case WATCH_LISTENER:
	accept_clients(srv);
	break;
    case WATCH_NEXTHOP:
	nexthop_ready(srv->nexthop, srv->now);
	break;
    case WATCH_CONN:
	c = (struct conn *) w;
	if (ev->events & EPOLLOUT)
	    conn_writable(srv, c);
	else if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
	    conn_readable(srv, c);
	break;
    }
}

static int loop(struct server *srv)
{
    struct epoll_event events[MAX_EVENTS];
    sigset_t waitmask;
    int     n, i, timeout;

    sigemptyset(&waitmask);
    while (!got_term) {
	if (got_hup) {
	    got_hup = 0;
	    reload(srv);
	}
	srv->now = time(NULL);
	if (srv->now != srv->last_sweep)
	    sweep(srv);
	watch_nexthop(srv);
	timeout = 1000;
	n = epoll_pwait(srv->epfd, events, MAX_EVENTS, timeout, &waitmask);
	if (n < 0) {
	    if (errno == EINTR)
		continue;
	    msg_error("epoll_wait: %m");
	    return 1;
	}
	srv->now = time(NULL);
	/*
	 * A connection is freed only while handling its own event (an fd
	 * appears once per batch) or in sweep() and reload(), which run
	 * between batches: no event of a batch points at freed memory.
	 */
	for (i = 0; i < n; i++)
	    dispatch(srv, &events[i]);
    }
    msg_info("stopping");
    return 0;
}

/*
 * Stay below the descriptor limit: a listener that keeps failing with
 * EMFILE would wake the loop for nothing, forever.
 */
static size_t max_clients(void)
{
    struct rlimit rl;
    size_t  n = SERVER_MAX_CONNS;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
	&& rl.rlim_cur < (rlim_t) n + 32)
	n = rl.rlim_cur > 64 ? (size_t) rl.rlim_cur - 32 : 32;
    return n;
}

int     server_run(int lfd, const char *config_path, struct cf_config *cfg)
{
    struct server srv;
    struct epoll_event ev;
    struct conn *c;
    int     rc;

    memset(&srv, 0, sizeof(srv));
    srv.lfd = lfd;
    srv.config_path = config_path;
    srv.cfg = cfg;
    srv.listener_watch.kind = WATCH_LISTENER;
    srv.nexthop_watch.kind = WATCH_NEXTHOP;
    srv.now = time(NULL);
    srv.max_conns = max_clients();
    if ((srv.policy = policy_compile(cfg)) == NULL)
	msg_fatal("out of memory");
    if ((srv.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
	msg_error("epoll_create1: %m");
	return 1;
    }
    ev.events = EPOLLIN;
    ev.data.ptr = &srv.listener_watch;
    if (epoll_ctl(srv.epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
	msg_error("epoll_ctl: %m");
	return 1;
    }
    srv.instances = instances_create(SERVER_INSTANCE_SLOTS, INSTANCES_TTL);
    srv.nexthop = nexthop_create(&cfg->next_hop);
    msg_info("ready");
    rc = loop(&srv);
    while ((c = srv.conns) != NULL)
	conn_close(&srv, c);
    nexthop_free(srv.nexthop);
    instances_free(srv.instances);
    close(srv.epfd);
    policy_free(srv.policy);
    config_unref(srv.cfg);
    return rc;
}
