#!/usr/bin/env bash
# bench/dst/balance.sh BIN_DIR — how weft-proxy's outbound balancer spreads
# requests over a Service's endpoints (issue #6).
#
# Pods: cp (weft-controller identity + destination), a (meshed client running
# weft-loadgen), b1, b2, b3 (meshed). Each b pod runs two weft-bench-backends:
# :8080 answering at once, :8081 holding each response 1 ms (b1, b2) or 10 ms
# (b3). Two Services, each with all three pods in its EndpointSlice:
#   (a) even  10.43.0.10:80 → :8080 — three equal endpoints; goal: each gets
#       an equal share ± 10 % (relative: 30.0–36.7 % of the requests). Run
#       twice: first from cold (the proxy has not yet sent this Service a
#       request; its first to each endpoint waits for the mTLS connection),
#       then again at once, warm.
#   (b) slow  10.43.0.20:80 → :8081 — one endpoint 10× slower; goal: it gets
#       ≤ 10 % of the requests
# Load per phase: HTTP/1.1 keep-alive, BAL_RATE req/s (1000) open loop over 16
# connections, 1 s warm-up + BAL_SECONDS (10) s. Requests per endpoint are the
# growth of request_total{direction="inbound",target_port=...} on each b pod's
# proxy (/metrics on :4191) over the phase, sampled every 2 s to show how the
# shares move. Prints a markdown summary and writes it to
# bench/results/dst-balance.md (BAL_OUT overrides). Needs root.
# shellcheck disable=SC2153  # BG_PID, POD_IP... come from tests/integration/lib.sh
set -euo pipefail
BIN_DIR=${1:?usage: balance.sh BIN_DIR}
RATE=${BAL_RATE:-1000}
SECONDS_PER_PHASE=${BAL_SECONDS:-10}
[[ $RATE =~ ^[1-9][0-9]*$ && $SECONDS_PER_PHASE =~ ^[1-9][0-9]*$ ]] ||
  { echo "balance.sh: BAL_RATE and BAL_SECONDS must be positive integers" >&2; exit 2; }
WEFT_BIN=$(cd "$BIN_DIR" && pwd)
for b in weft weft-controller weft-proxy weft-init weft-loadgen weft-bench-backend; do
  [ -x "$WEFT_BIN/$b" ] || { echo "balance.sh: $WEFT_BIN/$b not built" >&2; exit 2; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${BAL_OUT:-$HERE/../results/dst-balance.md}
export WEFT_TEST_TIMEOUT=$((2 * SECONDS_PER_PHASE + 150))
# shellcheck source-path=SCRIPTDIR source=mesh.sh
source "$HERE/mesh.sh"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
PODS=(b1 b2 b3)
declare -A SLOW_US=([b1]=1000 [b2]=1000 [b3]=10000)

pod_add cp
pod_add a
for p in "${PODS[@]}"; do pod_add "$p"; done
mesh_control_plane
for p in "${PODS[@]}"; do
  start_bg "$p" "$WEFT_BIN/weft-bench-backend" --listen 0.0.0.0:8080 >"$T/backend-$p-8080.log" 2>&1
  start_bg "$p" "$WEFT_BIN/weft-bench-backend" --listen 0.0.0.0:8081 --delay-us "${SLOW_US[$p]}" \
    >"$T/backend-$p-8081.log" 2>&1
  wait_listen "$p" 8080
  wait_listen "$p" 8081
  store_pod "$p" web
  mesh_join "$p" web
done
store_service even 10.43.0.10 80 8080
store_slice even 8080 "${PODS[@]}"
store_service slow 10.43.0.20 80 8081
store_slice slow 8081 "${PODS[@]}"
mesh_join a client
for vip in 10.43.0.10 10.43.0.20; do
  code=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$vip/") || true
  [ "$code" = 200 ] || die "a → $vip:80 through the mesh answered '$code', not 200"
done

# counts PORT — "b1 b2 b3" inbound request counts on PORT, one line
counts() {
  local p v line=""
  for p in "${PODS[@]}"; do
    v=$(metric "$p" request_total "direction=\"inbound\",target_port=\"$1\"") ||
      die "cannot scrape $p's proxy /metrics"
    line+="${line:+ }$v"
  done
  echo "$line"
}

# phase NAME VIP PORT — load on VIP, samples of the counts every 2 s into
# $T/NAME.samples ("seconds b1 b2 b3"), the loadgen's RESULT into $T/NAME.result
phase() {
  local name=$1 vip=$2 port=$3 t0 i c
  say "phase $name: $RATE req/s to $vip:80 for 1 + $SECONDS_PER_PHASE s"
  t0=$EPOCHREALTIME
  c=$(counts "$port")
  echo "0 $c" >"$T/$name.samples"
  start_bg a "$WEFT_BIN/weft-loadgen" --quiet --proto h1 --rate "$RATE" --conns 16 --spin-us 0 \
    --warmup 1 --duration "$SECONDS_PER_PHASE" --drain 2 "$vip:80" \
    >"$T/$name.result" 2>"$T/$name.err"
  local lg=$BG_PID
  for ((i = 0; i < SECONDS_PER_PHASE + 10; i++)); do
    wait_pid_exit "$lg" 2
    c=$(counts "$port")
    echo "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') $c" >>"$T/$name.samples"
    [ "$WAIT_RC" = timeout ] || break
  done
  [ "$WAIT_RC" != timeout ] || die "weft-loadgen ($name) did not finish in time"
  grep -q '^RESULT' "$T/$name.result" ||
    die "weft-loadgen ($name) printed no RESULT (status $WAIT_RC): $(head -c 300 "$T/$name.err")"
}

phase even 10.43.0.10 8080
phase even-again 10.43.0.10 8080
phase slow 10.43.0.20 8081

{
  echo "# Balancing spread (bench/dst/balance.sh)"
  echo
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname), a shared, noisy 2-core VM (other"
  echo "people's builds and tests run on it at the same time; load average at the start"
  echo "$LOADAVG); weft at commit $(bench_commit); command \`bash bench/dst/balance.sh BIN_DIR\`."
  echo
  "$PY" "$HERE/balance_report.py" "$T" "even even-again slow" "b1 b2 b3" "${SLOW_US[b1]} ${SLOW_US[b2]} ${SLOW_US[b3]}"
  cat <<EOF

Setup: pods cp (weft-controller identity + destination), a (meshed client), b1–b3
(meshed; weft-bench-backend on :8080 with no delay and on :8081 with the delays
above); every weft-proxy \`WEFT_PROXY_CORES=1\`. Load per phase: \`weft-loadgen\`
in a, HTTP/1.1 GET to the Service VIP, $RATE req/s open loop over 16 keep-alive
connections, 1 s warm-up + ${SECONDS_PER_PHASE} s (the counts include the warm-up).
Counts: growth of \`request_total{direction="inbound",target_port=…}\` on each
endpoint's proxy; "requests sent" is the loadgen's total (ok + errors).
EOF
} >"$T/report.md"
mkdir -p "$(dirname "$OUT")"
cp "$T/report.md" "$OUT"
cat "$T/report.md"
say "written to $OUT"
