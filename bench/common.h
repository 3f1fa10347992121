/* SPDX-License-Identifier: MIT
 * Helpers of both bench programs (bench/common.c): build/bench (bench.c) and
 * build/bench-compare (compare.c and its adapters). One clock, one checking
 * rule, one median, one CPU name and one scratch directory on the disk, so
 * that the two programs measure and report the same way. */
#ifndef RBX_BENCH_COMMON_H
#define RBX_BENCH_COMMON_H

#include <stddef.h>

#define CMP_PATH_CAP 512U

/* A failed check prints file, line and the condition, then exits non-zero
 * (what make bench-quick relies on). */
void cmp_die(const char *what, const char *file, int line);
#define CMP_CHECK(cond)                                                                       \
    do {                                                                                      \
        if (!(cond)) cmp_die(#cond, __FILE__, __LINE__);                                      \
    } while (0)
void *cmp_xmalloc(size_t n);
/* CLOCK_MONOTONIC in microseconds. */
double cmp_now_us(void);

/* Sort n values in place, ascending. */
void cmp_sort(double *v, size_t n);
/* Median, min and max of n > 0 values (v itself is left as it is). */
void cmp_stats(const double *v, size_t n, double *med, double *lo, double *hi);
double cmp_median(const double *v, size_t n);

/* The "model name" of /proc/cpuinfo, or "unknown". */
void cmp_cpu_model(char *out, size_t cap);

/* A fresh directory PARENT/PREFIX-XXXXXX for SQLite files, removed (with the
 * files in it) at exit or by cmp_tmpdir_remove. Durable rows need a real
 * disk (fdatasync on tmpfs does nothing): a warning says when it is not.
 * Returns its path. */
const char *cmp_tmpdir_create(const char *parent, const char *prefix);
/* 1 if the directory and every file in it went (or none was made), else 0. */
int cmp_tmpdir_remove(void);

#endif
