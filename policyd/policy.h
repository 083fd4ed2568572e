/*
 * policy - the parts of the configuration that every policy request
 * consults, compiled once when the configuration is loaded or reloaded:
 * the network lists (internal_networks, relay.networks) parsed into
 * struct cidr, so a request never parses the same network text again.
 * The compiled form belongs to one config; build a new one on reload.
 */
#ifndef CF_POLICYD_POLICY_H
#define CF_POLICYD_POLICY_H

#include <stddef.h>

#include "addr.h"

struct cf_config;

struct policy_nets {
    struct cidr *v;
    size_t  n;
};

struct policy {
    struct policy_nets internal;	/* internal_networks */
    struct policy_nets relay;		/* relay.networks */
};

/* NULL when out of memory.  Entries that do not parse are left out, as
 * cidr_match_list() skips them (config_load() refuses them anyway). */
struct policy *policy_compile(const struct cf_config *cfg);
void    policy_free(struct policy *policy);

/* Is the textual address IP inside one of NETS? */
int     policy_nets_match(const struct policy_nets *nets, const char *ip);

#endif
