"""The fake YandexGPT API checked over raw HTTP (Yandex ships no Python SDK for this REST API that
could parse it): JSON-lines framing with the whole text on each line, Yandex Cloud's error
objects, and the checks the real API makes on the request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.fakes.base import Error, Reply, ToolCall
from tests.fakes.yandexgpt import FakeYandexGPT

KEY = "AQVN-test-key"
URI = "gpt://b1gfolder/yandexgpt/latest"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeYandexGPT]:
    with FakeYandexGPT(valid_keys={KEY}) as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    return server


def post(fake, body, key=KEY, folder=None) -> httpx.Response:
    headers = {"authorization": f"Api-Key {key}"}
    if folder:
        headers["x-folder-id"] = folder
    return httpx.post(fake.url + "/foundationModels/v1/completion", json=body, headers=headers, timeout=5)


def body(stream=False, **extra):
    return {
        "modelUri": URI,
        "completionOptions": {"stream": stream},
        "messages": [{"role": "user", "text": "hi"}],
        **extra,
    }


def test_stream_is_json_lines_of_whole_texts(fake):
    fake.script(Reply(text="a b c"))
    answer = post(fake, body(stream=True))
    lines = [orjson.loads(line) for line in answer.content.splitlines()]
    texts = [line["result"]["alternatives"][0]["message"]["text"] for line in lines]
    statuses = [line["result"]["alternatives"][0]["status"] for line in lines]
    assert texts == ["a ", "a b ", "a b c", "a b c"]
    assert statuses[-1] == "ALTERNATIVE_STATUS_FINAL" and set(statuses[:-1]) == {"ALTERNATIVE_STATUS_PARTIAL"}
    assert lines[-1]["result"]["usage"]["completionTokens"] == "7"  # int64 as a string


def test_tool_calls_arrive_whole_with_object_arguments(fake):
    fake.script(Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Omsk"})]))
    alternative = post(fake, body()).json()["result"]["alternatives"][0]
    assert alternative["status"] == "ALTERNATIVE_STATUS_TOOL_CALLS"
    assert alternative["message"]["toolCallList"]["toolCalls"][0]["functionCall"]["arguments"] == {
        "city": "Omsk"
    }


@pytest.mark.parametrize(
    ("request_body", "folder", "needle"),
    [
        ({**body(), "modelUri": "yandexgpt/latest"}, None, "modelUri"),
        (body(), "b1gother", "x-folder-id"),
        (
            {**body(), "messages": [{"role": "user", "text": "x", "toolResultList": {"toolResults": []}}]},
            None,
            "exactly one",
        ),
        ({**body(), "completionOptions": {"maxTokens": "many"}}, None, "maxTokens"),
        (
            {
                **body(),
                "messages": [
                    {
                        "role": "user",
                        "toolResultList": {
                            "toolResults": [{"functionResult": {"name": "f", "content": "x"}}]
                        },
                    }
                ],
            },
            None,
            "not called",
        ),
    ],
)
def test_invalid_requests_are_400_with_yandex_error_objects(fake, request_body, folder, needle):
    answer = post(fake, request_body, folder=folder)
    error = answer.json()["error"]
    assert answer.status_code == 400 and error["grpcCode"] == 3 and needle in error["message"]
    assert set(error) == {"grpcCode", "httpCode", "message", "httpStatus", "details"}


def test_auth_and_scripted_errors(fake):
    assert post(fake, body(), key="wrong").json()["error"]["grpcCode"] == 16
    fake.script(Error(429, message="quota", headers={"retry-after": "2"}))
    limited = post(fake, body())
    assert limited.status_code == 429 and limited.json()["error"]["grpcCode"] == 8
    assert limited.headers["retry-after"] == "2"


def test_error_line_mid_stream(fake):
    fake.script(Reply(text="a b c d", error_after=2))
    lines = [orjson.loads(line) for line in post(fake, body(stream=True)).content.splitlines()]
    assert len(lines) == 3 and lines[-1]["error"]["grpcCode"] == 14
