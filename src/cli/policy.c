/* SPDX-License-Identifier: MIT
 * rbx policy: show, set, load and reset the store's policy (rotation
 * intervals, grace window, retention, archive, storage mode, skipped-key
 * limits). Every change is all or nothing and is recorded in the audit log
 * by the library. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define POLICY_FILE_MAX 65536U
#define VALUE_MAX 32U
/* "FILE:LINE" for error text: the path as given (an open succeeded, so at
 * most PATH_MAX bytes) and a line number. */
#define WHERE_MAX (4096U + 24U)
#define DESCRIBE_MAX 128U

static const char policy_usage[] =
    "Usage: rbx policy [--json]                        show every key\n"
    "       rbx policy set KEY VALUE [KEY VALUE...]   change keys (all or nothing)\n"
    "       rbx policy load FILE|-                    replace the policy from a file\n"
    "       rbx policy defaults                       back to the defaults\n"
    "A policy file has one 'key = value' per line; '#' starts a comment; keys it\n"
    "does not name take their defaults. Times take a unit s, m, h or d (default s).\n"
    "Keys: spk_rotate, spk_max_age, spk_keep, onetime_low, onetime_batch,\n"
    "identity_grace, archive (on/off), archive_retention, storage_mode\n"
    "(bounded/strict), max_skip, max_skipped_keys. set, load and defaults print\n"
    "the resulting policy. --json: one object, each value as text.\n";

static void print_policy(const rbx_policy *p, int json)
{
    char v[VALUE_MAX];
    const char *k;
    if (json) fputc('{', stdout);
    for (size_t i = 0; (k = rbx_policy_key(i)) != NULL; i++) {
        if (rbx_policy_format(v, sizeof v, p, k) != 0) snprintf(v, sizeof v, "?");
        if (json) {
            if (i > 0) fputc(',', stdout);
            cli_json_str(stdout, k);
            fputc(':', stdout);
            cli_json_str(stdout, v);
        } else {
            printf("%s = %s\n", k, v);
        }
    }
    if (json) fputs("}\n", stdout);
}

/* "rbx: policy: [where: ]KEY: must be ... (got VALUE)", exit 65. */
static int bad_value(const char *where, const char *key, const char *value)
{
    char what[DESCRIBE_MAX];
    if (rbx_policy_describe(what, sizeof what, key) != 0) snprintf(what, sizeof what, "valid");
    if (where != NULL) cli_err("policy", "%s: %s: must be %s (got '%s')", where, key, what, value);
    else cli_err("policy", "%s: must be %s (got '%s')", key, what, value);
    return CLI_DATAERR;
}

/* The whole policy against its relations; where names the line of the key
 * when it came from a file (lines[i] for key i, 0 if not there). */
static int check_whole(const rbx_policy *p, const char *file, const size_t *lines)
{
    const char *field;
    char v[VALUE_MAX], where[WHERE_MAX];
    if (rbx_policy_validate(p, &field) == 0) return CLI_OK;
    if (rbx_policy_format(v, sizeof v, p, field) != 0) snprintf(v, sizeof v, "?");
    const char *w = NULL;
    for (size_t i = 0; file != NULL && rbx_policy_key(i) != NULL; i++)
        if (strcmp(rbx_policy_key(i), field) == 0 && lines[i] != 0) {
            snprintf(where, sizeof where, "%s:%zu", file, lines[i]);
            w = where;
        }
    if (file != NULL && w == NULL) w = file;
    return bad_value(w, field, v);
}

static size_t key_index(const char *k)
{
    size_t i;
    for (i = 0; rbx_policy_key(i) != NULL; i++)
        if (strcmp(rbx_policy_key(i), k) == 0) break;
    return i;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

/* Parse a policy file into p (from the defaults). Returns an exit code,
 * having reported the first error with its line number. */
static int parse_file(rbx_policy *p, const char *name, char *text, size_t len, size_t *lines)
{
    size_t lineno = 0;
    char *line = text, *end = text + len;
    rbx_policy_default(p);
    if (memchr(text, '\0', len) != NULL) {
        cli_err("policy", "%s: not a text file", name);
        return CLI_DATAERR;
    }
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line)), where[WHERE_MAX];
        if (nl != NULL) *nl = '\0';
        lineno++;
        snprintf(where, sizeof where, "%s:%zu", name, lineno);
        char *hash = strchr(line, '#');
        if (hash != NULL) *hash = '\0';
        char *s = trim(line), *eq = strchr(s, '=');
        line = nl != NULL ? nl + 1 : end;
        if (*s == '\0') continue;
        if (eq == NULL) {
            cli_err("policy", "%s: expected 'key = value'", where);
            return CLI_DATAERR;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        for (char *c = k; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?'; /* reaches a terminal */
        size_t i = key_index(k);
        if (rbx_policy_key(i) == NULL) {
            cli_err("policy", "%s: unknown policy key '%.64s'", where, k);
            return CLI_DATAERR;
        }
        if (lines[i] != 0) {
            cli_err("policy", "%s: %s set again (first on line %zu)", where, k, lines[i]);
            return CLI_DATAERR;
        }
        lines[i] = lineno;
        for (char *c = v; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
        if (rbx_policy_set(p, k, v) != 0) {
            char shown[VALUE_MAX + 1];
            snprintf(shown, sizeof shown, "%s", v);
            return bad_value(where, k, shown);
        }
    }
    return CLI_OK;
}

/* Store p, print the result. */
static int store_and_print(rbx_store *st, const rbx_policy *p, int json)
{
    rbx_policy now;
    int rc = rbx_store_set_policy(st, p);
    if (rc == 0) rc = rbx_store_policy(st, &now);
    if (rc != 0) return cli_fail("policy", NULL, rc);
    print_policy(&now, json);
    return cli_flush_stdout("policy");
}

int policy_main(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 1, sizeof *args);
    size_t nargs = 0, lines[64] = { 0 };
    int json = 0, ec;
    rbx_store *st = NULL;
    rbx_policy p;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (args == NULL) return cli_fail("policy", NULL, RBX_E_NOMEM);
    /* Options anywhere; everything else is positional (a value may start
     * with '-' and is then refused as a value, not as an option). */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            free(args);
            fputs(policy_usage, stdout);
            return cli_flush_stdout("policy");
        } else if (strncmp(argv[i], "--", 2) == 0) {
            cli_err("policy", "bad option '%s'", argv[i]);
            fputs(policy_usage, stderr);
            free(args);
            return CLI_USAGE;
        } else {
            args[nargs++] = argv[i];
        }
    }
    const char *sub = nargs > 0 ? args[0] : "show";
    if (strcmp(sub, "show") == 0) {
        ec = nargs <= 1 ? CLI_OK : CLI_USAGE;
        if (ec != CLI_OK) cli_err("policy", "show takes no argument");
    } else if (strcmp(sub, "set") == 0) {
        ec = nargs >= 3 && nargs % 2 == 1 ? CLI_OK : CLI_USAGE;
        if (ec != CLI_OK) cli_err("policy", "set takes KEY VALUE pairs");
    } else if (strcmp(sub, "load") == 0) {
        ec = nargs == 2 ? CLI_OK : CLI_USAGE;
        if (ec != CLI_OK) cli_err("policy", "load takes one FILE or -");
    } else if (strcmp(sub, "defaults") == 0) {
        ec = nargs == 1 ? CLI_OK : CLI_USAGE;
        if (ec != CLI_OK) cli_err("policy", "defaults takes no argument");
    } else {
        cli_err("policy", "unknown subcommand '%s' (show, set, load, defaults)", sub);
        ec = CLI_USAGE;
    }
    if (ec != CLI_OK) goto out;

    /* Arguments and files are checked before the store is opened. */
    if (strcmp(sub, "set") == 0) {
        for (size_t i = 1; i < nargs; i += 2)
            if (rbx_policy_key(key_index(args[i])) == NULL) {
                cli_err("policy", "unknown policy key '%.64s'", args[i]);
                ec = CLI_USAGE;
                goto out;
            }
    } else if (strcmp(sub, "load") == 0) {
        if ((ec = cli_read_all("policy", args[1], &buf, &len, POLICY_FILE_MAX)) != CLI_OK) goto out;
        const char *name = strcmp(args[1], "-") == 0 ? "stdin" : args[1];
        if ((ec = parse_file(&p, name, (char *)buf, len, lines)) != CLI_OK ||
            (ec = check_whole(&p, name, lines)) != CLI_OK)
            goto out;
    } else if (strcmp(sub, "defaults") == 0) {
        rbx_policy_default(&p);
    }

    if ((ec = cli_open_store(&st, "policy", 0)) != CLI_OK) goto out;
    /* load and defaults have their whole policy already; show and set start
     * from the stored one. */
    int rc = 0;
    if (strcmp(sub, "show") == 0 || strcmp(sub, "set") == 0) rc = rbx_store_policy(st, &p);
    if (rc != 0) {
        ec = cli_fail("policy", NULL, rc);
        goto out;
    }
    if (strcmp(sub, "show") == 0) {
        print_policy(&p, json);
        ec = cli_flush_stdout("policy");
        goto out;
    }
    if (strcmp(sub, "set") == 0) {
        for (size_t i = 1; i < nargs; i += 2)
            if (rbx_policy_set(&p, args[i], args[i + 1]) != 0) {
                ec = bad_value(NULL, args[i], args[i + 1]);
                goto out;
            }
        if ((ec = check_whole(&p, NULL, NULL)) != CLI_OK) goto out;
    }
    ec = store_and_print(st, &p, json);
out:
    cli_close_store(st, "policy");
    free(buf); /* a policy holds no secret */
    free(args);
    return ec;
}
