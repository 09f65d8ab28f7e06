/*
 * local_net.h — local mode's pod network, built with iproute2 and
 * iptables-restore inside namespaces that weft creates (the host's own
 * namespace is never changed).
 *
 * Topology (routed /32 veths, as Calico does): a "node" namespace routes
 * everything. Each pod namespace has lo and eth0 (one end of a veth pair;
 * the other end, wv<N>, sits in the node), the pod's address as a /32 on
 * eth0, and routes for 10.42.0.0/16 (pods) and 10.43.0.0/16 (Service VIPs)
 * via 169.254.1.1 — an address the node holds on its lo, so the node
 * answers the pod's ARP for it on every veth without proxy_arp. The node
 * has a /32 route per pod. There is no default route anywhere, so no packet
 * can leave the machine.
 *
 * Service VIPs are DNATed in the node's PREROUTING: every pod-to-VIP packet
 * and its replies cross the node, so one conntrack table sees both ways
 * (with a bridge, a pod reaching a VIP that lands on itself, or a peer on
 * the same L2 segment, would reply directly and bypass the DNAT — the
 * hairpin problem). The remaining hairpin, a pod reaching a VIP that picks
 * the pod itself, is SNATed to the node's 10.42.0.1 (kube-proxy's
 * masquerade mark), so the reply comes back through the node too. The
 * Service range is a local route in the node, so a VIP without a ready
 * endpoint is refused there (RST) rather than unroutable.
 */
#ifndef WF_CLI_LOCAL_NET_H
#define WF_CLI_LOCAL_NET_H

#include <stddef.h>

#define WF_LM_POD_CIDR "10.42.0.0/16"
#define WF_LM_SVC_CIDR "10.43.0.0/16"
#define WF_LM_NODE_IP "10.42.0.1"
#define WF_LM_CP_IP "10.42.0.2"
#define WF_LM_GATEWAY "169.254.1.1"

/* Creates the node namespace (idempotent: an existing one is reused). */
int wf_lm_net_node_up(const char *node, char *err, size_t errlen);

/* Creates pod namespace `podns` with address `ip`, wired to the node
 * through veth wv<idx>. */
int wf_lm_net_pod_up(const char *node, const char *podns, int idx, const char *ip, char *err,
                     size_t errlen);

/* Replaces the node's nat and filter tables with `rules`
 * (iptables-restore input). */
int wf_lm_net_rules(const char *node, const char *rules, char *err, size_t errlen);

#endif
