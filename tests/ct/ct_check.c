/* SPDX-License-Identifier: MIT
 * Constant-time check in the style of Monocypher's ctgrind: secret inputs are
 * marked undefined with memcheck client requests, the operation runs, and its
 * outputs are marked defined again before this program looks at them. Under
 * valgrind, any branch or memory index that depends on a secret is reported
 * ("Conditional jump or move depends on uninitialised value(s)", "Use of
 * uninitialised value of size 8"); run without valgrind the client requests
 * are no-ops and only the functional checks run. tests/ct/README.md lists what
 * is covered and every report that remains and why.
 *
 * Usage: ct_check [section...]; no argument runs the strict sections
 * (kdf_ck message_keys step kdf_rk chain step_fast header tags x25519), which must give no
 * report beyond the one libsodium.supp names. The key-import sections b64 and
 * json branch on input validity by design; tests/ct/run.sh runs them and
 * allows reports only in the functions README.md lists. */
#include <stdio.h>
#include <string.h>
#include <valgrind/memcheck.h>

#include "internal.h"
#include "kdf.h"

/* Mark a secret; declassify an output (Monocypher ctgrind's two helpers). */
#define SECRET(p, n) (void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) (void)VALGRIND_MAKE_MEM_DEFINED((p), (n))

#define HEADERBYTES 40U                 /* DH || PN || N (ratchet.c) */
#define ENC_HEADERBYTES (24U + HEADERBYTES + RBX_AEAD_TAGBYTES) /* 80 */
#define ADBYTES 64U
#define KEY_B64DATA 43U                 /* base64 of 32 bytes, without its '=' */

static int failures;

static void expect(int ok, const char *section, const char *what)
{
    if (!ok) {
        fprintf(stderr, "ct_check: %s: %s\n", section, what);
        failures++;
    }
}

/* Deterministic, public-looking inputs; randomness is not the point here. */
static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + 31U * i + (i >> 3));
}

/* KDF_CK (DR spec 5.2): ck secret. */
static void check_kdf_ck(void)
{
    uint8_t ck[32], ref_next[32], ref_mk[32], next[32], mk[32];
    fill(ck, sizeof ck, 1);
    rbx__kdf_ck(ref_next, ref_mk, ck);
    SECRET(ck, sizeof ck);
    rbx__kdf_ck(next, mk, ck);
    PUBLIC(next, sizeof next);
    PUBLIC(mk, sizeof mk);
    PUBLIC(ck, sizeof ck);
    expect(memcmp(next, ref_next, 32) == 0 && memcmp(mk, ref_mk, 32) == 0, "kdf_ck",
           "output differs from the unmarked run");
    /* In place (ck_next aliases ck), as skip_keys calls it. */
    SECRET(ck, sizeof ck);
    rbx__kdf_ck(ck, mk, ck);
    PUBLIC(ck, sizeof ck);
    PUBLIC(mk, sizeof mk);
    expect(memcmp(ck, ref_next, 32) == 0 && memcmp(mk, ref_mk, 32) == 0, "kdf_ck",
           "in-place output differs");
}

/* Message key (and in profile 2 the message's public salt R) -> AEAD key
 * and nonce, every profile. */
static void check_message_keys(void)
{
    for (unsigned prof = RBX_PROFILE_HMAC; prof <= RBX_PROFILE_FAST; prof++) {
        const rbx__profile *p = rbx__profile_get(prof);
        uint8_t mk[32], key[32], nonce[24], rkey[32], rnonce[24], salt[16];
        fill(mk, sizeof mk, (uint8_t)(7 + prof));
        fill(salt, sizeof salt, 17);
        memset(nonce, 0, sizeof nonce);
        memset(rnonce, 0, sizeof rnonce);
        rbx__message_keys(rkey, rnonce, mk, salt, p);
        SECRET(mk, sizeof mk);
        rbx__message_keys(key, nonce, mk, salt, p);
        PUBLIC(key, sizeof key);
        PUBLIC(nonce, sizeof nonce);
        PUBLIC(mk, sizeof mk);
        expect(memcmp(key, rkey, 32) == 0 && memcmp(nonce, rnonce, 24) == 0, "message_keys",
               "output differs from the unmarked run");
    }
}

/* The receiving symmetric-key ratchet step of ratchet.c: KDF_CK, message keys,
 * then the AEAD open of a valid body. Only the chain key (and everything
 * derived from it) is secret; ciphertext, tag and AD are public wire bytes. */
static void check_step(void)
{
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_HMAC);
    uint8_t ck[32], ck_next[32], mk[32], key[32], nonce[24];
    uint8_t ad[ADBYTES + HEADERBYTES], msg[100], ct[sizeof msg + RBX_AEAD_TAGBYTES],
        pt[sizeof msg];
    fill(ck, sizeof ck, 3);
    fill(ad, sizeof ad, 5);
    fill(msg, sizeof msg, 9);
    rbx__kdf_ck(ck_next, mk, ck);
    rbx__message_keys(key, nonce, mk, NULL, p);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, msg, sizeof msg, ad, sizeof ad, NULL,
                                               nonce, key);

    SECRET(ck, sizeof ck);
    rbx__kdf_ck(ck_next, mk, ck);
    rbx__message_keys(key, nonce, mk, NULL, p);
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, sizeof ct, ad,
                                                        sizeof ad, nonce, key);
    /* Authentication succeeded or not: public by design (the caller is told). */
    PUBLIC(&rc, sizeof rc);
    PUBLIC(pt, sizeof pt);
    PUBLIC(ck_next, sizeof ck_next);
    PUBLIC(ck, sizeof ck);
    expect(rc == 0, "step", "valid message refused");
    expect(memcmp(pt, msg, sizeof msg) == 0, "step", "wrong plaintext");
    WIPE(key);
    WIPE(nonce);
    WIPE(mk);
}

/* Profile 2's chain (PROTOCOL.md 4.4): Init, Next across a block boundary
 * and Jump, with the chain and block keys secret; positions are public. */
static void check_chain(void)
{
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_FAST);
    uint8_t c[32], ck[32], bk[32], mk[32], rck[32], rbk[32], rmk[32];
    fill(c, sizeof c, 21);
    for (int marked = 0; marked < 2; marked++) {
        uint8_t *k = marked ? ck : rck, *b = marked ? bk : rbk, *m = marked ? mk : rmk;
        memcpy(k, c, 32);
        if (marked) SECRET(k, 32);
        rbx__chain_init(k, b, k, p);
        for (uint32_t n = 0; n < 34; n++) rbx__chain_next(k, b, m, n, p);
        rbx__chain_jump(k, b, 34, 100, p);
        rbx__chain_next(k, b, m, 100, p);
        if (marked) {
            PUBLIC(k, 32);
            PUBLIC(b, 32);
            PUBLIC(m, 32);
        }
    }
    expect(memcmp(ck, rck, 32) == 0 && memcmp(bk, rbk, 32) == 0 && memcmp(mk, rmk, 32) == 0,
           "chain", "output differs from the unmarked run");
}

/* Profile 2's receiving step: Next, the body key from mk and the public
 * salt, ChaCha20-Poly1305 (IETF) open of a valid body. */
static void check_step_fast(void)
{
    const rbx__profile *p = rbx__profile_get(RBX_PROFILE_FAST);
    uint8_t ck[32], bk[32], mk[32], key[32], nonce[24], salt[16];
    uint8_t ad[ADBYTES + HEADERBYTES], msg[100], ct[sizeof msg + RBX_AEAD_TAGBYTES],
        pt[sizeof msg];
    fill(ck, sizeof ck, 23);
    fill(bk, sizeof bk, 29);
    fill(salt, sizeof salt, 31);
    fill(ad, sizeof ad, 5);
    fill(msg, sizeof msg, 9);
    uint8_t ck0[32], bk0[32];
    memcpy(ck0, ck, 32);
    memcpy(bk0, bk, 32);
    rbx__chain_next(ck, bk, mk, 31, p);
    rbx__message_keys(key, nonce, mk, salt, p);
    crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, msg, sizeof msg, ad, sizeof ad, NULL, nonce,
                                              key);
    memcpy(ck, ck0, 32);
    memcpy(bk, bk0, 32);
    SECRET(ck, sizeof ck);
    SECRET(bk, sizeof bk);
    rbx__chain_next(ck, bk, mk, 31, p);
    rbx__message_keys(key, nonce, mk, salt, p);
    int rc = crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, sizeof ct, ad, sizeof ad,
                                                       nonce, key);
    PUBLIC(&rc, sizeof rc);
    PUBLIC(pt, sizeof pt);
    PUBLIC(ck, sizeof ck);
    PUBLIC(bk, sizeof bk);
    expect(rc == 0, "step_fast", "valid message refused");
    expect(memcmp(pt, msg, sizeof msg) == 0, "step_fast", "wrong plaintext");
    WIPE(key);
    WIPE(nonce);
    WIPE(mk);
}

/* KDF_RK: root key and DH output secret, every profile. */
static void check_kdf_rk(void)
{
    for (unsigned prof = RBX_PROFILE_HMAC; prof <= RBX_PROFILE_FAST; prof++) {
        const rbx__profile *p = rbx__profile_get(prof);
        uint8_t rk[32], dh[32], r[3][32], o[3][32];
        fill(rk, sizeof rk, 11);
        fill(dh, sizeof dh, 13);
        rbx__kdf_rk(r[0], r[1], r[2], rk, dh, p);
        SECRET(rk, sizeof rk);
        SECRET(dh, sizeof dh);
        rbx__kdf_rk(o[0], o[1], o[2], rk, dh, p);
        PUBLIC(o, sizeof o);
        expect(memcmp(o, r, sizeof r) == 0, "kdf_rk", "output differs");
        /* In place (rk_next aliases rk), as dh_ratchet calls it; rk and dh
         * are still marked secret. */
        rbx__kdf_rk(rk, o[1], o[2], rk, dh, p);
        PUBLIC(rk, sizeof rk);
        PUBLIC(o, sizeof o);
        PUBLIC(dh, sizeof dh);
        expect(memcmp(rk, r[0], 32) == 0 && memcmp(o[1], r[1], 64) == 0, "kdf_rk",
               "in-place output differs");
    }
}

/* Header decryption (DR spec 4.2 HDECRYPT, ratchet.c header_open): the AEAD
 * open of the 80-byte encrypted header nonce || ct || tag with a secret
 * header key. Both the right key and a wrong key are tried: which one opens
 * the header is public (the receiver tries keys in a public order). */
static void check_header(void)
{
    uint8_t hk[32], other[32], h[HEADERBYTES], out[HEADERBYTES], ad[ADBYTES],
        enc[ENC_HEADERBYTES];
    fill(hk, sizeof hk, 17);
    fill(other, sizeof other, 19);
    fill(h, sizeof h, 23);
    fill(ad, sizeof ad, 29);
    fill(enc, 24, 31);
    crypto_aead_xchacha20poly1305_ietf_encrypt(enc + 24, NULL, h, sizeof h, ad, sizeof ad, NULL,
                                               enc, hk);
    SECRET(hk, sizeof hk);
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, enc + 24,
                                                        ENC_HEADERBYTES - 24, ad, sizeof ad,
                                                        enc, hk);
    PUBLIC(&rc, sizeof rc);
    PUBLIC(out, sizeof out);
    PUBLIC(hk, sizeof hk);
    expect(rc == 0 && memcmp(out, h, sizeof h) == 0, "header", "valid header not opened");

    SECRET(other, sizeof other);
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, enc + 24,
                                                    ENC_HEADERBYTES - 24, ad, sizeof ad, enc,
                                                    other);
    PUBLIC(&rc, sizeof rc);
    PUBLIC(out, sizeof out);
    PUBLIC(other, sizeof other);
    expect(rc != 0, "header", "wrong header key accepted");
}

/* Tag and key comparison as the library does it (sodium_memcmp,
 * crypto_verify_16/32): equal and unequal secret operands. */
static void check_tags(void)
{
    uint8_t a[32], b[32];
    for (int differ = 0; differ <= 1; differ++) {
        fill(a, sizeof a, 37);
        memcpy(b, a, sizeof b);
        if (differ) b[31] ^= 1;
        SECRET(a, sizeof a);
        SECRET(b, sizeof b);
        int r1 = sodium_memcmp(a, b, 32);
        int r2 = crypto_verify_32(a, b);
        int r3 = crypto_verify_16(a, b);
        PUBLIC(&r1, sizeof r1);
        PUBLIC(&r2, sizeof r2);
        PUBLIC(&r3, sizeof r3);
        PUBLIC(a, sizeof a);
        PUBLIC(b, sizeof b);
        expect((r1 == 0) == !differ && (r2 == 0) == !differ && r3 == 0, "tags",
               "wrong comparison result");
    }
}

/* X25519 (libsodium), for completeness: secret scalar, public point. */
static void check_x25519(void)
{
    uint8_t sk[32], pk[32], peer_sk[32], peer_pk[32], s1[32], s2[32];
    fill(sk, sizeof sk, 41);
    fill(peer_sk, sizeof peer_sk, 43);
    expect(crypto_scalarmult_base(peer_pk, peer_sk) == 0, "x25519", "base");
    expect(crypto_scalarmult(s1, sk, peer_pk) == 0, "x25519", "reference DH");
    SECRET(sk, sizeof sk);
    int rc = crypto_scalarmult_base(pk, sk);
    PUBLIC(&rc, sizeof rc);
    PUBLIC(pk, sizeof pk);
    expect(rc == 0, "x25519", "scalarmult_base");
    rc = crypto_scalarmult(s2, sk, peer_pk);
    /* The all-zero check on the result is public: it depends on the peer key
     * (low order) alone, for any clamped scalar. */
    PUBLIC(&rc, sizeof rc);
    PUBLIC(s2, sizeof s2);
    PUBLIC(sk, sizeof sk);
    expect(rc == 0 && memcmp(s1, s2, 32) == 0, "x25519", "shared secret differs");
}

/* Mark base64 text secret except bit 7 of each character: every valid
 * base64 character is below 0x80, so that bit carries no secret of a valid
 * key (it is the input-validity bit rbx__base64_decode checks). Callers pass
 * the 43 data characters only: the final '=' of a 32-byte key is fixed by the
 * length and public. */
static void secret_b64(const char *s, size_t n)
{
    uint8_t vbits[64];
    if (n > sizeof vbits) n = sizeof vbits;
    memset(vbits, 0x7f, n);
    SECRET(s, n);
    (void)VALGRIND_SET_VBITS(s, vbits, n);
}

/* Key import of a secret key from base64 (rbx_key_from_base64). */
static void check_b64(void)
{
    uint8_t sk[32], out[32];
    char b64[RBX_KEY_B64BYTES];
    fill(sk, sizeof sk, 47);
    rbx_key_to_base64(b64, sk);
    secret_b64(b64, KEY_B64DATA);
    int rc = rbx_key_from_base64(out, b64, RBX_KEY_B64BYTES - 1U);
    PUBLIC(&rc, sizeof rc);
    PUBLIC(out, sizeof out);
    PUBLIC(b64, sizeof b64);
    expect(rc == RBX_OK && memcmp(out, sk, 32) == 0, "b64", "key not imported");
}

/* Key import from the product's JSON key file (rbx_keypair_from_json): only
 * the secretKey characters are secret; the JSON around them and the public
 * key are public. */
static void check_json(void)
{
    uint8_t pk[32], sk[32], opk[32], osk[32];
    char json[RBX_KEYPAIR_JSONBYTES];
    fill(sk, sizeof sk, 53);
    expect(crypto_scalarmult_base(pk, sk) == 0, "json", "base");
    expect(rbx_keypair_to_json(json, sizeof json, pk, sk) == RBX_OK, "json", "export");
    size_t len = strlen(json);
    const char *v = strstr(json, "\"secretKey\": \"");
    expect(v != NULL, "json", "no secretKey member");
    if (v == NULL) return;
    v += strlen("\"secretKey\": \"");
    secret_b64(v, KEY_B64DATA);
    int rc = rbx_keypair_from_json(opk, osk, json, len);
    PUBLIC(&rc, sizeof rc);
    PUBLIC(opk, sizeof opk);
    PUBLIC(osk, sizeof osk);
    PUBLIC(json, sizeof json);
    expect(rc == RBX_OK && memcmp(opk, pk, 32) == 0 && memcmp(osk, sk, 32) == 0, "json",
           "key pair not imported");
}

static const struct {
    const char *name;
    void (*fn)(void);
    int strict; /* run when no section is named; see README for b64/json */
} sections[] = {
    { "kdf_ck", check_kdf_ck, 1 },   { "message_keys", check_message_keys, 1 },
    { "step", check_step, 1 },       { "kdf_rk", check_kdf_rk, 1 },
    { "chain", check_chain, 1 },     { "step_fast", check_step_fast, 1 },
    { "header", check_header, 1 },   { "tags", check_tags, 1 },
    { "x25519", check_x25519, 1 },   { "b64", check_b64, 0 },
    { "json", check_json, 0 },
};

int main(int argc, char **argv)
{
    if (rbx_init() != 0) {
        fprintf(stderr, "ct_check: rbx_init failed\n");
        return 1;
    }
    size_t n = sizeof sections / sizeof sections[0];
    for (size_t i = 0; i < n; i++) {
        int run = argc < 2 && sections[i].strict;
        for (int a = 1; a < argc; a++) run |= strcmp(argv[a], sections[i].name) == 0;
        if (!run) continue;
        unsigned before = VALGRIND_COUNT_ERRORS;
        sections[i].fn();
        unsigned after = VALGRIND_COUNT_ERRORS;
        printf("ct_check: %-13s %s\n", sections[i].name,
               RUNNING_ON_VALGRIND ? (after == before ? "no secret-dependent branch or index"
                                                      : "valgrind reported errors (see above)")
                                   : "functional only (not under valgrind)");
    }
    if (failures) fprintf(stderr, "ct_check: %d functional failure(s)\n", failures);
    return failures ? 1 : 0;
}
