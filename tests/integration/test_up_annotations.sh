#!/usr/bin/env bash
# Local mode honours the seed's annotations exactly, a pod's over its
# namespace's: inject enabled|ingress|disabled, skip-inbound-ports,
# skip-outbound-ports and skip-subnets (as weft-init's rules in the pod),
# ingress mode (the proxy's env); and the container fields: workingDir,
# securityContext.runAsUser, an httpGet readinessProbe (re-checked while
# ready: a hung server turns the pod not ready), env values. Also: no
# namespace has a route off the machine.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/up.sh"

cat >"$T/app.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: edge
  annotations:
    linkerd.io/inject: enabled
    config.linkerd.io/skip-outbound-ports: "6379"
---
apiVersion: v1
kind: Pod
metadata:
  name: gw
  namespace: edge
  annotations:
    linkerd.io/inject: ingress
    config.linkerd.io/skip-inbound-ports: "7001,7100-7102"
    config.linkerd.io/skip-subnets: "192.168.0.0/16"
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata:
  name: off
  namespace: edge
  annotations: {linkerd.io/inject: disabled}
spec:
  containers: [{name: c, command: [sleep, "600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: runas, namespace: edge}
spec:
  containers:
  - name: srv
    command: [sh, -c]
    args: ['echo "uid=$(id -u) cwd=$(pwd) greeting=$GREETING"; exec python3 -m http.server 8080']
    workingDir: /tmp
    securityContext: {runAsUser: 65534}
    env: [{name: GREETING, value: 42}]
    readinessProbe:
      httpGet: {path: /, port: web}
    ports: [{name: web, containerPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: here, namespace: edge, annotations: {linkerd.io/inject: disabled}}
spec:
  containers: [{name: c, command: [sh, -c, 'echo "cwd=$(pwd)"; exec sleep 600']}]
YAML

# Containers without workingDir run where `weft up` ran (the image's WORKDIR
# stand-in, which the demo's relative commands rely on).
mkdir -p "$T/here" && cd "$T/here"
up -f "$T/app.yaml"
assert_eq "$UP_RC" 0 "weft up exits 0"
pods=$(wf get pods -n edge)
assert_eq "$(grep -c '^gw .* 2/2 ' <<<"$pods")" 1 "gw is meshed (ingress)"
assert_eq "$(grep -c '^runas .* 2/2 ' <<<"$pods")" 1 "runas is meshed through its namespace's annotation"
assert_eq "$(grep -c '^off .* 1/1 ' <<<"$pods")" 1 "off: the pod's disabled wins over the namespace's enabled"

env=$(proxy_env gw) || fail "no proxy for gw"
assert_contains "$env" "WEFT_PROXY_INGRESS_MODE=true" "inject: ingress sets the proxy's ingress mode"
env=$(proxy_env runas) || fail "no proxy for runas"
[[ $env != *WEFT_PROXY_INGRESS_MODE* ]] || fail "runas is not an ingress"
_ok "inject: enabled does not set ingress mode"
proxy_env off >/dev/null && fail "pod off has a proxy"
_ok "pod off has no proxy"

rules=$(ip netns exec "$(cat "$STATE/pods/edge/gw/netns")" iptables-save -t nat)
assert_contains "$rules" "--dports 4190,4191,7001,7100:7102" "skip-inbound-ports become weft-init's inbound exclusions"
assert_contains "$rules" "-s 192.168.0.0/16" "skip-subnets excluded inbound"
assert_contains "$rules" "-d 192.168.0.0/16" "skip-subnets excluded outbound"
assert_contains "$rules" "--dports 6379" "the namespace's skip-outbound-ports reach the pod"

wait_until 10 sh -c "'$WEFT' logs runas -n edge --state-dir '$STATE' | grep -q uid=" || fail "runas logged nothing"
assert_eq "$(wf logs runas -n edge | head -1)" "uid=65534 cwd=/tmp greeting=42" "runAsUser, workingDir and env apply"
wait_until 10 sh -c "'$WEFT' logs here -n edge --state-dir '$STATE' | grep -q cwd=" || fail "pod here logged nothing"
assert_eq "$(wf logs here -n edge)" "cwd=$T/here" "without workingDir a container runs in the directory weft up ran in"

# A hung server (SIGSTOP: connections still complete, HTTP gets no answer)
# fails its httpGet readiness probe and the pod turns not ready; SIGCONT
# brings it back.
ready_is() { [ "$(pyq "$STATE/store/pods/edge/runas.json" '[c["status"] for c in d["status"]["conditions"] if c["type"] == "Ready"][0]')" = "$1" ]; }
srv=""
for p in $(ip netns pids "$(cat "$STATE/pods/edge/runas/netns")"); do
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = python3 ] && srv=$p
done
[ -n "$srv" ] || fail "runas's python3 not found"
kill -STOP "$srv"
wait_until 20 ready_is False || { kill -CONT "$srv"; fail "runas stayed Ready while its server hung"; }
_ok "a hung server fails its readiness probe: Ready=False"
kill -CONT "$srv"
wait_until 20 ready_is True || fail "runas did not become Ready again"
_ok "and is Ready again once it answers"

# No namespace of this run has a route off the machine.
for ns in $(our_netns); do
  r=$(ip -n "$ns" route show default)
  [ -z "$r" ] || fail "namespace $ns has a default route: $r"
  ip -n "$ns" -4 route show | grep -vqE '^(10\.42\.|10\.43\.|169\.254\.1\.1 )' &&
    fail "namespace $ns routes outside 10.42/16, 10.43/16: $(ip -n "$ns" -4 route show)"
done
_ok "no namespace has a route outside 10.42.0.0/16 and 10.43.0.0/16"

run_rc=0; "$WEFT" down --state-dir "$STATE" >"$T/down.out" 2>&1 || run_rc=$?
assert_eq "$run_rc" 0 "weft down exits 0"
assert_nothing_left
