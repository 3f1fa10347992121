/* SPDX-License-Identifier: MIT
 * Wake-ups of long-polling mailbox fetches (spec/SERVER.md section 7.5).
 * Devices hash into buckets, each with a generation counter: a fetch reads
 * the generation before it queries, and waits only if no send bumped it
 * since, so a message stored between the query and the wait is not missed.
 * A bucket shared by two devices costs a spurious wake-up, never a lost one.
 * Within one process the sender wakes the bucket after its commit; across
 * rbxd processes on PostgreSQL, db_pg.c's LISTEN thread does. */
#ifndef RBXD_NOTIFY_H
#define RBXD_NOTIFY_H

#include <stdint.h>

void notify_init(void);
uint64_t notify_gen(const char *user, uint32_t device);
void notify_wake(const char *user, uint32_t device);
/* Wait until the device's bucket moves past gen, the timeout (ms) passes or
 * notify_shutdown is called. 1 if woken by a send, else 0. */
int notify_wait(const char *user, uint32_t device, uint64_t gen, unsigned timeout_ms);
/* Every waiter looks again (a LISTEN connection was re-established and
 * notifications may have been missed). */
void notify_wake_all(void);
/* Drain: every waiter returns now, and later waits return at once. */
void notify_shutdown(void);

#endif
