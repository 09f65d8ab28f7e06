#!/usr/bin/env bash
# HTTP/2 frame-level conformance and abuse cases against weft-proxy's h2
# edge (RFC 9113, h2spec's case list by section, plus rapid reset,
# CONTINUATION / empty DATA / SETTINGS / PING / PRIORITY / RST_STREAM floods
# and HPACK bombs). The cases live in h2/h2frames.py (hyperframe + hpack,
# malformed frames built byte by byte).
#
# Pods: a (meshed client), b (meshed server: nginx serving h2c on :8082),
# c (unmeshed client). The cases run
#   - from a to b:8082: the edge is a's outbound sidecar (then b's inbound);
#   - from c to b:8082: the edge is b's inbound sidecar alone (an unmeshed
#     client is what a hostile peer looks like).
# For each: the right connection error (GOAWAY with the right code, then
# close) or stream error (RST_STREAM with the right code, the connection
# still serving), floods cost the attacker its connection within a bounded
# number of frames, no request the proxy must reject (nor any stream above
# a GOAWAY's last-stream-id) reaches nginx, both proxies stay alive, /ready
# and within an RSS bound (printed). Meanwhile a legitimate h2 client in a
# (curl --http2-prior-knowledge and nghttp, on their own connections) loops
# over downloads, uploads and multiplexed requests to the same nginx: it
# must see no failure at all.
#
# WT_CASES_ONLY=REGEX runs a subset (matched on "section name").
# shellcheck source=../integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
DRIVER="$HERE/h2/h2frames.py"

pod_add a
pod_add b
pod_add c
pod_mesh a
pod_mesh b
B=${POD_IP[b]}

# nginx as the h2c upstream: "/" answers 200 at once; "/hold" needs the
# request body first (then fails upstream), so a stream without END_STREAM
# stays open; "/legit/post" reads the whole body (through a second server
# that reports its length); /small.bin is a file. Its access log
# ("<status> <uri>") tells which requests reached the upstream.
mkdir -p "$T/www" "$T/ngx/tmp"
head -c 20000 /dev/urandom >"$T/www/small.bin"
head -c 70000 /dev/urandom >"$T/post.bin"
cat >"$T/ngx/nginx.conf" <<NGX
daemon off; worker_processes 1; user root; pid $T/ngx/nginx.pid; error_log $T/ngx/error.log;
events { worker_connections 1024; }
http {
  log_format wt '\$status \$request_uri';
  access_log $T/ngx/access.log wt;
  client_body_temp_path $T/ngx/tmp; client_max_body_size 16m;
  proxy_temp_path $T/ngx/tmp/p;
  server {
    listen 8082 http2;
    http2_max_concurrent_streams 256;
    root $T/www;
    location = /small.bin { }
    location /hold { proxy_pass http://127.0.0.1:9; }
    location /legit/post { proxy_pass http://127.0.0.1:8081; }
    location / { return 200 "ok\n"; }
  }
  server { listen 127.0.0.1:8081; location / { return 200 "len=\$content_length\n"; } }
}
NGX
start_bg b nginx -p "$T/ngx" -c "$T/ngx/nginx.conf" >"$T/ngx.log" 2>&1
NGX_PID=$BG_PID
wait_listen b 8082
assert_eq "$(in_pod a curl -sS --max-time 5 --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' \
  "http://$B:8082/small.bin")" "2 200" "h2c through both sidecars before the cases"

# The legitimate client, on its own connections: curl (a download, and a
# 70000-byte upload that nginx reads whole) and nghttp (three streams
# multiplexed on one connection; distinct URIs, as nghttp fetches a repeated
# one once). curl 7.88.1 fails a second transfer on a reused h2c prior-
# knowledge connection even straight against nginx, hence nghttp for that.
# Bounded in iterations and time; one line per request: "2 200", or what
# went wrong.
cat >"$T/legit.sh" <<'EOF'
url=$1 out=$2 stop=$3 post=$4
end=$((SECONDS + 200))
for ((i = 0; i < 5000 && SECONDS < end; i++)); do
  [ -e "$stop" ] && break
  curl -sS --http2-prior-knowledge --max-time 5 -o /dev/null -w '%{http_version} %{http_code}\n' \
    "$url/small.bin" >>"$out" 2>>"$out.err" || echo "curl-get rc=$?" >>"$out"
  : >"$out.body"
  curl -sS --http2-prior-knowledge --max-time 5 -o "$out.body" -w '%{http_version} %{http_code}\n' \
    --data-binary "@$post" "$url/legit/post/$i" >>"$out" 2>>"$out.err" || echo "curl-post rc=$?" >>"$out"
  grep -qx 'len=70000' "$out.body" || echo "curl-post body: $(head -c 80 "$out.body")" >>"$out"
  nghttp -n -s -t 5 "$url/small.bin?a=$i" "$url/legit/$i" "$url/small.bin?b=$i" >"$out.ng" 2>>"$out.err"
  rc=$?
  awk '$5 ~ /^[0-9][0-9][0-9]$/ { print "2 " $5; n++ } END { if (n != 3) print "nghttp: " n + 0 " of 3 responses" }' \
    "$out.ng" >>"$out"
  [ "$rc" -eq 0 ] || echo "nghttp rc=$rc" >>"$out"
  sleep 0.02
done
EOF
: >"$T/legit.out"
start_bg a bash "$T/legit.sh" "http://$B:8082" "$T/legit.out" "$T/legit.stop" "$T/post.bin" >/dev/null 2>&1
LEGIT_PID=$BG_PID
wait_until 10 file_lines_gt "$T/legit.out" 3 || fail "legitimate client not running"

# RSS bound: the larger idle RSS plus 32 MiB (an HPACK bomb buffered whole
# would be 64 MB), plus 256 MiB under ASan, whose quarantine keeps freed
# memory resident.
rss_a0=$(proxy_rss_kib a) rss_b0=$(proxy_rss_kib b)
headroom=32768
if [ "$(nm "$WEFT_BIN/weft-proxy" 2>/dev/null | grep -c __asan_init || true)" -gt 0 ]; then
  headroom=$((headroom + 262144))
fi
RSS_LIMIT_KIB=${WT_H2_RSS_LIMIT_KIB:-$(( (rss_a0 > rss_b0 ? rss_a0 : rss_b0) + headroom ))}
common=(--upstream-log "$T/ngx/access.log" --pid "${PROXY_PID[a]}" --pid "${PROXY_PID[b]}"
  --ready "${POD_NS[a]}=${PROXY_ADMIN[a]}" --ready "${POD_NS[b]}=${PROXY_ADMIN[b]}"
  --rss-limit-kib "$RSS_LIMIT_KIB")
rc_out=0 rc_in=0
log "cases through a's outbound sidecar (a → b)"
in_pod a "$PY" "$DRIVER" -v --target "$B:8082" --path out --results "$T/res-out.json" "${common[@]}" \
  ${WT_CASES_ONLY:+--only "$WT_CASES_ONLY"} | tee "$T/table-out.txt" || rc_out=$?
log "cases at b's inbound sidecar (unmeshed c → b)"
in_pod c "$PY" "$DRIVER" -v --target "$B:8082" --path in --results "$T/res-in.json" "${common[@]}" \
  ${WT_CASES_ONLY:+--only "$WT_CASES_ONLY"} | tee "$T/table-in.txt" || rc_in=$?

touch "$T/legit.stop"
wait_pid_exit "$LEGIT_PID" 15
[ "$WAIT_RC" != timeout ] || fail "legitimate client did not stop"
nlegit=$(wc -l <"$T/legit.out")
nbad=$(grep -cv '^2 200$' "$T/legit.out" || true)
if [ "$nbad" -ne 0 ]; then
  sort "$T/legit.out" | uniq -c >&2
  head -20 "$T/legit.out.err" >&2 || true
fi
log "legitimate client: $nlegit requests, $nbad failed"
assert_ge "$nlegit" "$([ -n "${WT_CASES_ONLY:-}" ] && echo 1 || echo 40)" "legitimate client made requests during the attacks"
assert_num_eq "$nbad" 0 "legitimate client: failed requests while the attacks ran"
assert_num_eq "$(metric a response_total "direction=\"outbound\",authority=\"$B:8082\",classification=\"failure\"")" 0 \
  "a: no failed response to the legitimate client"

for p in a b; do
  kill -0 "${PROXY_PID[$p]}" 2>/dev/null || fail "proxy in $p died"
  wait_ready "$p" 5
  _ok "proxy in $p alive and ready after the attacks"
done
kill -0 "$NGX_PID" 2>/dev/null || fail "nginx died"
rss_a1=$(proxy_rss_kib a) rss_b1=$(proxy_rss_kib b)
log "proxy RSS KiB: a $rss_a0 → $rss_a1, b $rss_b0 → $rss_b1 (limit $RSS_LIMIT_KIB)"
assert_le "$rss_a1" "$RSS_LIMIT_KIB" "a: proxy RSS bounded after the attacks"
assert_le "$rss_b1" "$RSS_LIMIT_KIB" "b: proxy RSS bounded after the attacks"
if grep -qiE 'AddressSanitizer|runtime error|segfault|abort' "${PROXY_LOG[a]}" "${PROXY_LOG[b]}"; then
  fail "proxy log reports a crash"
fi

assert_num_eq "$rc_out" 0 "h2 cases through a's outbound sidecar (see the table above)"
assert_num_eq "$rc_in" 0 "h2 cases at b's inbound sidecar (see the table above)"
