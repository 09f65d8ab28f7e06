#!/usr/bin/env bash
# demo/run.sh BIN_DIR — the demo: `weft up` runs the emojivoto-style demo
# application (demo/manifests, ordinary Kubernetes YAML) as a local mesh on
# this machine — a control plane (identity CA, destination), every pod a
# network namespace with its weft-proxy sidecar, mTLS between all of them —
# waits until every pod is ready and some traffic has flowed, prints the
# golden metrics per deployment, and returns with the mesh running.
# `weft down` stops it. Needs root (network namespaces, iptables).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 BIN_DIR   (the build's bin directory, e.g. build/bin)" >&2
  exit 2
fi
BIN=$(cd "$1" && pwd)
DEMO_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$DEMO_DIR/.." && pwd)
WEFT="$BIN/weft"
[ -x "$WEFT" ] || { echo "demo: $WEFT not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "demo: must run as root (network namespaces, iptables)" >&2; exit 1; }
# weft up finds weft-proxy, weft-init and weft-controller beside itself.
export PATH="$BIN:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The manifests' containers run from the repository root (no workingDir).
cd "$REPO"
say "weft up -f demo/manifests"
"$WEFT" up -f demo/manifests

say "weft get pods -n emojivoto"
"$WEFT" get pods -n emojivoto

say "golden metrics (weft viz stat deploy -n emojivoto), after 10 s of vote-bot traffic"
sleep 10
"$WEFT" viz stat deploy -n emojivoto

WEB_POD=$("$WEFT" get pods -n emojivoto | awk '$1 ~ /^web-/ {print $1; exit}')
cat <<EOF2

The mesh is running. Every pod talks to the others over mTLS through its
weft-proxy sidecar; vote-bot votes all the time, and one emoji's vote fails
on purpose — find it in the success rates. The weft binaries are in $BIN:

  export PATH="$BIN:\$PATH"
  weft get pods -A                     # pods, readiness, restarts
  weft get svc -n emojivoto            # Services and their virtual IPs
  weft viz stat deploy -n emojivoto    # success rate, RPS, latency, mTLS share
  weft viz stat pod -n emojivoto -o json
  weft logs $WEB_POD -n emojivoto             # the app's log
  weft logs $WEB_POD -n emojivoto -c linkerd-proxy   # its sidecar's log
  weft exec $WEB_POD -n emojivoto -- curl -s http://web-svc/api/list
  weft down                            # stop everything and clean up
EOF2
