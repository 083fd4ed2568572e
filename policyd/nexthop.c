/*
 * nexthop - non-blocking reachability probe of the next hop; see nexthop.h.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "nexthop.h"

struct nexthop {
    int     enabled;
    char    name[300];			/* host:port, for the log */
    struct sockaddr_storage sa;
    socklen_t salen;			/* 0: the name did not resolve */
    int     interval;
    int     fd;				/* probe in flight, or -1 */
    time_t  started;
    time_t  due;			/* next probe */
    int     up;
};

struct nexthop *nexthop_create(const struct cf_next_hop_cfg *cfg)
{
    struct nexthop *nh;
    struct addrinfo hints, *res;
    char    port[16];
    int     err;

    if ((nh = calloc(1, sizeof(*nh))) == NULL)
	msg_fatal("out of memory");
    nh->fd = -1;
    nh->up = 1;
    nh->enabled = cfg->refuse_when_down;
    nh->interval = cfg->check_interval > 0 ? cfg->check_interval : 30;
    snprintf(nh->name, sizeof(nh->name), "%s:%d", cfg->host ? cfg->host : "",
	     cfg->port);
    if (!nh->enabled)
	return nh;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", cfg->port);
    if ((err = getaddrinfo(cfg->host, port, &hints, &res)) != 0) {
	/* Probes will fail, so inbound mail is deferred, which is the point. */
	msg_warn("next_hop %s: %s", nh->name, gai_strerror(err));
	return nh;
    }
    memcpy(&nh->sa, res->ai_addr, res->ai_addrlen);
    nh->salen = res->ai_addrlen;
    freeaddrinfo(res);
    return nh;
}

void    nexthop_free(struct nexthop *nh)
{
    if (nh == NULL)
	return;
    if (nh->fd >= 0)
	close(nh->fd);
    free(nh);
}

static void set_state(struct nexthop *nh, int up, const char *why)
{
    if (up && !nh->up)
	msg_info("next hop %s is reachable again", nh->name);
    else if (!up && nh->up)
	msg_warn("next hop %s is unreachable (%s): deferring inbound mail",
		 nh->name, why);
    nh->up = up;
}

static void finish(struct nexthop *nh, int up, const char *why, time_t now)
{
    if (nh->fd >= 0) {
	close(nh->fd);
	nh->fd = -1;
    }
    set_state(nh, up, why);
    nh->due = now + nh->interval;
}

int     nexthop_tick(struct nexthop *nh, time_t now)
{
    int     timeout;

    if (!nh->enabled)
	return -1;
    if (nh->fd >= 0) {
	timeout = nh->interval < NEXTHOP_PROBE_TIMEOUT ? nh->interval
	    : NEXTHOP_PROBE_TIMEOUT;
	if (now - nh->started >= timeout)
	    finish(nh, 0, "connect timed out", now);
	return -1;
    }
    if (now < nh->due)
	return -1;
    if (nh->salen == 0) {
	finish(nh, 0, "host name does not resolve", now);
	return -1;
    }
    nh->fd = socket(nh->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (nh->fd < 0) {
	msg_warn("next hop probe: socket: %m");
	nh->due = now + nh->interval;
	return -1;
    }
    nh->started = now;
    if (connect(nh->fd, (struct sockaddr *) &nh->sa, nh->salen) == 0) {
	finish(nh, 1, "", now);
	return -1;
    }
    if (errno != EINPROGRESS) {
	finish(nh, 0, strerror(errno), now);
	return -1;
    }
    return nh->fd;
}

int     nexthop_fd(const struct nexthop *nh)
{
    return nh->fd;
}

void    nexthop_ready(struct nexthop *nh, time_t now)
{
    int     err = 0;
    socklen_t len = sizeof(err);

    if (nh->fd < 0)
	return;
    if (getsockopt(nh->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
	err = errno;
    finish(nh, err == 0, err ? strerror(err) : "", now);
}

int     nexthop_up(const struct nexthop *nh)
{
    return !nh->enabled || nh->up;
}

int     nexthop_next_due(const struct nexthop *nh, time_t now)
{
    if (!nh->enabled)
	return -1;
    if (nh->fd >= 0)
	return 1;
    return nh->due > now ? (int) (nh->due - now) : 0;
}
