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

req=0 hdr=0 down=0 n=0
for path in blob.bin index.html blob.bin; do
  n=$((n + 1))
  w=$(in_pod a curl -sS --max-time 10 -o "$T/got.$n" \
    -w '%{http_code} %{size_request} %{size_header} %{size_download}' "http://$B/$path")
  read -r code sreq shdr sdown <<<"$w"
  assert_eq "$code" 200 "GET /$path status"
  cmp -s "$T/got.$n" "$T/www/$path" || fail "GET /$path: body differs from the served file"
  _ok "GET /$path body identical ($sdown bytes)"
  req=$((req + sreq)) hdr=$((hdr + shdr)) down=$((down + sdown))
done

OUT='direction="outbound",target_port="80"'
IN='direction="inbound",target_port="80"'
# Byte counters are final once every connection end has closed.
v=$(wait_metric a tcp_close_total "$OUT,peer=\"src\"" '>=' 3 5) || true
assert_num_eq "$v" 3 "a: outbound client connections closed"
v=$(wait_metric b tcp_close_total "$IN,peer=\"dst\"" '>=' "$(metric b tcp_open_total "$IN,peer=\"dst\"")" 5) || true
wait_metric a tcp_open_connections "direction=\"outbound\"" '==' 0 5 >/dev/null || true
wait_metric b tcp_open_connections "direction=\"inbound\"" '==' 0 5 >/dev/null || true

echo "--- a (client side) ---"
metric_lines a tcp_open_total "$OUT"
metric_lines a tcp_read_bytes_total "$OUT"
metric_lines a tcp_write_bytes_total "$OUT"
echo "--- b (server side) ---"
metric_lines b tcp_open_total "$IN"
metric_lines b tcp_read_bytes_total "$IN"
metric_lines b tcp_write_bytes_total "$IN"

# a: outbound
assert_num_eq "$(metric a tcp_open_total "$OUT,peer=\"src\"")" 3 "a: outbound accepted connections (one per curl)"
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
assert_num_eq "$nlines" 3 "nginx served 3 requests"
assert_num_eq "$(metric b tcp_write_bytes_total "$IN,peer=\"dst\"")" "$nreq" "b: bytes written to nginx = nginx's request_length"
assert_num_eq "$(metric b tcp_read_bytes_total "$IN,peer=\"dst\"")" "$nsent" "b: bytes read from nginx = nginx's bytes_sent"
assert_ge "$(metric b tcp_write_bytes_total "$IN,peer=\"src\"")" "$down" "b: bytes written towards a cover the bodies"

# The a→b hop: what one proxy wrote the other read, both directions.
assert_num_eq "$(metric b tcp_read_bytes_total "$IN,peer=\"src\"")" "$(metric a tcp_write_bytes_total "$OUT,peer=\"dst\"")" \
  "hop a→b: b read what a wrote"
assert_num_eq "$(metric a tcp_read_bytes_total "$OUT,peer=\"dst\"")" "$(metric b tcp_write_bytes_total "$IN,peer=\"src\"")" \
  "hop b→a: a read what b wrote"
assert_num_eq "$(metric a tcp_open_connections "direction=\"outbound\"")" 0 "a: no connection left open"
assert_num_eq "$(metric b tcp_open_connections "direction=\"inbound\"")" 0 "b: no connection left open"
