#!/usr/bin/env bash
# Resets are carried through both sidecars instead of being turned into a
# clean EOF: a server that closes with SO_LINGER 0 mid-stream makes the
# client's recv fail with ECONNRESET, and a client that resets makes the
# server's recv fail likewise. Afterwards both proxies are healthy (/ready
# 200, a new connection works) and tcp_close_total{classification="failure"}
# went up on both.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

pod_add a
pod_add b
pod_mesh a
pod_mesh b
B=${POD_IP[b]}
start_bg b "${TCPKIT[@]}" reset-server --port 7000 --timeout 20 >"$T/reset-server.log" 2>&1
wait_listen b 7000

OUTF='direction="outbound",target_port="7000",classification="failure"'
INF='direction="inbound",target_port="7000",classification="failure"'
assert_num_eq "$(metric a tcp_close_total "$OUTF")" 0 "a: no failures before"
assert_num_eq "$(metric b tcp_close_total "$INF")" 0 "b: no failures before"

# A healthy connection first: it must not count as a failure.
out=$(in_pod a "${TCPKIT[@]}" echo-client --host "$B" --port 7000 --message "before-$WT_ID" --timeout 10)
assert_eq "$(jget "$out" status)" ok "echo through both sidecars before the resets"
wait_metric a tcp_close_total 'direction="outbound",target_port="7000",peer="src"' '>=' 1 5 >/dev/null || true
assert_num_eq "$(metric a tcp_close_total "$OUTF")" 0 "a: a clean close is not a failure"

# 1. The server resets mid-stream.
out=$(in_pod a "${TCPKIT[@]}" reset-client --host "$B" --port 7000 --mode server-resets --timeout 15)
log "server-resets: client saw $out"
assert_eq "$(jget "$out" got)" partial "client got the data sent before the reset"
assert_eq "$(jget "$out" status)" reset "client sees a connection reset, not a clean EOF"
wait_until 5 grep -q '"status": "sent_reset"' "$T/reset-server.log" || fail "server did not report its reset"

v=$(wait_metric a tcp_close_total "$OUTF" '>=' 1 5) || true
assert_ge "$v" 1 "a: tcp_close_total{classification=\"failure\"} went up"
v=$(wait_metric b tcp_close_total "$INF" '>=' 1 5) || true
assert_ge "$v" 1 "b: tcp_close_total{classification=\"failure\"} went up"
metric_lines a tcp_close_total "$OUTF"
metric_lines b tcp_close_total "$INF"

# 2. The client resets: the server must see a reset too.
before=$(grep -c 'WILLRESET' "$T/reset-server.log" || true)
fa=$(metric a tcp_close_total "$OUTF")
fb=$(metric b tcp_close_total "$INF")
out=$(in_pod a "${TCPKIT[@]}" reset-client --host "$B" --port 7000 --mode client-resets --timeout 15)
assert_eq "$(jget "$out" got)" ok "client-resets: the server answered before the reset"
wait_until 10 grep_count_gt WILLRESET "$T/reset-server.log" "$before" ||
  fail "server did not report how the client-reset connection ended"
srv=$(grep 'WILLRESET' "$T/reset-server.log" | tail -n 1)
log "client-resets: server saw $srv"
assert_eq "$(jget "$srv" status)" reset "server sees a connection reset when the client resets"
v=$(wait_metric a tcp_close_total "$OUTF" '>' "$fa" 5) || true
assert_gt "$v" "$fa" "a: the client's reset counted as a failure"
v=$(wait_metric b tcp_close_total "$INF" '>' "$fb" 5) || true
assert_gt "$v" "$fb" "b: the client's reset counted as a failure"

# 3. The proxies stay healthy.
for p in a b; do
  code=$(in_pod $p curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:4191/ready)
  assert_eq "$code" 200 "$p: /ready after the resets"
  kill -0 "${PROXY_PID[$p]}" || fail "$p: proxy died"
done
out=$(in_pod a "${TCPKIT[@]}" echo-client --host "$B" --port 7000 --message "after-$WT_ID" --timeout 10)
assert_eq "$(jget "$out" status)" ok "a new connection through both sidecars works after the resets"
assert_eq "$(jget "$out" reply)" "after-$WT_ID" "and carries data"
