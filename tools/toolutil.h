/*
 * toolutil - what every subcommand of "cryptofilter" shares: loading the
 * configuration with the EX_CONFIG convention.
 */
#ifndef CF_TOOLUTIL_H
#define CF_TOOLUTIL_H

#include "config.h"

/* Load PATH (NULL: the default); on errors print them all to stderr and
 * exit 78.  Also applies the log settings. */
struct cf_config *tool_load_config(const char *path);

#endif
