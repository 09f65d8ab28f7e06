#!/usr/bin/env bash
# test_init_rules.sh — weft-init in real network namespaces (needs root).
#
#  1. rules: the nat rules land as specified for IPv4 and IPv6, a second run
#     leaves exactly one copy of each, a changed config replaces them,
#     --dry-run prints exactly what a run applies and touches nothing (also
#     unprivileged), --clean removes everything and only that, bad flags
#     exit 2 naming flag and value without touching rules, a failing or
#     missing iptables tool exits 1 with its stderr.
#  2. traffic: a pod netns with a veth to a peer netns (10.250.0.0/24,
#     fd00:250::/64; nothing leaves the namespaces this test creates).
#     Listeners stand in for the proxy (4140 outbound, 4143 inbound; they
#     answer with SO_ORIGINAL_DST, as the proxy will read it) and the app.
#     Redirected: ordinary outbound and inbound TCP, IPv4 and IPv6. Not
#     redirected: skipped ports, skipped subnets, uid 2102, loopback, 4190/4191.
set -euo pipefail

: "${WEFT_BIN:?WEFT_BIN must name the bin directory of a build}"
INIT="$WEFT_BIN/weft-init"
PY=/usr/bin/python3 # not a pyenv shim: uid 2102 must be able to run it
if [[ $EUID -ne 0 ]]; then
    echo "test_init_rules: needs root (network namespaces, iptables)" >&2
    exit 1
fi
[[ -x "$INIT" ]] || { echo "test_init_rules: no $INIT" >&2; exit 1; }
SAVE4=iptables-save SAVE6=ip6tables-save
if command -v iptables-nft-save >/dev/null; then SAVE4=iptables-nft-save SAVE6=ip6tables-nft-save; fi

TAG="wfinit-$$"
RULES_NS="$TAG-rules" FRESH_NS="$TAG-fresh" POD="$TAG-pod" PEER="$TAG-peer"
TMP=$(mktemp -d "/tmp/$TAG.XXXXXX")
chmod 755 "$TMP" # the unprivileged checks read the binary and scripts here
PIDS=()

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "$RULES_NS" "$FRESH_NS" "$POD" "$PEER"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A step that is not itself a check (setup, a run whose output is checked
# next) aborts the test; say which one.
trap 'echo "FAIL line $LINENO: \`$BASH_COMMAND\` exited $?" >&2' ERR

passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: records whether COMMAND succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else bad "$desc"; fi
}
# expect_eq DESCRIPTION GOT WANT
expect_eq() {
    if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1: got [$2], want [$3]"; fi
}

# The nat table without its timestamped comment lines.
nat4() { ip netns exec "$1" "$SAVE4" -t nat | grep -v '^#'; }
nat6() { ip netns exec "$1" "$SAVE6" -t nat | grep -v '^#'; }
# count_lines TEXT FIXED-LINE: how many lines of TEXT equal FIXED-LINE.
count_lines() { grep -c -F -x -e "$2" <<<"$1" || true; }
count_matches() { grep -c -e "$2" <<<"$1" || true; }

# ---------------------------------------------------------------- 1. rules
ip netns add "$RULES_NS"
R=(ip netns exec "$RULES_NS")
ARGS=(--inbound-ports-to-ignore "9000,7000-7100" --outbound-ports-to-ignore "443,8000-8100"
      --subnets-to-ignore "10.250.9.0/24,fd00:250:9::/64")

# A rule that is not ours must survive everything below, uncopied.
"${R[@]}" iptables -t nat -A OUTPUT -p udp --dport 53 -m comment --comment foreign -j RETURN
"${R[@]}" ip6tables -t nat -A OUTPUT -p udp --dport 53 -m comment --comment foreign -j RETURN

"${R[@]}" "$INIT" "${ARGS[@]}" >"$TMP/out" 2>"$TMP/err" && rc=0 || rc=$?
expect_eq "install exits 0" "$rc" 0
check "install reports both families" grep -q "IPv6: 8 rules" "$TMP/out"
s4=$(nat4 "$RULES_NS") s6=$(nat6 "$RULES_NS")

for fam in 4 6; do
    if [[ $fam == 4 ]]; then s=$s4; else s=$s6; fi
    expect_eq "v$fam: one PREROUTING jump" "$(count_lines "$s" \
        '-A PREROUTING -m comment --comment "weft-init/install-inbound" -j WEFT_INIT_REDIRECT')" 1
    expect_eq "v$fam: one OUTPUT jump" "$(count_lines "$s" \
        '-A OUTPUT -m comment --comment "weft-init/install-outbound" -j WEFT_INIT_OUTPUT')" 1
    expect_eq "v$fam: inbound skips 4190,4191 and the flag's ports" "$(count_lines "$s" \
        '-A WEFT_INIT_REDIRECT -p tcp -m multiport --dports 4190,4191,7000:7100,9000 -m comment --comment "weft-init/ignore-inbound-ports:4190,4191,7000:7100,9000" -j RETURN')" 1
    expect_eq "v$fam: inbound redirect to 4143" "$(count_lines "$s" \
        '-A WEFT_INIT_REDIRECT -p tcp -m comment --comment "weft-init/redirect-inbound:4143" -j REDIRECT --to-ports 4143')" 1
    expect_eq "v$fam: proxy uid returns" "$(count_lines "$s" \
        '-A WEFT_INIT_OUTPUT -m owner --uid-owner 2102 -m comment --comment "weft-init/ignore-proxy-uid:2102" -j RETURN')" 1
    expect_eq "v$fam: loopback returns" "$(count_lines "$s" \
        '-A WEFT_INIT_OUTPUT -o lo -m comment --comment "weft-init/ignore-loopback" -j RETURN')" 1
    expect_eq "v$fam: outbound skipped ports" "$(count_lines "$s" \
        '-A WEFT_INIT_OUTPUT -p tcp -m multiport --dports 443,8000:8100 -m comment --comment "weft-init/ignore-outbound-ports:443,8000:8100" -j RETURN')" 1
    expect_eq "v$fam: outbound redirect to 4140" "$(count_lines "$s" \
        '-A WEFT_INIT_OUTPUT -p tcp -m comment --comment "weft-init/redirect-outbound:4140" -j REDIRECT --to-ports 4140')" 1
    expect_eq "v$fam: foreign rule kept" "$(count_matches "$s" 'comment foreign')" 1
done
expect_eq "v4: IPv4 subnet, inbound by source" "$(count_lines "$s4" \
    '-A WEFT_INIT_REDIRECT -s 10.250.9.0/24 -m comment --comment "weft-init/ignore-inbound-subnet:10.250.9.0/24" -j RETURN')" 1
expect_eq "v4: IPv4 subnet, outbound by destination" "$(count_lines "$s4" \
    '-A WEFT_INIT_OUTPUT -d 10.250.9.0/24 -m comment --comment "weft-init/ignore-outbound-subnet:10.250.9.0/24" -j RETURN')" 1
expect_eq "v4: no IPv6 subnet" "$(count_matches "$s4" 'fd00:250:9')" 0
expect_eq "v6: IPv6 subnet both ways" "$(count_matches "$s6" 'fd00:250:9::/64 -m comment')" 2
expect_eq "v6: no IPv4 subnet" "$(count_matches "$s6" '10\.250\.9')" 0

# Idempotent: a second identical run changes nothing at all.
"${R[@]}" "$INIT" "${ARGS[@]}" >"$TMP/out" 2>&1 && rc=0 || rc=$?
expect_eq "second run exits 0" "$rc" 0
check "second run adds no jumps" grep -q "IPv4: 8 rules .* 0 added" "$TMP/out"
expect_eq "second run: IPv4 table identical" "$(nat4 "$RULES_NS")" "$s4"
expect_eq "second run: IPv6 table identical" "$(nat6 "$RULES_NS")" "$s6"

# A changed config replaces the chains' contents, still one copy each.
"${R[@]}" "$INIT" --outbound-ports-to-ignore 25 --proxy-uid 3000 --ipv6=false >/dev/null
s=$(nat4 "$RULES_NS")
expect_eq "reconfigure: old ports gone" "$(count_matches "$s" '443,8000:8100')" 0
expect_eq "reconfigure: old subnet gone" "$(count_matches "$s" '10.250.9.0')" 0
expect_eq "reconfigure: new port" "$(count_matches "$s" 'dports 25 ')" 1
expect_eq "reconfigure: new uid" "$(count_matches "$s" 'uid-owner 3000 ')" 1
expect_eq "reconfigure: one PREROUTING jump" "$(count_matches "$s" '^-A PREROUTING .*WEFT_INIT')" 1
expect_eq "reconfigure: --ipv6=false left IPv6 alone" "$(nat6 "$RULES_NS")" "$s6"

# A duplicate jump (say, added by hand) is removed on the next run.
"${R[@]}" iptables -t nat -A OUTPUT -j WEFT_INIT_OUTPUT
"${R[@]}" "$INIT" --ipv6=false >/dev/null
expect_eq "duplicate jump removed" \
    "$(count_matches "$(nat4 "$RULES_NS")" '^-A OUTPUT .*-j WEFT_INIT_OUTPUT')" 1

# --dry-run touches nothing, and prints exactly the rules a run applies.
before4=$(nat4 "$RULES_NS") before6=$(nat6 "$RULES_NS")
"${R[@]}" "$INIT" --dry-run "${ARGS[@]}" >"$TMP/dry" 2>&1 && rc=0 || rc=$?
expect_eq "dry-run exits 0" "$rc" 0
expect_eq "dry-run: IPv4 untouched" "$(nat4 "$RULES_NS")" "$before4"
expect_eq "dry-run: IPv6 untouched" "$(nat6 "$RULES_NS")" "$before6"
ip netns add "$FRESH_NS"
"$INIT" --dry-run --ipv6=false "${ARGS[@]}" | grep '^-A ' | sort >"$TMP/dry4"
ip netns exec "$FRESH_NS" "$INIT" --ipv6=false "${ARGS[@]}" >/dev/null
nat4 "$FRESH_NS" | grep '^-A ' | sort >"$TMP/real4"
ip netns del "$FRESH_NS"
check "dry-run rules == applied rules" cmp -s "$TMP/dry4" "$TMP/real4"

# ... and needs no privileges at all.
cp "$INIT" "$TMP/weft-init" && chmod 755 "$TMP/weft-init"
setpriv --reuid 65534 --regid 65534 --clear-groups "$TMP/weft-init" --dry-run --clean \
    >"$TMP/dry" 2>&1 && rc=0 || rc=$?
expect_eq "unprivileged dry-run --clean exits 0" "$rc" 0
check "dry-run --clean shows the removals" grep -q '^-X WEFT_INIT_REDIRECT$' "$TMP/dry"

# Failing tools: exit 1 with the tool's stderr, and the line it names.
mkdir "$TMP/fake"
printf '#!/bin/sh\nprintf "*nat\\nCOMMIT\\n"\n' >"$TMP/fake/iptables-fake-save"
printf '#!/bin/sh\ncat >/dev/null\necho "iptables-fake-restore: line 4 failed" >&2\nexit 1\n' \
    >"$TMP/fake/iptables-fake-restore"
chmod 755 "$TMP/fake"/*
"${R[@]}" "$INIT" --firewall-bin-path "$TMP/fake/iptables-fake" --ipv6=false >"$TMP/out" 2>"$TMP/err" &&
    rc=0 || rc=$?
expect_eq "failing restore exits 1" "$rc" 1
check "failing restore: its stderr shown" grep -q 'iptables-fake-restore: line 4 failed' "$TMP/err"
check "failing restore: the line shown" grep -q 'input line 4 was: -A WEFT_INIT_REDIRECT' "$TMP/err"
"${R[@]}" "$INIT" --firewall-bin-path /nonexistent/iptables >"$TMP/out" 2>"$TMP/err" && rc=0 || rc=$?
expect_eq "missing tool exits 1" "$rc" 1
check "missing tool named" grep -q '/nonexistent/iptables-save -t nat` could not run: not found' \
    "$TMP/err"

# --clean removes every trace (both families), keeps the foreign rule.
"${R[@]}" "$INIT" --clean >"$TMP/out" 2>&1 && rc=0 || rc=$?
expect_eq "clean exits 0" "$rc" 0
for fam in 4 6; do
    if [[ $fam == 4 ]]; then s=$(nat4 "$RULES_NS"); else s=$(nat6 "$RULES_NS"); fi
    expect_eq "clean v$fam: no weft-init rule or chain" "$(count_matches "$s" 'WEFT_INIT\|weft-init')" 0
    expect_eq "clean v$fam: foreign rule kept" "$(count_matches "$s" 'comment foreign')" 1
done
"${R[@]}" "$INIT" --clean >"$TMP/out" 2>&1 && rc=0 || rc=$?
expect_eq "second clean exits 0" "$rc" 0
check "second clean: nothing to clean" grep -q 'IPv4: nothing to clean' "$TMP/out"

# Bad flags and values: exit 2, message names flag and value, no rules.
clean4=$(nat4 "$RULES_NS") clean6=$(nat6 "$RULES_NS")
bad_case() {
    local want=$1
    shift
    "${R[@]}" "$INIT" "$@" >"$TMP/out" 2>"$TMP/err" && rc=0 || rc=$?
    expect_eq "bad [$*]: exit 2" "$rc" 2
    if grep -q -F -e "$want" "$TMP/err"; then ok "bad [$*]: message"; else
        bad "bad [$*]: message: want [$want], got [$(cat "$TMP/err")]"; fi
}
bad_case '--inbound-ports-to-ignore: invalid port "70000" in "25,70000": must be 1-65535' \
    --inbound-ports-to-ignore 25,70000
bad_case '--outbound-ports-to-ignore: invalid port range "9000-8000"' --outbound-ports-to-ignore 9000-8000
bad_case '--outbound-ports-to-ignore: invalid port "http"' --outbound-ports-to-ignore http
bad_case '--incoming-proxy-port: invalid port "0": must be 1-65535' --incoming-proxy-port 0
bad_case '--outgoing-proxy-port: invalid port "65536": must be 1-65535' --outgoing-proxy-port=65536
bad_case '--proxy-uid: invalid uid "-5"' --proxy-uid -5
bad_case '--subnets-to-ignore: invalid CIDR "10.0.0.1/8"' --subnets-to-ignore 10.0.0.1/8
bad_case '--subnets-to-ignore: invalid CIDR "fd00::/129"' --subnets-to-ignore fd00::/129
bad_case '--subnets-to-ignore: invalid CIDR "nonsense"' --subnets-to-ignore 10.0.0.0/8,nonsense
bad_case '--ipv6: invalid value "maybe"' --ipv6=maybe
bad_case 'unknown flag "--bogus"' --bogus
bad_case 'flag "--proxy-uid" needs a value' --proxy-uid
bad_case 'unexpected argument "extra"' extra
bad_case 'cannot name the IPv6 tool for "/opt/fw"' --firewall-bin-path /opt/fw
expect_eq "bad flags: IPv4 untouched" "$(nat4 "$RULES_NS")" "$clean4"
expect_eq "bad flags: IPv6 untouched" "$(nat6 "$RULES_NS")" "$clean6"
# ... also when rules are installed: a bad rerun must not half-apply.
"${R[@]}" "$INIT" >/dev/null
inst4=$(nat4 "$RULES_NS")
bad_case '--outbound-ports-to-ignore: invalid port "0"' --outbound-ports-to-ignore 0
expect_eq "bad rerun: rules unchanged" "$(nat4 "$RULES_NS")" "$inst4"
check "help exits 0" "$INIT" --help >/dev/null

# -------------------------------------------------------------- 2. traffic
cat >"$TMP/server.py" <<'EOF'
# server.py TAG PORT...: answers every TCP connection (IPv4 and IPv6) on each
# port with "TAG" and, for proxy stand-ins, the original destination as
# SO_ORIGINAL_DST reports it; then closes.
import selectors, socket, struct, sys

tag, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
sel = selectors.DefaultSelector()
for port in ports:
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ, fam)

def original_dst(c, fam):
    try:
        if fam == socket.AF_INET:
            raw = c.getsockopt(socket.SOL_IP, 80, 16)  # SO_ORIGINAL_DST
            return "%s:%d" % (socket.inet_ntop(fam, raw[4:8]), struct.unpack("!H", raw[2:4])[0])
        raw = c.getsockopt(socket.IPPROTO_IPV6, 80, 28)  # IP6T_SO_ORIGINAL_DST
        return "[%s]:%d" % (socket.inet_ntop(fam, raw[8:24]), struct.unpack("!H", raw[2:4])[0])
    except OSError as e:
        return "no-original-dst(%s)" % e.strerror

print("ready", flush=True)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        msg = tag + (" " + original_dst(c, key.data) if tag.startswith("proxy") else "")
        try:
            c.sendall(msg.encode() + b"\n")
        finally:
            c.close()
EOF
cat >"$TMP/client.py" <<'EOF'
# client.py HOST PORT [SOURCE]: connects (3 s limit), prints the line the
# server sends, or "ERR ...".
import socket, sys

host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(3)
try:
    if len(sys.argv) > 3:
        s.bind((sys.argv[3], 0))
    s.connect((host, port))
    print(s.makefile().readline().strip())
except OSError as e:
    print("ERR", e)
EOF
chmod 644 "$TMP/server.py" "$TMP/client.py"

ip netns add "$POD"
ip netns add "$PEER"
ip -n "$POD" link add eth0 type veth peer name eth0 netns "$PEER"
ip -n "$POD" addr add 10.250.0.1/24 dev eth0
ip -n "$POD" addr add fd00:250::1/64 dev eth0 nodad
ip -n "$PEER" addr add 10.250.0.2/24 dev eth0
ip -n "$PEER" addr add 10.250.0.3/24 dev eth0
ip -n "$PEER" addr add fd00:250::2/64 dev eth0 nodad
ip -n "$PEER" addr add fd00:250::3/64 dev eth0 nodad
for ns in "$POD" "$PEER"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
done

serve() { # serve NS TAG PORT...
    local ns=$1 tag=$2 log="$TMP/server-$1-$2.log"
    shift 2
    ip netns exec "$ns" "$PY" "$TMP/server.py" "$tag" "$@" >"$log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        grep -q ready "$log" && return 0
        sleep 0.05
    done
    echo "server $tag in $ns did not start: $(cat "$log")" >&2
    return 1
}
serve "$POD" proxy-out 4140
serve "$POD" proxy-in 4143
serve "$POD" app 80 9000
serve "$POD" admin 4190 4191
serve "$PEER" peer 80 8080

from_pod() { ip netns exec "$POD" "$PY" "$TMP/client.py" "$@"; }
from_pod_as_proxy() {
    ip netns exec "$POD" setpriv --reuid 2102 --regid 2102 --clear-groups \
        "$PY" "$TMP/client.py" "$@"
}
from_peer() { ip netns exec "$PEER" "$PY" "$TMP/client.py" "$@"; }

# Before weft-init: nothing is redirected (so what follows is its doing).
expect_eq "before: pod -> peer:80 direct" "$(from_pod 10.250.0.2 80)" "peer"
expect_eq "before: peer -> pod:80 direct" "$(from_peer 10.250.0.1 80)" "app"

ip netns exec "$POD" "$INIT" --outbound-ports-to-ignore 8080 --inbound-ports-to-ignore 9000 \
    --subnets-to-ignore 10.250.0.3/32,fd00:250::3/128 >/dev/null

# Outbound.
expect_eq "out: pod -> peer:80 redirected to 4140" "$(from_pod 10.250.0.2 80)" \
    "proxy-out 10.250.0.2:80"
expect_eq "out: IPv6 redirected to 4140" "$(from_pod fd00:250::2 80)" "proxy-out [fd00:250::2]:80"
expect_eq "out: skipped port 8080 direct" "$(from_pod 10.250.0.2 8080)" "peer"
expect_eq "out: skipped subnet direct" "$(from_pod 10.250.0.3 80)" "peer"
expect_eq "out: skipped IPv6 subnet direct" "$(from_pod fd00:250::3 80)" "peer"
expect_eq "out: proxy uid 2102 direct" "$(from_pod_as_proxy 10.250.0.2 80)" "peer"
expect_eq "out: proxy uid 2102 IPv6 direct" "$(from_pod_as_proxy fd00:250::2 80)" "peer"
expect_eq "out: loopback direct" "$(from_pod 127.0.0.1 80)" "app"
expect_eq "out: other uids still redirected" \
    "$(ip netns exec "$POD" setpriv --reuid 2103 --regid 2103 --clear-groups \
        "$PY" "$TMP/client.py" 10.250.0.2 80)" "proxy-out 10.250.0.2:80"

# Inbound.
expect_eq "in: peer -> pod:80 redirected to 4143" "$(from_peer 10.250.0.1 80 10.250.0.2)" \
    "proxy-in 10.250.0.1:80"
expect_eq "in: IPv6 redirected to 4143" "$(from_peer fd00:250::1 80 fd00:250::2)" \
    "proxy-in [fd00:250::1]:80"
expect_eq "in: skipped port 9000 direct" "$(from_peer 10.250.0.1 9000 10.250.0.2)" "app"
expect_eq "in: admin 4191 direct" "$(from_peer 10.250.0.1 4191 10.250.0.2)" "admin"
expect_eq "in: control 4190 direct" "$(from_peer 10.250.0.1 4190 10.250.0.2)" "admin"
expect_eq "in: skipped source subnet direct" "$(from_peer 10.250.0.1 80 10.250.0.3)" "app"
expect_eq "in: skipped IPv6 source direct" "$(from_peer fd00:250::1 80 fd00:250::3)" "app"

# Re-running in a live pod keeps traffic flowing the same way.
ip netns exec "$POD" "$INIT" --outbound-ports-to-ignore 8080 --inbound-ports-to-ignore 9000 \
    --subnets-to-ignore 10.250.0.3/32,fd00:250::3/128 >/dev/null
expect_eq "rerun: still redirected" "$(from_pod 10.250.0.2 80)" "proxy-out 10.250.0.2:80"
expect_eq "rerun: still skipped" "$(from_pod 10.250.0.2 8080)" "peer"

# After --clean, traffic flows directly again.
ip netns exec "$POD" "$INIT" --clean >/dev/null
expect_eq "cleaned: pod -> peer:80 direct" "$(from_pod 10.250.0.2 80)" "peer"
expect_eq "cleaned: IPv6 direct" "$(from_pod fd00:250::2 80)" "peer"
expect_eq "cleaned: peer -> pod:80 direct" "$(from_peer 10.250.0.1 80 10.250.0.2)" "app"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
