/* SPDX-License-Identifier: MIT
 * Messages through the store (PROTOCOL.md "State and storage"): encrypt
 * into the outbox, decrypt into the inbox, redelivery and acks. Everything
 * that changes ratchet state runs in one BEGIN IMMEDIATE transaction: load,
 * advance, store, commit, and only then is a ciphertext or plaintext handed
 * out. The store's top floor with open.c: it calls every floor below. */
#include <stdio.h>

#include "session.h"
#include "store_int.h"

/* ------------------------------------------------------------ encrypt */

/* PROTOCOL.md 6.4 and 16.3: a version-2 session we initiate carries our
 * newest rotation records and our certificate in its PreKeyMessages, so a
 * contact pinned to one of our earlier keys can follow. Rows are outside
 * input: a record or certificate that does not parse is RBX_E_CORRUPT. */
static int attach_chain(rbx_store *st, rbx_session *s)
{
    uint8_t buf[RBX_CHAIN_MAX * RBX_ROTATION_MAXBYTES], cert[RBX_CERT_MAXBYTES];
    const uint8_t *recs[RBX_CHAIN_MAX];
    size_t lens[RBX_CHAIN_MAX], n, certlen;
    if (rbx__session_version(s) < 2) return 0;
    int rc = rbx__st_chain(st, buf, sizeof buf, recs, lens, &n);
    if (rc != 0 || n == 0) return rc;
    if ((rc = rbx__st_certificate(st, cert, sizeof cert, &certlen)) != 0) return rc;
    rc = rbx_session_set_chain(s, recs, lens, n, certlen ? cert : NULL, certlen);
    return rc == RBX_E_INVALID ? RBX_E_CORRUPT : rc;
}

/* The contact's session, or a new one from its stored bundle (X3DH). */
static int session_for_sending(rbx_store *st, rbx__stored_session *ss, int *fresh, const rbx__contact *c,
                               const rbx_policy *pol, const rbx_session_opts *opts)
{
    int rc = rbx__st_load_session(st, ss, c->id);
    *fresh = 0;
    if (rc != 0) return rc;
    /* A key its organisation revoked gets nothing more. */
    if (c->has_org && (rc = rbx__st_is_revoked(st, c->org, c->identity)) != 0) return rc;
    if (ss->exists) return ss->rolled_back ? RBX_E_ROLLBACK : 0;
    if (c->bundlelen == 0) return RBX_E_NOT_FOUND;
    rbx_bundle b;
    uint8_t ik_pk[32], ik_sk[32];
    if ((rc = rbx_bundle_parse(&b, c->bundle, c->bundlelen)) != 0) return RBX_E_CORRUPT;
    if (sodium_memcmp(b.identity, c->identity, 32) != 0) return RBX_E_CORRUPT;
    if (b.signed_prekey_created != 0 &&
        rbx__st_now(st) - (int64_t)b.signed_prekey_created > (int64_t)pol->spk_max_age)
        return RBX_E_EXPIRED; /* held too long: fetch a fresh bundle */
    if ((rc = rbx__st_identity_seq(st, &ss->ik)) != 0 ||
        (rc = rbx__st_load_identity(st, ik_pk, ik_sk)) != 0)
        return rc;
    rc = rbx_session_initiate(&ss->s, ik_pk, ik_sk, &b, opts);
    WIPE(ik_sk);
    *fresh = rc == 0;
    if (rc == 0) rc = attach_chain(st, ss->s);
    return rc;
}

static int outbox_insert(rbx_store *st, uint64_t *id, int64_t contact_id, const uint8_t *wire,
                         size_t len)
{
    sqlite3_stmt *s;
    int rc = rbx__st_prep(st, &s, "INSERT INTO outbox (contact, wire, created) VALUES (?1, ?2, ?3)"
                          " RETURNING id");
    if (rc != 0) return rc;
    sqlite3_bind_int64(s, 1, contact_id);
    sqlite3_bind_blob(s, 2, wire, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, rbx__st_now(st));
    rc = rbx__st_step(s);
    if (rc == 1) *id = (uint64_t)sqlite3_column_int64(s, 0);
    rbx__st_done(st, s);
    return rc == 1 ? 0 : rc == 0 ? RBX_E_IO : rc;
}

int rbx_store_encrypt_batch(rbx_store *st, uint8_t *out, size_t outcap, size_t *offsets,
                            size_t *lens, uint64_t *ids, const char *name, uint32_t device,
                            const uint8_t *const *pts, const size_t *ptlens, size_t n,
                            const rbx_session_opts *opts)
{
    rbx__contact c;
    rbx__stored_session ss = { 0 };
    rbx_policy pol;
    int fresh = 0;
    int64_t gen;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) offsets[i] = lens[i] = 0, ids[i] = 0;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    /* The policy is read once per call: a new session's bundle age, the archive. */
    if ((rc = rbx__st_find_contact(st, &c, name, device)) != 0 || (rc = rbx__st_policy(st, &pol)) != 0 ||
        (rc = session_for_sending(st, &ss, &fresh, &c, &pol, opts)) != 0 ||
        (rc = rbx__st_next_generation(st, &gen)) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if ((rc = rbx_session_encrypt(ss.s, out + used, outcap - used, &lens[i], pts[i],
                                      ptlens[i])) != 0)
            goto fail;
        /* Counted before anything else can fail: a ciphertext whose state
         * is rolled back must not stay in out (its key will be used again). */
        offsets[i] = used;
        used += lens[i];
        if ((rc = outbox_insert(st, &ids[i], c.id, out + offsets[i], lens[i])) != 0) goto fail;
        /* History (archive.c): kept in the transaction that sends it. */
        if (pol.archive && (rc = rbx__archive_add(st, ss.s->base_key, c.name, 1, pts[i], ptlens[i])) != 0)
            goto fail;
    }
    if ((rc = rbx__st_save_session(st, c.id, ss.s, gen, 0, ss.ik)) != 0) goto fail;
    if (fresh) {
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, c.identity);
        if ((rc = rbx__audit(st, "session established", "to %s/%u (%s), as initiator", c.name,
                             c.device, fp)) != 0)
            goto fail;
        /* The one-time prekey in the bundle is spent: drop the bundle. */
        sqlite3_stmt *s;
        if ((rc = rbx__st_prep(st, &s, "UPDATE contacts SET bundle = NULL WHERE id = ?1")) != 0) goto fail;
        sqlite3_bind_int64(s, 1, c.id);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        rbx__st_done(st, s);
        if (rc != 0) goto fail;
    }
    rbx_session_free(ss.s);
    ss.s = NULL;
    /* The advanced state is durable before any ciphertext leaves. */
    if ((rc = rbx__st_commit(st, gen)) != 0) goto wipe;
    return 0;
fail:
    rbx__st_rollback(st);
    rbx_session_free(ss.s);
wipe:
    WIPE_BUF(out, used);
    for (size_t i = 0; i < n; i++) offsets[i] = lens[i] = 0, ids[i] = 0;
    return rc;
}

int rbx_store_encrypt(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                      uint64_t *outbox_id, const char *name, uint32_t device, const uint8_t *pt,
                      size_t ptlen, const rbx_session_opts *opts)
{
    size_t off;
    static const uint8_t empty[1];
    const uint8_t *pts[1] = { pt != NULL ? pt : empty };
    if (pt == NULL && ptlen != 0) return RBX_E_INVALID;
    return rbx_store_encrypt_batch(st, out, outcap, &off, outlen, outbox_id, name, device, pts,
                                   &ptlen, 1, opts);
}

int rbx_store_outbox_next(rbx_store *st, uint8_t *out, size_t outcap, size_t *outlen,
                          uint64_t *outbox_id, char name[RBX_NAME_MAX], uint32_t *device)
{
    sqlite3_stmt *s;
    int64_t gen;
    *outlen = 0;
    /* An outbox entry may be left by a process that died between its COMMIT
     * and raising the generation record: raise it now, before releasing,
     * so that every released ciphertext stays covered (P 15.6). */
    int rc = rbx__st_meta_get(st, "generation", &gen);
    if (rc == 0) rc = rbx__st_sidecar_raise(st, gen, 1);
    if (rc != 0) return rc;
    rc = rbx__st_prep(st, &s, "SELECT o.id, o.wire, c.name, c.device FROM outbox o"
                          " JOIN contacts c ON c.id = o.contact ORDER BY o.id LIMIT 1");
    if (rc != 0) return rc;
    rc = rbx__st_step(s);
    if (rc == 1) {
        /* Rows are outside input: any type, any length, any device. The
         * type first: after a conversion sqlite3_column_type is undefined. */
        int blob = sqlite3_column_type(s, 1) == SQLITE_BLOB;
        size_t n = (size_t)sqlite3_column_bytes(s, 1);
        const unsigned char *nm = sqlite3_column_text(s, 2);
        int64_t dev = sqlite3_column_int64(s, 3);
        if (!blob || n == 0 || nm == NULL || !rbx__st_name_ok((const char *)nm) || dev < 0 ||
            dev > UINT32_MAX) {
            rc = RBX_E_CORRUPT;
        } else if (n > outcap) {
            rc = RBX_E_BUFFER;
        } else {
            memcpy(out, sqlite3_column_blob(s, 1), n);
            *outlen = n;
            *outbox_id = (uint64_t)sqlite3_column_int64(s, 0);
            snprintf(name, RBX_NAME_MAX, "%s", (const char *)nm);
            *device = (uint32_t)dev;
            rc = 0;
        }
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    return rc;
}

static int delete_by_id(rbx_store *st, const char *sql, uint64_t id)
{
    sqlite3_stmt *s;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, sql)) == 0) {
        sqlite3_bind_int64(s, 1, (int64_t)id);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : sqlite3_changes(st->db) == 1 ? 0 : RBX_E_NOT_FOUND;
        rbx__st_done(st, s);
    }
    if (rc != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    return rbx__st_commit(st, 0);
}

int rbx_store_ack_outbox(rbx_store *st, uint64_t id)
{
    return delete_by_id(st, "DELETE FROM outbox WHERE id = ?1", id);
}

int rbx_store_ack_inbox(rbx_store *st, uint64_t id)
{
    return delete_by_id(st, "DELETE FROM inbox WHERE id = ?1", id);
}

int rbx_store_ack_inbox_batch(rbx_store *st, const uint64_t *ids, size_t n, size_t *deleted)
{
    sqlite3_stmt *s;
    *deleted = 0;
    if (n == 0) return 0;
    int rc = rbx__st_begin(st);
    if (rc != 0) return rc;
    size_t k = 0;
    if ((rc = rbx__st_prep(st, &s, "DELETE FROM inbox WHERE id = ?1")) == 0) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            sqlite3_bind_int64(s, 1, (int64_t)ids[i]);
            rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
            k += (size_t)sqlite3_changes(st->db);
            sqlite3_reset(s);
        }
        rbx__st_done(st, s);
    }
    if (rc != 0) {
        rbx__st_rollback(st);
        return rc;
    }
    if ((rc = rbx__st_commit(st, 0)) == 0) *deleted = k;
    return rc;
}

/* ------------------------------------------------------------ decrypt */

static void fill_received(rbx_received *info, const rbx__contact *c, uint64_t inbox_id, int new_contact,
                          int redelivered)
{
    snprintf(info->name, sizeof info->name, "%s", c->name);
    info->device = c->device;
    memcpy(info->peer_identity, c->identity, 32);
    info->inbox_id = inbox_id;
    info->new_contact = new_contact;
    info->redelivered = redelivered;
}

/* A message already accepted and still in the inbox: its plaintext again. */
static int inbox_lookup(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen,
                        rbx_received *info, const uint8_t digest[32])
{
    sqlite3_stmt *s;
    rbx__contact c;
    int64_t id = 0;
    int rc = rbx__st_prep(st, &s, "SELECT id, generation, pt, contact FROM inbox WHERE digest = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, digest, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    if (rc == 1) {
        id = sqlite3_column_int64(s, 0);
        c.id = sqlite3_column_int64(s, 3);
        rc = sqlite3_column_type(s, 2) != SQLITE_BLOB
                 ? RBX_E_CORRUPT
                 : rbx__row_open(pt, ptcap, ptlen, st->key, "inbox", id,
                                 sqlite3_column_int64(s, 1), "pt", sqlite3_column_blob(s, 2),
                                 (size_t)sqlite3_column_bytes(s, 2));
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    /* The sender as the contacts table has it, pin checked. */
    if (rc == 0 && (rc = rbx__st_find_contact_by_id(st, &c, c.id)) == 0)
        fill_received(info, &c, (uint64_t)id, 0, 1);
    if (rc != 0 && *ptlen) {
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
    }
    return rc == RBX_E_NOT_FOUND && id != 0 ? RBX_E_CORRUPT : rc;
}

/* The responder's keys for one first message, from the tables: the identity
 * that signed the named signed prekey (ours, or one still in its grace
 * window after a rotation; *ik_out says which). */
static int load_prekeys(rbx_store *st, rbx_prekeys **out, const rbx_prekey_info *pi,
                        int64_t *ik_out)
{
    uint8_t ik_pk[32], ik_sk[32], sk[32];
    int64_t ik = 0, current;
    sqlite3_stmt *s;
    *out = NULL;
    int rc = rbx__st_identity_seq(st, &current);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT sk, ik FROM signed_prekeys WHERE id = ?1")) != 0) return rc;
    sqlite3_bind_int64(s, 1, pi->signed_prekey_id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        ik = sqlite3_column_int64(s, 1);
        rc = rbx__st_column_key(st, sk, s, 0, "signed_prekeys", pi->signed_prekey_id, "sk");
    } else if (rc == 0) {
        rc = RBX_E_UNKNOWN_PREKEY;
    }
    rbx__st_done(st, s);
    if (rc != 0) goto out;
    if (ik == current) {
        rc = rbx__st_load_identity(st, ik_pk, ik_sk);
    } else {
        if ((rc = rbx__st_prep(st, &s, "SELECT pk, sk FROM old_identities WHERE seq = ?1"
                                       " AND grace_until > ?2")) != 0)
            goto out;
        sqlite3_bind_int64(s, 1, ik);
        sqlite3_bind_int64(s, 2, rbx__st_now(st));
        rc = rbx__st_step(s);
        if (rc == 1 && sqlite3_column_bytes(s, 0) == 32) {
            memcpy(ik_pk, sqlite3_column_blob(s, 0), 32);
            rc = rbx__st_column_key(st, ik_sk, s, 1, "old_identities", ik, "sk");
            if (rc == 0 && !rbx__keypair_matches(ik_pk, ik_sk)) rc = RBX_E_CORRUPT;
        } else {
            rc = rc < 0 ? rc : rc == 1 ? RBX_E_CORRUPT : RBX_E_UNKNOWN_PREKEY; /* grace over */
        }
        rbx__st_done(st, s);
    }
    if (rc != 0) goto out;
    if ((rc = rbx_prekeys_new(out, ik_pk, ik_sk)) != 0) goto out;
    if ((rc = rbx_prekeys_add_signed(*out, pi->signed_prekey_id, sk)) != 0 || !pi->has_onetime)
        goto out;
    if ((rc = rbx__st_prep(st, &s, "SELECT sk FROM onetime_prekeys WHERE id = ?1")) != 0) goto out;
    sqlite3_bind_int64(s, 1, pi->onetime_prekey_id);
    rc = rbx__st_step(s);
    if (rc == 1 && sqlite3_column_type(s, 0) == SQLITE_NULL) rc = RBX_E_PREKEY_REUSED;
    else if (rc == 1) rc = rbx__st_column_key(st, sk, s, 0, "onetime_prekeys", pi->onetime_prekey_id, "sk");
    else if (rc == 0) rc = RBX_E_UNKNOWN_PREKEY;
    rbx__st_done(st, s);
    if (rc == 0) rc = rbx_prekeys_add_onetime(*out, pi->onetime_prekey_id, sk);
out:
    WIPE(ik_sk);
    WIPE(sk);
    *ik_out = ik;
    if (rc != 0) {
        rbx_prekeys_free(*out);
        *out = NULL;
    }
    return rc;
}

int rbx_store_decrypt(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen, rbx_received *info,
                      const char *name, uint32_t device, const uint8_t *in, size_t len)
{
    uint8_t digest[32];
    rbx_prekey_info pi;
    rbx__contact c = { 0 };
    rbx__stored_session ss = { 0 };
    rbx_prekeys *pre = NULL;
    int have_contact = 0, new_contact = 0, in_grace = 0, old_key = 0, chain_rc = 0, rc;
    uint8_t grace_base[32] = { 0 };
    int64_t old_key_until = 0;
    int64_t gen;
    *ptlen = 0;
    memset(info, 0, sizeof *info);
    if (name != NULL && !rbx__st_name_ok(name)) return RBX_E_INVALID;
    int kind = rbx_message_prekey_info(&pi, in, len);
    if (kind < 0) return kind;
    if (kind == 0 && name == NULL) return RBX_E_INVALID;
    crypto_generichash(digest, sizeof digest, in, len, NULL, 0);
    if ((rc = rbx__st_begin(st)) != 0) return rc;

    rc = inbox_lookup(st, pt, ptcap, ptlen, info, digest);
    if (rc != RBX_E_NOT_FOUND) goto fail_or_done; /* redelivered (0) or an error */

    rc = name != NULL ? rbx__st_find_contact(st, &c, name, device)
                      : rbx__st_find_contact_by_identity(st, &c, pi.initiator_identity);
    /* A first message under a key the peer has since rotated away from,
     * still in its grace window: a session for the grace table. */
    if (kind == 1 && rc != 0 && rc != RBX_E_NOT_FOUND) goto fail;
    if (kind == 1 && (rc == RBX_E_NOT_FOUND ||
                      sodium_memcmp(c.identity, pi.initiator_identity, 32) != 0)) {
        int r = rbx__st_find_contact_by_old_key(st, &c, pi.initiator_identity, rc == 0 ? c.id : 0,
                                                &old_key_until);
        if (r != 0 && r != RBX_E_NOT_FOUND) {
            rc = r;
            goto fail;
        }
        if (r == 0) rc = 0, old_key = 1;
    }
    /* PROTOCOL.md 6.4: a first message under a key we do not know may bring
     * the records that lead to it from a contact's pinned key. A refusal
     * of the chain is reported only if the message authenticates (below),
     * so that a forgery cannot raise identity warnings. */
    if (kind == 1 && !old_key &&
        (rc == RBX_E_NOT_FOUND || sodium_memcmp(c.identity, pi.initiator_identity, 32) != 0)) {
        int found;
        int r = rbx__st_contact_from_message(st, &c, rc == 0, &found, in, len);
        if (r == 0) rc = 0;
        else if (r == RBX_E_IO || r == RBX_E_CORRUPT || r == RBX_E_NOMEM) rc = r;
        else if (r != RBX_E_NOT_FOUND) chain_rc = r, rc = found ? 0 : rc;
    }
    if (rc != 0 && rc != RBX_E_NOT_FOUND) goto fail;
    have_contact = rc == 0;
    if (have_contact && (rc = rbx__st_load_session(st, &ss, c.id)) != 0) goto fail;
    if (ss.exists && (kind == 0 || sodium_memcmp(ss.s->base_key, pi.base_key, 32) == 0)) {
        rc = rbx_session_decrypt(ss.s, pt, ptcap, ptlen, in, len);
        /* Sent under a session that a rotation or a new handshake replaced. */
        if (rc == RBX_E_AUTH) {
            int r = rbx__st_grace_decrypt(st, c.id, kind, pi.base_key, pt, ptcap, ptlen, in, len, grace_base);
            /* None took it: the current session's answer stands. A storage
             * error is not a forgery: it is returned, as below. */
            if (r != RBX_E_NOT_FOUND) rc = r;
            in_grace = r == 0;
        }
    } else if (have_contact && (rc = rbx__st_grace_decrypt(st, c.id, kind, pi.base_key, pt, ptcap, ptlen,
                                                           in, len, grace_base)) != RBX_E_NOT_FOUND) {
        in_grace = rc == 0;
    } else if (kind == 1) {
        uint32_t consumed;
        rbx_session *fresh = NULL;
        rbx_policy pol;
        /* A key an organisation we follow revoked starts nothing. */
        if ((rc = rbx__st_is_revoked(st, NULL, pi.initiator_identity)) != 0) goto fail;
        if ((rc = load_prekeys(st, &pre, &pi, &ss.ik)) != 0) goto fail;
        rc = rbx_session_accept(&fresh, pt, ptcap, ptlen, &consumed, pre,
                                old_key ? pi.initiator_identity : have_contact ? c.identity : NULL,
                                in, len);
        /* Authenticated under IK_A, which the chain did not lead to: its
         * refusal, now that it cannot be a forger's. */
        if ((rc == 0 || rc == RBX_E_IDENTITY_CHANGED) && chain_rc != 0) {
            rbx_session_free(fresh);
            rc = chain_rc;
        }
        if (rc != 0) goto fail;
        if (old_key) {
            /* Under the peer's old key: kept beside the current session for
             * what is left of that key's grace window, never in its place. */
            rc = rbx__st_grace_insert(st, c.id, fresh, old_key_until);
            rbx_session_free(fresh);
            if (rc != 0) goto fail;
            in_grace = 1;
        } else {
            /* The session this handshake replaces keeps taking its messages
             * in flight for the grace window. */
            if (ss.exists && ((rc = rbx__st_policy(st, &pol)) != 0 ||
                              (rc = rbx__st_retire_loaded(st, c.id, &ss, rbx__st_now(st) +
                                                          (int64_t)pol.identity_grace)) != 0)) {
                rbx_session_free(fresh);
                goto fail;
            }
            rbx_session_free(ss.s);
            ss.s = fresh;
            ss.rolled_back = 0; /* a new handshake */
        }
        if (!have_contact) {
            if (name != NULL) snprintf(c.name, sizeof c.name, "%s", name);
            else rbx_fingerprint(c.name, pi.initiator_identity);
            c.device = device;
            memcpy(c.identity, pi.initiator_identity, 32);
            c.bundlelen = 0;
            if ((rc = rbx__st_insert_contact(st, &c)) != 0) goto fail;
            new_contact = 1;
        }
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, c.identity);
        if ((rc = rbx__audit(st, "session established", "from %s/%u (%s), as responder%s", c.name,
                             c.device, fp, new_contact ? ", new contact" : "")) != 0)
            goto fail;
        if (consumed != UINT32_MAX) {
            /* The one-time prekey's secret is erased; its id stays, so a
             * second use is told apart from an unknown id. */
            sqlite3_stmt *s;
            if ((rc = rbx__st_prep(st, &s, "UPDATE onetime_prekeys SET sk = NULL, offered = 1 WHERE id = ?1")) != 0)
                goto fail;
            sqlite3_bind_int64(s, 1, consumed);
            rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
            rbx__st_done(st, s);
        }
    } else {
        rc = RBX_E_NOT_FOUND;
    }
    if (rc != 0) goto fail;

    if ((rc = rbx__st_next_generation(st, &gen)) != 0 ||
        (!in_grace && (rc = rbx__st_save_session(st, c.id, ss.s, gen, ss.rolled_back, ss.ik)) != 0))
        goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO inbox (id, contact, digest, generation, pt, created)"
                           " VALUES (?1, ?2, ?3, ?1, ?4, ?5)")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, gen);
    sqlite3_bind_int64(s, 2, c.id);
    sqlite3_bind_blob(s, 3, digest, 32, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 4, "inbox", gen, gen, "pt", pt, *ptlen);
    sqlite3_bind_int64(s, 5, rbx__st_now(st));
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) goto fail;
    /* History (archive.c): kept in the transaction that accepts it, under
     * the session that decrypted it (a grace session's, or a first
     * message's base key under the peer's old identity). */
    rbx_policy pol;
    const uint8_t *session = !in_grace ? ss.s->base_key : kind == 1 ? pi.base_key : grace_base;
    if ((rc = rbx__st_policy(st, &pol)) != 0 ||
        (pol.archive && (rc = rbx__archive_add(st, session, c.name, 0, pt, *ptlen)) != 0))
        goto fail;
    rbx_session_free(ss.s);
    rbx_prekeys_free(pre);
    if ((rc = rbx__st_commit(st, gen)) != 0) {
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
        return rc;
    }
    fill_received(info, &c, (uint64_t)gen, new_contact, 0);
    return 0;
fail_or_done:
    if (rc == 0) {
        rbx__st_rollback(st);
        return 0;
    }
fail:
    rbx__st_rollback(st);
    rbx_session_free(ss.s);
    rbx_prekeys_free(pre);
    if (*ptlen) WIPE_BUF(pt, *ptlen);
    *ptlen = 0;
    memset(info, 0, sizeof *info);
    return rc;
}
