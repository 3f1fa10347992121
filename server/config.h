/* SPDX-License-Identifier: MIT
 * rbxd's settings: defaults, the configuration file (key = value lines) and
 * the command line (--key value, the same keys with '-' for '_'). The
 * command line wins over the file. Every number is a uint64_t. spec/SERVER.md section 12 lists every
 * key; server/rbxd.conf.sample shows them with their defaults. */
#ifndef RBXD_CONFIG_H
#define RBXD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define ENROLL_OPEN 1U
#define ENROLL_LINKED 2U
#define ENROLL_ORG 4U

#define CFG_PATH_MAX 1024U

typedef struct rbxd_config {
    char listen[256];             /* HOST:PORT; port 0 = any free port */
    char db[CFG_PATH_MAX];        /* sqlite:PATH | postgresql://... */
    char tls_cert[CFG_PATH_MAX];  /* PEM files; both or neither */
    char tls_key[CFG_PATH_MAX];
    unsigned enroll;              /* ENROLL_* bits */
    int has_org;
    uint8_t org_root[32];
    uint64_t retention;           /* seconds */
    uint64_t skew;                /* seconds */
    uint64_t max_body;            /* bytes of a request body */
    uint64_t max_envelope;        /* decoded bytes of one envelope */
    uint64_t max_envelopes;       /* envelopes per send */
    uint64_t max_prekey_batch;    /* one-time prekeys per upload */
    uint64_t max_prekeys;         /* one-time prekeys held per device */
    uint64_t prekey_low;          /* "low" below this many */
    uint64_t mailbox_max;         /* messages per device mailbox */
    uint64_t mailbox_max_bytes;   /* bytes per device mailbox */
    uint64_t fetch_max;           /* items per mailbox fetch (limit's cap) */
    uint64_t fetch_max_bytes;     /* bytes per mailbox fetch (past the first item) */
    uint64_t claim_burst;         /* claims per (requester, target device) at once */
    uint64_t claim_interval;      /* seconds per claim after the burst */
    uint64_t long_poll_max;       /* seconds a fetch may wait */
    uint64_t link_ttl;            /* seconds a device link waits for its approval */
    uint64_t link_max;            /* links pending at once */
    uint64_t readers;             /* reader connections */
    uint64_t max_batch;           /* writes per group commit */
    uint64_t connection_limit;
    uint64_t idle_timeout;        /* seconds before an idle connection is closed */
    uint64_t drain_timeout;       /* seconds SIGTERM waits for requests in flight */
    uint64_t sweep_interval;      /* seconds between retention sweeps */
    int log_requests;             /* 1: a line per request; 0: errors only */
    char ready_file[CFG_PATH_MAX];/* written with the bound port once serving */
    char test_clock[CFG_PATH_MAX];/* TEST ONLY: read "now" from this file */
} rbxd_config;

void config_defaults(rbxd_config *c);
/* One setting (file key spelling). 0, or -1 with a reason in err. */
int config_set(rbxd_config *c, const char *key, const char *value, char *err, size_t errcap);
/* A file of "key = value" lines; '#' starts a comment. */
int config_load(rbxd_config *c, const char *path, char *err, size_t errcap);
/* argv: --config FILE first (applied before the other options), then
 * --key value or --key=value. *action: 0 run, 1 help printed, 2 version. */
int config_args(rbxd_config *c, int argc, char **argv, char *err, size_t errcap, int *action);
/* Cross-checks after everything is set. */
int config_check(const rbxd_config *c, char *err, size_t errcap);
/* The settings as "key = value" lines (no secrets exist among them). */
void config_print(const rbxd_config *c);
extern const char config_usage[];

#endif
