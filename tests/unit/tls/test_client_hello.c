/*
 * test_client_hello.c — the SNI peek (client_hello.h) on hand-built
 * ClientHellos: found, absent, every prefix incomplete, not TLS, broken
 * vectors, duplicate extensions, a hello spanning two records; and the
 * prefix io layer that re-feeds peeked bytes to TLS.
 */
#include "wf_test.h"

#include "net/io.h"
#include "tls/client_hello.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct bb {
    uint8_t b[20000];
    size_t n;
} bb_t;

static void put(bb_t *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void u8(bb_t *b, unsigned v) { b->b[b->n++] = (uint8_t)v; }
static void u16(bb_t *b, unsigned v) { u8(b, v >> 8); u8(b, v & 0xff); }
static void u24(bb_t *b, unsigned v) { u8(b, v >> 16); u16(b, v & 0xffff); }

/* A ClientHello record with optional SNI (NULL: none) and extra bytes of
 * padding extension; record_len_delta lets a test lie in the record header. */
static void hello(bb_t *out, const char *sni, int dup_sni, size_t pad, int hs_len_delta)
{
    bb_t ext = {.n = 0};
    for (int i = 0; sni != NULL && i < 1 + dup_sni; i++) {
        size_t n = strlen(sni);
        u16(&ext, 0);         /* server_name */
        u16(&ext, n + 5);     /* extension length */
        u16(&ext, n + 3);     /* ServerNameList length */
        u8(&ext, 0);          /* host_name */
        u16(&ext, n);
        put(&ext, sni, n);
    }
    u16(&ext, 43);            /* supported_versions: TLS 1.3 */
    u16(&ext, 3);
    u8(&ext, 2);
    u16(&ext, 0x0304);
    if (pad > 0) {
        u16(&ext, 21);        /* padding */
        u16(&ext, pad);
        for (size_t i = 0; i < pad; i++)
            u8(&ext, 0);
    }
    bb_t body = {.n = 0};
    u16(&body, 0x0303);
    for (int i = 0; i < 32; i++)
        u8(&body, i);
    u8(&body, 0);             /* session id */
    u16(&body, 2);
    u16(&body, 0x1301);       /* TLS_AES_128_GCM_SHA256 */
    u8(&body, 1);
    u8(&body, 0);             /* null compression */
    u16(&body, ext.n);
    put(&body, ext.b, ext.n);
    out->n = 0;
    size_t rec = 4 + body.n;
    u8(out, 22);
    u16(out, 0x0301);
    u16(out, rec > 16384 ? 16384 : rec);
    u8(out, 1);
    u24(out, (unsigned)((int)body.n + hs_len_delta));
    put(out, body.b, rec > 16384 ? 16384 - 4 : body.n);
}

static void test_sni_found(void)
{
    bb_t h;
    hello(&h, "web.ns.serviceaccount.identity.linkerd.cluster.local", 0, 0, 0);
    wf_str_t sni;
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_OK);
    CHECK(wf_str_eq(sni, WF_STR("web.ns.serviceaccount.identity.linkerd.cluster.local")));
    for (size_t n = 0; n < h.n; n++)
        CHECK_EQ_INT(wf_client_hello_sni(h.b, n, &sni), WF_CH_INCOMPLETE);
    /* Bytes after the record (the client's next flight) do not matter. */
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_OK);
}

static void test_no_sni(void)
{
    bb_t h;
    hello(&h, NULL, 0, 100, 0);
    wf_str_t sni;
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_OK);
    CHECK_EQ_INT(sni.len, 0);
}

static void test_not_tls(void)
{
    wf_str_t sni;
    CHECK_EQ_INT(wf_client_hello_sni((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &sni), WF_CH_NOT_TLS);
    /* An alert record, a TLS record with a ServerHello, a zero-length record. */
    static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
    CHECK_EQ_INT(wf_client_hello_sni(alert, sizeof(alert), &sni), WF_CH_NOT_TLS);
    static const uint8_t sh[] = {22, 3, 3, 0, 4, 2, 0, 0, 0};
    CHECK_EQ_INT(wf_client_hello_sni(sh, sizeof(sh), &sni), WF_CH_NOT_TLS);
    static const uint8_t empty[] = {22, 3, 1, 0, 0};
    CHECK_EQ_INT(wf_client_hello_sni(empty, sizeof(empty), &sni), WF_CH_NOT_TLS);
    static const uint8_t big[] = {22, 3, 1, 0x40, 0x01};
    CHECK_EQ_INT(wf_client_hello_sni(big, sizeof(big), &sni), WF_CH_NOT_TLS);
}

static void test_malformed(void)
{
    bb_t h;
    wf_str_t sni;
    hello(&h, "a.b", 1, 0, 0); /* server_name twice */
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_MALFORMED);
    hello(&h, "a.b", 0, 0, -3); /* handshake shorter than its contents */
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_MALFORMED);
    hello(&h, "a.b", 0, 0, 0);
    h.b[5 + 4 + 2 + 32 + 1 + 1] = 3; /* odd cipher_suites length */
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_MALFORMED);
    hello(&h, "a.b", 0, 0, 0);
    h.n -= 1; /* the record header now claims one byte more than given... */
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_INCOMPLETE);
}

static void test_spans_records(void)
{
    bb_t h;
    wf_str_t sni;
    hello(&h, "a.b", 0, 17000, 0); /* handshake longer than one record */
    CHECK_EQ_INT(wf_client_hello_sni(h.b, h.n, &sni), WF_CH_UNSUPPORTED);
    CHECK(h.n <= WF_CH_MAX_RECORD);
}

static void test_prefix_io(void)
{
    int sv[2];
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    wf_io_t *sock = wf_io_socket_new(sv[0]);
    wf_io_t *io = wf_io_prefix_new(sock, "hello ", 6);
    CHECK(io != NULL);
    CHECK_EQ_INT(write(sv[1], "world", 5), 5);
    char buf[16];
    ssize_t n = wf_io_recv(io, buf, 4);
    CHECK_EQ_INT(n, 4);
    CHECK(memcmp(buf, "hell", 4) == 0);
    CHECK(!(io->flags & WF_IO_F_DRAINED));
    n = wf_io_recv(io, buf, sizeof(buf));
    CHECK_EQ_INT(n, 2);
    CHECK(memcmp(buf, "o ", 2) == 0);
    n = wf_io_recv(io, buf, sizeof(buf));
    CHECK_EQ_INT(n, 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    CHECK_EQ_INT(wf_io_send(io, "x", 1), 1);
    CHECK_EQ_INT(read(sv[1], buf, 1), 1);
    close(sv[1]);
    CHECK_EQ_INT(wf_io_recv(io, buf, sizeof(buf)), 0);
    wf_io_destroy(io);
}

int main(void)
{
    WF_RUN(test_sni_found);
    WF_RUN(test_no_sni);
    WF_RUN(test_not_tls);
    WF_RUN(test_malformed);
    WF_RUN(test_spans_records);
    WF_RUN(test_prefix_io);
    return wf_test_done();
}
