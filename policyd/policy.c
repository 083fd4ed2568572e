/*
 * policy - configuration compiled for the per-request checks; see policy.h.
 */
#include <stdlib.h>

#include "config.h"
#include "policy.h"

static int compile_nets(const struct cf_strlist *list, struct policy_nets *nets)
{
    size_t  i;

    nets->n = 0;
    nets->v = NULL;
    if (list->n == 0)
	return 0;
    if ((nets->v = calloc(list->n, sizeof(*nets->v))) == NULL)
	return -1;
    for (i = 0; i < list->n; i++)
	if (list->v[i] && cidr_parse(list->v[i], &nets->v[nets->n]) == 0)
	    nets->n++;
    return 0;
}

struct policy *policy_compile(const struct cf_config *cfg)
{
    struct policy *policy;

    if ((policy = calloc(1, sizeof(*policy))) == NULL)
	return NULL;
    if (compile_nets(&cfg->internal_networks, &policy->internal) < 0
	|| compile_nets(&cfg->relay.networks, &policy->relay) < 0) {
	policy_free(policy);
	return NULL;
    }
    return policy;
}

void    policy_free(struct policy *policy)
{
    if (policy == NULL)
	return;
    free(policy->internal.v);
    free(policy->relay.v);
    free(policy);
}

int     policy_nets_match(const struct policy_nets *nets, const char *ip)
{
    size_t  i;

    for (i = 0; i < nets->n; i++)
	if (cidr_match(&nets->v[i], ip))
	    return 1;
    return 0;
}
