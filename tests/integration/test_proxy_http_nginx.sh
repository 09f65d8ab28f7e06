#!/usr/bin/env bash
# A meshed curl in pod a fetches files from a meshed nginx in pod b by pod IP.
# Asserts: bodies are byte-identical; both proxies counted the connections
# with the original destination (SO_ORIGINAL_DST) as target; the byte
# counters agree exactly with what the real peers saw (curl's -w sizes on
# a's client side, nginx's $request_length/$bytes_sent on b's app side), and
# the proxy-to-proxy hop counts the same bytes on both ends.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

pod_add a
pod_add b
pod_mesh a
pod_mesh b
B=${POD_IP[b]}

mkdir -p "$T/www"
head -c 300000 /dev/urandom >"$T/www/blob.bin"
printf '<html><body>weft %s</body></html>\n' "$WT_ID" >"$T/www/index.html"
nginx_start b "$T/www" 80

req=0 hdr=0 down=0 n=0 ok200=0
for spec in blob.bin:200 index.html:200 blob.bin:200 missing.txt:404; do
  path=${spec%:*} want=${spec#*:}
  n=$((n + 1))
  w=$(in_pod a curl -sS --max-time 10 -o "$T/got.$n" \
    -w '%{http_code} %{size_request} %{size_header} %{size_download}' "http://$B/$path")
  read -r code sreq shdr sdown <<<"$w"
  assert_eq "$code" "$want" "GET /$path status"
  if [ "$want" = 200 ]; then
    cmp -s "$T/got.$n" "$T/www/$path" || fail "GET /$path: body differs from the served file"
    _ok "GET /$path body identical ($sdown bytes)"
    ok200=$((ok200 + 1))
  fi
  req=$((req + sreq)) hdr=$((hdr + shdr)) down=$((down + sdown))
done
NREQ=$n

OUT='direction="outbound",target_port="80"'
IN='direction="inbound",target_port="80"'
# Byte counters of curl's side are final once its connections have closed.
# (The proxies may keep their upstream connections pooled: those stay open.)
v=$(wait_metric a tcp_close_total "$OUT,peer=\"src\"" '>=' $NREQ 5) || true
assert_num_eq "$v" $NREQ "a: outbound client connections closed"
wait_until 5 file_lines_gt "$T/nginx-b/access.log" $((NREQ - 1)) || fail "nginx logged $(wc -l <"$T/nginx-b/access.log") requests"

echo "--- a (client side) ---"
metric_lines a tcp_open_total "$OUT"
metric_lines a tcp_read_bytes_total "$OUT"
metric_lines a tcp_write_bytes_total "$OUT"
echo "--- b (server side) ---"
metric_lines b tcp_open_total "$IN"
metric_lines b tcp_read_bytes_total "$IN"
metric_lines b tcp_write_bytes_total "$IN"

# a: outbound
assert_num_eq "$(metric a tcp_open_total "$OUT,peer=\"src\"")" $NREQ "a: outbound accepted connections (one per curl)"
assert_ge "$(metric a tcp_open_total "$OUT,peer=\"dst\"")" 1 "a: outbound connections to b:80"
assert_ge "$(metric a tcp_open_total "direction=\"outbound\",peer=\"dst\",target_addr=\"$B:80\",target_ip=\"$B\"")" 1 \
  "a: outbound target is the original destination $B:80"
assert_num_eq "$(metric a tcp_read_bytes_total "$OUT,peer=\"src\"")" "$req" "a: bytes read from curl = curl's request bytes"
assert_num_eq "$(metric a tcp_write_bytes_total "$OUT,peer=\"src\"")" "$((hdr + down))" \
  "a: bytes written to curl = curl's header+body bytes"
assert_ge "$(metric a tcp_read_bytes_total "$OUT,peer=\"dst\"")" "$down" "a: bytes read from upstream cover the bodies"

# b: inbound
assert_ge "$(metric b tcp_open_total "$IN,peer=\"src\"")" 1 "b: inbound connections accepted"
assert_ge "$(metric b tcp_open_total "direction=\"inbound\",peer=\"src\",target_addr=\"$B:80\"")" 1 \
  "b: inbound target is $B:80"
assert_ge "$(metric b tcp_open_total "$IN,peer=\"dst\"")" 1 "b: inbound connections to nginx"
read -r nreq nsent nlines < <(awk '{ r += $1; s += $2; n++ } END { print r+0, s+0, n+0 }' "$T/nginx-b/access.log")
assert_num_eq "$nlines" $NREQ "nginx served $NREQ requests"
assert_num_eq "$(metric b tcp_write_bytes_total "$IN,peer=\"dst\"")" "$nreq" "b: bytes written to nginx = nginx's request_length"
assert_num_eq "$(metric b tcp_read_bytes_total "$IN,peer=\"dst\"")" "$nsent" "b: bytes read from nginx = nginx's bytes_sent"
assert_ge "$(metric b tcp_write_bytes_total "$IN,peer=\"src\"")" "$down" "b: bytes written towards a cover the bodies"

# The a→b hop: what one proxy wrote the other read, both directions.
assert_num_eq "$(metric b tcp_read_bytes_total "$IN,peer=\"src\"")" "$(metric a tcp_write_bytes_total "$OUT,peer=\"dst\"")" \
  "hop a→b: b read what a wrote"
assert_num_eq "$(metric a tcp_read_bytes_total "$OUT,peer=\"dst\"")" "$(metric b tcp_write_bytes_total "$IN,peer=\"src\"")" \
  "hop b→a: a read what b wrote"
assert_num_eq "$(metric a tcp_open_connections "direction=\"outbound\",peer=\"src\"")" 0 "a: no client connection left open"

# HTTP golden metrics (Linkerd's names): one request and one response per
# curl on each side; 4xx is a success, as in Linkerd.
echo "--- HTTP metrics ---"
metric_lines a response_total 'direction="outbound"'
metric_lines b response_total 'direction="inbound"'
for side in "a outbound" "b inbound"; do
  read -r p d <<<"$side"
  sel="direction=\"$d\",target_port=\"80\""
  [ "$d" = inbound ] || sel="$sel,target_addr=\"$B:80\""
  assert_num_eq "$(metric $p request_total "$sel")" $NREQ "$p: request_total ($d)"
  assert_num_eq "$(metric $p response_total "direction=\"$d\",status_code=\"200\",classification=\"success\"")" $ok200 \
    "$p: response_total status 200 success ($d)"
  assert_num_eq "$(metric $p response_total "direction=\"$d\",status_code=\"404\",classification=\"success\"")" 1 \
    "$p: response_total status 404 counts as success ($d)"
  assert_num_eq "$(metric $p response_total "direction=\"$d\",classification=\"failure\"")" 0 "$p: no failed responses ($d)"
  assert_num_eq "$(metric $p response_latency_ms_count "direction=\"$d\"")" $NREQ "$p: response_latency_ms observed every response ($d)"
done
