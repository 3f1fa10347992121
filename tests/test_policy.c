/* SPDX-License-Identifier: MIT
 * The store policy (include/ratchetbox.h "policy", spec/PROTOCOL.md section 18):
 * defaults, text parsing and formatting of every key, every range and
 * cross-key relation, and in a store: persistence, the audit event of a
 * change, tampered rows refused at open, strict storage mode and the
 * skipped-key limits reaching loaded sessions. */
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "storeutil.h"
#include "testutil.h"

#define T0 1800000000LL

static void set_keys(rbx_store *st, const char *const *kv, size_t n)
{
    rbx_policy p;
    ck_assert_int_eq(rbx_store_policy(st, &p), 0);
    for (size_t i = 0; i + 1 < n; i += 2) {
        int rc = rbx_policy_set(&p, kv[i], kv[i + 1]);
        ck_assert_msg(rc == 0, "%s = %s: %s", kv[i], kv[i + 1], rbx_strerror(rc));
    }
    int rc = rbx_store_set_policy(st, &p);
    ck_assert_msg(rc == 0, "set_policy: %s", rbx_strerror(rc));
}

static void assert_format(const rbx_policy *p, const char *key, const char *want)
{
    char buf[32];
    int rc = rbx_policy_format(buf, sizeof buf, p, key);
    ck_assert_msg(rc == 0, "format %s: %s", key, rbx_strerror(rc));
    ck_assert_str_eq(buf, want);
}

/* ------------------------------------------------------------ values */

static const char *const key_names[] = {
    "spk_rotate", "spk_max_age", "spk_keep", "onetime_low", "onetime_batch", "identity_grace",
    "archive", "archive_retention", "storage_mode", "max_skip", "max_skipped_keys",
};
#define NKEYS (sizeof key_names / sizeof key_names[0])

START_TEST(defaults)
{
    rbx_policy p;
    memset(&p, 0xa5, sizeof p);
    rbx_policy_default(&p);
    ck_assert_uint_eq(p.spk_rotate, 2ULL * 86400);
    ck_assert_uint_eq(p.spk_max_age, 14ULL * 86400);
    ck_assert_uint_eq(p.spk_keep, 30ULL * 86400);
    ck_assert_uint_eq(p.onetime_low, 10);
    ck_assert_uint_eq(p.onetime_batch, 100);
    ck_assert_uint_eq(p.identity_grace, 7ULL * 86400);
    ck_assert_int_eq(p.archive, 0);
    ck_assert_uint_eq(p.archive_retention, 365ULL * 86400);
    ck_assert_int_eq(p.storage_mode, RBX_STORE_BOUNDED);
    ck_assert_uint_eq(p.max_skip, 1000);
    ck_assert_uint_eq(p.max_skipped_keys, 2000);
    const char *field = "unset";
    ck_assert_int_eq(rbx_policy_validate(&p, &field), 0);
    ck_assert_ptr_null(field);
    static const char *const text[NKEYS] = { "2d", "14d", "30d", "10", "100", "7d",
                                             "off", "365d", "bounded", "1000", "2000" };
    for (size_t i = 0; i < NKEYS; i++) assert_format(&p, key_names[i], text[i]);
}
END_TEST

START_TEST(key_names_in_order)
{
    for (size_t i = 0; i < NKEYS; i++) ck_assert_str_eq(rbx_policy_key(i), key_names[i]);
    ck_assert_str_eq(rbx_policy_key(NKEYS), "require_org"); /* 18.6, after the numbers */
    ck_assert_ptr_null(rbx_policy_key(NKEYS + 1));
    ck_assert_ptr_null(rbx_policy_key((size_t)-1));
}
END_TEST

static const struct {
    const char *key, *in;
    uint64_t value;
    const char *out;
} good[] = {
    { "spk_rotate", "60", 60, "1m" },
    { "spk_rotate", "90s", 90, "90s" },
    { "spk_rotate", "5m", 300, "5m" },
    { "spk_rotate", "3h", 10800, "3h" },
    { "spk_rotate", "48h", 172800, "2d" },
    { "spk_rotate", "1d", 86400, "1d" },
    { "spk_rotate", "365d", 365ULL * 86400, "365d" },
    { "spk_rotate", "0061s", 61, "61s" },
    { "spk_max_age", "14d", 14ULL * 86400, "14d" },
    { "spk_max_age", "25h", 90000, "25h" },
    { "spk_keep", "3650d", 3650ULL * 86400, "3650d" },
    { "spk_keep", "61m", 3660, "61m" },
    { "onetime_low", "1", 1, "1" },
    { "onetime_low", "10000", 10000, "10000" },
    { "onetime_batch", "250", 250, "250" },
    { "identity_grace", "0", 0, "0s" },
    { "identity_grace", "0d", 0, "0s" },
    { "identity_grace", "36h", 129600, "36h" },
    { "archive", "on", 1, "on" },
    { "archive", "off", 0, "off" },
    { "archive_retention", "0s", 0, "0s" },
    { "archive_retention", "36500d", 36500ULL * 86400, "36500d" },
    { "archive_retention", "1s", 1, "1s" },
    { "storage_mode", "strict", RBX_STORE_STRICT, "strict" },
    { "storage_mode", "bounded", RBX_STORE_BOUNDED, "bounded" },
    { "max_skip", "1", 1, "1" },
    { "max_skip", "1000", 1000, "1000" },
    { "max_skipped_keys", "2000", 2000, "2000" },
    { "max_skipped_keys", "1", 1, "1" },
};

static uint64_t field_value(const rbx_policy *p, const char *key)
{
    if (strcmp(key, "spk_rotate") == 0) return p->spk_rotate;
    if (strcmp(key, "spk_max_age") == 0) return p->spk_max_age;
    if (strcmp(key, "spk_keep") == 0) return p->spk_keep;
    if (strcmp(key, "onetime_low") == 0) return p->onetime_low;
    if (strcmp(key, "onetime_batch") == 0) return p->onetime_batch;
    if (strcmp(key, "identity_grace") == 0) return p->identity_grace;
    if (strcmp(key, "archive") == 0) return (uint64_t)p->archive;
    if (strcmp(key, "archive_retention") == 0) return p->archive_retention;
    if (strcmp(key, "storage_mode") == 0) return (uint64_t)p->storage_mode;
    if (strcmp(key, "max_skip") == 0) return p->max_skip;
    if (strcmp(key, "max_skipped_keys") == 0) return p->max_skipped_keys;
    ck_abort_msg("no field %s", key);
    return 0;
}

START_TEST(set_and_format)
{
    const int i = _i;
    rbx_policy p, q;
    rbx_policy_default(&p);
    ck_assert_int_eq(rbx_policy_set(&p, good[i].key, good[i].in), 0);
    ck_assert_uint_eq(field_value(&p, good[i].key), good[i].value);
    assert_format(&p, good[i].key, good[i].out);
    /* The formatted text parses back to the same value. */
    rbx_policy_default(&q);
    ck_assert_int_eq(rbx_policy_set(&q, good[i].key, good[i].out), 0);
    ck_assert_uint_eq(field_value(&q, good[i].key), good[i].value);
    /* Nothing else moved. */
    rbx_policy d;
    rbx_policy_default(&d);
    for (size_t k = 0; k < NKEYS; k++)
        if (strcmp(key_names[k], good[i].key) != 0)
            ck_assert_uint_eq(field_value(&p, key_names[k]), field_value(&d, key_names[k]));
}
END_TEST

static const struct {
    const char *key, *in;
} bad[] = {
    { "spk_rotate", "" },        { "spk_rotate", "59" },       { "spk_rotate", "59s" },
    { "spk_rotate", "366d" },    { "spk_rotate", "-1d" },      { "spk_rotate", "+1d" },
    { "spk_rotate", " 1d" },     { "spk_rotate", "1d " },      { "spk_rotate", "1 d" },
    { "spk_rotate", "1dd" },     { "spk_rotate", "1w" },       { "spk_rotate", "1D" },
    { "spk_rotate", "d" },       { "spk_rotate", "0x100" },    { "spk_rotate", "1.5d" },
    { "spk_rotate", "99999999999999999999" },                  { "spk_rotate", "213503982334602d" },
    { "spk_max_age", "0" },      { "spk_max_age", "8761h" },   { "spk_keep", "3651d" },
    { "spk_keep", "59s" },        { "onetime_low", "0" },       { "onetime_low", "10001" },
    { "onetime_low", "10s" },    { "onetime_batch", "1d" },    { "onetime_batch", "0" },
    { "identity_grace", "366d" },{ "archive", "yes" },         { "archive", "1" },
    { "archive", "ON" },         { "archive", "" },            { "archive_retention", "36501d" },
    { "storage_mode", "STRICT" },{ "storage_mode", "1" },      { "storage_mode", "paranoid" },
    { "max_skip", "0" },         { "max_skip", "1001" },       { "max_skip", "10m" },
    { "max_skipped_keys", "0" }, { "max_skipped_keys", "2001" },
};

START_TEST(set_refuses)
{
    const int i = _i;
    rbx_policy p, d;
    rbx_policy_default(&p);
    rbx_policy_default(&d);
    ck_assert_msg(rbx_policy_set(&p, bad[i].key, bad[i].in) == RBX_E_POLICY, "%s = '%s' accepted",
                  bad[i].key, bad[i].in);
    ck_assert_mem_eq(&p, &d, sizeof p);
}
END_TEST

START_TEST(unknown_key)
{
    rbx_policy p, d;
    char buf[32];
    rbx_policy_default(&p);
    rbx_policy_default(&d);
    ck_assert_int_eq(rbx_policy_set(&p, "max_skips", "10"), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_policy_set(&p, "", "10"), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_policy_set(&p, "MAX_SKIP", "10"), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_policy_format(buf, sizeof buf, &p, "archives"), RBX_E_NOT_FOUND);
    ck_assert_mem_eq(&p, &d, sizeof p);
}
END_TEST

START_TEST(format_buffer)
{
    rbx_policy p;
    char buf[8];
    rbx_policy_default(&p);
    ck_assert_int_eq(rbx_policy_format(buf, 4, &p, "storage_mode"), RBX_E_BUFFER);
    ck_assert_int_eq(rbx_policy_format(buf, 8, &p, "storage_mode"), 0);
    ck_assert_str_eq(buf, "bounded");
    ck_assert_int_eq(rbx_policy_format(buf, 4, &p, "max_skip"), RBX_E_BUFFER);
    ck_assert_int_eq(rbx_policy_format(buf, 5, &p, "max_skip"), 0);
    ck_assert_str_eq(buf, "1000");
}
END_TEST

START_TEST(describe)
{
    char buf[128];
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "spk_max_age"), 0);
    ck_assert_str_eq(buf, "a time from 1m to 365d (unit s, m, h or d), at least spk_rotate, "
                          "at most spk_keep");
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "identity_grace"), 0);
    ck_assert_str_eq(buf, "a time from 0s to 365d (unit s, m, h or d)");
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "max_skip"), 0);
    ck_assert_str_eq(buf, "a whole number from 1 to 1000, at most max_skipped_keys");
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "onetime_batch"), 0);
    ck_assert_str_eq(buf, "a whole number from 1 to 10000, at least onetime_low");
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "archive"), 0);
    ck_assert_str_eq(buf, "on or off");
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "storage_mode"), 0);
    ck_assert_str_eq(buf, "bounded or strict");
    ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, "nope"), RBX_E_NOT_FOUND);
    ck_assert_int_eq(rbx_policy_describe(buf, 40, "spk_max_age"), RBX_E_BUFFER);
    for (size_t i = 0; i < NKEYS; i++)
        ck_assert_int_eq(rbx_policy_describe(buf, sizeof buf, key_names[i]), 0);
}
END_TEST

/* Every key out of range in the struct: validate names that key. */
START_TEST(validate_ranges)
{
    const size_t k = (size_t)_i;
    rbx_policy p;
    const char *field = NULL;
    rbx_policy_default(&p);
    switch (k) {
    case 0: p.spk_rotate = 59; break;
    case 1: p.spk_max_age = 365ULL * 86400 + 1; break;
    case 2: p.spk_keep = 3650ULL * 86400 + 1; break;
    case 3: p.onetime_low = 0; break;
    case 4: p.onetime_batch = 10001; break;
    case 5: p.identity_grace = 365ULL * 86400 + 1; break;
    case 6: p.archive = 2; break;
    case 7: p.archive_retention = 36500ULL * 86400 + 1; break;
    case 8: p.storage_mode = -1; break;
    case 9: p.max_skip = 0; break;
    case 10: p.max_skipped_keys = 2001; break;
    default: ck_abort();
    }
    ck_assert_int_eq(rbx_policy_validate(&p, &field), RBX_E_POLICY);
    ck_assert_ptr_nonnull(field);
    ck_assert_str_eq(field, key_names[k]);
    ck_assert_int_eq(rbx_policy_validate(&p, NULL), RBX_E_POLICY);
}
END_TEST

/* The orders between keys: equal is allowed, one less is refused and the
 * later key of the pair is named. */
START_TEST(validate_relations)
{
    rbx_policy p;
    const char *field;
    rbx_policy_default(&p);
    p.spk_max_age = p.spk_rotate;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), 0);
    p.spk_max_age = p.spk_rotate - 1;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), RBX_E_POLICY);
    ck_assert_str_eq(field, "spk_max_age");

    rbx_policy_default(&p);
    p.spk_keep = p.spk_max_age;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), 0);
    p.spk_keep = p.spk_max_age - 1;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), RBX_E_POLICY);
    ck_assert_str_eq(field, "spk_keep");

    rbx_policy_default(&p);
    p.onetime_batch = p.onetime_low;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), 0);
    p.onetime_batch = p.onetime_low - 1;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), RBX_E_POLICY);
    ck_assert_str_eq(field, "onetime_batch");

    rbx_policy_default(&p);
    p.max_skipped_keys = p.max_skip;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), 0);
    p.max_skipped_keys = p.max_skip - 1;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), RBX_E_POLICY);
    ck_assert_str_eq(field, "max_skipped_keys");

    /* A range error is reported before a relation. */
    rbx_policy_default(&p);
    p.max_skipped_keys = 1;
    p.onetime_low = 0;
    ck_assert_int_eq(rbx_policy_validate(&p, &field), RBX_E_POLICY);
    ck_assert_str_eq(field, "onetime_low");
}
END_TEST

/* ------------------------------------------------------------ in a store */

static int last_event_cb(const rbx_audit_event *e, void *ctx)
{
    *(rbx_audit_event *)ctx = *e;
    return 0;
}

START_TEST(store_persists)
{
    char db[PATHCAP];
    rbx_policy p, d, got;
    db_path(db, "a");
    g_now = T0;
    rbx_store *st = store_open(db, 1);
    rbx_policy_default(&d);
    ck_assert_int_eq(rbx_store_policy(st, &p), 0);
    ck_assert_mem_eq(&p, &d, sizeof p);

    ck_assert_int_eq(rbx_policy_set(&p, "spk_rotate", "1d"), 0);
    ck_assert_int_eq(rbx_policy_set(&p, "archive", "on"), 0);
    ck_assert_int_eq(rbx_policy_set(&p, "max_skip", "10"), 0);
    g_now = T0 + 60;
    ck_assert_int_eq(rbx_store_set_policy(st, &p), 0);
    ck_assert_int_eq(rbx_store_policy(st, &got), 0);
    ck_assert_mem_eq(&got, &p, sizeof p);

    /* One event, at the injected time, naming only what changed. */
    rbx_audit_event e;
    uint64_t n, badseq;
    ck_assert_int_eq(rbx_store_audit(st, last_event_cb, &e), 0);
    ck_assert_uint_eq(e.seq, 2);
    ck_assert_int_eq(e.time, T0 + 60);
    ck_assert_str_eq(e.event, "policy changed");
    ck_assert_str_eq(e.detail, "spk_rotate=1d archive=on max_skip=10");

    /* The same policy again changes nothing and records nothing. */
    ck_assert_int_eq(rbx_store_set_policy(st, &p), 0);
    ck_assert_int_eq(rbx_store_audit_verify(st, &n, &badseq), 0);
    ck_assert_uint_eq(n, 2);

    /* An invalid policy is refused whole. */
    rbx_policy worse = p;
    worse.onetime_low = 500;
    worse.onetime_batch = 499;
    worse.spk_keep = 3 * 86400;
    ck_assert_int_eq(rbx_store_set_policy(st, &worse), RBX_E_POLICY);
    ck_assert_int_eq(rbx_store_policy(st, &got), 0);
    ck_assert_mem_eq(&got, &p, sizeof p);

    /* Back to a default value is stored as such (and survives reopen). */
    ck_assert_int_eq(rbx_policy_set(&p, "archive", "off"), 0);
    g_now = T0 + 120;
    ck_assert_int_eq(rbx_store_set_policy(st, &p), 0);
    rbx_store_close(st);
    st = store_open(db, 0);
    ck_assert_int_eq(rbx_store_policy(st, &got), 0);
    ck_assert_mem_eq(&got, &p, sizeof p);
    ck_assert_int_eq(rbx_store_audit(st, last_event_cb, &e), 0);
    ck_assert_uint_eq(e.seq, 3);
    ck_assert_int_eq(e.time, T0 + 120);
    ck_assert_str_eq(e.detail, "archive=off");
    rbx_store_close(st);
}
END_TEST

/* Every key changed at once still fits one audit detail. */
START_TEST(store_all_keys_detail)
{
    char db[PATHCAP];
    db_path(db, "a");
    g_now = T0;
    rbx_store *st = store_open(db, 1);
    static const char *const kv[] = {
        "spk_rotate", "31535999s", "spk_max_age", "31535999s", "spk_keep", "315359999s",
        "onetime_low", "9999", "onetime_batch", "9999", "identity_grace", "31535999s",
        "archive", "on", "archive_retention", "3153599999s", "storage_mode", "strict",
        "max_skip", "999", "max_skipped_keys", "1999",
    };
    set_keys(st, kv, sizeof kv / sizeof kv[0]);
    rbx_audit_event e;
    ck_assert_int_eq(rbx_store_audit(st, last_event_cb, &e), 0);
    ck_assert_str_eq(e.detail,
                     "spk_rotate=31535999s spk_max_age=31535999s spk_keep=315359999s "
                     "onetime_low=9999 onetime_batch=9999 identity_grace=31535999s archive=on "
                     "archive_retention=3153599999s storage_mode=strict max_skip=999 "
                     "max_skipped_keys=1999");
    rbx_store_close(st);
}
END_TEST

/* Policy rows are outside input: each bad one makes the store refuse to
 * open with RBX_E_CORRUPT, writing nothing. */
static const char *const tampered[] = {
    "INSERT INTO policy VALUES ('max_skip', '10')",
    "INSERT INTO policy VALUES ('max_skip', 10.0)",
    "INSERT INTO policy VALUES ('max_skip', x'0a')",
    "INSERT INTO policy VALUES ('max_skip', -10)",
    "INSERT INTO policy VALUES ('max_skip', 1001)",
    "INSERT INTO policy VALUES ('max_skip', 0)",
    "INSERT INTO policy VALUES ('archive', 2)",
    "INSERT INTO policy VALUES ('storage_mode', 7)",
    "INSERT INTO policy VALUES ('spk_rotate', 9223372036854775807)",
    "INSERT INTO policy VALUES ('bogus', 1)",
    "INSERT INTO policy VALUES ('spk_max_age', 3600)", /* below spk_rotate (2d) */
    "INSERT INTO policy VALUES ('max_skipped_keys', 5)", /* below max_skip (1000) */
    "UPDATE policy SET v = 5000 WHERE k = 'onetime_low'", /* above onetime_batch (100) */
    /* Valid values that are not the sealed policy. */
    "UPDATE policy SET v = 11 WHERE k = 'onetime_low'",
    "INSERT INTO policy VALUES ('archive', 1)",
    "DELETE FROM policy",
    "DELETE FROM meta WHERE k = 'policy'",
    "DELETE FROM policy; DELETE FROM meta WHERE k = 'policy'", /* the audit log says it was set */
    "UPDATE meta SET v = (SELECT v FROM meta WHERE k = 'keycheck') WHERE k = 'policy'",
    "UPDATE meta SET v = substr(v, 1, length(v) - 1) WHERE k = 'policy'",
};

START_TEST(tampered_row)
{
    const int i = _i;
    char db[PATHCAP];
    db_path(db, "a");
    g_now = T0;
    rbx_store *st = store_open(db, 1);
    static const char *const kv[] = { "onetime_low", "20" };
    set_keys(st, kv, 2);
    rbx_store_close(st);
    sql_on_file(db, tampered[i]);
    rbx_store_opts o = store_opts(0);
    ck_assert_int_eq(rbx_store_open(&st, db, &o), RBX_E_CORRUPT);
    ck_assert_ptr_null(st);
}
END_TEST

/* A store whose policy was never set has the default policy sealed (made
 * with the store): a row added behind its back that changes a value is
 * refused, and so is a store whose seal was removed. */
START_TEST(unsealed_row)
{
    char db[PATHCAP], db2[PATHCAP];
    rbx_policy p, d;
    db_path(db, "a");
    db_path(db2, "b");
    g_now = T0;
    rbx_store *st = store_open(db, 1);
    rbx_store_close(st);
    st = store_open(db, 0); /* never set: the defaults */
    ck_assert_int_eq(rbx_store_policy(st, &p), 0);
    rbx_policy_default(&d);
    ck_assert_mem_eq(&p, &d, sizeof p);
    rbx_store_close(st);
    sql_on_file(db, "INSERT INTO policy VALUES ('storage_mode', 1)");
    rbx_store_opts o = store_opts(0);
    ck_assert_int_eq(rbx_store_open(&st, db, &o), RBX_E_CORRUPT);
    st = store_open(db2, 1);
    rbx_store_close(st);
    sql_on_file(db2, "DELETE FROM meta WHERE k = 'policy'");
    ck_assert_int_eq(rbx_store_open(&st, db2, &o), RBX_E_CORRUPT);
}
END_TEST

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* storage_mode = strict makes every commit an erase point: the log is
 * empty after each one, on this handle and after reopening. */
START_TEST(strict_mode)
{
    char db[PATHCAP], wal[PATHCAP + 8];
    uint8_t bundle[RBX_BUNDLE_MAXBYTES];
    size_t n;
    db_path(db, "a");
    snprintf(wal, sizeof wal, "%s-wal", db);
    g_now = T0;
    rbx_store *st = store_open(db, 1);
    ck_assert_int_eq(rbx_store_identity_create(st, NULL, NULL), 0);
    ck_assert_int_eq(rbx_store_bundle(st, bundle, sizeof bundle, &n, 5), 0);
    ck_assert_int_gt(file_size(wal), 0); /* bounded: frames (or the prefill) remain */

    static const char *const kv[] = { "storage_mode", "strict" };
    set_keys(st, kv, 2);
    ck_assert_int_eq(rbx_store_bundle(st, bundle, sizeof bundle, &n, 5), 0);
    ck_assert_int_eq(file_size(wal), 0);
    rbx_store_close(st);

    st = store_open(db, 0);
    ck_assert_int_eq(rbx_store_bundle(st, bundle, sizeof bundle, &n, 5), 0);
    ck_assert_int_eq(file_size(wal), 0);

    /* Back to bounded: the log keeps frames between erase points again. */
    static const char *const kv2[] = { "storage_mode", "bounded" };
    set_keys(st, kv2, 2);
    ck_assert_int_eq(rbx_store_bundle(st, bundle, sizeof bundle, &n, 5), 0);
    ck_assert_int_gt(file_size(wal), 0);
    rbx_store_close(st);
}
END_TEST

/* ------------------------------------------------------------ skipped-key limits */

/* One message to or from device 1 of a contact (storeutil's tx and rx). */
static void tx1(msg *m, peer *from, const char *to, const char *text)
{
    tx(m, from, to, 1, text);
}

static int rx1(peer *p, const char *from, const msg *m)
{
    return rx(p, NULL, from, 1, m, NULL);
}

/* Alice and Bob with one message each way; Bob knows Alice as "alice". */
static void pair(peer *alice, peer *bob)
{
    msg m;
    peer_new(alice, "alice");
    peer_new(bob, "bob");
    introduce(alice, "bob", 1, bob);
    introduce(bob, "alice", 1, alice);
    tx1(&m, alice, "bob", "a0");
    ck_assert_int_eq(rx1(bob, "alice", &m), 0);
    tx1(&m, bob, "alice", "b0");
    ck_assert_int_eq(rx1(alice, "bob", &m), 0);
}

/* max_skip = 10 on the receiver: a jump over 10 keys works, over 11 is
 * refused, on the handle that set it and after reopening. */
START_TEST(max_skip_limits_sessions)
{
    peer alice, bob;
    msg m[24];
    char text[16];
    g_now = T0;
    pair(&alice, &bob);
    for (int i = 1; i < 24; i++) {
        snprintf(text, sizeof text, "a%d", i);
        tx1(&m[i], &alice, "bob", text);
    }
    static const char *const kv[] = { "max_skip", "10" };
    set_keys(bob.st, kv, 2);
    /* Bob expects a1: a12 skips a1..a11 (11 keys), a11 skips 10. */
    ck_assert_int_eq(rx1(&bob, "alice", &m[12]), RBX_E_LIMIT);
    ck_assert_int_eq(rx1(&bob, "alice", &m[11]), 0);
    /* Now at a12: a23 skips 11, a22 skips 10. After a reopen as well. */
    rbx_store_close(bob.st);
    bob.st = store_open(bob.db, 0);
    ck_assert_int_eq(rx1(&bob, "alice", &m[23]), RBX_E_LIMIT);
    ck_assert_int_eq(rx1(&bob, "alice", &m[22]), 0);
    /* Skipped keys are still there to use. */
    ck_assert_int_eq(rx1(&bob, "alice", &m[5]), 0);
    ck_assert_int_eq(rx1(&bob, "alice", &m[15]), 0);
    /* The default limit takes the jump of 11 that was refused. */
    msg more[13];
    for (int i = 0; i < 13; i++) tx1(&more[i], &alice, "bob", "x");
    static const char *const kv2[] = { "max_skip", "1000" };
    set_keys(bob.st, kv2, 2);
    ck_assert_int_eq(rx1(&bob, "alice", &more[11]), 0);
    rbx_store_close(alice.st);
    rbx_store_close(bob.st);
}
END_TEST

/* max_skipped_keys: a store may not grow past it; a session that already
 * holds more keys (limit lowered later) still takes messages that do not
 * add keys, DH steps included. */
START_TEST(max_skipped_keys_limits_sessions)
{
    peer alice, bob;
    msg m[12], r, n1, n2;
    g_now = T0;
    pair(&alice, &bob);
    for (int i = 1; i < 12; i++) tx1(&m[i], &alice, "bob", "a");
    ck_assert_int_eq(rx1(&bob, "alice", &m[11]), 0); /* 10 keys stored */
    rbx_session_info info;
    uint64_t gen;
    ck_assert_int_eq(rbx_store_session_info(bob.st, &info, &gen, "alice", 1), 0);
    ck_assert_uint_eq(info.skipped_keys, 10);

    static const char *const kv[] = { "max_skip", "5", "max_skipped_keys", "5" };
    set_keys(bob.st, kv, 4);
    /* Bob replies; Alice's answer is a DH step adding no key. */
    tx1(&r, &bob, "alice", "b1");
    ck_assert_int_eq(rx1(&alice, "bob", &r), 0);
    tx1(&n1, &alice, "bob", "c0");
    tx1(&n2, &alice, "bob", "c1");
    ck_assert_int_eq(rx1(&bob, "alice", &n1), 0);
    ck_assert_int_eq(rx1(&bob, "alice", &m[3]), 0);
    ck_assert_int_eq(rx1(&bob, "alice", &n2), 0);
    ck_assert_int_eq(rbx_store_session_info(bob.st, &info, &gen, "alice", 1), 0);
    ck_assert_uint_eq(info.skipped_keys, 9);

    /* A message that would add a key to a store above the limit is refused. */
    msg c[3];
    for (int i = 0; i < 3; i++) tx1(&c[i], &alice, "bob", "c");
    ck_assert_int_eq(rx1(&bob, "alice", &c[1]), RBX_E_LIMIT);
    ck_assert_int_eq(rx1(&bob, "alice", &c[0]), 0);
    rbx_store_close(alice.st);
    rbx_store_close(bob.st);
}
END_TEST

Suite *suite_policy(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, key_names_in_order);
    tcase_add_loop_test(tc, set_and_format, 0, (int)(sizeof good / sizeof good[0]));
    tcase_add_loop_test(tc, set_refuses, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, unknown_key);
    tcase_add_test(tc, format_buffer);
    tcase_add_test(tc, describe);
    tcase_add_loop_test(tc, validate_ranges, 0, (int)NKEYS);
    tcase_add_test(tc, validate_relations);
    suite_add_tcase(s, tc);

    tc = tcase_create("store");
    dir_fixtures(tc, dir_setup, 60);
    tcase_add_test(tc, store_persists);
    tcase_add_test(tc, store_all_keys_detail);
    tcase_add_loop_test(tc, tampered_row, 0, (int)(sizeof tampered / sizeof tampered[0]));
    tcase_add_test(tc, unsealed_row);
    tcase_add_test(tc, strict_mode);
    tcase_add_test(tc, max_skip_limits_sessions);
    tcase_add_test(tc, max_skipped_keys_limits_sessions);
    suite_add_tcase(s, tc);
    return s;
}
