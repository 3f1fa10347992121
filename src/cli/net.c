/* SPDX-License-Identifier: MIT
 * rbx's client of rbxd (spec/SERVER.md): requests over libcurl with JSON
 * bodies (jansson), each signed by the device's identity inside the library
 * (rbx_store_request_sign, PROTOCOL.md 20.7), so that the secret key never
 * reaches this file. The library stays sans-I/O: everything that travels
 * is built and checked there; this file only moves bytes and names errors.
 * Nothing secret is logged: error lines carry the server's error code and
 * message, never a header or a body. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define SERVER_FILE "server"
#define MAX_RESPONSE (64U * 1024U * 1024U)

/* ------------------------------------------------------------ the remembered server */

static int server_path(char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", cli_dir, SERVER_FILE);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* http://host[:port] or https://...; no path, query, user info or space. */
static int url_ok(const char *u)
{
    size_t n = strlen(u);
    const char *rest;
    if (strncmp(u, "http://", 7) == 0) rest = u + 7;
    else if (strncmp(u, "https://", 8) == 0) rest = u + 8;
    else return 0;
    if (n >= CLI_URL_MAX || *rest == '\0') return 0;
    for (const char *p = rest; *p; p++)
        if (*p == '/' || *p == '?' || *p == '#' || *p == '@' || *p <= ' ' || *p > '~') return 0;
    return 1;
}

int cli_server_remember(const char *verb, const char *url)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (server_path(path, sizeof path) != 0) return cli_fail(verb, "state directory", RBX_E_INVALID);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_err(verb, "cannot write %s: %s", tmp, strerror(errno));
        return CLI_IOERR;
    }
    size_t n = strlen(url);
    int ok = write(fd, url, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        cli_err(verb, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return CLI_IOERR;
    }
    return CLI_OK;
}

/* --server, else the remembered one. */
static int server_url(const char *verb, const char *opt, char out[CLI_URL_MAX])
{
    if (opt != NULL) {
        if (!url_ok(opt)) {
            cli_err(verb, "--server: expected http://HOST[:PORT] or https://HOST[:PORT]");
            return CLI_USAGE;
        }
        snprintf(out, CLI_URL_MAX, "%s", opt);
        return CLI_OK;
    }
    char path[PATH_MAX];
    if (server_path(path, sizeof path) != 0) return cli_fail(verb, "state directory", RBX_E_INVALID);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        cli_err(verb, "no server: give --server URL (it is remembered after rbx account create or join)");
        return CLI_USAGE;
    }
    char line[CLI_URL_MAX + 2];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (ok) line[strcspn(line, "\r\n")] = '\0';
    if (!ok || !url_ok(line)) {
        cli_err(verb, "%s: not a server URL", path);
        return CLI_IOERR;
    }
    memcpy(out, line, strlen(line) + 1); /* url_ok: shorter than CLI_URL_MAX */
    return CLI_OK;
}

/* ------------------------------------------------------------ requests */

typedef struct rbuf {
    char *p;
    size_t n, cap;
    int over;
} rbuf;

static size_t on_body(char *data, size_t sz, size_t nm, void *ud)
{
    rbuf *b = ud;
    size_t n = sz * nm;
    if (b->n + n + 1 > MAX_RESPONSE) {
        b->over = 1;
        return 0;
    }
    if (b->n + n + 1 > b->cap) {
        size_t nc = (b->n + n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (np == NULL) return 0;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

int cli_net_open(cli_net *n, const char *verb, rbx_store *st, const char *server_opt)
{
    memset(n, 0, sizeof *n);
    n->verb = verb;
    n->st = st;
    int ec = server_url(verb, server_opt, n->base);
    if (ec != CLI_OK) return ec;
    static int global;
    if (!global) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return cli_fail(verb, "libcurl", RBX_E_NOMEM);
        global = 1;
    }
    n->curl = curl_easy_init();
    if (n->curl == NULL) return cli_fail(verb, "libcurl", RBX_E_NOMEM);
    return CLI_OK;
}

void cli_net_close(cli_net *n)
{
    if (n->curl != NULL) curl_easy_cleanup(n->curl);
    n->curl = NULL;
}

void cli_net_as(cli_net *n, const char *user, uint32_t device)
{
    snprintf(n->user, sizeof n->user, "%s", user);
    n->device = device;
}

/* The Authorization header of SERVER.md 3.1, signed inside the library. */
static int auth_header(cli_net *n, char *out, size_t cap, const char *method, const char *target,
                       const char *body, size_t bodylen, uint64_t ts)
{
    uint8_t nonce[RBX_REQUEST_NONCEBYTES], sig[RBX_SIGNATUREBYTES];
    char nb[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_ORIGINAL)];
    char sb[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
    randombytes_buf(nonce, sizeof nonce);
    int rc = n->sign_key != NULL
                 ? rbx_store_request_sign_as(n->st, sig, n->sign_key, method, target, ts, nonce,
                                             (const uint8_t *)body, bodylen, n->user, n->device)
                 : rbx_store_request_sign(n->st, sig, method, target, ts, nonce,
                                          (const uint8_t *)body, bodylen, n->user, n->device);
    if (rc != 0) return rc;
    sodium_bin2base64(nb, sizeof nb, nonce, sizeof nonce, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sb, sizeof sb, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    int k = snprintf(out, cap,
                     "Authorization: RBX-Sig user=\"%s\", device=%u, ts=%llu, nonce=\"%s\", sig=\"%s\"",
                     n->user, n->device, (unsigned long long)ts, nb, sb);
    return k < 0 || (size_t)k >= cap ? RBX_E_BUFFER : 0;
}

long cli_net_call(cli_net *n, const char *method, const char *target, json_t *body, json_t **resp,
                  int sign)
{
    *resp = NULL;
    char *text = NULL;
    size_t len = 0;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL) {
            cli_fail(n->verb, NULL, RBX_E_NOMEM);
            return -1;
        }
        len = strlen(text);
    }
    char url[CLI_URL_MAX + 1024];
    snprintf(url, sizeof url, "%s%s", n->base, target);
    long status = -1;
    /* Twice at most: a clock_skew answer says the server's time, and the
     * request is signed again against it (SERVER.md 3.3). */
    for (int attempt = 0; attempt < 2; attempt++) {
        CURL *c = n->curl;
        curl_easy_reset(c);
        struct curl_slist *h = NULL;
        char auth[512];
        uint64_t ts = (uint64_t)((int64_t)time(NULL) + n->skew);
        if (sign) {
            int rc = auth_header(n, auth, sizeof auth, method, target, text, len, ts);
            if (rc != 0) {
                cli_fail(n->verb, "cannot sign the request", rc);
                break;
            }
            h = curl_slist_append(h, auth);
        }
        if (text != NULL) h = curl_slist_append(h, "Content-Type: application/json");
        rbuf b = { 0 };
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, n->timeout > 0 ? n->timeout : 60L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        if (text != NULL) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        } else if (strcmp(method, "GET") == 0) {
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        }
        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(h);
        if (cc != CURLE_OK) {
            cli_err(n->verb, "%s: %s", n->base, b.over ? "response too large" : curl_easy_strerror(cc));
            free(b.p);
            status = -1;
            break;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        json_t *j = b.n > 0 ? json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, NULL) : NULL;
        free(b.p);
        if (status == 401 && attempt == 0 && strcmp(cli_net_error(j), "clock_skew") == 0 &&
            json_is_integer(json_object_get(j, "server_time"))) {
            n->skew = (int64_t)json_integer_value(json_object_get(j, "server_time")) - (int64_t)time(NULL);
            json_decref(j);
            continue;
        }
        *resp = j;
        break;
    }
    free(text);
    return status;
}

const char *cli_net_error(const json_t *resp)
{
    const char *e = json_string_value(json_object_get(resp, "error"));
    return e != NULL ? e : "";
}

int cli_net_fail(cli_net *n, const char *what, long status, const json_t *resp)
{
    if (status < 0) return CLI_UNAVAILABLE; /* reported by cli_net_call */
    const char *code = cli_net_error(resp);
    const char *msg = json_string_value(json_object_get(resp, "message"));
    cli_err(n->verb, "%s: server answered %ld %s%s%s", what, status, code[0] ? code : "",
            msg ? ": " : "", msg ? msg : "");
    if (status >= 500) return CLI_UNAVAILABLE;
    if (status == 401 || status == 403) return CLI_NOUSER;
    return CLI_DATAERR;
}

/* ------------------------------------------------------------ JSON helpers */

json_t *cli_json_b64(const uint8_t *p, size_t n)
{
    char *s = cli_b64_encode(p, n);
    if (s == NULL) return NULL;
    json_t *j = json_string(s);
    free(s);
    return j;
}

uint8_t *cli_json_unb64(const json_t *v, size_t *len, size_t max)
{
    *len = 0;
    const char *s = json_string_value(v);
    if (s == NULL) return NULL;
    size_t sl = strlen(s);
    uint8_t *out = malloc(sl / 4 * 3 + 3);
    if (out == NULL) return NULL;
    if (cli_b64_decode(out, sl / 4 * 3 + 3, len, s, sl) != 0 || *len == 0 || *len > max) {
        free(out);
        *len = 0;
        return NULL;
    }
    return out;
}

int cli_json_uint(const json_t *o, const char *k, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}
