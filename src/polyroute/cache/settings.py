"""`litellm_settings.cache` and `cache_params`: which cache, for which calls, how long, how big.

Parsed once at start-up (config/loader.py). Names are LiteLLM's where LiteLLM has one; polyroute's
own additions are `scope`, `max_entries`, `max_bytes` and `max_entry_bytes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# LiteLLM's call type names -> the gateway's call types (server/app.py's route table). Both the
# sync and async spellings appear in LiteLLM configs.
CALL_TYPES: dict[str, str] = {
    "completion": "chat_completion",
    "acompletion": "chat_completion",
    "text_completion": "text_completion",
    "atext_completion": "text_completion",
    "embedding": "embeddings",
    "aembedding": "embeddings",
    "transcription": "transcription",
    "atranscription": "transcription",
    "responses": "responses",
    "aresponses": "responses",
    "rerank": "rerank",
    "arerank": "rerank",
}
# What this build caches; the other names are accepted (a migrated config carries them) and named
# at start-up as not cached yet.
CACHED_CALL_TYPES = frozenset({"chat_completion", "text_completion"})

BACKENDS = ("local", "redis", "disk", "redis-semantic", "qdrant-semantic")
SEMANTIC_BACKENDS = ("redis-semantic", "qdrant-semantic")

# LiteLLM's documented cache_params that polyroute does not act on (s3, gcs, azure blob, valkey,
# connection tuning): a migrated config carries them, start-up names them and goes on.
LITELLM_ONLY_KEYS = frozenset(
    {
        "default_in_memory_ttl",
        "default_in_redis_ttl",
        "max_connections",
        "socket_timeout",
        "redis_startup_nodes",
        "service_name",
        "sentinel_nodes",
        "s3_bucket_name",
        "s3_region_name",
        "s3_api_version",
        "s3_use_ssl",
        "s3_verify",
        "s3_endpoint_url",
        "s3_aws_access_key_id",
        "s3_aws_secret_access_key",
        "s3_aws_session_token",
        "s3_config",
        "s3_path",
        "gcs_bucket_name",
        "gcs_path_service_account",
        "gcs_path",
        "azure_account_url",
        "azure_blob_container",
        "mode",
        "valkey_semantic_cache_embedding_model",
    }
)


class CacheSettings(BaseModel):
    """`cache_params`, validated. Unknown names are reported by config/key_report.py."""

    model_config = ConfigDict(extra="allow")

    type: Literal["local", "redis", "disk", "redis-semantic", "qdrant-semantic"] = "local"
    ttl: float | None = Field(default=None, gt=0)  # seconds; None: kept until evicted
    namespace: str | None = Field(default=None, max_length=128)
    supported_call_types: list[str] = Field(default_factory=lambda: ["acompletion", "atext_completion"])
    # Whose answers a caller may be served: "key" (its own key's), "team" (its team's, else its
    # key's) or "global" (anyone's: only for gateways whose callers may see each other's answers).
    scope: Literal["key", "team", "global"] = "key"
    # Bounds of what an outsider can make grow.
    max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)  # local and disk backends
    max_entry_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)  # one answer; larger: not stored
    # Redis (else router_settings' redis_*, else REDIS_HOST / REDIS_PORT / REDIS_PASSWORD).
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    password: SecretStr | None = None  # masked in any repr of the config
    db: int | None = Field(default=None, ge=0)
    url: str | None = None
    redis_url: str | None = None
    # Disk.
    disk_cache_dir: str | None = None
    # Semantic.
    similarity_threshold: float | None = Field(default=None, gt=0, le=1)
    redis_semantic_cache_embedding_model: str | None = None
    redis_semantic_cache_index_name: str | None = Field(default=None, max_length=200)
    qdrant_semantic_cache_embedding_model: str | None = None
    qdrant_api_base: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_collection_name: str | None = Field(default=None, max_length=200)
    qdrant_quantization_config: Literal["binary", "scalar", "product"] | None = None
    qdrant_path: str | None = None  # polyroute: an embedded store's folder (default: in memory)

    @field_validator("supported_call_types")
    @classmethod
    def _known_call_types(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in CALL_TYPES:
                raise ValueError(f"unknown call type {name!r}; LiteLLM's names are: {', '.join(CALL_TYPES)}")
        return value

    @property
    def semantic(self) -> bool:
        return self.type in SEMANTIC_BACKENDS

    @property
    def call_types(self) -> frozenset[str]:
        """The gateway call types this cache serves."""
        return frozenset(CALL_TYPES[name] for name in self.supported_call_types) & CACHED_CALL_TYPES

    @property
    def embedding_model(self) -> str | None:
        if self.type == "qdrant-semantic":
            return self.qdrant_semantic_cache_embedding_model
        return self.redis_semantic_cache_embedding_model

    def problems(self) -> list[str]:
        """What is missing for the chosen type, one line each."""
        out = []
        if self.semantic:
            if self.similarity_threshold is None:
                out.append(f"cache_params.similarity_threshold is required for type {self.type}")
            if not self.embedding_model:
                name = self.type.replace("-semantic", "") + "_semantic_cache_embedding_model"
                out.append(f"cache_params.{name} is required for type {self.type} (a model_list model_name)")
        return out

    def unsupported_call_types(self) -> list[str]:
        return [n for n in self.supported_call_types if CALL_TYPES[n] not in CACHED_CALL_TYPES]


def cache_settings(litellm_settings: Mapping[str, Any]) -> CacheSettings | None:
    """The cache in force: None unless `litellm_settings.cache` is true."""
    if litellm_settings.get("cache") is not True:
        return None
    return CacheSettings.model_validate(litellm_settings.get("cache_params") or {})


KNOWN_KEYS = frozenset(CacheSettings.model_fields)


def cache_redis_settings(
    settings: CacheSettings, state_settings: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    """The Redis a redis or redis-semantic cache uses: cache_params' own host/port/password (or
    url), else router_settings' redis_*, else REDIS_HOST / REDIS_PORT / REDIS_PASSWORD
    (REDIS_URL), as LiteLLM reads them. ValueError naming what is missing."""
    from polyroute.config.env_refs import resolve
    from polyroute.state.factory import redis_settings

    own = {
        "redis_url": settings.redis_url or settings.url,
        "redis_host": settings.host,
        "redis_port": settings.port,
        "redis_password": settings.password.get_secret_value() if settings.password else None,
        "redis_db": settings.db,
    }
    own = {k: v for k, v in own.items() if v not in (None, "")}
    if own:
        found = {
            k: resolve(v, env, f"litellm_settings.cache_params.{k}") if isinstance(v, str) else v
            for k, v in own.items()
        }
    else:
        found = redis_settings(state_settings, env)
    if not found.get("redis_url") and not found.get("redis_host"):
        raise ValueError(
            f"litellm_settings.cache_params.type {settings.type} needs a Redis server: cache_params.host "
            "(or url), router_settings.redis_host, or REDIS_HOST"
        )
    return found
