"""Every failure reaches the client in OpenAI's error shape, with the status the SDK maps."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.base import Error, Reply

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("upstream_status", "sdk_error", "client_status"),
    [
        (400, openai.BadRequestError, 400),
        (401, openai.AuthenticationError, 401),
        (403, openai.PermissionDeniedError, 403),
        (404, openai.NotFoundError, 404),
        (422, openai.UnprocessableEntityError, 422),
        (429, openai.RateLimitError, 429),
        (500, openai.InternalServerError, 502),
        (503, openai.InternalServerError, 503),
    ],
)
def test_upstream_status_maps_to_sdk_exception(
    gateway, fake_openai, upstream_status, sdk_error, client_status
):
    fake_openai.script(Error(upstream_status, message=f"upstream says {upstream_status}"))
    with pytest.raises(sdk_error) as caught:
        gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == client_status
    body = caught.value.body
    assert body["message"] == f"upstream says {upstream_status}"
    assert body["request_id"] == caught.value.response.headers["x-request-id"]
    assert {"type", "param", "code"} <= set(body)


def test_retry_after_is_passed_on(gateway, fake_openai):
    fake_openai.script(Error(429, message="slow down", headers={"retry-after": "7"}))
    with pytest.raises(openai.RateLimitError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "7"


def test_context_length_error_keeps_its_code(gateway, fake_openai):
    fake_openai.script(
        Error(400, message="maximum context length is 8192 tokens", code="context_length_exceeded")
    )
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.code == "context_length_exceeded"


def test_malformed_upstream_json_is_502(gateway, fake_openai):
    fake_openai.script(Reply(malformed=True))
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 502


def test_upstream_timeout_is_504(gateway, fake_openai):
    fake_openai.script(Reply(ttfb=2.0))  # slow-gpt has timeout 1.0
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="slow-gpt", messages=MESSAGES)
    assert caught.value.status_code == 504


def test_stream_without_first_byte_in_time_is_504(gateway, fake_openai):
    fake_openai.script(Reply(ttfb=1.5))  # slow-gpt has stream_timeout 0.5
    with pytest.raises(openai.InternalServerError) as caught:
        list(gateway.client().chat.completions.create(model="slow-gpt", messages=MESSAGES, stream=True))
    assert caught.value.status_code == 504


def test_mid_stream_error_event_raises_in_sdk(gateway, fake_openai):
    fake_openai.script(Reply(text="a b c d e", error_after=3))
    stream = gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    assert "error" in caught.value.message.lower() or caught.value.body


def test_dropped_stream_is_not_a_silent_truncation(gateway, fake_openai):
    fake_openai.script(Reply(text="a b c d e", drop_after=3))
    stream = gateway.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert caught.value.body["code"] == "upstream_connection_error"


def test_stall_mid_stream_ends_with_timeout_error(gateway, fake_openai):
    fake_openai.script(Reply(text="a b c d e", stall_after=2))  # slow-gpt idle limit: timeout 1.0
    with pytest.raises(openai.APIError) as caught:
        list(gateway.client().chat.completions.create(model="slow-gpt", messages=MESSAGES, stream=True))
    assert caught.value.body["code"] == "upstream_timeout"


def test_connection_refused_is_502(tmp_path):
    from tests.fakes.base import free_port
    from tests.gateway import GatewayServer

    config = {
        "model_list": [
            {
                "model_name": "down",
                "litellm_params": {
                    "model": "openai/x",
                    "api_base": f"http://127.0.0.1:{free_port()}/v1",
                    "api_key": "sk-x",
                },
            }
        ]
    }
    with GatewayServer(config, tmp_path) as gw:
        with pytest.raises(openai.InternalServerError) as caught:
            gw.client().chat.completions.create(model="down", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_connection_error"


# -- client input ---------------------------------------------------------------------------------


def _post(gateway, body: bytes | dict, path: str = "/v1/chat/completions") -> httpx.Response:
    headers = {"authorization": f"Bearer {gateway.master_key}", "content-type": "application/json"}
    if isinstance(body, dict):
        return httpx.post(gateway.url + path, json=body, headers=headers)
    return httpx.post(gateway.url + path, content=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": "gpt-4o-mini"}, "messages"),
        ({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content[0].text",
        ),
        (
            {"model": "gpt-4o-mini", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        ({"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 7}, "temperature"),
        ({"model": "gpt-4o-mini", "messages": MESSAGES, "n": "two"}, "n"),
        (
            {"model": "gpt-4o-mini", "messages": MESSAGES, "tools": [{"type": "function", "function": {}}]},
            "tools[0].function.name",
        ),
        ({"model": "gpt-4o-mini", "messages": MESSAGES, "timeout": -1}, "timeout"),
    ],
)
def test_bad_request_names_the_field(gateway, fake_openai, body, param):
    response = _post(gateway, body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fake_openai.requests == []  # nothing was sent upstream


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'{"model": "x", "messages": [' + b"[" * 10])
def test_malformed_body_is_400_not_500(gateway, raw):
    response = _post(gateway, raw)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_too_deep_json_is_400(gateway):
    deep: dict = {"x": 1}
    for _ in range(100):
        deep = {"x": deep}
    response = _post(gateway, {"model": "gpt-4o-mini", "messages": MESSAGES, "metadata": deep})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_deep"


def test_oversized_body_is_413(tmp_path):
    from tests.gateway import GatewayServer

    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "general_settings": {"max_request_size_mb": 0.01},
    }
    with GatewayServer(config, tmp_path) as gw:
        big = {"model": "m", "messages": [{"role": "user", "content": "x" * 20_000}]}
        with pytest.raises(openai.APIStatusError) as caught:
            gw.client().chat.completions.create(**big)
        assert caught.value.status_code == 413
        # and the gateway keeps serving
        assert gw.client().chat.completions.create(model="m", messages=MESSAGES).choices


def test_unknown_model_is_404_with_code(gateway):
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client().chat.completions.create(model="gpt-9-ultra", messages=MESSAGES)
    assert caught.value.code == "model_not_found"


def test_unknown_route_and_wrong_method(gateway):
    headers = {"authorization": f"Bearer {gateway.master_key}"}
    assert httpx.get(gateway.url + "/v1/nope", headers=headers).status_code == 404
    response = httpx.get(gateway.url + "/v1/chat/completions", headers=headers)
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
