/*
 * local_ipam.h — address allocation for local mode: pod IPs from
 * 10.42.0.0/16, Service VIPs from 10.43.0.0/16. Pure; owned by the
 * supervisor's thread.
 *
 * Allocation goes round-robin from the last address handed out, so a freed
 * address is reused as late as possible (a new pod never inherits an old
 * pod's conntrack entries or cached endpoints). Addresses whose last octet
 * is 0 or 255 are never handed out (they read like network/broadcast
 * addresses to people and to some tools).
 */
#ifndef WF_CLI_LOCAL_IPAM_H
#define WF_CLI_LOCAL_IPAM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct wf_lm_ipam {
    uint32_t base;   /* network address, host byte order */
    uint32_t size;   /* addresses in the network */
    uint32_t first;  /* lowest offset handed out */
    uint32_t next;   /* where the next search starts */
    uint32_t used_n; /* addresses in use */
    uint8_t *used;   /* owned: one bit per offset */
} wf_lm_ipam_t;

/* A network "a.b.c.d/prefix" (prefix 16..30); offsets below `first` are
 * reserved (node, control plane). Returns 0 or a negative WF_E*. */
int wf_lm_ipam_init(wf_lm_ipam_t *ip, const char *cidr, uint32_t first);
void wf_lm_ipam_free(wf_lm_ipam_t *ip);

/* Hands out an address (dotted quad into out[16]). WF_ELIMIT when full. */
int wf_lm_ipam_alloc(wf_lm_ipam_t *ip, char out[16]);

/* Marks a given address used: WF_ERANGE outside the network or reserved,
 * -EEXIST if already used. */
int wf_lm_ipam_reserve(wf_lm_ipam_t *ip, const char *addr);

/* Frees an address; unknown addresses are ignored. */
void wf_lm_ipam_release(wf_lm_ipam_t *ip, const char *addr);

/* The offset of addr in the network (for interface names), or -1. */
int wf_lm_ipam_offset(const wf_lm_ipam_t *ip, const char *addr);

#endif
