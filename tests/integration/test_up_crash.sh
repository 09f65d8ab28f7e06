#!/usr/bin/env bash
# Local mode after a crash: the supervisor is killed with SIGKILL (its pods
# keep running, orphaned); `weft up` notices the stale run, cleans it (no
# orphan survives) and brings the objects up again; a second SIGKILL and
# then `weft down` still removes every namespace, process and file.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/up.sh"

cat >"$T/app.yaml" <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata:
      labels: {app: db}
      annotations: {linkerd.io/inject: enabled, config.linkerd.io/opaque-ports: "7000"}
    spec:
      containers:
      - name: srv
        command: [python3, -m, http.server, "7000"]
        ports: [{containerPort: 7000}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{port: 7000}]
---
apiVersion: v1
kind: Service
metadata: {name: db-peers}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 7000}]
YAML

# The trust anchor and issuer come from `weft identity` this time.
"$WEFT" identity create-root --out-cert "$T/ca.crt" --out-key "$T/ca.key" >/dev/null
"$WEFT" identity create-issuer --ca-cert "$T/ca.crt" --ca-key "$T/ca.key" \
  --out-cert "$T/issuer.crt" --out-key "$T/issuer.key" >/dev/null
mkdir -p "$T/m" && mv "$T/app.yaml" "$T/m/"
up -f "$T/m" --identity-trust-anchors-file "$T/ca.crt" \
  --identity-issuer-certificate-file "$T/issuer.crt" --identity-issuer-key-file "$T/issuer.key"
assert_eq "$UP_RC" 0 "weft up -f DIR with the CA files given exits 0"
cmp -s "$T/ca.crt" "$STATE/identity/ca.crt" || fail "the given trust anchor is not the one in use"
_ok "the given trust anchor is the one in use"
assert_eq "$(wf get pods | grep -c '^db-[01] .*2/2 .*Running')" 2 "StatefulSet pods db-0 and db-1 are ready"
ip0=$(pyq "$STATE/store/pods/default/db-0.json" 'd["status"]["podIP"]')
assert_eq "$(wf exec db-1 -- getent hosts db-0.db-peers | awk '{print $1}')" "$ip0" "a headless Service names each pod (db-0.db-peers)"
assert_eq "$(pyq "$STATE/store/services/default/db-peers.json" 'd["spec"]["clusterIP"]')" None "the headless Service has no VIP"
h=$(pyq "$STATE/store/pods/default/db-0.json" 'd["metadata"]["ownerReferences"][0]["kind"]')
assert_eq "$h" StatefulSet "db-0 is owned by its StatefulSet"
env=$(proxy_env db-0) || fail "no proxy found for pod db-0"
assert_contains "$env" "WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION=7000" "opaque-ports reaches the proxy (inbound)"
assert_contains "$env" "WEFT_PROXY_OUTBOUND_PORTS_DISABLE_PROTOCOL_DETECTION=7000" "opaque-ports reaches the proxy (outbound)"
assert_contains "$env" "WEFT_PROXY_IDENTITY_TRUST_ANCHORS=$(head -2 "$T/ca.crt")" "the proxies get the given trust anchor"

old_pids=$(our_pids | sort)
sup=$(cat "$STATE/supervisor.pid")
kill -KILL "$sup"
wait_until 5 sh -c "! kill -0 $sup" || fail "supervisor $sup survived SIGKILL"
_ok "supervisor killed with SIGKILL"
# Its pods keep running without it.
still=0
for p in $old_pids; do kill -0 "$p" 2>/dev/null && still=$((still + 1)); done
assert_gt "$still" 0 "orphaned pod processes are still running"

up -f "$T/m/app.yaml"
assert_eq "$UP_RC" 0 "weft up after the crash exits 0"
assert_contains "$(cat "$T/up.out")" "found a stale run" "weft up says it found a stale run"
for p in $old_pids; do
  if kill -0 "$p" 2>/dev/null && grep -qF "$STATE" "/proc/$p/cmdline" "/proc/$p/environ" 2>/dev/null; then
    fail "process $p of the crashed run survived the recovery"
  fi
done
_ok "no process of the crashed run survived"
assert_eq "$(wf get pods | grep -c '^db-[01] .*2/2 .*Running')" 2 "both pods run again"
assert_eq "$(our_netns | grep -c -- '-default\.db-')" 2 "exactly two pod namespaces (old ones removed)"
assert_eq "$(wf exec db-1 -- curl -s -m 5 -o /dev/null -w '%{http_code}' http://db:7000/)" 200 "the Service answers after recovery"

kill -KILL "$(cat "$STATE/supervisor.pid")"
rc=0; "$WEFT" down --state-dir "$STATE" >"$T/down.out" 2>&1 || rc=$?
assert_eq "$rc" 0 "weft down after a second crash exits 0"
assert_nothing_left
