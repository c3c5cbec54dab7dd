"""The semantic cache's vector index: Qdrant (embedded in-process by default, or a server), the
interface every index has (`VectorIndex`; Redis's is cache/redis_semantic.py), and the start-up
check that refuses `redis-semantic` on a Redis without its search module.

An entry is a point whose vector is the prompt's embedding and whose payload holds the partition
(cache/keys.py `semantic_partition`: model group, the other params, caller scope, namespace), the
encoded answer and its expiry. A lookup is the nearest point of the same partition whose cosine
similarity clears the threshold. The client is synchronous and run on one dedicated thread: the
embedded store computes on the calling thread and is not safe across threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from polyroute.cache.backends import Clock

DEFAULT_COLLECTION = "polyroute_semantic_cache"
MIN_SEARCH_VERSION = 20400  # MODULE LIST's `ver` of RediSearch 2.4, the first with vector fields


class SemanticCacheError(RuntimeError):
    """A semantic cache that cannot work as configured (start-up refuses it)."""


class VectorIndex(Protocol):
    """What the response cache asks of a semantic index."""

    name: str

    async def search(
        self, partition: str, vector: list[float], threshold: float
    ) -> tuple[bytes, float] | None: ...

    async def add(
        self, partition: str, prompt: str, vector: list[float], entry: bytes, ttl_s: float | None
    ) -> None: ...

    async def close(self) -> None: ...


class QdrantIndex:
    name = "qdrant-semantic"

    def __init__(
        self,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        collection: str | None = None,
        quantization: str | None = None,
        max_entries: int = 10_000,
        clock: Clock = time.time,
    ) -> None:
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise SemanticCacheError(
                "cache_params.type qdrant-semantic needs qdrant-client: pip install 'polyroute[cache]'"
            ) from None
        if api_base:
            self._client = QdrantClient(url=api_base, api_key=api_key, timeout=10)
        elif path:
            self._client = QdrantClient(path=path, force_disable_check_same_thread=True)
        else:
            self._client = QdrantClient(location=":memory:")
        self.remote = bool(api_base)
        self.collection = collection or DEFAULT_COLLECTION
        self.quantization = quantization
        self.max_entries = max_entries
        self.clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-cache")
        self._dims: int | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _ensure_collection(self, dims: int) -> None:
        if self._dims == dims:
            return
        from qdrant_client import models

        if not self._client.collection_exists(self.collection):
            quantization = {
                "binary": models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True)),
                "scalar": models.ScalarQuantization(
                    scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
                ),
                "product": models.ProductQuantization(
                    product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X16)
                ),
            }.get(self.quantization or "")
            self._client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(size=dims, distance=models.Distance.COSINE),
                quantization_config=quantization,
            )
            if self.remote:  # the embedded store scans; a server filters by this index
                self._client.create_payload_index(
                    self.collection, "partition", models.PayloadSchemaType.KEYWORD
                )
        self._dims = dims

    async def search(
        self, partition: str, vector: list[float], threshold: float
    ) -> tuple[bytes, float] | None:
        """The nearest live entry of `partition` at or above `threshold`: (answer bytes, similarity)."""
        return await self._run(self._search, partition, vector, threshold)

    def _search(self, partition: str, vector: list[float], threshold: float) -> tuple[bytes, float] | None:
        from qdrant_client import models

        self._ensure_collection(len(vector))
        now = self.clock()
        found = self._client.query_points(
            self.collection,
            query=vector,
            query_filter=models.Filter(
                must=[models.FieldCondition(key="partition", match=models.MatchValue(value=partition))],
                must_not=[models.FieldCondition(key="expires_at", range=models.Range(lte=now))],
            ),
            limit=1,
            score_threshold=threshold,
            with_payload=True,
        ).points
        if not found:
            return None
        payload = found[0].payload or {}
        return str(payload.get("entry", "")).encode(), float(found[0].score)

    async def add(
        self, partition: str, prompt: str, vector: list[float], entry: bytes, ttl_s: float | None
    ) -> None:
        await self._run(self._add, partition, prompt, vector, entry, ttl_s)

    def _add(
        self, partition: str, prompt: str, vector: list[float], entry: bytes, ttl_s: float | None
    ) -> None:
        from qdrant_client import models

        self._ensure_collection(len(vector))
        now = self.clock()
        if self._client.count(self.collection, exact=True).count >= self.max_entries:
            # Full: expired entries go first; still full, this answer is not stored.
            self._client.delete(
                self.collection,
                points_selector=models.Filter(
                    must=[models.FieldCondition(key="expires_at", range=models.Range(lte=now))]
                ),
            )
            if self._client.count(self.collection, exact=True).count >= self.max_entries:
                return
        # One point per (partition, prompt): storing the same question again replaces it.
        point_id = str(uuid.UUID(bytes=hashlib.sha256(f"{partition}\x1f{prompt}".encode()).digest()[:16]))
        payload = {
            "partition": partition,
            "entry": entry.decode(),
            "expires_at": now + ttl_s if ttl_s else 1e18,
        }
        self._client.upsert(
            self.collection, [models.PointStruct(id=point_id, vector=vector, payload=payload)]
        )

    async def close(self) -> None:
        await self._run(self._client.close)
        self._thread.shutdown(wait=False)


async def require_redis_search(client: Any) -> None:
    """`redis-semantic` needs RediSearch with vector fields (2.4+: Redis Stack, or Redis 8's query
    engine): a server without it (or with an older one) is refused at start-up, by name, instead
    of failing on the first request."""
    try:
        modules = await client.module_list()
    except Exception as exc:  # noqa: BLE001  # any failure to ask is reported the same way
        raise SemanticCacheError(
            f"cache_params.type redis-semantic: cannot ask Redis for its modules ({type(exc).__name__})"
        ) from None
    versions: dict[str, int | None] = {}
    for module in modules:
        if isinstance(module, dict):
            name = _text(module.get(b"name") or module.get("name") or b"")
            versions[name] = _version(module.get(b"ver") or module.get("ver"))
    found = [name for name in ("search", "ft", "searchlight") if name in versions]
    if not found:
        raise SemanticCacheError(
            "cache_params.type redis-semantic needs the Redis search module (RediSearch: Redis Stack "
            "or Redis 8), and this Redis server has none; use type qdrant-semantic, or a Redis with "
            "the search module"
        )
    version = versions[found[0]]
    if version is not None and version < MIN_SEARCH_VERSION:
        shown = f"{version // 10000}.{version // 100 % 100}.{version % 100}"
        raise SemanticCacheError(
            f"cache_params.type redis-semantic needs vector search (RediSearch 2.4 or later: Redis "
            f"Stack or Redis 8); this Redis server's search module is {shown}"
        )


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _version(value: Any) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None
