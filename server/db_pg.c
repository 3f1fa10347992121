/* SPDX-License-Identifier: MIT
 * rbxd on PostgreSQL (libpq, Debian libpq5). Every operation is one call of
 * a SECURITY DEFINER function of server/sql/pg.sql, prepared once per
 * connection, with binary parameters and results: the logic that decides
 * (claims, deliveries, conflicts) is in the database, so several rbxd
 * processes sharing it apply it in the same transactions. Results are read
 * back with their types and lengths checked: a row is outside input.
 * The writer connection of each process also starts a listener connection
 * (LISTEN rbx_mailbox) that wakes this process's long polls when any
 * process delivers. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "db.h"
#include "notify.h"

extern const char rbxd_sql_pg[]; /* server/sql/pg.sql, generated */
int db_pg_migrate(const char *url, char *err, size_t errcap);

/* PostgreSQL type oids (pg_type.h; stable since 7.x). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_TEXT_ARR 1009
#define OID_BYTEA_ARR 1001
#define OID_INT8_ARR 1016

enum {
    P_DEVICE_GET, P_DEVICE_KEYS, P_DEVICES, P_DEVLIST, P_KEY_STATUS, P_FETCH, P_STATS, P_NONCE, P_APPEND,
    P_REREG, P_KEYS, P_CLAIM, P_SEND, P_ACK, P_EXPIRE, P_LINK_GET, P_LINK_PUT, P_COUNT_
};

typedef struct pdef {
    const char *sql;
    int n;
    Oid types[14];
} pdef;

static const pdef pdefs[P_COUNT_] = {
    [P_DEVICE_GET] = {"SELECT identity, registration_id, active FROM rbx.device_get($1, $2)", 2,
                      {OID_TEXT, OID_INT8}},
    [P_DEVICE_KEYS] = {"SELECT identity FROM rbx.device_keys($1)", 1, {OID_INT8}},
    [P_DEVICES] = {"SELECT device, identity, registration_id FROM rbx.devices($1)", 1, {OID_TEXT}},
    [P_DEVLIST] = {"SELECT seq, entry FROM rbx.devlist_get($1, $2)", 2, {OID_TEXT, OID_INT8}},
    [P_KEY_STATUS] = {"SELECT active, otk_max, spk_id, spk_created, spk_uploaded, otk_count "
                      "FROM rbx.key_status($1, $2)", 2, {OID_TEXT, OID_INT8}},
    [P_FETCH] = {"SELECT id, message_id, sender_uid, sender_device, received_at, body, more "
                 "FROM rbx.mailbox_fetch($1, $2, $3, $4, $5, $6)", 6,
                 {OID_TEXT, OID_INT8, OID_INT8, OID_INT8, OID_INT8, OID_INT8}},
    [P_STATS] = {"SELECT users, devices, mbox_count, mbox_bytes, mbox_max, prekeys, low_devices "
                 "FROM rbx.stats($1)", 1, {OID_INT8}},
    [P_NONCE] = {"SELECT rbx.nonce_put($1, $2, $3, $4)", 4, {OID_TEXT, OID_INT8, OID_BYTEA, OID_INT8}},
    [P_APPEND] = {"SELECT rbx.devlist_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                  14, {OID_TEXT, OID_INT8, OID_INT8, OID_BYTEA, OID_BYTEA, OID_INT4, OID_INT8,
                       OID_BYTEA, OID_INT8, OID_BYTEA, OID_INT8, OID_BYTEA, OID_INT8, OID_INT8}},
    [P_REREG] = {"SELECT rbx.reregister($1, $2, $3, $4, $5, $6, $7, $8)", 8,
                 {OID_TEXT, OID_INT8, OID_INT8, OID_BYTEA, OID_INT8, OID_BYTEA, OID_INT8, OID_INT8}},
    [P_KEYS] = {"SELECT status, bad_id, stored FROM rbx.keys_put($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                10, {OID_TEXT, OID_INT8, OID_BYTEA, OID_INT8, OID_BYTEA, OID_INT8, OID_INT8_ARR,
                     OID_BYTEA_ARR, OID_INT8, OID_INT8}},
    [P_CLAIM] = {"SELECT status, retry_after, version, device, registration_id, bundle, otk_id, otk, "
                 "remaining FROM rbx.claim($1, $2, $3, $4, $5, $6, $7)", 7,
                 {OID_TEXT, OID_INT8, OID_TEXT, OID_INT8_ARR, OID_INT8, OID_INT8, OID_INT8}},
    [P_SEND] = {"SELECT status, kind, uid, device FROM rbx.send($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11, $12, $13)", 13,
                {OID_TEXT, OID_INT8, OID_BYTEA, OID_BYTEA, OID_TEXT, OID_TEXT_ARR, OID_INT8_ARR,
                 OID_INT8_ARR, OID_BYTEA_ARR, OID_INT8, OID_INT8, OID_INT8, OID_BOOL}},
    [P_ACK] = {"SELECT rbx.ack($1, $2, $3)", 3, {OID_TEXT, OID_INT8, OID_INT8_ARR}},
    [P_EXPIRE] = {"SELECT messages, nonces, sent, spent FROM rbx.expire($1, $2)", 2,
                  {OID_INT8, OID_INT8}},
    [P_LINK_GET] = {"SELECT request, approval FROM rbx.link_get($1, $2)", 2, {OID_BYTEA, OID_INT8}},
    [P_LINK_PUT] = {"SELECT rbx.link_put($1, $2, $3, $4, $5, $6)", 6,
                    {OID_BYTEA, OID_INT4, OID_BYTEA, OID_INT8, OID_INT8, OID_INT8}},
};

typedef struct listener listener;

struct db {
    PGconn *c;
    int prepared;
    listener *lis;   /* writer only */
};

static void log_pg(const char *what, const PGconn *c, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL) msg = c ? PQerrorMessage(c) : "";
    /* The primary message only: DETAIL lines may quote key values. */
    fprintf(stderr, "rbxd: postgresql: %s: %s %.200s\n", what, state ? state : "-", msg);
}

/* ---------------------------------------------------------------- parameters */

#define MAXP 14

typedef struct params {
    const char *v[MAXP];
    int len[MAXP];
    int fmt[MAXP];
    int n;
    uint8_t num[MAXP][8];
    uint8_t *own[MAXP];
    int bad;
} params;

static void p_free(params *p)
{
    for (int i = 0; i < p->n; i++) free(p->own[i]);
}

static void put_be(uint8_t *o, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) o[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static void p_i64(params *p, int64_t v)
{
    int i = p->n++;
    put_be(p->num[i], (uint64_t)v, 8);
    p->v[i] = (const char *)p->num[i];
    p->len[i] = 8;
    p->fmt[i] = 1;
    p->own[i] = NULL;
}

static void p_i32(params *p, int32_t v)
{
    int i = p->n++;
    put_be(p->num[i], (uint32_t)v, 4);
    p->v[i] = (const char *)p->num[i];
    p->len[i] = 4;
    p->fmt[i] = 1;
    p->own[i] = NULL;
}

static void p_bytes(params *p, const void *b, size_t n)
{
    int i = p->n++;
    p->v[i] = b != NULL ? (const char *)b : "";
    if (n > INT32_MAX) p->bad = 1;
    p->len[i] = (int)n;
    p->fmt[i] = 1;
    p->own[i] = NULL;
}

static void p_text(params *p, const char *s) { p_bytes(p, s, strlen(s)); }

static void p_bool(params *p, int v)
{
    int i = p->n++;
    p->num[i][0] = v ? 1 : 0;
    p->v[i] = (const char *)p->num[i];
    p->len[i] = 1;
    p->fmt[i] = 1;
    p->own[i] = NULL;
}

static void p_null(params *p)
{
    int i = p->n++;
    p->v[i] = NULL;
    p->len[i] = 0;
    p->fmt[i] = 1;
    p->own[i] = NULL;
}

/* A one-dimensional array in PostgreSQL's binary format: ndim, has-null,
 * element oid, then (length, lower bound), then (length, bytes) each. */
static void p_array(params *p, Oid elem, size_t n, const void *const *items, const size_t *lens)
{
    size_t total = 20;
    for (size_t k = 0; k < n; k++) total += 4 + lens[k];
    int i = p->n++;
    uint8_t *b = malloc(total);
    p->own[i] = b;
    p->fmt[i] = 1;
    if (b == NULL || total > INT32_MAX || n > INT32_MAX) {
        p->bad = 1;
        p->v[i] = NULL;
        p->len[i] = 0;
        return;
    }
    put_be(b, 1, 4);
    put_be(b + 4, 0, 4);
    put_be(b + 8, elem, 4);
    put_be(b + 12, n, 4);
    put_be(b + 16, 1, 4);
    size_t o = 20;
    for (size_t k = 0; k < n; k++) {
        put_be(b + o, lens[k], 4);
        memcpy(b + o + 4, items[k], lens[k]);
        o += 4 + lens[k];
    }
    p->v[i] = (const char *)b;
    p->len[i] = (int)total;
}

static void p_arr_i64(params *p, const int64_t *v, size_t n)
{
    uint8_t *nums = malloc((n ? n : 1) * 8);
    const void **items = malloc((n ? n : 1) * sizeof *items);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (nums == NULL || items == NULL || lens == NULL) {
        p->bad = 1;
        p_null(p);
    } else {
        for (size_t k = 0; k < n; k++) {
            put_be(nums + 8 * k, (uint64_t)v[k], 8);
            items[k] = nums + 8 * k;
            lens[k] = 8;
        }
        p_array(p, OID_INT8, n, items, lens);
    }
    free(nums);
    free(items);
    free(lens);
}

/* ---------------------------------------------------------------- results */

static int ok_tuples(PGresult *r, int ncols)
{
    return r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQnfields(r) == ncols;
}

static int g_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col); }

static uint64_t get_be(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | b[i];
    return v;
}

static int g_i64(const PGresult *r, int row, int col, int64_t lo, int64_t hi, int64_t *out)
{
    if (PQgetisnull(r, row, col) || PQftype(r, col) != OID_INT8 || PQgetlength(r, row, col) != 8)
        return DB_FAIL;
    int64_t v = (int64_t)get_be((const uint8_t *)PQgetvalue(r, row, col), 8);
    if (v < lo || v > hi) return DB_FAIL;
    *out = v;
    return DB_OK;
}

static int g_i32(const PGresult *r, int row, int col, int32_t *out)
{
    if (PQgetisnull(r, row, col) || PQftype(r, col) != OID_INT4 || PQgetlength(r, row, col) != 4)
        return DB_FAIL;
    *out = (int32_t)(uint32_t)get_be((const uint8_t *)PQgetvalue(r, row, col), 4);
    return DB_OK;
}

static int g_bool(const PGresult *r, int row, int col, int *out)
{
    if (PQgetisnull(r, row, col) || PQftype(r, col) != OID_BOOL || PQgetlength(r, row, col) != 1)
        return DB_FAIL;
    *out = PQgetvalue(r, row, col)[0] != 0;
    return DB_OK;
}

static int g_bytes_n(const PGresult *r, int row, int col, uint8_t *out, size_t n)
{
    if (PQgetisnull(r, row, col) || PQftype(r, col) != OID_BYTEA ||
        (size_t)PQgetlength(r, row, col) != n)
        return DB_FAIL;
    memcpy(out, PQgetvalue(r, row, col), n);
    return DB_OK;
}

static int g_bytes_dup(const PGresult *r, int row, int col, size_t cap, uint8_t **out, size_t *len)
{
    if (PQgetisnull(r, row, col) || PQftype(r, col) != OID_BYTEA) return DB_FAIL;
    size_t n = (size_t)PQgetlength(r, row, col);
    if (n == 0 || n > cap) return DB_FAIL;
    uint8_t *p = malloc(n);
    if (p == NULL) return DB_FAIL;
    memcpy(p, PQgetvalue(r, row, col), n);
    *out = p;
    *len = n;
    return DB_OK;
}

static int g_user(const PGresult *r, int row, int col, char out[DB_USER_MAX])
{
    if (PQgetisnull(r, row, col) || PQftype(r, col) != OID_TEXT) return DB_FAIL;
    size_t n = (size_t)PQgetlength(r, row, col);
    const char *v = PQgetvalue(r, row, col);
    if (n == 0 || n >= DB_USER_MAX || memchr(v, 0, n) != NULL) return DB_FAIL;
    memcpy(out, v, n);
    out[n] = '\0';
    return DB_OK;
}

#define DEVMAX ((int64_t)RBX_DEVICE_ID_MAX)
#define U32MAX ((int64_t)UINT32_MAX)

/* ---------------------------------------------------------------- connection */

static int prepare_all(db *d)
{
    for (int i = 0; i < P_COUNT_; i++) {
        char name[16];
        snprintf(name, sizeof name, "rbx%d", i);
        PGresult *r = PQprepare(d->c, name, pdefs[i].sql, pdefs[i].n, pdefs[i].types);
        int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) log_pg("prepare", d->c, r);
        PQclear(r);
        if (!ok) return DB_FAIL;
    }
    d->prepared = 1;
    return DB_OK;
}

/* A broken connection is reset (and its statements prepared again) before
 * its next use. */
static int ensure(db *d)
{
    if (PQstatus(d->c) == CONNECTION_OK && d->prepared) return DB_OK;
    if (PQstatus(d->c) != CONNECTION_OK) {
        PQreset(d->c);
        if (PQstatus(d->c) != CONNECTION_OK) {
            log_pg("reconnect", d->c, NULL);
            return DB_FAIL;
        }
        d->prepared = 0;
    }
    return prepare_all(d);
}

static PGresult *exec(db *d, int which, params *p)
{
    if (p->bad || ensure(d) != DB_OK) {
        p_free(p);
        return NULL;
    }
    char name[16];
    snprintf(name, sizeof name, "rbx%d", which);
    PGresult *r = PQexecPrepared(d->c, name, p->n, p->v, p->len, p->fmt, 1);
    p_free(p);
    if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_pg("call", d->c, r);
        PQclear(r);
        return NULL;
    }
    return r;
}

static int simple(db *d, const char *sql)
{
    PGresult *r = PQexec(d->c, sql);
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) log_pg(sql, d->c, r);
    PQclear(r);
    return ok ? DB_OK : DB_FAIL;
}

/* ---------------------------------------------------------------- listener */

struct listener {
    char *url;
    pthread_t thread;
    volatile int stop;
    int wake[2]; /* a pipe: listen_stop ends the poll at once */
};

static PGconn *listen_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexec(c, "LISTEN rbx_mailbox");
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void *listen_main(void *arg)
{
    listener *l = arg;
    PGconn *c = NULL;
    while (!l->stop) {
        if (c == NULL) {
            c = listen_connect(l->url);
            if (c == NULL) {
                struct pollfd w = {l->wake[0], POLLIN, 0};
                (void)poll(&w, 1, 1000); /* retry in a second, or stop */
                continue;
            }
            /* Notifications sent while we were not listening are lost:
             * let every long poll look again. */
            notify_wake_all();
        }
        struct pollfd pfd[2] = {{PQsocket(c), POLLIN, 0}, {l->wake[0], POLLIN, 0}};
        int pr = poll(pfd, 2, 1000);
        if (pr < 0 && errno != EINTR) break;
        if (l->stop) break;
        if (pr > 0 && (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) && PQconsumeInput(c) == 0) {
            PQfinish(c);
            c = NULL;
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            /* Payload "<user> <device>", written by rbx.send. */
            char user[DB_USER_MAX];
            const char *sp = strchr(n->extra, ' ');
            if (sp != NULL && (size_t)(sp - n->extra) < sizeof user) {
                memcpy(user, n->extra, (size_t)(sp - n->extra));
                user[sp - n->extra] = '\0';
                unsigned long dev = strtoul(sp + 1, NULL, 10);
                notify_wake(user, (uint32_t)dev);
            }
            PQfreemem(n);
        }
    }
    PQfinish(c);
    return NULL;
}

static listener *listen_start(const char *url)
{
    listener *l = calloc(1, sizeof *l);
    if (l == NULL || (l->url = strdup(url)) == NULL) {
        free(l);
        return NULL;
    }
    if (pipe(l->wake) != 0) {
        free(l->url);
        free(l);
        return NULL;
    }
    if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
        close(l->wake[0]);
        close(l->wake[1]);
        free(l->url);
        free(l);
        return NULL;
    }
    return l;
}

static void listen_stop(listener *l)
{
    if (l == NULL) return;
    l->stop = 1;
    char b = 1;
    if (write(l->wake[1], &b, 1) != 1) { /* the poll's timeout ends it anyway */
    }
    pthread_join(l->thread, NULL);
    close(l->wake[0]);
    close(l->wake[1]);
    free(l->url);
    free(l);
}

/* ---------------------------------------------------------------- open, migrate */

/* PostgreSQL's NOTICEs ("relation already exists, skipping" when the
 * idempotent migration runs again) are not errors: they are dropped. */
static void no_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int run_migration(PGconn *c, char *err, size_t errcap)
{
    PQsetNoticeProcessor(c, no_notice, NULL);
    /* One transaction under an advisory lock: processes starting together
     * install the schema once. */
    const char *steps[] = {"BEGIN", "SELECT pg_advisory_xact_lock(7262836)", rbxd_sql_pg, "COMMIT"};
    for (size_t i = 0; i < 4; i++) {
        PGresult *r = PQexec(c, steps[i]);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
            snprintf(err, errcap, "installing the schema failed: %.200s (install server/sql/pg.sql "
                                  "as the database owner: rbxd --migrate)",
                     m ? m : PQerrorMessage(c));
            PQclear(r);
            PGresult *rb = PQexec(c, "ROLLBACK");
            PQclear(rb);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

int db_pg_migrate(const char *url, char *err, size_t errcap)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errcap, "cannot connect to PostgreSQL: %.200s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    int rc = run_migration(c, err, errcap);
    PQfinish(c);
    return rc;
}

/* The schema version, 0 if the schema is missing, -1 on error. */
static int64_t schema_version(PGconn *c)
{
    PGresult *r = PQexecParams(c, "SELECT rbx.schema_version()", 0, NULL, NULL, NULL, NULL, 1);
    int64_t v = -1;
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        g_i64(r, 0, 0, 0, INT64_MAX, &v) == DB_OK) {
    } else {
        const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        /* 3F000 no such schema, 42883 no such function. */
        if (st != NULL && (strcmp(st, "3F000") == 0 || strcmp(st, "42883") == 0)) v = 0;
    }
    PQclear(r);
    return v;
}

static int pg_open(db **out, const char *url, int writer, char *err, size_t errcap)
{
    *out = NULL;
    db *d = calloc(1, sizeof *d);
    if (d == NULL) {
        snprintf(err, errcap, "out of memory");
        return DB_FAIL;
    }
    d->c = PQconnectdb(url);
    if (PQstatus(d->c) != CONNECTION_OK) {
        /* libpq's message names host and database, never the password. */
        snprintf(err, errcap, "cannot connect to PostgreSQL: %.200s", PQerrorMessage(d->c));
        PQfinish(d->c);
        free(d);
        return DB_FAIL;
    }
    int64_t v = schema_version(d->c);
    if (v == 0 && writer) {
        if (run_migration(d->c, err, errcap) != 0) {
            PQfinish(d->c);
            free(d);
            return DB_FAIL;
        }
        v = schema_version(d->c);
    }
    if (v != 1) {
        snprintf(err, errcap, v == 0 ? "the rbx schema is not installed (rbxd --migrate)"
                                     : "not an rbxd database of schema version 1");
        PQfinish(d->c);
        free(d);
        return DB_FAIL;
    }
    if (prepare_all(d) != DB_OK) {
        snprintf(err, errcap, "cannot prepare the rbx functions (is this role a member of rbxd_app?)");
        PQfinish(d->c);
        free(d);
        return DB_FAIL;
    }
    if (writer && (d->lis = listen_start(url)) == NULL) {
        snprintf(err, errcap, "cannot start the LISTEN thread");
        PQfinish(d->c);
        free(d);
        return DB_FAIL;
    }
    *out = d;
    return DB_OK;
}

static void pg_close(db *d)
{
    if (d == NULL) return;
    listen_stop(d->lis);
    PQfinish(d->c);
    free(d);
}

static int pg_begin(db *d)
{
    if (ensure(d) != DB_OK) return DB_FAIL;
    return simple(d, "BEGIN");
}

static int pg_commit(db *d)
{
    PGresult *r = PQexec(d->c, "COMMIT");
    /* COMMIT of a transaction that failed answers "ROLLBACK". */
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    if (!ok) log_pg("COMMIT", d->c, r);
    PQclear(r);
    return ok ? DB_OK : DB_FAIL;
}

static void pg_rollback(db *d)
{
    if (PQstatus(d->c) == CONNECTION_OK && PQtransactionStatus(d->c) != PQTRANS_IDLE)
        (void)simple(d, "ROLLBACK");
}

/* ---------------------------------------------------------------- reads */

static int pg_device_get(db *d, const char *user, uint32_t device, db_device *out, int *found)
{
    memset(out, 0, sizeof *out);
    *found = 0;
    params p = {0};
    p_text(&p, user);
    p_i64(&p, device);
    PGresult *r = exec(d, P_DEVICE_GET, &p);
    if (!ok_tuples(r, 3)) {
        PQclear(r);
        return DB_FAIL;
    }
    int ret = DB_OK;
    if (PQntuples(r) == 1) {
        int64_t reg;
        int act;
        if (g_bytes_n(r, 0, 0, out->identity, DB_KEYBYTES) != DB_OK ||
            g_i64(r, 0, 1, 0, U32MAX, &reg) != DB_OK || g_bool(r, 0, 2, &act) != DB_OK)
            ret = DB_FAIL;
        else {
            out->id = device;
            out->registration_id = (uint32_t)reg;
            out->active = act;
            *found = 1;
        }
    } else if (PQntuples(r) != 0)
        ret = DB_FAIL;
    PQclear(r);
    return ret;
}

static int pg_device_keys(db *d, uint32_t device, uint8_t (**keys)[DB_KEYBYTES], size_t *n)
{
    *keys = NULL;
    *n = 0;
    params p = {0};
    p_i64(&p, device);
    PGresult *r = exec(d, P_DEVICE_KEYS, &p);
    if (!ok_tuples(r, 1) || PQntuples(r) > 16) {
        PQclear(r);
        return DB_FAIL;
    }
    int rows = PQntuples(r), ret = DB_OK;
    uint8_t (*v)[DB_KEYBYTES] = malloc(16 * sizeof *v);
    if (v == NULL) ret = DB_FAIL;
    for (int i = 0; i < rows && ret == DB_OK; i++) ret = g_bytes_n(r, i, 0, v[i], DB_KEYBYTES);
    PQclear(r);
    if (ret != DB_OK) {
        free(v);
        return ret;
    }
    *keys = v;
    *n = (size_t)rows;
    return DB_OK;
}

static int pg_devices(db *d, const char *user, db_device **devs, size_t *n, uint64_t *head)
{
    *devs = NULL;
    *n = 0;
    params p = {0};
    p_text(&p, user);
    PGresult *r = exec(d, P_DEVICES, &p);
    if (!ok_tuples(r, 3) || PQntuples(r) < 1) {
        PQclear(r);
        return DB_FAIL;
    }
    int64_t h;
    int rows = PQntuples(r);
    db_device *v = calloc((size_t)rows, sizeof *v);
    int ret = (v != NULL && g_i64(r, 0, 0, 0, INT64_MAX, &h) == DB_OK) ? DB_OK : DB_FAIL;
    for (int i = 1; i < rows && ret == DB_OK; i++) {
        int64_t dev = 0, reg = 0;
        db_device *x = &v[i - 1];
        if (g_i64(r, i, 0, 1, DEVMAX, &dev) != DB_OK ||
            g_bytes_n(r, i, 1, x->identity, DB_KEYBYTES) != DB_OK ||
            g_i64(r, i, 2, 0, U32MAX, &reg) != DB_OK)
            ret = DB_FAIL;
        x->id = (uint32_t)dev;
        x->registration_id = (uint32_t)reg;
        x->active = 1;
    }
    PQclear(r);
    if (ret != DB_OK) {
        free(v);
        return ret;
    }
    *devs = v;
    *n = (size_t)rows - 1;
    *head = (uint64_t)h;
    return DB_OK;
}

static int pg_devlist_get(db *d, const char *user, uint64_t since, db_entry **out, size_t *n,
                          uint64_t *head)
{
    *out = NULL;
    *n = 0;
    params p = {0};
    p_text(&p, user);
    p_i64(&p, since > INT64_MAX ? INT64_MAX : (int64_t)since);
    PGresult *r = exec(d, P_DEVLIST, &p);
    if (!ok_tuples(r, 2) || PQntuples(r) < 1) {
        PQclear(r);
        return DB_FAIL;
    }
    int rows = PQntuples(r);
    int64_t h;
    db_entry *v = calloc((size_t)rows, sizeof *v);
    int ret = (v != NULL && g_i64(r, 0, 0, 0, INT64_MAX, &h) == DB_OK) ? DB_OK : DB_FAIL;
    size_t cnt = 0;
    for (int i = 1; i < rows && ret == DB_OK; i++) {
        int64_t seq;
        if (g_i64(r, i, 0, 1, INT64_MAX, &seq) != DB_OK ||
            g_bytes_dup(r, i, 1, RBX_DEVLIST_ENTRY_MAXBYTES, &v[cnt].bytes, &v[cnt].len) != DB_OK)
            ret = DB_FAIL;
        else
            v[cnt++].seq = (uint64_t)seq;
    }
    PQclear(r);
    if (ret != DB_OK) {
        db_entries_free(v, cnt);
        return ret;
    }
    *out = v;
    *n = cnt;
    *head = (uint64_t)h;
    return DB_OK;
}

static int pg_key_status(db *d, const char *user, uint32_t device, db_key_status *out)
{
    memset(out, 0, sizeof *out);
    params p = {0};
    p_text(&p, user);
    p_i64(&p, device);
    PGresult *r = exec(d, P_KEY_STATUS, &p);
    if (!ok_tuples(r, 6) || PQntuples(r) != 1) {
        PQclear(r);
        return DB_FAIL;
    }
    int act, ret = DB_OK;
    int64_t mx, id = 0, cr = 0, up = 0, cnt;
    if (g_bool(r, 0, 0, &act) != DB_OK) ret = DB_FAIL;
    else if (act) {
        if (g_i64(r, 0, 1, 0, U32MAX, &mx) != DB_OK || g_i64(r, 0, 5, 0, U32MAX, &cnt) != DB_OK ||
            (!g_null(r, 0, 2) &&
             (g_i64(r, 0, 2, 0, U32MAX, &id) != DB_OK || g_i64(r, 0, 3, 0, INT64_MAX, &cr) != DB_OK ||
              g_i64(r, 0, 4, 0, INT64_MAX, &up) != DB_OK)))
            ret = DB_FAIL;
        else {
            out->count = (uint32_t)cnt;
            out->max_id = (uint32_t)mx;
            out->spk_id = (uint32_t)id;
            out->spk_created = (uint64_t)cr;
            out->spk_uploaded = up;
        }
    }
    PQclear(r);
    return ret;
}

static int pg_mailbox_fetch(db *d, const char *user, uint32_t device, int64_t after, uint32_t limit,
                            uint64_t max_bytes, int64_t cutoff, db_item **items, size_t *n, int *more)
{
    *items = NULL;
    *n = 0;
    *more = 0;
    params p = {0};
    p_text(&p, user);
    p_i64(&p, device);
    p_i64(&p, after);
    p_i64(&p, limit);
    p_i64(&p, max_bytes > INT64_MAX ? INT64_MAX : (int64_t)max_bytes);
    p_i64(&p, cutoff);
    PGresult *r = exec(d, P_FETCH, &p);
    if (!ok_tuples(r, 7) || PQntuples(r) > (int)limit) {
        PQclear(r);
        return DB_FAIL;
    }
    int rows = PQntuples(r), ret = DB_OK;
    db_item *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
    if (v == NULL) ret = DB_FAIL;
    size_t cnt = 0;
    for (int i = 0; i < rows && ret == DB_OK; i++) {
        db_item *x = &v[i];
        int64_t sd;
        if (g_i64(r, i, 0, 1, INT64_MAX, &x->id) != DB_OK ||
            g_bytes_n(r, i, 1, x->message_id, DB_MSGIDBYTES) != DB_OK ||
            g_user(r, i, 2, x->sender_user) != DB_OK || g_i64(r, i, 3, 1, DEVMAX, &sd) != DB_OK ||
            g_i64(r, i, 4, 0, INT64_MAX, &x->received_at) != DB_OK ||
            g_bytes_dup(r, i, 5, SIZE_MAX, &x->body, &x->len) != DB_OK || g_bool(r, i, 6, more) != DB_OK)
            ret = DB_FAIL;
        else {
            x->sender_device = (uint32_t)sd;
            cnt++;
        }
    }
    PQclear(r);
    if (ret != DB_OK) {
        db_items_free(v, cnt);
        *more = 0;
        return ret;
    }
    *items = v;
    *n = cnt;
    return DB_OK;
}

static int pg_stats(db *d, uint32_t low, db_stats *out)
{
    memset(out, 0, sizeof *out);
    params p = {0};
    p_i64(&p, low);
    PGresult *r = exec(d, P_STATS, &p);
    if (!ok_tuples(r, 7) || PQntuples(r) != 1) {
        PQclear(r);
        return DB_FAIL;
    }
    int64_t v[7];
    int ret = DB_OK;
    for (int i = 0; i < 7 && ret == DB_OK; i++)
        if (g_i64(r, 0, i, 0, INT64_MAX, &v[i]) != DB_OK) ret = DB_FAIL;
    PQclear(r);
    if (ret != DB_OK) return ret;
    out->users = (uint64_t)v[0];
    out->devices = (uint64_t)v[1];
    out->mailbox_messages = (uint64_t)v[2];
    out->mailbox_bytes = (uint64_t)v[3];
    out->mailbox_max_depth = (uint64_t)v[4];
    out->prekeys = (uint64_t)v[5];
    out->low_devices = (uint64_t)v[6];
    return DB_OK;
}

/* ---------------------------------------------------------------- writes */

/* A call that returns one value in one row. */
static PGresult *one_row(db *d, int which, params *p, int ncols)
{
    PGresult *r = exec(d, which, p);
    if (!ok_tuples(r, ncols) || PQntuples(r) != 1) {
        PQclear(r);
        return NULL;
    }
    return r;
}

static int pg_nonce_put(db *d, const char *user, uint32_t device, const uint8_t nonce[DB_NONCEBYTES],
                        int64_t expires, int *fresh)
{
    *fresh = 0;
    params p = {0};
    p_text(&p, user);
    p_i64(&p, device);
    p_bytes(&p, nonce, DB_NONCEBYTES);
    p_i64(&p, expires);
    PGresult *r = one_row(d, P_NONCE, &p, 1);
    int ret = (r != NULL && g_bool(r, 0, 0, fresh) == DB_OK) ? DB_OK : DB_FAIL;
    PQclear(r);
    return ret;
}

static void p_bundle(params *p, const db_bundle_in *b)
{
    if (b == NULL) {
        p_null(p);
        p_null(p);
        p_null(p);
        p_null(p);
        return;
    }
    p_bytes(p, b->bytes, b->len);
    p_i64(p, b->spk_id);
    p_bytes(p, b->spk, DB_KEYBYTES);
    p_i64(p, (int64_t)b->spk_created);
}

static int pg_devlist_append(db *d, const db_append *a, int *status)
{
    *status = DB_APPEND_CONFLICT;
    for (size_t i = 0; i < a->n; i++) {
        const db_change *c = &a->changes[i];
        params p = {0};
        p_text(&p, a->user);
        p_i64(&p, (int64_t)(a->expect_head + i));
        p_i64(&p, (int64_t)c->seq);
        p_bytes(&p, c->hash, DB_HASHBYTES);
        p_bytes(&p, c->entry, c->entry_len);
        p_i32(&p, (int32_t)c->op);
        p_i64(&p, c->device);
        p_bytes(&p, c->identity, DB_KEYBYTES);
        p_i64(&p, a->registration_id);
        p_bundle(&p, c->op == RBX_DEVLIST_REMOVE ? NULL : a->bundle);
        p_i64(&p, a->now);
        PGresult *r = one_row(d, P_APPEND, &p, 1);
        int32_t st;
        if (r == NULL || g_i32(r, 0, 0, &st) != DB_OK) {
            PQclear(r);
            return DB_FAIL;
        }
        PQclear(r);
        if (st != 0) {
            /* Only the first can conflict: a later one would have failed
             * the whole call (every change of one append is one request's). */
            return i == 0 ? DB_OK : DB_FAIL;
        }
    }
    *status = DB_APPEND_OK;
    return DB_OK;
}

static int pg_reregister(db *d, const db_rereg *rr, int *found)
{
    *found = 0;
    params p = {0};
    p_text(&p, rr->user);
    p_i64(&p, rr->device);
    p_i64(&p, rr->registration_id);
    p_bundle(&p, rr->bundle);
    p_i64(&p, rr->now);
    PGresult *r = one_row(d, P_REREG, &p, 1);
    int ret = (r != NULL && g_bool(r, 0, 0, found) == DB_OK) ? DB_OK : DB_FAIL;
    PQclear(r);
    return ret;
}

static int pg_keys_put(db *d, const db_keys_put *k, db_keys_res *res)
{
    memset(res, 0, sizeof *res);
    size_t n = k->n;
    int64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    const void **items = malloc((n ? n : 1) * sizeof *items);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (ids == NULL || items == NULL || lens == NULL) {
        free(ids);
        free(items);
        free(lens);
        return DB_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = k->ids[i];
        items[i] = k->keys[i];
        lens[i] = DB_KEYBYTES;
    }
    params p = {0};
    p_text(&p, k->user);
    p_i64(&p, k->device);
    p_bundle(&p, k->bundle);
    p_arr_i64(&p, ids, n);
    p_array(&p, OID_BYTEA, n, items, lens);
    p_i64(&p, k->max_stored);
    p_i64(&p, k->now);
    free(ids);
    free(items);
    free(lens);
    PGresult *r = one_row(d, P_KEYS, &p, 3);
    int32_t st;
    int64_t bad, stored;
    int ret = (r != NULL && g_i32(r, 0, 0, &st) == DB_OK && g_i64(r, 0, 1, 0, U32MAX, &bad) == DB_OK &&
               g_i64(r, 0, 2, 0, U32MAX, &stored) == DB_OK && st >= 0 && st <= DB_KEYS_NO_DEVICE)
                  ? DB_OK
                  : DB_FAIL;
    PQclear(r);
    if (ret == DB_OK) {
        res->status = st;
        res->bad_id = (uint32_t)bad;
        res->stored = (uint32_t)stored;
    }
    return ret;
}

static int pg_claim(db *d, const db_claim *c, db_claim_res *res)
{
    memset(res, 0, sizeof *res);
    params p = {0};
    p_text(&p, c->req_user);
    p_i64(&p, c->req_device);
    p_text(&p, c->user);
    if (c->devices != NULL) {
        int64_t dv[RBX_DEVLIST_MAX_DEVICES];
        size_t nd = c->ndevices < RBX_DEVLIST_MAX_DEVICES ? c->ndevices : RBX_DEVLIST_MAX_DEVICES;
        for (size_t i = 0; i < nd; i++) dv[i] = c->devices[i];
        if (nd != c->ndevices) p.bad = 1;
        p_arr_i64(&p, dv, nd);
    } else
        p_null(&p);
    p_i64(&p, c->now);
    p_i64(&p, c->burst);
    p_i64(&p, c->interval);
    PGresult *r = exec(d, P_CLAIM, &p);
    if (!ok_tuples(r, 9) || PQntuples(r) < 1) {
        PQclear(r);
        return DB_FAIL;
    }
    int rows = PQntuples(r), ret = DB_OK;
    int32_t st;
    int64_t ver, ra;
    if (g_i32(r, 0, 0, &st) != DB_OK || g_i64(r, 0, 1, 0, INT64_MAX, &ra) != DB_OK ||
        g_i64(r, 0, 2, 0, INT64_MAX, &ver) != DB_OK) {
        PQclear(r);
        return DB_FAIL;
    }
    res->version = (uint64_t)ver;
    res->status = st;
    if (st == DB_CLAIM_LIMITED) res->retry_after = ra;
    else if (st == DB_CLAIM_NO_DEVICE) {
        int64_t bd;
        if (g_i64(r, 0, 3, 1, DEVMAX, &bd) != DB_OK) ret = DB_FAIL;
        res->bad_device = (uint32_t)bd;
    } else if (st == DB_CLAIM_OK) {
        res->items = calloc((size_t)rows, sizeof *res->items);
        if (res->items == NULL) ret = DB_FAIL;
        for (int i = 0; i < rows && ret == DB_OK; i++) {
            db_claimed *it = &res->items[i];
            int64_t dev, reg, left, oid;
            int32_t s2;
            if (g_i32(r, i, 0, &s2) != DB_OK || s2 != 0 || g_i64(r, i, 3, 1, DEVMAX, &dev) != DB_OK ||
                g_i64(r, i, 4, 0, U32MAX, &reg) != DB_OK ||
                g_bytes_dup(r, i, 5, RBX_BUNDLE_MAXBYTES, &it->bundle, &it->bundle_len) != DB_OK ||
                g_i64(r, i, 8, 0, U32MAX, &left) != DB_OK) {
                ret = DB_FAIL;
                res->n = (size_t)i + 1;
                break;
            }
            it->device = (uint32_t)dev;
            it->registration_id = (uint32_t)reg;
            it->remaining = (uint32_t)left;
            if (!g_null(r, i, 6)) {
                if (g_i64(r, i, 6, 0, U32MAX, &oid) != DB_OK ||
                    g_bytes_n(r, i, 7, it->otk, DB_KEYBYTES) != DB_OK) {
                    ret = DB_FAIL;
                    res->n = (size_t)i + 1;
                    break;
                }
                it->has_otk = 1;
                it->otk_id = (uint32_t)oid;
            }
            res->n = (size_t)i + 1;
        }
    } else if (st != DB_CLAIM_NO_USER)
        ret = DB_FAIL;
    PQclear(r);
    if (ret != DB_OK) db_claim_res_free(res);
    return ret;
}

static int push_addr(db_addr **v, size_t *n, const PGresult *r, int row)
{
    db_addr *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (nv == NULL) return DB_FAIL;
    *v = nv;
    int64_t dev;
    if (g_user(r, row, 2, nv[*n].user) != DB_OK || g_i64(r, row, 3, 1, DEVMAX, &dev) != DB_OK)
        return DB_FAIL;
    nv[*n].device = (uint32_t)dev;
    (*n)++;
    return DB_OK;
}

static int pg_send(db *d, const db_send *m, db_send_res *res)
{
    memset(res, 0, sizeof *res);
    size_t n = m->n;
    const void **users = malloc((n ? n : 1) * sizeof *users);
    const void **bodies = malloc((n ? n : 1) * sizeof *bodies);
    size_t *ulens = malloc((n ? n : 1) * sizeof *ulens);
    size_t *blens = malloc((n ? n : 1) * sizeof *blens);
    int64_t *devs = malloc((n ? n : 1) * sizeof *devs);
    int64_t *regs = malloc((n ? n : 1) * sizeof *regs);
    int ret = DB_FAIL;
    PGresult *r = NULL;
    if (users == NULL || bodies == NULL || ulens == NULL || blens == NULL || devs == NULL ||
        regs == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        users[i] = m->env[i].user;
        ulens[i] = strlen(m->env[i].user);
        bodies[i] = m->env[i].body;
        blens[i] = m->env[i].len;
        devs[i] = m->env[i].device;
        regs[i] = m->env[i].registration_id;
    }
    params p = {0};
    p_text(&p, m->sender_user);
    p_i64(&p, m->sender_device);
    p_bytes(&p, m->message_id, DB_MSGIDBYTES);
    p_bytes(&p, m->body_hash, DB_HASHBYTES);
    p_text(&p, m->to);
    p_array(&p, OID_TEXT, n, users, ulens);
    p_arr_i64(&p, devs, n);
    p_arr_i64(&p, regs, n);
    p_array(&p, OID_BYTEA, n, bodies, blens);
    p_i64(&p, m->now);
    p_i64(&p, m->mbox_max);
    p_i64(&p, m->mbox_max_bytes > INT64_MAX ? INT64_MAX : (int64_t)m->mbox_max_bytes);
    p_bool(&p, m->targeted);
    r = exec(d, P_SEND, &p);
    if (!ok_tuples(r, 4) || PQntuples(r) < 1) goto out;
    int32_t st, kind;
    if (g_i32(r, 0, 0, &st) != DB_OK || g_i32(r, 0, 1, &kind) != DB_OK) goto out;
    ret = DB_OK;
    switch (st) {
    case 0:
        res->status = DB_SEND_OK;
        res->stored = (uint32_t)kind;
        break;
    case 1: res->status = DB_SEND_DUPLICATE; break;
    case 3: res->status = DB_SEND_ID_CONFLICT; break;
    case 5: res->status = DB_SEND_NO_USER; break;
    case 2:
    case 4:
        res->status = st == 2 ? DB_SEND_MISMATCH : DB_SEND_FULL;
        for (int i = 0; i < PQntuples(r) && ret == DB_OK; i++) {
            int32_t s2, k2;
            if (g_i32(r, i, 0, &s2) != DB_OK || s2 != st || g_i32(r, i, 1, &k2) != DB_OK) {
                ret = DB_FAIL;
                break;
            }
            if (st == 4) ret = push_addr(&res->full, &res->nfull, r, i);
            else if (k2 == 1) ret = push_addr(&res->missing, &res->nmissing, r, i);
            else if (k2 == 2) ret = push_addr(&res->extra, &res->nextra, r, i);
            else if (k2 == 3) ret = push_addr(&res->stale, &res->nstale, r, i);
            else ret = DB_FAIL;
        }
        break;
    default: ret = DB_FAIL; break;
    }
out:
    PQclear(r);
    free(users);
    free(bodies);
    free(ulens);
    free(blens);
    free(devs);
    free(regs);
    if (ret != DB_OK) db_send_res_free(res);
    return ret;
}

static int pg_ack(db *d, const char *user, uint32_t device, const int64_t *ids, size_t n,
                  uint64_t *deleted)
{
    *deleted = 0;
    params p = {0};
    p_text(&p, user);
    p_i64(&p, device);
    p_arr_i64(&p, ids, n);
    PGresult *r = one_row(d, P_ACK, &p, 1);
    int64_t v;
    int ret = (r != NULL && g_i64(r, 0, 0, 0, INT64_MAX, &v) == DB_OK) ? DB_OK : DB_FAIL;
    PQclear(r);
    if (ret == DB_OK) *deleted = (uint64_t)v;
    return ret;
}

static int pg_expire(db *d, int64_t now, int64_t retention, db_expire_res *res)
{
    memset(res, 0, sizeof *res);
    params p = {0};
    p_i64(&p, now);
    p_i64(&p, retention);
    PGresult *r = one_row(d, P_EXPIRE, &p, 4);
    int64_t v[4];
    int ret = r != NULL ? DB_OK : DB_FAIL;
    for (int i = 0; i < 4 && ret == DB_OK; i++)
        if (g_i64(r, 0, i, 0, INT64_MAX, &v[i]) != DB_OK) ret = DB_FAIL;
    PQclear(r);
    if (ret == DB_OK) {
        res->messages = (uint64_t)v[0];
        res->nonces = (uint64_t)v[1];
        res->sent = (uint64_t)v[2];
        res->spent = (uint64_t)v[3];
    }
    return ret;
}

static int pg_link_get(db *d, const uint8_t id[DB_LINK_IDBYTES], int64_t now, uint8_t **req,
                       size_t *reqlen, uint8_t **appr, size_t *apprlen, int *found)
{
    *req = *appr = NULL;
    *reqlen = *apprlen = 0;
    *found = 0;
    params p = {0};
    p_bytes(&p, id, DB_LINK_IDBYTES);
    p_i64(&p, now);
    PGresult *r = exec(d, P_LINK_GET, &p);
    int ret = DB_FAIL;
    if (!ok_tuples(r, 2) || PQntuples(r) > 1) goto out;
    ret = DB_OK;
    if (PQntuples(r) == 1) {
        if (g_bytes_dup(r, 0, 0, 1U << 16, req, reqlen) != DB_OK ||
            (!g_null(r, 0, 1) && g_bytes_dup(r, 0, 1, 1U << 16, appr, apprlen) != DB_OK)) {
            ret = DB_FAIL;
            free(*req);
            free(*appr);
            *req = *appr = NULL;
            *reqlen = *apprlen = 0;
        } else {
            *found = 1;
        }
    }
out:
    PQclear(r);
    return ret;
}

static int pg_link_put(db *d, const db_link_put *l, int *status)
{
    params p = {0};
    p_bytes(&p, l->id, DB_LINK_IDBYTES);
    p_i32(&p, l->slot);
    p_bytes(&p, l->data, l->len);
    p_i64(&p, l->now);
    p_i64(&p, l->expires);
    p_i64(&p, l->max_links > INT64_MAX ? INT64_MAX : (int64_t)l->max_links);
    PGresult *r = one_row(d, P_LINK_PUT, &p, 1);
    int32_t v;
    int ret = (r != NULL && g_i32(r, 0, 0, &v) == DB_OK && v >= DB_LINK_OK && v <= DB_LINK_FULL)
                  ? DB_OK : DB_FAIL;
    PQclear(r);
    if (ret == DB_OK) *status = v;
    return ret;
}

const db_ops db_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .device_get = pg_device_get,
    .device_keys = pg_device_keys,
    .devices = pg_devices,
    .devlist_get = pg_devlist_get,
    .key_status = pg_key_status,
    .mailbox_fetch = pg_mailbox_fetch,
    .stats = pg_stats,
    .link_get = pg_link_get,
    .link_put = pg_link_put,
    .nonce_put = pg_nonce_put,
    .devlist_append = pg_devlist_append,
    .reregister = pg_reregister,
    .keys_put = pg_keys_put,
    .claim = pg_claim,
    .send = pg_send,
    .ack = pg_ack,
    .expire = pg_expire,
};
