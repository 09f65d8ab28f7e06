/*
 * fuzz_certify — what the identity service does with bytes from the
 * network before it signs anything: protobuf decoding of a CertifyRequest,
 * then the identity-name parser and the CSR checks on its fields. Nothing
 * may crash, leak or read out of bounds, and a CSR that passes must carry
 * exactly the requested name.
 */
#include "../../src/controller/csr.c"

#include "identity.pb-c.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Weft__Identity__CertifyRequest *req =
        weft__identity__certify_request__unpack(NULL, size, data);
    char err[512];
    X509_REQ *csr = NULL;
    if (req == NULL) {
        /* Not a message: the raw bytes as a CSR. */
        if (wf_csr_check(data, size, WF_STR("web.ns.serviceaccount.identity.linkerd.cluster.local"),
                         &csr, err, sizeof(err)) == 0)
            X509_REQ_free(csr);
        return 0;
    }
    wf_identity_name_t name = {WF_STR_NULL, WF_STR_NULL};
    wf_str_t ident = wf_str_from(req->identity);
    if (wf_identity_name_parse(ident, WF_STR("linkerd"), WF_STR("cluster.local"), &name, err,
                               sizeof(err)) == 0 &&
        (name.sa.ptr < ident.ptr || name.ns.ptr + name.ns.len > ident.ptr + ident.len))
        abort();
    if (wf_csr_check(req->certificate_signing_request.data, req->certificate_signing_request.len,
                     ident, &csr, err, sizeof(err)) == 0) {
        if (ident.len == 0)
            abort();
        X509_REQ_free(csr);
    }
    weft__identity__certify_request__free_unpacked(req, NULL);
    return 0;
}
