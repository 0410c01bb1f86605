#!/usr/bin/env python3
"""A TCP proxy that adds a round trip: every chunk is held RTT/2 in each direction.

    python3 scripts/latency_proxy.py LISTEN_PORT TARGET_PORT RTT_MS

Listens on 127.0.0.1:LISTEN_PORT and forwards each connection to 127.0.0.1:TARGET_PORT,
holding what it reads RTT_MS/2 before writing it on, in order, each chunk on its own clock
(no chunk waits for the one before it to be released), so that a TLS handshake, each
HTTP/1.1 request and each HTTP/2 frame pay real round trips; used to time flags-dl and curl
against nginx through a 50 ms round trip (BENCHMARKS.md, section 6). Prints "ready" once
listening. It cannot model loss or bandwidth. Standard library only.
"""
import asyncio, sys, time
LISTEN, TARGET, ONE_WAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 2000
async def pipe(reader, writer):
    q = asyncio.Queue()
    async def rd():
        while True:
            data = await reader.read(65536)
            await q.put((time.monotonic() + ONE_WAY, data))
            if not data: return
    async def wr():
        while True:
            at, data = await q.get()
            d = at - time.monotonic()
            if d > 0: await asyncio.sleep(d)
            if not data:
                try: writer.close()
                except Exception: pass
                return
            writer.write(data); await writer.drain()
    await asyncio.gather(rd(), wr(), return_exceptions=True)
async def handle(cr, cw):
    try:
        sr, sw = await asyncio.open_connection("127.0.0.1", TARGET)
    except Exception:
        cw.close(); return
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw), return_exceptions=True)
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", LISTEN, backlog=1024)
    print("ready", flush=True)
    async with srv: await srv.serve_forever()
asyncio.run(main())
