/* SPDX-License-Identifier: MIT
 * A small rbxd client for the server suite and the server benchmark:
 * starts rbxd processes on 127.0.0.1 (port chosen by the kernel, read from
 * --ready-file), signs requests with the library (rbx_request_sign) over
 * libcurl, and makes the device-list entries and bundles a device needs.
 * It is a test tool, not the product's client: it aborts on local errors
 * (out of memory, curl setup) and returns the server's answers as they are. */
#ifndef RBXC_H
#define RBXC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ratchetbox.h"

/* ---------------------------------------------------------------- servers */

typedef struct rbxc_server {
    pid_t pid;
    int port;
    char dir[512];         /* scratch directory: ready file, clock, SQLite file, log */
    char db[1024];         /* the --db value */
    char url[64];          /* http://127.0.0.1:PORT */
    char log[600];
} rbxc_server;

/* The directory for this test: a fresh one under TMPDIR (or /tmp). */
void rbxc_tmpdir(char *out, size_t cap, const char *tag);

/* The --db to use: sqlite:<dir>/rbxd.sqlite, or with RBXD_TEST_PG set (a
 * postgresql:// URL for the login role of rbxd_app) that URL, after the
 * database was emptied (RBXD_TEST_PG_ADMIN: a superuser URL). */
void rbxc_db_fresh(char *out, size_t cap, const char *dir);
int rbxc_backend_is_pg(void);

/* Write the test clock (Unix seconds) that servers started with
 * rbxc_server_start read; dir as given to rbxc_server_start. */
void rbxc_clock_set(const char *dir, int64_t now);
int64_t rbxc_clock_get(const char *dir);

/* 1 (default): servers run on the test clock of their directory; 0: on
 * the real clock (the benchmark). */
extern int rbxc_use_test_clock;

/* Start build/rbxd (RBXD env var, else RBX_SRCDIR/build/rbxd) with --db db,
 * --listen 127.0.0.1:0, the test clock in dir, errors-only logging and the
 * extra arguments (NULL-terminated), and wait until it serves. The process
 * dies with the test (PR_SET_PDEATHSIG). 0, or -1 if it did not come up. */
int rbxc_server_start(rbxc_server *s, const char *dir, const char *db, const char *const *extra);
/* SIGTERM and wait; returns the exit status as waitpid gives it. */
int rbxc_server_stop(rbxc_server *s);
/* SIGKILL and reap. */
void rbxc_server_kill(rbxc_server *s);

/* ---------------------------------------------------------------- devices */

typedef struct rbxc_dev {
    char user[RBX_USER_MAX];
    uint32_t id;
    uint8_t pk[32], sk[32];
    uint32_t regid;
    rbx_prekeys *pre;      /* signed prekey 1 (the base bundle), one-time ids from 1 */
    uint32_t next_otk;
    uint32_t spk_id;
} rbxc_dev;

/* A new device of user with a fresh key, signed prekey spk_id 1 and a random
 * registration id. */
void rbxc_dev_new(rbxc_dev *d, const char *user);
void rbxc_dev_free(rbxc_dev *d);
/* The device's base bundle (no one-time prekey). */
size_t rbxc_base_bundle(const rbxc_dev *d, uint8_t out[RBX_BUNDLE_MAXBYTES]);
/* n new one-time prekeys (ids next_otk...), as a JSON array [{id, key}]. */
json_t *rbxc_new_otks(rbxc_dev *d, size_t n);

/* A user's device list as the client tracks it (for the next entry). */
typedef struct rbxc_list {
    char user[RBX_USER_MAX];
    uint64_t seq;
    uint8_t head[32];
} rbxc_list;

/* Sign entry seq = l->seq + 1 (op, device, identity) by signer (sk of
 * signer_pk) and, for add/rotate, subject_sk; advances l on success.
 * signer_kind RBX_SIGNER_DEVICE or RBX_SIGNER_ORG. Returns the length. */
size_t rbxc_entry(uint8_t out[RBX_DEVLIST_ENTRY_MAXBYTES], rbxc_list *l, unsigned op,
                  uint32_t device, const uint8_t identity[32], unsigned signer_kind,
                  const uint8_t signer_pk[32], const uint8_t signer_sk[32],
                  const uint8_t *subject_sk, uint64_t created);

/* ---------------------------------------------------------------- requests */

typedef struct rbxc_resp {
    long status;
    char *body;            /* NUL-terminated */
    size_t len;
    json_t *json;          /* parsed body, or NULL */
    char etag[80];
    char retry_after[32];
} rbxc_resp;
void rbxc_resp_free(rbxc_resp *r);

/* Request knobs; all optional (zero = normal). */
typedef struct rbxc_opts {
    int64_t ts;                 /* != 0: this timestamp instead of the test clock */
    const uint8_t *nonce;       /* 16 bytes: this nonce instead of a random one */
    int bad_sig;                /* flip a bit of the signature */
    const char *auth;           /* this Authorization header verbatim */
    int no_auth;                /* no Authorization header */
    const char *if_none_match;
    const char *sign_target;    /* sign this target instead of the one sent */
    const uint8_t *sign_body;   /* sign this body instead (with sign_body_len) */
    size_t sign_body_len;
    const rbxc_dev *sign_as;    /* sign with this key but claim dev's identity */
} rbxc_opts;

/* One request to server s (a curl handle per thread: rbxc_handle). dev
 * NULL: unsigned. body may be NULL. The timestamp is the test clock of
 * clock_dir (NULL: the real time). */
typedef struct rbxc_conn {
    CURL *curl;
    const rbxc_server *s;
    const char *clock_dir;
    const char *base;           /* NULL: s->url; else e.g. https://localhost:PORT */
    const char *cainfo;         /* CA file for https */
} rbxc_conn;
void rbxc_conn_init(rbxc_conn *c, const rbxc_server *s, const char *clock_dir);
void rbxc_conn_free(rbxc_conn *c);
void rbxc_call(rbxc_conn *c, const rbxc_dev *dev, const char *method, const char *target,
               const char *body, size_t len, const rbxc_opts *o, rbxc_resp *out);
/* The same with a JSON body (consumed). */
void rbxc_call_json(rbxc_conn *c, const rbxc_dev *dev, const char *method, const char *target,
                    json_t *body, const rbxc_opts *o, rbxc_resp *out);

/* ---------------------------------------------------------------- steps */

/* Enroll d as the first device of its user (entry 1, self-signed), with
 * n one-time prekeys; l tracks the list. Returns the HTTP status. */
long rbxc_enroll_first(rbxc_conn *c, rbxc_dev *d, rbxc_list *l, size_t n);
/* Enroll d into an existing user, approved by approver (a listed device). */
long rbxc_enroll_linked(rbxc_conn *c, rbxc_dev *d, const rbxc_dev *approver, rbxc_list *l, size_t n);
/* Upload n more one-time prekeys. */
long rbxc_upload_otks(rbxc_conn *c, rbxc_dev *d, size_t n);

/* Standard base64 of bytes as a JSON string. */
json_t *rbxc_b64(const uint8_t *p, size_t n);
/* Decode a JSON base64 string into a malloc'ed buffer; NULL if not one. */
uint8_t *rbxc_unb64(const json_t *v, size_t *len);

/* "/v1/users/U/devices/D/SUFFIX" into out. */
void rbxc_path(char *out, size_t cap, const rbxc_dev *d, const char *suffix);

#endif
