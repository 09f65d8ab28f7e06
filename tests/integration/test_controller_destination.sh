#!/usr/bin/env bash
# weft-controller destination end to end over the local store, on 127.0.0.1
# only (the 10.42/10.43 addresses below are data in objects, never dialled):
#   - a store directory written the way `weft up` writes it (dotfile +
#     rename), with a malformed object that must be skipped and logged;
#   - a python3-grpcio client (helpers/dst_client.py) drives Get and
#     GetProfile: first message (endpoints, identities, hints, labels),
#     incremental add/remove as slices and pods change, no_endpoints
#     exists=true/false and the switch to adds when a service appears,
#     ClusterIP / pod IP / unknown IP paths, opaque ports (annotation on the
#     Service, the namespace, appProtocol), profile updates when the
#     annotation changes, INVALID_ARGUMENT on bad paths;
#   - /metrics counts streams, updates, cached objects and skipped files;
#   - SIGTERM → exit 0.
# Environment: WEFT_BIN (dir with weft-controller; required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
CLIENT=("$PY" "$WEFT_SRC/tests/integration/helpers/dst_client.py")
PROM_SUM=("$PY" "$WEFT_SRC/tests/integration/helpers/prom_sum.py")
CTL="$WEFT_BIN/weft-controller"
NAME=test_controller_destination
[[ -x $CTL ]] || { echo "FAILED: $CTL not built"; exit 1; }
command -v protoc-c >/dev/null || { echo "FAILED: protoc-c missing (scripts/deps)"; exit 1; }
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
  { echo "FAILED: python3-grpcio / python3-protobuf missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
CTL_PID=""
STREAM_PIDS=()
cleanup() {
  local rc=$?
  for p in "${STREAM_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${STREAM_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n $CTL_PID ]]; then kill "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -40 "$f"; }; done
    echo "FAILED $NAME"
  fi
  rm -rf "$T"
}
trap cleanup EXIT

ASSERTS=0
fail() { echo "[$NAME] FAIL: $*" >&2; exit 1; }
ok() { ASSERTS=$((ASSERTS + 1)); echo "[$NAME] ok: $*"; }
assert_eq() { [[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"; ok "$3"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: $1"; ok "$3"; }
assert_not_contains() { [[ "$1" != *"$2"* ]] || fail "$3: '$2' unexpectedly in: $1"; ok "$3"; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

protoc-c --proto_path="$WEFT_SRC/proto" --include_imports \
  --descriptor_set_out="$T/weft.pb" destination.proto

# ---- the store -----------------------------------------------------------------------
S="$T/store"
mkdir -p "$S"
# put RESOURCE NS NAME < JSON — as `weft up` writes: a dotfile, then rename().
put() {
  local dir="$S/$1${2:+/$2}"
  mkdir -p "$dir"
  cat >"$dir/.$3.tmp"
  mv "$dir/.$3.tmp" "$dir/$3.json"
}
del() { rm -f "$S/$1${2:+/$2}/$3.json"; }

namespace() { # NAME [OPAQUE-PORTS]
  local ann=""
  [[ -n ${2:-} ]] && ann=",\"annotations\":{\"config.linkerd.io/opaque-ports\":\"$2\"}"
  put namespaces "" "$1" <<<"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$1\"$ann}}"
}
# service NS NAME CLUSTER-IP PORTS-JSON [OPAQUE-PORTS]
service() {
  local ann=""
  [[ -n ${5:-} ]] && ann=",\"annotations\":{\"config.linkerd.io/opaque-ports\":\"$5\"}"
  put services "$1" "$2" <<EOF2
{"apiVersion":"v1","kind":"Service","metadata":{"name":"$2","namespace":"$1","uid":"u-$2"$ann},
 "spec":{"clusterIP":"$3","clusterIPs":["$3","fd00:43::${3##*.}"],"ports":$4}}
EOF2
}
# pod NS NAME IP SA MESHED(0|1) OWNER-KIND OWNER-NAME [HASH]
pod() {
  local labels="\"app\":\"$2\"" refs=""
  [[ $5 == 1 ]] && labels+=",\"linkerd.io/control-plane-ns\":\"linkerd\""
  [[ -n ${7:-} ]] && refs=",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"$6\",\"name\":\"$7\",\"controller\":true,\"uid\":\"x\"}]"
  [[ -n ${8:-} ]] && labels+=",\"pod-template-hash\":\"$8\""
  put pods "$1" "$2" <<EOF2
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$2","namespace":"$1","labels":{$labels}$refs,
 "managedFields":[{"manager":"kubectl","operation":"Update"}]},
 "spec":{"serviceAccountName":"$4","containers":[{"name":"app","image":"x","ports":[{"containerPort":8080}]}]},
 "status":{"phase":"Running","podIP":"$3","podIPs":[{"ip":"$3"}],"conditions":[{"type":"Ready","status":"True"}]}}
EOF2
}
# slice NS NAME SERVICE PORTS-JSON ENDPOINTS-JSON
slice() {
  put endpointslices "$1" "$2" <<EOF2
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
 "metadata":{"name":"$2","namespace":"$1","labels":{"kubernetes.io/service-name":"$3"}},
 "ports":$4,"endpoints":$5}
EOF2
}
ep() { # IP POD [READY]
  echo "{\"addresses\":[\"$1\"],\"conditions\":{\"ready\":${3:-true}},\"targetRef\":{\"kind\":\"Pod\",\"name\":\"$2\",\"namespace\":\"emojivoto\"}}"
}

namespace emojivoto
namespace other 3306
service emojivoto web 10.43.0.10 \
  '[{"name":"http","port":80,"targetPort":"http"},{"name":"admin","port":9000,"targetPort":9000}]'
pod emojivoto web-5d8f9-a 10.42.0.11 web 1 ReplicaSet web-5d8f9 5d8f9
pod emojivoto web-5d8f9-b 10.42.0.12 web 1 ReplicaSet web-5d8f9 5d8f9
slice emojivoto web-abcde web '[{"name":"http","port":8080,"protocol":"TCP"},{"name":"admin","port":9000}]' \
  "[$(ep 10.42.0.11 web-5d8f9-a),$(ep 10.42.0.12 web-5d8f9-b)]"
service emojivoto db 10.43.0.20 '[{"name":"mysql","port":3306}]' 3306
pod emojivoto db-0 10.42.0.21 db 1 StatefulSet db
slice emojivoto db-xyz db '[{"name":"mysql","port":3306}]' "[$(ep 10.42.0.21 db-0)]"
service emojivoto empty 10.43.0.30 '[{"port":80}]'
service emojivoto legacy 10.43.0.40 '[{"port":7000,"appProtocol":"linkerd.io/opaque"}]'
pod emojivoto plain 10.42.0.50 default 0 DaemonSet logs
service other cache 10.43.1.1 '[{"port":3306}]'
# A malformed object, written in place, and junk the store must ignore.
mkdir -p "$S/pods/emojivoto"
echo '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"broken"' >"$S/pods/emojivoto/broken.json"
echo 'not json' >"$S/pods/emojivoto/README"
echo '{' >"$S/pods/emojivoto/.half-written.tmp"

# ---- start ---------------------------------------------------------------------------------
PORT=$(free_port)
ADMIN=$(free_port)
ADDR="127.0.0.1:$PORT"
"$CTL" destination --store "$S" --addr "$ADDR" --admin-addr "127.0.0.1:$ADMIN" \
  --log-level debug >"$T/controller.log" 2>&1 &
CTL_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break
  kill -0 "$CTL_PID" 2>/dev/null || fail "weft-controller exited during start-up"
  sleep 0.1
done
curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null || fail "weft-controller did not become ready"
ok "controller ready on $ADDR (admin $ADMIN)"

# first MSGS: the first N messages of a stream (the client stops after N).
first() { # get|profile PATH N
  timeout 20 "${CLIENT[@]}" "$T/weft.pb" "$ADDR" "$1" "$2" "$3" || fail "client failed for $2"
}
metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | "${PROM_SUM[@]}" "$@"; }

# ---- the malformed file ---------------------------------------------------------------------
grep -q "store: skipping $S/pods/emojivoto/broken.json" "$T/controller.log" ||
  fail "the malformed object was not logged by file name"
ok "malformed object logged with its file name"
assert_eq "$(metric destination_source_errors_total 'kind="pod"')" 1 \
  "one object skipped (dotfiles and non-.json files are not objects)"
assert_eq "$(metric destination_objects 'kind="pod"')" 4 "the other 4 pods are cached"

# ---- Get: first message ------------------------------------------------------------------------
WEB_ID=web.emojivoto.serviceaccount.identity.linkerd.cluster.local
out=$(first get web.emojivoto.svc.cluster.local:80 1)
assert_contains "$out" "ADD set=namespace=emojivoto,service=web " "first message is an add with set labels"
assert_contains "$out" "10.42.0.11:8080|id=$WEB_ID|hint=h2|w=10000|deployment=web,namespace=emojivoto,pod=web-5d8f9-a,pod_template_hash=5d8f9,replicaset=web-5d8f9,serviceaccount=web" \
  "endpoint a: named targetPort resolved, identity, H2 hint, weight, owner labels"
assert_contains "$out" "10.42.0.12:8080|id=$WEB_ID|hint=h2" "endpoint b"
for p in web.emojivoto:80 web.emojivoto.svc:80 WEB.emojivoto.svc.cluster.local.:80 10.43.0.10:80 '[fd00:43::10]:80'; do
  o=$(first get "$p" 1)
  assert_contains "$o" "10.42.0.11:8080|id=$WEB_ID" "path $p names the same service"
done
o=$(first get web.emojivoto:9000 1)
assert_contains "$o" "10.42.0.12:9000|" "the second service port maps to its slice port"

o=$(first get 10.42.0.12:8080 1)
assert_contains "$o" "ADD set=namespace=emojivoto 10.42.0.12:8080|id=$WEB_ID|hint=h2" "pod IP → that single endpoint"
assert_not_contains "$o" "10.42.0.11" "pod IP → only that endpoint"
o=$(first get 10.42.0.50:80 1)
assert_contains "$o" "10.42.0.50:80|id=-|hint=-|w=10000|daemonset=logs,namespace=emojivoto,pod=plain,serviceaccount=default" \
  "unmeshed pod: no identity, no hint"
assert_eq "$(first get 192.0.2.1:80 1)" "NOEP exists=false" "unknown IP → no_endpoints exists=false"
assert_eq "$(first get empty.emojivoto.svc.cluster.local:80 1)" "NOEP exists=true" \
  "a service without endpoints → no_endpoints exists=true"
assert_eq "$(first get nothere.emojivoto.svc.cluster.local:80 1)" "NOEP exists=false" \
  "an unknown service → no_endpoints exists=false"

o=$(first get db.emojivoto.svc.cluster.local:3306 1)
assert_contains "$o" "10.42.0.21:3306|id=db.emojivoto.serviceaccount.identity.linkerd.cluster.local|hint=opaque+t4143|w=10000|namespace=emojivoto,pod=db-0,serviceaccount=db,statefulset=db" \
  "opaque port (Service annotation): opaque hint with transport to 4143"

# ---- bad input ------------------------------------------------------------------------------------
for bad in nope 'web.emojivoto:http' 'web.emojivoto:0' 'a.b.c.d:80' 'web.emojivoto.svc.other.domain:80' '::1:80'; do
  o=$(first get "$bad" 1)
  assert_contains "$o" "STATUS INVALID_ARGUMENT invalid destination path \"$bad\"" "bad path '$bad' → INVALID_ARGUMENT naming it"
done
o=$(first profile '' 1)
assert_contains "$o" "STATUS INVALID_ARGUMENT" "GetProfile with an empty path → INVALID_ARGUMENT"
assert_contains "$(first get web.emojivoto:80 1)" "ADD " "the server keeps serving after bad requests"

# ---- GetProfile ---------------------------------------------------------------------------------------
assert_eq "$(first profile web.emojivoto.svc.cluster.local:80 1)" \
  "PROFILE fqn=web.emojivoto.svc.cluster.local opaque=false retry=0.2/10/10s endpoint=-" \
  "profile of a service: name, not opaque, default retry budget"
assert_contains "$(first profile db.emojivoto:3306 1)" "opaque=true" "Service opaque-ports annotation → opaque"
assert_contains "$(first profile legacy.emojivoto:7000 1)" "fqn=legacy.emojivoto.svc.cluster.local opaque=true" \
  "appProtocol linkerd.io/opaque → opaque"
assert_contains "$(first profile cache.other:3306 1)" "opaque=true" "namespace opaque-ports annotation → opaque"
assert_contains "$(first profile web.emojivoto:5432 1)" "opaque=true" "default opaque port (5432) without annotations"
assert_contains "$(first profile 10.42.0.11:8080 1)" \
  "PROFILE fqn=- opaque=false retry=0.2/10/10s endpoint=10.42.0.11:8080|id=$WEB_ID|hint=h2" \
  "profile of a pod IP carries the endpoint"
assert_contains "$(first profile 10.43.0.10:80 1)" "fqn=web.emojivoto.svc.cluster.local" "profile by ClusterIP"

# ---- incremental updates on open streams -------------------------------------------------------------------
stream() { # NAME get|profile PATH — runs in the background, one line per message
  "${CLIENT[@]}" "$T/weft.pb" "$ADDR" "$2" "$3" >"$T/$1.out" 2>"$T/$1.err" &
  STREAM_PIDS+=($!)
}
# wait_lines NAME N: waits (bounded) until the stream printed N lines; prints line N.
wait_lines() {
  for _ in $(seq 200); do
    [[ $(wc -l <"$T/$1.out") -ge $2 ]] && { sed -n "${2}p" "$T/$1.out"; return 0; }
    sleep 0.05
  done
  fail "stream $1: no message $2 (got: $(cat "$T/$1.out"))"
}
stream w get web.emojivoto.svc.cluster.local:80
stream np get web.emojivoto.svc.cluster.local:80
stream late get late.emojivoto.svc.cluster.local:8080
stream prof profile web.emojivoto.svc.cluster.local:80
stream nsprof profile cache.other.svc.cluster.local:3306
assert_contains "$(wait_lines w 1)" "10.42.0.12:8080" "stream w: initial add"
assert_eq "$(wait_lines late 1)" "NOEP exists=false" "stream late: service does not exist yet"
assert_contains "$(wait_lines prof 1)" "opaque=false" "stream prof: initial profile"
assert_contains "$(wait_lines nsprof 1)" "fqn=cache.other.svc.cluster.local opaque=true" "stream nsprof: opaque by the namespace"
namespace other 5432
assert_contains "$(wait_lines nsprof 2)" "fqn=cache.other.svc.cluster.local opaque=false" \
  "profile re-sent when the namespace's opaque-ports annotation changes"

pod emojivoto web-5d8f9-c 10.42.0.13 web 1 ReplicaSet web-5d8f9 5d8f9
slice emojivoto web-abcde web '[{"name":"http","port":8080}]' \
  "[$(ep 10.42.0.11 web-5d8f9-a),$(ep 10.42.0.12 web-5d8f9-b),$(ep 10.42.0.13 web-5d8f9-c)]"
o=$(wait_lines w 2)
assert_contains "$o" "ADD set=namespace=emojivoto,service=web 10.42.0.13:8080|id=$WEB_ID" "new endpoint → add of just that one"
assert_not_contains "$o" "10.42.0.11" "the add carries only the new endpoint"

slice emojivoto web-abcde web '[{"name":"http","port":8080}]' \
  "[$(ep 10.42.0.11 web-5d8f9-a false),$(ep 10.42.0.12 web-5d8f9-b),$(ep 10.42.0.13 web-5d8f9-c)]"
assert_eq "$(wait_lines w 3)" "REMOVE 10.42.0.11:8080" "endpoint no longer ready → remove"

# A pod's labels change → its endpoint is re-sent (add replaces by address).
pod emojivoto web-5d8f9-c 10.42.0.13 web 0 ReplicaSet web-5d8f9 5d8f9
o=$(wait_lines w 4)
assert_contains "$o" "10.42.0.13:8080|id=-|hint=-" "pod no longer meshed → endpoint re-added without identity"

# A second slice for the same service adds its endpoints.
slice emojivoto web-fghij web '[{"name":"http","port":8080}]' "[$(ep 10.42.0.14 web-5d8f9-d)]"
assert_contains "$(wait_lines w 5)" "ADD set=namespace=emojivoto,service=web 10.42.0.14:8080|id=-" "a second slice's endpoint → add"

del endpointslices emojivoto web-fghij
assert_eq "$(wait_lines w 6)" "REMOVE 10.42.0.14:8080" "slice deleted → its endpoints removed"
del endpointslices emojivoto web-abcde
assert_eq "$(wait_lines w 7)" "REMOVE 10.42.0.12:8080 10.42.0.13:8080" "last slice deleted → remove the rest"
assert_eq "$(wait_lines w 8)" "NOEP exists=true" "… then no_endpoints exists=true"

# The profile stream: the Service's opaque-ports annotation changes.
service emojivoto web 10.43.0.10 '[{"name":"http","port":80,"targetPort":"http"}]' 80
assert_contains "$(wait_lines prof 2)" "fqn=web.emojivoto.svc.cluster.local opaque=true" \
  "profile re-sent when the opaque-ports annotation changes"
del services emojivoto web
assert_eq "$(wait_lines w 9)" "NOEP exists=false" "service deleted → no_endpoints exists=false"

# A service that appears later: no_endpoints(false) → adds.
service emojivoto late 10.43.0.50 '[{"name":"http","port":8080}]'
assert_eq "$(wait_lines late 2)" "NOEP exists=true" "service created → exists=true"
pod emojivoto late-0 10.42.0.60 late 1 StatefulSet late
slice emojivoto late-1 late '[{"name":"http","port":8080}]' "[$(ep 10.42.0.60 late-0)]"
assert_contains "$(wait_lines late 3)" "ADD set=namespace=emojivoto,service=late 10.42.0.60:8080|id=late.emojivoto" \
  "endpoints appear → add"
# The broken file is fixed: it becomes an object.
pod emojivoto broken 10.42.0.99 default 0 "" ""
for _ in $(seq 100); do
  [[ $(metric destination_objects 'kind="pod"') == 7 ]] && break
  sleep 0.05
done
assert_eq "$(metric destination_objects 'kind="pod"')" 7 "a fixed file is picked up"
# A namespace directory created after start is watched.
namespace fresh
service fresh api 10.43.2.1 '[{"port":80}]'
pod fresh api-0 10.42.2.1 api 1 StatefulSet api
put endpointslices fresh api-1 <<'EOF2'
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4","metadata":{"name":"api-1","namespace":"fresh","labels":{"kubernetes.io/service-name":"api"}},"ports":[{"port":80}],"endpoints":[{"addresses":["10.42.2.1"],"targetRef":{"kind":"Pod","name":"api-0","namespace":"fresh"}}]}
EOF2
for _ in $(seq 100); do
  [[ $(first get api.fresh:80 1) == ADD* ]] && break
  sleep 0.05
done
assert_contains "$(first get api.fresh:80 1)" "10.42.2.1:80|id=api.fresh.serviceaccount.identity.linkerd.cluster.local|hint=h2" \
  "directories created after start are watched (no ready condition = ready)"

# ---- metrics --------------------------------------------------------------------------------------------------
assert_eq "$(metric destination_streams_open 'method="Get"')" 3 "three Get streams open"
assert_eq "$(metric destination_streams_open 'method="GetProfile"')" 2 "two GetProfile streams open"
[[ $(metric destination_updates_total 'method="Get"') -ge 20 ]] || fail "updates_total too low"
ok "updates are counted"
[[ $(metric destination_invalid_requests_total) -ge 7 ]] || fail "invalid requests not counted"
ok "invalid requests are counted"
# Streams that end are no longer open.
kill "${STREAM_PIDS[@]}"
for p in "${STREAM_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
STREAM_PIDS=()
for _ in $(seq 100); do
  [[ $(metric destination_streams_open) == 0 ]] && break
  sleep 0.05
done
assert_eq "$(metric destination_streams_open)" 0 "cancelled streams are closed"

# ---- bad flags for mTLS serving ------------------------------------------------------------------------------------
rc=0
out=$("$CTL" destination --store "$T" --identity-name "weft-destination.linkerd.serviceaccount.identity.linkerd.cluster.local" 2>&1) || rc=$?
assert_eq "$rc" 2 "mTLS flags given in part: usage error (exit 2)"
assert_contains "$out" "go together" "... saying the five --identity-* flags go together"
rc=0
out=$("$CTL" destination --store "$T" --identity-trust-anchors /nonexistent --identity-token-file /x \
  --identity-addr "no-port" --identity-svc-name a.b --identity-name c.d 2>&1) || rc=$?
assert_eq "$rc" 2 "a bad --identity-addr: usage error"
assert_contains "$out" "--identity-addr" "... naming the flag"
rc=0
out=$("$CTL" destination --store "$T" --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
  --identity-trust-anchors /nonexistent --identity-token-file /x --identity-addr 127.0.0.1:1 \
  --identity-svc-name a.b --identity-name c.d 2>&1) || rc=$?
assert_eq "$rc" 1 "unreadable trust anchors: cannot start (exit 1)"
assert_contains "$out" "/nonexistent" "... naming the file"

# ---- shutdown --------------------------------------------------------------------------------------------------
kill -TERM "$CTL_PID"
rc=0
wait "$CTL_PID" || rc=$?
CTL_PID=""
assert_eq "$rc" 0 "SIGTERM → exit 0"
if grep -E "ERROR: AddressSanitizer|runtime error" "$T/controller.log"; then
  fail "sanitizer report in the controller log"
fi
echo "PASS $NAME ($ASSERTS assertions)"
