#!/usr/bin/env bash
# bench/identity/run.sh BIN_DIR [SECONDS] — issue #4's identity figures:
#   - Certify calls per CPU-second of weft-controller identity;
#   - full mTLS handshakes (TLS 1.3, client cert verified) per CPU-second
#     of the inbound weft-proxy (connect, handshake, close);
#   - the proxy's RSS before and after it holds a certificate.
# CPU per operation comes from /proc/PID/stat (utime+stime) over the run,
# so the client's speed does not matter as long as it keeps the server
# busy. Needs root (network namespaces). Prints a small markdown table.
set -euo pipefail
BIN=$(cd "${1:?usage: bench/identity/run.sh BIN_DIR [SECONDS]}" && pwd)
SECS=${2:-10}
export WEFT_BIN=$BIN WT_RESULT_LINE=0 WT_PREFIX=wbid$$
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/integration/lib.sh
source "$HERE/../../tests/integration/lib.sh"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Private memory (anonymous + private file pages): what the process really
# costs; RSS also counts libcrypto's pages, shared with every other process.
priv_kib() { awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }
hz=$(getconf CLK_TCK)

pod_add cp
pod_add a
pod_add b
cd "$T" || exit 1
chmod 755 "$T"
"$WEFT_BIN/weft" identity create-root --out-cert ca.crt --out-key ca.key >/dev/null
"$WEFT_BIN/weft" identity create-issuer --ca-cert ca.crt --ca-key ca.key \
  --out-cert issuer.crt --out-key issuer.key >/dev/null
B_ID=web.demo.serviceaccount.identity.linkerd.cluster.local
A_ID=client.demo.serviceaccount.identity.linkerd.cluster.local
SVC_ID=weft-identity.linkerd.serviceaccount.identity.linkerd.cluster.local
mkdir -p tokens pod-b
TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$TOKEN" >pod-b/token
chown -R "$PROXY_UID:$PROXY_UID" pod-b
echo "$B_ID" >"tokens/$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)"
"$WEFT_BIN/weft" identity create "$A_ID" a.crt a.key --profile leaf --ca issuer.crt --ca-key issuer.key >/dev/null
cat a.crt issuer.crt >a-chain.crt
openssl ecparam -name prime256v1 -genkey -noout -out csr.key
openssl req -new -key csr.key -subj "/CN=x" -addext "subjectAltName=DNS:$B_ID" -outform DER -out b.csr
protoc-c --proto_path="$WEFT_SRC/proto" --descriptor_set_out="$T/weft.pb" --include_imports \
  "$WEFT_SRC/proto/identity.proto"

start_bg cp taskset -c 1 "$WEFT_BIN/weft-controller" identity --addr 0.0.0.0:8080 \
  --admin-addr 127.0.0.1:9990 --issuer-cert issuer.crt --issuer-key issuer.key \
  --trust-anchors ca.crt --token-store tokens --log-level warn >"$T/controller.log" 2>&1
wait_listen cp 8080
CTL_PID=$(pgrep -f -n "weft-controller identity --addr 0.0.0.0:8080")

# ---- Certify -----------------------------------------------------------------------------
c0=$(cpu_ticks "$CTL_PID")
out=$(in_pod a taskset -c 0 "$PY" "$HERE/load.py" certify "$T/weft.pb" "${POD_IP[cp]}:8080" ca.crt \
  "$SVC_ID" "$B_ID" "$TOKEN" b.csr "$SECS" 4)
c1=$(cpu_ticks "$CTL_PID")
ops=$(awk '{print $2}' <<<"$out")
errs=$(awk '{print $4}' <<<"$out")
certify_cpu_us=$(calc "($c1 - $c0) / $hz * 1000000 / $ops")
certify_per_core=$(calc "1000000 / $certify_cpu_us")

# ---- mTLS handshakes ------------------------------------------------------------------------
start_bg b "$PY" "$WT_LIB_DIR/helpers/h1peer.py" serve --port 8080 --log /dev/null
wait_listen b 8080
pod_init b
start_bg b taskset -c 1 setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
  env -i "WEFT_PROXY_LOG=warn" "WEFT_PROXY_IDENTITY_TRUST_ANCHORS=$(cat ca.crt)" \
  "WEFT_PROXY_IDENTITY_TOKEN_FILE=$T/pod-b/token" "WEFT_PROXY_IDENTITY_SVC_ADDR=${POD_IP[cp]}:8080" \
  "WEFT_PROXY_IDENTITY_SVC_NAME=$SVC_ID" "WEFT_PROXY_IDENTITY_LOCAL_NAME=$B_ID" \
  "$WEFT_BIN/weft-proxy" >"$T/proxy-b.log" 2>&1
PX_PID=$(pgrep -n -x weft-proxy)
# The same proxy without identity, for the RSS baseline.
start_bg a setpriv --reuid "$PROXY_UID" --regid "$PROXY_UID" --clear-groups \
  env -i "WEFT_PROXY_LOG=warn" "$WEFT_BIN/weft-proxy" >"$T/proxy-a.log" 2>&1
wait_until 10 eval 'in_pod a curl -sf -o /dev/null http://127.0.0.1:4191/ready' || fail "plain proxy not ready"
PLAIN_PID=$(pgrep -n -x weft-proxy)
rss_before=$(awk '/^VmRSS:/ {print $2}' "/proc/$PLAIN_PID/status")
priv_before=$(priv_kib "$PLAIN_PID")
wait_until 10 eval 'in_pod b curl -sf -o /dev/null http://127.0.0.1:4191/ready' || fail "proxy not ready"
# Establish one mTLS connection so the TLS context exists, then measure.
in_pod a "$PY" "$HERE/load.py" handshake "${POD_IP[b]}" 8080 "$B_ID" ca.crt a-chain.crt a.key 0.5 1 >/dev/null
rss_cert=$(awk '/^VmRSS:/ {print $2}' "/proc/$PX_PID/status")
priv_cert=$(priv_kib "$PX_PID")
p0=$(cpu_ticks "$PX_PID")
if [ -n "${PERF_OUT:-}" ]; then
  perf record -e cpu-clock -g -p "$PX_PID" -o "$PERF_OUT" -- sleep "$SECS" >/dev/null 2>&1 &
fi
out=$(in_pod a taskset -c 0 "$PY" "$HERE/load.py" handshake "${POD_IP[b]}" 8080 "$B_ID" ca.crt \
  a-chain.crt a.key "$SECS" 2)
p1=$(cpu_ticks "$PX_PID")
hops=$(awk '{print $2}' <<<"$out")
herrs=$(awk '{print $4}' <<<"$out")
hs_cpu_us=$(calc "($p1 - $p0) / $hz * 1000000 / $hops")
hs_per_core=$(calc "1000000 / $hs_cpu_us")
rss_after=$(awk '/^VmRSS:/ {print $2}' "/proc/$PX_PID/status")

cat <<EOF2
| figure | value | goal |
|---|---|---|
| Certify: controller CPU per call | ${certify_cpu_us} µs ($ops calls, $errs errors, ${SECS}s) | |
| Certify calls per core-second | ${certify_per_core} | ≥ 2,000 |
| inbound mTLS handshake: proxy CPU per connection | ${hs_cpu_us} µs ($hops conns, $herrs errors) | |
| full mTLS handshakes per core-second | ${hs_per_core} | ≥ 1,500 |
| proxy RSS: without identity / with identity, cert and one mTLS connection / after the run | ${rss_before} / ${rss_cert} / ${rss_after} KiB | |
| proxy private memory: without identity / with identity, cert and one mTLS connection | ${priv_before} / ${priv_cert} KiB | cert adds ≤ 1 MB |
EOF2
