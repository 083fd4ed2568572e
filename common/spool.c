/*
 * spool - memory-then-file byte buffer; see spool.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

struct spool {
    size_t  memory_limit;		/* 0 = never spill */
    char   *spool_dir;
    unsigned char *mem;			/* the data while in memory */
    size_t  len;
    size_t  cap;
    int     fd;				/* >= 0 once spilled */
    uint64_t size;
    uint64_t rpos;			/* read position (memory mode) */
};

struct spool *spool_new(size_t memory_limit, const char *spool_dir)
{
    struct spool *sp = calloc(1, sizeof(*sp));

    if (sp == 0)
	return 0;
    sp->memory_limit = memory_limit;
    sp->fd = -1;
    if ((sp->spool_dir = strdup(spool_dir && *spool_dir ? spool_dir : "/tmp")) == 0) {
	free(sp);
	return 0;
    }
    return sp;
}

/* Write all of BUF to FD, retrying short writes. */
static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
	ssize_t n = write(fd, p, len);

	if (n < 0) {
	    if (errno == EINTR)
		continue;
	    return -1;
	}
	p += n;
	len -= (size_t) n;
    }
    return 0;
}

/* Move the in-memory data to an unlinked 0600 file in spool_dir. */
static int spool_spill(struct spool *sp)
{
    char    path[PATH_MAX];
    mode_t  old_mask;
    int     fd;

    if (snprintf(path, sizeof(path), "%s/cf-spool.XXXXXX", sp->spool_dir)
	>= (int) sizeof(path)) {
	msg_error("spool: directory name too long: %s", sp->spool_dir);
	return -1;
    }
    old_mask = umask(077);
    fd = mkstemp(path);
    umask(old_mask);
    if (fd < 0) {
	msg_error("spool: cannot create a file in %s: %m", sp->spool_dir);
	return -1;
    }
    /* Unlinked at once: nothing is left behind on any exit path. */
    (void) unlink(path);
    if (write_all(fd, sp->mem, sp->len) < 0) {
	msg_error("spool: write to %s: %m", sp->spool_dir);
	close(fd);
	return -1;
    }
    if (sp->mem)
	explicit_bzero(sp->mem, sp->cap);
    free(sp->mem);
    sp->mem = 0;
    sp->len = sp->cap = 0;
    sp->fd = fd;
    return 0;
}

static int spool_grow(struct spool *sp, size_t need)
{
    size_t  cap = sp->cap ? sp->cap : 4096;
    unsigned char *mem;

    while (cap < need) {
	if (cap > SIZE_MAX / 2)
	    return -1;
	cap *= 2;
    }
    if (cap == sp->cap)
	return 0;
    if ((mem = realloc(sp->mem, cap)) == 0)
	return -1;
    sp->mem = mem;
    sp->cap = cap;
    return 0;
}

int     spool_write(struct spool *sp, const void *data, size_t len)
{
    if (len == 0)
	return 0;
    if (sp->fd < 0) {
	if (sp->memory_limit > 0 && sp->len + len > sp->memory_limit) {
	    if (spool_spill(sp) < 0)
		return -1;
	} else {
	    if (sp->len + len < sp->len || spool_grow(sp, sp->len + len) < 0) {
		msg_error("spool: out of memory");
		return -1;
	    }
	    memcpy(sp->mem + sp->len, data, len);
	    sp->len += len;
	    sp->size += len;
	    return 0;
	}
    }
    if (lseek(sp->fd, 0, SEEK_END) < 0 || write_all(sp->fd, data, len) < 0) {
	msg_error("spool: write to %s: %m", sp->spool_dir);
	return -1;
    }
    sp->size += len;
    return 0;
}

uint64_t spool_size(const struct spool *sp)
{
    return sp->size;
}

int     spool_in_file(const struct spool *sp)
{
    return sp->fd >= 0;
}

int     spool_rewind(struct spool *sp)
{
    sp->rpos = 0;
    if (sp->fd >= 0 && lseek(sp->fd, 0, SEEK_SET) < 0) {
	msg_error("spool: seek: %m");
	return -1;
    }
    return 0;
}

ssize_t spool_read(struct spool *sp, void *buf, size_t len)
{
    if (sp->fd >= 0) {
	ssize_t n;

	/* A write in between moved the offset to the end: go back. */
	if (lseek(sp->fd, (off_t) sp->rpos, SEEK_SET) < 0)
	    return -1;
	do {
	    n = read(sp->fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
	    sp->rpos += (uint64_t) n;
	return n;
    } else {
	size_t  left = sp->rpos < sp->len ? sp->len - (size_t) sp->rpos : 0;

	if (len > left)
	    len = left;
	if (len > 0)
	    memcpy(buf, sp->mem + sp->rpos, len);
	sp->rpos += len;
	return (ssize_t) len;
    }
}

int     spool_append(struct spool *dst, struct spool *src)
{
    unsigned char buf[65536];
    ssize_t n;

    if (spool_rewind(src) < 0)
	return -1;
    while ((n = spool_read(src, buf, sizeof(buf))) > 0)
	if (spool_write(dst, buf, (size_t) n) < 0)
	    return -1;
    return n < 0 ? -1 : 0;
}

const unsigned char *spool_memory(const struct spool *sp)
{
    static const unsigned char empty[1];

    if (sp->fd >= 0)
	return 0;
    return sp->mem ? sp->mem : empty;
}

void    spool_clear(struct spool *sp)
{
    if (sp->fd >= 0) {
	close(sp->fd);
	sp->fd = -1;
    }
    if (sp->mem)
	explicit_bzero(sp->mem, sp->len);
    sp->len = 0;
    sp->size = 0;
    sp->rpos = 0;
}

void    spool_free(struct spool *sp)
{
    if (sp == 0)
	return;
    spool_clear(sp);
    free(sp->mem);
    free(sp->spool_dir);
    free(sp);
}
