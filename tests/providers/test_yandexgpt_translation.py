"""YandexGPT adapter translation, checked against JSON fixtures (tests/providers/fixtures/yandexgpt):
OpenAI chat -> foundationModels v1 completion body, answers and streamed JSON lines (each the
whole text so far) -> OpenAI, and Yandex Cloud error objects -> the gateway's errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from polyroute import errors
from polyroute.protocol.framing import JSONLinesDecoder
from polyroute.providers.base import ProviderCall
from polyroute.providers.yandexgpt.adapter import YandexGPTAdapter
from polyroute.secrets import Secret

FIXTURES = Path(__file__).parent / "fixtures" / "yandexgpt"
CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")
adapter = YandexGPTAdapter()
HELLO = {"messages": [{"role": "user", "content": "hi"}]}


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def call(
    key: str = "AQVNexample-api-key", folder: str | None = "b1gexamplefolder", **kwargs: Any
) -> ProviderCall:
    extras = {"folder_id": folder} if folder else {}
    return ProviderCall("yandexgpt", "yandexgpt/latest", api_key=Secret(key), extras=extras, **kwargs)


def test_request_with_tools_results_and_options():
    case = load("request_tools.json")
    wire = adapter.chat_request(call(folder=case["folder"]), case["openai"], stream=True)
    assert wire.url == "https://llm.api.cloud.yandex.net/foundationModels/v1/completion"
    assert orjson.loads(wire.body) == case["yandex"]
    assert wire.headers["authorization"] == "Api-Key AQVNexample-api-key"
    assert wire.headers["x-folder-id"] == case["folder"]


def test_iam_token_is_a_bearer_token():
    assert adapter.chat_request(call(key="t1.9euelZqexample"), HELLO, False).headers["authorization"] == (
        "Bearer t1.9euelZqexample"
    )


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h:1", "http://h:1/foundationModels/v1/completion"),
        ("http://h:1/foundationModels/v1/completion", "http://h:1/foundationModels/v1/completion"),
    ],
)
def test_fastchats_whole_completion_url_is_used_as_given(base, url):
    assert adapter.chat_request(call(api_base=base), HELLO, False).url == url


def test_a_whole_model_uri_needs_no_folder():
    wire = adapter.chat_request(
        ProviderCall("yandexgpt", "gpt://b1gother/yandexgpt-lite", api_key=Secret("k")), HELLO, False
    )
    assert orjson.loads(wire.body)["modelUri"] == "gpt://b1gother/yandexgpt-lite"


@pytest.mark.parametrize(
    ("request_call", "body", "param"),
    [
        (call(folder=None), HELLO, "model"),
        (
            call(),
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages[0].content",
        ),
        (
            call(),
            {"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        (call(), {**HELLO, "n": 3}, "n"),
    ],
)
def test_untranslatable_requests_name_the_field(request_call, body, param):
    with pytest.raises(errors.InvalidRequestError) as caught:
        adapter.chat_request(request_call, body, False)
    assert caught.value.param == param


def test_tool_call_answer():
    case = load("response_tool_calls.json")
    out = adapter.chat_response(call(), case["yandex"])
    (choice,) = out["choices"]
    assert CALL_ID.match(choice["message"]["tool_calls"][0]["id"])
    choice["message"]["tool_calls"][0]["id"] = "<call_id>"
    assert choice == case["openai_choice"] and out["usage"] == case["usage"]


def _stream(raw: bytes, piece: int) -> tuple[list[dict[str, Any]], Any]:
    decoder, translator = JSONLinesDecoder(), adapter.chat_stream(call(), {})
    chunks: list[dict[str, Any]] = []
    for start in range(0, len(raw), piece):
        for event in decoder.feed(raw[start : start + piece]):
            chunks += translator.on_event(event)
    for event in decoder.flush():
        chunks += translator.on_event(event)
    return chunks + translator.on_end(), translator


@pytest.mark.parametrize("piece", [1, 5, 1 << 20])
def test_stream_of_whole_texts_becomes_deltas(piece):
    expected = load("stream_text.expected.json")
    chunks, translator = _stream((FIXTURES / "stream_text.jsonl").read_bytes(), piece)
    assert [[c["choices"][0]["delta"], c["choices"][0]["finish_reason"]] for c in chunks] == expected[
        "deltas"
    ]
    assert len({c["id"] for c in chunks}) == 1
    assert translator.usage == expected["usage"]


def test_stream_without_final_status_is_cut_short():
    lines = (FIXTURES / "stream_text.jsonl").read_bytes().splitlines(keepends=True)
    with pytest.raises(errors.UpstreamError):
        _stream(b"".join(lines[:2]), 1 << 20)


def test_error_line_in_a_stream_is_mapped():
    line = b'{"error":{"grpcCode":8,"httpCode":429,"message":"quota limit exceed","httpStatus":"Too Many"}}\n'
    with pytest.raises(errors.RateLimitError):
        _stream(line, 1 << 20)


@pytest.mark.parametrize("case", load("errors.json")["cases"], ids=lambda c: f"{c['status']}-{c['error']}")
def test_documented_errors(case):
    body = case["raw"].encode() if "raw" in case else orjson.dumps(case["body"])
    error = adapter.map_error(case["status"], body, case.get("headers", {}))
    assert type(error) is getattr(errors, case["error"])
    if "body" in case:
        assert error.message == case["body"]["error"]["message"]
    assert error.retry_after == case.get("retry_after")
