/*
 * kube_client.c — blocking requests to the API server (see kube_client.h).
 * TLS settings are the kubernetes source's (kube.c): the CA from file or
 * data, client certificate / key, bearer token, insecure-skip-tls-verify.
 */
#include "k8s/kube_client.h"

#include <curl/curl.h>
#include <stdio.h>

#define CLIENT_MAX_BODY (64u * 1024 * 1024)

static size_t write_cb(char *p, size_t size, size_t n, void *userdata)
{
    wf_sbuf_t *out = userdata;
    if (out->len + size * n > CLIENT_MAX_BODY)
        return 0; /* curl fails the transfer */
    wf_sbuf_append(out, p, size * n);
    return out->oom ? 0 : size * n;
}

int wf_k8s_request(const wf_k8s_cfg_t *c, const char *method, const char *path, const char *body,
                   long timeout_ms, long *status, wf_sbuf_t *out, char *err, size_t errlen)
{
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(err, errlen, "libcurl initialisation failed");
            return WF_ENOMEM;
        }
        curl_ready = true;
    }
    CURL *e = curl_easy_init();
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return WF_ENOMEM;
    }
    char url[4096], tok[8192], hdr[8300], cerr[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof(url), "%s%s", c->server, path);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    h = curl_slist_append(h, "User-Agent: weft/" WEFT_VERSION);
    wf_k8s_cfg_token(c, tok, sizeof(tok));
    if (tok[0] != '\0') {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
        h = curl_slist_append(h, hdr);
    }
    if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
    wf_k8s_curl_tls(e, c);
    out->len = 0;
    CURLcode rc = curl_easy_perform(e);
    int ret = 0;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", method, url,
                 cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
        ret = rc == CURLE_OPERATION_TIMEDOUT ? WF_ETIMEDOUT : WF_EPROTO;
    } else {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return ret;
}
