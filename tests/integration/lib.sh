# shellcheck shell=bash disable=SC2034  # globals are used by the sourcing scripts
# tests/integration/lib.sh — sourced by tests/integration/test_*.sh (and the
# demo) to build pods out of network namespaces and mesh them with
# weft-init + weft-proxy.
#
#   source "$(dirname "$0")/lib.sh"
#   pod_add a; pod_add b                 # netns + veth onto a private bridge
#   pod_mesh b WEFT_PROXY_LOG=debug --inbound-ports-to-ignore 7200
#   start_bg b nginx -c "$T/nginx.conf" >"$T/nginx.log" 2>&1
#   wait_listen b 80
#   in_pod a curl -s "http://${POD_IP[b]}/"
#   assert_ge "$(metric a tcp_open_total 'direction="outbound",peer="dst",target_port="80"')" 1 "..."
#
# Topology: a "node" namespace holds bridge br0; every pod is a namespace
# with lo up and eth0 (a veth whose peer sits on br0) at 10.77.<run>.<n>/24.
# There is no default route anywhere: traffic cannot leave the namespaces.
# Everything is named after the test's PID, so concurrent runs don't clash,
# and the EXIT trap kills every process started here (by PID, with its
# descendants), deletes the namespaces and the temp dir, and prints the logs
# when the test failed.
#
# Environment: WEFT_BIN (dir with weft-proxy, weft-init; required),
# WEFT_SRC (repo root; defaults to this file's ../..), WEFT_TEST_KEEP=1 keeps
# the temp dir, WEFT_TEST_TIMEOUT (s, default 300) is a watchdog for the
# whole test, WEFT_TEST_PROXY_LOG sets every proxy's WEFT_PROXY_LOG,
# WT_PREFIX overrides the namespace name prefix (default wt<PID>), and
# WT_RESULT_LINE=0 drops the final PASS/FAILED line (the demo uses it).

set -euo pipefail

WT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEFT_SRC=${WEFT_SRC:-$(cd "$WT_LIB_DIR/../.." && pwd)}
: "${WEFT_BIN:?WEFT_BIN must name the directory holding weft-proxy and weft-init}"
PY=/usr/bin/python3
TCPKIT=("$PY" "$WT_LIB_DIR/helpers/tcpkit.py")
PROM_SUM=("$PY" "$WT_LIB_DIR/helpers/prom_sum.py")
WT_NAME=$(basename "${0%.sh}")
WT_ID=$$
WT_PREFIX=${WT_PREFIX:-wt$$}
WT_NET="10.77.$((WT_ID % 250 + 1))"
PROXY_UID=2102

declare -a BG_PIDS=()
declare -a WT_PODS=()
declare -A POD_NS=() POD_IP=() PROXY_PID=() PROXY_ADMIN=() PROXY_LOG=()
WT_NODE_NS=""
WT_NEXT_HOST=2
WT_ASSERTS=0
BG_PID=""

if [ "$(id -u)" -ne 0 ]; then
  echo "$WT_NAME: must run as root (network namespaces, iptables)" >&2
  exit 1
fi
for _t in ip iptables setpriv curl "$PY"; do
  command -v "$_t" >/dev/null || { echo "$WT_NAME: missing $_t (run scripts/deps)" >&2; exit 1; }
done
[ -x "$WEFT_BIN/weft-proxy" ] || { echo "$WT_NAME: $WEFT_BIN/weft-proxy not built" >&2; exit 1; }

T=$(mktemp -d "/tmp/weft-${WT_NAME}.XXXXXX")
chmod 755 "$T"

log() { printf '[%s %s] %s\n' "$WT_NAME" "$(date +%H:%M:%S)" "$*"; }

# ---- assertions -----------------------------------------------------------

fail() {
  printf '[%s] FAIL: %s\n' "$WT_NAME" "$*" >&2
  exit 1
}

_is_num() { [[ $1 =~ ^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }

_ok() {
  WT_ASSERTS=$((WT_ASSERTS + 1))
  printf '[%s] ok: %s\n' "$WT_NAME" "$*"
}

# assert_eq ACTUAL EXPECTED MESSAGE — string equality
assert_eq() {
  [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"
  _ok "$3 (= $1)"
}

# _num_cmp A OP B — numeric comparison via awk (floats allowed)
_num_cmp() {
  _is_num "$1" || return 2
  _is_num "$3" || return 2
  awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
    a += 0; b += 0; r = 0
    if (op == ">=") r = (a >= b); else if (op == ">") r = (a > b)
    else if (op == "<=") r = (a <= b); else if (op == "<") r = (a < b)
    else if (op == "==") r = (a == b)
    exit(r ? 0 : 1) }'
}

_assert_cmp() {
  local a=$1 op=$2 b=$3 msg=$4
  _is_num "$a" || fail "$msg: '$a' is not a number"
  _num_cmp "$a" "$op" "$b" || fail "$msg: expected $op $b, got $a"
  _ok "$msg ($a $op $b)"
}
assert_ge() { _assert_cmp "$1" ">=" "$2" "$3"; }
assert_gt() { _assert_cmp "$1" ">" "$2" "$3"; }
assert_le() { _assert_cmp "$1" "<=" "$2" "$3"; }
assert_lt() { _assert_cmp "$1" "<" "$2" "$3"; }
assert_num_eq() { _assert_cmp "$1" "==" "$2" "$3"; }

# assert_contains HAYSTACK NEEDLE MESSAGE
assert_contains() {
  [[ $1 == *"$2"* ]] || fail "$3: '$2' not found in: ${1:0:400}"
  _ok "$3"
}

# jget JSON KEY — prints a top-level field of a JSON object ('' if absent)
jget() {
  "$PY" -c 'import json,sys
v = json.loads(sys.argv[1]).get(sys.argv[2], "")
print(v if not isinstance(v, bool) else str(v).lower())' "$1" "$2"
}

# calc EXPR — float arithmetic (awk)
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

now() { date +%s.%N; }

# ---- processes --------------------------------------------------------------

# start_bg POD|- CMD... — runs CMD in the background inside POD's netns
# ("-": the host's), records its PID in BG_PIDS and in BG_PID. Redirect the
# call's output (start_bg a srv >"$T/srv.log" 2>&1). Call it directly, never
# inside $(...), so the process stays a child of the test shell.
start_bg() {
  local pod=$1
  shift
  if [ "$pod" = "-" ]; then
    "$@" &
  else
    ip netns exec "$(ns_of "$pod")" "$@" &
  fi
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
}

_descendants() {
  local p c
  for p in "$@"; do
    for c in $(pgrep -P "$p" 2>/dev/null || true); do
      echo "$c"
      _descendants "$c"
    done
  done
}

# kill_tree PID [SIGNAL] — signals PID and all its descendants, waits up to
# 3 s, then SIGKILLs whatever is left. Reaps PID if it is our child.
kill_tree() {
  local pid=$1 sig=${2:-TERM} all p i
  # shellcheck disable=SC2207
  all=($(_descendants "$pid") "$pid")
  for p in "${all[@]}"; do kill "-$sig" "$p" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do
    local alive=0
    for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
}

# wait_pid_exit PID TIMEOUT_S — waits for our child PID to exit; sets
# WAIT_RC to its exit status (or "timeout"). Never kills it.
wait_pid_exit() {
  local pid=$1 timeout=$2 i n
  n=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 20 }')
  WAIT_RC=timeout
  for ((i = 0; i < n; i++)); do
    if ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
      WAIT_RC=0
      wait "$pid" || WAIT_RC=$?
      return 0
    fi
    sleep 0.05
  done
}

# wait_until TIMEOUT_S CMD... — retries CMD every 100 ms until it succeeds.
wait_until() {
  local timeout=$1 i n
  shift
  n=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 10 }')
  for ((i = 0; i < n; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# file_lines_gt FILE N — FILE has more than N lines (for wait_until)
file_lines_gt() { [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -gt "$2" ]; }
# grep_count_gt PATTERN FILE N — more than N lines of FILE match PATTERN
grep_count_gt() { [ "$(grep -c -- "$1" "$2" 2>/dev/null || true)" -gt "$3" ]; }

# ---- namespaces -------------------------------------------------------------

ns_of() {
  [ -n "${POD_NS[$1]:-}" ] || fail "no such pod: $1"
  echo "${POD_NS[$1]}"
}

# in_pod POD CMD... — runs CMD inside POD's network namespace
in_pod() {
  local ns
  ns=$(ns_of "$1")
  shift
  ip netns exec "$ns" "$@"
}

_net_init() {
  [ -n "$WT_NODE_NS" ] && return 0
  WT_NODE_NS="${WT_PREFIX}-node"
  ip netns add "$WT_NODE_NS"
  ip -n "$WT_NODE_NS" link set lo up
  ip -n "$WT_NODE_NS" link add br0 type bridge
  ip -n "$WT_NODE_NS" link set br0 up
}

# pod_add NAME — a pod namespace with lo up and eth0 on the node bridge;
# its address is in POD_IP[NAME].
pod_add() {
  local name=$1 ns host
  [ -z "${POD_NS[$name]:-}" ] || fail "pod $name exists"
  _net_init
  ns="${WT_PREFIX}-$name"
  host=$WT_NEXT_HOST
  WT_NEXT_HOST=$((WT_NEXT_HOST + 1))
  ip netns add "$ns"
  POD_NS[$name]=$ns
  WT_PODS+=("$name")
  ip -n "$ns" link set lo up
  # Both ends are created directly in their namespaces: no name ever
  # appears in the host namespace.
  ip -n "$WT_NODE_NS" link add "veth$host" type veth peer name eth0 netns "$ns"
  ip -n "$WT_NODE_NS" link set "veth$host" master br0 up
  ip -n "$ns" addr add "$WT_NET.$host/24" dev eth0
  ip -n "$ns" link set eth0 up
  POD_IP[$name]="$WT_NET.$host"
}

# pod_init NAME [weft-init flags] — installs the redirect rules in NAME
pod_init() {
  local name=$1
  shift
  local ns
  ns=$(ns_of "$name")
  [ -x "$WEFT_BIN/weft-init" ] || fail "$WEFT_BIN/weft-init not built"
  if ! ip netns exec "$ns" "$WEFT_BIN/weft-init" --incoming-proxy-port 4143 \
      --outgoing-proxy-port 4140 --proxy-uid "$PROXY_UID" "$@" \
      >>"$T/init-$name.log" 2>&1; then
    cat "$T/init-$name.log" >&2
    fail "weft-init failed in pod $name ($*)"
  fi
}

# proxy_start NAME [WEFT_PROXY_VAR=value...] — starts weft-proxy in NAME as
# uid 2102 with a clean environment, waits for /ready.
proxy_start() {
  local name=$1
  shift
  local ns n logf admin=127.0.0.1:4191 kv
  ns=$(ns_of "$name")
  for kv in "$@"; do
    case $kv in
      WEFT_PROXY_ADMIN_LISTEN_ADDR=*)
        admin=${kv#*=}
        admin="127.0.0.1:${admin##*:}"
        ;;
    esac
  done
  n=1
  while [ -e "$T/proxy-$name.$n.log" ]; do n=$((n + 1)); done
  logf="$T/proxy-$name.$n.log"
  start_bg "$name" setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    "WEFT_PROXY_LOG=${WEFT_TEST_PROXY_LOG:-info}" "$@" \
    "$WEFT_BIN/weft-proxy" >"$logf" 2>&1
  PROXY_PID[$name]=$BG_PID
  PROXY_ADMIN[$name]=$admin
  PROXY_LOG[$name]=$logf
  wait_ready "$name"
}

# wait_ready NAME [TIMEOUT_S] — until NAME's proxy answers /ready with 200
wait_ready() {
  local name=$1 timeout=${2:-10} i n pid
  pid=${PROXY_PID[$name]}
  n=$((timeout * 10))
  for ((i = 0; i < n; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "${PROXY_LOG[$name]}" >&2 || true
      fail "weft-proxy in pod $name exited during startup"
    fi
    if in_pod "$name" curl -fsS --max-time 1 -o /dev/null \
        "http://${PROXY_ADMIN[$name]}/ready" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  fail "weft-proxy in pod $name not ready after ${timeout}s"
}

# pod_mesh NAME [WEFT_PROXY_VAR=value...] [weft-init flags...] — weft-init
# (with the flags) then weft-proxy (with the variables) in NAME.
pod_mesh() {
  local name=$1
  shift
  local envs=() flags=() a
  for a in "$@"; do
    case $a in
      WEFT_PROXY_*=*) envs+=("$a") ;;
      *) flags+=("$a") ;;
    esac
  done
  pod_init "$name" ${flags[@]+"${flags[@]}"}
  proxy_start "$name" ${envs[@]+"${envs[@]}"}
}

# proxy_rss_kib NAME — VmRSS of NAME's proxy in KiB
proxy_rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/${PROXY_PID[$1]}/status"
}

# wait_listen POD PORT [TIMEOUT_S] — until something listens on TCP PORT in POD
wait_listen() {
  local pod=$1 port=$2 timeout=${3:-10}
  wait_until "$timeout" _listening "$pod" "$port" ||
    fail "nothing listening on port $port in pod $pod after ${timeout}s"
}
_listening() { [ -n "$(in_pod "$1" ss -Hltn "sport = :$2")" ]; }

# ---- real peers ---------------------------------------------------------------

# nginx_start POD DOCROOT [PORT [DIRECTIVES]] — a real nginx (foreground
# master, one worker, its own config/pid/logs/temp under $T/nginx-POD)
# serving DOCROOT on PORT (80); DIRECTIVES go into its server block (e.g.
# "limit_rate 4m;"). Access log lines:
# "<request_length> <bytes_sent> <status> <uri>", or NGINX_LOG_FORMAT's
# (nginx variables, e.g. '$msec $status' for arrival times; bench/dst).
nginx_start() {
  local pod=$1 root=$2 port=${3:-80} extra=${4:-} d
  # shellcheck disable=SC2016  # nginx variables, not the shell's
  local fmt=${NGINX_LOG_FORMAT:-'$request_length $bytes_sent $status $request_uri'}
  d="$T/nginx-$pod"
  mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 256; }
http {
  default_type application/octet-stream;
  log_format wt '$fmt';
  access_log $d/access.log wt;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  server {
    listen $port;
    root $root;
    $extra
    location / { }
  }
}
EOF
  start_bg "$pod" nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" >"$T/nginx-$pod.log" 2>&1
  wait_listen "$pod" "$port"
}

# ---- metrics ----------------------------------------------------------------

# scrape POD — prints POD's proxy /metrics
scrape() {
  in_pod "$1" curl -fsS --max-time 5 "http://${PROXY_ADMIN[$1]:-127.0.0.1:4191}/metrics"
}

# metric POD FAMILY [SELECTOR] — sum of FAMILY's samples whose labels include
# SELECTOR ('k="v",k2="v2"'); 0 when none. Prints "scrape-failed" (and
# returns 1) when /metrics can't be read, so assertions fail loudly.
metric() {
  local body
  if ! body=$(scrape "$1"); then
    echo scrape-failed
    return 1
  fi
  printf '%s\n' "$body" | "${PROM_SUM[@]}" "$2" "${3:-}"
}

# metric_lines POD FAMILY [SELECTOR] — the matching samples themselves
metric_lines() {
  scrape "$1" | "${PROM_SUM[@]}" "$2" "${3:-}" --lines
}

# wait_metric POD FAMILY SELECTOR OP VALUE [TIMEOUT_S] — polls until the
# sum satisfies OP VALUE; prints the last value either way and returns 1 on
# timeout (assert on the printed value afterwards).
wait_metric() {
  local pod=$1 fam=$2 sel=$3 op=$4 want=$5 timeout=${6:-10} v i n
  n=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 10 }')
  for ((i = 0; i < n; i++)); do
    v=$(metric "$pod" "$fam" "$sel" || true)
    if _num_cmp "$v" "$op" "$want"; then
      echo "$v"
      return 0
    fi
    sleep 0.1
  done
  echo "$v"
  return 1
}

# ---- cleanup ----------------------------------------------------------------

_print_logs() {
  local f
  echo "----- $WT_NAME failed; logs from $T -----" >&2
  for f in "$T"/*.log; do
    [ -e "$f" ] || continue
    echo "----- $(basename "$f") (last 60 lines) -----" >&2
    tail -n 60 "$f" >&2 || true
  done
  echo "----- end of logs -----" >&2
}

_cleanup() {
  local rc=$? i pod ns p
  trap - EXIT INT TERM
  set +e
  [ $rc -ne 0 ] && _print_logs
  # Reverse start order: clients before servers, proxies last-ish.
  for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
    kill_tree "${BG_PIDS[$i]}" TERM
  done
  for pod in ${WT_PODS[@]+"${WT_PODS[@]}"}; do
    ns=${POD_NS[$pod]}
    # Anything still inside a namespace this test created was started by it.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "$WT_NODE_NS" ]; then
    for p in $(ip netns pids "$WT_NODE_NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$WT_NODE_NS" 2>/dev/null
  fi
  # Under the ASan+UBSan build a sanitizer report in any log fails the test,
  # even when the behaviour looked right from outside.
  if [ -d "$T" ] && grep -rlqE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T" 2>/dev/null; then
    echo "[$WT_NAME] sanitizer report in logs:" >&2
    grep -rhE -A20 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T" | head -60 >&2
    [ $rc -eq 0 ] && rc=1
  fi
  if [ "${WEFT_TEST_KEEP:-0}" = 1 ]; then
    echo "[$WT_NAME] kept $T" >&2
  else
    rm -rf "$T"
  fi
  if [ "${WT_RESULT_LINE:-1}" = 0 ]; then
    :
  elif [ $rc -eq 0 ]; then
    echo "[$WT_NAME] PASS ($WT_ASSERTS assertions)"
  else
    echo "[$WT_NAME] FAILED (exit $rc)" >&2
  fi
  exit $rc
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A watchdog so a hung step still ends in cleanup (CTest's own timeout would
# SIGKILL us and leave namespaces behind).
(
  trap 'exit 0' TERM
  sleep "${WEFT_TEST_TIMEOUT:-300}" &
  wait $!
  echo "[$WT_NAME] watchdog: test exceeded ${WEFT_TEST_TIMEOUT:-300}s" >&2
  kill -TERM $$
) &
BG_PIDS+=("$!")
