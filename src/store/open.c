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

/* Version 3 (issue 12): integrity (PROTOCOL.md 15.8). A row tag (`mac`) on
 * every table whose rows decide something and whose sealed values do not
 * cover the deciding columns, the generation a retired session's state is
 * sealed under, the identity that authenticated each inbox message, and the
 * handshakes accepted while their signed prekey lives (replays, 15.9). The
 * sealed integrity record replaces meta's `generation` and `identity_seq`. */
static const char schema_v3[] =
    "ALTER TABLE signed_prekeys ADD COLUMN mac BLOB;"
    "ALTER TABLE onetime_prekeys ADD COLUMN mac BLOB;"
    "ALTER TABLE sessions ADD COLUMN mac BLOB;"
    "ALTER TABLE inbox ADD COLUMN identity BLOB;"
    "ALTER TABLE inbox ADD COLUMN mac BLOB;"
    "ALTER TABLE old_identities ADD COLUMN mac BLOB;"
    "ALTER TABLE retired_sessions ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE retired_sessions ADD COLUMN mac BLOB;"
    "ALTER TABLE contact_keys ADD COLUMN mac BLOB;"
    "ALTER TABLE revocations ADD COLUMN mac BLOB;"
    "ALTER TABLE archive_epochs ADD COLUMN mac BLOB;"
    "CREATE TABLE handshakes (spk INTEGER NOT NULL, base_key BLOB NOT NULL,"
    "  PRIMARY KEY (spk, base_key)) STRICT, WITHOUT ROWID;";
/* No index for the open check: an index on the sessions' authenticated
 * columns spares it reading the state blobs (100,000 sessions: about
 * 90 ms instead of 260 ms, bench/README.md) but costs every encrypt and
 * decrypt one page more in the log and 5 to 10 % more CPU; the budget of
 * issue 12 is per message. */

/* The row tags of the rows a schema 1 or 2 database already holds. Every
 * row of every authenticated table is rewritten (the tags, or a column set
 * to itself), so that its record holds the columns schema 2 and 3 added
 * with their defaults: the preupdate hook reads a column missing from a
 * row's record as NULL (integrity.c). */
static const char tags_v3[] =
    "UPDATE identity SET pk = pk;"
    "UPDATE contacts SET name = name;"
    "UPDATE rotations SET record = record;"
    "UPDATE org SET pk = pk;"
    "UPDATE certificate SET cert = cert;"
    "UPDATE signed_prekeys SET mac = rbx_mac('signed_prekeys', " RBX_AUTH_SIGNED_PREKEYS ");"
    "UPDATE onetime_prekeys SET mac = rbx_mac('onetime_prekeys', " RBX_AUTH_ONETIME_PREKEYS ");"
    "UPDATE sessions SET mac = rbx_mac('sessions', " RBX_AUTH_SESSIONS ");"
    "UPDATE inbox SET mac = rbx_mac('inbox', " RBX_AUTH_INBOX ");"
    "UPDATE old_identities SET mac = rbx_mac('old_identities', " RBX_AUTH_OLD_IDENTITIES ");"
    "UPDATE retired_sessions SET mac = rbx_mac('retired_sessions', " RBX_AUTH_RETIRED_SESSIONS ");"
    "UPDATE contact_keys SET mac = rbx_mac('contact_keys', " RBX_AUTH_CONTACT_KEYS ");"
    "UPDATE revocations SET mac = rbx_mac('revocations', " RBX_AUTH_REVOCATIONS ");"
    "UPDATE archive_epochs SET mac = rbx_mac('archive_epochs', " RBX_AUTH_ARCHIVE_EPOCHS ");";

/* Version 4 (issue 16): users with several devices (PROTOCOL.md 21.8):
 * this store's account, the pins of users' device lists, their verified
 * devices (each with its contact row), and sends to users with their
 * envelopes (the plaintext sealed for re-sends). Every table decides
 * something (who we are, which keys speak for a user, who may ask for a
 * re-send and of what, when a plaintext is erased): each has a row tag
 * (15.8) over the columns RBX_AUTH_* lists, and its rows are in the set. */
static const char schema_v4[] =
    "CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), user TEXT NOT NULL,"
    "  device INTEGER NOT NULL, regid INTEGER NOT NULL, entry BLOB NOT NULL, mac BLOB) STRICT;"
    "CREATE TABLE users (user TEXT PRIMARY KEY, seq INTEGER NOT NULL, first_hash BLOB, hash BLOB,"
    "  created INTEGER NOT NULL DEFAULT 0, anchor_seq INTEGER NOT NULL DEFAULT 0,"
    "  anchor_hash BLOB, org BLOB, mac BLOB) STRICT;"
    "CREATE TABLE user_devices (user TEXT NOT NULL, device INTEGER NOT NULL,"
    "  identity BLOB NOT NULL, added_seq INTEGER NOT NULL, regid INTEGER NOT NULL DEFAULT 0,"
    "  contact INTEGER REFERENCES contacts (id), retry_asked INTEGER NOT NULL DEFAULT 0,"
    "  retry_served INTEGER NOT NULL DEFAULT 0, mac BLOB, PRIMARY KEY (user, device)) STRICT;"
    "CREATE TABLE sends (id INTEGER PRIMARY KEY, message_id BLOB NOT NULL UNIQUE,"
    "  to_user TEXT NOT NULL, kind INTEGER NOT NULL, ctype INTEGER NOT NULL,"
    "  cflags INTEGER NOT NULL, cid BLOB NOT NULL, state INTEGER NOT NULL,"
    "  created INTEGER NOT NULL, generation INTEGER NOT NULL, pt BLOB, mac BLOB) STRICT;"
    "CREATE INDEX sends_cid ON sends (cid);"
    "CREATE TABLE send_envelopes (send INTEGER NOT NULL REFERENCES sends (id), user TEXT NOT NULL,"
    "  device INTEGER NOT NULL, regid INTEGER NOT NULL, identity BLOB NOT NULL, wire BLOB,"
    "  mac BLOB, PRIMARY KEY (send, user, device)) STRICT, WITHOUT ROWID;";

/* Forward migrations: migrations[v] takes a database from version v to v + 1.
 * Version 0 is an empty database. */
static const char *const migrations[RBX_SCHEMA_VERSION] = { schema_v1, schema_v2, schema_v3,
                                                              schema_v4 };

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
                  " ('created', ?3)");
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

/* An integer meta row of schema 1 or 2 (absent: 0). */
static int old_meta_int(rbx_store *st, const char *k, int64_t *v)
{
    sqlite3_stmt *s;
    *v = 0;
    int rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    if ((rc = rbx__st_step(s)) == 1) {
        rc = sqlite3_column_type(s, 0) == SQLITE_INTEGER ? 0 : RBX_E_CORRUPT;
        *v = sqlite3_column_int64(s, 0);
    }
    rbx__st_done(st, s);
    return rc < 0 ? rc : *v < 0 ? RBX_E_CORRUPT : 0;
}

/* The hash of a sealed meta value's stored bytes into the record. */
static int bind_meta(rbx_store *st, const char *k, uint8_t out[32])
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
    if ((rc = rbx__st_step(s)) == 1) {
        rc = sqlite3_column_type(s, 0) == SQLITE_BLOB ? 0 : RBX_E_CORRUPT;
        rbx__auth_hash(out, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    } else if (rc == 0) {
        rc = RBX_E_CORRUPT; /* every schema-2 store has both */
    }
    rbx__st_done(st, s);
    return rc;
}

/* Schema 3's integrity record for the rows a database holds now: what a
 * schema 1 or 2 database says about its generation and store id is taken
 * as it is, once (nothing authenticated them before). */
static int integrity_init(rbx_store *st, int64_t version)
{
    rbx__integrity *r = &st->integ;
    sqlite3_stmt *s;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = 'store_id'")) != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1 && sqlite3_column_type(s, 0) == SQLITE_BLOB && sqlite3_column_bytes(s, 0) == 16)
        memcpy(r->store_id, sqlite3_column_blob(s, 0), 16);
    else
        rc = rc < 0 ? rc : RBX_E_CORRUPT;
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if ((rc = old_meta_int(st, "generation", &r->generation)) != 0 ||
        (rc = old_meta_int(st, "identity_seq", &r->identity_seq)) != 0 ||
        (rc = rbx__st_exec(st, "DELETE FROM meta WHERE k IN ('generation', 'identity_seq')")) != 0)
        return rc;
    if (version >= 2 && ((rc = bind_meta(st, "policy", r->policy)) != 0 ||
                         (rc = bind_meta(st, "audit_head", r->audit_head)) != 0))
        return rc;
    st->integ_loaded = 1;
    return 0;
}

/* A database of schema 3 or later has its integrity record: before any
 * migration changes it, its schema and every set must be the record's (the
 * open check of 15.8, inside the migration's transaction), so that a
 * migration never takes in a row or an object someone put there behind
 * the store. Its record is then kept: later schemas only add tables, which
 * are empty. */
static int migrate_check(rbx_store *st)
{
    rbx__integrity *r;
    rbx__set now;
    uint8_t d[32];
    int rc = rbx__st_integ(st, &r);
    if (rc == 0) rc = rbx__auth_schema(rbx__store_db(st), d);
    if (rc == 0 && RBX_CHECK_SCHEMA && sodium_memcmp(d, r->schema, 32) != 0) rc = RBX_E_TAMPERED;
    /* Only schema 3's tables exist yet. */
    if (rc == 0) rc = rbx__auth_sets_of(rbx__store_db(st), &st->auth_keys, &now, RBX_SETS_SCHEMA3);
    if (rc == 0 && RBX_CHECK_SETS &&
        (now.count != r->rows.count || sodium_memcmp(now.sum, r->rows.sum, 32) != 0))
        rc = RBX_E_TAMPERED;
    return rc;
}

/* Bring the schema from version to RBX_SCHEMA_VERSION in one transaction;
 * version 0 is a database this call just created. A crash anywhere leaves
 * the database as it was (SQLite's transaction), and the next open migrates
 * again. */
static int migrate(rbx_store *st, int64_t version)
{
    int rc = rbx__st_exec(st, "BEGIN IMMEDIATE");
    if (rc != 0) return rc;
    if (version >= 3 && (rc = migrate_check(st)) != 0) goto fail;
    for (int64_t v = version; v < RBX_SCHEMA_VERSION; v++)
        if ((rc = rbx__st_exec(st, migrations[v])) != 0) goto fail;
    if (version == 0 && (rc = create_meta(st)) != 0) goto fail;
    if (version < 3) {
        if ((rc = integrity_init(st, version)) != 0 || (rc = rbx__st_exec(st, tags_v3)) != 0 ||
            (version > 0 && (rc = rbx__st_seed_handshakes(st)) != 0))
            goto fail;
        /* The sets as the tables hold them once tagged; from here on the
         * record of this transaction counts changes (the audit head below). */
        if ((rc = rbx__auth_sets(rbx__store_db(st), &st->auth_keys, &st->integ.rows)) != 0)
            goto fail;
    }
    st->auth.live = 1;
    if (version < 2 && ((rc = rbx__audit_init(st)) != 0 || (rc = rbx__policy_init(st)) != 0))
        goto fail;
    if ((rc = rbx__audit(st, version == 0 ? "store created" : "store migrated", "schema %d",
                         RBX_SCHEMA_VERSION)) != 0)
        goto fail;
    char pragma[96];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d; PRAGMA application_id = %d",
             RBX_SCHEMA_VERSION, RBX_APPLICATION_ID);
    if ((rc = rbx__st_exec(st, pragma)) != 0 ||
        (rc = rbx__auth_schema(rbx__store_db(st), st->integ.schema)) != 0 ||
        (rc = rbx__st_integ_write(st)) != 0)
        goto fail;
    st->auth.live = 0;
    st->integ_loaded = 0;
    return rbx__sql_err(sqlite3_exec(rbx__store_db(st), "COMMIT", NULL, NULL, NULL));
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

/* ------------------------------------------------------------ state files
 *
 * PROTOCOL.md 15.1. Every state file is opened without following a symlink
 * and without blocking (a FIFO in its place would hang the open or the
 * read), and must be a regular file owned by the effective user with no
 * permission for group or others, in a directory that no one else may
 * write (as ssh treats private keys and StrictModes directories): whoever
 * can replace a file can roll the store back or read what it protects. */

static int unsafe(rbx_store *st, int file, const char *why)
{
    st->io = (rbx_io_error){ file, 0, why };
    return RBX_E_UNSAFE;
}

static int file_safe(rbx_store *st, const struct stat *sb, int file)
{
    if (!S_ISREG(sb->st_mode)) return unsafe(st, file, "type");
    if (sb->st_uid != geteuid()) return unsafe(st, file, "owner");
    if ((sb->st_mode & 077) != 0) return unsafe(st, file, "mode");
    return 0;
}

/* The directory that holds path: a directory, owned by us or root, not
 * writable by group or others. Missing and not creating: RBX_E_NOT_FOUND
 * about file. */
static int dir_safe(rbx_store *st, const char *path, int create, int file)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir) return rbx__st_io_fail(st, RBX_FILE_DIRECTORY, ENAMETOOLONG, "stat");
    memcpy(dir, slash == NULL ? "." : path, n);
    dir[n] = '\0';
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno == ENOENT && !create) {
            st->io = (rbx_io_error){ file, ENOENT, "open" };
            return RBX_E_NOT_FOUND;
        }
        return rbx__st_io_fail(st, RBX_FILE_DIRECTORY, errno, "stat");
    }
    if (!S_ISDIR(sb.st_mode)) return unsafe(st, RBX_FILE_DIRECTORY, "type");
    if (sb.st_uid != geteuid() && sb.st_uid != 0) return unsafe(st, RBX_FILE_DIRECTORY, "owner");
    if ((sb.st_mode & 022) != 0) return unsafe(st, RBX_FILE_DIRECTORY, "mode");
    return 0;
}

/* Open a state file (flags: O_RDONLY or O_RDWR, maybe O_CREAT) and check
 * it: RBX_E_NOT_FOUND if absent, RBX_E_UNSAFE, RBX_E_IO. */
static int open_state(rbx_store *st, int *fd, const char *path, int flags, int file)
{
    struct stat sb;
    *fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (*fd < 0) {
        if (errno == ENOENT) {
            st->io = (rbx_io_error){ file, ENOENT, "open" };
            return RBX_E_NOT_FOUND;
        }
        if (errno == ELOOP) return unsafe(st, file, "type"); /* a symlink */
        return rbx__st_io_fail(st, file, errno, "open");
    }
    int rc = fstat(*fd, &sb) != 0 ? rbx__st_io_fail(st, file, errno, "stat") : file_safe(st, &sb, file);
    if (rc != 0) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

/* Is there a file (or anything) at path? 1 yes, 0 no, < 0 an error. */
static int exists(rbx_store *st, const char *path, int file)
{
    struct stat sb;
    if (lstat(path, &sb) == 0) return 1;
    if (errno == ENOENT) return 0;
    return rbx__st_io_fail(st, file, errno, "stat");
}

/* SQLite's own files, if there: checked as the database. */
static int sqlite_files_safe(rbx_store *st, const char *db_path)
{
    static const char *const suffix[] = { "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char *p = path_with(db_path, suffix[i]);
        struct stat sb;
        int rc = p == NULL ? RBX_E_NOMEM : 0;
        if (rc == 0 && lstat(p, &sb) == 0) rc = file_safe(st, &sb, RBX_FILE_DATABASE);
        else if (rc == 0 && errno != ENOENT) rc = rbx__st_io_fail(st, RBX_FILE_DATABASE, errno, "stat");
        free(p);
        if (rc != 0) return rc;
    }
    return 0;
}

/* Exactly 32 bytes from a state file. */
static int read_key(rbx_store *st, uint8_t key[32], const char *path)
{
    int fd, rc = open_state(st, &fd, path, O_RDONLY, RBX_FILE_KEY);
    if (rc != 0) return rc;
    uint8_t buf[33];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) < 0 && errno == EINTR) {}
    if (n < 0) rc = rbx__st_io_fail(st, RBX_FILE_KEY, errno, "read");
    else if (n != 32) rc = RBX_E_CORRUPT, st->io = (rbx_io_error){ RBX_FILE_KEY, 0, "content" };
    close(fd);
    if (rc == 0) memcpy(key, buf, 32);
    WIPE(buf);
    return rc;
}

/* Make the names in path's directory durable (creations, renames). */
static int sync_dir(rbx_store *st, const char *path, int file)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir) return rbx__st_io_fail(st, file, ENAMETOOLONG, "sync");
    memcpy(dir, slash == NULL ? "." : path, n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return rbx__st_io_fail(st, file, errno, "sync");
    int rc = fsync(fd) == 0 ? 0 : rbx__st_io_fail(st, file, errno, "sync");
    close(fd);
    return rc;
}

/* Write a fresh key into a new file at path (0600), synced. */
static int write_key(rbx_store *st, const uint8_t key[32], const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return rbx__st_io_fail(st, RBX_FILE_KEY, errno, "open");
    ssize_t n;
    while ((n = write(fd, key, 32)) < 0 && errno == EINTR) {}
    int rc = n == 32 ? 0 : rbx__st_io_fail(st, RBX_FILE_KEY, n < 0 ? errno : ENOSPC, "write");
    if (rc == 0 && fsync(fd) != 0) rc = rbx__st_io_fail(st, RBX_FILE_KEY, errno, "sync");
    if (close(fd) != 0 && rc == 0) rc = rbx__st_io_fail(st, RBX_FILE_KEY, errno, "write");
    return rc;
}

static void unlink_db(const char *db)
{
    static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        char *p = path_with(db, suffix[i]);
        if (p != NULL) (void)unlink(p);
        free(p);
    }
}

static int fsync_path(rbx_store *st, const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return rbx__st_io_fail(st, RBX_FILE_DATABASE, errno, "open");
    int rc = fsync(fd) == 0 ? 0 : rbx__st_io_fail(st, RBX_FILE_DATABASE, errno, "sync");
    close(fd);
    return rc;
}

static int check_key(rbx_store *st)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "SELECT (SELECT v FROM meta WHERE k = 'keycheck')");
    if (rc != 0) return rc;
    if ((rc = rbx__st_step(s)) == 1) {
        /* The type first: after a conversion sqlite3_column_type is undefined. */
        int blob = sqlite3_column_type(s, 0) == SQLITE_BLOB;
        const uint8_t *kc = sqlite3_column_blob(s, 0);
        size_t kclen = (size_t)sqlite3_column_bytes(s, 0);
        uint8_t zero[32];
        size_t n;
        rc = RBX_E_CORRUPT;
        if (blob && kc != NULL) {
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

/* The store id the generation record's MAC covers: the integrity record's,
 * never the plain meta row, which anyone can change (15.6). */
static int load_store_id(rbx_store *st)
{
    rbx__integrity *r;
    int rc = rbx__st_integ(st, &r);
    if (rc == 0) memcpy(st->store_id, r->store_id, sizeof st->store_id);
    if (rc == 0 && !RBX_CHECK_STORE_ID) {
        sqlite3_stmt *s; /* make mutation-check: the plain row, as before schema 3 */
        if ((rc = rbx__st_prep(st, &s, "SELECT v FROM meta WHERE k = 'store_id'")) != 0) return rc;
        if (rbx__st_step(s) == 1 && sqlite3_column_bytes(s, 0) == 16)
            memcpy(st->store_id, sqlite3_column_blob(s, 0), 16);
        rbx__st_done(st, s);
    }
    return rc;
}

/* Compare the database with its sidecar; mark every session rolled back if
 * the database is older than what was already released. */
static int check_rollback_locked(rbx_store *st)
{
    int64_t dbgen = 0, sidegen = 0;
    int rc = rbx__st_sidecar_read(st, &sidegen);
    /* The authenticated generation (15.8): a plain meta row is nobody's. */
    if (rc != 0 || (rc = rbx__st_generation(st, &dbgen)) != 0) return rc;
    if (!RBX_CHECK_GENERATION) {
        int64_t plain; /* make mutation-check: trust a plain row, as schema 2 did */
        if (old_meta_int(st, "generation", &plain) == 0 && plain > dbgen) dbgen = plain;
    }
    /* A lost sidecar on a used database could hide a rollback: be safe. */
    int rolled = sidegen > dbgen || (sidegen < 0 && dbgen > 0);
    if (rolled) {
        if ((rc = rbx__st_begin(st)) != 0) return rc;
        if ((rc = rbx__st_mark_rolled_back(st)) != 0) {
            rbx__st_rollback(st);
            return rc;
        }
        rbx__integrity *r;
        int64_t newgen = (sidegen > dbgen ? sidegen : dbgen) + 1, gen = 0;
        if ((rc = rbx__st_integ(st, &r)) == 0) {
            r->generation = newgen - 1; /* the commit takes newgen */
            if ((rc = rbx__st_next_generation(st, &gen)) == 0)
                rc = rbx__audit(st, "rollback detected", "database generation %lld, record %lld",
                                (long long)dbgen, (long long)sidegen);
        }
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
        if (errno != EINTR) return rbx__st_io_fail(st, RBX_FILE_GENERATION, errno, "lock");
    int rc = check_rollback_locked(st);
    (void)flock(st->sidecar_fd, LOCK_UN);
    return rc;
}

/* journal_mode = WAL, checked: SQLite answers with the mode in force. */
static int set_wal(rbx_store *st)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "PRAGMA journal_mode = WAL");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    int wal = rc == 1 && strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
    rbx__st_done(st, s);
    if (rc >= 0 && !wal) rc = rbx__st_io_fail(st, RBX_FILE_DATABASE, 0, "open");
    return rc < 0 ? rc : 0;
}

static void close_db(rbx_store *st)
{
    rbx__st_finalize_all(st);
    if (st->db != NULL) sqlite3_close(st->db);
    st->db = NULL;
}

/* Create a store atomically (PROTOCOL.md 15.1), the generation record's
 * lock held: build it under temporary names, then rename it into place.
 *  1. <key>.tmp: a fresh storage key, synced (unless the caller passes it);
 *  2. <db>.tmp: schema, key check, store id and first audit event, built
 *     without a log, switched to WAL, synced and closed; SQLite's files of
 *     a store that is gone are removed;
 *  3. rename <db>.tmp to <db> and sync the directory: the store exists;
 *  4. rename <key>.tmp to <key> and sync the directory.
 * A crash before 3 leaves temporary files, which the next creation replaces
 * (they are its own by name, under the lock); one between 3 and 4 leaves a
 * database whose key is still <key>.tmp, which the next open finishes.
 * The identity comes after, in its own transaction (rbx_store_identity_create):
 * an open store without one is what `rbx init` completes. */
static int create_store(rbx_store *st, const char *db, const char *kp, int key_file)
{
    char *dbt = path_with(db, ".tmp"), *kt = key_file ? path_with(kp, ".tmp") : NULL;
    int rc = RBX_E_NOMEM, renamed = 0;
    if (dbt == NULL || (key_file && kt == NULL)) goto out;
    unlink_db(dbt);
    if (kt != NULL) (void)unlink(kt);
    if (key_file) {
        randombytes_buf(st->key, 32);
        if ((rc = write_key(st, st->key, kt)) != 0) goto out;
    }
    /* Made 0600 before SQLite sees it: SQLite would use 0644, and its -wal
     * and -shm files take the database's mode. */
    int fd = open(dbt, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = rbx__st_io_fail(st, RBX_FILE_DATABASE, errno, "open");
        goto out;
    }
    close(fd);
    int orc = sqlite3_open_v2(dbt, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                                SQLITE_OPEN_NOFOLLOW, NULL);
    if (st->db != NULL) sqlite3_extended_result_codes(st->db, 1);
    if (orc != SQLITE_OK) {
        rc = st->db != NULL ? rbx__st_sql(st, orc) : RBX_E_NOMEM;
        goto out;
    }
    /* 2 KiB pages: a commit writes 3-4 pages to the log, and on this
     * workload (one ~800-byte session row, one small outbox or inbox row)
     * smaller pages mean fewer bytes per fdatasync (1 KiB was about as fast
     * but made a 100,000-session store 1.4x slower). No journal file while
     * building: a crash discards the whole file anyway. */
    if ((rc = rbx__st_exec(st, "PRAGMA page_size = " RBX_STR(RBX_PAGE_SIZE) ";"
                           " PRAGMA journal_mode = MEMORY; PRAGMA synchronous = FULL;"
                           " PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON;"
                           " PRAGMA trusted_schema = OFF")) != 0)
        goto out;
    /* The row tags and sets of schema 3 (15.8) under this store's key. */
    rbx__auth_keys_derive(&st->auth_keys, st->key);
    st->auth.keys = &st->auth_keys;
    st->auth.record = &st->integ;
    if ((rc = rbx__auth_register(st->db, &st->auth)) != 0 || (rc = migrate(st, 0)) != 0 ||
        (rc = set_wal(st)) != 0)
        goto out;
    close_db(st);
    char *w = path_with(dbt, "-wal");
    if (w == NULL) {
        rc = RBX_E_NOMEM;
        goto out;
    }
    int left = exists(st, w, RBX_FILE_DATABASE);
    free(w);
    if (left != 0) { /* SQLite did not fold its log back in at close */
        rc = left < 0 ? left : rbx__st_io_fail(st, RBX_FILE_DATABASE, 0, "sync");
        goto out;
    }
    if ((rc = fsync_path(st, dbt)) != 0) goto out;
    /* A log or index left by a database that was deleted would be read as
     * this one's. */
    for (int i = 0; i < 3; i++) {
        char *p = path_with(db, i == 0 ? "-wal" : i == 1 ? "-shm" : "-journal");
        if (p != NULL) (void)unlink(p);
        free(p);
    }
    if (rename(dbt, db) != 0) {
        rc = rbx__st_io_fail(st, RBX_FILE_DATABASE, errno, "rename");
        goto out;
    }
    renamed = 1;
    if ((rc = sync_dir(st, db, RBX_FILE_DATABASE)) != 0) goto out;
    if (key_file && rename(kt, kp) != 0) {
        rc = rbx__st_io_fail(st, RBX_FILE_KEY, errno, "rename");
        goto out;
    }
    if (key_file) rc = sync_dir(st, kp, RBX_FILE_KEY);
out:
    close_db(st);
    if (rc != 0 && !renamed) {
        unlink_db(dbt);
        if (kt != NULL) (void)unlink(kt);
    }
    free(dbt);
    free(kt);
    return rc;
}

/* The storage key from its file, or from <key>.tmp when a creation stopped
 * between its two renames (*finish: rename it once it opened the database). */
static int load_key(rbx_store *st, const char *kp, int *finish)
{
    *finish = 0;
    int rc = read_key(st, st->key, kp);
    if (rc != RBX_E_NOT_FOUND) return rc;
    char *kt = path_with(kp, ".tmp");
    if (kt == NULL) return RBX_E_NOMEM;
    rbx_io_error missing = st->io;
    int r = read_key(st, st->key, kt);
    free(kt);
    if (r == RBX_E_NOT_FOUND) {
        st->io = missing; /* the key file is what is missing */
        return rc;
    }
    *finish = r == 0;
    return r;
}

static int finish_key(rbx_store *st, const char *kp)
{
    char *kt = path_with(kp, ".tmp");
    if (kt == NULL) return RBX_E_NOMEM;
    int rc = rename(kt, kp) == 0 || errno == ENOENT ? 0 : rbx__st_io_fail(st, RBX_FILE_KEY, errno, "rename");
    free(kt);
    return rc != 0 ? rc : sync_dir(st, kp, RBX_FILE_KEY);
}

int rbx_store_open(rbx_store **out, const char *db_path, const rbx_store_opts *opts)
{
    *out = NULL;
    rbx_store_opts o = { 0 };
    if (opts != NULL) o = *opts;
    if (o.error != NULL) memset(o.error, 0, sizeof *o.error);
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
    int rc = RBX_E_NOMEM, key_file = o.storage_key == NULL, finish = 0, fd;
    struct stat sb;
    if ((!o.key_path && !keypath) || (!o.generation_path && !genpath)) goto fail;
    const char *kp = o.key_path ? o.key_path : keypath;
    const char *gp = o.generation_path ? o.generation_path : genpath;
    if ((rc = dir_safe(st, db_path, o.create, RBX_FILE_DATABASE)) != 0 ||
        (key_file && (rc = dir_safe(st, kp, o.create, RBX_FILE_KEY)) != 0) ||
        (rc = dir_safe(st, gp, o.create, RBX_FILE_GENERATION)) != 0)
        goto fail;

    /* Creation is serialised on the generation record's lock: two processes
     * creating the same store at once must not both create (or one delete
     * what the other made). */
    if (o.create) {
        if ((rc = open_state(st, &st->sidecar_fd, gp, O_RDWR | O_CREAT, RBX_FILE_GENERATION)) != 0)
            goto fail;
        while (flock(st->sidecar_fd, LOCK_EX) != 0)
            if (errno != EINTR) {
                rc = rbx__st_io_fail(st, RBX_FILE_GENERATION, errno, "lock");
                goto fail;
            }
    }
    int db_exists = exists(st, db_path, RBX_FILE_DATABASE);
    if (db_exists < 0) {
        rc = db_exists;
        goto fail;
    }
    if (!db_exists && !o.create) {
        st->io = (rbx_io_error){ RBX_FILE_DATABASE, ENOENT, "open" };
        rc = RBX_E_NOT_FOUND;
        goto fail;
    }
    if (!db_exists) {
        if (key_file && (rc = exists(st, kp, RBX_FILE_KEY)) != 0) {
            /* A key without its database: refuse to guess (it may be the
             * key of a database that will be restored). */
            if (rc > 0) st->io = (rbx_io_error){ RBX_FILE_KEY, EEXIST, "open" };
            rc = rc > 0 ? RBX_E_EXISTS : rc;
            goto fail;
        }
        if (!key_file) memcpy(st->key, o.storage_key, 32);
        /* A generation record without its database belongs to a store that
         * is gone (deleted, or a creation that stopped): it protects
         * nothing, and one sealed under another key would refuse this one. */
        if (ftruncate(st->sidecar_fd, 0) != 0) {
            rc = rbx__st_io_fail(st, RBX_FILE_GENERATION, errno, "truncate");
            goto fail;
        }
        if ((rc = create_store(st, db_path, kp, key_file)) != 0) goto fail;
    }

    /* The database and SQLite's files beside it, checked before SQLite
     * opens them (which it does following symlinks, and blocking on a FIFO). */
    if ((rc = open_state(st, &fd, db_path, O_RDONLY, RBX_FILE_DATABASE)) != 0) goto fail;
    int empty = fstat(fd, &sb) == 0 && sb.st_size == 0;
    close(fd);
    if (empty) { /* a used database truncated to nothing */
        st->io = (rbx_io_error){ RBX_FILE_DATABASE, 0, "content" };
        rc = RBX_E_CORRUPT;
        goto fail;
    }
    if ((rc = sqlite_files_safe(st, db_path)) != 0) goto fail;
    if (!key_file) memcpy(st->key, o.storage_key, 32);
    else if ((rc = load_key(st, kp, &finish)) != 0) goto fail;
    /* The generation record's MAC key (P 15.6), derived once per handle. */
    crypto_generichash(st->sidecar_key, sizeof st->sidecar_key, (const uint8_t *)"rbx-sidecar-key",
                       15, st->key, 32);
    int orc = sqlite3_open_v2(db_path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                                    SQLITE_OPEN_NOFOLLOW, NULL);
    if (st->db != NULL) sqlite3_extended_result_codes(st->db, 1);
    if (orc != SQLITE_OK) {
        rc = st->db != NULL ? rbx__st_sql(st, orc) : RBX_E_NOMEM;
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* secure_delete: freed cells and pages are zeroed (Debian's SQLite is
     * built with it on; set here for any other build). A deleted value still
     * survives in the -wal file until an erase point (db.c) destroys it.
     * WAL + synchronous=FULL: one fdatasync per commit, durable on return.
     * These only set connection state; nothing is written yet. */
    /* trusted_schema off: nothing in the file's schema may call a function
     * that is not harmless (the store's own are DIRECTONLY besides). */
    if ((rc = rbx__st_exec(st, "PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON;"
                       " PRAGMA temp_store = MEMORY; PRAGMA synchronous = FULL;"
                       " PRAGMA trusted_schema = OFF")) != 0)
        goto fail;
    rbx__auth_keys_derive(&st->auth_keys, st->key);
    st->auth.keys = &st->auth_keys;
    st->auth.record = &st->integ;
    if ((rc = rbx__auth_register(st->db, &st->auth)) != 0) goto fail;
    int64_t version = 0;
    if ((rc = identify(st, &version)) != 0 || (rc = check_key(st)) != 0) {
        if (rc == RBX_E_CORRUPT) st->io = (rbx_io_error){ RBX_FILE_DATABASE, 0, "content" };
        if (rc == RBX_E_STORAGE_KEY) st->io = (rbx_io_error){ RBX_FILE_KEY, 0, "content" };
        goto fail;
    }
    /* Ours and the key is right: only now may anything be written. */
    if ((rc = set_wal(st)) != 0) goto fail;
    if (version < RBX_SCHEMA_VERSION && (rc = migrate(st, version)) != 0) goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "PRAGMA page_size")) != 0) goto fail;
    rc = rbx__st_step(s);
    st->page_size = rc == 1 ? sqlite3_column_int(s, 0) : 4096;
    rbx__st_done(st, s);
    if (rc < 0) goto fail;
    if (st->page_size < 512 || st->page_size > 65536) st->page_size = 4096;
    if (finish && (rc = finish_key(st, kp)) != 0) goto fail;
    /* Nothing the file says is used before it matches the record: schema,
     * then every set (15.8). Only then the preupdate hook that counts the
     * store's own changes, and the rollback check, which may write. */
    if ((rc = rbx__st_verify(st)) != 0 || (rc = load_store_id(st)) != 0 ||
        (rc = rbx__auth_hook(st->db, &st->auth)) != 0) {
        if (rc == RBX_E_CORRUPT || rc == RBX_E_TAMPERED)
            st->io = (rbx_io_error){ RBX_FILE_DATABASE, 0, "content" };
        goto fail;
    }
    if (st->sidecar_fd < 0) {
        /* A used database whose record is gone is treated as rolled back. */
        rc = open_state(st, &st->sidecar_fd, gp, O_RDWR, RBX_FILE_GENERATION);
        if (rc == RBX_E_NOT_FOUND)
            rc = open_state(st, &st->sidecar_fd, gp, O_RDWR | O_CREAT, RBX_FILE_GENERATION);
        if (rc != 0) goto fail;
    }
    /* check_rollback takes the lock again and releases it: that also ends
     * the creation lock. */
    if ((rc = check_rollback(st)) != 0) goto fail;
    rbx_policy pol;
    if ((rc = rbx_store_policy(st, &pol)) != 0) goto fail;
    rbx__st_apply_policy(st, &pol);
    free(keypath);
    free(genpath);
    memset(&st->io, 0, sizeof st->io);
    *out = st;
    return 0;
fail:
    if (o.error != NULL) *o.error = st->io;
    close_db(st);
    if (st->sidecar_fd >= 0) close(st->sidecar_fd);
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
    if (st->deferred & RBX_DEFERRED_RECORD) (void)rbx__st_record_catch_up(st);
    rbx__st_finalize_all(st);
    sqlite3_close(st->db);
    if (st->sidecar_fd >= 0) {
        (void)fdatasync(st->sidecar_fd);
        close(st->sidecar_fd);
    }
    WIPE_BUF(st, sizeof *st);
    free(st);
}
