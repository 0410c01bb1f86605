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

say() { printf 'bench-peers: %s\n' "$*" >&2; }

DATA=../shared/flags # relative to the repo root, as the project's docs give it
if [[ ! -f $DATA/country_codes.txt ]]; then
    say "the data set $REPO/$DATA is absent: nothing to benchmark against; skipped"
    exit 0
fi

# ---------------------------------------------------------------- tools
if ((INSTALL)); then
    need=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
    command -v curl >/dev/null || need+=(curl)
    command -v wget2 >/dev/null || need+=(wget2)
    command -v aria2c >/dev/null || need+=(aria2)
    [[ -x /usr/bin/time ]] || need+=(time)
    command -v hyperfine >/dev/null || need+=(hyperfine)
    command -v python3 >/dev/null || need+=(python3)
    if ((${#need[@]})); then
        say "installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q "${need[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${need[@]}" >&2; } ||
            say "could not install every package; the missing peers are skipped"
    fi
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
WORK=$(mktemp -d /tmp/flags-bench.XXXXXX)
SHMBASE=/dev/shm; [[ -d $SHMBASE && -w $SHMBASE ]] || SHMBASE=/tmp
SHMDIR=$(mktemp -d "$SHMBASE/flagsbench.XXXXXX") # every run's output folder goes in here
export FLAGSBENCH_SHM=$SHMDIR
export NGINX_FLAGS_STATE=$WORK/nginx
TLS_STARTED=0 # issue 10's nginx with TLS, in a state folder of its own
DELAY_PID="" PY_PID=""
declare -A SRV_PID=() # issue 9's Python servers: name -> pid
cleanup() {
    local rc=$? i name pid
    set +e
    trap - INT TERM
    if [[ -n $PY_PID ]] && kill -0 "$PY_PID" 2>/dev/null; then
        kill -TERM "$PY_PID" 2>/dev/null # it ends the tool it is running, then itself
        wait "$PY_PID" 2>/dev/null
    fi
    for name in "${!SRV_PID[@]}"; do
        pid=${SRV_PID[$name]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        say "stopped $name (pid $pid)"
    done
    if [[ -n $DELAY_PID ]] && kill -0 "$DELAY_PID" 2>/dev/null; then
        kill -TERM "$DELAY_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$DELAY_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DELAY_PID" 2>/dev/null || true
        wait "$DELAY_PID" 2>/dev/null || true
        say "stopped the delay server (pid $DELAY_PID)"
    fi
    "$HERE/nginx-flags.sh" stop
    ((TLS_STARTED)) && NGINX_FLAGS_STATE=$WORK/nginx-tls "$HERE/nginx-flags.sh" stop
    rm -rf "$WORK" "$SHMDIR" 2>/dev/null || { sleep 0.5; rm -rf "$WORK" "$SHMDIR"; }
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Many connections at once: let every tool open as many files as it likes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

NGINX=$("$HERE/nginx-flags.sh" start --root "$DATA/..")
say "nginx at $NGINX"

DELAY=""
# In a session of its own, like nginx: a Ctrl-C in the terminal is for us (and the
# trap stops it), not for it. (Without job control setsid execs: $! is the server.)
setsid "$BIN" serve --port 0 --quiet --delay 0.5 --dir "$DATA" >"$WORK/delay.out" 2>"$WORK/delay.err" &
DELAY_PID=$!
for ((i = 0; i < 100; i++)); do # at most ~10 s
    DELAY=$(head -n 1 "$WORK/delay.out" 2>/dev/null | grep -o 'http://127\.0\.0\.1:[0-9]*/flags' || true)
    [[ -n $DELAY ]] && break
    kill -0 "$DELAY_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -n $DELAY ]]; then
    say "delay server at $DELAY"
else
    say "the delay server did not start; (c) is skipped: $(head -c 500 "$WORK/delay.err")"
fi

# Issue 9's servers, only for the workloads asked for. Each prints http.server's
# "Serving HTTP on HOST port PORT (URL) ..." first; started in a session of its own
# (setsid execs, so $! is the server), from the folder that holds flags/, as the book does.
ROOT=$(cd "$DATA/.." && pwd)
start_py() { # NAME LETTER CMD...: sets URL to http://127.0.0.1:PORT/flags, or empty
    local name=$1 letter=$2 i port=""
    shift 2
    URL=""
    [[ $ONLY == *$letter* ]] || return 0
    (cd "$ROOT" && exec setsid "$@" >"$WORK/$name.out" 2>"$WORK/$name.err") &
    SRV_PID[$name]=$!
    for ((i = 0; i < 100; i++)); do # at most ~10 s
        port=$(head -n 1 "$WORK/$name.out" 2>/dev/null | grep -o ' port [0-9]*' | grep -o '[0-9]*' || true)
        [[ -n $port ]] && break
        kill -0 "${SRV_PID[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -n $port ]]; then
        URL=http://127.0.0.1:$port/flags
        say "$name at $URL"
    else
        say "$name did not start; ($letter) is skipped: $(head -c 500 "$WORK/$name.err")"
    fi
}
# -u: its "Serving HTTP on ..." line is printed, not left in a buffer. Its request log
# (stderr) goes to a file, as a reader's goes to a terminal.
start_py http.server h python3 -u -m http.server 0 --bind 127.0.0.1
HTTPSERVER=$URL
start_py slow_server.py i python3 -u "$HERE/slow_server.py" --port 0 --quiet
SLOW=$URL
start_py ratelimit_server.py j python3 -u "$HERE/ratelimit_server.py" --port 0 --rate 50 --quiet
RATELIMIT=$URL

# Issue 10: nginx with TLS and HTTP/2 (k), and the same through a 50 ms round trip (l).
# The CA and the server's certificate (localhost and 127.0.0.1, ECDSA P-256, 2 days) are
# made here, in $WORK, and trusted by the tools only through --cacert.
TLS_NGINX="" CACERT="" LATENCY=""
make_certs() { # DIR: writes ca.pem, server.pem, server.key
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=flags-dl bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" &&
        printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$d/server.ext" &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$d/server.ext" -out "$d/server.pem"
}
if [[ $ONLY == *[kl]* ]]; then
    if ! command -v openssl >/dev/null; then
        say "no openssl: (k) and (l) are skipped"
    elif ! make_certs "$WORK/tls" >"$WORK/tls.log" 2>&1; then
        say "could not make the certificates; (k) and (l) are skipped: $(tail -c 500 "$WORK/tls.log")"
    else
        CACERT=$WORK/tls/ca.pem
        TLS_STARTED=1
        if TLS_NGINX=$(NGINX_FLAGS_STATE=$WORK/nginx-tls "$HERE/nginx-flags.sh" start --root "$DATA/.." \
            --tls "$WORK/tls/server.pem" "$WORK/tls/server.key"); then
            say "nginx with TLS and HTTP/2 at $TLS_NGINX"
        else
            TLS_NGINX=""
            say "nginx with TLS did not start; (k) and (l) are skipped"
        fi
    fi
fi
if [[ -n $TLS_NGINX && $ONLY == *l* ]]; then
    tls_port=${TLS_NGINX#https://localhost:}
    tls_port=${tls_port%%/*}
    start_py latency_proxy.py l python3 -u "$HERE/latency_proxy.py" --target "127.0.0.1:$tls_port" --delay-ms 25
    [[ -z $URL ]] || LATENCY=https://localhost:${URL#http://127.0.0.1:}
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
# In the background and waited for, so that a TERM sent to this script runs the trap
# at once (which passes it on) instead of after the whole benchmark.
python3 "$HERE/bench_peers.py" "${args[@]}" &
PY_PID=$!
wait "$PY_PID"
PY_PID=""
{
echo
echo "Load after: \`$(uptime | sed 's/^ *//')\`"
} | tee -a "$REPORT"
say "report saved in $REPORT"
