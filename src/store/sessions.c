/* SPDX-License-Identifier: MIT
 * Session rows (PROTOCOL.md "State and storage"): a contact's current
 * session, sealed under its generation and rollback mark, and the sessions
 * kept for a grace window after a rotation or a new handshake. Keyed by
 * contact id; finding the contact is contacts.c's work. Calls db.c only. */
#include <stdlib.h>

#include "session.h"
#include "store_int.h"

/* The rollback mark is part of the state's binding: clearing it without the
 * storage key makes the state unreadable instead of usable. */
static const char *state_column(int rolled_back)
{
    return rolled_back ? "state/rolled-back" : "state";
}

/* Reseal every unmarked session with the rollback mark in its binding. */
int rbx__st_mark_rolled_back(rbx_store *st)
{
    sqlite3_stmt *sel, *upd;
    int rc = rbx__st_prep(st, &sel, "SELECT contact, generation, state,"
                                    " rbx_mac_ok('sessions', mac, " RBX_AUTH_SESSIONS ")"
                                    " FROM sessions WHERE rolled_back = 0");
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &upd, "UPDATE sessions SET rolled_back = 1, state = ?1,"
                                     " mac = rbx_mac('sessions', contact, generation, 1, base_key, ik)"
                                     " WHERE contact = ?2")) != 0) {
        rbx__st_done(st, sel);
        return rc;
    }
    while (rc == 0 && (rc = rbx__st_step(sel)) == 1) {
        int64_t id = sqlite3_column_int64(sel, 0), gen = sqlite3_column_int64(sel, 1);
        uint8_t *blob;
        size_t n;
        if ((rc = rbx__st_column_open(st, &blob, &n, sel, 2, "sessions", id, gen, state_column(0))) != 0)
            break;
        if (sqlite3_column_int(sel, 3) != 1) {
            rbx__st_free_secret(blob, n);
            rc = RBX_E_TAMPERED;
            break;
        }
        rc = rbx__st_bind_sealed(st, upd, 1, "sessions", id, gen, state_column(1), blob, n);
        rbx__st_free_secret(blob, n);
        sqlite3_bind_int64(upd, 2, id);
        if (rc == 0) rc = rbx__st_step(upd) < 0 ? RBX_E_IO : 0;
        sqlite3_reset(upd);
    }
    rbx__st_done(st, sel);
    rbx__st_done(st, upd);
    return rc < 0 ? rc : 0;
}

/* Open a sealed session state (column col of the current row) under the
 * handle's policy limits; a state that does not parse is RBX_E_CORRUPT. */
static int column_session(rbx_store *st, rbx_session **out, sqlite3_stmt *s, int col,
                          const char *table, int64_t rowkey, int64_t gen, const char *column)
{
    uint8_t *blob;
    size_t n;
    *out = NULL;
    int rc = rbx__st_column_open(st, &blob, &n, s, col, table, rowkey, gen, column);
    if (rc != 0) return rc;
    rc = rbx_session_deserialize(out, blob, n);
    rbx__st_free_secret(blob, n);
    if (rc == RBX_E_MALFORMED || rc == RBX_E_VERSION) return RBX_E_CORRUPT;
    if (rc == 0) rbx__session_limit(*out, st->max_skip, st->max_skipped);
    return rc;
}

int rbx__st_load_session(rbx_store *st, rbx__stored_session *ss, int64_t contact_id)
{
    sqlite3_stmt *s;
    memset(ss, 0, sizeof *ss);
    int rc = rbx__st_prep(st, &s, "SELECT generation, rolled_back, state, ik,"
                                  " rbx_mac_ok('sessions', mac, " RBX_AUTH_SESSIONS ")"
                                  " FROM sessions WHERE contact = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        ss->exists = 1;
        ss->generation = sqlite3_column_int64(s, 0);
        ss->rolled_back = sqlite3_column_int64(s, 1) != 0;
        ss->ik = sqlite3_column_int64(s, 3);
        rc = column_session(st, &ss->s, s, 2, "sessions", contact_id, ss->generation,
                            state_column(ss->rolled_back));
        /* The state opens under (contact, generation, mark); the tag covers
         * the rest, the identity that began it above all (15.8). */
        if (rc == 0 && sqlite3_column_int(s, 4) != 1) rc = RBX_E_TAMPERED;
        if (rc != 0) {
            rbx_session_free(ss->s);
            memset(ss, 0, sizeof *ss);
        }
    }
    rbx__st_done(st, s);
    return rc < 0 ? rc : 0;
}

/* Bind a session's state, serialized and sealed, as parameter i; the
 * serialized plaintext is wiped before this returns. */
static int bind_session(rbx_store *st, sqlite3_stmt *s, int i, const char *table, int64_t rowkey,
                        int64_t gen, const char *column, const rbx_session *sess)
{
    size_t cap, n;
    uint8_t *blob;
    int rc = rbx_session_serialize(NULL, 0, &cap, sess);
    if (rc != 0) return rc;
    if ((blob = malloc(cap)) == NULL) return RBX_E_NOMEM;
    if ((rc = rbx_session_serialize(blob, cap, &n, sess)) == 0)
        rc = rbx__st_bind_sealed(st, s, i, table, rowkey, gen, column, blob, n);
    rbx__st_free_secret(blob, cap);
    return rc;
}

/* rolled_back: keep the flag of a session restored from an old copy; only a
 * new handshake (or rbx_store_reset_session) clears it. The row is updated
 * in place when it exists (a REPLACE would delete and insert it, and its
 * index entries with it), else inserted. */
int rbx__st_save_session(rbx_store *st, int64_t contact_id, const rbx_session *sess, int64_t gen,
                         int rolled_back, int64_t ik)
{
    static const char *const sql[] = {
        "UPDATE sessions SET generation = ?2, rolled_back = ?5, base_key = ?3, state = ?4, ik = ?6,"
        " mac = rbx_mac('sessions', ?1, ?2, ?5, ?3, ?6) WHERE contact = ?1",
        "INSERT INTO sessions (contact, generation, rolled_back, base_key, state, ik, mac)"
        " VALUES (?1, ?2, ?5, ?3, ?4, ?6, rbx_mac('sessions', ?1, ?2, ?5, ?3, ?6))",
    };
    int rc = 0, done = 0;
    for (size_t i = 0; i < 2 && rc == 0 && !done; i++) {
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, sql[i])) != 0) break;
        sqlite3_bind_int64(s, 5, rolled_back);
        sqlite3_bind_int64(s, 6, ik);
        sqlite3_bind_int64(s, 1, contact_id);
        sqlite3_bind_int64(s, 2, gen);
        sqlite3_bind_blob(s, 3, sess->base_key, 32, SQLITE_STATIC);
        rc = bind_session(st, s, 4, "sessions", contact_id, gen, state_column(rolled_back), sess);
        if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        done = rc == 0 && sqlite3_changes(rbx__store_db(st)) == 1;
        rbx__st_done(st, s);
    }
    return rc != 0 ? rc : done ? 0 : RBX_E_IO;
}

/* Sessions kept after a peer's rotation or a new handshake, for messages
 * still in flight (PROTOCOL.md "Rotation"): at most this many per contact. */
#define GRACE_SESSIONS 2

/* Keep a session in the grace table until `until` (at most GRACE_SESSIONS
 * per contact, the oldest dropped). Its state is sealed under the
 * generation of the transaction, like a current session's, so that an
 * older state of it cannot be put back (15.8). */
int rbx__st_grace_insert(rbx_store *st, int64_t contact_id, const rbx_session *sess, int64_t until)
{
    sqlite3_stmt *s;
    int64_t id, gen;
    int rc = rbx__st_next_generation(st, &gen);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT coalesce(max(id), 0) + 1 FROM retired_sessions")) != 0)
        return rc;
    rc = rbx__st_step(s) == 1 ? 0 : RBX_E_IO;
    id = sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO retired_sessions (id, contact, base_key, until, state,"
                                   " generation, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                                   " rbx_mac('retired_sessions', ?1, ?2, ?3, ?4, ?6))")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, contact_id);
    sqlite3_bind_blob(s, 3, sess->base_key, 32, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, until);
    sqlite3_bind_int64(s, 6, gen);
    rc = bind_session(st, s, 5, "retired_sessions", id, gen, "state", sess);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "DELETE FROM retired_sessions WHERE contact = ?1 AND id NOT IN"
                                   " (SELECT id FROM retired_sessions WHERE contact = ?1"
                                   " ORDER BY id DESC LIMIT ?2)")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    sqlite3_bind_int64(s, 2, GRACE_SESSIONS);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* Move the contact's session, as loaded, to the grace table until `until`;
 * a rolled-back one is dropped instead. */
int rbx__st_retire_loaded(rbx_store *st, int64_t contact_id, const rbx__stored_session *ss,
                          int64_t until)
{
    sqlite3_stmt *s;
    int rc;
    if (!ss->rolled_back && (rc = rbx__st_grace_insert(st, contact_id, ss->s, until)) != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "DELETE FROM sessions WHERE contact = ?1")) != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* The same for the contact's stored session, if it has one. */
int rbx__st_retire_session(rbx_store *st, int64_t contact_id, int64_t until)
{
    rbx__stored_session ss;
    int rc = rbx__st_load_session(st, &ss, contact_id);
    if (rc != 0 || !ss.exists) return rc;
    rc = rbx__st_retire_loaded(st, contact_id, &ss, until);
    rbx_session_free(ss.s);
    return rc;
}

/* The contact's retired sessions still in their grace window, newest first
 * (at most GRACE_SESSIONS), each with its row tag checked; the caller frees
 * out[i].s. */
int rbx__st_load_retired(rbx_store *st, int64_t contact_id, rbx__stored_session *out, size_t cap,
                         size_t *n)
{
    sqlite3_stmt *s;
    *n = 0;
    int rc = rbx__st_prep(st, &s, "SELECT id, state, generation,"
                                  " rbx_mac_ok('retired_sessions', mac, " RBX_AUTH_RETIRED_SESSIONS ")"
                                  " FROM retired_sessions WHERE contact = ?1"
                                  " AND until > ?2 ORDER BY id DESC LIMIT ?3");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    sqlite3_bind_int64(s, 2, rbx__st_now(st));
    sqlite3_bind_int64(s, 3, (int64_t)(cap < GRACE_SESSIONS ? cap : GRACE_SESSIONS));
    while ((rc = rbx__st_step(s)) == 1) {
        rbx__stored_session *ss = &out[*n];
        memset(ss, 0, sizeof *ss);
        ss->retired_id = sqlite3_column_int64(s, 0);
        ss->generation = sqlite3_column_int64(s, 2);
        ss->exists = 1;
        if ((rc = column_session(st, &ss->s, s, 1, "retired_sessions", ss->retired_id,
                                 ss->generation, "state")) != 0)
            break;
        (*n)++;
        if (sqlite3_column_int(s, 3) != 1) {
            rc = RBX_E_TAMPERED;
            break;
        }
    }
    rbx__st_done(st, s);
    if (rc < 0) {
        for (size_t i = 0; i < *n; i++) rbx_session_free(out[i].s);
        *n = 0;
        return rc;
    }
    return 0;
}

/* Store a retired session's advanced state (inside the caller's
 * transaction), sealed under the transaction's generation. */
int rbx__st_save_retired(rbx_store *st, int64_t id, const rbx_session *sess)
{
    sqlite3_stmt *s;
    int64_t gen;
    int rc = rbx__st_next_generation(st, &gen);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "UPDATE retired_sessions SET state = ?1, generation = ?3,"
                                   " mac = rbx_mac('retired_sessions', id, contact, base_key, until, ?3)"
                                   " WHERE id = ?2")) != 0)
        return rc;
    rc = bind_session(st, s, 1, "retired_sessions", id, gen, "state", sess);
    sqlite3_bind_int64(s, 2, id);
    sqlite3_bind_int64(s, 3, gen);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    return rc;
}

/* A schema 1 or 2 store migrating: the handshakes of the sessions it holds
 * as responder, so that their first messages are replays once the sessions
 * are gone (15.9), as long as their signed prekey lives. */
int rbx__st_seed_handshakes(rbx_store *st)
{
    static const struct {
        const char *sql, *table;
    } q[] = {
        { "SELECT contact, generation, rolled_back, state FROM sessions", "sessions" },
        { "SELECT id, generation, 0, state FROM retired_sessions", "retired_sessions" },
    };
    sqlite3_stmt *s, *ins;
    int rc = rbx__st_prep(st, &ins, "INSERT OR IGNORE INTO handshakes (spk, base_key)"
                                    " SELECT ?1, ?2 WHERE EXISTS"
                                    " (SELECT 1 FROM signed_prekeys WHERE id = ?1)");
    if (rc != 0) return rc;
    for (size_t i = 0; i < RBX_COUNTOF(q) && rc == 0; i++) {
        if ((rc = rbx__st_prep(st, &s, q[i].sql)) != 0) break;
        while ((rc = rbx__st_step(s)) == 1) {
            rbx_session *sess;
            int64_t row = sqlite3_column_int64(s, 0);
            const char *col = i == 0 ? state_column(sqlite3_column_int(s, 2) != 0) : "state";
            if ((rc = column_session(st, &sess, s, 3, q[i].table, row, sqlite3_column_int64(s, 1),
                                     col)) != 0)
                break;
            if (!sess->initiator) {
                sqlite3_bind_int64(ins, 1, sess->signed_prekey_id);
                sqlite3_bind_blob(ins, 2, sess->base_key, 32, SQLITE_TRANSIENT);
                rc = rbx__st_step(ins) < 0 ? RBX_E_IO : 0;
                sqlite3_reset(ins);
            }
            rbx_session_free(sess);
            if (rc != 0) break;
        }
        rbx__st_done(st, s);
    }
    rbx__st_done(st, ins);
    return rc < 0 ? rc : 0;
}
