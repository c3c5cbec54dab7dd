"""The cache behind the other inbound protocols: a Messages or Responses client's second identical
request is served from the cache (never reaching the upstream), in its own protocol, streamed or
not; the cached form is chat, so it is encoded for whichever client asks."""

from __future__ import annotations

import uuid

import anthropic
import pytest

from tests.fakes.base import Reply


def _anthropic(gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=gateway.master_key, max_retries=0)


def _question() -> str:
    return f"question {uuid.uuid4().hex}"


@pytest.mark.parametrize("cached_gateway", ["local"], indirect=True)
def test_a_messages_client_gets_its_second_answer_from_the_cache(cached_gateway, upstream) -> None:
    upstream.reset()
    upstream.script(Reply(text="Paris.", prompt_tokens=100, completion_tokens=20))
    client = _anthropic(cached_gateway)
    kwargs = {"model": "gpt", "max_tokens": 50, "messages": [{"role": "user", "content": _question()}]}
    first = client.messages.with_raw_response.create(**kwargs)
    assert first.headers["x-polyroute-cache"] == "miss"
    second = client.messages.with_raw_response.create(**kwargs)
    assert second.headers["x-polyroute-cache"] == "hit"
    assert second.headers["x-polyroute-response-cost"] == "0"
    assert second.parse().content[0].text == first.parse().content[0].text == "Paris."
    assert second.parse().stop_reason == "end_turn"
    # A streamed request of the same question is served from the cached answer, as Anthropic events.
    with client.messages.stream(**kwargs) as events:
        text = "".join(events.text_stream)
        assert events.get_final_message().stop_reason == "end_turn"
    assert text == "Paris."
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("cached_gateway", ["local"], indirect=True)
def test_a_responses_client_gets_its_second_answer_from_the_cache(cached_gateway, upstream) -> None:
    upstream.reset()
    upstream.script(Reply(text="Lyon.", prompt_tokens=90, completion_tokens=10))
    client = cached_gateway.client(max_retries=0)
    question = _question()
    # `gpt` is OpenAI itself: Responses goes there natively (OpenAI's own format, not cached);
    # `gpt-chat` is an OpenAI-compatible server, reached translated, and cached as chat.
    first = client.responses.with_raw_response.create(model="gpt-chat", input=question, store=True)
    assert first.headers["x-polyroute-cache"] == "miss"
    second = client.responses.with_raw_response.create(model="gpt-chat", input=question, store=True)
    assert second.headers["x-polyroute-cache"] == "hit"
    answer = second.parse()
    assert answer.output_text == "Lyon."
    # A cached answer is stored like any other: it can be retrieved.
    assert client.responses.retrieve(answer.id).output_text == "Lyon."
    assert len(upstream.requests) == 1
