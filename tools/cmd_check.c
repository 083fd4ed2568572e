/*
 * cmd_check - "cryptofilter check [-c FILE]": load and validate the
 * configuration, print every error as FILE:LINE: message (exit 78) or
 * "configuration OK".
 */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "toolutil.h"

int     cmd_check(int argc, char **argv)
{
    const char *path = NULL;
    struct cf_config *cfg;
    int     c;

    while ((c = getopt(argc, argv, "c:")) != -1) {
	if (c != 'c') {
	    fprintf(stderr, "usage: cryptofilter check [-c FILE]\n");
	    return CF_EXIT_USAGE;
	}
	path = optarg;
    }
    cfg = tool_load_config(path);
    printf("configuration OK\n");
    config_unref(cfg);
    return 0;
}
