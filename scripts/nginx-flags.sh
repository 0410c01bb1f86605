#!/usr/bin/env bash
# Serve the Fluent Python flags with nginx on a free loopback port, for benchmarks.
#
#   scripts/nginx-flags.sh start [--root DIR] [--tls CERT KEY]
#                                               start (or reuse) it; print the base URL
#   scripts/nginx-flags.sh url                  print the base URL of the running one
#   scripts/nginx-flags.sh status               say whether it runs (exit 0) or not (exit 1)
#   scripts/nginx-flags.sh stop                 stop it and remove its state folder
#
# DIR is the folder that contains flags/ (default: ../shared next to the repo, else
# /work/shared); a folder that is itself the flags folder (it has country_codes.txt)
# works too. The base URL, http://127.0.0.1:PORT/flags, is the only thing printed on
# stdout, so other scripts can do  NGINX=$(scripts/nginx-flags.sh start).
# With --tls, it speaks HTTPS with HTTP/2 and HTTP/1.1 by ALPN (`listen ... ssl http2`)
# with that certificate and key (PEM), and the base URL is https://localhost:PORT/flags
# (the certificate must name localhost); run it in a state folder of its own beside a
# plain one.
#
# State (config, pid file, error log, temp folders) lives in $NGINX_FLAGS_STATE,
# default /tmp/flags-dl-nginx; give each concurrent user its own folder. nginx runs in
# the foreground of a background process of its own (daemon off; no systemd, nothing in
# /etc), listening on 127.0.0.1 only. Environment: NGINX_FLAGS_STATE, NGINX_FLAGS_ROOT,
# NGINX_FLAGS_PORT (a fixed port instead of a free one), NGINX_FLAGS_USER (worker user
# when run as root; default nobody).
set -euo pipefail

STATE=${NGINX_FLAGS_STATE:-/tmp/flags-dl-nginx}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

log() { printf 'nginx-flags: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

default_root() {
    if [[ -n ${NGINX_FLAGS_ROOT:-} ]]; then
        printf '%s\n' "$NGINX_FLAGS_ROOT"
    elif [[ -d $REPO/../shared/flags ]]; then
        (cd "$REPO/../shared" && pwd)
    else
        printf '%s\n' /work/shared
    fi
}

# The pid of the running master, or nothing.
running_pid() {
    local pid
    [[ -s $STATE/nginx.pid ]] || return 1
    pid=$(<"$STATE/nginx.pid")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # A recycled pid is not ours: check that it is an nginx with our config.
    grep -q "$STATE/nginx.conf" "/proc/$pid/cmdline" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

ensure_nginx() {
    command -v nginx >/dev/null 2>&1 && return 0
    [[ -x /usr/sbin/nginx ]] && { PATH=$PATH:/usr/sbin; return 0; }
    log "nginx is missing: installing nginx-light"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q nginx-light >&2; then
        apt-get update -q >&2
        apt-get install -y -q nginx-light >&2
    fi
    PATH=$PATH:/usr/sbin
    command -v nginx >/dev/null 2>&1 || die "nginx still missing after apt-get install"
    # The package starts a system nginx on port 80; we don't use it, and leave it alone.
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

write_config() {
    local port=$1 flags_dir=$2 cert=${3:-} key=${4:-} user_line="" nofile listen
    nofile=$(ulimit -Hn)
    [[ $nofile == unlimited || $nofile -gt 65536 ]] && nofile=65536
    if [[ $(id -u) -eq 0 ]]; then
        local u=${NGINX_FLAGS_USER:-nobody}
        user_line="user $u $(id -gn "$u");" # Debian's nobody is in group nogroup
    fi
    listen="listen 127.0.0.1:$port backlog=4096;"
    if [[ -n $cert ]]; then
        # nginx 1.22 spells HTTP/2 on the listen line (1.25 moved it to `http2 on;`).
        listen="listen 127.0.0.1:$port ssl http2 backlog=4096;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:flags:1m;"
    fi
    mkdir -p "$STATE"/{logs,tmp/body,tmp/proxy,tmp/fastcgi,tmp/uwsgi,tmp/scgi}
    cat >"$STATE/nginx.conf" <<EOF
# Written by scripts/nginx-flags.sh: the flags for benchmarks, on loopback only.
$user_line
worker_processes 1;
worker_rlimit_nofile $nofile;
pid $STATE/nginx.pid;
error_log $STATE/logs/error.log warn;
daemon off;

events {
    worker_connections 8192;
    multi_accept on;
}

http {
    types {
        image/gif  gif;
        text/plain txt;
        application/json json;
    }
    default_type application/octet-stream;
    access_log off;
    log_not_found off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    keepalive_timeout 65;
    open_file_cache max=2000 inactive=60s;
    client_body_temp_path $STATE/tmp/body;
    proxy_temp_path $STATE/tmp/proxy;
    fastcgi_temp_path $STATE/tmp/fastcgi;
    uwsgi_temp_path $STATE/tmp/uwsgi;
    scgi_temp_path $STATE/tmp/scgi;

    server {
        $listen
        server_name localhost;
        location /flags/ {
            alias $flags_dir/;
        }
    }
}
EOF
}

# Wait (at most ~5 s) until the server answers; fail early if it died.
wait_ready() {
    local launcher=$1 port=$2 probe=$3 tls=${4:-} i pid
    for ((i = 0; i < 100; i++)); do
        pid=$(cat "$STATE/nginx.pid" 2>/dev/null || true)
        if [[ -z $pid ]] && ! kill -0 "$launcher" 2>/dev/null; then
            return 1 # exited before writing its pid file: it failed
        fi
        if [[ -n $pid ]] && python3 - "$port" "$probe" "$tls" <<'EOF' 2>/dev/null; then
import sys, http.client, ssl
if sys.argv[3]:
    # Only "is it up": the tools benchmarked check the certificate themselves.
    c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), timeout=1,
                                    context=ssl._create_unverified_context())
else:
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=1)
c.request("GET", sys.argv[2])
r = c.getresponse()
r.read()
sys.exit(0 if r.status in (200, 404) else 1)
EOF
            return 0
        fi
        sleep 0.05
    done
    return 1
}

cmd_start() {
    local root pid port attempt flags_dir probe launcher cert="" key="" base
    root=$(default_root)
    while (($#)); do
        case $1 in
            --root) [[ $# -ge 2 ]] || usage; root=$2; shift 2 ;;
            --root=*) root=${1#--root=}; shift ;;
            --tls) [[ $# -ge 3 ]] || usage; cert=$2; key=$3; shift 3 ;;
            *) usage ;;
        esac
    done
    if pid=$(running_pid); then
        log "already running (pid $pid)"
        cat "$STATE/url"
        return 0
    fi
    [[ -d $root ]] || die "no such folder: $root"
    if [[ -n $cert ]]; then
        [[ -r $cert && -r $key ]] || die "--tls $cert $key: both must be readable PEM files"
        cert=$(cd "$(dirname "$cert")" && pwd)/$(basename "$cert")
        key=$(cd "$(dirname "$key")" && pwd)/$(basename "$key")
    fi
    root=$(cd "$root" && pwd)
    if [[ -d $root/flags ]]; then
        flags_dir=$root/flags
    elif [[ -f $root/country_codes.txt ]]; then
        flags_dir=$root
    else
        die "$root has no flags/ folder"
    fi
    ensure_nginx
    command -v python3 >/dev/null || die "python3 is needed to pick a free port"
    rm -rf "$STATE"
    mkdir -p "$STATE"
    probe=/flags/country_codes.txt
    [[ -f $flags_dir/country_codes.txt ]] || probe=/flags/
    for ((attempt = 1; attempt <= 5; attempt++)); do
        port=${NGINX_FLAGS_PORT:-$(free_port)}
        write_config "$port" "$flags_dir" "$cert" "$key"
        nginx -t -q -e "$STATE/logs/error.log" -p "$STATE" -c "$STATE/nginx.conf" >"$STATE/logs/test.log" 2>&1 ||
            { cat "$STATE/logs/test.log" >&2; die "bad config: $STATE/nginx.conf"; }
        # setsid: its own session, so a Ctrl-C in the caller's terminal doesn't reach it
        # (the caller's trap stops it). The master writes its pid to $STATE/nginx.pid.
        rm -f "$STATE/nginx.pid"
        setsid nginx -e "$STATE/logs/error.log" -p "$STATE" -c "$STATE/nginx.conf" \
            </dev/null >>"$STATE/logs/stdout.log" 2>&1 &
        launcher=$!
        if wait_ready "$launcher" "$port" "$probe" "$cert"; then
            pid=$(<"$STATE/nginx.pid")
            base=http://127.0.0.1:$port/flags
            [[ -z $cert ]] || base=https://localhost:$port/flags
            echo "$base" >"$STATE/url"
            log "started pid $pid, serving $flags_dir (state in $STATE)"
            cat "$STATE/url"
            return 0
        fi
        pid=$(cat "$STATE/nginx.pid" 2>/dev/null || true)
        [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
        kill "$launcher" 2>/dev/null || true
        wait "$launcher" 2>/dev/null || true
        log "attempt $attempt on port $port failed:"
        tail -n 3 "$STATE/logs/error.log" >&2 2>/dev/null || true
        [[ -z ${NGINX_FLAGS_PORT:-} ]] || break
    done
    die "could not start nginx"
}

cmd_stop() {
    local pid i
    if pid=$(running_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid did not stop on TERM: KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped pid $pid"
    else
        log "not running"
    fi
    # Only our own folder: it must hold our config (or be empty) before it goes.
    if [[ -d $STATE && ( -f $STATE/nginx.conf || -z $(ls -A "$STATE") ) ]]; then
        rm -rf "$STATE"
    fi
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    url) running_pid >/dev/null || die "not running"; cat "$STATE/url" ;;
    status)
        if pid=$(running_pid); then log "running, pid $pid, $(cat "$STATE/url")"; else log "not running"; exit 1; fi
        ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
esac
