"""The semantic cache end to end: embeddings from a model of the gateway's own model_list
(called in-process), an embedded Qdrant, the openai SDK as the client. The upstream embeds by
letter counts, so prompts that differ only in case and punctuation are near neighbours."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from polyroute.cache.semantic import SemanticCacheError
from polyroute.config.loader import load_config
from polyroute.server.state import AppState
from tests.cache.conftest import cache_config
from tests.conftest import OPENAI_KEY
from tests.fakes.base import Error, RecordedRequest, json_response
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin

LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"


def letter_vector(text: str) -> list[float]:
    counts = Counter(c for c in text.lower() if c in LETTERS)
    return [float(counts.get(c, 0)) + 0.01 for c in LETTERS]


class LetterEmbeddingOpenAI(FakeOpenAI):
    """The fake OpenAI server, whose embeddings are letter counts: similar texts, similar vectors."""

    async def _embeddings(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        reply = await self._behaviour(request, rec)
        if isinstance(reply, web.Response):
            return reply
        body = rec.json or {}
        items = body["input"] if isinstance(body.get("input"), list) else [body.get("input")]
        data = [
            {"object": "embedding", "index": i, "embedding": letter_vector(t)} for i, t in enumerate(items)
        ]
        usage = {"prompt_tokens": 3, "total_tokens": 3}
        return json_response({"object": "list", "data": data, "model": body.get("model"), "usage": usage})


@pytest.fixture(scope="module")
def embedding_upstream() -> Iterator[LetterEmbeddingOpenAI]:
    with LetterEmbeddingOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(embedding_upstream) -> None:
    embedding_upstream.reset()


@pytest.fixture(scope="module")
def semantic_gateway(embedding_upstream, tmp_path_factory) -> Iterator[GatewayServer]:
    params = {
        "type": "qdrant-semantic",
        "similarity_threshold": 0.98,
        "qdrant_semantic_cache_embedding_model": "embedder",
        "qdrant_collection_name": "test_" + uuid.uuid4().hex,
    }
    config = cache_config(embedding_upstream.url, **params)
    with GatewayServer(config, Path(tmp_path_factory.mktemp("semantic"))) as server:
        yield server


def chats(upstream) -> int:
    return sum(1 for r in upstream.requests if r.path.endswith("/chat/completions"))


def ask(gateway, content: str, api_key: str | None = None, **kwargs):
    raw = gateway.client(api_key=api_key).chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": content}], **kwargs
    )
    return raw.headers, raw.parse()


def test_same_and_similar_prompts_hit(semantic_gateway, embedding_upstream) -> None:
    topic = uuid.uuid4().hex[:6]
    headers, first = ask(semantic_gateway, f"What is the capital of France? {topic}")
    assert headers["x-polyroute-cache"] == "miss"
    headers, again = ask(semantic_gateway, f"What is the capital of France? {topic}")
    assert headers["x-polyroute-cache"] == "semantic-hit"
    assert float(headers["x-polyroute-cache-similarity"]) == pytest.approx(1.0, abs=1e-4)
    assert headers["x-polyroute-response-cost"] == "0"
    headers, similar = ask(semantic_gateway, f"whats the capital of france {topic}")
    assert headers["x-polyroute-cache"] == "semantic-hit"
    assert 0.98 <= float(headers["x-polyroute-cache-similarity"]) < 1.0
    assert similar.choices[0].message.content == first.choices[0].message.content
    headers, _ = ask(semantic_gateway, f"Tell me a long joke about zebras and yaks {topic}")
    assert headers["x-polyroute-cache"] == "miss"
    assert chats(embedding_upstream) == 2
    # every lookup embedded its prompt through the gateway's own embedder model
    assert sum(1 for r in embedding_upstream.requests if r.path.endswith("/embeddings")) == 4


def test_semantic_entries_are_scoped_and_partitioned(semantic_gateway, embedding_upstream) -> None:
    admin = Admin(semantic_gateway.url)
    alice, bob = admin.new_key()["key"], admin.new_key()["key"]
    prompt = f"Name three rivers in Europe {uuid.uuid4().hex[:6]}"
    assert ask(semantic_gateway, prompt, api_key=alice)[0]["x-polyroute-cache"] == "miss"
    assert ask(semantic_gateway, prompt, api_key=bob)[0]["x-polyroute-cache"] == "miss"
    assert ask(semantic_gateway, prompt, api_key=alice, temperature=1.5)[0]["x-polyroute-cache"] == "miss"
    assert ask(semantic_gateway, prompt, api_key=alice)[0]["x-polyroute-cache"] == "semantic-hit"
    assert chats(embedding_upstream) == 3


def test_semantic_hit_serves_a_stream(semantic_gateway, embedding_upstream) -> None:
    prompt = f"Say hello {uuid.uuid4().hex[:6]}"
    _, answer = ask(semantic_gateway, prompt)
    client = semantic_gateway.client()
    stream = client.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": prompt}], stream=True
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        == answer.choices[0].message.content
    )
    assert chats(embedding_upstream) == 1


def test_a_failing_embedder_is_a_miss_not_a_failure(semantic_gateway, embedding_upstream) -> None:
    embedding_upstream.script(Error(500))  # the embedding call comes first
    headers, answer = ask(semantic_gateway, f"Anything {uuid.uuid4().hex}")
    assert headers["x-polyroute-cache"] == "miss" and answer.choices[0].message.content


def test_redis_semantic_refused_at_start_without_the_search_module(embedding_upstream, tmp_path) -> None:
    params = {
        "type": "redis-semantic",
        "host": "127.0.0.1",
        "port": 6379,
        "similarity_threshold": 0.9,
        "redis_semantic_cache_embedding_model": "embedder",
    }
    path = tmp_path / "config.yaml"
    import yaml

    path.write_text(yaml.safe_dump(cache_config(embedding_upstream.url, **params)))
    state = AppState.build(load_config(path, {"POLYROUTE_DATA_DIR": str(tmp_path)}))
    import asyncio

    with pytest.raises(SemanticCacheError, match="search module"):
        asyncio.run(state.cache.start())


def test_openai_sdk_sees_no_cache_fields_upstream(semantic_gateway, embedding_upstream) -> None:
    ask(semantic_gateway, f"x {uuid.uuid4().hex}", extra_body={"cache": {"no-store": True}})
    sent = [r.json for r in embedding_upstream.requests if r.path.endswith("/chat/completions")]
    assert sent and all("cache" not in body for body in sent)


def test_similarity_math_of_the_fake() -> None:
    a, b = letter_vector("What is the capital of France?"), letter_vector("whats the capital of france")
    cosine = sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)
    assert 0.98 < cosine < 1
