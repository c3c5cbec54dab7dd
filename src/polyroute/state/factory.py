"""Picks the shared-state backend from LiteLLM-style settings, once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from polyroute.config.env_refs import resolve
from polyroute.state.base import SharedState
from polyroute.state.memory import MemoryState
from polyroute.state.worker_files import ENV_VAR as REGISTRY_DIR_ENV
from polyroute.state.worker_files import FolderRegistryState

# router_settings keys, as LiteLLM spells them, and the env vars LiteLLM reads in their place.
SETTING_KEYS = ("redis_url", "redis_host", "redis_port", "redis_password", "redis_db")
ENV_VARS = {
    "redis_url": "REDIS_URL",
    "redis_host": "REDIS_HOST",
    "redis_port": "REDIS_PORT",
    "redis_password": "REDIS_PASSWORD",
}


def redis_settings(router_settings: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The redis_* settings in force, `os.environ/` references resolved; empty means no Redis.

    router_settings win as a whole: env vars are read only when router_settings has no redis
    key at all and REDIS_HOST or REDIS_URL is set, which is what LiteLLM does.
    """
    given = {key: router_settings[key] for key in SETTING_KEYS if router_settings.get(key) not in (None, "")}
    if given:
        resolved = {
            key: resolve(value, env, where=f"router_settings.{key}") if isinstance(value, str) else value
            for key, value in given.items()
        }
    elif env.get("REDIS_HOST") or env.get("REDIS_URL"):
        resolved = {key: env[var] for key, var in ENV_VARS.items() if env.get(var)}
    else:
        return {}
    return {key: value for key, value in resolved.items() if value not in (None, "")}


def _int_setting(settings: Mapping[str, Any], key: str) -> int | None:
    value = settings.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be an integer") from None


def build_state(router_settings: Mapping[str, Any], env: Mapping[str, str]) -> SharedState:
    """MemoryState when no Redis is configured (its worker registry in a folder for `serve
    --workers N`); otherwise Redis, falling back to memory while it is down."""
    settings = redis_settings(router_settings, env)
    if not settings:
        registry = env.get(REGISTRY_DIR_ENV)
        # `serve --workers N` without Redis: the processes share the worker registry in a folder.
        return FolderRegistryState(Path(registry)) if registry else MemoryState()
    if not settings.get("redis_url") and not settings.get("redis_host"):
        # A port or password alone names no server: say so rather than silently run per-process limits.
        raise ValueError("router_settings has redis settings but neither redis_url nor redis_host")
    # Imported only when Redis is configured: redis-py (and the OpenTelemetry SDK it pulls in)
    # costs ~24 MB of every process's memory, which the embedded default never needs.
    from polyroute.state.failover import FailoverState
    from polyroute.state.redis import RedisState

    redis = RedisState.from_settings(
        url=settings.get("redis_url"),
        host=settings.get("redis_host"),
        port=_int_setting(settings, "redis_port"),
        password=settings.get("redis_password"),
        db=_int_setting(settings, "redis_db") or 0,
    )
    return FailoverState(redis, MemoryState())
