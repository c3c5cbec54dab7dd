"""Provider prompt caching: cache writes and reads priced from the model cost map's
cache_creation_input_token_cost / cache_read_input_token_cost, and LiteLLM's
`cache_control_injection_points` adding Anthropic breakpoints the client did not send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from polyroute.config.loader import ConfigError, load_config
from polyroute.providers.anthropic.cache_points import check_points, inject_cache_points
from tests.conftest import ANTHROPIC_KEY, MASTER_KEY, OPENAI_KEY
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import Reply
from tests.gateway import GatewayServer

PRICES = {
    "input_cost_per_token": 3e-6,
    "output_cost_per_token": 15e-6,
    "cache_read_input_token_cost": 3e-7,
    "cache_creation_input_token_cost": 3.75e-6,
}
LONG_SYSTEM = "You are a careful legal assistant. " * 300
EPHEMERAL = {"type": "ephemeral"}


def test_inject_on_every_system_message_and_by_index() -> None:
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]
    out = inject_cache_points(messages, [{"location": "message", "role": "system"}])
    assert out[0]["content"] == [{"type": "text", "text": "sys", "cache_control": EPHEMERAL}]
    assert messages[0]["content"] == "sys"  # the client's own messages are untouched
    out = inject_cache_points(
        messages, [{"location": "message", "index": -1, "control": {"type": "ephemeral", "ttl": "1h"}}]
    )
    assert out[1]["content"][1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert "cache_control" not in out[1]["content"][0]
    assert inject_cache_points(messages, [{"location": "message", "index": 7}]) == messages


def test_never_more_than_four_breakpoints() -> None:
    messages = [{"role": "user", "content": f"m{i}"} for i in range(6)]
    out = inject_cache_points(messages, [{"location": "message", "role": "user"}])
    assert sum(isinstance(m["content"], list) for m in out) == 4


@pytest.mark.parametrize(
    "points",
    [
        [],
        [{"location": "tools"}],
        [{"location": "message"}],
        [{"location": "message", "role": "boss"}],
        [{"location": "message", "index": "last"}],
        [{"location": "message", "role": "system", "control": {"type": "x"}}],
    ],
)
def test_bad_points_are_refused(points) -> None:
    with pytest.raises(ValueError, match="cache_control_injection_points"):
        check_points(points)


@pytest.fixture(scope="module")
def anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


def config(anthropic_url: str, **params) -> dict:
    return {
        "model_list": [
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": anthropic_url,
                    "api_key": ANTHROPIC_KEY,
                    **params,
                },
                "model_info": PRICES,
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="module")
def gateway(anthropic, tmp_path_factory) -> Iterator[GatewayServer]:
    points = [{"location": "message", "role": "system"}]
    with GatewayServer(
        config(anthropic.url, cache_control_injection_points=points), Path(tmp_path_factory.mktemp("pc"))
    ) as server:
        yield server


def test_breakpoint_reaches_anthropic_and_writes_then_reads_are_priced(gateway, anthropic) -> None:
    anthropic.reset()
    usage = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 0,
        "output_tokens": 20,
    }
    read = {**usage, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3000}
    anthropic.script(Reply(text="ok", extra={"usage": usage}), Reply(text="ok", extra={"usage": read}))
    client = gateway.client()
    messages = [
        {"role": "system", "content": LONG_SYSTEM},
        {"role": "user", "content": "Summarise clause 4."},
    ]
    write_raw = client.chat.completions.with_raw_response.create(model="claude", messages=messages)
    sent = anthropic.requests[-1].json
    assert sent["system"] == [{"type": "text", "text": LONG_SYSTEM, "cache_control": EPHEMERAL}]
    assert "cache_control" not in str(sent["messages"])
    answer = write_raw.parse()
    assert answer.usage.prompt_tokens == 3050
    expected_write = 50 * 3e-6 + 3000 * 3.75e-6 + 20 * 15e-6
    assert float(write_raw.headers["x-polyroute-response-cost"]) == pytest.approx(expected_write)
    read_raw = client.chat.completions.with_raw_response.create(model="claude", messages=messages)
    assert read_raw.parse().usage.prompt_tokens_details.cached_tokens == 3000
    expected_read = 50 * 3e-6 + 3000 * 3e-7 + 20 * 15e-6
    assert float(read_raw.headers["x-polyroute-response-cost"]) == pytest.approx(expected_read)


def test_openai_cached_tokens_priced_at_the_read_price(tmp_path) -> None:
    from tests.fakes.openai import FakeOpenAI

    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        entry = {
            "model_name": "gpt",
            "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.url + "/v1", "api_key": OPENAI_KEY},
            "model_info": PRICES,
        }
        with GatewayServer(
            {"model_list": [entry], "general_settings": {"master_key": MASTER_KEY}}, tmp_path
        ) as gw:
            fake.script(Reply(prompt_tokens=2000, completion_tokens=10, cached_tokens=1500))
            raw = gw.client().chat.completions.with_raw_response.create(
                model="gpt", messages=[{"role": "user", "content": "hi"}]
            )
    expected = 500 * 3e-6 + 1500 * 3e-7 + 10 * 15e-6
    assert float(raw.headers["x-polyroute-response-cost"]) == pytest.approx(expected)


def test_points_checked_at_start_up_and_named_for_other_providers(tmp_path, anthropic) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(config(anthropic.url, cache_control_injection_points=[{"location": "nowhere"}]))
    )
    with pytest.raises(ConfigError, match="cache_control_injection_points"):
        load_config(path, {})
    other = config(anthropic.url)
    other["model_list"].append(
        {
            "model_name": "gpt",
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_key": OPENAI_KEY,
                "cache_control_injection_points": [{"location": "message", "role": "system"}],
            },
        }
    )
    path.write_text(yaml.safe_dump(other))
    loaded = load_config(path, {})
    assert any("model_list[1].litellm_params.cache_control_injection_points" in w for w in loaded.warnings)
