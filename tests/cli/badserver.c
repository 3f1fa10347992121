/* SPDX-License-Identifier: MIT
 * A server that lies, for tests/cli/test_multidev.sh and make demo: it edits
 * a running rbxd's SQLite database behind its back (rbxd reads every
 * answer from the database, so its next answer carries the lie). Nothing
 * in rbxd is switched into a test mode; what the clients see is exactly
 * what a compromised server could send.
 *
 *   badserver DB add-device USER     a device the server signs itself: an add
 *                                    entry by a key of no device of USER, a
 *                                    device row and a base bundle for it
 *   badserver DB remove-device USER D a removal of device D the server signs
 *                                    itself, D's device row deactivated
 *   badserver DB drop-last USER      the newest entry of USER's list gone (the
 *                                    list rolled back), its device row restored
 *                                    as before when the entry added a device
 *   badserver DB swap-bundle USER D  device D's base bundle replaced by one of
 *                                    another key, its one-time prekeys dropped
 *   badserver DB sql SQL             any statement (rows printed tab-separated)
 *   badserver DB exec SQL            several statements, no output
 *   badserver DB relay MAP A DA B DB the envelopes a trigger kept (table kept,
 *                                    make demo) between device DA of user A
 *                                    and device DB of user B, as the thief's
 *                                    relay rows: seq, t_ms, sender fingerprint,
 *                                    type, bytes, base64(0x01 || sender key ||
 *                                    body); MAP has "message_id_hex seq t_ms
 *                                    type" lines (what rbx send --json said)
 *
 * Exit 0, 64 usage, 65 nothing to do, 74 database error. */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratchetbox.h"

static sqlite3 *db;

static void die(const char *what)
{
    fprintf(stderr, "badserver: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(74);
}

static sqlite3_stmt *prep(const char *sql)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) die(sql);
    return s;
}

static void exec(const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die(sql);
}

/* The newest entry of user's log: its seq and hash (0 if none). */
static uint64_t head(const char *user, uint8_t hash[32])
{
    sqlite3_stmt *s = prep("SELECT seq, hash FROM devlist WHERE uid = ?1 ORDER BY seq DESC LIMIT 1");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    uint64_t seq = 0;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 1) == 32) {
        seq = (uint64_t)sqlite3_column_int64(s, 0);
        memcpy(hash, sqlite3_column_blob(s, 1), 32);
    }
    sqlite3_finalize(s);
    return seq;
}

/* A base bundle of a fresh key (signed prekey 1); pk out. */
static size_t fresh_bundle(uint8_t out[RBX_BUNDLE_MAXBYTES], uint8_t pk[32], uint8_t sk[32])
{
    rbx_prekeys *p;
    size_t n;
    if (rbx_keypair_generate(pk, sk) != 0 || rbx_prekeys_new(&p, pk, sk) != 0 ||
        rbx_prekeys_add_signed(p, 1, NULL) != 0 ||
        rbx_prekeys_bundle(out, RBX_BUNDLE_MAXBYTES, &n, p, 1, RBX_NO_PREKEY) != 0) {
        fprintf(stderr, "badserver: cannot make a bundle\n");
        exit(70);
    }
    rbx_prekeys_free(p);
    return n;
}

static int add_device(const char *user)
{
    uint8_t prev[32], pk[32], sk[32], b[RBX_BUNDLE_MAXBYTES], ent[RBX_DEVLIST_ENTRY_MAXBYTES], h[32];
    uint64_t seq = head(user, prev);
    if (seq == 0) return 65;
    size_t bl = fresh_bundle(b, pk, sk), el;
    rbx_devlist_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.user, sizeof e.user, "%s", user);
    e.seq = seq + 1;
    memcpy(e.prev_hash, prev, 32);
    e.op = RBX_DEVLIST_ADD;
    e.device = rbx_device_id(pk);
    memcpy(e.identity, pk, 32);
    e.created = (uint64_t)time(NULL);
    e.signer_kind = RBX_SIGNER_DEVICE;
    /* The only key the server holds is its own: it signs as signer too. */
    memcpy(e.signer, pk, 32);
    if (rbx_devlist_entry_sign(ent, sizeof ent, &el, &e, sk, sk) != 0) return 70;
    sodium_memzero(sk, sizeof sk);
    rbx_devlist_entry_hash(h, ent, el);
    exec("BEGIN IMMEDIATE");
    sqlite3_stmt *s = prep("INSERT INTO devlist(uid, seq, hash, entry) VALUES(?1, ?2, ?3, ?4)");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)e.seq);
    sqlite3_bind_blob(s, 3, h, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, ent, (int)el, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) die("insert entry");
    sqlite3_finalize(s);
    s = prep("INSERT INTO device(uid, device, identity, registration_id, active, bundle, spk_id, spk,"
             " spk_created, spk_uploaded) VALUES(?1, ?2, ?3, 4242, 1, ?4, 1, ?5, 0, ?6)");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, e.device);
    sqlite3_bind_blob(s, 3, pk, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, b, (int)bl, SQLITE_STATIC);
    rbx_bundle pb;
    if (rbx_bundle_parse(&pb, b, bl) != 0) return 70;
    sqlite3_bind_blob(s, 5, pb.signed_prekey, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, (int64_t)time(NULL));
    if (sqlite3_step(s) != SQLITE_DONE) die("insert device");
    sqlite3_finalize(s);
    exec("COMMIT");
    printf("%u\n", e.device);
    return 0;
}

/* A removal of device D the server signs itself (a key of no device of
 * USER), its device row deactivated: the list the server serves drops D. */
static int remove_device(const char *user, const char *device)
{
    uint8_t prev[32], pk[32], sk[32], b[RBX_BUNDLE_MAXBYTES], ent[RBX_DEVLIST_ENTRY_MAXBYTES], h[32];
    uint64_t seq = head(user, prev);
    uint32_t dev = (uint32_t)strtoul(device, NULL, 10);
    if (seq == 0) return 65;
    sqlite3_stmt *s = prep("SELECT identity FROM device WHERE uid = ?1 AND device = ?2 AND active = 1");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, dev);
    rbx_devlist_entry e;
    memset(&e, 0, sizeof e);
    int found = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == 32;
    if (found) memcpy(e.identity, sqlite3_column_blob(s, 0), 32);
    sqlite3_finalize(s);
    if (!found) return 65;
    (void)fresh_bundle(b, pk, sk);
    snprintf(e.user, sizeof e.user, "%s", user);
    e.seq = seq + 1;
    memcpy(e.prev_hash, prev, 32);
    e.op = RBX_DEVLIST_REMOVE;
    e.device = dev;
    e.created = (uint64_t)time(NULL);
    e.signer_kind = RBX_SIGNER_DEVICE;
    memcpy(e.signer, pk, 32);
    size_t el;
    if (rbx_devlist_entry_sign(ent, sizeof ent, &el, &e, sk, NULL) != 0) return 70;
    sodium_memzero(sk, sizeof sk);
    rbx_devlist_entry_hash(h, ent, el);
    exec("BEGIN IMMEDIATE");
    s = prep("INSERT INTO devlist(uid, seq, hash, entry) VALUES(?1, ?2, ?3, ?4)");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)e.seq);
    sqlite3_bind_blob(s, 3, h, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, ent, (int)el, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) die("insert entry");
    sqlite3_finalize(s);
    s = prep("UPDATE device SET active = 0 WHERE uid = ?1 AND device = ?2");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, dev);
    if (sqlite3_step(s) != SQLITE_DONE) die("hide device");
    sqlite3_finalize(s);
    exec("COMMIT");
    return 0;
}

static int drop_last(const char *user)
{
    uint8_t h[32];
    uint64_t seq = head(user, h);
    if (seq <= 1) return 65;
    sqlite3_stmt *s = prep("SELECT entry FROM devlist WHERE uid = ?1 AND seq = ?2");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)seq);
    rbx_devlist_entry e;
    int ok = sqlite3_step(s) == SQLITE_ROW &&
             rbx_devlist_entry_parse(&e, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0)) == 0;
    sqlite3_finalize(s);
    if (!ok) return 65;
    exec("BEGIN IMMEDIATE");
    s = prep("DELETE FROM devlist WHERE uid = ?1 AND seq = ?2");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (int64_t)seq);
    if (sqlite3_step(s) != SQLITE_DONE) die("delete entry");
    sqlite3_finalize(s);
    /* The device an add brought is hidden again (the server's view must
     * match its list, or its own send checks would refuse). */
    if (e.op == RBX_DEVLIST_ADD) {
        s = prep("UPDATE device SET active = 0 WHERE uid = ?1 AND device = ?2");
        sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, e.device);
        if (sqlite3_step(s) != SQLITE_DONE) die("hide device");
        sqlite3_finalize(s);
    } else if (e.op == RBX_DEVLIST_REMOVE) {
        s = prep("UPDATE device SET active = 1 WHERE uid = ?1 AND device = ?2");
        sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, e.device);
        if (sqlite3_step(s) != SQLITE_DONE) die("restore device");
        sqlite3_finalize(s);
    }
    exec("COMMIT");
    printf("%llu\n", (unsigned long long)seq);
    return 0;
}

static int swap_bundle(const char *user, const char *device)
{
    uint8_t pk[32], sk[32], b[RBX_BUNDLE_MAXBYTES];
    size_t bl = fresh_bundle(b, pk, sk);
    sodium_memzero(sk, sizeof sk);
    exec("BEGIN IMMEDIATE");
    sqlite3_stmt *s = prep("UPDATE device SET bundle = ?3 WHERE uid = ?1 AND device = ?2 AND active = 1");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, strtoll(device, NULL, 10));
    sqlite3_bind_blob(s, 3, b, (int)bl, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) die("swap");
    int changed = sqlite3_changes(db);
    sqlite3_finalize(s);
    s = prep("DELETE FROM otk WHERE uid = ?1 AND device = ?2");
    sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, strtoll(device, NULL, 10));
    if (sqlite3_step(s) != SQLITE_DONE) die("otk");
    sqlite3_finalize(s);
    exec("COMMIT");
    return changed == 1 ? 0 : 65;
}

/* One relay row per kept envelope between (a, da) and (b, db), in MAP order. */
static int relay(const char *map, const char *a, const char *da, const char *b, const char *db_)
{
    FILE *f = fopen(map, "r");
    if (f == NULL) return 66;
    char line[512];
    sqlite3_stmt *s = prep("SELECT k.body, d.identity FROM kept k JOIN device d ON d.uid = k.sender_uid"
                           " AND d.device = k.sender_device WHERE lower(hex(k.message_id)) = ?1 AND"
                           " ((k.sender_uid = ?2 AND k.sender_device = ?3 AND k.uid = ?4 AND k.device = ?5) OR"
                           " (k.sender_uid = ?4 AND k.sender_device = ?5 AND k.uid = ?2 AND k.device = ?3))");
    sqlite3_bind_text(s, 2, a, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, strtoll(da, NULL, 10));
    sqlite3_bind_text(s, 4, b, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, strtoll(db_, NULL, 10));
    printf("# what the server kept: seq\tt_ms\tsender_fingerprint\ttype\tbytes\tciphertext (0x01 || sender key || envelope, base64)\n");
    while (fgets(line, sizeof line, f) != NULL) {
        char mid[64], type[64];
        long seq, t;
        if (sscanf(line, "%63s %ld %ld %63s", mid, &seq, &t, type) != 4) continue;
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, mid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) != SQLITE_ROW || sqlite3_column_bytes(s, 1) != 32) continue;
        size_t bl = (size_t)sqlite3_column_bytes(s, 0), tl = 33 + bl;
        uint8_t *t8 = malloc(tl);
        char *b64 = malloc(sodium_base64_ENCODED_LEN(tl, sodium_base64_VARIANT_ORIGINAL));
        if (t8 == NULL || b64 == NULL) return 70;
        t8[0] = 0x01;
        memcpy(t8 + 1, sqlite3_column_blob(s, 1), 32);
        memcpy(t8 + 33, sqlite3_column_blob(s, 0), bl);
        sodium_bin2base64(b64, sodium_base64_ENCODED_LEN(tl, sodium_base64_VARIANT_ORIGINAL), t8, tl,
                          sodium_base64_VARIANT_ORIGINAL);
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, sqlite3_column_blob(s, 1));
        printf("%ld\t%ld\t%s\t%s\t%zu\t%s\n", seq, t, fp, type, bl, b64);
        free(t8);
        free(b64);
    }
    sqlite3_finalize(s);
    fclose(f);
    return 0;
}

static int run_sql(const char *sql)
{
    sqlite3_stmt *s = prep(sql);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(s); i++) {
            const unsigned char *t = sqlite3_column_text(s, i);
            printf("%s%s", i ? "\t" : "", t ? (const char *)t : "");
        }
        putchar('\n');
    }
    if (rc != SQLITE_DONE) die(sql);
    sqlite3_finalize(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || rbx_init() != 0) {
        fprintf(stderr, "usage: badserver DB add-device|remove-device|drop-last|swap-bundle|sql|exec|relay ARGS\n");
        return 64;
    }
    if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) die(argv[1]);
    sqlite3_busy_timeout(db, 10000);
    int rc = 64;
    if (strcmp(argv[2], "add-device") == 0) rc = add_device(argv[3]);
    else if (strcmp(argv[2], "remove-device") == 0 && argc == 5) rc = remove_device(argv[3], argv[4]);
    else if (strcmp(argv[2], "drop-last") == 0) rc = drop_last(argv[3]);
    else if (strcmp(argv[2], "swap-bundle") == 0 && argc == 5) rc = swap_bundle(argv[3], argv[4]);
    else if (strcmp(argv[2], "sql") == 0) rc = run_sql(argv[3]);
    else if (strcmp(argv[2], "exec") == 0) {
        exec(argv[3]);
        rc = 0;
    } else if (strcmp(argv[2], "relay") == 0 && argc == 8)
        rc = relay(argv[3], argv[4], argv[5], argv[6], argv[7]);
    sqlite3_close(db);
    return rc;
}
