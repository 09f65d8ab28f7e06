#!/usr/bin/env bash
# TLS interop: weft's TLS filter (src/lib/tls/tls_io.c) against real, independent
# peers — `openssl s_client` and `openssl s_server` — on 127.0.0.1 only.
# The checks live in the unit test binary's --interop mode (it generates a
# throwaway CA and leaf certs in memory and writes them to a temp dir for the
# openssl CLI):
#   - s_client -tls1_3 with a mesh client cert: handshake OK, ALPN
#     transport.l5d.io/v1 on both sides, server learns the client identity,
#     data both ways, s_client's close_notify is a clean EOF;
#   - s_client -tls1_2: refused ("peer does not offer TLS 1.3");
#   - s_server (requiring our client cert) with the right cert: OK, data both
#     ways; with a cert whose SAN is another identity: our client refuses it
#     with "peer certificate identity does not match the expected identity".
# Environment: WEFT_BIN (dir holding test_tls_io; required).
set -euo pipefail
: "${WEFT_BIN:?WEFT_BIN must name the build bin directory}"
command -v openssl >/dev/null || { echo "FAILED: openssl CLI missing (scripts/deps)"; exit 1; }
[[ -x "$WEFT_BIN/test_tls_io" ]] || { echo "FAILED: $WEFT_BIN/test_tls_io not built"; exit 1; }
if timeout 120 "$WEFT_BIN/test_tls_io" --interop; then
  echo "PASS test_tls_interop"
else
  echo "FAILED test_tls_interop"
  exit 1
fi
