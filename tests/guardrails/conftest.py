"""A gateway with every built-in guardrail type, each pointed at its protocol-faithful fake, in
front of the fake OpenAI upstream and a canary upstream that only counts connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ANTHROPIC_KEY, MASTER_KEY, OPENAI_KEY
from tests.fakes.canary import Canary
from tests.fakes.guardrail_services import FakeContentSafety, FakeGuardWebhook, FakeModeration, FakePhotoDNA
from tests.gateway import GatewayServer

MODERATION_KEY = "sk-fake-moderation-key-5e1d0c9b8a7f6e5d"
AZURE_CS_KEY = "azure-cs-fake-key-0f1e2d3c4b5a69788796"
PHOTODNA_KEY = "photodna-fake-key-9a8b7c6d5e4f3a2b1c0d"
WEBHOOK_TOKEN = "guard-webhook-token-1234567890abcdef"
SECRETS = (MASTER_KEY, OPENAI_KEY, MODERATION_KEY, AZURE_CS_KEY, PHOTODNA_KEY, WEBHOOK_TOKEN)


@pytest.fixture(scope="module")
def moderation() -> Iterator[FakeModeration]:
    with FakeModeration(MODERATION_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def stalled_moderation() -> Iterator[FakeModeration]:
    """A moderation service that never answers (the gateway's guardrail timeout ends each call)."""
    with FakeModeration(MODERATION_KEY) as fake:
        fake.stall = True
        yield fake


@pytest.fixture(scope="module")
def content_safety() -> Iterator[FakeContentSafety]:
    with FakeContentSafety(AZURE_CS_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def photodna() -> Iterator[FakePhotoDNA]:
    with FakePhotoDNA(PHOTODNA_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def webhook() -> Iterator[FakeGuardWebhook]:
    with FakeGuardWebhook(WEBHOOK_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with Canary() as listener:
        yield listener


def guardrails_config(
    fake_openai, fake_anthropic, moderation, stalled_moderation, photodna, webhook, canary
) -> dict:
    def entry(name: str, **params) -> dict:
        return {"guardrail_name": name, "litellm_params": params}

    return {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": fake_openai.url + "/v1",
                    "api_key": OPENAI_KEY,
                },
            },
            {
                "model_name": "canary",
                "litellm_params": {"model": "openai/canary", "api_base": canary.url(), "api_key": OPENAI_KEY},
            },
            {
                "model_name": "omni-moderation-latest",
                "litellm_params": {
                    "model": "openai/omni-moderation-latest",
                    "api_base": moderation.url + "/v1",
                    "api_key": MODERATION_KEY,
                },
            },
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": fake_anthropic.url,
                    "api_key": ANTHROPIC_KEY,
                },
            },
            {"model_name": "mock-moderation", "litellm_params": {"model": "mock/omni-moderation-latest"}},
            {
                "model_name": "fallback-gpt",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": fake_openai.url + "/v1",
                    "api_key": OPENAI_KEY,
                },
            },
        ],
        "general_settings": {"master_key": MASTER_KEY, "proxy_batch_write_at": 0.1},
        "router_settings": {"num_retries": 0},
        "guardrails": [
            entry("pii", guardrail="pii_mask", mode="pre_call", default_on=True),
            entry(
                "moderation",
                guardrail="openai_moderation",
                mode="pre_call",
                default_on=True,
                api_key="os.environ/GUARD_MODERATION_KEY",
                api_base=moderation.url + "/v1",
            ),
            entry(
                "output-words",
                guardrail="blocklist",
                mode="post_call",
                default_on=True,
                blocked_words=["forbidden"],
                category="banned-words",
            ),
            # Endpoint and key from FastChat's variables (the gateway's environment).
            entry("images", guardrail="azure_image_moderation", mode="pre_call", default_on=True),
            entry(
                "hashes",
                guardrail="photodna",
                mode="pre_call",
                default_on=True,
                api_base=photodna.url + "/photodna/v1.0",
            ),
            entry(
                "strict-webhook",
                guardrail="webhook",
                mode="during_call",
                api_base=webhook.url + "/guard",
                api_key=WEBHOOK_TOKEN,
            ),
            entry(
                "strict-webhook-short",
                guardrail="webhook",
                mode="during_call",
                timeout=0.3,
                api_base=webhook.url + "/guard",
                api_key=WEBHOOK_TOKEN,
            ),
            entry(
                "masking-webhook",
                guardrail="webhook",
                mode="pre_call",
                api_base=webhook.url + "/guard",
                api_key=WEBHOOK_TOKEN,
            ),
            entry(
                "slow-closed",
                guardrail="openai_moderation",
                mode="pre_call",
                timeout=0.3,
                api_key=MODERATION_KEY,
                api_base=stalled_moderation.url + "/v1",
            ),
            entry(
                "slow-open",
                guardrail="openai_moderation",
                mode="pre_call",
                timeout=0.3,
                fail_open=True,
                api_key=MODERATION_KEY,
                api_base=stalled_moderation.url + "/v1",
            ),
        ],
    }


@pytest.fixture(scope="module")
def guard_gateway(
    fake_openai,
    fake_anthropic,
    moderation,
    stalled_moderation,
    content_safety,
    photodna,
    webhook,
    canary,
    tmp_path_factory,
) -> Iterator[GatewayServer]:
    config = guardrails_config(
        fake_openai, fake_anthropic, moderation, stalled_moderation, photodna, webhook, canary
    )
    env = {
        "GUARD_MODERATION_KEY": MODERATION_KEY,
        "AZURE_IMG_MODERATION_ENDPOINT": content_safety.url,
        "AZURE_IMG_MODERATION_API_KEY": AZURE_CS_KEY,
        "PHOTODNA_API_KEY": PHOTODNA_KEY,
    }
    with GatewayServer(config, Path(tmp_path_factory.mktemp("guard")), env=env) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_guard_fakes(request: pytest.FixtureRequest) -> None:
    for name in ("moderation", "content_safety", "photodna", "webhook"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()
    if "canary" in request.fixturenames:
        request.getfixturevalue("canary").reset()
