/*
 * identity_client.c — see identity_client.h. One Certify at a time: the thread's timer
 * starts an attempt (read the token, resolve the service, open a TLS gRPC
 * channel, call), the call's completion installs the certificate or
 * schedules a retry, and the channel is closed after every attempt:
 * Certify happens once a day, a connection kept open for it would only
 * cost memory and keepalives.
 *
 * What is accepted from the service is checked, not trusted: the leaf must
 * chain to our trust anchors through the returned intermediates, carry our
 * identity as its DNS SAN and certify our key. A response failing any of
 * that counts as a failed refresh.
 */
#include "identity_client.h"

#include "core/log.h"
#include "core/loop.h"
#include "grpc/grpc.h"
#include "identity.pb-c.h"
#include "metrics/metrics.h"
#include "tls/cert.h"
#include "tls/tls_ctx.h"
#include "tls/tls_io.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CERTIFY_PATH "/weft.identity.Identity/Certify"
#define CERTIFY_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 1000
#define FIRST_BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 60000
#define TOKEN_MAX (64 * 1024)

static wf_metric_family_t fam_expiry = {
    "identity_cert_expiration_timestamp_seconds",
    "notAfter of the current workload certificate, seconds since the epoch", WF_METRIC_GAUGE,
    NULL, 0, 0};
static wf_metric_family_t fam_refreshes = {
    "identity_cert_refreshes_total", "Certificate refreshes by result", WF_METRIC_COUNTER, NULL,
    0, 0};

void wf_identity_metrics_register(void)
{
    wf_metrics_register(&fam_expiry);
    wf_metrics_register(&fam_refreshes);
}

struct wf_identity {
    /* Constant after wf_identity_new. */
    wf_idc_conf_t conf;             /* owned copies */
    wf_str_t local_name, trust_pem; /* borrowed from the environment */
    STACK_OF(X509) * anchors;       /* owned */
    EVP_PKEY *key;                  /* owned; never serialized */
    uint8_t *csr;                   /* owned: DER */
    size_t csr_len;

    /* The client thread's state. */
    pthread_t thread;
    bool started;
    bool loop_ok;
    wf_loop_t loop;
    _Atomic bool stop;
    wf_timer_t timer;
    wf_tls_ctx_t *client_ctx;   /* owned during an attempt only: an OpenSSL 3 context costs
                                 * ~1 MB, and Certify runs once a day */
    wf_grpc_channel_t *ch;      /* the attempt's channel, NULL between attempts */
    bool got_cert;              /* this attempt installed a certificate */
    uint64_t backoff_ms;
    wf_metrics_shard_t *shard;  /* owned */
    wf_series_t *m_expiry, *m_ok, *m_fail;
    int64_t expiry_value;

    /* What workers read. */
    pthread_mutex_t mu;
    char *chain_pem; /* owned, under mu */
    size_t chain_len;
    _Atomic uint64_t gen;
    _Atomic int64_t not_after;
};

/* --- certificate ------------------------------------------------------------------ */

static STACK_OF(X509) * anchors_parse(wf_str_t pem)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    BIO *b = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    X509 *x;
    while (sk != NULL && b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        if (!sk_X509_push(sk, x))
            X509_free(x);
    ERR_clear_error();
    BIO_free(b);
    if (sk != NULL && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

/* Checks a CertifyResponse and, if good, makes it the current certificate. */
static int install(wf_identity_t *id, const Weft__Identity__CertifyResponse *r, char *err,
                   size_t errlen)
{
    X509 *leaf = NULL;
    STACK_OF(X509) *inter = sk_X509_new_null();
    char *pem = NULL, *part = NULL;
    size_t pem_len = 0, part_len;
    int rc = wf_cert_der_to_pem(r->leaf_certificate.data, r->leaf_certificate.len, &leaf, &pem,
                                &pem_len, err, errlen);
    for (size_t i = 0; rc == 0 && i < r->n_intermediate_certificates; i++) {
        X509 *x = NULL;
        rc = wf_cert_der_to_pem(r->intermediate_certificates[i].data,
                                r->intermediate_certificates[i].len, &x, &part, &part_len, err,
                                errlen);
        if (rc != 0)
            break;
        char *grown = realloc(pem, pem_len + part_len + 1);
        if (grown == NULL || inter == NULL || !sk_X509_push(inter, x)) {
            if (grown != NULL)
                pem = grown;
            X509_free(x);
            free(part);
            part = NULL;
            rc = WF_ENOMEM;
            snprintf(err, errlen, "out of memory");
            break;
        }
        pem = grown;
        memcpy(pem + pem_len, part, part_len + 1);
        pem_len += part_len;
        free(part);
        part = NULL;
    }
    time_t nb = 0, na = 0;
    if (rc == 0) {
        char why[256];
        if (wf_cert_verify(leaf, inter, id->anchors, 0, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "the certificate does not verify against the trust anchors: %s",
                     why);
            rc = WF_EINVAL;
        } else if (X509_check_host(leaf, id->local_name.ptr, id->local_name.len,
                                   X509_CHECK_FLAG_NO_WILDCARDS |
                                       X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                                   NULL) != 1) {
            snprintf(err, errlen, "the certificate is not for %.*s", (int)id->local_name.len,
                     id->local_name.ptr);
            rc = WF_EINVAL;
        } else if (X509_check_private_key(leaf, id->key) != 1) {
            snprintf(err, errlen, "the certificate is not for our key");
            rc = WF_EINVAL;
        } else if (wf_cert_validity(leaf, &nb, &na) != 0) {
            snprintf(err, errlen, "unreadable validity");
            rc = WF_EINVAL;
        }
    }
    ERR_clear_error();
    X509_free(leaf);
    sk_X509_pop_free(inter, X509_free);
    if (rc != 0) {
        free(pem);
        return rc;
    }
    pthread_mutex_lock(&id->mu);
    free(id->chain_pem);
    id->chain_pem = pem;
    id->chain_len = pem_len;
    atomic_store(&id->not_after, (int64_t)na);
    atomic_fetch_add(&id->gen, 1);
    pthread_mutex_unlock(&id->mu);
    wf_gauge_add(id->m_expiry, (int64_t)na - id->expiry_value);
    id->expiry_value = (int64_t)na;
    return 0;
}

/* --- the client --------------------------------------------------------------------- */

static uint64_t jitter(uint64_t ms)
{
    uint32_t r = 0;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    /* ±25 % so a fleet that failed together does not retry together. */
    return ms * 3 / 4 + (ms > 0 ? r % (ms / 2 + 1) : 0);
}

static void schedule(wf_identity_t *id, uint64_t after_ms)
{
    wf_timer_start(&id->loop, &id->timer, after_ms);
}

/* After a failure: back off, but try again before the current cert expires. */
static void schedule_retry(wf_identity_t *id)
{
    /* Without any certificate yet, nothing works until one comes: the
     * first retries come sooner (the identity service is often starting
     * at the same moment), from 200 ms. */
    uint64_t min = atomic_load(&id->gen) == 0 ? FIRST_BACKOFF_MIN_MS : BACKOFF_MIN_MS;
    id->backoff_ms = id->backoff_ms == 0 ? min
                                         : WF_MIN(id->backoff_ms * 2, (uint64_t)BACKOFF_MAX_MS);
    uint64_t after = jitter(id->backoff_ms);
    int64_t na = atomic_load(&id->not_after);
    int64_t left_ms = (na - (int64_t)time(NULL)) * 1000;
    if (na > 0 && left_ms > 0 && (uint64_t)left_ms / 2 < after)
        after = WF_MAX((uint64_t)left_ms / 2, (uint64_t)BACKOFF_MIN_MS / 2);
    schedule(id, after);
}

static void fail_attempt(wf_identity_t *id, const char *fmt, const char *a, const char *b)
{
    char msg[768];
    snprintf(msg, sizeof(msg), fmt, a, b);
    wf_counter_add(id->m_fail, 1);
    wf_log_warn("identity: cannot obtain a certificate for %.*s: %s%s", (int)id->local_name.len,
                id->local_name.ptr, msg,
                wf_identity_ready(id) ? " (the current certificate stays in use)" : "");
    schedule_retry(id);
}

static void on_message(wf_grpc_ccall_t *cc, const ProtobufCMessage *msg)
{
    wf_identity_t *id = wf_grpc_ccall_data(cc);
    char err[512];
    if (install(id, (const Weft__Identity__CertifyResponse *)msg, err, sizeof(err)) != 0) {
        wf_log_warn("identity: refusing the certificate from the identity service: %s", err);
        return;
    }
    id->got_cert = true;
}

static void on_done(wf_grpc_ccall_t *cc, wf_grpc_status_t status, wf_str_t message)
{
    wf_identity_t *id = wf_grpc_ccall_data(cc);
    wf_grpc_channel_close(id->ch);
    id->ch = NULL;
    wf_tls_ctx_unref(id->client_ctx); /* the closing connection keeps its own reference */
    id->client_ctx = NULL;
    if (status != WF_GRPC_OK || !id->got_cert) {
        char st[32], m[300];
        snprintf(st, sizeof(st), "%d", (int)status);
        snprintf(m, sizeof(m), "%.*s", (int)WF_MIN(message.len, 256), message.ptr);
        if (status == WF_GRPC_OK)
            return fail_attempt(id, "the response was not usable%s%s", "", "");
        return fail_attempt(id, "Certify failed with gRPC status %s: %s", st, m);
    }
    wf_counter_add(id->m_ok, 1);
    id->backoff_ms = 0;
    int64_t now = (int64_t)time(NULL), na = atomic_load(&id->not_after);
    /* Renew at 70 % of the remaining lifetime (the 20 s back-dating of
     * notBefore makes "remaining" the better measure). */
    uint64_t after_ms = na > now ? (uint64_t)(na - now) * 1000 * 7 / 10 : BACKOFF_MIN_MS;
    char until[64];
    time_t t = (time_t)na;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
    wf_log_info("identity: certified as %.*s until %s; renewing in %llus",
                (int)id->local_name.len, id->local_name.ptr, until,
                (unsigned long long)(after_ms / 1000));
    schedule(id, WF_MAX(after_ms, (uint64_t)BACKOFF_MIN_MS));
}

static wf_io_t *tls_wrap(void *arg, wf_io_t *sock)
{
    wf_identity_t *id = arg;
    const char *why = NULL;
    wf_io_t *io = wf_tls_io_new_client(id->client_ctx, sock, wf_str_from(id->conf.svc_name),
                                       &why);
    if (io == NULL) {
        wf_log_warn("identity: cannot start TLS: %s", why);
        wf_io_destroy(sock);
    }
    return io;
}

/* Reads the token file; *out malloc'ed. Re-read every time: the token may
 * be rotated under us (projected ServiceAccount tokens are). */
static int read_token(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -errno;
    }
    uint8_t *buf = malloc(TOKEN_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, TOKEN_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0 || n > TOKEN_MAX) {
        snprintf(err, errlen, "%s", buf == NULL ? "out of memory" : n == 0 ? "empty" : "too large");
        free(buf);
        return WF_EINVAL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    *out = buf;
    *len = n;
    return 0;
}

static void attempt(wf_loop_t *loop, wf_timer_t *t)
{
    wf_identity_t *id = wf_container_of(t, wf_identity_t, timer);
    const wf_idc_conf_t *cfg = &id->conf;
    if (id->ch != NULL)
        return; /* one attempt at a time */
    uint8_t *token = NULL;
    size_t token_len = 0;
    char err[256];
    if (read_token(cfg->token_file, &token, &token_len, err, sizeof(err)) != 0)
        return fail_attempt(id, "token file %s: %s", cfg->token_file, err);
    const char *why = NULL;
    static const wf_str_t alpn[] = {{"h2", 2}};
    wf_tls_ctx_conf_t conf = {.trust_pem = id->trust_pem, .alpn = alpn, .alpn_count = 1};
    wf_tls_ctx_unref(id->client_ctx);
    id->client_ctx = wf_tls_ctx_new_client(&conf, &why);
    if (id->client_ctx == NULL) {
        free(token);
        return fail_attempt(id, "cannot build the TLS client context: %s%s", why, "");
    }
    wf_addr_t addr;
    int rc = wf_addr_resolve(&addr, wf_str_from(cfg->svc_addr));
    if (rc != 0) {
        free(token);
        return fail_attempt(id, "cannot resolve the identity service address %s: %s",
                            cfg->svc_addr, wf_strerror(rc));
    }
    id->ch = wf_grpc_channel_connect_wrapped(loop, &addr, wf_str_from(cfg->svc_name),
                                             tls_wrap, id, NULL, &rc);
    if (id->ch == NULL) {
        free(token);
        return fail_attempt(id, "cannot connect to %s: %s", cfg->svc_addr,
                            wf_strerror(rc));
    }
    Weft__Identity__CertifyRequest req = WEFT__IDENTITY__CERTIFY_REQUEST__INIT;
    req.identity = (char *)cfg->local_name;
    req.token = (ProtobufCBinaryData){token_len, token};
    req.certificate_signing_request = (ProtobufCBinaryData){id->csr_len, id->csr};
    static const wf_grpc_ccall_cbs_t cbs = {on_message, on_done};
    id->got_cert = false;
    wf_grpc_ccall_t *cc =
        wf_grpc_call_start(id->ch, CERTIFY_PATH, WF_GRPC_UNARY, &req.base,
                           &weft__identity__certify_response__descriptor, CERTIFY_TIMEOUT_MS, &cbs,
                           id, &rc);
    free(token);
    if (cc == NULL) {
        wf_grpc_channel_close(id->ch);
        id->ch = NULL;
        return fail_attempt(id, "cannot start the call: %s%s", wf_strerror(rc), "");
    }
}

static void on_wake(wf_loop_t *loop)
{
    wf_identity_t *id = wf_container_of(loop, wf_identity_t, loop);
    if (!atomic_load(&id->stop))
        return;
    wf_timer_stop(loop, &id->timer);
    if (id->ch != NULL) {
        wf_grpc_channel_close(id->ch); /* the call ends CANCELLED: no callback */
        id->ch = NULL;
    }
    wf_loop_stop(loop);
}

static void *identity_thread(void *arg)
{
    wf_identity_t *id = arg;
    id->shard = wf_metrics_shard_new();
    if (id->shard != NULL) {
        id->m_expiry = wf_metrics_get(id->shard, &fam_expiry, WF_STR(""));
        id->m_ok = wf_metrics_get(id->shard, &fam_refreshes, WF_STR("result=\"success\""));
        id->m_fail = wf_metrics_get(id->shard, &fam_refreshes, WF_STR("result=\"failure\""));
    }
    schedule(id, 0);
    on_wake(&id->loop); /* a stop may have been asked already */
    wf_loop_run(&id->loop);
    /* Let closed channels free themselves. */
    for (int i = 0; i < 4; i++)
        wf_loop_run_once(&id->loop, 0);
    return NULL;
}

/* --- API ------------------------------------------------------------------------------ */

static void conf_free(wf_idc_conf_t *c)
{
    free((char *)c->trust_anchors);
    free((char *)c->token_file);
    free((char *)c->svc_addr);
    free((char *)c->svc_name);
    free((char *)c->local_name);
    free((char *)c->anchors_source);
}

static int conf_copy(wf_idc_conf_t *to, const wf_idc_conf_t *from)
{
    const char *const *f[] = {&from->trust_anchors, &from->token_file, &from->svc_addr,
                              &from->svc_name, &from->local_name, &from->anchors_source};
    const char **t[] = {&to->trust_anchors, &to->token_file, &to->svc_addr,
                        &to->svc_name, &to->local_name, &to->anchors_source};
    for (size_t i = 0; i < WF_ARRAY_LEN(f); i++) {
        if (*f[i] == NULL || (*t[i] = strdup(*f[i])) == NULL)
            return WF_ENOMEM;
    }
    return 0;
}

int wf_identity_new(wf_identity_t **out, const wf_idc_conf_t *conf, char *err, size_t errlen)
{
    *out = NULL;
    wf_identity_t *id = calloc(1, sizeof(*id));
    if (id == NULL || conf_copy(&id->conf, conf) != 0) {
        snprintf(err, errlen, "out of memory");
        if (id != NULL)
            conf_free(&id->conf);
        free(id);
        return WF_ENOMEM;
    }
    const wf_idc_conf_t *cfg = &id->conf;
    id->local_name = wf_str_from(cfg->local_name);
    id->trust_pem = wf_str_from(cfg->trust_anchors);
    pthread_mutex_init(&id->mu, NULL);
    int rc = WF_EINVAL;
    id->anchors = anchors_parse(id->trust_pem);
    if (id->anchors == NULL) {
        snprintf(err, errlen,
                 "%s: no PEM certificate found (expected the trust anchors' PEM text)",
                 cfg->anchors_source);
        goto fail;
    }
    if ((rc = wf_cert_key_generate(&id->key)) != 0) {
        snprintf(err, errlen, "cannot generate a private key");
        goto fail;
    }
    if ((rc = wf_cert_csr_build(id->key, cfg->local_name, &id->csr, &id->csr_len, err,
                                errlen)) != 0)
        goto fail;
    if ((rc = wf_loop_init(&id->loop)) != 0) {
        snprintf(err, errlen, "cannot create the identity loop: %s", wf_strerror(rc));
        goto fail;
    }
    id->loop_ok = true;
    id->loop.on_wake = on_wake;
    wf_timer_init(&id->timer, attempt);
    *out = id;
    return 0;
fail:
    wf_identity_free(id);
    return rc;
}

int wf_identity_start(wf_identity_t *id)
{
    int rc = pthread_create(&id->thread, NULL, identity_thread, id);
    if (rc != 0)
        return -rc;
    id->started = true;
    return 0;
}

void wf_identity_free(wf_identity_t *id)
{
    if (id == NULL)
        return;
    if (id->started) {
        atomic_store(&id->stop, true);
        wf_loop_wake(&id->loop);
        pthread_join(id->thread, NULL);
    }
    if (id->loop_ok)
        wf_loop_destroy(&id->loop);
    if (id->shard != NULL) {
        wf_series_t *s[] = {id->m_expiry, id->m_ok, id->m_fail};
        for (size_t i = 0; i < WF_ARRAY_LEN(s); i++)
            if (s[i] != NULL)
                wf_metrics_put(id->shard, s[i], 0);
        wf_metrics_shard_free(id->shard);
    }
    wf_tls_ctx_unref(id->client_ctx);
    sk_X509_pop_free(id->anchors, X509_free);
    EVP_PKEY_free(id->key);
    free(id->csr);
    free(id->chain_pem);
    pthread_mutex_destroy(&id->mu);
    conf_free(&id->conf);
    free(id);
}

bool wf_identity_ready(const wf_identity_t *id)
{
    int64_t na = atomic_load(&((wf_identity_t *)id)->not_after);
    return na > 0 && (int64_t)time(NULL) < na;
}

uint64_t wf_identity_generation(const wf_identity_t *id)
{
    return atomic_load_explicit(&((wf_identity_t *)id)->gen, memory_order_acquire);
}

int wf_identity_snapshot(wf_identity_t *id, char **chain_pem, size_t *len, EVP_PKEY **key,
                         uint64_t *generation)
{
    pthread_mutex_lock(&id->mu);
    int rc = WF_ENOTFOUND;
    if (id->chain_pem != NULL) {
        *chain_pem = malloc(id->chain_len + 1);
        rc = WF_ENOMEM;
        if (*chain_pem != NULL) {
            memcpy(*chain_pem, id->chain_pem, id->chain_len + 1);
            *len = id->chain_len;
            EVP_PKEY_up_ref(id->key);
            *key = id->key;
            *generation = atomic_load(&id->gen);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&id->mu);
    return rc;
}

wf_str_t wf_identity_local_name(const wf_identity_t *id)
{
    return id->local_name;
}

wf_str_t wf_identity_trust_pem(const wf_identity_t *id)
{
    return id->trust_pem;
}

wf_tls_ctx_t *wf_identity_tls_ctx(wf_identity_t *id, wf_tls_ctx_t **ctx, uint64_t *gen,
                                  bool server, const wf_str_t *alpn, size_t alpn_count)
{
    if (*ctx != NULL && wf_identity_generation(id) == *gen)
        return *ctx;
    char *pem;
    size_t len;
    EVP_PKEY *key;
    uint64_t g;
    if (wf_identity_snapshot(id, &pem, &len, &key, &g) != 0)
        return *ctx; /* none yet: NULL; else the one we have */
    const char *why = NULL;
    if (*ctx == NULL) {
        wf_tls_ctx_conf_t conf = {
            .cert_chain_pem = {pem, len},
            .key = key,
            .trust_pem = id->trust_pem,
            .alpn = alpn,
            .alpn_count = alpn_count,
            /* Clients without a cert get TLS and no client identity
             * (Linkerd does the same); policy decides what they may do. */
            .client_auth = WF_TLS_CLIENT_AUTH_OPTIONAL,
        };
        *ctx = server ? wf_tls_ctx_new_server(&conf, &why) : wf_tls_ctx_new_client(&conf, &why);
        if (*ctx == NULL)
            wf_log_warn("cannot build a %s TLS context for %.*s: %s", server ? "server" : "client",
                        (int)id->local_name.len, id->local_name.ptr, why);
        else
            *gen = g;
    } else if (wf_tls_ctx_set_cert(*ctx, (wf_str_t){pem, len}, key, &why) != 0) {
        wf_log_warn("cannot use the new certificate for %.*s: %s", (int)id->local_name.len,
                    id->local_name.ptr, why);
    } else {
        *gen = g;
    }
    free(pem);
    EVP_PKEY_free(key);
    return *ctx;
}
