/*
 * nexthop - is the internal mail server (next_hop.host:port) reachable?
 *
 * A background probe for the event loop: every check_interval seconds
 * nexthop_tick() starts a non-blocking TCP connect and returns its socket,
 * which the loop watches for writability; nexthop_ready() then reads the
 * outcome.  A connect that has not finished within the probe timeout counts
 * as down.  Until the first probe has finished the next hop counts as up,
 * so a restart never refuses mail on a guess.  The host name is resolved
 * once, when the probe is configured (at start and on reload).
 */
#ifndef CF_POLICYD_NEXTHOP_H
#define CF_POLICYD_NEXTHOP_H

#include <time.h>

struct cf_next_hop_cfg;
struct nexthop;

#define NEXTHOP_PROBE_TIMEOUT	5	/* seconds, at most check_interval */

/* A probe for CFG; with refuse_when_down off it never probes. */
struct nexthop *nexthop_create(const struct cf_next_hop_cfg *cfg);
void    nexthop_free(struct nexthop *nh);

/*
 * Call from the loop.  Returns the socket of a probe it just started
 * (the caller watches it for EPOLLOUT), or -1.  A probe that timed out is
 * closed here (the caller must forget its fd first: see nexthop_fd()).
 */
int     nexthop_tick(struct nexthop *nh, time_t now);

/* The socket of the probe in flight, or -1. */
int     nexthop_fd(const struct nexthop *nh);

/* The probe socket became writable: record the outcome, close it. */
void    nexthop_ready(struct nexthop *nh, time_t now);

/* 1 unless the last finished probe failed. */
int     nexthop_up(const struct nexthop *nh);

/* Seconds until the loop must call nexthop_tick() again (-1: never). */
int     nexthop_next_due(const struct nexthop *nh, time_t now);

#endif
