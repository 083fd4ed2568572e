/*
 * stats - the daily CSV statistics files; see stats.h.
 *
 * A new day file is born complete with its header row: the header goes into
 * a private temporary file that is then link(2)ed to the final name, which
 * fails with EEXIST when another writer was first.  So the header is always
 * the first line, whoever wins, and no reader ever sees a headerless file.
 * Rows are then appended with one write(2) each on an O_APPEND descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "stats.h"

/* Outside text (subjects, recipient lists) is cut to this many bytes per
 * cell, so one row stays bounded whatever a message carries. */
#define STATS_CELL_MAX	4096

#define STATS_FILE_MODE	0640

static const char *const sr_columns[] = {
    "date", "time", "direction", "queue_id", "client", "sender",
    "recipients", "size", "subject", "smime_actions", "verify_status",
    "decrypt_status", "tls_class", "final_action",
};
static const char *const sp_columns[] = {
    "date", "time", "client_address", "client_name", "helo", "sender",
    "recipient", "reason", "reply_code",
};
static const char *const ss_columns[] = {
    "date", "time", "queue_id", "sender", "recipients", "size", "subject",
    "smime_actions", "tls_class",
};
static const char *const sv_columns[] = {
    "date", "time", "queue_id", "sender", "recipients", "virus", "action",
};

static const struct {
    const char *prefix;
    const char *const *columns;
    size_t  ncols;			/* after date and time */
} kinds[] = {
    [STATS_SR] = {"SR", sr_columns, SR_NCOLS},
    [STATS_SP] = {"SP", sp_columns, SP_NCOLS},
    [STATS_SS] = {"SS", ss_columns, SS_NCOLS},
    [STATS_SV] = {"SV", sv_columns, SV_NCOLS},
};

/* The compiler checks that the column names and the enums agree. */
_Static_assert(sizeof(sr_columns) / sizeof(sr_columns[0]) == SR_NCOLS + 2,
	       "SR columns");
_Static_assert(sizeof(sp_columns) / sizeof(sp_columns[0]) == SP_NCOLS + 2,
	       "SP columns");
_Static_assert(sizeof(ss_columns) / sizeof(ss_columns[0]) == SS_NCOLS + 2,
	       "SS columns");
_Static_assert(sizeof(sv_columns) / sizeof(sv_columns[0]) == SV_NCOLS + 2,
	       "SV columns");

static int kind_ok(enum stats_kind kind)
{
    return ((unsigned) kind < sizeof(kinds) / sizeof(kinds[0]));
}

const char *stats_column_name(enum stats_kind kind, size_t col)
{
    if (!kind_ok(kind) || col >= kinds[kind].ncols + 2)
	return (0);
    return (kinds[kind].columns[col]);
}

size_t  stats_ncols(enum stats_kind kind)
{
    return (kind_ok(kind) ? kinds[kind].ncols : 0);
}

void    stats_file_name(char *buf, size_t buflen, enum stats_kind kind,
			time_t when)
{
    struct tm tm;
    char    ymd[16];

    localtime_r(&when, &tm);
    strftime(ymd, sizeof(ymd), "%Y%m%d", &tm);	/* %y: -Wformat-y2k */
    snprintf(buf, buflen, "%s%s.CSV",
	     kind_ok(kind) ? kinds[kind].prefix : "S?", ymd + 2);
}

static int needs_quotes(const char *cell, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++)
	if (cell[i] == ',' || cell[i] == '"' || cell[i] == '\r'
	    || cell[i] == '\n')
	    return (1);
    return (0);
}

/* Spreadsheets run a cell starting with these as a formula. */
static int formula_lead(int c)
{
    return (c == '=' || c == '+' || c == '-' || c == '@' || c == '\t'
	    || c == '\r');
}

/* Escape the first LEN bytes of CELL; see stats_csv_cell. */
static size_t csv_cell_len(char *buf, size_t buflen, const char *cell,
			   size_t len)
{
    size_t  need = 0;
    int     quote = needs_quotes(cell, len);
    size_t  i;

#define PUT(c) do { if (need + 1 < buflen) buf[need] = (c); need++; } while (0)
    if (quote)
	PUT('"');
    if (len > 0 && formula_lead((unsigned char) cell[0]))
	PUT('\'');
    for (i = 0; i < len; i++) {
	if (cell[i] == '"')
	    PUT('"');
	PUT(cell[i]);
    }
    if (quote)
	PUT('"');
#undef PUT
    if (buflen > 0)
	buf[need < buflen ? need : buflen - 1] = 0;
    return (need);
}

size_t  stats_csv_cell(char *buf, size_t buflen, const char *cell)
{
    if (cell == 0)
	cell = "";
    return (csv_cell_len(buf, buflen, cell, strlen(cell)));
}

/* Cut outside text at STATS_CELL_MAX, never inside a UTF-8 sequence. */
static size_t cell_len(const char *cell)
{
    size_t  len = strnlen(cell, STATS_CELL_MAX + 1);

    if (len <= STATS_CELL_MAX)
	return (len);
    len = STATS_CELL_MAX;
    while (len > 0 && ((unsigned char) cell[len] & 0xc0) == 0x80)
	len--;
    return (len);
}

/* Append one escaped cell (and a separator before it) to the row. */
static char *row_add(char *row, size_t *used, const char *cell, int first)
{
    size_t  len = cell_len(cell);
    size_t  need = csv_cell_len(0, 0, cell, len) + 1 + (first ? 0 : 1);
    char   *grown;

    if ((grown = realloc(row, *used + need + 1)) == 0) {
	free(row);
	return (0);
    }
    if (!first)
	grown[(*used)++] = ',';
    *used += csv_cell_len(grown + *used, need, cell, len);
    return (grown);
}

/*
 * One complete line: the date and time cells, then CELLS (or the column
 * names when CELLS is NULL).  Returns a malloc'd string, or NULL.
 */
static char *row_build(const struct cf_stats_cfg *cfg, enum stats_kind kind,
		       time_t when, const char *const *cells, size_t ncells,
		       size_t *lenp)
{
    char    date[16];
    char    clock[16];
    struct tm tm;
    char   *row = 0;
    size_t  used = 0;
    size_t  i;

    localtime_r(&when, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
    for (i = 0; i < ncells + 2; i++) {
	const char *cell;

	if (cells == 0)
	    cell = kinds[kind].columns[i];
	else if (i == 0)
	    cell = cfg->long_date ? date : date + 2;
	else if (i == 1)
	    cell = clock;
	else
	    cell = cells[i - 2] ? cells[i - 2] : "";
	if ((row = row_add(row, &used, cell, i == 0)) == 0)
	    return (0);
    }
    row[used++] = '\n';
    row[used] = 0;
    *lenp = used;
    return (row);
}

static int write_all(int fd, const char *buf, size_t len)
{
    ssize_t n = write(fd, buf, len);

    if (n < 0)
	return (-1);
    if ((size_t) n != len) {
	errno = ENOSPC;
	return (-1);
    }
    return (0);
}

/* Unique among the threads of one process; the pid makes it unique
 * among processes. */
static unsigned long tmp_counter;

/* Make PATH exist with its header row (see the comment at the top). */
static int file_create(const struct cf_stats_cfg *cfg, enum stats_kind kind,
		       const char *path)
{
    char    tmp[PATH_MAX];
    char   *header;
    size_t  len;
    int     fd;
    int     ret = 0;
    int     saved;

    if (snprintf(tmp, sizeof(tmp), "%s.%ld.%lu.tmp", path, (long) getpid(),
		 __atomic_fetch_add(&tmp_counter, 1, __ATOMIC_RELAXED))
	>= (int) sizeof(tmp)) {
	errno = ENAMETOOLONG;
	return (-1);
    }
    if ((header = row_build(cfg, kind, 0, 0, kinds[kind].ncols, &len)) == 0)
	return (-1);
    /* A stale temporary of a crashed process with our pid is ours. */
    (void) unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	      STATS_FILE_MODE);
    if (fd < 0) {
	free(header);
	return (-1);
    }
    /* fchmod: the umask must not make the file group-unreadable. */
    if (fchmod(fd, STATS_FILE_MODE) < 0 || write_all(fd, header, len) < 0)
	ret = -1;
    saved = errno;
    if (close(fd) < 0 && ret == 0) {
	ret = -1;
	saved = errno;
    }
    if (ret == 0 && link(tmp, path) < 0 && errno != EEXIST) {
	ret = -1;
	saved = errno;
    }
    (void) unlink(tmp);
    free(header);
    errno = saved;
    return (ret);
}

static int kind_enabled(const struct cf_stats_cfg *cfg, enum stats_kind kind)
{
    if (cfg == 0 || !cfg->enabled || cfg->directory == 0 || !*cfg->directory)
	return (0);
    switch (kind) {
    case STATS_SP:
	return (cfg->smtp_blocking);
    case STATS_SS:
	return (cfg->send);
    case STATS_SV:
	return (cfg->virus);
    default:
	return (1);
    }
}

/* Open the day file for appending, creating it (and DIR) when needed. */
static int file_open(const struct cf_stats_cfg *cfg, enum stats_kind kind,
		     const char *path)
{
    int     fd;
    int     tries;

    for (tries = 0; tries < 3; tries++) {
	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
	    return (fd);
	if (file_create(cfg, kind, path) < 0) {
	    if (errno != ENOENT || tries > 0)
		return (-1);
	    if (mkdir(cfg->directory, 0750) < 0 && errno != EEXIST)
		return (-1);
	}
    }
    return (-1);
}

int     stats_write(const struct cf_stats_cfg *cfg, enum stats_kind kind,
		    time_t when, const char *const *cells, size_t ncells)
{
    char    name[32];
    char    path[PATH_MAX];
    char   *row;
    size_t  len;
    int     fd;
    int     ret;

    if (!kind_ok(kind)) {
	msg_error("stats: unknown kind %d", (int) kind);
	return (-1);
    }
    if (!kind_enabled(cfg, kind))
	return (0);
    if (ncells != kinds[kind].ncols || cells == 0) {
	msg_error("stats: %s row with %zu cells, want %zu",
		  kinds[kind].prefix, ncells, kinds[kind].ncols);
	return (-1);
    }
    stats_file_name(name, sizeof(name), kind, when);
    if (snprintf(path, sizeof(path), "%s/%s", cfg->directory, name)
	>= (int) sizeof(path)) {
	msg_error("stats: directory name too long: %s", cfg->directory);
	return (-1);
    }
    if ((row = row_build(cfg, kind, when, cells, ncells, &len)) == 0) {
	msg_error("stats: out of memory for a %s row", kinds[kind].prefix);
	return (-1);
    }
    if ((fd = file_open(cfg, kind, path)) < 0) {
	msg_error("stats: open %s: %m", path);
	free(row);
	return (-1);
    }
    ret = write_all(fd, row, len);
    if (ret < 0)
	msg_error("stats: write %s: %m", path);
    if (close(fd) < 0 && ret == 0) {
	msg_error("stats: close %s: %m", path);
	ret = -1;
    }
    free(row);
    return (ret);
}
