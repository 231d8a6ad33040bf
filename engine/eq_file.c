/* eq_file.c - atomic writes and positioned reads (see eq_file.h). */
#include "eq_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eq_alloc.h"

static atomic_uint tmp_counter;

static eq_status write_all(int fd, const unsigned char *p, size_t len,
                           const char *path, eq_error *err)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return eq_error_set(err, EQ_ERR_IO, "cannot write '%s': %s", path,
                                strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return EQ_OK;
}

eq_status eq_file_write_atomic(const char *path, const eq_file_chunk *chunks,
                               size_t n, eq_error *err)
{
    size_t plen = strlen(path);
    char *tmp = eq_malloc(plen + 48);
    if (!tmp)
        return eq_error_set(err, EQ_ERR_NOMEM, "out of memory writing '%s'", path);
    /* pid + counter: unique among this process's threads and other
     * processes; O_EXCL refuses anything left over from a crash. */
    snprintf(tmp, plen + 48, "%s.tmp%ld-%u", path, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1u));
    eq_status st = EQ_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = eq_error_set(err, EQ_ERR_IO, "cannot create '%s': %s", tmp,
                          strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n && st == EQ_OK; i++)
        st = write_all(fd, chunks[i].data, chunks[i].len, tmp, err);
    if (st == EQ_OK && fsync(fd) != 0)
        st = eq_error_set(err, EQ_ERR_IO, "cannot sync '%s': %s", tmp, strerror(errno));
    if (close(fd) != 0 && st == EQ_OK)
        st = eq_error_set(err, EQ_ERR_IO, "cannot close '%s': %s", tmp, strerror(errno));
    if (st == EQ_OK && rename(tmp, path) != 0)
        st = eq_error_set(err, EQ_ERR_IO, "cannot rename '%s' to '%s': %s", tmp,
                          path, strerror(errno));
    if (st != EQ_OK)
        unlink(tmp);
out:
    eq_free(tmp);
    return st;
}

eq_status eq_file_open_read(const char *path, int *fd, uint64_t *size,
                            eq_error *err)
{
    *fd = -1;
    *size = 0;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return eq_error_set(err, EQ_ERR_IO, "cannot open '%s': %s", path,
                            strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return eq_error_set(err, EQ_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return eq_error_set(err, EQ_ERR_IO, "'%s' is not a regular file", path);
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return EQ_OK;
}

eq_status eq_file_read_at(int fd, uint64_t off, void *buf, size_t len,
                          const char *path, eq_error *err)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return eq_error_set(err, EQ_ERR_IO, "cannot read '%s': %s", path,
                                strerror(errno));
        }
        if (r == 0)
            return eq_error_set(err, EQ_ERR_IO,
                                "'%s' ended early at byte %llu (did it shrink while being read?)",
                                path, (unsigned long long)off);
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return EQ_OK;
}

void eq_file_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
