"""Gateways with keys and budgets: the real app on loopback over the fake upstreams, with a
SQLite or a fresh PostgreSQL database, and in-process or Redis shared state."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY, gateway_config
from tests.gateway import GatewayServer
from tests.store.databases import pg_database_sync

# The mock answers with a fixed text; these prices make every request cost the same, known amount.
MOCK_PRICES = {"input_cost_per_token": 1e-5, "output_cost_per_token": 2e-5}


def keys_config(fake_openai, fake_anthropic, fake_gemini, **general: Any) -> dict[str, Any]:
    config = gateway_config(fake_openai.url, fake_anthropic.url, fake_gemini.url)
    config["model_list"].append(
        {
            "model_name": "priced-mock",
            "litellm_params": {"model": "mock/priced", "mock_response": "a fixed answer of some words"},
            "model_info": MOCK_PRICES,
        }
    )
    config["general_settings"].update({"proxy_batch_write_at": 0.1, **general})
    return config


class Admin:
    """The admin API, called the way LiteLLM users call it (httpx, JSON, Bearer master key)."""

    def __init__(self, url: str, key: str = MASTER_KEY) -> None:
        self.http = httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=20)

    def post(self, path: str, **body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.post(path, **kwargs) if method == "POST" else self.get(path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def new_key(self, **body: Any) -> dict[str, Any]:
        return self.ok("POST", "/key/generate", **body)

    def logs(self, **params: Any) -> list[dict[str, Any]]:
        return self.ok("GET", "/spend/logs", **params)

    def wait_for_logs(self, count: int, **params: Any) -> list[dict[str, Any]]:
        """Spend rows are written in batches: wait (bounded) until `count` are there."""
        deadline = time.monotonic() + 15
        while True:
            rows = self.logs(**params)
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def keys_gateway(
    request, fake_openai, fake_anthropic, fake_gemini, tmp_path_factory
) -> Iterator[GatewayServer]:
    tmp = Path(tmp_path_factory.mktemp("keys"))
    config = keys_config(fake_openai, fake_anthropic, fake_gemini)
    env = {"TEST_OPENAI_KEY": "sk-fake-openai-key-0123456789abcdef"}
    if request.param == "postgresql":
        with pg_database_sync() as url:
            config["general_settings"]["database_url"] = url
            with GatewayServer(config, tmp, env=env) as server:
                yield server
    else:
        with GatewayServer(config, tmp, env=env) as server:
            yield server


@pytest.fixture
def admin(keys_gateway) -> Admin:
    return Admin(keys_gateway.url)


def database_rows(gateway: GatewayServer, table: str) -> list[dict[str, Any]]:
    """Every row of one of the gateway's tables, read with a connection of its own (SQLite file
    or PostgreSQL), to check what is really stored."""
    import asyncio

    from sqlalchemy import text

    from polyroute.store.database import Database, async_url, data_dir_from

    async def read() -> list[dict[str, Any]]:
        db = Database(async_url(gateway.loaded.database_url, data_dir_from(gateway.env)))
        try:
            async with db.engine.connect() as connection:
                result = await connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608  # a fixed name
                return [dict(row._mapping) for row in result]
        finally:
            await db.close()

    return asyncio.run(read())
