#!/usr/bin/env python3
"""Interleaved A/B timing of whole commands: the way changes to flags-dl were judged.

    scripts/ab.py RUNS -- CMD_A ... -- CMD_B ... [-- CMD_C ...]

Runs every command RUNS times (after 2 untimed rounds), alternating between them and
reversing the order every other round, so that a change in the machine's load falls on
all of them alike; removes /dev/shm/o before each run (point the commands' output there);
prints each command's median and minimum wall time. Standard library only.
"""
import shutil
import statistics
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    runs = int(sys.argv[1])
    commands, current = [], []
    for word in sys.argv[3:]:
        if word == "--":
            commands.append(current)
            current = []
        else:
            current.append(word)
    commands.append(current)
    times = [[] for _ in commands]
    for round_ in range(runs + 2):
        order = range(len(commands)) if round_ % 2 == 0 else reversed(range(len(commands)))
        for i in order:
            shutil.rmtree("/dev/shm/o", ignore_errors=True)
            start = time.perf_counter()
            subprocess.run(commands[i], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if round_ >= 2:
                times[i].append((time.perf_counter() - start) * 1000)
    for command, t in zip(commands, times):
        print(f"{statistics.median(t):8.1f} ms  (min {min(t):6.1f})  {' '.join(command)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
