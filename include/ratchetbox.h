/* ratchetbox: a Double Ratchet over existing NaCl box (X25519) key pairs.
 * SPDX-License-Identifier: MIT
 *
 * The one public header. Sections: errors and init, keys, baseline (today's
 * long-lived box envelope), prekeys and bundles, rotation and organisation
 * roots, accounts and device lists, sessions (handshake and ratchet). spec/PROTOCOL.md is the normative description of every byte.
 *
 * Conventions (all functions):
 *  - return 0 or a negative RBX_E_* code; rbx_strerror() names it;
 *  - outputs first, then inputs as (ptr, len) pairs; sizes are RBX_* constants;
 *  - on any error every output length is set to 0 and no state changes;
 *  - secret-holding objects are opaque and wiped by their free function;
 *  - rbx_init() must succeed once before any other call.
 */
#ifndef RATCHETBOX_H
#define RATCHETBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RBX_API __attribute__((visibility("default")))
#define RBX_MUST_CHECK __attribute__((warn_unused_result))
#define RBX_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define RBX_API
#define RBX_MUST_CHECK
#define RBX_NONNULL(...)
#endif

/* ---------------------------------------------------------------- sizes */

#define RBX_PUBLICKEYBYTES 32U
#define RBX_SECRETKEYBYTES 32U
#define RBX_SIGNATUREBYTES 64U
#define RBX_FINGERPRINTBYTES 8U           /* of SHA-256(public key) */
#define RBX_FINGERPRINT_HEXBYTES 17U      /* 16 hex characters + NUL */
#define RBX_KEY_B64BYTES 45U              /* base64 of 32 bytes + NUL */
#define RBX_NONCEBYTES 24U                /* baseline box nonce */
#define RBX_NONCE_B64BYTES 33U            /* base64 of 24 bytes + NUL */
#define RBX_BOXMACBYTES 16U               /* baseline box tag */

/* The product's caps: 100 KiB per chat/agent message, 1 MiB per review
 * diff. The protocol refuses plaintext above the larger one. */
#define RBX_MAX_PLAINTEXT (1024U * 1024U)
/* Largest Message (plaintext cap + overhead). */
#define RBX_MAX_WIRE (RBX_MAX_PLAINTEXT + 512U)
/* Largest PreKeyMessage a reader accepts (PROTOCOL.md 9.3): a Message, the
 * handshake fields (92 bytes) and, in version 2, attached rotation records
 * and a certificate (2907). rbx_session_wire_size bounds one session's. */
#define RBX_MAX_PREKEY_WIRE (RBX_MAX_WIRE + 92U + 2907U)

/* Skipped-message-key limits (PROTOCOL.md "Limits"); all in one place. */
#define RBX_MAX_SKIP 1000U               /* max forward jump in one chain */
#define RBX_MAX_SKIPPED_KEYS 2000U       /* max stored skipped keys per session */
#define RBX_MAX_RECEIVING_CHAINS 5U      /* chains that may hold skipped keys */
#define RBX_SKIPPED_KEY_MAX_AGE 50U      /* expiry, in receiving DH ratchet steps */

/* ---------------------------------------------------------------- errors */

enum {
    RBX_OK = 0,
    RBX_E_INVALID = -1,           /* programmer misuse: bad argument */
    RBX_E_NOMEM = -2,             /* allocation failed */
    RBX_E_MALFORMED = -3,         /* bytes do not parse (wire, blob, JSON, base64) */
    RBX_E_VERSION = -4,           /* unknown version of a wire message or blob */
    RBX_E_AUTH = -5,              /* authentication failed; says nothing more */
    RBX_E_SIGNATURE = -6,         /* a signature (prekey, record, entry, request) does not verify */
    RBX_E_KEY = -7,               /* bad key: low order, all-zero DH, pk/sk mismatch */
    RBX_E_UNKNOWN_PREKEY = -8,    /* signed or one-time prekey id not held */
    RBX_E_PREKEY_REUSED = -9,     /* one-time prekey already consumed */
    RBX_E_IDENTITY_CHANGED = -10, /* authenticated peer identity != pinned one */
    RBX_E_REPLAY = -11,           /* message key already used or discarded */
    RBX_E_LIMIT = -12,            /* a skipped-key or counter limit was reached */
    RBX_E_TOO_BIG = -13,          /* plaintext or message above RBX_MAX_* */
    RBX_E_BUFFER = -14,           /* output buffer too small */
    RBX_E_STATE = -15,            /* not possible in this state (or poisoned) */
    RBX_E_IO = -16,               /* storage error: file system or SQLite */
    RBX_E_CORRUPT = -17,          /* database or key file damaged: a value that does not open or parse */
    RBX_E_STORAGE_KEY = -18,      /* the storage key does not open this database */
    RBX_E_SCHEMA = -19,           /* database written by a newer ratchetbox */
    RBX_E_ROLLBACK = -20,         /* database older than its generation record */
    RBX_E_EXISTS = -21,           /* already there (identity, contact) */
    RBX_E_NOT_FOUND = -22,        /* no such identity, contact or session */
    RBX_E_CHAIN = -23,            /* rotation records or device-list entries do not link up or break a rule */
    RBX_E_STALE = -24,            /* rotation or device list replayed or rolled back */
    RBX_E_UNCERTIFIED = -25,      /* key not certified by the contact's organisation root */
    RBX_E_REVOKED = -26,          /* key revoked by the contact's organisation root */
    RBX_E_EXPIRED = -27,          /* signed prekey or certificate past its policy age */
    RBX_E_POLICY = -28,           /* policy value out of range or inconsistent */
    RBX_E_TAMPERED = -29,         /* database rows changed, removed, added or put back without the storage key */
    RBX_E_UNSAFE = -30,           /* a state file others may read or change, or not a plain file */
    RBX_E_COUNT_ = 31             /* number of codes, keep last */
};

/* Initialise libsodium and libxeddsa. Idempotent and thread-safe.
 * \return 0, or RBX_E_NOMEM if the crypto libraries cannot start. */
RBX_API RBX_MUST_CHECK int rbx_init(void);

/* Short English text for a code; never NULL, never contains secrets. */
RBX_API const char *rbx_strerror(int code);

/* Library version, "MAJOR.MINOR.PATCH". */
RBX_API const char *rbx_version(void);

/* ---------------------------------------------------------------- keys */

/* A box key pair: raw 32-byte public key and raw 32-byte secret scalar, kept
 * unclamped exactly as crypto_box_keypair() makes it: the product stores its
 * box secret keys that way (libsodium's crypto_scalarmult clamps internally). */

/* New key pair from libsodium's RNG (crypto_box_keypair). Caller wipes sk. */
RBX_API RBX_MUST_CHECK int rbx_keypair_generate(uint8_t pk[RBX_PUBLICKEYBYTES],
                                                uint8_t sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 2);

/* Import 32 + 32 raw bytes (public key then secret key).
 * \return RBX_E_MALFORMED if rawlen != 64, RBX_E_KEY if pk does not match sk. */
RBX_API RBX_MUST_CHECK int rbx_keypair_from_raw(uint8_t pk[RBX_PUBLICKEYBYTES],
                                                uint8_t sk[RBX_SECRETKEYBYTES],
                                                const uint8_t *raw, size_t rawlen)
    RBX_NONNULL(1, 2, 3);

/* Import the product's JSON {"publicKey": "<b64>", "secretKey": "<b64>"}
 * (standard base64 with padding, keys in any order, whitespace allowed).
 * \return RBX_E_MALFORMED for bad JSON, a missing, duplicated or unknown
 *         member, invalid base64 or a wrong decoded length; RBX_E_KEY if the
 *         public key does not match the secret key. Temporaries are wiped. */
RBX_API RBX_MUST_CHECK int rbx_keypair_from_json(uint8_t pk[RBX_PUBLICKEYBYTES],
                                                 uint8_t sk[RBX_SECRETKEYBYTES],
                                                 const char *json, size_t jsonlen)
    RBX_NONNULL(1, 2, 3);

/* Export as the product's JSON, NUL-terminated, no trailing newline.
 * \return RBX_E_BUFFER if outcap < RBX_KEYPAIR_JSONBYTES. Caller wipes out. */
#define RBX_KEYPAIR_JSONBYTES 128U
RBX_API RBX_MUST_CHECK int rbx_keypair_to_json(char *out, size_t outcap,
                                               const uint8_t pk[RBX_PUBLICKEYBYTES],
                                               const uint8_t sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 3, 4);

/* Fingerprint: lowercase hex of the first 8 bytes of SHA-256(pk). */
RBX_API void rbx_fingerprint(char out[RBX_FINGERPRINT_HEXBYTES],
                             const uint8_t pk[RBX_PUBLICKEYBYTES]) RBX_NONNULL(1, 2);

/* Standard base64 (with padding) of a 32-byte public key, NUL-terminated. */
RBX_API void rbx_key_to_base64(char out[RBX_KEY_B64BYTES],
                               const uint8_t pk[RBX_PUBLICKEYBYTES]) RBX_NONNULL(1, 2);

/* Decode a 32-byte key (public or secret) from standard padded base64
 * (exactly 44 chars). \return RBX_E_MALFORMED otherwise, with key zeroed. */
RBX_API RBX_MUST_CHECK int rbx_key_from_base64(uint8_t key[RBX_PUBLICKEYBYTES],
                                               const char *b64, size_t b64len)
    RBX_NONNULL(1, 2);

/* ---------------------------------------------------------------- baseline */

/* Today's envelope, byte-compatible with the product's (NaCl box under the
 * devices' long-lived keys; no version, key id, sender id or associated data):
 *   content_encrypted = base64(crypto_box_easy(plaintext, nonce, peer_pk, my_sk))
 *   encryption_nonce  = base64(24 random bytes)
 * Strings are standard base64 with padding and NUL-terminated. */

/* Size of the content_encrypted string (with NUL) for a plaintext length. */
#define RBX_BASELINE_B64LEN(ptlen) ((((size_t)(ptlen) + RBX_BOXMACBYTES + 2U) / 3U) * 4U + 1U)

/* Seal one message with a fresh random nonce (a full X25519, as today).
 * On error content and nonce are zeroed.
 * \return RBX_E_BUFFER if content_cap < RBX_BASELINE_B64LEN(ptlen),
 *         RBX_E_TOO_BIG if ptlen > RBX_MAX_PLAINTEXT, RBX_E_KEY on a
 *         low-order peer key, RBX_E_INVALID if pt is NULL with ptlen > 0,
 *         RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_baseline_seal(char *content, size_t content_cap,
                                             char nonce[RBX_NONCE_B64BYTES],
                                             const uint8_t *pt, size_t ptlen,
                                             const uint8_t peer_pk[RBX_PUBLICKEYBYTES],
                                             const uint8_t my_sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 3, 6, 7);

/* Open one envelope. nonce == NULL marks a plaintext row: content is copied
 * to pt unchanged. *ptlen is set to 0 on every error. pt may overlap content.
 * \return RBX_E_MALFORMED for bad base64 or lengths, RBX_E_AUTH for a bad tag,
 *         RBX_E_BUFFER if ptcap is too small, RBX_E_KEY on a low-order key,
 *         RBX_E_TOO_BIG above the RBX_MAX_PLAINTEXT cap, RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_baseline_open(uint8_t *pt, size_t ptcap, size_t *ptlen,
                                             const char *content, size_t content_len,
                                             const char *nonce, size_t nonce_len,
                                             const uint8_t peer_pk[RBX_PUBLICKEYBYTES],
                                             const uint8_t my_sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 3, 4, 8, 9);

/* The beforenm variant: precompute the shared key once (crypto_box_beforenm),
 * then seal and open without an X25519 per message. Caller wipes k. */
#define RBX_BASELINE_KEYBYTES 32U
RBX_API RBX_MUST_CHECK int rbx_baseline_precompute(uint8_t k[RBX_BASELINE_KEYBYTES],
                                                   const uint8_t peer_pk[RBX_PUBLICKEYBYTES],
                                                   const uint8_t my_sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 2, 3);
RBX_API RBX_MUST_CHECK int rbx_baseline_seal_afternm(char *content, size_t content_cap,
                                                     char nonce[RBX_NONCE_B64BYTES],
                                                     const uint8_t *pt, size_t ptlen,
                                                     const uint8_t k[RBX_BASELINE_KEYBYTES])
    RBX_NONNULL(1, 3, 6);
RBX_API RBX_MUST_CHECK int rbx_baseline_open_afternm(uint8_t *pt, size_t ptcap, size_t *ptlen,
                                                     const char *content, size_t content_len,
                                                     const char *nonce, size_t nonce_len,
                                                     const uint8_t k[RBX_BASELINE_KEYBYTES])
    RBX_NONNULL(1, 3, 4, 8);

/* ---------------------------------------------------------------- prekeys */

/* A responder's key material for X3DH: the identity (its box key pair), signed
 * prekeys and one-time prekeys, each addressed by a 32-bit id. Opaque; wiped
 * by rbx_prekeys_free. One-time prekeys consumed by rbx_session_accept are
 * erased and their ids remembered, so reuse is told apart from an unknown id. */
typedef struct rbx_prekeys rbx_prekeys;

/* \return RBX_E_KEY if pk does not match sk, RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_prekeys_new(rbx_prekeys **out,
                                           const uint8_t identity_pk[RBX_PUBLICKEYBYTES],
                                           const uint8_t identity_sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 2, 3);
RBX_API void rbx_prekeys_free(rbx_prekeys *pk);

/* Generate (sk == NULL) or add a signed prekey under id; signs it with the
 * identity key (XEdDSA). \return RBX_E_INVALID if id is already held. */
RBX_API RBX_MUST_CHECK int rbx_prekeys_add_signed(rbx_prekeys *pk, uint32_t id,
                                                  const uint8_t *sk /* 32 or NULL */)
    RBX_NONNULL(1);
/* Generate (sk == NULL) or add a one-time prekey under id (not RBX_NO_PREKEY).
 * \return RBX_E_INVALID if id is held or was consumed before. */
RBX_API RBX_MUST_CHECK int rbx_prekeys_add_onetime(rbx_prekeys *pk, uint32_t id,
                                                   const uint8_t *sk /* 32 or NULL */)
    RBX_NONNULL(1);
/* Erase a signed or one-time prekey (rotation). \return RBX_E_UNKNOWN_PREKEY. */
RBX_API RBX_MUST_CHECK int rbx_prekeys_remove_signed(rbx_prekeys *pk, uint32_t id) RBX_NONNULL(1);
RBX_API RBX_MUST_CHECK int rbx_prekeys_remove_onetime(rbx_prekeys *pk, uint32_t id) RBX_NONNULL(1);
/* Number of unconsumed one-time prekeys. */
RBX_API size_t rbx_prekeys_onetime_count(const rbx_prekeys *pk) RBX_NONNULL(1);

/* Ids of the unconsumed one-time prekeys, ascending; returns how many there
 * are (at most cap are written). */
RBX_API size_t rbx_prekeys_onetime_ids(uint32_t *ids, size_t cap, const rbx_prekeys *pk)
    RBX_NONNULL(3);

/* Encode a bundle for signed prekey spk_id and one-time prekey onetime_id, or
 * none with RBX_NO_PREKEY. The caller hands each one-time prekey to one
 * initiator only; it stays held until a first message consumes it.
 * \return RBX_E_UNKNOWN_PREKEY, RBX_E_BUFFER. */
#define RBX_NO_PREKEY UINT32_MAX
/* A bundle with 8 rotation records and a certificate fits (PROTOCOL.md 9.4). */
#define RBX_BUNDLE_MAXBYTES 4096U
RBX_API RBX_MUST_CHECK int rbx_prekeys_bundle(uint8_t *out, size_t outcap, size_t *outlen,
                                              const rbx_prekeys *pk, uint32_t spk_id,
                                              uint32_t onetime_id) RBX_NONNULL(1, 3, 4);

/* A parsed and verified prekey bundle (public data only). */
typedef struct rbx_bundle {
    uint8_t identity[RBX_PUBLICKEYBYTES];
    uint32_t signed_prekey_id;
    uint8_t signed_prekey[RBX_PUBLICKEYBYTES];
    uint8_t signature[RBX_SIGNATUREBYTES];
    int has_onetime;
    uint32_t onetime_prekey_id;
    uint8_t onetime_prekey[RBX_PUBLICKEYBYTES];
    uint64_t signed_prekey_created; /* Unix seconds; 0 = not stated (v1 statement) */
    size_t chain_len;               /* rotation records carried, <= RBX_CHAIN_MAX */
    int has_certificate;            /* an organisation certificate is carried */
} rbx_bundle;

/* Parse a bundle and verify its XEdDSA signature: over the v1 statement, or
 * the v2 statement when the bundle states the signed prekey's creation time.
 * Every carried rotation record is parsed and both its signatures verified
 * (as rbx_rotation_parse), and the certificate as rbx_org_cert_parse; how the
 * records link up is rbx_bundle_chain_verify's job. b is zeroed on error.
 * \return RBX_E_MALFORMED (also: more than RBX_CHAIN_MAX records),
 *         RBX_E_VERSION, RBX_E_KEY (non-canonical or low-order key),
 *         RBX_E_SIGNATURE (the bundle's, a record's or the certificate's). */
RBX_API RBX_MUST_CHECK int rbx_bundle_parse(rbx_bundle *b, const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2);

/* ---------------------------------------------------------------- rotation and organisation roots */

/* An identity key hands over to its successor with a rotation record that
 * both keys sign; records form a hash chain (PROTOCOL.md "Rotation records").
 * An organisation root key certifies identity keys and can revoke them.
 * Everything here is public data: no secret outlives a call, the secret keys
 * passed in are only read, and the caller wipes them. */

#define RBX_REASON_MAX 64U          /* reasons: 0..63 bytes, none < 0x20 or 0x7f, + NUL */
#define RBX_CHAIN_MAX 8U            /* rotation records a bundle carries (the newest) */
#define RBX_ROTATION_MAXBYTES 336U  /* longest encoded record (all integers 64-bit) */
#define RBX_CERT_MAXBYTES 192U
#define RBX_REVOCATION_MAXBYTES 256U
#define RBX_HASHBYTES 32U           /* rbx_rotation_hash: BLAKE2b-256 */
#define RBX_CLOCK_SKEW 300U         /* seconds a certificate may be dated ahead */

typedef struct rbx_rotation {
    uint64_t sequence;                          /* 1, 2, ... */
    uint8_t old_identity[RBX_PUBLICKEYBYTES];
    uint8_t new_identity[RBX_PUBLICKEYBYTES];
    uint64_t created;                           /* Unix seconds */
    uint64_t old_valid_until;                   /* end of the old key's grace window */
    char reason[RBX_REASON_MAX];                /* NUL-terminated */
    uint8_t previous_hash[RBX_HASHBYTES];       /* of the record before; zeros for sequence 1 */
} rbx_rotation;

/* Encode r signed by both keys (XEdDSA, two fresh random nonces). old_sk and
 * new_sk are read only; the caller wipes them.
 * \return RBX_E_KEY if a secret key does not match its public key in r, a
 *         public key is invalid, or new == old; RBX_E_INVALID for sequence
 *         0 or a reason that is not NUL-terminated within RBX_REASON_MAX,
 *         longer than 63 bytes or holds a byte < 0x20 or 0x7f; RBX_E_BUFFER
 *         if outcap is too small (RBX_ROTATION_MAXBYTES always suffices). */
RBX_API RBX_MUST_CHECK int rbx_rotation_sign(uint8_t *out, size_t outcap, size_t *outlen,
                                             const rbx_rotation *r,
                                             const uint8_t old_sk[RBX_SECRETKEYBYTES],
                                             const uint8_t new_sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 3, 4, 5, 6);

/* Parse a record and verify BOTH signatures. r is zeroed on error.
 * \return RBX_E_MALFORMED (not canonical, unknown field, bad lengths or
 *         reason, longer than RBX_ROTATION_MAXBYTES), RBX_E_VERSION,
 *         RBX_E_KEY (non-canonical or low-order key, old == new),
 *         RBX_E_SIGNATURE (either signature bad: signed by one key only). */
RBX_API RBX_MUST_CHECK int rbx_rotation_parse(rbx_rotation *r, const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2);

/* BLAKE2b-256 (crypto_generichash, no key) of an encoded record: the value
 * the next record's previous_hash holds. */
RBX_API void rbx_rotation_hash(uint8_t out[RBX_HASHBYTES], const uint8_t *record, size_t len)
    RBX_NONNULL(1);

/* Where a contact's chain stands: its identity key, the sequence of the
 * record that introduced it (0: pinned without a record) and that record's
 * hash (ignored when sequence is 0). */
typedef struct rbx_chain_tip {
    uint8_t identity[RBX_PUBLICKEYBYTES];
    uint64_t sequence;
    uint8_t hash[RBX_HASHBYTES];
} rbx_chain_tip;

/* Verify records (oldest first, records[i] of lens[i] bytes) that lead from
 * `pinned` to `target` (PROTOCOL.md "Chain verification"). On success *tip is
 * the new pin: pinned itself when target is pinned->identity, else the last
 * record's new identity, sequence and hash; *old_valid_until is the grace
 * window of the pinned key (0 when target is the pinned key). On error *tip
 * and *old_valid_until are zeroed. records may be NULL when n is 0.
 * \return RBX_E_IDENTITY_CHANGED (no records and target != pinned, or no
 *         record starts at the pinned key), RBX_E_CHAIN (records do not link:
 *         sequence, previous hash or key, a key repeated, or the last new
 *         key is not target), RBX_E_STALE (the record after the pinned key
 *         has a sequence <= pinned->sequence: replayed or rolled back),
 *         RBX_E_LIMIT (n > RBX_CHAIN_MAX), RBX_E_INVALID (records or lens
 *         NULL with n > 0), or a record's rbx_rotation_parse error. */
RBX_API RBX_MUST_CHECK int rbx_chain_verify(rbx_chain_tip *tip, uint64_t *old_valid_until,
                                            const rbx_chain_tip *pinned,
                                            const uint8_t target[RBX_PUBLICKEYBYTES],
                                            const uint8_t *const *records, const size_t *lens,
                                            size_t n)
    RBX_NONNULL(1, 2, 3, 4);

/* rbx_bundle_parse, then rbx_chain_verify with the bundle's records and its
 * identity key as target. \return the errors of both. */
RBX_API RBX_MUST_CHECK int rbx_bundle_chain_verify(rbx_chain_tip *tip, uint64_t *old_valid_until,
                                                   const rbx_chain_tip *pinned,
                                                   const uint8_t *bundle, size_t len)
    RBX_NONNULL(1, 2, 3, 4);

/* Copy the bundle's organisation certificate (the bundle is parsed and
 * verified first; check the copy with rbx_org_cert_check).
 * \return the errors of rbx_bundle_parse, RBX_E_NOT_FOUND if it carries
 *         none, RBX_E_BUFFER (RBX_CERT_MAXBYTES always suffices). */
RBX_API RBX_MUST_CHECK int rbx_bundle_certificate(uint8_t *out, size_t outcap, size_t *outlen,
                                                  const uint8_t *bundle, size_t len)
    RBX_NONNULL(1, 3, 4);

typedef struct rbx_org_cert {
    uint8_t org[RBX_PUBLICKEYBYTES];
    uint8_t identity[RBX_PUBLICKEYBYTES];
    uint64_t created;                /* Unix seconds */
    uint64_t expires;                /* Unix seconds; 0 = none */
} rbx_org_cert;

/* The organisation key org_pk/org_sk certifies identity from created until
 * expires (0: no expiry). org_sk is read only; the caller wipes it.
 * \return RBX_E_KEY (org_sk does not match org_pk, or an invalid key),
 *         RBX_E_INVALID (expires != 0 and expires <= created), RBX_E_BUFFER
 *         (RBX_CERT_MAXBYTES always suffices). */
RBX_API RBX_MUST_CHECK int rbx_org_certify(uint8_t *out, size_t outcap, size_t *outlen,
                                           const uint8_t org_pk[RBX_PUBLICKEYBYTES],
                                           const uint8_t org_sk[RBX_SECRETKEYBYTES],
                                           const uint8_t identity[RBX_PUBLICKEYBYTES],
                                           uint64_t created, uint64_t expires)
    RBX_NONNULL(1, 3, 4, 5, 6);

/* Parse a certificate and verify its signature by c->org (whether that org
 * is trusted is the caller's question: rbx_org_cert_check). c is zeroed on
 * error. \return RBX_E_MALFORMED, RBX_E_VERSION, RBX_E_KEY, RBX_E_SIGNATURE. */
RBX_API RBX_MUST_CHECK int rbx_org_cert_parse(rbx_org_cert *c, const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2);

/* 0 if `in` certifies identity under org at time now.
 * \return RBX_E_UNCERTIFIED (does not parse or verify, another org, another
 *         identity), RBX_E_EXPIRED (now >= expires, or created later than
 *         now + RBX_CLOCK_SKEW). */
RBX_API RBX_MUST_CHECK int rbx_org_cert_check(const uint8_t org[RBX_PUBLICKEYBYTES],
                                              const uint8_t identity[RBX_PUBLICKEYBYTES],
                                              uint64_t now, const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 4);

typedef struct rbx_org_revocation {
    uint8_t org[RBX_PUBLICKEYBYTES];
    uint8_t identity[RBX_PUBLICKEYBYTES];
    uint64_t revoked_at;             /* Unix seconds */
    char reason[RBX_REASON_MAX];     /* NUL-terminated */
} rbx_org_revocation;

/* The organisation key withdraws identity as of revoked_at. org_sk is read
 * only; the caller wipes it.
 * \return RBX_E_KEY (org_sk does not match org_pk, or an invalid key),
 *         RBX_E_INVALID (reason longer than 63 bytes or with a byte < 0x20 or
 *         0x7f), RBX_E_BUFFER (RBX_REVOCATION_MAXBYTES always suffices). */
RBX_API RBX_MUST_CHECK int rbx_org_revoke(uint8_t *out, size_t outcap, size_t *outlen,
                                          const uint8_t org_pk[RBX_PUBLICKEYBYTES],
                                          const uint8_t org_sk[RBX_SECRETKEYBYTES],
                                          const uint8_t identity[RBX_PUBLICKEYBYTES],
                                          uint64_t revoked_at, const char *reason)
    RBX_NONNULL(1, 3, 4, 5, 6, 8);

/* Parse a revocation and verify its signature by r->org. r is zeroed on
 * error. \return RBX_E_MALFORMED, RBX_E_VERSION, RBX_E_KEY, RBX_E_SIGNATURE. */
RBX_API RBX_MUST_CHECK int rbx_org_revocation_parse(rbx_org_revocation *r, const uint8_t *in,
                                                    size_t len)
    RBX_NONNULL(1, 2);

/* ---------------------------------------------------------------- accounts and device lists */

/* A user (account) holds several devices, each with its own identity key
 * (PROTOCOL.md section 20). The user's device list is a hash-chained log of
 * signed entries (add, remove, rotate) that every peer verifies itself, from
 * entry 1 (pinned by its hash on first use) or an organisation root, so a
 * server that stores and relays it cannot add, swap or hide a device without
 * the verifier seeing RBX_E_CHAIN, RBX_E_STALE or RBX_E_IDENTITY_CHANGED.
 * Requests to a server are signed by the device's identity key over a
 * domain-separated digest (rbx_request_sign). Everything here is a pure
 * function of its inputs: no I/O, no state, public data only; secret keys
 * passed in are only read, and the caller wipes them. */

#define RBX_USER_MAX 64U                 /* user ids: 1..63 bytes + NUL (rbx_user_id_ok) */
#define RBX_DEVLIST_MAX_ENTRIES 1024U    /* entries of one user's log */
#define RBX_DEVLIST_MAX_DEVICES 64U      /* devices in one list at any time */
#define RBX_DEVLIST_ENTRY_MAXBYTES 336U  /* longest encoded entry (333 bytes) */
#define RBX_DEVICE_ID_MAX 0x7fffffffU    /* device ids are 1..2^31-1 */
#define RBX_REQUEST_NONCEBYTES 16U       /* rbx_request_sign nonce */

/* Entry operations and signer kinds (PROTOCOL.md 20.2). */
#define RBX_DEVLIST_ADD 1U
#define RBX_DEVLIST_REMOVE 2U
#define RBX_DEVLIST_ROTATE 3U
#define RBX_SIGNER_DEVICE 0U
#define RBX_SIGNER_ORG 1U

/* 1 if user is a valid user id: 1..63 bytes, the first [a-z0-9], the rest
 * [a-z0-9._@-], NUL-terminated; else 0 (also for NULL). Ids are compared as
 * bytes and appear in URL paths unescaped. */
RBX_API int rbx_user_id_ok(const char *user);

/* The device id of the identity key a device enrolled with:
 * be32(BLAKE2b-256("ratchetbox-device-id-v1" || ik)[0:4]) & 0x7fffffff,
 * 1 if that is 0. Always in 1..RBX_DEVICE_ID_MAX. A device keeps its id when
 * it rotates its identity key (op rotate). */
RBX_API uint32_t rbx_device_id(const uint8_t ik[RBX_PUBLICKEYBYTES]) RBX_NONNULL(1);

/* One device-list entry (PROTOCOL.md 20.2). */
typedef struct rbx_devlist_entry {
    char user[RBX_USER_MAX];                 /* NUL-terminated user id */
    uint64_t seq;                            /* 1, 2, ... */
    uint8_t prev_hash[RBX_HASHBYTES];        /* hash of entry seq - 1; zeros for 1 */
    unsigned op;                             /* RBX_DEVLIST_ADD, _REMOVE, _ROTATE */
    uint32_t device;                         /* 1..RBX_DEVICE_ID_MAX */
    uint8_t identity[RBX_PUBLICKEYBYTES];    /* add: the key; remove: its current key; rotate: the new key */
    uint64_t created;                        /* Unix seconds */
    unsigned signer_kind;                    /* RBX_SIGNER_DEVICE or RBX_SIGNER_ORG */
    uint8_t signer[RBX_PUBLICKEYBYTES];      /* the signing key */
} rbx_devlist_entry;

/* Encode e signed by signer_sk (the secret of e->signer) and, for add and
 * rotate, by subject_sk (the secret of e->identity: proof of possession);
 * subject_sk is NULL for remove. Two signatures draw 64 random bytes each,
 * signer first. Only the entry's own form is checked here, not its place in
 * a log (rbx_devlist_verify does that).
 * \return RBX_E_INVALID (user not a valid id, seq 0, op or signer_kind
 *         unknown, device 0 or above RBX_DEVICE_ID_MAX, subject_sk NULL for
 *         add or rotate or non-NULL for remove), RBX_E_KEY (identity or
 *         signer fails the key checks, a secret key that does not match its
 *         public key), RBX_E_BUFFER (before any randomness is drawn;
 *         RBX_DEVLIST_ENTRY_MAXBYTES always suffices). *outlen is 0 on error. */
RBX_API RBX_MUST_CHECK int rbx_devlist_entry_sign(uint8_t *out, size_t outcap, size_t *outlen,
                                                  const rbx_devlist_entry *e,
                                                  const uint8_t signer_sk[RBX_SECRETKEYBYTES],
                                                  const uint8_t *subject_sk /* 32 or NULL */)
    RBX_NONNULL(1, 3, 4, 5);

/* Parse one entry and verify its signature and, for add and rotate, its
 * subject signature (PROTOCOL.md 20.3). e is zeroed on error.
 * \return RBX_E_MALFORMED (longer than RBX_DEVLIST_ENTRY_MAXBYTES, does not
 *         parse, not canonical, unknown field, bad lengths, bad user id, seq
 *         0, unknown op or signer kind, device out of range, subject
 *         signature present for remove or missing for add and rotate),
 *         RBX_E_VERSION, RBX_E_KEY (identity or signer not canonical or of
 *         low order), RBX_E_SIGNATURE (either signature). */
RBX_API RBX_MUST_CHECK int rbx_devlist_entry_parse(rbx_devlist_entry *e, const uint8_t *in,
                                                   size_t len) RBX_NONNULL(1, 2);

/* BLAKE2b-256 of an encoded entry: the next entry's prev_hash, and what a
 * verifier pins. */
RBX_API void rbx_devlist_entry_hash(uint8_t out[RBX_HASHBYTES], const uint8_t *in, size_t len)
    RBX_NONNULL(1);

/* What a verifier remembers of a user's list: the hash of entry 1 and the
 * newest (seq, hash) it verified. rbx_devlist.head is the next pin. */
typedef struct rbx_devlist_pin {
    uint8_t first_hash[RBX_HASHBYTES];
    uint64_t seq;                            /* >= 1 */
    uint8_t hash[RBX_HASHBYTES];             /* of entry seq */
} rbx_devlist_pin;

typedef struct rbx_devlist_device {
    uint32_t id;
    uint8_t identity[RBX_PUBLICKEYBYTES];    /* its current key */
    uint64_t added_seq;                      /* seq of the entry that added it */
} rbx_devlist_device;

/* A verified list: the devices after the last entry, in the order they were
 * added, and the head (first-entry hash, last seq and its hash). */
typedef struct rbx_devlist {
    rbx_devlist_pin head;
    uint64_t head_created;                   /* created of the last entry */
    size_t ndevices;                         /* 1..RBX_DEVLIST_MAX_DEVICES */
    rbx_devlist_device devices[RBX_DEVLIST_MAX_DEVICES];
} rbx_devlist;

/* Verify the whole log of `user`: entries[i] (lens[i] bytes) is the entry
 * with seq i + 1, from entry 1 to the newest (PROTOCOL.md 20.4). pin NULL:
 * trust entry 1 on first use; else entry 1 must hash to pin->first_hash and
 * the log must extend the pinned head. org NULL: no organisation root; else
 * its 32-byte key, whose signatures (signer_kind 1) are accepted. *out is
 * zeroed on error. The cost is one or two XEdDSA verifications per entry.
 * \return RBX_E_INVALID (user not a valid id, entries or lens NULL with
 *         n > 0, a NULL entry, pin->seq 0), RBX_E_LIMIT (more than
 *         RBX_DEVLIST_MAX_ENTRIES entries or RBX_DEVLIST_MAX_DEVICES
 *         devices), RBX_E_STALE (fewer entries than pin->seq: rolled back),
 *         RBX_E_IDENTITY_CHANGED (entry 1 or the entry at pin->seq hashes to
 *         something other than the pin: another list, or a fork),
 *         an entry's rbx_devlist_entry_parse error, RBX_E_CHAIN (an entry of
 *         another user, a wrong seq or prev_hash, created earlier than the
 *         entry before, a signer that is neither a current device key nor
 *         the given org root, or an op rule broken: see PROTOCOL.md 20.4;
 *         also n == 0 without a pin). */
RBX_API RBX_MUST_CHECK int rbx_devlist_verify(rbx_devlist *out, const char *user,
                                              const uint8_t *const *entries, const size_t *lens,
                                              size_t n, const rbx_devlist_pin *pin,
                                              const uint8_t *org /* 32 or NULL */)
    RBX_NONNULL(1, 2);

/* Request authentication (PROTOCOL.md 20.7). The signature is XEdDSA by the
 * device's current identity key over "ratchetbox-http-auth-v1" || D, where D
 * is BLAKE2b-256 of the domain string, the method, the target (path and query
 * exactly as sent), ts, the nonce, BLAKE2b-256(body), the user and the
 * device. method: 1..255 bytes; target: 1..2^32-1 bytes; strings are
 * NUL-terminated. body may be NULL when bodylen is 0. sk is only read.
 * \return RBX_E_INVALID (empty or too long method or target, user not a
 *         valid id, body NULL with bodylen > 0); sig is zeroed on error. */
RBX_API RBX_MUST_CHECK int rbx_request_sign(uint8_t sig[RBX_SIGNATUREBYTES], const char *method,
                                            const char *target, uint64_t ts,
                                            const uint8_t nonce[RBX_REQUEST_NONCEBYTES],
                                            const uint8_t *body, size_t bodylen,
                                            const char *user, uint32_t device,
                                            const uint8_t sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 2, 3, 5, 8, 10);

/* 0 if sig signs the request under pk. Freshness of ts and uniqueness of
 * the nonce are the server's checks (SERVER.md), not this function's.
 * \return RBX_E_SIGNATURE (does not verify, pk invalid, or a method, target
 *         or user that rbx_request_sign refuses), RBX_E_INVALID (body NULL
 *         with bodylen > 0). */
RBX_API RBX_MUST_CHECK int rbx_request_verify(const uint8_t sig[RBX_SIGNATUREBYTES],
                                              const char *method, const char *target,
                                              uint64_t ts,
                                              const uint8_t nonce[RBX_REQUEST_NONCEBYTES],
                                              const uint8_t *body, size_t bodylen,
                                              const char *user, uint32_t device,
                                              const uint8_t pk[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 2, 3, 5, 8, 10);

/* A bundle fetched through a server: the device's base bundle (no one-time
 * prekey) and a one-time prekey the server chose, assembled into one bundle
 * (PROTOCOL.md 20.9). base is parsed and verified first (rbx_bundle_parse);
 * the output is the same bundle with fields 6 and 7 (id, key) in canonical
 * form, so rbx_bundle_parse accepts it. The one-time fields are not covered
 * by the bundle's signature. out may be base (in place).
 * \return rbx_bundle_parse's errors for base, RBX_E_MALFORMED (base already
 *         carries a one-time prekey, or id is RBX_NO_PREKEY), RBX_E_KEY (key
 *         not canonical or of low order), RBX_E_BUFFER (RBX_BUNDLE_MAXBYTES
 *         always suffices). *outlen is 0 on error. */
RBX_API RBX_MUST_CHECK int rbx_bundle_with_onetime(uint8_t *out, size_t outcap, size_t *outlen,
                                                   const uint8_t *base, size_t baselen,
                                                   uint32_t id,
                                                   const uint8_t key[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 3, 4, 7);

/* Two-device signing of an add (or rotate) entry (PROTOCOL.md 21.6): the
 * device already in the list makes the signer's signature over e's
 * statement, the new device checks it and adds its subject signature,
 * giving the encoded entry; neither secret key leaves its device. The
 * store forms (rbx_store_devlist_sign, _cosign) keep the keys inside the
 * library. rbx_devlist_entry_sign is the one-machine form.
 * \return signature: RBX_E_INVALID (e's form, as rbx_devlist_entry_sign),
 *         RBX_E_KEY (a key check, signer_sk not e->signer's); cosign: the
 *         same with subject_sk for e->identity, RBX_E_INVALID for a remove,
 *         RBX_E_SIGNATURE (signature is not e->signer's over e),
 *         RBX_E_BUFFER. Outputs are zeroed on error. */
RBX_API RBX_MUST_CHECK int rbx_devlist_entry_signature(uint8_t sig[RBX_SIGNATUREBYTES],
                                                       const rbx_devlist_entry *e,
                                                       const uint8_t signer_sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 2, 3);
RBX_API RBX_MUST_CHECK int rbx_devlist_entry_cosign(uint8_t *out, size_t outcap, size_t *outlen,
                                                    const rbx_devlist_entry *e,
                                                    const uint8_t signature[RBX_SIGNATUREBYTES],
                                                    const uint8_t subject_sk[RBX_SECRETKEYBYTES])
    RBX_NONNULL(1, 3, 4, 5, 6);

/* Device links (PROTOCOL.md 21.6, SERVER.md 5.5). An existing device shows
 * a one-time code (15 random bytes as 24 base32 characters in groups of 4:
 * "abcd-efgh-ijkl-mnop-qrst-uvwx"); the new device's user types it in. Both
 * derive from its secret the link id (the server's capability) and a key
 * that seals the two slots: the request (the new device's identity key)
 * and the approval (the add entry the approving device signed, with its
 * signature). The code is a short-lived capability, not a key: what
 * authenticates the new device is the user comparing its fingerprint on
 * both screens before approving. */
#define RBX_LINK_SECRETBYTES 15U
#define RBX_LINK_IDBYTES 16U
#define RBX_LINK_CODEBYTES 30U      /* 24 characters, 5 dashes, NUL */
#define RBX_LINK_SLOT_MAXBYTES 256U /* a sealed request or approval fits */

/* A fresh secret (libsodium's RNG) and its code. */
RBX_API RBX_MUST_CHECK int rbx_link_code_new(char code[RBX_LINK_CODEBYTES],
                                             uint8_t secret[RBX_LINK_SECRETBYTES])
    RBX_NONNULL(1, 2);
/* The code of a secret. */
RBX_API void rbx_link_code_format(char code[RBX_LINK_CODEBYTES],
                                  const uint8_t secret[RBX_LINK_SECRETBYTES]) RBX_NONNULL(1, 2);
/* The secret of a code: 24 base32 characters, any case, '-' and ' ' ignored.
 * \return RBX_E_MALFORMED (secret zeroed). */
RBX_API RBX_MUST_CHECK int rbx_link_code_parse(uint8_t secret[RBX_LINK_SECRETBYTES],
                                               const char *code) RBX_NONNULL(1, 2);
/* BLAKE2b-128("ratchetbox-link-id-v1" || secret): the link's id. */
RBX_API void rbx_link_id(uint8_t id[RBX_LINK_IDBYTES], const uint8_t secret[RBX_LINK_SECRETBYTES])
    RBX_NONNULL(1, 2);
/* Seal and open the request slot (the new device's identity key).
 * \return seal: RBX_E_KEY, RBX_E_BUFFER; open: RBX_E_AUTH (not sealed
 *         under this link), RBX_E_MALFORMED, RBX_E_VERSION, RBX_E_KEY. */
RBX_API RBX_MUST_CHECK int rbx_link_request_seal(uint8_t *out, size_t outcap, size_t *outlen,
                                                 const uint8_t secret[RBX_LINK_SECRETBYTES],
                                                 const uint8_t identity[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 3, 4, 5);
RBX_API RBX_MUST_CHECK int rbx_link_request_open(uint8_t identity[RBX_PUBLICKEYBYTES],
                                                 const uint8_t secret[RBX_LINK_SECRETBYTES],
                                                 const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 3);
/* Seal and open the approval slot: e is an add entry (signer kind device,
 * seq >= 2) and signature the approving device's over it
 * (rbx_store_devlist_sign); the new device checks it in
 * rbx_store_devlist_cosign. \return seal: RBX_E_INVALID, RBX_E_BUFFER;
 * open: as the request's. */
RBX_API RBX_MUST_CHECK int rbx_link_approval_seal(uint8_t *out, size_t outcap, size_t *outlen,
                                                  const uint8_t secret[RBX_LINK_SECRETBYTES],
                                                  const rbx_devlist_entry *e,
                                                  const uint8_t signature[RBX_SIGNATUREBYTES])
    RBX_NONNULL(1, 3, 4, 5, 6);
RBX_API RBX_MUST_CHECK int rbx_link_approval_open(rbx_devlist_entry *e,
                                                  uint8_t signature[RBX_SIGNATUREBYTES],
                                                  const uint8_t secret[RBX_LINK_SECRETBYTES],
                                                  const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 3, 4);

/* Messages to users (PROTOCOL.md 21.2): every ratchet message a store sends
 * to a user carries a small header before the caller's body: its type, a
 * 16-byte message id chosen by the sender, and for a sync copy the user it
 * was sent to. */
#define RBX_MESSAGE_IDBYTES 16U
#define RBX_CONTENT_MESSAGE 1U   /* a message to this user */
#define RBX_CONTENT_SYNC 2U      /* a copy of a message our own user sent (from another of its devices) */
#define RBX_CONTENT_RETRY 3U     /* a retry request (PROTOCOL.md 21.5) */
#define RBX_CONTENT_RESENT 1U    /* flag: re-sent after a retry request */
#define RBX_RETRY_MAX_IDS 32U    /* message ids one retry request names */
#define RBX_RETRY_INTERVAL 3600U /* one retry request per peer device per hour, each way */

/* ---------------------------------------------------------------- sessions */

typedef struct rbx_session rbx_session;

/* KDF profiles (PROTOCOL.md 4.1). A profile also fixes the session's
 * protocol version. HMAC (0) and SIGNAL (1) are version 1, the protocol of
 * ratchetbox 0.1.0: for sessions made before version 2 and for peers that
 * only know version 1. SIGNAL uses Signal's info strings so the
 * constructions can be checked against libsignal's vectors; it is not
 * wire-compatible with libsignal. FAST (2) is version 2: a BLAKE2b key
 * schedule and 16 bytes of fresh randomness per message in the body key, so
 * that a sender whose state was rolled back (a restored backup, a VM
 * snapshot) never encrypts twice under one key and nonce. */
#define RBX_PROFILE_HMAC 0U
#define RBX_PROFILE_SIGNAL 1U
#define RBX_PROFILE_FAST 2U
/* What new sessions get: opts == NULL, the store and rbx without --profile. */
#define RBX_PROFILE_DEFAULT RBX_PROFILE_FAST

/* Session options, fixed by the initiator at handshake time. A caller that
 * fills this struct chooses the profile explicitly: set it to
 * RBX_PROFILE_DEFAULT (a zeroed struct means RBX_PROFILE_HMAC). */
typedef struct rbx_session_opts {
    unsigned profile;          /* RBX_PROFILE_* */
    int header_encryption;     /* DR spec section 4: 0 off, 1 on */
} rbx_session_opts;

/* Initiator (X3DH, Alice): b must come from rbx_bundle_parse (which verified
 * it); identity_pk must belong to identity_sk (not re-checked here, to keep a
 * scalar multiplication off the handshake). Runs X3DH and sets up the ratchet. Every message encrypted
 * before the first reply decrypts is a PreKeyMessage carrying IK_A, EK_A and
 * the prekey ids. opts == NULL means defaults.
 * \return RBX_E_KEY (low-order DH result), RBX_E_INVALID (opts), RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_session_initiate(rbx_session **out,
                                                const uint8_t identity_pk[RBX_PUBLICKEYBYTES],
                                                const uint8_t identity_sk[RBX_SECRETKEYBYTES],
                                                const rbx_bundle *b,
                                                const rbx_session_opts *opts)
    RBX_NONNULL(1, 2, 3, 4);

/* Attach rotation records and an organisation certificate to a new
 * version-2 session of an initiator whose identity was rotated
 * (PROTOCOL.md 6.4): every PreKeyMessage it encrypts until the first reply
 * carries them, so that a peer pinned to an earlier key of ours can follow
 * the chain from the first message. records[i] (lens[i] bytes) are the
 * newest records of our identity, oldest first, at most RBX_CHAIN_MAX, the
 * last naming our identity as its new key; cert (certlen bytes) our
 * certificate or NULL (only with n >= 1). They are copied (and serialised
 * with the session); each is parsed as rbx_rotation_parse and
 * rbx_org_cert_parse do. n = 0 and cert NULL detaches.
 * \return RBX_E_STATE (a version-1 session, a responder's, or after the
 *         first reply), RBX_E_INVALID (n > RBX_CHAIN_MAX, NULL records or
 *         lens with n > 0, a certificate without records, a record or
 *         certificate that does not parse), RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_session_set_chain(rbx_session *s, const uint8_t *const *records,
                                                 const size_t *lens, size_t n,
                                                 const uint8_t *cert, size_t certlen)
    RBX_NONNULL(1);

/* What a first message claims, before anything is authenticated. Lets a
 * store load the right prekeys; nothing here may be trusted or pinned. */
typedef struct rbx_prekey_info {
    uint8_t initiator_identity[RBX_PUBLICKEYBYTES];
    uint8_t base_key[RBX_PUBLICKEYBYTES];
    uint32_t signed_prekey_id;
    int has_onetime;
    uint32_t onetime_prekey_id;
} rbx_prekey_info;

/* Is this wire message a PreKeyMessage? Returns 1 if so (and fills info if
 * non-NULL), 0 if it is a normal message, or a negative RBX_E_* code. */
RBX_API RBX_MUST_CHECK int rbx_message_prekey_info(rbx_prekey_info *info,
                                                   const uint8_t *in, size_t len)
    RBX_NONNULL(2);

/* Chain verification (rbx_chain_verify) of the rotation records a
 * version-2 PreKeyMessage carries (PROTOCOL.md 6.4), with its identity key
 * IK_A as target: whether IK_A is the successor of the pinned key. The
 * message itself is not authenticated here: pin IK_A only once
 * rbx_session_accept (with IK_A as pinned) has succeeded.
 * \return the parse errors of rbx_message_prekey_info (RBX_E_MALFORMED also
 *         for a normal Message), and those of rbx_chain_verify. */
RBX_API RBX_MUST_CHECK int rbx_message_chain_verify(rbx_chain_tip *tip, uint64_t *old_valid_until,
                                                    const rbx_chain_tip *pinned,
                                                    const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 3, 4);

/* Responder (X3DH, Bob): recompute X3DH for a PreKeyMessage, decrypt its
 * ratchet message, and only after authentication consume the one-time
 * prekey from pk and return the session. pinned: the identity pinned for
 * this contact, or NULL for a new contact; compared after authentication.
 * On success *consumed_onetime is the consumed id or UINT32_MAX for none.
 * \return RBX_E_AUTH, RBX_E_MALFORMED, RBX_E_VERSION, RBX_E_TOO_BIG,
 *         RBX_E_UNKNOWN_PREKEY, RBX_E_PREKEY_REUSED, RBX_E_KEY, RBX_E_LIMIT,
 *         RBX_E_IDENTITY_CHANGED, RBX_E_BUFFER, RBX_E_NOMEM. pk is unchanged on
 *         every error. */
RBX_API RBX_MUST_CHECK int rbx_session_accept(rbx_session **out,
                                              uint8_t *pt, size_t ptcap, size_t *ptlen,
                                              uint32_t *consumed_onetime,
                                              rbx_prekeys *pk,
                                              const uint8_t *pinned /* 32 or NULL */,
                                              const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 4, 5, 6, 8);

RBX_API void rbx_session_free(rbx_session *s);

/* Upper bound of the wire size of a message with ptlen bytes of plaintext. */
RBX_API size_t rbx_session_wire_size(const rbx_session *s, size_t ptlen) RBX_NONNULL(1);

/* DR spec 3.4 RatchetEncrypt. The session advances on success only; pt and
 * out must not overlap. Before the initiator has decrypted a reply, the
 * output is a PreKeyMessage (about 78 bytes more, plus attached records).
 * Version 2 draws 16 random bytes (or the header nonce) per message. With a store, persist the
 * advanced session before releasing out (a crash must not reuse a key).
 * \return RBX_E_BUFFER (outcap < rbx_session_wire_size), RBX_E_TOO_BIG,
 *         RBX_E_INVALID (pt NULL with ptlen > 0), RBX_E_STATE (no sending
 *         chain, or a poisoned session), RBX_E_LIMIT (counter exhausted). */
RBX_API RBX_MUST_CHECK int rbx_session_encrypt(rbx_session *s,
                                               uint8_t *out, size_t outcap, size_t *outlen,
                                               const uint8_t *pt, size_t ptlen)
    RBX_NONNULL(1, 2, 4);

/* DR spec 3.5 RatchetDecrypt (and 4 with header encryption). Works on a copy
 * of the state and commits it only when the message authenticated: on every
 * error the session is byte-identical to before. A PreKeyMessage for this
 * session (the initiator's messages before a reply) is accepted here too.
 * ptcap >= len always suffices.
 * \return RBX_E_AUTH, RBX_E_MALFORMED, RBX_E_VERSION, RBX_E_TOO_BIG,
 *         RBX_E_REPLAY, RBX_E_LIMIT, RBX_E_KEY, RBX_E_BUFFER, RBX_E_NOMEM,
 *         RBX_E_STATE (a PreKeyMessage of another session). */
RBX_API RBX_MUST_CHECK int rbx_session_decrypt(rbx_session *s,
                                               uint8_t *pt, size_t ptcap, size_t *ptlen,
                                               const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 4, 5);

/* Serialise the whole session (secrets included: encrypt it at rest) to a
 * versioned blob. Call with out == NULL to learn the size.
 * \return RBX_E_BUFFER. Caller wipes the blob. */
RBX_API RBX_MUST_CHECK int rbx_session_serialize(uint8_t *out, size_t outcap, size_t *outlen,
                                                 const rbx_session *s) RBX_NONNULL(3, 4);

/* \return RBX_E_MALFORMED (truncated, oversized, trailing bytes, any field
 *         out of range), RBX_E_VERSION, RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_session_deserialize(rbx_session **out,
                                                   const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2);

/* Public facts about a session, for status displays and the simulator. */
typedef struct rbx_session_info {
    uint8_t own_identity[RBX_PUBLICKEYBYTES];
    uint8_t peer_identity[RBX_PUBLICKEYBYTES];
    int initiator;              /* 1 if this side sent the first message */
    int header_encryption;
    unsigned profile;
    int awaiting_reply;         /* initiator still sending PreKeyMessages */
    uint32_t send_count;        /* Ns: messages in the current sending chain */
    uint32_t recv_count;        /* Nr */
    uint32_t prev_send_count;   /* PN */
    uint32_t dh_steps;          /* receiving DH ratchet steps so far */
    size_t skipped_keys;        /* stored skipped message keys */
    size_t skipped_chains;      /* distinct chains those belong to */
} rbx_session_info;

RBX_API void rbx_session_get_info(rbx_session_info *info, const rbx_session *s)
    RBX_NONNULL(1, 2);


/* ---------------------------------------------------------------- store */

/* Durable state in one SQLite database (PROTOCOL.md "State and storage"):
 * the identity, prekeys, contacts with their pinned identities, one session
 * per (contact, device), an outbox and an inbox. Every secret is encrypted
 * at rest with XChaCha20-Poly1305 under a 32-byte storage key, with
 * associated data binding table, row and generation. A handle is for one
 * thread; any number of processes may open the same database. */
typedef struct rbx_store rbx_store;

/* Forward secrecy at rest (SECURITY.md "At rest"). */
#define RBX_STORE_BOUNDED 0   /* erase point every erase_commits commits or erase_seconds (default) */
#define RBX_STORE_STRICT 1    /* erase point at every commit */

#define RBX_STORE_ERASE_COMMITS 64U  /* bounded-mode defaults */
#define RBX_STORE_ERASE_SECONDS 10U
#define RBX_NAME_MAX 64U             /* contact names: 1..63 bytes of UTF-8, no control bytes */
#define RBX_STORAGE_KEYBYTES 32U

/* Which of a store's files an error is about (rbx_io_error.file). */
#define RBX_FILE_DATABASE 1          /* <db>, or its -wal or -shm file */
#define RBX_FILE_KEY 2               /* the storage key file */
#define RBX_FILE_GENERATION 3        /* the generation record */
#define RBX_FILE_DIRECTORY 4         /* the directory that holds <db> */

/* What a store error was about, for a message that names the file and the
 * OS error: the return code of the call is the answer, this only explains
 * it (PROTOCOL.md 15.1). Filled by rbx_store_open (opts->error) and by
 * rbx_store_io_error and rbx_store_deferred. */
typedef struct rbx_io_error {
    int file;          /* RBX_FILE_*, 0: none in particular */
    int os_error;      /* errno of the failing call; 0 when a check refused the file */
    const char *op;    /* static text: "open", "read", "write", "sync", "lock", "rename",
                          "truncate", "stat", "owner", "mode", "type", "content"; NULL: none */
} rbx_io_error;

typedef struct rbx_store_opts {
    int create;                  /* 1: create the database, key file and generation file */
    int mode;                    /* RBX_STORE_BOUNDED or RBX_STORE_STRICT */
    unsigned erase_commits;      /* bounded mode; 0 = RBX_STORE_ERASE_COMMITS */
    unsigned erase_seconds;      /* bounded mode, elapsed (CLOCK_MONOTONIC) seconds, not the
                                  * clock below; 0 = RBX_STORE_ERASE_SECONDS */
    const char *key_path;        /* storage key file (mode 0600); NULL = <db>.key */
    const uint8_t *storage_key;  /* or the key itself, 32 bytes (keychain); wins over key_path */
    const char *generation_path; /* rollback sidecar; NULL = <db>.gen */
    /* The store's clock for policy times (prekey ages, grace windows,
     * retention, audit times), Unix seconds; NULL = time(). Tests inject one. */
    int64_t (*clock)(void *ctx);
    void *clock_ctx;
    /* If not NULL: on any failure of rbx_store_open, which file it was about
     * and the OS error (zeroed on success). */
    rbx_io_error *error;
} rbx_store_opts;

/* Open (or with opts->create, create) a store. opts == NULL: open existing,
 * bounded mode. A rolled-back database opens, but its sessions refuse to
 * encrypt with RBX_E_ROLLBACK until rbx_store_reset_session.
 * A schema 1 or 2 database is migrated to schema 3 in one transaction.
 * Creation is atomic (PROTOCOL.md 15.1): the database is built under a
 * temporary name and renamed into place, so a crash leaves no store or a
 * whole one, and an open finishes a creation that stopped after the rename.
 * Every state file must be a regular file (not a symlink or a FIFO), owned
 * by the effective user and closed to group and others, in a directory that
 * no one else may write; otherwise RBX_E_UNSAFE, before anything is read.
 * \return RBX_E_IO, RBX_E_CORRUPT (not a ratchetbox database, bad key file
 *         or generation record), RBX_E_TAMPERED (rows, the schema or the
 *         integrity record changed without the storage key: PROTOCOL.md
 *         15.8), RBX_E_STORAGE_KEY, RBX_E_SCHEMA, RBX_E_NOT_FOUND (no
 *         database and create == 0; or a database without its key file),
 *         RBX_E_EXISTS (create == 1 and a key file exists for a database
 *         that does not), RBX_E_UNSAFE, RBX_E_NOMEM; opts->error says which
 *         file and why. Nothing is written on error. */
RBX_API RBX_MUST_CHECK int rbx_store_open(rbx_store **out, const char *db_path,
                                          const rbx_store_opts *opts) RBX_NONNULL(1, 2);

/* Close, with a final erase point. NULL-safe; wipes the storage key. */
RBX_API void rbx_store_close(rbx_store *st);

/* Create the identity: import pk/sk (the product's box key pair) or, with
 * both NULL, generate one. \return RBX_E_EXISTS, RBX_E_KEY (mismatch). */
RBX_API RBX_MUST_CHECK int rbx_store_identity_create(rbx_store *st, const uint8_t *pk,
                                                     const uint8_t *sk) RBX_NONNULL(1);
/* The identity public key. \return RBX_E_NOT_FOUND. */
RBX_API RBX_MUST_CHECK int rbx_store_identity(rbx_store *st, uint8_t pk[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 2);

/* rbx_request_sign with the store's identity key in force, so that a
 * transport (a binding, a client of rbxd) signs requests as this device
 * without the secret key ever leaving the library: it is read, used and
 * wiped inside this call. Arguments as rbx_request_sign's; sig is zeroed on
 * error. \return RBX_E_NOT_FOUND (no identity), RBX_E_INVALID (as
 *         rbx_request_sign), RBX_E_CORRUPT, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_request_sign(rbx_store *st, uint8_t sig[RBX_SIGNATUREBYTES],
                                                  const char *method, const char *target,
                                                  uint64_t ts,
                                                  const uint8_t nonce[RBX_REQUEST_NONCEBYTES],
                                                  const uint8_t *body, size_t bodylen,
                                                  const char *user, uint32_t device)
    RBX_NONNULL(1, 2, 3, 4, 6, 9);

/* Entry 1 of a new user's device list (PROTOCOL.md 20.3), for a first
 * enrollment with rbxd (SERVER.md 5.3): op add, seq 1, prev_hash zeros,
 * device rbx_device_id(identity), signer_kind device, and the store's
 * identity in force as both the key added and the signer (signature and
 * subject signature by it), created at the given time. The secret key is
 * read, used and wiped inside this call.
 * \return RBX_E_NOT_FOUND (no identity), RBX_E_INVALID (user not a valid
 *         id), RBX_E_BUFFER (RBX_DEVLIST_ENTRY_MAXBYTES always suffices),
 *         RBX_E_CORRUPT, RBX_E_IO. *outlen is 0 on error. */
RBX_API RBX_MUST_CHECK int rbx_store_devlist_first_entry(rbx_store *st, uint8_t *out, size_t outcap,
                                                         size_t *outlen, const char *user,
                                                         uint64_t created)
    RBX_NONNULL(1, 2, 4, 5);

/* The store forms of rbx_devlist_entry_signature and _cosign, with the
 * identity in force, which must be e->signer (sign) or e->identity (cosign):
 * else RBX_E_KEY. The secret key is read, used and wiped inside the call.
 * \return as those, RBX_E_NOT_FOUND (no identity), RBX_E_CORRUPT, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_devlist_sign(rbx_store *st, uint8_t sig[RBX_SIGNATUREBYTES],
                                                  const rbx_devlist_entry *e) RBX_NONNULL(1, 2, 3);
RBX_API RBX_MUST_CHECK int rbx_store_devlist_cosign(rbx_store *st, uint8_t *out, size_t outcap,
                                                    size_t *outlen, const rbx_devlist_entry *e,
                                                    const uint8_t sig[RBX_SIGNATUREBYTES])
    RBX_NONNULL(1, 2, 4, 5, 6);

/* A fresh bundle, after the policy's upkeep (rbx_store_maintain): the newest
 * signed prekey of the identity in force with its creation time, one one-time
 * prekey never offered before (onetime > 0; 0 = none; the pool follows the
 * policy's onetime_low and onetime_batch), our newest rotation records and our
 * certificate. \return RBX_E_NOT_FOUND (no identity), RBX_E_BUFFER. */
RBX_API RBX_MUST_CHECK int rbx_store_bundle(rbx_store *st, uint8_t *out, size_t outcap,
                                            size_t *outlen, unsigned onetime) RBX_NONNULL(1, 2, 4);

/* Record a contact device from its bundle (verified, identity pinned).
 * A contact that a first message created for the bundle's identity (named
 * by its fingerprint, PROTOCOL.md 16.7) is adopted instead of a second row
 * being made: it takes the name and device, and keeps its session, inbox
 * and history, which follow the name. History imported under the key's
 * fingerprint (rbx_store_import_history) follows too. With the policy's
 * require_org set, the bundle must carry a certificate by that root, and
 * the contact is bound to it.
 * \return RBX_E_EXISTS, RBX_E_INVALID (name), RBX_E_UNCERTIFIED,
 *         RBX_E_REVOKED, rbx_bundle_parse's errors. */
RBX_API RBX_MUST_CHECK int rbx_store_add_contact(rbx_store *st, const char *name, uint32_t device,
                                                 const uint8_t *bundle, size_t len)
    RBX_NONNULL(1, 2, 4);

/* Encrypt one message to (name, device) in one transaction: load, advance,
 * store the new state and the ciphertext in the outbox, commit, and only then
 * return the ciphertext and its outbox id. The first message to a contact
 * runs X3DH from its bundle. opts: header encryption etc. for a new session.
 * \return RBX_E_NOT_FOUND, RBX_E_ROLLBACK, RBX_E_BUFFER, RBX_E_IO and the
 *         session's errors. */
RBX_API RBX_MUST_CHECK int rbx_store_encrypt(rbx_store *st, uint8_t *out, size_t outcap,
                                             size_t *outlen, uint64_t *outbox_id,
                                             const char *name, uint32_t device,
                                             const uint8_t *pt, size_t ptlen,
                                             const rbx_session_opts *opts)
    RBX_NONNULL(1, 2, 4, 5, 6);

/* Encrypt n messages to one contact in one transaction (streamed output).
 * Ciphertext i is out + offsets[i] with length lens[i]; all or nothing.
 * \return as rbx_store_encrypt; RBX_E_BUFFER if outcap is too small. */
RBX_API RBX_MUST_CHECK int rbx_store_encrypt_batch(rbx_store *st, uint8_t *out, size_t outcap,
                                                   size_t *offsets, size_t *lens,
                                                   uint64_t *outbox_ids, const char *name,
                                                   uint32_t device, const uint8_t *const *pts,
                                                   const size_t *ptlens, size_t n,
                                                   const rbx_session_opts *opts)
    RBX_NONNULL(1, 2, 4, 5, 6, 7);

/* About a received message. */
typedef struct rbx_received {
    char name[RBX_NAME_MAX];      /* contact name (a new peer: its fingerprint) */
    uint32_t device;
    uint8_t peer_identity[RBX_PUBLICKEYBYTES]; /* the key that authenticated it (not
                                              * the contact's pinned one: they differ
                                              * for a message under a key the contact
                                              * rotated away from) */
    uint64_t inbox_id;
    int new_contact;              /* 1: first message of an unknown identity */
    int redelivered;              /* 1: already accepted; plaintext from the inbox */
} rbx_received;

/* Decrypt one message. name == NULL is allowed for a PreKeyMessage (the
 * contact is found by identity, or created once the message authenticated).
 * Which session takes it is the algorithm of PROTOCOL.md 15.9. On success the
 * new state and the plaintext (in the inbox) are committed together; on any
 * error nothing changes. A redelivered message that is still in the inbox
 * returns the stored plaintext with redelivered = 1; after
 * rbx_store_ack_inbox the ratchet refuses it (RBX_E_REPLAY, or RBX_E_AUTH once
 * its chain is older than the last 8: PROTOCOL.md section 12); a first
 * message whose handshake was accepted before is RBX_E_REPLAY for as long as
 * its signed prekey is held, whatever became of its session.
 * \return RBX_E_NOT_FOUND, RBX_E_IDENTITY_CHANGED, RBX_E_REPLAY, RBX_E_REVOKED,
 *         RBX_E_TAMPERED (a row that decides does not match its tag),
 *         RBX_E_IO and the session's errors. */
RBX_API RBX_MUST_CHECK int rbx_store_decrypt(rbx_store *st, uint8_t *pt, size_t ptcap,
                                             size_t *ptlen, rbx_received *info,
                                             const char *name, uint32_t device,
                                             const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 4, 5, 8);

/* Oldest unacknowledged outbox entry (to re-send after a crash, byte-identical).
 * \return RBX_E_NOT_FOUND when the outbox is empty, RBX_E_BUFFER. */
RBX_API RBX_MUST_CHECK int rbx_store_outbox_next(rbx_store *st, uint8_t *out, size_t outcap,
                                                 size_t *outlen, uint64_t *outbox_id,
                                                 char name[RBX_NAME_MAX], uint32_t *device)
    RBX_NONNULL(1, 2, 4, 5, 6, 7);

/* Delete a delivered outbox entry / a consumed inbox entry (erased with the
 * store's at-rest guarantee). \return RBX_E_NOT_FOUND. */
RBX_API RBX_MUST_CHECK int rbx_store_ack_outbox(rbx_store *st, uint64_t id) RBX_NONNULL(1);
RBX_API RBX_MUST_CHECK int rbx_store_ack_inbox(rbx_store *st, uint64_t id) RBX_NONNULL(1);
/* Several consumed inbox entries in one transaction (one commit); ids that
 * are not there are skipped. *deleted: how many went. \return RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_ack_inbox_batch(rbx_store *st, const uint64_t *ids, size_t n,
                                                     size_t *deleted) RBX_NONNULL(1, 4);

/* Forget the session with (name, device): the next encrypt starts a new
 * X3DH from a fresh bundle (rbx_store_add_contact again). Clears a rollback. */
RBX_API RBX_MUST_CHECK int rbx_store_reset_session(rbx_store *st, const char *name,
                                                   uint32_t device) RBX_NONNULL(1, 2);

/* Contact lifecycle (PROTOCOL.md 16.7). Each change is one transaction and
 * is audited. */

/* Accept a contact device's changed identity after an out-of-band check
 * (the peer reinstalled, or lost its key without a rotation record): the
 * contact is pinned to the bundle's identity as a fresh rbx_store_add_contact
 * would pin it, its sessions (current and in their grace window) and the
 * keys it rotated through are dropped, and the next encrypt starts a new
 * X3DH from the bundle. The old key is remembered as behind the contact (a
 * bundle naming it later is RBX_E_STALE). A contact bound to an
 * organisation root stays bound, and the new key must be certified by it
 * (and by the policy's require_org). A contact that a first message created
 * for the new key (named by its fingerprint) is merged into this one: its
 * session, inbox, outbox and history move here, and its row is removed.
 * 
eturn RBX_E_NOT_FOUND (no such contact), RBX_E_EXISTS (the bundle's
 *         identity is the pinned one: nothing to trust), RBX_E_INVALID
 *         (name), RBX_E_EXPIRED (signed prekey older than spk_max_age),
 *         RBX_E_UNCERTIFIED, RBX_E_REVOKED, rbx_bundle_parse's errors,
 *         RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_trust_contact(rbx_store *st, const char *name,
                                                   uint32_t device, const uint8_t *bundle,
                                                   size_t len) RBX_NONNULL(1, 2, 4);

/* Erase a contact: with device NULL every device of name, else that one.
 * Its sessions (current and retired), earlier keys, inbox and outbox rows
 * and the contact rows go in one transaction, followed by an erase point
 * (PROTOCOL.md 15.5), so that no copy of their keys survives in the files;
 * a failed erase point is owed (rbx_store_deferred), the call returns 0.
 * History (the archive) is kept: its keys are the archive's (rbx_store_rotate_archive
 * with RBX_ARCHIVE_SHRED erases it). *count (may be NULL): devices erased.
 * 
eturn RBX_E_NOT_FOUND (no such contact), RBX_E_INVALID (name), RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_forget_contact(rbx_store *st, const char *name,
                                                    const uint32_t *device, size_t *count)
    RBX_NONNULL(1, 2);

/* Rename every device of contact old_name to new_name; its history entries
 * follow. 
eturn RBX_E_NOT_FOUND, RBX_E_EXISTS (new_name has a device of
 * the same number), RBX_E_INVALID (a bad name, or old == new), RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_rename_contact(rbx_store *st, const char *old_name,
                                                    const char *new_name) RBX_NONNULL(1, 2, 3);

/* Force an erase point now: every earlier version of every row leaves the
 * files (PROTOCOL.md 15.5), whatever the mode. Also retries work that an
 * earlier commit left owed (rbx_store_deferred).
 * \return RBX_E_IO (rbx_store_io_error says why). */
RBX_API RBX_MUST_CHECK int rbx_store_erase_now(rbx_store *st) RBX_NONNULL(1);

/* The caller has nothing to do for a while (its event loop is waiting, a
 * burst of messages has ended): do the erase work now that a later commit
 * would otherwise carry (PROTOCOL.md 15.5 "Idle handles"). Bounded mode: an
 * erase step once 3/8 of erase_commits (24) have run since the last one
 * (a commit takes one at 4/8), or erase_seconds / 2 have passed with a
 * commit in between, and the
 * log then prepared so that the next commit does not restart it; a full
 * erase point once erase_seconds / 2 have passed without a commit. Never
 * later than a commit would take them, so the mode's guarantee holds
 * whether this is called or not; called between messages it keeps the erase
 * work out of encrypt and decrypt. Also retries owed work. Cheap when
 * nothing is due (no I/O); takes the write lock briefly when something is.
 * \return RBX_E_IO (the work is then owed, rbx_store_deferred). */
RBX_API RBX_MUST_CHECK int rbx_store_idle(rbx_store *st) RBX_NONNULL(1);

/* Work after a COMMIT that failed and is owed (PROTOCOL.md 15.4). A call
 * that returns 0 committed its change; if an erase point or the raise of the
 * generation record that follows the COMMIT fails, the call still returns 0
 * (or, for encrypt, RBX_E_IO: see below) and the work is owed: the handle
 * retries it at its next commit, at rbx_store_erase_now and at close.
 * RBX_DEFERRED_ERASE: earlier versions of rows are still in the files (in
 * strict mode, the mode's promise for the last commit is not kept yet);
 * RBX_DEFERRED_RECORD: the generation record is behind the last commit.
 * An encrypt whose record cannot be raised releases nothing and returns
 * RBX_E_IO with RBX_DEFERRED_RECORD set: its ciphertexts are committed to the
 * outbox, and rbx_store_outbox_next releases them once the record is raised.
 * \return the RBX_DEFERRED_* bits owed now (0: none); cause (may be NULL)
 *         gets the failure that left them. */
#define RBX_DEFERRED_ERASE 1U
#define RBX_DEFERRED_RECORD 2U
RBX_API unsigned rbx_store_deferred(const rbx_store *st, rbx_io_error *cause) RBX_NONNULL(1);

/* The file and OS error behind the last RBX_E_IO (or RBX_E_CORRUPT about a
 * file) that a call on st returned. Diagnostic detail for messages only:
 * the return code stays the answer.
 * \return 1 if a failure is recorded (*e filled), 0 otherwise (*e zeroed). */
RBX_API int rbx_store_io_error(const rbx_store *st, rbx_io_error *e) RBX_NONNULL(1, 2);

/* Session facts for (name, device). \return RBX_E_NOT_FOUND. */
RBX_API RBX_MUST_CHECK int rbx_store_session_info(rbx_store *st, rbx_session_info *info,
                                                  uint64_t *generation, const char *name,
                                                  uint32_t device) RBX_NONNULL(1, 2, 3, 4);

/* The contact device pinned to an identity key (the oldest one if several
 * rows share it), or that had it before a rotation still in its grace
 * window, for a transport that names senders by identity.
 * \return RBX_E_NOT_FOUND (name is then "" and *device 0), RBX_E_CORRUPT,
 *         RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_contact_by_identity(rbx_store *st, char name[RBX_NAME_MAX],
                                                         uint32_t *device,
                                                         const uint8_t identity[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 2, 3, 4);

/* Public facts about one contact device (no secrets), for status displays. */
typedef struct rbx_contact_info {
    char name[RBX_NAME_MAX];
    uint32_t device;
    uint8_t identity[RBX_PUBLICKEYBYTES]; /* pinned */
    int has_bundle;               /* a bundle is held for the next handshake */
    int has_session;              /* 0: no session yet; the fields below are 0 */
    int rolled_back;              /* session restored from an old copy (encrypt refuses) */
    uint64_t generation;          /* of the stored session */
    rbx_session_info session;
    uint64_t rotation_seq;        /* sequence of the peer's rotation record pinned, 0: none */
    int has_org;                  /* bound to an organisation root */
    uint8_t org[RBX_PUBLICKEYBYTES];
    size_t grace_sessions;        /* earlier sessions still accepted (grace window) */
} rbx_contact_info;

/* List contact devices in the order they were added: writes the first
 * min(cap, *count) entries of out (out may be NULL when cap is 0) and sets
 * *count to the number of contacts, all read in one snapshot.
 * \return RBX_E_CORRUPT, RBX_E_IO, RBX_E_NOMEM; *count is 0 on error. */
RBX_API RBX_MUST_CHECK int rbx_store_contacts(rbx_store *st, rbx_contact_info *out, size_t cap,
                                              size_t *count) RBX_NONNULL(1, 4);

/* Prekey pool facts. signed_prekey_id 0: none made yet. */
typedef struct rbx_prekey_stats {
    uint32_t signed_prekey_id;    /* newest signed prekey */
    int64_t signed_prekey_created; /* its creation time, Unix seconds */
    size_t onetime_unoffered;     /* one-time prekeys not yet put in a bundle */
    size_t onetime_outstanding;   /* offered, not yet consumed */
    size_t onetime_consumed;      /* consumed (secret erased, id kept) */
} rbx_prekey_stats;

/* \return RBX_E_IO, RBX_E_CORRUPT. */
RBX_API RBX_MUST_CHECK int rbx_store_prekey_stats(rbx_store *st, rbx_prekey_stats *out)
    RBX_NONNULL(1, 2);

/* ---------------------------------------------------------------- rotation in the store */

/* Prekey upkeep by policy (PROTOCOL.md "Rotation"): a new signed prekey when
 * the newest is spk_rotate old (or with force); secrets of replaced signed
 * prekeys erased spk_keep after their replacement; one-time prekeys topped
 * up by onetime_batch when fewer than onetime_low are unoffered; old
 * identities and the sessions kept for them erased when their grace window
 * ends. Runs in rbx_store_bundle and rbx_store_maintain; every change is
 * audited and erased secrets leave the files at the following erase point,
 * which rbx_store_maintain takes at once. */
typedef struct rbx_maintain_result {
    uint32_t signed_prekey_made;  /* id of a new signed prekey, 0 if none */
    size_t signed_prekeys_erased;
    size_t onetime_made;
    size_t old_identities_erased;
    size_t sessions_retired;      /* old-identity or grace-window sessions erased */
} rbx_maintain_result;
RBX_API RBX_MUST_CHECK int rbx_store_maintain(rbx_store *st, int force_signed_prekey,
                                              rbx_maintain_result *res) RBX_NONNULL(1);

/* Rotate the identity: a new box key pair (imported, or generated with both
 * NULL), a rotation record signed by the old and the new key chained to the
 * previous one, a new signed prekey, all in one transaction. The old secret
 * key stays for the policy's identity_grace (first messages and sessions made
 * under it still work), then rbx_store_maintain erases it. A certificate held
 * for the old key is dropped (the new key needs its own). reason: 0..63
 * bytes, no control bytes. \return RBX_E_NOT_FOUND (no identity),
 * RBX_E_INVALID (reason), RBX_E_KEY (the pair does not match, or the new key
 * is the current one or is named by one of the RBX_CHAIN_MAX - 1 newest
 * records: a bundle would carry a loop), RBX_E_LIMIT, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_rotate_identity(rbx_store *st, const char *reason,
                                                     const uint8_t *new_pk, const uint8_t *new_sk,
                                                     uint8_t out_pk[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 2, 5);

/* Our rotation records, oldest first: writes up to cap (records may be NULL
 * when cap is 0) into buf back to back, lens[i] each; *n = how many exist.
 * \return RBX_E_BUFFER, RBX_E_IO, RBX_E_CORRUPT (an empty or oversized record row). */
RBX_API RBX_MUST_CHECK int rbx_store_rotations(rbx_store *st, uint8_t *buf, size_t bufcap,
                                               size_t *lens, size_t cap, size_t *n)
    RBX_NONNULL(1, 6);

/* rbx_store_add_contact, bound to an organisation root (org != NULL): the
 * bundle must carry a certificate of its identity by org, now and after every
 * rotation, and the identity must not be revoked. For a known contact whose
 * bundle names a new identity, the bundle's rotation records must lead from
 * the pinned key (rbx_bundle_chain_verify); the new key is then pinned, the
 * session moves to the grace window (old messages still decrypt for the
 * policy's identity_grace) and the next encrypt starts a new X3DH. A refusal
 * is audited. \return as rbx_store_add_contact, and RBX_E_IDENTITY_CHANGED,
 * RBX_E_CHAIN, RBX_E_STALE, RBX_E_SIGNATURE, RBX_E_UNCERTIFIED,
 * RBX_E_REVOKED, RBX_E_EXPIRED (signed prekey older than spk_max_age). */
RBX_API RBX_MUST_CHECK int rbx_store_add_contact_org(rbx_store *st, const char *name,
                                                     uint32_t device, const uint8_t *bundle,
                                                     size_t len, const uint8_t *org)
    RBX_NONNULL(1, 2, 4);

/* Organisation root held in this store (an administrator's device). */
RBX_API RBX_MUST_CHECK int rbx_store_org_init(rbx_store *st, uint8_t org_pk[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 2);
/* \return RBX_E_NOT_FOUND when this store holds no organisation key. */
RBX_API RBX_MUST_CHECK int rbx_store_org_key(rbx_store *st, uint8_t org_pk[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 2);
/* Certify a device identity until expires (0 = no end). */
RBX_API RBX_MUST_CHECK int rbx_store_org_certify(rbx_store *st, uint8_t *out, size_t outcap,
                                                 size_t *outlen,
                                                 const uint8_t identity[RBX_PUBLICKEYBYTES],
                                                 uint64_t expires) RBX_NONNULL(1, 2, 4, 5);
/* Revoke a device identity; the revocation is also applied to this store. */
RBX_API RBX_MUST_CHECK int rbx_store_org_revoke(rbx_store *st, uint8_t *out, size_t outcap,
                                                size_t *outlen,
                                                const uint8_t identity[RBX_PUBLICKEYBYTES],
                                                const char *reason) RBX_NONNULL(1, 2, 4, 5, 6);
/* Apply a revocation from an organisation: contacts bound to it with that
 * identity lose their sessions (erased) and refuse to encrypt with
 * RBX_E_REVOKED. \return rbx_org_revocation_parse's errors. */
RBX_API RBX_MUST_CHECK int rbx_store_add_revocation(rbx_store *st, const uint8_t *rev, size_t len)
    RBX_NONNULL(1, 2);
/* Our installed certificate. \return RBX_E_NOT_FOUND, RBX_E_BUFFER. */
RBX_API RBX_MUST_CHECK int rbx_store_certificate(rbx_store *st, uint8_t *out, size_t outcap,
                                                 size_t *outlen) RBX_NONNULL(1, 2, 4);
/* Revocations this store applies, oldest organisation and key first: writes
 * min(cap, *count) entries (out may be NULL when cap is 0). */
RBX_API RBX_MUST_CHECK int rbx_store_revocations(rbx_store *st, rbx_org_revocation *out,
                                                 size_t cap, size_t *count) RBX_NONNULL(1, 4);
/* Our own certificate, carried in our bundles. \return RBX_E_UNCERTIFIED if
 * it does not certify our current identity, RBX_E_EXPIRED. */
RBX_API RBX_MUST_CHECK int rbx_store_set_certificate(rbx_store *st, const uint8_t *cert, size_t len)
    RBX_NONNULL(1, 2);
/* ---------------------------------------------------------------- users: fan-out, sync copies, recovery */

/* A store that belongs to a user's device (PROTOCOL.md section 21) sends to
 * users, not to devices: one call encrypts a message for every current
 * device of the recipient user and for every other device of its own user
 * (sync copies), in one transaction, from verified device lists it pins.
 * Still sans-I/O: the caller fetches lists and bundles from a server
 * (rbxd, SERVER.md) and hands them in, and posts the envelopes the store
 * hands out. Every device of a user is a contact row (name = user id,
 * device = device id) pinned to the key its verified list names. */

typedef struct rbx_account {
    char user[RBX_USER_MAX];
    uint32_t device;                        /* rbx_device_id of the key this device enrolled with */
    uint32_t registration_id;               /* random per store (SERVER.md 5.3) */
    uint8_t entry[RBX_DEVLIST_ENTRY_MAXBYTES]; /* this device's add entry */
    size_t entry_len;
} rbx_account;

/* Make this store a device of a user: entry is this device's own add entry
 * (entry 1 of a new user from rbx_store_devlist_first_entry, or the add
 * entry of rbx_store_devlist_cosign), parsed and checked to add the store's
 * identity; a random registration id is chosen. The entry's hash anchors
 * the first verification of our own list (21.3): it must be in it at its
 * seq. Call it before enrolling; a second call with the same entry returns
 * the same account (a retried enrollment). \return RBX_E_EXISTS (another
 * account), RBX_E_KEY (the entry does not add our identity), the entry's
 * parse errors, RBX_E_NOT_FOUND (no identity), RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_account_init(rbx_store *st, rbx_account *out,
                                                  const uint8_t *entry, size_t len)
    RBX_NONNULL(1, 2, 3);
/* \return RBX_E_NOT_FOUND (no account), RBX_E_CORRUPT, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_account(rbx_store *st, rbx_account *out) RBX_NONNULL(1, 2);

/* A device's registration id as a server lists it (SERVER.md 5.1 `devices`):
 * not signed; a change means a new state behind the same key. */
typedef struct rbx_device_reg {
    uint32_t device;
    uint32_t registration_id;
} rbx_device_reg;

typedef struct rbx_user_update {
    rbx_devlist_pin head;                   /* the new pin */
    int first;                              /* pinned now (first use, or our anchor) */
    int self_listed;                        /* own user: this device is in it with its key */
    size_t ndevices, added, removed, rotated, reregistered;
} rbx_user_update;

/* Verify a user's whole device list (entries[i] is seq i + 1) from the pin
 * this store holds for the user (PROTOCOL.md 20.4, 20.5; first use: trust
 * on first use, or our own account's anchor) and apply it in one
 * transaction: the pin moves to the new head; every listed device gets a
 * contact row pinned to its listed key (not this device itself); removed
 * devices lose their sessions and bundles; a device whose registration id
 * changed (regs, from the server, may be NULL) starts a new session. A list
 * that does not extend the pin changes nothing.
 * \return rbx_devlist_verify's errors (RBX_E_STALE a rollback,
 *         RBX_E_IDENTITY_CHANGED a fork or another list, RBX_E_CHAIN,
 *         RBX_E_SIGNATURE ...), RBX_E_IDENTITY_CHANGED (own list without
 *         our anchor), RBX_E_EXISTS (hand-added contacts under this name),
 *         RBX_E_INVALID, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_user_update(rbx_store *st, rbx_user_update *res,
                                                 const char *user, const uint8_t *const *entries,
                                                 const size_t *lens, size_t n,
                                                 const rbx_device_reg *regs, size_t nregs)
    RBX_NONNULL(1, 2, 3);

/* Bind user to an organisation root (PROTOCOL.md 20.5): from now on
 * rbx_store_user_update verifies the user's list with org, so entries the
 * root signed (signer_kind 1: an entry 1, an add, remove or rotate for a
 * lost device) are accepted; without a binding they are RBX_E_CHAIN. Before
 * the first update (the pin then also follows) or after it (a TOFU pin
 * keeps its entry 1; later root-signed entries are accepted). One root per
 * user: the same key again is a no-op.
 * \return RBX_E_INVALID (user), RBX_E_KEY (org fails the key checks),
 *         RBX_E_EXISTS (bound to another root), RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_user_org(rbx_store *st, const char *user,
                                              const uint8_t org[RBX_PUBLICKEYBYTES])
    RBX_NONNULL(1, 2, 3);

/* The pin held for a user. \return RBX_E_NOT_FOUND (not pinned). */
RBX_API RBX_MUST_CHECK int rbx_store_user_pin(rbx_store *st, rbx_devlist_pin *pin, const char *user)
    RBX_NONNULL(1, 2, 3);

typedef struct rbx_user_device {
    char user[RBX_USER_MAX];
    uint32_t device;
    uint8_t identity[RBX_PUBLICKEYBYTES];   /* the key its verified list names */
    uint64_t added_seq;
    uint32_t registration_id;               /* as the server last listed it; 0 unknown */
    int self;                               /* this device */
    int has_session;
    int has_bundle;                         /* a bundle of the listed key is held */
    int needs_bundle;                       /* neither a session nor a bundle for its listed key */
} rbx_user_device;

/* The devices of a user's pinned list (writes min(cap, *n); out may be NULL
 * when cap is 0). \return RBX_E_NOT_FOUND (not pinned), RBX_E_CORRUPT. */
RBX_API RBX_MUST_CHECK int rbx_store_user_devices(rbx_store *st, rbx_user_device *out, size_t cap,
                                                  size_t *n, const char *user)
    RBX_NONNULL(1, 4, 5);
/* The devices a message to `to` goes to (to's and our own other devices)
 * that need a bundle before rbx_store_send can run: fetch them
 * (SERVER.md 6.3) and hand them to rbx_store_user_bundle. \return as above;
 * RBX_E_NOT_FOUND also without an account. */
RBX_API RBX_MUST_CHECK int rbx_store_send_needs(rbx_store *st, rbx_user_device *out, size_t cap,
                                                size_t *n, const char *to) RBX_NONNULL(1, 4, 5);

/* A bundle fetched for a listed device (rbx_bundle_with_onetime assembled
 * it), held for the next session with that device. Its identity must be
 * the key the verified list names (PROTOCOL.md 20.5): a server that swaps
 * a bundle is refused; when the list rotated the device's key, the
 * bundle's rotation records must lead from the pinned key to it (16.4).
 * \return RBX_E_NOT_FOUND (not a listed device), RBX_E_IDENTITY_CHANGED
 *         (another key than the list's), rbx_store_add_contact's errors. */
RBX_API RBX_MUST_CHECK int rbx_store_user_bundle(rbx_store *st, const char *user, uint32_t device,
                                                 const uint8_t *bundle, size_t len)
    RBX_NONNULL(1, 2, 4);

/* One envelope of a send: out + offset, len bytes, for (user, device). */
typedef struct rbx_envelope {
    char user[RBX_USER_MAX];
    uint32_t device;
    uint32_t registration_id;
    size_t offset, len;
} rbx_envelope;

#define RBX_SEND_FANOUT 0U     /* a message to a user (and our other devices) */
#define RBX_SEND_RETRY 1U      /* a retry request to one device (targeted) */
#define RBX_SEND_RESEND 2U     /* a re-send to one device (targeted) */

typedef struct rbx_send_info {
    uint64_t id;                            /* the store's id of this send */
    uint8_t message_id[RBX_MESSAGE_IDBYTES];/* the server's idempotency key (SERVER.md 7.1) */
    char to[RBX_USER_MAX];
    unsigned kind;                          /* RBX_SEND_*; RETRY and RESEND are `targeted` */
    size_t n;                               /* envelopes */
} rbx_send_info;

/* Room for every envelope of a send of ptlen bytes: n envelopes of at most
 * RBX_ENVELOPE_MAXBYTES(ptlen) each. */
#define RBX_SEND_MAX_ENVELOPES (2U * RBX_DEVLIST_MAX_DEVICES - 1U)
#define RBX_ENVELOPE_MAXBYTES(ptlen) ((size_t)(ptlen) + 1024U)
#define RBX_RESEND_WINDOW RBX_DAY  /* sent plaintexts kept for re-sends (PROTOCOL.md 21.5) */

/* Encrypt pt to user `to`: one envelope per device of to's list and per
 * other device of our own list (sync copies), all in one transaction with
 * one commit; the plaintext is kept sealed for re-sends until
 * RBX_RESEND_WINDOW after delivery. Only after the commit are the
 * envelopes written to out (env[i] for i < info->n). Post them (SERVER.md
 * 7.1), then rbx_store_send_done; on a 409, update the lists and
 * rbx_store_send_rebuild; after a crash rbx_store_send_get hands the same
 * bytes out again. \return RBX_E_NOT_FOUND (no account, `to` or our own
 * user not pinned, or a device needing a bundle: rbx_store_send_needs),
 * RBX_E_BUFFER (envcap or outcap too small; nothing changed),
 * RBX_E_ROLLBACK, RBX_E_EXPIRED, RBX_E_TOO_BIG, RBX_E_IO, the session's. */
RBX_API RBX_MUST_CHECK int rbx_store_send(rbx_store *st, rbx_send_info *info, rbx_envelope *env,
                                          size_t envcap, uint8_t *out, size_t outcap,
                                          const char *to, const uint8_t *pt, size_t ptlen,
                                          const rbx_session_opts *opts)
    RBX_NONNULL(1, 2, 3, 5, 7);
/* A pending send's envelopes again, byte for byte (id 0: the oldest
 * pending one). \return RBX_E_NOT_FOUND (none pending), RBX_E_BUFFER. */
RBX_API RBX_MUST_CHECK int rbx_store_send_get(rbx_store *st, rbx_send_info *info, rbx_envelope *env,
                                              size_t envcap, uint8_t *out, size_t outcap,
                                              uint64_t id) RBX_NONNULL(1, 2, 3, 5);
/* After a 409 device_mismatch and rbx_store_user_update of the users
 * concerned: envelopes of devices no longer listed are dropped, devices
 * listed without one (or whose registration id or key changed) get one, in
 * one transaction; the message id stays. A targeted send (a retry request
 * or a re-send) is only remade for the device it had, and dropped when
 * that device left its list or has a new state (RBX_E_NOT_FOUND, the send
 * gone). \return as rbx_store_send. */
RBX_API RBX_MUST_CHECK int rbx_store_send_rebuild(rbx_store *st, rbx_send_info *info,
                                                  rbx_envelope *env, size_t envcap, uint8_t *out,
                                                  size_t outcap, uint64_t id,
                                                  const rbx_session_opts *opts)
    RBX_NONNULL(1, 2, 3, 5);
/* The server stored the send (200): its ciphertexts are erased; a message's
 * plaintext stays for re-sends until RBX_RESEND_WINDOW. \return RBX_E_NOT_FOUND. */
RBX_API RBX_MUST_CHECK int rbx_store_send_done(rbx_store *st, uint64_t id) RBX_NONNULL(1);

/* About a message received from a user. */
typedef struct rbx_user_received {
    char user[RBX_USER_MAX];                /* the sender user, verified (its list and the ratchet) */
    uint32_t device;                        /* the sender device */
    unsigned type;                          /* RBX_CONTENT_MESSAGE, _SYNC or _RETRY */
    unsigned flags;                         /* RBX_CONTENT_RESENT */
    int sync;                               /* 1: a copy of a message our own user sent */
    char to[RBX_USER_MAX];                  /* who it was sent to (us, or for a sync copy the peer) */
    uint8_t message_id[RBX_MESSAGE_IDBYTES];
    uint64_t inbox_id;                      /* rbx_store_ack_inbox once the output is out */
    int redelivered;
    size_t resent;                          /* retry request: messages re-sent (pending sends) */
    int retry_limited;                      /* retry request: not served (RBX_RETRY_INTERVAL) */
} rbx_user_received;

/* Decrypt an envelope a server says came from (user, device) (SERVER.md
 * 7.2). The device must be in the user's pinned list and the message must
 * authenticate under a session with its listed key; the plaintext (the
 * content's body) and the inbox entry commit together. A retry request
 * from a device that received a message we can re-send queues the
 * re-sends (pending sends: rbx_store_send_get), at most one request per
 * device per RBX_RETRY_INTERVAL. \return RBX_E_NOT_FOUND (the device is
 * not in the pinned list, or the user is not pinned: update the list and
 * try again), RBX_E_IDENTITY_CHANGED (a first message under another key:
 * update the list and fetch the device's bundle), RBX_E_STATE (no session
 * for a normal message: recovery, 21.5), RBX_E_AUTH, RBX_E_REPLAY,
 * RBX_E_MALFORMED (also: a content type this sender may not send), and
 * rbx_store_decrypt's errors. */
RBX_API RBX_MUST_CHECK int rbx_store_receive(rbx_store *st, uint8_t *pt, size_t ptcap, size_t *ptlen,
                                             rbx_user_received *info, const char *user,
                                             uint32_t device, const uint8_t *in, size_t len)
    RBX_NONNULL(1, 2, 4, 5, 6, 8);

/* A retry request (PROTOCOL.md 21.5) to (user, device) naming messages we
 * could not decrypt: a new session from a bundle held for the device
 * (fetch one first: rbx_store_user_bundle), whose first message carries
 * the request; the old session stays for its grace window. One targeted
 * envelope, handed out after the commit as rbx_store_send's. \return
 * RBX_E_LIMIT (one request per device per RBX_RETRY_INTERVAL),
 * RBX_E_NOT_FOUND (not a listed device, or no bundle held), RBX_E_INVALID
 * (nids 0 or above RBX_RETRY_MAX_IDS), as rbx_store_send. */
RBX_API RBX_MUST_CHECK int rbx_store_retry_request(rbx_store *st, rbx_send_info *info,
                                                   rbx_envelope *env, size_t envcap, uint8_t *out,
                                                   size_t outcap, const char *user,
                                                   uint32_t device,
                                                   const uint8_t (*ids)[RBX_MESSAGE_IDBYTES],
                                                   size_t nids) RBX_NONNULL(1, 2, 3, 5, 7, 9);

/* One-time prekeys for a server: up to cap of those never offered (after
 * the policy's top-up), marked offered in the same transaction, ids
 * ascending. \return RBX_E_NOT_FOUND (no identity), RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_onetime_export(rbx_store *st, uint32_t *ids,
                                                    uint8_t (*keys)[RBX_PUBLICKEYBYTES], size_t cap,
                                                    size_t *n) RBX_NONNULL(1, 2, 3, 5);

/* A device-list entry signed by keys this store holds: e->signer must be
 * the identity in force or an earlier one still in its grace window (an
 * identity rotation's rotate entry is signed by the old key), and for add
 * and rotate e->identity must be the identity in force (the subject).
 * \return RBX_E_KEY (a key the store does not hold), rbx_devlist_entry_sign's
 *         errors, RBX_E_NOT_FOUND (no identity), RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_devlist_entry(rbx_store *st, uint8_t *out, size_t outcap,
                                                   size_t *outlen, const rbx_devlist_entry *e)
    RBX_NONNULL(1, 2, 4, 5);

/* rbx_store_request_sign with a key this store holds other than the one in
 * force: `identity` is the identity in force or one in its grace window
 * (after a rotation the server knows the old key until the rotate entry is
 * posted, SERVER.md 5.4). \return RBX_E_KEY (not held), as
 * rbx_store_request_sign. */
RBX_API RBX_MUST_CHECK int rbx_store_request_sign_as(rbx_store *st, uint8_t sig[RBX_SIGNATUREBYTES],
                                                     const uint8_t identity[RBX_PUBLICKEYBYTES],
                                                     const char *method, const char *target,
                                                     uint64_t ts,
                                                     const uint8_t nonce[RBX_REQUEST_NONCEBYTES],
                                                     const uint8_t *body, size_t bodylen,
                                                     const char *user, uint32_t device)
    RBX_NONNULL(1, 2, 3, 4, 5, 7, 10);

/* ---------------------------------------------------------------- history archive */

/* Session replay (PROTOCOL.md section 17 "History archive"). With
 * the policy key `archive` on, the plaintext of every message the store
 * encrypts or decrypts is kept, in the same transaction, under an epoch key:
 * XChaCha20-Poly1305, associated data "rbx-archive-v1" || session (32) ||
 * be64(seq) || be64(epoch). Epoch keys are random, sealed under the storage
 * key, and rotated by rbx_store_rotate_archive. Clear metadata per entry:
 * peer name, direction, time, session id, sequence and epoch. */

typedef struct rbx_history_entry {
    uint64_t id;                  /* row id, increasing in archive order */
    char peer[RBX_NAME_MAX];      /* contact name (imported rows: contact or fingerprint) */
    int direction;                /* 1 sent, 0 received */
    uint8_t session[32];          /* ratchet base key, or the baseline session id */
    uint64_t seq;                 /* per session: 1, 2, ... (imported: the row's sequence) */
    uint64_t epoch;
    int64_t created;              /* Unix seconds (store clock; imported: the row's time) */
    const uint8_t *pt;            /* valid during the callback only; NULL if unavailable */
    size_t ptlen;
    int available;                /* 1 readable; 0 its epoch key was shredded (pt NULL) */
} rbx_history_entry;

/* Call cb for every archived entry (of contact `peer`, or all with NULL),
 * oldest first (by time, then id), in one read snapshot. cb returns non-zero
 * to stop, and that value is returned; cb must not call the store. The
 * plaintext is wiped after each callback.
 * \return RBX_E_INVALID (bad name), RBX_E_CORRUPT (an entry that does not
 *         authenticate under its epoch key: edited, or moved to another
 *         session, sequence or epoch; the walk stops there), RBX_E_IO,
 *         RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_store_history(rbx_store *st, const char *peer,
                                             int (*cb)(const rbx_history_entry *e, void *ctx),
                                             void *ctx) RBX_NONNULL(1, 3);

#define RBX_ARCHIVE_REENCRYPT 0 /* new keys, every readable entry rewrapped, old keys erased */
#define RBX_ARCHIVE_SPLIT 1     /* new active epoch; the old one read-only until retention */
#define RBX_ARCHIVE_SHRED 2     /* erase read-only epoch keys past their retention */

typedef struct rbx_archive_result {
    uint64_t new_epoch;           /* the active epoch afterwards (0: none yet) */
    uint64_t rewrapped;           /* entries re-encrypted (reencrypt) */
    uint64_t epochs_erased;       /* epoch keys erased (reencrypt, shred) */
    uint64_t entries_unrecoverable; /* entries whose key was erased by this call (shred) */
} rbx_archive_result;

/* Rotate the archive keys in one transaction (all or nothing), audited as
 * "archive rotated" or "archive shredded". reencrypt: every readable epoch
 * gets a fresh key under a new epoch number with the same state and
 * retention, its entries are rewrapped, and the old key is erased. split: the
 * active epoch becomes read-only until now + policy archive_retention, and a
 * new active epoch takes new entries. shred: every read-only epoch whose
 * retention date has passed (store clock) loses its key; its entries stay as
 * unrecoverable ciphertext. After a reencrypt or shred that erased a key an
 * erase point is taken, so the old key is in no file.
 * \return RBX_E_INVALID (mode), RBX_E_CORRUPT (an entry does not
 *         authenticate; nothing changed), RBX_E_IO (also: committed, but the
 *         erase point failed; rbx_store_erase_now retries), RBX_E_NOMEM. */
RBX_API RBX_MUST_CHECK int rbx_store_rotate_archive(rbx_store *st, int mode,
                                                    rbx_archive_result *res) RBX_NONNULL(1, 3);

/* One stored row of the product's history: the baseline envelope
 * (content_encrypted, encryption_nonce; a NULL nonce marks a plaintext row)
 * with the row's clear metadata. */
typedef struct rbx_import_row {
    const uint8_t *peer_pk;       /* 32 bytes: the other party's box public key */
    const char *session_id;       /* the product's session id, or NULL */
    size_t session_id_len;
    uint64_t sequence;            /* the product's sequence number (<= INT64_MAX) */
    int64_t timestamp;            /* Unix seconds */
    int outgoing;                 /* 1 sent by the key's owner, 0 received or unknown */
    const char *content;          /* content_encrypted (base64), or the plaintext */
    size_t content_len;
    const char *nonce;            /* encryption_nonce (base64); NULL = plaintext row */
    size_t nonce_len;
} rbx_import_row;

/* Open every row with the old box key (box_pk, box_sk) and archive the ones
 * that open, all in one transaction, audited as "history imported". A row's
 * session is BLAKE2b-256("rbx-baseline-session" || min(pk) || max(pk) ||
 * session_id) of the two box public keys; its sequence is the row's. row_rc[i]
 * is 0 (imported) or the row's error: RBX_E_MALFORMED (missing field, bad
 * base64, nonce length, sequence above INT64_MAX), RBX_E_AUTH, RBX_E_KEY
 * (low-order peer key), RBX_E_TOO_BIG, RBX_E_EXISTS (this session and
 * sequence are archived already: importing again adds nothing). Works
 * whatever the policy's `archive` says. Plaintexts are wiped.
 * \return RBX_E_KEY (box_pk does not match box_sk), RBX_E_IO, RBX_E_CORRUPT,
 *         RBX_E_NOMEM; then nothing is imported and *imported is 0. */
RBX_API RBX_MUST_CHECK int rbx_store_import_history(rbx_store *st,
                                                    const uint8_t box_pk[RBX_PUBLICKEYBYTES],
                                                    const uint8_t box_sk[RBX_SECRETKEYBYTES],
                                                    const rbx_import_row *rows, size_t n,
                                                    int *row_rc, size_t *imported)
    RBX_NONNULL(1, 2, 3, 7);

/* ---------------------------------------------------------------- policy */

/* One policy per store (PROTOCOL.md "Policy"): rotation intervals, grace
 * window, retention, archive, storage mode and skipped-key limits. Times are
 * in seconds. rbx_policy_default fills the named defaults below. */
typedef struct rbx_policy {
    uint64_t spk_rotate;          /* make a new signed prekey when the newest is this old */
    uint64_t spk_max_age;         /* initiators refuse a signed prekey older than this */
    uint64_t spk_keep;            /* secrets of replaced signed prekeys are erased after this */
    uint32_t onetime_low;         /* replenish one-time prekeys below this many unoffered */
    uint32_t onetime_batch;       /* ... up to this many */
    uint64_t identity_grace;      /* old identity and sessions kept after a rotation */
    int archive;                  /* 1: archive sent and received plaintext (history) */
    uint64_t archive_retention;   /* split epochs are kept read-only this long; shred erases after */
    int storage_mode;             /* RBX_STORE_BOUNDED or RBX_STORE_STRICT (a floor: strict wins) */
    uint32_t max_skip;            /* <= RBX_MAX_SKIP */
    uint32_t max_skipped_keys;    /* <= RBX_MAX_SKIPPED_KEYS */
    /* require_org (PROTOCOL.md 18.6): 1 = every new contact, new session and
     * identity change must be certified by this organisation root (new
     * contacts are bound to it); 0 = none (the default). */
    int has_require_org;
    uint8_t require_org[RBX_PUBLICKEYBYTES];
} rbx_policy;

#define RBX_DAY 86400U
#define RBX_POLICY_SPK_ROTATE (2U * RBX_DAY)
#define RBX_POLICY_SPK_MAX_AGE (14U * RBX_DAY)
#define RBX_POLICY_SPK_KEEP (30U * RBX_DAY)
#define RBX_POLICY_ONETIME_LOW 10U
#define RBX_POLICY_ONETIME_BATCH 100U
#define RBX_POLICY_IDENTITY_GRACE (7U * RBX_DAY)
#define RBX_POLICY_ARCHIVE_RETENTION (365U * RBX_DAY)

RBX_API void rbx_policy_default(rbx_policy *p) RBX_NONNULL(1);
/* \return 0 or RBX_E_POLICY with *field (if field != NULL) naming the first
 *         bad key. */
RBX_API RBX_MUST_CHECK int rbx_policy_validate(const rbx_policy *p, const char **field)
    RBX_NONNULL(1);
/* Set one key from text: integers with an optional unit s, m, h or d for
 * times; on/off; bounded/strict; for require_org an organisation root's
 * public key (base64, 44 characters) or "none". The policy is unchanged on error.
 * \return RBX_E_NOT_FOUND (no such key), RBX_E_POLICY (bad value). */
RBX_API RBX_MUST_CHECK int rbx_policy_set(rbx_policy *p, const char *key, const char *value)
    RBX_NONNULL(1, 2, 3);
/* The i-th key name (NULL past the last) and a key's value as text. */
RBX_API const char *rbx_policy_key(size_t i);
RBX_API RBX_MUST_CHECK int rbx_policy_format(char *out, size_t outcap, const rbx_policy *p,
                                             const char *key) RBX_NONNULL(1, 3, 4);
/* What a key accepts, as one line of text for error messages, e.g.
 * "a time from 1m to 365d (unit s, m, h or d), at least spk_rotate".
 * \return RBX_E_NOT_FOUND (no such key), RBX_E_BUFFER (128 bytes suffice). */
RBX_API RBX_MUST_CHECK int rbx_policy_describe(char *out, size_t outcap, const char *key)
    RBX_NONNULL(1, 3);
/* The store's policy (defaults until one is set). \return RBX_E_CORRUPT, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_policy(rbx_store *st, rbx_policy *p) RBX_NONNULL(1, 2);
/* Validate and store a policy (audited). \return RBX_E_POLICY, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_set_policy(rbx_store *st, const rbx_policy *p)
    RBX_NONNULL(1, 2);

/* ---------------------------------------------------------------- audit log */

/* Append-only, hash-chained plaintext metadata (PROTOCOL.md "Audit log"):
 * hash_i = BLAKE2b-256("rbx-audit-v1" || hash_{i-1} || be64(seq) || be64(time)
 * || event || 0 || detail || 0); the newest (seq, hash) is also kept sealed
 * under the storage key, so that deleting the newest events is seen too. */
#define RBX_AUDIT_EVENT_MAX 32U
#define RBX_AUDIT_DETAIL_MAX 256U
typedef struct rbx_audit_event {
    uint64_t seq;                 /* 1, 2, ... */
    int64_t time;                 /* Unix seconds (the store's clock) */
    char event[RBX_AUDIT_EVENT_MAX];   /* e.g. "identity rotated" */
    char detail[RBX_AUDIT_DETAIL_MAX]; /* fingerprints, names, counts; never secrets */
    uint8_t hash[32];
} rbx_audit_event;

/* Call cb for every event in order (cb returns non-zero to stop; that value
 * is returned). \return RBX_E_CORRUPT, RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_audit(rbx_store *st,
                                           int (*cb)(const rbx_audit_event *e, void *ctx),
                                           void *ctx) RBX_NONNULL(1, 2);
/* Recompute the chain. *count = events that verify, in order from the
 * first; *bad_seq = the first event that does not verify: edited, moved,
 * missing (a deleted row is reported at its seq), or past the sealed head
 * (appended without the storage key); 0 when the chain holds, and 0 with
 * RBX_E_CORRUPT when every row verifies but events were removed at the end.
 * \return 0, or RBX_E_CORRUPT (also when the sealed head is missing or does
 * not open), RBX_E_TAMPERED (the head is an older copy's: PROTOCOL.md 19.3),
 * RBX_E_IO. */
RBX_API RBX_MUST_CHECK int rbx_store_audit_verify(rbx_store *st, uint64_t *count,
                                                  uint64_t *bad_seq) RBX_NONNULL(1, 2, 3);

#ifdef __cplusplus
}
#endif
#endif /* RATCHETBOX_H */
