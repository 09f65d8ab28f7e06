/*
 * local_net.c — see local_net.h.
 */
#include "local_net.h"

#include "local_sys.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Runs `ip -n NS -batch -` with `cmds`; err gets ip's message on failure. */
static int wf_lm_ip_batch(const char *ns, const char *cmds, char *err, size_t errlen)
{
    const char *argv[] = {"ip", "-n", ns, "-batch", "-", NULL};
    char out[512];
    int rc = wf_lm_run(argv, cmds, out, sizeof(out));
    if (rc != 0) {
        out[strcspn(out, "\n")] = '\0';
        snprintf(err, errlen, "ip -n %s: %s", ns, rc < 0 ? strerror(-rc) : out);
        return -EIO;
    }
    return 0;
}

int wf_lm_net_node_up(const char *node, char *err, size_t errlen)
{
    if (!wf_lm_netns_exists(node) && wf_lm_netns_add(node, err, errlen) < 0)
        return -EIO;
    char cmds[512];
    /* The Service range is local to the node: a VIP packet that no DNAT
     * rule took (no ready endpoint) is delivered to the node and refused
     * (RST), as kube-proxy refuses it, instead of failing as unroutable. */
    snprintf(cmds, sizeof(cmds),
             "link set lo up\n"
             "addr replace " WF_LM_NODE_IP "/32 dev lo\n"
             "addr replace " WF_LM_GATEWAY "/32 dev lo\n"
             "route replace local " WF_LM_SVC_CIDR " dev lo\n");
    if (wf_lm_ip_batch(node, cmds, err, errlen) < 0)
        return -EIO;
    const char *argv[] = {"ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1",
                          NULL};
    char out[256];
    if (wf_lm_run(argv, NULL, out, sizeof(out)) != 0) {
        snprintf(err, errlen, "cannot enable forwarding in %s: %s", node, out);
        return -EIO;
    }
    return 0;
}

int wf_lm_net_pod_up(const char *node, const char *podns, int idx, const char *ip, char *err,
                     size_t errlen)
{
    if (wf_lm_netns_exists(podns))
        wf_lm_netns_del(podns); /* a leftover of a crash: start clean */
    if (wf_lm_netns_add(podns, err, errlen) < 0)
        return -EIO;
    char cmds[1024];
    /* Both ends are created in their namespaces directly: no interface
     * ever appears in the host's namespace. A leftover wv<idx> (its pod
     * namespace died with a crash) is removed first. */
    char del[64];
    snprintf(del, sizeof(del), "wv%d", idx);
    const char *dargv[] = {"ip", "-n", node, "link", "del", del, NULL};
    wf_lm_run(dargv, NULL, NULL, 0);
    snprintf(cmds, sizeof(cmds), "link add wv%d type veth peer name eth0 netns %s\n", idx, podns);
    if (wf_lm_ip_batch(node, cmds, err, errlen) < 0)
        return -EIO;
    snprintf(cmds, sizeof(cmds),
             "link set lo up\n"
             "addr add %s/32 dev eth0\n"
             "link set eth0 up\n"
             "route add " WF_LM_GATEWAY " dev eth0 scope link\n"
             "route add " WF_LM_POD_CIDR " via " WF_LM_GATEWAY " dev eth0 src %s\n"
             "route add " WF_LM_SVC_CIDR " via " WF_LM_GATEWAY " dev eth0 src %s\n",
             ip, ip, ip);
    if (wf_lm_ip_batch(podns, cmds, err, errlen) < 0)
        return -EIO;
    snprintf(cmds, sizeof(cmds), "link set wv%d up\nroute replace %s/32 dev wv%d\n", idx, ip, idx);
    return wf_lm_ip_batch(node, cmds, err, errlen);
}

int wf_lm_net_rules(const char *node, const char *rules, char *err, size_t errlen)
{
    const char *argv[] = {"ip", "netns", "exec", node, "iptables-restore", "-w", "5", NULL};
    char out[512];
    int rc = wf_lm_run(argv, rules, out, sizeof(out));
    if (rc != 0) {
        snprintf(err, errlen, "iptables-restore in %s: %s", node, rc < 0 ? strerror(-rc) : out);
        return -EIO;
    }
    return 0;
}
