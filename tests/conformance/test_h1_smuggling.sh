#!/usr/bin/env bash
# HTTP/1 request-smuggling / malformed-request corpus against weft-proxy.
#
# Pods: a (meshed client), b (meshed server running the recording upstream
# tests/integration/helpers/h1peer.py on :8080), c (unmeshed client).
# The cases (h1_smuggling_cases.py, ~120 of them: CL+TE, TE variants,
# duplicate/malformed Content-Length, obs-fold, bare CR/LF/NUL, bad chunk
# sizes and extensions, oversized heads also split across writes, request-
# target forms, versions, Host, Connection tricks, smuggled requests in
# bodies) are sent raw
#   - from a to b:8080: through a's outbound and b's inbound sidecar, and
#   - from c to b:8080: to b's inbound sidecar alone (an unmeshed client
#     is exactly what a hostile peer looks like),
# each both as the connection's first request and after a valid request on
# a kept-alive connection. For each: the right answer (status, from the
# proxy or from the upstream), the connection closed after a rejection, the
# upstream never sees a rejected or smuggled request, a follow-up request
# on a kept-alive connection is answered in sync, both proxies alive and
# /ready. Meanwhile a legitimate curl client in a loops over normal
# requests (keep-alive GETs and a POST) to the same upstream: it must see
# no failure at all.
# shellcheck source=../integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
H1PEER="$WT_LIB_DIR/helpers/h1peer.py"
CASES="$HERE/h1_smuggling_cases.py"

pod_add a
pod_add b
pod_add c
pod_mesh a
pod_mesh b
B=${POD_IP[b]}

start_bg b "$PY" "$H1PEER" serve --port 8080 --log "$T/upstream.jsonl" >"$T/upstream.log" 2>&1
UP_PID=$BG_PID
wait_listen b 8080
in_pod a curl -fsS --max-time 5 -o /dev/null "http://$B:8080/hello" || fail "upstream not reachable through the sidecars"

# The legitimate client: bounded in iterations and time; one line per
# request ("200", or "rc=N" when curl itself failed).
cat >"$T/legit.sh" <<'EOF'
url=$1 out=$2 stop=$3
end=$((SECONDS + 200))
for ((i = 0; i < 4000 && SECONDS < end; i++)); do
  [ -e "$stop" ] && break
  codes=$(curl -sS --max-time 5 -o /dev/null -o /dev/null -w '%{http_code}\n' \
    "$url/legit/$i/a" "$url/legit/$i/b?rb=chunked&n=3000" 2>>"$out.err") || echo "rc=$?" >>"$out"
  printf '%s\n' $codes >>"$out"
  curl -sS --max-time 5 -o /dev/null -w '%{http_code}\n' -H 'Transfer-Encoding: chunked' \
    --data-binary "legit body $i" "$url/legit/$i/post" >>"$out" 2>>"$out.err" || echo "rc=$?" >>"$out"
  sleep 0.02
done
EOF
: >"$T/legit.out"
start_bg a bash "$T/legit.sh" "http://$B:8080" "$T/legit.out" "$T/legit.stop" >/dev/null 2>&1
LEGIT_PID=$BG_PID
wait_until 10 file_lines_gt "$T/legit.out" 3 || fail "legitimate client not running"

common=(--upstream-log "$T/upstream.jsonl" --pid "${PROXY_PID[a]}" --pid "${PROXY_PID[b]}"
  --ready "${POD_NS[a]}=${PROXY_ADMIN[a]}" --ready "${POD_NS[b]}=${PROXY_ADMIN[b]}")
rc_out=0 rc_in=0
log "corpus through both sidecars (a → b)"
in_pod a "$PY" "$CASES" --target "$B:8080" --path out --results "$T/res-out.json" "${common[@]}" \
  ${WT_CASES_ONLY:+--only "$WT_CASES_ONLY"} | tee "$T/table-out.txt" || rc_out=$?
log "corpus to the inbound sidecar alone (unmeshed c → b)"
in_pod c "$PY" "$CASES" --target "$B:8080" --path in --results "$T/res-in.json" "${common[@]}" \
  ${WT_CASES_ONLY:+--only "$WT_CASES_ONLY"} | tee "$T/table-in.txt" || rc_in=$?

touch "$T/legit.stop"
wait_pid_exit "$LEGIT_PID" 15
[ "$WAIT_RC" != timeout ] || fail "legitimate client did not stop"
nlegit=$(wc -l <"$T/legit.out")
nbad=$(grep -cv '^200$' "$T/legit.out" || true)
if [ "$nbad" -ne 0 ]; then
  sort "$T/legit.out" | uniq -c >&2
  cat "$T/legit.out.err" >&2 || true
fi
assert_ge "$nlegit" "$([ -n "${WT_CASES_ONLY:-}" ] && echo 1 || echo 30)" "legitimate client made requests during the attack"
assert_num_eq "$nbad" 0 "legitimate client: failed requests while the corpus ran"
assert_num_eq "$(metric a response_total 'direction="outbound",authority="'"$B"':8080",classification="failure"')" 0 \
  "a: no failed response to the legitimate client"

for p in a b; do
  kill -0 "${PROXY_PID[$p]}" 2>/dev/null || fail "proxy in $p died"
  wait_ready "$p" 5
  _ok "proxy in $p alive and ready after the corpus"
done
kill -0 "$UP_PID" 2>/dev/null || fail "recording upstream died"

assert_num_eq "$rc_out" 0 "corpus through both sidecars (see the table above)"
assert_num_eq "$rc_in" 0 "corpus to the inbound sidecar (see the table above)"
