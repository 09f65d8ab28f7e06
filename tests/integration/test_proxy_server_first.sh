#!/usr/bin/env bash
# Server-speaks-first protocols: the server sends a banner on connect and the
# client waits for it, so protocol detection sees nothing. Asserts that the
# proxy falls back to opaque after the detect timeout — the banner arrives
# (then a line is echoed both ways), no sooner than the timeout — and that
# on a port listed in *_PORTS_DISABLE_PROTOCOL_DETECTION it arrives without
# that delay. Delays are printed; bounds are loose (behaviour, not speed).
#
#   a: meshed client   b: meshed server   c: plain client   d: plain server
#   ports: 7000 detected, 7001 opaque (on both proxies)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

IN_S=1      # WEFT_PROXY_INBOUND_DETECT_TIMEOUT
OUT_S=1.5   # WEFT_PROXY_OUTBOUND_DETECT_TIMEOUT
SLACK=6     # generous upper bound on top of the expected delay
PROXY_ENV=(WEFT_PROXY_INBOUND_DETECT_TIMEOUT=1s WEFT_PROXY_OUTBOUND_DETECT_TIMEOUT=1500ms
  WEFT_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION=7001
  WEFT_PROXY_OUTBOUND_PORTS_DISABLE_PROTOCOL_DETECTION=7001)

pod_add a
pod_add b
pod_add c
pod_add d
pod_mesh a "${PROXY_ENV[@]}"
pod_mesh b "${PROXY_ENV[@]}"
BANNER="HELLO weft-$WT_ID"
for p in b d; do
  for port in 7000 7001; do
    start_bg $p "${TCPKIT[@]}" banner-server --port $port --banner "$BANNER" >"$T/banner-$p-$port.log" 2>&1
  done
done
for p in b d; do wait_listen $p 7000; wait_listen $p 7001; done

# probe CLIENT SERVER PORT -> sets DELAY; asserts banner + echo
probe() {
  local out
  out=$(in_pod "$1" "${TCPKIT[@]}" banner-client --host "${POD_IP[$2]}" --port "$3" --timeout 20)
  [ "$(jget "$out" status)" = ok ] || fail "$1 → $2:$3: $out"
  assert_eq "$(jget "$out" banner)" "$BANNER" "$1 → $2:$3 banner"
  assert_eq "$(jget "$out" echo)" "PING" "$1 → $2:$3 echo after the banner"
  DELAY=$(jget "$out" delay_s)
  log "$1 → $2:$3: banner after ${DELAY}s"
}

# Detected port, one proxy in the path.
probe c b 7000
assert_ge "$DELAY" "$(calc "$IN_S * 0.9")" "inbound only: banner waits for the inbound detect timeout"
assert_lt "$DELAY" "$(calc "$IN_S + $SLACK")" "inbound only: banner arrives"
d_in=$DELAY
probe a d 7000
assert_ge "$DELAY" "$(calc "$OUT_S * 0.9")" "outbound only: banner waits for the outbound detect timeout"
assert_lt "$DELAY" "$(calc "$OUT_S + $SLACK")" "outbound only: banner arrives"
d_out=$DELAY
# Both proxies: each waits for its own timeout in turn.
probe a b 7000
assert_ge "$DELAY" "$(calc "$OUT_S * 0.9")" "both sidecars: banner waits for (at least) the outbound detect timeout"
assert_lt "$DELAY" "$(calc "$IN_S + $OUT_S + $SLACK")" "both sidecars: banner arrives"
d_both=$DELAY

# Opaque port: no detection, no delay, on each path.
probe c b 7001
assert_lt "$DELAY" "$(calc "$IN_S * 0.9")" "inbound opaque port: banner without the detect delay"
o_in=$DELAY
probe a d 7001
assert_lt "$DELAY" "$(calc "$IN_S * 0.9")" "outbound opaque port: banner without the detect delay"
o_out=$DELAY
probe a b 7001
assert_lt "$DELAY" "$(calc "$IN_S * 0.9")" "both sidecars, opaque port: banner without the detect delay"
o_both=$DELAY

# The fast path really went through the proxies (not around them).
OUT7001='direction="outbound",peer="src",target_port="7001"'
IN7001='direction="inbound",peer="src",target_port="7001"'
assert_num_eq "$(metric a tcp_open_total "$OUT7001")" 2 "a's proxy carried both opaque connections"
assert_num_eq "$(metric b tcp_open_total "$IN7001")" 2 "b's proxy carried both opaque connections"
assert_num_eq "$(metric a tcp_open_total 'direction="outbound",peer="src",target_port="7000"')" 2 \
  "a's proxy carried both detected connections"
assert_num_eq "$(metric b tcp_open_total 'direction="inbound",peer="src",target_port="7000"')" 2 \
  "b's proxy carried both detected connections"

log "detect timeouts: inbound ${IN_S}s, outbound ${OUT_S}s"
log "banner delay, detected port 7000: inbound-only ${d_in}s, outbound-only ${d_out}s, both ${d_both}s"
log "banner delay, opaque port 7001:   inbound-only ${o_in}s, outbound-only ${o_out}s, both ${o_both}s"
