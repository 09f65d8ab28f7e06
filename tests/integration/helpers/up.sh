# shellcheck shell=bash
# tests/integration/helpers/up.sh — sourced after lib.sh by the local-mode
# tests (test_up_*.sh): a `weft up` state directory inside the test's temp
# dir, `weft down` before lib.sh's own cleanup, and the leftover checks.
#
#   source "$(dirname "$0")/lib.sh"; source "$(dirname "$0")/helpers/up.sh"
#   up -f "$T/app.yaml"          # weft up with --state-dir $STATE
#   wf get pods -n shop          # any weft subcommand with --state-dir $STATE
#   assert_nothing_left          # after weft down

WEFT="$WEFT_BIN/weft"
[ -x "$WEFT" ] || { echo "$WT_NAME: $WEFT not built" >&2; exit 1; }
STATE="$T/state"
UP_PREFIX=""

# wf CMD ARGS... — weft CMD --state-dir $STATE ARGS...
wf() {
  local cmd=$1
  shift
  "$WEFT" "$cmd" --state-dir "$STATE" "$@"
}

# up ARGS... — weft up into $STATE (60 s readiness timeout); output in
# $T/up.out / $T/up.err, exit status in UP_RC.
up() {
  UP_RC=0
  "$WEFT" up --state-dir "$STATE" --timeout 60 "$@" >"$T/up.out" 2>"$T/up.err" || UP_RC=$?
  cat "$T/up.out" "$T/up.err" >>"$T/up-all.log"
  _up_learn_prefix
  # Follow the supervisor's log into $T (by name, across restarts), so its
  # last words — sanitizer reports at exit included — outlive `weft down`
  # removing the state directory; lib.sh prints and greps $T.
  if [ -z "${UP_TAIL:-}" ] && [ -f "$STATE/supervisor.log" ]; then
    start_bg - tail -n +1 -F "$STATE/supervisor.log" >"$T/supervisor.log" 2>/dev/null
    UP_TAIL=$BG_PID
  fi
}

# The netns prefix (weft-<tag>-) of this state dir, read from the node's
# namespace name the supervisor made; kept for the leftover checks.
_up_learn_prefix() {
  local f
  [ -n "$UP_PREFIX" ] && return 0
  for f in "$STATE"/pods/*/*/netns; do
    [ -e "$f" ] || continue
    UP_PREFIX=$(sed -E 's/^(weft-[0-9a-f]{8}-).*/\1/' "$f")
    return 0
  done
}

# our_netns — this run's network namespaces, one per line
our_netns() {
  [ -n "$UP_PREFIX" ] || return 0
  ip netns list 2>/dev/null | awk '{print $1}' | grep "^$UP_PREFIX" || true
}

# our_pids — processes whose command line or environment names $STATE
# (except the test's own tail of the supervisor's log)
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    [ "${p#/proc/}" = "${UP_TAIL:-}" ] && continue
    if tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qF "$STATE" ||
       tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qF "$STATE"; then
      echo "${p#/proc/}"
    fi
  done
}

# assert_nothing_left — after weft down: no namespace, process or file
assert_nothing_left() {
  local left
  left=$(our_netns)
  [ -z "$left" ] || fail "network namespaces left behind: $left"
  _ok "no network namespace left (prefix ${UP_PREFIX:-?})"
  left=$(our_pids)
  [ -z "$left" ] || fail "processes left behind: $(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)"
  _ok "no process left"
  [ ! -e "$STATE" ] || fail "state directory left behind: $(find "$STATE" | head)"
  _ok "state directory removed"
}

# proxy_env POD — the environment of this run's proxy of POD, one per line
proxy_env() {
  local p e
  for p in $(pgrep -x weft-proxy || true); do
    e=$(tr '\0' '\n' 2>/dev/null <"/proc/$p/environ") || continue
    if grep -qF "$STATE/" <<<"$e" && grep -qF "\"pod\":\"$1\"" <<<"$e"; then
      echo "$e"
      return 0
    fi
  done
  return 1
}

# store FILE — prints <store>/FILE
store() { cat "$STATE/store/$1"; }

# jq-like: pyq FILE EXPR — evaluates a Python expression on the JSON in FILE (as d)
pyq() {
  "$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$1" "$2"
}

_up_cleanup() {
  local rc=$? p
  set +e # a failing step here must not end the cleanup (nor skip lib.sh's)
  if [ $rc -ne 0 ] && [ -d "$STATE" ]; then
    for p in "$STATE"/pods/*/*/*.log "$STATE"/cp/*.log; do
      [ -e "$p" ] && cp "$p" "$T/pod-$(basename "$(dirname "$p")")-$(basename "$p")"
    done
  fi
  if [ -d "$STATE" ] || [ -n "$(our_netns)" ]; then
    "$WEFT" down --state-dir "$STATE" >>"$T/down.log" 2>&1 || true
  fi
  # A broken weft down must not leave processes behind for the next test.
  for p in $(our_pids); do kill -KILL "$p" 2>/dev/null || true; done
  for p in $(our_netns); do ip netns del "$p" 2>/dev/null || true; done
  # lib.sh's cleanup reads the test's status from $?.
  (exit $rc)
  _cleanup
}
trap _up_cleanup EXIT
