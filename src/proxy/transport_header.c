/*
 * transport_header.c — see transport_header.h.
 */
#include "transport_header.h"

#include "transport.pb-c.h"

size_t wf_th_encode(const wf_transport_header_t *h, uint8_t *out)
{
    Weft__Transport__TransportHeader m = WEFT__TRANSPORT__TRANSPORT_HEADER__INIT;
    m.port = h->port;
    m.opaque = h->opaque;
    memcpy(out, WF_TH_PREFACE, WF_TH_PREFACE_LEN);
    size_t n = weft__transport__transport_header__pack(&m, out + WF_TH_PREFACE_LEN + 4);
    uint8_t *l = out + WF_TH_PREFACE_LEN;
    l[0] = (uint8_t)(n >> 24);
    l[1] = (uint8_t)(n >> 16);
    l[2] = (uint8_t)(n >> 8);
    l[3] = (uint8_t)n;
    return WF_TH_PREFACE_LEN + 4 + n;
}

int wf_th_parse(const uint8_t *p, size_t len, wf_transport_header_t *h)
{
    size_t pre = WF_MIN(len, (size_t)WF_TH_PREFACE_LEN);
    if (memcmp(p, WF_TH_PREFACE, pre) != 0)
        return WF_EPROTO;
    if (len < WF_TH_PREFACE_LEN + 4)
        return 0;
    const uint8_t *l = p + WF_TH_PREFACE_LEN;
    uint32_t n = (uint32_t)l[0] << 24 | (uint32_t)l[1] << 16 | (uint32_t)l[2] << 8 | l[3];
    if (n > WF_TH_MAX_MSG)
        return WF_EPROTO;
    if (len < WF_TH_PREFACE_LEN + 4 + n)
        return 0;
    Weft__Transport__TransportHeader *m =
        weft__transport__transport_header__unpack(NULL, n, p + WF_TH_PREFACE_LEN + 4);
    if (m == NULL)
        return WF_EPROTO;
    bool ok = m->port > 0 && m->port <= 65535;
    h->port = (uint16_t)m->port;
    h->opaque = m->opaque;
    weft__transport__transport_header__free_unpacked(m, NULL);
    return ok ? (int)(WF_TH_PREFACE_LEN + 4 + n) : WF_EPROTO;
}
