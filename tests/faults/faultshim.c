/* SPDX-License-Identifier: MIT
 * A fault-injection shim for the rbx tool (LD_PRELOAD), used by
 * tests/cli/test_faults.sh and `make crashtest` (issue 13, point 6).
 *
 * It counts the calls of write, pwrite, pwrite64, fsync and fdatasync on
 * files inside one directory (the state directory, RBX_FAULT_DIR; any other
 * file, stdout included, is left alone) and acts on call number
 * RBX_FAULT_AT (1-based) as RBX_FAULT_MODE says:
 *
 *   eio, enospc  the call fails with that errno and does nothing; with
 *                RBX_FAULT_STICKY=1 every later counted call fails too (a
 *                disk that stays broken or full)
 *   kill         SIGKILL before the call (a crash: what the kernel has,
 *                the files keep)
 *   power        a power cut before the call: every file of the directory
 *                is put back as the disk would hold it, then SIGKILL (below)
 *
 * Without RBX_FAULT_AT (or 0) it only counts. RBX_FAULT_COUNT names a file
 * that gets the number of counted calls when the process exits normally;
 * RBX_FAULT_LOG one that gets a line per counted call (number, call, file,
 * bytes), for finding a failing point.
 *
 * The power model. A file's data and size are durable as of its last fsync
 * or fdatasync; what was written after is lost. The directory (which names
 * exist, and which file each names: creations, renames, unlinks) is durable
 * as of the last sync of any file in it (RBX_FAULT_NAMESPACE=ordered, the
 * default: ext4, XFS and other journalling file systems commit every
 * pending directory change with the journal transaction that an fsync
 * forces, and write data before the metadata that points to it), or only
 * as of the last fsync of the directory itself (=posix, what POSIX alone
 * promises). A name whose file was never synced comes back empty, as a
 * delayed-allocation file system leaves it. The shim keeps the durable
 * content of each file (by inode) in memory: at start it reads the
 * directory as it is (the harness syncs it first), and at every sync it
 * copies the synced file. At the cut it deletes the directory's entries and
 * writes the durable ones back, with their modes.
 *
 * Hand-written (not a library) because it is a test harness of about 300
 * lines: Debian has no LD_PRELOAD fault injector that counts calls per
 * directory (libfiu injects by function name and has no power model). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*sync_fn)(int);

static write_fn real_write;
static pwrite_fn real_pwrite, real_pwrite64;
static sync_fn real_fsync, real_fdatasync;

enum { MODE_COUNT, MODE_EIO, MODE_ENOSPC, MODE_KILL, MODE_POWER };

static char dir[PATH_MAX];
static size_t dirlen;
static unsigned long at, calls;
static int mode = MODE_COUNT, sticky, ns_posix, active;
static const char *count_path, *log_path;

/* ------------------------------------------------------------ the durable image */

typedef struct blob {
    dev_t dev;
    ino_t ino;
    mode_t mode;
    unsigned char *data;
    size_t len;
} blob;

typedef struct entry {
    char name[NAME_MAX + 1];
    dev_t dev;
    ino_t ino;
} entry;

static blob *blobs;
static size_t nblobs, capblobs;
static entry *names;
static size_t nnames;

static void die(const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "faultshim: %s: %s\n", what, strerror(errno));
    if (n > 0) (void)!real_write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    _exit(71);
}

static blob *blob_for(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < nblobs; i++)
        if (blobs[i].dev == dev && blobs[i].ino == ino) return &blobs[i];
    return NULL;
}

/* Copy what fd holds now as its durable content. fd may be write-only (a
 * key file being written): the file is read through a descriptor of its
 * own, opened from /proc/self/fd. */
static void snapshot_file(int wfd)
{
    struct stat sb;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", wfd);
    int fd = open(link, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("reopen");
    if (fstat(fd, &sb) != 0) die("fstat");
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return;
    }
    blob *b = blob_for(sb.st_dev, sb.st_ino);
    if (b == NULL) {
        if (nblobs == capblobs) {
            capblobs = capblobs ? 2 * capblobs : 16;
            if ((blobs = realloc(blobs, capblobs * sizeof *blobs)) == NULL) die("realloc");
        }
        b = &blobs[nblobs++];
        memset(b, 0, sizeof *b);
        b->dev = sb.st_dev;
        b->ino = sb.st_ino;
    }
    b->mode = sb.st_mode & 07777;
    free(b->data);
    b->len = (size_t)sb.st_size;
    if ((b->data = malloc(b->len + 1)) == NULL) die("malloc");
    for (size_t off = 0; off < b->len;) {
        ssize_t n = pread(fd, b->data + off, b->len - off, (off_t)off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("read");
        if (n == 0) {
            b->len = off; /* shrunk meanwhile */
            break;
        }
        off += (size_t)n;
    }
    close(fd);
}

/* The directory's names as they are now become the durable ones. */
static void snapshot_names(void)
{
    DIR *d = opendir(dir);
    if (d == NULL) die("opendir");
    nnames = 0;
    free(names);
    names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (nnames == cap) {
            cap = cap ? 2 * cap : 16;
            if ((names = realloc(names, cap * sizeof *names)) == NULL) die("realloc");
        }
        snprintf(names[nnames].name, sizeof names[nnames].name, "%s", e->d_name);
        names[nnames].dev = sb.st_dev;
        names[nnames].ino = sb.st_ino;
        nnames++;
    }
    closedir(d);
}

/* At start: everything in the directory is durable (the harness synced it). */
static void snapshot_all(void)
{
    snapshot_names();
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) die("open");
    for (size_t i = 0; i < nnames; i++) {
        int fd = openat(dfd, names[i].name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) die("open");
        snapshot_file(fd);
        close(fd);
    }
    close(dfd);
}

/* The power cut: the directory as the disk holds it, then death. */
static _Noreturn void power_cut(void)
{
    DIR *d = opendir(dir);
    if (d == NULL) die("opendir");
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    for (size_t i = 0; i < nnames; i++) {
        blob *b = blob_for(names[i].dev, names[i].ino);
        int fd = openat(dirfd(d), names[i].name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                        b ? b->mode : 0600);
        if (fd < 0) die("open (restore)");
        for (size_t off = 0; b != NULL && off < b->len;) {
            ssize_t n = real_pwrite(fd, b->data + off, b->len - off, (off_t)off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) die("write (restore)");
            off += (size_t)n;
        }
        if (b != NULL) (void)fchmod(fd, b->mode);
        close(fd);
    }
    closedir(d);
    raise(SIGKILL);
    _exit(137);
}

/* ------------------------------------------------------------ counting */

static void init_real(void)
{
    if (real_write != NULL) return;
    real_write = (write_fn)dlsym(RTLD_NEXT, "write");
    real_pwrite = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
    real_fsync = (sync_fn)dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
    if (real_pwrite64 == NULL) real_pwrite64 = real_pwrite;
}

__attribute__((constructor)) static void shim_init(void)
{
    init_real();
    const char *d = getenv("RBX_FAULT_DIR");
    if (d == NULL || *d == '\0') return;
    if (realpath(d, dir) == NULL) return; /* not there yet: nothing to watch */
    dirlen = strlen(dir);
    const char *a = getenv("RBX_FAULT_AT"), *m = getenv("RBX_FAULT_MODE");
    at = a != NULL ? strtoul(a, NULL, 10) : 0;
    if (m == NULL || strcmp(m, "count") == 0) mode = MODE_COUNT;
    else if (strcmp(m, "eio") == 0) mode = MODE_EIO;
    else if (strcmp(m, "enospc") == 0) mode = MODE_ENOSPC;
    else if (strcmp(m, "kill") == 0) mode = MODE_KILL;
    else if (strcmp(m, "power") == 0) mode = MODE_POWER;
    else {
        errno = EINVAL;
        die("RBX_FAULT_MODE");
    }
    sticky = getenv("RBX_FAULT_STICKY") != NULL && strcmp(getenv("RBX_FAULT_STICKY"), "1") == 0;
    ns_posix = getenv("RBX_FAULT_NAMESPACE") != NULL &&
               strcmp(getenv("RBX_FAULT_NAMESPACE"), "posix") == 0;
    count_path = getenv("RBX_FAULT_COUNT");
    log_path = getenv("RBX_FAULT_LOG");
    if (mode == MODE_POWER) snapshot_all();
    active = 1;
}

__attribute__((destructor)) static void shim_fini(void)
{
    if (!active || count_path == NULL) return;
    FILE *f = fopen(count_path, "w");
    if (f == NULL) return;
    fprintf(f, "%lu\n", calls);
    fclose(f);
}

/* Is fd a file in the directory, or the directory itself (*isdir)? */
static int watched(int fd, int *isdir)
{
    char link[64], p[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, p, sizeof p - 1);
    if (n <= 0) return 0;
    p[n] = '\0';
    *isdir = (size_t)n == dirlen && memcmp(p, dir, dirlen) == 0;
    return *isdir || ((size_t)n > dirlen && memcmp(p, dir, dirlen) == 0 && p[dirlen] == '/');
}

static void log_call(const char *what, int fd, size_t len)
{
    if (log_path == NULL) return;
    char link[64], p[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, p, sizeof p - 1);
    p[n > 0 ? n : 0] = '\0';
    FILE *f = fopen(log_path, "a");
    if (f == NULL) return;
    fprintf(f, "%lu %s %s %zu\n", calls, what, p + (n > (ssize_t)dirlen ? dirlen + 1 : 0), len);
    fclose(f);
}

/* Called before each counted call: 0 to go on, -1 to fail it (errno set). */
static int before(const char *what, int fd, size_t len)
{
    int isdir = 0;
    if (!active || !watched(fd, &isdir)) return 0;
    calls++;
    log_call(what, fd, len);
    if (at == 0 || mode == MODE_COUNT || (calls < at) || (calls > at && !sticky)) return 0;
    switch (mode) {
    case MODE_KILL:
        raise(SIGKILL);
        _exit(137);
    case MODE_POWER:
        power_cut();
    case MODE_ENOSPC:
        errno = ENOSPC;
        return -1;
    default:
        errno = EIO;
        return -1;
    }
}

/* After a successful sync: what it made durable (power mode only). */
static void synced(int fd)
{
    int isdir = 0;
    if (!active || mode != MODE_POWER || !watched(fd, &isdir)) return;
    if (!isdir) snapshot_file(fd);
    if (isdir || !ns_posix) snapshot_names();
}

ssize_t write(int fd, const void *buf, size_t len)
{
    init_real();
    if (before("write", fd, len) != 0) return -1;
    return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    init_real();
    if (before("pwrite", fd, len) != 0) return -1;
    return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    init_real();
    if (before("pwrite", fd, len) != 0) return -1;
    return real_pwrite64(fd, buf, len, off);
}

int fsync(int fd)
{
    init_real();
    if (before("fsync", fd, 0) != 0) return -1;
    int rc = real_fsync(fd);
    if (rc == 0) synced(fd);
    return rc;
}

int fdatasync(int fd)
{
    init_real();
    if (before("fdatasync", fd, 0) != 0) return -1;
    int rc = real_fdatasync(fd);
    if (rc == 0) synced(fd);
    return rc;
}
