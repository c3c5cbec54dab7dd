"""The native path: a Responses body sent to OpenAI as it is, and the usage read back for billing."""

from __future__ import annotations

import orjson
import pytest

from polyroute.errors import GatewayError
from polyroute.inbound.responses import RESPONSES, client_view
from polyroute.protocol.sse import SSEDecoder, SSEEvent
from polyroute.providers.base import ProviderCall
from polyroute.secrets import Secret


def test_the_request_goes_to_responses_with_the_deployments_model_and_no_openai_side_state() -> None:
    call = ProviderCall(
        provider="openai",
        model="gpt-4.1-mini",
        api_base="http://127.0.0.1:9/v1/",
        api_key=Secret("sk-test-1234"),
    )
    body = {
        "model": "my-alias",
        "input": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
            {"id": "rs_1", "type": "reasoning", "summary": []},  # the gateway's: OpenAI cannot look it up
            {"id": "rs_2", "type": "reasoning", "summary": [], "encrypted_content": "opaque"},
            {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        ],
        "previous_response_id": "resp_abc",
        "store": True,
        "tools": [{"type": "web_search"}],
        "num_retries": 3,
        "api_key": "sk-client-secret",
    }
    wire = RESPONSES.native_request(call, body, True)
    assert wire.url == "http://127.0.0.1:9/v1/responses" and wire.method == "POST"
    assert wire.headers["authorization"] == "Bearer sk-test-1234"
    sent = orjson.loads(wire.body)
    assert sent["model"] == "gpt-4.1-mini" and sent["store"] is False and sent["stream"] is True
    assert "previous_response_id" not in sent and "num_retries" not in sent and "api_key" not in sent
    assert sent["tools"] == [{"type": "web_search"}]  # OpenAI runs its built-in tools itself
    assert sent["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"id": "rs_2", "type": "reasoning", "summary": [], "encrypted_content": "opaque"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ]
    assert body["store"] is True and body["input"][0]["id"] == "msg_1"  # the client's body is untouched


def test_usage_of_a_json_answer() -> None:
    usage = RESPONSES.native_usage()
    answer = RESPONSES.from_chat(
        {
            "choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": 5,
                "total_tokens": 25,
                "prompt_tokens_details": {"cached_tokens": 8},
                "completion_tokens_details": {"reasoning_tokens": 3},
            },
        },
        {"model": "m", "input": "x"},
    )
    assert usage.answer_usage(answer) == {
        "prompt_tokens": 20,
        "completion_tokens": 5,
        "total_tokens": 25,
        "prompt_tokens_details": {"cached_tokens": 8},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }


def _stream(finish: str) -> list[SSEEvent]:
    encoder = RESPONSES.stream_encoder({"model": "m", "input": "x"}, "r")
    data = encoder.chunks(
        [{"choices": [{"index": 0, "delta": {"content": "hello"}, "finish_reason": finish}]}]
    ) + encoder.finish({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
    return SSEDecoder().feed(data)


@pytest.mark.parametrize("finish", ["stop", "length"])
def test_usage_of_a_stream_is_read_from_its_last_event(finish: str) -> None:
    usage = RESPONSES.native_usage()
    events = _stream(finish)
    for event in events[:-1]:
        usage.on_event(event)
        assert not usage.done and usage.usage is None
    usage.on_event(events[-1])
    assert usage.done
    assert usage.usage == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


def test_a_failed_response_ends_the_stream_and_an_error_event_raises() -> None:
    usage = RESPONSES.native_usage()
    failed = {
        "type": "response.failed",
        "sequence_number": 3,
        "response": {"status": "failed", "usage": None},
    }
    usage.on_event(SSEEvent("response.failed", orjson.dumps(failed)))
    assert usage.done and usage.usage is None
    error = {"type": "error", "sequence_number": 4, "code": "rate_limit_exceeded", "message": "Slow down"}
    with pytest.raises(GatewayError) as caught:
        RESPONSES.native_usage().on_event(SSEEvent("error", orjson.dumps(error)))
    assert caught.value.message == "Slow down" and caught.value.code == "rate_limit_exceeded"


def test_the_final_response_is_kept_and_shown_as_the_client_asked() -> None:
    usage = RESPONSES.native_usage()
    for event in _stream("stop"):
        usage.on_event(event)
    openai_side = {**usage.response, "model": "gpt-4.1-mini-2025-04-14", "store": False}
    body = {"model": "my-alias", "input": "x", "previous_response_id": "resp_prev"}
    shown = client_view(openai_side, body)
    assert (
        shown["model"] == "my-alias"
        and shown["store"] is True
        and shown["previous_response_id"] == "resp_prev"
    )
    assert shown["output"] == usage.response["output"] and shown["id"] == usage.response["id"]
    answer = {"id": "resp_1", "object": "response", "usage": None, "output": []}
    json_usage = RESPONSES.native_usage()
    json_usage.answer_usage(answer)
    assert json_usage.response is answer
