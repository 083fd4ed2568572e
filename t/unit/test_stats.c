/*
 * test_stats - daily CSV files: names, header row, escaping, dates,
 * disabled kinds, modes, and concurrent writers from several processes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "stats.h"

#define WHEN	((time_t) 1772600767)	/* 2026-03-04 05:06:07 UTC */

static const char sr_header[] =
    "date,time,direction,queue_id,client,sender,recipients,size,subject,"
    "smime_actions,verify_status,decrypt_status,tls_class,final_action\n";

static char *tmp_dir(const char *name)
{
    const char *base = getenv("CF_TMPDIR");
    char    path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/stats-%s-XXXXXX",
	     base && *base ? base : "/tmp", name);
    assert_non_null(mkdtemp(path));
    return (strdup(path));
}

static struct cf_stats_cfg cfg_for(char *dir)
{
    struct cf_stats_cfg cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.enabled = 1;
    cfg.directory = dir;
    cfg.purge_days = 365;
    cfg.smtp_blocking = 1;
    cfg.send = 1;
    cfg.virus = 1;
    cfg.long_date = 1;
    return (cfg);
}

static char *slurp(const char *dir, const char *name)
{
    char    path[PATH_MAX];
    FILE   *fp;
    char   *buf;
    long    len;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fp = fopen(path, "r")) == 0)
	return (0);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    rewind(fp);
    buf = malloc((size_t) len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) len, fp), (size_t) len);
    buf[len] = 0;
    fclose(fp);
    return (buf);
}

/*
 * A strict RFC 4180 reader: parses one record at *P into CELLS (each
 * malloc'd), returns the cell count, or -1 when the text is not valid CSV.
 */
static int csv_record(const char **p, char **cells, int max)
{
    const char *s = *p;
    int     n = 0;

    for (;;) {
	char   *cell = malloc(strlen(s) + 1);
	size_t  len = 0;

	assert_non_null(cell);
	if (*s == '"') {
	    s++;
	    for (;;) {
		if (*s == 0) {
		    free(cell);
		    return (-1);
		}
		if (*s == '"' && s[1] == '"') {
		    cell[len++] = '"';
		    s += 2;
		} else if (*s == '"') {
		    s++;
		    break;
		} else {
		    cell[len++] = *s++;
		}
	    }
	} else {
	    while (*s && *s != ',' && *s != '\n') {
		if (*s == '"' || *s == '\r') {
		    free(cell);
		    return (-1);
		}
		cell[len++] = *s++;
	    }
	}
	cell[len] = 0;
	if (n == max) {
	    free(cell);
	    return (-1);
	}
	cells[n++] = cell;
	if (*s == ',') {
	    s++;
	    continue;
	}
	if (*s == '\n') {
	    *p = s + 1;
	    return (n);
	}
	return (-1);			/* junk after a quoted cell, or no LF */
    }
}

static void free_cells(char **cells, int n)
{
    while (n > 0)
	free(cells[--n]);
}

static void test_file_name(void **state)
{
    char    buf[32];

    (void) state;
    stats_file_name(buf, sizeof(buf), STATS_SR, WHEN);
    assert_string_equal(buf, "SR260304.CSV");
    stats_file_name(buf, sizeof(buf), STATS_SP, WHEN);
    assert_string_equal(buf, "SP260304.CSV");
    stats_file_name(buf, sizeof(buf), STATS_SS, WHEN);
    assert_string_equal(buf, "SS260304.CSV");
    stats_file_name(buf, sizeof(buf), STATS_SV, WHEN);
    assert_string_equal(buf, "SV260304.CSV");
    stats_file_name(buf, sizeof(buf), STATS_SR, WHEN - 6 * 3600);
    assert_string_equal(buf, "SR260303.CSV");	/* by local date */
}

static void test_column_names(void **state)
{
    (void) state;
    assert_string_equal(stats_column_name(STATS_SR, 0), "date");
    assert_string_equal(stats_column_name(STATS_SR, 1), "time");
    assert_string_equal(stats_column_name(STATS_SR, SR_SUBJECT + 2),
			"subject");
    assert_string_equal(stats_column_name(STATS_SR, SR_FINAL_ACTION + 2),
			"final_action");
    assert_null(stats_column_name(STATS_SR, SR_NCOLS + 2));
    assert_string_equal(stats_column_name(STATS_SP, SP_REPLY_CODE + 2),
			"reply_code");
    assert_string_equal(stats_column_name(STATS_SS, SS_TLS_CLASS + 2),
			"tls_class");
    assert_string_equal(stats_column_name(STATS_SV, SV_VIRUS + 2), "virus");
    assert_int_equal(stats_ncols(STATS_SV), SV_NCOLS);
    assert_int_equal(stats_ncols((enum stats_kind) 99), 0);
}

static void test_escaping(void **state)
{
    static const struct {
	const char *in;
	const char *out;
    } cases[] = {
	{"plain", "plain"},
	{"", ""},
	{"a,b", "\"a,b\""},
	{"say \"hi\"", "\"say \"\"hi\"\"\""},
	{"line1\nline2", "\"line1\nline2\""},
	{"cr\rhere", "\"cr\rhere\""},
	{"=HYPERLINK(\"http://evil\",\"x\")",
	 "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""},
	{"=1+2", "'=1+2"},
	{"-1+1", "'-1+1"},
	{"+1", "'+1"},
	{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
	{"\tTAB", "'\tTAB"},
	{"\r\n=x", "\"'\r\n=x\""},
	{"a=b", "a=b"},			/* only the first character counts */
	{"x@y.com", "x@y.com"},
	{"'quoted'", "'quoted'"},
	{"\xc3\xa4rger, \"quoted\"", "\"\xc3\xa4rger, \"\"quoted\"\"\""},
    };
    char    buf[256];
    size_t  i;
    size_t  n;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
	n = stats_csv_cell(buf, sizeof(buf), cases[i].in);
	if (strcmp(buf, cases[i].out) != 0)
	    fail_msg("cell #%zu: got [%s] want [%s]", i, buf, cases[i].out);
	assert_int_equal(n, strlen(cases[i].out));
    }
    n = stats_csv_cell(buf, sizeof(buf), 0);
    assert_int_equal(n, 0);
    assert_string_equal(buf, "");
    /* Like snprintf: the needed length, a cut but terminated result. */
    n = stats_csv_cell(buf, 4, "a,bcdef");
    assert_int_equal(n, 9);
    assert_string_equal(buf, "\"a,");
    assert_int_equal(stats_csv_cell(0, 0, "=x"), 3);
}

static void sr_cells(const char **cells, const char *queue_id,
		     const char *subject)
{
    int     i;

    for (i = 0; i < SR_NCOLS; i++)
	cells[i] = "";
    cells[SR_DIRECTION] = "outbound";
    cells[SR_QUEUE_ID] = queue_id;
    cells[SR_CLIENT] = "127.0.0.1";
    cells[SR_SENDER] = "alice@example.com";
    cells[SR_RECIPIENTS] = "bob@example.com,carol@example.com";
    cells[SR_SIZE] = "1234";
    cells[SR_SUBJECT] = subject;
    cells[SR_SMIME_ACTIONS] = "sign,encrypt";
    cells[SR_VERIFY_STATUS] = 0;	/* NULL: empty cell */
    cells[SR_TLS_CLASS] = "secure";
    cells[SR_FINAL_ACTION] = "accept";
}

static void test_header_once_and_rows(void **state)
{
    char   *dir = tmp_dir("rows");
    struct cf_stats_cfg cfg = cfg_for(dir);
    const char *cells[SR_NCOLS];
    char   *text;
    const char *p;
    char   *rec[32];
    int     n;
    struct stat st;
    char    path[PATH_MAX];
    mode_t  old_umask;

    (void) state;
    old_umask = umask(077);		/* the file must still be 0640 */
    sr_cells(cells, "4ABC1", "=HYPERLINK(\"http://evil\")");
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN, cells, SR_NCOLS), 0);
    sr_cells(cells, "4ABC2", "two\nlines, \"quoted\"");
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN + 60, cells, SR_NCOLS),
		     0);
    sr_cells(cells, "4ABC3", "-1+1");
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN + 120, cells, SR_NCOLS),
		     0);
    umask(old_umask);
    snprintf(path, sizeof(path), "%s/SR260304.CSV", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);

    text = slurp(dir, "SR260304.CSV");
    assert_non_null(text);
    assert_memory_equal(text, sr_header, strlen(sr_header));
    assert_null(strstr(text + 1, "date,time"));		/* header once */
    p = text;
    n = csv_record(&p, rec, 32);
    assert_int_equal(n, SR_NCOLS + 2);
    free_cells(rec, n);

    n = csv_record(&p, rec, 32);
    assert_int_equal(n, SR_NCOLS + 2);
    assert_string_equal(rec[0], "2026-03-04");
    assert_string_equal(rec[1], "05:06:07");
    assert_string_equal(rec[2 + SR_QUEUE_ID], "4ABC1");
    assert_string_equal(rec[2 + SR_RECIPIENTS],
			"bob@example.com,carol@example.com");
    assert_string_equal(rec[2 + SR_SUBJECT], "'=HYPERLINK(\"http://evil\")");
    assert_string_equal(rec[2 + SR_VERIFY_STATUS], "");
    assert_string_equal(rec[2 + SR_FINAL_ACTION], "accept");
    free_cells(rec, n);

    n = csv_record(&p, rec, 32);
    assert_int_equal(n, SR_NCOLS + 2);
    assert_string_equal(rec[1], "05:07:07");
    assert_string_equal(rec[2 + SR_SUBJECT], "two\nlines, \"quoted\"");
    free_cells(rec, n);

    n = csv_record(&p, rec, 32);
    assert_int_equal(n, SR_NCOLS + 2);
    assert_string_equal(rec[2 + SR_SUBJECT], "'-1+1");
    free_cells(rec, n);
    assert_string_equal(p, "");
    free(text);
    free(dir);
}

static void test_long_date(void **state)
{
    char   *dir = tmp_dir("date");
    struct cf_stats_cfg cfg = cfg_for(dir);
    const char *cells[SV_NCOLS] = {"Q1", "a@b", "c@d", "EICAR", "reject"};
    char   *text;
    const char *p;
    char   *rec[16];
    int     n;

    (void) state;
    cfg.long_date = 0;
    assert_int_equal(stats_write(&cfg, STATS_SV, WHEN, cells, SV_NCOLS), 0);
    cfg.long_date = 1;
    assert_int_equal(stats_write(&cfg, STATS_SV, WHEN, cells, SV_NCOLS), 0);
    text = slurp(dir, "SV260304.CSV");
    assert_non_null(text);
    p = text;
    n = csv_record(&p, rec, 16);
    assert_int_equal(n, SV_NCOLS + 2);
    assert_string_equal(rec[0], "date");
    assert_string_equal(rec[2 + SV_VIRUS], "virus");
    free_cells(rec, n);
    n = csv_record(&p, rec, 16);
    assert_int_equal(n, SV_NCOLS + 2);
    assert_string_equal(rec[0], "26-03-04");
    assert_string_equal(rec[1], "05:06:07");
    assert_string_equal(rec[2 + SV_VIRUS], "EICAR");
    free_cells(rec, n);
    n = csv_record(&p, rec, 16);
    assert_string_equal(rec[0], "2026-03-04");
    free_cells(rec, n);
    free(text);
    free(dir);
}

static void test_disabled(void **state)
{
    char   *dir = tmp_dir("off");
    struct cf_stats_cfg cfg = cfg_for(dir);
    const char *sp[SP_NCOLS] = {"192.0.2.1", "x.example", "helo", "a@b",
	"c@d", "relay denied", "554"};
    const char *ss[SS_NCOLS] = {"Q", "a@b", "c@d", "1", "s", "sign", "may"};
    const char *sv[SV_NCOLS] = {"Q", "a@b", "c@d", "EICAR", "reject"};
    const char *sr[SR_NCOLS];
    char   *text;

    (void) state;
    sr_cells(sr, "Q", "s");
    cfg.enabled = 0;
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN, sr, SR_NCOLS), 0);
    assert_int_equal(stats_write(0, STATS_SR, WHEN, sr, SR_NCOLS), 0);
    assert_null(slurp(dir, "SR260304.CSV"));
    cfg.enabled = 1;
    cfg.smtp_blocking = 0;
    cfg.send = 0;
    cfg.virus = 0;
    assert_int_equal(stats_write(&cfg, STATS_SP, WHEN, sp, SP_NCOLS), 0);
    assert_int_equal(stats_write(&cfg, STATS_SS, WHEN, ss, SS_NCOLS), 0);
    assert_int_equal(stats_write(&cfg, STATS_SV, WHEN, sv, SV_NCOLS), 0);
    assert_null(slurp(dir, "SP260304.CSV"));
    assert_null(slurp(dir, "SS260304.CSV"));
    assert_null(slurp(dir, "SV260304.CSV"));
    /* SR does not depend on those switches. */
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN, sr, SR_NCOLS), 0);
    text = slurp(dir, "SR260304.CSV");
    assert_non_null(text);
    free(text);
    /* Each switch on writes its own file. */
    cfg.smtp_blocking = 1;
    assert_int_equal(stats_write(&cfg, STATS_SP, WHEN, sp, SP_NCOLS), 0);
    text = slurp(dir, "SP260304.CSV");
    assert_non_null(text);
    assert_non_null(strstr(text, "\n2026-03-04,05:06:07,192.0.2.1,x.example,"
			   "helo,a@b,c@d,relay denied,554\n"));
    free(text);
    cfg.send = 1;
    assert_int_equal(stats_write(&cfg, STATS_SS, WHEN, ss, SS_NCOLS), 0);
    text = slurp(dir, "SS260304.CSV");
    assert_non_null(text);
    free(text);
    free(dir);
}

static void test_bad_calls(void **state)
{
    char   *dir = tmp_dir("bad");
    struct cf_stats_cfg cfg = cfg_for(dir);
    const char *sr[SR_NCOLS];
    char    path[PATH_MAX];
    char    target[PATH_MAX];
    struct stat st;

    (void) state;
    sr_cells(sr, "Q", "s");
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN, sr, SR_NCOLS - 1), -1);
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN, 0, SR_NCOLS), -1);
    assert_int_equal(stats_write(&cfg, (enum stats_kind) 9, WHEN, sr, 1), -1);
    assert_null(slurp(dir, "SR260304.CSV"));
    /* A symlink planted at the day file's name is not followed. */
    snprintf(path, sizeof(path), "%s/SR260304.CSV", dir);
    snprintf(target, sizeof(target), "%s/target", dir);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN, sr, SR_NCOLS), -1);
    assert_int_equal(stat(target, &st), -1);
    free(dir);
}

static void test_missing_dir_and_long_cell(void **state)
{
    char   *base = tmp_dir("mk");
    char    dir[PATH_MAX];
    struct cf_stats_cfg cfg;
    const char *sr[SR_NCOLS];
    char   *subject = malloc(100 * 1024 + 1);
    char   *text;
    const char *p;
    char   *rec[32];
    int     n;

    (void) state;
    snprintf(dir, sizeof(dir), "%s/stats", base);
    cfg = cfg_for(dir);
    assert_non_null(subject);
    /* 'x', then 100 KB of two-byte UTF-8 characters: cut on a boundary. */
    subject[0] = 'x';
    for (n = 1; n < 100 * 1024 - 1; n += 2) {
	subject[n] = (char) 0xc3;
	subject[n + 1] = (char) 0xa4;
    }
    subject[100 * 1024] = 0;
    subject[100 * 1024 - 1] = 'y';
    sr_cells(sr, "Q", subject);
    assert_int_equal(stats_write(&cfg, STATS_SR, WHEN, sr, SR_NCOLS), 0);
    text = slurp(dir, "SR260304.CSV");
    assert_non_null(text);
    p = text;
    n = csv_record(&p, rec, 32);
    free_cells(rec, n);
    n = csv_record(&p, rec, 32);
    assert_int_equal(n, SR_NCOLS + 2);
    /* 'x' + 2047 pairs = 4095 bytes; a 4096th byte would split a pair. */
    assert_int_equal(strlen(rec[2 + SR_SUBJECT]), 4095);
    assert_int_equal((unsigned char) rec[2 + SR_SUBJECT][4094], 0xa4);
    free_cells(rec, n);
    free(text);
    free(subject);
    free(base);
}

#define WRITERS	4
#define ROWS	500

/*
 * WRITERS processes, released together, write ROWS rows each; row R goes
 * to the day file R % DAYS, so with DAYS > 1 every file's creation is a
 * race.  Then every file starts with exactly one header, every line parses,
 * every row is there exactly once, and nothing else is left in DIR.
 */
static void run_writers(int days)
{
    char   *dir = tmp_dir("conc");
    struct cf_stats_cfg cfg = cfg_for(dir);
    pid_t   pids[WRITERS];
    static int seen[WRITERS][ROWS];
    int     gate[2];
    int     status;
    char    name[32];
    char   *text;
    const char *p;
    char   *rec[32];
    int     n;
    int     w;
    int     r;
    int     d;
    int     rows = 0;
    int     files = 0;
    DIR    *dp;
    struct dirent *de;

    memset(seen, 0, sizeof(seen));
    assert_int_equal(pipe(gate), 0);
    for (w = 0; w < WRITERS; w++) {
	pids[w] = fork();
	assert_true(pids[w] >= 0);
	if (pids[w] == 0) {
	    char    qid[32];
	    char    subject[128];
	    const char *cells[SR_NCOLS];
	    char    c;

	    close(gate[1]);
	    if (read(gate[0], &c, 1) < 0)	/* EOF: everybody go */
		_exit(2);
	    for (r = 0; r < ROWS; r++) {
		snprintf(qid, sizeof(qid), "%d-%d", w, r);
		snprintf(subject, sizeof(subject),
			 "writer %d, row %d: \"quoted\"\nand a second line "
			 "to make the row longer than a few bytes", w, r);
		sr_cells(cells, qid, subject);
		if (stats_write(&cfg, STATS_SR, WHEN + (r % days) * 86400,
				cells, SR_NCOLS) != 0)
		    _exit(1);
	    }
	    _exit(0);
	}
    }
    close(gate[0]);
    close(gate[1]);
    for (w = 0; w < WRITERS; w++) {
	assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
    }
    for (d = 0; d < days; d++) {
	stats_file_name(name, sizeof(name), STATS_SR, WHEN + d * 86400);
	text = slurp(dir, name);
	assert_non_null(text);
	assert_memory_equal(text, sr_header, strlen(sr_header));
	p = text + strlen(sr_header);
	while (*p) {
	    char    want[128];

	    n = csv_record(&p, rec, 32);
	    if (n != SR_NCOLS + 2)
		fail_msg("%s row %d does not parse (%d cells)", name, rows, n);
	    assert_int_equal(sscanf(rec[2 + SR_QUEUE_ID], "%d-%d", &w, &r), 2);
	    assert_true(w >= 0 && w < WRITERS && r >= 0 && r < ROWS);
	    assert_int_equal(r % days, d);	/* in its own day file */
	    assert_int_equal(seen[w][r], 0);
	    seen[w][r] = 1;
	    snprintf(want, sizeof(want), "writer %d, row %d: \"quoted\"\nand "
		     "a second line to make the row longer than a few bytes",
		     w, r);
	    assert_string_equal(rec[2 + SR_SUBJECT], want);
	    free_cells(rec, n);
	    rows++;
	}
	free(text);
    }
    assert_int_equal(rows, WRITERS * ROWS);
    /* Only the day files are left: no temporary header files. */
    assert_non_null(dp = opendir(dir));
    while ((de = readdir(dp)) != 0)
	if (de->d_name[0] != '.')
	    files++;
    closedir(dp);
    assert_int_equal(files, days);
    free(dir);
}

static void test_concurrent_writers(void **state)
{
    (void) state;
    run_writers(1);
}

static void test_concurrent_creation(void **state)
{
    (void) state;
    run_writers(100);
}

int     main(void)
{
    const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_file_name),
	cmocka_unit_test(test_column_names),
	cmocka_unit_test(test_escaping),
	cmocka_unit_test(test_header_once_and_rows),
	cmocka_unit_test(test_long_date),
	cmocka_unit_test(test_disabled),
	cmocka_unit_test(test_bad_calls),
	cmocka_unit_test(test_missing_dir_and_long_cell),
	cmocka_unit_test(test_concurrent_writers),
	cmocka_unit_test(test_concurrent_creation),
    };

    setenv("TZ", "UTC", 1);
    tzset();
    return (cmocka_run_group_tests(tests, 0, 0));
}
