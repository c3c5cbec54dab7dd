#!/usr/bin/env python3
"""The inbound protocols side by side: requests per second and gateway CPU per request for
chat, Anthropic Messages and OpenAI Responses, native (pass-through) and translated, in one run.

An nginx upstream on CPU 0 answers OpenAI chat (`/v1/chat/completions`), Anthropic Messages
(`/v1/messages`) and OpenAI Responses (`/v1/responses`) with constant bodies (JSON, or a
20-chunk SSE stream when the request says `"stream": true`), so the upstream costs about nothing.
`polyroute serve` runs on CPU 1 (master key, one deployment per model, metrics and spend rows on),
wrk drives it from CPU 0 with 64 connections. Every response is checked in a short run first
(status 200 and the protocol's end marker in the body).

    bench/protocols.py [--duration 6] [--out bench/results/protocols.json]

Needs nginx with the echo module and wrk (../shared/bench/setup.sh installs them).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench"))
sys.path.insert(0, str(ROOT / "bench"))
from cpu_per_request import cpu_seconds  # noqa: E402  (the same /proc accounting)

UPSTREAM_PORT, GATEWAY_PORT = 18100, 18180
CHUNKS = 20
MASTER = "sk-bench-protocols"
WORDS = [f"w{i} " for i in range(CHUNKS)]
TEXT = "".join(WORDS)


# -- the upstream's constant answers -------------------------------------------------------------


def _sse(event: str | None, data: dict | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def openai_bodies() -> tuple[str, str]:
    usage = {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 12 + CHUNKS}
    answer = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
        "usage": usage,
    }
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    events = [_sse(None, {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
    events += [_sse(None, {**head, "choices": [{"index": 0, "delta": {"content": w}}]}) for w in WORDS]
    events.append(_sse(None, {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    events.append(_sse(None, {**head, "choices": [], "usage": usage}))
    events.append(_sse(None, "[DONE]"))
    return json.dumps(answer, separators=(",", ":")), "".join(events)


def anthropic_bodies() -> tuple[str, str]:
    usage = {"input_tokens": 12, "output_tokens": CHUNKS}
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": 12, "output_tokens": 1}}
    events = [
        _sse("message_start", {"type": "message_start", "message": start}),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _sse("ping", {"type": "ping"}),
    ]
    events += [
        _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
        )
        for w in WORDS
    ]
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": CHUNKS},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return json.dumps(message, separators=(",", ":")), "".join(events)


def responses_bodies() -> tuple[str, str]:
    usage = {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": CHUNKS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 12 + CHUNKS,
    }
    part = {"type": "output_text", "text": TEXT, "annotations": []}
    item = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [part],
    }
    response = {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "gpt-4o-mini",
        "output": [item],
        "usage": usage,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    seq = iter(range(10_000))
    running = {**response, "status": "in_progress", "output": [], "usage": None}

    def event(kind: str, **fields: object) -> str:
        return _sse(kind, {"type": kind, "sequence_number": next(seq), **fields})

    events = [
        event("response.created", response=running),
        event("response.in_progress", response=running),
        event(
            "response.output_item.added",
            output_index=0,
            item={**item, "status": "in_progress", "content": []},
        ),
        event(
            "response.content_part.added",
            item_id="msg_bench",
            output_index=0,
            content_index=0,
            part={**part, "text": ""},
        ),
    ]
    events += [
        event("response.output_text.delta", item_id="msg_bench", output_index=0, content_index=0, delta=w)
        for w in WORDS
    ]
    events += [
        event("response.output_text.done", item_id="msg_bench", output_index=0, content_index=0, text=TEXT),
        event("response.content_part.done", item_id="msg_bench", output_index=0, content_index=0, part=part),
        event("response.output_item.done", output_index=0, item=item),
        event("response.completed", response=response),
    ]
    return json.dumps(response, separators=(",", ":")), "".join(events)


def _quote(text: str) -> str:
    assert "'" not in text and "$" not in text
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _sets(prefix: str, text: str, limit: int = 3000) -> tuple[str, str]:
    """nginx limits a config token to 4 KiB: the body as `set $<prefix>N '...';` pieces."""
    pieces = [text[i : i + limit] for i in range(0, len(text), limit)]
    sets = " ".join(f"set ${prefix}{i} '{_quote(p)}';" for i, p in enumerate(pieces))
    return sets, "".join(f"${prefix}{i}" for i in range(len(pieces)))


def upstream_conf(run: Path) -> Path:
    blocks = []
    for name, path, (answer, stream) in (
        ("chat", "/v1/chat/completions", openai_bodies()),
        ("messages", "/v1/messages", anthropic_bodies()),
        ("responses", "/v1/responses", responses_bodies()),
    ):
        sets, variables = _sets(f"{name}_sse", stream)
        blocks.append(
            f"""
    location = {path} {{
      client_body_buffer_size 256k; client_body_in_single_buffer on;
      echo_read_request_body; echo_exec $bench_{name};
    }}
    location @{name}_json {{ default_type application/json; return 200 '{_quote(answer)}'; }}
    location @{name}_sse {{ default_type text/event-stream; {sets} return 200 "{variables}"; }}"""
        )
    stream_true = "'~\"stream\"\\s*:\\s*true'"
    maps = "\n".join(
        f"  map $request_body $bench_{name} {{ {stream_true} @{name}_sse; default @{name}_json; }}"
        for name in ("chat", "messages", "responses")
    )
    conf = f"""load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/nginx.err warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {run}/body;
  proxy_temp_path {run}/proxy;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
{maps}
  server {{
    listen 127.0.0.1:{UPSTREAM_PORT} backlog=4096;{"".join(blocks)}
  }}
}}
"""
    path = run / "nginx.conf"
    path.write_text(conf)
    return path


def gateway_conf(run: Path) -> Path:
    up = f"http://127.0.0.1:{UPSTREAM_PORT}"
    config = {
        "model_list": [
            {
                "model_name": "gpt",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": up + "/v1", "api_key": "sk-up"},
            },
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": up,
                    "api_key": "sk-ant-up",
                },
            },
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"num_retries": 0},
    }
    path = run / "gateway.json"
    path.write_text(json.dumps(config))
    return path


# -- the scenarios -------------------------------------------------------------------------------

PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages", "responses": "/v1/responses"}
# (inbound protocol, model, how it is served)
SCENARIOS = [
    ("chat", "gpt", "native"),
    ("messages", "claude", "native"),
    ("responses", "gpt", "native"),
    ("chat", "claude", "translated"),
    ("messages", "gpt", "translated"),
    ("responses", "claude", "translated"),
]
END_MARKERS = {
    ("chat", False): '"finish_reason"',
    ("chat", True): "[DONE]",
    ("messages", False): '"stop_reason"',
    ("messages", True): "message_stop",
    ("responses", False): '"status":"completed"',
    ("responses", True): "response.completed",
}


def body_for(protocol: str, model: str, stream: bool) -> dict:
    if protocol == "chat":
        body: dict = {
            "model": model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 64,
        }
    elif protocol == "messages":
        body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
    else:
        body = {"model": model, "input": "Say hello.", "max_output_tokens": 64, "store": False}
    if stream:
        body["stream"] = True
    return body


def wrk(run: Path, url: str, body: dict, seconds: int, check: str | None, connections: int = 64) -> dict:
    body_file = run / "body.json"
    body_file.write_text(json.dumps(body))
    env = {
        **os.environ,
        "BENCH_BODY_FILE": str(body_file),
        "BENCH_HEADERS": f"Authorization: Bearer {MASTER}",
    }
    if check is not None:
        env |= {"BENCH_CHECK": "1", "BENCH_MARKERS": check}
    command = [
        "taskset",
        "-c",
        "0",
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        str(HARNESS / "wrk" / "post.lua"),
        url,
    ]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    match = re.search(r"BENCHJSON (\{.*\})", output)
    assert match, output
    return json.loads(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--protocols", default="chat,messages,responses", help="inbound protocols to run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "protocols.json"))
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="bench-protocols-"))
    for folder in ("body", "proxy"):
        (run / folder).mkdir()
    upstream = subprocess.Popen(
        ["taskset", "-c", "0", "nginx", "-p", str(run), "-c", str(upstream_conf(run))]
    )
    gateway = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            str(ROOT / ".venv" / "bin" / "polyroute"),
            "serve",
            "--config",
            str(gateway_conf(run)),
            "--port",
            str(GATEWAY_PORT),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "POLYROUTE_DATA_DIR": str(run / "data")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results: dict[str, dict] = {}
    try:
        _wait_ready()
        wanted = set(args.protocols.split(","))
        for protocol, model, how in SCENARIOS:
            if protocol not in wanted:
                continue
            for stream in (False, True):
                name = f"{protocol}->{model} ({how}, {'stream' if stream else 'json'})"
                url = f"http://127.0.0.1:{GATEWAY_PORT}{PATHS[protocol]}"
                body = body_for(protocol, model, stream)
                checked = wrk(run, url, body, 2, END_MARKERS[(protocol, stream)])
                before = cpu_seconds(gateway.pid)
                measured = wrk(run, url, body, args.duration, None)
                spent = cpu_seconds(gateway.pid) - before
                seconds = measured["duration_us"] / 1e6
                results[name] = {
                    "rps": round(measured["requests"] / seconds),
                    "cpu_us_per_request": round(spent / max(1, measured["requests"]) * 1e6, 1),
                    "p50_ms": measured["lat_p50_us"] / 1000,
                    "p99_ms": measured["lat_p99_us"] / 1000,
                    "errors": measured["non2xx3xx"] + measured["err_read"] + measured["err_timeout"],
                    "checked_good": checked["checked_good"],
                    "checked_bad": checked["checked_bad"],
                    "bad_sample": checked["bad_sample"],
                }
                print(name, results[name], flush=True)
    finally:
        os.killpg(gateway.pid, signal.SIGTERM)
        gateway.wait(20)
        upstream.terminate()
        upstream.wait(10)
    for kind in ("json", "stream"):
        base = results.get(f"chat->gpt (native, {kind})", {}).get("rps")
        if not base:
            continue
        for name, row in results.items():
            if name.endswith(f"{kind})"):
                row["ratio_to_chat_openai"] = round(row["rps"] / base, 2)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def _wait_ready() -> None:
    import urllib.request

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{GATEWAY_PORT}/health/liveliness", timeout=2):  # noqa: S310
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the gateway did not start")


if __name__ == "__main__":
    main()
