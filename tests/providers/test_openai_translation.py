"""OpenAI-compatible and Azure OpenAI adapters, checked against JSON fixtures
(tests/providers/fixtures/openai): the wire request each builds (URL, headers, body), answers
and stream chunks kept as the provider sent them, and the error each provider answer maps to."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from polyroute import errors
from polyroute.protocol.sse import SSEDecoder
from polyroute.providers.base import ProviderCall
from polyroute.providers.registry import get_adapter
from polyroute.secrets import Secret

FIXTURES = Path(__file__).parent / "fixtures" / "openai"


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


REQUESTS = {case["name"]: case for case in load("requests.json")}
ERRORS = {case["name"]: case for case in load("errors.json")}


def make_call(provider: str, spec: dict[str, Any]) -> ProviderCall:
    spec = dict(spec)
    key = spec.pop("api_key", None)
    return ProviderCall(provider, spec.pop("model"), api_key=Secret(key) if key else None, **spec)


def build(case: dict[str, Any], body: dict[str, Any]):
    adapter = get_adapter(case["provider"])
    call = make_call(adapter.name, case["call"])
    operation = case["operation"]
    if operation == "chat":
        return adapter.chat_request(call, body, case.get("stream", False))
    if operation == "completions":
        return adapter.completions_request(call, body, case.get("stream", False))
    return adapter.embeddings_request(call, body)


# -- requests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_fixture(name: str) -> None:
    case = REQUESTS[name]
    wire = build(case, case["openai"])
    assert wire.method == "POST"
    assert wire.url == case["expect"]["url"]
    assert wire.headers == case["expect"]["headers"]
    assert orjson.loads(wire.body) == case["expect"]["body"]


def test_request_does_not_mutate_client_body() -> None:
    case = REQUESTS["openai_chat_tools_defaults_and_unknown_fields"]
    body = copy.deepcopy(case["openai"])
    build(case, body)
    assert body == case["openai"]


def test_azure_without_api_base_names_the_param() -> None:
    adapter = get_adapter("azure")
    call = ProviderCall("azure", "gpt4o-eu", api_key=Secret("azure-test-key-0123456789abcdef"))
    with pytest.raises(errors.InvalidRequestError) as caught:
        adapter.chat_request(call, {"model": "x", "messages": []}, False)
    assert caught.value.param == "api_base" and "AZURE_OPENAI_ENDPOINT" in caught.value.message


def test_adapter_declarations() -> None:
    openai, azure, vllm = get_adapter("openai"), get_adapter("azure"), get_adapter("hosted_vllm")
    assert openai.passthrough_stream and azure.passthrough_stream and vllm.passthrough_stream
    assert {"chat", "completions", "embeddings"} <= openai.supports
    assert (openai.env_key, azure.env_key) == ("OPENAI_API_KEY", "AZURE_OPENAI_KEY")
    assert vllm.key_optional and not openai.key_optional
    assert get_adapter("azure_openai") is azure  # LiteLLM's other spelling


# -- answers ------------------------------------------------------------------------------------------


def test_answers_are_kept_as_the_provider_sent_them() -> None:
    # Already OpenAI's format: nothing is rebuilt, so fields the gateway does not know survive.
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1760000000,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": None, "annotations": []},
                "logprobs": {"content": [{"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": []}]},
                "finish_reason": "content_filter",
                "content_filter_results": {"hate": {"filtered": True, "severity": "high"}},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5},
    }
    for provider in ("openai", "azure", "hosted_vllm"):
        adapter = get_adapter(provider)
        call = ProviderCall(provider, "m")
        assert adapter.chat_response(call, copy.deepcopy(answer)) == answer
        vectors = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}]}
        assert adapter.embeddings_response(call, copy.deepcopy(vectors)) == vectors


# -- streams ------------------------------------------------------------------------------------------


def read_stream(raw: bytes, piece: int, provider: str = "openai"):
    adapter = get_adapter(provider)
    reader = adapter.chat_stream(ProviderCall(provider, "m"), {})
    decoder = SSEDecoder()
    chunks: list[dict[str, Any]] = []
    for i in range(0, len(raw), piece):
        for event in decoder.feed(raw[i : i + piece]):
            chunks.extend(reader.on_event(event))
    for event in decoder.flush():
        chunks.extend(reader.on_event(event))
    chunks.extend(reader.on_end())
    return reader, chunks


@pytest.mark.parametrize("provider", ["openai", "azure"])
@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_stream_fixture(provider: str, piece: int) -> None:
    raw = (FIXTURES / "stream_parallel_tool_calls.sse").read_bytes()
    expected = load("stream_parallel_tool_calls.expected.json")
    reader, chunks = read_stream(raw, piece, provider)
    assert chunks == expected["chunks"]  # every chunk as sent, in order; the comment is skipped
    assert reader.usage == expected["usage"]
    assert reader.model == expected["model"]


def test_stream_without_done_is_truncated() -> None:
    raw = (FIXTURES / "stream_parallel_tool_calls.sse").read_bytes().replace(b"data: [DONE]\n\n", b"")
    with pytest.raises(errors.UpstreamError, match=r"\[DONE\]"):
        read_stream(raw, 64)


@pytest.mark.parametrize(
    ("frame", "error_class", "code"),
    [
        (
            b'data: {"error": {"message": "Rate limit reached", "type": "requests", "code": 429}}\n\n',
            errors.RateLimitError,
            "rate_limit_exceeded",
        ),
        (
            b'event: error\ndata: {"message": "overloaded", "code": "server_overloaded"}\n\n',
            errors.ServiceUnavailableError,
            "server_overloaded",
        ),
    ],
)
def test_in_stream_error_raises_mapped_error(frame: bytes, error_class: type, code: str) -> None:
    first = (FIXTURES / "stream_parallel_tool_calls.sse").read_bytes().split(b"\n\n")[1] + b"\n\n"
    with pytest.raises(error_class) as caught:
        read_stream(first + frame, 16)
    assert caught.value.code == code


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "azure", "hosted_vllm"])
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_fixture(provider: str, name: str) -> None:
    case = ERRORS[name]
    body = case["raw"].encode() if "raw" in case else orjson.dumps(case["body"])
    adapter = get_adapter(provider)
    error = adapter.map_error(case["status"], body, case.get("headers", {}))
    expect = case["expect"]
    assert type(error).__name__ == expect["class"]
    assert (error.status, error.code, error.param, error.retryable) == (
        expect["status"],
        expect["code"],
        expect["param"],
        expect["retryable"],
    )
    if "retry_after" in expect:
        assert error.retry_after == expect["retry_after"]
    message = expect.get("message", (case.get("body") or {}).get("error", {}).get("message"))
    assert error.message == message.replace("openai", adapter.name)
