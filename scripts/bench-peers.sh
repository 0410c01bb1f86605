#!/usr/bin/env bash
# Compare flags-dl with its peers (curl, wget2, aria2c, xargs + curl) on loopback.
#
#   scripts/bench-peers.sh [--runs N] [--warmup N] [--startup-runs N] [--only LETTERS]
#                          [--curl-immediate] [--no-build] [--bin PATH] [--no-install]
#
# Installs what it needs from Debian's packages (nginx-light, curl, wget2, aria2, time,
# hyperfine), builds flags-dl --release, starts nginx (scripts/nginx-flags.sh) on the
# data set ../shared/flags and a flag server with a fixed 0.5 s delay (flags-dl serve),
# and for issue 9's workloads the servers the book uses, which keep 5 pending
# connections: `python3 -m http.server` run in ../shared (h), scripts/slow_server.py (i),
# and scripts/ratelimit_server.py at 50 requests/s (j). For issue 10's real-network
# workloads it makes a CA and a certificate for localhost and 127.0.0.1 with openssl (in
# its temp folder), starts a second nginx with TLS and HTTP/2 (k), and
# scripts/latency_proxy.py in front of it, 25 ms each way: a 50 ms round trip (l). It
# runs the workloads (a)..(l) of scripts/bench_peers.py, tools in alternation, output on
# /dev/shm, and prints Markdown: one table per workload and the targets of issues 6, 9
# and 10 with PASS/FAIL.
# Progress goes to stderr; the report to stdout, and also to target/bench-peers/report.md
# (every run in target/bench-peers/results.json). Every server it starts is stopped on
# exit. Traffic goes to 127.0.0.1 only.
#
#   --runs N          timed runs per tool and workload (default 5; median of them)
#   --warmup N        untimed rounds first (default 1)
#   --startup-runs N  runs of the start-up commands of (f) (default 20)
#   --only LETTERS    only these workloads, e.g. --only ab or --only kl (default abcdefghijkl)
#   --curl-immediate  (h) also times curl -Z --parallel-immediate (30-110 s a run)
#   --no-build        use target/release/flags-dl as it is
#   --bin PATH        time this flags-dl binary instead (no build), e.g. a copy of an
#                     earlier build kept as a baseline
#   --no-install      don't apt-get anything; skip the peers that are missing
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"

RUNS=5 WARMUP=1 STARTUP_RUNS=20 ONLY=abcdefghijkl BUILD=1 INSTALL=1 IMMEDIATE=0 BIN=""
while (($#)); do
    case $1 in
        --runs) RUNS=${2:?}; shift 2 ;;
        --warmup) WARMUP=${2:?}; shift 2 ;;
        --startup-runs) STARTUP_RUNS=${2:?}; shift 2 ;;
        --only) ONLY=${2:?}; shift 2 ;;
        --curl-immediate) IMMEDIATE=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --bin) BIN=${2:?}; BUILD=0; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        -h | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-peers: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[0-9]+$ && $RUNS -ge 1 ]] || { echo "bench-peers: --runs must be a positive number" >&2; exit 2; }
((RUNS >= 5)) || echo "bench-peers: note: --runs $RUNS; the benchmark's numbers are medians of at least 5" >&2

BENCH_NAME=bench-peers
# shellcheck source=scripts/bench-lib.sh
. "$HERE/bench-lib.sh"

DATA=../shared/flags # relative to the repo root, as the project's docs give it
if [[ ! -f $DATA/country_codes.txt ]]; then
    say "the data set $REPO/$DATA is absent: nothing to benchmark against; skipped"
    exit 0
fi

# ---------------------------------------------------------------- tools
if ((INSTALL)); then
    bench_install nginx=nginx-light curl=curl wget2=wget2 aria2c=aria2 /usr/bin/time=time \
        hyperfine=hyperfine python3=python3 || say "could not install every package; the missing peers are skipped"
fi
command -v python3 >/dev/null || { say "python3 is needed"; exit 1; }
command -v curl >/dev/null || { say "curl is needed (the reference peer)"; exit 1; }

if ((BUILD)); then
    say "cargo build --release"
    cargo build --release --quiet >&2
fi
BUILT=$REPO/target/release/flags-dl
if [[ -n $BIN ]]; then
    [[ -f $BIN && -x $BIN ]] || { say "--bin $BIN: not an executable file"; exit 2; }
    BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
    BIN_DESC="given with --bin: $BIN"
else
    BIN=$BUILT
    BIN_DESC="at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' + uncommitted changes')"
fi
[[ -x $BIN ]] || { say "no $BIN: build it first"; exit 1; }

# ---------------------------------------------------------------- servers
bench_setup
ROOT=$(cd "$DATA/.." && pwd) # the folder that holds flags/, served as the book does

bench_nginx NGINX nginx "$ROOT"
say "nginx at $NGINX"

DELAY=""
bench_start delay-server "$BIN" serve --port 0 --quiet --delay 0.5 --dir "$DATA"
[[ -z $PORT ]] || DELAY=http://127.0.0.1:$PORT/flags
[[ -n $DELAY ]] || say "(c) is skipped"

# Issue 9's servers, only for the workloads asked for, each serving $ROOT.
start_py() { # NAME LETTER CMD...: sets URL to http://127.0.0.1:PORT/flags, or empty
    local name=$1 letter=$2
    shift 2
    URL=""
    [[ $ONLY == *$letter* ]] || return 0
    bench_start "$name" "$@"
    [[ -n $PORT ]] && URL=http://127.0.0.1:$PORT/flags || say "($letter) is skipped"
}
# -u: its "Serving HTTP on ..." line is printed, not left in a buffer. Its request log
# (stderr) goes to a file, as a reader's goes to a terminal.
start_py http.server h python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$ROOT"
HTTPSERVER=$URL
start_py slow_server.py i python3 -u "$HERE/slow_server.py" --port 0 --quiet --directory "$ROOT"
SLOW=$URL
start_py ratelimit_server.py j python3 -u "$HERE/ratelimit_server.py" --port 0 --rate 50 --quiet --directory "$ROOT"
RATELIMIT=$URL

# Issue 10: nginx with TLS and HTTP/2 (k), and the same through a 50 ms round trip (l).
TLS_NGINX="" CACERT="" LATENCY=""
if [[ $ONLY == *[kl]* ]]; then
    bench_tls_nginx "$ROOT"
    [[ -n $TLS_NGINX ]] || say "(k) and (l) are skipped"
fi
if [[ $ONLY == *l* ]]; then
    bench_latency_proxy
    [[ -n $LATENCY || -z $TLS_NGINX ]] || say "(l) is skipped"
fi

# ---------------------------------------------------------------- run
LOAD_BEFORE=$(uptime)
mkdir -p target/bench-peers
REPORT=target/bench-peers/report.md
: >"$REPORT"
{
echo "### Peer comparison, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r);" \
    "flags-dl $("$BIN" --version | cut -d' ' -f2) $BIN_DESC;" \
    "$(curl --version | head -n1 | cut -d' ' -f1-2), $(wget2 --version 2>/dev/null | head -n1 | sed 's/ - .*//' || echo 'no wget2'), $(aria2c --version 2>/dev/null | head -n1 || echo 'no aria2c'), nginx $(nginx -v 2>&1 | sed 's#.*/##')."
echo
echo "Load before: \`${LOAD_BEFORE# }\`"
echo
} | tee -a "$REPORT"
args=(--bin "$BIN" --nginx "$NGINX" --data "$DATA" --runs "$RUNS" --warmup "$WARMUP"
    --startup-runs "$STARTUP_RUNS" --only "$ONLY"
    --json target/bench-peers/results.json --markdown "$REPORT")
[[ -n $DELAY ]] && args+=(--delay "$DELAY")
[[ -n $HTTPSERVER ]] && args+=(--httpserver "$HTTPSERVER")
[[ -n $SLOW ]] && args+=(--slow "$SLOW")
[[ -n $RATELIMIT ]] && args+=(--ratelimit "$RATELIMIT")
[[ -n $TLS_NGINX ]] && args+=(--tls-nginx "$TLS_NGINX" --cacert "$CACERT")
[[ -n $LATENCY ]] && args+=(--latency-proxy "$LATENCY")
((IMMEDIATE)) && args+=(--curl-immediate)
bench_driver python3 "$HERE/bench_peers.py" "${args[@]}"
{
echo
echo "Load after: \`$(uptime | sed 's/^ *//')\`"
} | tee -a "$REPORT"
say "report saved in $REPORT"
