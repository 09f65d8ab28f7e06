/*
 * csr.h — the identity service's checks on what a proxy asks for: the
 * identity name it claims and the certificate signing request (DER PKCS#10)
 * it sends. Pure functions: no I/O, no state, any thread.
 *
 * The rules are Linkerd's (pkg/identity/service.go, reference
 * linkerd-facts.md "Identity CA"/"Identity name"):
 *   name  = <sa>.<ns>.serviceaccount.identity.<control-plane-ns>.<trust-domain>
 *   CSR   = ECDSA P-256 key (the mesh's only key type), a valid self-signature,
 *           exactly one SAN, a DNS name equal to the requested identity; no
 *           URI, IP or e-mail SANs.
 *
 * Errors: 0 on success, WF_EINVAL with a one-line message in (err, errlen)
 * that says which rule failed (it goes back to the proxy in grpc-message).
 */
#ifndef WF_CONTROLLER_CSR_H
#define WF_CONTROLLER_CSR_H

#include "core/common.h"

#include <openssl/x509.h>

/* The pieces of a parsed identity name; both borrow from the input. */
typedef struct wf_identity_name {
    wf_str_t sa; /* ServiceAccount */
    wf_str_t ns; /* its namespace */
} wf_identity_name_t;

/* Longest identity name: a DNS name (RFC 1035 §2.3.4, 253 octets). */
#define WF_IDENTITY_NAME_MAX 253

/*
 * Parses `name` as <sa>.<ns>.serviceaccount.identity.<cp_ns>.<trust_domain>.
 * sa and ns must be RFC 1123 labels (lowercase letters, digits, '-'; 1..63
 * octets; alphanumeric at both ends), as Kubernetes names them.
 */
int wf_identity_name_parse(wf_str_t name, wf_str_t cp_ns, wf_str_t trust_domain,
                           wf_identity_name_t *out, char *err, size_t errlen);

/*
 * Decodes and checks a DER CSR for `identity` (the requested name, already
 * parsed). On success *out is the decoded request (owned by the caller:
 * X509_REQ_free); its public key is the one to certify. Trailing bytes after
 * the DER structure are refused.
 */
int wf_csr_check(const uint8_t *der, size_t len, wf_str_t identity, X509_REQ **out, char *err,
                 size_t errlen);

#endif
