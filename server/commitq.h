/* SPDX-License-Identifier: MIT
 * Group commit (spec/SERVER.md section 9.3): request threads hand their write
 * to one committer thread that owns the writer connection; it runs every
 * write waiting at that moment in one transaction and commits once, so N
 * concurrent requests cost one fsync instead of N. A request is answered
 * only after the transaction holding its write committed. */
#ifndef RBXD_COMMITQ_H
#define RBXD_COMMITQ_H

#include "db.h"

typedef struct cq_op {
    /* Runs inside the group transaction. DB_OK: its work is in the
     * transaction (or it refused and did nothing); DB_FAIL: the transaction
     * must be rolled back. Must be re-runnable: when a group fails, each of
     * its writes runs again alone in its own transaction. */
    int (*run)(db *d, void *ctx);
    void *ctx;
    int rc;            /* DB_OK once committed, DB_FAIL if not */
    int done;
    struct cq_op *next;
} cq_op;

typedef struct cq cq;

/* Start the committer on connection w (which it owns from now on). */
int cq_start(cq **out, const db_ops *ops, db *w, unsigned max_batch);
/* Queue op and wait until its transaction committed or failed; returns
 * op->rc. */
int cq_submit(cq *q, cq_op *op);
/* Commit what is queued, stop the thread, close the connection. */
void cq_stop(cq *q);

/* Counters for /metrics: groups committed, writes in them, and the commit
 * time histogram (seconds). */
typedef struct cq_stats {
    unsigned long long groups, ops, failures, fallbacks;
    unsigned long long queued;  /* writes waiting now (not yet in a group) */
} cq_stats;
void cq_get_stats(cq *q, cq_stats *out);

#endif
