#!/usr/bin/env python3
"""Overload: open-loop load at 1x and 2x a gateway's capacity; what it admits, sheds, and how fast.

Closed-loop load (wrk: each connection waits for its answer) cannot overload a server: it slows
down with it. This drives `polyroute serve` (bench/conf/full.yaml, a virtual key, pinned to CPU 1)
with a fixed arrival rate instead (bench/open_loop.lua, wrk on CPU 0 with the nginx upstream):

1. capacity: closed-loop wrk, 64 connections;
2. light load (unloaded p99): open loop at a few % of capacity;
3. 1x and 2x capacity, open loop, for --duration seconds each.

Every 200 body is checked (the upstream's content), every 503 must carry Retry-After and the
`overloaded` code; latency is measured from each request's slot in the schedule, so a request a
busy connection sent late counts its wait. Reported per phase: offered and admitted rates, shed
count, p50/p99 of admitted requests and their ratio to the unloaded p99.

    bench/overload.py [--duration 10] [--rounds 1] [--before COMMIT] [--cap N] [--workers]

--before COMMIT runs that commit's src/ as a second target in the same run (alternating), --cap
adds a target with general_settings.max_in_flight_requests = N, --workers compares `--workers 2`
(CPUs 0,1) with one worker (CPU 1), closed loop. Needs the shared harness (../shared/bench).
Results: bench/results/overload.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cpu_per_request  # noqa: E402  (the nginx upstream and the harness's payloads)

ROOT = Path(__file__).resolve().parent.parent
HARNESS = cpu_per_request.HARNESS
RUN = Path(os.environ.get("BENCH_RUN", "/tmp/bench-overload"))
# Ports of their own: other benchmarks may run beside this one.
UPSTREAM_PORT, GATEWAY_PORT = 18300, 18380
KEY = "sk-bench-virtual-0123456789abcdef"  # minted by bench/serve_with_key.sh
URL = f"http://127.0.0.1:{GATEWAY_PORT}/v1/chat/completions"
CONTENT = "Hello from the bench upstream."  # the harness's upstream answer (fake_upstream.CONTENT)


def git_tree(commit: str) -> Path:
    """`commit`'s src/ in a temporary folder (run with PYTHONPATH, the venv's packages)."""
    folder = Path(tempfile.mkdtemp(prefix="overload-src-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "src"


def config_with(extra: dict[str, object]) -> Path:
    """bench/conf/full.yaml with more general_settings."""
    import yaml

    config = yaml.safe_load((ROOT / "bench" / "conf" / "full.yaml").read_text())
    config["general_settings"].update(extra)
    path = RUN / f"full-{'-'.join(f'{k}{v}' for k, v in extra.items())}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Gateway:
    """`polyroute serve` with the full profile's virtual key, in its own session, pinned."""

    def __init__(self, src: Path, config: Path, workers: int = 1, cpus: str = "1") -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(src),
            "BENCH_UPSTREAM": f"http://127.0.0.1:{UPSTREAM_PORT}/v1",
            "POLYROUTE_DATA_DIR": tempfile.mkdtemp(prefix="overload-data-"),
        }
        script = ROOT / "bench" / "serve_with_key.sh"
        self.process = subprocess.Popen(
            ["taskset", "-c", cpus, str(script), str(config), str(GATEWAY_PORT), str(workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(RUN / "gateway.log", "ab"),  # noqa: SIM115  # the child keeps it
            start_new_session=True,
        )
        body = json.dumps({"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]}).encode()
        try:
            cpu_per_request.wait_ready(URL, {"Authorization": f"Bearer {KEY}"}, body, timeout=180)
        except RuntimeError:
            self.stop()
            raise

    def shed_total(self) -> float:
        request = urllib.request.Request(
            f"http://127.0.0.1:{GATEWAY_PORT}/metrics", headers={"Authorization": "Bearer sk-bench"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  # loopback only
            text = response.read().decode()
        return sum(
            float(m) for m in re.findall(r"^polyroute_shed_requests_total\{[^}]*\} (\S+)$", text, re.M)
        )

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def body_file() -> Path:
    path = RUN / "body.json"
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
    path.write_text(json.dumps(body))
    return path


def wrk_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_BODY_FILE": str(body_file()),
        "BENCH_HEADERS": f"Authorization: Bearer {KEY}",
        "BENCH_MARKERS": CONTENT,
        **extra,
    }


def closed_loop_rps(duration: int, connections: int = 64) -> dict[str, float]:
    """wrk's closed loop (the harness's post.lua): requests per second at `connections`."""
    wrk = ["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", "-s", str(HARNESS / "wrk" / "post.lua")]
    subprocess.run([*wrk, "-d2s", URL], env=wrk_env(), capture_output=True, check=True)  # warm
    output = subprocess.run(
        [*wrk, f"-d{duration}s", URL], env=wrk_env(), capture_output=True, text=True, check=True
    )
    summary = json.loads(output.stdout.split("BENCHJSON ", 1)[1].splitlines()[0])
    seconds = summary["duration_us"] / 1e6
    return {
        # Answers a client could use: a process that sheds answers many 503s fast.
        "ok_rps": round((summary["requests"] - summary["non2xx3xx"]) / seconds),
        "rps": round(summary["requests"] / seconds),
        "non_2xx": summary["non2xx3xx"],
        "socket_errors": sum(summary[k] for k in ("err_connect", "err_read", "err_write")),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def open_loop(rate: float, connections: int, duration: float, warmup: float) -> dict[str, object]:
    """bench/open_loop.lua at `rate` requests/s over `connections` (the cap on outstanding
    requests): counts and latencies of the requests whose slot falls after the warm-up."""
    out = RUN / "open_loop.out"
    out.unlink(missing_ok=True)
    setup_s = 0.5 + connections * 0.002  # open_loop.lua's start: after every thread exists
    total = math.ceil(setup_s + warmup + duration)
    env = wrk_env(
        OPEN_RATE=str(rate), OPEN_CONNS=str(connections), OPEN_WARMUP_S=str(warmup), OPEN_OUT=str(out)
    )
    wrk = [
        "taskset",
        "-c",
        "0",
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{total}s",
        "--timeout",
        "30s",
    ]
    subprocess.run(
        [*wrk, "-s", str(ROOT / "bench" / "open_loop.lua"), URL], env=env, capture_output=True, check=True
    )
    admitted: list[float] = []
    shed: list[float] = []
    other = 0
    counts: dict[str, int] = {}
    sample = ""
    for line in out.read_text().splitlines():
        if line.startswith("# sample "):
            sample = line[len("# sample ") :].strip()
        elif line.startswith("# "):
            counts = {k: int(v) for k, v in (item.split("=") for item in line[2:].split())}
        else:
            status, latency_us, _late_us, _slot_us = line.split()
            if status == "200":
                admitted.append(float(latency_us) / 1000)
            elif status == "503":
                shed.append(float(latency_us) / 1000)
            else:
                other += 1
    # Slots due in the window: those the generator could not send (every connection waiting)
    # are the load past the cap on outstanding requests.
    window_s = counts.get("window_us", 0) / 1e6 or duration
    answered = len(admitted) + len(shed) + other
    return {
        "offered_rps": round(rate),
        "window_s": round(window_s, 2),
        "due_in_window": round(rate * window_s),
        "sent_in_window": counts.get("sent_window", 0),
        "answered": answered,
        "unanswered_at_end": counts.get("sent_window", 0) - answered,
        "admitted_rps": round(len(admitted) / window_s),
        "admitted": len(admitted),
        "shed": len(shed),
        "shed_fraction": round(len(shed) / answered, 3) if answered else 0.0,
        "other_status": other,
        "bad_200_bodies": counts.get("bad_body", 0),
        "shed_without_retry_after": counts.get("retry_after_missing", 0),
        "late_sends": counts.get("late", 0),
        "socket_errors": sum(counts.get(k, 0) for k in ("err_connect", "err_read", "err_write")),
        "admitted_p50_ms": round(percentile(admitted, 50), 2),
        "admitted_p99_ms": round(percentile(admitted, 99), 2),
        "admitted_max_ms": round(max(admitted, default=float("nan")), 2),
        "shed_p50_ms": round(percentile(shed, 50), 2),
        "shed_p99_ms": round(percentile(shed, 99), 2),
        "bad_sample": sample,
    }


def run_target(
    name: str, src: Path, config: Path, rates: dict[str, float], args: argparse.Namespace
) -> dict[str, object]:
    gateway = Gateway(src, config)
    try:
        result: dict[str, object] = {"capacity": closed_loop_rps(args.capacity_duration)}
        print(name, "capacity", json.dumps(result["capacity"]), flush=True)
        for phase, rate in rates.items():
            shed_before = gateway.shed_total()
            connections = args.light_connections if phase == "light" else args.connections
            result[phase] = open_loop(rate, connections, args.duration, args.warmup)
            result[phase]["gateway_shed_total"] = round(gateway.shed_total() - shed_before)
            print(name, phase, json.dumps(result[phase]), flush=True)
    finally:
        gateway.stop()
    unloaded = result["light"]["admitted_p99_ms"] if "light" in result else float("nan")
    for phase in rates:
        if phase != "light":
            result[phase]["p99_ratio_to_unloaded"] = round(result[phase]["admitted_p99_ms"] / unloaded, 2)
    return result


def workers_compare(src: Path, duration: int, rounds: int) -> dict[str, object]:
    """Closed-loop req/s of `--workers 2` (CPUs 0,1, beside wrk and nginx) and of one worker."""
    runs: dict[str, list[float]] = {"1": [], "2": []}
    for _ in range(rounds):
        for workers, cpus in (("1", "1"), ("2", "0,1")):
            gateway = Gateway(src, ROOT / "bench" / "conf" / "full.yaml", int(workers), cpus)
            try:
                runs[workers].append(closed_loop_rps(duration)["ok_rps"])
            finally:
                gateway.stop()
            print("workers", workers, runs[workers][-1], flush=True)
    one, two = (sorted(runs[k])[len(runs[k]) // 2] for k in ("1", "2"))
    return {"rps_1_worker": runs["1"], "rps_2_workers": runs["2"], "ratio": round(two / one, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds recorded per open-loop phase")
    parser.add_argument("--warmup", type=float, default=2, help="seconds sent, not recorded, first")
    parser.add_argument("--capacity-duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=256, help="cap on outstanding requests")
    parser.add_argument("--light-connections", type=int, default=16)
    parser.add_argument("--light-rate", type=float, default=100)
    parser.add_argument("--rate", type=float, help="capacity to base 1x/2x on (default: measured)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--phases", default="light,1x,2x", help="which of light,1x,2x to run")
    parser.add_argument("--before", help="a commit whose src/ runs as the `before` target")
    parser.add_argument("--cap", type=int, help="a target with max_in_flight_requests = N too")
    parser.add_argument("--workers", action="store_true", help="--workers 2 vs 1, closed loop")
    parser.add_argument("--name", default="overload")
    args = parser.parse_args()
    RUN.mkdir(parents=True, exist_ok=True)
    cpu_per_request.RUN = RUN
    cpu_per_request.UPSTREAM_PORT = UPSTREAM_PORT
    full = ROOT / "bench" / "conf" / "full.yaml"
    targets: dict[str, tuple[Path, Path]] = {}
    if args.before:
        targets[f"before ({args.before})"] = (git_tree(args.before), full)
    # Lag shedding is opt-in (general_settings.shed_on_event_loop_lag): this run measures it on.
    targets["this tree"] = (ROOT / "src", config_with({"shed_on_event_loop_lag": True}))
    if args.cap:
        targets[f"this tree, max_in_flight_requests {args.cap}"] = (
            ROOT / "src",
            config_with({"max_in_flight_requests": args.cap, "shed_on_event_loop_lag": True}),
        )
    upstream = cpu_per_request.start_upstream()
    time.sleep(1)
    results: dict[str, object] = {"args": vars(args), "targets": {}}
    try:
        capacity = args.rate
        if capacity is None:
            first = Gateway(*targets[next(iter(targets))])
            try:
                capacity = closed_loop_rps(args.capacity_duration)["ok_rps"]
            finally:
                first.stop()
        results["capacity_rps"] = capacity
        rates = {"light": args.light_rate, "1x": capacity, "2x": 2 * capacity}
        rates = {phase: rate for phase, rate in rates.items() if phase in args.phases.split(",")}
        for round_no in range(args.rounds):
            for name, (src, config) in targets.items():
                outcome = run_target(name, src, config, rates, args)
                results["targets"].setdefault(name, []).append(outcome)
                print(f"round {round_no + 1}: {name} done", flush=True)
        if args.workers:
            # Capacity, so the first target (before: it does not shed under closed-loop load).
            results["workers"] = workers_compare(
                targets[next(iter(targets))][0], args.capacity_duration + 3, max(args.rounds, 2)
            )
    finally:
        upstream.terminate()
        upstream.wait(10)
    results["command"] = "bench/overload.py " + " ".join(sys.argv[1:])
    results["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = ROOT / "bench" / "results" / f"{args.name}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(results))
    print(f"results: {out} and .md")


def markdown(results: dict[str, object]) -> str:
    lines = [
        f"# Overload, open loop ({results['date']})",
        "",
        f"`{results['command']}`: `polyroute serve` (bench/conf/full.yaml, a virtual key) on CPU 1; wrk",
        "(bench/open_loop.lua, one connection per thread) and the nginx upstream on CPU 0. Rates are",
        f"multiples of the capacity measured first (closed loop, 64 connections, 200s only): "
        f"{results['capacity_rps']} req/s. Latency counts from each request's slot in the schedule.",
        "",
        "| target | round | phase | offered req/s | admitted req/s | shed (503 + Retry-After) "
        "| not sent (cap) | admitted p50 / p99 ms | p99 / unloaded p99 | shed p50 ms "
        "| bad 200 bodies / 503s without Retry-After |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rounds in results["targets"].items():
        for number, result in enumerate(rounds, 1):
            capacity = result["capacity"]
            lines.append(
                f"| {name} | {number} | capacity (closed loop, c64) | – | {capacity['ok_rps']} | "
                f"{capacity['non_2xx']} | – | – | – | – | – |"
            )
            for phase in ("light", "1x", "2x"):
                if phase not in result:
                    continue
                r = result[phase]
                not_sent = max(0, r["due_in_window"] - r["sent_in_window"])
                lines.append(
                    f"| {name} | {number} | {phase} | {r['offered_rps']} | {r['admitted_rps']} "
                    f"| {r['shed']} | {not_sent} | {r['admitted_p50_ms']} / {r['admitted_p99_ms']} | "
                    f"{r.get('p99_ratio_to_unloaded', 1.0)}x | {r['shed_p50_ms']} | "
                    f"{r['bad_200_bodies']} / {r['shed_without_retry_after']} |"
                )
    workers = results.get("workers")
    if workers:
        lines += [
            "",
            f"## `--workers 2` vs one worker ({next(iter(results['targets']))}: closed loop, c64)",
            "",
            f"One worker on CPU 1: {workers['rps_1_worker']}; two workers on CPUs 0,1 (beside wrk and the",
            f"upstream): {workers['rps_2_workers']}; ratio of the medians {workers['ratio']}x.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
