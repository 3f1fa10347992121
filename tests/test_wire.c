/* SPDX-License-Identifier: MIT
 * Wire format: the hand-written encoder agrees with protoc-c's packer, and
 * parsers take the canonical form only. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "kdf.h"
#include "testutil.h"
#include "wire.h"

static uint8_t key_a[32], key_b[32], hdr[RBX_ENC_HEADERBYTES], body[300];

static void fill(void)
{
    randombytes_buf(key_a, sizeof key_a);
    randombytes_buf(key_b, sizeof key_b);
    randombytes_buf(hdr, sizeof hdr);
    randombytes_buf(body, sizeof body);
}

/* Our encoding of a clear-header message with given counters. */
static size_t ours_clear(uint8_t *out, uint32_t n, uint32_t pn, size_t ctlen)
{
    rbx__msg m = { .version = 1, .ratchet_key = key_a, .counter = n, .previous_counter = pn,
                   .ctlen = ctlen };
    size_t p = rbx__msg_prefix(out, &m);
    memcpy(out + p, body, ctlen);
    return p + ctlen;
}

START_TEST(encoder_matches_protoc)
{
    fill();
    static const uint32_t counters[] = { 0, 1, 127, 128, 16383, 16384, 0xffffffffU };
    uint8_t ours[512], theirs[512];
    for (size_t i = 0; i < RBX_COUNTOF(counters); i++) {
        for (size_t ctlen = 16; ctlen < sizeof body; ctlen += 61) {
            size_t n1 = ours_clear(ours, counters[i], counters[RBX_COUNTOF(counters) - 1 - i], ctlen);
            Rbx__Wire__Message w = RBX__WIRE__MESSAGE__INIT;
            w.version = 1;
            w.has_ratchet_key = w.has_counter = w.has_previous_counter = 1;
            w.ratchet_key = (ProtobufCBinaryData){ 32, key_a };
            w.counter = counters[i];
            w.previous_counter = counters[RBX_COUNTOF(counters) - 1 - i];
            w.ciphertext = (ProtobufCBinaryData){ ctlen, body };
            size_t n2 = rbx__wire__message__pack(&w, theirs);
            ck_assert_uint_eq(n1, n2);
            ck_assert_mem_eq(ours, theirs, n1);
            rbx__msg m;
            ck_assert_int_eq(rbx__msg_parse(&m, ours, n1), 0);
            ck_assert_uint_eq(m.counter, counters[i]);
            ck_assert_ptr_eq(m.ratchet_key, ours + 4);
            ck_assert_uint_eq(m.ctlen, ctlen);
            ck_assert_ptr_eq(m.ct, ours + n1 - ctlen);
        }
    }
    /* Encrypted-header form. */
    rbx__msg m = { .version = 1, .enc_header = hdr, .ctlen = 40 };
    size_t p = rbx__msg_prefix(ours, &m);
    memcpy(ours + p, body, 40);
    Rbx__Wire__Message w = RBX__WIRE__MESSAGE__INIT;
    w.version = 1;
    w.has_encrypted_header = 1;
    w.encrypted_header = (ProtobufCBinaryData){ sizeof hdr, hdr };
    w.ciphertext = (ProtobufCBinaryData){ 40, body };
    ck_assert_uint_eq(rbx__wire__message__pack(&w, theirs), p + 40);
    ck_assert_mem_eq(ours, theirs, p + 40);
    /* PreKeyMessage with every optional field. */
    rbx__prekey_msg pm = { .version = 1, .identity_key = key_a, .base_key = key_b,
                           .signed_prekey_id = 300, .has_onetime = 1, .onetime_prekey_id = 9,
                           .profile = 1,
                           .header_encryption = 1, .messagelen = 50 };
    p = rbx__prekey_prefix(ours, &pm);
    memcpy(ours + p, body, 50);
    Rbx__Wire__PreKeyMessage k = RBX__WIRE__PRE_KEY_MESSAGE__INIT;
    k.version = 1;
    k.identity_key = (ProtobufCBinaryData){ 32, key_a };
    k.base_key = (ProtobufCBinaryData){ 32, key_b };
    k.signed_prekey_id = 300;
    k.has_one_time_prekey_id = 1;
    k.one_time_prekey_id = 9;
    k.has_kdf_profile = 1;
    k.kdf_profile = 1;
    k.has_header_encryption = 1;
    k.header_encryption = 1;
    k.message = (ProtobufCBinaryData){ 50, body };
    ck_assert_uint_eq(rbx__wire__pre_key_message__pack(&k, theirs), p + 50);
    ck_assert_mem_eq(ours, theirs, p + 50);
    rbx__prekey_msg back;
    ck_assert_int_eq(rbx__prekey_parse(&back, ours, p + 50), 0);
    ck_assert_uint_eq(back.onetime_prekey_id, 9);
    ck_assert_uint_eq(back.profile, 1);
    ck_assert_int_eq(back.header_encryption, 1);
    ck_assert_ptr_eq(back.base_key, ours + 38);
}
END_TEST

START_TEST(parser_refuses_non_canonical)
{
    fill();
    uint8_t buf[512], alt[600];
    size_t n = ours_clear(buf, 5, 3, 20);
    rbx__msg m;
    ck_assert_int_eq(rbx__msg_parse(&m, buf, n), 0);
    /* Trailing byte (a valid varint field 15 would be an unknown field). */
    memcpy(alt, buf, n);
    alt[n] = 0x78, alt[n + 1] = 0x01;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, n + 2), RBX_E_MALFORMED);
    alt[n] = 0x00;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, n + 1), RBX_E_MALFORMED);
    /* Duplicated counter field appended after the ciphertext. */
    alt[n] = 0x18, alt[n + 1] = 0x05;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, n + 2), RBX_E_MALFORMED);
    /* Non-minimal varint for the version: 08 81 00. */
    alt[0] = 0x08, alt[1] = 0x81, alt[2] = 0x00;
    memcpy(alt + 3, buf + 2, n - 2);
    ck_assert_int_eq(rbx__msg_parse(&m, alt, n + 1), RBX_E_MALFORMED);
    /* Fields out of order: counter before ratchet key. */
    size_t k = 0;
    alt[k++] = 0x08, alt[k++] = 0x01, alt[k++] = 0x18, alt[k++] = 0x05;
    alt[k++] = 0x12, alt[k++] = 0x20;
    memcpy(alt + k, key_a, 32), k += 32;
    memcpy(alt + k, buf + 38, n - 38), k += n - 38; /* previous counter and ciphertext */
    ck_assert_uint_eq(k, n);
    ck_assert_int_eq(rbx__msg_parse(&m, alt, k), RBX_E_MALFORMED);
    /* Unknown versions; version 2 without its salt. */
    memcpy(alt, buf, n);
    alt[1] = 3;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, n), RBX_E_VERSION);
    alt[1] = 0;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, n), RBX_E_VERSION);
    alt[1] = 2;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, n), RBX_E_MALFORMED);
    /* Wrong key length: 31 bytes. */
    rbx__msg bad = { .version = 1, .ratchet_key = key_a, .counter = 1, .previous_counter = 0,
                     .ctlen = 20 };
    size_t p = rbx__msg_prefix(alt, &bad);
    alt[3] = 31;
    memmove(alt + 4 + 31, alt + 4 + 32, p - 36);
    ck_assert_int_eq(rbx__msg_parse(&m, alt, p - 1 + 20), RBX_E_MALFORMED);
    /* Missing counter; both header forms at once; ciphertext shorter than a tag. */
    Rbx__Wire__Message w = RBX__WIRE__MESSAGE__INIT;
    w.version = 1;
    w.has_ratchet_key = w.has_previous_counter = 1;
    w.ratchet_key = (ProtobufCBinaryData){ 32, key_a };
    w.ciphertext = (ProtobufCBinaryData){ 20, body };
    ck_assert_int_eq(rbx__msg_parse(&m, alt, rbx__wire__message__pack(&w, alt)), RBX_E_MALFORMED);
    w.has_counter = 1;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, rbx__wire__message__pack(&w, alt)), 0);
    w.has_encrypted_header = 1;
    w.encrypted_header = (ProtobufCBinaryData){ sizeof hdr, hdr };
    ck_assert_int_eq(rbx__msg_parse(&m, alt, rbx__wire__message__pack(&w, alt)), RBX_E_MALFORMED);
    w.has_encrypted_header = 0;
    w.ciphertext.len = 15;
    ck_assert_int_eq(rbx__msg_parse(&m, alt, rbx__wire__message__pack(&w, alt)), RBX_E_MALFORMED);
    /* Empty input and a lone byte. */
    ck_assert_int_eq(rbx__msg_parse(&m, alt, 0), RBX_E_MALFORMED);
    ck_assert_int_eq(rbx__msg_parse(&m, buf, 1), RBX_E_MALFORMED);
}
END_TEST

START_TEST(prekey_parser_refusals)
{
    fill();
    uint8_t buf[512];
    rbx__prekey_msg pm = { .version = 1, .identity_key = key_a, .base_key = key_b,
                           .signed_prekey_id = 1, .messagelen = 60 };
    size_t p = rbx__prekey_prefix(buf, &pm);
    memcpy(buf + p, body, 60);
    rbx__prekey_msg back;
    ck_assert_int_eq(rbx__prekey_parse(&back, buf, p + 60), 0);
    ck_assert_int_eq(back.has_onetime, 0);
    /* An explicit default (profile = 0) is not canonical. */
    Rbx__Wire__PreKeyMessage k = RBX__WIRE__PRE_KEY_MESSAGE__INIT;
    k.version = 1;
    k.identity_key = (ProtobufCBinaryData){ 32, key_a };
    k.base_key = (ProtobufCBinaryData){ 32, key_b };
    k.signed_prekey_id = 1;
    k.has_kdf_profile = 1;
    k.kdf_profile = 0;
    k.message = (ProtobufCBinaryData){ 60, body };
    uint8_t alt[512];
    ck_assert_int_eq(rbx__prekey_parse(&back, alt, rbx__wire__pre_key_message__pack(&k, alt)),
                     RBX_E_MALFORMED);
    k.kdf_profile = 9; /* unknown profile */
    ck_assert_int_eq(rbx__prekey_parse(&back, alt, rbx__wire__pre_key_message__pack(&k, alt)),
                     RBX_E_VERSION);
    k.kdf_profile = 2; /* profile 2 is version 2 only */
    ck_assert_int_eq(rbx__prekey_parse(&back, alt, rbx__wire__pre_key_message__pack(&k, alt)),
                     RBX_E_VERSION);
    k.has_kdf_profile = 0;
    k.has_header_encryption = 1;
    k.header_encryption = 0;
    ck_assert_int_eq(rbx__prekey_parse(&back, alt, rbx__wire__pre_key_message__pack(&k, alt)),
                     RBX_E_MALFORMED);
    k.has_header_encryption = 0;
    uint8_t key33[33] = { 9 };
    k.base_key = (ProtobufCBinaryData){ sizeof key33, key33 };
    ck_assert_int_eq(rbx__prekey_parse(&back, alt, rbx__wire__pre_key_message__pack(&k, alt)),
                     RBX_E_MALFORMED);
    for (size_t len = 0; len < p + 60; len++)
        ck_assert_int_eq(rbx__prekey_parse(&back, buf, len), RBX_E_MALFORMED);
}
END_TEST

/* Version 2 (PROTOCOL.md 9.2, 9.3): the salt after the ciphertext, the
 * attachment after the embedded message, both as protoc-c packs them. */
START_TEST(version2_encoding)
{
    fill();
    uint8_t ours[4096], theirs[4096], salt[16], rec[3][200], cert[150];
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(rec, sizeof rec);
    randombytes_buf(cert, sizeof cert);
    rbx__msg m = { .version = 2, .ratchet_key = key_a, .counter = 300, .previous_counter = 7,
                   .ctlen = 80, .salt = salt };
    size_t p = rbx__msg_prefix(ours, &m);
    memcpy(ours + p, body, 80);
    size_t sl = rbx__msg_suffix(ours + p + 80, &m);
    ck_assert_uint_eq(sl, 18);
    Rbx__Wire__Message w = RBX__WIRE__MESSAGE__INIT;
    w.version = 2;
    w.has_ratchet_key = w.has_counter = w.has_previous_counter = w.has_salt = 1;
    w.ratchet_key = (ProtobufCBinaryData){ 32, key_a };
    w.counter = 300;
    w.previous_counter = 7;
    w.ciphertext = (ProtobufCBinaryData){ 80, body };
    w.salt = (ProtobufCBinaryData){ 16, salt };
    ck_assert_uint_eq(rbx__wire__message__pack(&w, theirs), p + 80 + 18);
    ck_assert_mem_eq(ours, theirs, p + 80 + 18);
    rbx__msg back;
    ck_assert_int_eq(rbx__msg_parse(&back, ours, p + 98), 0);
    ck_assert_uint_eq(back.version, 2);
    ck_assert_ptr_eq(back.salt, ours + p + 82);
    ck_assert_ptr_eq(back.ct, ours + p);
    ck_assert_uint_eq(back.ctlen, 80);
    /* Refusals: salt of 15 or 17 bytes, a salt with version 1 or with an
     * encrypted header, trailing bytes after the salt, every truncation. */
    uint8_t s17[17] = { 0 };
    w.salt = (ProtobufCBinaryData){ 15, salt };
    ck_assert_int_eq(rbx__msg_parse(&back, theirs, rbx__wire__message__pack(&w, theirs)), RBX_E_MALFORMED);
    w.salt = (ProtobufCBinaryData){ 17, s17 };
    ck_assert_int_eq(rbx__msg_parse(&back, theirs, rbx__wire__message__pack(&w, theirs)), RBX_E_MALFORMED);
    w.salt = (ProtobufCBinaryData){ 16, salt };
    w.version = 1;
    ck_assert_int_eq(rbx__msg_parse(&back, theirs, rbx__wire__message__pack(&w, theirs)), RBX_E_MALFORMED);
    w.version = 2;
    w.has_ratchet_key = w.has_counter = w.has_previous_counter = 0;
    w.has_encrypted_header = 1;
    w.encrypted_header = (ProtobufCBinaryData){ sizeof hdr, hdr };
    ck_assert_int_eq(rbx__msg_parse(&back, theirs, rbx__wire__message__pack(&w, theirs)), RBX_E_MALFORMED);
    w.has_salt = 0;
    size_t hn = rbx__wire__message__pack(&w, theirs);
    ck_assert_int_eq(rbx__msg_parse(&back, theirs, hn), 0);
    ck_assert_ptr_null(back.salt);
    ck_assert_uint_eq(back.version, 2);
    ours[p + 98] = 0x00;
    ck_assert_int_eq(rbx__msg_parse(&back, ours, p + 99), RBX_E_MALFORMED);
    for (size_t len = 0; len < p + 98; len++)
        ck_assert_int_eq(rbx__msg_parse(&back, ours, len), RBX_E_MALFORMED);

    /* PreKeyMessage version 2 with three records and a certificate. */
    rbx__prekey_msg pm = { .version = 2, .identity_key = key_a, .base_key = key_b,
                           .signed_prekey_id = 5, .profile = 2, .messagelen = 98, .nrecords = 3,
                           .cert = cert, .certlen = sizeof cert };
    for (size_t i = 0; i < 3; i++) pm.records[i] = rec[i], pm.record_lens[i] = 200 - 10 * i;
    size_t pp = rbx__prekey_prefix(theirs, &pm);
    memcpy(theirs + pp, ours, 98);
    size_t ps = rbx__prekey_suffix(theirs + pp + 98, &pm);
    ck_assert_uint_eq(ps, rbx__prekey_suffix(NULL, &pm));
    ck_assert_uint_eq(ps, 3 * 3 + 200 + 190 + 180 + 3 + 150);
    Rbx__Wire__PreKeyMessage k = RBX__WIRE__PRE_KEY_MESSAGE__INIT;
    ProtobufCBinaryData recs[RBX_CHAIN_MAX + 1];
    k.version = 2;
    k.identity_key = (ProtobufCBinaryData){ 32, key_a };
    k.base_key = (ProtobufCBinaryData){ 32, key_b };
    k.signed_prekey_id = 5;
    k.has_kdf_profile = 1;
    k.kdf_profile = 2;
    k.message = (ProtobufCBinaryData){ 98, ours };
    for (size_t i = 0; i < 3; i++) recs[i] = (ProtobufCBinaryData){ 200 - 10 * i, rec[i] };
    k.n_rotation = 3;
    k.rotation = recs;
    k.has_org_certificate = 1;
    k.org_certificate = (ProtobufCBinaryData){ sizeof cert, cert };
    uint8_t alt[4096];
    size_t an = rbx__wire__pre_key_message__pack(&k, alt);
    ck_assert_uint_eq(an, pp + 98 + ps);
    ck_assert_mem_eq(alt, theirs, an);
    rbx__prekey_msg pb;
    ck_assert_int_eq(rbx__prekey_parse(&pb, theirs, an), 0);
    ck_assert_uint_eq(pb.version, 2);
    ck_assert_uint_eq(pb.nrecords, 3);
    ck_assert_uint_eq(pb.record_lens[2], 180);
    ck_assert_mem_eq(pb.records[1], rec[1], 190);
    ck_assert(pb.records[1] >= theirs && pb.records[1] < theirs + an); /* into the input */
    ck_assert_uint_eq(pb.certlen, sizeof cert);
    ck_assert_mem_eq(pb.cert, cert, sizeof cert);
    ck_assert_ptr_eq(pb.message, theirs + pp);
    /* Truncated: refused, except at the end of a field after the message,
     * where it is a shorter attachment (the records are signed one by one,
     * not as a set, as in a bundle: PROTOCOL.md 6.4). */
    size_t ok_at[4] = { pp + 98, pp + 98 + 203, pp + 98 + 203 + 193, pp + 98 + 203 + 193 + 183 };
    size_t nok = 0;
    for (size_t len = 0; len < an; len++) {
        if (rbx__prekey_parse(&pb, theirs, len) != 0) continue;
        ck_assert_uint_lt(nok, 4);
        ck_assert_uint_eq(len, ok_at[nok]);
        ck_assert_uint_eq(pb.nrecords, nok);
        ck_assert_ptr_null(pb.cert);
        nok++;
    }
    ck_assert_uint_eq(nok, 4);
    /* (version, profile) pairs other than (2, 2); attachments in version 1;
     * bounds on records and certificate. */
    k.kdf_profile = 1;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_VERSION);
    k.has_kdf_profile = 0;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_VERSION);
    k.version = 1;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    k.has_org_certificate = 0;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    k.n_rotation = 0;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), 0);
    k.version = 3;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_VERSION);
    k.version = 2;
    k.has_kdf_profile = 1;
    k.kdf_profile = 2;
    k.has_org_certificate = 1; /* a certificate without a record */
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    k.has_org_certificate = 0;
    for (size_t i = 0; i <= RBX_CHAIN_MAX; i++) recs[i] = (ProtobufCBinaryData){ 100, rec[0] };
    k.rotation = recs;
    k.n_rotation = RBX_CHAIN_MAX;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), 0);
    k.n_rotation = RBX_CHAIN_MAX + 1;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    k.n_rotation = 1;
    recs[0].len = 0;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    uint8_t big[RBX_ROTATION_MAXBYTES + 1] = { 1 };
    recs[0] = (ProtobufCBinaryData){ RBX_ROTATION_MAXBYTES + 1, big };
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    recs[0].len = RBX_ROTATION_MAXBYTES;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), 0);
    uint8_t bigc[RBX_CERT_MAXBYTES + 1] = { 1 };
    k.has_org_certificate = 1;
    k.org_certificate = (ProtobufCBinaryData){ RBX_CERT_MAXBYTES + 1, bigc };
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    k.org_certificate.len = 0;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), RBX_E_MALFORMED);
    k.org_certificate.len = RBX_CERT_MAXBYTES;
    ck_assert_int_eq(rbx__prekey_parse(&pb, alt, rbx__wire__pre_key_message__pack(&k, alt)), 0);
}
END_TEST

Suite *suite_wire(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, encoder_matches_protoc);
    tcase_add_test(tc, parser_refuses_non_canonical);
    tcase_add_test(tc, prekey_parser_refusals);
    tcase_add_test(tc, version2_encoding);
    suite_add_tcase(s, tc);
    return s;
}
