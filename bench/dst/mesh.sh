# shellcheck shell=bash disable=SC2034,SC2153  # globals shared with lib.sh and the sourcing scripts
# bench/dst/mesh.sh — sourced by bench/dst/propagation.sh and balance.sh: a
# small meshed cluster in network namespaces. Pods, processes, cleanup and
# /metrics come from tests/integration/lib.sh (sourced here; its EXIT trap
# kills every process it started, by PID, and deletes the namespaces; its
# watchdog, WEFT_TEST_TIMEOUT seconds, bounds the whole run), the meshed
# cluster (CA, tokens, store, control plane in pod cp) from
# tests/integration/mesh_lib.sh, as the mesh tests use it. Added here: the
# benchmarks' names for it, a Get stream watcher and result helpers.
#
#   WEFT_BIN=build/bin; source bench/dst/mesh.sh
#   pod_add cp; pod_add a; pod_add b1
#   mesh_control_plane
#   store_pod b1 web; store_service web 10.43.0.10 80 8080; store_slice web 8080 b1
#   mesh_join b1 web; mesh_join a client

WT_RESULT_LINE=0
# shellcheck source-path=SCRIPTDIR source=../../tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/lib.sh"

# shellcheck source-path=SCRIPTDIR source=../../tests/integration/mesh_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../tests/integration/mesh_lib.sh"

MESH_PUT_T0=1 # store_slice's STORE_T0: the clock right before rename(2)
STORE_T0=""

say() { printf '[%s %s] %s\n' "$WT_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() { fail "$*"; }

# store_pod POD SERVICE_ACCOUNT — a Running, Ready, meshed Pod object named
# after pod POD, with its IP
store_pod() { mesh_pod "$1" "$1" "$2"; }
# store_service NAME VIP PORT TARGET_PORT
store_service() { mesh_service "$@"; }
# store_slice SERVICE PORT [POD...] — the Service's one EndpointSlice,
# listing the pods (ready) on PORT; sets STORE_T0
store_slice() {
  local svc=$1 port=$2 eps=() p
  shift 2
  for p in "$@"; do eps+=("$p:$p"); done
  mesh_slice "$svc" "$port" ${eps[@]+"${eps[@]}"}
  STORE_T0=$MESH_T0
}

# mesh_control_plane — a CA and issuer, then weft-controller identity and
# destination (on the store) in pod cp, which is not meshed.
mesh_control_plane() {
  mesh_init
  mesh_cp_start
}

# mesh_join POD SERVICE_ACCOUNT [WEFT_PROXY_VAR=value...] — an identity
# token for SERVICE_ACCOUNT, then weft-init + weft-proxy (uid 2102, one core,
# logs at warn unless overridden) with identity and discovery from pod cp.
mesh_join() {
  local pod=$1 sa=$2
  shift 2
  mesh_token "$pod" "$sa"
  mesh_env "$pod" "$sa" WEFT_PROXY_LOG=warn WEFT_PROXY_CORES=1 "$@"
  pod_mesh "$pod" "${MESH_ENV[@]}"
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
    dst_watch env "DST_CLIENT_CA=$T/ca.crt" "DST_CLIENT_NAME=$MESH_DST_ID" \
    "$PY" "$WT_LIB_DIR/helpers/dst_client.py" "$T/weft.pb" "127.0.0.1:8086" \
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
