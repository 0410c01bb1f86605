#!/usr/bin/env python3
"""The two experiments behind the pace's rules for connections (src/download/pace/opening.rs),
on loopback, standard library only (BENCHMARKS.md, section 13).

    python3 scripts/pace_experiments.py connect-times   # how long a loopback handshake takes
    python3 scripts/pace_experiments.py ack-race [ROUNDS]

connect-times: 1,000 blocking connects made one after another to a listener whose queue
holds them all; the median and the slowest. What a connect costs when nothing is dropped,
against the second a dropped handshake costs: the floor after which one is late.

ack-race: a listen(5) server that accepts slowly; each round, 40 threads connect at once
and send a request, then the requests still unacknowledged 20 ms later are counted (their
`tx_queue` in /proc/net/tcp). Such a connection came up on the client, but the server's
kernel dropped the last packet of its handshake for want of room, and its request waits
for a retransmission. Run plain, then with the connects made one at a time (`--lock`).
"""
import argparse, socket, statistics, threading, time


def connect_times(_args):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: [srv.accept() for _ in iter(int, 1)], daemon=True).start()
    times, keep = [], []
    for _ in range(1000):
        s = socket.socket()
        t = time.perf_counter()
        s.connect(("127.0.0.1", port))
        times.append(time.perf_counter() - t)
        keep.append(s)
    times.sort()
    print(f"1000 loopback connects: median {statistics.median(times)*1e6:.0f} µs, "
          f"p99 {times[989]*1e6:.0f} µs, slowest {times[-1]*1e6:.0f} µs")


def unacked(port):
    """Our sockets' unacknowledged bytes, by local port, for connections to `port`."""
    out = {}
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            f = line.split()
            if int(f[2].split(":")[1], 16) == port:
                out[int(f[1].split(":")[1], 16)] = int(f[4].split(":")[0], 16)
    return out


def ack_race(args):
    lock = threading.Lock() if args.lock else None
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    port = srv.getsockname()[1]

    def serve():
        while True:
            conn, _ = srv.accept()
            time.sleep(0.0005)
            conn.recv(100)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    up = stuck = dropped = 0
    for _ in range(args.rounds):
        socks = []

        def client():
            s = socket.socket()
            s.setblocking(False)
            if lock:
                with lock:
                    s.connect_ex(("127.0.0.1", port))
            else:
                s.connect_ex(("127.0.0.1", port))
            socks.append(s)

        threads = [threading.Thread(target=client) for _ in range(40)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        time.sleep(0.001)
        connected = []
        for s in socks:
            try:
                s.getpeername()
                connected.append(s)
            except OSError:
                dropped += 1
        for s in connected:
            try:
                s.send(b"GET / HTTP/1.0\r\n\r\n")
            except OSError:
                pass
        time.sleep(0.02)
        queues = unacked(port)
        up += len(connected)
        stuck += sum(1 for s in connected if queues.get(s.getsockname()[1], 0) > 0)
        for s in socks:
            s.close()
        time.sleep(0.05)
    how = "one at a time" if lock else "at once"
    print(f"connects {how}: {up} came up, {stuck} of them with their request unacknowledged "
          f"after 20 ms; {dropped} handshakes dropped")


parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
sub = parser.add_subparsers(dest="what", required=True)
sub.add_parser("connect-times").set_defaults(run=connect_times)
race = sub.add_parser("ack-race")
race.add_argument("rounds", nargs="?", type=int, default=40)
race.add_argument("--lock", action="store_true", help="make the connects one at a time")
race.set_defaults(run=ack_race)
args = parser.parse_args()
args.run(args)
