/* SPDX-License-Identifier: MIT
 * Messages through the store (PROTOCOL.md "State and storage"): encrypt
 * into the outbox, decrypt into the inbox, redelivery and acks. Everything
 * that changes ratchet state runs in one BEGIN IMMEDIATE transaction: load,
 * advance, store, commit, and only then is a ciphertext or plaintext handed
 * out. The store's top floor with open.c: it calls every floor below. */
#include <stdio.h>

#include "rotation.h"
#include "session.h"
#include "store_int.h"
#include "wire.h"

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
    /* 18.6: a new session only with a contact bound to the required root
     * (its key was certified by it when added, trusted or rotated). */
    if (pol->has_require_org && !(c->has_org && sodium_memcmp(c->org, pol->require_org, 32) == 0))
        return RBX_E_UNCERTIFIED;
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
        rbx_fingerprint(fp, ss.s->ad + 32); /* IK_B, the key X3DH authenticated */
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
    if ((rc = rbx__st_commit_release(st, gen)) != 0) goto wipe;
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
    *outlen = 0;
    /* An outbox entry may be left by a process that died between its COMMIT
     * and raising the generation record, or by an encrypt whose raise
     * failed: raise it now, before releasing, so that every released
     * ciphertext stays covered (P 15.6). */
    int rc = rbx__st_record_catch_up(st);
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

/* ------------------------------------------------------------ decrypt
 * PROTOCOL.md 15.9 is the algorithm; the steps are cited as D1..D7. */

/* The identity a session authenticates its peer with: IK_B for the
 * initiator, IK_A for the responder (AD = IK_A || IK_B). */
static const uint8_t *session_peer(const rbx_session *s)
{
    return s->initiator ? s->ad + 32 : s->ad;
}

static void fill_received(rbx_received *info, const rbx__contact *c, const uint8_t identity[32],
                          uint64_t inbox_id, int new_contact, int redelivered)
{
    snprintf(info->name, sizeof info->name, "%s", c->name);
    info->device = c->device;
    /* The key that authenticated the message, not the contact's pin: they
     * differ for a message under a key the contact rotated away from. */
    memcpy(info->peer_identity, RBX_CHECK_AUTH_KEY ? identity : c->identity, 32);
    info->inbox_id = inbox_id;
    info->new_contact = new_contact;
    info->redelivered = redelivered;
}

/* D2: a message already accepted and still in the inbox: its plaintext again. */
static int inbox_lookup(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen,
                        rbx_received *info, const uint8_t digest[32])
{
    sqlite3_stmt *s;
    rbx__contact c;
    uint8_t identity[32];
    int64_t id = 0;
    int has_identity = 0;
    int rc = rbx__st_prep(st, &s, "SELECT id, generation, pt, contact, identity, digest,"
                                  " rbx_mac_ok('inbox', mac, " RBX_AUTH_INBOX ")"
                                  " FROM inbox WHERE digest = ?1");
    if (rc != 0) return rc;
    sqlite3_bind_blob(s, 1, digest, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    if (rc == 1) {
        id = sqlite3_column_int64(s, 0);
        c.id = sqlite3_column_int64(s, 3);
        has_identity = sqlite3_column_type(s, 4) != SQLITE_NULL;
        /* Its tag covers sender, digest and identity; and the row found
         * through the index must be the one asked for (15.8). */
        if (sqlite3_column_int(s, 6) != 1 || sqlite3_column_bytes(s, 5) != 32 ||
            sodium_memcmp(sqlite3_column_blob(s, 5), digest, 32) != 0 ||
            (has_identity && sqlite3_column_bytes(s, 4) != 32))
            rc = RBX_E_TAMPERED;
        else if (sqlite3_column_type(s, 2) != SQLITE_BLOB)
            rc = RBX_E_CORRUPT;
        else
            rc = rbx__row_open(pt, ptcap, ptlen, st->key, "inbox", id, sqlite3_column_int64(s, 1),
                               "pt", sqlite3_column_blob(s, 2), (size_t)sqlite3_column_bytes(s, 2));
        if (rc == 0 && has_identity) memcpy(identity, sqlite3_column_blob(s, 4), 32);
    } else if (rc == 0) {
        rc = RBX_E_NOT_FOUND;
    }
    rbx__st_done(st, s);
    /* The sender as the contacts table has it, pin checked; rows from
     * before schema 3 did not record the key: the contact's is reported. */
    if (rc == 0 && (rc = rbx__st_find_contact_by_id(st, &c, c.id)) == 0)
        fill_received(info, &c, has_identity ? identity : c.identity, (uint64_t)id, 0, 1);
    if (rc != 0 && *ptlen) {
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
    }
    return rc == RBX_E_NOT_FOUND && id != 0 ? RBX_E_CORRUPT : rc;
}

/* D5: the responder's keys for one first message, from the tables: the
 * identity that signed the named signed prekey (ours, or one still in its
 * grace window after a rotation; *ik_out says which), each row's tag
 * checked. */
static int load_prekeys(rbx_store *st, rbx_prekeys **out, const rbx_prekey_info *pi,
                        int64_t *ik_out)
{
    uint8_t ik_pk[32], ik_sk[32], sk[32];
    int64_t ik = 0, current;
    sqlite3_stmt *s;
    *out = NULL;
    int rc = rbx__st_identity_seq(st, &current);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "SELECT sk, ik, rbx_mac_ok('signed_prekeys', mac, "
                                   RBX_AUTH_SIGNED_PREKEYS ") FROM signed_prekeys WHERE id = ?1")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, pi->signed_prekey_id);
    rc = rbx__st_step(s);
    if (rc == 1) {
        ik = sqlite3_column_int64(s, 1);
        rc = sqlite3_column_int(s, 2) != 1
                 ? RBX_E_TAMPERED
                 : rbx__st_column_key(st, sk, s, 0, "signed_prekeys", pi->signed_prekey_id, "sk");
    } else if (rc == 0) {
        rc = RBX_E_UNKNOWN_PREKEY;
    }
    rbx__st_done(st, s);
    if (rc != 0) goto out;
    if (ik == current) {
        rc = rbx__st_load_identity(st, ik_pk, ik_sk);
    } else {
        if ((rc = rbx__st_prep(st, &s, "SELECT pk, sk, rbx_mac_ok('old_identities', mac, "
                                       RBX_AUTH_OLD_IDENTITIES ") FROM old_identities WHERE seq = ?1"
                                       " AND grace_until > ?2")) != 0)
            goto out;
        sqlite3_bind_int64(s, 1, ik);
        sqlite3_bind_int64(s, 2, rbx__st_now(st));
        rc = rbx__st_step(s);
        if (rc == 1 && sqlite3_column_int(s, 2) != 1) {
            rc = RBX_E_TAMPERED;
        } else if (rc == 1 && sqlite3_column_bytes(s, 0) == 32) {
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
    if ((rc = rbx__st_prep(st, &s, "SELECT sk, rbx_mac_ok('onetime_prekeys', mac, "
                                   RBX_AUTH_ONETIME_PREKEYS ") FROM onetime_prekeys WHERE id = ?1")) != 0)
        goto out;
    sqlite3_bind_int64(s, 1, pi->onetime_prekey_id);
    rc = rbx__st_step(s);
    /* Consumed or not is the tag's to say: a secret put back after its
     * consumption is refused here as well as by the set check at open. */
    if (rc == 1 && sqlite3_column_int(s, 1) != 1) rc = RBX_E_TAMPERED;
    else if (rc == 1 && sqlite3_column_type(s, 0) == SQLITE_NULL) rc = RBX_E_PREKEY_REUSED;
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

/* D3: who sent it. The contact named, else for a PreKeyMessage the contact
 * pinned to its identity key; for a PreKeyMessage under a key that is not
 * that contact's, the contact that had the key before, within its grace
 * window (*old_key, *until). RBX_E_NOT_FOUND: an unknown sender. */
static int find_sender(rbx_store *st, rbx__contact *c, int *old_key, int64_t *until,
                       const char *name, uint32_t device, int kind, const rbx_prekey_info *pi)
{
    *old_key = 0;
    int rc = name != NULL ? rbx__st_find_contact(st, c, name, device)
                          : rbx__st_find_contact_by_identity(st, c, pi->initiator_identity);
    if (kind == 0 || (rc != 0 && rc != RBX_E_NOT_FOUND)) return rc;
    if (rc == 0 && sodium_memcmp(c->identity, pi->initiator_identity, 32) == 0) return 0;
    int r = rbx__st_find_contact_by_old_key(st, c, pi->initiator_identity, rc == 0 ? c->id : 0,
                                            until);
    if (r == 0) *old_key = 1;
    return r == RBX_E_NOT_FOUND ? rc : r;
}

/* D3, for a PreKeyMessage under a key neither pinned for the contact nor
 * an earlier one in its grace window: the rotation records a version-2
 * first message carries (PROTOCOL.md 6.4, 16.4 "From a first message").
 * named: *c is the contact the caller named. 0: the records led from *c's
 * pin (or, unnamed, from some contact's, now *c) to IK_A and the rotation
 * is applied in this transaction (*rotated); it commits only with the
 * handshake. RBX_E_NOT_FOUND: no records, or unnamed and no contact behind
 * them: an unknown sender. A refusal of the chain is kept in *chain_rc and
 * reported only if the handshake authenticates (D5), so that a forgery
 * cannot raise an identity warning; the contact is then still the one the
 * records or the name found (0), with its pin unchanged. Storage errors and
 * rows that fail their checks end the decrypt. */
static int follow_records(rbx_store *st, rbx__contact *c, int named, int *rotated, int *chain_rc,
                          const uint8_t *in, size_t len)
{
    int found;
    int r = rbx__st_contact_from_message(st, c, named, &found, in, len);
    *rotated = r == 0;
    if (r == 0) return 0;
    if (r == RBX_E_IO || r == RBX_E_CORRUPT || r == RBX_E_NOMEM || r == RBX_E_TAMPERED) return r;
    if (r == RBX_E_NOT_FOUND) return named ? 0 : r;
    *chain_rc = r;
    return found ? 0 : RBX_E_NOT_FOUND;
}

/* The candidates (D4): the current session first, if there is one, then
 * the retired sessions in their grace window, newest first. */
#define MAX_CANDIDATES 3

typedef struct candidates {
    rbx__stored_session c[MAX_CANDIDATES];
    size_t n;
    int has_current;  /* c[0] is the current session */
} candidates;

static void candidates_free(candidates *cs)
{
    for (size_t i = 0; i < cs->n; i++) rbx_session_free(cs->c[i].s);
    memset(cs, 0, sizeof *cs);
}

/* The current session, then (candidates_retired) the retired ones: those
 * are read only when the current one cannot settle the message alone. */
static int candidates_current(rbx_store *st, candidates *cs, int64_t contact_id)
{
    memset(cs, 0, sizeof *cs);
    int rc = rbx__st_load_session(st, &cs->c[0], contact_id);
    if (rc != 0) return rc;
    cs->has_current = cs->c[0].exists;
    cs->n = cs->has_current ? 1 : 0;
    return 0;
}

static int candidates_retired(rbx_store *st, candidates *cs, int64_t contact_id)
{
    size_t n = 0;
    int rc = rbx__st_load_retired(st, contact_id, &cs->c[cs->n], MAX_CANDIDATES - cs->n, &n);
    if (rc != 0) return rc;
    cs->n += n;
    return 0;
}

/* D6: how a Message's header relates to a session. */
enum { FIT_NONE, FIT_STEP, FIT_CHAIN };

static int header_fit(const rbx__stored_session *c, const rbx__msg *m)
{
    const rbx_session *s = c->s;
    if ((m->enc_header != NULL) != (s->header_encryption != 0)) return FIT_NONE;
    /* An encrypted header costs at most 15 header trials and no DH before
     * it authenticates (7.4 H1-H4): every session may try it. */
    if (m->enc_header != NULL) return FIT_STEP;
    const uint8_t *k = m->ratchet_key;
    if ((s->st.flags & RBX_HAS_DHR) && memcmp(k, s->st.dhr, 32) == 0) return FIT_CHAIN;
    for (uint32_t i = 0; i < s->st.nrecent; i++)
        if (memcmp(k, s->st.recent[i], 32) == 0) return FIT_CHAIN;
    for (size_t i = 0; i < s->nskipped; i++)
        if (memcmp(k, s->skipped[i].chain, 32) == 0) return FIT_CHAIN;
    /* A new ratchet key answers the session's own: the peer can hold that
     * only if the session sent with it (Ns > 0; a rolled-back session may
     * have sent with it before the rollback lost the count), and the
     * peer's previous chain then holds every message received in it. */
    if ((s->st.ns > 0 || c->rolled_back) && m->previous_counter >= s->st.nr) return FIT_STEP;
    return FIT_NONE;
}

/* One candidate tries the message: 0 (it took it), or its error, noted in
 * *first (the first error) and *replay. */
static int try_one(rbx_store *st, rbx__stored_session *c, int *first, int *replay, uint8_t *pt,
                   size_t ptcap, size_t *ptlen, const uint8_t *in, size_t len)
{
    st->tried++;
    int rc = rbx_session_decrypt(c->s, pt, ptcap, ptlen, in, len);
    if (rc == 0) return 0;
    if (*ptlen) WIPE_BUF(pt, *ptlen);
    *ptlen = 0;
    *replay |= rc == RBX_E_REPLAY;
    if (*first == 0) *first = rc;
    return rc;
}

/* D6: a Message through the sessions it can belong to; *which is the one
 * that decrypted it. The retired sessions are loaded only when the current
 * one does not settle it: when it knows the ratchet key (or the header is
 * encrypted) it is the first candidate D6 tries anyway. */
static int route_message(rbx_store *st, candidates *cs, int64_t contact_id, size_t *which,
                         uint8_t *pt, size_t ptcap, size_t *ptlen, const uint8_t *in, size_t len)
{
    rbx__msg m;
    int fit[MAX_CANDIDATES], chain = 0, replay = 0, first = 0, tried_current = 0;
    int rc = rbx__msg_parse(&m, in, len);
    if (rc != 0) return rc;
    if (cs->has_current) {
        fit[0] = RBX_CHECK_PREFILTER ? header_fit(&cs->c[0], &m) : FIT_STEP;
        if (fit[0] == FIT_CHAIN || m.enc_header != NULL) {
            tried_current = 1;
            if ((rc = try_one(st, &cs->c[0], &first, &replay, pt, ptcap, ptlen, in, len)) == 0) {
                *which = 0;
                return 0;
            }
            if (rc == RBX_E_NOMEM) return rc; /* memory is ours, not the message's */
        }
    }
    size_t from = cs->n;
    if ((rc = candidates_retired(st, cs, contact_id)) != 0) return rc;
    for (size_t i = from; i < cs->n; i++)
        fit[i] = RBX_CHECK_PREFILTER ? header_fit(&cs->c[i], &m) : FIT_STEP;
    for (size_t i = 0; i < cs->n; i++) chain |= fit[i] == FIT_CHAIN;
    for (size_t i = 0; i < cs->n; i++) {
        int current = cs->has_current && i == 0;
        if (current && tried_current) continue;
        /* A ratchet key some session knows belongs to that session only
         * (ratchet keys are fresh); otherwise the current session is the
         * default, and a retired one is tried only if the header fits. */
        if (chain ? fit[i] != FIT_CHAIN : !current && fit[i] == FIT_NONE) continue;
        if ((rc = try_one(st, &cs->c[i], &first, &replay, pt, ptcap, ptlen, in, len)) == 0) {
            *which = i;
            return 0;
        }
        if (rc == RBX_E_NOMEM) return rc;
    }
    if (replay) return RBX_E_REPLAY;
    return cs->has_current && first != 0 ? first : RBX_E_NOT_FOUND;
}

/* PROTOCOL.md 18.6: a new session that a PreKeyMessage starts, under the
 * policy's require_org: with a contact bound to that root (its key was
 * certified when it was bound), or under a certificate by the root that
 * the message carries (6.4) for its identity, valid now. 0 or
 * RBX_E_UNCERTIFIED, RBX_E_EXPIRED. */
static int org_required(rbx_store *st, const rbx_policy *pol, const rbx__contact *c,
                        int have_contact, const uint8_t identity[32], const uint8_t *in, size_t len)
{
    rbx__prekey_msg pm;
    rbx_org_cert cert;
    if (!pol->has_require_org) return 0;
    if (have_contact && c->has_org && sodium_memcmp(c->org, pol->require_org, 32) == 0) return 0;
    if (rbx__prekey_parse(&pm, in, len) != 0 || pm.cert == NULL ||
        rbx_org_cert_parse(&cert, pm.cert, pm.certlen) != 0)
        return RBX_E_UNCERTIFIED;
    return rbx__org_cert_valid(&cert, pol->require_org, identity, (uint64_t)rbx__st_now(st));
}

/* D5: a PreKeyMessage that no session takes: X3DH (6.2) under the pinned
 * identity, after the replay and revocation checks. On success *out is the
 * new session and the handshake is recorded; the one-time prekey is
 * consumed. */
static int accept_handshake(rbx_store *st, rbx_session **out, int64_t *ik, uint8_t *pt,
                            size_t ptcap, size_t *ptlen, const rbx_prekey_info *pi,
                            const uint8_t *pinned, const uint8_t *in, size_t len)
{
    rbx_prekeys *pre = NULL;
    uint32_t consumed;
    sqlite3_stmt *s;
    *out = NULL;
    /* A key an organisation we follow revoked starts nothing. */
    int rc = rbx__st_is_revoked(st, NULL, pi->initiator_identity);
    if (rc != 0) return rc;
    /* A handshake accepted before, while its signed prekey lives: its
     * session may have left the store (reset, replaced, grace over), the
     * first message must not start it again. */
    if ((rc = rbx__st_prep(st, &s, "SELECT 1 FROM handshakes WHERE spk = ?1 AND base_key = ?2")) != 0)
        return rc;
    sqlite3_bind_int64(s, 1, pi->signed_prekey_id);
    sqlite3_bind_blob(s, 2, pi->base_key, 32, SQLITE_STATIC);
    rc = rbx__st_step(s);
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (rc == 1 && RBX_CHECK_HANDSHAKES) return RBX_E_REPLAY;
    if ((rc = load_prekeys(st, &pre, pi, ik)) != 0) return rc;
    rc = rbx_session_accept(out, pt, ptcap, ptlen, &consumed, pre, pinned, in, len);
    rbx_prekeys_free(pre);
    if (rc != 0) return rc;
    if ((rc = rbx__st_prep(st, &s, "INSERT OR IGNORE INTO handshakes (spk, base_key) VALUES (?1, ?2)")) == 0) {
        sqlite3_bind_int64(s, 1, pi->signed_prekey_id);
        sqlite3_bind_blob(s, 2, pi->base_key, 32, SQLITE_STATIC);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        rbx__st_done(st, s);
    }
    if (rc == 0 && consumed != UINT32_MAX) {
        /* The one-time prekey's secret is erased; its id stays, so a
         * second use is told apart from an unknown id. */
        if ((rc = rbx__st_prep(st, &s, "UPDATE onetime_prekeys SET sk = NULL, offered = 1,"
                                       " mac = rbx_mac('onetime_prekeys', id, pk, NULL, 1)"
                                       " WHERE id = ?1")) == 0) {
            sqlite3_bind_int64(s, 1, consumed);
            rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
            rbx__st_done(st, s);
        }
    }
    if (rc != 0) {
        rbx_session_free(*out);
        *out = NULL;
    }
    return rc;
}

int rbx_store_decrypt(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen, rbx_received *info,
                      const char *name, uint32_t device, const uint8_t *in, size_t len)
{
    uint8_t digest[32], peer[32], session_id[32];
    rbx_prekey_info pi;
    rbx__contact c = { 0 };
    candidates cs = { 0 };
    rbx_session *fresh = NULL;
    rbx_policy pol;
    int new_contact = 0, old_key = 0, rotated = 0, chain_rc = 0, rc;
    int64_t old_key_until = 0, gen, ik = 0;
    size_t which = 0;
    *ptlen = 0;
    st->tried = 0;
    memset(info, 0, sizeof *info);
    /* D1 */
    if (name != NULL && !rbx__st_name_ok(name)) return RBX_E_INVALID;
    int kind = rbx_message_prekey_info(&pi, in, len);
    if (kind < 0) return kind;
    if (kind == 0 && name == NULL) return RBX_E_INVALID;
    crypto_generichash(digest, sizeof digest, in, len, NULL, 0);
    if ((rc = rbx__st_begin(st)) != 0) return rc;

    /* D2 */
    rc = inbox_lookup(st, pt, ptcap, ptlen, info, digest);
    if (rc != RBX_E_NOT_FOUND) goto fail_or_done; /* redelivered (0) or an error */

    /* D3, D4 */
    rc = find_sender(st, &c, &old_key, &old_key_until, name, device, kind, &pi);
    if (rc != 0 && (rc != RBX_E_NOT_FOUND || kind == 0)) goto fail;
    if (kind == 1 && !old_key &&
        (rc == RBX_E_NOT_FOUND || sodium_memcmp(c.identity, pi.initiator_identity, 32) != 0) &&
        (rc = follow_records(st, &c, rc == 0, &rotated, &chain_rc, in, len)) != 0 &&
        rc != RBX_E_NOT_FOUND)
        goto fail;
    int have_contact = rc == 0;
    if (have_contact && (rc = candidates_current(st, &cs, c.id)) != 0) goto fail;

    if (kind == 1) {
        /* D5: the session with its base key takes it, and no other; after
         * a rotation its records brought (D3) only a new handshake may. */
        int found = !rotated && cs.has_current &&
                    sodium_memcmp(cs.c[0].s->base_key, pi.base_key, 32) == 0;
        if (!found && !rotated && have_contact && (rc = candidates_retired(st, &cs, c.id)) != 0)
            goto fail;
        for (size_t i = 0; i < cs.n && !found && !rotated; i++)
            if (sodium_memcmp(cs.c[i].s->base_key, pi.base_key, 32) == 0) found = 1, which = i;
        if (found) {
            st->tried++;
            if ((rc = rbx_session_decrypt(cs.c[which].s, pt, ptcap, ptlen, in, len)) != 0) goto fail;
        } else {
            const uint8_t *pinned = old_key ? pi.initiator_identity : have_contact ? c.identity : NULL;
            rc = accept_handshake(st, &fresh, &ik, pt, ptcap, ptlen, &pi, pinned, in, len);
            /* Authenticated under IK_A, which the records did not lead to:
             * their refusal, now that it cannot be a forger's (6.4). */
            if ((rc == 0 || rc == RBX_E_IDENTITY_CHANGED) && chain_rc != 0) {
                rbx_session_free(fresh);
                fresh = NULL;
                rc = chain_rc;
            }
            if (rc != 0) goto fail;
        }
    } else if ((rc = route_message(st, &cs, c.id, &which, pt, ptcap, ptlen, in, len)) != 0) {
        goto fail; /* D6 */
    }

    /* D7: store what authenticated. */
    if ((rc = rbx__st_next_generation(st, &gen)) != 0 || (rc = rbx__st_policy(st, &pol)) != 0) goto fail;
    if (fresh != NULL &&
        (rc = org_required(st, &pol, &c, have_contact, pi.initiator_identity, in, len)) != 0) {
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, pi.initiator_identity);
        rbx__st_rollback(st);
        rbx_session_free(fresh);
        candidates_free(&cs);
        if (*ptlen) WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
        memset(info, 0, sizeof *info);
        /* Authenticated (X3DH under IK_A), so not a forger's: recorded,
         * best effort, after the rollback (as 16.4's refusals). */
        if (have_contact)
            (void)rbx__audit_alone(st, "organisation required", "from %s/%u (%s): %s", c.name,
                                   c.device, fp, rbx_strerror(rc));
        else
            (void)rbx__audit_alone(st, "organisation required", "from an unknown device (%s): %s",
                                   fp, rbx_strerror(rc));
        return rc;
    }
    if (fresh != NULL) {
        memcpy(peer, pi.initiator_identity, 32);
        memcpy(session_id, fresh->base_key, 32);
        if (old_key) {
            /* Under the peer's old key: kept beside the current session for
             * what is left of that key's grace window, never in its place. */
            rc = rbx__st_grace_insert(st, c.id, fresh, old_key_until);
        } else {
            /* The session this handshake replaces keeps taking its messages
             * in flight for the grace window. */
            if (cs.has_current)
                rc = rbx__st_retire_loaded(st, c.id, &cs.c[0], rbx__st_now(st) +
                                                                   (int64_t)pol.identity_grace);
            if (rc == 0 && !have_contact) {
                if (name != NULL) snprintf(c.name, sizeof c.name, "%s", name);
                else rbx_fingerprint(c.name, pi.initiator_identity);
                c.device = device;
                memcpy(c.identity, pi.initiator_identity, 32);
                c.bundlelen = 0;
                if (pol.has_require_org) { /* certified (org_required): bound */
                    c.has_org = 1;
                    memcpy(c.org, pol.require_org, 32);
                }
                rc = rbx__st_insert_contact(st, &c);
                new_contact = rc == 0;
            }
            if (rc == 0) rc = rbx__st_save_session(st, c.id, fresh, gen, 0, ik);
        }
        char fp[RBX_FINGERPRINT_HEXBYTES];
        rbx_fingerprint(fp, peer);
        if (rc == 0)
            rc = rbx__audit(st, "session established", "from %s/%u (%s), as responder%s", c.name,
                            c.device, fp, new_contact ? ", new contact" : "");
    } else {
        rbx__stored_session *t = &cs.c[which];
        memcpy(peer, session_peer(t->s), 32);
        memcpy(session_id, t->s->base_key, 32);
        rc = t->retired_id != 0 ? rbx__st_save_retired(st, t->retired_id, t->s)
                                : rbx__st_save_session(st, c.id, t->s, gen, t->rolled_back, t->ik);
    }
    if (rc != 0) goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT INTO inbox (id, contact, digest, generation, pt, created,"
                           " identity, mac) VALUES (?1, ?2, ?3, ?1, ?4, ?5, ?6,"
                           " rbx_mac('inbox', ?1, ?2, ?3, ?1, ?6))")) != 0)
        goto fail;
    sqlite3_bind_int64(s, 1, gen);
    sqlite3_bind_int64(s, 2, c.id);
    sqlite3_bind_blob(s, 3, digest, 32, SQLITE_STATIC);
    rc = rbx__st_bind_sealed(st, s, 4, "inbox", gen, gen, "pt", pt, *ptlen);
    sqlite3_bind_int64(s, 5, rbx__st_now(st));
    sqlite3_bind_blob(s, 6, peer, 32, SQLITE_STATIC);
    if (rc == 0) rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
    rbx__st_done(st, s);
    if (rc != 0) goto fail;
    /* History (archive.c): kept in the transaction that accepts it, under
     * the session that decrypted it. */
    if (pol.archive && (rc = rbx__archive_add(st, session_id, c.name, 0, pt, *ptlen)) != 0) goto fail;
    rbx_session_free(fresh);
    candidates_free(&cs);
    if ((rc = rbx__st_commit(st, gen)) != 0) {
        WIPE_BUF(pt, *ptlen);
        *ptlen = 0;
        return rc;
    }
    fill_received(info, &c, peer, (uint64_t)gen, new_contact, 0);
    return 0;
fail_or_done:
    if (rc == 0) {
        rbx__st_rollback(st);
        return 0;
    }
fail:
    rbx__st_rollback(st);
    rbx_session_free(fresh);
    candidates_free(&cs);
    if (*ptlen) WIPE_BUF(pt, *ptlen);
    *ptlen = 0;
    memset(info, 0, sizeof *info);
    return rc;
}
