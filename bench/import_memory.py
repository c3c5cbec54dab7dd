#!/usr/bin/env python3
"""What each module's import keeps in the serving process (issue 20: idle RSS).

    .venv/bin/python bench/import_memory.py [--profile full] [--src DIR/src] [--top 40]

Starts `polyroute serve` on a bench profile (bench/conf/) in a child process whose imports are
wrapped: each module is charged the Python memory (tracemalloc) its import allocated and still
holds once the gateway is up, less what the modules it imported hold (their own lines). Prints
the totals by package and the largest modules. tracemalloc sees Python's allocations only (not
C extensions' own heaps, nor mapped files), and slows start-up; RSS comes from bench/memory.py.
At idle nearly all of the serving process's Python memory is what imports left (the runtime
state of an idle gateway is well under 1 MB), so this says where idle RSS can still come from.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 18595  # apart from the other benches' ports
SETTLE_S = 20  # start-up under tracemalloc takes a few seconds on the shared VM

# Runs in the child: wraps importlib's module loader, then runs the CLI as `polyroute serve` does.
CHILD = """
import json, os, sys, threading, time, tracemalloc
import _frozen_importlib as bootstrap

tracemalloc.start()
held, stack = {}, []
load = bootstrap._load_unlocked


def charged(spec):
    stack.append(0)
    before = tracemalloc.get_traced_memory()[0]
    try:
        return load(spec)
    finally:
        total = tracemalloc.get_traced_memory()[0] - before
        children = stack.pop()
        held[spec.name] = held.get(spec.name, 0) + total - children
        if stack:
            stack[-1] += total


bootstrap._load_unlocked = charged


def report():
    time.sleep(float(os.environ["SETTLE_S"]))
    print(json.dumps(held), flush=True)
    os._exit(0)


threading.Thread(target=report, daemon=True).start()
sys.argv = ["polyroute", "serve", *sys.argv[1:]]
from polyroute.cli.main import main

main()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=["full", "bare"])
    parser.add_argument("--src", default=str(ROOT / "src"))
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "PYTHONPATH": args.src,
            "POLYROUTE_DATA_DIR": data_dir,
            "BENCH_UPSTREAM": "http://127.0.0.1:18530/v1",  # never called: nothing is requested
            "SETTLE_S": str(SETTLE_S),
        }
        config = ROOT / "bench" / "conf" / f"{args.profile}.yaml"
        command = [sys.executable, "-c", CHILD, "--config", str(config), "--port", str(PORT)]
        out = subprocess.run(  # noqa: S603  # our own interpreter and script
            [*command, "--log-level", "warning"],
            env=env,
            capture_output=True,
            text=True,
            timeout=SETTLE_S + 60,
            check=True,
        ).stdout
    held: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    packages: Counter[str] = Counter()
    for name, size in held.items():
        parts = name.split(".")
        packages[".".join(parts[:2]) if parts[0] == "polyroute" else parts[0]] += size
    print(f"{len(held)} modules, {sum(held.values()) / 1e6:.1f} MB of Python memory held by imports")
    print("\nby package (polyroute by subpackage), MB")
    for name, size in packages.most_common(args.top):
        print(f"{size / 1e6:7.2f}  {name}")
    print("\nlargest modules, KB")
    for name, size in Counter(held).most_common(args.top):
        print(f"{size / 1e3:7.0f}  {name}")


if __name__ == "__main__":
    main()
