"""The fake Cohere API, checked with Cohere's own SDK (cohere.ClientV2): the SDK parses the fake's
answers, stream events, embeddings, rerank results and error bodies into its typed models, so
the fake speaks the shapes the real service does. Then the adapter end to end against it."""

from __future__ import annotations

from collections.abc import Iterator

import cohere
import httpx
import pytest
from cohere.core.api_error import ApiError

from tests.fakes.base import Error, Reply, ToolCall
from tests.fakes.cohere import FakeCohere

KEY = "co-fake-key-0123456789"
MODEL = "command-a-03-2025"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeCohere]:
    with FakeCohere(valid_keys={KEY}) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeCohere) -> FakeCohere:
    server.reset()
    return server


def client(fake: FakeCohere, key: str = KEY) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=key, base_url=fake.url, httpx_client=httpx.Client(timeout=5))


def test_chat_answer_parses_in_the_sdk(fake):
    fake.script(Reply(text="Bonjour.", prompt_tokens=12, completion_tokens=3))
    answer = client(fake).chat(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert answer.finish_reason == "COMPLETE"
    assert answer.message.content[0].text == "Bonjour."
    assert answer.usage.tokens.input_tokens == 12 and answer.usage.billed_units.output_tokens == 3
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_tool_call_answer_and_tool_result_turn(fake):
    fake.script(
        Reply(text=None, tool_calls=[ToolCall("get_weather", {"city": "Paris"})]), Reply(text="Sunny.")
    )
    sdk = client(fake)
    first = sdk.chat(model=MODEL, messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS)
    assert first.finish_reason == "TOOL_CALL"
    (call,) = first.message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Paris"}'
    second = sdk.chat(
        model=MODEL,
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "tool_calls": [call.dict()], "tool_plan": first.message.tool_plan},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=TOOLS,
    )
    assert second.message.content[0].text == "Sunny."


def test_stream_events_parse_in_the_sdk(fake):
    fake.script(Reply(text="one two three", tool_calls=[ToolCall("get_weather", {"city": "Oslo"})]))
    events = list(client(fake).chat_stream(model=MODEL, messages=[{"role": "user", "content": "Hi"}]))
    kinds = [event.type for event in events]
    assert kinds[0] == "message-start" and kinds[-1] == "message-end"
    assert {"content-delta", "tool-plan-delta", "tool-call-start", "tool-call-delta", "tool-call-end"} <= set(
        kinds
    )
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")
    arguments = "".join(
        e.delta.message.tool_calls.function.arguments for e in events if e.type == "tool-call-delta"
    )
    assert text == "one two three" and arguments == '{"city":"Oslo"}'
    assert events[-1].delta.finish_reason == "TOOL_CALL"
    assert events[-1].delta.usage.tokens.output_tokens == 7


def test_embed_and_rerank_parse_in_the_sdk(fake):
    sdk = client(fake)
    embedded = sdk.embed(
        model="embed-v4.0", texts=["a b", "c"], input_type="search_document", embedding_types=["float"]
    )
    assert len(embedded.embeddings.float_) == 2 and embedded.meta.billed_units.input_tokens == 3
    ranked = sdk.rerank(
        model="rerank-v3.5", query="red apple", documents=["blue sky", "a red apple", "red car"]
    )
    assert [r.index for r in ranked.results] == [1, 2, 0]
    assert ranked.meta.billed_units.search_units == 1


def test_errors_are_cohere_shaped(fake):
    with pytest.raises(ApiError) as bad_key:
        client(fake, key="co-wrong").chat(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert bad_key.value.status_code == 401 and bad_key.value.body["message"] == "invalid api token"
    fake.script(Error(429, message="You are using a Trial key", headers={"retry-after": "2"}))
    with pytest.raises(ApiError) as limited:
        client(fake).chat(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], request_options={"max_retries": 0}
        )
    assert limited.value.status_code == 429 and set(limited.value.body) == {"id", "message"}
    # The SDK itself insists on input_type; the real API refuses a body without it.
    no_type = httpx.post(
        fake.url + "/v2/embed",
        json={"model": "embed-v4.0", "texts": ["x"]},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert no_type.status_code == 400 and "input_type" in no_type.json()["message"]
    with pytest.raises(ApiError) as orphan:
        client(fake).chat(model=MODEL, messages=[{"role": "tool", "tool_call_id": "nope", "content": "x"}])
    assert orphan.value.status_code == 400


def test_in_stream_error_is_a_message_end_with_error(fake):
    fake.script(Reply(text="a b c d", error_after=2))
    events = list(client(fake).chat_stream(model=MODEL, messages=[{"role": "user", "content": "Hi"}]))
    assert events[-1].type == "message-end" and events[-1].delta.finish_reason == "ERROR"
    assert events[-1].delta.error
