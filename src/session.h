/* SPDX-License-Identifier: MIT
 * The session object shared by x3dh.c (handshake), ratchet.c (DR spec
 * sections 3 and 4) and state.c (the versioned blob). Pure data: no I/O. */
#ifndef RBX_SESSION_H
#define RBX_SESSION_H

#include "internal.h"
#include "kdf.h"

/* Receiving ratchet keys remembered after their chain is gone, so that a
 * late duplicate is reported as RBX_E_REPLAY rather than as a forgery. */
#define RBX_RECENT_CHAINS 8U

/* rbx__state.flags */
#define RBX_HAS_DHR 0x01U
#define RBX_HAS_CKS 0x02U
#define RBX_HAS_CKR 0x04U
#define RBX_HAS_HKS 0x08U
#define RBX_HAS_HKR 0x10U
#define RBX_FLAGS_ALL 0x1fU

/* The ratchet variables of DR spec 3.2 / 4.2, fixed size so that decrypt can
 * work on a copy and commit by assignment. */
typedef struct rbx__state {
    uint8_t rk[32];
    uint8_t dhs_pk[32], dhs_sk[32];
    uint8_t dhr[32];
    uint8_t cks[32], ckr[32];
    uint8_t bks[32], bkr[32];     /* profile 2's block keys (kdf.h chains); else zero */
    uint8_t hks[32], nhks[32], hkr[32], nhkr[32];
    uint32_t ns, nr, pn;
    uint32_t dh_steps;            /* receiving DH ratchet steps so far */
    uint32_t flags;               /* RBX_HAS_* */
    uint32_t nrecent;             /* <= RBX_RECENT_CHAINS */
    uint8_t recent[RBX_RECENT_CHAINS][32]; /* oldest first */
} rbx__state;

/* One stored skipped message key: chain = DHr, or HKr with header encryption
 * (DR spec 4.3 keys MKSKIPPED by header key). */
typedef struct rbx__skipped {
    uint8_t chain[32];
    uint32_t n;
    uint32_t step;                /* dh_steps when it was stored (expiry) */
    uint8_t mk[32];
} rbx__skipped;

/* Rotation records and a certificate attached by rbx_session_set_chain
 * (PROTOCOL.md 6.4): public data, carried by every PreKeyMessage of a
 * version-2 initiator until the first reply. */
typedef struct rbx__attached {
    size_t n;
    uint16_t len[RBX_CHAIN_MAX];
    uint8_t rec[RBX_CHAIN_MAX][RBX_ROTATION_MAXBYTES];
    uint16_t certlen;               /* 0: none */
    uint8_t cert[RBX_CERT_MAXBYTES];
} rbx__attached;

struct rbx_session {
    uint8_t initiator;            /* 1: Alice */
    uint8_t header_encryption;
    uint8_t profile;
    uint8_t awaiting_reply;       /* initiator: wrap messages in PreKeyMessage */
    uint8_t poisoned;
    uint8_t has_onetime;
    uint32_t signed_prekey_id, onetime_prekey_id;
    uint8_t ad[64];               /* Encode(IK_A) || Encode(IK_B) */
    uint8_t base_key[32];         /* EK_A, to recognise the initiator's PreKeyMessages */
    rbx__state st;
    rbx__skipped *skipped;        /* insertion order: oldest first */
    size_t nskipped, capskipped;
    rbx__attached att;
    /* Limits in force (not serialised): RBX_MAX_SKIP and RBX_MAX_SKIPPED_KEYS
     * unless a store policy lowers them (rbx__session_limit). */
    uint32_t max_skip, max_skipped;
};

/* Lower the skipped-key limits of a loaded session (0 = keep). */
void rbx__session_limit(rbx_session *s, uint32_t max_skip, uint32_t max_skipped);

/* Allocation and wiping. */
rbx_session *rbx__session_alloc(void);
/* Make room for total skipped entries; 0 or RBX_E_NOMEM (no change). */
int rbx__session_reserve(rbx_session *s, size_t total);

/* Ratchet initialisation after X3DH (DR spec 3.3 / 4.3). sk96 = SK || HK_A || NHK_B. */
int rbx__ratchet_init_alice(rbx_session *s, const uint8_t sk96[RBX_KDF_OUTBYTES],
                            const uint8_t bob_spk[32]);
void rbx__ratchet_init_bob(rbx_session *s, const uint8_t sk96[RBX_KDF_OUTBYTES],
                           const uint8_t spk_pk[32], const uint8_t spk_sk[32]);

/* The session's protocol version (1: profiles 0 and 1, 2: profile 2). */
unsigned rbx__session_version(const rbx_session *s);

/* Fill the attachment fields of a PreKeyMessage from s->att. */
struct rbx__prekey_msg;
void rbx__attached_to_msg(struct rbx__prekey_msg *pm, const rbx__attached *att);

/* Decrypt one encoded Message (not a PreKeyMessage) and commit on success. */
int rbx__ratchet_decrypt(rbx_session *s, uint8_t *pt, size_t ptcap, size_t *ptlen,
                         const uint8_t *in, size_t len);

#endif
