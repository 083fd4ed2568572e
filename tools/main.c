/*
 * cryptofilter - the administrator's command: dispatch to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "log.h"

static const struct {
    const char *name;
    int     (*run)(int, char **);
    const char *help;
} commands[] = {
    {"check", cmd_check, "check [-c FILE]                 check the configuration"},
    {"query", cmd_query, "query [-c FILE] --from A --to B [--subject S] [--client IP]"},
    {"process", cmd_process, "process [-c FILE] --direction in|out --from A --to B... < in > out"},
    {"import", cmd_import, "import [-c FILE] [--alt] [--password-file F] FILE.p12 ADDRESS"},
    {"purge", cmd_purge, "purge [-c FILE] [-n]             remove old logs, statistics, history"},
    {"postconf", cmd_postconf, "postconf [-c FILE] [--mode split|before-queue]"},
};

static int usage(FILE *fp)
{
    fprintf(fp, "usage: cryptofilter COMMAND [ARGS]\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
	fprintf(fp, "  cryptofilter %s\n", commands[i].help);
    return fp == stdout ? 0 : CF_EXIT_USAGE;
}

int     main(int argc, char **argv)
{
    log_init("cryptofilter", 1);
    if (argc < 2)
	return usage(stderr);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0
	|| strcmp(argv[1], "help") == 0)
	return usage(stdout);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
	if (strcmp(argv[1], commands[i].name) == 0)
	    return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "cryptofilter: unknown command \"%s\"\n", argv[1]);
    return usage(stderr);
}
