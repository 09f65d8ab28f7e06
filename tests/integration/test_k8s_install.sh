#!/usr/bin/env bash
# weft install --crds / weft install (the seed's chapter 3):
#   - every document validates with kubectl (apply --dry-run=client
#     --validate=false against helpers/fake_kube_cluster.py, which serves
#     discovery on 127.0.0.1) and with a field/shape check of our own
#     (helpers/k8s_manifest_check.py: kinds, names, selectors match
#     template labels, probes on the admin ports, structural CRD schemas,
#     the webhook's Ignore / 10s / selectors / caBundle, RBAC verbs);
#   - the controllers accept the args rendered for them (their own flag
#     parsers, run with --help appended); weft-controller injector starts
#     with the generated serving certificate and answers over HTTPS with a
#     client that trusts only the caBundle;
#   - certificates: given files (made with the seed's step-style commands)
#     are used as they are; a missing / expired / mismatched / unchained
#     one is refused naming the file; none → generated, with a note;
#   - --ha (3 replicas, PDBs, anti-affinity), --set, --values, unknown keys.
# Environment: WEFT_BIN (required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
H="$WEFT_SRC/tests/integration/helpers"
W="$WEFT_BIN/weft"
CTL="$WEFT_BIN/weft-controller"
NAME=test_k8s_install
[[ -x $W && -x $CTL ]] || { echo "FAILED: weft / weft-controller not built"; exit 1; }
"$PY" -c 'import yaml' 2>/dev/null || { echo "FAILED: python3-yaml missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -30 "$f"; }; done
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

# ---- render ---------------------------------------------------------------------------------
"$W" install --crds >crds.yaml 2>crds.err || fail "install --crds: $(cat crds.err)"
"$W" install >cp.yaml 2>cp.err || fail "install: $(cat cp.err)"
assert_contains "$(cat cp.err)" "production installs should bring their own CA" "generated CA is announced"
"$PY" "$H/k8s_manifest_check.py" crds crds.yaml >crds.chk || fail "CRD shape check"
ok "CRDs: $(cat crds.chk)"
"$PY" "$H/k8s_manifest_check.py" control-plane cp.yaml linkerd 1 >cp.chk || fail "control plane shape check"
ok "control plane: $(cat cp.chk)"

# ---- kubectl, against a fake API server's discovery -------------------------------------------
if command -v kubectl >/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key -out api.crt \
    -days 2 -subj /CN=fake-kube -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
  echo '{"objects": []}' >empty.json
  "$PY" "$H/fake_kube_cluster.py" api.crt api.key tok empty.json api.ready >api.log 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [[ -e api.ready ]] && break; sleep 0.1; done
  [[ -e api.ready ]] || fail "fake API server did not start"
  port=$(awk '/^API/{print $2}' api.ready)
  cat >kubeconfig <<EOK
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$port", certificate-authority: $T/api.crt}}]
users: [{name: u, user: {token: tok}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
current-context: fake
EOK
  for f in crds cp; do
    HOME=$T KUBECONFIG=$T/kubeconfig timeout 120 kubectl apply --dry-run=client --validate=false -f $f.yaml \
      >$f.kubectl 2>&1 || fail "kubectl rejects $f.yaml: $(tail -5 $f.kubectl)"
    n=$(grep -c 'created (dry run)' $f.kubectl)
    docs=$(grep -c '^---$' $f.yaml)
    [[ $n -eq $docs ]] || fail "kubectl: $n of $docs documents accepted: $(cat $f.kubectl)"
    ok "kubectl apply --dry-run=client accepts all $docs documents of $f.yaml"
  done
  # kubectl really parses: a broken document is refused.
  { cat cp.yaml; printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: [oops]\n'; } >broken.yaml
  if HOME=$T KUBECONFIG=$T/kubeconfig timeout 120 kubectl apply --dry-run=client --validate=false -f broken.yaml >broken.kubectl 2>&1; then
    fail "kubectl accepted a broken document"
  fi
  ok "kubectl refuses a broken document (the validation can fail)"
else
  echo "[$NAME] kubectl not installed: shape checks only"
fi

# ---- the controllers accept their args --------------------------------------------------------
"$PY" "$H/k8s_manifest_check.py" args cp.yaml >args.txt || fail "extract args"
while IFS=$'\t' read -r comp args; do
  read -r -a a <<<"$args"
  "$CTL" "${a[@]}" --help >"args.$comp.log" 2>&1 || fail "weft-controller refuses the $comp args: $(cat "args.$comp.log")"
  ok "weft-controller ${a[0]} parses the rendered args (${#a[@]} words)"
done <args.txt

# ---- the injector runs with the generated TLS material ----------------------------------------
"$PY" - cp.yaml <<'PYEOF' || fail "extract webhook TLS"
import base64, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] == "Secret" and d["metadata"]["name"] == "weft-proxy-injector-tls":
        open("wh.crt", "wb").write(base64.b64decode(d["data"]["tls.crt"]))
        open("wh.key", "wb").write(base64.b64decode(d["data"]["tls.key"]))
    if d["kind"] == "MutatingWebhookConfiguration":
        open("wh-ca.crt", "wb").write(base64.b64decode(d["webhooks"][0]["clientConfig"]["caBundle"]))
    if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "linkerd-identity-trust-roots":
        open("anchors.crt", "w").write(d["data"]["ca-bundle.crt"])
PYEOF
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
aport=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$CTL" injector --tls-cert wh.crt --tls-key wh.key --addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$aport" \
  --identity-trust-anchors-file anchors.crt >inj.log 2>&1 &
IPID=$!
PIDS+=($IPID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$aport/ready" >/dev/null && break; sleep 0.1; done
code=$(curl -s -o resp.json -w '%{http_code}' --cacert wh-ca.crt \
  --resolve "weft-proxy-injector.linkerd.svc:$port:127.0.0.1" \
  "https://weft-proxy-injector.linkerd.svc:$port/inject" -H 'Content-Type: application/json' \
  --data-binary '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"app","operation":"CREATE","object":{"metadata":{"name":"p","annotations":{"linkerd.io/inject":"enabled"}},"spec":{"containers":[{"name":"a","image":"a"}]}}}}')
[[ $code == 200 ]] || fail "webhook over the caBundle: HTTP $code"
"$PY" - <<'PYEOF' || fail "webhook response"
import base64, json
r = json.load(open("resp.json"))["response"]
assert r["uid"] == "u1" and r["allowed"] is True and r["patchType"] == "JSONPatch", r
patch = json.loads(base64.b64decode(r["patch"]))
env = [op for op in patch if op["path"] == "/spec/containers/-"][0]["value"]["env"]
ta = [e for e in env if e["name"] == "WEFT_PROXY_IDENTITY_TRUST_ANCHORS"][0]
assert ta["value"] == open("anchors.crt").read(), "trust anchors not inlined"
PYEOF
ok "the injector serves with the generated cert, verified by the caBundle for weft-proxy-injector.linkerd.svc; trust anchors inlined"
kill "$IPID"; wait "$IPID" 2>/dev/null || true

# ---- given certificates ------------------------------------------------------------------------
"$W" identity create root.linkerd.cluster.local ca.crt ca.key --profile root-ca --no-password --insecure >/dev/null
"$W" identity create identity.linkerd.cluster.local issuer.crt issuer.key --profile intermediate-ca \
  --not-after 8760h --no-password --insecure --ca ca.crt --ca-key ca.key >/dev/null
"$W" install --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt \
  --identity-issuer-key-file issuer.key >given.yaml 2>given.err || fail "install with given certs: $(cat given.err)"
[[ ! -s given.err ]] || fail "install with given certs printed: $(cat given.err)"
"$PY" - given.yaml <<'PYEOF' || fail "given certs not used as given"
import base64, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = [d for d in docs if d["kind"] == "ConfigMap"][0]
sec = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "linkerd-identity-issuer"][0]
assert sec["type"] == "kubernetes.io/tls"
assert cm["data"]["ca-bundle.crt"] == open("ca.crt").read()
assert base64.b64decode(sec["data"]["tls.crt"]).decode() == open("issuer.crt").read()
assert base64.b64decode(sec["data"]["ca.crt"]).decode() == open("ca.crt").read()
PYEOF
ok "given trust anchor / issuer / key are installed as given (no note)"
"$W" identity create root.other other.crt other.key --profile root-ca --no-password --insecure >/dev/null
"$W" identity create identity.short short.crt short.key --profile intermediate-ca --not-after 240h \
  --no-password --insecure --ca ca.crt --ca-key ca.key >/dev/null
refuse() { # WANT_TEXT ARGS...
  local want=$1; shift
  set +e; "$W" install "$@" >/dev/null 2>refuse.err; local rc=$?; set -e
  [[ $rc -ne 0 ]] || fail "install $* succeeded"
  assert_contains "$(cat refuse.err)" "$want" "refused: $want"
}
refuse "missing.crt: No such file" --identity-trust-anchors-file missing.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key
refuse "issuer.crt does not chain to a trust anchor in other.crt" --identity-trust-anchors-file other.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key
refuse "other.key" --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file other.key
refuse "go together" --identity-trust-anchors-file ca.crt
refuse "ca.key: no PEM certificate" --identity-trust-anchors-file ca.key --identity-issuer-certificate-file issuer.crt --identity-issuer-key-file issuer.key
if command -v faketime >/dev/null; then
  set +e
  faketime -f '+400d' "$W" install --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file issuer.crt \
    --identity-issuer-key-file issuer.key >/dev/null 2>expired.err; rc=$?
  set -e
  [[ $rc -ne 0 ]] || fail "an expired issuer was accepted"
  assert_contains "$(cat expired.err)" "issuer.crt" "an expired issuer is refused, naming the file"
fi
"$W" install --identity-trust-anchors-file ca.crt --identity-issuer-certificate-file short.crt \
  --identity-issuer-key-file short.key >/dev/null 2>short.err || fail "a 10-day issuer should install"
assert_contains "$(cat short.err)" "short.crt: the issuer certificate expires in" "an issuer expiring within 60 days warns"

# ---- the webhook's serving certificate, given --------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout whca.key -out whca.crt \
  -days 30 -subj /CN=my-webhook-ca -addext basicConstraints=critical,CA:TRUE 2>/dev/null
mkleaf() { # NAME DNS CA CAKEY
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'subjectAltName=DNS:%s\n' "$2" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3" -CAkey "$4" -CAcreateserial -days 20 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
mkleaf whgood weft-proxy-injector.linkerd.svc whca.crt whca.key
mkleaf whwrong weft-proxy-injector.other.svc whca.crt whca.key
"$W" install --webhook-cert-file whgood.crt --webhook-key-file whgood.key --webhook-ca-file whca.crt \
  >wh.yaml 2>wh.err || fail "install with a given webhook cert: $(cat wh.err)"
"$PY" - wh.yaml <<'PYEOF' || fail "given webhook cert not used"
import base64, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
mwc = [d for d in docs if d["kind"] == "MutatingWebhookConfiguration"][0]
sec = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "weft-proxy-injector-tls"][0]
assert base64.b64decode(mwc["webhooks"][0]["clientConfig"]["caBundle"]).decode() == open("whca.crt").read()
assert base64.b64decode(sec["data"]["tls.crt"]).decode() == open("whgood.crt").read()
assert base64.b64decode(sec["data"]["tls.key"]).decode() == open("whgood.key").read()
PYEOF
assert_contains "$(cat wh.err)" "whgood.crt expires in" "a given webhook cert is used as given (and a near expiry warns)"
refuse "whwrong.crt does not name weft-proxy-injector.linkerd.svc" --webhook-cert-file whwrong.crt --webhook-key-file whwrong.key --webhook-ca-file whca.crt
refuse "whwrong.key is not the key of the certificate in whgood.crt" --webhook-cert-file whgood.crt --webhook-key-file whwrong.key --webhook-ca-file whca.crt
refuse "whgood.crt does not chain to ca.crt" --webhook-cert-file whgood.crt --webhook-key-file whgood.key --webhook-ca-file ca.crt
refuse "go together" --webhook-cert-file whgood.crt

# ---- --ha, --set, --values -------------------------------------------------------------------
"$W" install --ha >ha.yaml 2>/dev/null
"$PY" "$H/k8s_manifest_check.py" control-plane ha.yaml linkerd 3 >ha.chk || fail "HA shape"
assert_contains "$(cat ha.chk)" "3 PodDisruptionBudgets" "--ha: 3 replicas, PDBs, anti-affinity"
cat >values.yaml <<'EOV'
namespace: mesh
proxy:
  logLevel: debug
  resources:
    memory:
      limit: 250Mi
proxyInit:
  ignoreInboundPorts: "4567,4568,9999"
EOV
"$W" install --values values.yaml --set imageRegistry=reg.example/w,cniEnabled=true --set clusterNetworks=10.0.0.0/8 \
  --set proxy.nativeSidecar=true \
  --registry reg2.example/w >vals.yaml 2>/dev/null || fail "--values/--set"
"$PY" "$H/k8s_manifest_check.py" control-plane vals.yaml mesh 1 >/dev/null || fail "values shape"
inj=$("$PY" "$H/k8s_manifest_check.py" args vals.yaml | grep '^proxy-injector')
for want in "--proxy-log-level debug" "--proxy-memory-limit 250Mi" "--default-skip-inbound-ports 4567,4568,9999" \
            "--registry reg2.example/w" " --cni " "--control-plane-ns mesh" " --native-sidecar " \
            "--cluster-networks 10.0.0.0/8"; do
  [[ $inj == *"$want"* ]] || fail "values: injector args lack '$want': $inj"
done
ok "--values file, --set (comma list, repeated), flags win over --set"
set +e
"$W" install --set proxy.logLevl=debug >/dev/null 2>set.err; rc1=$?
"$W" install --set controllerReplicas=many >/dev/null 2>set2.err; rc2=$?
"$W" install --cluster-networks 10.0.0.1/8 >/dev/null 2>nets.err; rc3=$?
set -e
[[ $rc1 -eq 2 && $rc2 -eq 2 && $rc3 -eq 2 ]] || fail "bad settings: exit $rc1 $rc2 $rc3"
assert_contains "$(cat set.err)" 'unknown setting "proxy.logLevl"' "an unknown --set key is named"
assert_contains "$(cat set2.err)" "controllerReplicas must be a number" "a mistyped value is named"
assert_contains "$(cat nets.err)" "clusterNetworks" "bad cluster networks are refused"
echo "[$NAME] PASS ($ASSERTS assertions)"
