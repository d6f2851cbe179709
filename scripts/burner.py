#!/usr/bin/env python3
"""Other work on the machine, on purpose: one process per core that spins
for a random 50-500 ms, then sleeps for a random 50-500 ms, over and over,
for --seconds (then it stops by itself, as does each child if the parent
is killed). scripts/method.sh runs comparisons beside it to show what a
busy machine does to each way of pairing runs."""

import argparse
import multiprocessing
import os
import random
import time


def burn(until, seed):
    rng = random.Random(seed)
    parent = os.getppid()
    while time.monotonic() < until and os.getppid() == parent:
        end = time.monotonic() + rng.uniform(0.05, 0.5)
        while time.monotonic() < end:
            pass
        time.sleep(rng.uniform(0.05, 0.5))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, required=True, help="how long to keep the machine busy")
    parser.add_argument("--seed", type=int, default=1, help="the bursts' random seed (recorded for a rerun)")
    args = parser.parse_args()
    until = time.monotonic() + args.seconds
    workers = [multiprocessing.Process(target=burn, args=(until, args.seed + i)) for i in range(os.cpu_count() or 1)]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.join()
    except KeyboardInterrupt:
        pass
    finally:
        for w in workers:
            w.terminate()


if __name__ == "__main__":
    main()
