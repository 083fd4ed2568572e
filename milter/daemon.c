/*
 * daemon - socket, privileges, background and signals; see daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "context.h"
#include "daemon.h"
#include "log.h"
#include "reload.h"

static char *mutable(const char *s)
{
    return (char *) (uintptr_t) s;
}

/* The path of a unix:/local: socket, or NULL. */
static const char *unix_path(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0)
	return spec + 5;
    if (strncmp(spec, "local:", 6) == 0)
	return spec + 6;
    if (spec[0] == '/')
	return spec;
    return NULL;
}

int     daemon_check_socket(const char *spec, const char **why)
{
    const char *path = unix_path(spec);

    if (path) {
	if (path[0] != '/') {
	    *why = "a UNIX socket path must be absolute";
	    return -1;
	}
	if (strlen(path) >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
	    *why = "the UNIX socket path is too long";
	    return -1;
	}
	return 0;
    }
    if (strncmp(spec, "inet:", 5) == 0 || strncmp(spec, "inet6:", 6) == 0) {
	const char *port = strchr(spec, ':') + 1;

	if (*port < '0' || *port > '9') {
	    *why = "expected inet:PORT@HOST";
	    return -1;
	}
	return 0;
    }
    *why = "expected unix:/path or inet:PORT@HOST";
    return -1;
}

static void socket_permissions(const char *path, const char *user)
{
    struct passwd *pw = (user && *user) ? getpwnam(user) : NULL;
    struct group *gr = getgrnam(DAEMON_SOCKET_GROUP);
    uid_t   uid = (geteuid() == 0 && pw) ? pw->pw_uid : (uid_t) -1;
    gid_t   gid = gr ? gr->gr_gid : (pw ? pw->pw_gid : (gid_t) -1);

    if (chmod(path, 0660) < 0)
	msg_warn("chmod %s: %m", path);
    if ((uid != (uid_t) -1 || gid != (gid_t) -1) && chown(path, uid, gid) < 0)
	msg_warn("chown %s: %m; make sure user postfix can connect", path);
}

int     daemon_open_socket(const char *spec, const char *user)
{
    const char *path = unix_path(spec);
    mode_t  old = umask(0117);
    int     rc;

    if (smfi_setconn(mutable(spec)) != MI_SUCCESS) {
	umask(old);
	msg_error("smfi_setconn %s failed", spec);
	return -1;
    }
    rc = smfi_opensocket(1);
    umask(old);
    if (rc != MI_SUCCESS) {
	msg_error("cannot listen on %s (directory missing or not writable?)", spec);
	return -1;
    }
    if (path)
	socket_permissions(path, user);
    return 0;
}

void    daemon_drop_privileges(const char *user)
{
    struct passwd *pw;

    if (geteuid() != 0 || user == NULL || *user == 0 || strcmp(user, "root") == 0)
	return;
    if ((pw = getpwnam(user)) == NULL)
	msg_fatal("milter.user %s: no such user", user);
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0
	|| setuid(pw->pw_uid) < 0)
	msg_fatal("cannot become user %s: %m", user);
    if (setuid(0) == 0)
	msg_fatal("could regain root after dropping to %s", user);
    msg_info("running as user %s", user);
}

void    daemon_detach(void)
{
    pid_t   pid = fork();
    int     fd;

    if (pid < 0)
	msg_fatal("fork: %m");
    if (pid > 0)
	_exit(0);
    if (setsid() < 0)
	msg_fatal("setsid: %m");
    if (chdir("/") < 0)
	msg_fatal("chdir /: %m");
    if ((fd = open("/dev/null", O_RDWR)) >= 0) {
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
	    close(fd);
    }
}

static int wake_pipe[2] = {-1, -1};	/* signal handler -> main thread */
static volatile sig_atomic_t stop_signal;
static int milter_done;			/* __atomic: smfi_main returned */

static void wake_main(void)
{
    int     saved = errno;

    (void) write(wake_pipe[1], "x", 1);	/* non-blocking; full is fine */
    errno = saved;
}

/* Async-signal-safe: set a flag and wake the main thread. */
static void on_signal(int sig)
{
    if (sig == SIGHUP)
	reload_request();
    else
	stop_signal = sig;
    wake_main();
}

/* When the listener ends on its own (an error, or libmilter's signal
 * thread won a signal after all), the main thread stops too. */
static void *milter_thread(void *arg)
{
    int    *status = arg;

    *status = smfi_main() == MI_SUCCESS ? 0 : 1;
    __atomic_store_n(&milter_done, 1, __ATOMIC_SEQ_CST);
    wake_main();
    return NULL;
}

/* libmilter notices smfi_stop() only when its listener wakes up, and
 * smfi_stop() itself waits for the listener's lock; a connection of our
 * own wakes the listener at once. */
static void wake_listener(const char *spec)
{
    const char *path = unix_path(spec);
    int     fd = -1;

    if (path) {
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0)
	    (void) connect(fd, (struct sockaddr *) &sun, sizeof(sun));
    } else {
	char    port[16], host[256];
	const char *p = strchr(spec, ':') + 1;
	const char *at = strchr(p, '@');
	struct addrinfo hints, *ai = NULL;

	snprintf(port, sizeof(port), "%.*s", at ? (int) (at - p) : (int) strlen(p), p);
	snprintf(host, sizeof(host), "%s", at ? at + 1 : "");
	if (*host == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
	    snprintf(host, sizeof(host), "%s",
		     strncmp(spec, "inet6:", 6) == 0 ? "::1" : "127.0.0.1");
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) == 0 && ai) {
	    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0)
		(void) connect(fd, ai->ai_addr, ai->ai_addrlen);
	    freeaddrinfo(ai);
	}
    }
    if (fd >= 0)
	close(fd);
}

static void *stopper(void *arg)
{
    (void) arg;
    smfi_stop();
    return NULL;
}

/* Stop the listener: smfi_stop() in a helper thread (it blocks until the
 * listener wakes), and wake-up connections until smfi_main() returns. */
static void stop_listener(const char *spec, pthread_t milter)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    pthread_t tid;

    if (pthread_create(&tid, NULL, stopper, NULL) == 0)
	pthread_detach(tid);
    else
	smfi_stop();
    for (int i = 0; i < 500 && !__atomic_load_n(&milter_done, __ATOMIC_SEQ_CST); i++) {
	wake_listener(spec);
	nanosleep(&tick, NULL);
    }
    pthread_join(milter, NULL);
}

static void drain(void)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    time_t  deadline = time(NULL) + DAEMON_DRAIN_SECONDS;
    int     n;

    while ((n = msg_in_flight()) > 0 && time(NULL) < deadline)
	nanosleep(&tick, NULL);
    if (n > 0)
	msg_warn("stopping with %d message(s) still in flight", n);
}

/*
 * libmilter's own signal thread waits in sigwait() for SIGHUP, SIGTERM and
 * SIGINT and treats each as "stop".  Linux gives a process-directed signal
 * to the main thread whenever that thread does not block it, so the main
 * thread keeps them unblocked with handlers at all times (a sigwait() loop
 * here would leave a gap after each signal in which a second SIGHUP went
 * to libmilter and stopped the milter); every other thread blocks them.
 */
static int catch_signals(const sigset_t *set)
{
    struct sigaction sa;

    /* Nothing blocked during the handler either (SA_NODEFER, empty mask):
     * a blocked main thread would pass the next signal to libmilter. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGHUP, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0
	|| sigaction(SIGINT, &sa, NULL) < 0)
	return -1;
    return pthread_sigmask(SIG_UNBLOCK, set, NULL) == 0 ? 0 : -1;
}

int     daemon_run(const char *spec)
{
    sigset_t set;
    pthread_t tid;
    int     status = 0;
    char    c;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    if (pipe2(wake_pipe, O_CLOEXEC) < 0
	|| fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK) < 0) {
	msg_error("pipe: %m");
	return 1;
    }
    pthread_sigmask(SIG_BLOCK, &set, NULL);	/* inherited by libmilter */
    if (pthread_create(&tid, NULL, milter_thread, &status) != 0) {
	msg_error("cannot start the milter thread: %m");
	return 1;
    }
    if (catch_signals(&set) < 0)
	msg_fatal("cannot catch signals: %m");
    msg_info("listening on %s", spec);
    while (!stop_signal && !__atomic_load_n(&milter_done, __ATOMIC_SEQ_CST))
	(void) read(wake_pipe[0], &c, 1);	/* EINTR is fine */
    if (!stop_signal) {
	msg_error("the milter listener stopped by itself; exiting");
	pthread_join(tid, NULL);
	return 1;
    }

    /*
     * libmilter (worker pool) stops serving every session as soon as the
     * listener stops, so the messages in flight finish first while new
     * ones are deferred.
     */
    msg_info("signal %d: stopping", (int) stop_signal);
    msg_refuse_new();
    drain();
    stop_listener(spec, tid);
    msg_info("stopped");
    return status;
}
