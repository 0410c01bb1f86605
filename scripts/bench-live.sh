#!/usr/bin/env bash
# What the gallery's live figures cost the server (BENCHMARKS.md, section 10): the server
# of BASE (a commit before them) against this build, nobody watching, and this build with
# one page watching, each under the same load, timed by hyperfine.
#
#   scripts/bench-live.sh BASE [RUNS]       BASE: a commit, e.g. d7f5301; RUNS default 21
#
# Three `flags-dl serve --port 0 --quiet` run side by side on 127.0.0.1: BASE's, this
# build's, and this build's with `curl -N /_live` reading its events. Two loads, each
# timed against the three servers in one hyperfine run (-N: no shell), twice, the servers
# in one order then the other; the medians are of both passes' runs:
#   ab -k -c 50 -n 100000 /flags/br/br.gif    nginx-like load: keep-alive, a flag, 50 at once
#   flags-dl --every -m 200                  676 requests (482 of them 404), this build's
#                                            client in each case, output on /dev/shm
# BASE is built once into /tmp/flags-dl-base-target (kept for the next run). Needs
# hyperfine and ab (apt-get install hyperfine apache2-utils) and curl. Every process it
# starts is stopped on exit.
set -euo pipefail

BASE=${1:?usage: scripts/bench-live.sh BASE_COMMIT [RUNS]}
RUNS=${2:-21}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BASE_TARGET=/tmp/flags-dl-base-target

for tool in hyperfine ab curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install hyperfine apache2-utils curl" >&2; exit 1; }
done

if [ ! -x "$BASE_TARGET/release/flags-dl" ] || [ "$(cat "$BASE_TARGET/commit" 2>/dev/null)" != "$BASE" ]; then
  src=$(mktemp -d)
  git -C "$REPO" archive "$BASE" | tar -x -C "$src"
  cargo build --release --quiet --manifest-path "$src/Cargo.toml" --target-dir "$BASE_TARGET"
  echo "$BASE" > "$BASE_TARGET/commit"
  rm -rf "$src"
fi
cargo build --release --quiet --manifest-path "$REPO/Cargo.toml"
OLD=$BASE_TARGET/release/flags-dl
NEW=$REPO/target/release/flags-dl

pids=()
work=$(mktemp -d /dev/shm/bench-live.XXXXXX)
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Starts `$1 serve --port 0 --quiet` and sets ADDR to its address (host:port) from the
# banner. Not in a $(...) subshell, so that its pid is remembered and it is stopped.
serve() {
  local out=$work/serve-$RANDOM
  "$1" serve --port 0 --quiet > "$out" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do
    if grep -q 'Ctrl-C' "$out" 2>/dev/null; then
      ADDR=$(sed -E 's|.*http://([^/]+)/flags.*|\1|' "$out")
      return
    fi
    sleep 0.05
  done
  echo "a server did not start" >&2
  exit 1
}
serve "$OLD"; A=$ADDR
serve "$NEW"; B=$ADDR
serve "$NEW"; C=$ADDR
curl -sN "http://$C/_live" > /dev/null &
pids+=($!)
sleep 0.5

echo "commit $(git -C "$REPO" rev-parse --short HEAD) against $BASE; $RUNS runs a pass; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# Each load in two passes, the servers in one order then the other, so that a change in
# the machine's other load during a pass weighs on every server alike.
names=("base ($BASE)" "this build" "this build, watched")
addrs=("$A" "$B" "$C")
for load in ab every; do
  for pass in forward reverse; do
    order=(0 1 2)
    [ "$pass" = reverse ] && order=(2 1 0)
    args=()
    for i in "${order[@]}"; do
      if [ "$load" = ab ]; then
        args+=(-n "${names[$i]}" "ab -q -k -c 50 -n 100000 http://${addrs[$i]}/flags/br/br.gif")
      else
        args+=(-n "${names[$i]}" "$NEW --every -m 200 -q -s http://${addrs[$i]}/flags -o $work/out$i")
      fi
    done
    hyperfine -N --warmup 3 --runs "$RUNS" --style basic --export-json "$work/$load-$pass.json" "${args[@]}"
  done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); watched server's figures:"
curl -s "http://$C/_live.json"
# Medians of both passes' runs together, as BENCHMARKS.md gives them, and each pass's.
python3 - "$work" <<'PY'
import json, statistics, sys
work = sys.argv[1]
for load, title in [("ab", "ab -q -k -c 50 -n 100000 /flags/br/br.gif"), ("every", "flags-dl --every -m 200")]:
    times, passes = {}, {}
    for p in ["forward", "reverse"]:
        for r in json.load(open(f"{work}/{load}-{p}.json"))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
            passes.setdefault(r["command"], []).append(r["median"])
    base = statistics.median(next(iter(times.values())))
    print(f"\n{title}\n")
    print("| server | median ms | median of each pass ms | mean ± σ ms | min–max ms | × base |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, t in times.items():
        ms = [x * 1000 for x in t]
        each = " / ".join(f"{m * 1000:.1f}" for m in passes[name])
        print(f"| {name} | {statistics.median(ms):.1f} | {each} | {statistics.mean(ms):.1f} ± {statistics.stdev(ms):.1f} "
              f"| {min(ms):.1f}–{max(ms):.1f} | {statistics.median(t) / base:.3f} |")
PY
