"""Issue 13: a per-request `mock_response` on a real model let a $1-budget key spend $5 in one
request (the mocked answer was as long as the request made it). Allowed by the operator, it is
now cut at the model's maximum output and billed at the model's prices, so it stays within what
the key's budget reservation counted."""

from __future__ import annotations

import pytest

from tests.gateway import GatewayServer
from tests.keys.conftest import Admin, keys_config

MESSAGES = [{"role": "user", "content": "hello"}]
GPT_4O = {"input": 2.5e-6, "output": 1e-5}  # the shipped table's prices for gpt-4o


@pytest.fixture
def gateway(fake_openai, fake_anthropic, fake_gemini, tmp_path):
    config = keys_config(fake_openai, fake_anthropic, fake_gemini, allow_client_mock_response=True)
    config["model_list"].append(
        {
            "model_name": "real-small",
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_base": fake_openai.url + "/v1",
                "api_key": "os.environ/TEST_OPENAI_KEY",
            },
            "model_info": {"max_output_tokens": 50},
        }
    )
    env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
    with GatewayServer(config, tmp_path, env=env) as server:
        yield server


def test_a_mocked_answer_on_a_real_model_stays_within_the_keys_budget(gateway, fake_openai):
    admin = Admin(gateway.url)
    key = admin.new_key(max_budget=0.01, models=["real-small"])["key"]
    fake_openai.reset()
    raw = gateway.client(api_key=key).chat.completions.with_raw_response.create(
        model="real-small", messages=MESSAGES, n=4, extra_body={"mock_response": "word " * 20_000}
    )
    usage = raw.parse().usage
    assert usage.completion_tokens == 4 * 50  # not 4 x 20,000
    cost = float(raw.headers["x-polyroute-response-cost"])
    assert cost == pytest.approx(usage.prompt_tokens * GPT_4O["input"] + 200 * GPT_4O["output"], rel=1e-3)
    assert cost < 0.01
    rows = admin.wait_for_logs(1, api_key=key)
    assert rows[0]["spend"] == pytest.approx(cost, rel=1e-6)
    assert fake_openai.requests == []  # mocked: the upstream was never called
