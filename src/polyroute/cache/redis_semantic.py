"""The `redis-semantic` cache's vector index: Redis's search module (RediSearch: Redis Stack, or
Redis 8's query engine) through redis-py's `redis.commands.search`.

An entry is a HASH `polyroute:semcache:[<namespace>:]<sha256 of partition and prompt>` holding the
partition (a TAG), the prompt's embedding (FLOAT32, little endian) and the encoded answer; Redis
expires it after the entry's ttl. The index (FT.CREATE ... ON HASH PREFIX 1 <that prefix>, an HNSW
COSINE vector field) is created on first use, when the embedding's dimension is known. A lookup is
one FT.SEARCH: the nearest entry of the same partition (`KNN 1`, DIALECT 2); RediSearch's cosine
score is a distance, so the similarity is 1 - score.
"""

from __future__ import annotations

import hashlib
import logging
import re
import struct
from collections.abc import Iterator
from typing import Any

from polyroute.cache.semantic import SemanticCacheError, require_redis_search

log = logging.getLogger("polyroute.cache")

DEFAULT_INDEX = "polyroute_semantic_cache"
KEY_PREFIX = "polyroute:semcache:"
# Float32 vectors: a prompt compared with itself scores a distance of a few 1e-8, not 0; a
# threshold of 1.0 must still match the same prompt.
FLOAT32_SLACK = 1e-6
_TAG_SPECIAL = re.compile(r"([^A-Za-z0-9_])")


def escape_tag(value: str) -> str:
    """A value inside a TAG query's braces: every character other than a letter, digit or `_`
    is a query-syntax character (`-`, `:`, `.`, space, braces, `|`...) and is escaped."""
    return _TAG_SPECIAL.sub(r"\\\1", value)


def pack_vector(vector: list[float]) -> bytes:
    """The vector as RediSearch's FLOAT32 field (and query parameter) expects it."""
    return struct.pack(f"<{len(vector)}f", *vector)


def similarity_of(cosine_distance: float) -> float:
    """RediSearch's COSINE score is 1 - cosine similarity; clamped against float32 rounding."""
    return max(-1.0, min(1.0, 1.0 - cosine_distance))


def knn_query_string(partition: str) -> str:
    return f"(@partition:{{{escape_tag(partition)}}})=>[KNN 1 @vector $vec AS score]"


def index_schema(prefix: str, dims: int) -> tuple[list[Any], Any]:
    """FT.CREATE's SCHEMA fields and ON HASH PREFIX definition."""
    from redis.commands.search.field import TagField, VectorField
    from redis.commands.search.index_definition import IndexDefinition, IndexType

    fields = [
        # CASESENSITIVE: partitions are hex digests; nothing is folded into another partition.
        TagField("partition", case_sensitive=True),
        VectorField("vector", "HNSW", {"TYPE": "FLOAT32", "DIM": dims, "DISTANCE_METRIC": "COSINE"}),
    ]
    return fields, IndexDefinition(prefix=[prefix], index_type=IndexType.HASH)


def info_value(info: Any, name: str) -> Any:
    """The value after the first `name` key anywhere in an FT.INFO reply (the reply's shape
    differs between RESP2 lists and RESP3 maps, and between module versions)."""
    for key, value in _pairs(info):
        text = key.decode(errors="replace") if isinstance(key, bytes) else key
        if isinstance(text, str) and text.lower() == name:
            return value
    return None


def _pairs(node: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _pairs(value)
    elif isinstance(node, list | tuple):
        for i, item in enumerate(node):
            if i + 1 < len(node) and isinstance(item, str | bytes):
                yield item, node[i + 1]
            yield from _pairs(item)


def _as_int(value: Any) -> int | None:
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return None


class RedisVectorIndex:
    """Same interface as `semantic.QdrantIndex`: search, add, close (and start, run once)."""

    name = "redis-semantic"

    def __init__(
        self,
        client: Any,
        *,
        index_name: str | None = None,
        namespace: str | None = None,
        max_entries: int = 10_000,
    ) -> None:
        self._client = client  # a redis.asyncio.Redis (bytes replies)
        self.prefix = f"{KEY_PREFIX}{namespace}:" if namespace else KEY_PREFIX
        # One index per key prefix: an index only sees hashes under the prefix it was created with.
        self.index_name = index_name or (f"{DEFAULT_INDEX}_{namespace}" if namespace else DEFAULT_INDEX)
        self.max_entries = max_entries
        self._dims: int | None = None
        self._refused: str | None = None  # an index of another dimension: said once, then misses

    async def start(self) -> None:
        """Refuses (SemanticCacheError) a Redis without the search module."""
        try:
            await require_redis_search(self._client)
        except SemanticCacheError:
            await self._client.aclose()
            raise

    def _ft(self) -> Any:
        return self._client.ft(self.index_name)

    async def _ensure_index(self, dims: int) -> None:
        if self._dims == dims:
            return
        if self._refused is not None:
            raise SemanticCacheError(self._refused)
        if self._dims is not None:
            raise SemanticCacheError(self._dims_mismatch(dims, self._dims))
        from redis.exceptions import ResponseError

        fields, definition = index_schema(self.prefix, dims)
        try:
            await self._ft().create_index(fields, definition=definition)
        except ResponseError as exc:
            if "already exists" not in str(exc).lower():
                raise
            # Another gateway (or an earlier run) made it: its vectors must be this long.
            existing = _as_int(info_value(await self._ft().info(), "dim"))
            if existing is not None and existing != dims:
                self._refused = self._dims_mismatch(dims, existing)
                log.error("semantic cache: %s (every lookup is a miss until restart)", self._refused)
                raise SemanticCacheError(self._refused) from None
        self._dims = dims

    def _dims_mismatch(self, dims: int, existing: int) -> str:
        return (
            f"Redis index {self.index_name} holds {existing}-dimensional vectors, the embedding model "
            f"gives {dims}: set redis_semantic_cache_index_name (or namespace) for the new model"
        )

    async def search(
        self, partition: str, vector: list[float], threshold: float
    ) -> tuple[bytes, float] | None:
        """The nearest live entry of `partition` at or above `threshold`: (answer bytes, similarity)."""
        from redis.commands.search.query import Query

        await self._ensure_index(len(vector))
        query = (
            Query(knn_query_string(partition))
            .return_field("entry", decode_field=False)
            .return_field("score")
            .paging(0, 1)
            .dialect(2)
        )
        result = await self._ft().search(query, query_params={"vec": pack_vector(vector)})
        if not result.docs:
            return None
        doc = result.docs[0]
        entry, score = getattr(doc, "entry", None), getattr(doc, "score", None)
        if not isinstance(entry, bytes) or score is None:
            return None  # expired between the match and the read
        similarity = similarity_of(float(score))
        if similarity + FLOAT32_SLACK < threshold:
            return None
        return entry, similarity

    async def add(
        self, partition: str, prompt: str, vector: list[float], entry: bytes, ttl_s: float | None
    ) -> None:
        await self._ensure_index(len(vector))
        # Full: not stored (Redis removes expired entries itself, so the count is of live ones).
        docs = _as_int(info_value(await self._ft().info(), "num_docs"))
        if docs is None:  # a reply this build cannot read: unbounded is worse than not caching
            raise SemanticCacheError(f"FT.INFO {self.index_name} gave no num_docs")
        if docs >= self.max_entries:
            return
        # One entry per (partition, prompt): storing the same question again replaces it.
        key = self.prefix + hashlib.sha256(f"{partition}\x1f{prompt}".encode()).hexdigest()
        mapping = {"partition": partition, "vector": pack_vector(vector), "entry": entry}
        async with self._client.pipeline(transaction=True) as pipe:  # never a hash without expiry
            pipe.hset(key, mapping=mapping)
            if ttl_s:
                pipe.pexpire(key, max(1, int(ttl_s * 1000)))
            else:
                pipe.persist(key)
            await pipe.execute()

    async def close(self) -> None:
        await self._client.aclose()
