"""Builds the response cache from its settings, once, when the app state is built."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyroute.cache.backends import DiskBackend, MemoryBackend, RedisBackend
from polyroute.cache.embedder import gateway_embedder
from polyroute.cache.hook import ResponseCache
from polyroute.cache.redis_semantic import RedisVectorIndex
from polyroute.cache.semantic import QdrantIndex
from polyroute.cache.settings import CacheSettings, cache_redis_settings
from polyroute.config.env_refs import resolve

if TYPE_CHECKING:
    from polyroute.server.state import AppState


def build_response_cache(state: AppState, clock: Any = None) -> ResponseCache | None:
    config = state.config
    settings: CacheSettings | None = getattr(config, "cache", None)
    if settings is None:
        return None
    env = config.env
    aliases = dict(config.router.model_group_alias)
    namespace = settings.namespace or ""
    common: dict[str, Any] = {"aliases": aliases, "clock": clock or time.time}
    kind = settings.type
    if kind == "local":
        backend = MemoryBackend(settings.max_entries, settings.max_bytes, clock=clock or time.monotonic)
        return ResponseCache(settings, backend=backend, **common)
    if kind == "disk":
        from polyroute.store.database import data_dir_from

        folder = settings.disk_cache_dir or str(data_dir_from(env) / "response-cache")
        Path(folder).mkdir(parents=True, exist_ok=True)
        return ResponseCache(
            settings, backend=DiskBackend(folder, settings.max_bytes, settings.max_entries), **common
        )
    if kind == "redis":
        redis = cache_redis_settings(settings, config.state_settings, env)
        prefix = f"polyroute:cache:{namespace}:" if namespace else "polyroute:cache:"
        return ResponseCache(settings, backend=RedisBackend.from_settings(redis, prefix), **common)
    model = settings.embedding_model
    assert model is not None  # config/loader.py refused the settings without one
    embed = gateway_embedder(state, model)
    if kind == "redis-semantic":
        redis = cache_redis_settings(settings, config.state_settings, env)
        redis_index = RedisVectorIndex(
            RedisBackend.from_settings(redis).client,
            index_name=settings.redis_semantic_cache_index_name,
            namespace=settings.namespace,
            max_entries=settings.max_entries,
        )
        # start() refuses a Redis without the search module before the gateway serves.
        return ResponseCache(
            settings, index=redis_index, embed=embed, before_start=redis_index.start, **common
        )
    given = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    api_key = _resolved(given, env, "qdrant_api_key") or env.get("QDRANT_API_KEY")
    config.redactor.add(api_key)
    index = QdrantIndex(
        api_base=_resolved(settings.qdrant_api_base, env, "qdrant_api_base"),
        api_key=api_key,
        path=settings.qdrant_path,
        collection=settings.qdrant_collection_name,
        quantization=settings.qdrant_quantization_config,
        max_entries=settings.max_entries,
        clock=clock or time.time,
    )
    return ResponseCache(settings, index=index, embed=embed, **common)


def _resolved(value: str | None, env: Mapping[str, str], name: str) -> str | None:
    if value is None:
        return None
    return resolve(value, env, f"litellm_settings.cache_params.{name}")
