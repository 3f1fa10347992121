/* SPDX-License-Identifier: MIT
 * rbxd's API (spec/SERVER.md sections 4-8): routing, the parsers of request
 * bodies, and the handlers. A handler takes a whole request (method, raw
 * target, the two headers it reads, body) and fills a whole response; it
 * does no network I/O (http.c does), so that tests and the fuzzer drive the
 * same code. The parsers change nothing: a request is refused with a 4xx
 * before any state is touched. */
#ifndef RBXD_API_H
#define RBXD_API_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "ratchetbox.h"

struct server;

typedef struct api_error {
    int status;
    const char *code;       /* spec/SERVER.md section 4.2 */
    char message[160];
} api_error;

typedef struct api_route {
    api_endpoint ep;
    char user[RBX_USER_MAX];
    uint32_t device;
    int has_after, has_limit, has_wait, has_since;
    int64_t after;
    uint32_t limit, wait;
    uint64_t since;
    uint8_t link[16];           /* EP_LINK_*: the link id */
    int link_slot;              /* EP_LINK_PUT: 0 request, 1 approval */
} api_route;

/* Route (method, raw target). 0, or -1 with e set (404 unknown path, 405
 * with *allow set to the Allow header's value, 400 bad id or query). */
int api_route_parse(const char *method, const char *target, api_route *r, api_error *e,
                    const char **allow);

typedef struct api_otk {
    uint32_t id;
    uint8_t key[RBX_PUBLICKEYBYTES];
} api_otk;

typedef struct api_env {
    char user[RBX_USER_MAX];
    uint32_t device;
    uint32_t registration_id;
    uint8_t *body;
    size_t len;
} api_env;

/* Largest decoded `data` of a link slot (spec/SERVER.md 5.5). */
#define API_LINK_DATA_MAX 4096U

/* A parsed request body; which fields are set depends on the endpoint. */
typedef struct api_body {
    uint8_t *entry, *bundle, *cert;
    size_t entry_len, bundle_len, cert_len;
    int has_regid;
    uint32_t registration_id;
    int has_otks;
    api_otk *otks;
    size_t notks;
    int has_devices;
    uint32_t *devices;
    size_t ndevices;
    uint8_t message_id[16];
    char to[RBX_USER_MAX];
    api_env *env;
    size_t nenv;
    int64_t *ids;
    size_t nids;
    int targeted;               /* EP_SEND: a subset of the devices */
    uint8_t *data;              /* EP_LINK_PUT */
    size_t data_len;
} api_body;

/* Parse the body of endpoint ep under the limits of cfg. 0, or -1 with e
 * set (400 malformed, 413 too large); *b is then empty. */
int api_body_parse(api_endpoint ep, const uint8_t *body, size_t len, const rbxd_config *cfg,
                   api_body *b, api_error *e);
void api_body_free(api_body *b);

typedef struct api_request {
    const char *method;
    const char *target;         /* path and query exactly as received */
    const char *authorization;  /* NULL if absent */
    const char *if_none_match;  /* NULL if absent */
    const uint8_t *body;
    size_t body_len;
    int body_too_large;         /* http.c stopped reading: answer 413 */
} api_request;

typedef struct api_response {
    int status;
    char *body;                 /* malloc'ed; NULL for none */
    size_t body_len;
    const char *content_type;
    char etag[64];              /* "" for none */
    char allow[48];
    int64_t retry_after;        /* seconds; < 0 for none */
    api_endpoint ep;
} api_response;

void api_handle(struct server *S, const api_request *rq, api_response *rs);
void api_response_free(api_response *rs);

/* A JSON error response (used by http.c for what never reaches a handler). */
void api_error_response(api_response *rs, int status, const char *code, const char *message);

#endif
