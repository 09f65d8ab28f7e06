#!/usr/bin/python3
"""propagation_report.py EVENTS WATCH RATE GAP_MS POD=IP=ACCESS_LOG... — the
markdown tables of bench/dst/propagation.sh.

EVENTS: one line per store update, "add|remove|end POD T0" (T0 =
CLOCK_REALTIME in s, read just before the rename(2) call). WATCH: a Get
stream's messages, "TIME ADD|REMOVE ... IP:PORT ..." (mesh.sh dst_watch).
ACCESS_LOG: "$msec $request_time $status" per request; arrival = msec +
0.5 ms - request_time ($msec is truncated to the ms: the middle of its ms).

An update's window runs from its T0 to the next update's T0.
- controller: the first ADD (REMOVE) message naming POD's IP in the window − T0.
- ADD: the first arrival at POD in the window − T0 (the window opens GUARD_S
  early, since an arrival's estimate may be up to that much early: the
  endpoint had no traffic before, and a negative value counts as 0); none:
  "> window".
- REMOVE: the last arrival at POD in the window − T0, or 0 when there is
  none after T0. It says something only if POD was carrying traffic when
  the update came: at least one arrival in the CARRY_S before T0; the other
  REMOVEs are counted apart and left out of the percentiles. The window
  closes GUARD_S early (the next ADD may bring POD back at once). Arrivals
  in its last TAIL_S: "> window".
"> window" ranks above every value. Percentiles are nearest-rank."""
import bisect
import math
import sys

TAIL_S = 0.050
GUARD_S = 0.001
SHARE_S = 0.200
CARRY_S = 0.020


def pct(v, p):
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def fmt(v):
    return "> window" if v == math.inf else f"{v * 1000:.1f}"


def read_arrivals(path):
    out = []
    for line in open(path):
        f = line.split()
        if len(f) >= 3:
            out.append(float(f[0]) + 0.0005 - float(f[1]))
    return sorted(out)


def read_watch(path):
    msgs = []  # (time, kind, set of ips)
    for line in open(path):
        f = line.split()
        if len(f) >= 2 and f[1] in ("ADD", "REMOVE"):
            ips = {w.split("|")[0].rsplit(":", 1)[0] for w in f[2:] if not w.startswith("set=")}
            msgs.append((float(f[0]), f[1].lower(), ips))
    return msgs


def row(what, v, extra):
    v = sorted(v)
    if not v:
        return f"| {what} | 0 | | | | | {extra} | |"
    ok = "yes" if pct(v, 99) <= 0.100 else "**no**"
    return (f"| {what} | {len(v)} | {fmt(pct(v, 50))} | {fmt(pct(v, 90))} | {fmt(pct(v, 99))} "
            f"| {fmt(v[-1])} | {extra} | {ok} |")


def main():
    events_path, watch_path, rate, gap_ms = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    ip_of, arrivals = {}, {}
    for a in sys.argv[5:]:
        pod, ip, path = a.split("=", 2)
        ip_of[pod], arrivals[pod] = ip, read_arrivals(path)
    watch = read_watch(watch_path)
    events = []
    for line in open(events_path):
        kind, pod, t0 = line.split()
        events.append((kind, pod, float(t0)))
    lat = {"add": [], "remove": []}
    ctl = {"add": [], "remove": []}
    idle = []
    order = {"add": [], "remove": []}
    for (kind, pod, t0), (_, _, t1) in zip(events, events[1:]):
        if kind not in lat:
            continue
        sent = [t for t, k, ips in watch if t0 <= t < t1 and k == kind and ip_of[pod] in ips]
        ctl[kind].append(sent[0] - t0 if sent else math.inf)
        arr = arrivals[pod]
        lo, hi = bisect.bisect_left(arr, t0), bisect.bisect_left(arr, t1 - GUARD_S)
        inside = arr[lo:hi]
        if kind == "add":
            first = arr[bisect.bisect_left(arr, t0 - GUARD_S):bisect.bisect_left(arr, t1)][:1]
            v = max(0.0, first[0] - t0) if first else math.inf
        elif inside and inside[-1] >= t1 - TAIL_S:  # still sent to
            v = math.inf
        elif lo == 0 or arr[lo - 1] < t0 - CARRY_S:
            idle.append(inside[-1] - t0 if inside else 0.0)
            order[kind].append("idle")
            continue
        else:
            v = inside[-1] - t0 if inside else 0.0
        lat[kind].append(v)
        order[kind].append(fmt(v))
    print("| measured from the rename to… | trials | p50 ms | p90 ms | p99 ms | max ms | notes | p99 ≤ 100 ms |")
    print("|---|---|---|---|---|---|---|---|")
    print(row("controller sends the ADD (Get stream)", ctl["add"], ""))
    print(row("**ADD**: first request at the new endpoint", lat["add"],
              f"{sum(1 for x in lat['add'] if x == math.inf)} with none in the window"))
    print(row("controller sends the REMOVE (Get stream)", ctl["remove"], ""))
    print(row("**REMOVE**: last request at the removed endpoint", lat["remove"],
              f"{len(idle)} more left out: the endpoint had no request in the "
              f"{CARRY_S * 1000:.0f} ms before the update"))
    print()
    print(f"p99 is nearest-rank: with ~{len(lat['add'])} trials it is the largest or second-largest "
          f"value. Windows between updates: {gap_ms:.0f} ms ± 20 %.")
    print()
    print("Resolution: the loadgen sends a request every "
          f"{1000 / rate:.2f} ms, so an ADD is seen within a request or two of the proxy picking the "
          "new endpoint, and a REMOVE to within the removed endpoint's own request interval "
          f"(≈ {1000 / rate:.2f}–{2000 / rate:.2f} ms when it carries all or half of the traffic); "
          "nginx's `$msec` has 1 ms resolution (truncated; arrival = `$msec` + 0.5 ms − "
          "`$request_time`, so ± 0.5 ms); t0 "
          "is read by the renaming process right before rename(2); the Get stream's times are when a "
          "python3-grpcio client in pod cp printed the message, an upper bound (that client adds about "
          "a millisecond: the proxy sometimes acts first). Each value is good to about "
          f"±{0.5 + 2000 / rate:.1f} ms; a REMOVE of 0 means the endpoint got no request after t0.")
    print()
    # How the balancer treated each added endpoint: its share of the
    # requests in the SHARE_S after the ADD (both endpoints in the set).
    shares = []
    adds = [(e, nxt) for e, nxt in zip(events, events[1:]) if e[0] == "add"]
    for ((_, pod, t0), (_, _, t1)), v in zip(adds, lat["add"]):
        hi = min(t1, t0 + SHARE_S)
        n = {q: bisect.bisect_left(a, hi) - bisect.bisect_left(a, t0) for q, a in arrivals.items()}
        if sum(n.values()):
            shares.append((n[pod] / sum(n.values()), v))
    low = sorted(v for sh, v in shares if sh < 0.1)
    high = sorted(v for sh, v in shares if sh >= 0.1)
    if shares:
        print(f"The balancer and the ADDs: in the {SHARE_S * 1000:.0f} ms after an ADD the new endpoint "
              f"got under 10 % of the requests {len(low)} times of {len(shares)} (ADD p50 "
              f"{fmt(pct(low, 50)) if low else '-'} ms, max {fmt(low[-1]) if low else '-'} ms) and "
              f"10 % or more {len(high)} times (ADD p50 {fmt(pct(high, 50)) if high else '-'} ms, max "
              f"{fmt(high[-1]) if high else '-'} ms); shares of the new endpoint, in order: "
              + ", ".join(f"{100 * sh:.0f} %" for sh, _ in shares) + ".")
        print()
    counts = ", ".join(f"{pod} {len(a)}" for pod, a in arrivals.items())
    print(f"Requests each endpoint's nginx logged over the run: {counts}.")
    print()
    for kind in ("add", "remove"):
        print(f"Per trial, {kind.upper()} (ms, in order; controller in brackets): "
              + ", ".join(f"{o} [{fmt(c)}]" for o, c in zip(order[kind], ctl[kind])))
        print()


main()
