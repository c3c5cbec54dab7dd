"""`polyroute serve` (a real process) refuses a redis-semantic cache on a Redis without the search
module, naming it, instead of failing on the first request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.fakes.base import free_port

pytestmark = pytest.mark.slow


def test_serve_refuses_redis_semantic_without_the_search_module(tmp_path) -> None:
    key = "sk-operator-000000000000"
    config = {
        "model_list": [
            {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o", "api_key": key}},
            {
                "model_name": "embedder",
                "litellm_params": {"model": "openai/text-embedding-3-small", "api_key": key},
            },
        ],
        "litellm_settings": {
            "cache": True,
            "cache_params": {
                "type": "redis-semantic",
                "host": "127.0.0.1",
                "port": 6379,
                "similarity_threshold": 0.9,
                "redis_semantic_cache_embedding_model": "embedder",
            },
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "POLYROUTE_DATA_DIR": str(tmp_path / "data"), "POLYROUTE_MASTER_KEY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "polyroute", "serve", "--config", str(path), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "redis-semantic needs the Redis search module" in output, output[-2000:]
