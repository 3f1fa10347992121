/* SPDX-License-Identifier: MIT
 * rbx --json (PROTOCOL.md 22, spec/json/): every object printed starts with
 * "version", numbers are JSON numbers, a time is an object with both its
 * Unix seconds and its RFC 3339 text, and an error is one object on stderr,
 * printed when the verb returns (main), with the exit status unchanged.
 * Hand-written rather than jansson's json_dumps: output goes out as it is
 * made (--stream), and a plaintext never sits in a second buffer that would
 * have to be wiped. */
#include <stdarg.h>
#include <string.h>

#include "cli.h"

int cli_json_mode;

static const char *const rbx_names[RBX_E_COUNT_] = {
    "RBX_OK", "RBX_E_INVALID", "RBX_E_NOMEM", "RBX_E_MALFORMED", "RBX_E_VERSION",
    "RBX_E_AUTH", "RBX_E_SIGNATURE", "RBX_E_KEY", "RBX_E_UNKNOWN_PREKEY",
    "RBX_E_PREKEY_REUSED", "RBX_E_IDENTITY_CHANGED", "RBX_E_REPLAY", "RBX_E_LIMIT",
    "RBX_E_TOO_BIG", "RBX_E_BUFFER", "RBX_E_STATE", "RBX_E_IO", "RBX_E_CORRUPT",
    "RBX_E_STORAGE_KEY", "RBX_E_SCHEMA", "RBX_E_ROLLBACK", "RBX_E_EXISTS", "RBX_E_NOT_FOUND",
    "RBX_E_CHAIN", "RBX_E_STALE", "RBX_E_UNCERTIFIED", "RBX_E_REVOKED", "RBX_E_EXPIRED",
    "RBX_E_POLICY", "RBX_E_TAMPERED", "RBX_E_UNSAFE",
};
_Static_assert(sizeof rbx_names / sizeof rbx_names[0] == RBX_E_COUNT_,
               "one name per RBX_E_* code");

/* The first error of the run (the cause; later ones follow from it). */
static struct {
    int have;
    int code;                     /* RBX_E_*, 0: none behind the error */
    char message[1024];
    char file[4096 + 16];
} pending;
static int next_code;             /* the code cli_fail passes to the next error */
static char next_file[sizeof pending.file];

const char *cli_code_name(int rc)
{
    return rc <= 0 && -rc < RBX_E_COUNT_ ? rbx_names[-rc] : "RBX_E_UNKNOWN";
}

static const char *exit_name(int ec)
{
    switch (ec) {
    case CLI_USAGE: return "EX_USAGE";
    case CLI_DATAERR: return "EX_DATAERR";
    case CLI_NOINPUT: return "EX_NOINPUT";
    case CLI_SOFTWARE: return "EX_SOFTWARE";
    case CLI_CANTCREAT: return "EX_CANTCREAT";
    case CLI_IOERR: return "EX_IOERR";
    case CLI_NOPERM: return "EX_NOPERM";
    default: return "EX_ERROR";
    }
}

void cli_err_context(int rc, const char *file)
{
    next_code = rc;
    snprintf(next_file, sizeof next_file, "%s", file != NULL ? file : "");
}

void cli_json_record_error(const char *verb, const char *fmt, va_list ap)
{
    if (pending.have) {
        next_code = 0;
        next_file[0] = '\0';
        return;
    }
    int n = verb != NULL ? snprintf(pending.message, sizeof pending.message, "%s: ", verb) : 0;
    if (n < 0 || (size_t)n >= sizeof pending.message) n = 0;
    vsnprintf(pending.message + n, sizeof pending.message - (size_t)n, fmt, ap);
    pending.code = next_code;
    memcpy(pending.file, next_file, sizeof pending.file);
    pending.have = 1;
    next_code = 0;
    next_file[0] = '\0';
}

void cli_json_flush_error(int ec)
{
    if (ec == CLI_OK) { /* a verb that succeeded: what it said was news, not an error */
        pending.have = 0;
        return;
    }
    if (!pending.have) snprintf(pending.message, sizeof pending.message, "failed");
    fputs("{\"error\":{\"code\":", stderr);
    fprintf(stderr, "%d,\"name\":", pending.code);
    cli_json_str(stderr, pending.code != 0 ? cli_code_name(pending.code) : exit_name(ec));
    fputs(",\"message\":", stderr);
    cli_json_str(stderr, pending.message);
    if (pending.file[0] != '\0') {
        fputs(",\"file\":", stderr);
        cli_json_str(stderr, pending.file);
    }
    fprintf(stderr, ",\"exit\":%d},\"version\":%d}\n", ec, CLI_JSON_VERSION);
    pending.have = 0;
}

void cli_jbegin(FILE *f)
{
    fprintf(f, "{\"version\":%d", CLI_JSON_VERSION);
}

void cli_jend(FILE *f)
{
    fputs("}\n", f);
}

void cli_jkey(FILE *f, const char *key)
{
    fputc(',', f);
    cli_json_str(f, key);
    fputc(':', f);
}

void cli_jstr(FILE *f, const char *key, const char *v)
{
    cli_jkey(f, key);
    cli_json_str(f, v);
}

void cli_jint(FILE *f, const char *key, long long v)
{
    cli_jkey(f, key);
    fprintf(f, "%lld", v);
}

void cli_juint(FILE *f, const char *key, unsigned long long v)
{
    cli_jkey(f, key);
    fprintf(f, "%llu", v);
}

void cli_jbool(FILE *f, const char *key, int v)
{
    cli_jkey(f, key);
    fputs(v ? "true" : "false", f);
}

void cli_jnull(FILE *f, const char *key)
{
    cli_jkey(f, key);
    fputs("null", f);
}

void cli_jtime_value(FILE *f, int64_t t)
{
    char iso[CLI_TIME_CHARS];
    cli_time_iso(iso, t);
    fprintf(f, "{\"unix\":%lld,\"rfc3339\":", (long long)t);
    if (iso[0] == '@') fputs("null", f); /* no calendar holds it */
    else cli_json_str(f, iso);
    fputc('}', f);
}

void cli_jtime(FILE *f, const char *key, int64_t t)
{
    cli_jkey(f, key);
    cli_jtime_value(f, t);
}

void cli_jpubkey(FILE *f, const char *key, const uint8_t pk[RBX_PUBLICKEYBYTES])
{
    char b64[RBX_KEY_B64BYTES], fp[RBX_FINGERPRINT_HEXBYTES];
    rbx_key_to_base64(b64, pk);
    rbx_fingerprint(fp, pk);
    cli_jkey(f, key);
    fprintf(f, "{\"public_key\":\"%s\",\"fingerprint\":\"%s\"}", b64, fp);
}

/* RFC 3629 well-formed UTF-8 (no overlong forms, no surrogates, at most
 * U+10FFFF), and no NUL. Hand-written: jansson's check (json_stringn)
 * would copy a plaintext into a buffer it frees without wiping. */
int cli_utf8_ok(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp, min;
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1fU, min = 0x80;
        else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0x0fU, min = 0x800;
        else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 0x07U, min = 0x10000;
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3fU);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += k + 1;
    }
    return 1;
}
