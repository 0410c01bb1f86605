#!/usr/bin/env python3
"""A stand-in for the book's `slow_server.py`, to measure flags-dl against it.

Fluent Python 2e (20-executors/getflags/slow_server.py) serves the flags with
`http.server`'s SimpleHTTPRequestHandler under a ThreadingHTTPServer and delays every
GET by random.uniform(0.5, 5.0) seconds; with --error-rate P it answers 418 I'm a
teapot to that fraction of the GETs, after the same delay. This script keeps what
matters to a client, so figures taken against it hold against the book's:

- the same server classes: ThreadingHTTPServer, so the listen queue is socketserver's
  request_queue_size = 5 (the kernel drops handshakes past it) and one thread per
  connection; SimpleHTTPRequestHandler, so HTTP/1.0 and one connection per request;
- the same delay before each GET's answer, and the 418 (delayed too) in error mode.

It differs only where a benchmark needs it: it binds 127.0.0.1 unless told --bind (the
book binds every interface), takes the port as --port as well as the book's positional
argument (default 8001, as the book; 0 picks a free one), prints the bound port on its
first line ("Serving HTTP on HOST port PORT (URL) ...", as http.server does), has
--quiet to stop the per-request log, --seed to repeat a run's delays, and
--min-delay/--max-delay. And it says what it drew, for a benchmark to hold a client's
time against the slowest delay it could not avoid:

    GET /__stats  ->  {"requests": n, "max_delay": s, "max_delay_answered": s, "seed": k}
    GET /__reset  ->  the same figures, then sets them to 0 and, with --seed, draws the
                      same delays again from the start (so each run gets the same ones)

`requests` counts the GETs that drew a delay, `max_delay` is the slowest delay drawn (s),
`max_delay_answered` the slowest of those whose answer was sent whole (a client that gave
up waiting drew one too). Each /__reset also writes "slowest delay drawn: ..." on stderr,
--quiet or not. Neither path is delayed or counted. Standard library only.

    python3 scripts/slow_server.py --port 0 --directory ../shared  # serves /flags/...
    python3 scripts/slow_server.py 8002 -d ../shared --error-rate .25
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

MIN_DELAY = 0.5  # seconds, as the book
MAX_DELAY = 5.0


class SlowHandler(SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler whose GETs wait a random delay, and may answer 418."""

    # Set on the class by main(), as http.server's own options are.
    error_rate = 0.0
    min_delay = MIN_DELAY
    max_delay = MAX_DELAY
    quiet = False
    rng = random.Random()
    seed: int | None = None
    rng_lock = threading.Lock()  # one Random and the figures, shared by the handler threads
    drawn = {"requests": 0, "max_delay": 0.0, "max_delay_answered": 0.0}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?", 1)[0] in ("/__stats", "/__reset"):
            self._stats(reset=self.path.startswith("/__reset"))
            return
        with self.rng_lock:
            delay = self.rng.uniform(self.min_delay, self.max_delay)
            teapot = self.rng.random() < self.error_rate
            self.drawn["requests"] += 1
            self.drawn["max_delay"] = max(self.drawn["max_delay"], delay)
        cc = self.path[-6:-4].upper()
        if not self.quiet:
            sys.stderr.write(f"{cc} delay: {delay:.2f}s{' (418)' if teapot else ''}\n")
        time.sleep(delay)
        try:
            if teapot:
                self.send_error(HTTPStatus.IM_A_TEAPOT, "I'm a Teapot")
                return
            f = self.send_head()
            if f:
                try:
                    self.copyfile(f, self.wfile)
                finally:
                    f.close()
            with self.rng_lock:
                self.drawn["max_delay_answered"] = max(self.drawn["max_delay_answered"], delay)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up during the delay (a timeout): nothing to answer.
            if not self.quiet:
                sys.stderr.write(f"{cc} *** client closed\n")

    def _stats(self, reset: bool) -> None:
        with self.rng_lock:
            stats = {**self.drawn, "seed": self.seed}
            if reset:
                self.drawn.update(requests=0, max_delay=0.0, max_delay_answered=0.0)
                if self.seed is not None:
                    self.rng.seed(self.seed)
                sys.stderr.write(f"slowest delay drawn: {stats['max_delay']:.3f}s "
                                 f"({stats['max_delay_answered']:.3f}s answered), {stats['requests']} requests\n")
        body = (json.dumps(stats) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if not self.quiet:
            super().log_message(format, *args)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("port_pos", metavar="PORT", nargs="?", type=int, help="as the book: the port (default 8001)")
    ap.add_argument("--port", "-p", type=int, help="port to listen on; 0 picks a free one (default 8001)")
    ap.add_argument("--bind", "-b", default="127.0.0.1", metavar="ADDRESS", help="default 127.0.0.1")
    ap.add_argument("--directory", "-d", default=os.getcwd(),
                    help="folder to serve (default: the current one); give the folder that holds flags/")
    ap.add_argument("--error-rate", "-e", type=float, default=0.0, metavar="PROBABILITY",
                    help="answer 418 I'm a teapot to this fraction of the GETs, e.g. .25 (default 0)")
    ap.add_argument("--min-delay", type=float, default=MIN_DELAY, help=f"seconds (default {MIN_DELAY})")
    ap.add_argument("--max-delay", type=float, default=MAX_DELAY, help=f"seconds (default {MAX_DELAY})")
    ap.add_argument("--seed", type=int, help="seed the delays and errors, to repeat a run")
    ap.add_argument("--quiet", "-q", action="store_true", help="no per-request log on stderr")
    a = ap.parse_args()

    if a.port is not None and a.port_pos is not None and a.port != a.port_pos:
        ap.error("give the port once: either PORT or --port")
    port = a.port if a.port is not None else (a.port_pos if a.port_pos is not None else 8001)
    if not 0 <= port <= 65535:
        ap.error(f"port {port} is out of range: give 0..65535")
    if not 0.0 <= a.error_rate <= 1.0:
        ap.error(f"--error-rate {a.error_rate} is not a probability: give 0..1, e.g. .25")
    if not 0.0 <= a.min_delay <= a.max_delay:
        ap.error("the delays must satisfy 0 <= --min-delay <= --max-delay")
    if not os.path.isdir(a.directory):
        ap.error(f"--directory {a.directory}: no such folder")

    SlowHandler.error_rate = a.error_rate
    SlowHandler.min_delay = a.min_delay
    SlowHandler.max_delay = a.max_delay
    SlowHandler.quiet = a.quiet
    SlowHandler.rng = random.Random(a.seed)
    SlowHandler.seed = a.seed

    directory = os.path.abspath(a.directory)

    class Handler(SlowHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=directory, **kwargs)

    class Server(ThreadingHTTPServer):
        # ThreadingHTTPServer as it comes: request_queue_size stays 5, as under the book's server.
        address_family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET

    try:
        httpd = Server((a.bind, port), Handler)
    except OSError as e:
        print(f"slow_server: cannot listen on {a.bind}:{port}: {e.strerror or e}; try another --port", file=sys.stderr)
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
