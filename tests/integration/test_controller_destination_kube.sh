#!/usr/bin/env bash
# weft-controller destination over the kubernetes source, against a fake API
# server (helpers/fake_kube_api.py) over HTTPS with a self-signed CA, on
# 127.0.0.1 only (the 10.42/10.43 addresses are data, never dialled):
#   - kubeconfig (certificate-authority-data, token) and in-cluster
#     credentials (KUBERNETES_SERVICE_HOST/PORT + service-account dir);
#   - list pagination (the server pages 2 items at a time), watch from the
#     list's resourceVersion with bookmarks, Authorization on every request;
#   - incremental updates from watch events reach an open Get stream;
#   - BOOKMARK moves the resume point: after a dropped connection the watch
#     resumes from the bookmark, and events missed meanwhile are replayed;
#   - ERROR 410 (history compacted) → relist, diffed: an object deleted
#     without an event disappears;
#   - a garbage line → relist after a backoff; the controller stays up.
# Environment: WEFT_BIN (dir with weft-controller; required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
H="$WEFT_SRC/tests/integration/helpers"
CLIENT=("$PY" "$H/dst_client.py")
PROM_SUM=("$PY" "$H/prom_sum.py")
CTL="$WEFT_BIN/weft-controller"
NAME=test_controller_destination_kube
[[ -x $CTL ]] || { echo "FAILED: $CTL not built"; exit 1; }
command -v protoc-c >/dev/null || { echo "FAILED: protoc-c missing (scripts/deps)"; exit 1; }
command -v openssl >/dev/null || { echo "FAILED: openssl missing"; exit 1; }
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
  { echo "FAILED: python3-grpcio / python3-protobuf missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
PIDS=()
CTL_PID=""
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n $CTL_PID ]]; then kill "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -40 "$f"; }; done
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

protoc-c --proto_path="$WEFT_SRC/proto" --include_imports \
  --descriptor_set_out="$T/weft.pb" destination.proto

# ---- a CA and the API server's certificate (127.0.0.1) -------------------------------
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
  -out ca.crt -days 2 -subj /CN=fake-kube-ca 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key \
  -out api.csr -subj /CN=kube-apiserver 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >api.ext
openssl x509 -req -in api.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
  -extfile api.ext -out api.crt 2>/dev/null
TOKEN=tok-$RANDOM$RANDOM

"$PY" "$H/fake_kube_api.py" api.crt api.key "$TOKEN" 2 "$T/api.ready" >"$T/api.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [[ -e $T/api.ready ]] && break; sleep 0.1; done
[[ -e $T/api.ready ]] || fail "fake API server did not start"
API_PORT=$(awk '/^API/{print $2}' "$T/api.ready")
CTL_PORT=$(awk '/^CTL/{print $2}' "$T/api.ready")
C="http://127.0.0.1:$CTL_PORT"
ok "fake API server on https://127.0.0.1:$API_PORT"

put() { curl -sf -X POST --data-binary @- "$C/put?res=$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])'; }
ctl() { curl -sf -X POST "$C/$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])'; }
pod() { # NAME IP
  put pods >/dev/null <<EOF2
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","namespace":"emojivoto","labels":{"linkerd.io/control-plane-ns":"linkerd"},
 "managedFields":[{"manager":"kubelet"}]},"spec":{"serviceAccountName":"web"},"status":{"phase":"Running","podIP":"$2"}}
EOF2
}
slice() { # NAME IP...
  local n=$1 eps="" ip i=0
  shift
  for ip in "$@"; do
    i=$((i + 1))
    eps+="${eps:+,}{\"addresses\":[\"$ip\"],\"conditions\":{\"ready\":true},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-$(echo "$ip" | cut -d. -f4)\",\"namespace\":\"emojivoto\"}}"
  done
  put endpointslices >/dev/null <<EOF2
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
 "metadata":{"name":"$n","namespace":"emojivoto","labels":{"kubernetes.io/service-name":"web"}},
 "ports":[{"name":"http","port":8080}],"endpoints":[$eps]}
EOF2
}
put namespaces >/dev/null <<<'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"emojivoto"}}'
put services >/dev/null <<<'{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"emojivoto"},"spec":{"clusterIP":"10.43.0.10","ports":[{"name":"http","port":80,"targetPort":8080}]}}'
for i in 11 12 13; do pod "web-$i" "10.42.0.$i"; done
slice web-1 10.42.0.11 10.42.0.12 10.42.0.13

cat >kubeconfig <<EOF2
apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$API_PORT/
    certificate-authority-data: $(base64 -w0 ca.crt)
contexts:
- name: other
  context: {cluster: nowhere, user: nobody}
- name: test
  context:
    cluster: fake
    user: me
users:
- name: me
  user:
    token: "$TOKEN"
EOF2

# ---- start over the kubeconfig ------------------------------------------------------------
start() { # LOGNAME [ARGS...] — sets ADDR, ADMIN, CTL_PID
  local log=$1
  shift
  local p a
  p=$(free_port); a=$(free_port)
  "$CTL" destination "$@" --addr "127.0.0.1:$p" --admin-addr "127.0.0.1:$a" \
    --log-level debug >"$T/$log.log" 2>&1 &
  CTL_PID=$!
  ADDR="127.0.0.1:$p"
  ADMIN="127.0.0.1:$a"
  for _ in $(seq 150); do
    curl -sf "http://$ADMIN/ready" >/dev/null 2>&1 && return 0
    kill -0 "$CTL_PID" 2>/dev/null || fail "weft-controller exited during start-up"
    sleep 0.1
  done
  fail "weft-controller did not become ready"
}
start kubeconfig --kubeconfig "$T/kubeconfig"
ok "controller ready over the kubeconfig"
first() { timeout 20 "${CLIENT[@]}" "$T/weft.pb" "$ADDR" "$1" "$2" "$3" || fail "client failed for $2"; }
metric() { curl -s "http://$ADMIN/metrics" | "${PROM_SUM[@]}" "$@"; }
requests() { curl -sf "$C/requests"; }

out=$(first get web.emojivoto.svc.cluster.local:80 1)
for i in 11 12 13; do
  assert_contains "$out" "10.42.0.$i:8080|id=web.emojivoto.serviceaccount.identity.linkerd.cluster.local|hint=h2" \
    "endpoint 10.42.0.$i from the API (pods listed over two pages)"
done
assert_eq "$(metric destination_objects 'kind="pod"')" 3 "3 pods cached"

# The requests: pagination, watch parameters, credentials.
chk=$(requests | "$PY" -c '
import json, sys
reqs = json.load(sys.stdin)
pods = [r for r in reqs if r["path"] == "/api/v1/pods"]
lists = [r for r in pods if "watch" not in r["query"]]
watches = [r for r in pods if r["query"].get("watch") == "1"]
print("lists=%d" % len(lists))
print("limit=%s" % lists[0]["query"].get("limit"))
print("continued=%s" % ("continue" in lists[1]["query"]))
w = watches[0]["query"]
print("bookmarks=%s rv=%s timeout=%s" % (w.get("allowWatchBookmarks"), w.get("resourceVersion"),
      "timeoutSeconds" in w))
print("auth=%s" % all(r["auth"] == "Bearer '"$TOKEN"'" for r in reqs))
print("groups=%s" % any(r["path"] == "/apis/discovery.k8s.io/v1/endpointslices" for r in reqs))
')
assert_contains "$chk" "lists=2" "pods listed in two pages"
assert_contains "$chk" "limit=500" "list asks limit=500"
assert_contains "$chk" "continued=True" "the second page carries the continue token"
assert_contains "$chk" "bookmarks=true rv=1" "watch asks for bookmarks from the list's resourceVersion"
assert_contains "$chk" "timeout=True" "watch sets timeoutSeconds"
assert_contains "$chk" "auth=True" "every request carries the bearer token"
assert_contains "$chk" "groups=True" "endpointslices from /apis/discovery.k8s.io/v1"

# ---- incremental updates from watch events ----------------------------------------------------
"${CLIENT[@]}" "$T/weft.pb" "$ADDR" get web.emojivoto.svc.cluster.local:80 >"$T/w.out" 2>"$T/w.err" &
PIDS+=($!)
wait_lines() { # N → line N of the stream
  for _ in $(seq 300); do
    [[ $(wc -l <"$T/w.out") -ge $1 ]] && { sed -n "${1}p" "$T/w.out"; return 0; }
    sleep 0.05
  done
  fail "stream: no message $1 (got: $(cat "$T/w.out"))"
}
assert_contains "$(wait_lines 1)" "10.42.0.13:8080" "stream: initial add"
pod web-14 10.42.0.14
slice web-1 10.42.0.11 10.42.0.12 10.42.0.13 10.42.0.14
assert_contains "$(wait_lines 2)" "ADD set=namespace=emojivoto,service=web 10.42.0.14:8080|" "watch event → add"

# ---- bookmark, dropped connection, resume + replay ---------------------------------------------
brv=$(ctl bookmark)
sleep 0.3 # let the bookmark reach the watches (not a pass/fail timing: the check below is on RVs)
ctl drop >/dev/null
slice web-1 10.42.0.11 10.42.0.12 10.42.0.13   # while the watch is down
assert_eq "$(wait_lines 3)" "REMOVE 10.42.0.14:8080" "event missed while disconnected is replayed on resume"
resumed=$(requests | "$PY" -c '
import json, sys
ws = [r["query"].get("resourceVersion") for r in json.load(sys.stdin)
      if r["path"] == "/apis/discovery.k8s.io/v1/endpointslices" and r["query"].get("watch") == "1"]
print(ws[-1])')
assert_eq "$resumed" "$brv" "the watch resumed from the bookmark's resourceVersion"

# ---- 410 Gone → relist, diffed ----------------------------------------------------------------------
lists_before=$(requests | "$PY" -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["path"].endswith("/endpointslices") and "watch" not in r["query"]))')
curl -sf -X POST "$C/silent-delete?res=endpointslices&ns=emojivoto&name=web-1" >/dev/null
ctl expire >/dev/null
assert_eq "$(wait_lines 4)" "REMOVE 10.42.0.11:8080 10.42.0.12:8080 10.42.0.13:8080" \
  "ERROR 410 → relist; a slice deleted without an event is removed"
assert_eq "$(wait_lines 5)" "NOEP exists=true" "… and the service has no endpoints"
lists_after=$(requests | "$PY" -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["path"].endswith("/endpointslices") and "watch" not in r["query"]))')
[[ $lists_after -gt $lists_before ]] || fail "no relist after 410"
ok "410 caused a relist"

# ---- garbage on the watch -----------------------------------------------------------------------------
errs=$(metric destination_source_errors_total)
ctl garbage >/dev/null
slice web-2 10.42.0.12
assert_contains "$(wait_lines 6)" "ADD set=namespace=emojivoto,service=web 10.42.0.12:8080|" \
  "after a garbage line the source recovers (relist) and updates flow"
grep -q "malformed event; relisting" "$T/kubeconfig.log" || fail "garbage not logged"
ok "garbage logged"
for _ in $(seq 40); do [[ $(metric destination_source_errors_total) -gt $errs ]] && break; sleep 0.1; done
[[ $(metric destination_source_errors_total) -gt $errs ]] || fail "garbage not counted"
ok "garbage counted in destination_source_errors_total"
kill -0 "$CTL_PID" || fail "controller died"

kill -TERM "$CTL_PID"
rc=0
wait "$CTL_PID" || rc=$?
CTL_PID=""
assert_eq "$rc" 0 "SIGTERM → exit 0"

# ---- in-cluster credentials ---------------------------------------------------------------------------
mkdir -p sa
cp ca.crt sa/ca.crt
printf '%s\n' "$TOKEN" >sa/token
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT WEFT_K8S_SERVICEACCOUNT_DIR="$T/sa" \
  start incluster --kubernetes
assert_contains "$(first get web.emojivoto:80 1)" "10.42.0.12:8080|" "in-cluster credentials work"
kill -TERM "$CTL_PID"
rc=0
wait "$CTL_PID" || rc=$?
CTL_PID=""
assert_eq "$rc" 0 "SIGTERM → exit 0 (in-cluster)"

# ---- refusals at start -------------------------------------------------------------------------------------
rc=0
"$CTL" destination --kubernetes --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 >"$T/noenv.log" 2>&1 || rc=$?
assert_eq "$rc" 1 "--kubernetes outside a cluster → exit 1"
assert_contains "$(cat "$T/noenv.log")" "KUBERNETES_SERVICE_HOST" "… naming what is missing"
if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error" "$T"/*.log; then
  fail "sanitizer report in a controller log"
fi
echo "PASS $NAME ($ASSERTS assertions)"
