#!/usr/bin/env bash
# HTTP/1 transparency through both sidecars: a meshed curl in pod a talks to
# an "echo-inspect" upstream in meshed pod b (helpers/h1peer.py serve: it
# records exactly what the application received — request line, header
# list in order, framing, body bytes — and answers as the query string says).
#
# Asserts, on what the peers saw:
#  - requests: the application receives what curl sent minus the hop-by-hop
#    fields (Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding,
#    Upgrade, Trailer and the names listed in Connection), in order, with
#    nothing added; method, target (query bytes) and Host preserved;
#    `content-length: 0` kept; a chunked upload stays chunked;
#  - responses: HEAD (no body, the GET's Content-Length), 204 and 304 (no
#    body, the connection stays in sync), a Content-Length response keeps its
#    length, a close-delimited answer reaches an HTTP/1.1 client chunked and
#    an HTTP/1.0 client close-delimited, bodies intact; response fields
#    (repeated Set-Cookie in order, reason phrase) kept, hop-by-hop dropped;
#  - 1xx: Expect: 100-continue gets its 100 relayed (curl waits for it with a
#    10 s fallback, so the request finishing in < 5 s proves it arrived),
#    103 Early Hints relayed;
#  - keep-alive: five URLs in one curl use one connection; 20 pipelined
#    requests (some with bodies) are answered in order;
#  - 64 MiB bodies each way with SHA-256 on both ends (upload with
#    Content-Length and chunked, download with Content-Length and chunked);
#  - a WebSocket-style upgrade (101, then bytes both ways, upstream speaks
#    first) and a CONNECT tunnel;
#  - golden metrics on both proxies (outbound on a, inbound on b):
#    request_total, response_total per status_code and classification (5xx
#    failure, 4xx success), response_latency_ms_count, authority = Host;
#  - last, each reported on its own: a response with "Transfer-Encoding:
#    gzip, chunked" still decodes to the original bytes at the client (the
#    gzip coding is not dropped); a POST carrying "Upgrade: h2c" (curl
#    --http2) to a server that declines the upgrade is served with its body;
#    an HTTP/1.0 request without Host (valid) is served by a real nginx.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

H1PEER=("$PY" "$WT_LIB_DIR/helpers/h1peer.py")
pod_add a
pod_add b
pod_mesh a
pod_mesh b
B=${POD_IP[b]}
U="http://$B:8080"
UPLOG="$T/upstream.jsonl"
start_bg b "${H1PEER[@]}" serve --port 8080 --log "$UPLOG" >"$T/upstream.log" 2>&1
wait_listen b 8080

declare -A EXP=() # responses expected per status code, on each proxy
NREQ=0
expect_resp() {
  EXP[$1]=$((${EXP[$1]:-0} + ${2:-1}))
  NREQ=$((NREQ + ${2:-1}))
}
R=$WT_ID # marker nonce
rec() { "${H1PEER[@]}" find --log "$UPLOG" --marker "$1" || fail "upstream record for $1: $(tail -3 "$UPLOG")"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
gen_sha() { "${H1PEER[@]}" gen --n "$1" --seed "$2" | sha256sum | cut -d' ' -f1; }
hdr() { { grep -i "^$2:" "$1" || true; } | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

head -c 100000 /dev/urandom >"$T/small.bin"
SMALL_SHA=$(sha "$T/small.bin")

# ---- 1. request header transparency ---------------------------------------------
M=/t1-$R
in_pod a curl -sv --max-time 10 -o /dev/null \
  -H 'Host: svc.test:8080' \
  -H 'X-Custom: one' -H 'x-lower-case: two' -H 'X-Dup: first' -H 'X-Dup: second' \
  -H 'X-Empty;' -H 'X-Spaced:   inner  spaces   ' -H $'X-Obs-Text: caf\xe9' \
  -H 'Connection: keep-alive, X-Hop-Named' -H 'X-Hop-Named: must go' -H 'Keep-Alive: timeout=5' \
  -H 'Proxy-Connection: keep-alive' -H 'TE: trailers' -H 'Trailer: X-T' -H 'Upgrade: foo/1' \
  -H 'Accept: text/plain;q=0.9, */*;q=0.1' \
  "$U$M?x=1&y=%2F&z=a+b&e=%e2%82%ac" 2>"$T/t1.sent" || fail "request 1 failed"
expect_resp 200
c=$("${H1PEER[@]}" check-headers --log "$UPLOG" --marker "$M" --sent "$T/t1.sent")
[ "$(jq -r .ok <<<"$c")" = true ] || fail "header list at the app differs: $c"
_ok "app got curl's header list minus hop-by-hop fields, in order, nothing added ($(jq '.want | length' <<<"$c") fields)"
r=$(rec "$M")
assert_eq "$(jq -r '.method + " " + .target + " HTTP/" + .version' <<<"$r")" "GET $M?x=1&y=%2F&z=a+b&e=%e2%82%ac HTTP/1.1" \
  "request line preserved (target bytes, query)"
assert_eq "$(jq -r '[.headers[] | select(.[0] | ascii_downcase == "host")][0][1]' <<<"$r")" "svc.test:8080" "Host preserved"
assert_eq "$(jq -r .framing <<<"$r")" none "GET without body stays without body"

# ---- 2. request bodies and methods ----------------------------------------------
M=/t2-cl-$R
in_pod a curl -sv --max-time 10 -o /dev/null --data-binary @"$T/small.bin" "$U$M" 2>"$T/t2.sent"
expect_resp 200
[ "$(jq -r .ok <<<"$("${H1PEER[@]}" check-headers --log "$UPLOG" --marker "$M" --sent "$T/t2.sent")")" = true ] ||
  fail "POST with Content-Length: header list differs"
r=$(rec "$M")
assert_eq "$(jq -r '.framing + " " + (.cl|join(",")) + " " + (.body_len|tostring)' <<<"$r")" "length 100000 100000" \
  "Content-Length upload keeps its length"
assert_eq "$(jq -r .body_sha256 <<<"$r")" "$SMALL_SHA" "Content-Length upload: body intact"

M=/t2-cl0-$R
in_pod a curl -sv --max-time 10 -o /dev/null --data-binary '' "$U$M" 2>"$T/t2b.sent"
expect_resp 200
[ "$(jq -r .ok <<<"$("${H1PEER[@]}" check-headers --log "$UPLOG" --marker "$M" --sent "$T/t2b.sent")")" = true ] ||
  fail "POST with content-length 0: header list differs"
r=$(rec "$M")
assert_eq "$(jq -r '.framing + " " + (.cl|join(",")) + " " + (.body_len|tostring)' <<<"$r")" "length 0 0" \
  "content-length: 0 kept (not dropped, not turned into chunked)"

M=/t2-chunked-$R
in_pod a curl -sv --max-time 10 -o /dev/null -H 'Transfer-Encoding: chunked' --data-binary @"$T/small.bin" "$U$M" 2>"$T/t2c.sent"
expect_resp 200
c=$("${H1PEER[@]}" check-headers --log "$UPLOG" --marker "$M" --sent "$T/t2c.sent" --chunked)
[ "$(jq -r .ok <<<"$c")" = true ] || fail "chunked upload: the app must see the same fields and Transfer-Encoding: chunked: $c"
_ok "chunked upload stays chunked at the app, other fields unchanged"
r=$(rec "$M")
assert_eq "$(jq -r '(.body_len|tostring) + " " + .body_sha256' <<<"$r")" "100000 $SMALL_SHA" "chunked upload: body intact"

for m in PUT DELETE PATCH OPTIONS PURGE; do
  M=/t2-$m-$R
  code=$(in_pod a curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X "$m" "$U$M") || fail "curl failed (exit $?)"
  expect_resp 200
  assert_eq "$code $(rec "$M" | jq -r .method)" "200 $m" "method $m reaches the app as is"
done

# ---- 3. responses -----------------------------------------------------------------
s=$(in_pod a "${H1PEER[@]}" seq --host "$B" --port 8080 \
  --req "HEAD /t3-head-$R?n=1234" --req "HEAD /t3-head2-$R?rb=chunked&n=99" \
  --req "GET /t3-204-$R?status=204" --req "GET /t3-304-$R?status=304&h=etag:%22v1%22" \
  --req "GET /t3-after-$R?n=10")
expect_resp 200 3
expect_resp 204
expect_resp 304
assert_eq "$(jq -r .status <<<"$s")" ok "HEAD/204/304 sequence on one connection: $(jq -c '[.responses[]|.status]' <<<"$s")"
assert_eq "$(jq -r '[.responses[]|.status]|join(" ")' <<<"$s")" "200 200 204 304 200" "statuses"
assert_eq "$(jq -r '.responses[0].fields[] | select(.[0]=="content-length") | .[1]' <<<"$s")" 1234 \
  "HEAD response keeps the GET's Content-Length"
assert_eq "$(jq -r '[.responses[0,1,2,3] | .body_len + .stray] | join(" ")' <<<"$s")" "0 0 0 0" \
  "HEAD, 204 and 304: no body bytes"
assert_eq "$(jq -r '[.responses[2,3].fields[] | select(.[0]=="transfer-encoding" or .[0]=="content-length")] | length' <<<"$s")" 0 \
  "204 and 304 carry no framing fields"
assert_eq "$(jq -r '.responses[3].fields[] | select(.[0]=="etag") | .[1]' <<<"$s")" '"v1"' "304 keeps its validator"
assert_eq "$(jq -r '.responses[4].body_len' <<<"$s")" 10 "the response after them is whole"
assert_eq "$(jq -r .in_sync <<<"$s")" true "connection still in sync after HEAD/204/304"
expect_resp 200 # seq's sync request

n=300000
code=$(in_pod a curl -sS --max-time 10 -D "$T/t3cl.h" -o "$T/t3cl.b" -w '%{http_code}' "$U/t3-cl-$R?n=$n&seed=cl") || fail "curl failed (exit $?)"
expect_resp 200
assert_eq "$code $(hdr "$T/t3cl.h" content-length) $(hdr "$T/t3cl.h" transfer-encoding)" "200 $n " \
  "Content-Length response keeps its length (no chunking)"
assert_eq "$(sha "$T/t3cl.b")" "$(gen_sha $n cl)" "Content-Length response body intact"

code=$(in_pod a curl -sS --max-time 10 -D "$T/t3ch.h" -o "$T/t3ch.b" -w '%{http_code}' "$U/t3-ch-$R?n=$n&seed=ch&rb=chunked&chunk=7777") || fail "curl failed (exit $?)"
expect_resp 200
assert_eq "$code $(hdr "$T/t3ch.h" transfer-encoding)" "200 chunked" "chunked response reaches the client chunked"
assert_eq "$(sha "$T/t3ch.b")" "$(gen_sha $n ch)" "chunked response body intact"

code=$(in_pod a curl -sS --max-time 10 -D "$T/t3cd.h" -o "$T/t3cd.b" -w '%{http_code}' "$U/t3-close-$R?n=$n&seed=cd&rb=close") || fail "curl failed (exit $?)"
expect_resp 200
assert_eq "$code $(hdr "$T/t3cd.h" transfer-encoding) $(hdr "$T/t3cd.h" connection)" "200 chunked " \
  "close-delimited upstream answer reaches an HTTP/1.1 client chunked, connection kept"
assert_eq "$(sha "$T/t3cd.b")" "$(gen_sha $n cd)" "close-delimited body intact (chunked)"

code=$(in_pod a curl -sS -0 --max-time 10 -D "$T/t3c0.h" -o "$T/t3c0.b" -w '%{http_code}' "$U/t3-close10-$R?n=$n&seed=cd&rb=close") || fail "curl failed (exit $?)"
expect_resp 200
assert_eq "$code $(hdr "$T/t3c0.h" transfer-encoding)$(hdr "$T/t3c0.h" content-length) $(hdr "$T/t3c0.h" connection)" \
  "200  close" "close-delimited answer reaches an HTTP/1.0 client close-delimited"
assert_eq "$(sha "$T/t3c0.b")" "$(gen_sha $n cd)" "close-delimited body intact (HTTP/1.0 client)"

code=$(in_pod a curl -sS --max-time 10 -D "$T/t3h.h" -o /dev/null -w '%{http_code}' \
  "$U/t3-hdrs-$R?status=418&reason=I%27m+a+teapot&h=Set-Cookie:a%3D1&h=X-Mixed-Case:V&h=Set-Cookie:b%3D2&h=Connection:x-resp-hop&h=X-Resp-Hop:1&h=Keep-Alive:timeout%3D9") || fail "curl failed (exit $?)"
expect_resp 418
assert_eq "$code $(head -1 "$T/t3h.h" | tr -d '\r')" "418 HTTP/1.1 418 I'm a teapot" "status and reason phrase kept"
assert_eq "$(grep -i '^set-cookie:' "$T/t3h.h" | tr -d '\r' | paste -sd'|')" "Set-Cookie: a=1|Set-Cookie: b=2" \
  "repeated response fields kept, in order, names as sent"
assert_eq "$(grep -ci '^x-mixed-case: V' "$T/t3h.h")" 1 "custom response field kept"
assert_eq "$(grep -ciE '^(x-resp-hop|keep-alive|connection):' "$T/t3h.h" || true)" 0 \
  "hop-by-hop response fields (and the ones Connection names) dropped"

for st in 404 500 503; do
  code=$(in_pod a curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$U/t3-st-$R?status=$st") || fail "curl failed (exit $?)"
  expect_resp "$st"
  assert_eq "$code" "$st" "status $st relayed"
done

# ---- 4. 1xx: 100-continue, 103 --------------------------------------------------------
M=/t4-100-$R
t=$(in_pod a curl -sv --max-time 20 --expect100-timeout 10 -H 'Expect: 100-continue' -o /dev/null \
  -w '%{http_code} %{time_total}' --data-binary @"$T/small.bin" "$U$M" 2>"$T/t4.err") || fail "curl failed (exit $?)"
expect_resp 200
assert_eq "${t% *}" 200 "Expect: 100-continue request answered"
assert_eq "$(grep -ac '^< HTTP/1.1 100 Continue' "$T/t4.err")" 1 "the upstream's 100 Continue reached curl"
assert_lt "${t#* }" 5 "curl sent its body on the 100, not on its 10 s fallback (time_total s)"
r=$(rec "$M")
assert_eq "$(jq -r '(.expect_100_sent|tostring) + " " + .body_sha256' <<<"$r")" "true $SMALL_SHA" \
  "Expect reached the app, which sent 100 and got the body intact"

in_pod a curl -sv --max-time 10 -o /dev/null "$U/t4-103-$R?early=103" 2>"$T/t4b.err"
expect_resp 200
assert_eq "$(grep -a '^< ' "$T/t4b.err" | tr -d '\r' | grep -aE '^< (HTTP/1.1|link:)' | paste -sd'|')" \
  "< HTTP/1.1 103 Early Hints|< link: </x.css>; rel=preload|< HTTP/1.1 200 OK" "103 Early Hints relayed before the 200"

# ---- 5. keep-alive and pipelining -------------------------------------------------------
urls=()
for i in 1 2 3 4 5; do urls+=("$U/t5-ka-$R-$i?n=$((i * 1000))"); done
w=$(in_pod a curl -s --max-time 10 -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
  -w '%{http_code}:%{num_connects} ' "${urls[@]}") || fail "curl failed (exit $?)"
expect_resp 200 5
assert_eq "$w" "200:1 200:0 200:0 200:0 200:0 " "five requests on one client connection (num_connects)"
for i in 1 2 3 4 5; do rec "/t5-ka-$R-$i?" >/dev/null; done
_ok "the app got each of the five"

p=$(in_pod a "${H1PEER[@]}" pipeline --host "$B" --port 8080 --n 20)
expect_resp 200 20
assert_eq "$(jq -r '.status + " " + (.in_order|tostring) + " " + (.statuses|map(tostring)|join(","))' <<<"$p")" "ok true 200" \
  "20 pipelined requests (GETs and POSTs) answered in order"

# ---- 6. 64 MiB bodies both ways ------------------------------------------------------------
N=$((64 * 1024 * 1024))
"${H1PEER[@]}" gen --n $N --seed up >"$T/big.bin"
BIG_SHA=$(sha "$T/big.bin")
for mode in cl chunked; do
  M=/t6-up-$mode-$R
  extra=()
  [ $mode = chunked ] && extra=(-H 'Transfer-Encoding: chunked')
  w=$(in_pod a curl -sS --max-time 60 -o /dev/null -w '%{http_code}' "${extra[@]}" --data-binary @"$T/big.bin" "$U$M") || fail "curl failed (exit $?)"
  expect_resp 200
  r=$(rec "$M")
  assert_eq "$w $(jq -r '.framing + " " + (.body_len|tostring) + " " + .body_sha256' <<<"$r")" \
    "200 $([ $mode = cl ] && echo length || echo chunked) $N $BIG_SHA" "64 MiB upload ($mode): app got every byte (SHA-256)"
done
rm -f "$T/big.bin"
for mode in cl chunked; do
  w=$(in_pod a curl -sS --max-time 60 -D "$T/t6.h" -o "$T/big.down" -w '%{http_code} %{size_download}' "$U/t6-down-$mode-$R?n=$N&seed=down&rb=$mode") || fail "curl failed (exit $?)"
  expect_resp 200
  if [ $mode = cl ]; then want=$N; else want=chunked; fi
  assert_eq "$w $(hdr "$T/t6.h" content-length)$(hdr "$T/t6.h" transfer-encoding)" "200 $N $want" "64 MiB download ($mode) framing"
  assert_eq "$(sha "$T/big.down")" "$(gen_sha $N down)" "64 MiB download ($mode): SHA-256 equal on both ends"
  rm -f "$T/big.down"
done

# ---- 7. upgrade and CONNECT tunnels ------------------------------------------------------------
for kind in upgrade connect; do
  t=$(in_pod a "${H1PEER[@]}" tunnel --host "$B" --port 8080 --kind $kind --bytes $((4 * 1024 * 1024)))
  want=101
  [ $kind = connect ] && want=200
  expect_resp $want
  assert_eq "$(jq -r '[.status, (.status_code|tostring), (.greeting == "hello-from-upstream\n" | tostring), (.echoed|tostring), .after_fin] | join(" ")' <<<"$t")" \
    "ok $want true true eof" "$kind: $want, upstream speaks first, 4 MiB+ echoed both ways, FIN carried"
done
r=$("${H1PEER[@]}" find --log "$UPLOG" --marker "/ws?x=1")
assert_eq "$(jq -r '[.headers[] | select(.[0]|ascii_downcase|test("^(upgrade|connection|sec-websocket-key)$")) | .[0]|ascii_downcase] | sort | join(",")' <<<"$r")" \
  "connection,sec-websocket-key,upgrade" "the app saw the upgrade request (Upgrade/Connection re-sent, key kept)"

# ---- 8. golden metrics -----------------------------------------------------------------------------
log "expected responses per status: $(for k in "${!EXP[@]}"; do printf '%s=%s ' "$k" "${EXP[$k]}"; done)(total $NREQ)"
for side in "a outbound" "b inbound"; do
  read -r p d <<<"$side"
  D="direction=\"$d\""
  v=$(wait_metric "$p" response_total "$D" '>=' $NREQ 10) || true
  echo "--- $p: response_total ($d) ---"
  metric_lines "$p" response_total "$D" | sed -E 's/target_addr="[^"]*",target_ip="[^"]*",//; s/,?(tls|no_tls_reason|srv_[a-z]+|grpc_status)="[^"]*"//g'
  assert_num_eq "$v" $NREQ "$p: response_total ($d) counts every response"
  assert_num_eq "$(metric "$p" request_total "$D")" $NREQ "$p: request_total ($d)"
  assert_num_eq "$(metric "$p" response_latency_ms_count "$D")" $NREQ "$p: response_latency_ms_count ($d)"
  for code in "${!EXP[@]}"; do
    cls=success
    [ "$code" -ge 500 ] && cls=failure
    assert_num_eq "$(metric "$p" response_total "$D,status_code=\"$code\",classification=\"$cls\",error=\"\"")" "${EXP[$code]}" \
      "$p: response_total{status_code=$code,classification=$cls} ($d)"
  done
  assert_num_eq "$(metric "$p" response_total "$D,classification=\"failure\"")" $((EXP[500] + EXP[503])) \
    "$p: only the 5xx are failures ($d)"
  assert_num_eq "$(metric "$p" request_total "$D,authority=\"svc.test:8080\"")" 1 "$p: authority label is the Host ($d)"
  assert_num_eq "$(metric "$p" request_total "$D,authority=\"tunnel.test:443\",target_port=\"8080\"")" 1 \
    "$p: CONNECT counted with its authority and the original port ($d)"
done
assert_num_eq "$(metric a request_total "direction=\"outbound\",target_addr=\"$B:8080\"")" $NREQ \
  "a: target_addr is the original destination"

# ---- 9. checks that are independent of each other: all run, failures reported together
SOFT=()
soft_fail() {
  printf '[%s] FAIL: %s\n' "$WT_NAME" "$*" >&2
  SOFT+=("$*")
}

# RFC 9112 §6.1: a recipient may decode transfer codings, but a coding it
# does not decode must stay declared. The proxy decodes chunked only.
n=100000
code=$(in_pod a curl -sS --max-time 10 --tr-encoding -D "$T/t9.h" -o "$T/t9.b" -w '%{http_code}' "$U/t9-gz-$R?n=$n&seed=gz&rb=chunked&gz=1") || true
te=$(hdr "$T/t9.h" transfer-encoding)
if [ "$code" = 200 ] && [ "$(sha "$T/t9.b")" = "$(gen_sha $n gz)" ]; then
  _ok "gzip, chunked response decodes to the original body at the client (TE: $te)"
else
  soft_fail "response 'Transfer-Encoding: gzip, chunked' reached the client as $code 'Transfer-Encoding: $te': the gzip coding was dropped, the body is still gzip-coded ($(wc -c <"$T/t9.b") bytes instead of $n)"
fi

# An Upgrade the server declines (RFC 9110 §7.8: it MAY ignore it) on a
# request with a body: curl --http2 on http:// sends "Upgrade: h2c" with
# every request, POSTs included; an HTTP/1.1-only server answers it as a
# plain request, after reading its body.
M=/t9-h2c-$R
w=$(in_pod a curl -sS --max-time 5 --http2 --data-binary 'h2c upgrade with a body' -o /dev/null -w '%{http_code}' "$U$M?noup=1" 2>"$T/t9h2c.err") || true
r=$("${H1PEER[@]}" find --log "$UPLOG" --marker "$M" 2>/dev/null) || r='{}'
if [ "$w" = 200 ] && [ "$(jq -r .body <<<"$r")" = 'h2c upgrade with a body' ]; then
  _ok "declined h2c upgrade with a body: the app got the body and answered"
else
  soft_fail "POST with 'Upgrade: h2c' to a server that ignores the upgrade: curl got '$w' ($(tr -d '\n' <"$T/t9h2c.err")), the app got $(jq -c '{framing, body_len}' <<<"$r" 2>/dev/null || echo nothing) (the body is held back as tunnel bytes while Content-Length is forwarded)"
fi

# HTTP/1.0 needs no Host (RFC 9112 §3.2 requires it of 1.1 only); the proxy
# forwards in HTTP/1.1, which must then carry one. A real nginx as the app.
mkdir -p "$T/www"
echo "nginx says hi" >"$T/www/index.html"
nginx_start b "$T/www" 80
w=$(in_pod a curl -sS --max-time 5 -0 -H 'Host:' -o "$T/t9n.b" -w '%{http_code}' "http://$B/index.html" 2>&1) || true
if [ "$w" = 200 ] && grep -q "nginx says hi" "$T/t9n.b"; then
  _ok "HTTP/1.0 request without Host served by nginx through both sidecars"
else
  soft_fail "HTTP/1.0 request without Host: got '$w' ($(head -c 120 "$T/t9n.b" | tr '\n' ' ')); nginx access log: $(tail -1 "$T/nginx-b/access.log" 2>/dev/null)"
fi

[ ${#SOFT[@]} -eq 0 ] || fail "${#SOFT[@]} check(s) of section 9 failed (see above)"
