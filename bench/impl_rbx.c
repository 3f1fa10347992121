/* SPDX-License-Identifier: MIT
 * ratchetbox's own rows of the comparison bench: today's box envelope
 * (baseline-box, -afternm, -seal), the ratchet in memory (with and without
 * header encryption) and the SQLite store in each mode. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "ratchetbox.h"
#include "store.h" /* rbx__store_load_session: state size of a stored session */

#define NONCE_B64LEN (RBX_NONCE_B64BYTES - 1U)
#define FIRST_PT 64U
#define SPK_ID 1U
#define OTP_ID 7U

/* ------------------------------------------------------------ baselines */

/* Wire of the baselines: the content_encrypted string then the 32-character
 * encryption_nonce string (the product sends both as JSON strings). */
typedef struct box_pair {
    uint8_t apk[RBX_PUBLICKEYBYTES], ask[RBX_SECRETKEYBYTES];
    uint8_t bpk[RBX_PUBLICKEYBYTES], bsk[RBX_SECRETKEYBYTES];
    uint8_t k[RBX_BASELINE_KEYBYTES];
    int afternm, seal;
    uint8_t *tmp; /* seal: raw sealed box before base64 */
} box_pair;

static void *box_open_common(int afternm, int seal)
{
    box_pair *p = cmp_xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    CMP_CHECK(rbx_keypair_generate(p->apk, p->ask) == 0);
    CMP_CHECK(rbx_keypair_generate(p->bpk, p->bsk) == 0);
    p->afternm = afternm;
    p->seal = seal;
    if (seal) p->tmp = cmp_xmalloc(CMP_WIRE_CAP);
    return p;
}
static void *box_open(const char *dir, unsigned idx) { (void)dir; (void)idx; return box_open_common(0, 0); }
static void *afternm_open(const char *dir, unsigned idx) { (void)dir; (void)idx; return box_open_common(1, 0); }
static void *seal_open(const char *dir, unsigned idx) { (void)dir; (void)idx; return box_open_common(0, 1); }

static int box_enc(void *vp, int from_b, const uint8_t *pt, size_t len, uint8_t *wire,
                   size_t cap, size_t *wlen)
{
    box_pair *p = vp;
    char *content = (char *)wire;
    char nonce[RBX_NONCE_B64BYTES];
    const uint8_t *peer = from_b ? p->apk : p->bpk, *my = from_b ? p->bsk : p->ask;
    int rc;
    *wlen = 0;
    if (p->seal) {
        /* crypto_box_seal: an ephemeral key pair and one X25519 per message
         * on the sender, one X25519 on the receiver; no sender key. */
        size_t clen = len + crypto_box_SEALBYTES;
        if (sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_ORIGINAL) > cap) return -1;
        if (crypto_box_seal(p->tmp, pt, len, peer) != 0) return -1;
        sodium_bin2base64(content, cap, p->tmp, clen, sodium_base64_VARIANT_ORIGINAL);
        *wlen = strlen(content);
        return 0;
    }
    if (RBX_BASELINE_B64LEN(len) + NONCE_B64LEN > cap) return -1;
    if (p->afternm)
        rc = rbx_baseline_seal_afternm(content, cap - NONCE_B64LEN, nonce, pt, len, p->k);
    else
        rc = rbx_baseline_seal(content, cap - NONCE_B64LEN, nonce, pt, len, peer, my);
    if (rc != 0) return rc;
    size_t cl = strlen(content);
    memcpy(wire + cl, nonce, NONCE_B64LEN);
    *wlen = cl + NONCE_B64LEN;
    return 0;
}

static int box_dec(void *vp, int to_a, const uint8_t *wire, size_t wlen, uint8_t *pt, size_t cap,
                   size_t *plen)
{
    box_pair *p = vp;
    const uint8_t *peer = to_a ? p->bpk : p->apk, *my = to_a ? p->ask : p->bsk;
    const uint8_t *mypk = to_a ? p->apk : p->bpk;
    *plen = 0;
    if (p->seal) {
        size_t blen;
        if (sodium_base642bin(p->tmp, CMP_WIRE_CAP, (const char *)wire, wlen, NULL, &blen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            return -1;
        if (blen < crypto_box_SEALBYTES || blen - crypto_box_SEALBYTES > cap) return -1;
        if (crypto_box_seal_open(pt, p->tmp, blen, mypk, my) != 0) return -1;
        *plen = blen - crypto_box_SEALBYTES;
        return 0;
    }
    if (wlen < NONCE_B64LEN) return -1;
    const char *content = (const char *)wire, *nonce = content + wlen - NONCE_B64LEN;
    if (p->afternm)
        return rbx_baseline_open_afternm(pt, cap, plen, content, wlen - NONCE_B64LEN, nonce,
                                         NONCE_B64LEN, p->k);
    return rbx_baseline_open(pt, cap, plen, content, wlen - NONCE_B64LEN, nonce, NONCE_B64LEN,
                             peer, my);
}

/* No handshake: the "setup" of a baseline is its first message (afternm:
 * both sides' crypto_box_beforenm first). */
static int box_setup(void *vp, uint8_t *first, size_t cap, size_t *first_len)
{
    box_pair *p = vp;
    uint8_t pt[FIRST_PT], out[FIRST_PT];
    uint8_t wire[512];
    size_t wlen, plen;
    uint8_t kb[RBX_BASELINE_KEYBYTES];
    memset(pt, 's', sizeof pt);
    if (p->afternm) {
        if (rbx_baseline_precompute(p->k, p->bpk, p->ask) != 0) return -1;
        if (rbx_baseline_precompute(kb, p->apk, p->bsk) != 0) return -1;
        if (sodium_memcmp(kb, p->k, sizeof kb) != 0) return -1;
    }
    if (box_enc(p, 0, pt, sizeof pt, wire, sizeof wire, &wlen) != 0) return -1;
    if (box_dec(p, 0, wire, wlen, out, sizeof out, &plen) != 0) return -1;
    if (plen != sizeof pt || memcmp(out, pt, plen) != 0) return -1;
    return cmp_first_copy(first, cap, first_len, wire, wlen);
}

static size_t box_state(void *p) { (void)p; return 0; }

static void box_close(void *vp)
{
    box_pair *p = vp;
    free(p->tmp);
    sodium_memzero(p, sizeof *p);
    free(p);
}

const cmp_impl impl_box = { "baseline-box", "crypto", 0, 1, CMP_WIRE_BOX, box_open, box_setup,
                            box_enc, box_dec, box_state, box_close, NULL, NULL };
const cmp_impl impl_afternm = { "baseline-afternm", "crypto", 0, 1, CMP_WIRE_BOX, afternm_open,
                                box_setup, box_enc, box_dec, box_state, box_close, NULL, NULL };
const cmp_impl impl_seal = { "baseline-seal", "crypto", 0, 1, CMP_WIRE_BASE64, seal_open,
                             box_setup, box_enc, box_dec, box_state, box_close, NULL, NULL };

/* ------------------------------------------------------------ ratchet in memory */

typedef struct mem_pair {
    uint8_t apk[RBX_PUBLICKEYBYTES], ask[RBX_SECRETKEYBYTES];
    uint8_t bpk[RBX_PUBLICKEYBYTES], bsk[RBX_SECRETKEYBYTES];
    rbx_prekeys *pre;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    rbx_session_opts opts;
    rbx_session *a, *b;
} mem_pair;

static void *mem_open_common(int he, unsigned profile)
{
    mem_pair *p = cmp_xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    CMP_CHECK(rbx_keypair_generate(p->apk, p->ask) == 0);
    CMP_CHECK(rbx_keypair_generate(p->bpk, p->bsk) == 0);
    CMP_CHECK(rbx_prekeys_new(&p->pre, p->bpk, p->bsk) == 0);
    CMP_CHECK(rbx_prekeys_add_signed(p->pre, SPK_ID, NULL) == 0);
    CMP_CHECK(rbx_prekeys_add_onetime(p->pre, OTP_ID, NULL) == 0);
    CMP_CHECK(rbx_prekeys_bundle(p->bundle, sizeof p->bundle, &p->blen, p->pre, SPK_ID, OTP_ID) ==
              0);
    p->opts.profile = profile;
    p->opts.header_encryption = he;
    return p;
}
static void *mem_open(const char *dir, unsigned idx)
{
    (void)dir, (void)idx;
    return mem_open_common(0, RBX_PROFILE_DEFAULT);
}
static void *mem_open_he(const char *dir, unsigned idx)
{
    (void)dir, (void)idx;
    return mem_open_common(1, RBX_PROFILE_DEFAULT);
}
/* A version-1 session (profile 0, hmac): what every session made before
 * version 2 still runs. */
static void *mem_open_v1(const char *dir, unsigned idx)
{
    (void)dir, (void)idx;
    return mem_open_common(0, RBX_PROFILE_HMAC);
}

static int mem_enc(void *vp, int from_b, const uint8_t *pt, size_t len, uint8_t *wire,
                   size_t cap, size_t *wlen)
{
    mem_pair *p = vp;
    return rbx_session_encrypt(from_b ? p->b : p->a, wire, cap, wlen, pt, len);
}

static int mem_dec(void *vp, int to_a, const uint8_t *wire, size_t wlen, uint8_t *pt, size_t cap,
                   size_t *plen)
{
    mem_pair *p = vp;
    return rbx_session_decrypt(to_a ? p->a : p->b, pt, cap, plen, wire, wlen);
}

/* X3DH as an initiator and responder do it: bundle parse (XEdDSA verify),
 * initiate, first encrypt, accept (consumes the one-time prekey). */
static int mem_setup(void *vp, uint8_t *first, size_t cap, size_t *first_len)
{
    mem_pair *p = vp;
    rbx_bundle b;
    uint8_t pt[FIRST_PT], out[FIRST_PT + 512], wire[512];
    size_t wlen, plen;
    uint32_t consumed;
    memset(pt, 's', sizeof pt);
    if (rbx_bundle_parse(&b, p->bundle, p->blen) != 0) return -1;
    if (rbx_session_initiate(&p->a, p->apk, p->ask, &b, &p->opts) != 0) return -1;
    if (rbx_session_encrypt(p->a, wire, sizeof wire, &wlen, pt, sizeof pt) != 0) return -1;
    if (rbx_session_accept(&p->b, out, sizeof out, &plen, &consumed, p->pre, NULL, wire, wlen) !=
        0)
        return -1;
    if (plen != sizeof pt || memcmp(out, pt, plen) != 0 || consumed != OTP_ID) return -1;
    return cmp_first_copy(first, cap, first_len, wire, wlen);
}

static size_t session_blob_size(const rbx_session *s)
{
    size_t n = 0;
    CMP_CHECK(rbx_session_serialize(NULL, 0, &n, s) == 0);
    return n;
}

static size_t mem_state(void *vp) { return session_blob_size(((mem_pair *)vp)->b); }

static void mem_close(void *vp)
{
    mem_pair *p = vp;
    rbx_session_free(p->a);
    rbx_session_free(p->b);
    rbx_prekeys_free(p->pre);
    sodium_memzero(p, sizeof *p);
    free(p);
}

const cmp_impl impl_ratchet = { "ratchet", "crypto", 0, 0, CMP_WIRE_RBX, mem_open, mem_setup,
                                mem_enc, mem_dec, mem_state, mem_close, NULL, NULL };
const cmp_impl impl_ratchet_he = { "ratchet-he", "crypto", 0, 0, CMP_WIRE_RBX, mem_open_he,
                                   mem_setup, mem_enc, mem_dec, mem_state, mem_close, NULL, NULL };
const cmp_impl impl_ratchet_v1 = { "ratchet-v1", "crypto", 0, 0, CMP_WIRE_RBX, mem_open_v1,
                                   mem_setup, mem_enc, mem_dec, mem_state, mem_close, NULL, NULL };

/* ------------------------------------------------------------ ratchet with the store */

/* Two stores, each in its own SQLite database on the bench disk. The outbox
 * and inbox entries are not acknowledged (an ack would be one more commit
 * per message; the product acks in batches). */
typedef struct st_pair {
    rbx_store *a, *b;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    char a_name[RBX_NAME_MAX]; /* as B's store named A (its fingerprint) */
    uint32_t a_dev;
} st_pair;

static rbx_store *store_create(const char *dir, const char *impl, unsigned idx, const char *who,
                               int mode)
{
    char path[CMP_PATH_CAP];
    rbx_store *st;
    rbx_store_opts o;
    memset(&o, 0, sizeof o);
    o.create = 1;
    o.mode = mode;
    cmp_path(path, dir, impl, idx, who);
    CMP_CHECK(rbx_store_open(&st, path, &o) == 0);
    CMP_CHECK(rbx_store_identity_create(st, NULL, NULL) == 0);
    return st;
}

static void *st_open_mode(const char *dir, unsigned idx, int mode, const char *name)
{
    st_pair *p = cmp_xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->a = store_create(dir, name, idx, "a", mode);
    p->b = store_create(dir, name, idx, "b", mode);
    CMP_CHECK(rbx_store_bundle(p->b, p->bundle, sizeof p->bundle, &p->blen, 10) == 0);
    return p;
}
static void *st_open_bounded(const char *dir, unsigned idx)
{
    return st_open_mode(dir, idx, RBX_STORE_BOUNDED, "ratchet-sqlite-bounded");
}
static void *st_open_strict(const char *dir, unsigned idx)
{
    return st_open_mode(dir, idx, RBX_STORE_STRICT, "ratchet-sqlite-strict");
}

static int st_enc(void *vp, int from_b, const uint8_t *pt, size_t len, uint8_t *wire, size_t cap,
                  size_t *wlen)
{
    st_pair *p = vp;
    uint64_t id;
    if (from_b)
        return rbx_store_encrypt(p->b, wire, cap, wlen, &id, p->a_name, p->a_dev, pt, len, NULL);
    return rbx_store_encrypt(p->a, wire, cap, wlen, &id, "b", 1, pt, len, NULL);
}

static int st_dec(void *vp, int to_a, const uint8_t *wire, size_t wlen, uint8_t *pt, size_t cap,
                  size_t *plen)
{
    st_pair *p = vp;
    rbx_received info;
    int rc;
    if (to_a)
        rc = rbx_store_decrypt(p->a, pt, cap, plen, &info, "b", 1, wire, wlen);
    else
        rc = rbx_store_decrypt(p->b, pt, cap, plen, &info, p->a_name, p->a_dev, wire, wlen);
    if (rc == 0 && info.redelivered) return -1; /* every case sends fresh messages */
    return rc;
}

/* add_contact (bundle verify, pin) + first encrypt + first decrypt of a new
 * contact, each committed. */
static int st_setup(void *vp, uint8_t *first, size_t cap, size_t *first_len)
{
    st_pair *p = vp;
    uint8_t pt[FIRST_PT], out[FIRST_PT + 512], wire[512];
    size_t wlen, plen;
    uint64_t id;
    rbx_received info;
    memset(pt, 's', sizeof pt);
    if (rbx_store_add_contact(p->a, "b", 1, p->bundle, p->blen) != 0) return -1;
    if (rbx_store_encrypt(p->a, wire, sizeof wire, &wlen, &id, "b", 1, pt, sizeof pt, NULL) != 0)
        return -1;
    if (rbx_store_decrypt(p->b, out, sizeof out, &plen, &info, NULL, 0, wire, wlen) != 0)
        return -1;
    if (plen != sizeof pt || memcmp(out, pt, plen) != 0 || !info.new_contact) return -1;
    memcpy(p->a_name, info.name, sizeof p->a_name);
    p->a_dev = info.device;
    return cmp_first_copy(first, cap, first_len, wire, wlen);
}

static size_t st_state(void *vp)
{
    st_pair *p = vp;
    rbx_session *s;
    CMP_CHECK(rbx__store_load_session(p->b, &s, p->a_name, p->a_dev) == 0);
    size_t n = session_blob_size(s);
    rbx_session_free(s);
    return n;
}

static void st_close(void *vp)
{
    st_pair *p = vp;
    rbx_store_close(p->a);
    rbx_store_close(p->b);
    free(p);
}

/* rbx_store_encrypt_batch, 100 messages per transaction: only to prepare
 * the reversed-delivery case quickly (1,000 strict commits take 1.5 s). */
#define MANY_CHUNK 100U
static int st_enc_many(void *vp, const uint8_t *pts, size_t len, unsigned n, uint8_t *wires,
                       size_t slot, size_t *wlens)
{
    st_pair *p = vp;
    const uint8_t *ptv[MANY_CHUNK];
    size_t lens[MANY_CHUNK], offs[MANY_CHUNK], outl[MANY_CHUNK];
    uint64_t ids[MANY_CHUNK];
    size_t cap = MANY_CHUNK * slot;
    uint8_t *out = cmp_xmalloc(cap);
    int rc = 0;
    for (unsigned done = 0; done < n && rc == 0;) {
        unsigned k = n - done < MANY_CHUNK ? n - done : MANY_CHUNK;
        for (unsigned j = 0; j < k; j++) {
            ptv[j] = pts + (size_t)(done + j) * len;
            lens[j] = len;
        }
        rc = rbx_store_encrypt_batch(p->a, out, cap, offs, outl, ids, "b", 1, ptv, lens, k, NULL);
        for (unsigned j = 0; rc == 0 && j < k; j++) {
            if (outl[j] > slot) rc = -1;
            else {
                memcpy(wires + (size_t)(done + j) * slot, out + offs[j], outl[j]);
                wlens[done + j] = outl[j];
            }
        }
        done += k;
    }
    free(out);
    return rc;
}

const cmp_impl impl_ratchet_bounded = { "ratchet-sqlite-bounded", "durable", 0, 0, CMP_WIRE_RBX,
                                        st_open_bounded, st_setup, st_enc, st_dec, st_state,
                                        st_close, st_enc_many, NULL };
const cmp_impl impl_ratchet_strict = { "ratchet-sqlite-strict", "durable", 0, 0, CMP_WIRE_RBX,
                                       st_open_strict, st_setup, st_enc, st_dec, st_state,
                                       st_close, st_enc_many, NULL };
