#!/usr/bin/python3
"""bench/report.py — turns one bench/run.sh run into bench/results/REPORT.md
and bench/results/latency-1k.png.

Inputs (all written by run.sh):
  runs.raw          one `RESULT key=value ...` line per loadgen run, tagged
                    kind=matrix|sat|strace, scenario=, round=
  work/meta.txt     key=value facts about the run and the machine
  work/rss.txt      "<scenario> <side> idle|peak <kB>"
  work/strace-<scenario>-<side>.txt   `strace -c -f` summaries
  work/weft-{out,in}.metrics          the weft proxies' /metrics after the run
  work/hgrm/<scenario>-<proto>-<body>-<rate>-r<round>.hgrm

Numbers per matrix cell are the median round with the min-max spread over
rounds; "added" latency is the scenario's percentile minus direct's in the
same round and cell, so both saw the same moment of a noisy machine.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

SCENARIOS = ["direct", "weft", "nginx", "haproxy"]
PROXIES = ["weft", "nginx", "haproxy"]
PCTS = [("p50", "p50_us"), ("p90", "p90_us"), ("p99", "p99_us"), ("p99.9", "p999_us"),
        ("max", "max_us")]
HEADLINE = ("h1", 1024, 1000)  # the cell the goals are stated for
# A round where the loadgen's own scheduling lag reached this at p99 was
# disturbed by other work on the machine: its tail latencies say more about
# the machine than about the proxies.
CLEAN_LAG_P99_US = 200.0


def parse_raw(path):
    runs = []
    with open(path) as f:
        for line in f:
            if not line.startswith("RESULT "):
                continue
            d = {}
            for tok in line.split()[1:]:
                k, _, v = tok.partition("=")
                d[k] = v
            for k, v in list(d.items()):
                try:
                    d[k] = float(v) if re.fullmatch(r"-?[0-9.]+(e[-+]?[0-9]+)?", v) else v
                except ValueError:
                    pass
            runs.append(d)
    return runs


def read_kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                if k:
                    out[k] = v
    return out


def cell_key(r):
    return (r["proto"], int(r["body"]), int(r["target_rps"]))


def cell_name(c):
    proto, body, rate = c
    b = "0 B" if body == 0 else (f"{body // 1024} KiB" if body % 1024 == 0 else f"{body} B")
    return f"{'HTTP/1.1' if proto == 'h1' else 'gRPC'} {b} @ {rate // 1000}k/s"


def spread(vals, fmt="{:.0f}"):
    """median [min–max] of a list of numbers, or '–'."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(vals))}–{fmt.format(max(vals))}]"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    """a/b, or '–' when either is missing or not positive (an added latency
    below zero is noise, and a ratio of noise means nothing)."""
    if a is None or b is None or a <= 0 or b <= 0:
        return "–"
    return f"{a / b:.2f}×"


def fnum(v, fmt="{:.0f}"):
    return "–" if v is None else fmt.format(v)


class Data:
    def __init__(self, runs, sat_p99_us=None):
        self.sat_p99_us = sat_p99_us
        self.matrix = [r for r in runs if r.get("kind") == "matrix"]
        self.sat = [r for r in runs if r.get("kind") == "sat"]
        self.strace = [r for r in runs if r.get("kind") == "strace"]
        self.cells = sorted({cell_key(r) for r in self.matrix},
                            key=lambda c: (c[0] != "h1", c[1], c[2]))
        self.by = {}
        for r in self.matrix:
            self.by.setdefault((r["scenario"], cell_key(r)), {})[int(r["round"])] = r

    def rounds(self, scn, cell):
        return self.by.get((scn, cell), {})

    def values(self, scn, cell, key):
        return [r.get(key) for r in self.rounds(scn, cell).values()]

    def added(self, scn, cell, key, clean=False):
        """Per-round (scenario - direct) of a latency key; with clean, only
        rounds where neither run was disturbed (see CLEAN_LAG_P99_US)."""
        out = []
        base = self.rounds("direct", cell)
        for rnd, r in self.rounds(scn, cell).items():
            if rnd in base and key in r and key in base[rnd]:
                if clean and not (is_clean(r) and is_clean(base[rnd])):
                    continue
                out.append(r[key] - base[rnd][key])
        return out

    def sustained(self, r):
        """A step-up run counts only if it PASSed within the p99 limit."""
        return r["verdict"] == "PASS" and (self.sat_p99_us is None
                                           or r["p99_us"] <= self.sat_p99_us)

    def cpu(self, scn, cell, side):
        return self.values(scn, cell, f"proc.{side}.cpu_us_per_req")

    def verdicts(self, scn, cell):
        v = [r.get("verdict") for r in self.rounds(scn, cell).values()]
        failed = sum(1 for x in v if x != "PASS")
        return "PASS" if failed == 0 else f"**FAILED {failed}/{len(v)}**"

    def saturation(self, scn, proto):
        """Highest passing step rate, the first failing one, and the steps."""
        steps = sorted((r for r in self.sat if r["scenario"] == scn and r["proto"] == proto),
                       key=lambda r: r["target_rps"])
        best, failed_at = None, None
        for r in steps:
            if self.sustained(r):
                best = r
            else:
                failed_at = r
                break
        return best, failed_at, steps


def is_clean(r):
    return r.get("lag_p99_us", 0.0) <= CLEAN_LAG_P99_US


def read_rss(work):
    rss = {}
    path = os.path.join(work, "rss.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 4 and p[3].isdigit():
                    rss[(p[0], p[1], p[2])] = int(p[3])
    return rss


def read_strace(work, scn, side):
    """(total calls, [(calls, name)...] top entries) from a strace -c file."""
    path = os.path.join(work, f"strace-{scn}-{side}.txt")
    if not os.path.exists(path):
        return None, []
    total, rows = None, []
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p or not re.match(r"^[0-9.]+$", p[0]):
                continue
            name = p[-1]
            nums = [x for x in p[:-1]]
            if len(nums) < 4:
                continue
            calls = int(nums[3])
            if name == "total":
                total = calls
            else:
                rows.append((calls, name))
    rows.sort(reverse=True)
    return total, rows


def metric_sum(path, family, must_have=()):
    """Sum of a Prometheus family's samples whose labels contain all of
    must_have; None if the file is missing."""
    if not os.path.exists(path):
        return None
    total = 0.0
    with open(path) as f:
        for line in f:
            if not line.startswith(family + "{") and not line.startswith(family + " "):
                continue
            if all(m in line for m in must_have):
                try:
                    total += float(line.rsplit(None, 1)[1])
                except (IndexError, ValueError):
                    pass
    return total


def weft_path(work, data):
    """A plain statement of what the weft scenario exercised, read from the
    proxies' own metrics after the run (so it stays true as weft grows)."""
    out_m = os.path.join(work, "weft-out.metrics")
    in_m = os.path.join(work, "weft-in.metrics")
    req_out = metric_sum(out_m, "request_total")
    req_in = metric_sum(in_m, "request_total")
    if req_out is None or req_in is None:
        return "unknown (the proxies' /metrics could not be read after the run)", False
    text = " ".join(open(p).read() for p in (out_m, in_m))
    tls = bool(re.search(r'tls="true"', text))

    def through_weft(proto):
        return sum(r["ok"] for r in data.matrix + data.sat + data.strace
                   if r["scenario"] == "weft" and r["proto"] == proto)
    h1_reqs, grpc_reqs = through_weft("h1"), through_weft("grpc") + through_weft("h2")
    parts = []
    if req_out > 0 and req_in > 0:
        parts.append(f"HTTP/1.1 is proxied per request (L7) by both sidecars (request_total: "
                     f"outbound {req_out:.0f}, inbound {req_in:.0f}; the loadgen completed "
                     f"{h1_reqs:.0f} HTTP/1.1 and {grpc_reqs:.0f} gRPC requests through weft)")
        if grpc_reqs > 0 and req_out - h1_reqs >= 0.9 * grpc_reqs:
            parts.append("HTTP/2 and gRPC are proxied per request too")
        else:
            parts.append("HTTP/2 and gRPC are relayed as bytes (L4, after protocol detection)")
    else:
        parts.append("all traffic is relayed as bytes (L4 relay, protocol detection only)")
    parts.append("mTLS between the sidecars: **yes**" if tls else
                 "**no mTLS yet** — the hop between the two sidecars is plaintext TCP, "
                 "while the nginx and haproxy chains pay for TLS 1.3 with client certificates")
    return "; ".join(parts) + ".", tls


def plot(data, work, out_dir):
    """latency-1k.png: percentile spectrum of each scenario at 1k/s
    (HTTP/1.1, 1 KiB), the median round by p99."""
    proto, body, rate = HEADLINE
    cell = (proto, body, rate)
    if cell not in data.cells:
        cands = [c for c in data.cells if c[2] == 1000]
        if not cands:
            return None
        cell = cands[0]
    series = []
    for scn in SCENARIOS:
        rounds = data.rounds(scn, cell)
        if not rounds:
            continue
        ordered = sorted(rounds.items(), key=lambda kv: kv[1]["p99_us"])
        rnd = ordered[(len(ordered) - 1) // 2][0]
        path = os.path.join(work, "hgrm", f"{scn}-{cell[0]}-{cell[1]}-{cell[2]}-r{rnd}.hgrm")
        if not os.path.exists(path):
            continue
        dat = os.path.join(work, f"plot-{scn}.dat")
        with open(path) as f, open(dat, "w") as o:
            for line in f:
                p = line.split()
                if len(p) == 4 and p[3] != "inf" and re.match(r"^[0-9.]+$", p[0]):
                    o.write(f"{p[3]} {float(p[0]) * 1000:.3f}\n")  # 1/(1-p), µs
        series.append((scn, dat))
    if not series:
        return None
    png = os.path.join(out_dir, "latency-1k.png")
    colors = {"direct": "#555555", "weft": "#1f77b4", "nginx": "#2ca02c", "haproxy": "#d62728"}
    gp = os.path.join(work, "latency-1k.gp")
    with open(gp, "w") as g:
        g.write(f"""set terminal pngcairo size 1000,620 font "DejaVu Sans,11"
set output "{png}"
set title "Latency by percentile, {cell_name(cell)} (open loop, from intended send time; median round)"
set logscale x
set logscale y
set xrange [1:*]
set xtics ("0%%" 1, "50%%" 2, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000)
set xlabel "percentile"
set ylabel "latency (µs, log scale)"
set grid xtics ytics mytics
set key top left
plot """)
        g.write(", \\\n     ".join(
            f'"{dat}" using 1:2 with steps lw 2 lc rgb "{colors[scn]}" title "{scn}"'
            for scn, dat in series))
        g.write("\n")
    subprocess.run(["gnuplot", gp], check=True)
    return png


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    meta = read_kv(os.path.join(a.work, "meta.txt"))
    sat_p99_us = float(meta["sat_p99_ms"]) * 1000 if "sat_p99_ms" in meta else None
    data = Data(parse_raw(a.raw), sat_p99_us)
    rss = read_rss(a.work)
    path_text, has_tls = weft_path(a.work, data)
    png = plot(data, a.work, a.out)
    L = []
    w = L.append

    w("# weft benchmark report")
    w("")
    w(f"Generated by `bench/run.sh` ({meta.get('mode', '?')} mode, {meta.get('rounds', '?')} "
      f"round(s), {meta.get('date', '?')}, weft {meta.get('git', '?')}, weft-proxy sha256 "
      f"{meta.get('weft_sha256', '?')}). "
      f"Machine: {meta.get('cpu', '?')}, kernel {meta.get('kernel', '?')}; "
      f"load average {meta.get('loadavg_start', '?')} at the start, "
      f"{meta.get('loadavg_end', '?')} at the end; {meta.get('elapsed_s', '?')} s in all.")
    w("")
    w("> **Noisy, shared machine.** Other work ran on the same 2 vCPUs during this run; "
      "compare scenarios within this report (they were interleaved round by round), "
      "not against other runs. Tails (p99.9, max) are the most affected.")
    w("")
    w(f"**What the weft path is in this run:** {path_text}")
    w("")
    w(f"Peers: nginx {meta.get('nginx_version', '?')}, haproxy {meta.get('haproxy_version', '?')}, "
      f"OpenSSL {meta.get('openssl_version', '?')}. One worker each (nginx `worker_processes 1`, "
      "haproxy `nbthread 1`, `WEFT_PROXY_CORES=1`), logs off. The loadgen runs on "
      f"CPU {meta.get('client_cpu', '?')}; every proxy and backend on CPU {meta.get('server_cpu', '?')}; "
      f"scheduling: {meta.get('priority', '?')}.")
    w("")

    # ---- headline --------------------------------------------------------------
    hc = HEADLINE
    w(f"## Summary against the goals ({cell_name(hc)})")
    w("")
    if hc in data.cells:
        # Added latency from the rounds nothing disturbed, if there are any.
        n_all = len(data.rounds("direct", hc))
        n_clean = min(len(data.added(s, hc, "p50_us", clean=True)) for s in PROXIES)
        use_clean = n_clean > 0

        def add(scn, key):
            return med(data.added(scn, hc, key, clean=use_clean))

        def cpu_each(scn, cell):
            o, i = med(data.cpu(scn, cell, "out")), med(data.cpu(scn, cell, "in"))
            return o, i

        def sat_rate(scn):
            best, _, _ = data.saturation(scn, "h1")
            return best["target_rps"] if best else None

        w("| | weft | nginx | haproxy | goal (weft) | weft/nginx | weft/haproxy |")
        w("|---|---|---|---|---|---|---|")
        for label, key, goal in [("added p50 (µs)", "p50_us", "≤ +100 (+0.10 ms)"),
                                 ("added p99 (µs)", "p99_us", "≤ +300, and ≤ 0.5× nginx's"),
                                 ("added p99.9 (µs)", "p999_us", "")]:
            v = {s: add(s, key) for s in PROXIES}
            w(f"| {label} | {fnum(v['weft'])} | {fnum(v['nginx'])} | {fnum(v['haproxy'])} | "
              f"{goal} | {ratio(v['weft'], v['nginx'])} | {ratio(v['weft'], v['haproxy'])} |")
        w(f"| rounds used for added latency | {n_clean if use_clean else n_all} of {n_all} "
          f"({'undisturbed: loadgen lag p99 ≤ ' + str(int(CLEAN_LAG_P99_US)) + ' µs' if use_clean else 'all; none was undisturbed'}) | | | | | |")
        cpu = {s: cpu_each(s, hc) for s in PROXIES}
        csum = {s: (cpu[s][0] + cpu[s][1]) / 2 if None not in cpu[s] else None for s in PROXIES}
        w("| CPU µs/request per sidecar (out / in) | "
          + " | ".join(f"{fnum(cpu[s][0], '{:.1f}')} / {fnum(cpu[s][1], '{:.1f}')}" for s in PROXIES)
          + f" | ≤ 25, ≤ 0.6× nginx | {ratio(csum['weft'], csum['nginx'])} | "
          f"{ratio(csum['weft'], csum['haproxy'])} |")
        c5 = (hc[0], hc[1], 5000)
        if c5 in data.cells:
            cpu5 = {s: cpu_each(s, c5) for s in PROXIES}
            c5sum = {s: (cpu5[s][0] + cpu5[s][1]) / 2 if None not in cpu5[s] else None
                     for s in PROXIES}
            w("| CPU µs/request per sidecar at 5k/s (out / in) | "
              + " | ".join(f"{fnum(cpu5[s][0], '{:.1f}')} / {fnum(cpu5[s][1], '{:.1f}')}"
                           for s in PROXIES)
              + f" | ≤ 25 | {ratio(c5sum['weft'], c5sum['nginx'])} | "
              f"{ratio(c5sum['weft'], c5sum['haproxy'])} |")
        # Under load: the highest step-up rate every proxy sustained.
        common = None
        for r in sorted({x["target_rps"] for x in data.sat if x["proto"] == "h1"}):
            ok = all(any(x["scenario"] == s and x["proto"] == "h1" and x["target_rps"] == r
                         and data.sustained(x) for x in data.sat) for s in PROXIES)
            if ok:
                common = r
        if common is not None:
            def sat_cpu(s, side):
                return next((x.get(f"proc.{side}.cpu_us_per_req") for x in data.sat
                             if x["scenario"] == s and x["proto"] == "h1"
                             and x["target_rps"] == common), None)
            cs = {s: (sat_cpu(s, "out"), sat_cpu(s, "in")) for s in PROXIES}
            css = {s: (cs[s][0] + cs[s][1]) / 2 if None not in cs[s] else None for s in PROXIES}
            w(f"| CPU µs/request per sidecar at {common:.0f}/s, 64 conns (out / in) | "
              + " | ".join(f"{fnum(cs[s][0], '{:.1f}')} / {fnum(cs[s][1], '{:.1f}')}"
                           for s in PROXIES)
              + f" | ≤ 25 | {ratio(css['weft'], css['nginx'])} | "
              f"{ratio(css['weft'], css['haproxy'])} |")
            app = {s: sat_cpu(s, "app") for s in PROXIES}
            w(f"| backend's CPU µs/request behind the chain at {common:.0f}/s | "
              + " | ".join(fnum(app[s], "{:.1f}") for s in PROXIES)
              + " | (how the last hop writes) | | |")
        idle = {s: [rss.get((s, side, "idle")) for side in ("out", "in")] for s in PROXIES}
        peak = {s: [rss.get((s, side, "peak")) for side in ("out", "in")] for s in PROXIES}

        def mb(kb):
            return "–" if kb is None else f"{kb / 1024:.1f}"
        w("| RSS idle, MiB (out / in) | "
          + " | ".join(f"{mb(idle[s][0])} / {mb(idle[s][1])}" for s in PROXIES)
          + " | ≤ 4 | | |")
        if c5 in data.cells:
            # Round 1 only: later rounds carry whatever earlier overloads
            # (e.g. gRPC 16 KiB at 5k/s) made the allocator keep.
            load = {s: [data.rounds(s, c5).get(1, {}).get(f"proc.{side}.rss_kb")
                        for side in ("out", "in")] for s in PROXIES}
            w("| RSS at 5k/s (round 1), MiB (out / in) | "
              + " | ".join(f"{mb(load[s][0])} / {mb(load[s][1])}" for s in PROXIES)
              + " | ≤ 10 | | |")
        w("| RSS peak over the whole run, MiB (out / in) | "
          + " | ".join(f"{mb(peak[s][0])} / {mb(peak[s][1])}" for s in PROXIES) + " | | | |")
        sat = {s: sat_rate(s) for s in SCENARIOS}
        w("| saturation, HTTP/1.1 1 KiB (req/s) | "
          + " | ".join(fnum(sat[s]) for s in PROXIES)
          + f" | ≥ 1.5× nginx | {ratio(sat['weft'], sat['nginx'])} | "
          f"{ratio(sat['weft'], sat['haproxy'])} |")
        sc = {}
        for s in PROXIES:
            n = next((r["ok"] for r in data.strace if r["scenario"] == s), None)
            per = []
            for side in ("out", "in"):
                total, _ = read_strace(a.work, s, side)
                per.append(total / n if total is not None and n else None)
            sc[s] = per
        w("| syscalls/request (out / in) | "
          + " | ".join(f"{fnum(sc[s][0], '{:.1f}')} / {fnum(sc[s][1], '{:.1f}')}" for s in PROXIES)
          + " | | | |")
        w("")
        w(f"Direct (no proxy) in the same cell: p50 {spread(data.values('direct', hc, 'p50_us'))} µs, "
          f"p99 {spread(data.values('direct', hc, 'p99_us'))} µs; it sustained at least "
          f"{fnum(sat['direct'])} req/s in the step-up (loadgen and backend alone).")
        if not has_tls:
            w("")
            w("Until weft has mTLS, its numbers above are for a plaintext two-sidecar path and "
              "are *not* like-for-like with nginx/haproxy, which encrypt and verify "
              "client certificates on the middle hop; read the ratios as an upper bound on "
              "weft's advantage.")
    else:
        w("(the headline cell was not part of this run)")
    w("")

    # ---- per scenario tables ----------------------------------------------------
    w("## Latency per scenario")
    w("")
    w("*Loadgen lag p99* is how late the loadgen itself sent at p99 (already inside the "
      "latency): above ~200 µs, other work on the machine was delaying the loadgen and "
      "that round's tails are the machine's, not the proxies'.")
    w("")
    w("Open-loop: each connection sends on a fixed schedule and latency is measured from "
      "the intended send time (no coordinated omission). Values are µs, **median round "
      "[min–max over rounds]**; *added* = scenario − direct in the same round. "
      f"Window {meta.get('duration_s', '?')} s after {meta.get('warmup_s', '?')} s warm-up; "
      f"{meta.get('conns_h1', '?')} HTTP/1.1 connections (one request in flight each) or "
      f"{meta.get('conns_grpc', '?')} gRPC connections (multiplexed). A run fails if it "
      "achieves < 99 % of its target rate or sees any error. Achieved counts completions "
      "inside the window, so it can exceed the target when a backlog drains in it: "
      "overload, visible in p99.")
    w("")
    for scn in SCENARIOS:
        w(f"### {scn}")
        w("")
        hdr = "| cell | achieved/s | " + " | ".join(n for n, _ in PCTS)
        sep = "|---|---|" + "---|" * len(PCTS)
        if scn != "direct":
            hdr += " | added p50 | added p99 | added p99.9 | CPU µs/req out | CPU µs/req in"
            sep += "---|---|---|---|---|"
        else:
            hdr += " | CPU µs/req backend"
            sep += "---|"
        w(hdr + " | loadgen lag p99 | verdict |")
        w(sep + "---|---|")
        for c in data.cells:
            if not data.rounds(scn, c):
                continue
            row = [cell_name(c), spread(data.values(scn, c, "achieved_rps"))]
            row += [spread(data.values(scn, c, k)) for _, k in PCTS]
            if scn != "direct":
                row += [spread(data.added(scn, c, k), "{:+.0f}") for k in
                        ("p50_us", "p99_us", "p999_us")]
                row += [spread(data.cpu(scn, c, "out"), "{:.1f}"),
                        spread(data.cpu(scn, c, "in"), "{:.1f}")]
            else:
                row += [spread(data.cpu(scn, c, "app"), "{:.1f}")]
            row.append(spread(data.values(scn, c, "lag_p99_us")))
            row.append(data.verdicts(scn, c))
            w("| " + " | ".join(row) + " |")
        w("")

    # ---- saturation ---------------------------------------------------------------
    w("## Step-up to saturation")
    w("")
    w(f"The target rate grows ×{meta.get('sat_factor', '?')} per step from "
      f"{meta.get('sat_start', '?')}/s ({meta.get('sat_duration_s', '?')} s windows, "
      f"{meta.get('sat_conns_h1', '?')} HTTP/1.1 or {meta.get('sat_conns_grpc', '?')} gRPC "
      "connections), all scenarios interleaved at each step; a "
      "scenario stops at its first failed step. Saturation = the last rate it sustained "
      f"(≥ 99 % achieved, no errors, p99 ≤ {meta.get('sat_p99_ms', '?')} ms). The whole chain (proxies + backend) shares one CPU, "
      "so this is throughput per core. The step-up ends when every proxy has failed, so "
      "direct's figure is a lower bound (the loadgen's and backend's ceiling is higher).")
    w("")
    for proto in sorted({r["proto"] for r in data.sat}, key=lambda p: p != "h1"):
        rates = sorted({int(r["target_rps"]) for r in data.sat if r["proto"] == proto})
        w(f"**{'HTTP/1.1' if proto == 'h1' else 'gRPC'}, 1 KiB** — achieved/s (p99 µs) per step")
        w("")
        w("| target/s | " + " | ".join(SCENARIOS) + " |")
        w("|---|" + "---|" * len(SCENARIOS))
        for rate in rates:
            cells = []
            for scn in SCENARIOS:
                r = next((x for x in data.sat if x["scenario"] == scn and x["proto"] == proto
                          and int(x["target_rps"]) == rate), None)
                if r is None:
                    cells.append("")
                else:
                    mark = ("" if data.sustained(r) else
                            " **FAILED**" if r["verdict"] != "PASS" else " **p99 over limit**")
                    cells.append(f"{r['achieved_rps']:.0f} ({r['p99_us']:.0f}){mark}")
            w(f"| {rate} | " + " | ".join(cells) + " |")
        w("")
        line = []
        for scn in SCENARIOS:
            best, failed, _ = data.saturation(scn, proto)
            v = fnum(best["target_rps"] if best else None)
            if scn == "direct" and failed is None and best is not None:
                v = "≥ " + v
            line.append(f"{scn} {v}")
        w("Saturation (req/s): " + ", ".join(line) + ".")
        w("")

    # ---- resources -----------------------------------------------------------------
    w("## Per-proxy resources")
    w("")
    w("CPU is utime+stime of the proxy process over the measured window divided by the "
      "requests completed in it (read in ns from /proc/PID/task/*/schedstat, the same "
      "on-CPU time /proc/PID/stat reports in 10 ms ticks; the tick-based figure is in "
      "runs.raw as cpu_tick_us_per_req). For nginx the worker process is measured "
      "(the master only waits). RSS is VmRSS; peak is VmHWM at the end of the run.")
    w("")
    w("| proxy | side | RSS idle MiB | RSS peak MiB | syscalls/request | top syscalls (calls/request) |")
    w("|---|---|---|---|---|---|")
    for s in PROXIES:
        n = next((r["ok"] for r in data.strace if r["scenario"] == s), None)
        for side in ("out", "in"):
            total, rows = read_strace(a.work, s, side)
            top = ", ".join(f"{name} {calls / n:.2g}" for calls, name in rows[:6]
                            if calls / n >= 0.05) if n else "–"
            per = f"{total / n:.1f}" if total is not None and n else "–"
            i, p = rss.get((s, side, "idle")), rss.get((s, side, "peak"))
            w(f"| {s} | {side} | {fnum(i / 1024 if i else None, '{:.1f}')} | "
              f"{fnum(p / 1024 if p else None, '{:.1f}')} | {per} | {top} |")
    w("")
    w("Syscalls come from `strace -c -f -p PID` attached to each proxy during a separate "
      f"short run (HTTP/1.1, 1 KiB, {meta.get('strace_rate', '?')}/s for "
      f"{meta.get('strace_seconds', '?')} s); strace slows the proxy, so that run is not "
      "used for latency. At this rate nothing batches: each request costs its own "
      "wake-ups, the worst case per request.")
    w("")
    w("## Method and reproduction")
    w("")
    w("`make bench` (full: 3 rounds, HTTP/1.1 and gRPC × 0 B/1 KiB/16 KiB × 1k/5k per "
      "second, step-up for both protocols) or `make bench BENCH_ARGS=--quick` "
      "(1 round, a subset, HTTP/1.1 step-up). Topology, loadgen design and caveats: "
      "`bench/README.md`. Raw results: `bench/results/runs.raw` and `bench/results/work/` "
      "(not committed).")
    if png:
        w("")
        w("![latency percentiles at 1k/s](latency-1k.png)")
    w("")
    with open(os.path.join(a.out, "REPORT.md"), "w") as f:
        f.write("\n".join(L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
