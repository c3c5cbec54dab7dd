"""The protocol-neutral API a pipeline calls when it encodes answers itself (Anthropic Messages,
Responses): lookup, the hit's chat form, record_hit, remember."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from polyroute.cache.backends import MemoryBackend
from polyroute.cache.entry import CachedAnswer
from polyroute.cache.hook import ResponseCache
from polyroute.cache.settings import CacheSettings
from polyroute.observability.metrics import METRICS
from tests.state.support import FakeClock

ANSWER = {
    "id": "chatcmpl-9",
    "object": "chat.completion",
    "created": 5,
    "model": "gpt",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "cached"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}


class Account:
    call_type = "chat_completion"

    def __init__(self) -> None:
        self.hits: list[tuple] = []

    def cache_hit(self, saved: float, result: str, similarity: float | None) -> None:
        self.hits.append((saved, result, similarity))


def request_for(token: str) -> SimpleNamespace:
    principal = SimpleNamespace(key=SimpleNamespace(token=token, team_id=None), role="virtual_key")
    return SimpleNamespace(account=Account(), principal=principal)


@pytest.fixture
def cache() -> ResponseCache:
    clock = FakeClock()
    return ResponseCache(CacheSettings(), backend=MemoryBackend(100, 1 << 20, clock=clock), clock=clock)


async def test_lookup_remember_and_hit(cache) -> None:
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
    request = request_for("hash-a")
    miss = await cache.lookup(request, body)
    assert miss is not None and miss.entry is None and miss.headers()["x-polyroute-cache"] == "miss"
    await miss.remember(CachedAnswer.of_chat(answer=ANSWER, cost=0.25, now=cache.clock()))
    hits = METRICS.cache_requests.value(("hit",))
    hit = await cache.lookup(request, {**body, "stream": True})
    assert hit.entry is not None and hit.entry.answer == ANSWER
    assert hit.headers()["x-polyroute-response-cost"] == "0"
    assert hit.entry.chat_chunks()[0]["choices"][0]["delta"]["content"] == "cached"
    hit.record_hit(request)
    assert request.account.hits == [(0.25, "hit", None)]
    assert METRICS.cache_requests.value(("hit",)) == hits + 1
    assert (await cache.lookup(request_for("hash-b"), body)).entry is None  # another key


async def test_not_applicable(cache) -> None:
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
    assert await cache.lookup(request_for("a"), body, call_type="embeddings") is None
    assert await cache.lookup(request_for("a"), {**body, "api_key": "sk-own"}) is None


async def test_no_store_and_stream_entries(cache) -> None:
    body = {"model": "gpt", "messages": [{"role": "user", "content": "x"}], "cache": {"no-store": True}}
    request = request_for("a")
    found = await cache.lookup(request, body)
    await found.remember(CachedAnswer.of_chat(answer=ANSWER, now=0))
    del body["cache"]
    assert (await cache.lookup(request, body)).entry is None
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "s"}}]}
    ]
    await (await cache.lookup(request, body)).remember(CachedAnswer.of_chat(chunks=chunks, now=0))
    assert (await cache.lookup(request, body)).entry is None  # a stream does not answer JSON
    assert (await cache.lookup(request, {**body, "stream": True})).entry.chat_chunks() == chunks


class RecordingBackend(MemoryBackend):
    """Notes what the client had been sent when the answer was stored."""

    def __init__(self, sent: list[bytes]) -> None:
        super().__init__(100, 1 << 20)
        self.sent = sent
        self.sent_at_store: list[bytes] | None = None

    async def set(self, key: str, value: bytes, ttl_s: float | None) -> None:
        self.sent_at_store = list(self.sent)
        await super().set(key, value, ttl_s)


async def test_a_stream_s_done_reaches_the_client_only_after_the_store() -> None:
    """The relay sends `[DONE]` before it bills the stream and ends the response; a client that
    asks again as soon as it reads `[DONE]` must find the answer stored."""
    sent: list[bytes] = []

    async def send(message) -> None:
        if message["type"] == "http.response.body":
            sent.append(message.get("body", b""))

    backend = RecordingBackend(sent)
    cache = ResponseCache(CacheSettings(), backend=backend)
    request = request_for("a")
    request.send = send
    request.account.record = SimpleNamespace(status="success", usage=None, cost=0.0)
    body = {"model": "gpt", "messages": [{"role": "user", "content": "s"}], "stream": True}
    found = await cache.lookup(request, body)
    cache._tap(request, found)
    event = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "x"}}],
    }
    chunk = b"data: " + orjson.dumps(event) + b"\n\n"
    await request.send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
    )
    await request.send({"type": "http.response.body", "body": chunk, "more_body": True})
    await request.send({"type": "http.response.body", "body": chunk + b"data: [DONE]\n\n", "more_body": True})
    assert b"[DONE]" not in b"".join(sent)  # held back
    await request.send({"type": "http.response.body", "body": b""})  # the relay's end_stream
    assert backend.sent_at_store is not None and b"[DONE]" not in b"".join(backend.sent_at_store)
    assert b"".join(sent) == chunk + chunk + b"data: [DONE]\n\n"  # everything, in order
    assert (await cache.lookup(request, body)).entry is not None
