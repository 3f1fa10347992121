/* SPDX-License-Identifier: MIT
 * Users with several devices (PROTOCOL.md section 21): the content header
 * of messages to users, device links (codes, ids, sealed slots), the
 * two-device signing of an add entry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
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

Suite *suite_multidev(void)
{
    Suite *s = suite_create("multidev");
    TCase *t = tcase_create("formats");
    tcase_add_test(t, content_round_trip_and_refusals);
    tcase_add_test(t, link_codes);
    tcase_add_test(t, link_slots);
    tcase_add_test(t, two_device_add);
    suite_add_tcase(s, t);
    return s;
}
