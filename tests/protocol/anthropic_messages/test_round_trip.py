"""Messages -> chat -> Anthropic -> chat -> Messages: the translated path to an Anthropic-API
deployment (as Vertex Claude takes it), over real HTTP to FakeAnthropic. The message a client
gets through the gateway's translation must equal the one the `anthropic` SDK reads straight
from the same upstream answer: thinking with its signature, text, parallel tool calls, stop
sequence, usage with cache reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from polyroute.inbound.anthropic_messages import MESSAGES
from polyroute.protocol.sse import SSEDecoder
from polyroute.providers.anthropic.adapter import AnthropicAdapter
from polyroute.providers.base import ProviderCall
from polyroute.secrets import Secret
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Reply, ToolCall
from tests.protocol.anthropic_messages.loopback import Canned, serving, sse

KEY = "sk-ant-round-trip-test-0123456789"
ADAPTER = AnthropicAdapter()
BODY: dict[str, Any] = {
    "model": "claude-gateway-alias",
    "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "stop_sequences": ["###"],
    "messages": [{"role": "user", "content": "Weather in Paris and Rome?"}],
    "tools": [
        {"name": "weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    ],
}
REPLIES = {
    "tools": lambda: Reply(
        text="Checking both.",
        tool_calls=[
            ToolCall("weather", {"city": "Paris"}, id="toolu_01P"),
            ToolCall("weather", {"city": "Rome"}, id="toolu_01R"),
        ],
        prompt_tokens=120,
        cached_tokens=100,
        completion_tokens=33,
        extra={"thinking": "Two cities, two calls."},
    ),
    "stop_sequence": lambda: Reply(
        text="Sunny", finish="stop_sequence", extra={"thinking": "Short answer.", "stop_sequence": "###"}
    ),
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as upstream:
        yield upstream


def call(fake: FakeAnthropic) -> ProviderCall:
    return ProviderCall("anthropic", "claude-sonnet-4-5-20250929", api_base=fake.url, api_key=Secret(KEY))


def direct(fake: FakeAnthropic, reply: Reply, stream: bool) -> Any:
    """The message the SDK reads from the upstream itself."""
    fake.script(reply)
    client = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0)
    try:
        if stream:
            with client.messages.stream(**BODY) as events:
                return events.get_final_message()
        return client.messages.create(**BODY)
    finally:
        client.close()


def same(got: Any, want: Any) -> None:
    assert got.model == BODY["model"]
    assert [b.model_dump(exclude_none=True) for b in got.content] == [
        b.model_dump(exclude_none=True) for b in want.content
    ]
    assert (got.stop_reason, got.stop_sequence) == (want.stop_reason, want.stop_sequence)
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        assert getattr(got.usage, key) == getattr(want.usage, key)


@pytest.mark.parametrize("case", sorted(REPLIES))
def test_answer_round_trip(fake: FakeAnthropic, case: str) -> None:
    want = direct(fake, REPLIES[case](), stream=False)
    fake.script(REPLIES[case]())
    wire = ADAPTER.chat_request(call(fake), MESSAGES.to_chat(BODY), stream=False)
    upstream = httpx.post(wire.url, headers=wire.headers, content=wire.body, timeout=30)
    assert upstream.status_code == 200
    answer = ADAPTER.chat_response(call(fake), upstream.json())
    message = orjson.dumps(MESSAGES.from_chat(answer, BODY))
    with serving(Canned(200, message)) as (client, _):
        got = client.messages.create(**BODY)
    same(got, want)


@pytest.mark.parametrize("case", sorted(REPLIES))
def test_stream_round_trip(fake: FakeAnthropic, case: str) -> None:
    want = direct(fake, REPLIES[case](), stream=True)
    fake.script(REPLIES[case]())
    chat = MESSAGES.to_chat({**BODY, "stream": True})
    wire = ADAPTER.chat_request(call(fake), chat, stream=True)
    translator = ADAPTER.chat_stream(call(fake), chat)
    encoder = MESSAGES.stream_encoder(BODY, "req_rt")
    decoder = SSEDecoder()
    out = bytearray()
    with httpx.stream("POST", wire.url, headers=wire.headers, content=wire.body, timeout=30) as upstream:
        assert upstream.status_code == 200
        for piece in upstream.iter_raw():
            for event in decoder.feed(piece):
                out += encoder.chunks(translator.on_event(event))
    out += encoder.chunks(translator.on_end())
    out += encoder.finish(translator.usage)
    with serving(sse(bytes(out))) as (client, _):
        with client.messages.stream(**BODY) as events:
            got = events.get_final_message()
    same(got, want)
