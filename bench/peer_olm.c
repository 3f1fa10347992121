/* SPDX-License-Identifier: MIT
 * libolm 3.2.13 (Debian) as a peer of the comparison bench, through its C API.
 *
 * Setup as a Matrix client does it: B publishes a one-time key signed by its
 * Ed25519 account key (made untimed); A verifies that signature
 * (olm_ed25519_verify), creates the outbound session and encrypts; B creates
 * the inbound session from the pre-key message, decrypts it and removes the
 * one-time key. Randomness: libsodium's randombytes_buf, as ratchetbox.
 * Olm's messages are unpadded base64 (its API has no binary form); the
 * message type (pre-key or normal) travels beside the message, so it costs no
 * wire byte here either. Durable variant ("olm-sqlite"): before each
 * operation the session is unpickled from its SQLite row, after it the
 * session is pickled (olm encrypts the pickle) and written back in one
 * transaction (WAL, synchronous=FULL: one fdatasync).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <olm/olm.h>

#include "compare.h"

#define FIRST_PT 64U
#define KEYB64 64U /* an unpadded base64 key: 43 characters */
#define JSONCAP 512U

typedef struct opair {
    OlmAccount *acc_a, *acc_b;
    OlmSession *sa, *sb;
    OlmUtility *util;
    void *mem[5];
    char b_curve[KEYB64], b_ed[KEYB64], b_otk[KEYB64], otk_json[JSONCAP], otk_sig[128];
    size_t otk_json_len, otk_sig_len;
    int a_got_reply;
    cmp_db *da, *db;                 /* durable variant */
    uint8_t pickle_key[32];
    uint8_t *buf, *msg;              /* scratch: olm decodes base64 in place */
} opair;

static uint8_t *rnd(size_t n)
{
    uint8_t *r = cmp_xmalloc(n ? n : 1);
    randombytes_buf(r, n);
    return r;
}

/* Copy the string value that follows "key":" in a small JSON object. */
static size_t json_value(char *out, size_t cap, const char *json, size_t len, const char *key)
{
    char pat[40];
    size_t kl = (size_t)snprintf(pat, sizeof pat, "\"%s\":\"", key);
    for (size_t i = 0; i + kl <= len; i++) {
        if (memcmp(json + i, pat, kl) != 0) continue;
        size_t j = i + kl, n = 0;
        while (j < len && json[j] != '"' && n + 1 < cap) out[n++] = json[j++];
        out[n] = '\0';
        return n;
    }
    CMP_CHECK(0 && "key not in JSON");
    return 0;
}

static void *olm_open_common(const char *dir, unsigned idx, int durable)
{
    opair *p = cmp_xmalloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->mem[0] = cmp_xmalloc(olm_account_size());
    p->mem[1] = cmp_xmalloc(olm_account_size());
    p->mem[2] = cmp_xmalloc(olm_session_size());
    p->mem[3] = cmp_xmalloc(olm_session_size());
    p->mem[4] = cmp_xmalloc(olm_utility_size());
    p->acc_a = olm_account(p->mem[0]);
    p->acc_b = olm_account(p->mem[1]);
    p->sa = olm_session(p->mem[2]);
    p->sb = olm_session(p->mem[3]);
    p->util = olm_utility(p->mem[4]);
    p->buf = cmp_xmalloc(CMP_WIRE_CAP);
    p->msg = cmp_xmalloc(CMP_WIRE_CAP);
    OlmAccount *accs[2] = { p->acc_a, p->acc_b };
    for (int i = 0; i < 2; i++) {
        size_t n = olm_create_account_random_length(accs[i]);
        uint8_t *r = rnd(n);
        CMP_CHECK(olm_create_account(accs[i], r, n) != olm_error());
        free(r);
    }
    char json[JSONCAP];
    size_t jl = olm_account_identity_keys(p->acc_b, json, sizeof json);
    CMP_CHECK(jl != olm_error());
    json_value(p->b_curve, sizeof p->b_curve, json, jl, "curve25519");
    json_value(p->b_ed, sizeof p->b_ed, json, jl, "ed25519");
    size_t n = olm_account_generate_one_time_keys_random_length(p->acc_b, 1);
    uint8_t *r = rnd(n);
    CMP_CHECK(olm_account_generate_one_time_keys(p->acc_b, 1, r, n) != olm_error());
    free(r);
    jl = olm_account_one_time_keys(p->acc_b, json, sizeof json);
    CMP_CHECK(jl != olm_error());
    /* {"curve25519":{"AAAAAQ":"<key>"}}: the first quoted value after the id */
    const char *q = memchr(json, '{', jl);
    CMP_CHECK(q != NULL && (q = memchr(q + 1, '{', jl - (size_t)(q + 1 - json))) != NULL);
    q = strchr(q, ':');
    CMP_CHECK(q != NULL && q[1] == '"');
    size_t k = 0;
    for (q += 2; *q != '"' && k + 1 < sizeof p->b_otk; q++) p->b_otk[k++] = *q;
    p->b_otk[k] = '\0';
    CMP_CHECK(olm_account_mark_keys_as_published(p->acc_b) != olm_error());
    /* The signed key object a Matrix server would hand out. */
    p->otk_json_len = (size_t)snprintf(p->otk_json, sizeof p->otk_json, "{\"key\":\"%s\"}", p->b_otk);
    p->otk_sig_len = olm_account_sign(p->acc_b, p->otk_json, p->otk_json_len, p->otk_sig,
                                      sizeof p->otk_sig);
    CMP_CHECK(p->otk_sig_len != olm_error());
    if (durable) {
        char path[CMP_PATH_CAP];
        cmp_path(path, dir, "olm-sqlite", idx, "a");
        p->da = cmp_db_open(path);
        cmp_path(path, dir, "olm-sqlite", idx, "b");
        p->db = cmp_db_open(path);
        randombytes_buf(p->pickle_key, sizeof p->pickle_key);
    }
    return p;
}
static void *olm_open_mem(const char *dir, unsigned idx) { return olm_open_common(dir, idx, 0); }
static void *olm_open_db(const char *dir, unsigned idx) { return olm_open_common(dir, idx, 1); }

/* Durable variant: the session lives in its row between operations. */
static int load(opair *p, int b)
{
    cmp_db *d = b ? p->db : p->da;
    OlmSession *s = b ? p->sb : p->sa;
    uint8_t *blob;
    size_t len;
    if (d == NULL) return 0;
    if (cmp_db_get(d, 1, &blob, &len) != 1) return -1;
    /* a fresh session object, as an application loading a session makes one */
    olm_clear_session(s);
    s = olm_session(p->mem[b ? 3 : 2]);
    if (b)
        p->sb = s;
    else
        p->sa = s;
    size_t r = olm_unpickle_session(s, p->pickle_key, sizeof p->pickle_key, blob, len);
    free(blob);
    return r == olm_error() ? -1 : 0;
}

static int save(opair *p, int b)
{
    cmp_db *d = b ? p->db : p->da;
    OlmSession *s = b ? p->sb : p->sa;
    if (d == NULL) return 0;
    size_t n = olm_pickle_session_length(s);
    if (n > CMP_WIRE_CAP) return -1;
    if (olm_pickle_session(s, p->pickle_key, sizeof p->pickle_key, p->buf, n) == olm_error())
        return -1;
    return cmp_db_put(d, 1, p->buf, n);
}

static int raw_enc(opair *p, int from_b, const uint8_t *pt, size_t len, uint8_t *wire, size_t cap,
                   size_t *wlen)
{
    OlmSession *s = from_b ? p->sb : p->sa;
    *wlen = 0;
    size_t rl = olm_encrypt_random_length(s);
    uint8_t r[64];
    if (rl > sizeof r) return -1;
    randombytes_buf(r, rl);
    size_t ml = olm_encrypt_message_length(s, len);
    if (ml > cap) return -1;
    if (olm_encrypt(s, pt, len, r, rl, wire, ml) == olm_error()) return -1;
    *wlen = ml;
    return 0;
}

static int olm_enc(void *vp, int from_b, const uint8_t *pt, size_t len, uint8_t *wire, size_t cap,
                   size_t *wlen)
{
    opair *p = vp;
    if (load(p, from_b) != 0) return -1;
    if (raw_enc(p, from_b, pt, len, wire, cap, wlen) != 0) return -1;
    return save(p, from_b);
}

static int raw_dec(opair *p, int to_a, const uint8_t *wire, size_t wlen, uint8_t *pt, size_t cap,
                   size_t *plen)
{
    OlmSession *s = to_a ? p->sa : p->sb;
    size_t type = (!to_a && !p->a_got_reply) ? OLM_MESSAGE_TYPE_PRE_KEY : OLM_MESSAGE_TYPE_MESSAGE;
    *plen = 0;
    if (wlen > CMP_WIRE_CAP) return -1;
    memcpy(p->msg, wire, wlen); /* olm_decrypt decodes its input in place */
    size_t n = olm_decrypt(s, type, p->msg, wlen, pt, cap);
    if (n == olm_error()) return -1;
    *plen = n;
    if (to_a) p->a_got_reply = 1;
    return 0;
}

static int olm_dec(void *vp, int to_a, const uint8_t *wire, size_t wlen, uint8_t *pt, size_t cap,
                   size_t *plen)
{
    opair *p = vp;
    if (load(p, !to_a) != 0) return -1;
    if (raw_dec(p, to_a, wire, wlen, pt, cap, plen) != 0) return -1;
    return save(p, !to_a);
}

static int olm_setup(void *vp, uint8_t *first, size_t cap, size_t *first_len)
{
    opair *p = vp;
    uint8_t pt[FIRST_PT], out[FIRST_PT + 64], wire[1024];
    size_t wlen, plen;
    memset(pt, 's', sizeof pt);
    /* A checks B's signature on the one-time key, as a Matrix client must. */
    memcpy(p->buf, p->otk_sig, p->otk_sig_len);
    if (olm_ed25519_verify(p->util, p->b_ed, strlen(p->b_ed), p->otk_json, p->otk_json_len, p->buf,
                           p->otk_sig_len) == olm_error())
        return -1;
    size_t rl = olm_create_outbound_session_random_length(p->sa);
    uint8_t r[128];
    if (rl > sizeof r) return -1;
    randombytes_buf(r, rl);
    if (olm_create_outbound_session(p->sa, p->acc_a, p->b_curve, strlen(p->b_curve), p->b_otk,
                                    strlen(p->b_otk), r, rl) == olm_error())
        return -1;
    if (raw_enc(p, 0, pt, sizeof pt, wire, sizeof wire, &wlen) != 0) return -1;
    memcpy(p->msg, wire, wlen);
    if (olm_create_inbound_session(p->sb, p->acc_b, p->msg, wlen) == olm_error()) return -1;
    if (olm_remove_one_time_keys(p->acc_b, p->sb) == olm_error()) return -1;
    if (raw_dec(p, 0, wire, wlen, out, sizeof out, &plen) != 0) return -1;
    if (plen != sizeof pt || memcmp(out, pt, plen) != 0) return -1;
    if (save(p, 0) != 0 || save(p, 1) != 0) return -1;
    return cmp_first_copy(first, cap, first_len, wire, wlen);
}

static size_t olm_state(void *vp)
{
    opair *p = vp;
    if (p->db != NULL) {
        uint8_t *blob;
        size_t len;
        CMP_CHECK(cmp_db_get(p->db, 1, &blob, &len) == 1);
        free(blob);
        return len;
    }
    return olm_pickle_session_length(p->sb); /* base64 of the encrypted pickle */
}

static void olm_close_pair(void *vp)
{
    opair *p = vp;
    olm_clear_session(p->sa);
    olm_clear_session(p->sb);
    olm_clear_account(p->acc_a);
    olm_clear_account(p->acc_b);
    olm_clear_utility(p->util);
    for (int i = 0; i < 5; i++) free(p->mem[i]);
    if (p->da != NULL) cmp_db_close(p->da);
    if (p->db != NULL) cmp_db_close(p->db);
    free(p->buf);
    free(p->msg);
    sodium_memzero(p, sizeof *p);
    free(p);
}

const cmp_impl impl_olm = { "olm", "crypto", 1, 0, CMP_WIRE_BASE64, olm_open_mem, olm_setup,
                            olm_enc, olm_dec, olm_state, olm_close_pair, NULL, NULL, NULL };
const cmp_impl impl_olm_sqlite = { "olm-sqlite", "durable", 1, 0, CMP_WIRE_BASE64, olm_open_db,
                                   olm_setup, olm_enc, olm_dec, olm_state, olm_close_pair, NULL,
                                   NULL, NULL };
