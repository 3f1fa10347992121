/* SPDX-License-Identifier: MIT
 * Contacts (PROTOCOL.md "State and storage", "Rotation"): rows sealed to
 * their pin, lookups by name, identity, id and earlier key, adding a contact
 * from its bundle (following its rotation chain, checking an organisation
 * root and its revocations), and the per-contact views: session info,
 * listing, reset. Calls db.c, audit.c, policy.c and sessions.c. */
#include <stdio.h>

#include "internal.h"
#include "rotation.h"
#include "wire.h"
#include "store_int.h"

/* ------------------------------------------------------------ contacts */

#define PIN_MAX (32 + 4 + RBX_NAME_MAX + 1 + 8 + 1 + 32 + 1 + 32)

/* 1..63 bytes, no control bytes: names reach terminals and logs. */
int rbx__st_name_ok(const char *name)
{
    size_t n = strnlen(name, RBX_NAME_MAX);
    if (n == 0 || n >= RBX_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return 0;
    return 1;
}

/* The pin seals identity || be32(device) || name to the row: without the
 * storage key nobody can re-pin a contact or swap names between rows. A
 * contact with a rotation chain tip or an organisation root adds
 * 0 || be64(rot_seq) || [1 || rot_hash | 0] || [1 || org | 0] (a name has no
 * NUL byte, so the forms cannot be confused), so neither can be removed. */
static size_t pin_value(uint8_t out[PIN_MAX], const rbx__contact *c)
{
    size_t n = strlen(c->name);
    memcpy(out, c->identity, 32);
    rbx__store32_be(out + 32, c->device);
    memcpy(out + 36, c->name, n);
    n += 36;
    if (c->rot_seq == 0 && !c->has_rot_hash && !c->has_org) return n;
    out[n++] = 0;
    rbx__store64_be(out + n, (uint64_t)c->rot_seq);
    n += 8;
    out[n++] = (uint8_t)c->has_rot_hash;
    if (c->has_rot_hash) memcpy(out + n, c->rot_hash, 32), n += 32;
    out[n++] = (uint8_t)c->has_org;
    if (c->has_org) memcpy(out + n, c->org, 32), n += 32;
    return n;
}

static int contact_row(rbx_store *st, rbx__contact *c, sqlite3_stmt *s)
{
    const unsigned char *name = sqlite3_column_text(s, 1);
    int64_t device = sqlite3_column_int64(s, 2);
    if (name == NULL || !rbx__st_name_ok((const char *)name) || device < 0 || device > UINT32_MAX ||
        sqlite3_column_bytes(s, 3) != 32 || sqlite3_column_bytes(s, 4) > (int)RBX_BUNDLE_MAXBYTES)
        return RBX_E_CORRUPT;
    c->id = sqlite3_column_int64(s, 0);
    snprintf(c->name, sizeof c->name, "%s", (const char *)name);
    c->device = (uint32_t)device;
    memcpy(c->identity, sqlite3_column_blob(s, 3), 32);
    c->bundlelen = (size_t)sqlite3_column_bytes(s, 4);
    if (c->bundlelen) memcpy(c->bundle, sqlite3_column_blob(s, 4), c->bundlelen);
    c->rot_seq = sqlite3_column_int64(s, 6);
    c->has_rot_hash = sqlite3_column_type(s, 7) != SQLITE_NULL;
    c->has_org = sqlite3_column_type(s, 8) != SQLITE_NULL;
    if (c->rot_seq < 0 || (c->has_rot_hash && sqlite3_column_bytes(s, 7) != 32) ||
        (c->has_org && sqlite3_column_bytes(s, 8) != 32))
        return RBX_E_CORRUPT;
    if (c->has_rot_hash) memcpy(c->rot_hash, sqlite3_column_blob(s, 7), 32);
    if (c->has_org) memcpy(c->org, sqlite3_column_blob(s, 8), 32);
    uint8_t want[PIN_MAX], *got;
    size_t wantlen = pin_value(want, c), gotlen;
    int rc = rbx__st_column_open(st, &got, &gotlen, s, 5, "contacts", c->id, 0, "pin");
    if (rc == 0 && (gotlen != wantlen || memcmp(got, want, wantlen) != 0)) rc = RBX_E_CORRUPT;
    rbx__st_free_secret(got, gotlen);
    return rc;
}

#define CONTACT_COLS \
    "SELECT id, name, device, identity, bundle, pin, rot_seq, rot_hash, org FROM contacts "

/* Run a bound CONTACT_COLS query for one contact. */
static int contact_query(rbx_store *st, rbx__contact *c, sqlite3_stmt *s)
{
    int rc = rbx__st_step(s);
    rc = rc == 1 ? contact_row(st, c, s) : rc == 0 ? RBX_E_NOT_FOUND : rc;
    rbx__st_done(st, s);
    return rc;
}

/* Indexes are not authenticated (15.8): a row found through an index that
 * disagrees with its table is refused by its pin, which covers name,
 * device and identity as SQLite reads them, from the index entry it
 * followed. */
int rbx__st_find_contact(rbx_store *st, rbx__contact *c, const char *name, uint32_t device)
{
    sqlite3_stmt *s;
    if (!rbx__st_name_ok(name)) return RBX_E_INVALID;
    int rc = rbx__st_prep(st, &s, CONTACT_COLS "WHERE name = ?1 AND device = ?2");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, device);
    return contact_query(st, c, s);
}

int rbx__st_find_contact_by_identity(rbx_store *st, rbx__contact *c, const uint8_t identity[32])
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, CONTACT_COLS "WHERE identity = ?1 ORDER BY id LIMIT 1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, identity, 32, SQLITE_STATIC);
    return contact_query(st, c, s);
}

int rbx__st_find_contact_by_id(rbx_store *st, rbx__contact *c, int64_t id)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, CONTACT_COLS "WHERE id = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, id);
    return contact_query(st, c, s);
}

/* The contact that had `identity` before a rotation whose grace window is
 * still open (0, *until = its end), or RBX_E_NOT_FOUND. */
int rbx__st_find_contact_by_old_key(rbx_store *st, rbx__contact *c, const uint8_t identity[32],
                                    int64_t only_id, int64_t *until)
{
    sqlite3_stmt *s;
    int64_t id = 0;
    int rc = rbx__st_prep(st, &s, "SELECT contact, until, identity,"
                                  " rbx_mac_ok('contact_keys', mac, " RBX_AUTH_CONTACT_KEYS ")"
                                  " FROM contact_keys WHERE identity = ?1"
                                  " AND (?2 = 0 OR contact = ?2) AND until > ?3"
                                  " ORDER BY until DESC LIMIT 1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, identity, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, only_id);
    sqlite3_bind_int64(s, 3, rbx__st_now(st));
    rc = rbx__st_step(s);
    if (rc == 1) {
        id = sqlite3_column_int64(s, 0), *until = sqlite3_column_int64(s, 1);
        /* A key that speaks for a contact: the row says so under the storage key (15.8). */
        if (sqlite3_column_int(s, 3) != 1 || sqlite3_column_bytes(s, 2) != 32 ||
            sodium_memcmp(sqlite3_column_blob(s, 2), identity, 32) != 0)
            rc = RBX_E_TAMPERED;
    }
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    return rc == 0 ? RBX_E_NOT_FOUND : rbx__st_find_contact_by_id(st, c, id);
}

/* Write every pinned column of an existing row and its new pin. */
static int update_contact(rbx_store *st, const rbx__contact *c)
{
    uint8_t pin[PIN_MAX];
    size_t pinlen = pin_value(pin, c);
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "UPDATE contacts SET identity = ?1, rot_seq = ?2, rot_hash = ?3,"
                                  " org = ?4, bundle = ?5, pin = ?6 WHERE id = ?7");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, c->identity, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, c->rot_seq);
    if (c->has_rot_hash) sqlite3_bind_blob(s, 3, c->rot_hash, 32, SQLITE_STATIC);
    if (c->has_org) sqlite3_bind_blob(s, 4, c->org, 32, SQLITE_STATIC);
    if (c->bundlelen) sqlite3_bind_blob(s, 5, c->bundle, (int)c->bundlelen, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 6, "contacts", c->id, 0, "pin", pin, pinlen);
    sqlite3_bind_int64(s, 7, c->id);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

int rbx__st_insert_contact(rbx_store *st, rbx__contact *c)
{
    sqlite3_stmt *s;
    /* The (name, device) index decides nothing alone (15.8): a new contact
     * is made only when no row of the table has its name and device. */
    int rc = rbx__st_prep(st, &s, "SELECT count(*) FROM contacts NOT INDEXED"
                                  " WHERE name = ?1 AND device = ?2");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, c->device);
    rc = rbx__st_step(s);
    int64_t have = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (have != 0) return RBX_E_EXISTS;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO contacts (name, device, identity)"
                                   " VALUES (?1, ?2, ?3) RETURNING id")) != 0)
        return rc;
    sqlite3_bind_text(s, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, c->device);
    sqlite3_bind_blob(s, 3, c->identity, 32, SQLITE_STATIC);
    int r = sqlite3_step(s);
    if (r == SQLITE_ROW) c->id = sqlite3_column_int64(s, 0);
    rc = (r & 0xff) == SQLITE_CONSTRAINT ? RBX_E_EXISTS : rbx__sql_err(r);
    rbx__st_done(st, s);
    return rc != 0 ? rc : update_contact(st, c);
}

/* RBX_E_REVOKED if the organisation org, or with org NULL any organisation
 * this store follows, has revoked an identity. */
int rbx__st_is_revoked(rbx_store *st, const uint8_t *org, const uint8_t identity[32])
{
    sqlite3_stmt *s;
    /* Absence decides here: read the table itself, not an index (15.8). A
     * revocation row found is a revocation even if its tag is bad: the
     * safe side; the set check at open sees the tampering. */
    int rc = rbx__st_prep(st, &s, org != NULL
                                      ? "SELECT 1 FROM revocations NOT INDEXED WHERE org = ?2 AND identity = ?1"
                                      : "SELECT 1 FROM revocations NOT INDEXED WHERE identity = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, identity, 32, SQLITE_STATIC);
    if (org != NULL) sqlite3_bind_blob(s, 2, org, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    rbx__st_done(st, s);
    return rc < 0 ? rc : rc == 1 ? RBX_E_REVOKED : 0;
}

/* A bundle parsed once (rbx__bundle_parse_records: its records and its
 * certificate verified) for every check add_contact makes. */
typedef struct parsed_bundle {
    rbx_bundle b;
    Rbx__Wire__PreKeyBundle *w;
    rbx_rotation r[RBX_CHAIN_MAX];
    rbx_org_cert cert; /* when w->has_org_certificate */
} parsed_bundle;

/* A new identity of a contact and what comes with it: a bundle's records
 * and certificate (parsed and verified with the bundle), or those a
 * version-2 first message carries (PROTOCOL.md 6.4; parsed by the chain
 * check). Either way the same checks and the same change (16.4). */
typedef struct chain_src {
    const uint8_t *identity;
    size_t n;
    const uint8_t *recs[RBX_CHAIN_MAX];
    size_t lens[RBX_CHAIN_MAX];
    rbx_rotation r[RBX_CHAIN_MAX];
    int parsed;                  /* r holds the n records, parsed and verified */
    int has_cert;                /* cert parsed and its signature verified */
    rbx_org_cert cert;
    const uint8_t *bundle;       /* kept for the next handshake; NULL: none */
    size_t bundlelen;
} chain_src;

static void src_from_bundle(chain_src *cs, const parsed_bundle *pb, const uint8_t *bundle,
                            size_t len)
{
    memset(cs, 0, sizeof *cs);
    cs->identity = pb->b.identity;
    cs->n = pb->w->n_rotation;
    for (size_t i = 0; i < cs->n; i++) {
        cs->recs[i] = pb->w->rotation[i].data;
        cs->lens[i] = pb->w->rotation[i].len;
        cs->r[i] = pb->r[i];
    }
    cs->parsed = 1;
    cs->has_cert = pb->w->has_org_certificate != 0;
    cs->cert = pb->cert;
    cs->bundle = bundle;
    cs->bundlelen = len;
}

/* A new identity under an organisation root: certified now, not revoked. */
static int org_accepts(rbx_store *st, const uint8_t org[32], const chain_src *cs)
{
    if (!cs->has_cert) return RBX_E_UNCERTIFIED;
    int rc = rbx__org_cert_valid(&cs->cert, org, cs->identity, (uint64_t)rbx__st_now(st));
    return rc != 0 ? rc : rbx__st_is_revoked(st, org, cs->identity);
}

/* Record every key a chain passes through (the pinned one among them),
 * each usable for messages in flight until its record's old_valid_until,
 * but never longer than our own grace window. */
static int remember_keys(rbx_store *st, const rbx__contact *c, const chain_src *cs,
                         int64_t max_until)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT OR IGNORE INTO contact_keys (contact, identity, until, mac)"
                                  " VALUES (?1, ?2, ?3, rbx_mac('contact_keys', ?1, ?2, ?3))");
    if (rc != 0) return rc;
    for (size_t i = 0; i < cs->n && rc == 0; i++) {
        const rbx_rotation *r = &cs->r[i];
        int64_t until = r->old_valid_until > (uint64_t)max_until ? max_until : (int64_t)r->old_valid_until;
        sqlite3_bind_int64(s, 1, c->id);
        sqlite3_bind_blob(s, 2, r->old_identity, 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, until);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        sqlite3_reset(s);
    }
    rbx__st_done(st, s);
    return rc;
}

/* A known contact has a new identity (a bundle's, or a first message's):
 * accept it only through a rotation chain from the pinned key (and the
 * organisation root, if bound). PROTOCOL.md 16.4 steps 1-4; every check
 * comes before the first write, so a refusal leaves c and the tables as
 * they were. */
static int contact_rotated(rbx_store *st, rbx__contact *c, chain_src *cs, const rbx_policy *pol)
{
    sqlite3_stmt *s;
    rbx_chain_tip pinned, tip;
    uint64_t valid_until;
    char fp_old[RBX_FINGERPRINT_HEXBYTES], fp_new[RBX_FINGERPRINT_HEXBYTES];
    int64_t now = rbx__st_now(st);
    /* An identity this contact had before: a replayed or rolled-back bundle. */
    int rc = rbx__st_prep(st, &s, "SELECT 1 FROM contact_keys WHERE contact = ?1 AND identity = ?2");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_blob(s, 2, cs->identity, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    rbx__st_done(st, s);
    if (rc != 0) return rc < 0 ? rc : RBX_E_STALE;
    memset(&pinned, 0, sizeof pinned);
    memcpy(pinned.identity, c->identity, 32);
    pinned.sequence = (uint64_t)c->rot_seq;
    if (c->has_rot_hash) memcpy(pinned.hash, c->rot_hash, 32);
    if ((rc = rbx__chain_check(&tip, &valid_until, &pinned, cs->identity, cs->recs, cs->lens, cs->n,
                               cs->r, cs->parsed)) != 0)
        return rc;
    cs->parsed = 1;
    if (c->has_org && (rc = org_accepts(st, c->org, cs)) != 0) return rc;
    /* The grace window: what the record states for the pinned key, at
     * most our policy's identity_grace from now. */
    int64_t until = now + (int64_t)pol->identity_grace;
    if (valid_until < (uint64_t)until) until = (int64_t)valid_until;
    /* Every key of the chain but the new one is now behind this contact:
     * a bundle naming any of them later is a replay. */
    if ((rc = remember_keys(st, c, cs, now + (int64_t)pol->identity_grace)) != 0)
        return rc;
    /* Messages in flight under the old session still decrypt for the grace
     * window; the next encrypt starts a new X3DH with the new key. */
    if ((rc = rbx__st_retire_session(st, c->id, until)) != 0) return rc;
    rbx_fingerprint(fp_old, c->identity);
    rbx_fingerprint(fp_new, cs->identity);
    memcpy(c->identity, cs->identity, 32);
    c->rot_seq = (int64_t)tip.sequence;
    c->has_rot_hash = 1;
    memcpy(c->rot_hash, tip.hash, 32);
    /* A first message brings no bundle; the one held names the old key. */
    if (cs->bundle != NULL) memcpy(c->bundle, cs->bundle, cs->bundlelen);
    c->bundlelen = cs->bundle != NULL ? cs->bundlelen : 0;
    if ((rc = update_contact(st, c)) != 0) return rc;
    return rbx__audit(st, "contact identity rotated", "%s/%u: %s -> %s, sequence %llu%s", c->name,
                      c->device, fp_old, fp_new, (unsigned long long)tip.sequence,
                      cs->bundle != NULL ? "" : ", from a first message");
}

int rbx__st_contact_from_message(rbx_store *st, rbx__contact *c, int named, int *found,
                                 const uint8_t *in, size_t len)
{
    rbx__prekey_msg pm;
    chain_src cs;
    rbx_policy pol;
    *found = named;
    if (rbx__prekey_parse(&pm, in, len) != 0 || pm.version < 2 || pm.nrecords == 0)
        return RBX_E_NOT_FOUND;
    memset(&cs, 0, sizeof cs);
    cs.identity = pm.identity_key;
    cs.n = pm.nrecords;
    for (size_t i = 0; i < cs.n; i++) cs.recs[i] = pm.records[i], cs.lens[i] = pm.record_lens[i];
    /* A certificate that does not parse is as good as none (16.6). */
    cs.has_cert = pm.cert != NULL && rbx_org_cert_parse(&cs.cert, pm.cert, pm.certlen) == 0;
    int rc;
    if (!named) {
        /* The contact pinned to the old key of a record, newest first. A
         * record that does not parse is refused as in a bundle (16.1.5),
         * whoever it would lead to. */
        for (size_t i = 0; i < cs.n; i++)
            if ((rc = rbx_rotation_parse(&cs.r[i], cs.recs[i], cs.lens[i])) != 0) return rc;
        cs.parsed = 1;
        rc = RBX_E_NOT_FOUND;
        for (size_t i = cs.n; i-- > 0 && rc == RBX_E_NOT_FOUND;)
            rc = rbx__st_find_contact_by_identity(st, c, cs.r[i].old_identity);
        if (rc != 0) return rc;
        *found = 1;
    }
    if ((rc = rbx__st_policy(st, &pol)) != 0) return rc;
    return contact_rotated(st, c, &cs, &pol);
}

static int add_contact(rbx_store *st, const char *name, uint32_t device, const uint8_t *bundle,
                       size_t len, const uint8_t *org)
{
    parsed_bundle pb;
    chain_src cs;
    rbx_policy pol;
    rbx__contact c = { 0 }, old;
    char fp_old[RBX_FINGERPRINT_HEXBYTES] = "", fp_new[RBX_FINGERPRINT_HEXBYTES];
    if (!rbx__st_name_ok(name)) return RBX_E_INVALID;
    if (org != NULL && !rbx__pk_is_valid(org)) return RBX_E_KEY;
    int rc = rbx__bundle_parse_records(&pb.b, &pb.w, pb.r, &pb.cert, bundle, len);
    if (rc != 0) return rc;
    const rbx_bundle *b = &pb.b;
    src_from_bundle(&cs, &pb, bundle, len);
    if ((rc = rbx__st_begin(st)) != 0) goto out;
    if ((rc = rbx__st_policy(st, &pol)) != 0) goto fail;
    /* Initiators never use a signed prekey past its policy age. */
    if (b->signed_prekey_created != 0 &&
        rbx__st_now(st) - (int64_t)b->signed_prekey_created > (int64_t)pol.spk_max_age) {
        rc = RBX_E_EXPIRED;
        goto fail;
    }
    rc = rbx__st_find_contact(st, &old, name, device);
    if (rc == RBX_E_NOT_FOUND) {
        snprintf(c.name, sizeof c.name, "%s", name);
        c.device = device;
        memcpy(c.identity, b->identity, 32);
        memcpy(c.bundle, bundle, len);
        c.bundlelen = len;
        if (org != NULL) {
            c.has_org = 1;
            memcpy(c.org, org, 32);
            if ((rc = org_accepts(st, org, &cs)) != 0) goto refused;
        }
        rbx_fingerprint(fp_new, b->identity);
        if ((rc = rbx__st_insert_contact(st, &c)) != 0 ||
            (rc = rbx__audit(st, "contact added", "%s/%u: %s%s", name, device, fp_new,
                             org != NULL ? ", bound to an organisation root" : "")) != 0)
            goto fail;
    } else if (rc == 0) {
        rbx_fingerprint(fp_old, old.identity);
        if (org != NULL && old.has_org && sodium_memcmp(org, old.org, 32) != 0) {
            rc = RBX_E_EXISTS; /* bound to another root: never re-bound silently */
            goto fail;
        }
        if (org != NULL && !old.has_org) {
            old.has_org = 1;
            memcpy(old.org, org, 32);
        }
        if (sodium_memcmp(old.identity, b->identity, 32) != 0) {
            if ((rc = contact_rotated(st, &old, &cs, &pol)) != 0) goto refused;
        } else {
            /* The pinned identity: a new bundle only when there is no
             * session (after a reset or a peer rotation); binding to a root
             * needs the key certified. */
            int64_t has_session;
            sqlite3_stmt *s;
            if (old.has_org && (rc = org_accepts(st, old.org, &cs)) != 0)
                goto refused;
            if ((rc = rbx__st_prep(st, &s, "SELECT count(*) FROM sessions WHERE contact = ?1")) != 0)
                goto fail;
            sqlite3_bind_int64(s, 1, old.id);
            rc = rbx__st_step(s) == 1 ? 0 : RBX_E_IO;
            has_session = sqlite3_column_int64(s, 0);
            rbx__st_done(st, s);
            if (rc == 0 && has_session && !(org != NULL && old.has_org)) rc = RBX_E_EXISTS;
            if (rc != 0) goto fail;
            if (!has_session) {
                memcpy(old.bundle, bundle, len);
                old.bundlelen = len;
            }
            if ((rc = update_contact(st, &old)) != 0) goto fail;
        }
    } else {
        goto fail;
    }
    rc = rbx__st_commit(st, 0);
    goto out;
refused:
    rbx__st_rollback(st);
    if (rc == RBX_E_IDENTITY_CHANGED || rc == RBX_E_CHAIN || rc == RBX_E_STALE ||
        rc == RBX_E_SIGNATURE || rc == RBX_E_UNCERTIFIED || rc == RBX_E_REVOKED ||
        rc == RBX_E_EXPIRED) {
        rbx_fingerprint(fp_new, b->identity);
        /* The refusal itself changes nothing; its record is best effort. */
        (void)rbx__audit_alone(st, "identity change refused", "%s/%u: %s%s%s: %s", name, device,
                               fp_old, fp_old[0] ? " -> " : "", fp_new, rbx_strerror(rc));
    }
    goto out;
fail:
    rbx__st_rollback(st);
out:
    rbx__wire__pre_key_bundle__free_unpacked(pb.w, NULL);
    return rc;
}

int rbx_store_add_contact(rbx_store *st, const char *name, uint32_t device, const uint8_t *bundle,
                          size_t len)
{
    return add_contact(st, name, device, bundle, len, NULL);
}

int rbx_store_add_contact_org(rbx_store *st, const char *name, uint32_t device,
                              const uint8_t *bundle, size_t len, const uint8_t *org)
{
    return add_contact(st, name, device, bundle, len, org);
}

/* ------------------------------------------------------------ by name and listing */

int rbx__store_load_session(rbx_store *st, rbx_session **out, const char *name, uint32_t device)
{
    rbx__contact c;
    rbx__stored_session ss;
    *out = NULL;
    int rc = rbx__st_find_contact(st, &c, name, device);
    if (rc == 0) rc = rbx__st_load_session(st, &ss, c.id);
    if (rc == 0 && !ss.exists) rc = RBX_E_NOT_FOUND;
    if (rc == 0) *out = ss.s;
    return rc;
}

int rbx_store_session_info(rbx_store *st, rbx_session_info *info, uint64_t *generation,
                           const char *name, uint32_t device)
{
    rbx__contact c;
    rbx__stored_session ss;
    memset(info, 0, sizeof *info);
    int rc = rbx__st_find_contact(st, &c, name, device);
    if (rc == 0) rc = rbx__st_load_session(st, &ss, c.id);
    if (rc == 0 && !ss.exists) rc = RBX_E_NOT_FOUND;
    if (rc != 0) return rc;
    rbx_session_get_info(info, ss.s);
    *generation = (uint64_t)ss.generation;
    rbx_session_free(ss.s);
    return 0;
}

int rbx_store_contact_by_identity(rbx_store *st, char name[RBX_NAME_MAX], uint32_t *device,
                                  const uint8_t identity[32])
{
    rbx__contact c;
    int64_t until;
    name[0] = '\0';
    *device = 0;
    int rc = rbx__st_find_contact_by_identity(st, &c, identity);
    /* A key the contact rotated away from, within its grace window. */
    if (rc == RBX_E_NOT_FOUND) rc = rbx__st_find_contact_by_old_key(st, &c, identity, 0, &until);
    if (rc != 0) return rc;
    snprintf(name, RBX_NAME_MAX, "%s", c.name);
    *device = c.device;
    return 0;
}

static int contact_info(rbx_store *st, rbx_contact_info *ci, const rbx__contact *c)
{
    rbx__stored_session ss;
    memset(ci, 0, sizeof *ci);
    snprintf(ci->name, sizeof ci->name, "%s", c->name);
    ci->device = c->device;
    memcpy(ci->identity, c->identity, 32);
    ci->has_bundle = c->bundlelen > 0;
    ci->rotation_seq = (uint64_t)c->rot_seq;
    ci->has_org = c->has_org;
    if (c->has_org) memcpy(ci->org, c->org, 32);
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT count(*) FROM retired_sessions WHERE contact = ?1"
                                  " AND until > ?2");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, c->id);
    sqlite3_bind_int64(s, 2, rbx__st_now(st));
    rc = rbx__st_step(s);
    ci->grace_sessions = rc == 1 ? (size_t)sqlite3_column_int64(s, 0) : 0;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    rc = rbx__st_load_session(st, &ss, c->id);
    if (rc != 0 || !ss.exists) return rc;
    ci->has_session = 1;
    ci->rolled_back = ss.rolled_back;
    ci->generation = (uint64_t)ss.generation;
    rbx_session_get_info(&ci->session, ss.s);
    rbx_session_free(ss.s);
    return 0;
}

int rbx_store_contacts(rbx_store *st, rbx_contact_info *out, size_t cap, size_t *count)
{
    sqlite3_stmt *s;
    rbx__contact c;
    size_t n = 0;
    *count = 0;
    if (out == NULL && cap > 0) return RBX_E_INVALID;
    /* One read transaction: the listing is one snapshot even while other
     * processes send and receive. */
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, CONTACT_COLS "ORDER BY id")) != 0) goto out;
    while ((rc = rbx__st_step(s)) == 1) {
        if (n < cap && ((rc = contact_row(st, &c, s)) != 0 ||
                        (rc = contact_info(st, &out[n], &c)) != 0))
            break;
        n++;
    }
    rbx__st_done(st, s);
out:
    rbx__st_rollback(st);
    if (rc < 0) {
        if (out != NULL) memset(out, 0, cap * sizeof *out);
        return rc;
    }
    *count = n;
    return 0;
}

int rbx_store_reset_session(rbx_store *st, const char *name, uint32_t device)
{
    rbx__contact c;
    sqlite3_stmt *s;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = rbx__st_find_contact(st, &c, name, device)) != 0) goto fail;
    if ((rc = rbx__st_prep(st, &s, "DELETE FROM sessions WHERE contact = ?1")) != 0) goto fail;
    sqlite3_bind_int64(s, 1, c.id);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : sqlite3_changes(st->db) == 1 ? 0 : RBX_E_NOT_FOUND;
    rbx__st_done(st, s);
    if (rc == 0) rc = rbx__audit(st, "session retired", "%s/%u: reset", c.name, c.device);
    if (rc != 0) goto fail;
    return rbx__st_commit(st, 0);
fail:
    rbx__st_rollback(st);
    return rc;
}
