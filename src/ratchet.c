/* SPDX-License-Identifier: MIT
 * The Double Ratchet (Signal spec revision 3, sections 3 and 4) in memory.
 * Pure protocol code: no I/O, no storage; the only randomness is the ratchet
 * key pair of each DH step, the header-encryption nonce and version 2's
 * per-message salt R, all from libsodium's RNG. */
#include <stdlib.h>

#include "session.h"
#include "wire.h"

/* ------------------------------------------------------------ object */

rbx_session *rbx__session_alloc(void)
{
    rbx_session *s = calloc(1, sizeof(rbx_session));
    if (s != NULL) {
        s->max_skip = RBX_MAX_SKIP;
        s->max_skipped = RBX_MAX_SKIPPED_KEYS;
    }
    return s;
}

void rbx__session_limit(rbx_session *s, uint32_t max_skip, uint32_t max_skipped)
{
    if (max_skip != 0 && max_skip < s->max_skip) s->max_skip = max_skip;
    if (max_skipped != 0 && max_skipped < s->max_skipped) s->max_skipped = max_skipped;
}

void rbx_session_free(rbx_session *s)
{
    if (s == NULL) return;
    if (s->skipped != NULL) {
        WIPE_BUF(s->skipped, s->capskipped * sizeof *s->skipped);
        free(s->skipped);
    }
    WIPE_BUF(s, sizeof *s);
    free(s);
}

int rbx__session_reserve(rbx_session *s, size_t total)
{
    void *p = s->skipped;
    int rc = rbx__grow(&p, &s->capskipped, s->nskipped, total, sizeof *s->skipped);
    s->skipped = p;
    return rc;
}

static const rbx__profile *profile_of(const rbx_session *s)
{
    return rbx__profile_get(s->profile);
}

unsigned rbx__session_version(const rbx_session *s)
{
    const rbx__profile *p = profile_of(s);
    return p != NULL ? p->version : 0;
}

void rbx__attached_to_msg(rbx__prekey_msg *pm, const rbx__attached *att)
{
    pm->nrecords = att->n;
    for (size_t i = 0; i < att->n; i++) {
        pm->records[i] = att->rec[i];
        pm->record_lens[i] = att->len[i];
    }
    pm->cert = att->certlen ? att->cert : NULL;
    pm->certlen = att->certlen;
}

size_t rbx_session_wire_size(const rbx_session *s, size_t ptlen)
{
    rbx__prekey_msg pm = { 0 };
    rbx__attached_to_msg(&pm, &s->att);
    return RBX_PREKEY_PREFIX_MAX + RBX_MSG_PREFIX_MAX + RBX_MSG_SUFFIX_MAX + ptlen +
           RBX_AEAD_TAGBYTES + rbx__prekey_suffix(NULL, &pm);
}

static void header_encode(uint8_t h[RBX_HEADERBYTES], const uint8_t dh[32], uint32_t pn,
                          uint32_t n)
{
    memcpy(h, dh, 32);
    rbx__store32_be(h + 32, pn);
    rbx__store32_be(h + 36, n);
}

/* ------------------------------------------------------------ AEAD */

/* The body of a message under a message key (PROTOCOL.md 8.3): in version
 * 1 XChaCha20-Poly1305, in version 2 ChaCha20-Poly1305 under a key and
 * nonce that also depend on the message's salt R; ad = AD || header bytes. */
static void body_encrypt(uint8_t *ct, const uint8_t *pt, size_t ptlen, const uint8_t mk[32],
                         const uint8_t *salt, const uint8_t *ad, size_t adlen,
                         const rbx__profile *p)
{
    uint8_t key[32], nonce[24];
    rbx__message_keys(key, nonce, mk, salt, p);
    if (rbx__profile_aead12(p))
        crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, pt, ptlen, ad, adlen, NULL, nonce, key);
    else
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, pt, ptlen, ad, adlen, NULL, nonce, key);
    WIPE(key);
    WIPE(nonce);
}

static int body_decrypt(uint8_t *pt, const uint8_t *ct, size_t ctlen, const uint8_t mk[32],
                        const uint8_t *salt, const uint8_t *ad, size_t adlen,
                        const rbx__profile *p)
{
    uint8_t key[32], nonce[24];
    rbx__message_keys(key, nonce, mk, salt, p);
    int rc = rbx__profile_aead12(p)
                 ? crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, ctlen, ad, adlen,
                                                             nonce, key)
                 : crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, ctlen, ad,
                                                              adlen, nonce, key);
    WIPE(key);
    WIPE(nonce);
    if (rc != 0) {
        WIPE_BUF(pt, ctlen - RBX_AEAD_TAGBYTES);
        return RBX_E_AUTH;
    }
    return 0;
}

/* DR spec 4.2 HENCRYPT: random 24-byte nonce, since a header key encrypts a
 * whole chain of headers. The session AD binds the header to the session. */
static void header_seal(uint8_t out[RBX_ENC_HEADERBYTES], const uint8_t hk[32],
                        const uint8_t h[RBX_HEADERBYTES], const uint8_t ad[64])
{
    randombytes_buf(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, h, RBX_HEADERBYTES, ad, 64,
                                               NULL, out, hk);
}

static int header_open(uint8_t h[RBX_HEADERBYTES], const uint8_t hk[32],
                       const uint8_t enc[RBX_ENC_HEADERBYTES], const uint8_t ad[64])
{
    return crypto_aead_xchacha20poly1305_ietf_decrypt(h, NULL, NULL, enc + 24,
                                                      RBX_ENC_HEADERBYTES - 24, ad, 64, enc,
                                                      hk) == 0
               ? 0
               : RBX_E_AUTH;
}

/* ------------------------------------------------------------ encrypt */

int rbx_session_encrypt(rbx_session *s, uint8_t *out, size_t outcap, size_t *outlen,
                        const uint8_t *pt, size_t ptlen)
{
    *outlen = 0;
    if (pt == NULL && ptlen != 0) return RBX_E_INVALID;
    if (s->poisoned) return RBX_E_STATE;
    if (ptlen > RBX_MAX_PLAINTEXT) return RBX_E_TOO_BIG;
    /* DR spec 3.3: the responder has no sending chain until it receives. */
    if (!(s->st.flags & RBX_HAS_CKS)) return RBX_E_STATE;
    if (s->st.ns == UINT32_MAX) return RBX_E_LIMIT;

    const rbx__profile *p = profile_of(s);
    uint8_t ck[32], bk[32], mk[32], header[RBX_HEADERBYTES], salt[RBX_SALTBYTES];
    uint8_t ad[64 + RBX_ENC_HEADERBYTES];
    uint8_t prefix[RBX_MSG_PREFIX_MAX], suffix[RBX_MSG_SUFFIX_MAX], pprefix[RBX_PREKEY_PREFIX_MAX];
    size_t adlen, plen, slen, pplen = 0, pslen = 0;
    int v2 = p->version == 2, rc = 0;
    rbx__prekey_msg pm = { 0 };

    /* PROTOCOL.md 7.3 E2: on a copy, committed at E8. */
    memcpy(ck, s->st.cks, 32);
    memcpy(bk, s->st.bks, 32);
    rbx__chain_next(ck, bk, mk, s->st.ns, p);
    header_encode(header, s->st.dhs_pk, s->st.pn, s->st.ns);
    memcpy(ad, s->ad, 64);
    rbx__msg m = { .version = p->version, .ctlen = ptlen + RBX_AEAD_TAGBYTES };
    if (s->header_encryption) {
        header_seal(ad + 64, s->st.hks, header, s->ad);
        m.enc_header = ad + 64;
        adlen = 64 + RBX_ENC_HEADERBYTES;
        /* Version 2's R is the header nonce's first 16 bytes: fresh per message. */
        if (v2) memcpy(salt, m.enc_header, RBX_SALTBYTES);
    } else {
        memcpy(ad + 64, header, RBX_HEADERBYTES);
        m.ratchet_key = s->st.dhs_pk;
        m.counter = s->st.ns;
        m.previous_counter = s->st.pn;
        adlen = 64 + RBX_HEADERBYTES;
        /* PROTOCOL.md 4.5: drawn from the kernel for every message, never
         * from the state, so that a rolled-back sender gets another R. */
        if (v2) {
            randombytes_buf(salt, RBX_SALTBYTES);
            m.salt = salt;
        }
    }
    plen = rbx__msg_prefix(prefix, &m);
    slen = rbx__msg_suffix(suffix, &m);
    if (s->awaiting_reply) {
        pm.version = p->version;
        pm.identity_key = s->ad;
        pm.base_key = s->base_key;
        pm.signed_prekey_id = s->signed_prekey_id;
        pm.has_onetime = s->has_onetime;
        pm.onetime_prekey_id = s->onetime_prekey_id;
        pm.profile = s->profile;
        pm.header_encryption = s->header_encryption;
        pm.messagelen = plen + m.ctlen + slen;
        rbx__attached_to_msg(&pm, &s->att);
        pplen = rbx__prekey_prefix(pprefix, &pm);
        pslen = rbx__prekey_suffix(NULL, &pm);
    }
    size_t total = pplen + plen + m.ctlen + slen + pslen;
    if (outcap < total) {
        rc = RBX_E_BUFFER;
        goto cleanup;
    }
    memcpy(out, pprefix, pplen);
    memcpy(out + pplen, prefix, plen);
    body_encrypt(out + pplen + plen, pt, ptlen, mk, v2 ? salt : NULL, ad, adlen, p);
    memcpy(out + pplen + plen + m.ctlen, suffix, slen);
    if (pslen) (void)rbx__prekey_suffix(out + pplen + plen + m.ctlen + slen, &pm);

    memcpy(s->st.cks, ck, 32);
    memcpy(s->st.bks, bk, 32);
    s->st.ns++;
    *outlen = total;
cleanup:
    WIPE(ck);
    WIPE(bk);
    WIPE(mk);
    WIPE(header);
    return rc;
}

/* ------------------------------------------------------------ decrypt */

/* Skipped keys computed for a decrypt, committed only on success: at most
 * two runs, the previous chain's (pn) then the new or current chain's. */
typedef struct pending {
    rbx__skipped *e;
    size_t n, cap;
} pending;

static void pending_free(pending *pd)
{
    /* Only the entries written hold secrets: a reservation for a forged
     * message is never touched, and wiping it would fault its pages in. */
    if (pd->e != NULL) {
        WIPE_BUF(pd->e, pd->n * sizeof *pd->e);
        free(pd->e);
    }
    memset(pd, 0, sizeof *pd);
}

/* The keys of positions from .. to - 1 of a chain (ck, bk at from), with
 * their chain id and step, appended to pd (room reserved). */
static void derive_skipped(pending *pd, uint8_t ck[32], uint8_t bk[32], uint32_t from,
                           uint32_t to, const uint8_t chain[32], uint32_t step,
                           const rbx__profile *p)
{
    for (uint32_t n = from; n < to; n++) {
        rbx__skipped *k = &pd->e[pd->n++];
        memcpy(k->chain, chain, 32);
        k->n = n;
        k->step = step;
        rbx__chain_next(ck, bk, k->mk, n, p);
    }
}

/* Remember the receiving chain being replaced: its ratchet key, or with
 * header encryption its header key (the only thing that identifies it). */
static void remember_chain(rbx__state *st, int he)
{
    if (!(st->flags & (he ? RBX_HAS_HKR : RBX_HAS_DHR))) return;
    if (st->nrecent == RBX_RECENT_CHAINS) {
        memmove(st->recent[0], st->recent[1], (RBX_RECENT_CHAINS - 1) * 32);
        st->nrecent--;
    }
    memcpy(st->recent[st->nrecent++], he ? st->hkr : st->dhr, 32);
}

/* DR spec 3.5 / 4.6 DHRatchet, receiving half (PROTOCOL.md 7.5 steps 1-4):
 * all a message needs before it can be authenticated. */
static int dh_receive(rbx__state *st, const uint8_t dh[32], const rbx__profile *p, int he)
{
    uint8_t secret[32], c[32];
    int rc;
    remember_chain(st, he);
    st->pn = st->ns;
    st->ns = 0;
    st->nr = 0;
    memcpy(st->hks, st->nhks, 32);
    memcpy(st->hkr, st->nhkr, 32);
    st->flags |= RBX_HAS_HKS | RBX_HAS_HKR;
    memcpy(st->dhr, dh, 32);
    st->flags |= RBX_HAS_DHR;
    if ((rc = rbx__dh(secret, st->dhs_sk, st->dhr)) == 0) {
        rbx__kdf_rk(st->rk, c, st->nhkr, st->rk, secret, p);
        rbx__chain_init(st->ckr, st->bkr, c, p);
        st->flags |= RBX_HAS_CKR;
        st->dh_steps++; /* the caller refused UINT32_MAX */
    }
    WIPE(secret);
    WIPE(c);
    return rc;
}

/* DHRatchet, sending half (7.5 steps 5-6): only for an authenticated message. */
static int dh_send(rbx__state *st, const rbx__profile *p)
{
    uint8_t secret[32], c[32];
    int rc;
    if ((rc = rbx__keypair(st->dhs_pk, st->dhs_sk)) == 0 &&
        (rc = rbx__dh(secret, st->dhs_sk, st->dhr)) == 0) {
        rbx__kdf_rk(st->rk, c, st->nhks, st->rk, secret, p);
        rbx__chain_init(st->cks, st->bks, c, p);
        st->flags |= RBX_HAS_CKS;
    }
    WIPE(secret);
    WIPE(c);
    return rc;
}

static int is_recent(const rbx__state *st, const uint8_t dh[32])
{
    for (uint32_t i = 0; i < st->nrecent; i++)
        if (memcmp(st->recent[i], dh, 32) == 0) return 1;
    return 0;
}

/* With header encryption: does a remembered old header key open it? */
static int is_recent_header(const rbx_session *s, const uint8_t enc[RBX_ENC_HEADERBYTES])
{
    uint8_t h[RBX_HEADERBYTES];
    int found = 0;
    for (uint32_t i = 0; i < s->st.nrecent && !found; i++)
        found = header_open(h, s->st.recent[i], enc, s->ad) == 0;
    WIPE(h);
    return found;
}

/* Skipped-key bookkeeping after a DH step: keys older than
 * RBX_SKIPPED_KEY_MAX_AGE steps expire, and if more than
 * RBX_MAX_RECEIVING_CHAINS chains hold keys the oldest chains are evicted.
 * With apply == 0 only counts what would remain, so that the limit is checked
 * before anything changes. */
#define CHAIN_SLOTS (RBX_MAX_RECEIVING_CHAINS + 3U)

/* Chain ids are header keys with header encryption: secret, so compared in
 * constant time throughout (sodium_memcmp), like every key. The entries of
 * one chain are contiguous (see skipped_header), so the chain of the
 * previous lookup (*last, -1 for none) is tried first: about one comparison
 * per entry instead of one per chain. */
static int chain_index(uint8_t (*chains)[32], size_t *nchains, int *last, const uint8_t c[32])
{
    if (*last >= 0 && sodium_memcmp(chains[*last], c, 32) == 0) return *last;
    for (size_t i = 0; i < *nchains; i++)
        if (sodium_memcmp(chains[i], c, 32) == 0) return *last = (int)i;
    memcpy(chains[*nchains], c, 32);
    return *last = (int)(*nchains)++;
}

/* The new entries of one decrypt: up to two runs (chain, count), and with
 * apply their derived entries (pd, in run order). */
typedef struct runs {
    const uint8_t *chain[2];
    size_t count[2];
    size_t n;
} runs;

static size_t settle_skipped(rbx_session *s, const runs *r, const pending *pd, uint32_t dh_steps,
                             int apply)
{
    uint8_t chains[CHAIN_SLOTS][32];
    size_t nchains = 0, kept = 0, idx[2] = { 0, 0 };
    int last = -1;
    /* Existing entries span at most RBX_MAX_RECEIVING_CHAINS chains and one
     * message adds at most two, so CHAIN_SLOTS always suffices. */
    for (size_t i = 0; i < s->nskipped; i++)
        if (dh_steps - s->skipped[i].step <= RBX_SKIPPED_KEY_MAX_AGE)
            (void)chain_index(chains, &nchains, &last, s->skipped[i].chain);
    for (size_t j = 0; j < r->n; j++) idx[j] = (size_t)chain_index(chains, &nchains, &last, r->chain[j]);
    size_t evict = nchains > RBX_MAX_RECEIVING_CHAINS ? nchains - RBX_MAX_RECEIVING_CHAINS : 0;

    for (size_t i = 0; i < s->nskipped; i++) {
        rbx__skipped *k = &s->skipped[i];
        int keep = dh_steps - k->step <= RBX_SKIPPED_KEY_MAX_AGE &&
                   (size_t)chain_index(chains, &nchains, &last, k->chain) >= evict;
        if (keep) {
            if (apply && kept != i) s->skipped[kept] = *k;
            kept++;
        }
    }
    for (size_t j = 0, off = 0; j < r->n; off += r->count[j], j++) {
        if (idx[j] < evict) continue;
        if (apply) memcpy(&s->skipped[kept], &pd->e[off], r->count[j] * sizeof *pd->e);
        kept += r->count[j];
    }
    if (apply) {
        if (s->nskipped > kept)
            WIPE_BUF(&s->skipped[kept], (s->nskipped - kept) * sizeof *s->skipped);
        s->nskipped = kept;
    }
    WIPE(chains);
    return kept;
}

static int skipped_has_chain(const rbx_session *s, const uint8_t chain[32])
{
    for (size_t i = 0; i < s->nskipped; i++)
        if (sodium_memcmp(s->skipped[i].chain, chain, 32) == 0) return 1;
    return 0;
}

static long skipped_find(const rbx_session *s, const uint8_t chain[32], uint32_t n)
{
    for (size_t i = 0; i < s->nskipped; i++)
        if (s->skipped[i].n == n && sodium_memcmp(s->skipped[i].chain, chain, 32) == 0)
            return (long)i;
    return -1;
}

/* DR spec 4.6: the header key that opens this header among the stored
 * skipped-key chains; distinct keys only, so a forgery costs at most
 * RBX_MAX_RECEIVING_CHAINS header trials. */
static long skipped_header(const rbx_session *s, uint8_t h[RBX_HEADERBYTES],
                           const uint8_t enc[RBX_ENC_HEADERBYTES])
{
    /* Entries of one chain are contiguous (only ever appended a chain at a
     * time; state.c checks it on load), so a new chain starts where the
     * chain differs from the previous entry's. */
    for (size_t i = 0; i < s->nskipped; i++) {
        if (i > 0 && sodium_memcmp(s->skipped[i - 1].chain, s->skipped[i].chain, 32) == 0) continue;
        if (header_open(h, s->skipped[i].chain, enc, s->ad) == 0) return (long)i;
    }
    return -1;
}

/* PROTOCOL.md 7.4 D2-D9 and D-COMMIT: everything but the next message of
 * the current chain, worked out on a copy of the state; any failure leaves s
 * unchanged. Before the body authenticates only what it needs is computed
 * (the receiving half of a DH step and one Jump); the previous chain's
 * skipped keys, the skipped keys themselves and the sending half follow the
 * AEAD, so that a forgery cannot make the receiver do them. */
static int ratchet_step(rbx_session *s, uint8_t *pt, const rbx__msg *m, const uint8_t *salt,
                        const uint8_t *ad, size_t adlen, const uint8_t header[RBX_HEADERBYTES],
                        int dh_step, const rbx__profile *p)
{
    rbx__state w = s->st;
    pending pd = { 0 };
    runs r = { .n = 0 };
    uint8_t mk[32], jck[32], jbk[32], ock[32], obk[32], ochain[32];
    uint32_t pn = rbx__load32_be(header + 32), n = rbx__load32_be(header + 36);
    uint32_t onr = 0, ostep = 0;
    size_t k_old = 0, k_new = 0;
    int he = s->header_encryption, rc;

    if (dh_step) {
        if (pn > w.nr && pn - w.nr > s->max_skip) {
            rc = RBX_E_LIMIT;
            goto out;
        }
        if (w.dh_steps == UINT32_MAX) {
            rc = RBX_E_LIMIT;
            goto out;
        }
        /* The previous chain's state, for its skipped keys after the AEAD. */
        if ((w.flags & RBX_HAS_CKR) && pn > w.nr) {
            k_old = pn - w.nr;
            memcpy(ock, w.ckr, 32);
            memcpy(obk, w.bkr, 32);
            memcpy(ochain, he ? w.hkr : w.dhr, 32);
            onr = w.nr;
            ostep = w.dh_steps;
            r.chain[r.n] = ochain;
            r.count[r.n++] = k_old;
        }
        if ((rc = dh_receive(&w, header, p, he)) != 0) goto out;
    }
    if (n > w.nr && n - w.nr > s->max_skip) {
        rc = RBX_E_LIMIT;
        goto out;
    }
    if (!(w.flags & RBX_HAS_CKR)) {
        rc = RBX_E_AUTH;
        goto out;
    }
    if (n == UINT32_MAX) {
        rc = RBX_E_LIMIT;
        goto out;
    }
    if (n > w.nr) {
        k_new = n - w.nr;
        r.chain[r.n] = he ? w.hkr : w.dhr;
        r.count[r.n++] = k_new;
    }
    /* Limits are decided before the AEAD so that nothing is half-applied. */
    size_t remaining = settle_skipped(s, &r, NULL, w.dh_steps, 0);
    /* A message that does not grow the store is never refused: a session
     * holding more keys than a limit lowered later (store policy) would
     * otherwise refuse every DH step, and its keys could never age out. */
    if (remaining > s->max_skipped && remaining > s->nskipped) {
        rc = RBX_E_LIMIT;
        goto out;
    }
    if ((rc = rbx__session_reserve(s, s->nskipped + k_old + k_new)) != 0) goto out;
    if (k_old + k_new > 0) {
        void *e = NULL;
        if ((rc = rbx__grow(&e, &pd.cap, 0, k_old + k_new, sizeof *pd.e)) != 0) goto out;
        pd.e = e;
    }
    /* D8: the key of position n, by the shortest way there. */
    memcpy(jck, w.ckr, 32);
    memcpy(jbk, w.bkr, 32);
    rbx__chain_jump(jck, jbk, w.nr, n, p);
    rbx__chain_next(jck, jbk, mk, n, p);
    if ((rc = body_decrypt(pt, m->ct, m->ctlen, mk, salt, ad, adlen, p)) != 0) goto out;

    /* D-COMMIT: authenticated. */
    if (k_old) derive_skipped(&pd, ock, obk, onr, pn, ochain, ostep, p);
    if (k_new) derive_skipped(&pd, w.ckr, w.bkr, w.nr, n, he ? w.hkr : w.dhr, w.dh_steps, p);
    memcpy(w.ckr, jck, 32);
    memcpy(w.bkr, jbk, 32);
    w.nr = n + 1;
    if (dh_step && (rc = dh_send(&w, p)) != 0) {
        WIPE_BUF(pt, m->ctlen - RBX_AEAD_TAGBYTES);
        goto out;
    }
    /* DR spec 3.5: commit only now. */
    (void)settle_skipped(s, &r, &pd, w.dh_steps, 1);
    s->st = w;
out:
    WIPE(w);
    WIPE(mk);
    WIPE(jck);
    WIPE(jbk);
    WIPE(ock);
    WIPE(obk);
    WIPE(ochain);
    pending_free(&pd);
    return rc;
}

int rbx__ratchet_decrypt(rbx_session *s, uint8_t *pt, size_t ptcap, size_t *ptlen,
                         const uint8_t *in, size_t len)
{
    const rbx__profile *p = profile_of(s);
    rbx__msg m;
    uint8_t header[RBX_HEADERBYTES], ad[64 + RBX_ENC_HEADERBYTES];
    const uint8_t *salt = NULL;
    size_t adlen;
    int rc;

    if ((rc = rbx__msg_parse(&m, in, len)) != 0) return rc;
    if ((m.enc_header != NULL) != (s->header_encryption != 0)) return RBX_E_MALFORMED;
    /* PROTOCOL.md 7.4 Entry: a session reads its own version only. */
    if (m.version != p->version) return RBX_E_VERSION;
    size_t outlen = m.ctlen - RBX_AEAD_TAGBYTES;
    if (ptcap < outlen) return RBX_E_BUFFER;
    if (p->version == 2) salt = m.enc_header != NULL ? m.enc_header : m.salt;

    memcpy(ad, s->ad, 64);
    int dh_step;
    if (m.enc_header != NULL) {
        memcpy(ad + 64, m.enc_header, RBX_ENC_HEADERBYTES);
        adlen = 64 + RBX_ENC_HEADERBYTES;
        long i = skipped_header(s, header, m.enc_header);
        int current = i >= 0 && (s->st.flags & RBX_HAS_HKR) &&
                      sodium_memcmp(s->skipped[i].chain, s->st.hkr, 32) == 0;
        if (i >= 0) {
            long k = skipped_find(s, s->skipped[i].chain, rbx__load32_be(header + 36));
            /* From here on header holds an opened (secret) header: leave
             * through fail, which wipes it. */
            if (k >= 0) {
                rc = body_decrypt(pt, m.ct, m.ctlen, s->skipped[k].mk, salt, ad, adlen, p);
                if (rc != 0) goto fail;
                rbx__erase(s->skipped, &s->nskipped, (size_t)k, sizeof *s->skipped);
                goto done;
            }
            /* An old chain's header whose key is gone; in the current chain
             * the message may simply be newer than the skipped ones. */
            if (!current) {
                rc = RBX_E_REPLAY;
                goto fail;
            }
            dh_step = 0;
        } else if ((s->st.flags & RBX_HAS_HKR) &&
                   header_open(header, s->st.hkr, m.enc_header, s->ad) == 0)
            dh_step = 0;
        else if (header_open(header, s->st.nhkr, m.enc_header, s->ad) == 0)
            dh_step = 1;
        else
            return is_recent_header(s, m.enc_header) ? RBX_E_REPLAY : RBX_E_AUTH;
    } else {
        header_encode(header, m.ratchet_key, m.previous_counter, m.counter);
        memcpy(ad + 64, header, RBX_HEADERBYTES);
        adlen = 64 + RBX_HEADERBYTES;
        long k = skipped_find(s, m.ratchet_key, m.counter);
        if (k >= 0) {
            if ((rc = body_decrypt(pt, m.ct, m.ctlen, s->skipped[k].mk, salt, ad, adlen, p)) != 0)
                return rc;
            rbx__erase(s->skipped, &s->nskipped, (size_t)k, sizeof *s->skipped);
            goto done;
        }
        dh_step = !((s->st.flags & RBX_HAS_DHR) && memcmp(m.ratchet_key, s->st.dhr, 32) == 0);
        /* A new chain needs a ratchet key never seen before: an old one
         * (remembered, or still filing skipped keys) is a replay, and would
         * split that chain's skipped keys in two. */
        if (dh_step && (is_recent(&s->st, m.ratchet_key) || skipped_has_chain(s, m.ratchet_key)))
            return RBX_E_REPLAY;
    }

    uint32_t n = rbx__load32_be(header + 36);
    if (!dh_step && n < s->st.nr) {
        rc = RBX_E_REPLAY;
        goto fail;
    }
    if (!dh_step && n == s->st.nr && (s->st.flags & RBX_HAS_CKR) && n != UINT32_MAX) {
        /* The common case, the next message of the current chain: only the
         * receiving chain and Nr change, so no copy of the whole state. */
        uint8_t ck[32], bk[32], mk[32];
        memcpy(ck, s->st.ckr, 32);
        memcpy(bk, s->st.bkr, 32);
        rbx__chain_next(ck, bk, mk, n, p);
        rc = body_decrypt(pt, m.ct, m.ctlen, mk, salt, ad, adlen, p);
        if (rc == 0) {
            memcpy(s->st.ckr, ck, 32);
            memcpy(s->st.bkr, bk, 32);
            s->st.nr++;
        }
        WIPE(ck);
        WIPE(bk);
        WIPE(mk);
        if (rc != 0) goto fail;
    } else if ((rc = ratchet_step(s, pt, &m, salt, ad, adlen, header, dh_step, p)) != 0) {
        goto fail;
    }
done:
    s->awaiting_reply = 0;
    /* PROTOCOL.md 6.4: the attachment travels until the first reply. */
    if (s->att.n != 0) WIPE(s->att);
    *ptlen = outlen;
    rc = 0;
fail:
    WIPE(header);
    return rc;
}

int rbx_session_decrypt(rbx_session *s, uint8_t *pt, size_t ptcap, size_t *ptlen,
                        const uint8_t *in, size_t len)
{
    *ptlen = 0;
    if (s->poisoned) return RBX_E_STATE;
    int rc = rbx__ratchet_decrypt(s, pt, ptcap, ptlen, in, len);
    /* Told apart as rbx_message_prekey_info does (PROTOCOL.md 9.3): above
     * RBX_MAX_WIRE only a PreKeyMessage with attached records fits. */
    if (rc != RBX_E_MALFORMED && !(rc == RBX_E_TOO_BIG && len > RBX_MAX_WIRE)) return rc;
    /* Not a Message: maybe one more of the initiator's PreKeyMessages. */
    rbx__prekey_msg pm;
    /* Its own error (RBX_E_VERSION for a PreKeyMessage of a version this
     * build does not take, RBX_E_TOO_BIG above its caps), as
     * rbx_message_prekey_info gives it (PROTOCOL.md 7.4 Entry, 9.3). */
    if ((rc = rbx__prekey_parse(&pm, in, len)) != 0) return rc;
    /* Another base key is another session: rbx_session_accept's business. */
    if (s->initiator || sodium_memcmp(pm.base_key, s->base_key, 32) != 0) return RBX_E_STATE;
    /* The handshake fields were authenticated when the session was accepted;
     * a copy that differs in any of them has been tampered with. */
    if (sodium_memcmp(pm.identity_key, s->ad, 32) != 0 ||
        pm.signed_prekey_id != s->signed_prekey_id || pm.has_onetime != s->has_onetime ||
        (pm.has_onetime && pm.onetime_prekey_id != s->onetime_prekey_id) ||
        pm.profile != s->profile || pm.header_encryption != s->header_encryption)
        return RBX_E_AUTH;
    return rbx__ratchet_decrypt(s, pt, ptcap, ptlen, pm.message, pm.messagelen);
}

/* ------------------------------------------------------------ init */

int rbx__ratchet_init_alice(rbx_session *s, const uint8_t sk96[RBX_KDF_OUTBYTES],
                            const uint8_t bob_spk[32])
{
    /* DR spec 3.3 / 4.4 RatchetInitAliceHE. */
    rbx__state *st = &s->st;
    uint8_t secret[32], c[32];
    int rc;
    memcpy(st->dhr, bob_spk, 32);
    if ((rc = rbx__keypair(st->dhs_pk, st->dhs_sk)) != 0) return rc;
    if ((rc = rbx__dh(secret, st->dhs_sk, st->dhr)) != 0) return rc;
    rbx__kdf_rk(st->rk, c, st->nhks, sk96, secret, profile_of(s));
    rbx__chain_init(st->cks, st->bks, c, profile_of(s));
    memcpy(st->hks, sk96 + 32, 32);
    memcpy(st->nhkr, sk96 + 64, 32);
    st->flags = RBX_HAS_DHR | RBX_HAS_CKS | RBX_HAS_HKS;
    WIPE(secret);
    WIPE(c);
    return 0;
}

void rbx__ratchet_init_bob(rbx_session *s, const uint8_t sk96[RBX_KDF_OUTBYTES],
                           const uint8_t spk_pk[32], const uint8_t spk_sk[32])
{
    /* DR spec 3.3 / 4.4 RatchetInitBobHE. */
    rbx__state *st = &s->st;
    memcpy(st->dhs_pk, spk_pk, 32);
    memcpy(st->dhs_sk, spk_sk, 32);
    memcpy(st->rk, sk96, 32);
    memcpy(st->nhks, sk96 + 64, 32);
    memcpy(st->nhkr, sk96 + 32, 32);
    st->flags = 0;
}

void rbx_session_get_info(rbx_session_info *info, const rbx_session *s)
{
    memset(info, 0, sizeof *info);
    memcpy(info->own_identity, s->initiator ? s->ad : s->ad + 32, 32);
    memcpy(info->peer_identity, s->initiator ? s->ad + 32 : s->ad, 32);
    info->initiator = s->initiator;
    info->header_encryption = s->header_encryption;
    info->profile = s->profile;
    info->awaiting_reply = s->awaiting_reply;
    info->send_count = s->st.ns;
    info->recv_count = s->st.nr;
    info->prev_send_count = s->st.pn;
    info->dh_steps = s->st.dh_steps;
    info->skipped_keys = s->nskipped;
    uint8_t chains[CHAIN_SLOTS][32];
    size_t nchains = 0;
    int last = -1;
    for (size_t i = 0; i < s->nskipped && nchains < CHAIN_SLOTS; i++)
        (void)chain_index(chains, &nchains, &last, s->skipped[i].chain);
    info->skipped_chains = nchains;
    /* Header keys with header encryption. */
    WIPE(chains);
}
