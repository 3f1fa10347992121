/* SPDX-License-Identifier: MIT
 * rbx audit: the store's audit log (key created, rotated, prekeys
 * replenished, sessions, archive, rollback, policy changes...), and
 * --verify, which recomputes its hash chain against the sealed head. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char audit_usage[] =
    "Usage: rbx audit [--json] [--verify]\n"
    "List the audit log: sequence number, UTC time, event and detail, one event\n"
    "per line (--json: one object per event). Every event is checked against\n"
    "the hash chain as it is listed. --verify prints only the verdict:\n"
    "\"audit log: N events, chain verified\", or exits 65 naming the first event\n"
    "that does not verify, or saying that events were removed at the end.\n";

static int print_event(const rbx_audit_event *e, void *ctx)
{
    int json = *(const int *)ctx;
    char when[CLI_TIME_CHARS];
    cli_time_iso(when, e->time);
    if (json) {
        printf("{\"seq\":%llu,\"time\":\"%s\",\"unix_time\":%lld,\"event\":",
               (unsigned long long)e->seq, when, (long long)e->time);
        cli_json_str(stdout, e->event);
        fputs(",\"detail\":", stdout);
        cli_json_str(stdout, e->detail);
        fputs("}\n", stdout);
    } else {
        printf("%6llu  %s  %-20s  %s\n", (unsigned long long)e->seq, when, e->event, e->detail);
    }
    return 0;
}

/* Report a chain that does not verify (exit 65). */
static int broken(uint64_t count, uint64_t bad_seq, int json)
{
    if (json) {
        printf("{\"events\":%llu,\"verified\":false,\"bad_seq\":%llu,\"removed_at_end\":%s}\n",
               (unsigned long long)count, (unsigned long long)bad_seq,
               bad_seq == 0 ? "true" : "false");
        (void)cli_flush_stdout("audit");
    }
    if (bad_seq != 0)
        cli_err("audit", "audit log: chain broken at event %llu", (unsigned long long)bad_seq);
    else
        cli_err("audit", "audit log: %llu events, events removed at the end (or the sealed head is gone)",
                (unsigned long long)count);
    return CLI_DATAERR;
}

int audit_main(int argc, char **argv)
{
    static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                          { "verify", no_argument, NULL, 'v' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    int json = 0, verify = 0, c, ec;
    rbx_store *st;
    uint64_t count = 0, bad = 0;
    while ((c = cli_getopt(argc, argv, opts, "audit", audit_usage, &ec)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'v': verify = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (optind != argc) {
        cli_err("audit", "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    if ((ec = cli_open_store(&st, "audit", 0)) != CLI_OK) return ec;
    int rc = verify ? rbx_store_audit_verify(st, &count, &bad) : rbx_store_audit(st, print_event, &json);
    if (rc == RBX_E_CORRUPT) {
        /* Listed up to the break; name it. */
        if (!verify) rc = rbx_store_audit_verify(st, &count, &bad);
        ec = rc == RBX_E_CORRUPT ? broken(count, bad, verify && json) : cli_fail("audit", NULL, rc);
    } else if (rc != 0) {
        ec = cli_fail("audit", NULL, rc);
    } else {
        if (verify && json)
            printf("{\"events\":%llu,\"verified\":true}\n", (unsigned long long)count);
        else if (verify)
            printf("audit log: %llu events, chain verified\n", (unsigned long long)count);
        ec = cli_flush_stdout("audit");
    }
    cli_close_store(st, "audit");
    return ec;
}
