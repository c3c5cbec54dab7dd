#!/usr/bin/env python3
"""Turns one run of the shared harness into bench/results/latest.{md,json}: the harness's table,
polyroute's ratios to the peers measured in that same run, the exact commands, the versions and
the machine. Ratios from one run are the figures to quote; absolute req/s swing between runs.

    bench/report.py RESULTS_JSON [--command "the command that produced it"]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results"


def _median_rps(entry: dict) -> float | None:
    return entry.get("tput_rps_median")


def _stream_rps(entry: dict) -> float | None:
    stream = entry.get("stream") or {}
    return stream.get("rps")


def _c1(entry: dict, key: str) -> float | None:
    lat = entry.get("lat_c1") or {}
    value = lat.get(key)
    return value / 1000 if value is not None else None


def _rate200(entry: dict, key: str) -> float | None:
    lat = entry.get("lat_rate_200") or {}
    value = lat.get(key)
    return value / 1000 if value is not None else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def git_revision() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, str]:
    info = {"platform": platform.platform(), "nproc": str(len(__import__("os").sched_getaffinity(0)))}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) // 1024 // 1024} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def summarize(results: dict) -> dict:
    runs = results["results"]
    ours = next((name for name in runs if name.startswith("polyroute")), None)
    summary: dict = {"gateway": ours, "peers": {}}
    if ours is None:
        return summary
    mine = runs[ours]["1w"]
    summary["polyroute"] = {
        "rps": _median_rps(mine),
        "stream_rps": _stream_rps(mine),
        "c1_p50_ms": _c1(mine, "lat_p50_us"),
        "c1_p99_ms": _c1(mine, "lat_p99_us"),
        "rate200_p99_ms": _rate200(mine, "lat_p99_us"),
        "rate200_achieved": (mine.get("lat_rate_200") or {}).get("rps"),
        "peak_rss_mb": mine.get("peak_rss_mb"),
        "rps_2w": _median_rps(runs[ours].get("2w") or {})
        or (runs[ours].get("2w") or {}).get("tput_rps_median"),
    }
    for peer in ("pyfloor", "portkey-nooverride", "portkey", "litellm", "nginx"):
        if peer in runs and "1w" in runs[peer] and _median_rps(runs[peer]["1w"]):
            entry = runs[peer]["1w"]
            summary["peers"][peer] = {
                "rps": _median_rps(entry),
                "stream_rps": _stream_rps(entry),
                "c1_p50_ms": _c1(entry, "lat_p50_us"),
                "peak_rss_mb": entry.get("peak_rss_mb"),
            }
    return summary


def ratio_table(summary: dict) -> str:
    ours = summary.get("polyroute") or {}
    lines = ["| polyroute vs | non-stream req/s | 20-chunk streams/s | c1 p50 |", "|---|---|---|---|"]
    for peer, figures in summary["peers"].items():
        lines.append(
            f"| {peer} | {_ratio(ours.get('rps'), figures['rps'])} | "
            f"{_ratio(ours.get('stream_rps'), figures['stream_rps'])} | "
            f"{ours.get('c1_p50_ms') or 'n/a'} ms vs {figures.get('c1_p50_ms') or 'n/a'} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument(
        "--command", default="bench/run.sh direct nginx pyfloor polyroute-full portkey-nooverride litellm"
    )
    parser.add_argument("--name", default="latest", help="output files: bench/results/NAME.{md,json}")
    parser.add_argument("--revision", help="the commit measured, when it is not the checkout's HEAD")
    args = parser.parse_args()
    results = json.loads(Path(args.results).read_text())
    summary = summarize(results)
    meta = results.get("meta", {})
    record = {
        "polyroute_revision": args.revision or git_revision(),
        "command": args.command,
        "machine": machine(),
        "harness_meta": meta,
        "summary": summary,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(record, indent=2) + "\n")
    versions = ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())
    md = [
        f"# Side-by-side benchmark ({meta.get('started', '')})",
        "",
        f"polyroute {record['polyroute_revision']}, one run of the shared harness: `{args.command}`",
        f"(profile `{summary.get('gateway')}`: bench/conf/*.yaml). Gateway pinned to CPU 1, wrk and the",
        "nginx upstream on CPU 0; 64 connections; median of 3 throughput runs. Quote ratios, not absolute",
        "figures.",
        "",
        f"Machine: {json.dumps(record['machine'])}. Versions: {versions}.",
        "",
        "## polyroute's ratios to the peers in this run",
        "",
        ratio_table(summary),
        "",
        "## The harness's table",
        "",
        results.get("table_md", "").strip(),
        "",
    ]
    (OUT / f"{args.name}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
