"""The conformance matrix: inbound protocol x target x case, through the official SDKs.

Every inbound protocol the gateway serves (OpenAI chat, Anthropic Messages, OpenAI Responses) is
driven by its own SDK against every provider fake behind the shared gateway (tests/conftest.py)
and the mock provider, for the same cases: a text answer, a stream, a streamed tool call, JSON
output, an upstream error before the stream, a stream broken after its start, and the spend row.
`python -m tests.conformance.matrix` prints the matrix docs/protocols.md shows.
"""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conformance.cases import CASES, NO_JSON_OUTPUT, NO_USAGE, PROTOCOLS, TARGETS, skip_reason
from tests.conftest import MATRIX_MODELS
from tests.fakes.base import Error, Reply, ToolCall

TOOL_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
ANSWER = "Sunny and mild in Paris today."
JSON_ANSWER = '{"city": "Paris", "temp_c": 21}'


def _fake(request: pytest.FixtureRequest, target: str) -> Any:
    if target == "mock":
        return None
    return request.getfixturevalue(MATRIX_MODELS[target][1])


def _model(target: str) -> str:
    return "mock-gpt" if target == "mock" else MATRIX_MODELS[target][0]


def _script(fake: Any, *behaviours: Any) -> None:
    if fake is not None:
        fake.script(*behaviours)


class Outcome:
    """What one protocol's client saw, in protocol-neutral terms."""

    def __init__(self) -> None:
        self.text = ""
        self.stop = ""  # "end" | "length" | "tool"
        self.tool: tuple[str, dict[str, Any]] | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.request_id: str | None = None


# -- the three clients ---------------------------------------------------------------------------


def _anthropic(gateway: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=gateway.master_key, max_retries=0, timeout=30)


def _openai(gateway: Any) -> openai.OpenAI:
    return gateway.client(max_retries=0, timeout=30)


ANTHROPIC_STOP = {"end_turn": "end", "max_tokens": "length", "tool_use": "tool", "stop_sequence": "end"}
OPENAI_STOP = {"stop": "end", "length": "length", "tool_calls": "tool"}


def _messages_call(gateway: Any, model: str, *, stream: bool, tools: bool = False) -> Outcome:
    client = _anthropic(gateway)
    kwargs: dict[str, Any] = {
        "model": model,
        "max_tokens": 200,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    if tools:
        kwargs["tools"] = [
            {"name": "get_weather", "description": "Weather for a city", "input_schema": TOOL_SCHEMA}
        ]
    out = Outcome()
    if stream:
        with client.messages.stream(**kwargs) as events:
            for _ in events:
                pass
            message = events.get_final_message()
            out.request_id = events.response.headers.get("x-request-id")
    else:
        raw = client.messages.with_raw_response.create(**kwargs)
        message = raw.parse()
        out.request_id = raw.headers.get("x-request-id")
    for block in message.content:
        if block.type == "text":
            out.text += block.text
        elif block.type == "tool_use":
            out.tool = (block.name, dict(block.input))
    out.stop = ANTHROPIC_STOP.get(message.stop_reason or "", str(message.stop_reason))
    usage = message.usage
    out.prompt_tokens = usage.input_tokens + (usage.cache_read_input_tokens or 0)
    out.completion_tokens = usage.output_tokens
    return out


def _responses_call(
    gateway: Any, model: str, *, stream: bool, tools: bool = False, json_schema: bool = False
) -> Outcome:
    client = _openai(gateway)
    kwargs: dict[str, Any] = {
        "model": model,
        "instructions": "You are terse.",
        "input": "Weather in Paris?",
        "store": False,
    }
    if tools:
        kwargs["tools"] = [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": TOOL_SCHEMA,
                "strict": False,
            }
        ]
    if json_schema:
        kwargs["text"] = {
            "format": {"type": "json_schema", "name": "weather", "schema": TOOL_SCHEMA, "strict": False}
        }
    out = Outcome()
    if stream:
        with client.responses.stream(**kwargs) as events:
            for _ in events:
                pass
            response = events.get_final_response()
    else:
        raw = client.responses.with_raw_response.create(**kwargs)
        response = raw.parse()
        out.request_id = raw.headers.get("x-request-id")
    for item in response.output:
        if item.type == "message":
            out.text += "".join(part.text for part in item.content if part.type == "output_text")
        elif item.type == "function_call":
            out.tool = (item.name, json.loads(item.arguments))
    if out.tool is not None:
        out.stop = "tool"
    elif response.status == "incomplete":
        out.stop = "length"
    else:
        out.stop = "end"
    if response.usage is not None:
        out.prompt_tokens = response.usage.input_tokens
        out.completion_tokens = response.usage.output_tokens
    return out


def _chat_call(
    gateway: Any, model: str, *, stream: bool, tools: bool = False, json_schema: bool = False
) -> Outcome:
    client = _openai(gateway)
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
    }
    if tools:
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": TOOL_SCHEMA,
                },
            }
        ]
    if json_schema:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": TOOL_SCHEMA},
        }
    out = Outcome()
    if stream:
        raw = client.chat.completions.with_raw_response.create(
            stream=True, stream_options={"include_usage": True}, **kwargs
        )
        out.request_id = raw.headers.get("x-request-id")
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in raw.parse():
            if chunk.usage:
                out.prompt_tokens = chunk.usage.prompt_tokens
                out.completion_tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                out.text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    slot = calls.setdefault(call.index, {"name": "", "arguments": ""})
                    if call.function and call.function.name:
                        slot["name"] += call.function.name
                    if call.function and call.function.arguments:
                        slot["arguments"] += call.function.arguments
                finish = choice.finish_reason or finish
        if calls:
            first = calls[min(calls)]
            out.tool = (first["name"], json.loads(first["arguments"]))
        out.stop = OPENAI_STOP.get(finish or "", str(finish))
        return out
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    answer = raw.parse()
    out.request_id = raw.headers.get("x-request-id")
    choice = answer.choices[0]
    out.text = choice.message.content or ""
    if choice.message.tool_calls:
        call = choice.message.tool_calls[0]
        out.tool = (call.function.name, json.loads(call.function.arguments))
    out.stop = OPENAI_STOP.get(choice.finish_reason or "", str(choice.finish_reason))
    if answer.usage is not None:
        out.prompt_tokens = answer.usage.prompt_tokens
        out.completion_tokens = answer.usage.completion_tokens
    return out


CALLS = {"chat": _chat_call, "messages": _messages_call, "responses": _responses_call}


def _call(protocol: str, gateway: Any, model: str, **kwargs: Any) -> Outcome:
    if protocol == "messages":
        kwargs.pop("json_schema", None)
    return CALLS[protocol](gateway, model, **kwargs)


# -- the matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_conformance(
    request: pytest.FixtureRequest, gateway: Any, protocol: str, target: str, case: str
) -> None:
    reason = skip_reason(protocol, target, case)
    if reason:
        pytest.skip(reason)
    fake = _fake(request, target)
    model = _model(target)
    RUNNERS[case](gateway, fake, protocol, target, model)


def _text(gateway: Any, fake: Any, protocol: str, target: str, model: str) -> None:
    _script(fake, Reply(text=ANSWER, prompt_tokens=21, completion_tokens=8))
    out = _call(protocol, gateway, model, stream=False)
    if fake is not None:
        assert out.text == ANSWER
        if target not in NO_USAGE:
            assert (out.prompt_tokens, out.completion_tokens) == (21, 8)
    else:
        assert out.text and out.completion_tokens
    assert out.stop == "end"


def _stream(gateway: Any, fake: Any, protocol: str, target: str, model: str) -> None:
    _script(fake, Reply(text=ANSWER, prompt_tokens=21, completion_tokens=8))
    out = _call(protocol, gateway, model, stream=True)
    if fake is not None:
        assert out.text == ANSWER
        if target not in NO_USAGE:
            assert out.completion_tokens == 8
    else:
        assert out.text
    assert out.stop == "end"


def _tool_stream(gateway: Any, fake: Any, protocol: str, target: str, model: str) -> None:
    _script(
        fake,
        Reply(
            text=None,
            tool_calls=[ToolCall("get_weather", {"city": "Paris"})],
            prompt_tokens=30,
            completion_tokens=9,
        ),
    )
    out = _call(protocol, gateway, model, stream=True, tools=True)
    assert out.tool == ("get_weather", {"city": "Paris"})
    assert out.stop == "tool"  # whatever the upstream called its stop reason


def _json_output(gateway: Any, fake: Any, protocol: str, target: str, model: str) -> None:
    _script(fake, Reply(text=JSON_ANSWER, prompt_tokens=25, completion_tokens=12))
    if target in NO_JSON_OUTPUT:
        # Refused before any upstream call, naming the client's own field.
        with pytest.raises(openai.BadRequestError) as refused:
            _call(protocol, gateway, model, stream=False, json_schema=True)
        field = {"chat": "response_format", "responses": "text.format"}[protocol]
        assert field in str(refused.value)
        return
    out = _call(protocol, gateway, model, stream=False, json_schema=True)
    assert json.loads(out.text)["city"] == ("mock" if fake is None else "Paris") or fake is None


def _error_before(gateway: Any, fake: Any, protocol: str, target: str, model: str) -> None:
    _script(fake, Error(429, message="slow down"))
    errors = {
        "messages": anthropic.RateLimitError,
        "chat": openai.RateLimitError,
        "responses": openai.RateLimitError,
    }
    with pytest.raises(errors[protocol]) as raised:
        _call(protocol, gateway, model, stream=True)
    body = raised.value.body
    if protocol == "messages":
        assert isinstance(body, dict) and body["type"] == "error"
        assert body["error"]["type"] == "rate_limit_error"
    else:
        assert isinstance(body, dict) and "message" in body


def _error_mid_stream(gateway: Any, fake: Any, protocol: str, target: str, model: str) -> None:
    _script(fake, Reply(text="one two three four five six", drop_after=2))
    if protocol == "responses":
        # The Responses stream ends with response.failed (an event, which the SDK does not raise).
        client = _openai(gateway)
        events = list(client.responses.create(model=model, input="Count", stream=True, store=False))
        assert events[0].type == "response.created"
        assert events[-1].type == "response.failed"
        assert events[-1].response.error is not None
        return
    with pytest.raises((anthropic.APIError, openai.APIError)):
        _call(protocol, gateway, model, stream=True)


def _spend_row(gateway: Any, fake: Any, protocol: str, target: str, model: str) -> None:
    _script(fake, Reply(text=ANSWER, prompt_tokens=40, completion_tokens=10))
    out = _call(protocol, gateway, model, stream=False)
    assert out.request_id
    row = _wait_for_row(gateway, out.request_id)
    expected_type = {"chat": "chat_completion", "messages": "anthropic_messages", "responses": "responses"}
    assert row["call_type"] == expected_type[protocol]
    assert row["status"] == "success"
    if fake is not None and target not in NO_USAGE:
        assert (row["prompt_tokens"], row["completion_tokens"]) == (40, 10)
        # Models the cost map prices; the others are deployment names or fakes' model ids.
        assert row["spend"] > 0 if target in ("openai", "anthropic", "gemini") else row["spend"] >= 0


def _wait_for_row(gateway: Any, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    with httpx.Client(
        base_url=gateway.url, headers={"authorization": f"Bearer {gateway.master_key}"}
    ) as http:
        while True:
            rows = http.get("/spend/logs", params={"request_id": request_id}).json()
            found = [r for r in rows if r.get("request_id") == request_id]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no spend row for {request_id}")
            time.sleep(0.05)


RUNNERS = {
    "text": _text,
    "stream": _stream,
    "tool_stream": _tool_stream,
    "json_output": _json_output,
    "error_before_stream": _error_before,
    "error_mid_stream": _error_mid_stream,
    "spend_row": _spend_row,
}
