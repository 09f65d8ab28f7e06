#!/usr/bin/env bash
# The admin server on :4191: /ready, /live, /env.json, /metrics,
# /proxy-log-level (PUT only from loopback), /shutdown (404 unless enabled),
# and robustness against malformed or slow requests — each gets a 4xx or a
# close, and the admin server keeps answering /ready meanwhile and after.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

pod_add a
pod_add b
pod_mesh a WEFT_PROXY_TCP_IDLE_TIMEOUT=45m
A=${POD_IP[a]}
ADMIN=http://127.0.0.1:4191

# http POD METHOD URL [DATA] -> "CODE BODY" (body's first line)
http() {
  local pod=$1 method=$2 url=$3 data=${4-} f="$T/body.$RANDOM"
  local args=(-s -o "$f" -w '%{http_code}' --max-time 5 -X "$method")
  [ -n "$data" ] && args+=(--data-binary "$data")
  local code
  code=$(in_pod "$pod" curl "${args[@]}" "$url" || true)
  printf '%s %s' "$code" "$(head -n 1 "$f" 2>/dev/null)"
  rm -f "$f"
}

assert_eq "$(http a GET $ADMIN/ready)" "200 ready" "GET /ready"
assert_eq "$(http a GET $ADMIN/live | cut -d' ' -f1)" 200 "GET /live"

# /env.json: valid JSON object with the proxy's WEFT_PROXY_* settings.
in_pod a curl -fsS --max-time 5 $ADMIN/env.json >"$T/env.json"
"$PY" - "$T/env.json" <<'EOF' || fail "/env.json is not what we expect: $(head -c 500 "$T/env.json")"
import json, sys
env = json.load(open(sys.argv[1]))
assert isinstance(env, dict), "not an object"
assert env.get("WEFT_PROXY_TCP_IDLE_TIMEOUT") == "45m", env
assert env.get("WEFT_PROXY_LOG") in ("info", "debug", "trace", "warn", "error", "off"), env
assert any(k.startswith("WEFT_PROXY_") for k in env)
EOF
_ok "/env.json is a JSON object with the WEFT_PROXY_* variables the proxy was given"

# /metrics: Prometheus text with the families users dashboard on.
# One connection first, so the tcp_* families have samples.
start_bg b socat TCP-LISTEN:7000,fork,reuseaddr EXEC:cat >"$T/socat-b.log" 2>&1
wait_listen b 7000
assert_eq "$(printf 'hi\n' | in_pod a timeout 10 socat -t 5 - "TCP:${POD_IP[b]}:7000")" hi "a connection through the proxy"
in_pod a curl -fsS --max-time 5 -D "$T/metrics.hdr" $ADMIN/metrics >"$T/metrics.txt"
m=$(cat "$T/metrics.txt")
assert_contains "$m" "# TYPE tcp_open_total counter" "/metrics declares tcp_open_total as a counter"
assert_contains "$m" "# TYPE tcp_open_connections gauge" "/metrics declares tcp_open_connections as a gauge"
grep -q '^process_[a-z_]* ' "$T/metrics.txt" || grep -q '^process_[a-z_]*{' "$T/metrics.txt" ||
  fail "/metrics has no process_* sample"
_ok "/metrics has process_* samples ($(grep -c '^process_' "$T/metrics.txt"))"
assert_num_eq "$("${PROM_SUM[@]}" proxy_build_info <"$T/metrics.txt")" 1 "proxy_build_info is 1"
assert_num_eq "$("${PROM_SUM[@]}" tcp_open_total 'direction="outbound",peer="src",target_port="7000"' <"$T/metrics.txt")" 1 \
  "tcp_open_total counted the connection"
grep -qi '^content-type: text/plain' "$T/metrics.hdr" || fail "/metrics content-type: $(grep -i content-type "$T/metrics.hdr")"
_ok "/metrics is text/plain"
"$PY" - "$T/metrics.txt" <<'EOF' || fail "/metrics is not valid Prometheus text"
import re, sys
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
lab = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
sample = re.compile(r"^%s(\{(%s(,%s)*)?,?\})? [-+]?([0-9.eE+-]+|NaN|[+-]?Inf)( -?[0-9]+)?$" % (name, lab, lab))
typed = {}
for i, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    if not line:
        continue
    if line.startswith("# TYPE "):
        f = line.split()
        assert len(f) == 4 and f[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
        assert f[2] not in typed, "duplicate TYPE for " + f[2]
        typed[f[2]] = f[3]
        continue
    if line.startswith("#"):
        continue
    assert sample.match(line), "line %d: %r" % (i, line)
EOF
_ok "/metrics parses as Prometheus text exposition"

# /proxy-log-level: GET anywhere, PUT only from loopback.
assert_eq "$(http a GET $ADMIN/proxy-log-level)" "200 info" "GET /proxy-log-level"
code=$(http a PUT $ADMIN/proxy-log-level debug | cut -d' ' -f1)
[[ $code == 2?? ]] || fail "PUT /proxy-log-level from localhost: got $code"
_ok "PUT /proxy-log-level from localhost ($code)"
assert_eq "$(http a GET $ADMIN/proxy-log-level)" "200 debug" "log level is now debug"
assert_eq "$(http a PUT "http://$A:4191/proxy-log-level" warn | cut -d' ' -f1)" 403 \
  "PUT /proxy-log-level from the pod IP ($A, not loopback) is forbidden"
assert_eq "$(http b PUT "http://$A:4191/proxy-log-level" warn | cut -d' ' -f1)" 403 \
  "PUT /proxy-log-level from another pod is forbidden"
assert_eq "$(http a GET $ADMIN/proxy-log-level)" "200 debug" "log level unchanged by the forbidden PUTs"
code=$(http a PUT $ADMIN/proxy-log-level nonsense | cut -d' ' -f1)
[[ $code == 4?? ]] || fail "PUT of an invalid level: got $code"
_ok "PUT of an invalid level is rejected ($code)"
http a PUT $ADMIN/proxy-log-level info >/dev/null

# /shutdown is off by default.
assert_eq "$(http a POST $ADMIN/shutdown | cut -d' ' -f1)" 404 "POST /shutdown without WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED"
kill -0 "${PROXY_PID[a]}" || fail "proxy exited after POST /shutdown"
assert_eq "$(http a GET $ADMIN/ready)" "200 ready" "still ready after POST /shutdown"

# Malformed and slow requests, all at once.
cases=(random long_line many_headers bad_version no_crlf drip)
declare -A gpid=()
for c in "${cases[@]}"; do
  start_bg a "${TCPKIT[@]}" http-garbage --host 127.0.0.1 --port 4191 --case "$c" --timeout 25 \
    >"$T/garbage-$c.out" 2>"$T/garbage-$c.log"
  gpid[$c]=$BG_PID
done
sleep 1
# The admin server answers while they are pending.
t0=$(now)
assert_eq "$(http a GET $ADMIN/ready)" "200 ready" "/ready while garbage requests are pending"
assert_lt "$(calc "$(now) - $t0")" 3 "and promptly"
for c in "${cases[@]}"; do
  wait_pid_exit "${gpid[$c]}" 30
  [ "$WAIT_RC" = 0 ] || fail "garbage client $c: $WAIT_RC"
  out=$(cat "$T/garbage-$c.out")
  log "garbage $c: $out"
  r=$(jget "$out" result)
  code=$(jget "$out" code)
  case $r in
    closed) _ok "garbage $c: connection closed" ;;
    status)
      if [[ $code == 4?? ]] || { [ "$c" = bad_version ] && [ "$code" = 505 ]; }; then
        _ok "garbage $c: answered $code"
      else
        fail "garbage $c: answered $code"
      fi
      ;;
    *) fail "garbage $c: connection still open after 25s: $out" ;;
  esac
done
assert_eq "$(http a GET $ADMIN/ready)" "200 ready" "/ready after the garbage"
assert_eq "$(http a GET $ADMIN/live | cut -d' ' -f1)" 200 "/live after the garbage"
kill -0 "${PROXY_PID[a]}" || fail "proxy died"

# With WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true: POST /shutdown only from
# loopback, and it drains and exits 0 like SIGTERM.
pod_add c
pod_mesh c WEFT_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true WEFT_PROXY_SHUTDOWN_GRACE_PERIOD=5s
C=${POD_IP[c]}
assert_eq "$(http c POST "http://$C:4191/shutdown" | cut -d' ' -f1)" 403 "POST /shutdown from the pod IP is forbidden"
assert_eq "$(http b POST "http://$C:4191/shutdown" | cut -d' ' -f1)" 403 "POST /shutdown from another pod is forbidden"
kill -0 "${PROXY_PID[c]}" || fail "proxy exited after a forbidden /shutdown"
code=$(http c POST $ADMIN/shutdown | cut -d' ' -f1)
[[ $code == 2?? ]] || fail "POST /shutdown from localhost: got $code"
_ok "POST /shutdown from localhost accepted ($code)"
wait_pid_exit "${PROXY_PID[c]}" 10
assert_eq "$WAIT_RC" 0 "proxy exits 0 after POST /shutdown"
