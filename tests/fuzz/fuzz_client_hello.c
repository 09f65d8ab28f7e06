/*
 * fuzz_client_hello — the SNI peek must never read past its input, must
 * hand back an SNI inside the input, and must be monotone: a prefix of an
 * input that parses (OK, MALFORMED, UNSUPPORTED) is INCOMPLETE or decided
 * the same way, never NOT_TLS, since the proxy acts on the first decision.
 */
#include "tls/client_hello.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_str_t sni;
    wf_ch_result_t full = wf_client_hello_sni(data, size, &sni);
    if (full == WF_CH_OK && sni.len > 0 &&
        ((const uint8_t *)sni.ptr < data || (const uint8_t *)sni.ptr + sni.len > data + size))
        abort();
    if (full == WF_CH_NOT_TLS)
        return 0;
    for (size_t n = 0; n < size; n++) {
        wf_ch_result_t p = wf_client_hello_sni(data, n, &sni);
        if (p == WF_CH_NOT_TLS)
            abort();
        if (p != WF_CH_INCOMPLETE && p != full)
            abort();
    }
    return 0;
}
