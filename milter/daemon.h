/*
 * daemon - the process side of cryptofilter-milter: the listening socket
 * and who may connect to it, dropping root, going to the background, and
 * the signal loop (SIGHUP reload, SIGTERM/SIGINT stop).
 *
 * Socket permissions: a UNIX socket is created with mode 0660; when the
 * group "postfix" exists the socket is given to it (so Postfix can connect
 * without joining another group), otherwise it keeps the milter user's
 * group.  Its directory must let user postfix through (x).
 */
#ifndef CF_MILTER_DAEMON_H
#define CF_MILTER_DAEMON_H

#define DAEMON_DRAIN_SECONDS	30	/* wait for messages in flight at stop */
#define DAEMON_SOCKET_GROUP	"postfix"

/* Is SPEC a socket libmilter understands: unix:/path, local:/path,
 * inet:port@host, inet6:port@host?  0 or -1 with *WHY set. */
int     daemon_check_socket(const char *spec, const char **why);

/* smfi_setconn + smfi_opensocket (an old socket file is removed) and the
 * permissions above; USER's uid owns a UNIX socket when we are root.
 * 0 or -1 (logged). */
int     daemon_open_socket(const char *spec, const char *user);

/* As root, become USER (its groups too); "" or "root" keeps root.
 * Fatal when a step fails.  Does nothing when not root. */
void    daemon_drop_privileges(const char *user);

/* Fork into the background, new session, stdio to /dev/null. */
void    daemon_detach(void);

/*
 * Run smfi_main() in a thread and wait for signals in this one until
 * SIGTERM or SIGINT; then defer new messages, let the ones in flight
 * finish (at most DAEMON_DRAIN_SECONDS), stop the listener and return the
 * exit status.
 */
int     daemon_run(const char *spec);

#endif
