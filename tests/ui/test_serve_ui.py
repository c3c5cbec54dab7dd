"""`polyroute serve --ui` (what ./scripts/serve runs): the gateway and the web UI as real
processes on the embedded default, offline with the mock models; and the boundary between them
(the UI never loads the gateway's serving code, nor the gateway the UI's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
from tests.fakes.base import free_port
from tests.serve_process import serve_process
from tests.ui.support import BrowserLike, csrf_of


def _wait_for_ui(url: str, process: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "polyroute serve exited"
        try:
            if httpx.get(url + "/login").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the web UI did not start")


def _events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], orjson.loads(lines["data"])))
    return events


def test_serve_ui_starts_the_ui_beside_the_gateway_with_a_mock_arena(tmp_path: Path) -> None:
    ui_port = free_port()
    env = {
        "POLYROUTE_DATA_DIR": str(tmp_path / "data"),
        "LOGDIR": str(tmp_path / "logs"),
        "POLYROUTE_MASTER_KEY": "",
    }
    (tmp_path / "logs").mkdir()
    process, port = serve_process(["--ui", "--ui-port", str(ui_port), "--log-format", "console"], env)
    try:
        url = f"http://127.0.0.1:{ui_port}"
        _wait_for_ui(url, process)
        with BrowserLike(url) as client:
            page = client.get("/login")
            assert 'id="local-login"' in page.text  # no master key, loopback: click through offline
            assert client.post(
                "/login", json={"local": True}, headers={"x-csrf-token": csrf_of(page.text)}
            ).is_success
            csrf = csrf_of(client.get("/arena").text)
            models = client.get("/api/models").json()["models"]
            assert {"mock-gpt", "mock/alpha", "mock/beta"} <= set(models)
            battle = client.post(
                "/api/anonymous/send", json={"text": "hello arena"}, headers={"x-csrf-token": csrf}
            )
            events = _events(battle.text)
            done = [data for name, data in events if name == "done"]
            assert sorted(d["side"] for d in done) == ["a", "b"]
            assert all("hello arena" in d["html"] for d in done)
            vote = client.post(
                "/api/anonymous/vote", json={"vote": "tievote"}, headers={"x-csrf-token": csrf}
            )
            assert vote.status_code == 200
            assert all(side["model"] in models for side in vote.json()["state"]["sides"])
            board = client.get("/leaderboard").json()
            assert sum(row["votes"] for row in board["rows"]) == 2
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert f"web UI (chat, arena, leaderboard) on http://127.0.0.1:{ui_port}/" in output
    _assert_ui_process_gone(ui_port)


def _assert_ui_process_gone(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
        except httpx.TransportError:
            return
        time.sleep(0.1)
    raise AssertionError("the UI child outlived polyroute serve")


def test_the_ui_and_the_gateway_do_not_load_each_other() -> None:
    probe = (
        "import sys; import polyroute.ui.app, polyroute.cli.ui; "
        "print(sorted(m for m in sys.modules if m.startswith(('polyroute.server', 'polyroute.router', "
        "'polyroute.providers', 'fastapi'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "[]"
    probe = (
        "import sys; import polyroute.server.app; "
        "print([m for m in sys.modules if m.startswith('polyroute.ui')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "[]"
