/*
 * cmd_purge - "cryptofilter purge [-c FILE]": remove log, statistics and
 * history files older than their purge_days, now.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "purge.h"
#include "toolutil.h"

int     cmd_purge(int argc, char **argv)
{
    const char *path = NULL;
    struct cf_config *cfg;
    int     c, removed;

    while ((c = getopt(argc, argv, "c:")) != -1) {
	if (c != 'c') {
	    fprintf(stderr, "usage: cryptofilter purge [-c FILE]\n");
	    return CF_EXIT_USAGE;
	}
	path = optarg;
    }
    cfg = tool_load_config(path);
    removed = purge_all(cfg, time(NULL));
    printf("purge: %d file%s removed\n", removed, removed == 1 ? "" : "s");
    config_unref(cfg);
    return removed < 0 ? 1 : 0;
}
