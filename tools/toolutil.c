/*
 * toolutil - configuration loading for the subcommands; see toolutil.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "toolutil.h"

struct cf_config *tool_load_config(const char *path)
{
    struct cf_config *cfg;
    int     errors;

    if (path == NULL)
	path = CF_DEFAULT_CONFIG;
    errors = config_load(path, stderr, &cfg);
    if (errors) {
	fprintf(stderr, "cryptofilter: %s: %d error%s\n", path, errors,
		errors == 1 ? "" : "s");
	exit(CF_EX_CONFIG);
    }
    /* The command's own messages go to stderr; the log file is the
     * daemons' and must not collect a postmaster's experiments. */
    return cfg;
}
