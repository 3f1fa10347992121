/* SPDX-License-Identifier: MIT
 * rbxd: the ratchetbox prekey directory and mailbox server
 * (spec/SERVER.md). main: settings, the listening socket, the storage, the
 * HTTP daemon, and the signals: SIGTERM/SIGINT drain in-flight requests and
 * stop, SIGUSR1 runs a retention sweep now (the sweeper also runs every
 * sweep_interval). Every signal is taken by sigwait in this thread, so no
 * handler runs on another thread's stack. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config.h"
#include "http.h"
#include "metrics.h"
#include "notify.h"
#include "server.h"

extern const char rbxd_sql_pg[]; /* server/sql/pg.sql, generated */
int db_pg_migrate(const char *url, char *err, size_t errcap);

static server S;

/* Read a whole PEM file into a malloc'ed NUL-terminated string. */
static char *read_pem(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 8192;
            char *nb = malloc(nc);
            if (nb == NULL) break;
            if (buf != NULL) {
                memcpy(nb, buf, n);
                sodium_memzero(buf, cap);
                free(buf);
            }
            buf = nb;
            cap = nc;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
        if (n > 1024 * 1024) break;
    }
    int bad = ferror(f) || buf == NULL || n > 1024 * 1024;
    fclose(f);
    if (bad) {
        if (buf != NULL) sodium_memzero(buf, cap);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = cap;
    return buf;
}

/* 1 if the socket is bound to a loopback address. */
static int is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return 0;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        static const uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, lo, 16) == 0;
    }
    return 0;
}

static int listen_on(const char *spec, int *port_out)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "rbxd: listen: expected HOST:PORT\n");
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    const char *h = host;
    if (host[0] == '[') { /* [::1]:port */
        size_t hl = strlen(host);
        if (hl < 2 || host[hl - 1] != ']') {
            fprintf(stderr, "rbxd: listen: bad address\n");
            return -1;
        }
        host[hl - 1] = '\0';
        h = host + 1;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "rbxd: listen: %s\n", gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *p = ai; p != NULL; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, 256) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        fprintf(stderr, "rbxd: listen on %s: %s\n", spec, strerror(errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *port_out = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) *port_out = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

/* Written once the server answers: the port, so that a test or a script
 * that asked for port 0 finds it. Written to a temporary name and renamed,
 * so that a reader never sees half a number. */
static int write_ready(const char *path, int port)
{
    char tmp[CFG_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0) return -1;
    return rename(tmp, path);
}

/* ---------------------------------------------------------------- sweeper */

static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cv;
static int sweep_now_flag, sweep_stop;

static void *sweeper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&sweep_mu);
    while (!sweep_stop) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += (time_t)S.cfg.sweep_interval;
        while (!sweep_stop && !sweep_now_flag)
            if (pthread_cond_timedwait(&sweep_cv, &sweep_mu, &dl) == ETIMEDOUT) break;
        if (sweep_stop) break;
        sweep_now_flag = 0;
        pthread_mutex_unlock(&sweep_mu);
        if (server_sweep(&S) != 0) fprintf(stderr, "rbxd: retention sweep failed\n");
        pthread_mutex_lock(&sweep_mu);
    }
    pthread_mutex_unlock(&sweep_mu);
    return NULL;
}

static void sweeper_poke(int stop)
{
    pthread_mutex_lock(&sweep_mu);
    if (stop) sweep_stop = 1;
    else sweep_now_flag = 1;
    pthread_cond_broadcast(&sweep_cv);
    pthread_mutex_unlock(&sweep_mu);
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    char err[512];
    int action = 0, print_config = 0, migrate = 0, print_migration = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-config") == 0) print_config = 1;
        else if (strcmp(argv[i], "--migrate") == 0) migrate = 1;
        else if (strcmp(argv[i], "--print-migration") == 0) print_migration = 1;
        else if (strcmp(argv[i], "--version") == 0) {
            printf("rbxd %s\n", rbx_version());
            return 0;
        }
    }
    if (print_migration) {
        fputs(rbxd_sql_pg, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (rbx_init() != 0) {
        fprintf(stderr, "rbxd: cannot initialise the crypto libraries\n");
        return 1;
    }
    config_defaults(&S.cfg);
    if (config_args(&S.cfg, argc, argv, err, sizeof err, &action) != 0) {
        fprintf(stderr, "rbxd: %s\n%s", err, config_usage);
        return 64;
    }
    if (action == 1) {
        fputs(config_usage, stdout);
        return 0;
    }
    if (config_check(&S.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "rbxd: %s\n", err);
        return 64;
    }
    if (print_config) {
        config_print(&S.cfg);
        return 0;
    }
    if (migrate) {
        if (db_backend(S.cfg.db) != &db_pg_ops) {
            fprintf(stderr, "rbxd: --migrate is for PostgreSQL (SQLite databases set themselves up)\n");
            return 64;
        }
        if (db_pg_migrate(S.cfg.db, err, sizeof err) != 0) {
            fprintf(stderr, "rbxd: migrate: %s\n", err);
            return 1;
        }
        fprintf(stderr, "rbxd: the PostgreSQL schema is installed\n");
        return 0;
    }
    if (S.cfg.test_clock[0])
        fprintf(stderr, "rbxd: TEST CLOCK from %s: not for production\n", S.cfg.test_clock);

    /* Every signal goes to sigwait below; threads started from here on
     * inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    metrics_init();
    notify_init();
    {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(&sweep_cv, &a);
        pthread_condattr_destroy(&a);
    }

    char *cert = NULL, *key = NULL;
    size_t cert_cap = 0, key_cap = 0;
    if (S.cfg.tls_cert[0]) {
        cert = read_pem(S.cfg.tls_cert, &cert_cap);
        key = read_pem(S.cfg.tls_key, &key_cap);
        if (cert == NULL || key == NULL) {
            fprintf(stderr, "rbxd: cannot read %s\n", cert == NULL ? S.cfg.tls_cert : S.cfg.tls_key);
            return 1;
        }
    }
    int port = 0;
    int fd = listen_on(S.cfg.listen, &port);
    if (fd < 0) return 1;
    if (!S.cfg.tls_cert[0] && !is_loopback(fd))
        fprintf(stderr, "rbxd: WARNING: plain HTTP on a non-loopback address: put TLS in front "
                        "(tls_cert/tls_key or a terminating proxy)\n");
    if (server_open(&S, err, sizeof err) != 0) {
        fprintf(stderr, "rbxd: %s\n", err);
        close(fd);
        return 1;
    }
    int rc = http_start(&S, fd, cert, key);
    if (key != NULL) { /* libmicrohttpd has parsed the key */
        sodium_memzero(key, key_cap);
        free(key);
    }
    free(cert);
    if (rc != 0) {
        fprintf(stderr, "rbxd: cannot start the HTTP server\n");
        server_close(&S);
        close(fd);
        return 1;
    }
    pthread_t sweep_thread;
    if (pthread_create(&sweep_thread, NULL, sweeper, NULL) != 0) {
        fprintf(stderr, "rbxd: cannot start the sweeper\n");
        http_stop();
        server_close(&S);
        return 1;
    }
    fprintf(stderr, "rbxd: serving %s on %s port %d (%s, enroll:%s%s%s)\n",
            S.cfg.tls_cert[0] ? "HTTPS" : "HTTP", S.cfg.listen, port, S.ops->name,
            (S.cfg.enroll & ENROLL_OPEN) ? " open" : "", (S.cfg.enroll & ENROLL_LINKED) ? " linked" : "",
            (S.cfg.enroll & ENROLL_ORG) ? " org" : "");
    if (S.cfg.ready_file[0] && write_ready(S.cfg.ready_file, port) != 0)
        fprintf(stderr, "rbxd: cannot write %s\n", S.cfg.ready_file);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGUSR1) {
            sweeper_poke(0);
            continue;
        }
        if (sig == SIGHUP) continue; /* settings are read at start only */
        break;
    }
    /* Drain (spec/SERVER.md section 11.3): stop accepting, answer 503 to new
     * requests on open connections, wake long polls, let requests in flight
     * finish (they commit or fail as a whole), then stop. */
    fprintf(stderr, "rbxd: draining\n");
    atomic_store(&S.draining, 1);
    http_quiesce();
    notify_shutdown();
    double t0 = metrics_now();
    while (metrics_inflight_now() > 0 && metrics_now() - t0 < (double)S.cfg.drain_timeout) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (metrics_inflight_now() > 0)
        fprintf(stderr, "rbxd: %lld requests still in flight after %llu s; stopping anyway\n",
                (long long)metrics_inflight_now(), (unsigned long long)S.cfg.drain_timeout);
    sweeper_poke(1);
    pthread_join(sweep_thread, NULL);
    http_stop();
    server_close(&S);
    fprintf(stderr, "rbxd: stopped\n");
    return 0;
}
