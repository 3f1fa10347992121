/* SPDX-License-Identifier: MIT
 * The rbx tool: one <verb>_main per subcommand (wireguard-tools `wg`), and the
 * few helpers they share (src/cli/util.c). Nothing here is library API. */
#ifndef RBX_CLI_H
#define RBX_CLI_H

#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ratchetbox.h"

/* Exit codes (sysexits.h), listed by `rbx help`. */
#define CLI_OK 0         /* EX_OK */
#define CLI_USAGE 64     /* EX_USAGE: bad command line, bad contact name */
#define CLI_DATAERR 65   /* EX_DATAERR: rejected or malformed message or bundle */
#define CLI_NOINPUT 66   /* EX_NOINPUT: missing file, unknown contact, no identity */
#define CLI_SOFTWARE 70  /* EX_SOFTWARE: internal error, out of memory */
#define CLI_CANTCREAT 73 /* EX_CANTCREAT: identity or contact exists, cannot create DIR */
#define CLI_IOERR 74     /* EX_IOERR: storage error, cannot write output */
#define CLI_NOUSER 67    /* EX_NOUSER: the server refused this device (401, 403: removed,
                          * not enrolled, bad signature) */
#define CLI_UNAVAILABLE 69 /* EX_UNAVAILABLE: the server is unreachable or failed (5xx) */
#define CLI_TEMPFAIL 75  /* EX_TEMPFAIL: sent later (a send stays pending), or a link not yet approved */
#define CLI_NOPERM 77    /* EX_NOPERM: a state file or DIR others may read or change */

/* Transport line: base64(CLI_TRANSPORT_VERSION || sender identity || wire). */
#define CLI_TRANSPORT_VERSION 0x01U
#define CLI_TRANSPORT_HEADER (1U + RBX_PUBLICKEYBYTES)
/* Wire overhead above the plaintext: a first message's, with attached
 * rotation records (RBX_MAX_PREKEY_WIRE's margin). */
#define CLI_WIRE_OVERHEAD (RBX_MAX_PREKEY_WIRE - RBX_MAX_PLAINTEXT)
#define CLI_B64LEN(n) ((((size_t)(n) + 2U) / 3U) * 4U)
/* Longest transport line (without newline) accepted. */
#define CLI_TRANSPORT_MAXCHARS CLI_B64LEN(CLI_TRANSPORT_HEADER + RBX_MAX_PREKEY_WIRE)
/* Messages per transaction in --stream mode. */
#define CLI_STREAM_BATCH 64U

/* Subcommands. */
int init_main(int argc, char **argv);
int id_main(int argc, char **argv);
int bundle_main(int argc, char **argv);
int add_main(int argc, char **argv);
int send_main(int argc, char **argv);
int recv_main(int argc, char **argv);
int outbox_main(int argc, char **argv);
int status_main(int argc, char **argv);
int sim_main(int argc, char **argv); /* src/cli/sim.c */
/* rbx rotate identity, rbx rotate prekeys (src/cli/keyrot.c): argv[0] is
 * the kind; called by the rotate verb's dispatcher (src/cli/rotate.c). */
int rotate_identity_main(int argc, char **argv);
int rotate_prekeys_main(int argc, char **argv);
int org_main(int argc, char **argv); /* rbx org init|show|certify|revoke|... */

/* Prekey upkeep (rbx_store_maintain) as rbx bundle, recv and rotate report
 * it: a line on stderr, "rbx: VERB: made signed prekey 3; 100 one-time
 * prekeys", only when something changed (src/cli/keyrot.c). */
void cli_report_maintenance(const char *verb, const rbx_maintain_result *r);
int policy_main(int argc, char **argv); /* src/cli/policy.c */
int audit_main(int argc, char **argv);  /* src/cli/audit.c */
int history_main(int argc, char **argv);        /* src/cli/history.c */
/* rbx trust, forget, reset, rename (src/cli/lifecycle.c). */
int trust_main(int argc, char **argv);
int forget_main(int argc, char **argv);
int reset_main(int argc, char **argv);
int rename_main(int argc, char **argv);
int import_history_main(int argc, char **argv); /* src/cli/history.c */
int rotate_main(int argc, char **argv);         /* src/cli/rotate.c */

/* Users with several devices over rbxd (src/cli/account.c, users.c, sync.c;
 * PROTOCOL.md 21, SERVER.md). */
int account_main(int argc, char **argv); /* rbx account create|link|join|approve|devices|remove|rotate */
int contact_main(int argc, char **argv); /* rbx contact add USER */
int sync_main(int argc, char **argv);    /* rbx sync [--follow] [--json] */

/* ------------------------------------------------------------ rbxd client (net.c) */

#define CLI_URL_MAX 256U

typedef struct cli_net {
    const char *verb;
    rbx_store *st;
    CURL *curl;
    char base[CLI_URL_MAX];
    char user[RBX_USER_MAX];      /* who signs: the header's user and device */
    uint32_t device;
    const uint8_t *sign_key;      /* non-NULL: sign with this held key (rbx_store_request_sign_as) */
    int64_t skew;                 /* server time - our time, learnt from a clock_skew answer */
    long timeout;                 /* seconds per request; 0: 60 */
} cli_net;

/* Open a client of the server given with --server (server_opt) or the one
 * remembered in DIR/server. Returns an exit code, having reported. */
int cli_net_open(cli_net *n, const char *verb, rbx_store *st, const char *server_opt);
void cli_net_close(cli_net *n);
/* Sign as (user, device) from now on. */
void cli_net_as(cli_net *n, const char *user, uint32_t device);
/* One request (body consumed; NULL for none); *resp the parsed JSON answer
 * or NULL. sign 0: no Authorization (device links). Returns the HTTP
 * status, or -1 after reporting a transport error. */
long cli_net_call(cli_net *n, const char *method, const char *target, json_t *body, json_t **resp,
                  int sign);
/* The `error` member of an answer, "" if none. */
const char *cli_net_error(const json_t *resp);
/* Report a refused or failed request and return its exit code. */
int cli_net_fail(cli_net *n, const char *what, long status, const json_t *resp);
/* Remember the server for later commands (DIR/server, 0600). */
int cli_server_remember(const char *verb, const char *url);
json_t *cli_json_b64(const uint8_t *p, size_t n);
/* A base64 JSON string decoded (1..max bytes), malloc'ed; NULL otherwise. */
uint8_t *cli_json_unb64(const json_t *v, size_t *len, size_t max);
/* An integer member in 0..max: 0, or -1. */
int cli_json_uint(const json_t *o, const char *k, uint64_t max, uint64_t *out);

/* ------------------------------------------------------------ users (users.c) */

/* Fetch user's device list and apply it (rbx_store_user_update): the pin
 * on first use, refused when it does not extend the pin. Returns an exit
 * code, having reported a refusal ("refused USER's device list: ..."). */
int cli_user_refresh(cli_net *n, const char *user, rbx_user_update *res);
/* Fetch and hold bundles for every device a send to `to` needs. */
int cli_supply(cli_net *n, const char *to);
/* Fetch and hold a bundle for one device. */
int cli_fetch_bundle(cli_net *n, const char *user, uint32_t device);
/* Send pt to user `to` (fan-out), posting until the server stores it;
 * 409 answers update the lists and rebuild. json: a line per send. */
int cli_send_user(cli_net *n, const char *to, const uint8_t *pt, size_t ptlen, int json);
/* Post every pending send (re-sends, retry requests, sends a crash left). */
int cli_flush_pending(cli_net *n, int json);
/* Keep the server's prekeys in supply: one-time prekeys refilled when low,
 * the bundle re-uploaded when the signed prekey changed. */
int cli_upkeep(cli_net *n, const rbx_account *acct);
/* cli_upkeep when the last one (DIR/upkeep, its time) is older than every
 * seconds: between two, the server hands out bundles without a one-time
 * prekey once the supply is gone (PROTOCOL.md 20.9), never fails them. */
int cli_upkeep_due(cli_net *n, const rbx_account *acct, long every);
/* The store's account, or "no account ... : rbx account create or join" (66). */
int cli_account(rbx_store *st, const char *verb, rbx_account *a);

/* The state directory chosen by --dir, $RBX_DIR or the default (rbx.c). */
extern const char *cli_dir;

/* Where the secrets come from (rbx.c: --key-file, --key-fd, --key-command,
 * --generation-file, or $RBX_KEY_FILE, $RBX_KEY_FD, $RBX_KEY_COMMAND,
 * $RBX_GENERATION_FILE; NULL or -1: the default, beside the database).
 * None of them carries a secret: a path, a descriptor number, a command
 * whose standard output is the key (a keychain helper). */
extern const char *cli_key_file;
extern int cli_key_fd;
extern const char *cli_key_command;
extern const char *cli_gen_file;
/* The generation record's and the storage key file's paths in use (static
 * buffers); the key's is "" when the key comes from a descriptor or a command. */
const char *cli_gen_path(void);
const char *cli_key_path(void);

/* "rbx: <verb>: <message>" on stderr. */
void cli_err(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_verr(const char *verb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* "rbx: <verb>: warning: <message>" on stderr (the exit status is not
 * changed by it). */
void cli_warn(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The exit code for an RBX_E_* code. */
int cli_exit_code(int rc);
/* Report rc with context and return its exit code. A storage error of the
 * store cli_open_store opened names the file, operation and OS error
 * ("storage error: DIR/state.db: write: No space left on device"). */
int cli_fail(const char *verb, const char *what, int rc);
/* What the open store's last I/O failure (or, deferred, the failure that
 * left work owed) was about, as "DIR/state.db.gen: sync: Input/output
 * error"; "" if nothing is recorded. */
void cli_io_text(char *out, size_t cap, const rbx_io_error *e);

/* cli_open_store's modes. */
#define CLI_STORE_EXISTING 0 /* no store: "no identity in DIR: run rbx init" (66) */
#define CLI_STORE_CREATE 1   /* create DIR (0700), database and key if absent: init, org init */
#define CLI_STORE_ADMIN 2    /* no store: "no organisation key in DIR: run rbx org init" (66) */
/* Open the store in cli_dir (mode: CLI_STORE_*). Returns an exit code,
 * having reported any error: the file and OS error of a storage error, the
 * file and check of a refused one (77). */
int cli_open_store(rbx_store **st, const char *verb, int mode);
/* Close it. Work a committed change left owed (rbx_store_deferred: an erase
 * point, the generation record) is retried first; if it still fails, a
 * warning says so; the exit status is the caller's, which describes what
 * was committed. */
void cli_close_store(rbx_store *st, const char *verb);
/* "no organisation key in DIR: run rbx org init ..."; returns 66. */
int cli_no_org_key(const char *verb);
/* "no identity in DIR: run rbx init"; returns 66. */
int cli_no_identity(const char *verb);
/* Our identity public key (rbx_store_identity). Returns an exit code,
 * having reported (66: no identity). */
int cli_identity(rbx_store *st, const char *verb, uint8_t pk[RBX_PUBLICKEYBYTES]);
/* Every contact device (rbx_store_contacts), in *out (malloc'd, NULL if
 * none; the caller frees it), *n of them. Returns 0 or an RBX_E_* code. */
int cli_contacts(rbx_store *st, rbx_contact_info **out, size_t *n);
/* The contact (name, device), if it exists: 1, 0 if not, or a negative
 * RBX_E_* code. */
int cli_find_contact(rbx_store *st, rbx_contact_info *out, const char *name, uint32_t device);
/* The database path in cli_dir (static buffer). */
const char *cli_db_path(void);

/* Read all of FILE, or stdin for NULL or "-", refusing more than cap bytes
 * (65) and missing files (66). *buf is malloc'd (one extra byte for a NUL);
 * the caller frees it, and wipes it first when the file held a secret or a
 * plaintext (key files, import-history rows). Returns an exit code, having reported. */
int cli_read_all(const char *verb, const char *path, uint8_t **buf, size_t *len, size_t cap);
/* Read a box key pair (the product's JSON key file, or 64 raw bytes: public
 * then secret key) from FILE or stdin, for init --import, rotate identity
 * --import and import-history --key. The caller wipes sk. Returns an exit code, having reported. */
int cli_import_keypair(const char *verb, uint8_t pk[RBX_PUBLICKEYBYTES],
                       uint8_t sk[RBX_SECRETKEYBYTES], const char *path);
/* Open FILE or stdin for NULL or "-" as a file descriptor (66 if missing). */
int cli_open_input(const char *verb, const char *path, int *fd);

/* A line (without its newline) of only spaces, tabs and CRs, or empty. */
int cli_is_blank(const void *line, size_t len);

/* Decode one line of standard base64 (surrounding whitespace ignored) into
 * out (outcap bytes). Returns 0 or RBX_E_MALFORMED / RBX_E_TOO_BIG. */
int cli_b64_decode(uint8_t *out, size_t outcap, size_t *outlen, const char *in, size_t inlen);
/* Read one base64 line (a bundle, certificate or revocation) from FILE or
 * stdin and decode it into out. what names it in errors ("bad certificate").
 * Returns an exit code, having reported. */
int cli_read_b64(const char *verb, const char *what, const char *path, uint8_t *out,
                 size_t outcap, size_t *outlen);
/* Standard base64 of in, malloc'd and NUL-terminated; NULL if out of memory. */
char *cli_b64_encode(const uint8_t *in, size_t len);

/* A JSON string literal (quotes included), escaped per RFC 8259. */
void cli_json_str(FILE *f, const char *s);
/* The same for n bytes (a NUL among them is escaped too). */
void cli_json_strn(FILE *f, const uint8_t *p, size_t n);

/* --json (src/cli/json.c, PROTOCOL.md 22, spec/json/). The format's version,
 * the first member of every object printed: raised only when a member
 * changes meaning or goes away (new members may appear at any time). */
#define CLI_JSON_VERSION 1
/* Set by main when the verb's arguments hold --json: errors are then
 * recorded (the first one) and printed as one object on stderr when the
 * verb returns, warnings as {"warning":...} lines. */
extern int cli_json_mode;
/* The RBX_E_* code and the file behind the next error reported (cli_fail
 * and cli_open_store set it; file may be NULL). */
void cli_err_context(int rc, const char *file);
void cli_json_record_error(const char *verb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* {"error":{"code","name","message","file"?,"exit"},"version"} on stderr,
 * if an error was recorded or ec is not 0. */
void cli_json_flush_error(int ec);
/* "RBX_E_NOT_FOUND" for RBX_E_NOT_FOUND. */
const char *cli_code_name(int rc);
/* One object: cli_jbegin prints {"version":N, members follow with a
 * leading comma, cli_jend closes it and ends the line. cli_jkey prints
 * ,"key": for a nested value. A time is {"unix":N,"rfc3339":"...Z"}
 * (null when no calendar holds it). */
void cli_jbegin(FILE *f);
void cli_jend(FILE *f);
void cli_jkey(FILE *f, const char *key);
void cli_jstr(FILE *f, const char *key, const char *v);
void cli_jint(FILE *f, const char *key, long long v);
void cli_juint(FILE *f, const char *key, unsigned long long v);
void cli_jbool(FILE *f, const char *key, int v);
void cli_jnull(FILE *f, const char *key);
void cli_jtime(FILE *f, const char *key, int64_t t);
void cli_jtime_value(FILE *f, int64_t t);
/* ,"key":{"public_key":B64,"fingerprint":HEX} (common.schema.json's key). */
void cli_jpubkey(FILE *f, const char *key, const uint8_t pk[RBX_PUBLICKEYBYTES]);
/* 1: p is well-formed UTF-8 without a NUL (a text JSON can carry as a
 * string), 0 otherwise. */
int cli_utf8_ok(const uint8_t *p, size_t n);

/* Parse an unsigned decimal in [min, max]; 0 on success, -1 otherwise. */
int cli_parse_u32(uint32_t *out, const char *s, uint32_t min, uint32_t max);

/* A Unix time as "2026-12-06 14:03 UTC" (out: CLI_TIME_CHARS). */
#define CLI_TIME_CHARS 32U
void cli_time_str(char out[CLI_TIME_CHARS], int64_t t);
/* The same as ISO 8601, "2026-12-06T14:03:09Z" (audit and history lines).
 * A time no calendar holds: "@<seconds>". */
void cli_time_iso(char out[CLI_TIME_CHARS], int64_t t);

/* A verb's usage text on stderr after a usage error (not with --json: the
 * error object is all that goes there). */
void cli_usage_err(const char *usage);

/* flush stdout and report a write error (74); 0 on success. */
int cli_flush_stdout(const char *verb);

/* getopt_long over opts (which lists "help" as 'h'), answering --help (the
 * usage on stdout) and a bad option (reported, the usage on stderr) itself:
 * then 0, and *ec is the exit code to return. Otherwise what getopt_long
 * returns: an option's val, or -1 after the last option. */
int cli_getopt(int argc, char **argv, const struct option *opts, const char *verb,
               const char *usage, int *ec);

/* Options of a verb that takes only --json and --help, and no argument.
 * Returns -1 to go on, or the exit code to return now. */
int cli_json_only(int argc, char **argv, const char *verb, const char *usage, int *json);

/* A line reader over a file descriptor, for --stream. */
typedef struct cli_lines {
    int fd;
    uint8_t *buf;
    size_t cap, start, end;
    int eof;
    size_t lineno;
} cli_lines;
int cli_lines_init(cli_lines *r, int fd, size_t maxline);
void cli_lines_free(cli_lines *r);
/* Next line without its newline (a last line without one counts): 1 and
 * (*line, *len), 0 at end of input, RBX_E_TOO_BIG for a line above maxline,
 * RBX_E_IO on a read error. The line is valid until the next call. */
int cli_lines_next(cli_lines *r, const uint8_t **line, size_t *len);
/* Is another line available without blocking? */
int cli_lines_pending(cli_lines *r);

#endif
