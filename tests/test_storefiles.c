/* SPDX-License-Identifier: MIT
 * The store's files at the edges (issue 13; PROTOCOL.md 15.1, 15.4, 15.5):
 *
 * unsafe: a FIFO, a symlink, a directory in place of a state file, modes that
 *   let others read or write, another owner, a directory others may write:
 *   rbx_store_open refuses each with RBX_E_UNSAFE at once (a FIFO key file
 *   used to hang every open: the case's timeout catches that), names the file
 *   and the check, and creates nothing (no -wal beside a symlink's target).
 * detail: which file an open failed on, and the OS error (a missing key
 *   file, a damaged generation record, a short key file, no database).
 * create: atomic creation. The states a crash leaves (temporary files before
 *   the rename, the database renamed without its key, a generation record
 *   or a log of a deleted store) all end in a store that opens, keeps what
 *   it had, or is created afresh; none is refused for good.
 * erase: bounded-mode erase steps (PROTOCOL.md 15.5). Content deleted two
 *   steps ago is in no file, even after a short period that overwrote only
 *   part of a long one; it is still in the log right after one step (so the
 *   check can fail); a full erase point zeroes the log in place.
 * deferred: work after a COMMIT that fails never turns a committed change
 *   into an error: a decrypt whose record raise fails returns its plaintext
 *   with RBX_DEFERRED_RECORD owed; an encrypt then releases nothing, keeps
 *   its ciphertext in the outbox and says RBX_E_IO, and outbox_next releases
 *   it once the record can be raised; a strict-mode erase point that fails
 *   (a reader holds the log) leaves the decrypt accepted with
 *   RBX_DEFERRED_ERASE owed, retried by the next commit. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storeutil.h"
#include "testutil.h"

#define NOBODY 65534 /* another user, for ownership cases (when we are root) */

#define SIDECAP (PATHCAP + 16)

static void paths(char db[PATHCAP], char key[SIDECAP], char gen[SIDECAP], const char *name)
{
    db_path(db, name);
    snprintf(key, SIDECAP, "%s.key", db);
    snprintf(gen, SIDECAP, "%s.gen", db);
}

/* A store with an identity, closed. */
static void make_store(const char *db, uint8_t pk[32])
{
    rbx_store *st = store_open(db, 1);
    ck_assert_int_eq(rbx_store_identity_create(st, NULL, NULL), 0);
    if (pk != NULL) ck_assert_int_eq(rbx_store_identity(st, pk), 0);
    rbx_store_close(st);
}

static int try_open(const char *db, int create, rbx_io_error *e)
{
    rbx_store_opts o = store_opts(create);
    rbx_store *st = NULL;
    o.error = e;
    int rc = rbx_store_open(&st, db, &o);
    if (rc == 0) {
        ck_assert_ptr_nonnull(st);
        rbx_store_close(st);
    } else {
        ck_assert_ptr_null(st);
    }
    return rc;
}

/* ------------------------------------------------------------ unsafe files */

enum {
    U_KEY_FIFO, U_GEN_FIFO, U_DB_FIFO, U_DB_SYMLINK, U_KEY_SYMLINK, U_WAL_SYMLINK, U_KEY_DIR,
    U_KEY_0644, U_KEY_0640, U_DB_0666, U_DB_0644, U_GEN_0644, U_DIR_0777, U_DIR_0770,
    U_KEY_OWNER, U_DB_OWNER, U_DIR_OWNER, U_COUNT
};
static const struct {
    const char *name;
    int file;
    const char *op;
    int root_only;
} ucases[U_COUNT] = {
    [U_KEY_FIFO] = { "key file is a FIFO", RBX_FILE_KEY, "type", 0 },
    [U_GEN_FIFO] = { "generation record is a FIFO", RBX_FILE_GENERATION, "type", 0 },
    [U_DB_FIFO] = { "database is a FIFO", RBX_FILE_DATABASE, "type", 0 },
    [U_DB_SYMLINK] = { "database is a symlink", RBX_FILE_DATABASE, "type", 0 },
    [U_KEY_SYMLINK] = { "key file is a symlink", RBX_FILE_KEY, "type", 0 },
    [U_WAL_SYMLINK] = { "-wal is a symlink", RBX_FILE_DATABASE, "type", 0 },
    [U_KEY_DIR] = { "key file is a directory", RBX_FILE_KEY, "type", 0 },
    [U_KEY_0644] = { "key file mode 0644", RBX_FILE_KEY, "mode", 0 },
    [U_KEY_0640] = { "key file mode 0640", RBX_FILE_KEY, "mode", 0 },
    [U_DB_0666] = { "database mode 0666", RBX_FILE_DATABASE, "mode", 0 },
    [U_DB_0644] = { "database mode 0644", RBX_FILE_DATABASE, "mode", 0 },
    [U_GEN_0644] = { "generation record mode 0644", RBX_FILE_GENERATION, "mode", 0 },
    [U_DIR_0777] = { "directory mode 0777", RBX_FILE_DIRECTORY, "mode", 0 },
    [U_DIR_0770] = { "directory mode 0770", RBX_FILE_DIRECTORY, "mode", 0 },
    [U_KEY_OWNER] = { "key file owned by another user", RBX_FILE_KEY, "owner", 1 },
    [U_DB_OWNER] = { "database owned by another user", RBX_FILE_DATABASE, "owner", 1 },
    [U_DIR_OWNER] = { "directory owned by another user", RBX_FILE_DIRECTORY, "owner", 1 },
};

START_TEST(open_refuses_unsafe)
{
    int c = _i;
    if (ucases[c].root_only && geteuid() != 0) {
        fprintf(stderr, "storefiles: %s: skipped (needs root to give a file away)\n", ucases[c].name);
        return;
    }
    char dir[PATHCAP], db[SIDECAP], key[SIDECAP], gen[SIDECAP], other[PATHCAP], wal[SIDECAP];
    path_of(dir, "s");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_uint_lt(strlen(dir), DIRCAP);
    snprintf(db, sizeof db, "%.*s/db", DIRCAP, dir);
    snprintf(key, sizeof key, "%.*s/db.key", DIRCAP, dir);
    snprintf(gen, sizeof gen, "%.*s/db.gen", DIRCAP, dir);
    snprintf(wal, sizeof wal, "%.*s/db-wal", DIRCAP, dir);
    make_store(db, NULL);
    path_of(other, "elsewhere.db");
    switch (c) {
    case U_KEY_FIFO:
        ck_assert_int_eq(unlink(key), 0);
        ck_assert_int_eq(mkfifo(key, 0600), 0);
        break;
    case U_GEN_FIFO:
        ck_assert_int_eq(unlink(gen), 0);
        ck_assert_int_eq(mkfifo(gen, 0600), 0);
        break;
    case U_DB_FIFO:
        ck_assert_int_eq(unlink(db), 0);
        ck_assert_int_eq(mkfifo(db, 0600), 0);
        break;
    case U_DB_SYMLINK:
        ck_assert_int_eq(rename(db, other), 0);
        ck_assert_int_eq(symlink(other, db), 0);
        break;
    case U_KEY_SYMLINK:
        copy_file(key, other);
        ck_assert_int_eq(unlink(key), 0);
        ck_assert_int_eq(symlink(other, key), 0);
        break;
    case U_WAL_SYMLINK:
        ck_assert_int_eq(symlink(other, wal), 0);
        break;
    case U_KEY_DIR:
        ck_assert_int_eq(unlink(key), 0);
        ck_assert_int_eq(mkdir(key, 0700), 0);
        break;
    case U_KEY_0644: ck_assert_int_eq(chmod(key, 0644), 0); break;
    case U_KEY_0640: ck_assert_int_eq(chmod(key, 0640), 0); break;
    case U_DB_0666: ck_assert_int_eq(chmod(db, 0666), 0); break;
    case U_DB_0644: ck_assert_int_eq(chmod(db, 0644), 0); break;
    case U_GEN_0644: ck_assert_int_eq(chmod(gen, 0644), 0); break;
    case U_DIR_0777: ck_assert_int_eq(chmod(dir, 0777), 0); break;
    case U_DIR_0770: ck_assert_int_eq(chmod(dir, 0770), 0); break;
    case U_KEY_OWNER: ck_assert_int_eq(chown(key, NOBODY, NOBODY), 0); break;
    case U_DB_OWNER: ck_assert_int_eq(chown(db, NOBODY, NOBODY), 0); break;
    case U_DIR_OWNER: ck_assert_int_eq(chown(dir, NOBODY, NOBODY), 0); break;
    default: ck_abort_msg("no case %d", c);
    }
    for (int create = 0; create <= 1; create++) {
        rbx_io_error e;
        int rc = try_open(db, create, &e);
        ck_assert_msg(rc == RBX_E_UNSAFE, "%s (create=%d): got %d (%s), want RBX_E_UNSAFE",
                      ucases[c].name, create, rc, rbx_strerror(rc));
        ck_assert_msg(e.file == ucases[c].file && e.op != NULL && strcmp(e.op, ucases[c].op) == 0,
                      "%s: detail file %d op %s, want file %d op %s", ucases[c].name, e.file,
                      e.op ? e.op : "(null)", ucases[c].file, ucases[c].op);
        ck_assert_int_eq(e.os_error, 0);
    }
    /* Nothing was made beside a symlink's target. */
    char tw[PATHCAP + 8];
    snprintf(tw, sizeof tw, "%s-wal", other);
    ck_assert_msg(!file_exists(tw), "%s: SQLite made %s", ucases[c].name, tw);
    /* Once put right, the store opens as it was. */
    switch (c) {
    case U_DIR_0777:
    case U_DIR_0770: ck_assert_int_eq(chmod(dir, 0700), 0); break;
    case U_KEY_0644:
    case U_KEY_0640: ck_assert_int_eq(chmod(key, 0600), 0); break;
    case U_DB_0666:
    case U_DB_0644: ck_assert_int_eq(chmod(db, 0600), 0); break;
    case U_GEN_0644: ck_assert_int_eq(chmod(gen, 0600), 0); break;
    case U_DB_OWNER: ck_assert_int_eq(chown(db, 0, 0), 0); break;
    default: return;
    }
    ck_assert_int_eq(try_open(db, 0, NULL), 0);
}
END_TEST

/* ------------------------------------------------------------ error detail */

START_TEST(open_error_detail)
{
    char db[PATHCAP], key[SIDECAP], gen[SIDECAP];
    rbx_io_error e;
    paths(db, key, gen, "d");
    ck_assert_int_eq(try_open(db, 0, &e), RBX_E_NOT_FOUND);
    ck_assert_int_eq(e.file, RBX_FILE_DATABASE);
    ck_assert_int_eq(e.os_error, ENOENT);
    make_store(db, NULL);

    size_t klen, glen;
    uint8_t *kb = slurp(key, &klen), *gb = slurp(gen, &glen);
    ck_assert_ptr_nonnull(kb);
    ck_assert_ptr_nonnull(gb);
    /* The key file is gone: not "no identity", but the key file. */
    ck_assert_int_eq(unlink(key), 0);
    for (int create = 0; create <= 1; create++) {
        ck_assert_int_eq(try_open(db, create, &e), RBX_E_NOT_FOUND);
        ck_assert_int_eq(e.file, RBX_FILE_KEY);
        ck_assert_int_eq(e.os_error, ENOENT);
    }
    /* A short key file. */
    spit(key, kb, 31);
    ck_assert_int_eq(try_open(db, 0, &e), RBX_E_CORRUPT);
    ck_assert_int_eq(e.file, RBX_FILE_KEY);
    spit(key, kb, klen);
    /* A damaged generation record: the record, not the database. */
    gb[glen - 1] ^= 1;
    spit(gen, gb, glen);
    ck_assert_int_eq(try_open(db, 0, &e), RBX_E_CORRUPT);
    ck_assert_int_eq(e.file, RBX_FILE_GENERATION);
    gb[glen - 1] ^= 1;
    spit(gen, gb, glen);
    /* Another store's key. */
    uint8_t other[32];
    randombytes_buf(other, sizeof other);
    spit(key, other, sizeof other);
    ck_assert_int_eq(try_open(db, 0, &e), RBX_E_STORAGE_KEY);
    ck_assert_int_eq(e.file, RBX_FILE_KEY);
    spit(key, kb, klen);
    ck_assert_int_eq(try_open(db, 0, &e), 0);
    ck_assert_int_eq(e.file, 0);
    free(kb);
    free(gb);
}
END_TEST

/* ------------------------------------------------------------ atomic creation */

START_TEST(create_is_atomic)
{
    char db[PATHCAP], key[SIDECAP], gen[SIDECAP], tmp[SIDECAP], ktmp[SIDECAP + 8];
    uint8_t pk[32], pk2[32];
    paths(db, key, gen, "c");
    snprintf(tmp, sizeof tmp, "%s.tmp", db);
    snprintf(ktmp, sizeof ktmp, "%s.tmp", key);

    /* (1) Stopped before the rename: temporary files only. No store; a new
     * creation replaces them. */
    make_store(db, pk);
    ck_assert_int_eq(rename(db, tmp), 0);
    ck_assert_int_eq(rename(key, ktmp), 0);
    ck_assert_int_eq(try_open(db, 0, NULL), RBX_E_NOT_FOUND);
    make_store(db, pk2);
    ck_assert_mem_ne(pk, pk2, 32);
    ck_assert_msg(!file_exists(tmp) && !file_exists(ktmp), "temporary files left behind");

    /* (2) Stopped between the renames: the database is in place, its key
     * is still <key>.tmp. Any open finishes it; the identity is kept. */
    ck_assert_int_eq(rename(key, ktmp), 0);
    rbx_store *st = store_open(db, 0);
    ck_assert_int_eq(rbx_store_identity(st, pk), 0);
    ck_assert_mem_eq(pk, pk2, 32);
    rbx_store_close(st);
    ck_assert_msg(file_exists(key) && !file_exists(ktmp), "the key was not put in place");

    /* (3) Database and key deleted by hand: the generation record left
     * behind (sealed under the old key) does not block a new store. */
    ck_assert_int_eq(unlink(db), 0);
    ck_assert_int_eq(unlink(key), 0);
    ck_assert_msg(file_exists(gen), "no generation record to leave behind");
    make_store(db, pk);
    ck_assert_mem_ne(pk, pk2, 32);

    /* (4) A log of a deleted store is not read as the new one's. */
    st = store_open(db, 0);
    ck_assert_int_eq(rbx_store_identity(st, pk2), 0);
    char wal[SIDECAP], saved[SIDECAP];
    snprintf(wal, sizeof wal, "%s-wal", db);
    snprintf(saved, sizeof saved, "%s.saved-wal", db);
    /* A log with frames: commits from a second connection while st holds
     * a read snapshot, so nothing is checkpointed away. */
    rbx_store *st2 = store_open(db, 0);
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t blen;
    ck_assert_int_eq(rbx_store_bundle(st2, bundle, sizeof bundle, &blen, 1), 0);
    copy_file(wal, saved);
    rbx_store_close(st2);
    rbx_store_close(st);
    ck_assert_int_eq(unlink(db), 0);
    ck_assert_int_eq(unlink(key), 0);
    copy_file(saved, wal);
    make_store(db, pk);
    ck_assert_mem_ne(pk, pk2, 32);
    db_integrity_ok(db);
    st = store_open(db, 0);
    uint64_t count, bad;
    ck_assert_int_eq(rbx_store_audit_verify(st, &count, &bad), 0);
    rbx_store_close(st);

    /* (5) A key file without its database is still refused (it may be the
     * key of a database that will be restored), and left alone. */
    ck_assert_int_eq(unlink(db), 0);
    rbx_io_error e;
    ck_assert_int_eq(try_open(db, 1, &e), RBX_E_EXISTS);
    ck_assert_int_eq(e.file, RBX_FILE_KEY);
    ck_assert_msg(file_exists(key) && !file_exists(db), "a refused creation changed the files");
}
END_TEST

/* ------------------------------------------------------------ erase steps */

enum { ERASE_EVERY = 8, BIG = 3000 };

static size_t file_hits(const char *path, const uint8_t *needle, size_t n)
{
    size_t len;
    uint8_t *b = slurp(path, &len);
    if (b == NULL) return 0;
    size_t hits = contains(b, len, needle, n) ? 1 : 0;
    free(b);
    return hits;
}

static size_t store_hits(const char *db, const uint8_t *needle, size_t n)
{
    static const char *const sfx[] = { "", "-wal", "-shm" };
    size_t hits = 0;
    for (size_t i = 0; i < 3; i++) {
        char p[PATHCAP + 8];
        snprintf(p, sizeof p, "%s%s", db, sfx[i]);
        hits += file_hits(p, needle, n);
    }
    return hits;
}

START_TEST(erase_steps)
{
    peer a, b;
    peer_new(&a, "a");
    peer_new(&b, "b");
    introduce(&a, "b", 1, &b);
    peer_close(&a);
    rbx_store_opts o = store_opts(0);
    o.erase_commits = ERASE_EVERY;
    o.erase_seconds = 1000000;
    ck_assert_int_eq(rbx_store_open(&a.st, a.db, &o), 0);
    /* Period 1 (4 commits): two big messages into the outbox, then their
     * acks delete them. Their bytes are in the log's long period. */
    uint8_t pt[BIG], w1[BIG + 200], w2[BIG + 200];
    size_t l1, l2;
    uint64_t id1, id2;
    randombytes_buf(pt, sizeof pt);
    ck_assert_int_eq(rbx_store_encrypt(a.st, w1, sizeof w1, &l1, &id1, "b", 1, pt, sizeof pt, NULL), 0);
    ck_assert_int_eq(rbx_store_encrypt(a.st, w2, sizeof w2, &l2, &id2, "b", 1, pt, sizeof pt, NULL), 0);
    ck_assert_int_eq(rbx_store_ack_outbox(a.st, id1), 0);
    ck_assert_int_eq(rbx_store_ack_outbox(a.st, id2), 0); /* commit 4: a step */
    const uint8_t *n1 = w1 + l1 / 2, *n2 = w2 + l2 / 2;
    ck_assert_msg(store_hits(a.db, n1, 32) + store_hits(a.db, n2, 32) > 0,
                  "right after one step the deleted ciphertexts must still be in the log "
                  "(else this test cannot fail)");
    /* Period 2 (4 short commits) overwrites only the start of period 1;
     * the step at its end zeroes the rest. */
    for (int i = 0; i < 2; i++) {
        msg m;
        tx(&m, &a, "b", 1, "x");
        ck_assert_int_eq(rbx_store_ack_outbox(a.st, m.id), 0);
    }
    ck_assert_uint_eq(store_hits(a.db, n1, 32), 0);
    ck_assert_uint_eq(store_hits(a.db, n2, 32), 0);
    ck_assert_uint_eq(rbx_store_deferred(a.st, NULL), 0);
    /* A full erase point leaves a log of zeros, of its size. */
    ck_assert_int_eq(rbx_store_erase_now(a.st), 0);
    char wal[PATHCAP + 8];
    snprintf(wal, sizeof wal, "%s-wal", a.db);
    size_t wl;
    uint8_t *wb = slurp(wal, &wl);
    ck_assert_ptr_nonnull(wb);
    ck_assert_uint_gt(wl, 0);
    ck_assert_msg(sodium_is_zero(wb, wl), "the log is not all zeros after an erase point");
    free(wb);
    /* And the store goes on. */
    msg m;
    tx(&m, &a, "b", 1, "after the erase");
    ck_assert_int_eq(rx(&b, NULL, "a", 1, &m, "after the erase"), 0);
    peer_close(&a);
    peer_close(&b);
}
END_TEST

/* ------------------------------------------------------------ deferred work */

START_TEST(deferred_after_commit)
{
    peer a, b;
    pair_talking(&a, &b);
    rbx_io_error cause;
    msg m1, m2;
    q_exec(b.st, "DELETE FROM outbox"); /* pair_talking's reply: delivered */
    tx(&m1, &a, "bob", 1, "one");
    tx(&m2, &a, "bob", 1, "two");

    /* The record cannot be written (its descriptor made read-only). */
    char gen[PATHCAP];
    side_path(gen, &b, ".gen");
    int good = b.st->sidecar_fd;
    b.st->sidecar_fd = open(gen, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(b.st->sidecar_fd, 0);
    /* A decrypt commits: it is accepted, returned, and the raise is owed. */
    rbx_received info;
    ck_assert_int_eq(rx(&b, &info, a.fp, 1, &m1, "one"), 0);
    ck_assert_int_eq(info.redelivered, 0);
    ck_assert_uint_eq(rbx_store_deferred(b.st, &cause), RBX_DEFERRED_RECORD);
    ck_assert_int_eq(cause.file, RBX_FILE_GENERATION);
    ck_assert_int_eq(cause.os_error, EBADF);
    ck_assert_str_eq(cause.op, "write");
    /* An encrypt commits but releases nothing: RBX_E_IO, the ciphertext in
     * the outbox, and outbox_next refuses while the record cannot rise. */
    uint8_t w[WIRECAP], ob[WIRECAP];
    size_t wl = 99, obl;
    uint64_t id = 99, obid;
    char nm[RBX_NAME_MAX];
    uint32_t dev;
    ck_assert_int_eq(rbx_store_encrypt(b.st, w, sizeof w, &wl, &id, a.fp, 1,
                                       (const uint8_t *)"back", 4, NULL), RBX_E_IO);
    ck_assert_uint_eq(wl, 0);
    ck_assert_uint_eq(id, 0);
    ck_assert_int_eq(q_int(b.st, "SELECT count(*) FROM outbox"), 1);
    ck_assert_int_eq(rbx_store_outbox_next(b.st, ob, sizeof ob, &obl, &obid, nm, &dev), RBX_E_IO);
    /* Storage works again: the outbox entry goes out, covered by the record. */
    close(b.st->sidecar_fd);
    b.st->sidecar_fd = good;
    ck_assert_int_eq(rbx_store_outbox_next(b.st, ob, sizeof ob, &obl, &obid, nm, &dev), 0);
    ck_assert_uint_eq(rbx_store_deferred(b.st, NULL), 0);
    ck_assert_int_eq(rx_raw(&a, NULL, "bob", 1, ob, obl, "back"), 0);
    ck_assert_int_eq(rbx_store_ack_outbox(b.st, obid), 0);

    /* Strict mode, a reader holding the log: the erase point after the
     * COMMIT cannot finish. The message is accepted all the same. */
    rbx_policy pol;
    ck_assert_int_eq(rbx_store_policy(b.st, &pol), 0);
    pol.storage_mode = RBX_STORE_STRICT;
    ck_assert_int_eq(rbx_store_set_policy(b.st, &pol), 0);
    sqlite3_busy_timeout(rbx__store_db(b.st), 1);
    sqlite3 *reader;
    ck_assert_int_eq(sqlite3_open_v2(b.db, &reader, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM meta;", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(rx(&b, &info, a.fp, 1, &m2, "two"), 0);
    ck_assert_uint_eq(rbx_store_deferred(b.st, &cause), RBX_DEFERRED_ERASE);
    ck_assert_int_eq(cause.file, RBX_FILE_DATABASE);
    /* Redelivery says the same: accepted, once. */
    ck_assert_int_eq(rx(&b, &info, a.fp, 1, &m2, "two"), 0);
    ck_assert_int_eq(info.redelivered, 1);
    ck_assert_int_eq(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    /* The next commit takes the owed erase point. */
    ck_assert_int_eq(rbx_store_ack_inbox(b.st, info.inbox_id), 0);
    ck_assert_uint_eq(rbx_store_deferred(b.st, NULL), 0);
    peer_close(&a);
    peer_close(&b);
}
END_TEST

Suite *suite_storefiles(void)
{
    Suite *s = suite_create("storefiles");
    TCase *tc = tcase_create("unsafe");
    dir_fixtures(tc, dir_setup, 10);
    tcase_add_loop_test(tc, open_refuses_unsafe, 0, U_COUNT);
    suite_add_tcase(s, tc);
    tc = tcase_create("detail");
    dir_fixtures(tc, dir_setup, 30);
    tcase_add_test(tc, open_error_detail);
    suite_add_tcase(s, tc);
    tc = tcase_create("create");
    dir_fixtures(tc, dir_setup, 30);
    tcase_add_test(tc, create_is_atomic);
    suite_add_tcase(s, tc);
    tc = tcase_create("erase");
    dir_fixtures(tc, dir_setup, 30);
    tcase_add_test(tc, erase_steps);
    suite_add_tcase(s, tc);
    tc = tcase_create("deferred");
    dir_fixtures(tc, dir_setup, 30);
    tcase_add_test(tc, deferred_after_commit);
    suite_add_tcase(s, tc);
    return s;
}
