#!/usr/bin/python3
"""fake_kube_cluster.py — a small Kubernetes API server for the CLI's tests
(`weft check`, and `kubectl apply --dry-run=client` of `weft install`'s
output): HTTPS on 127.0.0.1 with a bearer token, serving

  GET  /version, /api, /apis, /api/v1, /apis/G/V   discovery (legacy JSON)
  GET  /api/v1/namespaces/NS/pods/NAME:4191/proxy/metrics
                                                   the fixture's "metrics"["NS/NAME"]
                                                   text (503 when absent)
  GET  collection and object paths                 from a canned object store
       (?labelSelector=k=v[,k2=v2] filters lists)
  POST /apis/authentication.k8s.io/v1/tokenreviews
                                                   authenticated when the token is a
       key of the fixture's "tokens" (value: the username) and the audiences
       asked for include "identity.l5d.io"
  POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews
                                                   allowed unless the
       resource is listed in the fixture's "deny" (e.g. "clusterroles")
  anything else → a 404 Status; a wrong token → 401.

  fake_kube_cluster.py CERT KEY TOKEN FIXTURE.json READY_FILE

FIXTURE.json: {"version": "v1.29.2", "objects": [...], "deny": [...],
"metrics": {"ns/pod": "prometheus text"}}.
Writes "API <port>" to READY_FILE once listening; GET /requests on the API
port (with the token) returns the request log as JSON.
"""
import json
import re
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# kind -> (group, version, plural, namespaced)
KINDS = {
    "Namespace": ("", "v1", "namespaces", False),
    "Pod": ("", "v1", "pods", True),
    "Service": ("", "v1", "services", True),
    "ServiceAccount": ("", "v1", "serviceaccounts", True),
    "ConfigMap": ("", "v1", "configmaps", True),
    "Secret": ("", "v1", "secrets", True),
    "Event": ("", "v1", "events", True),
    "Deployment": ("apps", "v1", "deployments", True),
    "ReplicaSet": ("apps", "v1", "replicasets", True),
    "StatefulSet": ("apps", "v1", "statefulsets", True),
    "DaemonSet": ("apps", "v1", "daemonsets", True),
    "Job": ("batch", "v1", "jobs", True),
    "CronJob": ("batch", "v1", "cronjobs", True),
    "ClusterRole": ("rbac.authorization.k8s.io", "v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings", True),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets", True),
    "MutatingWebhookConfiguration": ("admissionregistration.k8s.io", "v1",
                                     "mutatingwebhookconfigurations", False),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "v1", "customresourcedefinitions", False),
    "SelfSubjectAccessReview": ("authorization.k8s.io", "v1", "selfsubjectaccessreviews", False),
    "EndpointSlice": ("discovery.k8s.io", "v1", "endpointslices", True),
    "Server": ("policy.linkerd.io", "v1beta3", "servers", True),
    "ServerAuthorization": ("policy.linkerd.io", "v1beta1", "serverauthorizations", True),
    "AuthorizationPolicy": ("policy.linkerd.io", "v1alpha1", "authorizationpolicies", True),
    "MeshTLSAuthentication": ("policy.linkerd.io", "v1alpha1", "meshtlsauthentications", True),
    "NetworkAuthentication": ("policy.linkerd.io", "v1alpha1", "networkauthentications", True),
    "HTTPRoute": ("policy.linkerd.io", "v1beta3", "httproutes", True),
    "ServiceProfile": ("linkerd.io", "v1alpha2", "serviceprofiles", True),
}

lock = threading.Lock()
requests = []


def base(group, version):
    return "/api/" + version if group == "" else "/apis/%s/%s" % (group, version)


def obj_path(o):
    g, v, plural, namespaced = KINDS[o["kind"]]
    md = o["metadata"]
    if namespaced:
        return "%s/namespaces/%s/%s/%s" % (base(g, v), md.get("namespace", "default"), plural, md["name"])
    return "%s/%s/%s" % (base(g, v), plural, md["name"])


def matches(o, selector):
    if not selector:
        return True
    labels = o.get("metadata", {}).get("labels", {}) or {}
    for term in selector.split(","):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k) != v:
                return False
        elif labels.get(term) is None:
            return False
    return True


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, msg):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": msg, "reason": reason, "code": code})

    def authorized(self, method, path, query):
        auth = self.headers.get("Authorization", "")
        with lock:
            requests.append({"method": method, "path": path, "query": query,
                             "auth": auth, "ua": self.headers.get("User-Agent", "")})
        if auth != "Bearer " + TOKEN:
            self.status(401, "Unauthorized", "Unauthorized")
            return False
        return True

    def discovery(self, path):
        if path == "/version":
            v = FIXTURE.get("version", "v1.29.2")
            major, minor = v.lstrip("v").split(".")[:2]
            return {"major": major, "minor": minor, "gitVersion": v, "platform": "linux/amd64"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        groups = {}
        for kind, (g, v, plural, ns) in KINDS.items():
            groups.setdefault(g, {}).setdefault(v, []).append((kind, plural, ns))
        if path == "/apis":
            out = []
            for g, vs in sorted(groups.items()):
                if g == "":
                    continue
                gv = [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in sorted(vs)]
                out.append({"name": g, "versions": gv, "preferredVersion": gv[0]})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}
        for g, vs in groups.items():
            for v, kinds in vs.items():
                if path == base(g, v):
                    return {"kind": "APIResourceList", "apiVersion": "v1",
                            "groupVersion": v if g == "" else "%s/%s" % (g, v),
                            "resources": [{"name": plural, "singularName": kind.lower(),
                                           "namespaced": ns, "kind": kind,
                                           "verbs": ["create", "delete", "get", "list", "patch",
                                                     "update", "watch"]}
                                          for kind, plural, ns in kinds]}
        return None

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if not self.authorized("GET", u.path, q):
            return
        if u.path == "/requests":
            with lock:
                return self.send_json(200, requests)
        d = self.discovery(u.path)
        if d is not None:
            return self.send_json(200, d)
        if u.path in OBJECTS:
            return self.send_json(200, OBJECTS[u.path])
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/:]+):4191/proxy/metrics", u.path)
        if m is not None:
            text = FIXTURE.get("metrics", {}).get(m.group(1) + "/" + m.group(2))
            if text is None:
                return self.status(503, "ServiceUnavailable", "no endpoints available")
            body = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return self.wfile.write(body)
        # A collection: /.../plural or /.../namespaces/NS/plural
        for kind, (g, v, plural, ns) in KINDS.items():
            b = base(g, v)
            if not u.path.startswith(b + "/"):
                continue
            rest = u.path[len(b) + 1:].split("/")
            want_ns = None
            if len(rest) == 3 and rest[0] == "namespaces" and rest[2] == plural:
                want_ns = rest[1]
            elif not (len(rest) == 1 and rest[0] == plural):
                continue
            items = [o for o in OBJECTS.values() if o["kind"] == kind and
                     (want_ns is None or o["metadata"].get("namespace") == want_ns) and
                     matches(o, q.get("labelSelector", ""))]
            return self.send_json(200, {"kind": kind + "List", "apiVersion": v if g == "" else g + "/" + v,
                                        "metadata": {"resourceVersion": "1"}, "items": items})
        self.status(404, "NotFound", "the server could not find the requested resource")

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if not self.authorized("POST", u.path, body):
            return
        if u.path == "/apis/authentication.k8s.io/v1/tokenreviews":
            spec = body.get("spec", {})
            user = FIXTURE.get("tokens", {}).get(spec.get("token"))
            if user is None:
                body["status"] = {"authenticated": False, "error": "invalid bearer token"}
            elif "identity.l5d.io" not in spec.get("audiences", []):
                body["status"] = {"authenticated": False, "error": "token audiences is invalid"}
            else:
                body["status"] = {"authenticated": True, "audiences": ["identity.l5d.io"],
                                  "user": {"username": user, "uid": "u-" + user}}
            return self.send_json(201, body)
        if u.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            ra = body.get("spec", {}).get("resourceAttributes", {})
            allowed = ra.get("resource") not in FIXTURE.get("deny", [])
            body["status"] = {"allowed": allowed}
            return self.send_json(201, body)
        self.status(405, "MethodNotAllowed", "not served by the fake")


def main():
    global TOKEN, FIXTURE, OBJECTS
    cert, keyf, TOKEN, fixture, ready = sys.argv[1:6]
    with open(fixture) as f:
        FIXTURE = json.load(f)
    OBJECTS = {obj_path(o): o for o in FIXTURE.get("objects", [])}
    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    api.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, keyf)
    api.socket = ctx.wrap_socket(api.socket, server_side=True)
    with open(ready + ".tmp", "w") as f:
        f.write("API %d\n" % api.server_address[1])
    import os
    os.rename(ready + ".tmp", ready)
    api.serve_forever()


if __name__ == "__main__":
    main()
