/*
 * fuzz_detect — the detector must never read past its input, and must be
 * monotone: once a prefix decides a protocol, every longer input with that
 * prefix decides the same one (bytes that arrive later cannot change a
 * decision already acted on).
 */
#include "detect.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wf_proto_t full = wf_detect(data, size);
    for (size_t n = 0; n <= size && n <= WF_DETECT_MAX_BYTES; n++) {
        wf_proto_t p = wf_detect(data, n);
        if (p != WF_PROTO_UNKNOWN && p != full)
            abort();
        if (p != WF_PROTO_UNKNOWN)
            break;
    }
    return 0;
}
