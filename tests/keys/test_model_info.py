"""LiteLLM's GET /model/info and /v1/model/info: every deployment with its model_info, secrets
never shown, a virtual key limited to its models and to what is not internal."""

from __future__ import annotations

import httpx

from tests.conftest import MASTER_KEY
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin

SECRET = "sk-upstream-secret-key-0123456789abcdef"
URL_SECRET = "urlsecretvalue987"


def _config() -> dict:
    return {
        "model_list": [
            {
                "model_name": "gpt-4o",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": f"http://user:{URL_SECRET}@127.0.0.1:9/v1?key={URL_SECRET}",
                    "api_key": SECRET,
                    "rpm": 100,
                    "timeout": 30,
                },
                "model_info": {"id": "gpt-4o-east", "internal_note": "rack 7", "max_input_tokens": 1000},
            },
            {
                "model_name": "gpt-4o",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": "http://127.0.0.1:9/v1",
                    "api_key": SECRET,
                },
            },
            {"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}},
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }


def test_model_info_lists_deployments_in_litellm_shape_without_secrets(tmp_path) -> None:
    with GatewayServer(_config(), tmp_path) as gateway:
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        answer = httpx.get(gateway.url + "/model/info", headers=headers)
        assert answer.status_code == 200
        assert httpx.get(gateway.url + "/v1/model/info", headers=headers).json() == answer.json()
        data = answer.json()["data"]
        assert [d["model_name"] for d in data] == ["gpt-4o", "gpt-4o", "mock-gpt"]
        first = data[0]
        assert first["litellm_params"] == {
            "model": "openai/gpt-4o",
            "api_base": "http://127.0.0.1:9/v1",  # user info and query gone
            "rpm": 100,
            "timeout": 30.0,
        }
        info = first["model_info"]
        assert info["id"] == "gpt-4o-east" and info["max_input_tokens"] == 1000
        assert info["internal_note"] == "rack 7"  # the operator sees the operator's fields
        assert info["input_cost_per_token"] > 0 and info["max_output_tokens"]  # from the price table
        assert info["litellm_provider"] == "openai" and info["db_model"] is False
        assert data[1]["model_info"]["id"] != "gpt-4o-east"
        assert SECRET not in answer.text and URL_SECRET not in answer.text
        one = httpx.get(
            gateway.url + "/model/info", params={"litellm_model_id": "gpt-4o-east"}, headers=headers
        )
        assert [d["model_info"]["id"] for d in one.json()["data"]] == ["gpt-4o-east"]


def test_a_virtual_key_sees_only_its_models_and_nothing_internal(tmp_path) -> None:
    with GatewayServer(_config(), tmp_path) as gateway:
        key = Admin(gateway.url).new_key(models=["gpt-4o"])["key"]
        answer = httpx.get(gateway.url + "/v1/model/info", headers={"authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        data = answer.json()["data"]
        assert [d["model_name"] for d in data] == ["gpt-4o", "gpt-4o"]
        assert data[0]["litellm_params"] == {"model": "openai/gpt-4o"}  # not where it runs
        info = data[0]["model_info"]
        assert info["max_input_tokens"] == 1000 and "internal_note" not in info
        assert "127.0.0.1" not in answer.text and SECRET not in answer.text
        refused = httpx.get(
            gateway.url + "/model/info", headers={"authorization": "Bearer sk-unknown-000000000000"}
        )
        assert refused.status_code == 401
