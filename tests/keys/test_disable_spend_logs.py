"""`disable_spend_logs: true` writes no spend rows, but budgets still hold: the key's spend grows
in the database, so /key/info shows it and a restarted gateway (fresh in-process counters) still
refuses a key whose budget is spent."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.gateway import GatewayServer
from tests.keys.conftest import Admin, database_rows, keys_config

MESSAGES = [{"role": "user", "content": "hi"}]


def test_no_rows_but_spend_is_kept_and_budgets_survive_a_restart(
    fake_openai, fake_anthropic, fake_gemini, tmp_path: Path
) -> None:
    config = keys_config(fake_openai, fake_anthropic, fake_gemini, disable_spend_logs=True)
    env = {
        "TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef",
        "POLYROUTE_DATA_DIR": str(tmp_path / "data"),
    }
    with GatewayServer(config, tmp_path, env=env) as gateway:
        admin = Admin(gateway.url)
        made = admin.new_key(key_alias="quiet", max_budget=1e-9)
        client = gateway.client(api_key=made["key"])
        raw = client.chat.completions.with_raw_response.create(model="priced-mock", messages=MESSAGES)
        cost = float(raw.headers["x-polyroute-response-cost"])
        assert cost > 1e-9
        deadline = time.monotonic() + 10
        while (spend := admin.ok("GET", "/key/info", key=made["key"])["info"]["spend"]) < cost:
            assert time.monotonic() < deadline, "the key's spend never grew"
            time.sleep(0.05)
        assert spend == pytest.approx(cost, rel=1e-9)
        assert admin.logs(api_key=made["key"]) == []
        assert database_rows(gateway, "polyroute_spend_logs") == []

    # A new process: its budget counters start empty and are seeded from the database's spend.
    with GatewayServer(config, tmp_path, env=env) as restarted:
        with pytest.raises(openai.BadRequestError) as caught:
            restarted.client(api_key=made["key"]).chat.completions.create(
                model="priced-mock", messages=MESSAGES
            )
        assert caught.value.code == "budget_exceeded"
        assert database_rows(restarted, "polyroute_spend_logs") == []
