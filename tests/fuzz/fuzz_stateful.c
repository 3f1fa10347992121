/* SPDX-License-Identifier: MIT
 * Stateful target: the input drives two sessions, Alice (A) and Bob (B),
 * from the fixed handshake state (Alice has not yet seen a reply).
 *
 * Byte 0: bit 0 = header encryption. Then one operation per byte (low 3 bits),
 * some followed by argument bytes:
 *   0 A encrypts [len]          1 B encrypts [len]
 *   2 deliver [i]               3 drop [i] (never delivered afterwards)
 *   4 duplicate [i] (deliver twice in a row)
 *   5 tamper [i][pos_lo][pos_hi][mask] (deliver a copy with one byte changed)
 *   6 reorder [dir] (deliver that direction's pending messages newest first)
 *   7 persist (both sessions through their blobs, which must round-trip)
 * i picks a message among all sent so far (i mod count).
 *
 * Invariants (abort() on violation):
 *   - a message decrypts at most once, and only to its own plaintext;
 *   - a tampered copy is refused;
 *   - every refusal leaves the receiver's serialized state byte-identical;
 *   - while no limit of PROTOCOL.md "Limits" can apply (the sender used at
 *     most RBX_MAX_RECEIVING_CHAINS sending chains, the receiver took at most
 *     RBX_SKIPPED_KEY_MAX_AGE DH steps, fewer than RBX_MAX_SKIP messages), the
 *     first delivery of an untampered message succeeds. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAX_MSGS 200U
#define MAX_EPOCHS 64U

typedef struct msg {
    uint8_t *wire;
    size_t len;
    uint8_t pt[64];
    size_t ptlen;
    int to_b;
    int delivered;
    int dropped;
} msg;

typedef struct world {
    rbx_session *s[2]; /* 0 = A, 1 = B */
    msg m[MAX_MSGS];
    size_t n;
    uint32_t epochs[2][MAX_EPOCHS]; /* distinct dh_steps values at encrypt */
    size_t nepochs[2];
} world;

static fz_blob start_a[FZ_MODES], start_b[FZ_MODES]; /* byte 0: FZ_MODE_* */

void fz_gen(void)
{
    /* A conversation with every operation, for each header mode. */
    static const uint8_t ops[] = {
        0, 10, 0, 20, 1, 5, 2, 1, 2, 2, 2, 0, 1, 3, 0, 7, 0, 9, 3, 5, 2, 6, 4, 4,
        5, 2, 4, 0, 0x80, 0, 40, 6, 1, 6, 0, 1, 8, 2, 8, 7, 4, 8, 5, 8, 1, 0, 1,
    };
    uint8_t buf[sizeof ops + 1];
    memcpy(buf + 1, ops, sizeof ops);
    buf[0] = 0;
    fz_gen_write("gen-clear", buf, sizeof buf);
    buf[0] = 1;
    fz_gen_write("gen-he", buf, sizeof buf);
    buf[0] = FZ_MODE_V1;
    fz_gen_write("gen-clear-v1", buf, sizeof buf);
    buf[0] = FZ_MODE_V1 | FZ_MODE_HE;
    fz_gen_write("gen-he-v1", buf, sizeof buf);
    /* Many direction changes (DH steps). */
    uint8_t pingpong[1 + 60 * 4];
    pingpong[0] = 0;
    for (size_t i = 0; i < 60; i++) {
        uint8_t *p = pingpong + 1 + i * 4;
        p[0] = (uint8_t)(i & 1); /* A or B encrypts */
        p[1] = (uint8_t)i;
        p[2] = 2;                /* deliver the newest */
        p[3] = (uint8_t)i;
    }
    fz_gen_write("gen-pingpong", pingpong, sizeof pingpong);
}

void fz_setup(void)
{
    for (int he = 0; he < FZ_MODES; he++) fz_pair_blobs(&start_a[he], &start_b[he], he, FZ_PAIR_HANDSHAKE);
}

static void note_epoch(world *w, int who)
{
    rbx_session_info info;
    rbx_session_get_info(&info, w->s[who]);
    for (size_t i = 0; i < w->nepochs[who]; i++)
        if (w->epochs[who][i] == info.dh_steps) return;
    if (w->nepochs[who] < MAX_EPOCHS) w->epochs[who][w->nepochs[who]] = info.dh_steps;
    w->nepochs[who]++;
}

static void do_encrypt(world *w, int who, uint8_t arg)
{
    if (w->n >= MAX_MSGS) return;
    msg *m = &w->m[w->n];
    m->ptlen = arg % (sizeof m->pt + 1);
    for (size_t i = 0; i < m->ptlen; i++) m->pt[i] = (uint8_t)(w->n * 31 + i + (size_t)who * 7);
    if (m->ptlen >= 2) {
        m->pt[0] = (uint8_t)w->n; /* every plaintext differs from every other */
        m->pt[1] = (uint8_t)(who ? 'B' : 'A');
    }
    size_t cap = rbx_session_wire_size(w->s[who], m->ptlen);
    m->wire = malloc(cap);
    FZ_CHECK(m->wire != NULL);
    note_epoch(w, who);
    FZ_CHECK(rbx_session_encrypt(w->s[who], m->wire, cap, &m->len, m->pt, m->ptlen) == 0);
    m->to_b = who == 0;
    w->n++;
}

/* Can no limit have discarded this message's key or refused its jump? */
static int within_limits(const world *w, const msg *m)
{
    rbx_session_info info;
    rbx_session_get_info(&info, w->s[m->to_b]);
    return w->nepochs[m->to_b ? 0 : 1] <= RBX_MAX_RECEIVING_CHAINS &&
           info.dh_steps <= RBX_SKIPPED_KEY_MAX_AGE && w->n < RBX_MAX_SKIP;
}

/* Deliver wire (the message itself, or a tampered copy of it). */
static void deliver(world *w, msg *m, const uint8_t *wire, size_t len, int tampered)
{
    rbx_session *r = w->s[m->to_b];
    uint8_t *pt = malloc(len + 1);
    size_t ptlen = 1;
    FZ_CHECK(pt != NULL);
    fz_blob before = fz_save(r);
    int strict = within_limits(w, m);
    int rc = rbx_session_decrypt(r, pt, len, &ptlen, wire, len);
    fz_debug("deliver to %c%s: %s", m->to_b ? 'B' : 'A', tampered ? " (tampered)" : "",
             rbx_strerror(rc));
    if (rc == 0) {
        FZ_CHECK(!tampered);          /* a changed byte must not authenticate */
        FZ_CHECK(!m->delivered);      /* at most once */
        FZ_CHECK(!m->dropped);
        FZ_CHECK(ptlen == m->ptlen && memcmp(pt, m->pt, ptlen) == 0);
        m->delivered = 1;
    } else {
        FZ_CHECK(ptlen == 0);
        fz_blob after = fz_save(r);
        FZ_CHECK(fz_blob_eq(&before, &after)); /* refused: state unchanged */
        free(after.p);
        /* An untampered first delivery within the limits must succeed. */
        FZ_CHECK(tampered || m->delivered || !strict);
    }
    free(before.p);
    free(pt);
}

static void persist(world *w)
{
    for (int i = 0; i < 2; i++) {
        fz_blob b = fz_save(w->s[i]);
        rbx_session *c = fz_load(&b);
        fz_blob b2 = fz_save(c);
        FZ_CHECK(fz_blob_eq(&b, &b2));
        rbx_session_free(w->s[i]);
        w->s[i] = c;
        free(b.p);
        free(b2.p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    world *w = calloc(1, sizeof *w);
    FZ_CHECK(w != NULL);
    int mode = data[0] & (FZ_MODES - 1);
    fz_rng_seed("stateful", data, size);
    w->s[0] = fz_load(&start_a[mode]);
    w->s[1] = fz_load(&start_b[mode]);
    /* Alice's "hello" was her first sending chain. */
    w->epochs[0][0] = 0;
    w->nepochs[0] = 1;

    size_t i = 1;
#define ARG() (i < size ? data[i++] : 0)
    while (i < size) {
        uint8_t op = data[i++] & 7;
        switch (op) {
        case 0:
        case 1:
            do_encrypt(w, op, ARG());
            break;
        case 2:
        case 3:
        case 4: {
            uint8_t a = ARG();
            if (w->n == 0) break;
            msg *m = &w->m[a % w->n];
            if (m->dropped) break;
            if (op == 3) {
                if (!m->delivered) m->dropped = 1;
                break;
            }
            deliver(w, m, m->wire, m->len, 0);
            if (op == 4) deliver(w, m, m->wire, m->len, 0);
            break;
        }
        case 5: {
            uint8_t a = ARG(), lo = ARG(), hi = ARG(), mask = ARG();
            if (w->n == 0) break;
            msg *m = &w->m[a % w->n];
            uint8_t *t = malloc(m->len);
            FZ_CHECK(t != NULL);
            memcpy(t, m->wire, m->len);
            t[((size_t)lo | (size_t)hi << 8) % m->len] ^= mask ? mask : 1;
            deliver(w, m, t, m->len, 1);
            free(t);
            break;
        }
        case 6: {
            int to_b = ARG() & 1;
            for (size_t k = w->n; k-- > 0;) {
                msg *m = &w->m[k];
                if (m->to_b == to_b && !m->delivered && !m->dropped)
                    deliver(w, m, m->wire, m->len, 0);
            }
            break;
        }
        default:
            persist(w);
            break;
        }
    }
#undef ARG
    for (size_t k = 0; k < w->n; k++) free(w->m[k].wire);
    rbx_session_free(w->s[0]);
    rbx_session_free(w->s[1]);
    free(w);
    return 0;
}
