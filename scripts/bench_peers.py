#!/usr/bin/env python3
"""Time flags-dl against curl, wget2, aria2c and xargs+curl; print Markdown tables.

Driven by scripts/bench-peers.sh, which installs the tools, builds flags-dl, starts the
servers and stops them; run this directly only with servers of your own:

    python3 scripts/bench_peers.py --bin target/release/flags-dl \
        --nginx http://127.0.0.1:PORT/flags [--delay http://127.0.0.1:PORT2/flags] \
        [--httpserver URL] [--slow URL] [--ratelimit URL] \
        [--tls-nginx https://localhost:PORT3/flags --cacert CA.pem [--latency-proxy URL]] \
        --data ../shared/flags [--runs 5]

Workloads (a)..(g) are issue 6's, against nginx and a fixed-delay flags-dl server;
(h)..(j) are issue 9's, against the servers the book tells its readers to use, which
keep only 5 pending connections (`python3 -m http.server`: --httpserver;
scripts/slow_server.py: --slow) and against one that allows 50 requests/s
(scripts/ratelimit_server.py: --ratelimit; its /__stats and /__reset are read and
reset around every run, so each run's refused requests are its own). For (h)..(j)
each run also records the kernel's TcpExt ListenOverflows (handshakes a full listen
queue dropped) and TCPSynRetrans (SYNs sent again) from /proc/net/netstat, before and
after: machine-wide counters, so other loopback traffic at the same time counts too.
(h)..(j) are not repeated under /usr/bin/time (their point is time and completeness,
not memory), and their tables show every run, complete or not.
(k) and (l) are issue 10's real networks: nginx with TLS and HTTP/2 (`listen ... ssl
http2`, a certificate from a CA the driver made: --tls-nginx, --cacert) on loopback (k),
and the same through scripts/latency_proxy.py, 25 ms each way, a 50 ms round trip (l:
--latency-proxy). flags-dl runs with --json and curl with -w '%{num_connects}
%{http_version}', so each timed run also records the connections it opened and the HTTP
version it spoke; their tables show both (no peak RSS either).

Method: within a workload every tool runs the same number of times, in alternation
(round r runs each tool once, the starting tool rotating each round), after one
untimed warm-up round. Each run writes into a fresh folder under /dev/shm that is
removed right after. Wall time is time.perf_counter_ns() around the tool spawned
directly; then the same run is repeated as `/usr/bin/time -f %M TOOL ...` for its peak
RSS (a wait4() of our own would not do: a child forked from this Python process counts
Python's pages in its ru_maxrss). Timing is never taken through the wrapper: an
intermediate process added 20-30 ms to flags-dl's async runs at high -m. A run counts only
if it saved exactly the expected .gif files with the expected total size; a tool's
non-zero exit is tolerated where the workload has 404s (the table shows exit codes).
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from string import ascii_lowercase

SHM = Path(os.environ.get("FLAGSBENCH_SHM") or ("/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir()))


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    ms: float
    rss_kb: int
    rc: int
    files: int
    nbytes: int
    ok: bool
    err: str = ""
    extra: dict = field(default_factory=dict)  # per-run probes of (h)..(j): refused, listen drops


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
WRAP_MS = 0.0  # the wall time /usr/bin/time itself adds, measured by calibrate()


def _spawn(argv: list[str], timeout: float, tf: Path | None,
           outf=None) -> tuple[float, int, int | None, str]:
    """Wall ms, exit code (negative: signal), peak RSS KB (None if unknown), stderr head.

    stdout goes to `outf` (an open file) if given, else to /dev/null."""
    full = [GNU_TIME, "-f", "%M", "-o", str(tf), *argv] if tf else argv
    with tempfile.TemporaryFile() as errf:
        t0 = time.perf_counter_ns()
        p = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=outf or subprocess.DEVNULL,
                             stderr=errf, start_new_session=True)
        killer = threading.Timer(timeout, lambda: _killpg(p.pid))
        killer.daemon = True
        killer.start()
        try:
            rc = p.wait()
        except BaseException:  # Ctrl-C: the tool is in a session of its own, end it too
            _killpg(p.pid)
            killer.cancel()
            raise
        t1 = time.perf_counter_ns()
        killer.cancel()
        errf.seek(0)
        err = errf.read(2000).decode(errors="replace").strip()
    rss = None
    if tf:
        lines = tf.read_text().splitlines() if tf.exists() else []
        for line in lines:  # "Command exited with non-zero status N" / "Command terminated by signal N"
            if line.startswith("Command terminated by signal"):
                rc = -int(line.split()[-1])
        if lines and lines[-1].strip().isdigit():
            rss = int(lines[-1])
        tf.unlink(missing_ok=True)
    return (t1 - t0) / 1e6, rc, rss, err


def calibrate(n: int = 40) -> float:
    """Median wall time of `/usr/bin/time true` minus that of `true`, both spawned alike."""
    global WRAP_MS
    if not GNU_TIME:
        return 0.0
    tf = Path(tempfile.mkdtemp(prefix="cal-", dir=SHM)) / "t"
    true = shutil.which("true") or "/bin/true"
    direct, wrapped = [], []
    for _ in range(n):
        direct.append(_spawn([true], 10, None)[0])
        wrapped.append(_spawn([true], 10, tf)[0])
    shutil.rmtree(tf.parent, ignore_errors=True)
    WRAP_MS = max(0.0, statistics.median(wrapped) - statistics.median(direct))
    return WRAP_MS


def run_once(argv: list[str], outdir: Path, timeout: float, expect: tuple[int, int | None] | None,
             wrap: bool = False, parse=None) -> Run:
    """Run argv once, time it, then check and remove outdir.

    With `parse` (a function: the tool's stdout as text -> dict), the run's stdout is kept
    in a file (on tmpfs, as the output) and what parse makes of it goes to Run.extra: issue
    10's connections and HTTP versions, from the same timed run.

    With `wrap`, under /usr/bin/time for the peak RSS (%M), not from our own wait4(): a
    child forked from this Python process would count Python's pages in its ru_maxrss
    until it execs. Timed runs are not wrapped: an intermediate process between this
    script and the tool added 20-30 ms to flags-dl's async runs at -m 194 (not to curl's,
    and not when started from a shell), so wall times come from direct spawns only.
    """
    outdir.mkdir(parents=True, exist_ok=False)
    tf = outdir.parent / "time.txt" if (GNU_TIME and wrap) else None
    extra: dict = {}
    if parse:
        with open(outdir.parent / "stdout.txt", "w+b") as outf:
            ms, rc, rss, err = _spawn(argv, timeout, tf, outf)
            outf.seek(0)
            text = outf.read().decode(errors="replace")
        try:
            extra = parse(text)
        except (ValueError, KeyError, TypeError) as e:
            extra = {"parse_error": str(e)[:200]}
    else:
        ms, rc, rss, err = _spawn(argv, timeout, tf)
    files = nbytes = 0
    for f in outdir.rglob("*.gif"):
        files += 1
        nbytes += f.stat().st_size
    shutil.rmtree(outdir, ignore_errors=True)
    # (files, None): the count only, where the bytes are the server's own (generated flags)
    ok = expect is None or (files == expect[0] and expect[1] in (None, nbytes))
    if rc < 0:
        ok = False
        err = f"killed by signal {-rc} (timeout {timeout:.0f} s?) {err}"
    return Run(ms - (WRAP_MS if tf else 0.0), rss if rss is not None else 0, rc, files, nbytes, ok, err, extra)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def fresh_dir(tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"flagsbench-{tag}-", dir=SHM)) / "out"


# --------------------------------------------------------------------------- workloads


@dataclass
class Tool:
    name: str              # label in the table
    argv: object           # function: out dir (str) -> argv list
    shown: str             # the command as shown in the table (DIR, URLS placeholders)
    strict_rc: bool = True  # exit code must be 0
    runs: list[Run] = field(default_factory=list)
    timeout: float | None = None  # per run, seconds, if not the workload's
    parse: object = None   # function: stdout text -> dict of figures for Run.extra (issue 10)

    def good(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    def median_ms(self) -> float | None:
        g = self.good()
        return statistics.median(r.ms for r in g) if g else None

    def median_rss_mb(self) -> float | None:
        g = [r for r in self.good() if r.rss_kb]
        return statistics.median(r.rss_kb for r in g) / 1024 if g else None

    def max_rss_mb(self) -> float | None:
        g = [r for r in self.good() if r.rss_kb]
        return max(r.rss_kb for r in g) / 1024 if g else None


@dataclass
class Workload:
    key: str
    title: str
    tools: list[Tool]
    expect: tuple[int, int | None]  # (files, bytes) each run must save; bytes None: not checked
    server: str                     # checked before each round; "" for the embedded server
    floor_ms: float | None = None  # for the delay workload
    timeout: float | None = None   # per run, seconds, if not the command line's
    rss: bool = True               # repeat each run under /usr/bin/time for its peak RSS
    probe: object = None           # Probe: figures taken around each run (issue 9)


def server_up(url: str) -> bool:
    """Whether something listens at the URL's host:port (a TCP connect, no request)."""
    hostport = url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def round_robin(w: Workload, runs: int, warmup: int, timeout: float, log) -> None:
    n = len(w.tools)
    for r in range(warmup + runs):
        if w.server and not server_up(w.server):
            raise SystemExit(f"bench_peers: the server of {w.key} ({w.server}) is gone: stopping")
        order = [w.tools[(i + r) % n] for i in range(n)]
        for t in order:
            before = w.probe.before() if w.probe else None
            res = run_once(t.argv(str(d := fresh_dir(w.key))), d, t.timeout or w.timeout or timeout, w.expect,
                           parse=t.parse)
            if w.probe:
                res.extra.update(w.probe.after(before))
            shutil.rmtree(d.parent, ignore_errors=True)
            if GNU_TIME and w.rss:
                # The same run again under /usr/bin/time, for its peak RSS only.
                mem = run_once(t.argv(str(d := fresh_dir(w.key))), d, timeout, w.expect, wrap=True)
                shutil.rmtree(d.parent, ignore_errors=True)
                res.rss_kb, res.ok = mem.rss_kb, res.ok and mem.ok
            if t.strict_rc and res.rc != 0:
                res.ok = False
            if r >= warmup:
                t.runs.append(res)
            tag = "warm-up" if r < warmup else f"run {r - warmup + 1}/{runs}"
            extra = "".join(f"  {k} {v}" for k, v in res.extra.items())
            log(f"  [{w.key}] {tag:<9} {t.name:<34} {res.ms:9.1f} ms  rss {res.rss_kb / 1024:6.1f} MB"
                f"  rc {res.rc:<3} files {res.files}{extra}{'' if res.ok else '  <-- NOT OK'}")
            if not res.ok and res.err:
                log("      stderr: " + res.err.replace("\n", "\n      ")[:600])


# --------------------------------------------------------------------------- issue 9's probes


def tcp_counters() -> dict[str, int]:
    """TcpExt ListenOverflows, ListenDrops and TCPSynRetrans from /proc/net/netstat ({} if
    unreadable). ListenDrops counts every handshake a listening socket dropped, a full
    queue's (ListenOverflows) among them."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], vals.split()[1:]))
            return {k: int(d[k]) for k in ("ListenOverflows", "ListenDrops", "TCPSynRetrans") if k in d}
    return {}


# Straight to the loopback server: no proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str) -> dict:
    with _DIRECT.open(url, timeout=10) as r:
        return json.loads(r.read())


class Probe:
    """Figures taken around one run: the kernel's TCP counters, and a server's own.

    With stats_root, the server's /__reset is asked before the run and its /__stats after
    it (ratelimit_server.py, slow_server.py), and the stats named in `fields` are kept."""

    def __init__(self, stats_root: str | None = None,
                 fields: tuple[str, ...] = ("refused", "served", "max_in_flight")) -> None:
        self.root = stats_root  # http://127.0.0.1:PORT, or None
        self.fields = fields

    def before(self) -> dict[str, int]:
        if self.root:
            get_json(self.root + "/__reset")  # the run's refused requests are its own
        return tcp_counters()

    def after(self, before: dict[str, int]) -> dict[str, int]:
        now = tcp_counters()
        out: dict[str, int] = {}
        if self.root:
            st = get_json(self.root + "/__stats")
            out.update({k: st.get(k, 0) for k in self.fields})
        if "ListenOverflows" in now and "ListenOverflows" in before:
            out["listen_drops"] = now["ListenOverflows"] - before["ListenOverflows"]
        if "ListenDrops" in now and "ListenDrops" in before:
            out["listen_drops_all"] = now["ListenDrops"] - before["ListenDrops"]
        if "TCPSynRetrans" in now and "TCPSynRetrans" in before:
            out["syn_retrans"] = now["TCPSynRetrans"] - before["TCPSynRetrans"]
        return out


# --------------------------------------------------------------------------- printing


def fmt(x: float | None, nd: int = 1) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def table(w: Workload, ref: Tool) -> list[str]:
    ref_ms = ref.median_ms()
    floor = w.floor_ms
    head = "| tool | median ms | min–max ms | × flags-dl time |"
    sep = "|---|---:|---:|---:|"
    if floor:
        head += " × floor (500 ms) |"
        sep += "---:|"
    head += " peak RSS MB (median / max) | good runs | exit codes | command |"
    sep += "---:|---:|---|---|"
    out = [head, sep]
    for t in w.tools:
        m = t.median_ms()
        g = t.good()
        rng = f"{min(r.ms for r in g):.1f}–{max(r.ms for r in g):.1f}" if g else "n/a"
        ratio = fmt(m / ref_ms, 2) if (m and ref_ms) else "n/a"
        row = f"| {t.name} | {fmt(m)} | {rng} | {ratio} |"
        if floor:
            row += f" {fmt(m / floor if m else None, 3)} |"
        rcs = ",".join(str(c) for c in sorted({r.rc for r in t.runs}))
        bad = [r for r in t.runs if not r.ok]
        goodn = f"{len(g)}/{len(t.runs)}"
        if bad:
            goodn += f" (bad: files {sorted({r.files for r in bad})})"
        row += f" {fmt(t.median_rss_mb())} / {fmt(t.max_rss_mb())} | {goodn} | {rcs} | `{t.shown}` |"
        out.append(row)
    return out


def table9(w: Workload) -> list[str]:
    """Issue 9's tables: every run counts for time (complete or not); flags saved and probes shown."""
    keys = [k for k in ("refused", "max_in_flight", "listen_drops", "syn_retrans")
            if any(k in r.extra for t in w.tools for r in t.runs)]
    names = {"refused": "refused (429)", "max_in_flight": "most in flight (server)",
             "listen_drops": "listen drops", "syn_retrans": "SYN, SYN-ACK retransmits"}
    head = "| tool | median ms | min–max ms | flags saved (min–max) | complete runs |"
    sep = "|---|---:|---:|---:|---:|"
    for k in keys:
        head += f" {names[k]} (median, max) |"
        sep += "---:|"
    out = [head + " exit codes | command |", sep + "---|---|"]
    for t in w.tools:
        rs = t.runs
        if not rs:
            continue
        ms = [r.ms for r in rs]
        row = (f"| {t.name} | {statistics.median(ms):.1f} | {min(ms):.1f}–{max(ms):.1f} | "
               f"{min(r.files for r in rs)}–{max(r.files for r in rs)} | {len(t.good())}/{len(rs)} |")
        for k in keys:
            v = [r.extra[k] for r in rs if k in r.extra]
            row += f" {fmt(statistics.median(v), 0) if v else 'n/a'}, {max(v) if v else 'n/a'} |"
        rcs = ",".join(str(c) for c in sorted({r.rc for r in rs}))
        out.append(row + f" {rcs} | `{t.shown}` |")
    return out


def _conns(t: Tool) -> list[int]:
    return [r.extra["connections"] for r in t.runs if isinstance(r.extra.get("connections"), int)]


def table10(w: Workload) -> list[str]:
    """Issue 10's tables: time, flags saved, connections opened and the HTTP version used."""
    ref = w.tools[0].median_ms()
    out = ["| tool | median ms | min–max ms | × flags-dl time | flags saved (min–max) | good runs | "
           "connections (median, min–max) | HTTP | exit codes | command |",
           "|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for t in w.tools:
        rs = t.runs
        if not rs:
            continue
        m = t.median_ms()
        g = t.good()
        rng = f"{min(r.ms for r in g):.1f}–{max(r.ms for r in g):.1f}" if g else "n/a"
        ratio = fmt(m / ref, 2) if (m and ref) else "n/a"
        c = _conns(t)
        conns = f"{statistics.median(c):.0f}, {min(c)}–{max(c)}" if c else "n/a"
        http = ",".join(sorted({str(r.extra.get("http", "?")) for r in rs}))
        rcs = ",".join(str(x) for x in sorted({r.rc for r in rs}))
        out.append(f"| {t.name} | {fmt(m)} | {rng} | {ratio} | {min(r.files for r in rs)}–{max(r.files for r in rs)} "
                   f"| {len(g)}/{len(rs)} | {conns} | {http} | {rcs} | `{t.shown}` |")
    return out


def summary10(w: Workload) -> str:
    """One line: each tool's median time and connections, and what HTTP/2 and reuse bought."""
    parts = []
    for t in w.tools:
        c = _conns(t)
        parts.append(f"{t.name.split(' (')[0]} {fmt(t.median_ms(), 0)} ms"
                     + (f" over {statistics.median(c):.0f} connection{'s' if statistics.median(c) != 1 else ''}"
                        if c else ""))
    by = {t.name: t.median_ms() for t in w.tools}
    h2 = next((v for k, v in by.items() if k.startswith("flags-dl") and "HTTP/2" in k), None)
    h1 = next((v for k, v in by.items() if k.startswith("flags-dl") and "--http1.1" in k), None)
    c2 = next((v for k, v in by.items() if k.startswith("curl -Z") and "HTTP/2" in k), None)
    line = f"Summary ({w.key}): " + "; ".join(parts) + "."
    if h2 and h1:
        line += f" flags-dl HTTP/1.1 / HTTP/2 = {h1 / h2:.2f}."
    if h2 and c2:
        line += f" flags-dl HTTP/2 / curl -Z HTTP/2 = {h2 / c2:.2f}."
    return line


# --------------------------------------------------------------------------- tools and data


def dataset(data: Path) -> tuple[list[str], dict[str, int], tuple[int, int], list[str], tuple[int, int]]:
    """The flags folder's codes, each flag's size, and what --all and --every must save:
    (codes, sizes, (files, bytes) of --all, the 676 pairs, (files, bytes) of --every)."""
    codes = sorted(c.lower() for c in (data / "country_codes.txt").read_text().split())
    sizes = {c: (data / c / f"{c}.gif").stat().st_size for c in codes}
    every = [x + y for x in ascii_lowercase for y in ascii_lowercase]
    found_every = [c for c in every if c in sizes]
    return (codes, sizes, (len(codes), sum(sizes.values())), every,
            (len(found_every), sum(sizes[c] for c in found_every)))


def write_url_files(folder: Path, base: str, cc: list[str], tag: str) -> tuple[str, str, list[str]]:
    """The URLs of these codes at base, as a list file (TAG.txt, one a line, for wget2 and
    aria2c) and a curl config (TAG.curl, for -K) in folder; returns both paths and the URLs."""
    urls = [f"{base}/{c}/{c}.gif" for c in cc]
    txt = folder / f"{tag}.txt"
    txt.write_text("".join(u + "\n" for u in urls))
    cfg = folder / f"{tag}.curl"
    cfg.write_text("".join(f'url = "{u}"\n' for u in urls))
    return str(txt), str(cfg), urls


# curl 7.88 still draws its progress meter under -Z with -s: --no-progress-meter stops it.
CURL = ["curl", "-s", "--no-progress-meter"]
# Per transfer: whether it opened a connection, and the HTTP version it spoke.
W_CURL = ["-w", "%{num_connects} %{http_version}\\n"]


def flags_dl_tool(bin_: str, name: str, args: list[str], shown: str, strict: bool = True) -> Tool:
    """flags-dl ARGS -o DIR; `shown` is ARGS as the table shows them."""
    return Tool(name, lambda d, args=args: [bin_, *args, "-o", d], f"flags-dl {shown} -o DIR", strict)


def flags_dl_json_tool(bin_: str, name: str, args: list[str], shown: str) -> Tool:
    """flags-dl ARGS --json -o DIR, its NDJSON read by parse_fd into each run's figures."""
    return Tool(name, lambda d, args=args: [bin_, *args, "--json", "-o", d],
                f"flags-dl {shown} --json -o DIR", parse=parse_fd)


def curl_z(n: int, cfg: str, strict: bool, immediate: bool = True, name: str | None = None, more=()) -> Tool:
    """curl -Z --parallel-max N over the URLs of a curl config; without `strict`, -f (a 404
    saves nothing, and the exit code is not checked)."""
    # bench_peers' (a)..(c) keep their names; there curl always ran with --parallel-immediate.
    imm = ["--parallel-immediate"] if immediate else []
    more = list(more)
    return Tool(name or f"curl -Z --parallel-max {n}",
                lambda d: [*CURL, "-Z", *imm, "--parallel-max", str(n), *([] if strict else ["-f"]), *more,
                           "--remote-name-all", "--output-dir", d, "-K", cfg],
                f"curl -s --no-progress-meter -Z {' '.join(imm + [''])}--parallel-max {n} {'' if strict else '-f '}"
                f"{' '.join(more + [''])}--remote-name-all --output-dir DIR -K URLS.curl", strict)


def curl_w_tool(n: int, cfg: str, name: str, ca: str, more=()) -> Tool:
    """curl -Z --parallel-max N over TLS (trusting CA), with -w: its connections and HTTP
    versions read by parse_curl into each run's figures."""
    more = list(more)
    return Tool(name, lambda d: [*CURL, *more, "-Z", "--parallel-max", str(n), "--cacert", ca, *W_CURL,
                                 "--remote-name-all", "--output-dir", d, "-K", cfg],
                f"curl -s --no-progress-meter {' '.join(more + [''])}-Z --parallel-max {n} --cacert CA.pem "
                f"-w '%{{num_connects}} %{{http_version}}\\n' --remote-name-all --output-dir DIR -K URLS.curl",
                parse=parse_curl)


def parse_fd(text: str) -> dict:
    """flags-dl's NDJSON: the summary's connections, peak_in_flight, late_connects and
    pace_lowered, and the HTTP versions its answers came in."""
    vers: set[str] = set()
    summ: dict = {}
    for line in text.splitlines():
        if line.strip():
            o = json.loads(line)
            if "summary" in o:
                summ = o["summary"]
            elif o.get("http_version"):
                vers.add(o["http_version"])
    return {"connections": summ.get("connections"), "http": "+".join(sorted(vers)) or "none",
            "peak_in_flight": summ.get("peak_in_flight"), "late_connects": summ.get("late_connects"),
            "pace_lowered": summ.get("pace_lowered")}


def parse_curl(text: str) -> dict:
    """curl's -w lines (W_CURL): connections opened in all, and the HTTP versions spoken."""
    conns, vers = 0, set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            conns += int(parts[0])
            vers.add(parts[1])
    return {"connections": conns, "http": "+".join(sorted(vers)) or "none"}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the flags-dl binary")
    ap.add_argument("--nginx", required=True, help="base URL of nginx: http://127.0.0.1:PORT/flags")
    ap.add_argument("--delay", help="base URL of a server with a fixed 0.5 s delay")
    ap.add_argument("--httpserver", help="(h) base URL of `python3 -m http.server`: http://127.0.0.1:PORT/flags")
    ap.add_argument("--slow", help="(i) base URL of scripts/slow_server.py")
    ap.add_argument("--ratelimit", help="(j) base URL of scripts/ratelimit_server.py (its /__stats is read)")
    ap.add_argument("--tls-nginx", help="(k) base URL of nginx with TLS and HTTP/2: https://localhost:PORT/flags")
    ap.add_argument("--cacert", help="(k), (l) the CA (PEM) that signed the TLS servers' certificate")
    ap.add_argument("--latency-proxy", help="(l) base URL of scripts/latency_proxy.py in front of --tls-nginx")
    ap.add_argument("--curl-immediate", action="store_true",
                    help="(h) also time curl -Z --parallel-immediate (30-110 s a run, and it loses flags)")
    ap.add_argument("--data", required=True, help="the flags folder (country_codes.txt, <cc>/<cc>.gif)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--startup-runs", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=60, help="seconds, per run")
    ap.add_argument("--only", default="abcdefghijkl", help="workload letters to run, e.g. abe")
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--markdown", help="write the Markdown report here too")
    a = ap.parse_args()
    if a.runs < 1 or a.warmup < 0 or a.startup_runs < 1:
        ap.error("--runs and --startup-runs must be at least 1, --warmup at least 0")
    if (a.tls_nginx or a.latency_proxy) and not a.cacert:
        ap.error("--tls-nginx and --latency-proxy need --cacert (the CA of their certificate)")

    # SIGTERM ends us as Ctrl-C does, so the tool running in its own session is ended too.
    signal.signal(signal.SIGTERM, _interrupted)
    bin_ = str(Path(a.bin).resolve())
    data = Path(a.data)
    codes, sizes, expect_all, every, expect_every = dataset(data)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    lists = Path(tempfile.mkdtemp(prefix="flagsbench-lists-", dir=SHM))
    report: list[str] = []
    results: dict = {"runs": a.runs, "warmup": a.warmup, "workloads": {}}

    def out(line: str = "") -> None:
        report.append(line)
        print(line, flush=True)

    def url_files(base: str, cc: list[str], tag: str) -> tuple[str, str, list[str]]:
        return write_url_files(lists, base, cc, tag)

    def fd(name, args, shown, strict=True):
        return flags_dl_tool(bin_, name, args, shown, strict)

    # With `ca`, over TLS: wget2 speaks HTTP/2 by ALPN as curl does; aria2c speaks HTTP/1.1
    # only, one connection per download (-x1), so it pays a handshake for each of its -j.
    def wget2(n, txt, strict, ca=None):
        trust = ["--ca-certificate", ca] if ca else []
        return Tool(f"wget2 --max-threads {n}",
                    lambda d: ["wget2", "--max-threads", str(n), *trust, "-q", "-i", txt, "-P", d],
                    f"wget2 --max-threads {n} {'--ca-certificate CA.pem ' if ca else ''}-q -i URLS.txt -P DIR",
                    strict)

    def aria2(n, txt, strict, ca=None):
        trust = ["--ca-certificate", ca] if ca else []
        return Tool(f"aria2c -j {n}",
                    lambda d: ["aria2c", "-j", str(n), "-x1", *trust, "-i", txt, "-d", d, "-q", "--allow-overwrite"],
                    f"aria2c -j {n} -x1 {'--ca-certificate CA.pem ' if ca else ''}-i URLS.txt -d DIR -q "
                    "--allow-overwrite", strict)

    def xargs(p, count, txt, strict):
        per = -(-count // p)  # enough curls to keep p of them busy
        f = [] if strict else ["-f"]
        return Tool(f"xargs -P {p} -n {per} curl",
                    lambda d: ["sh", "-c", f'exec xargs -P {p} -n {per} curl -s {" ".join(f)} --remote-name-all '
                               f'--output-dir "$1" < "$2"', "sh", d, txt],
                    f"xargs -P {p} -n {per} curl -s {'' if strict else '-f '}--remote-name-all --output-dir DIR < URLS.txt",
                    strict)

    have = {t: shutil.which(t) is not None for t in ("curl", "wget2", "aria2c", "xargs", "hyperfine")}

    def peers(tools: list[Tool]) -> list[Tool]:
        return [t for t in tools if t.name.startswith("flags-dl") or have.get(t.name.split()[0].rstrip(","), False)]

    workloads: list[Workload] = []
    N = a.nginx
    if "a" in a.only:
        txt, cfg, _ = url_files(N, codes, "all")
        workloads.append(Workload("a", "(a) 194 flags from nginx, no delay", peers([
            fd("flags-dl --all -m 50", ["--all", "-m", "50", "-s", N], "--all -m 50 -s $NGINX"),
            fd("flags-dl --all -m 20", ["--all", "-m", "20", "-s", N], "--all -m 20 -s $NGINX"),
            fd("flags-dl --all -m 194", ["--all", "-m", "194", "-s", N], "--all -m 194 -s $NGINX"),
            curl_z(50, cfg, True), curl_z(20, cfg, True), wget2(50, txt, True), wget2(20, txt, True),
            aria2(50, txt, True), xargs(50, len(codes), txt, True),
        ]), expect_all, N))
    if "b" in a.only or "g" in a.only:
        txt, cfg, _ = url_files(N, every, "every")
        workloads.append(Workload("b", "(b)+(g) --every: 676 URLs from nginx, 482 of them 404", peers([
            fd("flags-dl --every -m 200", ["--every", "-m", "200", "-s", N], "--every -m 200 -s $NGINX"),
            fd("flags-dl --every -m 16", ["--every", "-m", "16", "-s", N], "--every -m 16 -s $NGINX"),
            fd("flags-dl --every -m 50", ["--every", "-m", "50", "-s", N], "--every -m 50 -s $NGINX"),
            curl_z(200, cfg, False), curl_z(50, cfg, False), wget2(200, txt, False), wget2(20, txt, False),
            aria2(200, txt, False),
            xargs(200, len(every), txt, False),
        ]), expect_every, N))
    if "c" in a.only:
        if a.delay:
            txt, cfg, _ = url_files(a.delay, codes, "delay")
            workloads.append(Workload("c", "(c) 194 flags from a server with a fixed 0.5 s delay", peers([
                fd("flags-dl --all -m 1000", ["--all", "-m", "1000", "-s", a.delay], "--all -m 1000 -s $DELAY"),
                curl_z(1000, cfg, True), aria2(1000, txt, True), wget2(194, txt, True),
            ]), expect_all, a.delay, floor_ms=500.0))
        else:
            log("(c) skipped: no delay server (--delay)")
    if "d" in a.only:
        _, _, urls = url_files(N, codes, "seq")
        workloads.append(Workload("d", "(d) sequential: 194 flags from nginx, one request at a time", peers([
            fd("flags-dl --all --mode sequential", ["--all", "--mode", "sequential", "-s", N],
               "--all --mode sequential -s $NGINX"),
            Tool("curl, 194 URLs, serial", lambda d: [*CURL, "--remote-name-all", "--output-dir", d, *urls],
                 "curl -s --remote-name-all --output-dir DIR URL1 ... URL194"),
        ]), expect_all, N))
    if "e" in a.only:
        workloads.append(Workload("e", "(e) threads vs async at -m 30, 194 flags from nginx", [
            fd("flags-dl --all -m 30 (async)", ["--all", "-m", "30", "-s", N], "--all -m 30 -s $NGINX"),
            fd("flags-dl --all --mode threads -m 30", ["--all", "--mode", "threads", "-m", "30", "-s", N],
               "--all --mode threads -m 30 -s $NGINX"),
        ], expect_all, N))

    # Issue 9: the servers of the book (5 pending connections, HTTP/1.0) and a rate limit.
    if "h" in a.only:
        if a.httpserver:
            H = a.httpserver
            _, cfg, _ = url_files(H, codes, "httpserver")
            workloads.append(Workload("h", "(h) 194 flags from `python3 -m http.server` (listen queue of 5, HTTP/1.0)", [
                fd("flags-dl --all -m 100 (async)", ["--all", "-m", "100", "-s", H], "--all -m 100 -s $HTTPSERVER"),
                fd("flags-dl --all -m 1000", ["--all", "-m", "1000", "-s", H], "--all -m 1000 -s $HTTPSERVER"),
                fd("flags-dl --all --mode threads -m 100", ["--all", "--mode", "threads", "-m", "100", "-s", H],
                   "--all --mode threads -m 100 -s $HTTPSERVER"),
                # Without --parallel-immediate, curl waits for each connection's answer before
                # it opens another: against HTTP/1.0 it is close to a sequential client.
                curl_z(100, cfg, True, immediate=False, name="curl -Z --parallel-max 100"),
                fd("flags-dl --all --mode sequential", ["--all", "--mode", "sequential", "-s", H],
                   "--all --mode sequential -s $HTTPSERVER"),
                # Opt-in: 30-110 s a run here, and it loses flags (exit 56, connections reset).
                *([curl_z(100, cfg, True, name="curl -Z --parallel-immediate --parallel-max 100")]
                  if a.curl_immediate else []),
            ], expect_all, H, timeout=max(a.timeout, 150), rss=False, probe=Probe()))
        else:
            log("(h) skipped: no `python3 -m http.server` (--httpserver)")
    if "i" in a.only:
        if a.slow:
            _, cfg, _ = url_files(a.slow, codes, "slow")
            workloads.append(Workload("i", "(i) 194 flags from slow_server.py (0.5–5 s per GET, listen queue of 5)", [
                fd("flags-dl --all -m 200", ["--all", "-m", "200", "-s", a.slow], "--all -m 200 -s $SLOW"),
                # Shown for what it does here, not as a reference: it waits for each answer
                # before it opens the next connection (0.5-5 s each), so it would need
                # minutes; it is stopped after 30 s and the table shows how many it saved.
                _capped(curl_z(200, cfg, True, immediate=False, name="curl -Z --parallel-max 200 (stopped at 30 s)"),
                        30.0),
            ], expect_all, a.slow, timeout=max(a.timeout, 60), rss=False, probe=Probe()))
        else:
            log("(i) skipped: no slow_server.py (--slow)")
    if "j" in a.only:
        if a.ratelimit:
            R = a.ratelimit
            _, cfg, _ = url_files(R, codes, "ratelimit")
            root = R.split("//", 1)[0] + "//" + R.split("//", 1)[1].split("/", 1)[0]
            get_json(root + "/__stats")  # fails now, not mid-run, if it is not the rate-limit server
            workloads.append(Workload("j", "(j) 194 flags from ratelimit_server.py: 50 requests/s, then 429 + "
                                      "Retry-After: 1", [
                fd("flags-dl --all -m 100 (defaults)", ["--all", "-m", "100", "-s", R], "--all -m 100 -s $RATELIMIT"),
                fd("flags-dl --all --mode threads -m 100", ["--all", "--mode", "threads", "-m", "100", "-s", R],
                   "--all --mode threads -m 100 -s $RATELIMIT"),
                # curl retries a 429 after its Retry-After: the same run as a peer would do it.
                curl_z(100, cfg, True, immediate=False, name="curl -Z --parallel-max 100 --retry 10",
                       more=["--retry", "10"]),
            ], expect_all, R, timeout=max(a.timeout, 120), rss=False, probe=Probe(root)))
        else:
            log("(j) skipped: no rate-limit server (--ratelimit)")

    # Issue 10: TLS and HTTP/2 (k), and through a 50 ms round trip (l). flags-dl runs with
    # --json, so the timed run itself gives the summary's `connections` and each code's
    # http_version; curl's -w gives num_connects (new connections) and the HTTP version
    # of each transfer. Neither costs a measurable time (194 short lines).
    CA = a.cacert

    def fd10(name, args, base, shown):
        return flags_dl_json_tool(bin_, name, ["-s", base, "--cacert", CA, *args],
                                  f"-s {shown} --cacert CA.pem {' '.join(args)}")

    def curl10(n, cfg, name, more=()):
        return curl_w_tool(n, cfg, name, CA, more)

    if "k" in a.only:
        if a.tls_nginx:
            T = a.tls_nginx
            txt, cfg, _ = url_files(T, codes, "tls")
            workloads.append(Workload("k", "(k) 194 flags from nginx with TLS and HTTP/2, on loopback", [
                fd10("flags-dl --all -m 50 (async, HTTP/2)", ["--all", "-m", "50"], T, "$TLS_NGINX"),
                fd10("flags-dl --all -m 50 --http1.1", ["--all", "-m", "50", "--http1.1"], T, "$TLS_NGINX"),
                fd10("flags-dl --all --mode threads -m 50", ["--all", "--mode", "threads", "-m", "50"], T,
                     "$TLS_NGINX"),
                curl10(50, cfg, "curl -Z --parallel-max 50 (HTTP/2)"),
                curl10(50, cfg, "curl --http1.1 -Z --parallel-max 50", ["--http1.1"]),
                fd10("flags-dl --all -m 100 (async, HTTP/2)", ["--all", "-m", "100"], T, "$TLS_NGINX"),
                curl10(100, cfg, "curl -Z --parallel-max 100 (HTTP/2)"),
                *peers([wget2(100, txt, True, CA), aria2(100, txt, True, CA)]),
            ], expect_all, T, rss=False))
        else:
            log("(k) skipped: no nginx with TLS (--tls-nginx)")
    if "l" in a.only:
        if a.latency_proxy:
            L = a.latency_proxy
            txt, cfg, urls = url_files(L, codes, "latency")
            workloads.append(Workload("l", "(l) 194 flags from nginx with TLS and HTTP/2 through a 50 ms round trip "
                                      "(latency_proxy.py, 25 ms each way)", [
                fd10("flags-dl --all -m 100 (async, HTTP/2)", ["--all", "-m", "100"], L, "$LATENCY"),
                fd10("flags-dl --all -m 100 --http1.1", ["--all", "-m", "100", "--http1.1"], L, "$LATENCY"),
                fd10("flags-dl --all --mode threads -m 100", ["--all", "--mode", "threads", "-m", "100"], L,
                     "$LATENCY"),
                fd10("flags-dl --all --mode sequential", ["--all", "--mode", "sequential"], L, "$LATENCY"),
                curl10(100, cfg, "curl -Z --parallel-max 100 (HTTP/2)"),
                Tool("curl, 194 URLs, serial", lambda d: [*CURL, "--cacert", CA, *W_CURL, "--remote-name-all",
                                                         "--output-dir", d, *urls],
                     "curl -s --cacert CA.pem -w '%{num_connects} %{http_version}\\n' --remote-name-all "
                     "--output-dir DIR URL1 ... URL194", parse=parse_curl),
                *peers([wget2(100, txt, True, CA), aria2(100, txt, True, CA)]),
            ], expect_all, L, timeout=max(a.timeout, 90), rss=False))
        else:
            log("(l) skipped: no latency proxy (--latency-proxy)")

    t_start = time.time()
    wrap = calibrate()
    log(f"/usr/bin/time adds {wrap:.2f} ms of wall time per run; subtracted" if GNU_TIME
        else "no /usr/bin/time: peak RSS not measured")
    loads: dict[str, str] = {}
    for w in workloads:
        loads[w.key] = _load()
        log(f"{w.title}: {len(w.tools)} tools x {a.runs} runs (+{a.warmup} warm-up), load {loads[w.key]}")
        round_robin(w, a.runs, a.warmup, a.timeout, log)

    # (f) start-up: hyperfine if present, else our own loop.
    startup: dict[str, dict] = {}
    if "f" in a.only:
        one = SHM / f"flagsbench-one-{os.getpid()}"
        cmds = {"flags-dl --version": [bin_, "--version"],
                "flags-dl BR -s $NGINX -o DIR": [bin_, "BR", "-s", N, "-o", str(one)]}
        loads["f"] = _load()
        log(f"(f) start-up: {a.startup_runs} runs each, load {loads['f']}")
        if have["hyperfine"]:
            js = lists / "startup.json"
            subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", str(a.startup_runs), "--style", "none",
                            "--export-json", str(js), *[" ".join(_q(x) for x in v) for v in cmds.values()]],
                           check=True, stdout=subprocess.DEVNULL, timeout=300)
            for name, res in zip(cmds, json.loads(js.read_text())["results"]):
                startup[name] = {"median_ms": res["median"] * 1e3, "min_ms": res["min"] * 1e3,
                                 "max_ms": res["max"] * 1e3, "how": "hyperfine -N --warmup 3"}
        else:
            for name, argv in cmds.items():
                times = []
                for i in range(3 + a.startup_runs):
                    t0 = time.perf_counter_ns()
                    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
                    if i >= 3:
                        times.append((time.perf_counter_ns() - t0) / 1e6)
                startup[name] = {"median_ms": statistics.median(times), "min_ms": min(times),
                                 "max_ms": max(times), "how": "perf_counter around subprocess.run"}
        # the one-flag run must have saved br.gif
        ok = (one / "br.gif").is_file() and (one / "br.gif").stat().st_size == sizes.get("br")
        startup["flags-dl BR -s $NGINX -o DIR"]["saved_br"] = ok
        shutil.rmtree(one, ignore_errors=True)

    log(f"done in {time.time() - t_start:.0f} s, load {_load()}")

    # ---------------------------------------------------------------- the report
    byk = {w.key: w for w in workloads}
    out(f"Runs: median of {a.runs} timed runs per tool (after {a.warmup} warm-up round), tools in alternation "
        f"(round-robin), each run into a fresh folder on {SHM.parent} (tmpfs), removed after it. Wall time: "
        f"perf_counter_ns around the tool spawned directly; peak RSS: GNU time's %M (max RSS, KB, shown in MB) "
        f"from the same run repeated under `/usr/bin/time -f %M`.")
    out("`× flags-dl time` = tool's median / flags-dl's median (above 1: flags-dl is faster). "
        "A run is good if it saved exactly the expected .gif files (count and bytes).")
    for w in workloads:
        out()
        out(f"#### {w.title}")
        out()
        out(f"Load average (1, 5, 15 min) as it started: {loads[w.key]}.")
        out()
        for line in (table9(w) if w.key in "hij" else table10(w) if w.key in "kl" else table(w, w.tools[0])):
            out(line)
        results["workloads"][w.key] = {
            "title": w.title,
            "tools": {t.name: {"command": t.shown, "runs": [r.__dict__ for r in t.runs]} for t in w.tools}}
        if w.key == "a":
            fds = [t for t in w.tools if t.name.startswith("flags-dl") and t.median_ms()]
            if fds:
                best = min(fds, key=lambda t: t.median_ms())
                out()
                out(f"Best flags-dl setting here: `{best.name}` ({best.median_ms():.1f} ms).")
        if w.key == "c":
            capped = [t.name for t in w.tools if (t.median_ms() or 0) >= 2 * w.floor_ms]
            out()
            out("A tool that ran fewer than 194 requests at once needs at least two delays (≥ 1000 ms): "
                + (f"that is the case of {', '.join(capped)}." if capped else
                   "none did, so curl took --parallel-max 1000 (some curl versions cap it at 300 or fall "
                   "back to 50) and aria2c took -j 1000."))
        if w.key in "kl":
            out()
            out(summary10(w))
        if w.key == "b":
            out()
            out("Note: for xargs the peak RSS is that of the largest single process (xargs or one curl), "
                "not their sum.")
    if startup:
        out()
        out("#### (f) Start-up")
        out()
        out(f"Load average (1, 5, 15 min) as it started: {loads['f']}.")
        out()
        out("| command | median ms | min–max ms | how |")
        out("|---|---:|---:|---|")
        for name, s in startup.items():
            extra = "" if s.get("saved_br", True) else " (br.gif NOT saved!)"
            out(f"| `{name}` | {s['median_ms']:.2f} | {s['min_ms']:.2f}–{s['max_ms']:.2f} | "
                f"{s['how']}, {a.startup_runs} runs{extra} |")
        results["startup"] = startup

    # ---------------------------------------------------------------- targets
    def med(key: str, prefix: str) -> tuple[float | None, Tool | None]:
        w = byk.get(key)
        if not w:
            return None, None
        for t in w.tools:
            if t.name.startswith(prefix):
                return t.median_ms(), t
        return None, None

    rows = []

    def target(n: str, what: str, ok: bool | None, detail: str) -> None:
        rows.append(f"| {n} | {what} | {'n/a' if ok is None else ('PASS' if ok else 'FAIL')} | {detail} |")

    def best(key: str, prefix: str) -> Tool | None:
        """The fastest row of a workload whose name starts with prefix."""
        w = byk.get(key)
        rows_ = [t for t in w.tools if t.name.startswith(prefix) and t.median_ms()] if w else []
        return min(rows_, key=lambda t: t.median_ms()) if rows_ else None

    # Each tool at its best concurrency (the rule): the fastest row of each.
    # wget2 --max-threads N still fetches one host over one connection, so its rows
    # differ little; flags-dl and curl open N connections, which costs on loopback.
    for key, label in (("a", "194"), ("b", "every")):
        f, c, w = best(key, "flags-dl"), best(key, "curl -Z"), best(key, "wget2")
        what = f"{label}: flags-dl ≤ 0.8 × curl -Z and ≤ wget2, each at its best"
        if None in (f, c, w):
            target(f"1{key}", what, None, "not measured")
        else:
            fm, cm, wm = f.median_ms(), c.median_ms(), w.median_ms()
            target(f"1{key}", what, fm <= 0.8 * cm and fm <= wm,
                   f"`{f.name}` {fm:.1f} ms; `{c.name}` {cm:.1f} ms (× 0.8 = {0.8 * cm:.1f}); "
                   f"`{w.name}` {wm:.1f} ms; flags-dl/curl = {fm / cm:.2f}, flags-dl/wget2 = {fm / wm:.2f}")
    _, tf = med("b", "flags-dl --every -m 200")
    _, tc = med("b", "curl -Z --parallel-max 200")
    if tf and tc and tf.median_rss_mb() and tc.median_rss_mb():
        target("2", "peak RSS, every -m 200: flags-dl ≤ curl -Z 200", tf.median_rss_mb() <= tc.median_rss_mb(),
               f"flags-dl {tf.median_rss_mb():.1f} MB (max {tf.max_rss_mb():.1f}) vs curl "
               f"{tc.median_rss_mb():.1f} MB (max {tc.max_rss_mb():.1f})")
    else:
        target("2", "peak RSS, every -m 200: flags-dl ≤ curl -Z 200", None, "not measured")
    d_ms, _ = med("c", "flags-dl")
    target("3", "delay run ≤ 1.05 × 0.5 s", None if d_ms is None else d_ms <= 525,
           "not measured" if d_ms is None else f"{d_ms:.1f} ms = {d_ms / 500:.3f} × floor")
    s_ms, _ = med("d", "flags-dl")
    cs_ms, _ = med("d", "curl")
    target("4", "sequential ≤ 1.1 × curl sequential", None if None in (s_ms, cs_ms) else s_ms <= 1.1 * cs_ms,
           "not measured" if None in (s_ms, cs_ms) else
           f"{s_ms:.1f} ms vs 1.1 × {cs_ms:.1f} = {1.1 * cs_ms:.1f} ms (ratio {s_ms / cs_ms:.2f})")
    as_ms, _ = med("e", "flags-dl --all -m 30")
    th_ms, _ = med("e", "flags-dl --all --mode threads")
    target("5", "threads -m 30 ≤ 1.5 × async -m 30", None if None in (as_ms, th_ms) else th_ms <= 1.5 * as_ms,
           "not measured" if None in (as_ms, th_ms) else
           f"threads {th_ms:.1f} ms vs async {as_ms:.1f} ms (ratio {th_ms / as_ms:.2f})")
    if startup:
        v = startup["flags-dl --version"]["median_ms"]
        o = startup["flags-dl BR -s $NGINX -o DIR"]["median_ms"]
        okb = startup["flags-dl BR -s $NGINX -o DIR"].get("saved_br", False)
        target("6", "--version ≤ 10 ms and one flag ≤ 15 ms", v <= 10 and o <= 15 and okb,
               f"--version {v:.2f} ms; BR {o:.2f} ms" + ("" if okb else " (br.gif not saved)"))
    else:
        target("6", "--version ≤ 10 ms and one flag ≤ 15 ms", None, "not measured")
    if any(k in byk for k in "abcde") or startup:
        out()
        out("#### Targets (issue 6)")
        out()
        out("| # | target | result | numbers (medians) |")
        out("|---|---|---|---|")
        for r in rows:
            out(r)

    # Issue 9: every run complete (every flag), and medians over all runs.
    rows9: list[str] = []

    def target9(n: str, what: str, ok: bool | None, detail: str) -> None:
        rows9.append(f"| {n} | {what} | {'n/a' if ok is None else ('PASS' if ok else 'FAIL')} | {detail} |")

    def tool(key: str, name: str) -> Tool | None:
        w = byk.get(key)
        return next((t for t in w.tools if t.name == name and t.runs), None) if w else None

    def all_ms(t: Tool) -> float:
        return statistics.median(r.ms for r in t.runs)

    def complete(t: Tool) -> tuple[bool, str]:
        return len(t.good()) == len(t.runs), f"{len(t.good())}/{len(t.runs)} runs complete"

    curl_h = tool("h", "curl -Z --parallel-max 100")
    for n, name, factor in (("9h1", "flags-dl --all -m 100 (async)", 1.0), ("9h2", "flags-dl --all -m 1000", 2.0),
                            ("9h3", "flags-dl --all --mode threads -m 100", 2.0)):
        what = (f"http.server: `{name}` gets every flag, "
                + ("no slower than curl -Z --parallel-max 100" if factor == 1 else "within 2 × curl -Z's time"))
        t = tool("h", name)
        if not (t and curl_h):
            target9(n, what, None, "not measured")
            continue
        okc, c = complete(t)
        fm, cm = all_ms(t), all_ms(curl_h)
        target9(n, what, okc and fm <= factor * cm,
                f"{fm:.1f} ms vs curl {cm:.1f} ms{f' (× {factor:.0f} = {factor * cm:.1f})' if factor != 1 else ''}, "
                f"ratio {fm / cm:.2f}; {c}")
    t = tool("i", "flags-dl --all -m 200")
    what = "slow_server.py, `-m 200`: every flag within 6 s"
    if t:
        okc, c = complete(t)
        target9("9i", what, okc and all_ms(t) <= 6000, f"{all_ms(t):.1f} ms; {c}")
    else:
        target9("9i", what, None, "not measured")
    t = tool("j", "flags-dl --all -m 100 (defaults)")
    what = "50 requests/s, defaults at `-m 100`: every flag, ≤ 4.5 s, ≤ 40 refused"
    if t:
        okc, c = complete(t)
        ref = [r.extra.get("refused", 0) for r in t.runs]
        target9("9j", what, okc and all_ms(t) <= 4500 and statistics.median(ref) <= 40,
                f"{all_ms(t):.1f} ms; refused {statistics.median(ref):.0f} (max {max(ref)}); "
                f"flags {min(r.files for r in t.runs)}–{max(r.files for r in t.runs)}; {c}")
    else:
        target9("9j", what, None, "not measured")
    if any(k in byk for k in "hij"):
        out()
        out("#### Targets (issue 9)")
        out()
        out("Medians over every run, complete or not; \"every flag\" means every run saved all 194.")
        out()
        out("| # | target | result | numbers (medians) |")
        out("|---|---|---|---|")
        for r in rows9:
            out(r)

    # Issue 10: flags-dl async over HTTP/2 against curl -Z over HTTP/2.
    rows10: list[str] = []
    for key, name, cname, factor, cap in (
            ("k", "flags-dl --all -m 100 (async, HTTP/2)", "curl -Z --parallel-max 100 (HTTP/2)", 0.8, None),
            ("l", "flags-dl --all -m 100 (async, HTTP/2)", "curl -Z --parallel-max 100 (HTTP/2)", 0.75, 220.0)):
        if key not in byk:
            continue
        what = (f"({key}) `{name}` ≤ {factor} × `{cname}`" + (f" and ≤ {cap:.0f} ms" if cap else "")
                + ("; the floor is about 3 round trips plus the transfer, about 170 ms, so 0.75 × curl "
                   "is reachable only where curl is 1.3 × the floor or slower" if key == "l" else ""))
        t, c = tool(key, name), tool(key, cname)
        if not (t and c and t.median_ms() and c.median_ms()):
            rows10.append(f"| 10{key} | {what} | n/a | not measured (or no good run) |")
            continue
        fm, cm = t.median_ms(), c.median_ms()
        ok = fm <= factor * cm and (cap is None or fm <= cap) and len(t.good()) == len(t.runs)
        rows10.append(f"| 10{key} | {what} | {'PASS' if ok else 'FAIL'} | {fm:.1f} ms vs curl {cm:.1f} ms "
                      f"(× {factor} = {factor * cm:.1f}), ratio {fm / cm:.2f}; {len(t.good())}/{len(t.runs)} good |")
    if rows10:
        out()
        out("#### Targets (issue 10)")
        out()
        out("| # | target | result | numbers (medians of good runs) |")
        out("|---|---|---|---|")
        for r in rows10:
            out(r)

    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    if a.markdown:
        with open(a.markdown, "a") as f:
            f.write("\n".join(report) + "\n")
    shutil.rmtree(lists, ignore_errors=True)
    bad = any(not r.ok for w in workloads for t in w.tools for r in t.runs)
    if bad:
        log("some runs did not save the expected files: see 'good runs' in the tables")
    return 0


def _capped(t: Tool, seconds: float) -> Tool:
    t.timeout = seconds
    return t


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _q(s: str) -> str:
    # hyperfine -N splits the command like a shell would: quote what needs it
    return s if s and all(c.isalnum() or c in "-_./:=$" for c in s) else "'" + s.replace("'", "'\\''") + "'"


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench_peers: interrupted", file=sys.stderr)
        sys.exit(130)
