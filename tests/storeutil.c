/* SPDX-License-Identifier: MIT
 * Shared helpers for the suites that drive real stores (storeutil.h). */
#include <dirent.h>
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

/* ------------------------------------------------------------ temporary directory */

/* One directory per test case (made in the runner process, so it is removed
 * even when a forked test dies) holding one mkdtemp directory per test. */
char g_root[64];
char g_dir[96];

void rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                char sub[PATHCAP];
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_tree(sub);
            }
            closedir(d);
        }
        (void)rmdir(path);
    } else {
        (void)unlink(path);
    }
}

void root_setup(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/rbx-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_root));
}

void root_teardown(void)
{
    if (g_root[0] != '\0') rm_tree(g_root);
    g_root[0] = '\0';
}

void dir_setup(void)
{
    g_now = TEST_T0;
    snprintf(g_dir, sizeof g_dir, "%s/test-XXXXXX", g_root);
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

void dir_teardown(void)
{
    if (g_dir[0] != '\0') rm_tree(g_dir);
    g_dir[0] = '\0';
}

void dir_fixtures(TCase *tc, void (*setup)(void), double timeout_s)
{
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, dir_teardown);
    tcase_set_timeout(tc, timeout_s);
}

void path_of(char out[PATHCAP], const char *name)
{
    snprintf(out, PATHCAP, "%s/%s", g_dir, name);
}

void db_path(char out[PATHCAP], const char *name)
{
    snprintf(out, PATHCAP, "%s/%s.db", g_dir, name);
}

size_t dir_entries(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------ files */

int file_exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Whole file, malloc'ed with one spare byte (NUL); NULL if it does not exist. */
uint8_t *slurp(const char *path, size_t *len)
{
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n + 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

void spit(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_msg(fd >= 0, "cannot write %s", path);
    if (len > 0) ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = slurp(from, &n);
    ck_assert_msg(b != NULL, "cannot read %s", from);
    spit(to, b, n);
    free(b);
}

/* Copy if from exists, else make sure to does not. */
void copy_or_remove(const char *from, const char *to)
{
    if (file_exists(from)) copy_file(from, to);
    else (void)unlink(to);
}

/* Offset of needle in hay; aborts the test if absent. */
size_t find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return i;
    ck_abort_msg("bytes not found");
    return 0;
}

int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0) return 1;
    return 0;
}

void assert_file(const char *path, const uint8_t *want, size_t wantlen)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    ck_assert_msg(b != NULL, "%s is gone", path);
    ck_assert_msg(n == wantlen && (n == 0 || memcmp(b, want, n) == 0), "%s changed", path);
    free(b);
}

/* ------------------------------------------------------------ stores */


int64_t g_now = TEST_T0;

int64_t store_test_clock(void *ctx)
{
    (void)ctx;
    /* abort, not ck_abort: the caller may be a kill harness's child, where a
     * Check failure (in CK_FORK=no, a longjmp into the runner) goes astray. */
    if (g_now == 0) {
        fprintf(stderr, "storeutil: the test clock g_now is 0; no store may read the wall clock\n");
        abort();
    }
    return g_now;
}

rbx_store_opts store_opts(int create)
{
    rbx_store_opts o = { 0 };
    o.create = create;
    o.clock = store_test_clock;
    return o;
}

rbx_store *store_open(const char *db, int create)
{
    rbx_store_opts o = store_opts(create);
    rbx_store *st = NULL;
    int rc = rbx_store_open(&st, db, &o);
    ck_assert_msg(rc == 0, "open %s: %s", db, rbx_strerror(rc));
    ck_assert_ptr_nonnull(st);
    return st;
}

/* A new store <dir>/<name>.db with a generated identity. */
void peer_new(peer *p, const char *name)
{
    memset(p, 0, sizeof *p);
    snprintf(p->db, sizeof p->db, "%s/%s.db", g_dir, name);
    p->st = store_open(p->db, 1);
    ck_assert_int_eq(rbx_store_identity_create(p->st, NULL, NULL), 0);
    ck_assert_int_eq(rbx_store_identity(p->st, p->pk), 0);
    rbx_fingerprint(p->fp, p->pk);
}

void peer_close(peer *p)
{
    rbx_store_close(p->st);
    p->st = NULL;
}

void peer_reopen(peer *p)
{
    rbx_store_close(p->st);
    p->st = store_open(p->db, 0);
}

void side_path(char out[PATHCAP], const peer *p, const char *suffix)
{
    snprintf(out, PATHCAP, "%s%s", p->db, suffix);
}

size_t fresh_bundle(uint8_t bundle[RBX_BUNDLE_MAXBYTES], peer *b)
{
    size_t n = 0;
    ck_assert_int_eq(rbx_store_bundle(b->st, bundle, RBX_BUNDLE_MAXBYTES, &n, 10), 0);
    ck_assert_uint_gt(n, 0);
    return n;
}

/* a records a fresh bundle of b as (name, device). */
void introduce(peer *a, const char *name, uint32_t device, peer *b)
{
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t n = fresh_bundle(bundle, b);
    int rc = rbx_store_add_contact(a->st, name, device, bundle, n);
    ck_assert_msg(rc == 0, "add_contact %s: %s", name, rbx_strerror(rc));
}


void tx(msg *m, peer *from, const char *to, uint32_t device, const char *text)
{
    memset(m, 0, sizeof *m);
    int rc = rbx_store_encrypt(from->st, m->wire, sizeof m->wire, &m->len, &m->id, to, device,
                               (const uint8_t *)text, strlen(text), NULL);
    ck_assert_msg(rc == 0, "encrypt \"%s\": %s", text, rbx_strerror(rc));
    ck_assert_uint_gt(m->len, 0);
    ck_assert_uint_gt(m->id, 0);
}

/* The store's decrypt; on success the plaintext must be want (if not NULL). */
int rx_raw(peer *p, rbx_received *info, const char *name, uint32_t device,
                  const uint8_t *wire, size_t len, const char *want)
{
    uint8_t pt[WIRECAP];
    size_t ptlen = 777;
    rbx_received tmp;
    if (info == NULL) info = &tmp;
    int rc = rbx_store_decrypt(p->st, pt, sizeof pt, &ptlen, info, name, device, wire, len);
    if (rc == 0 && want != NULL) {
        ck_assert_uint_eq(ptlen, strlen(want));
        ck_assert_mem_eq(pt, want, ptlen);
    }
    if (rc != 0) {
        ck_assert_uint_eq(ptlen, 0);
        ck_assert_uint_eq(info->new_contact, 0);
        ck_assert_uint_eq(info->inbox_id, 0);
    }
    return rc;
}

int rx(peer *p, rbx_received *info, const char *name, uint32_t device, const msg *m,
              const char *want)
{
    return rx_raw(p, info, name, device, m->wire, m->len, want);
}

/* Two fresh stores that have exchanged one message each way: Alice knows
 * Bob as ("bob", 1), Bob knows Alice under her fingerprint. */
void pair_talking(peer *alice, peer *bob)
{
    msg m;
    rbx_received info;
    peer_new(alice, "alice");
    peer_new(bob, "bob");
    introduce(alice, "bob", 1, bob);
    tx(&m, alice, "bob", 1, "a0");
    ck_assert_int_eq(rx(bob, &info, NULL, 1, &m, "a0"), 0);
    tx(&m, bob, alice->fp, 1, "b0");
    ck_assert_int_eq(rx(alice, &info, "bob", 1, &m, "b0"), 0);
}

/* Encrypt to (name, device) expecting a refusal; out must stay empty. */
int tx_fails(peer *from, const char *to, uint32_t device)
{
    uint8_t out[WIRECAP];
    size_t outlen = 99;
    uint64_t id = 99;
    int rc = rbx_store_encrypt(from->st, out, sizeof out, &outlen, &id, to, device,
                               (const uint8_t *)"nope", 4, NULL);
    ck_assert_int_ne(rc, 0);
    ck_assert_uint_eq(outlen, 0);
    ck_assert_uint_eq(id, 0);
    return rc;
}

/* ------------------------------------------------------------ SQL views */

int64_t q_int(rbx_store *st, const char *sql)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st), sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

char *q_text(rbx_store *st, const char *sql)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st), sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(s, 0);
    char *r = strdup(t != NULL ? (const char *)t : "");
    ck_assert_ptr_nonnull(r);
    sqlite3_finalize(s);
    return r;
}

uint8_t *q_blob(rbx_store *st, const char *sql, size_t *len)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st), sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_type(s, 0), SQLITE_BLOB);
    *len = (size_t)sqlite3_column_bytes(s, 0);
    uint8_t *b = malloc(*len + 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b, sqlite3_column_blob(s, 0), *len);
    sqlite3_finalize(s);
    return b;
}

/* Run an UPDATE with one blob parameter, behind the store's back. */
void q_set_blob(rbx_store *st, const char *sql, const uint8_t *b, size_t len)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(rbx__store_db(st), sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_bind_blob(s, 1, b, (int)len, SQLITE_TRANSIENT), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    ck_assert_int_eq(sqlite3_changes(rbx__store_db(st)), 1);
}

void q_exec(rbx_store *st, const char *sql)
{
    ck_assert_int_eq(sqlite3_exec(rbx__store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
}

void sql_on_file(const char *db, const char *sql)
{
    sqlite3 *h;
    int existed = file_exists(db);
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
    ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
    /* A database made here is the user's own (0600, as the store makes its
     * files): a store refuses one that others may read (RBX_E_UNSAFE). */
    if (!existed) ck_assert_int_eq(chmod(db, 0600), 0);
}

int64_t sql_int_on_file(const char *db, const char *sql)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    int rc = sqlite3_prepare_v2(h, sql, -1, &s, NULL);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_type(s, 0), SQLITE_INTEGER);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    ck_assert_int_eq(sqlite3_close(h), SQLITE_OK);
    return v;
}

void db_integrity_ok(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    const char *res = (const char *)sqlite3_column_text(s, 0);
    ck_assert_msg(res != NULL && strcmp(res, "ok") == 0, "%s: integrity_check: %s", path,
                  res != NULL ? res : "(null)");
    sqlite3_finalize(s);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* Every row of every table but the audit log (and the integrity record,
 * which holds the generation its own commit takes and the audit head's
 * hash) as one string: "nothing changed" is strcmp == 0; a refusal may be
 * recorded in the log and must change nothing else. */
char *store_dump(rbx_store *st)
{
    return q_text(st,
        "SELECT"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT k || '=' || hex(v) AS r"
        "   FROM meta WHERE k NOT IN ('audit_head', 'integrity') ORDER BY k)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT seq || hex(pk) || ifnull(hex(sk), '-')"
        "   || grace_until AS r FROM old_identities ORDER BY seq)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT seq || hex(record) AS r"
        "   FROM rotations ORDER BY seq)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT id || ':' || contact || hex(state)"
        "   || until || ':' || generation AS r FROM retired_sessions ORDER BY id)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT spk || ':' || hex(base_key) AS r"
        "   FROM handshakes ORDER BY spk, base_key)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT contact || hex(identity) AS r"
        "   FROM contact_keys ORDER BY contact, identity)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT id || ':' || rot_seq || ':' ||"
        "   ifnull(hex(rot_hash), '-') || ':' || ifnull(hex(org), '-') || ':' || hex(pin) AS r"
        "   FROM contacts ORDER BY id)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT hex(org) || hex(identity) AS r"
        "   FROM revocations ORDER BY org, identity)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT hex(pk) || hex(sk) AS r"
        "   FROM identity)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT id || hex(pk) || hex(sk) || hex(sig)"
        "   AS r FROM signed_prekeys ORDER BY id)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT id || ':' || offered || ':' ||"
        "   ifnull(hex(sk), '-') AS r FROM onetime_prekeys ORDER BY id)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT id || ':' || name || ':' || device"
        "   || ':' || hex(identity) || ':' || ifnull(hex(bundle), '-') AS r FROM contacts"
        "   ORDER BY id)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT contact || ':' || generation || ':'"
        "   || rolled_back || ':' || hex(base_key) || hex(state) AS r FROM sessions"
        "   ORDER BY contact)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT id || ':' || contact || ':' ||"
        "   hex(wire) AS r FROM outbox ORDER BY id)) || '|' ||"
        " (SELECT ifnull(group_concat(r, ';'), '') FROM (SELECT id || ':' || contact || ':' ||"
        "   hex(digest) || ':' || generation || ':' || hex(pt) AS r FROM inbox ORDER BY id))");
}

void assert_unchanged(rbx_store *st, const char *before)
{
    char *now = store_dump(st);
    ck_assert_msg(strcmp(now, before) == 0, "the database changed");
    free(now);
}

uint64_t session_gen(peer *p, const char *name, uint32_t device, rbx_session_info *info)
{
    rbx_session_info tmp;
    uint64_t gen = 0;
    int rc = rbx_store_session_info(p->st, info != NULL ? info : &tmp, &gen, name, device);
    ck_assert_msg(rc == 0, "session_info %s/%u: %s", name, device, rbx_strerror(rc));
    return gen;
}
