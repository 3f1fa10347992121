/* SPDX-License-Identifier: MIT
 * A contact's lifecycle through the store (issue 18, PROTOCOL.md 16.7):
 * trusting a peer's new key after a reinstall (and merging the contact its
 * first message made), forgetting a contact, renaming one, and add adopting
 * the contact a first message from an unknown device created. Every store is
 * closed and opened again at the end of a test, so that the integrity
 * record (15.8) must agree with every row these calls wrote. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storeutil.h"
#include "testutil.h"

static size_t n_contacts(peer *p)
{
    size_t n;
    ck_assert_int_eq(rbx_store_contacts(p->st, NULL, 0, &n), 0);
    return n;
}

static int contact(peer *p, rbx_contact_info *out, const char *name, uint32_t device)
{
    rbx_contact_info all[8];
    size_t n;
    ck_assert_int_eq(rbx_store_contacts(p->st, all, 8, &n), 0);
    for (size_t i = 0; i < n && i < 8; i++)
        if (strcmp(all[i].name, name) == 0 && all[i].device == device) {
            *out = all[i];
            return 1;
        }
    return 0;
}

static int64_t events(peer *p, const char *event)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE event = '%s'", event);
    return q_int(p->st, sql);
}

/* Reopen (every set checked against the record) and check the audit chain. */
static void reopen_ok(peer *p)
{
    uint64_t count, bad;
    peer_reopen(p);
    ck_assert_int_eq(rbx_store_audit_verify(p->st, &count, &bad), 0);
    ck_assert_uint_eq(bad, 0);
}

/* Bob reinstalls: a new store, a new key, no rotation record. */
static void reinstall(peer *bob)
{
    peer_close(bob);
    rm_tree(bob->db);
    char p[PATHCAP];
    for (int i = 0; i < 5; i++) {
        static const char *const sfx[] = { "", ".key", ".gen", "-wal", "-shm" };
        snprintf(p, sizeof p, "%s%s", bob->db, sfx[i]);
        (void)remove(p);
    }
    char name[32];
    const char *slash = strrchr(bob->db, '/');
    snprintf(name, sizeof name, "%.*s", (int)(strlen(slash + 1) - 3), slash + 1);
    uint8_t old[32];
    memcpy(old, bob->pk, 32);
    peer_new(bob, name);
    ck_assert_mem_ne(old, bob->pk, 32);
}

START_TEST(trust_new_key)
{
    peer alice, bob;
    msg m;
    rbx_received info;
    uint8_t b[RBX_BUNDLE_MAXBYTES], oldb[RBX_BUNDLE_MAXBYTES];
    rbx_contact_info c;
    pair_talking(&alice, &bob);
    size_t oldn = fresh_bundle(oldb, &bob);
    reinstall(&bob);
    introduce(&bob, "alice", 1, &alice);
    size_t n = fresh_bundle(b, &bob);
    /* What a user meets today: refused, with no way on. */
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 1, b, n), RBX_E_IDENTITY_CHANGED);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "carol", 1, b, n), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "bob", 2, b, n), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "", 1, b, n), RBX_E_INVALID);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "bob", 1, b, n - 1) < 0, 1);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "bob", 1, b, n), 0);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_mem_eq(c.identity, bob.pk, 32);
    ck_assert_int_eq(c.has_session, 0);
    ck_assert_int_eq(c.has_bundle, 1);
    ck_assert_uint_eq(c.grace_sessions, 0);
    ck_assert_int_eq(events(&alice, "contact identity trusted"), 1);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "bob", 1, b, n), RBX_E_EXISTS);
    tx(&m, &alice, "bob", 1, "after the reinstall");
    ck_assert_int_eq(rx(&bob, &info, NULL, 1, &m, "after the reinstall"), 0);
    /* The old key is behind bob now: its bundle again is a replay. */
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 1, oldb, oldn), RBX_E_STALE);
    reopen_ok(&alice);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_mem_eq(c.identity, bob.pk, 32);
    peer_close(&alice);
    peer_close(&bob);
}
END_TEST

/* Bob writes first from his new key: alice's store makes a contact named by
 * its fingerprint; trusting the key for bob merges it into bob (session,
 * inbox and history), leaving one row. */
START_TEST(trust_merges_first_message_contact)
{
    peer alice, bob;
    msg m;
    rbx_received info;
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    rbx_contact_info c;
    rbx_policy pol;
    pair_talking(&alice, &bob);
    ck_assert_int_eq(rbx_store_policy(alice.st, &pol), 0);
    pol.archive = 1;
    ck_assert_int_eq(rbx_store_set_policy(alice.st, &pol), 0);
    reinstall(&bob);
    introduce(&bob, "alice", 1, &alice);
    tx(&m, &bob, "alice", 1, "new key here");
    ck_assert_int_eq(rx(&alice, &info, NULL, 1, &m, "new key here"), 0);
    ck_assert_int_eq(info.new_contact, 1);
    ck_assert_str_eq(info.name, bob.fp);
    ck_assert_uint_eq(n_contacts(&alice), 2);
    size_t n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "bob", 1, b, n), 0);
    ck_assert_uint_eq(n_contacts(&alice), 1);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_int_eq(c.has_session, 1); /* the first message's session, moved */
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM archive WHERE peer = 'bob'"), 1);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM inbox WHERE contact NOT IN"
                                     " (SELECT id FROM contacts)"), 0);
    /* The reply continues that session: bob reads it without a handshake. */
    tx(&m, &alice, "bob", 1, "welcome back");
    ck_assert_int_eq(rbx_message_prekey_info(NULL, m.wire, m.len), 0);
    ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "welcome back"), 0);
    reopen_ok(&alice);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_int_eq(c.has_session, 1);
    peer_close(&alice);
    peer_close(&bob);
}
END_TEST

/* A contact bound to an organisation root stays bound: an out-of-band check
 * does not stand in for its certificate. */
START_TEST(trust_keeps_org_binding)
{
    peer alice, bob, admin;
    uint8_t org[32], b[RBX_BUNDLE_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    size_t certlen;
    rbx_contact_info c;
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    peer_new(&admin, "admin");
    ck_assert_int_eq(rbx_store_org_init(admin.st, org), 0);
    ck_assert_int_eq(rbx_store_org_certify(admin.st, cert, sizeof cert, &certlen, bob.pk, 0), 0);
    ck_assert_int_eq(rbx_store_set_certificate(bob.st, cert, certlen), 0);
    size_t n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_add_contact_org(alice.st, "bob", 1, b, n, org), 0);
    reinstall(&bob);
    n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "bob", 1, b, n), RBX_E_UNCERTIFIED);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_mem_ne(c.identity, bob.pk, 32);
    ck_assert_int_eq(rbx_store_org_certify(admin.st, cert, sizeof cert, &certlen, bob.pk, 0), 0);
    ck_assert_int_eq(rbx_store_set_certificate(bob.st, cert, certlen), 0);
    n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_trust_contact(alice.st, "bob", 1, b, n), 0);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_mem_eq(c.identity, bob.pk, 32);
    ck_assert_int_eq(c.has_org, 1);
    ck_assert_mem_eq(c.org, org, 32);
    reopen_ok(&alice);
    peer_close(&alice);
    peer_close(&bob);
    peer_close(&admin);
}
END_TEST

START_TEST(forget_contact)
{
    peer alice, bob, carol;
    msg m;
    size_t count = 99;
    uint32_t two = 2, seven = 7;
    pair_talking(&alice, &bob);
    peer_new(&carol, "carol");
    introduce(&alice, "bob", 2, &carol);
    introduce(&alice, "carol", 1, &carol);
    tx(&m, &alice, "bob", 2, "to device 2");
    ck_assert_uint_eq(n_contacts(&alice), 3);
    ck_assert_int_eq(rbx_store_forget_contact(alice.st, "bob", &seven, &count), RBX_E_NOT_FOUND);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(rbx_store_forget_contact(alice.st, "bob", &two, &count), 0);
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(n_contacts(&alice), 2);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM outbox"), 1); /* bob/1's "a0" only */
    /* bob/1's sealed session state: after forget, in no file of the store
     * (the erase point; without it the log keeps the page until the
     * bounded mode's next one, 64 commits or 10 s later). */
    size_t statelen;
    uint8_t *state = q_blob(alice.st, "SELECT state FROM sessions", &statelen);
    ck_assert_uint_gt(statelen, 64);
    ck_assert_int_eq(rbx_store_forget_contact(alice.st, "bob", NULL, &count), 0);
    ck_assert_uint_eq(count, 1);
    ck_assert_uint_eq(n_contacts(&alice), 1);
    static const char *const sfx[] = { "", "-wal" };
    for (size_t i = 0; i < 2; i++) {
        char path[PATHCAP];
        size_t n;
        snprintf(path, sizeof path, "%s%s", alice.db, sfx[i]);
        uint8_t *file = slurp(path, &n);
        ck_assert_msg(!contains(file, n, state, statelen), "the forgotten session is in %s", path);
        free(file);
    }
    free(state);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM sessions"), 0);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM inbox"), 0);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM outbox"), 0);
    ck_assert_int_eq(events(&alice, "contact forgotten"), 2);
    ck_assert_int_eq(rbx_store_forget_contact(alice.st, "bob", NULL, NULL), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_store_forget_contact(alice.st, "", NULL, NULL), RBX_E_INVALID);
    ck_assert_uint_eq(rbx_store_deferred(alice.st, NULL), 0);
    ck_assert_int_eq(tx_fails(&alice, "bob", 1), RBX_E_NOT_FOUND);
    reopen_ok(&alice);
    ck_assert_uint_eq(n_contacts(&alice), 1);
    peer_close(&alice);
    peer_close(&bob);
    peer_close(&carol);
}
END_TEST

START_TEST(rename_contact)
{
    peer alice, bob;
    msg m;
    rbx_received info;
    rbx_policy pol;
    rbx_contact_info c;
    pair_talking(&alice, &bob);
    ck_assert_int_eq(rbx_store_policy(alice.st, &pol), 0);
    pol.archive = 1;
    ck_assert_int_eq(rbx_store_set_policy(alice.st, &pol), 0);
    tx(&m, &alice, "bob", 1, "archived");
    introduce(&alice, "other", 1, &bob);
    ck_assert_int_eq(rbx_store_rename_contact(alice.st, "bob", "other"), RBX_E_EXISTS);
    ck_assert_int_eq(rbx_store_rename_contact(alice.st, "nobody", "x"), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_store_rename_contact(alice.st, "bob", "bob"), RBX_E_INVALID);
    ck_assert_int_eq(rbx_store_rename_contact(alice.st, "bob", "bad\nname"), RBX_E_INVALID);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_int_eq(rbx_store_rename_contact(alice.st, "bob", "robert"), 0);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 0);
    ck_assert_int_eq(contact(&alice, &c, "robert", 1), 1);
    ck_assert_int_eq(c.has_session, 1);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM archive WHERE peer = 'robert'"), 1);
    ck_assert_int_eq(events(&alice, "contact renamed"), 1);
    tx(&m, &alice, "robert", 1, "same session");
    ck_assert_int_eq(rx(&bob, &info, alice.fp, 1, &m, "same session"), 0);
    tx(&m, &bob, alice.fp, 1, "back");
    ck_assert_int_eq(rx(&alice, &info, "robert", 1, &m, "back"), 0);
    ck_assert_str_eq(info.name, "robert");
    reopen_ok(&alice);
    ck_assert_int_eq(contact(&alice, &c, "robert", 1), 1);
    peer_close(&alice);
    peer_close(&bob);
}
END_TEST

/* A first message from an unknown device makes a contact named by its
 * fingerprint; adding the same key under a name (and another device
 * number) adopts that row instead of making a second. */
START_TEST(add_adopts_first_message_contact)
{
    peer alice, bob;
    msg m;
    rbx_received info;
    rbx_policy pol;
    rbx_contact_info c;
    uint8_t b[RBX_BUNDLE_MAXBYTES];
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    ck_assert_int_eq(rbx_store_policy(alice.st, &pol), 0);
    pol.archive = 1;
    ck_assert_int_eq(rbx_store_set_policy(alice.st, &pol), 0);
    introduce(&bob, "alice", 1, &alice);
    tx(&m, &bob, "alice", 1, "hello from an unknown device");
    ck_assert_int_eq(rx(&alice, &info, NULL, 1, &m, "hello from an unknown device"), 0);
    ck_assert_str_eq(info.name, bob.fp);
    size_t n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 3, b, n), 0);
    ck_assert_uint_eq(n_contacts(&alice), 1);
    ck_assert_int_eq(contact(&alice, &c, "bob", 3), 1);
    ck_assert_int_eq(c.has_session, 1);
    ck_assert_mem_eq(c.identity, bob.pk, 32);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM archive WHERE peer = 'bob'"), 1);
    ck_assert_int_eq(events(&alice, "contact adopted"), 1);
    /* The reply continues the first message's session. */
    tx(&m, &alice, "bob", 3, "reply");
    ck_assert_int_eq(rbx_message_prekey_info(NULL, m.wire, m.len), 0);
    ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "reply"), 0);
    tx(&m, &bob, "alice", 1, "again");
    ck_assert_int_eq(rx(&alice, &info, "bob", 3, &m, "again"), 0);
    ck_assert_str_eq(info.name, "bob");
    ck_assert_uint_eq(info.device, 3);
    reopen_ok(&alice);
    ck_assert_uint_eq(n_contacts(&alice), 1);
    peer_close(&alice);
    peer_close(&bob);
}
END_TEST

/* ------------------------------------------------------------ require_org (18.6) */

static void require(peer *p, const uint8_t *org)
{
    rbx_policy pol;
    char b64[RBX_KEY_B64BYTES];
    ck_assert_int_eq(rbx_store_policy(p->st, &pol), 0);
    if (org != NULL) rbx_key_to_base64(b64, org);
    ck_assert_int_eq(rbx_policy_set(&pol, "require_org", org != NULL ? b64 : "none"), 0);
    ck_assert_int_eq(rbx_store_set_policy(p->st, &pol), 0);
}

static void certify(peer *admin, peer *p)
{
    uint8_t cert[RBX_CERT_MAXBYTES];
    size_t n;
    ck_assert_int_eq(rbx_store_org_certify(admin->st, cert, sizeof cert, &n, p->pk, 0), 0);
    ck_assert_int_eq(rbx_store_set_certificate(p->st, cert, n), 0);
}

START_TEST(require_org_policy_value)
{
    peer alice, admin;
    uint8_t org[32];
    char buf[64], b64[RBX_KEY_B64BYTES];
    rbx_policy p, q;
    peer_new(&alice, "alice");
    peer_new(&admin, "admin");
    ck_assert_int_eq(rbx_store_org_init(admin.st, org), 0);
    rbx_key_to_base64(b64, org);
    rbx_policy_default(&p);
    ck_assert_int_eq(p.has_require_org, 0);
    ck_assert_int_eq(rbx_policy_format(buf, sizeof buf, &p, "require_org"), 0);
    ck_assert_str_eq(buf, "none");
    ck_assert_int_eq(rbx_policy_set(&p, "require_org", "not a key"), RBX_E_POLICY);
    ck_assert_int_eq(rbx_policy_set(&p, "require_org", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), RBX_E_POLICY);
    ck_assert_int_eq(p.has_require_org, 0);
    ck_assert_int_eq(rbx_policy_set(&p, "require_org", b64), 0);
    ck_assert_int_eq(p.has_require_org, 1);
    ck_assert_mem_eq(p.require_org, org, 32);
    ck_assert_int_eq(rbx_policy_format(buf, sizeof buf, &p, "require_org"), 0);
    ck_assert_str_eq(buf, b64);
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "require_org"), 0);
    p.has_require_org = 2;
    const char *field = NULL;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), RBX_E_POLICY);
    ck_assert_str_eq(field, "require_org");
    p.has_require_org = 1;
    require(&alice, org);
    ck_assert_int_eq(events(&alice, "policy changed"), 1);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM audit WHERE event = 'policy changed'"
                                     " AND detail LIKE 'require_org=%'"), 1);
    reopen_ok(&alice);
    ck_assert_int_eq(rbx_store_policy(alice.st, &q), 0);
    ck_assert_int_eq(q.has_require_org, 1);
    ck_assert_mem_eq(q.require_org, org, 32);
    /* Its row is sealed with the rest of the policy (18.4): removed behind
     * the store's back, the policy no longer reads. */
    peer_close(&alice);
    sql_on_file(alice.db, "DELETE FROM policy WHERE k = 'require_org'");
    rbx_store *st = NULL;
    rbx_store_opts o = store_opts(0);
    int rc = rbx_store_open(&st, alice.db, &o);
    ck_assert_msg(rc == RBX_E_CORRUPT || rc == RBX_E_TAMPERED, "open: %s", rbx_strerror(rc));
    ck_assert_ptr_null(st);
    peer_close(&admin);
}
END_TEST

/* A stranger's first message, a new contact, a new session with a contact
 * added before the policy, a rotation: each refused unless certified. */
START_TEST(require_org_enforced)
{
    peer alice, bob, carol, admin;
    msg m;
    rbx_received info;
    rbx_contact_info c;
    uint8_t org[32], other[32], b[RBX_BUNDLE_MAXBYTES];
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    peer_new(&carol, "carol");
    peer_new(&admin, "admin");
    ck_assert_int_eq(rbx_store_org_init(admin.st, org), 0);
    /* carol was added and talked to before the policy. */
    introduce(&alice, "carol", 1, &carol);
    tx(&m, &alice, "carol", 1, "before the policy");
    ck_assert_int_eq(rx(&carol, &info, NULL, 1, &m, "before the policy"), 0);
    /* dave was added before the policy and never written to: his bundle
     * is held, but a new session with an unbound contact is refused. */
    introduce(&alice, "dave", 1, &carol);
    require(&alice, org);
    ck_assert_int_eq(tx_fails(&alice, "dave", 1), RBX_E_UNCERTIFIED);
    ck_assert_int_eq(rbx_store_forget_contact(alice.st, "dave", NULL, NULL), 0);
    /* A stranger's first message: no contact, no session. */
    introduce(&bob, "alice", 1, &alice);
    tx(&m, &bob, "alice", 1, "let me in");
    ck_assert_int_eq(rx_raw(&alice, &info, NULL, 1, m.wire, m.len, NULL), RBX_E_UNCERTIFIED);
    ck_assert_uint_eq(n_contacts(&alice), 1);
    ck_assert_int_eq(events(&alice, "organisation required"), 1);
    /* A new contact: uncertified refused, certified bound to the root. */
    size_t n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 1, b, n), RBX_E_UNCERTIFIED);
    ck_assert_uint_eq(n_contacts(&alice), 1);
    memcpy(other, bob.pk, 32); /* a valid key that is not the root */
    certify(&admin, &bob);
    n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_add_contact_org(alice.st, "bob", 1, b, n, other), RBX_E_POLICY);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 1, b, n), 0);
    ck_assert_int_eq(contact(&alice, &c, "bob", 1), 1);
    ck_assert_int_eq(c.has_org, 1);
    ck_assert_mem_eq(c.org, org, 32);
    tx(&m, &alice, "bob", 1, "certified");
    ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "certified"), 0);
    /* carol's session goes on; a new one with her is refused until her
     * certified bundle binds her. */
    tx(&m, &alice, "carol", 1, "the old session");
    ck_assert_int_eq(rx(&carol, &info, alice.fp, 1, &m, "the old session"), 0);
    ck_assert_int_eq(rbx_store_reset_session(alice.st, "carol", 1), 0);
    n = fresh_bundle(b, &carol);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "carol", 1, b, n), RBX_E_UNCERTIFIED);
    ck_assert_int_eq(contact(&alice, &c, "carol", 1), 1);
    ck_assert_int_eq(c.has_org, 0);
    ck_assert_int_eq(tx_fails(&alice, "carol", 1), RBX_E_NOT_FOUND); /* no bundle: refused above */
    certify(&admin, &carol);
    n = fresh_bundle(b, &carol);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "carol", 1, b, n), 0);
    ck_assert_int_eq(contact(&alice, &c, "carol", 1), 1);
    ck_assert_int_eq(c.has_org, 1);
    tx(&m, &alice, "carol", 1, "bound now");
    ck_assert_int_eq(rx(&carol, &info, alice.fp, 1, &m, "bound now"), 0);
    /* A rotation to a key the root did not certify. */
    uint8_t pk[32];
    ck_assert_int_eq(rbx_store_rotate_identity(bob.st, "reinstall", NULL, NULL, pk), 0);
    memcpy(bob.pk, pk, 32);
    n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 1, b, n), RBX_E_UNCERTIFIED);
    certify(&admin, &bob);
    n = fresh_bundle(b, &bob);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 1, b, n), 0);
    reopen_ok(&alice);
    peer_close(&alice);
    peer_close(&bob);
    peer_close(&carol);
    peer_close(&admin);
}
END_TEST

/* A first message that carries a certificate by the root (a rotated,
 * re-certified device: 6.4) starts a session and a contact bound to it. */
START_TEST(require_org_certified_stranger)
{
    peer alice, bob, admin;
    msg m;
    rbx_received info;
    rbx_contact_info c;
    uint8_t org[32], pk[32];
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    peer_new(&admin, "admin");
    ck_assert_int_eq(rbx_store_org_init(admin.st, org), 0);
    require(&alice, org);
    ck_assert_int_eq(rbx_store_rotate_identity(bob.st, "scheduled", NULL, NULL, pk), 0);
    memcpy(bob.pk, pk, 32);
    rbx_fingerprint(bob.fp, bob.pk);
    certify(&admin, &bob);
    introduce(&bob, "alice", 1, &alice);
    tx(&m, &bob, "alice", 1, "certified stranger");
    ck_assert_int_eq(rx(&alice, &info, NULL, 1, &m, "certified stranger"), 0);
    ck_assert_int_eq(info.new_contact, 1);
    ck_assert_int_eq(contact(&alice, &c, bob.fp, 1), 1);
    ck_assert_int_eq(c.has_org, 1);
    ck_assert_mem_eq(c.org, org, 32);
    reopen_ok(&alice);
    peer_close(&alice);
    peer_close(&bob);
    peer_close(&admin);
}
END_TEST

Suite *suite_lifecycle(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("contacts");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, trust_new_key);
    tcase_add_test(tc, trust_merges_first_message_contact);
    tcase_add_test(tc, trust_keeps_org_binding);
    tcase_add_test(tc, forget_contact);
    tcase_add_test(tc, rename_contact);
    tcase_add_test(tc, add_adopts_first_message_contact);
    suite_add_tcase(s, tc);
    tc = tcase_create("require_org");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, require_org_policy_value);
    tcase_add_test(tc, require_org_enforced);
    tcase_add_test(tc, require_org_certified_stranger);
    suite_add_tcase(s, tc);
    return s;
}
