#!/usr/bin/env bash
# demo/run.sh BIN_DIR — weft's sidecar in two "pods" on this machine.
#
# A client pod and a server pod (network namespaces on a private bridge, no
# route off the machine), both meshed: weft-init installs the iptables
# redirect rules, weft-proxy runs beside the app as uid 2102. nginx serves in
# the server pod; curl in the client pod fetches from it by pod IP, unaware of
# the proxies. Then both proxies' /metrics show what they carried. Everything
# is removed on exit (namespaces, processes, temp files). Needs root.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 BIN_DIR   (the build's bin directory, e.g. build/bin)" >&2
  exit 2
fi
WEFT_BIN=$(cd "$1" && pwd)
export WEFT_BIN
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)
export WEFT_SRC=${WEFT_SRC:-$(cd "$DEMO_DIR/.." && pwd)}
# shellcheck disable=SC2034  # read by lib.sh
WT_PREFIX="wtdemo$$" WT_RESULT_LINE=0 WEFT_TEST_TIMEOUT=90
# shellcheck source=tests/integration/lib.sh
source "$DEMO_DIR/../tests/integration/lib.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Two pods: network namespaces on a private bridge"
pod_add client
pod_add server
C=${POD_IP[client]} S=${POD_IP[server]}
echo "client pod: $(ns_of client)  $C"
echo "server pod: $(ns_of server)  $S"

say "2. Mesh both: weft-init (iptables) + weft-proxy (uid 2102) in each pod"
pod_mesh server
pod_mesh client
echo "server pod nat rules (weft-init):"
in_pod server iptables -t nat -S | grep -E 'WEFT|REDIRECT' | sed 's/^/    /'
echo "both proxies answer /ready: client=$(in_pod client curl -s --max-time 2 http://127.0.0.1:4191/ready) server=$(in_pod server curl -s --max-time 2 http://127.0.0.1:4191/ready)"

say "3. nginx in the server pod (port 80)"
mkdir -p "$T/www"
printf 'hello from nginx in the server pod (%s)\n' "$S" >"$T/www/index.html"
printf '{"service":"demo","mesh":"weft"}\n' >"$T/www/info.json"
nginx_start server "$T/www" 80
echo "nginx listening on $S:80"

say "4. curl in the client pod → http://$S/ (three requests)"
for path in / /info.json /; do
  printf '$ curl http://%s%s\n' "$S" "$path"
  in_pod client curl -sS --max-time 5 -w '    [HTTP %{http_code}, %{size_download} bytes]\n' "http://$S$path" | sed 's/^/    /'
done

# Let curl's last close reach the client proxy's counters. (The proxies keep
# their connection between them open in a keep-alive pool.)
wait_metric client tcp_open_connections 'direction="outbound",peer="src"' '==' 0 5 >/dev/null || true

FAMS=(request_total response_total tcp_open_total tcp_open_connections tcp_read_bytes_total
  tcp_write_bytes_total tcp_close_total)
say "5. The client pod's proxy (outbound) — /metrics for port 80"
for fam in "${FAMS[@]}"; do
  metric_lines client "$fam" 'direction="outbound",target_port="80"' | sed 's/^/  /'
done
say "6. The server pod's proxy (inbound) — /metrics for port 80"
for fam in "${FAMS[@]}"; do
  metric_lines server "$fam" 'direction="inbound",target_port="80"' | sed 's/^/  /'
done

opened=$(metric client tcp_open_total 'direction="outbound",peer="src",target_port="80"')
upstream=$(metric client tcp_open_total 'direction="outbound",peer="dst",target_port="80"')
reqs=$(metric client request_total 'direction="outbound",target_port="80"')
inreqs=$(metric server request_total 'direction="inbound",target_port="80"')
ok=$(metric client response_total 'direction="outbound",target_port="80",status_code="200"')
say "What happened"
cat <<EOF
  - curl connected to $S:80 as usual. In the client pod, iptables (weft-init's
    OUTPUT rules) redirected each connection to the client's weft-proxy on
    127.0.0.1:4140. The proxy read the original destination with
    SO_ORIGINAL_DST, detected HTTP/1 and forwarded each request to $S:80 over
    its own connection (as uid 2102, which the rules let through).
  - In the server pod, PREROUTING redirected that connection to the server's
    weft-proxy on :4143, which forwarded the requests to nginx on 127.0.0.1:80.
  - Neither curl nor nginx was changed or configured for the mesh.
  - The client proxy accepted $opened connections from curl (peer="src") and
    opened $upstream towards the server (peer="dst"; HTTP/1 connections are
    kept alive in a pool and reused). It counted $reqs requests ($ok answered
    200); the server proxy counted $inreqs. These are Linkerd's metric names
    and labels, so existing dashboards and queries work unchanged.
  - No TLS between the proxies yet (tls="no_identity"): mTLS comes with the
    identity service.
EOF
say "Cleaning up (processes, namespaces, temp files)"
