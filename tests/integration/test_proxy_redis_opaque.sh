#!/usr/bin/env bash
# redis-cli in meshed pod a talks to redis-server in meshed pod b on 6379,
# an opaque port by default (no protocol detection). Asserts: SET/GET/INCR
# results and a 1 MiB value round-trip intact; a's proxy accepted exactly one
# connection per redis-cli run and b's proxy forwarded what redis itself
# counted; bytes are conserved end to end (what a read from redis-cli b wrote
# to redis, and back).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null || fail "redis-server missing (scripts/deps)"
pod_add a
pod_add b
pod_mesh a
pod_mesh b
B=${POD_IP[b]}

mkdir -p "$T/redis"
start_bg b redis-server --port 6379 --bind 0.0.0.0 --protected-mode no --save '' \
  --appendonly no --dir "$T/redis" --daemonize no >"$T/redis-b.log" 2>&1
wait_listen b 6379

rc() { in_pod a timeout 20 redis-cli -h "$B" -p 6379 "$@"; }
conns=0

assert_eq "$(rc SET weft:key "hello-$WT_ID")" OK "SET through both sidecars"
conns=$((conns + 1))
assert_eq "$(rc GET weft:key)" "hello-$WT_ID" "GET returns the value"
conns=$((conns + 1))

head -c 786432 /dev/urandom | base64 -w 0 >"$T/big.txt" # 1 MiB of text
size=$(stat -c %s "$T/big.txt")
assert_eq "$(rc -x SET weft:big <"$T/big.txt")" OK "SET of a 1 MiB value"
conns=$((conns + 1))
assert_eq "$(rc STRLEN weft:big)" "$size" "STRLEN of the big value"
conns=$((conns + 1))
rc --raw GET weft:big >"$T/big.got" # --raw adds a newline
conns=$((conns + 1))
cmp -s <(cat "$T/big.txt"; echo) "$T/big.got" || fail "the 1 MiB value came back different"
_ok "1 MiB value round-trips intact"
assert_eq "$(rc -r 100 INCR weft:ctr | tail -n 1)" 100 "100 INCRs over one connection"
conns=$((conns + 1))

OUT='direction="outbound",target_port="6379"'
IN='direction="inbound",target_port="6379"'
v=$(wait_metric a tcp_close_total "$OUT,peer=\"src\"" '>=' $conns 5) || true
assert_num_eq "$v" $conns "a: all redis-cli connections closed"
wait_metric b tcp_open_connections 'direction="inbound"' '==' 0 5 >/dev/null || true

metric_lines a tcp_open_total "$OUT"
metric_lines b tcp_open_total "$IN"

assert_num_eq "$(metric a tcp_open_total "$OUT,peer=\"src\"")" $conns "a: one accepted connection per redis-cli run"
assert_ge "$(metric a tcp_open_total "$OUT,peer=\"dst\",target_addr=\"$B:6379\"")" 1 "a: connected to the original destination $B:6379"
assert_ge "$(metric b tcp_open_total "$IN,peer=\"src\"")" 1 "b: inbound connections on 6379"
b_dst=$(metric b tcp_open_total "$IN,peer=\"dst\"")
# INFO from inside b over loopback is not redirected; redis counts it too.
received=$(in_pod b redis-cli -p 6379 INFO stats | tr -d '\r' | awk -F: '/^total_connections_received:/ { print $2 }')
assert_num_eq "$((received - 1))" "$b_dst" "b: connections redis received = connections b's proxy opened to it"

a_in=$(metric a tcp_read_bytes_total "$OUT,peer=\"src\"")
a_out=$(metric a tcp_write_bytes_total "$OUT,peer=\"src\"")
assert_gt "$a_in" "$size" "a: bytes read from redis-cli include the 1 MiB value"
assert_gt "$a_out" "$size" "a: bytes written to redis-cli include the 1 MiB value"
assert_num_eq "$(metric b tcp_write_bytes_total "$IN,peer=\"dst\"")" "$a_in" "bytes redis-cli sent = bytes b wrote to redis"
assert_num_eq "$(metric b tcp_read_bytes_total "$IN,peer=\"dst\"")" "$a_out" "bytes redis sent = bytes a wrote to redis-cli"
assert_num_eq "$(metric a tcp_close_total "$OUT,classification=\"failure\"")" 0 "a: no failed connection closes"
assert_num_eq "$(metric b tcp_close_total "$IN,classification=\"failure\"")" 0 "b: no failed connection closes"
