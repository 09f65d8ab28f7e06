#!/usr/bin/env bash
# weft inject / uninject over a corpus of workload manifests
# (tests/data/inject: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
# Job, CronJob, List, multi-document YAML, JSON, odd scalars), checked by an
# independent YAML reader (PyYAML, helpers/k8s_yaml_check.py):
#   - every workload gets exactly one proxy shaped as the proxy expects,
#     weft-init last among init containers, the token volume, annotations;
#   - uninject(inject(x)) == x semantically for every file, and byte for
#     byte against the plain re-emit of x (nothing but the proxy changed);
#   - inject is idempotent (inject(inject(x)) == inject(x));
#   - weft-init accepts the init container's args (--dry-run);
#   - kubectl reads the injected manifests (apply --dry-run=client against
#     helpers/fake_kube_cluster.py's discovery); JSON stays JSON;
#   - the report on stderr names each resource; skips (kube-system,
#     hostNetwork, disabled) and bad annotations (named, exit 1) leave the
#     resource untouched; aliases are refused; stdin and directories work;
#   - --ingress, --cni, --registry / --proxy-version, annotations → env,
#     resources and init args.
# Environment: WEFT_BIN (dir with weft, weft-init; required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
CHK=("$PY" "$WEFT_SRC/tests/integration/helpers/k8s_yaml_check.py")
W="$WEFT_BIN/weft"
NAME=test_k8s_inject
DATA="$WEFT_SRC/tests/data/inject"
SKIP="$WEFT_SRC/tests/data/inject-skip"
[[ -x $W ]] || { echo "FAILED: $W not built"; exit 1; }
"$PY" -c 'import yaml' 2>/dev/null || { echo "FAILED: python3-yaml missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
API_PID=""
cleanup() {
  local rc=$?
  [[ -n $API_PID ]] && { kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; }
  [[ $rc -ne 0 ]] && echo "FAILED $NAME"
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
ASSERTS=0
fail() { echo "[$NAME] FAIL: $*" >&2; exit 1; }
ok() { ASSERTS=$((ASSERTS + 1)); echo "[$NAME] ok: $*"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: $1"; ok "$3"; }

# ---- the corpus: inject, check, uninject, compare ------------------------------------------
declare -A WORKLOADS=(
  [pod.yaml]="curl" [deployment.yaml]="web" [statefulset.yaml]="db" [daemonset.yaml]="agent"
  [replicaset-job-cronjob.yaml]="frontend pi hello" [list.yaml]="voting" [scalars.yaml]="odd-pod"
  [app.json]="api")
for f in "$DATA"/*; do
  b=$(basename "$f")
  [[ -n ${WORKLOADS[$b]:-} ]] || fail "corpus file $b has no expected workloads listed"
  "$W" inject "$f" >"$T/i.$b" 2>"$T/e.$b" || fail "inject $b: $(cat "$T/e.$b")"
  for w in ${WORKLOADS[$b]}; do
    grep -q "/$w injected\$" "$T/e.$b" || fail "inject $b: no report line for $w: $(cat "$T/e.$b")"
  done
  # shellcheck disable=SC2086
  "${CHK[@]}" injected "$T/i.$b" ${WORKLOADS[$b]} >"$T/c.$b" || fail "injected shape of $b"
  ok "$b: $(wc -l <"$T/c.$b") workload(s) injected and well-formed"
  "$W" uninject "$T/i.$b" >"$T/u.$b" 2>"$T/ue.$b" || fail "uninject $b: $(cat "$T/ue.$b")"
  "${CHK[@]}" same "$f" "$T/u.$b" >/dev/null || fail "uninject(inject($b)) != $b"
  "$W" uninject "$f" >"$T/plain.$b" 2>/dev/null # a no-op: the plain re-emit
  cmp -s "$T/plain.$b" "$T/u.$b" || { diff "$T/plain.$b" "$T/u.$b" | head -20; fail "$b: uninject(inject(x)) differs in bytes from x re-emitted"; }
  ok "$b: uninject(inject(x)) == x (semantically and byte for byte)"
  "$W" inject "$T/i.$b" >"$T/ii.$b" 2>"$T/iie.$b"
  cmp -s "$T/i.$b" "$T/ii.$b" || fail "$b: inject is not idempotent"
  assert_contains "$(cat "$T/iie.$b")" "already injected" "$b: a second inject says already injected"
done

# Byte preservation: only additions, other lines in order (the odd scalars file).
"$W" uninject "$DATA/scalars.yaml" >"$T/s.plain" 2>/dev/null
for l in 'on_word: "on"' 'octal: 0o12' "  \"quoted key\": 'single quoted'" 'tagged: !!str 123' \
         'annotations: &ann' '  literal: |' '      line two indented' "    - {name: B, value: '0x1F'}"; do
  grep -qF -- "$l" "$T/i.scalars.yaml" || fail "scalars.yaml: '$l' not preserved"
done
ok "quoting, tags, anchors, block scalars and flow style preserved"
assert_contains "$(cat "$T/e.deployment.yaml")" "comments are not kept" "a note says comments are dropped"

# Annotations reach env, resources and init args.
out=$(cat "$T/c.deployment.yaml")
assert_contains "$out" "opaque=3306" "opaque-ports annotation replaces the default list"
assert_contains "$out" "inbound=8080" "the containers' ports → WEFT_PROXY_INBOUND_PORTS"
assert_contains "$out" "'limits': {'memory': '250Mi'}" "proxy-memory-limit → resources.limits"
assert_contains "$out" "'requests': {'cpu': '100m'}" "proxy-cpu-request → resources.requests"
out=$(cat "$T/c.statefulset.yaml")
assert_contains "$out" "--inbound-ports-to-ignore 4190,4191,3300,9900" "skip-inbound-ports after 4190,4191"
assert_contains "$out" "--outbound-ports-to-ignore 25,587,8000-9000" "skip-outbound-ports"
assert_contains "$out" "--subnets-to-ignore 10.0.0.0/8,192.168.1.0/24" "skip-subnets"
assert_contains "$(cat "$T/c.replicaset-job-cronjob.yaml")" "hello: ok proxy=ghcr.io/weft/proxy:0.1.0 ingress=true" \
  "linkerd.io/inject: ingress → WEFT_PROXY_INGRESS_MODE=true"
# The statefulset keeps its own init container first and volumes.
"$PY" - "$T/i.statefulset.yaml" <<'PYEOF' || fail "statefulset init order / volumes"
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
s = d["spec"]["template"]["spec"]
assert [c["name"] for c in s["initContainers"]] == ["migrate", "weft-init"], s["initContainers"]
assert [v["name"] for v in s["volumes"]] == ["config", "weft-identity-token"]
assert [c["name"] for c in s["containers"]] == ["db", "weft-proxy"]
PYEOF
ok "existing init containers run first, existing volumes kept"

# weft-init accepts the args the injector wrote.
if [[ -x $WEFT_BIN/weft-init ]]; then
  mapfile -t args < <("$PY" -c '
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
for c in d["spec"]["template"]["spec"]["initContainers"]:
    if c["name"] == "weft-init":
        print("\n".join(c["args"]))' "$T/i.statefulset.yaml")
  "$WEFT_BIN/weft-init" --dry-run "${args[@]}" >"$T/rules" 2>&1 || fail "weft-init refuses the injected args: $(cat "$T/rules")"
  grep -q -- "192.168.1.0/24" "$T/rules" || fail "weft-init rules lack the skipped subnet"
  ok "weft-init --dry-run accepts the injected args (${#args[@]} words)"
fi

# A JSON manifest stays JSON (kubectl and jq read it as such).
"$W" inject "$DATA/app.json" 2>/dev/null | "$PY" -c 'import json,sys; d=json.load(sys.stdin); assert any(c["name"] == "weft-proxy" for c in d["spec"]["template"]["spec"]["containers"])' ||
  fail "app.json injected is not JSON"
ok "a JSON manifest comes out as JSON"

# ---- stdin, directories, flags -----------------------------------------------------------------
"$W" inject - <"$DATA/pod.yaml" >"$T/stdin.yaml" 2>"$T/stdin.err"
cmp -s "$T/stdin.yaml" "$T/i.pod.yaml" || fail "stdin inject differs from file inject"
ok "stdin (-) works like a file"
"$W" inject "$DATA" >"$T/dir.yaml" 2>"$T/dir.err"
n=$(grep -c ' injected$' "$T/dir.err")
[[ $n -eq 10 ]] || fail "directory inject: $n injected, want 10: $(cat "$T/dir.err")"
ok "a directory's manifests are all read (10 workloads)"
"$W" inject --ingress --cni --registry reg.example/weft --proxy-version 9.9.9 "$DATA/pod.yaml" >"$T/flags.yaml" 2>/dev/null
"${CHK[@]}" injected --cni "$T/flags.yaml" curl >"$T/flags.chk" || fail "--cni shape"
assert_contains "$(cat "$T/flags.chk")" "proxy=reg.example/weft/proxy:9.9.9 ingress=true" "--ingress, --registry, --proxy-version"
assert_contains "$(cat "$T/flags.chk")" "init=-" "--cni: no weft-init"
"$W" inject --native-sidecar "$DATA/statefulset.yaml" >"$T/native.yaml" 2>/dev/null
"${CHK[@]}" injected --native "$T/native.yaml" db >/dev/null || fail "--native-sidecar shape"
"$PY" - "$T/native.yaml" <<'PYEOF' || fail "native sidecar order"
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]
assert [c["name"] for c in s["initContainers"]] == ["weft-init", "weft-proxy", "migrate"], s["initContainers"]
assert [c["name"] for c in s["containers"]] == ["db"]
PYEOF
"$W" uninject "$T/native.yaml" >"$T/native.u.yaml" 2>/dev/null
"${CHK[@]}" same "$DATA/statefulset.yaml" "$T/native.u.yaml" >/dev/null || fail "native: uninject(inject(x)) != x"
ok "--native-sidecar: weft-init, then the proxy (restartPolicy Always, startupProbe) before the app's init containers; uninject undoes it"
"$W" inject --cluster-networks 10.0.0.0/8,fd00::/8 "$DATA/pod.yaml" 2>/dev/null | grep -A1 WEFT_PROXY_DESTINATION_PROFILE_NETWORKS | grep -q '10.0.0.0/8,fd00::/8' ||
  fail "--cluster-networks does not reach the proxy's env"
ok "--cluster-networks → WEFT_PROXY_DESTINATION_PROFILE_NETWORKS"
"$W" inject --manual "$DATA/pod.yaml" >/dev/null 2>&1 || fail "--manual is accepted"
ok "--manual accepted"

# ---- kubectl reads the injected manifests (client-side, against a fake API's discovery) ---------
if command -v kubectl >/dev/null && command -v openssl >/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/api.key" -out "$T/api.crt" \
    -days 2 -subj /CN=fake-kube -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
  echo '{"objects": []}' >"$T/empty.json"
  "$PY" "$WEFT_SRC/tests/integration/helpers/fake_kube_cluster.py" "$T/api.crt" "$T/api.key" tok \
    "$T/empty.json" "$T/api.ready" >"$T/api.log" 2>&1 &
  API_PID=$!
  for _ in $(seq 100); do [[ -e $T/api.ready ]] && break; sleep 0.1; done
  [[ -e $T/api.ready ]] || fail "fake API server did not start"
  port=$(awk '/^API/{print $2}' "$T/api.ready")
  printf 'apiVersion: v1\nkind: Config\nclusters: [{name: f, cluster: {server: "https://127.0.0.1:%s", certificate-authority: %s}}]\nusers: [{name: u, user: {token: tok}}]\ncontexts: [{name: f, context: {cluster: f, user: u}}]\ncurrent-context: f\n' \
    "$port" "$T/api.crt" >"$T/kubeconfig"
  set +e
  HOME=$T KUBECONFIG=$T/kubeconfig timeout 120 kubectl apply --dry-run=client --validate=false -f "$T/dir.yaml" >"$T/kubectl.out" 2>&1
  krc=$?
  set -e
  kill "$API_PID"; wait "$API_PID" 2>/dev/null || true
  API_PID=""
  [[ $krc -eq 0 ]] || fail "kubectl refuses the injected manifests: $(tail -5 "$T/kubectl.out")"
  n=$(grep -c 'created (dry run)' "$T/kubectl.out")
  [[ $n -eq 12 ]] || fail "kubectl: $n resources accepted, want 12: $(cat "$T/kubectl.out")"
  ok "kubectl apply --dry-run=client reads all 12 injected resources (the List counts its 2 items)"
else
  echo "[$NAME] kubectl not installed: PyYAML checks only"
fi

# ---- what is not injected, and why -------------------------------------------------------------
for f in kube-system hostnetwork disabled; do
  "$W" inject "$SKIP/$f.yaml" >"$T/s.$f" 2>"$T/se.$f" || fail "$f: exit status $?"
  "${CHK[@]}" same "$SKIP/$f.yaml" "$T/s.$f" >/dev/null || fail "$f: output changed"
done
assert_contains "$(cat "$T/se.kube-system")" "daemonset/kube-proxy not injected: pods in kube-system are never injected" "kube-system skipped"
assert_contains "$(cat "$T/se.hostnetwork")" "pod/node-exporter not injected: hostNetwork" "hostNetwork skipped"
assert_contains "$(cat "$T/se.disabled")" "deployment/legacy not injected: injection disabled" "disabled skipped"
set +e
"$W" inject "$SKIP/bad-annotations.yaml" >"$T/bad.yaml" 2>"$T/bad.err"; rc=$?
set -e
[[ $rc -eq 1 ]] || fail "bad annotations: exit $rc, want 1"
"${CHK[@]}" same "$SKIP/bad-annotations.yaml" "$T/bad.yaml" >/dev/null || fail "bad annotations: output changed"
assert_contains "$(cat "$T/bad.err")" 'config.linkerd.io/opaque-ports: invalid port "70000"' "bad opaque-ports named"
assert_contains "$(cat "$T/bad.err")" 'config.linkerd.io/proxy-memory-limit: "lots" is not a Kubernetes quantity' "bad quantity named"
set +e
"$W" inject "$SKIP/bad-inject-value.yaml" >/dev/null 2>"$T/badv.err"; rc1=$?
"$W" inject "$SKIP/alias.yaml" >/dev/null 2>"$T/alias.err"; rc2=$?
"$W" inject "$T/nonexistent.yaml" >/dev/null 2>"$T/none.err"; rc3=$?
"$W" inject --proxy-cpu-limit lots "$DATA/pod.yaml" >/dev/null 2>"$T/flag.err"; rc4=$?
set -e
[[ $rc1 -eq 1 && $rc2 -eq 1 && $rc3 -eq 1 && $rc4 -eq 2 ]] || fail "exit codes $rc1 $rc2 $rc3 $rc4"
assert_contains "$(cat "$T/badv.err")" '"enable" is not enabled, ingress or disabled (did you mean enabled?)' "a bad linkerd.io/inject value is named"
assert_contains "$(cat "$T/alias.err")" "aliases" "YAML aliases are refused cleanly"
assert_contains "$(cat "$T/none.err")" "nonexistent.yaml" "a missing file is named"
assert_contains "$(cat "$T/flag.err")" "not a Kubernetes quantity" "a bad flag quantity is a usage error"
echo "[$NAME] PASS ($ASSERTS assertions)"
