/*
 * server - the policy daemon's event loop.
 *
 * One thread, one epoll set: the listening socket, every smtpd connection
 * (Postfix keeps one open per smtpd process and reuses it), and the next
 * hop probe.  Each connection has a growable input buffer capped at one
 * request; a client that breaks a protocol limit, is idle longer than
 * SERVER_IDLE_TIMEOUT or leaves half a request for SERVER_REQUEST_TIMEOUT
 * is dropped and logged, without making anybody else wait.  SIGHUP reloads
 * the configuration from the loop (a broken file keeps the old one),
 * SIGTERM and SIGINT end the loop.
 */
#ifndef CF_POLICYD_SERVER_H
#define CF_POLICYD_SERVER_H

struct cf_config;

#define SERVER_IDLE_TIMEOUT	300	/* seconds between requests */
#define SERVER_REQUEST_TIMEOUT	10	/* seconds to finish a started request */
#define SERVER_MAX_CONNS	4096	/* further clients are closed at once */
#define SERVER_INSTANCE_SLOTS	65536	/* messages tracked at once */

/*
 * Serve on the listening socket LFD until SIGTERM.  CFG (a reference the
 * server takes over) came from CONFIG_PATH, which SIGHUP reloads.
 * Returns the exit status.
 */
int     server_run(int lfd, const char *config_path, struct cf_config *cfg);

/* Block the signals the loop handles and install their handlers; call
 * before anything that might receive one (e.g. before daemonizing). */
void    server_signals_init(void);

#endif
