/*
 * spool - a byte buffer for message data that stays in memory up to a
 * limit and then moves to a 0600 temporary file in spool_dir, so memory is
 * bounded whatever the message size.  The file is unlinked as soon as it is
 * created (nothing is left behind on any exit path) and the data is never
 * written anywhere else.
 */
#ifndef CF_SPOOL_H
#define CF_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spool;

/* MEMORY_LIMIT 0 = always memory.  Returns NULL only when out of memory. */
struct spool *spool_new(size_t memory_limit, const char *spool_dir);

/* Append.  0, or -1 (logged: disk full, cannot create the file, ...). */
int     spool_write(struct spool *sp, const void *data, size_t len);

uint64_t spool_size(const struct spool *sp);
int     spool_in_file(const struct spool *sp);

/* Sequential reading from the start: rewind, then read until 0. */
int     spool_rewind(struct spool *sp);
ssize_t spool_read(struct spool *sp, void *buf, size_t len);

/* Append the whole of SRC (read from its start) to DST.  0 or -1. */
int     spool_append(struct spool *dst, struct spool *src);

/* The whole content when it is in memory (NULL when spilled to a file). */
const unsigned char *spool_memory(const struct spool *sp);

/* Reset to empty, keeping the limits. */
void    spool_clear(struct spool *sp);

/* Free; safe with NULL. */
void    spool_free(struct spool *sp);

#endif
