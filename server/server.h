/* SPDX-License-Identifier: MIT
 * One rbxd process: its settings, storage backend, reader connections,
 * commit queue and clock (server.c). api.c handles requests against it;
 * http.c and main.c do the I/O. */
#ifndef RBXD_SERVER_H
#define RBXD_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "commitq.h"
#include "config.h"
#include "db.h"

typedef struct server {
    rbxd_config cfg;
    const db_ops *ops;
    cq *queue;
    atomic_int draining;
    /* reader pool (server.c) */
    struct server_pool *pool;
} server;

/* Open the writer (it creates or checks the schema), the readers and the
 * commit queue. err: a reason without secrets. */
int server_open(server *S, char *err, size_t errcap);
void server_close(server *S);

/* A reader connection for this thread; NULL if none can be had (the
 * database is down). Put it back with broken = 1 after a DB_FAIL, so that
 * it is reconnected before its next use. */
db *server_reader(server *S);
void server_reader_put(server *S, db *d, int broken);

/* The server's clock, Unix seconds: time(), or with the test-only setting
 * test_clock the integer in that file (spec/SERVER.md section 12.2). */
int64_t server_now(const server *S);

/* One retention sweep through the commit queue. 0 or -1. */
int server_sweep(server *S);

#endif
