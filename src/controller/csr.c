/*
 * csr.c — identity-name parsing and CSR checks (see csr.h).
 */
#include "csr.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return WF_EINVAL;
}

static bool is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 1123 label as Kubernetes validates names (IsDNS1123Label). */
static bool is_label(wf_str_t s)
{
    if (s.len == 0 || s.len > 63)
        return false;
    if (!is_alnum_lower(s.ptr[0]) || !is_alnum_lower(s.ptr[s.len - 1]))
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_alnum_lower(s.ptr[i]) && s.ptr[i] != '-')
            return false;
    return true;
}

int wf_identity_name_parse(wf_str_t name, wf_str_t cp_ns, wf_str_t trust_domain,
                           wf_identity_name_t *out, char *err, size_t errlen)
{
    static const char mid[] = ".serviceaccount.identity.";
    const size_t mid_len = sizeof(mid) - 1;
    if (name.len == 0)
        return fail(err, errlen, "identity is empty");
    if (name.len > WF_IDENTITY_NAME_MAX)
        return fail(err, errlen, "identity is longer than %d octets", WF_IDENTITY_NAME_MAX);
    /* suffix = ".serviceaccount.identity.<cp_ns>.<trust_domain>" */
    size_t suffix_len = mid_len + cp_ns.len + 1 + trust_domain.len;
    const char *want = "<sa>.<ns>.serviceaccount.identity.%.*s.%.*s";
    if (name.len <= suffix_len)
        goto shape;
    const char *suffix = name.ptr + name.len - suffix_len;
    if (memcmp(suffix, mid, mid_len) != 0 || memcmp(suffix + mid_len, cp_ns.ptr, cp_ns.len) != 0 ||
        suffix[mid_len + cp_ns.len] != '.' ||
        memcmp(suffix + mid_len + cp_ns.len + 1, trust_domain.ptr, trust_domain.len) != 0)
        goto shape;
    wf_str_t head = {name.ptr, name.len - suffix_len};
    const char *dot = memchr(head.ptr, '.', head.len);
    if (dot == NULL)
        goto shape;
    wf_str_t sa = {head.ptr, (size_t)(dot - head.ptr)};
    wf_str_t ns = {dot + 1, head.len - sa.len - 1};
    if (!is_label(sa))
        return fail(err, errlen,
                    "identity \"%.*s\": ServiceAccount \"%.*s\" is not a DNS-1123 label",
                    (int)name.len, name.ptr, (int)sa.len, sa.ptr);
    if (!is_label(ns))
        return fail(err, errlen, "identity \"%.*s\": namespace \"%.*s\" is not a DNS-1123 label",
                    (int)name.len, name.ptr, (int)ns.len, ns.ptr);
    if (out != NULL)
        *out = (wf_identity_name_t){sa, ns};
    return 0;

shape : {
    char w[160];
    snprintf(w, sizeof(w), want, (int)cp_ns.len, cp_ns.ptr, (int)trust_domain.len,
             trust_domain.ptr);
    return fail(err, errlen, "identity \"%.*s\" does not have the form %s",
                (int)WF_MIN(name.len, 300), name.ptr, w);
}
}

/* True when key is ECDSA on P-256. */
static bool key_is_p256(EVP_PKEY *key)
{
    if (!EVP_PKEY_is_a(key, "EC"))
        return false;
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1)
        return false;
    return strcmp(group, SN_X9_62_prime256v1) == 0;
}

/* Checks the SANs in the CSR's extension request. */
static int check_sans(X509_REQ *req, wf_str_t identity, char *err, size_t errlen)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    if (exts == NULL)
        return fail(err, errlen, "CSR has no subjectAltName (want exactly DNS:%.*s)",
                    (int)identity.len, identity.ptr);
    int crit = 0;
    GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (gens == NULL) {
        if (crit == -2)
            return fail(err, errlen, "CSR has more than one subjectAltName extension");
        if (crit == -1)
            return fail(err, errlen, "CSR has no subjectAltName (want exactly DNS:%.*s)",
                        (int)identity.len, identity.ptr);
        return fail(err, errlen, "CSR subjectAltName extension is malformed");
    }
    int rc = 0;
    int n = sk_GENERAL_NAME_num(gens);
    int ndns = 0;
    const ASN1_IA5STRING *dns = NULL;
    for (int i = 0; i < n && rc == 0; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        switch (g->type) {
        case GEN_DNS:
            ndns++;
            dns = g->d.dNSName;
            break;
        case GEN_URI:
            rc = fail(err, errlen, "CSR has a URI SAN; only one DNS SAN is allowed");
            break;
        case GEN_IPADD:
            rc = fail(err, errlen, "CSR has an IP address SAN; only one DNS SAN is allowed");
            break;
        case GEN_EMAIL:
            rc = fail(err, errlen, "CSR has an e-mail SAN; only one DNS SAN is allowed");
            break;
        default:
            rc =
                fail(err, errlen, "CSR has a SAN of type %d; only one DNS SAN is allowed", g->type);
            break;
        }
    }
    if (rc == 0 && ndns != 1)
        rc = fail(err, errlen, "CSR has %d DNS SANs, want exactly one (DNS:%.*s)", ndns,
                  (int)identity.len, identity.ptr);
    if (rc == 0) {
        const unsigned char *p = ASN1_STRING_get0_data(dns);
        int plen = ASN1_STRING_length(dns);
        if (plen < 0 || (size_t)plen != identity.len || memcmp(p, identity.ptr, identity.len) != 0)
            rc = fail(err, errlen, "CSR SAN DNS:%.*s does not match the requested identity %.*s",
                      (int)WF_MIN(plen < 0 ? 0 : plen, 300), (const char *)p, (int)identity.len,
                      identity.ptr);
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

int wf_csr_check(const uint8_t *der, size_t len, wf_str_t identity, X509_REQ **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (len == 0)
        return fail(err, errlen, "certificate_signing_request is empty");
    if (len > LONG_MAX)
        return fail(err, errlen, "CSR is too large");
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    if (req == NULL) {
        ERR_clear_error();
        return fail(err, errlen, "CSR is not a DER PKCS#10 certification request");
    }
    int rc = 0;
    EVP_PKEY *key = NULL;
    if (p != der + len) {
        rc = fail(err, errlen, "CSR has %zu trailing bytes after the DER structure",
                  (size_t)(der + len - p));
        goto out;
    }
    key = X509_REQ_get0_pubkey(req); /* borrowed from req */
    if (key == NULL) {
        rc = fail(err, errlen, "CSR public key is missing or unreadable");
        goto out;
    }
    if (!key_is_p256(key)) {
        char desc[64] = "unknown";
        if (EVP_PKEY_is_a(key, "RSA"))
            snprintf(desc, sizeof(desc), "RSA %d", EVP_PKEY_get_bits(key));
        else if (EVP_PKEY_is_a(key, "EC"))
            snprintf(desc, sizeof(desc), "ECDSA %d-bit (not P-256)", EVP_PKEY_get_bits(key));
        else if (EVP_PKEY_get0_type_name(key) != NULL)
            snprintf(desc, sizeof(desc), "%s", EVP_PKEY_get0_type_name(key));
        rc = fail(err, errlen, "CSR key is %s; want ECDSA P-256", desc);
        goto out;
    }
    if (X509_REQ_verify(req, key) != 1) {
        rc = fail(err, errlen, "CSR signature does not verify with its public key");
        goto out;
    }
    rc = check_sans(req, identity, err, errlen);
out:
    if (rc != 0) {
        X509_REQ_free(req);
        ERR_clear_error(); /* the reason is in err; leave no state for the next call */
    } else
        *out = req;
    return rc;
}
