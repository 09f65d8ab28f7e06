#!/usr/bin/env bash
# bench/try.sh BIN_DIR SCENARIOS PROTO BODY RATE [SECONDS [REPEAT [CONNS]]]
# A quick look at one cell: sets up only the named scenarios (comma-
# separated: direct,weft,nginx,haproxy), runs the loadgen REPEAT times per
# scenario (interleaved), prints one line per run, tears everything down.
# For investigating, not for reports: nothing is written to bench/results.
#   bench/try.sh build/bin direct,weft h1 1024 5000 3 2
# Extra environment: TRY_STRACE=1 adds a `strace -c -f` summary per proxy.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$BENCH_DIR/lib.sh"

[ $# -ge 5 ] || {
  sed -n '2,9p' "$0" >&2
  exit 2
}
SRC_BIN=$(cd "$1" && pwd)
IFS=, read -r -a WANT <<<"$2"
PROTO=$3 BODY=$4 RATE=$5 SECONDS_=${6:-3} REPEAT=${7:-1}
CONNS=${8:-16}
[ "$PROTO" = grpc ] && [ $# -lt 8 ] && CONNS=4
DRAIN=2
[ "$(id -u)" -eq 0 ] || die "must run as root"

TMPD=$(mktemp -d /tmp/weft-try.XXXXXX)
chmod 755 "$TMPD"
trap bench_cleanup EXIT INT TERM
RAW="$TMPD/runs.raw"
BENCH_BIN="$TMPD/bin"
WEFT_BIN="$TMPD/weft"
mkdir -p "$BENCH_BIN" "$WEFT_BIN"
cp "$SRC_BIN/weft-proxy" "$SRC_BIN/weft-init" "$WEFT_BIN/"
chmod 755 "$WEFT_BIN" "$WEFT_BIN"/*
L="$BENCH_DIR/loadgen"
CFLAGS=(-std=c17 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter)
cc "${CFLAGS[@]}" -o "$BENCH_BIN/weft-loadgen" "$L/loadgen.c" "$L/client_h1.c" "$L/client_h2.c" \
  "$L/h1.c" "$L/hist.c" "$L/procstat.c" -lnghttp2 -lm
cc "${CFLAGS[@]}" -o "$BENCH_BIN/weft-bench-backend" "$L/backend.c" "$L/h1.c" -lnghttp2
CERTS="$TMPD/certs"
make_certs "$CERTS"
for scn in "${WANT[@]}"; do
  [ -n "${SCN_NET[$scn]:-}" ] || die "unknown scenario $scn"
  setup_scenario "$scn"
done
for ((i = 1; i <= REPEAT; i++)); do
  for scn in "${WANT[@]}"; do
    spids=()
    if [ "${TRY_STRACE:-0}" = 1 ]; then
      for kv in $(proxy_pids "$scn"); do
        strace -c -f -o "$TMPD/strace-$scn-${kv%%=*}.txt" -p "${kv#*=}" 2>/dev/null &
        spids+=("$!")
        BG_PIDS+=("$!")
      done
      sleep 1
    fi
    run_load "$scn" "$PROTO" "$BODY" "$RATE" 1 "$SECONDS_" "$CONNS" || true
    if [ ${#spids[@]} -gt 0 ]; then
      for p in "${spids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
      for p in "${spids[@]}"; do
        wait "$p" 2>/dev/null || true
        forget_pid "$p"
      done
      for kv in $(proxy_pids "$scn"); do
        echo "--- strace $scn ${kv%%=*}"
        head -n 12 "$TMPD/strace-$scn-${kv%%=*}.txt"
      done
    fi
  done
done
grep -o 'proc[.][a-z]*[.]cpu_us_per_req=[0-9.]*' "$RAW" | paste -sd' ' | fold -w 200
