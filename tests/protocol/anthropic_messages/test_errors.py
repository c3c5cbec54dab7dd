"""error_body: Anthropic's error shape, and the `anthropic` SDK raising the right class for each
status when a real loopback server answers with it."""

from __future__ import annotations

import anthropic
import orjson
import pytest

from polyroute import errors
from polyroute.inbound.anthropic_messages import MESSAGES, error_type
from polyroute.inbound.anthropic_messages.stream import MessagesStreamEncoder
from tests.protocol.anthropic_messages.loopback import Canned, serving, sse

CASES = [
    (
        errors.InvalidRequestError("messages.0.content: Field required"),
        "invalid_request_error",
        anthropic.BadRequestError,
    ),
    (errors.AuthenticationError("invalid x-api-key"), "authentication_error", anthropic.AuthenticationError),
    (errors.PermissionDeniedError("not allowed"), "permission_error", anthropic.PermissionDeniedError),
    (
        errors.RefusedParamError("api_base is not allowed", param="api_base"),
        "permission_error",
        anthropic.PermissionDeniedError,
    ),
    (errors.ModelNotFoundError("no model 'claude-x'"), "not_found_error", anthropic.NotFoundError),
    (errors.PayloadTooLargeError("request too large"), "request_too_large", anthropic.RequestTooLargeError),
    (errors.RateLimitError("slow down", retry_after=0), "rate_limit_error", anthropic.RateLimitError),
    (errors.InternalServerError("boom"), "api_error", anthropic.InternalServerError),
    (errors.ServiceUnavailableError("no deployment"), "overloaded_error", anthropic.ServiceUnavailableError),
    (errors.GatewayError("Overloaded", status=529), "overloaded_error", anthropic.OverloadedError),
]


@pytest.mark.parametrize(("error", "kind", "sdk_class"), CASES, ids=lambda v: getattr(v, "__name__", None))
def test_sdk_raises_the_class_for_each_status(
    error: errors.GatewayError, kind: str, sdk_class: type[Exception]
) -> None:
    body = MESSAGES.error_body(error, "req_0123")
    with serving(
        Canned(error.status, body, {"content-type": "application/json", **error.response_headers()})
    ) as (
        client,
        _,
    ):
        with pytest.raises(sdk_class) as caught:
            client.messages.create(
                model="claude-gateway-test", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == error.status
    assert caught.value.body == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": "req_0123",
    }


def test_error_type_by_status_for_statuses_outside_the_table() -> None:
    assert error_type(409) == "invalid_request_error"
    assert error_type(422) == "invalid_request_error"
    assert error_type(502) == "api_error"
    assert error_type(504) == "timeout_error"


def test_in_stream_error_event_raises_in_the_sdk() -> None:
    body = {"model": "claude-gateway-test", "max_tokens": 16, "messages": [], "stream": True}
    encoder = MessagesStreamEncoder(body, "req_1")
    started = encoder.chunks([{"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}])
    tail = encoder.error(errors.ServiceUnavailableError("upstream overloaded"), "req_1")

    assert tail == (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"upstream overloaded"}}\n\n'
    )
    assert encoder.finish(None) == b""  # a broken stream is not finished afterwards
    with serving(sse(started + tail)) as (client, _):
        with pytest.raises(anthropic.APIStatusError) as caught:
            with client.messages.stream(
                model="claude-gateway-test", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                stream.get_final_message()
    assert "upstream overloaded" in str(caught.value)


def test_error_body_is_json_with_request_id() -> None:
    body = orjson.loads(MESSAGES.error_body(errors.RateLimitError("limit"), "req_9"))
    assert body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "limit"},
        "request_id": "req_9",
    }
