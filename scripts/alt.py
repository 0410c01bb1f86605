"""Two flags-dl builds on the same command, alternating run by run (BENCHMARKS.md, 15).

    python3 scripts/alt.py OLD NEW ROUNDS ARGS...

Runs `BINARY ARGS... -o /dev/shm/alt-{o,n}` three times each to warm up, then ROUNDS
rounds of OLD and NEW in turn, the order flipping each round, so that a change in the
machine's load weighs on both alike. Prints each build's median wall time, their ratio,
the median of each round's difference (NEW - OLD) and in how many rounds NEW was the
faster. Standard library only; a failing run stops it.
"""
import subprocess, sys, time, statistics, shutil
old, new, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]); args = sys.argv[4:]
def run(b, tag):
    out = f"/dev/shm/alt-{tag}"
    t = time.perf_counter(); subprocess.run([b, *args, "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); dt = (time.perf_counter()-t)*1000
    shutil.rmtree(out, ignore_errors=True); return dt
for _ in range(3): run(old,"o"); run(new,"n")
o, n = [], []
for r in range(rounds):
    if r % 2: n.append(run(new,"n")); o.append(run(old,"o"))
    else: o.append(run(old,"o")); n.append(run(new,"n"))
d = [b-a for a,b in zip(o,n)]
print(f"{' '.join(args)[:60]:60s} before {statistics.median(o):6.1f}  after {statistics.median(n):6.1f}  ratio {statistics.median(n)/statistics.median(o):.3f}  paired {statistics.median(d):+.1f} ms  faster in {sum(x<0 for x in d)}/{rounds}")
