# shellcheck shell=bash disable=SC2034,SC2153
# (globals are shared with run.sh/try.sh, which set BENCH_BIN, WEFT_BIN,
# TMPD, RAW, CERTS and DRAIN before calling the functions here)
# bench/lib.sh — sourced by bench/run.sh: pods as network namespaces, the
# four scenarios' processes, certificates, and the loadgen wrapper.
#
# Topology: every scenario S (1 direct, 2 weft, 3 nginx, 4 haproxy) gets its
# own two pods, a client namespace and a server namespace joined by one veth
# pair (10.88.S.1 <-> 10.88.S.2, /24, no route anywhere else), so the weft
# pods' iptables rules touch nothing but weft's traffic, and every scenario
# crosses the same kind of link once. Namespaces are named wb<PID>-<scn>-c/s.
#
# Processes are started in the background by bg_start, which records their
# PIDs; the EXIT trap stops exactly those (SIGTERM, then SIGKILL after 3 s),
# deletes the namespaces and the temp dir. Nothing is killed by name.

set -euo pipefail

PY=/usr/bin/python3
PROXY_UID=2102
BENCH_ID=$$
NS_PREFIX="wb${BENCH_ID}"
CLIENT_CPU=${BENCH_CLIENT_CPU:-0} # the loadgen
SERVER_CPU=${BENCH_SERVER_CPU:-1} # proxies and the backend (all scenarios alike)
SCENARIOS=(direct weft nginx haproxy)
# BENCH_RT=1 runs the loadgen, the backends and every proxy alike under
# SCHED_FIFO (priority 10), so other work on a shared machine cannot delay
# them by a time slice; the kernel still keeps 5 % of each CPU for others.
# Off by default: it is rude to a machine others are using.
PRIO=()
[ "${BENCH_RT:-0}" = 1 ] && PRIO=(chrt -f 10)
declare -A SCN_NET=([direct]=1 [weft]=2 [nginx]=3 [haproxy]=4)
declare -A NS_C=() NS_S=() PID_OF=() TARGET_H1=() TARGET_GRPC=() PROCS=()
declare -a BG_PIDS=() BENCH_NETNS=()

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  printf '[bench] ERROR: %s\n' "$*" >&2
  exit 1
}

# ---- processes ----------------------------------------------------------------

# bg_start NAME NS|- CMD... — runs CMD in the background (inside netns NS),
# output to $TMPD/NAME.log; PID_OF[NAME] is its PID (ip netns exec, taskset,
# setpriv and env all exec, so it is the final program's PID).
bg_start() {
  local name=$1 ns=$2
  shift 2
  if [ "$ns" = "-" ]; then
    "$@" >"$TMPD/$name.log" 2>&1 &
  else
    ip netns exec "$ns" "$@" >"$TMPD/$name.log" 2>&1 &
  fi
  PID_OF[$name]=$!
  BG_PIDS+=("$!")
}

# stop_pids PID... — SIGTERM, wait up to 3 s, SIGKILL what is left.
stop_pids() {
  local p i alive
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# forget_pid PID — drops a PID we have reaped from BG_PIDS, so the cleanup
# never signals whatever process reuses the number later.
forget_pid() {
  local p keep=()
  for p in "${BG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BG_PIDS=(${keep[@]+"${keep[@]}"})
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [ ${#BG_PIDS[@]} -gt 0 ] && stop_pids "${BG_PIDS[@]}"
  local ns
  for ns in ${BENCH_NETNS[@]+"${BENCH_NETNS[@]}"}; do
    ip netns del "$ns" 2>/dev/null || true
  done
  if [ -n "${TMPD:-}" ] && [ -d "$TMPD" ]; then
    if [ $rc -ne 0 ]; then
      say "failed (status $rc); last lines of the process logs:"
      local f
      for f in "$TMPD"/*.log; do
        [ -s "$f" ] || continue
        echo "--- $(basename "$f")"
        tail -n 5 "$f"
      done
    fi
    rm -rf "$TMPD"
  fi
  exit $rc
}

# wait_until TIMEOUT_S CMD... — retries CMD every 100 ms.
wait_until() {
  local n=$(($1 * 10)) i
  shift
  for ((i = 0; i < n; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

_listening() { [ -n "$(ip netns exec "$1" ss -Hltn "sport = :$2")" ]; }
wait_listen() {
  wait_until 10 _listening "$1" "$2" || die "nothing listens on port $2 in $1"
}

# ---- namespaces -------------------------------------------------------------

# pod_pair SCENARIO — the scenario's client and server namespaces.
pod_pair() {
  local scn=$1 net="10.88.${SCN_NET[$1]}"
  local c="${NS_PREFIX}-${scn}-c" s="${NS_PREFIX}-${scn}-s"
  ip netns add "$c"
  BENCH_NETNS+=("$c")
  ip netns add "$s"
  BENCH_NETNS+=("$s")
  ip -n "$c" link set lo up
  ip -n "$s" link set lo up
  # Both ends are created inside their namespaces: no name in the host's.
  ip -n "$c" link add eth0 type veth peer name eth0 netns "$s"
  ip -n "$c" addr add "$net.1/24" dev eth0
  ip -n "$s" addr add "$net.2/24" dev eth0
  ip -n "$c" link set eth0 up
  ip -n "$s" link set eth0 up
  NS_C[$scn]=$c
  NS_S[$scn]=$s
}

server_ip() { echo "10.88.${SCN_NET[$1]}.2"; }

# ---- certificates -------------------------------------------------------------

# make_certs DIR — a throwaway ECDSA P-256 CA, a server certificate for the
# server-side proxies (SAN server.bench and the server pods' IPs) and a
# client certificate for the client-side proxies. PEM bundles (cert+key)
# for haproxy. Valid for 2 days.
make_certs() {
  local d=$1
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -keyout ca.key -out ca.crt -subj "/CN=weft-bench-ca" 2>/dev/null
    local who
    for who in server client; do
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$who.key" -out "$who.csr" -subj "/CN=$who.bench" 2>/dev/null
    done
    printf 'subjectAltName=DNS:server.bench,IP:%s,IP:%s\nextendedKeyUsage=serverAuth\n' \
      "$(server_ip nginx)" "$(server_ip haproxy)" >server.ext
    printf 'subjectAltName=DNS:client.bench\nextendedKeyUsage=clientAuth\n' >client.ext
    for who in server client; do
      openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$who.ext" -out "$who.crt" 2>/dev/null
      cat "$who.crt" "$who.key" >"$who.pem"
    done
    chmod 644 ./*.key ./*.pem
  )
}

# ---- the pieces of each scenario ---------------------------------------------

# Every scenario's server pod runs the same backend on :8080.
start_backend() {
  local scn=$1
  bg_start "backend-$scn" "${NS_S[$scn]}" ${PRIO[@]+"${PRIO[@]}"} "$BENCH_BIN/weft-bench-backend" \
    --listen 0.0.0.0:8080 --cpu "$SERVER_CPU"
  wait_listen "${NS_S[$scn]}" 8080
}

# weft is meshed for real: a control plane (weft-controller identity and
# destination, on ports the proxies' rules ignore) runs in the server pod;
# both proxies certify; the client's outbound proxy resolves the server pod
# through discovery and carries requests over one mTLS HTTP/2 connection to
# the server's inbound proxy (:4143, transport header), which hands them to
# the backend on 127.0.0.1:8080 — the same TLS 1.3 + client-cert hop the
# nginx and haproxy chains make.
WEFT_CP_ID_PORT=18080
WEFT_CP_DST_PORT=18086
WEFT_TD=serviceaccount.identity.linkerd.cluster.local

start_weft_control_plane() {
  local scn=$1 sip d="$TMPD/weft-cp" who tok
  sip=$(server_ip "$scn")
  mkdir -p "$d/tokens" "$d/store/pods/bench" "$d/store/namespaces"
  chmod 755 "$TMPD" "$d"
  "$WEFT_BIN/weft" identity create-root --out-cert "$d/ca.crt" --out-key "$d/ca.key" >/dev/null
  "$WEFT_BIN/weft" identity create-issuer --ca-cert "$d/ca.crt" --ca-key "$d/ca.key" \
    --out-cert "$d/issuer.crt" --out-key "$d/issuer.key" >/dev/null
  for who in client server; do
    mkdir -p "$d/$who"
    tok=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s' "$tok" >"$d/$who/token"
    echo "$who.bench.$WEFT_TD" >"$d/tokens/$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)"
    chown -R "$PROXY_UID:$PROXY_UID" "$d/$who"
    chmod 600 "$d/$who/token"
  done
  echo '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}' >"$d/store/namespaces/bench.json"
  cat >"$d/store/pods/bench/server.json" <<EOF2
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"server","namespace":"bench",
 "labels":{"linkerd.io/control-plane-ns":"linkerd"}},
 "spec":{"serviceAccountName":"server","containers":[{"name":"backend","ports":[{"containerPort":8080}]}]},
 "status":{"phase":"Running","podIP":"$sip","podIPs":[{"ip":"$sip"}],"conditions":[{"type":"Ready","status":"True"}]}}
EOF2
  bg_start weft-identity "${NS_S[$scn]}" "$WEFT_BIN/weft-controller" identity \
    --addr "0.0.0.0:$WEFT_CP_ID_PORT" --admin-addr 127.0.0.1:9990 --log-level warn \
    --issuer-cert "$d/issuer.crt" --issuer-key "$d/issuer.key" --trust-anchors "$d/ca.crt" \
    --token-store "$d/tokens"
  bg_start weft-destination "${NS_S[$scn]}" "$WEFT_BIN/weft-controller" destination \
    --store "$d/store" --addr "0.0.0.0:$WEFT_CP_DST_PORT" --admin-addr 127.0.0.1:9996 --log-level warn
  wait_listen "${NS_S[$scn]}" "$WEFT_CP_ID_PORT"
  wait_listen "${NS_S[$scn]}" "$WEFT_CP_DST_PORT"
}

# start_weft_pod NS NAME WHO(client|server) SCN — weft-init's rules, then
# weft-proxy (1 core, logs at warn) as uid 2102 with its identity (and, on
# the client, discovery).
start_weft_pod() {
  local ns=$1 name=$2 who=$3 scn=$4 d="$TMPD/weft-cp" sip
  sip=$(server_ip "$scn")
  ip netns exec "$ns" "$WEFT_BIN/weft-init" --incoming-proxy-port 4143 \
    --outgoing-proxy-port 4140 --proxy-uid "$PROXY_UID" --ipv6=false \
    --inbound-ports-to-ignore "4190,4191,$WEFT_CP_ID_PORT,$WEFT_CP_DST_PORT" \
    >"$TMPD/init-$name.log" 2>&1 || die "weft-init failed in $ns: $(cat "$TMPD/init-$name.log")"
  local env=(
    "WEFT_PROXY_IDENTITY_TRUST_ANCHORS=$(cat "$d/ca.crt")"
    "WEFT_PROXY_IDENTITY_TOKEN_FILE=$d/$who/token"
    "WEFT_PROXY_IDENTITY_SVC_ADDR=$sip:$WEFT_CP_ID_PORT"
    "WEFT_PROXY_IDENTITY_SVC_NAME=weft-identity.linkerd.$WEFT_TD"
    "WEFT_PROXY_IDENTITY_LOCAL_NAME=$who.bench.$WEFT_TD"
  )
  [ "$who" = client ] && env+=("WEFT_PROXY_DESTINATION_SVC_ADDR=$sip:$WEFT_CP_DST_PORT")
  bg_start "$name" "$ns" ${PRIO[@]+"${PRIO[@]}"} taskset -c "$SERVER_CPU" \
    setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin WEFT_PROXY_LOG=warn WEFT_PROXY_CORES=1 "${env[@]}" \
    "$WEFT_BIN/weft-proxy"
  wait_until 10 ip netns exec "$ns" curl -fsS --max-time 1 -o /dev/null \
    http://127.0.0.1:4191/ready || die "weft-proxy in $ns not ready"
}

# nginx_conf ROLE SCN DIR — writes DIR/nginx.conf for the client-side (a)
# or server-side (b) nginx of the chain. One worker, no access log, error
# log at "error"; keep-alive limits raised so no hop closes connections
# during a run (nginx's default is 1000 requests per connection).
nginx_conf() {
  local role=$1 scn=$2 d=$3 sip
  sip=$(server_ip "$scn")
  mkdir -p "$d/tmp"
  {
    cat <<EOF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $d/nginx.pid;
error_log $d/error.log error;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_buffer_size 64k;
  client_max_body_size 2m;
  proxy_buffer_size 16k;
  proxy_buffers 8 32k;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
EOF
    if [ "$role" = a ]; then
      cat <<EOF
  upstream hop_h1 { server $sip:10443; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  upstream hop_grpc { server $sip:10444; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:10080;
    location / {
      proxy_pass https://hop_h1;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_certificate $CERTS/client.crt;
      proxy_ssl_certificate_key $CERTS/client.key;
      proxy_ssl_trusted_certificate $CERTS/ca.crt;
      proxy_ssl_verify on;
      proxy_ssl_name server.bench;
      proxy_ssl_session_reuse on;
    }
  }
  server {
    listen 127.0.0.1:10081 http2;
    http2_max_concurrent_streams 1000;
    location / {
      grpc_pass grpcs://hop_grpc;
      grpc_ssl_protocols TLSv1.3;
      grpc_ssl_certificate $CERTS/client.crt;
      grpc_ssl_certificate_key $CERTS/client.key;
      grpc_ssl_trusted_certificate $CERTS/ca.crt;
      grpc_ssl_verify on;
      grpc_ssl_name server.bench;
      grpc_ssl_session_reuse on;
    }
  }
}
EOF
    else
      cat <<EOF
  upstream app_h1 { server 127.0.0.1:8080; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  upstream app_grpc { server 127.0.0.1:8080; keepalive 128; keepalive_requests 10000000; keepalive_timeout 300s; }
  ssl_protocols TLSv1.3;
  ssl_certificate $CERTS/server.crt;
  ssl_certificate_key $CERTS/server.key;
  ssl_client_certificate $CERTS/ca.crt;
  ssl_verify_client on;
  ssl_session_cache shared:tls:1m;
  server {
    listen $sip:10443 ssl;
    location / {
      proxy_pass http://app_h1;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  server {
    listen $sip:10444 ssl http2;
    http2_max_concurrent_streams 1000;
    location / { grpc_pass grpc://app_grpc; }
  }
}
EOF
    fi
  } >"$d/nginx.conf"
}

# start_nginx NAME NS ROLE SCN — nginx (master + 1 worker); PID_OF[NAME] is
# the worker (it does all the work; the master only waits).
start_nginx() {
  local name=$1 ns=$2 role=$3 scn=$4 d="$TMPD/$1" w=""
  nginx_conf "$role" "$scn" "$d"
  ip netns exec "$ns" nginx -t -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>"$TMPD/$name-t.log" ||
    die "nginx config ($name): $(cat "$TMPD/$name-t.log")"
  bg_start "$name-master" "$ns" ${PRIO[@]+"${PRIO[@]}"} taskset -c "$SERVER_CPU" \
    nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
  local i
  for ((i = 0; i < 50; i++)); do
    w=$(pgrep -P "${PID_OF[$name-master]}" | head -n 1 || true)
    [ -n "$w" ] && break
    sleep 0.1
  done
  [ -n "$w" ] || die "nginx $name has no worker"
  PID_OF[$name]=$w
}

# haproxy_conf ROLE SCN FILE — one thread, no logs, TLS 1.3 with client
# certificates between the hops, HTTP/2 between the hops for both the
# HTTP/1.1 and the gRPC traffic (ALPN h2), idle connections reused.
haproxy_conf() {
  local role=$1 scn=$2 f=$3 sip
  sip=$(server_ip "$scn")
  {
    cat <<EOF
global
  nbthread 1
  maxconn 8000
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  http-reuse always
EOF
    if [ "$role" = a ]; then
      cat <<EOF
frontend fe_h1
  bind 127.0.0.1:10080
  default_backend hop_h1
frontend fe_grpc
  bind 127.0.0.1:10081 proto h2
  default_backend hop_grpc
backend hop_h1
  server b $sip:10443 ssl verify required ca-file $CERTS/ca.crt crt $CERTS/client.pem verifyhost server.bench sni str(server.bench) alpn h2
backend hop_grpc
  server b $sip:10444 ssl verify required ca-file $CERTS/ca.crt crt $CERTS/client.pem verifyhost server.bench sni str(server.bench) alpn h2
EOF
    else
      cat <<EOF
frontend fe_h1
  bind $sip:10443 ssl crt $CERTS/server.pem ca-file $CERTS/ca.crt verify required alpn h2,http/1.1
  default_backend app_h1
frontend fe_grpc
  bind $sip:10444 ssl crt $CERTS/server.pem ca-file $CERTS/ca.crt verify required alpn h2
  default_backend app_grpc
backend app_h1
  server app 127.0.0.1:8080
backend app_grpc
  server app 127.0.0.1:8080 proto h2
EOF
    fi
  } >"$f"
}

start_haproxy() {
  local name=$1 ns=$2 role=$3 scn=$4 f="$TMPD/$1.cfg"
  haproxy_conf "$role" "$scn" "$f"
  ip netns exec "$ns" haproxy -c -q -f "$f" >"$TMPD/$name-c.log" 2>&1 ||
    die "haproxy config ($name): $(cat "$TMPD/$name-c.log")"
  bg_start "$name" "$ns" ${PRIO[@]+"${PRIO[@]}"} taskset -c "$SERVER_CPU" haproxy -db -f "$f"
}

# setup_scenario SCN — namespaces, backend, proxies; sets TARGET_H1/GRPC
# (where the loadgen connects) and PROCS (the --proc flags it samples).
setup_scenario() {
  local scn=$1 sip
  pod_pair "$scn"
  sip=$(server_ip "$scn")
  start_backend "$scn"
  case $scn in
    direct)
      TARGET_H1[$scn]="$sip:8080"
      TARGET_GRPC[$scn]="$sip:8080"
      PROCS[$scn]="--proc app=${PID_OF[backend-$scn]}"
      ;;
    weft)
      start_weft_control_plane "$scn"
      start_weft_pod "${NS_S[$scn]}" weft-in server "$scn"
      start_weft_pod "${NS_C[$scn]}" weft-out client "$scn"
      TARGET_H1[$scn]="$sip:8080"
      TARGET_GRPC[$scn]="$sip:8080"
      PROCS[$scn]="--proc out=${PID_OF[weft-out]} --proc in=${PID_OF[weft-in]} --proc app=${PID_OF[backend-$scn]}"
      ;;
    nginx)
      start_nginx nginx-in "${NS_S[$scn]}" b "$scn"
      wait_listen "${NS_S[$scn]}" 10443
      wait_listen "${NS_S[$scn]}" 10444
      start_nginx nginx-out "${NS_C[$scn]}" a "$scn"
      wait_listen "${NS_C[$scn]}" 10080
      wait_listen "${NS_C[$scn]}" 10081
      TARGET_H1[$scn]="127.0.0.1:10080"
      TARGET_GRPC[$scn]="127.0.0.1:10081"
      PROCS[$scn]="--proc out=${PID_OF[nginx-out]} --proc in=${PID_OF[nginx-in]} --proc app=${PID_OF[backend-$scn]}"
      ;;
    haproxy)
      start_haproxy haproxy-in "${NS_S[$scn]}" b "$scn"
      wait_listen "${NS_S[$scn]}" 10443
      wait_listen "${NS_S[$scn]}" 10444
      start_haproxy haproxy-out "${NS_C[$scn]}" a "$scn"
      wait_listen "${NS_C[$scn]}" 10080
      wait_listen "${NS_C[$scn]}" 10081
      TARGET_H1[$scn]="127.0.0.1:10080"
      TARGET_GRPC[$scn]="127.0.0.1:10081"
      PROCS[$scn]="--proc out=${PID_OF[haproxy-out]} --proc in=${PID_OF[haproxy-in]} --proc app=${PID_OF[backend-$scn]}"
      ;;
  esac
}

# proxy_pids SCN — "side=pid" for each proxy of the scenario (none for direct).
proxy_pids() {
  case $1 in
    weft) echo "out=${PID_OF[weft-out]} in=${PID_OF[weft-in]}" ;;
    nginx) echo "out=${PID_OF[nginx-out]} in=${PID_OF[nginx-in]}" ;;
    haproxy) echo "out=${PID_OF[haproxy-out]} in=${PID_OF[haproxy-in]}" ;;
  esac
}

# ---- load -----------------------------------------------------------------------

# last_field KEY — KEY's value in the last RESULT line of $RAW ('' if none)
last_field() {
  tail -n 1 "$RAW" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# run_load SCN PROTO BODY RATE WARMUP DURATION CONNS [--tag k=v | loadgen flags...]
# Runs the loadgen in SCN's client pod (pinned to CLIENT_CPU), appends its
# RESULT line to $RAW, prints a one-line summary. Returns 0 PASS, 1 FAILED.
run_load() {
  local scn=$1 proto=$2 body=$3 rate=$4 warm=$5 dur=$6 conns=$7
  shift 7
  local target=${TARGET_H1[$scn]} out rc=0 limit
  [ "$proto" = grpc ] && target=${TARGET_GRPC[$scn]}
  limit=$(awk -v w="$warm" -v d="$dur" -v r="$DRAIN" 'BEGIN { printf "%d", w + d + r + 15 }')
  # shellcheck disable=SC2086  # PROCS holds several flags
  out=$(timeout -k 2 "$limit" ip netns exec "${NS_C[$scn]}" ${PRIO[@]+"${PRIO[@]}"} \
    "$BENCH_BIN/weft-loadgen" --quiet \
    --cpu "$CLIENT_CPU" --proto "$proto" --body "$body" --rate "$rate" --conns "$conns" \
    --warmup "$warm" --duration "$dur" --drain "$DRAIN" ${PROCS[$scn]} \
    --tag "scenario=$scn" "$@" "$target" 2>"$TMPD/loadgen.err") || rc=$?
  if [ -z "$out" ]; then
    say "  $scn $proto body=$body rate=$rate: loadgen failed (status $rc): $(head -c 300 "$TMPD/loadgen.err")"
    return 1
  fi
  echo "$out" >>"$RAW"
  echo "$out" | awk -v s="$scn" '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "[bench]   %-8s %-4s %6s B %6s/s: achieved %8s/s  p50 %8s  p99 %9s  p99.9 %9s us  errors %s  %s\n",
      s, v["proto"], v["body"], v["target_rps"], v["achieved_rps"], v["p50_us"], v["p99_us"],
      v["p999_us"], v["errors"], v["verdict"] }'
  return $((rc == 0 ? 0 : 1))
}
