/* SPDX-License-Identifier: MIT
 * server.h: the reader pool, the clock and the sweep. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "server.h"

struct server_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    db **free_conns;   /* stack of idle connections (NULL slots: to reconnect) */
    size_t nfree, total;
};

int server_open(server *S, char *err, size_t errcap)
{
    S->ops = db_backend(S->cfg.db);
    if (S->ops == NULL) {
        snprintf(err, errcap, "db: expected sqlite:PATH or postgresql://...");
        return -1;
    }
    db *w = NULL;
    if (S->ops->open(&w, S->cfg.db, 1, err, errcap) != DB_OK) return -1;
    struct server_pool *p = calloc(1, sizeof *p);
    size_t n = (size_t)S->cfg.readers;
    if (p == NULL || (p->free_conns = calloc(n, sizeof *p->free_conns)) == NULL) {
        free(p);
        S->ops->close(w);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->total = n;
    for (size_t i = 0; i < n; i++) {
        if (S->ops->open(&p->free_conns[i], S->cfg.db, 0, err, errcap) != DB_OK) {
            for (size_t j = 0; j < i; j++) S->ops->close(p->free_conns[j]);
            free(p->free_conns);
            free(p);
            S->ops->close(w);
            return -1;
        }
    }
    p->nfree = n;
    S->pool = p;
    if (cq_start(&S->queue, S->ops, w, (unsigned)S->cfg.max_batch) != 0) {
        for (size_t j = 0; j < n; j++) S->ops->close(p->free_conns[j]);
        free(p->free_conns);
        free(p);
        S->pool = NULL;
        S->ops->close(w);
        snprintf(err, errcap, "cannot start the commit queue");
        return -1;
    }
    return 0;
}

void server_close(server *S)
{
    cq_stop(S->queue);
    S->queue = NULL;
    struct server_pool *p = S->pool;
    if (p != NULL) {
        for (size_t i = 0; i < p->nfree; i++) S->ops->close(p->free_conns[i]);
        free(p->free_conns);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        S->pool = NULL;
    }
}

db *server_reader(server *S)
{
    struct server_pool *p = S->pool;
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0) pthread_cond_wait(&p->cv, &p->mu);
    db *d = p->free_conns[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (d == NULL) {
        /* Reconnect a connection that broke earlier. */
        char err[256];
        if (S->ops->open(&d, S->cfg.db, 0, err, sizeof err) != DB_OK) {
            fprintf(stderr, "rbxd: reader: %s\n", err);
            pthread_mutex_lock(&p->mu);
            p->free_conns[p->nfree++] = NULL;
            pthread_cond_signal(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
    return d;
}

void server_reader_put(server *S, db *d, int broken)
{
    struct server_pool *p = S->pool;
    if (broken && d != NULL) {
        S->ops->close(d);
        d = NULL;
    }
    pthread_mutex_lock(&p->mu);
    p->free_conns[p->nfree++] = d;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

int64_t server_now(const server *S)
{
    if (S->cfg.test_clock[0] == '\0') return (int64_t)time(NULL);
    /* Test only: the clock is the decimal number in this file, so that a
     * test moves time for skew, rate limits and retention without waiting. */
    int fd = open(S->cfg.test_clock, O_RDONLY | O_CLOEXEC);
    char buf[32];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

typedef struct sweep_ctx {
    server *S;
    int64_t now;
    db_expire_res res;
} sweep_ctx;

static int sweep_run(db *d, void *ctx)
{
    sweep_ctx *c = ctx;
    return c->S->ops->expire(d, c->now, (int64_t)c->S->cfg.retention, &c->res);
}

int server_sweep(server *S)
{
    sweep_ctx c = {S, server_now(S), {0, 0, 0, 0}};
    cq_op op = {sweep_run, &c, 0, 0, NULL};
    if (cq_submit(S->queue, &op) != DB_OK) return -1;
    metrics_sweep(&c.res);
    return 0;
}
