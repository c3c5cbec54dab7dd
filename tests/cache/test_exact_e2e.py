"""The exact cache end to end: the openai SDK against the gateway in front of a fake OpenAI
upstream, on every exact backend (process memory, disk, real Redis on loopback). The upstream's
request log proves a hit never reaches a provider; two virtual keys prove one key never reads
another's cached answer."""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest

from polyroute.observability.metrics import METRICS
from tests.cache.conftest import PRICES
from tests.fakes.base import Reply
from tests.keys.conftest import Admin


def question() -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {uuid.uuid4().hex}"}]


def chat(client: openai.OpenAI, messages, **kwargs):
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=messages, **kwargs)
    return raw, raw.parse()


def test_second_identical_request_is_a_hit_that_never_reaches_the_upstream(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    messages = question()
    upstream.script(Reply(text="Paris.", prompt_tokens=100, completion_tokens=20))
    hits_before = METRICS.cache_requests.value(("hit",))
    saved_before = METRICS.cache_saved.value(())
    first_raw, first = chat(client, messages, temperature=0)
    assert first_raw.headers["x-polyroute-cache"] == "miss"
    assert float(first_raw.headers["x-polyroute-response-cost"]) == pytest.approx(100e-6 + 40e-6)
    second_raw, second = chat(client, messages, temperature=0, user="someone", metadata={"a": "b"})
    assert second_raw.headers["x-polyroute-cache"] == "hit"
    assert second_raw.headers["x-polyroute-response-cost"] == "0"
    assert second_raw.headers["x-litellm-response-cost"] == "0"
    assert second_raw.headers["x-litellm-cache-key"] == first_raw.headers["x-litellm-cache-key"]
    assert second.choices[0].message.content == first.choices[0].message.content == "Paris."
    assert second.id == first.id
    assert len(upstream.requests) == 1
    assert METRICS.cache_requests.value(("hit",)) == hits_before + 1
    assert METRICS.cache_saved.value(()) == pytest.approx(saved_before + 140e-6)


def test_a_changed_param_or_alias_group(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    messages = question()
    chat(client, messages, temperature=0)
    raw, _ = chat(client, messages, temperature=1)
    assert raw.headers["x-polyroute-cache"] == "miss"
    # model_group_alias names the same group: the same entry
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-alias", messages=messages, temperature=0
    )
    assert raw.headers["x-polyroute-cache"] == "hit"
    assert len(upstream.requests) == 2


def test_one_key_never_reads_another_keys_answer(cached_gateway, upstream) -> None:
    admin = Admin(cached_gateway.url)
    alice = cached_gateway.client(api_key=admin.new_key(key_alias="alice-" + uuid.uuid4().hex[:6])["key"])
    bob = cached_gateway.client(api_key=admin.new_key(key_alias="bob-" + uuid.uuid4().hex[:6])["key"])
    messages = question()
    upstream.script(Reply(text="for alice"), Reply(text="for bob"))
    assert chat(alice, messages)[1].choices[0].message.content == "for alice"
    bob_raw, bob_answer = chat(bob, messages)
    assert bob_raw.headers["x-polyroute-cache"] == "miss"
    assert bob_answer.choices[0].message.content == "for bob"
    assert chat(alice, messages)[1].choices[0].message.content == "for alice"
    assert chat(bob, messages)[1].choices[0].message.content == "for bob"
    assert len(upstream.requests) == 2


def test_stream_replayed_as_a_stream(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    messages = question()
    upstream.script(Reply(text="one two three", prompt_tokens=9, completion_tokens=3))

    def stream(**kwargs):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt", messages=messages, stream=True, **kwargs
        )
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return raw.headers, chunks, text

    headers, chunks, text = stream()
    assert headers["x-polyroute-cache"] == "miss" and text == "one two three"
    headers, replayed, replayed_text = stream()
    assert headers["x-polyroute-cache"] == "hit"
    assert headers["content-type"].startswith("text/event-stream")
    assert replayed_text == "one two three"
    assert [c.model_dump() for c in replayed] == [c.model_dump() for c in chunks]
    headers, with_usage, _ = stream(stream_options={"include_usage": True})
    assert headers["x-polyroute-cache"] == "hit"
    assert with_usage[-1].usage.prompt_tokens == 9 and with_usage[-1].usage.completion_tokens == 3
    assert len(upstream.requests) == 1
    # A stored stream cannot answer a JSON request: that one goes upstream and replaces the
    # entry, whose JSON answer then serves a stream request as synthesised chunks.
    raw, answer = chat(client, messages)
    assert raw.headers["x-polyroute-cache"] == "miss"
    headers, _, text = stream()
    assert headers["x-polyroute-cache"] == "hit" and text == answer.choices[0].message.content
    assert len(upstream.requests) == 2


def test_no_cache_and_no_store(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    messages = question()
    upstream.script(Reply(text="first"), Reply(text="second"), Reply(text="third"))
    raw, _ = chat(client, messages, extra_body={"cache": {"no-store": True}})
    assert raw.headers["x-polyroute-cache"] == "miss"
    raw, answer = chat(client, messages)  # nothing was stored
    assert raw.headers["x-polyroute-cache"] == "miss" and answer.choices[0].message.content == "second"
    raw, answer = chat(client, messages, extra_body={"cache": {"no-cache": True}})
    assert raw.headers["x-polyroute-cache"] == "miss" and answer.choices[0].message.content == "third"
    raw, answer = chat(client, messages)  # no-cache still stored the fresh answer
    assert raw.headers["x-polyroute-cache"] == "hit" and answer.choices[0].message.content == "third"
    assert len(upstream.requests) == 3


def test_namespace_separates_entries(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    messages = question()
    chat(client, messages, extra_body={"cache": {"namespace": "a"}})
    raw, _ = chat(client, messages, extra_body={"cache": {"namespace": "b"}})
    assert raw.headers["x-polyroute-cache"] == "miss"
    raw, _ = chat(client, messages, extra_body={"cache": {"namespace": "a"}})
    assert raw.headers["x-polyroute-cache"] == "hit"


def test_bad_cache_control_is_a_400_naming_it(cached_gateway, upstream) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        chat(cached_gateway.client(), question(), extra_body={"cache": {"ttl": "soon"}})
    assert raised.value.body["param"] == "cache.ttl"
    assert not upstream.requests


def test_errors_are_not_cached(cached_gateway, upstream) -> None:
    from tests.fakes.base import Error

    client = cached_gateway.client()
    messages = question()
    upstream.script(Error(400, message="bad"))
    with pytest.raises(openai.BadRequestError):
        chat(client, messages)
    raw, _ = chat(client, messages)
    assert raw.headers["x-polyroute-cache"] == "miss"
    assert len(upstream.requests) == 2


def test_text_completions_are_cached(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    prompt = f"complete {uuid.uuid4().hex}"
    first = client.completions.with_raw_response.create(model="gpt", prompt=prompt, max_tokens=5)
    second = client.completions.with_raw_response.create(model="gpt", prompt=prompt, max_tokens=5)
    assert first.headers["x-polyroute-cache"] == "miss" and second.headers["x-polyroute-cache"] == "hit"
    assert second.parse().choices[0].text == first.parse().choices[0].text
    streamed = client.completions.create(model="gpt", prompt=prompt, max_tokens=5, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == first.parse().choices[0].text
    assert len(upstream.requests) == 1


def test_a_hit_uses_no_deployment_rpm_but_counts_the_keys(cached_gateway, upstream) -> None:
    admin = Admin(cached_gateway.url)
    client = cached_gateway.client(api_key=admin.new_key(rpm_limit=3)["key"])
    messages = question()
    for _ in range(3):  # the deployment allows 1 rpm: hits do not count against it
        client.chat.completions.create(model="one-rpm", messages=messages)
    assert len(upstream.requests) == 1
    with pytest.raises(openai.RateLimitError):  # the key's own rpm counts every request
        client.chat.completions.create(model="one-rpm", messages=messages)


def test_spend_row_of_a_hit(cached_gateway, upstream) -> None:
    admin = Admin(cached_gateway.url)
    alias = "spender-" + uuid.uuid4().hex[:8]
    made = admin.new_key(key_alias=alias)
    client = cached_gateway.client(api_key=made["key"])
    messages = question()
    upstream.script(Reply(prompt_tokens=1000, completion_tokens=500))
    chat(client, messages)
    chat(client, messages)
    rows = admin.wait_for_logs(2, api_key=made["key"])
    assert len(rows) == 2, rows
    miss, hit = sorted(rows, key=lambda r: r["spend"], reverse=True)
    expected = 1000 * PRICES["input_cost_per_token"] + 500 * PRICES["output_cost_per_token"]
    assert miss["spend"] == pytest.approx(expected)
    assert not miss["metadata"].get("cache_hit")
    assert hit["spend"] == 0
    assert hit["metadata"]["cache_hit"] is True
    assert hit["metadata"]["saved_cost"] == pytest.approx(expected)


def test_metrics_are_exported(cached_gateway, upstream) -> None:
    messages = question()
    chat(cached_gateway.client(), messages)
    chat(cached_gateway.client(), messages)  # a hit, whatever ran before
    text = httpx.get(
        cached_gateway.url + "/metrics", headers={"authorization": f"Bearer {cached_gateway.master_key}"}
    ).text
    assert 'polyroute_cache_requests_total{result="hit"}' in text
    assert "polyroute_cache_saved_usd_total" in text


def test_a_stream_broken_off_is_not_stored(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    messages = question()
    upstream.script(Reply(text="one two three four five", error_after=2))
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="gpt", messages=messages, stream=True):
            pass
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=messages, stream=True)
    list(raw.parse())
    assert raw.headers["x-polyroute-cache"] == "miss"
    assert len(upstream.requests) == 2


def test_an_answer_over_max_entry_bytes_goes_out_whole_and_is_not_stored(cached_gateway, upstream) -> None:
    client = cached_gateway.client()
    messages = question()
    big = "word " * (cached_gateway.state.cache.settings.max_entry_bytes // 5 + 10)
    upstream.script(Reply(text=big))
    _, answer = chat(client, messages)
    assert answer.choices[0].message.content == big
    raw, _ = chat(client, messages)
    assert raw.headers["x-polyroute-cache"] == "miss"


def test_a_replaced_entry_is_served_new_after_hits_of_the_old_one(cached_gateway, upstream) -> None:
    """Hits of the in-memory backend reuse the decoded entry while the backend holds the same
    bytes; a fresh answer stored over it (no-cache) is what the next hits serve."""
    client = cached_gateway.client()
    messages = question()
    upstream.script(Reply(text="old"), Reply(text="new"))
    chat(client, messages)
    for _ in range(2):
        raw, answer = chat(client, messages)
        assert raw.headers["x-polyroute-cache"] == "hit" and answer.choices[0].message.content == "old"
    raw, answer = chat(client, messages, extra_body={"cache": {"no-cache": True}})
    assert raw.headers["x-polyroute-cache"] == "miss" and answer.choices[0].message.content == "new"
    for _ in range(2):
        raw, answer = chat(client, messages)
        assert raw.headers["x-polyroute-cache"] == "hit" and answer.choices[0].message.content == "new"
    assert len(upstream.requests) == 2
