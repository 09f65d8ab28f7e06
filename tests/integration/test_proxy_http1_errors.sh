#!/usr/bin/env bash
# HTTP/1 failure paths through the sidecars. A meshed curl in pod a calls a
# meshed pod b, where helpers/h1peer.py serves :8080 and misbehaves on
# demand; pod c is unmeshed and listens nowhere.
#  1. nothing listens on b:9999: b's inbound proxy cannot connect → the
#     client gets 502 with l5d-proxy-error; both proxies count a 502 failure
#     (b with error="connect");
#  2. nothing listens on c:9999 (unmeshed): a's outbound connect is refused
#     → 502 "connect error" made by a, error="connect";
#  3. an address on the pod network nobody has: a's outbound connect times
#     out (1 s default) → 504 with l5d-proxy-error, error="timeout";
#  4. the upstream closes mid-body (Content-Length and chunked answers): curl
#     must see an incomplete transfer (exit 18/56), never a clean success;
#     counted as failures with error="reset";
#  5. invalid responses (status 2000, not HTTP, CL+TE, bare LF, Content-Length
#     overflow, close before any byte, bad chunk size) → 502 with
#     l5d-proxy-error; counted as failures;
#  6. an unsolicited second response after a valid one: the client gets the
#     first, and the next requests get their own answers (the poisoned
#     upstream connection is never reused);
#  7. a pooled upstream connection the server drops as it is reused: a GET
#     is retried transparently (200), a POST with a body is not replayed
#     (502 with l5d-proxy-error, or 200 if it never left — never twice);
#  8. the server answers 413 to a 4 MiB upload before reading it (and
#     closes): the client gets the 413, not a 502;
#  9. the client gives up (1 s) while the app takes 8 s to answer: a
#     closes the client's connection and the app's connection is closed
#     (the request cancelled) well before the app would have answered.
# After every step both proxies are alive, /ready answers 200 and a normal
# request through both sidecars works.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

H1PEER=("$PY" "$WT_LIB_DIR/helpers/h1peer.py")
pod_add a
pod_add b
pod_add c
pod_mesh a
pod_mesh b
B=${POD_IP[b]}
C=${POD_IP[c]}
NOBODY="$WT_NET.250"
U="http://$B:8080"
UPLOG="$T/upstream.jsonl"
start_bg b "${H1PEER[@]}" serve --port 8080 --log "$UPLOG" >"$T/upstream.log" 2>&1
wait_listen b 8080

NH=0
healthy() {
  local p out
  for p in a b; do
    kill -0 "${PROXY_PID[$p]}" 2>/dev/null || fail "proxy in $p died ($1)"
    wait_ready "$p" 5
  done
  NH=$((NH + 1))
  out=$(in_pod a curl -sS --max-time 10 "$U/healthy-$NH") || fail "normal request after $1 failed"
  assert_eq "$(jq -r .target <<<"$out")" "/healthy-$NH" "after $1: both proxies ready, a normal request works"
}

OUT='direction="outbound"'
IN='direction="inbound"'
# check_delta POD SELECTOR BEFORE N MESSAGE — the series grew by exactly N
check_delta() {
  local v
  v=$(wait_metric "$1" response_total "$2" '>=' $(($3 + $4)) 5) || true
  assert_num_eq "$((v - $3))" "$4" "$5"
}
mval() { metric "$1" response_total "$2" || true; }

# curl_err URL — runs curl in a; sets CODE, RC, HDRS (file), BODY (file)
curl_err() {
  HDRS="$T/h.$RANDOM" BODY="$T/b.$RANDOM"
  RC=0
  CODE=$(in_pod a curl -sS --max-time 10 -D "$HDRS" -o "$BODY" -w '%{http_code} %{size_download} %{time_total}' "$@" \
    2>>"$T/curl.err") || RC=$?
}
proxy_error() { { grep -i '^l5d-proxy-error:' "$HDRS" || true; } | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

# ---- 1. nothing listens on the server pod's port ----------------------------------
s_a="$OUT,target_port=\"9999\",status_code=\"502\",classification=\"failure\""
s_b="$IN,target_port=\"9999\",status_code=\"502\",classification=\"failure\",error=\"connect\""
ba=$(mval a "$s_a") bb=$(mval b "$s_b")
curl_err "http://$B:9999/nothing"
assert_eq "${CODE%% *} $RC" "502 0" "b:9999 (no listener): 502"
assert_eq "$(proxy_error)" "connect error" "502 carries l5d-proxy-error"
check_delta a "$s_a" "$ba" 1 "a: response_total{status_code=502,classification=failure} (outbound)"
check_delta b "$s_b" "$bb" 1 "b: response_total{status_code=502,classification=failure,error=connect} (inbound)"
healthy "connect refused upstream"

# ---- 2. outbound connect refused (unmeshed destination) ------------------------------
s_a="$OUT,target_addr=\"$C:9999\",status_code=\"502\",classification=\"failure\",error=\"connect\""
ba=$(mval a "$s_a")
curl_err "http://$C:9999/nothing"
assert_eq "${CODE%% *} $(proxy_error)" "502 connect error" "c:9999 (unmeshed, refused): 502 made by a's outbound proxy"
check_delta a "$s_a" "$ba" 1 "a: response_total{status_code=502,error=connect} for $C:9999"
healthy "outbound connect refused"

# ---- 3. outbound connect timeout ---------------------------------------------------------
s_a="$OUT,target_addr=\"$NOBODY:8080\",status_code=\"504\",classification=\"failure\",error=\"timeout\""
ba=$(mval a "$s_a")
curl_err "http://$NOBODY:8080/nobody"
read -r code _ secs <<<"$CODE"
assert_eq "$code $(proxy_error)" "504 connect timed out" "$NOBODY (no such host): 504 with l5d-proxy-error"
assert_ge "$secs" 0.9 "504 came after the 1 s connect timeout"
assert_lt "$secs" 5 "504 came promptly"
check_delta a "$s_a" "$ba" 1 "a: response_total{status_code=504,error=timeout}"
healthy "outbound connect timeout"

# ---- 4. the upstream closes mid-body ------------------------------------------------------
s_a="$OUT,target_port=\"8080\",status_code=\"200\",classification=\"failure\",error=\"reset\""
s_b="$IN,target_port=\"8080\",status_code=\"200\",classification=\"failure\",error=\"reset\""
ba=$(mval a "$s_a") bb=$(mval b "$s_b")
for rb in cl chunked; do
  curl_err "$U/cut-$rb?n=1000000&cut=100000&rb=$rb"
  read -r code size _ <<<"$CODE"
  log "cut $rb: curl exit $RC, status $code, $size of 1000000 bytes"
  [ "$RC" -eq 18 ] || [ "$RC" -eq 56 ] || fail "upstream closed mid-body ($rb): curl exit $RC (want 18 or 56), status $code, $size bytes"
  _ok "upstream closed mid-body ($rb): curl saw an incomplete transfer (exit $RC), not a success"
  assert_lt "$size" 1000000 "  and did not get the whole body ($rb)"
done
check_delta a "$s_a" "$ba" 2 "a: cut responses counted as failures, error=reset (outbound)"
check_delta b "$s_b" "$bb" 2 "b: cut responses counted as failures, error=reset (inbound)"
healthy "upstream closing mid-body"

# ---- 5. invalid responses ------------------------------------------------------------------
s_a="$OUT,target_port=\"8080\",status_code=\"502\",classification=\"failure\""
s_b="$IN,target_port=\"8080\",classification=\"failure\",error=\"protocol\""
ba=$(mval a "$s_a") bb=$(mval b "$s_b")
kinds=(status2000 garbage clte nocrlf huge-cl none badchunk)
for k in "${kinds[@]}"; do
  curl_err "$U/bad-$k?bad=$k"
  assert_eq "${CODE%% *} $RC" "502 0" "invalid response ($k): 502"
  [ -n "$(proxy_error)" ] || fail "invalid response ($k): no l5d-proxy-error header"
  _ok "  with l5d-proxy-error: $(proxy_error)"
done
check_delta a "$s_a" "$ba" ${#kinds[@]} "a: every invalid response counted as a 502 failure (outbound)"
# "none" is no response at all (error=reset); the six others are invalid ones.
check_delta b "$s_b" "$bb" $((${#kinds[@]} - 1)) "b: invalid responses counted as failures with error=protocol (inbound)"
healthy "invalid responses"

# ---- 6. an unsolicited extra response ---------------------------------------------------------
out=$(in_pod a curl -sS --max-time 10 -D "$T/extra.h" "$U/extra?bad=extra") || fail "curl failed (exit $?)"
assert_eq "$out" first "the client gets the real answer"
for i in 1 2 3 4 5; do
  out=$(in_pod a curl -sS --max-time 10 -D "$T/after.h" "$U/after-extra-$i") || fail "curl failed (exit $?)"
  grep -qi '^x-poison' "$T/after.h" && fail "request $i after the extra response got the unsolicited one"
  assert_eq "$(jq -r .target <<<"$out")" "/after-extra-$i" "request $i after it gets its own answer"
done
healthy "an unsolicited response"

# ---- 7. pooled connection dropped as it is reused -------------------------------------------
out=$(in_pod a curl -sS --max-time 10 "$U/drop-1?dropnext=1") || fail "curl failed (exit $?)"
assert_eq "$(jq -r .target <<<"$out")" "/drop-1?dropnext=1" "first request on what becomes a stale connection"
out=$(in_pod a curl -sS --max-time 10 "$U/retry-get") || fail "curl failed (exit $?)"
assert_eq "$(jq -r .target <<<"$out")" "/retry-get" "GET on the dropped pooled connection retried transparently"
assert_eq "$(grep -c '"kind": "dropped".*GET /retry-get ' "$UPLOG")" 1 "the upstream really dropped it once"
assert_eq "$(grep -c '"kind": "request".*"target": "/retry-get"' "$UPLOG")" 1 "and served the retry once"
out=$(in_pod a curl -sS --max-time 10 "$U/drop-2?dropnext=1") || fail "curl failed (exit $?)"
assert_eq "$(jq -r .target <<<"$out")" "/drop-2?dropnext=1" "again a connection that will be dropped"
curl_err --data-binary 'post body' "$U/retry-post"
posts=$(grep -c '"kind": "request".*"target": "/retry-post"' "$UPLOG" || true)
case "${CODE%% *}" in
  502)
    [ -n "$(proxy_error)" ] || fail "POST on a dropped connection: 502 without l5d-proxy-error"
    assert_eq "$posts" 0 "POST on a dropped connection: 502 ($(proxy_error)), not replayed"
    ;;
  200) assert_eq "$posts" 1 "POST on a dropped connection: served exactly once" ;;
  *) fail "POST on a dropped connection: status ${CODE%% *} (curl exit $RC)" ;;
esac
healthy "a dropped pooled connection"

# Steps 8 and 9 are independent: both run, failures are reported together.
SOFT=()
soft_fail() {
  printf '[%s] FAIL: %s\n' "$WT_NAME" "$*" >&2
  SOFT+=("$*")
}

# ---- 8. an answer before the request body is read --------------------------------------
# The server refuses a 4 MiB upload at once (413, Connection: close, then a
# lingering close so its answer is not lost to a reset), as nginx does for
# client_max_body_size. RFC 9112 §9.3: a client sending a body watches for
# such an early response; curl talking to the server directly always gets
# the 413. Through the sidecars the client must get it too, every time.
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/upload.bin"
got=()
for i in 1 2 3 4 5; do
  curl_err -H 'Expect:' --data-binary @"$T/upload.bin" "$U/early-$i?noread=1&status=413"
  e=$(proxy_error)
  got+=("${CODE%% *}${e:+($e)}")
  [ "$RC" -eq 0 ] || got[-1]+="(curl exit $RC)"
done
log "early 413 answers: ${got[*]}"
if [ "${got[*]}" = "413 413 413 413 413" ]; then
  _ok "early 413 to a 4 MiB upload reaches the client (5 tries)"
else
  soft_fail "early 413 to a 4 MiB upload (5 tries): got '${got[*]}', expected '413 413 413 413 413' (b relayed $(metric b response_total "$IN,status_code=\"413\"") 413s towards a)"
fi
healthy "early answers to uploads"

# ---- 9. the client gives up while the upstream is still working ---------------------------
# curl stops waiting after 1 s; the app would answer after 8 s. The proxies
# must notice the client is gone and pass that on (close their connections,
# cancel the exchange) rather than keep both connections until the app
# answers (or forever, if it never does: no response timeout exists yet).
RC=0
in_pod a curl -sS --max-time 1 -o /dev/null "$U/slow-cancel?sleep=8000" 2>>"$T/curl.err" || RC=$?
assert_eq "$RC" 28 "client gave up after 1 s (curl timeout)"
cancelled() { grep -q '"kind": "cancelled".*"target": "/slow-cancel?sleep=8000"' "$UPLOG"; }
client_conns() { [ "$(metric a tcp_open_connections "$OUT,peer=\"src\"")" = 0 ]; }
if wait_until 4 client_conns; then
  _ok "a closed the connection of the client that left"
else
  soft_fail "a still holds the connection of the client that left 4 s ago ($(metric a tcp_open_connections "$OUT,peer=\"src\"") open, $(in_pod a ss -Htn state close-wait | wc -l) in CLOSE-WAIT)"
fi
if wait_until 2 cancelled; then
  _ok "the app's connection was closed (request cancelled) while it was still working: $(grep '"kind": "cancelled"' "$UPLOG" | jq -r .after_s) s into its 8 s"
else
  soft_fail "the app was not told the request was abandoned: its connection still open 6 s after the client left (it answers at 8 s)"
fi
healthy "a client giving up"
[ ${#SOFT[@]} -eq 0 ] || fail "${#SOFT[@]} check(s) of steps 8-9 failed (see above)"
