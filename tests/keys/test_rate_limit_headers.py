"""Rate-limit headers as OpenAI's and LiteLLM's clients read them: the caller's own key limits as
x-ratelimit-{limit,remaining,reset}-{requests,tokens}, and the provider's rate-limit headers with
LiteLLM's llm_provider- prefix (bounded, sanitised), in process and on the real Redis."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import openai
import pytest

from polyroute.protocol.rate_limit_headers import MAX_PROVIDER_HEADERS, duration, provider_limit_headers
from tests.fakes.base import Reply
from tests.gateway import GatewayServer
from tests.keys.conftest import Admin, keys_config
from tests.windows import clear_of_window_edge

MESSAGES = [{"role": "user", "content": "hi"}]
RESET = re.compile(r"^(\d+ms|\d+(\.\d+)?s|\d+m\d+s)$")
PROVIDER_HEADERS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9998",
    "x-ratelimit-reset-requests": "6m0s",
    "anthropic-ratelimit-tokens-remaining": "77",
    "x-ratelimit-sneaky": "<script>alert(1)</script>",  # not a number, duration or date: dropped
    "set-cookie": "session=stolen",  # not a rate-limit header: never passed on
}


@pytest.fixture(params=["memory", "redis"])
def limits_gateway(request, fake_openai, fake_anthropic, fake_gemini, tmp_path: Path):
    config = keys_config(fake_openai, fake_anthropic, fake_gemini)
    if request.param == "redis":
        config["router_settings"].update({"redis_host": "127.0.0.1", "redis_port": 6379})
    env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
    with GatewayServer(config, tmp_path, env=env) as server:
        yield server


def _headers(client: openai.OpenAI, model: str = "mock-gpt", stream: bool = False) -> dict[str, str]:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, stream=stream)
    if stream:
        list(raw.parse())  # read the stream to its end
    return {k.lower(): v for k, v in raw.headers.items()}


def test_the_callers_own_limits_count_down(limits_gateway) -> None:
    admin = Admin(limits_gateway.url)
    team = admin.ok("POST", "/team/new", rpm_limit=3)["team_id"]  # tighter than the key's 5
    key = admin.new_key(team_id=team, rpm_limit=5, tpm_limit=10_000)["key"]
    client = limits_gateway.client(api_key=key)
    clear_of_window_edge()
    first, second = _headers(client), _headers(client, stream=True)
    assert first["x-ratelimit-limit-requests"] == "3" and first["x-ratelimit-remaining-requests"] == "2"
    assert second["x-ratelimit-remaining-requests"] == "1"  # streams carry them too
    assert first["x-ratelimit-limit-tokens"] == "10000"
    assert 0 < int(first["x-ratelimit-remaining-tokens"]) < 10_000
    assert RESET.match(first["x-ratelimit-reset-requests"]) and RESET.match(first["x-ratelimit-reset-tokens"])
    _headers(client)
    with pytest.raises(openai.RateLimitError) as refused:
        _headers(client)
    headers = refused.value.response.headers
    assert headers["x-ratelimit-remaining-requests"] == "0" and headers["x-ratelimit-limit-requests"] == "3"
    assert RESET.match(headers["x-ratelimit-reset-requests"])


def test_a_key_without_limits_gets_no_own_headers(limits_gateway) -> None:
    key = Admin(limits_gateway.url).new_key()["key"]
    headers = _headers(limits_gateway.client(api_key=key))
    assert not [name for name in headers if name.startswith("x-ratelimit-")]


@pytest.mark.parametrize("stream", [False, True])
def test_the_providers_rate_limit_headers_are_passed_on_prefixed(limits_gateway, fake_openai, stream) -> None:
    admin = Admin(limits_gateway.url)
    fake_openai.default = Reply(headers=PROVIDER_HEADERS)
    plain = _headers(limits_gateway.client(api_key=admin.new_key()["key"]), "gpt-4o-mini", stream)
    assert plain["llm_provider-x-ratelimit-remaining-requests"] == "9998"
    assert plain["llm_provider-x-ratelimit-reset-requests"] == "6m0s"
    assert plain["llm_provider-anthropic-ratelimit-tokens-remaining"] == "77"
    assert plain["x-ratelimit-remaining-tokens"] == "77"  # Anthropic's, in OpenAI's name
    # Without limits of its own, the caller sees the provider's OpenAI-format headers (LiteLLM's rule).
    assert plain["x-ratelimit-remaining-requests"] == "9998"
    assert "llm_provider-x-ratelimit-sneaky" not in plain and "x-ratelimit-sneaky" not in plain
    assert "set-cookie" not in plain and "llm_provider-set-cookie" not in plain
    clear_of_window_edge()
    limited = _headers(
        limits_gateway.client(api_key=admin.new_key(rpm_limit=50)["key"]), "gpt-4o-mini", stream
    )
    assert limited["x-ratelimit-remaining-requests"] == "49"  # the caller's own limit wins
    assert limited["x-ratelimit-limit-requests"] == "50"
    assert limited["llm_provider-x-ratelimit-remaining-requests"] == "9998"


def test_provider_headers_are_bounded_and_shaped() -> None:
    flood = {f"x-ratelimit-custom-{i}": str(i) for i in range(100)}
    assert len(provider_limit_headers(flood)) == 2 * MAX_PROVIDER_HEADERS  # prefixed and plain copies
    assert provider_limit_headers({"x-ratelimit-limit-requests": "1" * 65}) == {}
    assert provider_limit_headers({"X-RateLimit-Limit-Requests": " 60 "}) == {
        "llm_provider-x-ratelimit-limit-requests": "60",
        "x-ratelimit-limit-requests": "60",
    }
    own = [(b"x-ratelimit-limit-requests", b"5")]
    assert provider_limit_headers({"x-ratelimit-limit-requests": "60"}, own) == {
        "llm_provider-x-ratelimit-limit-requests": "60"
    }


def test_anthropic_headers_are_standardised_to_openais_names() -> None:
    reset_at = datetime.fromtimestamp(time.time() + 90, UTC).isoformat().replace("+00:00", "Z")
    out = provider_limit_headers(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": reset_at,
            "anthropic-ratelimit-tokens-reset": "not a date",
        }
    )
    assert out["x-ratelimit-limit-requests"] == "50" and out["x-ratelimit-remaining-requests"] == "49"
    assert out["llm_provider-anthropic-ratelimit-requests-reset"] == reset_at
    assert re.fullmatch(r"1m(29|30)s", out["x-ratelimit-reset-requests"])
    assert "x-ratelimit-reset-tokens" not in out
    # An upstream's own OpenAI-format header wins over the renamed one.
    both = provider_limit_headers(
        {"x-ratelimit-limit-requests": "7", "anthropic-ratelimit-requests-limit": "50"}
    )
    assert both["x-ratelimit-limit-requests"] == "7"


def test_reset_durations_read_as_openais() -> None:
    assert [duration(s) for s in (0.25, 1, 1.5, 59.9999, 60, 360.4)] == [
        "250ms",
        "1s",
        "1.5s",
        "60s",
        "1m0s",
        "6m0s",
    ]
