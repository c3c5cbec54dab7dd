"""A restart during a database outage: real PostgreSQL behind a loopback TCP proxy that is
stopped across the restart. The new process starts, serves the keys it knew from its
last-known-good snapshot (budgets still enforced), says so in readiness and a metric, and
catches up (schema, spooled spend rows) when the database returns."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.gateway import GatewayServer
from tests.keys.conftest import Admin, keys_config
from tests.observability.test_metrics import Scrape
from tests.serve_process import serve_process
from tests.store.databases import PG_HOST, PG_PORT, pg_database_sync, pg_url
from tests.store.tcp_proxy import TcpProxy

MESSAGES = [{"role": "user", "content": "hi"}]


def _wait_for(condition, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_restart_during_an_outage_serves_known_keys_and_catches_up(
    fake_openai, fake_anthropic, fake_gemini, tmp_path: Path
) -> None:
    with pg_database_sync() as direct, TcpProxy(PG_HOST, PG_PORT) as proxy:
        config = keys_config(fake_openai, fake_anthropic, fake_gemini, key_cache_ttl_s=0.5)
        config["general_settings"]["database_url"] = pg_url(direct.rsplit("/", 1)[1], proxy.port)
        env = {
            "TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef",
            "POLYROUTE_DATA_DIR": str(tmp_path / "data"),
        }
        with GatewayServer(config, tmp_path, env=env) as before:
            admin = Admin(before.url)
            known = admin.new_key(key_alias="known", max_budget=100.0)["key"]
            spent = admin.new_key(key_alias="spent", max_budget=0.001, spend=0.001)["key"]
            assert before.client(api_key=known).chat.completions.create(
                model="priced-mock", messages=MESSAGES
            )
            with pytest.raises(openai.BadRequestError):
                before.client(api_key=spent).chat.completions.create(model="priced-mock", messages=MESSAGES)
        snapshot = (tmp_path / "data" / "key-snapshot.json").read_bytes()
        assert known.encode() not in snapshot and spent.encode() not in snapshot  # hashes only

        proxy.stop()
        # The restart is a real `polyroute serve` process: it once exited 3 updating the schema.
        process, port = serve_process(
            ["--config", str(before.config_path)], {**env, "POLYROUTE_MASTER_KEY": ""}
        )
        url = f"http://127.0.0.1:{port}"
        try:
            admin = Admin(url)

            def client(key: str) -> openai.OpenAI:
                return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)

            for _ in range(3):
                assert client(known).chat.completions.create(model="priced-mock", messages=MESSAGES).choices
            with pytest.raises(openai.BadRequestError) as caught:  # its budget still holds
                client(spent).chat.completions.create(model="priced-mock", messages=MESSAGES)
            assert caught.value.code == "budget_exceeded"
            with pytest.raises(openai.InternalServerError) as caught:  # never seen: cannot be checked
                client("sk-never-seen-0000000000000000").chat.completions.create(
                    model="priced-mock", messages=MESSAGES
                )
            assert caught.value.status_code == 503
            assert "snapshot" in admin.ok("GET", "/health/readiness")["db"]
            assert Scrape(admin.http.get("/metrics").text).get("polyroute_started_without_database") == 1

            proxy.start()
            _wait_for(
                lambda: admin.ok("GET", "/health/readiness")["db"] == "connected (postgresql)",
                "the process did not catch up",
            )
            rows = admin.wait_for_logs(4, api_key=known)
            assert len(rows) == 4  # one from before, three spooled while the database was away
            assert Scrape(admin.http.get("/metrics").text).get("polyroute_started_without_database") == 0
        finally:
            process.terminate()
            process.wait(15)
