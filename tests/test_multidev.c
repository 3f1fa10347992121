/* SPDX-License-Identifier: MIT
 * Users with several devices (PROTOCOL.md section 21): the content header
 * of messages to users, device links (codes, ids, sealed slots), the
 * two-device signing of an add entry. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "content.h"
#include "storeutil.h"
#include "testutil.h"

/* ------------------------------------------------------------ content */

START_TEST(content_round_trip_and_refusals)
{
    uint8_t hdr[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U], buf[512];
    rbx__content c = { 0 }, d;
    c.type = RBX_CONTENT_MESSAGE;
    memset(c.message_id, 0xab, 16);
    size_t h = rbx__content_header(hdr, &c);
    ck_assert_uint_eq(h, 19);
    memcpy(buf, hdr, h);
    memcpy(buf + h, "hello", 5);
    ck_assert_int_eq(rbx__content_parse(&d, buf, h + 5), 0);
    ck_assert_uint_eq(d.type, RBX_CONTENT_MESSAGE);
    ck_assert_uint_eq(d.bodylen, 5);
    ck_assert_mem_eq(d.body, "hello", 5);
    ck_assert_mem_eq(d.message_id, c.message_id, 16);
    /* An empty body is a message too. */
    ck_assert_int_eq(rbx__content_parse(&d, buf, h), 0);
    ck_assert_uint_eq(d.bodylen, 0);
    /* A sync copy names the user it went to. */
    c.type = RBX_CONTENT_SYNC;
    c.flags = RBX_CONTENT_RESENT;
    snprintf(c.to, sizeof c.to, "bob@example.org");
    h = rbx__content_header(hdr, &c);
    ck_assert_uint_eq(h, 19 + 1 + 15);
    memcpy(buf, hdr, h);
    buf[h] = 'x';
    ck_assert_int_eq(rbx__content_parse(&d, buf, h + 1), 0);
    ck_assert_str_eq(d.to, "bob@example.org");
    ck_assert_uint_eq(d.flags, RBX_CONTENT_RESENT);
    ck_assert_uint_eq(d.bodylen, 1);
    /* A NUL inside the user id: it must fill its length. */
    buf[22] = 0;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h + 1), RBX_E_MALFORMED);
    buf[22] = 'b';
    /* A bad user id in a sync copy. */
    buf[20] = 'B';
    ck_assert_int_eq(rbx__content_parse(&d, buf, h + 1), RBX_E_MALFORMED);
    ck_assert_uint_eq(d.type, 0);
    buf[20] = 'b';
    /* A length running past the end. */
    buf[19] = 60;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h), RBX_E_MALFORMED);
    buf[19] = 0;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h), RBX_E_MALFORMED);
    /* A retry request: ids and nothing after them. */
    uint8_t ids[2 * 16];
    memset(ids, 1, 16);
    memset(ids + 16, 2, 16);
    rbx__content r = { 0 };
    r.type = RBX_CONTENT_RETRY;
    r.nids = 2;
    r.ids = ids;
    h = rbx__content_header(hdr, &r);
    ck_assert_uint_eq(h, 19 + 1 + 32);
    ck_assert_int_eq(rbx__content_parse(&d, hdr, h), 0);
    ck_assert_uint_eq(d.nids, 2);
    ck_assert_mem_eq(d.ids, ids, 32);
    memcpy(buf, hdr, h);
    buf[h] = 0;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h + 1), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx__content_parse(&d, buf, h - 1), RBX_E_MALFORMED);
    r.nids = 0;
    ck_assert_uint_eq(rbx__content_header(hdr, &r), 0);
    r.nids = RBX_RETRY_MAX_IDS + 1;
    ck_assert_uint_eq(rbx__content_header(hdr, &r), 0);
    /* Version, type and flags. */
    c.type = RBX_CONTENT_MESSAGE;
    c.flags = 0;
    h = rbx__content_header(hdr, &c);
    memcpy(buf, hdr, h);
    buf[0] = 2;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h), RBX_E_VERSION);
    buf[0] = 1;
    buf[1] = 4;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h), RBX_E_MALFORMED);
    buf[1] = 0;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h), RBX_E_MALFORMED);
    buf[1] = 1;
    buf[2] = 2;
    ck_assert_int_eq(rbx__content_parse(&d, buf, h), RBX_E_MALFORMED);
    buf[2] = 0;
    ck_assert_int_eq(rbx__content_parse(&d, buf, 18), RBX_E_MALFORMED);
    r.type = RBX_CONTENT_RETRY;
    r.nids = 1;
    r.flags = RBX_CONTENT_RESENT;
    ck_assert_uint_eq(rbx__content_header(hdr, &r), 0);
}
END_TEST

/* ------------------------------------------------------------ links */

START_TEST(link_codes)
{
    uint8_t s[RBX_LINK_SECRETBYTES], t[RBX_LINK_SECRETBYTES];
    char code[RBX_LINK_CODEBYTES];
    for (unsigned i = 0; i < RBX_LINK_SECRETBYTES; i++) s[i] = (uint8_t)(i * 17 + 3);
    rbx_link_code_format(code, s);
    ck_assert_uint_eq(strlen(code), 29);
    ck_assert_str_eq(code, "amkc-knsh-lbux-vc44-vw7m-7yhr");
    ck_assert_int_eq(rbx_link_code_parse(t, code), 0);
    ck_assert_mem_eq(t, s, sizeof s);
    /* Any case, spaces or no separators at all. */
    ck_assert_int_eq(rbx_link_code_parse(t, "AMKC KNSH LBUX VC44 VW7M 7YHR"), 0);
    ck_assert_mem_eq(t, s, sizeof s);
    ck_assert_int_eq(rbx_link_code_parse(t, "amkcknshlbuxvc44vw7m7yhr"), 0);
    ck_assert_mem_eq(t, s, sizeof s);
    /* Too short, too long, outside the alphabet (0, 1, 8, 9 are not in it). */
    ck_assert_int_eq(rbx_link_code_parse(t, "amkc-knsh-lbux-vc44-vw7m-7yh"), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_link_code_parse(t, "amkc-knsh-lbux-vc44-vw7m-7yhra"), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_link_code_parse(t, "amkc-knsh-lbux-vc44-vw7m-7yh1"), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_link_code_parse(t, ""), RBX_E_MALFORMED);
    uint8_t zero[RBX_LINK_SECRETBYTES] = { 0 };
    ck_assert_mem_eq(t, zero, sizeof t);
    /* A fresh code parses back to its secret; two codes differ. */
    char c2[RBX_LINK_CODEBYTES];
    ck_assert_int_eq(rbx_link_code_new(code, s), 0);
    ck_assert_int_eq(rbx_link_code_new(c2, t), 0);
    ck_assert_str_ne(code, c2);
    ck_assert_int_eq(rbx_link_code_parse(t, code), 0);
    ck_assert_mem_eq(t, s, sizeof s);
    /* The id is BLAKE2b-128 of the domain and the secret. */
    uint8_t id[16], want[16];
    rbx_link_id(id, s);
    uint8_t in[21 + RBX_LINK_SECRETBYTES];
    memcpy(in, "ratchetbox-link-id-v1", 21);
    memcpy(in + 21, s, sizeof s);
    crypto_generichash(want, 16, in, sizeof in, NULL, 0);
    ck_assert_mem_eq(id, want, 16);
}
END_TEST

START_TEST(link_slots)
{
    uint8_t s[RBX_LINK_SECRETBYTES], other[RBX_LINK_SECRETBYTES];
    char code[RBX_LINK_CODEBYTES];
    ck_assert_int_eq(rbx_link_code_new(code, s), 0);
    ck_assert_int_eq(rbx_link_code_new(code, other), 0);
    uint8_t pk[32], sk[32], got[32];
    ck_assert_int_eq(rbx_keypair_generate(pk, sk), 0);
    uint8_t slot[RBX_LINK_SLOT_MAXBYTES];
    size_t n;
    ck_assert_int_eq(rbx_link_request_seal(slot, sizeof slot, &n, s, pk), 0);
    ck_assert_uint_eq(n, 24 + 33 + 16);
    ck_assert_int_eq(rbx_link_request_open(got, s, slot, n), 0);
    ck_assert_mem_eq(got, pk, 32);
    /* Another link's key, a flipped byte, a truncation: refused. */
    ck_assert_int_eq(rbx_link_request_open(got, other, slot, n), RBX_E_AUTH);
    slot[30] ^= 1;
    ck_assert_int_eq(rbx_link_request_open(got, s, slot, n), RBX_E_AUTH);
    slot[30] ^= 1;
    ck_assert_int_eq(rbx_link_request_open(got, s, slot, 39), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx_link_request_seal(slot, 72, &n, s, pk), RBX_E_BUFFER);
    /* A request slot does not open as an approval (its own domain). */
    rbx_devlist_entry e, f;
    uint8_t sig[64], sig2[64];
    ck_assert_int_eq(rbx_link_approval_open(&f, sig2, s, slot, 73), RBX_E_AUTH);
    /* An approval: the entry's fields and the signature. */
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "alice");
    e.seq = 3;
    memset(e.prev_hash, 7, 32);
    e.op = RBX_DEVLIST_ADD;
    e.device = rbx_device_id(pk);
    memcpy(e.identity, pk, 32);
    e.created = 1700000000;
    e.signer_kind = RBX_SIGNER_DEVICE;
    uint8_t spk[32], ssk[32];
    ck_assert_int_eq(rbx_keypair_generate(spk, ssk), 0);
    memcpy(e.signer, spk, 32);
    ck_assert_int_eq(rbx_devlist_entry_signature(sig, &e, ssk), 0);
    ck_assert_int_eq(rbx_link_approval_seal(slot, sizeof slot, &n, s, &e, sig), 0);
    ck_assert_uint_lt(n, RBX_LINK_SLOT_MAXBYTES);
    ck_assert_int_eq(rbx_link_approval_open(&f, sig2, s, slot, n), 0);
    ck_assert_mem_eq(&f, &e, sizeof e);
    ck_assert_mem_eq(sig2, sig, 64);
    ck_assert_int_eq(rbx_link_approval_open(&f, sig2, other, slot, n), RBX_E_AUTH);
    /* (An approval is too long to be a request: refused before the AEAD.) */
    ck_assert_int_eq(rbx_link_request_open(got, s, slot, n), RBX_E_MALFORMED);
    /* Only add entries of seq >= 2 are approved. */
    e.seq = 1;
    ck_assert_int_eq(rbx_link_approval_seal(slot, sizeof slot, &n, s, &e, sig), RBX_E_INVALID);
    e.seq = 3;
    e.op = RBX_DEVLIST_REMOVE;
    ck_assert_int_eq(rbx_link_approval_seal(slot, sizeof slot, &n, s, &e, sig), RBX_E_INVALID);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(ssk, sizeof ssk);
}
END_TEST

/* The add entry made on two devices is the entry of the one-machine form,
 * and verifies in a log. */
START_TEST(two_device_add)
{
    uint8_t apk[32], ask[32], bpk[32], bsk[32], xpk[32], xsk[32];
    ck_assert_int_eq(rbx_keypair_generate(apk, ask), 0);
    ck_assert_int_eq(rbx_keypair_generate(bpk, bsk), 0);
    ck_assert_int_eq(rbx_keypair_generate(xpk, xsk), 0);
    rbx_devlist_entry e1 = { 0 }, e2 = { 0 };
    snprintf(e1.user, sizeof e1.user, "alice");
    e1.seq = 1;
    e1.op = RBX_DEVLIST_ADD;
    e1.device = rbx_device_id(apk);
    memcpy(e1.identity, apk, 32);
    e1.created = 1700000000;
    memcpy(e1.signer, apk, 32);
    uint8_t ent1[RBX_DEVLIST_ENTRY_MAXBYTES], ent2[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t l1, l2;
    ck_assert_int_eq(rbx_devlist_entry_sign(ent1, sizeof ent1, &l1, &e1, ask, ask), 0);
    e2 = e1;
    e2.seq = 2;
    rbx_devlist_entry_hash(e2.prev_hash, ent1, l1);
    e2.device = rbx_device_id(bpk);
    memcpy(e2.identity, bpk, 32);
    uint8_t sig[64];
    ck_assert_int_eq(rbx_devlist_entry_signature(sig, &e2, ask), 0);
    /* The new device checks the signature before it adds its own. */
    uint8_t bad[64];
    memcpy(bad, sig, 64);
    bad[5] ^= 1;
    ck_assert_int_eq(rbx_devlist_entry_cosign(ent2, sizeof ent2, &l2, &e2, bad, bsk), RBX_E_SIGNATURE);
    ck_assert_uint_eq(l2, 0);
    ck_assert_int_eq(rbx_devlist_entry_cosign(ent2, sizeof ent2, &l2, &e2, sig, xsk), RBX_E_KEY);
    ck_assert_int_eq(rbx_devlist_entry_cosign(ent2, 100, &l2, &e2, sig, bsk), RBX_E_BUFFER);
    ck_assert_int_eq(rbx_devlist_entry_signature(sig, &e2, xsk), RBX_E_KEY);
    ck_assert_int_eq(rbx_devlist_entry_signature(sig, &e2, ask), 0);
    ck_assert_int_eq(rbx_devlist_entry_cosign(ent2, sizeof ent2, &l2, &e2, sig, bsk), 0);
    rbx_devlist_entry p;
    ck_assert_int_eq(rbx_devlist_entry_parse(&p, ent2, l2), 0);
    ck_assert_mem_eq(&p, &e2, sizeof p);
    const uint8_t *ents[2] = { ent1, ent2 };
    size_t lens[2] = { l1, l2 };
    rbx_devlist l;
    ck_assert_int_eq(rbx_devlist_verify(&l, "alice", ents, lens, 2, NULL, NULL), 0);
    ck_assert_uint_eq(l.ndevices, 2);
    ck_assert_mem_eq(l.devices[1].identity, bpk, 32);
    /* A remove entry has no subject. */
    e2.op = RBX_DEVLIST_REMOVE;
    ck_assert_int_eq(rbx_devlist_entry_cosign(ent2, sizeof ent2, &l2, &e2, sig, bsk), RBX_E_INVALID);
    sodium_memzero(ask, 32);
    sodium_memzero(bsk, 32);
    sodium_memzero(xsk, 32);
}
END_TEST


/* ------------------------------------------------------------ stores: a small server in memory */

#define MAXENT 32

/* A user's log as a server keeps it. */
typedef struct srv_user {
    char name[RBX_USER_MAX];
    uint8_t ent[MAXENT][RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t len[MAXENT];
    size_t n;
} srv_user;

typedef struct dev {
    peer p;
    srv_user *u;
    uint32_t id;
    char label[16];
} dev;

static void srv_append(srv_user *u, const uint8_t *e, size_t len)
{
    ck_assert_uint_lt(u->n, MAXENT);
    memcpy(u->ent[u->n], e, len);
    u->len[u->n++] = len;
}

static void dev_new(dev *d, const char *label)
{
    memset(d, 0, sizeof *d);
    snprintf(d->label, sizeof d->label, "%s", label);
    peer_new(&d->p, label);
    d->id = rbx_device_id(d->p.pk);
}

/* The first device of a new user. */
static void enroll_first(dev *d, srv_user *u, const char *user)
{
    uint8_t e[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t n;
    rbx_account a;
    memset(u, 0, sizeof *u);
    snprintf(u->name, sizeof u->name, "%s", user);
    ck_assert_int_eq(rbx_store_devlist_first_entry(d->p.st, e, sizeof e, &n, user, (uint64_t)g_now), 0);
    ck_assert_int_eq(rbx_store_account_init(d->p.st, &a, e, n), 0);
    ck_assert_str_eq(a.user, user);
    ck_assert_uint_eq(a.device, d->id);
    ck_assert_uint_ge(a.registration_id, 1);
    srv_append(u, e, n);
    d->u = u;
}

/* The add entry of the next seq, signed by `by` and cosigned by d. */
static void make_add(rbx_devlist_entry *e, const srv_user *u, const dev *by, const dev *d)
{
    memset(e, 0, sizeof *e);
    snprintf(e->user, sizeof e->user, "%s", u->name);
    e->seq = u->n + 1;
    rbx_devlist_entry_hash(e->prev_hash, u->ent[u->n - 1], u->len[u->n - 1]);
    e->op = RBX_DEVLIST_ADD;
    e->device = d->id;
    memcpy(e->identity, d->p.pk, 32);
    e->created = (uint64_t)g_now;
    e->signer_kind = RBX_SIGNER_DEVICE;
    memcpy(e->signer, by->p.pk, 32);
}

static void enroll_linked(dev *d, dev *by)
{
    rbx_devlist_entry e;
    uint8_t sig[64], ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t n;
    rbx_account a;
    make_add(&e, by->u, by, d);
    /* The store's forms refuse the wrong roles. */
    ck_assert_int_eq(rbx_store_devlist_sign(d->p.st, sig, &e), RBX_E_KEY);
    ck_assert_int_eq(rbx_store_devlist_sign(by->p.st, sig, &e), 0);
    ck_assert_int_eq(rbx_store_devlist_cosign(by->p.st, ent, sizeof ent, &n, &e, sig), RBX_E_KEY);
    ck_assert_int_eq(rbx_store_devlist_cosign(d->p.st, ent, sizeof ent, &n, &e, sig), 0);
    ck_assert_int_eq(rbx_store_account_init(d->p.st, &a, ent, n), 0);
    /* Retried: the same account; another entry: refused. */
    rbx_account a2;
    ck_assert_int_eq(rbx_store_account_init(d->p.st, &a2, ent, n), 0);
    ck_assert_uint_eq(a2.registration_id, a.registration_id);
    ck_assert_int_eq(rbx_store_account_init(d->p.st, &a2, by->u->ent[0], by->u->len[0]), RBX_E_KEY);
    srv_append(by->u, ent, n);
    d->u = by->u;
}

static int refresh(dev *d, const srv_user *u, rbx_user_update *res)
{
    const uint8_t *ents[MAXENT];
    for (size_t i = 0; i < u->n; i++) ents[i] = u->ent[i];
    rbx_user_update r;
    return rbx_store_user_update(d->p.st, res ? res : &r, u->name, ents, u->len, u->n, NULL, 0);
}

/* Every device a send to `to` needs a bundle for gets one. */
static size_t supply(dev *d, const char *to, dev *const *all, size_t nall)
{
    rbx_user_device need[16];
    size_t n;
    ck_assert_int_eq(rbx_store_send_needs(d->p.st, need, 16, &n, to), 0);
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++) {
        dev *x = NULL;
        for (size_t k = 0; k < nall; k++)
            if (all[k]->id == need[i].device && strcmp(all[k]->u->name, need[i].user) == 0) x = all[k];
        ck_assert_ptr_nonnull(x);
        ck_assert(need[i].needs_bundle);
        uint8_t b[RBX_BUNDLE_MAXBYTES];
        size_t bl = fresh_bundle(b, &x->p);
        ck_assert_int_eq(rbx_store_user_bundle(d->p.st, need[i].user, need[i].device, b, bl), 0);
    }
    return n;
}

/* A send as it left the store. */
typedef struct sent {
    rbx_send_info info;
    rbx_envelope env[8];
    uint8_t buf[8 * RBX_ENVELOPE_MAXBYTES(256)];
} sent;

static void send_to(sent *m, dev *d, const char *to, const char *text)
{
    ck_assert_int_eq(rbx_store_send(d->p.st, &m->info, m->env, 8, m->buf, sizeof m->buf, to,
                                    (const uint8_t *)text, strlen(text), NULL), 0);
}

static const rbx_envelope *env_find(const sent *m, const dev *d)
{
    for (size_t i = 0; i < m->info.n; i++)
        if (m->env[i].device == d->id && strcmp(m->env[i].user, d->u->name) == 0) return &m->env[i];
    return NULL;
}

/* d's envelope of m; the test fails if there is none. */
static const rbx_envelope *env_for(const sent *m, const dev *d)
{
    const rbx_envelope *e = env_find(m, d);
    if (e == NULL) ck_abort_msg("no envelope for %s", d->label);
    return e != NULL ? e : &m->env[0];
}

/* d receives its envelope of m from `from`: 0 and the text checked, or the error. */
static int recv_from(dev *d, const sent *m, const dev *from, rbx_user_received *info,
                     const char *want)
{
    const rbx_envelope *e = env_for(m, d);
    uint8_t pt[512];
    size_t n;
    rbx_user_received ri;
    if (info == NULL) info = &ri;
    int rc = rbx_store_receive(d->p.st, pt, sizeof pt, &n, info, from->u->name, from->id,
                               m->buf + e->offset, e->len);
    if (rc == 0 && want != NULL) {
        ck_assert_uint_eq(n, strlen(want));
        ck_assert_mem_eq(pt, want, n);
        ck_assert_str_eq(info->user, from->u->name);
        ck_assert_uint_eq(info->device, from->id);
        ck_assert_int_eq(rbx_store_ack_inbox(d->p.st, info->inbox_id), 0);
    }
    return rc;
}

static void dev_close(dev *d) { peer_close(&d->p); }

/* Three users: alice (a1, a2), bob (b1, b2), carol (c1). */
typedef struct world {
    srv_user ua, ub, uc;
    dev a1, a2, b1, b2, c1;
    dev *all[8];
    size_t nall;
} world;

static void world_up(world *w)
{
    memset(w, 0, sizeof *w);
    dev_new(&w->a1, "a1");
    dev_new(&w->a2, "a2");
    dev_new(&w->b1, "b1");
    dev_new(&w->b2, "b2");
    dev_new(&w->c1, "c1");
    enroll_first(&w->a1, &w->ua, "alice");
    enroll_linked(&w->a2, &w->a1);
    enroll_first(&w->b1, &w->ub, "bob");
    enroll_linked(&w->b2, &w->b1);
    enroll_first(&w->c1, &w->uc, "carol");
    dev *all[] = { &w->a1, &w->a2, &w->b1, &w->b2, &w->c1 };
    memcpy(w->all, all, sizeof all);
    w->nall = 5;
    /* Everybody pins everybody (their own user first: the anchor). */
    for (size_t i = 0; i < w->nall; i++) {
        rbx_user_update r;
        ck_assert_int_eq(refresh(w->all[i], w->all[i]->u, &r), 0);
        ck_assert(r.first);
        ck_assert(r.self_listed);
        ck_assert_int_eq(refresh(w->all[i], &w->ua, NULL), 0);
        ck_assert_int_eq(refresh(w->all[i], &w->ub, NULL), 0);
        ck_assert_int_eq(refresh(w->all[i], &w->uc, NULL), 0);
    }
}

static void world_down(world *w)
{
    for (size_t i = 0; i < w->nall; i++) dev_close(w->all[i]);
}

START_TEST(fanout_sync_copies_and_attribution)
{
    world w;
    world_up(&w);
    /* a1 -> bob: bob's two devices and a2 (a sync copy), after bundles. */
    sent m;
    ck_assert_int_eq(rbx_store_send(w.a1.p.st, &m.info, m.env, 8, m.buf, sizeof m.buf, "bob",
                                    (const uint8_t *)"x", 1, NULL), RBX_E_NOT_FOUND);
    ck_assert_uint_eq(supply(&w.a1, "bob", w.all, w.nall), 3);
    ck_assert_uint_eq(supply(&w.a1, "bob", w.all, w.nall), 0);
    int64_t gen_before = q_int(w.a1.p.st, "SELECT max(generation) FROM sessions");
    send_to(&m, &w.a1, "bob", "hello bob");
    ck_assert_uint_eq(m.info.n, 3);
    ck_assert_str_eq(m.info.to, "bob");
    ck_assert_uint_eq(m.info.kind, RBX_SEND_FANOUT);
    /* One transaction: every session saved under the same new generation. */
    ck_assert_int_eq(q_int(w.a1.p.st, "SELECT count(DISTINCT generation) FROM sessions"), 1);
    ck_assert_int_gt(q_int(w.a1.p.st, "SELECT max(generation) FROM sessions"), gen_before);
    ck_assert_ptr_nonnull(env_find(&m, &w.b1));
    ck_assert_ptr_nonnull(env_find(&m, &w.b2));
    ck_assert_ptr_nonnull(env_find(&m, &w.a2));
    ck_assert_ptr_null(env_find(&m, &w.a1));
    ck_assert_ptr_null(env_find(&m, &w.c1));
    /* The envelope for b1 is not b2's (their tags differ). */
    const rbx_envelope *x1 = env_for(&m, &w.b1), *x2 = env_for(&m, &w.b2);
    ck_assert_int_ne(memcmp(m.buf + x1->offset + x1->len - 16, m.buf + x2->offset + x2->len - 16, 16), 0);
    rbx_user_received ri;
    ck_assert_int_eq(recv_from(&w.b1, &m, &w.a1, &ri, "hello bob"), 0);
    ck_assert(!ri.sync);
    ck_assert_uint_eq(ri.type, RBX_CONTENT_MESSAGE);
    ck_assert_str_eq(ri.to, "bob");
    ck_assert_mem_eq(ri.message_id, m.info.message_id, 16);
    ck_assert_int_eq(recv_from(&w.b2, &m, &w.a1, &ri, "hello bob"), 0);
    ck_assert_int_eq(recv_from(&w.a2, &m, &w.a1, &ri, "hello bob"), 0);
    ck_assert(ri.sync);
    ck_assert_uint_eq(ri.type, RBX_CONTENT_SYNC);
    ck_assert_str_eq(ri.to, "bob");
    ck_assert_str_eq(ri.user, "alice");
    /* Attribution is the list's: an envelope claimed by another device of
     * the same user, or by a device of another user, does not decrypt. */
    sent m2;
    send_to(&m2, &w.a1, "bob", "second");
    const rbx_envelope *e = env_for(&m2, &w.b1);
    uint8_t pt[256];
    size_t n;
    /* (Still a first message of a1's session: its key is not a2's.) */
    ck_assert_int_eq(rbx_store_receive(w.b1.p.st, pt, sizeof pt, &n, &ri, "alice", w.a2.id,
                                       m2.buf + e->offset, e->len), RBX_E_IDENTITY_CHANGED);
    ck_assert_int_eq(rbx_store_receive(w.b1.p.st, pt, sizeof pt, &n, &ri, "carol", w.c1.id,
                                       m2.buf + e->offset, e->len), RBX_E_IDENTITY_CHANGED);
    ck_assert_int_eq(rbx_store_receive(w.b1.p.st, pt, sizeof pt, &n, &ri, "alice", 12345,
                                       m2.buf + e->offset, e->len), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_store_receive(w.b1.p.st, pt, sizeof pt, &n, &ri, "dave", 12345,
                                       m2.buf + e->offset, e->len), RBX_E_NOT_FOUND);
    ck_assert_int_eq(recv_from(&w.b1, &m2, &w.a1, &ri, "second"), 0);
    /* Out of order: b2 takes the second before the first... already done;
     * a reply from b2 to alice reaches a1, a2 and b1 (sync). */
    ck_assert_uint_eq(supply(&w.b2, "alice", w.all, w.nall), 2);
    sent r;
    send_to(&r, &w.b2, "alice", "reply");
    ck_assert_uint_eq(r.info.n, 3);
    ck_assert_int_eq(recv_from(&w.a1, &r, &w.b2, &ri, "reply"), 0);
    ck_assert(!ri.sync);
    ck_assert_int_eq(recv_from(&w.b1, &r, &w.b2, &ri, "reply"), 0);
    ck_assert(ri.sync);
    ck_assert_str_eq(ri.to, "alice");
    ck_assert_int_eq(recv_from(&w.a2, &r, &w.b2, &ri, "reply"), 0);
    /* The server's copy, delivered twice: the second is a redelivery. */
    ck_assert_int_eq(recv_from(&w.b2, &m2, &w.a1, &ri, "second"), 0);
    ck_assert_int_eq(recv_from(&w.b2, &m2, &w.a1, &ri, NULL), RBX_E_REPLAY);
    /* Carol gets nothing of it, and a message to carol needs her bundle. */
    ck_assert_uint_eq(supply(&w.a1, "carol", w.all, w.nall), 1);
    sent c;
    send_to(&c, &w.a1, "carol", "hi carol");
    ck_assert_uint_eq(c.info.n, 2); /* c1, a2 */
    ck_assert_int_eq(recv_from(&w.c1, &c, &w.a1, &ri, "hi carol"), 0);
    ck_assert_int_eq(recv_from(&w.a2, &c, &w.a1, &ri, "hi carol"), 0);
    ck_assert_str_eq(ri.to, "carol");
    world_down(&w);
}
END_TEST

START_TEST(send_pending_rebuild_after_join_and_remove)
{
    world w;
    world_up(&w);
    supply(&w.a1, "bob", w.all, w.nall);
    sent m, again;
    send_to(&m, &w.a1, "bob", "one");
    /* Pending until done: the same bytes again (a crash before the post). */
    ck_assert_int_eq(rbx_store_send_get(w.a1.p.st, &again.info, again.env, 8, again.buf,
                                        sizeof again.buf, 0), 0);
    ck_assert_uint_eq(again.info.id, m.info.id);
    ck_assert_uint_eq(again.info.n, m.info.n);
    for (size_t i = 0; i < m.info.n; i++) {
        ck_assert_uint_eq(again.env[i].len, m.env[i].len);
        ck_assert_mem_eq(again.buf + again.env[i].offset, m.buf + m.env[i].offset, m.env[i].len);
    }
    ck_assert_int_eq(rbx_store_send_get(w.a1.p.st, &again.info, again.env, 1, again.buf,
                                        sizeof again.buf, 0), RBX_E_BUFFER);
    /* Bob links a third device; the server answers 409 missing; alice's
     * device updates bob's list and rebuilds: the old envelopes stay byte
     * for byte, the new device gets one. */
    dev b3;
    dev_new(&b3, "b3");
    enroll_linked(&b3, &w.b1);
    w.all[w.nall++] = &b3;
    rbx_user_update up;
    ck_assert_int_eq(refresh(&b3, &w.ub, &up), 0);
    ck_assert(up.self_listed);
    ck_assert_int_eq(refresh(&w.a1, &w.ub, &up), 0);
    ck_assert_uint_eq(up.added, 1);
    ck_assert_uint_eq(up.ndevices, 3);
    ck_assert_int_eq(rbx_store_send_rebuild(w.a1.p.st, &again.info, again.env, 8, again.buf,
                                            sizeof again.buf, m.info.id, NULL), RBX_E_NOT_FOUND);
    ck_assert_uint_eq(supply(&w.a1, "bob", w.all, w.nall), 1);
    ck_assert_int_eq(rbx_store_send_rebuild(w.a1.p.st, &again.info, again.env, 8, again.buf,
                                            sizeof again.buf, m.info.id, NULL), 0);
    ck_assert_uint_eq(again.info.n, 4);
    ck_assert_mem_eq(again.info.message_id, m.info.message_id, 16);
    const rbx_envelope *o = env_for(&m, &w.b1), *nn = env_for(&again, &w.b1);
    ck_assert_uint_eq(o->len, nn->len);
    ck_assert_mem_eq(m.buf + o->offset, again.buf + nn->offset, o->len);
    rbx_user_received ri;
    ck_assert_int_eq(refresh(&b3, &w.ua, NULL), 0);
    ck_assert_int_eq(recv_from(&b3, &again, &w.a1, &ri, "one"), 0);
    ck_assert_int_eq(recv_from(&w.b1, &again, &w.a1, &ri, "one"), 0);
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, again.info.id), 0);
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, again.info.id), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_store_send_get(w.a1.p.st, &again.info, again.env, 8, again.buf,
                                        sizeof again.buf, 0), RBX_E_NOT_FOUND);
    /* Ciphertexts gone, the plaintext kept (sealed) for re-sends. */
    ck_assert_int_eq(q_int(w.a1.p.st, "SELECT count(*) FROM send_envelopes WHERE wire IS NOT NULL"), 0);
    ck_assert_int_eq(q_int(w.a1.p.st, "SELECT count(*) FROM sends WHERE pt IS NOT NULL"), 1);
    /* Bob removes b2: alice's next message skips it, and b2's session goes. */
    rbx_devlist_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "bob");
    e.seq = w.ub.n + 1;
    rbx_devlist_entry_hash(e.prev_hash, w.ub.ent[w.ub.n - 1], w.ub.len[w.ub.n - 1]);
    e.op = RBX_DEVLIST_REMOVE;
    e.device = w.b2.id;
    memcpy(e.identity, w.b2.p.pk, 32);
    e.created = (uint64_t)g_now;
    memcpy(e.signer, w.b1.p.pk, 32);
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t el;
    ck_assert_int_eq(rbx_store_devlist_entry(w.b2.p.st, ent, sizeof ent, &el, &e), RBX_E_KEY);
    ck_assert_int_eq(rbx_store_devlist_entry(w.b1.p.st, ent, sizeof ent, &el, &e), 0);
    srv_append(&w.ub, ent, el);
    ck_assert_int_eq(refresh(&w.a1, &w.ub, &up), 0);
    ck_assert_uint_eq(up.removed, 1);
    ck_assert_int_eq(q_int(w.a1.p.st, "SELECT count(*) FROM sessions s JOIN contacts c ON c.id ="
                                      " s.contact WHERE c.name = 'bob'"), 2);
    sent m3;
    send_to(&m3, &w.a1, "bob", "two");
    ck_assert_uint_eq(m3.info.n, 3); /* b1, b3, a2 */
    ck_assert_ptr_null(env_find(&m3, &w.b2));
    /* b2 hears of its removal; messages it claims to send are refused. */
    ck_assert_int_eq(refresh(&w.b2, &w.ub, &up), 0);
    ck_assert(!up.self_listed);
    ck_assert_int_eq(refresh(&w.b1, &w.ub, &up), 0);
    supply(&w.b2, "alice", w.all, w.nall);
    sent t;
    send_to(&t, &w.b2, "alice", "from a removed device");
    ck_assert_int_eq(recv_from(&w.a1, &t, &w.b2, &ri, NULL), RBX_E_NOT_FOUND);
    ck_assert_int_eq(recv_from(&w.b1, &t, &w.b2, &ri, NULL), RBX_E_NOT_FOUND);
    dev_close(&b3);
    w.nall--;
    world_down(&w);
}
END_TEST

/* Recovery (PROTOCOL.md 21.5): b1 restored from a backup cannot decrypt;
 * its retry request starts a new session and a1 re-sends from its log. */
START_TEST(retry_after_restore_from_backup)
{
    world w;
    world_up(&w);
    supply(&w.a1, "bob", w.all, w.nall);
    rbx_user_received ri;
    sent m1;
    send_to(&m1, &w.a1, "bob", "before the backup");
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, m1.info.id), 0);
    ck_assert_int_eq(recv_from(&w.b1, &m1, &w.a1, &ri, "before the backup"), 0);
    /* The backup of b1 is taken now. */
    char bak[PATHCAP];
    peer_close(&w.b1.p);
    snprintf(bak, sizeof bak, "%s.bak", w.b1.p.db);
    copy_or_remove(w.b1.p.db, bak);
    char s1[PATHCAP], s2[PATHCAP];
    side_path(s1, &w.b1.p, "-wal");
    snprintf(s2, sizeof s2, "%s.bak-wal", w.b1.p.db);
    copy_or_remove(s1, s2);
    peer_reopen(&w.b1.p);
    /* Two more turns make b1 take a ratchet key after the backup, and a1
     * encrypt to it: the backup does not hold that key. */
    supply(&w.b1, "alice", w.all, w.nall);
    sent r1, m1b, r2;
    send_to(&r1, &w.b1, "alice", "ack");
    ck_assert_int_eq(recv_from(&w.a1, &r1, &w.b1, &ri, "ack"), 0);
    send_to(&m1b, &w.a1, "bob", "turn");
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, m1b.info.id), 0);
    ck_assert_int_eq(recv_from(&w.b1, &m1b, &w.a1, &ri, "turn"), 0);
    send_to(&r2, &w.b1, "alice", "ack again");
    ck_assert_int_eq(recv_from(&w.a1, &r2, &w.b1, &ri, "ack again"), 0);
    sent m2;
    send_to(&m2, &w.a1, "bob", "lost to the restore");
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, m2.info.id), 0);
    /* Restore b1 from the backup. */
    peer_close(&w.b1.p);
    copy_or_remove(bak, w.b1.p.db);
    copy_or_remove(s2, s1);
    peer_reopen(&w.b1.p);
    int rc = recv_from(&w.b1, &m2, &w.a1, &ri, NULL);
    ck_assert_msg(rc == RBX_E_AUTH || rc == RBX_E_STATE, "restored b1 decrypted it: %d", rc);
    /* The retry request: a new session from a fresh bundle of a1. */
    sent rq;
    const uint8_t(*ids)[16] = (const uint8_t(*)[16])m2.info.message_id;
    ck_assert_int_eq(rbx_store_retry_request(w.b1.p.st, &rq.info, rq.env, 8, rq.buf, sizeof rq.buf,
                                             "alice", w.a1.id, ids, 1), RBX_E_NOT_FOUND);
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t bl = fresh_bundle(b, &w.a1.p);
    ck_assert_int_eq(rbx_store_user_bundle(w.b1.p.st, "alice", w.a1.id, b, bl), 0);
    ck_assert_int_eq(rbx_store_retry_request(w.b1.p.st, &rq.info, rq.env, 8, rq.buf, sizeof rq.buf,
                                             "alice", w.a1.id, ids, 1), 0);
    ck_assert_uint_eq(rq.info.n, 1);
    ck_assert_uint_eq(rq.info.kind, RBX_SEND_RETRY);
    ck_assert_int_eq(rbx_message_prekey_info(NULL, rq.buf + rq.env[0].offset, rq.env[0].len), 1);
    /* One per device per hour. */
    fresh_bundle(b, &w.a1.p);
    ck_assert_int_eq(rbx_store_user_bundle(w.b1.p.st, "alice", w.a1.id, b, bl), 0);
    sent rq2;
    ck_assert_int_eq(rbx_store_retry_request(w.b1.p.st, &rq2.info, rq2.env, 8, rq2.buf,
                                             sizeof rq2.buf, "alice", w.a1.id, ids, 1), RBX_E_LIMIT);
    /* a1 takes the request and queues the re-send. */
    const rbx_envelope *e = &rq.env[0];
    uint8_t pt[256];
    size_t n;
    ck_assert_int_eq(rbx_store_receive(w.a1.p.st, pt, sizeof pt, &n, &ri, "bob", w.b1.id,
                                       rq.buf + e->offset, e->len), 0);
    ck_assert_uint_eq(ri.type, RBX_CONTENT_RETRY);
    ck_assert_uint_eq(ri.resent, 1);
    ck_assert_uint_eq(n, 0);
    /* Redelivered, it makes nothing new. */
    ck_assert_int_eq(rbx_store_receive(w.a1.p.st, pt, sizeof pt, &n, &ri, "bob", w.b1.id,
                                       rq.buf + e->offset, e->len), 0);
    ck_assert(ri.redelivered);
    ck_assert_uint_eq(ri.resent, 1);
    ck_assert_int_eq(q_int(w.a1.p.st, "SELECT count(*) FROM sends WHERE kind = 2"), 1);
    sent rs;
    ck_assert_int_eq(rbx_store_send_get(w.a1.p.st, &rs.info, rs.env, 8, rs.buf, sizeof rs.buf, 0), 0);
    ck_assert_uint_eq(rs.info.kind, RBX_SEND_RESEND);
    ck_assert_uint_eq(rs.info.n, 1);
    ck_assert_uint_eq(rs.env[0].device, w.b1.id);
    ck_assert_int_eq(recv_from(&w.b1, &rs, &w.a1, &ri, "lost to the restore"), 0);
    ck_assert(ri.flags & RBX_CONTENT_RESENT);
    ck_assert_mem_eq(ri.message_id, m2.info.message_id, 16);
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, rs.info.id), 0);
    /* The conversation goes on in the new session. */
    sent m3;
    send_to(&m3, &w.a1, "bob", "and on");
    ck_assert_int_eq(recv_from(&w.b1, &m3, &w.a1, &ri, "and on"), 0);
    /* An hour later b1 may ask again; a1 serves one request per hour too. */
    g_now += RBX_RETRY_INTERVAL;
    fresh_bundle(b, &w.a1.p);
    ck_assert_int_eq(rbx_store_user_bundle(w.b1.p.st, "alice", w.a1.id, b, bl), 0);
    ck_assert_int_eq(rbx_store_retry_request(w.b1.p.st, &rq2.info, rq2.env, 8, rq2.buf,
                                             sizeof rq2.buf, "alice", w.a1.id, ids, 1), 0);
    g_now -= 10; /* a1's clock: within the hour of its last serve */
    ck_assert_int_eq(rbx_store_receive(w.a1.p.st, pt, sizeof pt, &n, &ri, "bob", w.b1.id,
                                       rq2.buf + rq2.env[0].offset, rq2.env[0].len), 0);
    ck_assert(ri.retry_limited);
    ck_assert_uint_eq(ri.resent, 0);
    world_down(&w);
}
END_TEST


/* b asks a for the message m (b's copy lost) and a serves it: the re-send
 * reaches b with the original message id, flagged re-sent. */
static void retry_and_resend(world *w, dev *b, dev *a, const sent *m, const char *text)
{
    sent rq, rs;
    rbx_user_received ri;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES], pt[256];
    size_t bl = fresh_bundle(bundle, &a->p), n;
    (void)w;
    ck_assert_int_eq(rbx_store_user_bundle(b->p.st, a->u->name, a->id, bundle, bl), 0);
    const uint8_t(*ids)[16] = &m->info.message_id;
    ck_assert_int_eq(rbx_store_retry_request(b->p.st, &rq.info, rq.env, 8, rq.buf, sizeof rq.buf,
                                             a->u->name, a->id, ids, 1), 0);
    ck_assert_int_eq(rbx_store_receive(a->p.st, pt, sizeof pt, &n, &ri, b->u->name, b->id,
                                       rq.buf + rq.env[0].offset, rq.env[0].len), 0);
    ck_assert_uint_eq(ri.type, RBX_CONTENT_RETRY);
    ck_assert_uint_eq(ri.resent, 1);
    ck_assert_int_eq(rbx_store_send_get(a->p.st, &rs.info, rs.env, 8, rs.buf, sizeof rs.buf, 0), 0);
    ck_assert_uint_eq(rs.info.kind, RBX_SEND_RESEND);
    ck_assert_int_eq(recv_from(b, &rs, a, &ri, text), 0);
    ck_assert(ri.flags & RBX_CONTENT_RESENT);
    ck_assert_mem_eq(ri.message_id, m->info.message_id, 16);
    ck_assert_int_eq(rbx_store_send_done(a->p.st, rs.info.id), 0);
}

/* The other cases of PROTOCOL.md 21.5's table (the restore is
 * retry_after_restore_from_backup, the new state behind the same key
 * test_multidev.sh's stale case): a reset session, a sender rolled back
 * (a first message's one-time prekey already consumed), a duplicate, a
 * forgery, and a request for a message that did not go to the requester. */
START_TEST(recovery_cases)
{
    world w;
    world_up(&w);
    rbx_user_received ri;
    supply(&w.a1, "bob", w.all, w.nall);
    /* a1's backup: bundles of b1, b2 and a2 held, no session yet. */
    char bak[PATHCAP], s1[PATHCAP], s2[PATHCAP];
    peer_close(&w.a1.p);
    snprintf(bak, sizeof bak, "%s.bak", w.a1.p.db);
    copy_or_remove(w.a1.p.db, bak);
    side_path(s1, &w.a1.p, "-wal");
    snprintf(s2, sizeof s2, "%s.bak-wal", w.a1.p.db);
    copy_or_remove(s1, s2);
    peer_reopen(&w.a1.p);
    sent m1;
    send_to(&m1, &w.a1, "bob", "first");
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, m1.info.id), 0);
    ck_assert_int_eq(recv_from(&w.b1, &m1, &w.a1, &ri, "first"), 0);
    /* Duplicate: refused, nothing to ask for. */
    ck_assert_int_eq(recv_from(&w.b1, &m1, &w.a1, &ri, NULL), RBX_E_REPLAY);
    /* Forgery: a byte of a1's next envelope changed; the ratchet refuses
     * it and commits nothing, so the real one still reads. */
    sent m2;
    send_to(&m2, &w.a1, "bob", "second");
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, m2.info.id), 0);
    sent forged = m2;
    const rbx_envelope *fe = env_for(&forged, &w.b1);
    forged.buf[fe->offset + fe->len - 1] ^= 1;
    int64_t inbox = q_int(w.b1.p.st, "SELECT count(*) FROM inbox");
    ck_assert_int_eq(recv_from(&w.b1, &forged, &w.a1, &ri, NULL), RBX_E_AUTH);
    ck_assert_int_eq(q_int(w.b1.p.st, "SELECT count(*) FROM inbox"), inbox);
    ck_assert_int_eq(recv_from(&w.b1, &m2, &w.a1, &ri, "second"), 0);
    /* Reset: b1 forgets its session with a1 (after a1 heard from b1, so
     * that a1's messages are no longer first messages); a1's next message
     * has no session to go to (RBX_E_STATE), and a retry request recovers it. */
    supply(&w.b1, "alice", w.all, w.nall);
    sent r1;
    send_to(&r1, &w.b1, "alice", "reply");
    ck_assert_int_eq(recv_from(&w.a1, &r1, &w.b1, &ri, "reply"), 0);
    ck_assert_int_eq(rbx_store_reset_session(w.b1.p.st, "alice", w.a1.id), 0);
    sent m3;
    send_to(&m3, &w.a1, "bob", "after the reset");
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, m3.info.id), 0);
    ck_assert_int_eq(recv_from(&w.b1, &m3, &w.a1, &ri, NULL), RBX_E_STATE);
    retry_and_resend(&w, &w.b1, &w.a1, &m3, "after the reset");
    /* A request for a message a1 never sent to the requester re-sends
     * nothing: c1 names bob's message. */
    g_now += RBX_RETRY_INTERVAL;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES], pt[256];
    size_t bl = fresh_bundle(bundle, &w.a1.p), n;
    ck_assert_int_eq(rbx_store_user_bundle(w.c1.p.st, "alice", w.a1.id, bundle, bl), 0);
    sent rq;
    const uint8_t(*ids)[16] = (const uint8_t(*)[16])m2.info.message_id;
    ck_assert_int_eq(rbx_store_retry_request(w.c1.p.st, &rq.info, rq.env, 8, rq.buf, sizeof rq.buf,
                                             "alice", w.a1.id, ids, 1), 0);
    ck_assert_int_eq(rbx_store_receive(w.a1.p.st, pt, sizeof pt, &n, &ri, "carol", w.c1.id,
                                       rq.buf + rq.env[0].offset, rq.env[0].len), 0);
    ck_assert_uint_eq(ri.resent, 0);
    ck_assert_int_eq(q_int(w.a1.p.st, "SELECT count(*) FROM sends WHERE kind = 2 AND state = 0"), 0);
    /* The sender rolled back: a1 restored from its backup starts a session
     * again from the bundle it held, whose one-time prekey b1 consumed. */
    peer_close(&w.a1.p);
    copy_or_remove(bak, w.a1.p.db);
    copy_or_remove(s2, s1);
    peer_reopen(&w.a1.p);
    sent m4;
    send_to(&m4, &w.a1, "bob", "from the restored sender");
    ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, m4.info.id), 0);
    int rc = recv_from(&w.b1, &m4, &w.a1, &ri, NULL);
    ck_assert_msg(rc == RBX_E_PREKEY_REUSED, "b1 took the rolled-back sender's first message: %s",
                  rbx_strerror(rc));
    g_now += RBX_RETRY_INTERVAL;
    retry_and_resend(&w, &w.b1, &w.a1, &m4, "from the restored sender");
    world_down(&w);
}
END_TEST

/* A server that lies about lists or bundles is refused (PROTOCOL.md 20.5). */
START_TEST(malicious_server_lists_and_bundles)
{
    world w;
    world_up(&w);
    rbx_user_update up;
    /* An extra device the server signs itself: no device of bob signed it. */
    dev evil;
    dev_new(&evil, "evil");
    srv_user forged = w.ub;
    rbx_devlist_entry e;
    make_add(&e, &forged, &evil, &evil);
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t el;
    ck_assert_int_eq(rbx_store_devlist_entry(evil.p.st, ent, sizeof ent, &el, &e), 0);
    srv_append(&forged, ent, el);
    ck_assert_int_eq(refresh(&w.a1, &forged, &up), RBX_E_CHAIN);
    /* Dropped: a list without bob's latest entry (rolled back). */
    dev b3;
    dev_new(&b3, "b3");
    enroll_linked(&b3, &w.b1);
    ck_assert_int_eq(refresh(&w.a1, &w.ub, &up), 0);
    srv_user old = w.ub;
    old.n--;
    ck_assert_int_eq(refresh(&w.a1, &old, &up), RBX_E_STALE);
    /* A fork: another entry at the pinned seq. */
    srv_user fork = old;
    dev x;
    dev_new(&x, "x");
    make_add(&e, &fork, &w.b1, &x);
    uint8_t sig[64];
    ck_assert_int_eq(rbx_store_devlist_sign(w.b1.p.st, sig, &e), 0);
    ck_assert_int_eq(rbx_store_devlist_cosign(x.p.st, ent, sizeof ent, &el, &e, sig), 0);
    srv_append(&fork, ent, el);
    ck_assert_int_eq(refresh(&w.a1, &fork, &up), RBX_E_IDENTITY_CHANGED);
    /* Another list under bob's name: shorter than the pin (a rollback
     * first), then as long. */
    srv_user other;
    dev y, z1, z2;
    dev_new(&y, "y");
    dev_new(&z1, "z1");
    dev_new(&z2, "z2");
    enroll_first(&y, &other, "bob");
    ck_assert_int_eq(refresh(&w.a1, &other, &up), RBX_E_STALE);
    enroll_linked(&z1, &y);
    enroll_linked(&z2, &y);
    ck_assert_uint_eq(other.n, w.ub.n);
    ck_assert_int_eq(refresh(&w.a1, &other, &up), RBX_E_IDENTITY_CHANGED);
    /* A user id that is the name of a contact added by hand is refused. */
    uint8_t hb[RBX_BUNDLE_MAXBYTES];
    size_t hbl = fresh_bundle(hb, &w.c1.p);
    ck_assert_int_eq(rbx_store_add_contact(evil.p.st, "carol", 7, hb, hbl), 0);
    ck_assert_int_eq(refresh(&evil, &w.uc, &up), RBX_E_EXISTS);
    /* Nothing moved: the pin is the last good head, 3 devices. */
    rbx_devlist_pin pin;
    ck_assert_int_eq(rbx_store_user_pin(w.a1.p.st, &pin, "bob"), 0);
    ck_assert_uint_eq(pin.seq, w.ub.n);
    rbx_user_device devs[8];
    size_t nd;
    ck_assert_int_eq(rbx_store_user_devices(w.a1.p.st, devs, 8, &nd, "bob"), 0);
    ck_assert_uint_eq(nd, 3);
    /* A swapped bundle: the evil key for b1's slot. */
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    size_t bl = fresh_bundle(b, &evil.p);
    ck_assert_int_eq(rbx_store_user_bundle(w.a1.p.st, "bob", w.b1.id, b, bl), RBX_E_IDENTITY_CHANGED);
    ck_assert_int_eq(rbx_store_user_bundle(w.a1.p.st, "bob", evil.id, b, bl), RBX_E_NOT_FOUND);
    /* A first message from the evil key, claimed to be b1's: refused. */
    ck_assert_int_eq(rbx_store_user_bundle(w.a1.p.st, "bob", w.b1.id, b, bl), RBX_E_IDENTITY_CHANGED);
    world_down(&w);
    dev_close(&evil);
    dev_close(&b3);
    dev_close(&x);
    dev_close(&y);
    dev_close(&z1);
    dev_close(&z2);
}
END_TEST

/* b1 rotates its identity: the list's rotate entry (signed by the old key)
 * and a bundle whose records chain from the pin; alice follows without
 * adding anything by hand. */
START_TEST(rotation_followed_through_the_list)
{
    world w;
    world_up(&w);
    supply(&w.a1, "bob", w.all, w.nall);
    rbx_user_received ri;
    sent m;
    send_to(&m, &w.a1, "bob", "before");
    ck_assert_int_eq(recv_from(&w.b1, &m, &w.a1, &ri, "before"), 0);
    /* dave gets a first message from b1 before the rotation, and pins bob
     * only after it. */
    srv_user ud;
    dev d1;
    dev_new(&d1, "d1");
    enroll_first(&d1, &ud, "dave");
    ck_assert_int_eq(refresh(&d1, &ud, NULL), 0);
    ck_assert_int_eq(refresh(&w.b1, &ud, NULL), 0);
    dev *all2[] = { &w.a1, &w.a2, &w.b1, &w.b2, &w.c1, &d1 };
    ck_assert_uint_eq(supply(&w.b1, "dave", all2, 6), 2); /* d1, and b2 for its copy */
    sent early;
    send_to(&early, &w.b1, "dave", "in flight");
    uint8_t oldpk[32], newpk[32];
    memcpy(oldpk, w.b1.p.pk, 32);
    ck_assert_int_eq(rbx_store_rotate_identity(w.b1.p.st, "scheduled", NULL, NULL, newpk), 0);
    memcpy(w.b1.p.pk, newpk, 32);
    rbx_devlist_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "bob");
    e.seq = w.ub.n + 1;
    rbx_devlist_entry_hash(e.prev_hash, w.ub.ent[w.ub.n - 1], w.ub.len[w.ub.n - 1]);
    e.op = RBX_DEVLIST_ROTATE;
    e.device = w.b1.id;
    memcpy(e.identity, newpk, 32);
    e.created = (uint64_t)g_now;
    memcpy(e.signer, oldpk, 32);
    uint8_t ent[RBX_DEVLIST_ENTRY_MAXBYTES], sig[64], nonce[16] = { 0 };
    size_t el;
    ck_assert_int_eq(rbx_store_devlist_entry(w.b1.p.st, ent, sizeof ent, &el, &e), 0);
    srv_append(&w.ub, ent, el);
    /* Requests to the server are signed with the old key until it has the entry. */
    ck_assert_int_eq(rbx_store_request_sign_as(w.b1.p.st, sig, oldpk, "POST", "/v1/x", 1, nonce, NULL, 0,
                                               "bob", w.b1.id), 0);
    ck_assert_int_eq(rbx_request_verify(sig, "POST", "/v1/x", 1, nonce, NULL, 0, "bob", w.b1.id, oldpk), 0);
    uint8_t other[32];
    memset(other, 9, 32);
    ck_assert_int_eq(rbx_store_request_sign_as(w.b1.p.st, sig, w.c1.p.pk, "POST", "/v1/x", 1, nonce,
                                               NULL, 0, "bob", w.b1.id), RBX_E_KEY);
    rbx_user_update up;
    ck_assert_int_eq(refresh(&w.a1, &w.ub, &up), 0);
    ck_assert_uint_eq(up.rotated, 1);
    ck_assert_int_eq(refresh(&w.b1, &w.ub, &up), 0);
    ck_assert(up.self_listed);
    ck_assert_int_eq(refresh(&w.b2, &w.ub, &up), 0);
    ck_assert_int_eq(refresh(&w.a2, &w.ub, &up), 0);
    /* b1 needs a new bundle; its records lead from the pinned key. */
    ck_assert_uint_eq(supply(&w.a1, "bob", w.all, w.nall), 1);
    sent m2;
    send_to(&m2, &w.a1, "bob", "after");
    ck_assert_int_eq(recv_from(&w.b1, &m2, &w.a1, &ri, "after"), 0);
    ck_assert_int_eq(recv_from(&w.b2, &m2, &w.a1, &ri, "after"), 0);
    /* dave's first look at bob's list shows b1's new key; the message
     * under the old one, in flight, still decrypts (its grace window). */
    ck_assert_int_eq(refresh(&d1, &w.ub, &up), 0);
    ck_assert(up.first);
    ck_assert_int_eq(recv_from(&d1, &early, &w.b1, &ri, "in flight"), 0);
    dev_close(&d1);
    world_down(&w);
}
END_TEST


/* ------------------------------------------------------------ vectors */

#define MD_SEED 11U

/* An organisation root signs dora's entries (PROTOCOL.md 20.4, 20.5): a
 * device that enrolls through the root, and a replacement device the root
 * adds. Verifiers bound to the root accept them; others refuse the list;
 * another root's entry is refused even by the bound ones. */
static void org_entry(dev *d, srv_user *u, const uint8_t org_pk[32], const uint8_t org_sk[32])
{
    rbx_devlist_entry e;
    uint8_t sig[64], ent[RBX_DEVLIST_ENTRY_MAXBYTES];
    size_t n;
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "%s", u->name);
    e.seq = u->n + 1;
    if (u->n > 0) rbx_devlist_entry_hash(e.prev_hash, u->ent[u->n - 1], u->len[u->n - 1]);
    e.op = RBX_DEVLIST_ADD;
    e.device = d->id;
    memcpy(e.identity, d->p.pk, 32);
    e.created = (uint64_t)g_now;
    e.signer_kind = RBX_SIGNER_ORG;
    memcpy(e.signer, org_pk, 32);
    ck_assert_int_eq(rbx_devlist_entry_signature(sig, &e, org_sk), 0);
    ck_assert_int_eq(rbx_store_devlist_cosign(d->p.st, ent, sizeof ent, &n, &e, sig), 0);
    srv_append(u, ent, n);
    d->u = u;
}

START_TEST(organisation_root_users)
{
    world w;
    world_up(&w);
    uint8_t org_pk[32], org_sk[32], other_pk[32], other_sk[32], zero[32] = { 0 };
    ck_assert_int_eq(rbx_keypair_generate(org_pk, org_sk), 0);
    ck_assert_int_eq(rbx_keypair_generate(other_pk, other_sk), 0);
    srv_user ud;
    memset(&ud, 0, sizeof ud);
    snprintf(ud.name, sizeof ud.name, "dora");
    dev d1, d2, d3;
    dev_new(&d1, "d1");
    dev_new(&d2, "d2");
    dev_new(&d3, "d3");
    org_entry(&d1, &ud, org_pk, org_sk);
    rbx_account a;
    ck_assert_int_eq(rbx_store_account_init(d1.p.st, &a, ud.ent[0], ud.len[0]), 0);
    ck_assert_str_eq(a.user, "dora");
    /* Not bound: an entry 1 the root signed is not a list (RBX_E_CHAIN). */
    rbx_devlist_pin pin;
    ck_assert_int_eq(refresh(&d1, &ud, NULL), RBX_E_CHAIN);
    ck_assert_int_eq(refresh(&w.a1, &ud, NULL), RBX_E_CHAIN);
    ck_assert_int_eq(rbx_store_user_pin(w.a1.p.st, &pin, "dora"), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_store_user_org(w.a1.p.st, "dora", zero), RBX_E_KEY);
    ck_assert_int_eq(rbx_store_user_org(w.a1.p.st, "Dora", org_pk), RBX_E_INVALID);
    /* Bound: accepted and pinned. */
    ck_assert_int_eq(rbx_store_user_org(d1.p.st, "dora", org_pk), 0);
    ck_assert_int_eq(rbx_store_user_org(w.a1.p.st, "dora", org_pk), 0);
    ck_assert_int_eq(rbx_store_user_org(w.a1.p.st, "dora", org_pk), 0);
    ck_assert_int_eq(rbx_store_user_org(w.a1.p.st, "dora", other_pk), RBX_E_EXISTS);
    ck_assert_int_eq(rbx_store_user_pin(w.a1.p.st, &pin, "dora"), RBX_E_NOT_FOUND);
    rbx_user_update r;
    ck_assert_int_eq(refresh(&d1, &ud, &r), 0);
    ck_assert(r.self_listed);
    ck_assert_int_eq(refresh(&w.a1, &ud, &r), 0);
    ck_assert(r.first);
    ck_assert_uint_eq(r.ndevices, 1);
    /* The root adds a replacement device: bound verifiers follow, an
     * unbound one (bob, who never pinned dora) still refuses. */
    org_entry(&d2, &ud, org_pk, org_sk);
    ck_assert_int_eq(refresh(&w.a1, &ud, &r), 0);
    ck_assert(!r.first);
    ck_assert_uint_eq(r.ndevices, 2);
    ck_assert_uint_eq(r.added, 1);
    ck_assert_int_eq(refresh(&w.b1, &ud, NULL), RBX_E_CHAIN);
    ck_assert_int_eq(refresh(&d1, &ud, NULL), 0);
    /* An add another root signed: refused, the pin stays. */
    org_entry(&d3, &ud, other_pk, other_sk);
    ck_assert_int_eq(refresh(&w.a1, &ud, NULL), RBX_E_CHAIN);
    ck_assert_int_eq(rbx_store_user_pin(w.a1.p.st, &pin, "dora"), 0);
    ck_assert_uint_eq(pin.seq, 2);
    ud.n--;
    /* a1 sends to dora's two devices; both read it, attributed to a1. */
    dev *all[] = { &w.a1, &w.a2, &w.b1, &w.b2, &w.c1, &d1, &d2 };
    ck_assert_uint_eq(supply(&w.a1, "dora", all, 7), 3); /* d1, d2, and a2 (no session yet) */
    static sent m;
    send_to(&m, &w.a1, "dora", "to the organisation's user");
    ck_assert_uint_eq(m.info.n, 3); /* d1, d2 and a2's sync copy */
    ck_assert_int_eq(rbx_store_account_init(d2.p.st, &a, ud.ent[1], ud.len[1]), 0);
    ck_assert_int_eq(rbx_store_user_org(d2.p.st, "dora", org_pk), 0);
    ck_assert_int_eq(refresh(&d2, &ud, NULL), 0);
    ck_assert_int_eq(refresh(&d2, &w.ua, NULL), 0);
    ck_assert_int_eq(refresh(&d1, &w.ua, NULL), 0);
    ck_assert_int_eq(recv_from(&d1, &m, &w.a1, NULL, "to the organisation's user"), 0);
    ck_assert_int_eq(recv_from(&d2, &m, &w.a1, NULL, "to the organisation's user"), 0);
    sodium_memzero(org_sk, sizeof org_sk);
    sodium_memzero(other_sk, sizeof other_sk);
    dev_close(&d1);
    dev_close(&d2);
    dev_close(&d3);
    world_down(&w);
}
END_TEST

static void vj_hex(tu_sbuf *b, const char *name, const uint8_t *p, size_t n, int last)
{
    char *h = tu_hex(p, n);
    tu_sb_printf(b, "    \"%s\": \"%s\"%s\n", name, h, last ? "" : ",");
    free(h);
}

/* spec/vectors/multidevice.json (PROTOCOL.md 21.9): content headers, a
 * link code with its id, and the two sealed link slots under seed 11. */
START_TEST(multidevice_vectors)
{
    tu_sbuf sb = { 0 };
    uint8_t hdr[RBX_CONTENT_HEADER_MAX + RBX_RETRY_MAX_IDS * 16U];
    tu_sb_printf(&sb, "{\n  \"description\": \"Users with several devices: content headers of "
                 "messages to users, a device-link code with its id, and the sealed request and "
                 "approval slots (XChaCha20-Poly1305 under the link key; the first 24 bytes of a "
                 "slot are its nonce, drawn from the seeded RNG). Generated by "
                 "tests/test_multidev.c (make vectors) from seed %u. Normative description: "
                 "spec/PROTOCOL.md section 21.\",\n", MD_SEED);
    tu_sb_printf(&sb, "  \"seed\": %u,\n  \"content\": [\n", MD_SEED);
    rbx__content c[3] = { { 0 }, { 0 }, { 0 } };
    uint8_t ids[2 * 16];
    for (unsigned i = 0; i < 32; i++) ids[i] = (uint8_t)(0xa0 + i);
    for (unsigned k = 0; k < 3; k++)
        for (unsigned i = 0; i < 16; i++) c[k].message_id[i] = (uint8_t)(16 * k + i);
    c[0].type = RBX_CONTENT_MESSAGE;
    c[1].type = RBX_CONTENT_SYNC;
    c[1].flags = RBX_CONTENT_RESENT;
    snprintf(c[1].to, sizeof c[1].to, "bob@example.org");
    c[2].type = RBX_CONTENT_RETRY;
    c[2].nids = 2;
    c[2].ids = ids;
    const char *names[3] = { "message", "sync copy, re-sent", "retry request" };
    const char *bodies[3] = { "hello", "hello", "" };
    for (unsigned k = 0; k < 3; k++) {
        size_t h = rbx__content_header(hdr, &c[k]), bl = strlen(bodies[k]);
        uint8_t full[sizeof hdr + 16];
        memcpy(full, hdr, h);
        memcpy(full + h, bodies[k], bl);
        rbx__content d;
        ck_assert_int_eq(rbx__content_parse(&d, full, h + bl), 0);
        ck_assert_uint_eq(d.type, c[k].type);
        tu_sb_printf(&sb, "   {\n    \"case\": \"%s\",\n", names[k]);
        vj_hex(&sb, "body", (const uint8_t *)bodies[k], bl, 0);
        vj_hex(&sb, "plaintext", full, h + bl, 1);
        tu_sb_printf(&sb, "   }%s\n", k < 2 ? "," : "");
    }
    tu_sb_printf(&sb, "  ],\n  \"link\": {\n");
    uint8_t secret[RBX_LINK_SECRETBYTES], id[16], pk[32], sk[32], slot[RBX_LINK_SLOT_MAXBYTES];
    size_t n;
    for (unsigned i = 0; i < sizeof secret; i++) secret[i] = (uint8_t)(0x42 + 7 * i);
    char code[RBX_LINK_CODEBYTES];
    rbx_link_code_format(code, secret);
    rbx_link_id(id, secret);
    vj_hex(&sb, "secret", secret, sizeof secret, 0);
    tu_sb_printf(&sb, "    \"code\": \"%s\",\n", code);
    vj_hex(&sb, "id", id, 16, 0);
    tu_rng_seed(MD_SEED);
    ck_assert_int_eq(rbx_keypair_generate(pk, sk), 0);
    vj_hex(&sb, "new_device_public", pk, 32, 0);
    ck_assert_int_eq(rbx_link_request_seal(slot, sizeof slot, &n, secret, pk), 0);
    vj_hex(&sb, "request", slot, n, 0);
    rbx_devlist_entry e = { 0 };
    snprintf(e.user, sizeof e.user, "alice@example.org");
    e.seq = 2;
    memset(e.prev_hash, 0x11, 32);
    e.op = RBX_DEVLIST_ADD;
    e.device = rbx_device_id(pk);
    memcpy(e.identity, pk, 32);
    e.created = 1800000000;
    e.signer_kind = RBX_SIGNER_DEVICE;
    uint8_t spk[32], ssk[32], sig[64];
    ck_assert_int_eq(rbx_keypair_generate(spk, ssk), 0);
    memcpy(e.signer, spk, 32);
    ck_assert_int_eq(rbx_devlist_entry_signature(sig, &e, ssk), 0);
    vj_hex(&sb, "approver_public", spk, 32, 0);
    tu_sb_printf(&sb, "    \"approval_user\": \"%s\",\n    \"approval_seq\": 2,\n"
                 "    \"approval_created\": 1800000000,\n", e.user);
    vj_hex(&sb, "approval_prev_hash", e.prev_hash, 32, 0);
    vj_hex(&sb, "approval_signature", sig, 64, 0);
    ck_assert_int_eq(rbx_link_approval_seal(slot, sizeof slot, &n, secret, &e, sig), 0);
    vj_hex(&sb, "approval", slot, n, 1);
    tu_sb_printf(&sb, "  }\n}\n");
    tu_rng_system();
    /* The slots open again with the secret alone. */
    uint8_t got[32];
    rbx_devlist_entry f;
    uint8_t sig2[64];
    ck_assert_int_eq(rbx_link_approval_open(&f, sig2, secret, slot, n), 0);
    ck_assert_mem_eq(sig2, sig, 64);
    (void)got;
    sodium_memzero(sk, 32);
    sodium_memzero(ssk, 32);
    tu_settle_vector("multidevice.json", &sb);
}
END_TEST


/* ------------------------------------------------------------ integrity (PROTOCOL.md 15.8)
 *
 * The tables of schema 4 under issue 12's model: every row that decides
 * anything is authenticated under the storage key (in the set, and by its
 * row tag at use), so plain SQL on the file without the key changes no
 * decision. */

/* a1 with a delivered send to bob (kept for re-sends: sends and
 * send_envelopes rows), a pending one, and every user pinned. */
static void md_integrity_world(world *w, sent *done, sent *pending)
{
    world_up(w);
    ck_assert_uint_eq(supply(&w->a1, "bob", w->all, w->nall), 3);
    send_to(done, &w->a1, "bob", "delivered");
    ck_assert_int_eq(rbx_store_send_done(w->a1.p.st, done->info.id), 0);
    send_to(pending, &w->a1, "bob", "pending");
    /* Every table of schema 4 has a row. */
    ck_assert_int_eq(q_int(w->a1.p.st, "SELECT (SELECT count(*) FROM account) * (SELECT count(*) FROM"
                                       " users) * (SELECT count(*) FROM user_devices) * (SELECT count(*)"
                                       " FROM sends WHERE state = 1) * (SELECT count(*) FROM"
                                       " send_envelopes WHERE wire IS NULL) > 0"), 1);
}

/* The world is built once per test case, in the runner's process (an
 * unchecked fixture, as tests/test_integrity.c's), closed, and every test
 * starts from a copy of its files: a world costs half a second (five
 * stores, enrollments, a send), and these are 24 tests. */
static world md_tmpl;
static sent md_done, md_pending;

static void md_template(void)
{
    char saved[sizeof g_dir];
    memcpy(saved, g_dir, sizeof g_dir);
    snprintf(g_dir, sizeof g_dir, "%s/mdworld", g_root);
    ck_assert_int_eq(mkdir(g_dir, 0700), 0);
    g_now = TEST_T0;
    md_integrity_world(&md_tmpl, &md_done, &md_pending);
    world_down(&md_tmpl);
    memcpy(g_dir, saved, sizeof g_dir);
}

/* A copy of the template's world in this test's directory, stores open. */
static void md_world_load(world *w, sent *done, sent *pending)
{
    *w = md_tmpl;
    *done = md_done;
    *pending = md_pending;
    dev *mine[] = { &w->a1, &w->a2, &w->b1, &w->b2, &w->c1 };
    const dev *tpl[] = { &md_tmpl.a1, &md_tmpl.a2, &md_tmpl.b1, &md_tmpl.b2, &md_tmpl.c1 };
    srv_user *const users[] = { &w->ua, &w->ub, &w->uc };
    const srv_user *const tusers[] = { &md_tmpl.ua, &md_tmpl.ub, &md_tmpl.uc };
    static const char *const sfx[] = { "", "-wal", "-shm", ".key", ".gen" };
    for (size_t i = 0; i < 5; i++) {
        const char *base = strrchr(tpl[i]->p.db, '/');
        ck_assert_ptr_nonnull(base);
        char to[PATHCAP];
        path_of(to, base + 1);
        for (size_t k = 0; k < 5; k++) {
            char a[PATHCAP + 8], b[PATHCAP + 8];
            snprintf(a, sizeof a, "%s%s", tpl[i]->p.db, sfx[k]);
            snprintf(b, sizeof b, "%s%s", to, sfx[k]);
            copy_or_remove(a, b);
        }
        ck_assert_uint_lt(strlen(to), sizeof mine[i]->p.db);
        memcpy(mine[i]->p.db, to, strlen(to) + 1);
        peer_reopen(&mine[i]->p);
        for (size_t u = 0; u < 3; u++)
            if (tpl[i]->u == tusers[u]) mine[i]->u = users[u];
        w->all[i] = mine[i];
    }
}

static int md_open_rc(const char *db)
{
    rbx_store *st = NULL;
    rbx_store_opts o = store_opts(0);
    int rc = rbx_store_open(&st, db, &o);
    rbx_store_close(st);
    return rc;
}

/* Edits of a1's closed store by plain SQL ({B2}, {C1}: device ids,
 * {MALLORY}: a key in hex): each refused at open with RBX_E_TAMPERED, the
 * failed open writing nothing. */
static const struct {
    const char *name, *sql;
} md_closed_edits[] = {
    { "users: bob's pin moved to another head", "UPDATE users SET hash = zeroblob(32) WHERE user = 'bob'" },
    { "users: bob's pin set back a seq", "UPDATE users SET seq = seq - 1 WHERE user = 'bob'" },
    { "users: bob's pin removed (first use again)", "DELETE FROM users WHERE user = 'bob'" },
    { "users: bob bound to an organisation root", "UPDATE users SET org = x'{MALLORY}' WHERE user = 'bob'" },
    { "user_devices: b2's key replaced", "UPDATE user_devices SET identity = x'{MALLORY}' WHERE device = {B2}" },
    { "user_devices: a device added with a copied tag",
      "INSERT INTO user_devices SELECT user, 77, x'{MALLORY}', added_seq, regid, NULL, 0, 0, mac"
      " FROM user_devices WHERE device = {B2}" },
    { "user_devices: b2 removed", "DELETE FROM user_devices WHERE device = {B2}" },
    { "user_devices: a retry time reset", "UPDATE user_devices SET retry_asked = retry_asked + 1" },
    { "user_devices: b2 made carol's c1's contact row",
      "UPDATE user_devices SET contact = (SELECT contact FROM user_devices WHERE device = {C1})"
      " WHERE device = {B2}" },
    { "account: another device id", "UPDATE account SET device = device + 1" },
    { "account: removed", "DELETE FROM account" },
    { "sends: a delivered send made pending again", "UPDATE sends SET state = 0" },
    { "sends: the re-send window made longer", "UPDATE sends SET created = created + 1000000" },
    { "sends: sent to another user", "UPDATE sends SET to_user = 'carol'" },
    { "send_envelopes: an envelope for carol's c1 (re-sends to her)",
      "INSERT INTO send_envelopes SELECT send, 'carol', {C1}, regid, identity, NULL, mac"
      " FROM send_envelopes LIMIT 1" },
    { "send_envelopes: a recipient removed", "DELETE FROM send_envelopes WHERE device = {B2}" },
};
#define MD_N_CLOSED (int)(sizeof md_closed_edits / sizeof md_closed_edits[0])

START_TEST(md_closed_edit)
{
    world w;
    sent done, pending;
    md_world_load(&w, &done, &pending);
    dev mallory;
    dev_new(&mallory, "mallory");
    char mhex[65], b2[16], c1[16], sql[1024];
    sodium_bin2hex(mhex, sizeof mhex, mallory.p.pk, 32);
    snprintf(b2, sizeof b2, "%u", w.b2.id);
    snprintf(c1, sizeof c1, "%u", w.c1.id);
    peer_close(&w.a1.p);
    /* {NAME} holes filled. */
    const char *t = md_closed_edits[_i].sql;
    size_t used = 0;
    while (*t) {
        const char *v = NULL;
        size_t skip = 1;
        if (strncmp(t, "{B2}", 4) == 0) v = b2, skip = 4;
        else if (strncmp(t, "{C1}", 4) == 0) v = c1, skip = 4;
        else if (strncmp(t, "{MALLORY}", 9) == 0) v = mhex, skip = 9;
        size_t n = v != NULL ? strlen(v) : 1;
        ck_assert_uint_lt(used + n, sizeof sql);
        memcpy(sql + used, v != NULL ? v : t, n);
        used += n;
        t += skip;
    }
    sql[used] = '\0';
    sql_on_file(w.a1.p.db, sql);
    size_t blen, alen;
    uint8_t *before = slurp(w.a1.p.db, &blen);
    int rc = md_open_rc(w.a1.p.db);
    ck_assert_msg(rc == RBX_E_TAMPERED, "%s: open gave %s", md_closed_edits[_i].name, rbx_strerror(rc));
    uint8_t *after = slurp(w.a1.p.db, &alen);
    ck_assert_msg(blen == alen && memcmp(before, after, blen) == 0,
                  "%s: the refused open wrote to the database", md_closed_edits[_i].name);
    free(before);
    free(after);
    dev_close(&mallory);
    w.a1.p.st = NULL;
    world_down(&w);
}
END_TEST

/* The same kind of edit while the store is open (another connection writes
 * the file): the call that would take a decision from the row refuses with
 * RBX_E_TAMPERED, and nothing is accepted or sent. */
enum {
    MD_LIVE_DEVICE_KEY,   /* a1's list of bob: b2 under mallory's key; a1 sends to bob */
    MD_LIVE_DEVICE_ADDED, /* a1's list of bob: a device added with a copied tag; a1 sends */
    MD_LIVE_PIN,          /* a1's pin of bob moved; a1 takes bob's list again */
    MD_LIVE_ACCOUNT,      /* a1's account: another device id; a1 sends */
    MD_LIVE_SENDER_KEY,   /* b1's list of alice: a1 under mallory's key; b1 receives */
    MD_LIVE_SEND_PENDING, /* a1's delivered send made pending: a1 reads its pending send */
    MD_LIVE_RESEND_TO,    /* a1's send log: an envelope for c1 added; c1's retry request */
    MD_LIVE_RETRY_TIME,   /* b1's retry time of a1 reset; b1 asks again within the hour */
    MD_LIVE_COUNT
};

START_TEST(md_live_edit)
{
    world w;
    sent done, pending, out;
    rbx_user_received ri;
    rbx_user_update up;
    md_world_load(&w, &done, &pending);
    dev mallory;
    dev_new(&mallory, "mallory");
    char mhex[65], sql[1024];
    sodium_bin2hex(mhex, sizeof mhex, mallory.p.pk, 32);
    const char *a1db = w.a1.p.db, *b1db = w.b1.p.db;
    int64_t sends = sql_int_on_file(a1db, "SELECT count(*) FROM sends");
    int64_t inbox_b1 = sql_int_on_file(b1db, "SELECT count(*) FROM inbox");
    int rc = 0, want = RBX_E_TAMPERED;
    switch (_i) {
    case MD_LIVE_DEVICE_KEY:
        snprintf(sql, sizeof sql, "UPDATE user_devices SET identity = x'%s' WHERE device = %u", mhex,
                 w.b2.id);
        sql_on_file(a1db, sql);
        rc = rbx_store_send(w.a1.p.st, &out.info, out.env, 8, out.buf, sizeof out.buf, "bob",
                            (const uint8_t *)"x", 1, NULL);
        break;
    case MD_LIVE_DEVICE_ADDED:
        snprintf(sql, sizeof sql, "INSERT INTO user_devices SELECT user, 77, x'%s', added_seq, regid,"
                 " contact, 0, 0, mac FROM user_devices WHERE device = %u", mhex, w.b2.id);
        sql_on_file(a1db, sql);
        rc = rbx_store_send(w.a1.p.st, &out.info, out.env, 8, out.buf, sizeof out.buf, "bob",
                            (const uint8_t *)"x", 1, NULL);
        break;
    case MD_LIVE_PIN:
        sql_on_file(a1db, "UPDATE users SET seq = 1, hash = first_hash WHERE user = 'bob'");
        rc = refresh(&w.a1, &w.ub, &up);
        break;
    case MD_LIVE_ACCOUNT:
        sql_on_file(a1db, "UPDATE account SET device = device + 1");
        rc = rbx_store_send(w.a1.p.st, &out.info, out.env, 8, out.buf, sizeof out.buf, "bob",
                            (const uint8_t *)"x", 1, NULL);
        break;
    case MD_LIVE_SENDER_KEY:
        snprintf(sql, sizeof sql, "UPDATE user_devices SET identity = x'%s' WHERE device = %u", mhex,
                 w.a1.id);
        sql_on_file(b1db, sql);
        rc = recv_from(&w.b1, &done, &w.a1, &ri, NULL);
        break;
    case MD_LIVE_SEND_PENDING:
        ck_assert_int_eq(rbx_store_send_done(w.a1.p.st, pending.info.id), 0);
        sql_on_file(a1db, "UPDATE sends SET state = 0");
        rc = rbx_store_send_get(w.a1.p.st, &out.info, out.env, 8, out.buf, sizeof out.buf, 0);
        break;
    case MD_LIVE_RESEND_TO: {
        /* c1 asks a1 for bob's message, as if it had gone to c1 too. */
        snprintf(sql, sizeof sql, "INSERT INTO send_envelopes SELECT send, 'carol', %u, regid, identity,"
                 " NULL, mac FROM send_envelopes WHERE send = %llu LIMIT 1", w.c1.id,
                 (unsigned long long)done.info.id);
        sql_on_file(a1db, sql);
        uint8_t b[RBX_BUNDLE_MAXBYTES];
        size_t bl = fresh_bundle(b, &w.a1.p);
        ck_assert_int_eq(rbx_store_user_bundle(w.c1.p.st, "alice", w.a1.id, b, bl), 0);
        sent rq;
        const uint8_t(*ids)[16] = (const uint8_t(*)[16])done.info.message_id;
        ck_assert_int_eq(rbx_store_retry_request(w.c1.p.st, &rq.info, rq.env, 8, rq.buf, sizeof rq.buf,
                                                 "alice", w.a1.id, ids, 1), 0);
        uint8_t pt[256];
        size_t n;
        rc = rbx_store_receive(w.a1.p.st, pt, sizeof pt, &n, &ri, "carol", w.c1.id,
                               rq.buf + rq.env[0].offset, rq.env[0].len);
        /* The request itself authenticates (c1 is carol's listed device);
         * the forged recipient row, whose tag is another row's, re-sends
         * nothing. */
        want = 0;
        ck_assert_uint_eq(ri.resent, 0);
        ck_assert_int_eq(q_int(w.a1.p.st, "SELECT count(*) FROM sends WHERE kind = 2"), 0);
        break;
    }
    case MD_LIVE_RETRY_TIME: {
        uint8_t b[RBX_BUNDLE_MAXBYTES];
        size_t bl = fresh_bundle(b, &w.a1.p);
        ck_assert_int_eq(rbx_store_user_bundle(w.b1.p.st, "alice", w.a1.id, b, bl), 0);
        sent rq;
        const uint8_t(*ids)[16] = (const uint8_t(*)[16])done.info.message_id;
        ck_assert_int_eq(rbx_store_retry_request(w.b1.p.st, &rq.info, rq.env, 8, rq.buf, sizeof rq.buf,
                                                 "alice", w.a1.id, ids, 1), 0);
        inbox_b1 = sql_int_on_file(b1db, "SELECT count(*) FROM inbox");
        bl = fresh_bundle(b, &w.a1.p);
        ck_assert_int_eq(rbx_store_user_bundle(w.b1.p.st, "alice", w.a1.id, b, bl), 0);
        /* Within the hour: refused as it is (RBX_E_LIMIT), so the time is reset. */
        sql_on_file(b1db, "UPDATE user_devices SET retry_asked = 0");
        rc = rbx_store_retry_request(w.b1.p.st, &rq.info, rq.env, 8, rq.buf, sizeof rq.buf, "alice",
                                     w.a1.id, ids, 1);
        break;
    }
    default:
        ck_abort();
    }
    ck_assert_msg(rc == want, "live edit %d: %s", _i, rbx_strerror(rc));
    /* Nothing accepted, nothing new to send. */
    ck_assert_int_eq(sql_int_on_file(b1db, "SELECT count(*) FROM inbox"), inbox_b1);
    if (_i != MD_LIVE_RETRY_TIME && _i != MD_LIVE_RESEND_TO)
        ck_assert_int_eq(sql_int_on_file(a1db, "SELECT count(*) FROM sends"), sends);
    dev_close(&mallory);
    world_down(&w);
}
END_TEST

/* Run in the integrity suite's tcases (tests/test_integrity.c), so that
 * make mutation-check sees them fail without the protection they test:
 * closed edits without the sets, live edits without the row tags. */
void multidev_integrity_sets(TCase *tc)
{
    tcase_add_unchecked_fixture(tc, md_template, NULL);
    tcase_add_loop_test(tc, md_closed_edit, 0, MD_N_CLOSED);
}

void multidev_integrity_row_tags(TCase *tc)
{
    tcase_add_unchecked_fixture(tc, md_template, NULL);
    tcase_add_loop_test(tc, md_live_edit, 0, MD_LIVE_COUNT);
}

static void md_setup(void) { dir_setup(); }

Suite *suite_multidev(void)
{
    Suite *s = suite_create("multidev");
    TCase *t = tcase_create("formats");
    tcase_add_test(t, content_round_trip_and_refusals);
    tcase_add_test(t, link_codes);
    tcase_add_test(t, link_slots);
    tcase_add_test(t, two_device_add);
    suite_add_tcase(s, t);
    TCase *st = tcase_create("store");
    dir_fixtures(st, md_setup, 60);
    tcase_add_test(st, fanout_sync_copies_and_attribution);
    tcase_add_test(st, send_pending_rebuild_after_join_and_remove);
    tcase_add_test(st, retry_after_restore_from_backup);
    tcase_add_test(st, recovery_cases);
    tcase_add_test(st, malicious_server_lists_and_bundles);
    tcase_add_test(st, rotation_followed_through_the_list);
    tcase_add_test(st, organisation_root_users);
    suite_add_tcase(s, st);
    /* Named "vectors" so that make vectors rewrites spec/vectors/multidevice.json. */
    TCase *v = tcase_create("vectors");
    tcase_add_test(v, multidevice_vectors);
    suite_add_tcase(s, v);
    return s;
}
