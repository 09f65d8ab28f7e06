#!/usr/bin/env bash
# test_proxy_mtls_inbound — workload identity end to end (issue #4):
#   - a real weft-controller identity in its own pod; a meshed pod's proxy
#     generates its key in memory, certifies over TLS, becomes ready with a
#     leaf for its identity, and renews it (short-lived certs);
#   - /ready stays 503 while the identity service is unreachable;
#   - a curl client holding a mesh cert reaches the app over mTLS with the
#     right l5d-client-id and metric labels (tls="true", client_id);
#   - a raw capture on the wire shows no plaintext application bytes;
#   - bad input: a client cert from another trust anchor, an expired client
#     cert, TLS 1.2, a spoofed l5d-client-id header, TLS for another name
#     (relayed to the app untouched) — each refused or handled, and the
#     proxy keeps serving everyone else.
source "$(dirname "$0")/lib.sh"

WEFT=$WEFT_BIN/weft
CTL=$WEFT_BIN/weft-controller
[ -x "$CTL" ] || fail "$CTL not built"
command -v tcpdump >/dev/null || fail "missing tcpdump (run scripts/deps)"

pod_add cp
pod_add a
pod_add b
pod_add c

cd "$T" || exit 1
chmod 755 "$T" # the proxy (uid 2102) reads its token under here
"$WEFT" identity create-root --out-cert ca.crt --out-key ca.key >/dev/null
"$WEFT" identity create-issuer --ca-cert ca.crt --ca-key ca.key \
  --out-cert issuer.crt --out-key issuer.key >/dev/null
"$WEFT" identity create-root --out-cert evil-ca.crt --out-key evil-ca.key >/dev/null
"$WEFT" identity create-issuer --ca-cert evil-ca.crt --ca-key evil-ca.key \
  --out-cert evil-issuer.crt --out-key evil-issuer.key >/dev/null

B_ID=web.demo.serviceaccount.identity.linkerd.cluster.local
A_ID=client.demo.serviceaccount.identity.linkerd.cluster.local
SVC_ID=weft-identity.linkerd.serviceaccount.identity.linkerd.cluster.local
mkdir -p tokens pod-b
B_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$B_TOKEN" >pod-b/token
chown -R "$PROXY_UID:$PROXY_UID" pod-b
chmod 600 pod-b/token
echo "$B_ID" >"tokens/$(printf '%s' "$B_TOKEN" | sha256sum | cut -d' ' -f1)"

# A client cert for A (what another meshed proxy would hold), one from a
# foreign trust anchor, and one that expired yesterday.
"$WEFT" identity create "$A_ID" a.crt a.key --profile leaf --ca issuer.crt --ca-key issuer.key >/dev/null
cat a.crt issuer.crt >a-chain.crt
"$WEFT" identity create "$A_ID" evil.crt evil.key --profile leaf \
  --ca evil-issuer.crt --ca-key evil-issuer.key >/dev/null
cat evil.crt evil-issuer.crt >evil-chain.crt
"$WEFT" identity create "$A_ID" old.crt old.key --profile leaf \
  --ca issuer.crt --ca-key issuer.key --not-after 1s >/dev/null
cat old.crt issuer.crt >old-chain.crt

# ---- control plane ---------------------------------------------------------------------
LIFETIME=12
start_bg cp "$CTL" identity --addr 0.0.0.0:8080 --admin-addr 127.0.0.1:9990 \
  --issuer-cert issuer.crt --issuer-key issuer.key --trust-anchors ca.crt \
  --token-store tokens --issuance-lifetime "${LIFETIME}s" >"$T/controller.log" 2>&1
wait_listen cp 8080

IDENTITY_ENV=(
  "WEFT_PROXY_IDENTITY_TRUST_ANCHORS=$(cat ca.crt)"
  "WEFT_PROXY_IDENTITY_TOKEN_FILE=$T/pod-b/token"
  "WEFT_PROXY_IDENTITY_SVC_NAME=$SVC_ID"
  "WEFT_PROXY_IDENTITY_LOCAL_NAME=$B_ID"
)

# ---- not ready while the identity service is away --------------------------------------
pod_init c
start_bg c setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
  env -i "${IDENTITY_ENV[@]}" "WEFT_PROXY_IDENTITY_SVC_ADDR=${POD_IP[cp]}:8081" \
  "$WEFT_BIN/weft-proxy" >"$T/proxy-c.log" 2>&1
C_PID=$BG_PID
c_failures() {
  in_pod c curl -s http://127.0.0.1:4191/metrics |
    "${PROM_SUM[@]}" identity_cert_refreshes_total 'result="failure"'
}
wait_until 20 eval '[ "$(c_failures 2>/dev/null || echo 0)" -ge 2 ]' ||
  fail "no failed refresh counted against a closed identity port"
assert_eq "$(in_pod c curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4191/ready)" 503 \
  "/ready is 503 without a certificate"
assert_contains "$(cat "$T/proxy-c.log")" "cannot obtain a certificate for $B_ID" \
  "the proxy says why it has no certificate"
kill "$C_PID"

# ---- the meshed pod: certified, ready, app sees l5d-client-id --------------------------
start_bg b "$PY" "$WT_LIB_DIR/helpers/h1peer.py" serve --port 8080 --log "$T/app.jsonl"
wait_listen b 8080
pod_mesh b "${IDENTITY_ENV[@]}" "WEFT_PROXY_IDENTITY_SVC_ADDR=${POD_IP[cp]}:8080"
_ok "proxy became ready against the identity service"
exp=$(metric b identity_cert_expiration_timestamp_seconds)
now=$(date +%s)
assert_ge "$exp" "$((now + LIFETIME - 5))" "expiration gauge is the leaf's notAfter"
assert_le "$exp" "$((now + LIFETIME + 1))" "expiration gauge is the leaf's notAfter (upper)"
assert_contains "$(cat "${PROXY_LOG[b]}")" "certified as $B_ID" "proxy logs its identity"

# The server cert it presents is ours, issued by the CA, for B_ID.
s_out=$(in_pod a openssl s_client -connect "${POD_IP[b]}:8080" -servername "$B_ID" \
  -CAfile ca.crt -verify_hostname "$B_ID" -verify_return_error -cert a.crt -key a.key \
  -cert_chain issuer.crt </dev/null 2>&1 | tr -d '\0') || true
assert_contains "$s_out" "Verify return code: 0 (ok)" "inbound presents a cert for $B_ID chained to the anchor"
assert_contains "$s_out" "New, TLSv1.3" "inbound mTLS is TLS 1.3"

mtls_curl() { # CERT KEY PATH [curl args...]
  local cert=$1 key=$2 path=$3
  shift 3
  in_pod a curl -sS --max-time 5 --tlsv1.3 --cacert ca.crt --cert "$cert" --key "$key" \
    --resolve "$B_ID:8080:${POD_IP[b]}" "$@" "https://$B_ID:8080$path"
}
app_header() { # SEQ-MARKER HEADER → value of HEADER in the app's record of that request
  "$PY" - "$T/app.jsonl" "$1" "$2" <<'EOF'
import json, sys
path, marker, name = sys.argv[1:4]
for line in open(path):
    r = json.loads(line)
    if r.get("kind") == "request" and marker in r.get("target", ""):
        vals = [v for k, v in r["headers"] if k.lower() == name]
        print(vals[0] if vals else "<none>")
        break
else:
    print("<no request>")
EOF
}

out=$(mtls_curl a-chain.crt a.key "/one?m=one" -o /dev/null -w '%{http_code}') || true
assert_eq "$out" 200 "mTLS request with a mesh client cert reaches the app"
assert_eq "$(app_header m=one l5d-client-id)" "$A_ID" "app sees l5d-client-id = the client's identity"
out=$(mtls_curl a-chain.crt a.key "/two?m=two" -H "l5d-client-id: evil.ns.serviceaccount.identity.linkerd.cluster.local" \
  -o /dev/null -w '%{http_code}') || true
assert_eq "$out" 200 "mTLS request with a forged l5d-client-id"
assert_eq "$(app_header m=two l5d-client-id)" "$A_ID" "a forged l5d-client-id is replaced by the real one"
assert_ge "$(metric b request_total "direction=\"inbound\",tls=\"true\",client_id=\"$A_ID\"")" 2 \
  "request_total has tls=\"true\" and client_id"
assert_ge "$(metric b response_total "direction=\"inbound\",tls=\"true\",client_id=\"$A_ID\",status_code=\"200\"")" 2 \
  "response_total has tls=\"true\" and client_id"
assert_ge "$(metric b tcp_open_total "direction=\"inbound\",peer=\"src\",tls=\"true\",client_id=\"$A_ID\"")" 2 \
  "tcp_open_total has tls=\"true\" and client_id"

# Bodies much larger than a TLS record and the kernel's first receive
# window cross intact (regression: a stale "drained" flag once stranded the
# tail of a body in the kernel).
head -c 300000 /dev/urandom >"$T/big.bin"
for k in 1 2 3; do
  out=$(mtls_curl a-chain.crt a.key "/big-$k?m=big$k" --data-binary @"$T/big.bin" -o /dev/null \
    -w '%{http_code}') || true
  assert_eq "$out" 200 "300 KB POST over mTLS (#$k)"
done
sum=$("$PY" - "$T/app.jsonl" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "request" and "m=big3" in r.get("target", ""):
        print(r["body_sha256"])
PYEOF
)
assert_eq "$sum" "$(sha256sum "$T/big.bin" | cut -d' ' -f1)" "the app got the body intact"

# Plaintext from a non-meshed client still works, without an identity.
out=$(in_pod a curl -s --max-time 5 -o /dev/null -w '%{http_code}' \
  -H "l5d-client-id: $A_ID" "http://${POD_IP[b]}:8080/three?m=three") || true
assert_eq "$out" 200 "plaintext request still served"
assert_eq "$(app_header m=three l5d-client-id)" "<none>" "a plaintext client cannot claim an identity"
assert_ge "$(metric b request_total 'direction="inbound",tls="no_identity",no_tls_reason="no_tls_from_remote"')" 1 \
  "plaintext labelled tls=\"no_identity\""

# TLS without a client certificate: served, no identity.
out=$(in_pod a curl -sS --max-time 5 --tlsv1.3 --cacert ca.crt --resolve "$B_ID:8080:${POD_IP[b]}" \
  -o /dev/null -w '%{http_code}' "https://$B_ID:8080/four?m=four") || true
assert_eq "$out" 200 "mTLS without a client cert is served"
assert_eq "$(app_header m=four l5d-client-id)" "<none>" "no client cert, no l5d-client-id"

# ---- no plaintext on the mTLS hop ------------------------------------------------------
MARK="weft-secret-marker-$RANDOM$RANDOM"
start_bg a tcpdump --immediate-mode -i eth0 -U -s 0 -w "$T/hop.pcap" "tcp port 8080" >"$T/tcpdump.log" 2>&1
TCPDUMP_PID=$BG_PID
wait_until 5 grep -q "listening on" "$T/tcpdump.log" || fail "tcpdump did not start"
out=$(mtls_curl a-chain.crt a.key "/$MARK?m=$MARK" -H "x-secret: $MARK" -o /dev/null -w '%{http_code}') || true
assert_eq "$out" 200 "request carrying the marker"
PLAIN="weft-plain-marker-$RANDOM$RANDOM"
in_pod a curl -s --max-time 5 -o /dev/null "http://${POD_IP[b]}:8080/$PLAIN" || true
wait_until 5 grep -aq "$PLAIN" "$T/hop.pcap" || fail "the capture did not see the plaintext request"
kill_tree "$TCPDUMP_PID" INT
grep -q "$MARK" "$T/app.jsonl" || fail "the app never saw the marker"
# The capture saw the plaintext request (so it captured at all), and never
# the marker the mTLS request carried in its path, a header and the answer.
_ok "the capture shows the plaintext request's marker"
hits=$(grep -a -c "$MARK" "$T/hop.pcap" || true)
assert_eq "$hits" 0 "no plaintext application bytes on the mTLS hop"

# ---- bad input ------------------------------------------------------------------------
errs_before=$(metric b inbound_tcp_errors_total 'error="tls_handshake_failed"' 2>/dev/null || echo 0)
mtls_curl evil-chain.crt evil.key /evil -o /dev/null 2>/dev/null &&
  fail "a client cert from another trust anchor was accepted"
_ok "a client cert from another trust anchor is refused"
wait_until 10 eval '! openssl x509 -in old.crt -noout -checkend 0 >/dev/null' ||
  fail "old.crt did not expire"
mtls_curl old-chain.crt old.key /old -o /dev/null 2>/dev/null &&
  fail "an expired client cert was accepted"
_ok "an expired client cert is refused"
in_pod a curl -sS --max-time 5 --tls-max 1.2 --cacert ca.crt --resolve "$B_ID:8080:${POD_IP[b]}" \
  -o /dev/null "https://$B_ID:8080/tls12" 2>/dev/null && fail "TLS 1.2 was accepted"
_ok "TLS 1.2 is refused"
errs=$(metric b inbound_tcp_errors_total 'error="tls_handshake_failed"')
assert_ge "$errs" "$((errs_before + 3))" "failed handshakes are counted"
assert_contains "$(cat "${PROXY_LOG[b]}")" "mTLS handshake from" "failed handshakes are logged with a reason"

# TLS for another name is not ours: relayed to the app as bytes (the proxy
# opens a connection to the app and passes the ClientHello on).
dst_before=$(metric b tcp_open_total 'direction="inbound",peer="dst",target_port="8080"')
in_pod a timeout 5 openssl s_client -connect "${POD_IP[b]}:8080" -servername other.example.com \
  </dev/null >/dev/null 2>&1 &
SCL=$!
wait_until 5 eval '[ "$(metric b tcp_open_total "direction=\"inbound\",peer=\"dst\",target_port=\"8080\"")" -gt "$dst_before" ]' ||
  fail "TLS for another name did not reach the app"
_ok "TLS for another server name is relayed to the app untouched"
kill_tree "$SCL"
assert_eq "$(metric b inbound_tcp_errors_total 'error="tls_handshake_failed"')" "$errs" \
  "relayed TLS is not a failed handshake"

# Still serving everyone.
out=$(mtls_curl a-chain.crt a.key "/after?m=after" -o /dev/null -w '%{http_code}') || true
assert_eq "$out" 200 "mTLS still served after the bad input"

# ---- renewal -----------------------------------------------------------------------------
first_exp=$(metric b identity_cert_expiration_timestamp_seconds)
wait_until 30 eval '[ "$(metric b identity_cert_refreshes_total "result=\"success\"")" -ge 3 ]' ||
  fail "the certificate was not renewed"
_ok "the certificate is renewed before it expires (3 refreshes with ${LIFETIME}s certs)"
assert_gt "$(metric b identity_cert_expiration_timestamp_seconds)" "$first_exp" "expiration moved forward"
out=$(mtls_curl a-chain.crt a.key "/renewed?m=renewed" -o /dev/null -w '%{http_code}') || true
assert_eq "$out" 200 "mTLS works with the renewed certificate"
notafter=$(in_pod a openssl s_client -connect "${POD_IP[b]}:8080" -servername "$B_ID" \
  -cert a.crt -key a.key -cert_chain issuer.crt </dev/null 2>/dev/null |
  openssl x509 -noout -enddate | cut -d= -f2)
assert_gt "$(date -d "$notafter" +%s)" "$first_exp" "handshakes use the renewed certificate"
assert_eq "$(metric b identity_cert_refreshes_total 'result="failure"')" 0 "no failed refresh"


