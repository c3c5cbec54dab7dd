"""POST /v1/rerank under virtual keys: a key reaches only its allowed models, and each rerank
leaves a spend row (call_type rerank) priced by Cohere's search units."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import api_providers
from tests.conftest import MASTER_KEY
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin


@pytest.fixture(scope="module")
def rerank_gateway(fake_cohere, tmp_path_factory) -> Iterator[GatewayServer]:
    params = {"api_base": fake_cohere.url, "api_key": api_providers.COHERE_KEY}
    config = {
        "model_list": [
            {"model_name": "rerank", "litellm_params": {"model": "cohere/rerank-v3.5", **params}},
            {
                "model_name": "rerank-other",
                "litellm_params": {"model": "cohere/rerank-english-v3.0", **params},
            },
        ],
        "general_settings": {"master_key": MASTER_KEY, "proxy_batch_write_at": 0.1},
    }
    with GatewayServer(config, Path(tmp_path_factory.mktemp("rerank-keys"))) as server:
        yield server


def rerank(gateway: GatewayServer, key: str, model: str) -> httpx.Response:
    body = {"model": model, "query": "red apple", "documents": ["a red apple", "blue sky"]}
    return httpx.post(
        gateway.url + "/v1/rerank", json=body, headers={"authorization": f"Bearer {key}"}, timeout=20
    )


def test_a_virtual_key_reranks_its_models_and_is_billed_per_search(rerank_gateway):
    admin = Admin(rerank_gateway.url)
    made = admin.new_key(models=["rerank"], key_alias="reranker")
    answer = rerank(rerank_gateway, made["key"], "rerank")
    assert answer.status_code == 200 and answer.json()["results"][0]["index"] == 0
    refused = rerank(rerank_gateway, made["key"], "rerank-other")
    assert refused.status_code in (401, 403) and refused.json()["error"]
    (row,) = admin.wait_for_logs(1, api_key=made["key"])
    assert row["call_type"] == "rerank" and row["model_group"] == "rerank"
    assert row["spend"] == pytest.approx(0.002)
