/* SPDX-License-Identifier: MIT
 * rbxd's counters and histograms, rendered in the Prometheus text format by
 * GET /metrics (spec/SERVER.md section 11). Labels are endpoint names and
 * status codes only: never a user id, device id or path. */
#ifndef RBXD_METRICS_H
#define RBXD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Endpoints (also the route table's names). */
typedef enum {
    EP_UNKNOWN = 0,
    EP_HEALTHZ,
    EP_METRICS,
    EP_ENROLL,
    EP_DEVLIST_GET,
    EP_DEVLIST_APPEND,
    EP_KEYS_PUT,
    EP_KEYS_GET,
    EP_BUNDLES,
    EP_SEND,
    EP_MAILBOX,
    EP_ACK,
    EP_LINK_GET,
    EP_LINK_PUT,
    EP_COUNT_
} api_endpoint;

const char *metrics_endpoint_name(api_endpoint ep);

void metrics_init(void);
/* CLOCK_MONOTONIC in seconds. */
double metrics_now(void);
void metrics_request(api_endpoint ep, int status, double seconds);
void metrics_inflight(int delta);
int64_t metrics_inflight_now(void);
void metrics_longpoll(int delta);
void metrics_commit(double seconds, size_t ops);
void metrics_claims(uint64_t with_otk, uint64_t without_otk);
void metrics_rate_limited(void);
void metrics_deliveries(uint64_t envelopes);
void metrics_sweep(const db_expire_res *r);
uint64_t metrics_sweeps(void);

/* The whole exposition, malloc'ed, with the storage gauges of st (NULL if
 * the database could not be read: rbxd_db_up 0). */
char *metrics_render(const db_stats *st, size_t *len);

#endif
