/* SPDX-License-Identifier: MIT
 * HTTP/1.1 on libmicrohttpd (Debian libmicrohttpd12), one thread per
 * connection: a handler may block on the commit queue or a long poll
 * without holding up other connections. This file collects a request
 * (raw target, two headers, body up to max_body), hands it to api_handle
 * and sends the response; it logs the endpoint, status and time of each
 * request, never its path, headers or body. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "api.h"
#include "http.h"
#include "metrics.h"
#include "server.h"

typedef struct conn_req {
    char *target;       /* as received, before libmicrohttpd splits or unescapes it */
    uint8_t *body;
    size_t len, cap;
    int too_large;
    int started;
    double t0;
} conn_req;

static struct MHD_Daemon *daemon_;
static server *srv;

/* Called first for every request, with the request-target as received:
 * the signed target must be the bytes the client sent. */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    conn_req *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->target = strdup(uri != NULL ? uri : "");
    r->t0 = metrics_now();
    metrics_inflight(1);
    return r;
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    conn_req *r = *con_cls;
    if (r == NULL) return;
    free(r->target);
    free(r->body);
    free(r);
    *con_cls = NULL;
    metrics_inflight(-1);
}

/* Keeps the request target as it is (libmicrohttpd would unescape it for
 * its own URL and arguments, which rbxd does not use). */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static enum MHD_Result send_response(struct MHD_Connection *con, api_response *rs, int close_conn)
{
    struct MHD_Response *resp;
    if (rs->body != NULL) {
        resp = MHD_create_response_from_buffer(rs->body_len, rs->body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
            api_response_free(rs);
            return MHD_NO;
        }
        rs->body = NULL; /* libmicrohttpd frees it */
    } else {
        static char empty[1];
        resp = MHD_create_response_from_buffer(0, empty, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) return MHD_NO;
    }
    if (rs->content_type != NULL && rs->status != 304)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (rs->etag[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, rs->etag);
    if (rs->allow[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rs->allow);
    if (rs->retry_after >= 0) {
        char ra[32];
        snprintf(ra, sizeof ra, "%lld", (long long)rs->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (close_conn) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)rs->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void finish(conn_req *r, const char *method, api_response *rs)
{
    double dt = metrics_now() - r->t0;
    metrics_request(rs->ep, rs->status, dt);
    if (srv->cfg.log_requests || rs->status >= 500)
        fprintf(stderr, "rbxd: %s %s %d %.1fms\n", method, metrics_endpoint_name(rs->ep), rs->status,
                dt * 1000.0);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *con, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    conn_req *r = *con_cls;
    if (r == NULL) return MHD_NO; /* out of memory in uri_log */
    if (!r->started) {
        r->started = 1;
        /* Refuse an announced body above the limit before reading it. */
        const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || *end != '\0' || n > srv->cfg.max_body) r->too_large = 1;
        }
        if (!r->too_large) return MHD_YES;
    }
    if (*upload_data_size > 0 && !r->too_large) {
        size_t add = *upload_data_size;
        if (r->len + add > srv->cfg.max_body) {
            r->too_large = 1;
        } else {
            if (r->len + add > r->cap) {
                size_t nc = r->cap ? r->cap : 4096;
                while (nc < r->len + add) nc *= 2;
                if (nc > srv->cfg.max_body) nc = (size_t)srv->cfg.max_body;
                uint8_t *nb = realloc(r->body, nc);
                if (nb == NULL) return MHD_NO;
                r->body = nb;
                r->cap = nc;
            }
            memcpy(r->body + r->len, upload_data, add);
            r->len += add;
            *upload_data_size = 0;
            return MHD_YES;
        }
    }
    api_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = method;
    rq.target = r->target != NULL ? r->target : "";
    rq.authorization = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    rq.if_none_match = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    rq.body = r->body != NULL ? r->body : (const uint8_t *)"";
    rq.body_len = r->len;
    rq.body_too_large = r->too_large;
    api_response rs;
    if (r->too_large) {
        /* Answer without reading the rest; the connection closes. */
        memset(&rs, 0, sizeof rs);
        rs.retry_after = -1;
        api_handle(srv, &rq, &rs);
        *upload_data_size = 0;
    } else
        api_handle(srv, &rq, &rs);
    finish(r, method, &rs);
    int close_conn = r->too_large || atomic_load(&srv->draining);
    return send_response(con, &rs, close_conn);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    /* libmicrohttpd's own messages (socket errors, TLS handshakes): they
     * carry no request data. */
    fputs("rbxd: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int http_start(server *S, int listen_fd, char *cert_pem, char *key_pem)
{
    srv = S;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (cert_pem != NULL) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            fprintf(stderr, "rbxd: this libmicrohttpd has no TLS support\n");
            return -1;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    daemon_ = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)S->cfg.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)S->cfg.idle_timeout, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        MHD_OPTION_ARRAY,
        cert_pem != NULL ? tls : tls + 2, MHD_OPTION_END);
    return daemon_ != NULL ? 0 : -1;
}

void http_quiesce(void)
{
    if (daemon_ != NULL) {
        MHD_socket s = MHD_quiesce_daemon(daemon_);
        if (s != MHD_INVALID_SOCKET) close(s);
    }
}

void http_stop(void)
{
    if (daemon_ != NULL) MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
