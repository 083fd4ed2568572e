/*
 * reload - the milter's current configuration and its reload on SIGHUP.
 *
 * The signal side only calls reload_request() (it sets a flag).  The next
 * message calls reload_acquire(), which loads the file again when the flag
 * is set, and gets a counted reference to whatever configuration is current;
 * messages in flight keep the one they started with.  A new file with
 * errors is refused: every error is logged and the old configuration stays.
 */
#ifndef CF_MILTER_RELOAD_H
#define CF_MILTER_RELOAD_H

#include "config.h"

/* Make CFG (refcount owned by us from now on) current; PATH is reloaded. */
void    reload_init(struct cf_config *cfg, const char *path);

/* Async-signal-safe: ask for a reload before the next message. */
void    reload_request(void);

/* A reference to the current configuration (reloading first if asked). */
struct cf_config *reload_acquire(void);
void    reload_release(struct cf_config *cfg);

/* Reload now; 0 when the new file was taken, -1 when it was refused. */
int     reload_now(void);

/* Drop the current configuration (at exit). */
void    reload_shutdown(void);

#endif
