/* SPDX-License-Identifier: MIT
 * Users with several devices (PROTOCOL.md section 21): this store's
 * account, the pinned and verified device lists of users (ours included),
 * fan-out sends with sync copies in one transaction, receiving with
 * attribution to (user, device), and recovery by retry requests and
 * re-sends. Sans-I/O: lists, bundles and envelopes come in and go out as
 * bytes. A floor above messages.c (it calls rbx_store_decrypt and
 * rbx_store_add_contact, each a transaction of its own) and below open.c.
 *
 * Tables (schema 4, open.c): account (this device), users (pins),
 * user_devices (the verified lists: (user, device) -> key, its contact row,
 * the server's registration id, retry times), sends (one row per message
 * sent to a user, its content header and sealed plaintext) and
 * send_envelopes (the recipients, with the ciphertext until delivered).
 * Each row has a tag (integrity.h's RBX_AUTH_* lists, PROTOCOL.md 15.8):
 * every read that decides anything checks it (RBX_E_TAMPERED), every
 * write makes it, and an UPDATE that keeps columns it did not read
 * re-tags only a row whose tag still matches. */
#include <stdio.h>
#include <stdlib.h>

#include "content.h"
#include "session.h"
#include "store_int.h"

#define SEND_PENDING 0
#define SEND_DELIVERED 1

/* ------------------------------------------------------------ small helpers */

static int step_done(rbx_store *st, sqlite3_stmt *s)
{
    int rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* A TEXT column that must be a user id. */
static int col_user(sqlite3_stmt *s, int col, char out[RBX_USER_MAX])
{
    const unsigned char *u = sqlite3_column_text(s, col);
    if (u == NULL || !rbx_user_id_ok((const char *)u)) return RBX_E_CORRUPT;
    snprintf(out, RBX_USER_MAX, "%s", (const char *)u);
    return 0;
}

static int col_blob_n(sqlite3_stmt *s, int col, uint8_t *out, size_t n)
{
    if (sqlite3_column_type(s, col) != SQLITE_BLOB || (size_t)sqlite3_column_bytes(s, col) != n)
        return RBX_E_CORRUPT;
    memcpy(out, sqlite3_column_blob(s, col), n);
    return 0;
}

static int col_u32(sqlite3_stmt *s, int col, uint32_t *out)
{
    int64_t v = sqlite3_column_int64(s, col);
    if (sqlite3_column_type(s, col) != SQLITE_INTEGER || v < 0 || v > UINT32_MAX) return RBX_E_CORRUPT;
    *out = (uint32_t)v;
    return 0;
}

/* The row tag check a SELECT returned in column col: 1 matches. */
static int tag_ok(sqlite3_stmt *s, int col)
{
    return sqlite3_column_type(s, col) == SQLITE_INTEGER && sqlite3_column_int(s, col) == 1
               ? 0
               : RBX_E_TAMPERED;
}

/* An UPDATE (or upsert) of one row that re-tags it only if its tag
 * matched: no row changed means a row whose tag did not. */
static int step_one(rbx_store *st, sqlite3_stmt *s)
{
    int rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    if (rc == 0 && sqlite3_changes(rbx__store_db(st)) != 1) rc = RBX_E_TAMPERED;
    rbx__st_done(st, s);
    return rc;
}

/* ------------------------------------------------------------ account */

typedef struct user_row {
    int exists;
    rbx_devlist_pin pin;      /* seq 0: not pinned yet */
    uint64_t anchor_seq;      /* 0: none */
    uint8_t anchor_hash[32];
    int has_org;              /* bound to an organisation root (20.5) */
    uint8_t org[32];
} user_row;
static int user_load(rbx_store *st, user_row *u, const char *user);

static int account_load(rbx_store *st, rbx_account *a)
{
    sqlite3_stmt *s;
    memset(a, 0, sizeof *a);
    int rc = rbx__st_prep(st, &s, "SELECT user, device, regid, entry, rbx_mac_ok('account', mac, "
                                  RBX_AUTH_ACCOUNT ") FROM account WHERE id = 1");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) {
        size_t n = (size_t)sqlite3_column_bytes(s, 3);
        rc = tag_ok(s, 4);
        if (rc == 0) rc = col_user(s, 0, a->user);
        if (rc == 0) rc = col_u32(s, 1, &a->device);
        if (rc == 0) rc = col_u32(s, 2, &a->registration_id);
        if (rc == 0 && (sqlite3_column_type(s, 3) != SQLITE_BLOB || n == 0 ||
                        n > RBX_DEVLIST_ENTRY_MAXBYTES || a->device == 0 ||
                        a->device > RBX_DEVICE_ID_MAX || a->registration_id == 0))
            rc = RBX_E_CORRUPT;
        if (rc == 0) {
            memcpy(a->entry, sqlite3_column_blob(s, 3), n);
            a->entry_len = n;
        }
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    if (rc != 0) memset(a, 0, sizeof *a);
    return rc;
}

int rbx_store_account(rbx_store *st, rbx_account *out)
{
    return account_load(st, out);
}

int rbx_store_account_init(rbx_store *st, rbx_account *out, const uint8_t *entry, size_t len)
{
    rbx_devlist_entry e;
    uint8_t pk[32], sk[32], h[32];
    memset(out, 0, sizeof *out);
    int rc = rbx_devlist_entry_parse(&e, entry, len);
    if (rc != 0) return rc;
    if (e.op != RBX_DEVLIST_ADD || e.device != rbx_device_id(e.identity)) return RBX_E_INVALID;
    if ((rc = rbx__st_begin(st)) != 0) return rc;
    rc = rbx__st_load_identity(st, pk, sk);
    WIPE(sk);
    if (rc != 0) goto fail;
    if (sodium_memcmp(pk, e.identity, 32) != 0) {
        rc = RBX_E_KEY;
        goto fail;
    }
    rc = account_load(st, out);
    if (rc == 0) {
        /* A retried enrollment: the same entry, the same account. */
        rc = out->entry_len == len && memcmp(out->entry, entry, len) == 0 ? 0 : RBX_E_EXISTS;
        rbx__st_rollback(st);
        if (rc != 0) memset(out, 0, sizeof *out);
        return rc;
    }
    if (rc != RBX_E_NOT_FOUND) goto fail;
    uint32_t regid;
    do {
        regid = randombytes_uniform(RBX_DEVICE_ID_MAX) + 1U;
    } while (regid == 0);
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO account (id, user, device, regid, entry, mac)"
                                   " VALUES (1, ?1, ?2, ?3, ?4, rbx_mac('account', 1, ?1, ?2, ?3, ?4))")) != 0)
        goto fail;
    sqlite3_bind_text(s, 1, e.user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, e.device);
    sqlite3_bind_int64(s, 3, regid);
    sqlite3_bind_blob(s, 4, entry, (int)len, SQLITE_STATIC);
    if ((rc = step_done(st, s)) != 0) goto fail;
    /* Our own list is verified from entry 1 on first use, and must hold
     * this entry where it was made (PROTOCOL.md 21.3): a server cannot
     * hand a new device another user's list under our user id. */
    rbx_devlist_entry_hash(h, entry, len);
    user_row u;
    if ((rc = user_load(st, &u, e.user)) != 0) goto fail; /* its tag, if there is one */
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO users (user, seq, anchor_seq, anchor_hash, mac)"
                                   " VALUES (?1, 0, ?2, ?3, rbx_mac('users', ?1, 0, NULL, NULL, 0, ?2,"
                                   " ?3, NULL)) ON CONFLICT (user) DO UPDATE SET"
                                   " anchor_seq = excluded.anchor_seq,"
                                   " anchor_hash = excluded.anchor_hash,"
                                   " mac = rbx_mac('users', user, seq, first_hash, hash, created,"
                                   " excluded.anchor_seq, excluded.anchor_hash, org)"
                                   " WHERE users.seq = 0")) != 0)
        goto fail;
    sqlite3_bind_text(s, 1, e.user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)e.seq);
    sqlite3_bind_blob(s, 3, h, 32, SQLITE_STATIC);
    if ((rc = step_done(st, s)) != 0) goto fail;
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, pk);
    if ((rc = rbx__audit(st, "account created", "user %s, device %u (%s), entry %llu", e.user,
                         e.device, fp, (unsigned long long)e.seq)) != 0)
        goto fail;
    if ((rc = rbx__st_commit(st, 0)) != 0) return rc;
    snprintf(out->user, sizeof out->user, "%s", e.user);
    out->device = e.device;
    out->registration_id = regid;
    memcpy(out->entry, entry, len);
    out->entry_len = len;
    return 0;
fail:
    rbx__st_rollback(st);
    memset(out, 0, sizeof *out);
    return rc;
}

/* ------------------------------------------------------------ pins */


static int user_load(rbx_store *st, user_row *u, const char *user)
{
    sqlite3_stmt *s;
    memset(u, 0, sizeof *u);
    int rc = rbx__st_prep(st, &s, "SELECT seq, first_hash, hash, anchor_seq, anchor_hash, org,"
                                  " rbx_mac_ok('users', mac, " RBX_AUTH_USERS ")"
                                  " FROM users WHERE user = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    rc = rbx__st_step(s);
    if (rc == 1) {
        int64_t seq = sqlite3_column_int64(s, 0), aseq = sqlite3_column_int64(s, 3);
        u->exists = 1;
        rc = tag_ok(s, 6) != 0 ? RBX_E_TAMPERED
             : seq < 0 || seq > (int64_t)RBX_DEVLIST_MAX_ENTRIES || aseq < 0 ||
                     aseq > (int64_t)RBX_DEVLIST_MAX_ENTRIES
                 ? RBX_E_CORRUPT
                 : 0;
        u->pin.seq = (uint64_t)seq;
        u->anchor_seq = (uint64_t)aseq;
        if (rc == 0 && seq > 0)
            rc = col_blob_n(s, 1, u->pin.first_hash, 32) == 0 && col_blob_n(s, 2, u->pin.hash, 32) == 0
                     ? 0
                     : RBX_E_CORRUPT;
        if (rc == 0 && aseq > 0) rc = col_blob_n(s, 4, u->anchor_hash, 32);
        if (rc == 0 && sqlite3_column_type(s, 5) != SQLITE_NULL) {
            rc = col_blob_n(s, 5, u->org, 32);
            u->has_org = rc == 0;
        }
    } else if (rc == 0) {
        rc = 0;
    }
    rbx__st_done(st, s);
    return rc;
}

int rbx_store_user_pin(rbx_store *st, rbx_devlist_pin *pin, const char *user)
{
    user_row u;
    memset(pin, 0, sizeof *pin);
    if (!rbx_user_id_ok(user)) return RBX_E_INVALID;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = user_load(st, &u, user);
    rbx__st_rollback(st);
    if (rc != 0) return rc;
    if (!u.exists || u.pin.seq == 0) return RBX_E_NOT_FOUND;
    *pin = u.pin;
    return 0;
}

int rbx_store_user_org(rbx_store *st, const char *user, const uint8_t org[32])
{
    user_row u;
    if (!rbx_user_id_ok(user)) return RBX_E_INVALID;
    if (!rbx__pk_is_valid(org)) return RBX_E_KEY;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = user_load(st, &u, user)) != 0) goto fail;
    if (u.has_org) {
        /* One root per user: another is a refusal, the same one a no-op. */
        rc = sodium_memcmp(u.org, org, 32) == 0 ? 0 : RBX_E_EXISTS;
        rbx__st_rollback(st);
        return rc;
    }
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO users (user, seq, org, mac) VALUES (?1, 0, ?2,"
                                   " rbx_mac('users', ?1, 0, NULL, NULL, 0, 0, NULL, ?2))"
                                   " ON CONFLICT (user) DO UPDATE SET org = excluded.org,"
                                   " mac = rbx_mac('users', user, seq, first_hash, hash, created,"
                                   " anchor_seq, anchor_hash, excluded.org)")) != 0)
        goto fail;
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, org, 32, SQLITE_STATIC);
    if ((rc = step_done(st, s)) != 0) goto fail;
    char b64[RBX_KEY_B64BYTES];
    rbx_key_to_base64(b64, org);
    if ((rc = rbx__audit(st, "user bound to organisation", "user %s, organisation %s%s", user, b64,
                         u.pin.seq > 0 ? " (already pinned)" : "")) != 0)
        goto fail;
    return rbx__st_commit(st, 0);
fail:
    rbx__st_rollback(st);
    return rc;
}

/* ------------------------------------------------------------ listed devices */

typedef struct listed {
    char user[RBX_USER_MAX];
    uint32_t device;
    uint8_t identity[32];
    uint64_t added_seq;
    uint32_t regid;
    int64_t contact;          /* 0: none (this device) */
    int64_t retry_asked, retry_served;
} listed;

#define LISTED_COLS                                                                             \
    "user, device, identity, added_seq, regid, contact, retry_asked, retry_served,"            \
    " rbx_mac_ok('user_devices', mac, " RBX_AUTH_USER_DEVICES ")"

static int listed_row(sqlite3_stmt *s, listed *d)
{
    int64_t seq = sqlite3_column_int64(s, 3);
    memset(d, 0, sizeof *d);
    if (tag_ok(s, 8) != 0) return RBX_E_TAMPERED;
    if (col_user(s, 0, d->user) != 0 || col_u32(s, 1, &d->device) != 0 || d->device == 0 ||
        d->device > RBX_DEVICE_ID_MAX || col_blob_n(s, 2, d->identity, 32) != 0 || seq < 1 ||
        col_u32(s, 4, &d->regid) != 0 || d->regid > RBX_DEVICE_ID_MAX)
        return RBX_E_CORRUPT;
    d->added_seq = (uint64_t)seq;
    d->contact = sqlite3_column_type(s, 5) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 5);
    d->retry_asked = sqlite3_column_int64(s, 6);
    d->retry_served = sqlite3_column_int64(s, 7);
    return 0;
}

static int listed_find(rbx_store *st, listed *d, const char *user, uint32_t device)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT " LISTED_COLS " FROM user_devices WHERE user = ?1"
                                  " AND device = ?2");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, device);
    rc = rbx__st_step(s);
    if (rc == 1) rc = listed_row(s, d);
    else if (rc == 0) rc = RBX_E_NOT_FOUND;
    rbx__st_done(st, s);
    return rc;
}

/* Every listed device of user (or of two users), ordered by user, device. */
static int listed_all(rbx_store *st, listed **out, size_t *n, const char *u1, const char *u2)
{
    sqlite3_stmt *s;
    listed *v = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    int rc = rbx__st_prep(st, &s, "SELECT " LISTED_COLS " FROM user_devices WHERE user = ?1"
                                  " OR user = ?2 ORDER BY user, device");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, u1, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, u2 != NULL ? u2 : u1, -1, SQLITE_STATIC);
    while ((rc = rbx__st_step(s)) == 1) {
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            listed *x = realloc(v, nc * sizeof *x);
            if (x == NULL) {
                rc = RBX_E_NOMEM;
                break;
            }
            v = x;
            cap = nc;
        }
        if ((rc = listed_row(s, &v[*n])) != 0) break;
        (*n)++;
    }
    rbx__st_done(st, s);
    if (rc < 0 || *n > 2 * RBX_DEVLIST_MAX_DEVICES) {
        free(v);
        *n = 0;
        return rc < 0 ? rc : RBX_E_CORRUPT;
    }
    *out = v;
    return 0;
}

/* Erase a contact's sessions and held bundle (a device left its list). */
static int contact_forget(rbx_store *st, int64_t contact)
{
    static const char *const sql[] = { "DELETE FROM sessions WHERE contact = ?1",
                                       "DELETE FROM retired_sessions WHERE contact = ?1",
                                       "UPDATE contacts SET bundle = NULL WHERE id = ?1" };
    int rc = 0;
    for (size_t i = 0; i < RBX_COUNTOF(sql) && rc == 0; i++) {
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, sql[i])) != 0) break;
        sqlite3_bind_int64(s, 1, contact);
        rc = step_done(st, s);
    }
    return rc;
}

/* The contact row of a listed device: made (pinned to the listed key) if
 * there is none. */
static int contact_for(rbx_store *st, int64_t *id, const char *user, uint32_t device,
                       const uint8_t identity[32])
{
    rbx__contact c;
    int rc = rbx__st_find_contact(st, &c, user, device);
    if (rc == RBX_E_NOT_FOUND) {
        memset(&c, 0, sizeof c);
        snprintf(c.name, sizeof c.name, "%s", user);
        c.device = device;
        memcpy(c.identity, identity, 32);
        rc = rbx__st_insert_contact(st, &c);
    }
    if (rc == 0) *id = c.id;
    return rc;
}

static const rbx_device_reg *reg_of(const rbx_device_reg *regs, size_t n, uint32_t device)
{
    for (size_t i = 0; regs != NULL && i < n; i++)
        if (regs[i].device == device) return &regs[i];
    return NULL;
}

/* Keys the list rotated away from (its new entries, or all of it on first
 * use): each stays the device's key for first messages in flight, as a
 * rotation record's old key does for a contact that follows it (16.4),
 * until identity_grace after its rotate entry. */
static int rotated_keys(rbx_store *st, const char *user, const uint8_t *const *entries,
                        const size_t *lens, size_t n, uint64_t from_seq, const listed *old,
                        size_t nold, const rbx_policy *pol, int64_t now)
{
    struct {
        uint32_t device;
        uint8_t key[32];
    } cur[RBX_DEVLIST_MAX_DEVICES];
    size_t nc = 0;
    for (size_t i = 0; i < nold && from_seq > 0 && nc < RBX_DEVLIST_MAX_DEVICES; i++) {
        cur[nc].device = old[i].device;
        memcpy(cur[nc++].key, old[i].identity, 32);
    }
    int rc = 0;
    for (size_t i = from_seq; i < n && rc == 0; i++) {
        rbx_devlist_entry e;
        /* Verified a moment ago: this parse cannot fail. */
        if ((rc = rbx_devlist_entry_parse(&e, entries[i], lens[i])) != 0) break;
        size_t k = 0;
        while (k < nc && cur[k].device != e.device) k++;
        if (e.op == RBX_DEVLIST_ADD && k == nc && nc < RBX_DEVLIST_MAX_DEVICES) {
            cur[nc].device = e.device;
            memcpy(cur[nc++].key, e.identity, 32);
        } else if (e.op == RBX_DEVLIST_REMOVE && k < nc) {
            cur[k] = cur[--nc];
        } else if (e.op == RBX_DEVLIST_ROTATE && k < nc) {
            int64_t until = (int64_t)e.created + (int64_t)pol->identity_grace;
            rbx__contact c;
            if (until > now && (rc = rbx__st_find_contact(st, &c, user, e.device)) == 0) {
                sqlite3_stmt *s;
                if ((rc = rbx__st_prep(st, &s, "INSERT OR IGNORE INTO contact_keys (contact, identity,"
                                               " until, mac) VALUES (?1, ?2, ?3,"
                                               " rbx_mac('contact_keys', ?1, ?2, ?3))")) != 0)
                    break;
                sqlite3_bind_int64(s, 1, c.id);
                sqlite3_bind_blob(s, 2, cur[k].key, 32, SQLITE_STATIC);
                sqlite3_bind_int64(s, 3, until);
                rc = step_done(st, s);
            } else if (rc == RBX_E_NOT_FOUND) {
                rc = 0; /* this device itself: no contact row */
            }
            memcpy(cur[k].key, e.identity, 32);
        }
    }
    return rc;
}

int rbx_store_user_update(rbx_store *st, rbx_user_update *res, const char *user,
                          const uint8_t *const *entries, const size_t *lens, size_t n,
                          const rbx_device_reg *regs, size_t nregs)
{
    user_row u;
    rbx_account acct;
    rbx_devlist *l = NULL;
    listed *old = NULL;
    size_t nold = 0;
    memset(res, 0, sizeof *res);
    if (!rbx_user_id_ok(user) || (n > 0 && (entries == NULL || lens == NULL))) return RBX_E_INVALID;
    if ((l = malloc(sizeof *l)) == NULL) return RBX_E_NOMEM;
    int rc = rbx__st_begin(st);
    if (rc != 0) goto out;
    if ((rc = user_load(st, &u, user)) != 0) goto fail;
    rc = account_load(st, &acct);
    if (rc != 0 && rc != RBX_E_NOT_FOUND) goto fail;
    int have_acct = rc == 0, own = have_acct && strcmp(acct.user, user) == 0;
    /* PROTOCOL.md 20.4 from our pin (20.5), or on first use. */
    rc = rbx_devlist_verify(l, user, entries, lens, n, u.pin.seq > 0 ? &u.pin : NULL,
                            u.has_org ? u.org : NULL);
    if (rc != 0) goto fail;
    if (u.pin.seq == 0 && u.anchor_seq > 0) {
        uint8_t h[32];
        if (u.anchor_seq > n) {
            rc = RBX_E_STALE;
            goto fail;
        }
        rbx_devlist_entry_hash(h, entries[u.anchor_seq - 1], lens[u.anchor_seq - 1]);
        if (sodium_memcmp(h, u.anchor_hash, 32) != 0) {
            rc = RBX_E_IDENTITY_CHANGED;
            goto fail;
        }
    }
    res->first = u.pin.seq == 0;
    res->head = l->head;
    if (res->first) {
        /* Contacts added by hand under this name are not a user's devices
         * (21.1): never taken over. */
        sqlite3_stmt *q;
        if ((rc = rbx__st_prep(st, &q, "SELECT count(*) FROM contacts WHERE name = ?1 AND id NOT IN"
                                       " (SELECT contact FROM user_devices WHERE contact IS NOT NULL)")) != 0)
            goto fail;
        sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
        rc = rbx__st_step(q) == 1 && sqlite3_column_int64(q, 0) > 0 ? RBX_E_EXISTS : 0;
        rbx__st_done(st, q);
        if (rc != 0) goto fail;
    }
    res->ndevices = l->ndevices;
    if ((rc = listed_all(st, &old, &nold, user, NULL)) != 0) goto fail;
    uint8_t self_pk[32], self_sk[32];
    if (own) {
        rc = rbx__st_load_identity(st, self_pk, self_sk);
        WIPE(self_sk);
        if (rc != 0) goto fail;
    }
    int64_t now = rbx__st_now(st);
    rbx_policy pol;
    if ((rc = rbx__st_policy(st, &pol)) != 0) goto fail;
    /* Devices that left the list lose their sessions. */
    for (size_t i = 0; i < nold; i++) {
        int still = 0;
        for (size_t k = 0; k < l->ndevices && !still; k++) still = l->devices[k].id == old[i].device;
        if (still) continue;
        sqlite3_stmt *s;
        if ((old[i].contact != 0 && (rc = contact_forget(st, old[i].contact)) != 0) ||
            (rc = rbx__st_prep(st, &s, "DELETE FROM user_devices WHERE user = ?1 AND device = ?2")) != 0)
            goto fail;
        sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, old[i].device);
        if ((rc = step_done(st, s)) != 0 ||
            (rc = rbx__audit(st, "device removed", "%s/%u, list %llu", user, old[i].device,
                             (unsigned long long)l->head.seq)) != 0)
            goto fail;
        res->removed++;
    }
    for (size_t k = 0; k < l->ndevices; k++) {
        const rbx_devlist_device *d = &l->devices[k];
        const listed *was = NULL;
        for (size_t i = 0; i < nold; i++)
            if (old[i].device == d->id) was = &old[i];
        const rbx_device_reg *r = reg_of(regs, nregs, d->id);
        uint32_t regid = r != NULL && r->registration_id <= RBX_DEVICE_ID_MAX ? r->registration_id
                         : was != NULL ? was->regid : 0;
        int self = own && d->id == acct.device;
        if (self) res->self_listed = sodium_memcmp(d->identity, self_pk, 32) == 0;
        int64_t contact = 0;
        if (!self && (rc = contact_for(st, &contact, user, d->id, d->identity)) != 0) goto fail;
        if (was == NULL) {
            res->added++;
            if ((rc = rbx__audit(st, "device listed", "%s/%u, list %llu", user, d->id,
                                 (unsigned long long)l->head.seq)) != 0)
                goto fail;
        } else if (sodium_memcmp(was->identity, d->identity, 32) != 0) {
            res->rotated++;
        }
        /* A new state behind the same key (SERVER.md 5.3): its old session
         * is of no use to it; the next send starts a new one. */
        if (was != NULL && !self && was->regid != 0 && regid != 0 && was->regid != regid) {
            res->reregistered++;
            if ((rc = rbx__st_retire_session(st, contact, now + (int64_t)pol.identity_grace)) != 0)
                goto fail;
        }
        sqlite3_stmt *s;
        /* The row as listed_all read it (its tag checked) keeps its retry
         * times. */
        if ((rc = rbx__st_prep(st, &s, "INSERT INTO user_devices (user, device, identity, added_seq,"
                                       " regid, contact, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                                       " rbx_mac('user_devices', ?1, ?2, ?3, ?4, ?5, ?6, 0, 0))"
                                       " ON CONFLICT (user, device) DO UPDATE SET"
                                       " identity = excluded.identity, added_seq = excluded.added_seq,"
                                       " regid = excluded.regid, contact = excluded.contact,"
                                       " mac = rbx_mac('user_devices', user, device, excluded.identity,"
                                       " excluded.added_seq, excluded.regid, excluded.contact,"
                                       " retry_asked, retry_served)"
                                       " WHERE rbx_mac_ok('user_devices', mac, " RBX_AUTH_USER_DEVICES ")")) != 0)
            goto fail;
        sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, d->id);
        sqlite3_bind_blob(s, 3, d->identity, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, (int64_t)d->added_seq);
        sqlite3_bind_int64(s, 5, regid);
        if (contact != 0) sqlite3_bind_int64(s, 6, contact);
        if ((rc = step_one(st, s)) != 0) goto fail;
    }
    if ((rc = rotated_keys(st, user, entries, lens, n, u.pin.seq, old, nold, &pol, now)) != 0)
        goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO users (user, seq, first_hash, hash, created, mac)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5, rbx_mac('users', ?1, ?2, ?3, ?4, ?5,"
                                   " 0, NULL, NULL)) ON CONFLICT (user) DO UPDATE SET"
                                   " seq = excluded.seq, first_hash = excluded.first_hash,"
                                   " hash = excluded.hash, created = excluded.created,"
                                   " mac = rbx_mac('users', user, excluded.seq, excluded.first_hash,"
                                   " excluded.hash, excluded.created, anchor_seq, anchor_hash, org)"
                                   " WHERE rbx_mac_ok('users', mac, " RBX_AUTH_USERS ")")) != 0)
        goto fail;
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)l->head.seq);
    sqlite3_bind_blob(s, 3, l->head.first_hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, l->head.hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, (int64_t)l->head_created);
    if ((rc = step_one(st, s)) != 0) goto fail;
    if (res->first && (rc = rbx__audit(st, "user pinned", "%s, list %llu, %zu devices", user,
                                       (unsigned long long)l->head.seq, l->ndevices)) != 0)
        goto fail;
    rc = rbx__st_commit(st, 0);
    if (rc != 0) memset(res, 0, sizeof *res);
    goto out;
fail:
    rbx__st_rollback(st);
    memset(res, 0, sizeof *res);
    if (rc == RBX_E_STALE || rc == RBX_E_IDENTITY_CHANGED || rc == RBX_E_CHAIN ||
        rc == RBX_E_SIGNATURE)
        (void)rbx__audit_alone(st, "device list refused", "%s: %s", user, rbx_strerror(rc));
out:
    free(old);
    free(l);
    return rc;
}

/* ------------------------------------------------------------ device status */

/* Can we encrypt to d now (a session with its listed key), or from a held
 * bundle of its listed key? */
static int device_status(rbx_store *st, const listed *d, int *has_session, int *has_bundle)
{
    rbx__contact c;
    *has_session = *has_bundle = 0;
    if (d->contact == 0) return 0;
    int rc = rbx__st_find_contact_by_id(st, &c, d->contact);
    if (rc != 0) return rc;
    if (sodium_memcmp(c.identity, d->identity, 32) != 0) return 0; /* the list rotated its key */
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "SELECT rolled_back FROM sessions WHERE contact = ?1")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, c.id);
    rc = rbx__st_step(s);
    /* A rolled-back session may not send: a bundle replaces it. */
    if (rc == 1) *has_session = sqlite3_column_int64(s, 0) == 0;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (c.bundlelen > 0) {
        rbx_bundle b;
        *has_bundle = rbx_bundle_parse(&b, c.bundle, c.bundlelen) == 0 &&
                      sodium_memcmp(b.identity, d->identity, 32) == 0;
    }
    return 0;
}

static void fill_device(rbx_user_device *o, const listed *d, int self, int has_session,
                        int has_bundle)
{
    memset(o, 0, sizeof *o);
    snprintf(o->user, sizeof o->user, "%s", d->user);
    o->device = d->device;
    memcpy(o->identity, d->identity, 32);
    o->added_seq = d->added_seq;
    o->registration_id = d->regid;
    o->self = self;
    o->has_session = has_session;
    o->has_bundle = has_bundle;
    o->needs_bundle = !self && !has_session && !has_bundle;
}

/* The devices of u1 (and u2), or only those that need a bundle. */
static int devices_of(rbx_store *st, rbx_user_device *out, size_t cap, size_t *n, const char *u1,
                      const char *u2, int only_needs)
{
    listed *v = NULL;
    size_t nv = 0, k = 0;
    rbx_account a;
    user_row u;
    *n = 0;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = user_load(st, &u, u1)) != 0) goto out;
    if (!u.exists || u.pin.seq == 0) {
        rc = RBX_E_NOT_FOUND;
        goto out;
    }
    rc = account_load(st, &a);
    if (rc != 0 && !(rc == RBX_E_NOT_FOUND && u2 == NULL)) goto out;
    int have_acct = rc == 0;
    if ((rc = listed_all(st, &v, &nv, u1, u2)) != 0) goto out;
    for (size_t i = 0; i < nv; i++) {
        int self = have_acct && strcmp(v[i].user, a.user) == 0 && v[i].device == a.device;
        int hs = 0, hb = 0;
        if (!self && (rc = device_status(st, &v[i], &hs, &hb)) != 0) break;
        if (only_needs && (self || hs || hb)) continue;
        if (k < cap) fill_device(&out[k], &v[i], self, hs, hb);
        k++;
    }
    if (rc == 0) *n = k;
out:
    rbx__st_rollback(st);
    free(v);
    return rc;
}

int rbx_store_user_devices(rbx_store *st, rbx_user_device *out, size_t cap, size_t *n,
                           const char *user)
{
    if (!rbx_user_id_ok(user)) return RBX_E_INVALID;
    return devices_of(st, out, cap, n, user, NULL, 0);
}

int rbx_store_send_needs(rbx_store *st, rbx_user_device *out, size_t cap, size_t *n, const char *to)
{
    rbx_account a;
    *n = 0;
    if (!rbx_user_id_ok(to)) return RBX_E_INVALID;
    int rc = account_load(st, &a);
    if (rc != 0) return rc;
    rbx_devlist_pin pin;
    if ((rc = rbx_store_user_pin(st, &pin, a.user)) != 0) return rc;
    return devices_of(st, out, cap, n, to, a.user, 1);
}

int rbx_store_user_bundle(rbx_store *st, const char *user, uint32_t device, const uint8_t *bundle,
                          size_t len)
{
    rbx_bundle b;
    listed d;
    rbx__contact c;
    if (!rbx_user_id_ok(user)) return RBX_E_INVALID;
    int rc = rbx_bundle_parse(&b, bundle, len);
    if (rc != 0) return rc;
    if ((rc = rbx__st_begin(st)) != 0) return rc;
    if ((rc = listed_find(st, &d, user, device)) != 0) goto fail;
    /* PROTOCOL.md 20.5: a bundle names the key the verified list names. */
    if (sodium_memcmp(b.identity, d.identity, 32) != 0 || d.contact == 0) {
        rc = d.contact == 0 ? RBX_E_NOT_FOUND : RBX_E_IDENTITY_CHANGED;
        goto fail;
    }
    if ((rc = rbx__st_find_contact_by_id(st, &c, d.contact)) != 0) goto fail;
    if (sodium_memcmp(c.identity, d.identity, 32) != 0) {
        /* The list rotated the device's key: the contact follows the
         * bundle's rotation records from its pin (add_contact, 16.4). */
        rbx__st_rollback(st);
        return rbx_store_add_contact(st, user, device, bundle, len);
    }
    rbx_policy pol;
    if ((rc = rbx__st_policy(st, &pol)) != 0) goto fail;
    if (b.signed_prekey_created != 0 &&
        rbx__st_now(st) - (int64_t)b.signed_prekey_created > (int64_t)pol.spk_max_age) {
        rc = RBX_E_EXPIRED;
        goto fail;
    }
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "UPDATE contacts SET bundle = ?1 WHERE id = ?2")) != 0) goto fail;
    sqlite3_bind_blob(s, 1, bundle, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, c.id);
    if ((rc = step_done(st, s)) != 0) goto fail;
    return rbx__st_commit(st, 0);
fail:
    rbx__st_rollback(st);
    return rc;
}

/* ------------------------------------------------------------ sessions for sending */

/* The session with a listed device, or a new one from a held bundle of its
 * listed key (fresh = 1), or with force a new one even if a session exists
 * (a retry request). RBX_E_NOT_FOUND: it needs a bundle. */
static int session_for(rbx_store *st, rbx__stored_session *ss, int *fresh, const listed *d,
                       const rbx_policy *pol, const rbx_session_opts *opts, int force)
{
    rbx__contact c;
    memset(ss, 0, sizeof *ss);
    *fresh = 0;
    if (d->contact == 0) return RBX_E_NOT_FOUND;
    int rc = rbx__st_find_contact_by_id(st, &c, d->contact);
    if (rc != 0) return rc;
    if (sodium_memcmp(c.identity, d->identity, 32) != 0) return RBX_E_NOT_FOUND;
    if (!force) {
        if ((rc = rbx__st_load_session(st, ss, c.id)) != 0) return rc;
        if (ss->exists && !ss->rolled_back) return 0;
        rbx_session_free(ss->s);
        memset(ss, 0, sizeof *ss);
    }
    if (c.bundlelen == 0) return RBX_E_NOT_FOUND;
    rbx_bundle b;
    uint8_t ik_pk[32], ik_sk[32];
    if (rbx_bundle_parse(&b, c.bundle, c.bundlelen) != 0 ||
        sodium_memcmp(b.identity, c.identity, 32) != 0)
        return RBX_E_NOT_FOUND; /* not of its listed key: fetch another */
    if (b.signed_prekey_created != 0 &&
        rbx__st_now(st) - (int64_t)b.signed_prekey_created > (int64_t)pol->spk_max_age)
        return RBX_E_EXPIRED;
    /* A session this one replaces (a rolled-back one, or a retry's) keeps
     * taking messages in flight for the grace window. */
    if ((rc = rbx__st_retire_session(st, c.id, rbx__st_now(st) + (int64_t)pol->identity_grace)) != 0 ||
        (rc = rbx__st_identity_seq(st, &ss->ik)) != 0 ||
        (rc = rbx__st_load_identity(st, ik_pk, ik_sk)) != 0)
        return rc;
    rc = rbx_session_initiate(&ss->s, ik_pk, ik_sk, &b, opts);
    WIPE(ik_sk);
    if (rc != 0) return rc;
    *fresh = 1;
    ss->exists = 1;
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, c.identity);
    sqlite3_stmt *s;
    /* The one-time prekey in the bundle is spent: drop the bundle. */
    if ((rc = rbx__audit(st, "session established", "to %s/%u (%s), as initiator", c.name, c.device,
                         fp)) != 0 ||
        (rc = rbx__st_prep(st, &s, "UPDATE contacts SET bundle = NULL WHERE id = ?1")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, c.id);
    if ((rc = step_done(st, s)) == 0) return 0;
fail:
    rbx_session_free(ss->s);
    memset(ss, 0, sizeof *ss);
    return rc;
}

/* ------------------------------------------------------------ sends */

/* What a send's row holds to make (or remake) its envelopes. */
typedef struct send_row {
    int64_t id;
    uint8_t message_id[16];
    char to[RBX_USER_MAX];
    unsigned kind, ctype, cflags;
    uint8_t cid[16];           /* the content's message id */
    int state;
    int64_t created, generation;
} send_row;

#define SEND_COLS                                                                    \
    "id, message_id, to_user, kind, ctype, cflags, cid, state, created, generation," \
    " rbx_mac_ok('sends', mac, " RBX_AUTH_SENDS ")"

static int send_row_read(sqlite3_stmt *s, send_row *r)
{
    memset(r, 0, sizeof *r);
    if (tag_ok(s, 10) != 0) return RBX_E_TAMPERED;
    r->id = sqlite3_column_int64(s, 0);
    int64_t kind = sqlite3_column_int64(s, 3), ct = sqlite3_column_int64(s, 4),
            cf = sqlite3_column_int64(s, 5), state = sqlite3_column_int64(s, 7);
    if (col_blob_n(s, 1, r->message_id, 16) != 0 || col_user(s, 2, r->to) != 0 || kind < 0 ||
        kind > RBX_SEND_RESEND || ct < RBX_CONTENT_MESSAGE || ct > RBX_CONTENT_RETRY || cf < 0 ||
        cf > RBX_CONTENT_RESENT || col_blob_n(s, 6, r->cid, 16) != 0 ||
        (state != SEND_PENDING && state != SEND_DELIVERED))
        return RBX_E_CORRUPT;
    r->kind = (unsigned)kind;
    r->ctype = (unsigned)ct;
    r->cflags = (unsigned)cf;
    r->state = (int)state;
    r->created = sqlite3_column_int64(s, 8);
    r->generation = sqlite3_column_int64(s, 9);
    return 0;
}

static int send_load(rbx_store *st, send_row *r, uint64_t id)
{
    sqlite3_stmt *s;
    int rc = id == 0 ? rbx__st_prep(st, &s, "SELECT " SEND_COLS " FROM sends WHERE state = 0"
                                            " ORDER BY id LIMIT 1")
                     : rbx__st_prep(st, &s, "SELECT " SEND_COLS " FROM sends WHERE id = ?1");
    if (rc != 0) return rc;
    if (id != 0) sqlite3_bind_int64(s, 1, (int64_t)id);
    rc = rbx__st_step(s);
    if (rc == 1) rc = send_row_read(s, r);
    else if (rc == 0) rc = RBX_E_NOT_FOUND;
    rbx__st_done(st, s);
    return rc;
}

/* The sealed body (a message's plaintext, or a retry request's ids). */
static int send_body_open(rbx_store *st, const send_row *r, uint8_t **pt, size_t *len)
{
    sqlite3_stmt *s;
    *pt = NULL;
    *len = 0;
    int rc = rbx__st_prep(st, &s, "SELECT pt FROM sends WHERE id = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, r->id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        rc = sqlite3_column_type(s, 0) == SQLITE_NULL
                 ? RBX_E_NOT_FOUND
                 : rbx__st_column_open(st, pt, len, s, 0, "sends", r->id, r->generation, "pt");
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    return rc;
}

/* A content plaintext: header right before the body, in one buffer (the
 * body is copied once; the header is rewritten in front of it). */
typedef struct content_buf {
    uint8_t *buf;
    size_t cap, body_at, bodylen;
} content_buf;

static int content_buf_init(content_buf *cb, const uint8_t *body, size_t bodylen)
{
    cb->body_at = RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U;
    cb->cap = cb->body_at + bodylen;
    cb->bodylen = bodylen;
    if ((cb->buf = malloc(cb->cap)) == NULL) return RBX_E_NOMEM;
    if (bodylen) memcpy(cb->buf + cb->body_at, body, bodylen);
    return 0;
}

static void content_buf_free(content_buf *cb)
{
    if (cb->buf != NULL) WIPE_BUF(cb->buf, cb->cap);
    free(cb->buf);
    cb->buf = NULL;
}

/* The plaintext of content c over cb's body: (pointer, length). */
static const uint8_t *content_for(content_buf *cb, const rbx__content *c, size_t *len)
{
    uint8_t hdr[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U];
    size_t h = rbx__content_header(hdr, c);
    if (h == 0) return NULL;
    memcpy(cb->buf + cb->body_at - h, hdr, h);
    *len = h + (c->type == RBX_CONTENT_RETRY ? 0 : cb->bodylen);
    return cb->buf + cb->body_at - h;
}

/* The content a device of d->user gets for send r. */
static void content_of(rbx__content *c, const send_row *r, const char *own, const listed *d,
                       const content_buf *cb)
{
    memset(c, 0, sizeof *c);
    memcpy(c->message_id, r->cid, 16);
    c->flags = r->cflags;
    if (r->ctype == RBX_CONTENT_RETRY) {
        c->type = RBX_CONTENT_RETRY;
        c->nids = cb->bodylen / 16U;
        c->ids = cb->buf + cb->body_at;
        return;
    }
    /* Our own other devices get a sync copy naming the recipient. */
    if (strcmp(d->user, own) == 0) {
        c->type = RBX_CONTENT_SYNC;
        snprintf(c->to, sizeof c->to, "%s", r->to);
    } else {
        c->type = RBX_CONTENT_MESSAGE;
    }
}

/* Encrypt c to d under its session (or a new one), save the session and
 * store the envelope row. The ciphertext is returned in (wire, *wlen), a
 * malloc'ed buffer. */
static int envelope_make(rbx_store *st, const send_row *r, const listed *d, content_buf *cb,
                         const rbx__content *c, const rbx_policy *pol, const rbx_session_opts *opts,
                         int64_t gen, int force, int archive)
{
    rbx__stored_session ss;
    int fresh;
    size_t ptlen, wlen = 0;
    int rc = session_for(st, &ss, &fresh, d, pol, opts, force);
    if (rc != 0) return rc;
    const uint8_t *pt = content_for(cb, c, &ptlen);
    uint8_t *wire = NULL;
    if (pt == NULL) {
        rc = RBX_E_INVALID;
        goto out;
    }
    size_t cap = rbx_session_wire_size(ss.s, ptlen);
    if ((wire = malloc(cap)) == NULL) {
        rc = RBX_E_NOMEM;
        goto out;
    }
    if ((rc = rbx_session_encrypt(ss.s, wire, cap, &wlen, pt, ptlen)) != 0 ||
        (rc = rbx__st_save_session(st, d->contact, ss.s, gen, 0, ss.ik)) != 0)
        goto out;
    if (archive && (rc = rbx__archive_add(st, ss.s->base_key, r->to, 1, cb->buf + cb->body_at,
                                          cb->bodylen)) != 0)
        goto out;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT OR REPLACE INTO send_envelopes (send, user, device, regid,"
                                   " identity, wire, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                                   " rbx_mac('send_envelopes', ?1, ?2, ?3, ?4, ?5))")) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, d->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, d->device);
    sqlite3_bind_int64(s, 4, d->regid);
    sqlite3_bind_blob(s, 5, d->identity, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 6, wire, (int)wlen, SQLITE_STATIC);
    rc = step_done(st, s);
out:
    /* A ciphertext of a state that is rolled back never leaves. */
    if (wire != NULL) WIPE_BUF(wire, wlen);
    free(wire);
    rbx_session_free(ss.s);
    return rc;
}

/* Copy a send's envelopes out (after its commit). */
static int envelopes_out(rbx_store *st, rbx_send_info *info, rbx_envelope *env, size_t envcap,
                         uint8_t *out, size_t outcap, const send_row *r)
{
    sqlite3_stmt *s;
    size_t n = 0, used = 0;
    int rc = rbx__st_prep(st, &s, "SELECT user, device, regid, wire, rbx_mac_ok('send_envelopes', mac, "
                                  RBX_AUTH_SEND_ENVELOPES ") FROM send_envelopes"
                                  " WHERE send = ?1 AND wire IS NOT NULL ORDER BY user, device");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, r->id);
    while ((rc = rbx__st_step(s)) == 1) {
        size_t wl = (size_t)sqlite3_column_bytes(s, 3);
        if (n == envcap || wl > outcap - used) {
            rc = RBX_E_BUFFER;
            break;
        }
        rbx_envelope *e = &env[n];
        memset(e, 0, sizeof *e);
        if (tag_ok(s, 4) != 0) {
            rc = RBX_E_TAMPERED;
            break;
        }
        if (col_user(s, 0, e->user) != 0 || col_u32(s, 1, &e->device) != 0 ||
            col_u32(s, 2, &e->registration_id) != 0 || sqlite3_column_type(s, 3) != SQLITE_BLOB ||
            wl == 0 || wl > RBX_MAX_WIRE + 128U) {
            rc = RBX_E_CORRUPT;
            break;
        }
        memcpy(out + used, sqlite3_column_blob(s, 3), wl);
        e->offset = used;
        e->len = wl;
        used += wl;
        n++;
    }
    rbx__st_done(st, s);
    if (rc < 0) {
        WIPE_BUF(out, used);
        memset(info, 0, sizeof *info);
        return rc;
    }
    memset(info, 0, sizeof *info);
    info->id = (uint64_t)r->id;
    memcpy(info->message_id, r->message_id, 16);
    snprintf(info->to, sizeof info->to, "%s", r->to);
    info->kind = r->kind;
    info->n = n;
    return 0;
}

/* Erase what the re-send window no longer needs (in the caller's transaction). */
static int sends_expire(rbx_store *st)
{
    static const char *const sql[] = {
        "DELETE FROM send_envelopes WHERE send IN (SELECT id FROM sends WHERE state = 1"
        " AND created < ?1)",
        "DELETE FROM sends WHERE state = 1 AND created < ?1",
    };
    int rc = 0;
    for (size_t i = 0; i < RBX_COUNTOF(sql) && rc == 0; i++) {
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, sql[i])) != 0) break;
        sqlite3_bind_int64(s, 1, rbx__st_now(st) - (int64_t)RBX_RESEND_WINDOW);
        rc = step_done(st, s);
    }
    return rc;
}

/* A new sends row; r->id is set. body (sealed) may be NULL. */
static int send_insert(rbx_store *st, send_row *r, const uint8_t *body, size_t bodylen)
{
    sqlite3_stmt *s;
    /* The id first: the body is sealed under it, and the tag covers it. */
    int rc = rbx__st_prep(st, &s, "SELECT ifnull(max(id), 0) + 1 FROM sends");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    r->id = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (r->id <= 0) return RBX_E_CORRUPT;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO sends (id, message_id, to_user, kind, ctype, cflags,"
                                   " cid, state, created, generation, pt, mac) VALUES (?9, ?1, ?2, ?3,"
                                   " ?4, ?5, ?6, 0, ?7, ?8, ?10, rbx_mac('sends', ?9, ?1, ?2, ?3, ?4,"
                                   " ?5, ?6, 0, ?7, ?8))")) != 0)
        return rc;
    sqlite3_bind_blob(s, 1, r->message_id, 16, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, r->to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, r->kind);
    sqlite3_bind_int64(s, 4, r->ctype);
    sqlite3_bind_int64(s, 5, r->cflags);
    sqlite3_bind_blob(s, 6, r->cid, 16, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, r->created);
    sqlite3_bind_int64(s, 8, r->generation);
    sqlite3_bind_int64(s, 9, r->id);
    if (body != NULL)
        rc = rbx__st_bind_sealed(st, s, 10, "sends", r->id, r->generation, "pt", body, bodylen);
    if (rc == 0) {
        int r1 = sqlite3_step(s);
        rc = (r1 & 0xff) == SQLITE_CONSTRAINT ? RBX_E_EXISTS : rbx__sql_err(r1);
    }
    rbx__st_done(st, s);
    return rc;
}

int rbx_store_send(rbx_store *st, rbx_send_info *info, rbx_envelope *env, size_t envcap,
                   uint8_t *out, size_t outcap, const char *to, const uint8_t *pt, size_t ptlen,
                   const rbx_session_opts *opts)
{
    rbx_account a;
    user_row u1, u2;
    listed *v = NULL;
    size_t nv = 0, ntargets = 0;
    content_buf cb = { 0 };
    rbx_policy pol;
    send_row r;
    memset(info, 0, sizeof *info);
    if (!rbx_user_id_ok(to) || (pt == NULL && ptlen > 0)) return RBX_E_INVALID;
    if (ptlen > RBX_MAX_PLAINTEXT) return RBX_E_TOO_BIG;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = account_load(st, &a)) != 0 || (rc = user_load(st, &u1, to)) != 0 ||
        (rc = user_load(st, &u2, a.user)) != 0)
        goto fail;
    if (u1.pin.seq == 0 || u2.pin.seq == 0) {
        rc = RBX_E_NOT_FOUND;
        goto fail;
    }
    if ((rc = listed_all(st, &v, &nv, to, a.user)) != 0) goto fail;
    for (size_t i = 0; i < nv; i++)
        if (!(strcmp(v[i].user, a.user) == 0 && v[i].device == a.device)) ntargets++;
    /* Room first: nothing is encrypted for a send that cannot be handed out. */
    if (ntargets == 0) {
        rc = RBX_E_NOT_FOUND;
        goto fail;
    }
    if (ntargets > envcap || outcap / ntargets < RBX_ENVELOPE_MAXBYTES(ptlen)) {
        rc = RBX_E_BUFFER;
        goto fail;
    }
    if ((rc = rbx__st_policy(st, &pol)) != 0 || (rc = content_buf_init(&cb, pt, ptlen)) != 0 ||
        (rc = sends_expire(st)) != 0)
        goto fail;
    memset(&r, 0, sizeof r);
    rbx__message_id(r.message_id, st->msgid_key, &st->msgid_ctr);
    memcpy(r.cid, r.message_id, 16);
    snprintf(r.to, sizeof r.to, "%s", to);
    r.kind = RBX_SEND_FANOUT;
    r.ctype = RBX_CONTENT_MESSAGE;
    r.created = rbx__st_now(st);
    if ((rc = rbx__st_next_generation(st, &r.generation)) != 0 ||
        (rc = send_insert(st, &r, pt, ptlen)) != 0)
        goto fail;
    /* History once per message, under the first session it goes out in. */
    int archive = pol.archive;
    for (size_t i = 0; i < nv; i++) {
        if (strcmp(v[i].user, a.user) == 0 && v[i].device == a.device) continue;
        rbx__content c;
        content_of(&c, &r, a.user, &v[i], &cb);
        if ((rc = envelope_make(st, &r, &v[i], &cb, &c, &pol, opts, r.generation, 0, archive)) != 0)
            goto fail;
        archive = 0;
    }
    if ((rc = rbx__st_commit(st, r.generation)) != 0) goto wipe;
    content_buf_free(&cb);
    free(v);
    /* Committed: the envelopes leave (read back in a snapshot). */
    if ((rc = rbx__st_exec(st, "BEGIN")) != 0) return rc;
    rc = envelopes_out(st, info, env, envcap, out, outcap, &r);
    rbx__st_rollback(st);
    return rc;
fail:
    rbx__st_rollback(st);
wipe:
    content_buf_free(&cb);
    free(v);
    memset(info, 0, sizeof *info);
    return rc;
}

int rbx_store_send_get(rbx_store *st, rbx_send_info *info, rbx_envelope *env, size_t envcap,
                       uint8_t *out, size_t outcap, uint64_t id)
{
    send_row r;
    memset(info, 0, sizeof *info);
    /* A send may be left by a process that died between its COMMIT and
     * raising the generation record: raised now, before anything leaves
     * (P 15.6), as rbx_store_outbox_next does. */
    int64_t gen;
    int rc = rbx__st_generation(st, &gen);
    if (rc == 0) rc = rbx__st_sidecar_raise(st, gen, 1);
    if (rc != 0) return rc;
    if ((rc = rbx__st_exec(st, "BEGIN")) != 0) return rc;
    rc = send_load(st, &r, id);
    if (rc == 0 && r.state != SEND_PENDING) rc = RBX_E_NOT_FOUND;
    if (rc == 0) rc = envelopes_out(st, info, env, envcap, out, outcap, &r);
    rbx__st_rollback(st);
    return rc;
}

int rbx_store_send_rebuild(rbx_store *st, rbx_send_info *info, rbx_envelope *env, size_t envcap,
                           uint8_t *out, size_t outcap, uint64_t id, const rbx_session_opts *opts)
{
    rbx_account a;
    send_row r;
    listed *v = NULL;
    size_t nv = 0;
    content_buf cb = { 0 };
    uint8_t *body = NULL;
    size_t bodylen = 0;
    rbx_policy pol;
    memset(info, 0, sizeof *info);
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = account_load(st, &a)) != 0 || (rc = send_load(st, &r, id)) != 0) goto fail;
    if (r.state != SEND_PENDING) {
        rc = RBX_E_NOT_FOUND;
        goto fail;
    }
    rc = send_body_open(st, &r, &body, &bodylen);
    if (rc != 0 && !(rc == RBX_E_NOT_FOUND && r.kind == RBX_SEND_RESEND)) goto fail;
    if ((rc = rbx__st_policy(st, &pol)) != 0 ||
        (rc = content_buf_init(&cb, body, bodylen)) != 0 ||
        (rc = listed_all(st, &v, &nv, r.to, a.user)) != 0)
        goto fail;
    /* Envelopes of devices no longer listed, or listed under another key
     * or registration id, go; the others stay byte for byte. */
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "SELECT user, device, regid, identity, rbx_mac_ok('send_envelopes',"
                                   " mac, " RBX_AUTH_SEND_ENVELOPES ") FROM send_envelopes"
                                   " WHERE send = ?1")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, r.id);
    typedef struct {
        char user[RBX_USER_MAX];
        uint32_t device;
        int keep;
    } have_t;
    have_t *have = NULL;
    size_t nhave = 0;
    while ((rc = rbx__st_step(s)) == 1) {
        have_t *x = realloc(have, (nhave + 1) * sizeof *x);
        if (x == NULL) {
            rc = RBX_E_NOMEM;
            break;
        }
        have = x;
        uint32_t regid;
        uint8_t ik[32];
        if (tag_ok(s, 4) != 0) {
            rc = RBX_E_TAMPERED;
            break;
        }
        if (col_user(s, 0, have[nhave].user) != 0 || col_u32(s, 1, &have[nhave].device) != 0 ||
            col_u32(s, 2, &regid) != 0 || col_blob_n(s, 3, ik, 32) != 0) {
            rc = RBX_E_CORRUPT;
            break;
        }
        have[nhave].keep = 0;
        for (size_t i = 0; i < nv; i++)
            if (strcmp(v[i].user, have[nhave].user) == 0 && v[i].device == have[nhave].device &&
                v[i].regid == regid && sodium_memcmp(v[i].identity, ik, 32) == 0)
                have[nhave].keep = 1;
        nhave++;
    }
    rbx__st_done(st, s);
    if (rc < 0) {
        free(have);
        goto fail;
    }
    rc = 0;
    for (size_t k = 0; k < nhave && rc == 0; k++) {
        if (have[k].keep) continue;
        if ((rc = rbx__st_prep(st, &s, "DELETE FROM send_envelopes WHERE send = ?1 AND user = ?2"
                                       " AND device = ?3")) != 0)
            break;
        sqlite3_bind_int64(s, 1, r.id);
        sqlite3_bind_text(s, 2, have[k].user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, have[k].device);
        rc = step_done(st, s);
    }
    int64_t gen = 0;
    if (rc == 0) rc = rbx__st_next_generation(st, &gen);
    size_t count = 0;
    for (size_t i = 0; i < nv && rc == 0; i++) {
        if (strcmp(v[i].user, a.user) == 0 && v[i].device == a.device) continue;
        int kept = 0, was = 0;
        for (size_t k = 0; k < nhave; k++)
            if (strcmp(have[k].user, v[i].user) == 0 && have[k].device == v[i].device) {
                was = 1;
                kept = have[k].keep;
            }
        /* A targeted send only remakes the envelopes it had. */
        if (r.kind != RBX_SEND_FANOUT && !was) continue;
        count++;
        if (kept) continue;
        if (r.kind == RBX_SEND_RESEND) {
            count = 0; /* a re-send's plaintext is the original's: dropped below */
            break;
        }
        rbx__content c;
        content_of(&c, &r, a.user, &v[i], &cb);
        rc = envelope_make(st, &r, &v[i], &cb, &c, &pol, opts, gen, r.kind == RBX_SEND_RETRY, 0);
    }
    free(have);
    if (rc == 0 && count == 0) {
        /* Nothing left to send it to (a targeted send whose device left
         * its list or has a new state): the send goes, in this transaction. */
        static const char *const drop[] = { "DELETE FROM send_envelopes WHERE send = ?1",
                                            "DELETE FROM sends WHERE id = ?1" };
        for (size_t i = 0; i < 2 && rc == 0; i++) {
            if ((rc = rbx__st_prep(st, &s, drop[i])) != 0) break;
            sqlite3_bind_int64(s, 1, r.id);
            rc = step_done(st, s);
        }
        if (rc == 0) rc = rbx__audit(st, "send dropped", "to %s: no listed device left", r.to);
        if (rc == 0 && (rc = rbx__st_commit(st, gen)) == 0) rc = RBX_E_NOT_FOUND;
        content_buf_free(&cb);
        rbx__st_free_secret(body, bodylen);
        free(v);
        return rc;
    }
    if (rc != 0) goto fail;
    if ((rc = rbx__st_commit(st, gen)) != 0) goto wipe;
    content_buf_free(&cb);
    rbx__st_free_secret(body, bodylen);
    free(v);
    if ((rc = rbx__st_exec(st, "BEGIN")) != 0) return rc;
    rc = envelopes_out(st, info, env, envcap, out, outcap, &r);
    rbx__st_rollback(st);
    return rc;
fail:
    rbx__st_rollback(st);
wipe:
    content_buf_free(&cb);
    rbx__st_free_secret(body, bodylen);
    free(v);
    memset(info, 0, sizeof *info);
    return rc;
}

int rbx_store_send_done(rbx_store *st, uint64_t id)
{
    send_row r;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = send_load(st, &r, id)) != 0) goto fail;
    if (r.state != SEND_PENDING) {
        rc = RBX_E_NOT_FOUND;
        goto fail;
    }
    /* Ciphertexts go; a message's plaintext and recipients stay for
     * re-sends; a retry request or a re-send is forgotten. */
    const char *const keep[] = { "UPDATE send_envelopes SET wire = NULL WHERE send = ?1",
                                 "UPDATE sends SET state = 1, created = ?2,"
                                 " mac = rbx_mac('sends', id, message_id, to_user, kind, ctype,"
                                 " cflags, cid, 1, ?2, generation) WHERE id = ?1"
                                 " AND rbx_mac_ok('sends', mac, " RBX_AUTH_SENDS ")" };
    const char *const drop[] = { "DELETE FROM send_envelopes WHERE send = ?1",
                                 "DELETE FROM sends WHERE id = ?1" };
    const char *const *sql = r.kind == RBX_SEND_FANOUT ? keep : drop;
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, sql[i])) != 0) break;
        sqlite3_bind_int64(s, 1, r.id);
        if (r.kind == RBX_SEND_FANOUT && i == 1) {
            sqlite3_bind_int64(s, 2, rbx__st_now(st));
            rc = step_one(st, s);
        } else {
            rc = step_done(st, s);
        }
    }
    if (rc == 0) rc = sends_expire(st);
    if (rc != 0) goto fail;
    return rbx__st_commit(st, 0);
fail:
    rbx__st_rollback(st);
    return rc;
}

/* ------------------------------------------------------------ retry requests */

int rbx_store_retry_request(rbx_store *st, rbx_send_info *info, rbx_envelope *env, size_t envcap,
                            uint8_t *out, size_t outcap, const char *user, uint32_t device,
                            const uint8_t (*ids)[16], size_t nids)
{
    rbx_account a;
    listed d;
    content_buf cb = { 0 };
    rbx_policy pol;
    send_row r;
    memset(info, 0, sizeof *info);
    if (!rbx_user_id_ok(user) || nids == 0 || nids > RBX_RETRY_MAX_IDS) return RBX_E_INVALID;
    if (envcap < 1 || outcap < RBX_ENVELOPE_MAXBYTES(0)) return RBX_E_BUFFER;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    int64_t now = rbx__st_now(st);
    if ((rc = account_load(st, &a)) != 0 || (rc = listed_find(st, &d, user, device)) != 0) goto fail;
    if (strcmp(user, a.user) == 0 && device == a.device) {
        rc = RBX_E_INVALID;
        goto fail;
    }
    /* PROTOCOL.md 21.5: one request per peer device per interval. */
    if (d.retry_asked != 0 && now - d.retry_asked < (int64_t)RBX_RETRY_INTERVAL &&
        now >= d.retry_asked) {
        rc = RBX_E_LIMIT;
        goto fail;
    }
    if ((rc = rbx__st_policy(st, &pol)) != 0 ||
        (rc = content_buf_init(&cb, (const uint8_t *)ids, nids * 16U)) != 0)
        goto fail;
    memset(&r, 0, sizeof r);
    rbx__message_id(r.message_id, st->msgid_key, &st->msgid_ctr);
    memcpy(r.cid, r.message_id, 16);
    snprintf(r.to, sizeof r.to, "%s", user);
    r.kind = RBX_SEND_RETRY;
    r.ctype = RBX_CONTENT_RETRY;
    r.created = now;
    if ((rc = rbx__st_next_generation(st, &r.generation)) != 0 ||
        (rc = send_insert(st, &r, (const uint8_t *)ids, nids * 16U)) != 0)
        goto fail;
    rbx__content c;
    content_of(&c, &r, a.user, &d, &cb);
    /* A new session, its first message the request: authenticated by X3DH
     * both ways, and a replay is refused by the session it would start. */
    if ((rc = envelope_make(st, &r, &d, &cb, &c, &pol, NULL, r.generation, 1, 0)) != 0) goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "UPDATE user_devices SET retry_asked = ?3,"
                                   " mac = rbx_mac('user_devices', user, device, identity, added_seq,"
                                   " regid, contact, ?3, retry_served) WHERE user = ?1 AND device = ?2"
                                   " AND rbx_mac_ok('user_devices', mac, " RBX_AUTH_USER_DEVICES ")")) != 0)
        goto fail;
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, device);
    sqlite3_bind_int64(s, 3, now);
    if ((rc = step_one(st, s)) != 0 ||
        (rc = rbx__audit(st, "retry requested", "from %s/%u, %zu messages", user, device, nids)) != 0)
        goto fail;
    if ((rc = rbx__st_commit(st, r.generation)) != 0) goto wipe;
    content_buf_free(&cb);
    if ((rc = rbx__st_exec(st, "BEGIN")) != 0) return rc;
    rc = envelopes_out(st, info, env, envcap, out, outcap, &r);
    rbx__st_rollback(st);
    return rc;
fail:
    rbx__st_rollback(st);
wipe:
    content_buf_free(&cb);
    memset(info, 0, sizeof *info);
    return rc;
}

/* Serve a retry request from d (PROTOCOL.md 21.5): every named message that
 * went to d and is still in the re-send window is encrypted again under
 * the current session with d (the one the request just started), each a
 * pending targeted send whose message id derives from the request's and
 * the message's, so that a redelivered request makes nothing twice. At
 * most one request per device per RBX_RETRY_INTERVAL is served. */
static int retry_serve(rbx_store *st, rbx_user_received *info, const listed *d,
                       const uint8_t req_id[16], const uint8_t *ids, size_t nids)
{
    rbx_account a;
    rbx_policy pol;
    listed cur;
    uint8_t mids[RBX_RETRY_MAX_IDS][16];
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    int64_t now = rbx__st_now(st), gen = 0;
    if ((rc = account_load(st, &a)) != 0 || (rc = listed_find(st, &cur, d->user, d->device)) != 0 ||
        (rc = rbx__st_policy(st, &pol)) != 0)
        goto fail;
    /* Already served (a redelivery): report what it made. */
    size_t seen = 0;
    for (size_t i = 0; i < nids; i++) {
        uint8_t in[32];
        memcpy(in, req_id, 16);
        memcpy(in + 16, ids + 16 * i, 16);
        crypto_generichash(mids[i], 16, in, 32, NULL, 0);
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, "SELECT 1 FROM sends WHERE message_id = ?1")) != 0) goto fail;
        sqlite3_bind_blob(s, 1, mids[i], 16, SQLITE_STATIC);
        rc = rbx__st_step(s);
        rbx__st_done(st, s);
        if (rc < 0) goto fail;
        seen += (size_t)rc;
    }
    if (seen > 0) {
        info->resent = seen;
        rbx__st_rollback(st);
        return 0;
    }
    if (cur.retry_served != 0 && now >= cur.retry_served &&
        now - cur.retry_served < (int64_t)RBX_RETRY_INTERVAL) {
        info->retry_limited = 1;
        rbx__st_rollback(st);
        (void)rbx__audit_alone(st, "retry refused", "from %s/%u: one per %u s", d->user, d->device,
                               RBX_RETRY_INTERVAL);
        return 0;
    }
    if ((rc = rbx__st_next_generation(st, &gen)) != 0) goto fail;
    size_t made = 0;
    for (size_t i = 0; i < nids; i++) {
        /* The message, if it went to d and its plaintext is still here. */
        send_row orig;
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, "SELECT " SEND_COLS " FROM sends s WHERE s.kind = 0 AND"
                                       " s.cid = ?1 AND EXISTS (SELECT 1 FROM send_envelopes e"
                                       " WHERE e.send = s.id AND e.user = ?2 AND e.device = ?3"
                                       " AND rbx_mac_ok('send_envelopes', e.mac, e.send, e.user,"
                                       " e.device, e.regid, e.identity))")) != 0)
            goto fail;
        sqlite3_bind_blob(s, 1, ids + 16 * i, 16, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, d->user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, d->device);
        rc = rbx__st_step(s);
        if (rc == 1) rc = send_row_read(s, &orig);
        else if (rc == 0) rc = RBX_E_NOT_FOUND;
        rbx__st_done(st, s);
        uint8_t *body = NULL;
        size_t bodylen = 0;
        if (rc == 0) rc = send_body_open(st, &orig, &body, &bodylen);
        if (rc == RBX_E_NOT_FOUND) continue; /* not ours to re-send, or expired */
        if (rc != 0) goto fail;
        content_buf cb = { 0 };
        rc = content_buf_init(&cb, body, bodylen);
        rbx__st_free_secret(body, bodylen);
        send_row r;
        memset(&r, 0, sizeof r);
        memcpy(r.message_id, mids[i], 16);
        memcpy(r.cid, orig.cid, 16);
        snprintf(r.to, sizeof r.to, "%s", orig.to);
        r.kind = RBX_SEND_RESEND;
        r.ctype = orig.ctype;
        r.cflags = RBX_CONTENT_RESENT;
        r.created = now;
        r.generation = gen;
        if (rc == 0) rc = send_insert(st, &r, NULL, 0);
        if (rc == 0) {
            rbx__content c;
            content_of(&c, &r, a.user, &cur, &cb);
            rc = envelope_make(st, &r, &cur, &cb, &c, &pol, NULL, gen, 0, 0);
        }
        content_buf_free(&cb);
        if (rc != 0) goto fail;
        made++;
    }
    info->resent = made;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "UPDATE user_devices SET retry_served = ?3,"
                                   " mac = rbx_mac('user_devices', user, device, identity, added_seq,"
                                   " regid, contact, retry_asked, ?3) WHERE user = ?1 AND device = ?2"
                                   " AND rbx_mac_ok('user_devices', mac, " RBX_AUTH_USER_DEVICES ")")) != 0)
        goto fail;
    sqlite3_bind_text(s, 1, d->user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, d->device);
    sqlite3_bind_int64(s, 3, now);
    if ((rc = step_one(st, s)) != 0 ||
        (rc = rbx__audit(st, "retry served", "for %s/%u, %zu of %zu messages re-sent", d->user,
                         d->device, made, nids)) != 0)
        goto fail;
    return rbx__st_commit(st, gen);
fail:
    rbx__st_rollback(st);
    info->resent = 0;
    return rc;
}

/* ------------------------------------------------------------ receiving */

int rbx_store_receive(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen,
                      rbx_user_received *info, const char *user, uint32_t device,
                      const uint8_t *in, size_t len)
{
    rbx_account a;
    listed d;
    user_row u;
    rbx_received ri;
    rbx_prekey_info pi;
    *ptlen = 0;
    memset(info, 0, sizeof *info);
    if (!rbx_user_id_ok(user) || device == 0 || device > RBX_DEVICE_ID_MAX) return RBX_E_INVALID;
    int kind = rbx_message_prekey_info(&pi, in, len);
    if (kind < 0) return kind;
    /* The sender as our verified list of its user has it. */
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = account_load(st, &a);
    if (rc == 0) rc = user_load(st, &u, user);
    if (rc == 0 && (!u.exists || u.pin.seq == 0)) rc = RBX_E_NOT_FOUND;
    if (rc == 0) rc = listed_find(st, &d, user, device);
    if (rc == 0 && (d.contact == 0 || (strcmp(user, a.user) == 0 && device == a.device)))
        rc = RBX_E_NOT_FOUND;
    /* The contact row of (user, device) is pinned to a key of its verified
     * list; a key the list or a rotation record replaced stays for its
     * grace window (16.4). A first message under any other key is refused
     * before anything else is looked at (a one-time prekey, say). */
    if (rc == 0 && kind == 1) {
        rbx__contact c, old;
        int64_t until;
        if ((rc = rbx__st_find_contact_by_id(st, &c, d.contact)) == 0 &&
            sodium_memcmp(c.identity, pi.initiator_identity, 32) != 0) {
            rc = rbx__st_find_contact_by_old_key(st, &old, pi.initiator_identity, c.id, &until);
            if (rc == RBX_E_NOT_FOUND) rc = RBX_E_IDENTITY_CHANGED;
        }
    }
    rbx__st_rollback(st);
    if (rc != 0) return rc;
    rc = rbx_store_decrypt(st, pt, ptcap, ptlen, &ri, user, device, in, len);
    /* A normal message with no session to go to: ours was lost or reset. */
    if (rc == RBX_E_NOT_FOUND && kind == 0) return RBX_E_STATE;
    if (rc != 0) return rc;
    rbx__content c;
    int bad = rbx__content_parse(&c, pt, *ptlen);
    int own = strcmp(user, a.user) == 0;
    if (bad == 0 && ((own && c.type == RBX_CONTENT_MESSAGE) || (!own && c.type == RBX_CONTENT_SYNC)))
        bad = RBX_E_MALFORMED;
    if (bad != 0) {
        /* Authenticated, but not a content its sender may send: refused,
         * and its inbox entry goes (the ratchet step stands). */
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
        int gone = rbx_store_ack_inbox(st, ri.inbox_id);
        (void)gone; /* best effort: the refusal stands either way */
        return bad;
    }
    snprintf(info->user, sizeof info->user, "%s", user);
    info->device = device;
    info->type = c.type;
    info->flags = c.flags;
    info->sync = own;
    snprintf(info->to, sizeof info->to, "%s", c.type == RBX_CONTENT_SYNC ? c.to : a.user);
    memcpy(info->message_id, c.message_id, 16);
    info->inbox_id = ri.inbox_id;
    info->redelivered = ri.redelivered;
    if (c.type == RBX_CONTENT_RETRY) {
        uint8_t ids[RBX_RETRY_MAX_IDS * 16U];
        memcpy(ids, c.ids, c.nids * 16U);
        size_t nids = c.nids;
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
        if ((rc = retry_serve(st, info, &d, info->message_id, ids, nids)) != 0) {
            memset(info, 0, sizeof *info);
            return rc;
        }
        return 0;
    }
    /* The body to the front of the caller's buffer. */
    memmove(pt, c.body, c.bodylen);
    WIPE_BUF(pt + c.bodylen, *ptlen - c.bodylen);
    *ptlen = c.bodylen;
    return 0;
}

/* ------------------------------------------------------------ keys for a server */

int rbx_store_onetime_export(rbx_store *st, uint32_t *ids, uint8_t (*keys)[32], size_t cap,
                             size_t *n)
{
    rbx_policy pol;
    size_t made;
    *n = 0;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    uint8_t pk[32], sk[32];
    rc = rbx__st_load_identity(st, pk, sk);
    WIPE(sk);
    if (rc != 0) goto fail;
    if ((rc = rbx__st_policy(st, &pol)) != 0) goto fail;
    /* Enough for this export, then the policy's floor. */
    unsigned batch = cap > pol.onetime_batch ? (unsigned)cap : pol.onetime_batch;
    if ((rc = rbx__st_refill_onetime(st, (unsigned)(cap < pol.onetime_low ? pol.onetime_low : cap),
                                     batch, &made)) != 0)
        goto fail;
    sqlite3_stmt *s;
    /* Each re-tagged as offered only if its tag matched (15.8); one that
     * did not stays unoffered, and is counted below. */
    if ((rc = rbx__st_prep(st, &s, "UPDATE onetime_prekeys SET offered = 1,"
                                   " mac = rbx_mac('onetime_prekeys', id, pk, sk, 1) WHERE id IN"
                                   " (SELECT id FROM onetime_prekeys WHERE offered = 0 AND sk IS NOT NULL"
                                   " ORDER BY id LIMIT ?1) AND rbx_mac_ok('onetime_prekeys', mac, "
                                   RBX_AUTH_ONETIME_PREKEYS ") RETURNING id, pk")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, (int64_t)cap);
    size_t k = 0;
    while ((rc = rbx__st_step(s)) == 1) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (k == cap || id <= 0 || id >= (int64_t)RBX_NO_PREKEY || col_blob_n(s, 1, keys[k], 32) != 0) {
            rc = RBX_E_CORRUPT;
            break;
        }
        ids[k++] = (uint32_t)id;
    }
    rbx__st_done(st, s);
    if (rc < 0) goto fail;
    /* RETURNING gives no order: ascending, as a server wants them. */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint32_t t = ids[j];
            uint8_t tk[32];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
            memcpy(tk, keys[j], 32);
            memcpy(keys[j], keys[j - 1], 32);
            memcpy(keys[j - 1], tk, 32);
        }
    if ((rc = rbx__audit(st, "prekeys exported", "%zu one-time prekeys", k)) != 0) goto fail;
    if ((rc = rbx__st_commit(st, 0)) != 0) return rc;
    *n = k;
    return 0;
fail:
    rbx__st_rollback(st);
    return rc;
}

/* ------------------------------------------------------------ signing with held keys */

/* The secret of a key this store holds: the identity in force, or an old
 * one still in its grace window. */
static int held_key(rbx_store *st, const uint8_t pk[32], uint8_t sk[32])
{
    uint8_t cur[32];
    int rc = rbx__st_load_identity(st, cur, sk);
    if (rc != 0) return rc;
    if (sodium_memcmp(cur, pk, 32) == 0) return 0;
    WIPE_BUF(sk, 32);
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "SELECT seq, sk, rbx_mac_ok('old_identities', mac, "
                                   RBX_AUTH_OLD_IDENTITIES ") FROM old_identities WHERE pk = ?1"
                                   " AND sk IS NOT NULL AND grace_until > ?2")) != 0)
        return rc;
    sqlite3_bind_blob(s, 1, pk, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, rbx__st_now(st));
    rc = rbx__st_step(s);
    if (rc == 1 && tag_ok(s, 2) != 0) {
        rc = RBX_E_TAMPERED;
    } else if (rc == 1) {
        rc = rbx__st_column_key(st, sk, s, 1, "old_identities", sqlite3_column_int64(s, 0), "sk");
        if (rc == 0 && !rbx__keypair_matches(pk, sk)) rc = RBX_E_CORRUPT;
    } else if (rc == 0) {
        rc = RBX_E_KEY;
    }
    rbx__st_done(st, s);
    if (rc != 0) WIPE_BUF(sk, 32);
    return rc;
}

int rbx_store_devlist_entry(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                            const rbx_devlist_entry *e)
{
    uint8_t ssk[32], subk[32];
    *outlen = 0;
    int has_subject = e->op == RBX_DEVLIST_ADD || e->op == RBX_DEVLIST_ROTATE;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = held_key(st, e->signer, ssk);
    if (rc == 0 && has_subject) {
        uint8_t cur[32];
        rc = rbx__st_load_identity(st, cur, subk);
        if (rc == 0 && sodium_memcmp(cur, e->identity, 32) != 0) rc = RBX_E_KEY;
    }
    rbx__st_rollback(st);
    if (rc == 0) rc = rbx_devlist_entry_sign(out, outcap, outlen, e, ssk, has_subject ? subk : NULL);
    WIPE(ssk);
    WIPE(subk);
    return rc;
}

int rbx_store_request_sign_as(rbx_store *st, uint8_t sig[64], const uint8_t identity[32],
                              const char *method, const char *target, uint64_t ts,
                              const uint8_t nonce[16], const uint8_t *body, size_t bodylen,
                              const char *user, uint32_t device)
{
    uint8_t sk[32];
    memset(sig, 0, 64);
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = held_key(st, identity, sk);
    rbx__st_rollback(st);
    if (rc == 0) rc = rbx_request_sign(sig, method, target, ts, nonce, body, bodylen, user, device, sk);
    WIPE(sk);
    return rc;
}
