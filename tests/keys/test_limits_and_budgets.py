"""Limits and budgets of keys, teams and users, enforced on the request path (in-process state
and the real Redis): rpm, tpm, parallel requests, and budgets that 100 concurrent requests
overshoot by at most one request's cost."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import openai
import pytest

from tests.fakes.base import Reply
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin, keys_config
from tests.windows import clear_of_window_edge

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(params=["memory", "redis"])
def limits_gateway(request, fake_openai, fake_anthropic, fake_gemini, tmp_path: Path):
    config = keys_config(fake_openai, fake_anthropic, fake_gemini)
    if request.param == "redis":
        config["router_settings"].update({"redis_host": "127.0.0.1", "redis_port": 6379})
    env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
    with GatewayServer(config, tmp_path, env=env) as server:
        assert server.state.shared.backend == ("redis" if request.param == "redis" else "memory")
        yield server


def _call(gateway: GatewayServer, key: str, model: str = "mock-gpt") -> str:
    try:
        gateway.client(api_key=key).chat.completions.create(model=model, messages=MESSAGES, max_tokens=8)
        return "ok"
    except openai.RateLimitError as exc:
        assert int(exc.response.headers["retry-after"]) >= 1
        return "429"
    except openai.BadRequestError as exc:
        assert exc.code == "budget_exceeded" and exc.type == "budget_exceeded"
        return "budget"


def test_key_rpm_limit(limits_gateway) -> None:
    admin = Admin(limits_gateway.url)
    key = admin.new_key(rpm_limit=2)["key"]
    clear_of_window_edge()
    assert [_call(limits_gateway, key) for _ in range(4)] == ["ok", "ok", "429", "429"]


def test_team_rpm_limit_covers_all_its_keys(limits_gateway) -> None:
    admin = Admin(limits_gateway.url)
    team = admin.ok("POST", "/team/new", rpm_limit=3)["team_id"]
    keys = [admin.new_key(team_id=team)["key"] for _ in range(2)]
    clear_of_window_edge()
    outcomes = [_call(limits_gateway, keys[i % 2]) for i in range(6)]
    assert outcomes.count("ok") == 3 and outcomes[3:] == ["429"] * 3


def test_key_tpm_limit_counts_real_tokens(limits_gateway, fake_openai) -> None:
    admin = Admin(limits_gateway.url)
    key = admin.new_key(tpm_limit=100)["key"]
    clear_of_window_edge()
    fake_openai.default = Reply(prompt_tokens=30, completion_tokens=30)  # 60 real tokens each
    outcomes = [_call(limits_gateway, key, "gpt-4o-mini") for _ in range(3)]
    assert outcomes == ["ok", "ok", "429"]  # 60 + 60 reached 100; the estimate alone (~5) would not


async def test_max_parallel_requests(limits_gateway, fake_openai) -> None:
    admin = Admin(limits_gateway.url)
    key = admin.new_key(max_parallel_requests=1)["key"]
    fake_openai.script(Reply(ttfb=2.0), Reply(ttfb=0.1))
    client = limits_gateway.async_client(api_key=key)

    async def call() -> str:
        try:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            return "ok"
        except openai.RateLimitError as exc:
            assert exc.code == "max_parallel_requests"
            return "429"

    seen = len(fake_openai.requests)
    first = asyncio.ensure_future(call())
    for _ in range(200):  # until the first request holds its slot (it is upstream, answering in 2 s)
        if len(fake_openai.requests) > seen:
            break
        await asyncio.sleep(0.01)
    assert await call() == "429"
    assert await first == "ok"
    assert await call() == "ok"  # the slot was given back


async def test_hundred_concurrent_requests_overshoot_a_budget_by_at_most_one(limits_gateway) -> None:
    admin = Admin(limits_gateway.url)
    probe = admin.new_key()["key"]  # learn one request's exact cost from its header
    raw = limits_gateway.client(api_key=probe).chat.completions.with_raw_response.create(
        model="priced-mock", messages=MESSAGES, max_tokens=8
    )
    cost = float(raw.headers["x-polyroute-response-cost"])
    assert cost > 0 and raw.headers["x-litellm-response-cost"] == raw.headers["x-polyroute-response-cost"]

    budget = 1e-3
    spent_before = budget - 2.5 * cost  # room for two and a half requests
    made = admin.new_key(max_budget=budget, spend=spent_before, key_alias=f"budget-{uuid.uuid4().hex[:6]}")
    client = limits_gateway.async_client(api_key=made["key"], timeout=90)

    async def call() -> str:
        try:
            await client.chat.completions.create(model="priced-mock", messages=MESSAGES, max_tokens=8)
            return "ok"
        except openai.BadRequestError as exc:
            assert exc.code == "budget_exceeded"
            return "budget"

    outcomes = await asyncio.gather(*[call() for _ in range(100)])
    assert 1 <= outcomes.count("ok") <= 3
    # Keep going one at a time until the budget says no: spend ends within one request of it.
    succeeded = outcomes.count("ok")
    while await call() == "ok":
        succeeded += 1
        assert succeeded < 10
    spent = spent_before + succeeded * cost
    assert budget <= spent + 1e-12 < budget + cost
    rows = admin.wait_for_logs(succeeded, api_key=made["key"])
    assert len([r for r in rows if r["status"] == "success"]) == succeeded
    assert abs(sum(r["spend"] for r in rows) - succeeded * cost) < 1e-12
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the key's spend column follows once the batch is written
        if abs(admin.ok("GET", "/key/info", key=made["key"])["info"]["spend"] - spent) < 1e-9:
            break
        await asyncio.sleep(0.1)
    assert abs(admin.ok("GET", "/key/info", key=made["key"])["info"]["spend"] - spent) < 1e-9


def test_user_and_team_budgets_apply_to_their_keys(limits_gateway) -> None:
    admin = Admin(limits_gateway.url)
    user = f"u-{uuid.uuid4().hex[:6]}"
    admin.ok("POST", "/user/new", user_id=user, max_budget=0.0, auto_create_key=False)
    key = admin.new_key(user_id=user)["key"]
    assert _call(limits_gateway, key, "priced-mock") == "budget"
    team = admin.ok("POST", "/team/new", max_budget=0.0)["team_id"]
    assert _call(limits_gateway, admin.new_key(team_id=team)["key"], "priced-mock") == "budget"
    # Raising the team's budget reaches its keys within the key cache's TTL (here: at once).
    admin.ok("POST", "/team/update", team_id=team, max_budget=1.0)
    assert _call(limits_gateway, admin.new_key(team_id=team)["key"], "priced-mock") == "ok"


def test_refused_requests_give_back_what_they_took(limits_gateway) -> None:
    admin = Admin(limits_gateway.url)
    made = admin.new_key(rpm_limit=3, max_budget=0.0)
    clear_of_window_edge()
    assert [_call(limits_gateway, made["key"], "priced-mock") for _ in range(4)] == ["budget"] * 4
    admin.ok("POST", "/key/update", key=made["key"], max_budget=1.0)
    # The four refusals did not use up the rpm window.
    assert [_call(limits_gateway, made["key"], "priced-mock") for _ in range(4)] == ["ok", "ok", "ok", "429"]


def test_a_huge_max_tokens_is_served_not_a_server_error(limits_gateway) -> None:
    """max_tokens near 2**64 makes a reservation past what Redis's INCRBY holds: it was a 500 with
    a traceback per request on Redis. Now the request is answered and the budget keeps working."""
    admin = Admin(limits_gateway.url)
    key = admin.new_key(max_budget=10.0)["key"]
    client = limits_gateway.client(api_key=key)
    for max_tokens in (2**63 - 1, 2**64 - 1):
        try:
            reply = client.chat.completions.create(
                model="priced-mock", messages=MESSAGES, max_tokens=max_tokens
            )
            assert reply.choices
        except openai.BadRequestError as exc:  # refused naming the field is fine too; a 500 is not
            assert exc.body["param"] in ("max_tokens", "max_completion_tokens")
    assert client.chat.completions.create(model="priced-mock", messages=MESSAGES, max_tokens=8).choices
