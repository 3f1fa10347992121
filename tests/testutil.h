/* SPDX-License-Identifier: MIT
 * Test helpers: known-answer vector files (tests/vectors/README.md format) and
 * a seeded deterministic RNG installed through libsodium's
 * randombytes_set_implementation, so the library itself has no RNG parameter. */
#ifndef RBX_TESTUTIL_H
#define RBX_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ratchetbox.h"

#ifndef RBX_SRCDIR
#define RBX_SRCDIR "."
#endif

typedef struct tv_field {
    char *name;
    char *value;
} tv_field;

typedef struct tv_block {
    tv_field *fields;
    size_t nfields;
} tv_block;

typedef struct tv_file {
    tv_block *blocks;
    size_t nblocks;
} tv_file;

/* Load RBX_SRCDIR/relpath; aborts the test (ck_abort) on I/O or format errors. */
tv_file *tv_load(const char *relpath);
void tv_free(tv_file *f);
/* Block whose "case" field equals name; NULL if none. */
const tv_block *tv_case(const tv_file *f, const char *name);
/* Field value or NULL. */
const char *tv_get(const tv_block *b, const char *name);
/* Hex field decoded into out; returns the decoded length; aborts the test if
 * the field is missing, not hex, or longer than cap. */
size_t tv_hex(const tv_block *b, const char *name, uint8_t *out, size_t cap);
/* Hex field that must be exactly len bytes. */
void tv_hexn(const tv_block *b, const char *name, uint8_t *out, size_t len);

/* Deterministic RNG: every randombytes_buf in this process now comes from a
 * ChaCha20 stream keyed by seed (randombytes_buf_deterministic, counter as
 * nonce). tu_rng_system() restores the system RNG. */
void tu_rng_seed(uint64_t seed);
void tu_rng_system(void);
/* While logging is on, every byte the deterministic RNG hands out is also
 * appended to a log; tu_rng_log_take returns it and clears it. */
void tu_rng_log(int on);
size_t tu_rng_log_take(uint8_t *out, size_t cap);

/* Lowercase hex of buf into a static-per-call malloc'ed string (caller frees). */
char *tu_hex(const uint8_t *buf, size_t len);

/* splitmix64 for seeded schedules (kill delays, child actions): advances *s. */
uint64_t tu_splitmix64(uint64_t *s);
/* An unsigned decimal environment variable, or dflt if unset or not a number. */
uint64_t tu_env_u64(const char *name, uint64_t dflt);

/* The tests' own protobuf varint reader (independent of src/wire.c): the
 * value and its length in bytes (at most 10); -1 if p[0..n) ends first. */
int tu_varint_read(const uint8_t *p, size_t n, uint64_t *v, size_t *len);

/* Monotonic clock in seconds, and a sleep that resumes after signals. */
double tu_now_s(void);
void tu_sleep_us(unsigned us);
/* "dir/name" into out; aborts the test if it does not fit in cap. */
void tu_path_in(char *out, size_t cap, const char *dir, const char *name);
/* Reap child pid and return its wait status (aborts the test if waitpid
 * fails). tu_kill_child first lets it run for delay_us, then SIGKILLs it. */
int tu_wait_child(pid_t pid);
int tu_kill_child(pid_t pid, unsigned delay_us);

/* A growing text buffer for generated vector files. */
typedef struct tu_sbuf {
    char *p;
    size_t n, cap;
} tu_sbuf;
void tu_sb_printf(tu_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* RBX_WRITE_VECTORS=1: write b to spec/vectors/<name>; otherwise the file
 * must equal b byte for byte ("make vectors" regenerates). Frees b->p. */
void tu_settle_vector(const char *name, tu_sbuf *b);

/* Every suite, one per tests/test_<module>.c. */
Suite *suite_kdf(void);
Suite *suite_keys(void);
Suite *suite_baseline(void);
Suite *suite_wire(void);
Suite *suite_x3dh(void);
Suite *suite_ratchet(void);
Suite *suite_security(void);
Suite *suite_vectors(void);
Suite *suite_store(void);
Suite *suite_durability(void);
Suite *suite_atrest(void);
Suite *suite_storefiles(void);
Suite *suite_badinput(void);
Suite *suite_rotation(void);
Suite *suite_rotate(void);
Suite *suite_policy(void);
Suite *suite_audit(void);
Suite *suite_archive(void);
Suite *suite_devlist(void);
Suite *suite_multidev(void);
Suite *suite_integrity(void);
Suite *suite_lifecycle(void);
/* The integrity attacks on the tables of schema 4 (test_multidev.c), added
 * to the integrity suite's "sets" and "row_tags" tcases. */
void multidev_integrity_sets(TCase *tc);
void multidev_integrity_row_tags(TCase *tc);

#endif

/* ---- sessions ---- */

/* A wire message owned by the test. */
typedef struct tu_msg {
    uint8_t *wire;
    size_t len;
    uint32_t index;       /* the sender's message number in the test */
    int from_alice;
} tu_msg;

/* Handshake: Alice initiates against a fresh Bob bundle (with a one-time
 * prekey), sends "hello", Bob accepts. */
void tu_pair(rbx_session **alice, rbx_session **bob, const rbx_session_opts *opts);

/* Encrypt pt; aborts the test on error. Caller frees m->wire. */
void tu_send(tu_msg *m, rbx_session *s, const void *pt, size_t ptlen);

/* Decrypt and return the error code; on success the plaintext must equal
 * want (if want != NULL). */
int tu_recv(rbx_session *s, const tu_msg *m, const void *want, size_t wantlen);

/* Serialized session, malloc'ed; for byte-identical state comparisons. */
uint8_t *tu_blob(const rbx_session *s, size_t *len);

/* Abort the test unless s serializes to exactly blob. */
void tu_assert_state(const rbx_session *s, const uint8_t *blob, size_t len);

/* Deep copy through the blob. */
rbx_session *tu_clone(const rbx_session *s);
