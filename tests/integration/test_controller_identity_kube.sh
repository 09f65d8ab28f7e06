#!/usr/bin/env bash
# weft-controller identity with the kubernetes token verifier, against a
# fake API server over HTTPS (helpers/fake_kube_cluster.py) on 127.0.0.1:
# a projected ServiceAccount token is checked with a TokenReview (audience
# identity.l5d.io) and must belong to the ServiceAccount the identity names.
#   - the token of demo/web for web.demo... → OK (the leaf verifies);
#   - the token of demo/db for web.demo...  → PERMISSION_DENIED;
#   - an unknown token                      → UNAUTHENTICATED;
#   - the API server gone                   → UNAVAILABLE, and the service
#     keeps answering (the fake refuses tokens without the audience
#     identity.l5d.io, so the OK above also shows the audience is sent).
# Environment: WEFT_BIN (required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
H="$WEFT_SRC/tests/integration/helpers"
CTL="$WEFT_BIN/weft-controller"
WEFT="$WEFT_BIN/weft"
NAME=test_controller_identity_kube
for b in "$CTL" "$WEFT"; do [[ -x $b ]] || { echo "FAILED: $b not built"; exit 1; }; done

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
PIDS=()
cleanup() {
  local rc=$? p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -30 "$f"; }; done
    echo "FAILED $NAME"
  else
    echo "PASS $NAME ($ASSERTS assertions)"
  fi
  rm -rf "$T"
}
trap cleanup EXIT
ASSERTS=0
fail() { echo "[$NAME] FAIL: $*" >&2; exit 1; }
ok() { ASSERTS=$((ASSERTS + 1)); echo "[$NAME] ok: $*"; }
assert_eq() { [[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"; ok "$3"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: $1"; ok "$3"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cd "$T" || exit 1
protoc-c --proto_path="$WEFT_SRC/proto" --include_imports --descriptor_set_out="$T/weft.pb" identity.proto
"$WEFT" identity create-root --out-cert ca.crt --out-key ca.key >/dev/null
"$WEFT" identity create-issuer --ca-cert ca.crt --ca-key ca.key --out-cert issuer.crt --out-key issuer.key >/dev/null
ID=web.demo.serviceaccount.identity.linkerd.cluster.local
SVC_ID=weft-identity.linkerd.serviceaccount.identity.linkerd.cluster.local
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout csr.key -subj / \
  -addext "subjectAltName=DNS:$ID" -outform DER -out good.csr 2>/dev/null

# ---- the fake API server ---------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key -out api.crt \
  -days 2 -subj /CN=fake-kube -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
cat >fixture.json <<'EOF2'
{"objects": [], "tokens": {"tok-web": "system:serviceaccount:demo:web",
                           "tok-db": "system:serviceaccount:demo:db"}}
EOF2
start_api() {
  rm -f api.ready
  "$PY" "$H/fake_kube_cluster.py" api.crt api.key ctl-token fixture.json api.ready >>api.log 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  for _ in $(seq 100); do [[ -e api.ready ]] && break; sleep 0.1; done
  [[ -e api.ready ]] || fail "fake API server did not start"
  API_PORT=$(awk '/^API/{print $2}' api.ready)
}
start_api
cat >kubeconfig <<EOK
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: $T/api.crt}}]
users: [{name: u, user: {token: ctl-token}}]
contexts: [{name: fake, context: {cluster: fake, user: u}}]
current-context: fake
EOK

PORT=$(free_port)
ADMIN=$(free_port)
"$CTL" identity --addr "127.0.0.1:$PORT" --admin-addr "127.0.0.1:$ADMIN" \
  --issuer-cert issuer.crt --issuer-key issuer.key --trust-anchors ca.crt \
  --token-verifier kubernetes --kubeconfig kubeconfig >controller.log 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null || fail "controller not ready"
ok "identity controller ready with the kubernetes token verifier"

certify() { # TOKEN OUTDIR → STATUS, MESSAGE
  mkdir -p "$2"
  local out
  out=$("$PY" "$H/identity_client.py" "$T/weft.pb" "127.0.0.1:$PORT" "$ID" "$1" good.csr "$2" \
    ca.crt "$SVC_ID") || fail "identity client crashed: $out"
  STATUS=$(sed -n 's/^STATUS //p' <<<"$out")
  MESSAGE=$(sed -n 's/^MESSAGE //p' <<<"$out")
}
certify tok-web r1
assert_eq "$STATUS" OK "the ServiceAccount's own token → a certificate"
openssl x509 -inform DER -in r1/leaf.der -out r1/leaf.pem
assert_eq "$(openssl verify -CAfile ca.crt -untrusted issuer.crt r1/leaf.pem 2>&1)" "r1/leaf.pem: OK" \
  "the leaf verifies"
certify tok-db r2
assert_eq "$STATUS" PERMISSION_DENIED "another ServiceAccount's token → PERMISSION_DENIED"
assert_contains "$MESSAGE" "system:serviceaccount:demo:db" "the message names whose token it was"
certify garbage r3
assert_eq "$STATUS" UNAUTHENTICATED "an unknown token → UNAUTHENTICATED"

kill "$API_PID"; wait "$API_PID" 2>/dev/null || true
certify tok-web r4
assert_eq "$STATUS" UNAVAILABLE "API server gone → UNAVAILABLE"
certify tok-db r5
assert_eq "$STATUS" UNAVAILABLE "... for every call, and the service keeps answering"
