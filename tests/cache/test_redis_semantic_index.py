"""Unit tests of `RedisVectorIndex`'s own code: the FT.CREATE arguments, TAG escaping, the
FLOAT32 packing, the similarity math, and the search / store flow.

`RecordingRedis` below is not a Redis: it records the redis-py calls our code makes (`ft()`'s
create_index / info / search, a MULTI pipeline, MODULE LIST) and answers each with a reply the
test scripts, parsed by redis-py's own `Result`. What a real RediSearch does with them is covered
by test_redis_semantic_e2e.py, which runs against a Redis with the search module.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from typing import Any

import numpy as np
import pytest
import yaml
from redis.commands.search.result import Result
from redis.exceptions import ResponseError

from polyroute.cache.redis_semantic import (
    DEFAULT_INDEX,
    RedisVectorIndex,
    escape_tag,
    index_schema,
    info_value,
    knn_query_string,
    pack_vector,
    similarity_of,
)
from polyroute.cache.semantic import SemanticCacheError
from polyroute.config.loader import load_config
from polyroute.server.state import AppState
from tests.cache.conftest import cache_config

PARTITION = "gpt-4o:team.a b"  # not what keys.py makes (hex), but what the escaping must survive


def info_reply(num_docs: int, dim: int) -> list[Any]:
    """An FT.INFO reply in RESP2's shape (a flat list of names and values, nested for attributes)."""
    return [
        b"index_name",
        b"idx",
        b"attributes",
        [
            [b"identifier", b"partition", b"attribute", b"partition", b"type", b"TAG"],
            [b"identifier", b"vector", b"attribute", b"vector", b"type", b"VECTOR", b"dim", dim],
        ],
        b"num_docs",
        str(num_docs).encode(),
    ]


class RecordingSearch:
    def __init__(self, redis: RecordingRedis, name: str) -> None:
        self.redis = redis
        self.name = name

    async def create_index(self, fields: list[Any], definition: Any) -> bytes:
        args = ["FT.CREATE", self.name, *definition.args, "SCHEMA"]
        args += [arg for field in fields for arg in field.redis_args()]
        self.redis.calls.append(tuple(args))
        if self.redis.index_exists:
            raise ResponseError("Index already exists")
        self.redis.index_exists = True
        return b"OK"

    async def info(self) -> Any:
        self.redis.calls.append(("FT.INFO", self.name))
        return self.redis.info

    async def search(self, query: Any, query_params: dict[str, Any]) -> Result:
        self.redis.calls.append(("FT.SEARCH", self.name, query.query_string(), query_params))
        self.redis.queries.append(query)
        return Result(self.redis.search_reply, True, field_encodings=query._return_fields_decode_as)


class RecordingPipeline:
    def __init__(self, redis: RecordingRedis, transaction: bool) -> None:
        self.redis = redis
        self.commands: list[tuple[Any, ...]] = [("MULTI",)] if transaction else []

    async def __aenter__(self) -> RecordingPipeline:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    def hset(self, key: str, mapping: dict[str, Any]) -> None:
        self.commands.append(("HSET", key, mapping))

    def pexpire(self, key: str, ms: int) -> None:
        self.commands.append(("PEXPIRE", key, ms))

    def persist(self, key: str) -> None:
        self.commands.append(("PERSIST", key))

    async def execute(self) -> list[Any]:
        self.redis.calls.append(tuple(self.commands))
        return [1] * len(self.commands)


class RecordingRedis:
    def __init__(
        self, *, modules: list[bytes] = (b"search",), ver: int = 80000, num_docs: int = 0, dim: int = 3
    ) -> None:
        self.modules = [{b"name": name, b"ver": ver} for name in modules]
        self.calls: list[tuple[Any, ...]] = []
        self.queries: list[Any] = []
        self.index_exists = False
        self.info: Any = info_reply(num_docs, dim)
        self.search_reply: list[Any] = [0]
        self.closed = False

    def ft(self, name: str) -> RecordingSearch:
        return RecordingSearch(self, name)

    def pipeline(self, transaction: bool = True) -> RecordingPipeline:
        return RecordingPipeline(self, transaction)

    async def module_list(self) -> list[dict[bytes, Any]]:
        return self.modules

    async def aclose(self) -> None:
        self.closed = True

    def named(self, command: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c and c[0] == command]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- pure functions ---------------------------------------------------------------------------------
def test_ft_create_arguments() -> None:
    fields, definition = index_schema("polyroute:semcache:ns:", 1536)
    args = [*definition.args, "SCHEMA", *[a for f in fields for a in f.redis_args()]]
    assert args == [
        "ON", "HASH", "PREFIX", 1, "polyroute:semcache:ns:", "SCORE", 1.0,
        "SCHEMA",
        "partition", "TAG", "SEPARATOR", ",", "CASESENSITIVE",
        "vector", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 1536, "DISTANCE_METRIC", "COSINE",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("3f2a9c", "3f2a9c"),  # keys.py's partitions: hex digests, nothing to escape
        ("gpt-4o", r"gpt\-4o"),
        ("team:a.b", r"team\:a\.b"),
        ("a b|c{d}e@f*", r"a\ b\|c\{d\}e\@f\*"),
        ("under_score", "under_score"),
    ],
)
def test_tag_values_are_escaped(value: str, escaped: str) -> None:
    assert escape_tag(value) == escaped


def test_knn_query_string() -> None:
    assert knn_query_string(PARTITION) == r"(@partition:{gpt\-4o\:team\.a\ b})=>[KNN 1 @vector $vec AS score]"


def test_vectors_are_float32_little_endian() -> None:
    packed = pack_vector([1.0, -2.0, 0.5])
    assert packed == b"\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\x00\x3f"
    vector = [0.1, 0.2, -0.3, 1e-3]
    assert pack_vector(vector) == np.asarray(vector, dtype="<f4").tobytes()
    assert struct.unpack("<4f", pack_vector(vector)) == pytest.approx(vector, rel=1e-6)


def test_similarity_is_one_minus_the_cosine_distance() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 2.0])
    cosine = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    distance = 1 - cosine  # what RediSearch's COSINE metric scores
    assert similarity_of(distance) == pytest.approx(cosine)
    assert similarity_of(0.0) == 1.0
    assert similarity_of(1.0) == 0.0  # orthogonal
    assert similarity_of(2.0) == -1.0  # opposite
    assert similarity_of(-3e-8) == 1.0  # float32 rounding never gives more than 1


def test_info_value_reads_resp2_and_resp3_shapes() -> None:
    assert info_value(info_reply(7, 384), "dim") == 384
    assert info_value(info_reply(7, 384), "num_docs") == b"7"
    resp3 = {"index_name": "idx", "attributes": [{"identifier": "vector", "DIM": 12}], "num_docs": 3}
    assert info_value(resp3, "dim") == 12 and info_value(resp3, "num_docs") == 3
    assert info_value([b"index_name", b"idx"], "num_docs") is None


def test_prefix_and_index_name_follow_the_namespace() -> None:
    plain = RedisVectorIndex(RecordingRedis())
    assert (plain.prefix, plain.index_name) == ("polyroute:semcache:", DEFAULT_INDEX)
    spaced = RedisVectorIndex(RecordingRedis(), namespace="prod")
    assert (spaced.prefix, spaced.index_name) == ("polyroute:semcache:prod:", DEFAULT_INDEX + "_prod")
    named = RedisVectorIndex(RecordingRedis(), namespace="prod", index_name="litellm_idx")
    assert named.index_name == "litellm_idx"


# -- the flow ---------------------------------------------------------------------------------------
def test_search_sends_one_knn_query_and_reads_the_similarity() -> None:
    redis = RecordingRedis()
    index = RedisVectorIndex(redis, namespace="ns")
    entry = b'{"v":1,"kind":"json"}'
    redis.search_reply = [1, b"polyroute:semcache:ns:abc", [b"score", b"0.015", b"entry", entry]]
    vector = [0.25, -1.0, 3.5]
    found = run(index.search(PARTITION, vector, 0.98))
    assert found is not None
    assert found[0] == entry and isinstance(found[0], bytes)
    assert found[1] == pytest.approx(0.985)
    # the index was made first, for 3-dimensional vectors, once
    (create,) = redis.named("FT.CREATE")
    assert create[:2] == ("FT.CREATE", "polyroute_semantic_cache_ns") and create[create.index("DIM") + 1] == 3
    (search,) = redis.named("FT.SEARCH")
    assert search[2] == knn_query_string(PARTITION)
    assert search[3] == {"vec": pack_vector(vector)}
    args = redis.queries[0].get_args()
    assert args[args.index("DIALECT") + 1] == 2
    assert args[args.index("LIMIT") + 1 : args.index("LIMIT") + 3] == [0, 1]
    assert args[args.index("RETURN") + 1 : args.index("RETURN") + 4] == [2, "entry", "score"]
    run(index.search(PARTITION, vector, 0.98))
    assert len(redis.named("FT.CREATE")) == 1


def test_search_below_the_threshold_or_empty_is_a_miss() -> None:
    redis = RecordingRedis()
    index = RedisVectorIndex(redis)
    redis.search_reply = [1, b"polyroute:semcache:abc", [b"score", b"0.05", b"entry", b"{}"]]
    assert run(index.search("p", [1.0, 0.0, 0.0], 0.96)) is None
    assert run(index.search("p", [1.0, 0.0, 0.0], 0.95)) is not None
    redis.search_reply = [0]
    assert run(index.search("p", [1.0, 0.0, 0.0], 0.5)) is None
    # the hash expired between the match and the read: no fields
    redis.search_reply = [1, b"polyroute:semcache:abc", []]
    assert run(index.search("p", [1.0, 0.0, 0.0], 0.5)) is None


def test_the_same_prompt_matches_a_threshold_of_one_despite_float32_rounding() -> None:
    redis = RecordingRedis()
    index = RedisVectorIndex(redis)
    redis.search_reply = [1, b"k", [b"score", b"5.96046447754e-08", b"entry", b"{}"]]
    found = run(index.search("p", [1.0, 2.0, 3.0], 1.0))
    assert found is not None and found[1] == pytest.approx(1.0)


def test_add_writes_one_expiring_hash_in_a_transaction() -> None:
    redis = RecordingRedis(num_docs=4)
    index = RedisVectorIndex(redis, namespace="ns", max_entries=5)
    vector = [0.5, 0.25, 0.125]
    prompt = "What is the capital of France?"
    run(index.add(PARTITION, prompt, vector, b"answer", 600.0))
    (written,) = [c for c in redis.calls if c and c[0] == ("MULTI",)]
    key = "polyroute:semcache:ns:" + hashlib.sha256(f"{PARTITION}\x1f{prompt}".encode()).hexdigest()
    assert written == (
        ("MULTI",),
        ("HSET", key, {"partition": PARTITION, "vector": pack_vector(vector), "entry": b"answer"}),
        ("PEXPIRE", key, 600_000),
    )
    # the same question again: the same key (replaced, not a second entry)
    run(index.add(PARTITION, prompt, vector, b"newer", 0.0004))
    again = [c for c in redis.calls if c and c[0] == ("MULTI",)][1]
    assert again[1][1] == key and again[2] == ("PEXPIRE", key, 1)  # never 0 ms (PEXPIRE 0 deletes)


def test_add_without_ttl_persists_the_hash() -> None:
    redis = RecordingRedis()
    index = RedisVectorIndex(redis)
    run(index.add("p", "q", [1.0, 0.0, 0.0], b"a", None))
    written = [c for c in redis.calls if c and c[0] == ("MULTI",)][0]
    assert written[-1][0] == "PERSIST"


def test_a_full_index_stores_nothing() -> None:
    redis = RecordingRedis(num_docs=5)
    index = RedisVectorIndex(redis, max_entries=5)
    run(index.add("p", "q", [1.0, 0.0, 0.0], b"a", 60.0))
    assert redis.named("FT.INFO") and not [c for c in redis.calls if c and c[0] == ("MULTI",)]


def test_an_unreadable_count_stores_nothing() -> None:
    redis = RecordingRedis()
    redis.info = [b"index_name", b"idx"]
    index = RedisVectorIndex(redis)
    with pytest.raises(SemanticCacheError, match="num_docs"):
        run(index.add("p", "q", [1.0, 0.0, 0.0], b"a", 60.0))
    assert not [c for c in redis.calls if c and c[0] == ("MULTI",)]


def test_an_existing_index_is_reused_when_its_dimension_matches() -> None:
    redis = RecordingRedis(dim=3)
    redis.index_exists = True
    index = RedisVectorIndex(redis)
    assert run(index.search("p", [1.0, 0.0, 0.0], 0.9)) is None
    assert len(redis.named("FT.CREATE")) == 1 and len(redis.named("FT.SEARCH")) == 1


def test_an_existing_index_of_another_dimension_is_named() -> None:
    redis = RecordingRedis(dim=1536)
    redis.index_exists = True
    index = RedisVectorIndex(redis, index_name="shared_idx")
    with pytest.raises(SemanticCacheError, match="shared_idx holds 1536-dimensional vectors.*gives 3"):
        run(index.search("p", [1.0, 0.0, 0.0], 0.9))
    with pytest.raises(SemanticCacheError, match="shared_idx holds 1536"):  # said once, not re-asked
        run(index.add("p", "q", [1.0, 0.0, 0.0], b"a", 60.0))
    assert not redis.named("FT.SEARCH") and len(redis.named("FT.CREATE")) == 1
    assert not [c for c in redis.calls if c and c[0] == ("MULTI",)]


def test_an_embedding_of_another_dimension_later_is_refused() -> None:
    redis = RecordingRedis()
    index = RedisVectorIndex(redis)
    run(index.search("p", [1.0, 0.0, 0.0], 0.9))
    with pytest.raises(SemanticCacheError, match="holds 3-dimensional vectors"):
        run(index.search("p", [1.0, 0.0], 0.9))


def test_start_refuses_a_redis_without_the_search_module_and_closes_it() -> None:
    redis = RecordingRedis(modules=[b"ReJSON"])
    with pytest.raises(SemanticCacheError, match="needs the Redis search module"):
        run(RedisVectorIndex(redis).start())
    assert redis.closed


def test_start_refuses_a_search_module_without_vector_search() -> None:
    redis = RecordingRedis(modules=[b"ft"], ver=10202)  # Debian 12's redis-redisearch 1.2.2
    with pytest.raises(SemanticCacheError, match=r"RediSearch 2.4 or later.*search module is 1\.2\.2"):
        run(RedisVectorIndex(redis).start())
    assert redis.closed


@pytest.mark.parametrize(("name", "ver"), [(b"search", 80000), (b"search", 20400), ("ft", "20804")])
def test_start_accepts_a_redis_with_vector_search(name: bytes | str, ver: int | str) -> None:
    redis = RecordingRedis(modules=[name, b"ReJSON"], ver=ver)
    run(RedisVectorIndex(redis).start())
    assert not redis.closed


def test_the_gateway_builds_a_redis_index_for_redis_semantic(tmp_path) -> None:
    params = {
        "type": "redis-semantic",
        "host": "127.0.0.1",
        "port": 6379,
        "namespace": "team-a",
        "similarity_threshold": 0.9,
        "redis_semantic_cache_embedding_model": "embedder",
        "redis_semantic_cache_index_name": "litellm_semantic_idx",
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cache_config("http://127.0.0.1:9", **params)))
    state = AppState.build(load_config(path, {"POLYROUTE_DATA_DIR": str(tmp_path)}))
    index = state.cache.index
    assert isinstance(index, RedisVectorIndex)
    assert (index.index_name, index.prefix) == ("litellm_semantic_idx", "polyroute:semcache:team-a:")
    run(state.cache.close())
