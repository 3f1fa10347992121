/* SPDX-License-Identifier: MIT
 * The store policy (PROTOCOL.md "Policy"): one table of keys, each with its
 * kind, range and default, used to parse, format, validate and store. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "store_int.h"

enum kind { K_SECONDS, K_COUNT, K_BOOL, K_MODE };

typedef struct key {
    const char *name;
    enum kind kind;
    size_t off;  /* offset in rbx_policy */
    int wide;    /* 1: uint64_t, 0: uint32_t or int */
    uint64_t min, max;
} key;

#define U64(f) offsetof(rbx_policy, f), 1
#define U32(f) offsetof(rbx_policy, f), 0
/* In the order of PROTOCOL.md 18.1, which the seal encodes (so fixed). */
static const key keys[] = {
    { "spk_rotate", K_SECONDS, U64(spk_rotate), 60, 365ULL * RBX_DAY },
    { "spk_max_age", K_SECONDS, U64(spk_max_age), 60, 365ULL * RBX_DAY },
    { "spk_keep", K_SECONDS, U64(spk_keep), 60, 3650ULL * RBX_DAY },
    { "onetime_low", K_COUNT, U32(onetime_low), 1, 10000 },
    { "onetime_batch", K_COUNT, U32(onetime_batch), 1, 10000 },
    { "identity_grace", K_SECONDS, U64(identity_grace), 0, 365ULL * RBX_DAY },
    { "archive", K_BOOL, U32(archive), 0, 1 },
    { "archive_retention", K_SECONDS, U64(archive_retention), 0, 100ULL * 365 * RBX_DAY },
    { "storage_mode", K_MODE, U32(storage_mode), 0, 1 },
    { "max_skip", K_COUNT, U32(max_skip), 1, RBX_MAX_SKIP },
    { "max_skipped_keys", K_COUNT, U32(max_skipped_keys), 1, RBX_MAX_SKIPPED_KEYS },
};

_Static_assert(sizeof(int) == sizeof(uint32_t), "int fields are read as uint32_t");

static uint64_t get(const rbx_policy *p, const key *k)
{
    const char *b = (const char *)p + k->off;
    if (k->wide) return *(const uint64_t *)(const void *)b;
    return *(const uint32_t *)(const void *)b;
}

static void put(rbx_policy *p, const key *k, uint64_t v)
{
    char *b = (char *)p + k->off;
    if (k->wide) *(uint64_t *)(void *)b = v;
    else *(uint32_t *)(void *)b = (uint32_t)v;
}

static const key *find(const char *name)
{
    for (size_t i = 0; i < RBX_COUNTOF(keys); i++)
        if (strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

void rbx_policy_default(rbx_policy *p)
{
    memset(p, 0, sizeof *p);
    p->spk_rotate = RBX_POLICY_SPK_ROTATE;
    p->spk_max_age = RBX_POLICY_SPK_MAX_AGE;
    p->spk_keep = RBX_POLICY_SPK_KEEP;
    p->onetime_low = RBX_POLICY_ONETIME_LOW;
    p->onetime_batch = RBX_POLICY_ONETIME_BATCH;
    p->identity_grace = RBX_POLICY_IDENTITY_GRACE;
    p->archive = 0;
    p->archive_retention = RBX_POLICY_ARCHIVE_RETENTION;
    p->storage_mode = RBX_STORE_BOUNDED;
    p->max_skip = RBX_MAX_SKIP;
    p->max_skipped_keys = RBX_MAX_SKIPPED_KEYS;
}

/* Orders that make the schedule coherent: a prekey is replaced before
 * initiators refuse it, and its secret outlives the refusal age (late first
 * messages); one batch lifts the pool above its low mark; the store may hold
 * at least one whole jump of skipped keys. Each pair: key >= floor, in the
 * order of 18.3; entries of keys[] rather than names, because validation
 * runs on every policy read of the store's encrypt and decrypt. */
static const struct {
    const key *key, *floor;
} relations[] = {
    { &keys[1], &keys[0] },  /* spk_max_age >= spk_rotate */
    { &keys[2], &keys[1] },  /* spk_keep >= spk_max_age */
    { &keys[4], &keys[3] },  /* onetime_batch >= onetime_low */
    { &keys[10], &keys[9] }, /* max_skipped_keys >= max_skip */
};

int rbx_policy_validate(const rbx_policy *p, const char **field)
{
    const char *bad = NULL;
    for (size_t i = 0; i < RBX_COUNTOF(keys) && bad == NULL; i++) {
        uint64_t v = get(p, &keys[i]);
        if (v < keys[i].min || v > keys[i].max) bad = keys[i].name;
    }
    for (size_t i = 0; i < RBX_COUNTOF(relations) && bad == NULL; i++)
        if (get(p, relations[i].key) < get(p, relations[i].floor)) bad = relations[i].key->name;
    if (field != NULL) *field = bad;
    return bad == NULL ? 0 : RBX_E_POLICY;
}

const char *rbx_policy_key(size_t i)
{
    return i < RBX_COUNTOF(keys) ? keys[i].name : NULL;
}

/* Digits with an optional unit; no sign, no spaces, no overflow. */
static int parse_number(uint64_t *out, const char *s, int units)
{
    uint64_t v = 0, mult = 1;
    size_t i = 0;
    if (s[0] < '0' || s[0] > '9') return RBX_E_POLICY;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10) return RBX_E_POLICY;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (s[i] != '\0') {
        if (!units || s[i + 1] != '\0') return RBX_E_POLICY;
        switch (s[i]) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = RBX_DAY; break;
        default: return RBX_E_POLICY;
        }
    }
    if (v > UINT64_MAX / mult) return RBX_E_POLICY;
    *out = v * mult;
    return 0;
}

int rbx_policy_set(rbx_policy *p, const char *name, const char *value)
{
    const key *k = find(name);
    uint64_t v;
    if (k == NULL) return RBX_E_NOT_FOUND;
    switch (k->kind) {
    case K_BOOL:
        if (strcmp(value, "on") == 0) v = 1;
        else if (strcmp(value, "off") == 0) v = 0;
        else return RBX_E_POLICY;
        break;
    case K_MODE:
        if (strcmp(value, "bounded") == 0) v = RBX_STORE_BOUNDED;
        else if (strcmp(value, "strict") == 0) v = RBX_STORE_STRICT;
        else return RBX_E_POLICY;
        break;
    default:
        if (parse_number(&v, value, k->kind == K_SECONDS) != 0) return RBX_E_POLICY;
    }
    if (v < k->min || v > k->max) return RBX_E_POLICY;
    put(p, k, v);
    return 0;
}

/* A value as text: times in the largest unit that divides them. */
static int format_value(char *out, size_t outcap, const key *k, uint64_t v)
{
    int n;
    unsigned long long u = (unsigned long long)v;
    if (k->kind == K_BOOL) n = snprintf(out, outcap, "%s", v ? "on" : "off");
    else if (k->kind == K_MODE) n = snprintf(out, outcap, "%s", v ? "strict" : "bounded");
    else if (k->kind == K_SECONDS && v != 0 && v % RBX_DAY == 0) n = snprintf(out, outcap, "%llud", u / RBX_DAY);
    else if (k->kind == K_SECONDS && v != 0 && v % 3600 == 0) n = snprintf(out, outcap, "%lluh", u / 3600);
    else if (k->kind == K_SECONDS && v != 0 && v % 60 == 0) n = snprintf(out, outcap, "%llum", u / 60);
    else if (k->kind == K_SECONDS) n = snprintf(out, outcap, "%llus", u);
    else n = snprintf(out, outcap, "%llu", u);
    return n < 0 || (size_t)n >= outcap ? RBX_E_BUFFER : 0;
}

int rbx_policy_format(char *out, size_t outcap, const rbx_policy *p, const char *name)
{
    const key *k = find(name);
    if (k == NULL) return RBX_E_NOT_FOUND;
    return format_value(out, outcap, k, get(p, k));
}

int rbx_policy_describe(char *out, size_t outcap, const char *name)
{
    const key *k = find(name);
    char lo[24], hi[24];
    size_t used;
    int n;
    if (k == NULL) return RBX_E_NOT_FOUND;
    (void)format_value(lo, sizeof lo, k, k->min);
    (void)format_value(hi, sizeof hi, k, k->max);
    switch (k->kind) {
    case K_SECONDS: n = snprintf(out, outcap, "a time from %s to %s (unit s, m, h or d)", lo, hi); break;
    case K_COUNT: n = snprintf(out, outcap, "a whole number from %s to %s", lo, hi); break;
    case K_BOOL: n = snprintf(out, outcap, "on or off"); break;
    default: n = snprintf(out, outcap, "bounded or strict"); break;
    }
    for (size_t i = 0; i < RBX_COUNTOF(relations) && n >= 0 && (size_t)n < outcap; i++) {
        used = (size_t)n;
        if (relations[i].key == k)
            n = snprintf(out + used, outcap - used, ", at least %s", relations[i].floor->name);
        else if (relations[i].floor == k)
            n = snprintf(out + used, outcap - used, ", at most %s", relations[i].key->name);
        else
            continue;
        n = n < 0 ? n : (int)used + n;
    }
    return n < 0 || (size_t)n >= outcap ? RBX_E_BUFFER : 0;
}

/* ------------------------------------------------------------ in the store */

/* The policy's seal: its rows are plaintext (readable by any tool), so the
 * whole policy is also kept sealed in meta ("policy"), bound to that name
 * (PROTOCOL.md 15.3). Someone who can write the file but lacks the storage
 * key cannot weaken a key (strict to bounded, a longer grace) unseen. */
#define SEAL_MAGIC "rbx-policy-v1"
#define SEAL_BYTES (sizeof SEAL_MAGIC - 1 + RBX_COUNTOF(keys) * 8U)

static void seal_encode(uint8_t out[SEAL_BYTES], const rbx_policy *p)
{
    memcpy(out, SEAL_MAGIC, sizeof SEAL_MAGIC - 1);
    for (size_t i = 0; i < RBX_COUNTOF(keys); i++)
        rbx__store64_be(out + sizeof SEAL_MAGIC - 1 + 8 * i, get(p, &keys[i]));
}

static int seal_put(rbx_store *st, const rbx_policy *p)
{
    uint8_t v[SEAL_BYTES];
    seal_encode(v, p);
    return rbx__st_meta_seal(st, "policy", v, sizeof v);
}

/* Every schema-2 store is created (or migrated) with the default policy
 * sealed, so a missing seal is always damage, and checking costs one row
 * (not a look through the audit log) on every store call. */
int rbx__policy_init(rbx_store *st)
{
    rbx_policy d;
    rbx_policy_default(&d);
    return seal_put(st, &d);
}

/* 0 if the seal matches q. */
static int seal_check(rbx_store *st, const rbx_policy *q)
{
    uint8_t want[SEAL_BYTES], *got;
    size_t n;
    int rc = rbx__st_meta_open(st, "policy", &got, &n);
    if (rc == RBX_E_NOT_FOUND) return RBX_E_CORRUPT; /* no seal */
    if (rc != 0) return rc;
    seal_encode(want, q);
    rc = n == sizeof want && memcmp(got, want, n) == 0 ? 0 : RBX_E_CORRUPT;
    rbx__st_free_secret(got, n);
    return rc;
}

/* Rows are outside input: a value of the wrong type or out of range, an
 * unknown key, a broken relation or a policy that is not the sealed one is
 * corruption, not a policy. */
int rbx__st_policy(rbx_store *st, rbx_policy *p)
{
    sqlite3_stmt *s;
    rbx_policy q;
    rbx_policy_default(&q);
    int rc = rbx__st_prep(st, &s, "SELECT k, v FROM policy");
    if (rc != 0) return rc;
    while ((rc = rbx__st_step(s)) == 1) {
        /* The type first: after a conversion sqlite3_column_type is undefined. */
        int type = sqlite3_column_type(s, 1);
        const char *name = (const char *)sqlite3_column_text(s, 0);
        const key *k = name != NULL ? find(name) : NULL;
        sqlite3_int64 v = type == SQLITE_INTEGER ? sqlite3_column_int64(s, 1) : -1;
        if (k == NULL || type != SQLITE_INTEGER || v < 0 ||
            (uint64_t)v < k->min || (uint64_t)v > k->max) {
            rc = RBX_E_CORRUPT;
            break;
        }
        put(&q, k, (uint64_t)v);
    }
    rbx__st_done(st, s);
    if (rc < 0) return rc;
    if (rbx_policy_validate(&q, NULL) != 0) return RBX_E_CORRUPT;
    if ((rc = seal_check(st, &q)) != 0) return rc;
    *p = q;
    return 0;
}

int rbx_store_policy(rbx_store *st, rbx_policy *p)
{
    /* A read transaction: reading the policy never waits for writers. */
    int rc = rbx__st_exec(st, "BEGIN");
    if (rc != 0) return rc;
    rc = rbx__st_policy(st, p);
    rbx__st_rollback(st);
    return rc;
}

int rbx_store_set_policy(rbx_store *st, const rbx_policy *p)
{
    rbx_policy old;
    char changed[RBX_AUDIT_DETAIL_MAX] = "";
    size_t used = 0, nchanged = 0;
    int rc = rbx_policy_validate(p, NULL);
    if (rc != 0) return rc;
    if ((rc = rbx__st_begin(st)) != 0) return rc;
    if ((rc = rbx__st_policy(st, &old)) != 0) goto fail;
    sqlite3_stmt *s;
    if ((rc = rbx__st_prep(st, &s, "INSERT OR REPLACE INTO policy (k, v) VALUES (?1, ?2)")) != 0)
        goto fail;
    for (size_t i = 0; i < RBX_COUNTOF(keys) && rc == 0; i++) {
        uint64_t v = get(p, &keys[i]);
        if (v == get(&old, &keys[i])) continue;
        sqlite3_bind_text(s, 1, keys[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)v);
        rc = rbx__st_step(s) < 0 ? RBX_E_IO : 0;
        sqlite3_reset(s);
        nchanged++;
        char val[32];
        if (rc == 0 && format_value(val, sizeof val, &keys[i], v) == 0) {
            int n = snprintf(changed + used, sizeof changed - used, "%s%s=%s", used ? " " : "",
                             keys[i].name, val);
            if (n > 0 && (size_t)n < sizeof changed - used) used += (size_t)n;
        }
    }
    rbx__st_done(st, s);
    if (rc != 0) goto fail;
    if (nchanged == 0) {
        rbx__st_rollback(st); /* nothing changed: nothing to record */
        return 0;
    }
    if ((rc = seal_put(st, p)) != 0 ||
        (rc = rbx__audit(st, "policy changed", "%s", changed)) != 0)
        goto fail;
    rc = rbx__st_commit(st, 0);
    /* rbx__st_commit fails only when COMMIT did (work after it is owed, not
     * returned): the policy in force is then whatever the database holds. */
    if (rc == 0) rbx__st_apply_policy(st, p);
    else if (rbx_store_policy(st, &old) == 0) rbx__st_apply_policy(st, &old);
    return rc;
fail:
    rbx__st_rollback(st);
    return rc;
}
