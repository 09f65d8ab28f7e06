#!/usr/bin/env bash
# HTTP/2 and gRPC through both sidecars (client pod a → server pod b):
#  - real gRPC (python3-grpcio) client and server: unary with trailers, an
#    error status, server/client/bidi streaming, an 8 MiB message, a
#    deadline (client RST_STREAM), and 50 calls completing beside one slow
#    call on the same connection (streams are independent);
#  - nginx serving h2c: curl --http2-prior-knowledge download and upload
#    (bodies identical both ways) and h2load with many concurrent streams;
#  - golden metrics: gRPC status classification (grpc_status="0" success,
#    "5" failure) on both proxies; h2 requests counted;
#  - SIGTERM with gRPC calls in flight: the client-side proxy sends GOAWAY,
#    the 10 in-flight calls (3 s each) all complete, it exits 0 well before
#    its grace period.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

pod_add a
pod_add b
pod_mesh a
pod_mesh b
B=${POD_IP[b]}

# --- gRPC -------------------------------------------------------------------
start_bg b "$PY" "$WT_LIB_DIR/helpers/grpc_peer.py" server 50051 >"$T/grpc-server.log" 2>&1
wait_listen b 50051
in_pod a "$PY" "$WT_LIB_DIR/helpers/grpc_peer.py" client "$B:50051" | tee "$T/grpc-client.out"
grep -q '^0 failures$' "$T/grpc-client.out" || fail "gRPC cases failed through the sidecars"
_ok "gRPC unary/streaming/errors/deadline/independent streams"

G_OUT="direction=\"outbound\",target_port=\"50051\""
G_IN="direction=\"inbound\",target_port=\"50051\""
# Calls: U ×2 (+1 error) + S + C + B + Big + Slow(deadline) + Slow + U ×50.
ok_out=$(wait_metric a response_total "$G_OUT,grpc_status=\"0\",classification=\"success\"" '>=' 56 5) || true
assert_ge "$ok_out" 56 "a: gRPC OK responses counted as success"
assert_num_eq "$(metric a response_total "$G_OUT,grpc_status=\"5\",classification=\"failure\"")" 1 \
  "a: NOT_FOUND counted as failure with grpc_status=5"
assert_ge "$(metric b response_total "$G_IN,grpc_status=\"0\",classification=\"success\"")" 56 \
  "b: gRPC OK responses counted inbound"
assert_num_eq "$(metric b response_total "$G_IN,grpc_status=\"5\",classification=\"failure\"")" 1 \
  "b: NOT_FOUND counted inbound"
assert_ge "$(metric a request_total "$G_OUT,authority=\"$B:50051\"")" 58 "a: gRPC requests counted with the authority"
assert_ge "$(metric a response_latency_ms_count "$G_OUT")" 56 "a: gRPC latency observed"

# --- h2c with nginx -----------------------------------------------------------
mkdir -p "$T/www" "$T/ngx/tmp"
head -c 3000000 /dev/urandom >"$T/www/blob.bin"
head -c 1024 /dev/urandom >"$T/www/small.bin"
cat >"$T/ngx/nginx.conf" <<NGX
daemon off; worker_processes 1; user root; pid $T/ngx/nginx.pid; error_log $T/ngx/error.log;
events { worker_connections 512; }
http {
  access_log off; client_body_temp_path $T/ngx/tmp; client_max_body_size 64m;
  server { listen 8082 http2; root $T/www; http2_max_concurrent_streams 256;
           location /echo { proxy_pass http://127.0.0.1:8081; } }
  server { listen 127.0.0.1:8081; location / { return 200 "len=\$content_length\n"; } }
}
NGX
start_bg b nginx -p "$T/ngx" -c "$T/ngx/nginx.conf" >"$T/ngx.log" 2>&1
wait_listen b 8082
in_pod a curl -sS --max-time 20 --http2-prior-knowledge -o "$T/got.bin" \
  -w '%{http_version} %{http_code}\n' "http://$B:8082/blob.bin" >"$T/h2.out"
assert_eq "$(cat "$T/h2.out")" "2 200" "h2c download status and version"
cmp -s "$T/got.bin" "$T/www/blob.bin" || fail "h2c download differs"
_ok "h2c download identical (3000000 bytes)"
up=$(in_pod a curl -sS --max-time 20 --http2-prior-knowledge -X POST --data-binary "@$T/www/blob.bin" \
  "http://$B:8082/echo")
assert_eq "$up" "len=3000000" "h2c upload reached the app whole"
in_pod a h2load -n 2000 -c 4 -m 50 "http://$B:8082/small.bin" >"$T/h2load.out" 2>&1 || true
grep -E 'requests:|status codes' "$T/h2load.out"
grep -q '2000 succeeded, 0 failed' "$T/h2load.out" || fail "h2load: not every stream succeeded"
_ok "h2load: 2000 requests over 4 connections × 50 concurrent streams"
H_OUT="direction=\"outbound\",target_port=\"8082\""
assert_ge "$(metric a response_total "$H_OUT,status_code=\"200\",classification=\"success\"")" 2002 \
  "a: h2 responses counted"
assert_ge "$(metric b request_total "direction=\"inbound\",target_port=\"8082\"")" 2002 "b: h2 requests counted"
assert_eq "$(in_pod a curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:4191/ready)" 200 "a: proxy ready after the load"

# --- SIGTERM with HTTP/2 streams in flight ---------------------------------
PA_PID=${PROXY_PID[a]}
in_pod a "$PY" "$WT_LIB_DIR/helpers/grpc_peer.py" slow "$B:50051" 10 >"$T/slow.out" 2>&1 &
SLOW=$!
BG_PIDS+=("$SLOW")
sleep 1 # the calls are in flight (each takes 3 s at the server)
t0=$(now)
kill -TERM "$PA_PID"
wait "$SLOW" || true
cat "$T/slow.out"
grep -q '^slow ok 10$' "$T/slow.out" || fail "in-flight gRPC calls failed across SIGTERM"
_ok "10 in-flight gRPC calls completed across the proxy's SIGTERM"
wait_pid_exit "$PA_PID" 10
elapsed=$(calc "$(now) - $t0")
log "proxy a exited ($WAIT_RC), ${elapsed}s after SIGTERM (grace period 2m)"
assert_eq "$WAIT_RC" 0 "proxy a exit status after the drain"
assert_lt "$elapsed" 30 "proxy a exited once its streams were done, not at the grace deadline"
