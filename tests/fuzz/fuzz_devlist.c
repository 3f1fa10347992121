/* SPDX-License-Identifier: MIT
 * Device lists (PROTOCOL.md section 20). Byte 0 selects (mod 3):
 *   0 rbx_devlist_entry_parse of the rest, and the entry as a one-entry log;
 *   1 rbx_devlist_verify: byte 1 = flags (bits 0-2: how many entries of the
 *     fixed five-entry log come first, mod 6; bits 3-5: pin at that seq of
 *     the fixed log, 0 none; bit 6: the fixed organisation root), then
 *     entries as u16-LE length || bytes, at most 8;
 *   2 rbx_bundle_with_onetime: bytes 1-4 the id (LE), 5-36 the key, then the
 *     base bundle.
 * A refusal leaves the outputs zeroed. An accepted entry is accepted as a
 * one-entry log exactly when it is a valid first entry. An accepted log has
 * a consistent head and device set, every prefix of it verifies, and it
 * verifies on first use too when it verified from a pin. An assembled
 * bundle parses with the given one-time prekey. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "rotation.h"
#include "wire.h"

enum { M_ENTRY = 0, M_LOG = 1, M_BUNDLE = 2 };
#define USER "alice"
#define NFIXED 5U
#define MAXLOG (NFIXED + 8U)

static uint8_t A_pk[32], A_sk[32], B_pk[32], B_sk[32], C_pk[32], C_sk[32], D_pk[32], D_sk[32];
static uint8_t O_pk[32], O_sk[32];
static uint8_t fixed[NFIXED][RBX_DEVLIST_ENTRY_MAXBYTES];
static size_t fixed_len[NFIXED];
static uint8_t fixed_hash[NFIXED][32];
static uint8_t base_bundle[RBX_BUNDLE_MAXBYTES];
static size_t base_len;

static void entry(size_t i, unsigned op, const uint8_t *dev, const uint8_t *who, const uint8_t *who_sk,
                  const uint8_t *signer, const uint8_t *signer_sk, unsigned kind)
{
    rbx_devlist_entry e = { 0 };
    strcpy(e.user, USER);
    e.seq = i + 1;
    if (i > 0) memcpy(e.prev_hash, fixed_hash[i - 1], 32);
    e.op = op;
    e.device = rbx_device_id(dev);
    memcpy(e.identity, who, 32);
    e.created = 1700000000U + i;
    e.signer_kind = kind;
    memcpy(e.signer, signer, 32);
    FZ_CHECK(rbx_devlist_entry_sign(fixed[i], sizeof fixed[i], &fixed_len[i], &e, signer_sk,
                                    op == RBX_DEVLIST_REMOVE ? NULL : who_sk) == 0);
    rbx_devlist_entry_hash(fixed_hash[i], fixed[i], fixed_len[i]);
}

void fz_setup(void)
{
    fz_keypair(A_pk, A_sk, "devlist-a");
    fz_keypair(B_pk, B_sk, "devlist-b");
    fz_keypair(C_pk, C_sk, "devlist-c");
    fz_keypair(D_pk, D_sk, "devlist-d");
    fz_keypair(O_pk, O_sk, "devlist-org");
    /* A, A adds B, B rotates to C, the org adds D, A removes device B. */
    entry(0, RBX_DEVLIST_ADD, A_pk, A_pk, A_sk, A_pk, A_sk, RBX_SIGNER_DEVICE);
    entry(1, RBX_DEVLIST_ADD, B_pk, B_pk, B_sk, A_pk, A_sk, RBX_SIGNER_DEVICE);
    entry(2, RBX_DEVLIST_ROTATE, B_pk, C_pk, C_sk, B_pk, B_sk, RBX_SIGNER_DEVICE);
    entry(3, RBX_DEVLIST_ADD, D_pk, D_pk, D_sk, O_pk, O_sk, RBX_SIGNER_ORG);
    entry(4, RBX_DEVLIST_REMOVE, B_pk, C_pk, NULL, A_pk, A_sk, RBX_SIGNER_DEVICE);
    rbx_prekeys *pk = fz_prekeys();
    FZ_CHECK(rbx_prekeys_bundle(base_bundle, sizeof base_bundle, &base_len, pk, FZ_SPK_ID,
                                RBX_NO_PREKEY) == 0);
    rbx_prekeys_free(pk);
}

static size_t put_entries(uint8_t *out, const uint8_t *const *e, const size_t *l, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        out[k++] = (uint8_t)l[i];
        out[k++] = (uint8_t)(l[i] >> 8);
        memcpy(out + k, e[i], l[i]);
        k += l[i];
    }
    return k;
}

void fz_gen(void)
{
    static uint8_t buf[2 + MAXLOG * (2 + RBX_DEVLIST_ENTRY_MAXBYTES)];
    const uint8_t *e[NFIXED];
    for (size_t i = 0; i < NFIXED; i++) {
        char name[32];
        snprintf(name, sizeof name, "gen-entry-%zu", i + 1);
        fz_gen_write2(name, M_ENTRY, fixed[i], fixed_len[i]);
        e[i] = fixed[i];
    }
    /* The whole log given by the input, with the root (and without: refused
     * at entry 4), from a pin at seq 2. */
    buf[0] = M_LOG;
    buf[1] = 0x40;
    size_t n = 2 + put_entries(buf + 2, e, fixed_len, NFIXED);
    fz_gen_write("gen-log-org", buf, n);
    buf[1] = 0x00;
    fz_gen_write("gen-log-no-org", buf, n);
    buf[1] = 0x40 | (2U << 3);
    fz_gen_write("gen-log-pinned", buf, n);
    /* Three fixed entries, the last two from the input. */
    buf[1] = 0x40 | 3U;
    n = 2 + put_entries(buf + 2, e + 3, fixed_len + 3, 2);
    fz_gen_write("gen-log-tail", buf, n);
    /* The fixed log and one more entry: A adds a new key (possession proven). */
    buf[1] = 0x40 | 5U | (5U << 3);
    uint8_t x_pk[32], x_sk[32], more[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t ml;
    fz_keypair(x_pk, x_sk, "devlist-x");
    rbx_devlist_entry d = { 0 };
    strcpy(d.user, USER);
    d.seq = 6;
    memcpy(d.prev_hash, fixed_hash[4], 32);
    d.op = RBX_DEVLIST_ADD;
    d.device = rbx_device_id(x_pk);
    memcpy(d.identity, x_pk, 32);
    d.created = 1700000100U;
    memcpy(d.signer, A_pk, 32);
    FZ_CHECK(rbx_devlist_entry_sign(more, sizeof more, &ml, &d, A_sk, x_sk) == 0);
    const uint8_t *m1[1] = { more };
    n = 2 + put_entries(buf + 2, m1, &ml, 1);
    fz_gen_write("gen-log-extend", buf, n);
    /* A base bundle and a one-time prekey. */
    buf[0] = M_BUNDLE;
    buf[1] = 7;
    buf[2] = buf[3] = buf[4] = 0;
    memcpy(buf + 5, x_pk, 32);
    memcpy(buf + 37, base_bundle, base_len);
    fz_gen_write("gen-bundle", buf, 37 + base_len);
}

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return 0;
    return 1;
}

static void one_entry(const uint8_t *in, size_t len)
{
    rbx_devlist_entry e;
    int rc = rbx_devlist_entry_parse(&e, in, len);
    fz_debug("entry: %s", rbx_strerror(rc));
    rbx_devlist l;
    const uint8_t *p[1] = { in };
    if (rc != 0) {
        FZ_CHECK(all_zero(&e, sizeof e));
        /* In a log, the entry's own error. */
        FZ_CHECK(rbx_devlist_verify(&l, USER, p, &len, 1, NULL, NULL) == rc);
        FZ_CHECK(all_zero(&l, sizeof l));
        return;
    }
    FZ_CHECK(rbx_user_id_ok(e.user) && e.seq != 0 && e.device >= 1 && e.device <= RBX_DEVICE_ID_MAX);
    FZ_CHECK(e.op >= RBX_DEVLIST_ADD && e.op <= RBX_DEVLIST_ROTATE && e.signer_kind <= 1);
    /* As a one-entry log of its own user: accepted iff it is a valid first
     * entry (with its signer as the root when it names one). */
    int first = e.seq == 1 && e.op == RBX_DEVLIST_ADD && all_zero(e.prev_hash, 32) &&
                e.device == rbx_device_id(e.identity) &&
                (e.signer_kind == RBX_SIGNER_ORG || sodium_memcmp(e.signer, e.identity, 32) == 0);
    const uint8_t *org = e.signer_kind == RBX_SIGNER_ORG ? e.signer : NULL;
    int v = rbx_devlist_verify(&l, e.user, p, &len, 1, NULL, org);
    fz_debug("as a log: %s", rbx_strerror(v));
    FZ_CHECK(v == (first ? 0 : RBX_E_CHAIN));
    if (v == 0) {
        uint8_t h[32];
        rbx_devlist_entry_hash(h, in, len);
        FZ_CHECK(l.ndevices == 1 && l.devices[0].id == e.device && l.head.seq == 1);
        FZ_CHECK(memcmp(l.devices[0].identity, e.identity, 32) == 0);
        FZ_CHECK(memcmp(l.head.hash, h, 32) == 0 && memcmp(l.head.first_hash, h, 32) == 0);
    }
}

static void one_log(const uint8_t *in, size_t len)
{
    if (len < 1) return;
    unsigned flags = in[0], k = (flags & 7U) % (NFIXED + 1), pin_seq = (flags >> 3) & 7U;
    const uint8_t *org = (flags & 0x40) ? O_pk : NULL;
    const uint8_t *e[MAXLOG];
    size_t l[MAXLOG], n = 0;
    for (; n < k; n++) {
        e[n] = fixed[n];
        l[n] = fixed_len[n];
    }
    size_t off = 1;
    while (n < MAXLOG && len - off >= 2) {
        size_t el = (size_t)in[off] | ((size_t)in[off + 1] << 8);
        off += 2;
        if (el > len - off) el = len - off;
        e[n] = in + off;
        l[n++] = el;
        off += el;
    }
    rbx_devlist_pin pin = { 0 };
    if (pin_seq >= 1 && pin_seq <= NFIXED) {
        pin.seq = pin_seq;
        memcpy(pin.first_hash, fixed_hash[0], 32);
        memcpy(pin.hash, fixed_hash[pin_seq - 1], 32);
    }
    rbx_devlist d;
    int rc = rbx_devlist_verify(&d, USER, e, l, n, pin.seq ? &pin : NULL, org);
    fz_debug("log of %zu (%u fixed, pin %u, org %d): %s", n, k, pin_seq, org != NULL,
             rbx_strerror(rc));
    if (rc != 0) {
        FZ_CHECK(all_zero(&d, sizeof d));
        return;
    }
    uint8_t h[32];
    FZ_CHECK(n >= 1 && d.head.seq == n && d.ndevices >= 1 && d.ndevices <= RBX_DEVLIST_MAX_DEVICES);
    rbx_devlist_entry_hash(h, e[n - 1], l[n - 1]);
    FZ_CHECK(memcmp(d.head.hash, h, 32) == 0);
    rbx_devlist_entry_hash(h, e[0], l[0]);
    FZ_CHECK(memcmp(d.head.first_hash, h, 32) == 0);
    for (size_t i = 0; i < d.ndevices; i++) {
        FZ_CHECK(d.devices[i].added_seq >= 1 && d.devices[i].added_seq <= n);
        for (size_t j = 0; j < i; j++) {
            FZ_CHECK(d.devices[i].id != d.devices[j].id);
            FZ_CHECK(memcmp(d.devices[i].identity, d.devices[j].identity, 32) != 0);
        }
    }
    /* A pin only narrows: the log verifies on first use too. */
    rbx_devlist t;
    if (pin.seq != 0) {
        FZ_CHECK(rbx_devlist_verify(&t, USER, e, l, n, NULL, org) == 0);
        FZ_CHECK(memcmp(&t, &d, sizeof t) == 0);
    }
    /* Every prefix is a valid log, and its head pins the whole. */
    if (n > 1) {
        FZ_CHECK(rbx_devlist_verify(&t, USER, e, l, n - 1, NULL, org) == 0);
        FZ_CHECK(t.head.seq == n - 1);
        rbx_devlist_pin p2 = t.head;
        FZ_CHECK(rbx_devlist_verify(&t, USER, e, l, n, &p2, org) == 0);
        FZ_CHECK(memcmp(&t, &d, sizeof t) == 0);
        FZ_CHECK(rbx_devlist_verify(&t, USER, e, l, n - 1, &d.head, org) == RBX_E_STALE);
    }
}

static void one_bundle(const uint8_t *in, size_t len)
{
    if (len < 36) return;
    uint32_t id = (uint32_t)in[0] | ((uint32_t)in[1] << 8) | ((uint32_t)in[2] << 16) |
                  ((uint32_t)in[3] << 24);
    const uint8_t *key = in + 4, *base = in + 36;
    size_t blen = len - 36;
    static uint8_t out[RBX_BUNDLE_MAXBYTES + 64];
    size_t outlen = 1;
    int rc = rbx_bundle_with_onetime(out, sizeof out, &outlen, base, blen, id, key);
    fz_debug("with one-time prekey: %s", rbx_strerror(rc));
    rbx_bundle b;
    int brc = rbx_bundle_parse(&b, base, blen);
    if (rc != 0) {
        FZ_CHECK(outlen == 0);
        FZ_CHECK(brc != 0 || b.has_onetime || id == RBX_NO_PREKEY || rc == RBX_E_KEY ||
                 rc == RBX_E_BUFFER);
        return;
    }
    FZ_CHECK(brc == 0 && !b.has_onetime && outlen == blen + 1 + rbx__varint_len(id) + 34);
    rbx_bundle a;
    FZ_CHECK(rbx_bundle_parse(&a, out, outlen) == 0);
    FZ_CHECK(a.has_onetime && a.onetime_prekey_id == id && memcmp(a.onetime_prekey, key, 32) == 0);
    FZ_CHECK(memcmp(a.identity, b.identity, 32) == 0 && a.signed_prekey_id == b.signed_prekey_id);
    FZ_CHECK(a.chain_len == b.chain_len && a.has_certificate == b.has_certificate);
    /* Not twice. */
    size_t again = 1;
    FZ_CHECK(rbx_bundle_with_onetime(out, sizeof out, &again, out, outlen, id, key) ==
                 RBX_E_MALFORMED && again == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    switch (data[0] % 3) {
    case M_ENTRY: one_entry(data + 1, size - 1); break;
    case M_LOG: one_log(data + 1, size - 1); break;
    default: one_bundle(data + 1, size - 1); break;
    }
    return 0;
}
