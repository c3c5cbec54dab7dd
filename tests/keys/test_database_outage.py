"""The database taken away under a serving gateway (a loopback TCP proxy in front of the real
PostgreSQL is stopped, then started again): requests keep flowing with known keys, spend rows
are spooled on disk and written when it returns, each exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from tests.gateway import GatewayServer
from tests.keys.conftest import Admin, keys_config
from tests.store.databases import PG_HOST, PG_PORT, pg_database_sync, pg_url
from tests.store.tcp_proxy import TcpProxy

MESSAGES = [{"role": "user", "content": "hi"}]


def test_database_down_and_back_nothing_lost_nothing_twice(
    fake_openai, fake_anthropic, fake_gemini, tmp_path: Path
) -> None:
    with pg_database_sync() as direct, TcpProxy(PG_HOST, PG_PORT) as proxy:
        config = keys_config(fake_openai, fake_anthropic, fake_gemini, key_cache_ttl_s=0.5)
        config["general_settings"]["database_url"] = pg_url(direct.rsplit("/", 1)[1], proxy.port)
        env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
        with GatewayServer(config, tmp_path, env=env) as gateway:
            admin = Admin(gateway.url)
            made = admin.new_key(key_alias="outage", max_budget=100.0)
            client = gateway.client(api_key=made["key"])
            for _ in range(5):
                client.chat.completions.create(model="priced-mock", messages=MESSAGES)
            assert len(admin.wait_for_logs(5, api_key=made["key"])) == 5

            proxy.stop()
            writer = gateway.state.writer
            for _ in range(20):  # the key is known: served from the cache although its entry goes stale
                client.chat.completions.create(model="priced-mock", messages=MESSAGES)
                client.chat.completions.create(model="priced-mock", messages=MESSAGES, stream=True)
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while writer.stats.spooled < 40 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not writer.stats.database_up and writer.stats.spooled == 40
            assert writer.spool.size() > 0
            readiness = admin.ok("GET", "/health/readiness")
            assert readiness["db"].startswith("unreachable")
            # An unknown key cannot be checked now: a clear 503, not a wrong 401.
            with pytest.raises(openai.InternalServerError) as caught:
                gateway.client(api_key="sk-never-seen-before-000000000000").chat.completions.create(
                    model="priced-mock", messages=MESSAGES
                )
            assert caught.value.status_code == 503 and caught.value.code == "key_store_unavailable"

            proxy.start()
            rows = admin.wait_for_logs(45, api_key=made["key"])
            assert len(rows) == 45 and len({r["request_id"] for r in rows}) == 45
            assert writer.stats.replayed == 40 and writer.dropped == 0 and writer.spool.size() == 0
            assert admin.ok("GET", "/health/readiness")["db"] == "connected (postgresql)"
            expected = sum(r["spend"] for r in rows)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                spend = admin.ok("GET", "/key/info", key=made["key"])["info"]["spend"]
                if abs(spend - expected) < 1e-9:
                    break
                time.sleep(0.1)
            assert spend == pytest.approx(expected, abs=1e-12)


def test_what_the_spool_cannot_hold_is_counted_in_the_metrics(
    fake_openai, fake_anthropic, fake_gemini, tmp_path: Path
) -> None:
    """A spool bounded to a few rows: requests still flow while the database is away, the rows
    that do not fit are dropped and counted (polyroute_spend_records_total{outcome="dropped"}),
    and the ones kept are written once when it returns."""
    from tests.observability.test_metrics import Scrape

    with pg_database_sync() as direct, TcpProxy(PG_HOST, PG_PORT) as proxy:
        config = keys_config(
            fake_openai, fake_anthropic, fake_gemini, spend_logs_spool_max_mb=0.003, key_cache_ttl_s=30
        )
        config["general_settings"]["database_url"] = pg_url(direct.rsplit("/", 1)[1], proxy.port)
        env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
        with GatewayServer(config, tmp_path, env=env) as gateway:
            admin = Admin(gateway.url)
            made = admin.new_key(key_alias="spool-full")
            client = gateway.client(api_key=made["key"])
            client.chat.completions.create(model="priced-mock", messages=MESSAGES)  # the key is cached
            assert len(admin.wait_for_logs(1, api_key=made["key"])) == 1

            def scrape() -> Scrape:
                return Scrape(admin.http.get("/metrics").text)

            before = scrape()
            assert before.get("polyroute_spend_records_total", outcome="dropped") == 0
            proxy.stop()
            writer = gateway.state.writer
            for _ in range(30):
                assert client.chat.completions.create(model="priced-mock", messages=MESSAGES).choices
            deadline = time.monotonic() + 15
            while writer.stats.spooled + writer.dropped < 30 and time.monotonic() < deadline:
                time.sleep(0.05)
            kept, dropped = writer.stats.spooled, writer.dropped
            assert kept + dropped == 30 and kept >= 1 and dropped >= 1
            assert writer.spool.size() <= 0.003 * 1024 * 1024
            during = scrape()
            assert during.get("polyroute_spend_records_total", outcome="dropped") == dropped
            assert during.get("polyroute_spend_records_total", outcome="spooled") == kept
            assert during.get("polyroute_spend_spool_bytes") == writer.spool.size() > 0
            assert during.get("polyroute_database_up") == 0

            proxy.start()
            rows = admin.wait_for_logs(1 + kept, api_key=made["key"])
            assert len(rows) == len({r["request_id"] for r in rows}) == 1 + kept
            # The rows are visible once committed; the writer counts them just after the commit.
            deadline = time.monotonic() + 10
            after = scrape()
            while after.get("polyroute_spend_records_total", outcome="replayed") != kept:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
                after = scrape()
            assert after.get("polyroute_spend_records_total", outcome="replayed") == kept
            assert after.get("polyroute_spend_records_total", outcome="dropped") == dropped
            assert after.get("polyroute_database_up") == 1


def test_admin_routes_answer_503_in_openai_shape_while_the_database_is_away(
    fake_openai, fake_anthropic, fake_gemini, tmp_path: Path
) -> None:
    with pg_database_sync() as direct, TcpProxy(PG_HOST, PG_PORT) as proxy:
        config = keys_config(fake_openai, fake_anthropic, fake_gemini)
        config["general_settings"]["database_url"] = pg_url(direct.rsplit("/", 1)[1], proxy.port)
        with GatewayServer(config, tmp_path, env={"TEST_OPENAI_KEY": "sk-x-0123456789"}) as gateway:
            admin = Admin(gateway.url)
            admin.new_key(key_alias="before-the-outage")
            proxy.stop()
            for method, path, body in (
                ("GET", "/key/list", None),
                ("POST", "/key/generate", {"key_alias": "during-the-outage"}),
                ("GET", "/spend/logs", None),
            ):
                response = admin.post(path, **body) if method == "POST" else admin.get(path)
                assert response.status_code == 503, (path, response.text)
                error = response.json()["error"]
                assert error["code"] == "database_unavailable" and error["request_id"]
                assert response.headers["retry-after"] and response.headers["x-request-id"]
                assert str(proxy.port) not in response.text  # nothing of the database's address
            proxy.start()
            assert admin.ok("GET", "/key/list", key_alias="before-the-outage")["total_count"] == 1
