"""litellm_settings.cache / cache_params: LiteLLM's names, validated once, typos named."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from polyroute.cache.hook import ResponseCache
from polyroute.cache.settings import cache_redis_settings
from polyroute.config.loader import ConfigError, load_config
from polyroute.server.state import AppState

MODEL = {
    "model_name": "gpt",
    "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-operator-000000000000"},
}
EMBEDDER = {
    "model_name": "embedder",
    "litellm_params": {"model": "openai/text-embedding-3-small", "api_key": "sk-operator-000000000000"},
}


def load(tmp_path, env: dict[str, str] | None = None, **litellm_settings: Any):
    path = tmp_path / "config.yaml"
    config = {"model_list": [MODEL, EMBEDDER], "litellm_settings": litellm_settings}
    path.write_text(yaml.safe_dump(config))
    return load_config(path, {"POLYROUTE_DATA_DIR": str(tmp_path), **(env or {})})


def test_off_unless_cache_is_true(tmp_path) -> None:
    assert load(tmp_path).cache is None
    assert load(tmp_path, cache=False, cache_params={"type": "local"}).cache is None
    loaded = load(tmp_path, cache=True)
    assert loaded.cache is not None and loaded.cache.type == "local"
    assert loaded.cache.call_types == {"chat_completion", "text_completion"}
    assert not loaded.unknown_keys and not any("cache" in w for w in loaded.warnings)


def test_litellm_call_type_names(tmp_path) -> None:
    loaded = load(tmp_path, cache=True, cache_params={"supported_call_types": ["acompletion", "aembedding"]})
    assert loaded.cache.call_types == {"chat_completion"}
    assert any("'aembedding' is not cached yet" in w for w in loaded.warnings)
    with pytest.raises(ConfigError, match="supported_call_types"):
        load(tmp_path, cache=True, cache_params={"supported_call_types": ["achat"]})


def test_a_misspelled_cache_param_is_named_with_the_nearest(tmp_path) -> None:
    loaded = load(tmp_path, cache=True, cache_params={"similarity_treshold": 0.9, "socket_timeout": 2})
    assert {k.path: k.near for k in loaded.unknown_keys} == {
        "litellm_settings.cache_params.similarity_treshold": "similarity_threshold"
    }
    assert (
        "config key 'litellm_settings.cache_params.socket_timeout' is not supported yet and is ignored"
        in (loaded.warnings)
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"type": "memcached"}, "litellm_settings.cache_params.type"),
        ({"ttl": -5}, "litellm_settings.cache_params.ttl"),
        (
            {"type": "qdrant-semantic", "qdrant_semantic_cache_embedding_model": "embedder"},
            "similarity_threshold",
        ),
        ({"type": "qdrant-semantic", "similarity_threshold": 0.9}, "qdrant_semantic_cache_embedding_model"),
        (
            {
                "type": "qdrant-semantic",
                "similarity_threshold": 0.9,
                "qdrant_semantic_cache_embedding_model": "nope",
            },
            "'nope' is not a model_list model_name",
        ),
        ({"max_entries": 0}, "max_entries"),
    ],
)
def test_invalid_settings_fail_naming_the_key(tmp_path, params, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, cache=True, cache_params=params)


def test_redis_from_cache_params_router_settings_or_env(tmp_path) -> None:
    loaded = load(tmp_path, cache=True, cache_params={"type": "redis", "host": "10.0.0.1", "port": 6380})
    assert cache_redis_settings(loaded.cache, {}, {}) == {"redis_host": "10.0.0.1", "redis_port": 6380}
    assert cache_redis_settings(
        loaded.cache.model_copy(update={"host": None, "port": None}),
        {},
        {"REDIS_HOST": "r.example", "REDIS_PORT": "6390", "REDIS_PASSWORD": "pw-secret"},
    ) == {"redis_host": "r.example", "redis_port": "6390", "redis_password": "pw-secret"}
    bare = loaded.cache.model_copy(update={"host": None, "port": None})
    assert cache_redis_settings(bare, {"redis_host": "state.example"}, {"REDIS_HOST": "ignored"}) == {
        "redis_host": "state.example"
    }
    password = loaded.cache.model_copy(update={"password": SecretStr("os.environ/CACHE_PW")})
    assert cache_redis_settings(password, {}, {"CACHE_PW": "from-env"})["redis_password"] == "from-env"


def test_redis_without_a_server_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cache_params.type redis needs a Redis server"):
        load(tmp_path, cache=True, cache_params={"type": "redis"})
    with pytest.raises(ConfigError, match="CACHE_REDIS_PW"):
        load(
            tmp_path,
            cache=True,
            cache_params={"type": "redis", "host": "h", "password": "os.environ/CACHE_REDIS_PW"},
        )
    # router_settings' Redis (the gateway's shared state) serves the cache too
    path = tmp_path / "shared.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model_list": [MODEL],
                "router_settings": {"redis_host": "127.0.0.1", "redis_port": 6379},
                "litellm_settings": {"cache": True, "cache_params": {"type": "redis"}},
            }
        )
    )
    state = AppState.build(load_config(path, {"POLYROUTE_DATA_DIR": str(tmp_path)}))
    assert state.cache.backend.name == "redis"


def test_app_state_builds_the_chosen_backend(tmp_path) -> None:
    state = AppState.build(load(tmp_path, cache=True, cache_params={"type": "disk", "ttl": 30}))
    assert isinstance(state.cache, ResponseCache) and state.cache.backend.name == "disk"
    assert (tmp_path / "response-cache").is_dir()  # under POLYROUTE_DATA_DIR by default


def test_the_redis_password_is_masked_and_redacted(tmp_path) -> None:
    secret = "cache-redis-password-5f1e2d"
    loaded = load(
        tmp_path,
        env={"CACHE_PW": secret},
        cache=True,
        cache_params={"type": "redis", "host": "127.0.0.1", "password": "os.environ/CACHE_PW"},
    )
    assert secret not in repr(loaded.cache)
    scrubbed = loaded.redactor.scrub(f"error talking to redis with {secret}")
    assert scrubbed == "error talking to redis with [redacted]"
