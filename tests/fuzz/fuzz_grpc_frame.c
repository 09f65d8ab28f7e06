/*
 * fuzz_grpc_frame.c — the gRPC message framer (grpc/grpc_wire.h) and
 * protobuf-c decoding of our control-plane messages, on arbitrary bytes.
 *
 * Input: byte 0 picks the maximum message size (64 << (b % 16), so both the
 * limit and the oversize path get exercised), byte 1 the chunk size the
 * stream is cut into (1..256); the rest is the HTTP/2 DATA payload.
 *
 * Properties checked (abort() on violation):
 *  - parsing never crashes; consumed counts never exceed the input;
 *  - cut into chunks or fed whole, the framer yields the same messages
 *    (count and bytes) and the same verdict (error code, or idle or not);
 *  - every error maps to RESOURCE_EXHAUSTED, UNIMPLEMENTED or INTERNAL and
 *    has a description;
 *  - each message decodes or not as CertifyRequest, GetDestination, Update
 *    and CertifyResponse without crashing; what decodes re-encodes to the
 *    size protobuf-c predicted (and decoding that again does not crash).
 */
#include "grpc/grpc_wire.h"

#include "destination.pb-c.h"
#include "identity.pb-c.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_MSGS 64

static void wf_fuzz_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_grpc_frame: property violated: %s\n", what);
        abort();
    }
}

typedef struct run {
    int rc; /* last parse result: error or 0 */
    bool idle;
    int nmsgs;
    uint64_t hash[MAX_MSGS];
    size_t lens[MAX_MSGS];
} run_t;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void decode_all(const uint8_t *m, size_t n)
{
    static const ProtobufCMessageDescriptor *const descs[] = {
        &weft__identity__certify_request__descriptor,
        &weft__identity__certify_response__descriptor,
        &weft__destination__get_destination__descriptor,
        &weft__destination__update__descriptor,
        &weft__destination__destination_profile__descriptor,
    };
    for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
        ProtobufCMessage *msg = protobuf_c_message_unpack(descs[i], NULL, n, m);
        if (msg == NULL)
            continue;
        size_t sz = protobuf_c_message_get_packed_size(msg);
        uint8_t *buf = malloc(sz ? sz : 1);
        wf_fuzz_check(buf != NULL, "malloc");
        wf_fuzz_check(protobuf_c_message_pack(msg, buf) == sz, "packed size == predicted size");
        /* Decoding the re-encoding must not crash; it may fail: protobuf-c
         * keeps some odd input (e.g. unknown fields with field number 0)
         * that it re-packs verbatim but refuses on the second read. */
        ProtobufCMessage *again = protobuf_c_message_unpack(descs[i], NULL, sz, buf);
        if (again != NULL)
            protobuf_c_message_free_unpacked(again, NULL);
        protobuf_c_message_free_unpacked(msg, NULL);
        free(buf);
    }
}

static void run_framer(const uint8_t *p, size_t len, uint32_t max, size_t chunk, run_t *r,
                       bool decode)
{
    wf_grpc_framer_t f;
    wf_grpc_framer_init(&f, max);
    memset(r, 0, sizeof(*r));
    size_t off = 0;
    while (off < len && r->rc == 0) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t coff = 0;
        while (coff < n) {
            size_t used = 0;
            int rc = wf_grpc_framer_parse(&f, p + off + coff, n - coff, &used);
            wf_fuzz_check(used <= n - coff, "used <= len");
            coff += used;
            if (rc < 0) {
                r->rc = rc;
                wf_fuzz_check(f.error != NULL && f.error[0] != '\0', "error has a description");
                wf_grpc_status_t st = wf_grpc_framer_status(&f, rc);
                wf_fuzz_check(st == WF_GRPC_RESOURCE_EXHAUSTED || st == WF_GRPC_UNIMPLEMENTED ||
                                  st == WF_GRPC_INTERNAL,
                              "error status is one of the documented ones");
                break;
            }
            if (rc == WF_GRPC_FRAME_DONE) {
                size_t mlen;
                uint8_t *m = wf_grpc_framer_take(&f, &mlen);
                wf_fuzz_check(mlen <= max, "message within the limit");
                wf_fuzz_check((mlen == 0) == (m == NULL), "empty message iff NULL");
                if (r->nmsgs < MAX_MSGS) {
                    r->hash[r->nmsgs] = fnv(m, mlen);
                    r->lens[r->nmsgs] = mlen;
                }
                r->nmsgs++;
                if (decode && r->nmsgs <= 4)
                    decode_all(m, mlen);
                free(m);
            } else {
                wf_fuzz_check(coff == n, "need-more consumed everything");
            }
        }
        off += n;
    }
    r->idle = wf_grpc_framer_idle(&f);
    wf_grpc_framer_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t max = 64u << (data[0] % 16);
    size_t chunk = (size_t)data[1] + 1;
    run_t a, b;
    run_framer(data + 2, size - 2, max, chunk, &a, true);
    run_framer(data + 2, size - 2, max, size, &b, false);
    wf_fuzz_check(a.rc == b.rc, "same verdict chunked and whole");
    wf_fuzz_check(a.nmsgs == b.nmsgs, "same message count chunked and whole");
    for (int i = 0; i < a.nmsgs && i < MAX_MSGS; i++)
        wf_fuzz_check(a.hash[i] == b.hash[i] && a.lens[i] == b.lens[i], "same messages");
    if (a.rc == 0)
        wf_fuzz_check(a.idle == b.idle, "same idle state");
    return 0;
}
