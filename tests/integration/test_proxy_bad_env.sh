#!/usr/bin/env bash
# weft-proxy refuses bad configuration at startup: it exits non-zero within
# a few seconds and its message names the offending variable. A control run
# with the same base environment and no bad value starts and answers /ready,
# so every failure below is due to the bad value alone. All listeners are on
# a 127.x address of this run, so nothing collides with other tests.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

IP="127.$((WT_ID % 250 + 1)).77.1"
BASE=(PATH=/usr/sbin:/usr/bin:/sbin:/bin
  "WEFT_PROXY_INBOUND_LISTEN_ADDR=$IP:4143"
  "WEFT_PROXY_OUTBOUND_LISTEN_ADDRS=$IP:4140"
  "WEFT_PROXY_ADMIN_LISTEN_ADDR=$IP:4191"
  "WEFT_PROXY_CONTROL_LISTEN_ADDR=$IP:4190")

# Control: the base environment is good.
start_bg - env -i "${BASE[@]}" "$WEFT_BIN/weft-proxy" >"$T/control.log" 2>&1
ctl=$BG_PID
ready() { curl -fsS --max-time 1 -o /dev/null "http://$IP:4191/ready"; }
wait_until 10 ready || fail "control: weft-proxy with the base environment did not become ready"
_ok "control: the base environment starts and is ready"
kill_tree "$ctl"

# bad VAR VALUE — weft-proxy must exit non-zero within 5s naming VAR.
bad() {
  local var=$1 val=$2 rc=0 t0 took out="$T/bad-$1.log"
  t0=$(now)
  timeout -k 1 5 env -i "${BASE[@]}" "WEFT_PROXY_$var=$val" "$WEFT_BIN/weft-proxy" >"$out" 2>&1 || rc=$?
  took=$(calc "$(now) - $t0")
  { [ $rc -ne 124 ] && [ $rc -ne 137 ]; } || fail "WEFT_PROXY_$var='$val': still running after 5s (accepted?)"
  [ $rc -ne 0 ] || fail "WEFT_PROXY_$var='$val': exited 0"
  grep -q "WEFT_PROXY_$var" "$out" || fail "WEFT_PROXY_$var='$val': message does not name the variable: $(head -c 300 "$out")"
  _ok "WEFT_PROXY_$var='$val' → exit $rc in ${took}s: $(head -n 1 "$out")"
}

bad CORES 0
bad CORES abc
bad CORES -1
bad INBOUND_DETECT_TIMEOUT 10
bad OUTBOUND_DETECT_TIMEOUT 5parsecs
bad INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION 70000
bad OUTBOUND_PORTS_DISABLE_PROTOCOL_DETECTION 25,x
bad ADMIN_LISTEN_ADDR nope
bad INBOUND_LISTEN_ADDR "$IP"
bad OUTBOUND_LISTEN_ADDRS "$IP:4140,bogus"
bad OUTBOUND_CONNECT_TIMEOUT -1s
bad TCP_IDLE_TIMEOUT 1x
bad SHUTDOWN_GRACE_PERIOD soon
bad SHUTDOWN_ENDPOINT_ENABLED maybe
bad LOG loudest
