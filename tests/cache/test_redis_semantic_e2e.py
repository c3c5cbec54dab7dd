"""The redis-semantic cache end to end: embeddings from a model of the gateway's own model_list
(letter counts, as in test_semantic_e2e.py), a real Redis with the search module (Redis Stack or
Redis 8), the openai SDK as the client.

The Redis is POLYROUTE_TEST_REDIS_SEARCH_URL, else the test Redis on 127.0.0.1:6379. A Redis that
cannot be reached fails these tests; one without the search module (or one too old for vector
fields) skips them with start-up's own refusal as the reason (a plain Redis 7 has none: that
refusal is tested in test_semantic_e2e.py and test_serve_refusals.py).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis

from polyroute.cache.redis_semantic import similarity_of
from polyroute.cache.semantic import SemanticCacheError, require_redis_search
from tests.cache.conftest import cache_config
from tests.cache.test_semantic_e2e import LetterEmbeddingOpenAI, ask, chats, letter_vector
from tests.conftest import OPENAI_KEY
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin

REDIS_URL = os.environ.get("POLYROUTE_TEST_REDIS_SEARCH_URL", "redis://127.0.0.1:6379")
TTL_S = 600


async def _missing_search() -> str | None:
    """Why the Redis cannot run these tests (None: it can): polyroute's own start-up check."""
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.ping()  # unreachable: the error fails the tests, never a skip
        await require_redis_search(client)
    except SemanticCacheError as exc:
        return str(exc)
    finally:
        await client.aclose()
    return None


async def _run(*command: object) -> object:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        return await client.execute_command(*command)
    finally:
        await client.aclose()


async def _clean(prefix: str, index: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        await client.execute_command("FT.DROPINDEX", index)  # the index; the hashes below
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def redis_search() -> str:
    missing = asyncio.run(_missing_search())
    if missing is not None:
        pytest.skip(
            f"the Redis at {REDIS_URL} (MODULE LIST) cannot run redis-semantic: {missing} "
            "(set POLYROUTE_TEST_REDIS_SEARCH_URL to a Redis Stack or Redis 8)"
        )
    return REDIS_URL


@pytest.fixture(scope="module")
def embedding_upstream() -> Iterator[LetterEmbeddingOpenAI]:
    with LetterEmbeddingOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(embedding_upstream) -> None:
    embedding_upstream.reset()


@pytest.fixture(scope="module")
def namespace() -> str:
    return "test-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="module")
def redis_semantic_gateway(
    redis_search, embedding_upstream, namespace, tmp_path_factory
) -> Iterator[GatewayServer]:
    index = "polyroute_test_" + uuid.uuid4().hex
    params = {
        "type": "redis-semantic",
        "url": redis_search,
        "namespace": namespace,
        "ttl": TTL_S,
        "similarity_threshold": 0.98,
        "redis_semantic_cache_embedding_model": "embedder",
        "redis_semantic_cache_index_name": index,
    }
    config = cache_config(embedding_upstream.url, **params)
    try:
        with GatewayServer(config, Path(tmp_path_factory.mktemp("redis-semantic"))) as server:
            yield server
    finally:
        asyncio.run(_clean(f"polyroute:semcache:{namespace}:", index))


def test_same_and_similar_prompts_hit(redis_semantic_gateway, embedding_upstream) -> None:
    topic = uuid.uuid4().hex[:6]
    headers, first = ask(redis_semantic_gateway, f"What is the capital of France? {topic}")
    assert headers["x-polyroute-cache"] == "miss"
    headers, _ = ask(redis_semantic_gateway, f"What is the capital of France? {topic}")
    assert headers["x-polyroute-cache"] == "semantic-hit"
    assert float(headers["x-polyroute-cache-similarity"]) == pytest.approx(1.0, abs=1e-4)
    assert headers["x-polyroute-response-cost"] == "0"
    headers, similar = ask(redis_semantic_gateway, f"whats the capital of france {topic}")
    assert headers["x-polyroute-cache"] == "semantic-hit"
    a = np.array(letter_vector(f"What is the capital of France? {topic}"))
    b = np.array(letter_vector(f"whats the capital of france {topic}"))
    cosine = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    similarity = float(headers["x-polyroute-cache-similarity"])
    assert 0.98 <= similarity < 1.0 and similarity == pytest.approx(similarity_of(1 - cosine), abs=1e-4)
    assert similar.choices[0].message.content == first.choices[0].message.content
    headers, _ = ask(redis_semantic_gateway, f"Tell me a long joke about zebras and yaks {topic}")
    assert headers["x-polyroute-cache"] == "miss"
    assert chats(embedding_upstream) == 2


def test_entries_are_hashes_under_the_namespace_that_expire(
    redis_semantic_gateway, embedding_upstream, namespace
) -> None:
    ask(redis_semantic_gateway, f"Spell the word cache {uuid.uuid4().hex[:6]}")
    keys = asyncio.run(_run("KEYS", f"polyroute:semcache:{namespace}:*"))
    assert keys
    for key in keys:
        assert asyncio.run(_run("TYPE", key)) in (b"hash", "hash")
        assert 0 < int(asyncio.run(_run("PTTL", key))) <= TTL_S * 1000


def test_semantic_entries_are_scoped_and_partitioned(redis_semantic_gateway, embedding_upstream) -> None:
    admin = Admin(redis_semantic_gateway.url)
    alice, bob = admin.new_key()["key"], admin.new_key()["key"]
    prompt = f"Name three rivers in Europe {uuid.uuid4().hex[:6]}"
    assert ask(redis_semantic_gateway, prompt, api_key=alice)[0]["x-polyroute-cache"] == "miss"
    assert ask(redis_semantic_gateway, prompt, api_key=bob)[0]["x-polyroute-cache"] == "miss"
    assert (
        ask(redis_semantic_gateway, prompt, api_key=alice, temperature=1.5)[0]["x-polyroute-cache"] == "miss"
    )
    assert ask(redis_semantic_gateway, prompt, api_key=alice)[0]["x-polyroute-cache"] == "semantic-hit"
    assert chats(embedding_upstream) == 3


def test_semantic_hit_serves_a_stream(redis_semantic_gateway, embedding_upstream) -> None:
    prompt = f"Say hello {uuid.uuid4().hex[:6]}"
    _, answer = ask(redis_semantic_gateway, prompt)
    stream = redis_semantic_gateway.client().chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": prompt}], stream=True
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        == answer.choices[0].message.content
    )
    assert chats(embedding_upstream) == 1
