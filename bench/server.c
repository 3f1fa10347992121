/* SPDX-License-Identifier: MIT
 * make bench-server: rbxd's deliveries per second and latency at 1, 8 and 64
 * concurrent clients, on SQLite and on PostgreSQL, against the floor
 * measured in the same run: the same SQL (the storage layer's nonce_put and
 * send, the statements rbxd runs per delivery) with one commit per delivery
 * and no HTTP, no JSON, no signature check. bench/server.sh runs this
 * program once per backend (starting a throwaway PostgreSQL) and writes
 * bench/results/server.{json,txt}.
 *
 * Method: one delivery = one POST /v1/messages from a sender device to a
 * recipient user with one device, one 256-byte envelope (the size of a
 * streamed agent delta). Each client is its own sender and recipient pair
 * (no two clients contend on a mailbox). Requests are signed before the
 * clock starts (the client's XEdDSA would otherwise share the 2 cores with
 * the server it measures); the server verifies every signature. Each client
 * sends its requests back to back on one keep-alive connection; latency is
 * per request, measured by the client; the rate is all deliveries over the
 * wall time from the first request to the last response. Every response is
 * checked (200, stored 1) and the server's own delivery counter must match.
 * Each case runs 3 times (--reps), the cases interleaved; every number is
 * the median over the repetitions, with the rates' min and max. */
#define _DEFAULT_SOURCE 1
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common.h"
#include "db.h"
#include "rbxc.h"

#define BODY_BYTES 256U
#define MAX_CLIENTS 64U

static int quick;
static int reps = 3;
static const char *backend = "sqlite";
static const char *pg_url, *pg_admin;
static char scratch[CMP_PATH_CAP];

typedef struct client {
    rbxc_dev s, r;
    char **auth;          /* pre-signed Authorization values */
    char **body;
    size_t n;
    double *lat_us;
    const rbxc_server *srv;
    pthread_barrier_t *go;
    int failures;
} client;

static double now_us(void) { return cmp_now_us(); }

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    CMP_CHECK(p != NULL);
    return p;
}

/* The request body and its pre-signed Authorization for message k. */
static void prepare(client *c, size_t k, unsigned tag)
{
    uint8_t mid[16], payload[BODY_BYTES];
    memset(mid, 0, sizeof mid);
    memcpy(mid, &tag, sizeof tag);
    memcpy(mid + 8, &k, sizeof k < 8 ? sizeof k : 8);
    randombytes_buf(payload, sizeof payload);
    json_t *env = json_pack("[{s:s, s:I, s:I, s:o}]", "user", c->r.user, "device", (json_int_t)c->r.id,
                            "registration_id", (json_int_t)c->r.regid, "body",
                            rbxc_b64(payload, sizeof payload));
    json_t *o = json_pack("{s:o, s:s, s:o}", "message_id", rbxc_b64(mid, 16), "to", c->r.user,
                          "envelopes", env);
    c->body[k] = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    uint8_t nonce[16], sig[64];
    randombytes_buf(nonce, sizeof nonce);
    uint64_t ts = (uint64_t)time(NULL);
    CMP_CHECK(rbx_request_sign(sig, "POST", "/v1/messages", ts, nonce, (const uint8_t *)c->body[k],
                               strlen(c->body[k]), c->s.user, c->s.id, c->s.sk) == 0);
    char nb[32], sb[100], h[512];
    sodium_bin2base64(nb, sizeof nb, nonce, 16, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sb, sizeof sb, sig, 64, sodium_base64_VARIANT_ORIGINAL);
    CMP_CHECK((size_t)snprintf(h, sizeof h, "RBX-Sig user=\"%.63s\", device=%u, ts=%llu, nonce=\"%.31s\", "
                               "sig=\"%.99s\"", c->s.user, c->s.id, (unsigned long long)ts, nb, sb) < sizeof h);
    c->auth[k] = xstrdup(h);
}

static void *client_main(void *arg)
{
    client *c = arg;
    rbxc_conn conn;
    rbxc_conn_init(&conn, c->srv, NULL);
    /* One request before the clock: the connection is open when it starts. */
    rbxc_resp r;
    rbxc_call(&conn, NULL, "GET", "/healthz", NULL, 0, NULL, &r);
    CMP_CHECK(r.status == 200);
    rbxc_resp_free(&r);
    pthread_barrier_wait(c->go);
    for (size_t k = 0; k < c->n; k++) {
        rbxc_opts o;
        memset(&o, 0, sizeof o);
        o.auth = c->auth[k];
        double t0 = now_us();
        rbxc_call(&conn, &c->s, "POST", "/v1/messages", c->body[k], strlen(c->body[k]), &o, &r);
        c->lat_us[k] = now_us() - t0;
        if (r.status != 200 || json_integer_value(json_object_get(r.json, "stored")) != 1) {
            if (c->failures++ < 3) fprintf(stderr, "bench-server: status %ld %s\n", r.status, r.body);
        }
        rbxc_resp_free(&r);
    }
    pthread_barrier_wait(c->go);
    rbxc_conn_free(&conn);
    return NULL;
}

typedef struct point {
    unsigned clients;
    size_t deliveries;
    double seconds, rate, p50_us, p99_us;
    double groups, writes; /* from /metrics: mean group size */
} point;

static double percentile(double *v, size_t n, double p)
{
    cmp_sort(v, n);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void fresh_db(char *dbu, size_t cap, const char *tag)
{
    if (strcmp(backend, "pg") == 0) {
        setenv("RBXD_TEST_PG", pg_url, 1);
        setenv("RBXD_TEST_PG_ADMIN", pg_admin, 1);
        rbxc_db_fresh(dbu, cap, scratch);
    } else {
        char dir[CMP_PATH_CAP + 64];
        snprintf(dir, sizeof dir, "%s/%s", scratch, tag);
        char cmd[CMP_PATH_CAP * 3];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
        CMP_CHECK(system(cmd) == 0);
        snprintf(dbu, cap, "sqlite:%s/rbxd.sqlite", dir);
    }
}

/* Scrape one counter from /metrics. */
static double scrape(const rbxc_server *s, const char *name)
{
    rbxc_conn c;
    rbxc_conn_init(&c, s, NULL);
    rbxc_resp r;
    rbxc_call(&c, NULL, "GET", "/metrics", NULL, 0, NULL, &r);
    CMP_CHECK(r.status == 200);
    double v = -1;
    size_t nl = strlen(name);
    for (char *p = r.body; p && *p;) {
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ') v = strtod(p + nl + 1, NULL);
        p = strchr(p, '\n');
        if (p) p++;
    }
    rbxc_resp_free(&r);
    rbxc_conn_free(&c);
    return v;
}

static point run_http(unsigned nclients, size_t per_client)
{
    char dbu[1024], tag[32];
    snprintf(tag, sizeof tag, "http%u", nclients);
    fresh_db(dbu, sizeof dbu, tag);
    rbxc_server srv;
    const char *extra[] = {"--skew", "3600", "--readers", "4", NULL}; /* the default readers */
    char dir[CMP_PATH_CAP + 64];
    snprintf(dir, sizeof dir, "%s/%s", scratch, tag);
    char cmd[CMP_PATH_CAP * 3];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CMP_CHECK(system(cmd) == 0);
    CMP_CHECK(rbxc_server_start(&srv, dir, dbu, extra) == 0);
    static client cl[MAX_CLIENTS];
    rbxc_conn setup;
    rbxc_conn_init(&setup, &srv, NULL);
    for (unsigned i = 0; i < nclients; i++) {
        char su[32], ru[32];
        snprintf(su, sizeof su, "s%u", i);
        snprintf(ru, sizeof ru, "r%u", i);
        memset(&cl[i], 0, sizeof cl[i]);
        rbxc_dev_new(&cl[i].s, su);
        rbxc_dev_new(&cl[i].r, ru);
        rbxc_list l;
        CMP_CHECK(rbxc_enroll_first(&setup, &cl[i].s, &l, 0) == 200);
        CMP_CHECK(rbxc_enroll_first(&setup, &cl[i].r, &l, 0) == 200);
        cl[i].n = per_client;
        cl[i].auth = calloc(per_client, sizeof *cl[i].auth);
        cl[i].body = calloc(per_client, sizeof *cl[i].body);
        cl[i].lat_us = calloc(per_client, sizeof *cl[i].lat_us);
        CMP_CHECK(cl[i].auth && cl[i].body && cl[i].lat_us);
        for (size_t k = 0; k < per_client; k++) prepare(&cl[i], k, i);
        cl[i].srv = &srv;
    }
    rbxc_conn_free(&setup);
    double g0 = scrape(&srv, "rbxd_commit_duration_seconds_count"),
           w0 = scrape(&srv, "rbxd_commit_writes_total");
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, nclients + 1);
    pthread_t th[MAX_CLIENTS];
    for (unsigned i = 0; i < nclients; i++) {
        cl[i].go = &go;
        CMP_CHECK(pthread_create(&th[i], NULL, client_main, &cl[i]) == 0);
    }
    pthread_barrier_wait(&go);
    double t0 = now_us();
    pthread_barrier_wait(&go);
    double t1 = now_us();
    for (unsigned i = 0; i < nclients; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    point p = {nclients, (size_t)nclients * per_client, (t1 - t0) / 1e6, 0, 0, 0, 0, 0};
    p.rate = (double)p.deliveries / p.seconds;
    double *all = malloc(p.deliveries * sizeof *all);
    CMP_CHECK(all != NULL);
    size_t k = 0;
    for (unsigned i = 0; i < nclients; i++) {
        CMP_CHECK(cl[i].failures == 0);
        memcpy(all + k, cl[i].lat_us, per_client * sizeof *all);
        k += per_client;
    }
    p.p50_us = percentile(all, k, 0.50);
    p.p99_us = percentile(all, k, 0.99);
    free(all);
    double delivered = scrape(&srv, "rbxd_deliveries_total");
    CMP_CHECK(delivered == (double)p.deliveries);
    p.groups = scrape(&srv, "rbxd_commit_duration_seconds_count") - g0;
    p.writes = scrape(&srv, "rbxd_commit_writes_total") - w0;
    CMP_CHECK(rbxc_server_stop(&srv) == 0);
    for (unsigned i = 0; i < nclients; i++) {
        for (size_t j = 0; j < per_client; j++) {
            free(cl[i].auth[j]);
            free(cl[i].body[j]);
        }
        free(cl[i].auth);
        free(cl[i].body);
        free(cl[i].lat_us);
        rbxc_dev_free(&cl[i].s);
        rbxc_dev_free(&cl[i].r);
    }
    return p;
}

/* The floor: the storage layer's statements for one delivery (the nonce,
 * then the send with its device-set check, mailbox insert, counters and
 * idempotency record), one transaction and one commit per delivery, one
 * connection, no HTTP. group > 1: that many deliveries per commit (what
 * group commit could reach at best). */
static point run_floor(size_t n, unsigned group)
{
    char dbu[1024];
    fresh_db(dbu, sizeof dbu, group > 1 ? "floor-group" : "floor");
    const db_ops *ops = db_backend(dbu);
    CMP_CHECK(ops != NULL);
    db *d = NULL;
    char err[256];
    CMP_CHECK(ops->open(&d, dbu, 1, err, sizeof err) == DB_OK || (fprintf(stderr, "%s\n", err), 0));
    /* A sender and a recipient, as rows (the floor checks no signature). */
    static const char *users[2] = {"s0", "r0"};
    uint8_t bundle[64];
    memset(bundle, 7, sizeof bundle);
    db_bundle_in bin = {bundle, sizeof bundle, 1, {0}, 0};
    for (int u = 0; u < 2; u++) {
        db_change ch;
        memset(&ch, 0, sizeof ch);
        ch.seq = 1;
        ch.entry = bundle;
        ch.entry_len = sizeof bundle;
        ch.op = RBX_DEVLIST_ADD;
        ch.device = 100U + (uint32_t)u;
        db_append a = {users[u], 0, &ch, 1, 5, &bin, (int64_t)time(NULL)};
        int st;
        CMP_CHECK(ops->begin(d) == DB_OK && ops->devlist_append(d, &a, &st) == DB_OK &&
                  st == DB_APPEND_OK && ops->commit(d) == DB_OK);
    }
    uint8_t payload[BODY_BYTES];
    randombytes_buf(payload, sizeof payload);
    double *lat = malloc(n * sizeof *lat);
    CMP_CHECK(lat != NULL);
    double t0 = now_us();
    for (size_t k = 0; k < n; k += group) {
        double s = now_us();
        CMP_CHECK(ops->begin(d) == DB_OK);
        for (size_t j = k; j < k + group && j < n; j++) {
            uint8_t nonce[16];
            memset(nonce, 0, sizeof nonce);
            memcpy(nonce, &j, sizeof j);
            int fresh;
            CMP_CHECK(ops->nonce_put(d, "s0", 100, nonce, (int64_t)time(NULL) + 600, &fresh) == DB_OK &&
                      fresh);
            db_envelope e = {"r0", 101, 5, payload, sizeof payload};
            db_send m;
            memset(&m, 0, sizeof m);
            m.sender_user = "s0";
            m.sender_device = 100;
            memcpy(m.message_id, &j, sizeof j);
            m.to = "r0";
            m.env = &e;
            m.n = 1;
            m.now = (int64_t)time(NULL);
            m.mbox_max = 100000000;
            m.mbox_max_bytes = UINT64_MAX / 2;
            db_send_res res;
            CMP_CHECK(ops->send(d, &m, &res) == DB_OK && res.status == DB_SEND_OK);
            db_send_res_free(&res);
        }
        CMP_CHECK(ops->commit(d) == DB_OK);
        double dt = now_us() - s;
        for (size_t j = k; j < k + group && j < n; j++) lat[j] = dt;
    }
    double t1 = now_us();
    ops->close(d);
    point p = {1, n, (t1 - t0) / 1e6, 0, 0, 0, 0, 0};
    p.rate = (double)n / p.seconds;
    p.p50_us = percentile(lat, n, 0.50);
    p.p99_us = percentile(lat, n, 0.99);
    free(lat);
    return p;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) backend = argv[++i];
        else if (strcmp(argv[i], "--pg") == 0 && i + 1 < argc) pg_url = argv[++i];
        else if (strcmp(argv[i], "--pg-admin") == 0 && i + 1 < argc) pg_admin = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-server --backend sqlite|pg [--pg URL --pg-admin URL] "
                            "[--out FILE.json] [--reps N] [--quick]\n");
            return 64;
        }
    }
    if (strcmp(backend, "pg") == 0 && (pg_url == NULL || pg_admin == NULL)) {
        fprintf(stderr, "bench-server: --backend pg needs --pg and --pg-admin\n");
        return 64;
    }
    if (quick) reps = 1;
    CMP_CHECK(reps >= 1 && reps <= 64);
    CMP_CHECK(rbx_init() == 0 && curl_global_init(CURL_GLOBAL_ALL) == 0);
    rbxc_use_test_clock = 0; /* requests are signed with the real time */
    /* Databases on the repository's disk (build/), as bench/common.c's
     * scratch directories: a tmpfs /tmp would fake the fsyncs. */
    snprintf(scratch, sizeof scratch, "build/bench-server-XXXXXX");
    CMP_CHECK(mkdtemp(scratch) != NULL);
    /* Quick mode (make check: the harness runs, nothing is timed) keeps the
     * set-up small: 1, 2 and 4 clients. */
    static const unsigned full_counts[] = {1, 8, 64}, quick_counts[] = {1, 2, 4};
    const unsigned *counts = quick ? quick_counts : full_counts;
    /* Requests per client: enough for a second or more at each point. */
    size_t per[3] = {quick ? 20 : 1500, quick ? 10 : 500, quick ? 4 : 100};
    size_t floor_n = quick ? 20 : 2000;
    /* Repetitions interleave the cases (floor, SQL groups, 1, 8, 64
     * clients; again ...) so that drift of a shared machine hits all of
     * them; each number reported is the median over the repetitions. */
    enum { NCASE = 5 };
    point *rep[NCASE];
    for (int k = 0; k < NCASE; k++) CMP_CHECK((rep[k] = calloc((size_t)reps, sizeof *rep[k])) != NULL);
    for (int r = 0; r < reps; r++) {
        rep[0][r] = run_floor(floor_n, 1);
        rep[1][r] = run_floor(floor_n * (quick ? 1 : 4), 64);
        for (int i = 0; i < 3; i++) rep[2 + i][r] = run_http(counts[i], per[i]);
    }
    point med[NCASE];
    double lo[NCASE], hi[NCASE];
    for (int k = 0; k < NCASE; k++) {
        double v[64], a[64], b[64], g[64];
        for (int r = 0; r < reps; r++) {
            v[r] = rep[k][r].rate;
            a[r] = rep[k][r].p50_us;
            b[r] = rep[k][r].p99_us;
            g[r] = rep[k][r].groups > 0 ? rep[k][r].writes / rep[k][r].groups : 0;
        }
        med[k] = rep[k][0];
        cmp_stats(v, (size_t)reps, &med[k].rate, &lo[k], &hi[k]);
        med[k].p50_us = cmp_median(a, (size_t)reps);
        med[k].p99_us = cmp_median(b, (size_t)reps);
        med[k].groups = 1;
        med[k].writes = cmp_median(g, (size_t)reps);
    }
    point floor = med[0], ceiling = med[1], *pts = med + 2;
    char cpu[128];
    cmp_cpu_model(cpu, sizeof cpu);
    printf("backend %s (%s), %u-byte envelopes, median of %d repetitions, CPU: %s\n", backend,
           strcmp(backend, "pg") == 0 ? "PostgreSQL 15, synchronous_commit on"
                                      : "SQLite WAL, synchronous=FULL",
           BODY_BYTES, reps, cpu);
    printf("%-34s %12s %17s %8s %8s %8s %6s\n", "case", "deliveries/s", "(min-max)", "p50 ms", "p99 ms",
           "of floor", "group");
    static const char *const names[NCASE] = {"floor: SQL, 1 commit per delivery",
                                              "SQL, 64 deliveries per commit", NULL, NULL, NULL};
    for (int k = 0; k < NCASE; k++) {
        char name[64], range[40];
        if (names[k]) snprintf(name, sizeof name, "%s", names[k]);
        else snprintf(name, sizeof name, "rbxd over HTTP, %u client%s", med[k].clients,
                      med[k].clients > 1 ? "s" : "");
        snprintf(range, sizeof range, "(%.0f-%.0f)", lo[k], hi[k]);
        printf("%-34s %12.0f %17s %8.2f %8.2f %7.0f%% %6.1f\n", name, med[k].rate, range, med[k].p50_us / 1e3,
               med[k].p99_us / 1e3, 100.0 * med[k].rate / floor.rate, k >= 2 ? med[k].writes : (k == 1 ? 64.0 : 1.0));
    }
    if (!quick)
        printf("target: 64 clients at >= 50%% of the floor: %s (%.0f%%)\n",
               pts[2].rate >= 0.5 * floor.rate ? "met" : "NOT MET", 100.0 * pts[2].rate / floor.rate);
    if (out != NULL) {
        FILE *f = fopen(out, "w");
        CMP_CHECK(f != NULL);
        fprintf(f, "{\"backend\":\"%s\",\"cpu\":\"%s\",\"envelope_bytes\":%u,\"quick\":%s,\"reps\":%d,\n",
                backend, cpu, BODY_BYTES, quick ? "true" : "false", reps);
        fprintf(f, " \"floor\":{\"deliveries\":%zu,\"per_second\":%.1f,\"min\":%.1f,\"max\":%.1f,"
                   "\"p50_ms\":%.3f,\"p99_ms\":%.3f},\n",
                floor.deliveries, floor.rate, lo[0], hi[0], floor.p50_us / 1e3, floor.p99_us / 1e3);
        fprintf(f, " \"sql_group_64\":{\"deliveries\":%zu,\"per_second\":%.1f,\"min\":%.1f,\"max\":%.1f,"
                   "\"p50_ms\":%.3f,\"p99_ms\":%.3f},\n",
                ceiling.deliveries, ceiling.rate, lo[1], hi[1], ceiling.p50_us / 1e3, ceiling.p99_us / 1e3);
        fprintf(f, " \"http\":[");
        for (int i = 0; i < 3; i++)
            fprintf(f, "%s\n  {\"clients\":%u,\"deliveries\":%zu,\"per_second\":%.1f,\"min\":%.1f,"
                       "\"max\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"of_floor\":%.3f,\"mean_group\":%.2f}",
                    i ? "," : "", pts[i].clients, pts[i].deliveries, pts[i].rate, lo[2 + i], hi[2 + i],
                    pts[i].p50_us / 1e3, pts[i].p99_us / 1e3, pts[i].rate / floor.rate, pts[i].writes);
        fprintf(f, "]}\n");
        CMP_CHECK(fclose(f) == 0);
    }
    for (int k = 0; k < NCASE; k++) free(rep[k]);
    char cmd[CMP_PATH_CAP + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    CMP_CHECK(system(cmd) == 0);
    curl_global_cleanup();
    return 0;
}
