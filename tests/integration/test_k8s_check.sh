#!/usr/bin/env bash
# weft check against a fake API server (helpers/fake_kube_cluster.py, HTTPS
# on 127.0.0.1, bearer token) serving canned clusters built from weft
# install's own output plus pods:
#   - a healthy install passes every group (exit 0), text and -o json;
#   - each broken variant fails (exit 1) on the right check with a hint:
#     a missing CRD, a control-plane pod not ready, a webhook caBundle from
#     another install, an issuer from another CA, an unreachable API, a bad
#     token; an old proxy version only warns (exit 0);
#   - --pre: an empty cluster passes; a denied right fails naming it; an
#     existing namespace warns;
#   - --proxy: a meshed pod whose proxy is not ready fails; a proxy whose
#     identity certificate (its metric, read through the API server's pod
#     proxy) has expired fails; unreachable metrics only warn;
#   - the client sends the kubeconfig's token on every request.
# Environment: WEFT_BIN (required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
H="$WEFT_SRC/tests/integration/helpers"
W="$WEFT_BIN/weft"
NAME=test_k8s_check
[[ -x $W ]] || { echo "FAILED: $W not built"; exit 1; }
"$PY" -c 'import yaml' 2>/dev/null || { echo "FAILED: python3-yaml missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
PIDS=()
API_PID=""
cleanup() {
  local rc=$?
  [[ -n $API_PID ]] && { kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; }
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.out; do [[ -e $f ]] && { echo "--- $f"; tail -40 "$f"; }; done
    echo "FAILED $NAME"
  fi
  [[ -n ${KEEP_TMP:-} ]] || rm -rf "$T"
}
trap cleanup EXIT
ASSERTS=0
fail() { echo "[$NAME] FAIL: $*" >&2; exit 1; }
ok() { ASSERTS=$((ASSERTS + 1)); echo "[$NAME] ok: $*"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: $1"; ok "$3"; }
cd "$T"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key -out api.crt \
  -days 2 -subj /CN=fake-kube -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
"$W" install --crds >crds.yaml 2>/dev/null
"$W" install >cp.yaml 2>/dev/null
"$W" install >cp2.yaml 2>/dev/null # another install: other CA, other webhook cert

# fixture VARIANT OUT: the objects of a cluster after `kubectl apply` of both files,
# with control-plane pods (ready) and one meshed app pod, then broken as VARIANT says.
fixture() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys, yaml
variant, out = sys.argv[1], sys.argv[2]
objs = [d for f in ("crds.yaml", "cp.yaml") for d in yaml.safe_load_all(open(f)) if d]
other = [d for d in yaml.safe_load_all(open("cp2.yaml")) if d]
deny = []
def pod(name, ns, labels, containers, ready, annotations=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations or {}},
            "spec": {"containers": [{"name": c, "image": img} for c, img in containers]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": c, "ready": ready} for c, _ in containers]}}
for comp in ("identity", "destination", "proxy-injector"):
    objs.append(pod("weft-%s-1" % comp, "linkerd",
                    {"linkerd.io/control-plane-ns": "linkerd", "linkerd.io/control-plane-component": comp},
                    [(comp, "ghcr.io/weft/controller:0.1.0")], not (variant == "unready" and comp == "destination")))
app_ready = variant != "proxy-unready"
app_ver = "0.0.9" if variant == "old-proxy" else "0.1.0"
objs.append(pod("web-1", "emojivoto", {"linkerd.io/control-plane-ns": "linkerd", "app": "web"},
                [("web", "web:1"), ("weft-proxy", "ghcr.io/weft/proxy:" + app_ver)], app_ready,
                {"linkerd.io/proxy-version": app_ver}))
def name_of(d): return (d["kind"], d["metadata"]["name"])
if variant == "no-crd":
    objs = [o for o in objs if name_of(o) != ("CustomResourceDefinition", "httproutes.policy.linkerd.io")]
if variant == "webhook-mismatch":
    objs = [o for o in objs if name_of(o) != ("MutatingWebhookConfiguration", "weft-proxy-injector-webhook-config")]
    objs += [o for o in other if name_of(o) == ("MutatingWebhookConfiguration", "weft-proxy-injector-webhook-config")]
if variant == "issuer-mismatch":
    objs = [o for o in objs if name_of(o) != ("Secret", "linkerd-identity-issuer")]
    objs += [o for o in other if name_of(o) == ("Secret", "linkerd-identity-issuer")]
import time
exp = time.time() + (-60 if variant == "cert-expired" else 86400)
metrics = {}
if variant != "no-metrics":
    metrics["emojivoto/web-1"] = ("# HELP identity_cert_expiration_timestamp_seconds x\n"
                                  "# TYPE identity_cert_expiration_timestamp_seconds gauge\n"
                                  "identity_cert_expiration_timestamp_seconds %.0f\n" % exp)
if variant in ("empty", "deny"):
    objs = []
if variant == "deny":
    deny = ["clusterrolebindings"]
json.dump({"version": "v1.29.2", "objects": objs, "deny": deny, "metrics": metrics}, open(out, "w"))
PYEOF
}

start_api() { # FIXTURE
  if [[ -n $API_PID ]]; then kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=""; fi
  rm -f api.ready
  "$PY" "$H/fake_kube_cluster.py" api.crt api.key tok "$1" api.ready >api.log 2>&1 &
  API_PID=$!
  for _ in $(seq 100); do [[ -e api.ready ]] && break; sleep 0.1; done
  [[ -e api.ready ]] || fail "fake API server did not start"
  PORT=$(awk '/^API/{print $2}' api.ready)
  cat >kubeconfig <<EOK
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$PORT", certificate-authority-data: $(base64 -w0 api.crt)}}]
users: [{name: u, user: {token: ${TOKEN:-tok}}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
current-context: fake
EOK
}

run_check() { # OUTFILE ARGS... ; sets RC
  set +e
  KUBECONFIG=$T/kubeconfig "$W" check "${@:2}" >"$1" 2>&1
  RC=$?
  set -e
}

# ---- healthy ------------------------------------------------------------------------------------
fixture healthy healthy.json
start_api healthy.json
run_check healthy.out
[[ $RC -eq 0 ]] || fail "healthy cluster: exit $RC: $(cat healthy.out)"
for g in kubernetes-api kubernetes-version weft-existence weft-identity weft-webhooks weft-version; do
  grep -qx "$g" healthy.out || fail "group $g missing"
done
grep -q '×' healthy.out && fail "a healthy cluster shows a failure"
assert_contains "$(cat healthy.out)" "✔ issuer cert is issued by the trust anchor" "healthy: all groups pass"
assert_contains "$(cat healthy.out)" "Status check results are ✔" "healthy: summary ✔"
run_check healthy-json.out -o json --proxy
[[ $RC -eq 0 ]] || fail "healthy --proxy -o json: exit $RC"
"$PY" - healthy-json.out <<'PYEOF' || fail "json output"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["success"] is True
cats = [c["categoryName"] for c in j["categories"]]
assert cats[0] == "kubernetes-api" and "weft-data-plane" in cats, cats
checks = [ck for c in j["categories"] for ck in c["checks"]]
assert all(ck["result"] == "success" for ck in checks), checks
assert len(checks) >= 18, len(checks)
PYEOF
ok "-o json: success, categories, every check success (incl. --proxy data plane)"
auths=$(curl -s --cacert api.crt -H 'Authorization: Bearer tok' "https://127.0.0.1:$PORT/requests" |
  "$PY" -c 'import json,sys; r=json.load(sys.stdin); print(len(r), sum(1 for x in r if x["auth"]=="Bearer tok"), len({x["ua"] for x in r if x["path"]!="/requests"}))')
read -r total withtok uas <<<"$auths"
[[ $((total - 1)) -eq $((withtok - 1)) && $uas -eq 1 ]] || fail "requests without the token: $auths"
ok "every request carries the bearer token ($((total - 1)) requests)"

# ---- broken variants ---------------------------------------------------------------------------
expect_fail() { # VARIANT CHECK_TEXT DETAIL ARGS...
  fixture "$1" "$1.json"
  start_api "$1.json"
  run_check "$1.out" "${@:4}"
  [[ $RC -eq 1 ]] || fail "$1: exit $RC, want 1: $(cat "$1.out")"
  assert_contains "$(cat "$1.out")" "× $2" "$1: fails '$2'"
  assert_contains "$(cat "$1.out")" "$3" "$1: says '$3'"
  grep -q 'hint:' "$1.out" || fail "$1: no hint"
}
expect_fail no-crd "control plane CRDs are installed" "httproutes.policy.linkerd.io"
expect_fail unready "control plane pods are ready" "no ready pod for: destination"
expect_fail webhook-mismatch "proxy-injector caBundle matches the webhook's serving certificate" "different installs"
expect_fail issuer-mismatch "issuer cert is issued by the trust anchor" "linkerd-identity-trust-roots"
expect_fail proxy-unready "data plane proxies are ready" "emojivoto/web-1" --proxy
expect_fail empty "control plane namespace exists" "HTTP 404"
expect_fail cert-expired "data plane proxies have valid identity certificates" "emojivoto/web-1 (expired)" --proxy
fixture no-metrics nometrics.json
start_api nometrics.json
run_check nometrics.out --proxy
[[ $RC -eq 0 ]] || fail "unreachable proxy metrics must only warn: exit $RC"
assert_contains "$(cat nometrics.out)" "‼ data plane proxies have valid identity certificates" "unreachable proxy metrics warn"
fixture old-proxy old.json
start_api old.json
run_check old.out --proxy
[[ $RC -eq 0 ]] || fail "old proxy: exit $RC (a warning must not fail)"
assert_contains "$(cat old.out)" "‼ data plane is up-to-date" "an old proxy version warns"

# ---- --pre -------------------------------------------------------------------------------------
fixture empty empty.json
start_api empty.json
run_check pre.out --pre
[[ $RC -eq 0 ]] || fail "--pre on an empty cluster: exit $RC: $(cat pre.out)"
assert_contains "$(cat pre.out)" "✔ can create mutatingwebhookconfigurations" "--pre: rights checked"
assert_contains "$(cat pre.out)" "✔ control plane namespace does not already exist" "--pre: namespace free"
expect_fail deny "can create clusterrolebindings" "not allowed to create clusterrolebindings.rbac.authorization.k8s.io" --pre
start_api healthy.json
run_check pre2.out --pre
[[ $RC -eq 0 ]] || fail "--pre with an install: exit $RC"
assert_contains "$(cat pre2.out)" "‼ control plane namespace does not already exist" "--pre: an existing namespace warns"

# ---- the API itself --------------------------------------------------------------------------
TOKEN=wrong start_api healthy.json
run_check badtok.out
[[ $RC -eq 1 ]] || fail "bad token: exit $RC"
assert_contains "$(cat badtok.out)" "× can query the Kubernetes API" "a bad token fails the API check"
grep -q 'weft-existence' badtok.out && fail "checks ran after the API check failed"
ok "later groups are skipped when the API is unusable"
kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=""
run_check down.out
[[ $RC -eq 1 ]] || fail "API down: exit $RC"
assert_contains "$(cat down.out)" "127.0.0.1:$PORT" "an unreachable API server is named"
set +e
KUBECONFIG=$T/nonexistent "$W" check >nokc.out 2>&1; rc=$?
"$W" check --pre --proxy >/dev/null 2>&1; rc2=$?
set -e
[[ $rc -eq 1 && $rc2 -eq 2 ]] || fail "exit codes $rc $rc2"
assert_contains "$(cat nokc.out)" "× can initialize the client" "a missing kubeconfig fails the first check"
echo "[$NAME] PASS ($ASSERTS assertions)"
