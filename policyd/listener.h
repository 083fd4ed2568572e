/*
 * listener - open the policy service socket named like Postfix does:
 * "inet:HOST:PORT" (HOST may be [IPv6]), "unix:/path".  Opened before
 * privileges are dropped; a stale UNIX socket is replaced.
 */
#ifndef CF_POLICYD_LISTENER_H
#define CF_POLICYD_LISTENER_H

/* A non-blocking listening socket, or -1 after logging why. */
int     listener_open(const char *spec);

/* Remove the socket file of a "unix:" SPEC (at exit); else nothing. */
void    listener_unlink(const char *spec);

#endif
