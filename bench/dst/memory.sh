#!/usr/bin/env bash
# bench/dst/memory.sh BIN_DIR [SERVICES] [PODS_PER_SERVICE] — resident memory
# of `weft-controller destination` per endpoint: RSS with an empty store vs.
# with SERVICES × PODS_PER_SERVICE meshed endpoints (default 100 × 100 =
# 10,000), and again with one Get stream open per service. 127.0.0.1 only.
set -euo pipefail
BIN=${1:?usage: memory.sh BIN_DIR [SERVICES] [PODS_PER_SERVICE]}
NSVC=${2:-100}
NPOD=${3:-100}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d /tmp/weft-dst-mem.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# start STORE → sets PID, ADDR, ADMIN once /ready answers
start() {
  local p a
  p=$(port); a=$(port)
  "$BIN/weft-controller" destination --store "$1" --addr "127.0.0.1:$p" \
    --admin-addr "127.0.0.1:$a" --log-level warn >"$T/ctl.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  ADDR="127.0.0.1:$p"
  ADMIN="127.0.0.1:$a"
  for _ in $(seq 600); do
    curl -sf "http://$ADMIN/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "controller did not become ready" >&2
  exit 1
}

mkdir -p "$T/empty"
start "$T/empty"
base=$(rss_kb "$PID")
kill "$PID"; wait "$PID" 2>/dev/null || true

/usr/bin/python3 "$HERE/gen_store.py" "$T/store" "$NSVC" "$NPOD"
bytes=$(du -sb "$T/store" | cut -f1)
n=$((NSVC * NPOD))
start "$T/store"
full=$(rss_kb "$PID")
objs=$(curl -s "http://$ADMIN/metrics" | /usr/bin/python3 "$SRC/tests/integration/helpers/prom_sum.py" destination_objects)

protoc-c --proto_path="$SRC/proto" --include_imports --descriptor_set_out="$T/weft.pb" destination.proto
for s in $(seq 0 $((NSVC - 1))); do
  /usr/bin/python3 "$SRC/tests/integration/helpers/dst_client.py" "$T/weft.pb" "$ADDR" get \
    "svc-$s.bench.svc.cluster.local:80" >"$T/stream-$s.out" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 600); do
  done_n=$(cat "$T"/stream-*.out 2>/dev/null | grep -c '^ADD' || true)
  [[ $done_n -ge $NSVC ]] && break
  sleep 0.1
done
streams=$(rss_kb "$PID")
echo "endpoints: $n (store: $bytes bytes of JSON, $objs objects cached)"
echo "RSS empty store:        $base KiB"
echo "RSS with the store:     $full KiB  → $(( (full - base) * 1024 / n )) bytes per endpoint (pod + its share of slices/services)"
echo "RSS + $NSVC Get streams: $streams KiB  → $(( (streams - full) * 1024 / n )) bytes per endpoint streamed"
