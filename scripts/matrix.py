#!/usr/bin/env python3
"""Issue 19's matrix: a flags-dl build against a baseline build and curl -Z, on every kind
of server, with the issue's targets checked, in one run of about 5 minutes (295-305 s here).

Driven by scripts/matrix.sh, which installs the tools, builds the candidate, starts the
servers (in a network namespace of its own where it can, so the kernel's counters are the
run's own) and stops them; run this directly only with servers of your own:

    python3 scripts/matrix.py --candidate BIN --baseline BIN --data ../shared/flags \
        [--nginx URL] [--tls-nginx URL --cacert CA.pem [--rtt URL]] [--serve URL] \
        [--httpserver URL] [--slow URL] [--bucket-keepalive URL] [--bucket-close URL] \
        [--only GROUPS] [--runs 15] [--slow-runs 5]

A line is a workload, a mode and a -m: the candidate, the baseline and curl -Z
(`--parallel-max N`, curl's default pacing: no --parallel-immediate) at the same N, timed
in alternation in one round-robin (scripts/bench_peers.py's: the starting tool rotates
each round, each run into a fresh folder on tmpfs, wall time from spawn to exit). Lines
on one server share a round-robin, so every ratio is within one run. A line's median is
over all its runs, complete or not; a run is complete if it saved exactly the expected
files (count and bytes; for the embedded server, whose flags are generated, the count).

Groups (--only), in the order they run:
  nginx       nginx: --all async -m 50, threads -m 30; --every async -m 200 (and its peak RSS)
  tls         nginx with TLS and HTTP/2, on loopback: --all async -m 100
  rtt         the same through scripts/latency_proxy.py, a 50 ms round trip: --all async -m 100
  embedded    the embedded server, --delay 0.5 -m 200: async and threads (no curl: it has no such server)
  serve       flags-dl serve --delay 0.5 (the candidate's): --all async and threads -m 1000
  httpserver  python3 -m http.server: async -m 100 and -m 1000, threads -m 100
  slow        scripts/slow_server.py (0.5-5 s, listen queue of 5, seeded): async -m 200
  bucket-keepalive  scripts/ratelimit_server.py --burst 50 --http11 (50/s): async -m 100
  bucket-close      the same over HTTP/1.0, a connection per request: async -m 100
Lines whose runs take under a second get --runs (default 15) runs, those under 0.3 s after
one untimed warm-up round; lines whose runs take seconds (slow, the two rate limiters) get
--slow-runs (default 5). Left out to fit the 5 minutes, each with no target of its own:
threads mode over TLS (bench-peers' (k) and (l) time it); curl -Z on serve (with its
default pacing, two delays: 1.06 s a run, 16 s for 15 runs) and on the limiter that
closes connections (about 250 refusals in 3.5 s, bench-peers' (j)). Against slow_server.py
curl -Z opens one connection at a time, minutes for 194 flags (none in 3 s).

Peak RSS (GNU time's %M) is taken for nginx's --every line, from each run repeated under
/usr/bin/time (never timed through it). Around each run the kernel's TcpExt ListenDrops
and ListenOverflows are read, and the servers' own figures (slow_server's slowest delay
drawn, the rate limiter's refusals past the first wave) through their /__reset and
/__stats. The report (Markdown) goes to stdout and --markdown, every run to --json.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peers as bp  # noqa: E402  (the project's harness: runs, tools, probes)

# Workloads whose runs take under 0.3 s: a first, untimed round warms them up (page cache,
# the servers' first answers); the rest are bound by their servers' delays.
QUICK = ("nginx-all", "nginx-every", "tls", "rtt", "httpserver")
GROUPS = ("nginx", "tls", "rtt", "embedded", "serve", "httpserver", "slow", "bucket-keepalive", "bucket-close")
DELAY_MS = 500.0


@dataclass
class Line:
    """One row of the table: the candidate, the baseline and curl -Z on one workload."""

    key: str
    server: str               # as the table shows it
    what: str                 # the codes and mode, as flags-dl's options
    m: int
    cand: bp.Tool
    base: bp.Tool
    curl: bp.Tool | None      # None: curl cannot take part (the embedded server)
    workload: bp.Workload
    targets: list = field(default_factory=list)  # Target
    curl_note: str = ""       # said instead of curl's figures


class LoadProbe(bp.Probe):
    """bench_peers' Probe, plus the 1-minute load average as each run ended (in results.json)."""

    def after(self, before: dict[str, int]) -> dict:
        return {**super().after(before), "load": float(bp._load().split()[0])}


@dataclass
class Target:
    """One of the issue's targets, checked on a line: check(tool, line) -> (ok, numbers)."""

    name: str
    check: object


# --------------------------------------------------------------------------- figures of runs


def median_ms(t: bp.Tool | None) -> float | None:
    return statistics.median(r.ms for r in t.runs) if t and t.runs else None


def complete(t: bp.Tool) -> bool:
    return bool(t.runs) and all(r.ok for r in t.runs)


def extra(t: bp.Tool | None, key: str) -> list:
    return [r.extra[key] for r in t.runs if r.extra.get(key) is not None] if t else []


def med(xs: list) -> float | None:
    return statistics.median(xs) if xs else None


def rss_mb(t: bp.Tool | None) -> float | None:
    return t.median_rss_mb() if t else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def f0(x) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def f1(x) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def f2(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def runs_done(t: bp.Tool) -> str:
    good = sum(r.ok for r in t.runs)
    return "" if good == len(t.runs) else f" ({good}/{len(t.runs)} complete)"


# --------------------------------------------------------------------------- targets


def within_delay(t: bp.Tool, line: Line) -> tuple[bool, str]:
    m = median_ms(t)
    return (complete(t) and m <= 1.05 * DELAY_MS,
            f"{m:.1f} ms = {m / DELAY_MS:.3f} × the delay (≤ 1.05){runs_done(t)}")


def near_baseline(t: bp.Tool, line: Line) -> tuple[bool, str]:
    r = ratio(median_ms(line.cand), median_ms(line.base))
    if t is line.base:
        return True, "the reference"
    return complete(t) and r <= 1.03, f"candidate/baseline {r:.3f} (≤ 1.03){runs_done(t)}"


def faster_than_curl(factor: float):
    def check(t: bp.Tool, line: Line) -> tuple[bool, str]:
        r = ratio(median_ms(t), median_ms(line.curl))
        return complete(t) and r <= factor, f"{median_ms(t):.1f} ms / curl {median_ms(line.curl):.1f} ms = " \
                                            f"{r:.2f} (≤ {factor}){runs_done(t)}"
    return check


def rss_below_curl(t: bp.Tool, line: Line) -> tuple[bool, str]:
    mine, theirs = rss_mb(t), rss_mb(line.curl)
    if mine is None or theirs is None:
        return False, "peak RSS not measured (no /usr/bin/time)"
    return mine <= theirs, f"{mine:.1f} MB against curl's {theirs:.1f} MB (medians)"


def http_server_target(t: bp.Tool, line: Line) -> tuple[bool, str]:
    m, c = median_ms(t), median_ms(line.curl)
    drops = extra(t, "listen_drops_all")
    late = extra(t, "late_connects")
    ok = (complete(t) and m <= 1.1 * c and drops and max(drops) == 0 and late and max(late) == 0)
    return ok, (f"{m:.1f} ms / curl {c:.1f} ms = {m / c:.2f} (≤ 1.1); listen drops in all "
                f"{sum(drops)} (max {max(drops, default='n/a')} a run); late connects in all {sum(late)} "
                f"(max {max(late, default='n/a')}){runs_done(t)}")


def above_slowest_delay(t: bp.Tool, line: Line) -> tuple[bool, str]:
    over = [r.ms - 1000 * r.extra["max_delay"] for r in t.runs if r.extra.get("max_delay")]
    if not over:
        return False, "the server's slowest delay was not read"
    return (complete(t) and statistics.median(over) <= 300,
            f"{statistics.median(over):+.0f} ms over the slowest delay drawn (median; "
            f"{min(over):+.0f} to {max(over):+.0f}; ≤ +300){runs_done(t)}")


def rate_limit_target(t: bp.Tool, line: Line) -> tuple[bool, str]:
    m = median_ms(t)
    late = extra(t, "refused_past_first_wave")
    refused = extra(t, "refused")
    ok = complete(t) and m <= 4500 and late and statistics.median(late) <= 5
    return ok, (f"{m:.0f} ms (≤ 4500); refused past the first wave {f0(med(late))} (median, max "
                f"{max(late, default='n/a')}; ≤ 5), {f0(med(refused))} refused in all{runs_done(t)}")


def rtt_target(t: bp.Tool, line: Line) -> tuple[bool, str]:
    m, c = median_ms(t), median_ms(line.curl)
    return (complete(t) and m <= 220 and m <= 0.75 * c,
            f"{m:.1f} ms (≤ 220), / curl {c:.1f} ms = {m / c:.2f} (≤ 0.75){runs_done(t)}")


# --------------------------------------------------------------------------- the lines


def build(a, log) -> tuple[list[bp.Workload], list[Line], dict[str, int], Path]:
    """Every workload and line asked for, with the servers given."""
    cand, base = str(Path(a.candidate).resolve()), str(Path(a.baseline).resolve())
    codes, _, expect_all, every, expect_every = bp.dataset(Path(a.data))
    lists = Path(tempfile.mkdtemp(prefix="matrix-lists-", dir=bp.SHM))
    workloads: list[bp.Workload] = []
    lines: list[Line] = []
    runs: dict[str, int] = {}

    def urls(base_url: str, tag: str, cc=codes) -> str:
        return bp.write_url_files(lists, base_url, cc, tag)[1]

    def pair(name: str, args: list[str], shown: str, json_: bool) -> tuple[bp.Tool, bp.Tool]:
        """The candidate and the baseline with the same options."""
        make = bp.flags_dl_json_tool if json_ else bp.flags_dl_tool
        return (make(cand, f"candidate {name}", args, shown), make(base, f"baseline {name}", args, shown))

    def workload(key: str, title: str, tools: list, expect, server: str, slow: bool = False,
                 rss: bool = False, probe=None, timeout: float = 60) -> bp.Workload:
        w = bp.Workload(key, title, tools, expect, server, timeout=timeout, rss=rss,
                        probe=probe or LoadProbe())
        workloads.append(w)
        runs[key] = a.slow_runs if slow else a.runs
        return w

    def add(key, server, what, m, tools, w, targets=(), curl=None, note=""):
        lines.append(Line(key, server, what, m, tools[0], tools[1], curl, w, list(targets), note))

    def stats_root(url: str) -> str:
        return url.split("/flags", 1)[0]

    def want(group: str, url: str | None, what: str) -> bool:
        if group not in a.only:
            return False
        if not url:
            log(f"{group} skipped: {what} did not start")
        return bool(url)

    N = a.nginx
    if want("nginx", N, "nginx"):
        cfg = urls(N, "all")
        c50 = bp.curl_z(50, cfg, True, immediate=False)
        c30 = bp.curl_z(30, cfg, True, immediate=False)
        a50 = pair("--all -m 50", ["--all", "-m", "50", "-s", N], "--all -m 50 -s $NGINX", False)
        t30 = pair("--all --mode threads -m 30", ["--all", "--mode", "threads", "-m", "30", "-s", N],
                   "--all --mode threads -m 30 -s $NGINX", False)
        w = workload("nginx-all", "nginx, --all", [*a50, c50, *t30, c30], expect_all, N)
        add("nginx-all-50", "nginx", "--all, async", 50, a50, w,
            [Target("≤ 1.03× baseline", near_baseline), Target("≤ 0.8× curl -Z", faster_than_curl(0.8))], c50)
        add("nginx-threads-30", "nginx", "--all, threads", 30, t30, w,
            [Target("≤ 1.03× baseline", near_baseline)], c30)
        cfg = urls(N, "every", every)
        c200 = bp.curl_z(200, cfg, False, immediate=False)
        e200 = pair("--every -m 200", ["--every", "-m", "200", "-s", N], "--every -m 200 -s $NGINX", False)
        for t in e200:
            t.strict_rc = False  # 482 of the codes are not found: exit 1 is the right answer
        w = workload("nginx-every", "nginx, --every", [*e200, c200], expect_every, N, rss=True)
        add("nginx-every-200", "nginx", "--every, async", 200, e200, w,
            [Target("≤ 1.03× baseline", near_baseline), Target("peak RSS ≤ curl -Z's", rss_below_curl)], c200)

    CA = a.cacert
    for group, url, var, title, server, targets in (
            ("tls", a.tls_nginx, "$TLS_NGINX", "nginx, TLS and HTTP/2", "nginx TLS+h2", ()),
            ("rtt", a.rtt, "$RTT50", "nginx, TLS and HTTP/2, through a 50 ms round trip", "nginx TLS+h2, 50 ms RTT",
             [Target("≤ 220 ms and ≤ 0.75× curl -Z", rtt_target)])):
        if not want(group, url, title):
            continue
        c = bp.curl_w_tool(100, urls(url, group), f"curl -Z --parallel-max 100 ({group})", CA)
        h2 = pair(f"--all -m 100 ({group})", ["-s", url, "--cacert", CA, "--all", "-m", "100"],
                  f"-s {var} --cacert CA.pem --all -m 100", True)
        w = workload(group, title, [*h2, c], expect_all, url)
        add(f"{group}-100", server, "--all, async", 100, h2, w, targets, c)

    if "embedded" in a.only:
        # The embedded server's flags are generated: the count is checked, not the bytes.
        ea = pair("--all --delay 0.5 -m 200", ["--all", "--delay", "0.5", "-m", "200"],
                  "--all --delay 0.5 -m 200", False)
        et = pair("--all --delay 0.5 --mode threads -m 200",
                  ["--all", "--delay", "0.5", "--mode", "threads", "-m", "200"],
                  "--all --delay 0.5 --mode threads -m 200", False)
        w = workload("embedded", "the embedded server, --delay 0.5", [*ea, *et], (expect_all[0], None), "")
        note = "n/a: no embedded server"
        add("embedded-200", "embedded, 0.5 s delay", "--all, async", 200, ea, w,
            [Target("≤ 1.05× the delay", within_delay)], None, note)
        add("embedded-threads-200", "embedded, 0.5 s delay", "--all, threads", 200, et, w,
            [Target("≤ 1.05× the delay", within_delay)], None, note)

    S = a.serve
    if want("serve", S, "flags-dl serve --delay 0.5"):
        sa = pair("--all -m 1000 (serve)", ["--all", "-m", "1000", "-s", S], "--all -m 1000 -s $SERVE", False)
        st = pair("--all --mode threads -m 1000 (serve)", ["--all", "--mode", "threads", "-m", "1000", "-s", S],
                  "--all --mode threads -m 1000 -s $SERVE", False)
        w = workload("serve", "flags-dl serve --delay 0.5", [*sa, *st], expect_all, S)
        # curl -Z --parallel-max 1000 with its default pacing takes two delays here (1.06 s),
        # so its 15 runs would take the matrix past 5 minutes for a figure no target needs.
        note = "left out (5 minutes): 2 delays"
        add("serve-1000", "serve, 0.5 s delay", "--all, async", 1000, sa, w,
            [Target("≤ 1.05× the delay", within_delay)], None, note)
        add("serve-threads-1000", "serve, 0.5 s delay", "--all, threads", 1000, st, w,
            [Target("≤ 1.05× the delay", within_delay)], None, note)

    H = a.httpserver
    if want("httpserver", H, "python3 -m http.server"):
        cfg = urls(H, "httpserver")
        c100 = bp.curl_z(100, cfg, True, immediate=False)
        c1000 = bp.curl_z(1000, cfg, True, immediate=False)
        h100 = pair("--all -m 100 (http.server)", ["--all", "-m", "100", "-s", H], "--all -m 100 -s $HTTPSERVER",
                    True)
        h1000 = pair("--all -m 1000 (http.server)", ["--all", "-m", "1000", "-s", H],
                     "--all -m 1000 -s $HTTPSERVER", True)
        t100 = pair("--all --mode threads -m 100 (http.server)", ["--all", "--mode", "threads", "-m", "100", "-s", H],
                    "--all --mode threads -m 100 -s $HTTPSERVER", True)
        w = workload("httpserver", "python3 -m http.server", [*h100, *h1000, *t100, c100, c1000], expect_all, H,
                     timeout=150)
        target = [Target("every flag, ≤ 1.1× curl -Z, no listen drop or late connect", http_server_target)]
        add("httpserver-100", "http.server", "--all, async", 100, h100, w, target, c100)
        add("httpserver-1000", "http.server", "--all, async", 1000, h1000, w, target, c1000)
        add("httpserver-threads-100", "http.server", "--all, threads", 100, t100, w, target, c100)

    SL = a.slow
    if want("slow", SL, "slow_server.py"):
        s200 = pair("--all -m 200 (slow_server)", ["--all", "-m", "200", "-s", SL], "--all -m 200 -s $SLOW", True)
        probe = LoadProbe(stats_root(SL), fields=("max_delay", "max_delay_answered", "requests"))
        w = workload("slow", "slow_server.py (0.5–5 s, listen queue of 5)", list(s200), expect_all, SL, slow=True,
                     probe=probe, timeout=60)
        # curl -Z without --parallel-immediate waits for each answer before it opens the next
        # connection here (HTTP/1.0): minutes for 194 flags (0 of them in 3 s, 9-13 in 30 s).
        add("slow-200", "slow_server (0.5–5 s)", "--all, async", 200, s200, w,
            [Target("every flag, ≤ 0.3 s over the slowest delay", above_slowest_delay)], None,
            "minutes: one connection at a time")

    # curl -Z --retry 10 (it waits the Retry-After) on the limiter with the target; on the
    # one that closes, its 15 s would take the matrix past 5 minutes, and it tells nothing
    # new: it refuses no less there (about 250 refusals in 3.5 s, bench-peers' (j)).
    rate_fields = ("refused", "served", "refused_past_first_wave", "first_refusal_sent_ms", "max_in_flight")
    for group, url, label, targets, with_curl in (
            ("bucket-keepalive", a.bucket_keepalive, "50/s bucket, keep-alive",
             [Target("every flag, ≤ 4.5 s, ≤ 5 refused past the first wave", rate_limit_target)], True),
            ("bucket-close", a.bucket_close, "50/s bucket, closes", [], False)):
        if not want(group, url, f"ratelimit_server.py ({group})"):
            continue
        c = bp.curl_z(100, urls(url, group), True, immediate=False, name="curl -Z --parallel-max 100 --retry 10",
                      more=["--retry", "10"]) if with_curl else None
        r100 = pair(f"--all -m 100 ({group})", ["--all", "-m", "100", "-s", url], "--all -m 100 -s $RATELIMIT", True)
        w = workload(group, f"ratelimit_server.py --burst 50 ({label})", [*r100, *([c] if c else [])], expect_all,
                     url, slow=True, probe=LoadProbe(stats_root(url), fields=rate_fields), timeout=120)
        add(f"{group}-100", label, "--all, async", 100, r100, w, targets, c,
            "" if c else "left out (5 minutes)")
    return workloads, lines, runs, lists


# --------------------------------------------------------------------------- the report


def figures(line: Line) -> str:
    """What else a line's runs told, beyond time: per server kind."""
    c, b, k = line.cand, line.base, line.curl
    key = line.workload.key
    if key == "httpserver":
        return (f"listen drops c/b/curl {sum(extra(c, 'listen_drops_all'))}/{sum(extra(b, 'listen_drops_all'))}/"
                f"{sum(extra(k, 'listen_drops_all'))}; late connects c/b {sum(extra(c, 'late_connects'))}/"
                f"{sum(extra(b, 'late_connects'))} (sums over the runs)")
    if key == "slow":
        d = extra(c, "max_delay") + extra(b, "max_delay")
        over_c = med([r.ms - 1000 * r.extra["max_delay"] for r in c.runs if r.extra.get("max_delay")])
        over_b = med([r.ms - 1000 * r.extra["max_delay"] for r in b.runs if r.extra.get("max_delay")])
        return (f"slowest delay drawn {min(d, default=0):.2f}–{max(d, default=0):.2f} s; over it c/b "
                f"{over_c:+.0f}/{over_b:+.0f} ms" if over_c is not None and over_b is not None else "n/a")
    if key.startswith("bucket"):
        return (f"refused c/b/curl {f0(med(extra(c, 'refused')))}/{f0(med(extra(b, 'refused')))}/"
                f"{f0(med(extra(k, 'refused')))}; past the first wave c/b "
                f"{f0(med(extra(c, 'refused_past_first_wave')))}/{f0(med(extra(b, 'refused_past_first_wave')))}")
    if key in ("tls", "rtt"):
        return (f"connections c/b/curl {f0(med(extra(c, 'connections')))}/{f0(med(extra(b, 'connections')))}/"
                f"{f0(med(extra(k, 'connections')))}")
    return ""


def verdicts(line: Line) -> list[tuple[str, bool, str, bool, str]]:
    """Each target: (name, candidate ok, its numbers, baseline ok, its numbers)."""
    out = []
    for t in line.targets:
        ok, detail = t.check(line.cand, line)
        bok, bdetail = t.check(line.base, line)
        out.append((t.name, bool(ok), detail, bool(bok), bdetail))
    return out


def report(lines: list[Line], runs: dict[str, int], loads: dict[str, str], out) -> dict:
    out("| line | server | codes, mode | -m | runs | load | candidate ms | baseline ms | curl -Z ms | "
        "cand/base | cand/curl | peak RSS MB c/b/curl | other figures (medians) | targets: candidate (baseline) |")
    out("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    rows = []
    for ln in lines:
        cm, bm, km = median_ms(ln.cand), median_ms(ln.base), median_ms(ln.curl)
        rss = "" if not ln.workload.rss else f"{f1(rss_mb(ln.cand))}/{f1(rss_mb(ln.base))}/{f1(rss_mb(ln.curl))}"
        v = verdicts(ln)
        shown = "; ".join(f"{n}: {'PASS' if ok else 'FAIL'} ({'PASS' if bok else 'FAIL'})" for n, ok, _, bok, _ in v)
        curl = f1(km) + runs_done(ln.curl) if ln.curl else ln.curl_note
        out(f"| {ln.key} | {ln.server} | {ln.what} | {ln.m} | {runs[ln.workload.key]} | "
            f"{loads[ln.workload.key].split()[0]} | "
            f"{f1(cm)}{runs_done(ln.cand)} | {f1(bm)}{runs_done(ln.base)} | {curl} | {f2(ratio(cm, bm))} | "
            f"{f2(ratio(cm, km))} | {rss} | {figures(ln)} | {shown or '—'} |")
        rows.append({"line": ln.key, "server": ln.server, "what": ln.what, "m": ln.m, "runs": runs[ln.workload.key],
                     "load": loads[ln.workload.key], "candidate_ms": cm, "baseline_ms": bm, "curl_ms": km,
                     "cand_over_base": ratio(cm, bm), "cand_over_curl": ratio(cm, km),
                     "rss_mb": [rss_mb(ln.cand), rss_mb(ln.base), rss_mb(ln.curl)] if ln.workload.rss else None,
                     "figures": figures(ln),
                     "targets": [{"target": n, "candidate": ok, "candidate_numbers": d, "baseline": bok,
                                  "baseline_numbers": bd} for n, ok, d, bok, bd in v]})
    out()
    out("Targets of issue 19, each line's candidate (the baseline's verdict on the same target after it):")
    out()
    out("| line | target | candidate | numbers | baseline | numbers |")
    out("|---|---|---|---|---|---|")
    for ln in lines:
        for n, ok, d, bok, bd in verdicts(ln):
            out(f"| {ln.key} | {n} | {'PASS' if ok else 'FAIL'} | {d} | {'PASS' if bok else 'FAIL'} | {bd} |")
    return {"lines": rows}


def raw_runs(workloads: list[bp.Workload]) -> dict:
    """Every run of every tool, for results.json."""
    return {w.key: {"title": w.title, "tools": {t.name: {"command": t.shown, "runs": [r.__dict__ for r in t.runs]}
                                                for t in w.tools}} for w in workloads}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidate", required=True, help="the flags-dl binary under test")
    ap.add_argument("--baseline", required=True, help="the flags-dl binary it is held against")
    ap.add_argument("--data", required=True, help="the flags folder (country_codes.txt, <cc>/<cc>.gif)")
    ap.add_argument("--nginx", help="nginx: http://127.0.0.1:PORT/flags")
    ap.add_argument("--tls-nginx", help="nginx with TLS and HTTP/2: https://localhost:PORT/flags")
    ap.add_argument("--cacert", help="the CA of the TLS servers' certificate")
    ap.add_argument("--rtt", help="scripts/latency_proxy.py in front of --tls-nginx: https://localhost:PORT/flags")
    ap.add_argument("--serve", help="flags-dl serve --delay 0.5: http://127.0.0.1:PORT/flags")
    ap.add_argument("--httpserver", help="python3 -m http.server")
    ap.add_argument("--slow", help="scripts/slow_server.py (its /__stats is read)")
    ap.add_argument("--bucket-keepalive", help="scripts/ratelimit_server.py --burst 50 --http11")
    ap.add_argument("--bucket-close", help="scripts/ratelimit_server.py --burst 50")
    ap.add_argument("--only", default=",".join(GROUPS), help="groups, comma-separated (default: all)")
    ap.add_argument("--runs", type=int, default=15, help="runs of each fast line (default 15)")
    ap.add_argument("--slow-runs", type=int, default=5, help="runs of each slow line (default 5)")
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--markdown", help="write the report here too")
    ap.add_argument("--header", action="append", default=[], help="a line for the report's head (repeatable)")
    a = ap.parse_args()
    a.only = [g.strip() for g in a.only.split(",") if g.strip()]
    unknown = [g for g in a.only if g not in GROUPS]
    if unknown:
        ap.error(f"--only {','.join(unknown)}: the groups are {', '.join(GROUPS)}")
    if a.runs < 1 or a.slow_runs < 1:
        ap.error("--runs and --slow-runs must be at least 1")
    if (a.tls_nginx or a.rtt) and not a.cacert:
        ap.error("--tls-nginx and --rtt need --cacert")
    signal.signal(signal.SIGTERM, bp._interrupted)  # ends the tool running, as Ctrl-C does

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    lines_out: list[str] = []

    def out(line: str = "") -> None:
        lines_out.append(line)
        print(line, flush=True)

    workloads, lines, runs, lists = build(a, log)
    t0 = time.monotonic()
    loads: dict[str, str] = {}
    took: dict[str, float] = {}
    load_before = bp._load()
    for w in workloads:
        loads[w.key] = bp._load()
        warm = 1 if w.key in QUICK else 0
        log(f"{w.title}: {len(w.tools)} tools × {runs[w.key]} runs (+{warm} warm-up), load {loads[w.key]}, "
            f"{time.monotonic() - t0:.0f} s in")
        t1 = time.monotonic()
        bp.round_robin(w, runs[w.key], warm, w.timeout, log)
        took[w.key] = time.monotonic() - t1
        if a.json:  # rewritten as each group ends, so an interrupted run keeps what it timed
            Path(a.json).write_text(json.dumps({"runs": runs, "loads": loads, "partial": True,
                                                "workloads": raw_runs(workloads[:len(took)])}, indent=1))
    total = time.monotonic() - t0
    shutil.rmtree(lists, ignore_errors=True)

    for h in a.header:
        out(h)
    out(f"Load average (1, 5, 15 min): {load_before} as the runs began, {bp._load()} at the end; "
        f"the runs took {total:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in took.items())}).")
    out()
    results = report(lines, runs, loads, out)
    results.update({"runs": runs, "load_before": load_before, "load_after": bp._load(), "seconds": total,
                    "seconds_per_workload": took, "loads": loads, "workloads": raw_runs(workloads)})
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    if a.markdown:
        Path(a.markdown).write_text("\n".join(lines_out) + "\n")
    failed = [ln.key for ln in lines for v in verdicts(ln) if not v[1]]
    log(f"done in {total:.0f} s; " + (f"targets missed on {', '.join(dict.fromkeys(failed))}" if failed
                                      else "every target met"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("matrix: interrupted", file=sys.stderr)
        sys.exit(130)
