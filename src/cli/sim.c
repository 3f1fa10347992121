/* SPDX-License-Identifier: MIT
 * `rbx sim`: the compromise simulator (issue 4 section 3).
 *
 * A seeded conversation of N messages between Alice and Bob after an X3DH
 * handshake (the handshake's "hello" is message 0 and always arrives). A
 * thief copies one party's state right after message K has been sent and
 * every delivery due by then has been processed, records all traffic, and
 * we decide by real decryption attempts which messages it reads
 * (SECURITY.md section 3, the experiment of tests/test_security.c):
 *  - to the victim: every recorded ciphertext addressed to it, in send
 *    order, tried on one evolving copy of the snapshot (the library's
 *    decrypt changes nothing on failure);
 *  - from the victim: the same with a "mirror" of the snapshot whose
 *    receiving chain is the victim's sending chain;
 *  - baseline: every message also sealed as today's box envelope, opened
 *    with the victim's box secret key, both directions.
 *
 * --active (DR spec 6.2): right after K the thief impersonates the peer to
 * the victim. The snapshot holds the victim's RK and DHs secret, so the
 * thief runs a DH ratchet step as the peer with a key pair E of its own:
 * chain = KDF_RK(RK, DH(E, victim DHs)), header (E, PN = victim's Nr, n = 0)
 * under the victim's NHKr. This is done by building a peer-side session
 * struct (session.h) by hand, with the chain from kdf.h's rbx__kdf_rk, and
 * letting rbx_session_encrypt produce the wire bytes, so the forgery is
 * exactly what a real peer would send. If the victim accepts it, its next
 * chains are keyed to E: the thief's impersonator keeps decrypting them.
 * The thief does not relay, so the real peer can no longer follow (counted).
 *
 * Limits: attempts use the library as it is, including RBX_MAX_SKIP; a
 * thief with a modified library is not bound by it (only matters for
 * chains longer than 1000 messages). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ratchetbox.h"
#include "session.h"
#include "store.h"

#include "cli.h"
#include "detrng.h"
#include "sim.h"

#define PT_CAP 64U                       /* "message 100000 from alice" fits */
#define WIRE_CAP (PT_CAP + 512U)         /* RBX_MAX_WIRE's overhead bound */
#define DEVICE 1U                        /* each party has one device */
#define SPK_ID 1U
#define OTP_ID 100U
#define PATH_CAP 512U
#define NONE UINT32_MAX

static const char *const party_names[2] = { "alice", "bob" };

/* ------------------------------------------------------------ parties */

typedef struct party {
    const char *name, *peer_name;
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES]; /* box key pair */
    rbx_session *s;               /* in memory */
    rbx_store *st;                /* --store */
    char db[PATH_CAP];
} party;

typedef struct msg {
    uint8_t *wire;
    size_t len;
    int from_alice;
    uint32_t deliver_at;          /* step of delivery; NONE: lost */
    char *bct;                    /* baseline envelope */
    char bnonce[RBX_NONCE_B64BYTES];
    /* Public facts of the sender's chain, for the prediction. */
    uint8_t dhs[32], dhr[32], hks[32];
    uint32_t n;
} msg;

typedef struct sim {
    const rbx_sim_opts *o;
    rbx_sim_result *r;
    rbx_session_opts so;
    party p[2];
    msg *m;                       /* 1..N */
    uint32_t *pending;            /* messages in flight */
    size_t npending;
    char tmp[PATH_CAP];           /* --store: temporary directory */
    rbx_session *snapshot;
    rbx_session *impostor;        /* --active */
} sim;

static size_t make_pt(uint8_t pt[PT_CAP], uint32_t t, int from_alice)
{
    int n = snprintf((char *)pt, PT_CAP, "message %" PRIu32 " from %s", t,
                     party_names[from_alice ? 0 : 1]);
    return n > 0 ? (size_t)n : 0;
}

static int party_send(sim *S, party *p, uint8_t *out, size_t *outlen, const uint8_t *pt,
                      size_t ptlen)
{
    if (p->st == NULL) return rbx_session_encrypt(p->s, out, WIRE_CAP, outlen, pt, ptlen);
    uint64_t id;
    int rc = rbx_store_encrypt(p->st, out, WIRE_CAP, outlen, &id, p->peer_name, DEVICE, pt,
                               ptlen, &S->so);
    /* Handed to the network: a real client acknowledges the outbox entry. */
    if (rc == 0) rc = rbx_store_ack_outbox(p->st, id);
    return rc;
}

static int party_recv(party *p, uint8_t *pt, size_t *ptlen, const uint8_t *in, size_t len)
{
    if (p->st == NULL) return rbx_session_decrypt(p->s, pt, WIRE_CAP, ptlen, in, len);
    rbx_received info;
    int rc = rbx_store_decrypt(p->st, pt, WIRE_CAP, ptlen, &info, p->peer_name, DEVICE, in, len);
    /* Shown to the user: acknowledged, so no plaintext waits in the inbox
     * (the thief would otherwise read it there, not by breaking anything). */
    if (rc == 0) rc = rbx_store_ack_inbox(p->st, info.inbox_id);
    return rc;
}

/* Deep copy through the versioned blob (what a thief of the P 11 blob holds). */
static int clone_session(rbx_session **out, const rbx_session *s)
{
    size_t n;
    uint8_t *b;
    int rc = rbx_session_serialize(NULL, 0, &n, s);
    *out = NULL;
    if (rc != 0) return rc;
    if ((b = malloc(n)) == NULL) return RBX_E_NOMEM;
    rc = rbx_session_serialize(b, n, &n, s);
    if (rc == 0) rc = rbx_session_deserialize(out, b, n);
    sodium_memzero(b, n);
    free(b);
    return rc;
}

/* ------------------------------------------------------------ store files */

static int join(char out[PATH_CAP], const char *a, const char *b)
{
    int n = snprintf(out, PATH_CAP, "%s/%s", a, b);
    return n > 0 && (size_t)n < PATH_CAP ? 0 : RBX_E_IO;
}

/* The files of one store: the database, its WAL, the key and the
 * generation sidecar (src/store/open.c's default names). */
static const char *const store_files[] = { "db", "db-wal", "db-shm", "db.key", "db.gen" };

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out, rc = 0;
    if (in < 0) return errno == ENOENT ? 0 : RBX_E_IO; /* no WAL is fine */
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) {
        close(in);
        return RBX_E_IO;
    }
    uint8_t buf[8192];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            rc = RBX_E_IO;
            break;
        }
    }
    if (close(out) != 0) rc = RBX_E_IO;
    close(in);
    return rc;
}

static void remove_dir(const char *dir)
{
    char f[PATH_CAP];
    for (size_t i = 0; i < RBX_COUNTOF(store_files); i++)
        if (join(f, dir, store_files[i]) == 0) (void)unlink(f);
    (void)rmdir(dir);
}

static int store_setup(sim *S)
{
    const char *base = getenv("TMPDIR");
    char d[PATH_CAP];
    int n = snprintf(S->tmp, sizeof S->tmp, "%s/rbx-sim-XXXXXX",
                     base != NULL && base[0] != '\0' ? base : "/tmp");
    if (n <= 0 || (size_t)n >= sizeof S->tmp || mkdtemp(S->tmp) == NULL) {
        S->tmp[0] = '\0';
        return RBX_E_IO;
    }
    for (int i = 0; i < 2; i++) {
        party *p = &S->p[i];
        int rc;
        if (join(d, S->tmp, p->name) != 0 || mkdir(d, 0700) != 0) return RBX_E_IO;
        if (join(p->db, d, "db") != 0) return RBX_E_IO;
        rbx_store_opts so = { .create = 1, .mode = RBX_STORE_BOUNDED };
        if ((rc = rbx_store_open(&p->st, p->db, &so)) != 0) return rc;
        if ((rc = rbx_store_identity_create(p->st, p->pk, p->sk)) != 0) return rc;
    }
    return 0;
}

static void store_teardown(sim *S)
{
    char d[PATH_CAP];
    for (int i = 0; i < 2; i++) {
        rbx_store_close(S->p[i].st);
        S->p[i].st = NULL;
    }
    if (S->tmp[0] == '\0') return;
    const char *dirs[] = { "alice", "bob", "thief" };
    for (size_t i = 0; i < RBX_COUNTOF(dirs); i++)
        if (join(d, S->tmp, dirs[i]) == 0) remove_dir(d);
    (void)rmdir(S->tmp);
}

/* The thief copies the victim's state directory (database, WAL, key file)
 * as it is on disk, opens the copy and reads the session the way the store
 * would load it. */
static int store_snapshot(sim *S, const party *victim, rbx_session **out)
{
    char dst[PATH_CAP], from[PATH_CAP], to[PATH_CAP], src[PATH_CAP];
    rbx_store *t = NULL;
    int rc;
    if (join(src, S->tmp, victim->name) != 0 || join(dst, S->tmp, "thief") != 0)
        return RBX_E_IO;
    if (mkdir(dst, 0700) != 0) return RBX_E_IO;
    for (size_t i = 0; i < RBX_COUNTOF(store_files); i++) {
        if (join(from, src, store_files[i]) != 0 || join(to, dst, store_files[i]) != 0)
            return RBX_E_IO;
        if ((rc = copy_file(from, to)) != 0) return rc;
    }
    if (join(to, dst, "db") != 0) return RBX_E_IO;
    if ((rc = rbx_store_open(&t, to, NULL)) != 0) return rc;
    rc = rbx__store_load_session(t, out, victim->peer_name, DEVICE);
    rbx_store_close(t);
    return rc;
}

/* ------------------------------------------------------------ handshake */

static int handshake(sim *S)
{
    party *a = &S->p[0], *b = &S->p[1];
    uint8_t wire[WIRE_CAP], pt[WIRE_CAP], bundle[RBX_BUNDLE_MAXBYTES];
    size_t wlen, ptlen, blen;
    int rc;
    const uint8_t hello[] = "hello";
    if (S->o->store) {
        if ((rc = store_setup(S)) != 0) return rc;
        if ((rc = rbx_store_bundle(b->st, bundle, sizeof bundle, &blen, 1)) != 0) return rc;
        if ((rc = rbx_store_add_contact(a->st, a->peer_name, DEVICE, bundle, blen)) != 0)
            return rc;
    } else {
        rbx_prekeys *pk = NULL;
        rbx_bundle bd;
        uint32_t used;
        rc = rbx_prekeys_new(&pk, b->pk, b->sk);
        if (rc == 0) rc = rbx_prekeys_add_signed(pk, SPK_ID, NULL);
        if (rc == 0) rc = rbx_prekeys_add_onetime(pk, OTP_ID, NULL);
        if (rc == 0) rc = rbx_prekeys_bundle(bundle, sizeof bundle, &blen, pk, SPK_ID, OTP_ID);
        if (rc == 0) rc = rbx_bundle_parse(&bd, bundle, blen);
        if (rc == 0) rc = rbx_session_initiate(&a->s, a->pk, a->sk, &bd, &S->so);
        if (rc == 0) rc = rbx_session_encrypt(a->s, wire, sizeof wire, &wlen, hello, 5);
        if (rc == 0)
            rc = rbx_session_accept(&b->s, pt, sizeof pt, &ptlen, &used, pk, NULL, wire, wlen);
        rbx_prekeys_free(pk);
        return rc;
    }
    if ((rc = party_send(S, a, wire, &wlen, hello, 5)) != 0) return rc;
    return party_recv(b, pt, &ptlen, wire, wlen);
}

/* ------------------------------------------------------------ delivery */

/* Deliver, in order, every message in flight due by step t: the on-time
 * message of step t first, then late ones (a message d positions late
 * arrives right after the d-th message sent after it). */
static int deliver_due(sim *S, uint32_t t)
{
    uint8_t pt[WIRE_CAP];
    for (;;) {
        size_t best = S->npending;
        for (size_t i = 0; i < S->npending; i++) {
            const msg *c = &S->m[S->pending[i]];
            if (c->deliver_at > t) continue;
            if (best == S->npending) {
                best = i;
                continue;
            }
            const msg *bm = &S->m[S->pending[best]];
            uint32_t ci = S->pending[i], bi = S->pending[best];
            int c_late = c->deliver_at != ci, b_late = bm->deliver_at != bi;
            if (c->deliver_at < bm->deliver_at ||
                (c->deliver_at == bm->deliver_at &&
                 (c_late < b_late || (c_late == b_late && ci < bi))))
                best = i;
        }
        if (best == S->npending) return 0;
        uint32_t idx = S->pending[best];
        S->pending[best] = S->pending[--S->npending];
        msg *c = &S->m[idx];
        party *rx = &S->p[c->from_alice ? 1 : 0];
        size_t ptlen;
        int rc = party_recv(rx, pt, &ptlen, c->wire, c->len);
        if (rc != 0) {
            /* Storage failures stop the run; a refused message is a result. */
            if (rc == RBX_E_IO || rc == RBX_E_CORRUPT || rc == RBX_E_NOMEM) return rc;
            S->r->flags[idx] |= RBX_SIM_REJECTED;
            S->r->rejected++;
        }
    }
}

/* ------------------------------------------------------------ attacker */

/* The mirror trick of tests/test_security.c: the victim's sending chain as
 * a receiving chain, so the library's decrypt tries the victim's own
 * outgoing messages. */
static void mirror(rbx_session *m)
{
    rbx__state *st = &m->st;
    memcpy(st->ckr, st->cks, 32);
    memcpy(st->bkr, st->bks, 32); /* profile 2's block key (PROTOCOL.md 4.4) */
    memcpy(st->dhr, st->dhs_pk, 32);
    memcpy(st->hkr, st->hks, 32);
    st->nr = st->ns;
    st->flags |= RBX_HAS_CKR | RBX_HAS_DHR | RBX_HAS_HKR;
    if (!(m->st.flags & RBX_HAS_CKS)) st->flags &= ~(RBX_HAS_CKR | RBX_HAS_HKR);
    WIPE_BUF(m->skipped, m->nskipped * sizeof *m->skipped);
    m->nskipped = 0;
}

/* --active: a session on the peer's side, made from the victim's snapshot
 * alone, that has just run a DH ratchet step with the thief's own key pair
 * E (DR spec 3.5 seen from the peer). Its receiving side mirrors the
 * victim's current sending chain; its next receiving header key is the
 * victim's NHKs, so it follows the victim into every later chain. */
static int make_impostor(rbx_session **out, const rbx_session *snap)
{
    const rbx__profile *prof = rbx__profile_get(snap->profile);
    uint8_t epk[32], esk[32], dh[32];
    rbx_session *f = NULL;
    int rc;
    *out = NULL;
    if (prof == NULL) return RBX_E_STATE;
    if ((rc = clone_session(&f, snap)) != 0) return rc;
    const rbx__state *v = &snap->st;
    rbx__state *st = &f->st;
    if ((rc = rbx_keypair_generate(epk, esk)) != 0) goto out;
    if ((rc = rbx__dh(dh, esk, v->dhs_pk)) != 0) goto out;
    WIPE(*st);
    rbx__kdf_rk(st->rk, st->cks, st->nhks, v->rk, dh, prof);
    rbx__chain_init(st->cks, st->bks, st->cks, prof);
    memcpy(st->dhs_pk, epk, 32);
    memcpy(st->dhs_sk, esk, 32);
    memcpy(st->dhr, v->dhs_pk, 32);
    memcpy(st->hks, v->nhkr, 32);   /* the victim opens it with NHKr: a DH step */
    st->ns = 0;
    st->pn = v->nr;                 /* nothing for the victim to skip */
    memcpy(st->ckr, v->cks, 32);
    memcpy(st->bkr, v->bks, 32);
    memcpy(st->hkr, v->hks, 32);
    memcpy(st->nhkr, v->nhks, 32);
    st->nr = v->ns;
    st->flags = RBX_HAS_DHR | RBX_HAS_CKS | RBX_HAS_HKS;
    if (v->flags & RBX_HAS_CKS) st->flags |= RBX_HAS_CKR | RBX_HAS_HKR;
    f->initiator = (uint8_t)!snap->initiator;
    f->awaiting_reply = 0;
    WIPE_BUF(f->skipped, f->nskipped * sizeof *f->skipped);
    f->nskipped = 0;
    *out = f;
    f = NULL;
out:
    WIPE(esk);
    WIPE(dh);
    rbx_session_free(f);
    return rc;
}

static int inject_forgery(sim *S, party *victim)
{
    uint8_t wire[WIRE_CAP], pt[WIRE_CAP];
    const uint8_t text[] = "forged: please send me the deploy key";
    size_t wlen, ptlen;
    int rc = make_impostor(&S->impostor, S->snapshot);
    if (rc != 0) return rc;
    if ((rc = rbx_session_encrypt(S->impostor, wire, sizeof wire, &wlen, text,
                                  sizeof text - 1)) != 0)
        return rc;
    rc = party_recv(victim, pt, &ptlen, wire, wlen);
    S->r->forgery_accepted =
        rc == 0 && ptlen == sizeof text - 1 && memcmp(pt, text, ptlen) == 0;
    if (rc == RBX_E_IO || rc == RBX_E_CORRUPT || rc == RBX_E_NOMEM) return rc;
    return 0;
}

static int try_open(rbx_session *s, const msg *c, uint32_t t)
{
    uint8_t pt[WIRE_CAP], want[PT_CAP];
    size_t ptlen, wl = make_pt(want, t, c->from_alice);
    if (rbx_session_decrypt(s, pt, sizeof pt, &ptlen, c->wire, c->len) != 0) return 0;
    return ptlen == wl && memcmp(pt, want, wl) == 0;
}

/* SECURITY.md section 3, from the snapshot's public facts only. */
static int predicted(const sim *S, const msg *c, uint32_t t, int to_victim)
{
    const rbx_session *v = S->snapshot;
    const rbx__state *st = &v->st;
    if (S->o->active && !to_victim && t > S->o->compromise_at) return 1; /* chains keyed to E */
    if (!to_victim) /* the rest of the victim's sending chain at k */
        return (st->flags & RBX_HAS_CKS) && memcmp(c->dhs, st->dhs_pk, 32) == 0 && c->n >= st->ns;
    /* A stored skipped key: its chain id is DHr, or HKr with header encryption. */
    const uint8_t *chain = v->header_encryption ? c->hks : c->dhs;
    for (size_t i = 0; i < v->nskipped; i++)
        if (v->skipped[i].n == c->n && memcmp(v->skipped[i].chain, chain, 32) == 0) return 1;
    /* The rest of the current receiving chain (CKr). */
    if ((st->flags & RBX_HAS_CKR) && memcmp(c->dhs, st->dhr, 32) == 0 && c->n >= st->nr)
        return 1;
    /* The peer's next chain, keyed to the victim's ratchet key (RK, DHs.sk). */
    return memcmp(c->dhr, st->dhs_pk, 32) == 0 &&
           !((st->flags & RBX_HAS_DHR) && memcmp(c->dhs, st->dhr, 32) == 0);
}

static int attack(sim *S)
{
    const rbx_sim_opts *o = S->o;
    rbx_sim_result *r = S->r;
    const party *victim = &S->p[o->victim_bob], *peer = &S->p[!o->victim_bob];
    rbx_session *thief = NULL, *mir = NULL;
    int rc;
    if ((rc = clone_session(&thief, S->snapshot)) != 0) return rc;
    if (S->impostor == NULL) {
        if ((rc = clone_session(&mir, S->snapshot)) != 0) goto out;
        mirror(mir);
    }
    /* With --active the impostor already mirrors the victim's sending
     * chain and follows the victim into the chains keyed to E. */
    rbx_session *outgoing = S->impostor != NULL ? S->impostor : mir;
    for (uint32_t t = 1; t <= o->messages; t++) {
        msg *c = &S->m[t];
        int to_victim = c->from_alice == o->victim_bob;
        uint8_t pt[WIRE_CAP];
        size_t ptlen;
        int read = try_open(to_victim ? thief : outgoing, c, t);
        int pred = predicted(S, c, t, to_victim);
        if (read) r->flags[t] |= RBX_SIM_READ;
        if (pred) r->flags[t] |= RBX_SIM_PREDICTED;
        if (read != pred) r->mismatches++;
        if (to_victim) {
            r->to_victim++;
            r->read_to_victim += (uint32_t)read;
            if (t <= o->compromise_at) r->read_before_k += (uint32_t)read;
            if (t > o->compromise_at && !read && r->healing_point == 0) r->healing_point = t;
        } else {
            r->from_victim++;
            r->read_from_victim += (uint32_t)read;
            r->flags[t] |= RBX_SIM_FROM_VICTIM;
            if (o->active && t > o->compromise_at) {
                r->after_forgery_from_victim++;
                r->after_forgery_from_victim_read += (uint32_t)read;
                if (c->deliver_at != NONE && !(r->flags[t] & RBX_SIM_REJECTED))
                    r->after_forgery_peer_accepted++;
            }
        }
        /* Baseline: the victim's box secret key and the peer's public key. */
        if (rbx_baseline_open(pt, sizeof pt, &ptlen, c->bct, strlen(c->bct), c->bnonce,
                              strlen(c->bnonce), peer->pk, victim->sk) == 0) {
            r->flags[t] |= RBX_SIM_BASELINE;
            r->baseline_read++;
        }
    }
    rc = 0;
out:
    rbx_session_free(thief);
    rbx_session_free(mir);
    return rc;
}

/* ------------------------------------------------------------ run */

/* The sender's ratchet key, the peer key its chain is keyed to, its header
 * key and the message number: facts the prediction compares with the
 * snapshot (a store is asked for the session as it is stored). */
static int note_chain(party *tx, msg *c)
{
    rbx_session *s = tx->s;
    int rc = 0;
    if (tx->st != NULL &&
        (rc = rbx__store_load_session(tx->st, &s, tx->peer_name, DEVICE)) != 0)
        return rc;
    memcpy(c->dhs, s->st.dhs_pk, 32);
    memcpy(c->dhr, s->st.dhr, 32);
    memcpy(c->hks, s->st.hks, 32);
    c->n = s->st.ns;
    if (tx->st != NULL) rbx_session_free(s);
    return 0;
}

static int conversation(sim *S)
{
    const rbx_sim_opts *o = S->o;
    rbx_sim_result *r = S->r;
    rbx_detrng g;
    uint8_t wire[WIRE_CAP], pt[PT_CAP];
    int speaker = 0, rc = 0; /* Alice said hello */
    crypto_generichash_state h;
    rbx_detrng_init(&g, o->seed);
    crypto_generichash_init(&h, NULL, 0, sizeof r->transcript);
    for (uint32_t t = 1; t <= o->messages && rc == 0; t++) {
        /* Every choice is drawn every step, so that one probability does
         * not shift the others' stream. */
        int sw = rbx_detrng_chance(&g, o->swap);
        int lost = rbx_detrng_chance(&g, o->loss);
        int late = rbx_detrng_chance(&g, o->reorder);
        uint32_t delay = rbx_detrng_range(&g, 1, RBX_SIM_MAX_DELAY);
        if (sw) speaker = !speaker;
        msg *c = &S->m[t];
        party *tx = &S->p[speaker], *rx = &S->p[!speaker];
        size_t ptlen = make_pt(pt, t, speaker == 0), wlen;
        c->from_alice = speaker == 0;
        if ((rc = note_chain(tx, c)) != 0) break;
        if ((rc = party_send(S, tx, wire, &wlen, pt, ptlen)) != 0) break;
        if ((c->wire = malloc(wlen)) == NULL) {
            rc = RBX_E_NOMEM;
            break;
        }
        memcpy(c->wire, wire, wlen);
        c->len = wlen;
        size_t bcap = RBX_BASELINE_B64LEN(ptlen);
        if ((c->bct = malloc(bcap)) == NULL) {
            rc = RBX_E_NOMEM;
            break;
        }
        if ((rc = rbx_baseline_seal(c->bct, bcap, c->bnonce, pt, ptlen, rx->pk, tx->sk)) != 0)
            break;
        /* What the network saw, in order: the proof that keys and nonces
         * came from the seed too. */
        uint8_t lenbuf[4];
        rbx__store32_be(lenbuf, (uint32_t)wlen);
        crypto_generichash_update(&h, lenbuf, sizeof lenbuf);
        crypto_generichash_update(&h, c->wire, c->len);
        crypto_generichash_update(&h, (const uint8_t *)c->bnonce, strlen(c->bnonce));
        if (lost) {
            c->deliver_at = NONE;
            r->flags[t] |= RBX_SIM_LOST;
            r->lost++;
        } else {
            c->deliver_at = late ? t + delay : t;
            if (late) {
                r->flags[t] |= RBX_SIM_LATE;
                r->late++;
            }
            S->pending[S->npending++] = t;
        }
        if ((rc = deliver_due(S, t)) != 0) break;
        if (t == o->compromise_at) {
            party *victim = &S->p[o->victim_bob];
            rbx_session_info info;
            rc = o->store ? store_snapshot(S, victim, &S->snapshot)
                          : clone_session(&S->snapshot, victim->s);
            if (rc != 0) break;
            rbx_session_get_info(&info, S->snapshot);
            r->skipped_keys_at_k = info.skipped_keys;
            r->skipped_chains_at_k = info.skipped_chains;
            r->dh_steps_at_k = info.dh_steps;
            if (o->active) rc = inject_forgery(S, victim);
        }
    }
    /* Whatever is still late arrives after the last message. */
    if (rc == 0) rc = deliver_due(S, NONE - 1);
    crypto_generichash_final(&h, r->transcript, sizeof r->transcript);
    rbx_detrng_wipe(&g);
    return rc;
}

void rbx_sim_result_free(rbx_sim_result *r)
{
    if (r == NULL) return;
    free(r->flags);
    r->flags = NULL;
}

int rbx_sim_run(const rbx_sim_opts *o, rbx_sim_result *r)
{
    sim S;
    int rc;
    memset(r, 0, sizeof *r);
    if (o->messages < 1 || o->messages > RBX_SIM_MAX_MESSAGES || o->compromise_at < 1 ||
        o->compromise_at > o->messages || !(o->loss >= 0 && o->loss <= 1) ||
        !(o->reorder >= 0 && o->reorder <= 1) || !(o->swap >= 0 && o->swap <= 1))
        return RBX_E_INVALID;
    memset(&S, 0, sizeof S);
    S.o = o;
    S.r = r;
    S.so.profile = RBX_PROFILE_DEFAULT;
    S.so.header_encryption = o->header_encryption != 0;
    for (int i = 0; i < 2; i++) {
        S.p[i].name = party_names[i];
        S.p[i].peer_name = party_names[!i];
    }
    r->messages = o->messages;
    r->flags = calloc((size_t)o->messages + 1, 1);
    S.m = calloc((size_t)o->messages + 1, sizeof *S.m);
    S.pending = calloc((size_t)o->messages + 1, sizeof *S.pending);
    if (r->flags == NULL || S.m == NULL || S.pending == NULL) {
        rc = RBX_E_NOMEM;
        goto out;
    }
    /* Before any key exists: every key and nonce below is reproducible. */
    rbx_detrng_install(o->seed);
    rc = rbx_keypair_generate(S.p[0].pk, S.p[0].sk);
    if (rc == 0) rc = rbx_keypair_generate(S.p[1].pk, S.p[1].sk);
    if (rc == 0) rc = handshake(&S);
    if (rc == 0) rc = conversation(&S);
    if (rc == 0) rc = attack(&S);
    rbx_detrng_uninstall();
out:
    for (int i = 0; i < 2; i++) {
        rbx_session_free(S.p[i].s);
        WIPE(S.p[i].sk);
    }
    store_teardown(&S);
    rbx_session_free(S.snapshot);
    rbx_session_free(S.impostor);
    if (S.m != NULL)
        for (uint32_t t = 0; t <= o->messages; t++) {
            free(S.m[t].wire);
            free(S.m[t].bct);
        }
    free(S.m);
    free(S.pending);
    if (rc != 0) rbx_sim_result_free(r);
    return rc;
}

/* ------------------------------------------------------------ output */

/* Message numbers in [lo, hi] with all bits of `want` set and none of
 * `not`, as "3, 7-9, 12"; returns how many. */
static uint32_t ranges(FILE *fp, const rbx_sim_result *r, uint32_t lo, uint32_t hi,
                       unsigned want, unsigned not, int json)
{
    uint32_t count = 0, start = 0;
    int first = 1;
    for (uint32_t t = lo; t <= hi + 1; t++) {
        int in = t <= hi && (r->flags[t] & want) == want && (r->flags[t] & not) == 0;
        if (in) {
            count++;
            if (start == 0) start = t;
            continue;
        }
        if (start == 0) continue;
        uint32_t end = t - 1;
        if (json)
            fprintf(fp, "%s[%" PRIu32 ",%" PRIu32 "]", first ? "" : ",", start, end);
        else if (start == end)
            fprintf(fp, "%s%" PRIu32, first ? "" : ", ", start);
        else
            fprintf(fp, "%s%" PRIu32 "-%" PRIu32, first ? "" : ", ", start, end);
        first = 0;
        start = 0;
    }
    return count;
}

static uint32_t count_in(const rbx_sim_result *r, uint32_t lo, uint32_t hi, unsigned want,
                         unsigned not)
{
    uint32_t n = 0;
    for (uint32_t t = lo; t <= hi; t++)
        n += (r->flags[t] & want) == want && (r->flags[t] & not) == 0;
    return n;
}

static const char *plural(uint32_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void print_json(FILE *fp, const rbx_sim_opts *o, const rbx_sim_result *r)
{
    const unsigned RD = RBX_SIM_READ, FV = RBX_SIM_FROM_VICTIM;
    uint32_t n = o->messages, k = o->compromise_at;
    fprintf(fp, "{\"seed\":%" PRIu64 ",\"messages\":%" PRIu32 ",\"loss\":%.15g,\"reorder\":%.15g,"
                "\"switch\":%.15g,\"victim\":\"%s\",\"compromise_at\":%" PRIu32
                ",\"header_encryption\":%s,\"store\":%s,\"active\":%s,",
            o->seed, n, o->loss, o->reorder, o->swap, party_names[o->victim_bob], k,
            o->header_encryption ? "true" : "false", o->store ? "true" : "false",
            o->active ? "true" : "false");
    char hex[2 * sizeof r->transcript + 1];
    sodium_bin2hex(hex, sizeof hex, r->transcript, sizeof r->transcript);
    fprintf(fp, "\"transcript\":\"%s\",", hex);
    fprintf(fp, "\"network\":{\"lost\":%" PRIu32 ",\"late\":%" PRIu32 ",\"rejected\":%" PRIu32
                "},",
            r->lost, r->late, r->rejected);
    fprintf(fp, "\"at_compromise\":{\"skipped_keys\":%zu,\"skipped_chains\":%zu,\"dh_steps\":%" PRIu32
                "},",
            r->skipped_keys_at_k, r->skipped_chains_at_k, r->dh_steps_at_k);
    fprintf(fp, "\"ratchetbox\":{\"read\":%" PRIu32 ",\"to_victim\":{\"messages\":%" PRIu32
                ",\"read\":%" PRIu32 ",\"read_up_to_k\":%" PRIu32 ",\"ranges\":[",
            r->read_to_victim + r->read_from_victim, r->to_victim, r->read_to_victim,
            r->read_before_k);
    (void)ranges(fp, r, 1, n, RD, FV, 1);
    fprintf(fp, "]},\"from_victim\":{\"messages\":%" PRIu32 ",\"read\":%" PRIu32 ",\"ranges\":[",
            r->from_victim, r->read_from_victim);
    (void)ranges(fp, r, 1, n, RD | FV, 0, 1);
    fprintf(fp, "]},\"healing_point\":");
    if (r->healing_point) fprintf(fp, "%" PRIu32, r->healing_point);
    else fprintf(fp, "null");
    fprintf(fp, ",\"read_after_healing\":%" PRIu32 ",\"prediction_mismatches\":%" PRIu32 "},",
            r->healing_point ? count_in(r, r->healing_point, n, RD, FV) : 0, r->mismatches);
    fprintf(fp, "\"baseline\":{\"read\":%" PRIu32 ",\"to_victim\":%" PRIu32
                ",\"from_victim\":%" PRIu32 "}",
            r->baseline_read, count_in(r, 1, n, RBX_SIM_BASELINE, FV),
            count_in(r, 1, n, RBX_SIM_BASELINE | FV, 0));
    if (o->active)
        fprintf(fp, ",\"forgery\":{\"accepted\":%s,\"victim_messages_after\":%" PRIu32
                    ",\"read_by_attacker\":%" PRIu32 ",\"peer_could_decrypt\":%" PRIu32
                    ",\"healed\":%s}",
                r->forgery_accepted ? "true" : "false", r->after_forgery_from_victim,
                r->after_forgery_from_victim_read, r->after_forgery_peer_accepted,
                r->healing_point != 0 ? "true" : "false");
    fprintf(fp, "}\n");
}

static void print_text(FILE *fp, const rbx_sim_opts *o, const rbx_sim_result *r)
{
    const unsigned RD = RBX_SIM_READ, FV = RBX_SIM_FROM_VICTIM;
    const char *v = party_names[o->victim_bob], *peer = party_names[!o->victim_bob];
    uint32_t n = o->messages, k = o->compromise_at, c;

    fprintf(fp, "Conversation: %" PRIu32 " %s between alice and bob (seed %" PRIu64
                ", header encryption %s, %s).\n",
            n, plural(n, "message", "messages"), o->seed, o->header_encryption ? "on" : "off",
            o->store ? "real stores on disk" : "in memory");
    fprintf(fp, "Network: %" PRIu32 " lost, %" PRIu32 " late, %" PRIu32 " refused by the recipient.\n",
            r->lost, r->late, r->rejected);
    fprintf(fp, "Thief copies %s's state after message %" PRIu32 " (%s then held %zu skipped %s",
            v, k, v, r->skipped_keys_at_k, plural((uint32_t)r->skipped_keys_at_k, "key", "keys"));
    if (r->skipped_keys_at_k) fprintf(fp, " in %zu %s", r->skipped_chains_at_k,
                                      plural((uint32_t)r->skipped_chains_at_k, "chain", "chains"));
    fprintf(fp, ") and records all traffic.\n\n");

    fprintf(fp, "ratchetbox: the thief reads %" PRIu32 " of %" PRIu32 " messages.\n",
            r->read_to_victim + r->read_from_victim, n);
    fprintf(fp, "  to %s:   ", v);
    c = r->read_before_k;
    if (c) {
        fprintf(fp, "%" PRIu32 " earlier %s %s had not received yet (", c,
                plural(c, "message", "messages"), v);
        (void)ranges(fp, r, 1, k, RD, FV, 0);
        fprintf(fp, ")");
    } else {
        fprintf(fp, "no earlier message");
    }
    c = count_in(r, k + 1, n, RD, FV);
    if (c) {
        fprintf(fp, "; %" PRIu32 " later %s (", c, plural(c, "one", "ones"));
        (void)ranges(fp, r, k + 1, n, RD, FV, 0);
        fprintf(fp, ")");
    } else {
        fprintf(fp, "; no later one");
    }
    if (r->healing_point == 0) {
        if (count_in(r, k + 1, n, 0, FV) == 0)
            fprintf(fp, ". %s received nothing after message %" PRIu32 ".\n", v, k);
        else
            fprintf(fp, ". No healing within %" PRIu32 " messages.\n", n);
    } else if (count_in(r, r->healing_point, n, RD, FV) == 0) {
        fprintf(fp, ". Healed: from message %" PRIu32 " on, nothing.\n", r->healing_point);
    } else {
        fprintf(fp, ". First unreadable later message: %" PRIu32 ".\n", r->healing_point);
    }
    fprintf(fp, "  from %s: ", v);
    c = r->read_from_victim;
    if (c) {
        fprintf(fp, "%" PRIu32 " %s (", c, plural(c, "message", "messages"));
        (void)ranges(fp, r, 1, n, RD | FV, 0, 0);
        fprintf(fp, ")%s\n", o->active ? "" : ", the rest of the sending chain it had at the theft");
    } else {
        fprintf(fp, "none\n");
    }
    if (r->mismatches)
        fprintf(fp, "  WARNING: %" PRIu32 " %s disagree with SECURITY.md's exposure table.\n",
                r->mismatches, plural(r->mismatches, "message", "messages"));
    else
        fprintf(fp, "  (exactly the messages SECURITY.md section 3 predicts from the stolen state%s)\n",
                o->active ? ", plus all of the victim's chains keyed to the forger's key" : "");
    fprintf(fp, "baseline:   the thief reads %s%" PRIu32 " of %" PRIu32
                " (%s's long-lived box key opens every message, past and future, both ways).\n",
            r->baseline_read == n ? "all: " : "", r->baseline_read, n, v);

    if (o->active) {
        fprintf(fp, "\nActive attack: right after message %" PRIu32
                    ", the thief sends %s a forged message as %s, from a ratchet key of its own.\n",
                k, v, peer);
        fprintf(fp, "  %s %s it.\n", v, r->forgery_accepted ? "accepted" : "refused");
        if (r->forgery_accepted) {
            fprintf(fp, "  Afterwards the thief reads %" PRIu32 " of the %" PRIu32
                        " messages %s sent (%s's chains are now keyed to the thief's key; %s "
                        "could decrypt %" PRIu32 " of them).\n",
                    r->after_forgery_from_victim_read, r->after_forgery_from_victim, v, v, peer,
                    r->after_forgery_peer_accepted);
            fprintf(fp, "  %s", r->healing_point == 0
                                    ? "No healing against an active thief (DR spec 6.2)"
                                    : "Healing still happened for messages to the victim");
            fprintf(fp, "; the real conversation is broken (%" PRIu32
                        " messages refused), which the users can notice.\n",
                    r->rejected);
        }
    }
}

/* ------------------------------------------------------------ argv */

static const char usage_text[] =
    "usage: rbx sim --messages N --compromise alice@K|bob@K [--loss P] [--reorder P]\n"
    "               [--switch P] [--header-encryption] [--store] [--seed S] [--json]\n"
    "               [--active]\n"
    "\n"
    "Simulate a conversation of N messages between alice and bob (X3DH first),\n"
    "let a thief copy one party's state right after message K, and show which\n"
    "messages the thief can read, decided by real decryption attempts, under\n"
    "ratchetbox and under today's long-lived box keys (the baseline).\n"
    "\n"
    "  --messages N         messages after the handshake, 1..100000\n"
    "  --compromise WHO@K   victim (alice or bob) and message number, 1..N\n"
    "  --loss P             probability a message is never delivered (default 0)\n"
    "  --reorder P          probability a message arrives 1-8 positions late (default 0)\n"
    "  --switch P           probability the speaker changes before a message (default 0.25)\n"
    "  --header-encryption  encrypt ratchet headers (DR spec section 4)\n"
    "  --store              run both parties on real databases in a temporary\n"
    "                       directory; the thief copies the victim's files\n"
    "  --seed S             all randomness, keys included (default 1): same seed,\n"
    "                       same output\n"
    "  --json               one JSON object instead of text\n"
    "  --active             the thief also injects one forged message after K\n"
    "\n"
    "Exit status: 0 ok, 64 usage error, 70 internal error, 74 storage error\n"
    "(--store: the temporary directory or a database) or output not written.\n";

/* "rbx: sim: <what>" on stderr; exit 64. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verr("sim", fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

static int parse_u64(uint64_t *out, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    if (s == NULL || s[0] < '0' || s[0] > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) return -1;
    *out = (uint64_t)v;
    return 0;
}

static int parse_prob(double *out, const char *s)
{
    char *end;
    if (s == NULL || s[0] == '\0') return -1;
    for (const char *c = s; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' || *c == '-' ||
              *c == '+'))
            return -1; /* no "nan", "inf" or hex floats */
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= 0.0 && v <= 1.0)) return -1;
    *out = v;
    return 0;
}

int sim_main(int argc, char **argv)
{
    rbx_sim_opts o = { .swap = 0.25, .seed = 1 };
    rbx_sim_result r;
    int json = 0, have_n = 0, have_k = 0;
    uint64_t k = 0, v;
    const char *who = NULL;

    /* argv[0] is the verb. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char name[32];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return cli_flush_stdout("sim");
        }
        if (strncmp(a, "--", 2) != 0) return usage_error("unexpected argument '%s'", a);
        eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) return usage_error("unknown option '%s'", a);
        memcpy(name, a, nl);
        name[nl] = '\0';
        int flag = strcmp(name, "--header-encryption") == 0 || strcmp(name, "--store") == 0 ||
                   strcmp(name, "--json") == 0 || strcmp(name, "--active") == 0;
        int valued = strcmp(name, "--messages") == 0 || strcmp(name, "--loss") == 0 ||
                     strcmp(name, "--reorder") == 0 || strcmp(name, "--switch") == 0 ||
                     strcmp(name, "--compromise") == 0 || strcmp(name, "--seed") == 0;
        if (!flag && !valued) return usage_error("unknown option '%s'", name);
        if (flag) {
            if (eq) return usage_error("%s takes no value", name);
            if (strcmp(name, "--header-encryption") == 0) o.header_encryption = 1;
            else if (strcmp(name, "--store") == 0) o.store = 1;
            else if (strcmp(name, "--json") == 0) json = 1;
            else o.active = 1;
            continue;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else return usage_error("%s needs a value", name);
        if (strcmp(name, "--messages") == 0) {
            if (parse_u64(&v, val, 1, RBX_SIM_MAX_MESSAGES) != 0)
                return usage_error("--messages: want a whole number from 1 to 100000, got '%s'",
                                   val);
            o.messages = (uint32_t)v;
            have_n = 1;
        } else if (strcmp(name, "--seed") == 0) {
            if (parse_u64(&o.seed, val, 0, UINT64_MAX) != 0)
                return usage_error("--seed: want a whole number from 0 to 2^64-1, got '%s'", val);
        } else if (strcmp(name, "--compromise") == 0) {
            const char *at = strchr(val, '@');
            size_t wl = at ? (size_t)(at - val) : 0;
            if (at == NULL || !((wl == 5 && strncmp(val, "alice", 5) == 0) ||
                                (wl == 3 && strncmp(val, "bob", 3) == 0)))
                return usage_error("--compromise: want alice@K or bob@K, got '%s'", val);
            if (parse_u64(&k, at + 1, 1, RBX_SIM_MAX_MESSAGES) != 0)
                return usage_error("--compromise: K must be a message number from 1 to N, got '%s'",
                                   val);
            o.victim_bob = wl == 3;
            who = val;
            have_k = 1;
        } else {
            double *p = strcmp(name, "--loss") == 0      ? &o.loss
                        : strcmp(name, "--reorder") == 0 ? &o.reorder
                                                         : &o.swap;
            if (parse_prob(p, val) != 0)
                return usage_error("%s: want a probability from 0 to 1, got '%s'", name, val);
        }
    }
    if (!have_n) return usage_error("%s", "--messages N is required (rbx sim --help)");
    if (!have_k) return usage_error("%s", "--compromise alice@K or bob@K is required");
    if (k > o.messages)
        return usage_error("--compromise %s: K is after the last message", who);
    o.compromise_at = (uint32_t)k;

    int rc = rbx_sim_run(&o, &r); /* rbx_init(): rbx.c, before every verb */
    if (rc != 0) {
        cli_err("sim", "%s", rbx_strerror(rc));
        return rc == RBX_E_IO || rc == RBX_E_CORRUPT || rc == RBX_E_STORAGE_KEY ? CLI_IOERR
                                                                                 : CLI_SOFTWARE;
    }
    if (json) print_json(stdout, &o, &r);
    else print_text(stdout, &o, &r);
    rbx_sim_result_free(&r);
    return cli_flush_stdout("sim");
}
