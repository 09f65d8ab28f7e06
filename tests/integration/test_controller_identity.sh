#!/usr/bin/env bash
# weft-controller identity end to end, on 127.0.0.1 only:
#   - a CA hierarchy made by `weft identity create-root/create-issuer`;
#   - a local token store entry (file named by the token's hex SHA-256);
#   - a python3-grpcio client (helpers/identity_client.py) sends CSRs made by
#     `openssl req`; the leaf must verify with `openssl verify` against the
#     root + issuer, carry the SAN and last ~24h;
#   - wrong token → UNAUTHENTICATED, token for someone else → PERMISSION_DENIED,
#     SAN ≠ identity / bad identity → INVALID_ARGUMENT, counted in /metrics;
#   - issuer rotation while running: new leaves are signed by the new issuer;
#     a bad new pair is refused and the current issuer kept;
#   - SIGTERM → exit 0; an expired issuer, a mismatched key or an issuer from
#     another root → refuses to start (exit 1) naming the problem.
# Environment: WEFT_BIN (dir with weft and weft-controller; required), WEFT_SRC.
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
CLIENT=("$PY" "$WEFT_SRC/tests/integration/helpers/identity_client.py")
PROM_SUM=("$PY" "$WEFT_SRC/tests/integration/helpers/prom_sum.py")
CTL="$WEFT_BIN/weft-controller"
WEFT="$WEFT_BIN/weft"
NAME=test_controller_identity
for b in "$CTL" "$WEFT"; do [[ -x $b ]] || { echo "FAILED: $b not built"; exit 1; }; done
command -v protoc-c >/dev/null || { echo "FAILED: protoc-c missing (scripts/deps)"; exit 1; }
command -v openssl >/dev/null || { echo "FAILED: openssl missing"; exit 1; }
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
  { echo "FAILED: python3-grpcio / python3-protobuf missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
CTL_PID=""
cleanup() {
  local rc=$?
  if [[ -n $CTL_PID ]]; then kill "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; fi
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -40 "$f"; }; done
    echo "FAILED $NAME"
  fi
  rm -rf "$T"
}
trap cleanup EXIT

ASSERTS=0
fail() { echo "[$NAME] FAIL: $*" >&2; exit 1; }
ok() { ASSERTS=$((ASSERTS + 1)); echo "[$NAME] ok: $*"; }
assert_eq() { [[ "$1" == "$2" ]] || fail "$3: got '$1', want '$2'"; ok "$3"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: $1"; ok "$3"; }
assert_not_contains() { [[ "$1" != *"$2"* ]] || fail "$3: '$2' in: $1"; ok "$3"; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

protoc-c --proto_path="$WEFT_SRC/proto" --include_imports \
  --descriptor_set_out="$T/weft.pb" identity.proto

# ---- CA hierarchy and token store ---------------------------------------------
cd "$T"
"$WEFT" identity create-root --out-cert ca.crt --out-key ca.key >/dev/null
"$WEFT" identity create-issuer --ca-cert ca.crt --ca-key ca.key \
  --out-cert issuer.crt --out-key issuer.key >/dev/null
mkdir tokens
ID=web.emojivoto.serviceaccount.identity.linkerd.cluster.local
OTHER=db.emojivoto.serviceaccount.identity.linkerd.cluster.local
TOKEN=web-token-$RANDOM$RANDOM
add_token() { # TOKEN IDENTITY
  local h
  h=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)
  printf '%s\n' "$2" >"tokens/$h"
}
add_token "$TOKEN" "$ID"
add_token db-token "$OTHER"

# CSR for a SAN, as the proxy will make it (P-256, one DNS SAN), in DER.
make_csr() { # SAN OUT.der
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$2.key" \
    -subj / -addext "subjectAltName=$1" -outform DER -out "$2" 2>/dev/null
}
make_csr "DNS:$ID" good.csr
make_csr "DNS:$OTHER" other.csr
openssl req -new -newkey rsa:2048 -nodes -keyout rsa.key -subj / \
  -addext "subjectAltName=DNS:$ID" -outform DER -out rsa.csr 2>/dev/null

# ---- start the controller -------------------------------------------------------
PORT=$(free_port)
ADMIN=$(free_port)
start_ctl() {
  "$CTL" identity --addr "127.0.0.1:$PORT" --admin-addr "127.0.0.1:$ADMIN" \
    --issuer-cert issuer.crt --issuer-key issuer.key --trust-anchors ca.crt \
    --token-store tokens "$@" >"$T/controller.log" 2>&1 &
  CTL_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null 2>&1 && return 0
    kill -0 "$CTL_PID" 2>/dev/null || fail "weft-controller exited during start-up"
    sleep 0.1
  done
  fail "weft-controller did not become ready"
}
start_ctl
ok "controller ready on 127.0.0.1:$PORT (admin $ADMIN)"
assert_eq "$(curl -s "http://127.0.0.1:$ADMIN/live")" "live" "/live answers"

certify() { # IDENTITY TOKEN CSR OUTDIR → sets STATUS, MESSAGE, VALID_UNTIL
  mkdir -p "$4"
  local out
  out=$("${CLIENT[@]}" "$T/weft.pb" "127.0.0.1:$PORT" "$1" "$2" "$3" "$4" "${TLS_ARGS[@]}") ||
    fail "identity client crashed: $out"
  STATUS=$(sed -n 's/^STATUS //p' <<<"$out")
  MESSAGE=$(sed -n 's/^MESSAGE //p' <<<"$out")
  VALID_UNTIL=$(sed -n 's/^VALID_UNTIL //p' <<<"$out")
}
der2pem() { openssl x509 -inform DER -in "$1" -out "$2"; }
metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | "${PROM_SUM[@]}" "$@"; }

# ---- the transport is TLS 1.3 with the service's own mesh identity --------------------
SVC_ID=weft-identity.linkerd.serviceaccount.identity.linkerd.cluster.local
s_out=$(openssl s_client -connect "127.0.0.1:$PORT" -alpn h2 -CAfile ca.crt \
  -verify_hostname "$SVC_ID" -verify_return_error </dev/null 2>&1 | tr -d "\\0") || true
assert_contains "$s_out" "Verify return code: 0 (ok)" "serving cert verifies against the anchors as $SVC_ID"
assert_contains "$s_out" "New, TLSv1.3, Cipher is TLS_AES" "TLS 1.3"
assert_contains "$s_out" "ALPN protocol: h2" "ALPN h2"
s_out=$(openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 </dev/null 2>&1) || true
assert_not_contains "$s_out" "Cipher is ECDHE" "TLS 1.2 is refused"
TLS_ARGS=()
certify "$ID" "$TOKEN" good.csr r0
assert_eq "$STATUS" UNAVAILABLE "a plaintext client gets nowhere"
TLS_ARGS=(ca.crt "$SVC_ID")
certify "$ID" "$TOKEN" good.csr r0
assert_eq "$STATUS" OK "python3-grpcio over TLS, verifying $SVC_ID"
TLS_ARGS=(ca.crt "other.linkerd.serviceaccount.identity.linkerd.cluster.local")
certify "$ID" "$TOKEN" good.csr r0
assert_eq "$STATUS" UNAVAILABLE "a client expecting another identity refuses the server"
TLS_ARGS=(ca.crt "$SVC_ID")

# ---- a good request -------------------------------------------------------------------
now=$(date +%s)
certify "$ID" "$TOKEN" good.csr r1
assert_eq "$STATUS" OK "Certify with a good CSR and token"
der2pem r1/leaf.der r1/leaf.pem
der2pem r1/intermediate0.der r1/inter.pem
assert_eq "$(openssl verify -CAfile ca.crt -untrusted r1/inter.pem r1/leaf.pem 2>&1)" \
  "r1/leaf.pem: OK" "leaf verifies against the root with the returned intermediate"
assert_eq "$(openssl verify -CAfile ca.crt -untrusted issuer.crt r1/leaf.pem 2>&1)" \
  "r1/leaf.pem: OK" "leaf verifies with openssl verify -CAfile root -untrusted issuer"
cmp -s r1/inter.pem issuer.crt || fail "intermediate is not the issuer certificate"
ok "intermediate is the issuer certificate"
san=$(openssl x509 -in r1/leaf.pem -noout -ext subjectAltName)
assert_contains "$san" "DNS:$ID" "leaf SAN is the identity"
[[ $(grep -c 'DNS:' <<<"$san") -eq 1 ]] || fail "leaf has more than one SAN: $san"
ok "leaf has exactly one SAN"
openssl x509 -in r1/leaf.pem -noout -pubkey >r1/leaf.pub
openssl pkey -in good.csr.key -pubout >r1/csr.pub
cmp -s r1/leaf.pub r1/csr.pub || fail "leaf key is not the CSR's key"
ok "leaf certifies the CSR's key"
nb=$(date -d "$(openssl x509 -in r1/leaf.pem -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in r1/leaf.pem -noout -enddate | cut -d= -f2)" +%s)
(( na - now >= 86400 - 5 && na - now <= 86400 + 5 )) || fail "notAfter is not now+24h ($((na - now))s)"
ok "leaf lasts 24h"
(( now - nb >= 15 && now - nb <= 25 )) || fail "notBefore is not now-20s ($((now - nb))s)"
ok "leaf notBefore is back-dated by the 20s skew allowance"
assert_eq "$VALID_UNTIL" "$na" "valid_until is the leaf's notAfter"
openssl x509 -in r1/leaf.pem -noout -ext extendedKeyUsage | grep -q "TLS Web Server Authentication, TLS Web Client Authentication" ||
  fail "leaf lacks serverAuth+clientAuth"
ok "leaf is for TLS server and client auth"

# ---- refusals -------------------------------------------------------------------------
certify "$ID" wrong-token good.csr r2
assert_eq "$STATUS" UNAUTHENTICATED "unknown token → UNAUTHENTICATED"
certify "$ID" "" good.csr r2
assert_eq "$STATUS" UNAUTHENTICATED "empty token → UNAUTHENTICATED"
certify "$ID" db-token good.csr r2
assert_eq "$STATUS" PERMISSION_DENIED "another workload's token → PERMISSION_DENIED"
certify "$ID" "$TOKEN" other.csr r2
assert_eq "$STATUS" INVALID_ARGUMENT "CSR SAN ≠ identity → INVALID_ARGUMENT"
assert_contains "$MESSAGE" "does not match the requested identity" "the message says why"
certify "$ID" "$TOKEN" rsa.csr r2
assert_eq "$STATUS" INVALID_ARGUMENT "RSA CSR → INVALID_ARGUMENT"
assert_contains "$MESSAGE" "want ECDSA P-256" "the message names the key type"
head -c 100 /dev/urandom >garbage.csr
certify "$ID" "$TOKEN" garbage.csr r2
assert_eq "$STATUS" INVALID_ARGUMENT "garbage CSR → INVALID_ARGUMENT"
certify web.emojivoto.serviceaccount.identity.weft.cluster.local "$TOKEN" good.csr r2
assert_eq "$STATUS" INVALID_ARGUMENT "identity for another control plane → INVALID_ARGUMENT"
assert_contains "$MESSAGE" "serviceaccount.identity.linkerd.cluster.local" "message shows the expected form"

assert_eq "$(metric identity_certify_total 'result="ok"')" 2 "metrics: 2 ok"
assert_eq "$(metric identity_certify_total 'result="unauthenticated"')" 2 "metrics: 2 unauthenticated"
assert_eq "$(metric identity_certify_total 'result="permission_denied"')" 1 "metrics: 1 permission_denied"
assert_eq "$(metric identity_certify_total 'result="invalid_csr"')" 3 "metrics: 3 invalid_csr"
assert_eq "$(metric identity_certify_total 'result="invalid_identity"')" 1 "metrics: 1 invalid_identity"
issuer_na=$(date -d "$(openssl x509 -in issuer.crt -noout -enddate | cut -d= -f2)" +%s)
assert_eq "$(metric identity_issuer_expiry_timestamp_seconds)" "$issuer_na" "metrics: issuer expiry"
metric process_resident_memory_bytes >/dev/null
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -q '^process_start_time_seconds ' ||
  fail "no process_* metrics"
ok "metrics: process_* families"

# ---- issuer rotation while running ----------------------------------------------------
"$WEFT" identity create-issuer --ca-cert ca.crt --ca-key ca.key --not-after 4000h \
  --out-cert new.crt --out-key new.key >/dev/null
cp new.crt issuer.crt.tmp && cp new.key issuer.key.tmp
mv issuer.key.tmp issuer.key && mv issuer.crt.tmp issuer.crt
for _ in $(seq 50); do
  [[ $(metric identity_issuer_reloads_total 'result="ok"') -ge 1 ]] && break
  sleep 0.1
done
assert_eq "$(metric identity_issuer_reloads_total 'result="ok"')" 1 "the new issuer was loaded"
certify "$ID" "$TOKEN" good.csr r3
assert_eq "$STATUS" OK "Certify after rotation"
der2pem r3/leaf.der r3/leaf.pem
der2pem r3/intermediate0.der r3/inter.pem
cmp -s r3/inter.pem new.crt || fail "intermediate after rotation is not the new issuer"
ok "intermediate after rotation is the new issuer"
assert_eq "$(openssl verify -CAfile ca.crt -untrusted new.crt r3/leaf.pem 2>&1)" "r3/leaf.pem: OK" \
  "new leaf verifies with the new issuer"
openssl verify -CAfile ca.crt -untrusted r1/inter.pem r3/leaf.pem >/dev/null 2>&1 &&
  fail "new leaf verifies with the old issuer"
ok "new leaf is not signed by the old issuer"
new_na=$(date -d "$(openssl x509 -in new.crt -noout -enddate | cut -d= -f2)" +%s)
assert_eq "$(metric identity_issuer_expiry_timestamp_seconds)" "$new_na" "metrics: new issuer expiry"

# A bad pair (key of the old issuer with the new cert) is refused; the new
# issuer stays in use.
cp r1/inter.pem issuer.crt
for _ in $(seq 50); do
  [[ $(metric identity_issuer_reloads_total 'result="error"') -ge 1 ]] && break
  sleep 0.1
done
assert_eq "$(metric identity_issuer_reloads_total 'result="error"')" 1 "mismatched pair refused"
grep -q "keeping the current issuer" "$T/controller.log" || fail "refusal not logged"
ok "refusal logged"
certify "$ID" "$TOKEN" good.csr r4
assert_eq "$STATUS" OK "Certify still works after a bad reload"
der2pem r4/intermediate0.der r4/inter.pem
cmp -s r4/inter.pem new.crt || fail "a bad reload replaced the issuer"
ok "the current issuer was kept"
cp new.crt issuer.crt

# ---- SIGTERM ----------------------------------------------------------------------------
kill -TERM "$CTL_PID"
rc=0
wait "$CTL_PID" || rc=$?
CTL_PID=""
assert_eq "$rc" 0 "SIGTERM → exit 0"
grep -q "received SIGTERM" "$T/controller.log" || fail "SIGTERM not logged"
ok "shutdown logged"

# ---- refusing to start --------------------------------------------------------------------
refuse() { # WANT-SUBSTRING DESCRIPTION controller-args...
  local want=$1 what=$2 rc=0
  shift 2
  timeout 10 "$CTL" identity --addr "127.0.0.1:$PORT" --admin-addr "127.0.0.1:$ADMIN" \
    --token-store tokens "$@" >"$T/refuse.log" 2>&1 || rc=$?
  assert_eq "$rc" 1 "$what: exit 1"
  assert_contains "$(cat "$T/refuse.log")" "$want" "$what: message"
}
"$WEFT" identity create-issuer --ca-cert ca.crt --ca-key ca.key --not-after 2s \
  --out-cert short.crt --out-key short.key >/dev/null
"$WEFT" identity create-root --out-cert other-ca.crt --out-key other-ca.key >/dev/null
"$WEFT" identity create-issuer --ca-cert other-ca.crt --ca-key other-ca.key \
  --out-cert foreign.crt --out-key foreign.key >/dev/null
refuse "does not match" "mismatched issuer key" \
  --issuer-cert issuer.crt --issuer-key ca.key --trust-anchors ca.crt
refuse "not signed by the trust anchors" "issuer from another root" \
  --issuer-cert foreign.crt --issuer-key foreign.key --trust-anchors ca.crt
sleep 3
refuse "expired" "expired issuer" \
  --issuer-cert short.crt --issuer-key short.key --trust-anchors ca.crt
rc=0
"$CTL" identity --issuer-cert issuer.crt >"$T/usage.log" 2>&1 || rc=$?
assert_eq "$rc" 2 "missing flags: exit 2"
assert_contains "$(cat "$T/usage.log")" "--issuer-key" "missing flag named"

echo "[$NAME] $ASSERTS assertions"
echo "PASS $NAME"
