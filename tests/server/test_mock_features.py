"""The mock provider as an app's offline test double, through the openai SDK against a real
gateway: structured outputs valid against their schema, logprobs that agree between chat,
streams and legacy completions, LiteLLM's `litellm.<Error>` mock responses, no prices for mock
models, the built-in `mock-gpt` beside a config, and per-request `mock_response` gated and
bounded (issue 13: a key could make a real model's deployment answer 251 MB)."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest

from polyroute.config.loader import ConfigError, load_config
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer

HELLO = [{"role": "user", "content": "hello there, mock"}]
SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "status": {"enum": ["draft", "published"]},
        "author": {"$ref": "#/$defs/person"},
        "score": {"anyOf": [{"type": "null"}, {"type": "number", "exclusiveMinimum": 10}]},
        "when": {"type": "string", "format": "date-time"},
    },
    "required": ["title", "rating", "tags", "status", "author", "score", "when"],
    "additionalProperties": False,
    "$defs": {
        "person": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "friends": {"type": "array", "items": {"$ref": "#/$defs/person"}},
            },
            "required": ["name", "friends"],
            "additionalProperties": False,
        }
    },
}


def config(provider_url: str, **general) -> dict:
    return {
        "model_list": [
            {
                "model_name": "gpt-4o",
                "litellm_params": {"model": "mock/gpt-4o"},
            },  # a mock named like a real model
            {
                "model_name": "priced-mock",
                "litellm_params": {"model": "mock/priced"},
                "model_info": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            },
            {
                "model_name": "real",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": provider_url + "/v1",
                    "api_key": "sk-x",
                },
                "model_info": {"max_output_tokens": 50},
            },
            {
                "model_name": "rate-limited",
                "litellm_params": {"model": "mock/rl", "mock_response": "litellm.RateLimitError"},
            },
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{"rate-limited": ["mock-gpt"]}]},
        "general_settings": general,
    }


@pytest.fixture(scope="module")
def provider():
    with FakeOpenAI(api_key="sk-x") as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(provider, tmp_path_factory):
    with GatewayServer(config(provider.url), tmp_path_factory.mktemp("mock")) as server:
        yield server


@pytest.fixture(scope="module")
def permissive(provider, tmp_path_factory):
    """A gateway whose operator allows per-request mock_response (through the env variable)."""
    env = {"POLYROUTE_ALLOW_CLIENT_MOCK_RESPONSE": "true"}
    with GatewayServer(config(provider.url), tmp_path_factory.mktemp("mock-on"), env=env) as server:
        yield server


# -- structured outputs --------------------------------------------------------------------------------


def test_json_schema_answers_validate_against_their_schema(gateway):
    client = gateway.client()
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "review", "schema": SCHEMA, "strict": True},
    }
    reply = client.chat.completions.create(model="mock-gpt", messages=HELLO, response_format=response_format)
    value = json.loads(reply.choices[0].message.content)
    jsonschema.validate(value, SCHEMA)
    streamed = client.chat.completions.create(
        model="mock-gpt", messages=HELLO, response_format=response_format, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    jsonschema.validate(json.loads(text), SCHEMA)


def test_json_object_answers_are_a_json_object(gateway):
    reply = gateway.client().chat.completions.create(
        model="mock-gpt", messages=HELLO, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


def test_tool_arguments_follow_the_tool_schema(gateway):
    tool = {"type": "function", "function": {"name": "review", "parameters": SCHEMA}}
    reply = gateway.client().chat.completions.create(model="mock-gpt", messages=HELLO, tools=[tool])
    jsonschema.validate(json.loads(reply.choices[0].message.tool_calls[0].function.arguments), SCHEMA)


# -- logprobs ------------------------------------------------------------------------------------------


def test_chat_logprobs_cover_the_text_and_agree_with_the_stream(gateway):
    client = gateway.client()
    reply = client.chat.completions.create(model="mock-gpt", messages=HELLO, logprobs=True, top_logprobs=3)
    entries = reply.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == reply.choices[0].message.content
    assert len(entries) == reply.usage.completion_tokens
    assert all(
        len(e.top_logprobs) == 3 and e.top_logprobs[0].token == e.token and e.logprob < 0 for e in entries
    )
    assert entries[0].bytes == list(entries[0].token.encode())
    chunks = list(
        client.chat.completions.create(
            model="mock-gpt", messages=HELLO, logprobs=True, top_logprobs=3, stream=True
        )
    )
    streamed = [
        e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content
    ]
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in entries]
    for c in chunks:  # each chunk's logprobs are the tokens of its own text
        if c.choices and c.choices[0].delta.content:
            assert "".join(e.token for e in c.choices[0].logprobs.content) == c.choices[0].delta.content
    plain = client.chat.completions.create(model="mock-gpt", messages=HELLO)
    assert plain.choices[0].logprobs is None


def test_legacy_completion_logprobs_in_openais_shape(gateway):
    client = gateway.client()
    completion = client.completions.create(
        model="mock-gpt", prompt="Once upon a time", logprobs=2, max_tokens=8
    )
    choice = completion.choices[0]
    lp = choice.logprobs
    assert "".join(lp.tokens) == choice.text and len(lp.tokens) == completion.usage.completion_tokens == 8
    assert choice.finish_reason == "length"
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]
    assert all(
        len(top) == 2 and top[token] == value
        for top, token, value in zip(lp.top_logprobs, lp.tokens, lp.token_logprobs, strict=True)
    )
    stream = client.completions.create(
        model="mock-gpt", prompt="Once upon a time", logprobs=2, max_tokens=8, stream=True
    )
    tokens, offsets = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].logprobs:
            tokens += chunk.choices[0].logprobs.tokens
            offsets += chunk.choices[0].logprobs.text_offset
    assert tokens == lp.tokens and offsets == lp.text_offset


# -- errors, ids, prices, the built-in model ------------------------------------------------------------


def test_litellm_error_strings_answer_as_that_error(gateway):
    client = gateway.client()
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(
            model="mock-gpt", messages=HELLO, extra_body={"mock_response": "litellm.RateLimitError"}
        )
    assert limited.value.status_code == 429 and limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.BadRequestError) as window:
        client.chat.completions.create(
            model="mock-gpt",
            messages=HELLO,
            extra_body={"mock_response": "litellm.ContextWindowExceededError"},
        )
    assert window.value.code == "context_length_exceeded"
    with pytest.raises(openai.InternalServerError) as unavailable:
        client.chat.completions.create(
            model="mock-gpt", messages=HELLO, extra_body={"mock_response": "litellm.ServiceUnavailableError"}
        )
    assert unavailable.value.status_code == 503
    # Configured on a model, it is how fallbacks are tried offline.
    raw = client.chat.completions.with_raw_response.create(model="rate-limited", messages=HELLO)
    assert (
        raw.headers["x-polyroute-fallback"] == "true" and raw.headers["x-polyroute-model-group"] == "mock-gpt"
    )


def test_mock_models_cost_nothing_unless_priced(gateway):
    client = gateway.client()
    free = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
    assert float(free.headers["x-litellm-response-cost"]) == 0
    priced = client.chat.completions.with_raw_response.create(model="priced-mock", messages=HELLO)
    usage = priced.parse().usage
    expected = usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6
    assert float(priced.headers["x-litellm-response-cost"]) == pytest.approx(expected, rel=1e-3)


def test_builtin_mock_gpt_beside_a_config(gateway, tmp_path):
    assert "mock-gpt" in [m.id for m in gateway.client().models.list().data]
    path = tmp_path / "c.yaml"
    path.write_text("model_list: []\ngeneral_settings: {builtin_mock_model: false}\n")
    assert "mock-gpt" not in load_config(path, {}).models.public_names()
    path.write_text("general_settings: {allow_client_mock_response: 'yes'}\n")
    with pytest.raises(ConfigError, match="allow_client_mock_response must be true or false"):
        load_config(path, {})
    with pytest.raises(ConfigError, match="POLYROUTE_ALLOW_CLIENT_MOCK_RESPONSE"):
        load_config(None, {"POLYROUTE_ALLOW_CLIENT_MOCK_RESPONSE": "maybe"})
    on = load_config(None, {"POLYROUTE_ALLOW_CLIENT_MOCK_RESPONSE": "1"})
    assert on.mock.allow_client_mock_response and any("mock_response is on" in w for w in on.warnings)
    assert not load_config(None, {}).mock.allow_client_mock_response


# -- per-request mock_response: gated, bounded, billed (issue 13) ----------------------------------------


def test_per_request_mock_response_on_a_real_model_is_off_by_default(gateway, provider):
    provider.reset()
    client = gateway.client()
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="real", messages=HELLO, extra_body={"mock_response": "x" * 1000})
    assert (
        refused.value.code == "mock_response_not_allowed" and refused.value.body["param"] == "mock_response"
    )
    # Nor through a fallback to a real model.
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="mock-gpt", messages=HELLO, extra_body={"mock_response": "x", "fallbacks": ["real"]}
        )
    with pytest.raises(openai.BadRequestError) as typed:
        client.chat.completions.create(
            model="mock-gpt", messages=HELLO, extra_body={"mock_response": {"a": 1}}
        )
    assert typed.value.body["param"] == "mock_response"
    assert provider.requests == []
    # The gateway keeps serving.
    assert client.chat.completions.create(model="real", messages=HELLO).choices[0].message.content


def test_allowed_mock_response_is_bounded_by_the_models_output_maximum_and_billed(permissive, provider):
    provider.reset()
    client = permissive.client()
    big = "word " * 20_000  # 100 KB asked for; the model's max_output_tokens is 50
    raw = client.chat.completions.with_raw_response.create(
        model="real", messages=HELLO, n=2, extra_body={"mock_response": big}
    )
    reply = raw.parse()
    assert [c.finish_reason for c in reply.choices] == ["length", "length"]
    assert reply.usage.completion_tokens == 2 * 50 and len(reply.choices[0].message.content) <= 50 * 8
    expected = reply.usage.prompt_tokens * 2.5e-6 + reply.usage.completion_tokens * 1e-5  # gpt-4o's prices
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(expected, rel=1e-3)
    chunks = list(
        client.chat.completions.create(
            model="real", messages=HELLO, stream=True, extra_body={"mock_response": big}
        )
    )
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) <= 50
    assert provider.requests == []  # mocked: the upstream was never called


def test_mock_bounds_refuse_requests_a_little_over_them(gateway):
    client = gateway.client()
    with pytest.raises(openai.BadRequestError) as choices:
        client.chat.completions.create(model="mock-gpt", messages=HELLO, n=9)
    assert choices.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as dims:
        client.embeddings.create(model="mock-gpt", input="hi", dimensions=4097)
    assert dims.value.body["param"] == "dimensions"
    with pytest.raises(openai.BadRequestError) as total:
        client.embeddings.create(model="mock-gpt", input=["a"] * 257, dimensions=4096)
    assert total.value.body["param"] == "input"
    assert (
        len(client.embeddings.create(model="mock-gpt", input="hi", dimensions=4096).data[0].embedding) == 4096
    )
    assert len(client.embeddings.create(model="mock-gpt", input="hi").data[0].embedding) == 16


def test_long_streams_are_cut_into_at_most_1024_chunks(gateway):
    text = "w " * 3000  # 3,000 one-word tokens, under the default 4,096-token bound
    chunks = list(
        gateway.client().chat.completions.create(
            model="mock-gpt", messages=HELLO, stream=True, extra_body={"mock_response": text}
        )
    )
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 1024 and "".join(content) == text


def test_mock_testing_fallbacks_skips_the_group_without_calling_or_cooling_it(gateway, permissive, provider):
    """LiteLLM's `mock_testing_fallbacks: true`: the requested group fails at once and the request
    goes to its fallbacks. Gated like mock_response; it was accepted and silently ignored."""
    client = gateway.client()
    raw = client.chat.completions.with_raw_response.create(
        model="mock-gpt", messages=HELLO, extra_body={"mock_testing_fallbacks": True, "fallbacks": ["gpt-4o"]}
    )
    assert (
        raw.headers["x-polyroute-model-group"] == "gpt-4o" and raw.headers["x-polyroute-fallback"] == "true"
    )
    assert raw.headers["x-polyroute-attempts"] == "1"  # no attempt at mock-gpt itself
    with pytest.raises(openai.APIStatusError) as no_fallbacks:
        client.chat.completions.create(
            model="mock-gpt", messages=HELLO, extra_body={"mock_testing_fallbacks": True}
        )
    assert no_fallbacks.value.status_code == 502 and "mock_testing_fallbacks" in no_fallbacks.value.message
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(
            model="real",
            messages=HELLO,
            extra_body={"mock_testing_fallbacks": True, "fallbacks": ["mock-gpt"]},
        )
    assert refused.value.body["param"] == "mock_testing_fallbacks"
    with pytest.raises(openai.BadRequestError) as typed:
        client.chat.completions.create(
            model="mock-gpt", messages=HELLO, extra_body={"mock_testing_fallbacks": "yes"}
        )
    assert typed.value.body["param"] == "mock_testing_fallbacks"
    # Allowed by the operator: a real model's group is skipped, not called, not cooled down.
    provider.reset()
    allowed = permissive.client().chat.completions.with_raw_response.create(
        model="real", messages=HELLO, extra_body={"mock_testing_fallbacks": True, "fallbacks": ["mock-gpt"]}
    )
    assert allowed.headers["x-polyroute-model-group"] == "mock-gpt" and provider.requests == []
    again = permissive.client().chat.completions.with_raw_response.create(model="real", messages=HELLO)
    assert again.headers["x-polyroute-model-group"] == "real" and len(provider.requests) == 1
