# Shared by scripts/bench-peers.sh and scripts/matrix.sh (sourced, not run): the tools a
# benchmark installs, the loopback servers it starts, and the trap that stops them.
#
# It is not a benchmark itself and times nothing: each script chooses its servers and
# hands their URLs to its Python driver (scripts/bench_peers.py, scripts/matrix.py).
#
# The sourcing script sets BENCH_NAME (its name in messages) and HERE (the scripts
# folder), then calls bench_setup once, before starting anything. What it starts with
# bench_nginx, bench_start and bench_driver is stopped on exit, Ctrl-C and TERM included:
# the driver first (it ends the tool it is running), then the servers, then nginx, and
# the temporary folders are removed. Everything listens on 127.0.0.1 only.

say() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }

# bench_install CMD=PACKAGE...: apt-get installs the packages whose command is missing
# (a CMD with a slash is a path that must be executable). `apt-get update` runs first,
# once, and only if something is missing. Returns non-zero if some could not be had.
bench_install() {
    local pair cmd need=()
    for pair in "$@"; do
        cmd=${pair%%=*}
        if [[ $cmd == */* ]]; then
            [[ -x $cmd ]] && continue
        else
            command -v "$cmd" >/dev/null 2>&1 && continue
            [[ -x /usr/sbin/$cmd ]] && continue # nginx, for a user without sbin in PATH
        fi
        need+=("${pair#*=}")
    done
    ((${#need[@]})) || return 0
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 && apt-get install -y -q "${need[@]}" >&2
}

# bench_setup: temporary folders ($WORK for state and logs, $SHMDIR on tmpfs for the
# runs' output folders, exported as FLAGSBENCH_SHM for the drivers), the exit trap, and
# as many open files as the system allows (tools open many connections at once).
bench_setup() {
    WORK=$(mktemp -d "/tmp/$BENCH_NAME.XXXXXX")
    local shm=/dev/shm
    [[ -d $shm && -w $shm ]] || shm=/tmp
    SHMDIR=$(mktemp -d "$shm/$BENCH_NAME.XXXXXX")
    export FLAGSBENCH_SHM=$SHMDIR
    BENCH_PIDS=() BENCH_NAMES=() BENCH_NGINX=() BENCH_DRIVER=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

bench_stop_pid() { # PID NAME: TERM, up to 5 s, then KILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    say "stopped $2 (pid $pid)"
}

bench_cleanup() {
    local rc=$? i state
    set +e
    trap - INT TERM
    if [[ -n $BENCH_DRIVER ]] && kill -0 "$BENCH_DRIVER" 2>/dev/null; then
        kill -TERM "$BENCH_DRIVER" 2>/dev/null # it ends the tool it is running, then itself
        wait "$BENCH_DRIVER" 2>/dev/null
    fi
    for i in "${!BENCH_PIDS[@]}"; do bench_stop_pid "${BENCH_PIDS[$i]}" "${BENCH_NAMES[$i]}"; done
    for state in "${BENCH_NGINX[@]}"; do NGINX_FLAGS_STATE=$state "$HERE/nginx-flags.sh" stop; done
    rm -rf "$WORK" "$SHMDIR" 2>/dev/null || { sleep 0.5; rm -rf "$WORK" "$SHMDIR"; }
    exit "$rc"
}

# bench_nginx VAR NAME ROOT [--tls CERT KEY]: nginx (scripts/nginx-flags.sh) serving ROOT
# (the folder that holds flags/), in a state folder $WORK/NAME; sets VAR to its base URL,
# or fails.
bench_nginx() {
    local var=$1 name=$2 url
    shift 2
    BENCH_NGINX+=("$WORK/$name")
    url=$(NGINX_FLAGS_STATE=$WORK/$name "$HERE/nginx-flags.sh" start --root "$@") || return 1
    printf -v "$var" '%s' "$url"
}

# bench_start NAME CMD...: runs CMD in a session of its own (a Ctrl-C in the terminal is
# for us, and the trap stops it; without job control setsid execs, so $! is the server),
# stdout and stderr to $WORK/NAME.out and .err, and waits (at most ~10 s) for its first
# line to give its port: "... port PORT ..." (http.server and our Python servers) or
# "... 127.0.0.1:PORT/..." (flags-dl serve). Sets PORT, or leaves it empty and says why.
bench_start() {
    local name=$1 i
    shift
    PORT=""
    setsid "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    BENCH_PIDS+=($!)
    BENCH_NAMES+=("$name")
    for ((i = 0; i < 100; i++)); do
        PORT=$(head -n 1 "$WORK/$name.out" 2>/dev/null | grep -oE '( port |127\.0\.0\.1:)[0-9]+' | head -n 1 | grep -oE '[0-9]+$' || true)
        [[ -n $PORT ]] && break
        kill -0 "$!" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -n $PORT ]]; then
        say "$name on port $PORT"
    else
        say "$name did not start: $(head -c 500 "$WORK/$name.err")"
    fi
}

# bench_driver CMD...: runs the Python driver in the background and waits for it, so a
# TERM sent to the script runs the trap at once (which passes it on) rather than after
# the whole benchmark. Returns the driver's exit status.
bench_driver() {
    local rc=0
    "$@" &
    BENCH_DRIVER=$!
    wait "$BENCH_DRIVER" || rc=$?
    BENCH_DRIVER=""
    return "$rc"
}

# bench_certs DIR: a CA and a certificate for localhost and 127.0.0.1 (ECDSA P-256, 2 days)
# in DIR (ca.pem, server.pem, server.key), trusted by the tools only through --cacert.
bench_certs() {
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

# bench_tls_nginx ROOT: certificates (bench_certs) and nginx with TLS and HTTP/2 on them.
# Sets TLS_NGINX (https://localhost:PORT/flags) and CACERT, or leaves both empty and says why.
bench_tls_nginx() {
    TLS_NGINX="" CACERT=""
    if ! command -v openssl >/dev/null; then
        say "no openssl: no nginx with TLS"
    elif ! bench_certs "$WORK/tls" >"$WORK/tls.log" 2>&1; then
        say "could not make the certificates: $(tail -c 500 "$WORK/tls.log")"
    elif bench_nginx TLS_NGINX nginx-tls "$1" --tls "$WORK/tls/server.pem" "$WORK/tls/server.key"; then
        CACERT=$WORK/tls/ca.pem
        say "nginx with TLS and HTTP/2 at $TLS_NGINX"
    else
        TLS_NGINX=""
        say "nginx with TLS did not start"
    fi
}

# bench_latency_proxy: scripts/latency_proxy.py in front of $TLS_NGINX, 25 ms each way
# (a 50 ms round trip). Sets LATENCY (https://localhost:PORT/flags), or leaves it empty.
bench_latency_proxy() {
    LATENCY=""
    [[ -n $TLS_NGINX ]] || return 0
    local tls_port=${TLS_NGINX#https://localhost:}
    tls_port=${tls_port%%/*}
    bench_start latency_proxy.py python3 -u "$HERE/latency_proxy.py" --target "127.0.0.1:$tls_port" --delay-ms 25
    [[ -z $PORT ]] || LATENCY=https://localhost:$PORT/flags
}
