"""The protocol-neutral API a pipeline calls when it encodes answers itself (Anthropic Messages,
Responses): lookup, the hit's chat form, record_hit, remember."""

from __future__ import annotations

from types import SimpleNamespace

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
