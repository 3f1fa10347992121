/* SPDX-License-Identifier: MIT
 * Accounts and device lists (PROTOCOL.md section 20): user and device ids,
 * device-list entries, whole-log verification with its exact errors, request
 * authentication, and base bundles with a one-time prekey. Statements and
 * digests are rebuilt here byte by byte from the spec, independently of
 * src/devlist.c and src/request.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rotation.h"
#include "sign.h"
#include "testutil.h"
#include "wire.h"

typedef struct kp {
    uint8_t pk[32], sk[32];
} kp;

/* Devices' keys A..E, F (a second key of a rotating device), X (a stranger
 * to the list), O and P (organisation roots). */
enum { KA, KB, KC, KD, KE, KF, KX, KO, KP, NKEYS };
static kp K[NKEYS];
#define USER "alice@example.org"
#define T0 1700000000U

static void keys_make(uint64_t seed)
{
    tu_rng_seed(seed);
    for (int i = 0; i < NKEYS; i++) ck_assert_int_eq(rbx_keypair_generate(K[i].pk, K[i].sk), 0);
}

typedef struct ent {
    uint8_t b[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t n;
    uint8_t hash[32];
} ent;

static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* The device-list statement as PROTOCOL.md 20.3 spells it. */
static size_t dl_statement(uint8_t *out, const rbx_devlist_entry *e)
{
    size_t n = 0, ul = strlen(e->user);
    memcpy(out, "ratchetbox-devlist-v1", 21);
    n = 21;
    out[n++] = (uint8_t)ul;
    memcpy(out + n, e->user, ul);
    n += ul;
    be64(out + n, e->seq);
    n += 8;
    memcpy(out + n, e->prev_hash, 32);
    n += 32;
    out[n++] = (uint8_t)e->op;
    be32(out + n, e->device);
    n += 4;
    memcpy(out + n, e->identity, 32);
    n += 32;
    be64(out + n, e->created);
    n += 8;
    out[n++] = (uint8_t)e->signer_kind;
    memcpy(out + n, e->signer, 32);
    return n + 32;
}

static void dl_subject(uint8_t out[61], const uint8_t *st, size_t sl)
{
    memcpy(out, "ratchetbox-devlist-subject-v1", 29);
    crypto_generichash(out + 29, 32, st, sl, NULL, 0);
}

/* Entry fields: op on the device of key `who` (its enrolment key `dev`,
 * which names its id), the key in the entry `who`, signed by `signer`. */
static rbx_devlist_entry fields(uint64_t seq, unsigned op, int dev, int who, int signer,
                                unsigned kind, const ent *prev)
{
    rbx_devlist_entry e = { 0 };
    strcpy(e.user, USER);
    e.seq = seq;
    if (prev != NULL) memcpy(e.prev_hash, prev->hash, 32);
    e.op = op;
    e.device = rbx_device_id(K[dev].pk);
    memcpy(e.identity, K[who].pk, 32);
    e.created = T0 + 100U * seq;
    e.signer_kind = kind;
    memcpy(e.signer, K[signer].pk, 32);
    return e;
}

static ent sign_ent(const rbx_devlist_entry *e, int signer, int subject)
{
    ent x;
    ck_assert_int_eq(rbx_devlist_entry_sign(x.b, sizeof x.b, &x.n, e, K[signer].sk,
                                            subject >= 0 ? K[subject].sk : NULL), 0);
    rbx_devlist_entry_hash(x.hash, x.b, x.n);
    return x;
}

/* The usual entry: the subject (for add and rotate) is `who`. */
static ent mk(uint64_t seq, unsigned op, int dev, int who, int signer, unsigned kind,
              const ent *prev)
{
    rbx_devlist_entry e = fields(seq, op, dev, who, signer, kind, prev);
    return sign_ent(&e, signer, op == RBX_DEVLIST_REMOVE ? -1 : who);
}

/* rbx_devlist_verify over log[0..n); on error *out must be zero. */
static int verify(rbx_devlist *out, const ent *log, size_t n, const rbx_devlist_pin *pin,
                  const uint8_t *org)
{
    const uint8_t **p = malloc((n + 1) * sizeof *p);
    size_t *l = malloc((n + 1) * sizeof *l);
    ck_assert(p != NULL && l != NULL);
    for (size_t i = 0; i < n; i++) {
        p[i] = log[i].b;
        l[i] = log[i].n;
    }
    memset(out, 0xaa, sizeof *out);
    int rc = rbx_devlist_verify(out, USER, p, l, n, pin, org);
    if (rc != 0) {
        static const rbx_devlist zero;
        ck_assert_mem_eq(out, &zero, sizeof zero);
    }
    free(p);
    free(l);
    return rc;
}

static int verify1(const ent *log, size_t n, const rbx_devlist_pin *pin, const uint8_t *org)
{
    rbx_devlist l;
    return verify(&l, log, n, pin, org);
}

/* ------------------------------------------------------------ identifiers */

START_TEST(identifiers)
{
    static const char *const good[] = { "a", "0", "alice", "alice@example.org", "a.b_c-d@e",
                                        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0" };
    static const char *const bad[] = { "", "Alice", "-a", ".a", "@a", "_a", "a b", "a/b", "a%2f",
                                       "a\xc3\xa9", "a\x7f", "a\n", "a:b",
                                       "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01" };
    ck_assert_uint_eq(strlen(good[RBX_COUNTOF(good) - 1]), 63);
    ck_assert_uint_eq(strlen(bad[RBX_COUNTOF(bad) - 1]), 64);
    for (size_t i = 0; i < RBX_COUNTOF(good); i++)
        ck_assert_msg(rbx_user_id_ok(good[i]) == 1, "%s", good[i]);
    for (size_t i = 0; i < RBX_COUNTOF(bad); i++)
        ck_assert_msg(rbx_user_id_ok(bad[i]) == 0, "%s", bad[i]);
    ck_assert_int_eq(rbx_user_id_ok(NULL), 0);
    /* Not terminated within RBX_USER_MAX bytes: refused without reading on. */
    char unterminated[RBX_USER_MAX];
    memset(unterminated, 'a', sizeof unterminated);
    ck_assert_int_eq(rbx_user_id_ok(unterminated), 0);

    /* Device id: the spec's derivation, recomputed here. */
    keys_make(20);
    for (int k = 0; k < NKEYS; k++) {
        uint8_t in[23 + 32], h[32];
        memcpy(in, "ratchetbox-device-id-v1", 23);
        memcpy(in + 23, K[k].pk, 32);
        crypto_generichash(h, 32, in, sizeof in, NULL, 0);
        uint32_t want = (((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) |
                         h[3]) & 0x7fffffffU;
        if (want == 0) want = 1;
        ck_assert_uint_eq(rbx_device_id(K[k].pk), want);
        ck_assert_uint_ge(rbx_device_id(K[k].pk), 1);
        ck_assert_uint_le(rbx_device_id(K[k].pk), RBX_DEVICE_ID_MAX);
    }
    ck_assert_uint_ne(rbx_device_id(K[KA].pk), rbx_device_id(K[KB].pk));
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ entries */

START_TEST(entry_round_trip)
{
    keys_make(21);
    rbx_devlist_entry e = fields(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL), got;
    ent x = sign_ent(&e, KA, KA);
    /* 2 + (2 + 17) + 2 + 34 + 2 + 6 + 34 + 6 + 2 + 34 + 66 + 66, device id >= 2^28. */
    size_t dv = rbx__varint_len(e.device);
    ck_assert_uint_eq(x.n, 2 + 2 + strlen(USER) + 2 + 34 + 2 + 1 + dv + 34 + 6 + 2 + 34 + 66 + 66);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, x.b, x.n), 0);
    ck_assert_mem_eq(&got, &e, sizeof e);
    /* Both signatures are over the statements PROTOCOL.md defines. */
    Rbx__Wire__DeviceListEntry *w = rbx__wire__device_list_entry__unpack(NULL, x.n, x.b);
    ck_assert_ptr_nonnull(w);
    uint8_t st[256], sub[61];
    size_t sl = dl_statement(st, &e);
    ck_assert_uint_eq(sl, 140 + strlen(USER));
    dl_subject(sub, st, sl);
    ck_assert_int_eq(rbx__xeddsa_verify(w->signature.data, K[KA].pk, st, sl), 0);
    ck_assert_int_eq(w->has_subject_signature, 1);
    ck_assert_int_eq(rbx__xeddsa_verify(w->subject_signature.data, K[KA].pk, sub, 61), 0);
    rbx__wire__device_list_entry__free_unpacked(w, NULL);

    /* A remove has no subject signature. */
    e = fields(2, RBX_DEVLIST_REMOVE, KB, KB, KA, RBX_SIGNER_DEVICE, &x);
    ent r = sign_ent(&e, KA, -1);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, r.b, r.n), 0);
    ck_assert_mem_eq(&got, &e, sizeof e);
    ck_assert_uint_eq(r.n, x.n - 66 - dv + rbx__varint_len(e.device));

    /* The longest entry: a 63-byte user, every integer at its maximum. */
    e = fields(UINT64_MAX, RBX_DEVLIST_ROTATE, KB, KC, KO, RBX_SIGNER_ORG, &x);
    memset(e.user, 'z', 63);
    e.user[63] = '\0';
    e.device = RBX_DEVICE_ID_MAX;
    e.created = UINT64_MAX;
    ent big = sign_ent(&e, KO, KC);
    ck_assert_uint_eq(big.n, 333);
    ck_assert_uint_le(big.n, RBX_DEVLIST_ENTRY_MAXBYTES);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, big.b, big.n), 0);
    ck_assert_mem_eq(&got, &e, sizeof e);

    /* Misuse of the signer, each refused before anything is drawn. */
    uint8_t out[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t n = 99;
    rbx_devlist_entry base = fields(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL), m;
    ck_assert_int_eq(rbx_devlist_entry_sign(out, x.n - 1, &n, &base, K[KA].sk, K[KA].sk),
                     RBX_E_BUFFER);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(rbx_devlist_entry_sign(out, x.n, &n, &base, K[KA].sk, K[KA].sk), 0);
    ck_assert_uint_eq(n, x.n);
    static const char *const bad_users[] = { "", "Alice", "-x", "a b" };
    for (size_t i = 0; i < RBX_COUNTOF(bad_users); i++) {
        m = base;
        strcpy(m.user, bad_users[i]);
        ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk),
                         RBX_E_INVALID);
    }
    m = base;
    memset(m.user, 'a', sizeof m.user); /* not terminated */
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_INVALID);
    m = base;
    m.seq = 0;
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_INVALID);
    static const unsigned bad_ops[] = { 0, 4, 255 };
    for (size_t i = 0; i < RBX_COUNTOF(bad_ops); i++) {
        m = base;
        m.op = bad_ops[i];
        ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk),
                         RBX_E_INVALID);
    }
    m = base;
    m.device = 0;
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_INVALID);
    m.device = RBX_DEVICE_ID_MAX + 1U;
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_INVALID);
    m = base;
    m.signer_kind = 2;
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_INVALID);
    /* Subject key: required for add and rotate, refused for remove. */
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &base, K[KA].sk, NULL), RBX_E_INVALID);
    m = base;
    m.op = RBX_DEVLIST_ROTATE;
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, NULL), RBX_E_INVALID);
    m.op = RBX_DEVLIST_REMOVE;
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_INVALID);
    /* Keys: a secret that is not the signer's or the subject's; invalid keys. */
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &base, K[KB].sk, K[KA].sk), RBX_E_KEY);
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &base, K[KA].sk, K[KB].sk), RBX_E_KEY);
    m = base;
    memset(m.identity, 0, 32);
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_KEY);
    m = base;
    memset(m.signer, 0xff, 32);
    ck_assert_int_eq(rbx_devlist_entry_sign(out, sizeof out, &n, &m, K[KA].sk, K[KA].sk), RBX_E_KEY);
    ck_assert_uint_eq(n, 0);

    /* The hash is BLAKE2b-256 of the encoding. */
    uint8_t h[32];
    crypto_generichash(h, 32, x.b, x.n, NULL, 0);
    ck_assert_mem_eq(h, x.hash, 32);
    tu_rng_system();
}
END_TEST

/* Rewrite an encoded entry through protoc-c's packer after fn changed it. */
static size_t repack(uint8_t *out, const ent *x, void (*fn)(Rbx__Wire__DeviceListEntry *w, void *c),
                     void *ctx)
{
    Rbx__Wire__DeviceListEntry *w = rbx__wire__device_list_entry__unpack(NULL, x->n, x->b);
    ck_assert_ptr_nonnull(w);
    char *user = w->user; /* set_user swaps in the test's own string */
    fn(w, ctx);
    size_t n = rbx__wire__device_list_entry__pack(w, out);
    w->user = user;
    rbx__wire__device_list_entry__free_unpacked(w, NULL);
    return n;
}

static void set_version(Rbx__Wire__DeviceListEntry *w, void *c) { w->version = *(uint32_t *)c; }
static void set_seq(Rbx__Wire__DeviceListEntry *w, void *c) { w->seq = *(uint64_t *)c; }
static void set_op(Rbx__Wire__DeviceListEntry *w, void *c) { w->op = *(uint32_t *)c; }
static void set_device(Rbx__Wire__DeviceListEntry *w, void *c) { w->device = *(uint32_t *)c; }
static void set_kind(Rbx__Wire__DeviceListEntry *w, void *c) { w->signer_kind = *(uint32_t *)c; }
static void set_user(Rbx__Wire__DeviceListEntry *w, void *c) { w->user = c; }
static void drop_subject(Rbx__Wire__DeviceListEntry *w, void *c)
{
    (void)c;
    w->has_subject_signature = 0;
}
static void short_len(Rbx__Wire__DeviceListEntry *w, void *c)
{
    switch (*(int *)c) {
    case 0: w->prev_hash.len = 31; break;
    case 1: w->identity.len = 31; break;
    case 2: w->signer.len = 31; break;
    case 3: w->signature.len = 63; break;
    default: w->subject_signature.len = 63; break;
    }
}
static void zero_identity(Rbx__Wire__DeviceListEntry *w, void *c)
{
    memset(*(int *)c ? w->signer.data : w->identity.data, 0, 32);
}
/* Signature slots: c[0] 0 signature, 1 subject; c[1..65) the new value. */
static void put_sig(Rbx__Wire__DeviceListEntry *w, void *c)
{
    const uint8_t *p = c;
    if (p[0] == 0) memcpy(w->signature.data, p + 1, 64);
    else memcpy(w->subject_signature.data, p + 1, 64);
}

START_TEST(entry_malformed)
{
    keys_make(22);
    rbx_devlist_entry got;
    static const rbx_devlist_entry zero;
    ent x = mk(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    ent r = mk(2, RBX_DEVLIST_REMOVE, KB, KB, KA, RBX_SIGNER_DEVICE, &x);
    const ent *both[] = { &x, &r };
    uint8_t buf[RBX_DEVLIST_ENTRY_MAXBYTES + 64];
    for (size_t k = 0; k < 2; k++) {
        const ent *y = both[k];
        /* Every truncation. */
        for (size_t len = 0; len < y->n; len++) {
            memset(&got, 0x55, sizeof got);
            ck_assert_msg(rbx_devlist_entry_parse(&got, y->b, len) == RBX_E_MALFORMED, "len %zu", len);
            ck_assert_mem_eq(&got, &zero, sizeof zero);
        }
        /* Every bit flip is refused, with the output zeroed. */
        memcpy(buf, y->b, y->n);
        for (size_t bit = 0; bit < 8 * y->n; bit++) {
            buf[bit / 8] ^= (uint8_t)(1U << (bit % 8));
            memset(&got, 0x55, sizeof got);
            int rc = rbx_devlist_entry_parse(&got, buf, y->n);
            ck_assert_msg(rc == RBX_E_MALFORMED || rc == RBX_E_VERSION || rc == RBX_E_KEY ||
                          rc == RBX_E_SIGNATURE, "bit %zu: %d", bit, rc);
            ck_assert_mem_eq(&got, &zero, sizeof zero);
            buf[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        }
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, y->n), 0);
        /* Trailing byte, trailing unknown field, unknown field inside. */
        buf[y->n] = 0;
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, y->n + 1), RBX_E_MALFORMED);
        buf[y->n] = 0x68; /* field 13, varint */
        buf[y->n + 1] = 0x01;
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, y->n + 2), RBX_E_MALFORMED);
        buf[0] = 0x08;
        buf[1] = 0x01;
        buf[2] = 0x68;
        buf[3] = 0x01;
        memcpy(buf + 4, y->b + 2, y->n - 2);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, y->n + 2), RBX_E_MALFORMED);
        /* Version duplicated; fields reordered (user before version). */
        buf[0] = 0x08;
        buf[1] = 0x01;
        memcpy(buf + 2, y->b, y->n);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, y->n + 2), RBX_E_MALFORMED);
        ck_assert_uint_eq(y->b[2], 0x12);
        size_t ul = y->b[3];
        memcpy(buf, y->b + 2, 2 + ul);
        memcpy(buf + 2 + ul, y->b, 2);
        memcpy(buf + 4 + ul, y->b + 4 + ul, y->n - 4 - ul);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, y->n), RBX_E_MALFORMED);
    }
    /* A non-minimal varint: seq 1 as 81 00. */
    size_t so = 4 + strlen(USER);
    ck_assert_uint_eq(x.b[so], 0x18);
    ck_assert_uint_eq(x.b[so + 1], 0x01);
    memcpy(buf, x.b, so + 1);
    buf[so + 1] = 0x81;
    buf[so + 2] = 0x00;
    memcpy(buf + so + 3, x.b + so + 2, x.n - so - 2);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, x.n + 1), RBX_E_MALFORMED);
    /* Over the maximum length, whatever it holds. */
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, RBX_DEVLIST_ENTRY_MAXBYTES + 1),
                     RBX_E_MALFORMED);

    /* Field contents, through protoc-c's packer. */
    size_t n;
    uint32_t v32 = 2;
    n = repack(buf, &x, set_version, &v32);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_VERSION);
    uint64_t v64 = 0;
    n = repack(buf, &x, set_seq, &v64);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    static const uint32_t bad_ops[] = { 0, 4, 1000 };
    for (size_t i = 0; i < RBX_COUNTOF(bad_ops); i++) {
        v32 = bad_ops[i];
        n = repack(buf, &r, set_op, &v32);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    }
    static const uint32_t bad_devices[] = { 0, 0x80000000U, UINT32_MAX };
    for (size_t i = 0; i < RBX_COUNTOF(bad_devices); i++) {
        v32 = bad_devices[i];
        n = repack(buf, &x, set_device, &v32);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    }
    v32 = 2;
    n = repack(buf, &x, set_kind, &v32);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    static char u0[] = "", u1[] = "Alice", u2[] = "a b", u3[65];
    memset(u3, 'a', 64);
    char *users[] = { u0, u1, u2, u3 };
    for (size_t i = 0; i < RBX_COUNTOF(users); i++) {
        n = repack(buf, &x, set_user, users[i]);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    }
    for (int i = 0; i < 5; i++) {
        n = repack(buf, &x, short_len, &i);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    }
    /* The possession signature missing from an add, and present on a remove
     * (an add's, moved there by turning the op). */
    n = repack(buf, &x, drop_subject, NULL);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    v32 = RBX_DEVLIST_REMOVE;
    n = repack(buf, &x, set_op, &v32);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    v32 = RBX_DEVLIST_ROTATE;
    n = repack(buf, &r, set_op, &v32);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_MALFORMED);
    /* Keys of low order. */
    for (int which = 0; which < 2; which++) {
        n = repack(buf, &x, zero_identity, &which);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_KEY);
    }
    tu_rng_system();
}
END_TEST

START_TEST(entry_signatures)
{
    keys_make(23);
    rbx_devlist_entry got, e = fields(2, RBX_DEVLIST_ADD, KB, KB, KA, RBX_SIGNER_DEVICE, NULL);
    memset(e.prev_hash, 7, 32);
    ent x = sign_ent(&e, KA, KB);
    uint8_t st[256], sub[61], sig[65], buf[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t sl = dl_statement(st, &e), n;
    dl_subject(sub, st, sl);
    Rbx__Wire__DeviceListEntry *w = rbx__wire__device_list_entry__unpack(NULL, x.n, x.b);
    ck_assert_ptr_nonnull(w);
    /* A stranger's valid signature of the statement in the signer's slot. */
    sig[0] = 0;
    rbx__xeddsa_sign(sig + 1, K[KX].sk, st, sl);
    n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    /* The possession signature by the signer instead of the subject (the
     * signer enrolling a key it does not hold), or by a stranger. */
    sig[0] = 1;
    rbx__xeddsa_sign(sig + 1, K[KA].sk, sub, sizeof sub);
    n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    rbx__xeddsa_sign(sig + 1, K[KX].sk, sub, sizeof sub);
    n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    /* The subject's signature over the statement itself (no subject domain). */
    rbx__xeddsa_sign(sig + 1, K[KB].sk, st, sl);
    n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    /* The two signatures swapped. */
    sig[0] = 0;
    memcpy(sig + 1, w->subject_signature.data, 64);
    n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    /* Every bit of both signatures. */
    size_t so = x.n - 66 - 64, ss = x.n - 64;
    for (size_t bit = 0; bit < 512; bit++) {
        for (int slot = 0; slot < 2; slot++) {
            size_t off = (slot ? ss : so) + bit / 8;
            x.b[off] ^= (uint8_t)(1U << (bit % 8));
            ck_assert_int_eq(rbx_devlist_entry_parse(&got, x.b, x.n), RBX_E_SIGNATURE);
            x.b[off] ^= (uint8_t)(1U << (bit % 8));
        }
    }
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, x.b, x.n), 0);
    /* A signed field changed, both signatures kept. */
    uint64_t seq = 3;
    n = repack(buf, &x, set_seq, &seq);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    rbx__wire__device_list_entry__free_unpacked(w, NULL);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ logs */

/* A, then A adds B, B adds C, C rotates to F (its id stays C's), A removes B:
 * devices A and C (key F). */
static size_t good_log(ent *log)
{
    log[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    log[1] = mk(2, RBX_DEVLIST_ADD, KB, KB, KA, RBX_SIGNER_DEVICE, &log[0]);
    log[2] = mk(3, RBX_DEVLIST_ADD, KC, KC, KB, RBX_SIGNER_DEVICE, &log[1]);
    log[3] = mk(4, RBX_DEVLIST_ROTATE, KC, KF, KC, RBX_SIGNER_DEVICE, &log[2]);
    log[4] = mk(5, RBX_DEVLIST_REMOVE, KB, KB, KA, RBX_SIGNER_DEVICE, &log[3]);
    return 5;
}

START_TEST(log_accepts)
{
    keys_make(24);
    ent log[8];
    size_t n = good_log(log);
    rbx_devlist l;
    ck_assert_int_eq(verify(&l, log, n, NULL, NULL), 0);
    ck_assert_uint_eq(l.ndevices, 2);
    ck_assert_uint_eq(l.devices[0].id, rbx_device_id(K[KA].pk));
    ck_assert_mem_eq(l.devices[0].identity, K[KA].pk, 32);
    ck_assert_uint_eq(l.devices[0].added_seq, 1);
    ck_assert_uint_eq(l.devices[1].id, rbx_device_id(K[KC].pk));
    ck_assert_mem_eq(l.devices[1].identity, K[KF].pk, 32);
    ck_assert_uint_eq(l.devices[1].added_seq, 3);
    ck_assert_uint_eq(l.head.seq, 5);
    ck_assert_mem_eq(l.head.hash, log[4].hash, 32);
    ck_assert_mem_eq(l.head.first_hash, log[0].hash, 32);
    ck_assert_uint_eq(l.head_created, T0 + 500U);
    /* Every prefix verifies too, with its own head. */
    for (size_t k = 1; k <= n; k++) {
        ck_assert_int_eq(verify(&l, log, k, NULL, NULL), 0);
        ck_assert_uint_eq(l.head.seq, k);
        ck_assert_mem_eq(l.head.hash, log[k - 1].hash, 32);
    }
    /* Continue: F (device C) removes itself; B comes back with a new add. */
    log[5] = mk(6, RBX_DEVLIST_REMOVE, KC, KF, KF, RBX_SIGNER_DEVICE, &log[4]);
    log[6] = mk(7, RBX_DEVLIST_ADD, KB, KB, KA, RBX_SIGNER_DEVICE, &log[5]);
    ck_assert_int_eq(verify(&l, log, 7, NULL, NULL), 0);
    ck_assert_uint_eq(l.ndevices, 2);
    ck_assert_uint_eq(l.devices[1].id, rbx_device_id(K[KB].pk));
    ck_assert_uint_eq(l.devices[1].added_seq, 7);
    /* The same created time as the entry before is allowed. */
    rbx_devlist_entry e = fields(8, RBX_DEVLIST_REMOVE, KB, KB, KB, RBX_SIGNER_DEVICE, &log[6]);
    e.created = T0 + 700U;
    log[7] = sign_ent(&e, KB, -1);
    ck_assert_int_eq(verify(&l, log, 8, NULL, NULL), 0);
    ck_assert_uint_eq(l.ndevices, 1);

    /* Misuse. */
    const uint8_t *p[1] = { log[0].b };
    size_t len[1] = { log[0].n };
    ck_assert_int_eq(rbx_devlist_verify(&l, "Alice", p, len, 1, NULL, NULL), RBX_E_INVALID);
    ck_assert_int_eq(rbx_devlist_verify(&l, USER, NULL, len, 1, NULL, NULL), RBX_E_INVALID);
    ck_assert_int_eq(rbx_devlist_verify(&l, USER, p, NULL, 1, NULL, NULL), RBX_E_INVALID);
    p[0] = NULL;
    ck_assert_int_eq(rbx_devlist_verify(&l, USER, p, len, 1, NULL, NULL), RBX_E_INVALID);
    rbx_devlist_pin pin = { .seq = 0 };
    ck_assert_int_eq(verify(&l, log, 1, &pin, NULL), RBX_E_INVALID);
    tu_rng_system();
}
END_TEST

START_TEST(log_genesis)
{
    keys_make(25);
    ent g[2];
    rbx_devlist l;
    /* Self-signed by the added key: accepted on first use. */
    g[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    ck_assert_int_eq(verify(&l, g, 1, NULL, NULL), 0);
    ck_assert_uint_eq(l.ndevices, 1);
    /* ... also when the verifier has an organisation root. */
    ck_assert_int_eq(verify(&l, g, 1, NULL, K[KO].pk), 0);
    /* Signed by another device key (possession proven by A). */
    g[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KB, RBX_SIGNER_DEVICE, NULL);
    ck_assert_int_eq(verify1(g, 1, NULL, NULL), RBX_E_CHAIN);
    /* A first entry that is not an add. */
    g[0] = mk(1, RBX_DEVLIST_ROTATE, KA, KB, KA, RBX_SIGNER_DEVICE, NULL);
    ck_assert_int_eq(verify1(g, 1, NULL, NULL), RBX_E_CHAIN);
    g[0] = mk(1, RBX_DEVLIST_REMOVE, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    ck_assert_int_eq(verify1(g, 1, NULL, NULL), RBX_E_CHAIN);
    /* A non-zero prev_hash, a seq other than 1, a wrong device id. */
    rbx_devlist_entry e = fields(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    e.prev_hash[31] = 1;
    g[0] = sign_ent(&e, KA, KA);
    ck_assert_int_eq(verify1(g, 1, NULL, NULL), RBX_E_CHAIN);
    e = fields(2, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    g[0] = sign_ent(&e, KA, KA);
    ck_assert_int_eq(verify1(g, 1, NULL, NULL), RBX_E_CHAIN);
    e = fields(1, RBX_DEVLIST_ADD, KB, KA, KA, RBX_SIGNER_DEVICE, NULL);
    g[0] = sign_ent(&e, KA, KA);
    ck_assert_int_eq(verify1(g, 1, NULL, NULL), RBX_E_CHAIN);
    /* Org-signed: accepted with that root, refused without it or with another. */
    g[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KO, RBX_SIGNER_ORG, NULL);
    ck_assert_int_eq(verify(&l, g, 1, NULL, K[KO].pk), 0);
    ck_assert_uint_eq(l.ndevices, 1);
    ck_assert_mem_eq(l.devices[0].identity, K[KA].pk, 32);
    ck_assert_int_eq(verify1(g, 1, NULL, NULL), RBX_E_CHAIN);
    ck_assert_int_eq(verify1(g, 1, NULL, K[KP].pk), RBX_E_CHAIN);
    /* signer_kind 1 with a device's key as signer, the verifier's org being another. */
    g[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_ORG, NULL);
    ck_assert_int_eq(verify1(g, 1, NULL, K[KO].pk), RBX_E_CHAIN);
    /* The org root's key as a device key (signer_kind 0) is not the org. */
    g[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    g[1] = mk(2, RBX_DEVLIST_ADD, KB, KB, KO, RBX_SIGNER_DEVICE, &g[0]);
    ck_assert_int_eq(verify1(g, 2, NULL, K[KO].pk), RBX_E_CHAIN);
    /* Org-signed later entries: accepted with the root only. */
    g[1] = mk(2, RBX_DEVLIST_ADD, KB, KB, KO, RBX_SIGNER_ORG, &g[0]);
    ck_assert_int_eq(verify(&l, g, 2, NULL, K[KO].pk), 0);
    ck_assert_uint_eq(l.ndevices, 2);
    ck_assert_int_eq(verify1(g, 2, NULL, NULL), RBX_E_CHAIN);
    /* No entries. */
    ck_assert_int_eq(verify1(g, 0, NULL, NULL), RBX_E_CHAIN);
    tu_rng_system();
}
END_TEST

START_TEST(log_rules)
{
    keys_make(26);
    ent log[8];
    size_t n = good_log(log); /* devices A and C (key F); B removed at 5 */
    const ent *h = &log[n - 1];
    uint64_t s = n + 1;
    struct {
        const char *what;
        ent e;
        int want;
    } c[] = {
        /* Signers. */
        { "stranger signs", mk(s, RBX_DEVLIST_ADD, KE, KE, KX, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "removed device signs", mk(s, RBX_DEVLIST_ADD, KE, KE, KB, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "rotated-away key signs", mk(s, RBX_DEVLIST_ADD, KE, KE, KC, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "org entry without a root", mk(s, RBX_DEVLIST_ADD, KE, KE, KO, RBX_SIGNER_ORG, h), RBX_E_CHAIN },
        /* add */
        { "duplicate add of a device", mk(s, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "add of a current key (its own id is free)", mk(s, RBX_DEVLIST_ADD, KF, KF, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "add of a rotated-away key (its id is taken)", mk(s, RBX_DEVLIST_ADD, KC, KC, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "add with an id not of its key", mk(s, RBX_DEVLIST_ADD, KD, KE, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        /* remove */
        { "remove of a removed device", mk(s, RBX_DEVLIST_REMOVE, KB, KB, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "remove naming a rotated-away key", mk(s, RBX_DEVLIST_REMOVE, KC, KC, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "remove naming another device's key", mk(s, RBX_DEVLIST_REMOVE, KC, KA, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        /* rotate */
        { "rotate by another device", mk(s, RBX_DEVLIST_ROTATE, KC, KD, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "rotate to a key in the list", mk(s, RBX_DEVLIST_ROTATE, KC, KA, KF, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "rotate to its own key", mk(s, RBX_DEVLIST_ROTATE, KC, KF, KF, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "rotate of a removed device", mk(s, RBX_DEVLIST_ROTATE, KB, KD, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        /* Links. */
        { "seq gap", mk(s + 1, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "seq repeated", mk(s - 1, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, h), RBX_E_CHAIN },
        { "prev_hash of an older entry", mk(s, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, &log[n - 2]), RBX_E_CHAIN },
        /* Accepted ones, to show the cases above fail for their reason. */
        { "add", mk(s, RBX_DEVLIST_ADD, KE, KE, KF, RBX_SIGNER_DEVICE, h), 0 },
        { "rotate back to an old key", mk(s, RBX_DEVLIST_ROTATE, KC, KC, KF, RBX_SIGNER_DEVICE, h), 0 },
        { "remove by the removed device itself", mk(s, RBX_DEVLIST_REMOVE, KC, KF, KF, RBX_SIGNER_DEVICE, h), 0 },
    };
    for (size_t i = 0; i < RBX_COUNTOF(c); i++) {
        log[n] = c[i].e;
        ck_assert_msg(verify1(log, n + 1, NULL, NULL) == c[i].want, "%s: %d", c[i].what,
                      verify1(log, n + 1, NULL, NULL));
    }
    /* Time running backwards. */
    rbx_devlist_entry e = fields(s, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, h);
    e.created = T0 + 500U - 1U;
    log[n] = sign_ent(&e, KA, KE);
    ck_assert_int_eq(verify1(log, n + 1, NULL, NULL), RBX_E_CHAIN);
    /* An entry of another user's list. */
    e = fields(s, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, h);
    strcpy(e.user, "bob");
    log[n] = sign_ent(&e, KA, KE);
    ck_assert_int_eq(verify1(log, n + 1, NULL, NULL), RBX_E_CHAIN);
    /* A whole log verified under another user id. */
    const uint8_t *p[1] = { log[0].b };
    size_t l1[1] = { log[0].n };
    rbx_devlist l;
    ck_assert_int_eq(rbx_devlist_verify(&l, "bob", p, l1, 1, NULL, NULL), RBX_E_CHAIN);
    /* Entries out of order. */
    ent sw[2] = { log[1], log[0] };
    ck_assert_int_eq(verify1(sw, 2, NULL, NULL), RBX_E_CHAIN);
    /* A bad entry in the middle is reported with its parse error. */
    ent bad[3] = { log[0], log[1], log[2] };
    bad[1].b[bad[1].n - 1] ^= 1;
    ck_assert_int_eq(verify1(bad, 3, NULL, NULL), RBX_E_SIGNATURE);
    bad[1].n -= 1;
    ck_assert_int_eq(verify1(bad, 3, NULL, NULL), RBX_E_MALFORMED);

    /* The last device cannot be removed, by itself or by the org root. */
    ent one[2];
    one[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    one[1] = mk(2, RBX_DEVLIST_REMOVE, KA, KA, KA, RBX_SIGNER_DEVICE, &one[0]);
    ck_assert_int_eq(verify1(one, 2, NULL, NULL), RBX_E_CHAIN);
    one[1] = mk(2, RBX_DEVLIST_REMOVE, KA, KA, KO, RBX_SIGNER_ORG, &one[0]);
    ck_assert_int_eq(verify1(one, 2, NULL, K[KO].pk), RBX_E_CHAIN);
    /* The org root rotates and removes a device (a lost device). */
    one[1] = mk(2, RBX_DEVLIST_ROTATE, KA, KD, KO, RBX_SIGNER_ORG, &one[0]);
    ck_assert_int_eq(verify(&l, one, 2, NULL, K[KO].pk), 0);
    ck_assert_mem_eq(l.devices[0].identity, K[KD].pk, 32);
    ck_assert_uint_eq(l.devices[0].id, rbx_device_id(K[KA].pk));
    tu_rng_system();
}
END_TEST

START_TEST(log_pin)
{
    keys_make(27);
    ent log[8];
    size_t n = good_log(log);
    rbx_devlist l;
    ck_assert_int_eq(verify(&l, log, 3, NULL, NULL), 0);
    rbx_devlist_pin pin = l.head;
    ck_assert_uint_eq(pin.seq, 3);
    /* Extensions of the pin, and the pinned log itself. */
    ck_assert_int_eq(verify(&l, log, n, &pin, NULL), 0);
    ck_assert_uint_eq(l.head.seq, n);
    ck_assert_mem_eq(l.head.first_hash, pin.first_hash, 32);
    ck_assert_int_eq(verify(&l, log, 3, &pin, NULL), 0);
    /* The pin may be the head of the output (verify(&l, ..., &l.head)). */
    const uint8_t *p[8];
    size_t len[8];
    for (size_t i = 0; i < n; i++) {
        p[i] = log[i].b;
        len[i] = log[i].n;
    }
    ck_assert_int_eq(rbx_devlist_verify(&l, USER, p, len, n, &l.head, NULL), 0);
    ck_assert_uint_eq(l.head.seq, n);
    /* Rolled back: the log ends before the pinned seq. */
    ck_assert_int_eq(verify1(log, 2, &pin, NULL), RBX_E_STALE);
    ck_assert_int_eq(verify1(log, 0, &pin, NULL), RBX_E_STALE);
    /* Another first entry: another list under this user id. */
    ent other[8];
    memcpy(other, log, sizeof other);
    other[0] = mk(1, RBX_DEVLIST_ADD, KX, KX, KX, RBX_SIGNER_DEVICE, NULL);
    ck_assert_int_eq(verify1(other, n, &pin, NULL), RBX_E_IDENTITY_CHANGED);
    /* A fork at the pinned entry: same first entries, entry 3 differs. */
    memcpy(other, log, sizeof other);
    other[2] = mk(3, RBX_DEVLIST_ADD, KD, KD, KB, RBX_SIGNER_DEVICE, &log[1]);
    ck_assert_int_eq(verify1(other, 3, NULL, NULL), 0); /* valid on its own */
    ck_assert_int_eq(verify1(other, 3, &pin, NULL), RBX_E_IDENTITY_CHANGED);
    /* The pin is checked before signatures: a fork is a fork even when the
     * forked entry is also damaged. */
    other[2].b[other[2].n - 1] ^= 1;
    ck_assert_int_eq(verify1(other, 3, &pin, NULL), RBX_E_IDENTITY_CHANGED);
    /* A branch after the pin is a valid extension. */
    memcpy(other, log, sizeof other);
    other[3] = mk(4, RBX_DEVLIST_ADD, KD, KD, KA, RBX_SIGNER_DEVICE, &log[2]);
    ck_assert_int_eq(verify1(other, 4, &pin, NULL), 0);
    /* Pinned at the first entry only (TOFU). */
    rbx_devlist_pin first = { .seq = 1 };
    memcpy(first.first_hash, log[0].hash, 32);
    memcpy(first.hash, log[0].hash, 32);
    ck_assert_int_eq(verify1(log, n, &first, NULL), 0);
    first.hash[0] ^= 1;
    ck_assert_int_eq(verify1(log, n, &first, NULL), RBX_E_IDENTITY_CHANGED);
    tu_rng_system();
}
END_TEST

START_TEST(log_limits)
{
    keys_make(28);
    /* More than RBX_DEVLIST_MAX_ENTRIES: refused before anything is parsed. */
    size_t big = RBX_DEVLIST_MAX_ENTRIES + 1;
    ent *log = malloc(big * sizeof *log);
    ck_assert_ptr_nonnull(log);
    log[0] = mk(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    /* Exactly RBX_DEVLIST_MAX_ENTRIES: device A rotates between two keys. */
    for (size_t i = 1; i < RBX_DEVLIST_MAX_ENTRIES; i++)
        log[i] = mk(i + 1, RBX_DEVLIST_ROTATE, KA, i % 2 ? KB : KA, i % 2 ? KA : KB,
                    RBX_SIGNER_DEVICE, &log[i - 1]);
    rbx_devlist l;
    ck_assert_int_eq(verify(&l, log, RBX_DEVLIST_MAX_ENTRIES, NULL, NULL), 0);
    ck_assert_uint_eq(l.head.seq, RBX_DEVLIST_MAX_ENTRIES);
    ck_assert_mem_eq(l.devices[0].identity, K[KB].pk, 32);
    log[big - 1] = mk(big, RBX_DEVLIST_ROTATE, KA, KA, KB, RBX_SIGNER_DEVICE, &log[big - 2]);
    ck_assert_int_eq(verify(&l, log, big, NULL, NULL), RBX_E_LIMIT);
    for (size_t i = 1; i < big; i++) log[i] = log[0];
    ck_assert_int_eq(verify(&l, log, big, NULL, NULL), RBX_E_LIMIT);

    /* RBX_DEVLIST_MAX_DEVICES devices, then one more. */
    kp *d = malloc((RBX_DEVLIST_MAX_DEVICES + 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i <= RBX_DEVLIST_MAX_DEVICES; i++)
        ck_assert_int_eq(rbx_keypair_generate(d[i].pk, d[i].sk), 0);
    for (size_t i = 0; i <= RBX_DEVLIST_MAX_DEVICES; i++) {
        rbx_devlist_entry e = { 0 };
        strcpy(e.user, USER);
        e.seq = i + 1;
        if (i > 0) memcpy(e.prev_hash, log[i - 1].hash, 32);
        e.op = RBX_DEVLIST_ADD;
        e.device = rbx_device_id(d[i].pk);
        memcpy(e.identity, d[i].pk, 32);
        e.created = T0;
        memcpy(e.signer, d[0].pk, 32);
        ck_assert_int_eq(rbx_devlist_entry_sign(log[i].b, sizeof log[i].b, &log[i].n, &e, d[0].sk,
                                                d[i].sk), 0);
        rbx_devlist_entry_hash(log[i].hash, log[i].b, log[i].n);
    }
    ck_assert_int_eq(verify(&l, log, RBX_DEVLIST_MAX_DEVICES, NULL, NULL), 0);
    ck_assert_uint_eq(l.ndevices, RBX_DEVLIST_MAX_DEVICES);
    ck_assert_int_eq(verify(&l, log, RBX_DEVLIST_MAX_DEVICES + 1, NULL, NULL), RBX_E_LIMIT);
    free(d);
    free(log);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ requests */

/* D and the signed statement, as PROTOCOL.md 20.7 spells them. */
static void req_statement(uint8_t st[55], const char *method, const char *target, uint64_t ts,
                          const uint8_t nonce[16], const uint8_t *body, size_t bodylen,
                          const char *user, uint32_t device)
{
    size_t ml = strlen(method), tl = strlen(target), ul = strlen(user);
    size_t cap = 23 + 1 + ml + 4 + tl + 8 + 16 + 32 + 1 + ul + 4, n = 0;
    uint8_t *m = malloc(cap);
    ck_assert_ptr_nonnull(m);
    memcpy(m, "ratchetbox-http-auth-v1", 23);
    n = 23;
    m[n++] = (uint8_t)ml;
    memcpy(m + n, method, ml);
    n += ml;
    be32(m + n, (uint32_t)tl);
    n += 4;
    memcpy(m + n, target, tl);
    n += tl;
    be64(m + n, ts);
    n += 8;
    memcpy(m + n, nonce, 16);
    n += 16;
    crypto_generichash(m + n, 32, body, bodylen, NULL, 0);
    n += 32;
    m[n++] = (uint8_t)ul;
    memcpy(m + n, user, ul);
    n += ul;
    be32(m + n, device);
    n += 4;
    ck_assert_uint_eq(n, cap);
    memcpy(st, "ratchetbox-http-auth-v1", 23);
    crypto_generichash(st + 23, 32, m, n, NULL, 0);
    free(m);
}

START_TEST(request_auth)
{
    keys_make(29);
    static const char body[] = "{\"to\": \"bob\"}";
    const uint8_t *b = (const uint8_t *)body;
    size_t bl = strlen(body);
    uint8_t nonce[16], sig[64], st[55];
    for (int i = 0; i < 16; i++) nonce[i] = (uint8_t)(i * 17);
    const char *target = "/v1/messages?wait=30";
    uint32_t dev = rbx_device_id(K[KA].pk);
    ck_assert_int_eq(rbx_request_sign(sig, "POST", target, T0, nonce, b, bl, USER, dev, K[KA].sk), 0);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, b, bl, USER, dev, K[KA].pk), 0);
    req_statement(st, "POST", target, T0, nonce, b, bl, USER, dev);
    ck_assert_int_eq(rbx__xeddsa_verify(sig, K[KA].pk, st, sizeof st), 0);
    /* Any field changed. */
    uint8_t n2[16];
    memcpy(n2, nonce, 16);
    n2[15] ^= 1;
    static const char body2[] = "{\"to\": \"bot\"}";
    ck_assert_int_eq(rbx_request_verify(sig, "GET", target, T0, nonce, b, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", "/v1/messages?wait=31", T0, nonce, b, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", "/v1/messages", T0, nonce, b, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0 + 1, nonce, b, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, n2, b, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, (const uint8_t *)body2, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, b, bl - 1, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, NULL, 0, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, b, bl, "bob", dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, b, bl, USER, dev + 1, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, b, bl, USER, dev, K[KB].pk), RBX_E_SIGNATURE);
    /* Field boundaries are length-prefixed: moving bytes between method
     * and target, or user and device, changes D. */
    ck_assert_int_eq(rbx_request_verify(sig, "POS", "T/v1/messages?wait=30", T0, nonce, b, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    /* Every bit of the signature. */
    for (size_t bit = 0; bit < 512; bit++) {
        sig[bit / 8] ^= (uint8_t)(1U << (bit % 8));
        ck_assert_int_eq(rbx_request_verify(sig, "POST", target, T0, nonce, b, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
        sig[bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    /* An empty body, given as NULL or as an empty buffer. */
    ck_assert_int_eq(rbx_request_sign(sig, "GET", "/v1/devices/alice", 5, nonce, NULL, 0, USER, 1, K[KA].sk), 0);
    ck_assert_int_eq(rbx_request_verify(sig, "GET", "/v1/devices/alice", 5, nonce, b, 0, USER, 1, K[KA].pk), 0);
    req_statement(st, "GET", "/v1/devices/alice", 5, nonce, NULL, 0, USER, 1);
    ck_assert_int_eq(rbx__xeddsa_verify(sig, K[KA].pk, st, sizeof st), 0);
    /* Misuse: refused by the signer (sig zeroed), and never verified. */
    char m256[257];
    memset(m256, 'M', 256);
    m256[256] = '\0';
    static const uint8_t z64[64];
    struct {
        const char *method, *target, *user;
    } bad[] = { { "", "/", USER }, { m256, "/", USER }, { "GET", "", USER }, { "GET", "/", "" },
                { "GET", "/", "Alice" } };
    for (size_t i = 0; i < RBX_COUNTOF(bad); i++) {
        memset(sig, 0x55, sizeof sig);
        ck_assert_int_eq(rbx_request_sign(sig, bad[i].method, bad[i].target, 1, nonce, NULL, 0,
                                          bad[i].user, 1, K[KA].sk), RBX_E_INVALID);
        ck_assert_mem_eq(sig, z64, 64);
        ck_assert_int_eq(rbx_request_verify(sig, bad[i].method, bad[i].target, 1, nonce, NULL, 0,
                                            bad[i].user, 1, K[KA].pk), RBX_E_SIGNATURE);
    }
    m256[255] = '\0'; /* 255 bytes: the longest method */
    ck_assert_int_eq(rbx_request_sign(sig, m256, "/", 1, nonce, NULL, 0, USER, 1, K[KA].sk), 0);
    ck_assert_int_eq(rbx_request_verify(sig, m256, "/", 1, nonce, NULL, 0, USER, 1, K[KA].pk), 0);
    ck_assert_int_eq(rbx_request_sign(sig, "GET", "/", 1, nonce, NULL, 1, USER, 1, K[KA].sk), RBX_E_INVALID);
    ck_assert_int_eq(rbx_request_verify(sig, "GET", "/", 1, nonce, NULL, 1, USER, 1, K[KA].pk), RBX_E_INVALID);
    tu_rng_system();
}
END_TEST

/* Every domain string an identity or organisation key signs under: no two
 * equal and none a prefix of another, so a statement of one kind is never
 * the start of a statement of another (PROTOCOL.md 3). */
START_TEST(cross_statement)
{
    static const char *const dom[] = { "ratchetbox-spk-v1", "ratchetbox-spk-v2",
                                       "ratchetbox-rotation-v1", "ratchetbox-org-cert-v1",
                                       "ratchetbox-org-revoke-v1", "ratchetbox-devlist-v1",
                                       "ratchetbox-devlist-subject-v1", "ratchetbox-http-auth-v1" };
    for (size_t i = 0; i < RBX_COUNTOF(dom); i++)
        for (size_t j = 0; j < RBX_COUNTOF(dom); j++)
            if (i != j) ck_assert_msg(strncmp(dom[i], dom[j], strlen(dom[i])) != 0, "%s", dom[i]);

    keys_make(30);
    /* A self-signed first entry: A's signature and A's subject signature. */
    rbx_devlist_entry e = fields(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL), got;
    ent x = sign_ent(&e, KA, KA);
    Rbx__Wire__DeviceListEntry *w = rbx__wire__device_list_entry__unpack(NULL, x.n, x.b);
    ck_assert_ptr_nonnull(w);
    uint8_t nonce[16] = { 0 }, sig[65], buf[RBX_DEVLIST_ENTRY_MAXBYTES];
    uint32_t dev = rbx_device_id(K[KA].pk);
    /* Neither verifies as a request signature. */
    ck_assert_int_eq(rbx_request_verify(w->signature.data, "POST", "/v1/devices", T0, nonce, x.b,
                                        x.n, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(w->subject_signature.data, "POST", "/v1/devices", T0,
                                        nonce, x.b, x.n, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    /* A request signature by A (even over the entry's bytes as its body) in
     * either slot of the entry. */
    ck_assert_int_eq(rbx_request_sign(sig + 1, "POST", "/v1/devices", T0, nonce, x.b, x.n, USER,
                                      dev, K[KA].sk), 0);
    for (uint8_t slot = 0; slot < 2; slot++) {
        sig[0] = slot;
        size_t n = repack(buf, &x, put_sig, sig);
        ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    }
    /* The signer's signature as the subject signature and the reverse
     * (same key, other domain). */
    sig[0] = 1;
    memcpy(sig + 1, w->signature.data, 64);
    size_t n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    sig[0] = 0;
    memcpy(sig + 1, w->subject_signature.data, 64);
    n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    /* A rotation record's signature by A is no entry signature either. */
    rbx_rotation r = { 0 };
    r.sequence = 1;
    memcpy(r.old_identity, K[KA].pk, 32);
    memcpy(r.new_identity, K[KB].pk, 32);
    uint8_t rec[RBX_ROTATION_MAXBYTES];
    size_t rn;
    ck_assert_int_eq(rbx_rotation_sign(rec, sizeof rec, &rn, &r, K[KA].sk, K[KB].sk), 0);
    Rbx__Wire__RotationRecord *rw = rbx__wire__rotation_record__unpack(NULL, rn, rec);
    ck_assert_ptr_nonnull(rw);
    sig[0] = 0;
    memcpy(sig + 1, rw->old_signature.data, 64);
    n = repack(buf, &x, put_sig, sig);
    ck_assert_int_eq(rbx_devlist_entry_parse(&got, buf, n), RBX_E_SIGNATURE);
    ck_assert_int_eq(rbx_request_verify(rw->old_signature.data, "POST", "/", T0, nonce, NULL, 0,
                                        USER, dev, K[KA].pk), RBX_E_SIGNATURE);
    rbx__wire__rotation_record__free_unpacked(rw, NULL);
    rbx__wire__device_list_entry__free_unpacked(w, NULL);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ bundles */

START_TEST(bundle_onetime)
{
    keys_make(31);
    rbx_prekeys *pk;
    ck_assert_int_eq(rbx_prekeys_new(&pk, K[KB].pk, K[KB].sk), 0);
    ck_assert_int_eq(rbx_prekeys_add_signed(pk, 7, NULL), 0);
    ck_assert_int_eq(rbx_prekeys_add_onetime(pk, 300, K[KE].sk), 0);
    uint8_t base[RBX_BUNDLE_MAXBYTES], want[RBX_BUNDLE_MAXBYTES], out[RBX_BUNDLE_MAXBYTES];
    size_t bn, wn, on;
    ck_assert_int_eq(rbx_prekeys_bundle(base, sizeof base, &bn, pk, 7, RBX_NO_PREKEY), 0);
    ck_assert_int_eq(rbx_prekeys_bundle(want, sizeof want, &wn, pk, 7, 300), 0);
    /* The assembled bundle is byte for byte the bundle with that prekey. */
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, base, bn, 300, K[KE].pk), 0);
    ck_assert_uint_eq(on, wn);
    ck_assert_mem_eq(out, want, wn);
    ck_assert_uint_eq(on, bn + 37); /* 30 ac 02, 3a 20 + 32 */
    rbx_bundle b;
    ck_assert_int_eq(rbx_bundle_parse(&b, out, on), 0);
    ck_assert_int_eq(b.has_onetime, 1);
    ck_assert_uint_eq(b.onetime_prekey_id, 300);
    ck_assert_mem_eq(b.onetime_prekey, K[KE].pk, 32);
    /* And it makes a session that consumes that prekey. */
    rbx_session *alice, *bob;
    ck_assert_int_eq(rbx_session_initiate(&alice, K[KA].pk, K[KA].sk, &b, NULL), 0);
    uint8_t wire[512], pt[16];
    size_t wl, pl;
    uint32_t used;
    ck_assert_int_eq(rbx_session_encrypt(alice, wire, sizeof wire, &wl, (const uint8_t *)"hi", 2), 0);
    ck_assert_int_eq(rbx_session_accept(&bob, pt, sizeof pt, &pl, &used, pk, NULL, wire, wl), 0);
    ck_assert_uint_eq(used, 300);
    ck_assert_mem_eq(pt, "hi", 2);
    rbx_session_free(alice);
    rbx_session_free(bob);
    /* In place. */
    memcpy(out, base, bn);
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, out, bn, 300, K[KE].pk), 0);
    ck_assert_mem_eq(out, want, wn);
    /* Refusals, each with *outlen 0. */
    on = 99;
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, want, wn, 301, K[KD].pk), RBX_E_MALFORMED);
    ck_assert_uint_eq(on, 0);
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, base, bn, RBX_NO_PREKEY, K[KD].pk), RBX_E_MALFORMED);
    static const uint8_t z32[32];
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, base, bn, 301, z32), RBX_E_KEY);
    ck_assert_int_eq(rbx_bundle_with_onetime(out, wn - 1, &on, base, bn, 300, K[KE].pk), RBX_E_BUFFER);
    ck_assert_uint_eq(on, 0);
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, base, bn - 1, 300, K[KE].pk), RBX_E_MALFORMED);
    base[bn - 1] ^= 1; /* the signature */
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, base, bn, 300, K[KE].pk), RBX_E_SIGNATURE);
    ck_assert_uint_eq(on, 0);
    base[bn - 1] ^= 1;
    rbx_prekeys_free(pk);

    /* A base bundle with every optional field: v2 statement, a rotation
     * record and a certificate. Fields 6 and 7 go between 5 and 8. */
    uint8_t spk_pk[32], spk_sk[32], sig[64], st[RBX_SPK_STATEMENT_V2_BYTES];
    ck_assert_int_eq(rbx_keypair_generate(spk_pk, spk_sk), 0);
    rbx__spk_statement_v2(st, 9, T0, spk_pk);
    rbx__xeddsa_sign(sig, K[KB].sk, st, sizeof st);
    rbx_rotation r = { 0 };
    r.sequence = 1;
    memcpy(r.old_identity, K[KA].pk, 32);
    memcpy(r.new_identity, K[KB].pk, 32);
    uint8_t rec[RBX_ROTATION_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    size_t rn, cn;
    ck_assert_int_eq(rbx_rotation_sign(rec, sizeof rec, &rn, &r, K[KA].sk, K[KB].sk), 0);
    ck_assert_int_eq(rbx_org_certify(cert, sizeof cert, &cn, K[KO].pk, K[KO].sk, K[KB].pk, T0, 0), 0);
    const uint8_t *recs[1] = { rec };
    ck_assert_int_eq(rbx__bundle_encode_ext(base, sizeof base, &bn, K[KB].pk, 9, spk_pk, sig, T0,
                                            RBX_NO_PREKEY, NULL, recs, &rn, 1, cert, cn), 0);
    ck_assert_int_eq(rbx__bundle_encode_ext(want, sizeof want, &wn, K[KB].pk, 9, spk_pk, sig, T0,
                                            5, K[KD].pk, recs, &rn, 1, cert, cn), 0);
    ck_assert_int_eq(rbx_bundle_with_onetime(out, sizeof out, &on, base, bn, 5, K[KD].pk), 0);
    ck_assert_uint_eq(on, wn);
    ck_assert_mem_eq(out, want, wn);
    ck_assert_int_eq(rbx_bundle_parse(&b, out, on), 0);
    ck_assert_uint_eq(b.chain_len, 1);
    ck_assert_int_eq(b.has_certificate, 1);
    ck_assert_uint_eq(b.onetime_prekey_id, 5);
    tu_rng_system();
}
END_TEST

/* ------------------------------------------------------------ vectors */

static void js_hex(tu_sbuf *b, int indent, const char *name, const uint8_t *p, size_t n, int last)
{
    char *h = tu_hex(p, n);
    tu_sb_printf(b, "%*s\"%s\": \"%s\"%s\n", indent, "", name, h, last ? "" : ",");
    free(h);
}

static void js_rng(tu_sbuf *b, int indent, const char *name)
{
    uint8_t log[4096];
    size_t n = tu_rng_log_take(log, sizeof log);
    js_hex(b, indent, name, log, n, 0);
}

static void rng_discard(void)
{
    uint8_t log[4096];
    (void)tu_rng_log_take(log, sizeof log);
}

static const char *op_name(unsigned op)
{
    return op == RBX_DEVLIST_ADD ? "add" : op == RBX_DEVLIST_REMOVE ? "remove" : "rotate";
}

/* One positive entry with its fields, statements, nonces, encoding, hash. */
static ent vec_entry(tu_sbuf *b, const rbx_devlist_entry *e, int signer, int subject, int last)
{
    rng_discard();
    ent x = sign_ent(e, signer, subject);
    uint8_t st[256], sub[61];
    size_t sl = dl_statement(st, e);
    tu_sb_printf(b, "    {\n      \"user\": \"%s\",\n      \"seq\": %llu,\n", e->user,
                 (unsigned long long)e->seq);
    js_hex(b, 6, "prev_hash", e->prev_hash, 32, 0);
    tu_sb_printf(b, "      \"op\": %u,\n      \"op_name\": \"%s\",\n      \"device\": %u,\n", e->op,
                 op_name(e->op), e->device);
    js_hex(b, 6, "identity", e->identity, 32, 0);
    tu_sb_printf(b, "      \"created\": %llu,\n      \"signer_kind\": %u,\n",
                 (unsigned long long)e->created, e->signer_kind);
    js_hex(b, 6, "signer", e->signer, 32, 0);
    js_hex(b, 6, "statement", st, sl, 0);
    if (subject >= 0) {
        dl_subject(sub, st, sl);
        js_hex(b, 6, "subject_statement", sub, sizeof sub, 0);
    }
    js_rng(b, 6, "rng");
    js_hex(b, 6, "entry", x.b, x.n, 0);
    js_hex(b, 6, "hash", x.hash, 32, 1);
    tu_sb_printf(b, "    }%s\n", last ? "" : ",");
    return x;
}

static const char *err_name(int rc)
{
    switch (rc) {
    case RBX_E_MALFORMED: return "RBX_E_MALFORMED";
    case RBX_E_VERSION: return "RBX_E_VERSION";
    case RBX_E_SIGNATURE: return "RBX_E_SIGNATURE";
    case RBX_E_KEY: return "RBX_E_KEY";
    case RBX_E_IDENTITY_CHANGED: return "RBX_E_IDENTITY_CHANGED";
    case RBX_E_LIMIT: return "RBX_E_LIMIT";
    case RBX_E_CHAIN: return "RBX_E_CHAIN";
    case RBX_E_STALE: return "RBX_E_STALE";
    default: ck_abort_msg("no name for %d", rc); return "";
    }
}

/* A refused log: verified here (it must give `want`), then written. */
static void vec_negative(tu_sbuf *b, const char *name, const char *what, const ent *const *log,
                         size_t n, const rbx_devlist_pin *pin, const uint8_t *org, int want,
                         int last)
{
    ent tmp[8];
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) tmp[i] = *log[i];
    ck_assert_msg(verify1(tmp, n, pin, org) == want, "negative vector %s", name);
    tu_sb_printf(b, "    {\n      \"name\": \"%s\",\n      \"description\": \"%s\",\n", name, what);
    tu_sb_printf(b, "      \"error\": \"%s\",\n      \"code\": %d,\n", err_name(want), want);
    tu_sb_printf(b, "      \"pin_seq\": %llu,\n", (unsigned long long)(pin ? pin->seq : 0));
    if (pin != NULL) {
        js_hex(b, 6, "pin_first_hash", pin->first_hash, 32, 0);
        js_hex(b, 6, "pin_hash", pin->hash, 32, 0);
    }
    if (org != NULL) js_hex(b, 6, "org", org, 32, 0);
    tu_sb_printf(b, "      \"entries\": [\n");
    for (size_t i = 0; i < n; i++) {
        char *h = tu_hex(log[i]->b, log[i]->n);
        tu_sb_printf(b, "        \"%s\"%s\n", h, i + 1 < n ? "," : "");
        free(h);
    }
    tu_sb_printf(b, "      ]\n    }%s\n", last ? "" : ",");
}

/* An entry changed after signing, through protoc-c's packer. */
static ent vec_repack(const ent *x, void (*fn)(Rbx__Wire__DeviceListEntry *w, void *c), void *ctx)
{
    ent y;
    y.n = repack(y.b, x, fn, ctx);
    rbx_devlist_entry_hash(y.hash, y.b, y.n);
    return y;
}

#define DL_SEED 5U
#define REQ_SEED 6U

START_TEST(devlist_vectors)
{
    tu_sbuf sb = { 0 };
    keys_make(DL_SEED);
    tu_rng_log(1);
    tu_sb_printf(&sb, "{\n  \"description\": \"A device list of user %s: A enrols itself, A adds "
                 "B, B rotates its key to C, the organisation root adds D, A removes device B; "
                 "then logs that a verifier refuses, one per rule, with the error. Generated by "
                 "tests/test_devlist.c (make vectors) from seed %u; keys as rbx_keypair_generate "
                 "draws them (sk = 32 RNG bytes, pk = X25519(sk, 9)); `rng` lists the XEdDSA "
                 "nonce bytes Z each signature consumed (64 per signature, the signer's first, "
                 "then the subject's). Normative description: spec/PROTOCOL.md section 20.\",\n",
                 USER, DL_SEED);
    tu_sb_printf(&sb, "  \"seed\": %u,\n  \"user\": \"%s\",\n  \"keys\": {\n", DL_SEED, USER);
    static const char *const names[NKEYS] = { "a", "b", "c", "d", "e", "f", "x", "org", "org2" };
    for (int i = 0; i < NKEYS; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%s_private", names[i]);
        js_hex(&sb, 4, nm, K[i].sk, 32, 0);
        snprintf(nm, sizeof nm, "%s_public", names[i]);
        js_hex(&sb, 4, nm, K[i].pk, 32, 0);
        snprintf(nm, sizeof nm, "%s_device_id", names[i]);
        tu_sb_printf(&sb, "    \"%s\": %u%s\n", nm, rbx_device_id(K[i].pk), i == NKEYS - 1 ? "" : ",");
    }
    tu_sb_printf(&sb, "  },\n  \"entries\": [\n");
    ent L[5];
    rbx_devlist_entry e;
    e = fields(1, RBX_DEVLIST_ADD, KA, KA, KA, RBX_SIGNER_DEVICE, NULL);
    L[0] = vec_entry(&sb, &e, KA, KA, 0);
    e = fields(2, RBX_DEVLIST_ADD, KB, KB, KA, RBX_SIGNER_DEVICE, &L[0]);
    L[1] = vec_entry(&sb, &e, KA, KB, 0);
    e = fields(3, RBX_DEVLIST_ROTATE, KB, KC, KB, RBX_SIGNER_DEVICE, &L[1]);
    L[2] = vec_entry(&sb, &e, KB, KC, 0);
    e = fields(4, RBX_DEVLIST_ADD, KD, KD, KO, RBX_SIGNER_ORG, &L[2]);
    L[3] = vec_entry(&sb, &e, KO, KD, 0);
    e = fields(5, RBX_DEVLIST_REMOVE, KB, KC, KA, RBX_SIGNER_DEVICE, &L[3]);
    L[4] = vec_entry(&sb, &e, KA, -1, 1);
    tu_sb_printf(&sb, "  ],\n");
    /* The verified result, with the organisation root. */
    rbx_devlist l;
    ck_assert_int_eq(verify(&l, L, 5, NULL, K[KO].pk), 0);
    ck_assert_uint_eq(l.ndevices, 2);
    tu_sb_printf(&sb, "  \"verified\": {\n");
    js_hex(&sb, 4, "org", K[KO].pk, 32, 0);
    js_hex(&sb, 4, "first_hash", l.head.first_hash, 32, 0);
    tu_sb_printf(&sb, "    \"head_seq\": %llu,\n", (unsigned long long)l.head.seq);
    js_hex(&sb, 4, "head_hash", l.head.hash, 32, 0);
    tu_sb_printf(&sb, "    \"devices\": [\n");
    for (size_t i = 0; i < l.ndevices; i++) {
        char *h = tu_hex(l.devices[i].identity, 32);
        tu_sb_printf(&sb, "      { \"device\": %u, \"identity\": \"%s\", \"added_seq\": %llu }%s\n",
                     l.devices[i].id, h, (unsigned long long)l.devices[i].added_seq,
                     i + 1 < l.ndevices ? "," : "");
        free(h);
    }
    tu_sb_printf(&sb, "    ]\n  },\n  \"negative\": [\n");

    /* Entries of the refused logs (their nonces are not listed). */
    rbx_devlist_pin pin3 = { .seq = 3 }, pin5 = { .seq = 5 };
    memcpy(pin3.first_hash, L[0].hash, 32);
    memcpy(pin3.hash, L[2].hash, 32);
    pin5 = pin3;
    pin5.seq = 5;
    memcpy(pin5.hash, L[4].hash, 32);
    ent fork3 = mk(3, RBX_DEVLIST_ADD, KX, KX, KA, RBX_SIGNER_DEVICE, &L[1]);
    ent xgen = mk(1, RBX_DEVLIST_ADD, KX, KX, KX, RBX_SIGNER_DEVICE, NULL);
    ent xadd = mk(2, RBX_DEVLIST_ADD, KX, KX, KX, RBX_SIGNER_DEVICE, &L[0]);
    ent removed = mk(6, RBX_DEVLIST_ADD, KE, KE, KC, RBX_SIGNER_DEVICE, &L[4]);
    ent dup = mk(3, RBX_DEVLIST_ADD, KB, KB, KA, RBX_SIGNER_DEVICE, &L[1]);
    ent last = mk(2, RBX_DEVLIST_REMOVE, KA, KA, KA, RBX_SIGNER_DEVICE, &L[0]);
    ent orggen = mk(1, RBX_DEVLIST_ADD, KA, KA, KO, RBX_SIGNER_ORG, NULL);
    ent othergen = mk(1, RBX_DEVLIST_ADD, KA, KA, KB, RBX_SIGNER_DEVICE, NULL);
    ent rot_other = mk(3, RBX_DEVLIST_ROTATE, KB, KC, KA, RBX_SIGNER_DEVICE, &L[1]);
    ent gap = mk(4, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, &L[2]);
    ent badprev = mk(4, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, &L[1]);
    ent badid = mk(3, RBX_DEVLIST_ADD, KD, KE, KA, RBX_SIGNER_DEVICE, &L[1]);
    e = fields(3, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, &L[1]);
    e.created = T0;
    ent early = sign_ent(&e, KA, KE);
    e = fields(3, RBX_DEVLIST_ADD, KE, KE, KA, RBX_SIGNER_DEVICE, &L[1]);
    strcpy(e.user, "bob");
    ent bob = sign_ent(&e, KA, KE);
    ent nosub = vec_repack(&L[1], drop_subject, NULL);
    uint8_t sig[65];
    sig[0] = 1;
    {
        uint8_t st[256], sub[61];
        rbx_devlist_entry e2;
        ck_assert_int_eq(rbx_devlist_entry_parse(&e2, L[1].b, L[1].n), 0);
        dl_subject(sub, st, dl_statement(st, &e2));
        rbx__xeddsa_sign(sig + 1, K[KA].sk, sub, sizeof sub); /* by the signer, not B */
    }
    ent badsub = vec_repack(&L[1], put_sig, sig);
    ent badsig = L[1];
    badsig.b[badsig.n - 66 - 64] ^= 0x01;
    uint32_t v2 = 2;
    ent version = vec_repack(&L[1], set_version, &v2);
    int which = 0;
    ent lowkey = vec_repack(&L[1], zero_identity, &which);
    rng_discard();

    const ent *c_fork[] = { &L[0], &L[1], &fork3 };
    vec_negative(&sb, "fork", "entry 3 differs from the pinned entry 3", c_fork, 3, &pin3, NULL,
                 RBX_E_IDENTITY_CHANGED, 0);
    vec_negative(&sb, "rollback", "the log ends before the pinned seq 5", (const ent *const[]){ &L[0], &L[1], &L[2], &L[3] }, 4, &pin5, K[KO].pk, RBX_E_STALE, 0);
    rbx_devlist_pin pin1 = { .seq = 1 };
    memcpy(pin1.first_hash, L[0].hash, 32);
    memcpy(pin1.hash, L[0].hash, 32);
    vec_negative(&sb, "other-first-entry", "entry 1 is not the pinned one", (const ent *const[]){ &xgen, &xadd }, 2, &pin1, NULL, RBX_E_IDENTITY_CHANGED, 0);
    vec_negative(&sb, "signer-not-in-list", "X, not a device of the list, adds itself", (const ent *const[]){ &L[0], &xadd }, 2, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "removed-device-signs", "C, the key of the removed device B, adds E", (const ent *const[]){ &L[0], &L[1], &L[2], &L[3], &L[4], &removed }, 6, NULL, K[KO].pk, RBX_E_CHAIN, 0);
    vec_negative(&sb, "duplicate-add", "B is added a second time", (const ent *const[]){ &L[0], &L[1], &dup }, 3, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "add-wrong-device-id", "E is added under D's device id", (const ent *const[]){ &L[0], &L[1], &badid }, 3, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "last-device-removal", "A removes itself, the only device", (const ent *const[]){ &L[0], &last }, 2, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "org-genesis-without-root", "entry 1 signed by an organisation root the verifier does not have", (const ent *const[]){ &orggen }, 1, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "org-genesis-other-root", "entry 1 signed by another organisation root than the verifier's", (const ent *const[]){ &orggen }, 1, NULL, K[KP].pk, RBX_E_CHAIN, 0);
    vec_negative(&sb, "genesis-not-self-signed", "entry 1 adds A but is signed by B", (const ent *const[]){ &othergen }, 1, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "rotate-by-other-device", "A rotates device B's key", (const ent *const[]){ &L[0], &L[1], &rot_other }, 3, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "seq-gap", "entry 4 follows entry 2", (const ent *const[]){ &L[0], &L[1], &gap }, 3, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "prev-hash", "entry 4 names entry 2's hash", (const ent *const[]){ &L[0], &L[1], &L[2], &badprev }, 4, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "created-earlier", "entry 3 is dated before entry 2", (const ent *const[]){ &L[0], &L[1], &early }, 3, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "other-user", "entry 3 belongs to user bob", (const ent *const[]){ &L[0], &L[1], &bob }, 3, NULL, NULL, RBX_E_CHAIN, 0);
    vec_negative(&sb, "possession-signature-missing", "entry 2 (add) without its subject signature", (const ent *const[]){ &L[0], &nosub }, 2, NULL, NULL, RBX_E_MALFORMED, 0);
    vec_negative(&sb, "possession-signature-bad", "entry 2's subject signature made by the signer A instead of B", (const ent *const[]){ &L[0], &badsub }, 2, NULL, NULL, RBX_E_SIGNATURE, 0);
    vec_negative(&sb, "signature-bad", "one bit of entry 2's signature flipped", (const ent *const[]){ &L[0], &badsig }, 2, NULL, NULL, RBX_E_SIGNATURE, 0);
    vec_negative(&sb, "version", "entry 2 with version 2", (const ent *const[]){ &L[0], &version }, 2, NULL, NULL, RBX_E_VERSION, 0);
    vec_negative(&sb, "low-order-key", "entry 2 names the all-zero key", (const ent *const[]){ &L[0], &lowkey }, 2, NULL, NULL, RBX_E_KEY, 1);
    tu_sb_printf(&sb, "  ]\n}\n");
    tu_rng_log(0);
    tu_rng_system();
    tu_settle_vector("devicelist.json", &sb);
}
END_TEST

START_TEST(request_vectors)
{
    tu_sbuf sb = { 0 };
    keys_make(REQ_SEED);
    tu_rng_log(1);
    tu_sb_printf(&sb, "{\n  \"description\": \"Request authentication: the digest D, the "
                 "signed statement \\\"ratchetbox-http-auth-v1\\\" || D and its XEdDSA signature "
                 "by the device's identity key a. Generated by tests/test_devlist.c (make "
                 "vectors) from seed %u; `rng` lists the nonce bytes Z of the signature; "
                 "`body_hash` is BLAKE2b-256(body). Each `negative` case changes one input of "
                 "the request above it and must give RBX_E_SIGNATURE. Normative description: "
                 "spec/PROTOCOL.md section 20.7.\",\n", REQ_SEED);
    tu_sb_printf(&sb, "  \"seed\": %u,\n", REQ_SEED);
    js_hex(&sb, 2, "a_private", K[KA].sk, 32, 0);
    js_hex(&sb, 2, "a_public", K[KA].pk, 32, 0);
    js_hex(&sb, 2, "b_public", K[KB].pk, 32, 0);
    tu_sb_printf(&sb, "  \"requests\": [\n");
    struct {
        const char *method, *target, *body;
        uint64_t ts;
    } rq[] = { { "GET", "/v1/devices/" USER, "", T0 },
               { "POST", "/v1/messages?wait=30", "{\"message_id\": \"AAAAAAAAAAAAAAAAAAAAAA==\", \"to\": \"bob\"}", T0 + 1 } };
    uint32_t dev = rbx_device_id(K[KA].pk);
    for (size_t i = 0; i < RBX_COUNTOF(rq); i++) {
        uint8_t nonce[16], sig[64], st[55], bh[32];
        for (int j = 0; j < 16; j++) nonce[j] = (uint8_t)(0x10 * i + (unsigned)j);
        const uint8_t *body = (const uint8_t *)rq[i].body;
        size_t bl = strlen(rq[i].body);
        rng_discard();
        ck_assert_int_eq(rbx_request_sign(sig, rq[i].method, rq[i].target, rq[i].ts, nonce, body,
                                          bl, USER, dev, K[KA].sk), 0);
        req_statement(st, rq[i].method, rq[i].target, rq[i].ts, nonce, body, bl, USER, dev);
        ck_assert_int_eq(rbx__xeddsa_verify(sig, K[KA].pk, st, sizeof st), 0);
        crypto_generichash(bh, 32, body, bl, NULL, 0);
        tu_sb_printf(&sb, "    {\n      \"method\": \"%s\",\n      \"target\": \"%s\",\n      "
                     "\"ts\": %llu,\n", rq[i].method, rq[i].target, (unsigned long long)rq[i].ts);
        js_hex(&sb, 6, "nonce", nonce, 16, 0);
        js_hex(&sb, 6, "body", body, bl, 0);
        js_hex(&sb, 6, "body_hash", bh, 32, 0);
        tu_sb_printf(&sb, "      \"user\": \"%s\",\n      \"device\": %u,\n", USER, dev);
        js_hex(&sb, 6, "digest", st + 23, 32, 0);
        js_hex(&sb, 6, "statement", st, sizeof st, 0);
        js_rng(&sb, 6, "rng");
        js_hex(&sb, 6, "signature", sig, 64, 0);
        /* One change at a time. */
        uint8_t n2[16];
        memcpy(n2, nonce, 16);
        n2[0] ^= 1;
        ck_assert_int_eq(rbx_request_verify(sig, "PUT", rq[i].target, rq[i].ts, nonce, body, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_request_verify(sig, rq[i].method, "/v1/devices/bob", rq[i].ts, nonce, body, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_request_verify(sig, rq[i].method, rq[i].target, rq[i].ts + 1, nonce, body, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_request_verify(sig, rq[i].method, rq[i].target, rq[i].ts, n2, body, bl, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_request_verify(sig, rq[i].method, rq[i].target, rq[i].ts, nonce, (const uint8_t *)"x", 1, USER, dev, K[KA].pk), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_request_verify(sig, rq[i].method, rq[i].target, rq[i].ts, nonce, body, bl, "bob", dev, K[KA].pk), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_request_verify(sig, rq[i].method, rq[i].target, rq[i].ts, nonce, body, bl, USER, dev ^ 1, K[KA].pk), RBX_E_SIGNATURE);
        ck_assert_int_eq(rbx_request_verify(sig, rq[i].method, rq[i].target, rq[i].ts, nonce, body, bl, USER, dev, K[KB].pk), RBX_E_SIGNATURE);
        tu_sb_printf(&sb, "      \"negative\": [\n");
        tu_sb_printf(&sb, "        { \"change\": \"method\", \"value\": \"PUT\", \"error\": \"RBX_E_SIGNATURE\" },\n");
        tu_sb_printf(&sb, "        { \"change\": \"target\", \"value\": \"/v1/devices/bob\", \"error\": \"RBX_E_SIGNATURE\" },\n");
        tu_sb_printf(&sb, "        { \"change\": \"ts\", \"value\": %llu, \"error\": \"RBX_E_SIGNATURE\" },\n", (unsigned long long)rq[i].ts + 1);
        char *h = tu_hex(n2, 16);
        tu_sb_printf(&sb, "        { \"change\": \"nonce\", \"value\": \"%s\", \"error\": \"RBX_E_SIGNATURE\" },\n", h);
        free(h);
        tu_sb_printf(&sb, "        { \"change\": \"body\", \"value\": \"78\", \"error\": \"RBX_E_SIGNATURE\" },\n");
        tu_sb_printf(&sb, "        { \"change\": \"user\", \"value\": \"bob\", \"error\": \"RBX_E_SIGNATURE\" },\n");
        tu_sb_printf(&sb, "        { \"change\": \"device\", \"value\": %u, \"error\": \"RBX_E_SIGNATURE\" },\n", dev ^ 1);
        tu_sb_printf(&sb, "        { \"change\": \"public key\", \"value\": \"b_public\", \"error\": \"RBX_E_SIGNATURE\" }\n");
        tu_sb_printf(&sb, "      ]\n    }%s\n", i + 1 < RBX_COUNTOF(rq) ? "," : "");
    }
    tu_sb_printf(&sb, "  ]\n}\n");
    tu_rng_log(0);
    tu_rng_system();
    tu_settle_vector("request-auth.json", &sb);
}
END_TEST

/* The committed files on their own (what another implementation reads):
 * a minimal reader of `"name": "hex"` and `"name": number` in order. */
static char *read_vec(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/spec/vectors/%s", RBX_SRCDIR, name);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "missing %s", path);
    static char text[1 << 17];
    size_t tn = fread(text, 1, sizeof text - 1, fp);
    ck_assert_uint_lt(tn, sizeof text - 1);
    fclose(fp);
    text[tn] = '\0';
    return text;
}

/* Next `"name": ` at or after *pos (before end if end != NULL); its value. */
static const char *js_next(const char **pos, const char *end, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\": ", name);
    const char *p = strstr(*pos, key);
    if (p == NULL || (end != NULL && p >= end)) return NULL;
    *pos = p + strlen(key);
    return *pos;
}

static size_t js_hexval(const char *v, uint8_t *out, size_t cap)
{
    ck_assert_int_eq(*v, '"');
    const char *end = strchr(v + 1, '"');
    ck_assert_ptr_nonnull(end);
    size_t len = 0;
    ck_assert_int_eq(sodium_hex2bin(out, cap, v + 1, (size_t)(end - v - 1), NULL, &len, NULL), 0);
    return len;
}

START_TEST(devlist_vectors_replay)
{
    const char *text = read_vec("devicelist.json"), *p = text, *v;
    uint8_t org[32], org2[32], h[32], want[32];
    ck_assert_ptr_nonnull(v = js_next(&p, NULL, "org_public"));
    js_hexval(v, org, 32);
    ck_assert_ptr_nonnull(v = js_next(&p, NULL, "org2_public"));
    js_hexval(v, org2, 32);
    (void)org2;
    ent L[5];
    const char *neg = strstr(text, "\"negative\": [");
    ck_assert_ptr_nonnull(neg);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_ptr_nonnull(v = js_next(&p, neg, "entry"));
        L[i].n = js_hexval(v, L[i].b, sizeof L[i].b);
        ck_assert_ptr_nonnull(v = js_next(&p, neg, "hash"));
        js_hexval(v, want, 32);
        rbx_devlist_entry_hash(h, L[i].b, L[i].n);
        ck_assert_mem_eq(h, want, 32);
        memcpy(L[i].hash, h, 32);
        rbx_devlist_entry e;
        ck_assert_int_eq(rbx_devlist_entry_parse(&e, L[i].b, L[i].n), 0);
        ck_assert_uint_eq(e.seq, i + 1);
    }
    rbx_devlist l;
    ck_assert_int_eq(verify(&l, L, 5, NULL, org), 0);
    ck_assert_int_eq(verify1(L, 5, NULL, NULL), RBX_E_CHAIN); /* entry 4 needs the root */
    ck_assert_ptr_nonnull(v = js_next(&p, neg, "head_hash"));
    js_hexval(v, want, 32);
    ck_assert_mem_eq(l.head.hash, want, 32);
    for (size_t i = 0; i < l.ndevices; i++) {
        ck_assert_ptr_nonnull(v = js_next(&p, neg, "device"));
        ck_assert_uint_eq(strtoul(v, NULL, 10), l.devices[i].id);
        ck_assert_ptr_nonnull(v = js_next(&p, neg, "identity"));
        js_hexval(v, want, 32);
        ck_assert_mem_eq(l.devices[i].identity, want, 32);
    }
    /* Every negative case gives its listed code. */
    size_t cases = 0;
    p = neg;
    while (js_next(&p, NULL, "name") != NULL) {
        const char *start = p, *next = strstr(p, "\"name\": ");
        ck_assert_ptr_nonnull(v = js_next(&p, next, "code"));
        int code = (int)strtol(v, NULL, 10);
        ck_assert_ptr_nonnull(v = js_next(&p, next, "pin_seq"));
        rbx_devlist_pin pin = { .seq = strtoull(v, NULL, 10) };
        if (pin.seq > 0) {
            js_hexval(js_next(&p, next, "pin_first_hash"), pin.first_hash, 32);
            js_hexval(js_next(&p, next, "pin_hash"), pin.hash, 32);
        }
        const char *q = start;
        uint8_t o[32];
        int has_org = (v = js_next(&q, next, "org")) != NULL;
        if (has_org) js_hexval(v, o, 32);
        ck_assert_ptr_nonnull(js_next(&p, next, "entries"));
        ent log[8];
        size_t n = 0;
        const char *end = strchr(p, ']');
        for (const char *s = strchr(p, '"'); s != NULL && s < end; s = strchr(s + 1, '"')) {
            ck_assert_uint_lt(n, 8);
            log[n].n = js_hexval(s, log[n].b, sizeof log[n].b);
            n++;
            s = strchr(s + 1, '"');
        }
        ck_assert_uint_gt(n, 0);
        ck_assert_int_eq(verify1(log, n, pin.seq > 0 ? &pin : NULL, has_org ? o : NULL), code);
        cases++;
    }
    ck_assert_uint_eq(cases, 21);
}
END_TEST

START_TEST(request_vectors_replay)
{
    const char *text = read_vec("request-auth.json"), *p = text, *v;
    uint8_t pk[32], st[55], want[64];
    ck_assert_ptr_nonnull(v = js_next(&p, NULL, "a_public"));
    js_hexval(v, pk, 32);
    size_t cases = 0;
    while ((v = js_next(&p, NULL, "method")) != NULL) {
        char method[16], target[128], user[RBX_USER_MAX];
        ck_assert_int_eq(sscanf(v, "\"%15[^\"]\"", method), 1);
        ck_assert_int_eq(sscanf(js_next(&p, NULL, "target"), "\"%127[^\"]\"", target), 1);
        uint64_t ts = strtoull(js_next(&p, NULL, "ts"), NULL, 10);
        uint8_t nonce[16], body[256];
        ck_assert_uint_eq(js_hexval(js_next(&p, NULL, "nonce"), nonce, 16), 16);
        size_t bl = js_hexval(js_next(&p, NULL, "body"), body, sizeof body);
        ck_assert_int_eq(sscanf(js_next(&p, NULL, "user"), "\"%63[^\"]\"", user), 1);
        uint32_t dev = (uint32_t)strtoul(js_next(&p, NULL, "device"), NULL, 10);
        req_statement(st, method, target, ts, nonce, body, bl, user, dev);
        js_hexval(js_next(&p, NULL, "digest"), want, 32);
        ck_assert_mem_eq(st + 23, want, 32);
        js_hexval(js_next(&p, NULL, "signature"), want, 64);
        ck_assert_int_eq(rbx_request_verify(want, method, target, ts, nonce, body, bl, user, dev, pk), 0);
        ck_assert_int_eq(rbx_request_verify(want, method, target, ts + 1, nonce, body, bl, user, dev, pk), RBX_E_SIGNATURE);
        cases++;
    }
    ck_assert_uint_eq(cases, 2);
}
END_TEST

Suite *suite_devlist(void)
{
    Suite *s = suite_create("devlist");
    TCase *tc = tcase_create("devlist");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, identifiers);
    tcase_add_test(tc, entry_round_trip);
    tcase_add_test(tc, entry_malformed);
    tcase_add_test(tc, entry_signatures);
    tcase_add_test(tc, log_accepts);
    tcase_add_test(tc, log_genesis);
    tcase_add_test(tc, log_rules);
    tcase_add_test(tc, log_pin);
    tcase_add_test(tc, log_limits);
    tcase_add_test(tc, request_auth);
    tcase_add_test(tc, cross_statement);
    tcase_add_test(tc, bundle_onetime);
    suite_add_tcase(s, tc);
    /* Named "vectors" so that `make vectors` (CK_RUN_CASE=vectors) rewrites
     * spec/vectors/devicelist.json and request-auth.json with the others. */
    tc = tcase_create("vectors");
    tcase_add_test(tc, devlist_vectors);
    tcase_add_test(tc, devlist_vectors_replay);
    tcase_add_test(tc, request_vectors);
    tcase_add_test(tc, request_vectors_replay);
    suite_add_tcase(s, tc);
    return s;
}
