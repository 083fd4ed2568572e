/*
 * commands - the subcommands of the "cryptofilter" administrator's tool.
 *
 * Each cmd_NAME() gets argv with argv[0] = "NAME" and returns the process
 * exit status.  One file per subcommand: tools/cmd_NAME.c.
 */
#ifndef CF_COMMANDS_H
#define CF_COMMANDS_H

int     cmd_check(int argc, char **argv);
int     cmd_query(int argc, char **argv);
int     cmd_process(int argc, char **argv);
int     cmd_import(int argc, char **argv);
int     cmd_purge(int argc, char **argv);
int     cmd_postconf(int argc, char **argv);

/* Exit statuses of "cryptofilter process" (documented in cryptofilter.8). */
#define CF_EXIT_ACCEPT		0	/* passed on, possibly changed */
#define CF_EXIT_USAGE		64	/* EX_USAGE */
#define CF_EXIT_REJECT		10	/* reject / ndr: 5xx */
#define CF_EXIT_TEMPFAIL	11	/* tempfail: 4xx (policy or on_error) */
#define CF_EXIT_DISCARD		12	/* accepted and dropped */
#define CF_EXIT_HOLD		13	/* held in the hold queue */
#define CF_EXIT_REDIRECT	14	/* forward-postmaster or encapsulate-* */
#define CF_EXIT_SOFTWARE	70	/* EX_SOFTWARE: internal error */
#define CF_EXIT_IOERR		74	/* EX_IOERR: cannot read input */

#endif
