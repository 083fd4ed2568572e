/*
 * cryptofilter-policyd - Postfix SMTP access policy server: relay, recipient
 * and size limits, inbound TLS rules, next hop down, SMTP blocking
 * statistics.  See cryptofilter-policyd(8).  This file only reads the
 * command line, loads the configuration, opens the socket, drops
 * privileges and hands over to server_run().
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "server.h"

static void usage(void)
{
    fprintf(stderr, "usage: cryptofilter-policyd [-c FILE] [-f] [-t] [-l LISTEN]\n");
    exit(64);
}

/* Secrets first, privileges after: called once the socket is bound. */
static void drop_privileges(const char *user)
{
    struct passwd *pw;

    if (getuid() != 0 && geteuid() != 0)
	return;
    if (user == NULL || *user == '\0')
	msg_fatal_status(CF_EX_CONFIG, "running as root and policyd.user is empty");
    errno = 0;
    if ((pw = getpwnam(user)) == NULL)
	msg_fatal_status(CF_EX_CONFIG, "policyd.user %s: no such user", user);
    if (pw->pw_uid == 0)
	return;				/* "root" asked for explicitly */
    if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0
	|| setuid(pw->pw_uid) < 0)
	msg_fatal("cannot become user %s: %m", user);
    if (setuid(0) == 0)
	msg_fatal("privileges could be regained after dropping them");
}

/* One file descriptor per smtpd process: take what the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
	rl.rlim_cur = rl.rlim_max;
	(void) setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int     main(int argc, char **argv)
{
    const char *path = CF_DEFAULT_CONFIG;
    const char *listen_opt = NULL;
    char   *listen_spec;
    struct cf_config *cfg = NULL;
    int     foreground = 0, check_only = 0, ch, lfd;

    while ((ch = getopt(argc, argv, "c:ftl:")) != -1) {
	switch (ch) {
	case 'c':
	    path = optarg;
	    break;
	case 'f':
	    foreground = 1;
	    break;
	case 't':
	    check_only = 1;
	    break;
	case 'l':
	    listen_opt = optarg;
	    break;
	default:
	    usage();
	}
    }
    if (optind != argc)
	usage();
    log_init("cryptofilter-policyd", foreground || check_only);
    if (config_load(path, stderr, &cfg) != 0 || cfg == NULL)
	return CF_EX_CONFIG;
    if (check_only) {
	printf("configuration OK\n");
	config_unref(cfg);
	return 0;
    }
    log_configure(&cfg->log);
    if (listen_opt == NULL)
	listen_opt = cfg->policyd.listen;
    if (listen_opt == NULL || *listen_opt == '\0')
	msg_fatal_status(CF_EX_CONFIG, "policyd.listen is empty and no -l given");
    /* The config may be replaced by a reload; the socket stays. */
    if ((listen_spec = strdup(listen_opt)) == NULL)
	msg_fatal("out of memory");
    raise_fd_limit();
    server_signals_init();
    if ((lfd = listener_open(listen_spec)) < 0)
	return 71;			/* EX_OSERR */
    drop_privileges(cfg->policyd.user);
    if (!foreground && daemon(0, 0) < 0)
	msg_fatal("daemon: %m");
    msg_info("listening on %s", listen_spec);
    ch = server_run(lfd, path, cfg);
    close(lfd);
    listener_unlink(listen_spec);
    free(listen_spec);
    return ch;
}
