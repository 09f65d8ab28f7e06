/*
 * install.h — what `weft install` renders, shared between install.c (the
 * command), install_crds.c (the CRD schemas) and the unit tests.
 */
#ifndef WF_CLI_INSTALL_H
#define WF_CLI_INSTALL_H

#include "core/common.h"

#include <openssl/x509.h>

/* One CRD weft serves: group, names, its one served+stored version, and
 * the openAPIV3Schema as JSON text. */
typedef struct wf_install_crd {
    const char *group;
    const char *plural, *singular, *kind;
    const char *short_name; /* NULL: none */
    const char *version;
    const char *schema;
} wf_install_crd_t;

extern const wf_install_crd_t wf_install_crds[];
extern const size_t wf_install_ncrds;

/* Every PEM certificate in pem (NUL-terminated); name is for messages.
 * 0, or WF_EINVAL when there is none. *out is the caller's. */
int wf_cli_certs_from_pem(const char *pem, const char *name, STACK_OF(X509) * *out, char *err,
                          size_t errlen);

#endif
