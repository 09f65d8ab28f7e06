#!/usr/bin/env bash
# 1000 idle connections held open through the client-side proxy (pod a) to a
# plain server in pod b on an opaque port (11211, no detection). Asserts:
# all of them get through and stay open; tcp_open_connections equals the
# number held (both connection ends); the proxy's RSS stays under a generous
# bound (printed, with the per-connection cost); after the client closes them
# the gauges return to 0, every close is counted, and the server sees them
# all closed.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N=${WEFT_TEST_IDLE_CONNS:-1000}
RSS_BOUND_MIB=${WEFT_TEST_RSS_BOUND_MIB:-64}
# An ASan build carries shadow memory and quarantine: judge it by a looser bound.
if grep -q __asan_init "$WEFT_BIN/weft-proxy" 2>/dev/null; then RSS_BOUND_MIB=${WEFT_TEST_RSS_BOUND_MIB:-512}; fi
RSS_BOUND_KIB=$((RSS_BOUND_MIB * 1024))
ulimit -n 16384 # inherited by the proxy, the client and the server

pod_add a
pod_add b
pod_mesh a
B=${POD_IP[b]}
start_bg b "${TCPKIT[@]}" hold-server --port 11211 --status "$T/server.status" >"$T/hold-server.log" 2>&1
wait_listen b 11211
proxy=${PROXY_PID[a]}
rss0=$(proxy_rss_kib a)
log "proxy RSS before: ${rss0} KiB; fd limit $(awk '/Max open files/ { print $4 }' "/proc/$proxy/limits")"

SRC='direction="outbound",peer="src",target_port="11211"'
DST='direction="outbound",peer="dst",target_port="11211"'

start_bg a "${TCPKIT[@]}" hold-client --host "$B" --port 11211 -n "$N" --status "$T/client.status" \
  --release-file "$T/release" --max-seconds 90 --timeout 10 >"$T/hold-client.out" 2>"$T/hold-client.log"
client=$BG_PID
wait_until 60 test -e "$T/client.status" || fail "client did not finish opening connections"
st=$(cat "$T/client.status")
log "client: $st"
assert_eq "$(jget "$st" status)" ok "client opened its connections without error"
assert_num_eq "$(jget "$st" opened)" "$N" "client holds $N connections"

v=$(wait_metric a tcp_open_connections "$SRC" '==' "$N" 20) || true
assert_num_eq "$v" "$N" "tcp_open_connections (client side) = connections held"
v=$(wait_metric a tcp_open_connections "$DST" '==' "$N" 20) || true
assert_num_eq "$v" "$N" "tcp_open_connections (server side) = connections held"
server_open() { [ "$(cut -d' ' -f1 "$T/server.status" 2>/dev/null)" = "$1" ]; }
wait_until 20 server_open "$N" || fail "server holds $(cat "$T/server.status" 2>/dev/null) (open total), want $N"
_ok "server holds $N connections"

sleep 2 # idle
rss=$(proxy_rss_kib a)
per=$(calc "($rss - $rss0) * 1024 / $N")
log "proxy RSS with $N idle connections: ${rss} KiB ($(calc "$rss / 1024") MiB), ≈ ${per} bytes per connection above the idle ${rss0} KiB"
assert_lt "$rss" "$RSS_BOUND_KIB" "proxy RSS with $N idle connections (KiB) below $RSS_BOUND_MIB MiB"
assert_num_eq "$(metric a tcp_open_connections "$SRC")" "$N" "still $N open after idling"
fds=$(find "/proc/$proxy/fd" -mindepth 1 -maxdepth 1 | wc -l)
log "proxy open fds: $fds"

touch "$T/release"
wait_pid_exit "$client" 30
[ "$WAIT_RC" = 0 ] || fail "client exit: $WAIT_RC"
out=$(cat "$T/hold-client.out")
assert_num_eq "$(jget "$out" alive_at_release)" "$N" "no held connection was closed under the client"

v=$(wait_metric a tcp_open_connections 'direction="outbound"' '==' 0 20) || true
assert_num_eq "$v" 0 "tcp_open_connections back to 0 after the client closed them"
assert_num_eq "$(metric a tcp_close_total "$SRC")" "$N" "every client-side close counted"
assert_num_eq "$(metric a tcp_close_total "$DST")" "$N" "every server-side close counted"
wait_until 20 server_open 0 || fail "server still holds $(cat "$T/server.status") (open total)"
_ok "server saw every connection closed"
log "proxy RSS after closing: $(proxy_rss_kib a) KiB, open fds $(find "/proc/$proxy/fd" -mindepth 1 -maxdepth 1 | wc -l)"
