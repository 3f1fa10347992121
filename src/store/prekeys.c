/* SPDX-License-Identifier: MIT
 * Our own keys in the store (PROTOCOL.md "State and storage", "Rotation"):
 * the identity's creation, the identity sequence, signed prekeys with their
 * stated creation time, one-time prekeys and their counts. Calls db.c and
 * audit.c; rotate.c's upkeep and identity rotation make prekeys here. */
#include "internal.h"
#include "sign.h"
#include "store_int.h"

int rbx_store_identity_create(rbx_store *st, const uint8_t *pk, const uint8_t *sk)
{
    uint8_t npk[32], nsk[32];
    int rc = rbx__st_keypair_in(npk, nsk, pk, sk);
    if (rc != 0) return rc;
    if ((rc = rbx__st_begin(st)) != 0) goto out;
    rc = rbx__st_insert_keypair(st, "INSERT INTO identity (id, pk, sk) VALUES (1, ?1, ?2)",
                                "identity", npk, nsk);
    char fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_fingerprint(fp, npk);
    if (rc == 0) rc = rbx__audit(st, "identity created", "%s, %s", fp, pk ? "imported" : "generated");
    if (rc != 0) {
        rbx__st_rollback(st);
        goto out;
    }
    rc = rbx__st_commit(st, 0);
out:
    WIPE(nsk);
    return rc;
}

/* The device signs its requests to a server with the identity in force
 * (PROTOCOL.md 20.7); the secret key lives only for this call. */
int rbx_store_request_sign(rbx_store *st, uint8_t sig[64], const char *method, const char *target,
                           uint64_t ts, const uint8_t nonce[16], const uint8_t *body,
                           size_t bodylen, const char *user, uint32_t device)
{
    uint8_t pk[32], sk[32];
    memset(sig, 0, 64);
    int rc = rbx__st_load_identity(st, pk, sk);
    if (rc == 0) rc = rbx_request_sign(sig, method, target, ts, nonce, body, bodylen, user, device, sk);
    WIPE(sk);
    return rc;
}

/* A new user's device list starts with the device adding itself
 * (PROTOCOL.md 20.4: seq 1 is an add of the signer's own key). */
int rbx_store_devlist_first_entry(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                                  const char *user, uint64_t created)
{
    rbx_devlist_entry e;
    uint8_t sk[32];
    *outlen = 0;
    memset(&e, 0, sizeof e);
    if (!rbx_user_id_ok(user)) return RBX_E_INVALID;
    int rc = rbx__st_load_identity(st, e.identity, sk);
    if (rc == 0) {
        memcpy(e.user, user, strlen(user) + 1);
        e.seq = 1;
        e.op = RBX_DEVLIST_ADD;
        e.device = rbx_device_id(e.identity);
        e.created = created;
        e.signer_kind = RBX_SIGNER_DEVICE;
        memcpy(e.signer, e.identity, 32);
        rc = rbx_devlist_entry_sign(out, outcap, outlen, &e, sk, sk);
    }
    WIPE(sk);
    return rc;
}

/* The two halves of an add entry made on two devices (PROTOCOL.md 21.6):
 * each signs with the identity in force, which must be the key the entry
 * names for its role. */
int rbx_store_devlist_sign(rbx_store *st, uint8_t sig[64], const rbx_devlist_entry *e)
{
    uint8_t pk[32], sk[32];
    memset(sig, 0, 64);
    int rc = rbx__st_load_identity(st, pk, sk);
    if (rc == 0 && sodium_memcmp(pk, e->signer, 32) != 0) rc = RBX_E_KEY;
    if (rc == 0) rc = rbx_devlist_entry_signature(sig, e, sk);
    WIPE(sk);
    return rc;
}

int rbx_store_devlist_cosign(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                             const rbx_devlist_entry *e, const uint8_t sig[64])
{
    uint8_t pk[32], sk[32];
    *outlen = 0;
    int rc = rbx__st_load_identity(st, pk, sk);
    if (rc == 0 && sodium_memcmp(pk, e->identity, 32) != 0) rc = RBX_E_KEY;
    if (rc == 0) rc = rbx_devlist_entry_cosign(out, outcap, outlen, e, sig, sk);
    WIPE(sk);
    return rc;
}

/* ------------------------------------------------------------ prekeys */

/* A new signed prekey of identity ik_seq, with its creation time stated and
 * signed (PROTOCOL.md "Rotation": the v2 statement). */
int rbx__st_insert_signed_prekey(rbx_store *st, const uint8_t ik_sk[32], int64_t ik_seq,
                                 int64_t *id_out)
{
    uint8_t pk[32], sk[32], sig[64], statement[RBX_SPK_STATEMENT_V2_BYTES];
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT coalesce(max(id), 0) + 1 FROM signed_prekeys");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    int64_t id = sqlite3_column_int64(s, 0), now = rbx__st_now(st);
    rbx__st_done(st, s);
    if (rc != 1) return rc < 0 ? rc : RBX_E_CORRUPT;
    if (id >= (int64_t)RBX_NO_PREKEY) return RBX_E_LIMIT;
    if (now <= 0) return RBX_E_STATE; /* a creation time of 0 means "not stated" */
    if ((rc = rbx__keypair(pk, sk)) != 0) return rc;
    rbx__spk_statement_v2(statement, (uint32_t)id, (uint64_t)now, pk);
    rbx__xeddsa_sign(sig, ik_sk, statement, sizeof statement);
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO signed_prekeys (id, pk, sk, sig, created, ik, stated,"
                           " mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1,"
                           " rbx_mac('signed_prekeys', ?1, ?2, ?3, ?4, ?5, ?6, 1))")) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_blob(s, 2, pk, 32, SQLITE_TRANSIENT);
    rc = rbx__st_bind_sealed(st, s, 3, "signed_prekeys", id, 0, "sk", sk, 32);
    sqlite3_bind_blob(s, 4, sig, 64, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, now);
    sqlite3_bind_int64(s, 6, ik_seq);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc == 0) rc = rbx__audit(st, "signed prekey created", "id %lld, identity %lld",
                                 (long long)id, (long long)ik_seq);
    *id_out = id;
out:
    WIPE(sk);
    return rc;
}

/* Top the unoffered one-time prekeys up by batch when fewer than low are left. */
int rbx__st_refill_onetime(rbx_store *st, unsigned low, unsigned batch, size_t *made)
{
    sqlite3_stmt *s;
    *made = 0;
    int rc = rbx__st_prep(st, &s, "SELECT coalesce(sum(offered = 0), 0), coalesce(max(id), 0)"
                          " FROM onetime_prekeys");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    int64_t fresh = sqlite3_column_int64(s, 0), maxid = sqlite3_column_int64(s, 1);
    rbx__st_done(st, s);
    if (rc != 1) return rc < 0 ? rc : RBX_E_CORRUPT;
    if (fresh >= (int64_t)low) return 0;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO onetime_prekeys (id, pk, sk, offered, mac)"
                                   " VALUES (?1, ?2, ?3, 0, rbx_mac('onetime_prekeys', ?1, ?2, ?3, 0))")) != 0)
        return rc;
    for (unsigned i = 0; i < batch && rc == 0; i++) {
        uint8_t pk[32], sk[32];
        int64_t id = ++maxid;
        if (id >= (int64_t)RBX_NO_PREKEY) {
            rc = RBX_E_LIMIT;
            break;
        }
        if ((rc = rbx__keypair(pk, sk)) == 0) {
            sqlite3_bind_int64(s, 1, id);
            sqlite3_bind_blob(s, 2, pk, 32, SQLITE_TRANSIENT);
            rc = rbx__st_bind_sealed(st, s, 3, "onetime_prekeys", id, 0, "sk", sk, 32);
            if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
            sqlite3_reset(s);
        }
        WIPE(sk);
    }
    rbx__st_done(st, s);
    if (rc == 0) {
        *made = batch;
        rc = rbx__audit(st, "prekeys replenished", "%u one-time prekeys, %lld were left", batch,
                        (long long)fresh);
    }
    return rc;
}

int rbx_store_prekey_stats(rbx_store *st, rbx_prekey_stats *out)
{
    sqlite3_stmt *s;
    memset(out, 0, sizeof *out);
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT id, created FROM signed_prekeys ORDER BY id DESC LIMIT 1")) != 0)
        goto out;
    rc = rbx__st_step(s);
    if (rc == 1) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (id <= 0 || id >= (int64_t)RBX_NO_PREKEY) rc = RBX_E_CORRUPT;
        out->signed_prekey_id = (uint32_t)id;
        out->signed_prekey_created = sqlite3_column_int64(s, 1);
    }
    rbx__st_done(st, s);
    if (rc < 0) goto out;
    if ((rc = rbx__st_prep(st, &s, "SELECT coalesce(sum(offered = 0), 0),"
                           " coalesce(sum(offered != 0 AND sk IS NOT NULL), 0),"
                           " coalesce(sum(sk IS NULL), 0) FROM onetime_prekeys")) != 0)
        goto out;
    rc = rbx__st_step(s);
    if (rc == 1) {
        out->onetime_unoffered = (size_t)sqlite3_column_int64(s, 0);
        out->onetime_outstanding = (size_t)sqlite3_column_int64(s, 1);
        out->onetime_consumed = (size_t)sqlite3_column_int64(s, 2);
    }
    rbx__st_done(st, s);
out:
    rbx__st_rollback(st);
    if (rc < 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    return 0;
}
