/* eq_file.h - the few file operations the tensor formats need.
 *
 * Writers replace a file atomically: the bytes go to a temporary file in the
 * same directory, which is fsync'ed and renamed over the target, so a reader
 * (or a daemon restarted mid-write) sees the old file or the new one, never
 * half of one. Readers work with a descriptor and positioned reads, so large
 * tensors go straight from the file into their arena buffers without a copy
 * of the whole file in memory.
 */
#ifndef EQ_FILE_H
#define EQ_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "eq_error.h"

typedef struct eq_file_chunk {
    const void *data;
    size_t len;
} eq_file_chunk;

/* Write the chunks, in order, as the new contents of path (mode 0666 less
 * the umask). EQ_ERR_IO naming the path and the system's reason. */
eq_status eq_file_write_atomic(const char *path, const eq_file_chunk *chunks,
                               size_t n, eq_error *err);

/* Open a regular file for reading; *size gets its length in bytes. */
eq_status eq_file_open_read(const char *path, int *fd, uint64_t *size,
                            eq_error *err);
/* Read exactly len bytes at offset off; a short read (the file shrank) is
 * EQ_ERR_IO. path is only used in messages. */
eq_status eq_file_read_at(int fd, uint64_t off, void *buf, size_t len,
                          const char *path, eq_error *err);
void eq_file_close(int fd);

#endif
