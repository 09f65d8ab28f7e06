"""vote-bot — steady traffic for the demo: alternately fetches web's
/api/list and votes for a random emoji from it (/api/vote), on a fixed
schedule (request k is due at start + k/VOTEBOT_RATE), over one keep-alive
HTTP/1.1 connection, forever or VOTEBOT_COUNT requests.

Environment: WEB_HOST (web-svc:80), VOTEBOT_RATE (requests per second, 5),
VOTEBOT_COUNT (requests to send, 0 = until SIGTERM), VOTEBOT_SEED (random
seed; unset = random).

Each request is logged as 'req=list|vote [choice=..] status=N ms=..'
(status=error when no HTTP response came back); at exit a summary line
'done sent=.. ok=.. failed=..'.
"""
import http.client
import json
import random
import sys
import time
from urllib.parse import quote

import demolib


def main():
    demolib.set_service("vote-bot")
    host, port = demolib.split_hostport(demolib.env("WEB_HOST", "web-svc:80"), "WEB_HOST")
    rate = demolib.env_float("VOTEBOT_RATE", 5)
    count = demolib.env_int("VOTEBOT_COUNT", 0)
    if not rate > 0 or count < 0:
        demolib.die("VOTEBOT_RATE must be > 0 and VOTEBOT_COUNT >= 0")
    seed = demolib.env("VOTEBOT_SEED", "")
    rng = random.Random(seed if seed else None)
    stop = demolib.stop_event()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    emoji = []
    sent = ok = failed = 0
    demolib.log("starting", web="%s:%d" % (host, port), rate=rate, count=count or "unbounded")
    start = time.monotonic()
    k = 0
    while not stop.is_set() and (count == 0 or sent < count):
        due = start + k / rate
        now = time.monotonic()
        if due > now:
            if stop.wait(due - now):
                break
        elif now - due > 1.0:  # fell far behind (web slow or down): no burst
            start, k = now, 0
        k += 1
        if not emoji or sent % 2 == 0:
            kind, path, fields = "list", "/api/list", {}
        else:
            choice = rng.choice(emoji)
            kind, path, fields = "vote", "/api/vote?choice=" + quote(choice, safe=""), {"choice": choice}
        t0 = time.monotonic()
        status, body = "error", b""
        try:
            conn.request("GET", path, headers={"User-Agent": "weft-demo-vote-bot/0.1"})
            r = conn.getresponse()
            body = r.read()
            status = r.status
            if r.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            fields["error"] = demolib.word(("%s: %s" % (type(e).__name__, e))[:120])
        sent += 1
        if status == 200:
            ok += 1
            if kind == "list":
                try:
                    emoji = [e["shortcode"] for e in json.loads(body)]
                except (ValueError, KeyError, TypeError):
                    pass
        else:
            failed += 1
        demolib.log("req=" + kind, status=status, ms=demolib.ms_since(t0), **fields)
    conn.close()
    demolib.log("done", sent=sent, ok=ok, failed=failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
