/* SPDX-License-Identifier: MIT
 * Helpers of both bench programs (common.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

void cmp_die(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    exit(EXIT_FAILURE);
}

void *cmp_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) cmp_die("out of memory", __FILE__, __LINE__);
    return p;
}

double cmp_now_us(void)
{
    struct timespec ts;
    CMP_CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void cmp_sort(double *v, size_t n) { qsort(v, n, sizeof *v, cmp_double); }

void cmp_stats(const double *v, size_t n, double *med, double *lo, double *hi)
{
    CMP_CHECK(n > 0);
    double *s = cmp_xmalloc(n * sizeof *s);
    memcpy(s, v, n * sizeof *s);
    cmp_sort(s, n);
    *med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
    *lo = s[0];
    *hi = s[n - 1];
    free(s);
}

double cmp_median(const double *v, size_t n)
{
    double med, lo, hi;
    cmp_stats(v, n, &med, &lo, &hi);
    return med;
}

void cmp_cpu_model(char *out, size_t cap)
{
    char line[256];
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL) return;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (v == NULL) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        snprintf(out, cap, "%s", v);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    fclose(f);
}

static char tmpdir[CMP_PATH_CAP];
static int tmpdir_made;

/* Flat: the benches create files only. */
int cmp_tmpdir_remove(void)
{
    int ok = 1;
    if (!tmpdir_made) return 1;
    tmpdir_made = 0;
    DIR *d = opendir(tmpdir);
    if (d == NULL) {
        fprintf(stderr, "bench: opendir %s: %s\n", tmpdir, strerror(errno));
        return 0;
    }
    struct dirent *e;
    char p[CMP_PATH_CAP + 256];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int n = snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof p || unlink(p) != 0) {
            fprintf(stderr, "bench: cannot remove %s/%s\n", tmpdir, e->d_name);
            ok = 0;
        }
    }
    if (closedir(d) != 0) ok = 0;
    if (rmdir(tmpdir) != 0) {
        fprintf(stderr, "bench: rmdir %s: %s\n", tmpdir, strerror(errno));
        ok = 0;
    }
    return ok;
}

static void tmpdir_atexit(void) { (void)cmp_tmpdir_remove(); }

const char *cmp_tmpdir_create(const char *parent, const char *prefix)
{
    struct statfs sf;
    int n = snprintf(tmpdir, sizeof tmpdir, "%s/%s-XXXXXX", parent, prefix);
    CMP_CHECK(n > 0 && (size_t)n < sizeof tmpdir);
    CMP_CHECK(mkdtemp(tmpdir) != NULL);
    tmpdir_made = 1;
    CMP_CHECK(atexit(tmpdir_atexit) == 0);
    CMP_CHECK(statfs(tmpdir, &sf) == 0);
    if (sf.f_type == 0x01021994 || sf.f_type == 0x858458F6) /* tmpfs, ramfs */
        printf("WARNING: %s is in memory: fdatasync does nothing, the durable numbers are not "
               "disk numbers\n", tmpdir);
    return tmpdir;
}
