/* SPDX-License-Identifier: MIT
 * The store's floors above db.c, lowest first. A floor calls only the floors
 * before it in this file (make check's tests/layering.sh checks the
 * objects): db.c, audit.c, policy.c, prekeys.c, rotate.c, sessions.c,
 * contacts.c, archive.c, then bundle.c, messages.c, users.c (users with
 * several devices: it calls rbx_store_decrypt and rbx_store_add_contact)
 * and open.c, which nothing in the store calls. Everything here runs inside the caller's transaction
 * unless it says otherwise. */
#ifndef RBX_STORE_INT_H
#define RBX_STORE_INT_H

#include "db.h"

/* ------------------------------------------------------------ audit.c
 * Append inside the caller's transaction, or in its own. */
int rbx__audit_init(rbx_store *st);
int rbx__audit(rbx_store *st, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rbx__audit_alone(rbx_store *st, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ policy.c
 * Read inside a transaction (rbx__st_apply_policy applies it to the handle). */
int rbx__st_policy(rbx_store *st, rbx_policy *p);
/* Seal the default policy (schema 2 creation and migration). */
int rbx__policy_init(rbx_store *st);

/* ------------------------------------------------------------ prekeys.c */
int rbx__st_insert_signed_prekey(rbx_store *st, const uint8_t ik_sk[32], int64_t ik_seq,
                                 int64_t *id_out);
int rbx__st_refill_onetime(rbx_store *st, unsigned low, unsigned batch, size_t *made);

/* ------------------------------------------------------------ rotate.c */
int rbx__st_current_spk(rbx_store *st, int64_t *id, int64_t *created, int *stated);
int rbx__st_chain(rbx_store *st, uint8_t *buf, size_t cap, const uint8_t **recs, size_t *lens,
                  size_t *n);
int rbx__st_certificate(rbx_store *st, uint8_t *out, size_t cap, size_t *len);
/* Policy upkeep (rbx_store_maintain's work); onetime: also top up one-time prekeys. */
int rbx__st_maintain(rbx_store *st, int force_spk, int onetime, rbx_maintain_result *res);

/* ------------------------------------------------------------ sessions.c */

/* A contact's session row as loaded (exists 0: the contact has none). */
typedef struct rbx__stored_session {
    rbx_session *s;
    int64_t generation;
    int64_t ik;       /* our identity sequence when the session began */
    int rolled_back;
    int exists;
    int64_t retired_id; /* 0: the contact's current session; else its retired_sessions row */
} rbx__stored_session;

int rbx__st_load_session(rbx_store *st, rbx__stored_session *ss, int64_t contact_id);
int rbx__st_save_session(rbx_store *st, int64_t contact_id, const rbx_session *sess, int64_t gen,
                         int rolled_back, int64_t ik);
int rbx__st_grace_insert(rbx_store *st, int64_t contact_id, const rbx_session *sess,
                         int64_t until);
int rbx__st_retire_loaded(rbx_store *st, int64_t contact_id, const rbx__stored_session *ss,
                          int64_t until);
int rbx__st_retire_session(rbx_store *st, int64_t contact_id, int64_t until);
/* The contact's retired sessions in their grace window, newest first, each
 * tag-checked (at most cap, at most 2); and one's advanced state stored. */
int rbx__st_load_retired(rbx_store *st, int64_t contact_id, rbx__stored_session *out, size_t cap,
                         size_t *n);
int rbx__st_save_retired(rbx_store *st, int64_t id, const rbx_session *sess);
/* Migration to schema 3: the handshakes of the responder sessions held. */
int rbx__st_seed_handshakes(rbx_store *st);
/* Reseal every unmarked session with the rollback mark (rbx_store_open). */
int rbx__st_mark_rolled_back(rbx_store *st);

/* ------------------------------------------------------------ contacts.c */

/* A contacts row, its pin checked. */
typedef struct rbx__contact {
    int64_t id;
    char name[RBX_NAME_MAX];
    uint32_t device;
    uint8_t identity[32];
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t bundlelen; /* 0: none */
    int64_t rot_seq;  /* the peer's rotation record pinned (0: pinned without one) */
    int has_rot_hash, has_org;
    uint8_t rot_hash[32], org[32];
} rbx__contact;

/* 1 if a contact name is 1..63 bytes without control bytes (names reach terminals). */
int rbx__st_name_ok(const char *name);
int rbx__st_find_contact(rbx_store *st, rbx__contact *c, const char *name, uint32_t device);
int rbx__st_find_contact_by_identity(rbx_store *st, rbx__contact *c, const uint8_t identity[32]);
int rbx__st_find_contact_by_id(rbx_store *st, rbx__contact *c, int64_t id);
int rbx__st_find_contact_by_old_key(rbx_store *st, rbx__contact *c, const uint8_t identity[32],
                                    int64_t only_id, int64_t *until);
int rbx__st_insert_contact(rbx_store *st, rbx__contact *c);
int rbx__st_is_revoked(rbx_store *st, const uint8_t *org, const uint8_t identity[32]);
/* PROTOCOL.md 6.4 and 16.4 "From a first message": a version-2 PreKeyMessage
 * under an identity we do not know that carries rotation records. The
 * contact is *c when named (loaded by the caller), else the one pinned to
 * the old key of a record (newest first). The records and certificate go
 * through the checks of a bundle's (16.4 steps 1-3) and, if they pass, the
 * rotation is applied in the caller's transaction: 0, *c now pinned to the
 * message's identity. RBX_E_NOT_FOUND: version 1, no records, or no contact
 * pinned to any of their keys (c untouched). A refusal (RBX_E_CHAIN,
 * RBX_E_STALE, RBX_E_SIGNATURE, RBX_E_IDENTITY_CHANGED, RBX_E_UNCERTIFIED,
 * RBX_E_REVOKED, RBX_E_EXPIRED, ...) changes nothing; *found says whether
 * *c is the contact the records name (a record that does not parse is
 * refused before any contact is looked for). */
int rbx__st_contact_from_message(rbx_store *st, rbx__contact *c, int named, int *found,
                                 const uint8_t *in, size_t len);
/* Load the session of (name, device) as it is stored (for tests that look at
 * chain keys); caller frees. */
int rbx__store_load_session(rbx_store *st, rbx_session **out, const char *name, uint32_t device);

/* ------------------------------------------------------------ archive.c
 * When the policy has archive on: one entry for pt under the active epoch
 * (made if there is none). direction: 0 received, 1 sent. */
int rbx__archive_add(rbx_store *st, const uint8_t session[32], const char *peer, int direction,
                     const uint8_t *pt, size_t len);
/* Tests: the key of an epoch that still has one (RBX_E_NOT_FOUND otherwise). */
int rbx__archive_epoch_key(rbx_store *st, uint64_t epoch, uint8_t key[32]);

#endif
