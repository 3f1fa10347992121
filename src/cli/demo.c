/* SPDX-License-Identifier: MIT
 * ratchetbox demo: Alice (an agent machine) and Bob (a phone) set up a
 * session over their existing box key pairs and talk through a relay that
 * loses one message, swaps two, delivers one twice and corrupts one.
 * Narrated on stdout; exits non-zero on any unexpected result. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratchetbox.h"

#define WIRE_CAP 1024U
#define TEXT_CAP 256U
#define SPK_ID 1U
#define OTP_FIRST_ID 100U
#define OTP_COUNT 5U

typedef struct device {
    const char *name;
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES];
    rbx_session *s;
} device;

/* A message in flight on the relay. */
typedef struct packet {
    uint8_t wire[WIRE_CAP];
    size_t len;
    const char *text;
} packet;

static void fail_rc(const char *what, int rc)
{
    fprintf(stderr, "demo: %s failed: %s (%d)\n", what, rbx_strerror(rc), rc);
    exit(EXIT_FAILURE);
}

static void fail(const char *what)
{
    fprintf(stderr, "demo: unexpected: %s\n", what);
    exit(EXIT_FAILURE);
}

#define CHECK(call)                              \
    do {                                         \
        int rc_ = (call);                        \
        if (rc_ != 0) fail_rc(#call, rc_);       \
    } while (0)
#define EXPECT(cond)                             \
    do {                                         \
        if (!(cond)) fail(#cond);                \
    } while (0)

static const char *kind(const packet *p)
{
    int rc = rbx_message_prekey_info(NULL, p->wire, p->len);
    if (rc < 0) fail_rc("rbx_message_prekey_info", rc);
    return rc == 1 ? "PreKeyMessage" : "Message";
}

static void status(const device *d)
{
    rbx_session_info info;
    rbx_session_get_info(&info, d->s);
    printf("           %s: skipped keys %zu, DH steps %u\n", d->name, info.skipped_keys,
           (unsigned)info.dh_steps);
}

static void expect_skipped(const device *d, size_t n)
{
    rbx_session_info info;
    rbx_session_get_info(&info, d->s);
    EXPECT(info.skipped_keys == n);
}

static void send_msg(packet *p, device *from, const device *to, const char *text, int step)
{
    CHECK(rbx_session_encrypt(from->s, p->wire, sizeof p->wire, &p->len, (const uint8_t *)text,
                              strlen(text)));
    p->text = text;
    char quoted[TEXT_CAP + 3];
    snprintf(quoted, sizeof quoted, "\"%s\"", text);
    printf("  %2d. %-5s -> %-5s %-24s %3zu B  %s\n", step, from->name, to->name, quoted, p->len,
           kind(p));
}

/* Deliver p to d and expect it to decrypt to p->text. */
static void deliver(device *d, const packet *p)
{
    uint8_t pt[TEXT_CAP];
    size_t ptlen;
    CHECK(rbx_session_decrypt(d->s, pt, sizeof pt, &ptlen, p->wire, p->len));
    EXPECT(ptlen == strlen(p->text) && memcmp(pt, p->text, ptlen) == 0);
    printf("           %s reads \"%.*s\"\n", d->name, (int)ptlen, (const char *)pt);
}

/* Deliver p to d and expect error code want, named want_name. */
static void refuse(device *d, const packet *p, int want, const char *want_name)
{
    uint8_t pt[TEXT_CAP];
    size_t ptlen = 1;
    int rc = rbx_session_decrypt(d->s, pt, sizeof pt, &ptlen, p->wire, p->len);
    if (rc != want) fail_rc("refusal check (a different result than expected)", rc);
    EXPECT(ptlen == 0);
    printf("           %s refuses it: %s (%s)\n", d->name, want_name, rbx_strerror(rc));
}

int main(void)
{
    device alice = { .name = "Alice" }, bob = { .name = "Bob" };
    char fp[RBX_FINGERPRINT_HEXBYTES];
    uint8_t bundle[RBX_BUNDLE_MAXBYTES], pt[TEXT_CAP];
    size_t blen, ptlen;
    uint32_t consumed;
    rbx_bundle b;
    rbx_prekeys *pk;
    rbx_prekey_info info;
    static packet m[12];
    int sent = 0;

    CHECK(rbx_init());
    printf("ratchetbox %s demo: Alice (agent machine) <-> Bob (phone)\n\n", rbx_version());

    /* Keys: the box key pairs the product already has. */
    CHECK(rbx_keypair_generate(alice.pk, alice.sk));
    CHECK(rbx_keypair_generate(bob.pk, bob.sk));
    rbx_fingerprint(fp, alice.pk);
    printf("Alice's box key fingerprint  %s\n", fp);
    rbx_fingerprint(fp, bob.pk);
    printf("Bob's box key fingerprint    %s\n", fp);

    /* Bob publishes a prekey bundle signed (XEdDSA) with his box key. */
    CHECK(rbx_prekeys_new(&pk, bob.pk, bob.sk));
    CHECK(rbx_prekeys_add_signed(pk, SPK_ID, NULL));
    for (uint32_t i = 0; i < OTP_COUNT; i++)
        CHECK(rbx_prekeys_add_onetime(pk, OTP_FIRST_ID + i, NULL));
    CHECK(rbx_prekeys_bundle(bundle, sizeof bundle, &blen, pk, SPK_ID, OTP_FIRST_ID));
    printf("Bob publishes a prekey bundle: %zu B (signed prekey %u, one-time prekey %u of %zu)\n",
           blen, SPK_ID, OTP_FIRST_ID, rbx_prekeys_onetime_count(pk));

    /* Alice verifies it and starts the session. */
    CHECK(rbx_bundle_parse(&b, bundle, blen));
    rbx_fingerprint(fp, b.identity);
    printf("Alice verifies the bundle: signature ok, identity %s\n\n", fp);
    CHECK(rbx_session_initiate(&alice.s, alice.pk, alice.sk, &b, NULL));

    send_msg(&m[sent], &alice, &bob, "hello from the agent", sent + 1);
    EXPECT(rbx_message_prekey_info(&info, m[sent].wire, m[sent].len) == 1);
    EXPECT(info.has_onetime && info.onetime_prekey_id == OTP_FIRST_ID);
    printf("           claims signed prekey %u, one-time prekey %u (unauthenticated until "
           "decrypted)\n", (unsigned)info.signed_prekey_id, (unsigned)info.onetime_prekey_id);
    CHECK(rbx_session_accept(&bob.s, pt, sizeof pt, &ptlen, &consumed, pk, NULL, m[sent].wire,
                             m[sent].len));
    EXPECT(ptlen == strlen(m[sent].text) && memcmp(pt, m[sent].text, ptlen) == 0);
    EXPECT(consumed == OTP_FIRST_ID);
    printf("           Bob accepts: reads \"%.*s\", consumed one-time prekey %u (%zu left)\n",
           (int)ptlen, (const char *)pt, (unsigned)consumed, rbx_prekeys_onetime_count(pk));
    sent++;

    /* The conversation: m[1] .. m[8]. */
    printf("\nconversation (relay: one message lost, two swapped):\n");
    send_msg(&m[sent], &bob, &alice, "run the tests please", sent + 1);
    deliver(&alice, &m[sent++]);
    send_msg(&m[sent], &alice, &bob, "running 42 tests", sent + 1);
    deliver(&bob, &m[sent++]);
    send_msg(&m[sent], &alice, &bob, "3 failed in parser.c", sent + 1);
    printf("           LOST by the relay: never delivered\n");
    int lost = sent++;
    send_msg(&m[sent], &alice, &bob, "may I edit parser.c?", sent + 1);
    deliver(&bob, &m[sent++]);
    status(&bob);
    expect_skipped(&bob, 1);
    send_msg(&m[sent], &bob, &alice, "approved", sent + 1);
    deliver(&alice, &m[sent++]);
    int early = sent;
    send_msg(&m[sent], &bob, &alice, "and add a test", sent + 1);
    sent++;
    printf("           held back by the relay\n");
    send_msg(&m[sent], &bob, &alice, "then commit", sent + 1);
    deliver(&alice, &m[sent++]);
    status(&alice);
    expect_skipped(&alice, 1);
    printf("       relay now delivers message %d late:\n", early + 1);
    deliver(&alice, &m[early]);
    status(&alice);
    send_msg(&m[sent], &alice, &bob, "done: 42/42 passing", sent + 1);
    deliver(&bob, &m[sent]);
    status(&bob);
    expect_skipped(&bob, 1);

    /* Duplicate delivery. */
    printf("\nrelay delivers message %d a second time:\n", sent + 1);
    refuse(&bob, &m[sent++], RBX_E_REPLAY, "RBX_E_REPLAY");

    /* A flipped bit in the ciphertext; the session is unchanged afterwards. */
    printf("\ntampering:\n");
    send_msg(&m[sent], &bob, &alice, "ship it", sent + 1);
    packet bad = m[sent];
    bad.wire[bad.len - 20] ^= 0x04;
    printf("       relay flips one bit of message %d:\n", sent + 1);
    refuse(&alice, &bad, RBX_E_AUTH, "RBX_E_AUTH");
    printf("       the genuine message %d still decrypts:\n", sent + 1);
    deliver(&alice, &m[sent++]);
    send_msg(&m[sent], &alice, &bob, "shipped v1.2.3", sent + 1);
    deliver(&bob, &m[sent++]);
    status(&alice);
    status(&bob);

    rbx_session_info ai, bi;
    rbx_session_get_info(&ai, alice.s);
    rbx_session_get_info(&bi, bob.s);
    EXPECT(bi.skipped_keys == 1 && ai.skipped_keys == 0);
    printf("\nsummary: %d sent, %d delivered, 1 lost (#%d: a skipped key at Bob), 1 reordered, "
           "1 replay and 1 forgery refused; DH steps Alice %u, Bob %u\n",
           sent, sent - 1, lost + 1, (unsigned)ai.dh_steps, (unsigned)bi.dh_steps);

    rbx_session_free(alice.s);
    rbx_session_free(bob.s);
    rbx_prekeys_free(pk);
    sodium_memzero(alice.sk, sizeof alice.sk);
    sodium_memzero(bob.sk, sizeof bob.sk);
    return EXIT_SUCCESS;
}
