#!/usr/bin/python3
"""gen_store.py ROOT SERVICES PODS_PER_SERVICE — writes a local store (the
layout `weft up` maintains) with SERVICES services of PODS_PER_SERVICE
meshed pods each, one EndpointSlice per 100 endpoints. Pods are shaped like
real ones (containers, env, probes, conditions, containerStatuses,
managedFields), so the destination's pruning is measured, not assumed.
Addresses are data only (10.42/10.43): nothing is dialled."""
import json
import os
import sys


def put(root, res, ns, name, obj):
    d = os.path.join(root, res, ns) if ns else os.path.join(root, res)
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, "." + name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, os.path.join(d, name + ".json"))


def main():
    root, nsvc, npod = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ns = "bench"
    put(root, "namespaces", None, ns, {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": ns}})
    ip = 0
    for s in range(nsvc):
        svc = "svc-%d" % s
        put(root, "services", ns, svc, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": svc, "namespace": ns, "uid": "uid-" + svc,
                         "resourceVersion": "1", "labels": {"app": svc}},
            "spec": {"clusterIP": "10.43.%d.%d" % (s // 250, s % 250 + 1),
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"}],
                     "selector": {"app": svc}, "type": "ClusterIP"}})
        eps = []
        for p in range(npod):
            ip += 1
            addr = "10.42.%d.%d" % (ip // 250, ip % 250 + 1)
            rs = "%s-5d8f9c7b6" % svc
            pod = "%s-%05d" % (rs, p)
            put(root, "pods", ns, pod, {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": pod, "namespace": ns, "uid": "uid-%s" % pod,
                    "resourceVersion": str(1000 + ip),
                    "labels": {"app": svc, "pod-template-hash": "5d8f9c7b6",
                               "linkerd.io/control-plane-ns": "linkerd",
                               "linkerd.io/proxy-deployment": svc,
                               "linkerd.io/workload-ns": ns},
                    "annotations": {"linkerd.io/created-by": "weft up",
                                    "linkerd.io/proxy-version": "0.1.0",
                                    "linkerd.io/identity-mode": "default"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                         "name": rs, "uid": "uid-" + rs,
                                         "controller": True, "blockOwnerDeletion": True}],
                    "managedFields": [{"manager": "kube-controller-manager",
                                       "operation": "Update", "apiVersion": "v1",
                                       "fieldsType": "FieldsV1",
                                       "fieldsV1": {"f:metadata": {"f:labels": {
                                           ".": {}, "f:app": {}}}}}]},
                "spec": {
                    "serviceAccountName": svc, "nodeName": "node-1",
                    "containers": [
                        {"name": "app", "image": "example/app:1.0",
                         "ports": [{"containerPort": 8080, "name": "http"}],
                         "env": [{"name": "K%d" % i, "value": "v%d" % i} for i in range(8)],
                         "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                         "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}},
                        {"name": "linkerd-proxy", "image": "weft-proxy:0.1.0",
                         "ports": [{"containerPort": 4143, "name": "linkerd-proxy"},
                                   {"containerPort": 4191, "name": "linkerd-admin"}],
                         "env": [{"name": "LINKERD2_PROXY_%d" % i, "value": "x" * 20}
                                 for i in range(20)]}]},
                "status": {
                    "phase": "Running", "podIP": addr, "podIPs": [{"ip": addr}],
                    "hostIP": "192.168.1.10",
                    "conditions": [{"type": t, "status": "True",
                                    "lastTransitionTime": "2026-01-01T00:00:00Z"}
                                   for t in ("Initialized", "Ready", "ContainersReady",
                                             "PodScheduled")],
                    "containerStatuses": [{"name": c, "ready": True, "restartCount": 0,
                                           "image": "x", "imageID": "sha256:" + "0" * 64,
                                           "containerID": "containerd://" + "1" * 64,
                                           "state": {"running": {
                                               "startedAt": "2026-01-01T00:00:00Z"}}}
                                          for c in ("app", "linkerd-proxy")]}})
            eps.append({"addresses": [addr], "conditions": {"ready": True, "serving": True,
                                                            "terminating": False},
                        "nodeName": "node-1",
                        "targetRef": {"kind": "Pod", "name": pod, "namespace": ns,
                                      "uid": "uid-%s" % pod}})
        for i in range(0, len(eps), 100):
            name = "%s-%d" % (svc, i // 100)
            put(root, "endpointslices", ns, name, {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "addressType": "IPv4",
                "metadata": {"name": name, "namespace": ns, "resourceVersion": "1",
                             "labels": {"kubernetes.io/service-name": svc,
                                        "endpointslice.kubernetes.io/managed-by":
                                            "endpointslice-controller.k8s.io"}},
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": eps[i:i + 100]})


if __name__ == "__main__":
    main()
