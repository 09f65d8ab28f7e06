#!/usr/bin/env bash
# `weft identity` end to end, checked by an independent peer (the openssl
# CLI): the seed's chapter-3 chain built with both spellings (create-root /
# create-issuer and step's `create NAME CRT KEY --profile ...`), accepted by
# `openssl verify`, with the extensions `openssl x509 -text` shows; key
# files 0600; no overwrite without --force; every refusal (mismatched CA key,
# non-CA signer, expired root, bad flags and durations) exits with the right
# code and a message naming the problem; `inspect` agrees with openssl and
# verifies chains against an anchor.
# Needs only openssl and the weft binary (no namespaces).
set -euo pipefail

: "${WEFT_BIN:?WEFT_BIN must name the directory holding weft}"
W="$WEFT_BIN/weft"
[ -x "$W" ] || { echo "test_cli_identity: $W not built" >&2; exit 1; }
command -v openssl >/dev/null || { echo "test_cli_identity: missing openssl" >&2; exit 1; }

T=$(mktemp -d /tmp/weft-test_cli_identity.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"

PASSES=0
ok() { PASSES=$((PASSES + 1)); echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; echo "--- last stdout:"; cat "$T/out" 2>/dev/null || true; echo "--- last stderr:"; cat "$T/err" 2>/dev/null || true; exit 1; }

# run EXPECTED_RC CMD... — runs CMD with output in $T/out and $T/err; fails
# the test unless it exits with EXPECTED_RC.
run() {
  local want=$1 rc=0
  shift
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "exit $rc (want $want): $*"
}
# err_has TEXT — the last command's stderr contains TEXT.
err_has() { grep -qF -- "$1" "$T/err" || fail "stderr lacks \"$1\""; }
out_has() { grep -qF -- "$1" "$T/out" || fail "stdout lacks \"$1\""; }
mode_of() { stat -c %a "$1"; }
text() { openssl x509 -in "$1" -noout -text; }

# --- version and help ---------------------------------------------------------
run 0 "$W" version
grep -qE '^weft [0-9]+\.[0-9]+\.[0-9]+' "$T/out" || fail "weft version prints 'weft <version>'"
run 0 "$W" --help; out_has "identity"; out_has "version"
run 0 "$W" identity --help; out_has "create-root"; out_has "create-issuer"; out_has "inspect"
run 0 "$W" identity create --help; out_has "never encrypts keys"
ok "version and --help"

# --- usage errors: exit 2 with a message on stderr ------------------------------
run 2 "$W"; err_has "usage: weft"
run 2 "$W" frobnicate; err_has 'unknown command "frobnicate"'
run 2 "$W" identity; err_has "a command is required"
run 2 "$W" identity frobnicate; err_has 'unknown command "frobnicate"'
run 2 "$W" identity create-root --out-cert a.crt --out-key a.key --bogus; err_has 'unknown flag "--bogus"'
run 2 "$W" identity create-root --out-key a.key; err_has "--out-cert is required"
run 2 "$W" identity create-root --out-cert a.crt --out-key; err_has "flag --out-key needs a value"
run 2 "$W" identity create-root --out-cert a.crt --out-key a.key --not-after 10y; err_has '--not-after: invalid duration "10y"'
run 2 "$W" identity create-root --out-cert a.crt --out-key a.key --not-after 100; err_has '--not-after: invalid duration "100"'
run 2 "$W" identity create-root --out-cert a.crt --out-key a.crt; err_has "both be written to a.crt"
run 2 "$W" identity create-issuer --ca-cert x --out-cert a.crt --out-key a.key; err_has "--ca-key is required"
run 2 "$W" identity create x a.crt a.key --profile root; err_has 'unknown profile "root"'
run 2 "$W" identity create x a.crt a.key --profile intermediate-ca; err_has "needs --ca and --ca-key"
run 2 "$W" identity create x a.crt --profile root-ca; err_has "expected NAME CERT_FILE KEY_FILE"
run 2 "$W" identity inspect; err_has "a certificate file is required"
run 2 "$W" identity inspect a.crt --format yaml; err_has 'unknown format "yaml"'
[ ! -e a.crt ] && [ ! -e a.key ] || fail "a usage error wrote a file"
ok "usage errors exit 2 with a message naming the flag, and write nothing"

# --- the chain with weft's own spelling ---------------------------------------------
umask 022
run 0 "$W" identity create-root --out-cert ca.crt --out-key ca.key
run 0 "$W" identity create-issuer --ca-cert ca.crt --ca-key ca.key --out-cert issuer.crt --out-key issuer.key
[ "$(mode_of ca.key)" = 600 ] || fail "ca.key mode $(mode_of ca.key), want 600"
[ "$(mode_of issuer.key)" = 600 ] || fail "issuer.key mode $(mode_of issuer.key), want 600"
[ "$(mode_of ca.crt)" = 644 ] || fail "ca.crt mode $(mode_of ca.crt), want 644"
run 0 openssl verify -CAfile ca.crt issuer.crt; out_has "issuer.crt: OK"
ok "create-root + create-issuer: openssl verify accepts the chain; keys 0600, certs 0644"

text ca.crt >ca.txt
grep -q 'Subject: CN = root.linkerd.cluster.local' ca.txt || fail "root subject"
grep -q 'Issuer: CN = root.linkerd.cluster.local' ca.txt || fail "root is self-signed"
grep -q 'Version: 3' ca.txt || fail "root is v3"
grep -q 'NIST CURVE: P-256' ca.txt || fail "root key is P-256"
grep -q 'ecdsa-with-SHA256' ca.txt || fail "root signature is ECDSA SHA-256"
grep -A1 'Basic Constraints: critical' ca.txt | grep -q 'CA:TRUE, pathlen:1' || fail "root basicConstraints"
grep -A1 'Key Usage: critical' ca.txt | grep -q '^ *Certificate Sign, CRL Sign$' || fail "root keyUsage"
grep -q 'Subject Key Identifier' ca.txt || fail "root SKI"
# 10 years by default (87600h), notBefore a little in the past.
na=$(date -d "$(openssl x509 -in ca.crt -noout -enddate | cut -d= -f2)" +%s)
nb=$(date -d "$(openssl x509 -in ca.crt -noout -startdate | cut -d= -f2)" +%s)
now=$(date +%s)
[ $((na - now)) -gt $((87600 * 3600 - 60)) ] && [ $((na - now)) -le $((87600 * 3600)) ] || fail "root lasts 87600h (got $((na - now))s)"
[ "$nb" -lt "$now" ] && [ $((now - nb)) -le 60 ] || fail "root notBefore is now minus a small skew (got $((now - nb))s)"
serial=$(openssl x509 -in ca.crt -noout -serial | cut -d= -f2)
[ "${#serial}" -ge 28 ] || fail "root serial is ~128 bits (got $serial)"
ok "root: CN, self-signed, v3, P-256, CA:TRUE pathlen 1 critical, keyUsage critical, SKI, 10y, 128-bit serial"

text issuer.crt >issuer.txt
grep -q 'Subject: CN = identity.linkerd.cluster.local' issuer.txt || fail "issuer subject"
grep -q 'Issuer: CN = root.linkerd.cluster.local' issuer.txt || fail "issuer's issuer"
grep -A1 'Basic Constraints: critical' issuer.txt | grep -q 'CA:TRUE, pathlen:0' || fail "issuer basicConstraints"
grep -A1 'Key Usage: critical' issuer.txt | grep -q 'Certificate Sign, CRL Sign' || fail "issuer keyUsage"
ski=$(grep -A1 'Subject Key Identifier' ca.txt | tail -1 | tr -d ' ')
aki=$(grep -A1 'Authority Key Identifier' issuer.txt | tail -1 | tr -d ' ' | sed 's/^keyid://')
[ -n "$ski" ] && [ "$ski" = "$aki" ] || fail "issuer AKI ($aki) = root SKI ($ski)"
na=$(date -d "$(openssl x509 -in issuer.crt -noout -enddate | cut -d= -f2)" +%s)
[ $((na - now)) -gt $((8760 * 3600 - 60)) ] && [ $((na - now)) -le $((8760 * 3600)) ] || fail "issuer lasts 8760h"
[ "$(openssl x509 -in issuer.crt -noout -serial)" != "$(openssl x509 -in ca.crt -noout -serial)" ] || fail "serials differ"
# The key on disk is the certificate's key (openssl computes both public keys).
[ "$(openssl pkey -in issuer.key -pubout)" = "$(openssl x509 -in issuer.crt -noout -pubkey)" ] || fail "issuer.key matches issuer.crt"
[ "$(openssl pkey -in ca.key -pubout)" = "$(openssl x509 -in ca.crt -noout -pubkey)" ] || fail "ca.key matches ca.crt"
ok "issuer: CN, signed by root, CA:TRUE pathlen 0, AKI = root SKI, 8760h, key matches"

# --- the seed's step commands, verbatim apart from the program name ----------------
mkdir step && cd step
run 0 "$W" identity create root.linkerd.cluster.local ca.crt ca.key \
  --profile root-ca --no-password --insecure
run 0 "$W" identity create identity.linkerd.cluster.local issuer.crt issuer.key \
  --profile intermediate-ca --not-after 8760h --no-password --insecure \
  --ca ca.crt --ca-key ca.key
run 0 openssl verify -CAfile ca.crt issuer.crt
[ "$(mode_of ca.key)" = 600 ] && [ "$(mode_of issuer.key)" = 600 ] || fail "step spelling: key modes"
text issuer.crt | grep -A1 'Basic Constraints: critical' | grep -q 'CA:TRUE, pathlen:0' || fail "step spelling: issuer pathlen 0"
text ca.crt | grep -A1 'Basic Constraints: critical' | grep -q 'CA:TRUE, pathlen:1' || fail "step spelling: root pathlen 1"
# A leaf from the issuer (step's default profile) completes the chain.
run 0 "$W" identity create default.emojivoto.serviceaccount.identity.linkerd.cluster.local leaf.crt leaf.key \
  --ca issuer.crt --ca-key issuer.key
run 0 openssl verify -CAfile ca.crt -untrusted issuer.crt leaf.crt
text leaf.crt | grep -q 'DNS:default.emojivoto.serviceaccount.identity.linkerd.cluster.local' || fail "leaf SAN"
cd ..
ok "the seed's step commands (create --profile root-ca / intermediate-ca) build a chain openssl verifies; leaf too"

# --- refusals at run time: exit 1, message names the problem -----------------------
cp ca.crt ca.crt.orig; cp ca.key ca.key.orig
run 1 "$W" identity create-root --out-cert ca.crt --out-key new.key
err_has "ca.crt: already exists; refusing to overwrite it"
[ ! -e new.key ] || fail "refused create-root left new.key behind"
run 1 "$W" identity create-root --out-cert new.crt --out-key ca.key
err_has "ca.key: already exists; refusing to overwrite it"
cmp -s ca.crt ca.crt.orig && cmp -s ca.key ca.key.orig || fail "a refused run changed ca.crt/ca.key"
run 0 "$W" identity create-root --out-cert ca2.crt --out-key ca2.key --force
run 0 "$W" identity create-root --out-cert ca2.crt --out-key ca2.key --force
[ "$(mode_of ca2.key)" = 600 ] || fail "--force keeps the key 0600"
ok "refuses to overwrite certificate or key without --force; --force replaces"

run 1 "$W" identity create-issuer --ca-cert ca.crt --ca-key ca2.key --out-cert x.crt --out-key x.key
err_has "ca2.key: the key does not match the certificate in ca.crt"
[ ! -e x.crt ] && [ ! -e x.key ] || fail "mismatched CA key wrote files"
run 1 "$W" identity create-issuer --ca-cert issuer.crt --ca-key issuer.key --out-cert x.crt --out-key x.key
err_has "pathlen is 0"
run 1 "$W" identity create-issuer --ca-cert step/leaf.crt --ca-key step/leaf.key --out-cert x.crt --out-key x.key
err_has "not a CA certificate"
run 1 "$W" identity create-issuer --ca-cert nope.crt --ca-key ca.key --out-cert x.crt --out-key x.key
err_has "nope.crt: no such file"
run 1 "$W" identity create-issuer --ca-cert ca.key --ca-key ca.key --out-cert x.crt --out-key x.key
err_has "ca.key: holds a private key, not a certificate"
run 1 "$W" identity create-issuer --ca-cert ca.crt --ca-key ca.crt --out-cert x.crt --out-key x.key
err_has "ca.crt: holds a certificate, not a private key"
echo "not pem" >junk.pem
run 1 "$W" identity create-issuer --ca-cert junk.pem --ca-key ca.key --out-cert x.crt --out-key x.key
err_has "junk.pem: not a PEM certificate"
openssl genrsa -out rsa.key 2048 2>/dev/null
openssl req -x509 -new -key rsa.key -subj /CN=rsa-root -days 1 -out rsa.crt 2>/dev/null
run 1 "$W" identity create-issuer --ca-cert rsa.crt --ca-key rsa.key --out-cert x.crt --out-key x.key
err_has "rsa.key: wrong key type: RSA 2048"
openssl pkey -in ca.key -aes256 -passout pass:secret -out enc.key
run 1 "$W" identity create-issuer --ca-cert ca.crt --ca-key enc.key --out-cert x.crt --out-key x.key
err_has "enc.key: the key is encrypted"
[ ! -e x.crt ] && [ ! -e x.key ] || fail "a refused create-issuer wrote files"
ok "create-issuer refuses: mismatched key, pathlen-0 CA, non-CA, missing file, key/cert swapped, not PEM, RSA key, encrypted key"

# Validity capped at the root's notAfter, with a warning.
run 0 "$W" identity create-root --out-cert short.crt --out-key short.key --not-after 1h
run 0 "$W" identity create-issuer --ca-cert short.crt --ca-key short.key --out-cert capped.crt --out-key capped.key
err_has "warning:"; err_has "capping the validity"
[ "$(openssl x509 -in capped.crt -noout -enddate)" = "$(openssl x509 -in short.crt -noout -enddate)" ] || fail "issuer notAfter capped at the root's"
ok "issuer validity is capped at the root's notAfter, with a warning"

# Expired root: issuer creation refused.
run 0 "$W" identity create-root --out-cert exp.crt --out-key exp.key --not-after 1s
sleep 2
run 1 "$W" identity create-issuer --ca-cert exp.crt --ca-key exp.key --out-cert x.crt --out-key x.key
err_has "exp.crt: the CA certificate expired at"
[ ! -e x.crt ] && [ ! -e x.key ] || fail "expired root: files written"
ok "an expired root cannot create an issuer"

# --- inspect ----------------------------------------------------------------------
run 0 "$W" identity inspect ca.crt
out_has "subject:      CN=root.linkerd.cluster.local"
out_has "issuer:       CN=root.linkerd.cluster.local"
out_has "key:          ECDSA P-256"
out_has "CA:           true, pathlen 1 (critical)"
out_has "key usage:    keyCertSign, cRLSign (critical)"
out_has "expires in 3649d"
out_has "SANs:         (none)"
fp=$(openssl x509 -in ca.crt -noout -fingerprint -sha256 | cut -d= -f2)
out_has "sha256:       $fp"
out_has "serial:       $(openssl x509 -in ca.crt -noout -serial | cut -d= -f2)"
ok "inspect shows subject, issuer, key, CA/pathlen, key usage, validity; serial and fingerprint agree with openssl"

run 0 "$W" identity inspect step/leaf.crt
out_has "SANs:         DNS:default.emojivoto.serviceaccount.identity.linkerd.cluster.local"
out_has "CA:           false (critical)"
out_has "ext key usage: serverAuth, clientAuth"
run 0 "$W" identity inspect exp.crt; out_has "EXPIRED"
ok "inspect: leaf SANs and EKU, EXPIRED"

run 0 "$W" identity inspect issuer.crt --anchor ca.crt; out_has "chain:        valid"
cat step/leaf.crt step/issuer.crt >step/bundle.pem
run 0 "$W" identity inspect step/bundle.pem --anchor step/ca.crt
out_has "chain:        valid"; out_has "certificate 2 of 2"
run 1 "$W" identity inspect step/leaf.crt --anchor step/ca.crt
out_has "chain:        INVALID"; err_has "unable to get local issuer certificate"
run 1 "$W" identity inspect issuer.crt --anchor step/ca.crt
out_has "chain:        INVALID"
run 1 "$W" identity inspect exp.crt --anchor exp.crt
err_has "certificate has expired"
run 1 "$W" identity inspect nope.crt; err_has "nope.crt: no such file"
run 1 "$W" identity inspect ca.key; err_has "holds a private key, not a certificate"
ok "inspect --anchor: valid chain (leaf + intermediate bundle), wrong anchor, missing intermediate, expired: exit 1 with the reason"

run 0 "$W" identity inspect step/bundle.pem --anchor step/ca.crt --format json
python3 - "$T/out" <<'PY' || fail "inspect --format json"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["certificates"]
assert len(c) == 2, c
assert c[0]["sans"] == ["DNS:default.emojivoto.serviceaccount.identity.linkerd.cluster.local"], c[0]
assert c[0]["ca"] is False and c[0]["pathlen"] is None
assert c[1]["ca"] is True and c[1]["pathlen"] == 0 and c[1]["key"] == "ECDSA P-256"
assert c[1]["key_usage"] == ["keyCertSign", "cRLSign"], c[1]
assert c[1]["subject"] == "CN=identity.linkerd.cluster.local"
assert c[0]["expires_in_seconds"] > 86000 and not c[0]["expired"]
assert d["chain"]["valid"] is True
PY
run 1 "$W" identity inspect issuer.crt --anchor step/ca.crt --format json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["chain"]["valid"] is False and d["chain"]["error"]' "$T/out" || fail "json invalid chain"
ok "inspect --format json"

echo "PASS test_cli_identity ($PASSES groups)"
