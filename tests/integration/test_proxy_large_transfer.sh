#!/usr/bin/env bash
# 64 MiB each way through both sidecars, with a half-close in the middle:
# the client sends 64 MiB and shuts down its write side; the server reads to
# EOF and only then sends 64 MiB back; the client must receive all of it.
# That proves the FIN is carried end to end and the other direction stays
# open. Byte counts and SHA-256 are checked on both ends, and the proxies'
# byte counters must equal what the peers sent. Done on a detected port
# (7000) and an opaque one (5432); a direct (unmeshed) run is timed for
# comparison.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N=$((64 * 1024 * 1024))
pod_add a
pod_add b
pod_add c
pod_add d
pod_mesh a
pod_mesh b
for port in 7000 5432; do
  start_bg b "${TCPKIT[@]}" xfer-server --port $port --bytes $N >"$T/xfer-b-$port.log" 2>&1
  wait_listen b $port
done
start_bg d "${TCPKIT[@]}" xfer-server --port 7000 --bytes $N >"$T/xfer-d-7000.log" 2>&1
wait_listen d 7000

# xfer CLIENT SERVER PORT — runs one transfer, checks both ends; sets XFER_T
xfer() {
  local cl=$1 sv=$2 port=$3 out srv logf="$T/xfer-$2-$3.log" before
  before=$(wc -l <"$logf")
  out=$(in_pod "$cl" "${TCPKIT[@]}" xfer-client --host "${POD_IP[$sv]}" --port "$port" --bytes $N --timeout 60)
  wait_until 10 file_lines_gt "$logf" "$before" || fail "server $sv:$port reported nothing"
  srv=$(tail -n 1 "$logf")
  log "client: $out"
  log "server: $srv"
  assert_eq "$(jget "$out" status)" ok "$cl→$sv:$port client finished cleanly (EOF after the reply)"
  assert_eq "$(jget "$srv" status)" ok "$cl→$sv:$port server finished cleanly"
  assert_num_eq "$(jget "$srv" recv_bytes)" $N "$cl→$sv:$port server read 64 MiB up to the client's FIN"
  assert_eq "$(jget "$srv" recv_sha256)" "$(jget "$out" sent_sha256)" "$cl→$sv:$port client→server SHA-256"
  assert_num_eq "$(jget "$out" recv_bytes)" $N "$cl→$sv:$port client got the 64 MiB reply sent after its half-close"
  assert_eq "$(jget "$out" recv_sha256)" "$(jget "$srv" sent_sha256)" "$cl→$sv:$port server→client SHA-256"
  XFER_T="send $(jget "$out" send_s)s, reply $(jget "$out" recv_s)s, total $(jget "$out" total_s)s"
}

xfer a b 7000
t_detect=$XFER_T
xfer a b 5432
t_opaque=$XFER_T
xfer c d 7000
t_direct=$XFER_T

for port in 7000 5432; do
  OUT="direction=\"outbound\",target_port=\"$port\""
  IN="direction=\"inbound\",target_port=\"$port\""
  wait_metric a tcp_close_total "$OUT,peer=\"src\"" '>=' 1 5 >/dev/null || true
  wait_metric b tcp_close_total "$IN,peer=\"dst\"" '>=' 1 5 >/dev/null || true
  assert_num_eq "$(metric a tcp_read_bytes_total "$OUT,peer=\"src\"")" $N "port $port: a read 64 MiB from the client"
  assert_num_eq "$(metric a tcp_write_bytes_total "$OUT,peer=\"src\"")" $N "port $port: a wrote 64 MiB to the client"
  assert_num_eq "$(metric b tcp_write_bytes_total "$IN,peer=\"dst\"")" $N "port $port: b wrote 64 MiB to the server"
  assert_num_eq "$(metric b tcp_read_bytes_total "$IN,peer=\"dst\"")" $N "port $port: b read 64 MiB from the server"
  assert_num_eq "$(metric a tcp_close_total "$OUT,classification=\"failure\"")" 0 "port $port: a saw no failed close"
  assert_num_eq "$(metric b tcp_close_total "$IN,classification=\"failure\"")" 0 "port $port: b saw no failed close"
done

log "64 MiB each way, both sidecars, detected port 7000: $t_detect"
log "64 MiB each way, both sidecars, opaque port 5432:   $t_opaque"
log "64 MiB each way, direct (no proxies):                $t_direct"
log "proxy RSS after: a $(proxy_rss_kib a) KiB, b $(proxy_rss_kib b) KiB"
