"""A Responses request decoded into the chat body every adapter takes, and the 400s on the way."""

from __future__ import annotations

import pytest

from polyroute.errors import InvalidRequestError
from polyroute.inbound.responses import RESPONSES


def test_a_string_input_with_instructions_and_every_setting() -> None:
    body = {
        "model": "gpt-x",
        "input": "What is 2+2?",
        "instructions": "Answer briefly.",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_output_tokens": 64,
        "parallel_tool_calls": False,
        "metadata": {"ticket": "42"},
        "user": "u-1",
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "store": True,
        "previous_response_id": None,
        "include": ["reasoning.encrypted_content"],
        "truncation": "disabled",
        "stream": True,
        "num_retries": 2,  # a gateway key: passes through for the gateway to consume
        "fallbacks": ["other"],
        "top_k": 5,  # provider-specific: passes through as on /v1/chat/completions
    }
    assert RESPONSES.to_chat(body) == {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is 2+2?"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "parallel_tool_calls": False,
        "metadata": {"ticket": "42"},
        "user": "u-1",
        "reasoning_effort": "low",
        "response_format": {"type": "json_object"},
        "verbosity": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
        "num_retries": 2,
        "fallbacks": ["other"],
        "top_k": 5,
    }


def test_items_become_messages_tool_calls_and_tool_results() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "developer", "content": "Be terse."},
            {"type": "message", "role": "system", "content": [{"type": "input_text", "text": "Sys."}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather here?"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,iVBORw0KGgo=",
                        "detail": "low",
                    },
                    {
                        "type": "input_file",
                        "file_data": "data:application/pdf;base64,JVBERi0=",
                        "filename": "a.pdf",
                    },
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}],
            },
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hm"}]},
            {"type": "function_call", "call_id": "call_a", "name": "weather", "arguments": '{"city":"Oslo"}'},
            {"type": "function_call", "call_id": "call_b", "name": "time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "rain"},
            {
                "type": "function_call_output",
                "call_id": "call_b",
                "output": [{"type": "input_text", "text": "noon"}],
            },
            {"role": "assistant", "content": "It rains at noon."},
            {"type": "function_call", "call_id": "call_c", "name": "weather", "arguments": "{}"},
        ],
    }
    assert RESPONSES.to_chat(body)["messages"] == [
        {"role": "developer", "content": "Be terse."},
        {"role": "system", "content": [{"type": "text", "text": "Sys."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                },
                {"id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "rain"},
        {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
        {
            "role": "assistant",
            "content": "It rains at noon.",
            "tool_calls": [
                {"id": "call_c", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            ],
        },
    ]


def test_function_calls_with_no_assistant_message_before_them_start_one() -> None:
    chat = RESPONSES.to_chat(
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
        }
    )
    assert chat["messages"][1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }


def test_tools_tool_choice_and_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    chat = RESPONSES.to_chat(
        {
            "model": "m",
            "input": "x",
            "tools": [
                {
                    "type": "function",
                    "name": "f",
                    "description": "does f",
                    "parameters": schema,
                    "strict": True,
                }
            ],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}},
        }
    )
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "description": "does f", "parameters": schema, "strict": True},
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema, "strict": True},
    }
    for word in ("auto", "none", "required"):
        assert RESPONSES.to_chat({"model": "m", "input": "x", "tool_choice": word})["tool_choice"] == word
    text_format = RESPONSES.to_chat({"model": "m", "input": "x", "text": {"format": {"type": "text"}}})
    assert "response_format" not in text_format


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": []}, "input"),
        ({"input": 5}, "input"),
        ({"input": ["x"]}, "input[0]"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": 3}]}, "input[0].content"),
        (
            {"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
            "input[0].content[0].file_id",
        ),
        (
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "u"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "u"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        ({"input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]}, "input[0].name"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
            "input[0].arguments",
        ),
        (
            {
                "input": [
                    {"role": "user", "content": "hi"},
                    {"type": "function_call_output", "call_id": "nope", "output": "x"},
                ]
            },
            "input[1].call_id",
        ),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        (
            {"input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]},
            "tools[1].type",
        ),
        ({"input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "tools[0].type"),
        ({"input": "x", "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "instructions": ["a"]}, "instructions"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "prompt": {"id": "pmpt_1"}}, "prompt"),
    ],
)
def test_what_cannot_be_translated_is_a_400_naming_the_field(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        RESPONSES.to_chat({"model": "m", **body})
    assert caught.value.param == param
    assert caught.value.status == 400
    assert param.split(".")[-1].split("[")[0] in caught.value.message


def test_the_error_body_is_openais_shape() -> None:
    error = InvalidRequestError("'tools[0].type' 'web_search': ...", param="tools[0].type")
    assert RESPONSES.error_body(error, "req-1") == error.to_body("req-1")


@pytest.mark.parametrize(
    "provider", ["anthropic", "gemini", "vertex_ai", "bedrock", "mistral", "cohere", "openai"]
)
def test_the_decoded_body_is_one_every_adapter_takes(provider: str) -> None:
    """A whole tool-using conversation, decoded, goes through each adapter's request translation."""
    from polyroute.providers.base import ProviderCall
    from polyroute.providers.registry import get_adapter
    from polyroute.secrets import Secret

    body = {
        "model": "alias",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Terse."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                ],
            },
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Oslo"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "rain"},
            {"role": "assistant", "content": "It rains."},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "tool_choice": "auto",
        "max_output_tokens": 100,
    }
    adapter = get_adapter(provider)
    assert adapter is not None
    call = ProviderCall(
        provider=provider,
        model="some-model",
        api_base="http://127.0.0.1:9",
        api_key=Secret("k" * 20),
        extras={"vertex_project": "p", "vertex_location": "us-central1", "aws_region_name": "us-east-1"},
    )
    wire = adapter.chat_request(call, RESPONSES.to_chat(body), False)
    sent = wire.body.decode()
    for text in ("Weather?", "rain", "It rains.", "thanks", "weather", "Oslo"):
        assert text in sent, (provider, text)
