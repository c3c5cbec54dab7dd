"""Retry, failover and fallback on throttling for the providers reached through their own APIs
(Cohere, YandexGPT, ...), through the openai SDK against their loopback fakes: a provider's
documented 'too many requests' answer must move the request on as OpenAI's 429 does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import orjson
import pytest

from tests.fakes.ai2 import FakeAI2
from tests.fakes.base import Error, FakeUpstream, Reply
from tests.fakes.cohere import FakeCohere
from tests.fakes.mistral import FakeMistral
from tests.fakes.openai import FakeOpenAI
from tests.fakes.reka import FakeReka
from tests.fakes.yandexgpt import FakeYandexGPT
from tests.gateway import GatewayServer

MASTER = "sk-api-providers-master-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]


def _yandexgpt(fake: FakeUpstream) -> dict[str, Any]:
    return {
        "model": "yandexgpt/yandexgpt/latest",
        "api_base": fake.url,
        "api_key": "AQVN-k",
        "folder_id": "b1g",
    }


def _mistral(fake: FakeUpstream) -> dict[str, Any]:
    return {"model": "mistral/mistral-small-latest", "api_base": fake.url + "/v1", "api_key": "m-key"}


def _ai2(fake: FakeUpstream) -> dict[str, Any]:
    return {"model": "ai2/tulu2-70b", "api_base": fake.url + "/api/v1/infer", "api_key": "ai2-k"}


def _reka(fake: FakeUpstream) -> dict[str, Any]:
    return {"model": "reka/reka-flash", "api_base": fake.url + "/v1", "api_key": "reka-k"}


def _nim(fake: FakeUpstream) -> dict[str, Any]:
    key = "sk-fake-openai-key-0123456789abcdef"  # FakeOpenAI's own key: NIM speaks OpenAI's format
    return {"model": "nvidia_nim/meta/llama3-70b-instruct", "api_base": fake.url + "/v1", "api_key": key}


_VLLM_TOO_LONG = orjson.dumps(
    {
        "object": "error",
        "message": "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
)


def _cohere(fake: FakeUpstream) -> dict[str, Any]:
    return {"model": "cohere/command-a-03-2025", "api_base": fake.url, "api_key": "co-key-1"}


#: provider -> (fake factory, litellm_params for a deployment on that fake, its throttling answer,
#: its context-too-long answer or None)
Params = Callable[[FakeUpstream], dict[str, Any]]
PROVIDERS: dict[str, tuple[Callable[[], FakeUpstream], Params, Error, Error | None]] = {
    # InferD and Reka document no context-length error: only throttling is checked for them.
    "ai2": (FakeAI2, _ai2, Error(429, message="too many requests"), None),
    "reka": (FakeReka, _reka, Error(429, message="Rate limit exceeded"), None),
    "nvidia_nim": (
        FakeOpenAI,
        _nim,
        Error(429, body=b'{"status": 429, "title": "Too Many Requests"}'),
        Error(400, body=_VLLM_TOO_LONG),
    ),
    "cohere": (
        FakeCohere,
        _cohere,
        Error(429, message="You are using a Trial key, which is limited to 10 API calls / minute."),
        Error(
            400,
            message="too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 9",
        ),
    ),
    "mistral": (
        FakeMistral,
        _mistral,
        Error(429, message="Requests rate limit exceeded"),
        Error(
            400, message="Prompt contains 9000 tokens, too large for model with 8192 maximum context length"
        ),
    ),
    "yandexgpt": (
        FakeYandexGPT,
        _yandexgpt,
        Error(
            429, message="ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed: allowed 10"
        ),
        Error(400, message="Number of input tokens must be no more than 8192, got 9000"),
    ),
}


@pytest.fixture(scope="module", params=list(PROVIDERS))
def setup(request, tmp_path_factory):
    factory, params, throttled, too_long = PROVIDERS[request.param]
    with factory() as first, factory() as second:
        config = {
            "model_list": [
                {
                    "model_name": "main",
                    "litellm_params": {**params(first), "order": 1},
                    "model_info": {"id": "one"},
                },
                {
                    "model_name": "main",
                    "litellm_params": {**params(second), "order": 2},
                    "model_info": {"id": "two"},
                },
                {"model_name": "solo", "litellm_params": params(first), "model_info": {"id": "solo"}},
                {"model_name": "backup", "litellm_params": params(second), "model_info": {"id": "backup"}},
            ],
            "general_settings": {"master_key": MASTER},
            "router_settings": {
                "num_retries": 1,
                "allowed_fails": 0,
                "cooldown_time": 30,
                "fallbacks": [{"solo": ["backup"]}],
                "context_window_fallbacks": [{"solo": ["backup"]}],
            },
        }
        with GatewayServer(config, tmp_path_factory.mktemp(request.param)) as gateway:
            yield gateway, first, second, throttled, too_long


@pytest.fixture
def gw(setup):
    gateway, first, second, throttled, too_long = setup
    first.reset()
    second.reset()
    return gateway, first, second, throttled, too_long


def test_throttled_deployment_fails_over_to_the_other(gw):
    gateway, first, second, throttled, _ = gw
    first.script(throttled)
    second.script(Reply(text="from two"))
    raw = gateway.client().chat.completions.with_raw_response.create(model="main", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "from two"
    assert raw.headers["x-polyroute-deployment"] == "two" and raw.headers["x-polyroute-attempts"] == "2"
    assert len(first.requests) == 1 and len(second.requests) == 1


def test_throttled_group_falls_back_to_its_fallback_group(gw):
    gateway, first, second, throttled, _ = gw
    first.script(throttled, throttled)
    second.script(Reply(text="from backup"))
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="solo", messages=MESSAGES, extra_body={"num_retries": 0}
    )
    assert raw.parse().choices[0].message.content == "from backup"
    assert raw.headers["x-polyroute-fallback"] == "true"


def test_throttling_without_fallback_reaches_the_client_as_429(gw):
    gateway, first, _, throttled, _ = gw
    first.script(throttled, throttled)
    with pytest.raises(openai.RateLimitError):
        gateway.client().chat.completions.create(
            model="solo", messages=MESSAGES, extra_body={"num_retries": 0, "fallbacks": []}
        )


def test_context_too_long_goes_to_the_context_window_fallback_unretried(gw):
    gateway, first, second, _, too_long = gw
    if too_long is None:
        pytest.skip("the provider documents no context-length error")
    first.script(too_long)
    second.script(Reply(text="long answer"))
    raw = gateway.client().chat.completions.with_raw_response.create(model="solo", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "long answer"
    assert raw.headers["x-polyroute-fallback"] == "true" and len(first.requests) == 1
