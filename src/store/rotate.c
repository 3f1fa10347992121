/* SPDX-License-Identifier: MIT
 * Rotation in the store (PROTOCOL.md "Rotation"): prekey upkeep by policy,
 * identity rotation with its record chain, the grace window of old keys and
 * sessions, and organisation roots. Every change runs inside one store
 * transaction and is audited; the contact side (verifying a peer's chain)
 * is in contacts.c with the rest of the contact code. */
#include <stdio.h>

#include "internal.h"
#include "rotation.h"
#include "sign.h"
#include "store_int.h"

/* ------------------------------------------------------------ small queries */

/* Run a statement whose integer parameters ?1, ?2... are v[0], v[1]... */
static int exec_changes(rbx_store *st, const char *sql, const int64_t *v, size_t nv,
                        size_t *changed)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, sql);
    if (rc != 0) return rc;
    for (int i = 0; i < sqlite3_bind_parameter_count(s) && (size_t)i < nv; i++)
        sqlite3_bind_int64(s, i + 1, v[i]);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc == 0 && changed != NULL) *changed = (size_t)sqlite3_changes(rbx__store_db(st));
    return rc;
}

/* The newest signed prekey of the identity in force: id, creation time and
 * whether its signature states that time (made before schema 2: not). */
int rbx__st_current_spk(rbx_store *st, int64_t *id, int64_t *created, int *stated)
{
    int64_t ik;
    sqlite3_stmt *s;
    int rc = rbx__st_identity_seq(st, &ik);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT id, created, stated, rbx_mac_ok('signed_prekeys', mac, "
                                   RBX_AUTH_SIGNED_PREKEYS ") FROM signed_prekeys WHERE ik = ?1"
                                   " ORDER BY id DESC LIMIT 1")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, ik);
    rc = rbx__st_step(s);
    if (rc == 1) {
        *id = sqlite3_column_int64(s, 0);
        *created = sqlite3_column_int64(s, 1);
        *stated = sqlite3_column_int64(s, 2) != 0;
        rc = *id > 0 && *id < (int64_t)RBX_NO_PREKEY ? 0 : RBX_E_CORRUPT;
        if (rc == 0 && sqlite3_column_int(s, 3) != 1) rc = RBX_E_TAMPERED;
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    return rc;
}

/* Our newest RBX_CHAIN_MAX rotation records, oldest first, into buf. */
int rbx__st_chain(rbx_store *st, uint8_t *buf, size_t cap, const uint8_t **recs, size_t *lens,
                  size_t *n)
{
    sqlite3_stmt *s;
    size_t used = 0, k = 0;
    *n = 0;
    int rc = rbx__st_prep(st, &s, "SELECT record FROM (SELECT seq, record FROM rotations"
                                  " ORDER BY seq DESC LIMIT ?1) ORDER BY seq");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, RBX_CHAIN_MAX);
    while ((rc = rbx__st_step(s)) == 1) {
        size_t len = (size_t)sqlite3_column_bytes(s, 0);
        if (sqlite3_column_type(s, 0) != SQLITE_BLOB || len == 0 || len > RBX_ROTATION_MAXBYTES ||
            k == RBX_CHAIN_MAX || len > cap - used) {
            rc = RBX_E_CORRUPT;
            break;
        }
        memcpy(buf + used, sqlite3_column_blob(s, 0), len);
        recs[k] = buf + used;
        lens[k++] = len;
        used += len;
    }
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    *n = k;
    return 0;
}

/* Our certificate, if one is installed (certlen 0 if not). */
int rbx__st_certificate(rbx_store *st, uint8_t *out, size_t cap, size_t *len)
{
    sqlite3_stmt *s;
    *len = 0;
    int rc = rbx__st_prep(st, &s, "SELECT cert FROM certificate WHERE id = 1");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        rc = sqlite3_column_type(s, 0) == SQLITE_BLOB && n > 0 && n <= cap ? 0 : RBX_E_CORRUPT;
        if (rc == 0) {
            memcpy(out, sqlite3_column_blob(s, 0), n);
            *len = n;
        }
    }
    rbx__st_done(st, s);
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------ upkeep */

/* Upkeep erases rows by their dates and identity sequence: every row of
 * the tables it chooses from is tag-checked first, the rows it keeps too (a
 * date moved later would keep a secret past its time, 15.8). The sessions
 * it erases by `ik` are checked when loaded and by the set check at open. */
static int upkeep_tags_ok(rbx_store *st)
{
    static const char *const q[] = {
        "SELECT count(*) FROM signed_prekeys WHERE"
        " NOT rbx_mac_ok('signed_prekeys', mac, " RBX_AUTH_SIGNED_PREKEYS ")",
        "SELECT count(*) FROM old_identities WHERE"
        " NOT rbx_mac_ok('old_identities', mac, " RBX_AUTH_OLD_IDENTITIES ")",
        "SELECT count(*) FROM retired_sessions WHERE"
        " NOT rbx_mac_ok('retired_sessions', mac, " RBX_AUTH_RETIRED_SESSIONS ")",
    };
    for (size_t i = 0; i < RBX_COUNTOF(q); i++) {
        sqlite3_stmt *s;
        int rc = rbx__st_prep(st, &s, q[i]);
        if (rc != 0) return rc;
        rc = rbx__st_step(s);
        int64_t bad = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
        rbx__st_done(st, s);
        if (rc < 0) return rc;
        if (bad != 0) return RBX_E_TAMPERED;
    }
    return 0;
}

int rbx__st_maintain(rbx_store *st, int force_spk, int onetime, rbx_maintain_result *res)
{
    rbx_policy pol;
    int64_t ik, spk_id = 0, spk_created = 0, now = rbx__st_now(st);
    int stated;
    uint8_t ik_pk[32], ik_sk[32];
    size_t n;
    memset(res, 0, sizeof *res);
    int rc = rbx__st_policy(st, &pol);
    if (rc != 0 || (rc = rbx__st_identity_seq(st, &ik)) != 0 || (rc = upkeep_tags_ok(st)) != 0)
        return rc;

    /* A signed prekey for the identity in force, replaced when due. */
    rc = rbx__st_current_spk(st, &spk_id, &spk_created, &stated);
    if (rc != 0 && rc != RBX_E_NOT_FOUND) return rc;
    if (rc == RBX_E_NOT_FOUND || force_spk || now - spk_created >= (int64_t)pol.spk_rotate) {
        if ((rc = rbx__st_load_identity(st, ik_pk, ik_sk)) != 0) return rc;
        rc = rbx__st_insert_signed_prekey(st, ik_sk, ik, &spk_id);
        WIPE(ik_sk);
        if (rc != 0) return rc;
        res->signed_prekey_made = (uint32_t)spk_id;
    }

    /* Replaced signed prekeys: kept spk_keep after their replacement (the
     * creation of the next one) for late first messages, then erased; so
     * are those of an identity whose secret is gone. */
    if ((rc = exec_changes(st, "DELETE FROM signed_prekeys AS p WHERE id != ?2 AND"
                               " ((SELECT min(created) FROM signed_prekeys q WHERE q.id > p.id) <= ?1"
                               "  OR (ik != ?3 AND ik NOT IN (SELECT seq FROM old_identities"
                               "  WHERE grace_until > ?4)))",
                           (const int64_t[]){ now - (int64_t)pol.spk_keep, spk_id, ik, now }, 4,
                           &res->signed_prekeys_erased)) != 0)
        return rc;
    /* The handshakes accepted with them go with them (15.9): a first
     * message to an erased signed prekey cannot be accepted anyway. */
    if (res->signed_prekeys_erased &&
        (rc = exec_changes(st, "DELETE FROM handshakes WHERE spk NOT IN (SELECT id FROM signed_prekeys)",
                           NULL, 0, NULL)) != 0)
        return rc;
    if (res->signed_prekeys_erased &&
        (rc = rbx__audit(st, "signed prekeys erased", "%zu past %llus after replacement",
                         res->signed_prekeys_erased, (unsigned long long)pol.spk_keep)) != 0)
        return rc;

    if (onetime && (rc = rbx__st_refill_onetime(st, pol.onetime_low, pol.onetime_batch,
                                                 &res->onetime_made)) != 0)
        return rc;

    /* The grace window after an identity rotation: then the old secret key
     * and the sessions made under it go; so do sessions kept after a peer's
     * rotation or a new handshake. */
    if ((rc = exec_changes(st, "DELETE FROM sessions WHERE ik IN (SELECT seq FROM old_identities"
                               " WHERE grace_until <= ?1) AND ik != ?2",
                           (const int64_t[]){ now, ik }, 2, &n)) != 0)
        return rc;
    res->sessions_retired = n;
    if ((rc = exec_changes(st, "DELETE FROM retired_sessions WHERE until <= ?1", &now, 1, &n)) != 0)
        return rc;
    res->sessions_retired += n;
    if ((rc = exec_changes(st, "DELETE FROM old_identities WHERE grace_until <= ?1", &now, 1,
                           &res->old_identities_erased)) != 0)
        return rc;
    if (res->sessions_retired &&
        (rc = rbx__audit(st, "sessions retired", "%zu past their grace window",
                         res->sessions_retired)) != 0)
        return rc;
    if (res->old_identities_erased &&
        (rc = rbx__audit(st, "old identity erased", "%zu past the grace window of %llus",
                         res->old_identities_erased,
                         (unsigned long long)pol.identity_grace)) != 0)
        return rc;
    return 0;
}

int rbx_store_maintain(rbx_store *st, int force_signed_prekey, rbx_maintain_result *res)
{
    rbx_maintain_result local;
    if (res == NULL) res = &local;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = rbx__st_maintain(st, force_signed_prekey, 1, res)) != 0) {
        rbx__st_rollback(st);
        memset(res, 0, sizeof *res);
        return rc;
    }
    if ((rc = rbx__st_commit(st, 0)) != 0) return rc;
    /* Erased secrets leave the files at once, whatever the mode. The upkeep
     * is committed whatever this returns: a failure is owed and retried
     * (rbx_store_deferred), not reported as if nothing had changed. */
    (void)rbx__st_erase_point(st);
    return 0;
}

/* ------------------------------------------------------------ identity rotation */

static int reason_ok(const char *r)
{
    return rbx__reason_ok(r, strnlen(r, RBX_REASON_MAX));
}

int rbx_store_rotate_identity(rbx_store *st, const char *reason, const uint8_t *new_pk,
                              const uint8_t *new_sk, uint8_t out_pk[32])
{
    uint8_t old_pk[32], old_sk[32], npk[32], nsk[32], rec[RBX_ROTATION_MAXBYTES];
    char fp_old[RBX_FINGERPRINT_HEXBYTES], fp_new[RBX_FINGERPRINT_HEXBYTES];
    rbx_rotation r;
    rbx_policy pol;
    size_t reclen;
    int64_t ik, spk_id, now = rbx__st_now(st);
    sqlite3_stmt *s;
    int rc;
    memset(out_pk, 0, 32);
    if (!reason_ok(reason)) return RBX_E_INVALID;
    if ((rc = rbx__st_keypair_in(npk, nsk, new_pk, new_sk)) != 0) return rc;
    if (now <= 0) {
        rc = RBX_E_STATE;
        goto out;
    }
    if ((rc = rbx__st_begin(st)) != 0) goto out;
    if ((rc = rbx__st_policy(st, &pol)) != 0 || (rc = rbx__st_identity_seq(st, &ik)) != 0 ||
        (rc = rbx__st_load_identity(st, old_pk, old_sk)) != 0)
        goto fail;
    if (sodium_memcmp(old_pk, npk, 32) == 0) {
        rc = RBX_E_KEY;
        goto fail;
    }

    /* The record: chained to our newest one. Its new key must be none that
     * the records a bundle carries with it name (the newest RBX_CHAIN_MAX - 1
     * and this one): verifiers refuse a chain with a loop (PROTOCOL.md 16.2
     * step 4), so every contact would refuse our bundles. */
    memset(&r, 0, sizeof r);
    r.sequence = 1;
    if ((rc = rbx__st_prep(st, &s, "SELECT seq, record FROM rotations ORDER BY seq DESC LIMIT ?1")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, RBX_CHAIN_MAX - 1);
    for (size_t k = 0; (rc = rbx__st_step(s)) == 1; k++) {
        rbx_rotation prev;
        size_t plen = (size_t)sqlite3_column_bytes(s, 1);
        const uint8_t *pbytes = sqlite3_column_blob(s, 1);
        if (pbytes == NULL || rbx_rotation_parse(&prev, pbytes, plen) != 0 ||
            prev.sequence != (uint64_t)sqlite3_column_int64(s, 0) ||
            (k == 0 && sodium_memcmp(prev.new_identity, old_pk, 32) != 0)) {
            rc = RBX_E_CORRUPT;
            break;
        }
        if (sodium_memcmp(prev.old_identity, npk, 32) == 0 ||
            sodium_memcmp(prev.new_identity, npk, 32) == 0) {
            rc = RBX_E_KEY;
            break;
        }
        if (k == 0) {
            r.sequence = prev.sequence + 1;
            rbx_rotation_hash(r.previous_hash, pbytes, plen);
        }
    }
    rbx__st_done(st, s);
    if (rc < 0) goto fail;
    memcpy(r.old_identity, old_pk, 32);
    memcpy(r.new_identity, npk, 32);
    r.created = (uint64_t)now;
    r.old_valid_until = (uint64_t)now + pol.identity_grace;
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    if ((rc = rbx_rotation_sign(rec, sizeof rec, &reclen, &r, old_sk, nsk)) != 0) goto fail;

    /* Old key to the grace table, new key in force, record kept. */
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO old_identities (seq, pk, sk, retired, grace_until,"
                                   " mac) VALUES (?1, ?2, ?3, ?4, ?5,"
                                   " rbx_mac('old_identities', ?1, ?2, ?3, ?4, ?5))")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, ik);
    sqlite3_bind_blob(s, 2, old_pk, 32, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 3, "old_identities", ik, 0, "sk", old_sk, 32);
    sqlite3_bind_int64(s, 4, now);
    sqlite3_bind_int64(s, 5, (int64_t)r.old_valid_until);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) goto fail;
    if ((rc = rbx__st_prep(st, &s, "UPDATE identity SET pk = ?1, sk = ?2 WHERE id = 1")) != 0)
        goto fail;
    sqlite3_bind_blob(s, 1, npk, 32, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 2, "identity", 1, 0, "sk", nsk, 32);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) goto fail;
    if ((rc = rbx__st_set_identity_seq(st, ik + 1)) != 0) goto fail;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO rotations (seq, record) VALUES (?1, ?2)")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, (int64_t)r.sequence);
    sqlite3_bind_blob(s, 2, rec, (int)reclen, SQLITE_STATIC);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0 || (rc = rbx__st_exec(st, "DELETE FROM certificate")) != 0) goto fail;
    /* A signed prekey of the new identity, so the next bundle is usable. */
    if ((rc = rbx__st_insert_signed_prekey(st, nsk, ik + 1, &spk_id)) != 0) goto fail;
    rbx_fingerprint(fp_old, old_pk);
    rbx_fingerprint(fp_new, npk);
    if ((rc = rbx__audit(st, "identity rotated", "%s -> %s, sequence %llu, old key until %llu, %s",
                         fp_old, fp_new, (unsigned long long)r.sequence,
                         (unsigned long long)r.old_valid_until, r.reason)) != 0)
        goto fail;
    if ((rc = rbx__st_commit(st, 0)) != 0) goto out;
    memcpy(out_pk, npk, 32);
    goto out;
fail:
    rbx__st_rollback(st);
out:
    WIPE(old_sk);
    WIPE(nsk);
    return rc;
}

int rbx_store_rotations(rbx_store *st, uint8_t *buf, size_t bufcap, size_t *lens, size_t cap,
                        size_t *n)
{
    sqlite3_stmt *s;
    size_t used = 0, k = 0;
    *n = 0;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT record FROM rotations ORDER BY seq")) != 0) goto out;
    while ((rc = rbx__st_step(s)) == 1) {
        size_t len = (size_t)sqlite3_column_bytes(s, 0);
        /* Rows are outside input: checked as rbx__st_chain checks them. */
        if (sqlite3_column_type(s, 0) != SQLITE_BLOB || len == 0 || len > RBX_ROTATION_MAXBYTES) {
            rc = RBX_E_CORRUPT;
            break;
        }
        if (k < cap) {
            if (buf == NULL || lens == NULL || len > bufcap - used) {
                rc = RBX_E_BUFFER;
                break;
            }
            memcpy(buf + used, sqlite3_column_blob(s, 0), len);
            lens[k] = len;
            used += len;
        }
        k++;
    }
    rbx__st_done(st, s);
out:
    rbx__st_rollback(st);
    if (rc < 0) return rc;
    *n = k;
    return 0;
}

/* ------------------------------------------------------------ organisation roots */

static int load_org(rbx_store *st, uint8_t pk[32], uint8_t *sk)
{
    return rbx__st_load_keypair(st, "SELECT pk, sk FROM org WHERE id = 1", "org", pk, sk);
}

int rbx_store_org_init(rbx_store *st, uint8_t org_pk[32])
{
    uint8_t pk[32], sk[32];
    char fp[RBX_FINGERPRINT_HEXBYTES];
    int rc = rbx_keypair_generate(pk, sk);
    if (rc != 0) return rc;
    if ((rc = rbx__st_begin(st)) != 0) goto out;
    rc = rbx__st_insert_keypair(st, "INSERT INTO org (id, pk, sk) VALUES (1, ?1, ?2)", "org", pk,
                                sk);
    rbx_fingerprint(fp, pk);
    if (rc == 0) rc = rbx__audit(st, "organisation created", "root %s", fp);
    if (rc != 0) {
        rbx__st_rollback(st);
        goto out;
    }
    if ((rc = rbx__st_commit(st, 0)) == 0) memcpy(org_pk, pk, 32);
out:
    WIPE(sk);
    return rc;
}

int rbx_store_org_key(rbx_store *st, uint8_t org_pk[32])
{
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = load_org(st, org_pk, NULL);
    rbx__st_rollback(st);
    return rc;
}

int rbx_store_org_certify(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                          const uint8_t identity[32], uint64_t expires)
{
    uint8_t pk[32], sk[32];
    char fp[RBX_FINGERPRINT_HEXBYTES];
    int64_t now = rbx__st_now(st);
    *outlen = 0;
    if (!rbx__pk_is_valid(identity)) return RBX_E_KEY;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = load_org(st, pk, sk)) == 0 &&
        (rc = rbx_org_certify(out, outcap, outlen, pk, sk, identity, (uint64_t)now, expires)) == 0) {
        rbx_fingerprint(fp, identity);
        rc = rbx__audit(st, "identity certified", "%s until %llu", fp, (unsigned long long)expires);
    }
    WIPE(sk);
    if (rc != 0) {
        rbx__st_rollback(st);
        *outlen = 0;
        return rc;
    }
    return rbx__st_commit(st, 0);
}

/* Store a verified revocation and cut off the contacts it concerns. */
static int apply_revocation(rbx_store *st, const rbx_org_revocation *rv, const uint8_t *rec,
                            size_t len)
{
    sqlite3_stmt *s;
    char fp[RBX_FINGERPRINT_HEXBYTES];
    int rc = rbx__st_prep(st, &s, "INSERT OR IGNORE INTO revocations (org, identity, record, mac)"
                                  " VALUES (?1, ?2, ?3, rbx_mac('revocations', ?1, ?2, ?3))");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, rv->org, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, rv->identity, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, rec, (int)len, SQLITE_STATIC);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) return rc;
    /* The contact's session and its grace-window sessions go alike. */
    static const char *const cut[] = {
        "DELETE FROM sessions WHERE contact IN (SELECT id FROM contacts"
        " WHERE org = ?1 AND identity = ?2)",
        "DELETE FROM retired_sessions WHERE contact IN (SELECT id FROM contacts"
        " WHERE org = ?1 AND identity = ?2)",
    };
    size_t gone = 0;
    for (size_t i = 0; i < RBX_COUNTOF(cut); i++) {
        if ((rc = rbx__st_prep(st, &s, cut[i])) != 0) return rc;
        sqlite3_bind_blob(s, 1, rv->org, 32, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, rv->identity, 32, SQLITE_STATIC);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        gone += (size_t)sqlite3_changes(rbx__store_db(st));
        rbx__st_done(st, s);
        if (rc != 0) return rc;
    }
    rbx_fingerprint(fp, rv->identity);
    return rbx__audit(st, "identity revoked", "%s, %zu sessions erased, %s", fp, gone,
                      rv->reason);
}

int rbx_store_org_revoke(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                         const uint8_t identity[32], const char *reason)
{
    uint8_t sk[32];
    rbx_org_revocation rv = { 0 };
    int64_t now = rbx__st_now(st);
    *outlen = 0;
    if (!reason_ok(reason)) return RBX_E_INVALID;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    /* The fields of the record just signed: it is not parsed and verified back. */
    memcpy(rv.identity, identity, 32);
    rv.revoked_at = (uint64_t)now;
    snprintf(rv.reason, sizeof rv.reason, "%s", reason);
    if ((rc = load_org(st, rv.org, sk)) == 0 &&
        (rc = rbx_org_revoke(out, outcap, outlen, rv.org, sk, identity, rv.revoked_at, reason)) == 0)
        rc = apply_revocation(st, &rv, out, *outlen);
    WIPE(sk);
    if (rc != 0) {
        rbx__st_rollback(st);
        *outlen = 0;
        return rc;
    }
    if ((rc = rbx__st_commit(st, 0)) != 0) {
        *outlen = 0;
        return rc;
    }
    /* The erased sessions leave the files now, as in rbx_store_add_revocation;
     * the record is committed and handed out whatever this returns. */
    (void)rbx__st_erase_point(st);
    return 0;
}

int rbx_store_add_revocation(rbx_store *st, const uint8_t *rev, size_t len)
{
    rbx_org_revocation rv;
    int rc = rbx_org_revocation_parse(&rv, rev, len);
    if (rc != 0) return rc;
    if ((rc = rbx__st_begin(st)) != 0) return rc;
    if ((rc = apply_revocation(st, &rv, rev, len)) != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    if ((rc = rbx__st_commit(st, 0)) != 0) return rc;
    /* Committed: a failed erase point is owed (rbx_store_deferred). */
    (void)rbx__st_erase_point(st);
    return 0;
}

int rbx_store_set_certificate(rbx_store *st, const uint8_t *cert, size_t len)
{
    rbx_org_cert c;
    uint8_t pk[32];
    char fp[RBX_FINGERPRINT_HEXBYTES];
    sqlite3_stmt *s;
    int rc = rbx_org_cert_parse(&c, cert, len);
    if (rc != 0) return rc;
    if ((rc = rbx__st_begin(st)) != 0) return rc;
    if ((rc = rbx__st_load_identity(st, pk, NULL)) != 0) goto fail;
    /* Parsed and verified above: checked for our key and the time only. */
    if ((rc = rbx__org_cert_valid(&c, c.org, pk, (uint64_t)rbx__st_now(st))) != 0) goto fail;
    if ((rc = rbx__st_prep(st, &s, "INSERT OR REPLACE INTO certificate (id, cert) VALUES (1, ?1)")) != 0)
        goto fail;
    sqlite3_bind_blob(s, 1, cert, (int)len, SQLITE_STATIC);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    rbx_fingerprint(fp, c.org);
    if (rc == 0) rc = rbx__audit(st, "certificate installed", "by root %s", fp);
    if (rc != 0) goto fail;
    return rbx__st_commit(st, 0);
fail:
    rbx__st_rollback(st);
    return rc;
}

int rbx_store_certificate(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen)
{
    uint8_t cert[RBX_CERT_MAXBYTES];
    size_t n;
    *outlen = 0;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = rbx__st_certificate(st, cert, sizeof cert, &n);
    rbx__st_rollback(st);
    if (rc == 0 && n == 0) rc = RBX_E_NOT_FOUND;
    if (rc == 0 && n > outcap) rc = RBX_E_BUFFER;
    if (rc != 0) return rc;
    memcpy(out, cert, n);
    *outlen = n;
    return 0;
}

int rbx_store_revocations(rbx_store *st, rbx_org_revocation *out, size_t cap, size_t *count)
{
    sqlite3_stmt *s;
    size_t n = 0;
    *count = 0;
    if (out == NULL && cap > 0) return RBX_E_INVALID;
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT record FROM revocations ORDER BY org, identity")) != 0)
        goto out;
    while ((rc = rbx__st_step(s)) == 1) {
        /* Rows are outside input: each record is verified again. */
        if (n < cap && (sqlite3_column_type(s, 0) != SQLITE_BLOB ||
                        rbx_org_revocation_parse(&out[n], sqlite3_column_blob(s, 0),
                                                 (size_t)sqlite3_column_bytes(s, 0)) != 0)) {
            rc = RBX_E_CORRUPT;
            break;
        }
        n++;
    }
    rbx__st_done(st, s);
out:
    rbx__st_rollback(st);
    if (rc < 0) return rc;
    *count = n;
    return 0;
}
