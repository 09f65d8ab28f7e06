/*
 * identity_inspect.c — `weft identity inspect CERT [--anchor FILE]
 * [--format text|json]`: shows every certificate in CERT (a leaf followed by
 * its intermediates, or a bundle) and, with --anchor, verifies the first one
 * up to the anchors with OpenSSL's verifier, the rest of the file serving as
 * intermediates. Exits 1 when the chain is invalid.
 */
#include "identity.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>

static const char wf_cli_inspect_usage[] =
    "usage: weft identity inspect CERT_FILE [--anchor CA_FILE] [--format text|json]\n"
    "\n"
    "Shows each certificate in CERT_FILE: subject, issuer, serial, validity, key type, SANs,\n"
    "CA flag and pathlen, key usage and SHA-256 fingerprint.\n"
    "\n"
    "Flags:\n"
    "  --anchor FILE     verify the chain (the first certificate in CERT_FILE, with the rest\n"
    "                    as intermediates) against the trust anchor(s) in FILE; exit 1 if\n"
    "                    invalid\n"
    "  --format F        text (default) or json\n";

/* Writes a JSON string literal (RFC 8259 7). */
static void wf_cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* A name as RFC 2253 text ("CN=root.linkerd.cluster.local"). Caller frees. */
static char *wf_cli_name_str(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        out = strndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
    }
    BIO_free(b);
    return out ? out : strdup("?");
}

/* Everything `inspect` shows about one certificate; strings are owned. */
typedef struct wf_cli_cert_view {
    char *subject, *issuer, *serial;
    char not_before[32], not_after[32];
    int64_t left; /* seconds until notAfter; negative when expired */
    bool not_yet_valid;
    char key[64];
    char sans[1024];
    int nsans;
    bool ca, bc_critical, ku_critical;
    long pathlen; /* -1: none */
    char ku[256], eku[256];
    char fingerprint[WF_CERT_FINGERPRINT_LEN];
} wf_cli_cert_view_t;

static void wf_cli_view_free(wf_cli_cert_view_t *v)
{
    free(v->subject);
    free(v->issuer);
    free(v->serial);
}

/* Appends ", item" (or "item" first) to a fixed buffer, truncating quietly. */
static void wf_cli_list_add(char *buf, size_t len, const char *item)
{
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? ", " : "", item);
}

static bool wf_cli_ext_critical(X509 *x, int nid)
{
    int i = X509_get_ext_by_NID(x, nid, -1);
    return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void wf_cli_view_fill(wf_cli_cert_view_t *v, X509 *x, time_t now)
{
    memset(v, 0, sizeof(*v));
    v->subject = wf_cli_name_str(X509_get_subject_name(x));
    v->issuer = wf_cli_name_str(X509_get_issuer_name(x));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    v->serial = strdup(hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);

    time_t nb = 0, na = 0;
    if (wf_cert_validity(x, &nb, &na) == 0) {
        struct tm tm;
        strftime(v->not_before, sizeof(v->not_before), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&nb, &tm));
        strftime(v->not_after, sizeof(v->not_after), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&na, &tm));
    } else {
        snprintf(v->not_before, sizeof(v->not_before), "?");
        snprintf(v->not_after, sizeof(v->not_after), "?");
    }
    v->left = (int64_t)na - (int64_t)now;
    v->not_yet_valid = now < nb;

    EVP_PKEY *pub = X509_get0_pubkey(x);
    if (pub != NULL)
        wf_cert_key_describe(pub, v->key, sizeof(v->key));
    else
        snprintf(v->key, sizeof(v->key), "unreadable");

    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char item[300];
        if (g->type == GEN_DNS || g->type == GEN_URI || g->type == GEN_EMAIL) {
            const ASN1_IA5STRING *s = g->d.ia5;
            snprintf(item, sizeof(item), "%s:%.*s",
                     g->type == GEN_DNS   ? "DNS"
                     : g->type == GEN_URI ? "URI"
                                          : "email",
                     ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
        } else if (g->type == GEN_IPADD) {
            char ip[INET6_ADDRSTRLEN] = "?";
            int len = ASN1_STRING_length(g->d.ip);
            if (len == 4 || len == 16)
                inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.ip), ip,
                          sizeof(ip));
            snprintf(item, sizeof(item), "IP:%s", ip);
        } else {
            snprintf(item, sizeof(item), "other(type %d)", g->type);
        }
        wf_cli_list_add(v->sans, sizeof(v->sans), item);
        v->nsans++;
    }
    GENERAL_NAMES_free(gens);

    uint32_t fl = X509_get_extension_flags(x);
    v->ca = (fl & EXFLAG_CA) != 0;
    v->pathlen = X509_get_pathlen(x);
    v->bc_critical = wf_cli_ext_critical(x, NID_basic_constraints);
    v->ku_critical = wf_cli_ext_critical(x, NID_key_usage);
    static const struct {
        uint32_t bit;
        const char *name;
    } kus[] = {
        {KU_DIGITAL_SIGNATURE, "digitalSignature"},
        {KU_NON_REPUDIATION, "contentCommitment"},
        {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
        {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
        {KU_KEY_AGREEMENT, "keyAgreement"},
        {KU_KEY_CERT_SIGN, "keyCertSign"},
        {KU_CRL_SIGN, "cRLSign"},
        {KU_ENCIPHER_ONLY, "encipherOnly"},
        {KU_DECIPHER_ONLY, "decipherOnly"},
    };
    if (fl & EXFLAG_KUSAGE) {
        uint32_t ku = X509_get_key_usage(x);
        for (size_t i = 0; i < WF_ARRAY_LEN(kus); i++)
            if (ku & kus[i].bit)
                wf_cli_list_add(v->ku, sizeof(v->ku), kus[i].name);
    }
    static const struct {
        uint32_t bit;
        const char *name;
    } ekus[] = {
        {XKU_SSL_SERVER, "serverAuth"},      {XKU_SSL_CLIENT, "clientAuth"},
        {XKU_SMIME, "emailProtection"},      {XKU_CODE_SIGN, "codeSigning"},
        {XKU_OCSP_SIGN, "OCSPSigning"},      {XKU_TIMESTAMP, "timeStamping"},
        {XKU_ANYEKU, "anyExtendedKeyUsage"},
    };
    if (fl & EXFLAG_XKUSAGE) {
        uint32_t xku = X509_get_extended_key_usage(x);
        for (size_t i = 0; i < WF_ARRAY_LEN(ekus); i++)
            if (xku & ekus[i].bit)
                wf_cli_list_add(v->eku, sizeof(v->eku), ekus[i].name);
    }
    wf_cert_fingerprint(x, v->fingerprint);
    ERR_clear_error();
}

static void wf_cli_view_text(const wf_cli_cert_view_t *v)
{
    char span[64];
    wf_cli_identity_span(v->left, span, sizeof(span));
    printf("subject:      %s\n", v->subject);
    printf("issuer:       %s\n", v->issuer);
    printf("serial:       %s\n", v->serial);
    printf("not before:   %s%s\n", v->not_before, v->not_yet_valid ? " (NOT YET VALID)" : "");
    if (v->left > 0)
        printf("not after:    %s (expires in %s)\n", v->not_after, span);
    else
        printf("not after:    %s (EXPIRED %s ago)\n", v->not_after, span);
    printf("key:          %s\n", v->key);
    printf("SANs:         %s\n", v->nsans ? v->sans : "(none)");
    if (v->ca && v->pathlen >= 0)
        printf("CA:           true, pathlen %ld%s\n", v->pathlen,
               v->bc_critical ? " (critical)" : "");
    else
        printf("CA:           %s%s\n", v->ca ? "true" : "false",
               v->bc_critical ? " (critical)" : "");
    printf("key usage:    %s%s\n", v->ku[0] ? v->ku : "(none)",
           v->ku_critical ? " (critical)" : "");
    if (v->eku[0])
        printf("ext key usage: %s\n", v->eku);
    printf("sha256:       %s\n", v->fingerprint);
}

/* Writes a ", "-separated list as a JSON array. */
static void wf_cli_json_list(FILE *f, const char *list)
{
    fputc('[', f);
    const char *p = list;
    bool first = true;
    while (*p) {
        const char *sep = strstr(p, ", ");
        size_t n = sep ? (size_t)(sep - p) : strlen(p);
        char *item = strndup(p, n);
        if (!first)
            fputc(',', f);
        wf_cli_json_str(f, item ? item : "");
        free(item);
        first = false;
        p += n + (sep ? 2 : 0);
    }
    fputc(']', f);
}

static void wf_cli_view_json(const wf_cli_cert_view_t *v)
{
    printf("{\"subject\":");
    wf_cli_json_str(stdout, v->subject);
    printf(",\"issuer\":");
    wf_cli_json_str(stdout, v->issuer);
    printf(",\"serial\":\"%s\",\"not_before\":\"%s\",\"not_after\":\"%s\","
           "\"expires_in_seconds\":%lld,\"expired\":%s,\"not_yet_valid\":%s,\"key\":\"%s\","
           "\"sans\":",
           v->serial, v->not_before, v->not_after, (long long)v->left,
           v->left <= 0 ? "true" : "false", v->not_yet_valid ? "true" : "false", v->key);
    wf_cli_json_list(stdout, v->sans);
    printf(",\"ca\":%s,\"pathlen\":", v->ca ? "true" : "false");
    if (v->ca && v->pathlen >= 0)
        printf("%ld", v->pathlen);
    else
        printf("null");
    printf(",\"key_usage\":");
    wf_cli_json_list(stdout, v->ku);
    printf(",\"ext_key_usage\":");
    wf_cli_json_list(stdout, v->eku);
    printf(",\"sha256_fingerprint\":\"%s\"}", v->fingerprint);
}

int wf_cli_identity_inspect_main(int argc, char **argv)
{
    const char *anchor = NULL, *format = "text";
    bool help = false;
    const wf_cli_flag_t flags[] = {
        {"anchor", &anchor, NULL},
        {"format", &format, NULL},
        {"help", NULL, &help},
    };
    const char *pos[1];
    size_t npos;
    char err[512];
    if (wf_cli_parse_flags(argc - 1, argv + 1, flags, WF_ARRAY_LEN(flags), pos, 1, &npos, err,
                           sizeof(err)) != 0) {
        wf_cli_errorf("identity inspect: %s", err);
        fputs(wf_cli_inspect_usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }
    if (help) {
        fputs(wf_cli_inspect_usage, stdout);
        return WF_CLI_EXIT_OK;
    }
    bool json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "text") != 0) {
        wf_cli_errorf("identity inspect: --format: unknown format \"%s\" (expected text or json)",
                      format);
        return WF_CLI_EXIT_USAGE;
    }
    if (npos != 1) {
        wf_cli_errorf("identity inspect: a certificate file is required");
        fputs(wf_cli_inspect_usage, stderr);
        return WF_CLI_EXIT_USAGE;
    }

    int ret = WF_CLI_EXIT_FAILURE;
    STACK_OF(X509) *certs = NULL, *anchors = NULL, *rest = NULL;
    if (wf_cert_load_certs(pos[0], &certs, err, sizeof(err)) != 0 ||
        (anchor != NULL && wf_cert_load_certs(anchor, &anchors, err, sizeof(err)) != 0)) {
        wf_cli_errorf("%s", err);
        goto out;
    }
    bool chain_ok = true;
    char chain_err[512] = "";
    if (anchors != NULL) {
        rest = sk_X509_new_null();
        for (int i = 1; rest != NULL && i < sk_X509_num(certs); i++)
            if (sk_X509_push(rest, sk_X509_value(certs, i)) <= 0) /* borrowed */
                break;
        chain_ok = rest != NULL && wf_cert_verify(sk_X509_value(certs, 0), rest, anchors, 0,
                                                  chain_err, sizeof(chain_err)) == 0;
        if (rest == NULL)
            snprintf(chain_err, sizeof(chain_err), "out of memory");
    }

    time_t now = time(NULL);
    int n = sk_X509_num(certs);
    if (json)
        printf("{\"file\":");
    if (json)
        wf_cli_json_str(stdout, pos[0]);
    if (json)
        printf(",\"certificates\":[");
    for (int i = 0; i < n; i++) {
        wf_cli_cert_view_t v;
        wf_cli_view_fill(&v, sk_X509_value(certs, i), now);
        if (json) {
            if (i > 0)
                putchar(',');
            wf_cli_view_json(&v);
        } else {
            if (n > 1)
                printf("%scertificate %d of %d in %s%s:\n", i ? "\n" : "", i + 1, n, pos[0],
                       i == 0 ? " (leaf)" : "");
            wf_cli_view_text(&v);
        }
        wf_cli_view_free(&v);
    }
    if (json) {
        printf("]");
        if (anchors != NULL) {
            printf(",\"chain\":{\"anchor\":");
            wf_cli_json_str(stdout, anchor);
            printf(",\"valid\":%s", chain_ok ? "true" : "false");
            if (!chain_ok) {
                printf(",\"error\":");
                wf_cli_json_str(stdout, chain_err);
            }
            printf("}");
        }
        printf("}\n");
    } else if (anchors != NULL) {
        if (chain_ok)
            printf("chain:        valid (verified against %s)\n", anchor);
        else
            printf("chain:        INVALID: %s\n", chain_err);
    }
    if (!chain_ok)
        wf_cli_errorf("%s: chain verification against %s failed: %s", pos[0], anchor, chain_err);
    ret = chain_ok ? WF_CLI_EXIT_OK : WF_CLI_EXIT_FAILURE;
out:
    sk_X509_free(rest);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_pop_free(anchors, X509_free);
    ERR_clear_error();
    return ret;
}
