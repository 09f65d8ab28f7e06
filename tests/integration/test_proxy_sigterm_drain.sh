#!/usr/bin/env bash
# Graceful shutdown of the client-side proxy (pod a; pod b is a plain server).
#  1. Grace 30s, a 20 MiB stream paced over ~5 s in flight when SIGTERM
#     arrives: the stream completes intact (count + SHA-256), a new
#     connection after SIGTERM is not served (fails fast), /ready stops
#     answering 200, and the proxy exits 0 soon after the stream ends — well
#     before the grace period.
#     The same again with an HTTP/1 download (curl from a rate-limited nginx),
#     which takes the proxy's HTTP path.
#  2. Grace 2s and a connection that never ends: the proxy exits 0 after
#     about the grace period and the held connection is closed.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N=$((20 * 1024 * 1024))
GRACE2=2
pod_add a
pod_add b
pod_mesh a WEFT_PROXY_SHUTDOWN_GRACE_PERIOD=30s
B=${POD_IP[b]}
start_bg b "${TCPKIT[@]}" stream-server --port 7000 --bytes $N --seconds 5 >"$T/stream-server.log" 2>&1
start_bg b "${TCPKIT[@]}" echo-server --port 7001 >"$T/echo-server.log" 2>&1
wait_listen b 7000
wait_listen b 7001

# ---- 1: drain lets the in-flight stream finish -------------------------------
start_bg a "${TCPKIT[@]}" stream-client --host "$B" --port 7000 --progress "$T/progress" --timeout 30 \
  >"$T/stream-client.out" 2>"$T/stream-client.log"
client=$BG_PID
progress() { cat "$T/progress" 2>/dev/null || echo 0; }
progress_ge() { [ "$(progress)" -ge "$1" ]; }
wait_until 10 progress_ge $((1024 * 1024)) || fail "stream did not start (got $(progress) bytes)"
proxy=${PROXY_PID[a]}
t_sig=$(now)
kill -TERM "$proxy"
log "SIGTERM to a's proxy (pid $proxy) after $(progress) of $N bytes"

# /ready stops answering 200 while draining (so nothing routes new work here).
not_ready() {
  local code
  code=$(in_pod a curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:4191/ready || true)
  [ "$code" != 200 ]
}
wait_until 3 not_ready || fail "/ready still 200 3s after SIGTERM"
_ok "/ready is not 200 while draining"

# New connections are not served by the draining proxy, and fail fast. The
# signal is handled asynchronously, so allow it a moment (bounded) to close
# its listeners.
late=""
for ((i = 0; i < 20; i++)); do
  out=$(in_pod a "${TCPKIT[@]}" echo-client --host "$B" --port 7001 --message "late-$WT_ID" --timeout 5)
  if [ "$(jget "$out" status)" != ok ]; then late=$out; break; fi
  sleep 0.1
done
log "new connection during drain: ${late:-$out}"
[ -n "$late" ] || fail "new connections still served 2s after SIGTERM: $out"
_ok "new connection after SIGTERM not served ($(jget "$late" status))"
assert_lt "$(jget "$late" elapsed_s)" 4 "and it fails fast"
kill -0 "$proxy" 2>/dev/null || fail "proxy exited while the stream was still in flight"
_ok "proxy still running while the stream is in flight"

wait_pid_exit "$client" 30
[ "$WAIT_RC" != timeout ] || fail "stream client did not finish"
t_done=$(now)
out=$(cat "$T/stream-client.out")
wait_until 5 grep -q sent_sha256 "$T/stream-server.log" || fail "stream server reported nothing"
srv=$(tail -n 1 "$T/stream-server.log")
log "client: $out"
log "server: $srv"
assert_eq "$(jget "$out" status)" eof "stream ended with a clean EOF"
assert_num_eq "$(jget "$out" recv_bytes)" $N "all 20 MiB arrived"
assert_eq "$(jget "$out" recv_sha256)" "$(jget "$srv" sent_sha256)" "stream SHA-256 matches"

wait_pid_exit "$proxy" 25
t_exit=$(now)
[ "$WAIT_RC" != timeout ] || fail "proxy still running 25s after the stream ended (grace 30s)"
assert_eq "$WAIT_RC" 0 "proxy exit status after draining"
after_done=$(calc "$t_exit - $t_done")
since_sig=$(calc "$t_exit - $t_sig")
assert_lt "$after_done" 5 "proxy exits soon after the last connection ends"
assert_lt "$since_sig" 20 "proxy exits well before the 30s grace period"
log "drain: stream finished $(calc "$t_done - $t_sig")s after SIGTERM; proxy exited ${after_done}s later (${since_sig}s after SIGTERM)"

# ---- 1b: the same for an HTTP/1 download (curl ← nginx, rate-limited) ------
proxy_start a WEFT_PROXY_SHUTDOWN_GRACE_PERIOD=30s
proxy=${PROXY_PID[a]}
mkdir -p "$T/www"
head -c $N /dev/urandom >"$T/www/big.bin"
nginx_start b "$T/www" 8080 "limit_rate $((N / 5));"
start_bg a curl -sS --max-time 40 -o "$T/big.got" "http://$B:8080/big.bin" >"$T/curl.log" 2>&1
curl_pid=$BG_PID
got_ge() { [ "$(stat -c %s "$T/big.got" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_until 10 got_ge $((1024 * 1024)) || fail "HTTP download did not start"
t_sig=$(now)
kill -TERM "$proxy"
log "SIGTERM to a's proxy (pid $proxy) during an HTTP download at $(stat -c %s "$T/big.got") of $N bytes"
wait_pid_exit "$curl_pid" 40
t_done=$(now)
assert_eq "$WAIT_RC" 0 "curl's download completed across the drain (exit status)"
cmp -s "$T/big.got" "$T/www/big.bin" || fail "downloaded file differs ($(stat -c %s "$T/big.got") bytes)"
_ok "downloaded 20 MiB identical to the served file"
wait_pid_exit "$proxy" 25
t_exit=$(now)
[ "$WAIT_RC" != timeout ] || fail "proxy still running 25s after the HTTP download ended (grace 30s)"
assert_eq "$WAIT_RC" 0 "proxy exit status after draining the HTTP download"
after_done=$(calc "$t_exit - $t_done")
assert_lt "$after_done" 5 "proxy exits soon after the download ends (idle keep-alive connections are not waited for)"
log "HTTP drain: download finished $(calc "$t_done - $t_sig")s after SIGTERM; proxy exited ${after_done}s later"

# ---- 2: the grace period bounds the drain ------------------------------------
proxy_start a WEFT_PROXY_SHUTDOWN_GRACE_PERIOD=${GRACE2}s
proxy=${PROXY_PID[a]}
start_bg a "${TCPKIT[@]}" hold-one --host "$B" --port 7001 --ready-file "$T/held" --max-seconds 60 --timeout 10 \
  >"$T/hold.out" 2>"$T/hold.log"
holder=$BG_PID
wait_until 10 test -e "$T/held" || fail "held connection not established"
assert_num_eq "$(metric a tcp_open_connections 'direction="outbound",peer="src",target_port="7001"')" 1 \
  "one connection open through a's proxy"
t_sig=$(now)
kill -TERM "$proxy"
wait_pid_exit "$proxy" $((GRACE2 + 10))
t_exit=$(now)
[ "$WAIT_RC" != timeout ] || fail "proxy did not exit within grace ${GRACE2}s + 10s"
assert_eq "$WAIT_RC" 0 "proxy exit status when the grace period runs out"
took=$(calc "$t_exit - $t_sig")
assert_ge "$took" "$(calc "$GRACE2 * 0.9")" "proxy waited for the open connection"
assert_lt "$took" "$((GRACE2 + 5))" "proxy exited after about the grace period"
wait_pid_exit "$holder" 10
[ "$WAIT_RC" != timeout ] || fail "held connection still open after the proxy exited"
out=$(cat "$T/hold.out")
log "held connection: $out"
case $(jget "$out" status) in
  eof | reset) _ok "held connection was closed ($(jget "$out" status)) when the grace period ended" ;;
  *) fail "held connection ended unexpectedly: $out" ;;
esac
log "grace ${GRACE2}s: proxy exited ${took}s after SIGTERM"
