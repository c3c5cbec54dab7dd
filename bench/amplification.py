"""Bounded replays of issue 13's amplification and label-growth inputs against the components
that handle them, before (the code at `--before`, default b648324) and after.

    .venv/bin/python bench/amplification.py [--before COMMIT] [--out FILE]

  * a gzip bomb (zeros, about 1,000:1): "before" decompressed whole (aiohttp's auto_decompress
    did the same); "after" is providers/bounds.py with its default ratio bound;
  * an unterminated SSE event fed in 16 KB chunks: "before" is the old SSEFramer (re-joined its
    buffer per chunk); "after" is the new one, once with its default 1 MB event bound and once
    with the bound raised so the same bytes are held (the linear cost);
  * 20,000 wildcard model names counted into the request metrics, then one render.

Inputs are bounded (50 MB unpacked, 8 MB of event, 20,000 names) so "before" finishes.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

from polyroute.observability import metrics as metrics_module
from polyroute.observability.metrics import GatewayMetrics, render
from polyroute.protocol.sse import SSEFramer
from polyroute.providers.bounds import BoundedBody, UpstreamLimits

MB = 1024 * 1024


def measure(fn):
    """(result, seconds, peak MB): timed on its own, then run again under tracemalloc (which
    slows Python down several times) for the peak."""

    def run():
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001  # a refusal is the result being measured
            return f"refused: {exc}"

    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, elapsed, peak / MB


def gzip_bomb(unpacked_mb: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MB)
    return b"".join(packer.compress(zeros) for _ in range(unpacked_mb)) + packer.flush()


def old_framer_class(commit: str):
    source = subprocess.run(
        ["git", "show", f"{commit}:src/polyroute/protocol/sse.py"], capture_output=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_sse.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("old_sse", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_sse"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module.SSEFramer


def feed_unterminated(framer, total: int, chunk: int = 16 * 1024) -> int:
    piece = b"data: " + b"a" * (chunk - 6)
    fed = 0
    while fed < total:
        framer.feed(piece if fed == 0 else b"a" * chunk)
        fed += chunk
    return fed


def metrics_render(names: int) -> tuple[int, int]:
    metrics = GatewayMetrics()
    for i in range(names):
        group = f"fake/name-{i}"
        metrics.requests.inc(("chat", group, "openai", "success", "200"))
        metrics.request_duration.observe(("chat", group, "openai"), 0.01)
        metrics.tokens.inc((group, "openai", "prompt", "provider"), 10)
    snapshot = metrics.snapshot({})
    body = render(snapshot, with_process=False)
    return len(body), sum(len(s) for s in snapshot["counters"].values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="b648324")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []

    bomb = gzip_bomb(50)
    _, t, m = measure(lambda: len(zlib.decompress(bomb, 16 + zlib.MAX_WBITS)))
    rows.append((f"gzip bomb, 50 MB from {len(bomb) // 1024} KB", "before: decompressed whole", t, m))
    limits = UpstreamLimits()

    def bounded() -> int:
        body = BoundedBody("gzip", limits.max_body_bytes, limits.upstream_max_decompression_ratio, "answer")
        return sum(len(p) for p in body.feed(bomb))

    result, t, m = measure(bounded)
    rows.append(("", f"after: {str(result)[:60]}", t, m))

    old = old_framer_class(args.before)
    _, t, m = measure(lambda: feed_unterminated(old(), 8 * MB))
    rows.append(("unterminated event, 8 MB in 16 KB chunks", "before: old framer", t, m))
    result, t, m = measure(lambda: feed_unterminated(SSEFramer(), 8 * MB))
    rows.append(("", f"after, 1 MB bound: {str(result)[:50]}", t, m))
    _, t, m = measure(lambda: feed_unterminated(SSEFramer(64 * MB), 8 * MB))
    rows.append(("", "after, bound raised to 64 MB (held whole)", t, m))

    original = metrics_module.MAX_LABEL_VALUES
    metrics_module.MAX_LABEL_VALUES = 10**9
    (size, series), t, m = measure(lambda: metrics_render(20_000))
    before = f"before (unbounded): {size / MB:.1f} MB, {series} series"
    rows.append(("20,000 wildcard names, one render", before, t, m))
    metrics_module.MAX_LABEL_VALUES = original
    (size, series), t, m = measure(lambda: metrics_render(20_000))
    rows.append(("", f"after (bound {original}): {size / 1024:.0f} KB, {series} series", t, m))

    lines = ["| input | run | seconds | peak MB (Python heap) |", "|---|---|---:|---:|"]
    lines += [f"| {a} | {b} | {t:.3f} | {m:.1f} |" for a, b, t, m in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
