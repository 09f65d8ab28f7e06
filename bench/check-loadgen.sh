#!/usr/bin/env bash
# bench/check-loadgen.sh — checks that weft-loadgen measures what it claims,
# against weft-bench-backend on loopback (~40 s, no root needed):
#   1. its unit tests (histogram, schedule, verdict, HTTP/1.1 reader);
#   2. a known added latency: a backend holding every response 2 ms must
#      measure as p50 ≈ 2 ms for HTTP/1.1, HTTP/2 and gRPC;
#   3. open loop / no coordinated omission: the backend is stopped
#      (SIGSTOP) for 1 s in the middle of a 4 s window at 1000/s. Requests
#      due during the stall wait for its end, so a quarter of the samples
#      are spread evenly over 0..1 s: p90 ≈ 600 ms, p99 ≈ 960 ms,
#      mean ≈ 125 ms, max ≈ 1 s. (A closed-loop tool would record about
#      one slow sample per connection and report p99 near the normal one.)
#   4. failure marking: a rate the server cannot sustain, and a server
#      that dies mid-run, both end FAILED (exit status 1).
# Prints one line per check and exits 1 if any failed.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
L="$BENCH_DIR/loadgen"
T=$(mktemp -d /tmp/weft-check-loadgen.XXXXXX)
PORT=$((20000 + $$ % 20000))
ADDR="127.0.0.1:$PORT"
SRV=""
FAILS=0

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  if [ -n "$SRV" ]; then
    kill -CONT "$SRV" 2>/dev/null || true
    kill "$SRV" 2>/dev/null || true
    wait "$SRV" 2>/dev/null || true
  fi
  rm -rf "$T"
}
trap cleanup EXIT INT TERM

CFLAGS=(-std=c17 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter)
cc "${CFLAGS[@]}" -o "$T/weft-loadgen" "$L/loadgen.c" "$L/client_h1.c" "$L/client_h2.c" \
  "$L/h1.c" "$L/hist.c" "$L/procstat.c" -lnghttp2 -lm
cc "${CFLAGS[@]}" -o "$T/weft-bench-backend" "$L/backend.c" "$L/h1.c" -lnghttp2
cc "${CFLAGS[@]}" -I"$REPO_DIR/tests/unit" -o "$T/test_loadgen" "$L/test_loadgen.c" "$L/hist.c" \
  "$L/h1.c" -lm

CPU_ARGS=()
[ "$(nproc)" -ge 2 ] && CPU_ARGS=(--cpu 0)

check() { # check NAME CONDITION-TEXT RESULT(0/1)
  if [ "$3" -eq 0 ]; then
    printf 'ok    %s: %s\n' "$1" "$2"
  else
    printf 'FAIL  %s: %s\n' "$1" "$2"
    FAILS=$((FAILS + 1))
  fi
}

# field KEY LINE — a value from a RESULT line
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
# within V LO HI — LO <= V <= HI (floats)
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }

start_server() {
  "$T/weft-bench-backend" --listen "$ADDR" "$@" &
  SRV=$!
  local i
  for ((i = 0; i < 50; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "backend did not start" >&2
  exit 1
}
stop_server() {
  kill -CONT "$SRV" 2>/dev/null || true
  kill "$SRV" 2>/dev/null || true
  wait "$SRV" 2>/dev/null || true
  SRV=""
}
loadgen() { "$T/weft-loadgen" --quiet "${CPU_ARGS[@]}" "$@" "$ADDR"; }

# 1. unit tests
rc=0
"$T/test_loadgen" >"$T/unit.log" 2>&1 || rc=1
check unit "$(tail -n 1 "$T/unit.log")" $rc

# 2. a constant 2 ms delay is measured as such
start_server --delay-us 2000
for proto in h1 h2 grpc; do
  line=$(loadgen --proto "$proto" --body 1k --rate 1000 --warmup 0.5 --duration 2) || true
  p50=$(field p50_us "$line")
  rc=0
  within "$p50" 2000 2400 || rc=1
  [ "$(field verdict "$line")" = PASS ] || rc=1
  check "delay-$proto" "p50 $p50 µs with a 2000 µs server delay (expect 2000..2400), verdict $(field verdict "$line")" $rc
done
stop_server

# 3. a 1 s stall inside the window: open-loop accounting
start_server
for proto in h1 grpc; do
  (
    sleep 2.5
    kill -STOP "$SRV"
    sleep 1
    kill -CONT "$SRV"
  ) &
  stall=$!
  line=$(loadgen --proto "$proto" --body 1k --rate 1000 --warmup 1 --duration 4 \
    --hist "$T/stall-$proto.hgrm") || true
  wait "$stall"
  p90=$(field p90_us "$line") p99=$(field p99_us "$line") mean=$(field mean_us "$line")
  mx=$(field max_us "$line")
  rc=0
  within "$p90" 500000 700000 || rc=1
  within "$p99" 900000 1020000 || rc=1
  within "$mean" 100000 160000 || rc=1
  within "$mx" 950000 1100000 || rc=1
  check "stall-$proto" "p90 $p90, p99 $p99, mean $mean, max $mx µs (expect ~600000, ~960000, ~125000, ~1000000)" $rc
done

# 4. failure marking
stop_server
start_server --delay-us 2000
rc=0
loadgen --proto h1 --rate 4000 --conns 4 --warmup 0.2 --duration 1 --drain 0.5 >"$T/over.txt" || rc=$?
check "fail-rate" "4 connections x 1 request in flight x 2 ms cannot carry 4000/s: exit $rc, $(field verdict "$(cat "$T/over.txt")") (expect 1, FAILED)" "$([ $rc -eq 1 ] && echo 0 || echo 1)"
(
  sleep 0.8
  kill "$SRV"
) &
killer=$!
rc=0
loadgen --proto h2 --rate 1000 --conns 2 --warmup 0.2 --duration 1 --drain 0.5 >"$T/dead.txt" || rc=$?
wait "$killer"
wait "$SRV" 2>/dev/null || true
SRV=""
check "fail-errors" "server killed mid-run: exit $rc, errors $(field errors "$(cat "$T/dead.txt")") (expect 1, > 0)" "$([ $rc -eq 1 ] && echo 0 || echo 1)"

[ $FAILS -eq 0 ] && echo "check-loadgen: all checks passed" || echo "check-loadgen: $FAILS check(s) failed"
exit $((FAILS > 0 ? 1 : 0))
