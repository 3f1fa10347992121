/* SPDX-License-Identifier: MIT
 * Our bundle (PROTOCOL.md 5 and 9.4): policy upkeep first, then the identity,
 * the signed prekey in force, one one-time prekey marked offered, our
 * rotation records and our certificate, in one transaction. Calls db.c and
 * rotate.c; nothing in the store calls it. */
#include "internal.h"
#include "rotation.h"
#include "store_int.h"

/* Public columns of one row: 32-byte key and optionally a 64-byte
 * signature; column 2 says whether its tag matches. */
static int load_public(rbx_store *st, const char *sql, int64_t id, uint8_t pk[32], uint8_t *sig)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, sql);
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        rc = sqlite3_column_type(s, 0) == SQLITE_BLOB && sqlite3_column_bytes(s, 0) == 32 &&
                     (sig == NULL || (sqlite3_column_type(s, 1) == SQLITE_BLOB &&
                                      sqlite3_column_bytes(s, 1) == 64))
                 ? 0
                 : RBX_E_CORRUPT;
        if (rc == 0 && sqlite3_column_int(s, 2) != 1) rc = RBX_E_TAMPERED; /* its tag */
        if (rc == 0) {
            memcpy(pk, sqlite3_column_blob(s, 0), 32);
            if (sig != NULL) memcpy(sig, sqlite3_column_blob(s, 1), 64);
        }
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    return rc;
}

/* An id from a one-column query, 0 when there is no row. */
static int query_id(rbx_store *st, const char *sql, int64_t *id)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, sql);
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    *id = rc == 1 ? sqlite3_column_int64(s, 0) : 0;
    rbx__st_done(st, s);
    return rc < 0 ? rc : 0;
}

int rbx_store_bundle(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen, unsigned onetime)
{
    uint8_t ik_pk[32], ik_sk[32], spk_pk[32], sig[64], opk_pk[32];
    uint8_t recs[RBX_CHAIN_MAX * RBX_ROTATION_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    const uint8_t *recp[RBX_CHAIN_MAX];
    size_t reclens[RBX_CHAIN_MAX], nrec = 0, certlen = 0;
    int64_t spk_id = 0, opk_id = 0, spk_created = 0;
    int stated = 0;
    rbx_maintain_result mr;
    *outlen = 0;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    /* Policy upkeep first: the bundle then offers a prekey that is in date. */
    if ((rc = rbx__st_maintain(st, 0, onetime > 0, &mr)) != 0 ||
        (rc = rbx__st_load_identity(st, ik_pk, ik_sk)) != 0 ||
        (rc = rbx__st_current_spk(st, &spk_id, &spk_created, &stated)) != 0)
        goto fail;
    /* The one-time prekey offered: its tag checked before it is re-tagged
     * as offered (15.8). */
    if (onetime > 0 &&
        (rc = query_id(st, "UPDATE onetime_prekeys SET offered = 1,"
                           " mac = rbx_mac('onetime_prekeys', id, pk, sk, 1) WHERE id ="
                           " (SELECT min(id) FROM onetime_prekeys WHERE offered = 0)"
                           " AND rbx_mac_ok('onetime_prekeys', mac, " RBX_AUTH_ONETIME_PREKEYS ")"
                           " RETURNING id", &opk_id)) != 0)
        goto fail;
    if (onetime > 0 && opk_id == 0 &&
        (rc = query_id(st, "SELECT min(id) FROM onetime_prekeys WHERE offered = 0", &opk_id)) == 0 &&
        opk_id != 0)
        rc = RBX_E_TAMPERED; /* there is one, but its tag does not match */
    if (rc != 0) goto fail;
    if ((rc = load_public(st, "SELECT pk, sig, rbx_mac_ok('signed_prekeys', mac, "
                              RBX_AUTH_SIGNED_PREKEYS ") FROM signed_prekeys WHERE id = ?1",
                          spk_id, spk_pk, sig)) != 0 ||
        (opk_id > 0 &&
         (rc = load_public(st, "SELECT pk, NULL, rbx_mac_ok('onetime_prekeys', mac, "
                               RBX_AUTH_ONETIME_PREKEYS ") FROM onetime_prekeys WHERE id = ?1",
                           opk_id, opk_pk, NULL)) != 0) ||
        (rc = rbx__st_chain(st, recs, sizeof recs, recp, reclens, &nrec)) != 0 ||
        (rc = rbx__st_certificate(st, cert, sizeof cert, &certlen)) != 0)
        goto fail;
    if ((rc = rbx__bundle_encode_ext(out, outcap, outlen, ik_pk, (uint32_t)spk_id, spk_pk, sig,
                                     stated ? (uint64_t)spk_created : 0,
                                     opk_id > 0 ? (uint32_t)opk_id : RBX_NO_PREKEY, opk_pk, recp,
                                     reclens, nrec, certlen ? cert : NULL, certlen)) != 0)
        goto fail;
    WIPE(ik_sk);
    if ((rc = rbx__st_commit(st, 0)) != 0) {
        *outlen = 0;
        return rc;
    }
    /* Erased prekey and identity secrets leave the files now. */
    if (mr.signed_prekeys_erased || mr.old_identities_erased || mr.sessions_retired)
        (void)rbx__st_erase_point(st);
    return 0;
fail:
    rbx__st_rollback(st);
    WIPE(ik_sk);
    *outlen = 0;
    return rc;
}
