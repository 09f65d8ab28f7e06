# shellcheck shell=bash disable=SC2034  # globals are used by the sourcing scripts
# tests/integration/mesh_lib.sh — a meshed cluster without Kubernetes, for
# the tests that need the whole mesh: a trust root and issuer, a pod "cp"
# running the real identity and destination services, the cluster state
# those read (a store directory of Kubernetes-shaped JSON objects, in
# namespace "demo"), and the environment that meshes a pod's proxy.
# Sourced after lib.sh:
#
#   source "$(dirname "$0")/lib.sh"
#   source "$(dirname "$0")/mesh_lib.sh"
#   pod_add cp; pod_add a; pod_add b
#   mesh_init                             # CA, issuer, store, namespace demo
#   mesh_token b web                      # b's proxy may be "web" (ServiceAccount)
#   mesh_pod web-0 b web 8080             # the Pod object: b's IP, runs as web
#   mesh_service web 10.43.0.10 80 8080 web-0
#   mesh_cp_start                         # identity :8080, destination :8086 in cp
#   mesh_env b web; pod_mesh b "${MESH_ENV[@]}"
#
# Identities are <sa>.demo.serviceaccount.identity.linkerd.cluster.local;
# the identity service itself is weft-identity.linkerd.<that suffix>.

MESH_SUFFIX=serviceaccount.identity.linkerd.cluster.local
MESH_NS=demo
S="$T/store"
MESH_T0="" # with MESH_PUT_T0=1: CLOCK_REALTIME just before mesh_put's rename(2)

# mesh_id SA [NS] — the identity of ServiceAccount SA in namespace NS (demo)
mesh_id() { echo "$1.${2:-$MESH_NS}.$MESH_SUFFIX"; }
MESH_DST_ID=$(mesh_id weft-destination linkerd)

mesh_init() {
  local weft=$WEFT_BIN/weft
  (
    cd "$T" || exit 1
    "$weft" identity create-root --out-cert ca.crt --out-key ca.key >/dev/null
    "$weft" identity create-issuer --ca-cert ca.crt --ca-key ca.key \
      --out-cert issuer.crt --out-key issuer.key >/dev/null
  ) || fail "cannot create the mesh's trust root and issuer"
  mkdir -p "$T/tokens" "$S/namespaces"
  echo "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$MESH_NS\"}}" \
    >"$S/namespaces/$MESH_NS.json"
}

# mesh_token POD SA [NS] — a token for POD's proxy, which the identity
# service accepts for SA's identity (in NS, default demo)
mesh_token() {
  local pod=$1 sa=$2 ns=${3:-$MESH_NS} tok
  mkdir -p "$T/pod-$pod"
  tok=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s' "$tok" >"$T/pod-$pod/token"
  chown -R "$PROXY_UID:$PROXY_UID" "$T/pod-$pod"
  mesh_id "$sa" "$ns" >"$T/tokens/$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)"
}

# mesh_put RESOURCE NAME < JSON — an object into the store, atomically (the
# destination service watches the directory). With MESH_PUT_T0=1 (the
# benchmarks) the renaming process reads the clock right before rename(2)
# into MESH_T0: a timestamp taken before `mv` would include its exec.
mesh_put() {
  local d="$S/$1/$MESH_NS"
  mkdir -p "$d"
  cat >"$d/.$2.tmp"
  if [ "${MESH_PUT_T0:-0}" != 1 ]; then
    mv "$d/.$2.tmp" "$d/$2.json"
    return
  fi
  MESH_T0=$("$PY" -c 'import os, sys, time
t = time.clock_gettime_ns(time.CLOCK_REALTIME)
os.rename(sys.argv[1], sys.argv[2])
print("%d.%09d" % divmod(t, 10**9))' "$d/.$2.tmp" "$d/$2.json")
}

# mesh_pod NAME POD SA [PORT...] — a ready, meshed Pod object with POD's IP
mesh_pod() {
  local name=$1 pod=$2 sa=$3 ports="" p
  shift 3
  for p in "$@"; do ports+="${ports:+,}{\"containerPort\":$p}"; done
  mesh_put pods "$name" <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$name","namespace":"$MESH_NS",
 "labels":{"app":"$sa","linkerd.io/control-plane-ns":"linkerd"}},
 "spec":{"serviceAccountName":"$sa","containers":[{"name":"app","ports":[$ports]}]},
 "status":{"phase":"Running","podIP":"${POD_IP[$pod]}","podIPs":[{"ip":"${POD_IP[$pod]}"}],
  "conditions":[{"type":"Ready","status":"True"}]}}
EOF
}

# mesh_slice SERVICE PORT [PODNAME:POD...] — the Service's EndpointSlice,
# ready endpoints at those pods' IPs (none: an empty slice)
mesh_slice() {
  local svc=$1 port=$2 eps="" e
  shift 2
  for e in "$@"; do
    eps+="${eps:+,}{\"addresses\":[\"${POD_IP[${e#*:}]}\"],\"conditions\":{\"ready\":true},"
    eps+="\"targetRef\":{\"kind\":\"Pod\",\"name\":\"${e%%:*}\",\"namespace\":\"$MESH_NS\"}}"
  done
  mesh_put endpointslices "$svc-x" <<EOF
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","addressType":"IPv4",
 "metadata":{"name":"$svc-x","namespace":"$MESH_NS","labels":{"kubernetes.io/service-name":"$svc"}},
 "ports":[{"port":$port,"protocol":"TCP"}],"endpoints":[$eps]}
EOF
}

# mesh_service NAME VIP PORT TARGET-PORT [PODNAME:POD...] — a Service and its slice
mesh_service() {
  local name=$1 vip=$2 port=$3 tport=$4
  shift 4
  mesh_put services "$name" <<EOF
{"apiVersion":"v1","kind":"Service","metadata":{"name":"$name","namespace":"$MESH_NS"},
 "spec":{"clusterIP":"$vip","ports":[{"port":$port,"targetPort":$tport}]}}
EOF
  mesh_slice "$name" "$tport" "$@"
}

# mesh_cp_start — identity (:8080) and destination (:8086, mTLS as
# weft-destination.linkerd, certified by the identity service like any
# workload) in pod cp; sets ID_PID and DST_PID
mesh_cp_start() {
  start_bg cp "$WEFT_BIN/weft-controller" identity --addr 0.0.0.0:8080 \
    --admin-addr 127.0.0.1:9990 --issuer-cert "$T/issuer.crt" --issuer-key "$T/issuer.key" \
    --trust-anchors "$T/ca.crt" --token-store "$T/tokens" >>"$T/identity.log" 2>&1
  ID_PID=$BG_PID
  wait_listen cp 8080
  mesh_dst_start
}

# mesh_dst_start — (again) the destination service in pod cp; sets DST_PID
# once it is ready (certified)
mesh_dst_start() {
  [ -s "$T/pod-cp/token" ] || mesh_token cp weft-destination linkerd
  start_bg cp "$WEFT_BIN/weft-controller" destination --store "$S" --addr 0.0.0.0:8086 \
    --admin-addr 127.0.0.1:9996 --identity-trust-anchors "$T/ca.crt" \
    --identity-token-file "$T/pod-cp/token" --identity-addr "${POD_IP[cp]}:8080" \
    --identity-svc-name "weft-identity.linkerd.$MESH_SUFFIX" --identity-name "$MESH_DST_ID" \
    >>"$T/destination.log" 2>&1
  DST_PID=$BG_PID
  wait_until 15 in_pod cp curl -fsS --max-time 1 -o /dev/null http://127.0.0.1:9996/ready ||
    fail "the destination service is not ready (certified) after 15 s"
}

# mesh_env POD SA [VAR=value...] — MESH_ENV: the WEFT_PROXY_* variables
# that mesh POD's proxy as SA (pod_mesh POD "${MESH_ENV[@]}"); routes the
# Service range (10.43/16) through eth0 as a node would
mesh_env() {
  local pod=$1 sa=$2
  shift 2
  MESH_ENV=(
    "WEFT_PROXY_IDENTITY_TRUST_ANCHORS=$(cat "$T/ca.crt")"
    "WEFT_PROXY_IDENTITY_TOKEN_FILE=$T/pod-$pod/token"
    "WEFT_PROXY_IDENTITY_SVC_ADDR=${POD_IP[cp]}:8080"
    "WEFT_PROXY_IDENTITY_SVC_NAME=weft-identity.linkerd.$MESH_SUFFIX"
    "WEFT_PROXY_IDENTITY_LOCAL_NAME=$(mesh_id "$sa")"
    "WEFT_PROXY_DESTINATION_SVC_ADDR=${POD_IP[cp]}:8086"
    "WEFT_PROXY_DESTINATION_SVC_NAME=$MESH_DST_ID"
    "WEFT_PROXY_DESTINATION_CONTEXT={\"ns\":\"$MESH_NS\",\"nodeName\":\"local\",\"pod\":\"$pod\"}"
    "$@"
  )
  in_pod "$pod" ip route replace 10.43.0.0/16 dev eth0
}
