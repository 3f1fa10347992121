/* SPDX-License-Identifier: MIT
 * The history archive (PROTOCOL.md section 17): plaintext of sent and
 * received messages kept for session replay under rotatable epoch keys, the
 * three rotation modes (reencrypt, split, shred) and the import of the
 * product's long-lived box history. Runs inside the store's transactions
 * (db.h); epoch keys are sealed rows bound to (archive_epochs, epoch). */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "store_int.h"

#define AD_LABEL "rbx-archive-v1"
#define AD_LABEL_BYTES 14U
#define AD_BYTES (AD_LABEL_BYTES + 32U + 8U + 8U)
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define ENTRY_OVERHEAD (NONCE_BYTES + TAG_BYTES)
#define BASELINE_LABEL "rbx-baseline-session"

/* archive_epochs.state (archive.md "Epochs"). */
enum { EPOCH_ACTIVE = 0, EPOCH_READONLY = 1, EPOCH_ERASED = 2 };

_Static_assert(NONCE_BYTES == 24 && TAG_BYTES == 16, "XChaCha20-Poly1305-IETF sizes");

/* ------------------------------------------------------------ entries */

static void entry_ad(uint8_t ad[AD_BYTES], const uint8_t session[32], uint64_t seq,
                     uint64_t epoch)
{
    memcpy(ad, AD_LABEL, AD_LABEL_BYTES);
    memcpy(ad + AD_LABEL_BYTES, session, 32);
    rbx__store64_be(ad + AD_LABEL_BYTES + 32, seq);
    rbx__store64_be(ad + AD_LABEL_BYTES + 40, epoch);
}

/* ct = nonce || XChaCha20-Poly1305(pt) || tag, malloc'ed. */
static int entry_seal(uint8_t **ct, size_t *ctlen, const uint8_t key[32],
                      const uint8_t session[32], uint64_t seq, uint64_t epoch, const uint8_t *pt,
                      size_t len)
{
    uint8_t ad[AD_BYTES];
    *ct = NULL;
    *ctlen = 0;
    if (len > RBX_MAX_PLAINTEXT) return RBX_E_TOO_BIG;
    uint8_t *c = malloc(len + ENTRY_OVERHEAD);
    if (c == NULL) return RBX_E_NOMEM;
    entry_ad(ad, session, seq, epoch);
    randombytes_buf(c, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(c + NONCE_BYTES, NULL, pt, len, ad, sizeof ad,
                                               NULL, c, key);
    *ct = c;
    *ctlen = len + ENTRY_OVERHEAD;
    return 0;
}

/* pt must hold ctlen - ENTRY_OVERHEAD bytes. A failure is tampering: the
 * entry was edited or moved to another session, sequence or epoch. */
static int entry_open(uint8_t *pt, const uint8_t key[32], const uint8_t session[32], uint64_t seq,
                      uint64_t epoch, const uint8_t *ct, size_t ctlen)
{
    uint8_t ad[AD_BYTES];
    if (ctlen < ENTRY_OVERHEAD) return RBX_E_CORRUPT;
    entry_ad(ad, session, seq, epoch);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct + NONCE_BYTES,
                                                   ctlen - NONCE_BYTES, ad, sizeof ad, ct,
                                                   key) != 0)
        return RBX_E_CORRUPT;
    return 0;
}

/* ------------------------------------------------------------ epochs */

typedef struct epoch_row {
    int64_t epoch;
    int state;
    int64_t created;
    int64_t retain_until; /* -1: none */
    uint8_t key[32];      /* valid when state != EPOCH_ERASED */
} epoch_row;

typedef struct epochs {
    epoch_row *e;
    size_t n, cap;
} epochs;

static void epochs_free(epochs *es)
{
    if (es->e != NULL) WIPE_BUF(es->e, es->cap * sizeof *es->e);
    free(es->e);
    memset(es, 0, sizeof *es);
}

static const epoch_row *epochs_find(const epochs *es, int64_t epoch)
{
    for (size_t i = 0; i < es->n; i++)
        if (es->e[i].epoch == epoch) return &es->e[i];
    return NULL;
}

/* Every epoch, oldest first, with the keys of those that still have one.
 * Rows are outside input: a bad state or a key that does not open is
 * corruption. */
static int epochs_load(rbx_store *st, epochs *es)
{
    sqlite3_stmt *s;
    memset(es, 0, sizeof *es);
    int rc = rbx__st_prep(st, &s, "SELECT epoch, state, created, retain_until, key,"
                                  " rbx_mac_ok('archive_epochs', mac, " RBX_AUTH_ARCHIVE_EPOCHS ")"
                                  " FROM archive_epochs ORDER BY epoch");
    if (rc != 0) return rc;
    while ((rc = rbx__st_step(s)) == 1) {
        if ((rc = rbx__grow((void **)&es->e, &es->cap, es->n, es->n + 1, sizeof *es->e)) != 0)
            break;
        epoch_row *r = &es->e[es->n];
        memset(r, 0, sizeof *r);
        r->epoch = sqlite3_column_int64(s, 0);
        r->state = sqlite3_column_int(s, 1);
        r->created = sqlite3_column_int64(s, 2);
        r->retain_until = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 3);
        int keyed = sqlite3_column_type(s, 4) != SQLITE_NULL;
        if (r->epoch <= 0 || r->state < EPOCH_ACTIVE || r->state > EPOCH_ERASED ||
            keyed != (r->state != EPOCH_ERASED)) {
            rc = RBX_E_CORRUPT;
            break;
        }
        /* State and retention date decide what shred erases (15.8). */
        if (sqlite3_column_int(s, 5) != 1) {
            rc = RBX_E_TAMPERED;
            break;
        }
        if (keyed && (rc = rbx__st_column_key(st, r->key, s, 4, "archive_epochs", r->epoch, "key")) != 0)
            break;
        es->n++;
    }
    rbx__st_done(st, s);
    if (rc < 0) {
        epochs_free(es);
        return rc;
    }
    return 0;
}

/* A new epoch numbered after every existing one, with a fresh key, copied
 * to key unless the caller needs only the number (key NULL). */
static int epoch_new(rbx_store *st, int state, int64_t retain_until, int64_t *epoch,
                     uint8_t *key)
{
    sqlite3_stmt *s;
    uint8_t k[32];
    int rc = rbx__st_prep(st, &s, "SELECT coalesce(max(epoch), 0) + 1 FROM archive_epochs");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    *epoch = sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    if (rc != 1) return rc < 0 ? rc : RBX_E_CORRUPT;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO archive_epochs (epoch, key, created, retain_until,"
                                   " state, mac) VALUES (?1, ?2, ?3, ?4, ?5,"
                                   " rbx_mac('archive_epochs', ?1, ?2, ?3, ?4, ?5))")) != 0)
        return rc;
    randombytes_buf(k, sizeof k);
    sqlite3_bind_int64(s, 1, *epoch);
    rc = rbx__st_bind_sealed(st, s, 2, "archive_epochs", *epoch, 0, "key", k, sizeof k);
    sqlite3_bind_int64(s, 3, rbx__st_now(st));
    if (retain_until >= 0) sqlite3_bind_int64(s, 4, retain_until);
    sqlite3_bind_int(s, 5, state);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc == 0 && key != NULL) memcpy(key, k, sizeof k);
    WIPE(k);
    return rc;
}

/* The active epoch (*epoch 0 if there is none) and, unless key is NULL, its
 * key; with create set, an active epoch is made if there is none. The rotate
 * modes need only the number: the key is then not unsealed at all. */
static int epoch_active(rbx_store *st, int64_t *epoch, uint8_t *key, int create)
{
    sqlite3_stmt *s;
    *epoch = 0;
    int rc = rbx__st_prep(st, &s, "SELECT epoch, key, rbx_mac_ok('archive_epochs', mac, "
                                  RBX_AUTH_ARCHIVE_EPOCHS ") FROM archive_epochs WHERE state = 0"
                                  " ORDER BY epoch DESC LIMIT 1");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) {
        *epoch = sqlite3_column_int64(s, 0);
        rc = sqlite3_column_int(s, 2) != 1 ? RBX_E_TAMPERED
             : key == NULL ? 0 : rbx__st_column_key(st, key, s, 1, "archive_epochs", *epoch, "key");
    }
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (*epoch == 0 && create) return epoch_new(st, EPOCH_ACTIVE, -1, epoch, key);
    return 0;
}

/* Erase an epoch's key (secure_delete zeroes the old cell; the caller's
 * erase point takes it out of the log). */
static int epoch_erase(rbx_store *st, int64_t epoch)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "UPDATE archive_epochs SET key = NULL, state = 2,"
                                  " mac = rbx_mac('archive_epochs', epoch, NULL, created, retain_until, 2)"
                                  " WHERE epoch = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, epoch);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

int rbx__archive_epoch_key(rbx_store *st, uint64_t epoch, uint8_t key[32])
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT key FROM archive_epochs WHERE epoch = ?1 AND state != 2");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, (int64_t)epoch);
    rc = rbx__st_step(s);
    rc = rc == 1 ? rbx__st_column_key(st, key, s, 0, "archive_epochs", (int64_t)epoch, "key")
                 : rc == 0 ? RBX_E_NOT_FOUND : rc;
    rbx__st_done(st, s);
    return rc;
}

/* ------------------------------------------------------------ adding */

static int entry_insert(rbx_store *st, const uint8_t session[32], int64_t seq, int64_t epoch,
                        const char *peer, int direction, int64_t created, const uint8_t *ct,
                        size_t ctlen)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT INTO archive (session, seq, epoch, peer, direction,"
                                  " created, ct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, session, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, seq);
    sqlite3_bind_int64(s, 3, epoch);
    sqlite3_bind_text(s, 4, peer, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, direction);
    sqlite3_bind_int64(s, 6, created);
    sqlite3_bind_blob(s, 7, ct, (int)ctlen, SQLITE_STATIC);
    int r = sqlite3_step(s);
    /* Only the statement is undone on a constraint; the transaction goes on. */
    rc = (r & 0xff) == SQLITE_CONSTRAINT ? RBX_E_EXISTS : rbx__sql_err(r);
    rbx__st_done(st, s);
    return rc;
}

int rbx__archive_add(rbx_store *st, const uint8_t session[32], const char *peer, int direction,
                     const uint8_t *pt, size_t len)
{
    uint8_t key[32], *ct = NULL;
    size_t ctlen = 0;
    int64_t epoch, seq = 0;
    sqlite3_stmt *s;
    int rc = epoch_active(st, &epoch, key, 1);
    if (rc != 0) goto out;
    if ((rc = rbx__st_prep(st, &s, "SELECT coalesce(max(seq), 0) + 1 FROM archive WHERE session = ?1")) != 0)
        goto out;
    sqlite3_bind_blob(s, 1, session, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    seq = sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    if (rc != 1) {
        rc = rc < 0 ? rc : RBX_E_CORRUPT;
        goto out;
    }
    if ((rc = entry_seal(&ct, &ctlen, key, session, (uint64_t)seq, (uint64_t)epoch, pt, len)) != 0)
        goto out;
    rc = entry_insert(st, session, seq, epoch, peer, direction != 0, rbx__st_now(st), ct, ctlen);
    if (rc == RBX_E_EXISTS) rc = RBX_E_CORRUPT; /* seq was max + 1 */
out:
    WIPE(key);
    free(ct);
    return rc;
}

/* ------------------------------------------------------------ reading */

#define ENTRY_COLS "SELECT id, session, seq, epoch, peer, direction, created, ct FROM archive "

typedef struct raw_entry {
    rbx_history_entry e;
    const uint8_t *ct;
    size_t ctlen;
} raw_entry;

/* One row of ENTRY_COLS, checked (rows are outside input). */
static int entry_row(raw_entry *r, sqlite3_stmt *s)
{
    const unsigned char *peer = sqlite3_column_text(s, 4);
    int64_t seq = sqlite3_column_int64(s, 2), epoch = sqlite3_column_int64(s, 3);
    int dir = sqlite3_column_int(s, 5);
    memset(r, 0, sizeof *r);
    if (peer == NULL || sqlite3_column_bytes(s, 4) >= (int)RBX_NAME_MAX ||
        sqlite3_column_type(s, 1) != SQLITE_BLOB || sqlite3_column_bytes(s, 1) != 32 ||
        sqlite3_column_type(s, 7) != SQLITE_BLOB ||
        sqlite3_column_bytes(s, 7) < (int)ENTRY_OVERHEAD || seq < 0 || epoch <= 0 ||
        (dir != 0 && dir != 1))
        return RBX_E_CORRUPT;
    r->e.id = (uint64_t)sqlite3_column_int64(s, 0);
    memcpy(r->e.session, sqlite3_column_blob(s, 1), 32);
    r->e.seq = (uint64_t)seq;
    r->e.epoch = (uint64_t)epoch;
    snprintf(r->e.peer, sizeof r->e.peer, "%s", (const char *)peer);
    r->e.direction = dir;
    r->e.created = sqlite3_column_int64(s, 6);
    r->ct = sqlite3_column_blob(s, 7);
    r->ctlen = (size_t)sqlite3_column_bytes(s, 7);
    return 0;
}

int rbx_store_history(rbx_store *st, const char *peer,
                      int (*cb)(const rbx_history_entry *e, void *ctx), void *ctx)
{
    epochs es;
    sqlite3_stmt *s;
    int stop = 0;
    if (peer != NULL && !rbx__st_name_ok(peer)) return RBX_E_INVALID;
    /* One read transaction: one snapshot while other processes write. */
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = epochs_load(st, &es)) != 0) goto out;
    if ((rc = rbx__st_prep(st, &s, ENTRY_COLS "WHERE ?1 IS NULL OR peer = ?1 ORDER BY created, id")) != 0)
        goto out_keys;
    if (peer != NULL) sqlite3_bind_text(s, 1, peer, -1, SQLITE_STATIC);
    while ((rc = rbx__st_step(s)) == 1) {
        raw_entry r;
        uint8_t *pt = NULL;
        size_t ptlen = 0;
        if ((rc = entry_row(&r, s)) != 0) break;
        const epoch_row *ep = epochs_find(&es, (int64_t)r.e.epoch);
        if (ep == NULL) {
            rc = RBX_E_CORRUPT;
            break;
        }
        if (ep->state != EPOCH_ERASED) {
            ptlen = r.ctlen - ENTRY_OVERHEAD;
            rc = (pt = malloc(ptlen + 1)) == NULL ? RBX_E_NOMEM
                 : entry_open(pt, ep->key, r.e.session, r.e.seq, r.e.epoch, r.ct, r.ctlen);
            r.e.pt = pt;
            r.e.ptlen = ptlen;
            r.e.available = 1;
        }
        if (rc == 0) stop = cb(&r.e, ctx);
        rbx__st_free_secret(pt, ptlen);
        if (rc != 0 || stop != 0) break;
    }
    rbx__st_done(st, s);
out_keys:
    epochs_free(&es);
out:
    rbx__st_rollback(st);
    if (rc < 0) return rc;
    return stop;
}

/* ------------------------------------------------------------ rotation */

/* Rewrap every entry of epoch `from` under (to, key_to). Keyset pagination
 * by id: rows leave the scanned set as they are rewritten. */
static int rewrap_epoch(rbx_store *st, const epoch_row *from, int64_t to, const uint8_t key_to[32],
                        uint64_t *count)
{
    sqlite3_stmt *sel, *upd;
    int64_t last = 0;
    int rc = rbx__st_prep(st, &sel, ENTRY_COLS "WHERE epoch = ?1 AND id > ?2 ORDER BY id LIMIT 1");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &upd, "UPDATE archive SET epoch = ?1, ct = ?2 WHERE id = ?3")) != 0) {
        rbx__st_done(st, sel);
        return rc;
    }
    for (;;) {
        raw_entry r;
        uint8_t *pt = NULL, *ct = NULL;
        size_t ptlen = 0, ctlen = 0;
        sqlite3_bind_int64(sel, 1, from->epoch);
        sqlite3_bind_int64(sel, 2, last);
        if ((rc = rbx__st_step(sel)) != 1) break;
        if ((rc = entry_row(&r, sel)) == 0) {
            ptlen = r.ctlen - ENTRY_OVERHEAD;
            rc = (pt = malloc(ptlen + 1)) == NULL ? RBX_E_NOMEM : 0;
        }
        if (rc == 0) rc = entry_open(pt, from->key, r.e.session, r.e.seq, r.e.epoch, r.ct, r.ctlen);
        if (rc == 0) rc = entry_seal(&ct, &ctlen, key_to, r.e.session, r.e.seq, (uint64_t)to, pt, ptlen);
        rbx__st_free_secret(pt, ptlen);
        sqlite3_reset(sel);
        if (rc == 0) {
            last = (int64_t)r.e.id;
            sqlite3_bind_int64(upd, 1, to);
            sqlite3_bind_blob(upd, 2, ct, (int)ctlen, SQLITE_STATIC);
            sqlite3_bind_int64(upd, 3, last);
            rc = rbx__st_step(upd) < 0 ? RBX_E_IO : 0;
            sqlite3_reset(upd);
            if (rc == 0) (*count)++;
        }
        free(ct);
        if (rc != 0) break;
    }
    rbx__st_done(st, sel);
    rbx__st_done(st, upd);
    return rc < 0 ? rc : 0;
}

static int rotate_reencrypt(rbx_store *st, rbx_archive_result *res, char *detail, size_t cap)
{
    epochs es;
    uint8_t key[32];
    int64_t first = 0, last = 0, active = 0;
    int rc = epochs_load(st, &es);
    if (rc != 0) return rc;
    for (size_t i = 0; i < es.n; i++) {
        const epoch_row *e = &es.e[i];
        int64_t to;
        if (e->state == EPOCH_ERASED) continue;
        /* Same state and retention date under a new number and key: a
         * rewrapped read-only epoch is still shredded on its date. */
        if ((rc = epoch_new(st, e->state, e->retain_until, &to, key)) != 0 ||
            (rc = rewrap_epoch(st, e, to, key, &res->rewrapped)) != 0 ||
            (rc = epoch_erase(st, e->epoch)) != 0)
            break;
        if (first == 0) first = to;
        last = to;
        if (e->state == EPOCH_ACTIVE) active = to;
        res->epochs_erased++;
    }
    if (rc == 0 && active == 0) rc = epoch_new(st, EPOCH_ACTIVE, -1, &active, NULL);
    WIPE(key);
    epochs_free(&es);
    if (rc != 0) return rc;
    res->new_epoch = (uint64_t)active;
    snprintf(detail, cap, "mode reencrypt: %llu epoch keys erased, epochs %lld..%lld made, "
             "active epoch %lld, %llu entries rewrapped",
             (unsigned long long)res->epochs_erased, (long long)first, (long long)last,
             (long long)active, (unsigned long long)res->rewrapped);
    return 0;
}

static int rotate_split(rbx_store *st, rbx_archive_result *res, char *detail, size_t cap)
{
    rbx_policy pol;
    int64_t old, now = rbx__st_now(st), until, epoch;
    int rc = rbx__st_policy(st, &pol);
    if (rc == 0) rc = epoch_active(st, &old, NULL, 0);
    if (rc != 0) return rc;
    until = pol.archive_retention > (uint64_t)(INT64_MAX - now) ? INT64_MAX
                                                                : now + (int64_t)pol.archive_retention;
    if (old != 0) {
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, "UPDATE archive_epochs SET state = 1, retain_until = ?1,"
                                       " mac = rbx_mac('archive_epochs', epoch, key, created, ?1, 1)"
                                       " WHERE epoch = ?2")) != 0)
            return rc;
        sqlite3_bind_int64(s, 1, until);
        sqlite3_bind_int64(s, 2, old);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        rbx__st_done(st, s);
        if (rc != 0) return rc;
    }
    if ((rc = epoch_new(st, EPOCH_ACTIVE, -1, &epoch, NULL)) != 0) return rc;
    res->new_epoch = (uint64_t)epoch;
    snprintf(detail, cap, "mode split: epoch %lld read-only until %lld, active epoch %lld",
             (long long)old, (long long)(old != 0 ? until : 0), (long long)epoch);
    return 0;
}

static int rotate_shred(rbx_store *st, rbx_archive_result *res, char *detail, size_t cap)
{
    sqlite3_stmt *s;
    int64_t now = rbx__st_now(st), first = 0, last = 0, active;
    int rc = epoch_active(st, &active, NULL, 0);
    if (rc != 0) return rc;
    /* Which epochs are due is decided by their state and date: every row's
     * tag first, the ones not chosen included (a date moved later would
     * keep a key past its retention, 15.8). */
    if ((rc = rbx__st_prep(st, &s, "SELECT count(*) FROM archive_epochs WHERE"
                                   " NOT rbx_mac_ok('archive_epochs', mac, " RBX_AUTH_ARCHIVE_EPOCHS ")")) != 0)
        return rc;
    rc = rbx__st_step(s);
    int64_t bad = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (bad != 0) return RBX_E_TAMPERED;
    res->new_epoch = (uint64_t)active;
    /* Read-only epochs only: the active one holds the newest messages. */
    for (;;) {
        int64_t epoch = 0, entries = 0;
        if ((rc = rbx__st_prep(st, &s, "SELECT epoch, (SELECT count(*) FROM archive a"
                                       " WHERE a.epoch = e.epoch) FROM archive_epochs e"
                                       " WHERE state = 1 AND retain_until <= ?1"
                                       " ORDER BY epoch LIMIT 1")) != 0)
            return rc;
        sqlite3_bind_int64(s, 1, now);
        rc = rbx__st_step(s);
        if (rc == 1) {
            epoch = sqlite3_column_int64(s, 0);
            entries = sqlite3_column_int64(s, 1);
        }
        rbx__st_done(st, s);
        if (rc <= 0) break;
        if ((rc = epoch_erase(st, epoch)) != 0) return rc;
        if (first == 0) first = epoch;
        last = epoch;
        res->epochs_erased++;
        res->entries_unrecoverable += (uint64_t)entries;
    }
    if (rc < 0) return rc;
    snprintf(detail, cap, "%llu epoch keys erased (epochs %lld..%lld), %llu entries unrecoverable,"
             " active epoch %lld",
             (unsigned long long)res->epochs_erased, (long long)first, (long long)last,
             (unsigned long long)res->entries_unrecoverable, (long long)active);
    return 0;
}

int rbx_store_rotate_archive(rbx_store *st, int mode, rbx_archive_result *res)
{
    char detail[RBX_AUDIT_DETAIL_MAX];
    memset(res, 0, sizeof *res);
    if (mode != RBX_ARCHIVE_REENCRYPT && mode != RBX_ARCHIVE_SPLIT && mode != RBX_ARCHIVE_SHRED)
        return RBX_E_INVALID;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if (mode == RBX_ARCHIVE_REENCRYPT) rc = rotate_reencrypt(st, res, detail, sizeof detail);
    else if (mode == RBX_ARCHIVE_SPLIT) rc = rotate_split(st, res, detail, sizeof detail);
    else rc = rotate_shred(st, res, detail, sizeof detail);
    if (rc == 0)
        rc = rbx__audit(st, mode == RBX_ARCHIVE_SHRED ? "archive shredded" : "archive rotated", "%s",
                        detail);
    if (rc != 0) {
        rbx__st_rollback(st);
        memset(res, 0, sizeof *res);
        return rc;
    }
    if ((rc = rbx__st_commit(st, 0)) != 0) {
        memset(res, 0, sizeof *res);
        return rc;
    }
    /* The erased keys (and the rewrapped ciphertexts) must not survive in
     * the write-ahead log either: even with secure_delete, a deleted value
     * stays in the -wal file until a wal_checkpoint(TRUNCATE), which the
     * erase point takes. Committed either way: a failed erase point is owed
     * and retried (rbx_store_deferred), not reported as if nothing changed. */
    if (res->epochs_erased > 0) (void)rbx__st_erase_point(st);
    return 0;
}

/* ------------------------------------------------------------ import */

/* The baseline has no session key: the entries of one box key pair (and
 * product session) get BLAKE2b-256(label || min(pk) || max(pk) || session id). */
static void baseline_session(uint8_t out[32], const uint8_t a[32], const uint8_t b[32],
                             const char *sid, size_t sidlen)
{
    crypto_generichash_state h;
    int a_first = memcmp(a, b, 32) <= 0;
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)BASELINE_LABEL, sizeof BASELINE_LABEL - 1);
    crypto_generichash_update(&h, a_first ? a : b, 32);
    crypto_generichash_update(&h, a_first ? b : a, 32);
    if (sid != NULL) crypto_generichash_update(&h, (const uint8_t *)sid, sidlen);
    crypto_generichash_final(&h, out, 32);
}

/* The shared box key for one peer, kept while rows of that peer follow each
 * other (one X25519 per peer instead of one per row). */
typedef struct peer_cache {
    int valid;
    uint8_t pk[32];
    uint8_t k[RBX_BASELINE_KEYBYTES];
    int key_rc;
    char name[RBX_NAME_MAX];
} peer_cache;

static int peer_lookup(rbx_store *st, peer_cache *pc, const uint8_t peer_pk[32],
                       const uint8_t box_sk[32])
{
    uint32_t device;
    if (pc->valid && memcmp(pc->pk, peer_pk, 32) == 0) return 0;
    pc->valid = 0;
    WIPE(pc->k);
    int rc = rbx_store_contact_by_identity(st, pc->name, &device, peer_pk);
    if (rc == RBX_E_NOT_FOUND) rbx_fingerprint(pc->name, peer_pk);
    else if (rc != 0) return rc;
    memcpy(pc->pk, peer_pk, 32);
    pc->key_rc = rbx_baseline_precompute(pc->k, peer_pk, box_sk);
    pc->valid = 1;
    return 0;
}

/* One row: 0 imported, or its error code; *fatal is set when the error is
 * the store's (storage, memory) rather than the row's, and ends the import. */
static int import_row(rbx_store *st, peer_cache *pc, const uint8_t box_pk[32],
                      const uint8_t box_sk[32], int64_t epoch, const uint8_t key[32],
                      const rbx_import_row *r, int *fatal)
{
    uint8_t session[32], *pt = NULL, *ct = NULL;
    size_t cap, ptlen = 0, ctlen = 0;
    int rc;
    *fatal = 0;
    if (r->peer_pk == NULL || r->content == NULL || r->sequence > (uint64_t)INT64_MAX ||
        (r->session_id == NULL && r->session_id_len != 0))
        return RBX_E_MALFORMED;
    if ((rc = peer_lookup(st, pc, r->peer_pk, box_sk)) != 0) {
        *fatal = 1;
        return rc;
    }
    if (pc->key_rc != 0) return pc->key_rc;
    cap = r->content_len + 1;
    if ((pt = malloc(cap)) == NULL) {
        *fatal = 1;
        return RBX_E_NOMEM;
    }
    rc = rbx_baseline_open_afternm(pt, cap, &ptlen, r->content, r->content_len, r->nonce,
                                   r->nonce_len, pc->k);
    if (rc == RBX_E_NOMEM) *fatal = 1;
    if (rc == 0) {
        baseline_session(session, box_pk, r->peer_pk, r->session_id, r->session_id_len);
        rc = entry_seal(&ct, &ctlen, key, session, r->sequence, (uint64_t)epoch, pt, ptlen);
        *fatal = rc == RBX_E_NOMEM;
    }
    if (rc == 0) {
        rc = entry_insert(st, session, (int64_t)r->sequence, epoch, pc->name, r->outgoing != 0,
                          r->timestamp, ct, ctlen);
        *fatal = rc != 0 && rc != RBX_E_EXISTS;
    }
    rbx__st_free_secret(pt, cap);
    free(ct);
    return rc;
}

int rbx_store_import_history(rbx_store *st, const uint8_t box_pk[32], const uint8_t box_sk[32],
                             const rbx_import_row *rows, size_t n, int *row_rc, size_t *imported)
{
    peer_cache pc = { 0 };
    uint8_t key[32];
    int64_t epoch;
    size_t ok = 0, exists = 0, bad = 0;
    int fatal = 0;
    *imported = 0;
    if (n > 0 && (rows == NULL || row_rc == NULL)) return RBX_E_INVALID;
    for (size_t i = 0; i < n; i++) row_rc[i] = 0;
    if (!rbx__keypair_matches(box_pk, box_sk)) return RBX_E_KEY;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = epoch_active(st, &epoch, key, 1)) != 0) goto out;
    for (size_t i = 0; i < n; i++) {
        row_rc[i] = import_row(st, &pc, box_pk, box_sk, epoch, key, &rows[i], &fatal);
        if (fatal) {
            rc = row_rc[i];
            goto out;
        }
        if (row_rc[i] == 0) ok++;
        else if (row_rc[i] == RBX_E_EXISTS) exists++;
        else bad++;
    }
    rc = rbx__audit(st, "history imported", "%zu rows: %zu imported, %zu already there, "
                    "%zu rejected; epoch %lld", n, ok, exists, bad, (long long)epoch);
out:
    WIPE(key);
    WIPE(pc);
    if (rc == 0) rc = rbx__st_commit(st, 0);
    else rbx__st_rollback(st);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) row_rc[i] = 0;
        return rc;
    }
    *imported = ok;
    return 0;
}
