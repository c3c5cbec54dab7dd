"""The cache keeps the hot path honest: no blocking call on the event loop for lookups and stores
on any exact backend (disk I/O runs off the loop)."""

from __future__ import annotations

import time
import uuid

from tests.server.test_hot_path import LoopThreadAudit


def test_no_blocking_call_on_the_event_loop(cached_gateway, upstream, monkeypatch) -> None:
    client = cached_gateway.client()
    warm = [{"role": "user", "content": "warm " + uuid.uuid4().hex}]
    client.chat.completions.create(model="gpt", messages=warm)  # pools, imports, first disk open
    client.chat.completions.create(model="gpt", messages=warm)
    audit = LoopThreadAudit(cached_gateway._thread)
    real_sleep = time.sleep

    def watched_sleep(seconds: float) -> None:
        audit._hook("time.sleep", (seconds,))
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", watched_sleep)
    audit.enabled = True
    try:
        for _ in range(2):
            messages = [{"role": "user", "content": uuid.uuid4().hex}]
            for _ in range(2):  # a miss and its store, then a hit
                client.chat.completions.create(model="gpt", messages=messages)
                list(client.chat.completions.create(model="gpt", messages=messages, stream=True))
    finally:
        audit.enabled = False
    assert audit.seen == []
