#!/usr/bin/env bash
# weft-controller injector, the admission webhook, exercised over HTTPS by
# curl with AdmissionReview v1 bodies shaped as the API server sends them,
# and with namespace annotations from a (fake) API server's list + watch
# (helpers/fake_kube_api.py, 127.0.0.1):
#   - linkerd.io/inject on the pod, on the namespace (and a namespace
#     change seen through the watch), pod disabled beating namespace
#     enabled, ingress mode, kube-system, hostNetwork, already injected;
#   - the JSONPatch applied to the pod yields the proxy the proxy expects
#     (checked by PyYAML, helpers/k8s_yaml_check.py);
#   - bad annotations: allowed without the proxy, warnings naming them;
#     a pod that asked for the proxy and did not get it carries the reason
#     in weft.io/inject-skipped;
#   - not a pod / not CREATE: allowed untouched; the uid is echoed;
#   - garbage, wrong apiVersion, oversized, chunked, GET, unknown path →
#     400/400/413/411/405/404, the server keeps serving; keep-alive reuse;
#     TLS 1.2 refused (TLS 1.3 only); /metrics counts results;
#   - bounded buffering: while a slow client holds a big body, a request
#     past --max-buffered gets 503; the budget comes back when it leaves.
# Environment: WEFT_BIN (required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
H="$WEFT_SRC/tests/integration/helpers"
CTL="$WEFT_BIN/weft-controller"
NAME=test_k8s_injector
[[ -x $CTL ]] || { echo "FAILED: $CTL not built"; exit 1; }
"$PY" -c 'import yaml' 2>/dev/null || { echo "FAILED: python3-yaml missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -30 "$f"; }; done
    echo "FAILED $NAME"
  fi
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
ASSERTS=0
fail() { echo "[$NAME] FAIL: $*" >&2; exit 1; }
ok() { ASSERTS=$((ASSERTS + 1)); echo "[$NAME] ok: $*"; }
assert_eq() { [[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"; ok "$3"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: $1"; ok "$3"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cd "$T"

# ---- TLS material, the fake API server with two namespaces -------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -days 2 -subj /CN=test-ca 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout wh.key -out wh.csr \
  -subj /CN=weft-proxy-injector.linkerd.svc 2>/dev/null
printf 'subjectAltName=DNS:weft-proxy-injector.linkerd.svc,IP:127.0.0.1\n' >wh.ext
openssl x509 -req -in wh.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile wh.ext \
  -out wh.crt 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key -out api.csr \
  -subj /CN=kube 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >api.ext
openssl x509 -req -in api.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile api.ext \
  -out api.crt 2>/dev/null
"$PY" "$H/fake_kube_api.py" api.crt api.key tok 50 api.ready >api.log 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -e api.ready ]] && break; sleep 0.1; done
[[ -e api.ready ]] || fail "fake API server did not start"
API_PORT=$(awk '/^API/{print $2}' api.ready)
C="http://127.0.0.1:$(awk '/^CTL/{print $2}' api.ready)"
putns() { curl -sf -X POST --data-binary "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$1\",\"annotations\":$2}}" "$C/put?res=namespaces" >/dev/null; }
putns meshed '{"linkerd.io/inject":"enabled","config.linkerd.io/proxy-cpu-request":"25m"}'
putns plain '{}'
putns badns '{"linkerd.io/inject":"on"}'
cat >kubeconfig <<EOK
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: $T/ca.crt}}]
users: [{name: u, user: {token: tok}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
current-context: fake
EOK

PORT=$(free_port)
APORT=$(free_port)
"$CTL" injector --tls-cert wh.crt --tls-key wh.key --addr "127.0.0.1:$PORT" --admin-addr "127.0.0.1:$APORT" \
  --kubeconfig kubeconfig --log-level debug >inj.log 2>&1 &
IPID=$!
PIDS+=($IPID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$APORT/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$APORT/ready" >/dev/null || fail "injector not ready (namespaces not synced?)"
ok "injector ready once namespaces are listed"
URL="https://weft-proxy-injector.linkerd.svc:$PORT"
CURL=(curl -s --cacert ca.crt --resolve "weft-proxy-injector.linkerd.svc:$PORT:127.0.0.1")

# review NS OP KIND ANNOTATIONS_JSON SPEC_EXTRA -> review body on stdout
review() {
  "$PY" - "$@" <<'PYEOF'
import json, sys, uuid
ns, op, kind, anns, extra = sys.argv[1:6]
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"generateName": "web-7d4b9c-", "namespace": ns, "labels": {"app": "web"},
                    "annotations": json.loads(anns),
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                                         "uid": str(uuid.uuid4()), "controller": True}]},
       "spec": dict({"serviceAccountName": "web", "containers": [
           {"name": "web", "image": "buoyantio/emojivoto-web:v11", "ports": [{"containerPort": 8080}],
            "resources": {}, "terminationMessagePath": "/dev/termination-log",
            "volumeMounts": [{"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}]}],
           "volumes": [{"name": "kube-api-access-x", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
           "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}, **json.loads(extra)),
       "status": {}}
g, v = ("apps", "v1") if kind == "Deployment" else ("", "v1")
print(json.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": {
    "uid": str(uuid.uuid4()), "kind": {"group": g, "version": v, "kind": kind},
    "resource": {"group": g, "version": v, "resource": kind.lower() + "s"},
    "requestKind": {"group": g, "version": v, "kind": kind},
    "requestResource": {"group": g, "version": v, "resource": kind.lower() + "s"},
    "namespace": ns, "operation": op,
    "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                 "uid": str(uuid.uuid4()), "groups": ["system:serviceaccounts", "system:authenticated"]},
    "object": pod, "oldObject": None, "dryRun": False,
    "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}}}))
PYEOF
}

# post NAME NS OP KIND ANNS EXTRA: posts, checks 200 + uid echo, writes NAME.resp and NAME.pod.yaml
post() {
  review "${@:2}" >"$1.req"
  local code
  code=$("${CURL[@]}" -o "$1.resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$1.req" "$URL/inject?timeout=10s")
  [[ $code == 200 ]] || fail "$1: HTTP $code: $(cat "$1.resp")"
  "$PY" - "$1" <<'PYEOF' || fail "$1: response shape"
import base64, json, sys, yaml
name = sys.argv[1]
req = json.load(open(name + ".req"))
full = json.load(open(name + ".resp"))
assert full["apiVersion"] == "admission.k8s.io/v1" and full["kind"] == "AdmissionReview"
r = full["response"]
assert r["uid"] == req["request"]["uid"], "uid not echoed"
assert r["allowed"] is True, "a pod was not allowed"
assert ("patch" in r) == ("patchType" in r)
pod = req["request"]["object"]
def unescape(t): return t.replace("~1", "/").replace("~0", "~")
if "patch" in r:
    assert r["patchType"] == "JSONPatch"
    for op in json.loads(base64.b64decode(r["patch"])):
        assert op["op"] == "add", op
        parts = [unescape(p) for p in op["path"].split("/")[1:]]
        cur = pod
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        last = parts[-1]
        if isinstance(cur, list):
            cur.insert(len(cur) if last == "-" else int(last), op["value"])
        else:
            assert last not in cur, "add over an existing key " + op["path"]
            cur[last] = op["value"]
open(name + ".pod.yaml", "w").write(yaml.safe_dump(dict(pod, metadata=dict(pod["metadata"], name="web-1"))))
proxy = any(c["name"] == "weft-proxy" for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", []))
open(name + ".patched", "w").write("yes" if proxy else "no")
open(name + ".haspatch", "w").write("yes" if "patch" in r else "no")
open(name + ".skipped", "w").write(pod["metadata"].get("annotations", {}).get("weft.io/inject-skipped", ""))
open(name + ".warnings", "w").write("\n".join(r.get("warnings", [])))
PYEOF
}

post podann plain CREATE Pod '{"linkerd.io/inject":"enabled"}' '{}'
assert_eq "$(cat podann.patched)" yes "pod annotation enabled → patch"
"$PY" "$H/k8s_yaml_check.py" injected podann.pod.yaml web-1 >podann.chk || fail "patched pod shape"
ok "the patched pod has the proxy the proxy expects: $(cut -c1-80 podann.chk)"
post nsann meshed CREATE Pod '{}' '{}'
assert_eq "$(cat nsann.patched)" yes "namespace annotation enabled → patch"
"$PY" "$H/k8s_yaml_check.py" injected nsann.pod.yaml web-1 >nsann.chk || fail "ns-injected pod shape"
assert_contains "$(cat nsann.chk)" "'cpu': '25m'" "namespace config annotations apply (proxy-cpu-request)"
post nsdis meshed CREATE Pod '{"linkerd.io/inject":"disabled"}' '{}'
assert_eq "$(cat nsdis.haspatch)" no "pod disabled beats namespace enabled (no patch at all)"
post noann plain CREATE Pod '{}' '{}'
assert_eq "$(cat noann.haspatch)" no "no annotation anywhere → untouched"
post ingress plain CREATE Pod '{"linkerd.io/inject":"ingress"}' '{}'
"$PY" "$H/k8s_yaml_check.py" injected ingress.pod.yaml web-1 >ingress.chk || fail "ingress shape"
assert_contains "$(cat ingress.chk)" "ingress=true" "ingress mode"
post ks kube-system CREATE Pod '{"linkerd.io/inject":"enabled"}' '{}'
assert_eq "$(cat ks.patched)" no "kube-system never injected"
assert_contains "$(cat ks.skipped)" "kube-system" "the reason is recorded in weft.io/inject-skipped"
post hn plain CREATE Pod '{"linkerd.io/inject":"enabled"}' '{"hostNetwork": true}'
assert_eq "$(cat hn.patched)" no "hostNetwork never injected"
assert_contains "$(cat hn.skipped)" "hostNetwork" "hostNetwork: reason recorded"
post twice plain CREATE Pod '{"linkerd.io/inject":"enabled"}' '{"containers":[{"name":"app","image":"a"},{"name":"weft-proxy","image":"p"}]}'
assert_eq "$(cat twice.haspatch)" no "an injected pod is not injected twice (no patch at all)"
post bad plain CREATE Pod '{"linkerd.io/inject":"enabled","config.linkerd.io/skip-subnets":"10.0.0.1/8","config.linkerd.io/proxy-memory-limit":"1Gb"}' '{}'
assert_eq "$(cat bad.patched)" no "bad annotations → admitted uninjected"
assert_contains "$(cat bad.warnings)" "config.linkerd.io/skip-subnets" "warning names skip-subnets"
assert_contains "$(cat bad.skipped)" "config.linkerd.io/proxy-memory-limit" "bad annotations: reason recorded"
assert_contains "$(cat bad.warnings)" "config.linkerd.io/proxy-memory-limit" "warning names proxy-memory-limit"
post badns badns CREATE Pod '{}' '{}'
assert_eq "$(cat badns.patched)" no "a bad namespace value → uninjected"
assert_contains "$(cat badns.warnings)" 'namespace annotation linkerd.io/inject: "on"' "warning names the namespace annotation"
post deploy plain CREATE Deployment '{"linkerd.io/inject":"enabled"}' '{}'
assert_eq "$(cat deploy.haspatch)" no "not a pod → untouched"
post update plain UPDATE Pod '{"linkerd.io/inject":"enabled"}' '{}'
assert_eq "$(cat update.haspatch)" no "UPDATE → untouched"

# A namespace annotated later reaches the injector through the watch.
putns plain '{"linkerd.io/inject":"enabled"}'
for _ in $(seq 50); do
  post later plain CREATE Pod '{}' '{}'
  [[ $(cat later.patched) == yes ]] && break
  sleep 0.1
done
assert_eq "$(cat later.patched)" yes "a namespace annotated after start-up is seen (watch)"

# ---- bad requests: answered, the server lives on -------------------------------------------------
code() { "${CURL[@]}" -o /dev/null -w '%{http_code}' "$@"; }
assert_eq "$(code --data-binary 'not json' "$URL/")" 400 "garbage body → 400"
assert_eq "$(code --data-binary '{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}' "$URL/")" 400 "v1beta1 → 400"
assert_eq "$(code --data-binary '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}' "$URL/")" 400 "no uid → 400"
head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >big.bin
assert_eq "$(code -H 'Expect:' --data-binary @big.bin "$URL/")" 413 "4 MiB body → 413"
assert_eq "$(code -H 'Transfer-Encoding: chunked' --data-binary @podann.req "$URL/")" 411 "chunked body → 411"
assert_eq "$(code "$URL/inject")" 405 "GET → 405"
assert_eq "$(code --data-binary @podann.req "$URL/mutate")" 404 "unknown path → 404"
n=$("${CURL[@]}" -o /dev/null -o /dev/null -w '%{num_connects}\n' -H 'Content-Type: application/json' \
  --data-binary @podann.req "$URL/inject" "$URL/" | awk '{s += $1} END {print s}')
assert_eq "$n" 1 "two reviews on one kept-alive connection"
if curl -s --cacert ca.crt --tls-max 1.2 --resolve "weft-proxy-injector.linkerd.svc:$PORT:127.0.0.1" \
    -o /dev/null --data-binary @podann.req "$URL/inject"; then
  fail "TLS 1.2 accepted"
fi
ok "TLS 1.2 refused (TLS 1.3 only)"
post after plain CREATE Pod '{"linkerd.io/inject":"enabled"}' '{}'
assert_eq "$(cat after.patched)" yes "still serving after the bad requests"
kill -0 "$IPID" || fail "injector died"
m=$(curl -s "http://127.0.0.1:$APORT/metrics")
for r in injected skipped invalid bad_request; do
  grep -q "^injector_admission_reviews_total{result=\"$r\"} [1-9]" <<<"$m" || fail "metric for $r: $(grep injector_ <<<"$m")"
done
ok "/metrics counts reviews by result"
kill "$IPID"; wait "$IPID" || fail "injector exited non-zero on SIGTERM"
ok "graceful exit on SIGTERM"

# ---- bounded buffering: a slow client holding a big body makes others get 503 --------------------
PORT2=$(free_port)
APORT2=$(free_port)
"$CTL" injector --tls-cert wh.crt --tls-key wh.key --addr "127.0.0.1:$PORT2" --admin-addr "127.0.0.1:$APORT2" \
  --max-buffered 1048576 >inj2.log 2>&1 &
I2=$!
PIDS+=($I2)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$APORT2/ready" >/dev/null && break; sleep 0.1; done
held() { curl -s "http://127.0.0.1:$APORT2/metrics" | awk '/^injector_request_bytes_buffered /{print $2}'; }
"$PY" - "$PORT2" ca.crt hold.ready hold.release <<'PYEOF' &
import os, socket, ssl, sys, time
port, ca, ready, release = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="weft-proxy-injector.linkerd.svc")
s.sendall(b"POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3000000\r\n\r\n")
s.sendall(b" " * 1000000)
open(ready, "w").close()
for _ in range(300):
    if os.path.exists(release):
        break
    time.sleep(0.1)
s.close()
PYEOF
HOLDER=$!
PIDS+=($HOLDER)
for _ in $(seq 100); do h=$(held); [[ -n $h && ${h%.*} -ge 1000000 ]] && break; sleep 0.1; done
[[ ${h%.*} -ge 1000000 ]] || fail "the held body is not buffered: $h"
head -c 100000 /dev/zero | tr '\0' ' ' >pad.bin
cat podann.req pad.bin >big.req
c2=$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.crt --resolve "weft-proxy-injector.linkerd.svc:$PORT2:127.0.0.1" \
  --data-binary @big.req "https://weft-proxy-injector.linkerd.svc:$PORT2/inject")
assert_eq "$c2" 503 "past --max-buffered, a request gets 503"
touch hold.release
wait "$HOLDER" || true
for _ in $(seq 100); do h=$(held); [[ ${h%.*} -eq 0 ]] && break; sleep 0.1; done
assert_eq "${h%.*}" 0 "the buffer budget is returned when the slow client goes"
c3=$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.crt --resolve "weft-proxy-injector.linkerd.svc:$PORT2:127.0.0.1" \
  --data-binary @big.req "https://weft-proxy-injector.linkerd.svc:$PORT2/inject")
assert_eq "$c3" 200 "and the same request is then served"
kill "$I2"; wait "$I2" || fail "injector 2 exited non-zero"
echo "[$NAME] PASS ($ASSERTS assertions)"
