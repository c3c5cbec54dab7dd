"""Two real gateway processes on the real Redis: one global rpm limit, shared cooldowns; and a
gateway whose Redis is unreachable keeps serving on local state."""

from __future__ import annotations

import re
import subprocess
import uuid

import httpx
import openai
import pytest
import yaml

from tests.fakes.base import Error, free_port
from tests.fakes.openai import FakeOpenAI
from tests.serve_process import serve_process
from tests.windows import clear_of_window_edge

KEY = "sk-fake-openai-key-0123456789abcdef"
MASTER = "sk-shared-state-master-000111"
MESSAGES = [{"role": "user", "content": "hi"}]


def start_gateway(config_path, port: int) -> subprocess.Popen:
    args = ["--config", str(config_path)]
    process, _ = serve_process(args, {"POLYROUTE_MASTER_KEY": ""}, port, timeout_s=90)
    return process


@pytest.fixture
def two_gateways(tmp_path):
    """Two processes, one config: a rate-limited group and a two-deployment group, Redis shared."""
    run = uuid.uuid4().hex[:8]  # fresh deployment ids: Redis windows from other runs never collide
    with FakeOpenAI(api_key=KEY) as a, FakeOpenAI(api_key=KEY) as b:
        config = {
            "model_list": [
                {
                    "model_name": "limited",
                    "litellm_params": {
                        "model": "openai/x",
                        "api_base": a.url + "/v1",
                        "api_key": KEY,
                        "rpm": 3,
                    },
                    "model_info": {"id": f"limited-{run}"},
                },
                {
                    "model_name": "pair",
                    "litellm_params": {
                        "model": "openai/a",
                        "api_base": a.url + "/v1",
                        "api_key": KEY,
                        "weight": 1e6,
                    },
                    "model_info": {"id": f"pa-{run}"},
                },
                {
                    "model_name": "pair",
                    "litellm_params": {
                        "model": "openai/b",
                        "api_base": b.url + "/v1",
                        "api_key": KEY,
                        "weight": 1e-6,
                    },
                    "model_info": {"id": f"pb-{run}"},
                },
            ],
            "general_settings": {"master_key": MASTER},
            "router_settings": {
                "redis_host": "127.0.0.1",
                "redis_port": 6379,
                "num_retries": 1,
                "cooldown_time": 60,
            },
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        ports = [free_port(), free_port()]
        processes = [start_gateway(path, port) for port in ports]
        try:
            clients = [
                openai.OpenAI(base_url=f"http://127.0.0.1:{p}/v1", api_key=MASTER, max_retries=0)
                for p in ports
            ]
            yield clients, ports, a, b
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)


def test_two_processes_enforce_one_global_rpm_limit(two_gateways):
    clients, _, a, _ = two_gateways
    clear_of_window_edge()
    outcomes = []
    for i in range(8):
        try:
            clients[i % 2].chat.completions.create(model="limited", messages=MESSAGES)
            outcomes.append("ok")
        except openai.RateLimitError as exc:
            assert 0 < int(exc.response.headers["retry-after"]) <= 60
            outcomes.append("429")
    assert outcomes.count("ok") == 3, outcomes
    assert len(a.requests) == 3


def test_two_processes_share_cooldowns(two_gateways):
    clients, ports, a, b = two_gateways
    a.script(*[Error(429, headers={"retry-after": "30"})] * 5)
    # Process 1 meets a's 429 (a is all but certain to be picked first), and moves to b.
    for _ in range(4):
        clients[0].chat.completions.create(model="pair", messages=MESSAGES)
    hits_on_a = len(a.requests)
    assert hits_on_a == 1  # after the first 429, a is cooling for every process
    for _ in range(6):
        clients[1].chat.completions.create(model="pair", messages=MESSAGES)
    assert len(a.requests) == hits_on_a  # process 2 never touched the cooling deployment
    health = httpx.get(
        f"http://127.0.0.1:{ports[1]}/health", headers={"authorization": f"Bearer {MASTER}"}
    ).json()
    assert health["state_backend"] == "redis"
    cooling = [d for d in health["deployments"] if d["state"] == "cooling_down"]
    assert [d["model"] for d in cooling] == ["a"]


def test_unreachable_redis_keeps_requests_flowing(tmp_path):
    config = {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m", "rpm": 100}}],
        "general_settings": {"master_key": MASTER},
        "router_settings": {"redis_host": "127.0.0.1", "redis_port": free_port()},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    process = start_gateway(path, port)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=MASTER, max_retries=0)
        for _ in range(3):
            assert client.chat.completions.create(model="m", messages=MESSAGES).choices
        health = httpx.get(
            f"http://127.0.0.1:{port}/health", headers={"authorization": f"Bearer {MASTER}"}
        ).json()
        assert health["state_backend"] == "memory (redis unreachable)"
        assert health["state_fallback_operations"] > 0  # counted: the calls memory served
        scrape = httpx.get(
            f"http://127.0.0.1:{port}/metrics", headers={"authorization": f"Bearer {MASTER}"}
        ).text
        assert "polyroute_shared_state_up 0.0" in scrape
        fallbacks = re.search(r"^polyroute_shared_state_fallback_operations_total (\S+)$", scrape, re.M)
        assert fallbacks and float(fallbacks.group(1)) > 0
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert output.count("unreachable") >= 1  # one warning, not one per request
    assert output.count("WARNING") < 5


@pytest.mark.parametrize("redis", [False, True], ids=["split_without_redis", "shared_on_redis"])
def test_serve_workers_hold_one_rpm_limit(tmp_path, redis):
    """`polyroute serve --workers 2`: without Redis each worker enforces half of the limit, on
    Redis both take from one window; either way the configured rpm holds in total."""
    run = uuid.uuid4().hex[:8]
    router_settings = {"num_retries": 0}
    if redis:
        router_settings |= {"redis_host": "127.0.0.1", "redis_port": 6379}
    config = {
        "model_list": [
            {"model_name": "m", "litellm_params": {"model": "mock/m", "rpm": 4}, "model_info": {"id": run}}
        ],
        "general_settings": {"master_key": MASTER},
        "router_settings": router_settings,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    process, port = serve_process(["--config", str(path), "--workers", "2"], {"POLYROUTE_MASTER_KEY": ""})
    try:
        clear_of_window_edge()
        ok = 0
        for _ in range(12):
            # A fresh connection per request, so the kernel may hand it to either worker.
            with httpx.Client() as http:
                reply = http.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json={"model": "m", "messages": MESSAGES},
                    headers={"authorization": f"Bearer {MASTER}"},
                )
            assert reply.status_code in (200, 429), reply.text
            ok += reply.status_code == 200
    finally:
        process.terminate()
        process.wait(15)
    if redis:
        assert ok == 4  # one shared window
    else:
        assert 2 <= ok <= 4  # 2 per worker: 4 only when both workers were reached
