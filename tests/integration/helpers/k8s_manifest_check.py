#!/usr/bin/python3
"""k8s_manifest_check.py — our own field/shape checks of `weft install`
output, read with PyYAML (independent of weft's emitter):

  k8s_manifest_check.py crds FILE
      7 CRDs (policy.linkerd.io x6, linkerd.io ServiceProfile), each with
      one served+stored version and a structural openAPIV3Schema (every
      node typed, or int-or-string / preserve-unknown-fields).
  k8s_manifest_check.py control-plane FILE NAMESPACE REPLICAS
      the namespace, service accounts, RBAC (identity may create
      tokenreviews; nobody gets "*" or write verbs beyond that), three
      Deployments whose selectors match their template labels, with probes
      on a declared admin port and restricted security contexts, Services
      (incl. the headless ones the proxy dials) selecting them, the trust
      roots ConfigMap, kubernetes.io/tls Secrets, the webhook (Ignore, 10s,
      v1, pods CREATE, kube-system and NAMESPACE excluded, caBundle).
  k8s_manifest_check.py args FILE
      "component<TAB>args..." per Deployment.
Exit 1 with a message on the first problem.
"""
import base64
import sys

import yaml


def fail(msg):
    print("k8s_manifest_check: " + msg, file=sys.stderr)
    sys.exit(1)


def load(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    for d in docs:
        for k in ("apiVersion", "kind", "metadata"):
            if k not in d:
                fail(f"a document without {k}: {str(d)[:200]}")
        if not d["metadata"].get("name"):
            fail(f"{d['kind']} without a name")
    return docs


def structural(s, where):
    if s.get("x-kubernetes-int-or-string") or s.get("x-kubernetes-preserve-unknown-fields"):
        return
    t = s.get("type")
    if t not in ("object", "array", "string", "integer", "number", "boolean"):
        fail(f"{where}: no type")
    for k, v in s.get("properties", {}).items():
        structural(v, f"{where}.{k}")
    if t == "array":
        if "items" not in s:
            fail(f"{where}: array without items")
        structural(s["items"], where + "[]")
    if isinstance(s.get("additionalProperties"), dict):
        structural(s["additionalProperties"], where + "{}")
    for comb in ("oneOf", "anyOf", "allOf"):
        for alt in s.get(comb, []):
            if "type" in alt or "properties" in alt:
                fail(f"{where}: {comb} may not declare types (structural schema)")


def crds(path):
    docs = load(path)
    want = {"servers.policy.linkerd.io", "serverauthorizations.policy.linkerd.io",
            "authorizationpolicies.policy.linkerd.io", "meshtlsauthentications.policy.linkerd.io",
            "networkauthentications.policy.linkerd.io", "httproutes.policy.linkerd.io",
            "serviceprofiles.linkerd.io"}
    got = set()
    for d in docs:
        if d["kind"] != "CustomResourceDefinition" or d["apiVersion"] != "apiextensions.k8s.io/v1":
            fail(f"unexpected {d['kind']}")
        s = d["spec"]
        name = d["metadata"]["name"]
        if name != f"{s['names']['plural']}.{s['group']}":
            fail(f"{name}: name is not plural.group")
        vs = s["versions"]
        if sum(1 for v in vs if v["storage"]) != 1 or not all(v["served"] for v in vs):
            fail(f"{name}: versions")
        for v in vs:
            sch = v["schema"]["openAPIV3Schema"]
            if sch.get("type") != "object":
                fail(f"{name}: root schema is not an object")
            structural(sch, name)
        got.add(name)
    if got != want:
        fail(f"CRDs {sorted(got)} != {sorted(want)}")
    print(f"{len(got)} CRDs, structural schemas")


def control_plane(path, ns, replicas):
    docs = load(path)
    by = {}
    for d in docs:
        by.setdefault(d["kind"], []).append(d)
        md = d["metadata"]
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding",
                             "MutatingWebhookConfiguration") and md.get("namespace") != ns:
            fail(f"{d['kind']}/{md['name']} not in namespace {ns}")
    names = lambda k: sorted(d["metadata"]["name"] for d in by.get(k, []))
    if names("Namespace") != [ns]:
        fail("namespace")
    nsd = by["Namespace"][0]
    if nsd["metadata"].get("annotations", {}).get("linkerd.io/inject") != "disabled":
        fail("the control plane namespace is not marked linkerd.io/inject: disabled")
    if names("ServiceAccount") != ["weft-destination", "weft-identity", "weft-proxy-injector"]:
        fail(f"service accounts {names('ServiceAccount')}")
    # RBAC: least privilege.
    roles = {d["metadata"]["name"]: d["rules"] for d in by["ClusterRole"]}
    for r, rules in roles.items():
        for rule in rules:
            if "*" in rule["verbs"] or "*" in rule["resources"] or "*" in rule["apiGroups"]:
                fail(f"{r}: wildcard rule {rule}")
            writes = set(rule["verbs"]) - {"get", "list", "watch"}
            if writes and not (rule["resources"] in (["tokenreviews"], ["events"]) and
                               writes <= {"create", "patch"}):
                fail(f"{r}: write verbs {writes} on {rule['resources']}")
    ident = roles[f"weft-{ns}-identity"]
    if not any(r["resources"] == ["tokenreviews"] and "create" in r["verbs"] for r in ident):
        fail("identity cannot create tokenreviews")
    binds = {d["roleRef"]["name"]: d["subjects"][0] for d in by["ClusterRoleBinding"]}
    if set(binds) != set(roles):
        fail("every ClusterRole needs its binding")
    for r, subj in binds.items():
        if subj["namespace"] != ns or subj["kind"] != "ServiceAccount":
            fail(f"binding {r}: {subj}")
    # Deployments.
    deps = {d["metadata"]["name"]: d for d in by["Deployment"]}
    if sorted(deps) != ["weft-destination", "weft-identity", "weft-proxy-injector"]:
        fail(f"deployments {sorted(deps)}")
    admin = {"weft-identity": 9990, "weft-destination": 9996, "weft-proxy-injector": 9995}
    svc_targets = {}
    for name, d in deps.items():
        s = d["spec"]
        if s["replicas"] != replicas:
            fail(f"{name}: {s['replicas']} replicas, want {replicas}")
        sel = s["selector"]["matchLabels"]
        tl = s["template"]["metadata"]["labels"]
        if any(tl.get(k) != v for k, v in sel.items()):
            fail(f"{name}: selector {sel} does not match template labels {tl}")
        ps = s["template"]["spec"]
        c = ps["containers"][0]
        if ps["serviceAccountName"] not in names("ServiceAccount"):
            fail(f"{name}: unknown service account")
        ports = {p["containerPort"] for p in c["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            if c[probe]["httpGet"]["port"] != admin[name] or admin[name] not in ports:
                fail(f"{name}: {probe} not on the admin port {admin[name]}")
        sc = c["securityContext"]
        if sc.get("runAsNonRoot") is not True or sc.get("allowPrivilegeEscalation") is not False \
                or sc.get("readOnlyRootFilesystem") is not True or sc["capabilities"]["drop"] != ["ALL"]:
            fail(f"{name}: security context {sc}")
        if "requests" not in c.get("resources", {}):
            fail(f"{name}: no resource requests")
        vols = {v["name"] for v in ps.get("volumes", [])}
        for m in c.get("volumeMounts", []):
            if m["name"] not in vols:
                fail(f"{name}: mount of an undeclared volume {m['name']}")
        for v in ps.get("volumes", []):
            if "projected" in v:
                # a ServiceAccount token for the identity service's audience
                srcs = v["projected"]["sources"]
                if [x.get("serviceAccountToken", {}).get("audience") for x in srcs] != ["identity.l5d.io"]:
                    fail(f"{name}: projected volume {v['name']} is not an identity token: {srcs}")
                continue
            ref = v.get("secret", {}).get("secretName") or v.get("configMap", {}).get("name")
            if ref not in names("Secret") + names("ConfigMap"):
                fail(f"{name}: volume refers to a missing object {ref}")
        if name == "weft-destination":
            # served over mTLS as a mesh workload, with its own identity
            args = c["args"]
            want = f"weft-destination.{ns}.serviceaccount.identity.{ns}."
            if "--identity-name" not in args or not args[args.index("--identity-name") + 1].startswith(want):
                fail(f"{name}: not serving mTLS as {want}<trust domain>: {args}")
            if not any("projected" in v for v in ps.get("volumes", [])):
                fail(f"{name}: no identity token volume")
        if replicas > 1 and "podAntiAffinity" not in ps.get("affinity", {}):
            fail(f"{name}: HA without anti-affinity")
        svc_targets[name] = (tl, ports)
    pdbs = by.get("PodDisruptionBudget", [])
    if replicas > 1 and len(pdbs) != 3:
        fail(f"HA with {len(pdbs)} PodDisruptionBudgets")
    # Services select a deployment's pods and target a declared port.
    svcs = {d["metadata"]["name"]: d for d in by["Service"]}
    for want in ("weft-identity", "weft-identity-headless", "weft-dst", "weft-dst-headless",
                 "weft-proxy-injector"):
        if want not in svcs:
            fail(f"service {want} missing")
    for n in ("weft-identity-headless", "weft-dst-headless"):
        if svcs[n]["spec"].get("clusterIP") != "None":
            fail(f"{n} is not headless")
    for n, s in svcs.items():
        sel = s["spec"]["selector"]
        hits = [d for d, (tl, ports) in svc_targets.items()
                if all(tl.get(k) == v for k, v in sel.items())]
        if len(hits) != 1:
            fail(f"service {n} selects {hits}")
        if s["spec"]["ports"][0]["targetPort"] not in svc_targets[hits[0]][1]:
            fail(f"service {n} targets an undeclared port")
    wanted_ports = {"weft-identity-headless": 8080, "weft-dst-headless": 8086, "weft-proxy-injector": 443}
    for n, p in wanted_ports.items():
        if svcs[n]["spec"]["ports"][0]["port"] != p:
            fail(f"service {n} port")
    # Trust roots, secrets.
    cms = {d["metadata"]["name"]: d for d in by["ConfigMap"]}
    if "-----BEGIN CERTIFICATE-----" not in cms["linkerd-identity-trust-roots"]["data"]["ca-bundle.crt"]:
        fail("trust roots ConfigMap")
    for s in by["Secret"]:
        if s["type"] != "kubernetes.io/tls" or not {"tls.crt", "tls.key"} <= set(s["data"]):
            fail(f"secret {s['metadata']['name']}")
        for v in s["data"].values():
            base64.b64decode(v, validate=True)
    # The webhook.
    (mwc,) = by["MutatingWebhookConfiguration"]
    (wh,) = mwc["webhooks"]
    if wh["failurePolicy"] != "Ignore" or wh["timeoutSeconds"] != 10 or wh["sideEffects"] != "None":
        fail("webhook failurePolicy/timeout/sideEffects")
    if wh["admissionReviewVersions"] != ["v1"]:
        fail("webhook versions")
    cc = wh["clientConfig"]
    if cc["service"]["name"] != "weft-proxy-injector" or cc["service"]["namespace"] != ns:
        fail("webhook service")
    if b"BEGIN CERTIFICATE" not in base64.b64decode(cc["caBundle"]):
        fail("webhook caBundle")
    (rule,) = wh["rules"]
    if rule["operations"] != ["CREATE"] or rule["resources"] != ["pods"] or rule["apiGroups"] != [""]:
        fail(f"webhook rule {rule}")
    excluded = [e for e in wh["namespaceSelector"]["matchExpressions"]
                if e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn"]
    if not excluded or set(excluded[0]["values"]) != {"kube-system", ns}:
        fail("webhook namespaceSelector must exclude kube-system and the control plane")
    if not any(e["key"] == "linkerd.io/inject" for e in wh["objectSelector"]["matchExpressions"]):
        fail("webhook objectSelector ignores linkerd.io/inject")
    print(f"{len(docs)} documents; 3 deployments x{replicas}; {len(pdbs)} PodDisruptionBudgets; "
          f"{len(svcs)} services; webhook Ignore/10s")


def args(path):
    for d in load(path):
        if d["kind"] == "Deployment":
            c = d["spec"]["template"]["spec"]["containers"][0]
            print(c["name"] + "\t" + " ".join(c["args"]))


cmd = sys.argv[1]
if cmd == "crds":
    crds(sys.argv[2])
elif cmd == "control-plane":
    control_plane(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif cmd == "args":
    args(sys.argv[2])
else:
    fail("unknown command " + cmd)
