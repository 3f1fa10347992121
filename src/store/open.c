/* SPDX-License-Identifier: MIT
 * Opening and closing a store (PROTOCOL.md "State and storage"): the
 * storage key file and the generation record, the schema and its forward
 * migrations, the key check, rollback detection, and the policy applied to
 * the handle. The store's top floor: it calls db.c, audit.c, policy.c and
 * sessions.c, and nothing in the store calls it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "store_int.h"

#define BUSY_TIMEOUT_MS 15000
#define RBX_PAGE_SIZE 2048
#define RBX_STR_(x) #x
#define RBX_STR(x) RBX_STR_(x)

/* ------------------------------------------------------------ schema */

static const char schema_v1[] =
    "CREATE TABLE meta (k TEXT PRIMARY KEY, v ANY NOT NULL) STRICT;"
    "CREATE TABLE identity (id INTEGER PRIMARY KEY CHECK (id = 1), pk BLOB NOT NULL,"
    "  sk BLOB NOT NULL) STRICT;"
    "CREATE TABLE signed_prekeys (id INTEGER PRIMARY KEY, pk BLOB NOT NULL, sk BLOB NOT NULL,"
    "  sig BLOB NOT NULL, created INTEGER NOT NULL) STRICT;"
    "CREATE TABLE onetime_prekeys (id INTEGER PRIMARY KEY, pk BLOB NOT NULL, sk BLOB,"
    "  offered INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, device INTEGER NOT NULL,"
    "  identity BLOB NOT NULL, pin BLOB, bundle BLOB, UNIQUE (name, device)) STRICT;"
    "CREATE INDEX contacts_identity ON contacts (identity);"
    "CREATE TABLE sessions (contact INTEGER PRIMARY KEY REFERENCES contacts (id),"
    "  generation INTEGER NOT NULL, rolled_back INTEGER NOT NULL DEFAULT 0,"
    "  base_key BLOB NOT NULL, state BLOB NOT NULL) STRICT;"
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, contact INTEGER NOT NULL REFERENCES contacts (id),"
    "  wire BLOB NOT NULL, created INTEGER NOT NULL) STRICT;"
    "CREATE TABLE inbox (id INTEGER PRIMARY KEY, contact INTEGER NOT NULL REFERENCES contacts (id),"
    "  digest BLOB NOT NULL UNIQUE, generation INTEGER NOT NULL, pt BLOB NOT NULL,"
    "  created INTEGER NOT NULL) STRICT;";

/* Version 2 (issue 6): policy, audit log, identity rotation (old identities
 * and their records, the identity that signed each prekey and started each
 * session, sessions kept for a grace window, contacts' rotation chain tips,
 * earlier keys and organisation roots), organisation keys and revocations,
 * and the history archive with its epoch keys. */
static const char schema_v2[] =
    "CREATE TABLE policy (k TEXT PRIMARY KEY, v ANY NOT NULL) STRICT;"
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL,"
    "  detail TEXT NOT NULL, hash BLOB NOT NULL) STRICT;"
    "CREATE TABLE old_identities (seq INTEGER PRIMARY KEY, pk BLOB NOT NULL, sk BLOB,"
    "  retired INTEGER NOT NULL, grace_until INTEGER NOT NULL) STRICT;"
    "CREATE TABLE rotations (seq INTEGER PRIMARY KEY, record BLOB NOT NULL) STRICT;"
    "ALTER TABLE signed_prekeys ADD COLUMN ik INTEGER NOT NULL DEFAULT 0;"
    /* 1: the signature covers the creation time (the v2 statement). */
    "ALTER TABLE signed_prekeys ADD COLUMN stated INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN ik INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE retired_sessions (id INTEGER PRIMARY KEY,"
    "  contact INTEGER NOT NULL REFERENCES contacts (id), base_key BLOB NOT NULL,"
    "  until INTEGER NOT NULL, state BLOB NOT NULL) STRICT;"
    "ALTER TABLE contacts ADD COLUMN rot_seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE contacts ADD COLUMN rot_hash BLOB;"
    "ALTER TABLE contacts ADD COLUMN org BLOB;"
    "CREATE TABLE contact_keys (contact INTEGER NOT NULL REFERENCES contacts (id),"
    "  identity BLOB NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (contact, identity)) STRICT;"
    "CREATE TABLE org (id INTEGER PRIMARY KEY CHECK (id = 1), pk BLOB NOT NULL,"
    "  sk BLOB NOT NULL) STRICT;"
    "CREATE TABLE certificate (id INTEGER PRIMARY KEY CHECK (id = 1), cert BLOB NOT NULL) STRICT;"
    "CREATE TABLE revocations (org BLOB NOT NULL, identity BLOB NOT NULL, record BLOB NOT NULL,"
    "  PRIMARY KEY (org, identity)) STRICT;"
    "CREATE TABLE archive_epochs (epoch INTEGER PRIMARY KEY, key BLOB, created INTEGER NOT NULL,"
    "  retain_until INTEGER, state INTEGER NOT NULL) STRICT;"
    "CREATE TABLE archive (id INTEGER PRIMARY KEY, session BLOB NOT NULL, seq INTEGER NOT NULL,"
    "  epoch INTEGER NOT NULL, peer TEXT NOT NULL, direction INTEGER NOT NULL,"
    "  created INTEGER NOT NULL, ct BLOB NOT NULL, UNIQUE (session, seq)) STRICT;"
    "CREATE INDEX archive_epoch ON archive (epoch);";

/* Version 3 (issue 16): users with several devices (PROTOCOL.md 21.8):
 * this store's account, the pins of users' device lists, their verified
 * devices (each with its contact row), and sends to users with their
 * envelopes (the plaintext sealed for re-sends). */
static const char schema_v3[] =
    "CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), user TEXT NOT NULL,"
    "  device INTEGER NOT NULL, regid INTEGER NOT NULL, entry BLOB NOT NULL) STRICT;"
    "CREATE TABLE users (user TEXT PRIMARY KEY, seq INTEGER NOT NULL, first_hash BLOB, hash BLOB,"
    "  created INTEGER NOT NULL DEFAULT 0, anchor_seq INTEGER NOT NULL DEFAULT 0,"
    "  anchor_hash BLOB, org BLOB) STRICT;"
    "CREATE TABLE user_devices (user TEXT NOT NULL, device INTEGER NOT NULL,"
    "  identity BLOB NOT NULL, added_seq INTEGER NOT NULL, regid INTEGER NOT NULL DEFAULT 0,"
    "  contact INTEGER REFERENCES contacts (id), retry_asked INTEGER NOT NULL DEFAULT 0,"
    "  retry_served INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (user, device)) STRICT;"
    "CREATE TABLE sends (id INTEGER PRIMARY KEY, message_id BLOB NOT NULL UNIQUE,"
    "  to_user TEXT NOT NULL, kind INTEGER NOT NULL, ctype INTEGER NOT NULL,"
    "  cflags INTEGER NOT NULL, cid BLOB NOT NULL, state INTEGER NOT NULL,"
    "  created INTEGER NOT NULL, generation INTEGER NOT NULL, pt BLOB) STRICT;"
    "CREATE INDEX sends_cid ON sends (cid);"
    "CREATE TABLE send_envelopes (send INTEGER NOT NULL REFERENCES sends (id), user TEXT NOT NULL,"
    "  device INTEGER NOT NULL, regid INTEGER NOT NULL, identity BLOB NOT NULL, wire BLOB,"
    "  PRIMARY KEY (send, user, device)) STRICT, WITHOUT ROWID;";

/* Forward migrations: migrations[v] takes a database from version v to v + 1.
 * Version 0 is an empty database. */
static const char *const migrations[RBX_SCHEMA_VERSION] = { schema_v1, schema_v2, schema_v3 };

static int create_meta(rbx_store *st)
{
    uint8_t check[RBX_ROW_OVERHEAD + 32], zero[32] = { 0 };
    size_t n;
    uint8_t *kc = rbx__row_seal(&n, st->key, "meta", 0, 0, "keycheck", zero, sizeof zero);
    if (kc == NULL) return RBX_E_NOMEM;
    memcpy(check, kc, n);
    free(kc);
    randombytes_buf(st->store_id, sizeof st->store_id);
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s,
                  "INSERT INTO meta (k, v) VALUES ('keycheck', ?1), ('store_id', ?2),"
                  " ('generation', 0), ('created', ?3)");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, check, (int)n, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 2, st->store_id, sizeof st->store_id, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, rbx__st_now(st));
    rc = rbx__st_step(s);
    rbx__st_done(st, s);
    return rc < 0 ? rc : 0;
}

/* What is in an existing file, read without writing anything: a failed open
 * must leave a foreign, newer or damaged database byte-identical. */
static int identify(rbx_store *st, int64_t *version)
{
    int64_t appid = 0, objects = 0;
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT (SELECT user_version FROM pragma_user_version),"
                          " (SELECT application_id FROM pragma_application_id),"
                          " (SELECT count(*) FROM sqlite_schema)");
    if (rc != 0) return rc;
    if ((rc = rbx__st_step(s)) == 1) {
        *version = sqlite3_column_int64(s, 0);
        appid = sqlite3_column_int64(s, 1);
        objects = sqlite3_column_int64(s, 2);
    }
    rbx__st_done(st, s);
    if (rc != 1) return rc == 0 ? RBX_E_CORRUPT : rc;
    /* ratchetbox creates and initialises a database in one call, so an
     * existing one is never empty or unmarked. */
    if (appid != RBX_APPLICATION_ID || *version <= 0 || objects == 0) return RBX_E_CORRUPT;
    if (*version > RBX_SCHEMA_VERSION) return RBX_E_SCHEMA;
    return 0;
}

/* Bring the schema from version to RBX_SCHEMA_VERSION in one transaction;
 * version 0 is a database this call just created. */
static int migrate(rbx_store *st, int64_t version)
{
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    for (int64_t v = version; v < RBX_SCHEMA_VERSION; v++)
        if ((rc = rbx__st_exec(st, migrations[v])) != 0) goto fail;
    if (version == 0 && (rc = create_meta(st)) != 0) goto fail;
    if (version < 2 && ((rc = rbx__audit_init(st)) != 0 || (rc = rbx__policy_init(st)) != 0 ||
                        (rc = rbx__audit(st, version == 0 ? "store created" : "store migrated",
                                         "schema %d", RBX_SCHEMA_VERSION)) != 0))
        goto fail;
    char pragma[96];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d; PRAGMA application_id = %d",
             RBX_SCHEMA_VERSION, RBX_APPLICATION_ID);
    if (version != RBX_SCHEMA_VERSION && (rc = rbx__st_exec(st, pragma)) != 0) goto fail;
    return rbx__sql_err(sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL));
fail:
    rbx__st_rollback(st);
    return rc;
}

/* ------------------------------------------------------------ open / close */

static char *path_with(const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (p != NULL) snprintf(p, n, "%s%s", base, suffix);
    return p;
}

/* Read exactly 32 bytes, or create the file (0600, O_EXCL) with fresh ones. */
static int key_file(uint8_t key[32], const char *path, int create)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) return RBX_E_IO;
        randombytes_buf(key, 32);
        int ok = write(fd, key, 32) == 32 && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok) {
            WIPE_BUF(key, 32);
            (void)unlink(path);
            return RBX_E_IO;
        }
        return 0;
    }
    if (fd < 0) return errno == ENOENT ? RBX_E_NOT_FOUND : RBX_E_IO;
    uint8_t buf[33];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int rc = n == 32 ? 0 : n < 0 ? RBX_E_IO : RBX_E_CORRUPT;
    if (rc == 0) memcpy(key, buf, 32);
    WIPE(buf);
    return rc;
}

static int check_key_and_load(rbx_store *st)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT (SELECT v FROM meta WHERE k = 'keycheck'),"
                          " (SELECT v FROM meta WHERE k = 'store_id')");
    if (rc != 0) return rc;
    if ((rc = rbx__st_step(s)) == 1) {
        /* The type first: after a conversion sqlite3_column_type is undefined. */
        int blob = sqlite3_column_type(s, 0) == SQLITE_BLOB;
        const uint8_t *kc = sqlite3_column_blob(s, 0);
        size_t kclen = (size_t)sqlite3_column_bytes(s, 0);
        const uint8_t *id = sqlite3_column_blob(s, 1);
        uint8_t zero[32];
        size_t n;
        rc = RBX_E_CORRUPT;
        if (blob && kc != NULL && id != NULL && sqlite3_column_bytes(s, 1) == 16) {
            memcpy(st->store_id, id, 16);
            rc = rbx__row_open(zero, sizeof zero, &n, st->key, "meta", 0, 0, "keycheck", kc, kclen);
            rc = rc == RBX_E_CORRUPT ? RBX_E_STORAGE_KEY : rc;
            if (rc == 0 && (n != 32 || !sodium_is_zero(zero, 32))) rc = RBX_E_CORRUPT;
        }
    } else if (rc == 0) {
        rc = RBX_E_CORRUPT;
    }
    rbx__st_done(st, s);
    return rc;
}

/* Compare the database with its sidecar; mark every session rolled back if
 * the database is older than what was already released. */
static int check_rollback_locked(rbx_store *st)
{
    int64_t dbgen = 0, sidegen = 0;
    int rc = rbx__st_sidecar_read(st, &sidegen);
    if (rc != 0 || (rc = rbx__st_meta_get(st, "generation", &dbgen)) != 0) return rc;
    /* A lost sidecar on a used database could hide a rollback: be safe. */
    int rolled = sidegen > dbgen || (sidegen < 0 && dbgen > 0);
    if (rolled) {
        if ((rc = rbx__st_begin(st)) != 0) return rc;
        if ((rc = rbx__st_mark_rolled_back(st)) != 0) {
            rbx__st_rollback(st);
            return rc;
        }
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, "UPDATE meta SET v = ?1 WHERE k = 'generation'")) != 0) {
            rbx__st_rollback(st);
            return rc;
        }
        int64_t newgen = (sidegen > dbgen ? sidegen : dbgen) + 1;
        sqlite3_bind_int64(s, 1, newgen);
        rc = rbx__st_step(s);
        rbx__st_done(st, s);
        if (rc >= 0)
            rc = rbx__audit(st, "rollback detected", "database generation %lld, record %lld",
                            (long long)dbgen, (long long)sidegen);
        if (rc < 0) {
            rbx__st_rollback(st);
            return rc;
        }
        return rbx__st_commit(st, newgen);
    }
    if (sidegen < 0) return rbx__st_sidecar_raise(st, dbgen, 1);
    return 0;
}

/* Writers raise the record only after their COMMIT, under this lock; so with
 * the lock held, the database generation read now is at least the record's
 * unless the database really went back. Without the lock, an open racing a
 * writer could see the record raised past the generation it read a moment
 * earlier and report a rollback that did not happen. */
static int check_rollback(rbx_store *st)
{
    while (flock(st->sidecar_fd, LOCK_EX) != 0)
        if (errno != EINTR) return RBX_E_IO;
    int rc = check_rollback_locked(st);
    (void)flock(st->sidecar_fd, LOCK_UN);
    return rc;
}

int rbx_store_open(rbx_store **out, const char *db_path, const rbx_store_opts *opts)
{
    *out = NULL;
    rbx_store_opts o = { 0 };
    if (opts != NULL) o = *opts;
    if (o.mode != RBX_STORE_BOUNDED && o.mode != RBX_STORE_STRICT) return RBX_E_INVALID;
    rbx_store *st = calloc(1, sizeof *st);
    if (st == NULL) return RBX_E_NOMEM;
    st->sidecar_fd = -1;
    st->mode = st->opened_mode = o.mode;
    st->clock = o.clock;
    st->clock_ctx = o.clock_ctx;
    st->max_skip = RBX_MAX_SKIP;
    st->max_skipped = RBX_MAX_SKIPPED_KEYS;
    st->erase_commits = o.erase_commits ? o.erase_commits : RBX_STORE_ERASE_COMMITS;
    st->erase_seconds = o.erase_seconds ? o.erase_seconds : RBX_STORE_ERASE_SECONDS;
    st->last_erase_ms = rbx__st_mono_ms();
    char *keypath = o.key_path ? NULL : path_with(db_path, ".key");
    char *genpath = o.generation_path ? NULL : path_with(db_path, ".gen");
    int rc = RBX_E_NOMEM, db_exists = 0, created_key = 0, created_db = 0;
    struct stat sb;
    if ((!o.key_path && !keypath) || (!o.generation_path && !genpath)) goto fail;
    const char *kp = o.key_path ? o.key_path : keypath;
    const char *gp = o.generation_path ? o.generation_path : genpath;

    /* Creation is serialised on the generation record's lock: two processes
     * creating the same store at once must not both create (or one delete
     * what the other made), and an opener must not see a half-made file. */
    if (o.create) {
        st->sidecar_fd = open(gp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (st->sidecar_fd < 0) {
            rc = RBX_E_IO;
            goto fail;
        }
        while (flock(st->sidecar_fd, LOCK_EX) != 0)
            if (errno != EINTR) {
                rc = RBX_E_IO;
                goto fail;
            }
    } else if (stat(db_path, &sb) == 0 && sb.st_size == 0) {
        int fd = open(gp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            /* Wait for a creator that holds the lock, then look again. */
            while (flock(fd, LOCK_SH) != 0 && errno == EINTR) {}
            close(fd);
        }
    }
    db_exists = access(db_path, F_OK) == 0;

    if (!db_exists && !o.create) {
        rc = RBX_E_NOT_FOUND;
        goto fail;
    }
    if (o.storage_key != NULL) {
        memcpy(st->key, o.storage_key, 32);
    } else {
        if (!db_exists && access(kp, F_OK) == 0) {
            rc = RBX_E_EXISTS; /* a key without its database: refuse to guess */
            goto fail;
        }
        if ((rc = key_file(st->key, kp, !db_exists)) != 0) goto fail;
        created_key = !db_exists;
    }
    /* The generation record's MAC key (P 15.6), derived once per handle. */
    crypto_generichash(st->sidecar_key, sizeof st->sidecar_key, (const uint8_t *)"rbx-sidecar-key",
                       15, st->key, 32);
    if (!db_exists) {
        /* Create it 0600 first: SQLite would use 0644, and its -wal and -shm
         * files take the database's permissions. */
        int fd = open(db_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        created_db = fd >= 0;
        if (fd < 0 || close(fd) != 0) {
            rc = RBX_E_IO;
            goto fail;
        }
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (db_exists && (stat(db_path, &sb) != 0 || sb.st_size == 0)) {
        rc = RBX_E_CORRUPT; /* a used database truncated to nothing */
        goto fail;
    }
    if (sqlite3_open_v2(db_path, &st->db, flags, NULL) != SQLITE_OK) {
        rc = RBX_E_IO;
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(st->db, 1);
    /* secure_delete: freed cells and pages are zeroed (Debian's SQLite is
     * built with it on; set here for any other build). A deleted value still
     * survives in the -wal file until a wal_checkpoint(TRUNCATE): that is
     * what erase points are for (db.c).
     * WAL + synchronous=FULL: one fdatasync per commit, durable on return.
     * These only set connection state; nothing is written yet. */
    if ((rc = rbx__st_exec(st, "PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON;"
                       " PRAGMA temp_store = MEMORY; PRAGMA synchronous = FULL")) != 0)
        goto fail;
    int64_t version = 0;
    if (db_exists && ((rc = identify(st, &version)) != 0 || (rc = check_key_and_load(st)) != 0))
        goto fail;
    /* Ours (or new) and the key is right: only now may anything be written.
     * A new database uses 2 KiB pages: a commit writes 3-4 pages to the log,
     * and on this workload (one ~800-byte session row, one small outbox or
     * inbox row) smaller pages mean fewer bytes per fdatasync (1 KiB was
     * about as fast but made a 100,000-session store 1.4x slower). */
    if (!db_exists && (rc = rbx__st_exec(st, "PRAGMA page_size = " RBX_STR(RBX_PAGE_SIZE))) != 0) goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "PRAGMA journal_mode = WAL")) != 0) goto fail;
    rc = rbx__st_step(s);
    int wal = rc == 1 && strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    rbx__st_done(st, s);
    if (rc < 0 || !wal) {
        rc = rc < 0 ? rc : RBX_E_IO;
        goto fail;
    }
    if (version < RBX_SCHEMA_VERSION && (rc = migrate(st, version)) != 0) goto fail;
    if ((rc = rbx__st_prep(st, &s, "PRAGMA page_size")) != 0) goto fail;
    rc = rbx__st_step(s);
    st->page_size = rc == 1 ? sqlite3_column_int(s, 0) : 4096;
    rbx__st_done(st, s);
    if (rc < 0) goto fail;
    if (st->page_size < 512 || st->page_size > 65536) st->page_size = 4096;
    if (!db_exists && (rc = check_key_and_load(st)) != 0) goto fail;
    if (st->sidecar_fd < 0) st->sidecar_fd = open(gp, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (st->sidecar_fd < 0) {
        /* A used database whose sidecar is gone is treated as rolled back. */
        if (errno != ENOENT ||
            (st->sidecar_fd = open(gp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
            rc = RBX_E_IO;
            goto fail;
        }
    }
    /* check_rollback takes the lock again and releases it: that also ends
     * the creation lock. */
    if ((rc = check_rollback(st)) != 0) goto fail;
    rbx_policy pol;
    if ((rc = rbx_store_policy(st, &pol)) != 0) goto fail;
    rbx__st_apply_policy(st, &pol);
    free(keypath);
    free(genpath);
    *out = st;
    return 0;
fail:
    rbx__st_finalize_all(st);
    if (st->db != NULL) sqlite3_close(st->db);
    if (st->sidecar_fd >= 0) close(st->sidecar_fd);
    if (created_db) {
        /* Nothing half-created is left behind; what another process made
         * is never touched. */
        (void)unlink(db_path);
        char *w = path_with(db_path, "-wal"), *m = path_with(db_path, "-shm");
        if (w) (void)unlink(w);
        if (m) (void)unlink(m);
        free(w);
        free(m);
    }
    if (created_key && keypath != NULL) (void)unlink(keypath);
    free(keypath);
    free(genpath);
    WIPE_BUF(st, sizeof *st);
    free(st);
    return rc;
}

void rbx_store_close(rbx_store *st)
{
    if (st == NULL) return;
    st->closing = 1;
    (void)rbx__st_erase_point(st);
    rbx__st_finalize_all(st);
    sqlite3_close(st->db);
    if (st->sidecar_fd >= 0) {
        (void)fdatasync(st->sidecar_fd);
        close(st->sidecar_fd);
    }
    WIPE_BUF(st, sizeof *st);
    free(st);
}
