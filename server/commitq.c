/* SPDX-License-Identifier: MIT
 * The commit queue (commitq.h). One committer thread, one writer connection.
 * While it commits group k, new writes queue up and form group k + 1, so the
 * group size follows the load by itself: one write alone is committed at
 * once, 64 concurrent writes share a handful of fsyncs. No timer: waiting
 * for more writes would add latency at low load and gain nothing at high
 * load. */
#include <pthread.h>
#include <stdlib.h>

#include "commitq.h"
#include "metrics.h"

struct cq {
    const db_ops *ops;
    db *w;
    unsigned max_batch;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    cq_op *head, *tail;
    int stop;
    pthread_t thread;
    cq_stats stats;
};

/* Run ops[0..n) in one transaction; 1 if it committed. */
static int run_group(cq *q, cq_op **ops, size_t n)
{
    if (q->ops->begin(q->w) != DB_OK) {
        q->ops->rollback(q->w);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        ops[i]->rc = ops[i]->run(q->w, ops[i]->ctx);
        if (ops[i]->rc != DB_OK) {
            q->ops->rollback(q->w);
            return 0;
        }
    }
    if (q->ops->commit(q->w) != DB_OK) {
        q->ops->rollback(q->w);
        return 0;
    }
    return 1;
}

static void *committer(void *arg)
{
    cq *q = arg;
    cq_op **batch = malloc(q->max_batch * sizeof *batch);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (q->head == NULL && !q->stop) pthread_cond_wait(&q->work, &q->mu);
        if (q->head == NULL && q->stop) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        size_t n = 0;
        while (q->head != NULL && n < q->max_batch && batch != NULL) {
            batch[n++] = q->head;
            q->head = q->head->next;
            q->stats.queued--;
        }
        if (q->head == NULL) q->tail = NULL;
        pthread_mutex_unlock(&q->mu);
        if (batch == NULL) { /* out of memory at start: fail everything queued */
            pthread_mutex_lock(&q->mu);
            for (cq_op *o = q->head; o != NULL; o = o->next) {
                o->rc = DB_FAIL;
                o->done = 1;
            }
            q->head = q->tail = NULL;
            q->stats.queued = 0;
            pthread_cond_broadcast(&q->done);
            pthread_mutex_unlock(&q->mu);
            continue;
        }
        double t0 = metrics_now();
        int ok = run_group(q, batch, n);
        int fallback = 0;
        if (!ok) {
            /* One write failed, or the commit did (a deadlock between two
             * rbxd processes on PostgreSQL, a lost connection): nothing of
             * the group is committed. Run each write alone so that one bad
             * write fails only its own request; a transient failure gets
             * one more try. */
            fallback = 1;
            for (size_t i = 0; i < n; i++) {
                int good = run_group(q, &batch[i], 1);
                if (!good) good = run_group(q, &batch[i], 1);
                if (!good) batch[i]->rc = DB_FAIL;
            }
        }
        metrics_commit(metrics_now() - t0, n);
        pthread_mutex_lock(&q->mu);
        q->stats.groups++;
        q->stats.ops += n;
        if (fallback) q->stats.fallbacks++;
        for (size_t i = 0; i < n; i++) {
            if (batch[i]->rc != DB_OK) q->stats.failures++;
            batch[i]->done = 1;
        }
        pthread_cond_broadcast(&q->done);
        pthread_mutex_unlock(&q->mu);
    }
    free(batch);
    return NULL;
}

int cq_start(cq **out, const db_ops *ops, db *w, unsigned max_batch)
{
    *out = NULL;
    cq *q = calloc(1, sizeof *q);
    if (q == NULL) return -1;
    q->ops = ops;
    q->w = w;
    q->max_batch = max_batch ? max_batch : 1;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    if (pthread_create(&q->thread, NULL, committer, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->work);
        pthread_cond_destroy(&q->done);
        free(q);
        return -1;
    }
    *out = q;
    return 0;
}

int cq_submit(cq *q, cq_op *op)
{
    op->rc = DB_FAIL;
    op->done = 0;
    op->next = NULL;
    pthread_mutex_lock(&q->mu);
    if (q->stop) {
        pthread_mutex_unlock(&q->mu);
        return DB_FAIL;
    }
    if (q->tail) q->tail->next = op;
    else q->head = op;
    q->tail = op;
    q->stats.queued++;
    pthread_cond_signal(&q->work);
    while (!op->done) pthread_cond_wait(&q->done, &q->mu);
    pthread_mutex_unlock(&q->mu);
    return op->rc;
}

void cq_stop(cq *q)
{
    if (q == NULL) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    q->ops->close(q->w);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    free(q);
}

void cq_get_stats(cq *q, cq_stats *out)
{
    pthread_mutex_lock(&q->mu);
    *out = q->stats;
    pthread_mutex_unlock(&q->mu);
}
