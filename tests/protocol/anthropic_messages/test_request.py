"""to_chat: each Messages field's mapping to OpenAI chat, and Anthropic-like validation errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from polyroute.errors import InvalidRequestError
from polyroute.inbound.anthropic_messages import effort_for_budget, to_chat
from polyroute.inbound.anthropic_messages.content import ERROR_PREFIX
from polyroute.inbound.anthropic_messages.request import chat_for_call, without_anthropic_extensions
from polyroute.providers.base import ProviderCall


def body(**fields: Any) -> dict[str, Any]:
    return {
        "model": "claude-test",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }


def error_of(request: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        to_chat(request)
    return caught.value


def test_minimal_body() -> None:
    assert to_chat(body()) == {
        "model": "claude-test",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_system_string_and_blocks_keep_cache_control() -> None:
    assert to_chat(body(system="Be brief."))["messages"][0] == {"role": "system", "content": "Be brief."}
    blocks = [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Long instructions", "cache_control": {"type": "ephemeral"}},
    ]
    assert to_chat(body(system=blocks))["messages"][0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Long instructions", "cache_control": {"type": "ephemeral"}},
        ],
    }


def test_images_base64_and_url() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {
            "type": "image",
            "source": {"type": "url", "url": "https://example.com/cat.jpg"},
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "text", "text": "What is this?"},
    ]
    chat = to_chat(body(messages=[{"role": "user", "content": content}]))
    assert chat["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/cat.jpg"},
                    "cache_control": {"type": "ephemeral"},
                },
                {"type": "text", "text": "What is this?"},
            ],
        }
    ]


def test_documents() -> None:
    content = [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "title": "spec.pdf",
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
    ]
    parts = to_chat(body(messages=[{"role": "user", "content": content}]))["messages"][0]["content"]
    assert parts == [
        {
            "type": "file",
            "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "spec.pdf"},
        },
        {"type": "text", "text": "plain notes"},
        {"type": "document", "source": {"type": "file", "file_id": "file_011"}},  # passed on as it is
    ]


def test_tool_use_and_tool_results() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Here you go"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "is_error": True,
                    "content": [{"type": "text", "text": "timeout"}],
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ]
    chat = to_chat(body(messages=messages))
    assert chat["messages"][1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
            },
        ],
    }
    # tool answers first (OpenAI wants them right after the tool calls), then the rest of the turn
    assert chat["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {
            "role": "tool",
            "tool_call_id": "toolu_2",
            "content": [{"type": "text", "text": ERROR_PREFIX.strip()}, {"type": "text", "text": "timeout"}],
            "is_error": True,
            "cache_control": {"type": "ephemeral"},
        },
        {"role": "user", "content": [{"type": "text", "text": "Here you go"}]},
    ]


def test_string_tool_result_error_is_prefixed() -> None:
    messages = [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": "no such file", "is_error": True}
            ],
        },
    ]
    chat = to_chat(body(messages=messages))
    assert chat["messages"][0]["content"] is None
    assert chat["messages"][1] == {
        "role": "tool",
        "tool_call_id": "t",
        "content": "Error: no such file",
        "is_error": True,
    }


def test_thinking_blocks_become_reasoning_and_are_kept() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"},
                {"type": "tool_use", "id": "toolu_9", "name": "ls", "input": {}},
            ],
        },
    ]
    assistant = to_chat(body(messages=messages))["messages"][1]
    assert assistant["reasoning_content"] == "Let me think."
    assert assistant["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCgIYAhIM"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"},
    ]
    assert assistant["content"] is None


def test_assistant_text_blocks_join_unless_cache_control() -> None:
    plain = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    cached = [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": plain}]
    assert to_chat(body(messages=msgs))["messages"][1]["content"] == "ab"
    msgs[1]["content"] = cached
    assert to_chat(body(messages=msgs))["messages"][1]["content"] == cached


def test_consecutive_same_role_turns_and_empty_final_prefill_are_allowed() -> None:
    messages = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": ""},
    ]
    # consecutive turns stay as they are; the empty prefill is left out (it asks for nothing)
    assert [m["role"] for m in to_chat(body(messages=messages))["messages"]] == ["user", "user"]
    messages[-1]["content"] = "The answer is"
    assert to_chat(body(messages=messages))["messages"][-1] == {
        "role": "assistant",
        "content": "The answer is",
    }


def test_tools_and_tool_choice() -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather by city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "custom", "name": "noop", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ]
    chat = to_chat(body(tools=tools, tool_choice={"type": "any", "disable_parallel_tool_use": True}))
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather by city",
                "parameters": tools[0]["input_schema"],
            },
            "cache_control": {"type": "ephemeral"},
        },
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    ]
    assert chat["tool_choice"] == "required"
    assert chat["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_kinds(choice: dict[str, Any], expected: Any) -> None:
    chat = to_chat(body(tool_choice=choice))
    assert chat["tool_choice"] == expected
    assert "parallel_tool_calls" not in chat


def test_sampling_stop_metadata_stream() -> None:
    chat = to_chat(
        body(
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["\n\nHuman:", "END"],
            metadata={"user_id": "user_abc"},
            stream=True,
        )
    )
    assert chat["temperature"] == 0.2
    assert chat["top_p"] == 0.9
    assert chat["top_k"] == 40
    assert chat["stop"] == ["\n\nHuman:", "END"]
    assert chat["user"] == "user_abc"
    assert chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(1024, "low"), (4000, "low"), (4096, "medium"), (10000, "medium"), (16384, "high"), (31999, "high")],
)
def test_thinking_budget_buckets(budget: int, effort: str) -> None:
    thinking = {"type": "enabled", "budget_tokens": budget}
    chat = to_chat(body(max_tokens=64000, thinking=thinking))
    assert chat["reasoning_effort"] == effort == effort_for_budget(budget)
    assert chat["thinking"] == thinking  # the exact budget, for the Anthropic adapter


def test_thinking_disabled_and_adaptive_set_no_effort() -> None:
    for kind in ("disabled", "adaptive"):
        chat = to_chat(body(thinking={"type": kind}))
        assert "reasoning_effort" not in chat
        assert chat["thinking"] == {"type": kind}


def test_gateway_keys_and_native_extras_pass_through() -> None:
    chat = to_chat(
        body(
            fallbacks=["gpt-4o"],
            num_retries=2,
            mock_response="ok",
            mcp_servers=[{"type": "url"}],
            service_tier="auto",
        )
    )
    assert chat["fallbacks"] == ["gpt-4o"]
    assert chat["num_retries"] == 2
    assert chat["mock_response"] == "ok"
    assert chat["mcp_servers"] == [{"type": "url"}]
    assert "service_tier" not in chat


def test_client_body_is_not_mutated() -> None:
    request = body(
        system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        tools=[{"name": "f", "input_schema": {"type": "object"}}],
    )
    before = orjson.dumps(request)
    to_chat(request)
    assert orjson.dumps(request) == before


def test_without_anthropic_extensions() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "tool_use", "id": "a", "name": "f", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "a", "is_error": True, "content": "x"}],
        },
    ]
    chat = to_chat(
        body(
            messages=messages,
            max_tokens=4096,
            top_k=5,
            thinking={"type": "enabled", "budget_tokens": 1024},
            tools=[{"name": "f", "input_schema": {}, "cache_control": {"type": "ephemeral"}}],
        )
    )
    plain = without_anthropic_extensions(chat)
    text = orjson.dumps(plain).decode()
    for key in ("cache_control", "thinking_blocks", "is_error", "top_k", '"thinking"'):
        assert key not in text
    assert plain["reasoning_effort"] == "low"
    assert plain["messages"][1]["reasoning_content"] == "t"
    assert "cache_control" in orjson.dumps(chat).decode()  # the original is untouched


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        (body(max_tokens=0), "max_tokens"),
        (body(max_tokens=True), "max_tokens"),
        (body(model=7), "model"),
        (body(messages=[]), "messages"),
        (body(messages="hi"), "messages"),
        (body(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
        (body(messages=[{"role": "user"}]), "messages.0.content"),
        (body(messages=[{"role": "user", "content": ""}]), "messages.0.content"),
        (body(messages=[{"role": "user", "content": [{"type": "video"}]}]), "messages.0.content.0.type"),
        (
            body(
                messages=[{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text"}]}]
            ),
            "messages.1.content.0.text",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]}
                ]
            ),
            "messages.0.content.0.type",
        ),
        (
            body(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "a", "name": "f", "input": []}],
                    }
                ]
            ),
            "messages.0.content.0.input",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]),
            "messages.0.content.0.tool_use_id",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "ftp"}}]}]),
            "messages.0.content.0.source.type",
        ),
        (body(system=[{"type": "image"}]), "system.0.type"),
        (body(tools=[{"name": "f"}]), "tools.0.input_schema"),
        (body(tools={"name": "f"}), "tools"),
        (body(tool_choice={"type": "function"}), "tool_choice.type"),
        (body(tool_choice={"type": "tool"}), "tool_choice.name"),
        (body(stop_sequences=["ok", 3]), "stop_sequences.1"),
        (body(temperature=1.5), "temperature"),
        (body(top_k=-1), "top_k"),
        (body(stream="yes"), "stream"),
        (body(metadata={"user_id": "u", "session": "s"}), "metadata.session"),
        (body(thinking={"type": "enabled", "budget_tokens": 100}), "thinking.budget_tokens"),
        (body(thinking={"type": "enabled", "budget_tokens": 2048}), "max_tokens"),
        (body(thinking={"type": "on"}), "thinking.type"),
        (body(frequency_penalty=0.5), "frequency_penalty"),
        ([1, 2], "body"),
    ],
)
def test_invalid_requests_name_the_field(request_body: Any, param: str) -> None:
    error = error_of(request_body)
    assert error.param == param
    assert error.message.startswith(f"{param}: ")
    assert error.status == 400
    assert error.type == "invalid_request_error"


def test_count_tokens_mode_needs_no_max_tokens() -> None:
    request = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert to_chat(request, count_tokens=True) == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
    }


@pytest.mark.parametrize(
    ("provider", "model", "kept"),
    [
        ("anthropic", "claude-sonnet-4-5", {"top_k", "thinking", "mcp_servers", "cache_control"}),
        ("vertex_ai", "claude-sonnet-4-5@20250929", {"top_k", "thinking", "mcp_servers", "cache_control"}),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", {"top_k", "thinking", "cache_control"}),
        ("vertex_ai", "gemini-2.5-pro", set()),
        ("openai", "gpt-4o", set()),
        ("bedrock", "meta.llama3-70b-instruct-v1:0", set()),
    ],
)
def test_chat_for_call_keeps_extensions_only_for_anthropic_apis(
    provider: str, model: str, kept: set[str]
) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}
    ]
    chat = to_chat(
        body(
            messages=messages,
            max_tokens=4096,
            top_k=5,
            thinking={"type": "enabled", "budget_tokens": 1024},
            mcp_servers=[{"type": "url", "url": "https://mcp.example.com", "name": "x"}],
        )
    )
    fitted = chat_for_call(chat, ProviderCall(provider, model))
    text = orjson.dumps(fitted).decode()
    present = {key for key in ("top_k", "thinking", "mcp_servers", "cache_control") if f'"{key}"' in text}
    assert present == kept
    assert fitted["reasoning_effort"] == "low"


def test_reasoning_history_kept_for_compatible_servers_not_for_openai_itself() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "s"},
                {"type": "text", "text": "a"},
            ],
        },
        {"role": "user", "content": "q2"},
    ]
    chat = to_chat(body(messages=messages))
    vllm = chat_for_call(chat, ProviderCall("openai", "qwen3", api_base="http://vllm:8000/v1"))
    assert vllm["messages"][1] == {"role": "assistant", "content": "a", "reasoning_content": "t"}
    for call in (
        ProviderCall("openai", "gpt-4o"),
        ProviderCall("azure", "gpt-4o", api_base="https://x.openai.azure.com"),
    ):
        assert chat_for_call(chat, call)["messages"][1] == {"role": "assistant", "content": "a"}
