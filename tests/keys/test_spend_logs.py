"""Spend rows and costs for streamed and non-streamed requests on every provider, from the
providers' own usage figures (OpenAI's include_usage, Anthropic's cumulative deltas, Gemini's
usageMetadata); estimates only when a provider gave none, and flagged."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from polyroute.router.pricing import price_table
from tests.conftest import ALL_SECRETS, PROVIDER_MODELS
from tests.fakes.base import Reply
from tests.keys.conftest import Admin

MESSAGES = [{"role": "user", "content": "What is the answer?"}]
TABLE_MODEL = {
    "gpt-4o-mini": "gpt-4o-mini",
    "claude": "claude-sonnet-4-5",
    "gemini-flash": "gemini-2.5-flash",
}


def expected_cost(model: str, usage) -> float:
    """Independent arithmetic over the shipped table (azure's deployment name has no price)."""
    entry = price_table().get(TABLE_MODEL.get(model, ""), {})
    if not entry:
        return 0.0
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    reasoning = (
        (usage.completion_tokens_details.reasoning_tokens or 0) if usage.completion_tokens_details else 0
    )
    read = entry.get("cache_read_input_token_cost", entry["input_cost_per_token"])
    thinking = entry.get("output_cost_per_reasoning_token", entry["output_cost_per_token"])
    return (
        (usage.prompt_tokens - cached) * entry["input_cost_per_token"]
        + cached * read
        + (usage.completion_tokens - reasoning) * entry["output_cost_per_token"]
        + reasoning * thinking
    )


def fake(request, provider: str):
    return request.getfixturevalue(PROVIDER_MODELS[provider][1])


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_answer_cost_header_and_row(request, keys_gateway, admin: Admin, provider: str) -> None:
    model = PROVIDER_MODELS[provider][0]
    fake(request, provider).script(Reply(prompt_tokens=1200, completion_tokens=300, cached_tokens=200))
    made = admin.new_key(key_alias=f"cost-{provider}", team_id=None)
    raw = keys_gateway.client(api_key=made["key"]).chat.completions.with_raw_response.create(
        model=model, messages=MESSAGES
    )
    reply = raw.parse()
    cost = float(raw.headers["x-polyroute-response-cost"])
    assert cost == pytest.approx(expected_cost(model, reply.usage), rel=1e-9, abs=1e-15)
    assert raw.headers["x-litellm-response-cost"] == raw.headers["x-polyroute-response-cost"]
    (row,) = admin.wait_for_logs(1, api_key=made["key"])
    assert row["request_id"] == raw.headers["x-request-id"]
    assert row["spend"] == pytest.approx(cost, rel=1e-9, abs=1e-15)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
    )
    assert row["cached_tokens"] == 200 and row["usage_estimated"] is False
    assert row["api_key"] == made["token_id"] and row["key_alias"] == f"cost-{provider}"
    assert row["model_group"] == model and row["custom_llm_provider"] == raw.headers["x-polyroute-provider"]
    assert row["status"] == "success" and row["call_type"] == "chat_completion" and row["stream"] is False
    assert "messages" not in row  # prompts are kept only when the operator turns that on
    text = json.dumps(row)
    assert made["key"] not in text and not any(secret in text for secret in ALL_SECRETS)


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
def test_streams_are_billed_from_the_providers_usage(
    request, keys_gateway, admin: Admin, provider: str
) -> None:
    model = PROVIDER_MODELS[provider][0]
    upstream = fake(request, provider)
    upstream.script(
        Reply(text="one two three four", prompt_tokens=900, completion_tokens=40, reasoning_tokens=8)
    )
    made = admin.new_key()
    chunks = list(
        keys_gateway.client(api_key=made["key"]).chat.completions.create(
            model=model, messages=MESSAGES, stream=True
        )
    )
    # The client did not ask for usage: it gets none, though the gateway asked OpenAI for it.
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    if provider in ("openai", "azure"):
        assert upstream.requests[-1].json["stream_options"] == {"include_usage": True}
    (row,) = admin.wait_for_logs(1, api_key=made["key"])
    assert row["usage_estimated"] is False and row["stream"] is True and row["status"] == "success"
    # The Gemini fake counts thoughts beside candidates, as Gemini does; OpenAI's figure adds them.
    completion = 48 if provider == "gemini" else 40
    assert (
        row["prompt_tokens"] == 900
        and row["completion_tokens"] == completion
        and row["reasoning_tokens"] == 8
    )
    assert row["completionStartTime"] is not None
    price = price_table().get(TABLE_MODEL.get(model, ""))
    assert (row["spend"] > 0) == bool(price)


def test_a_stream_that_asked_for_usage_gets_one_usage_chunk(keys_gateway, admin: Admin, fake_openai) -> None:
    fake_openai.script(Reply(prompt_tokens=50, completion_tokens=5))
    key = admin.new_key()["key"]
    chunks = list(
        keys_gateway.client(api_key=key).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0].usage.prompt_tokens == 50


def test_a_stream_broken_off_is_billed_for_what_was_produced(keys_gateway, admin: Admin, fake_openai) -> None:
    fake_openai.script(Reply(text="w1 w2 w3 w4 w5 w6 w7 w8", drop_after=5))
    key = admin.new_key()["key"]
    with pytest.raises(openai.APIError):
        list(
            keys_gateway.client(api_key=key).chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            )
        )
    (row,) = admin.wait_for_logs(1, api_key=key)
    assert row["status"] == "failure" and row["usage_estimated"] is True
    assert row["completion_tokens"] == 4  # the content events that reached the client
    assert row["prompt_tokens"] > 0 and row["spend"] > 0


def test_a_client_that_leaves_mid_stream_is_billed_for_what_was_produced(
    keys_gateway, admin: Admin, fake_anthropic
) -> None:
    fake_anthropic.script(
        Reply(
            text=" ".join(f"w{i}" for i in range(40)),
            chunk_delay=0.05,
            prompt_tokens=1200,
            cached_tokens=200,
        )
    )
    key = admin.new_key()["key"]
    body = {"model": "claude", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST",
        keys_gateway.url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}"},
    ) as response:
        for line in response.iter_lines():
            if '"content":"w2' in line:
                break  # leave after a few words
    (row,) = admin.wait_for_logs(1, api_key=key)
    assert row["status"] == "cancelled" and row["http_status"] == 499
    # Anthropic reported the input and cache tokens at message_start: those are billed as
    # reported; only the output (the words sent before the client left) is estimated.
    assert (row["prompt_tokens"], row["cached_tokens"]) == (1200, 200)
    assert row["usage_estimated"] is True
    assert 3 <= row["completion_tokens"] < 40


def test_embeddings_and_legacy_completions_are_billed(keys_gateway, admin: Admin, fake_openai) -> None:
    key = admin.new_key()["key"]
    client = keys_gateway.client(api_key=key)
    client.embeddings.create(model="gpt-4o-mini", input=["a", "b"])
    fake_openai.script(Reply(prompt_tokens=20, completion_tokens=4))
    client.completions.create(model="gpt-4o-mini", prompt="Say", max_tokens=5)
    rows = admin.wait_for_logs(2, api_key=key)
    assert sorted(r["call_type"] for r in rows) == ["embeddings", "text_completion"]
    assert all(r["spend"] > 0 for r in rows)


def test_spend_reports(keys_gateway, admin: Admin, fake_openai) -> None:
    team = admin.ok("POST", "/team/new", team_alias="reports-team")["team_id"]
    made = admin.new_key(key_alias="reports-key", team_id=team)
    fake_openai.script(*[Reply(prompt_tokens=1000, completion_tokens=1000)] * 3)
    client = keys_gateway.client(api_key=made["key"])
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    rows = admin.wait_for_logs(3, api_key=made["key"])
    total = sum(r["spend"] for r in rows)
    assert total == pytest.approx(3 * (1000 * 1.5e-7 + 1000 * 6e-7))
    keys = admin.ok("GET", "/global/spend/keys", limit=1000)
    mine = next(k for k in keys if k["key_alias"] == "reports-key")
    assert mine["total_spend"] == pytest.approx(total) and mine["api_key"] == made["token_id"]
    teams = admin.ok("GET", "/global/spend/teams")
    assert {"team_id": "reports-team", "total_spend": pytest.approx(total)} in teams["total_spend_per_team"]
    models = admin.ok("GET", "/global/spend/models", limit=100)
    assert any(m["model"] == "gpt-4o-mini" and m["total_spend"] >= total for m in models)
    assert admin.ok("GET", "/global/spend")["spend"] >= total
    assert len(admin.logs(team_id=team)) == 3
    assert admin.logs(request_id=rows[0]["request_id"])[0]["request_id"] == rows[0]["request_id"]
    day = rows[0]["startTime"][:10]
    daily = admin.ok("GET", "/spend/logs", start_date=day, end_date=day, api_key=made["key"])
    assert daily[0]["startTime"] == day and daily[0]["spend"] == pytest.approx(total)
    assert daily[0][made["token_id"]] == pytest.approx(total)
    assert admin.get("/spend/logs", start_date="2026-13-01", end_date="2026-01-02").status_code == 400


def test_an_upstream_that_reports_no_usage_is_estimated_and_flagged(
    keys_gateway, admin: Admin, fake_openai
) -> None:
    """An OpenAI-compatible server that ignores include_usage (and answers without `usage`): the
    row is billed from an estimate and says so; the provider's figures are never invented."""

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-nousage",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": word}) for word in ("one ", "two ", "three ", "four ", "five")]
    events += [chunk({}, "stop"), b"data: [DONE]\n\n"]
    answer = {
        "id": "chatcmpl-nousage",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "one two"}, "finish_reason": "stop"}
        ],
    }
    fake_openai.script(Reply(raw_events=events), Reply(raw_body=json.dumps(answer).encode()))
    key = admin.new_key()["key"]
    client = keys_gateway.client(api_key=key)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four five"
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "one two"
    rows = {r["stream"]: r for r in admin.wait_for_logs(2, api_key=key)}
    for row in rows.values():
        assert row["status"] == "success" and row["usage_estimated"] is True
        assert row["prompt_tokens"] > 0 and row["spend"] > 0
    assert rows[True]["completion_tokens"] == 5  # the content events that reached the client
    assert rows[False]["completion_tokens"] == 2  # "one two": about four characters a token
    assert float(raw.headers["x-polyroute-response-cost"]) == pytest.approx(rows[False]["spend"])


def test_prompts_are_kept_only_when_the_operator_turns_that_on(
    fake_openai, fake_anthropic, fake_gemini, tmp_path
) -> None:
    from tests.gateway import GatewayServer
    from tests.keys.conftest import database_rows, keys_config

    config = keys_config(fake_openai, fake_anthropic, fake_gemini, store_prompts_in_spend_logs=True)
    env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
    with GatewayServer(config, tmp_path, env=env) as gateway:
        admin = Admin(gateway.url)
        key = admin.new_key()["key"]
        prompt = [{"role": "user", "content": "a prompt the operator wants to keep 7f3a"}]
        gateway.client(api_key=key).chat.completions.create(model="gpt-4o-mini", messages=prompt)
        (row,) = admin.wait_for_logs(1, api_key=key)
        assert row["messages"] == prompt
        assert "7f3a" in str(database_rows(gateway, "polyroute_spend_logs"))


def test_values_a_client_chooses_never_stop_the_spend_writer(keys_gateway, admin: Admin, fake_openai) -> None:
    """A 1,000-character `user`, a `user` with a NUL, an unknown 256-character model name and an
    upstream reporting more tokens than an SQL INTEGER holds: PostgreSQL would refuse such a row
    (and with it the key's spend). Each is bounded to its column, every row is written, and the
    writer never takes the database for down."""
    key = admin.new_key()["key"]
    client = keys_gateway.client(api_key=key)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="u" * 1000)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="nul\x00user")
    with pytest.raises(openai.NotFoundError):  # the longest name admission lets through
        client.chat.completions.create(model="m" * 256, messages=MESSAGES)
    with pytest.raises(openai.BadRequestError):  # longer names are refused before any row exists
        client.chat.completions.create(model="m" * 300, messages=MESSAGES)
    fake_openai.script(Reply(prompt_tokens=5_000_000_000, completion_tokens=3))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    after = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    rows = admin.wait_for_logs(5, api_key=key)
    assert len(rows) == 5 and after.headers["x-request-id"] in {r["request_id"] for r in rows}
    assert max(len(r["end_user"] or "") for r in rows) == 256
    assert "nuluser" in {r["end_user"] for r in rows}
    assert max(len(r["model_group"] or "") for r in rows) == 256  # the 404 has its row too
    assert max(r["prompt_tokens"] for r in rows) == 2**31 - 1
    assert keys_gateway.state.writer.stats.database_up and keys_gateway.state.writer.dropped == 0
