/*
 * cert.h — X.509 and key helpers for the mesh's certificate hierarchy:
 * trust anchor (root CA) -> identity issuer (intermediate CA) -> workload
 * leaf certs. Used by `weft identity` to create and inspect the CAs, and
 * meant for the identity controller (signing leaves) and the proxy
 * (verifying peers). OpenSSL 3 EVP/X509 APIs only.
 *
 * Errors: every function returns 0 on success or a negative WF_E* / -errno
 * code, and where it takes (err, errlen) it also writes a one-line message
 * there that names the problem and, when there is one, the file
 * ("ca.key: key does not match the certificate in ca.crt"). Nothing is
 * printed. Objects returned through out-parameters are owned by the caller
 * (free with X509_free / EVP_PKEY_free / sk_X509_pop_free(.., X509_free));
 * on error the out-parameter is left NULL.
 *
 * Thread-safety: none of these functions keep state; they may run on any
 * thread, each on its own objects.
 */
#ifndef WF_TLS_CERT_H
#define WF_TLS_CERT_H

#include "core/common.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * Clock-skew allowance: a new certificate's notBefore is this far in the
 * past, so a peer whose clock is slightly behind ours accepts it at once.
 * Linkerd's identity service uses the same 20 s.
 */
#define WF_CERT_SKEW_SECS 20

/* Longest subject CN X.509 allows (RFC 5280 ub-common-name). */
#define WF_CERT_CN_MAX 64

/* What a certificate is for; decides its extensions. */
typedef enum wf_cert_kind {
    WF_CERT_ROOT_CA,         /* trust anchor: self-signed, CA:TRUE pathlen 1 */
    WF_CERT_INTERMEDIATE_CA, /* identity issuer: CA:TRUE pathlen 0 */
    WF_CERT_LEAF,            /* workload: CA:FALSE, DNS SAN = name, TLS server+client */
} wf_cert_kind_t;

/* What to put in a new certificate. */
typedef struct wf_cert_spec {
    wf_cert_kind_t kind;
    const char *name;  /* borrowed; subject CN (CAs, and leaves whose name fits
                        * in WF_CERT_CN_MAX) and DNS SAN (leaves) */
    time_t not_before; /* validity, seconds since the epoch (UTC) */
    time_t not_after;
} wf_cert_spec_t;

/*
 * Parses a duration the way the step CLI and Linkerd write them: one or more
 * <digits><unit> groups, unit d (24h), h, m or s, e.g. "8760h", "30m",
 * "1h30m", "90d"; a leading '+' is allowed. Stores seconds in *secs.
 * Returns WF_EINVAL for anything else (empty, no unit, unknown unit, sign,
 * fraction) and WF_ERANGE past ~292 billion years or for a zero total.
 */
int wf_cert_parse_duration(const char *s, int64_t *secs);

/* Generates an ECDSA P-256 key (the mesh's only key type). */
int wf_cert_key_generate(EVP_PKEY **out);

/*
 * Builds and signs a certificate for `key`'s public half per `spec`: X.509
 * v3, random positive 128-bit serial, SHA-256 signature, SKI, and for
 * CA-signed certs an AKI. ca_cert/ca_key NULL self-signs with `key` (only for
 * WF_CERT_ROOT_CA); otherwise both are required and the issuer name comes
 * from ca_cert. Does not check that the CA may sign (see
 * wf_cert_check_signer). Borrows every argument; *out is owned by the caller.
 */
int wf_cert_build(const wf_cert_spec_t *spec, EVP_PKEY *key, X509 *ca_cert, EVP_PKEY *ca_key,
                  X509 **out, char *err, size_t errlen);

/*
 * Checks that (ca_cert, ca_key) can sign a certificate of `kind` at time
 * `now`: the key is ECDSA P-256/P-384 and matches the certificate, the
 * certificate is a CA (basicConstraints CA:TRUE) whose keyUsage, if present,
 * allows keyCertSign, its pathlen allows a CA below it when kind is a CA, and
 * `now` lies within its validity. Names (for messages) are the file names the
 * user gave, or any label. Returns WF_EINVAL with a message when not.
 */
int wf_cert_check_signer(X509 *ca_cert, EVP_PKEY *ca_key, wf_cert_kind_t kind, time_t now,
                         const char *cert_name, const char *key_name, char *err, size_t errlen);

/* Reads notBefore/notAfter as seconds since the epoch. WF_EINVAL if unreadable. */
int wf_cert_validity(const X509 *cert, time_t *not_before, time_t *not_after);

/*
 * Reads every PEM certificate in `path` (a leaf followed by intermediates,
 * or a bundle of anchors), in file order; at least one. Messages name the
 * file: not found / unreadable, empty, a private key where a certificate was
 * expected, not PEM, a corrupt certificate block.
 */
int wf_cert_load_certs(const char *path, STACK_OF(X509) * *out, char *err, size_t errlen);

/*
 * Reads the first PEM private key in `path` (PKCS#8 or traditional EC/RSA).
 * Refuses encrypted keys (weft never encrypts keys; the message says how to
 * decrypt one) and files holding only certificates.
 */
int wf_cert_load_key(const char *path, EVP_PKEY **out, char *err, size_t errlen);

/*
 * Writes `cert` (PEM) to `path` with mode 0644, or `key` (traditional
 * "EC PRIVATE KEY" PEM, unencrypted, as `step --no-password --insecure`
 * writes) with mode 0600. The data goes to a temporary file in the same
 * directory first, so `path` never holds a partial file or, for keys, a
 * moment of wider permissions. Without `force` an existing `path` is left
 * alone and the result is -EEXIST; with it, it is replaced atomically.
 */
int wf_cert_write_cert(const char *path, X509 *cert, bool force, char *err, size_t errlen);
int wf_cert_write_key(const char *path, EVP_PKEY *key, bool force, char *err, size_t errlen);

/*
 * Verifies `leaf` up to one of `anchors` (self-signed roots) with OpenSSL's
 * verifier, using `untrusted` (may be NULL) as candidate intermediates, at
 * time `now` (0: the current time). On failure returns WF_EINVAL and writes
 * OpenSSL's reason plus the depth and subject of the certificate it failed
 * on. Borrows everything.
 */
int wf_cert_verify(X509 *leaf, STACK_OF(X509) * untrusted, STACK_OF(X509) * anchors, time_t now,
                   char *err, size_t errlen);

/*
 * Builds a PKCS#10 CSR for a workload identity, as the proxy sends it to the
 * identity service: public half of `key`, subject CN = name (when it fits),
 * exactly one SAN, DNS:name, signed with SHA-256. *der is malloc'ed (the
 * caller frees it).
 */
int wf_cert_csr_build(EVP_PKEY *key, const char *name, uint8_t **der, size_t *len, char *err,
                      size_t errlen);

/*
 * Decodes one DER certificate (trailing bytes refused) and encodes it as
 * PEM: *pem is malloc'ed and NUL-terminated, *pemlen excludes the NUL. With
 * cert_out non-NULL the decoded X509 is handed back too (X509_free).
 */
int wf_cert_der_to_pem(const uint8_t *der, size_t len, X509 **cert_out, char **pem, size_t *pemlen,
                       char *err, size_t errlen);

/* "ECDSA P-256", "RSA 2048", "ED25519"... for messages and `inspect`. */
void wf_cert_key_describe(const EVP_PKEY *key, char *out, size_t outlen);

/* SHA-256 of the DER certificate as colon-separated upper-case hex (96 bytes + NUL). */
#define WF_CERT_FINGERPRINT_LEN 96
int wf_cert_fingerprint(const X509 *cert, char out[WF_CERT_FINGERPRINT_LEN]);

#endif
