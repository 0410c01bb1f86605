#!/usr/bin/env python3
"""A file server that allows N requests per second and refuses the rest with 429.

For issue 9's rate-limit workload: serves a folder as `python3 -m http.server` does
(SimpleHTTPRequestHandler, HTTP/1.0 unless --http11), but lets through at most --rate
requests (default 50) per second and answers the others `429 Too Many Requests` with
`Retry-After: 1`. A request is counted when its request line has been read.

By default the limit is a FIXED ONE-SECOND WINDOW: the first request (after start or
after /__reset) opens window 0; window k covers [t0 + k, t0 + k + 1) s; a request is
served if fewer than N requests were served in its window so far, else refused. So 194
flags at 50/s need at least four windows: a client that keeps to the pace ends in a
little over 3 s.

With --burst B it is a TOKEN BUCKET instead (issue 19's limiter): B tokens at the start
(and after /__reset), one more every 1/N s up to B, one taken by each request served; a
request that finds none is refused. 194 flags at 50/s with a burst of 50 take at least
(194 - 50) / 50 = 2.9 s.

It counts what it did, for the benchmark to read:

    GET /__stats  ->  {"served": n, "refused": m, "windows": w, "max_in_flight": k,
                       "refused_past_first_wave": p, "first_refusal_sent_ms": t,
                       "refused_at_ms": [...], "limit": "window" or "bucket", ...}
    GET /__reset  ->  the same figures, then sets them to 0, forgets the window origin
                      and fills the bucket

`served` counts every answer other than a 429 (a 404 too); `refused` the 429s;
`max_in_flight` the most requests being handled at once. The first wave is the requests
that reached the server before its first 429 was sent (the client could not yet know of
the limit): `refused_past_first_wave` counts the refused requests that arrived after it,
`first_refusal_sent_ms` is when that first 429 had been written, and `refused_at_ms` when
each refused request arrived (the first 1000), all in ms from the first request's
handling. A request "arrives" when its last bytes reached the kernel (TCP_INFO's
tcpi_last_data_recv, to the kernel's tick: 1-10 ms), not when a thread of this server
got to it: under a burst the threads read requests tens of ms after the client sent
them, and would count the whole burst as past the first wave. Neither path is
rate-limited nor counted. Unlike http.server and the book's servers, the listen
backlog is request_queue_size = 128, so that a client is tested on the rate limit only,
not on lost handshakes. Threading server (one thread per connection), daemon threads.
Binds 127.0.0.1 unless --bind; prints "Serving HTTP on HOST port PORT (URL) ..." as
its first line (so --port 0 can be scripted). Standard library only.

    python3 scripts/ratelimit_server.py --port 0 --directory ../shared  # /flags/...
    python3 scripts/ratelimit_server.py --port 0 -d ../shared --burst 50 --http11  # keeps connections
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class Limiter:
    """Fixed one-second windows from the first request, or a token bucket (burst given);
    thread-safe counters."""

    TIMES_KEPT = 1000  # refusal times kept for /__stats

    def __init__(self, rate: int, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self.t0: float | None = None
        self.window = -1
        self.in_window = 0
        self.windows = 0
        self.tokens = float(self.burst or 0)
        self.refilled: float | None = None
        self.served = 0
        self.refused = 0
        self.refused_late = 0
        self.first_refusal_sent: float | None = None
        self.refused_at: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def _take(self, now: float) -> bool:
        """One request's share of the limit, if there is one left now."""
        if self.burst is not None:
            if self.refilled is not None:
                self.tokens = min(float(self.burst), self.tokens + (now - self.refilled) * self.rate)
            self.refilled = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False
        w = int((now - self.t0) // 1.0)
        if w != self.window:
            self.window, self.in_window = w, 0
            self.windows += 1
        if self.in_window < self.rate:
            self.in_window += 1
            return True
        return False

    def admit(self, arrived: float) -> bool:
        """Whether a request handled now may be served; counts it either way. `arrived` is
        when it reached the kernel (time.monotonic()'s clock)."""
        now = time.monotonic()
        with self.lock:
            if self.t0 is None:
                self.t0 = now
            if self._take(now):
                self.served += 1
                return True
            self.refused += 1
            if self.first_refusal_sent is not None and arrived > self.first_refusal_sent:
                self.refused_late += 1  # sent after a 429 had gone out: past the first wave
            if len(self.refused_at) < self.TIMES_KEPT:
                self.refused_at.append(arrived - self.t0)
            return False

    def refusal_sent(self) -> None:
        """A 429 has been written: the first one ends the first wave."""
        now = time.monotonic()
        with self.lock:
            if self.first_refusal_sent is None and self.t0 is not None:
                self.first_refusal_sent = now

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def stats(self, reset: bool = False) -> dict:
        with self.lock:
            first = self.first_refusal_sent
            s = {"served": self.served, "refused": self.refused, "windows": self.windows,
                 "max_in_flight": self.max_in_flight, "rate": self.rate,
                 "limit": "window" if self.burst is None else "bucket", "burst": self.burst,
                 "refused_past_first_wave": self.refused_late,
                 "first_refusal_sent_ms": None if first is None else round((first - self.t0) * 1000, 1),
                 "refused_at_ms": [round(t * 1000, 1) for t in self.refused_at]}
            if reset:
                in_flight = self.in_flight
                self._clear()
                self.in_flight = in_flight  # those still running will leave() later
            return s


class RateLimitedHandler(SimpleHTTPRequestHandler):
    limiter: Limiter  # set by main()
    quiet = False

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._handle(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle(head=True)

    def _handle(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/__stats", "/__reset"):
            self._json(self.limiter.stats(reset=path == "/__reset"), head)
            return
        self.limiter.enter()
        try:
            if not self.limiter.admit(self._arrived()):
                self._too_many(head)
                self.limiter.refusal_sent()
                return
            if head:
                super().do_HEAD()
            else:
                super().do_GET()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; nothing to answer
        finally:
            self.limiter.leave()

    def _arrived(self) -> float:
        """When the request's last bytes reached the kernel, on time.monotonic()'s clock:
        now less TCP_INFO's tcpi_last_data_recv (ms since data last came in; a u32 at
        offset 52 of struct tcp_info). Now, where the kernel does not say."""
        now = time.monotonic()
        try:
            info = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            return now - struct.unpack_from("I", info, 52)[0] / 1000
        except (AttributeError, OSError, struct.error):
            return now

    def _too_many(self, head: bool) -> None:
        # Written by hand, not with send_error(): that one always adds "Connection: close",
        # which would end a keep-alive connection under --http11.
        body = b"429 Too Many Requests: at most %d requests per second\n" % self.limiter.rate
        self.send_response(429, "Too Many Requests")
        self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, obj: dict, head: bool) -> None:
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if not self.quiet:
            super().log_message(format, *args)


class Server(ThreadingHTTPServer):
    # A normal backlog (http.server's is 5): only the rate limit is under test here.
    request_queue_size = 128


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", "-p", type=int, default=8003, help="0 picks a free one (default 8003)")
    ap.add_argument("--bind", "-b", default="127.0.0.1", metavar="ADDRESS", help="default 127.0.0.1")
    ap.add_argument("--directory", "-d", default=os.getcwd(),
                    help="folder to serve (default: the current one); give the folder that holds flags/")
    ap.add_argument("--rate", "-r", type=int, default=50,
                    help="requests allowed per second (default 50): per one-second window, or the bucket's refill")
    ap.add_argument("--burst", type=int, metavar="B",
                    help="a token bucket of B tokens refilled at --rate per second, instead of fixed windows")
    ap.add_argument("--http11", action="store_true", help="speak HTTP/1.1 with keep-alive (default HTTP/1.0)")
    ap.add_argument("--quiet", "-q", action="store_true", help="no per-request log on stderr")
    a = ap.parse_args()
    if not 0 <= a.port <= 65535:
        ap.error(f"port {a.port} is out of range: give 0..65535")
    if a.rate < 1:
        ap.error(f"--rate {a.rate}: give at least 1 request per second")
    if a.burst is not None and a.burst < 1:
        ap.error(f"--burst {a.burst}: give at least 1")
    if not os.path.isdir(a.directory):
        ap.error(f"--directory {a.directory}: no such folder")

    directory = os.path.abspath(a.directory)

    class Handler(RateLimitedHandler):
        limiter = Limiter(a.rate, a.burst)
        quiet = a.quiet
        protocol_version = "HTTP/1.1" if a.http11 else "HTTP/1.0"

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=directory, **kwargs)

    if ":" in a.bind:
        Server.address_family = socket.AF_INET6
    try:
        httpd = Server((a.bind, a.port), Handler)
    except OSError as e:
        print(f"ratelimit_server: cannot listen on {a.bind}:{a.port}: {e.strerror or e}; try another --port",
              file=sys.stderr)
        return 1
    host, bound = httpd.server_address[:2]
    url_host = f"[{host}]" if ":" in host else host
    print(f"Serving HTTP on {host} port {bound} (http://{url_host}:{bound}/) ...", flush=True)
    with httpd:
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            print("\nKeyboard interrupt received, exiting.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
