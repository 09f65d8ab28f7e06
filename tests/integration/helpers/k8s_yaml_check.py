#!/usr/bin/python3
"""k8s_yaml_check.py — independent checks of weft's Kubernetes YAML output,
with PyYAML (not our libyaml code paths' JSON view):

  k8s_yaml_check.py same A B
      A and B hold the same documents, semantically (empty maps and lists
      count as absent, as they do to the API server).
  k8s_yaml_check.py injected [--cni] [--native] FILE NAME...
      every workload named NAME in FILE has exactly one weft-proxy container
      shaped as the proxy expects (env, ports, probes, security context),
      the weft-init container (unless --cni), the token volume, and the
      annotations and labels; prints one line per workload checked.
  k8s_yaml_check.py untouched FILE NAME...
      no workload named NAME has a proxy.
"""
import sys

import yaml

TEMPLATE = {"Pod": [], "Deployment": ["spec", "template"], "StatefulSet": ["spec", "template"],
            "DaemonSet": ["spec", "template"], "ReplicaSet": ["spec", "template"],
            "Job": ["spec", "template"], "CronJob": ["spec", "jobTemplate", "spec", "template"]}


def norm(v):
    if isinstance(v, dict):
        out = {k: norm(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in ({}, [], None)}
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def resources(docs):
    for d in docs:
        if d.get("kind", "").endswith("List"):
            yield from resources(d.get("items", []))
        else:
            yield d


def template(res):
    t = res
    for k in TEMPLATE.get(res.get("kind"), None) or []:
        t = t[k]
    return t if res.get("kind") in TEMPLATE else None


def fail(msg):
    print("k8s_yaml_check: " + msg, file=sys.stderr)
    sys.exit(1)


def check_injected(res, cni, native=False):
    name = res["metadata"]["name"]
    t = template(res)
    md, spec = t.get("metadata", {}), t["spec"]
    proxies = [c for c in spec["containers"] if c["name"] == "weft-proxy"]
    sidecars = [c for c in spec.get("initContainers", []) if c["name"] == "weft-proxy"]
    if native:
        if proxies or len(sidecars) != 1:
            fail(f"{name}: native sidecar: {len(sidecars)} in initContainers, {len(proxies)} in containers")
        p = sidecars[0]
        if p.get("restartPolicy") != "Always" or p["startupProbe"]["httpGet"] != {"path": "/ready", "port": 4191}:
            fail(f"{name}: the native sidecar needs restartPolicy Always and a startupProbe on /ready")
        order = [c["name"] for c in spec["initContainers"]]
        want = ["weft-proxy"] if cni else ["weft-init", "weft-proxy"]
        if order[:len(want)] != want:
            fail(f"{name}: init container order {order}")
    else:
        if len(proxies) != 1 or sidecars:
            fail(f"{name}: {len(proxies)} weft-proxy containers")
        p = proxies[0]
    env = {e["name"]: e for e in p["env"]}
    for k in ("WEFT_PROXY_LOG", "WEFT_PROXY_INBOUND_LISTEN_ADDR", "WEFT_PROXY_OUTBOUND_LISTEN_ADDRS",
              "WEFT_PROXY_ADMIN_LISTEN_ADDR", "WEFT_PROXY_IDENTITY_TRUST_ANCHORS",
              "WEFT_PROXY_IDENTITY_TOKEN_FILE", "WEFT_PROXY_IDENTITY_SVC_ADDR",
              "WEFT_PROXY_IDENTITY_SVC_NAME", "WEFT_PROXY_IDENTITY_LOCAL_NAME",
              "WEFT_PROXY_DESTINATION_SVC_ADDR", "WEFT_PROXY_DESTINATION_SVC_NAME",
              "WEFT_PROXY_DESTINATION_CONTEXT", "_pod_sa", "_pod_ns", "_pod_name",
              "WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION",
              "WEFT_PROXY_OUTBOUND_PORTS_DISABLE_PROTOCOL_DETECTION"):
        if k not in env:
            fail(f"{name}: proxy env lacks {k}")
    for e in p["env"]:
        if "value" in e and not isinstance(e["value"], str):
            fail(f"{name}: env {e['name']} is not a string: {e['value']!r}")
    sc = p["securityContext"]
    if sc.get("runAsUser") != 2102 or sc.get("runAsNonRoot") is not True or \
            sc.get("readOnlyRootFilesystem") is not True or sc.get("allowPrivilegeEscalation") is not False:
        fail(f"{name}: proxy securityContext {sc}")
    ports = {pp["name"]: pp["containerPort"] for pp in p["ports"]}
    if ports != {"linkerd-proxy": 4143, "linkerd-admin": 4191}:
        fail(f"{name}: proxy ports {ports}")
    if p["readinessProbe"]["httpGet"] != {"path": "/ready", "port": 4191} or \
            p["livenessProbe"]["httpGet"] != {"path": "/live", "port": 4191}:
        fail(f"{name}: probes")
    inits = [c for c in spec.get("initContainers", []) if c["name"] == "weft-init"]
    if cni:
        if inits:
            fail(f"{name}: weft-init present under --cni")
    else:
        if len(inits) != 1:
            fail(f"{name}: {len(inits)} weft-init containers")
        caps = inits[0]["securityContext"]["capabilities"]["add"]
        if sorted(caps) != ["NET_ADMIN", "NET_RAW"] or inits[0]["securityContext"]["runAsNonRoot"] is not False:
            fail(f"{name}: weft-init securityContext")
        args = inits[0]["args"]
        if any(not isinstance(a, str) for a in args):
            fail(f"{name}: weft-init args not all strings: {args}")
        if not native and spec["initContainers"][-1]["name"] != "weft-init":
            fail(f"{name}: weft-init is not the last init container")
    vols = [v for v in spec.get("volumes", []) if v["name"] == "weft-identity-token"]
    if len(vols) != 1:
        fail(f"{name}: token volume")
    sat = vols[0]["projected"]["sources"][0]["serviceAccountToken"]
    if sat != {"audience": "identity.l5d.io", "expirationSeconds": 86400, "path": "linkerd-identity-token"}:
        fail(f"{name}: token volume {sat}")
    ann, lab = md.get("annotations", {}), md.get("labels", {})
    if ann.get("linkerd.io/identity-mode") != "default" or "linkerd.io/proxy-version" not in ann:
        fail(f"{name}: annotations {ann}")
    if lab.get("linkerd.io/control-plane-ns") != "linkerd":
        fail(f"{name}: labels {lab}")
    ns = res.get("metadata", {}).get("namespace")
    if lab.get("linkerd.io/workload-ns") != ns:
        fail(f"{name}: linkerd.io/workload-ns is {lab.get('linkerd.io/workload-ns')!r}, the namespace is {ns!r}")
    return p, inits[0] if inits else None


def main():
    cmd = sys.argv[1]
    if cmd == "same":
        a, b = load(sys.argv[2]), load(sys.argv[3])
        if norm(a) != norm(b):
            fail(f"{sys.argv[2]} and {sys.argv[3]} differ:\n{norm(a)}\n---\n{norm(b)}")
        print(f"same: {len(a)} documents")
        return
    cni = "--cni" in sys.argv
    native = "--native" in sys.argv
    args = [a for a in sys.argv[2:] if a not in ("--cni", "--native")]
    path, names = args[0], args[1:]
    by_name = {}
    for r in resources(load(path)):
        by_name[r.get("metadata", {}).get("name")] = r
    for n in names:
        r = by_name.get(n)
        if r is None:
            fail(f"{path}: no resource named {n}")
        if cmd == "injected":
            p, init = check_injected(r, cni, native)
            env = {e["name"]: e.get("value") for e in p["env"]}
            print(f"{n}: ok proxy={p['image']} ingress={env.get('WEFT_PROXY_INGRESS_MODE', '')}"
                  f" opaque={env['WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION']}"
                  f" inbound={env.get('WEFT_PROXY_INBOUND_PORTS', '-')}"
                  f" resources={p.get('resources', {})}"
                  f" init={' '.join(init['args']) if init else '-'}")
        elif cmd == "untouched":
            t = template(r)
            if t is not None and any(c["name"] == "weft-proxy" for c in t["spec"]["containers"]):
                fail(f"{n}: has a proxy")
            print(f"{n}: untouched")


main()
