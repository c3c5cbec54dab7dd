"""Shared fixtures: one fake upstream per wire format and a gateway in front of all of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import api_providers, cloud_providers
from tests.fakes.ai2 import FakeAI2
from tests.fakes.anthropic import FakeAnthropic  # noqa: I001
from tests.fakes.cohere import FakeCohere
from tests.fakes.gemini import FakeGemini
from tests.fakes.mistral import FakeMistral
from tests.fakes.openai import FakeOpenAI
from tests.fakes.reka import FakeReka
from tests.fakes.yandexgpt import FakeYandexGPT
from tests.gateway import GatewayServer

MASTER_KEY = "sk-polyroute-master-test-7f3a9c2e51b04d68"
OPENAI_KEY = "sk-fake-openai-key-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-fake-anthropic-key-9876543210"
GEMINI_KEY = "AIzaFakeGeminiKey-abcdefghijklmnopqrs"
ALL_SECRETS = (
    MASTER_KEY,
    OPENAI_KEY,
    ANTHROPIC_KEY,
    GEMINI_KEY,
    *api_providers.SECRETS,
    *cloud_providers.SECRETS,
)


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini(valid_keys={GEMINI_KEY}) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_cohere() -> Iterator[FakeCohere]:
    with FakeCohere(valid_keys={api_providers.COHERE_KEY}) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_ai2() -> Iterator[FakeAI2]:
    with FakeAI2(api_key=api_providers.AI2_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_reka() -> Iterator[FakeReka]:
    with FakeReka(api_key=api_providers.REKA_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_mistral() -> Iterator[FakeMistral]:
    with FakeMistral(api_key=api_providers.MISTRAL_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_yandexgpt() -> Iterator[FakeYandexGPT]:
    with FakeYandexGPT(valid_keys={api_providers.YANDEX_KEY}) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_bedrock() -> Iterator[Any]:
    with cloud_providers.fake_bedrock() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_vertex() -> Iterator[Any]:
    with cloud_providers.fake_vertex() as fake:
        yield fake


def gateway_config(openai_url: str, anthropic_url: str, gemini_url: str) -> dict[str, Any]:
    """A LiteLLM-style config with one model per provider, all pointed at the fakes."""
    return {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": openai_url + "/v1",
                    "api_key": "os.environ/TEST_OPENAI_KEY",
                },
            },
            {
                "model_name": "azure-gpt",
                "litellm_params": {
                    "model": "azure/my-gpt-deployment",
                    "api_base": openai_url,
                    "api_key": OPENAI_KEY,
                    "api_version": "2024-10-21",
                },
            },
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": anthropic_url,
                    "api_key": ANTHROPIC_KEY,
                },
            },
            {
                "model_name": "gemini-flash",
                "litellm_params": {
                    "model": "gemini/gemini-2.5-flash",
                    "api_base": gemini_url,
                    "api_key": GEMINI_KEY,
                },
            },
            {"model_name": "mock-gpt", "litellm_params": {"model": "mock/mock-gpt"}},
            {
                "model_name": "fake-openai/*",
                "litellm_params": {
                    "model": "openai/*",
                    "api_base": openai_url + "/v1",
                    "api_key": OPENAI_KEY,
                },
            },
            {
                "model_name": "slow-gpt",
                "litellm_params": {
                    "model": "openai/gpt-slow",
                    "api_base": openai_url + "/v1",
                    "api_key": OPENAI_KEY,
                    "timeout": 1.0,
                    "stream_timeout": 0.5,
                },
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
        # Error mapping is asserted one attempt at a time; resilience has its own gateways.
        "router_settings": {"num_retries": 0},
    }


@pytest.fixture(scope="session")
def gateway(
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[GatewayServer]:
    config = gateway_config(fake_openai.url, fake_anthropic.url, fake_gemini.url)
    api_urls = {name: request.getfixturevalue(name).url for name in api_providers.FAKES}
    config["model_list"] += api_providers.model_list(api_urls)
    cloud_urls = {name: request.getfixturevalue(name).url for name in cloud_providers.FAKES}
    config["model_list"] += cloud_providers.model_list(cloud_urls)
    env = {"TEST_OPENAI_KEY": OPENAI_KEY}
    with GatewayServer(config, Path(tmp_path_factory.mktemp("gw")), env=env) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_fakes(request: pytest.FixtureRequest) -> None:
    """Each test starts with empty scripts and request logs on whichever fakes it uses."""
    for name in ("fake_openai", "fake_anthropic", "fake_gemini"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
    # The gateway starts these itself (getfixturevalue), so they are not in a test's closure.
    for name in (*api_providers.FAKES, *cloud_providers.FAKES):
        if name in request.fixturenames or "gateway" in request.fixturenames:
            request.getfixturevalue(name).reset()


# Which fake serves each configured model (tests parametrize over these).
PROVIDER_MODELS = {
    "openai": ("gpt-4o-mini", "fake_openai"),
    "azure": ("azure-gpt", "fake_openai"),
    "anthropic": ("claude", "fake_anthropic"),
    "gemini": ("gemini-flash", "fake_gemini"),
}
# The parity matrix (tests/server/test_providers_e2e.py) also covers the providers reached through
# their own APIs (tests/api_providers.py); the spend-log tests keep to the four above.
MATRIX_MODELS = {**PROVIDER_MODELS, **api_providers.MODELS, **cloud_providers.MODELS}
