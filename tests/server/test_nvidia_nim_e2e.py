"""NVIDIA NIM's documented differences through the gateway with the openai SDK (NIM speaks
OpenAI's wire format, so its deployments use the OpenAI fake; the parity matrix of
test_providers_e2e.py runs on `nim-llama`)."""

from __future__ import annotations

import openai
import orjson
import pytest

from tests.fakes.base import Error

QUESTION = [{"role": "user", "content": "hi"}]


def test_a_model_with_fewer_params_refuses_the_others_before_any_call(gateway, fake_openai):
    tools = [{"type": "function", "function": {"name": "f"}}]
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="nemotron", messages=QUESTION, tools=tools)
    assert caught.value.param == "tools" and fake_openai.requests == []
    gateway.client().chat.completions.create(
        model="nemotron", messages=QUESTION, tools=tools, seed=3, extra_body={"drop_params": True}
    )
    sent = fake_openai.requests[-1].json
    assert "tools" not in sent and "seed" not in sent
    assert sent["model"] == "nvidia/nemotron-4-340b-instruct"


def test_max_completion_tokens_and_greedy_temperature(gateway, fake_openai):
    gateway.client().chat.completions.create(
        model="nim-llama", messages=QUESTION, max_completion_tokens=12, temperature=0
    )
    sent = fake_openai.requests[-1].json
    assert sent["max_tokens"] == 12 and "max_completion_tokens" not in sent
    assert 0 < sent["temperature"] <= 1e-6


@pytest.mark.parametrize(
    ("body", "status", "expected", "message"),
    [
        (
            {
                "type": "urn:inference-service:problem-details:unprocessable-entity",
                "title": "Unprocessable Entity",
                "status": 422,
                "detail": "Inference error",
            },
            422,
            openai.UnprocessableEntityError,
            "Inference error",
        ),
        (
            {
                "object": "error",
                "message": "model not loaded",
                "type": "NotFoundError",
                "param": None,
                "code": 404,
            },
            404,
            openai.NotFoundError,
            "model not loaded",
        ),
        (
            {"detail": [{"loc": ["body", "top_p"], "msg": "Input should be less than or equal to 1"}]},
            422,
            openai.UnprocessableEntityError,
            "less than or equal",
        ),
        ({"status": 429, "title": "Too Many Requests"}, 429, openai.RateLimitError, "Too Many Requests"),
    ],
)
def test_nim_error_shapes(gateway, fake_openai, body, status, expected, message):
    fake_openai.script(Error(status, body=orjson.dumps(body)))
    with pytest.raises(expected) as caught:
        gateway.client().chat.completions.create(model="nim-llama", messages=QUESTION)
    assert message in caught.value.message


def test_context_too_long_from_a_nim_container(gateway, fake_openai):
    too_long = {
        "object": "error",
        "message": "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    fake_openai.script(Error(400, body=orjson.dumps(too_long)))
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="nim-llama", messages=QUESTION)
    assert caught.value.code == "context_length_exceeded"


def test_embeddings_pass_nims_input_type(gateway, fake_openai):
    gateway.client().embeddings.create(
        model="nim-llama", input="q", extra_body={"input_type": "query", "truncate": "END"}
    )
    sent = fake_openai.requests[-1].json
    assert (sent["input_type"], sent["truncate"]) == ("query", "END")
