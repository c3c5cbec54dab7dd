"""Reka through the gateway with the openai SDK: what the parity matrix of test_providers_e2e.py
does not cover (FastChat's -online search models, required tool choice, FastAPI error bodies
naming the refused field, in-stream errors)."""

from __future__ import annotations

import openai
import pytest

from tests import api_providers
from tests.fakes.base import Error, Reply
from tests.gateway import GatewayServer

QUESTION = [{"role": "user", "content": "Hello?"}]


def test_online_model_turns_on_search(gateway, fake_reka, tmp_path):
    config = {
        "model_list": [
            {
                "model_name": "reka-online",
                "litellm_params": {
                    "model": "reka/reka-core-online",
                    "api_base": fake_reka.url + "/v1",
                    "api_key": api_providers.REKA_KEY,
                },
            }
        ]
    }
    with GatewayServer(config, tmp_path, open_access=True) as online:
        online.client().chat.completions.create(
            model="reka-online", messages=QUESTION, extra_body={"top_k": 5}
        )
    sent = fake_reka.requests[-1].json
    assert (sent["model"], sent["use_search_engine"], sent["top_k"]) == ("reka-core", True, 5)


def test_required_tool_choice_is_rekas_tool(gateway, fake_reka):
    tools = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    ]
    gateway.client().chat.completions.create(
        model="reka-core", messages=QUESTION, tools=tools, tool_choice="required"
    )
    assert fake_reka.requests[-1].json["tool_choice"] == "tool"


def test_a_refused_field_is_named(gateway, fake_reka):
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        gateway.client().chat.completions.create(
            model="reka-core", messages=QUESTION, extra_body={"bogus": 1}
        )
    assert caught.value.param == "bogus" and "Extra inputs are not permitted" in caught.value.message


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (Error(401, message="Invalid API key"), openai.AuthenticationError, 401),
        (Error(429, message="Rate limit exceeded"), openai.RateLimitError, 429),
        (Error(500, message="Internal server error"), openai.InternalServerError, 502),
    ],
)
def test_errors(gateway, fake_reka, error, expected, status):
    fake_reka.script(error)
    with pytest.raises(expected) as caught:
        gateway.client().chat.completions.create(model="reka-core", messages=QUESTION)
    assert caught.value.status_code == status and error.message in caught.value.message


def test_error_event_mid_stream_fails_the_stream(gateway, fake_reka):
    fake_reka.script(Reply(text="one two three four", error_after=2))
    with pytest.raises(openai.APIError):
        list(gateway.client().chat.completions.create(model="reka-core", messages=QUESTION, stream=True))
