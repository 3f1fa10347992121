/* SPDX-License-Identifier: MIT
 * Rotation records, organisation certificates and revocations (PROTOCOL.md
 * "Rotation records"), and the bundle fields that carry them: internal
 * entry points for x3dh.c and the store. */
#ifndef RBX_ROTATION_H
#define RBX_ROTATION_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "ratchetbox.pb-c.h"

/* Encode a PreKeyBundle with the optional fields of PROTOCOL.md 9.4:
 * spk_created (0: absent, sig is over the v1 statement; else sig is over the
 * v2 statement), nrecords encoded rotation records (oldest first, at most
 * RBX_CHAIN_MAX) and an encoded org certificate (cert NULL: none). Nothing
 * is verified here: the caller hands in what it verified or made.
 * opk_id RBX_NO_PREKEY: no one-time prekey (opk may be NULL).
 * \return RBX_E_BUFFER (*outlen 0), RBX_E_INVALID (nrecords > RBX_CHAIN_MAX,
 *         records or lens NULL with nrecords > 0, an empty or NULL record,
 *         cert non-NULL with certlen 0, opk NULL with an opk_id). */
int rbx__bundle_encode_ext(uint8_t *out, size_t outcap, size_t *outlen, const uint8_t ik[32],
                           uint32_t spk_id, const uint8_t spk[32], const uint8_t sig[64],
                           uint64_t spk_created, uint32_t opk_id, const uint8_t *opk,
                           const uint8_t *const *records, const size_t *lens, size_t nrecords,
                           const uint8_t *cert, size_t certlen);

/* rbx_bundle_parse that also hands back the unpacked message on success
 * (caller frees with rbx__wire__pre_key_bundle__free_unpacked); *w is NULL
 * on error. */
int rbx__bundle_parse_wire(rbx_bundle *b, Rbx__Wire__PreKeyBundle **w, const uint8_t *in,
                           size_t len);

/* rbx__bundle_parse_wire that also hands back what it verifies anyway: the
 * parsed rotation records (w->n_rotation of them, in recs unless NULL) and
 * the parsed certificate (in cert unless NULL, when w->has_org_certificate). */
int rbx__bundle_parse_records(rbx_bundle *b, Rbx__Wire__PreKeyBundle **w,
                              rbx_rotation recs[RBX_CHAIN_MAX], rbx_org_cert *cert,
                              const uint8_t *in, size_t len);
/* rbx_chain_verify (PROTOCOL.md 16.2) that hands back the records it
 * parsed (in r, n of them), or with parsed != 0 uses r as already parsed
 * and verified. */
int rbx__chain_check(rbx_chain_tip *tip, uint64_t *old_valid_until, const rbx_chain_tip *pinned,
                     const uint8_t target[32], const uint8_t *const *records, const size_t *lens,
                     size_t n, rbx_rotation r[RBX_CHAIN_MAX], int parsed);

/* rbx_bundle_chain_verify on a bundle rbx__bundle_parse_records parsed
 * (target: the bundle's identity), without parsing it again. */
int rbx__bundle_chain_check(rbx_chain_tip *tip, uint64_t *old_valid_until,
                            const rbx_chain_tip *pinned, const rbx_bundle *b,
                            const Rbx__Wire__PreKeyBundle *w, rbx_rotation r[RBX_CHAIN_MAX]);

/* rbx_org_cert_check on a certificate rbx_org_cert_parse has parsed and
 * verified (its signature is not checked again). */
int rbx__org_cert_valid(const rbx_org_cert *c, const uint8_t org[32], const uint8_t identity[32],
                        uint64_t now);

/* 1 if s (len bytes) is a valid reason: at most 63 bytes, none < 0x20 or 0x7f. */
int rbx__reason_ok(const char *s, size_t len);

#endif
