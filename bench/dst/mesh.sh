# shellcheck shell=bash disable=SC2034,SC2153  # globals shared with lib.sh and the sourcing scripts
# bench/dst/mesh.sh — sourced by bench/dst/propagation.sh and balance.sh: a
# small meshed cluster in network namespaces. Pods, processes, cleanup and
# /metrics come from tests/integration/lib.sh (sourced here; its EXIT trap
# kills every process it started, by PID, and deletes the namespaces; its
# watchdog, WEFT_TEST_TIMEOUT seconds, bounds the whole run). Added on top:
# a throwaway CA, per-pod identity tokens, the destination controller's store
# (Kubernetes-shaped JSON, written atomically), the control plane in pod cp
# and meshed pods — what test_proxy_mesh_mtls.sh does inline.
#
#   WEFT_BIN=build/bin; source bench/dst/mesh.sh
#   pod_add cp; pod_add a; pod_add b1
#   mesh_control_plane
#   store_pod b1 web; store_service web 10.43.0.10 80 8080; store_slice web 8080 b1
#   mesh_pod b1 web; mesh_pod a client; in_pod a ip route add 10.43.0.0/16 dev eth0

WT_RESULT_LINE=0
# shellcheck source-path=SCRIPTDIR source=../../tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/lib.sh"

MESH_KNS=bench # the Kubernetes namespace of every object in the store
MESH_SUFFIX=serviceaccount.identity.linkerd.cluster.local
MESH_STORE="$T/store"
MESH_ID_PORT=8080
MESH_DST_PORT=8086
STORE_T0="" # CLOCK_REALTIME (s, ns digits) taken just before store_put's rename(2)

say() { printf '[%s %s] %s\n' "$WT_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { fail "$*"; }

# store_put RESOURCE NAME < JSON — writes the object to a dot-file and
# renames it into place (the controller never reads half a file); sets
# STORE_T0, read by the renaming process itself right before rename(2) (a
# timestamp taken in the shell before an `mv` would include its exec).
store_put() {
  local dir="$MESH_STORE/$1/$MESH_KNS"
  mkdir -p "$dir"
  cat >"$dir/.$2.tmp"
  STORE_T0=$("$PY" -c 'import os, sys, time
t = time.clock_gettime_ns(time.CLOCK_REALTIME)
os.rename(sys.argv[1], sys.argv[2])
print("%d.%09d" % divmod(t, 10**9))' "$dir/.$2.tmp" "$dir/$2.json")
}

# store_pod POD SERVICE_ACCOUNT — a Running, Ready, meshed Pod object for pod
# POD (same name, its IP, labelled app=SERVICE_ACCOUNT).
store_pod() {
  local ip=${POD_IP[$1]}
  store_put pods "$1" <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1","namespace":"$MESH_KNS",
 "labels":{"app":"$2","linkerd.io/control-plane-ns":"linkerd"}},
 "spec":{"serviceAccountName":"$2","containers":[{"name":"app"}]},
 "status":{"phase":"Running","podIP":"$ip","podIPs":[{"ip":"$ip"}],"conditions":[{"type":"Ready","status":"True"}]}}
EOF
}

# store_service NAME VIP PORT TARGET_PORT
store_service() {
  store_put services "$1" <<EOF
{"apiVersion":"v1","kind":"Service","metadata":{"name":"$1","namespace":"$MESH_KNS"},
 "spec":{"clusterIP":"$2","ports":[{"port":$3,"targetPort":$4}]}}
EOF
}

# store_slice SERVICE PORT [POD...] — the Service's one EndpointSlice, listing
# the pods (ready) on PORT; replaces the previous one in one rename.
store_slice() {
  local svc=$1 port=$2 eps="" p
  shift 2
  for p in "$@"; do
    eps+="${eps:+,}{\"addresses\":[\"${POD_IP[$p]}\"],\"conditions\":{\"ready\":true},"
    eps+="\"targetRef\":{\"kind\":\"Pod\",\"name\":\"$p\",\"namespace\":\"$MESH_KNS\"}}"
  done
  store_put endpointslices "$svc-1" <<EOF
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
 "metadata":{"name":"$svc-1","namespace":"$MESH_KNS","labels":{"kubernetes.io/service-name":"$svc"}},
 "ports":[{"port":$port,"protocol":"TCP"}],"endpoints":[$eps]}
EOF
}

# mesh_control_plane — a CA and issuer, then weft-controller identity and
# destination (on the store) in pod cp, which is not meshed.
mesh_control_plane() {
  local w="$WEFT_BIN/weft" c="$WEFT_BIN/weft-controller"
  mkdir -p "$T/ca" "$T/tokens" "$MESH_STORE/namespaces"
  "$w" identity create-root --out-cert "$T/ca/ca.crt" --out-key "$T/ca/ca.key" >/dev/null
  "$w" identity create-issuer --ca-cert "$T/ca/ca.crt" --ca-key "$T/ca/ca.key" \
    --out-cert "$T/ca/issuer.crt" --out-key "$T/ca/issuer.key" >/dev/null
  echo "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$MESH_KNS\"}}" \
    >"$MESH_STORE/namespaces/$MESH_KNS.json"
  start_bg cp "$c" identity --addr "0.0.0.0:$MESH_ID_PORT" --admin-addr 127.0.0.1:9990 \
    --log-level warn --issuer-cert "$T/ca/issuer.crt" --issuer-key "$T/ca/issuer.key" \
    --trust-anchors "$T/ca/ca.crt" --token-store "$T/tokens" >"$T/identity.log" 2>&1
  start_bg cp "$c" destination --store "$MESH_STORE" --addr "0.0.0.0:$MESH_DST_PORT" \
    --admin-addr 127.0.0.1:9996 --log-level warn >"$T/destination.log" 2>&1
  wait_listen cp "$MESH_ID_PORT"
  wait_listen cp "$MESH_DST_PORT"
}

# mesh_pod POD SERVICE_ACCOUNT [WEFT_PROXY_VAR=value...] — an identity token
# for SERVICE_ACCOUNT, then weft-init + weft-proxy (uid 2102, one core, logs
# at warn unless overridden) with identity and discovery from pod cp.
mesh_pod() {
  local pod=$1 sa=$2 tok id
  shift 2
  id="$sa.$MESH_KNS.$MESH_SUFFIX"
  mkdir -p "$T/pod-$pod"
  tok=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s' "$tok" >"$T/pod-$pod/token"
  chown -R "$PROXY_UID:$PROXY_UID" "$T/pod-$pod"
  chmod 600 "$T/pod-$pod/token"
  echo "$id" >"$T/tokens/$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)"
  pod_mesh "$pod" WEFT_PROXY_LOG=warn WEFT_PROXY_CORES=1 \
    "WEFT_PROXY_IDENTITY_TRUST_ANCHORS=$(cat "$T/ca/ca.crt")" \
    "WEFT_PROXY_IDENTITY_TOKEN_FILE=$T/pod-$pod/token" \
    "WEFT_PROXY_IDENTITY_SVC_ADDR=${POD_IP[cp]}:$MESH_ID_PORT" \
    "WEFT_PROXY_IDENTITY_SVC_NAME=weft-identity.linkerd.$MESH_SUFFIX" \
    "WEFT_PROXY_IDENTITY_LOCAL_NAME=$id" \
    "WEFT_PROXY_DESTINATION_SVC_ADDR=${POD_IP[cp]}:$MESH_DST_PORT" \
    "WEFT_PROXY_DESTINATION_CONTEXT={\"ns\":\"$MESH_KNS\",\"nodeName\":\"local\",\"pod\":\"$pod\"}" \
    "$@"
}

# dst_watch PATH FILE — a Get stream for PATH (e.g. 10.43.0.10:80, what an
# outbound proxy asks for a Service VIP) from pod cp's destination service,
# as tests/integration/helpers/dst_client.py prints it, each line prefixed
# with CLOCK_REALTIME when it arrived: "1764280000.123456 ADD ...". Shows
# when the controller sent an update, apart from when a proxy acted on it.
dst_watch() {
  [ -s "$T/weft.pb" ] || protoc-c --proto_path="$WEFT_SRC/proto" --include_imports \
    --descriptor_set_out="$T/weft.pb" destination.proto
  # shellcheck disable=SC2016  # expanded by the inner bash
  start_bg cp bash -c '"$@" | while IFS= read -r l; do printf "%s %s\n" "$EPOCHREALTIME" "$l"; done' \
    dst_watch "$PY" "$WT_LIB_DIR/helpers/dst_client.py" "$T/weft.pb" "127.0.0.1:$MESH_DST_PORT" \
    get "$1" >"$2" 2>"$2.err"
  wait_until 10 grep -q ' ADD ' "$2" || die "dst_watch $1: no ADD from the destination service: $(head -c 300 "$2.err")"
}

# loadgen_field KEY < RESULT_LINE — KEY's value in weft-loadgen's RESULT line
loadgen_field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

# bench_commit — the commit the binaries were (presumably) built from
bench_commit() {
  local c
  c=$(git -C "$WEFT_SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [ -z "$(git -C "$WEFT_SRC" status --porcelain -- src 2>/dev/null)" ] || c+=" (+ uncommitted src changes)"
  echo "$c"
}
