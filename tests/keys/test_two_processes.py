"""Keys, limits and budgets across two real `polyroute serve` processes on one Redis and one
PostgreSQL database: a key made in one works in the other, its limits and budget are global,
and deleting it in one reaches the other within key_cache_ttl_s."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

import openai
import pytest
import yaml

from tests.fakes.base import free_port
from tests.keys.conftest import MOCK_PRICES, Admin
from tests.serve_process import serve_process
from tests.store.databases import pg_database_sync
from tests.windows import clear_of_window_edge

MASTER = "sk-two-process-master-4242"
MESSAGES = [{"role": "user", "content": "hi"}]
TTL = 1.0


def start(config_path: Path, port: int, data_dir: Path) -> subprocess.Popen:
    # Start-up migrates PostgreSQL in a child process first: allow for a busy machine.
    env = {"POLYROUTE_MASTER_KEY": "", "POLYROUTE_DATA_DIR": str(data_dir)}
    process, _ = serve_process(["--config", str(config_path)], env, port=port, timeout_s=90)
    return process


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two")
    with pg_database_sync() as url:
        config = {
            "model_list": [
                {
                    "model_name": "priced-mock",
                    "litellm_params": {
                        "model": "mock/priced",
                        "mock_response": "a fixed answer of some words",
                    },
                    "model_info": MOCK_PRICES,
                }
            ],
            "general_settings": {
                "master_key": MASTER,
                "database_url": url,
                "key_cache_ttl_s": TTL,
                "proxy_batch_write_at": 0.1,
            },
            "router_settings": {"redis_host": "127.0.0.1", "redis_port": 6379},
        }
        path = tmp / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        ports = [free_port(), free_port()]
        processes = [start(path, port, tmp / f"data-{i}") for i, port in enumerate(ports)]
        try:
            yield [f"http://127.0.0.1:{p}" for p in ports]
        finally:
            for process in processes:
                process.terminate()
                process.wait(15)


def client(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)


def test_a_key_made_in_one_process_has_one_rpm_limit_across_both(two) -> None:
    key = Admin(two[0], MASTER).new_key(rpm_limit=3)["key"]
    clear_of_window_edge()
    outcomes = []
    for i in range(8):
        try:
            client(two[i % 2], key).chat.completions.create(model="priced-mock", messages=MESSAGES)
            outcomes.append("ok")
        except openai.RateLimitError:
            outcomes.append("429")
    assert outcomes.count("ok") == 3 and outcomes[3:] == ["429"] * 5


def test_a_budget_holds_across_both_processes_under_concurrency(two) -> None:
    admin = Admin(two[0], MASTER)
    raw = client(two[1], admin.new_key()["key"]).chat.completions.with_raw_response.create(
        model="priced-mock", messages=MESSAGES, max_tokens=8
    )
    cost = float(raw.headers["x-polyroute-response-cost"])
    budget = 2e-3
    spent_before = budget - 3.5 * cost
    made = admin.new_key(max_budget=budget, spend=spent_before, key_alias=f"two-{uuid.uuid4().hex[:6]}")

    async def burst() -> list[str]:
        clients = [openai.AsyncOpenAI(base_url=u + "/v1", api_key=made["key"], max_retries=0) for u in two]

        async def call(i: int) -> str:
            try:
                await clients[i % 2].chat.completions.create(
                    model="priced-mock", messages=MESSAGES, max_tokens=8
                )
                return "ok"
            except openai.BadRequestError as exc:
                assert exc.code == "budget_exceeded"
                return "budget"

        return await asyncio.gather(*[call(i) for i in range(100)])

    succeeded = asyncio.run(burst()).count("ok")
    assert succeeded >= 1
    for i in range(20):  # then one at a time, alternating, until the budget says no
        try:
            client(two[i % 2], made["key"]).chat.completions.create(
                model="priced-mock", messages=MESSAGES, max_tokens=8
            )
            succeeded += 1
        except openai.BadRequestError:
            break
    spent = spent_before + succeeded * cost
    assert budget <= spent + 1e-12 < budget + cost


def test_deleting_a_key_in_one_process_reaches_the_other_within_the_ttl(two) -> None:
    admin = Admin(two[0], MASTER)
    key = admin.new_key()["key"]
    other = client(two[1], key)
    assert other.chat.completions.create(model="priced-mock", messages=MESSAGES).choices  # cached in B now
    admin.ok("POST", "/key/delete", keys=[key])
    deleted_at = time.monotonic()
    while True:
        try:
            other.chat.completions.create(model="priced-mock", messages=MESSAGES)
        except openai.AuthenticationError:
            break
        assert time.monotonic() - deleted_at < 2 * TTL + 1.0, "revocation did not reach the other process"
        time.sleep(0.05)
    # A key changed in one process is changed in the other within the TTL too.
    key2 = admin.new_key(models=["priced-mock"])["key"]
    assert client(two[1], key2).chat.completions.create(model="priced-mock", messages=MESSAGES).choices
    admin.ok("POST", "/key/update", key=key2, models=["nothing-else"])
    time.sleep(2 * TTL + 0.5)
    with pytest.raises(openai.PermissionDeniedError):
        client(two[1], key2).chat.completions.create(model="priced-mock", messages=MESSAGES)
