/* SPDX-License-Identifier: MIT
 * rbxd's storage interface: one connection of one backend (db_sqlite.c,
 * db_pg.c) behind a table of operations. spec/SERVER.md section 9 states what
 * each operation must do; both backends pass the same suite
 * (tests/server/test_rbxd.c).
 *
 * Rules every operation follows:
 *  - Write operations run inside a transaction the caller opened with begin
 *    (the commit queue, commitq.c, groups many requests into one). A write
 *    either does all of its work or none of it: a logical refusal (conflict,
 *    mismatch, limit) leaves nothing behind and returns DB_OK with the
 *    refusal in its result; DB_FAIL means the transaction must be rolled
 *    back (I/O, lost connection, a statement that failed).
 *  - Read operations run outside any transaction on their own connection.
 *  - Every row read back is checked (lengths, ranges) before use: a database
 *    row is outside input (helper rules); a bad row is DB_FAIL.
 *  - Times are Unix seconds from the server's clock, passed in (never the
 *    database's own clock), so that tests can inject the clock.
 */
#ifndef RBXD_DB_H
#define RBXD_DB_H

#include <stddef.h>
#include <stdint.h>

#include "ratchetbox.h"

#define DB_OK 0
#define DB_FAIL (-1)

#define DB_KEYBYTES 32U
#define DB_NONCEBYTES 16U
#define DB_MSGIDBYTES 16U
#define DB_HASHBYTES 32U
#define DB_USER_MAX 64U /* 1..63 bytes + NUL (rbx_user_id_ok) */

typedef struct db db;

/* A device as the server records it. */
typedef struct db_device {
    uint32_t id;
    uint8_t identity[DB_KEYBYTES]; /* current key */
    uint32_t registration_id;
    int active;                    /* 0: removed (its key kept for the 403) */
} db_device;

/* One entry of a user's device-list log. */
typedef struct db_entry {
    uint64_t seq;
    uint8_t *bytes; /* malloc'ed */
    size_t len;
} db_entry;

/* A change to append: the entry, and what the server records for it. */
typedef struct db_change {
    uint64_t seq;
    uint8_t hash[DB_HASHBYTES];
    const uint8_t *entry;
    size_t entry_len;
    unsigned op;                   /* RBX_DEVLIST_ADD, _REMOVE, _ROTATE */
    uint32_t device;
    uint8_t identity[DB_KEYBYTES]; /* add, rotate: the (new) key */
} db_change;

/* A base bundle as uploaded, with the fields the server orders by. */
typedef struct db_bundle_in {
    const uint8_t *bytes;
    size_t len;
    uint32_t spk_id;
    uint8_t spk[DB_KEYBYTES];
    uint64_t spk_created;          /* field 8, 0 = not stated */
} db_bundle_in;

/* devlist_append: the new entries (ascending seq from expect_head + 1) and,
 * for an add or a rotate, the device's registration id and base bundle. */
typedef struct db_append {
    const char *user;
    uint64_t expect_head;          /* 0: the user must not exist yet */
    const db_change *changes;
    size_t n;
    uint32_t registration_id;      /* for the (single) add */
    const db_bundle_in *bundle;    /* for the add or rotate; NULL for removals */
    int64_t now;
} db_append;
#define DB_APPEND_OK 0
#define DB_APPEND_CONFLICT 1       /* the head is not expect_head */

/* reregister: an active device's new state behind the same key. */
typedef struct db_rereg {
    const char *user;
    uint32_t device;
    uint32_t registration_id;
    const db_bundle_in *bundle;
    int64_t now;
} db_rereg;

/* keys_put: a base bundle (or none) and a batch of one-time prekeys (ids
 * strictly ascending). */
typedef struct db_keys_put {
    const char *user;
    uint32_t device;
    const db_bundle_in *bundle;    /* NULL: keep the stored one */
    size_t n;
    const uint32_t *ids;
    const uint8_t (*keys)[DB_KEYBYTES];
    uint32_t max_stored;           /* refuse if more would be stored */
    int64_t now;
} db_keys_put;
#define DB_KEYS_OK 0
#define DB_KEYS_SPK_OLD 1          /* signed prekey id below the stored one */
#define DB_KEYS_SPK_CONFLICT 2     /* same id, another key */
#define DB_KEYS_OTK_CONFLICT 3     /* one-time id at or below the highest, not an identical re-upload */
#define DB_KEYS_TOO_MANY 4         /* more than max_stored would be held */
#define DB_KEYS_NO_DEVICE 5        /* the device is not active */
typedef struct db_keys_res {
    int status;
    uint32_t bad_id;               /* SPK_OLD, SPK_CONFLICT, OTK_CONFLICT */
    uint32_t stored;               /* OK: one-time prekeys now held */
} db_keys_res;

typedef struct db_key_status {
    uint32_t count;                /* one-time prekeys held */
    uint32_t max_id;               /* highest one-time id ever uploaded, 0 = none */
    uint32_t spk_id;
    uint64_t spk_created;          /* 0 = not stated */
    int64_t spk_uploaded;
} db_key_status;

/* claim: one bundle of every active device of user (or of the listed ones),
 * each with at most one one-time prekey, deleted in the same statement.
 * Without a list, the requesting device itself is left out. */
typedef struct db_claim {
    const char *req_user;
    uint32_t req_device;
    const char *user;
    const uint32_t *devices;       /* NULL: every active device */
    size_t ndevices;
    int64_t now;
    uint32_t burst;                /* rate limit per (requester, target device): GCRA */
    uint32_t interval;             /* seconds per claim after the burst */
    uint32_t low;                  /* "low" when fewer remain */
} db_claim;
typedef struct db_claimed {
    uint32_t device;
    uint32_t registration_id;
    uint8_t *bundle;               /* malloc'ed base bundle */
    size_t bundle_len;
    int has_otk;
    uint32_t otk_id;
    uint8_t otk[DB_KEYBYTES];
    uint32_t remaining;
} db_claimed;
#define DB_CLAIM_OK 0
#define DB_CLAIM_LIMITED 1         /* retry_after set; nothing claimed */
#define DB_CLAIM_NO_USER 2         /* no active device */
#define DB_CLAIM_NO_DEVICE 3       /* a listed device is not active; bad_device */
typedef struct db_claim_res {
    int status;
    int64_t retry_after;
    uint32_t bad_device;
    uint64_t version;              /* device-list head seq */
    db_claimed *items;             /* malloc'ed */
    size_t n;
} db_claim_res;

typedef struct db_envelope {
    const char *user;
    uint32_t device;
    uint32_t registration_id;
    const uint8_t *body;
    size_t len;
} db_envelope;

typedef struct db_send {
    const char *sender_user;
    uint32_t sender_device;
    uint8_t message_id[DB_MSGIDBYTES];
    uint8_t body_hash[DB_HASHBYTES];   /* of the request body: same id, other body = conflict */
    const char *to;
    const db_envelope *env;
    size_t n;
    int64_t now;
    uint32_t mbox_max;             /* messages per device mailbox */
    uint64_t mbox_max_bytes;
    int targeted;                  /* 1: a subset of the expected set (no `missing`) */
} db_send;
#define DB_SEND_OK 0
#define DB_SEND_DUPLICATE 1        /* accepted before (same body): nothing new stored */
#define DB_SEND_MISMATCH 2         /* missing/extra/stale lists set */
#define DB_SEND_ID_CONFLICT 3      /* same message id, another body */
#define DB_SEND_FULL 4             /* a recipient mailbox is full: list in full */
#define DB_SEND_NO_USER 5          /* `to` has no active device */
typedef struct db_addr {
    char user[DB_USER_MAX];
    uint32_t device;
} db_addr;
typedef struct db_send_res {
    int status;
    uint32_t stored;
    /* MISMATCH: missing, extra, stale; FULL: full. malloc'ed. */
    db_addr *missing, *extra, *stale, *full;
    size_t nmissing, nextra, nstale, nfull;
} db_send_res;

typedef struct db_item {
    int64_t id;
    uint8_t message_id[DB_MSGIDBYTES];
    char sender_user[DB_USER_MAX];
    uint32_t sender_device;
    int64_t received_at;
    uint8_t *body;                 /* malloc'ed */
    size_t len;
} db_item;

typedef struct db_stats {
    uint64_t users;
    uint64_t devices;              /* active */
    uint64_t prekeys;              /* one-time prekeys held, all devices */
    uint64_t low_devices;          /* active devices below the low mark */
    uint64_t mailbox_messages;
    uint64_t mailbox_bytes;
    uint64_t mailbox_max_depth;    /* the fullest mailbox's messages */
} db_stats;

/* Link rendezvous (spec/SERVER.md 5.5): two opaque slots under a
 * capability id, written once each, gone at `expires`. */
#define DB_LINK_IDBYTES 16U
#define DB_LINK_REQUEST 0
#define DB_LINK_APPROVAL 1
typedef struct db_link_put {
    uint8_t id[DB_LINK_IDBYTES];
    int slot;                      /* DB_LINK_REQUEST or DB_LINK_APPROVAL */
    const uint8_t *data;
    size_t len;
    int64_t now;
    int64_t expires;               /* for a new link (request) */
    uint64_t max_links;            /* refuse a new link when this many are pending */
} db_link_put;
#define DB_LINK_OK 0
#define DB_LINK_SAME 1             /* the slot holds these bytes already */
#define DB_LINK_CONFLICT 2         /* the slot holds other bytes */
#define DB_LINK_NONE 3             /* approval: no such link (or expired) */
#define DB_LINK_FULL 4             /* request: max_links pending */

typedef struct db_expire_res {
    uint64_t messages, nonces, sent, spent;
} db_expire_res;

typedef struct db_ops {
    const char *name;              /* "sqlite", "postgresql" */
    /* url: "sqlite:PATH" or "postgresql://..." (the whole --db value).
     * writer: 1 for the connection of the commit queue (it may set up
     * notification); the first connection also creates or checks the
     * schema. err: a short reason on failure (no secrets: a URL's password
     * is never copied into it). */
    int (*open)(db **out, const char *url, int writer, char *err, size_t errcap);
    void (*close)(db *d);

    int (*begin)(db *d);
    int (*commit)(db *d);
    void (*rollback)(db *d);

    /* ---- reads */
    /* DB_OK and *found = 0 or 1. */
    int (*device_get)(db *d, const char *user, uint32_t device, db_device *out, int *found);
    /* The current keys of the device id under any user (at most 16; *keys
     * malloc'ed): a request from a device not enrolled under the user it
     * names, but whose key is known, is told apart (403) from an unknown
     * one (401). */
    int (*device_keys)(db *d, uint32_t device, uint8_t (**keys)[DB_KEYBYTES], size_t *n);
    /* Active devices of user, ascending id; *devs malloc'ed; *head = log head seq. */
    int (*devices)(db *d, const char *user, db_device **devs, size_t *n, uint64_t *head);
    /* Entries with seq > since, ascending; *out malloc'ed (db_entries_free). */
    int (*devlist_get)(db *d, const char *user, uint64_t since, db_entry **out, size_t *n,
                       uint64_t *head);
    int (*key_status)(db *d, const char *user, uint32_t device, db_key_status *out);
    /* Items with id > after and received_at >= cutoff, ascending, at most
     * limit items and, past the first, at most max_bytes of bodies; *more is
     * 1 if there are further items. *items malloc'ed (db_items_free). */
    int (*mailbox_fetch)(db *d, const char *user, uint32_t device, int64_t after, uint32_t limit,
                         uint64_t max_bytes, int64_t cutoff, db_item **items, size_t *n,
                         int *more);
    int (*stats)(db *d, uint32_t low, db_stats *out);
    /* The link's slots (malloc'ed, NULL when empty); *found = 0 if there is
     * no such link or it expired (expires <= now). */
    int (*link_get)(db *d, const uint8_t id[DB_LINK_IDBYTES], int64_t now, uint8_t **req,
                    size_t *reqlen, uint8_t **appr, size_t *apprlen, int *found);

    /* ---- writes (inside begin/commit) */
    /* *fresh = 1 if the nonce was new (and is now recorded), 0 if seen. */
    int (*nonce_put)(db *d, const char *user, uint32_t device,
                     const uint8_t nonce[DB_NONCEBYTES], int64_t expires, int *fresh);
    int (*devlist_append)(db *d, const db_append *a, int *status);
    /* *found = 0 if the device is not active. */
    int (*reregister)(db *d, const db_rereg *r, int *found);
    int (*keys_put)(db *d, const db_keys_put *k, db_keys_res *res);
    int (*claim)(db *d, const db_claim *c, db_claim_res *res);
    int (*send)(db *d, const db_send *s, db_send_res *res);
    /* Deletes the listed items of this device's mailbox; *deleted = how many. */
    int (*ack)(db *d, const char *user, uint32_t device, const int64_t *ids, size_t n,
               uint64_t *deleted);
    /* Write one slot of a link (a request creates it). *status: DB_LINK_*. */
    int (*link_put)(db *d, const db_link_put *l, int *status);
    /* Removes messages received before now - retention, idempotency records
     * and spent prekeys as old, nonces past their expiry, idle rate-limit
     * rows, expired links. */
    int (*expire)(db *d, int64_t now, int64_t retention, db_expire_res *res);
} db_ops;

/* The backend for a --db value, or NULL. */
const db_ops *db_backend(const char *url);

extern const db_ops db_sqlite_ops;
extern const db_ops db_pg_ops;

void db_entries_free(db_entry *e, size_t n);
void db_items_free(db_item *it, size_t n);
void db_claim_res_free(db_claim_res *r);
void db_send_res_free(db_send_res *r);

/* GCRA rate limit (both backends, and the SQL of db_pg.sql, compute this):
 * tat = the stored theoretical arrival time (0 if none). Allowed iff
 * max(tat, now) - now <= (burst - 1) * interval; then the new tat is
 * max(tat, now) + interval. Else retry_after = max(tat, now) - now -
 * (burst - 1) * interval. */
int db_gcra(int64_t tat, int64_t now, uint32_t burst, uint32_t interval, int64_t *new_tat,
            int64_t *retry_after);

#endif
