/*
 * cryptofilter-milter - the S/MIME milter for Postfix.
 *
 *   cryptofilter-milter [-c FILE] [-f] [-t] [-p SOCKET]
 *
 * Load the configuration, open the socket, load the private keys, drop
 * root, go to the background (unless -f) and serve; see
 * cryptofilter-milter(8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "callbacks.h"
#include "certstore.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "reload.h"

#define EX_USAGE_CODE	64

static int usage(void)
{
    fprintf(stderr, "usage: cryptofilter-milter [-c FILE] [-f] [-t] [-p SOCKET]\n");
    return EX_USAGE_CODE;
}

int     main(int argc, char **argv)
{
    const char *path = CF_DEFAULT_CONFIG, *why = NULL;
    char   *spec = NULL;
    int     foreground = 0, check = 0, ch, status;
    struct cf_config *cfg = NULL;

    while ((ch = getopt(argc, argv, "c:ftp:")) != -1) {
	switch (ch) {
	case 'c': path = optarg; break;
	case 'f': foreground = 1; break;
	case 't': check = 1; break;
	case 'p': spec = optarg; break;
	default: return usage();
	}
    }
    if (optind != argc)
	return usage();
    log_init("cryptofilter-milter", 1);
    if (config_load(path, stderr, &cfg) != 0)
	return CF_EX_CONFIG;
    /* A copy: a reload frees the configuration the name came from. */
    if ((spec = strdup(spec ? spec : cfg->milter.socket ? cfg->milter.socket : "")) == NULL)
	return 1;
    if (*spec == 0 || daemon_check_socket(spec, &why) < 0) {
	fprintf(stderr, "%s: milter.socket \"%s\": %s\n", path, spec,
		why ? why : "not set");
	return CF_EX_CONFIG;
    }
    if (check) {
	printf("configuration OK\n");
	config_unref(cfg);
	return 0;
    }
    log_configure(&cfg->log);
    if (getenv("CF_MILTER_BODY_CHUNK"))
	actions_set_chunk(strtoul(getenv("CF_MILTER_BODY_CHUNK"), NULL, 10));
    if (callbacks_register() < 0 || daemon_open_socket(spec, cfg->milter.user) < 0)
	return 1;
    /* Secrets first, privileges after: keys readable only by root stay
     * usable by the unprivileged daemon. */
    msg_info("%d private keys loaded from %s", certstore_preload_keys(&cfg->smime),
	     cfg->smime.cert_dir);
    daemon_drop_privileges(cfg->milter.user);
    if (!foreground) {
	daemon_detach();
	log_init("cryptofilter-milter", 0);
    }
    reload_init(cfg, path);
    status = daemon_run(spec);
    reload_shutdown();
    free(spec);
    return status;
}
