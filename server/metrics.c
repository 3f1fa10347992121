/* SPDX-License-Identifier: MIT
 * Counters behind one mutex: a request takes it once, at its end, which
 * costs far less than the request's signature check. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

static const char *const ep_names[EP_COUNT_] = {
    [EP_UNKNOWN] = "unknown",
    [EP_HEALTHZ] = "healthz",
    [EP_METRICS] = "metrics",
    [EP_ENROLL] = "enroll",
    [EP_DEVLIST_GET] = "devicelist_get",
    [EP_DEVLIST_APPEND] = "devicelist_append",
    [EP_KEYS_PUT] = "keys_put",
    [EP_KEYS_GET] = "keys_get",
    [EP_BUNDLES] = "bundles",
    [EP_SEND] = "send",
    [EP_MAILBOX] = "mailbox",
    [EP_ACK] = "ack",
    [EP_LINK_GET] = "link_get",
    [EP_LINK_PUT] = "link_put",
};

const char *metrics_endpoint_name(api_endpoint ep)
{
    return (ep >= 0 && ep < EP_COUNT_) ? ep_names[ep] : "unknown";
}

/* Statuses rbxd answers with (spec/SERVER.md section 4); anything else is
 * counted as status "other". */
static const int statuses[] = {200, 304, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1)

/* Latency buckets in seconds. */
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10,  30};
#define NBUCKET (sizeof buckets / sizeof buckets[0])

typedef struct hist {
    uint64_t b[NBUCKET + 1]; /* last: +Inf */
    double sum;
    uint64_t count;
} hist;

static struct {
    pthread_mutex_t mu;
    uint64_t req[EP_COUNT_][NSTATUS];
    hist lat[EP_COUNT_];
    hist commit;
    uint64_t commit_ops;
    int64_t inflight, longpoll;
    uint64_t claims_otk, claims_none, rate_limited, deliveries;
    uint64_t sweeps, expired_messages;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER};

void metrics_init(void)
{
    pthread_mutex_lock(&M.mu);
    memset(M.req, 0, sizeof M.req);
    memset(M.lat, 0, sizeof M.lat);
    pthread_mutex_unlock(&M.mu);
}

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void hist_add(hist *h, double v)
{
    size_t i = 0;
    while (i < NBUCKET && v > buckets[i]) i++;
    h->b[i]++;
    h->sum += v;
    h->count++;
}

void metrics_request(api_endpoint ep, int status, double seconds)
{
    if (ep < 0 || ep >= EP_COUNT_) ep = EP_UNKNOWN;
    size_t si = NSTATUS - 1;
    for (size_t i = 0; i + 1 < NSTATUS; i++)
        if (statuses[i] == status) si = i;
    pthread_mutex_lock(&M.mu);
    M.req[ep][si]++;
    hist_add(&M.lat[ep], seconds);
    pthread_mutex_unlock(&M.mu);
}

void metrics_inflight(int delta)
{
    pthread_mutex_lock(&M.mu);
    M.inflight += delta;
    pthread_mutex_unlock(&M.mu);
}

int64_t metrics_inflight_now(void)
{
    pthread_mutex_lock(&M.mu);
    int64_t v = M.inflight;
    pthread_mutex_unlock(&M.mu);
    return v;
}

void metrics_longpoll(int delta)
{
    pthread_mutex_lock(&M.mu);
    M.longpoll += delta;
    pthread_mutex_unlock(&M.mu);
}

void metrics_commit(double seconds, size_t ops)
{
    pthread_mutex_lock(&M.mu);
    hist_add(&M.commit, seconds);
    M.commit_ops += ops;
    pthread_mutex_unlock(&M.mu);
}

void metrics_claims(uint64_t with_otk, uint64_t without_otk)
{
    pthread_mutex_lock(&M.mu);
    M.claims_otk += with_otk;
    M.claims_none += without_otk;
    pthread_mutex_unlock(&M.mu);
}

void metrics_rate_limited(void)
{
    pthread_mutex_lock(&M.mu);
    M.rate_limited++;
    pthread_mutex_unlock(&M.mu);
}

void metrics_deliveries(uint64_t envelopes)
{
    pthread_mutex_lock(&M.mu);
    M.deliveries += envelopes;
    pthread_mutex_unlock(&M.mu);
}

void metrics_sweep(const db_expire_res *r)
{
    pthread_mutex_lock(&M.mu);
    M.sweeps++;
    M.expired_messages += r->messages;
    pthread_mutex_unlock(&M.mu);
}

uint64_t metrics_sweeps(void)
{
    pthread_mutex_lock(&M.mu);
    uint64_t v = M.sweeps;
    pthread_mutex_unlock(&M.mu);
    return v;
}

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int bad;
} sbuf;

__attribute__((format(printf, 2, 3))) static void put(sbuf *b, const char *fmt, ...)
{
    if (b->bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->bad = 1;
            return;
        }
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = b->cap * 2 + (size_t)k;
        char *np = realloc(b->p, nc);
        if (np == NULL) {
            b->bad = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

static void put_hist(sbuf *b, const char *name, const char *labels, const hist *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i < NBUCKET; i++) {
        cum += h->b[i];
        put(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, buckets[i],
            (unsigned long long)cum);
    }
    cum += h->b[NBUCKET];
    put(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)cum);
    if (labels[0]) {
        put(b, "%s_sum{%s} %.6f\n", name, labels, h->sum);
        put(b, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
    } else {
        put(b, "%s_sum %.6f\n", name, h->sum);
        put(b, "%s_count %llu\n", name, (unsigned long long)h->count);
    }
}

char *metrics_render(const db_stats *st, size_t *len)
{
    sbuf b = {malloc(16384), 0, 16384, 0};
    if (b.p == NULL) return NULL;
    pthread_mutex_lock(&M.mu);
    put(&b, "# HELP rbxd_requests_total HTTP requests by endpoint and status.\n"
            "# TYPE rbxd_requests_total counter\n");
    for (int e = 0; e < EP_COUNT_; e++)
        for (size_t s = 0; s < NSTATUS; s++) {
            if (M.req[e][s] == 0) continue;
            if (s + 1 < NSTATUS)
                put(&b, "rbxd_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n", ep_names[e],
                    statuses[s], (unsigned long long)M.req[e][s]);
            else
                put(&b, "rbxd_requests_total{endpoint=\"%s\",status=\"other\"} %llu\n",
                    ep_names[e], (unsigned long long)M.req[e][s]);
        }
    put(&b, "# HELP rbxd_request_duration_seconds Time from the request line to the response.\n"
            "# TYPE rbxd_request_duration_seconds histogram\n");
    for (int e = 0; e < EP_COUNT_; e++) {
        if (M.lat[e].count == 0) continue;
        char lab[64];
        snprintf(lab, sizeof lab, "endpoint=\"%s\"", ep_names[e]);
        put_hist(&b, "rbxd_request_duration_seconds", lab, &M.lat[e]);
    }
    put(&b, "# HELP rbxd_commit_duration_seconds Time of one group commit (all its writes).\n"
            "# TYPE rbxd_commit_duration_seconds histogram\n");
    put_hist(&b, "rbxd_commit_duration_seconds", "", &M.commit);
    put(&b, "# HELP rbxd_commit_writes_total Writes committed in groups (over groups: the mean group size).\n"
            "# TYPE rbxd_commit_writes_total counter\nrbxd_commit_writes_total %llu\n",
        (unsigned long long)M.commit_ops);
    put(&b, "# HELP rbxd_inflight_requests Requests being handled.\n"
            "# TYPE rbxd_inflight_requests gauge\nrbxd_inflight_requests %lld\n",
        (long long)M.inflight);
    put(&b, "# HELP rbxd_longpoll_waiting Mailbox fetches waiting for a message.\n"
            "# TYPE rbxd_longpoll_waiting gauge\nrbxd_longpoll_waiting %lld\n",
        (long long)M.longpoll);
    put(&b, "# HELP rbxd_claims_total Bundles handed out, with and without a one-time prekey.\n"
            "# TYPE rbxd_claims_total counter\n"
            "rbxd_claims_total{one_time=\"yes\"} %llu\nrbxd_claims_total{one_time=\"no\"} %llu\n",
        (unsigned long long)M.claims_otk, (unsigned long long)M.claims_none);
    put(&b, "# HELP rbxd_claims_rate_limited_total Bundle requests refused by the rate limit.\n"
            "# TYPE rbxd_claims_rate_limited_total counter\nrbxd_claims_rate_limited_total %llu\n",
        (unsigned long long)M.rate_limited);
    put(&b, "# HELP rbxd_deliveries_total Envelopes stored in mailboxes.\n"
            "# TYPE rbxd_deliveries_total counter\nrbxd_deliveries_total %llu\n",
        (unsigned long long)M.deliveries);
    put(&b, "# HELP rbxd_sweeps_total Retention sweeps run.\n"
            "# TYPE rbxd_sweeps_total counter\nrbxd_sweeps_total %llu\n",
        (unsigned long long)M.sweeps);
    put(&b, "# HELP rbxd_expired_messages_total Messages removed by the retention sweep.\n"
            "# TYPE rbxd_expired_messages_total counter\nrbxd_expired_messages_total %llu\n",
        (unsigned long long)M.expired_messages);
    pthread_mutex_unlock(&M.mu);
    put(&b, "# HELP rbxd_db_up 1 if the storage gauges below could be read.\n"
            "# TYPE rbxd_db_up gauge\nrbxd_db_up %d\n",
        st != NULL);
    if (st != NULL) {
        put(&b, "# HELP rbxd_users Users with at least one active device.\n"
                "# TYPE rbxd_users gauge\nrbxd_users %llu\n",
            (unsigned long long)st->users);
        put(&b, "# HELP rbxd_devices Active devices.\n"
                "# TYPE rbxd_devices gauge\nrbxd_devices %llu\n",
            (unsigned long long)st->devices);
        put(&b, "# HELP rbxd_prekeys_available One-time prekeys held, all devices.\n"
                "# TYPE rbxd_prekeys_available gauge\nrbxd_prekeys_available %llu\n",
            (unsigned long long)st->prekeys);
        put(&b, "# HELP rbxd_prekeys_low_devices Active devices whose supply is below the low mark.\n"
                "# TYPE rbxd_prekeys_low_devices gauge\nrbxd_prekeys_low_devices %llu\n",
            (unsigned long long)st->low_devices);
        put(&b, "# HELP rbxd_mailbox_messages Messages waiting in mailboxes.\n"
                "# TYPE rbxd_mailbox_messages gauge\nrbxd_mailbox_messages %llu\n",
            (unsigned long long)st->mailbox_messages);
        put(&b, "# HELP rbxd_mailbox_bytes Bytes of messages waiting in mailboxes.\n"
                "# TYPE rbxd_mailbox_bytes gauge\nrbxd_mailbox_bytes %llu\n",
            (unsigned long long)st->mailbox_bytes);
        put(&b, "# HELP rbxd_mailbox_depth_max Messages waiting in the fullest mailbox.\n"
                "# TYPE rbxd_mailbox_depth_max gauge\nrbxd_mailbox_depth_max %llu\n",
            (unsigned long long)st->mailbox_max_depth);
    }
    if (b.bad) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}
