/* SPDX-License-Identifier: MIT
 * Bad-input corpus (issue 7, section 4): every case of tests/badinput/cases.txt
 * is a valid object made from a seeded transcript, a list of mutations, and the
 * RBX_E_* code the mutated bytes must get. Each case also checks that nothing
 * changed: a session serialises byte-identically and still decrypts the
 * unmutated message, prekeys keep their one-time prekeys (and still accept the
 * unmutated first message), outputs are zero. tests/badinput/README.md
 * describes the format and the mutations. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define CASES "tests/badinput/cases.txt"
#define MIN_CASES 60U

/* ------------------------------------------------------------ byte buffers */

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static void buf_set(buf *b, const void *p, size_t n)
{
    free(b->p);
    b->p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b->p);
    if (n) memcpy(b->p, p, n);
    b->n = n;
}

/* Replace b[off, off + del) with ins (ins may point into b). */
static void buf_splice(buf *b, size_t off, size_t del, const uint8_t *ins, size_t inslen)
{
    ck_assert_uint_le(off, b->n);
    ck_assert_uint_le(del, b->n - off);
    size_t n = b->n - del + inslen;
    uint8_t *q = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(q);
    memcpy(q, b->p, off);
    if (inslen) memcpy(q + off, ins, inslen);
    memcpy(q + off + inslen, b->p + off + del, b->n - off - del);
    free(b->p);
    b->p = q;
    b->n = n;
}

static void buf_resize(buf *b, size_t n, uint8_t fillc)
{
    uint8_t *q = realloc(b->p, n ? n : 1);
    ck_assert_ptr_nonnull(q);
    if (n > b->n) memset(q + b->n, fillc, n - b->n);
    b->p = q;
    b->n = n;
}

/* ------------------------------------------------------------ the transcript */

/* One seeded transcript (README "Bases"). Alice initiates against Bob's
 * bundle (signed prekey 1, one-time prekey 100) and sends `first`; Bob
 * accepts it (unless the case targets the handshake) and sends `reply`;
 * `alice0` is Alice before she decrypts it. Then Alice sends seven messages
 * and Bob decrypts only the seventh, so his blob holds six skipped keys. */
typedef struct fixture {
    uint8_t apk[32], ask[32], bpk[32], bsk[32], cpk[32], csk[32];
    rbx_prekeys *pk;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t bundlelen;
    rbx_session *alice, *alice0, *bob0, *bob;
    tu_msg first, reply, second;
    uint8_t *blob;
    size_t bloblen;
    char json[RBX_KEYPAIR_JSONBYTES];
    char *content;
    char nonce[RBX_NONCE_B64BYTES];
} fixture;

static const char baseline_pt[] = "a baseline envelope of today's format";

/* profile: the corpus was written for version 1 (profile 0, hmac); cases
 * with `profile = 2` use version 2. */
static void fixture_make(fixture *fx, uint64_t seed, int he, int handshake_only, unsigned profile)
{
    rbx_session_opts opts = { profile, he };
    rbx_bundle b;
    memset(fx, 0, sizeof *fx);
    tu_rng_seed(seed);
    ck_assert_int_eq(rbx_keypair_generate(fx->apk, fx->ask), 0);
    ck_assert_int_eq(rbx_keypair_generate(fx->bpk, fx->bsk), 0);
    ck_assert_int_eq(rbx_keypair_generate(fx->cpk, fx->csk), 0);
    ck_assert_int_eq(rbx_prekeys_new(&fx->pk, fx->bpk, fx->bsk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(fx->pk, 1, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_add_onetime(fx->pk, 100, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_bundle(fx->bundle, sizeof fx->bundle, &fx->bundlelen, fx->pk, 1, 100), 0);
    ck_assert_int_eq(rbx_bundle_parse(&b, fx->bundle, fx->bundlelen), 0);
    ck_assert_int_eq(rbx_session_initiate(&fx->alice, fx->apk, fx->ask, &b, &opts), 0);
    tu_send(&fx->first, fx->alice, "first message", 13);
    /* The baseline envelope, Alice to Bob. */
    size_t cap = RBX_BASELINE_B64LEN(sizeof baseline_pt - 1);
    fx->content = malloc(cap);
    ck_assert_ptr_nonnull(fx->content);
    ck_assert_int_eq(rbx_baseline_seal(fx->content, cap, fx->nonce, (const uint8_t *)baseline_pt,
                                       sizeof baseline_pt - 1, fx->bpk, fx->ask), 0);
    ck_assert_int_eq(rbx_keypair_to_json(fx->json, sizeof fx->json, fx->apk, fx->ask), 0);
    if (handshake_only) return;

    uint8_t pt[64];
    size_t ptlen;
    uint32_t used;
    ck_assert_int_eq(rbx_session_accept(&fx->bob, pt, sizeof pt, &ptlen, &used, fx->pk, NULL,
                                        fx->first.wire, fx->first.len), 0);
    ck_assert_uint_eq(used, 100);
    fx->bob0 = tu_clone(fx->bob);
    tu_send(&fx->reply, fx->bob, "reply", 5);
    fx->alice0 = tu_clone(fx->alice);
    ck_assert_int_eq(tu_recv(fx->alice, &fx->reply, "reply", 5), 0);
    tu_msg m[7];
    for (int i = 0; i < 7; i++) tu_send(&m[i], fx->alice, "again", 5);
    ck_assert_int_eq(tu_recv(fx->bob, &m[6], "again", 5), 0);
    fx->second = m[0]; /* a normal Message in Bob's current chain (not yet received) */
    for (int i = 1; i < 7; i++) free(m[i].wire);
    fx->blob = tu_blob(fx->bob, &fx->bloblen);
}

static void fixture_free(fixture *fx)
{
    rbx_prekeys_free(fx->pk);
    rbx_session_free(fx->alice);
    rbx_session_free(fx->alice0);
    rbx_session_free(fx->bob0);
    rbx_session_free(fx->bob);
    free(fx->first.wire);
    free(fx->reply.wire);
    free(fx->second.wire);
    free(fx->blob);
    free(fx->content);
    tu_rng_system();
}

/* ------------------------------------------------------------ arguments */

static const struct {
    const char *name;
    int code;
} codes[] = {
    { "RBX_OK", RBX_OK },
    { "RBX_E_INVALID", RBX_E_INVALID },
    { "RBX_E_NOMEM", RBX_E_NOMEM },
    { "RBX_E_MALFORMED", RBX_E_MALFORMED },
    { "RBX_E_VERSION", RBX_E_VERSION },
    { "RBX_E_AUTH", RBX_E_AUTH },
    { "RBX_E_SIGNATURE", RBX_E_SIGNATURE },
    { "RBX_E_KEY", RBX_E_KEY },
    { "RBX_E_UNKNOWN_PREKEY", RBX_E_UNKNOWN_PREKEY },
    { "RBX_E_PREKEY_REUSED", RBX_E_PREKEY_REUSED },
    { "RBX_E_IDENTITY_CHANGED", RBX_E_IDENTITY_CHANGED },
    { "RBX_E_REPLAY", RBX_E_REPLAY },
    { "RBX_E_LIMIT", RBX_E_LIMIT },
    { "RBX_E_TOO_BIG", RBX_E_TOO_BIG },
    { "RBX_E_BUFFER", RBX_E_BUFFER },
    { "RBX_E_STATE", RBX_E_STATE },
};

static int code_of(const char *name)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(codes[i].name, name) == 0) return codes[i].code;
    ck_abort_msg("unknown expect code %s", name);
    return 1;
}

static const char *name_of(int code)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (codes[i].code == code) return codes[i].name;
    return "(other)";
}

/* A number: decimal, 0x hex, or MAX_WIRE / MAX_PT / B64_MAX, then any
 * number of +N / -N terms. */
static long long num(const char *s)
{
    long long v = 0;
    const char *p = s;
    int sign = 1;
    for (;;) {
        long long t;
        const char *end;
        if (strncmp(p, "MAX_WIRE", 8) == 0) {
            t = RBX_MAX_WIRE;
            end = p + 8;
        } else if (strncmp(p, "MAX_PT", 6) == 0) {
            t = RBX_MAX_PLAINTEXT;
            end = p + 6;
        } else if (strncmp(p, "B64_MAX", 7) == 0) {
            t = (long long)RBX_BASELINE_B64LEN(RBX_MAX_PLAINTEXT) - 1;
            end = p + 7;
        } else {
            char *e;
            t = strtoll(p, &e, 0);
            end = e;
            ck_assert_msg(end != p, "bad number %s", s);
        }
        v += sign * t;
        if (*end == '+') sign = 1;
        else if (*end == '-') sign = -1;
        else {
            ck_assert_msg(*end == '\0', "bad number %s", s);
            return v;
        }
        p = end + 1;
    }
}

/* Named public keys of section 2's LOW and CANON lists, and the fixture's
 * third identity (a valid key nobody in the transcript uses). */
static void hexarg(buf *out, const char *s, const fixture *fx)
{
    static const char *named[][2] = {
        { "zero32", "0000000000000000000000000000000000000000000000000000000000000000" },
        { "one32", "0100000000000000000000000000000000000000000000000000000000000000" },
        { "order8a", "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800" },
        { "order8b", "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157" },
        { "pminus1", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" },
        { "p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" },
        { "highbit", "0900000000000000000000000000000000000000000000000000000000000080" },
    };
    char *dup = strdup(s), *save = NULL;
    ck_assert_ptr_nonnull(dup);
    buf_set(out, "", 0);
    for (char *t = strtok_r(dup, "+", &save); t != NULL; t = strtok_r(NULL, "+", &save)) {
        const char *hex = t;
        for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
            if (strcmp(t, named[i][0]) == 0) hex = named[i][1];
        if (strcmp(t, "ik_c") == 0) {
            buf_splice(out, out->n, 0, fx->cpk, 32);
        } else if (strncmp(t, "zeros:", 6) == 0) {
            size_t n = (size_t)num(t + 6);
            buf_resize(out, out->n + n, 0);
        } else {
            uint8_t tmp[512];
            size_t len = 0;
            const char *end;
            ck_assert_msg(sodium_hex2bin(tmp, sizeof tmp, hex, strlen(hex), NULL, &len, &end) == 0 &&
                              *end == '\0', "bad hex argument %s", t);
            buf_splice(out, out->n, 0, tmp, len);
        }
    }
    free(dup);
}

/* ------------------------------------------------------------ protobuf fields */

typedef struct pbf {
    size_t start, end;       /* the whole field */
    size_t keylen;
    size_t lenoff, lenlen;   /* length prefix (wire type 2) */
    size_t voff, vlen;       /* varint bytes (type 0) or contents (type 2) */
    uint32_t num, wt;
    uint64_t v;
} pbf;

static size_t varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/* The first field numbered num of the (valid-so-far) encoding. */
static pbf field(const buf *b, uint32_t num, const char *op)
{
    size_t off = 0;
    while (off < b->n) {
        pbf f = { .start = off };
        uint64_t key;
        ck_assert_msg(tu_varint_read(b->p + off, b->n - off, &key, &f.keylen) == 0, "%s: bad key", op);
        f.num = (uint32_t)(key >> 3);
        f.wt = (uint32_t)(key & 7);
        off += f.keylen;
        if (f.wt == 0) {
            f.voff = off;
            ck_assert_msg(tu_varint_read(b->p + off, b->n - off, &f.v, &f.vlen) == 0, "%s: bad varint", op);
        } else {
            ck_assert_msg(f.wt == 2, "%s: wire type %u", op, f.wt);
            f.lenoff = off;
            ck_assert_msg(tu_varint_read(b->p + off, b->n - off, &f.v, &f.lenlen) == 0, "%s: bad len", op);
            f.voff = off + f.lenlen;
            f.vlen = (size_t)f.v;
            ck_assert_msg(f.voff + f.vlen <= b->n, "%s: field overruns", op);
        }
        f.end = f.voff + f.vlen;
        if (f.num == num) return f;
        off = f.end;
    }
    ck_abort_msg("%s: no field %u", op, num);
    return (pbf){ 0 };
}

/* Replace the contents of length-delimited field f, fixing its prefix. */
static void field_set_bytes(buf *b, const pbf *f, const uint8_t *p, size_t n)
{
    uint8_t pre[10];
    size_t pl = varint_put(pre, n);
    buf nb = { 0 };
    buf_set(&nb, pre, pl);
    buf_splice(&nb, pl, 0, p, n);
    buf_splice(b, f->lenoff, f->end - f->lenoff, nb.p, nb.n);
    free(nb.p);
}

/* ------------------------------------------------------------ mutations */

static size_t offset(const buf *b, const char *s)
{
    long long o = num(s);
    if (o < 0) o += (long long)b->n;
    ck_assert_msg(o >= 0 && (size_t)o < b->n + 1, "offset %s out of range", s);
    return (size_t)o;
}

static void apply(buf *b, const char *opstr, const fixture *fx);

static void apply_all(buf *b, const char *list, const fixture *fx)
{
    if (list == NULL) return;
    char *dup = strdup(list), *save = NULL;
    ck_assert_ptr_nonnull(dup);
    for (char *t = strtok_r(dup, ";", &save); t != NULL; t = strtok_r(NULL, ";", &save)) {
        while (*t == ' ') t++;
        size_t n = strlen(t);
        while (n > 0 && t[n - 1] == ' ') t[--n] = '\0';
        if (n > 0) apply(b, t, fx);
    }
    free(dup);
}

static void apply(buf *b, const char *opstr, const fixture *fx)
{
    char op[64];
    const char *rest = strchr(opstr, ':');
    size_t oplen = rest ? (size_t)(rest - opstr) : strlen(opstr);
    ck_assert_uint_lt(oplen, sizeof op);
    memcpy(op, opstr, oplen);
    op[oplen] = '\0';
    rest = rest ? rest + 1 : "";
    char a[3][256] = { "", "", "" };
    {
        const char *p = rest;
        for (int i = 0; i < 3 && *p; i++) {
            const char *c = (i < 2) ? strchr(p, ':') : NULL;
            size_t l = c ? (size_t)(c - p) : strlen(p);
            ck_assert_uint_lt(l, sizeof a[i]);
            memcpy(a[i], p, l);
            a[i][l] = '\0';
            p = c ? c + 1 : p + l;
        }
    }
    buf h = { 0 };
    /* Everything after the first argument (hex arguments may hold "zeros:N"). */
    const char *rest1 = strchr(rest, ':');
    rest1 = rest1 ? rest1 + 1 : "";

    if (strcmp(op, "inner") == 0) {
        pbf f = field(b, 8, opstr);
        buf in = { 0 };
        buf_set(&in, b->p + f.voff, f.vlen);
        apply(&in, rest, fx);
        field_set_bytes(b, &f, in.p, in.n);
        free(in.p);
    } else if (strcmp(op, "truncate") == 0) {
        b->n = offset(b, a[0]);
    } else if (strcmp(op, "resize") == 0) {
        buf_resize(b, (size_t)num(a[0]), 0);
    } else if (strcmp(op, "fill") == 0) {
        b->n = 0;
        buf_resize(b, (size_t)num(a[0]), (uint8_t)a[1][0]);
    } else if (strcmp(op, "set-byte") == 0 || strcmp(op, "xor-byte") == 0 ||
               strcmp(op, "and-byte") == 0) {
        size_t o = offset(b, a[0]);
        ck_assert_uint_lt(o, b->n);
        uint8_t v = (uint8_t)strtoul(a[1], NULL, 16);
        if (op[0] == 's') b->p[o] = v;
        else if (op[0] == 'x') b->p[o] ^= v;
        else b->p[o] &= v;
    } else if (strcmp(op, "set-be32") == 0) {
        size_t o = offset(b, a[0]);
        ck_assert_uint_le(o + 4, b->n);
        uint32_t v = (uint32_t)num(a[1]);
        for (int i = 0; i < 4; i++) b->p[o + i] = (uint8_t)(v >> (24 - 8 * i));
    } else if (strcmp(op, "copy") == 0) {
        size_t s = offset(b, a[0]), d = offset(b, a[1]), l = (size_t)num(a[2]);
        ck_assert_uint_le(s + l, b->n);
        ck_assert_uint_le(d + l, b->n);
        memmove(b->p + d, b->p + s, l);
    } else if (strcmp(op, "delete") == 0) {
        size_t o = offset(b, a[0]), l = (size_t)num(a[1]);
        buf_splice(b, o, l, NULL, 0);
    } else if (strcmp(op, "append") == 0) {
        hexarg(&h, rest, fx);
        buf_splice(b, b->n, 0, h.p, h.n);
    } else if (strcmp(op, "prepend") == 0) {
        hexarg(&h, rest, fx);
        buf_splice(b, 0, 0, h.p, h.n);
    } else if (strcmp(op, "insert") == 0) {
        hexarg(&h, rest1, fx);
        buf_splice(b, offset(b, a[0]), 0, h.p, h.n);
    } else if (strcmp(op, "append-text") == 0) {
        buf_splice(b, b->n, 0, (const uint8_t *)rest, strlen(rest));
    } else if (strcmp(op, "b64-xor") == 0) {
        /* Decode standard base64, flip a byte, encode again. */
        size_t cap = b->n, len = 0;
        uint8_t *bin = malloc(cap + 1);
        ck_assert_ptr_nonnull(bin);
        ck_assert_int_eq(sodium_base642bin(bin, cap + 1, (const char *)b->p, b->n, NULL, &len, NULL,
                                           sodium_base64_VARIANT_ORIGINAL), 0);
        long long o = num(a[0]);
        if (o < 0) o += (long long)len;
        ck_assert(o >= 0 && (size_t)o < len);
        bin[o] ^= (uint8_t)strtoul(a[1], NULL, 16);
        size_t elen = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
        char *enc = malloc(elen);
        ck_assert_ptr_nonnull(enc);
        sodium_bin2base64(enc, elen, bin, len, sodium_base64_VARIANT_ORIGINAL);
        buf_set(b, enc, elen - 1);
        free(enc);
        free(bin);
    } else {
        /* Field-level operations on a protobuf encoding. */
        uint32_t fnum = (uint32_t)num(a[0]);
        pbf f = field(b, fnum, opstr);
        uint8_t tmp[16];
        if (strcmp(op, "truncate-before") == 0) {
            b->n = f.start;
        } else if (strcmp(op, "truncate-after-key") == 0) {
            b->n = f.start + f.keylen;
        } else if (strcmp(op, "truncate-after-len") == 0) {
            ck_assert_uint_eq(f.wt, 2);
            b->n = f.voff;
        } else if (strcmp(op, "truncate-mid") == 0) {
            b->n = f.voff + f.vlen / 2;
        } else if (strcmp(op, "drop") == 0) {
            buf_splice(b, f.start, f.end - f.start, NULL, 0);
        } else if (strcmp(op, "dup") == 0) {
            buf c = { 0 };
            buf_set(&c, b->p + f.start, f.end - f.start);
            buf_splice(b, f.end, 0, c.p, c.n);
            free(c.p);
        } else if (strcmp(op, "swap") == 0) {
            pbf g = field(b, (uint32_t)num(a[1]), opstr);
            ck_assert_uint_le(f.end, g.start);
            buf x = { 0 };
            buf_set(&x, b->p, f.start);
            buf_splice(&x, x.n, 0, b->p + g.start, g.end - g.start);
            buf_splice(&x, x.n, 0, b->p + f.end, g.start - f.end);
            buf_splice(&x, x.n, 0, b->p + f.start, f.end - f.start);
            buf_splice(&x, x.n, 0, b->p + g.end, b->n - g.end);
            free(b->p);
            *b = x;
        } else if (strcmp(op, "set-varint") == 0) {
            ck_assert_uint_eq(f.wt, 0);
            size_t l = varint_put(tmp, (uint64_t)num(a[1]));
            buf_splice(b, f.voff, f.vlen, tmp, l);
        } else if (strcmp(op, "nonmin") == 0) {
            /* The same value with one redundant continuation byte. */
            size_t o = f.wt == 0 ? f.voff : f.lenoff;
            size_t l = varint_put(tmp, f.v);
            tmp[l - 1] |= 0x80;
            tmp[l++] = 0x00;
            buf_splice(b, o, f.wt == 0 ? f.vlen : f.lenlen, tmp, l);
        } else if (strcmp(op, "set-bytes") == 0) {
            ck_assert_uint_eq(f.wt, 2);
            hexarg(&h, rest1, fx);
            field_set_bytes(b, &f, h.p, h.n);
        } else if (strcmp(op, "resize-field") == 0) {
            ck_assert_uint_eq(f.wt, 2);
            buf c = { 0 };
            buf_set(&c, b->p + f.voff, f.vlen);
            buf_resize(&c, (size_t)num(a[1]), 0);
            field_set_bytes(b, &f, c.p, c.n);
            free(c.p);
        } else if (strcmp(op, "set-len") == 0) {
            ck_assert_uint_eq(f.wt, 2);
            size_t l = varint_put(tmp, (uint64_t)num(a[1]));
            buf_splice(b, f.lenoff, f.lenlen, tmp, l);
        } else if (strcmp(op, "xor-field") == 0) {
            long long o = num(a[1]);
            if (o < 0) o += (long long)f.vlen;
            ck_assert(o >= 0 && (size_t)o < f.vlen);
            b->p[f.voff + (size_t)o] ^= (uint8_t)strtoul(a[2], NULL, 16);
        } else if (strcmp(op, "wire-type") == 0) {
            ck_assert_uint_eq(f.keylen, 1);
            b->p[f.start] = (uint8_t)((fnum << 3) | (uint32_t)num(a[1]));
        } else if (strcmp(op, "insert-before") == 0) {
            hexarg(&h, rest1, fx);
            buf_splice(b, f.start, 0, h.p, h.n);
        } else {
            ck_abort_msg("unknown mutation %s", opstr);
        }
    }
    free(h.p);
}

/* Text bases: {PK} {SK} (Alice), {PK2} {SK2} (a third party) and the escapes
 * \t \n \r \\ \xHH (the vector format trims blanks at both ends). */
static void text_arg(buf *out, const char *s, const fixture *fx)
{
    char pk[RBX_KEY_B64BYTES], sk[RBX_KEY_B64BYTES], pk2[RBX_KEY_B64BYTES], sk2[RBX_KEY_B64BYTES];
    rbx_key_to_base64(pk, fx->apk);
    rbx_key_to_base64(sk, fx->ask);
    rbx_key_to_base64(pk2, fx->cpk);
    rbx_key_to_base64(sk2, fx->csk);
    buf_set(out, "", 0);
    while (*s) {
        const char *ins = NULL;
        size_t skip = 0;
        uint8_t c;
        if (strncmp(s, "{PK}", 4) == 0) ins = pk, skip = 4;
        else if (strncmp(s, "{SK}", 4) == 0) ins = sk, skip = 4;
        else if (strncmp(s, "{PK2}", 5) == 0) ins = pk2, skip = 5;
        else if (strncmp(s, "{SK2}", 5) == 0) ins = sk2, skip = 5;
        if (ins != NULL) {
            buf_splice(out, out->n, 0, (const uint8_t *)ins, strlen(ins));
            s += skip;
            continue;
        }
        if (s[0] == '\\' && s[1] != '\0') {
            switch (s[1]) {
            case 't': c = '\t'; s += 2; break;
            case 'n': c = '\n'; s += 2; break;
            case 'r': c = '\r'; s += 2; break;
            case '\\': c = '\\'; s += 2; break;
            case 'x': {
                char hx[3] = { s[2], s[2] ? s[3] : 0, 0 };
                c = (uint8_t)strtoul(hx, NULL, 16);
                s += 4;
                break;
            }
            default: c = (uint8_t)*s++; break;
            }
        } else {
            c = (uint8_t)*s++;
        }
        buf_splice(out, out->n, 0, &c, 1);
    }
}

/* ------------------------------------------------------------ running a case */

static int decrypt_checked(rbx_session *s, const buf *in, const char *name)
{
    size_t cap = in->n + 16, ptlen = 777;
    uint8_t *pt = malloc(cap);
    ck_assert_ptr_nonnull(pt);
    int rc = rbx_session_decrypt(s, pt, cap, &ptlen, in->p, in->n);
    if (rc != 0) ck_assert_msg(ptlen == 0, "%s: ptlen %zu after error", name, ptlen);
    free(pt);
    return rc;
}

static void base_bytes(buf *b, const char *base, const fixture *fx)
{
    if (strcmp(base, "bundle") == 0) buf_set(b, fx->bundle, fx->bundlelen);
    else if (strcmp(base, "prekey_message") == 0) buf_set(b, fx->first.wire, fx->first.len);
    else if (strcmp(base, "message") == 0 || strcmp(base, "message_he") == 0)
        buf_set(b, fx->reply.wire, fx->reply.len);
    else if (strcmp(base, "message_bob") == 0) buf_set(b, fx->second.wire, fx->second.len);
    else if (strcmp(base, "blob") == 0) buf_set(b, fx->blob, fx->bloblen);
    else if (strcmp(base, "json") == 0) buf_set(b, fx->json, strlen(fx->json));
    else if (strcmp(base, "raw_key") == 0) {
        buf_set(b, fx->apk, 32);
        buf_splice(b, 32, 0, fx->ask, 32);
    } else if (strcmp(base, "base64_key") == 0) {
        char s[RBX_KEY_B64BYTES];
        rbx_key_to_base64(s, fx->apk);
        buf_set(b, s, strlen(s));
    } else if (strcmp(base, "content") == 0) buf_set(b, fx->content, strlen(fx->content));
    else if (strcmp(base, "nonce") == 0) buf_set(b, fx->nonce, strlen(fx->nonce));
    else ck_abort_msg("unknown base %s", base);
}

static void run_block(const tv_block *blk)
{
    const char *name = tv_get(blk, "case");
    const char *target = tv_get(blk, "target");
    const char *expect = tv_get(blk, "expect");
    ck_assert_msg(name && target && expect, "a case needs case, target and expect");
    int want = code_of(expect);
    const char *seed_s = tv_get(blk, "seed");
    const char *he_s = tv_get(blk, "he");
    const char *profile_s = tv_get(blk, "profile");
    unsigned profile = profile_s ? (unsigned)num(profile_s) : RBX_PROFILE_HMAC;
    const char *base = tv_get(blk, "base");
    const char *setup = tv_get(blk, "setup");
    int he = strcmp(target, "message_he") == 0 || (he_s && strcmp(he_s, "1") == 0);
    int handshake = strcmp(target, "prekey_message") == 0;
    fixture fx;
    fixture_make(&fx, seed_s ? (uint64_t)num(seed_s) : 1, he, handshake, profile);
    tu_rng_system();

    if (base == NULL) {
        if (strcmp(target, "baseline") == 0) {
            const char *part = tv_get(blk, "part");
            base = part != NULL && strcmp(part, "nonce") == 0 ? "nonce" : "content";
        } else if (strcmp(target, "prekey_repeat") == 0) {
            base = "prekey_message";
        } else if (strcmp(target, "encrypt") == 0 || strcmp(target, "baseline_seal") == 0) {
            base = "none";
        } else {
            base = target;
        }
    }
    int cross = (strcmp(base, "message_he") == 0 && !he) || (strcmp(base, "message") == 0 && he &&
                                                              strcmp(target, "encrypt") != 0);
    buf in = { 0 };
    const char *text = tv_get(blk, "text");
    const char *hex = tv_get(blk, "input");
    if (text != NULL) text_arg(&in, text, &fx);
    else if (hex != NULL) hexarg(&in, hex, &fx);
    else if (cross) {
        /* The other header form: the same transcript with header
         * encryption switched. */
        fixture other;
        fixture_make(&other, seed_s ? (uint64_t)num(seed_s) : 1, !he, 0, profile);
        tu_rng_system();
        buf_set(&in, other.reply.wire, other.reply.len);
        fixture_free(&other);
    } else if (strcmp(base, "none") != 0) base_bytes(&in, base, &fx);
    else buf_set(&in, "", 0);
    if (tv_get(blk, "mutate") != NULL) {
        /* A mutation that leaves the bytes as they were tests nothing. */
        buf orig = { 0 };
        buf_set(&orig, in.p, in.n);
        apply_all(&in, tv_get(blk, "mutate"), &fx);
        ck_assert_msg(in.n != orig.n || memcmp(in.p, orig.p, in.n) != 0, "%s: mutation is a no-op", name);
        free(orig.p);
    }

    int rc;
    if (strcmp(target, "message") == 0 || strcmp(target, "message_he") == 0 ||
        strcmp(target, "message_bob") == 0 || strcmp(target, "prekey_repeat") == 0) {
        /* Fed to a session: Alice before the reply, or Bob after the handshake. */
        int to_bob = strcmp(target, "message_bob") == 0 || strcmp(target, "prekey_repeat") == 0;
        rbx_session *s = to_bob ? fx.bob : fx.alice0;
        const tu_msg *orig = to_bob ? &fx.second : &fx.reply;
        size_t before_len;
        uint8_t *before = tu_blob(s, &before_len);
        rc = decrypt_checked(s, &in, name);
        if (rc != 0) {
            tu_assert_state(s, before, before_len);
            /* Still usable: the genuine message decrypts. */
            ck_assert_msg(tu_recv(s, orig, NULL, 0) == 0, "%s: session unusable after error", name);
        }
        free(before);
    } else if (strcmp(target, "prekey_message") == 0) {
        uint8_t pt[128];
        size_t ptlen = 777;
        uint32_t used = 5;
        rbx_session *s = (rbx_session *)&fx; /* must be overwritten with NULL */
        if (setup != NULL && strcmp(setup, "consume") == 0) {
            ck_assert_int_eq(rbx_session_accept(&s, pt, sizeof pt, &ptlen, &used, fx.pk, NULL,
                                                fx.first.wire, fx.first.len), 0);
            rbx_session_free(s);
        }
        const uint8_t *pinned = NULL;
        if (setup != NULL && strcmp(setup, "pinned-other") == 0) pinned = fx.cpk;
        size_t count = rbx_prekeys_onetime_count(fx.pk);
        uint32_t ids[8], ids_after[8];
        size_t nids = rbx_prekeys_onetime_ids(ids, 8, fx.pk);
        uint8_t *ptbuf = malloc(in.n + 16);
        ck_assert_ptr_nonnull(ptbuf);
        rc = rbx_session_accept(&s, ptbuf, in.n + 16, &ptlen, &used, fx.pk, pinned, in.p, in.n);
        free(ptbuf);
        if (rc != 0) {
            ck_assert_msg(s == NULL, "%s: session returned on error", name);
            ck_assert_msg(ptlen == 0, "%s: ptlen after error", name);
            ck_assert_msg(used == UINT32_MAX, "%s: consumed id after error", name);
            ck_assert_msg(rbx_prekeys_onetime_count(fx.pk) == count, "%s: one-time count changed", name);
            ck_assert_uint_eq(rbx_prekeys_onetime_ids(ids_after, 8, fx.pk), nids);
            ck_assert(memcmp(ids, ids_after, nids * sizeof ids[0]) == 0);
            if (setup == NULL || strcmp(setup, "consume") != 0) {
                /* The genuine first message still completes the handshake. */
                ck_assert_int_eq(rbx_session_accept(&s, pt, sizeof pt, &ptlen, &used, fx.pk, NULL,
                                                    fx.first.wire, fx.first.len), 0);
                ck_assert_uint_eq(used, 100);
            }
        }
        rbx_session_free(s);
    } else if (strcmp(target, "bundle") == 0) {
        rbx_bundle b, zero;
        memset(&b, 0xaa, sizeof b);
        memset(&zero, 0, sizeof zero);
        rc = rbx_bundle_parse(&b, in.p, in.n);
        if (rc != 0) ck_assert_msg(memcmp(&b, &zero, sizeof b) == 0, "%s: output not zeroed", name);
    } else if (strcmp(target, "blob") == 0) {
        rbx_session *s = (rbx_session *)&fx;
        rc = rbx_session_deserialize(&s, in.p, in.n);
        if (rc != 0) ck_assert_msg(s == NULL, "%s: session returned on error", name);
        else rbx_session_free(s);
    } else if (strcmp(target, "json") == 0 || strcmp(target, "raw_key") == 0) {
        uint8_t pk[32], sk[32], z[32] = { 0 };
        memset(pk, 0xaa, 32);
        memset(sk, 0xaa, 32);
        rc = target[0] == 'j' ? rbx_keypair_from_json(pk, sk, (const char *)in.p, in.n)
                              : rbx_keypair_from_raw(pk, sk, in.p, in.n);
        if (rc != 0)
            ck_assert_msg(memcmp(pk, z, 32) == 0 && memcmp(sk, z, 32) == 0, "%s: keys not zeroed", name);
    } else if (strcmp(target, "base64_key") == 0) {
        uint8_t k[32], z[32] = { 0 };
        memset(k, 0xaa, 32);
        rc = rbx_key_from_base64(k, (const char *)in.p, in.n);
        if (rc != 0) ck_assert_msg(memcmp(k, z, 32) == 0, "%s: key not zeroed", name);
    } else if (strcmp(target, "baseline") == 0) {
        const char *part = tv_get(blk, "part");
        const char *peer_s = tv_get(blk, "peer");
        buf content = { 0 }, nonce = { 0 }, peer = { 0 };
        int plain = part != NULL && strcmp(part, "plain") == 0;
        if (part != NULL && strcmp(part, "nonce") == 0) {
            base_bytes(&content, "content", &fx);
            nonce = in;
            in = (buf){ 0 };
        } else {
            content = in;
            in = (buf){ 0 };
            base_bytes(&nonce, "nonce", &fx);
        }
        if (peer_s != NULL) hexarg(&peer, peer_s, &fx);
        else buf_set(&peer, fx.apk, 32);
        size_t cap = content.n + 1, ptlen = 777;
        uint8_t *pt = malloc(cap);
        ck_assert_ptr_nonnull(pt);
        rc = rbx_baseline_open(pt, cap, &ptlen, (const char *)content.p, content.n,
                               plain ? NULL : (const char *)nonce.p, nonce.n, peer.p, fx.bsk);
        if (rc != 0) ck_assert_msg(ptlen == 0, "%s: ptlen after error", name);
        if (peer_s == NULL && !plain) {
            /* The precomputed-key path must agree. */
            uint8_t k[RBX_BASELINE_KEYBYTES];
            ck_assert_int_eq(rbx_baseline_precompute(k, fx.apk, fx.bsk), 0);
            ptlen = 777;
            int rc2 = rbx_baseline_open_afternm(pt, cap, &ptlen, (const char *)content.p,
                                                content.n, (const char *)nonce.p, nonce.n, k);
            ck_assert_msg(rc2 == rc, "%s: afternm gives %s, open gives %s", name, name_of(rc2),
                          name_of(rc));
            if (rc != 0) ck_assert_uint_eq(ptlen, 0);
        }
        free(pt);
        free(content.p);
        free(nonce.p);
        free(peer.p);
    } else if (strcmp(target, "encrypt") == 0 || strcmp(target, "baseline_seal") == 0) {
        const char *ptlen_s = tv_get(blk, "ptlen");
        ck_assert_ptr_nonnull(ptlen_s);
        size_t ptlen = (size_t)num(ptlen_s);
        uint8_t *pt = calloc(ptlen ? ptlen : 1, 1);
        ck_assert_ptr_nonnull(pt);
        if (target[0] == 'e') {
            size_t before_len, outlen = 777, cap = rbx_session_wire_size(fx.alice, ptlen);
            uint8_t *before = tu_blob(fx.alice, &before_len);
            uint8_t *out = malloc(cap);
            ck_assert_ptr_nonnull(out);
            rc = rbx_session_encrypt(fx.alice, out, cap, &outlen, pt, ptlen);
            if (rc != 0) {
                ck_assert_msg(outlen == 0, "%s: outlen after error", name);
                tu_assert_state(fx.alice, before, before_len);
            }
            free(out);
            free(before);
        } else {
            const char *peer_s = tv_get(blk, "peer");
            buf peer = { 0 };
            if (peer_s != NULL) hexarg(&peer, peer_s, &fx);
            else buf_set(&peer, fx.bpk, 32);
            size_t cap = RBX_BASELINE_B64LEN(ptlen);
            char *content = malloc(cap), nonce[RBX_NONCE_B64BYTES];
            ck_assert_ptr_nonnull(content);
            rc = rbx_baseline_seal(content, cap, nonce, pt, ptlen, peer.p, fx.ask);
            free(content);
            free(peer.p);
        }
        free(pt);
    } else {
        ck_abort_msg("%s: unknown target %s", name, target);
        rc = 1;
    }
    ck_assert_msg(rc == want, "%s: got %s (%d), want %s", name, name_of(rc), rc, expect);
    free(in.p);
    fixture_free(&fx);
}

/* ------------------------------------------------------------ tests */

static size_t ncases;

START_TEST(badinput_case)
{
    tv_file *f = tv_load(CASES);
    ck_assert_uint_eq(f->nblocks, ncases);
    run_block(&f->blocks[_i]);
    tv_free(f);
}
END_TEST

/* The table itself: at least MIN_CASES named cases, names unique, every
 * expected code known, and enough of them errors. */
START_TEST(badinput_table)
{
    tv_file *f = tv_load(CASES);
    size_t errors = 0;
    for (size_t i = 0; i < f->nblocks; i++) {
        const char *name = tv_get(&f->blocks[i], "case");
        const char *expect = tv_get(&f->blocks[i], "expect");
        ck_assert_msg(name != NULL && expect != NULL, "block %zu lacks case or expect", i);
        if (code_of(expect) != RBX_OK) errors++;
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(name, tv_get(&f->blocks[j], "case")) != 0, "duplicate case %s", name);
    }
    ck_assert_uint_ge(errors, MIN_CASES);
    tv_free(f);
}
END_TEST

static size_t count_blocks(void)
{
    char path[1024], line[4096];
    snprintf(path, sizeof path, "%s/%s", RBX_SRCDIR, CASES);
    FILE *fp = fopen(path, "r");
    if (fp == NULL) return 0;
    size_t n = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "case", 4) == 0 && (p[4] == ' ' || p[4] == '=' || p[4] == '\t')) n++;
    }
    fclose(fp);
    return n;
}

Suite *suite_badinput(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("badinput");
    ncases = count_blocks();
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, badinput_table);
    tcase_add_loop_test(tc, badinput_case, 0, (int)ncases);
    suite_add_tcase(s, tc);
    return s;
}
