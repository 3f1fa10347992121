/* SPDX-License-Identifier: MIT
 * Helpers shared by the rbx subcommands: errors and exit codes, the state
 * directory, bounded input, base64, JSON strings, a line reader. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <getopt.h>

#include "cli.h"

#define READ_CHUNK 65536U
/* A state file's path (the database's and a suffix), and a message that
 * names up to two of them. */
#define FILE_CAP (PATH_MAX + 16)
#define TEXT_CAP (2 * FILE_CAP + 256)

void cli_verr(const char *verb, const char *fmt, va_list ap)
{
    if (cli_json_mode) {
        cli_json_record_error(verb, fmt, ap);
        return;
    }
    fputs("rbx: ", stderr);
    if (verb != NULL) fprintf(stderr, "%s: ", verb);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_err(const char *verb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verr(verb, fmt, ap);
    va_end(ap);
}

void cli_warn(const char *verb, const char *fmt, ...)
{
    va_list ap;
    if (cli_json_mode) {
        char msg[1024];
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        fputs("{\"warning\":{\"message\":", stderr);
        cli_json_str(stderr, msg);
        fprintf(stderr, "},\"version\":%d}\n", CLI_JSON_VERSION);
        return;
    }
    fprintf(stderr, "rbx: %s: warning: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exit_code(int rc)
{
    switch (rc) {
    case RBX_OK:
        return CLI_OK;
    case RBX_E_INVALID:
        return CLI_USAGE;
    case RBX_E_MALFORMED:
    case RBX_E_VERSION:
    case RBX_E_AUTH:
    case RBX_E_SIGNATURE:
    case RBX_E_KEY:
    case RBX_E_UNKNOWN_PREKEY:
    case RBX_E_PREKEY_REUSED:
    case RBX_E_IDENTITY_CHANGED:
    case RBX_E_REPLAY:
    case RBX_E_LIMIT:
    case RBX_E_TOO_BIG:
    case RBX_E_STATE:
    case RBX_E_CHAIN:
    case RBX_E_STALE:
    case RBX_E_UNCERTIFIED:
    case RBX_E_REVOKED:
    case RBX_E_EXPIRED:
    case RBX_E_POLICY:
        return CLI_DATAERR;
    case RBX_E_NOT_FOUND:
        return CLI_NOINPUT;
    case RBX_E_EXISTS:
        return CLI_CANTCREAT;
    case RBX_E_IO:
    case RBX_E_CORRUPT:
    case RBX_E_STORAGE_KEY:
    case RBX_E_SCHEMA:
    case RBX_E_ROLLBACK:
    case RBX_E_TAMPERED:
        return CLI_IOERR;
    case RBX_E_UNSAFE:
        return CLI_NOPERM;
    default: /* RBX_E_NOMEM, RBX_E_BUFFER */
        return CLI_SOFTWARE;
    }
}

/* ------------------------------------------------------------ state directory */

static char db_path[PATH_MAX];
/* The store cli_open_store opened (until cli_close_store), whose storage
 * errors cli_fail explains. */
static rbx_store *open_store;

const char *cli_db_path(void)
{
    return db_path;
}

const char *cli_key_file, *cli_key_command, *cli_gen_file;
int cli_key_fd = -1;
static char gen_path[FILE_CAP], key_path[FILE_CAP];

const char *cli_gen_path(void)
{
    return gen_path;
}

const char *cli_key_path(void)
{
    return key_path;
}

/* The path of one of the store's files (rbx_io_error.file). */
static const char *file_path(char out[FILE_CAP], int file)
{
    if (file == RBX_FILE_DIRECTORY) snprintf(out, FILE_CAP, "%.*s", PATH_MAX - 1, cli_dir);
    else if (file == RBX_FILE_KEY && key_path[0] == '\0')
        snprintf(out, FILE_CAP, "%s", cli_key_command != NULL ? "the key command's output" : "the key descriptor");
    else snprintf(out, FILE_CAP, "%s", file == RBX_FILE_KEY ? key_path
                                     : file == RBX_FILE_GENERATION ? gen_path : db_path);
    return out;
}

/* ------------------------------------------------------------ the storage key's source */

/* The key read from a descriptor or a command, once per process (a
 * descriptor can be read once), wiped at exit. */
static uint8_t source_key[RBX_STORAGE_KEYBYTES];
static int source_loaded;

static void wipe_source_key(void)
{
    sodium_memzero(source_key, sizeof source_key);
}

/* 32 raw bytes, or their standard base64 (44 characters) and an optional
 * newline: a keychain helper prints text. */
static int key_from_bytes(uint8_t key[32], const uint8_t *b, size_t n)
{
    size_t got;
    if (n == 32) {
        memcpy(key, b, 32);
        return 0;
    }
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r')) n--;
    if (n != 44) return -1;
    return cli_b64_decode(key, 32, &got, (const char *)b, n) == 0 && got == 32 ? 0 : -1;
}

/* Read at most cap bytes (a few more tell "too long") from fd to its end. */
static ssize_t read_to_end(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* The storage key from --key-fd or --key-command into source_key. Returns
 * an exit code, having reported: 66 no key (an empty descriptor or output),
 * 65 not a key, 74 a read error or a command that failed. */
static int load_source_key(const char *verb)
{
    uint8_t buf[128];
    ssize_t n;
    int ec = CLI_OK;
    if (source_loaded) return CLI_OK;
    if (cli_key_command != NULL) {
        fflush(NULL); /* nothing of ours is written twice by the child */
        FILE *f = popen(cli_key_command, "r");
        if (f == NULL) {
            cli_err(verb, "cannot run the key command: %s", strerror(errno));
            return CLI_IOERR;
        }
        n = read_to_end(fileno(f), buf, sizeof buf);
        int st = pclose(f);
        if (n < 0 || st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (n >= 0) sodium_memzero(buf, (size_t)n);
            cli_err(verb, "the key command failed (%s %d); no storage key",
                    st != -1 && WIFEXITED(st) ? "exit status" : "signal or error",
                    st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : st != -1 && WIFSIGNALED(st) ? WTERMSIG(st) : -1);
            return CLI_IOERR;
        }
    } else {
        n = read_to_end(cli_key_fd, buf, sizeof buf);
        if (n < 0) {
            cli_err(verb, "cannot read the storage key from descriptor %d: %s", cli_key_fd,
                    strerror(errno));
            return CLI_IOERR;
        }
    }
    if (n == 0) {
        cli_err(verb, "no storage key from %s (empty)",
                cli_key_command != NULL ? "the key command" : "the key descriptor");
        ec = CLI_NOINPUT;
    } else if (key_from_bytes(source_key, buf, (size_t)n) != 0) {
        cli_err(verb, "%s is not a storage key (32 bytes, or their base64)",
                cli_key_command != NULL ? "the key command's output" : "the key descriptor's content");
        ec = CLI_DATAERR;
    } else {
        source_loaded = 1;
        atexit(wipe_source_key);
    }
    sodium_memzero(buf, sizeof buf);
    return ec;
}

void cli_io_text(char *out, size_t cap, const rbx_io_error *e)
{
    char p[FILE_CAP];
    if (e->file == 0 && e->os_error == 0 && e->op == NULL) {
        if (cap > 0) out[0] = '\0';
        return;
    }
    snprintf(out, cap, "%s%s%s%s%s", e->file ? file_path(p, e->file) : db_path,
             e->op ? ": " : "", e->op ? e->op : "", e->os_error ? ": " : "",
             e->os_error ? strerror(e->os_error) : "");
}

int cli_fail(const char *verb, const char *what, int rc)
{
    char detail[TEXT_CAP] = "";
    rbx_io_error e;
    char p[FILE_CAP] = "";
    if ((rc == RBX_E_IO || rc == RBX_E_CORRUPT) && open_store != NULL &&
        rbx_store_io_error(open_store, &e)) {
        cli_io_text(detail, sizeof detail, &e);
        file_path(p, e.file ? e.file : RBX_FILE_DATABASE);
    }
    cli_err_context(rc, p);
    cli_err(verb, "%s%s%s%s%s", what ? what : "", what ? ": " : "", rbx_strerror(rc),
            *detail ? ": " : "", detail);
    return cli_exit_code(rc);
}

/* Make the name of p durable in its parent directory. */
static int sync_parent(char *p, size_t n)
{
    size_t i = n;
    while (i > 0 && p[i - 1] != '/') i--;
    char c = p[i];
    p[i] = '\0';
    int fd = open(i == 0 ? "." : p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    p[i] = c;
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* mkdir -p with 0700 for every directory it makes, each synced into its
 * parent: an identity that init reports must survive a power cut. */
static int make_dirs(const char *dir)
{
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) == 0) {
            if (sync_parent(p, i) != 0) return -1;
        } else if (errno != EEXIST) {
            return -1;
        }
        p[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) return -1;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* A refused state file, in words: what is wrong and how to put it right. */
static void unsafe_text(char *out, size_t cap, const rbx_io_error *e)
{
    char p[FILE_CAP];
    struct stat sb;
    int dir = e->file == RBX_FILE_DIRECTORY;
    file_path(p, e->file ? e->file : RBX_FILE_DATABASE);
    int have = lstat(p, &sb) == 0;
    if (e->op != NULL && strcmp(e->op, "mode") == 0 && have)
        snprintf(out, cap, "%s: mode %04o lets other users %s it (chmod %s %s)", p,
                 (unsigned)(sb.st_mode & 07777), dir ? "change files in" : "read or change",
                 dir ? "700" : "600", p);
    else if (e->op != NULL && strcmp(e->op, "owner") == 0 && have)
        snprintf(out, cap, "%s: owned by uid %u, not by uid %u", p, (unsigned)sb.st_uid,
                 (unsigned)geteuid());
    else if (e->op != NULL && strcmp(e->op, "type") == 0)
        snprintf(out, cap, "%s: not a regular file (a symlink, FIFO, directory or device)", p);
    else
        snprintf(out, cap, "%s: not safe to use", p);
}

int cli_open_store(rbx_store **st, const char *verb, int mode)
{
    int create = mode == CLI_STORE_CREATE;
    *st = NULL;
    int n = snprintf(db_path, sizeof db_path, "%s/state.db", cli_dir);
    if (n < 0 || (size_t)n >= sizeof db_path) {
        cli_err(verb, "state directory path too long");
        return CLI_USAGE;
    }
    if (create && make_dirs(cli_dir) != 0) {
        cli_err(verb, "cannot create %s: %s", cli_dir, strerror(errno));
        return CLI_CANTCREAT;
    }
    rbx_store_opts o = { 0 };
    rbx_io_error e;
    char p[FILE_CAP], detail[TEXT_CAP];
    o.create = create;
    o.error = &e;
    snprintf(gen_path, sizeof gen_path, "%s", cli_gen_file != NULL ? cli_gen_file : "");
    if (cli_gen_file == NULL) snprintf(gen_path, sizeof gen_path, "%s.gen", db_path);
    else o.generation_path = cli_gen_file;
    key_path[0] = '\0';
    if (cli_key_command != NULL || cli_key_fd >= 0) {
        int ec = load_source_key(verb);
        if (ec != CLI_OK) return ec;
        o.storage_key = source_key;
    } else if (cli_key_file != NULL) {
        snprintf(key_path, sizeof key_path, "%s", cli_key_file);
        o.key_path = cli_key_file;
    } else {
        snprintf(key_path, sizeof key_path, "%s.key", db_path);
    }
    int rc = rbx_store_open(st, db_path, &o);
    if (rc == 0) {
        open_store = *st;
        return CLI_OK;
    }
    file_path(p, e.file ? e.file : RBX_FILE_DATABASE);
    cli_err_context(rc, p);
    switch (rc) {
    case RBX_E_NOT_FOUND:
        if (e.file != RBX_FILE_KEY)
            return mode == CLI_STORE_ADMIN ? cli_no_org_key(verb) : cli_no_identity(verb);
        cli_err(verb, "%s: %s: %s has no storage key (restore the key file; or remove %s* "
                "to start over, which loses the identity)", p, strerror(e.os_error ? e.os_error : ENOENT),
                db_path, db_path);
        return CLI_NOINPUT;
    case RBX_E_EXISTS:
        cli_err(verb, "%s exists without its database %s; refusing to replace it (restore the "
                "database, or remove the key file to start over)", p, db_path);
        return CLI_CANTCREAT;
    case RBX_E_UNSAFE:
        unsafe_text(detail, sizeof detail, &e);
        cli_err(verb, "refusing to use %s", detail);
        return CLI_NOPERM;
    case RBX_E_CORRUPT:
        if (e.file == RBX_FILE_GENERATION)
            cli_err(verb, "cannot open %s: damaged generation record (it does not verify under "
                    "the storage key)", p);
        else if (e.file == RBX_FILE_KEY)
            cli_err(verb, "cannot open %s: not a storage key (it must hold exactly 32 bytes)", p);
        else
            cli_err(verb, "cannot open %s: database damaged or tampered with, or not a "
                    "ratchetbox database", p);
        return CLI_IOERR;
    case RBX_E_STORAGE_KEY:
        cli_err(verb, "cannot open %s: wrong storage key (%s does not open it)", db_path,
                file_path(p, RBX_FILE_KEY));
        return CLI_IOERR;
    case RBX_E_IO:
        cli_io_text(detail, sizeof detail, &e);
        cli_err(verb, "cannot %s %s: %s", create ? "create or open" : "open", db_path,
                *detail ? detail : rbx_strerror(rc));
        return CLI_IOERR;
    default:
        cli_err(verb, "cannot open %s: %s", db_path, rbx_strerror(rc));
        return cli_exit_code(rc);
    }
}

void cli_close_store(rbx_store *st, const char *verb)
{
    if (st == NULL) return;
    rbx_io_error e;
    char detail[TEXT_CAP];
    if (rbx_store_deferred(st, NULL) != 0) {
        int rc = rbx_store_erase_now(st); /* its outcome is rbx_store_deferred's */
        (void)rc;
    }
    unsigned d = rbx_store_deferred(st, &e);
    if (d != 0) {
        cli_io_text(detail, sizeof detail, &e);
        cli_warn(verb, "%s%s%s failed after the change was committed (%s); retried at the next "
                 "command", d & RBX_DEFERRED_ERASE ? "erasing earlier versions of the state" : "",
                 d == (RBX_DEFERRED_ERASE | RBX_DEFERRED_RECORD) ? " and " : "",
                 d & RBX_DEFERRED_RECORD ? "raising the generation record" : "",
                 *detail ? detail : "storage error");
    }
    rbx_store_close(st);
    if (open_store == st) open_store = NULL;
}

int cli_no_identity(const char *verb)
{
    cli_err(verb, "no identity in %s: run rbx init", cli_dir);
    return CLI_NOINPUT;
}

int cli_no_org_key(const char *verb)
{
    cli_err(verb, "no organisation key in %s: run rbx org init on the administrator's device",
            cli_dir);
    return CLI_NOINPUT;
}

int cli_identity(rbx_store *st, const char *verb, uint8_t pk[RBX_PUBLICKEYBYTES])
{
    int rc = rbx_store_identity(st, pk);
    if (rc == RBX_E_NOT_FOUND) return cli_no_identity(verb);
    return rc != 0 ? cli_fail(verb, NULL, rc) : CLI_OK;
}

int cli_contacts(rbx_store *st, rbx_contact_info **out, size_t *n)
{
    rbx_contact_info *cs = NULL;
    size_t cap = 0;
    int rc;
    /* Size, then fill; a contact added in between is picked up by the retry. */
    while ((rc = rbx_store_contacts(st, cs, cap, n)) == 0 && *n > cap) {
        free(cs);
        cap = *n + 4;
        if ((cs = calloc(cap, sizeof *cs)) == NULL) {
            rc = RBX_E_NOMEM;
            break;
        }
    }
    if (rc != 0) {
        free(cs);
        cs = NULL;
        *n = 0;
    }
    *out = cs;
    return rc;
}

int cli_find_contact(rbx_store *st, rbx_contact_info *out, const char *name, uint32_t device)
{
    rbx_contact_info *cs;
    size_t n;
    int found = 0, rc = cli_contacts(st, &cs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (cs[i].device != device || strcmp(cs[i].name, name) != 0) continue;
        *out = cs[i];
        found = 1;
        break;
    }
    free(cs);
    return rc != 0 ? rc : found;
}

/* ------------------------------------------------------------ input */

int cli_open_input(const char *verb, const char *path, int *fd)
{
    if (path == NULL || strcmp(path, "-") == 0) {
        *fd = STDIN_FILENO;
        return CLI_OK;
    }
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd >= 0) return CLI_OK;
    cli_err(verb, "%s: %s", path, strerror(errno));
    return errno == ENOENT || errno == ENOTDIR ? CLI_NOINPUT : CLI_IOERR;
}

/* read(2), not stdio: a key file's bytes are in no buffer but ours, which
 * the caller wipes. */
int cli_read_all(const char *verb, const char *path, uint8_t **buf, size_t *len, size_t cap)
{
    int fd, ec = cli_open_input(verb, path, &fd);
    size_t n = 0, bufcap = cap < READ_CHUNK ? cap + 2 : READ_CHUNK;
    uint8_t *b = NULL;
    *buf = NULL;
    *len = 0;
    if (ec != CLI_OK) return ec;
    if ((b = malloc(bufcap)) == NULL) {
        ec = cli_fail(verb, NULL, RBX_E_NOMEM);
        goto out;
    }
    for (;;) {
        if (n + 1 >= bufcap) { /* keep room for one byte past cap and a NUL */
            size_t nc = bufcap * 2 > cap + 2 ? cap + 2 : bufcap * 2;
            uint8_t *nb = malloc(nc);
            if (nb == NULL) {
                ec = cli_fail(verb, NULL, RBX_E_NOMEM);
                goto out;
            }
            memcpy(nb, b, n);
            sodium_memzero(b, bufcap);
            free(b);
            b = nb;
            bufcap = nc;
        }
        ssize_t r = read(fd, b + n, bufcap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            cli_err(verb, "read %s: %s", path ? path : "stdin", strerror(errno));
            ec = CLI_IOERR;
            goto out;
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > cap) {
            cli_err(verb, "input larger than %zu bytes", cap);
            ec = CLI_DATAERR;
            goto out;
        }
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    b = NULL;
out:
    if (b != NULL) {
        sodium_memzero(b, bufcap);
        free(b);
    }
    if (fd != STDIN_FILENO) close(fd);
    return ec;
}

/* ------------------------------------------------------------ encodings */

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int cli_is_blank(const void *line, size_t len)
{
    const uint8_t *p = line;
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return 0;
    return 1;
}

int cli_b64_decode(uint8_t *out, size_t outcap, size_t *outlen, const char *in, size_t inlen)
{
    const char *end;
    *outlen = 0;
    while (inlen > 0 && is_space((uint8_t)in[0])) in++, inlen--;
    while (inlen > 0 && is_space((uint8_t)in[inlen - 1])) inlen--;
    if (inlen == 0 || inlen % 4 != 0) return RBX_E_MALFORMED;
    if (inlen / 4 * 3 - (in[inlen - 1] == '=') - (in[inlen - 2] == '=') > outcap) return RBX_E_TOO_BIG;
    if (sodium_base642bin(out, outcap, in, inlen, NULL, outlen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != in + inlen) {
        *outlen = 0;
        return RBX_E_MALFORMED;
    }
    return 0;
}

int cli_read_b64(const char *verb, const char *what, const char *path, uint8_t *out,
                 size_t outcap, size_t *outlen)
{
    uint8_t *text;
    size_t textlen;
    /* base64 of outcap bytes plus slack for CR/LF and spaces */
    int ec = cli_read_all(verb, path, &text, &textlen, CLI_B64LEN(outcap) + 16);
    if (ec != CLI_OK) return ec;
    int rc = cli_b64_decode(out, outcap, outlen, (const char *)text, textlen);
    free(text);
    if (rc != 0) {
        cli_err(verb, "%s: %s", what, rc == RBX_E_TOO_BIG ? "too long" : "not one line of base64");
        return CLI_DATAERR;
    }
    return CLI_OK;
}

char *cli_b64_encode(const uint8_t *in, size_t len)
{
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    if (s != NULL) sodium_bin2base64(s, n, in, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

void cli_json_strn(FILE *f, const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

void cli_json_str(FILE *f, const char *s)
{
    cli_json_strn(f, (const uint8_t *)s, strlen(s));
}

int cli_parse_u32(uint32_t *out, const char *s, uint32_t min, uint32_t max)
{
    char *end;
    if (s[0] < '0' || s[0] > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) return -1;
    *out = (uint32_t)v;
    return 0;
}

static void time_fmt(char out[CLI_TIME_CHARS], int64_t t, int iso)
{
    time_t tt = (time_t)t;
    struct tm tm;
    size_t n = 0;
    if ((int64_t)tt == t && gmtime_r(&tt, &tm) != NULL)
        n = iso ? strftime(out, CLI_TIME_CHARS, "%Y-%m-%dT%H:%M:%SZ", &tm)
                : strftime(out, CLI_TIME_CHARS, "%Y-%m-%d %H:%M UTC", &tm);
    if (n == 0) snprintf(out, CLI_TIME_CHARS, "@%lld", (long long)t);
}

void cli_time_str(char out[CLI_TIME_CHARS], int64_t t)
{
    time_fmt(out, t, 0);
}

void cli_time_iso(char out[CLI_TIME_CHARS], int64_t t)
{
    time_fmt(out, t, 1);
}

void cli_usage_err(const char *usage)
{
    if (!cli_json_mode) fputs(usage, stderr);
}

int cli_flush_stdout(const char *verb)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err(verb, "cannot write output: %s", strerror(errno));
        return CLI_IOERR;
    }
    return CLI_OK;
}

/* ------------------------------------------------------------ line reader */

int cli_lines_init(cli_lines *r, int fd, size_t maxline)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->cap = maxline + 1 + READ_CHUNK;
    r->buf = malloc(r->cap);
    return r->buf != NULL ? 0 : RBX_E_NOMEM;
}

void cli_lines_free(cli_lines *r)
{
    if (r->buf != NULL) sodium_memzero(r->buf, r->cap);
    free(r->buf);
    r->buf = NULL;
}

int cli_lines_next(cli_lines *r, const uint8_t **line, size_t *len)
{
    size_t maxline = r->cap - 1 - READ_CHUNK;
    for (;;) {
        uint8_t *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl != NULL || (r->eof && r->start < r->end)) {
            size_t n = nl != NULL ? (size_t)(nl - (r->buf + r->start)) : r->end - r->start;
            *line = r->buf + r->start;
            *len = n;
            r->start += n + (nl != NULL);
            r->lineno++;
            return n > maxline ? RBX_E_TOO_BIG : 1;
        }
        if (r->eof) return 0;
        if (r->end - r->start > maxline) {
            r->lineno++;
            return RBX_E_TOO_BIG;
        }
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return RBX_E_IO;
        if (got == 0) r->eof = 1;
        r->end += (size_t)got;
    }
}

int cli_lines_pending(cli_lines *r)
{
    if (r->eof || memchr(r->buf + r->start, '\n', r->end - r->start) != NULL) return 1;
    struct pollfd p = { .fd = r->fd, .events = POLLIN };
    return poll(&p, 1, 0) > 0;
}

int cli_getopt(int argc, char **argv, const struct option *opts, const char *verb,
               const char *usage, int *ec)
{
    opterr = 0; /* reported here, with the verb */
    int c = getopt_long(argc, argv, "", opts, NULL);
    *ec = CLI_OK;
    if (c == 'h') {
        fputs(usage, stdout);
        *ec = cli_flush_stdout(verb);
        return 0;
    }
    if (c == '?') {
        cli_err(verb, "bad option '%s'", argv[optind - 1]);
        cli_usage_err(usage);
        *ec = CLI_USAGE;
        return 0;
    }
    return c;
}

int cli_json_only(int argc, char **argv, const char *verb, const char *usage, int *json)
{
    static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    int c, ec;
    *json = 0;
    while ((c = cli_getopt(argc, argv, opts, verb, usage, &ec)) != -1) {
        if (c != 'j') return ec; /* --help, or a bad option */
        *json = 1;
    }
    if (optind != argc) {
        cli_err(verb, "unexpected argument '%s'", argv[optind]);
        return CLI_USAGE;
    }
    return -1;
}
