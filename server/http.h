/* SPDX-License-Identifier: MIT
 * The HTTP front of rbxd (http.c). */
#ifndef RBXD_HTTP_H
#define RBXD_HTTP_H

struct server;

/* Serve on an already listening socket; TLS when cert_pem and key_pem (PEM
 * text) are given. 0 or -1. */
int http_start(struct server *S, int listen_fd, char *cert_pem, char *key_pem);
/* Stop accepting connections; requests in flight go on. */
void http_quiesce(void);
/* Close every connection and stop. */
void http_stop(void);

#endif
