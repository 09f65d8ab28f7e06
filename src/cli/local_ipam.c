/*
 * local_ipam.c — see local_ipam.h.
 */
#include "local_ipam.h"

#include "core/common.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool wf_lm_ipam_parse(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

int wf_lm_ipam_init(wf_lm_ipam_t *ip, const char *cidr, uint32_t first)
{
    char buf[32];
    memset(ip, 0, sizeof(*ip));
    const char *slash = strchr(cidr, '/');
    if (slash == NULL || (size_t)(slash - cidr) >= sizeof(buf))
        return WF_EINVAL;
    memcpy(buf, cidr, (size_t)(slash - cidr));
    buf[slash - cidr] = '\0';
    int prefix = atoi(slash + 1);
    uint32_t base;
    if (!wf_lm_ipam_parse(buf, &base) || prefix < 16 || prefix > 30)
        return WF_EINVAL;
    ip->size = 1u << (32 - prefix);
    ip->base = base & ~(ip->size - 1);
    ip->first = first;
    ip->next = first;
    ip->used = calloc(ip->size / 8, 1);
    return ip->used ? 0 : WF_ENOMEM;
}

void wf_lm_ipam_free(wf_lm_ipam_t *ip)
{
    free(ip->used);
    ip->used = NULL;
}

static bool wf_lm_ipam_usable(const wf_lm_ipam_t *ip, uint32_t off)
{
    uint32_t last = (ip->base + off) & 0xff;
    return off >= ip->first && off < ip->size && last != 0 && last != 255;
}

static void wf_lm_ipam_format(const wf_lm_ipam_t *ip, uint32_t off, char out[16])
{
    uint32_t a = ip->base + off;
    snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

int wf_lm_ipam_alloc(wf_lm_ipam_t *ip, char out[16])
{
    for (uint32_t i = 0; i < ip->size; i++) {
        uint32_t off = ip->next + i;
        if (off >= ip->size)
            off = off - ip->size;
        if (!wf_lm_ipam_usable(ip, off) || (ip->used[off / 8] >> (off % 8)) & 1)
            continue;
        ip->used[off / 8] |= (uint8_t)(1u << (off % 8));
        ip->used_n++;
        ip->next = off + 1 < ip->size ? off + 1 : ip->first;
        wf_lm_ipam_format(ip, off, out);
        return 0;
    }
    return WF_ELIMIT;
}

int wf_lm_ipam_offset(const wf_lm_ipam_t *ip, const char *addr)
{
    uint32_t a;
    if (!wf_lm_ipam_parse(addr, &a) || a < ip->base || a - ip->base >= ip->size)
        return -1;
    return (int)(a - ip->base);
}

int wf_lm_ipam_reserve(wf_lm_ipam_t *ip, const char *addr)
{
    int off = wf_lm_ipam_offset(ip, addr);
    if (off < 0 || !wf_lm_ipam_usable(ip, (uint32_t)off))
        return WF_ERANGE;
    if ((ip->used[off / 8] >> (off % 8)) & 1)
        return -EEXIST;
    ip->used[off / 8] |= (uint8_t)(1u << (off % 8));
    ip->used_n++;
    return 0;
}

void wf_lm_ipam_release(wf_lm_ipam_t *ip, const char *addr)
{
    int off = wf_lm_ipam_offset(ip, addr);
    if (off < 0 || !((ip->used[off / 8] >> (off % 8)) & 1))
        return;
    ip->used[off / 8] &= (uint8_t) ~(1u << (off % 8));
    ip->used_n--;
}
