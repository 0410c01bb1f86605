"""The A/B of BENCHMARKS.md, section 10, in pairs: for a machine others load meanwhile.

    python3 scripts/bench_live_paired.py OLD NEW [PAIRS]

OLD and NEW are flags-dl binaries (scripts/bench-live.sh builds both: OLD in
/tmp/flags-dl-base-target/release/flags-dl, NEW in target/release/flags-dl). It starts
`OLD serve`, `NEW serve` and a second `NEW serve` that `curl -N /_live` watches, all on
127.0.0.1, then times one load against each, in turn, PAIRS times (default 40), the order
rotating; each of NEW's runs is compared with the OLD run beside it. hyperfine runs one
command's runs in a row, so a build started by someone else during them weighs on one
server only; a pair is a few seconds apart, so it weighs on both alike. Loads:
`ab -k -c 50 -n 50000` of /flags/br/br.gif, and NEW's `flags-dl --every -m 200` (output
on /dev/shm). Prints, per load and server, the median time and the median of the paired
differences with OLD, and in how many pairs it was the faster. Stops what it started.
"""

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def serve(binary):
    server = subprocess.Popen(
        [binary, "serve", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    banner = server.stdout.readline()
    return server, re.search(r"http://([^/]+)/flags", banner).group(1)


def main():
    old, new = sys.argv[1], sys.argv[2]
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    started = []
    out = tempfile.mkdtemp(dir="/dev/shm", prefix="bench-live-paired.")
    try:
        servers = {}
        for name, binary in [("base", old), ("this build", new), ("this build, watched", new)]:
            server, addr = serve(binary)
            started.append(server)
            servers[name] = addr
        started.append(
            subprocess.Popen(
                ["curl", "-sN", f"http://{servers['this build, watched']}/_live"],
                stdout=subprocess.DEVNULL,
            )
        )
        loads = {
            "ab -k -c 50 -n 50000": lambda a: ["ab", "-q", "-k", "-c", "50", "-n", "50000", f"http://{a}/flags/br/br.gif"],
            "flags-dl --every -m 200": lambda a: [new, "--every", "-m", "200", "-q", "-s", f"http://{a}/flags", "-o", out],
        }
        with open("/proc/loadavg") as f:
            print(f"{pairs} rounds; load average: {' '.join(f.read().split()[:3])}")
        for load, command in loads.items():
            def run(name):
                t = time.perf_counter()
                subprocess.run(command(servers[name]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                return time.perf_counter() - t

            names = list(servers)
            for name in names:  # warm-up
                run(name)
            times = {name: [] for name in names}
            for i in range(pairs):
                order = names[i % 3:] + names[:i % 3]
                for name in order:
                    times[name].append(run(name))
            print(f"\n{load}\n\n| server | median ms | paired difference with base, median ms | faster than base in |")
            print("|---|---:|---:|---:|")
            for name in names:
                diffs = [x - b for x, b in zip(times[name], times["base"])]
                faster = sum(1 for d in diffs if d < 0)
                print(f"| {name} | {statistics.median(times[name]) * 1000:.1f} | "
                      f"{statistics.median(diffs) * 1000:+.1f} | {faster} of {pairs} |")
    finally:
        for process in started:
            process.terminate()
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
