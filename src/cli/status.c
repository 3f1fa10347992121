/* SPDX-License-Identifier: MIT
 * rbx status: identity, storage, prekeys, and every contact's session. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

static const char status_usage[] =
    "Usage: rbx status [--json]\n"
    "Show the identity, the storage mode, the prekey pool and, per contact device:\n"
    "fingerprint, session (yes/no), header encryption, send/recv/previous chain\n"
    "counters, DH ratchet steps, stored skipped keys, awaiting a first reply,\n"
    "state generation and rollback mark. Also how many times the identity was\n"
    "rotated and the signed prekey's age against the policy (rotate, refuse);\n"
    "per contact: the rotation sequence of its pinned key, sessions kept for the\n"
    "grace window after its rotation, and the organisation it is bound to.\n"
    "Where the storage key and the generation record are; a warning on stderr\n"
    "when the generation record is beside the database (a backup of DIR holds\n"
    "both, and its restore would roll the state back unseen), or the key is and\n"
    "DIR has no .nobackup marker.\n"
    "--json: one object on one line.\n";

static const char *yes_no(int v) { return v ? "yes" : "no"; }
static const char *jbool(int v) { return v ? "true" : "false"; }

/* "3d", "5h", "12m", "40s": coarse ages are all a status needs. */
static void age(char out[24], int64_t created, int64_t now)
{
    int64_t a = now > created ? now - created : 0;
    if (a >= 86400) snprintf(out, 24, "%lldd", (long long)(a / 86400));
    else if (a >= 3600) snprintf(out, 24, "%lldh", (long long)(a / 3600));
    else if (a >= 60) snprintf(out, 24, "%lldm", (long long)(a / 60));
    else snprintf(out, 24, "%llds", (long long)a);
}

/* What a status shows besides the contacts. */
typedef struct status_facts {
    uint8_t me[RBX_PUBLICKEYBYTES];
    size_t rotations; /* our rotation records: the sequence of the current key */
    rbx_policy pol;
    rbx_prekey_stats ps;
    /* Where the secrets are (PROTOCOL.md 15.6, rbx(1) BACKUPS). */
    const char *key_source;  /* "file", "descriptor", "command" */
    int gen_beside, key_beside, nobackup;
} status_facts;

/* Do two paths lie in one directory (the same directory, by device and
 * inode, however they are spelled)? */
static int same_dir(const char *a, const char *b)
{
    char da[4096], db[4096];
    struct stat sa, sb;
    const char *paths[2] = { a, b };
    char *outs[2] = { da, db };
    for (int i = 0; i < 2; i++) {
        const char *slash = strrchr(paths[i], '/');
        int n = slash == NULL ? snprintf(outs[i], sizeof da, ".")
                              : snprintf(outs[i], sizeof da, "%.*s", slash == paths[i] ? 1 : (int)(slash - paths[i]), paths[i]);
        if (n < 0 || (size_t)n >= sizeof da) return 0;
    }
    return stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void where_secrets(status_facts *f)
{
    char marker[4096 + 16];
    struct stat sb;
    f->key_source = cli_key_command != NULL ? "command" : cli_key_fd >= 0 ? "descriptor" : "file";
    f->gen_beside = same_dir(cli_gen_path(), cli_db_path());
    f->key_beside = cli_key_path()[0] != '\0' && same_dir(cli_key_path(), cli_db_path());
    snprintf(marker, sizeof marker, "%s/.nobackup", cli_dir);
    f->nobackup = lstat(marker, &sb) == 0;
}

/* The warnings of 15.6: a backup or copy of the directory takes the
 * generation record (or the key) with the database. */
static void warn_secrets(const status_facts *f)
{
    if (f->gen_beside)
        cli_warn("status", "the generation record %s is beside the database: a backup or copy of "
                 "%s holds both, and restoring it rolls the state back unseen; keep the record "
                 "where backups do not go (--generation-file, $RBX_GENERATION_FILE; rbx(1) BACKUPS)",
                 cli_gen_path(), cli_dir);
    if (f->key_beside && !f->nobackup)
        cli_warn("status", "the storage key %s is beside the database and %s has no .nobackup "
                 "marker: a backup holds both (--key-file elsewhere, --key-command for a "
                 "keychain; rbx(1) BACKUPS)", cli_key_path(), cli_dir);
}

static const char *spk_state(const status_facts *f, int64_t now)
{
    int64_t a = now - f->ps.signed_prekey_created;
    if (a >= (int64_t)f->pol.spk_max_age) return "expired: initiators refuse it";
    if (a >= (int64_t)f->pol.spk_rotate) return "due for rotation";
    return "ok";
}

static void print_text(const status_facts *f, const rbx_contact_info *cs, size_t n, int64_t now)
{
    char b64[RBX_KEY_B64BYTES], fp[RBX_FINGERPRINT_HEXBYTES], a[24], b[24], m[24];
    const rbx_prekey_stats *ps = &f->ps;
    rbx_key_to_base64(b64, f->me);
    rbx_fingerprint(fp, f->me);
    printf("identity: %s %s\n", fp, b64);
    if (f->rotations == 0) printf("identity rotations: none (the original key)\n");
    else printf("identity rotations: %zu (sequence of the current key)\n", f->rotations);
    /* The store runs strict when its policy says so (rbx policy). */
    if (f->pol.storage_mode == RBX_STORE_STRICT)
        printf("storage: %s, strict (erase point at every commit, policy)\n", cli_db_path());
    else
        printf("storage: %s, bounded (earlier versions erased within %u commits or %u s)\n",
               cli_db_path(),
               RBX_STORE_ERASE_COMMITS, RBX_STORE_ERASE_SECONDS);
    printf("storage key: %s%s\n", f->key_source,
           cli_key_path()[0] ? "" : " (not on disk)");
    if (cli_key_path()[0]) printf("storage key file: %s\n", cli_key_path());
    printf("generation record: %s%s\n", cli_gen_path(), f->gen_beside ? " (beside the database)" : "");
    printf("backups: %s\n", f->nobackup ? ".nobackup marker present" : "no .nobackup marker");
    if (ps->signed_prekey_id == 0) {
        printf("signed prekey: none yet (made by rbx bundle)\n");
    } else {
        age(a, ps->signed_prekey_created, now);
        age(b, now - (int64_t)f->pol.spk_rotate, now);
        age(m, now - (int64_t)f->pol.spk_max_age, now);
        printf("signed prekey: #%u, age %s (rotated every %s, refused after %s: %s)\n",
               ps->signed_prekey_id, a, b, m, spk_state(f, now));
    }
    printf("one-time prekeys: %zu unoffered, %zu offered, %zu consumed\n", ps->onetime_unoffered,
           ps->onetime_outstanding, ps->onetime_consumed);
    printf("contacts: %zu\n", n);
    if (n == 0) return;
    printf("%-20s %6s %-16s %-7s %-3s %6s %6s %6s %5s %7s %-8s %10s %-11s %8s %5s %s\n", "NAME",
           "DEVICE", "FINGERPRINT", "SESSION", "HE", "SEND", "RECV", "PREV", "DH", "SKIPPED",
           "AWAITING", "GENERATION", "ROLLED-BACK", "ROTATION", "GRACE", "ORG");
    for (size_t i = 0; i < n; i++) {
        const rbx_contact_info *c = &cs[i];
        const rbx_session_info *s = &c->session;
        char ofp[RBX_FINGERPRINT_HEXBYTES] = "-";
        rbx_fingerprint(fp, c->identity);
        if (c->has_org) rbx_fingerprint(ofp, c->org);
        if (!c->has_session) {
            printf("%-20s %6u %-16s %-7s %-3s %6s %6s %6s %5s %7s %-8s %10s %-11s", c->name,
                   c->device, fp, "no", "-", "-", "-", "-", "-", "-", "-", "-", "-");
        } else {
            printf("%-20s %6u %-16s %-7s %-3s %6u %6u %6u %5u %7zu %-8s %10llu %-11s", c->name,
                   c->device, fp, "yes", s->header_encryption ? "on" : "off", s->send_count,
                   s->recv_count, s->prev_send_count, s->dh_steps, s->skipped_keys,
                   yes_no(s->awaiting_reply), (unsigned long long)c->generation,
                   yes_no(c->rolled_back));
        }
        printf(" %8llu %5zu %s\n", (unsigned long long)c->rotation_seq, c->grace_sessions, ofp);
    }
}

static void print_json(const status_facts *f, const rbx_contact_info *cs, size_t n, int64_t now)
{
    char b64[RBX_KEY_B64BYTES], fp[RBX_FINGERPRINT_HEXBYTES];
    const rbx_prekey_stats *ps = &f->ps;
    int strict = f->pol.storage_mode == RBX_STORE_STRICT;
    rbx_key_to_base64(b64, f->me);
    rbx_fingerprint(fp, f->me);
    cli_jbegin(stdout);
    cli_jkey(stdout, "identity");
    printf("{\"public_key\":\"%s\",\"fingerprint\":\"%s\",\"rotations\":%zu}", b64, fp,
           f->rotations);
    cli_jkey(stdout, "storage");
    fputs("{\"path\":", stdout);
    cli_json_str(stdout, cli_db_path());
    printf(",\"mode\":\"%s\",\"erase_commits\":%u,\"erase_seconds\":%u",
           strict ? "strict" : "bounded", strict ? 1U : RBX_STORE_ERASE_COMMITS,
           strict ? 0U : RBX_STORE_ERASE_SECONDS);
    cli_jstr(stdout, "key_source", f->key_source);
    if (cli_key_path()[0]) cli_jstr(stdout, "key_file", cli_key_path());
    else cli_jnull(stdout, "key_file");
    cli_jstr(stdout, "generation_file", cli_gen_path());
    cli_jbool(stdout, "generation_beside_database", f->gen_beside);
    cli_jbool(stdout, "key_beside_database", f->key_beside);
    cli_jbool(stdout, "nobackup_marker", f->nobackup);
    fputc('}', stdout);
    cli_jkey(stdout, "prekeys");
    printf("{\"signed_prekey_id\":%u,\"signed_prekey_created\":", ps->signed_prekey_id);
    if (ps->signed_prekey_id) cli_jtime_value(stdout, ps->signed_prekey_created);
    else fputs("null", stdout);
    printf(",\"signed_prekey_age_seconds\":%lld,"
           "\"signed_prekey_rotate_seconds\":%llu,\"signed_prekey_max_age_seconds\":%llu,"
           "\"onetime_unoffered\":%zu,\"onetime_offered\":%zu,\"onetime_consumed\":%zu}",
           ps->signed_prekey_id ? (long long)(now - ps->signed_prekey_created) : -1LL,
           (unsigned long long)f->pol.spk_rotate, (unsigned long long)f->pol.spk_max_age,
           ps->onetime_unoffered, ps->onetime_outstanding, ps->onetime_consumed);
    cli_jkey(stdout, "contacts");
    fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
        const rbx_contact_info *c = &cs[i];
        const rbx_session_info *s = &c->session;
        rbx_fingerprint(fp, c->identity);
        fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
        cli_json_str(stdout, c->name);
        printf(",\"device\":%u,\"fingerprint\":\"%s\",\"rotation_sequence\":%llu,"
               "\"grace_sessions\":%zu,\"bundle\":%s",
               c->device, fp, (unsigned long long)c->rotation_seq, c->grace_sessions,
               jbool(c->has_bundle));
        if (c->has_org) {
            char ob64[RBX_KEY_B64BYTES];
            rbx_key_to_base64(ob64, c->org);
            printf(",\"org\":\"%s\"", ob64);
        } else {
            fputs(",\"org\":null", stdout);
        }
        printf(",\"session\":%s", jbool(c->has_session));
        /* Every member always there (null without a session): stable. */
        if (c->has_session)
            printf(",\"initiator\":%s,\"header_encryption\":%s,\"send\":%u,\"recv\":%u,\"prev\":%u,"
                   "\"dh_steps\":%u,\"skipped_keys\":%zu,\"skipped_chains\":%zu,"
                   "\"awaiting_reply\":%s,\"generation\":%llu,\"rolled_back\":%s",
                   jbool(s->initiator), jbool(s->header_encryption), s->send_count, s->recv_count,
                   s->prev_send_count, s->dh_steps, s->skipped_keys, s->skipped_chains,
                   jbool(s->awaiting_reply), (unsigned long long)c->generation,
                   jbool(c->rolled_back));
        else
            fputs(",\"initiator\":null,\"header_encryption\":null,\"send\":null,\"recv\":null,"
                  "\"prev\":null,\"dh_steps\":null,\"skipped_keys\":null,\"skipped_chains\":null,"
                  "\"awaiting_reply\":null,\"generation\":null,\"rolled_back\":null", stdout);
        fputs("}", stdout);
    }
    fputc(']', stdout);
    cli_jend(stdout);
}

int status_main(int argc, char **argv)
{
    int json, ec = cli_json_only(argc, argv, "status", status_usage, &json);
    if (ec >= 0) return ec;
    rbx_store *st;
    status_facts f;
    rbx_contact_info *cs = NULL;
    size_t n = 0;
    if ((ec = cli_open_store(&st, "status", 0)) != CLI_OK) return ec;
    if ((ec = cli_identity(st, "status", f.me)) != CLI_OK) goto out;
    int rc = rbx_store_prekey_stats(st, &f.ps);
    if (rc == 0) rc = rbx_store_rotations(st, NULL, 0, NULL, 0, &f.rotations);
    if (rc == 0) rc = rbx_store_policy(st, &f.pol);
    if (rc == 0) rc = cli_contacts(st, &cs, &n);
    if (rc != 0) {
        ec = cli_fail("status", NULL, rc);
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    where_secrets(&f);
    warn_secrets(&f);
    if (json) print_json(&f, cs, n, now);
    else print_text(&f, cs, n, now);
    ec = cli_flush_stdout("status");
out:
    free(cs);
    cli_close_store(st, "status");
    return ec;
}
