#!/usr/bin/env bash
# Local mode with bad input: every problem gets a message naming the file,
# document, object or field, the right exit code (1 runtime, 2 usage), and
# nothing else is lost — the good documents of a file with a broken one
# still run; pods with bad annotations run without the proxy (never a
# broken pod); a Service selecting nothing is pointed out; unknown kinds are
# stored; a pod whose command exits at once is restarted with backoff and
# named when `weft up` gives up waiting.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/up.sh"

# run EXPECTED_RC CMD... — output in $T/out, $T/err
run() {
  local want=$1 rc=0
  shift
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "exit $rc, want $want: $*"; }
}

# ---- usage and environment -------------------------------------------------------------
run 2 "$WEFT" up --state-dir "$STATE"
assert_contains "$(cat "$T/err")" "give the manifests with -f" "weft up without -f: usage error"
run 2 "$WEFT" up -f x.yaml --timeout abc --state-dir "$STATE"
assert_contains "$(cat "$T/err")" '--timeout: "abc"' "bad --timeout is named"
run 2 "$WEFT" up -f x.yaml --bogus --state-dir "$STATE"
assert_contains "$(cat "$T/err")" 'unknown flag "--bogus"' "unknown flag is named"
run 2 "$WEFT" up -f x.yaml --identity-trust-anchors-file ca.crt --state-dir "$STATE"
assert_contains "$(cat "$T/err")" "go together" "one identity file without the others: usage error"
run 2 "$WEFT" get things --state-dir "$STATE"
assert_contains "$(cat "$T/err")" 'unknown resource type "things"' "weft get: unknown resource type"
run 1 "$WEFT" get pods --state-dir "$STATE"
assert_contains "$(cat "$T/err")" "no local mesh in $STATE" "weft get before weft up says so"
run 1 setpriv --reuid 65534 --regid 65534 --clear-groups "$WEFT" up -f x.yaml --state-dir "$STATE"
assert_contains "$(cat "$T/err")" "must run as root" "weft up as non-root: clear message"
run 1 "$WEFT" up -f "$T/missing.yaml" --state-dir "$STATE"
assert_contains "$(cat "$T/err")" "$T/missing.yaml: cannot read" "a missing file is named"
mkdir -p "$T/notours" && echo keep >"$T/notours/file"
run 1 "$WEFT" up -f "$T/missing.yaml" -f /dev/null --state-dir "$T/notours"
run 1 "$WEFT" down --state-dir "$T/notours"
assert_contains "$(cat "$T/err")" "was not made by weft" "weft down refuses a directory it did not make"
assert_eq "$(cat "$T/notours/file")" keep "that directory is left alone"

# ---- one apply, many problems -------------------------------------------------------------
cat >"$T/bad.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: good-a}
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: broken
spec: [
---
apiVersion: v1
kind: Pod
metadata:
  name: good-b
  annotations: {linkerd.io/inject: yes-please}
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: opaque-bad
  annotations: {linkerd.io/inject: enabled, config.linkerd.io/opaque-ports: "70000"}
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: subnet-bad
  annotations: {linkerd.io/inject: enabled, config.linkerd.io/skip-subnets: "10.0.0.0/33"}
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: limited
  annotations: {linkerd.io/inject: enabled, config.linkerd.io/proxy-memory-limit: 64Mi, config.linkerd.io/proxy-cpu-limit: 500m}
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: nocmd}
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: ghost}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: good-a}
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: web-http}
spec:
  podSelector: {matchLabels: {app: web}}
  port: 8080
YAML
up -f "$T/bad.yaml"
err=$(cat "$T/up.err")
log "$err"
assert_eq "$UP_RC" 1 "an apply with problems exits 1"
assert_contains "$err" "$T/bad.yaml: document 2: line" "the malformed document is named with its line"
assert_contains "$err" "$T/bad.yaml: document 7: Pod default/nocmd: spec.containers[0].command: missing" "a container without a command is named"
assert_contains "$err" 'Pod default/good-b runs without the proxy: annotation linkerd.io/inject: unknown value "yes-please"' "unknown inject value: warning names the annotation"
assert_contains "$err" 'annotation config.linkerd.io/opaque-ports: invalid port "70000"' "opaque-ports 70000: warning names the annotation and value"
assert_contains "$err" "annotation config.linkerd.io/skip-subnets" "skip-subnets /33: warning names the annotation"
assert_contains "$err" 'Service default/ghost selects no pods (selector {"app":"nobody"})' "a Service selecting nothing is pointed out"
assert_contains "$err" "Server web-http is stored for the controllers" "an unknown kind is stored, said once"
assert_contains "$err" "pods/default/good-a is defined more than once; the last one wins" "a duplicate name is pointed out"
if [ -w /sys/fs/cgroup/cgroup.subtree_control ] && grep -q memory /sys/fs/cgroup/cgroup.subtree_control; then
  cg=$(ls -d /sys/fs/cgroup/weft-*-proxies/default.limited)
  assert_eq "$(cat "$cg/memory.max")" 67108864 "proxy-memory-limit is the proxy's cgroup memory.max"
  assert_eq "$(cat "$cg/cpu.max")" "50000 100000" "proxy-cpu-limit is the proxy's cgroup cpu.max"
else
  assert_contains "$err" "Pod default/limited: proxy cpu/memory limits not enforced" "without cgroup v2, the limits are reported as not enforced"
fi
pods=$(wf get pods)
assert_eq "$(grep -c '^limited .* 2/2 .*Running' <<<"$pods")" 1 "the pod with proxy limits runs meshed"
for p in good-a good-b opaque-bad subnet-bad; do
  assert_eq "$(grep -c "^$p .* 1/1 .*Running" <<<"$pods")" 1 "pod $p runs (uninjected, 1/1)"
done
assert_eq "$(grep -c '^broken\|^nocmd' <<<"$pods")" 0 "the refused objects do not run"
assert_eq "$(pyq "$STATE/store/pods/default/good-b.json" 'd["metadata"]["annotations"]["weft.io/inject-warning"]')" \
  'annotation linkerd.io/inject: unknown value "yes-please" (want enabled, ingress or disabled)' "the store records why good-b is uninjected"
assert_eq "$(pyq "$STATE/store/servers.policy.linkerd.io/default/web-http.json" 'd["spec"]["port"]')" 8080 "the CRD object is in the store, typed"
assert_eq "$(pyq "$STATE/store/endpointslices/default/$(ls "$STATE/store/endpointslices/default")" 'len(d["endpoints"])')" 0 "ghost's EndpointSlice is empty"
rc=0; wf exec good-a -- curl -s -m 3 -o /dev/null http://ghost/ || rc=$?
assert_eq "$rc" 7 "a VIP without endpoints refuses connections (curl: connection refused)"

# ---- a pod whose command exits at once --------------------------------------------------------
cat >"$T/crash.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers: [{name: c, command: [sh, -c, "echo starting; exit 3"], ports: [{containerPort: 9999}]}]
YAML
"$WEFT" up -f "$T/crash.yaml" --state-dir "$STATE" --timeout 4 >"$T/out" 2>"$T/err" && fail "weft up with a crashing pod exited 0"
assert_contains "$(cat "$T/err")" "not every pod is ready after 4s" "weft up gives up after --timeout"
assert_contains "$(cat "$T/err")" "default/crasher: Running, restarts" "the crashing pod is named"
wait_until 10 sh -c "'$WEFT' get pods --state-dir '$STATE' | grep -q '^crasher .*CrashLoopBackOff'" ||
  fail "crasher is not shown as CrashLoopBackOff: $(wf get pods)"
_ok "weft get pods shows CrashLoopBackOff"
assert_ge "$(pyq "$STATE/store/pods/default/crasher.json" 'd["status"]["containerStatuses"][0]["restartCount"]')" 1 "the crashing container was restarted"
assert_ge "$(wf logs crasher | grep -c starting)" 2 "its log has every start"

run 0 "$WEFT" down --state-dir "$STATE"
assert_nothing_left
