/* cmd_import - placeholder until the subcommand lands; it fails loudly. */
#include <stdio.h>
#include "commands.h"

int     cmd_import(int argc, char **argv)
{
    (void) argc;
    fprintf(stderr, "cryptofilter: %s: not implemented yet\n", argv[0]);
    return CF_EXIT_SOFTWARE;
}
