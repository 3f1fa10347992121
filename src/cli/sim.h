/* SPDX-License-Identifier: MIT
 * `rbx sim`: the compromise simulator (issue 4 section 3). A seeded
 * conversation between Alice and Bob, a thief who copies one party's state
 * after message K, and the set of messages that thief reads, decided by real
 * decryption attempts with the library (SECURITY.md section 3), next to the
 * long-lived box baseline. rbx_sim_run is the whole simulation (rbx sim and
 * the command-line suite call it through the tool). */
#ifndef RBX_CLI_SIM_H
#define RBX_CLI_SIM_H

#include <stddef.h>
#include <stdint.h>

#define RBX_SIM_MAX_MESSAGES 100000U
#define RBX_SIM_MAX_DELAY 8U     /* a late message arrives 1..8 positions later */

typedef struct rbx_sim_opts {
    uint32_t messages;           /* N, 1..RBX_SIM_MAX_MESSAGES */
    double loss, reorder, swap;  /* probabilities in [0, 1]; swap = --switch */
    int victim_bob;              /* 0: alice, 1: bob */
    uint32_t compromise_at;      /* K, 1..N */
    int header_encryption;
    int store;                   /* run both parties on real rbx_store databases */
    int active;                  /* inject one forged message after K */
    uint64_t seed;
} rbx_sim_opts;

/* Per message (numbered 1..N; index 0 unused). */
#define RBX_SIM_FROM_VICTIM 0x01U /* sent by the compromised party */
#define RBX_SIM_LOST 0x02U        /* never delivered */
#define RBX_SIM_LATE 0x04U        /* delivered out of order */
#define RBX_SIM_READ 0x08U        /* the attacker decrypted it (ratchetbox) */
#define RBX_SIM_BASELINE 0x10U    /* the attacker opened its baseline envelope */
#define RBX_SIM_REJECTED 0x20U    /* delivered, but the recipient refused it */
#define RBX_SIM_PREDICTED 0x40U   /* SECURITY.md section 3 says the attacker reads it */

typedef struct rbx_sim_result {
    uint32_t messages;
    uint8_t *flags;              /* messages + 1 entries of RBX_SIM_*; free with rbx_sim_result_free */
    uint32_t to_victim, from_victim;            /* messages in each direction */
    uint32_t read_to_victim, read_from_victim;  /* ratchetbox: opened by the attacker */
    uint32_t read_before_k;      /* to the victim, number <= K (stored skipped keys) */
    uint32_t baseline_read;      /* baseline: opened by the attacker (both directions) */
    uint32_t healing_point;      /* first message to the victim after K it cannot read; 0: none */
    uint32_t lost, late, rejected;
    /* Messages where the attempt (RBX_SIM_READ) and SECURITY.md's table,
     * applied to the snapshot's public facts (RBX_SIM_PREDICTED), disagree.
     * 0 unless the library or the table is wrong. */
    uint32_t mismatches;
    /* BLAKE2b-256 of every wire message (length-prefixed) and baseline
     * nonce in send order: equal for equal seeds (keys are seeded too). */
    uint8_t transcript[32];
    /* The victim's session at K (rbx_session_get_info). */
    size_t skipped_keys_at_k, skipped_chains_at_k;
    uint32_t dh_steps_at_k;
    /* --active */
    int forgery_accepted;        /* the victim decrypted the forged message */
    uint32_t after_forgery_from_victim, after_forgery_from_victim_read;
    uint32_t after_forgery_peer_accepted; /* the real peer still decrypts the victim */
} rbx_sim_result;

/* Run one simulation. Installs the deterministic RNG for its duration and
 * restores libsodium's system RNG before returning. rbx_init() must have
 * succeeded. \return 0, RBX_E_INVALID (options out of range), RBX_E_IO (the
 * store's temporary directory), or the library's error that stopped it. On
 * error r->flags is NULL. */
int rbx_sim_run(const rbx_sim_opts *o, rbx_sim_result *r);
void rbx_sim_result_free(rbx_sim_result *r);

/* `rbx sim` itself: 0, 64 on a usage error, 70/74 on an internal or storage
 * failure (74 also for output that cannot be written). */
int sim_main(int argc, char **argv);

#endif
