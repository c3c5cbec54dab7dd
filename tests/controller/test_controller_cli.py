"""`polyroute controller` as a process on its own: FastChat's controller port and endpoints,
`--dispatch-method` (FastChat's flag) overriding controller_settings, and the router with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest
import yaml

from tests.controller.support import MASTER, TOKEN_ALL, controller_post, serving_config, with_token
from tests.fakes.base import free_port
from tests.fakes.fastchat_worker import FakeFastChatWorker
from tests.serve_process import serve_process


def test_controller_runs_standalone(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(serving_config()))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "polyroute", "controller", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--dispatch-method", "lottery"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(url + "/test_connection", timeout=1).json() == "success"
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
                time.sleep(0.2)
        with FakeFastChatWorker(["vicuna"]) as worker:
            assert worker.register(with_token(url, TOKEN_ALL)).status_code == 200
            assert controller_post(url, "/list_models", token=MASTER).json() == {"models": ["vicuna"]}
            assert controller_post(url, "/get_worker_address", {"model": "vicuna"}, MASTER).json() == {
                "address": worker.address
            }
            listed = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {MASTER}"}).json()
            assert "vicuna" in [m["id"] for m in listed["data"]]
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert TOKEN_ALL not in output and MASTER not in output
    bad = subprocess.run(
        [*command, "--dispatch-method", "round_robin"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "lottery or shortest_queue" in bad.stderr


@pytest.mark.parametrize("shared_by", ["redis", "folder"])
def test_serve_workers_share_one_worker_registry(tmp_path, shared_by):
    """`polyroute serve --workers 2`, on Redis or (without Redis) through the run's registry
    folder: a worker registered through whichever process took the call is served by both, both
    know it when it heartbeats, and its deregistration reaches both."""
    model = f"vicuna-{uuid.uuid4().hex[:8]}"  # the Redis on 127.0.0.1:6379 is shared by every test
    config = serving_config()
    if shared_by == "redis":
        config["router_settings"] |= {"redis_host": "127.0.0.1", "redis_port": 6379}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"POLYROUTE_MASTER_KEY": "", "POLYROUTE_DATA_DIR": str(tmp_path / "data")}
    process, port = serve_process(["--config", str(path), "--workers", "2"], env)
    url = f"http://127.0.0.1:{port}"

    def listed() -> bool:  # a new connection each time, so either process may answer
        with httpx.Client(headers={"authorization": f"Bearer {MASTER}"}) as client:
            return model in [m["id"] for m in client.get(url + "/v1/models").json()["data"]]

    def every_process_agrees(expected: bool) -> None:
        deadline, streak = time.monotonic() + 30, 0
        while streak < 10:
            assert time.monotonic() < deadline, f"the processes disagree on {model}"
            streak = streak + 1 if listed() == expected else 0
            time.sleep(0.05)

    try:
        with FakeFastChatWorker([model]) as worker:
            assert worker.register(with_token(url, TOKEN_ALL)).status_code == 200
            every_process_agrees(True)
            for _ in range(6):
                reply = httpx.post(
                    url + "/v1/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                    headers={"authorization": f"Bearer {MASTER}"},
                    timeout=30,
                )
                assert reply.status_code == 200, reply.text
            for _ in range(6):  # a new connection each: either process answers, and knows it
                assert worker.heartbeat(with_token(url, TOKEN_ALL)).json() == {"exist": True}
            gone = controller_post(url, "/deregister_worker", {"worker_name": worker.address}, TOKEN_ALL)
            assert gone.json() == {"removed": True}
            every_process_agrees(False)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
