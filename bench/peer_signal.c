/* SPDX-License-Identifier: MIT
 * libsignal-protocol-c 2.3.3 (Debian) as a peer of the comparison bench.
 * libsignal-protocol-c is GPLv3: only the bench program links it, never the
 * library or rbx, which are MIT.
 *
 * Its best honest configuration: a crypto provider on OpenSSL 3 that fetches
 * every algorithm object once (EVP_MAC "HMAC" with SHA-256 set on a template
 * context, EVP_MD SHA-512, EVP_CIPHER AES-CBC/CTR) and reuses contexts: HMAC
 * contexts come from a free list and are re-keyed with EVP_MAC_init, one
 * cipher context serves every AES call. Stores are the simplest possible:
 * each party talks to one peer, so a session store is one record (in memory,
 * or one row of a SQLite database with the durability of ratchetbox's
 * bounded store: WAL, synchronous=FULL, one transaction per saved record).
 * Prekey, signed prekey and identity stores are in memory in both variants.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <signal_protocol.h>
#include <key_helper.h>
#include <protocol.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <session_pre_key.h>
#include <curve.h>
#include <ratchet.h>

#include "compare.h"

#define FIRST_PT 64U
#define HMAC_POOL 16U
#define SPK_ID 1U
#define PK_START 7U

/* ------------------------------------------------------------ crypto provider */

typedef struct ossl {
    EVP_MAC *mac;
    EVP_MAC_CTX *hmac_tmpl;           /* digest already set: dup'ed into the pool */
    EVP_MAC_CTX *pool[HMAC_POOL];
    unsigned npool;
    EVP_MD *sha512;
    EVP_CIPHER *cbc[3], *ctr[3];      /* AES-128, -192, -256 */
    EVP_CIPHER_CTX *cctx;
} ossl;

static ossl g_ossl;
static signal_context *g_ctx;

static int p_random(uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    randombytes_buf(data, len);
    return 0;
}

static int p_hmac_init(void **hctx, const uint8_t *key, size_t key_len, void *ud)
{
    ossl *o = ud;
    EVP_MAC_CTX *c = o->npool > 0 ? o->pool[--o->npool] : EVP_MAC_CTX_dup(o->hmac_tmpl);
    if (c == NULL) return SG_ERR_NOMEM;
    if (EVP_MAC_init(c, key, key_len, NULL) != 1) {
        EVP_MAC_CTX_free(c);
        return SG_ERR_UNKNOWN;
    }
    *hctx = c;
    return 0;
}

static int p_hmac_update(void *hctx, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    return EVP_MAC_update(hctx, data, len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int p_hmac_final(void *hctx, signal_buffer **out, void *ud)
{
    uint8_t md[32];
    size_t n = 0;
    (void)ud;
    if (EVP_MAC_final(hctx, md, &n, sizeof md) != 1) return SG_ERR_UNKNOWN;
    *out = signal_buffer_create(md, n);
    return *out == NULL ? SG_ERR_NOMEM : 0;
}

static void p_hmac_cleanup(void *hctx, void *ud)
{
    ossl *o = ud;
    if (hctx == NULL) return;
    if (o->npool < HMAC_POOL)
        o->pool[o->npool++] = hctx;
    else
        EVP_MAC_CTX_free(hctx);
}

static int p_sha512_init(void **dctx, void *ud)
{
    ossl *o = ud;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL) return SG_ERR_NOMEM;
    if (EVP_DigestInit_ex2(c, o->sha512, NULL) != 1) {
        EVP_MD_CTX_free(c);
        return SG_ERR_UNKNOWN;
    }
    *dctx = c;
    return 0;
}

static int p_sha512_update(void *dctx, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    return EVP_DigestUpdate(dctx, data, len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int p_sha512_final(void *dctx, signal_buffer **out, void *ud)
{
    ossl *o = ud;
    uint8_t md[64];
    unsigned n = 0;
    if (EVP_DigestFinal_ex(dctx, md, &n) != 1) return SG_ERR_UNKNOWN;
    if (EVP_DigestInit_ex2(dctx, o->sha512, NULL) != 1) return SG_ERR_UNKNOWN; /* reusable */
    *out = signal_buffer_create(md, n);
    return *out == NULL ? SG_ERR_NOMEM : 0;
}

static void p_sha512_cleanup(void *dctx, void *ud)
{
    (void)ud;
    EVP_MD_CTX_free(dctx);
}

static const EVP_CIPHER *pick(const ossl *o, int cipher, size_t key_len)
{
    int i = key_len == 16 ? 0 : key_len == 24 ? 1 : key_len == 32 ? 2 : -1;
    if (i < 0) return NULL;
    if (cipher == SG_CIPHER_AES_CBC_PKCS5) return o->cbc[i];
    if (cipher == SG_CIPHER_AES_CTR_NOPADDING) return o->ctr[i];
    return NULL;
}

static int p_crypt(signal_buffer **out, int cipher, const uint8_t *key, size_t key_len,
                   const uint8_t *iv, size_t iv_len, const uint8_t *in, size_t in_len, void *ud,
                   int enc)
{
    ossl *o = ud;
    const EVP_CIPHER *c = pick(o, cipher, key_len);
    if (c == NULL || iv_len != 16 || in_len > (size_t)INT32_MAX - 32) return SG_ERR_UNKNOWN;
    signal_buffer *b = signal_buffer_alloc(in_len + 16);
    if (b == NULL) return SG_ERR_NOMEM;
    uint8_t *d = signal_buffer_data(b);
    int n1 = 0, n2 = 0;
    if (EVP_CipherInit_ex2(o->cctx, c, key, iv, enc, NULL) != 1 ||
        EVP_CipherUpdate(o->cctx, d, &n1, in, (int)in_len) != 1 ||
        EVP_CipherFinal_ex(o->cctx, d + n1, &n2) != 1) {
        signal_buffer_bzero_free(b);
        return SG_ERR_UNKNOWN;
    }
    signal_buffer *r = signal_buffer_create(d, (size_t)(n1 + n2));
    signal_buffer_bzero_free(b);
    if (r == NULL) return SG_ERR_NOMEM;
    *out = r;
    return 0;
}

static int p_encrypt(signal_buffer **out, int cipher, const uint8_t *key, size_t key_len,
                     const uint8_t *iv, size_t iv_len, const uint8_t *pt, size_t pt_len, void *ud)
{
    return p_crypt(out, cipher, key, key_len, iv, iv_len, pt, pt_len, ud, 1);
}

static int p_decrypt(signal_buffer **out, int cipher, const uint8_t *key, size_t key_len,
                     const uint8_t *iv, size_t iv_len, const uint8_t *ct, size_t ct_len, void *ud)
{
    return p_crypt(out, cipher, key, key_len, iv, iv_len, ct, ct_len, ud, 0);
}

static void global_init(void)
{
    static const char *cbc[3] = { "AES-128-CBC", "AES-192-CBC", "AES-256-CBC" };
    static const char *ctr[3] = { "AES-128-CTR", "AES-192-CTR", "AES-256-CTR" };
    ossl *o = &g_ossl;
    if (g_ctx != NULL) return;
    CMP_CHECK((o->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) != NULL);
    CMP_CHECK((o->hmac_tmpl = EVP_MAC_CTX_new(o->mac)) != NULL);
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    CMP_CHECK(EVP_MAC_CTX_set_params(o->hmac_tmpl, params) == 1);
    CMP_CHECK((o->sha512 = EVP_MD_fetch(NULL, "SHA512", NULL)) != NULL);
    for (int i = 0; i < 3; i++) {
        CMP_CHECK((o->cbc[i] = EVP_CIPHER_fetch(NULL, cbc[i], NULL)) != NULL);
        CMP_CHECK((o->ctr[i] = EVP_CIPHER_fetch(NULL, ctr[i], NULL)) != NULL);
    }
    CMP_CHECK((o->cctx = EVP_CIPHER_CTX_new()) != NULL);

    signal_crypto_provider p;
    memset(&p, 0, sizeof p);
    p.random_func = p_random;
    p.hmac_sha256_init_func = p_hmac_init;
    p.hmac_sha256_update_func = p_hmac_update;
    p.hmac_sha256_final_func = p_hmac_final;
    p.hmac_sha256_cleanup_func = p_hmac_cleanup;
    p.sha512_digest_init_func = p_sha512_init;
    p.sha512_digest_update_func = p_sha512_update;
    p.sha512_digest_final_func = p_sha512_final;
    p.sha512_digest_cleanup_func = p_sha512_cleanup;
    p.encrypt_func = p_encrypt;
    p.decrypt_func = p_decrypt;
    p.user_data = o;
    CMP_CHECK(signal_context_create(&g_ctx, NULL) == 0);
    CMP_CHECK(signal_context_set_crypto_provider(g_ctx, &p) == 0);
}

/* ------------------------------------------------------------ stores */

/* A prekey or signed prekey store that holds one record: each party makes
 * one of each per bundle. */
typedef struct key_slot {
    uint32_t id;
    signal_buffer *rec;
} key_slot;

typedef struct party {
    signal_protocol_store_context *store;
    ratchet_identity_key_pair *id;
    uint32_t reg_id;
    signal_buffer *session;       /* in memory; durable variant: a marker that the row exists */
    cmp_db *db;                   /* durable variant: the session row lives here */
    key_slot pk, spk;
    signal_buffer *peer_identity;
} party;

static int s_load(signal_buffer **record, signal_buffer **user_record,
                  const signal_protocol_address *addr, void *ud)
{
    party *p = ud;
    (void)user_record;
    (void)addr;
    if (p->db != NULL) {
        uint8_t *blob;
        size_t len;
        int rc = cmp_db_get(p->db, 1, &blob, &len);
        if (rc <= 0) return rc < 0 ? SG_ERR_UNKNOWN : 0;
        *record = signal_buffer_create(blob, len);
        sodium_memzero(blob, len);
        free(blob);
        return *record == NULL ? SG_ERR_NOMEM : 1;
    }
    if (p->session == NULL) return 0;
    *record = signal_buffer_copy(p->session);
    return *record == NULL ? SG_ERR_NOMEM : 1;
}

static int s_subdevices(signal_int_list **sessions, const char *name, size_t name_len, void *ud)
{
    (void)name;
    (void)name_len;
    (void)ud;
    *sessions = signal_int_list_alloc();
    return *sessions == NULL ? SG_ERR_NOMEM : 0;
}

static int s_store(const signal_protocol_address *addr, uint8_t *record, size_t len,
                   uint8_t *user_record, size_t ulen, void *ud)
{
    party *p = ud;
    (void)addr;
    (void)user_record;
    (void)ulen;
    if (p->db != NULL) {
        if (cmp_db_put(p->db, 1, record, len) != 0) return SG_ERR_UNKNOWN;
        if (p->session == NULL) p->session = signal_buffer_alloc(1); /* "exists" marker */
        return 0;
    }
    signal_buffer *b = signal_buffer_create(record, len);
    if (b == NULL) return SG_ERR_NOMEM;
    signal_buffer_bzero_free(p->session);
    p->session = b;
    return 0;
}

/* Asked before every decrypt: the durable variant answers from its marker
 * rather than reading (and copying) the row that s_load reads right after. */
static int s_contains(const signal_protocol_address *addr, void *ud)
{
    party *p = ud;
    (void)addr;
    return p->session != NULL;
}

static int s_delete(const signal_protocol_address *addr, void *ud)
{
    party *p = ud;
    (void)addr;
    int had = p->session != NULL;
    signal_buffer_bzero_free(p->session);
    p->session = NULL;
    return had;
}

static int s_delete_all(const char *name, size_t name_len, void *ud)
{
    (void)name;
    (void)name_len;
    return s_delete(NULL, ud);
}

static int slot_load(signal_buffer **record, uint32_t id, void *ud)
{
    key_slot *k = ud;
    if (k->rec == NULL || id != k->id) return SG_ERR_INVALID_KEY_ID;
    *record = signal_buffer_copy(k->rec);
    return *record == NULL ? SG_ERR_NOMEM : SG_SUCCESS;
}

static int slot_store(uint32_t id, uint8_t *record, size_t len, void *ud)
{
    key_slot *k = ud;
    signal_buffer_bzero_free(k->rec);
    k->rec = signal_buffer_create(record, len);
    k->id = id;
    return k->rec == NULL ? SG_ERR_NOMEM : 0;
}

static int slot_contains(uint32_t id, void *ud)
{
    key_slot *k = ud;
    return k->rec != NULL && id == k->id;
}

static int slot_remove(uint32_t id, void *ud)
{
    key_slot *k = ud;
    if (slot_contains(id, k)) {
        signal_buffer_bzero_free(k->rec);
        k->rec = NULL;
    }
    return 0;
}

static int i_keypair(signal_buffer **pub, signal_buffer **priv, void *ud)
{
    party *p = ud;
    if (ec_public_key_serialize(pub, ratchet_identity_key_pair_get_public(p->id)) != 0)
        return SG_ERR_UNKNOWN;
    if (ec_private_key_serialize(priv, ratchet_identity_key_pair_get_private(p->id)) != 0) {
        signal_buffer_free(*pub);
        return SG_ERR_UNKNOWN;
    }
    return 0;
}

static int i_regid(void *ud, uint32_t *reg)
{
    *reg = ((party *)ud)->reg_id;
    return 0;
}

static int i_save(const signal_protocol_address *addr, uint8_t *key, size_t len, void *ud)
{
    party *p = ud;
    (void)addr;
    signal_buffer_free(p->peer_identity);
    p->peer_identity = key == NULL ? NULL : signal_buffer_create(key, len);
    return 0;
}

/* Trust on first use, as ratchetbox pins: a changed key would be refused. */
static int i_trusted(const signal_protocol_address *addr, uint8_t *key, size_t len, void *ud)
{
    party *p = ud;
    (void)addr;
    if (p->peer_identity == NULL) return 1;
    return signal_buffer_len(p->peer_identity) == len &&
           memcmp(signal_buffer_data(p->peer_identity), key, len) == 0;
}

static void party_init(party *p, const char *dbpath)
{
    memset(p, 0, sizeof *p);
    CMP_CHECK(signal_protocol_key_helper_generate_identity_key_pair(&p->id, g_ctx) == 0);
    CMP_CHECK(signal_protocol_key_helper_generate_registration_id(&p->reg_id, 0, g_ctx) == 0);
    if (dbpath != NULL) p->db = cmp_db_open(dbpath);
    CMP_CHECK(signal_protocol_store_context_create(&p->store, g_ctx) == 0);

    signal_protocol_session_store ss = { s_load, s_subdevices, s_store, s_contains, s_delete,
                                         s_delete_all, NULL, p };
    signal_protocol_pre_key_store ks = { slot_load, slot_store, slot_contains, slot_remove, NULL,
                                         &p->pk };
    signal_protocol_signed_pre_key_store sks = { slot_load, slot_store, slot_contains,
                                                 slot_remove, NULL, &p->spk };
    signal_protocol_identity_key_store is = { i_keypair, i_regid, i_save, i_trusted, NULL, p };
    CMP_CHECK(signal_protocol_store_context_set_session_store(p->store, &ss) == 0);
    CMP_CHECK(signal_protocol_store_context_set_pre_key_store(p->store, &ks) == 0);
    CMP_CHECK(signal_protocol_store_context_set_signed_pre_key_store(p->store, &sks) == 0);
    CMP_CHECK(signal_protocol_store_context_set_identity_key_store(p->store, &is) == 0);
}

static void party_free(party *p)
{
    signal_protocol_store_context_destroy(p->store);
    SIGNAL_UNREF(p->id);
    signal_buffer_bzero_free(p->session);
    signal_buffer_bzero_free(p->pk.rec);
    signal_buffer_bzero_free(p->spk.rec);
    signal_buffer_free(p->peer_identity);
    if (p->db != NULL) cmp_db_close(p->db);
}

/* ------------------------------------------------------------ the pair */

typedef struct sig_pair {
    party a, b;
    signal_protocol_address addr_a, addr_b; /* A as B names it, B as A names it */
    session_cipher *ca, *cb;
    session_pre_key_bundle *bundle;
    int a_got_reply;  /* A's messages are PreKeySignalMessages until then */
} sig_pair;

/* B's one-time prekey pk_id (its signed prekey made the first time) and the
 * bundle A fetches; untimed, as for every peer. */
static void make_bundle(sig_pair *p, uint32_t pk_id)
{
    signal_protocol_key_helper_pre_key_list_node *head = NULL;
    session_signed_pre_key *spk = NULL;
    CMP_CHECK(signal_protocol_key_helper_generate_pre_keys(&head, pk_id, 1, g_ctx) == 0);
    session_pre_key *pk = signal_protocol_key_helper_key_list_element(head);
    CMP_CHECK(signal_protocol_pre_key_store_key(p->b.store, pk) == 0);
    if (p->b.spk.rec == NULL) {
        CMP_CHECK(signal_protocol_key_helper_generate_signed_pre_key(&spk, p->b.id, SPK_ID, 1,
                                                                     g_ctx) == 0);
        CMP_CHECK(signal_protocol_signed_pre_key_store_key(p->b.store, spk) == 0);
    } else {
        CMP_CHECK(signal_protocol_signed_pre_key_load_key(p->b.store, &spk, SPK_ID) == 0);
    }
    SIGNAL_UNREF(p->bundle);
    CMP_CHECK(session_pre_key_bundle_create(
                  &p->bundle, p->b.reg_id, 1, session_pre_key_get_id(pk),
                  ec_key_pair_get_public(session_pre_key_get_key_pair(pk)), SPK_ID,
                  ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)),
                  session_signed_pre_key_get_signature(spk),
                  session_signed_pre_key_get_signature_len(spk),
                  ratchet_identity_key_pair_get_public(p->b.id)) == 0);
    signal_protocol_key_helper_key_list_free(head);
    SIGNAL_UNREF(spk);
}

static void *sig_open_common(const char *dir, unsigned idx, int durable)
{
    char pa[CMP_PATH_CAP], pb[CMP_PATH_CAP];
    global_init();
    sig_pair *p = cmp_xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    if (durable) {
        cmp_path(pa, dir, "libsignal-sqlite", idx, "a");
        cmp_path(pb, dir, "libsignal-sqlite", idx, "b");
    }
    party_init(&p->a, durable ? pa : NULL);
    party_init(&p->b, durable ? pb : NULL);
    p->addr_a = (signal_protocol_address){ "a", 1, 1 };
    p->addr_b = (signal_protocol_address){ "b", 1, 1 };

    make_bundle(p, PK_START);
    return p;
}
static void *sig_open(const char *dir, unsigned idx) { return sig_open_common(dir, idx, 0); }
static void *sig_open_db(const char *dir, unsigned idx) { return sig_open_common(dir, idx, 1); }

static int sig_enc(void *vp, int from_b, const uint8_t *pt, size_t len, uint8_t *wire, size_t cap,
                   size_t *wlen)
{
    sig_pair *p = vp;
    ciphertext_message *m = NULL;
    *wlen = 0;
    int rc = session_cipher_encrypt(from_b ? p->cb : p->ca, pt, len, &m);
    if (rc != 0) return rc;
    signal_buffer *s = ciphertext_message_get_serialized(m);
    size_t n = signal_buffer_len(s);
    if (n <= cap) {
        memcpy(wire, signal_buffer_data(s), n);
        *wlen = n;
    } else
        rc = -1;
    SIGNAL_UNREF(m);
    return rc;
}

/* The message type travels beside the message in Signal's transport; here
 * the receiver knows it from the protocol state (A sends PreKeySignalMessages
 * until it has decrypted a reply), so it costs no wire byte. */
static int sig_dec(void *vp, int to_a, const uint8_t *wire, size_t wlen, uint8_t *pt, size_t cap,
                   size_t *plen)
{
    sig_pair *p = vp;
    signal_buffer *out = NULL;
    int rc;
    *plen = 0;
    if (!to_a && !p->a_got_reply) {
        pre_key_signal_message *m = NULL;
        rc = pre_key_signal_message_deserialize(&m, wire, wlen, g_ctx);
        if (rc == 0) rc = session_cipher_decrypt_pre_key_signal_message(p->cb, m, NULL, &out);
        SIGNAL_UNREF(m);
    } else {
        signal_message *m = NULL;
        rc = signal_message_deserialize(&m, wire, wlen, g_ctx);
        if (rc == 0)
            rc = session_cipher_decrypt_signal_message(to_a ? p->ca : p->cb, m, NULL, &out);
        SIGNAL_UNREF(m);
    }
    if (rc != 0) return rc < 0 ? rc : -1;
    size_t n = signal_buffer_len(out);
    if (n > cap) {
        signal_buffer_bzero_free(out);
        return -1;
    }
    memcpy(pt, signal_buffer_data(out), n);
    *plen = n;
    signal_buffer_bzero_free(out);
    if (to_a) p->a_got_reply = 1;
    return 0;
}

/* A processes B's current bundle (signature verify, X3DH): a new session. */
static int process_bundle(sig_pair *p)
{
    session_builder *sb = NULL;
    if (session_builder_create(&sb, p->a.store, &p->addr_b, g_ctx) != 0) return -1;
    int rc = session_builder_process_pre_key_bundle(sb, p->bundle);
    session_builder_free(sb);
    return rc != 0 ? -1 : 0;
}

/* Bundle processing + first encrypt + the responder's PreKeySignalMessage
 * decrypt (consumes the one-time prekey). */
static int sig_setup(void *vp, uint8_t *first, size_t cap, size_t *first_len)
{
    sig_pair *p = vp;
    uint8_t pt[FIRST_PT], out[FIRST_PT + 64], wire[512];
    size_t wlen, plen;
    memset(pt, 's', sizeof pt);
    if (process_bundle(p) != 0) return -1;
    if (session_cipher_create(&p->ca, p->a.store, &p->addr_b, g_ctx) != 0) return -1;
    if (session_cipher_create(&p->cb, p->b.store, &p->addr_a, g_ctx) != 0) return -1;
    if (sig_enc(p, 0, pt, sizeof pt, wire, sizeof wire, &wlen) != 0) return -1;
    if (sig_dec(p, 0, wire, wlen, out, sizeof out, &plen) != 0) return -1;
    if (plen != sizeof pt || memcmp(out, pt, plen) != 0) return -1;
    if (slot_contains(PK_START, &p->b.pk)) return -1; /* the one-time prekey was consumed */
    return cmp_first_copy(first, cap, first_len, wire, wlen);
}

/* libsignal keeps up to 40 archived session states per contact and tries
 * every one on a message the current state rejects (a forged message cost up
 * to 451 ms to reject on a 2-vCPU AMD EPYC VM, Debian 12, November 2026): A
 * starts a new session 41 times (a new bundle each time), B accepts each,
 * then B replies so that A sends normal messages again. */
#define ARCHIVED_STATES 41U
static int sig_worst(void *vp)
{
    sig_pair *p = vp;
    uint8_t pt[FIRST_PT], out[FIRST_PT + 64], wire[512];
    size_t wlen, plen;
    memset(pt, 'w', sizeof pt);
    for (unsigned i = 0; i < ARCHIVED_STATES; i++) {
        make_bundle(p, PK_START + 1 + i);
        if (process_bundle(p) != 0) return -1;
        p->a_got_reply = 0;
        if (sig_enc(p, 0, pt, sizeof pt, wire, sizeof wire, &wlen) != 0) return -1;
        if (sig_dec(p, 0, wire, wlen, out, sizeof out, &plen) != 0) return -1;
    }
    if (sig_enc(p, 1, pt, sizeof pt, wire, sizeof wire, &wlen) != 0) return -1;
    if (sig_dec(p, 1, wire, wlen, out, sizeof out, &plen) != 0) return -1;
    return plen == sizeof pt && memcmp(out, pt, plen) == 0 ? 0 : -1;
}

static size_t sig_state(void *vp)
{
    sig_pair *p = vp;
    if (p->b.db != NULL) {
        uint8_t *blob;
        size_t len;
        CMP_CHECK(cmp_db_get(p->b.db, 1, &blob, &len) == 1);
        sodium_memzero(blob, len); /* libsignal's record, unencrypted, as s_load wipes it */
        free(blob);
        return len;
    }
    return p->b.session == NULL ? 0 : signal_buffer_len(p->b.session);
}

static void sig_close(void *vp)
{
    sig_pair *p = vp;
    session_cipher_free(p->ca);
    session_cipher_free(p->cb);
    SIGNAL_UNREF(p->bundle);
    party_free(&p->a);
    party_free(&p->b);
    free(p);
}

const cmp_impl impl_signal = { "libsignal", "crypto", 1, 0, CMP_WIRE_BINARY, sig_open, sig_setup,
                               sig_enc, sig_dec, sig_state, sig_close, NULL, sig_worst, NULL };
const cmp_impl impl_signal_sqlite = { "libsignal-sqlite", "durable", 1, 0, CMP_WIRE_BINARY,
                                      sig_open_db, sig_setup, sig_enc, sig_dec, sig_state,
                                      sig_close, NULL, sig_worst, NULL };

/* ------------------------------------------------------------ reference */

/* One HMAC-SHA256 of 64 bytes under a 32-byte key, as libsodium computes it
 * (what ratchetbox uses) and as this provider does (OpenSSL 3, which uses
 * the CPU's SHA extensions where it has them). Explains the symmetric rows. */
void cmp_hmac_reference(double *sodium_us, double *openssl_us, unsigned n)
{
    uint8_t key[32], msg[64], mac[32];
    signal_buffer *out = NULL;
    void *h = NULL;
    global_init();
    randombytes_buf(key, sizeof key);
    randombytes_buf(msg, sizeof msg);
    double t0 = cmp_now_us();
    for (unsigned i = 0; i < n; i++) {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key, sizeof key);
        crypto_auth_hmacsha256_update(&st, msg, sizeof msg);
        crypto_auth_hmacsha256_final(&st, mac);
        msg[0] ^= mac[0];
    }
    *sodium_us = (cmp_now_us() - t0) / n;
    t0 = cmp_now_us();
    for (unsigned i = 0; i < n; i++) {
        CMP_CHECK(p_hmac_init(&h, key, sizeof key, &g_ossl) == 0);
        CMP_CHECK(p_hmac_update(h, msg, sizeof msg, &g_ossl) == 0);
        CMP_CHECK(p_hmac_final(h, &out, &g_ossl) == 0);
        p_hmac_cleanup(h, &g_ossl);
        msg[0] ^= signal_buffer_data(out)[0];
        signal_buffer_free(out);
    }
    *openssl_us = (cmp_now_us() - t0) / n;
}
