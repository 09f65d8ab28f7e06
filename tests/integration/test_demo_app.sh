#!/usr/bin/env bash
# The demo application (demo/app, demo/manifests) without any mesh: plain
# processes on 127.0.0.1 — redis-server, emoji, voting, web — then a bounded
# vote-bot run, checked with real peers (curl, redis-cli, grpcio):
#   - weft_demo.proto and the descriptors demo_pb.py builds in code agree
#     (protoc-c --descriptor_set_out);
#   - the manifests are consistent with the apps (commands exist relative to
#     the repository root, selectors, ports, env addresses, opaque 6379,
#     namespace injection) — when python3-yaml is installed;
#   - the page, /api/list (20 emoji), a vote shows in the leaderboard and in
#     the Redis counter, the deliberately failing emoji gives 500 from web and
#     INTERNAL from voting, bad choices give 400/404, keep-alive works;
#   - vote-bot: every list and vote answered as expected, tallies and the
#     counter add up exactly, one log line per request;
#   - Redis down: votes answer 502; SIGTERM: every service exits 0.
# No timing decides a result; every wait is bounded.
# Environment: WEFT_SRC (repo root; default this file's ../..); WEFT_BIN is
# accepted but not needed. WEFT_TEST_KEEP=1 keeps the temp dir.
set -euo pipefail

NAME=test_demo_app
WEFT_SRC=${WEFT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
APP="$WEFT_SRC/demo/app"
MANIFEST="$WEFT_SRC/demo/manifests/emojivoto.yml"
PY=/usr/bin/python3
FAIL_CODE=":broken_heart:"
KEY="weft-demo:votes"
ASSERTS=0

ok() {
  ASSERTS=$((ASSERTS + 1))
  printf '[%s] ok: %s\n' "$NAME" "$*"
}
fail() {
  printf '[%s] FAIL: %s\n' "$NAME" "$*" >&2
  exit 1
}
assert_eq() { [[ "$1" == "$2" ]] || fail "$3: expected '$2', got '$1'"; ok "$3 (= $1)"; }
assert_contains() { [[ "$1" == *"$2"* ]] || fail "$3: '$2' not in: ${1:0:300}"; ok "$3"; }

for tool in curl redis-server redis-cli protoc-c timeout "$PY"; do
  command -v "$tool" >/dev/null || { echo "[$NAME] FAILED: missing $tool (scripts/deps)"; exit 1; }
done
"$PY" -c 'import grpc, google.protobuf' 2>/dev/null ||
  { echo "[$NAME] FAILED: python3-grpcio / python3-protobuf missing (scripts/deps)"; exit 1; }

T=$(mktemp -d "/tmp/weft-$NAME.XXXXXX")
export PYTHONDONTWRITEBYTECODE=1 # keep demo/app free of __pycache__
declare -A PID=()
ORDER=()

cleanup() {
  local rc=$? name p
  set +e
  for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
    name=${ORDER[$i]}
    p=${PID[$name]:-}
    [[ -n $p ]] && kill -TERM "$p" 2>/dev/null
  done
  for name in "${ORDER[@]}"; do
    p=${PID[$name]:-}
    [[ -z $p ]] && continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [[ $rc -ne 0 ]]; then
    for f in "$T"/*.log; do [[ -e $f ]] && { echo "--- $f"; tail -n 40 "$f"; }; done >&2
  fi
  if [[ ${WEFT_TEST_KEEP:-0} == 1 ]]; then echo "[$NAME] kept $T" >&2; else rm -rf "$T"; fi
  if [[ $rc -eq 0 ]]; then
    echo "[$NAME] PASS ($ASSERTS assertions)"
  else
    echo "[$NAME] FAILED (exit $rc)" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers ---------------------------------------------------------------

# start NAME VAR=value... -- CMD...: background process, log in $T/NAME.log,
# run from $T so nothing lands in the source tree.
start() {
  local name=$1
  shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  (cd "$T" && exec env PYTHONDONTWRITEBYTECODE=1 "${envs[@]}" "$@") >"$T/$name.log" 2>&1 &
  PID[$name]=$!
  ORDER+=("$name")
}

# wait_log NAME REGEX: until the log matches (bounded: 30 s), failing early
# when the process died.
wait_log() {
  local name=$1 re=$2
  for _ in $(seq 300); do
    grep -qE "$re" "$T/$name.log" 2>/dev/null && return 0
    kill -0 "${PID[$name]}" 2>/dev/null || fail "$name exited before logging /$re/"
    sleep 0.1
  done
  fail "$name did not log /$re/ within 30 s"
}

# wait_exit NAME: waits (bounded: 15 s) for the process to end; its exit
# status in EXIT_RC. (Not for $(...): only this shell can wait for it.)
EXIT_RC=
wait_exit() {
  local name=$1 p=${PID[$1]}
  for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && fail "$name still running after 15 s"
  EXIT_RC=0
  wait "$p" || EXIT_RC=$?
  unset "PID[$name]"
}
# stop NAME: SIGTERM, then wait_exit.
stop() {
  kill -TERM "${PID[$1]}"
  wait_exit "$1"
}

free_ports() { # N distinct ports free on 127.0.0.1 right now
  "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# Requests this test sent to web, one line each in $T/reqs (http runs in
# command substitutions: a shell variable would not survive).
sent_to_web() { for ((i = 0; i < $1; i++)); do echo >>"$T/reqs"; done; }
web_reqs() { wc -l <"$T/reqs"; }
# http METHOD PATH [FORM]: body to $T/body, prints the status code.
http() {
  sent_to_web 1
  local args=(-sS --max-time 10 -o "$T/body" -w '%{http_code}' -X "$1")
  [[ $# -ge 3 ]] && args+=(--data "$3")
  curl "${args[@]}" "http://127.0.0.1:$WEB_PORT$2"
}
body() { cat "$T/body"; }
# pyj EXPR: evaluates EXPR with d = the JSON document on stdin.
pyj() { "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
rcli() { timeout 10 redis-cli -p "$REDIS_PORT" "$@"; }

# ---- 1. the .proto and the descriptors built in code agree ----------------

protoc-c --proto_path="$APP" --descriptor_set_out="$T/demo.pb" weft_demo.proto
same=$(cd "$APP" && PYTHONDONTWRITEBYTECODE=1 "$PY" - "$T/demo.pb" <<'EOF'
import sys
from google.protobuf import descriptor_pb2
import demo_pb
fds = descriptor_pb2.FileDescriptorSet()
fds.ParseFromString(open(sys.argv[1], "rb").read())
compiled = fds.file[0]
for m in compiled.message_type:
    for f in m.field:
        f.ClearField("json_name")
built = demo_pb.file_descriptor_proto()
print("same" if compiled == built else "differ:\n%s\n---\n%s" % (compiled, built))
EOF
)
assert_eq "$same" same "weft_demo.proto compiled by protoc-c = demo_pb.py's descriptors"

# ---- 2. manifests agree with the apps ---------------------------------------

if "$PY" -c 'import yaml' 2>/dev/null; then
  report=$("$PY" - "$MANIFEST" "$WEFT_SRC" <<'EOF'
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
root = sys.argv[2]
errs = []
by = {}
for d in docs:
    by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
ns = by.get("Namespace", {}).get("emojivoto")
if not ns or ns["metadata"].get("annotations", {}).get("linkerd.io/inject") != "enabled":
    errs.append("namespace emojivoto without linkerd.io/inject: enabled")
for d in docs:
    if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "emojivoto":
        errs.append("%s/%s not in namespace emojivoto" % (d["kind"], d["metadata"]["name"]))
deps = by.get("Deployment", {})
sas = by.get("ServiceAccount", {})
svcs = by.get("Service", {})
if sorted(deps) != ["emoji", "redis", "vote-bot", "voting", "web"]:
    errs.append("deployments: %s" % sorted(deps))
for name, dep in deps.items():
    tpl = dep["spec"]["template"]
    labels = tpl["metadata"].get("labels", {})
    if labels.get("app") != name or labels.get("version") != "v1":
        errs.append("%s: labels app=%s version=v1 wanted, got %s" % (name, name, labels))
    for k, v in dep["spec"]["selector"]["matchLabels"].items():
        if labels.get(k) != v:
            errs.append("%s: selector %s=%s does not match the template" % (name, k, v))
    if tpl["spec"].get("serviceAccountName") not in sas:
        errs.append("%s: serviceAccountName %r has no ServiceAccount" % (name, tpl["spec"].get("serviceAccountName")))
    for c in tpl["spec"]["containers"]:
        cmd = c.get("command", []) + c.get("args", [])
        if not c.get("image") or not cmd:
            errs.append("%s/%s: needs image and command" % (name, c["name"]))
            continue
        if "workingDir" in c:
            errs.append("%s/%s: workingDir set (the convention is: none)" % (name, c["name"]))
        if cmd[0] == "/usr/bin/python3":
            if len(cmd) < 2 or os.path.isabs(cmd[1]) or not os.path.isfile(os.path.join(root, cmd[1])):
                errs.append("%s/%s: %r is not a script relative to the repo root" % (name, c["name"], cmd[1:2]))
        ports = {p["containerPort"] for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            pr = c.get(probe)
            if pr:
                port = (pr.get("tcpSocket") or pr.get("httpGet") or {}).get("port")
                if port not in ports:
                    errs.append("%s/%s: %s port %r is no containerPort" % (name, c["name"], probe, port))
        for e in c.get("env", []):
            if e["name"] in ("EMOJISVC_HOST", "VOTINGSVC_HOST", "REDIS_HOST", "WEB_HOST"):
                host, port = e["value"].rsplit(":", 1)
                svc, _, nsname = host.partition(".")
                s = svcs.get(svc)
                if nsname not in ("", "emojivoto") or not s or int(port) not in [p["port"] for p in s["spec"]["ports"]]:
                    errs.append("%s: %s=%s names no Service port" % (name, e["name"], e["value"]))
for name, s in svcs.items():
    sel = s["spec"]["selector"]
    matches = [d for d in deps.values()
               if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())]
    if len(matches) != 1:
        errs.append("service %s selects %d deployments" % (name, len(matches)))
        continue
    cports = {p["containerPort"] for c in matches[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    for p in s["spec"]["ports"]:
        if p.get("targetPort", p["port"]) not in cports:
            errs.append("service %s: targetPort %s is no containerPort" % (name, p.get("targetPort")))
opaque = "config.linkerd.io/opaque-ports"
if svcs.get("redis", {}).get("metadata", {}).get("annotations", {}).get(opaque) != "6379":
    errs.append("Service redis lacks %s: \"6379\"" % opaque)
if deps.get("redis", {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {}).get(opaque) != "6379":
    errs.append("redis pod template lacks %s: \"6379\"" % opaque)
print("\n".join(errs) if errs else "consistent")
EOF
  )
  assert_eq "$report" consistent "manifests: kinds, labels, selectors, ports, env addresses, commands, opaque 6379"
else
  echo "[$NAME] skip: manifest checks (python3-yaml not installed)"
fi

# ---- 3. the services, on 127.0.0.1 ---------------------------------------------

read -r REDIS_PORT EMOJI_PORT VOTING_PORT WEB_PORT <<<"$(free_ports 4)"
start redis -- redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$T" --daemonize no
start emoji BIND_ADDR=127.0.0.1 GRPC_PORT="$EMOJI_PORT" -- "$PY" "$APP/emoji.py"
start voting BIND_ADDR=127.0.0.1 GRPC_PORT="$VOTING_PORT" -- "$PY" "$APP/voting.py"
start web BIND_ADDR=127.0.0.1 WEB_PORT="$WEB_PORT" EMOJISVC_HOST="127.0.0.1:$EMOJI_PORT" \
  VOTINGSVC_HOST="127.0.0.1:$VOTING_PORT" REDIS_HOST="127.0.0.1:$REDIS_PORT" -- "$PY" "$APP/web.py"
wait_log redis 'Ready to accept connections'
wait_log emoji ' listening '
wait_log voting ' listening '
wait_log web ' listening '
ok "redis :$REDIS_PORT, emoji :$EMOJI_PORT, voting :$VOTING_PORT, web :$WEB_PORT started"

assert_eq "$(http GET /)" 200 "GET / answers 200"
page=$(body)
assert_contains "$page" "<title>" "the page is HTML"
assert_contains "$page" "/api/vote" "the page votes through /api/vote"
ctype=$(curl -sS --max-time 10 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$WEB_PORT/")
sent_to_web 1
assert_eq "$ctype" "text/html; charset=utf-8" "the page's Content-Type"
assert_eq "$(http GET /healthz)" 200 "GET /healthz answers 200"

assert_eq "$(http GET /api/list)" 200 "GET /api/list answers 200"
assert_eq "$(body | pyj 'len(d)')" 20 "/api/list has 20 emoji"
assert_eq "$(body | pyj 'len({e["shortcode"] for e in d if e["unicode"] and e["shortcode"].startswith(":")})')" 20 \
  "each with its own :shortcode: and a unicode character"
assert_eq "$(body | pyj "'$FAIL_CODE' in [e['shortcode'] for e in d]")" True "the failing emoji is on the list"
grpc_n=$(cd "$T" && "$PY" "$APP/call.py" "127.0.0.1:$EMOJI_PORT" EmojiService/ListAll | pyj 'len(d["emoji"])')
assert_eq "$grpc_n" 20 "emoji's ListAll over gRPC returns the same 20"

assert_eq "$(rcli GET "$KEY")" "" "redis counter unset before any vote"
assert_eq "$(http GET /api/counter)" 200 "GET /api/counter answers 200"
assert_eq "$(body | pyj 'd["votes_counted"]')" 0 "counter reads 0"

assert_eq "$(http GET '/api/vote?choice=:rocket:')" 200 "vote for :rocket: answers 200"
assert_eq "$(body | pyj '(d["choice"], d["votes"], d["votes_counted"])')" "(':rocket:', 1, 1)" \
  "the vote is counted (tally 1, counter 1)"
assert_eq "$(rcli GET "$KEY")" 1 "redis-cli reads the counter: 1"
assert_eq "$(http GET /api/leaderboard)" 200 "GET /api/leaderboard answers 200"
assert_eq "$(body | pyj '[(e["shortcode"], e["votes"]) for e in d]')" "[(':rocket:', 1)]" \
  "the leaderboard shows the vote"

assert_eq "$(http GET "/api/vote?choice=$FAIL_CODE")" 500 "vote for $FAIL_CODE answers 500"
assert_eq "$(body | pyj 'd["grpc_status"]')" INTERNAL "web reports voting's gRPC status INTERNAL"
set +e
(cd "$T" && "$PY" "$APP/call.py" "127.0.0.1:$VOTING_PORT" VotingService/Vote "$FAIL_CODE") >"$T/call.out" 2>&1
call_rc=$?
set -e
assert_eq "$call_rc" 13 "a grpcio client voting $FAIL_CODE gets status 13 (INTERNAL)"
assert_contains "$(cat "$T/call.out")" "INTERNAL: " "with an error message"
assert_eq "$(rcli GET "$KEY")" 1 "failed votes are not counted in redis"
http GET /api/leaderboard >/dev/null
assert_eq "$(body | pyj "'$FAIL_CODE' in [e['shortcode'] for e in d]")" False "nor on the leaderboard"

assert_eq "$(http GET '/api/vote?choice=:no_such_emoji:')" 404 "vote for an unknown emoji answers 404"
assert_eq "$(http GET '/api/vote')" 400 "vote without a choice answers 400"
assert_eq "$(http GET '/api/nothing')" 404 "unknown path answers 404"
assert_eq "$(http POST /api/vote 'choice=%3Ataco%3A')" 200 "POST /api/vote with a form body answers 200"
assert_eq "$(rcli GET "$KEY")" 2 "redis counter: 2"

# Keep-alive: curl sends two requests over one connection.
kv=$(curl -sv --max-time 10 -o /dev/null -o /dev/null "http://127.0.0.1:$WEB_PORT/healthz" \
  "http://127.0.0.1:$WEB_PORT/api/counter" 2>&1)
sent_to_web 2
assert_contains "$kv" "< HTTP/1.1 200" "web answers HTTP/1.1"
assert_contains "$kv" "Re-using existing connection" "and keeps the connection alive"

# ---- 4. vote-bot, bounded ---------------------------------------------------------

start bot WEB_HOST="127.0.0.1:$WEB_PORT" VOTEBOT_COUNT=50 VOTEBOT_RATE=100 VOTEBOT_SEED=3 \
  -- timeout 120 "$PY" "$APP/vote_bot.py"
wait_log bot ' done sent='
wait_exit bot
assert_eq "$EXIT_RC" 0 "vote-bot with VOTEBOT_COUNT=50 exits 0"
sent_to_web 50
bot=$("$PY" - "$T/bot.log" "$FAIL_CODE" <<'EOF'
import re, sys
fail_code = sys.argv[2]
lists = votes = bad = broken = ok = 0
tally = {}
summary = None
for line in open(sys.argv[1]):
    w = line.split()
    if len(w) < 3 or w[1] != "vote-bot":
        continue
    kv = dict(x.split("=", 1) for x in w[3:] if "=" in x)
    if w[2] == "req=list":
        lists += 1
        bad += kv["status"] != "200"
    elif w[2] == "req=vote":
        votes += 1
        c = kv["choice"]
        want = "500" if c == fail_code else "200"
        bad += kv["status"] != want
        if c == fail_code:
            broken += 1
        elif kv["status"] == "200":
            ok += 1
            tally[c] = tally.get(c, 0) + 1
    elif w[2] == "done":
        summary = (int(kv["sent"]), int(kv["ok"]), int(kv["failed"]))
print(lists, votes, bad, broken, ok, summary == (lists + votes, lists + ok, broken))
print(",".join("%s=%d" % kv for kv in sorted(tally.items())))
EOF
)
read -r lists votes bad broken okvotes summary_ok <<<"$(head -n 1 <<<"$bot")"
assert_eq "$lists $votes" "25 25" "vote-bot sent 25 lists and 25 votes"
assert_eq "$bad" 0 "every list answered 200, every vote 200 except $FAIL_CODE's 500"
[[ $broken -ge 1 ]] || fail "the bot's seeded choices never hit $FAIL_CODE (change VOTEBOT_SEED)"
ok "the bot voted $FAIL_CODE $broken times (all 500)"
assert_eq "$summary_ok" True "vote-bot's summary line adds up"
assert_eq "$(rcli GET "$KEY")" $((2 + okvotes)) "redis counter = 2 + the bot's $okvotes successful votes"
http GET /api/leaderboard >/dev/null
want=$(tail -n 1 <<<"$bot")
got=$(body | pyj '",".join("%s=%d" % (e["shortcode"], e["votes"] - {":rocket:": 1, ":taco:": 1}.get(e["shortcode"], 0)) for e in sorted(d, key=lambda e: e["shortcode"]) if e["votes"] - {":rocket:": 1, ":taco:": 1}.get(e["shortcode"], 0) > 0)')
assert_eq "$got" "$want" "leaderboard tallies = the bot's successful votes per emoji (+ this test's)"
assert_eq "$(body | pyj 'sorted(d, key=lambda e: (-e["votes"], e["shortcode"])) == d')" True "leaderboard is sorted, most votes first"

# One log line per request: web (everything this test and the bot sent);
# voting (one Vote per web vote that passed the emoji check, plus direct calls).
for _ in $(seq 50); do
  [[ $(grep -cE ' web (GET|POST) ' "$T/web.log") -ge $(web_reqs) ]] && break
  sleep 0.1
done
assert_eq "$(grep -cE ' web (GET|POST) ' "$T/web.log")" "$(web_reqs)" "web logged one line per request"
assert_eq "$(grep -c " web GET /api/vote status=500 .*choice=$FAIL_CODE" "$T/web.log")" $((1 + broken)) \
  "web logged each 500 for $FAIL_CODE"
assert_eq "$(grep -c " voting Vote status=INTERNAL .*shortcode=$FAIL_CODE" "$T/voting.log")" $((2 + broken)) \
  "voting logged each INTERNAL for $FAIL_CODE"
assert_eq "$(grep -c ' voting Vote status=OK ' "$T/voting.log")" $((2 + okvotes)) "voting logged each successful vote"

# vote-bot unbounded stops on SIGTERM.
start bot2 WEB_HOST="127.0.0.1:$WEB_PORT" VOTEBOT_RATE=50 -- "$PY" "$APP/vote_bot.py"
for _ in $(seq 300); do
  [[ $(grep -c ' req=' "$T/bot2.log" || true) -ge 3 ]] && break
  kill -0 "${PID[bot2]}" 2>/dev/null || fail "unbounded vote-bot exited"
  sleep 0.1
done
[[ $(grep -c ' req=' "$T/bot2.log" || true) -ge 3 ]] || fail "unbounded vote-bot sent nothing in 30 s"
stop bot2
assert_eq "$EXIT_RC" 0 "unbounded vote-bot exits 0 on SIGTERM"
assert_contains "$(cat "$T/bot2.log")" " done sent=" "and logs its summary"

# ---- 5. Redis down, then SIGTERM ---------------------------------------------------

stop redis
assert_eq "$EXIT_RC" 0 "redis-server stopped"
assert_eq "$(http GET '/api/vote?choice=:rocket:')" 502 "with Redis down a vote answers 502"
assert_contains "$(body)" "redis" "naming Redis"
for svc in web voting emoji; do
  stop $svc
  assert_eq "$EXIT_RC" 0 "$svc exits 0 on SIGTERM"
  assert_contains "$(tail -n 1 "$T/$svc.log")" " $svc stopped" "$svc logged its shutdown"
done
