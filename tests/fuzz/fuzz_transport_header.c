/*
 * fuzz_transport_header — the inbound proxy parses this header from any
 * peer that completed mTLS. It must never read past its input, must be
 * monotone (a prefix is "need more" or the same decision), and what it
 * accepts must re-encode to a header it accepts again.
 */
#include "transport_header.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_transport_header_t h;
    int full = wf_th_parse(data, size, &h);
    for (size_t n = 0; n < size && full != 0; n++) {
        wf_transport_header_t p;
        int r = wf_th_parse(data, n, &p);
        if (r != 0 && r != full && !(r < 0 && full < 0))
            abort();
    }
    if (full > 0) {
        uint8_t out[WF_TH_MAX_LEN];
        size_t len = wf_th_encode(&h, out);
        wf_transport_header_t again;
        if (wf_th_parse(out, len, &again) != (int)len || again.port != h.port ||
            again.opaque != h.opaque)
            abort();
    }
    return 0;
}
