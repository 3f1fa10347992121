/* SPDX-License-Identifier: MIT
 * Shared helpers of the libFuzzer targets (tests/fuzz/README.md): a seeded
 * deterministic libsodium RNG, fixed key pairs, a fixed responder prekey set
 * and fixed session pairs, and the seed-corpus writer used when the target
 * runs with RBX_FUZZ_GEN=<dir>. */
#ifndef RBX_FUZZ_H
#define RBX_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "ratchetbox.h"

/* fuzz_common.c defines LLVMFuzzerInitialize for every target: fz_init, then
 * the target's fz_setup (its fixed keys and sessions), then, when
 * RBX_FUZZ_GEN names a directory, the target's fz_gen writes its seeds there
 * and the process exits. Each target defines these two and its
 * LLVMFuzzerTestOneInput. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fz_setup(void);
void fz_gen(void);

/* abort() with a message: libFuzzer reports the input that caused it. */
#define FZ_CHECK(cond)                                                          \
    do {                                                                        \
        if (!(cond)) fz_fail(__FILE__, __LINE__, #cond);                        \
    } while (0)
_Noreturn void fz_fail(const char *file, int line, const char *what);

/* With RBX_FUZZ_DEBUG set, print a line to stderr (result codes of each
 * input, to check that the seeds reach the paths they are meant to). */
void fz_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* rbx_init, then the deterministic RNG (seeded with a constant). */
void fz_init(void);
/* Reseed the deterministic RNG from a label and the input bytes, so one input
 * always sees the same random stream. */
void fz_rng_seed(const char *label, const uint8_t *data, size_t size);

/* Fixed key pair from a label: sk = BLAKE2b(label), pk = X25519(sk, 9). */
void fz_keypair(uint8_t pk[32], uint8_t sk[32], const char *label);

/* Fixed responder: identity "bob-identity", signed prekey 1, one-time
 * prekeys 100..103, all from constant keys. */
#define FZ_SPK_ID 1U
#define FZ_OPK_FIRST 100U
#define FZ_OPK_COUNT 4U
rbx_prekeys *fz_prekeys(void);

/* Fixed sessions, as serialized blobs (deserialize a fresh copy per input).
 * mode: FZ_MODE_HE selects header encryption, FZ_MODE_V1 the hmac profile
 * (protocol version 1; otherwise the default, version 2). FZ_PAIR_HANDSHAKE: Alice has sent "hello"
 * (a PreKeyMessage) and Bob accepted it; Alice still awaits a reply.
 * FZ_PAIR_ESTABLISHED: then Bob replied and Alice decrypted the reply. */
enum { FZ_PAIR_HANDSHAKE = 0, FZ_PAIR_ESTABLISHED = 1 };
enum { FZ_MODE_HE = 1, FZ_MODE_V1 = 2, FZ_MODES = 4 };
typedef struct fz_blob {
    uint8_t *p;
    size_t n;
} fz_blob;
void fz_pair_blobs(fz_blob *alice, fz_blob *bob, int mode, int stage);
rbx_session *fz_load(const fz_blob *b);
/* Serialize into a malloc'ed blob (aborts on error). */
fz_blob fz_save(const rbx_session *s);
int fz_blob_eq(const fz_blob *a, const fz_blob *b);

/* Seed-corpus generation: when RBX_FUZZ_GEN names a directory, fz_gen writes
 * the target's seeds there (fz_gen_write) and LLVMFuzzerInitialize exits. */
const char *fz_gen_dir(void);
void fz_gen_write(const char *name, const uint8_t *p, size_t n);
void fz_gen_write2(const char *name, uint8_t prefix, const uint8_t *p, size_t n);
/* Every `field = hex` value in spec/vectors/<file>; calls fn for each. */
void fz_vectors(const char *file, const char *field,
                void (*fn)(const char *name, const uint8_t *p, size_t n, void *ctx), void *ctx);

#endif
