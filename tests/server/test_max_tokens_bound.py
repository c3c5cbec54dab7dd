"""A request's max_tokens / max_completion_tokens above the model's declared maximum output
(model_info.max_output_tokens or max_tokens, else the shipped price table's) is clamped to it
before it reaches the upstream (1,000,000,000 used to be forwarded as is), or refused with a 400
naming the field under general_settings.max_tokens_over_limit: reject; a key's budget
reservation counts the clamped value. Through the openai SDK against the fake OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, OPENAI_KEY
from tests.fakes.base import Reply
from tests.gateway import GatewayServer

HUGE = 1_000_000_000
MESSAGES = [{"role": "user", "content": "hi"}]
SMALL_PRICES = {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-5}


def bound_config(openai_url: str, **general: Any) -> dict[str, Any]:
    def model(name: str, model_id: str, **info: Any) -> dict[str, Any]:
        params = {"model": model_id, "api_base": openai_url + "/v1", "api_key": OPENAI_KEY}
        return {"model_name": name, "litellm_params": params, "model_info": info}

    return {
        "model_list": [
            model("small", "openai/gpt-4o-mini", max_output_tokens=100, **SMALL_PRICES),
            model("legacy-small", "openai/gpt-4o-mini", max_tokens=50),  # LiteLLM's older field
            model("tabled", "openai/gpt-4o"),  # the shipped table says 16384
            model("undeclared", "openai/some-self-hosted-model"),
        ],
        "general_settings": {"master_key": MASTER_KEY, "allowed_client_url_hosts": ["127.0.0.1"], **general},
    }


@pytest.fixture(scope="module")
def clamping(fake_openai, tmp_path_factory) -> Iterator[GatewayServer]:
    with GatewayServer(bound_config(fake_openai.url), Path(tmp_path_factory.mktemp("clamp"))) as server:
        yield server


@pytest.fixture(scope="module")
def rejecting(fake_openai, tmp_path_factory) -> Iterator[GatewayServer]:
    config = bound_config(fake_openai.url, max_tokens_over_limit="reject")
    with GatewayServer(config, Path(tmp_path_factory.mktemp("reject"))) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(fake_openai) -> None:
    fake_openai.reset()


@pytest.mark.parametrize(
    ("model", "field", "asked", "sent"),
    [
        ("small", "max_tokens", HUGE, 100),
        ("small", "max_completion_tokens", HUGE, 100),
        ("legacy-small", "max_tokens", HUGE, 50),
        ("tabled", "max_tokens", HUGE, 16384),
        ("small", "max_tokens", 60, 60),  # within the bound: unchanged
        ("undeclared", "max_tokens", HUGE, HUGE),  # nothing declared: nothing to clamp to
    ],
)
def test_the_upstream_receives_the_clamped_value(clamping, fake_openai, model, field, asked, sent) -> None:
    reply = clamping.client().chat.completions.create(model=model, messages=MESSAGES, **{field: asked})
    assert reply.choices
    [seen] = fake_openai.requests
    assert seen.json[field] == sent


def test_streams_and_legacy_completions_are_clamped_too(clamping, fake_openai) -> None:
    client = clamping.client()
    chunks = list(
        client.chat.completions.create(model="small", messages=MESSAGES, max_tokens=HUGE, stream=True)
    )
    assert chunks
    assert client.completions.create(model="small", prompt="hi", max_tokens=HUGE).choices
    assert [r.json["max_tokens"] for r in fake_openai.requests] == [100, 100]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_reject_mode_answers_400_naming_the_field(rejecting, fake_openai, field) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        rejecting.client().chat.completions.create(model="small", messages=MESSAGES, **{field: HUGE})
    error = caught.value.body
    assert error["param"] == field and "maximum output of model 'small' (100 tokens)" in error["message"]
    assert fake_openai.requests == []
    # Within the bound, the request runs unchanged.
    assert (
        rejecting.client().chat.completions.create(model="small", messages=MESSAGES, **{field: 100}).choices
    )
    assert fake_openai.requests[0].json[field] == 100


def _key_with_budget(server: GatewayServer, budget: float) -> str:
    made = httpx.post(
        server.url + "/key/generate",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"max_budget": budget},
        timeout=20,
    )
    assert made.status_code == 200, made.text
    return made.json()["key"]


@pytest.mark.parametrize(("budget", "second_admitted"), [(0.002, True), (0.0008, False)])
def test_the_budget_reservation_counts_the_clamped_value(
    clamping, fake_openai, budget, second_admitted
) -> None:
    """A stalled stream holds its reservation; a second request on the same key is admitted while
    spend plus reservations is under the budget. The clamped reservation (100 output tokens at
    1e-5 USD, about 0.001 USD) leaves room under 0.002 USD and none under 0.0008 USD; the
    unclamped one (10,000 USD) would leave none under either."""
    client = clamping.client(api_key=_key_with_budget(clamping, budget))
    fake_openai.script(Reply(text="one two three", stall_after=1))
    held = client.chat.completions.create(model="small", messages=MESSAGES, max_tokens=HUGE, stream=True)
    try:
        assert next(iter(held)).choices  # admitted, reservation taken, upstream stalled
        assert fake_openai.requests[0].json["max_tokens"] == 100
        if second_admitted:
            assert client.chat.completions.create(model="small", messages=MESSAGES, max_tokens=HUGE).choices
        else:
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(model="small", messages=MESSAGES, max_tokens=HUGE)
            assert caught.value.body["type"] == "budget_exceeded"
    finally:
        held.close()
    assert len(fake_openai.requests) == (2 if second_admitted else 1)


def test_a_user_config_cannot_declare_a_larger_maximum_than_the_table(clamping, fake_openai) -> None:
    """A request's own user_config may lower its model's maximum output, never raise it above
    the shipped table's (the bound its budget reservation counts)."""

    def user_config(max_output: int) -> dict[str, Any]:
        params = {"model": "openai/gpt-4o", "api_base": fake_openai.url + "/v1", "api_key": OPENAI_KEY}
        entry = {
            "model_name": "mine",
            "litellm_params": params,
            "model_info": {"max_output_tokens": max_output},
        }
        return {"model_list": [entry]}

    client = clamping.client()
    for declared, sent in ((HUGE, 16384), (50, 50)):
        extra = {"user_config": user_config(declared)}
        assert client.chat.completions.create(
            model="mine", messages=MESSAGES, max_tokens=HUGE, extra_body=extra
        )
        assert fake_openai.requests[-1].json["max_tokens"] == sent
