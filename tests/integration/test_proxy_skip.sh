#!/usr/bin/env bash
# weft-init's skip flags: traffic on skipped ports/subnets still flows but
# never reaches the proxy (tcp_open_total stays 0 for it), while the same
# kind of traffic on a non-skipped port/peer is counted — so each check can
# fail both ways.
#
#   a: meshed client, --outbound-ports-to-ignore 7100, --subnets-to-ignore <d>/32
#   b: meshed server, --inbound-ports-to-ignore 7200, --subnets-to-ignore <c>/32
#   c: plain client        d: plain server
#   echo servers (socat) on 7000, 7100, 7200 in b and on 7000 in d
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v socat >/dev/null || fail "socat missing (scripts/deps)"
pod_add a
pod_add b
pod_add c
pod_add d
A=${POD_IP[a]} B=${POD_IP[b]} C=${POD_IP[c]} D=${POD_IP[d]}
pod_mesh a --outbound-ports-to-ignore 7100 --subnets-to-ignore "$D/32"
pod_mesh b --inbound-ports-to-ignore 7200 --subnets-to-ignore "$C/32"

for port in 7000 7100 7200; do
  start_bg b socat "TCP-LISTEN:$port,fork,reuseaddr" EXEC:cat >"$T/socat-b-$port.log" 2>&1
done
start_bg d socat TCP-LISTEN:7000,fork,reuseaddr EXEC:cat >"$T/socat-d-7000.log" 2>&1
for port in 7000 7100 7200; do wait_listen b $port; done
wait_listen d 7000

# echo_via FROM HOST PORT — a real socat client sends a line and half-closes;
# asserts the line comes back.
echo_via() {
  local msg="weft-skip-$1-$3-$RANDOM" got
  got=$(printf '%s\n' "$msg" | in_pod "$1" timeout 15 socat -t 5 - "TCP:$2:$3" || true)
  assert_eq "$got" "$msg" "$1 → $2:$3 echo"
}
opens() { metric "$1" tcp_open_total "direction=\"$2\",peer=\"src\",$3"; }

log "a=$A b=$B c=$C d=$D"

# 1. Not skipped: both proxies count it.
echo_via a "$B" 7000
assert_num_eq "$(opens a outbound 'target_port="7000"')" 1 "a→b:7000 counted by a's outbound"
assert_num_eq "$(opens b inbound 'target_port="7000"')" 1 "a→b:7000 counted by b's inbound"

# 2. a's outbound port skip: a's proxy never sees it, b's inbound still does.
echo_via a "$B" 7100
assert_num_eq "$(opens a outbound 'target_port="7100"')" 0 "a→b:7100 (outbound-ports-to-ignore) not seen by a's proxy"
assert_num_eq "$(opens b inbound 'target_port="7100"')" 1 "a→b:7100 still counted by b's inbound (not skipped there)"

# 3. b's inbound port skip: a's outbound counts it, b's proxy never sees it.
echo_via a "$B" 7200
assert_num_eq "$(opens a outbound 'target_port="7200"')" 1 "a→b:7200 counted by a's outbound (not skipped there)"
assert_num_eq "$(opens b inbound 'target_port="7200"')" 0 "a→b:7200 (inbound-ports-to-ignore) not seen by b's proxy"

# 4. a's subnet skip (outbound to d) vs. the same port to b.
echo_via a "$D" 7000
assert_num_eq "$(opens a outbound "target_ip=\"$D\"")" 0 "a→d (subnets-to-ignore) not seen by a's proxy"
assert_num_eq "$(opens a outbound 'target_port="7000"')" 1 "a's outbound 7000 count unchanged by the skipped a→d"

# 5. b's subnet skip (inbound from c) vs. the same port from a.
echo_via c "$B" 7000
assert_num_eq "$(opens b inbound 'target_port="7000"')" 1 "c→b:7000 (c in b's subnets-to-ignore) not seen by b's proxy"
echo_via a "$B" 7000
assert_num_eq "$(opens b inbound 'target_port="7000"')" 2 "a→b:7000 again counted by b's inbound"
assert_num_eq "$(opens a outbound 'target_port="7000"')" 2 "a→b:7000 again counted by a's outbound"

# Nothing else leaked into the proxies.
assert_num_eq "$(metric a tcp_open_total 'direction="outbound",peer="src"')" 3 "a's outbound saw exactly the 3 non-skipped connections"
assert_num_eq "$(metric b tcp_open_total 'direction="inbound",peer="src"')" 3 "b's inbound saw exactly the 3 non-skipped connections"
