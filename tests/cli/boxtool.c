/* SPDX-License-Identifier: MIT
 * Demo and test helper: the product's long-lived box keys, as today.
 *
 *   boxtool keygen FILE      new box key pair as the product's JSON key file
 *                            (created with mode 0600, never overwritten)
 *   boxtool seal KEYFILE PEER_PK_B64
 *                            for every stdin line (one plaintext, newline
 *                            stripped) print "content<TAB>nonce": today's
 *                            envelope (rbx_baseline_seal) from the key file's
 *                            owner to PEER_PK_B64
 *   boxtool pk KEYFILE       the key file's public key, base64
 *
 * Secrets only ever come from the key file, never from argv (STYLE.md). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ratchetbox.h"

#define KEYFILE_MAX 4096U
#define LINE_MAX_BYTES (RBX_MAX_PLAINTEXT + 2U)

static int usage(void)
{
    fputs("usage: boxtool keygen FILE | seal KEYFILE PEER_PK_B64 | pk KEYFILE\n", stderr);
    return 64;
}

static int keygen(const char *path)
{
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES];
    char json[RBX_KEYPAIR_JSONBYTES];
    int ret = 74, fd = -1;
    if (rbx_keypair_generate(pk, sk) != 0 || rbx_keypair_to_json(json, sizeof json, pk, sk) != 0)
        goto out;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "boxtool: keygen: %s: %s\n", path, strerror(errno));
        ret = errno == EEXIST ? 73 : 74;
        goto out;
    }
    size_t n = strlen(json);
    json[n] = '\n';
    if (write(fd, json, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0) {
        fprintf(stderr, "boxtool: keygen: %s: write failed\n", path);
        goto out;
    }
    ret = 0;
out:
    if (fd >= 0) close(fd);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(json, sizeof json);
    return ret;
}

static int load_key(uint8_t pk[RBX_PUBLICKEYBYTES], uint8_t sk[RBX_SECRETKEYBYTES], const char *path)
{
    char buf[KEYFILE_MAX];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "boxtool: %s: %s\n", path, strerror(errno));
        return 66;
    }
    setvbuf(f, NULL, _IONBF, 0); /* the key's bytes only in buf, which is wiped */
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int rc = rbx_keypair_from_json(pk, sk, buf, n);
    sodium_memzero(buf, sizeof buf);
    if (rc != 0) {
        fprintf(stderr, "boxtool: %s: %s\n", path, rbx_strerror(rc));
        return 65;
    }
    return 0;
}

static int seal(const char *keyfile, const char *peer_b64)
{
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES], peer[RBX_PUBLICKEYBYTES];
    char nonce[RBX_NONCE_B64BYTES];
    int ret = load_key(pk, sk, keyfile);
    if (ret != 0) return ret;
    if (rbx_key_from_base64(peer, peer_b64, strlen(peer_b64)) != 0) {
        fputs("boxtool: seal: bad peer public key\n", stderr);
        sodium_memzero(sk, sizeof sk);
        return 64;
    }
    char *line = malloc(LINE_MAX_BYTES);
    char *content = malloc(RBX_BASELINE_B64LEN(LINE_MAX_BYTES));
    ret = line && content ? 0 : 74;
    while (ret == 0 && fgets(line, (int)LINE_MAX_BYTES, stdin) != NULL) {
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
        int rc = rbx_baseline_seal(content, RBX_BASELINE_B64LEN(LINE_MAX_BYTES), nonce,
                                   (const uint8_t *)line, len, peer, sk);
        if (rc != 0) {
            fprintf(stderr, "boxtool: seal: %s\n", rbx_strerror(rc));
            ret = 65;
            break;
        }
        printf("%s\t%s\n", content, nonce);
    }
    if (fflush(stdout) != 0) ret = 74;
    if (line != NULL) sodium_memzero(line, LINE_MAX_BYTES); /* the last plaintext */
    free(line);
    free(content);
    sodium_memzero(sk, sizeof sk);
    return ret;
}

static int print_pk(const char *keyfile)
{
    uint8_t pk[RBX_PUBLICKEYBYTES], sk[RBX_SECRETKEYBYTES];
    char b64[RBX_KEY_B64BYTES];
    int ret = load_key(pk, sk, keyfile);
    sodium_memzero(sk, sizeof sk);
    if (ret != 0) return ret;
    rbx_key_to_base64(b64, pk);
    printf("%s\n", b64);
    return 0;
}

int main(int argc, char **argv)
{
    if (rbx_init() != 0) return 74;
    if (argc == 3 && strcmp(argv[1], "keygen") == 0) return keygen(argv[2]);
    if (argc == 4 && strcmp(argv[1], "seal") == 0) return seal(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "pk") == 0) return print_pk(argv[2]);
    return usage();
}
