"""Chat answers encoded as OpenAI Response objects, checked against the openai SDK's own model."""

from __future__ import annotations

from openai.types.responses import Response

from polyroute.inbound.responses import RESPONSES, input_items


def _answer(message: dict, finish: str = "stop", usage: dict | None = None) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "deployment-model-id",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": usage
        or {
            "prompt_tokens": 30,
            "completion_tokens": 12,
            "total_tokens": 42,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 4},
        },
    }


def test_a_text_answer_with_reasoning_and_the_request_echoed() -> None:
    body = {
        "model": "my-alias",
        "input": "hi",
        "instructions": "Be kind.",
        "temperature": 0.5,
        "top_p": 0.8,
        "max_output_tokens": 100,
        "metadata": {"a": "b"},
        "reasoning": {"effort": "high", "summary": "auto"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "previous_response_id": "resp_prev",
        "store": True,
    }
    data = RESPONSES.from_chat(_answer({"content": "Hello!", "reasoning_content": "They greet me."}), body)
    response = Response.model_validate(data)
    assert data["id"].startswith("resp_") and len(data["id"]) == 5 + 48
    assert data["object"] == "response" and data["status"] == "completed"
    assert data["model"] == "my-alias" and data["created_at"] == 1_760_000_000
    assert response.output_text == "Hello!"
    reasoning, message = data["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [{"type": "summary_text", "text": "They greet me."}]
    assert (
        message["id"].startswith("msg_")
        and message["role"] == "assistant"
        and message["status"] == "completed"
    )
    assert message["content"] == [
        {"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}
    ]
    assert data["usage"] == {
        "input_tokens": 30,
        "input_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 0},
        "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 4},
        "total_tokens": 42,
    }
    for key in (
        "instructions",
        "temperature",
        "top_p",
        "max_output_tokens",
        "metadata",
        "reasoning",
        "tools",
    ):
        assert data[key] == body[key], key
    assert data["parallel_tool_calls"] is False and data["previous_response_id"] == "resp_prev"
    assert data["store"] is True and data["text"] == {"format": {"type": "text"}}
    assert data["error"] is None and data["incomplete_details"] is None


def test_tool_calls_become_function_call_items() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
    ]
    data = RESPONSES.from_chat(
        _answer({"content": None, "tool_calls": calls}, "tool_calls"), {"model": "m", "input": "x"}
    )
    Response.model_validate(data)
    assert [item["type"] for item in data["output"]] == ["function_call", "function_call"]
    first = data["output"][0]
    assert first["id"].startswith("fc_") and first["call_id"] == "call_1" and first["name"] == "weather"
    assert first["arguments"] == '{"city":"Oslo"}' and first["status"] == "completed"
    assert data["tool_choice"] == "auto" and data["tools"] == [] and data["store"] is True


def test_a_length_stop_is_incomplete_for_max_output_tokens() -> None:
    data = RESPONSES.from_chat(_answer({"content": "Once upon"}, "length"), {"model": "m", "input": "x"})
    response = Response.model_validate(data)
    assert response.status == "incomplete"
    assert (
        response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    )
    assert data["output"][0]["status"] == "incomplete"


def test_an_empty_answer_is_one_empty_message_and_a_refusal_is_a_refusal_part() -> None:
    empty = RESPONSES.from_chat(_answer({"content": None}), {"model": "m", "input": "x"})
    Response.model_validate(empty)
    assert empty["output"][0]["content"][0]["text"] == ""
    refused = RESPONSES.from_chat(
        _answer({"content": None, "refusal": "I can't."}), {"model": "m", "input": "x"}
    )
    Response.model_validate(refused)
    assert refused["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't."}]


def test_input_items_get_ids_and_content_parts() -> None:
    items = input_items(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "ok"},
            {
                "type": "message",
                "id": "msg_keep",
                "role": "user",
                "content": [{"type": "input_text", "text": "x"}],
            },
        ]
    )
    assert [item["id"][:3] for item in items[:4]] == ["msg", "msg", "fc_", "fco"]
    assert items[0]["content"] == [{"type": "input_text", "text": "hi"}] and items[0]["type"] == "message"
    assert items[1]["content"] == [{"type": "output_text", "text": "hello"}]
    assert items[4]["id"] == "msg_keep"
    assert input_items("plain")[0]["content"] == [{"type": "input_text", "text": "plain"}]
