#!/usr/bin/env bash
# test_proxy_mesh_mtls — two meshed pods talking through a Service address:
# a's outbound proxy asks the real destination service where the Service's
# endpoints are, tunnels to b's proxy over mTLS (SNI and verified identity
# = what discovery said; transport header carrying the app port), and b's
# proxy hands the request to its app with l5d-client-id. Covers HTTP and an
# opaque protocol (redis), no plaintext on the wire, a Service without
# endpoints (fail fast), and the control plane going away (cached answers
# keep working).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mesh_lib.sh"

command -v tcpdump >/dev/null || fail "missing tcpdump (run scripts/deps)"
command -v redis-server >/dev/null || fail "missing redis-server (run scripts/deps)"

for p in cp a b b2 x i; do pod_add $p; done
mesh_init
A_ID=$(mesh_id client)
B_ID=$(mesh_id web)
I_ID=$(mesh_id ingress)
mesh_token a client
mesh_token b web
mesh_token b2 web
mesh_token x impostor
mesh_token i ingress

# ---- the cluster state the destination service reads ------------------------------------
mesh_pod web-0 b web 8080 6379
mesh_service web 10.43.0.10 80 8080 web-0:b
mesh_service redis 10.43.0.20 6379 6379 web-0:b
mesh_service empty 10.43.0.30 80 8080

# ---- control plane ---------------------------------------------------------------------
mesh_cp_start
start_bg b "$PY" "$WT_LIB_DIR/helpers/h1peer.py" serve --port 8080 --log "$T/app.jsonl"
start_bg b redis-server --port 6379 --bind 0.0.0.0 --save "" --appendonly no --protected-mode no \
  >"$T/redis.log" 2>&1
wait_listen b 8080
wait_listen b 6379
mesh_env b web
pod_mesh b "${MESH_ENV[@]}"
mesh_env a client
pod_mesh a "${MESH_ENV[@]}"
mesh_env i ingress "WEFT_PROXY_INGRESS_MODE=true"
pod_mesh i "${MESH_ENV[@]}"

app_header() { # MARKER HEADER
  "$PY" - "$T/app.jsonl" "$1" "$2" <<'PYEOF'
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
PYEOF
}

# ---- HTTP through the Service address, over mTLS ------------------------------------------
MARK="weft-mesh-marker-$RANDOM$RANDOM"
start_bg a tcpdump --immediate-mode -i eth0 -U -s 0 -w "$T/hop.pcap" "tcp" >"$T/tcpdump.log" 2>&1
TCPDUMP_PID=$BG_PID
wait_until 5 grep -q "listening on" "$T/tcpdump.log" || fail "tcpdump did not start"

out=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -H "x-secret: $MARK" \
  "http://10.43.0.10/$MARK") || true
assert_eq "$out" 200 "a → web Service (10.43.0.10:80) answered"
assert_eq "$(app_header "$MARK" l5d-client-id)" "$A_ID" "b's app sees a's identity in l5d-client-id"
assert_ge "$(metric a tcp_open_total "direction=\"outbound\",peer=\"dst\",tls=\"true\",server_id=\"$B_ID\"")" 1 \
  "a's outbound hop is mTLS to $B_ID (tcp_open_total server_id)"
assert_ge "$(metric b request_total "direction=\"inbound\",tls=\"true\",client_id=\"$A_ID\",target_port=\"8080\"")" 1 \
  "b's inbound counted the request as mTLS from $A_ID on port 8080"

app_field() { # MARKER FIELD → the app's record of that request: FIELD
  "$PY" - "$T/app.jsonl" "$1" "$2" <<'PYEOF'
import json, sys
path, marker, field = sys.argv[1:4]
for line in open(path):
    r = json.loads(line)
    if r.get("kind") == "request" and marker in r.get("target", ""):
        print(r.get(field))
        break
else:
    print("<no request>")
PYEOF
}

# HTTP/1.1 semantics survive the HTTP/2 hop between the proxies.
assert_eq "$(app_field "$MARK" version)" "1.1" "the app got HTTP/1.1"
assert_eq "$(app_header "$MARK" l5d-orig-proto)" "<none>" "l5d-orig-proto does not reach the app"
assert_ge "$(metric a request_total "direction=\"outbound\",tls=\"true\",server_id=\"$B_ID\"")" 1 \
  "a's outbound request metrics say tls=\"true\" and server_id"
assert_ge "$(metric a response_total 'direction="outbound",dst_namespace="demo",dst_service="web"')" 1 \
  "a's outbound metrics carry the Service's dst_namespace and dst_service"
assert_ge "$(metric a response_total 'direction="outbound",dst_service="web",dst_pod="web-0",dst_serviceaccount="web"')" 1 \
  "... and the endpoint's own: dst_pod, dst_serviceaccount"
head -c 70000 /dev/urandom >"$T/body.bin"
out=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -H "Transfer-Encoding: chunked" \
  --data-binary @"$T/body.bin" "http://10.43.0.10/chunked-$MARK") || true
assert_eq "$out" 200 "chunked POST through the mesh"
assert_eq "$(app_field "chunked-$MARK" framing)" chunked "the app got the body chunked"
assert_eq "$(app_field "chunked-$MARK" body_sha256)" "$(sha256sum "$T/body.bin" | cut -d' ' -f1)" "body intact"
out=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' --data-binary @"$T/body.bin" \
  "http://10.43.0.10/length-$MARK") || true
assert_eq "$out" 200 "content-length POST through the mesh"
assert_eq "$(app_field "length-$MARK" framing)" length "the app got a content-length body"
out=$(in_pod a curl -sS --max-time 5 -D - -o /dev/null "http://10.43.0.10/cl?n=5000&rb=chunked" \
  "http://10.43.0.10/cl2?n=300" 2>&1) || true
assert_contains "$out" "transfer-encoding: chunked" "a chunked response stays chunked"
assert_contains "$out" "content-length: 300" "a content-length response keeps its length"
keep=$(in_pod a curl -sS --max-time 5 -o /dev/null -o /dev/null -w '%{num_connects}\n' \
  "http://10.43.0.10/k1" "http://10.43.0.10/k2") || true
assert_eq "$(echo "$keep" | tr '\n' ' ')" "1 0 " "keep-alive: two requests on one client connection"
out=$(in_pod a curl -sS --max-time 5 -I -o /dev/null -w '%{http_code}' "http://10.43.0.10/head?n=100") || true
assert_eq "$out" 200 "HEAD through the mesh"
out=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://10.43.0.10/nc?status=204") || true
assert_eq "$out" 204 "204 through the mesh"
assert_eq "$(metric a tcp_open_total 'direction="outbound",peer="dst",tls="true"')" 1 \
  "every HTTP request so far (8 clients, 9 requests) shared one HTTP/2 connection to b"

# An HTTP/2 peer (a Linkerd proxy would) sending an HTTP/1 request as
# HTTP/2 with l5d-orig-proto: b's proxy gives its HTTP/1.1-only app HTTP/1.1.
out=$(in_pod a curl -sS --max-time 5 --http2-prior-knowledge -o /dev/null -w '%{http_code}' \
  -H "l5d-orig-proto: HTTP/1.1" --data-binary @"$T/body.bin" "http://${POD_IP[b]}:8080/orig-$MARK") || true
assert_eq "$out" 200 "HTTP/2 with l5d-orig-proto reaches an HTTP/1.1 app"
assert_eq "$(app_field "orig-$MARK" version)" "1.1" "the app got HTTP/1.1"
assert_eq "$(app_field "orig-$MARK" framing)" length "with the content-length the body had"
assert_eq "$(app_header "orig-$MARK" l5d-orig-proto)" "<none>" "l5d-orig-proto is consumed by the proxy"

# ---- opaque (redis) through the Service address, over mTLS ------------------------------------
out=$(in_pod a redis-cli -h 10.43.0.20 -p 6379 SET k "$MARK" 2>&1) || true
assert_eq "$out" OK "redis SET through the mesh"
out=$(in_pod a redis-cli -h 10.43.0.20 -p 6379 GET k 2>&1) || true
assert_eq "$out" "$MARK" "redis GET through the mesh"
assert_ge "$(metric b tcp_open_total "direction=\"inbound\",peer=\"src\",tls=\"true\",client_id=\"$A_ID\",target_port=\"6379\"")" 1 \
  "b's inbound saw redis as mTLS from $A_ID on port 6379"

kill_tree "$TCPDUMP_PID" INT
assert_eq "$(grep -a -c "$MARK" "$T/hop.pcap" || true)" 0 "no plaintext application bytes between the pods"
assert_gt "$(stat -c %s "$T/hop.pcap")" 2000 "the capture saw the traffic"
assert_eq "$(grep -a -c '10.43.0.10:80' "$T/hop.pcap" || true)" 0 \
  "discovery (Get 10.43.0.10:80) went over mTLS too: no plaintext path on the wire"
out=$(in_pod cp curl -sS --max-time 3 --http2-prior-knowledge -o /dev/null -w '%{http_code}' \
  http://127.0.0.1:8086/ 2>&1) || true
assert_contains "$out" "000" "the destination service refuses plaintext (it serves mTLS only)"

# ---- ingress mode (seed ch. 5): routed by l5d-dst-override --------------------------------
# The address the ingress sends to does not matter (nothing is there);
# the header names the Service.
out=$(in_pod i curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
  -H "l5d-dst-override: web.demo.svc.cluster.local:80" "http://10.43.0.99/ing-$MARK") || true
assert_eq "$out" 200 "ingress: l5d-dst-override routes to the web Service"
assert_eq "$(app_header "ing-$MARK" l5d-client-id)" "$I_ID" "... over mTLS, as the ingress identity"
out=$(in_pod i curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
  "http://${POD_IP[b]}:8080/ing-plain-$MARK") || true
assert_eq "$out" 200 "ingress: without the header the request goes where it was sent"
assert_eq "$(app_header "ing-plain-$MARK" l5d-client-id)" "<none>" "... unmeshed (plaintext, no identity)"
out=$(in_pod i curl -sS --max-time 5 -o /dev/null -w '%{http_code}' \
  -H "l5d-dst-override: bad name!:80" "http://${POD_IP[b]}:8080/ing-bad-$MARK") || true
assert_eq "$out" 200 "ingress: a malformed l5d-dst-override is ignored"
out=$(in_pod i curl -sS --max-time 5 -D - -o /dev/null \
  -H "l5d-dst-override: empty.demo.svc.cluster.local:80" "http://10.43.0.99/x" 2>&1) || true
assert_contains "$out" "503" "ingress: a Service without endpoints answers 503"
assert_contains "$out" "l5d-proxy-error" "... with l5d-proxy-error"

# ---- per-request balancing: a second, 10x slower web endpoint -------------------------------
# b2 answers after 20 ms (b in about 1 ms). Peak-EWMA P2C sends it little.
cat >"$T/slow.py" <<'PYEOF'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(0.02)
        body = b"slow\n"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
PYEOF
start_bg b2 "$PY" "$T/slow.py"
wait_listen b2 8080
mesh_env b2 web
pod_mesh b2 "${MESH_ENV[@]}"
mesh_pod web-1 b2 web 8080
mesh_slice web 8080 web-0:b web-1:b2
# The update reaches a's proxy: some request lands on b2 (bounded wait).
b2_seen() { [ "$(metric b2 request_total 'direction="inbound"')" -ge 1 ]; }
for _ in $(seq 1 100); do
  in_pod a curl -s --max-time 5 -o /dev/null "http://10.43.0.10/warm" || true
  b2_seen && break
done
b2_seen || fail "the second endpoint never got a request after the EndpointSlice update"
_ok "a new endpoint in the EndpointSlice receives requests"
before_b=$(metric b request_total 'direction="inbound"')
before_b2=$(metric b2 request_total 'direction="inbound"')
for _ in $(seq 1 100); do
  in_pod a curl -s --max-time 5 -o /dev/null "http://10.43.0.10/spread" "http://10.43.0.10/spread" || true
done
nb=$(( $(metric b request_total 'direction="inbound"') - before_b ))
nb2=$(( $(metric b2 request_total 'direction="inbound"') - before_b2 ))
log "200 requests: fast endpoint $nb, slow endpoint $nb2"
assert_eq "$((nb + nb2))" 200 "all 200 requests answered by the two endpoints"
assert_le "$nb2" 20 "the 10x slower endpoint gets at most 10 % of the requests"

# ---- an endpoint that cannot prove the identity discovery gave ---------------------------
# x holds a real mesh certificate, but for "impostor"; the store says its
# pod runs as "web", so a expects web's identity there and must refuse it.
start_bg x "$PY" "$WT_LIB_DIR/helpers/h1peer.py" serve --port 8080 --log "$T/impostor.jsonl"
wait_listen x 8080
mesh_env x impostor
pod_mesh x "${MESH_ENV[@]}"
mesh_pod fake-0 x web 8080
mesh_service fake 10.43.0.40 80 8080 fake-0:x
out=$(in_pod a curl -sS --max-time 5 -D - -o /dev/null "http://10.43.0.40/impostor-$MARK" 2>&1) || true
assert_contains "$out" "502" "an endpoint proving another identity is refused (502)"
assert_contains "$out" "l5d-proxy-error" "... with l5d-proxy-error"
[ ! -s "$T/impostor.jsonl" ] || fail "the impostor's app received a request"
_ok "the impostor's app never saw the request"
assert_contains "$(cat "${PROXY_LOG[a]}")" "expecting $B_ID" "a's proxy logs the identity it expected"
assert_ge "$(metric a outbound_tcp_errors_total 'error="tls_handshake_failed"')" 1 "... and counts the refusal"

# ---- a Service without endpoints fails fast --------------------------------------------------
in_pod a curl -sS --max-time 5 -o /dev/null "http://10.43.0.30/" 2>/dev/null && fail "empty Service answered"
assert_ge "$(metric a outbound_tcp_errors_total 'error="no_endpoints"')" 1 "no endpoints: refused and counted"

# ---- the control plane goes away: cached answers keep working --------------------------------
kill_tree "$DST_PID"
out=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://10.43.0.10/after-outage") || true
assert_eq "$out" 200 "with the destination service down, a resolved Service still works"
assert_eq "$(app_header after-outage l5d-client-id)" "$A_ID" "... still over mTLS"
