#!/usr/bin/env python3
"""A TCP proxy on 127.0.0.1 that adds a round trip: every chunk waits DELAY ms each way.

    python3 scripts/latency_proxy.py --target 127.0.0.1:8443 [--port 0] [--delay-ms 25]
    python3 scripts/latency_proxy.py LISTEN_PORT TARGET_PORT RTT_MS    (the older form)

Prints `ready: listening on 127.0.0.1 port PORT ...` as its first line on stdout (PORT
is the port it got, useful with --port 0), then forwards each accepted connection to the
target. Every chunk read from either side is held DELAY ms (default 25, so a 50 ms
round trip) and then written to the other side, in order, without holding up what
follows: each direction has a queue of (due time, bytes), a reader that stamps and
queues chunks as they arrive, and a writer that sleeps until the head's due time.
So a TLS handshake, each HTTP/1.1 request and each HTTP/2 frame pay the round trip,
as they do on a real network, which a server's think time (`--delay`) does not model.
A half-close (EOF) is passed on after the same delay.

What it does not model: the kernel's TCP handshake (the proxy accepts at once, and
connects to the target at once, so a new connection's SYN/SYN-ACK cost nothing;
a real one costs one more round trip before TLS starts), loss, bandwidth and TCP's
slow start. Both sockets have TCP_NODELAY, so Nagle adds no wait of its own.
Standard library only; SIGTERM or Ctrl-C ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

CHUNK = 64 * 1024


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader to writer, each chunk delivered `delay` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read_side() -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.put_nowait((loop.time() + delay, data))  # b"" is EOF, delayed too
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time() + delay, b""))

    async def write_side() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            # No drain() per chunk: it would hold the chunks behind this one past their
            # due time whenever the peer reads slowly; the transport buffers instead.

    r = asyncio.create_task(read_side())
    try:
        await write_side()
    finally:
        r.cancel()


def nodelay(w: asyncio.StreamWriter) -> None:
    sock = w.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter, host: str, port: int, delay: float) -> None:
    nodelay(cw)
    try:
        sr, sw = await asyncio.open_connection(host, port)
    except OSError:
        cw.close()
        return
    nodelay(sw)
    up = asyncio.create_task(pipe(cr, sw, delay))
    down = asyncio.create_task(pipe(sr, cw, delay))
    try:
        # Both directions end (each passes its EOF on); then both sockets close.
        await asyncio.gather(up, down, return_exceptions=True)
    finally:
        for w in (sw, cw):
            try:
                w.close()
            except OSError:
                pass


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("positional", nargs="*", metavar="LISTEN_PORT TARGET_PORT RTT_MS",
                    help="the older form: listen on LISTEN_PORT, forward to 127.0.0.1:TARGET_PORT, "
                         "RTT_MS/2 each way (BENCHMARKS.md section 6)")
    ap.add_argument("--target", help="HOST:PORT to forward to")
    ap.add_argument("--port", type=int, default=0, help="port to listen on, 127.0.0.1 (default: a free one)")
    ap.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay in ms (default 25: 50 ms round trip)")
    a = ap.parse_args()
    if a.positional:
        if len(a.positional) != 3 or not all(x.replace(".", "", 1).isdigit() for x in a.positional):
            ap.error("give LISTEN_PORT TARGET_PORT RTT_MS (three numbers), or --target HOST:PORT")
        a.port, a.target, a.delay_ms = int(a.positional[0]), f"127.0.0.1:{a.positional[1]}", float(a.positional[2]) / 2
    if not a.target:
        ap.error("--target HOST:PORT is needed")
    host, _, port = a.target.rpartition(":")
    if not host or not port.isdigit():
        ap.error(f"--target {a.target!r}: give HOST:PORT, e.g. 127.0.0.1:8443")
    if a.delay_ms < 0:
        ap.error("--delay-ms must be 0 or more")
    delay = a.delay_ms / 1000
    server = await asyncio.start_server(lambda r, w: handle(r, w, host.strip("[]"), int(port), delay),
                                        "127.0.0.1", a.port, backlog=4096)
    got = server.sockets[0].getsockname()[1]
    print(f"ready: listening on 127.0.0.1 port {got}, forwarding to {a.target}, "
          f"{a.delay_ms:g} ms each way", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
