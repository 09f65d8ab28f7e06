#!/usr/bin/env bash
# bench/dst/propagation.sh BIN_DIR [TRIALS] — endpoint-update propagation
# latency (issue #6): from an EndpointSlice renamed into the destination
# controller's store until the client's outbound weft-proxy acts on it.
#
# Pods: cp (weft-controller identity + destination on a store directory), a
# (meshed client running weft-loadgen), b1 and b2 (meshed, real nginx logging
# each request's arrival time). Load: HTTP/1.1 keep-alive from a to the web
# Service's virtual IP, PROP_RATE req/s, open loop, for the whole run. TRIALS
# (default 30) times each, PROP_GAP_MS apart (± 20 % random, so nothing
# phase-locks with a timer), alternating:
#   ADD    the slice {old} becomes {old, new}; t0 = CLOCK_REALTIME just before
#          the rename; latency = first request arrival at new's nginx − t0
#   REMOVE it becomes {new};   latency = last arrival at old's nginx − t0
# then old and new (b1, b2) swap roles: a rolling update, so a REMOVE always
# takes away the endpoint carrying the traffic (PROP_PATTERN=b2: add and
# remove b2 beside b1 instead). An update that shows no effect within its
# gap counts as "> window".
# Prints a markdown summary and writes it to bench/results/dst-propagation.md
# (PROP_OUT overrides). Needs root; traffic stays inside its namespaces.
# shellcheck disable=SC2153  # BG_PID, POD_IP... come from tests/integration/lib.sh
set -euo pipefail
BIN_DIR=${1:?usage: propagation.sh BIN_DIR [TRIALS]}
TRIALS=${2:-30}
RATE=${PROP_RATE:-1500}
CONNS=${PROP_CONNS:-16}
GAP_MS=${PROP_GAP_MS:-800}
PATTERN=${PROP_PATTERN:-rolling}
[[ $TRIALS =~ ^[1-9][0-9]*$ ]] || { echo "propagation.sh: TRIALS must be a positive integer" >&2; exit 2; }
[[ $PATTERN = rolling || $PATTERN = b2 ]] || { echo "propagation.sh: PROP_PATTERN is rolling or b2" >&2; exit 2; }
[[ $RATE =~ ^[1-9][0-9]*$ && $CONNS =~ ^[1-9][0-9]*$ && $GAP_MS =~ ^[1-9][0-9]*$ ]] ||
  { echo "propagation.sh: PROP_RATE, PROP_CONNS, PROP_GAP_MS must be positive integers" >&2; exit 2; }
WEFT_BIN=$(cd "$BIN_DIR" && pwd)
for b in weft weft-controller weft-proxy weft-init weft-loadgen; do
  [ -x "$WEFT_BIN/$b" ] || { echo "propagation.sh: $WEFT_BIN/$b not built" >&2; exit 2; }
done
command -v nginx >/dev/null || { echo "propagation.sh: nginx not installed" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${PROP_OUT:-$HERE/../results/dst-propagation.md}
# Load lasts: 3 s warm-up + 2 updates (gap at most +20 %, ~30 ms to write)
# per trial + a last gap + 2 s spare.
LOAD_S=$(((TRIALS * 2 + 1) * (GAP_MS * 12 / 10 + 50) / 1000 + 6))
export WEFT_TEST_TIMEOUT=$((LOAD_S + 120))
# shellcheck source-path=SCRIPTDIR source=mesh.sh
source "$HERE/mesh.sh"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
# nginx logs when the request was read ($msec, ms resolution, the time its
# event loop woke) minus its own handling time: its arrival.
# shellcheck disable=SC2016,SC2034  # nginx variables; read by nginx_start
NGINX_LOG_FORMAT='$msec $request_time $status'

pod_add cp
pod_add a
pod_add b1
pod_add b2
mesh_control_plane
mkdir -p "$T/www"
printf 'weft propagation bench\n' >"$T/www/index.html"
chmod -R a+rX "$T/www"
for p in b1 b2; do
  nginx_start "$p" "$T/www" 8080 "keepalive_requests 100000000; keepalive_timeout 300s;"
  store_pod "$p" web
  mesh_join "$p" web
done
store_service web 10.43.0.10 80 8080
store_slice web 8080 b1
mesh_join a client
code=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' http://10.43.0.10/) || true
[ "$code" = 200 ] || die "a → web Service (10.43.0.10:80) through the mesh answered '$code', not 200"
dst_watch 10.43.0.10:80 "$T/watch"

say "load: $RATE req/s over $CONNS keep-alive connections for ${LOAD_S}s; $TRIALS adds + $TRIALS removes ($PATTERN), gaps ${GAP_MS} ms ± 20 %"
start_bg a "$WEFT_BIN/weft-loadgen" --quiet --proto h1 --rate "$RATE" --conns "$CONNS" --expect -1 \
  --spin-us 0 --warmup 1 --duration "$((LOAD_S - 1))" --drain 2 "10.43.0.10:80" \
  >"$T/loadgen.out" 2>"$T/loadgen.err"
LG_PID=$BG_PID
sleep 3
kill -0 "$LG_PID" 2>/dev/null || die "weft-loadgen exited early: $(head -c 300 "$T/loadgen.err")"

gap() { sleep "$(awk -v g="$GAP_MS" -v r="$RANDOM" 'BEGIN { printf "%.3f", g * (0.8 + 0.4 * r / 32767) / 1000 }')"; }
: >"$T/events"
# The slice goes {old} → {old, new} (ADD new) → {new} (REMOVE old), then the
# two swap: each ADD is measured on the endpoint that just joined, each REMOVE
# on the one that was carrying the traffic. PROP_PATTERN=b2 instead adds and
# removes b2 beside b1 every time (the literal recipe; see bench/README.md for
# why its REMOVE figures say little with this proxy's balancer).
old=b1 new=b2
for ((i = 1; i <= TRIALS; i++)); do
  gap
  store_slice web 8080 "$old" "$new"
  echo "add $new $STORE_T0" >>"$T/events"
  gap
  if [ "$PATTERN" = b2 ]; then
    store_slice web 8080 b1
    echo "remove b2 $STORE_T0" >>"$T/events"
  else
    store_slice web 8080 "$new"
    echo "remove $old $STORE_T0" >>"$T/events"
    old=$new new=$([ "$new" = b1 ] && echo b2 || echo b1)
  fi
  ((i % 10 == 0)) && say "  $i/$TRIALS adds and removes"
done
gap
echo "end - $EPOCHREALTIME" >>"$T/events"
lg_state=$(awk '{print $3}' "/proc/$LG_PID/stat" 2>/dev/null || echo gone)
[[ $lg_state != Z && $lg_state != gone ]] || die "the load ended before the last update's window did"
wait_pid_exit "$LG_PID" 30
[ "$WAIT_RC" != timeout ] || die "weft-loadgen did not finish within 30 s of its end"
LG=$(grep '^RESULT' "$T/loadgen.out" || true)
[ -n "$LG" ] || die "weft-loadgen printed no RESULT (status $WAIT_RC): $(head -c 300 "$T/loadgen.err")"

{
  "$PY" "$HERE/propagation_report.py" "$T/events" "$T/watch" "$RATE" "$GAP_MS" \
    "b1=${POD_IP[b1]}=$T/nginx-b1/access.log" "b2=${POD_IP[b2]}=$T/nginx-b2/access.log"
  cat <<EOF

Setup: pods cp (weft-controller identity + destination, store watched with
inotify), a (meshed client), b1 and b2 (meshed, nginx 1 worker on :8080);
every weft-proxy \`WEFT_PROXY_CORES=1\`. Load: \`weft-loadgen\` in a, HTTP/1.1
GET to the Service VIP 10.43.0.10:80, $RATE req/s open loop over $CONNS
keep-alive connections, ${LOAD_S}s. Loadgen over the run: ok $(loadgen_field ok <<<"$LG"),
errors $(loadgen_field errors <<<"$LG") (status $(loadgen_field err_status <<<"$LG"), io $(loadgen_field err_io <<<"$LG"),
timeout $(loadgen_field err_timeout <<<"$LG")), reconnects $(loadgen_field reconnects <<<"$LG"), latency p50 $(loadgen_field p50_us <<<"$LG") µs,
p99 $(loadgen_field p99_us <<<"$LG") µs, max $(loadgen_field max_us <<<"$LG") µs; update pattern: $PATTERN.
EOF
} >"$T/summary.md"
{
  echo "# Endpoint-update propagation (bench/dst/propagation.sh)"
  echo
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname), a shared, noisy 2-core VM (other"
  echo "people's builds and tests run on it at the same time; load average at the start"
  echo "$LOADAVG); weft at commit $(bench_commit); command \`bash bench/dst/propagation.sh BIN_DIR $TRIALS\`."
  echo
  cat "$T/summary.md"
} >"$T/report.md"
mkdir -p "$(dirname "$OUT")"
cp "$T/report.md" "$OUT"
cat "$T/report.md"
say "written to $OUT"
