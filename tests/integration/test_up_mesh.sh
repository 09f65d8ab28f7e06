#!/usr/bin/env bash
# test_up_mesh — the whole mesh in local mode (issue #7's whole-mesh test):
# `weft up` runs meshed HTTP and opaque (redis) servers, a meshed client and
# an `inject: disabled` client; then
#   - every hop between meshed pods is mTLS: a capture on the node (every
#     veth) never shows the application bytes the meshed client sends or
#     gets back, while the same capture does show the unmeshed client's;
#   - the meshed client's requests are spread per request across both web
#     replicas, labelled tls="true" with the server's identity;
#   - the unmeshed client still reaches the meshed server, in plaintext,
#     labelled tls="no_identity";
#   - `weft down` leaves nothing behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/up.sh"
command -v tcpdump >/dev/null || fail "missing tcpdump (run scripts/deps)"

mkdir -p "$T/www"
cat >"$T/mesh.yaml" <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: mesh
  annotations: {linkerd.io/inject: enabled}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: mesh}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers:
      - name: web
        command: [sh, -c]
        args:
        - mkdir -p "$T/www/\$POD_NAME" && echo "secret-body-from-\$POD_NAME" > "$T/www/\$POD_NAME/index.html" && exec python3 -m http.server 8000 --bind 0.0.0.0 --directory "$T/www/\$POD_NAME"
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        ports: [{name: http, containerPort: 8000}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: mesh}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cache, namespace: mesh}
spec:
  replicas: 1
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers:
      - name: redis
        command: [redis-server, --port, "6379", --bind, 0.0.0.0, --save, "", --appendonly, "no", --protected-mode, "no"]
        ports: [{containerPort: 6379}]
---
apiVersion: v1
kind: Service
metadata: {name: cache, namespace: mesh}
spec:
  selector: {app: cache}
  ports: [{port: 6379}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: mesh}
spec:
  serviceAccountName: client
  containers:
  - {name: idle, command: [sleep, "600"]}
---
apiVersion: v1
kind: Pod
metadata:
  name: gateway
  namespace: mesh
  annotations: {linkerd.io/inject: ingress}
spec:
  serviceAccountName: gateway
  containers:
  - {name: idle, command: [sleep, "600"]}
---
apiVersion: v1
kind: Pod
metadata:
  name: plain
  namespace: mesh
  annotations: {linkerd.io/inject: disabled}
spec:
  containers:
  - {name: idle, command: [sleep, "600"]}
YAML

up -f "$T/mesh.yaml"
assert_eq "$UP_RC" 0 "weft up exits 0"
proxy_env gateway | grep -qx "WEFT_PROXY_INGRESS_MODE=true" || fail "the gateway's proxy is not in ingress mode"
_ok "inject: ingress runs the proxy in ingress mode"
NODE="${UP_PREFIX}node"
ip netns list | grep -q "^$NODE" || fail "no node namespace $NODE"

# ---- capture everything crossing the node while both clients talk ------------------------
start_bg - ip netns exec "$NODE" tcpdump --immediate-mode -i any -U -s 0 -w "$T/node.pcap" tcp \
  >"$T/tcpdump.log" 2>&1
TCPDUMP=$BG_PID
wait_until 5 grep -q "listening on" "$T/tcpdump.log" || fail "tcpdump did not start"

MARK="meshmark$RANDOM$RANDOM"
PLAIN_MARK="plainmark$RANDOM$RANDOM"
declare -A served=()
for i in $(seq 1 20); do
  out=$(wf exec client -n mesh -- curl -s -m 5 -H "x-marker: $MARK" "http://web/?q=$MARK") || true
  [[ $out == secret-body-from-web-* ]] || fail "request $i through the mesh got: $out"
  served[$out]=1
done
_ok "20 requests from the meshed client to web answered"
assert_eq "${#served[@]}" 2 "requests are spread across both web replicas"
out=$(wf exec client -n mesh -- redis-cli -h cache -p 6379 SET k "$MARK") || true
assert_eq "$out" OK "redis SET through the mesh (opaque port)"
out=$(wf exec client -n mesh -- redis-cli -h cache -p 6379 GET k) || true
assert_eq "$out" "$MARK" "redis GET through the mesh"
out=$(wf exec plain -n mesh -- curl -s -m 5 -H "x-marker: $PLAIN_MARK" "http://web/?q=$PLAIN_MARK") || true
[[ $out == secret-body-from-web-* ]] || fail "the unmeshed client got: $out"
_ok "the unmeshed client reaches the meshed web Service"
wait_until 5 grep -aq "$PLAIN_MARK" "$T/node.pcap" || fail "the capture missed the plaintext request"
kill_tree "$TCPDUMP" INT
assert_eq "$(grep -a -c "$MARK" "$T/node.pcap" || true)" 0 \
  "no byte of the meshed client's requests, redis commands or answers crossed the node in plaintext"
# The unmeshed answer crosses the node once, seen on two veths (in, out);
# the meshed client's 20 answers carry the same text and must not show.
bodies=$(grep -a -c "secret-body-from-" "$T/node.pcap" || true)
assert_ge "$bodies" 1 "the unmeshed client's answer is visible on the wire (the capture works)"
assert_le "$bodies" 2 "... and it is the only plaintext answer on the wire"

# ---- ingress mode (linkerd.io/inject: ingress) ----------------------------------------------
# The gateway's proxy routes by l5d-dst-override, whatever address the
# request was sent to; without the header it goes where it was sent.
out=$(wf exec gateway -n mesh -- curl -s -m 5 -H "l5d-dst-override: web.mesh.svc.cluster.local:80" \
  "http://10.43.255.254/") || true
[[ $out == secret-body-from-web-* ]] || fail "ingress with l5d-dst-override got: $out"
_ok "ingress pod: l5d-dst-override routes to the web Service"
out=$(wf exec gateway -n mesh -- curl -s -m 5 "http://web/") || true
[[ $out == secret-body-from-web-* ]] || fail "ingress without the header got: $out"
_ok "ingress pod: without the header the request goes where it was sent"

# ---- the proxies' view --------------------------------------------------------------------
CLIENT_IP=$(wf get pods -n mesh -o json | "$PY" -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    if p["metadata"]["name"] == "client":
        print(p["status"]["podIP"])')
[ -n "$CLIENT_IP" ] || fail "no IP for the client pod"
client_metric() {
  wf exec client -n mesh -- curl -s http://127.0.0.1:4191/metrics | "${PROM_SUM[@]}" "$@"
}
WEB_ID=web.mesh.serviceaccount.identity.linkerd.cluster.local
assert_ge "$(client_metric request_total "direction=\"outbound\",tls=\"true\",server_id=\"$WEB_ID\"")" 20 \
  "the client's requests are labelled tls=\"true\" with web's identity"
assert_ge "$(client_metric tcp_open_total 'direction="outbound",peer="dst",tls="true"')" 2 \
  "the client's proxy holds mTLS connections to the endpoints"
web_pod=$(wf get pods -n mesh | awk '$1 ~ /^web-/ {print $1; exit}')
web_metric() {
  wf exec "$web_pod" -n mesh -- curl -s http://127.0.0.1:4191/metrics | "${PROM_SUM[@]}" "$@"
}
assert_ge "$(web_metric request_total 'direction="inbound",tls="true",client_id="client.mesh.serviceaccount.identity.linkerd.cluster.local"')" 1 \
  "web's inbound sees the client's identity"
# The unmeshed client's request landed on one of the two replicas, labelled
# as plaintext from a client without identity.
plain=0
for p in $(wf get pods -n mesh | awk '$1 ~ /^web-/ {print $1}'); do
  n=$(wf exec "$p" -n mesh -- curl -s http://127.0.0.1:4191/metrics |
    "${PROM_SUM[@]}" request_total 'direction="inbound",tls="no_identity",no_tls_reason="no_tls_from_remote"')
  plain=$((plain + n))
done
assert_ge "$plain" 1 "the unmeshed client's request is labelled tls=\"no_identity\""

wf down >"$T/down.out" 2>&1 || fail "weft down failed: $(cat "$T/down.out")"
assert_nothing_left
