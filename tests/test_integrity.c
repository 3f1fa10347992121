/* SPDX-License-Identifier: MIT
 * Store integrity (issue 12; PROTOCOL.md 15.8 and 15.9, SECURITY.md 8.1):
 * someone who can write the database but lacks the storage key attacks a
 * store with plain SQL and with rows copied from an older copy of the same
 * store, and every attempt must end in a refusal with its own error, with
 * no message key used twice and no forgery accepted.
 *
 * One test case (tcase) per protection, named as its RBX_MUTATE_<NAME>
 * (src/store/integrity.h): `make mutation-check` builds the store without
 * that one protection and expects every test of its tcase to fail.
 *
 *   sets          a table's rows changed, added, removed or put back while
 *                 the store was closed: RBX_E_TAMPERED at open
 *   row_tags      the same while the store is open, seen when a row decides
 *   schema        objects added to or removed from the schema
 *   generation    an older copy restored, the generation raised in a plain
 *                 row: RBX_E_ROLLBACK, no key used twice
 *   store_id      another store's generation record passed off with its id
 *   meta_binding  the policy seal or the audit head of an older copy
 *   handshakes    a first message again after its session left the store
 *   prefilter     retired sessions tried only by a header that can be theirs
 *   auth_key      the key that authenticated is the one reported
 *
 * Not mutation-checked: "record" (the integrity record removed or
 * damaged), "indexes" (a lying index meets the pin) and "migration"
 * (schema 2 to 3, killed halfway). */
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "session.h"
#include "store.h"
#include "store/db.h"
#include "storeutil.h"
#include "testutil.h"
#include "wire.h"

/* ------------------------------------------------------------ released ciphertexts */

/* Every ciphertext a sender released, by its chain position (ratchet key,
 * counter): one position twice is a message key used twice (keystream and
 * Poly1305 key reuse). */
enum { MAX_RELEASED = 512 };
static struct {
    uint8_t dh[32];
    uint32_t n;
} released[MAX_RELEASED];
static size_t nreleased;

static void note_released(const uint8_t *wire, size_t len)
{
    rbx__msg m;
    rbx__prekey_msg pm;
    if (rbx__msg_parse(&m, wire, len) != 0) {
        ck_assert_int_eq(rbx__prekey_parse(&pm, wire, len), 0);
        ck_assert_int_eq(rbx__msg_parse(&m, pm.message, pm.messagelen), 0);
    }
    ck_assert_ptr_nonnull(m.ratchet_key); /* clear headers in this suite */
    for (size_t i = 0; i < nreleased; i++)
        ck_assert_msg(released[i].n != m.counter || memcmp(released[i].dh, m.ratchet_key, 32) != 0,
                      "a message key was used twice: chain position %u released again", m.counter);
    ck_assert_uint_lt(nreleased, MAX_RELEASED);
    memcpy(released[nreleased].dh, m.ratchet_key, 32);
    released[nreleased++].n = m.counter;
}

/* tx, and the ciphertext noted as released. */
static void send(msg *m, peer *from, const char *to, const char *text)
{
    tx(m, from, to, 1, text);
    note_released(m->wire, m->len);
}

/* Encrypt that must be refused with want; were it not, its ciphertext is
 * noted (and a reused position fails the test there). */
static void send_refused(peer *from, const char *to, int want)
{
    uint8_t out[WIRECAP];
    size_t outlen = 0;
    uint64_t id;
    int rc = rbx_store_encrypt(from->st, out, sizeof out, &outlen, &id, to, 1,
                               (const uint8_t *)"after the attack", 16, NULL);
    if (rc == 0) note_released(out, outlen);
    ck_assert_msg(rc == want, "encrypt after the attack: %s, want %s", rbx_strerror(rc),
                  rbx_strerror(want));
    ck_assert_uint_eq(outlen, 0);
}

/* ------------------------------------------------------------ files */

static void copy_db(const char *from, const char *to)
{
    char a[PATHCAP + 8], b[PATHCAP + 8];
    static const char *const sfx[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s%s", from, sfx[i]);
        snprintf(b, sizeof b, "%s%s", to, sfx[i]);
        copy_or_remove(a, b);
    }
}

/* An older copy of a store, whole in its main file. */
static void snapshot(peer *p, char out[PATHCAP], const char *name)
{
    ck_assert_int_eq(rbx_store_erase_now(p->st), 0);
    path_of(out, name);
    copy_file(p->db, out);
}

static int open_rc(const char *db)
{
    rbx_store *st = NULL;
    rbx_store_opts o = store_opts(0);
    int rc = rbx_store_open(&st, db, &o);
    rbx_store_close(st);
    return rc;
}

static int64_t inbox_rows(const char *db)
{
    return sql_int_on_file(db, "SELECT count(*) FROM inbox");
}

/* SQL with printf holes filled, run on a (closed or open) store's file by
 * another connection. */
static void sqlf(const char *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sqlf(const char *db, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    ck_assert(n > 0 && (size_t)n < sizeof sql);
    sql_on_file(db, sql);
}

/* A template's {NAME} holes replaced by the values of names. */
static void subst(char *out, size_t cap, const char *tpl, const char *const *names,
                  const char *const *values, size_t n)
{
    size_t used = 0;
    while (*tpl != '\0') {
        size_t i = n;
        if (*tpl == '{')
            for (i = 0; i < n; i++)
                if (strncmp(tpl + 1, names[i], strlen(names[i])) == 0 && tpl[1 + strlen(names[i])] == '}')
                    break;
        const char *piece = i < n ? values[i] : tpl;
        size_t plen = i < n ? strlen(values[i]) : 1;
        ck_assert_uint_lt(used + plen, cap);
        memcpy(out + used, piece, plen);
        used += plen;
        tpl += i < n ? strlen(names[i]) + 2 : 1;
    }
    out[used] = '\0';
}

static void hex_of(char out[65], const uint8_t k[32])
{
    sodium_bin2hex(out, 65, k, 32);
}

/* ------------------------------------------------------------ the world */

/* Alice's store holds a row of every authenticated table: contacts bob
 * (who began the session: a one-time prekey of hers consumed, a handshake
 * recorded) and carol (whom she began with; carol rotated her identity:
 * one key behind carol, one retired session), mallory (no contact yet),
 * her own organisation that revoked dave's key, her own rotated identity,
 * the archive split into a read-only epoch and an active one, an inbox row
 * from bob. Older copies: v0 before bob's first message, vc before alice
 * followed carol's rotation and rotated her own identity, v1 at the end. */
typedef struct world {
    peer alice, bob, carol, dave, mallory;
    msg in_flight;   /* carol -> alice under carol's first session, read at the end */
    msg bob_first;   /* bob's first message (a PreKeyMessage) */
    msg bob_inbox;   /* accepted by alice, still in her inbox */
    uint8_t carol_old[32], alice_old[32];
    char v0[PATHCAP], vc[PATHCAP], v1[PATHCAP];
    int64_t bob_id, carol_id;
} world;

static void set_archive(peer *p)
{
    rbx_policy pol;
    ck_assert_int_eq(rbx_store_policy(p->st, &pol), 0);
    pol.archive = 1;
    ck_assert_int_eq(rbx_store_set_policy(p->st, &pol), 0);
}

static void world_build(world *w)
{
    rbx_received info;
    msg m;
    uint8_t out[RBX_REVOCATION_MAXBYTES], org[32], npk[32];
    size_t outlen;
    rbx_archive_result ar;
    nreleased = 0;
    memset(w, 0, sizeof *w);
    peer_new(&w->alice, "alice");
    peer_new(&w->bob, "bob");
    peer_new(&w->carol, "carol");
    peer_new(&w->dave, "dave");
    peer_new(&w->mallory, "mallory");
    set_archive(&w->alice);
    introduce(&w->alice, "bob", 1, &w->bob);
    introduce(&w->bob, "alice", 1, &w->alice);
    snapshot(&w->alice, w->v0, "alice-v0.db");
    send(&w->bob_first, &w->bob, "alice", "bob begins");
    ck_assert_int_eq(rx(&w->alice, &info, "bob", 1, &w->bob_first, "bob begins"), 0);
    ck_assert_int_eq(rbx_store_ack_inbox(w->alice.st, info.inbox_id), 0);
    send(&m, &w->alice, "bob", "hi bob");
    ck_assert_int_eq(rx(&w->bob, &info, "alice", 1, &m, "hi bob"), 0);
    introduce(&w->alice, "carol", 1, &w->carol);
    send(&m, &w->alice, "carol", "hi carol");
    ck_assert_int_eq(rx(&w->carol, &info, NULL, 1, &m, "hi carol"), 0);
    send(&w->in_flight, &w->carol, w->alice.fp, "sent before carol rotated");
    snapshot(&w->alice, w->vc, "alice-vc.db");
    memcpy(w->carol_old, w->carol.pk, 32);
    ck_assert_int_eq(rbx_store_rotate_identity(w->carol.st, "scheduled", NULL, NULL, npk), 0);
    memcpy(w->carol.pk, npk, 32);
    introduce(&w->alice, "carol", 1, &w->carol); /* follows the rotation */
    ck_assert_int_eq(rbx_store_org_init(w->alice.st, org), 0);
    ck_assert_int_eq(rbx_store_org_revoke(w->alice.st, out, sizeof out, &outlen, w->dave.pk, "lost"), 0);
    memcpy(w->alice_old, w->alice.pk, 32);
    ck_assert_int_eq(rbx_store_rotate_identity(w->alice.st, "scheduled", NULL, NULL, npk), 0);
    ck_assert_int_eq(rbx_store_rotate_archive(w->alice.st, RBX_ARCHIVE_SPLIT, &ar), 0);
    send(&w->bob_inbox, &w->bob, "alice", "kept in the inbox");
    ck_assert_int_eq(rx(&w->alice, &info, "bob", 1, &w->bob_inbox, "kept in the inbox"), 0);
    snapshot(&w->alice, w->v1, "alice-v1.db");
    w->bob_id = q_int(w->alice.st, "SELECT id FROM contacts WHERE name = 'bob'");
    w->carol_id = q_int(w->alice.st, "SELECT id FROM contacts WHERE name = 'carol'");
    /* Every table the record covers has a row. */
    ck_assert_int_eq(q_int(w->alice.st, "SELECT (SELECT count(*) FROM contact_keys) * (SELECT count(*)"
                                        " FROM retired_sessions) * (SELECT count(*) FROM revocations) *"
                                        " (SELECT count(*) FROM old_identities) * (SELECT count(*) FROM"
                                        " handshakes) * (SELECT count(*) FROM onetime_prekeys WHERE sk IS NULL)"
                                        " * (SELECT count(*) FROM archive_epochs WHERE state = 1) *"
                                        " (SELECT count(*) FROM inbox) * (SELECT count(*) FROM rotations)"
                                        " * (SELECT count(*) FROM org)"), 1);
}

/* The world is built once per test case, in the runner's process (an
 * unchecked fixture), into a directory of its own, closed; every test
 * starts from a copy of its files (a fork, or CK_FORK=no, inherits tmpl). */
static world tmpl;
static char tmpl_dir[PATHCAP];

static void world_template(void)
{
    char saved[sizeof g_dir];
    memcpy(saved, g_dir, sizeof g_dir);
    snprintf(g_dir, sizeof g_dir, "%s/world", g_root);
    ck_assert_int_eq(mkdir(g_dir, 0700), 0);
    g_now = TEST_T0;
    world_build(&tmpl);
    peer *ps[] = { &tmpl.alice, &tmpl.bob, &tmpl.carol, &tmpl.dave, &tmpl.mallory };
    for (size_t i = 0; i < 5; i++) peer_close(ps[i]);
    snprintf(tmpl_dir, sizeof tmpl_dir, "%s", g_dir);
    memcpy(g_dir, saved, sizeof g_dir);
}

/* A file of the template into this test's directory, path rewritten. */
static void from_template(char path[], size_t cap)
{
    const char *base = strrchr(path, '/');
    char to[PATHCAP];
    static const char *const sfx[] = { "", "-wal", "-shm", ".key", ".gen" };
    ck_assert_ptr_nonnull(base);
    path_of(to, base + 1);
    for (size_t i = 0; i < 5; i++) {
        char a[PATHCAP + 8], b[PATHCAP + 8];
        snprintf(a, sizeof a, "%s%s", path, sfx[i]);
        snprintf(b, sizeof b, "%s%s", to, sfx[i]);
        copy_or_remove(a, b);
    }
    snprintf(path, cap, "%s", to);
}

static void world_load(world *w)
{
    *w = tmpl;
    nreleased = 0;
    peer *ps[] = { &w->alice, &w->bob, &w->carol, &w->dave, &w->mallory };
    for (size_t i = 0; i < 5; i++) {
        from_template(ps[i]->db, sizeof ps[i]->db);
        ps[i]->st = store_open(ps[i]->db, 0);
    }
    from_template(w->v0, sizeof w->v0);
    from_template(w->vc, sizeof w->vc);
    from_template(w->v1, sizeof w->v1);
}

static void world_free(world *w)
{
    peer_close(&w->alice);
    peer_close(&w->bob);
    peer_close(&w->carol);
    peer_close(&w->dave);
    peer_close(&w->mallory);
}

/* ------------------------------------------------------------ sets */

/* Edits of a closed store, with plain SQL and with rows of the older copies
 * ({V0}, {VC}, {V1}): every one is refused at open with RBX_E_TAMPERED, and
 * the failed open writes nothing. {BOB} and {CAROL} are contact ids,
 * {MALLORY} mallory's key in hex. */
static const struct {
    const char *name, *sql;
} closed_edits[] = {
    { "contacts: a pinned identity replaced", "UPDATE contacts SET identity = x'{MALLORY}' WHERE id = {BOB}" },
    { "contacts: a contact removed", "DELETE FROM contacts WHERE id = {BOB}" },
    { "contacts: carol's row before her rotation put back",
      "ATTACH '{VC}' AS old; DELETE FROM contacts WHERE id = {CAROL};"
      " INSERT INTO contacts SELECT * FROM old.contacts WHERE id = {CAROL}" },
    { "contact_keys: mallory's key made bob's",
      "INSERT INTO contact_keys (contact, identity, until, mac) SELECT {BOB}, x'{MALLORY}', 4000000000, mac"
      " FROM contact_keys LIMIT 1" },
    { "contact_keys: a grace window made longer", "UPDATE contact_keys SET until = until + 1000000" },
    { "retired_sessions: moved to another contact", "UPDATE retired_sessions SET contact = {BOB}" },
    { "retired_sessions: a grace window made longer", "UPDATE retired_sessions SET until = until + 1000000" },
    { "retired_sessions: the state before a message put back",
      "ATTACH '{V1}' AS old; DELETE FROM retired_sessions; INSERT INTO retired_sessions"
      " SELECT * FROM old.retired_sessions" },
    { "inbox: credited to another contact", "UPDATE inbox SET contact = {CAROL}" },
    { "inbox: another message's digest", "UPDATE inbox SET digest = zeroblob(32)" },
    { "revocations: a revocation removed", "DELETE FROM revocations" },
    { "old_identities: the grace window made longer",
      "UPDATE old_identities SET grace_until = grace_until + 1000000" },
    { "signed_prekeys: a creation time moved", "UPDATE signed_prekeys SET created = created + 1000000" },
    { "onetime_prekeys: a consumed secret put back",
      "ATTACH '{V0}' AS old; DELETE FROM onetime_prekeys WHERE sk IS NULL;"
      " INSERT INTO onetime_prekeys SELECT * FROM old.onetime_prekeys o"
      " WHERE o.id NOT IN (SELECT id FROM onetime_prekeys)" },
    { "onetime_prekeys: a consumed one marked unoffered",
      "UPDATE onetime_prekeys SET offered = 0 WHERE sk IS NULL" },
    { "sessions: bob's session of an older copy put back",
      "ATTACH '{V1}' AS old; DELETE FROM sessions WHERE contact = {BOB};"
      " INSERT INTO sessions SELECT * FROM old.sessions WHERE contact = {BOB}" },
    { "sessions: another identity sequence", "UPDATE sessions SET ik = ik + 1 WHERE contact = {BOB}" },
    { "sessions: a session removed", "DELETE FROM sessions WHERE contact = {BOB}" },
    { "handshakes: an accepted handshake forgotten", "DELETE FROM handshakes" },
    { "identity: the identity before the rotation put back",
      "ATTACH '{VC}' AS old; UPDATE identity SET (pk, sk) = (SELECT pk, sk FROM old.identity)" },
    { "rotations: our rotation record removed", "DELETE FROM rotations" },
    { "org: the organisation root removed", "DELETE FROM org" },
    { "archive_epochs: a retention date moved",
      "UPDATE archive_epochs SET retain_until = retain_until + 1000000 WHERE state = 1" },
    { "archive_epochs: a read-only epoch made active", "UPDATE archive_epochs SET state = 1 - state" },
    { "meta: the integrity record of an older copy",
      "ATTACH '{V1}' AS old; UPDATE meta SET v = (SELECT v FROM old.meta WHERE k = 'integrity')"
      " WHERE k = 'integrity'" },
};
#define N_CLOSED (int)(sizeof closed_edits / sizeof closed_edits[0])

START_TEST(closed_edit)
{
    const int i = _i;
    world w;
    msg m;
    rbx_received info;
    char mhex[65], bob[24], carol[24], sql[2048];
    world_load(&w);
    /* After v1: the retired session reads carol's message in flight (its
     * inbox entry acknowledged: only the ratchet could refuse it again),
     * and bob's session sends. */
    ck_assert_int_eq(rx(&w.alice, &info, "carol", 1, &w.in_flight, "sent before carol rotated"), 0);
    ck_assert_int_eq(rbx_store_ack_inbox(w.alice.st, info.inbox_id), 0);
    send(&m, &w.alice, "bob", "after v1");
    peer_close(&w.alice);
    hex_of(mhex, w.mallory.pk);
    snprintf(bob, sizeof bob, "%lld", (long long)w.bob_id);
    snprintf(carol, sizeof carol, "%lld", (long long)w.carol_id);
    static const char *const names[] = { "BOB", "CAROL", "V0", "VC", "V1", "MALLORY" };
    const char *const values[] = { bob, carol, w.v0, w.vc, w.v1, mhex };
    subst(sql, sizeof sql, closed_edits[i].sql, names, values, 6);
    sql_on_file(w.alice.db, sql);
    size_t before_len, after_len;
    uint8_t *before = slurp(w.alice.db, &before_len);
    int rc = open_rc(w.alice.db);
    ck_assert_msg(rc == RBX_E_TAMPERED, "%s: open gave %s", closed_edits[i].name, rbx_strerror(rc));
    uint8_t *after = slurp(w.alice.db, &after_len);
    ck_assert_msg(before_len == after_len && memcmp(before, after, before_len) == 0,
                  "%s: the refused open wrote to the database", closed_edits[i].name);
    free(before);
    free(after);
    world_free(&w);
}
END_TEST

/* The record itself removed (every schema 3 store has one) or replaced by
 * another sealed value: not a protection that can be compiled out. */
static const struct {
    const char *sql;
    int want;
} record_edits[] = {
    { "DELETE FROM meta WHERE k = 'integrity'", RBX_E_TAMPERED },
    { "UPDATE meta SET v = (SELECT v FROM meta WHERE k = 'keycheck') WHERE k = 'integrity'", RBX_E_CORRUPT },
    { "UPDATE meta SET v = substr(v, 1, 100) WHERE k = 'integrity'", RBX_E_CORRUPT },
};

START_TEST(record_edit)
{
    peer alice;
    peer_new(&alice, "alice");
    peer_close(&alice);
    sql_on_file(alice.db, record_edits[_i].sql);
    ck_assert_int_eq(open_rc(alice.db), record_edits[_i].want);
}
END_TEST

/* ------------------------------------------------------------ row_tags */

/* The same kind of edit while Alice's store is open (another connection
 * writes the file): the operation that takes a decision from the row
 * refuses it with RBX_E_TAMPERED, and accepts nothing. */
enum {
    LIVE_CONTACT_KEY_NAMED,
    LIVE_CONTACT_KEY_UNNAMED,
    LIVE_RETIRED_MOVED,
    LIVE_RETIRED_EXTENDED,
    LIVE_INBOX_CONTACT,
    LIVE_INBOX_DIGEST,
    LIVE_OLD_IDENTITY,
    LIVE_SIGNED_PREKEY,
    LIVE_SESSION_IK,
    LIVE_EPOCH_DATE,
    LIVE_EPOCH_STATE,
    LIVE_COUNT
};

START_TEST(live_edit)
{
    const int c = _i;
    world w;
    msg forged;
    rbx_received info;
    char mhex[65];
    rbx_maintain_result mr;
    rbx_archive_result ar;
    world_load(&w);
    const char *db = w.alice.db;
    int64_t inbox = inbox_rows(db);
    hex_of(mhex, w.mallory.pk);
    int rc = 0;
    switch (c) {
    case LIVE_CONTACT_KEY_NAMED:
    case LIVE_CONTACT_KEY_UNNAMED:
        /* Mallory's key behind bob (a tag copied from another row). */
        sqlf(db, "INSERT INTO contact_keys (contact, identity, until, mac) SELECT %lld, x'%s',"
                 " 4000000000, mac FROM contact_keys LIMIT 1", (long long)w.bob_id, mhex);
        introduce(&w.mallory, "alice", 1, &w.alice);
        send(&forged, &w.mallory, "alice", "this is bob");
        rc = rx(&w.alice, &info, c == LIVE_CONTACT_KEY_NAMED ? "bob" : NULL, 1, &forged, NULL);
        break;
    case LIVE_RETIRED_MOVED:
        /* Carol's old session made bob's: her message would pass as his. */
        sqlf(db, "UPDATE retired_sessions SET contact = %lld", (long long)w.bob_id);
        rc = rx(&w.alice, &info, "bob", 1, &w.in_flight, NULL);
        break;
    case LIVE_RETIRED_EXTENDED:
        g_now += 8 * RBX_DAY; /* past carol's grace window */
        sqlf(db, "UPDATE retired_sessions SET until = until + 100 * 86400");
        rc = rx(&w.alice, &info, "carol", 1, &w.in_flight, NULL);
        break;
    case LIVE_INBOX_CONTACT:
        sqlf(db, "UPDATE inbox SET contact = %lld", (long long)w.carol_id);
        rc = rx(&w.alice, &info, "bob", 1, &w.bob_inbox, NULL);
        break;
    case LIVE_INBOX_DIGEST: {
        /* A forged message whose digest the inbox row is made to carry:
         * bob's stored plaintext would come back for it. */
        uint8_t d[32];
        char dhex[65];
        forged = w.bob_inbox;
        forged.wire[forged.len - 1] ^= 1;
        crypto_generichash(d, sizeof d, forged.wire, forged.len, NULL, 0);
        hex_of(dhex, d);
        sqlf(db, "UPDATE inbox SET digest = x'%s'", dhex);
        rc = rx(&w.alice, &info, "bob", 1, &forged, NULL);
        break;
    }
    case LIVE_OLD_IDENTITY:
        g_now += 8 * RBX_DAY; /* the old identity is due for erasure */
        sql_on_file(db, "UPDATE old_identities SET grace_until = grace_until + 100 * 86400");
        rc = rbx_store_maintain(w.alice.st, 0, &mr);
        break;
    case LIVE_SIGNED_PREKEY:
        sql_on_file(db, "UPDATE signed_prekeys SET created = created + 100 * 86400");
        rc = rbx_store_maintain(w.alice.st, 0, &mr);
        break;
    case LIVE_SESSION_IK:
        sqlf(db, "UPDATE sessions SET ik = ik + 7 WHERE contact = %lld", (long long)w.bob_id);
        send_refused(&w.alice, "bob", RBX_E_TAMPERED);
        rc = RBX_E_TAMPERED;
        break;
    case LIVE_EPOCH_DATE:
        g_now += 400 * RBX_DAY; /* the read-only epoch is due for shredding */
        sql_on_file(db, "UPDATE archive_epochs SET retain_until = retain_until + 1000 * 86400 WHERE state = 1");
        rc = rbx_store_rotate_archive(w.alice.st, RBX_ARCHIVE_SHRED, &ar);
        break;
    case LIVE_EPOCH_STATE:
        /* The epoch due for shredding made the active one again. */
        sql_on_file(db, "UPDATE archive_epochs SET state = 1 - state");
        send_refused(&w.alice, "bob", RBX_E_TAMPERED);
        rc = RBX_E_TAMPERED;
        break;
    default:
        ck_abort();
    }
    ck_assert_msg(rc == RBX_E_TAMPERED, "live edit %d: %s", c, rbx_strerror(rc));
    ck_assert_int_eq(inbox_rows(db), inbox); /* nothing accepted */
    world_free(&w);
}
END_TEST

/* ------------------------------------------------------------ schema */

static const char *const schema_edits[] = {
    /* Someone else's trigger would run inside the store's transactions,
     * and the store's own triggers would count what it does. */
    "CREATE TRIGGER evil AFTER INSERT ON inbox BEGIN DELETE FROM revocations; END",
    "CREATE VIEW v AS SELECT * FROM contacts",
    "CREATE INDEX contact_keys_until ON contact_keys (until)",
    "DROP INDEX contacts_identity",
    "CREATE TABLE extra (x)",
};

START_TEST(schema_edit)
{
    world w;
    world_load(&w);
    peer_close(&w.alice);
    sql_on_file(w.alice.db, schema_edits[_i]);
    int rc = open_rc(w.alice.db);
    ck_assert_msg(rc == RBX_E_TAMPERED, "%s: open gave %s", schema_edits[_i], rbx_strerror(rc));
    world_free(&w);
}
END_TEST

/* The same trigger planted while the store is open: its next write
 * transaction sees the schema changed under it. */
START_TEST(schema_edit_live)
{
    world w;
    msg m;
    world_load(&w);
    sql_on_file(w.alice.db, "CREATE TRIGGER evil AFTER INSERT ON inbox BEGIN DELETE FROM revocations; END");
    send(&m, &w.bob, "alice", "with a trigger in place");
    ck_assert_int_eq(rx(&w.alice, NULL, "bob", 1, &m, NULL), RBX_E_TAMPERED);
    ck_assert_int_eq(sql_int_on_file(w.alice.db, "SELECT count(*) FROM revocations"), 1);
    world_free(&w);
}
END_TEST

/* ------------------------------------------------------------ generation */

/* Attack 1: an older copy restored, and its generation raised with one
 * plain row, as `UPDATE meta SET v = <large> WHERE k = 'generation'` did in
 * schema 2. The plain row is nobody's: the rollback is seen, encrypt is
 * refused, and no position of Alice's sending chain is used twice. */
START_TEST(generation_raised)
{
    peer alice, bob;
    msg m;
    rbx_received info;
    char old[PATHCAP];
    nreleased = 0;
    pair_talking(&alice, &bob);
    send(&m, &alice, "bob", "before the backup");
    ck_assert_int_eq(rx(&bob, &info, alice.fp, 1, &m, NULL), 0);
    snapshot(&alice, old, "backup.db");
    for (int i = 0; i < 3; i++) send(&m, &alice, "bob", "after the backup");
    peer_close(&alice);
    copy_db(old, alice.db);
    sql_on_file(alice.db, "INSERT OR REPLACE INTO meta (k, v) VALUES ('generation', 1000000)");
    alice.st = store_open(alice.db, 0);
    send_refused(&alice, "bob", RBX_E_ROLLBACK);
    ck_assert_int_eq(q_int(alice.st, "SELECT rolled_back FROM sessions"), 1);
    peer_close(&alice);
    peer_close(&bob);
}
END_TEST

/* The same copy with the integrity record of the current store put back
 * (a generation raised by a sealed value): the sets do not match it. */
START_TEST(generation_record_put_back)
{
    peer alice, bob;
    msg m;
    char old[PATHCAP], cur[PATHCAP];
    nreleased = 0;
    pair_talking(&alice, &bob);
    snapshot(&alice, old, "backup.db");
    for (int i = 0; i < 3; i++) send(&m, &alice, "bob", "after the backup");
    snapshot(&alice, cur, "current.db");
    peer_close(&alice);
    copy_db(old, alice.db);
    sqlf(alice.db, "ATTACH '%s' AS cur; UPDATE meta SET v = (SELECT v FROM cur.meta WHERE k ="
                   " 'integrity') WHERE k = 'integrity'", cur);
    ck_assert_int_eq(open_rc(alice.db), RBX_E_TAMPERED);
    peer_close(&bob);
}
END_TEST

/* ------------------------------------------------------------ store_id */

/* Two stores under one storage key (a keychain): an older copy of A with
 * B's generation record beside it and B's id in its plain meta row. The
 * record's MAC covers A's id as A's integrity record holds it. */
START_TEST(other_store_record)
{
    char a[PATHCAP], b[PATHCAP], old[PATHCAP], path[PATHCAP + 8], bpath[PATHCAP + 8];
    uint8_t key[32], bundle[RBX_BUNDLE_MAXBYTES], wire[WIRECAP];
    size_t n, wl;
    uint64_t id;
    rbx_store *sa, *sb, *peer_st;
    peer bob;
    nreleased = 0;
    randombytes_buf(key, sizeof key);
    rbx_store_opts o = store_opts(1);
    o.storage_key = key;
    db_path(a, "a");
    db_path(b, "b");
    ck_assert_int_eq(rbx_store_open(&sa, a, &o), 0);
    ck_assert_int_eq(rbx_store_open(&sb, b, &o), 0);
    ck_assert_int_eq(rbx_store_identity_create(sa, NULL, NULL), 0);
    ck_assert_int_eq(rbx_store_identity_create(sb, NULL, NULL), 0);
    peer_new(&bob, "bob");
    n = fresh_bundle(bundle, &bob);
    ck_assert_int_eq(rbx_store_add_contact(sa, "bob", 1, bundle, n), 0);
    ck_assert_int_eq(rbx_store_encrypt(sa, wire, sizeof wire, &wl, &id, "bob", 1, (const uint8_t *)"x", 1, NULL), 0);
    note_released(wire, wl);
    ck_assert_int_eq(rbx_store_erase_now(sa), 0);
    path_of(old, "a-old.db");
    copy_file(a, old);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rbx_store_encrypt(sa, wire, sizeof wire, &wl, &id, "bob", 1, (const uint8_t *)"y", 1, NULL), 0);
        note_released(wire, wl);
    }
    rbx_store_close(sa);
    rbx_store_close(sb);
    copy_db(old, a);
    snprintf(path, sizeof path, "%s.gen", a);
    snprintf(bpath, sizeof bpath, "%s.gen", b);
    copy_file(bpath, path);
    sqlf(a, "ATTACH '%s' AS b; UPDATE meta SET v = (SELECT v FROM b.meta WHERE k = 'store_id')"
            " WHERE k = 'store_id'", b);
    o.create = 0;
    int rc = rbx_store_open(&peer_st, a, &o);
    if (rc == 0) { /* it must not have opened; if it did, show what it lets happen */
        rc = rbx_store_encrypt(peer_st, wire, sizeof wire, &wl, &id, "bob", 1, (const uint8_t *)"z", 1, NULL);
        if (rc == 0) note_released(wire, wl);
        rbx_store_close(peer_st);
        ck_abort_msg("another store's generation record was accepted");
    }
    ck_assert_int_eq(rc, RBX_E_CORRUPT);
    peer_close(&bob);
}
END_TEST

/* ------------------------------------------------------------ meta_binding */

/* The policy's rows and seal of an older copy (before `strict`): both are
 * valid, and the seal is not the one the integrity record names. */
START_TEST(policy_splice)
{
    peer alice;
    char old[PATHCAP];
    rbx_policy pol;
    peer_new(&alice, "alice");
    set_archive(&alice);
    snapshot(&alice, old, "old.db");
    ck_assert_int_eq(rbx_store_policy(alice.st, &pol), 0);
    pol.storage_mode = RBX_STORE_STRICT;
    pol.identity_grace = 0;
    ck_assert_int_eq(rbx_store_set_policy(alice.st, &pol), 0);
    peer_close(&alice);
    sqlf(alice.db, "ATTACH '%s' AS old; DELETE FROM policy; INSERT INTO policy SELECT * FROM old.policy;"
                   " UPDATE meta SET v = (SELECT v FROM old.meta WHERE k = 'policy') WHERE k = 'policy'", old);
    ck_assert_int_eq(open_rc(alice.db), RBX_E_TAMPERED);
}
END_TEST

/* The audit log's rows and head of an older copy: the events after it
 * would be gone unseen. Verification says so, and nothing more is
 * appended onto it. */
START_TEST(audit_splice)
{
    peer alice;
    char old[PATHCAP];
    rbx_policy pol;
    uint64_t count, bad;
    peer_new(&alice, "alice");
    snapshot(&alice, old, "old.db");
    set_archive(&alice);
    ck_assert_int_eq(rbx_store_org_init(alice.st, (uint8_t[32]){ 0 }), 0);
    peer_close(&alice);
    sqlf(alice.db, "ATTACH '%s' AS old; DELETE FROM audit; INSERT INTO audit SELECT * FROM old.audit;"
                   " UPDATE meta SET v = (SELECT v FROM old.meta WHERE k = 'audit_head') WHERE k = 'audit_head'",
         old);
    alice.st = store_open(alice.db, 0);
    ck_assert_int_eq(rbx_store_audit_verify(alice.st, &count, &bad), RBX_E_TAMPERED);
    ck_assert_int_eq(rbx_store_policy(alice.st, &pol), 0);
    pol.max_skip = 7;
    ck_assert_int_eq(rbx_store_set_policy(alice.st, &pol), RBX_E_TAMPERED);
    peer_close(&alice);
}
END_TEST

/* ------------------------------------------------------------ handshakes */

/* Attack 3: a first message without a one-time prekey (a relay stripped
 * it from the bundle) is accepted again once its session has left the
 * store. Each way of leaving: reset, three later handshakes, the grace
 * window. The replay is refused, and the live session stays in place. */
enum { LEFT_RESET, LEFT_HANDSHAKES, LEFT_GRACE, LEFT_WITH_ONETIME, LEFT_COUNT };

START_TEST(first_message_replayed)
{
    const int c = _i;
    peer alice, bob;
    msg first, m;
    rbx_received info;
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t n = 0;
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    /* Bob's bundle as a relay hands it on: one-time prekey removed. */
    ck_assert_int_eq(rbx_store_bundle(bob.st, bundle, sizeof bundle, &n, c == LEFT_WITH_ONETIME ? 1 : 0), 0);
    ck_assert_int_eq(rbx_store_add_contact(alice.st, "bob", 1, bundle, n), 0);
    tx(&first, &alice, "bob", 1, "the first message");
    ck_assert_int_eq(rx(&bob, &info, "alice", 1, &first, "the first message"), 0);
    ck_assert_int_eq(rbx_store_ack_inbox(bob.st, info.inbox_id), 0);
    tx(&m, &bob, "alice", 1, "reply");
    ck_assert_int_eq(rx(&alice, &info, "bob", 1, &m, "reply"), 0);
    switch (c) {
    case LEFT_RESET:
    case LEFT_WITH_ONETIME:
        ck_assert_int_eq(rbx_store_reset_session(bob.st, "alice", 1), 0);
        break;
    case LEFT_HANDSHAKES:
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(rbx_store_reset_session(alice.st, "bob", 1), 0);
            introduce(&alice, "bob", 1, &bob);
            tx(&m, &alice, "bob", 1, "again");
            ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "again"), 0);
        }
        break;
    case LEFT_GRACE:
        ck_assert_int_eq(rbx_store_reset_session(alice.st, "bob", 1), 0);
        introduce(&alice, "bob", 1, &bob);
        tx(&m, &alice, "bob", 1, "again");
        ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "again"), 0);
        g_now += RBX_POLICY_IDENTITY_GRACE + 1; /* the first session's grace is over */
        ck_assert_int_eq(rbx_store_maintain(bob.st, 0, NULL), 0);
        break;
    default:
        ck_abort();
    }
    char *before = store_dump(bob.st);
    ck_assert_int_eq(rx(&bob, &info, "alice", 1, &first, NULL), RBX_E_REPLAY);
    ck_assert_int_eq(rx(&bob, &info, NULL, 1, &first, NULL), RBX_E_REPLAY);
    assert_unchanged(bob.st, before);
    free(before);
    if (c != LEFT_RESET && c != LEFT_WITH_ONETIME) {
        /* The live session was not moved aside: alice's next one reads. */
        tx(&m, &alice, "bob", 1, "still here");
        ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "still here"), 0);
    }
    peer_close(&alice);
    peer_close(&bob);
}
END_TEST

/* ------------------------------------------------------------ prefilter */

/* Attack 4: a forged message for a contact with two retired sessions. A
 * retired session that never sent with its current ratchet key cannot
 * receive a new one, so only the current session tries it (one DH step, as
 * without retired sessions); a message in flight on a retired chain goes
 * to that session alone. */
START_TEST(forgery_tries_one_session)
{
    peer alice, bob;
    msg m, late[2];
    rbx_received info;
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    for (int k = 0; k < 3; k++) {
        if (k > 0) ck_assert_int_eq(rbx_store_reset_session(alice.st, "bob", 1), 0);
        introduce(&alice, "bob", 1, &bob);
        tx(&m, &alice, "bob", 1, "first");
        ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "first"), 0);
        if (k < 2) tx(&late[k], &alice, "bob", 1, "in flight");
    }
    ck_assert_int_eq(q_int(bob.st, "SELECT count(*) FROM retired_sessions"), 2);
    /* Alice's current session answered once: her next message is a
     * Message; its ratchet key replaced by another is a forgery. */
    tx(&m, &bob, "alice", 1, "reply");
    ck_assert_int_eq(rx(&alice, &info, "bob", 1, &m, "reply"), 0);
    tx(&m, &alice, "bob", 1, "genuine");
    rbx__msg pm;
    ck_assert_int_eq(rbx__msg_parse(&pm, m.wire, m.len), 0);
    size_t at = (size_t)(pm.ratchet_key - m.wire);
    msg forged = m;
    randombytes_buf(forged.wire + at, 32);
    forged.wire[at + 31] &= 0x7f;
    ck_assert_int_eq(rx(&bob, &info, "alice", 1, &forged, NULL), RBX_E_AUTH);
    ck_assert_uint_eq(bob.st->tried, 1);
    /* Messages in flight on the retired chains: their own session only. */
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(rx(&bob, &info, "alice", 1, &late[k], "in flight"), 0);
        ck_assert_uint_eq(bob.st->tried, 1);
    }
    ck_assert_int_eq(rx(&bob, &info, "alice", 1, &m, "genuine"), 0);
    ck_assert_uint_eq(bob.st->tried, 1);
    peer_close(&alice);
    peer_close(&bob);
}
END_TEST

/* ------------------------------------------------------------ auth_key */

/* A first message carol sent under her old key, read after alice followed
 * her rotation: reported (and audited, and stored for redelivery) with the
 * key that authenticated it, the old one, not carol's pinned new key. */
START_TEST(old_key_reported)
{
    peer alice, carol;
    msg first;
    rbx_received info;
    uint8_t old[32], npk[32];
    char fp[RBX_FINGERPRINT_HEXBYTES], want[96];
    peer_new(&alice, "alice");
    peer_new(&carol, "carol");
    introduce(&carol, "alice", 1, &alice);
    introduce(&alice, "carol", 1, &carol);
    tx(&first, &carol, "alice", 1, "before my rotation");
    memcpy(old, carol.pk, 32);
    ck_assert_int_eq(rbx_store_rotate_identity(carol.st, "scheduled", NULL, NULL, npk), 0);
    introduce(&alice, "carol", 1, &carol);
    ck_assert_int_eq(rx(&alice, &info, "carol", 1, &first, "before my rotation"), 0);
    ck_assert_str_eq(info.name, "carol");
    ck_assert_mem_eq(info.peer_identity, old, 32);
    rbx_fingerprint(fp, old);
    snprintf(want, sizeof want, "from carol/1 (%s), as responder", fp);
    char *last = q_text(alice.st, "SELECT detail FROM audit WHERE event = 'session established'"
                                  " ORDER BY seq DESC LIMIT 1");
    ck_assert_str_eq(last, want);
    free(last);
    ck_assert_int_eq(rx(&alice, &info, "carol", 1, &first, "before my rotation"), 0);
    ck_assert_int_eq(info.redelivered, 1);
    ck_assert_mem_eq(info.peer_identity, old, 32);
    peer_close(&alice);
    peer_close(&carol);
}
END_TEST

/* ------------------------------------------------------------ lookup_key */

/* An index made to disagree with its table with plain SQL (the schema row
 * of the index hidden while rows change, then put back as it was; every
 * row and the schema as before, so the sets and the schema digest match):
 * bob's key leads to mallory's row. SQLite reads the identity from the
 * index entry it followed, and mallory's pin does not seal it:
 * RBX_E_CORRUPT (the pin's error since schema 1). Not mutation-checked:
 * the pin is older than issue 12. */
START_TEST(stale_index)
{
    peer alice, bob, mallory;
    msg m;
    rbx_received info;
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    peer_new(&mallory, "mallory");
    introduce(&alice, "bob", 1, &bob);
    introduce(&alice, "mallory", 1, &mallory);
    tx(&m, &alice, "mallory", 1, "hi");
    ck_assert_int_eq(rx(&mallory, &info, "alice", 1, &m, "hi"), 0);
    peer_close(&alice);
    char *idx = NULL;
    int64_t root = 0;
    {
        sqlite3 *h;
        sqlite3_stmt *s;
        ck_assert_int_eq(sqlite3_open(alice.db, &h), SQLITE_OK);
        ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT sql, rootpage FROM sqlite_schema WHERE name ="
                                               " 'contacts_identity'", -1, &s, NULL), SQLITE_OK);
        ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
        idx = strdup((const char *)sqlite3_column_text(s, 0));
        root = sqlite3_column_int64(s, 1);
        sqlite3_finalize(s);
        sqlite3_close(h);
    }
    /* With the index in place, mallory's row gets bob's key (the index
     * files it under bob's); with its schema row removed, the table goes
     * back to what it was and the index is not told; then the schema row
     * comes back as it was. Every row and the schema are as before. */
    char bhex[65], mhex[65];
    hex_of(bhex, bob.pk);
    hex_of(mhex, mallory.pk);
    sqlf(alice.db, "UPDATE contacts SET identity = zeroblob(32) WHERE name = 'bob';"
                   "UPDATE contacts SET identity = x'%s' WHERE name = 'mallory';"
                   "PRAGMA writable_schema = ON; DELETE FROM sqlite_schema WHERE name = 'contacts_identity';"
                   "PRAGMA writable_schema = OFF", bhex);
    sqlf(alice.db, "UPDATE contacts SET identity = x'%s' WHERE name = 'bob';"
                   "UPDATE contacts SET identity = x'%s' WHERE name = 'mallory';"
                   "PRAGMA writable_schema = ON; INSERT INTO sqlite_schema (type, name, tbl_name, rootpage, sql)"
                   " VALUES ('index', 'contacts_identity', 'contacts', %lld, '%s');"
                   "PRAGMA writable_schema = OFF", bhex, mhex, (long long)root, idx);
    free(idx);
    alice.st = store_open(alice.db, 0);
    char name[RBX_NAME_MAX];
    uint32_t device;
    ck_assert_int_eq(rbx_store_contact_by_identity(alice.st, name, &device, bob.pk), RBX_E_CORRUPT);
    peer_close(&alice);
    peer_close(&bob);
    peer_close(&mallory);
}
END_TEST

/* ------------------------------------------------------------ migration */

/* PRAGMA user_version of a database file, opened for writing: a log left
 * by a killed writer is recovered by whoever opens it next. */
static int64_t user_version(const char *db)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
    return v;
}

/* A schema 2 store (tests/fixtures/store-v2) made big enough that its
 * migration takes a while, killed at random points while it migrates: it
 * opens afterwards either migrated or not, never half, and works. */
enum { KILLS = 8 };

START_TEST(migration_killed)
{
    char db[PATHCAP], key[PATHCAP + 8], gen[PATHCAP + 8], tmpl_db[PATHCAP];
    tv_file *f = tv_load("tests/fixtures/store-v2/values.txt");
    const tv_block *v = tv_case(f, "store-v2");
    ck_assert_ptr_nonnull(v);
    uint8_t k[32], g[64];
    tv_hexn(v, "key", k, sizeof k);
    size_t glen = tv_hex(v, "gen", g, sizeof g);
    size_t sqllen;
    uint8_t *sql = slurp(RBX_SRCDIR "/tests/fixtures/store-v2/store.sql", &sqllen);
    ck_assert_ptr_nonnull(sql);
    const uint64_t seed0 = tu_env_u64("RBX_MIGRATION_SEED", (uint64_t)getpid());
    uint64_t seed = seed0;
    unsigned migrated = 0, not_yet = 0, inside = 0;
    double whole = 0;
    /* The schema 2 store once, with rows that make its migration long:
     * 60,000 keys behind a contact. Each round works on a copy. */
    path_of(tmpl_db, "v2.db");
    sql_on_file(tmpl_db, (const char *)sql);
    sql_on_file(tmpl_db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)"
                         " INSERT INTO contact_keys (contact, identity, until) SELECT (SELECT min(id)"
                         " FROM contacts), randomblob(32), 0 FROM n");
    int64_t keys = sql_int_on_file(tmpl_db, "SELECT count(*) FROM contact_keys");
    /* Round -1 is not killed: how long the child takes, open and migration,
     * so that the kills of the others land from early in it to past it. */
    for (int round = -1; round < KILLS; round++) {
        char name[32];
        snprintf(name, sizeof name, "v2-%d.db", round + 1);
        path_of(db, name);
        copy_db(tmpl_db, db);
        snprintf(key, sizeof key, "%s.key", db);
        snprintf(gen, sizeof gen, "%s.gen", db);
        spit(key, k, sizeof k);
        spit(gen, g, glen);
        pid_t kid = fork();
        ck_assert_int_ge(kid, 0);
        if (kid == 0) {
            rbx_store *st;
            rbx_store_opts o = store_opts(0);
            int rc = rbx_store_open(&st, db, &o);
            rbx_store_close(st);
            _exit(rc == 0 ? 0 : 1);
        }
        if (round < 0) {
            double t0 = tu_now_s();
            ck_assert_int_eq(tu_wait_child(kid), 0);
            whole = tu_now_s() - t0;
            continue;
        }
        unsigned span = (unsigned)(whole * 1.2e6) + 1;
        unsigned delay = (unsigned)(whole * 0.2e6) + (unsigned)(tu_splitmix64(&seed) % span);
        (void)tu_kill_child(kid, delay);
        /* A log with frames but no migration: killed inside it, after it
         * had begun writing (its transaction outgrows the page cache). */
        char wal[PATHCAP + 8];
        size_t wlen = 0;
        snprintf(wal, sizeof wal, "%s-wal", db);
        uint8_t *wb = slurp(wal, &wlen);
        int wrote = wb != NULL && wlen > 32 && !sodium_is_zero(wb + 32, wlen - 32);
        free(wb);
        int64_t version = user_version(db);
        inside += version == 2 && wrote;
        ck_assert_msg(version == 2 || version == RBX_SCHEMA_VERSION, "round %d: user_version %lld", round,
                      (long long)version);
        if (version == RBX_SCHEMA_VERSION) migrated++;
        else not_yet++;
        /* Either way it opens now (migrating if it had not), and works. */
        rbx_store *st = store_open(db, 0);
        ck_assert_int_eq(q_int(st, "PRAGMA user_version"), RBX_SCHEMA_VERSION);
        ck_assert_int_eq(q_int(st, "SELECT count(*) FROM contact_keys"), keys);
        uint8_t bundle[RBX_BUNDLE_MAXBYTES];
        size_t bn;
        ck_assert_int_eq(rbx_store_bundle(st, bundle, sizeof bundle, &bn, 1), 0);
        rbx_store_close(st);
        ck_assert_int_eq(open_rc(db), 0);
    }
    fprintf(stderr, "integrity/migration: seed %llu, an open with its migration takes %.0f ms; %d kills"
                    " in it: %u left the store migrated, %u not (%u of them with the migration's"
                    " uncommitted frames in the log)\n",
            (unsigned long long)seed0, whole * 1e3, KILLS, migrated, not_yet, inside);
    free(sql);
    tv_free(f);
}
END_TEST


/* ------------------------------------------------------------ schema 3 to 4 */

/* A store of schema 3 as issue 12's code left it: a store of this version
 * before any account exists (the tables of schema 4 are empty), those
 * tables dropped, the version set back, and the record's schema digest and
 * set made again under the store's key. */
static void to_schema3(const char *db)
{
    char kp[PATHCAP + 8];
    size_t klen, n;
    sql_on_file(db, "DROP TABLE send_envelopes; DROP TABLE sends; DROP TABLE user_devices;"
                    " DROP TABLE users; DROP TABLE account; PRAGMA user_version = 3");
    snprintf(kp, sizeof kp, "%s.key", db);
    uint8_t *key = slurp(kp, &klen);
    ck_assert_uint_eq(klen, 32);
    sqlite3 *h;
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "SELECT v FROM meta WHERE k = 'integrity'", -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    uint8_t rec[RBX_INTEGRITY_BYTES];
    ck_assert_int_eq(rbx__row_open(rec, sizeof rec, &n, key, "meta", 0, 0, "integrity",
                                   sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0)), 0);
    sqlite3_finalize(q);
    rbx__integrity r;
    ck_assert_int_eq(rbx__integrity_decode(&r, rec, n), 0);
    rbx__auth_keys k;
    rbx__auth_keys_derive(&k, key);
    ck_assert_int_eq(rbx__auth_schema(h, r.schema), 0);
    ck_assert_int_eq(rbx__auth_sets_of(h, &k, &r.rows, RBX_SETS_SCHEMA3), 0);
    rbx__integrity_encode(rec, &r);
    uint8_t *sealed = rbx__row_seal(&n, key, "meta", 0, 0, "integrity", rec, sizeof rec);
    ck_assert_ptr_nonnull(sealed);
    ck_assert_int_eq(sqlite3_prepare_v2(h, "UPDATE meta SET v = ?1 WHERE k = 'integrity'", -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(q, 1, sealed, (int)n, SQLITE_TRANSIENT);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
    free(sealed);
    sodium_memzero(key, klen);
    free(key);
    sodium_memzero(&k, sizeof k);
}

#define EVCAP 640
static int last_event(const rbx_audit_event *e, void *ctx)
{
    snprintf(ctx, EVCAP, "%s: %s", e->event, e->detail);
    return 0;
}

/* Schema 3 migrates to 4 in place, its record kept (the new tables are
 * empty); one edited behind the store is refused before the migration
 * could take the edit in (the open check runs inside the migration), and
 * stays byte for byte as it was. */
START_TEST(migration_from_3)
{
    peer alice, bob;
    msg m;
    rbx_received info;
    char ev[EVCAP];
    peer_new(&alice, "alice");
    peer_new(&bob, "bob");
    introduce(&bob, "alice", 1, &alice);
    tx(&m, &bob, "alice", 1, "before the migration");
    peer_close(&alice);
    to_schema3(alice.db);
    ck_assert_int_eq(sql_int_on_file(alice.db, "PRAGMA user_version"), 3);
    char copy[PATHCAP];
    path_of(copy, "alice-v3.db");
    for (int i = 0; i < 2; i++) {
        char a[PATHCAP + 8], b[PATHCAP + 8];
        static const char *const sfx[] = { ".key", ".gen" };
        snprintf(a, sizeof a, "%s%s", alice.db, sfx[i]);
        snprintf(b, sizeof b, "%s%s", copy, sfx[i]);
        copy_or_remove(a, b);
    }
    copy_file(alice.db, copy);
    /* As it is: migrated, the migration recorded, and it works. */
    peer_reopen(&alice);
    ck_assert_int_eq(q_int(alice.st, "PRAGMA user_version"), RBX_SCHEMA_VERSION);
    ck_assert_int_eq(q_int(alice.st, "SELECT count(*) FROM sqlite_schema WHERE name IN ('account',"
                                     " 'users', 'user_devices', 'sends', 'send_envelopes')"), 5);
    ck_assert_int_eq(rbx_store_audit(alice.st, last_event, ev), 0);
    ck_assert_str_eq(ev, "store migrated: schema 4");
    ck_assert_int_eq(rx(&alice, &info, "bob", 1, &m, "before the migration"), 0);
    peer_close(&alice);
    ck_assert_int_eq(open_rc(alice.db), 0);
    /* Edited behind it before the migration: refused, left as it was. */
    static const char *const edits[] = {
        "DELETE FROM onetime_prekeys WHERE id = (SELECT max(id) FROM onetime_prekeys)",
        "UPDATE signed_prekeys SET created = created + 1000000",
        "CREATE TABLE users (user TEXT PRIMARY KEY)",
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        copy_file(copy, alice.db);
        sql_on_file(alice.db, edits[i]);
        size_t blen, alen;
        uint8_t *before = slurp(alice.db, &blen);
        int rc = open_rc(alice.db);
        ck_assert_msg(rc == RBX_E_TAMPERED, "edit %zu: open gave %s", i, rbx_strerror(rc));
        uint8_t *after = slurp(alice.db, &alen);
        ck_assert_msg(blen == alen && memcmp(before, after, blen) == 0, "edit %zu: the file changed", i);
        free(before);
        free(after);
        ck_assert_int_eq(sql_int_on_file(alice.db, "PRAGMA user_version"), 3);
    }
    peer_close(&bob);
}
END_TEST

Suite *suite_integrity(void)
{
    Suite *s = suite_create("integrity");
    TCase *tc;

    tc = tcase_create("sets");
    dir_fixtures(tc, dir_setup, 120);
    tcase_add_unchecked_fixture(tc, world_template, NULL);
    tcase_add_loop_test(tc, closed_edit, 0, N_CLOSED);
    tcase_add_test(tc, generation_record_put_back);
    multidev_integrity_sets(tc); /* the tables of schema 4 (test_multidev.c) */
    suite_add_tcase(s, tc);

    tc = tcase_create("row_tags");
    dir_fixtures(tc, dir_setup, 120);
    tcase_add_unchecked_fixture(tc, world_template, NULL);
    tcase_add_loop_test(tc, live_edit, 0, LIVE_COUNT);
    multidev_integrity_row_tags(tc);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema");
    dir_fixtures(tc, dir_setup, 120);
    tcase_add_unchecked_fixture(tc, world_template, NULL);
    tcase_add_loop_test(tc, schema_edit, 0, (int)(sizeof schema_edits / sizeof schema_edits[0]));
    tcase_add_test(tc, schema_edit_live);
    suite_add_tcase(s, tc);

    tc = tcase_create("generation");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, generation_raised);
    suite_add_tcase(s, tc);

    tc = tcase_create("store_id");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, other_store_record);
    suite_add_tcase(s, tc);

    tc = tcase_create("meta_binding");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, policy_splice);
    tcase_add_test(tc, audit_splice);
    suite_add_tcase(s, tc);

    tc = tcase_create("handshakes");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_loop_test(tc, first_message_replayed, 0, LEFT_COUNT);
    suite_add_tcase(s, tc);

    tc = tcase_create("prefilter");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, forgery_tries_one_session);
    suite_add_tcase(s, tc);

    tc = tcase_create("auth_key");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, old_key_reported);
    suite_add_tcase(s, tc);

    tc = tcase_create("record");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_loop_test(tc, record_edit, 0, (int)(sizeof record_edits / sizeof record_edits[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("indexes");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, stale_index);
    suite_add_tcase(s, tc);

    tc = tcase_create("migration");
    dir_fixtures(tc, dir_setup, 300);
    tcase_add_test(tc, migration_killed);
    tcase_add_test(tc, migration_from_3);
    suite_add_tcase(s, tc);
    return s;
}
