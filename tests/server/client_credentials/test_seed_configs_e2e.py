"""Seed 002 ("Clientside LLM Credentials") with its own configs, through the openai SDK.

The per-model flow runs on the seed's model_list exactly as written (no
allow_client_side_credentials: the model's list is the opt-in), and user_config on a config that
enables nothing. The only additions are the master key the seed's client sends (`sk-1234`) and,
where an upstream must be reached, an allowlist entry for 127.0.0.1, where the fakes stand in for
Fireworks and Azure; the same requests without it show that the URL check, not a switch, is what
stops them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
import yaml

from polyroute.config.loader import ConfigError, load_config
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.server.client_credentials.support import CLIENT_AZURE_KEY, CLIENT_KEY, MESSAGES

SEED_MASTER = "sk-1234"
# The seed's step 1, both variants, verbatim but for the regex's quotes: in YAML's double quotes
# `\.` is an invalid escape (the seed's line does not parse as YAML; check-config says so and
# suggests single quotes, see test_a_regex_in_double_quotes_gets_a_hint).
SEED_NAMES = """
model_list:
  - model_name: "fireworks_ai/*"
    litellm_params:
      model: "fireworks_ai/*"
      configurable_clientside_auth_params: ["api_base"]
"""
SEED_REGEX = r"""
model_list:
  - model_name: "fireworks_ai/*"
    litellm_params:
      model: "fireworks_ai/*"
      configurable_clientside_auth_params: [{"api_base": '^https://litellm.*direct\.fireworks\.ai/v1$'}]
"""
FIREWORKS_MODEL = "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct"


def seed_config(text: str, **general: Any) -> dict[str, Any]:
    config = yaml.safe_load(text)
    config["general_settings"] = {"master_key": SEED_MASTER, **general}
    return config


def seed_client(server: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(api_key=SEED_MASTER, base_url=server.url, max_retries=0, timeout=20)


def refusal(server: GatewayServer, model: str, extra_body: dict[str, Any]) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        seed_client(server).chat.completions.create(model=model, messages=MESSAGES, extra_body=extra_body)
    return caught.value


@pytest.fixture(scope="module")
def fireworks() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=CLIENT_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def azure() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=CLIENT_AZURE_KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _reset(fireworks: FakeOpenAI, azure: FakeOpenAI) -> None:
    fireworks.reset()
    azure.reset()


def test_the_seeds_per_model_config_takes_the_clients_key_and_base(tmp_path, fireworks):
    config = seed_config(SEED_NAMES, allowed_client_url_hosts=["127.0.0.1"])
    with GatewayServer(config, tmp_path) as server:
        extra = {"api_key": CLIENT_KEY, "api_base": fireworks.url + "/v1"}  # the seed's step 2
        reply = seed_client(server).chat.completions.create(
            model=FIREWORKS_MODEL, messages=MESSAGES, extra_body=extra
        )
        assert reply.choices[0].message.content
        [seen] = fireworks.requests
        assert seen.headers["authorization"] == f"Bearer {CLIENT_KEY}"
        assert seen.json["model"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"
        assert "api_key" not in seen.json and "api_base" not in seen.json
        # The model has no key of the operator's: without the client's, a 400 naming it.
        error = refusal(server, FIREWORKS_MODEL, {})
        assert error.status_code == 400 and error.body["param"] == "api_key"
        # api_key is implied by api_base; nothing else is.
        error = refusal(server, FIREWORKS_MODEL, {**extra, "api_version": "2024-10-21"})
        assert error.status_code == 403 and error.body["param"] == "api_version"
    assert len(fireworks.requests) == 1


def test_exactly_the_seeds_config_is_stopped_by_the_url_check_not_by_a_switch(tmp_path, fireworks):
    with GatewayServer(seed_config(SEED_NAMES), tmp_path) as server:
        error = refusal(server, FIREWORKS_MODEL, {"api_key": CLIENT_KEY, "api_base": fireworks.url + "/v1"})
    assert error.status_code == 403 and error.code == "unsafe_upstream_address"
    assert error.body["param"] == "api_base" and fireworks.requests == []


def test_the_seeds_regex_variant_takes_the_seeds_url_and_refuses_others(tmp_path, monkeypatch):
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]  # refused: nothing allowlisted, so no connection is opened

    with GatewayServer(seed_config(SEED_REGEX), tmp_path) as server:
        monkeypatch.setattr(server.state.url_guard, "resolver", resolve)
        seed_url = {"api_key": "my-bad-key", "api_base": "https://litellm-dev.direct.fireworks.ai/v1"}
        error = refusal(server, FIREWORKS_MODEL, seed_url)
        # The policy took the seed's URL; the address check is what refused it.
        assert error.status_code == 403 and error.code == "unsafe_upstream_address"
        assert asked == ["litellm-dev.direct.fireworks.ai"]
        error = refusal(
            server, FIREWORKS_MODEL, {"api_key": "my-bad-key", "api_base": "https://api.evil.example/v1"}
        )
        assert error.status_code == 403 and error.code == "param_not_allowed"
        assert error.body["param"] == "api_base" and asked == ["litellm-dev.direct.fireworks.ai"]


def seed_user_config(azure_base: str) -> dict[str, Any]:
    """The seed's user_config as written; env values are what this test can reach."""
    return {
        "model_list": [
            {
                "model_name": "user-azure-instance",
                "litellm_params": {
                    "model": "azure/chatgpt-v-2",
                    "api_key": CLIENT_AZURE_KEY,
                    "api_version": "2024-10-21",
                    "api_base": azure_base,
                    "timeout": 10,
                },
                "tpm": 240000,
                "rpm": 1800,
            },
            {
                "model_name": "user-openai-instance",
                "litellm_params": {"model": "gpt-3.5-turbo", "api_key": CLIENT_KEY, "timeout": 10},
                "tpm": 240000,
                "rpm": 1800,
            },
        ],
        "num_retries": 2,
        "allowed_fails": 3,
        "fallbacks": [{"user-azure-instance": ["user-openai-instance"]}],
    }


OPERATOR_ONLY = {"model_list": [{"model_name": "mock-gpt", "litellm_params": {"model": "mock/gpt"}}]}


def test_the_seeds_user_config_works_with_nothing_enabled(tmp_path, azure):
    config = {
        **OPERATOR_ONLY,
        "general_settings": {"master_key": SEED_MASTER, "allowed_client_url_hosts": ["127.0.0.1"]},
    }
    with GatewayServer(config, tmp_path) as server:
        reply = seed_client(server).chat.completions.create(
            model="user-azure-instance",
            messages=MESSAGES,
            extra_body={"user_config": seed_user_config(azure.url)},
        )
        assert reply.choices[0].message.content
    [seen] = azure.requests
    assert seen.path == "/openai/deployments/chatgpt-v-2/chat/completions"
    assert seen.headers["api-key"] == CLIENT_AZURE_KEY and "user_config" not in seen.json


def test_user_config_on_the_default_config_still_passes_the_url_check(tmp_path, azure):
    with GatewayServer(
        {**OPERATOR_ONLY, "general_settings": {"master_key": SEED_MASTER}}, tmp_path
    ) as server:
        error = refusal(server, "user-azure-instance", {"user_config": seed_user_config(azure.url)})
    assert error.status_code == 403 and error.code == "unsafe_upstream_address"
    assert error.body["param"] == "user_config.model_list[0].litellm_params.api_base"
    assert azure.requests == []


def test_user_config_never_borrows_the_operators_key(tmp_path, azure):
    """The operator's OPENAI_API_KEY is set; a user_config entry without a key does not get it."""
    config = {
        **OPERATOR_ONLY,
        "general_settings": {"master_key": SEED_MASTER, "allowed_client_url_hosts": ["127.0.0.1"]},
    }
    user_config = seed_user_config(azure.url)
    del user_config["model_list"][1]["litellm_params"]["api_key"]
    env = {"OPENAI_API_KEY": "sk-operator-env-key-000000000000"}
    with GatewayServer(config, tmp_path, env=env) as server:
        error = refusal(server, "user-openai-instance", {"user_config": user_config})
    assert error.status_code == 400 and "sk-operator-env-key" not in str(error.body)
    assert error.body["param"].startswith("user_config.model_list[1]")


def test_user_config_can_be_switched_off_for_the_gateway(tmp_path, azure):
    general = {
        "master_key": SEED_MASTER,
        "allow_user_config": False,
        "allowed_client_url_hosts": ["127.0.0.1"],
    }
    with GatewayServer({**OPERATOR_ONLY, "general_settings": general}, tmp_path) as server:
        error = refusal(server, "user-azure-instance", {"user_config": seed_user_config(azure.url)})
    assert error.status_code == 403 and error.code == "client_side_credentials_disabled"
    assert error.body["param"] == "user_config" and azure.requests == []


def test_a_regex_in_double_quotes_gets_a_hint(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(SEED_REGEX.replace("'", '"'))
    with pytest.raises(ConfigError, match="write regexes in single quotes"):
        load_config(path, {})
