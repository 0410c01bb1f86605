#!/usr/bin/env bash
# Issue 19's matrix: a flags-dl build against a baseline build and curl -Z on every kind of
# server, in one run of about 5 minutes, with the issue's targets as PASS/FAIL.
#
#   scripts/matrix.sh BASELINE_BINARY [--bin CANDIDATE] [--only GROUPS] [--runs N]
#                     [--slow-runs N] [--no-install] [--no-netns]
#
# Run it before any change to src/download/ lands, with the build before the change as
# BASELINE_BINARY (keep a copy: cp target/release/flags-dl /tmp/flags-dl-before).
#
# Installs what is missing (apt-get update, then nginx-light, curl, openssl, python3,
# time, iproute2), builds the candidate with `cargo build --release` unless --bin names it,
# then, as root, goes on in a network namespace of its own (unshare --net, loopback only),
# so the kernel's counters it reads (TcpExt ListenDrops, ListenOverflows) count its own
# handshakes, not other work's on this machine. There it starts, serving ../shared/flags:
# nginx (scripts/nginx-flags.sh), nginx with TLS and HTTP/2, scripts/latency_proxy.py in
# front of it (50 ms round trip), `flags-dl serve --delay 0.5` (the candidate's), `python3
# -m http.server`, scripts/slow_server.py (0.5-5 s, queue of 5, --seed 19: every run draws
# the same delays), and scripts/ratelimit_server.py as a token bucket (50/s, burst 50, 429
# with Retry-After: 1) that keeps connections (--http11) and one that closes them. Then
# scripts/matrix.py times the lines (see its --help) and prints the table; the report goes
# to stdout and target/matrix/report.md, every run to target/matrix/results.json. Every
# server is stopped on exit, Ctrl-C included. Progress on stderr.
#
#   --bin CANDIDATE  time this binary instead of building target/release/flags-dl
#   --only GROUPS    comma-separated: nginx, tls, rtt, embedded, serve, httpserver, slow,
#                    bucket-keepalive, bucket-close (default: all)
#   --runs N         runs of each fast line (default 15)
#   --slow-runs N    runs of each line whose runs take seconds (default 5)
#   --no-install     don't apt-get anything
#   --no-netns       stay in this network namespace (the kernel's counters are then
#                    machine-wide: other loopback work counts too)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"

BENCH_NAME=matrix
# shellcheck source=scripts/bench-lib.sh
. "$HERE/bench-lib.sh"

usage() { sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; }
BASELINE="" CAND="" ONLY=nginx,tls,rtt,embedded,serve,httpserver,slow,bucket-keepalive,bucket-close
RUNS=15 SLOW_RUNS=5 INSTALL=1 NETNS=1
while (($#)); do
    case $1 in
        --bin) CAND=${2:?}; shift 2 ;;
        --only) ONLY=${2:?}; shift 2 ;;
        --runs) RUNS=${2:?}; shift 2 ;;
        --slow-runs) SLOW_RUNS=${2:?}; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --no-netns) NETNS=0; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) say "unknown option $1 (see --help)"; exit 2 ;;
        *) [[ -z $BASELINE ]] || { say "one baseline binary only (see --help)"; exit 2; }; BASELINE=$1; shift ;;
    esac
done
[[ -n $BASELINE ]] || { usage >&2; exit 2; }
for n in "$RUNS" "$SLOW_RUNS"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { say "--runs and --slow-runs take a positive number"; exit 2; }
done
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
[[ -f $BASELINE && -x $BASELINE ]] || { say "$BASELINE: not an executable file"; exit 2; }
BASELINE=$(abs "$BASELINE")
has() { [[ ,$ONLY, == *,$1,* ]]; }

DATA=../shared/flags # relative to the repo root, as the project's docs give it
if [[ ! -f $DATA/country_codes.txt ]]; then
    say "the data set $REPO/$DATA is absent: nothing to measure against; skipped"
    exit 0
fi
ROOT=$(cd "$DATA/.." && pwd) # the folder that holds flags/, served as the book does

if [[ -z ${MATRIX_NETNS:-} ]]; then
    # ---------------------------------------------------------------- before the namespace
    STARTED=$(date +%s)
    if ((INSTALL)); then
        bench_install nginx=nginx-light curl=curl openssl=openssl python3=python3 /usr/bin/time=time ip=iproute2 ||
            say "could not install every package; what needs the missing ones is skipped"
    fi
    command -v python3 >/dev/null || { say "python3 is needed"; exit 1; }
    command -v curl >/dev/null || { say "curl is needed (the reference peer)"; exit 1; }
    if [[ -z $CAND ]]; then
        say "cargo build --release"
        cargo build --release --quiet >&2
        CAND=$REPO/target/release/flags-dl
        CAND_DESC="target/release/flags-dl at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(
            git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' + uncommitted changes')"
    else
        [[ -f $CAND && -x $CAND ]] || { say "--bin $CAND: not an executable file"; exit 2; }
        CAND=$(abs "$CAND")
        CAND_DESC=$CAND
    fi
    export MATRIX_CAND_DESC=$CAND_DESC MATRIX_STARTED=$STARTED
    if ((NETNS)) && command -v unshare >/dev/null && command -v ip >/dev/null && unshare --net true 2>/dev/null; then
        say "going on in a network namespace of its own (loopback only)"
        exec unshare --net -- env MATRIX_NETNS=1 bash "$0" "$BASELINE" --bin "$CAND" --only "$ONLY" \
            --runs "$RUNS" --slow-runs "$SLOW_RUNS" --no-install
    fi
    ((NETNS == 0)) || say "no network namespace (not root, or no unshare or ip): the kernel's counters are machine-wide"
    NETNS_DESC="this machine's network namespace (its counters count other loopback work too)"
else
    ip link set lo up
    NETNS_DESC="a network namespace of its own (unshare --net): the kernel's counters are the run's own"
fi

# ---------------------------------------------------------------- servers
bench_setup
args=(--candidate "$CAND" --baseline "$BASELINE" --data "$DATA" --only "$ONLY" --runs "$RUNS"
    --slow-runs "$SLOW_RUNS" --json target/matrix/results.json --markdown target/matrix/report.md)
url() { [[ -z $PORT ]] || args+=("$1" "http://127.0.0.1:$PORT/flags"); }
if has nginx; then
    if bench_nginx NGINX nginx "$ROOT"; then args+=(--nginx "$NGINX"); else say "nginx did not start"; fi
fi
if has tls || has rtt; then
    bench_tls_nginx "$ROOT"
    if [[ -n $TLS_NGINX ]]; then
        args+=(--cacert "$CACERT")
        has tls && args+=(--tls-nginx "$TLS_NGINX")
        if has rtt; then
            bench_latency_proxy
            [[ -z $LATENCY ]] || args+=(--rtt "$LATENCY")
        fi
    fi
fi
if has serve; then
    bench_start serve "$CAND" serve --port 0 --quiet --delay 0.5 --dir "$DATA"
    url --serve
fi
if has httpserver; then
    # -u: its "Serving HTTP on ..." line is printed at once, not left in a buffer.
    bench_start http.server python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$ROOT"
    url --httpserver
fi
if has slow; then
    bench_start slow_server.py python3 -u "$HERE/slow_server.py" --port 0 --quiet --seed 19 --directory "$ROOT"
    url --slow
fi
if has bucket-keepalive; then
    bench_start ratelimit-keepalive python3 -u "$HERE/ratelimit_server.py" --port 0 --quiet --rate 50 --burst 50 \
        --http11 --directory "$ROOT"
    url --bucket-keepalive
fi
if has bucket-close; then
    bench_start ratelimit-close python3 -u "$HERE/ratelimit_server.py" --port 0 --quiet --rate 50 --burst 50 \
        --directory "$ROOT"
    url --bucket-close
fi

# ---------------------------------------------------------------- run
mkdir -p target/matrix
args+=(--header "### The matrix (issue 19), $(date -u '+%Y-%m-%d %H:%M UTC')" --header ""
    --header "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), Linux $(uname -r). Candidate: ${MATRIX_CAND_DESC:-$CAND}; baseline: $BASELINE; $(curl --version | head -n1 | cut -d' ' -f1-2); nginx $(nginx -v 2>&1 | sed 's#.*/##'); Python $(python3 -c 'import sys; print(sys.version.split()[0])'). Servers and clients in $NETNS_DESC."
    --header "")
bench_driver python3 "$HERE/matrix.py" "${args[@]}"
took=$(($(date +%s) - ${MATRIX_STARTED:-$(date +%s)}))
{
    echo
    echo "The whole run, installs, build and servers' start included: ${took} s."
} | tee -a target/matrix/report.md
say "report in target/matrix/report.md, every run in target/matrix/results.json"
