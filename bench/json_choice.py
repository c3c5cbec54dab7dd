#!/usr/bin/env python3
"""orjson vs the standard library's json on the gateway's per-request JSON work: parse a chat
request, serialise the provider body, parse a provider answer. Prints microseconds per request."""

from __future__ import annotations

import json
import sys
import timeit

import orjson

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0] + "/../shared/bench")
import fake_upstream  # noqa: E402  (the harness's fixed answer)

REQUEST = json.dumps(
    {
        "model": "bench-model",
        "messages": [{"role": "system", "content": "You are terse."}]
        + [{"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 40} for i in range(8)],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": f"tool{i}",
                    "parameters": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                    },
                },
            }
            for i in range(4)
        ],
        "max_tokens": 256,
        "stream": False,
    }
).encode()
ANSWER = fake_upstream.JSON_BODY.encode()


def per_request(loads, dumps) -> float:
    def work() -> None:
        body = loads(REQUEST)
        body["model"] = "upstream-model"
        dumps(body)
        loads(ANSWER)

    n = 20000
    return min(timeit.repeat(work, number=n, repeat=5)) / n * 1e6


if __name__ == "__main__":
    fast = per_request(orjson.loads, orjson.dumps)
    slow = per_request(json.loads, lambda o: json.dumps(o, separators=(",", ":")).encode())
    print(f"request {len(REQUEST)} B, answer {len(ANSWER)} B")
    print(f"orjson: {fast:.1f} us/request   json: {slow:.1f} us/request   ratio {slow / fast:.1f}x")
