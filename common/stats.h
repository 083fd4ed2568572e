/*
 * stats - the daily CSV statistics files of DESIGN.md "Files".
 *
 *   SRYYMMDD.CSV  every message the milter saw
 *   SPYYMMDD.CSV  blocked at SMTP level (policy daemon)
 *   SSYYMMDD.CSV  outbound messages handed on
 *   SVYYMMDD.CSV  virus findings
 *
 * A file gets its header row when it is created (the column names are
 * stats_column_name()).  Each row is written with one write(2) on an
 * O_APPEND descriptor, so concurrent writers never interleave.  Lines end
 * in LF; cells are quoted per RFC 4180 (cells with comma, quote, CR or LF
 * in quotes, quotes doubled) and a cell starting with '=', '+', '-' or '@'
 * (or TAB/CR) is prefixed with "'" against formula injection.  A cell is
 * cut at 4096 bytes (on a UTF-8 boundary).  Files are created mode 0640
 * (the directory 0750 when missing).  Date cells are yy-mm-dd, or
 * yyyy-mm-dd with long_date; time cells hh:mm:ss; all local time.
 */
#ifndef CF_STATS_H
#define CF_STATS_H

#include <stddef.h>
#include <time.h>

struct cf_stats_cfg;

enum stats_kind { STATS_SR, STATS_SP, STATS_SS, STATS_SV };

/* SR: after date,time */
enum {
    SR_DIRECTION, SR_QUEUE_ID, SR_CLIENT, SR_SENDER, SR_RECIPIENTS, SR_SIZE,
    SR_SUBJECT, SR_SMIME_ACTIONS, SR_VERIFY_STATUS, SR_DECRYPT_STATUS,
    SR_TLS_CLASS, SR_FINAL_ACTION, SR_NCOLS
};
/* SP: after date,time */
enum {
    SP_CLIENT_ADDRESS, SP_CLIENT_NAME, SP_HELO, SP_SENDER, SP_RECIPIENT,
    SP_REASON, SP_REPLY_CODE, SP_NCOLS
};
/* SS: after date,time */
enum {
    SS_QUEUE_ID, SS_SENDER, SS_RECIPIENTS, SS_SIZE, SS_SUBJECT,
    SS_SMIME_ACTIONS, SS_TLS_CLASS, SS_NCOLS
};
/* SV: after date,time */
enum {
    SV_QUEUE_ID, SV_SENDER, SV_RECIPIENTS, SV_VIRUS, SV_ACTION, SV_NCOLS
};

/*
 * Append one row to the KIND file for the local date of WHEN: the date and
 * time cells, then CELLS[0..NCELLS-1] (NULL cells are written empty).
 * NCELLS must be the kind's *_NCOLS.  Does nothing and returns 0 when
 * statistics (or that kind: smtp_blocking, send, virus) are disabled.
 * Returns 0, or -1 after logging why.
 */
int     stats_write(const struct cf_stats_cfg *cfg, enum stats_kind kind,
		    time_t when, const char *const *cells, size_t ncells);

/* "SRYYMMDD.CSV" etc. into BUF (>= 13 bytes). */
void    stats_file_name(char *buf, size_t buflen, enum stats_kind kind,
			time_t when);

/* The header-row name of column COL of KIND (0 = "date", 1 = "time", then
 * the kind's enum + 2), or NULL past the end. */
const char *stats_column_name(enum stats_kind kind, size_t col);

/* The kind's *_NCOLS (cells after date and time). */
size_t  stats_ncols(enum stats_kind kind);

/* One escaped CSV cell (quotes added when needed) into BUF; returns the
 * length it needs, like snprintf. */
size_t  stats_csv_cell(char *buf, size_t buflen, const char *cell);

#endif
