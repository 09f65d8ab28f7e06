/*
 * token.c — the local token verifier (see token.h).
 */
#include "token.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct local_verifier {
    wf_token_verifier_t base;
    int dirfd; /* owned: the token store, opened once */
    char *dir; /* owned: its name, for messages */
} local_verifier_t;

const char *wf_token_result_name(wf_token_result_t r)
{
    switch (r) {
    case WF_TOKEN_OK:
        return "ok";
    case WF_TOKEN_UNAUTHENTICATED:
        return "unauthenticated";
    case WF_TOKEN_DENIED:
        return "permission_denied";
    case WF_TOKEN_ERROR:
        return "error";
    }
    return "error";
}

static wf_token_result_t local_verify(wf_token_verifier_t *v, wf_str_t token, wf_str_t identity,
                                      char *msg, size_t msglen)
{
    local_verifier_t *lv = (local_verifier_t *)v;
    if (token.len == 0) {
        snprintf(msg, msglen, "no token given");
        return WF_TOKEN_UNAUTHENTICATED;
    }
    if (token.len > WF_TOKEN_MAX) {
        snprintf(msg, msglen, "token is longer than %d bytes", WF_TOKEN_MAX);
        return WF_TOKEN_UNAUTHENTICATED;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(token.ptr, token.len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        snprintf(msg, msglen, "cannot hash the token");
        return WF_TOKEN_ERROR;
    }
    char name[65];
    for (unsigned i = 0; i < 32; i++)
        snprintf(name + 2 * i, 3, "%02x", md[i]);
    /* The name is hex: it cannot leave the directory. O_NOFOLLOW keeps a
     * planted symlink from making us read some other file. */
    int fd = openat(lv->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) {
            snprintf(msg, msglen, "unknown token");
            return WF_TOKEN_UNAUTHENTICATED;
        }
        snprintf(msg, msglen, "cannot read the token store");
        return WF_TOKEN_ERROR;
    }
    char buf[512];
    ssize_t n;
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        snprintf(msg, msglen, "cannot read the token store");
        return WF_TOKEN_ERROR;
    }
    size_t b = 0, e = (size_t)n;
    while (b < e && (buf[b] == ' ' || buf[b] == '\t' || buf[b] == '\n' || buf[b] == '\r'))
        b++;
    while (e > b &&
           (buf[e - 1] == ' ' || buf[e - 1] == '\t' || buf[e - 1] == '\n' || buf[e - 1] == '\r'))
        e--;
    if (!wf_str_eq((wf_str_t){buf + b, e - b}, identity)) {
        snprintf(msg, msglen, "token does not prove identity %.*s", (int)WF_MIN(identity.len, 253),
                 identity.ptr);
        return WF_TOKEN_DENIED;
    }
    return WF_TOKEN_OK;
}

static void local_destroy(wf_token_verifier_t *v)
{
    local_verifier_t *lv = (local_verifier_t *)v;
    close(lv->dirfd);
    free(lv->dir);
    free(lv);
}

static const wf_token_verifier_ops_t local_ops = {"local", local_verify, local_destroy};

int wf_token_local_new(const char *dir, wf_token_verifier_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "--token-store %s: %s", dir,
                 e == ENOTDIR ? "not a directory" : strerror(e));
        return -e;
    }
    local_verifier_t *lv = calloc(1, sizeof(*lv));
    char *name = strdup(dir);
    if (lv == NULL || name == NULL) {
        free(lv);
        free(name);
        close(fd);
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    lv->base.ops = &local_ops;
    lv->dirfd = fd;
    lv->dir = name;
    *out = &lv->base;
    return 0;
}
