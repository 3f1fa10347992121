/* SPDX-License-Identifier: MIT
 * rbx send, rbx recv: messages as transport lines,
 *   base64(0x01 || sender identity public key (32) || wire message).
 * The identity is clear metadata (a relay sees it, as it sees the sender
 * today); the receiver uses it only to pick the contact, and the ratchet
 * authenticates the message itself. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char send_usage[] =
    "Usage: rbx send NAME [FILE|-] [--device D] [--header-encryption] [--profile P]\n"
    "                [--stream] [--json]\n"
    "       rbx send USER [FILE|-] [--stream] [--json] [--server URL]\n"
    "With an account (rbx account create or join), NAME may be a user: the message\n"
    "goes through the server to every device of USER and, as a sync copy, to our\n"
    "own other devices (one envelope each, made in one transaction).\n"
    "Encrypt the whole input (at most 1 MiB) as one message to contact NAME,\n"
    "device D (default 1), and print it as one transport line. The first message\n"
    "to a contact carries the handshake; --header-encryption and --profile apply\n"
    "to a new session (profile: fast, the default, protocol version 2; hmac or\n"
    "signal, version 1, for a peer that only knows version 1). --stream: one\n"
    "message per input line (without its newline), up to 64 lines per\n"
    "transaction. --json: {\"version\",\"to\",\"device\",\"kind\",\"line\",\"wire_bytes\"}\n"
    "per message; to a USER {\"version\",\"sent\":{\"kind\",\"to\",\"message_id\",\n"
    "\"envelopes\",\"devices\"}} per message the server stored (pending ones first).\n";

static const char recv_usage[] =
    "Usage: rbx recv [FILE|-] [--stream] [--json]\n"
    "Decrypt one transport line; write the plaintext to stdout and \"from NAME\"\n"
    "to stderr. A first message from an unknown identity creates a contact named\n"
    "by its fingerprint, once it authenticates. --stream: one transport line in,\n"
    "one plaintext line out (\"from\" only for a new contact or a redelivery); a\n"
    "rejected line is reported with its number and skipped (exit 65 at the end).\n"
    "--json: {\"version\",\"from\",\"device\",\"fingerprint\",\"new_contact\",\"redelivered\",\n"
    "\"line_number\",\"plaintext_b64\"} per message on stdout instead of the plaintext. Exit 0 means the message was\n"
    "accepted and its plaintext written out; only then is it acknowledged. Until\n"
    "then (a crash, an output error: exit 74) the same line given again prints\n"
    "the stored plaintext, marked redelivered; after it, it is refused (65).\n"
    "Then does the policy's prekey upkeep (as rbx bundle) and says on stderr what\n"
    "it changed, if anything; a storage error there is a warning, not the exit.\n";

static const char outbox_usage[] =
    "Usage: rbx outbox [--json]\n"
    "Print the messages that rbx send committed but did not see go out (a crash,\n"
    "an output or storage error after the commit), oldest first, as transport\n"
    "lines (byte for byte what send printed, if it printed them), and remove each\n"
    "from the outbox once it is written out. The receiver takes a line it has\n"
    "already read as a redelivery or a replay. --json: as rbx send --json.\n";

/* ------------------------------------------------------------ send */

typedef struct sender {
    const char *name;
    uint32_t device;
    int json;
    uint8_t identity[RBX_PUBLICKEYBYTES];
    rbx_session_opts opts;
} sender;

/* Print one message as a transport line (not yet flushed). identity: the
 * key the message is sent under, which the receiver looks its sender up by. */
static int emit(const sender *sd, const uint8_t identity[RBX_PUBLICKEYBYTES], const uint8_t *wire,
                size_t wlen)
{
    uint8_t *buf = malloc(CLI_TRANSPORT_HEADER + wlen);
    if (buf == NULL) return cli_fail("send", NULL, RBX_E_NOMEM);
    buf[0] = CLI_TRANSPORT_VERSION;
    memcpy(buf + 1, identity, RBX_PUBLICKEYBYTES);
    memcpy(buf + CLI_TRANSPORT_HEADER, wire, wlen);
    char *line = cli_b64_encode(buf, CLI_TRANSPORT_HEADER + wlen);
    free(buf);
    if (line == NULL) return cli_fail("send", NULL, RBX_E_NOMEM);
    if (sd->json) {
        int prekey = rbx_message_prekey_info(NULL, wire, wlen) == 1;
        cli_jbegin(stdout);
        cli_jstr(stdout, "to", sd->name);
        cli_juint(stdout, "device", sd->device);
        cli_jstr(stdout, "kind", prekey ? "prekey" : "message");
        cli_jstr(stdout, "line", line);
        cli_juint(stdout, "wire_bytes", wlen);
        cli_jend(stdout);
    } else {
        fputs(line, stdout);
        fputc('\n', stdout);
    }
    free(line);
    return CLI_OK;
}

static int encrypt_error(const sender *sd, int rc)
{
    cli_err_context(rc, NULL);
    if (rc == RBX_E_IO) {
        /* A COMMIT whose sync failed may be kept after all (SQLite's
         * recovery finds its log frames): the outbox then has it. */
        return cli_fail("send", "not sent (if the store kept it after all, rbx outbox prints it)",
                        rc);
    }
    if (rc == RBX_E_NOT_FOUND) {
        cli_err("send", "unknown contact %s device %u (or no bundle: rbx add)", sd->name, sd->device);
        return CLI_NOINPUT;
    }
    if (rc == RBX_E_INVALID) {
        cli_err("send", "bad contact name");
        return CLI_USAGE;
    }
    if (rc == RBX_E_REVOKED) {
        cli_err("send", "%s device %u: key revoked by its organisation; not sending", sd->name,
                sd->device);
        return CLI_DATAERR;
    }
    if (rc == RBX_E_UNCERTIFIED) {
        cli_err("send", "%s device %u: key not certified by its organisation, or not bound to the "
                "one the policy requires (require_org: rbx add its certified bundle); not sending",
                sd->name, sd->device);
        return CLI_DATAERR;
    }
    if (rc == RBX_E_EXPIRED) {
        cli_err("send", "%s device %u: its signed prekey is past the policy's spk_max_age; "
                "ask for a fresh bundle (rbx add)", sd->name, sd->device);
        return CLI_DATAERR;
    }
    if (rc == RBX_E_ROLLBACK) {
        cli_err("send", "the state was rolled back; this session may not send again: "
                "rbx reset %s --device %u [BUNDLE] replaces it", sd->name, sd->device);
        return CLI_IOERR;
    }
    return cli_fail("send", NULL, rc);
}

/* Encrypt n messages in one transaction, print them, flush, then ack. */
static int send_batch(rbx_store *st, const sender *sd, const uint8_t *const *pts,
                      const size_t *lens, size_t n)
{
    size_t outcap = 0, offs[CLI_STREAM_BATCH], wlens[CLI_STREAM_BATCH];
    uint64_t ids[CLI_STREAM_BATCH];
    for (size_t i = 0; i < n; i++) outcap += lens[i] + CLI_WIRE_OVERHEAD;
    uint8_t *out = malloc(outcap);
    if (out == NULL) return cli_fail("send", NULL, RBX_E_NOMEM);
    int ec = CLI_OK, rc;
    offs[0] = 0;
    if (n == 1)
        rc = rbx_store_encrypt(st, out, outcap, &wlens[0], &ids[0], sd->name, sd->device, pts[0],
                               lens[0], &sd->opts);
    else
        rc = rbx_store_encrypt_batch(st, out, outcap, offs, wlens, ids, sd->name, sd->device, pts,
                                     lens, n, &sd->opts);
    if (rc == RBX_E_IO && (rbx_store_deferred(st, NULL) & RBX_DEFERRED_RECORD)) {
        /* Committed, but the generation record could not cover it: the
         * ciphertext may not leave now (PROTOCOL.md 15.4). */
        rbx_io_error e;
        char d[512];
        (void)rbx_store_deferred(st, &e);
        cli_io_text(d, sizeof d, &e);
        cli_err("send", "not sent: storage error: %s; the message is kept in the outbox, and "
                "rbx outbox prints it once storage works", d);
        ec = CLI_IOERR;
        goto out;
    }
    if (rc != 0) {
        ec = encrypt_error(sd, rc);
        goto out;
    }
    /* The line names the identity of the session, not the one in force: a
     * session begun before our identity rotated keeps its key (its AD binds
     * it), and the peer finds us by that key until it follows the rotation
     * (PROTOCOL.md 16.4). For a first message it is the handshake's IK_A. */
    rbx_session_info si;
    uint64_t gen;
    const uint8_t *ident = sd->identity;
    if (rbx_store_session_info(st, &si, &gen, sd->name, sd->device) == 0) ident = si.own_identity;
    for (size_t i = 0; i < n && ec == CLI_OK; i++) ec = emit(sd, ident, out + offs[i], wlens[i]);
    if (ec == CLI_OK && (fflush(stdout) != 0 || ferror(stdout))) {
        cli_err("send", "cannot write output: %s; the message%s kept in the outbox (rbx outbox)",
                strerror(errno), n > 1 ? "s are" : " is");
        ec = CLI_IOERR;
    }
    /* Only a message that reached stdout leaves the outbox. What is printed
     * is sent: a failed acknowledgement leaves the entry for rbx outbox to
     * print again (the receiver takes it as a redelivery or a replay), and
     * does not change the exit status. */
    for (size_t i = 0; i < n && ec == CLI_OK; i++)
        if ((rc = rbx_store_ack_outbox(st, ids[i])) != 0) {
            rbx_io_error e;
            char d[512] = "";
            if (rbx_store_io_error(st, &e)) cli_io_text(d, sizeof d, &e);
            cli_warn("send", "sent, but the removal of its outbox entry failed (%s: %s): rbx "
                     "outbox may print it again", rbx_strerror(rc), *d ? d : "storage error");
            break;
        }
out:
    free(out);
    return ec;
}

/* While the input of a stream pauses, the store's erase work runs
 * (PROTOCOL.md 15.5 "Idle handles"), rather than inside the next message's
 * commit: at once, and again every erase_seconds / 2 while nothing comes,
 * so that a stream left waiting has its log erased within erase_seconds.
 * A failure is owed work, retried and reported at close. */
static void idle_until_input(rbx_store *st, cli_lines *r)
{
    while (!cli_lines_pending(r)) {
        int irc = rbx_store_idle(st);
        (void)irc;
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        /* Input, end of input or an error: the read that follows says which. */
        if (poll(&p, 1, (int)RBX_STORE_ERASE_SECONDS * 500) != 0) break;
    }
}

static int send_stream(rbx_store *st, const sender *sd, int fd)
{
    cli_lines r;
    uint8_t *arena = NULL;
    size_t arenacap = 0;
    int ec = CLI_OK, done = 0;
    if (cli_lines_init(&r, fd, RBX_MAX_PLAINTEXT) != 0) return cli_fail("send", NULL, RBX_E_NOMEM);
    while (!done && ec == CLI_OK) {
        size_t n = 0, used = 0, offs[CLI_STREAM_BATCH], lens[CLI_STREAM_BATCH];
        const uint8_t *pts[CLI_STREAM_BATCH];
        /* Batch what is already there; never wait for a full batch. */
        while (n < CLI_STREAM_BATCH && (n == 0 || cli_lines_pending(&r))) {
            const uint8_t *line;
            size_t len;
            int rc = cli_lines_next(&r, &line, &len);
            if (rc == 0) {
                done = 1;
                break;
            }
            if (rc < 0) {
                if (rc == RBX_E_TOO_BIG)
                    cli_err("send", "line %zu: longer than %u bytes", r.lineno, RBX_MAX_PLAINTEXT);
                else
                    cli_err("send", "line %zu: cannot read input", r.lineno);
                ec = rc == RBX_E_TOO_BIG ? CLI_DATAERR : CLI_IOERR;
                done = 1;
                break;
            }
            if (used + len + 1 > arenacap) {
                size_t nc = (used + len + 1) * 2;
                uint8_t *na = malloc(nc);
                if (na == NULL) {
                    ec = cli_fail("send", NULL, RBX_E_NOMEM);
                    done = 1;
                    break;
                }
                if (arena != NULL) {
                    memcpy(na, arena, used);
                    sodium_memzero(arena, arenacap);
                    free(arena);
                }
                arena = na;
                arenacap = nc;
            }
            memcpy(arena + used, line, len);
            offs[n] = used;
            lens[n++] = len;
            used += len;
        }
        for (size_t i = 0; i < n; i++) pts[i] = arena + offs[i];
        if (n > 0) {
            /* Lines read before an input error still go out. */
            int bec = send_batch(st, sd, pts, lens, n);
            if (bec != CLI_OK) ec = bec;
        }
        if (!done && ec == CLI_OK) idle_until_input(st, &r);
    }
    if (arena != NULL) sodium_memzero(arena, arenacap);
    free(arena);
    cli_lines_free(&r);
    return ec;
}

/* ------------------------------------------------------------ send to a user */

/* Is NAME a user to send to through the server (we have an account, NAME
 * is a user id, and no contact of that name was added by hand)? */
static int to_user(rbx_store *st, const char *name, int server_given)
{
    rbx_account a;
    rbx_devlist_pin pin;
    if (!rbx_user_id_ok(name) || rbx_store_account(st, &a) != 0) return 0;
    if (server_given || rbx_store_user_pin(st, &pin, name) == 0) return 1;
    rbx_contact_info *cs = NULL;
    size_t n = 0;
    int local = 0;
    if (cli_contacts(st, &cs, &n) == 0)
        for (size_t i = 0; i < n; i++) local |= strcmp(cs[i].name, name) == 0;
    free(cs);
    return !local;
}

static int send_users(rbx_store *st, const char *to, const char *server, int stream, int fd,
                      const uint8_t *pt, size_t ptlen, int json)
{
    rbx_account a;
    cli_net n;
    int ec = cli_account(st, "send", &a);
    if (ec != CLI_OK || (ec = cli_net_open(&n, "send", st, server)) != CLI_OK) return ec;
    cli_net_as(&n, a.user, a.device);
    /* Sends a crash left pending go first, in order. */
    ec = cli_flush_pending(&n, json);
    if (ec == CLI_OK && !stream) ec = cli_send_user(&n, to, pt, ptlen, json);
    if (ec == CLI_OK && stream) {
        cli_lines r;
        if (cli_lines_init(&r, fd, RBX_MAX_PLAINTEXT) != 0) ec = cli_fail("send", NULL, RBX_E_NOMEM);
        else {
            const uint8_t *line;
            size_t len;
            int rc;
            while (ec == CLI_OK && (rc = cli_lines_next(&r, &line, &len)) == 1)
                ec = cli_send_user(&n, to, line, len, json);
            if (ec == CLI_OK && rc < 0) {
                cli_err("send", "line %zu: %s", r.lineno,
                        rc == RBX_E_TOO_BIG ? "longer than 1 MiB" : "cannot read input");
                ec = rc == RBX_E_TOO_BIG ? CLI_DATAERR : CLI_IOERR;
            }
            cli_lines_free(&r);
        }
    }
    if (ec == CLI_OK) ec = cli_flush_stdout("send");
    cli_net_close(&n);
    return ec;
}

int send_main(int argc, char **argv)
{
    static const struct option opts[] = { { "device", required_argument, NULL, 'd' },
                                          { "header-encryption", no_argument, NULL, 'e' },
                                          { "profile", required_argument, NULL, 'p' },
                                          { "stream", no_argument, NULL, 's' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "server", required_argument, NULL, 'S' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    sender sd = { 0 };
    const char *server = NULL;
    int stream = 0, c, ec, device_given = 0;
    sd.device = 1;
    sd.opts.profile = RBX_PROFILE_DEFAULT;
    while ((c = cli_getopt(argc, argv, opts, "send", send_usage, &ec)) != -1) {
        switch (c) {
        case 'd':
            if (cli_parse_u32(&sd.device, optarg, 0, UINT32_MAX) != 0) {
                cli_err("send", "--device: expected a number 0..%u", UINT32_MAX);
                return CLI_USAGE;
            }
            device_given = 1;
            break;
        case 'e': sd.opts.header_encryption = 1; break;
        case 'p':
            if (strcmp(optarg, "fast") == 0) sd.opts.profile = RBX_PROFILE_FAST;
            else if (strcmp(optarg, "hmac") == 0) sd.opts.profile = RBX_PROFILE_HMAC;
            else if (strcmp(optarg, "signal") == 0) sd.opts.profile = RBX_PROFILE_SIGNAL;
            else {
                cli_err("send", "--profile: expected fast, hmac or signal");
                return CLI_USAGE;
            }
            break;
        case 's': stream = 1; break;
        case 'j': sd.json = 1; break;
        case 'S': server = optarg; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (argc - optind < 1 || argc - optind > 2) {
        cli_err("send", "expected NAME [FILE|-]");
        cli_usage_err(send_usage);
        return CLI_USAGE;
    }
    sd.name = argv[optind];
    const char *path = argc - optind == 2 ? argv[optind + 1] : NULL;
    rbx_store *st;
    int fd = -1;
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    /* Input first: a missing file is 66 whatever the state. */
    if (stream) ec = cli_open_input("send", path, &fd);
    else ec = cli_read_all("send", path, &pt, &ptlen, RBX_MAX_PLAINTEXT);
    if (ec != CLI_OK) return ec;
    if ((ec = cli_open_store(&st, "send", 0)) != CLI_OK) goto out;
    if (!device_given && to_user(st, sd.name, server != NULL)) {
        ec = send_users(st, sd.name, server, stream, fd, pt, ptlen, sd.json);
    } else if ((ec = cli_identity(st, "send", sd.identity)) == CLI_OK) {
        const uint8_t *p = pt;
        ec = stream ? send_stream(st, &sd, fd) : send_batch(st, &sd, &p, &ptlen, 1);
    }
    cli_close_store(st, "send");
out:
    if (pt != NULL) sodium_memzero(pt, ptlen);
    free(pt);
    if (fd > STDIN_FILENO) close(fd);
    return ec;
}

/* ------------------------------------------------------------ recv */

typedef struct receiver {
    int json, stream;
    size_t lineno;
    uint8_t *buf; /* decoded transport line */
    uint8_t *pt;
    size_t cap;
    rbx_received last; /* the last message decrypted */
} receiver;

#define RECV_CAP (CLI_TRANSPORT_HEADER + RBX_MAX_PREKEY_WIRE)

/* Report an error for the current message ("line N: " in --stream). */
static void recv_err(const receiver *rv, const char *what, const char *detail)
{
    /* --json --stream: each rejected line as an object on stderr as it
     * happens; the error object at the end names the first. */
    if (cli_json_mode && rv->stream) {
        fprintf(stderr, "{\"rejected\":{\"line_number\":%zu,\"message\":", rv->lineno);
        char msg[512];
        snprintf(msg, sizeof msg, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
        cli_json_str(stderr, msg);
        fprintf(stderr, "},\"version\":%d}\n", CLI_JSON_VERSION);
    }
    if (rv->stream) cli_err("recv", "line %zu: %s%s%s", rv->lineno, what, detail ? ": " : "",
                            detail ? detail : "");
    else cli_err("recv", "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

/* Decrypt one transport line and write its output (not yet flushed). On
 * success *ack is the inbox entry to acknowledge once the output is out. */
static int recv_one(rbx_store *st, receiver *rv, const char *text, size_t textlen, uint64_t *ack)
{
    size_t len, ptlen;
    rbx_prekey_info pi;
    rbx_received info;
    char name[RBX_NAME_MAX], fp[RBX_FINGERPRINT_HEXBYTES];
    uint32_t device;
    *ack = 0;
    int rc = cli_b64_decode(rv->buf, RECV_CAP, &len, text, textlen);
    if (rc != 0) {
        recv_err(rv, "malformed transport line", rc == RBX_E_TOO_BIG ? "too big" : "bad base64");
        return CLI_DATAERR;
    }
    if (len <= CLI_TRANSPORT_HEADER || rv->buf[0] != CLI_TRANSPORT_VERSION) {
        recv_err(rv, "malformed transport line",
                 len <= CLI_TRANSPORT_HEADER ? "too short" : "unknown version");
        return CLI_DATAERR;
    }
    const uint8_t *sender_pk = rv->buf + 1, *wire = rv->buf + CLI_TRANSPORT_HEADER;
    size_t wlen = len - CLI_TRANSPORT_HEADER;
    int kind = rbx_message_prekey_info(&pi, wire, wlen);
    if (kind < 0) {
        recv_err(rv, "rejected", rbx_strerror(kind));
        return cli_exit_code(kind);
    }
    if (kind == 1 && sodium_memcmp(pi.initiator_identity, sender_pk, RBX_PUBLICKEYBYTES) != 0) {
        recv_err(rv, "rejected", "sender identity does not match the handshake");
        return CLI_DATAERR;
    }
    /* Also finds a contact by a key it rotated away from (grace window). */
    rc = rbx_store_contact_by_identity(st, name, &device, sender_pk);
    if (rc == RBX_E_NOT_FOUND && kind == 0) {
        rbx_fingerprint(fp, sender_pk);
        recv_err(rv, "unknown sender", fp);
        return CLI_NOINPUT;
    }
    if (rc != 0 && rc != RBX_E_NOT_FOUND) {
        recv_err(rv, "cannot look up the sender", rbx_strerror(rc));
        return cli_exit_code(rc);
    }
    int known = rc == 0;
    rc = rbx_store_decrypt(st, rv->pt, rv->cap, &ptlen, &info, known ? name : NULL,
                           known ? device : 1, wire, wlen);
    if (rc == RBX_E_NOT_FOUND) {
        rbx_fingerprint(fp, sender_pk);
        recv_err(rv, "no session with the sender", fp);
        return CLI_NOINPUT;
    }
    if (rc == RBX_E_UNCERTIFIED && kind == 1) {
        rbx_fingerprint(fp, sender_pk);
        cli_err_context(rc, NULL);
        recv_err(rv, "rejected", known ? "a new session with a contact not bound to the "
                                         "organisation the policy requires (require_org)"
                                       : "a first message from a device the organisation the "
                                         "policy requires (require_org) did not certify; "
                                         "nothing kept");
        return CLI_DATAERR;
    }
    if (rc != 0) {
        cli_err_context(rc, NULL);
        recv_err(rv, "rejected", rbx_strerror(rc));
        return cli_exit_code(rc);
    }
    int ec = CLI_OK;
    if (rv->json) {
        char *b64 = cli_b64_encode(rv->pt, ptlen);
        if (b64 == NULL) {
            ec = cli_fail("recv", NULL, RBX_E_NOMEM);
        } else {
            rbx_fingerprint(fp, info.peer_identity);
            cli_jbegin(stdout);
            cli_jstr(stdout, "from", info.name);
            cli_juint(stdout, "device", info.device);
            cli_jstr(stdout, "fingerprint", fp);
            cli_jbool(stdout, "new_contact", info.new_contact);
            cli_jbool(stdout, "redelivered", info.redelivered);
            if (rv->stream) cli_juint(stdout, "line_number", rv->lineno);
            else cli_jnull(stdout, "line_number");
            printf(",\"plaintext_b64\":\"%s\"", b64);
            cli_jend(stdout);
            sodium_memzero(b64, strlen(b64)); /* the plaintext, encoded */
            free(b64);
        }
    } else {
        if (ptlen > 0) fwrite(rv->pt, 1, ptlen, stdout);
        if (rv->stream) fputc('\n', stdout);
    }
    /* Who sent it: in a stream only news (one message: recv_main, once
     * the plaintext is out). */
    if (ec == CLI_OK && rv->stream && !rv->json && (info.new_contact || info.redelivered))
        cli_err("recv", "line %zu: from %s%s%s", rv->lineno, info.name,
                info.new_contact ? " (new contact)" : "", info.redelivered ? " (redelivered)" : "");
    rv->last = info;
    sodium_memzero(rv->pt, ptlen);
    if (ec == CLI_OK) *ack = info.inbox_id;
    return ec;
}

/* The plaintexts are out (flushed): only now are their inbox entries
 * acknowledged (PROTOCOL.md 15.4). An output error leaves them in the
 * inbox, so that the same line given again prints the stored plaintext,
 * marked redelivered. A failed acknowledgement is a warning: the messages
 * were accepted and written out, which is what the exit status says. */
static int ack_all(rbx_store *st, const uint64_t *ids, size_t n)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_err("recv", "cannot write output: %s; the message%s stay%s in the inbox: give the "
                "same line%s again to get %s (marked redelivered)", strerror(errno),
                n > 1 ? "s" : "", n > 1 ? "" : "s", n > 1 ? "s" : "", n > 1 ? "them" : "it");
        return CLI_IOERR;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = rbx_store_ack_inbox(st, ids[i]);
        if (rc != 0) {
            rbx_io_error e;
            char d[512] = "";
            if (rbx_store_io_error(st, &e)) cli_io_text(d, sizeof d, &e);
            /* A COMMIT whose sync failed may still be found by SQLite's
             * recovery later: the entry may or may not be gone. */
            cli_warn("recv", "received, but the removal of its inbox entry failed (%s: %s): the "
                     "same line given again may be shown again, marked redelivered",
                     rbx_strerror(rc), *d ? d : "storage error");
            break;
        }
    }
    return CLI_OK;
}

static int recv_stream(rbx_store *st, receiver *rv, int fd)
{
    cli_lines r;
    uint64_t ids[CLI_STREAM_BATCH];
    size_t n = 0;
    int rejected = 0, ec = CLI_OK;
    if (cli_lines_init(&r, fd, CLI_TRANSPORT_MAXCHARS + 1) != 0)
        return cli_fail("recv", NULL, RBX_E_NOMEM);
    for (;;) {
        const uint8_t *line;
        size_t len;
        uint64_t id;
        int rc = cli_lines_next(&r, &line, &len);
        if (rc == 0) break;
        rv->lineno = r.lineno;
        if (rc == RBX_E_TOO_BIG) {
            recv_err(rv, "malformed transport line", "too long");
            rejected = 1;
            break; /* the rest of that line cannot be found */
        }
        if (rc < 0) {
            recv_err(rv, "cannot read input", NULL);
            ec = CLI_IOERR;
            break;
        }
        if (cli_is_blank(line, len)) continue;
        int one = recv_one(st, rv, (const char *)line, len, &id);
        if (one == CLI_OK) {
            ids[n++] = id;
        } else if (one == CLI_DATAERR || one == CLI_NOINPUT) {
            rejected = 1; /* reported; go on with the next line */
        } else {
            ec = one; /* storage or output trouble: stop */
            break;
        }
        /* Output goes out (and entries are acked) when the input pauses. */
        if (n == CLI_STREAM_BATCH || !cli_lines_pending(&r)) {
            if ((ec = ack_all(st, ids, n)) != CLI_OK) break;
            n = 0;
            idle_until_input(st, &r);
        }
    }
    if (ec == CLI_OK && n > 0) ec = ack_all(st, ids, n);
    cli_lines_free(&r);
    return ec != CLI_OK ? ec : rejected ? CLI_DATAERR : CLI_OK;
}

int recv_main(int argc, char **argv)
{
    static const struct option opts[] = { { "stream", no_argument, NULL, 's' },
                                          { "json", no_argument, NULL, 'j' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    receiver rv = { 0 };
    int c, ec;
    while ((c = cli_getopt(argc, argv, opts, "recv", recv_usage, &ec)) != -1) {
        switch (c) {
        case 's': rv.stream = 1; break;
        case 'j': rv.json = 1; break;
        default: return ec; /* --help, or a bad option */
        }
    }
    if (argc - optind > 1) {
        cli_err("recv", "expected [FILE|-]");
        cli_usage_err(recv_usage);
        return CLI_USAGE;
    }
    const char *path = argc - optind == 1 ? argv[optind] : NULL;
    rbx_store *st = NULL;
    uint8_t *text = NULL;
    size_t textlen = 0;
    int fd = -1;
    if (rv.stream) ec = cli_open_input("recv", path, &fd);
    else ec = cli_read_all("recv", path, &text, &textlen, CLI_TRANSPORT_MAXCHARS + 16);
    if (ec != CLI_OK) return ec;
    rv.cap = RECV_CAP;
    rv.buf = malloc(RECV_CAP);
    rv.pt = malloc(RECV_CAP);
    if (rv.buf == NULL || rv.pt == NULL) {
        ec = cli_fail("recv", NULL, RBX_E_NOMEM);
        goto out;
    }
    if ((ec = cli_open_store(&st, "recv", 0)) != CLI_OK) goto out;
    uint8_t me[RBX_PUBLICKEYBYTES];
    int have_identity = (ec = cli_identity(st, "recv", me)) == CLI_OK;
    if (have_identity && rv.stream) {
        ec = recv_stream(st, &rv, fd);
    } else if (have_identity) {
        uint64_t id;
        ec = recv_one(st, &rv, (const char *)text, textlen, &id);
        if (ec == CLI_OK) ec = ack_all(st, &id, 1);
        if (ec == CLI_OK && !rv.json)
            cli_err("recv", "from %s%s%s", rv.last.name, rv.last.new_contact ? " (new contact)" : "",
                    rv.last.redelivered ? " (redelivered)" : "");
    }
    if (have_identity && (ec == CLI_OK || ec == CLI_DATAERR || ec == CLI_NOINPUT)) {
        /* Prekey upkeep once the messages are in: a first message may have
         * used the last one-time prekeys; old identities leave after their
         * grace window. */
        rbx_maintain_result res;
        memset(&res, 0, sizeof res);
        int rc = rbx_store_maintain(st, 0, &res);
        /* After a rejection, stderr keeps its one error line. The exit
         * status describes the messages: upkeep that fails changed nothing
         * and is done again by the next recv or bundle. */
        if (rc == 0 && ec == CLI_OK) {
            cli_report_maintenance("recv", &res);
        } else if (rc != 0 && ec == CLI_OK) {
            rbx_io_error e;
            char d[512] = "";
            if (rbx_store_io_error(st, &e)) cli_io_text(d, sizeof d, &e);
            cli_warn("recv", "prekey upkeep failed (%s%s%s); done again by the next recv or bundle",
                     rbx_strerror(rc), *d ? ": " : "", d);
        }
    }
    cli_close_store(st, "recv");
out:
    if (rv.pt != NULL) sodium_memzero(rv.pt, RECV_CAP);
    free(rv.pt);
    free(rv.buf);
    free(text);
    if (fd > STDIN_FILENO) close(fd);
    return ec;
}

/* ------------------------------------------------------------ outbox */

int outbox_main(int argc, char **argv)
{
    int json, ec = cli_json_only(argc, argv, "outbox", outbox_usage, &json);
    if (ec >= 0) return ec;
    rbx_store *st;
    sender sd = { 0 };
    char name[RBX_NAME_MAX];
    uint8_t *wire = malloc(RBX_MAX_WIRE);
    if (wire == NULL) return cli_fail("outbox", NULL, RBX_E_NOMEM);
    if ((ec = cli_open_store(&st, "outbox", 0)) != CLI_OK) goto out;
    if ((ec = cli_identity(st, "outbox", sd.identity)) != CLI_OK) goto close;
    uint8_t me[RBX_PUBLICKEYBYTES];
    memcpy(me, sd.identity, sizeof me);
    sd.json = json;
    sd.name = name;
    for (;;) {
        size_t wl;
        uint64_t id;
        rbx_prekey_info pi;
        int rc = rbx_store_outbox_next(st, wire, RBX_MAX_WIRE, &wl, &id, name, &sd.device);
        if (rc == RBX_E_NOT_FOUND) break;
        if (rc != 0) {
            ec = cli_fail("outbox", "cannot read the outbox", rc);
            break;
        }
        /* A first message carries the identity it was made under (the
         * receiver checks it against the transport line's); a later one is
         * sent under its session's identity, as rbx send prints it. */
        rbx_session_info si;
        uint64_t gen;
        const uint8_t *ident = me;
        if (rbx_message_prekey_info(&pi, wire, wl) == 1)
            ident = pi.initiator_identity;
        else if (rbx_store_session_info(st, &si, &gen, name, sd.device) == 0)
            ident = si.own_identity;
        if ((ec = emit(&sd, ident, wire, wl)) != CLI_OK || (ec = cli_flush_stdout("outbox")) != CLI_OK) break;
        if ((rc = rbx_store_ack_outbox(st, id)) != 0) {
            ec = cli_fail("outbox", "printed, but cannot remove it from the outbox (it is printed "
                          "again next time)", rc);
            break;
        }
    }
close:
    cli_close_store(st, "outbox");
out:
    free(wire);
    return ec;
}
