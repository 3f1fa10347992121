/* SPDX-License-Identifier: MIT
 * notify.h: 256 buckets under one mutex, a condition variable each, on
 * CLOCK_MONOTONIC so that a change of the wall clock does not cut or
 * stretch a wait. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "notify.h"

#define NBUCKETS 256U

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv[NBUCKETS];
static uint64_t gen[NBUCKETS];
static int shut;

void notify_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    for (unsigned i = 0; i < NBUCKETS; i++) pthread_cond_init(&cv[i], &a);
    pthread_condattr_destroy(&a);
    shut = 0;
}

/* FNV-1a over the user id and the device id: spreads devices over buckets;
 * a collision only wakes a waiter for nothing. */
static unsigned bucket(const char *user, uint32_t device)
{
    uint32_t h = 2166136261U;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++) h = (h ^ *p) * 16777619U;
    for (int i = 0; i < 4; i++) h = (h ^ ((device >> (8 * i)) & 0xffU)) * 16777619U;
    return h % NBUCKETS;
}

uint64_t notify_gen(const char *user, uint32_t device)
{
    unsigned b = bucket(user, device);
    pthread_mutex_lock(&mu);
    uint64_t g = gen[b];
    pthread_mutex_unlock(&mu);
    return g;
}

void notify_wake(const char *user, uint32_t device)
{
    unsigned b = bucket(user, device);
    pthread_mutex_lock(&mu);
    gen[b]++;
    pthread_cond_broadcast(&cv[b]);
    pthread_mutex_unlock(&mu);
}

int notify_wait(const char *user, uint32_t device, uint64_t g, unsigned timeout_ms)
{
    unsigned b = bucket(user, device);
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000U;
    dl.tv_nsec += (long)(timeout_ms % 1000U) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (gen[b] == g && !shut && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&cv[b], &mu, &dl);
    int woken = gen[b] != g;
    pthread_mutex_unlock(&mu);
    return woken;
}

void notify_wake_all(void)
{
    pthread_mutex_lock(&mu);
    for (unsigned i = 0; i < NBUCKETS; i++) {
        gen[i]++;
        pthread_cond_broadcast(&cv[i]);
    }
    pthread_mutex_unlock(&mu);
}

void notify_shutdown(void)
{
    pthread_mutex_lock(&mu);
    shut = 1;
    for (unsigned i = 0; i < NBUCKETS; i++) pthread_cond_broadcast(&cv[i]);
    pthread_mutex_unlock(&mu);
}
