#!/usr/bin/env bash
# test_proxy_mesh_faults — a meshed client's open-loop load (weft-loadgen)
# to a Service of three real nginx replicas, through the faults issue #6
# names, counted per request from each nginx's access log (one path per
# phase):
#   spread      equal endpoints share the load;
#   hang        one nginx stopped (SIGSTOP): latency-aware balancing
#               steers away after the few requests it holds;
#   kill        a whole pod killed mid-load (proxy and nginx, SIGKILL)
#               while the store still lists it: ≤ 0.1 % errors, none from
#               1 s after the kill (connect failures rest the endpoint and
#               the request goes to another one);
#   outage      the destination service killed: resolved Services keep
#               working (no error), a never-resolved one fails fast (503),
#               and changes made meanwhile arrive within 5 s of its return
#               (an endpoint added receives requests; one removed, none).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mesh_lib.sh"

command -v nginx >/dev/null || fail "missing nginx (run scripts/deps)"
LOADGEN=$WEFT_BIN/weft-loadgen
[ -x "$LOADGEN" ] || fail "$LOADGEN not built"

for p in cp a w1 w2 w3 w4; do pod_add $p; done
mesh_init
mesh_token a client
for p in w1 w2 w3 w4; do mesh_token $p web; done
mkdir -p "$T/www"
for phase in warm spread hang kill after-kill outage resume final; do
  echo ok >"$T/www/$phase"
done
for i in 1 2 3 4; do
  nginx_start "w$i" "$T/www" 8080 "keepalive_requests 100000;"
  mesh_pod "web-$i" "w$i" web 8080
done
mesh_service web 10.43.0.10 80 8080 web-1:w1 web-2:w2 web-3:w3
mesh_service other 10.43.0.50 80 8080 web-1:w1
mesh_cp_start
for p in w1 w2 w3 w4; do
  mesh_env $p web
  pod_mesh $p "${MESH_ENV[@]}"
done
mesh_env a client
pod_mesh a "${MESH_ENV[@]}"

# nginx_pids POD — POD's nginx master and workers
nginx_pids() {
  local m
  m=$(pgrep -f "nginx-$1/nginx.conf" | head -1)
  [ -n "$m" ] || fail "cannot find $1's nginx"
  echo "$m" $(pgrep -P "$m")
}
# hits POD PHASE — requests of PHASE nginx in POD served (its access log)
hits() { grep -c " /$1\$" "$T/nginx-$2/access.log" 2>/dev/null || true; }
# load PHASE RATE SECONDS [WARMUP [CONNS]] — open-loop HTTP/1.1 GETs from a
# to the Service, into $T/load-PHASE.out (started in the background: LOAD_PID)
load() {
  start_bg a "$LOADGEN" --proto h1 --rate "$2" --conns "${5:-8}" --warmup "${4:-0}" --duration "$3" \
    --drain 3 --spin-us 0 --expect -1 --path "/$1" --quiet 10.43.0.10:80 \
    >"$T/load-$1.out" 2>&1
  LOAD_PID=$BG_PID
}
# result PHASE KEY — a field of the loadgen's RESULT line
result() { sed -n 's/.* '"$2"'=\([0-9.]*\).*/\1/p' "$T/load-$1.out" | head -1; }
load_wait() { wait_pid_exit "$1" 60; [ "$WAIT_RC" != timeout ] || fail "loadgen did not finish"; }

out=$(in_pod a curl -sS --max-time 5 -o /dev/null -w '%{http_code}' http://10.43.0.10/warm) || true
assert_eq "$out" 200 "a → web Service answered (three meshed nginx replicas)"

# ---- spread: three equal endpoints ------------------------------------------------------------
load spread 400 5 1
load_wait "$LOAD_PID"
n1=$(hits spread w1) n2=$(hits spread w2) n3=$(hits spread w3)
total=$((n1 + n2 + n3))
log "spread over $total requests: $n1 / $n2 / $n3 (the bench reports the figure)"
assert_eq "$(result spread errors)" 0 "spread: no errors"
for n in $n1 $n2 $n3; do
  # Loose on purpose: latency-aware balancing follows this machine's noise;
  # the ±10 % figure is the benchmark's (bench/dst/balance.sh).
  assert_ge "$((n * 100 / total))" 5 "spread: each endpoint gets a share (got $n of $total)"
done

# ---- hang: w2's nginx stops answering -----------------------------------------------------------
NGINX_W2=$(nginx_pids w2)
# What reached w2 is counted by its proxy as it arrives (nginx logs only
# what it answers, and the loadgen gives up on what it holds).
w2_before=$(metric w2 request_total 'direction="inbound"')
# shellcheck disable=SC2086
kill -STOP $NGINX_W2
# 100 connections: each request held by w2 blocks its connection (one
# request at a time) and the loadgen counts what was due there as failed.
load hang 300 4 0 100
load_wait "$LOAD_PID"
h2=$(($(metric w2 request_total 'direction="inbound"') - w2_before))
# shellcheck disable=SC2086
kill -CONT $NGINX_W2
h1=$(hits hang w1) h3=$(hits hang w3)
log "hang: w1 $h1, stopped w2 $h2, w3 $h3; loadgen ok $(result hang ok) errors $(result hang errors)"
assert_le "$h2" 12 "hang: the stopped endpoint got at most 1 % of 1,200 requests"
assert_ge "$(result hang ok)" 1140 "hang: at least 95 % of the requests answered (the rest were due on connections w2 holds)"

# ---- kill: a whole pod dies mid-load, still listed in the store ----------------------------------
load kill 300 8 1
KILL_LOAD=$LOAD_PID
sleep 3
NGINX_W3=$(nginx_pids w3)
# shellcheck disable=SC2086
kill -KILL "${PROXY_PID[w3]}" $NGINX_W3
log "killed pod w3 (proxy ${PROXY_PID[w3]}, nginx $NGINX_W3)"
sleep 1
load after-kill 300 4
load_wait "$KILL_LOAD"
load_wait "$LOAD_PID"
ks=$(result kill samples) ke=$(result kill errors)
log "kill: $ke errors in $ks requests; from 1 s after: $(result after-kill errors) in $(result after-kill samples)"
assert_ge "$ks" 2000 "kill: the load ran through the kill"
assert_le "$((ke * 1000))" "$ks" "kill: at most 0.1 % errors around the kill"
assert_eq "$(result after-kill errors)" 0 "kill: no error from 1 s after the kill"
assert_ge "$(result after-kill ok)" 1150 "kill: ... with the load answered (>= 1,150 of 1,200)"
assert_eq "$(hits after-kill w3)" 0 "kill: the dead endpoint served nothing, of course"
assert_ge "$(metric a outbound_tcp_errors_total 'error="connect_refused"')" 1 \
  "kill: a's proxy met the refused connects (and went elsewhere)"

# ---- outage: the destination service goes away ----------------------------------------------------
# WEFT_TEST_OUTAGE_S lengthens it (the issue's "for minutes", by hand:
# WEFT_TEST_OUTAGE_S=180 WEFT_TEST_TIMEOUT=600 ...); 6 s in the suite.
OUTAGE_S=${WEFT_TEST_OUTAGE_S:-6}
kill_tree "$DST_PID" KILL
load outage 300 "$OUTAGE_S"
wait_pid_exit "$LOAD_PID" $((OUTAGE_S + 30))
[ "$WAIT_RC" != timeout ] || fail "loadgen did not finish"
log "outage (${OUTAGE_S}s): $(result outage errors) errors in $(result outage samples) requests"
assert_eq "$(result outage errors)" 0 "outage: resolved Service, no error while the destination service is down"
assert_ge "$(result outage ok)" $((OUTAGE_S * 300 - 50)) "outage: ... the load answered"
t0=$(now)
out=$(in_pod a curl -sS --max-time 10 -D - -o /dev/null http://10.43.0.50/ 2>&1) || true
dt=$(calc "$(now) - $t0")
assert_contains "$out" "503" "outage: a Service never resolved fails (503)"
assert_contains "$out" "l5d-proxy-error: destination service unavailable" "... saying why"
assert_lt "$dt" 3.5 "... fast (${dt}s)"
assert_ge "$(metric a response_total 'direction="outbound",error="unavailable"')" 1 \
  "... counted as error=\"unavailable\""
# Meanwhile the cluster changes: w4 joins, w1 (alive) and w3 (dead) leave.
mesh_slice web 8080 web-2:w2 web-4:w4
sleep 2
assert_eq "$(hits outage w4)" 0 "outage: nothing knows about w4 yet"

# ---- the destination service returns --------------------------------------------------------------
mesh_dst_start
t0=$(now)
load resume 200 8
w4_serving() { [ "$(hits resume w4)" -ge 1 ]; }
wait_until 8 w4_serving || fail "w4 got no request within 8 s of the return"
dt=$(calc "$(now) - $t0")
log "updates resumed: w4's first request ${dt}s after the destination service returned"
assert_lt "$dt" 5 "outage: updates made meanwhile arrive within 5 s of its return"
load_wait "$LOAD_PID"
assert_eq "$(result resume errors)" 0 "resume: no error"
load final 200 3
load_wait "$LOAD_PID"
f2=$(hits final w2) f4=$(hits final w4)
assert_eq "$(hits final w1)" 0 "the endpoint removed during the outage gets nothing after it"
assert_eq "$((f2 + f4))" "$(result final ok)" "every request went to the two endpoints listed now"
assert_eq "$(result final errors)" 0 "final: no error"
