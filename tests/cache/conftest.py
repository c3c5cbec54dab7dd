"""Gateways with a response cache in front of a fake OpenAI upstream (real HTTP on loopback)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MASTER_KEY, OPENAI_KEY
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.state.support import delete_prefix

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
PRICES = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_upstream(request) -> None:
    if "upstream" in request.fixturenames:
        request.getfixturevalue("upstream").reset()


def cache_config(url: str, **cache_params: Any) -> dict[str, Any]:
    def model(name: str, upstream_model: str, **extra: Any) -> dict[str, Any]:
        params = {"model": f"openai/{upstream_model}", "api_base": url + "/v1", "api_key": OPENAI_KEY}
        return {"model_name": name, "litellm_params": {**params, **extra}, "model_info": PRICES}

    return {
        "model_list": [
            model("gpt", "gpt-4o-mini"),
            model("one-rpm", "gpt-4o-mini", rpm=1),
            model("embedder", "text-embedding-3-small"),
            # An OpenAI-compatible server (not OpenAI itself): Responses clients are translated.
            {
                "model_name": "gpt-chat",
                "litellm_params": {
                    "model": "hosted_vllm/gpt-4o-mini",
                    "api_base": url + "/v1",
                    "api_key": OPENAI_KEY,
                },
                "model_info": PRICES,
            },
        ],
        "general_settings": {"master_key": MASTER_KEY, "proxy_batch_write_at": 0.1},
        "router_settings": {"num_retries": 0, "model_group_alias": {"gpt-alias": "gpt"}},
        "litellm_settings": {"cache": True, "cache_params": cache_params},
    }


def backend_params(kind: str, tmp: Path) -> tuple[dict[str, Any], str | None]:
    """cache_params for one exact backend, and the Redis key prefix to clean up."""
    if kind == "redis":
        namespace = "test-" + uuid.uuid4().hex
        return {"type": "redis", "host": "127.0.0.1", "port": 6379, "namespace": namespace}, (
            f"polyroute:cache:{namespace}:"
        )
    if kind == "disk":
        return {"type": "disk", "disk_cache_dir": str(tmp / "disk-cache")}, None
    return {"type": "local"}, None


@pytest.fixture(scope="module", params=["local", "disk", "redis"])
def cached_gateway(request, upstream, tmp_path_factory) -> Iterator[GatewayServer]:
    tmp = Path(tmp_path_factory.mktemp("cache"))
    params, prefix = backend_params(request.param, tmp)
    with GatewayServer(cache_config(upstream.url, **params), tmp) as server:
        yield server
    if prefix:
        asyncio.run(delete_prefix(prefix))
