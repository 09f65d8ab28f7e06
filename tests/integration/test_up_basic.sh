#!/usr/bin/env bash
# Local mode end to end: `weft up` runs a python3 http.server Deployment
# (2 replicas) behind a Service, a meshed client pod running a bounded curl
# loop and an unmeshed one; then checks pod addresses, service names from
# inside pods, the VIP reaching both replicas, the object store's shapes,
# the proxies' uid and environment (the contract with weft-proxy), `weft get
# pods`, `weft logs`, `weft exec`, scaling 2 -> 3 -> 1 by re-running
# `weft up` with no failed request during the scale-down, and that
# `weft down` leaves no namespace, process or file behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/up.sh"

mkdir -p "$T/www"
write_manifest() {
  cat >"$T/app.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations:
    linkerd.io/inject: enabled
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: $1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: python:3
        command: [sh, -c]
        args:
        - mkdir -p "$T/www/\$POD_NAME" && echo "hello from \$POD_NAME" > "$T/www/\$POD_NAME/index.html" && exec python3 -m http.server 8000 --bind 0.0.0.0 --directory "$T/www/\$POD_NAME"
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        ports: [{name: http, containerPort: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: shop
spec:
  restartPolicy: Never
  containers:
  - name: curl
    command: [sh, -c]
    args:
    - for i in \$(seq 1 100); do curl -s -m 2 http://web/; sleep 0.5; done; exec sleep 600
---
apiVersion: v1
kind: Pod
metadata:
  name: plain
  namespace: shop
  annotations: {linkerd.io/inject: disabled}
spec:
  containers:
  - name: idle
    command: [sleep, "600"]
YAML
}

write_manifest 2
up -f "$T/app.yaml"
assert_eq "$UP_RC" 0 "weft up exits 0"
assert_contains "$(cat "$T/up.out")" "4 pods ready (3 with the proxy)" "weft up reports every pod ready"

# ---- pods, addresses, weft get ------------------------------------------------
out=$(wf get pods -n shop)
log "$out"
assert_eq "$(grep -c ' 2/2 .*Running' <<<"$out")" 3 "three meshed pods are 2/2 Running"
assert_eq "$(grep -c '^plain .* 1/1 .*Running' <<<"$out")" 1 "the unmeshed pod is 1/1 Running"
WEB=($(wf get pods -n shop | awk '/^web-/ {print $1}'))
assert_eq "${#WEB[@]}" 2 "two web replicas"
for p in "${WEB[@]}" client plain; do
  ip=$(pyq "$STATE/store/pods/shop/$p.json" 'd["status"]["podIP"]')
  [[ $ip == 10.42.* ]] || fail "pod $p has no 10.42.0.0/16 address ($ip)"
done
_ok "every pod has an address in 10.42.0.0/16"
json=$(wf get pods -A -o json)
assert_eq "$("$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))' <<<"$json")" 4 "get pods -A -o json lists 4 pods"
svc=$(wf get svc -n shop)
VIP=$(pyq "$STATE/store/services/shop/web.json" 'd["spec"]["clusterIP"]')
[[ $VIP == 10.43.* ]] || fail "Service VIP $VIP not in 10.43.0.0/16"
assert_contains "$svc" "$VIP" "get svc shows the VIP"

# ---- names and the VIP ----------------------------------------------------------
for n in web web.shop web.shop.svc.cluster.local; do
  got=$(wf exec plain -n shop -- getent hosts "$n" | awk '{print $1}')
  assert_eq "$got" "$VIP" "$n resolves to the VIP inside a pod"
done
got=$(wf exec plain -n shop -- getent hosts weft-identity.linkerd.svc.cluster.local | awk '{print $1}')
assert_eq "$got" "10.42.0.2" "the identity service's name resolves to the control plane"
# New connection per request from the unmeshed pod: the node's DNAT spreads them.
wf exec plain -n shop -- sh -c 'for i in $(seq 1 40); do curl -s -m 2 http://web/; done' >"$T/spread.out"
for p in "${WEB[@]}"; do
  assert_ge "$(grep -c "hello from $p" "$T/spread.out")" 1 "the VIP reaches replica $p"
done
assert_eq "$(grep -c hello "$T/spread.out")" 40 "40 of 40 requests through the VIP answered"
# Through the client's proxy (weft-init redirects exec'd commands too).
assert_contains "$(wf exec client -n shop -- curl -s -m 5 http://web.shop/)" "hello from web-" "a meshed pod reaches the Service"

# ---- logs ---------------------------------------------------------------------------
wait_until 20 sh -c "'$WEFT' logs client -n shop --state-dir '$STATE' | grep -q 'hello from web-'" ||
  fail "the client's curl loop shows no answer in weft logs"
_ok "weft logs shows the client's output"
assert_contains "$(wf logs client -n shop -c linkerd-proxy)" "weft-proxy" "weft logs -c linkerd-proxy shows the proxy's log"
rc=0; wf logs nosuch -n shop 2>"$T/err" || rc=$?
assert_eq "$rc" 1 "logs of a missing pod exits 1"
assert_contains "$(cat "$T/err")" 'pod "nosuch" not found in namespace shop' "logs names the missing pod"
rc=0; wf exec plain -n shop -- sh -c 'exit 7' || rc=$?
assert_eq "$rc" 7 "weft exec returns the command's exit status"

# ---- the store ----------------------------------------------------------------------
"$PY" - "$STATE/store" "${WEB[0]}" <<'PY' || fail "store shapes (see above)"
import json, os, sys
store, web0 = sys.argv[1], sys.argv[2]
def load(rel):
    with open(os.path.join(store, rel)) as f:
        return json.load(f)
errs = []
def check(cond, what):
    if not cond:
        errs.append(what)
for root, dirs, files in os.walk(store):
    for f in files:
        check(not f.startswith('.'), 'temp file left in store: ' + os.path.join(root, f))
ns = load('namespaces/shop.json')
check(ns['kind'] == 'Namespace' and 'namespace' not in ns['metadata'], 'namespace object')
for p in os.listdir(os.path.join(store, 'pods/shop')):
    o = load('pods/shop/' + p)
    md = o['metadata']
    for k in ('name', 'namespace', 'uid', 'resourceVersion', 'labels', 'annotations', 'ownerReferences'):
        check(k in md, p + ': metadata.' + k)
    st = o['status']
    check(st['phase'] == 'Running', p + ': phase')
    check(st['podIPs'] == [{'ip': st['podIP']}], p + ': podIPs')
    ready = [c for c in st['conditions'] if c['type'] == 'Ready']
    check(ready and ready[0]['status'] == 'True', p + ': Ready condition')
    check(o['spec']['serviceAccountName'] == 'default', p + ': serviceAccountName')
    meshed = p != 'plain.json'
    check((md['labels'].get('linkerd.io/control-plane-ns') == 'linkerd') == meshed, p + ': control-plane-ns label')
    check(('linkerd.io/proxy-version' in md['annotations']) == meshed, p + ': proxy-version annotation')
w = load('pods/shop/%s.json' % web0)
h = w['metadata']['labels']['pod-template-hash']
check(web0.startswith('web-%s-' % h) and len(web0) == len('web-%s-' % h) + 5, 'pod name web-<hash>-<5>')
ref = w['metadata']['ownerReferences']
check(len(ref) == 1 and ref[0]['kind'] == 'ReplicaSet' and ref[0]['name'] == 'web-' + h, 'owner ReplicaSet')
rs = load('replicasets/shop/web-%s.json' % h)
check(rs['metadata']['uid'] == ref[0]['uid'], 'ReplicaSet uid matches the ownerReference')
check(rs['metadata']['ownerReferences'][0]['kind'] == 'Deployment', 'ReplicaSet owned by the Deployment')
svc = load('services/shop/web.json')
check(svc['spec']['clusterIP'].startswith('10.43.'), 'Service clusterIP')
slices = os.listdir(os.path.join(store, 'endpointslices/shop'))
check(len(slices) == 1, 'one EndpointSlice')
es = load('endpointslices/shop/' + slices[0])
check(es['apiVersion'] == 'discovery.k8s.io/v1', 'slice apiVersion')
check(es['metadata']['labels']['kubernetes.io/service-name'] == 'web', 'slice service-name label')
check(len(es['endpoints']) == 2, 'two endpoints')
for e in es['endpoints']:
    check(e['conditions']['ready'] is True, 'endpoint ready')
    check(e['targetRef']['kind'] == 'Pod' and e['targetRef']['namespace'] == 'shop', 'targetRef')
    check(e['addresses'][0].startswith('10.42.'), 'endpoint address')
check(es['ports'] == [{'name': 'http', 'port': 8000, 'protocol': 'TCP'}], 'slice ports: targetPort resolved by name: %r' % es['ports'])
for e in errs:
    print('store: ' + e, file=sys.stderr)
sys.exit(1 if errs else 0)
PY
_ok "store objects have the contract's shapes"

# ---- the proxies: uid 2102 and the environment contract ------------------------------
nproxy=0
for p in $(pgrep -x weft-proxy || true); do
  env=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null) || continue
  grep -qF "WEFT_PROXY_IDENTITY_TOKEN_FILE=$STATE/" <<<"$env" || continue
  nproxy=$((nproxy + 1))
  assert_eq "$(awk '/^Uid:/ {print $2}' "/proc/$p/status")" 2102 "proxy $p runs as uid 2102"
  pod=$(sed -n 's/^WEFT_PROXY_DESTINATION_CONTEXT=.*"pod":"\([^"]*\)".*/\1/p' <<<"$env")
  assert_eq "$(grep -c "^WEFT_PROXY_DESTINATION_CONTEXT={\"ns\":\"shop\",\"nodeName\":\"local\",\"pod\":\"$pod\"}$" <<<"$env")" 1 "proxy $p: destination context"
  for kv in WEFT_PROXY_IDENTITY_SVC_ADDR=10.42.0.2:8080 \
            WEFT_PROXY_IDENTITY_SVC_NAME=weft-identity.linkerd.serviceaccount.identity.linkerd.cluster.local \
            WEFT_PROXY_IDENTITY_LOCAL_NAME=default.shop.serviceaccount.identity.linkerd.cluster.local \
            WEFT_PROXY_DESTINATION_SVC_ADDR=10.42.0.2:8086 \
            WEFT_PROXY_DESTINATION_SVC_NAME=weft-destination.linkerd.serviceaccount.identity.linkerd.cluster.local; do
    grep -qxF "$kv" <<<"$env" || fail "proxy $p ($pod): missing $kv"
  done
  grep -q '^WEFT_PROXY_IDENTITY_TRUST_ANCHORS=-----BEGIN CERTIFICATE-----' <<<"$env" || fail "proxy $p: trust anchors"
  tok=$(sed -n 's/^WEFT_PROXY_IDENTITY_TOKEN_FILE=//p' <<<"$env")
  assert_eq "$(stat -c '%a %u' "$tok")" "600 2102" "pod $pod's token file is 0600, owned by 2102"
  h=$(sha256sum "$tok" | awk '{print $1}')
  assert_eq "$(cat "$STATE/tokens/$h")" "default.shop.serviceaccount.identity.linkerd.cluster.local" "the token store maps sha256(token) to the identity"
done
assert_eq "$nproxy" 3 "three proxies for this run (the unmeshed pod has none)"

# ---- weft viz stat: golden metrics from the proxies ------------------------------------------
# A steady load of GETs (success) and DELETEs (python answers 501: failure)
# from the unmeshed pod, until told to stop; viz is polled until its window
# saw both.
start_bg - "$WEFT" exec plain -n shop --state-dir "$STATE" -- sh -c \
  "for i in \$(seq 1 600); do curl -s -m 2 -o /dev/null http://web/; curl -s -m 2 -o /dev/null -X DELETE http://web/; [ -e '$T/stop-viz' ] && break; done" \
  >"$T/viz-load.out" 2>&1
VIZLOAD=$BG_PID
viz_ok() {
  wf viz stat deploy web -n shop -o json --window 1 >"$T/viz.json" 2>"$T/viz.err" &&
    "$PY" -c 'import json,sys
r = json.load(open(sys.argv[1]))[0]
sys.exit(0 if r["rps"] > 0 and r["success"] is not None and 0 < r["success"] < 1 else 1)' "$T/viz.json"
}
wait_until 30 viz_ok || fail "viz stat never saw the load: $(cat "$T/viz.json" "$T/viz.err")"
_ok "viz stat deploy: requests/s and a success rate between 0 and 1 (501s count as failures)"
assert_eq "$(pyq "$T/viz.json" '[d[0]["meshed"], d[0]["pods"]]')" "[2, 2]" "viz stat counts both replicas as meshed"
assert_eq "$(pyq "$T/viz.json" 'sorted(d[0]["latency_ms"])')" '["p50", "p95", "p99"]' "viz stat reports p50/p95/p99"
table=$(wf viz stat svc -n shop --window 1)
assert_contains "$table" "LATENCY_P99" "viz stat prints a table"
assert_contains "$(grep '^web ' <<<"$table")" "2/2" "the Service row has both pods"
touch "$T/stop-viz"
wait_pid_exit "$VIZLOAD" 30

# ---- scaling: 2 -> 3 -> 1, no failed request while scaling down -----------------------
write_manifest 3
up -f "$T/app.yaml"
assert_eq "$UP_RC" 0 "re-run with replicas 3 exits 0"
assert_eq "$(wf get pods -n shop | grep -c '^web-.* 2/2 .*Running')" 3 "three web replicas ready"
assert_eq "$(pyq "$STATE/store/endpointslices/shop/$(ls "$STATE/store/endpointslices/shop")" 'len(d["endpoints"])')" 3 "three endpoints"

write_manifest 1
start_bg - "$WEFT" exec plain -n shop --state-dir "$STATE" -- sh -c \
  "for i in \$(seq 1 400); do curl -s -m 2 -o /dev/null -w '%{http_code}\n' http://web/; [ -e '$T/stop-load' ] && break; done" \
  >"$T/load.out" 2>&1
LOAD=$BG_PID
wait_until 10 file_lines_gt "$T/load.out" 5 || fail "load loop produced nothing"
up -f "$T/app.yaml"
assert_eq "$UP_RC" 0 "re-run with replicas 1 exits 0"
sleep 1
touch "$T/stop-load"
wait_pid_exit "$LOAD" 30
assert_gt "$(wc -l <"$T/load.out")" 10 "requests ran during the scale-down"
assert_eq "$(grep -vc '^200$' "$T/load.out" || true)" 0 "no failed request while scaling 3 -> 1"
assert_eq "$(wf get pods -n shop | grep -c '^web-')" 1 "one web replica left"
assert_eq "$(ls "$STATE/store/pods/shop" | grep -c '^web-')" 1 "one web pod in the store"
assert_eq "$(our_netns | grep -c -- '-shop\.web-')" 1 "the removed replicas' namespaces are gone"

# ---- down ------------------------------------------------------------------------------
rc=0; "$WEFT" down --state-dir "$STATE" >"$T/down.out" 2>&1 || rc=$?
assert_eq "$rc" 0 "weft down exits 0"
assert_nothing_left
rc=0; "$WEFT" down --state-dir "$STATE" >"$T/down2.out" 2>&1 || rc=$?
assert_eq "$rc" 0 "weft down again (nothing to do) exits 0"
