/*
 * decide - the checks of one policy request (DESIGN.md "Policy daemon").
 *
 * At RCPT, in this order: relay permission, inbound TLS rules, size (the
 * MAIL FROM SIZE= estimate), next hop down (inbound only), recipient count
 * per instance (only recipients that pass everything else are counted).
 * At END-OF-MESSAGE: the real size, and the instance is forgotten.  Any
 * other state: DUNNO.  A recipient that passes is answered OK when it is
 * local or relaying is allowed, so "check_policy_service ..., reject" is a
 * complete smtpd_relay_restrictions.
 */
#ifndef CF_POLICYD_DECIDE_H
#define CF_POLICYD_DECIDE_H

#include <time.h>

struct cf_config;
struct instances;
struct nexthop;
struct policy;
struct request;

struct decide_ctx {
    const struct cf_config *cfg;
    struct instances *instances;
    const struct nexthop *nexthop;	/* NULL: treated as up */
    time_t  now;
    const struct policy *policy;	/* CFG compiled; NULL: use CFG's lists */
};

struct decision {
    const char *action;			/* the value of "action=" */
    const char *reason;			/* short, for log and SP file; NULL = passed */
};

#define DECIDE_RELAY_DENIED	"554 5.7.1 Relay access denied"
#define DECIDE_TOO_MANY_RCPTS	"452 4.5.3 Too many recipients"
#define DECIDE_TOO_BIG		"552 5.3.4 Message size exceeds fixed limit"
#define DECIDE_TLS_REQUIRED	"554 5.7.1 TLS is required for mail from this sender"
#define DECIDE_TLS_WEAK		"554 5.7.1 TLS cipher too weak for mail from this sender"
#define DECIDE_TLS_NO_PFS	"554 5.7.1 TLS without forward secrecy refused for mail from this sender"
#define DECIDE_NEXT_HOP_DOWN	"451 4.4.1 Next hop unreachable, try again later"

void    decide(const struct decide_ctx *ctx, const struct request *req,
	       struct decision *out);

/* Log a blocked request and write its SPYYMMDD.CSV row. */
void    decide_record(const struct decide_ctx *ctx, const struct request *req,
		      const struct decision *d);

/* TLS helpers, exported for the unit tests. */
int     decide_cipher_is_weak(const char *cipher, long keysize);
int     decide_tls_has_pfs(const char *protocol, const char *cipher);

#endif
