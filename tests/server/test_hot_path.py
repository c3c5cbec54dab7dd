"""Keeps the request hot path honest without timing it: no blocking calls on the event loop,
upstream bytes relayed as they are, one pooled upstream connection."""

from __future__ import annotations

import sys
import threading

import httpx

from tests.fakes.base import Reply

MESSAGES = [{"role": "user", "content": "hi"}]
# Audit events that mean blocking work (file, DNS, SQL, sleeping, processes) if they happen on
# the thread that runs the event loop.
BLOCKING_EVENTS = {
    "open",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "sqlite3.connect",
    "time.sleep",
    "subprocess.Popen",
    "os.system",
}


class LoopThreadAudit:
    """Records blocking audit events raised on one thread (the gateway's loop thread)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.enabled = False
        self.seen: list[tuple[str, str]] = []
        sys.addaudithook(self._hook)  # hooks cannot be removed: this one switches itself off

    def _hook(self, event: str, args: tuple) -> None:
        if self.enabled and event in BLOCKING_EVENTS and threading.current_thread() is self.thread:
            self.seen.append((event, repr(args)[:120]))


def test_no_blocking_call_on_the_event_loop(gateway, fake_openai, monkeypatch):
    import time

    client = gateway.client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # warm: pools, imports
    list(client.chat.completions.create(model="claude", messages=MESSAGES, stream=True))
    audit = LoopThreadAudit(gateway._thread)
    real_sleep = time.sleep

    def watched_sleep(seconds: float) -> None:  # Python 3.11 raises no audit event for sleep
        audit._hook("time.sleep", (seconds,))
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", watched_sleep)
    audit.enabled = True
    try:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
            client.chat.completions.create(model="claude", messages=MESSAGES)
            list(client.chat.completions.create(model="gemini-flash", messages=MESSAGES, stream=True))
            client.embeddings.create(model="gpt-4o-mini", input="x")
            client.models.list()
    finally:
        audit.enabled = False
    assert audit.seen == []


def test_upstream_json_is_relayed_byte_for_byte(gateway, fake_openai):
    # Odd but valid formatting that any re-serialisation would change.
    body = (
        b'{ "id" : "chatcmpl-raw1", "object": "chat.completion", "created": 1,\n  "model": "gpt-4o-mini",'
        b' "choices": [ {"index": 0, "message": {"role": "assistant", "content": "caf\\u00e9"},'
        b' "finish_reason": "stop", "logprobs": null} ],'
        b' "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2} }'
    )
    fake_openai.script(Reply(raw_body=body))
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"authorization": f"Bearer {gateway.master_key}"},
    )
    assert response.status_code == 200
    assert response.content == body


def test_upstream_stream_events_are_relayed_unchanged(gateway, fake_openai):
    events = [
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
        b'data: {"id":"c1", "object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{"content":"h\\u00e9"},"finish_reason":null}], "x_vendor": 1}\n\n',
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n',
        b"data: [DONE]\n\n",
    ]
    fake_openai.script(Reply(raw_events=events, chunk_delay=0.01))
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
        headers={"authorization": f"Bearer {gateway.master_key}"},
    ) as response:
        received = response.read()
    assert received == b"".join(events)
