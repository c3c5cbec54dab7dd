"""Bedrock translation from JSON fixtures (tests/providers/fixtures/bedrock/), the event-stream
decoder over real frames (split at every byte, corrupted, cut short) and the error mapping."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson
import pytest

from polyroute.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
    UpstreamTimeoutError,
)
from polyroute.providers.base import ProviderCall
from polyroute.providers.bedrock.adapter import BedrockAdapter
from polyroute.providers.bedrock.errors import map_error
from polyroute.providers.bedrock.eventstream import EventStreamDecoder
from polyroute.providers.bedrock.request import build_body
from polyroute.providers.bedrock.response import to_chat_completion
from polyroute.providers.bedrock.stream import BedrockStreamTranslator
from tests.fakes.base import Reply, ToolCall
from tests.fakes.bedrock import exception, render_stream

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_request_translation():
    case = fixture("chat_request.json")
    assert build_body(case["openai"]) == case["bedrock"]


def test_response_translation():
    case = fixture("chat_response.json")
    answer = to_chat_completion(case["bedrock"], "anthropic.claude")
    assert answer["choices"][0] == case["openai_choice"]
    assert answer["usage"] == case["openai_usage"]


def test_url_quotes_model_ids_and_arns():
    call = ProviderCall(
        "bedrock",
        "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude",
        extras={"aws_region_name": "eu-west-3"},
    )
    url = BedrockAdapter().model_url(call, "converse")
    assert url == (
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/"
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.anthropic.claude/converse"
    )


def _translate(frames: bytes, split: int) -> tuple[list[dict], BedrockStreamTranslator]:
    decoder, translator = EventStreamDecoder(), BedrockStreamTranslator("m")
    chunks = []
    for at in range(0, len(frames), split):
        for event in decoder.feed(frames[at : at + split]):
            chunks += translator.on_event(event)
    for event in decoder.flush():
        chunks += translator.on_event(event)
    chunks += translator.on_end()
    return chunks, translator


@pytest.mark.parametrize("split", [1, 7, 100_000])
def test_event_stream_decoded_at_any_cut(split):
    reply = Reply(
        text="one two", tool_calls=[ToolCall("get_weather", {"city": "Paris"}, id="tu_1")], cached_tokens=2
    )
    chunks, translator = _translate(b"".join(render_stream(reply)), split)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert "".join(d.get("content") or "" for d in deltas) == "one two"
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert calls[0]["id"] == "tu_1" and calls[0]["function"]["name"] == "get_weather"
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        translator.usage["prompt_tokens"] == 11
        and translator.usage["prompt_tokens_details"]["cached_tokens"] == 2
    )


def test_a_frame_cut_short_is_an_upstream_error():
    frames = b"".join(render_stream(Reply(text="a b")))
    decoder = EventStreamDecoder()
    decoder.feed(frames[:-5])
    with pytest.raises(UpstreamError, match="ended inside a frame"):
        decoder.flush()


def test_a_corrupted_frame_is_an_upstream_error():
    frame = bytearray(render_stream(Reply(text="a"))[0])
    frame[-6] ^= 0xFF  # payload byte: the message CRC no longer matches
    with pytest.raises(UpstreamError, match="broken event-stream frame"):
        EventStreamDecoder().feed(bytes(frame))


def test_stream_closed_before_message_stop_is_an_error():
    frames = b"".join(render_stream(Reply(text="a b"))[:-2])  # no messageStop, no metadata
    with pytest.raises(UpstreamError, match="before messageStop"):
        _translate(frames, 1000)


@pytest.mark.parametrize(
    "kind, cls",
    [
        ("throttlingException", RateLimitError),
        ("modelStreamErrorException", UpstreamError),
        ("serviceUnavailableException", ServiceUnavailableError),
        ("validationException", InvalidRequestError),
    ],
)
def test_in_stream_exceptions_map(kind, cls):
    decoder = EventStreamDecoder()
    (event,) = decoder.feed(exception(kind, "it failed"))
    with pytest.raises(cls) as raised:
        BedrockStreamTranslator("m").on_event(event)
    assert "it failed" in raised.value.message


def _headers(name: str) -> dict[str, str]:
    return {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


@pytest.mark.parametrize(
    "status, name, message, cls",
    [
        (429, "ThrottlingException", "Too many requests, please wait before trying again.", RateLimitError),
        (429, "ModelNotReadyException", "Model is not ready for inference.", ServiceUnavailableError),
        (400, "ValidationException", "Input is too long for requested model.", ContextWindowExceededError),
        (
            400,
            "ValidationException",
            "prompt is too long: 210000 tokens > 200000 maximum",
            ContextWindowExceededError,
        ),
        (400, "ValidationException", "Malformed input request", InvalidRequestError),
        (
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
            ServiceUnavailableError,
        ),
        (500, "InternalServerException", "internal error", UpstreamError),
        (408, "ModelTimeoutException", "timed out", UpstreamTimeoutError),
        (403, "AccessDeniedException", "no access", PermissionDeniedError),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            AuthenticationError,
        ),
        (404, "ResourceNotFoundException", "no such model", NotFoundError),
        (400, "ServiceQuotaExceededException", "quota", RateLimitError),
    ],
)
def test_documented_errors_map_by_name(status, name, message, cls):
    error = map_error(status, orjson.dumps({"message": message}), _headers(name))
    assert type(error) is cls and message in error.message and error.provider == "bedrock"


def test_error_without_the_header_uses_the_body_type_then_the_status():
    assert isinstance(
        map_error(429, b'{"__type": "ThrottlingException", "message": "x"}', {}), RateLimitError
    )
    assert isinstance(map_error(503, b"not json", {}), ServiceUnavailableError)


def test_config_checks_name_what_is_missing(tmp_path):
    from polyroute.config.loader import ConfigError, load_config

    def load(params, env):
        path = tmp_path / "c.yaml"
        path.write_text(json.dumps({"model_list": [{"model_name": "b", "litellm_params": params}]}))
        return load_config(path, env)

    with pytest.raises(ConfigError, match="needs a region"):
        load({"model": "bedrock/amazon.nova-pro-v1:0"}, {})
    with pytest.raises(ConfigError, match="aws_role_name is not supported"):
        load({"model": "bedrock/amazon.nova-pro-v1:0", "aws_role_name": "r"}, {"AWS_REGION": "us-east-1"})
    with pytest.raises(ConfigError, match="TEST_MISSING_SECRET"):
        load(
            {"model": "bedrock/m", "aws_secret_access_key": "os.environ/TEST_MISSING_SECRET"},
            {"AWS_REGION": "x"},
        )
    loaded = load(
        {"model": "bedrock/m", "aws_secret_access_key": "os.environ/S"},
        {"AWS_REGION": "eu-west-1", "S": "sekrit-value-123"},
    )
    call = loaded.models.deployments[0].call
    assert call.extras["aws_secret_access_key"] == "sekrit-value-123"  # resolved
    assert call.extras["aws_region_name"] == "eu-west-1"  # from AWS_REGION
    assert "sekrit-value-123" not in loaded.redactor.scrub("leak sekrit-value-123")  # redacted


def test_without_the_extra_start_up_says_which_to_install(tmp_path, monkeypatch):
    from polyroute.config.loader import ConfigError, load_config

    monkeypatch.setitem(sys.modules, "botocore", None)  # `import botocore` now fails
    path = tmp_path / "c.yaml"
    path.write_text(
        json.dumps({"model_list": [{"model_name": "b", "litellm_params": {"model": "bedrock/m"}}]})
    )
    with pytest.raises(ConfigError, match="install polyroute with the 'bedrock' extra"):
        load_config(path, {"AWS_REGION": "us-east-1"})


def test_no_config_route_from_aws_variables():
    from polyroute.config.loader import load_config

    loaded = load_config(None, {"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_REGION": "eu-west-1"})
    [deployment] = loaded.models.resolve("bedrock/amazon.nova-lite-v1:0")
    assert deployment.call.extras == {"aws_region_name": "eu-west-1"}
    assert BedrockAdapter().endpoint(deployment.call) == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    without_region = load_config(None, {"AWS_PROFILE": "dev"})
    assert not [d for d in without_region.models.deployments if d.provider == "bedrock"]
    assert any(w.startswith("AWS_PROFILE is set but bedrock needs a region") for w in without_region.warnings)
    assert not [d for d in load_config(None, {}).models.deployments if d.provider == "bedrock"]


def test_a_clients_assume_role_setting_is_refused_naming_it():
    from polyroute.errors import UnsupportedParamsError

    call = ProviderCall("bedrock", "m", extras={"aws_region_name": "us-east-1", "aws_role_name": "admin"})
    with pytest.raises(UnsupportedParamsError) as refused:
        BedrockAdapter().chat_request(call, {"messages": [{"role": "user", "content": "hi"}]}, False)
    assert refused.value.param == "aws_role_name"
