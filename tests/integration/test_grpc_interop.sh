#!/usr/bin/env bash
# gRPC interop: weft's gRPC layer (src/lib/grpc) against python3-grpcio, both
# ways, on 127.0.0.1 only:
#   - our C client (test_grpc --call) → a grpcio server of the test service:
#     unary, percent-encoded error message, deadline, server-streaming,
#     streaming error after a message, unknown method, message size limits,
#     cancel, 60 concurrent calls;
#   - a grpcio client → our C server (test_grpc --serve): the same, plus our
#     server enforcing the client's grpc-timeout (DEADLINE_EXCEEDED).
# Message classes on the python side are built from our proto/*.proto through
# protoc-c's --descriptor_set_out (see helpers/grpc_interop_peer.py).
# Environment: WEFT_BIN (dir holding test_grpc; required), WEFT_SRC (repo root).
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
PEER="$WEFT_SRC/tests/integration/helpers/grpc_interop_peer.py"
[[ -x "$WEFT_BIN/test_grpc" ]] || { echo "FAILED: $WEFT_BIN/test_grpc not built"; exit 1; }
command -v protoc-c >/dev/null || { echo "FAILED: protoc-c missing (scripts/deps)"; exit 1; }
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
  { echo "FAILED: python3-grpcio / python3-protobuf missing (scripts/deps)"; exit 1; }

T=$(mktemp -d)
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -50 "$f"; }; done
  fi
  rm -rf "$T"
}
trap cleanup EXIT

protoc-c --proto_path="$WEFT_SRC/proto" --include_imports \
  --descriptor_set_out="$T/weft.pb" identity.proto destination.proto

# Waits for "READY <port>" on a server's stdout log; prints the port.
ready_port() {
  local log=$1
  for _ in $(seq 100); do
    if grep -q '^READY ' "$log" 2>/dev/null; then
      awk '/^READY /{print $2; exit}' "$log"
      return 0
    fi
    sleep 0.1
  done
  echo "server did not become ready ($log)" >&2
  return 1
}

fail=0

# 1. Our client → grpcio server.
"$PY" "$PEER" "$T/weft.pb" serve 0 >"$T/py_server.log" 2>&1 &
PIDS+=($!)
port=$(ready_port "$T/py_server.log")
if timeout 120 "$WEFT_BIN/test_grpc" --call "127.0.0.1:$port" >"$T/c_client.log" 2>&1; then
  echo "ok   weft client -> grpcio server"
else
  echo "FAIL weft client -> grpcio server"; cat "$T/c_client.log"; fail=1
fi

# 2. grpcio client → our server.
"$WEFT_BIN/test_grpc" --serve 0 >"$T/c_server.log" 2>&1 &
PIDS+=($!)
port=$(ready_port "$T/c_server.log")
if timeout 120 "$PY" "$PEER" "$T/weft.pb" call "127.0.0.1:$port" >"$T/py_client.log" 2>&1; then
  echo "ok   grpcio client -> weft server"
else
  echo "FAIL grpcio client -> weft server"; cat "$T/py_client.log"; fail=1
fi

if [[ $fail -eq 0 ]]; then
  echo "PASS test_grpc_interop"
else
  echo "FAILED test_grpc_interop"
  exit 1
fi
