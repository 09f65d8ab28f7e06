#!/usr/bin/python3
"""balance_report.py DIR "PHASE..." "POD..." "SLOW_DELAY_US..." — the markdown
tables of bench/dst/balance.sh from DIR/PHASE.samples (lines "seconds
count..." in POD order, cumulative inbound request counts) and
DIR/PHASE.result (weft-loadgen's RESULT line). Phases named even* have
equal endpoints (goal: each within ⅓ ± 10 %); the others use the delays
given (goal: the slowest ≤ 10 %)."""
import os
import sys


def load(d, name):
    rows = [[float(x) for x in line.split()] for line in open(os.path.join(d, name + ".samples"))]
    res = {}
    for line in open(os.path.join(d, name + ".result")):
        if line.startswith("RESULT"):
            res = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    return rows, res


def main():
    d, phases, pods = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
    delays = [int(x) for x in sys.argv[4].split()]
    slowest = delays.index(max(delays))
    print("| phase | endpoint | response delay | requests | share | goal | met |")
    print("|---|---|---|---|---|---|---|")
    verdicts = []
    series = []
    for name in phases:
        rows, res = load(d, name)
        got = [int(b - a) for a, b in zip(rows[0][1:], rows[-1][1:])]
        total = sum(got) or 1
        for i, pod in enumerate(pods):
            share = 100.0 * got[i] / total
            if name.startswith("even"):
                delay, goal = "0", "30.0–36.7 % (⅓ ± 10 %)"
                met = 100 / 3 * 0.9 <= share <= 100 / 3 * 1.1
            else:
                delay = f"{delays[i] / 1000:g} ms"
                goal, met = ("≤ 10 %", share <= 10.0) if i == slowest else ("", None)
            if met is not None:
                verdicts.append(met)
            mark = "" if met is None else ("yes" if met else "**no**")
            print(f"| {name} | {pod} | {delay} | {got[i]} "
                  f"| {share:.1f} % | {goal} | {mark} |")
        sent = int(res.get("ok", 0)) + int(res.get("errors", 0))
        series.append((name, rows, res, sent, sum(got)))
    print()
    for name, rows, res, sent, counted in series:
        print(f"Loadgen, {name}: requests sent {sent}, counted at the endpoints {counted}, errors "
              f"{res.get('errors', '?')}, achieved {res.get('achieved_rps', '?')}/s of "
              f"{res.get('target_rps', '?')}/s, latency p50 {res.get('p50_us', '?')} µs, "
              f"p99 {res.get('p99_us', '?')} µs, max {res.get('max_us', '?')} µs ({res.get('verdict', '?')}).")
        print()
    print("Shares over time (each sample interval ≈ 2 s; the first includes the warm-up):")
    print()
    print("| phase | interval (s) | " + " | ".join(pods) + " |")
    print("|---|---|" + "---|" * len(pods))
    for name, rows, _, _, _ in series:
        for a, b in zip(rows, rows[1:]):
            got = [y - x for x, y in zip(a[1:], b[1:])]
            tot = sum(got)
            if tot <= 0:
                continue
            print(f"| {name} | {a[0]:.1f}–{b[0]:.1f} | "
                  + " | ".join(f"{100 * g / tot:.0f} % ({int(g)})" for g in got) + " |")
    print()
    for name, rows, _, _, _ in series:
        ranked = []
        for a, b in zip(rows, rows[1:]):
            got = sorted((y - x for x, y in zip(a[1:], b[1:])), reverse=True)
            if sum(got) > 0:
                ranked.append([100 * g / sum(got) for g in got])
        if ranked:
            med = [sorted(r[i] for r in ranked)[len(ranked) // 2] for i in range(len(pods))]
            print(f"{name}: within a 2-s interval the endpoints' shares, largest first, were typically "
                  + " / ".join(f"{m:.0f} %" for m in med) + " (median over the intervals).")
    print()
    print("All goals met." if all(verdicts) else "**Not every goal was met** (see the table).")


main()
