/* SPDX-License-Identifier: MIT
 * rbx status: identity, storage, prekeys, and every contact's session. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
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
} status_facts;

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
    printf("{\"identity\":{\"public_key\":\"%s\",\"fingerprint\":\"%s\",\"rotations\":%zu},", b64,
           fp, f->rotations);
    fputs("\"storage\":{\"path\":", stdout);
    cli_json_str(stdout, cli_db_path());
    printf(",\"mode\":\"%s\",\"erase_commits\":%u,\"erase_seconds\":%u},",
           strict ? "strict" : "bounded", strict ? 1U : RBX_STORE_ERASE_COMMITS,
           strict ? 0U : RBX_STORE_ERASE_SECONDS);
    printf("\"prekeys\":{\"signed_prekey_id\":%u,\"signed_prekey_age_seconds\":%lld,"
           "\"signed_prekey_rotate_seconds\":%llu,\"signed_prekey_max_age_seconds\":%llu,"
           "\"onetime_unoffered\":%zu,\"onetime_offered\":%zu,\"onetime_consumed\":%zu},",
           ps->signed_prekey_id,
           ps->signed_prekey_id ? (long long)(now - ps->signed_prekey_created) : -1LL,
           (unsigned long long)f->pol.spk_rotate, (unsigned long long)f->pol.spk_max_age,
           ps->onetime_unoffered, ps->onetime_outstanding, ps->onetime_consumed);
    fputs("\"contacts\":[", stdout);
    for (size_t i = 0; i < n; i++) {
        const rbx_contact_info *c = &cs[i];
        const rbx_session_info *s = &c->session;
        rbx_fingerprint(fp, c->identity);
        fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
        cli_json_str(stdout, c->name);
        printf(",\"device\":%u,\"fingerprint\":\"%s\",\"rotation_sequence\":%llu,"
               "\"grace_sessions\":%zu",
               c->device, fp, (unsigned long long)c->rotation_seq, c->grace_sessions);
        if (c->has_org) {
            char ob64[RBX_KEY_B64BYTES];
            rbx_key_to_base64(ob64, c->org);
            printf(",\"org\":\"%s\"", ob64);
        }
        printf(",\"session\":%s", jbool(c->has_session));
        if (c->has_session)
            printf(",\"initiator\":%s,\"header_encryption\":%s,\"send\":%u,\"recv\":%u,\"prev\":%u,"
                   "\"dh_steps\":%u,\"skipped_keys\":%zu,\"skipped_chains\":%zu,"
                   "\"awaiting_reply\":%s,\"generation\":%llu,\"rolled_back\":%s",
                   jbool(s->initiator), jbool(s->header_encryption), s->send_count, s->recv_count,
                   s->prev_send_count, s->dh_steps, s->skipped_keys, s->skipped_chains,
                   jbool(s->awaiting_reply), (unsigned long long)c->generation,
                   jbool(c->rolled_back));
        fputs("}", stdout);
    }
    fputs("]}\n", stdout);
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
    if (json) print_json(&f, cs, n, now);
    else print_text(&f, cs, n, now);
    ec = cli_flush_stdout("status");
out:
    free(cs);
    cli_close_store(st, "status");
    return ec;
}
