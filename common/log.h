/*
 * log - the one logging API of every program.
 *
 * Severities as in Postfix msg(3): msg_info, msg_warn (bad input, keep
 * going), msg_error, msg_fatal (broken config or environment: exit),
 * msg_panic (our bug: abort).  msg_verbose logs only with log.verbose.
 * Everything goes to syslog (facility mail); with log.file also to
 * DIR/MBYYMMDD.LOG (local date); with log_init(..., to_stderr) also to
 * stderr.  errno is preserved across every call.
 *
 * Text that came from outside (addresses, headers, subjects) must pass
 * through log_clean() before it is logged, so a hostile value cannot forge
 * log lines.
 */
#ifndef CF_LOG_H
#define CF_LOG_H

#include <stddef.h>
#include <time.h>

struct cf_log_cfg;

#define CF_PRINTF(a, b) __attribute__((format(printf, a, b)))

void    log_init(const char *ident, int to_stderr);

/* Take file logging and the verbose flags from the configuration.  The
 * struct is copied; it may be freed afterwards. */
void    log_configure(const struct cf_log_cfg *cfg);

void    msg_info(const char *fmt, ...) CF_PRINTF(1, 2);
void    msg_warn(const char *fmt, ...) CF_PRINTF(1, 2);
void    msg_error(const char *fmt, ...) CF_PRINTF(1, 2);
void    msg_fatal(const char *fmt, ...) CF_PRINTF(1, 2) __attribute__((noreturn));
void    msg_fatal_status(int status, const char *fmt, ...) CF_PRINTF(2, 3) __attribute__((noreturn));
void    msg_panic(const char *fmt, ...) CF_PRINTF(1, 2) __attribute__((noreturn));
void    msg_verbose(const char *fmt, ...) CF_PRINTF(1, 2);

/* The log.verbose, log.message_transfer, log.message_header flags. */
int     log_verbose_enabled(void);
int     log_transfer_enabled(void);
int     log_header_enabled(void);

/*
 * Drain the OpenSSL error queue, one msg_warn line per error, each
 * prefixed with CONTEXT.  Call it after every failed OpenSSL call.
 * Returns the number of errors drained.
 */
int     log_openssl_errors(const char *context);

/*
 * Copy SRC into DST (size DSTLEN, always terminated) with control
 * characters and bytes >= 0x7f escaped as \xHH and the result cut at
 * DSTLEN - 1 (a cut is marked with "...").  Returns DST.
 */
char   *log_clean(char *dst, size_t dstlen, const char *src);

/* "MBYYMMDD.LOG" for the local date of WHEN, into BUF (>= 13 bytes). */
void    log_file_name(char *buf, size_t buflen, time_t when);

#endif
