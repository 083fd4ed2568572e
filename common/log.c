/*
 * log - syslog, the daily MBYYMMDD.LOG file and stderr; see log.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/err.h>

#include "config.h"
#include "log.h"

enum severity { SEV_INFO, SEV_WARN, SEV_ERROR, SEV_FATAL, SEV_PANIC, SEV_VERBOSE };

static const char *const severity_label[] = {
    "", "warning: ", "error: ", "fatal: ", "panic: ", "",
};
static const int severity_priority[] = {
    LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT, LOG_CRIT, LOG_DEBUG,
};

/* Set once at start-up and on reload; read by every thread of the milter. */
static struct {
    char    ident[64];
    int     to_stderr;
    int     to_file;
    char    directory[PATH_MAX];
    int     verbose;
    int     message_transfer;
    int     message_header;
} log_state = {"cryptofilter", 0, 0, "", 0, 0, 0};

/* The day file is shared by all threads; reopened when the date changes. */
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static int file_fd = -1;
static char file_name[16];

void    log_init(const char *ident, int to_stderr)
{
    snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident);
    log_state.to_stderr = to_stderr;
    openlog(log_state.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void    log_configure(const struct cf_log_cfg *cfg)
{
    pthread_mutex_lock(&file_lock);
    log_state.to_file = cfg->file && cfg->directory && *cfg->directory;
    snprintf(log_state.directory, sizeof(log_state.directory), "%s",
	     cfg->directory ? cfg->directory : "");
    log_state.verbose = cfg->verbose;
    log_state.message_transfer = cfg->message_transfer;
    log_state.message_header = cfg->message_header;
    if (file_fd >= 0) {
	close(file_fd);
	file_fd = -1;
    }
    pthread_mutex_unlock(&file_lock);
}

int     log_verbose_enabled(void)
{
    return log_state.verbose;
}

int     log_transfer_enabled(void)
{
    return log_state.message_transfer;
}

int     log_header_enabled(void)
{
    return log_state.message_header;
}

void    log_file_name(char *buf, size_t buflen, time_t when)
{
    struct tm tm;
    char    ymd[16];

    localtime_r(&when, &tm);
    strftime(ymd, sizeof(ymd), "%Y%m%d", &tm);
    snprintf(buf, buflen, "MB%.6s.LOG", ymd + 2);
}

/* Append LINE to today's file; a failure to log must never stop mail. */
static void log_to_file(const char *line, time_t now)
{
    char    name[16];
    char    path[PATH_MAX + 16];

    log_file_name(name, sizeof(name), now);
    pthread_mutex_lock(&file_lock);
    if (file_fd < 0 || strcmp(name, file_name) != 0) {
	if (file_fd >= 0)
	    close(file_fd);
	snprintf(path, sizeof(path), "%s/%s", log_state.directory, name);
	file_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	snprintf(file_name, sizeof(file_name), "%s", name);
    }
    if (file_fd >= 0 && write(file_fd, line, strlen(line)) < 0) {
	close(file_fd);
	file_fd = -1;
    }
    pthread_mutex_unlock(&file_lock);
}

/*
 * Is there a syslog daemon?  Without one, glibc's syslog() tries to
 * reconnect to /dev/log on every call, a few wasted system calls per
 * message; look again every 10 seconds so a daemon started later is used.
 */
static int syslog_present(time_t now)
{
    static time_t checked;
    static int present;

    if (now - __atomic_load_n(&checked, __ATOMIC_RELAXED) >= 10) {
	__atomic_store_n(&present, access("/dev/log", W_OK) == 0, __ATOMIC_RELAXED);
	__atomic_store_n(&checked, now, __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&present, __ATOMIC_RELAXED);
}

static void vlog(enum severity sev, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vlog(enum severity sev, const char *fmt, va_list ap)
{
    int     saved_errno = errno;
    char    text[4096];
    char    line[4096 + 128];
    time_t  now = time(NULL);
    struct tm tm;

    vsnprintf(text, sizeof(text), fmt, ap);
    if (syslog_present(now))
	syslog(severity_priority[sev], "%s%s", severity_label[sev], text);
    if (log_state.to_stderr)
	fprintf(stderr, "%s: %s%s\n", log_state.ident, severity_label[sev], text);
    if (log_state.to_file) {
	localtime_r(&now, &tm);
	snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d %s[%ld]: %s%s\n",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, log_state.ident, (long) getpid(),
		 severity_label[sev], text);
	log_to_file(line, now);
    }
    errno = saved_errno;
}

#define LOG_FN(fn, sev) \
    void fn(const char *fmt, ...) \
    { \
	va_list ap; \
	va_start(ap, fmt); \
	vlog(sev, fmt, ap); \
	va_end(ap); \
    }

LOG_FN(msg_info, SEV_INFO)
LOG_FN(msg_warn, SEV_WARN)
LOG_FN(msg_error, SEV_ERROR)

void    msg_verbose(const char *fmt, ...)
{
    va_list ap;

    if (!log_state.verbose)
	return;
    va_start(ap, fmt);
    vlog(SEV_VERBOSE, fmt, ap);
    va_end(ap);
}

void    msg_fatal_status(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(SEV_FATAL, fmt, ap);
    va_end(ap);
    exit(status);
}

void    msg_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(SEV_FATAL, fmt, ap);
    va_end(ap);
    exit(1);
}

void    msg_panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(SEV_PANIC, fmt, ap);
    va_end(ap);
    abort();
}

int     log_openssl_errors(const char *context)
{
    unsigned long code;
    const char *file, *func, *data;
    int     line, flags, count = 0;
    char    reason[256];
    char    clean[512];

    while ((code = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
	ERR_error_string_n(code, reason, sizeof(reason));
	log_clean(clean, sizeof(clean), (flags & ERR_TXT_STRING) && data ? data : "");
	msg_warn("%s: openssl: %s%s%s (%s:%d)", context, reason,
		 *clean ? ": " : "", clean, func ? func : "?", line);
	count++;
    }
    return count;
}

char   *log_clean(char *dst, size_t dstlen, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t  out = 0;
    const unsigned char *s = (const unsigned char *) src;

    if (dstlen == 0)
	return dst;
    for (; s && *s; s++) {
	size_t  need = (*s < 0x20 || *s >= 0x7f || *s == '\\') ? 4 : 1;

	if (out + need + 1 > dstlen) {
	    if (dstlen >= 4) {
		while (out + 4 > dstlen)
		    out--;
		memcpy(dst + out, "...", 3);
		out += 3;
	    }
	    break;
	}
	if (need == 1) {
	    dst[out++] = (char) *s;
	} else {
	    dst[out++] = '\\';
	    dst[out++] = 'x';
	    dst[out++] = hex[*s >> 4];
	    dst[out++] = hex[*s & 15];
	}
    }
    dst[out] = 0;
    return dst;
}
