"""Budgets hold for requests that bring their own router config (user_config) or fall back:
their reservation is priced from the deployments that can really serve them, so 100 concurrent
user_config requests against a nearly spent budget overshoot it by at most one request's cost,
in process and on Redis. Through the openai SDK with `extra_body`, as LiteLLM clients send it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from polyroute.router.pricing import price_table
from tests.fakes.base import Reply
from tests.fakes.openai import FakeOpenAI
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin, keys_config

CLIENT_KEY = "sk-client-budget-key-7b6a5c4d3e2f10998877"
MESSAGES = [{"role": "user", "content": "hi"}]
MAX_TOKENS = 2000
# The fake reports these figures: the completion stays within max_tokens, as a provider's would.
USAGE = {"prompt_tokens": 10, "completion_tokens": 1000}


@pytest.fixture(scope="module")
def client_upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=CLIENT_KEY) as fake:
        yield fake


@pytest.fixture(params=["memory", "redis"])
def byok_gateway(
    request, fake_openai, fake_anthropic, fake_gemini, tmp_path: Path
) -> Iterator[GatewayServer]:
    config = keys_config(
        fake_openai,
        fake_anthropic,
        fake_gemini,
        allow_client_side_credentials=True,
        allowed_client_url_hosts=["127.0.0.1"],
    )
    if request.param == "redis":
        config["router_settings"].update({"redis_host": "127.0.0.1", "redis_port": 6379})
    env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
    with GatewayServer(config, tmp_path, env=env) as server:
        yield server


def user_config(upstream: FakeOpenAI) -> dict:
    return {
        "model_list": [
            {
                "model_name": "my-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",  # priced by the gateway's table
                    "api_key": CLIENT_KEY,
                    "api_base": upstream.url + "/v1",
                },
                # Token limits in a client's config do not shrink the reservation.
                "model_info": {"max_output_tokens": 1},
            }
        ],
        "num_retries": 0,
    }


async def test_hundred_concurrent_user_config_requests_overshoot_by_at_most_one(
    byok_gateway, client_upstream
) -> None:
    client_upstream.reset()
    client_upstream.default = Reply(**USAGE)
    admin = Admin(byok_gateway.url)
    extra = {"user_config": user_config(client_upstream)}
    entry = price_table()["gpt-4o-mini"]
    cost = (
        USAGE["prompt_tokens"] * entry["input_cost_per_token"]
        + USAGE["completion_tokens"] * entry["output_cost_per_token"]
    )

    probe = admin.new_key()["key"]
    raw = byok_gateway.client(api_key=probe).chat.completions.with_raw_response.create(
        model="my-mini", messages=MESSAGES, max_tokens=MAX_TOKENS, extra_body=extra
    )
    assert float(raw.headers["x-polyroute-response-cost"]) == pytest.approx(cost, rel=1e-9)

    budget = 0.01
    spent_before = budget - 2.5 * cost  # room for two and a half requests
    made = admin.new_key(max_budget=budget, spend=spent_before, key_alias=f"byok-{uuid.uuid4().hex[:6]}")
    client = byok_gateway.async_client(api_key=made["key"], timeout=90)

    async def call() -> str:
        try:
            await client.chat.completions.create(
                model="my-mini", messages=MESSAGES, max_tokens=MAX_TOKENS, extra_body=extra
            )
            return "ok"
        except openai.BadRequestError as exc:
            assert exc.code == "budget_exceeded", exc.message
            return "budget"

    outcomes = await asyncio.gather(*[call() for _ in range(100)])
    assert 1 <= outcomes.count("ok") <= 3, outcomes.count("ok")
    succeeded = outcomes.count("ok")
    while await call() == "ok":
        succeeded += 1
        assert succeeded < 10
    spent = spent_before + succeeded * cost
    assert budget <= spent + 1e-12 < budget + cost
    rows = admin.wait_for_logs(succeeded, api_key=made["key"])
    assert len(rows) == succeeded and all(r["model_group"] == "my-mini" for r in rows)
    assert abs(sum(r["spend"] for r in rows) - succeeded * cost) < 1e-12
    assert len(client_upstream.requests) == 1 + succeeded  # refused requests never left the gateway
