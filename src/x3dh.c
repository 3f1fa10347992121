/* SPDX-License-Identifier: MIT
 * X3DH (Signal's X3DH spec, revision 1) whose identity key is the product's
 * box key pair: prekeys, bundles, and the initiator's and responder's side. */
#include <stdlib.h>

#include "rotation.h"
#include "session.h"
#include "sign.h"
#include "wire.h"

typedef struct spk_entry {
    uint32_t id;
    uint8_t pk[32], sk[32], sig[64];
} spk_entry;

typedef struct opk_entry {
    uint32_t id;
    uint8_t pk[32], sk[32];
} opk_entry;

struct rbx_prekeys {
    uint8_t ik_pk[32], ik_sk[32];
    spk_entry *spk;
    size_t nspk, capspk;
    opk_entry *opk;
    size_t nopk, capopk;
    uint32_t *used; /* consumed one-time prekey ids */
    size_t nused, capused;
};

/* ------------------------------------------------------------ prekeys */

int rbx_prekeys_new(rbx_prekeys **out, const uint8_t identity_pk[32],
                    const uint8_t identity_sk[32])
{
    *out = NULL;
    if (!rbx__keypair_matches(identity_pk, identity_sk) || !rbx__pk_is_valid(identity_pk))
        return RBX_E_KEY;
    rbx_prekeys *pk = calloc(1, sizeof *pk);
    if (pk == NULL) return RBX_E_NOMEM;
    memcpy(pk->ik_pk, identity_pk, 32);
    memcpy(pk->ik_sk, identity_sk, 32);
    *out = pk;
    return 0;
}

void rbx_prekeys_free(rbx_prekeys *pk)
{
    if (pk == NULL) return;
    if (pk->spk != NULL) WIPE_BUF(pk->spk, pk->capspk * sizeof *pk->spk);
    if (pk->opk != NULL) WIPE_BUF(pk->opk, pk->capopk * sizeof *pk->opk);
    free(pk->spk);
    free(pk->opk);
    free(pk->used);
    WIPE_BUF(pk, sizeof *pk);
    free(pk);
}

static spk_entry *find_spk(const rbx_prekeys *pk, uint32_t id)
{
    for (size_t i = 0; i < pk->nspk; i++)
        if (pk->spk[i].id == id) return &pk->spk[i];
    return NULL;
}

static opk_entry *find_opk(const rbx_prekeys *pk, uint32_t id)
{
    for (size_t i = 0; i < pk->nopk; i++)
        if (pk->opk[i].id == id) return &pk->opk[i];
    return NULL;
}

static int opk_was_used(const rbx_prekeys *pk, uint32_t id)
{
    for (size_t i = 0; i < pk->nused; i++)
        if (pk->used[i] == id) return 1;
    return 0;
}

/* A key pair from sk, or a fresh one when sk is NULL. */
static int load_or_generate(uint8_t pub[32], uint8_t sec[32], const uint8_t *sk)
{
    if (sk == NULL) return rbx__keypair(pub, sec);
    memcpy(sec, sk, 32);
    if (crypto_scalarmult_base(pub, sec) != 0 || !rbx__pk_is_valid(pub)) return RBX_E_KEY;
    return 0;
}

int rbx_prekeys_add_signed(rbx_prekeys *pk, uint32_t id, const uint8_t *sk)
{
    if (find_spk(pk, id) != NULL) return RBX_E_INVALID;
    void *arr = pk->spk;
    int rc = rbx__grow(&arr, &pk->capspk, pk->nspk, pk->nspk + 1, sizeof *pk->spk);
    pk->spk = arr;
    if (rc != 0) return rc;
    spk_entry *e = &pk->spk[pk->nspk];
    e->id = id;
    if ((rc = load_or_generate(e->pk, e->sk, sk)) != 0) {
        WIPE_BUF(e, sizeof *e);
        return rc;
    }
    uint8_t statement[RBX_SPK_STATEMENT_BYTES];
    rbx__spk_statement(statement, id, e->pk);
    rbx__xeddsa_sign(e->sig, pk->ik_sk, statement, sizeof statement);
    pk->nspk++;
    return 0;
}

int rbx_prekeys_add_onetime(rbx_prekeys *pk, uint32_t id, const uint8_t *sk)
{
    if (id == RBX_NO_PREKEY || find_opk(pk, id) != NULL || opk_was_used(pk, id))
        return RBX_E_INVALID;
    void *arr = pk->opk;
    int rc = rbx__grow(&arr, &pk->capopk, pk->nopk, pk->nopk + 1, sizeof *pk->opk);
    pk->opk = arr;
    if (rc != 0) return rc;
    opk_entry *e = &pk->opk[pk->nopk];
    e->id = id;
    if ((rc = load_or_generate(e->pk, e->sk, sk)) != 0) {
        WIPE_BUF(e, sizeof *e);
        return rc;
    }
    pk->nopk++;
    return 0;
}

int rbx_prekeys_remove_signed(rbx_prekeys *pk, uint32_t id)
{
    spk_entry *e = find_spk(pk, id);
    if (e == NULL) return RBX_E_UNKNOWN_PREKEY;
    rbx__erase(pk->spk, &pk->nspk, (size_t)(e - pk->spk), sizeof *e);
    return 0;
}

static void opk_erase(rbx_prekeys *pk, opk_entry *e)
{
    rbx__erase(pk->opk, &pk->nopk, (size_t)(e - pk->opk), sizeof *e);
}

int rbx_prekeys_remove_onetime(rbx_prekeys *pk, uint32_t id)
{
    opk_entry *e = find_opk(pk, id);
    if (e == NULL) return RBX_E_UNKNOWN_PREKEY;
    opk_erase(pk, e);
    return 0;
}

size_t rbx_prekeys_onetime_count(const rbx_prekeys *pk) { return pk->nopk; }

/* ------------------------------------------------------------ bundles */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

size_t rbx_prekeys_onetime_ids(uint32_t *ids, size_t cap, const rbx_prekeys *pk)
{
    size_t n = pk->nopk < cap ? pk->nopk : cap;
    if (ids == NULL) return pk->nopk;
    uint32_t *all = malloc((pk->nopk ? pk->nopk : 1) * sizeof *all);
    if (all == NULL) return 0;
    for (size_t i = 0; i < pk->nopk; i++) all[i] = pk->opk[i].id;
    qsort(all, pk->nopk, sizeof *all, cmp_u32);
    memcpy(ids, all, n * sizeof *ids);
    free(all);
    return pk->nopk;
}

int rbx__bundle_encode_ext(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t ik_pk[32],
                           uint32_t spk_id, const uint8_t spk_pk[32], const uint8_t sig[64],
                           uint64_t spk_created, uint32_t opk_id, const uint8_t *opk_pk,
                           const uint8_t *const *records, const size_t *lens, size_t nrecords,
                           const uint8_t *cert, size_t certlen)
{
    *outlen = 0;
    if (nrecords > RBX_CHAIN_MAX || (nrecords > 0 && (records == NULL || lens == NULL)) ||
        (opk_id != RBX_NO_PREKEY && opk_pk == NULL) || (cert != NULL && certlen == 0))
        return RBX_E_INVALID;
    /* What the parser would refuse is not written (empty fields, see
     * rbx__bundle_parse_wire). */
    for (size_t i = 0; i < nrecords; i++)
        if (records[i] == NULL || lens[i] == 0) return RBX_E_INVALID;
    /* protobuf-c wants mutable pointers; these are public values, and
     * packing only reads them. */
    uint8_t ik[32], spk[32], sg[64], opk[32];
    ProtobufCBinaryData recs[RBX_CHAIN_MAX];
    memcpy(ik, ik_pk, 32);
    memcpy(spk, spk_pk, 32);
    memcpy(sg, sig, 64);
    Rbx__Wire__PreKeyBundle b = RBX__WIRE__PRE_KEY_BUNDLE__INIT;
    b.version = RBX_WIRE_VERSION;
    b.identity_key = (ProtobufCBinaryData){ 32, ik };
    b.signed_prekey_id = spk_id;
    b.signed_prekey = (ProtobufCBinaryData){ 32, spk };
    b.signed_prekey_signature = (ProtobufCBinaryData){ 64, sg };
    if (opk_id != RBX_NO_PREKEY) {
        memcpy(opk, opk_pk, 32);
        b.has_one_time_prekey_id = b.has_one_time_prekey = 1;
        b.one_time_prekey_id = opk_id;
        b.one_time_prekey = (ProtobufCBinaryData){ 32, opk };
    }
    if (spk_created != 0) {
        b.has_signed_prekey_created = 1;
        b.signed_prekey_created = spk_created;
    }
    for (size_t i = 0; i < nrecords; i++)
        recs[i] = (ProtobufCBinaryData){ lens[i], (uint8_t *)(uintptr_t)records[i] };
    b.n_rotation = nrecords;
    b.rotation = nrecords > 0 ? recs : NULL;
    if (cert != NULL) {
        b.has_org_certificate = 1;
        b.org_certificate = (ProtobufCBinaryData){ certlen, (uint8_t *)(uintptr_t)cert };
    }
    if (rbx__wire__pre_key_bundle__get_packed_size(&b) > outcap) return RBX_E_BUFFER;
    *outlen = rbx__wire__pre_key_bundle__pack(&b, out);
    return 0;
}

int rbx_prekeys_bundle(uint8_t *out, size_t outcap, size_t *outlen, const rbx_prekeys *pk,
                       uint32_t spk_id, uint32_t onetime_id)
{
    *outlen = 0;
    const spk_entry *spk = find_spk(pk, spk_id);
    if (spk == NULL) return RBX_E_UNKNOWN_PREKEY;
    const opk_entry *opk = NULL;
    if (onetime_id != RBX_NO_PREKEY && (opk = find_opk(pk, onetime_id)) == NULL)
        return RBX_E_UNKNOWN_PREKEY;
    return rbx__bundle_encode_ext(out, outcap, outlen, pk->ik_pk, spk->id, spk->pk, spk->sig, 0,
                                  onetime_id, opk != NULL ? opk->pk : NULL, NULL, NULL, 0, NULL,
                                  0);
}

int rbx__bundle_parse_records(rbx_bundle *out, Rbx__Wire__PreKeyBundle **wout,
                              rbx_rotation recs[RBX_CHAIN_MAX], rbx_org_cert *cert,
                              const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    *wout = NULL;
    if (len > RBX_BUNDLE_MAXBYTES) return RBX_E_MALFORMED;
    Rbx__Wire__PreKeyBundle *w = rbx__wire__pre_key_bundle__unpack(NULL, len, in);
    if (w == NULL) return RBX_E_MALFORMED;
    int rc = RBX_E_MALFORMED;
    if (w->version != RBX_WIRE_VERSION) {
        rc = RBX_E_VERSION;
        goto out;
    }
    /* RBX_NO_PREKEY is never a real one-time prekey id. A stated creation time of 0 would be
     * "not stated" to rbx_bundle: refused, so that the two never meet. */
    if (w->identity_key.len != 32 || w->signed_prekey.len != 32 ||
        w->signed_prekey_signature.len != 64 ||
        w->has_one_time_prekey_id != w->has_one_time_prekey ||
        (w->has_one_time_prekey && (w->one_time_prekey.len != 32 ||
                                    w->one_time_prekey_id == RBX_NO_PREKEY)) ||
        (w->has_signed_prekey_created && w->signed_prekey_created == 0) ||
        w->n_rotation > RBX_CHAIN_MAX ||
        (w->has_org_certificate && w->org_certificate.len == 0))
        goto out;
    /* An empty bytes field comes back from protobuf-c with data NULL, which
     * the record and certificate parsers must not be handed. */
    for (size_t i = 0; i < w->n_rotation; i++)
        if (w->rotation[i].len == 0) goto out;
    /* Canonical form only (see wire.h). */
    if (!rbx__wire_canonical(&w->base, in, len)) goto out;

    rbx_bundle b = { 0 };
    memcpy(b.identity, w->identity_key.data, 32);
    b.signed_prekey_id = w->signed_prekey_id;
    memcpy(b.signed_prekey, w->signed_prekey.data, 32);
    memcpy(b.signature, w->signed_prekey_signature.data, 64);
    if (w->has_one_time_prekey) {
        b.has_onetime = 1;
        b.onetime_prekey_id = w->one_time_prekey_id;
        memcpy(b.onetime_prekey, w->one_time_prekey.data, 32);
    }
    b.signed_prekey_created = w->has_signed_prekey_created ? w->signed_prekey_created : 0;
    b.chain_len = w->n_rotation;
    b.has_certificate = w->has_org_certificate != 0;
    rc = RBX_E_KEY;
    if (!rbx__pk_is_valid(b.identity) || !rbx__pk_is_valid(b.signed_prekey) ||
        (b.has_onetime && !rbx__pk_is_valid(b.onetime_prekey)))
        goto out;
    /* PROTOCOL.md 5: the v2 statement when field 8 is present, else v1
     * (bundles from before rotation parse exactly as they did). */
    uint8_t statement[RBX_SPK_STATEMENT_V2_BYTES];
    size_t slen = RBX_SPK_STATEMENT_BYTES;
    if (w->has_signed_prekey_created) {
        rbx__spk_statement_v2(statement, b.signed_prekey_id, b.signed_prekey_created,
                              b.signed_prekey);
        slen = RBX_SPK_STATEMENT_V2_BYTES;
    } else {
        rbx__spk_statement(statement, b.signed_prekey_id, b.signed_prekey);
    }
    if ((rc = rbx__xeddsa_verify(b.signature, b.identity, statement, slen)) != 0) goto out;
    /* Records and certificate are self-signed; their form and signatures are
     * checked here, their linkage by rbx_bundle_chain_verify and the org's
     * standing by rbx_org_cert_check. */
    for (size_t i = 0; i < w->n_rotation; i++) {
        rbx_rotation r;
        if ((rc = rbx_rotation_parse(&r, w->rotation[i].data, w->rotation[i].len)) != 0) goto out;
        if (recs != NULL) recs[i] = r;
    }
    if (w->has_org_certificate) {
        rbx_org_cert c;
        if ((rc = rbx_org_cert_parse(&c, w->org_certificate.data, w->org_certificate.len)) != 0)
            goto out;
        if (cert != NULL) *cert = c;
    }
    *out = b;
    *wout = w;
    w = NULL;
out:
    if (w != NULL) rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    return rc;
}

int rbx__bundle_parse_wire(rbx_bundle *out, Rbx__Wire__PreKeyBundle **wout, const uint8_t *in,
                           size_t len)
{
    return rbx__bundle_parse_records(out, wout, NULL, NULL, in, len);
}

int rbx_bundle_parse(rbx_bundle *out, const uint8_t *in, size_t len)
{
    Rbx__Wire__PreKeyBundle *w;
    int rc = rbx__bundle_parse_wire(out, &w, in, len);
    if (w != NULL) rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    return rc;
}

int rbx_bundle_with_onetime(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t *base,
                            size_t baselen, uint32_t id, const uint8_t key[32])
{
    *outlen = 0;
    rbx_bundle b;
    Rbx__Wire__PreKeyBundle *w;
    int rc = rbx__bundle_parse_wire(&b, &w, base, baselen);
    if (rc != 0) return rc;
    /* PROTOCOL.md 20.9: one base bundle, one one-time prekey; a bundle that
     * has one already is not a base bundle. */
    if (b.has_onetime || id == RBX_NO_PREKEY) {
        rc = RBX_E_MALFORMED;
    } else if (!rbx__pk_is_valid(key)) {
        rc = RBX_E_KEY;
    } else {
        /* w holds copies of every field (protobuf-c copies bytes fields),
         * so out may be base. */
        const uint8_t *recs[RBX_CHAIN_MAX];
        size_t lens[RBX_CHAIN_MAX];
        for (size_t i = 0; i < w->n_rotation; i++) {
            recs[i] = w->rotation[i].data;
            lens[i] = w->rotation[i].len;
        }
        rc = rbx__bundle_encode_ext(out, outcap, outlen, b.identity, b.signed_prekey_id,
                                    b.signed_prekey, b.signature, b.signed_prekey_created, id, key,
                                    recs, lens, w->n_rotation,
                                    w->has_org_certificate ? w->org_certificate.data : NULL,
                                    w->has_org_certificate ? w->org_certificate.len : 0);
    }
    rbx__wire__pre_key_bundle__free_unpacked(w, NULL);
    return rc;
}

/* ------------------------------------------------------------ handshake */

static int check_opts(const rbx_session_opts *o)
{
    if (o == NULL) return 0;
    if (rbx__profile_get(o->profile) == NULL) return RBX_E_INVALID;
    if (o->header_encryption != 0 && o->header_encryption != 1) return RBX_E_INVALID;
    return 0;
}

int rbx_session_initiate(rbx_session **out, const uint8_t identity_pk[32],
                         const uint8_t identity_sk[32], const rbx_bundle *b,
                         const rbx_session_opts *opts)
{
    *out = NULL;
    int rc = check_opts(opts);
    if (rc != 0) return rc;
    rbx_session *s = rbx__session_alloc();
    if (s == NULL) return RBX_E_NOMEM;
    uint8_t ek_sk[32], dh[4 * 32], sk96[RBX_KDF_OUTBYTES];
    size_t ndh = b->has_onetime ? 4 : 3;

    s->initiator = 1;
    s->awaiting_reply = 1;
    s->profile = (uint8_t)(opts ? opts->profile : RBX_PROFILE_DEFAULT);
    /* A build limited to version 1 (RBX_MAX_VERSION) has no profile 2. */
    if (rbx__profile_get(s->profile) == NULL) {
        rc = RBX_E_INVALID;
        goto out;
    }
    s->header_encryption = (uint8_t)(opts ? opts->header_encryption : 0);
    s->signed_prekey_id = b->signed_prekey_id;
    s->has_onetime = (uint8_t)(b->has_onetime != 0);
    s->onetime_prekey_id = b->has_onetime ? b->onetime_prekey_id : 0;
    memcpy(s->ad, identity_pk, 32);
    memcpy(s->ad + 32, b->identity, 32);

    /* X3DH 3.3: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B),
     * DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B). */
    if ((rc = rbx__keypair(s->base_key, ek_sk)) != 0 ||
        (rc = rbx__dh(dh, identity_sk, b->signed_prekey)) != 0 ||
        (rc = rbx__dh(dh + 32, ek_sk, b->identity)) != 0 ||
        (rc = rbx__dh(dh + 64, ek_sk, b->signed_prekey)) != 0 ||
        (b->has_onetime && (rc = rbx__dh(dh + 96, ek_sk, b->onetime_prekey)) != 0))
        goto out;
    rbx__x3dh_kdf(sk96, dh, ndh * 32, rbx__profile_get(s->profile));
    if ((rc = rbx__ratchet_init_alice(s, sk96, b->signed_prekey)) != 0) goto out;
    *out = s;
    s = NULL;
out:
    WIPE(ek_sk);
    WIPE(dh);
    WIPE(sk96);
    rbx_session_free(s);
    return rc;
}

int rbx_session_set_chain(rbx_session *s, const uint8_t *const *records, const size_t *lens,
                          size_t n, const uint8_t *cert, size_t certlen)
{
    if (rbx__session_version(s) < 2 || !s->initiator || !s->awaiting_reply) return RBX_E_STATE;
    if (n > RBX_CHAIN_MAX || (n > 0 && (records == NULL || lens == NULL)) ||
        (cert != NULL && (n == 0 || certlen == 0 || certlen > RBX_CERT_MAXBYTES)))
        return RBX_E_INVALID;
    rbx__attached a = { 0 };
    for (size_t i = 0; i < n; i++) {
        rbx_rotation r;
        if (records[i] == NULL || lens[i] == 0 || lens[i] > RBX_ROTATION_MAXBYTES ||
            rbx_rotation_parse(&r, records[i], lens[i]) != 0)
            return RBX_E_INVALID;
        memcpy(a.rec[i], records[i], lens[i]);
        a.len[i] = (uint16_t)lens[i];
    }
    a.n = n;
    if (cert != NULL) {
        rbx_org_cert c;
        if (rbx_org_cert_parse(&c, cert, certlen) != 0) return RBX_E_INVALID;
        memcpy(a.cert, cert, certlen);
        a.certlen = (uint16_t)certlen;
    }
    s->att = a;
    return 0;
}

int rbx_message_chain_verify(rbx_chain_tip *tip, uint64_t *old_valid_until,
                             const rbx_chain_tip *pinned, const uint8_t *in, size_t len)
{
    rbx__msg m;
    rbx__prekey_msg pm;
    memset(tip, 0, sizeof *tip);
    *old_valid_until = 0;
    if (rbx__msg_parse(&m, in, len) == 0) return RBX_E_MALFORMED; /* not a first message */
    int rc = rbx__prekey_parse(&pm, in, len);
    if (rc != 0) return rc;
    return rbx_chain_verify(tip, old_valid_until, pinned, pm.identity_key, pm.records,
                            pm.record_lens, pm.nrecords);
}

int rbx_message_prekey_info(rbx_prekey_info *info, const uint8_t *in, size_t len)
{
    rbx__msg m;
    rbx__prekey_msg pm;
    if (info != NULL) memset(info, 0, sizeof *info);
    /* PROTOCOL.md 9.3: only a Message that does not parse (RBX_E_MALFORMED)
     * may be a PreKeyMessage; a Message of another version or with too long
     * a ciphertext is refused as such, so a newer sender is told apart.
     * Above RBX_MAX_WIRE only a PreKeyMessage with attached records fits. */
    int rc = rbx__msg_parse(&m, in, len);
    if (rc != RBX_E_MALFORMED && !(rc == RBX_E_TOO_BIG && len > RBX_MAX_WIRE)) return rc;
    rc = rbx__prekey_parse(&pm, in, len);
    if (rc != 0) return rc;
    if (info != NULL) {
        memcpy(info->initiator_identity, pm.identity_key, 32);
        memcpy(info->base_key, pm.base_key, 32);
        info->signed_prekey_id = pm.signed_prekey_id;
        info->has_onetime = pm.has_onetime;
        info->onetime_prekey_id = pm.onetime_prekey_id;
    }
    return 1;
}

int rbx_session_accept(rbx_session **out, uint8_t *pt, size_t ptcap, size_t *ptlen,
                       uint32_t *consumed_onetime, rbx_prekeys *pk, const uint8_t *pinned,
                       const uint8_t *in, size_t len)
{
    *out = NULL;
    *ptlen = 0;
    *consumed_onetime = UINT32_MAX;
    rbx__prekey_msg pm;
    int rc = rbx__prekey_parse(&pm, in, len);
    if (rc != 0) return rc;

    const spk_entry *spk = find_spk(pk, pm.signed_prekey_id);
    if (spk == NULL) return RBX_E_UNKNOWN_PREKEY;
    opk_entry *opk = NULL;
    if (pm.has_onetime && (opk = find_opk(pk, pm.onetime_prekey_id)) == NULL)
        return opk_was_used(pk, pm.onetime_prekey_id) ? RBX_E_PREKEY_REUSED
                                                      : RBX_E_UNKNOWN_PREKEY;
    /* Room to remember the consumed id, so the commit below cannot fail. */
    void *used = pk->used;
    rc = rbx__grow(&used, &pk->capused, pk->nused, pk->nused + 1, sizeof *pk->used);
    pk->used = used;
    if (rc != 0) return rc;

    rbx_session *s = rbx__session_alloc();
    if (s == NULL) return RBX_E_NOMEM;
    uint8_t dh[4 * 32], sk96[RBX_KDF_OUTBYTES];
    size_t ndh = opk != NULL ? 4 : 3;
    s->initiator = 0;
    s->profile = (uint8_t)pm.profile;
    s->header_encryption = (uint8_t)pm.header_encryption;
    s->signed_prekey_id = pm.signed_prekey_id;
    s->has_onetime = (uint8_t)(opk != NULL);
    s->onetime_prekey_id = opk != NULL ? opk->id : 0;
    memcpy(s->ad, pm.identity_key, 32);
    memcpy(s->ad + 32, pk->ik_pk, 32);
    memcpy(s->base_key, pm.base_key, 32);

    if ((rc = rbx__dh(dh, spk->sk, pm.identity_key)) != 0 ||
        (rc = rbx__dh(dh + 32, pk->ik_sk, pm.base_key)) != 0 ||
        (rc = rbx__dh(dh + 64, spk->sk, pm.base_key)) != 0 ||
        (opk != NULL && (rc = rbx__dh(dh + 96, opk->sk, pm.base_key)) != 0))
        goto out;
    rbx__x3dh_kdf(sk96, dh, ndh * 32, rbx__profile_get(s->profile));
    rbx__ratchet_init_bob(s, sk96, spk->pk, spk->sk);
    if ((rc = rbx__ratchet_decrypt(s, pt, ptcap, ptlen, pm.message, pm.messagelen)) != 0)
        goto out;
    /* Authenticated: only now compare with the pinned identity (unlike
     * libsignal-protocol-c, which pins before authenticating). */
    if (pinned != NULL && sodium_memcmp(pinned, pm.identity_key, 32) != 0) {
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
        rc = RBX_E_IDENTITY_CHANGED;
        goto out;
    }
    if (opk != NULL) {
        pk->used[pk->nused++] = opk->id;
        *consumed_onetime = opk->id;
        opk_erase(pk, opk);
    }
    *out = s;
    s = NULL;
out:
    WIPE(dh);
    WIPE(sk96);
    rbx_session_free(s);
    return rc;
}
