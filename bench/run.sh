#!/usr/bin/env bash
# bench/run.sh BIN_DIR [--quick] [--rounds N] — weft's benchmark
# (`make bench`, `make bench BENCH_ARGS=--quick`); see bench/README.md.
#
# Four scenarios side by side, interleaved A/B/C/D, A/B/C/D, ...:
#   direct   client -> server
#   weft     client -> weft-proxy (outbound) -> mTLS (h2) -> weft-proxy (inbound) -> server
#   nginx    client -> nginx -> TLS 1.3 + client cert -> nginx -> server
#   haproxy  client -> haproxy -> TLS 1.3 + client cert (h2) -> haproxy -> server
# Open-loop load from bench/loadgen (weft-loadgen), the same backend
# (weft-bench-backend) everywhere. Writes bench/results/REPORT.md and
# bench/results/latency-1k.png; raw data stays in bench/results/work/
# and bench/results/runs.raw (not committed).
#
# Needs root (network namespaces, iptables), 2+ CPUs. Full mode takes
# ~20 minutes, --quick under 3.
# shellcheck source-path=SCRIPTDIR disable=SC2034  # DRAIN etc. are read by lib.sh
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

usage() {
  echo "usage: bench/run.sh BIN_DIR [--quick] [--rounds N]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
BIN_ARG=$1
shift
QUICK=${QUICK:-0} # `make bench QUICK=1` arrives through the environment
[ "$QUICK" = 1 ] || QUICK=0
ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --rounds)
      [ $# -ge 2 ] || usage
      ROUNDS=$2
      shift
      ;;
    *) usage ;;
  esac
  shift
done
[ "$QUICK" -eq 1 ] && [ "$ROUNDS" = 3 ] && ROUNDS=1

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, iptables)"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (loadgen on one, the chain on another)"
for t in ip iptables ss setpriv taskset chrt curl nginx haproxy openssl strace gnuplot cc "$PY"; do
  command -v "$t" >/dev/null || die "missing $t (run scripts/deps)"
done
[ -f /usr/include/nghttp2/nghttp2.h ] || die "missing libnghttp2-dev (run scripts/deps)"
SRC_BIN=$(cd "$BIN_ARG" && pwd)
for b in weft-proxy weft-init weft weft-controller; do
  [ -x "$SRC_BIN/$b" ] || die "$SRC_BIN/$b not built (make build)"
done

# ---- parameters ---------------------------------------------------------------
if [ "$QUICK" -eq 1 ]; then
  WARMUP=0.5
  DURATION=2
  DRAIN=1
  # proto:body:rate — a subset
  CELLS=(h1:0:1000 h1:1024:1000 h1:1024:5000 grpc:1024:1000)
  SAT_PROTOS=(h1)
  SAT_DURATION=1.5
  SAT_START=3000
  SAT_FACTOR=1.4
  MODE=quick
else
  WARMUP=1
  DURATION=4
  DRAIN=2
  CELLS=()
  for proto in h1 grpc; do
    for body in 0 1024 16384; do
      for rate in 1000 5000; do CELLS+=("$proto:$body:$rate"); done
    done
  done
  SAT_PROTOS=(h1 grpc)
  SAT_DURATION=2
  SAT_START=4000
  SAT_FACTOR=1.25
  MODE=full
fi
# Connections: HTTP/1.1 has one request in flight per connection, so it
# needs more of them than HTTP/2, which multiplexes.
CONNS_H1=16
CONNS_GRPC=4
SAT_CONNS_H1=64
SAT_CONNS_GRPC=8
SAT_MAX=120000
SAT_P99_MS=50 # a step whose p99 exceeds this is not "sustained", even if it PASSed
STRACE_RATE=500
STRACE_SECONDS=3

RESULTS=${BENCH_RESULTS:-"$BENCH_DIR/results"} # BENCH_RESULTS: write elsewhere
WORK="$RESULTS/work"
RAW="$RESULTS/runs.raw"
mkdir -p "$RESULTS"
rm -rf "$WORK"
mkdir -p "$WORK/hgrm"
: >"$RAW"
TMPD=$(mktemp -d /tmp/weft-bench.XXXXXX)
chmod 755 "$TMPD"
trap bench_cleanup EXIT INT TERM
T_START=$(date +%s)

# ---- build the tools, snapshot the binaries ----------------------------------
# The proxy binaries are copied so a rebuild during the run changes nothing.
BENCH_BIN="$TMPD/bin"
WEFT_BIN="$TMPD/weft"
mkdir -p "$BENCH_BIN" "$WEFT_BIN"
cp "$SRC_BIN/weft-proxy" "$SRC_BIN/weft-init" "$SRC_BIN/weft" "$SRC_BIN/weft-controller" "$WEFT_BIN/"
chmod 755 "$TMPD" "$WEFT_BIN" "$WEFT_BIN"/*
say "building weft-loadgen and weft-bench-backend"
CFLAGS=(-std=c17 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
  -Wno-unused-parameter -fno-strict-aliasing)
L="$BENCH_DIR/loadgen"
cc "${CFLAGS[@]}" -o "$BENCH_BIN/weft-loadgen" "$L/loadgen.c" "$L/client_h1.c" "$L/client_h2.c" \
  "$L/h1.c" "$L/hist.c" "$L/procstat.c" -lnghttp2 -lm
cc "${CFLAGS[@]}" -o "$BENCH_BIN/weft-bench-backend" "$L/backend.c" "$L/h1.c" -lnghttp2
cc "${CFLAGS[@]}" -I"$REPO_DIR/tests/unit" -o "$BENCH_BIN/test_loadgen" "$L/test_loadgen.c" \
  "$L/hist.c" "$L/h1.c" -lm
"$BENCH_BIN/test_loadgen" >"$TMPD/test_loadgen.log" || die "loadgen unit tests failed: $(cat "$TMPD/test_loadgen.log")"

# ---- set up the four scenarios ----------------------------------------------------
say "setting up namespaces, certificates, backends and proxies ($MODE mode, $ROUNDS round(s))"
CERTS="$TMPD/certs"
make_certs "$CERTS"
for scn in "${SCENARIOS[@]}"; do setup_scenario "$scn"; done

# Sanity: one request of each kind through every chain before measuring.
for scn in "${SCENARIOS[@]}"; do
  code=$(ip netns exec "${NS_C[$scn]}" curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    --data-binary "hello" "http://${TARGET_H1[$scn]}/" || true)
  [ "$code" = 200 ] || die "$scn: HTTP/1.1 sanity request got '$code'"
  ip netns exec "${NS_C[$scn]}" "$BENCH_BIN/weft-loadgen" --quiet --proto grpc --rate 50 \
    --conns 1 --warmup 0 --duration 0.2 --drain 2 "${TARGET_GRPC[$scn]}" >/dev/null ||
    die "$scn: gRPC sanity run failed"
done

# Idle RSS of every proxy, after start-up and one request, before the load.
: >"$WORK/rss.txt"
for scn in weft nginx haproxy; do
  for kv in $(proxy_pids "$scn"); do
    echo "$scn ${kv%%=*} idle $(awk '/^VmRSS:/ { print $2 }' "/proc/${kv#*=}/status")" >>"$WORK/rss.txt"
  done
done

{
  echo "mode=$MODE"
  echo "rounds=$ROUNDS"
  echo "warmup_s=$WARMUP"
  echo "duration_s=$DURATION"
  echo "conns_h1=$CONNS_H1"
  echo "conns_grpc=$CONNS_GRPC"
  echo "sat_start=$SAT_START"
  echo "sat_factor=$SAT_FACTOR"
  echo "sat_duration_s=$SAT_DURATION"
  echo "sat_conns_h1=$SAT_CONNS_H1"
  echo "sat_conns_grpc=$SAT_CONNS_GRPC"
  echo "sat_p99_ms=$SAT_P99_MS"
  echo "strace_rate=$STRACE_RATE"
  echo "strace_seconds=$STRACE_SECONDS"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # BENCH_WEFT_REV names the weft build when BIN_DIR is not this tree's.
  echo "git=${BENCH_WEFT_REV:-$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo +dirty)}"
  echo "weft_sha256=$(sha256sum "$WEFT_BIN/weft-proxy" | cut -c1-12)"
  echo "weft_version=$("$WEFT_BIN/weft-proxy" --version 2>&1 | head -n 1)"
  echo "nginx_version=$(nginx -v 2>&1 | sed 's/.*: //')"
  echo "haproxy_version=$(haproxy -v | head -n 1 | awk '{ print $3 }')"
  echo "openssl_version=$(openssl version | awk '{ print $2 }')"
  echo "kernel=$(uname -r)"
  echo "cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo) x $(nproc)"
  echo "client_cpu=$CLIENT_CPU"
  echo "server_cpu=$SERVER_CPU"
  echo "priority=$([ ${#PRIO[@]} -gt 0 ] && echo "SCHED_FIFO 10 (BENCH_RT=1)" || echo "normal (SCHED_OTHER)")"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$WORK/meta.txt"

# ---- the matrix, interleaved ------------------------------------------------------
n_runs=$((ROUNDS * ${#CELLS[@]} * ${#SCENARIOS[@]}))
say "matrix: ${#CELLS[@]} cells x ${#SCENARIOS[@]} scenarios x $ROUNDS round(s) = $n_runs runs of ${WARMUP}+${DURATION} s"
for ((round = 1; round <= ROUNDS; round++)); do
  for cell in "${CELLS[@]}"; do
    IFS=: read -r proto body rate <<<"$cell"
    conns=$CONNS_H1
    [ "$proto" = grpc ] && conns=$CONNS_GRPC
    for scn in "${SCENARIOS[@]}"; do
      run_load "$scn" "$proto" "$body" "$rate" "$WARMUP" "$DURATION" "$conns" \
        --tag kind=matrix --tag "round=$round" \
        --hist "$WORK/hgrm/$scn-$proto-$body-$rate-r$round.hgrm" || true
    done
  done
done

# ---- step-up to saturation -----------------------------------------------------------
# Rates grow by SAT_FACTOR from SAT_START, all scenarios interleaved at each
# step; a scenario drops out at its first FAILED step (achieved < 99 % of
# the target, or errors). Its saturation throughput is the last rate passed.
# A PASS with p99 above SAT_P99_MS counts as a failure too: HTTP/2 queues
# without limit, so a saturated chain can still complete 99 % of the target
# with requests waiting hundreds of ms. The step-up ends when every proxy
# has dropped out (direct, the loadgen's and backend's own ceiling, is then
# reported as "at least").
for proto in "${SAT_PROTOS[@]}"; do
  conns=$SAT_CONNS_H1
  [ "$proto" = grpc ] && conns=$SAT_CONNS_GRPC
  say "step-up to saturation: $proto, 1 KiB, $conns connections, ${SAT_DURATION} s per step"
  declare -A alive=()
  for scn in "${SCENARIOS[@]}"; do alive[$scn]=1; done
  rate=$SAT_START
  while [ "$rate" -le $SAT_MAX ]; do
    any=0
    for scn in weft nginx haproxy; do [ "${alive[$scn]}" = 1 ] && any=1; done
    [ $any -eq 1 ] || break
    for scn in "${SCENARIOS[@]}"; do
      [ "${alive[$scn]}" = 1 ] || continue
      if ! run_load "$scn" "$proto" 1024 "$rate" 0.5 "$SAT_DURATION" "$conns" \
        --tag kind=sat --tag "round=1" ||
        awk -v p="$(last_field p99_us)" -v lim="$SAT_P99_MS" 'BEGIN { exit !(p > lim * 1000) }'; then
        alive[$scn]=0
      fi
    done
    rate=$(awk -v r="$rate" -v f="$SAT_FACTOR" 'BEGIN { printf "%d", r * f }')
  done
  unset alive
done

# ---- syscalls per request (strace -c, a separate short run) ------------------------
say "syscalls per request: strace -c -f on each proxy, ${STRACE_RATE}/s for ${STRACE_SECONDS} s"
for scn in weft nginx haproxy; do
  spids=()
  for kv in $(proxy_pids "$scn"); do
    side=${kv%%=*}
    strace -c -f -o "$WORK/strace-$scn-$side.txt" -p "${kv#*=}" 2>"$TMPD/strace-$scn-$side.log" &
    spids+=("$!")
    BG_PIDS+=("$!")
  done
  sleep 1 # let strace attach to every thread
  run_load "$scn" h1 1024 "$STRACE_RATE" 0 "$STRACE_SECONDS" "$CONNS_H1" --tag kind=strace || true
  for p in "${spids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${spids[@]}"; do
    wait "$p" 2>/dev/null || true
    forget_pid "$p"
  done
done

# ---- what the weft path is today, peak RSS, metadata ----------------------------------
for side in out in; do
  ns=${NS_C[weft]}
  [ $side = in ] && ns=${NS_S[weft]}
  ip netns exec "$ns" curl -fsS --max-time 3 http://127.0.0.1:4191/metrics \
    >"$WORK/weft-$side.metrics" 2>/dev/null || true
done
for scn in weft nginx haproxy; do
  for kv in $(proxy_pids "$scn"); do
    echo "$scn ${kv%%=*} peak $(awk '/^VmHWM:/ { print $2 }' "/proc/${kv#*=}/status")" >>"$WORK/rss.txt"
  done
done
{
  echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "elapsed_s=$(($(date +%s) - T_START))"
} >>"$WORK/meta.txt"

say "writing the report"
"$PY" "$BENCH_DIR/report.py" --raw "$RAW" --work "$WORK" --out "$RESULTS"
say "done in $(($(date +%s) - T_START)) s: $RESULTS/REPORT.md, $RESULTS/latency-1k.png"
