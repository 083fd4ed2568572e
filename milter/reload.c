/*
 * reload - reference-counted current configuration; see reload.h.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certstore.h"
#include "log.h"
#include "reload.h"

/* config_ref/config_unref are not atomic: every count change and every
 * swap of the current pointer happens under this lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cf_config *current;
static char *config_path;
static int wanted;			/* __atomic */

void    reload_init(struct cf_config *cfg, const char *path)
{
    pthread_mutex_lock(&lock);
    current = cfg;
    free(config_path);
    config_path = strdup(path);
    pthread_mutex_unlock(&lock);
}

void    reload_request(void)
{
    __atomic_store_n(&wanted, 1, __ATOMIC_SEQ_CST);
}

/* Log each line config_load printed, so none is lost in a daemon. */
static void log_errors(const char *text)
{
    char    clean[512];
    const char *end;

    for (; text && *text; text = *end ? end + 1 : end) {
	char    line[1024];
	size_t  len;

	end = strchrnul(text, '\n');
	len = (size_t) (end - text) < sizeof(line) - 1 ? (size_t) (end - text) : sizeof(line) - 1;
	memcpy(line, text, len);
	line[len] = 0;
	if (len)
	    msg_error("reload: %s", log_clean(clean, sizeof(clean), line));
    }
}

int     reload_now(void)
{
    struct cf_config *fresh = NULL, *old;
    char   *errtext = NULL;
    size_t  errlen = 0;
    FILE   *errs = open_memstream(&errtext, &errlen);
    int     nerr;

    if (errs == NULL) {
	msg_error("reload: out of memory; keeping the old configuration");
	return -1;
    }
    nerr = config_load(config_path, errs, &fresh);
    fclose(errs);
    if (nerr != 0 || fresh == NULL) {
	log_errors(errtext);
	msg_error("reload: %s has %d error(s); keeping the old configuration",
		  config_path, nerr);
	free(errtext);
	return -1;
    }
    free(errtext);
    log_configure(&fresh->log);
    certstore_flush();			/* keys and certificates too */
    pthread_mutex_lock(&lock);
    old = current;
    current = fresh;
    if (old)
	config_unref(old);
    pthread_mutex_unlock(&lock);
    msg_info("reload: configuration %s loaded", config_path);
    return 0;
}

struct cf_config *reload_acquire(void)
{
    struct cf_config *cfg;

    if (__atomic_exchange_n(&wanted, 0, __ATOMIC_SEQ_CST))
	(void) reload_now();
    pthread_mutex_lock(&lock);
    cfg = current ? config_ref(current) : NULL;
    pthread_mutex_unlock(&lock);
    return cfg;
}

void    reload_release(struct cf_config *cfg)
{
    pthread_mutex_lock(&lock);
    config_unref(cfg);
    pthread_mutex_unlock(&lock);
}

void    reload_shutdown(void)
{
    pthread_mutex_lock(&lock);
    if (current)
	config_unref(current);
    current = NULL;
    free(config_path);
    config_path = NULL;
    pthread_mutex_unlock(&lock);
}
